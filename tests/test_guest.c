// SPDX-License-Identifier: MIT
/*
 * test_guest.c - claims checked from inside real guests: the runner works,
 * host and guest see each other's bytes, discards reach the guest, and two
 * slots of one file alias at the right offsets.
 */
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/mempolicy.h>

#include "harness.h"
#include "runner.h"

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define SEED 0x5eed

/* Start a guest with RAM on backend; false (skip or fail noted) if not. */
static bool start(struct guest *g, enum gmem_backend backend, uint64_t ram)
{
	struct guest_config cfg = { 0 };

	if (!t_need_kvm())
		return false;
	if (backend == GMEM_BACKEND_GUEST_MEMFD && !t_need_guest_memfd_mmap())
		return false;
	/* Room for the RAM and one more file of up to 8 MiB. */
	if (backend == GMEM_BACKEND_HUGETLB &&
	    !t_hugepool_set(2 * MIB, ram / (2 * MIB) + 4))
		return false;
	cfg.backend = backend;
	cfg.ram_size = ram;
	if (guest_create(g, &cfg) < 0) {
		t_fail(__FILE__, __LINE__, "guest_create: %s", g->error);
		return false;
	}
	return true;
}

#define MEMCMD(g, op, a, b, c, d, res)					\
	do {								\
		if (guest_memcmd(g, op, a, b, c, d, res) < 0) {		\
			t_fail(__FILE__, __LINE__, "memcmd %s: %s", #op,	\
			       (g)->error);				\
			guest_destroy(g);				\
			return;						\
		}							\
	} while (0)

static void runner_passes_args_and_results(void)
{
	uint64_t args[4] = { 1, 2, 3, 4 };
	struct guest_ucall uc;
	struct guest g;

	T_SKIP_UNLESS(start(&g, GMEM_BACKEND_MEMFD, 4 * MIB));
	CHECK(guest_load(&g, "selftest", args) == 0);
	CHECK(guest_run(&g, &uc) == 0);
	CHECK(uc.cmd == UCALL_VALUE && uc.arg[0] == 1 && uc.arg[1] == 10);
	CHECK(guest_run(&g, &uc) == 0);
	CHECK(uc.cmd == UCALL_VALUE && uc.arg[0] == 2 && uc.arg[1] == 6765);
	CHECK(guest_run(&g, &uc) == 0);
	CHECK(uc.cmd == UCALL_DONE && uc.arg[0] == 63 * 2 + 4);
	CHECK(guest_load(&g, "no-such-program", NULL) == -ENOENT);
	guest_destroy(&g);
}

static void runner_reports_guest_assertions(void)
{
	uint64_t args[4] = { 0xa55e47, 5, 6, 0 };
	struct guest_ucall uc;
	struct guest g;
	char want[64];
	uint64_t line;

	T_SKIP_UNLESS(start(&g, GMEM_BACKEND_MEMFD, 4 * MIB));
	CHECK(guest_load(&g, "selftest", args) == 0);
	CHECK(guest_run(&g, &uc) == 0 && uc.cmd == UCALL_VALUE);
	CHECK(guest_run(&g, &uc) == 0 && uc.cmd == UCALL_VALUE);
	CHECK(guest_run(&g, &uc) == 0 && uc.arg[0] == 3);
	line = uc.arg[1];
	CHECK(guest_run(&g, &uc) == -EFAULT);
	snprintf(want, sizeof(want), "line %llu (0x5 vs 0x6)",
		 (unsigned long long)line);
	CHECK(strstr(g.error, want));
	CHECK(strstr(g.error, "selftest"));
	guest_destroy(&g);
}

static void runner_reports_unbacked_access(void)
{
	struct guest g;
	uint64_t v;

	T_SKIP_UNLESS(start(&g, GMEM_BACKEND_MEMFD, 4 * MIB));
	CHECK(guest_memcmd_start(&g) == 0);
	CHECK(guest_memcmd(&g, MEMCMD_READ64, 3 * GIB, 0, 0, 0, &v) == -EFAULT);
	CHECK(strstr(g.error, "unbacked guest-physical 0xc0000000"));
	guest_destroy(&g);
}

/* The guest reads what the host wrote, and the host what the guest wrote. */
static void host_guest_exchange(enum gmem_backend backend)
{
	/* Word by word: 256 KiB proves every byte arrives, and stays quick
	 * where KVM emulates each guest instruction. */
	const uint64_t area = 4 * MIB, len = 256 * KIB;
	uint64_t *host, res;
	struct guest g;

	T_SKIP_UNLESS(start(&g, backend, 16 * MIB));
	host = (uint64_t *)(g.ram_host + area);
	for (uint64_t i = 0; i < len / 8; i++)
		host[i] = guest_pattern(SEED, i);
	CHECK(guest_memcmd_start(&g) == 0);
	MEMCMD(&g, MEMCMD_CHECK, area, len, SEED, 0, &res);
	CHECK(res == GUEST_CHECK_OK);
	MEMCMD(&g, MEMCMD_FILL, area + len, len, SEED + 1, 0, NULL);
	host = (uint64_t *)(g.ram_host + area + len);
	for (uint64_t i = 0; i < len / 8; i++)
		CHECK(host[i] == guest_pattern(SEED + 1, i));
	CHECK(guest_memcmd_stop(&g) == 0);
	guest_destroy(&g);
}

static void exchange_memfd(void)
{
	host_guest_exchange(GMEM_BACKEND_MEMFD);
}

static void exchange_guest_memfd(void)
{
	host_guest_exchange(GMEM_BACKEND_GUEST_MEMFD);
}

static void exchange_hugetlb(void)
{
	host_guest_exchange(GMEM_BACKEND_HUGETLB);
}

/*
 * After a discard returns, the guest reads zeros there and only there:
 * every page is checked (one word each), and the pages at the edges of
 * the hole word by word.
 */
static void discard_seen_by_guest(enum gmem_backend backend)
{
	const uint64_t start_gpa = GUEST_BOOT_SIZE, len = 8 * MIB;
	const uint64_t hole = 4 * MIB, hole_len = 2 * MIB, pg = 4 * KIB;
	struct guest g;
	uint64_t res;

	T_SKIP_UNLESS(start(&g, backend, 16 * MIB));
	CHECK(guest_memcmd_start(&g) == 0);
	for (int round = 0; round < 2; round++) {
		uint64_t seed = SEED + round;

		/* The guest maps every page before the discard. */
		MEMCMD(&g, MEMCMD_FILL_PAGES, start_gpa, len, seed, 0, NULL);
		MEMCMD(&g, MEMCMD_FILL, hole - pg, pg, seed, 0, NULL);
		MEMCMD(&g, MEMCMD_FILL, hole, pg, seed, pg, NULL);
		MEMCMD(&g, MEMCMD_FILL, hole + hole_len, pg, seed, 2 * pg, NULL);
		CHECK_OK(gmem_discard(g.ram, hole, hole_len));
		MEMCMD(&g, MEMCMD_CHECK_ZERO_PAGES, hole, hole_len,
		       hole - start_gpa, 0, &res);
		CHECK(res == GUEST_CHECK_OK);
		MEMCMD(&g, MEMCMD_CHECK_ZERO, hole, pg, 0, 0, &res);
		CHECK(res == GUEST_CHECK_OK);
		MEMCMD(&g, MEMCMD_CHECK, hole - pg, pg, seed, 0, &res);
		CHECK(res == GUEST_CHECK_OK);
		MEMCMD(&g, MEMCMD_CHECK, hole + hole_len, pg, seed, 2 * pg, &res);
		CHECK(res == GUEST_CHECK_OK);
		/* The edge pages were rewritten word by word: skip them here. */
		MEMCMD(&g, MEMCMD_CHECK_PAGES, start_gpa, hole - pg - start_gpa,
		       seed, 0, &res);
		CHECK(res == GUEST_CHECK_OK);
		MEMCMD(&g, MEMCMD_CHECK_PAGES, hole + hole_len + pg,
		       start_gpa + len - hole - hole_len - pg, seed,
		       hole + hole_len + pg - start_gpa, &res);
		CHECK(res == GUEST_CHECK_OK);
	}
	CHECK(guest_memcmd_stop(&g) == 0);
	guest_destroy(&g);
}

static void discard_memfd(void)
{
	discard_seen_by_guest(GMEM_BACKEND_MEMFD);
}

static void discard_guest_memfd(void)
{
	discard_seen_by_guest(GMEM_BACKEND_GUEST_MEMFD);
}

static void discard_hugetlb(void)
{
	discard_seen_by_guest(GMEM_BACKEND_HUGETLB);
}

/*
 * One 8 MiB file in two slots: [0, 4M) at 1 GiB and [2M, 6M) at 2 GiB.
 * Byte k of the second slot is byte 2M + k of the first.
 */
static void two_slots_alias(enum gmem_backend backend)
{
	struct gmem_file_args fa = { 0 };
	struct gmem_bind_args ba = { 0 };
	struct gmem_binding *b1 = NULL, *b2 = NULL;
	struct gmem_file *f = NULL;
	struct guest g;
	uint64_t res, *host;

	T_SKIP_UNLESS(start(&g, backend, 4 * MIB));
	fa.size = 8 * MIB;
	fa.backend = backend;
	fa.vm = g.vm;
	CHECK_OK(gmem_file_create(&fa, &f));
	ba.slot = GMEM_SLOT_ANY;
	ba.length = 4 * MIB;
	ba.gpa = 1 * GIB;
	CHECK_OK(gmem_bind(g.vm, f, &ba, &b1));
	ba.offset = 2 * MIB;
	ba.gpa = 2 * GIB;
	CHECK_OK(gmem_bind(g.vm, f, &ba, &b2));
	CHECK(guest_memcmd_start(&g) == 0);

	MEMCMD(&g, MEMCMD_FILL_PAGES, 1 * GIB, 4 * MIB, SEED, 0, NULL);
	MEMCMD(&g, MEMCMD_CHECK_PAGES, 2 * GIB, 2 * MIB, SEED, 2 * MIB, &res);
	CHECK(res == GUEST_CHECK_OK);
	/* Past the first slot's end, the second slot reaches file offset 4M. */
	MEMCMD(&g, MEMCMD_WRITE64, 2 * GIB + 2 * MIB + 8, 0xfeedULL, 0, 0, NULL);
	host = gmem_file_host_addr(f);
	CHECK(host[(4 * MIB + 8) / 8] == 0xfeed);
	CHECK(guest_host_check_pages(host, 4 * MIB, SEED, 0, false) ==
	      GUEST_CHECK_OK);
	/* A discard through the file reaches both views. */
	CHECK_OK(gmem_discard(f, 2 * MIB, 2 * MIB));
	MEMCMD(&g, MEMCMD_CHECK_ZERO_PAGES, 1 * GIB + 2 * MIB, 2 * MIB, 2 * MIB,
	       0, &res);
	CHECK(res == GUEST_CHECK_OK);
	MEMCMD(&g, MEMCMD_CHECK_ZERO_PAGES, 2 * GIB, 2 * MIB, 2 * MIB, 0, &res);
	CHECK(res == GUEST_CHECK_OK);
	MEMCMD(&g, MEMCMD_READ64, 2 * GIB + 2 * MIB + 8, 0, 0, 0, &res);
	CHECK(res == 0xfeed);
	CHECK(guest_memcmd_stop(&g) == 0);
	CHECK_OK(gmem_unbind(b1));
	CHECK_OK(gmem_unbind(b2));
	CHECK_OK(gmem_file_close(f));
	guest_destroy(&g);
}

static void alias_memfd(void)
{
	two_slots_alias(GMEM_BACKEND_MEMFD);
}

/*
 * guest_memfd: KVM maps each byte through one memslot only, so two slots
 * of one file take disjoint ranges ([0, 4M) at 1 GiB, [4M, 8M) at 2 GiB),
 * and each must land at its own offset.  An overlapping slot is refused.
 */
static void alias_guest_memfd(void)
{
	struct gmem_file_args fa = { 0 };
	struct gmem_bind_args ba = { 0 };
	struct gmem_binding *b1 = NULL, *b2 = NULL, *b3 = NULL;
	struct gmem_file *f = NULL;
	struct guest g;
	uint64_t res, *host;

	T_SKIP_UNLESS(start(&g, GMEM_BACKEND_GUEST_MEMFD, 4 * MIB));
	fa.size = 8 * MIB;
	fa.backend = GMEM_BACKEND_GUEST_MEMFD;
	fa.vm = g.vm;
	CHECK_OK(gmem_file_create(&fa, &f));
	ba.slot = GMEM_SLOT_ANY;
	ba.length = 4 * MIB;
	ba.gpa = 1 * GIB;
	CHECK_OK(gmem_bind(g.vm, f, &ba, &b1));
	ba.offset = 2 * MIB;
	ba.gpa = 2 * GIB;
	CHECK_ERR(gmem_bind(g.vm, f, &ba, &b3), EEXIST);
	CHECK(strstr(gmem_last_error(), "one memslot only"));
	ba.offset = 4 * MIB;
	CHECK_OK(gmem_bind(g.vm, f, &ba, &b2));
	CHECK(guest_memcmd_start(&g) == 0);
	MEMCMD(&g, MEMCMD_FILL_PAGES, 1 * GIB, 4 * MIB, SEED, 0, NULL);
	MEMCMD(&g, MEMCMD_FILL_PAGES, 2 * GIB, 4 * MIB, SEED, 4 * MIB, NULL);
	host = gmem_file_host_addr(f);
	CHECK(guest_host_check_pages(host, 8 * MIB, SEED, 0, false) ==
	      GUEST_CHECK_OK);
	/* A discard through the file reaches both slots. */
	CHECK_OK(gmem_discard(f, 2 * MIB, 4 * MIB));
	MEMCMD(&g, MEMCMD_CHECK_ZERO_PAGES, 1 * GIB + 2 * MIB, 2 * MIB, 2 * MIB,
	       0, &res);
	CHECK(res == GUEST_CHECK_OK);
	MEMCMD(&g, MEMCMD_CHECK_ZERO_PAGES, 2 * GIB, 2 * MIB, 4 * MIB, 0, &res);
	CHECK(res == GUEST_CHECK_OK);
	MEMCMD(&g, MEMCMD_CHECK_PAGES, 2 * GIB + 2 * MIB, 2 * MIB, SEED,
	       6 * MIB, &res);
	CHECK(res == GUEST_CHECK_OK);
	CHECK(guest_memcmd_stop(&g) == 0);
	CHECK_OK(gmem_unbind(b1));
	CHECK_OK(gmem_unbind(b2));
	CHECK_OK(gmem_file_close(f));
	guest_destroy(&g);
}

static void alias_hugetlb(void)
{
	two_slots_alias(GMEM_BACKEND_HUGETLB);
}

/* Populated memory reads as zeros in the guest and counts exactly once. */
static void populated_memory_reads_zero(void)
{
	struct gmem_file_stats st;
	struct guest g;
	uint64_t res;

	T_SKIP_UNLESS(start(&g, GMEM_BACKEND_AUTO, 16 * MIB));
	CHECK_OK(gmem_populate(g.ram, GUEST_BOOT_SIZE, 8 * MIB));
	CHECK(guest_memcmd_start(&g) == 0);
	MEMCMD(&g, MEMCMD_CHECK_ZERO_PAGES, GUEST_BOOT_SIZE, 8 * MIB, 0, 0,
	       &res);
	CHECK(res == GUEST_CHECK_OK);
	MEMCMD(&g, MEMCMD_CHECK_ZERO, GUEST_BOOT_SIZE, 64 * KIB, 0, 0, &res);
	CHECK(res == GUEST_CHECK_OK);
	MEMCMD(&g, MEMCMD_TOUCH, GUEST_BOOT_SIZE, 8 * MIB, 4096, 0, &res);
	CHECK(res == 8 * MIB / 4096);
	CHECK(guest_memcmd_stop(&g) == 0);
	CHECK_OK(gmem_file_stats(g.ram, &st));
	CHECK(st.populated_bytes == 8 * MIB);
	guest_destroy(&g);
}

/*
 * A guest whose whole RAM, boot region included, is one 1 GiB page: it
 * reads what the host wrote and the host reads what it wrote, at the top of
 * the page too.
 */
static void exchange_hugetlb_1g(void)
{
	struct guest_config cfg = { 0 };
	const uint64_t top = GIB - 4 * MIB;
	struct gmem_file_stats st;
	uint64_t *host, res;
	struct guest g;

	T_SKIP_UNLESS(t_need_kvm());
	T_SKIP_UNLESS(t_hugepool_set(GIB, 1));
	cfg.backend = GMEM_BACKEND_HUGETLB;
	cfg.page_size = GIB;
	cfg.ram_size = GIB;
	if (guest_create(&g, &cfg) < 0) {
		t_fail(__FILE__, __LINE__, "guest_create: %s", g.error);
		return;
	}
	CHECK(gmem_file_page_size(g.ram) == GIB);
	host = (uint64_t *)(g.ram_host + top);
	for (uint64_t i = 0; i < 256 * KIB / 8; i++)
		host[i] = guest_pattern(SEED, i);
	CHECK(guest_memcmd_start(&g) == 0);
	MEMCMD(&g, MEMCMD_CHECK, top, 256 * KIB, SEED, 0, &res);
	CHECK(res == GUEST_CHECK_OK);
	MEMCMD(&g, MEMCMD_FILL_PAGES, top + 2 * MIB, 2 * MIB, SEED + 1, 0, NULL);
	CHECK(guest_host_check_pages(host + 2 * MIB / 8, 2 * MIB, SEED + 1, 0,
				     false) == GUEST_CHECK_OK);
	CHECK(guest_memcmd_stop(&g) == 0);
	CHECK_OK(gmem_file_stats(g.ram, &st));
	CHECK(st.hugepages == 1);
	guest_destroy(&g);
}

/*
 * A guest_memfd the caller asks not to see (GMEM_FILE_NO_HOST_MAP) is still
 * the guest's memory: it writes and reads it, and a discard zeroes it.  It
 * works on KVMs that reach shared memory only through the memslot's
 * userspace_addr, because the library maps it for the memslot anyway.
 */
static void guest_memfd_without_host_map(void)
{
	struct gmem_file_args fa = { 0 };
	struct gmem_bind_args ba = { 0 };
	struct gmem_file_stats st;
	struct gmem_binding *b;
	struct gmem_file *f;
	struct guest g;
	uint64_t res;

	T_SKIP_UNLESS(start(&g, GMEM_BACKEND_GUEST_MEMFD, 4 * MIB));
	fa.size = 4 * MIB;
	fa.backend = GMEM_BACKEND_GUEST_MEMFD;
	fa.flags = GMEM_FILE_NO_HOST_MAP;
	fa.vm = g.vm;
	CHECK_OK(gmem_file_create(&fa, &f));
	CHECK(gmem_file_host_addr(f) == NULL);
	ba.slot = GMEM_SLOT_ANY;
	ba.length = 4 * MIB;
	ba.gpa = GIB;
	CHECK_OK(gmem_bind(g.vm, f, &ba, &b));
	CHECK_OK(gmem_populate(f, 0, 2 * MIB));
	CHECK(guest_memcmd_start(&g) == 0);
	MEMCMD(&g, MEMCMD_WRITE64, GIB + 8, 42, 0, 0, NULL);
	MEMCMD(&g, MEMCMD_READ64, GIB + 8, 0, 0, 0, &res);
	CHECK(res == 42);
	MEMCMD(&g, MEMCMD_FILL_PAGES, GIB, 4 * MIB, SEED, 0, NULL);
	MEMCMD(&g, MEMCMD_CHECK_PAGES, GIB, 4 * MIB, SEED, 0, &res);
	CHECK(res == GUEST_CHECK_OK);
	CHECK_OK(gmem_discard(f, 0, 2 * MIB));
	MEMCMD(&g, MEMCMD_CHECK_ZERO_PAGES, GIB, 2 * MIB, 0, 0, &res);
	CHECK(res == GUEST_CHECK_OK);
	MEMCMD(&g, MEMCMD_CHECK_PAGES, GIB + 2 * MIB, 2 * MIB, SEED, 2 * MIB,
	       &res);
	CHECK(res == GUEST_CHECK_OK);
	CHECK(guest_memcmd_stop(&g) == 0);
	CHECK_OK(gmem_file_stats(f, &st));
	/* The guest read the hole back in (as fresh zero pages) to check it. */
	CHECK(st.touched_bytes == 4 * MIB);
	CHECK(st.resident_bytes == 4 * MIB);
	CHECK_OK(gmem_unbind(b));
	CHECK_OK(gmem_file_close(f));
	guest_destroy(&g);
}

/* What the guest touches shows in the figures; what is discarded leaves. */
static void guest_touch_is_accounted(enum gmem_backend backend)
{
	struct gmem_file_stats before, after;
	struct guest g;
	uint64_t res;

	T_SKIP_UNLESS(start(&g, backend, 32 * MIB));
	CHECK(guest_memcmd_start(&g) == 0);
	CHECK_OK(gmem_file_stats(g.ram, &before));
	CHECK(before.touched_bytes != GMEM_STATS_UNKNOWN);
	MEMCMD(&g, MEMCMD_TOUCH, 8 * MIB, 16 * MIB, 4096, 0, &res);
	CHECK_OK(gmem_file_stats(g.ram, &after));
	CHECK(after.touched_bytes - before.touched_bytes == 16 * MIB);
	CHECK(after.populated_bytes == 0);
	CHECK_OK(gmem_discard(g.ram, 8 * MIB, 16 * MIB));
	CHECK_OK(gmem_file_stats(g.ram, &after));
	CHECK(after.touched_bytes == before.touched_bytes);
	CHECK(guest_memcmd_stop(&g) == 0);
	guest_destroy(&g);
}

static void touch_accounted_memfd(void)
{
	guest_touch_is_accounted(GMEM_BACKEND_MEMFD);
}

static void touch_accounted_guest_memfd(void)
{
	guest_touch_is_accounted(GMEM_BACKEND_GUEST_MEMFD);
}

/*
 * Memory a guest faults in lazily is placed by the policy too: through the
 * file (mbind) or through the vCPU thread the runner gave the policy.
 */
static void lazy_faults_follow_the_policy(enum gmem_backend backend)
{
	uint64_t nodes[GMEM_MAX_NUMA_NODES] = { 0 };
	struct guest_config cfg = { 0 };
	struct gmem_numa_policy p;
	struct gmem_host h;
	volatile uint8_t *host;
	char list[8];
	struct guest g;
	uint64_t res;
	int n;

	T_SKIP_UNLESS(t_need_kvm());
	if (backend == GMEM_BACKEND_GUEST_MEMFD)
		T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	gmem_probe(&h);
	n = 63 - __builtin_clzll(h.numa_node_mask);	/* the last node */
	snprintf(list, sizeof(list), "%d", n);
	CHECK_OK(gmem_numa_policy_parse("bind", list, &p));
	cfg.backend = backend;
	cfg.ram_size = 16 * MIB;
	cfg.numa = &p;
	CHECK(guest_create(&g, &cfg) == 0);
	CHECK(g.thread_policy ==
	      (gmem_file_numa_method(g.ram) == GMEM_NUMA_VIA_THREAD));
	CHECK(guest_memcmd_start(&g) == 0);
	MEMCMD(&g, MEMCMD_TOUCH, 8 * MIB, 8 * MIB, 4096, 0, &res);
	/* Map the guest's pages here (no allocation) so move_pages sees them. */
	host = g.ram_host;
	for (uint64_t off = 8 * MIB; off < 16 * MIB; off += 4096)
		CHECK(host[off] == 1);
	CHECK(gmem_file_query_nodes(g.ram, 8 * MIB, 8 * MIB, nodes) == 8 * MIB);
	CHECK(nodes[n] == 8 * MIB);
	CHECK(guest_memcmd_stop(&g) == 0);
	guest_destroy(&g);
}

/*
 * Where the runner gives the vCPU thread the RAM's policy, it gives the
 * thread's own back when the guest goes (a VMM thread has its own).
 */
static void runner_restores_the_thread_policy(void)
{
	struct guest_config cfg = { 0 };
	struct gmem_numa_policy bind, pref;
	unsigned long mask = 0;
	struct gmem_host h;
	char list[8];
	struct guest g;
	int mode = -1, n;

	T_SKIP_UNLESS(t_need_kvm());
	gmem_probe(&h);
	n = __builtin_ctzll(h.numa_node_mask);
	snprintf(list, sizeof(list), "%d", n);
	CHECK_OK(gmem_numa_policy_parse("bind", list, &bind));
	CHECK_OK(gmem_numa_policy_parse("preferred", list, &pref));
	CHECK_OK(gmem_numa_bind_thread(&pref));
	cfg.backend = GMEM_BACKEND_AUTO;
	cfg.ram_size = 4 * MIB;
	cfg.numa = &bind;
	CHECK(guest_create(&g, &cfg) == 0);
	guest_destroy(&g);
	CHECK(syscall(SYS_get_mempolicy, &mode, &mask, 8 * sizeof(mask),
		      NULL, 0) == 0);
	CHECK(mode == MPOL_PREFERRED && mask == 1UL << n);
}

static void lazy_policy_memfd(void)
{
	lazy_faults_follow_the_policy(GMEM_BACKEND_MEMFD);
}

static void lazy_policy_guest_memfd(void)
{
	lazy_faults_follow_the_policy(GMEM_BACKEND_GUEST_MEMFD);
}

/* KVM faults a guest takes walking 16 MiB, and the 2 MiB mappings made. */
static int walk_faults(enum gmem_backend backend, uint64_t *faults,
		       uint64_t *maps_2m)
{
	uint64_t before, after, n;
	struct guest g;

	if (!start(&g, backend, 24 * MIB))
		return -1;
	if (guest_memcmd_start(&g) < 0 ||
	    guest_kvm_stat(&g, "pf_taken", &before) < 0 ||
	    guest_memcmd(&g, MEMCMD_TOUCH, 8 * MIB, 16 * MIB, 4096, 0, &n) < 0 ||
	    guest_kvm_stat(&g, "pf_taken", &after) < 0 ||
	    guest_kvm_stat(&g, "pages_2m", maps_2m) < 0) {
		t_fail(__FILE__, __LINE__, "walk on %s: %s",
		       gmem_backend_name(backend), g.error);
		guest_destroy(&g);
		return -1;
	}
	*faults = after - before;
	guest_destroy(&g);
	return 0;
}

/*
 * What holds on every KVM: a 4 KiB walk takes at most one fault per page
 * (fewer where the MMU prefetches neighbours), huge backing never costs
 * more faults than 4 KiB backing, and where KVM maps 2 MiB pages (its
 * pages_2m count says so) the walk takes at least 64 times fewer faults.
 * Shadow-paging KVMs may map 4 KiB over hugetlb (and one seen counts no
 * pf_taken at all); the first two still hold.
 */
static void huge_backing_means_fewer_faults(void)
{
	const uint64_t pages = 16 * MIB / 4096;
	uint64_t small, small_2m, huge, huge_2m;

	T_SKIP_UNLESS(t_need_kvm());
	if (walk_faults(GMEM_BACKEND_MEMFD, &small, &small_2m) < 0 ||
	    walk_faults(GMEM_BACKEND_HUGETLB, &huge, &huge_2m) < 0)
		return;
	CHECK(small <= pages);
	CHECK(huge <= small);
	CHECK(huge_2m <= 24 * MIB / (2 * MIB));
	if (huge_2m >= 8)
		CHECK(huge * 64 <= small);
	printf("# 16 MiB walk: %llu faults on 4 KiB, %llu on 2 MiB pages "
	       "(%llu 2 MiB mappings)\n", (unsigned long long)small,
	       (unsigned long long)huge, (unsigned long long)huge_2m);
	if (!small)
		printf("# this KVM counts no faults, so only the bounds held "
		       "here; make check also runs this case in the emulated "
		       "machine, whose KVM counts them\n");
}

static const struct t_case cases[] = {
	T_CASE(runner_passes_args_and_results),
	T_CASE(runner_reports_guest_assertions),
	T_CASE(runner_reports_unbacked_access),
	T_CASE(exchange_memfd),
	T_CASE(exchange_guest_memfd),
	T_CASE(exchange_hugetlb),
	T_CASE(exchange_hugetlb_1g),
	T_CASE(guest_memfd_without_host_map),
	T_CASE(discard_memfd),
	T_CASE(discard_guest_memfd),
	T_CASE(discard_hugetlb),
	T_CASE(alias_memfd),
	T_CASE(alias_guest_memfd),
	T_CASE(alias_hugetlb),
	T_CASE(populated_memory_reads_zero),
	T_CASE(touch_accounted_memfd),
	T_CASE(touch_accounted_guest_memfd),
	T_CASE(lazy_policy_memfd),
	T_CASE(lazy_policy_guest_memfd),
	T_CASE(runner_restores_the_thread_policy),
	T_CASE(huge_backing_means_fewer_faults),
};
T_MAIN(cases)
