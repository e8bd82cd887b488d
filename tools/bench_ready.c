// SPDX-License-Identifier: MIT
/*
 * bench_ready.c - making guest memory ready: allocated, zeroed and mapped
 * where the method leaves it, so a guest's first touch allocates nothing.
 * QEMU and Cloud Hypervisor's prealloc, Firecracker's lazy default and
 * gmem_populate side by side on each backend, beside the limits.
 */
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"
#include "gmemctl.h"

#ifndef MFD_HUGETLB
#define MFD_HUGETLB 0x0004U
#endif
#define MFD_HUGE_2MB (21U << 26)

enum method {
	M_PREALLOC_1,		/* QEMU prealloc=on, one thread */
	M_PREALLOC_N,		/* prealloc-threads = online CPUs */
	M_POPULATE,		/* gmem_populate; then the memset limit */
	M_NO_ZERO,		/* allocate only; then the first touch */
	M_HUGE_FALLOC,		/* the hugetlb limit: raw fallocate */
	M_COUNT
};

struct times {
	double t[M_COUNT][64];
	double memset1[64], memsetn[64], touch[64], no_zero_total[64];
};

/* Raw hugetlb fallocate, no library and no mapping: the allocator's limit. */
static double huge_fallocate(uint64_t size, char *why, size_t len)
{
	int fd = memfd_create("bench-limit", MFD_CLOEXEC | MFD_HUGETLB |
			      MFD_HUGE_2MB);
	double t;

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		snprintf(why, len, "hugetlb memfd: %m");
		if (fd >= 0)
			close(fd);
		return -1;
	}
	t = now_seconds();
	if (fallocate(fd, 0, 0, (off_t)size) < 0) {
		snprintf(why, len, "hugetlb fallocate: %m");
		close(fd);
		return -1;
	}
	t = now_seconds() - t;
	close(fd);
	return t;
}

/* One method on a fresh file; its follow-up figures go into tm at run r. */
static double one(struct bench *b, enum gmem_backend be, uint64_t size,
		  enum method m, struct times *tm, int r, char *why,
		  size_t len)
{
	struct gmem_populate_args pa = { .flags = GMEM_POPULATE_NO_ZERO };
	struct gmem_file *f;
	uint8_t *p;
	double t;
	int ret = 0;

	if (m == M_HUGE_FALLOC)
		return huge_fallocate(size, why, len);
	if (bench_file(b, be, size, &f, why, len) < 0)
		return -1;
	p = gmem_file_host_addr(f);
	t = now_seconds();
	switch (m) {
	case M_PREALLOC_1:
		populate_write(p, size);
		break;
	case M_PREALLOC_N:
		run_threads(p, size, b->cpus, populate_write);
		break;
	case M_POPULATE:
		ret = gmem_populate(f, 0, size);
		break;
	default:
		ret = gmem_populate_with(f, 0, size, &pa);
		break;
	}
	t = now_seconds() - t;
	if (ret < 0) {
		snprintf(why, len, "%s", gmem_last_error());
		gmem_file_close(f);
		return -1;
	}
	if (m == M_POPULATE) {
		/* Once untimed, so the timed pass surely finds it mapped. */
		zero_bytes(p, size);
		tm->memset1[r] = now_seconds();
		zero_bytes(p, size);
		tm->memset1[r] = now_seconds() - tm->memset1[r];
		tm->memsetn[r] = now_seconds();
		run_threads(p, size, b->cpus, zero_bytes);
		tm->memsetn[r] = now_seconds() - tm->memsetn[r];
	} else if (m == M_NO_ZERO) {
		/* What the guest's first touch then pays: zeroing, mapping. */
		tm->touch[r] = now_seconds();
		touch_pages(p, size);
		tm->touch[r] = now_seconds() - tm->touch[r];
		tm->no_zero_total[r] = t + tm->touch[r];
	}
	gmem_file_close(f);
	return t;
}

static void add(struct bench *b, const char *be, uint64_t size,
		const char *method, const char *what, const double *t, int n,
		const char *note)
{
	struct bench_row *r = bench_add(b, PART_READY, be, size, method, "%s",
					what);

	r->seconds = median(t, n);
	r->max_seconds = maximum(t, n);
	r->gib_s = (double)size / GIB / r->seconds;
	snprintf(r->ratio_to, sizeof(r->ratio_to), "prealloc_1");
	snprintf(r->note, sizeof(r->note), "%s", note ? note : "");
}

static void rows(struct bench *b, enum gmem_backend be, uint64_t size,
		 struct times *tm)
{
	const char *n = bench_backend(be);
	int runs = b->o.runs;
	char what[80];
	struct bench_row *r;

	add(b, n, size, "prealloc_1", "QEMU/CH prealloc 1 thread "
	    "(MADV_POPULATE_WRITE)", tm->t[M_PREALLOC_1], runs, NULL);
	snprintf(what, sizeof(what), "QEMU/CH prealloc %u threads", b->cpus);
	add(b, n, size, "prealloc_n", what, tm->t[M_PREALLOC_N], runs, NULL);
	r = bench_add(b, PART_READY, n, size, "lazy",
		      "Firecracker lazy (nothing up front)");
	snprintf(r->note, sizeof(r->note), "not ready: each first touch "
		 "allocates and zeroes in a guest fault (see faults)");
	add(b, n, size, "populate", "gmem_populate", tm->t[M_POPULATE], runs,
	    NULL);
	add(b, n, size, "populate_no_zero", "gmem_populate NO_ZERO (not ready)",
	    tm->t[M_NO_ZERO], runs, be == GMEM_BACKEND_HUGETLB ?
	    "hugetlb zeroes as it allocates: ready anyway" :
	    "allocated, not zeroed: the first touch zeroes");
	add(b, n, size, "no_zero_touch", "NO_ZERO + first touch (1 thread)",
	    tm->no_zero_total, runs, "the not-ready row plus a write to "
	    "every page");
	add(b, n, size, "memset_1", "limit: memset over mapped, 1 thread",
	    tm->memset1, runs, "the zeroing limit");
	snprintf(what, sizeof(what), "limit: memset over mapped, %u threads",
		 b->cpus);
	add(b, n, size, "memset_n", what, tm->memsetn, runs, NULL);
	if (be == GMEM_BACKEND_HUGETLB)
		add(b, n, size, "hugetlb_fallocate", "limit: raw hugetlb "
		    "fallocate", tm->t[M_HUGE_FALLOC], runs, "allocates and "
		    "zeroes, maps nothing");
}

static void one_backend(struct bench *b, enum gmem_backend be, uint64_t size,
			struct times *tm)
{
	int nm = be == GMEM_BACKEND_HUGETLB ? M_COUNT : M_HUGE_FALLOC;
	char why[256];

	for (int r = 0; r < b->o.runs; r++) {
		/* Interleaved, each run starting one method later. */
		for (int k = 0; k < nm; k++) {
			enum method m = (enum method)((k + r) % nm);

			tm->t[m][r] = one(b, be, size, m, tm, r, why,
					  sizeof(why));
			if (tm->t[m][r] < 0) {
				bench_skip(b, PART_READY, bench_backend(be),
					   size, "%s", why);
				return;
			}
		}
	}
	rows(b, be, size, tm);
}

/* The machine backs memory it has not used lately slowly: use it once. */
static void warm_up(struct bench *b, enum gmem_backend be, uint64_t size)
{
	struct gmem_file *f;
	char why[256];

	if (bench_file(b, be, size, &f, why, sizeof(why)) < 0)
		return;
	gmem_populate(f, 0, size);
	gmem_file_close(f);
}

void bench_ready(struct bench *b)
{
	static const enum gmem_backend backends[] = {
		GMEM_BACKEND_MEMFD, GMEM_BACKEND_GUEST_MEMFD,
		GMEM_BACKEND_HUGETLB,
	};
	static struct times tm;
	uint64_t biggest = 0;
	char why[256];

	for (int s = 0; s < b->o.nsizes; s++)
		if (b->o.sizes[s] > biggest)
			biggest = b->o.sizes[s];
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		enum gmem_backend be = backends[i];
		const char *n = bench_backend(be);

		if (be == GMEM_BACKEND_HUGETLB &&
		    !bench_pool_get(b, biggest / (2 * MIB), why, sizeof(why))) {
			bench_skip(b, PART_READY, n, 0, "%s", why);
			continue;
		}
		if (!bench_backend_ok(b, be, biggest, why, sizeof(why))) {
			bench_skip(b, PART_READY, n, 0, "%s", why);
			continue;
		}
		warm_up(b, be, biggest);
		for (int s = 0; s < b->o.nsizes; s++)
			one_backend(b, be, b->o.sizes[s], &tm);
		if (be == GMEM_BACKEND_HUGETLB)
			bench_pool_put();
	}
}
