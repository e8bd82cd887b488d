// SPDX-License-Identifier: MIT
/*
 * probe.c - gmem_probe(): what this machine's kernel offers.  It creates
 * throwaway VMs to ask KVM; nothing else in the library does.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

static long check_cap(int sys_fd, int vm_fd, long cap)
{
	long r = -1;

	/* Some capabilities depend on the VM type: ask the VM first. */
	if (vm_fd >= 0)
		r = ioctl(vm_fd, KVM_CHECK_EXTENSION, cap);
	if (r < 0)
		r = ioctl(sys_fd, KVM_CHECK_EXTENSION, cap);
	return r < 0 ? 0 : r;
}

/* Make a small shared guest_memfd and see whether mbind reaches it. */
static uint32_t probe_guest_memfd_numa(int vm_fd, uint64_t flags)
{
	struct gmem_kvm_create_guest_memfd req = { .size = 1 << 21 };
	uint32_t method = GMEM_NUMA_VIA_THREAD;
	void *p;
	int fd;

	if (!(flags & GMEM_KVM_GUEST_MEMFD_FLAG_MMAP) ||
	    !(flags & GMEM_KVM_GUEST_MEMFD_FLAG_INIT_SHARED))
		return method;
	req.flags = GMEM_KVM_GUEST_MEMFD_FLAG_MMAP |
		    GMEM_KVM_GUEST_MEMFD_FLAG_INIT_SHARED;
	fd = ioctl(vm_fd, GMEM_KVM_CREATE_GUEST_MEMFD, &req);
	if (fd < 0)
		return method;
	p = mmap(NULL, req.size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p != MAP_FAILED) {
		if (gmem_numa_stored_in_file(fd, p, gmem_facts()->page_size))
			method = GMEM_NUMA_VIA_MBIND;
		munmap(p, req.size);
	}
	close(fd);
	return method;
}

static void probe_kvm(struct gmem_host *h)
{
	int sys_fd, vm_fd;

	sys_fd = gmem_open_kvm();
	if (sys_fd < 0) {
		snprintf(h->kvm_error, sizeof(h->kvm_error), "%s",
			 gmem_last_error());
		gmem_error_clear();
		return;
	}
	h->kvm_api_version = ioctl(sys_fd, KVM_GET_API_VERSION, 0);
	if (h->kvm_api_version != KVM_API_VERSION) {
		snprintf(h->kvm_error, sizeof(h->kvm_error),
			 "KVM API version %d, expected %d",
			 h->kvm_api_version, KVM_API_VERSION);
		close(sys_fd);
		return;
	}
	vm_fd = ioctl(sys_fd, KVM_CREATE_VM, GMEM_KVM_X86_DEFAULT_VM);
	if (vm_fd < 0) {
		snprintf(h->kvm_error, sizeof(h->kvm_error),
			 "KVM_CREATE_VM: %s", strerror(errno));
		close(sys_fd);
		return;
	}
	h->kvm_present = 1;
	h->cap_user_memory2 = check_cap(sys_fd, vm_fd, GMEM_KVM_CAP_USER_MEMORY2);
	h->cap_guest_memfd = check_cap(sys_fd, vm_fd, GMEM_KVM_CAP_GUEST_MEMFD);
	h->cap_guest_memfd_flags =
		check_cap(sys_fd, vm_fd, GMEM_KVM_CAP_GUEST_MEMFD_FLAGS);
	h->cap_memory_attributes =
		check_cap(sys_fd, vm_fd, GMEM_KVM_CAP_MEMORY_ATTRIBUTES);
	/* Bit 0 (the default type) is implied by a working KVM_CREATE_VM. */
	h->cap_vm_types = check_cap(sys_fd, -1, GMEM_KVM_CAP_VM_TYPES) | 1;
	h->cap_pre_fault_memory =
		check_cap(sys_fd, vm_fd, GMEM_KVM_CAP_PRE_FAULT_MEMORY);
	h->cap_memory_fault_info =
		check_cap(sys_fd, vm_fd, GMEM_KVM_CAP_MEMORY_FAULT_INFO);
	h->cap_nr_memslots = check_cap(sys_fd, vm_fd, GMEM_KVM_CAP_NR_MEMSLOTS);
	if (h->cap_guest_memfd)
		h->guest_memfd_numa =
			probe_guest_memfd_numa(vm_fd, h->cap_guest_memfd_flags);
	close(vm_fd);
	close(sys_fd);
}

/* A VM's answers, for a type's capabilities. */
static void fill_vm_caps(int vm_fd, uint32_t type, struct gmem_vm_caps *c)
{
	long r;

	memset(c, 0, sizeof(*c));
	c->type = type;
	c->supported = 1;
#define CAP(cap) ((r = ioctl(vm_fd, KVM_CHECK_EXTENSION, cap)) > 0 ? r : 0)
	c->memory_attributes = (uint64_t)CAP(GMEM_KVM_CAP_MEMORY_ATTRIBUTES);
	c->guest_memfd_flags = (uint64_t)CAP(GMEM_KVM_CAP_GUEST_MEMFD_FLAGS);
	c->guest_memfd = (uint32_t)CAP(GMEM_KVM_CAP_GUEST_MEMFD);
	c->pre_fault_memory = (uint32_t)CAP(GMEM_KVM_CAP_PRE_FAULT_MEMORY);
	c->memory_fault_info = (uint32_t)CAP(GMEM_KVM_CAP_MEMORY_FAULT_INFO);
	c->exit_hypercalls = (uint64_t)CAP(GMEM_KVM_CAP_EXIT_HYPERCALL);
#undef CAP
}

GMEM_API int gmem_probe_vm_type(uint32_t type, struct gmem_vm_caps *out)
{
	int vm_fd;

	gmem_error_clear();
	if (!out)
		return gmem_fail(EINVAL, "gmem_probe_vm_type: out is NULL");
	if (type >= GMEM_VM_TYPE_COUNT)
		return gmem_fail(EINVAL, "gmem_probe_vm_type: unknown VM type "
				 "%u", type);
	vm_fd = gmem_kvm_create_vm(type);
	if (vm_fd < 0) {
		/* A type this kernel lacks is data, not an error. */
		memset(out, 0, sizeof(*out));
		out->type = type;
		if (vm_fd != -EOPNOTSUPP)
			return vm_fd;	/* no KVM at all: the reason says so */
		gmem_error_clear();
		return 0;
	}
	fill_vm_caps(vm_fd, type, out);
	close(vm_fd);
	return 0;
}

GMEM_API int gmem_vm_get_caps(struct gmem_vm *vm, struct gmem_vm_caps *out)
{
	gmem_error_clear();
	if (!vm || !out)
		return gmem_fail(EINVAL, "gmem_vm_get_caps: NULL argument");
	fill_vm_caps(vm->fd, vm->type, out);
	return 0;
}

static void probe_memfd(struct gmem_host *h)
{
	int fd = memfd_create("gmem-probe", MFD_CLOEXEC);

	if (fd >= 0) {
		h->memfd = 1;
		close(fd);
	}
	fd = memfd_create("gmem-probe", MFD_CLOEXEC | MFD_HUGETLB);
	if (fd >= 0) {
		h->memfd_hugetlb = 1;
		close(fd);
	}
}

static void probe_hugepages(struct gmem_host *h)
{
	const struct gmem_facts *facts = gmem_facts();

	for (unsigned int i = 0; i < facts->nr_huge_sizes; i++) {
		struct gmem_hugepage_pool *p = &h->hugepages[i];

		p->page_size = facts->huge_sizes[i];
		p->total = gmem_hugepool_read(p->page_size, "nr_hugepages");
		p->free = gmem_hugepool_read(p->page_size, "free_hugepages");
	}
	h->nr_hugepage_sizes = facts->nr_huge_sizes;
}

GMEM_API int gmem_probe(struct gmem_host *h)
{
	const struct gmem_facts *facts = gmem_facts();

	gmem_error_clear();
	if (!h)
		return gmem_fail(EINVAL, "gmem_probe: host is NULL");
	memset(h, 0, sizeof(*h));
	h->page_size = (uint32_t)facts->page_size;
	probe_kvm(h);
	probe_memfd(h);
	probe_hugepages(h);
	gmem_read_sysfs_mode("/sys/kernel/mm/transparent_hugepage/enabled",
			     h->thp_enabled, sizeof(h->thp_enabled));
	gmem_read_sysfs_mode("/sys/kernel/mm/transparent_hugepage/shmem_enabled",
			     h->thp_shmem_enabled, sizeof(h->thp_shmem_enabled));
	h->nr_numa_nodes = facts->nr_numa_nodes;
	h->numa_node_mask = facts->numa_node_mask;
	h->iommu = access("/dev/iommu", F_OK) == 0;
	h->vfio = access("/dev/vfio/vfio", F_OK) == 0;
	return 0;
}
