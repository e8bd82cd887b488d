// SPDX-License-Identifier: MIT
/*
 * registry.c - every live file and VM of the process, for process-wide
 * figures.  Its lock is held only to walk the lists and take references;
 * nobody asks the kernel anything under it.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gmem_file *files;
static struct gmem_vm *vms;
static uint32_t nr_files, nr_vms, next_vm_id = 1;

void gmem_registry_add(struct gmem_file *f)
{
	pthread_mutex_lock(&registry_lock);
	f->reg_next = files;
	f->reg_prev = NULL;
	if (files)
		files->reg_prev = f;
	files = f;
	nr_files++;
	pthread_mutex_unlock(&registry_lock);
}

void gmem_registry_remove(struct gmem_file *f)
{
	pthread_mutex_lock(&registry_lock);
	if (f->reg_prev)
		f->reg_prev->reg_next = f->reg_next;
	else
		files = f->reg_next;
	if (f->reg_next)
		f->reg_next->reg_prev = f->reg_prev;
	nr_files--;
	pthread_mutex_unlock(&registry_lock);
}

void gmem_registry_add_vm(struct gmem_vm *vm)
{
	pthread_mutex_lock(&registry_lock);
	vm->id = next_vm_id++;
	vm->reg_next = vms;
	vms = vm;
	nr_vms++;
	pthread_mutex_unlock(&registry_lock);
}

void gmem_registry_remove_vm(struct gmem_vm *vm)
{
	struct gmem_vm **pp;

	pthread_mutex_lock(&registry_lock);
	for (pp = &vms; *pp && *pp != vm; pp = &(*pp)->reg_next)
		;
	if (*pp)
		*pp = vm->reg_next;
	nr_vms--;
	pthread_mutex_unlock(&registry_lock);
}

/* Under vm->lock. */
static bool bound_in(struct gmem_vm *vm, const struct gmem_file *f)
{
	for (struct gmem_binding *b = vm->bindings; b; b = b->next)
		if (b->file == f || b->private_file == f)
			return true;
	return false;
}

int gmem_registry_files(struct gmem_vm *vm, struct gmem_file ***out,
			size_t *nr, uint32_t *vms_now)
{
	struct gmem_file **list;
	size_t n = 0;

	pthread_mutex_lock(&registry_lock);
	list = calloc(nr_files ? nr_files : 1, sizeof(*list));
	if (!list) {
		pthread_mutex_unlock(&registry_lock);
		return gmem_fail(ENOMEM, "stats: out of memory for %u files",
				 nr_files);
	}
	/* Lock order: registry, then VM. */
	if (vm)
		pthread_mutex_lock(&vm->lock);
	for (struct gmem_file *f = files; f; f = f->reg_next) {
		if (vm && f->owner != vm && !bound_in(vm, f))
			continue;
		/* A file on its way out (last reference gone) is skipped. */
		if (gmem_file_tryget(f))
			list[n++] = f;
	}
	if (vm)
		pthread_mutex_unlock(&vm->lock);
	if (vms_now)
		*vms_now = nr_vms;
	pthread_mutex_unlock(&registry_lock);
	*out = list;
	*nr = n;
	return 0;
}

int gmem_registry_vms(struct gmem_vm ***out, size_t *nr)
{
	struct gmem_vm **list;
	size_t n = 0;

	pthread_mutex_lock(&registry_lock);
	list = calloc(nr_vms ? nr_vms : 1, sizeof(*list));
	if (!list) {
		pthread_mutex_unlock(&registry_lock);
		return gmem_fail(ENOMEM, "stats: out of memory for %u VMs",
				 nr_vms);
	}
	for (struct gmem_vm *vm = vms; vm; vm = vm->reg_next)
		if (gmem_vm_tryget(vm))
			list[n++] = vm;
	pthread_mutex_unlock(&registry_lock);
	*out = list;
	*nr = n;
	return 0;
}
