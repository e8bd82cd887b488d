// SPDX-License-Identifier: MIT
/*
 * test_stress.c - vCPUs (of two VMs at once) read and write generation
 * numbers over their memory while other threads discard, populate and
 * rebind memslots under them.  The guest (guest/progs/stress.c) checks every page on every pass:
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
#define VCPUS 2

struct stress {
	struct guest g;
	struct gmem_file *churn;
	volatile struct guest_stress_ctl *ctl;
	volatile bool stop;
	int err;
	char why[256];
	uint64_t discards, populates, rebinds;
	int ret;			/* guest_run's */
	struct guest_ucall uc;		/* how the guest ended */
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

/* One guest and its vCPU, running on a thread of its own. */
static void *runner(void *arg)
{
	struct stress *s = arg;

	s->ret = guest_run(&s->g, &s->uc);
	s->stop = true;
	return NULL;
}

/* A guest on its own RAM file of backend, with the shared churn file. */
static bool stress_start(struct stress *s, enum gmem_backend backend,
			 struct gmem_file *churn)
{
	struct guest_config cfg = { .backend = backend,
				    .ram_size = 16 * MIB };
	uint64_t args[4] = { AREA_GPA, AREA_PAGES, PASSES, CHURN_GPA };

	if (guest_create(&s->g, &cfg) < 0) {
		t_fail(__FILE__, __LINE__, "guest_create: %s", s->g.error);
		return false;
	}
	s->g.unbacked_reads_ones = true;
	s->ctl = (volatile struct guest_stress_ctl *)(s->g.ram_host +
						       GUEST_STRESS_CTL_GPA);
	memset((void *)s->ctl, 0, sizeof(*s->ctl));
	s->churn = churn;
	if (guest_load(&s->g, "stress", args) < 0) {
		t_fail(__FILE__, __LINE__, "guest_load: %s", s->g.error);
		guest_destroy(&s->g);
		return false;
	}
	return true;
}

static void stress_report(struct stress *s, enum gmem_backend backend)
{
	if (s->ret < 0)
		t_fail(__FILE__, __LINE__, "guest: %s (after %llu passes, %llu "
		       "discards)", s->g.error,
		       (unsigned long long)s->ctl->passes,
		       (unsigned long long)s->discards);
	CHECK(s->ret == 0 && s->uc.cmd == UCALL_DONE);
	CHECK(s->uc.arg[0] == AREA_PAGES * PASSES);
	if (s->err)
		t_fail(__FILE__, __LINE__, "%s", s->why);
	/* The churn really happened under the running vCPU. */
	CHECK(s->discards > 0 && s->populates > 0 && s->rebinds > 0);
	printf("# %s: %llu pages checked, %llu discards, %llu populates, "
	       "%llu rebinds, %llu unbacked reads\n", gmem_backend_name(backend),
	       (unsigned long long)s->uc.arg[0],
	       (unsigned long long)s->discards,
	       (unsigned long long)s->populates,
	       (unsigned long long)s->rebinds,
	       (unsigned long long)s->g.mmio_exits);
}

/*
 * VCPUS guests (one vCPU each) run at once, each with a discarder, a
 * populater and a rebinder of its own; the churn file is bound into every
 * VM by turns, at once.
 */
static void stress(enum gmem_backend backend)
{
	struct gmem_file_args fa = { .size = 2 * MIB,
				     .backend = GMEM_BACKEND_MEMFD };
	void *(*fn[4])(void *) = { discarder, populater, rebinder, runner };
	pthread_t th[VCPUS][4];
	struct gmem_file *churn;
	struct stress *s;
	int n = 0;

	T_SKIP_UNLESS(t_need_kvm());
	if (backend == GMEM_BACKEND_GUEST_MEMFD)
		T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	s = calloc(VCPUS, sizeof(*s));
	CHECK(s);
	CHECK_OK(gmem_file_create(&fa, &churn));
	*(uint64_t *)gmem_file_host_addr(churn) = GUEST_STRESS_CHURN_WORD;
	for (; n < VCPUS && stress_start(&s[n], backend, churn); n++)
		;
	for (int v = 0; v < n; v++)
		for (int i = 0; i < 4; i++)
			CHECK(pthread_create(&th[v][i], NULL, fn[i], &s[v]) == 0);
	for (int v = 0; v < n; v++)
		for (int i = 0; i < 4; i++)
			pthread_join(th[v][i], NULL);
	for (int v = 0; v < n; v++) {
		if (n == VCPUS)
			stress_report(&s[v], backend);
		guest_destroy(&s[v].g);
	}
	CHECK_OK(gmem_file_close(churn));
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
