// SPDX-License-Identifier: MIT
/*
 * cmd_stats.c - "gmemctl stats": the memory that processes using libgmem
 * hold, from the figures they export (gmem_stats_export_start), as a
 * meminfo-style block or JSON.
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static int read_all(const char *dir, struct figures *s)
{
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
		read_one(path, s, true);
	}
	closedir(d);
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

static void print_json(const struct figures *s)
{
	printf("{\"processes\": %d", s->processes);
	for (int i = 0; i < s->n; i++) {
		printf(", ");
		json_string(stdout, s->f[i].key);
		/* JSON carries bytes; the meminfo block carries kB. */
		printf(": %llu", s->f[i].kb ? s->f[i].value * 1024 : s->f[i].value);
	}
	printf("}\n");
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: gmemctl stats [--pid PID] [--dir DIR] [--json]\n"
		"Show the guest memory held by processes that export their "
		"figures with\ngmem_stats_export_start(): the sum over all of "
		"them, or one process.\n\n"
		"  --pid PID   only this process\n"
		"  --dir DIR   where the figures are (default /run/gmem)\n"
		"  --json      JSON, in bytes\n");
}

int cmd_stats(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "pid", required_argument, NULL, 'p' },
		{ "dir", required_argument, NULL, 'd' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *dir = "/run/gmem";
	struct figures *s;
	bool json = false;
	long pid = 0;
	char *end;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "p:d:jh", opts, NULL)) != -1) {
		switch (c) {
		case 'p':
			pid = strtol(optarg, &end, 10);
			if (*end || pid <= 0)
				return usage_error("stats", "bad pid '%s'",
						   optarg);
			break;
		case 'd':
			dir = optarg;
			break;
		case 'j':
			json = true;
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			return usage_error("stats", "bad option");
		}
	}
	if (optind < argc)
		return usage_error("stats", "unexpected argument '%s'",
				   argv[optind]);
	s = calloc(1, sizeof(*s));
	if (!s)
		return 1;
	if (pid) {
		char path[1024];

		snprintf(path, sizeof(path), "%s/%ld.stats", dir, pid);
		ret = read_one(path, s, false);
		if (ret < 0) {
			fprintf(stderr, "gmemctl stats: process %ld exports no "
				"figures (%s: %s); it must call "
				"gmem_stats_export_start()\n", pid, path,
				strerror(-ret));
			free(s);
			return 1;
		}
	} else {
		ret = read_all(dir, s);
		if (ret < 0) {
			fprintf(stderr, "gmemctl stats: %s: %s\n", dir,
				strerror(-ret));
			free(s);
			return 1;
		}
		if (!json)
			printf("%-20s %12d\n", "Processes:", s->processes);
	}
	if (json)
		print_json(s);
	else
		print_meminfo(s);
	free(s);
	return 0;
}
