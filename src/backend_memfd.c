// SPDX-License-Identifier: MIT
/* backend_memfd.c - shared memfd, reached by KVM through a host mapping. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/*
 * Map fd at an address aligned to align, so the host (and KVM, which
 * follows the host's page size) can use huge mappings.  Reserve a larger
 * range, then map the file over its aligned middle and trim the rest.
 */
static void *map_aligned(int fd, uint64_t size, uint64_t align)
{
	uint8_t *area, *p;
	uint64_t lead;

	if (align <= GMEM_BASE_PAGE_SIZE)
		return mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED,
			    fd, 0);
	area = mmap(NULL, size + align, PROT_NONE,
		    MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (area == MAP_FAILED)
		return MAP_FAILED;
	lead = (align - (uintptr_t)area % align) % align;
	p = mmap(area + lead, size, PROT_READ | PROT_WRITE,
		 MAP_SHARED | MAP_FIXED, fd, 0);
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
		return gmem_fail(errno, "memfd_create: %s", strerror(errno));
	if (ftruncate(fd, (off_t)a->size) < 0) {
		err = errno;
		gmem_fail(err, "%s: ftruncate to %llu bytes: %s", f->ops->name,
			  (unsigned long long)a->size, strerror(err));
		goto close_fd;
	}
	/* Guests and device processes rely on the size: nobody may change it. */
	if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		err = errno;
		gmem_fail(err, "%s: sealing the size: %s", f->ops->name,
			  strerror(err));
		goto close_fd;
	}
	p = map_aligned(fd, a->size, align);
	if (p == MAP_FAILED) {
		err = errno;
		gmem_fail(err, "%s: mmap of %llu bytes: %s", f->ops->name,
			  (unsigned long long)a->size, strerror(err));
		goto close_fd;
	}
	f->fd = fd;
	f->host_addr = p;
	f->map_len = a->size;
	return 0;

close_fd:
	close(fd);
	return -err;
}

static int fallocate_range(struct gmem_file *f, int mode, uint64_t off,
			   uint64_t len, const char *what)
{
	if (fallocate(f->fd, mode, (off_t)off, (off_t)len) < 0) {
		int err = errno;

		return gmem_fail(err, "%s: fallocate 0x%llx+0x%llx on %s: %s",
				 what, (unsigned long long)off,
				 (unsigned long long)len, f->ops->name,
				 strerror(err));
	}
	return 0;
}

/* Every backend allocates with fallocate: it runs without page faults, and
 * guest_memfd accepts nothing else.  KEEP_SIZE is what guest_memfd requires. */
int gmem_fallocate_populate(struct gmem_file *f, uint64_t off, uint64_t len)
{
	return fallocate_range(f, FALLOC_FL_KEEP_SIZE, off, len, "populate");
}

/* Punching unmaps the range from every mapping and KVM follows (through
 * its MMU notifier for mapped memory, directly for guest_memfd), so every
 * guest reads zeros afterwards. */
int gmem_fallocate_punch(struct gmem_file *f, uint64_t off, uint64_t len)
{
	return fallocate_range(f, FALLOC_FL_KEEP_SIZE | FALLOC_FL_PUNCH_HOLE,
			       off, len, "discard");
}

void gmem_fill_slot_from_mapping(const struct gmem_file *f, uint64_t off,
				 struct gmem_kvm_userspace_memory_region2 *r)
{
	r->userspace_addr = (uintptr_t)f->host_addr + off;
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

static int memfd_available(const struct gmem_host *h,
			   const struct gmem_file_args *a)
{
	char mode[32];

	if (!h->memfd)
		return gmem_fail(EOPNOTSUPP, "memfd: memfd_create is not "
				 "available");
	if (a->flags & GMEM_FILE_NO_HOST_MAP)
		return gmem_fail(EINVAL, "memfd: KVM reaches memfd memory "
				 "through the host mapping, so "
				 "GMEM_FILE_NO_HOST_MAP is only for guest_memfd");
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
	return GMEM_BASE_PAGE_SIZE;
}

#define THP_SIZE (2ULL << 20)

static int memfd_create_file(struct gmem_file *f, const struct gmem_file_args *a)
{
	bool thp = a->flags & GMEM_FILE_THP;
	int ret;

	ret = gmem_memfd_make(f, a, 0, thp ? THP_SIZE : GMEM_BASE_PAGE_SIZE);
	if (ret < 0 || !thp)
		return ret;
	if (madvise(f->host_addr, a->size, MADV_HUGEPAGE) < 0) {
		ret = gmem_fail(errno, "memfd: MADV_HUGEPAGE: %s",
				strerror(errno));
		munmap(f->host_addr, f->map_len);
		close(f->fd);
		f->host_addr = NULL;
		f->fd = -1;
		return ret;
	}
	f->thp = true;
	return 0;
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

/* fallocate allocates without a mapping, and so without the huge advice:
 * a THP file is populated by faulting through its mapping instead. */
static int memfd_populate(struct gmem_file *f, uint64_t off, uint64_t len)
{
	if (!f->thp)
		return gmem_fallocate_populate(f, off, len);
	if (madvise((uint8_t *)f->host_addr + off, len, MADV_POPULATE_WRITE) < 0)
		return gmem_fail(errno, "populate: MADV_POPULATE_WRITE "
				 "0x%llx+0x%llx on memfd: %s",
				 (unsigned long long)off,
				 (unsigned long long)len, strerror(errno));
	return 0;
}

const struct gmem_backend_ops gmem_backend_memfd = {
	.id = GMEM_BACKEND_MEMFD,
	.name = "memfd",
	.available = memfd_available,
	.page_size = memfd_page_size,
	.create = memfd_create_file,
	.populate = memfd_populate,
	.discard = gmem_fallocate_punch,
	.fill_slot = gmem_fill_slot_from_mapping,
};
