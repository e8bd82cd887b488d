// SPDX-License-Identifier: MIT
/*
 * backend_guest_memfd.c - KVM's own guest_memfd, created through a VM.  A
 * guest uses it as shared memory (host-mappable, Linux 6.18+) or, on a VM
 * with private memory, as private memory the host never maps.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "internal.h"

/* What this VM offers for guest_memfd: it never changes, so asked once. */
static int vm_gmem_caps(struct gmem_vm *vm, struct gmem_vm_gmem_caps *c)
{
	uint64_t v = 0;
	bool known;
	int ret;

	pthread_mutex_lock(&vm->lock);
	known = vm->gmem_caps_known;
	*c = vm->gmem_caps;
	pthread_mutex_unlock(&vm->lock);
	if (known)
		return 0;
	ret = gmem_vm_check_cap(vm, GMEM_KVM_CAP_GUEST_MEMFD,
				"KVM_CAP_GUEST_MEMFD", &v);
	if (ret < 0)
		return ret;
	c->supported = v > 0;
	ret = gmem_vm_check_cap(vm, GMEM_KVM_CAP_GUEST_MEMFD_FLAGS,
				"KVM_CAP_GUEST_MEMFD_FLAGS", &c->flags);
	if (ret < 0)
		return ret;
	ret = gmem_vm_check_cap(vm, GMEM_KVM_CAP_MEMORY_ATTRIBUTES,
				"KVM_CAP_MEMORY_ATTRIBUTES", &v);
	if (ret < 0)
		return ret;
	c->private = v & GMEM_KVM_MEMORY_ATTRIBUTE_PRIVATE;
	pthread_mutex_lock(&vm->lock);
	vm->gmem_caps = *c;
	vm->gmem_caps_known = true;
	pthread_mutex_unlock(&vm->lock);
	return 0;
}

#define SHARED_FLAGS (GMEM_KVM_GUEST_MEMFD_FLAG_MMAP | \
		      GMEM_KVM_GUEST_MEMFD_FLAG_INIT_SHARED)

/*
 * The flags that make a guest_memfd shared (host-mappable and usable by a
 * guest as ordinary memory), or 0 if this VM cannot have them.  A VM with
 * private memory needs INIT_SHARED, or its pages would start private.
 */
static uint64_t shared_flags(const struct gmem_vm_gmem_caps *c)
{
	if (!(c->flags & GMEM_KVM_GUEST_MEMFD_FLAG_MMAP))
		return 0;
	if (c->private && !(c->flags & GMEM_KVM_GUEST_MEMFD_FLAG_INIT_SHARED))
		return 0;
	return c->flags & SHARED_FLAGS;
}

/*
 * Does this file hold private memory (and so must never be mapped)?  Asked
 * for, or implied by not wanting a host view on a VM with private memory.
 */
static bool wants_private(const struct gmem_vm_gmem_caps *c,
			  const struct gmem_file_args *a)
{
	return (a->flags & GMEM_FILE_PRIVATE) ||
	       ((a->flags & GMEM_FILE_NO_HOST_MAP) && c->private);
}

static int gmfd_check(const struct gmem_file_args *a)
{
	struct gmem_vm_gmem_caps c;
	int ret;

	if (!a->vm)
		return gmem_fail(EINVAL, "guest_memfd: a guest_memfd file "
				 "belongs to a VM; set args.vm");
	if (a->page_size)
		return gmem_fail(EINVAL, "file: page_size is only for the "
				 "hugetlb backend, not guest_memfd");
	if (a->flags & GMEM_FILE_THP)
		return gmem_fail(EINVAL, "file: GMEM_FILE_THP is only for the "
				 "memfd backend, not guest_memfd");
	if (gmem_vm_is_closed(a->vm))
		return gmem_fail(ESHUTDOWN, "guest_memfd: the VM is closed");
	ret = vm_gmem_caps(a->vm, &c);
	if (ret < 0)
		return ret;
	if (!c.supported)
		return gmem_fail(EOPNOTSUPP, "guest_memfd: this kernel or VM "
				 "type lacks KVM_CAP_GUEST_MEMFD (Linux 6.8+)");
	if ((a->flags & GMEM_FILE_PRIVATE) && !c.private)
		return gmem_fail(EOPNOTSUPP, "guest_memfd: GMEM_FILE_PRIVATE "
				 "needs a VM with private memory, and this one "
				 "(type %s) has none; create it with "
				 "gmem_vm_create_type() of a type gmemctl probe "
				 "shows with PRIVATE",
				 gmem_vm_type_name(a->vm->type));
	if (wants_private(&c, a))
		return 0;
	/*
	 * Shared use needs a mapping: the guest reaches shared guest_memfd
	 * through it on KVMs that fault by userspace_addr.
	 */
	if (!shared_flags(&c)) {
		if (c.private)
			return gmem_fail(EOPNOTSUPP, "guest_memfd: this VM "
					 "cannot map guest_memfd into the host "
					 "(KVM_CAP_GUEST_MEMFD_FLAGS lacks MMAP "
					 "or INIT_SHARED); pass "
					 "GMEM_FILE_NO_HOST_MAP for private "
					 "memory");
		return gmem_fail(EOPNOTSUPP, "guest_memfd: on this kernel a "
				 "guest can use guest_memfd only as private "
				 "memory, which this VM type lacks (shared "
				 "guest_memfd needs MMAP in "
				 "KVM_CAP_GUEST_MEMFD_FLAGS, Linux 6.18+); use "
				 "the memfd backend");
	}
	return 0;
}

static uint64_t gmfd_page_size(const struct gmem_file_args *a)
{
	(void)a;
	return gmem_facts()->page_size;
}

/*
 * KVM_CREATE_GUEST_MEMFD cannot set O_CLOEXEC, so the fd is inheritable
 * until fcntl() runs.  A fork() in another thread then would leak it into
 * the child: hold fork() off across that window (posix_spawn does not run
 * fork handlers; docs/design.md says so).
 */
static pthread_rwlock_t fork_guard = PTHREAD_RWLOCK_INITIALIZER;
static pthread_once_t fork_guard_once = PTHREAD_ONCE_INIT;

static void fork_prepare(void)
{
	pthread_rwlock_wrlock(&fork_guard);
}

static void fork_parent(void)
{
	pthread_rwlock_unlock(&fork_guard);
}

static void fork_child(void)
{
	pthread_rwlock_init(&fork_guard, NULL);
}

static void fork_guard_init(void)
{
	pthread_atfork(fork_prepare, fork_parent, fork_child);
}

static int create_cloexec(struct gmem_vm *vm,
			  struct gmem_kvm_create_guest_memfd *req)
{
	int fd, err = 0;

	pthread_once(&fork_guard_once, fork_guard_init);
	pthread_rwlock_rdlock(&fork_guard);
	fd = ioctl(vm->fd, GMEM_KVM_CREATE_GUEST_MEMFD, req);
	if (fd < 0)
		err = errno;
	else if (fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		err = errno;
	pthread_rwlock_unlock(&fork_guard);
	if (fd < 0)
		return gmem_fail(err, "KVM_CREATE_GUEST_MEMFD (size %llu, "
				 "flags 0x%llx): %s",
				 (unsigned long long)req->size,
				 (unsigned long long)req->flags, strerror(err));
	if (err) {
		close(fd);
		return gmem_fail(err, "guest_memfd: fcntl(FD_CLOEXEC): %s",
				 strerror(err));
	}
	return fd;
}

/* Probed once: does this kernel keep a NUMA policy in a guest_memfd? */
static int numa_stored = -1;

static int gmfd_create(struct gmem_file *f, const struct gmem_file_args *a)
{
	struct gmem_kvm_create_guest_memfd req = { .size = a->size };
	struct gmem_vm_gmem_caps c;
	bool private;
	void *p;
	int fd, err;

	err = vm_gmem_caps(a->vm, &c);
	if (err < 0)
		return err;
	private = wants_private(&c, a);
	if (!private)
		req.flags = shared_flags(&c);
	fd = create_cloexec(a->vm, &req);
	if (fd < 0)
		return fd;
	f->fd = fd;
	/* Private memory is never mapped here: the guarantee to the guest. */
	f->private = private;
	if (private)
		return 0;
	/* Mapped even with NO_HOST_MAP: the memslot needs the address. */
	p = mmap(NULL, a->size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = errno;
		close(fd);
		f->fd = -1;
		return gmem_fail(err, "guest_memfd: mmap of %llu bytes: %s",
				 (unsigned long long)a->size, strerror(err));
	}
	f->map = p;
	f->map_len = a->size;
	f->host_visible = !(a->flags & GMEM_FILE_NO_HOST_MAP);
	if (__atomic_load_n(&numa_stored, __ATOMIC_RELAXED) < 0)
		__atomic_store_n(&numa_stored,
				 gmem_numa_stored_in_file(fd, p, f->page_size),
				 __ATOMIC_RELAXED);
	return 0;
}

/*
 * Ready memory through the mapping where there is one (faults zero pages
 * and run in parallel); private memory can only be allocated, and KVM
 * zeroes it when the guest first uses it.
 */
static int gmfd_populate(struct gmem_file *f, uint64_t off, uint64_t len,
			 bool zero)
{
	if (zero && f->map)
		return gmem_madvise_populate(f, off, len);
	return gmem_fallocate_populate(f, off, len);
}

/*
 * guest_memfd has a filesystem of its own from Linux 7.x ("GMEM"); before
 * that it is a regular file on the anonymous-inode filesystem (whose other
 * files, a VM fd or an eventfd say, are not regular).
 */
static bool gmfd_claims(const struct statfs *sfs, const struct stat *st)
{
	if (!S_ISREG(st->st_mode))
		return false;
	return sfs->f_type == 0x474d454d || sfs->f_type == 0x09041934;
}

static uint64_t gmfd_import_page_size(const struct statfs *sfs)
{
	(void)sfs;
	return gmem_facts()->page_size;
}

static int gmfd_import(struct gmem_file *f, const struct gmem_import_args *a)
{
	void *p;

	if (!a->vm)
		return gmem_fail(EINVAL, "import: a guest_memfd belongs to a VM; "
				 "set args.vm to it");
	if (a->flags & (GMEM_FILE_PRIVATE | GMEM_FILE_NO_HOST_MAP)) {
		struct gmem_vm_gmem_caps c;
		int ret = vm_gmem_caps(a->vm, &c);

		if (ret < 0)
			return ret;
		if ((a->flags & GMEM_FILE_PRIVATE) && !c.private)
			return gmem_fail(EOPNOTSUPP, "import: this VM (type %s) "
					 "has no private memory",
					 gmem_vm_type_name(a->vm->type));
		/* As at create: no host view on a private VM is private. */
		if (c.private) {
			f->private = true;
			return 0;
		}
	}
	/* Shared use needs the mapping (see create): try it, don't guess. */
	p = mmap(NULL, f->size, PROT_READ | PROT_WRITE, MAP_SHARED, f->fd,
		 (off_t)f->base);
	if (p == MAP_FAILED)
		return gmem_fail(errno, "import: this guest_memfd cannot be "
				 "mapped (%s): made without GUEST_MEMFD_FLAG_MMAP? "
				 "If it holds private memory, import it with "
				 "GMEM_FILE_PRIVATE", strerror(errno));
	f->map = p;
	f->map_len = f->size;
	f->host_visible = !(a->flags & GMEM_FILE_NO_HOST_MAP);
	return 0;
}

static int gmfd_check_room(struct gmem_file *f, uint64_t off, uint64_t len)
{
	int64_t have = gmem_cache_bytes(f, off, len);

	return gmem_room_memcg(have < 0 ? len : len - (uint64_t)have,
			       "populate");
}

static int gmfd_usage(struct gmem_file *f, struct gmem_usage *u,
		      bool touched)
{
	int64_t n;

	if (gmem_cache_usage(f, u, touched) == 0)
		return 0;
	/* Before cachestat (Linux 6.5) the kernel has no figure for it. */
	pthread_mutex_lock(&f->lock);
	u->resident = f->populated.bytes;
	pthread_mutex_unlock(&f->lock);
	u->touched = GMEM_STATS_UNKNOWN;
	if (f->map && touched) {
		n = gmem_mincore_bytes(f, 0, f->size);
		if (n >= 0)
			u->touched = (uint64_t)n;
	}
	return 0;
}

static unsigned int gmfd_numa_reach(const struct gmem_file *f)
{
	if (!f->map || __atomic_load_n(&numa_stored, __ATOMIC_RELAXED) <= 0)
		return 0;
	return GMEM_REACH_POPULATE | GMEM_REACH_FAULTS;
}

static void gmfd_fill_memslot(const struct gmem_file *f, uint64_t off,
			      struct gmem_kvm_userspace_memory_region2 *r)
{
	r->flags |= GMEM_KVM_MEM_GUEST_MEMFD;
	r->guest_memfd = (uint32_t)f->fd;
	r->guest_memfd_offset = f->base + off;
	/* Shared accesses go through the mapping where there is one. */
	if (f->map)
		r->userspace_addr = (uintptr_t)f->map + off;
}

static int gmfd_check_bind(const struct gmem_file *f, uint64_t off,
			   uint64_t len, uint64_t gpa)
{
	(void)f, (void)off, (void)len, (void)gpa;
	return 0;
}

const struct gmem_backend_ops gmem_backend_guest_memfd = {
	.id = GMEM_BACKEND_GUEST_MEMFD,
	.name = "guest_memfd",
	.auto_choice = true,
	.belongs_to_vm = true,
	.check = gmfd_check,
	.page_size = gmfd_page_size,
	.create = gmfd_create,
	.destroy = gmem_unmap_and_close,
	.claims = gmfd_claims,
	.import_page_size = gmfd_import_page_size,
	.import = gmfd_import,
	.populate_chunk = 64ULL << 20,
	.populate = gmfd_populate,
	.discard = gmem_fallocate_punch,
	.check_room = gmfd_check_room,
	.resident_in = gmem_cache_resident_in,
	.usage = gmfd_usage,
	.numa_reach = gmfd_numa_reach,
	.fill_memslot = gmfd_fill_memslot,
	.check_bind = gmfd_check_bind,
};
