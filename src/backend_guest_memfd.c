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
	if (wants_host_map(a) &&
	    !(vm_gmem_flags(a->vm) & GMEM_KVM_GUEST_MEMFD_FLAG_MMAP))
		return gmem_fail(EOPNOTSUPP, "guest_memfd: this kernel cannot "
				 "map guest_memfd into the host (needs "
				 "GUEST_MEMFD_FLAG_MMAP, Linux 6.18+); pass "
				 "GMEM_FILE_NO_HOST_MAP");
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
	uint64_t supported = vm_gmem_flags(a->vm);
	int fd, err;

	if (wants_host_map(a)) {
		req.flags |= GMEM_KVM_GUEST_MEMFD_FLAG_MMAP;
		/* Where private memory exists, host-mapped pages start shared. */
		req.flags |= supported & GMEM_KVM_GUEST_MEMFD_FLAG_INIT_SHARED;
	}
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
