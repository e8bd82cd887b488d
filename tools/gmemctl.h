/* SPDX-License-Identifier: MIT */
/* gmemctl.h - what the subcommands of gmemctl share. */
#ifndef GMEMCTL_H
#define GMEMCTL_H

#include <getopt.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit status for bad usage, as in most command-line tools. */
#define EXIT_USAGE 2

int cmd_probe(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* Each command's options, for its getopt_long and for shell completion. */
extern const struct option probe_options[], demo_options[], stats_options[],
	bench_options[];
/* demo --private; 77 when this kernel has no private memory. */
int demo_private(uint64_t size, bool json);

/*
 * "256M", "4G", "4096", "2MiB", "1.5G": decimal, binary units.  -EINVAL on
 * anything else, -ERANGE past 64 bits.
 */
int parse_size(const char *s, uint64_t *out);
/* An option's size or count, or a usage error naming the option: 0 or
 * EXIT_USAGE. */
int size_arg(const char *cmd, const char *opt, const char *arg, uint64_t *out);
int count_arg(const char *cmd, const char *opt, const char *arg,
	      unsigned int min, unsigned int max, unsigned int *out);
/* "256 MiB", "1.5 GiB", "4 KiB" into buf. */
const char *format_size(uint64_t bytes, char *buf, size_t len);
double now_seconds(void);
/* Print s as a JSON string literal, quotes and escapes included. */
void json_string(FILE *f, const char *s);
/* v as a JSON number, or null when it is not known. */
void json_number_or_null(FILE *f, uint64_t v, bool known);
/* Report a usage error for cmd and return EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* After getopt_long returned '?' or ':'. */
int unknown_option(const char *cmd);

/*
 * A progress bar on stderr for work that lasts: drawn only when stderr is
 * a terminal and the work has run for a second (GMEMCTL_PROGRESS_AFTER
 * changes the delay, in seconds; GMEMCTL_PROGRESS=0 turns it off), and
 * erased when the work ends so the report below stays clean.
 */
struct progress {
	const char *what;
	const char *unit;		/* counted in these; NULL: bytes */
	const char *note;		/* what is under way, or NULL */
	uint64_t total;
	double start, after, last_draw;
	bool enabled, drawn;
};

void progress_begin(struct progress *p, const char *what, uint64_t total);
void progress_update(struct progress *p, uint64_t done);
void progress_end(struct progress *p);

/*
 * Populate [offset, offset + length) of file as a background job and show
 * its progress while waiting: gmem_populate_with() with a progress bar.
 */
struct gmem_file;
struct gmem_populate_args;
int populate_with_progress(struct gmem_file *file, uint64_t offset,
			   uint64_t length,
			   const struct gmem_populate_args *args);

#endif /* GMEMCTL_H */
