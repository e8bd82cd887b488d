// SPDX-License-Identifier: MIT
/*
 * convert.c - shared and private memory: set a guest range's memory
 * attributes, free the side no longer in use, and keep the map of what is
 * private (KVM keeps one too, but has no call to read it back).
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"

static const char *kind_name(uint32_t kind)
{
	return kind == GMEM_MEMORY_PRIVATE ? "private" : "shared";
}

static int check_range(struct gmem_vm *vm, uint64_t gpa, uint64_t len,
		       const char *what)
{
	uint64_t psz = gmem_facts()->page_size;

	if (!vm)
		return gmem_fail(EINVAL, "%s: vm is NULL", what);
	if (!len)
		return gmem_fail(EINVAL, "%s: length is 0", what);
	if (!gmem_aligned(gpa, psz) || !gmem_aligned(len, psz))
		return gmem_fail(EINVAL, "%s: guest address 0x%llx and length "
				 "0x%llx must be multiples of the page size "
				 "0x%llx", what, (unsigned long long)gpa,
				 (unsigned long long)len,
				 (unsigned long long)psz);
	if (gpa + len < gpa)
		return gmem_fail(EOVERFLOW, "%s: guest range wraps around",
				 what);
	return 0;
}

/* Under vm->attr_lock: the map says [gpa, gpa + len) is of kind to. */
static void map_set(struct gmem_vm *vm, uint64_t gpa, uint64_t len,
		    uint32_t to)
{
	if (to == GMEM_MEMORY_PRIVATE)
		gmem_extents_add(&vm->private_map, gpa, gpa + len,
				 GMEM_NODE_UNKNOWN, NULL, NULL);
	else
		gmem_extents_remove(&vm->private_map, gpa, gpa + len, NULL,
				    NULL);
}

/* Room in the map for any change of [gpa, gpa + len), so none can fail. */
static int map_reserve(struct gmem_vm *vm, uint64_t gpa, uint64_t len)
{
	int ret;

	pthread_mutex_lock(&vm->attr_lock);
	/* Twice: a failed conversion may undo what it wrote first. */
	ret = gmem_extents_reserve_for(&vm->private_map, gpa, gpa + len);
	pthread_mutex_unlock(&vm->attr_lock);
	return ret < 0 ? gmem_fail(ENOMEM, "convert: out of memory for the "
				   "map") : 0;
}

/* Under vm->attr_lock: the private parts of [gpa, gpa + len) into *saved. */
static int map_save(struct gmem_vm *vm, uint64_t gpa, uint64_t len,
		    struct gmem_extents *saved)
{
	uint64_t pos = gpa, end = gpa + len, until;

	while (pos < end) {
		bool private = gmem_extents_find(&vm->private_map, pos, &until);

		if (until > end)
			until = end;
		if (private && gmem_extents_add(saved, pos, until,
						GMEM_NODE_UNKNOWN, NULL,
						NULL) < 0)
			return gmem_fail(ENOMEM, "convert: out of memory for "
					 "the map");
		pos = until;
	}
	return 0;
}

/*
 * Under vm->attr_lock: [gpa, gpa + len) as it was (saved).  Room was
 * reserved: the map goes back to a state it had, piece by piece.
 */
static void map_restore(struct gmem_vm *vm, uint64_t gpa, uint64_t len,
			const struct gmem_extents *saved)
{
	map_set(vm, gpa, len, GMEM_MEMORY_SHARED);
	for (size_t i = 0; i < saved->nr; i++) {
		uint64_t s = saved->v[i].start, e = saved->v[i].end;

		s = s > gpa ? s : gpa;
		e = e < gpa + len ? e : gpa + len;
		if (s < e)
			map_set(vm, s, e - s, GMEM_MEMORY_PRIVATE);
	}
}

/*
 * Under vm->lock: tell KVM, and write down what it did.  Going private,
 * the map says so first, so no device maps the range again meanwhile;
 * what KVM did not do goes back to what it was (before: its private
 * parts then).
 */
static int set_attributes(struct gmem_vm *vm, uint64_t gpa, uint64_t len,
			  uint32_t to, const struct gmem_extents *before,
			  uint64_t *done)
{
	struct gmem_kvm_memory_attributes attrs = {
		.address = gpa,
		.size = len,
		.attributes = to == GMEM_MEMORY_PRIVATE ?
			      GMEM_KVM_MEMORY_ATTRIBUTE_PRIVATE : 0,
	};
	int err;

	if (ioctl(vm->fd, GMEM_KVM_SET_MEMORY_ATTRIBUTES, &attrs) == 0)
		*done = len;
	else
		*done = attrs.address > gpa && attrs.address <= gpa + len ?
			attrs.address - gpa : 0;
	err = *done == len ? 0 : errno;
	/* KVM reports partial progress by moving address on. */
	pthread_mutex_lock(&vm->attr_lock);
	if (to == GMEM_MEMORY_PRIVATE && *done < len)
		map_restore(vm, gpa + *done, len - *done, before);
	else if (to == GMEM_MEMORY_SHARED && *done)
		map_set(vm, gpa, *done, GMEM_MEMORY_SHARED);
	pthread_mutex_unlock(&vm->attr_lock);
	if (err)
		return gmem_fail(err, "KVM_SET_MEMORY_ATTRIBUTES(0x%llx+0x%llx, "
				 "%s): %s (0x%llx converted)",
				 (unsigned long long)gpa,
				 (unsigned long long)len, kind_name(to),
				 strerror(err), (unsigned long long)*done);
	return 0;
}

/* Under vm->lock: devices on b's shared side let go of, or may take, a range. */
static int shared_side_invalidate(struct gmem_binding *b, uint64_t gpa,
				  uint64_t len)
{
	struct gmem_file *f = b->file;
	uint64_t off = b->offset + (gpa - b->gpa);
	struct gmem_range_hold h;
	int ret;

	if (!f)
		return 0;
	gmem_range_lock(&f->ranges, &h, off, off + len);
	ret = gmem_file_invalidate(f, off, len);
	gmem_range_unlock(&f->ranges, &h);
	return ret;
}

static void shared_side_revalidate(struct gmem_binding *b, uint64_t gpa,
				   uint64_t len)
{
	struct gmem_file *f = b->file;
	uint64_t off = b->offset + (gpa - b->gpa);
	struct gmem_range_hold h;

	if (!f || !len)
		return;
	gmem_range_lock(&f->ranges, &h, off, off + len);
	gmem_file_revalidate(f, off, len);
	gmem_range_unlock(&f->ranges, &h);
}

GMEM_API int gmem_convert(struct gmem_vm *vm, uint64_t gpa, uint64_t length,
			  uint32_t to, uint32_t flags)
{
	struct gmem_extents before = { 0 };
	struct gmem_file *gone;
	struct gmem_binding *b;
	uint64_t off, done;
	int ret;

	gmem_error_clear();
	ret = check_range(vm, gpa, length, "convert");
	if (ret < 0)
		return ret;
	if (to != GMEM_MEMORY_SHARED && to != GMEM_MEMORY_PRIVATE)
		return gmem_fail(EINVAL, "convert: unknown kind %u", to);
	if (flags & ~GMEM_CONVERT_KEEP)
		return gmem_fail(EINVAL, "convert: unknown flags 0x%x",
				 flags & ~GMEM_CONVERT_KEEP);
	pthread_mutex_lock(&vm->lock);
	if (vm->closed) {
		ret = gmem_fail(ESHUTDOWN, "convert: the VM is closed");
		goto unlock;
	}
	if (!vm->has_private) {
		/* Nothing can be private here, so shared is what it is. */
		if (to != GMEM_MEMORY_SHARED)
			ret = gmem_fail(EOPNOTSUPP, "convert: this VM (type "
					"%s) has no private memory",
					gmem_vm_type_name(vm->type));
		goto unlock;
	}
	b = gmem_binding_covering(vm, gpa, length, &ret);
	if (!b)
		goto unlock;
	if (to == GMEM_MEMORY_PRIVATE && !b->private_file) {
		ret = gmem_fail(EINVAL, "convert: slot %u has no private side "
				"(bind it with a private_file)", b->slot);
		goto unlock;
	}
	if (to == GMEM_MEMORY_SHARED && !b->file) {
		ret = gmem_fail(EINVAL, "convert: slot %u has no shared side",
				b->slot);
		goto unlock;
	}
	/* The side the guest no longer sees: freed unless asked to keep it. */
	gone = to == GMEM_MEMORY_PRIVATE ? b->file : b->private_file;
	off = (to == GMEM_MEMORY_PRIVATE ? b->offset : b->private_offset) +
	      (gpa - b->gpa);
	if (flags & GMEM_CONVERT_KEEP)
		gone = NULL;
	if (gone && (!gmem_aligned(off, gone->page_size) ||
		     !gmem_aligned(length, gone->page_size))) {
		ret = gmem_fail(EINVAL, "convert: the %s side is %s with "
				"0x%llx-byte pages, freed only whole; convert "
				"whole pages or pass GMEM_CONVERT_KEEP",
				to == GMEM_MEMORY_PRIVATE ? "shared" : "private",
				gone->ops->name,
				(unsigned long long)gone->page_size);
		goto unlock;
	}
	ret = map_reserve(vm, gpa, length);
	if (ret < 0)
		goto unlock;
	if (to == GMEM_MEMORY_PRIVATE) {
		/* Devices off the range before it turns private. */
		pthread_mutex_lock(&vm->attr_lock);
		ret = map_save(vm, gpa, length, &before);
		if (ret == 0)
			map_set(vm, gpa, length, GMEM_MEMORY_PRIVATE);
		pthread_mutex_unlock(&vm->attr_lock);
		if (ret < 0)
			goto unlock;
		ret = shared_side_invalidate(b, gpa, length);
		if (ret < 0) {
			pthread_mutex_lock(&vm->attr_lock);
			map_restore(vm, gpa, length, &before);
			pthread_mutex_unlock(&vm->attr_lock);
			goto unlock;
		}
	}
	ret = set_attributes(vm, gpa, length, to, &before, &done);
	if (to == GMEM_MEMORY_PRIVATE)
		shared_side_revalidate(b, gpa + done, length - done);
	else
		shared_side_revalidate(b, gpa, done);
	/*
	 * Still under the VM lock: a conversion back must not slip in
	 * between, or this discard would free what the guest sees again.
	 */
	if (ret == 0 && gone) {
		ret = gmem_discard(gone, off, length);
		if (ret < 0)
			gmem_fail(-ret, "convert: 0x%llx+0x%llx is %s now, but "
				  "freeing the other side failed: %s",
				  (unsigned long long)gpa,
				  (unsigned long long)length, kind_name(to),
				  gmem_last_error());
	}
unlock:
	pthread_mutex_unlock(&vm->lock);
	gmem_extents_free(&before);
	return ret;
}

GMEM_API int gmem_memory_kind(struct gmem_vm *vm, uint64_t gpa,
			      uint64_t length, uint64_t *run)
{
	uint64_t until;
	bool private;
	int ret;

	gmem_error_clear();
	ret = check_range(vm, gpa, length, "memory kind");
	if (ret < 0)
		return ret;
	if (!run)
		return gmem_fail(EINVAL, "memory kind: run is NULL");
	pthread_mutex_lock(&vm->attr_lock);
	private = gmem_extents_find(&vm->private_map, gpa, &until);
	pthread_mutex_unlock(&vm->attr_lock);
	*run = (until - gpa < length ? until - gpa : length);
	return private ? GMEM_MEMORY_PRIVATE : GMEM_MEMORY_SHARED;
}
