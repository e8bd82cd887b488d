// SPDX-License-Identifier: MIT
/* error.c - a per-thread reason for the most recent failure. */
#include <stdarg.h>
#include <stdio.h>

#include "internal.h"

static __thread char last_error[256];

int gmem_fail(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(last_error, sizeof(last_error), fmt, ap);
	va_end(ap);
	return -err;
}

const char *gmem_last_error(void)
{
	return last_error;
}
