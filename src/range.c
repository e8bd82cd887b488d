// SPDX-License-Identifier: MIT
/* range.c - populate and discard ranges of a file, then account for them. */
#include <errno.h>

#include "internal.h"

int gmem_populate(struct gmem_file *file, uint64_t offset, uint64_t length)
{
	int ret;

	if (!file)
		return gmem_fail(EINVAL, "populate: file is NULL");
	ret = gmem_file_check_range(file, offset, length, "populate");
	if (ret < 0)
		return ret;
	ret = file->ops->populate(file, offset, length);
	if (ret < 0)
		return ret;
	gmem_account_populated(file, offset, length);
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
