// SPDX-License-Identifier: MIT
/* util.c - sizes, times and JSON strings for gmemctl's subcommands. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gmemctl.h"

/*
 * Decimal only: "010M" is ten MiB, never octal, and "0x10" is an error.
 * A fraction is fine when it comes to whole bytes ("1.5G", not "1.3K").
 */
int parse_size(const char *s, uint64_t *out)
{
	unsigned __int128 whole = 0, frac = 0, scale = 1, bytes;
	unsigned int shift = 0;
	const char *p = s;

	if (!s || !isdigit((unsigned char)*p))
		return -EINVAL;
	for (; isdigit((unsigned char)*p); p++) {
		whole = whole * 10 + (unsigned)(*p - '0');
		if (whole > ~0ULL)
			return -ERANGE;
	}
	if (*p == '.') {
		if (!isdigit((unsigned char)*++p))
			return -EINVAL;
		for (; isdigit((unsigned char)*p); p++) {
			if (scale > 1000000000000ULL)
				return -EINVAL;	/* more digits than bytes */
			frac = frac * 10 + (unsigned)(*p - '0');
			scale *= 10;
		}
	}
	switch (toupper((unsigned char)*p)) {
	case 'K': shift = 10; p++; break;
	case 'M': shift = 20; p++; break;
	case 'G': shift = 30; p++; break;
	case 'T': shift = 40; p++; break;
	}
	if (shift && strcmp(p, "iB") == 0)
		p += 2;
	else if (shift && (*p == 'B' || *p == 'b'))
		p++;
	if (*p)
		return -EINVAL;
	if (((frac << shift) % scale) != 0)
		return -EINVAL;			/* not a whole number of bytes */
	bytes = (whole << shift) + (frac << shift) / scale;
	if (bytes > ~0ULL)
		return -ERANGE;
	*out = (uint64_t)bytes;
	return 0;
}

int size_arg(const char *cmd, const char *opt, const char *arg, uint64_t *out)
{
	int ret = parse_size(arg, out);

	if (ret == -ERANGE)
		return usage_error(cmd, "%s '%s' is larger than 16 EiB", opt,
				   arg);
	if (ret < 0)
		return usage_error(cmd, "%s '%s' is not a size: give whole "
				   "bytes in decimal with an optional K, M, G "
				   "or T suffix (binary units), e.g. 512M or "
				   "1.5G", opt, arg);
	return 0;
}

int count_arg(const char *cmd, const char *opt, const char *arg,
	      unsigned int min, unsigned int max, unsigned int *out)
{
	unsigned long v;
	char *end;

	errno = 0;
	v = isdigit((unsigned char)*arg) ? strtoul(arg, &end, 10) : 0;
	if (!isdigit((unsigned char)*arg) || errno || *end || v < min ||
	    v > max)
		return usage_error(cmd, "%s '%s' must be a whole number from "
				   "%u to %u", opt, arg, min, max);
	*out = (unsigned int)v;
	return 0;
}

const char *format_size(uint64_t bytes, char *buf, size_t len)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	int u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	if (u == 0 || v == (double)(uint64_t)v)
		snprintf(buf, len, "%llu %s", (unsigned long long)v, units[u]);
	else
		snprintf(buf, len, "%.1f %s", v, units[u]);
	return buf;
}

double now_seconds(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void json_string(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

void json_number_or_null(FILE *f, uint64_t v, bool known)
{
	if (known)
		fprintf(f, "%llu", (unsigned long long)v);
	else
		fputs("null", f);
}

int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "gmemctl %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, " (see gmemctl %s --help)\n", cmd);
	return EXIT_USAGE;
}

int unknown_option(const char *cmd)
{
	/* getopt has named the option already. */
	return usage_error(cmd, "unknown option, or an option without its "
			   "value");
}
