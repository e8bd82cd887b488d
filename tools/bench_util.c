// SPDX-License-Identifier: MIT
/*
 * bench_util.c - what every part of "gmemctl bench" uses: rows, medians,
 * work spread over threads, files by backend, and hugetlb pool room.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mman.h>
#include <unistd.h>

#include "bench.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

static struct bench_row *new_row(struct bench *b)
{
	struct bench_row *r;

	if (b->nrows == b->cap) {
		int cap = b->cap ? 2 * b->cap : 64;
		struct bench_row *v = realloc(b->rows, cap * sizeof(*v));

		if (!v) {
			fprintf(stderr, "bench: out of memory for rows\n");
			exit(1);
		}
		b->rows = v;
		b->cap = cap;
	}
	r = &b->rows[b->nrows++];
	memset(r, 0, sizeof(*r));
	r->count = NO_COUNT;
	r->seconds = r->max_seconds = r->per_call_us = r->gib_s = NO_VALUE;
	r->ratio = NO_VALUE;
	r->faults = r->pages_4k = r->pages_2m = r->pages_1g = NO_COUNT;
	return r;
}

struct bench_row *bench_add(struct bench *b, enum bench_part part,
			    const char *backend, uint64_t size,
			    const char *method, const char *what_fmt, ...)
{
	struct bench_row *r = new_row(b);
	va_list ap;

	r->part = part;
	snprintf(r->backend, sizeof(r->backend), "%s", backend ? backend : "");
	r->size = size;
	snprintf(r->method, sizeof(r->method), "%s", method);
	va_start(ap, what_fmt);
	vsnprintf(r->what, sizeof(r->what), what_fmt, ap);
	va_end(ap);
	return r;
}

void bench_skip(struct bench *b, enum bench_part part, const char *backend,
		uint64_t size, const char *fmt, ...)
{
	struct bench_row *r = bench_add(b, part, backend, size, "skipped",
					"skipped");
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->note, sizeof(r->note), fmt, ap);
	va_end(ap);
	/* Said on stderr too, so a CSV or JSON run still explains itself. */
	fprintf(stderr, "bench: %s%s%s\n", backend ? backend : "",
		backend ? ": " : "", r->note);
}

struct bench_row *bench_find(struct bench *b, enum bench_part part,
			     const char *backend, uint64_t size,
			     const char *method)
{
	for (int i = 0; i < b->nrows; i++) {
		struct bench_row *r = &b->rows[i];

		if (r->part == part && r->size == size &&
		    !strcmp(r->backend, backend ? backend : "") &&
		    !strcmp(r->method, method))
			return r;
	}
	return NULL;
}

void bench_ratios(struct bench *b)
{
	for (int i = 0; i < b->nrows; i++) {
		struct bench_row *r = &b->rows[i], *ref;

		if (!r->ratio_to[0] || r->ratio != NO_VALUE)
			continue;
		ref = bench_find(b, r->part, r->backend, r->size, r->ratio_to);
		if (ref && ref->seconds > 0 && r->seconds >= 0)
			r->ratio = r->seconds / ref->seconds;
	}
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

/* A sorted copy of v (free it), or NULL for none or no memory. */
static double *sorted(const double *v, int n)
{
	double *s = n > 0 ? malloc(n * sizeof(*s)) : NULL;

	if (s) {
		memcpy(s, v, n * sizeof(*s));
		qsort(s, n, sizeof(*s), cmp_double);
	}
	return s;
}

double percentile(const double *v, int n, double p)
{
	double *s = sorted(v, n), m;

	if (!s)
		return NO_VALUE;
	m = s[(int)(p * (n - 1) + 0.5)];
	free(s);
	return m;
}

double median(const double *v, int n)
{
	double *s = sorted(v, n), m;

	if (!s)
		return NO_VALUE;
	m = n % 2 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
	free(s);
	return m;
}

double maximum(const double *v, int n)
{
	double m = NO_VALUE;

	for (int i = 0; i < n; i++)
		if (v[i] > m)
			m = v[i];
	return m;
}

/* ---- work over threads ---- */

struct piece {
	uint8_t *p;
	uint64_t len;
	void (*fn)(uint8_t *p, uint64_t len);
};

static void *piece_main(void *arg)
{
	struct piece *pc = arg;

	pc->fn(pc->p, pc->len);
	return NULL;
}

/*
 * As QEMU's prealloc-threads does: one contiguous piece per thread, this
 * thread taking the last, page-aligned.
 */
void run_threads(uint8_t *p, uint64_t len, unsigned int n,
		 void (*fn)(uint8_t *p, uint64_t len))
{
	struct piece pc[64];
	pthread_t th[64];
	uint64_t step, off = 0;
	unsigned int started = 0;

	if (n < 1)
		n = 1;
	if (n > 64)
		n = 64;
	step = (len / n + 2 * MIB - 1) / (2 * MIB) * (2 * MIB);
	for (unsigned int i = 0; i < n && off < len; i++) {
		pc[i].p = p + off;
		pc[i].len = i == n - 1 || off + step > len ? len - off : step;
		pc[i].fn = fn;
		off += pc[i].len;
		if (off < len &&
		    pthread_create(&th[started], NULL, piece_main, &pc[i]) == 0) {
			started++;
			continue;
		}
		/* The last piece, or one no thread would take, runs here. */
		fn(pc[i].p, pc[i].len);
	}
	for (unsigned int i = 0; i < started; i++)
		pthread_join(th[i], NULL);
}

void populate_write(uint8_t *p, uint64_t len)
{
	if (madvise(p, len, MADV_POPULATE_WRITE) < 0)
		fprintf(stderr, "bench: MADV_POPULATE_WRITE: %s\n",
			strerror(errno));
}

void zero_bytes(uint8_t *p, uint64_t len)
{
	memset(p, 0, len);
	/* Keep the compiler from dropping a memset nobody reads. */
	__asm__ volatile("" : : "r"(p) : "memory");
}

void touch_pages(uint8_t *p, uint64_t len)
{
	for (uint64_t off = 0; off < len; off += 4096)
		((volatile uint8_t *)p)[off] = 1;
}

/* ---- files ---- */

const char *bench_backend(enum gmem_backend backend)
{
	return backend == GMEM_BACKEND_HUGETLB ? "hugetlb 2M" :
	       gmem_backend_name(backend);
}

static uint64_t pool_read(const char *field)
{
	char path[128];
	unsigned long long v = 0;
	FILE *f;

	snprintf(path, sizeof(path),
		 "/sys/kernel/mm/hugepages/hugepages-2048kB/%s", field);
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (fscanf(f, "%llu", &v) != 1)
		v = 0;
	fclose(f);
	return v;
}

static uint64_t pool_room(void)
{
	uint64_t fr = pool_read("free_hugepages"), rs = pool_read("resv_hugepages");

	return fr > rs ? fr - rs : 0;
}

bool bench_backend_ok(struct bench *b, enum gmem_backend backend,
		      uint64_t size, char *why, size_t len)
{
	if (backend == GMEM_BACKEND_GUEST_MEMFD && !b->vm) {
		snprintf(why, len, "no guest_memfd: %s", b->vm_why);
		return false;
	}
	if (backend == GMEM_BACKEND_HUGETLB && pool_room() < size / (2 * MIB)) {
		snprintf(why, len, "the 2 MiB pool has room for %llu pages, "
			 "%llu needed (raise nr_hugepages, or run as root "
			 "with --grow-pool)", (unsigned long long)pool_room(),
			 (unsigned long long)(size / (2 * MIB)));
		return false;
	}
	return true;
}

int bench_file(struct bench *b, enum gmem_backend backend, uint64_t size,
	       struct gmem_file **f, char *why, size_t len)
{
	struct gmem_file_args a = { 0 };
	int ret;

	a.size = size;
	a.backend = backend;
	a.vm = b->vm;
	a.name = "bench";
	if (backend == GMEM_BACKEND_HUGETLB)
		a.page_size = 2 * MIB;
	ret = gmem_file_create(&a, f);
	if (ret < 0)
		snprintf(why, len, "%s", gmem_last_error());
	return ret;
}

/* ---- hugetlb pool ---- */

#define POOL_NR "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"

static int pool_lock_fd = -1;
static uint64_t pool_added;
static char pool_restore[32];	/* what a signal handler writes back */

static bool pool_write(uint64_t nr)
{
	char v[32];
	int fd = open(POOL_NR, O_WRONLY | O_CLOEXEC);
	bool ok;

	if (fd < 0)
		return false;
	snprintf(v, sizeof(v), "%llu", (unsigned long long)nr);
	ok = write(fd, v, strlen(v)) == (ssize_t)strlen(v);
	close(fd);
	return ok;
}

/* Only async-signal-safe calls: a pool left grown would hold gigabytes. */
static void pool_on_signal(int sig)
{
	int fd = open(POOL_NR, O_WRONLY | O_CLOEXEC);

	if (fd >= 0) {
		if (write(fd, pool_restore, strlen(pool_restore)) < 0)
			sig = 1;
		close(fd);
	}
	_exit(128 + sig);
}

/* The lock the test harness takes for everything hugetlb. */
static int take_lock(void)
{
	int fd = open("/run/lock/gmem-tests-hugetlb.lock",
		      O_RDWR | O_CREAT | O_CLOEXEC, 0600);

	if (fd < 0)
		fd = open("/tmp/gmem-tests-hugetlb.lock",
			  O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd >= 0)
		while (flock(fd, LOCK_EX) < 0 && errno == EINTR)
			;
	return fd;
}

bool bench_pool_get(struct bench *b, uint64_t pages, char *why, size_t len)
{
	uint64_t room = pool_room(), nr;

	if (room >= pages)
		return true;
	if (!b->o.grow_pool) {
		snprintf(why, len, "the 2 MiB pool has room for %llu pages, "
			 "%llu needed (raise nr_hugepages, or run as root with "
			 "--grow-pool)", (unsigned long long)room,
			 (unsigned long long)pages);
		return false;
	}
	pool_lock_fd = take_lock();
	/* Others' pages stay theirs: grow by what is missing. */
	room = pool_room();
	nr = pool_read("nr_hugepages");
	snprintf(pool_restore, sizeof(pool_restore), "%llu",
		 (unsigned long long)nr);
	signal(SIGINT, pool_on_signal);
	signal(SIGTERM, pool_on_signal);
	pool_added = room < pages ? pages - room : 0;
	if (pool_added && !pool_write(nr + pool_added)) {
		snprintf(why, len, "cannot write %s (needs root): %s", POOL_NR,
			 strerror(errno));
		pool_added = 0;
		bench_pool_put();
		return false;
	}
	if (pool_room() < pages) {
		snprintf(why, len, "the kernel found only %llu of %llu free "
			 "2 MiB pages", (unsigned long long)pool_room(),
			 (unsigned long long)pages);
		bench_pool_put();
		return false;
	}
	return true;
}

void bench_pool_put(void)
{
	if (pool_added)
		pool_write(pool_read("nr_hugepages") - pool_added);
	pool_added = 0;
	if (pool_lock_fd >= 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		close(pool_lock_fd);
	}
	pool_lock_fd = -1;
}
