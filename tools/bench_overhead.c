// SPDX-License-Identifier: MIT
/*
 * bench_overhead.c - each library call beside the raw syscalls it stands
 * for, doing the same work on the same kind of memory.  Batches of calls
 * alternate between the two, so drift on a shared machine hits both alike;
 * the figure is the median per-call time over the batches.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "bench.h"
#include "gmemctl.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif
#ifndef SYS_cachestat
#define SYS_cachestat 451
#endif

/* What one comparison works on. */
struct ov {
	struct bench *b;
	int calls;		/* per batch */
	uint64_t gran;		/* bytes a call handles */
	struct gmem_file *f;	/* calls * gran bytes, or the bulk size */
	uint8_t *p;
	int raw_vm;
	unsigned char *vec;	/* for mincore */
};

/* ---- the comparisons: each returns the seconds its calls took ---- */

/* The library's create and close of o->gran bytes on backend, o->calls times. */
static double create_close_lib(struct ov *o, enum gmem_backend backend)
{
	double t = now_seconds();

	for (int i = 0; i < o->calls; i++) {
		struct gmem_file *f;
		char why[256];

		if (bench_file(o->b, backend, o->gran, &f, why, sizeof(why)) < 0)
			return -1;
		gmem_file_close(f);
	}
	return now_seconds() - t;
}

/* Map fd as the library does, and let it all go. */
static int map_and_close(int fd, uint64_t size)
{
	void *p;

	if (fd < 0)
		return -1;
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		close(fd);
		return -1;
	}
	munmap(p, size);
	close(fd);
	return 0;
}

static double create_memfd(struct ov *o, bool lib)
{
	double t = now_seconds();

	if (lib)
		return create_close_lib(o, GMEM_BACKEND_MEMFD);
	for (int i = 0; i < o->calls; i++) {
		/* What the library does: a sealed size, a mapping. */
		int fd = memfd_create("bench", MFD_CLOEXEC | MFD_ALLOW_SEALING);

		if (fd < 0 || ftruncate(fd, (off_t)o->gran) < 0 ||
		    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW |
			  F_SEAL_SEAL) < 0 || map_and_close(fd, o->gran) < 0)
			return -1;
	}
	return now_seconds() - t;
}

static double create_guest_memfd(struct ov *o, bool lib)
{
	double t = now_seconds();

	if (lib)
		return create_close_lib(o, GMEM_BACKEND_GUEST_MEMFD);
	for (int i = 0; i < o->calls; i++) {
		int fd = raw_guest_memfd(gmem_vm_fd(o->b->vm), o->gran);

		if (map_and_close(fd, o->gran) < 0)
			return -1;
	}
	return now_seconds() - t;
}

/* A memfd the caller already has, taken as a gmem file, and let go. */
static double import_memfd(struct ov *o, bool lib)
{
	struct gmem_import_args a = { .fd = gmem_file_fd(o->f) };
	double t = now_seconds();

	for (int i = 0; i < o->calls; i++) {
		struct gmem_file *f;
		struct statfs sfs;
		struct stat st;

		if (lib) {
			if (gmem_file_import(&a, &f) < 0)
				return -1;
			gmem_file_close(f);
			continue;
		}
		/* What the library does: ask what it is, keep a duplicate,
		 * map it. */
		if (fstatfs(a.fd, &sfs) < 0 || fstat(a.fd, &st) < 0)
			return -1;
		if (map_and_close(fcntl(a.fd, F_DUPFD_CLOEXEC, 0),
				  (uint64_t)st.st_size) < 0)
			return -1;
	}
	return now_seconds() - t;
}

static double bind_unbind(struct ov *o, bool lib)
{
	struct gmem_bind_args a = { .length = o->gran, .slot = GMEM_SLOT_ANY };
	bool v2 = o->b->host.cap_user_memory2;
	struct gmem_binding *bn;
	double t = now_seconds();

	for (int i = 0; i < o->calls; i++) {
		if (lib) {
			if (gmem_bind(o->b->vm, o->f, &a, &bn) < 0)
				return -1;
			gmem_unbind(bn);
		} else {
			if (raw_set_slot(o->raw_vm, 0, 0, o->gran, o->p, v2) < 0)
				return -1;
			raw_set_slot(o->raw_vm, 0, 0, 0, o->p, v2);
		}
	}
	return now_seconds() - t;
}

/* Populate (ready) call by call, then free it all untimed. */
static double populate_calls(struct ov *o, bool lib)
{
	double t = now_seconds();

	for (int i = 0; i < o->calls; i++) {
		uint64_t off = (uint64_t)i * o->gran;
		int ret = lib ? gmem_populate(o->f, off, o->gran) :
			  madvise(o->p + off, o->gran, MADV_POPULATE_WRITE);

		if (ret < 0)
			return -1;
	}
	t = now_seconds() - t;
	gmem_discard(o->f, 0, (uint64_t)o->calls * o->gran);
	return t;
}

/* Discard call by call what was populated untimed. */
static double discard_calls(struct ov *o, bool lib)
{
	int fd = gmem_file_fd(o->f);
	double t;

	if (gmem_populate(o->f, 0, (uint64_t)o->calls * o->gran) < 0)
		return -1;
	t = now_seconds();
	for (int i = 0; i < o->calls; i++) {
		uint64_t off = (uint64_t)i * o->gran;
		int ret = lib ? gmem_discard(o->f, off, o->gran) :
			  fallocate(fd, FALLOC_FL_PUNCH_HOLE |
				    FALLOC_FL_KEEP_SIZE, (off_t)off,
				    (off_t)o->gran);

		if (ret < 0)
			return -1;
	}
	return now_seconds() - t;
}

/* All of a bulk file ready on every CPU: QEMU's threads or the library. */
static double populate_bulk(struct ov *o, bool lib)
{
	double t = now_seconds();

	if (lib) {
		if (gmem_populate(o->f, 0, o->gran) < 0)
			return -1;
	} else {
		run_threads(o->p, o->gran, o->b->cpus, populate_write);
	}
	t = now_seconds() - t;
	gmem_discard(o->f, 0, o->gran);
	return t;
}

static double allocate_bulk(struct ov *o, bool lib)
{
	struct gmem_populate_args a = { .flags = GMEM_POPULATE_NO_ZERO };
	double t = now_seconds();
	int ret = lib ? gmem_populate_with(o->f, 0, o->gran, &a) :
		  fallocate(gmem_file_fd(o->f), FALLOC_FL_KEEP_SIZE, 0,
			    (off_t)o->gran);

	t = now_seconds() - t;
	gmem_discard(o->f, 0, o->gran);
	return ret < 0 ? -1 : t;
}

/* What gmem_file_stats asks the kernel: cachestat, then mincore. */
static double file_stats(struct ov *o, bool lib)
{
	struct { uint64_t off, len; } range = { 0, o->gran };
	uint64_t cs[5], sum = 0;
	struct gmem_file_stats st;
	double t = now_seconds();

	for (int i = 0; i < o->calls; i++) {
		if (lib) {
			if (gmem_file_stats(o->f, &st) < 0)
				return -1;
			continue;
		}
		if (syscall(SYS_cachestat, gmem_file_fd(o->f), &range, cs, 0) < 0 ||
		    mincore(o->p, o->gran, o->vec) < 0)
			return -1;
		for (uint64_t k = 0; k < o->gran / 4096; k++)
			sum += o->vec[k] & 1;
	}
	t = now_seconds() - t;
	return sum > (uint64_t)o->calls * (o->gran / 4096) ? -1 : t;
}

/* ---- the driver ---- */

struct pair {
	const char *key;
	const char *what;		/* the library call */
	const char *raw;		/* what it stands for */
	enum gmem_backend backend;
	uint64_t gran;			/* 0: the bulk size */
	int max_calls;			/* per batch; 0: --calls */
	double (*fn)(struct ov *o, bool lib);
	bool kvm;			/* needs b->vm */
	uint64_t file;			/* 0: calls * gran; 1: none */
	bool populated;			/* the file populated first */
};

static const struct pair pairs[] = {
	{ "create_close", "gmem_file_create + close", "memfd_create, "
	  "ftruncate, seals, mmap; munmap, close", GMEM_BACKEND_MEMFD,
	  2 * MIB, 0, create_memfd, false, 1, false },
	{ "create_close", "gmem_file_create + close", "KVM_CREATE_GUEST_MEMFD, "
	  "FD_CLOEXEC, mmap; munmap, close", GMEM_BACKEND_GUEST_MEMFD,
	  2 * MIB, 0, create_guest_memfd, true, 1, false },
	{ "import_close", "gmem_file_import + close", "fstatfs, fstat, "
	  "F_DUPFD_CLOEXEC, mmap; munmap, close", GMEM_BACKEND_MEMFD, 2 * MIB,
	  0, import_memfd, false, 2 * MIB, false },
	{ "bind_unbind", "gmem_bind + gmem_unbind", "KVM_SET_USER_MEMORY_REGION2"
	  " add, delete", GMEM_BACKEND_MEMFD, 2 * MIB, 0, bind_unbind, true,
	  2 * MIB, false },
	{ "populate", "gmem_populate", "madvise(MADV_POPULATE_WRITE)",
	  GMEM_BACKEND_MEMFD, 4 * KIB, 0, populate_calls, false, 0, false },
	{ "populate", "gmem_populate", "madvise(MADV_POPULATE_WRITE)",
	  GMEM_BACKEND_MEMFD, 2 * MIB, 64, populate_calls, false, 0, false },
	{ "discard", "gmem_discard", "fallocate(PUNCH_HOLE)",
	  GMEM_BACKEND_MEMFD, 4 * KIB, 0, discard_calls, false, 0, false },
	{ "discard", "gmem_discard", "fallocate(PUNCH_HOLE)",
	  GMEM_BACKEND_MEMFD, 2 * MIB, 64, discard_calls, false, 0, false },
	{ "populate", "gmem_populate, all of it", "MADV_POPULATE_WRITE on "
	  "every CPU", GMEM_BACKEND_MEMFD, 0, 1, populate_bulk, false, 0,
	  false },
	{ "populate", "gmem_populate, all of it", "MADV_POPULATE_WRITE on "
	  "every CPU", GMEM_BACKEND_HUGETLB, 0, 1, populate_bulk, false, 0,
	  false },
	{ "populate_no_zero", "gmem_populate NO_ZERO, all of it",
	  "fallocate(KEEP_SIZE)", GMEM_BACKEND_MEMFD, 0, 1, allocate_bulk,
	  false, 0, false },
	{ "file_stats", "gmem_file_stats", "cachestat, mincore",
	  GMEM_BACKEND_MEMFD, 0, 5, file_stats, false, 0, true },
};

static int setup(struct bench *b, const struct pair *pr, struct ov *o,
		 char *why, size_t len)
{
	uint64_t fsize;

	memset(o, 0, sizeof(*o));
	o->b = b;
	o->raw_vm = -1;
	o->gran = pr->gran ? pr->gran : b->o.bulk_size;
	o->calls = pr->max_calls && pr->max_calls < (int)b->o.calls ?
		   pr->max_calls : (int)b->o.calls;
	if (pr->kvm && !b->vm) {
		snprintf(why, len, "no KVM VM: %s", b->vm_why);
		return -1;
	}
	if (pr->fn == bind_unbind) {
		o->raw_vm = raw_vm_create();
		if (o->raw_vm < 0) {
			snprintf(why, len, "KVM_CREATE_VM: %s",
				 strerror(-o->raw_vm));
			return -1;
		}
	}
	if (pr->file == 1)
		return 0;
	fsize = pr->file ? pr->file : pr->gran ? (uint64_t)o->calls * o->gran :
		o->gran;
	if (bench_file(b, pr->backend, fsize, &o->f, why, len) < 0)
		return -1;
	o->p = gmem_file_host_addr(o->f);
	if (pr->populated && gmem_populate(o->f, 0, fsize) < 0) {
		snprintf(why, len, "%s", gmem_last_error());
		return -1;
	}
	o->vec = malloc(fsize / 4096 + 1);
	return o->vec ? 0 : -1;
}

static void teardown(struct ov *o)
{
	if (o->f)
		gmem_file_close(o->f);
	if (o->raw_vm >= 0)
		close(o->raw_vm);
	free(o->vec);
}

static void one_pair(struct bench *b, const struct pair *pr)
{
	/* Many batches of small calls; bulk calls take long enough alone. */
	int batches = b->o.quick ? 3 : pr->max_calls == 1 ? b->o.runs + 2 :
		      2 * b->o.runs + 3;
	const char *n = bench_backend(pr->backend);
	double t[2][64];
	char why[256] = "", key[40];
	struct bench_row *r;
	bool done = false;
	struct ov o;

	if (batches > 64)
		batches = 64;
	if (pr->backend == GMEM_BACKEND_HUGETLB &&
	    !bench_pool_get(b, b->o.bulk_size / (2 * MIB), why, sizeof(why))) {
		bench_skip(b, PART_OVERHEAD, n, b->o.bulk_size, "%s: %s",
			   pr->what, why);
		return;
	}
	if (setup(b, pr, &o, why, sizeof(why)) < 0) {
		bench_skip(b, PART_OVERHEAD, n, pr->gran, "%s: %s", pr->what,
			   why[0] ? why : strerror(errno));
		goto out;
	}
	/* One untimed batch each: caches, page tables, the books. */
	pr->fn(&o, true);
	pr->fn(&o, false);
	for (int i = 0; i < batches; i++) {
		for (int k = 0; k < 2; k++) {
			bool lib = (i + k) % 2 == 0;

			t[lib][i] = pr->fn(&o, lib);
			if (t[lib][i] < 0) {
				bench_skip(b, PART_OVERHEAD, n, o.gran,
					   "%s (%s) failed: %s", pr->what,
					   lib ? "library" : "raw",
					   lib ? gmem_last_error() :
					   strerror(errno));
				goto out;
			}
			t[lib][i] /= o.calls;
		}
	}
	done = true;
out:
	teardown(&o);
	if (pr->backend == GMEM_BACKEND_HUGETLB)
		bench_pool_put();
	if (!done)
		return;
	for (int lib = 1; lib >= 0; lib--) {
		snprintf(key, sizeof(key), "%s%s", lib ? "" : "raw_", pr->key);
		r = bench_add(b, PART_OVERHEAD, n, o.gran, key, "%s",
			      lib ? pr->what : pr->raw);
		r->count = o.calls;
		r->seconds = median(t[lib], batches);
		r->max_seconds = maximum(t[lib], batches);
		r->per_call_us = r->seconds * 1e6;
		if (lib)
			snprintf(r->ratio_to, sizeof(r->ratio_to), "raw_%s",
				 pr->key);
		snprintf(r->note, sizeof(r->note), "median of %d batches of "
			 "%d calls", batches, o.calls);
	}
}

void bench_overhead(struct bench *b)
{
	for (size_t i = 0; i < sizeof(pairs) / sizeof(pairs[0]); i++)
		one_pair(b, &pairs[i]);
}
