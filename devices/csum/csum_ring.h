/* SPDX-License-Identifier: MIT */
/*
 * csum_ring.h - the checksum device's request ring in guest memory: what
 * the device process and guest programs agree on.  Freestanding (no libc),
 * so guest code includes it too.
 *
 * The ring is two pages: the header (indices and counters) and the slots,
 * apart so that one can be taken away while the other stays.  The guest
 * fills slot avail % nslots, then bumps avail and writes to the kick port;
 * the device works from used up to avail, writes each result and status,
 * then bumps used.  Indices run free and wrap at 2^32.
 */
#ifndef CSUM_RING_H
#define CSUM_RING_H

#include <stdint.h>

/* The guest's doorbell: an OUT of the queue number (0) to this port. */
#define CSUM_KICK_PORT		0xE4
#define CSUM_RING_MAGIC		0x676e69526d757343ULL	/* "CsumRing" */
#define CSUM_PAGE		4096ULL
#define CSUM_MAX_SLOTS		128	/* one page of 32-byte slots */
#define CSUM_RING_SIZE		(2 * CSUM_PAGE)
#define CSUM_MAX_LEN		(1ULL << 30)

struct csum_ring_hdr {
	uint64_t magic;			/* guest: CSUM_RING_MAGIC */
	uint32_t nslots;		/* guest: a power of two, <= MAX_SLOTS */
	uint32_t reserved;
	uint32_t avail;			/* guest: requests posted */
	uint32_t used;			/* device: requests finished */
	uint64_t abandoned;		/* device: slot gone before the result */
	uint64_t paused;		/* device: requests paused half-way */
};

enum csum_status {
	CSUM_S_PENDING = 0,
	CSUM_S_OK = 1,			/* result is the checksum */
	CSUM_S_BADADDR = 2,		/* buffer not reachable (not in the
					   table, or invalidated meanwhile) */
	CSUM_S_BADREQ = 3,		/* length not a multiple of 8, or over
					   CSUM_MAX_LEN */
	CSUM_S_PAUSED = 4,		/* half-way; continues on the next kick */
};

/* Request flags. */
#define CSUM_F_PAUSE	(1U << 0)	/* stop half-way until the next kick */

struct csum_req {
	uint64_t gpa;			/* guest: the buffer */
	uint64_t len;			/* guest: bytes, a multiple of 8 */
	uint32_t flags;			/* guest: CSUM_F_* */
	uint32_t status;		/* device: enum csum_status */
	uint64_t result;		/* device */
};

_Static_assert(sizeof(struct csum_req) * CSUM_MAX_SLOTS == CSUM_PAGE,
	       "the slots fill one page");

static inline uint64_t csum_slot_gpa(uint64_t ring, uint32_t nslots,
				     uint32_t idx)
{
	return ring + CSUM_PAGE + (uint64_t)(idx & (nslots - 1)) *
	       sizeof(struct csum_req);
}

/*
 * The checksum: len plus, for each 64-bit word w_i of the buffer, w_i
 * times (2i + 1), modulo 2^64.  Position-weighted, so a shifted or
 * misplaced word shows; a sum, so a guest that wrote few non-zero words
 * can work out the answer for just those.
 */
static inline uint64_t csum_term(uint64_t word, uint64_t i)
{
	return word * (2 * i + 1);
}

#endif /* CSUM_RING_H */
