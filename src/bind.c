// SPDX-License-Identifier: MIT
/*
 * bind.c - expose a range of a file to a VM through one memslot, and back.
 * This file decides what the memslot says; vm.c only issues it.
 */
#include <errno.h>
#include <stdlib.h>

#include "internal.h"

/* The two sides a binding asks for, worked out from the one-file form too. */
struct sides {
	struct gmem_file *shared;
	uint64_t shared_off;
	struct gmem_file *private;
	uint64_t private_off;
};

static int pick_sides(struct gmem_file *file, const struct gmem_bind_args *a,
		      struct sides *s)
{
	*s = (struct sides){ file, a->offset, a->private_file,
			     a->private_offset };
	if (!a->private_file && a->private_offset)
		return gmem_fail(EINVAL, "bind: private_offset without a "
				 "private_file");
	if (file && file->private) {
		/* The one-file form of a private-only memslot. */
		if (a->private_file)
			return gmem_fail(EINVAL, "bind: file is private "
					 "memory, so it cannot also have "
					 "private_file beside it");
		*s = (struct sides){ NULL, 0, file, a->offset };
	}
	if (!s->shared && !s->private)
		return gmem_fail(EINVAL, "gmem_bind: NULL argument (no file)");
	if (s->private && !s->private->private)
		return gmem_fail(EINVAL, "bind: private_file must be a "
				 "guest_memfd made with GMEM_FILE_PRIVATE");
	return 0;
}

/* One side's range, alignment and owner. */
static int check_side(const struct gmem_vm *vm, const struct gmem_file *f,
		      uint64_t off, const struct gmem_bind_args *a,
		      const char *what)
{
	int ret = gmem_file_check_range(f, off, a->length, what);

	if (ret < 0)
		return ret;
	/* Aligned to the backend page, so KVM can map huge pages whole. */
	if (!gmem_aligned(a->gpa, f->page_size))
		return gmem_fail(EINVAL, "%s: guest address 0x%llx is not a "
				 "multiple of the %s page size 0x%llx", what,
				 (unsigned long long)a->gpa, f->ops->name,
				 (unsigned long long)f->page_size);
	if (f->owner && f->owner != vm)
		return gmem_fail(EXDEV, "%s: this guest_memfd file belongs to "
				 "another VM; KVM binds guest_memfd only to the "
				 "VM that created it", what);
	return f->ops->check_bind(f, off, a->length, a->gpa);
}

static int check_bind_args(const struct gmem_vm *vm, const struct sides *s,
			   const struct gmem_bind_args *a)
{
	int ret;

	for (size_t i = 0; i < sizeof(a->reserved) / sizeof(a->reserved[0]); i++)
		if (a->reserved[i])
			return gmem_fail(EINVAL, "bind: reserved fields must "
					 "be zero");
	if (a->flags)
		return gmem_fail(EINVAL, "bind: unknown flags 0x%x", a->flags);
	if (s->shared) {
		ret = check_side(vm, s->shared, s->shared_off, a, "bind");
		if (ret < 0)
			return ret;
	}
	if (s->private) {
		if (!vm->has_private)
			return gmem_fail(EOPNOTSUPP, "bind: this VM (type %s) "
					 "has no private memory, so a memslot "
					 "cannot have a private side",
					 gmem_vm_type_name(vm->type));
		ret = check_side(vm, s->private, s->private_off, a,
				 "bind (private side)");
		if (ret < 0)
			return ret;
	}
	if (a->gpa + a->length < a->gpa)
		return gmem_fail(EOVERFLOW, "bind: guest range 0x%llx+0x%llx "
				 "wraps around", (unsigned long long)a->gpa,
				 (unsigned long long)a->length);
	if (a->slot != GMEM_SLOT_ANY &&
	    (a->slot < 0 || (unsigned int)a->slot < vm->slot_first ||
	     (unsigned int)a->slot - vm->slot_first >= vm->slot_count))
		return gmem_fail(ERANGE, "bind: slot %d is outside the slots "
				 "%u..%u given to the library", a->slot,
				 vm->slot_first,
				 vm->slot_first + vm->slot_count - 1);
	return 0;
}

/* The memslots given to the library, as a bitmap. */
static bool slot_used(const struct gmem_vm *vm, uint32_t slot)
{
	uint32_t i = slot - vm->slot_first;

	return (vm->slots_used[i / 64] >> (i % 64)) & 1;
}

static void slot_mark(struct gmem_vm *vm, uint32_t slot, bool used)
{
	uint32_t i = slot - vm->slot_first;

	if (used)
		vm->slots_used[i / 64] |= 1ULL << (i % 64);
	else
		vm->slots_used[i / 64] &= ~(1ULL << (i % 64));
}

/* A free slot, looking a word at a time from where the last one was found. */
static bool slot_find_free(struct gmem_vm *vm, uint32_t *slot)
{
	uint32_t words = (vm->slot_count + 63) / 64;

	for (uint32_t n = 0; n <= words; n++) {
		uint32_t w = (vm->slot_hint / 64 + n) % words;
		uint64_t free_bits = ~vm->slots_used[w];
		uint32_t i;

		if (!free_bits)
			continue;
		i = w * 64 + (uint32_t)__builtin_ctzll(free_bits);
		if (i >= vm->slot_count)
			continue;
		vm->slot_hint = i;
		*slot = vm->slot_first + i;
		return true;
	}
	return false;
}

/* The guest_memfd KVM sees in a memslot, and where in it (NULL: none). */
static struct gmem_file *kvm_gmem(struct gmem_file *shared, uint64_t shared_off,
				  struct gmem_file *private,
				  uint64_t private_off, uint64_t *off)
{
	if (private) {
		*off = private_off;
		return private;
	}
	*off = shared_off;
	return shared && shared->owner ? shared : NULL;
}

/*
 * Under vm->lock: pick or check the slot, reject overlaps, and put b in
 * the indexes (taken out again by unplace() if KVM then refuses).
 */
static int place(struct gmem_vm *vm, struct gmem_binding *b,
		 const struct gmem_bind_args *a)
{
	struct gmem_interval *hit;
	struct gmem_binding *other;
	uint64_t goff;

	b->kvm_gmem = kvm_gmem(b->file, b->offset, b->private_file,
			       b->private_offset, &goff);
	/*
	 * KVM binds each byte of a guest_memfd to one memslot at most (its
	 * VM is the only one it can be bound in, so this VM's index of the
	 * file's bound ranges is all of them).
	 */
	if (b->kvm_gmem &&
	    (hit = gmem_intervals_find(&b->kvm_gmem->kvm_bound, goff,
				       goff + b->length))) {
		other = hit->value;
		return gmem_fail(EEXIST, "bind: guest_memfd range "
				 "0x%llx+0x%llx is already bound at slot %u; "
				 "KVM maps each byte of a guest_memfd through "
				 "one memslot only", (unsigned long long)goff,
				 (unsigned long long)b->length, other->slot);
	}
	hit = gmem_intervals_find(&vm->by_gpa, b->gpa, b->gpa + b->length);
	if (hit) {
		other = hit->value;
		return gmem_fail(EEXIST, "bind: guest range 0x%llx+0x%llx "
				 "overlaps slot %u at 0x%llx+0x%llx",
				 (unsigned long long)b->gpa,
				 (unsigned long long)b->length, other->slot,
				 (unsigned long long)other->gpa,
				 (unsigned long long)other->length);
	}
	if (a->slot != GMEM_SLOT_ANY) {
		if (slot_used(vm, (uint32_t)a->slot))
			return gmem_fail(EBUSY, "bind: slot %d is already "
					 "bound", a->slot);
		b->slot = (uint32_t)a->slot;
	} else if (!slot_find_free(vm, &b->slot)) {
		return gmem_fail(ENOSPC, "bind: all %u slots given to the "
				 "library are in use", vm->slot_count);
	}
	b->gpa_range = (struct gmem_interval){ b->gpa, b->gpa + b->length, b };
	b->gmem_range = (struct gmem_interval){ goff, goff + b->length, b };
	if (gmem_intervals_insert(&vm->by_gpa, &b->gpa_range) < 0)
		return gmem_fail(ENOMEM, "bind: out of memory for the index");
	if (b->kvm_gmem &&
	    gmem_intervals_insert(&b->kvm_gmem->kvm_bound, &b->gmem_range) < 0) {
		gmem_intervals_remove(&vm->by_gpa, &b->gpa_range);
		return gmem_fail(ENOMEM, "bind: out of memory for the index");
	}
	slot_mark(vm, b->slot, true);
	return 0;
}

/* Under vm->lock: the inverse of place(). */
static void unplace(struct gmem_vm *vm, struct gmem_binding *b)
{
	gmem_intervals_remove(&vm->by_gpa, &b->gpa_range);
	if (b->kvm_gmem)
		gmem_intervals_remove(&b->kvm_gmem->kvm_bound, &b->gmem_range);
	slot_mark(vm, b->slot, false);
}

/*
 * What KVM is told about binding b.  One side: that file's own way.  Two
 * sides: the shared side by its mapping (userspace_addr) and the private
 * side as the memslot's guest_memfd.
 */
static void binding_memslot(const struct gmem_binding *b,
			    struct gmem_kvm_userspace_memory_region2 *r)
{
	*r = (struct gmem_kvm_userspace_memory_region2){ .slot = b->slot };
	r->guest_phys_addr = b->gpa;
	r->memory_size = b->length;
	if (!b->private_file) {
		b->file->ops->fill_memslot(b->file, b->offset, r);
		return;
	}
	if (b->file)
		r->userspace_addr = (uintptr_t)b->file->map + b->offset;
	b->private_file->ops->fill_memslot(b->private_file, b->private_offset,
					   r);
}

/* Under vm->lock: onto the list every walk of the VM's bindings uses. */
static void link_binding(struct gmem_vm *vm, struct gmem_binding *b)
{
	b->prev = NULL;
	b->next = vm->bindings;
	if (vm->bindings)
		vm->bindings->prev = b;
	vm->bindings = b;
}

static void unlink_binding(struct gmem_vm *vm, struct gmem_binding *b)
{
	if (b->prev)
		b->prev->next = b->next;
	else
		vm->bindings = b->next;
	if (b->next)
		b->next->prev = b->prev;
	b->next = b->prev = NULL;
}

GMEM_API int gmem_bind(struct gmem_vm *vm, struct gmem_file *file,
		       const struct gmem_bind_args *args,
		       struct gmem_binding **out)
{
	struct gmem_kvm_userspace_memory_region2 r;
	struct gmem_binding *b;
	struct sides s;
	int ret;

	gmem_error_clear();
	if (!vm || !args || !out)
		return gmem_fail(EINVAL, "gmem_bind: NULL argument");
	ret = pick_sides(file, args, &s);
	if (ret < 0)
		return ret;
	ret = check_bind_args(vm, &s, args);
	if (ret < 0)
		return ret;
	/* The shared side of a two-sided slot is reached by its mapping. */
	if (s.shared && s.private && !s.shared->map)
		return gmem_fail(EINVAL, "bind: the shared side has no "
				 "mapping for KVM to reach it by");
	b = calloc(1, sizeof(*b));
	if (!b)
		return gmem_fail(ENOMEM, "out of memory for a binding");
	b->vm = vm;
	b->file = s.shared;
	b->offset = s.shared_off;
	b->private_file = s.private;
	b->private_offset = s.private_off;
	b->length = args->length;
	b->gpa = args->gpa;

	pthread_mutex_lock(&vm->lock);
	if (vm->closed) {
		ret = gmem_fail(ESHUTDOWN, "bind: the VM is closed");
		goto unlock;
	}
	ret = place(vm, b, args);
	if (ret < 0)
		goto unlock;
	binding_memslot(b, &r);
	ret = gmem_vm_set_memslot(vm, &r);
	if (ret < 0) {
		unplace(vm, b);
		goto unlock;
	}
	b->attached = true;
	link_binding(vm, b);
	gmem_vm_get(vm);
	for (int i = 0; i < 2; i++) {
		struct gmem_file *f = i ? b->private_file : b->file;

		if (f) {
			gmem_file_get(f);
			__atomic_add_fetch(&f->bindings, 1, __ATOMIC_RELAXED);
		}
	}
	/* Device processes following this VM get the new range. */
	gmem_vm_notify_bound(vm, b);
	pthread_mutex_unlock(&vm->lock);
	*out = b;
	return 0;

unlock:
	pthread_mutex_unlock(&vm->lock);
	free(b);
	return ret;
}

int gmem_binding_detach(struct gmem_binding *b, struct gmem_file *files_out[2])
{
	struct gmem_kvm_userspace_memory_region2 r = { .slot = b->slot };
	struct gmem_vm *vm = b->vm;
	int ret;

	/* Size 0 deletes.  If KVM refuses, everything stays as it was. */
	ret = gmem_vm_set_memslot(vm, &r);
	if (ret < 0)
		return ret;
	/* Devices let go too; the files still hold the pages meanwhile. */
	gmem_binding_unwatch_all(b);
	unplace(vm, b);
	unlink_binding(vm, b);
	b->attached = false;
	files_out[0] = b->file;
	files_out[1] = b->private_file;
	for (int i = 0; i < 2; i++)
		if (files_out[i])
			__atomic_sub_fetch(&files_out[i]->bindings, 1,
					   __ATOMIC_RELAXED);
	/* gmem_unbind() sees NULL: the files went back with the memslot. */
	b->file = b->private_file = NULL;
	return 0;
}

struct gmem_binding *gmem_binding_covering(struct gmem_vm *vm, uint64_t gpa,
					   uint64_t len, int *err)
{
	struct gmem_interval *hit = gmem_intervals_find(&vm->by_gpa, gpa,
							 gpa + 1);
	struct gmem_binding *b, *next;
	uint64_t end;

	if (!hit) {
		*err = gmem_fail(ENOENT, "guest address 0x%llx is not bound to "
				 "any memory of this VM",
				 (unsigned long long)gpa);
		return NULL;
	}
	b = hit->value;
	end = b->gpa + b->length;
	if (gpa + len <= end)
		return b;
	hit = gmem_intervals_find(&vm->by_gpa, end, end + 1);
	next = hit ? hit->value : NULL;
	if (next)
		*err = gmem_fail(ERANGE, "guest range 0x%llx+0x%llx crosses "
				 "from slot %u into slot %u; one call covers one "
				 "binding", (unsigned long long)gpa,
				 (unsigned long long)len, b->slot, next->slot);
	else
		*err = gmem_fail(ERANGE, "guest range 0x%llx+0x%llx runs past "
				 "the end of slot %u at 0x%llx into memory "
				 "nothing is bound to", (unsigned long long)gpa,
				 (unsigned long long)len, b->slot,
				 (unsigned long long)end);
	return NULL;
}

GMEM_API int gmem_unbind(struct gmem_binding *b)
{
	struct gmem_file *files[2] = { NULL, NULL };
	struct gmem_vm *vm;
	int ret = 0;

	gmem_error_clear();
	if (!b)
		return gmem_fail(EINVAL, "gmem_unbind: binding is NULL");
	vm = b->vm;
	pthread_mutex_lock(&vm->lock);
	if (b->attached)
		ret = gmem_binding_detach(b, files);
	pthread_mutex_unlock(&vm->lock);
	if (ret < 0)
		return ret;
	/* After unlocking: the last reference takes the registry lock. */
	for (int i = 0; i < 2; i++)
		if (files[i])
			gmem_file_put(files[i]);
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
