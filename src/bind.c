// SPDX-License-Identifier: MIT
/*
 * bind.c - expose a range of a file to a VM through one memslot, and back.
 * This file decides what the memslot says; vm.c only issues it.
 */
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
	return f->ops->check_bind(f, a->offset, a->length, a->gpa);
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

/* What KVM is told about binding b. */
static void binding_memslot(const struct gmem_binding *b,
			    struct gmem_kvm_userspace_memory_region2 *r)
{
	*r = (struct gmem_kvm_userspace_memory_region2){ .slot = b->slot };
	r->guest_phys_addr = b->gpa;
	r->memory_size = b->length;
	b->file->ops->fill_memslot(b->file, b->offset, r);
}

static void insert_sorted(struct gmem_vm *vm, struct gmem_binding *nb)
{
	struct gmem_binding **pp = &vm->bindings;

	while (*pp && (*pp)->gpa < nb->gpa)
		pp = &(*pp)->next;
	nb->next = *pp;
	*pp = nb;
}

GMEM_API int gmem_bind(struct gmem_vm *vm, struct gmem_file *file,
		       const struct gmem_bind_args *args,
		       struct gmem_binding **out)
{
	struct gmem_kvm_userspace_memory_region2 r;
	struct gmem_binding *b;
	int ret;

	gmem_error_clear();
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
	binding_memslot(b, &r);
	ret = gmem_vm_set_memslot(vm, &r);
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

int gmem_binding_detach(struct gmem_binding *b, struct gmem_file **file_out)
{
	struct gmem_kvm_userspace_memory_region2 r = { .slot = b->slot };
	struct gmem_vm *vm = b->vm;
	struct gmem_binding **pp;
	int ret;

	/* Size 0 deletes.  If KVM refuses, everything stays as it was. */
	ret = gmem_vm_set_memslot(vm, &r);
	if (ret < 0)
		return ret;
	for (pp = &vm->bindings; *pp != b; pp = &(*pp)->next)
		;
	*pp = b->next;
	b->next = NULL;
	b->attached = false;
	__atomic_sub_fetch(&b->file->bindings, 1, __ATOMIC_RELAXED);
	*file_out = b->file;
	/* gmem_unbind() sees NULL: the file went back with the memslot. */
	b->file = NULL;
	return 0;
}

GMEM_API int gmem_unbind(struct gmem_binding *b)
{
	struct gmem_file *file = NULL;
	struct gmem_vm *vm;
	int ret = 0;

	gmem_error_clear();
	if (!b)
		return gmem_fail(EINVAL, "gmem_unbind: binding is NULL");
	vm = b->vm;
	pthread_mutex_lock(&vm->lock);
	if (b->attached)
		ret = gmem_binding_detach(b, &file);
	pthread_mutex_unlock(&vm->lock);
	if (ret < 0)
		return ret;
	/* After unlocking: the last reference takes the registry lock. */
	if (file)
		gmem_file_put(file);
	gmem_vm_put(vm);
	free(b);
	return 0;
}

GMEM_API int gmem_binding_slot(const struct gmem_binding *b)
{
	int slot;

	gmem_error_clear();
	if (!b)
		return gmem_fail(EINVAL, "gmem_binding_slot: binding is NULL");
	pthread_mutex_lock(&b->vm->lock);
	slot = b->attached ? (int)b->slot
			   : gmem_fail(ENOTCONN, "binding ended: its VM was "
				       "closed");
	pthread_mutex_unlock(&b->vm->lock);
	return slot;
}
