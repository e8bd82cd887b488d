// SPDX-License-Identifier: MIT
/*
 * bench_discard.c - discard throughput at 4 KiB, 2 MiB and whole-file
 * granularity, gmem_discard beside the raw punch-hole it stands for, on
 * the same freshly populated file each time.
 */
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "gmemctl.h"

/* Free all of f in pieces of gran, by the library or by raw punch. */
static double free_all(struct gmem_file *f, uint64_t size, uint64_t gran,
		       bool lib)
{
	int fd = gmem_file_fd(f);
	double t = now_seconds();

	for (uint64_t off = 0; off < size; off += gran) {
		int ret = lib ? gmem_discard(f, off, gran) :
			  fallocate(fd, FALLOC_FL_PUNCH_HOLE |
				    FALLOC_FL_KEEP_SIZE, (off_t)off,
				    (off_t)gran);

		if (ret < 0)
			return -1;
	}
	return now_seconds() - t;
}

/*
 * 4 KiB pieces cover at most the first 256 MiB: throughput per byte is
 * the same, and a gigabyte of them would take most of the part's time.
 */
static uint64_t span(uint64_t gran, uint64_t size)
{
	return gran == 4 * KIB && size > 256 * MIB ? 256 * MIB : size;
}

static const char *gran_name(uint64_t gran, uint64_t size)
{
	return gran == size ? "whole" : gran == 4 * KIB ? "4k" : "2m";
}

static void one_backend(struct bench *b, enum gmem_backend be)
{
	uint64_t size = b->o.bulk_size, grans[3] = { 4 * KIB, 2 * MIB, size };
	int first = be == GMEM_BACKEND_HUGETLB, combos = 2 * (3 - first);
	const char *n = bench_backend(be);
	double t[6][64];
	char why[256];

	for (int r = 0; r < b->o.runs; r++) {
		for (int k = 0; k < combos; k++) {
			/* Interleaved, each run starting one combination on. */
			int c = (k + r) % combos;
			uint64_t gran = grans[first + c / 2];
			struct gmem_file *f;

			why[0] = '\0';
			if (bench_file(b, be, size, &f, why, sizeof(why)) < 0 ||
			    gmem_populate(f, 0, size) < 0) {
				bench_skip(b, PART_DISCARD, n, size, "%s",
					   why[0] ? why : gmem_last_error());
				return;
			}
			t[c][r] = free_all(f, span(gran, size), gran,
					   c % 2 == 0);
			gmem_file_close(f);
			if (t[c][r] < 0) {
				bench_skip(b, PART_DISCARD, n, size, "discard "
					   "in %s pieces failed: %s",
					   gran_name(gran, size),
					   gmem_last_error());
				return;
			}
		}
	}
	for (int c = 0; c < combos; c++) {
		uint64_t gran = grans[first + c / 2];
		bool lib = c % 2 == 0;
		char key[32], size_str[32];
		struct bench_row *r;

		snprintf(key, sizeof(key), "%s_%s", lib ? "discard" : "punch",
			 gran_name(gran, size));
		format_size(gran, size_str, sizeof(size_str));
		r = bench_add(b, PART_DISCARD, n, size, key, "%s, %s pieces%s",
			      lib ? "gmem_discard" : "raw punch-hole",
			      gran == size ? "whole-file" : size_str,
			      span(gran, size) < size ? " (first 256 MiB)" : "");
		r->count = (long long)(span(gran, size) / gran);
		r->seconds = median(t[c], b->o.runs);
		r->max_seconds = maximum(t[c], b->o.runs);
		r->gib_s = (double)span(gran, size) / GIB / r->seconds;
		r->per_call_us = r->seconds / (double)r->count * 1e6;
		if (lib)
			snprintf(r->ratio_to, sizeof(r->ratio_to), "punch_%s",
				 gran_name(gran, size));
	}
}

void bench_discard(struct bench *b)
{
	static const enum gmem_backend backends[] = {
		GMEM_BACKEND_MEMFD, GMEM_BACKEND_GUEST_MEMFD,
		GMEM_BACKEND_HUGETLB,
	};
	char why[256];

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		enum gmem_backend be = backends[i];
		const char *n = bench_backend(be);

		if (be == GMEM_BACKEND_HUGETLB &&
		    !bench_pool_get(b, b->o.bulk_size / (2 * MIB), why,
				    sizeof(why))) {
			bench_skip(b, PART_DISCARD, n, 0, "%s", why);
			continue;
		}
		if (bench_backend_ok(b, be, b->o.bulk_size, why, sizeof(why)))
			one_backend(b, be);
		else
			bench_skip(b, PART_DISCARD, n, 0, "%s", why);
		if (be == GMEM_BACKEND_HUGETLB)
			bench_pool_put();
	}
}
