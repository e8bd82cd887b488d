// SPDX-License-Identifier: MIT
/*
 * cmd_stats.c - "gmemctl stats": the memory that processes using libgmem
 * hold, from the figures they export (gmem_stats_export_start), as a
 * meminfo-style block or JSON, once or as a live per-process view.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "gmem.h"
#include "gmemctl.h"

#define MAX_KEYS 256

struct figure {
	char key[64];
	unsigned long long value;
	bool kb;
};

struct figures {
	struct figure f[MAX_KEYS];
	int n;
	int processes;
};

static struct figure *find_or_add(struct figures *s, const char *key, bool kb)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->f[i].key, key))
			return &s->f[i];
	if (s->n == MAX_KEYS)
		return NULL;
	snprintf(s->f[s->n].key, sizeof(s->f[0].key), "%s", key);
	s->f[s->n].value = 0;
	s->f[s->n].kb = kb;
	return &s->f[s->n++];
}

/* Add one exported file.  VM lines get the pid in their key when merging. */
static int read_one(const char *path, struct figures *s, bool merge)
{
	char line[256], key[64], unit[8];
	unsigned long long v, pid = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return -errno;
	while (fgets(line, sizeof(line), f)) {
		struct figure *fig;
		int n = sscanf(line, "%39[^:]: %llu %7s", key, &v, unit);
		char merged[sizeof(key)];

		if (n < 2)
			continue;
		if (!strcmp(key, "Pid")) {
			pid = v;
			if (merge)
				continue;
		}
		if (merge && !strcmp(key, "Generation"))
			continue;	/* one process's count; no sum */
		if (merge && !strncmp(key, "GmemVm", 6)) {
			snprintf(merged, sizeof(merged), "GmemVm%llu_%.20s",
				 pid, key + 6);
			memcpy(key, merged, sizeof(key));
		}
		fig = find_or_add(s, key, n == 3 && !strcmp(unit, "kB"));
		if (fig)
			fig->value += v;
	}
	fclose(f);
	s->processes++;
	return 0;
}

static bool process_alive(int pid)
{
	return kill(pid, 0) == 0 || errno == EPERM;
}

/*
 * Sum every live process's figures into s; with procs, also keep each
 * process's own (up to *nprocs of them; *nprocs becomes how many).
 */
static int read_all(const char *dir, struct figures *s,
		    struct figures *procs, int *nprocs)
{
	int room = procs ? *nprocs : 0, kept = 0;
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[1024];
	int pid;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((e = readdir(d))) {
		char tail[16];

		if (sscanf(e->d_name, "%d.%15s", &pid, tail) != 2 ||
		    strcmp(tail, "stats"))
			continue;
		if (!process_alive(pid))
			continue;	/* left behind by a process that died */
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (read_one(path, s, true) < 0)
			continue;	/* it stopped exporting meanwhile */
		if (kept < room) {
			memset(&procs[kept], 0, sizeof(procs[kept]));
			if (read_one(path, &procs[kept], false) == 0)
				kept++;
		}
	}
	closedir(d);
	if (procs)
		*nprocs = kept;
	return 0;
}

static unsigned long long value_of(const struct figures *s, const char *key)
{
	for (int i = 0; i < s->n; i++)
		if (!strcmp(s->f[i].key, key))
			return s->f[i].kb ? s->f[i].value * 1024 : s->f[i].value;
	return 0;
}

static void print_meminfo(const struct figures *s)
{
	for (int i = 0; i < s->n; i++) {
		char k[48];

		snprintf(k, sizeof(k), "%s:", s->f[i].key);
		if (s->f[i].kb)
			printf("%-20s %12llu kB\n", k, s->f[i].value);
		else
			printf("%-20s %12llu\n", k, s->f[i].value);
	}
}

/* One JSON object, no newline; "processes" only for a sum. */
static void print_json(const struct figures *s, bool with_processes)
{
	printf("{");
	if (with_processes)
		printf("\"processes\": %d%s", s->processes, s->n ? ", " : "");
	for (int i = 0; i < s->n; i++) {
		if (i)
			printf(", ");
		json_string(stdout, s->f[i].key);
		/* JSON carries bytes; the meminfo block carries kB. */
		printf(": %llu", s->f[i].kb ? s->f[i].value * 1024 : s->f[i].value);
	}
	printf("}");
}

struct watch {
	const char *dir;
	long pid;			/* 0: every process */
	double interval;
	unsigned int count;		/* refreshes; 0: until quit */
	bool json;
	bool tty;
	struct figures *procs;		/* this refresh's, per process */
	struct figures *prev;		/* the last refresh's */
	int nprocs, nprev, room;
};

static volatile sig_atomic_t watch_quit;

static void on_quit_signal(int sig)
{
	(void)sig;
	watch_quit = 1;
}

/* Resident bytes the process had at the last refresh, or its current. */
static unsigned long long prev_resident(const struct watch *w,
					const struct figures *p)
{
	unsigned long long pid = value_of(p, "Pid");

	for (int i = 0; i < w->nprev; i++)
		if (value_of(&w->prev[i], "Pid") == pid)
			return value_of(&w->prev[i], "GmemTotal");
	return value_of(p, "GmemTotal");
}

static void size_cell(unsigned long long v)
{
	char b[32];

	printf(" %10s", format_size(v, b, sizeof(b)));
}

static void print_row(const char *who, const struct figures *p,
		      long long change)
{
	char b[32];

	printf("%-8s %5llu %5llu", who, value_of(p, "Vms"),
	       value_of(p, "Files"));
	size_cell(value_of(p, "GmemSize"));
	size_cell(value_of(p, "GmemTotal"));
	size_cell(value_of(p, "GmemPopulated"));
	size_cell(value_of(p, "GmemShared"));
	size_cell(value_of(p, "GmemPrivate"));
	size_cell(value_of(p, "GmemDiscarded"));
	format_size((unsigned long long)(change < 0 ? -change : change), b,
		    sizeof(b));
	printf(" %c%9s\n", change < 0 ? '-' : change > 0 ? '+' : ' ', b);
}

/* One refresh: a table of processes, like top, or one JSON line. */
static void watch_draw(struct watch *w, const struct figures *sum)
{
	char when[32];
	time_t t = time(NULL);
	long long total_change = 0;

	strftime(when, sizeof(when), "%H:%M:%S", localtime(&t));
	if (w->json) {
		printf("{\"time\": %lld, \"processes\": [", (long long)t);
		for (int i = 0; i < w->nprocs; i++) {
			if (i)
				printf(", ");
			print_json(&w->procs[i], false);
		}
		printf("], \"total\": ");
		print_json(sum, true);
		printf("}\n");
		fflush(stdout);
		return;
	}
	if (w->tty)
		printf("\033[H\033[J");	/* home, then clear: redraw in place */
	else
		printf("\n");
	printf("gmemctl stats  %s  every %g s  %d process%s%s\n\n", when,
	       w->interval, w->nprocs, w->nprocs == 1 ? "" : "es",
	       w->tty ? "  (q quits)" : "");
	printf("%-8s %5s %5s %10s %10s %10s %10s %10s %10s %10s\n", "PID",
	       "VMS", "FILES", "SIZE", "RESIDENT", "POPULATED", "SHARED",
	       "PRIVATE", "DISCARDED", "CHANGE");
	for (int i = 0; i < w->nprocs; i++) {
		const struct figures *p = &w->procs[i];
		long long change = (long long)(value_of(p, "GmemTotal") -
					       prev_resident(w, p));
		char pid[16];

		snprintf(pid, sizeof(pid), "%llu", value_of(p, "Pid"));
		total_change += change;
		print_row(pid, p, change);
	}
	if (!w->pid)
		print_row("total", sum, total_change);
	fflush(stdout);
}

/* Until the count is reached, q is typed or a signal says stop. */
static int watch_run(struct watch *w)
{
	struct termios saved, raw;
	struct sigaction sa = { .sa_handler = on_quit_signal };
	bool raw_mode = false;
	struct figures *sum;
	int ret = 0;

	w->room = 256;
	w->procs = calloc((size_t)w->room, sizeof(*w->procs));
	w->prev = calloc((size_t)w->room, sizeof(*w->prev));
	sum = calloc(1, sizeof(*sum));
	if (!w->procs || !w->prev || !sum) {
		ret = 1;
		goto out;
	}
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if (w->tty && isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0) {
		raw = saved;
		raw.c_lflag &= ~(tcflag_t)(ICANON | ECHO);
		raw_mode = tcsetattr(STDIN_FILENO, TCSANOW, &raw) == 0;
	}
	for (unsigned int n = 0; !watch_quit && (!w->count || n < w->count); n++) {
		struct pollfd pfd = { .fd = STDIN_FILENO, .events = POLLIN };
		char key;

		memset(sum, 0, sizeof(*sum));
		w->nprocs = w->room;
		if (w->pid) {
			char path[1024];

			snprintf(path, sizeof(path), "%s/%ld.stats", w->dir,
				 w->pid);
			memset(&w->procs[0], 0, sizeof(w->procs[0]));
			w->nprocs = read_one(path, &w->procs[0], false) == 0;
			if (w->nprocs)
				*sum = w->procs[0];
		} else if ((ret = read_all(w->dir, sum, w->procs,
					   &w->nprocs)) < 0) {
			fprintf(stderr, "gmemctl stats: %s: %s\n", w->dir,
				strerror(-ret));
			ret = 1;
			break;
		}
		watch_draw(w, sum);
		memcpy(w->prev, w->procs, (size_t)w->nprocs * sizeof(*w->prev));
		w->nprev = w->nprocs;
		if (w->count && n + 1 == w->count)
			break;
		/* Sleep the interval, waking early for a key. */
		if (poll(&pfd, raw_mode ? 1 : 0, (int)(w->interval * 1000)) > 0 &&
		    read(STDIN_FILENO, &key, 1) == 1 && (key == 'q' || key == 'Q'))
			break;
	}
	if (raw_mode)
		tcsetattr(STDIN_FILENO, TCSANOW, &saved);
out:
	free(w->procs);
	free(w->prev);
	free(sum);
	return ret;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gmemctl stats [--pid PID] [--dir DIR] [--json]\n"
		"                     [--watch [--interval SECONDS] [--count N]]\n"
		"Show the guest memory held by processes that export their "
		"figures with\ngmem_stats_export_start(): the sum over all of "
		"them, or one process.\n\n"
		"  --pid PID           only this process\n"
		"  --dir DIR           where the figures are (default /run/gmem)\n"
		"  --json              JSON, in bytes (with --watch: one object "
		"per refresh)\n"
		"  --watch             a live table of processes, redrawn like "
		"top; q quits\n"
		"  --interval SECONDS  time between refreshes (default 2)\n"
		"  --count N           stop after N refreshes\n"
		"  -h, --help          this text\n");
}

/* Every option; gmemctl complete lists them for the shell. */
const struct option stats_options[] = {
	{ "pid", required_argument, NULL, 'p' },
	{ "dir", required_argument, NULL, 'd' },
	{ "json", no_argument, NULL, 'j' },
	{ "watch", no_argument, NULL, 'w' },
	{ "interval", required_argument, NULL, 'i' },
	{ "count", required_argument, NULL, 'n' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_stats(int argc, char **argv)
{
	struct watch w = { .dir = "/run/gmem", .interval = 2.0 };
	bool watch = false, timing_given = false;
	struct figures *s;
	char *end;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", stats_options,
				NULL)) != -1) {
		switch (c) {
		case 'p':
			w.pid = strtol(optarg, &end, 10);
			if (*end || w.pid <= 0)
				return usage_error("stats", "--pid '%s' is not "
						   "a process id", optarg);
			break;
		case 'd':
			w.dir = optarg;
			break;
		case 'j':
			w.json = true;
			break;
		case 'w':
			watch = true;
			break;
		case 'i':
			w.interval = strtod(optarg, &end);
			if (end == optarg || *end || !(w.interval >= 0.1) ||
			    w.interval > 86400)
				return usage_error("stats", "--interval '%s' "
						   "must be seconds from 0.1 "
						   "to 86400", optarg);
			timing_given = true;
			break;
		case 'n':
			if (count_arg("stats", "--count", optarg, 1, 1000000,
				      &w.count))
				return EXIT_USAGE;
			timing_given = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return unknown_option("stats");
		}
	}
	if (optind < argc)
		return usage_error("stats", "unexpected argument '%s'",
				   argv[optind]);
	if (timing_given && !watch)
		return usage_error("stats", "--interval and --count go with "
				   "--watch");
	if (watch) {
		w.tty = isatty(STDOUT_FILENO) && !w.json;
		return watch_run(&w);
	}
	s = calloc(1, sizeof(*s));
	if (!s)
		return 1;
	if (w.pid) {
		char path[1024];

		snprintf(path, sizeof(path), "%s/%ld.stats", w.dir, w.pid);
		ret = read_one(path, s, false);
		if (ret < 0) {
			fprintf(stderr, "gmemctl stats: process %ld exports no "
				"figures (%s: %s); it must call "
				"gmem_stats_export_start()\n", w.pid, path,
				strerror(-ret));
			free(s);
			return 1;
		}
	} else {
		ret = read_all(w.dir, s, NULL, NULL);
		if (ret < 0) {
			fprintf(stderr, "gmemctl stats: %s: %s\n", w.dir,
				strerror(-ret));
			free(s);
			return 1;
		}
		if (!w.json)
			printf("%-20s %12d\n", "Processes:", s->processes);
	}
	if (w.json) {
		print_json(s, true);
		printf("\n");
	} else
		print_meminfo(s);
	free(s);
	return 0;
}
