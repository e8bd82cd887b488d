// SPDX-License-Identifier: MIT
/* bind.c - expose a range of a file to a VM through one memslot, and back. */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

static int check_bind_args(const struct gmem_vm *vm, const struct gmem_file *f,
			   const struct gmem_bind_args *a)
{
	int ret;

	for (size_t i = 0; i < sizeof(a->reserved) / sizeof(a->reserved[0]); i++)
		if (a->reserved[i])
			return gmem_fail(EINVAL, "bind: reserved fields must "
					 "be zero");
	if (a->flags)
		return gmem_fail(EINVAL, "bind: unknown flags 0x%x", a->flags);
	ret = gmem_file_check_range(f, a->offset, a->length, "bind");
	if (ret < 0)
		return ret;
	/* Aligned to the backend page, so KVM can map huge pages whole. */
	if (!gmem_aligned(a->gpa, f->page_size))
		return gmem_fail(EINVAL, "bind: guest address 0x%llx is not a "
				 "multiple of the %s page size 0x%llx",
				 (unsigned long long)a->gpa, f->ops->name,
				 (unsigned long long)f->page_size);
	if (a->gpa + a->length < a->gpa)
		return gmem_fail(EOVERFLOW, "bind: guest range 0x%llx+0x%llx "
				 "wraps around", (unsigned long long)a->gpa,
				 (unsigned long long)a->length);
	if (f->owner && f->owner != vm)
		return gmem_fail(EXDEV, "bind: this guest_memfd file belongs to "
				 "another VM; KVM binds guest_memfd only to the "
				 "VM that created it");
	if (a->slot != GMEM_SLOT_ANY &&
	    (a->slot < 0 || (unsigned int)a->slot < vm->slot_first ||
	     (unsigned int)a->slot - vm->slot_first >= vm->slot_count))
		return gmem_fail(ERANGE, "bind: slot %d is outside the slots "
				 "%u..%u given to the library", a->slot,
				 vm->slot_first,
				 vm->slot_first + vm->slot_count - 1);
	return 0;
}

static bool slot_used(const struct gmem_vm *vm, uint32_t slot)
{
	for (const struct gmem_binding *b = vm->bindings; b; b = b->next)
		if (b->slot == slot)
			return true;
	return false;
}

/* Under vm->lock: pick or check the slot, and reject overlaps. */
static int place(struct gmem_vm *vm, const struct gmem_file *f,
		 const struct gmem_bind_args *a, uint32_t *slot)
{
	for (const struct gmem_binding *b = vm->bindings; b; b = b->next) {
		/*
		 * KVM binds each byte of a guest_memfd to one memslot at most
		 * (its VM is the only one it can be bound in, so looking in
		 * this VM finds every binding of the file).
		 */
		if (f->owner && b->file == f &&
		    a->offset < b->offset + b->length &&
		    b->offset < a->offset + a->length)
			return gmem_fail(EEXIST, "bind: guest_memfd range "
					 "0x%llx+0x%llx is already bound at slot "
					 "%u; KVM maps each byte of a guest_memfd "
					 "through one memslot only",
					 (unsigned long long)a->offset,
					 (unsigned long long)a->length, b->slot);
		if (a->gpa < b->gpa + b->length && b->gpa < a->gpa + a->length)
			return gmem_fail(EEXIST, "bind: guest range "
					 "0x%llx+0x%llx overlaps slot %u at "
					 "0x%llx+0x%llx",
					 (unsigned long long)a->gpa,
					 (unsigned long long)a->length, b->slot,
					 (unsigned long long)b->gpa,
					 (unsigned long long)b->length);
	}
	if (a->slot != GMEM_SLOT_ANY) {
		if (slot_used(vm, (uint32_t)a->slot))
			return gmem_fail(EBUSY, "bind: slot %d is already "
					 "bound", a->slot);
		*slot = (uint32_t)a->slot;
		return 0;
	}
	for (uint32_t s = vm->slot_first; s - vm->slot_first < vm->slot_count;
	     s++) {
		if (!slot_used(vm, s)) {
			*slot = s;
			return 0;
		}
	}
	return gmem_fail(ENOSPC, "bind: all %u slots given to the library "
			 "are in use", vm->slot_count);
}

static void insert_sorted(struct gmem_vm *vm, struct gmem_binding *nb)
{
	struct gmem_binding **pp = &vm->bindings;

	while (*pp && (*pp)->gpa < nb->gpa)
		pp = &(*pp)->next;
	nb->next = *pp;
	*pp = nb;
}

int gmem_bind(struct gmem_vm *vm, struct gmem_file *file,
	      const struct gmem_bind_args *args, struct gmem_binding **out)
{
	struct gmem_binding *b;
	int ret;

	if (!vm || !file || !args || !out)
		return gmem_fail(EINVAL, "gmem_bind: NULL argument");
	ret = check_bind_args(vm, file, args);
	if (ret < 0)
		return ret;
	b = calloc(1, sizeof(*b));
	if (!b)
		return gmem_fail(ENOMEM, "out of memory for a binding");
	b->vm = vm;
	b->file = file;
	b->offset = args->offset;
	b->length = args->length;
	b->gpa = args->gpa;

	pthread_mutex_lock(&vm->lock);
	if (vm->closed) {
		ret = gmem_fail(ESHUTDOWN, "bind: the VM is closed");
		goto unlock;
	}
	ret = place(vm, file, args, &b->slot);
	if (ret < 0)
		goto unlock;
	ret = gmem_vm_set_slot(vm, b, true);
	if (ret < 0)
		goto unlock;
	b->attached = true;
	insert_sorted(vm, b);
	gmem_vm_get(vm);
	gmem_file_get(file);
	__atomic_add_fetch(&file->bindings, 1, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&vm->lock);
	*out = b;
	return 0;

unlock:
	pthread_mutex_unlock(&vm->lock);
	free(b);
	return ret;
}

int gmem_unbind(struct gmem_binding *b)
{
	struct gmem_vm *vm;
	struct gmem_file *file;
	struct gmem_binding **pp;
	int ret;

	if (!b)
		return gmem_fail(EINVAL, "gmem_unbind: binding is NULL");
	vm = b->vm;
	pthread_mutex_lock(&vm->lock);
	file = b->file;
	if (b->attached) {
		/* If KVM refuses, keep everything as it was. */
		ret = gmem_vm_set_slot(vm, b, false);
		if (ret < 0) {
			pthread_mutex_unlock(&vm->lock);
			return ret;
		}
		for (pp = &vm->bindings; *pp != b; pp = &(*pp)->next)
			;
		*pp = b->next;
		b->attached = false;
	}
	pthread_mutex_unlock(&vm->lock);
	/* A binding the VM already ended gave its file back then. */
	if (file) {
		__atomic_sub_fetch(&file->bindings, 1, __ATOMIC_RELAXED);
		gmem_file_put(file);
	}
	gmem_vm_put(vm);
	free(b);
	return 0;
}

int gmem_binding_slot(const struct gmem_binding *b)
{
	int slot;

	if (!b)
		return gmem_fail(EINVAL, "gmem_binding_slot: binding is NULL");
	pthread_mutex_lock(&b->vm->lock);
	slot = b->attached ? (int)b->slot
			   : gmem_fail(ENOTCONN, "binding ended: its VM was "
				       "closed");
	pthread_mutex_unlock(&b->vm->lock);
	return slot;
}
