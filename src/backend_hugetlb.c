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

static bool host_has_size(uint64_t size)
{
	const struct gmem_facts *h = gmem_facts();

	for (unsigned int i = 0; i < h->nr_huge_sizes; i++)
		if (h->huge_sizes[i] == size)
			return true;
	return false;
}

static uint64_t huge_page_size(const struct gmem_file_args *a)
{
	const struct gmem_facts *h = gmem_facts();

	if (a->page_size)
		return a->page_size;
	/* The smallest huge size is the usual default (2 MiB on x86). */
	return h->nr_huge_sizes ? h->huge_sizes[0] : 0;
}

static int huge_check(const struct gmem_file_args *a)
{
	uint64_t psz = huge_page_size(a);

	if (a->flags & GMEM_FILE_NO_HOST_MAP)
		return gmem_fail(EINVAL, "hugetlb: KVM reaches hugetlb memory "
				 "through the host mapping, so "
				 "GMEM_FILE_NO_HOST_MAP is only for guest_memfd");
	if (a->flags & GMEM_FILE_THP)
		return gmem_fail(EINVAL, "file: GMEM_FILE_THP is only for the "
				 "memfd backend, not hugetlb");
	if (a->flags & GMEM_FILE_PRIVATE)
		return gmem_fail(EINVAL, "hugetlb: private memory is a "
				 "guest_memfd of a VM that has it (huge pages in "
				 "guest_memfd are not in this kernel's ABI)");
	if (!psz || (psz & (psz - 1)) || !host_has_size(psz))
		return gmem_fail(EINVAL, "hugetlb: page size %llu is not one "
				 "this host offers (see gmemctl probe)",
				 (unsigned long long)psz);
	return 0;
}

static int huge_create(struct gmem_file *f, const struct gmem_file_args *a)
{
	uint64_t need = a->size / f->page_size;
	uint64_t free_pages = gmem_hugepool_read(f->page_size, "free_hugepages");
	uint64_t resv = gmem_hugepool_read(f->page_size, "resv_hugepages");
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

/*
 * Is the huge page at off mapped here?  It is mapped whole, so its first
 * base page answers for it; asking mincore() about all of it would cost a
 * page-cache lookup per base page where nothing is mapped.
 */
static int huge_mapped(struct gmem_file *f, uint64_t off)
{
	int64_t n = gmem_mincore_bytes(f, off, gmem_facts()->page_size);

	return n < 0 ? (int)n : n > 0;
}

/* What the file holds: what populate allocated, plus what was faulted. */
struct holdings {
	uint64_t resident;
	uint64_t touched;
};

/*
 * hugetlbfs has no cachestat and no SEEK_DATA, and mincore() sees only
 * pages mapped in this process: join it with the books page by page.  A
 * hugetlb file is never larger than its pool, so this stays small.
 */
static int count_holdings(struct gmem_file *f, struct holdings *h)
{
	uint64_t psz = f->page_size;

	h->resident = h->touched = 0;
	for (uint64_t off = 0; off < f->size; off += psz) {
		int mapped = huge_mapped(f, off);
		bool populated;

		if (mapped < 0)
			return mapped;
		pthread_mutex_lock(&f->lock);
		populated = gmem_extents_covered(&f->populated, off, off + psz);
		pthread_mutex_unlock(&f->lock);
		if (mapped)
			h->touched += psz;
		if (mapped || populated)
			h->resident += psz;
	}
	return 0;
}

/* Pages mapped here: mincore() of each huge page's first base page. */
static int count_mapped(struct gmem_file *f, uint64_t *touched)
{
	*touched = 0;
	for (uint64_t off = 0; off < f->size; off += f->page_size) {
		int mapped = huge_mapped(f, off);

		if (mapped < 0)
			return mapped;
		*touched += mapped ? f->page_size : 0;
	}
	return 0;
}

/*
 * hugetlbfs counts a file's pages in its blocks, so a whole file's
 * holdings need no mincore(); an imported window of a larger file is
 * counted page by page, or without touched (no mincore(), so no
 * mmap_lock) from the books alone.
 */
static int huge_usage(struct gmem_file *f, struct gmem_usage *u,
		      bool touched)
{
	struct holdings h;
	struct stat st;

	u->touched = GMEM_STATS_UNKNOWN;
	if (fstat(f->fd, &st) == 0 && f->base == 0 &&
	    (uint64_t)st.st_size == f->size) {
		u->resident = (uint64_t)st.st_blocks * 512;
		if (touched && count_mapped(f, &u->touched) < 0)
			u->touched = GMEM_STATS_UNKNOWN;
	} else if (touched && count_holdings(f, &h) == 0) {
		u->resident = h.resident;
		u->touched = h.touched;
	} else {
		pthread_mutex_lock(&f->lock);
		u->resident = f->populated.bytes;
		pthread_mutex_unlock(&f->lock);
	}
	u->hugepages = u->resident / f->page_size;
	return 0;
}

static int huge_check_room(struct gmem_file *f, uint64_t off, uint64_t len)
{
	uint64_t pages = 0;

	for (uint64_t p = off; p < off + len; p += f->page_size) {
		bool have;

		pthread_mutex_lock(&f->lock);
		have = gmem_extents_covered(&f->populated, p, p + f->page_size);
		pthread_mutex_unlock(&f->lock);
		if (!have && huge_mapped(f, p) == 0)
			pages++;
	}
	return gmem_room_hugetlb(f->page_size, pages, "populate");
}

/*
 * Huge pages are zeroed when allocated either way; faulting them through
 * the mapping runs on every core (fallocate takes the inode lock), and
 * leaves them mapped here, where mincore() can see them.
 */
static int huge_populate(struct gmem_file *f, uint64_t off, uint64_t len,
			 bool zero)
{
	(void)zero;
	return gmem_madvise_populate(f, off, len);
}

/* What a failed populate left: the pages mapped here, in whole pages. */
static int huge_resident_in(struct gmem_file *f, uint64_t off, uint64_t len,
			    struct gmem_extents *x)
{
	for (uint64_t p = off; p < off + len; p += f->page_size) {
		int mapped = huge_mapped(f, p);
		int ret;

		if (mapped < 0)
			return mapped;
		if (!mapped)
			continue;
		ret = gmem_extents_add(x, p, p + f->page_size,
				       GMEM_NODE_UNKNOWN, NULL, NULL);
		if (ret < 0)
			return ret;
	}
	return 0;
}

static unsigned int huge_numa_reach(const struct gmem_file *f)
{
	(void)f;
	/*
	 * hugetlbfs keeps no policy in the file, but mbind on the mapping
	 * covers every fault through it: the guest's (via KVM) and populate's.
	 */
	return GMEM_REACH_FAULTS | GMEM_REACH_POPULATE;
}

static int huge_check_bind(const struct gmem_file *f, uint64_t off,
			   uint64_t len, uint64_t gpa)
{
	(void)f, (void)off, (void)len, (void)gpa;
	return 0;
}

static bool huge_claims(const struct statfs *sfs, const struct stat *st)
{
	return sfs->f_type == (long)0x958458f6 /* HUGETLBFS_MAGIC */ &&
	       S_ISREG(st->st_mode);
}

/* hugetlbfs reports its page size as the block size. */
static uint64_t huge_import_page_size(const struct statfs *sfs)
{
	return (uint64_t)sfs->f_bsize;
}

static int huge_import(struct gmem_file *f, const struct gmem_import_args *a)
{
	int ret;

	if (a->flags & (GMEM_FILE_PRIVATE | GMEM_FILE_NO_HOST_MAP))
		return gmem_fail(EINVAL, "import: a hugetlbfs file is shared "
				 "memory, reached through its mapping; "
				 "GMEM_FILE_PRIVATE and _NO_HOST_MAP are for "
				 "guest_memfd");
	/* Mapping reserves the pages not yet there, as creation does. */
	ret = gmem_memfd_map_import(f, f->page_size);
	if (ret == -ENOMEM)
		return gmem_fail(ENOMEM, "import: the pool of %llu KiB pages "
				 "cannot back the window (%s); raise "
				 "nr_hugepages",
				 (unsigned long long)(f->page_size >> 10),
				 gmem_last_error());
	return ret;
}

const struct gmem_backend_ops gmem_backend_hugetlb = {
	.id = GMEM_BACKEND_HUGETLB,
	.name = "hugetlb",
	.check = huge_check,
	.page_size = huge_page_size,
	.create = huge_create,
	.destroy = gmem_unmap_and_close,
	.claims = huge_claims,
	.import_page_size = huge_import_page_size,
	.import = huge_import,
	.populate_chunk = 64ULL << 20,
	.populate = huge_populate,
	.discard = gmem_fallocate_punch,
	.check_room = huge_check_room,
	.resident_in = huge_resident_in,
	.usage = huge_usage,
	.numa_reach = huge_numa_reach,
	.fill_memslot = gmem_fill_memslot_from_map,
	.check_bind = huge_check_bind,
};
