// SPDX-License-Identifier: MIT
/*
 * csum.c - a guest that uses the checksum device (devices/csum): it posts
 * requests in the ring, kicks the device through port I/O and checks each
 * answer.  Buffers hold one non-zero word per page (guest_page_word), so
 * the guest works out the expected checksum per page, not per byte.
 *
 * Arguments: the ring, a buffer area, its pages, and the mode:
 *   0  rounds of requests of many sizes, plus bad ones; returns the count
 *   1  one paused request, then a call to the host (UCALL_VALUE, tag 1,
 *      with the slot's address) that takes the slot page away under the
 *      device; then checks that nothing was written there, and that a
 *      request after the host's repopulation works; returns 2
 */
#include "guest_lib.h"
#include "../../devices/csum/csum_ring.h"

#define NSLOTS 64
#define BATCH 8
#define ROUNDS 12
/* Far past any RAM the tests give a guest, yet inside its page tables. */
#define UNBACKED_GPA (3ULL << 30)

static inline void kick(void)
{
	__asm__ volatile("outl %%eax, %%dx"
			 : : "a"(0), "d"(CSUM_KICK_PORT) : "memory");
}

static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;

	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}

/*
 * The ring sits at a fixed guest address per run; no globals, so the flat
 * image stays code only.
 */
#define hdr ((volatile struct csum_ring_hdr *)ring)

static volatile struct csum_req *slot_of(uint64_t ring, uint32_t idx)
{
	return (volatile struct csum_req *)csum_slot_gpa(ring, NSLOTS, idx);
}

#define slot(idx) slot_of(ring, (idx))

static void ring_init(uint64_t ring)
{
	hdr->nslots = NSLOTS;
	hdr->avail = 0;
	hdr->used = 0;
	hdr->abandoned = 0;
	hdr->paused = 0;
	hdr->magic = CSUM_RING_MAGIC;
}

/*
 * Write the words of a buffer at gpa of len bytes (one per page, keyed on
 * the page's place in the area so buffers never fight over a word) and
 * return the checksum the device should find.  Other words stay zero:
 * nothing else writes the area.
 */
static uint64_t fill(uint64_t area, uint64_t gpa, uint64_t len,
		     uint64_t seed)
{
	uint64_t sum = len;

	for (uint64_t off = 0; off < len; off += GUEST_PAGE_SIZE) {
		uint64_t at = off + guest_page_word(gpa - area + off) * 8;
		uint64_t w = guest_pattern(seed, (gpa - area + off) / 8);

		if (at >= len)
			continue;
		*(volatile uint64_t *)(gpa + at) = w;
		sum += csum_term(w, at / 8);
	}
	return sum;
}

static void post(uint64_t ring, uint64_t gpa, uint64_t len, uint32_t flags)
{
	uint32_t idx = hdr->avail;
	volatile struct csum_req *r = slot(idx);

	r->gpa = gpa;
	r->len = len;
	r->flags = flags;
	r->status = CSUM_S_PENDING;
	r->result = 0;
	/* The slot is written before the device can see avail move. */
	__asm__ volatile("" ::: "memory");
	hdr->avail = idx + 1;
}

/* Spin until the device caught up; a bound turns a hang into a failure. */
static void wait_used(uint64_t ring)
{
	uint64_t start = rdtsc();

	while (hdr->used != hdr->avail) {
		__asm__ volatile("pause");
		if (rdtsc() - start > (1ULL << 38))
			guest_assert_fail(__LINE__, hdr->used, hdr->avail);
	}
}

static uint64_t rounds(uint64_t ring, uint64_t area, uint64_t pages)
{
	uint64_t want[BATCH], region = pages / BATCH * GUEST_PAGE_SIZE;
	uint64_t checked = 0;

	GUEST_ASSERT(region >= GUEST_PAGE_SIZE);
	for (uint64_t r = 0; r < ROUNDS; r++) {
		uint32_t first = hdr->avail;

		for (uint64_t j = 0; j < BATCH; j++) {
			uint64_t gpa = area + j * region;
			/* Sizes from 8 bytes to the whole region. */
			uint64_t len = (r * BATCH + j) * 7919 * 8 % region + 8;

			want[j] = fill(area, gpa, len, r * BATCH + j + 1);
			post(ring, gpa, len, 0);
		}
		kick();
		wait_used(ring);
		for (uint32_t j = 0; j < BATCH; j++) {
			volatile struct csum_req *q = slot(first + j);

			GUEST_ASSERT_EQ(q->status, CSUM_S_OK);
			GUEST_ASSERT_EQ(q->result, want[j]);
			checked++;
		}
	}
	/* Bad requests are answered, not acted on. */
	post(ring, UNBACKED_GPA, 4096, 0);
	post(ring, area, 12, 0);
	post(ring, area + region * (BATCH - 1), region * 2, 0);
	kick();
	wait_used(ring);
	GUEST_ASSERT_EQ(slot(hdr->avail - 3)->status, CSUM_S_BADADDR);
	GUEST_ASSERT_EQ(slot(hdr->avail - 2)->status, CSUM_S_BADREQ);
	GUEST_ASSERT_EQ(slot(hdr->avail - 1)->status, CSUM_S_BADADDR);
	return checked + 3;
}

static uint64_t busy_discard(uint64_t ring, uint64_t area, uint64_t pages)
{
	uint64_t len = pages * GUEST_PAGE_SIZE, want;
	volatile uint64_t *s = (volatile uint64_t *)(ring + CSUM_PAGE);

	fill(area, area, len, 77);
	post(ring, area, len, CSUM_F_PAUSE);
	kick();
	/* The host takes the slot page away while the device is paused. */
	guest_value(1, (uint64_t)slot(0));
	GUEST_ASSERT_EQ(hdr->used, 1);
	GUEST_ASSERT_EQ(hdr->abandoned, 1);
	/* Nothing came back to the discarded slots, not one word. */
	for (uint64_t i = 0; i < CSUM_PAGE / 8; i += 1)
		GUEST_ASSERT_EQ(s[i], 0);
	/* The host populated the page again: the device may use it. */
	want = fill(area, area, len, 78);
	post(ring, area, len, 0);
	kick();
	wait_used(ring);
	GUEST_ASSERT_EQ(slot(1)->status, CSUM_S_OK);
	GUEST_ASSERT_EQ(slot(1)->result, want);
	return 2;
}

uint64_t guest_main(uint64_t ring, uint64_t area, uint64_t pages,
		    uint64_t mode)
{
	ring_init(ring);
	if (mode == 1)
		return busy_discard(ring, area, pages);
	return rounds(ring, area, pages);
}
