/* SPDX-License-Identifier: MIT */
/*
 * dma.h - what dma.c (the common part: books, ordering, the watch ops) and
 * each kernel path (dma_vfio.c, dma_iommufd.c) share.
 */
#ifndef GMEM_DMA_H
#define GMEM_DMA_H

#include "internal.h"

struct gmem_dma;
struct gmem_dma_rec;

/*
 * One kernel interface to the IOMMU.  map and unmap return 0 or -errno
 * without recording a reason (dma.c words it, with the range), and name
 * the ioctl that failed in *call.
 */
struct gmem_dma_path_ops {
	enum gmem_dma_path path;
	const char *name;		/* "VFIO type1", "iommufd" */
	/* Can f be mapped this way?  -errno with a reason if not. */
	int (*check_file)(struct gmem_dma *d, const struct gmem_file *f);
	/*
	 * Map [iova, iova + len) to f at off, readable and writable; *by_file
	 * says whether the kernel took the file itself or the host address.
	 */
	int (*map)(struct gmem_dma *d, struct gmem_dma_rec *r, uint64_t iova,
		   uint64_t off, uint64_t len, bool *by_file,
		   const char **call);
	/* Unmap exactly one earlier mapping. */
	int (*unmap)(struct gmem_dma *d, uint64_t iova, uint64_t len,
		     const char **call);
};

extern const struct gmem_dma_path_ops gmem_dma_vfio_ops;
extern const struct gmem_dma_path_ops gmem_dma_iommufd_ops;

/* dma_vfio.c / dma_iommufd.c: is fd what the path needs?  -errno + reason. */
int gmem_dma_vfio_check_fd(int fd, uint64_t *iova_pgsizes);
int gmem_dma_iommufd_check_fd(int fd, uint32_t ioas_id);
/* For gmem_dma_probe(). */
void gmem_dma_vfio_probe(struct gmem_dma_host *h);
void gmem_dma_iommufd_probe(struct gmem_dma_host *h);

/* One binding a gmem_dma maps, and the books of what the kernel holds. */
struct gmem_dma_rec {
	struct gmem_watch w;		/* w.file: until the binding ends */
	struct gmem_dma *d;
	struct gmem_binding *b;		/* compared, never followed */
	/*
	 * The kernel's mappings, exactly: one extent per map call, tagged
	 * with a number of its own (so two never merge into one that the
	 * kernel would not unmap) and bit 0 = mapped by file.
	 */
	struct gmem_extents mapped;
	/* Ranges that should be mapped but the kernel refused. */
	struct gmem_extents missing;
	uint32_t seq;			/* the next mapping's number */
	/*
	 * The watch ops act only while live: from the first mapping until
	 * everything is unmapped or the binding ends.
	 */
	bool live;
	bool bound;			/* the binding has not ended */
	bool file_refused;		/* MAP_FILE refused this file */
	struct gmem_dma_rec *next;	/* d->recs, under d->lock */
};

/*
 * Who changes what: a record's books and flags change under its file's
 * range lock while the binding lives (every watch op runs under it), and
 * under the VM lock after it ended.  d->lock is taken, briefly and never
 * over an ioctl, around each change and by gmem_dma_stats(), so stats
 * never wait for the kernel.  Lock order: VM, range lock, d->lock.
 */
struct gmem_dma {
	const struct gmem_dma_path_ops *ops;
	struct gmem_vm *vm;		/* reference held */
	int fd;				/* not ours: never closed */
	uint32_t ioas_id;		/* iommufd */
	uint64_t iova_pgsizes;		/* VFIO: IOMMU page sizes */
	bool no_map_file;		/* iommufd without MAP_FILE (ENOTTY) */
	pthread_mutex_t lock;
	struct gmem_dma_rec *recs;
	uint64_t map_calls;
	uint64_t unmap_calls;
	uint64_t failed_calls;
	uint64_t by_file_refused;
	char error[128];
};

#endif /* GMEM_DMA_H */
