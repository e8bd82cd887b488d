// SPDX-License-Identifier: MIT
/*
 * bench_plot.c - "gmemctl bench --plot FILE.csv": a gnuplot script that
 * draws what a --csv run wrote, one PNG per part, each titled with the
 * command that made the figures.  The data go inline, so the script is
 * all gnuplot needs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "gmemctl.h"

enum field {
	F_PART, F_BACKEND, F_SIZE, F_COUNT, F_METHOD, F_WHAT, F_SECONDS,
	F_MAX, F_PERCALL, F_GIBS, F_RATIO, F_RATIO_TO, F_FAULTS, F_P4K,
	F_P2M, F_P1G, F_NOTE, F_COUNT_ALL
};

struct line {
	char *f[F_COUNT_ALL];
};

struct csv {
	char command[512];
	char date[256];
	struct line *l;
	int n;
};

static void chomp(char *s)
{
	s[strcspn(s, "\r\n")] = '\0';
}

static int read_csv(const char *path, struct csv *c)
{
	FILE *f = fopen(path, "re");
	char buf[2048];
	int cap = 0;

	if (!f) {
		fprintf(stderr, "gmemctl bench: %s: %m\n", path);
		return -1;
	}
	while (fgets(buf, sizeof(buf), f)) {
		char *p = buf;

		chomp(buf);
		if (!strncmp(buf, "# command: ", 11)) {
			snprintf(c->command, sizeof(c->command), "%.500s", buf + 11);
			continue;
		}
		if (!strncmp(buf, "# date: ", 8)) {
			snprintf(c->date, sizeof(c->date), "%.250s", buf + 8);
			continue;
		}
		if (buf[0] == '#' || !strncmp(buf, "part,", 5) || !buf[0])
			continue;
		if (c->n == cap) {
			struct line *v;

			cap = cap ? 2 * cap : 128;
			v = realloc(c->l, cap * sizeof(*v));
			if (!v)
				break;
			c->l = v;
		}
		/* The bench writes plain fields: no quotes, no commas inside. */
		for (int i = 0; i < F_COUNT_ALL; i++) {
			char *comma = p ? strchr(p, ',') : NULL;

			if (comma)
				*comma = '\0';
			c->l[c->n].f[i] = strdup(p ? p : "");
			p = comma ? comma + 1 : NULL;
		}
		c->n++;
	}
	fclose(f);
	return 0;
}

static const struct line *find(const struct csv *c, const char *part,
			       const char *backend, const char *size,
			       const char *method)
{
	for (int i = 0; i < c->n; i++) {
		char *const *f = c->l[i].f;

		if (!strcmp(f[F_PART], part) && !strcmp(f[F_METHOD], method) &&
		    (!backend || !strcmp(f[F_BACKEND], backend)) &&
		    (!size || !strcmp(f[F_SIZE], size)))
			return &c->l[i];
	}
	return NULL;
}

/* A value, or "-" (gnuplot's missing mark here) when the row lacks it. */
static void value(const struct line *l, enum field fld, double scale)
{
	if (l && l->f[fld][0])
		printf(" %g", atof(l->f[fld]) * scale);
	else
		printf(" -");
}

static void header(const struct csv *c, const char *png, const char *dir,
		   const char *title)
{
	printf("\nset output '%s/%s'\nreset\nset termoption noenhanced\n"
	       "set datafile missing '-'\nset key top left\nset grid ytics\n"
	       "set title \"%s\\n%s\\n%s\" font ',10'\n", dir, png, title,
	       c->command, c->date);
}

/* Distinct values of field fld among rows of part, in order; max 32. */
static int distinct(const struct csv *c, const char *part, enum field fld,
		    const char **out)
{
	int n = 0;

	for (int i = 0; i < c->n && n < 32; i++) {
		const char *v = c->l[i].f[fld];
		bool seen = false;

		if (strcmp(c->l[i].f[F_PART], part) ||
		    !strcmp(c->l[i].f[F_METHOD], "skipped"))
			continue;
		for (int k = 0; k < n; k++)
			seen |= !strcmp(out[k], v);
		if (!seen)
			out[n++] = v;
	}
	return n;
}

static const char *human(const char *bytes, char *buf, size_t len)
{
	return format_size(strtoull(bytes, NULL, 10), buf, len);
}

static void histogram_style(void)
{
	printf("set style data histograms\nset style histogram clustered "
	       "gap 1\nset style fill solid 0.8 border -1\nset boxwidth 0.9\n"
	       "set xtics rotate by -20\n");
}

static void plot_ready(const struct csv *c, const char *dir)
{
	static const char *const m[] = {
		"prealloc_1", "prealloc_n", "populate", "populate_no_zero",
		"no_zero_touch", "memset_1", "memset_n", "hugetlb_fallocate",
	};
	static const char *const label[] = {
		"QEMU prealloc 1 thread", "QEMU prealloc N threads",
		"gmem_populate", "NO_ZERO (not ready)", "NO_ZERO + first touch",
		"memset 1 thread (limit)", "memset N threads",
		"raw hugetlb fallocate (limit)",
	};
	const char *be[32], *sz[32];
	int nb = distinct(c, "ready", F_BACKEND, be);
	int ns = distinct(c, "ready", F_SIZE, sz), cols = 0;
	bool have[sizeof(m) / sizeof(m[0])];
	char h[32];

	if (!nb)
		return;
	/* Only methods this CSV has: gnuplot warns of an empty column. */
	printf("$ready << EOD\ncase");
	for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++) {
		have[k] = find(c, "ready", NULL, NULL, m[k]) != NULL;
		if (have[k]) {
			printf(" \"%s\"", label[k]);
			cols++;
		}
	}
	printf("\n");
	for (int i = 0; i < nb; i++)
		for (int s = 0; s < ns; s++) {
			double gib = (double)strtoull(sz[s], NULL, 10) / GIB;

			if (!find(c, "ready", be[i], sz[s], "populate"))
				continue;
			printf("\"%s %s\"", be[i], human(sz[s], h, sizeof(h)));
			for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++)
				if (have[k])
					value(find(c, "ready", be[i], sz[s],
						   m[k]), F_SECONDS, 1 / gib);
			printf("\n");
		}
	printf("EOD\n");
	header(c, "bench-ready.png", dir, "Ready memory: seconds per GiB "
	       "(lower is faster)");
	histogram_style();
	printf("set key top right\nset ylabel 'seconds per GiB'\n"
	       "set yrange [0:*]\n"
	       "plot for [i=2:%d] $ready using i:xtic(1) title "
	       "columnheader(i)\n", cols + 1);
}

static void plot_discard(const struct csv *c, const char *dir)
{
	static const char *const g[] = { "4k", "2m", "whole" };
	const char *be[32];
	int nb = distinct(c, "discard", F_BACKEND, be);
	char key[32];

	if (!nb)
		return;
	printf("$discard << EOD\ncase \"gmem_discard\" \"raw punch-hole\"\n");
	for (int i = 0; i < nb; i++)
		for (int k = 0; k < 3; k++) {
			const struct line *lib, *raw;

			snprintf(key, sizeof(key), "discard_%s", g[k]);
			lib = find(c, "discard", be[i], NULL, key);
			snprintf(key, sizeof(key), "punch_%s", g[k]);
			raw = find(c, "discard", be[i], NULL, key);
			if (!lib && !raw)
				continue;
			printf("\"%s %s\"", be[i], g[k]);
			value(lib, F_GIBS, 1);
			value(raw, F_GIBS, 1);
			printf("\n");
		}
	printf("EOD\n");
	header(c, "bench-discard.png", dir, "Discard throughput by piece "
	       "size (higher is faster; log scale)");
	histogram_style();
	printf("set logscale y\nset ylabel 'GiB/s'\n"
	       "plot for [i=2:3] $discard using i:xtic(1) title "
	       "columnheader(i)\n");
}

static void plot_overhead(const struct csv *c, const char *dir)
{
	char h[32];
	int n = 0;

	printf("$overhead << EOD\ncall \"library / raw\"\n");
	for (int i = 0; i < c->n; i++) {
		char *const *f = c->l[i].f;

		if (strcmp(f[F_PART], "overhead") || !f[F_RATIO][0])
			continue;
		printf("\"%s %s %s\" %s\n", f[F_METHOD], f[F_BACKEND],
		       human(f[F_SIZE], h, sizeof(h)), f[F_RATIO]);
		n++;
	}
	printf("EOD\n");
	if (!n)
		return;
	header(c, "bench-overhead.png", dir, "Each call's time over the raw "
	       "syscalls it stands for (1 = no overhead)");
	histogram_style();
	printf("set logscale y\nset ylabel 'library time / raw time (log "
	       "scale)'\nset yrange [0.5:*]\n"
	       "plot $overhead using 2:xtic(1) title columnheader(2), "
	       "1.02 with lines dt 2 lw 2 title 'target: within 2%%'\n");
}

static void plot_scale(const struct csv *c, const char *dir)
{
	static const char *const keys[] = { "bind", "raw_bind", "unbind",
					    "raw_unbind" };
	const char *be[32];
	int nb = distinct(c, "scale", F_BACKEND, be), pts = 0, slots = 0;

	for (int i = 0; i < nb; i++) {
		printf("$stats%d << EOD\n", i);
		for (int k = 0; k < c->n; k++) {
			char *const *f = c->l[k].f;

			if (strcmp(f[F_PART], "scale") ||
			    strcmp(f[F_METHOD], "file_stats") ||
			    strcmp(f[F_BACKEND], be[i]))
				continue;
			printf("%g %g\n", (double)strtoull(f[F_SIZE], NULL, 10) /
			       GIB, atof(f[F_SECONDS]) * 1e3);
			pts++;
		}
		printf("EOD\n");
	}
	printf("$slots << EOD\nslots \"gmem_bind\" \"raw bind\" "
	       "\"gmem_unbind\" \"raw delete\"\n");
	for (int k = 0; k < c->n; k++) {
		char *const *f = c->l[k].f;

		if (strcmp(f[F_PART], "scale") || strcmp(f[F_METHOD], "bind"))
			continue;
		printf("\"%s memslots\"", f[F_COUNT]);
		for (int j = 0; j < 4; j++)
			value(find(c, "scale", "memfd", f[F_SIZE], keys[j]),
			      F_PERCALL, 1);
		printf("\n");
		slots++;
	}
	printf("EOD\n");
	if (!pts && !slots)
		return;
	header(c, "bench-scale.png", dir, "Scale");
	printf("set multiplot layout 1,2 title \"Scale\\n%s\" font ',10'\n"
	       "unset title\nset logscale x 2\nset xlabel 'sparse file size "
	       "(GiB)'\nset ylabel 'gmem_file_stats, ms'\nset yrange [0:*]\n",
	       c->command);
	printf("plot ");
	for (int i = 0; i < nb; i++)
		printf("$stats%d using 1:2 with linespoints lw 2 title '%s', ",
		       i, be[i]);
	printf("10 with lines dt 2 title 'target at 1 TiB: 10 ms'\n"
	       "unset logscale x\nunset xlabel\n");
	histogram_style();
	printf("set ylabel 'us per call'\nplot for [i=2:5] $slots using "
	       "i:xtic(1) title columnheader(i)\nunset multiplot\n");
}

static void plot_faults(const struct csv *c, const char *dir)
{
	static const char *const m[] = {
		"lazy", "prealloc", "populate", "populate_no_zero",
		"populate_prefault",
	};
	const char *be[32];
	int nb = distinct(c, "faults", F_BACKEND, be), rows = 0;

	printf("$faults << EOD\nbackend \"lazy\" \"QEMU prealloc\" "
	       "\"gmem_populate\" \"NO_ZERO\" \"populate + prefault\"\n");
	for (int i = 0; i < nb; i++) {
		const struct line *l = find(c, "faults", be[i], NULL, "lazy");

		if (!l || !l->f[F_FAULTS][0])
			continue;
		printf("\"%s\"", be[i]);
		for (size_t k = 0; k < sizeof(m) / sizeof(m[0]); k++)
			value(find(c, "faults", be[i], NULL, m[k]), F_FAULTS, 1);
		printf("\n");
		rows++;
	}
	printf("EOD\n");
	if (!rows) {
		fprintf(stderr, "gmemctl bench: no fault counts in this CSV "
			"(this KVM does not count them): no faults plot\n");
		return;
	}
	header(c, "bench-faults.png", dir, "KVM faults (pf_taken) during a "
	       "guest's first pass");
	histogram_style();
	/* Log scale, as 4 KiB and 2 MiB backing differ 512-fold; + 1 so
	 * that none (0) still shows, at the bottom. */
	printf("set logscale y\nset ylabel 'KVM faults + 1 (log scale; 1 = "
	       "none)'\nset yrange [0.8:*]\n"
	       "plot for [i=2:6] $faults using (column(i) + 1):xtic(1) title "
	       "columnheader(i)\n");
}

int bench_plot(const char *path, const char *dir)
{
	struct csv c = { 0 };

	if (read_csv(path, &c) < 0)
		return 1;
	if (!c.n) {
		fprintf(stderr, "gmemctl bench: %s has no rows\n", path);
		return 1;
	}
	printf("# gnuplot script from gmemctl bench --plot %s\n"
	       "set terminal pngcairo size 1400,800 font ',11'\n", path);
	plot_ready(&c, dir);
	plot_discard(&c, dir);
	plot_overhead(&c, dir);
	plot_scale(&c, dir);
	plot_faults(&c, dir);
	for (int i = 0; i < c.n; i++)
		for (int k = 0; k < F_COUNT_ALL; k++)
			free(c.l[i].f[k]);
	free(c.l);
	return 0;
}
