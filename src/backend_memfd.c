// SPDX-License-Identifier: MIT
/*
 * backend_memfd.c - shared memfd, reached by KVM through a host mapping,
 * and the helpers the other memfd-like backends share.
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define THP_SIZE (2ULL << 20)

/*
 * Map fd at an address aligned to align, so the host (and KVM, which
 * follows the host's page size) can use huge mappings.  Reserve a larger
 * range, then map the file over its aligned middle and trim the rest.
 */
static void *map_aligned(int fd, uint64_t offset, uint64_t size,
			 uint64_t align)
{
	uint8_t *area, *p;
	uint64_t lead;

	if (align <= gmem_facts()->page_size)
		return mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			    fd, (off_t)offset);
	area = mmap(NULL, size + align, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED)
		return MAP_FAILED;
	lead = (align - (uintptr_t)area % align) % align;
	p = mmap(area + lead, size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, (off_t)offset);
	if (p == MAP_FAILED) {
		int err = errno;

		munmap(area, size + align);
		errno = err;
		return MAP_FAILED;
	}
	if (lead)
		munmap(area, lead);
	munmap(p + size, align - lead);
	return p;
}

int gmem_memfd_make(struct gmem_file *f, const struct gmem_file_args *a,
		    unsigned int mfd_flags, uint64_t align)
{
	void *p;
	int fd, err;

	fd = memfd_create(f->name, MFD_CLOEXEC | MFD_ALLOW_SEALING | mfd_flags);
	if (fd < 0)
		return gmem_fail(errno, "%s: memfd_create: %s", f->ops->name,
				 strerror(errno));
	if (ftruncate(fd, (off_t)a->size) < 0) {
		err = errno;
		gmem_fail(err, "%s: ftruncate to %llu bytes: %s", f->ops->name,
			  (unsigned long long)a->size, strerror(err));
		goto close_fd;
	}
	/* Guests and device processes rely on the size: nobody may change it. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		err = errno;
		gmem_fail(err, "%s: sealing the size (fcntl F_ADD_SEALS): %s",
			  f->ops->name, strerror(err));
		goto close_fd;
	}
	p = map_aligned(fd, 0, a->size, align);
	if (p == MAP_FAILED) {
		err = errno;
		gmem_fail(err, "%s: mmap of %llu bytes: %s", f->ops->name,
			  (unsigned long long)a->size, strerror(err));
		goto close_fd;
	}
	f->fd = fd;
	f->map = p;
	f->map_len = a->size;
	f->host_visible = true;
	return 0;

close_fd:
	close(fd);
	return -err;
}

int gmem_memfd_map_import(struct gmem_file *f, uint64_t align)
{
	void *p = map_aligned(f->fd, f->base, f->size, align);

	if (p == MAP_FAILED)
		return gmem_fail(errno, "%s: mmap of the imported 0x%llx+0x%llx: "
				 "%s", f->ops->name,
				 (unsigned long long)f->base,
				 (unsigned long long)f->size, strerror(errno));
	f->map = p;
	f->map_len = f->size;
	f->host_visible = true;
	return 0;
}

void gmem_unmap_and_close(struct gmem_file *f)
{
	if (f->map)
		munmap(f->map, f->map_len);
	if (f->fd >= 0)
		close(f->fd);
	f->map = NULL;
	f->fd = -1;
}

int gmem_fallocate(struct gmem_file *f, int mode, uint64_t off, uint64_t len,
		   const char *what)
{
	/* An imported window starts at base within the fd. */
	if (fallocate(f->fd, mode, (off_t)(f->base + off), (off_t)len) < 0) {
		int err = errno;

		return gmem_fail(err, "%s: fallocate 0x%llx+0x%llx on %s: %s",
				 what, (unsigned long long)off,
				 (unsigned long long)len, f->ops->name,
				 strerror(err));
	}
	return 0;
}

/*
 * Every backend allocates with fallocate: it runs without page faults, and
 * guest_memfd accepts nothing else.  KEEP_SIZE is what guest_memfd needs.
 */
int gmem_fallocate_populate(struct gmem_file *f, uint64_t off, uint64_t len)
{
	return gmem_fallocate(f, FALLOC_FL_KEEP_SIZE, off, len, "populate");
}

/*
 * Punching unmaps the range from every mapping and KVM follows (through
 * its MMU notifier for mapped memory, directly for guest_memfd), so every
 * guest reads zeros afterwards.
 */
int gmem_fallocate_punch(struct gmem_file *f, uint64_t off, uint64_t len)
{
	return gmem_fallocate(f, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			      off, len, "discard");
}

void gmem_fill_memslot_from_map(const struct gmem_file *f, uint64_t off,
				struct gmem_kvm_userspace_memory_region2 *r)
{
	r->userspace_addr = (uintptr_t)f->map + off;
}

/*
 * The shmem THP mode for 2 MiB pages, read now (an operator may change it
 * at any time): the per-size knob unless it says "inherit", else global.
 */
static void shmem_thp_mode(char *out, size_t len)
{
	gmem_read_sysfs_mode("/sys/kernel/mm/transparent_hugepage/"
			     "hugepages-2048kB/shmem_enabled", out, len);
	if (!strcmp(out, "inherit") || !strcmp(out, "unavailable"))
		gmem_read_sysfs_mode("/sys/kernel/mm/transparent_hugepage/"
				     "shmem_enabled", out, len);
}

static int memfd_check(const struct gmem_file_args *a)
{
	char mode[32];

	if (a->flags & GMEM_FILE_NO_HOST_MAP)
		return gmem_fail(EINVAL, "memfd: KVM reaches memfd memory "
				 "through the host mapping, so "
				 "GMEM_FILE_NO_HOST_MAP is only for guest_memfd");
	if (a->page_size)
		return gmem_fail(EINVAL, "file: page_size is only for the "
				 "hugetlb backend, not memfd");
	if (a->flags & GMEM_FILE_PRIVATE)
		return gmem_fail(EINVAL, "memfd: private memory is a "
				 "guest_memfd of a VM that has it, not a memfd");
	if (a->flags & GMEM_FILE_THP) {
		shmem_thp_mode(mode, sizeof(mode));
		if (strcmp(mode, "always") && strcmp(mode, "within_size") &&
		    strcmp(mode, "advise") && strcmp(mode, "force"))
			return gmem_fail(EOPNOTSUPP, "memfd: transparent huge "
					 "pages for shared memory are off here "
					 "(shmem_enabled=%s); an operator can "
					 "write \"advise\" to /sys/kernel/mm/"
					 "transparent_hugepage/shmem_enabled",
					 mode);
	}
	return 0;
}

static uint64_t memfd_page_size(const struct gmem_file_args *a)
{
	(void)a;
	return gmem_facts()->page_size;
}

static int memfd_create_file(struct gmem_file *f, const struct gmem_file_args *a)
{
	bool thp = a->flags & GMEM_FILE_THP;
	int ret;

	ret = gmem_memfd_make(f, a, 0, thp ? THP_SIZE : f->page_size);
	if (ret < 0 || !thp)
		return ret;
	if (madvise(f->map, a->size, MADV_HUGEPAGE) < 0) {
		ret = gmem_fail(errno, "memfd: MADV_HUGEPAGE: %s",
				strerror(errno));
		gmem_unmap_and_close(f);
		return ret;
	}
	f->thp = true;
	return 0;
}

int gmem_madvise_populate(struct gmem_file *f, uint64_t off, uint64_t len)
{
	if (madvise((uint8_t *)f->map + off, len, MADV_POPULATE_WRITE) < 0)
		return gmem_fail(errno, "populate: madvise(MADV_POPULATE_WRITE) "
				 "0x%llx+0x%llx on %s: %s",
				 (unsigned long long)off,
				 (unsigned long long)len, f->ops->name,
				 strerror(errno));
	return 0;
}

/*
 * Ready memory is faulted in through the mapping: shmem's fallocate
 * leaves pages to be zeroed at first touch and serialises on the inode
 * lock, while faults zero as they go and run on every core at once.  A
 * THP file needs the mapping anyway: fallocate knows nothing of the huge
 * advice.  Allocate-only is fallocate, the cheapest way to reserve.
 */
static int memfd_populate(struct gmem_file *f, uint64_t off, uint64_t len,
			  bool zero)
{
	if ((zero || f->thp) && f->map)
		return gmem_madvise_populate(f, off, len);
	return gmem_fallocate_populate(f, off, len);
}

/* Bytes of the range the kernel does not hold yet. */
static uint64_t cache_missing(struct gmem_file *f, uint64_t off, uint64_t len)
{
	int64_t have = gmem_cache_bytes(f, off, len);

	return have < 0 ? len : len - (uint64_t)have;
}

static int memfd_check_room(struct gmem_file *f, uint64_t off, uint64_t len)
{
	return gmem_room_memcg(cache_missing(f, off, len), "populate");
}

static int memfd_usage(struct gmem_file *f, struct gmem_usage *u,
		       bool touched)
{
	struct stat st;
	int64_t n;

	if (gmem_cache_usage(f, u, touched) == 0)
		return 0;
	/* Before cachestat (Linux 6.5), shmem still counts its blocks. */
	if (fstat(f->fd, &st) < 0)
		return -errno;
	u->resident = (uint64_t)st.st_blocks * 512;
	n = touched ? gmem_mincore_bytes(f, 0, f->size) : -1;
	u->touched = n < 0 ? GMEM_STATS_UNKNOWN : (uint64_t)n;
	return 0;
}

static unsigned int memfd_numa_reach(const struct gmem_file *f)
{
	(void)f;
	/* shmem keeps a policy per file range and applies it to fallocate. */
	return GMEM_REACH_POPULATE | GMEM_REACH_FAULTS;
}

static int memfd_check_bind(const struct gmem_file *f, uint64_t off,
			    uint64_t len, uint64_t gpa)
{
	(void)len;
	if (f->thp && (gpa % THP_SIZE) != (off % THP_SIZE))
		return gmem_fail(EINVAL, "bind: a THP memfd needs the guest "
				 "address 0x%llx and the file offset 0x%llx "
				 "equal modulo 2 MiB, or KVM maps it with 4 KiB "
				 "pages only", (unsigned long long)gpa,
				 (unsigned long long)off);
	return 0;
}

/* A memfd is a regular file on the shmem filesystem. */
static bool memfd_claims(const struct statfs *sfs, const struct stat *st)
{
	return sfs->f_type == 0x01021994 /* TMPFS_MAGIC */ &&
	       S_ISREG(st->st_mode);
}

static uint64_t base_page_size(const struct statfs *sfs)
{
	(void)sfs;
	return gmem_facts()->page_size;
}

static int memfd_import(struct gmem_file *f, const struct gmem_import_args *a)
{
	if (a->flags & (GMEM_FILE_PRIVATE | GMEM_FILE_NO_HOST_MAP))
		return gmem_fail(EINVAL, "import: a memfd is shared memory, "
				 "reached through its mapping; GMEM_FILE_PRIVATE "
				 "and _NO_HOST_MAP are for guest_memfd");
	return gmem_memfd_map_import(f, f->page_size);
}

const struct gmem_backend_ops gmem_backend_memfd = {
	.id = GMEM_BACKEND_MEMFD,
	.name = "memfd",
	.auto_choice = true,
	.check = memfd_check,
	.page_size = memfd_page_size,
	.create = memfd_create_file,
	.destroy = gmem_unmap_and_close,
	.claims = memfd_claims,
	.import_page_size = base_page_size,
	.import = memfd_import,
	.populate_chunk = 64ULL << 20,
	.populate = memfd_populate,
	.discard = gmem_fallocate_punch,
	.check_room = memfd_check_room,
	/*
	 * Not SEEK_DATA as a fallback: shmem reports fallocated pages no one
	 * wrote as holes.  Without cachestat the books stay as they were.
	 */
	.resident_in = gmem_cache_resident_in,
	.usage = memfd_usage,
	.numa_reach = memfd_numa_reach,
	.fill_memslot = gmem_fill_memslot_from_map,
	.check_bind = memfd_check_bind,
};
