// SPDX-License-Identifier: MIT
/*
 * extents.c - a set of byte ranges, each tagged with a NUMA node, kept as a
 * sorted array.  The books of a file cost memory in proportion to how
 * fragmented its populated ranges are, not to its size.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

/* Index of the first extent that ends after pos. */
static size_t first_after(const struct gmem_extents *x, uint64_t pos)
{
	size_t lo = 0, hi = x->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x->v[mid].end <= pos)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int reserve(struct gmem_extents *x, size_t more)
{
	struct gmem_extent *v;
	size_t cap;

	if (x->nr + more <= x->cap)
		return 0;
	cap = x->cap ? x->cap : 8;
	while (cap < x->nr + more)
		cap *= 2;
	v = realloc(x->v, cap * sizeof(*v));
	if (!v)
		return -ENOMEM;
	x->v = v;
	x->cap = cap;
	return 0;
}

static void insert_at(struct gmem_extents *x, size_t i, struct gmem_extent e)
{
	memmove(&x->v[i + 1], &x->v[i], (x->nr - i) * sizeof(x->v[0]));
	x->v[i] = e;
	x->nr++;
}

static void delete_at(struct gmem_extents *x, size_t i)
{
	memmove(&x->v[i], &x->v[i + 1], (x->nr - i - 1) * sizeof(x->v[0]));
	x->nr--;
}

/* Join touching neighbours with the same tag in [lo, hi]. */
static void merge_window(struct gmem_extents *x, size_t lo, size_t hi)
{
	if (lo > 0)
		lo--;
	for (size_t i = lo; i + 1 < x->nr && i <= hi;) {
		struct gmem_extent *a = &x->v[i], *b = &x->v[i + 1];

		if (a->end == b->start && a->node == b->node) {
			a->end = b->end;
			delete_at(x, i + 1);
			if (hi)
				hi--;
		} else {
			i++;
		}
	}
}

int gmem_extents_add(struct gmem_extents *x, uint64_t start, uint64_t end,
		     int32_t node,
		     void (*count)(void *ctx, int32_t node, int64_t bytes),
		     void *ctx)
{
	size_t first = first_after(x, start), i, k = 0;
	uint64_t pos = start;

	/* Every gap can need a new extent: reserve them all up front. */
	for (i = first; i < x->nr && x->v[i].start < end; i++)
		k++;
	if (reserve(x, k + 1) < 0)
		return -ENOMEM;
	i = first;
	while (pos < end) {
		uint64_t gap_end;

		if (i < x->nr && x->v[i].start <= pos) {
			if (x->v[i].end > pos)
				pos = x->v[i].end;
			i++;
			continue;
		}
		gap_end = i < x->nr && x->v[i].start < end ? x->v[i].start
							   : end;
		insert_at(x, i, (struct gmem_extent){ pos, gap_end, node });
		x->bytes += gap_end - pos;
		if (count)
			count(ctx, node, (int64_t)(gap_end - pos));
		i++;
		pos = gap_end;
	}
	merge_window(x, first, i);
	return 0;
}

int gmem_extents_remove(struct gmem_extents *x, uint64_t start, uint64_t end,
			void (*count)(void *ctx, int32_t node, int64_t bytes),
			void *ctx)
{
	size_t i = first_after(x, start);

	/* Cutting the middle out of one extent makes two of it. */
	if (reserve(x, 1) < 0)
		return -ENOMEM;
	while (i < x->nr && x->v[i].start < end) {
		struct gmem_extent *e = &x->v[i];
		uint64_t lo = e->start > start ? e->start : start;
		uint64_t hi = e->end < end ? e->end : end;

		x->bytes -= hi - lo;
		if (count)
			count(ctx, e->node, -(int64_t)(hi - lo));
		if (e->start < start && e->end > end) {
			struct gmem_extent tail = { end, e->end, e->node };

			e->end = start;
			insert_at(x, i + 1, tail);
			return 0;
		}
		if (e->start < start) {
			e->end = start;
			i++;
		} else if (e->end > end) {
			e->start = end;
			i++;
		} else {
			delete_at(x, i);
		}
	}
	return 0;
}

int gmem_extents_reserve_for(struct gmem_extents *x, uint64_t start,
			      uint64_t end)
{
	size_t k = 0;

	for (size_t i = first_after(x, start);
	     i < x->nr && x->v[i].start < end; i++)
		k++;
	return reserve(x, k + 2);
}

bool gmem_extents_find(const struct gmem_extents *x, uint64_t pos,
		       uint64_t *until)
{
	size_t i = first_after(x, pos);

	if (i < x->nr && x->v[i].start <= pos) {
		*until = x->v[i].end;
		return true;
	}
	*until = i < x->nr ? x->v[i].start : UINT64_MAX;
	return false;
}

uint64_t gmem_extents_covered(const struct gmem_extents *x, uint64_t start,
			      uint64_t end)
{
	uint64_t sum = 0;

	for (size_t i = first_after(x, start);
	     i < x->nr && x->v[i].start < end; i++) {
		uint64_t lo = x->v[i].start > start ? x->v[i].start : start;
		uint64_t hi = x->v[i].end < end ? x->v[i].end : end;

		sum += hi - lo;
	}
	return sum;
}

void gmem_extents_free(struct gmem_extents *x)
{
	free(x->v);
	memset(x, 0, sizeof(*x));
}
