// SPDX-License-Identifier: MIT
/* backend.c - the table of backends, names, and the choice of the best. */
#include <errno.h>
#include <string.h>

#include "internal.h"

/* In order of preference for GMEM_BACKEND_AUTO. */
static const struct gmem_backend_ops *const backends[] = {
	&gmem_backend_guest_memfd,
	&gmem_backend_memfd,
	&gmem_backend_hugetlb,
};

#define NR_BACKENDS (sizeof(backends) / sizeof(backends[0]))

const struct gmem_backend_ops *gmem_backend_ops(enum gmem_backend id)
{
	for (size_t i = 0; i < NR_BACKENDS; i++)
		if (backends[i]->id == id)
			return backends[i];
	return NULL;
}

/*
 * The first backend usable with these args among those AUTO may pick.  A
 * backend that says no leaves its reason, so the last one is what a
 * failure reports.
 */
const struct gmem_backend_ops *gmem_backend_choose(
	const struct gmem_file_args *a)
{
	for (size_t i = 0; i < NR_BACKENDS; i++) {
		if (!backends[i]->auto_choice)
			continue;
		if (backends[i]->check(a) == 0) {
			gmem_error_clear();
			return backends[i];
		}
	}
	return NULL;
}

const struct gmem_backend_ops *gmem_backend_claiming(const struct statfs *sfs,
						    const struct stat *st)
{
	for (size_t i = 0; i < NR_BACKENDS; i++)
		if (backends[i]->claims(sfs, st))
			return backends[i];
	return NULL;
}

GMEM_API const char *gmem_backend_name(enum gmem_backend backend)
{
	const struct gmem_backend_ops *ops = gmem_backend_ops(backend);

	if (backend == GMEM_BACKEND_AUTO)
		return "auto";
	return ops ? ops->name : "unknown";
}

GMEM_API int gmem_backend_parse(const char *name, enum gmem_backend *out)
{
	gmem_error_clear();
	if (!name || !out)
		return gmem_fail(EINVAL, "gmem_backend_parse: NULL argument");
	if (strcmp(name, "auto") == 0) {
		*out = GMEM_BACKEND_AUTO;
		return 0;
	}
	for (size_t i = 0; i < NR_BACKENDS; i++) {
		if (strcmp(name, backends[i]->name) == 0) {
			*out = backends[i]->id;
			return 0;
		}
	}
	return gmem_fail(EINVAL, "unknown backend \"%s\" (want auto, "
			 "guest_memfd, memfd or hugetlb)", name);
}
