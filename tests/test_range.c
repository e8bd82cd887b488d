// SPDX-License-Identifier: MIT
/* test_range.c - populate and discard: effects, accounting and bad ranges. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"

#define KIB 1024ULL

static struct gmem_file *make_memfd(uint64_t size)
{
	struct gmem_file_args a = { 0 };
	struct gmem_file *f = NULL;

	a.size = size;
	a.backend = GMEM_BACKEND_MEMFD;
	if (gmem_file_create(&a, &f) < 0)
		return NULL;
	return f;
}

static void populate_accounts_exactly(void)
{
	struct gmem_file *f = make_memfd(64 * KIB);
	struct gmem_file_stats st;

	CHECK(f);
	CHECK_OK(gmem_populate(f, 0, 16 * KIB));
	CHECK_OK(gmem_populate(f, 8 * KIB, 16 * KIB));	/* overlaps */
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.populated_bytes == 24 * KIB);
	CHECK(st.populate_calls == 2);
	CHECK(st.size == 64 * KIB && st.page_size == 4 * KIB);
	CHECK_OK(gmem_discard(f, 4 * KIB, 8 * KIB));
	CHECK_OK(gmem_discard(f, 40 * KIB, 8 * KIB));	/* never populated */
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.populated_bytes == 16 * KIB);
	CHECK(st.discarded_bytes == 16 * KIB);
	CHECK(st.discard_calls == 2);
	CHECK_OK(gmem_file_close(f));
}

/* The kernel's own evidence for memfd: blocks come and go. */
static void populate_and_discard_move_blocks(void)
{
	struct gmem_file *f = make_memfd(1024 * KIB);
	struct stat st;

	CHECK(f);
	CHECK(fstat(gmem_file_fd(f), &st) == 0 && st.st_blocks == 0);
	CHECK_OK(gmem_populate(f, 0, 1024 * KIB));
	CHECK(fstat(gmem_file_fd(f), &st) == 0);
	CHECK((uint64_t)st.st_blocks * 512 == 1024 * KIB);
	CHECK_OK(gmem_discard(f, 256 * KIB, 512 * KIB));
	CHECK(fstat(gmem_file_fd(f), &st) == 0);
	CHECK((uint64_t)st.st_blocks * 512 == 512 * KIB);
	CHECK_OK(gmem_file_close(f));
}

/* After discard the host mapping reads zeros inside, and nothing else moved. */
static void check_discard_effect(struct gmem_file *f)
{
	uint8_t *p = gmem_file_host_addr(f);
	uint64_t size = gmem_file_size(f);

	CHECK(p);
	memset(p, 0xab, size);
	CHECK_OK(gmem_discard(f, 8 * KIB, 12 * KIB));
	for (uint64_t i = 0; i < size; i++) {
		uint8_t want = (i >= 8 * KIB && i < 20 * KIB) ? 0 : 0xab;

		if (p[i] != want) {
			t_fail(__FILE__, __LINE__, "byte %llu is 0x%x, not 0x%x",
			       (unsigned long long)i, p[i], want);
			return;
		}
	}
}

static void discard_zeroes_only_the_range_memfd(void)
{
	struct gmem_file *f = make_memfd(32 * KIB);

	CHECK(f);
	check_discard_effect(f);
	CHECK_OK(gmem_file_close(f));
}

static void discard_zeroes_only_the_range_guest_memfd(void)
{
	struct gmem_file_args a = { 0 };
	struct gmem_file *f;
	struct gmem_vm *vm;

	T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	CHECK_OK(gmem_vm_create(&vm));
	a.size = 32 * KIB;
	a.backend = GMEM_BACKEND_GUEST_MEMFD;
	a.vm = vm;
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK_OK(gmem_populate(f, 0, 32 * KIB));
	check_discard_effect(f);
	CHECK_OK(gmem_file_close(f));
	CHECK_OK(gmem_vm_close(vm));
}

static void bad_ranges(void)
{
	struct gmem_file *f = make_memfd(64 * KIB);
	struct gmem_file_stats st;
	int (*op[2])(struct gmem_file *, uint64_t, uint64_t) = {
		gmem_populate, gmem_discard,
	};

	CHECK(f);
	for (int i = 0; i < 2; i++) {
		CHECK_ERR(op[i](f, 0, 0), EINVAL);			/* empty */
		CHECK_ERR(op[i](f, 1, 4 * KIB), EINVAL);		/* offset */
		CHECK_ERR(op[i](f, 0, 4 * KIB + 1), EINVAL);	/* length */
		CHECK_ERR(op[i](f, 60 * KIB, 8 * KIB), ERANGE);	/* past end */
		CHECK_ERR(op[i](f, 64 * KIB, 4 * KIB), ERANGE);
		CHECK_ERR(op[i](f, ~0ULL << 12, 8 * KIB), EOVERFLOW);
		CHECK_ERR(op[i](NULL, 0, 4 * KIB), EINVAL);
	}
	/* None of the failures counted as work. */
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.populate_calls == 0 && st.discard_calls == 0);
	CHECK(st.populated_bytes == 0 && st.discarded_bytes == 0);
	CHECK_OK(gmem_file_close(f));
}

struct worker {
	struct gmem_file *f;
	uint64_t first, n;
	int err;
};

static void *churn(void *arg)
{
	struct worker *w = arg;

	for (int round = 0; round < 50 && !w->err; round++)
		for (uint64_t i = 0; i < w->n && !w->err; i++) {
			uint64_t off = (w->first + i) * 4 * KIB;

			w->err = gmem_populate(w->f, off, 4 * KIB);
			if (!w->err && (round + i) % 2)
				w->err = gmem_discard(w->f, off, 4 * KIB);
		}
	return NULL;
}

/* Range calls on one file from several threads keep exact figures. */
static void concurrent_ranges_keep_exact_figures(void)
{
	struct gmem_file *f = make_memfd(256 * KIB);
	struct worker w[4];
	pthread_t th[4];
	struct gmem_file_stats st;
	struct stat sb;

	CHECK(f);
	for (int i = 0; i < 4; i++) {
		w[i] = (struct worker){ .f = f, .first = (uint64_t)i * 16, .n = 16 };
		CHECK(pthread_create(&th[i], NULL, churn, &w[i]) == 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		CHECK(w[i].err == 0);
	}
	CHECK_OK(gmem_file_stats(f, &st));
	/* The last round (49) discards page i when 49 + i is odd: odd i stay. */
	CHECK(st.populated_bytes == 4 * 8 * 4 * KIB);
	CHECK(fstat(gmem_file_fd(f), &sb) == 0);
	CHECK((uint64_t)sb.st_blocks * 512 == st.populated_bytes);
	CHECK(st.populate_calls == 4 * 50 * 16);
	CHECK(st.discard_calls == 4 * 50 * 8);
	CHECK_OK(gmem_file_close(f));
}

struct racer {
	struct gmem_file *f;
	unsigned int seed;
	int err;
};

static void *race_same_range(void *arg)
{
	struct racer *r = arg;

	for (int i = 0; i < 300 && !r->err; i++) {
		uint64_t off = (uint64_t)(rand_r(&r->seed) % 64) * 4 * KIB;
		uint64_t len = (uint64_t)(rand_r(&r->seed) % 8 + 1) * 4 * KIB;

		if (off + len > 256 * KIB)
			len = 256 * KIB - off;
		r->err = (rand_r(&r->seed) & 1) ? gmem_populate(r->f, off, len)
						: gmem_discard(r->f, off, len);
	}
	return NULL;
}

/* The page cache's own count of a file's pages (cachestat, Linux 6.5). */
static int64_t kernel_cached(int fd)
{
	struct { uint64_t off, len; } range = { 0, 0 };
	uint64_t cs[5];

	if (syscall(451, fd, &range, cs, 0) < 0)
		return -errno;
	return (int64_t)(cs[0] * 4096);
}

/*
 * Threads populating and discarding overlapping ranges of one file: the
 * books equal the kernel's own count every time the threads stop (the
 * range lock keeps each syscall with its accounting).
 */
static void racing_same_range(struct gmem_file *f)
{
	struct gmem_file_stats st;
	struct racer r[4];
	pthread_t th[4];
	struct stat sb;

	for (int round = 0; round < 12; round++) {
		for (int i = 0; i < 4; i++) {
			r[i] = (struct racer){ f, (unsigned int)(round * 4 + i), 0 };
			CHECK(pthread_create(&th[i], NULL, race_same_range,
					     &r[i]) == 0);
		}
		for (int i = 0; i < 4; i++) {
			pthread_join(th[i], NULL);
			CHECK(r[i].err == 0);
		}
		CHECK_OK(gmem_file_stats(f, &st));
		if (gmem_file_backend(f) == GMEM_BACKEND_MEMFD) {
			CHECK(fstat(gmem_file_fd(f), &sb) == 0);
			CHECK((uint64_t)sb.st_blocks * 512 == st.populated_bytes);
		} else {
			CHECK(kernel_cached(gmem_file_fd(f)) ==
			      (int64_t)st.populated_bytes);
		}
	}
}

static void racing_same_range_memfd(void)
{
	struct gmem_file *f = make_memfd(256 * KIB);

	CHECK(f);
	racing_same_range(f);
	CHECK_OK(gmem_file_close(f));
}

static void racing_same_range_guest_memfd(void)
{
	struct gmem_file_args a = { .size = 256 * KIB,
				    .backend = GMEM_BACKEND_GUEST_MEMFD };
	struct gmem_file *f;
	struct gmem_vm *vm;

	T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	if (kernel_cached(0) == -ENOSYS) {
		t_skip("no cachestat() here (Linux 6.5+): no kernel figure "
		       "for guest_memfd");
		return;
	}
	CHECK_OK(gmem_vm_create(&vm));
	a.vm = vm;
	CHECK_OK(gmem_file_create(&a, &f));
	racing_same_range(f);
	CHECK_OK(gmem_file_close(f));
	CHECK_OK(gmem_vm_close(vm));
}

static const struct t_case cases[] = {
	T_CASE(populate_accounts_exactly),
	T_CASE(populate_and_discard_move_blocks),
	T_CASE(discard_zeroes_only_the_range_memfd),
	T_CASE(discard_zeroes_only_the_range_guest_memfd),
	T_CASE(bad_ranges),
	T_CASE(concurrent_ranges_keep_exact_figures),
	T_CASE(racing_same_range_memfd),
	T_CASE(racing_same_range_guest_memfd),
};
T_MAIN(cases)
