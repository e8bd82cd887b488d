// SPDX-License-Identifier: MIT
/* backend_memfd.c - shared memfd, reached by KVM through a host mapping. */
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

int gmem_memfd_make(struct gmem_file *f, const struct gmem_file_args *a,
		    unsigned int mfd_flags)
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
	p = mmap(NULL, a->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = errno;
		gmem_fail(err, "%s: mmap of %llu bytes: %s", f->ops->name,
			  (unsigned long long)a->size, strerror(err));
		goto close_fd;
	}
	f->fd = fd;
	f->host_addr = p;
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

static int memfd_available(const struct gmem_host *h,
			   const struct gmem_file_args *a)
{
	if (!h->memfd)
		return gmem_fail(EOPNOTSUPP, "memfd: memfd_create is not "
				 "available");
	if (a->flags & GMEM_FILE_NO_HOST_MAP)
		return gmem_fail(EINVAL, "memfd: KVM reaches memfd memory "
				 "through the host mapping, so "
				 "GMEM_FILE_NO_HOST_MAP is only for guest_memfd");
	return 0;
}

static uint64_t memfd_page_size(const struct gmem_file_args *a)
{
	(void)a;
	return GMEM_BASE_PAGE_SIZE;
}

static int memfd_create_file(struct gmem_file *f, const struct gmem_file_args *a)
{
	return gmem_memfd_make(f, a, 0);
}

const struct gmem_backend_ops gmem_backend_memfd = {
	.id = GMEM_BACKEND_MEMFD,
	.name = "memfd",
	.available = memfd_available,
	.page_size = memfd_page_size,
	.create = memfd_create_file,
	.populate = gmem_fallocate_populate,
	.discard = gmem_fallocate_punch,
	.fill_slot = gmem_fill_slot_from_mapping,
};
