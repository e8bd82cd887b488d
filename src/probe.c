// SPDX-License-Identifier: MIT
/* probe.c - find out what this machine's kernel offers, once. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif

#define KVM_DEV "/dev/kvm"

int gmem_open_kvm(void)
{
	int fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return gmem_fail(errno, "cannot open %s: %s", KVM_DEV,
				 strerror(errno));
	return fd;
}

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

static void probe_kvm(struct gmem_host *h)
{
	int sys_fd, vm_fd;

	sys_fd = gmem_open_kvm();
	if (sys_fd < 0) {
		snprintf(h->kvm_error, sizeof(h->kvm_error), "%s",
			 gmem_last_error());
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
	close(vm_fd);
	close(sys_fd);
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

uint64_t gmem_read_u64(const char *path)
{
	unsigned long long v = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static int cmp_pool(const void *a, const void *b)
{
	const struct gmem_hugepage_pool *x = a, *y = b;

	return (x->page_size > y->page_size) - (x->page_size < y->page_size);
}

static void probe_hugepages(struct gmem_host *h)
{
	const char *dir = "/sys/kernel/mm/hugepages";
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	if (!d)
		return;
	while ((e = readdir(d)) && h->nr_hugepage_sizes < GMEM_MAX_HUGEPAGE_SIZES) {
		unsigned long long kb;
		struct gmem_hugepage_pool *p;

		if (sscanf(e->d_name, "hugepages-%llukB", &kb) != 1)
			continue;
		p = &h->hugepages[h->nr_hugepage_sizes++];
		p->page_size = kb * 1024;
		snprintf(path, sizeof(path), "%s/%s/nr_hugepages", dir, e->d_name);
		p->total = gmem_read_u64(path);
		snprintf(path, sizeof(path), "%s/%s/free_hugepages", dir, e->d_name);
		p->free = gmem_read_u64(path);
	}
	closedir(d);
	qsort(h->hugepages, h->nr_hugepage_sizes, sizeof(h->hugepages[0]),
	      cmp_pool);
}

/* Sysfs shows modes as "always [madvise] never": keep the bracketed one. */
void gmem_read_sysfs_mode(const char *path, char *out, size_t outlen)
{
	char buf[256], *l, *r;
	FILE *f = fopen(path, "re");

	snprintf(out, outlen, "unavailable");
	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f)) {
		l = strchr(buf, '[');
		r = l ? strchr(l, ']') : NULL;
		if (l && r) {
			*r = '\0';
			snprintf(out, outlen, "%s", l + 1);
		}
	}
	fclose(f);
}

static void probe_numa(struct gmem_host *h)
{
	char buf[512], *p;
	FILE *f = fopen("/sys/devices/system/node/has_memory", "re");

	if (!f)
		f = fopen("/sys/devices/system/node/online", "re");
	if (!f || !fgets(buf, sizeof(buf), f)) {
		/* No NUMA support in the kernel: all memory is one node. */
		h->nr_numa_nodes = 1;
		h->numa_node_mask = 1;
		if (f)
			fclose(f);
		return;
	}
	fclose(f);
	/* A list like "0-3,5". */
	for (p = buf; *p && *p != '\n';) {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;

		if (end == p)
			break;
		if (*end == '-')
			hi = strtoul(end + 1, &end, 10);
		for (; lo <= hi && lo < GMEM_MAX_NUMA_NODES; lo++) {
			h->numa_node_mask |= 1ULL << lo;
			h->nr_numa_nodes++;
		}
		p = (*end == ',') ? end + 1 : end;
	}
}

static void probe_all(struct gmem_host *h)
{
	memset(h, 0, sizeof(*h));
	probe_kvm(h);
	probe_memfd(h);
	probe_hugepages(h);
	gmem_read_sysfs_mode("/sys/kernel/mm/transparent_hugepage/enabled",
			   h->thp_enabled, sizeof(h->thp_enabled));
	gmem_read_sysfs_mode("/sys/kernel/mm/transparent_hugepage/shmem_enabled",
			   h->thp_shmem_enabled, sizeof(h->thp_shmem_enabled));
	probe_numa(h);
	h->iommu = access("/dev/iommu", F_OK) == 0;
	h->vfio = access("/dev/vfio/vfio", F_OK) == 0;
}

int gmem_probe(struct gmem_host *host)
{
	if (!host)
		return gmem_fail(EINVAL, "gmem_probe: host is NULL");
	probe_all(host);
	return 0;
}

static struct gmem_host cached_host;
static pthread_once_t cached_once = PTHREAD_ONCE_INIT;

static void probe_cached(void)
{
	probe_all(&cached_host);
}

const struct gmem_host *gmem_host_cached(void)
{
	pthread_once(&cached_once, probe_cached);
	return &cached_host;
}
