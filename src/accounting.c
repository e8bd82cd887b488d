// SPDX-License-Identifier: MIT
/*
 * accounting.c - the books of a file: what gmem_populate allocated and on
 * which node it certainly landed, plus the counters, and gmem_file_stats()
 * joining them with what the kernel itself reports (backend usage op).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "internal.h"

int gmem_account_init(struct gmem_file *f)
{
	f->node_bytes = calloc(gmem_facts()->nr_node_ids, sizeof(int64_t));
	if (!f->node_bytes)
		return gmem_fail(ENOMEM, "out of memory for a file's books");
	return 0;
}

void gmem_account_free(struct gmem_file *f)
{
	gmem_extents_free(&f->populated);
	free(f->node_bytes);
	f->node_bytes = NULL;
}

static void count_node(void *ctx, int32_t node, int64_t bytes)
{
	struct gmem_file *f = ctx;

	if (node >= 0 && (unsigned int)node < gmem_facts()->nr_node_ids)
		f->node_bytes[node] += bytes;
	else
		f->unknown_node_bytes += (uint64_t)bytes;
}

int gmem_account_prepare(struct gmem_file *f, uint64_t off, uint64_t len)
{
	int ret;

	pthread_mutex_lock(&f->lock);
	ret = gmem_extents_reserve_for(&f->populated, off, off + len);
	pthread_mutex_unlock(&f->lock);
	if (ret < 0)
		return gmem_fail(ENOMEM, "out of memory for the books of %s",
				 f->name);
	return 0;
}

void gmem_account_populated(struct gmem_file *f, uint64_t off, uint64_t len,
			    int32_t node)
{
	pthread_mutex_lock(&f->lock);
	/* Cannot fail: gmem_account_prepare() made the room. */
	gmem_extents_add(&f->populated, off, off + len, node, count_node, f);
	pthread_mutex_unlock(&f->lock);
}

void gmem_account_discarded(struct gmem_file *f, uint64_t off, uint64_t len)
{
	pthread_mutex_lock(&f->lock);
	gmem_extents_remove(&f->populated, off, off + len, count_node, f);
	pthread_mutex_unlock(&f->lock);
}

void gmem_account_replace(struct gmem_file *f, uint64_t off, uint64_t len,
			  const struct gmem_extents *held)
{
	pthread_mutex_lock(&f->lock);
	gmem_extents_remove(&f->populated, off, off + len, count_node, f);
	/* Placement after a failure is not known: the kernel chose it. */
	for (size_t i = 0; i < held->nr; i++)
		gmem_extents_add(&f->populated, held->v[i].start,
				 held->v[i].end, GMEM_NODE_UNKNOWN, count_node,
				 f);
	pthread_mutex_unlock(&f->lock);
}

GMEM_API int gmem_file_stats(struct gmem_file *file,
			     struct gmem_file_stats *out)
{
	return gmem_file_stats_with(file, out, 0);
}

GMEM_API int gmem_file_stats_with(struct gmem_file *file,
				  struct gmem_file_stats *out, uint32_t flags)
{
	unsigned int nodes = gmem_facts()->nr_node_ids;
	struct gmem_usage u = { 0 };

	gmem_error_clear();
	if (!file || !out)
		return gmem_fail(EINVAL, "gmem_file_stats: NULL argument");
	if (flags & ~GMEM_STATS_FLAGS_ALL)
		return gmem_fail(EINVAL, "gmem_file_stats: unknown flags 0x%x",
				 flags & ~GMEM_STATS_FLAGS_ALL);
	memset(out, 0, sizeof(*out));
	out->size = file->size;
	out->page_size = file->page_size;
	out->backend = file->ops->id;
	out->bindings = __atomic_load_n(&file->bindings, __ATOMIC_RELAXED);
	pthread_mutex_lock(&file->lock);
	out->populated_bytes = file->populated.bytes;
	out->discarded_bytes = file->discarded_bytes;
	out->populate_calls = file->populate_calls;
	out->discard_calls = file->discard_calls;
	for (unsigned int n = 0; n < nodes && n < GMEM_MAX_NUMA_NODES; n++)
		out->node_bytes[n] = (uint64_t)file->node_bytes[n];
	out->unknown_node_bytes = file->unknown_node_bytes;
	pthread_mutex_unlock(&file->lock);
	/* The kernel is asked without any lock: a scan never stalls others. */
	if (file->ops->usage(file, &u,
			     !(flags & GMEM_STATS_NO_TOUCHED)) < 0) {
		u.resident = out->populated_bytes;
		u.touched = GMEM_STATS_UNKNOWN;
	}
	out->resident_bytes = u.resident;
	out->touched_bytes = u.touched;
	if (file->private)
		out->private_bytes = u.resident;
	else
		out->shared_bytes = u.resident;
	out->hugepages = u.hugepages;
	return 0;
}

GMEM_API int64_t gmem_file_node_bytes(struct gmem_file *file,
				      unsigned int node)
{
	int64_t v;

	gmem_error_clear();
	if (!file)
		return gmem_fail(EINVAL, "gmem_file_node_bytes: file is NULL");
	if (node >= gmem_facts()->nr_node_ids)
		return gmem_fail(ERANGE, "node %u is beyond this host's %u "
				 "possible nodes", node,
				 gmem_facts()->nr_node_ids);
	pthread_mutex_lock(&file->lock);
	v = file->node_bytes[node];
	pthread_mutex_unlock(&file->lock);
	return v;
}
