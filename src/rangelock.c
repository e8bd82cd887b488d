// SPDX-License-Identifier: MIT
/*
 * rangelock.c - a lock on byte ranges of a file: populate, discard and
 * policy changes of the same pages take turns (so the books match the
 * kernel), while populate threads working on different pages run at once.
 */
#include "internal.h"

void gmem_rangelock_init(struct gmem_rangelock *rl)
{
	pthread_mutex_init(&rl->lock, NULL);
	pthread_cond_init(&rl->released, NULL);
	rl->held = NULL;
}

void gmem_rangelock_destroy(struct gmem_rangelock *rl)
{
	pthread_cond_destroy(&rl->released);
	pthread_mutex_destroy(&rl->lock);
}

static bool taken(const struct gmem_rangelock *rl, uint64_t start,
		  uint64_t end)
{
	for (const struct gmem_range_hold *h = rl->held; h; h = h->next)
		if (start < h->end && h->start < end)
			return true;
	return false;
}

void gmem_range_lock(struct gmem_rangelock *rl, struct gmem_range_hold *h,
		     uint64_t start, uint64_t end)
{
	pthread_mutex_lock(&rl->lock);
	while (taken(rl, start, end))
		pthread_cond_wait(&rl->released, &rl->lock);
	h->start = start;
	h->end = end;
	h->next = rl->held;
	rl->held = h;
	pthread_mutex_unlock(&rl->lock);
}

void gmem_range_unlock(struct gmem_rangelock *rl, struct gmem_range_hold *h)
{
	struct gmem_range_hold **pp;

	pthread_mutex_lock(&rl->lock);
	for (pp = &rl->held; *pp && *pp != h; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = h->next;
	pthread_cond_broadcast(&rl->released);
	pthread_mutex_unlock(&rl->lock);
}
