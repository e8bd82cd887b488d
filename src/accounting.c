// SPDX-License-Identifier: MIT
/*
 * accounting.c - exact per-file figures the kernel does not give: guest_memfd
 * keeps st_blocks at 0, so the library counts what it populated, page by
 * page, and what it discarded.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

#define BITS 64

int gmem_account_init(struct gmem_file *f)
{
	uint64_t pages = f->size / f->page_size;

	f->populated = calloc((pages + BITS - 1) / BITS, sizeof(uint64_t));
	if (!f->populated)
		return gmem_fail(ENOMEM, "out of memory for the accounting map "
				 "of %llu pages", (unsigned long long)pages);
	return 0;
}

void gmem_account_free(struct gmem_file *f)
{
	free(f->populated);
	f->populated = NULL;
}

/* Set or clear bits [first, first + n) and return how many changed. */
static uint64_t mark(uint64_t *map, uint64_t first, uint64_t n, bool set)
{
	uint64_t changed = 0;

	for (uint64_t i = first; i < first + n;) {
		uint64_t word = i / BITS, bit = i % BITS;
		uint64_t span = BITS - bit < first + n - i ? BITS - bit
							    : first + n - i;
		uint64_t mask = (span == BITS ? ~0ULL : ((1ULL << span) - 1))
				<< bit;
		uint64_t before = map[word];

		map[word] = set ? before | mask : before & ~mask;
		changed += (uint64_t)__builtin_popcountll(before ^ map[word]);
		i += span;
	}
	return changed;
}

void gmem_account_populated(struct gmem_file *f, uint64_t off, uint64_t len)
{
	pthread_mutex_lock(&f->lock);
	f->populated_pages += mark(f->populated, off / f->page_size,
				   len / f->page_size, true);
	f->populate_calls++;
	pthread_mutex_unlock(&f->lock);
}

void gmem_account_discarded(struct gmem_file *f, uint64_t off, uint64_t len)
{
	pthread_mutex_lock(&f->lock);
	f->populated_pages -= mark(f->populated, off / f->page_size,
				   len / f->page_size, false);
	f->discarded_bytes += len;
	f->discard_calls++;
	pthread_mutex_unlock(&f->lock);
}

int gmem_file_stats(struct gmem_file *file, struct gmem_file_stats *out)
{
	if (!file || !out)
		return gmem_fail(EINVAL, "gmem_file_stats: NULL argument");
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&file->lock);
	out->size = file->size;
	out->page_size = file->page_size;
	out->populated_bytes = file->populated_pages * file->page_size;
	out->discarded_bytes = file->discarded_bytes;
	out->populate_calls = file->populate_calls;
	out->discard_calls = file->discard_calls;
	pthread_mutex_unlock(&file->lock);
	out->bindings = __atomic_load_n(&file->bindings, __ATOMIC_RELAXED);
	return 0;
}
