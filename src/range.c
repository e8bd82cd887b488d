// SPDX-License-Identifier: MIT
/*
 * range.c - populate and discard ranges of a file.  Each piece of work
 * holds the file's range lock across the syscall and the books, so the
 * books always say what the kernel holds, whatever other threads do.
 */
#include <errno.h>
#include <string.h>

#include "internal.h"

/* A policy that the allocation would not see goes on this thread. */
static bool needs_thread_policy(const struct gmem_file *f,
				const struct gmem_numa_policy *p)
{
	if (p->mode == GMEM_NUMA_DEFAULT)
		return false;
	return !f->map || !(f->ops->numa_reach(f) & GMEM_REACH_POPULATE);
}

/*
 * After a failed piece the kernel may hold part of it (guest_memfd keeps
 * what it allocated; shmem undoes): ask it and write that down.  If it
 * cannot be asked, the books stay as they were.
 */
static void resync_books(struct gmem_file *f, uint64_t off, uint64_t len)
{
	struct gmem_extents held = { 0 };

	if (f->ops->resident_in && f->ops->resident_in(f, off, len, &held) == 0)
		gmem_account_replace(f, off, len, &held);
	gmem_extents_free(&held);
}

/*
 * One piece, under one policy.  A signal interrupts only this piece, and
 * it is retried in halves down to a page, so even a VMM that takes a timer
 * signal every millisecond makes progress.
 */
static int populate_piece(struct gmem_file *f, uint64_t off, uint64_t len,
			  const struct gmem_numa_policy *p)
{
	struct gmem_numa_saved saved;
	bool switched = false;
	int ret;

	ret = gmem_account_prepare(f, off, len);
	if (ret < 0)
		return ret;
	ret = f->ops->check_room(f, off, len);
	if (ret < 0)
		return ret;
	if (needs_thread_policy(f, p)) {
		ret = gmem_numa_thread_save(&saved);
		if (ret < 0)
			return ret;
		ret = gmem_numa_set_thread(p);
		if (ret < 0)
			return ret;
		switched = true;
	}
	for (;;) {
		ret = f->ops->populate(f, off, len);
		if (ret != -EINTR)
			break;
		if (len > f->page_size) {
			uint64_t half = len / f->page_size / 2 * f->page_size;

			ret = populate_piece(f, off, half, p);
			if (ret == 0)
				ret = populate_piece(f, off + half, len - half,
						     p);
			if (switched)
				gmem_numa_thread_restore(&saved);
			return ret;
		}
	}
	if (switched)
		gmem_numa_thread_restore(&saved);
	if (ret < 0) {
		resync_books(f, off, len);
		return ret;
	}
	gmem_account_populated(f, off, len, gmem_numa_certain_node(p));
	/* The pages are there again: devices may map them. */
	gmem_file_revalidate(f, off, len);
	return 0;
}

GMEM_API int gmem_populate(struct gmem_file *file, uint64_t offset,
			   uint64_t length)
{
	uint64_t chunk;
	int ret = 0;

	gmem_error_clear();
	if (!file)
		return gmem_fail(EINVAL, "populate: file is NULL");
	ret = gmem_file_check_range(file, offset, length, "populate");
	if (ret < 0)
		return ret;
	chunk = file->ops->populate_chunk ? file->ops->populate_chunk
					  : file->page_size;
	for (uint64_t pos = offset, end = offset + length; pos < end;) {
		struct gmem_numa_policy p;
		uint64_t seg_end, len;

		pthread_mutex_lock(&file->range_lock);
		pthread_mutex_lock(&file->lock);
		p = *gmem_numa_policy_at(file, pos, &seg_end);
		pthread_mutex_unlock(&file->lock);
		len = (seg_end < end ? seg_end : end) - pos;
		if (len > chunk)
			len = chunk;
		ret = populate_piece(file, pos, len, &p);
		pthread_mutex_unlock(&file->range_lock);
		if (ret < 0)
			break;
		pos += len;
	}
	pthread_mutex_lock(&file->lock);
	file->populate_calls++;
	pthread_mutex_unlock(&file->lock);
	return ret;
}

GMEM_API int gmem_discard(struct gmem_file *file, uint64_t offset,
			  uint64_t length)
{
	int ret;

	gmem_error_clear();
	if (!file)
		return gmem_fail(EINVAL, "discard: file is NULL");
	ret = gmem_file_check_range(file, offset, length, "discard");
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&file->range_lock);
	ret = gmem_account_prepare(file, offset, length);
	/*
	 * Devices let go first: a punched page a device still has pinned
	 * would go on being read and written by it, unseen by anyone.
	 */
	if (ret == 0)
		ret = gmem_file_invalidate(file, offset, length);
	if (ret == 0) {
		do
			ret = file->ops->discard(file, offset, length);
		while (ret == -EINTR);
		if (ret < 0)
			gmem_file_revalidate(file, offset, length);
	}
	if (ret < 0) {
		resync_books(file, offset, length);
	} else {
		gmem_account_discarded(file, offset, length);
		pthread_mutex_lock(&file->lock);
		file->discarded_bytes += length;
		file->discard_calls++;
		pthread_mutex_unlock(&file->lock);
	}
	pthread_mutex_unlock(&file->range_lock);
	return ret;
}
