// SPDX-License-Identifier: MIT
/*
 * bench_raw.c - the KVM ioctls libgmem wraps, made directly, so the bench
 * can set each library call beside the raw sequence it stands for.  The
 * numbers are KVM's published ABI; Debian 12's headers predate some.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bench.h"

struct region2 {
	uint32_t slot;
	uint32_t flags;
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t guest_memfd_offset;
	uint32_t guest_memfd;
	uint32_t pad1;
	uint64_t pad2[14];
};
_Static_assert(sizeof(struct region2) == 160, "memory region2 layout");

struct create_guest_memfd {
	uint64_t size;
	uint64_t flags;
	uint64_t reserved[6];
};

#define SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct region2)
#define CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct create_guest_memfd)
/* Host-mappable, and shared from the start: what the library asks for. */
#define GUEST_MEMFD_MMAP_SHARED ((1ULL << 0) | (1ULL << 1))

int raw_vm_create(void)
{
	int kvm = open("/dev/kvm", O_RDWR | O_CLOEXEC), vm;

	if (kvm < 0)
		return -errno;
	vm = ioctl(kvm, KVM_CREATE_VM, 0);
	if (vm < 0)
		vm = -errno;
	close(kvm);
	return vm;
}

int raw_set_slot(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size,
		 void *addr, bool region2)
{
	struct region2 r = {
		.slot = slot,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)addr,
	};

	/* The first fields of region2 are the older struct, as in KVM. */
	return ioctl(vm_fd, region2 ? SET_USER_MEMORY_REGION2 :
		     KVM_SET_USER_MEMORY_REGION, &r);
}

int raw_guest_memfd(int vm_fd, uint64_t size)
{
	struct create_guest_memfd c = {
		.size = size,
		.flags = GUEST_MEMFD_MMAP_SHARED,
	};
	int fd = ioctl(vm_fd, CREATE_GUEST_MEMFD, &c);

	/* KVM cannot set close-on-exec at creation; the library does this. */
	if (fd >= 0 && fcntl(fd, F_SETFD, FD_CLOEXEC) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}
