/* SPDX-License-Identifier: MIT */
/*
 * dma_uapi.h - the VFIO type1 and iommufd ABI libgmem's DMA code (and its
 * tests) use, written down here because Debian 12's headers (Linux 6.1)
 * have no iommufd MAP_FILE and a newer distro header must not clash.
 * Numbers and layouts are the kernel's published uapi (linux/vfio.h,
 * linux/iommufd.h); every struct's size is checked below.
 */
#ifndef GMEM_DMA_UAPI_H
#define GMEM_DMA_UAPI_H

#include <stdint.h>
#include <linux/ioctl.h>

/* ---- VFIO: container, group and device ioctls, ';' 100 + n ---- */

#define GMEM_VFIO_TYPE			';'
#define GMEM_VFIO_BASE			100
#define GMEM_VFIO_IO(n)		_IO(GMEM_VFIO_TYPE, GMEM_VFIO_BASE + (n))

#define GMEM_VFIO_API_VERSION		0
#define GMEM_VFIO_TYPE1_IOMMU		1
#define GMEM_VFIO_TYPE1v2_IOMMU		3

#define GMEM_VFIO_GET_API_VERSION	GMEM_VFIO_IO(0)
#define GMEM_VFIO_CHECK_EXTENSION	GMEM_VFIO_IO(1)
#define GMEM_VFIO_SET_IOMMU		GMEM_VFIO_IO(2)
#define GMEM_VFIO_GROUP_GET_STATUS	GMEM_VFIO_IO(3)
#define GMEM_VFIO_GROUP_SET_CONTAINER	GMEM_VFIO_IO(4)
#define GMEM_VFIO_GROUP_GET_DEVICE_FD	GMEM_VFIO_IO(6)
#define GMEM_VFIO_DEVICE_GET_REGION_INFO GMEM_VFIO_IO(8)
#define GMEM_VFIO_IOMMU_GET_INFO	GMEM_VFIO_IO(12)
#define GMEM_VFIO_IOMMU_MAP_DMA		GMEM_VFIO_IO(13)
#define GMEM_VFIO_IOMMU_UNMAP_DMA	GMEM_VFIO_IO(14)
#define GMEM_VFIO_DEVICE_BIND_IOMMUFD	GMEM_VFIO_IO(18)
#define GMEM_VFIO_DEVICE_ATTACH_IOMMUFD_PT GMEM_VFIO_IO(19)

#define GMEM_VFIO_GROUP_FLAGS_VIABLE	(1U << 0)
#define GMEM_VFIO_IOMMU_INFO_PGSIZES	(1U << 0)
#define GMEM_VFIO_DMA_MAP_FLAG_READ	(1U << 0)
#define GMEM_VFIO_DMA_MAP_FLAG_WRITE	(1U << 1)
#define GMEM_VFIO_PCI_BAR0_REGION_INDEX	0
#define GMEM_VFIO_PCI_CONFIG_REGION_INDEX 7

struct gmem_vfio_group_status {
	uint32_t argsz;
	uint32_t flags;
};

struct gmem_vfio_region_info {
	uint32_t argsz;
	uint32_t flags;
	uint32_t index;
	uint32_t cap_offset;
	uint64_t size;
	uint64_t offset;
};

struct gmem_vfio_iommu_type1_info {
	uint32_t argsz;
	uint32_t flags;
	uint64_t iova_pgsizes;		/* bit n: 2^n-byte IOMMU pages */
	uint32_t cap_offset;
	uint32_t pad;
};

struct gmem_vfio_iommu_type1_dma_map {
	uint32_t argsz;
	uint32_t flags;
	uint64_t vaddr;
	uint64_t iova;
	uint64_t size;
};

struct gmem_vfio_iommu_type1_dma_unmap {
	uint32_t argsz;
	uint32_t flags;
	uint64_t iova;
	uint64_t size;			/* out: bytes actually unmapped */
};

struct gmem_vfio_device_bind_iommufd {
	uint32_t argsz;
	uint32_t flags;
	int32_t iommufd;
	uint32_t out_devid;
	uint64_t token_uuid_ptr;	/* only with a flag (Linux 6.17+) */
};

struct gmem_vfio_device_attach_iommufd_pt {
	uint32_t argsz;
	uint32_t flags;
	uint32_t pt_id;
	uint32_t pasid;			/* used only with a flag */
};

_Static_assert(sizeof(struct gmem_vfio_region_info) == 32, "region_info");
_Static_assert(sizeof(struct gmem_vfio_iommu_type1_info) == 24, "type1_info");
_Static_assert(sizeof(struct gmem_vfio_iommu_type1_dma_map) == 32, "dma_map");
_Static_assert(sizeof(struct gmem_vfio_iommu_type1_dma_unmap) == 24,
	       "dma_unmap");
_Static_assert(sizeof(struct gmem_vfio_device_bind_iommufd) == 24,
	       "bind_iommufd");
_Static_assert(sizeof(struct gmem_vfio_device_attach_iommufd_pt) == 16,
	       "attach_iommufd_pt");

/* ---- iommufd: /dev/iommu, ';' 0x80 + n ---- */

#define GMEM_IOMMUFD_IO(n)		_IO(';', 0x80 + (n))
#define GMEM_IOMMU_DESTROY		GMEM_IOMMUFD_IO(0x0)
#define GMEM_IOMMU_IOAS_ALLOC		GMEM_IOMMUFD_IO(0x1)
#define GMEM_IOMMU_IOAS_IOVA_RANGES	GMEM_IOMMUFD_IO(0x4)
#define GMEM_IOMMU_IOAS_MAP		GMEM_IOMMUFD_IO(0x5)
#define GMEM_IOMMU_IOAS_UNMAP		GMEM_IOMMUFD_IO(0x6)
#define GMEM_IOMMU_IOAS_MAP_FILE	GMEM_IOMMUFD_IO(0xf)

#define GMEM_IOMMU_IOAS_MAP_FIXED_IOVA	(1U << 0)
#define GMEM_IOMMU_IOAS_MAP_WRITEABLE	(1U << 1)
#define GMEM_IOMMU_IOAS_MAP_READABLE	(1U << 2)

struct gmem_iommu_destroy {
	uint32_t size;
	uint32_t id;
};

struct gmem_iommu_ioas_alloc {
	uint32_t size;
	uint32_t flags;
	uint32_t out_ioas_id;
};

struct gmem_iommu_iova_range {
	uint64_t start;
	uint64_t last;			/* inclusive */
};

struct gmem_iommu_ioas_iova_ranges {
	uint32_t size;
	uint32_t ioas_id;
	uint32_t num_iovas;		/* in: room; out: how many */
	uint32_t reserved;
	uint64_t allowed_iovas;		/* gmem_iommu_iova_range[] */
	uint64_t out_iova_alignment;
};

struct gmem_iommu_ioas_map {
	uint32_t size;
	uint32_t flags;
	uint32_t ioas_id;
	uint32_t reserved;
	uint64_t user_va;
	uint64_t length;
	uint64_t iova;
};

struct gmem_iommu_ioas_map_file {
	uint32_t size;
	uint32_t flags;
	uint32_t ioas_id;
	int32_t fd;
	uint64_t start;			/* offset in the file */
	uint64_t length;
	uint64_t iova;
};

struct gmem_iommu_ioas_unmap {
	uint32_t size;
	uint32_t ioas_id;
	uint64_t iova;
	uint64_t length;		/* out: bytes actually unmapped */
};

_Static_assert(sizeof(struct gmem_iommu_ioas_alloc) == 12, "ioas_alloc");
_Static_assert(sizeof(struct gmem_iommu_ioas_iova_ranges) == 32,
	       "ioas_iova_ranges");
_Static_assert(sizeof(struct gmem_iommu_ioas_map) == 40, "ioas_map");
_Static_assert(sizeof(struct gmem_iommu_ioas_map_file) == 40, "ioas_map_file");
_Static_assert(sizeof(struct gmem_iommu_ioas_unmap) == 24, "ioas_unmap");

#endif /* GMEM_DMA_UAPI_H */
