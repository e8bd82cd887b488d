// SPDX-License-Identifier: MIT
/*
 * test_numa.c - NUMA policies: parsing, every error, placement checked with
 * get_mempolicy/move_pages, and the caller's own policy left alone.  This
 * host may have one node; docs/numa.md says how multi-node is checked.
 */
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/mempolicy.h>

#include "harness.h"
#include "internal.h"	/* white-box: force the thread method on memfd */

#define MIB (1ULL << 20)

static struct gmem_file *make_memfd(uint64_t size)
{
	struct gmem_file_args a = { 0 };
	struct gmem_file *f = NULL;

	a.size = size;
	a.backend = GMEM_BACKEND_MEMFD;
	return gmem_file_create(&a, &f) < 0 ? NULL : f;
}

static int first_node(void)
{
	struct gmem_host h;

	gmem_probe(&h);
	return __builtin_ctzll(h.numa_node_mask);
}

static int missing_node(void)
{
	struct gmem_host h;

	gmem_probe(&h);
	return 63 - __builtin_clzll(h.numa_node_mask) + 1;
}

static void parse_good_policies(void)
{
	struct gmem_numa_policy p;
	char nodes[16];

	snprintf(nodes, sizeof(nodes), "%d", first_node());
	CHECK_OK(gmem_numa_policy_parse("bind", nodes, &p));
	CHECK(p.mode == GMEM_NUMA_BIND && p.nodes == 1ULL << first_node());
	CHECK_OK(gmem_numa_policy_parse("interleave", nodes, &p));
	CHECK(p.mode == GMEM_NUMA_INTERLEAVE);
	CHECK_OK(gmem_numa_policy_parse("preferred", nodes, &p));
	CHECK_OK(gmem_numa_policy_parse("default", NULL, &p));
	CHECK(p.mode == GMEM_NUMA_DEFAULT && p.nodes == 0);
	CHECK_OK(gmem_numa_policy_parse("default", "", &p));
}

static void bad_node_lists(void)
{
	static const char *const bad[] = {
		"a", "1-", "-1", "0,", ",0", "0,,1", "0-1-2", "0 1", "1.5",
	};
	struct gmem_numa_policy p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (gmem_numa_policy_parse("bind", bad[i], &p) != -EINVAL) {
			t_fail(__FILE__, __LINE__, "\"%s\" accepted", bad[i]);
			return;
		}
		CHECK(strstr(gmem_last_error(), "bad node list"));
	}
	CHECK_ERR(gmem_numa_policy_parse("bind", "3-1", &p), EINVAL);
	CHECK(strstr(gmem_last_error(), "backwards"));
	CHECK_ERR(gmem_numa_policy_parse("bind", "64", &p), EINVAL);
	CHECK(strstr(gmem_last_error(), "beyond"));
}

static void bad_policies(void)
{
	struct gmem_numa_policy p = { 0 };
	char nodes[16];

	CHECK_ERR(gmem_numa_policy_parse("spread", "0", &p), EINVAL);
	CHECK(strstr(gmem_last_error(), "unknown policy"));
	CHECK_ERR(gmem_numa_policy_parse("bind", NULL, &p), EINVAL);
	CHECK(strstr(gmem_last_error(), "at least one node"));
	CHECK_ERR(gmem_numa_policy_parse("default", "0", &p), EINVAL);
	CHECK(strstr(gmem_last_error(), "takes no nodes"));
	CHECK_ERR(gmem_numa_policy_parse("preferred", "0-1", &p), EINVAL);
	CHECK(strstr(gmem_last_error(), "exactly one"));
	CHECK_ERR(gmem_numa_policy_parse(NULL, "0", &p), EINVAL);
	CHECK_ERR(gmem_numa_policy_parse("bind", "0", NULL), EINVAL);
	/* A node that does not exist here. */
	snprintf(nodes, sizeof(nodes), "%d", missing_node());
	CHECK_ERR(gmem_numa_policy_parse("bind", nodes, &p), EINVAL);
	CHECK(strstr(gmem_last_error(), "does not exist"));
	/* Raw structs are checked the same way. */
	p = (struct gmem_numa_policy){ .mode = 9, .nodes = 1 };
	CHECK_ERR(gmem_numa_bind_thread(&p), EINVAL);
	p = (struct gmem_numa_policy){ .mode = GMEM_NUMA_BIND, .nodes = 1,
				       .reserved = { 1 } };
	CHECK_ERR(gmem_numa_bind_thread(&p), EINVAL);
	CHECK_ERR(gmem_numa_bind_thread(NULL), EINVAL);
	/* The same rules for a policy given as a struct, to a thread or a file. */
	{
		struct gmem_file *f = make_memfd(4 * MIB);
		const struct gmem_numa_policy bad[] = {
			{ .mode = GMEM_NUMA_DEFAULT, .nodes = 1 },
			{ .mode = GMEM_NUMA_BIND },
			{ .mode = GMEM_NUMA_INTERLEAVE },
			{ .mode = GMEM_NUMA_PREFERRED, .nodes = 3 },
			{ .mode = GMEM_NUMA_BIND,
			  .nodes = 1ULL << missing_node() },
		};

		CHECK(f);
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			CHECK_ERR(gmem_numa_bind_thread(&bad[i]), EINVAL);
			CHECK_ERR(gmem_file_set_numa_policy(f, 0, 4 * MIB,
							    &bad[i]), EINVAL);
		}
		CHECK_OK(gmem_file_close(f));
	}
}

static long get_policy(int *mode, unsigned long *mask, void *addr)
{
	return syscall(SYS_get_mempolicy, mode, mask, GMEM_MAX_NUMA_NODES + 1,
		       addr, addr ? MPOL_F_ADDR : 0);
}

/* memfd: the policy lives in the file (mbind), so the mapping reports it,
 * populate allocates there, and move_pages finds the pages there. */
static void memfd_bind_places_pages(void)
{
	struct gmem_file *f = make_memfd(8 * MIB);
	struct gmem_numa_policy p;
	struct gmem_file_stats st;
	uint64_t nodes[GMEM_MAX_NUMA_NODES] = { 0 };
	unsigned long mask = 0;
	char list[16];
	uint8_t *mem;
	int mode = -1, n = first_node();

	CHECK(f);
	CHECK(gmem_file_numa_method(f) == GMEM_NUMA_VIA_MBIND);
	snprintf(list, sizeof(list), "%d", n);
	CHECK_OK(gmem_numa_policy_parse("bind", list, &p));
	CHECK_OK(gmem_file_set_numa_policy(f, 2 * MIB, 4 * MIB, &p));
	mem = gmem_file_host_addr(f);
	CHECK(get_policy(&mode, &mask, mem + 2 * MIB) == 0);
	CHECK(mode == MPOL_BIND && mask == 1UL << n);
	CHECK(get_policy(&mode, &mask, mem) == 0 && mode == MPOL_DEFAULT);
	CHECK_OK(gmem_populate(f, 0, 8 * MIB));
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.node_bytes[n] + st.unknown_node_bytes == 8 * MIB);
	CHECK(st.node_bytes[n] >= 4 * MIB);
	/* Map the pages here so move_pages can see them. */
	memset(mem, 1, 8 * MIB);
	CHECK(gmem_file_query_nodes(f, 2 * MIB, 4 * MIB, nodes) == 4 * MIB);
	CHECK(nodes[n] == 4 * MIB);
	CHECK_OK(gmem_file_close(f));
}

static void policy_after_populate_is_ebusy(void)
{
	struct gmem_file *f = make_memfd(4 * MIB);
	struct gmem_numa_policy p;
	char list[16];

	CHECK(f);
	snprintf(list, sizeof(list), "%d", first_node());
	CHECK_OK(gmem_numa_policy_parse("bind", list, &p));
	CHECK_OK(gmem_populate(f, MIB, MIB));
	CHECK_ERR(gmem_file_set_numa_policy(f, 0, 4 * MIB, &p), EBUSY);
	CHECK(strstr(gmem_last_error(), "already populated"));
	/* The rest of the file is still free to place; after a discard too. */
	CHECK_OK(gmem_file_set_numa_policy(f, 2 * MIB, 2 * MIB, &p));
	CHECK_OK(gmem_discard(f, MIB, MIB));
	CHECK_OK(gmem_file_set_numa_policy(f, 0, 2 * MIB, &p));
	CHECK_OK(gmem_file_close(f));
}

static void bad_policy_ranges(void)
{
	struct gmem_file *f = make_memfd(4 * MIB);
	struct gmem_numa_policy p = { 0 };

	CHECK(f);
	CHECK_ERR(gmem_file_set_numa_policy(f, 0, 5 * MIB, &p), ERANGE);
	CHECK_ERR(gmem_file_set_numa_policy(f, 1, 4096, &p), EINVAL);
	CHECK_ERR(gmem_file_set_numa_policy(f, 0, 0, &p), EINVAL);
	CHECK_ERR(gmem_file_set_numa_policy(f, 0, 4096, NULL), EINVAL);
	CHECK_ERR(gmem_file_set_numa_policy(NULL, 0, 4096, &p), EINVAL);
	CHECK_ERR(gmem_file_set_numa_policy(f, ~0ULL << 12, 8192, &p),
		  EOVERFLOW);
	p.mode = 77;
	CHECK_ERR(gmem_file_set_numa_policy(f, 0, 4096, &p), EINVAL);
	CHECK_ERR(gmem_file_query_nodes(f, 0, 4096, NULL), EINVAL);
	{
		uint64_t nodes[GMEM_MAX_NUMA_NODES] = { 0 };

		CHECK_ERR(gmem_file_query_nodes(NULL, 0, 4096, nodes), EINVAL);
		CHECK_ERR(gmem_file_query_nodes(f, 0, 0, nodes), EINVAL);
		CHECK_ERR(gmem_file_query_nodes(f, 1, 4096, nodes), EINVAL);
		CHECK_ERR(gmem_file_query_nodes(f, 0, 5 * MIB, nodes), ERANGE);
		CHECK_ERR(gmem_file_query_nodes(f, ~0ULL << 12, 8192, nodes),
			  EOVERFLOW);
	}
	CHECK_ERR(gmem_file_numa_method(NULL), EINVAL);
	CHECK_ERR(gmem_file_node_bytes(f, 1U << 20), ERANGE);
	CHECK_ERR(gmem_file_node_bytes(NULL, 0), EINVAL);
	CHECK(gmem_file_node_bytes(f, 0) == 0);
	CHECK_OK(gmem_file_close(f));
}

/*
 * Where the file cannot hold a policy (guest_memfd before 6.19), populate
 * takes it on the calling thread and then gives the caller's back.
 */
static void thread_method_restores_callers_policy(void)
{
	struct gmem_file *f = make_memfd(4 * MIB);
	struct gmem_numa_policy bind, pref;
	struct gmem_file_stats st;
	unsigned long mask = 0;
	char list[16];
	void *saved;
	int mode = -1, n = first_node();

	CHECK(f);
	snprintf(list, sizeof(list), "%d", n);
	CHECK_OK(gmem_numa_policy_parse("bind", list, &bind));
	CHECK_OK(gmem_numa_policy_parse("preferred", list, &pref));
	saved = f->map;
	f->map = NULL;	/* as a guest_memfd without mbind looks */
	CHECK(gmem_file_numa_method(f) == GMEM_NUMA_VIA_THREAD);
	CHECK_OK(gmem_file_set_numa_policy(f, 0, 2 * MIB, &bind));
	CHECK_OK(gmem_numa_bind_thread(&pref));
	CHECK_OK(gmem_populate(f, 0, 4 * MIB));
	CHECK(get_policy(&mode, &mask, NULL) == 0);
	f->map = saved;
	CHECK(mode == MPOL_PREFERRED && mask == 1UL << n);
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.node_bytes[n] >= 2 * MIB);
	/* And the default policy back for the rest of this process. */
	pref = (struct gmem_numa_policy){ 0 };
	CHECK_OK(gmem_numa_bind_thread(&pref));
	CHECK(get_policy(&mode, &mask, NULL) == 0 && mode == MPOL_DEFAULT);
	CHECK_OK(gmem_file_close(f));
}

/* The policy a VMM gives its vCPU threads, for memory faulted lazily. */
static void bind_thread_sets_the_thread_policy(void)
{
	struct gmem_numa_policy p;
	unsigned long mask = 0;
	char list[16];
	int mode = -1;

	snprintf(list, sizeof(list), "%d", first_node());
	CHECK_OK(gmem_numa_policy_parse("interleave", list, &p));
	CHECK_OK(gmem_numa_bind_thread(&p));
	CHECK(get_policy(&mode, &mask, NULL) == 0);
	CHECK(mode == MPOL_INTERLEAVE && mask == 1UL << first_node());
	p = (struct gmem_numa_policy){ 0 };
	CHECK_OK(gmem_numa_bind_thread(&p));
}

/*
 * Two or more nodes: bind puts every page on the chosen node, and a file's
 * interleave spreads pages evenly.  One-node hosts skip; docs/numa.md says
 * where this runs (a two-node emulated machine, tests/vm).
 */
static void multi_node_placement(void)
{
	uint64_t nodes[GMEM_MAX_NUMA_NODES] = { 0 };
	struct gmem_numa_policy p = { 0 };
	struct gmem_file_stats st;
	struct gmem_host h;
	struct gmem_file *f;
	int a, b;

	gmem_probe(&h);
	if (h.nr_numa_nodes < 2) {
		t_skip("this host has one NUMA node");
		return;
	}
	a = __builtin_ctzll(h.numa_node_mask);
	b = 63 - __builtin_clzll(h.numa_node_mask);
	f = make_memfd(16 * MIB);
	CHECK(f);
	p.mode = GMEM_NUMA_BIND;
	p.nodes = 1ULL << b;
	CHECK_OK(gmem_file_set_numa_policy(f, 0, 8 * MIB, &p));
	p.mode = GMEM_NUMA_INTERLEAVE;
	p.nodes = (1ULL << a) | (1ULL << b);
	CHECK_OK(gmem_file_set_numa_policy(f, 8 * MIB, 8 * MIB, &p));
	CHECK_OK(gmem_populate(f, 0, 16 * MIB));
	memset(gmem_file_host_addr(f), 1, 16 * MIB);
	CHECK(gmem_file_query_nodes(f, 0, 8 * MIB, nodes) == 8 * MIB);
	CHECK(nodes[b] == 8 * MIB);
	memset(nodes, 0, sizeof(nodes));
	CHECK(gmem_file_query_nodes(f, 8 * MIB, 8 * MIB, nodes) == 8 * MIB);
	CHECK(nodes[a] == 4 * MIB && nodes[b] == 4 * MIB);
	/*
	 * The library's own figures are the kernel's where the placement is
	 * certain (bound to one node); interleave is spread by rules of the
	 * kernel's, so it counts as unknown rather than as a guess.
	 */
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.node_bytes[b] == 8 * MIB && st.node_bytes[a] == 0);
	CHECK(st.unknown_node_bytes == 8 * MIB);
	CHECK(gmem_file_node_bytes(f, (unsigned int)b) == 8 * MIB);
	CHECK_OK(gmem_file_close(f));
}

/* hugetlb: populate (fallocate) must land where the policy says. */
static void hugetlb_populate_follows_the_policy(void)
{
	uint64_t nodes[GMEM_MAX_NUMA_NODES] = { 0 };
	struct gmem_file_args a = { 0 };
	struct gmem_numa_policy p = { 0 };
	struct gmem_host h;
	struct gmem_file *f;
	int b;

	gmem_probe(&h);
	if (h.nr_numa_nodes < 2) {
		t_skip("this host has one NUMA node");
		return;
	}
	T_SKIP_UNLESS(t_hugepool_set(2 * MIB, 8));
	b = 63 - __builtin_clzll(h.numa_node_mask);
	a.size = 8 * MIB;
	a.backend = GMEM_BACKEND_HUGETLB;
	CHECK_OK(gmem_file_create(&a, &f));
	p.mode = GMEM_NUMA_BIND;
	p.nodes = 1ULL << b;
	CHECK_OK(gmem_file_set_numa_policy(f, 0, 8 * MIB, &p));
	CHECK_OK(gmem_populate(f, 0, 8 * MIB));
	memset(gmem_file_host_addr(f), 1, 8 * MIB);	/* map, no allocation */
	CHECK(gmem_file_query_nodes(f, 0, 8 * MIB, nodes) == 8 * MIB);
	CHECK(nodes[b] == 8 * MIB);
	CHECK_OK(gmem_file_close(f));
}

/*
 * Whether a guest_memfd keeps a NUMA policy is found by trying, not by
 * kernel version (vendors backport it).  The method the library reports
 * must be what the kernel does: a policy set through the library shows in
 * a fresh mapping of the file exactly when the method says "mbind".
 */
static void guest_memfd_method_is_what_the_kernel_does(void)
{
	struct gmem_file_args a = { .size = 4 * MIB,
				    .backend = GMEM_BACKEND_GUEST_MEMFD };
	struct gmem_numa_policy p;
	unsigned long mask = 0;
	struct gmem_host h;
	struct gmem_file *f;
	struct gmem_vm *vm;
	int mode = -1, method;
	char list[16];
	void *second;

	T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	CHECK_OK(gmem_vm_create(&vm));
	a.vm = vm;
	CHECK_OK(gmem_file_create(&a, &f));
	snprintf(list, sizeof(list), "%d", first_node());
	CHECK_OK(gmem_numa_policy_parse("bind", list, &p));
	CHECK_OK(gmem_file_set_numa_policy(f, 0, 4 * MIB, &p));
	method = gmem_file_numa_method(f);
	second = mmap(NULL, 4 * MIB, PROT_READ | PROT_WRITE, MAP_SHARED,
		      gmem_file_fd(f), 0);
	CHECK(second != MAP_FAILED);
	CHECK(get_policy(&mode, &mask, second) == 0);
	munmap(second, 4 * MIB);
	CHECK((mode == MPOL_BIND) == (method == GMEM_NUMA_VIA_MBIND));
	CHECK_OK(gmem_probe(&h));
	CHECK(h.guest_memfd_numa == (uint32_t)method);
	CHECK_OK(gmem_file_close(f));
	CHECK_OK(gmem_vm_close(vm));
}

/* Only what the host mapping shows can be asked about: none, no answer. */
static void query_nodes_needs_a_host_mapping(void)
{
	struct gmem_file_args a = { .size = 2 * MIB,
				    .backend = GMEM_BACKEND_GUEST_MEMFD,
				    .flags = GMEM_FILE_NO_HOST_MAP };
	uint64_t nodes[GMEM_MAX_NUMA_NODES] = { 0 };
	struct gmem_file *f;
	struct gmem_vm *vm;

	T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	CHECK_OK(gmem_vm_create(&vm));
	a.vm = vm;
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK_ERR(gmem_file_query_nodes(f, 0, 2 * MIB, nodes), EOPNOTSUPP);
	CHECK(strstr(gmem_last_error(), "no host mapping"));
	CHECK_OK(gmem_file_close(f));
	CHECK_OK(gmem_vm_close(vm));
}

static const struct t_case cases[] = {
	T_CASE(parse_good_policies),
	T_CASE(bad_node_lists),
	T_CASE(bad_policies),
	T_CASE(memfd_bind_places_pages),
	T_CASE(policy_after_populate_is_ebusy),
	T_CASE(bad_policy_ranges),
	T_CASE(thread_method_restores_callers_policy),
	T_CASE(bind_thread_sets_the_thread_policy),
	T_CASE(multi_node_placement),
	T_CASE(hugetlb_populate_follows_the_policy),
	T_CASE(guest_memfd_method_is_what_the_kernel_does),
	T_CASE(query_nodes_needs_a_host_mapping),
};
T_MAIN(cases)
