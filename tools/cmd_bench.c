// SPDX-License-Identifier: MIT
/*
 * cmd_bench.c - "gmemctl bench": side-by-side timings in one run, so a noisy
 * machine still gives honest ratios.  Host part: ways to populate and to
 * discard on each backend.  Guest part: a guest walking memory on 4 KiB
 * and on huge-page backing, lazily and after populate.
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "gmem.h"
#include "gmemctl.h"
#include "runner.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

struct row {
	const char *group;
	char what[64];
	double seconds;		/* median of the runs */
	uint64_t exits;		/* guest rows: KVM page faults (pf_taken) */
	uint64_t huge;		/* guest rows: 2 MiB guest mappings */
};

struct bench {
	uint64_t size;
	bool json;
	bool host, guest;
	struct row rows[32];
	int nrows;
};

#define RUNS 3

static void add_row(struct bench *b, const char *group, const char *what,
		    double s, uint64_t exits)
{
	struct row *r = &b->rows[b->nrows++];

	r->group = group;
	snprintf(r->what, sizeof(r->what), "%s", what);
	r->seconds = s;
	r->exits = exits;
}

/* Rows compare to the first row of their group, measured in the same run. */
static double group_base(const struct bench *b, const struct row *r)
{
	for (int i = 0; i < b->nrows; i++)
		if (b->rows[i].group == r->group)
			return b->rows[i].seconds;
	return r->seconds;
}

static double median3(double x[RUNS])
{
	double lo = x[0] < x[1] ? x[0] : x[1], hi = x[0] < x[1] ? x[1] : x[0];

	return x[2] < lo ? lo : x[2] > hi ? hi : x[2];
}

static int make_file(enum gmem_backend backend, uint64_t size,
		     struct gmem_vm *vm, struct gmem_file **f)
{
	struct gmem_file_args a = { 0 };

	a.size = size;
	a.backend = backend;
	a.vm = vm;
	return gmem_file_create(&a, f);
}

enum fill { FILL_POPULATE, FILL_MADVISE, FILL_TOUCH };

/* Time one way of making all of a fresh file's memory present. */
static double time_fill(enum gmem_backend backend, uint64_t size,
			struct gmem_vm *vm, enum fill how, double *discard)
{
	struct gmem_file *f;
	uint64_t psz;
	uint8_t *p;
	double t;
	int ret = 0;

	if (make_file(backend, size, vm, &f) < 0)
		return -1;
	p = gmem_file_host_addr(f);
	psz = gmem_file_page_size(f);
	t = now_seconds();
	if (how == FILL_POPULATE)
		ret = gmem_populate(f, 0, size);
	else if (how == FILL_MADVISE)
		ret = madvise(p, size, MADV_POPULATE_WRITE);
	else
		for (uint64_t off = 0; off < size; off += psz)
			p[off] = 1;
	t = now_seconds() - t;
	if (discard) {
		*discard = now_seconds();
		if (gmem_discard(f, 0, size) < 0)
			ret = -1;
		*discard = now_seconds() - *discard;
	}
	gmem_file_close(f);
	return ret < 0 ? -1 : t;
}

static const char G_POPULATE[] = "populate", G_DISCARD[] = "discard";

static void bench_host(struct bench *b, struct gmem_vm *vm)
{
	static const enum gmem_backend backends[] = {
		GMEM_BACKEND_MEMFD, GMEM_BACKEND_GUEST_MEMFD,
		GMEM_BACKEND_HUGETLB,
	};
	static const char *const how[] = {
		"gmem_populate", "MADV_POPULATE_WRITE", "touch every page",
	};
	double t[3][RUNS], disc[RUNS];
	char what[64];

	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		const char *name = gmem_backend_name(backends[i]);
		bool ok = true;

		if (backends[i] == GMEM_BACKEND_GUEST_MEMFD && !vm) {
			fprintf(stderr, "bench: no guest_memfd rows: no KVM VM "
				"(%s)\n", gmem_last_error());
			continue;
		}
		/* Interleave the methods so drift hits them alike. */
		for (int r = 0; r < RUNS && ok; r++)
			for (int m = FILL_POPULATE; m <= FILL_TOUCH && ok; m++) {
				t[m][r] = time_fill(backends[i], b->size, vm, m,
						    m == FILL_POPULATE ?
						    &disc[r] : NULL);
				ok = t[m][r] >= 0;
			}
		if (!ok) {
			fprintf(stderr, "bench: no %s rows: %s\n", name,
				gmem_last_error());
			continue;
		}
		for (int m = FILL_POPULATE; m <= FILL_TOUCH; m++) {
			snprintf(what, sizeof(what), "%s, %s", name, how[m]);
			add_row(b, G_POPULATE, what, median3(t[m]), 0);
		}
		snprintf(what, sizeof(what), "%s, gmem_discard", name);
		add_row(b, G_DISCARD, what, median3(disc), 0);
	}
}

/*
 * A guest writes one byte per 4 KiB over its data region.  KVM counts the
 * faults it takes on the way (pf_taken), which huge mappings make fewer.
 */
static double guest_walk(struct guest *g, uint64_t size, uint64_t *faults)
{
	uint64_t before = 0, after = 0, n;
	double t;

	guest_kvm_stat(g, "pf_taken", &before);
	t = now_seconds();
	if (guest_memcmd(g, MEMCMD_TOUCH, GUEST_BOOT_SIZE,
			 size - GUEST_BOOT_SIZE, 4096, 0, &n) < 0)
		return -1;
	t = now_seconds() - t;
	guest_kvm_stat(g, "pf_taken", &after);
	*faults = after - before;
	return t;
}

static const char G_GUEST[] = "guest walk";

static void bench_guest_on(struct bench *b, enum gmem_backend backend,
			   bool populate)
{
	struct guest_config cfg = { 0 };
	struct guest g;
	char what[64];
	uint64_t exits;
	double t;

	cfg.backend = backend;
	cfg.ram_size = b->size;
	if (guest_create(&g, &cfg) < 0) {
		fprintf(stderr, "bench: skipping guest on %s: %s\n",
			gmem_backend_name(backend), g.error);
		return;
	}
	if ((populate && gmem_populate(g.ram, 0, b->size) < 0) ||
	    guest_memcmd_start(&g) < 0) {
		fprintf(stderr, "bench: guest on %s: %s %s\n",
			gmem_backend_name(backend), g.error, gmem_last_error());
		guest_destroy(&g);
		return;
	}
	t = guest_walk(&g, b->size, &exits);
	if (t >= 0) {
		snprintf(what, sizeof(what), "guest walk, %s, %s",
			 gmem_backend_name(backend),
			 populate ? "populated" : "lazy");
		add_row(b, G_GUEST, what, t, exits);
		guest_kvm_stat(&g, "pages_2m", &b->rows[b->nrows - 1].huge);
	}
	guest_memcmd_stop(&g);
	guest_destroy(&g);
}

static void bench_guest(struct bench *b)
{
	static const enum gmem_backend backends[] = {
		GMEM_BACKEND_MEMFD, GMEM_BACKEND_HUGETLB,
		GMEM_BACKEND_GUEST_MEMFD,
	};

	for (int populate = 0; populate < 2; populate++)
		for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]);
		     i++)
			bench_guest_on(b, backends[i], populate);
}

static void report(const struct bench *b)
{
	char sz[32];

	if (b->json) {
		printf("{\"size\": %llu, \"runs\": %d, \"rows\": [",
		       (unsigned long long)b->size, RUNS);
		for (int i = 0; i < b->nrows; i++) {
			printf("%s\n {\"group\": \"%s\", \"what\": ",
			       i ? "," : "", b->rows[i].group);
			json_string(stdout, b->rows[i].what);
			printf(", \"seconds\": %.6f, \"ratio\": %.3f, "
			       "\"kvm_faults\": %llu, \"pages_2m\": %llu}",
			       b->rows[i].seconds,
			       b->rows[i].seconds /
				       group_base(b, &b->rows[i]),
			       (unsigned long long)b->rows[i].exits,
			       (unsigned long long)b->rows[i].huge);
		}
		printf("]}\n");
		return;
	}
	printf("gmemctl bench: %s each; host rows are medians of %d runs; "
	       "ratio is to the\nfirst row of the group, measured in this "
	       "run (lower is faster)\n",
	       format_size(b->size, sz, sizeof(sz)), RUNS);
	/* Group by group, in the order groups first appear. */
	for (int g = 0; g < b->nrows; g++) {
		const char *group = b->rows[g].group;
		bool seen = false;

		for (int i = 0; i < g; i++)
			seen |= b->rows[i].group == group;
		if (seen)
			continue;
		printf("\n  %-40s %10s %7s %10s %9s\n", group, "seconds",
		       "ratio", group == G_GUEST ? "kvm faults" : "",
		       group == G_GUEST ? "2M maps" : "");
		for (int i = g; i < b->nrows; i++) {
			if (b->rows[i].group != group)
				continue;
			printf("  %-40s %10.4f %7.2f", b->rows[i].what,
			       b->rows[i].seconds,
			       b->rows[i].seconds / group_base(b, &b->rows[i]));
			if (group == G_GUEST)
				printf(" %10llu %9llu",
				       (unsigned long long)b->rows[i].exits,
				       (unsigned long long)b->rows[i].huge);
			printf("\n");
		}
	}
}

/* Every option; gmemctl complete lists them for the shell. */
const struct option bench_options[] = {
	{ "size", required_argument, NULL, 's' },
	{ "host", no_argument, NULL, 'H' },
	{ "guest", no_argument, NULL, 'G' },
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_bench(int argc, char **argv)
{
	struct gmem_vm *vm = NULL;
	struct bench *b = calloc(1, sizeof(*b));
	int c;

	if (!b)
		return 1;
	b->size = 256ULL << 20;
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", bench_options,
				NULL)) != -1) {
		switch (c) {
		case 's':
			if (parse_size(optarg, &b->size) < 0 ||
			    b->size < 2 * GUEST_BOOT_SIZE ||
			    b->size % GUEST_BOOT_SIZE) {
				free(b);
				return usage_error("bench", "--size wants a "
						   "multiple of 2 MiB, at least "
						   "4 MiB");
			}
			break;
		case 'H':
			b->host = true;
			break;
		case 'G':
			b->guest = true;
			break;
		case 'j':
			b->json = true;
			break;
		case 'h':
			printf("usage: gmemctl bench [--size SIZE] [--host] "
			       "[--guest] [--json]\n"
			       "Time populate, discard and guest memory walks "
			       "side by side on each backend\n(hugetlb only "
			       "if its pool has room).  Default: both parts, "
			       "256M.\n\n  -h, --help  this text\n");
			free(b);
			return 0;
		default:
			free(b);
			return unknown_option("bench");
		}
	}
	if (optind < argc) {
		free(b);
		return usage_error("bench", "unexpected argument '%s'",
				   argv[optind]);
	}
	if (!b->host && !b->guest)
		b->host = b->guest = true;
	if (gmem_vm_create(&vm) < 0)
		vm = NULL;	/* guest_memfd rows are skipped, with a reason */
	if (b->host)
		bench_host(b, vm);
	if (vm)
		gmem_vm_close(vm);
	if (b->guest)
		bench_guest(b);
	report(b);
	c = b->nrows ? 0 : 1;
	free(b);
	return c;
}
