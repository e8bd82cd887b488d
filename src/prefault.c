// SPDX-License-Identifier: MIT
/*
 * prefault.c - have KVM map guest memory before the guest touches it
 * (KVM_PRE_FAULT_MEMORY), so a guest's first pass over populated memory
 * takes no faults at all.
 */
#include <errno.h>
#include <string.h>
#include <sys/ioctl.h>

#include "internal.h"

struct pre_fault_memory {
	uint64_t gpa;
	uint64_t size;
	uint64_t flags;
	uint64_t padding[5];
};
_Static_assert(sizeof(struct pre_fault_memory) == 64,
	       "kvm_pre_fault_memory layout");

#define KVM_PRE_FAULT_MEMORY _IOWR(KVMIO, 0xd5, struct pre_fault_memory)

GMEM_API int gmem_prefault(struct gmem_vm *vm, int vcpu_fd, uint64_t gpa,
			   uint64_t length)
{
	struct pre_fault_memory r = { .gpa = gpa, .size = length };
	uint64_t cap;
	int ret;

	gmem_error_clear();
	if (!vm)
		return gmem_fail(EINVAL, "prefault: vm is NULL");
	if (!length || !gmem_aligned(gpa | length, gmem_facts()->page_size))
		return gmem_fail(EINVAL, "prefault: 0x%llx+0x%llx is empty or "
				 "not in whole pages", (unsigned long long)gpa,
				 (unsigned long long)length);
	ret = gmem_vm_check_cap(vm, GMEM_KVM_CAP_PRE_FAULT_MEMORY,
				"KVM_CAP_PRE_FAULT_MEMORY", &cap);
	if (ret < 0)
		return ret;
	if (!cap)
		return gmem_fail(EOPNOTSUPP, "prefault: this KVM has no "
				 "KVM_PRE_FAULT_MEMORY (Linux 6.10+)");
	/* KVM does part of it per call, moving gpa and size on. */
	while (r.size) {
		if (ioctl(vcpu_fd, KVM_PRE_FAULT_MEMORY, &r) == 0)
			continue;
		if (errno == EINTR || errno == EAGAIN)
			continue;
		return gmem_fail(errno, "KVM_PRE_FAULT_MEMORY at 0x%llx (0x%llx "
				 "left): %s", (unsigned long long)r.gpa,
				 (unsigned long long)r.size, strerror(errno));
	}
	return 0;
}
