// SPDX-License-Identifier: MIT
/* test_gmemctl.c - the command-line tool, run as a user would run it. */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

static void json_checker_rejects_garbage(void)
{
	CHECK(t_json_valid("{\"a\": [1, 2.5, true, null, \"x\\n\"]}"));
	CHECK(!t_json_valid("{\"a\": }"));
	CHECK(!t_json_valid("{\"a\": 1,}"));
	CHECK(!t_json_valid("[1 2]"));
	CHECK(!t_json_valid("{\"a\": 1} x"));
}

static void probe_prints_every_section(void)
{
	const char *args[] = { "probe", NULL };

	CHECK(t_gmemctl(args) == 0);
	CHECK(strstr(t_out, "KVM "));
	CHECK(strstr(t_out, "GUEST_MEMFD"));
	CHECK(strstr(t_out, "NR_MEMSLOTS"));
	CHECK(strstr(t_out, "memfd "));
	CHECK(strstr(t_out, "hugepage pools"));
	CHECK(strstr(t_out, "THP "));
	CHECK(strstr(t_out, "NUMA "));
	CHECK(strstr(t_out, "IOMMU "));
	CHECK(strstr(t_out, "guest_memfd "));
}

static void probe_json_is_valid(void)
{
	const char *args[] = { "probe", "--json", NULL };

	CHECK(t_gmemctl(args) == 0);
	CHECK(t_json_valid(t_out));
	CHECK(strstr(t_out, "\"kvm\""));
	CHECK(strstr(t_out, "\"nr_memslots\""));
	CHECK(strstr(t_out, "\"hugepages\""));
	CHECK(strstr(t_out, "\"backends\""));
}

static void bad_command_and_options(void)
{
	const char *unknown[] = { "frobnicate", NULL };
	const char *none[] = { NULL };
	const char *probe_extra[] = { "probe", "extra", NULL };
	const char *probe_opt[] = { "probe", "--bogus", NULL };

	CHECK(t_gmemctl(unknown) == 2);
	CHECK(strstr(t_out, "unknown command 'frobnicate'"));
	CHECK(t_gmemctl(none) == 2);
	CHECK(strstr(t_out, "usage"));
	CHECK(t_gmemctl(probe_extra) == 2);
	CHECK(strstr(t_out, "unexpected argument 'extra'"));
	CHECK(t_gmemctl(probe_opt) == 2);
}

static void demo_rejects_bad_options(void)
{
	static const char *const cases[][4] = {
		{ "demo", "--size", "1M", NULL },
		{ "demo", "--size", "lots", NULL },
		{ "demo", "--size", "99999999999T", NULL },
		{ "demo", "--backend", "tmpfs", NULL },
		{ "demo", "--discard-offset", "0", NULL },
		{ "demo", "--discard-size", "0", NULL },
		{ "demo", "--discard-offset", "1G", NULL },
		{ "demo", "--frobnicate", NULL, NULL },
		{ "demo", "stray", NULL, NULL },
		{ "demo", "--policy", "spread", NULL },
		{ "demo", "--host-nodes", "63", NULL },
		{ "demo", "--host-nodes", "0-", NULL },
		{ "demo", "--page-size", "2M", NULL },	/* not hugetlb */
		{ "demo", "--page-size", "huge", NULL },
		{ "demo", "--discard-offset", "3000", NULL },	/* unaligned */
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (t_gmemctl(cases[i]) != 2) {
			t_fail(__FILE__, __LINE__, "gmemctl %s %s: not a usage "
			       "error: %s", cases[i][1],
			       cases[i][2] ? cases[i][2] : "", t_out);
			return;
		}
		CHECK(strstr(t_out, "gmemctl demo: "));
	}
}

/* When the guest cannot start, demo says why and fails. */
static void demo_fails_clearly(void)
{
	struct gmem_host h;
	char size[32];
	const char *args[] = { "demo", "--backend", "hugetlb", "--size", size,
			       NULL };

	gmem_probe(&h);
	snprintf(size, sizeof(size), "%lluM",
		 (unsigned long long)((h.nr_hugepage_sizes ?
				       h.hugepages[0].free + 8 : 8) * 2));
	CHECK(t_gmemctl(args) == 1);
	CHECK(strstr(t_out, "could not start"));
	CHECK(strstr(t_out, "result: FAIL"));
	CHECK(strstr(t_out, "/dev/kvm") || strstr(t_out, "need "));
}

static void demo_runs_a_guest(const char *backend)
{
	const char *args[] = { "demo", "--size", "32M", "--backend", backend,
			       NULL };
	const char *json[] = { "demo", "--size", "16M", "--backend", backend,
			       "--json", NULL };

	if (!strcmp(backend, "guest_memfd"))
		T_SKIP_UNLESS(t_need_guest_memfd_mmap());
	T_SKIP_UNLESS(t_need_kvm());
	if (t_gmemctl(args) != 0) {
		t_fail(__FILE__, __LINE__, "demo failed:\n%s", t_out);
		return;
	}
	CHECK(strstr(t_out, "result: PASS"));
	CHECK(strstr(t_out, "guest reads zeros in the hole"));
	CHECK(!strstr(t_out, "FAIL"));
	CHECK(t_gmemctl(json) == 0);
	CHECK(t_json_valid(t_out));
	CHECK(strstr(t_out, "\"pass\": true"));
}

static void demo_guest_memfd(void)
{
	demo_runs_a_guest("guest_memfd");
}

static void demo_memfd(void)
{
	demo_runs_a_guest("memfd");
}

/* Every line of a --csv run has the header's fields, and rows exist. */
static bool csv_parses(const char *out, int *rows)
{
	const char *hdr = strstr(out, "part,backend,size_bytes,");
	int want = 0;

	*rows = 0;
	if (!hdr)
		return false;
	for (const char *p = hdr; *p && *p != '\n'; p++)
		want += *p == ',';
	for (const char *l = strchr(hdr, '\n'); l && l[1]; l = strchr(l, '\n')) {
		int n = 0;

		l++;
		if (!strncmp(l, "bench: ", 7))	/* stderr, shared here */
			continue;
		for (const char *p = l; *p && *p != '\n'; p++)
			n += *p == ',';
		if (n != want)
			return false;
		(*rows)++;
	}
	return *rows > 0;
}

/*
 * The quick bench runs every part and its three outputs parse; how fast
 * anything is is not a test's business (the machines are shared).
 */
static void bench_quick_runs_and_parses(void)
{
	const char *json[] = { "bench", "--quick", "--json", NULL };
	const char *csv[] = { "bench", "--quick", "--csv", "--only",
			      "ready,discard,overhead", NULL };
	const char *md[] = { "bench", "--quick", "--only", "ready,scale",
			     NULL };
	int rows;

	CHECK(t_gmemctl(json) == 0);
	CHECK(t_json_valid(strstr(t_out, "{\"command\"")));
	CHECK(strstr(t_out, "\"method\": \"populate\""));
	CHECK(strstr(t_out, "\"method\": \"prealloc_1\""));
	CHECK(strstr(t_out, "\"part\": \"discard\""));
	CHECK(strstr(t_out, "\"part\": \"scale\""));
	CHECK(strstr(t_out, "\"part\": \"overhead\""));
	/* Guests that start at once: a guest on each way, or why not. */
	if (access("/dev/kvm", R_OK | W_OK) == 0)
		CHECK(strstr(t_out, "\"method\": \"background_first\"") &&
		      strstr(t_out, "\"method\": \"blocking_backed\"") &&
		      strstr(t_out, "when the guest ran"));
	else
		CHECK(strstr(t_out, "no KVM here"));
	CHECK(strstr(t_out, "\"targets\": ["));
	CHECK(t_gmemctl(csv) == 0);
	CHECK(csv_parses(t_out, &rows));
	CHECK(strstr(t_out, "\nready,memfd,16777216,,populate,"));
	CHECK(strstr(t_out, "# command: gmemctl bench --quick --csv"));
	CHECK(t_gmemctl(md) == 0);
	CHECK(strstr(t_out, "| memfd | 16 MiB | gmem_populate |"));
	CHECK(strstr(t_out, "## Targets"));
}

static void bench_rejects_bad_options(void)
{
	static const char *const cases[][4] = {
		{ "bench", "--size", "3M", NULL },
		{ "bench", "--sizes", "1G,lots", NULL },
		{ "bench", "--only", "everything", NULL },
		{ "bench", "--runs", "0", NULL },
		{ "bench", "--slots", "30000,1000", NULL },
		{ "bench", "stray", NULL, NULL },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		if (t_gmemctl(cases[i]) != 2) {
			t_fail(__FILE__, __LINE__, "gmemctl bench %s %s: not a "
			       "usage error: %s", cases[i][1],
			       cases[i][2] ? cases[i][2] : "", t_out);
			return;
		}
		CHECK(strstr(t_out, "gmemctl bench: "));
	}
}

/* The plot script comes from a CSV alone; a missing file is an error. */
static void bench_plot_script_from_csv(void)
{
	const char *csv[] = { "bench", "--quick", "--csv", "--only",
			      "ready,overhead", NULL };
	const char *missing[] = { "bench", "--plot", "/nonexistent.csv", NULL };
	char path[] = "/tmp/gmem-bench-XXXXXX";
	const char *plot[] = { "bench", "--plot", path, "--plot-dir", "/tmp",
			       NULL };
	const char *body;
	FILE *f;
	int fd;

	CHECK(t_gmemctl(missing) == 1);
	CHECK(t_gmemctl(csv) == 0);
	body = strstr(t_out, "# command:");
	fd = mkstemp(path);
	if (!body || fd < 0) {
		t_fail(__FILE__, __LINE__, "no CSV or no temporary file");
		return;
	}
	f = fdopen(fd, "w");
	fputs(body, f);
	fclose(f);
	CHECK(t_gmemctl(plot) == 0);
	CHECK(strstr(t_out, "set terminal pngcairo"));
	CHECK(strstr(t_out, "set output '/tmp/bench-ready.png'"));
	CHECK(strstr(t_out, "set output '/tmp/bench-overhead.png'"));
	unlink(path);
}

/*
 * Without private memory, demo --private says so and where it can run
 * (exit 77); with it, the demo runs (test_private covers that).
 */
static void demo_private_needs_private_memory(void)
{
	const char *args[] = { "demo", "--private", "--size", "4M", NULL };
	const char *bad[] = { "demo", "--private", "--size", "3M", NULL };
	struct gmem_vm_caps c;
	int rc;

	CHECK(t_gmemctl(bad) == 2);
	rc = t_gmemctl(args);
	if (gmem_probe_vm_type(GMEM_VM_TYPE_SW_PROTECTED, &c) == 0 &&
	    (c.memory_attributes & GMEM_MEMORY_ATTRIBUTE_PRIVATE)) {
		CHECK(rc == 0);
		return;
	}
	CHECK(rc == 77);
	CHECK(strstr(t_out, "no VM type with private memory"));
	CHECK(strstr(t_out, "make demo-private"));
}

static const struct t_case cases[] = {
	T_CASE(json_checker_rejects_garbage),
	T_CASE(probe_prints_every_section),
	T_CASE(probe_json_is_valid),
	T_CASE(bad_command_and_options),
	T_CASE(demo_rejects_bad_options),
	T_CASE(demo_fails_clearly),
	T_CASE(bench_quick_runs_and_parses),
	T_CASE(bench_rejects_bad_options),
	T_CASE(bench_plot_script_from_csv),
	T_CASE(demo_private_needs_private_memory),
	T_CASE(demo_guest_memfd),
	T_CASE(demo_memfd),
};

T_MAIN(cases)
