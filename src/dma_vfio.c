// SPDX-License-Identifier: MIT
/*
 * dma_vfio.c - the VFIO type1 path: a container the caller set up, mapped
 * by host address (VFIO_IOMMU_MAP_DMA pins the pages behind the library's
 * own mapping of the file).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "dma.h"
#include "dma_uapi.h"

int gmem_dma_vfio_check_fd(int fd, uint64_t *iova_pgsizes)
{
	struct gmem_vfio_iommu_type1_info info = { .argsz = sizeof(info) };
	int ret;

	ret = ioctl(fd, GMEM_VFIO_GET_API_VERSION);
	if (ret != GMEM_VFIO_API_VERSION)
		return gmem_fail(ENOTTY, "dma: fd %d is not a VFIO container "
				 "(VFIO_GET_API_VERSION: %s)", fd,
				 ret < 0 ? strerror(errno) : "unknown version");
	/* Only a container with an IOMMU set answers this. */
	if (ioctl(fd, GMEM_VFIO_IOMMU_GET_INFO, &info) < 0)
		return gmem_fail(EINVAL, "dma: VFIO container fd %d has no "
				 "IOMMU yet (VFIO_IOMMU_GET_INFO: %s); attach "
				 "a group and call VFIO_SET_IOMMU first", fd,
				 strerror(errno));
	*iova_pgsizes = info.flags & GMEM_VFIO_IOMMU_INFO_PGSIZES ?
			info.iova_pgsizes : 0;
	return 0;
}

static int vfio_check_file(struct gmem_dma *d, const struct gmem_file *f)
{
	uint64_t psz = gmem_facts()->page_size;

	/* The container pins through a process mapping: it needs one. */
	if (!f->map)
		return gmem_fail(EINVAL, "dma: the %s file has no host "
				 "mapping, and VFIO type1 maps only by address",
				 f->ops->name);
	if (d->iova_pgsizes && !(d->iova_pgsizes & (psz | (psz - 1))))
		return gmem_fail(EINVAL, "dma: the IOMMU's smallest page "
				 "(sizes 0x%llx) is larger than the host page "
				 "0x%llx", (unsigned long long)d->iova_pgsizes,
				 (unsigned long long)psz);
	return 0;
}

static int vfio_map(struct gmem_dma *d, struct gmem_dma_rec *r, uint64_t iova,
		    uint64_t off, uint64_t len, bool *by_file,
		    const char **call)
{
	struct gmem_vfio_iommu_type1_dma_map m = {
		.argsz = sizeof(m),
		.flags = GMEM_VFIO_DMA_MAP_FLAG_READ |
			 GMEM_VFIO_DMA_MAP_FLAG_WRITE,
		.vaddr = (uintptr_t)r->w.file->map + off,
		.iova = iova,
		.size = len,
	};

	*by_file = false;
	*call = "VFIO_IOMMU_MAP_DMA";
	return ioctl(d->fd, GMEM_VFIO_IOMMU_MAP_DMA, &m) < 0 ? -errno : 0;
}

static int vfio_unmap(struct gmem_dma *d, uint64_t iova, uint64_t len,
		      const char **call)
{
	struct gmem_vfio_iommu_type1_dma_unmap u = {
		.argsz = sizeof(u),
		.iova = iova,
		.size = len,
	};

	*call = "VFIO_IOMMU_UNMAP_DMA";
	/*
	 * Success with less unmapped means the range was already gone (the
	 * caller unmapped it behind our back): the devices cannot reach it
	 * either way, which is all an unmap is for.
	 */
	return ioctl(d->fd, GMEM_VFIO_IOMMU_UNMAP_DMA, &u) < 0 ? -errno : 0;
}

void gmem_dma_vfio_probe(struct gmem_dma_host *h)
{
	int fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	int ret;

	if (fd < 0) {
		snprintf(h->vfio_error, sizeof(h->vfio_error),
			 "/dev/vfio/vfio: %s", strerror(errno));
		return;
	}
	ret = ioctl(fd, GMEM_VFIO_GET_API_VERSION);
	h->vfio = ret == GMEM_VFIO_API_VERSION;
	if (!h->vfio)
		snprintf(h->vfio_error, sizeof(h->vfio_error),
			 "VFIO_GET_API_VERSION: %s",
			 ret < 0 ? strerror(errno) : "unknown version");
	else if (ioctl(fd, GMEM_VFIO_CHECK_EXTENSION,
		       GMEM_VFIO_TYPE1v2_IOMMU) == 1)
		h->vfio_type1 = 1;
	else
		snprintf(h->vfio_error, sizeof(h->vfio_error),
			 "no type1v2 IOMMU (vfio_iommu_type1 not loaded?)");
	close(fd);
}

const struct gmem_dma_path_ops gmem_dma_vfio_ops = {
	.path = GMEM_DMA_VFIO_TYPE1,
	.name = "VFIO type1",
	.check_file = vfio_check_file,
	.map = vfio_map,
	.unmap = vfio_unmap,
};
