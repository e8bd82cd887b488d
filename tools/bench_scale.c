// SPDX-License-Identifier: MIT
/*
 * bench_scale.c - how the library's costs grow: stats on sparse files up
 * to 16 TiB and over a thousand files, create and close while a stats loop
 * runs in another thread, and bind/unbind with tens of thousands of
 * memslots beside the raw ioctl.
 */
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "gmemctl.h"

#define PIECES 16		/* populated 2 MiB pieces of a sparse file */

static int reps(const struct bench *b)
{
	return b->o.quick ? 5 : 21;
}

static struct bench_row *timed_row(struct bench *b, const char *be,
				   uint64_t size, const char *method,
				   const double *t, int n, const char *what)
{
	struct bench_row *r = bench_add(b, PART_SCALE, be, size, method, "%s",
					what);

	r->seconds = median(t, n);
	r->max_seconds = maximum(t, n);
	r->per_call_us = r->seconds * 1e6;
	return r;
}

/* ---- stats on sparse files ---- */

static void sparse_one(struct bench *b, enum gmem_backend be, uint64_t size)
{
	const char *n = bench_backend(be);
	struct gmem_file_stats fs;
	struct gmem_stats st;
	struct gmem_file *f;
	double t[2][64];
	char why[256], sz[32];
	struct bench_row *r;
	int k = reps(b);

	if (bench_file(b, be, size, &f, why, sizeof(why)) < 0) {
		bench_skip(b, PART_SCALE, n, size, "a %s file: %s",
			   format_size(size, sz, sizeof(sz)), why);
		return;
	}
	/* Some memory spread over it, so the walk has work to find. */
	for (int i = 0; i < PIECES; i++)
		gmem_populate(f, size / PIECES * i, 2 * MIB);
	for (int i = 0; i < k; i++) {
		t[0][i] = now_seconds();
		gmem_file_stats(f, &fs);
		t[0][i] = now_seconds() - t[0][i];
		t[1][i] = now_seconds();
		gmem_stats(&st);
		t[1][i] = now_seconds() - t[1][i];
	}
	r = timed_row(b, n, size, "file_stats", t[0], k, "gmem_file_stats, "
		      "sparse file");
	snprintf(r->note, sizeof(r->note), "%d x 2 MiB populated; it reports "
		 "%llu MiB resident, %llu MiB touched", PIECES,
		 (unsigned long long)(fs.resident_bytes >> 20),
		 (unsigned long long)(fs.touched_bytes >> 20));
	timed_row(b, n, size, "stats", t[1], k, "gmem_stats, that file live");
	gmem_file_close(f);
}

/* ---- many files; create and close beside a stats loop ---- */

enum loop_kind {
	LOOP_SPIN,			/* the control: busy, no library */
	LOOP_STATS,			/* gmem_stats */
	LOOP_STATS_BARE,		/* gmem_stats_with(NO_TOUCHED) */
};

struct loop {
	pthread_t th;
	enum loop_kind kind;
	bool stop;			/* atomic */
	int calls;			/* atomic */
	double t[64];			/* the first calls' times */
};

/*
 * gmem_stats over and over; or, as a control, the same CPU time with no
 * library call, so a create that waits only for the CPU shows there too.
 */
static void *loop_main(void *arg)
{
	struct loop *l = arg;
	struct gmem_stats st;

	while (!__atomic_load_n(&l->stop, __ATOMIC_RELAXED)) {
		double s = now_seconds();

		if (l->kind == LOOP_SPIN)
			while (now_seconds() - s < 2e-3)
				;
		else
			gmem_stats_with(&st, l->kind == LOOP_STATS_BARE ?
					GMEM_STATS_NO_TOUCHED : 0);
		if (l->calls < 64)
			l->t[l->calls] = now_seconds() - s;
		__atomic_add_fetch(&l->calls, 1, __ATOMIC_RELAXED);
	}
	return NULL;
}

/*
 * Create and close small files, each call timed, n times; with a loop
 * running, on until it has finished a few whole calls beside them.
 */
static int create_close(struct bench *b, int n, int cap, struct loop *l,
			double *tc, double *tx)
{
	struct gmem_file *f;
	char why[256];
	int i;

	for (i = 0; i < cap && (i < n || (l && l->calls < 6)); i++) {
		tc[i] = now_seconds();
		if (bench_file(b, GMEM_BACKEND_MEMFD, 2 * MIB, &f, why,
			       sizeof(why)) < 0)
			return -1;
		tc[i] = now_seconds() - tc[i];
		tx[i] = now_seconds();
		gmem_file_close(f);
		tx[i] = now_seconds() - tx[i];
	}
	return i;
}

static int beside(struct bench *b, int n, int cap, struct loop *l,
		  enum loop_kind kind, double *tc, double *tx)
{
	int got;

	memset(l, 0, sizeof(*l));
	l->kind = kind;
	if (pthread_create(&l->th, NULL, loop_main, l))
		return -1;
	while (!__atomic_load_n(&l->calls, __ATOMIC_RELAXED))
		sched_yield();
	got = create_close(b, n, cap, l, tc, tx);
	__atomic_store_n(&l->stop, true, __ATOMIC_RELAXED);
	pthread_join(l->th, NULL);
	return got;
}

static void create_close_rows(struct bench *b, double *tc, int cap,
			      const int *got, const struct loop *loops)
{
	static const char *const key[] = {
		"create_idle", "close_idle", "create_busy", "close_busy",
		"create_loop", "close_loop", "create_bare", "close_bare",
	};
	static const char *const what[] = {
		"gmem_file_create alone", "gmem_file_close alone",
		"gmem_file_create, busy thread (control)",
		"gmem_file_close, busy thread (control)",
		"gmem_file_create, stats loop running",
		"gmem_file_close, stats loop running",
		"gmem_file_create, NO_TOUCHED stats loop",
		"gmem_file_close, NO_TOUCHED stats loop",
	};

	for (int i = 0; i < 8; i++) {
		const struct loop *l = i >= 4 ? &loops[i / 2 - 1] : NULL;
		int m = got[i / 2];
		struct bench_row *r;

		if (m <= 0)
			continue;
		r = timed_row(b, "memfd", 2 * MIB, key[i], tc + i * cap, m,
			      what[i]);
		r->count = m;
		snprintf(r->note, sizeof(r->note), "p90 %.1f us",
			 percentile(tc + i * cap, m, 0.9) * 1e6);
		if (i < 2)
			continue;
		/*
		 * Against the control: another thread busy on the other CPU
		 * but calling nothing, so what remains is waiting on stats.
		 */
		/* The control against the calls alone; loops against it. */
		snprintf(r->ratio_to, sizeof(r->ratio_to), "%s",
			 key[i < 4 ? i % 2 : 2 + i % 2]);
		if (i >= 4)
			snprintf(r->note + strlen(r->note),
				 sizeof(r->note) - strlen(r->note),
				 "; beside %d %s calls over %u files, %.1f ms "
				 "each", l->calls, i < 6 ? "gmem_stats" :
				 "gmem_stats_with(NO_TOUCHED)", b->o.files,
				 median(l->t, l->calls < 64 ? l->calls : 64) *
				 1e3);
	}
}

static void many_files(struct bench *b)
{
	unsigned int nf = b->o.files;
	int k = reps(b), nc = b->o.quick ? 20 : 400, cap = 1 << 16, got[4];
	struct gmem_file **files = calloc(nf, sizeof(*files));
	double t[64], *tc = calloc(8 * (size_t)cap, sizeof(double));
	static struct loop loops[3];
	struct gmem_stats st;
	struct bench_row *r;
	unsigned int made = 0;
	char why[256];

	if (!files || !tc)
		goto out;
	for (; made < nf; made++) {
		if (bench_file(b, GMEM_BACKEND_MEMFD, 2 * MIB, &files[made],
			       why, sizeof(why)) < 0) {
			bench_skip(b, PART_SCALE, "memfd", 0, "file %u of %u: "
				   "%s", made + 1, nf, why);
			goto out;
		}
		gmem_populate(files[made], 0, 64 * KIB);
	}
	for (int i = 0; i < k; i++) {
		t[i] = now_seconds();
		gmem_stats(&st);
		t[i] = now_seconds() - t[i];
	}
	r = timed_row(b, "memfd", 0, "stats_files", t, k, "gmem_stats over "
		      "many files");
	r->count = nf;
	snprintf(r->note, sizeof(r->note), "%.2f us a file; each 2 MiB, 64 KiB "
		 "populated", r->seconds / nf * 1e6);

	/* The same creates and closes alone, beside a busy thread, beside
	 * a stats loop, and beside one that leaves out the touched figure. */
	got[0] = create_close(b, nc, cap, NULL, tc, tc + cap);
	got[1] = beside(b, nc, cap, &loops[0], LOOP_SPIN, tc + 2 * cap,
			tc + 3 * cap);
	got[2] = beside(b, nc, cap, &loops[1], LOOP_STATS, tc + 4 * cap,
			tc + 5 * cap);
	got[3] = beside(b, nc, cap, &loops[2], LOOP_STATS_BARE, tc + 6 * cap,
			tc + 7 * cap);
	create_close_rows(b, tc, cap, got, loops);
out:
	for (unsigned int i = 0; i < made; i++)
		gmem_file_close(files[i]);
	free(files);
	free(tc);
}

/* ---- memslots ---- */

/* n one-page memslots, by the library; seconds for all binds, unbinds. */
static int lib_slots(struct bench *b, unsigned int n, double *tb, double *tu,
		     char *why, size_t len)
{
	struct gmem_binding **bs = calloc(n, sizeof(*bs));
	struct gmem_bind_args a = { 0 };
	struct gmem_file *f = NULL;
	struct gmem_vm *vm = NULL;
	unsigned int i = 0;
	int ret = -1;

	if (!bs || gmem_vm_create(&vm) < 0 ||
	    bench_file(b, GMEM_BACKEND_MEMFD, (uint64_t)n * 4 * KIB, &f, why,
		       len) < 0) {
		snprintf(why, len, "%s", gmem_last_error());
		goto out;
	}
	a.length = 4 * KIB;
	a.slot = GMEM_SLOT_ANY;
	*tb = now_seconds();
	for (; i < n; i++) {
		a.offset = a.gpa = (uint64_t)i * 4 * KIB;
		if (gmem_bind(vm, f, &a, &bs[i]) < 0) {
			snprintf(why, len, "bind %u: %s", i, gmem_last_error());
			goto out;
		}
	}
	*tb = now_seconds() - *tb;
	*tu = now_seconds();
	for (; i > 0; i--)
		gmem_unbind(bs[n - i]);
	*tu = now_seconds() - *tu;
	ret = 0;
out:
	while (i > 0)
		gmem_unbind(bs[--i]);
	if (f)
		gmem_file_close(f);
	if (vm)
		gmem_vm_close(vm);
	free(bs);
	return ret;
}

/* The same memslots by the ioctl alone, over the same kind of memory. */
static int raw_slots(struct bench *b, unsigned int n, double *tb, double *tu,
		     char *why, size_t len)
{
	bool v2 = b->host.cap_user_memory2;
	struct gmem_file *f = NULL;
	int vm = raw_vm_create(), ret = -1;
	unsigned int i = 0;
	uint8_t *p;

	if (vm < 0 || bench_file(b, GMEM_BACKEND_MEMFD, (uint64_t)n * 4 * KIB,
				 &f, why, len) < 0)
		goto out;
	p = gmem_file_host_addr(f);
	*tb = now_seconds();
	for (; i < n; i++)
		if (raw_set_slot(vm, i, (uint64_t)i * 4 * KIB, 4 * KIB,
				 p + (uint64_t)i * 4 * KIB, v2) < 0) {
			snprintf(why, len, "raw memslot %u: %m", i);
			goto out;
		}
	*tb = now_seconds() - *tb;
	*tu = now_seconds();
	for (unsigned int j = 0; j < n; j++)
		raw_set_slot(vm, j, (uint64_t)j * 4 * KIB, 0, p, v2);
	*tu = now_seconds() - *tu;
	ret = 0;
out:
	if (vm >= 0)
		close(vm);
	if (f)
		gmem_file_close(f);
	return ret;
}

static void slot_rows(struct bench *b, unsigned int n, double t[4][64],
		      int runs)
{
	static const char *const key[] = { "bind", "unbind", "raw_bind",
					   "raw_unbind" };
	static const char *const what[] = {
		"gmem_bind, one page each", "gmem_unbind",
		"raw KVM_SET_USER_MEMORY_REGION2", "raw memslot delete",
	};

	for (int i = 0; i < 4; i++) {
		struct bench_row *r = bench_add(b, PART_SCALE, "memfd",
						(uint64_t)n * 4 * KIB, key[i],
						"%s", what[i]);

		r->count = n;
		r->seconds = median(t[i], runs);
		r->max_seconds = maximum(t[i], runs);
		r->per_call_us = r->seconds / n * 1e6;
		if (i < 2)
			snprintf(r->ratio_to, sizeof(r->ratio_to), "%s",
				 key[i + 2]);
		snprintf(r->note, sizeof(r->note), "all %u memslots, total",
			 n);
	}
}

static void memslots(struct bench *b)
{
	double t[4][64];
	char why[256];

	if (!b->host.kvm_present) {
		bench_skip(b, PART_SCALE, NULL, 0, "no memslots without KVM "
			   "(%s)", b->host.kvm_error);
		return;
	}
	for (int s = 0; s < 2; s++) {
		unsigned int n = b->o.slots[s];
		/* The small count takes milliseconds: more runs steady it. */
		int runs = b->o.quick ? 1 : s == 0 ? 3 * b->o.runs : b->o.runs;

		if (b->host.cap_nr_memslots && n > (unsigned int)
		    b->host.cap_nr_memslots) {
			bench_skip(b, PART_SCALE, "memfd", 0, "%u memslots: "
				   "this KVM allows %d", n,
				   b->host.cap_nr_memslots);
			continue;
		}
		for (int r = 0; r < runs; r++) {
			/* Library and raw take turns which goes first. */
			int first = r % 2;

			for (int k = 0; k < 2; k++) {
				int raw = (k + first) % 2;
				int ret = raw ? raw_slots(b, n, &t[2][r],
							  &t[3][r], why,
							  sizeof(why)) :
					  lib_slots(b, n, &t[0][r], &t[1][r],
						    why, sizeof(why));

				if (ret < 0) {
					bench_skip(b, PART_SCALE, "memfd", 0,
						   "%u memslots: %s", n, why);
					return;
				}
			}
		}
		slot_rows(b, n, t, runs);
	}
}

void bench_scale(struct bench *b)
{
	static const enum gmem_backend backends[] = {
		GMEM_BACKEND_MEMFD, GMEM_BACKEND_GUEST_MEMFD,
	};
	char why[256];

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		if (!bench_backend_ok(b, backends[i], 0, why, sizeof(why))) {
			bench_skip(b, PART_SCALE, bench_backend(backends[i]),
				   0, "%s", why);
			continue;
		}
		for (int s = 0; s < b->o.nsparse; s++)
			sparse_one(b, backends[i], b->o.sparse[s]);
	}
	bench_skip(b, PART_SCALE, "hugetlb 2M", 0, "no sparse hugetlb rows: "
		   "mapping a hugetlb file reserves its whole size in the "
		   "pool, so its size is bounded by memory");
	many_files(b);
	memslots(b);
}
