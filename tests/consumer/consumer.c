// SPDX-License-Identifier: MIT
/*
 * consumer.c - a program outside the tree, built against an installed
 * libgmem with pkg-config alone and run against its shared library: the
 * check that installing works for someone else's build.
 */
#include <gmem.h>
#include <stdio.h>
#include <string.h>

/*
 * A name the library uses inside: a program may have its own, since the
 * library keeps its insides to itself (a static link fails otherwise).
 */
int gmem_fail(int err, const char *fmt, ...);
int gmem_fail(int err, const char *fmt, ...)
{
	(void)fmt;
	return -err;
}

int main(void)
{
	struct gmem_file_args a = { .size = 4 << 20,
				    .backend = GMEM_BACKEND_MEMFD,
				    .name = "consumer" };
	struct gmem_file_stats st;
	struct gmem_file *f;

	printf("libgmem %s (header %d.%d.%d)\n", gmem_version(),
	       GMEM_VERSION_MAJOR, GMEM_VERSION_MINOR, GMEM_VERSION_PATCH);
	if (gmem_file_create(&a, &f) < 0 || gmem_populate(f, 0, 4 << 20) < 0 ||
	    gmem_discard(f, 0, 1 << 20) < 0 || gmem_file_stats(f, &st) < 0) {
		printf("FAIL: %s\n", gmem_last_error());
		return 1;
	}
	printf("populated %llu bytes after a 1 MiB discard\n",
	       (unsigned long long)st.populated_bytes);
	gmem_file_close(f);
	return st.populated_bytes == 3 << 20 ? 0 : 1;
}
