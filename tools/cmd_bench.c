// SPDX-License-Identifier: MIT
/*
 * cmd_bench.c - "gmemctl bench": the options, the machine's state around
 * the run, and the parts in order.  Each part (bench_<part>.c) measures
 * its methods side by side in this one run, so a noisy shared machine
 * still gives honest ratios; bench_report.c prints them.
 */
#include <dirent.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"
#include "gmemctl.h"

static const char *const part_names[PART_COUNT] = {
	[PART_READY] = "ready", [PART_FAULTS] = "faults",
	[PART_DISCARD] = "discard", [PART_LATENCY] = "latency",
	[PART_START] = "start",
	[PART_SCALE] = "scale", [PART_OVERHEAD] = "overhead",
};

static void usage(void)
{
	printf("usage: gmemctl bench [--quick] [--only PARTS] [--csv | --json]\n"
	       "                     [--csv-file FILE] [--size SIZE]\n"
	       "                     [--sizes LIST] [--guest-size SIZE] "
	       "[--bulk-size SIZE]\n"
	       "                     [--runs N] [--files N] [--slots N,N] "
	       "[--sparse LIST]\n"
	       "                     [--calls N] [--grow-pool]\n"
	       "       gmemctl bench --plot FILE.csv [--plot-dir DIR]\n\n"
	       "Measure, side by side in one run: making memory ready by "
	       "each method\n(ready), KVM's faults on a guest's first pass "
	       "(faults), discard\nthroughput (discard) and latency "
	       "(latency), how soon a guest runs and is\nfully backed "
	       "(start), stats and memslots at scale (scale), and each\n"
	       "call against its raw syscalls (overhead).  Prints a\n"
	       "markdown report with the targets judged, or CSV or JSON.\n\n"
	       "  --quick        tiny sizes and one run: seconds, for CI\n"
	       "  --only PARTS   comma-separated parts (default: all)\n"
	       "  --csv-file F   also write the CSV to F (plots and tables "
	       "of one run)\n"
	       "  --sizes LIST   ready part sizes (default 1G,4G); the "
	       "first is the start\n                 part's guest RAM\n"
	       "  --guest-size   guest RAM of the faults part (default 256M)\n"
	       "  --bulk-size    file size for discard and overhead (1G)\n"
	       "  --runs N       interleaved repetitions, medians (3)\n"
	       "  --files N      files for gmem_stats (1000)\n"
	       "  --slots A,B    memslot counts compared (1000,30000)\n"
	       "  --sparse LIST  sparse file sizes for stats (64G,1T,16T)\n"
	       "  --calls N      calls per overhead batch (500)\n"
	       "  --grow-pool    as root, grow the 2 MiB hugetlb pool for the "
	       "parts that\n                 need it (under the test "
	       "harness's lock), and shrink it after\n"
	       "  --size SIZE    one size for the ready, faults and bulk "
	       "files\n"
	       "  --plot FILE    print a gnuplot script drawing FILE (from "
	       "--csv) as PNGs\n                 in --plot-dir (default .)\n"
	       "  --csv          the report as CSV\n"
	       "  --json         the report as JSON (schema in docs/json.md)\n"
	       "  -h, --help     this text\n");
}

/* "a,b,c" of sizes; each a multiple of 2 MiB. */
static int parse_sizes(const char *s, uint64_t *out, int max)
{
	char buf[256], *save = NULL, *tok;
	int n = 0;

	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		if (n == max || parse_size(tok, &out[n]) < 0 || !out[n] ||
		    out[n] % (2 * MIB))
			return -1;
		n++;
	}
	return n ? n : -1;
}

static int parse_parts(const char *s, unsigned int *out)
{
	char buf[256], *save = NULL, *tok;

	*out = 0;
	snprintf(buf, sizeof(buf), "%s", s);
	for (tok = strtok_r(buf, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		int p;

		for (p = 0; p < PART_COUNT; p++)
			if (!strcmp(tok, part_names[p]))
				break;
		if (p == PART_COUNT)
			return -1;
		*out |= 1U << p;
	}
	return *out ? 0 : -1;
}

static int count_qemu(void)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d))) {
		char path[300], comm[64] = "";
		FILE *f;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%s/comm", e->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) &&
		    !strncmp(comm, "qemu-system", 11))
			n++;
		fclose(f);
	}
	closedir(d);
	return n;
}

static double load1(void)
{
	double l[3];

	return getloadavg(l, 3) > 0 ? l[0] : -1;
}

static void defaults(struct bench_opts *o, bool quick)
{
	o->parts = (1U << PART_COUNT) - 1;
	o->quick = quick;
	o->runs = quick ? 1 : 3;
	o->nsizes = quick ? 1 : 2;
	o->sizes[0] = quick ? 16 * MIB : GIB;
	o->sizes[1] = 4 * GIB;
	o->guest_size = quick ? 16 * MIB : 256 * MIB;
	o->bulk_size = quick ? 16 * MIB : GIB;
	o->nsparse = 3;
	o->sparse[0] = 64 * GIB;
	o->sparse[1] = TIB;
	o->sparse[2] = 16 * TIB;
	o->files = quick ? 100 : 1000;
	o->slots[0] = quick ? 100 : 1000;
	o->slots[1] = quick ? 1000 : 30000;
	o->calls = quick ? 20 : 500;
}

/* Every option; gmemctl complete lists them for the shell. */
const struct option bench_options[] = {
	{ "quick", no_argument, NULL, 'q' },
	{ "only", required_argument, NULL, 'o' },
	{ "csv", no_argument, NULL, 'c' },
	{ "json", no_argument, NULL, 'j' },
	{ "csv-file", required_argument, NULL, 'F' },
	{ "sizes", required_argument, NULL, 'S' },
	{ "size", required_argument, NULL, 's' },
	{ "guest-size", required_argument, NULL, 'g' },
	{ "bulk-size", required_argument, NULL, 'B' },
	{ "runs", required_argument, NULL, 'r' },
	{ "files", required_argument, NULL, 'f' },
	{ "slots", required_argument, NULL, 'l' },
	{ "sparse", required_argument, NULL, 'p' },
	{ "calls", required_argument, NULL, 'n' },
	{ "grow-pool", no_argument, NULL, 'G' },
	{ "plot", required_argument, NULL, 'P' },
	{ "plot-dir", required_argument, NULL, 'D' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

/* The options; --quick first, so other options override what it sets. */
static int parse(int argc, char **argv, struct bench *b, const char **plot,
		 const char **plot_dir)
{
	struct bench_opts *o = &b->o;
	uint64_t v[4];
	unsigned int u;
	int c, n;

	defaults(o, false);
	for (int i = 1; i < argc; i++)
		if (!strcmp(argv[i], "--quick"))
			defaults(o, true);
	optind = 1;
	while ((c = getopt_long(argc, argv, "h", bench_options, NULL)) != -1) {
		switch (c) {
		case 'q':
			break;
		case 'o':
			if (parse_parts(optarg, &o->parts) < 0)
				return usage_error("bench", "--only takes parts "
						   "from ready,faults,discard,"
						   "latency,start,scale,"
						   "overhead");
			break;
		case 'c':
			o->format = FMT_CSV;
			break;
		case 'j':
			o->format = FMT_JSON;
			break;
		case 'F':
			o->csv_file = optarg;
			break;
		case 'S':
			n = parse_sizes(optarg, o->sizes, 4);
			if (n < 0)
				return usage_error("bench", "--sizes wants up to "
						   "4 sizes, each a multiple of "
						   "2 MiB");
			o->nsizes = n;
			break;
		case 's':
		case 'g':
		case 'B':
			if (parse_sizes(optarg, v, 1) != 1 ||
			    (c != 'B' && v[0] < 4 * MIB))
				return usage_error("bench", "--%s wants a "
						   "multiple of 2 MiB, at least "
						   "4 MiB", c == 's' ? "size" :
						   c == 'g' ? "guest-size" :
						   "bulk-size");
			if (c == 's') {
				o->sizes[0] = o->guest_size = o->bulk_size =
					v[0];
				o->nsizes = 1;
			} else if (c == 'g') {
				o->guest_size = v[0];
			} else {
				o->bulk_size = v[0];
			}
			break;
		case 'r':
			if (count_arg("bench", "--runs", optarg, 1, 21, &u))
				return EXIT_USAGE;
			o->runs = (int)u;
			break;
		case 'f':
			if (count_arg("bench", "--files", optarg, 1, 100000,
				      &o->files))
				return EXIT_USAGE;
			break;
		case 'l':
			if (sscanf(optarg, "%u,%u", &o->slots[0],
				   &o->slots[1]) != 2 || !o->slots[0] ||
			    o->slots[1] <= o->slots[0])
				return usage_error("bench", "--slots wants "
						   "SMALL,LARGE");
			break;
		case 'p':
			n = parse_sizes(optarg, o->sparse, 3);
			if (n < 0)
				return usage_error("bench", "--sparse wants up "
						   "to 3 sizes, multiples of "
						   "2 MiB");
			o->nsparse = n;
			break;
		case 'n':
			if (count_arg("bench", "--calls", optarg, 1, 100000,
				      &o->calls))
				return EXIT_USAGE;
			break;
		case 'G':
			o->grow_pool = true;
			break;
		case 'P':
			*plot = optarg;
			break;
		case 'D':
			*plot_dir = optarg;
			break;
		case 'h':
			usage();
			return -1;
		default:
			return unknown_option("bench");
		}
	}
	if (optind < argc)
		return usage_error("bench", "unexpected argument '%s'",
				   argv[optind]);
	return 0;
}

static void note_machine(struct bench *b, int argc, char **argv)
{
	struct utsname u;
	time_t now = time(NULL);
	size_t n;

	/* argv[0] is "bench": the command as the user typed it. */
	n = (size_t)snprintf(b->command, sizeof(b->command), "gmemctl");
	for (int i = 0; i < argc && n < sizeof(b->command); i++)
		n += (size_t)snprintf(b->command + n, sizeof(b->command) - n,
				      " %s", argv[i]);
	strftime(b->date, sizeof(b->date), "%Y-%m-%d %H:%M %Z",
		 localtime(&now));
	if (uname(&u) == 0)
		snprintf(b->kernel, sizeof(b->kernel), "%s", u.release);
	b->cpus = (unsigned int)sysconf(_SC_NPROCESSORS_ONLN);
	b->load_start = load1();
	b->qemu_start = count_qemu();
	gmem_probe(&b->host);
	if (!b->host.kvm_present)
		snprintf(b->vm_why, sizeof(b->vm_why), "%s",
			 b->host.kvm_error);
	else if (gmem_vm_create(&b->vm) < 0)
		snprintf(b->vm_why, sizeof(b->vm_why), "%s",
			 gmem_last_error());
}

int cmd_bench(int argc, char **argv)
{
	static void (*const run[PART_COUNT])(struct bench *) = {
		[PART_READY] = bench_ready, [PART_FAULTS] = bench_faults,
		[PART_DISCARD] = bench_discard, [PART_LATENCY] = bench_latency,
		[PART_START] = bench_start,
		[PART_SCALE] = bench_scale, [PART_OVERHEAD] = bench_overhead,
	};
	const char *plot = NULL, *plot_dir = ".";
	struct bench *b = calloc(1, sizeof(*b));
	struct progress bar;
	uint64_t nparts = 0, done = 0;
	double start;
	int ret, measured = 0;

	if (!b)
		return 1;
	ret = parse(argc, argv, b, &plot, &plot_dir);
	if (ret) {
		free(b);
		return ret < 0 ? 0 : ret;
	}
	if (plot) {
		free(b);
		return bench_plot(plot, plot_dir);
	}
	note_machine(b, argc, argv);
	for (int p = 0; p < PART_COUNT; p++)
		nparts += !!(b->o.parts & (1U << p));
	/* On a terminal a bar from the start; elsewhere a line a part. */
	progress_begin(&bar, "bench", nparts);
	bar.unit = "parts";
	bar.after = 0;
	start = now_seconds();
	for (int p = 0; p < PART_COUNT; p++) {
		if (!(b->o.parts & (1U << p)))
			continue;
		double t = now_seconds();

		if (bar.enabled) {
			bar.note = part_names[p];
			progress_update(&bar, done++);
		} else {
			fprintf(stderr, "bench: %s...\n", part_names[p]);
		}
		run[p](b);
		b->part_seconds[p] = now_seconds() - t;
		b->part_load[p] = load1();
	}
	progress_end(&bar);
	b->elapsed = now_seconds() - start;
	b->load_end = load1();
	b->qemu_end = count_qemu();
	if (b->vm)
		gmem_vm_close(b->vm);
	bench_report(b);
	for (int i = 0; i < b->nrows; i++)
		measured += strcmp(b->rows[i].method, "skipped") != 0;
	free(b->rows);
	free(b);
	return measured ? 0 : 1;
}
