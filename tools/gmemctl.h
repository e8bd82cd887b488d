/* SPDX-License-Identifier: MIT */
/* gmemctl.h - what the subcommands of gmemctl share. */
#ifndef GMEMCTL_H
#define GMEMCTL_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

/* Exit status for bad usage, as in most command-line tools. */
#define EXIT_USAGE 2

int cmd_probe(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_stats(int argc, char **argv);
int cmd_bench(int argc, char **argv);
/* demo --private; 77 when this kernel has no private memory. */
int demo_private(uint64_t size, bool json);

/* "256M", "4G", "4096", "2MiB": binary units.  -EINVAL on anything else. */
int parse_size(const char *s, uint64_t *out);
/* "256 MiB", "1.5 GiB", "4 KiB" into buf. */
const char *format_size(uint64_t bytes, char *buf, size_t len);
double now_seconds(void);
/* Print s as a JSON string literal, quotes and escapes included. */
void json_string(FILE *f, const char *s);
/* Report a usage error for cmd and return EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif /* GMEMCTL_H */
