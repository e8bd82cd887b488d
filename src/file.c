// SPDX-License-Identifier: MIT
/* file.c - guest memory as a file: creation, lifetime and queries. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

static bool reserved_zero(const uint64_t *r, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (r[i])
			return false;
	return true;
}

static int check_args(const struct gmem_file_args *a,
		      const struct gmem_backend_ops **ops_out)
{
	const struct gmem_backend_ops *ops;
	uint64_t psz;
	int ret;

	if (!reserved_zero(a->reserved, sizeof(a->reserved) / sizeof(a->reserved[0])))
		return gmem_fail(EINVAL, "file: reserved fields must be zero");
	if (a->flags & ~GMEM_FILE_FLAGS_ALL)
		return gmem_fail(EINVAL, "file: unknown flags 0x%x",
				 a->flags & ~GMEM_FILE_FLAGS_ALL);
	if (a->backend >= GMEM_BACKEND_COUNT)
		return gmem_fail(EINVAL, "file: unknown backend %u", a->backend);
	if (a->size == 0)
		return gmem_fail(EINVAL, "file: size is 0");
	if (a->backend == GMEM_BACKEND_AUTO) {
		ops = gmem_backend_choose(a);
		if (!ops)
			return gmem_fail(ENODEV, "file: no backend is usable "
					 "here (last: %s)", gmem_last_error());
	} else {
		ops = gmem_backend_ops(a->backend);
		ret = ops->check(a);
		if (ret < 0)
			return ret;
	}
	psz = ops->page_size(a);
	if (!gmem_aligned(a->size, psz))
		return gmem_fail(EINVAL, "file: size %llu is not a multiple of "
				 "the %s page size %llu",
				 (unsigned long long)a->size, ops->name,
				 (unsigned long long)psz);
	/* Offsets are off_t and mappings are size_t: stay inside both. */
	if (a->size > (uint64_t)INT64_MAX - psz)
		return gmem_fail(EFBIG, "file: size %llu is too large",
				 (unsigned long long)a->size);
	*ops_out = ops;
	return 0;
}

static void free_file(struct gmem_file *f)
{
	gmem_account_free(f);
	free(f->numa);
	pthread_mutex_destroy(&f->lock);
	gmem_rangelock_destroy(&f->ranges);
	free(f);
}

/* A new handle, before the backend gives it an fd. */
static struct gmem_file *new_file(const struct gmem_backend_ops *ops,
				  uint64_t size, uint64_t page_size,
				  const char *name)
{
	struct gmem_file *f = calloc(1, sizeof(*f));

	if (!f) {
		gmem_fail(ENOMEM, "out of memory for a file handle");
		return NULL;
	}
	pthread_mutex_init(&f->lock, NULL);
	gmem_rangelock_init(&f->ranges);
	f->refs = 1;
	f->ops = ops;
	f->fd = -1;
	f->size = size;
	f->page_size = page_size;
	snprintf(f->name, sizeof(f->name), "%s", name ? name : "gmem");
	if (gmem_account_init(f) < 0) {
		free_file(f);
		return NULL;
	}
	return f;
}

/* The handle is made: it belongs to its VM (guest_memfd) and is counted. */
static void publish(struct gmem_file *f, struct gmem_vm *vm,
		    struct gmem_file **out)
{
	if (f->ops->belongs_to_vm) {
		f->owner = vm;
		gmem_vm_get(vm);
	}
	gmem_registry_add(f);
	*out = f;
}

GMEM_API int gmem_file_create(const struct gmem_file_args *args,
			      struct gmem_file **out)
{
	const struct gmem_backend_ops *ops = NULL;
	struct gmem_file *f;
	int ret;

	gmem_error_clear();
	if (!args || !out)
		return gmem_fail(EINVAL, "gmem_file_create: NULL argument");
	ret = check_args(args, &ops);
	if (ret < 0)
		return ret;
	f = new_file(ops, args->size, ops->page_size(args), args->name);
	if (!f)
		return -ENOMEM;
	ret = ops->create(f, args);
	if (ret < 0) {
		free_file(f);
		return ret;
	}
	publish(f, args->vm, out);
	return 0;
}

/* Is the imported window sound for this fd and its kind of file? */
static int check_window(const struct gmem_import_args *a, const struct stat *st,
			uint64_t psz, uint64_t *size)
{
	uint64_t fsize = (uint64_t)st->st_size;

	*size = a->size ? a->size : fsize > a->offset ? fsize - a->offset : 0;
	if (!gmem_aligned(a->offset, psz) || !gmem_aligned(*size, psz))
		return gmem_fail(EINVAL, "import: offset 0x%llx and size 0x%llx "
				 "must be multiples of the page size 0x%llx",
				 (unsigned long long)a->offset,
				 (unsigned long long)*size,
				 (unsigned long long)psz);
	if (!*size || a->offset + *size < a->offset ||
	    a->offset + *size > fsize)
		return gmem_fail(ERANGE, "import: 0x%llx+0x%llx is empty or not "
				 "inside the fd's 0x%llx bytes",
				 (unsigned long long)a->offset,
				 (unsigned long long)*size,
				 (unsigned long long)fsize);
	return 0;
}

#define IMPORT_FLAGS (GMEM_FILE_PRIVATE | GMEM_FILE_NO_HOST_MAP | \
		      GMEM_IMPORT_CLOSE)

GMEM_API int gmem_file_import(const struct gmem_import_args *a,
			      struct gmem_file **out)
{
	const struct gmem_backend_ops *ops;
	struct gmem_file *f;
	struct statfs sfs;
	struct stat st;
	uint64_t size;
	int fd, ret;

	gmem_error_clear();
	if (!a || !out)
		return gmem_fail(EINVAL, "gmem_file_import: NULL argument");
	if (!reserved_zero(a->reserved, sizeof(a->reserved) / sizeof(a->reserved[0])))
		return gmem_fail(EINVAL, "import: reserved fields must be zero");
	if (a->flags & ~IMPORT_FLAGS)
		return gmem_fail(EINVAL, "import: unknown flags 0x%x",
				 a->flags & ~IMPORT_FLAGS);
	if (a->fd < 0 || fstatfs(a->fd, &sfs) < 0 || fstat(a->fd, &st) < 0)
		return gmem_fail(EBADF, "import: fd %d is not open", a->fd);
	ops = gmem_backend_claiming(&sfs, &st);
	if (!ops)
		return gmem_fail(EINVAL, "import: fd %d is neither a memfd, a "
				 "hugetlbfs file nor a guest_memfd (filesystem "
				 "0x%lx)", a->fd, (unsigned long)sfs.f_type);
	ret = check_window(a, &st, ops->import_page_size(&sfs), &size);
	if (ret < 0)
		return ret;
	f = new_file(ops, size, ops->import_page_size(&sfs), a->name);
	if (!f)
		return -ENOMEM;
	/* A duplicate of the caller's fd, unless it was given over. */
	fd = a->flags & GMEM_IMPORT_CLOSE ? a->fd
					  : fcntl(a->fd, F_DUPFD_CLOEXEC, 0);
	if (fd < 0) {
		ret = gmem_fail(errno, "import: duplicating fd %d: %s", a->fd,
				strerror(errno));
		goto free_file;
	}
	f->fd = fd;
	f->base = a->offset;
	ret = ops->import(f, a);
	if (ret < 0)
		goto close_fd;
	publish(f, a->vm, out);
	return 0;

close_fd:
	if (f->map)
		munmap(f->map, f->map_len);
	/* On failure the caller still owns what it gave. */
	if (!(a->flags & GMEM_IMPORT_CLOSE))
		close(fd);
free_file:
	free_file(f);
	return ret;
}

void gmem_file_get(struct gmem_file *f)
{
	__atomic_add_fetch(&f->refs, 1, __ATOMIC_RELAXED);
}

bool gmem_file_tryget(struct gmem_file *f)
{
	int refs = __atomic_load_n(&f->refs, __ATOMIC_RELAXED);

	while (refs > 0)
		if (__atomic_compare_exchange_n(&f->refs, &refs, refs + 1,
						false, __ATOMIC_ACQUIRE,
						__ATOMIC_RELAXED))
			return true;
	return false;
}

void gmem_file_put(struct gmem_file *f)
{
	if (__atomic_sub_fetch(&f->refs, 1, __ATOMIC_ACQ_REL))
		return;
	/* First out of the registry, so no stats scan finds it half gone. */
	gmem_registry_remove(f);
	f->ops->destroy(f);
	if (f->owner)
		gmem_vm_put(f->owner);
	free_file(f);
}

GMEM_API int gmem_file_close(struct gmem_file *file)
{
	gmem_error_clear();
	if (!file)
		return gmem_fail(EINVAL, "gmem_file_close: file is NULL");
	gmem_file_put(file);
	return 0;
}

int gmem_file_check_range(const struct gmem_file *f, uint64_t off,
			  uint64_t len, const char *what)
{
	if (len == 0)
		return gmem_fail(EINVAL, "%s: length is 0", what);
	if (!gmem_aligned(off, f->page_size) || !gmem_aligned(len, f->page_size))
		return gmem_fail(EINVAL, "%s: offset 0x%llx and length 0x%llx "
				 "must be multiples of the page size 0x%llx",
				 what, (unsigned long long)off,
				 (unsigned long long)len,
				 (unsigned long long)f->page_size);
	if (off + len < off)
		return gmem_fail(EOVERFLOW, "%s: offset + length overflows",
				 what);
	if (off + len > f->size)
		return gmem_fail(ERANGE, "%s: range 0x%llx+0x%llx ends past "
				 "the file size 0x%llx", what,
				 (unsigned long long)off,
				 (unsigned long long)len,
				 (unsigned long long)f->size);
	return 0;
}

GMEM_API int gmem_file_fd(const struct gmem_file *file)
{
	gmem_error_clear();
	return file ? file->fd : gmem_fail(EINVAL, "file is NULL");
}

GMEM_API uint64_t gmem_file_size(const struct gmem_file *file)
{
	return file ? file->size : 0;
}

GMEM_API enum gmem_backend gmem_file_backend(const struct gmem_file *file)
{
	return file ? file->ops->id : GMEM_BACKEND_AUTO;
}

GMEM_API uint64_t gmem_file_page_size(const struct gmem_file *file)
{
	return file ? file->page_size : 0;
}

GMEM_API void *gmem_file_host_addr(const struct gmem_file *file)
{
	return file && file->host_visible ? file->map : NULL;
}

GMEM_API int gmem_file_host_map(const struct gmem_file *file, void **addr)
{
	gmem_error_clear();
	if (!file || !addr)
		return gmem_fail(EINVAL, "gmem_file_host_map: NULL argument");
	*addr = NULL;
	if (file->private)
		return gmem_fail(ENXIO, "%s holds private memory, which the "
				 "library never maps into the host",
				 file->name);
	if (!file->host_visible)
		return gmem_fail(ENXIO, "%s was made with GMEM_FILE_NO_HOST_MAP",
				 file->name);
	*addr = file->map;
	return 0;
}
