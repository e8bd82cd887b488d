/* SPDX-License-Identifier: MIT */
/*
 * gmem.h - the whole public API of libgmem: guest memory for KVM as files.
 *
 * Conventions
 *   - Every call that can fail returns >= 0 on success or a negative errno
 *     and never relies on errno.  gmem_last_error() gives a one-line reason
 *     for this thread's most recent call that failed; each such call clears
 *     it on entry, so after a success it reads "".
 *   - Argument structs are zero-initialised by the caller; fields marked
 *     "reserved" must stay zero, so later versions can give them meaning.
 *   - Handles are opaque.  A handle is released by exactly one call:
 *     gmem_vm_close(), gmem_file_close() or gmem_unbind().  Those three may
 *     be called in any order; the library keeps whatever the kernel still
 *     needs alive until it is no longer used.
 *
 * Threads (docs/design.md has the details)
 *   - Calls on different objects may run concurrently.
 *   - Range calls on one file (populate, discard, NUMA policy) are
 *     serialised by the file: each takes effect whole, and the figures the
 *     library reports always agree with what the kernel holds.
 *   - Stats calls may run at any time, concurrently with everything above
 *     and with vCPUs; they never hold a library lock while they ask the
 *     kernel.  The touched figure comes from mincore(), which takes the
 *     kernel's mmap_lock as mmap() and munmap() do, so a loop of stats
 *     calls can delay creating and closing by milliseconds; with
 *     GMEM_STATS_NO_TOUCHED they never wait on stats at all.
 *   - Closing a handle while another thread still uses that same handle is
 *     the caller's bug.
 */
#ifndef GMEM_H
#define GMEM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/*
 * The version, in one place: the Makefile reads it from here for the
 * shared library's name, and tests/check-abi.sh checks the symbol version
 * node (GMEM_<major>.<minor>) against it.
 */
#define GMEM_VERSION_MAJOR 0
#define GMEM_VERSION_MINOR 3
#define GMEM_VERSION_PATCH 0

struct gmem_vm;
struct gmem_file;
struct gmem_binding;

/* "major.minor.patch" of the library actually running (it may be newer
 * than the header a program was built with). */
const char *gmem_version(void);

/* ---- errors --------------------------------------------------------- */

/* Reason for this thread's most recent failed call ("" after a success). */
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
	uint64_t numa_node_mask;	/* bit n = node n has memory (n < 64) */
	int iommu;			/* /dev/iommu exists */
	int vfio;			/* /dev/vfio/vfio exists */
	uint32_t page_size;		/* the base page size (sysconf) */
	/* How far NUMA placement reaches a guest_memfd: GMEM_NUMA_VIA_*. */
	uint32_t guest_memfd_numa;
	uint64_t reserved[7];
};

/* The kernel's guest_memfd creation flags, as the probe reports them. */
#define GMEM_KVM_GUEST_MEMFD_FLAG_MMAP		(1ULL << 0)
#define GMEM_KVM_GUEST_MEMFD_FLAG_INIT_SHARED	(1ULL << 1)

/*
 * Fill *host.  This is the one call that creates throwaway KVM VMs (to ask
 * them for their capabilities); nothing else in the library does, so a VMM
 * under a seccomp filter can skip it.  Fails only on a NULL pointer:
 * missing features are data.
 */
int gmem_probe(struct gmem_host *host);

/* ---- VMs -------------------------------------------------------------- */

/* KVM's x86 VM types.  Private memory needs one that offers it. */
enum gmem_vm_type {
	GMEM_VM_TYPE_DEFAULT = 0,	/* shared memory only */
	GMEM_VM_TYPE_SW_PROTECTED = 1,	/* private memory kept by software */
	GMEM_VM_TYPE_SEV = 2,
	GMEM_VM_TYPE_SEV_ES = 3,
	GMEM_VM_TYPE_SNP = 4,
	GMEM_VM_TYPE_TDX = 5,
	GMEM_VM_TYPE_COUNT
};

/* "default", "sw_protected", "sev", "sev_es", "snp", "tdx" or "unknown". */
const char *gmem_vm_type_name(uint32_t type);

/* The memory attribute that makes guest memory private. */
#define GMEM_MEMORY_ATTRIBUTE_PRIVATE	(1ULL << 3)

/* What a VM of one type offers (KVM_CHECK_EXTENSION on such a VM). */
struct gmem_vm_caps {
	uint32_t type;			/* enum gmem_vm_type */
	uint32_t supported;		/* KVM makes VMs of this type here */
	uint64_t memory_attributes;	/* GMEM_MEMORY_ATTRIBUTE_PRIVATE if any */
	uint64_t guest_memfd_flags;	/* GMEM_KVM_GUEST_MEMFD_FLAG_* */
	uint32_t guest_memfd;		/* KVM_CAP_GUEST_MEMFD */
	uint32_t pre_fault_memory;	/* KVM_CAP_PRE_FAULT_MEMORY */
	uint32_t memory_fault_info;	/* KVM_CAP_MEMORY_FAULT_INFO */
	uint32_t reserved32;
	uint64_t exit_hypercalls;	/* hypercalls that can exit (bit = nr) */
	uint64_t reserved[6];
};

/*
 * Make a throwaway VM of this type and ask it (like gmem_probe(), the only
 * other call that creates VMs for itself).  A type this kernel lacks is
 * data: supported = 0.
 */
int gmem_probe_vm_type(uint32_t type, struct gmem_vm_caps *out);

/*
 * Create a default-type KVM VM owned by the library.  All memslots are the
 * library's to use.  gmem_vm_close() closes the VM fd.
 */
int gmem_vm_create(struct gmem_vm **out);

/* The same, of a given type (-EOPNOTSUPP if this kernel lacks it). */
int gmem_vm_create_type(uint32_t type, struct gmem_vm **out);

/* What this VM offers, asked of it (no VM is created). */
int gmem_vm_get_caps(struct gmem_vm *vm, struct gmem_vm_caps *out);

/*
 * Borrow a VM fd the caller owns.  The library uses only memslots
 * [slot_first, slot_first + slot_count) and never closes vm_fd, which must
 * stay open until gmem_vm_close() returns.  The fd is recognised by asking
 * KVM, so this works without /proc (in a jailer's chroot, say).  KVM does
 * not tell a VM's type: gmem_vm_get_caps() reports type 0 for it, and its
 * other figures (private memory included) are asked of the fd itself.
 */
int gmem_vm_open(int vm_fd, unsigned int slot_first, unsigned int slot_count,
		 struct gmem_vm **out);

int gmem_vm_fd(const struct gmem_vm *vm);

/*
 * End every binding in this VM (each memslot is deleted, so bind and unbind
 * stay symmetric), then release the handle.  Binding handles stay valid
 * until gmem_unbind(); guest_memfd files of this VM stay usable for
 * populate and discard but can no longer be bound.  If KVM refuses to
 * delete a memslot, that binding stays attached (its file stays mapped,
 * since the guest may still use it), the call fails, and the handle stays
 * valid: call gmem_vm_close() again.  The VM counts as closing from the
 * first call: new bindings, conversions, DMA and device work on it, and new
 * guest_memfd files for it, fail with -ESHUTDOWN.
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

/* Room for backends in struct gmem_stats: adding one keeps its size. */
#define GMEM_MAX_BACKENDS 8

struct gmem_file_args {
	uint64_t size;			/* bytes, page-aligned, > 0 */
	uint32_t backend;		/* enum gmem_backend */
	uint32_t flags;			/* GMEM_FILE_* */
	struct gmem_vm *vm;		/* owner; required for guest_memfd */
	uint64_t page_size;		/* hugetlb page size; 0 = default */
	const char *name;		/* for /proc and stats; may be NULL */
	uint64_t reserved[4];
};

/*
 * guest_memfd only: the caller does not want a host view of the file, and
 * gmem_file_host_addr() returns NULL.  A guest_memfd a guest uses as shared
 * memory is still mapped inside the library, because some KVMs reach
 * shared guest memory only through the memslot's userspace_addr.
 */
#define GMEM_FILE_NO_HOST_MAP	(1U << 0)
/*
 * memfd only: back it with transparent huge pages where the host allows
 * shmem THP (-EOPNOTSUPP with the reason otherwise).  Populate then faults
 * through the mapping, so populated pages also count as touched.
 */
#define GMEM_FILE_THP		(1U << 1)
/*
 * guest_memfd only, on a VM with private memory: the file holds the VM's
 * private memory.  It starts private, and the library never maps it into
 * the host (on a private VM, GMEM_FILE_NO_HOST_MAP alone means the same).
 */
#define GMEM_FILE_PRIVATE	(1U << 2)
#define GMEM_FILE_FLAGS_ALL	(GMEM_FILE_NO_HOST_MAP | GMEM_FILE_THP | \
				 GMEM_FILE_PRIVATE)

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

/*
 * The same, saying why there is none: -ENXIO with the reason (private
 * memory, which the library never maps, or GMEM_FILE_NO_HOST_MAP).
 */
int gmem_file_host_map(const struct gmem_file *file, void **addr);

/* The library closes the imported fd with the file (it owns it now). */
#define GMEM_IMPORT_CLOSE	(1U << 8)

struct gmem_import_args {
	int32_t fd;			/* a memfd, hugetlbfs file or guest_memfd */
	uint32_t flags;			/* GMEM_FILE_PRIVATE, _NO_HOST_MAP,
					 * GMEM_IMPORT_CLOSE */
	uint64_t offset;		/* where guest memory starts in fd */
	uint64_t size;			/* bytes; 0: to the end of the file */
	struct gmem_vm *vm;		/* guest_memfd: the VM it belongs to */
	const char *name;		/* for stats; may be NULL */
	uint64_t reserved[4];
};

/*
 * Make a gmem file of memory the caller already has as an fd (a QEMU
 * memory backend, vhost-user shared memory, a snapshot file's memfd):
 * [offset, offset + size) of fd.  What fd is (memfd, hugetlbfs, guest_
 * memfd) is found out, not assumed; anything else is -EINVAL.  The library
 * works on a duplicate and never closes the caller's fd, unless
 * GMEM_IMPORT_CLOSE gives it over (and then only once the import worked).
 * The caller keeps the file's size as it is while the library uses it.
 */
int gmem_file_import(const struct gmem_import_args *args,
		     struct gmem_file **out);

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
	/*
	 * The private side of the same guest range, on a VM with private
	 * memory: a GMEM_FILE_PRIVATE guest_memfd of this VM, from
	 * private_offset.  NULL: the memslot has one side only.
	 */
	struct gmem_file *private_file;
	uint64_t private_offset;
	uint64_t reserved[2];
};

/*
 * Expose [offset, offset + length) of file to vm at gpa through one memslot.
 * On failure nothing changed.  The binding holds a reference on its files.
 *
 * One memslot may have two backings, as confidential VMs need: file is the
 * shared side (memfd, hugetlb or a shared guest_memfd; it may be NULL for a
 * slot with no shared memory), args->private_file the private side.  Page
 * by page, the memory attributes (gmem_convert()) say which side the guest
 * sees.  The one-file form stays: a private guest_memfd alone is a slot
 * with only a private side.
 *
 * A THP memfd needs gpa and offset equal modulo 2 MiB, or KVM could only
 * map 4 KiB pages of it (-EINVAL says so).
 */
int gmem_bind(struct gmem_vm *vm, struct gmem_file *file,
	      const struct gmem_bind_args *args, struct gmem_binding **out);

/*
 * The exact inverse of gmem_bind(): delete the memslot (unless the VM was
 * closed first, which already did) and release the handle.  If KVM refuses
 * to delete the memslot, nothing changes and the handle stays valid.
 */
int gmem_unbind(struct gmem_binding *binding);

/* Memslot of a live binding, or -ENOTCONN once its VM was closed. */
int gmem_binding_slot(const struct gmem_binding *binding);

/* ---- range operations --------------------------------------------------- */

/*
 * Make [offset, offset + length) ready ahead of the guest: allocated and
 * zeroed, so its first touch costs no allocation, on every CPU the caller
 * may run on (its affinity).
 * Ranges are in backend pages.  The work goes in bounded pieces: a failure
 * keeps (and accounts) every piece that succeeded, and a signal only
 * restarts the piece it interrupted.  Before each piece the room left in
 * this thread's memory cgroup (or the hugetlb pool and its cgroup) is
 * checked, so a limit gives -ENOMEM with the numbers rather than the
 * cgroup's OOM killer (where /proc and the cgroup files can be read: a
 * jail without them gets no guard).  Each thread keeps the range's NUMA
 * policy.
 */
int gmem_populate(struct gmem_file *file, uint64_t offset, uint64_t length);

/*
 * Allocate only: pages are zeroed when first touched (cheaper now, and the
 * host maps nothing; the first touch then pays the zeroing).
 */
#define GMEM_POPULATE_NO_ZERO	(1U << 0)
#define GMEM_POPULATE_FLAGS_ALL	GMEM_POPULATE_NO_ZERO

struct gmem_populate_args {
	uint32_t threads;		/* 0: one per CPU it may run on; <= 64 */
	uint32_t flags;			/* GMEM_POPULATE_* */
	uint64_t reserved[3];
};

/* gmem_populate() with a choice of threads and method. */
int gmem_populate_with(struct gmem_file *file, uint64_t offset,
		       uint64_t length, const struct gmem_populate_args *args);

/*
 * The same in the background, while the guest already runs: its first
 * touches are served whether the job has reached them or not.  The job
 * holds the file.  Poll returns 1 once finished (0 before) with the bytes
 * done so far; its fd turns readable when it finishes; cancel stops it
 * after the pieces under way; wait returns its result (-ECANCELED after
 * a cancel, or the first error, with the reason) and releases it.
 */
struct gmem_populate_job;

int gmem_populate_start(struct gmem_file *file, uint64_t offset,
			uint64_t length, const struct gmem_populate_args *args,
			struct gmem_populate_job **out);
int gmem_populate_poll(struct gmem_populate_job *job, uint64_t *done);
int gmem_populate_fd(struct gmem_populate_job *job);
int gmem_populate_cancel(struct gmem_populate_job *job);
int gmem_populate_wait(struct gmem_populate_job *job);

/*
 * Have KVM map [gpa, gpa + length) for the guest now (KVM_PRE_FAULT_MEMORY
 * on a vCPU of vm, Linux 6.10+), so its first pass takes no faults.
 */
int gmem_prefault(struct gmem_vm *vm, int vcpu_fd, uint64_t gpa,
		  uint64_t length);

/*
 * Punch a hole: free the range.  When this returns, every guest bound to it
 * and the host mapping read zeros there; bytes outside are unchanged.
 */
int gmem_discard(struct gmem_file *file, uint64_t offset, uint64_t length);

/* ---- shared and private memory ----------------------------------------- */

enum gmem_memory_kind {
	GMEM_MEMORY_SHARED = 0,
	GMEM_MEMORY_PRIVATE = 1,
};

/* Keep the side a conversion leaves, for a VMM that converts back soon. */
#define GMEM_CONVERT_KEEP	(1U << 0)

/*
 * Make [gpa, gpa + length) of vm private or shared: set the memory
 * attributes, then free the side no longer in use (discard it, so its old
 * bytes are gone) unless GMEM_CONVERT_KEEP.  The range lies inside one
 * binding, which has the side it converts to.  If KVM converts only part,
 * the library's map (gmem_memory_kind()) says exactly which part.
 */
int gmem_convert(struct gmem_vm *vm, uint64_t gpa, uint64_t length,
		 uint32_t to, uint32_t flags);

/*
 * The kind of memory at gpa (GMEM_MEMORY_SHARED or _PRIVATE), and in *run
 * how far, up to length, it stays that kind.  KVM has no query: the library
 * keeps the map, in step with every conversion.
 */
int gmem_memory_kind(struct gmem_vm *vm, uint64_t gpa, uint64_t length,
		     uint64_t *run);

/* Where a guest's request for a conversion came from. */
enum gmem_conversion_source {
	GMEM_CONVERSION_MEMORY_FAULT = 1,	/* touched the other kind */
	GMEM_CONVERSION_MAP_GPA_RANGE = 2,	/* asked: KVM_HC_MAP_GPA_RANGE */
};

struct gmem_conversion {
	uint64_t gpa;
	uint64_t length;
	uint32_t to;			/* enum gmem_memory_kind */
	uint32_t source;		/* enum gmem_conversion_source */
	uint64_t reserved[2];
};

/*
 * A VMM's say in what a guest asks for.  Return 0 to let the guest go on,
 * or -errno to refuse (the hypercall returns it; a memory fault stops the
 * vCPU).  The default, with no handler, is gmem_convert(..., 0).
 */
typedef int (*gmem_conversion_fn)(struct gmem_vm *vm,
				  const struct gmem_conversion *req,
				  void *opaque);

int gmem_vm_set_conversion_handler(struct gmem_vm *vm, gmem_conversion_fn fn,
				   void *opaque);

/* Have KVM pass KVM_HC_MAP_GPA_RANGE hypercalls to userspace. */
int gmem_vm_enable_conversion_exits(struct gmem_vm *vm);

/*
 * After KVM_RUN on a vCPU of vm: run is its mmapped struct kvm_run and
 * result what KVM_RUN returned (0, or -errno).  A memory fault or a
 * MAP_GPA_RANGE hypercall is decoded and handed to the handler.  Returns 0
 * when the exit is not about memory (the VMM's to handle), and 1 when it
 * was and the vCPU can run again: for a hypercall even when the conversion
 * was refused or failed, since the guest gets the -errno as the
 * hypercall's result (gmem_last_error() then says why).  A memory fault
 * whose conversion fails returns its -errno: the vCPU cannot go on.
 */
int gmem_vcpu_handle_exit(struct gmem_vm *vm, void *run, int result);

/* ---- NUMA placement ---------------------------------------------------- */

enum gmem_numa_mode {
	GMEM_NUMA_DEFAULT = 0,		/* the allocating thread's policy */
	GMEM_NUMA_BIND,			/* only these nodes */
	GMEM_NUMA_PREFERRED,		/* this one node first */
	GMEM_NUMA_INTERLEAVE,		/* page by page across these nodes */
	GMEM_NUMA_MODE_COUNT
};

struct gmem_numa_policy {
	uint32_t mode;			/* enum gmem_numa_mode */
	uint32_t reserved32;
	uint64_t nodes;			/* bit n = node n (nodes 0-63) */
	uint64_t reserved[2];
};

/*
 * Parse a mode ("default", "bind", "preferred", "interleave") and a node
 * list ("0-3,5"; NULL or "" for default).  Nodes must exist on this host.
 */
int gmem_numa_policy_parse(const char *mode, const char *nodes,
			   struct gmem_numa_policy *out);

/*
 * Place [offset, offset + length) of file by policy.  Set it before the
 * range is populated: pages already there do not move (-EBUSY).  Where the
 * kernel honours a policy stored in the file (gmem_file_numa_method() says
 * GMEM_NUMA_VIA_MBIND) it reaches every allocation, the guest's lazy faults
 * included; otherwise gmem_populate() applies it to its own thread while it
 * allocates, and memory a guest faults in lazily follows the vCPU thread's
 * policy: call gmem_numa_bind_thread() there, or populate fully.
 * docs/numa.md says which kernels store what.
 */
int gmem_file_set_numa_policy(struct gmem_file *file, uint64_t offset,
			      uint64_t length,
			      const struct gmem_numa_policy *policy);

#define GMEM_NUMA_VIA_MBIND	1	/* policy stored in the file */
#define GMEM_NUMA_VIA_THREAD	2	/* applied by the allocating thread */
/* How this file's policies are enforced: GMEM_NUMA_VIA_*. */
int gmem_file_numa_method(const struct gmem_file *file);

/* Give the calling thread this policy (e.g. a vCPU thread). */
int gmem_numa_bind_thread(const struct gmem_numa_policy *policy);

/*
 * Ask the kernel where the pages of [offset, offset + length) are: add the
 * bytes on node n to bytes_per_node[n] (GMEM_MAX_NUMA_NODES entries).
 * Only pages mapped in this process's host mapping can be seen; returns
 * the number of bytes found, on any node: more than the array's sum when
 * some are on nodes from GMEM_MAX_NUMA_NODES up.
 */
int64_t gmem_file_query_nodes(struct gmem_file *file, uint64_t offset,
			      uint64_t length, uint64_t *bytes_per_node);

/* ---- accounting --------------------------------------------------------- */

/* A figure the kernel cannot show for this file (no host mapping). */
#define GMEM_STATS_UNKNOWN (~0ULL)

struct gmem_file_stats {
	uint64_t size;
	uint64_t page_size;
	uint32_t backend;		/* enum gmem_backend */
	uint32_t bindings;		/* live bindings now */
	uint64_t populated_bytes;	/* allocated by gmem_populate, now */
	/*
	 * Pages in use that a guest or the host touched, as mincore() sees
	 * them through the host mapping (fallocate alone leaves a page
	 * untouched); GMEM_STATS_UNKNOWN without a host mapping.
	 */
	uint64_t touched_bytes;
	/* What the file holds now, as the kernel counts it. */
	uint64_t resident_bytes;
	uint64_t hugepages;		/* hugetlb pages held now */
	uint64_t discarded_bytes;	/* sum of every discard, ever */
	uint64_t populate_calls;
	uint64_t discard_calls;
	/*
	 * Populated bytes by node, where the placement is certain (a policy
	 * bound to one node, or a host with one node); the rest counts in
	 * unknown_node_bytes.  Nodes from 64 up: gmem_file_node_bytes().
	 */
	uint64_t node_bytes[GMEM_MAX_NUMA_NODES];
	uint64_t unknown_node_bytes;	/* placement not known */
	/* resident_bytes by kind: what shared and private sides hold. */
	uint64_t shared_bytes;
	uint64_t private_bytes;
	uint64_t reserved[4];
};

int gmem_file_stats(struct gmem_file *file, struct gmem_file_stats *out);

/*
 * Leave touched_bytes GMEM_STATS_UNKNOWN: the figure comes from mincore(),
 * which takes the process's mmap_lock, so a loop of stats calls with it
 * can delay mmap() and munmap() (creating and closing files) by
 * milliseconds; without it, stats take no lock they need.
 */
#define GMEM_STATS_NO_TOUCHED	(1U << 0)
#define GMEM_STATS_FLAGS_ALL	GMEM_STATS_NO_TOUCHED

/* gmem_file_stats() with GMEM_STATS_* flags. */
int gmem_file_stats_with(struct gmem_file *file, struct gmem_file_stats *out,
			 uint32_t flags);

/* Populated bytes of file certainly on node (any node number). */
int64_t gmem_file_node_bytes(struct gmem_file *file, unsigned int node);

/*
 * Totals over every live file of this process, by backend, and for one VM
 * (the files bound to it, or created for it).
 */
struct gmem_stats {
	uint32_t files;
	uint32_t vms;
	/* size adds up every file's; page_size and backend are 0 */
	struct gmem_file_stats total;
	struct gmem_file_stats backend[GMEM_MAX_BACKENDS];
	uint64_t reserved[8];
};

int gmem_stats(struct gmem_stats *out);
/* gmem_stats() with GMEM_STATS_* flags: a monitoring loop's choice. */
int gmem_stats_with(struct gmem_stats *out, uint32_t flags);
int gmem_vm_stats(struct gmem_vm *vm, struct gmem_file_stats *out);

/*
 * Opt in to inspection from outside: write this process's figures,
 * meminfo-style, to dir/<pid>.stats (dir NULL: /run/gmem) every
 * interval_ms, until gmem_stats_export_stop() removes the file.  Each
 * write replaces the file whole.  gmemctl stats --pid reads it.
 */
int gmem_stats_export_start(const char *dir, unsigned int interval_ms);
int gmem_stats_export_stop(void);

/* ---- DMA: devices reaching guest memory through the IOMMU ------------- */

struct gmem_dma;

/* How a gmem_dma reaches the IOMMU. */
enum gmem_dma_path {
	GMEM_DMA_VFIO_TYPE1 = 1,	/* a VFIO type1 container */
	GMEM_DMA_IOMMUFD = 2,		/* an iommufd IOAS */
};

/*
 * Device mappings that follow the memory.  A binding's shared side is
 * mapped for the devices at IOVA = guest-physical address, and the library
 * keeps it so: before a discard, an unbind, a VM close or a conversion to
 * private frees or hides a range, the devices lose it first (and if the
 * kernel will not unmap it, the discard or conversion fails with nothing
 * changed); after a populate or a conversion to shared they get it back.
 * Ranges the VM has as private are never mapped.  Mapping pins the pages,
 * so gmem_dma_map() makes the whole shared side resident.  docs/dma.md has
 * the model and the costs.
 *
 * The container or iommufd is the caller's: set up (groups or devices
 * attached), never closed by the library, and open until gmem_dma_close()
 * returns.  A gmem_dma, its bindings, their files and the VM may be closed
 * in any order.
 */

/* A VFIO type1 container with its groups attached and VFIO_SET_IOMMU done. */
int gmem_dma_open_vfio(struct gmem_vm *vm, int container_fd,
		       struct gmem_dma **out);

/*
 * An iommufd and one of its IOAS, with the devices attached to it.  Files
 * are mapped by file descriptor (IOMMU_IOAS_MAP_FILE) where the kernel
 * takes the file, else by the library's host mapping (IOMMU_IOAS_MAP).
 */
int gmem_dma_open_iommufd(struct gmem_vm *vm, int iommufd, uint32_t ioas_id,
			  struct gmem_dma **out);

/*
 * Map binding's shared side (not its private parts) and keep it mapped as
 * the memory changes, until gmem_dma_unmap(), the binding's end or
 * gmem_dma_close().  On failure nothing stays mapped.
 */
int gmem_dma_map(struct gmem_dma *dma, struct gmem_binding *binding);
int gmem_dma_unmap(struct gmem_dma *dma, struct gmem_binding *binding);

struct gmem_dma_stats {
	uint32_t path;			/* enum gmem_dma_path */
	uint32_t bindings;		/* bindings mapped now */
	uint64_t mapped_bytes;		/* IOVA the kernel has mapped now */
	uint64_t by_file_bytes;		/* of those, mapped by fd */
	uint64_t by_address_bytes;	/* of those, by host address */
	uint64_t mappings;		/* kernel mappings now */
	/*
	 * Bytes the devices should reach but the kernel refused to map when
	 * the memory came back (after a populate or a conversion); tried
	 * again by the next one.  error says why.
	 */
	uint64_t missing_bytes;
	uint64_t map_calls;		/* map ioctls the kernel accepted */
	uint64_t unmap_calls;		/* unmap ioctls it accepted */
	uint64_t failed_calls;		/* map/unmap ioctls it refused */
	/* Files the kernel would not map by fd, mapped by address instead. */
	uint64_t by_file_refused;
	char error[128];		/* the latest refusal, or "" */
	uint64_t reserved[6];
};

int gmem_dma_stats(struct gmem_dma *dma, struct gmem_dma_stats *out);

/*
 * Unmap everything and release the handle.  If the kernel refuses an
 * unmap, the call fails and the handle stays valid (and keeps following
 * what is still mapped): call it again.
 */
int gmem_dma_close(struct gmem_dma *dma);

/* What this host offers for device DMA (opens nothing it keeps). */
struct gmem_dma_host {
	int vfio;			/* /dev/vfio/vfio answers as VFIO */
	int vfio_type1;			/* it offers the type1v2 IOMMU */
	int iommufd;			/* /dev/iommu allocates an IOAS */
	/*
	 * IOMMU_IOAS_MAP_FILE: 1 the kernel maps a memfd by fd, 0 it lacks
	 * the call, -1 not known (no iommufd).  Whether it takes a given file
	 * type with a device attached is known only when mapped: the library
	 * tries, and maps by address where the file is refused.
	 */
	int iommufd_map_file;
	char vfio_error[96];		/* why vfio_type1 is 0, or "" */
	char iommufd_error[96];		/* why iommufd is 0, or "" */
	uint64_t reserved[4];
};

int gmem_dma_probe(struct gmem_dma_host *out);
/* ---- device processes ---------------------------------------------------- */

/*
 * Devices that run in processes of their own (vhost-user-like backends,
 * sandboxed device models) reach guest memory through the files.  The VMM
 * hands the library a connected socket per device; the library sends the
 * device a memory table: for each binding's shared side, the file's fd (by
 * SCM_RIGHTS), its offset, length, guest-physical address and access.  The
 * table follows the VM: new bindings are added, ended ones removed.
 *
 * A discard, an unbind and a conversion to private return only once every
 * device has acknowledged that it stopped using the range, or once a
 * device has taken longer than its timeout: that device is then failed
 * (it gets nothing more, and gmem_devproc_state() says why).  The library
 * cannot take a mapping back from another process: a VMM that cannot
 * trust a failed device should end it (peer_pid).  docs/memtable.md is the
 * protocol, for VMMs and devices that do not use this library.
 */
struct gmem_devproc;

struct gmem_devproc_args {
	/*
	 * A connected AF_UNIX SOCK_SEQPACKET socket, the device at the other
	 * end.  From a successful gmem_devproc_add() on the library owns it
	 * (and closes it on remove); after a failure it is still the caller's.
	 */
	int sock_fd;
	/* For the device's HELLO and for each acknowledgement; 0 = 2000. */
	uint32_t timeout_ms;
	uint32_t flags;			/* GMEM_DEVPROC_* */
	const char *name;		/* in reasons and the HELLO; may be NULL */
	uint64_t reserved[4];
};

/*
 * The device may only read guest memory: entries say so, and each fd is
 * opened anew read-only, so the kernel enforces it.  A file that cannot be
 * reopened (guest_memfd has no path) is withheld from the device.
 */
#define GMEM_DEVPROC_READ_ONLY	(1U << 0)

/*
 * Start serving vm's memory table to the device at args->sock_fd: send
 * HELLO and an entry for each binding with a shared side, now and as
 * bindings come.  A thread of the library's (all signals blocked) talks to
 * the device.  Does not wait for the device: gmem_devproc_state() can.
 */
int gmem_devproc_add(struct gmem_vm *vm, const struct gmem_devproc_args *args,
		     struct gmem_devproc **out);

enum gmem_devproc_status {
	GMEM_DEVPROC_CONNECTING = 0,	/* waiting for the device's HELLO */
	GMEM_DEVPROC_CONNECTED = 1,
	GMEM_DEVPROC_FAILED = 2,	/* for good; reason says why */
};

struct gmem_devproc_info {
	uint32_t status;		/* enum gmem_devproc_status */
	int32_t error;			/* errno-style code of the failure */
	char reason[192];		/* why it failed, or "" */
	int32_t peer_pid;		/* SO_PEERCRED's pid (a socketpair: its maker) */
	uint32_t entries;		/* entries the device has now */
	uint32_t withheld;		/* bindings a read-only device could not get */
	uint32_t waiting;		/* threads waiting for its ACK now */
	uint64_t invalidations;		/* ranges it acknowledged letting go of */
	uint64_t kicks;			/* gmem_devproc_notify() calls sent */
	uint64_t reserved[4];
};

/*
 * The device's status (the return value, >= 0) and figures.  While it is
 * connecting, wait up to wait_ms for that to end either way.
 */
int gmem_devproc_state(struct gmem_devproc *d, uint32_t wait_ms,
		       struct gmem_devproc_info *out);

/* Ring the device's doorbell for queue (0-63), in order after the table. */
int gmem_devproc_notify(struct gmem_devproc *d, uint32_t queue);

/*
 * Stop serving the device: it is told goodbye (and given the timeout to
 * acknowledge), the thread ends and the socket is closed.  Watches on the
 * VM's bindings go, so later discards no longer wait for this device.
 * Works in any order with gmem_vm_close() and gmem_unbind().
 */
int gmem_devproc_remove(struct gmem_devproc *d);

/*
 * The device's side: a device process connects its end of the socket and
 * follows the table.  One thread uses a memtable at a time.
 *
 * The "in use" contract: a pointer from gmem_memtable_translate() may be
 * used until the next gmem_memtable_process() or gmem_memtable_close() on
 * that memtable, and not after.  gmem_memtable_process() handles what the
 * VMM sent, and acknowledges invalidations at once, on the strength of
 * that contract.  A range that was invalidated is also made inaccessible
 * (PROT_NONE) where the kernel allows, so a stale pointer faults instead
 * of writing into memory the guest may have been given back.
 */
struct gmem_memtable;

struct gmem_memtable_args {
	int sock_fd;			/* as for the VMM; owned after success */
	uint32_t timeout_ms;		/* handshake and each send; 0 = 2000 */
	uint32_t flags;			/* 0 */
	const char *name;		/* may be NULL */
	uint64_t reserved[4];
};

/* Send HELLO and wait for the VMM's. */
int gmem_memtable_open(const struct gmem_memtable_args *args,
		       struct gmem_memtable **out);

/* The socket, to poll for POLLIN in the device's own loop. */
int gmem_memtable_fd(const struct gmem_memtable *mt);

/*
 * Handle every message waiting, after waiting up to timeout_ms (-1: no
 * limit) for the first.  *kicks (may be NULL) gets bit q set for each
 * KICK of queue q.  The number of messages handled, or -errno: -ESHUTDOWN
 * once the VMM said goodbye, -ECONNRESET when it went away, -ECONNABORTED
 * when it gave up on this device (its reason follows), -EPROTO for a
 * message this side rejects (the VMM is told why).  After an error every
 * entry is gone and translate gives NULL.
 */
int gmem_memtable_process(struct gmem_memtable *mt, int timeout_ms,
			  uint64_t *kicks);

#define GMEM_MEMTABLE_READ	(1U << 0)
#define GMEM_MEMTABLE_WRITE	(1U << 1)

/*
 * A pointer to guest-physical [gpa, gpa + length), which must lie in one
 * entry, usable now with access (GMEM_MEMTABLE_READ and/or _WRITE); NULL
 * with errno and the reason if any of it is not: ENOENT (not in one
 * entry), EACCES (read-only), EFAULT (invalidated), EINVAL (bad call).
 */
void *gmem_memtable_translate(struct gmem_memtable *mt, uint64_t gpa,
			      uint64_t length, uint32_t access);

struct gmem_memtable_info {
	uint32_t entries;		/* live entries */
	uint32_t reserved32;
	uint64_t mapped_bytes;		/* their lengths added up */
	uint64_t invalid_bytes;		/* of those, not usable now */
	uint64_t messages;		/* handled since open */
	uint64_t reserved[4];
};

int gmem_memtable_info(const struct gmem_memtable *mt,
		       struct gmem_memtable_info *out);

/* Unmap everything, close the socket and free. */
int gmem_memtable_close(struct gmem_memtable *mt);

#ifdef __cplusplus
}
#endif

#endif /* GMEM_H */
