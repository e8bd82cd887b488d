// SPDX-License-Identifier: MIT
/* error.c - a per-thread reason for the most recent failed call. */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

static __thread char last_error[320];

int gmem_fail(int err, const char *fmt, ...)
{
	char buf[sizeof(last_error)];
	va_list ap;

	/*
	 * Format into a copy first: a reason may quote the previous one
	 * (gmem_last_error() as an argument), and vsnprintf must not write
	 * over what it is reading.
	 */
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	memcpy(last_error, buf, sizeof(buf));
	return -err;
}

void gmem_error_clear(void)
{
	last_error[0] = '\0';
}

GMEM_API const char *gmem_last_error(void)
{
	return last_error;
}
