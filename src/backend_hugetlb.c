// SPDX-License-Identifier: MIT
/* backend_hugetlb.c - hugetlb memfd: 2 MiB or 1 GiB pages from the pools. */
#include <errno.h>
#include <stdio.h>
#include <sys/mman.h>

#include "internal.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#define GMEM_MFD_HUGE_SHIFT 26

static uint64_t read_pool_value(uint64_t page_size, const char *field)
{
	char path[128];

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-%llukB/%s",
		 (unsigned long long)(page_size >> 10), field);
	return gmem_read_u64(path);
}

static bool host_has_size(const struct gmem_host *h, uint64_t size)
{
	for (unsigned int i = 0; i < h->nr_hugepage_sizes; i++)
		if (h->hugepages[i].page_size == size)
			return true;
	return false;
}

static uint64_t huge_page_size(const struct gmem_file_args *a)
{
	const struct gmem_host *h = gmem_host_cached();

	if (a->page_size)
		return a->page_size;
	/* The smallest huge size is the usual default (2 MiB on x86). */
	return h->nr_hugepage_sizes ? h->hugepages[0].page_size : 0;
}

static int huge_available(const struct gmem_host *h,
			  const struct gmem_file_args *a)
{
	uint64_t psz = huge_page_size(a);

	if (!h->memfd_hugetlb)
		return gmem_fail(EOPNOTSUPP, "hugetlb: memfd_create(MFD_HUGETLB) "
				 "is not available");
	if (a->flags & GMEM_FILE_NO_HOST_MAP)
		return gmem_fail(EINVAL, "hugetlb: KVM reaches hugetlb memory "
				 "through the host mapping, so "
				 "GMEM_FILE_NO_HOST_MAP is only for guest_memfd");
	if (!psz || (psz & (psz - 1)) || !host_has_size(h, psz))
		return gmem_fail(EINVAL, "hugetlb: page size %llu is not one "
				 "this host offers (see gmemctl probe)",
				 (unsigned long long)psz);
	return 0;
}

static int huge_create(struct gmem_file *f, const struct gmem_file_args *a)
{
	uint64_t need = a->size / f->page_size;
	uint64_t free_pages = read_pool_value(f->page_size, "free_hugepages");
	uint64_t resv = read_pool_value(f->page_size, "resv_hugepages");
	uint64_t avail = free_pages > resv ? free_pages - resv : 0;
	unsigned int log2 = (unsigned int)__builtin_ctzll(f->page_size);
	int ret;

	/*
	 * Mapping a hugetlb file reserves every page it covers, so a small
	 * pool fails here, before any binding, and never as a SIGBUS in a
	 * guest later.  Check first to give the numbers.
	 */
	if (need > avail)
		return gmem_fail(ENOMEM, "hugetlb: need %llu pages of %llu KiB, "
				 "the pool has %llu available (%llu free, %llu "
				 "reserved); raise nr_hugepages",
				 (unsigned long long)need,
				 (unsigned long long)(f->page_size >> 10),
				 (unsigned long long)avail,
				 (unsigned long long)free_pages,
				 (unsigned long long)resv);
	ret = gmem_memfd_make(f, a, MFD_HUGETLB | (log2 << GMEM_MFD_HUGE_SHIFT),
			      f->page_size);
	if (ret == -ENOMEM)
		return gmem_fail(ENOMEM, "hugetlb: the pool of %llu KiB pages "
				 "could not reserve %llu pages (another user "
				 "took them?): %s",
				 (unsigned long long)(f->page_size >> 10),
				 (unsigned long long)need, gmem_last_error());
	return ret;
}

const struct gmem_backend_ops gmem_backend_hugetlb = {
	.id = GMEM_BACKEND_HUGETLB,
	.name = "hugetlb",
	.available = huge_available,
	.page_size = huge_page_size,
	.create = huge_create,
	.populate = gmem_fallocate_populate,
	.discard = gmem_fallocate_punch,
	.fill_slot = gmem_fill_slot_from_mapping,
};
