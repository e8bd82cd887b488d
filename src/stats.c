// SPDX-License-Identifier: MIT
/*
 * stats.c - process-wide figures: totals over every live file, by backend,
 * and for one VM.  Files are gathered with references under the registry
 * lock, then asked one by one with no process-wide lock held, so creating
 * and closing never wait on the library for a stats call (nor on the
 * kernel's mmap_lock, with GMEM_STATS_NO_TOUCHED).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

void gmem_stats_add(struct gmem_file_stats *sum,
		    const struct gmem_file_stats *st)
{
	sum->size += st->size;
	sum->bindings += st->bindings;
	sum->populated_bytes += st->populated_bytes;
	if (st->touched_bytes != GMEM_STATS_UNKNOWN &&
	    sum->touched_bytes != GMEM_STATS_UNKNOWN)
		sum->touched_bytes += st->touched_bytes;
	else
		sum->touched_bytes = GMEM_STATS_UNKNOWN;
	sum->resident_bytes += st->resident_bytes;
	sum->hugepages += st->hugepages;
	sum->discarded_bytes += st->discarded_bytes;
	sum->populate_calls += st->populate_calls;
	sum->discard_calls += st->discard_calls;
	for (int n = 0; n < GMEM_MAX_NUMA_NODES; n++)
		sum->node_bytes[n] += st->node_bytes[n];
	sum->unknown_node_bytes += st->unknown_node_bytes;
	sum->shared_bytes += st->shared_bytes;
	sum->private_bytes += st->private_bytes;
}

/* Sum the figures of the gathered files and let them go. */
static void sum_files(struct gmem_file **list, size_t n, uint32_t flags,
		      struct gmem_file_stats *total,
		      struct gmem_file_stats *by_backend)
{
	struct gmem_file_stats st;

	for (size_t i = 0; i < n; i++) {
		if (gmem_file_stats_with(list[i], &st, flags) == 0) {
			gmem_stats_add(total, &st);
			if (by_backend && st.backend < GMEM_MAX_BACKENDS)
				gmem_stats_add(&by_backend[st.backend], &st);
		}
		gmem_file_put(list[i]);
	}
	free(list);
}

GMEM_API int gmem_stats(struct gmem_stats *out)
{
	return gmem_stats_with(out, 0);
}

GMEM_API int gmem_stats_with(struct gmem_stats *out, uint32_t flags)
{
	struct gmem_file **list;
	size_t n;
	int ret;

	gmem_error_clear();
	if (!out)
		return gmem_fail(EINVAL, "gmem_stats: out is NULL");
	if (flags & ~GMEM_STATS_FLAGS_ALL)
		return gmem_fail(EINVAL, "gmem_stats: unknown flags 0x%x",
				 flags & ~GMEM_STATS_FLAGS_ALL);
	memset(out, 0, sizeof(*out));
	ret = gmem_registry_files(NULL, &list, &n, &out->vms);
	if (ret < 0)
		return ret;
	out->files = (uint32_t)n;
	sum_files(list, n, flags, &out->total, out->backend);
	return 0;
}

GMEM_API int gmem_vm_stats(struct gmem_vm *vm, struct gmem_file_stats *out)
{
	struct gmem_file **list;
	size_t n;
	int ret;

	gmem_error_clear();
	if (!vm || !out)
		return gmem_fail(EINVAL, "gmem_vm_stats: NULL argument");
	memset(out, 0, sizeof(*out));
	ret = gmem_registry_files(vm, &list, &n, NULL);
	if (ret < 0)
		return ret;
	sum_files(list, n, 0, out, NULL);
	return 0;
}
