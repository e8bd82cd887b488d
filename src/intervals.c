// SPDX-License-Identifier: MIT
/*
 * intervals.c - an index of disjoint [start, end) ranges (a balanced tree,
 * libc's tsearch), so finding what overlaps a range costs O(log n): binding
 * 30,000 memslots must not cost the square of that.
 */
#include <errno.h>
#include <search.h>

#include "internal.h"

/* Disjoint ranges order cleanly; an overlap counts as equal (a match). */
static int cmp(const void *a, const void *b)
{
	const struct gmem_interval *x = a, *y = b;

	if (x->end <= y->start)
		return -1;
	if (x->start >= y->end)
		return 1;
	return 0;
}

struct gmem_interval *gmem_intervals_find(const struct gmem_intervals *ix,
					  uint64_t start, uint64_t end)
{
	struct gmem_interval key = { .start = start, .end = end };
	struct gmem_interval **hit = tfind(&key, &ix->root, cmp);

	return hit ? *hit : NULL;
}

int gmem_intervals_insert(struct gmem_intervals *ix, struct gmem_interval *iv)
{
	struct gmem_interval **hit = tsearch(iv, &ix->root, cmp);

	if (!hit)
		return -ENOMEM;
	return *hit == iv ? 0 : -EEXIST;
}

void gmem_intervals_remove(struct gmem_intervals *ix, struct gmem_interval *iv)
{
	tdelete(iv, &ix->root, cmp);
}
