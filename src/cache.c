// SPDX-License-Identifier: MIT
/*
 * cache.c - what a shmem-like file (memfd, guest_memfd) holds, asked of the
 * kernel: cachestat() counts the pages in a range of the page cache
 * without walking empty stretches, so a sparse terabyte costs microseconds;
 * mincore() then runs only where cachestat found pages.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif

struct cachestat_range {
	uint64_t off;
	uint64_t len;
};

struct cachestat_result {
	uint64_t nr_cache;
	uint64_t nr_dirty;
	uint64_t nr_writeback;
	uint64_t nr_evicted;
	uint64_t nr_recently_evicted;
};

/* Below this, ask mincore() instead of splitting the range further. */
#define LEAF_BYTES (2ULL << 20)

int64_t gmem_cache_bytes(const struct gmem_file *f, uint64_t off, uint64_t len)
{
	struct cachestat_range r = { f->base + off, len };
	struct cachestat_result cs;

	if (syscall(SYS_cachestat, f->fd, &r, &cs, 0) < 0)
		return -errno;
	return (int64_t)(cs.nr_cache * gmem_facts()->page_size);
}

int64_t gmem_mincore_bytes(const struct gmem_file *f, uint64_t off,
			   uint64_t len)
{
	enum { CHUNK = 4096 };	/* pages per mincore call */
	uint64_t psz = gmem_facts()->page_size, sum = 0;
	unsigned char vec[CHUNK];

	while (len) {
		uint64_t n = len < CHUNK * psz ? len : CHUNK * psz;

		if (mincore((uint8_t *)f->map + off, n, vec) < 0)
			return -errno;
		for (uint64_t i = 0; i < n / psz; i++)
			sum += (vec[i] & 1) ? psz : 0;
		off += n;
		len -= n;
	}
	return (int64_t)sum;
}

/*
 * mincore() over [off, off + len), visiting only where pages exist: a
 * range mostly cached is asked in one go (at most twice the pages there),
 * one mostly empty is halved, as cachestat() skips empty stretches cheaply.
 * cached is what cachestat() counts in the range, or -1 if not asked yet.
 */
static int touched_in(struct gmem_file *f, uint64_t off, uint64_t len,
		      int64_t cached, uint64_t *touched)
{
	int64_t n;
	int ret;

	if (len > LEAF_BYTES) {
		if (cached < 0)		/* not asked yet */
			cached = gmem_cache_bytes(f, off, len);
		if (cached <= 0)
			return (int)cached;
		if ((uint64_t)cached < len / 2) {
			/* Halves on a leaf boundary, so leaves stay aligned. */
			n = (int64_t)((len / 2 + LEAF_BYTES - 1) / LEAF_BYTES *
				      LEAF_BYTES);
			ret = touched_in(f, off, (uint64_t)n, -1, touched);
			if (ret < 0)
				return ret;
			return touched_in(f, off + (uint64_t)n,
					  len - (uint64_t)n, -1, touched);
		}
	}
	n = gmem_mincore_bytes(f, off, len);
	if (n < 0)
		return (int)n;
	*touched += (uint64_t)n;
	return 0;
}

int gmem_cache_usage(struct gmem_file *f, struct gmem_usage *u,
		     bool touched)
{
	int64_t cached = gmem_cache_bytes(f, 0, f->size);
	int ret;

	if (cached < 0)
		return (int)cached;
	u->resident = (uint64_t)cached;
	u->touched = GMEM_STATS_UNKNOWN;
	if (!f->map || !touched)
		return 0;
	u->touched = 0;
	ret = touched_in(f, 0, f->size, cached, &u->touched);
	if (ret < 0)
		u->touched = GMEM_STATS_UNKNOWN;
	return 0;
}

/* Add the cached stretches of [off, off + len) to *x, halving down to pages. */
static int find_cached(struct gmem_file *f, uint64_t off, uint64_t len,
		       struct gmem_extents *x)
{
	uint64_t psz = f->page_size, half;
	int64_t cached = gmem_cache_bytes(f, off, len);
	int ret;

	if (cached < 0)
		return (int)cached;
	if (cached == 0)
		return 0;
	if ((uint64_t)cached == len)
		return gmem_extents_add(x, off, off + len, GMEM_NODE_UNKNOWN,
					NULL, NULL);
	half = len / psz / 2 * psz;
	ret = find_cached(f, off, half, x);
	if (ret < 0)
		return ret;
	return find_cached(f, off + half, len - half, x);
}

int gmem_cache_resident_in(struct gmem_file *f, uint64_t off, uint64_t len,
			   struct gmem_extents *x)
{
	return find_cached(f, off, len, x);
}
