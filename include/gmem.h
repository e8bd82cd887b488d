/* SPDX-License-Identifier: MIT */
/*
 * gmem.h - the whole public API of libgmem: guest memory for KVM as files.
 *
 * Conventions
 *   - Every call that can fail returns >= 0 on success or a negative errno.
 *     gmem_last_error() then gives a one-line reason for this thread's most
 *     recent failure.  The value of errno after a call is unspecified.
 *   - Argument structs are zero-initialised by the caller; fields marked
 *     "reserved" must stay zero, so later versions can give them meaning.
 *   - Handles are opaque.  A handle is released by exactly one call:
 *     gmem_vm_close(), gmem_file_close() or gmem_unbind().  Those three may
 *     be called in any order; the library keeps whatever the kernel still
 *     needs alive until it is no longer used.
 *
 * Threads: calls on different objects may run concurrently.  Calls on one
 * file (populate, discard, stats) may run concurrently with each other and
 * with vCPUs of the VMs it is bound to.  Closing a handle while another
 * thread still uses that same handle is the caller's bug.
 */
#ifndef GMEM_H
#define GMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define GMEM_VERSION_MAJOR 0
#define GMEM_VERSION_MINOR 1

struct gmem_vm;
struct gmem_file;
struct gmem_binding;

/* ---- errors --------------------------------------------------------- */

/* Reason for this thread's most recent failed call ("" if none yet). */
const char *gmem_last_error(void);

/* ---- host probe ----------------------------------------------------- */

#define GMEM_MAX_HUGEPAGE_SIZES 4
#define GMEM_MAX_NUMA_NODES 64

struct gmem_hugepage_pool {
	uint64_t page_size;	/* bytes */
	uint64_t total;		/* pages in the pool */
	uint64_t free;		/* pages free now */
};

/*
 * What this machine's kernel offers.  Capability values are what
 * KVM_CHECK_EXTENSION returned on a default VM (0 = absent); they are all
 * zero when KVM itself is missing, and kvm_error then says why.
 */
struct gmem_host {
	int kvm_present;
	int kvm_api_version;
	char kvm_error[96];		/* why KVM is unusable, or "" */
	int cap_user_memory2;
	int cap_guest_memfd;
	uint64_t cap_guest_memfd_flags;	/* GMEM_KVM_GUEST_MEMFD_FLAG_* bits */
	uint64_t cap_memory_attributes;	/* supported attribute bits */
	uint64_t cap_vm_types;		/* bit n = VM type n supported */
	int cap_pre_fault_memory;
	int cap_memory_fault_info;
	int cap_nr_memslots;

	int memfd;			/* memfd_create() works */
	int memfd_hugetlb;		/* MFD_HUGETLB works */
	unsigned int nr_hugepage_sizes;
	struct gmem_hugepage_pool hugepages[GMEM_MAX_HUGEPAGE_SIZES];
	char thp_enabled[16];		/* selected THP mode, e.g. "madvise" */
	char thp_shmem_enabled[16];
	unsigned int nr_numa_nodes;	/* nodes with memory */
	uint64_t numa_node_mask;	/* bit n = node n online */
	int iommu;			/* /dev/iommu exists */
	int vfio;			/* /dev/vfio/vfio exists */
	uint64_t reserved[8];
};

/* The kernel's guest_memfd creation flags, as the probe reports them. */
#define GMEM_KVM_GUEST_MEMFD_FLAG_MMAP		(1ULL << 0)
#define GMEM_KVM_GUEST_MEMFD_FLAG_INIT_SHARED	(1ULL << 1)

/* Fill *host.  Fails only on a NULL pointer: missing features are data. */
int gmem_probe(struct gmem_host *host);

/* ---- VMs -------------------------------------------------------------- */

/*
 * Create a default-type KVM VM owned by the library.  All memslots are the
 * library's to use.  gmem_vm_close() closes the VM fd.
 */
int gmem_vm_create(struct gmem_vm **out);

/*
 * Borrow a VM fd the caller owns.  The library uses only memslots
 * [slot_first, slot_first + slot_count) and never closes vm_fd.
 */
int gmem_vm_open(int vm_fd, unsigned int slot_first, unsigned int slot_count,
		 struct gmem_vm **out);

int gmem_vm_fd(const struct gmem_vm *vm);

/*
 * End every binding in this VM (each memslot is deleted, so bind and unbind
 * stay symmetric), then release the handle.  Binding handles stay valid
 * until gmem_unbind(); guest_memfd files of this VM stay usable for
 * populate and discard but can no longer be bound.
 */
int gmem_vm_close(struct gmem_vm *vm);

/* ---- guest-memory files ----------------------------------------------- */

enum gmem_backend {
	GMEM_BACKEND_AUTO = 0,		/* best available */
	GMEM_BACKEND_GUEST_MEMFD,	/* KVM guest_memfd; needs a VM */
	GMEM_BACKEND_MEMFD,		/* shared memfd, 4 KiB pages */
	GMEM_BACKEND_HUGETLB,		/* hugetlb memfd */
	GMEM_BACKEND_COUNT
};

struct gmem_file_args {
	uint64_t size;			/* bytes, page-aligned, > 0 */
	uint32_t backend;		/* enum gmem_backend */
	uint32_t flags;			/* GMEM_FILE_* */
	struct gmem_vm *vm;		/* owner; required for guest_memfd */
	uint64_t page_size;		/* hugetlb page size; 0 = default */
	const char *name;		/* for /proc and stats; may be NULL */
	uint64_t reserved[4];
};

/* Do not map the file into this process (guest_memfd, memfd). */
#define GMEM_FILE_NO_HOST_MAP	(1U << 0)
#define GMEM_FILE_FLAGS_ALL	(GMEM_FILE_NO_HOST_MAP)

int gmem_file_create(const struct gmem_file_args *args,
		     struct gmem_file **out);

/*
 * Release the caller's handle.  The fd and mapping live on while bindings
 * still use the file; they go with the last binding.
 */
int gmem_file_close(struct gmem_file *file);

int gmem_file_fd(const struct gmem_file *file);
uint64_t gmem_file_size(const struct gmem_file *file);
enum gmem_backend gmem_file_backend(const struct gmem_file *file);
/* Backend page size: the unit for sizes, offsets and ranges. */
uint64_t gmem_file_page_size(const struct gmem_file *file);
/* Host mapping of the whole file, or NULL if there is none. */
void *gmem_file_host_addr(const struct gmem_file *file);

const char *gmem_backend_name(enum gmem_backend backend);
/* Parse "guest_memfd", "memfd", "hugetlb" or "auto"; -EINVAL otherwise. */
int gmem_backend_parse(const char *name, enum gmem_backend *out);

/* ---- bindings ------------------------------------------------------- */

#define GMEM_SLOT_ANY (-1)

struct gmem_bind_args {
	uint64_t offset;		/* into the file, page-aligned */
	uint64_t length;		/* bytes, page-aligned, > 0 */
	uint64_t gpa;			/* guest-physical address, page-aligned */
	int32_t slot;			/* memslot, or GMEM_SLOT_ANY */
	uint32_t flags;			/* reserved, 0 */
	uint64_t reserved[4];
};

/*
 * Expose [offset, offset + length) of file to vm at gpa through one memslot.
 * On failure nothing changed.  The binding holds a reference on the file.
 */
int gmem_bind(struct gmem_vm *vm, struct gmem_file *file,
	      const struct gmem_bind_args *args, struct gmem_binding **out);

/*
 * The exact inverse of gmem_bind(): delete the memslot (unless the VM was
 * closed first, which already did) and release the handle.
 */
int gmem_unbind(struct gmem_binding *binding);

/* Memslot of a live binding, or -ENOTCONN once its VM was closed. */
int gmem_binding_slot(const struct gmem_binding *binding);

/* ---- range operations --------------------------------------------------- */

/*
 * Allocate [offset, offset + length) ahead of the guest with the backend's
 * fastest correct method.  Ranges are in backend pages.
 */
int gmem_populate(struct gmem_file *file, uint64_t offset, uint64_t length);

/*
 * Punch a hole: free the range.  When this returns, every guest bound to it
 * and the host mapping read zeros there; bytes outside are unchanged.
 */
int gmem_discard(struct gmem_file *file, uint64_t offset, uint64_t length);

/* ---- accounting --------------------------------------------------------- */

struct gmem_file_stats {
	uint64_t size;
	uint64_t page_size;
	uint64_t populated_bytes;	/* allocated by gmem_populate, now */
	uint64_t discarded_bytes;	/* sum of every discard, ever */
	uint64_t populate_calls;
	uint64_t discard_calls;
	uint32_t bindings;		/* live bindings now */
	uint32_t reserved32;
	uint64_t reserved[6];
};

int gmem_file_stats(struct gmem_file *file, struct gmem_file_stats *out);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_H */
