// SPDX-License-Identifier: MIT
/* version.c - the version of the library that is running. */
#include "internal.h"

#define STR2(x) #x
#define STR(x) STR2(x)

GMEM_API const char *gmem_version(void)
{
	return STR(GMEM_VERSION_MAJOR) "." STR(GMEM_VERSION_MINOR) "."
	       STR(GMEM_VERSION_PATCH);
}
