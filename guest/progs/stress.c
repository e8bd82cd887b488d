// SPDX-License-Identifier: MIT
/*
 * stress.c - a guest that writes generation numbers over its memory while
 * the host discards, populates and rebinds under it, and checks that no
 * discarded data ever comes back.  The host keeps, in the control area,
 * a count of discards begun and, per page, the count at which the last
 * discard of that page began, written once the discard returned.  The
 * guest notes the count right after each write: a page that still shows
 * its write although a discard that began later has returned is stale.
 */
#include "guest_lib.h"

/* Arguments: the area, its pages, passes, the churned slot and its pages. */
uint64_t guest_main(uint64_t area, uint64_t pages, uint64_t passes,
		    uint64_t churn)
{
	volatile struct guest_stress_ctl *ctl =
		(volatile struct guest_stress_ctl *)GUEST_STRESS_CTL_GPA;
	uint64_t *mine = (uint64_t *)GUEST_STRESS_MINE_GPA;
	uint64_t *seen_at = (uint64_t *)GUEST_STRESS_SEEN_GPA;
	uint64_t gen = 0, checks = 0;

	GUEST_ASSERT(pages <= GUEST_STRESS_MAX_PAGES);
	for (uint64_t p = 0; p < pages; p++)
		mine[p] = seen_at[p] = 0;
	for (uint64_t pass = 0; pass < passes; pass++) {
		for (uint64_t p = 0; p < pages; p++) {
			volatile uint64_t *w =
				(volatile uint64_t *)(area + p * GUEST_PAGE_SIZE +
						      guest_page_word(p *
						      GUEST_PAGE_SIZE) * 8);
			uint64_t done = ctl->discard_done[p];
			uint64_t v = *w;

			/* Zero (discarded, or never written) or ours. */
			if (v)
				GUEST_ASSERT_EQ(v, mine[p]);
			/* Ours, yet discarded after we wrote it: stale. */
			if (v && done > seen_at[p])
				guest_assert_fail(__LINE__, p, done);
			*w = mine[p] = ++gen | (pass << 48);
			__asm__ volatile("mfence" ::: "memory");
			seen_at[p] = ctl->discard_begun;
			checks++;
		}
		/* The churned slot reads its pattern, or all ones unbound. */
		if (churn) {
			uint64_t v = *(volatile uint64_t *)churn;

			if (v != ~0ULL)
				GUEST_ASSERT_EQ(v, GUEST_STRESS_CHURN_WORD);
		}
		ctl->passes = pass + 1;
	}
	return checks;
}
