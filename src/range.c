// SPDX-License-Identifier: MIT
/* range.c - populate and discard ranges of a file, then account for them. */
#include <errno.h>

#include "internal.h"

/*
 * Populate one stretch under a single policy.  Where the allocation would
 * not see the file's policy, this thread takes it for the allocation and
 * then goes back to its own, so the caller's mempolicy is left as it was.
 */
static int populate_segment(struct gmem_file *f, uint64_t off, uint64_t len,
			    const struct gmem_numa_policy *p, bool via_mbind)
{
	struct gmem_numa_saved saved;
	bool switched = false;
	int ret;

	/*
	 * hugetlbfs keeps no policy in the file: mbind covers faults through
	 * the mapping (the guest's, via KVM), but fallocate follows the thread.
	 */
	if ((!via_mbind || f->ops->id == GMEM_BACKEND_HUGETLB) &&
	    p->mode != GMEM_NUMA_DEFAULT) {
		ret = gmem_numa_thread_save(&saved);
		if (ret < 0)
			return ret;
		ret = gmem_numa_bind_thread(p);
		if (ret < 0)
			return ret;
		switched = true;
	}
	ret = f->ops->populate(f, off, len);
	if (switched)
		gmem_numa_thread_restore(&saved);
	if (ret < 0)
		return ret;
	gmem_account_populated(f, off, len, p, via_mbind);
	return 0;
}

int gmem_populate(struct gmem_file *file, uint64_t offset, uint64_t length)
{
	bool via_mbind;
	int ret;

	if (!file)
		return gmem_fail(EINVAL, "populate: file is NULL");
	ret = gmem_file_check_range(file, offset, length, "populate");
	if (ret < 0)
		return ret;
	via_mbind = gmem_file_numa_method(file) == GMEM_NUMA_VIA_MBIND;
	for (uint64_t pos = offset, end = offset + length; pos < end;) {
		struct gmem_numa_policy p;
		uint64_t seg_end;

		pthread_mutex_lock(&file->lock);
		p = *gmem_numa_policy_at(file, pos, &seg_end);
		pthread_mutex_unlock(&file->lock);
		if (seg_end > end)
			seg_end = end;
		ret = populate_segment(file, pos, seg_end - pos, &p, via_mbind);
		if (ret < 0)
			return ret;
		pos = seg_end;
	}
	return 0;
}

int gmem_discard(struct gmem_file *file, uint64_t offset, uint64_t length)
{
	int ret;

	if (!file)
		return gmem_fail(EINVAL, "discard: file is NULL");
	ret = gmem_file_check_range(file, offset, length, "discard");
	if (ret < 0)
		return ret;
	ret = file->ops->discard(file, offset, length);
	if (ret < 0)
		return ret;
	gmem_account_discarded(file, offset, length);
	return 0;
}
