// SPDX-License-Identifier: MIT
/* test_probe.c - the host probe agrees with what the machine shows. */
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "harness.h"

static void probe_null_is_einval(void)
{
	CHECK_ERR(gmem_probe(NULL), EINVAL);
}

static void probe_kvm_matches_dev_kvm(void)
{
	struct gmem_host h;
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	CHECK_OK(gmem_probe(&h));
	CHECK(h.kvm_present == (fd >= 0));
	if (fd < 0) {
		/* The reason names the device and the error. */
		CHECK(strstr(h.kvm_error, "/dev/kvm") != NULL);
		CHECK(h.cap_guest_memfd == 0 && h.cap_nr_memslots == 0);
		return;
	}
	CHECK(h.kvm_api_version == ioctl(fd, KVM_GET_API_VERSION, 0));
	CHECK(h.cap_nr_memslots > 0);
	CHECK(h.cap_vm_types & 1);
	CHECK(h.kvm_error[0] == '\0');
	close(fd);
}

static void probe_memfd_and_pools(void)
{
	struct gmem_host h;

	CHECK_OK(gmem_probe(&h));
	CHECK(h.memfd == 1);
	for (unsigned int i = 0; i < h.nr_hugepage_sizes; i++) {
		CHECK(h.hugepages[i].page_size >= 2ULL << 20);
		CHECK(h.hugepages[i].free <= h.hugepages[i].total);
		if (i)
			CHECK(h.hugepages[i].page_size >
			      h.hugepages[i - 1].page_size);
	}
	if (access("/sys/kernel/mm/hugepages/hugepages-2048kB", F_OK) == 0)
		CHECK(h.nr_hugepage_sizes >= 1 &&
		      h.hugepages[0].page_size == 2ULL << 20);
}

static void probe_numa_iommu_thp(void)
{
	struct gmem_host h;

	CHECK_OK(gmem_probe(&h));
	CHECK(h.nr_numa_nodes >= 1);
	CHECK((unsigned int)__builtin_popcountll(h.numa_node_mask) ==
	      h.nr_numa_nodes);
	CHECK(h.iommu == (access("/dev/iommu", F_OK) == 0));
	CHECK(h.vfio == (access("/dev/vfio/vfio", F_OK) == 0));
	CHECK(h.thp_enabled[0] != '\0');
	if (access("/sys/kernel/mm/transparent_hugepage/enabled", F_OK) == 0)
		CHECK(strcmp(h.thp_enabled, "always") == 0 ||
		      strcmp(h.thp_enabled, "madvise") == 0 ||
		      strcmp(h.thp_enabled, "never") == 0);
}

/* The base page size is the system's, not an assumed 4 KiB. */
static void probe_page_size_is_the_systems(void)
{
	struct gmem_file_args a = { .backend = GMEM_BACKEND_MEMFD };
	struct gmem_file *f;
	struct gmem_host h;

	CHECK_OK(gmem_probe(&h));
	CHECK(h.page_size == (uint32_t)sysconf(_SC_PAGESIZE));
	a.size = h.page_size;
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK(gmem_file_page_size(f) == h.page_size);
	CHECK_OK(gmem_file_close(f));
}

static const struct t_case cases[] = {
	T_CASE(probe_page_size_is_the_systems),
	T_CASE(probe_null_is_einval),
	T_CASE(probe_kvm_matches_dev_kvm),
	T_CASE(probe_memfd_and_pools),
	T_CASE(probe_numa_iommu_thp),
};
T_MAIN(cases)
