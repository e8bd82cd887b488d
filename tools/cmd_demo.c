// SPDX-License-Identifier: MIT
/*
 * cmd_demo.c - "gmemctl demo": boot a guest on gmem memory, have it write a
 * pattern, discard part of the memory from the host, and have the guest
 * check that the hole reads zero and everything else survived.
 */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include "gmem.h"
#include "gmemctl.h"
#include "runner.h"

#define DEMO_SEED 0x67656d2d64656d6fULL

struct demo_opts {
	enum gmem_backend backend;
	uint64_t size;
	uint64_t page_size;
	const char *policy;
	const char *nodes;
	struct gmem_numa_policy numa;
	uint64_t discard_off;
	uint64_t discard_len;
	bool discard_given;
	bool populate;
	bool json;
	bool private;
	bool size_given;
	unsigned int threads;		/* populate threads; 0: every CPU */
};

struct demo_result {
	char what[64];
	bool ok;
	char detail[160];
};

struct demo {
	struct demo_opts o;
	struct guest g;
	struct demo_result checks[12];
	int nchecks;
	double t_setup, t_populate, t_fill, t_discard, t_check;
	uint64_t faults_before, fill_faults;	/* KVM's pf_taken */
	struct gmem_file_stats before, after;
};

static void check(struct demo *d, bool ok, const char *what,
		  const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void check(struct demo *d, bool ok, const char *what,
		  const char *fmt, ...)
{
	struct demo_result *r = &d->checks[d->nchecks++];
	va_list ap;

	snprintf(r->what, sizeof(r->what), "%s", what);
	r->ok = ok;
	va_start(ap, fmt);
	vsnprintf(r->detail, sizeof(r->detail), fmt, ap);
	va_end(ap);
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gmemctl demo [OPTIONS]\n"
		"Boot a guest whose RAM is a gmem file, let it write a pattern, "
		"discard part\nof the file from the host, and check from inside "
		"the guest that the hole\nreads zero and the rest is intact. "
		"Exits 0 only if every check held.\n\n"
		"  --backend NAME        guest_memfd (default), memfd, hugetlb, auto\n"
		"  --size SIZE           guest RAM, e.g. 256M (default), 1G\n"
		"  --discard-offset OFF  start of the hole in the RAM file "
		"(default: size/2)\n"
		"  --discard-size LEN    length of the hole (default: size/4)\n"
		"  --page-size SIZE      hugetlb page size: 2M (default) or 1G\n"
		"  --policy MODE         NUMA policy: default, bind, preferred, "
		"interleave\n"
		"  --host-nodes LIST     NUMA nodes for the policy, e.g. 0-1,3\n"
		"  --no-populate         let the guest fault memory in lazily\n"
		"  --prealloc-threads N  threads that populate (default: one per "
		"CPU, at most 64)\n"
		"  --private             private memory instead: the guest "
		"converts a range to\n"
		"                        private, keeps a secret there the host "
		"cannot see, and\n"
		"                        converts back (needs a VM type with "
		"private memory;\n"
		"                        exit 77 without one; --size default 32M)\n"
		"  --json                print the report as JSON (schema in "
		"docs/json.md)\n"
		"  -h, --help            this text\n");
}

/* Every option; gmemctl complete lists them for the shell. */
const struct option demo_options[] = {
	{ "backend", required_argument, NULL, 'b' },
	{ "size", required_argument, NULL, 's' },
	{ "discard-offset", required_argument, NULL, 'o' },
	{ "discard-size", required_argument, NULL, 'l' },
	{ "no-populate", no_argument, NULL, 'n' },
	{ "page-size", required_argument, NULL, 'P' },
	{ "policy", required_argument, NULL, 'm' },
	{ "host-nodes", required_argument, NULL, 'N' },
	{ "prealloc-threads", required_argument, NULL, 't' },
	{ "json", no_argument, NULL, 'j' },
	{ "private", no_argument, NULL, 'p' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

static int parse_opts(int argc, char **argv, struct demo_opts *o)
{
	const char *not_private = NULL;	/* an option --private ignores */
	bool off_given = false;
	uint64_t psz;
	int c;

	o->backend = GMEM_BACKEND_GUEST_MEMFD;
	o->size = 256ULL << 20;
	o->populate = true;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", demo_options,
				NULL)) != -1) {
		switch (c) {
		case 'b':
			not_private = "--backend";
			if (gmem_backend_parse(optarg, &o->backend) < 0)
				return usage_error("demo", "%s",
						   gmem_last_error());
			break;
		case 's':
			if (size_arg("demo", "--size", optarg, &o->size))
				return EXIT_USAGE;
			o->size_given = true;
			break;
		case 'o':
			not_private = "--discard-offset";
			if (size_arg("demo", "--discard-offset", optarg,
				     &o->discard_off))
				return EXIT_USAGE;
			off_given = true;
			break;
		case 'l':
			not_private = "--discard-size";
			if (size_arg("demo", "--discard-size", optarg,
				     &o->discard_len))
				return EXIT_USAGE;
			o->discard_given = true;
			break;
		case 'n':
			not_private = "--no-populate";
			o->populate = false;
			break;
		case 'P':
			if (size_arg("demo", "--page-size", optarg,
				     &o->page_size))
				return EXIT_USAGE;
			not_private = "--page-size";
			break;
		case 'm':
			not_private = "--policy";
			o->policy = optarg;
			break;
		case 'N':
			not_private = "--host-nodes";
			o->nodes = optarg;
			break;
		case 't':
			not_private = "--prealloc-threads";
			if (count_arg("demo", "--prealloc-threads", optarg, 1,
				      64, &o->threads))
				return EXIT_USAGE;
			break;
		case 'j':
			o->json = true;
			break;
		case 'p':
			o->private = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			return unknown_option("demo");
		}
	}
	if (optind < argc)
		return usage_error("demo", "unexpected argument '%s'",
				   argv[optind]);
	if (o->private) {
		if (not_private)
			return usage_error("demo", "%s does not apply to "
					   "--private, which takes only --size "
					   "and --json", not_private);
		if (!o->size_given)
			o->size = 32ULL << 20;
		if (o->size % (2ULL << 20) || !o->size)
			return usage_error("demo", "--private takes a --size in "
					   "whole MiB pairs (2M, 4M, ...)");
		return 0;
	}
	if (o->policy || o->nodes) {
		if (gmem_numa_policy_parse(o->policy ? o->policy : "bind",
					   o->nodes, &o->numa) < 0)
			return usage_error("demo", "%s", gmem_last_error());
	}
	if (o->page_size && o->backend != GMEM_BACKEND_HUGETLB)
		return usage_error("demo", "--page-size is for --backend "
				   "hugetlb");
	if (o->size < 2 * GUEST_BOOT_SIZE)
		return usage_error("demo", "--size must be at least %llu MiB",
				   (unsigned long long)(2 * GUEST_BOOT_SIZE >> 20));
	/* The hole is in whole backend pages, outside the boot region. */
	psz = o->backend != GMEM_BACKEND_HUGETLB ? 4096 :
	      o->page_size ? o->page_size : 2ULL << 20;
	if (!off_given)
		o->discard_off = (o->size / 2 + psz - 1) / psz * psz;
	if (!o->discard_given) {
		o->discard_len = o->size / 4 / psz * psz;
		if (!o->discard_len)
			o->discard_len = psz;
	}
	if (o->discard_off % psz || o->discard_len % psz || o->size % psz)
		return usage_error("demo", "the size and the hole must be "
				   "multiples of the page size (%llu KiB)",
				   (unsigned long long)(psz >> 10));
	if (o->discard_off < GUEST_BOOT_SIZE)
		return usage_error("demo", "the hole must not cover the guest's "
				   "boot region (the first %llu MiB)",
				   (unsigned long long)(GUEST_BOOT_SIZE >> 20));
	if (o->discard_len == 0 || o->discard_off >= o->size ||
	    o->discard_len > o->size - o->discard_off)
		return usage_error("demo", "the hole must be non-empty and lie "
				   "inside the guest's RAM, after the boot region "
				   "(with %llu KiB pages, use a larger --size)",
				   (unsigned long long)(psz >> 10));
	return 0;
}

/* Check the host's view of [off, off + len) of RAM: pattern or zeros. */
static uint64_t host_check(const uint8_t *ram, uint64_t off, uint64_t len,
			   bool zero)
{
	uint64_t bad = guest_host_check_pages(ram + off, len, DEMO_SEED,
					      off - GUEST_BOOT_SIZE, zero);

	return bad == GUEST_CHECK_OK ? bad : off + bad;
}

/* Have the guest check a region: the pattern, or zeros. */
static int guest_check(struct demo *d, uint64_t off, uint64_t len, bool zero,
		       const char *what)
{
	uint64_t bad;
	int ret;

	if (len == 0)
		return 0;
	if (zero)
		ret = guest_memcmd(&d->g, MEMCMD_CHECK_ZERO_PAGES, off, len,
				   off - GUEST_BOOT_SIZE, 0, &bad);
	else
		ret = guest_memcmd(&d->g, MEMCMD_CHECK_PAGES, off, len,
				   DEMO_SEED, off - GUEST_BOOT_SIZE, &bad);
	if (ret < 0)
		return ret;
	if (bad == GUEST_CHECK_OK)
		check(d, true, what, "%llu pages",
		      (unsigned long long)(len / GUEST_PAGE_SIZE));
	else
		check(d, false, what, "first bad byte at RAM offset 0x%llx",
		      (unsigned long long)(off + bad));
	return 0;
}

static int run_demo(struct demo *d)
{
	struct guest_config cfg = { 0 };
	const struct demo_opts *o = &d->o;
	uint64_t data = o->size - GUEST_BOOT_SIZE, end = o->discard_off + o->discard_len;
	uint64_t bad;
	double t;
	int ret;

	cfg.backend = o->backend;
	cfg.ram_size = o->size;
	cfg.page_size = o->page_size;
	if (o->policy || o->nodes)
		cfg.numa = &o->numa;
	t = now_seconds();
	ret = guest_create(&d->g, &cfg);
	d->t_setup = now_seconds() - t;
	if (ret < 0)
		return ret;
	if (o->populate) {
		struct gmem_populate_args args = { .threads = o->threads };

		t = now_seconds();
		ret = populate_with_progress(d->g.ram, 0, o->size, &args);
		d->t_populate = now_seconds() - t;
		if (ret < 0) {
			snprintf(d->g.error, sizeof(d->g.error), "populate: %s",
				 gmem_last_error());
			return ret;
		}
	}
	ret = guest_memcmd_start(&d->g);
	if (ret < 0)
		return ret;
	t = now_seconds();
	if (guest_kvm_stat(&d->g, "pf_taken", &d->faults_before) < 0)
		d->faults_before = ~0ULL;
	ret = guest_memcmd(&d->g, MEMCMD_FILL_PAGES, GUEST_BOOT_SIZE, data,
			   DEMO_SEED, 0, NULL);
	d->t_fill = now_seconds() - t;
	if (ret < 0)
		return ret;
	if (d->faults_before == ~0ULL ||
	    guest_kvm_stat(&d->g, "pf_taken", &d->fill_faults) < 0)
		d->fill_faults = ~0ULL;
	else
		d->fill_faults -= d->faults_before;
	bad = host_check(d->g.ram_host, GUEST_BOOT_SIZE, data, false);
	check(d, bad == GUEST_CHECK_OK, "host reads what the guest wrote",
	      bad == GUEST_CHECK_OK ? "%llu pages" : "mismatch at 0x%llx",
	      (unsigned long long)(bad == GUEST_CHECK_OK ?
				   data / GUEST_PAGE_SIZE : bad));

	gmem_file_stats(d->g.ram, &d->before);
	t = now_seconds();
	ret = gmem_discard(d->g.ram, o->discard_off, o->discard_len);
	d->t_discard = now_seconds() - t;
	if (ret < 0) {
		snprintf(d->g.error, sizeof(d->g.error), "discard: %s",
			 gmem_last_error());
		return ret;
	}
	gmem_file_stats(d->g.ram, &d->after);

	t = now_seconds();
	ret = guest_check(d, o->discard_off, o->discard_len, true,
			  "guest reads zeros in the hole");
	if (!ret)
		ret = guest_check(d, GUEST_BOOT_SIZE,
				  o->discard_off - GUEST_BOOT_SIZE, false,
				  "guest reads the pattern before the hole");
	if (!ret)
		ret = guest_check(d, end, o->size - end, false,
				  "guest reads the pattern after the hole");
	d->t_check = now_seconds() - t;
	if (ret < 0)
		return ret;
	ret = guest_memcmd_stop(&d->g);
	if (ret < 0)
		return ret;

	bad = host_check(d->g.ram_host, o->discard_off, o->discard_len, true);
	if (bad == GUEST_CHECK_OK) {
		bad = host_check(d->g.ram_host, GUEST_BOOT_SIZE,
				 o->discard_off - GUEST_BOOT_SIZE, false);
		if (bad == GUEST_CHECK_OK)
			bad = host_check(d->g.ram_host, end, o->size - end,
					 false);
	}
	check(d, bad == GUEST_CHECK_OK,
	      "host mapping: zeros in the hole, pattern elsewhere",
	      bad == GUEST_CHECK_OK ? "whole file" : "mismatch at 0x%llx",
	      (unsigned long long)(bad == GUEST_CHECK_OK ? o->size : bad));
	check(d, d->after.discarded_bytes == o->discard_len,
	      "accounting: discarded bytes", "%llu",
	      (unsigned long long)d->after.discarded_bytes);
	if (o->populate)
		check(d, d->after.populated_bytes == o->size - o->discard_len,
		      "accounting: populated bytes after the discard", "%llu",
		      (unsigned long long)d->after.populated_bytes);
	return 0;
}

static int passed_checks(const struct demo *d)
{
	int n = 0;

	for (int i = 0; i < d->nchecks; i++)
		n += d->checks[i].ok;
	return n;
}

static void report_human(const struct demo *d, int ret)
{
	const struct demo_opts *o = &d->o;
	char a[32], b[32], c[32];
	uint64_t pages = (o->size - GUEST_BOOT_SIZE) / GUEST_PAGE_SIZE;
	struct utsname u;

	if (!d->g.ram_binding) {
		printf("gmem demo: could not start a guest on %s memory: %s\n"
		       "result: FAIL\n", gmem_backend_name(o->backend),
		       d->g.error);
		return;
	}

	printf("gmem demo: a guest on %s memory\n",
	       d->g.ram ? gmem_backend_name(gmem_file_backend(d->g.ram))
			: gmem_backend_name(o->backend));
	if (d->g.ram)
		printf("  backend        %s, page %s, host-mapped\n",
		       gmem_backend_name(gmem_file_backend(d->g.ram)),
		       format_size(gmem_file_page_size(d->g.ram), a, sizeof(a)));
	if (uname(&u) == 0)
		printf("  host kernel    Linux %s %s\n", u.release, u.machine);
	printf("  guest RAM      %s at guest-physical 0, boot region %s\n",
	       format_size(o->size, a, sizeof(a)),
	       format_size(GUEST_BOOT_SIZE, b, sizeof(b)));
	printf("  setup          %.3f s (VM, file, memslot, vCPU)\n", d->t_setup);
	if (o->populate)
		printf("  populated      %s in %.3f s\n",
		       format_size(d->before.populated_bytes, a, sizeof(a)),
		       d->t_populate);
	else
		printf("  populated      nothing (--no-populate)\n");
	printf("  guest wrote    a word in each of %llu pages in %.3f s",
	       (unsigned long long)pages, d->t_fill);
	if (d->fill_faults != ~0ULL)
		printf(", %llu KVM page faults",
		       (unsigned long long)d->fill_faults);
	printf("\n");
	printf("  discarded      %s at offset %s in %.4f s\n",
	       format_size(o->discard_len, a, sizeof(a)),
	       format_size(o->discard_off, b, sizeof(b)), d->t_discard);
	printf("  guest checked  %.3f s\n", d->t_check);
	printf("  accounting     populated %s after the discard, discarded %s"
	       " in total\n",
	       format_size(d->after.populated_bytes, a, sizeof(a)),
	       format_size(d->after.discarded_bytes, c, sizeof(c)));
	printf("                 held %s, touched %s",
	       format_size(d->after.resident_bytes, a, sizeof(a)),
	       d->after.touched_bytes == GMEM_STATS_UNKNOWN ? "unknown" :
	       format_size(d->after.touched_bytes, b, sizeof(b)));
	if (gmem_file_backend(d->g.ram) == GMEM_BACKEND_HUGETLB)
		printf(", %llu hugepages",
		       (unsigned long long)d->after.hugepages);
	printf("\n  NUMA           policy %s%s%s; populated by node:",
	       o->policy ? o->policy : (o->nodes ? "bind" : "default"),
	       o->nodes ? " on " : "", o->nodes ? o->nodes : "");
	for (int n = 0; n < GMEM_MAX_NUMA_NODES; n++)
		if (d->after.node_bytes[n])
			printf(" node%d %s", n, format_size(d->after.node_bytes[n],
							    a, sizeof(a)));
	if (d->after.unknown_node_bytes)
		printf(" unknown %s", format_size(d->after.unknown_node_bytes,
						  a, sizeof(a)));
	printf("\n");
	printf("  vCPU exits     %llu\n", (unsigned long long)d->g.exits);
	printf("checks\n");
	for (int i = 0; i < d->nchecks; i++)
		printf("  [%s] %s (%s)\n", d->checks[i].ok ? " ok " : "FAIL",
		       d->checks[i].what, d->checks[i].detail);
	if (ret < 0)
		printf("  [FAIL] the demo stopped early: %s\n", d->g.error);
	printf("result: %s (%d of %d checks held)\n",
	       ret == 0 && passed_checks(d) == d->nchecks ? "PASS" : "FAIL",
	       passed_checks(d), d->nchecks);
}

static void report_json(const struct demo *d, int ret)
{
	const struct demo_opts *o = &d->o;

	printf("{\"backend\": \"%s\", \"size\": %llu, \"boot_region\": %llu, ",
	       d->g.ram ? gmem_backend_name(gmem_file_backend(d->g.ram))
			: gmem_backend_name(o->backend),
	       (unsigned long long)o->size,
	       (unsigned long long)GUEST_BOOT_SIZE);
	printf("\"populate\": %s, \"prealloc_threads\": %u, "
	       "\"discard_offset\": %llu, \"discard_size\": %llu,\n",
	       o->populate ? "true" : "false", o->threads,
	       (unsigned long long)o->discard_off,
	       (unsigned long long)o->discard_len);
	printf(" \"seconds\": {\"setup\": %.6f, \"populate\": %.6f, "
	       "\"guest_fill\": %.6f, \"discard\": %.6f, \"guest_check\": "
	       "%.6f},\n", d->t_setup, d->t_populate, d->t_fill, d->t_discard,
	       d->t_check);
	printf(" \"guest_fill_pages\": %llu, \"guest_fill_kvm_faults\": ",
	       (unsigned long long)((o->size - GUEST_BOOT_SIZE) /
				    GUEST_PAGE_SIZE));
	json_number_or_null(stdout, d->fill_faults, d->fill_faults != ~0ULL);
	printf(",\n");
	printf(" \"populated_bytes_before\": %llu, \"populated_bytes_after\": "
	       "%llu, \"discarded_bytes\": %llu, \"vcpu_exits\": %llu,\n",
	       (unsigned long long)d->before.populated_bytes,
	       (unsigned long long)d->after.populated_bytes,
	       (unsigned long long)d->after.discarded_bytes,
	       (unsigned long long)d->g.exits);
	printf(" \"policy\": \"%s\", \"host_nodes\": ",
	       o->policy ? o->policy : (o->nodes ? "bind" : "default"));
	json_string(stdout, o->nodes ? o->nodes : "");
	printf(",\n");
	printf(" \"resident_bytes\": %llu, \"touched_bytes\": ",
	       (unsigned long long)d->after.resident_bytes);
	json_number_or_null(stdout, d->after.touched_bytes,
			    d->after.touched_bytes != GMEM_STATS_UNKNOWN);
	printf(", \"hugepages\": %llu, \"node_bytes\": {",
	       (unsigned long long)d->after.hugepages);
	for (int n = 0, first = 1; n < GMEM_MAX_NUMA_NODES; n++)
		if (d->after.node_bytes[n]) {
			printf("%s\"%d\": %llu", first ? "" : ", ", n,
			       (unsigned long long)d->after.node_bytes[n]);
			first = 0;
		}
	printf("},\n");
	printf(" \"checks\": [");
	for (int i = 0; i < d->nchecks; i++) {
		printf("%s\n  {\"what\": ", i ? "," : "");
		json_string(stdout, d->checks[i].what);
		printf(", \"ok\": %s, \"detail\": ",
		       d->checks[i].ok ? "true" : "false");
		json_string(stdout, d->checks[i].detail);
		printf("}");
	}
	printf("],\n \"error\": ");
	json_string(stdout, ret < 0 ? d->g.error : "");
	printf(", \"pass\": %s}\n",
	       ret == 0 && passed_checks(d) == d->nchecks ? "true" : "false");
}

int cmd_demo(int argc, char **argv)
{
	struct demo *d = calloc(1, sizeof(*d));
	int ret, ok;

	if (!d)
		return 1;
	ret = parse_opts(argc, argv, &d->o);
	if (ret) {
		free(d);
		return ret;
	}
	if (d->o.private) {
		ret = demo_private(d->o.size, d->o.json);
		free(d);
		return ret;
	}
	ret = run_demo(d);
	if (d->o.json)
		report_json(d, ret);
	else
		report_human(d, ret);
	ok = ret == 0 && d->nchecks > 0 && passed_checks(d) == d->nchecks;
	guest_destroy(&d->g);
	free(d);
	return ok ? 0 : 1;
}
