// SPDX-License-Identifier: MIT
/*
 * discard.c - free a range of a file: devices let go, the hole is punched,
 * and the books follow, all while holding that range, so the books always
 * say what the kernel holds.
 */
#include <errno.h>

#include "internal.h"

void gmem_resync_books(struct gmem_file *f, uint64_t off, uint64_t len)
{
	struct gmem_extents held = { 0 };

	if (f->ops->resident_in && f->ops->resident_in(f, off, len, &held) == 0)
		gmem_account_replace(f, off, len, &held);
	gmem_extents_free(&held);
}

GMEM_API int gmem_discard(struct gmem_file *file, uint64_t offset,
			  uint64_t length)
{
	struct gmem_range_hold hold;
	int ret;

	gmem_error_clear();
	if (!file)
		return gmem_fail(EINVAL, "discard: file is NULL");
	ret = gmem_file_check_range(file, offset, length, "discard");
	if (ret < 0)
		return ret;
	gmem_range_lock(&file->ranges, &hold, offset, offset + length);
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
		gmem_resync_books(file, offset, length);
	} else {
		gmem_account_discarded(file, offset, length);
		pthread_mutex_lock(&file->lock);
		file->discarded_bytes += length;
		file->discard_calls++;
		pthread_mutex_unlock(&file->lock);
	}
	gmem_range_unlock(&file->ranges, &hold);
	return ret;
}
