/* SPDX-License-Identifier: MIT */
/*
 * kvm_uapi.h - the KVM guest_memfd ABI numbers libgmem needs, carried here
 * because distro headers (Debian 12 ships 6.1) predate them.  Names carry a
 * GMEM_ prefix so they never clash with a newer <linux/kvm.h>.
 * Numbers are from the kernel's published uapi (Documentation/virt/kvm/api.rst).
 */
#ifndef GMEM_KVM_UAPI_H
#define GMEM_KVM_UAPI_H

#include <stdint.h>
#include <linux/ioctl.h>
#include <linux/kvm.h>

/* Capabilities (KVM_CHECK_EXTENSION). */
#define GMEM_KVM_CAP_NR_MEMSLOTS	10
#define GMEM_KVM_CAP_EXIT_HYPERCALL	201
#define GMEM_KVM_CAP_USER_MEMORY2	231
#define GMEM_KVM_CAP_MEMORY_FAULT_INFO	232
#define GMEM_KVM_CAP_MEMORY_ATTRIBUTES	233
#define GMEM_KVM_CAP_GUEST_MEMFD	234
#define GMEM_KVM_CAP_VM_TYPES		235
#define GMEM_KVM_CAP_PRE_FAULT_MEMORY	236
#define GMEM_KVM_CAP_GUEST_MEMFD_FLAGS	244

/* Memslot flags. */
#define GMEM_KVM_MEM_LOG_DIRTY_PAGES	(1U << 0)
#define GMEM_KVM_MEM_READONLY		(1U << 1)
#define GMEM_KVM_MEM_GUEST_MEMFD	(1U << 2)

struct gmem_kvm_userspace_memory_region2 {
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
_Static_assert(sizeof(struct gmem_kvm_userspace_memory_region2) == 160,
	       "kvm_userspace_memory_region2 layout");

struct gmem_kvm_create_guest_memfd {
	uint64_t size;
	uint64_t flags;
	uint64_t reserved[6];
};
_Static_assert(sizeof(struct gmem_kvm_create_guest_memfd) == 64,
	       "kvm_create_guest_memfd layout");

struct gmem_kvm_memory_attributes {
	uint64_t address;
	uint64_t size;
	uint64_t attributes;
	uint64_t flags;
};
_Static_assert(sizeof(struct gmem_kvm_memory_attributes) == 32,
	       "kvm_memory_attributes layout");

/*
 * The parts of struct kvm_run the library reads: the exit reason, and the
 * exit union from byte 32 for a memory fault or a hypercall.
 */
#define GMEM_KVM_RUN_EXIT_REASON_OFFSET	8
#define GMEM_KVM_RUN_EXIT_UNION_OFFSET	32

struct gmem_kvm_exit_memory_fault {
	uint64_t flags;			/* GMEM_KVM_MEMORY_EXIT_FLAG_* */
	uint64_t gpa;
	uint64_t size;
};

struct gmem_kvm_exit_hypercall {
	uint64_t nr;
	uint64_t args[6];
	uint64_t ret;			/* written by userspace */
	uint64_t flags;
};

#define GMEM_KVM_EXIT_HYPERCALL		3
#define GMEM_KVM_MEMORY_EXIT_FLAG_PRIVATE	(1ULL << 3)
/* KVM_HC_MAP_GPA_RANGE: args gpa, pages, attributes (below). */
#define GMEM_KVM_HC_MAP_GPA_RANGE	12
#define GMEM_KVM_MAP_GPA_RANGE_PAGE_SZ_MASK	0xfULL	/* 0 4K, 1 2M, 2 1G */
#define GMEM_KVM_MAP_GPA_RANGE_ENCRYPTED	(1ULL << 4)

/* x86 VM types for KVM_CREATE_VM. */
#define GMEM_KVM_X86_SW_PROTECTED_VM	1
#define GMEM_KVM_X86_SEV_VM		2
#define GMEM_KVM_X86_SEV_ES_VM		3
#define GMEM_KVM_X86_SNP_VM		4
#define GMEM_KVM_X86_TDX_VM		5

#define GMEM_KVM_MEMORY_ATTRIBUTE_PRIVATE	(1ULL << 3)

#define GMEM_KVM_SET_USER_MEMORY_REGION2 \
	_IOW(KVMIO, 0x49, struct gmem_kvm_userspace_memory_region2)
#define GMEM_KVM_SET_MEMORY_ATTRIBUTES \
	_IOW(KVMIO, 0xd2, struct gmem_kvm_memory_attributes)
#define GMEM_KVM_CREATE_GUEST_MEMFD \
	_IOWR(KVMIO, 0xd4, struct gmem_kvm_create_guest_memfd)

/* Exit reason with kvm_run.memory_fault filled (KVM_CAP_MEMORY_FAULT_INFO). */
#define GMEM_KVM_EXIT_MEMORY_FAULT	39

#define GMEM_KVM_X86_DEFAULT_VM		0

#endif /* GMEM_KVM_UAPI_H */
