// SPDX-License-Identifier: MIT
/*
 * dma.c - device mappings that follow the memory: the books of what the
 * kernel has mapped for the devices, and the watch ops through which every
 * discard, unbind, VM close and conversion unmaps the devices before the
 * memory goes, and every populate and conversion to shared maps it back.
 * The kernel paths (dma_vfio.c, dma_iommufd.c) only issue the ioctls.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dma.h"

/*
 * No kernel mapping crosses a block boundary.  Neither VFIO type1 nor
 * iommufd unmaps part of a mapping, so a discard unmaps the whole mappings
 * it touches and maps back the parts that stay; for that short time the
 * devices lose those parts too.  Blocks bound that to under two blocks per
 * discard, and keep the number of mappings (VFIO allows 65535 by default)
 * at one per block of memory that never changed.
 */
#define DMA_BLOCK (2ULL << 20)

static struct gmem_dma_rec *rec_of(struct gmem_watch *w)
{
	return (struct gmem_dma_rec *)((char *)w -
				       offsetof(struct gmem_dma_rec, w));
}

static uint64_t min_u64(uint64_t a, uint64_t b)
{
	return a < b ? a : b;
}

/*
 * Why the kernel refused, kept for gmem_dma_stats(): a refusal while the
 * memory comes back does not fail the populate or conversion that caused
 * it, so it must not leave a reason for that call.
 */
static void note(struct gmem_dma *d, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
static void note(struct gmem_dma *d, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&d->lock);
	va_start(ap, fmt);
	vsnprintf(d->error, sizeof(d->error), fmt, ap);
	va_end(ap);
	d->failed_calls++;
	pthread_mutex_unlock(&d->lock);
}

/* Fail the current call with the latest refusal as its reason. */
static int fail_noted(struct gmem_dma *d, int err, const char *why)
{
	char reason[sizeof(d->error)];

	pthread_mutex_lock(&d->lock);
	memcpy(reason, d->error, sizeof(reason));
	pthread_mutex_unlock(&d->lock);
	return gmem_fail(err, "dma: %s%s", reason, why);
}

/* A fresh tag: bit 0 says by file, the rest keeps neighbours apart. */
static int32_t new_tag(struct gmem_dma_rec *r, bool by_file)
{
	uint32_t n = r->seq++ & 0x3fffffffU;

	return (int32_t)(n << 1 | (by_file ? 1U : 0U));
}

/* The mapping that holds the first byte of [s, e), or false. */
static bool first_overlap(const struct gmem_extents *x, uint64_t s,
			  uint64_t e, struct gmem_extent *out)
{
	size_t lo = 0, hi = x->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (x->v[mid].end <= s)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo == x->nr || x->v[lo].start >= e)
		return false;
	*out = x->v[lo];
	return true;
}

/* Room in the books for any change of [s, e), before the kernel acts. */
static int reserve(struct gmem_dma_rec *r, uint64_t s, uint64_t e)
{
	int ret;

	pthread_mutex_lock(&r->d->lock);
	ret = gmem_extents_reserve_for(&r->mapped, s, e);
	if (ret == 0)
		ret = gmem_extents_reserve_for(&r->missing, s, e);
	pthread_mutex_unlock(&r->d->lock);
	if (ret < 0)
		note(r->d, "out of memory for the books of 0x%llx+0x%llx",
		     (unsigned long long)s, (unsigned long long)(e - s));
	return ret;
}

/* One map call for [iova, iova + len), written down either way. */
static int map_piece(struct gmem_dma *d, struct gmem_dma_rec *r,
		     uint64_t iova, uint64_t len)
{
	uint64_t off = r->w.off + (iova - r->w.gpa);
	const char *call = "map";
	bool by_file = false;
	int ret;

	ret = reserve(r, iova, iova + len);
	if (ret < 0)
		return ret;
	ret = d->ops->map(d, r, iova, off, len, &by_file, &call);
	if (ret < 0) {
		note(d, "%s of IOVA 0x%llx+0x%llx (%s at 0x%llx): %s", call,
		     (unsigned long long)iova, (unsigned long long)len,
		     r->w.file->ops->name, (unsigned long long)off,
		     strerror(-ret));
		pthread_mutex_lock(&d->lock);
		gmem_extents_add(&r->missing, iova, iova + len,
				 GMEM_NODE_UNKNOWN, NULL, NULL);
		pthread_mutex_unlock(&d->lock);
		return ret;
	}
	/* Reserved above, so neither can fail. */
	pthread_mutex_lock(&d->lock);
	gmem_extents_add(&r->mapped, iova, iova + len, new_tag(r, by_file),
			 NULL, NULL);
	gmem_extents_remove(&r->missing, iova, iova + len, NULL, NULL);
	d->map_calls++;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/* One unmap call for a whole mapping m; the books drop it if it went. */
static int unmap_one(struct gmem_dma *d, struct gmem_dma_rec *r,
		     const struct gmem_extent *m)
{
	const char *call = "unmap";
	int ret;

	ret = reserve(r, m->start, m->end);
	if (ret < 0)
		return ret;
	ret = d->ops->unmap(d, m->start, m->end - m->start, &call);
	if (ret < 0) {
		note(d, "%s of IOVA 0x%llx+0x%llx: %s", call,
		     (unsigned long long)m->start,
		     (unsigned long long)(m->end - m->start), strerror(-ret));
		return ret;
	}
	pthread_mutex_lock(&d->lock);
	gmem_extents_remove(&r->mapped, m->start, m->end, NULL, NULL);
	d->unmap_calls++;
	pthread_mutex_unlock(&d->lock);
	return 0;
}

/*
 * Map what of [s, e) is neither mapped nor private, a block at most per
 * call.  stop: give up at the first refusal (the caller undoes); else map
 * all that can be and return the first refusal.  The binding is live.
 */
static int map_range(struct gmem_dma *d, struct gmem_dma_rec *r, uint64_t s,
		     uint64_t e, bool stop)
{
	uint64_t block = r->w.file->page_size > DMA_BLOCK ? r->w.file->page_size
							  : DMA_BLOCK;
	uint64_t pos = s, until, run, end;
	int ret, first = 0;

	while (pos < e) {
		if (gmem_extents_find(&r->mapped, pos, &until)) {
			pos = min_u64(until, e);
			continue;
		}
		end = min_u64(until, e);
		/* The VM's map, not the caller, says what is private. */
		if (gmem_vm_is_private(r->w.vm, pos, &run)) {
			pos = min_u64(pos + run, end);
			continue;
		}
		end = min_u64(end, pos + run);
		end = min_u64(end, (pos & ~(block - 1)) + block);
		ret = map_piece(d, r, pos, end - pos);
		if (ret < 0) {
			if (stop)
				return ret;
			if (!first)
				first = ret;
		}
		pos = end;
	}
	return first;
}

/* Unmap everything r has mapped; the first refusal, after trying all. */
static int unmap_all(struct gmem_dma *d, struct gmem_dma_rec *r)
{
	struct gmem_extent m;
	uint64_t pos = 0;
	int ret, first = 0;

	while (first_overlap(&r->mapped, pos, UINT64_MAX, &m)) {
		ret = unmap_one(d, r, &m);
		if (ret < 0 && !first)
			first = ret;
		pos = m.end;
	}
	return first;
}

/* ---- the watch ops: called under the file's range lock ---- */

static int dma_invalidate(struct gmem_watch *w, uint64_t off, uint64_t len)
{
	struct gmem_dma_rec *r = rec_of(w);
	struct gmem_dma *d = r->d;
	uint64_t s = w->gpa + (off - w->off), e = s + len;
	struct gmem_extents taken = { 0 };
	struct gmem_extent m;
	int ret;

	if (!r->live)
		return 0;
	/* Whatever was missing there is no longer wanted. */
	pthread_mutex_lock(&d->lock);
	gmem_extents_remove(&r->missing, s, e, NULL, NULL);
	pthread_mutex_unlock(&d->lock);
	while (first_overlap(&r->mapped, s, e, &m)) {
		ret = unmap_one(d, r, &m);
		if (ret < 0) {
			/* Refused: put back what this call took away. */
			for (size_t i = 0; i < taken.nr; i++)
				map_range(d, r, taken.v[i].start,
					  taken.v[i].end, false);
			gmem_extents_free(&taken);
			return fail_noted(d, -ret, "; the devices would keep "
					  "the old pages, so the memory stays");
		}
		gmem_extents_add(&taken, m.start > s ? m.start : s,
				 min_u64(m.end, e), GMEM_NODE_UNKNOWN, NULL,
				 NULL);
		/* The parts that stay go back at once (a refusal: missing). */
		if (m.start < s)
			map_range(d, r, m.start, s, false);
		if (m.end > e)
			map_range(d, r, e, m.end, false);
	}
	gmem_extents_free(&taken);
	return 0;
}

static void dma_revalidate(struct gmem_watch *w, uint64_t off, uint64_t len)
{
	struct gmem_dma_rec *r = rec_of(w);
	uint64_t s = w->gpa + (off - w->off);

	if (r->live)
		map_range(r->d, r, s, s + len, false);
}

/* Under the VM lock and the range lock: the binding is ending. */
static void dma_detach(struct gmem_watch *w)
{
	struct gmem_dma_rec *r = rec_of(w);

	/*
	 * A mapping the kernel will not drop stays in the books, for
	 * gmem_dma_unmap() or gmem_dma_close() to try again.
	 */
	if (r->live)
		unmap_all(r->d, r);
	pthread_mutex_lock(&r->d->lock);
	r->live = false;
	r->bound = false;
	/* The handle may be freed and its address reused for another. */
	r->b = NULL;
	pthread_mutex_unlock(&r->d->lock);
}

static const struct gmem_watch_ops dma_watch_ops = {
	.invalidate = dma_invalidate,
	.revalidate = dma_revalidate,
	.detach = dma_detach,
};

/* ---- records ---- */

static struct gmem_dma_rec *find_rec(struct gmem_dma *d,
				     const struct gmem_binding *b)
{
	struct gmem_dma_rec *r;

	pthread_mutex_lock(&d->lock);
	for (r = d->recs; r && r->b != b; r = r->next)
		;
	pthread_mutex_unlock(&d->lock);
	return r;
}

static void unlink_rec(struct gmem_dma *d, struct gmem_dma_rec *r)
{
	struct gmem_dma_rec **pp;

	pthread_mutex_lock(&d->lock);
	for (pp = &d->recs; *pp && *pp != r; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = r->next;
	pthread_mutex_unlock(&d->lock);
}

static void free_rec(struct gmem_dma *d, struct gmem_dma_rec *r)
{
	gmem_watch_remove(&r->w);
	unlink_rec(d, r);
	gmem_extents_free(&r->mapped);
	gmem_extents_free(&r->missing);
	free(r);
}

/*
 * Forget records whose binding ended with nothing left mapped (watch.c is
 * done with a watch once the VM lock that covered its detach is free).
 */
static void reap(struct gmem_dma *d)
{
	struct gmem_dma_rec *r;

	for (;;) {
		pthread_mutex_lock(&d->lock);
		for (r = d->recs; r && (r->bound || r->mapped.nr); r = r->next)
			;
		pthread_mutex_unlock(&d->lock);
		if (!r)
			return;
		free_rec(d, r);
	}
}

/*
 * Unmap all of r and forget it.  While the binding lives, under its range
 * lock, so no discard can slip between the unmap and the watch leaving.
 * If the kernel refuses, r stays and keeps following the memory.
 */
static int release_rec(struct gmem_dma *d, struct gmem_dma_rec *r)
{
	struct gmem_vm *vm = d->vm;
	struct gmem_file *f = NULL;
	struct gmem_range_hold hold;
	int ret;

	pthread_mutex_lock(&vm->lock);
	if (r->bound) {
		f = r->w.file;
		gmem_range_lock(&f->ranges, &hold, r->w.off, r->w.off + r->w.len);
	}
	ret = unmap_all(d, r);
	if (ret == 0) {
		pthread_mutex_lock(&d->lock);
		r->live = false;
		pthread_mutex_unlock(&d->lock);
	}
	if (f)
		gmem_range_unlock(&f->ranges, &hold);
	pthread_mutex_unlock(&vm->lock);
	if (ret < 0)
		return fail_noted(d, -ret, "; still mapped, still followed");
	free_rec(d, r);
	return 0;
}

/* ---- the API ---- */

static int dma_open(struct gmem_vm *vm, int fd,
		    const struct gmem_dma_path_ops *ops, uint32_t ioas_id,
		    struct gmem_dma **out)
{
	uint64_t pgsizes = 0;
	struct gmem_dma *d;
	int ret;

	if (!vm || !out)
		return gmem_fail(EINVAL, "dma open: NULL argument");
	if (fd < 0 || fcntl(fd, F_GETFD) < 0)
		return gmem_fail(EBADF, "dma open: fd %d is not open", fd);
	if (gmem_vm_is_closed(vm))
		return gmem_fail(ESHUTDOWN, "dma open: the VM is closed");
	if (ops == &gmem_dma_vfio_ops)
		ret = gmem_dma_vfio_check_fd(fd, &pgsizes);
	else
		ret = gmem_dma_iommufd_check_fd(fd, ioas_id);
	if (ret < 0)
		return ret;
	d = calloc(1, sizeof(*d));
	if (!d)
		return gmem_fail(ENOMEM, "dma open: out of memory");
	d->ops = ops;
	d->fd = fd;
	d->ioas_id = ioas_id;
	d->iova_pgsizes = pgsizes;
	pthread_mutex_init(&d->lock, NULL);
	gmem_vm_get(vm);
	d->vm = vm;
	*out = d;
	return 0;
}

GMEM_API int gmem_dma_open_vfio(struct gmem_vm *vm, int container_fd,
				struct gmem_dma **out)
{
	gmem_error_clear();
	return dma_open(vm, container_fd, &gmem_dma_vfio_ops, 0, out);
}

GMEM_API int gmem_dma_open_iommufd(struct gmem_vm *vm, int iommufd,
				   uint32_t ioas_id, struct gmem_dma **out)
{
	gmem_error_clear();
	return dma_open(vm, iommufd, &gmem_dma_iommufd_ops, ioas_id, out);
}

/* Under vm->lock: can b be mapped by d? */
static int check_binding(struct gmem_dma *d, struct gmem_binding *b)
{
	if (d->vm->closed)
		return gmem_fail(ESHUTDOWN, "dma map: the VM is closed");
	if (!b->attached)
		return gmem_fail(ENOTCONN, "dma map: the binding ended");
	if (!b->file)
		return gmem_fail(EINVAL, "dma map: slot %u has no shared side; "
				 "private memory is never mapped for devices",
				 b->slot);
	if (find_rec(d, b))
		return gmem_fail(EEXIST, "dma map: slot %u is already mapped "
				 "by this gmem_dma", b->slot);
	return d->ops->check_file(d, b->file);
}

GMEM_API int gmem_dma_map(struct gmem_dma *d, struct gmem_binding *b)
{
	struct gmem_range_hold hold;
	struct gmem_dma_rec *r;
	struct gmem_vm *vm;
	struct gmem_file *f;
	int ret;

	gmem_error_clear();
	if (!d || !b)
		return gmem_fail(EINVAL, "dma map: NULL argument");
	vm = d->vm;
	if (b->vm != vm)
		return gmem_fail(EXDEV, "dma map: the binding belongs to "
				 "another VM than this gmem_dma");
	reap(d);
	r = calloc(1, sizeof(*r));
	if (!r)
		return gmem_fail(ENOMEM, "dma map: out of memory");
	r->d = d;
	r->b = b;
	r->w.ops = &dma_watch_ops;
	pthread_mutex_lock(&vm->lock);
	ret = check_binding(d, b);
	if (ret == 0)
		ret = gmem_watch_add_locked(b, &r->w);
	if (ret < 0) {
		pthread_mutex_unlock(&vm->lock);
		free(r);
		return ret;
	}
	pthread_mutex_lock(&d->lock);
	r->next = d->recs;
	d->recs = r;
	pthread_mutex_unlock(&d->lock);
	/* The range lock keeps discards out until the mapping is whole. */
	f = r->w.file;
	gmem_range_lock(&f->ranges, &hold, r->w.off, r->w.off + r->w.len);
	pthread_mutex_lock(&d->lock);
	r->bound = true;
	r->live = true;
	pthread_mutex_unlock(&d->lock);
	ret = map_range(d, r, r->w.gpa, r->w.gpa + r->w.len, true);
	if (ret < 0) {
		/* The reason is the refused map, not what undoing it meets. */
		ret = fail_noted(d, -ret, "");
		if (unmap_all(d, r) == 0) {
			pthread_mutex_lock(&d->lock);
			r->live = false;
			pthread_mutex_unlock(&d->lock);
		}
	}
	gmem_range_unlock(&f->ranges, &hold);
	pthread_mutex_unlock(&vm->lock);
	/* A mapping the kernel would not take back stays followed. */
	if (ret < 0 && !r->live)
		free_rec(d, r);
	return ret;
}

GMEM_API int gmem_dma_unmap(struct gmem_dma *d, struct gmem_binding *b)
{
	struct gmem_dma_rec *r;

	gmem_error_clear();
	if (!d || !b)
		return gmem_fail(EINVAL, "dma unmap: NULL argument");
	reap(d);
	r = find_rec(d, b);
	if (!r)
		return gmem_fail(ENOENT, "dma unmap: the binding at 0x%llx is "
				 "not mapped by this gmem_dma (or it ended, "
				 "which unmapped it)",
				 (unsigned long long)b->gpa);
	return release_rec(d, r);
}

GMEM_API int gmem_dma_stats(struct gmem_dma *d, struct gmem_dma_stats *out)
{
	gmem_error_clear();
	if (!d || !out)
		return gmem_fail(EINVAL, "dma stats: NULL argument");
	memset(out, 0, sizeof(*out));
	out->path = d->ops->path;
	pthread_mutex_lock(&d->lock);
	for (struct gmem_dma_rec *r = d->recs; r; r = r->next) {
		out->bindings += r->live;
		out->mapped_bytes += r->mapped.bytes;
		out->mappings += r->mapped.nr;
		out->missing_bytes += r->missing.bytes;
		for (size_t i = 0; i < r->mapped.nr; i++) {
			const struct gmem_extent *m = &r->mapped.v[i];

			if (m->node & 1)
				out->by_file_bytes += m->end - m->start;
			else
				out->by_address_bytes += m->end - m->start;
		}
	}
	out->map_calls = d->map_calls;
	out->unmap_calls = d->unmap_calls;
	out->failed_calls = d->failed_calls;
	out->by_file_refused = d->by_file_refused;
	memcpy(out->error, d->error, sizeof(out->error));
	pthread_mutex_unlock(&d->lock);
	return 0;
}

GMEM_API int gmem_dma_close(struct gmem_dma *d)
{
	struct gmem_dma_rec *r, *skip = NULL;
	int ret, failed = 0;

	gmem_error_clear();
	if (!d)
		return gmem_fail(EINVAL, "dma close: NULL argument");
	/*
	 * One record at a time, from the head; one the kernel will not let
	 * go of stays at the head, and the walk goes on after it.
	 */
	for (;;) {
		pthread_mutex_lock(&d->lock);
		r = skip ? skip->next : d->recs;
		pthread_mutex_unlock(&d->lock);
		if (!r)
			break;
		ret = release_rec(d, r);
		if (ret < 0) {
			/* The latest refusal, matching the reason it left. */
			failed = ret;
			skip = r;
		}
	}
	if (failed)
		return failed;
	gmem_vm_put(d->vm);
	pthread_mutex_destroy(&d->lock);
	free(d);
	return 0;
}

GMEM_API int gmem_dma_probe(struct gmem_dma_host *out)
{
	gmem_error_clear();
	if (!out)
		return gmem_fail(EINVAL, "dma probe: NULL argument");
	memset(out, 0, sizeof(*out));
	gmem_dma_vfio_probe(out);
	gmem_dma_iommufd_probe(out);
	return 0;
}
