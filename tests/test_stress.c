// SPDX-License-Identifier: MIT
/*
 * test_stress.c - a vCPU reads and writes generation numbers over its
 * memory while other threads discard, populate and rebind memslots under
 * it.  The guest (guest/progs/stress.c) checks every page on every pass:
 * after a discard returns, no stale data is ever visible, and nothing but
 * its own last write or zero ever is.
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "runner.h"

#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

#define AREA_GPA (4 * MIB)
#define AREA_PAGES 1024ULL
#define PASSES 25
#define CHURN_GPA GIB

struct stress {
	struct guest g;
	struct gmem_file *churn;
	volatile struct guest_stress_ctl *ctl;
	volatile bool stop;
	int err;
	char why[256];
	uint64_t discards, populates, rebinds;
};

static void stop_with(struct stress *s, int err, const char *what)
{
	if (!s->err) {
		snprintf(s->why, sizeof(s->why), "%s: %s", what,
			 gmem_last_error());
		s->err = err;
	}
	s->stop = true;
}

static void *discarder(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = 1;

	while (!s->stop) {
		uint64_t p = (uint64_t)rand_r(&seed) % AREA_PAGES;
		uint64_t n = (uint64_t)rand_r(&seed) % 16 + 1, seq;
		int ret;

		if (p + n > AREA_PAGES)
			n = AREA_PAGES - p;
		seq = __atomic_add_fetch(&s->ctl->discard_begun, 1,
					 __ATOMIC_SEQ_CST);
		ret = gmem_discard(s->g.ram, AREA_GPA + p * 4096, n * 4096);
		if (ret < 0) {
			stop_with(s, ret, "discard");
			break;
		}
		/* Only now, with the discard returned, may the guest rely on it. */
		for (uint64_t i = p; i < p + n; i++)
			__atomic_store_n(&s->ctl->discard_done[i], seq,
					 __ATOMIC_RELEASE);
		s->discards++;
	}
	return NULL;
}

static void *populater(void *arg)
{
	struct stress *s = arg;
	unsigned int seed = 2;

	while (!s->stop) {
		uint64_t p = (uint64_t)rand_r(&seed) % AREA_PAGES;
		uint64_t n = (uint64_t)rand_r(&seed) % 64 + 1;
		int ret;

		if (p + n > AREA_PAGES)
			n = AREA_PAGES - p;
		ret = gmem_populate(s->g.ram, AREA_GPA + p * 4096, n * 4096);
		if (ret < 0) {
			stop_with(s, ret, "populate");
			break;
		}
		s->populates++;
	}
	return NULL;
}

/* Memslots come and go while the vCPU runs (the guest reads one). */
static void *rebinder(void *arg)
{
	struct gmem_bind_args a = { .length = 2 * MIB, .gpa = CHURN_GPA,
				    .slot = GMEM_SLOT_ANY };
	struct stress *s = arg;

	while (!s->stop) {
		struct gmem_binding *b;
		int ret = gmem_bind(s->g.vm, s->churn, &a, &b);

		if (ret == 0)
			ret = gmem_unbind(b);
		if (ret < 0) {
			stop_with(s, ret, "rebind");
			break;
		}
		s->rebinds++;
	}
	return NULL;
}

static void stress(enum gmem_backend backend)
{
	struct gmem_file_args fa = { .size = 2 * MIB,
				     .backend = GMEM_BACKEND_MEMFD };
	struct guest_config cfg = { 0 };
	uint64_t args[4] = { AREA_GPA, AREA_PAGES, PASSES, CHURN_GPA };
	void *(*fn[3])(void *) = { discarder, populater, rebinder };
	struct guest_ucall uc;
	struct stress *s;
	pthread_t th[3];
	int ret;

	T_SKIP_UNLESS(t_need_kvm());
	if (backend == GMEM_BACKEND_GUEST_MEMFD)
		T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	s = calloc(1, sizeof(*s));
	CHECK(s);
	cfg.backend = backend;
	cfg.ram_size = 16 * MIB;
	if (guest_create(&s->g, &cfg) < 0) {
		t_fail(__FILE__, __LINE__, "guest_create: %s", s->g.error);
		return;
	}
	s->g.unbacked_reads_ones = true;
	s->ctl = (volatile struct guest_stress_ctl *)(s->g.ram_host +
						       GUEST_STRESS_CTL_GPA);
	memset((void *)s->ctl, 0, sizeof(*s->ctl));
	CHECK_OK(gmem_file_create(&fa, &s->churn));
	*(uint64_t *)gmem_file_host_addr(s->churn) = GUEST_STRESS_CHURN_WORD;
	CHECK(guest_load(&s->g, "stress", args) == 0);
	for (int i = 0; i < 3; i++)
		CHECK(pthread_create(&th[i], NULL, fn[i], s) == 0);
	ret = guest_run(&s->g, &uc);
	s->stop = true;
	for (int i = 0; i < 3; i++)
		pthread_join(th[i], NULL);
	if (ret < 0)
		t_fail(__FILE__, __LINE__, "guest: %s (after %llu passes, %llu "
		       "discards)", s->g.error,
		       (unsigned long long)s->ctl->passes,
		       (unsigned long long)s->discards);
	CHECK(ret == 0 && uc.cmd == UCALL_DONE);
	CHECK(uc.arg[0] == AREA_PAGES * PASSES);
	if (s->err)
		t_fail(__FILE__, __LINE__, "%s", s->why);
	/* The churn really happened under the running vCPU. */
	CHECK(s->discards > 0 && s->populates > 0 && s->rebinds > 0);
	printf("# %s: %llu pages checked, %llu discards, %llu populates, "
	       "%llu rebinds, %llu unbacked reads\n", gmem_backend_name(backend),
	       (unsigned long long)uc.arg[0], (unsigned long long)s->discards,
	       (unsigned long long)s->populates,
	       (unsigned long long)s->rebinds,
	       (unsigned long long)s->g.mmio_exits);
	CHECK_OK(gmem_file_close(s->churn));
	guest_destroy(&s->g);
	free(s);
}

static void stress_memfd(void)
{
	stress(GMEM_BACKEND_MEMFD);
}

static void stress_guest_memfd(void)
{
	stress(GMEM_BACKEND_GUEST_MEMFD);
}

static const struct t_case cases[] = {
	T_CASE(stress_memfd),
	T_CASE(stress_guest_memfd),
};
T_MAIN(cases)
