// SPDX-License-Identifier: MIT
/*
 * dma_iommufd.c - the iommufd path: an IOAS the caller set up, mapped by
 * file descriptor (IOMMU_IOAS_MAP_FILE) where the kernel takes the file,
 * and by the library's host mapping (IOMMU_IOAS_MAP) where it does not.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "dma.h"
#include "dma_uapi.h"

#define MAP_FLAGS (GMEM_IOMMU_IOAS_MAP_FIXED_IOVA |			\
		   GMEM_IOMMU_IOAS_MAP_READABLE | GMEM_IOMMU_IOAS_MAP_WRITEABLE)

/* Ask for the IOAS's IOVA ranges, giving room for none. */
static int iova_ranges(int fd, uint32_t ioas_id)
{
	struct gmem_iommu_ioas_iova_ranges r = {
		.size = sizeof(r),
		.ioas_id = ioas_id,
	};

	/* EMSGSIZE only says there were ranges and no room for them. */
	if (ioctl(fd, GMEM_IOMMU_IOAS_IOVA_RANGES, &r) == 0 ||
	    errno == EMSGSIZE)
		return 0;
	return -errno;
}

int gmem_dma_iommufd_check_fd(int fd, uint32_t ioas_id)
{
	int ret = iova_ranges(fd, ioas_id);

	if (ret == -ENOENT)
		return gmem_fail(ENOENT, "dma: iommufd %d has no IOAS %u", fd,
				 ioas_id);
	if (ret < 0)
		return gmem_fail(ENOTTY, "dma: fd %d is not an iommufd "
				 "(IOMMU_IOAS_IOVA_RANGES: %s)", fd,
				 strerror(-ret));
	return 0;
}

static int iommufd_check_file(struct gmem_dma *d, const struct gmem_file *f)
{
	(void)d;
	(void)f;
	/* By fd needs no mapping; a file refused that way falls back. */
	return 0;
}

static int map_by_file(struct gmem_dma *d, int fd, uint64_t iova,
		       uint64_t off, uint64_t len)
{
	struct gmem_iommu_ioas_map_file m = {
		.size = sizeof(m),
		.flags = MAP_FLAGS,
		.ioas_id = d->ioas_id,
		.fd = fd,
		.start = off,
		.length = len,
		.iova = iova,
	};

	return ioctl(d->fd, GMEM_IOMMU_IOAS_MAP_FILE, &m) < 0 ? -errno : 0;
}

static int map_by_address(struct gmem_dma *d, void *addr, uint64_t iova,
			  uint64_t len)
{
	struct gmem_iommu_ioas_map m = {
		.size = sizeof(m),
		.flags = MAP_FLAGS,
		.ioas_id = d->ioas_id,
		.user_va = (uintptr_t)addr,
		.length = len,
		.iova = iova,
	};

	return ioctl(d->fd, GMEM_IOMMU_IOAS_MAP, &m) < 0 ? -errno : 0;
}

static int iommufd_map(struct gmem_dma *d, struct gmem_dma_rec *r,
		       uint64_t iova, uint64_t off, uint64_t len,
		       bool *by_file, const char **call)
{
	const struct gmem_file *f = r->w.file;
	int ret = -EOPNOTSUPP, by_address;

	*by_file = false;
	if (!__atomic_load_n(&d->no_map_file, __ATOMIC_RELAXED) &&
	    !r->file_refused) {
		/*
		 * MAP_FILE pins the page cache as it is, and shmem's fallocate
		 * leaves new pages unwritten (not zeroed) until first use: the
		 * device would read stale memory, and the host's first touch
		 * would zero the page over whatever the device wrote.  A read
		 * fault through our mapping zeroes them first.
		 */
		if (f->map && madvise((char *)f->map + off, len,
				      MADV_POPULATE_READ) < 0) {
			*call = "madvise(MADV_POPULATE_READ) before "
				"IOMMU_IOAS_MAP_FILE";
			return -errno;
		}
		*call = "IOMMU_IOAS_MAP_FILE";
		/* An imported file's bytes start at its base in the fd. */
		ret = map_by_file(d, f->fd, iova, f->base + off, len);
		if (ret == 0) {
			*by_file = true;
			return 0;
		}
		/* Too old a kernel answers every file this way. */
		if (ret == -ENOTTY)
			__atomic_store_n(&d->no_map_file, true,
					 __ATOMIC_RELAXED);
		/*
		 * Anything else than a refusal of the file (no room, no
		 * memory, a taken IOVA) would fail by address too.
		 */
		else if (ret != -EINVAL && ret != -EOPNOTSUPP)
			return ret;
	}
	if (!f->map) {
		*call = ret == -EOPNOTSUPP ? "IOMMU_IOAS_MAP (no host mapping)"
					   : "IOMMU_IOAS_MAP_FILE (and no host "
					     "mapping to map by address)";
		return ret;
	}
	by_address = map_by_address(d, (char *)f->map + off, iova, len);
	if (by_address < 0) {
		*call = "IOMMU_IOAS_MAP";
		return by_address;
	}
	/*
	 * Only now is it sure the file was what MAP_FILE refused (its
	 * EINVAL could have been the range): remember, and stop asking.
	 */
	if (ret != -EOPNOTSUPP && ret != -ENOTTY && !r->file_refused) {
		r->file_refused = true;
		pthread_mutex_lock(&d->lock);
		d->by_file_refused++;
		pthread_mutex_unlock(&d->lock);
	}
	return 0;
}

static int iommufd_unmap(struct gmem_dma *d, uint64_t iova, uint64_t len,
			 const char **call)
{
	struct gmem_iommu_ioas_unmap u = {
		.size = sizeof(u),
		.ioas_id = d->ioas_id,
		.iova = iova,
		.length = len,
	};

	*call = "IOMMU_IOAS_UNMAP";
	/*
	 * ENOENT stays a failure: iommufd says it both when nothing is there
	 * and when the range would split a mapping, which would leave the
	 * devices a part of it.
	 */
	return ioctl(d->fd, GMEM_IOMMU_IOAS_UNMAP, &u) < 0 ? -errno : 0;
}

void gmem_dma_iommufd_probe(struct gmem_dma_host *h)
{
	struct gmem_iommu_ioas_alloc a = { .size = sizeof(a) };
	struct gmem_dma d = { .ioas_id = 0 };
	uint64_t psz = gmem_facts()->page_size;
	int mfd, ret;

	h->iommufd_map_file = -1;
	d.fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
	if (d.fd < 0) {
		snprintf(h->iommufd_error, sizeof(h->iommufd_error),
			 "/dev/iommu: %s", strerror(errno));
		return;
	}
	if (ioctl(d.fd, GMEM_IOMMU_IOAS_ALLOC, &a) < 0) {
		snprintf(h->iommufd_error, sizeof(h->iommufd_error),
			 "IOMMU_IOAS_ALLOC: %s", strerror(errno));
		close(d.fd);
		return;
	}
	h->iommufd = 1;
	d.ioas_id = a.out_ioas_id;
	/*
	 * An IOAS with no device pins nothing, so this shows only that the
	 * kernel knows the call, not which files it will pin for a device.
	 */
	mfd = memfd_create("gmem-probe", MFD_CLOEXEC);
	if (mfd >= 0 && ftruncate(mfd, (off_t)psz) == 0) {
		ret = map_by_file(&d, mfd, psz, 0, psz);
		h->iommufd_map_file = ret == 0 ? 1 : ret == -ENOTTY ? 0 : -1;
	}
	if (mfd >= 0)
		close(mfd);
	/* Closing the iommufd takes the IOAS and its mapping with it. */
	close(d.fd);
}

const struct gmem_dma_path_ops gmem_dma_iommufd_ops = {
	.path = GMEM_DMA_IOMMUFD,
	.name = "iommufd",
	.check_file = iommufd_check_file,
	.map = iommufd_map,
	.unmap = iommufd_unmap,
};
