// SPDX-License-Identifier: MIT
/*
 * accounting.c - exact per-file figures the kernel does not give: guest_memfd
 * keeps st_blocks at 0, so the library records, page by page, what it
 * populated and on which node, and asks mincore() what was touched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "internal.h"

int gmem_account_init(struct gmem_file *f)
{
	uint64_t pages = f->size / f->page_size;

	f->page_node = calloc(pages, 1);
	if (!f->page_node)
		return gmem_fail(ENOMEM, "out of memory for the accounting map "
				 "of %llu pages", (unsigned long long)pages);
	return 0;
}

void gmem_account_free(struct gmem_file *f)
{
	free(f->page_node);
	f->page_node = NULL;
}

bool gmem_account_any_populated(const struct gmem_file *f, uint64_t off,
				uint64_t len)
{
	const uint8_t *p = f->page_node + off / f->page_size;

	for (uint64_t i = 0; i < len / f->page_size; i++)
		if (p[i] != GMEM_PAGE_ABSENT)
			return true;
	return false;
}

/* The node page i lands on under policy p, as node + 1, or unknown. */
static uint8_t placed_node(const struct gmem_numa_policy *p, bool via_mbind,
			   uint64_t i)
{
	const struct gmem_host *h = gmem_host_cached();
	uint64_t nodes = p->nodes;
	unsigned int n, k;

	switch (p->mode) {
	case GMEM_NUMA_BIND:
	case GMEM_NUMA_PREFERRED:
		if (!(nodes & (nodes - 1)))
			return (uint8_t)(__builtin_ctzll(nodes) + 1);
		return GMEM_PAGE_NODE_UNKNOWN;
	case GMEM_NUMA_INTERLEAVE:
		/* A file's interleave goes by page index; a thread's does not. */
		if (!via_mbind)
			return GMEM_PAGE_NODE_UNKNOWN;
		n = (unsigned int)__builtin_popcountll(nodes);
		for (k = (unsigned int)(i % n); k; k--)
			nodes &= nodes - 1;
		return (uint8_t)(__builtin_ctzll(nodes) + 1);
	default:
		if (h->nr_numa_nodes == 1)
			return (uint8_t)(__builtin_ctzll(h->numa_node_mask) + 1);
		return GMEM_PAGE_NODE_UNKNOWN;
	}
}

static unsigned int node_slot(uint8_t v)
{
	return v == GMEM_PAGE_NODE_UNKNOWN ? GMEM_MAX_NUMA_NODES : v - 1u;
}

void gmem_account_populated(struct gmem_file *f, uint64_t off, uint64_t len,
			    const struct gmem_numa_policy *p, bool via_mbind)
{
	uint64_t first = off / f->page_size;

	pthread_mutex_lock(&f->lock);
	for (uint64_t i = first; i < first + len / f->page_size; i++) {
		if (f->page_node[i] != GMEM_PAGE_ABSENT)
			continue;	/* already there: it did not move */
		f->page_node[i] = placed_node(p, via_mbind, i);
		f->node_pages[node_slot(f->page_node[i])]++;
		f->populated_pages++;
	}
	f->populate_calls++;
	pthread_mutex_unlock(&f->lock);
}

void gmem_account_discarded(struct gmem_file *f, uint64_t off, uint64_t len)
{
	uint64_t first = off / f->page_size;

	pthread_mutex_lock(&f->lock);
	for (uint64_t i = first; i < first + len / f->page_size; i++) {
		if (f->page_node[i] == GMEM_PAGE_ABSENT)
			continue;
		f->node_pages[node_slot(f->page_node[i])]--;
		f->page_node[i] = GMEM_PAGE_ABSENT;
		f->populated_pages--;
	}
	f->discarded_bytes += len;
	f->discard_calls++;
	pthread_mutex_unlock(&f->lock);
}

/*
 * Count touched pages, and pages touched or populated, with mincore() on
 * the host mapping in chunks.  mincore reports a page of guest_memfd or
 * shmem only once it is up to date, which fallocate alone does not do.
 */
static int count_touched(struct gmem_file *f, uint64_t *touched,
			 uint64_t *resident)
{
	enum { CHUNK = 4096 };	/* base pages per mincore call */
	unsigned char vec[CHUNK];
	uint64_t base = GMEM_BASE_PAGE_SIZE, per = f->page_size / base;

	*touched = *resident = 0;
	for (uint64_t off = 0; off < f->size;) {
		uint64_t len = f->size - off < CHUNK * base ? f->size - off
							    : CHUNK * base;

		if (mincore((uint8_t *)f->host_addr + off, len, vec) < 0)
			return -errno;
		for (uint64_t i = 0; i < len / base; i++) {
			bool used = vec[i] & 1;

			*touched += used ? base : 0;
			if (!used)
				used = f->page_node[(off / base + i) / per] !=
				       GMEM_PAGE_ABSENT;
			*resident += used ? base : 0;
		}
		off += len;
	}
	return 0;
}

int gmem_file_stats(struct gmem_file *file, struct gmem_file_stats *out)
{
	if (!file || !out)
		return gmem_fail(EINVAL, "gmem_file_stats: NULL argument");
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&file->lock);
	out->size = file->size;
	out->page_size = file->page_size;
	out->backend = file->ops->id;
	out->populated_bytes = file->populated_pages * file->page_size;
	out->discarded_bytes = file->discarded_bytes;
	out->populate_calls = file->populate_calls;
	out->discard_calls = file->discard_calls;
	for (int n = 0; n < GMEM_MAX_NUMA_NODES; n++)
		out->node_bytes[n] = file->node_pages[n] * file->page_size;
	out->unknown_node_bytes =
		file->node_pages[GMEM_MAX_NUMA_NODES] * file->page_size;
	if (!file->host_addr ||
	    count_touched(file, &out->touched_bytes, &out->resident_bytes) < 0) {
		out->touched_bytes = GMEM_STATS_UNKNOWN;
		out->resident_bytes = out->populated_bytes;
	}
	pthread_mutex_unlock(&file->lock);
	if (file->ops->id == GMEM_BACKEND_HUGETLB)
		out->hugepages = out->resident_bytes / file->page_size;
	out->bindings = __atomic_load_n(&file->bindings, __ATOMIC_RELAXED);
	return 0;
}
