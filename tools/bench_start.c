// SPDX-License-Identifier: MIT
/*
 * bench_start.c - guests that start at once: how long from a VM whose RAM
 * file exists until its guest runs, and until that RAM is fully backed,
 * when the RAM is populated first (blocking prealloc), in the background
 * while the guest already runs (gmem_populate_start), or not at all (lazy).
 * Times are the host's: where KVM emulates the guest, its own instructions
 * would measure the emulator, and the guest runs only its first few here.
 */
#include <stdio.h>
#include <string.h>

#include "bench.h"
#include "gmemctl.h"
#include "runner.h"

enum start_method { S_BLOCKING, S_BACKGROUND, S_LAZY, S_COUNT };

static const char *const start_key[S_COUNT] = {
	"blocking", "background", "lazy",
};

static const char *const start_what[S_COUNT] = {
	"blocking gmem_populate, then run",
	"gmem_populate_start, run at once",
	"lazy (nothing up front)",
};

struct start_times {
	double first[S_COUNT][64];	/* until the guest's first exit */
	double backed[S_COUNT][64];	/* until every page is there */
	uint64_t done_at_first[64];	/* background: job progress then */
	int n;
};

/* One start by method m: fills first, backed (or -1) and the progress. */
static int start_once(enum gmem_backend be, uint64_t size,
		      enum start_method m, double *first, double *backed,
		      uint64_t *done, char *why, size_t len)
{
	struct gmem_populate_job *job = NULL;
	struct guest_config cfg;
	struct guest g;
	double t0;
	int ret = 0;

	bench_guest_config(be, 0, size, &cfg);
	if (guest_create(&g, &cfg) < 0) {
		snprintf(why, len, "%s", g.error);
		return -1;
	}
	*backed = -1;
	*done = 0;
	t0 = now_seconds();
	if (m == S_BLOCKING) {
		ret = gmem_populate(g.ram, 0, size);
		*backed = now_seconds() - t0;
	} else if (m == S_BACKGROUND) {
		ret = gmem_populate_start(g.ram, 0, size, NULL, &job);
	}
	if (ret < 0) {
		snprintf(why, len, "%s", gmem_last_error());
		goto out;
	}
	/* Load the guest and run it to its first exit: it has started. */
	ret = guest_memcmd_start(&g);
	*first = now_seconds() - t0;
	if (ret < 0) {
		snprintf(why, len, "%s", g.error);
		goto out;
	}
	if (job) {
		gmem_populate_poll(job, done);
		ret = gmem_populate_wait(job);
		job = NULL;
		*backed = now_seconds() - t0;
		if (ret < 0) {
			snprintf(why, len, "%s", gmem_last_error());
			goto out;
		}
	}
	guest_memcmd_stop(&g);
out:
	if (job)
		gmem_populate_wait(job);
	guest_destroy(&g);
	return ret < 0 ? -1 : 0;
}

/* One row: method m's times v until "first" or "backed". */
static struct bench_row *start_row(struct bench *b, const char *n,
				   uint64_t size, int m, const char *until,
				   const double *v, int count)
{
	struct bench_row *r;
	char key[32];

	snprintf(key, sizeof(key), "%s_%s", start_key[m], until);
	r = bench_add(b, PART_START, n, size, key, "%s: %s", start_what[m],
		      strcmp(until, "first") ? "fully backed" :
					       "guest running");
	r->count = count;
	r->seconds = median(v, count);
	r->max_seconds = maximum(v, count);
	snprintf(r->ratio_to, sizeof(r->ratio_to), "blocking_%s", until);
	return r;
}

static void start_rows(struct bench *b, const char *n, uint64_t size,
		       struct start_times *t)
{
	for (int m = 0; m < S_COUNT; m++) {
		struct bench_row *r = start_row(b, n, size, m, "first",
						t->first[m], t->n);

		if (m == S_BACKGROUND) {
			double done[64];

			for (int i = 0; i < t->n; i++)
				done[i] = (double)t->done_at_first[i];
			snprintf(r->note, sizeof(r->note), "the job had done "
				 "%.0f of %llu MiB when the guest ran (median)",
				 median(done, t->n) / MIB,
				 (unsigned long long)(size >> 20));
		}
		if (m == S_LAZY) {
			snprintf(r->note, sizeof(r->note), "never fully "
				 "backed up front: each first touch allocates "
				 "in a guest fault");
			continue;
		}
		start_row(b, n, size, m, "backed", t->backed[m], t->n);
	}
}

static void start_on(struct bench *b, enum gmem_backend be, uint64_t size)
{
	const char *n = bench_backend(be);
	struct start_times t = { .n = 0 };
	char why[256];
	int runs = b->o.runs < 64 ? b->o.runs : 64;

	if (be == GMEM_BACKEND_HUGETLB &&
	    !bench_pool_get(b, size / (2 * MIB), why, sizeof(why))) {
		bench_skip(b, PART_START, n, size, "%s", why);
		return;
	}
	for (int run = 0; run < runs; run++) {
		for (int i = 0; i < S_COUNT; i++) {
			/* Each run starts one method later. */
			int m = (i + run) % S_COUNT;
			uint64_t done;
			double backed;

			if (start_once(be, size, (enum start_method)m,
				       &t.first[m][t.n], &backed, &done, why,
				       sizeof(why)) < 0) {
				bench_skip(b, PART_START, n, size, "%s", why);
				goto out;
			}
			t.backed[m][t.n] = backed;
			if (m == S_BACKGROUND)
				t.done_at_first[t.n] = done;
		}
		t.n++;
	}
	start_rows(b, n, size, &t);
out:
	if (be == GMEM_BACKEND_HUGETLB)
		bench_pool_put();
}

void bench_start(struct bench *b)
{
	uint64_t size = b->o.sizes[0];
	char why[256];

	if (!b->host.kvm_present) {
		bench_skip(b, PART_START, NULL, size, "no KVM here (%s); run "
			   "this part in the emulated machine: tests/vm/"
			   "run-in-vm.sh build -- ./gmemctl bench --only start",
			   b->host.kvm_error);
		return;
	}
	start_on(b, GMEM_BACKEND_MEMFD, size);
	if (bench_backend_ok(b, GMEM_BACKEND_GUEST_MEMFD, size, why,
			     sizeof(why)))
		start_on(b, GMEM_BACKEND_GUEST_MEMFD, size);
	else
		bench_skip(b, PART_START, "guest_memfd", size, "%s", why);
	start_on(b, GMEM_BACKEND_HUGETLB, size);
}
