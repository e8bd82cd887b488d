// SPDX-License-Identifier: MIT
/* backend_guest_memfd.c - KVM's own guest_memfd, created through a VM. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

static bool wants_host_map(const struct gmem_file_args *a)
{
	return !(a->flags & GMEM_FILE_NO_HOST_MAP);
}

/* Flags depend on the VM type, so ask the VM rather than the probe. */
static uint64_t vm_gmem_flags(const struct gmem_vm *vm)
{
	int r = ioctl(vm->fd, KVM_CHECK_EXTENSION,
		      GMEM_KVM_CAP_GUEST_MEMFD_FLAGS);

	return r > 0 ? (uint64_t)r : 0;
}

static bool vm_has_private(const struct gmem_vm *vm)
{
	int r = ioctl(vm->fd, KVM_CHECK_EXTENSION,
		      GMEM_KVM_CAP_MEMORY_ATTRIBUTES);

	return r > 0 && (r & GMEM_KVM_MEMORY_ATTRIBUTE_PRIVATE);
}

/*
 * The flags that make a guest_memfd shared (host-mappable, and usable by a
 * guest without private memory), or 0 if this VM cannot have them.  A VM
 * that offers INIT_SHARED needs it: its pages would otherwise start private.
 */
static uint64_t shared_flags(const struct gmem_vm *vm)
{
	uint64_t f = vm_gmem_flags(vm);

	if (!(f & GMEM_KVM_GUEST_MEMFD_FLAG_MMAP))
		return 0;
	if (vm_has_private(vm) && !(f & GMEM_KVM_GUEST_MEMFD_FLAG_INIT_SHARED))
		return 0;
	return f & (GMEM_KVM_GUEST_MEMFD_FLAG_MMAP |
		    GMEM_KVM_GUEST_MEMFD_FLAG_INIT_SHARED);
}

static int gmfd_available(const struct gmem_host *h,
			  const struct gmem_file_args *a)
{
	if (!a->vm)
		return gmem_fail(EINVAL, "guest_memfd: a guest_memfd file "
				 "belongs to a VM; set args.vm");
	if (!h->kvm_present)
		return gmem_fail(ENODEV, "guest_memfd: KVM is unavailable: %s",
				 h->kvm_error);
	if (a->vm->closed)
		return gmem_fail(ESHUTDOWN, "guest_memfd: the VM is closed");
	if (ioctl(a->vm->fd, KVM_CHECK_EXTENSION, GMEM_KVM_CAP_GUEST_MEMFD) <= 0)
		return gmem_fail(EOPNOTSUPP, "guest_memfd: this kernel or VM "
				 "type lacks KVM_CAP_GUEST_MEMFD (Linux 6.8+)");
	/*
	 * Without private memory a guest reaches guest_memfd only where the
	 * file is shared-capable (MMAP, and INIT_SHARED where there is a
	 * choice): otherwise KVM sends every access to userspace_addr.
	 */
	if (!vm_has_private(a->vm) && !shared_flags(a->vm))
		return gmem_fail(EOPNOTSUPP, "guest_memfd: on this kernel a "
				 "guest can use guest_memfd only as private "
				 "memory, which this VM type lacks (shared "
				 "guest_memfd needs GUEST_MEMFD_FLAG_MMAP, Linux "
				 "6.18+); use the memfd backend");
	if (wants_host_map(a) && !shared_flags(a->vm))
		return gmem_fail(EOPNOTSUPP, "guest_memfd: this kernel cannot "
				 "map guest_memfd into the host (needs "
				 "GUEST_MEMFD_FLAG_MMAP and INIT_SHARED); pass "
				 "GMEM_FILE_NO_HOST_MAP for private memory");
	return 0;
}

static uint64_t gmfd_page_size(const struct gmem_file_args *a)
{
	(void)a;
	return GMEM_BASE_PAGE_SIZE;
}

static int gmfd_create(struct gmem_file *f, const struct gmem_file_args *a)
{
	struct gmem_kvm_create_guest_memfd req = { .size = a->size };
	int fd, err;

	/*
	 * Shared whenever the host wants a mapping, and also without one on a
	 * VM with no private memory, where shared is the only kind a guest
	 * can use.  NO_HOST_MAP then only means: do not map it here.
	 */
	if (wants_host_map(a) || !vm_has_private(a->vm))
		req.flags = shared_flags(a->vm);
	fd = ioctl(a->vm->fd, GMEM_KVM_CREATE_GUEST_MEMFD, &req);
	if (fd < 0) {
		err = errno;
		return gmem_fail(err, "KVM_CREATE_GUEST_MEMFD (size %llu, "
				 "flags 0x%llx): %s",
				 (unsigned long long)a->size,
				 (unsigned long long)req.flags, strerror(err));
	}
	/* The ioctl gives no choice of O_CLOEXEC; set it now. */
	fcntl(fd, F_SETFD, FD_CLOEXEC);
	if (wants_host_map(a)) {
		void *p = mmap(NULL, a->size, PROT_READ | PROT_WRITE,
			       MAP_SHARED, fd, 0);

		if (p == MAP_FAILED) {
			err = errno;
			close(fd);
			return gmem_fail(err, "guest_memfd: mmap of %llu bytes: "
					 "%s", (unsigned long long)a->size,
					 strerror(err));
		}
		f->host_addr = p;
		f->map_len = a->size;
	}
	f->fd = fd;
	f->owner = a->vm;
	gmem_vm_get(a->vm);
	return 0;
}

static void gmfd_fill_slot(const struct gmem_file *f, uint64_t off,
			   struct gmem_kvm_userspace_memory_region2 *r)
{
	r->flags |= GMEM_KVM_MEM_GUEST_MEMFD;
	r->guest_memfd = f->fd;
	r->guest_memfd_offset = off;
	/* Shared accesses go through the host mapping where there is one. */
	if (f->host_addr)
		r->userspace_addr = (uintptr_t)f->host_addr + off;
}

const struct gmem_backend_ops gmem_backend_guest_memfd = {
	.id = GMEM_BACKEND_GUEST_MEMFD,
	.name = "guest_memfd",
	.available = gmfd_available,
	.page_size = gmfd_page_size,
	.create = gmfd_create,
	.populate = gmem_fallocate_populate,
	.discard = gmem_fallocate_punch,
	.fill_slot = gmfd_fill_slot,
};
