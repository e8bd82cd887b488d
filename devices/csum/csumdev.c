// SPDX-License-Identifier: MIT
/*
 * csumdev.c - a checksum engine in a process of its own: it follows the
 * VMM's memory table (libgmem's memtable), and on each kick works through
 * the guest's request ring, reading each buffer and writing its checksum
 * back into the ring.
 *
 *   csumdev --fd N --ring GPA [--chunk BYTES] [--name NAME] [--stale]
 *
 * fd N is the device's end of the VMM's SOCK_SEQPACKET socket; GPA is
 * where the guest keeps the ring (csum_ring.h).  Buffers are read a chunk
 * at a time, and between chunks the device hears the VMM out, so it lets
 * go of a range within one chunk's work.  --stale breaks the rules on
 * purpose, for tests: it keeps using a slot pointer across a pause.
 *
 * Exit status: 0 after the VMM's goodbye, 1 when the table broke, 2 for
 * bad arguments.
 */
#include <errno.h>
#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csum_ring.h"
#include "gmem.h"

struct dev {
	struct gmem_memtable *mt;
	uint64_t ring;
	uint64_t chunk;
	bool stale;
	bool kicked;			/* a kick came while busy */
};

/* Hear the VMM out; every pointer from before is void afterwards. */
static void process(struct dev *dv, int timeout_ms)
{
	uint64_t kicks;
	int ret = gmem_memtable_process(dv->mt, timeout_ms, &kicks);

	if (ret == -ESHUTDOWN)
		exit(0);
	if (ret < 0) {
		fprintf(stderr, "csumdev: %s\n", gmem_last_error());
		exit(1);
	}
	if (kicks & 1)
		dv->kicked = true;
}

static struct csum_ring_hdr *header(struct dev *dv)
{
	struct csum_ring_hdr *h = gmem_memtable_translate(
		dv->mt, dv->ring, sizeof(*h),
		GMEM_MEMTABLE_READ | GMEM_MEMTABLE_WRITE);

	if (!h || h->magic != CSUM_RING_MAGIC || !h->nslots ||
	    h->nslots > CSUM_MAX_SLOTS || h->nslots & (h->nslots - 1))
		return NULL;
	return h;
}

static struct csum_req *slot(struct dev *dv, uint32_t nslots, uint32_t idx)
{
	return gmem_memtable_translate(dv->mt,
				       csum_slot_gpa(dv->ring, nslots, idx),
				       sizeof(struct csum_req),
				       GMEM_MEMTABLE_READ |
				       GMEM_MEMTABLE_WRITE);
}

/* The request's slot went away: count it, and move on. */
static void abandon(struct dev *dv, uint32_t idx)
{
	struct csum_ring_hdr *h = header(dv);

	if (!h)
		return;
	__atomic_add_fetch(&h->abandoned, 1, __ATOMIC_RELAXED);
	__atomic_store_n(&h->used, idx + 1, __ATOMIC_RELEASE);
}

/* Wait, hearing the VMM, until the next kick. */
static void wait_kick(struct dev *dv)
{
	dv->kicked = false;
	while (!dv->kicked)
		process(dv, -1);
}

static void one_request(struct dev *dv, uint32_t nslots, uint32_t idx)
{
	struct csum_req *r = slot(dv, nslots, idx), req;
	uint32_t status = CSUM_S_OK;
	uint64_t sum, done = 0;
	bool paused = false;

	if (!r) {
		abandon(dv, idx);
		return;
	}
	/* A snapshot: the guest may scribble on the slot meanwhile. */
	req = *r;
	if (req.len % 8 || req.len > CSUM_MAX_LEN)
		status = CSUM_S_BADREQ;
	sum = req.len;
	while (status == CSUM_S_OK && done < req.len) {
		uint64_t n = req.len - done < dv->chunk ? req.len - done
							 : dv->chunk;
		const uint64_t *p = gmem_memtable_translate(
			dv->mt, req.gpa + done, n, GMEM_MEMTABLE_READ);

		if (!p) {
			status = CSUM_S_BADADDR;
			break;
		}
		for (uint64_t i = 0; i < n / 8; i++)
			sum += csum_term(p[i], done / 8 + i);
		done += n;
		if (req.flags & CSUM_F_PAUSE && !paused && done >= req.len / 2 &&
		    done < req.len) {
			struct csum_ring_hdr *h = header(dv);

			r = slot(dv, nslots, idx);
			if (!r || !h) {
				abandon(dv, idx);
				return;
			}
			__atomic_store_n(&r->status, CSUM_S_PAUSED,
					 __ATOMIC_RELEASE);
			__atomic_add_fetch(&h->paused, 1, __ATOMIC_RELEASE);
			paused = true;
			wait_kick(dv);
		} else {
			process(dv, 0);
		}
		/* The pointers are void now; --stale pretends otherwise. */
	}
	if (!dv->stale)
		r = slot(dv, nslots, idx);
	if (!r) {
		abandon(dv, idx);
		return;
	}
	r->result = status == CSUM_S_OK ? sum : 0;
	__atomic_store_n(&r->status, status, __ATOMIC_RELEASE);
	/* The header may have gone meanwhile; then used cannot move. */
	{
		struct csum_ring_hdr *h = header(dv);

		if (h)
			__atomic_store_n(&h->used, idx + 1, __ATOMIC_RELEASE);
	}
}

/* Work through the ring until used meets avail. */
static void service(struct dev *dv)
{
	for (;;) {
		struct csum_ring_hdr *h = header(dv);
		uint32_t used, avail, nslots;

		if (!h)
			return;		/* no usable ring: nothing to do */
		nslots = h->nslots;
		used = __atomic_load_n(&h->used, __ATOMIC_RELAXED);
		avail = __atomic_load_n(&h->avail, __ATOMIC_ACQUIRE);
		if (used == avail)
			return;
		one_request(dv, nslots, used);
	}
}

static void usage(void)
{
	fprintf(stderr, "usage: csumdev --fd N --ring GPA [--chunk BYTES] "
		"[--name NAME] [--stale]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "fd", required_argument, NULL, 'f' },
		{ "ring", required_argument, NULL, 'r' },
		{ "chunk", required_argument, NULL, 'c' },
		{ "name", required_argument, NULL, 'n' },
		{ "stale", no_argument, NULL, 's' },
		{ NULL, 0, NULL, 0 },
	};
	struct gmem_memtable_args a = { .sock_fd = -1, .name = "csumdev" };
	struct dev dv = { .ring = ~0ULL, .chunk = 64 * 1024 };
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (c) {
		case 'f':
			a.sock_fd = (int)strtol(optarg, &end, 0);
			if (*end)
				usage();
			break;
		case 'r':
			dv.ring = strtoull(optarg, &end, 0);
			if (*end || dv.ring % CSUM_PAGE)
				usage();
			break;
		case 'c':
			dv.chunk = strtoull(optarg, &end, 0);
			if (*end || !dv.chunk || dv.chunk % 8)
				usage();
			break;
		case 'n':
			a.name = optarg;
			break;
		case 's':
			dv.stale = true;
			break;
		default:
			usage();
		}
	}
	if (a.sock_fd < 0 || dv.ring == ~0ULL || optind != argc)
		usage();
	if (gmem_memtable_open(&a, &dv.mt) < 0) {
		fprintf(stderr, "csumdev: %s\n", gmem_last_error());
		return 1;
	}
	for (;;) {
		/* A kick heard while busy already asks for another pass. */
		if (!dv.kicked)
			process(&dv, -1);
		if (dv.kicked) {
			dv.kicked = false;
			service(&dv);
		}
	}
}
