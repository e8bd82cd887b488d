/* SPDX-License-Identifier: MIT */
/*
 * internal.h - the library's objects and the seams between its files.
 * Nothing here is installed; the public API is include/gmem.h.
 */
#ifndef GMEM_INTERNAL_H
#define GMEM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/vfs.h>

#include "gmem.h"
#include "kvm_uapi.h"

/* Only the public API leaves the shared library (see libgmem.map too). */
#define GMEM_API __attribute__((visibility("default")))

struct gmem_file;
struct gmem_vm;
struct gmem_binding;

/* ---- error.c ---- */

/* Record a reason for this thread and return -err (err > 0). */
int gmem_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
/* Every public call that can fail starts with this. */
void gmem_error_clear(void);

/* ---- host.c: facts about the machine that need no KVM ---- */

struct gmem_facts {
	uint64_t page_size;		/* sysconf(_SC_PAGESIZE) */
	unsigned int nr_huge_sizes;
	uint64_t huge_sizes[GMEM_MAX_HUGEPAGE_SIZES];	/* ascending */
	unsigned int nr_numa_nodes;	/* nodes with memory */
	uint64_t numa_node_mask;	/* nodes 0-63 with memory */
	unsigned int nr_node_ids;	/* highest possible node + 1 */
	bool numa_syscalls;		/* set_mempolicy works (CONFIG_NUMA) */
};

/* Read once per process; never creates a VM or opens /dev/kvm. */
const struct gmem_facts *gmem_facts(void);
/* The number a sysfs or proc file holds, or def if it cannot be read. */
ssize_t gmem_read_text(const char *path, char *buf, size_t len);
uint64_t gmem_read_u64(const char *path, uint64_t def);
/* The bracketed choice of a sysfs mode file, or "unavailable". */
void gmem_read_sysfs_mode(const char *path, char *out, size_t outlen);
/* Open /dev/kvm close-on-exec; -errno with a reason on failure. */
int gmem_open_kvm(void);
/* Pool counter ("free_hugepages", ...) of the hugetlb pool of page_size. */
uint64_t gmem_hugepool_read(uint64_t page_size, const char *field);

/* ---- extents.c: sets of page ranges, each tagged with a node ---- */

#define GMEM_NODE_UNKNOWN (-1)

struct gmem_extent {
	uint64_t start;			/* bytes, inclusive */
	uint64_t end;			/* bytes, exclusive */
	int32_t node;			/* or GMEM_NODE_UNKNOWN */
};

struct gmem_extents {
	struct gmem_extent *v;		/* sorted, disjoint */
	size_t nr;
	size_t cap;
	uint64_t bytes;			/* sum of the lengths */
};

/*
 * Add the parts of [start, end) not yet in the set, tagged node (parts
 * already there keep their tag).  Calls count(node, +bytes) for what is
 * added.  -ENOMEM leaves the set unchanged.
 */
int gmem_extents_add(struct gmem_extents *x, uint64_t start, uint64_t end,
		     int32_t node,
		     void (*count)(void *ctx, int32_t node, int64_t bytes),
		     void *ctx);
/* Remove [start, end); calls count(node, -bytes) for what goes. */
int gmem_extents_remove(struct gmem_extents *x, uint64_t start, uint64_t end,
			void (*count)(void *ctx, int32_t node, int64_t bytes),
			void *ctx);
/* Make room so that adding or removing [start, end) cannot fail. */
int gmem_extents_reserve_for(struct gmem_extents *x, uint64_t start,
			      uint64_t end);
/* Is pos in the set?  *until: where that stops being so (or UINT64_MAX). */
bool gmem_extents_find(const struct gmem_extents *x, uint64_t pos,
		       uint64_t *until);
/* Bytes of [start, end) in the set. */
uint64_t gmem_extents_covered(const struct gmem_extents *x, uint64_t start,
			      uint64_t end);
void gmem_extents_free(struct gmem_extents *x);

/* ---- rangelock.c: locks on byte ranges of a file ---- */

struct gmem_range_hold {
	uint64_t start;
	uint64_t end;
	struct gmem_range_hold *next;
};

struct gmem_rangelock {
	pthread_mutex_t lock;
	pthread_cond_t released;
	struct gmem_range_hold *held;	/* the holders' own storage */
};

void gmem_rangelock_init(struct gmem_rangelock *rl);
void gmem_rangelock_destroy(struct gmem_rangelock *rl);
/* Wait until no one holds a range overlapping [start, end); hold it in h. */
void gmem_range_lock(struct gmem_rangelock *rl, struct gmem_range_hold *h,
		     uint64_t start, uint64_t end);
void gmem_range_unlock(struct gmem_rangelock *rl, struct gmem_range_hold *h);

/* ---- intervals.c: disjoint ranges found in O(log n) ---- */

struct gmem_interval {
	uint64_t start;
	uint64_t end;			/* exclusive */
	void *value;
};

struct gmem_intervals {
	void *root;			/* tsearch's */
};

/* An indexed range overlapping [start, end), or NULL. */
struct gmem_interval *gmem_intervals_find(const struct gmem_intervals *ix,
					  uint64_t start, uint64_t end);
/* -EEXIST if iv overlaps one already there, -ENOMEM; else 0. */
int gmem_intervals_insert(struct gmem_intervals *ix, struct gmem_interval *iv);
void gmem_intervals_remove(struct gmem_intervals *ix, struct gmem_interval *iv);

/* ---- backends ---- */

/* What the kernel says a file holds (backend usage op). */
struct gmem_usage {
	uint64_t resident;		/* bytes the file holds */
	uint64_t touched;		/* bytes used through mappings, or UNKNOWN */
	uint64_t hugepages;		/* hugetlb pages held; 0 elsewhere */
};

/* Where a policy stored in the file takes effect (numa_reach op). */
#define GMEM_REACH_POPULATE	(1U << 0)	/* gmem_populate's allocations */
#define GMEM_REACH_FAULTS	(1U << 1)	/* faults through the mapping */

/*
 * One table per backend: everything the library knows about a kind of file
 * lives in its table.  A new backend adds a table and an entry in
 * backend.c, and changes nothing else.
 */
struct gmem_backend_ops {
	enum gmem_backend id;
	const char *name;
	/* GMEM_BACKEND_AUTO may pick it (not hugetlb: its pool is the
	 * operator's to give, never a silent default). */
	bool auto_choice;
	/* A file of this kind belongs to args.vm and holds it (guest_memfd). */
	bool belongs_to_vm;
	/* 0 if these args can make a file of this backend, else -errno. */
	int (*check)(const struct gmem_file_args *args);
	/* Page size the file will use (sizes and ranges align to it). */
	uint64_t (*page_size)(const struct gmem_file_args *args);
	/* Make f->fd and f->map; f->host_visible if the caller may see it. */
	int (*create)(struct gmem_file *f, const struct gmem_file_args *args);
	/* Undo create: unmap and close. */
	void (*destroy)(struct gmem_file *f);
	/* Is an fd with this fstatfs() and fstat() this kind of file? */
	bool (*claims)(const struct statfs *sfs, const struct stat *st);
	/* Page size of such an fd. */
	uint64_t (*import_page_size)(const struct statfs *sfs);
	/*
	 * Take an imported fd (f->fd, f->base and f->size are set): check what
	 * the args ask of it and map it where this kind is mapped.
	 */
	int (*import)(struct gmem_file *f, const struct gmem_import_args *a);
	/* Largest piece gmem_populate hands to populate at once. */
	uint64_t populate_chunk;
	/*
	 * Allocate one piece, and with zero make it ready (zeroed, so the
	 * first touch costs no allocation), the fastest way this kind of
	 * file allows from several threads at once.  On failure the kernel
	 * may hold part of it: the caller then asks resident_in (below).
	 */
	int (*populate)(struct gmem_file *f, uint64_t off, uint64_t len,
			bool zero);
	int (*discard)(struct gmem_file *f, uint64_t off, uint64_t len);
	/* -ENOMEM with the numbers if populating [off, off+len) won't fit. */
	int (*check_room)(struct gmem_file *f, uint64_t off, uint64_t len);
	/*
	 * Add each stretch of [off, off + len) the kernel holds to *x (to
	 * repair the books after a failed populate or discard).
	 */
	int (*resident_in)(struct gmem_file *f, uint64_t off, uint64_t len,
			   struct gmem_extents *x);
	/*
	 * The kernel's figures for the whole file; no library lock held.
	 * touched false: leave u->touched unknown, and take no lock that
	 * mmap() and munmap() take (mincore() does).
	 */
	int (*usage)(struct gmem_file *f, struct gmem_usage *u, bool touched);
	/* GMEM_REACH_* for a policy stored with mbind on f->map. */
	unsigned int (*numa_reach)(const struct gmem_file *f);
	/* Fill this file's part of a memslot for the range at off. */
	void (*fill_memslot)(const struct gmem_file *f, uint64_t off,
			     struct gmem_kvm_userspace_memory_region2 *r);
	/* Why a binding of [off, off+len) at gpa would not work, or 0. */
	int (*check_bind)(const struct gmem_file *f, uint64_t off,
			  uint64_t len, uint64_t gpa);
};

extern const struct gmem_backend_ops gmem_backend_guest_memfd;
extern const struct gmem_backend_ops gmem_backend_memfd;
extern const struct gmem_backend_ops gmem_backend_hugetlb;

const struct gmem_backend_ops *gmem_backend_ops(enum gmem_backend id);
/* The first backend usable with these args (GMEM_BACKEND_AUTO). */
const struct gmem_backend_ops *gmem_backend_choose(
	const struct gmem_file_args *args);
/* The backend whose kind of file an fd is, or NULL. */
const struct gmem_backend_ops *gmem_backend_claiming(const struct statfs *sfs,
						    const struct stat *st);

/* backend_memfd.c: shared by the memfd-like backends. */
/* memfd_create, size, seal, and map at an address aligned to align. */
int gmem_memfd_make(struct gmem_file *f, const struct gmem_file_args *args,
		    unsigned int mfd_flags, uint64_t align);
/* Map an imported memfd-like file's window, aligned to align. */
int gmem_memfd_map_import(struct gmem_file *f, uint64_t align);
void gmem_unmap_and_close(struct gmem_file *f);
/* fallocate with EINTR retried; -errno with a reason naming what. */
int gmem_fallocate(struct gmem_file *f, int mode, uint64_t off, uint64_t len,
		   const char *what);
int gmem_fallocate_populate(struct gmem_file *f, uint64_t off, uint64_t len);
/* MADV_POPULATE_WRITE through f->map: allocate, zero, map; in parallel. */
int gmem_madvise_populate(struct gmem_file *f, uint64_t off, uint64_t len);
int gmem_fallocate_punch(struct gmem_file *f, uint64_t off, uint64_t len);
void gmem_fill_memslot_from_map(const struct gmem_file *f, uint64_t off,
				struct gmem_kvm_userspace_memory_region2 *r);

/* cache.c: what a shmem-like file holds, from cachestat() and mincore(). */
/* Bytes of [off, off + len) of f in the page cache, or -errno. */
int64_t gmem_cache_bytes(const struct gmem_file *f, uint64_t off, uint64_t len);
int gmem_cache_usage(struct gmem_file *f, struct gmem_usage *u,
		     bool touched);
int gmem_cache_resident_in(struct gmem_file *f, uint64_t off, uint64_t len,
			   struct gmem_extents *x);
/* Bytes of f->map in [off, off + len) mincore() reports, or -errno. */
int64_t gmem_mincore_bytes(const struct gmem_file *f, uint64_t off,
			   uint64_t len);

/* room.c: is there room for an allocation? */
int gmem_room_memcg(uint64_t need, const char *what);
int gmem_room_hugetlb(uint64_t page_size, uint64_t pages, const char *what);

/* discard.c: after a failed populate or discard, books from the kernel. */
void gmem_resync_books(struct gmem_file *f, uint64_t off, uint64_t len);

/* ---- numa.c ---- */

struct gmem_numa_range {
	uint64_t off;
	uint64_t len;
	struct gmem_numa_policy policy;
};

/* A thread's policy, saved to be put back (up to 1024 node ids). */
struct gmem_numa_saved {
	int mode;
	unsigned long mask[1024 / (8 * sizeof(unsigned long))];
};

int gmem_numa_check(const struct gmem_numa_policy *p);
/* The policy at off (default if none) and where that policy ends. */
const struct gmem_numa_policy *gmem_numa_policy_at(const struct gmem_file *f,
						   uint64_t off,
						   uint64_t *seg_end);
/* The node a page populated under p certainly lands on, or unknown. */
int32_t gmem_numa_certain_node(const struct gmem_numa_policy *p);
int gmem_numa_thread_save(struct gmem_numa_saved *s);
void gmem_numa_thread_restore(const struct gmem_numa_saved *s);
int gmem_numa_set_thread(const struct gmem_numa_policy *p);
/* Does a policy mbind()-ed on one mapping of fd reach the file itself? */
bool gmem_numa_stored_in_file(int fd, void *map, uint64_t page_size);

/* ---- objects ---- */

struct gmem_vm {
	pthread_mutex_t lock;		/* bindings, closed, memslots, attributes */
	int refs;			/* atomic: user + bindings + gmem files */
	int fd;
	bool owns_fd;
	bool closed;			/* gmem_vm_close() was called */
	bool has_memory2;		/* KVM_SET_USER_MEMORY_REGION2 works */
	bool has_private;		/* memory attributes offer PRIVATE */
	uint32_t type;			/* enum gmem_vm_type */
	unsigned int slot_first;
	unsigned int slot_count;
	uint64_t *slots_used;		/* bitmap of slot_count bits */
	unsigned int slot_hint;		/* where to start looking for a free one */
	struct gmem_binding *bindings;	/* every binding, for walks */
	struct gmem_intervals by_gpa;	/* bindings by guest range */
	/*
	 * Guest ranges KVM has as private (it has no query): convert.c.
	 * Under attr_lock, which devices (watch.c) take to read it.
	 */
	pthread_mutex_t attr_lock;
	struct gmem_extents private_map;
	gmem_conversion_fn convert_fn;	/* NULL: gmem_convert */
	void *convert_opaque;
	struct gmem_vm_listener *listeners;	/* watch.c, under lock */
	uint32_t id;			/* for stats: GmemVm<id> */
	struct gmem_vm *reg_next;	/* registry.c */
	/* What it offers guest_memfd, asked once: backend_guest_memfd.c. */
	bool gmem_caps_known;		/* under lock */
	struct gmem_vm_gmem_caps {
		bool supported;		/* KVM_CAP_GUEST_MEMFD */
		uint64_t flags;		/* KVM_CAP_GUEST_MEMFD_FLAGS */
		bool private;		/* MEMORY_ATTRIBUTES has PRIVATE */
	} gmem_caps;
};

struct gmem_file {
	int refs;			/* atomic: user + live bindings */
	const struct gmem_backend_ops *ops;
	int fd;
	/*
	 * Where the file's bytes start within fd: 0, or an imported window's
	 * offset.  Every offset the library hands the kernel adds it.
	 */
	uint64_t base;
	uint64_t size;
	uint64_t page_size;
	void *map;			/* the library's mapping, or NULL */
	size_t map_len;			/* what to munmap at map */
	bool host_visible;		/* gmem_file_host_addr() returns map */
	bool thp;			/* memfd on transparent huge pages */
	bool private;			/* a VM's private memory: never mapped */
	struct gmem_vm *owner;		/* guest_memfd: its VM (ref held) */
	char name[64];

	/*
	 * Serialises range operations (populate, discard, NUMA policy) on the
	 * same pages across the syscall and the books, so the books always
	 * match the kernel; pieces on different pages go in parallel.  The
	 * whole file's range keeps the watch list still.
	 */
	struct gmem_rangelock ranges;
	/* Guards what follows; held only briefly, never over a syscall. */
	pthread_mutex_t lock;
	struct gmem_numa_range *numa;	/* policies by range, unsorted */
	size_t nr_numa;
	struct gmem_extents populated;	/* what gmem_populate allocated */
	int64_t *node_bytes;		/* [nr_node_ids]: certain placement */
	uint64_t unknown_node_bytes;
	uint64_t discarded_bytes;
	uint64_t populate_calls;
	uint64_t discard_calls;
	uint32_t bindings;		/* atomic */
	/* guest_memfd: its ranges bound to a memslot, under owner->lock. */
	struct gmem_intervals kvm_bound;
	/* Devices using this file's pages (watch.c), under lock. */
	struct gmem_watch *watches;

	struct gmem_file *reg_next;	/* registry.c */
	struct gmem_file *reg_prev;
};

struct gmem_binding {
	struct gmem_vm *vm;		/* ref held until gmem_unbind() */
	struct gmem_file *file;		/* shared side, or NULL; ref held */
	struct gmem_file *private_file;	/* private side, or NULL; ref held */
	bool attached;			/* memslot exists; under vm->lock */
	uint32_t slot;
	uint64_t offset;		/* of the shared side */
	uint64_t private_offset;
	uint64_t length;
	uint64_t gpa;
	struct gmem_binding *next;	/* vm->bindings, under vm->lock */
	struct gmem_binding *prev;
	struct gmem_interval gpa_range;	/* in vm->by_gpa */
	struct gmem_interval gmem_range;	/* in kvm_gmem's kvm_bound, if any */
	struct gmem_file *kvm_gmem;	/* the guest_memfd KVM sees, or NULL */
	struct gmem_watch *watches;	/* devices on it, under vm->lock */
};

/*
 * watch.c: something other than the vCPUs using a binding's shared pages
 * (an IOMMU mapping, a device process).  Before those pages go (discard)
 * or turn private, it is told to let go, and it may refuse, which stops
 * the discard or conversion with nothing changed; after populate or a
 * conversion back to shared it may take them again.  Called holding that
 * range of the file's range lock; adding and removing a watch takes the
 * whole file's range, so a watch is never removed mid-call.
 */
struct gmem_watch;

struct gmem_watch_ops {
	/* Let go of [off, off + len) of the file (a part of the watch's). */
	int (*invalidate)(struct gmem_watch *w, uint64_t off, uint64_t len);
	/* [off, off + len) of the file may be used again. */
	void (*revalidate)(struct gmem_watch *w, uint64_t off, uint64_t len);
	/* The binding is ending: let go of everything. */
	void (*detach)(struct gmem_watch *w);
};

struct gmem_watch {
	const struct gmem_watch_ops *ops;
	struct gmem_binding *binding;
	struct gmem_file *file;		/* the binding's shared side */
	uint64_t off;			/* its range in the file */
	uint64_t len;
	uint64_t gpa;			/* where off sits in the guest */
	struct gmem_vm *vm;		/* ref held from add to remove */
	bool detached;			/* binding ended; under vm->lock */
	void *owner;
	struct gmem_watch *file_next;	/* file->watches, under file->lock */
	struct gmem_watch *binding_next; /* binding->watches, under vm->lock */
};

/* Start watching b's shared side (fills the range fields of w). */
int gmem_watch_add(struct gmem_binding *b, struct gmem_watch *w);
/* The same, with vm->lock already held (from a listener's bound()). */
int gmem_watch_add_locked(struct gmem_binding *b, struct gmem_watch *w);

/*
 * Something that follows every binding of a VM (a device process's memory
 * table): bound() runs under vm->lock for each binding there is when it
 * starts listening, and for each new one once its memslot exists.
 * Bindings that end tell it through their watches' detach().
 */
struct gmem_vm_listener {
	void (*bound)(struct gmem_vm_listener *l, struct gmem_binding *b);
	struct gmem_vm_listener *next;
};

void gmem_vm_listen(struct gmem_vm *vm, struct gmem_vm_listener *l);
void gmem_vm_unlisten(struct gmem_vm *vm, struct gmem_vm_listener *l);
/* bind.c calls this under vm->lock for a new binding. */
void gmem_vm_notify_bound(struct gmem_vm *vm, struct gmem_binding *b);
/* Stop (a no-op if the binding's end already removed it). */
void gmem_watch_remove(struct gmem_watch *w);
/* Holding [off, off + len) of f->ranges: tell every watch of that range. */
int gmem_file_invalidate(struct gmem_file *f, uint64_t off, uint64_t len);
void gmem_file_revalidate(struct gmem_file *f, uint64_t off, uint64_t len);
/* Under vm->lock: the binding is ending; tell and drop its watches. */
void gmem_binding_unwatch_all(struct gmem_binding *b);
/* Is gpa private?  *run: how far that holds (takes vm->attr_lock). */
bool gmem_vm_is_private(struct gmem_vm *vm, uint64_t gpa, uint64_t *run);

/* vm.c */
void gmem_vm_get(struct gmem_vm *vm);
void gmem_vm_put(struct gmem_vm *vm);
/* KVM_CREATE_VM of this type: the VM fd, or -errno with the reason. */
int gmem_kvm_create_vm(uint32_t type);
/* KVM_CHECK_EXTENSION on vm; -errno with a reason naming cap on failure. */
int gmem_vm_check_cap(struct gmem_vm *vm, long cap, const char *name,
		      uint64_t *out);
/* Take a reference unless the last one is already gone (registry scans). */
bool gmem_vm_tryget(struct gmem_vm *vm);
bool gmem_vm_is_closed(struct gmem_vm *vm);
/* Issue one memslot change (memory_size 0 deletes).  Under vm->lock. */
int gmem_vm_set_memslot(struct gmem_vm *vm,
			const struct gmem_kvm_userspace_memory_region2 *r);

/* bind.c */
/*
 * The one way a binding leaves KVM: delete its memslot, unlink it, give
 * its files back.  Under vm->lock; on failure nothing changed.  The file
 * references move to files_out[0..1] (NULL where none), to be put after
 * vm->lock is dropped.
 */
int gmem_binding_detach(struct gmem_binding *b, struct gmem_file *files_out[2]);
/* Under vm->lock: the binding covering all of [gpa, gpa + len), or NULL
 * with the reason (unbound, partly bound, across two bindings). */
struct gmem_binding *gmem_binding_covering(struct gmem_vm *vm, uint64_t gpa,
					   uint64_t len, int *err);

/* file.c */
void gmem_file_get(struct gmem_file *f);
bool gmem_file_tryget(struct gmem_file *f);
void gmem_file_put(struct gmem_file *f);
/* Check [off, off + len) is a non-empty page-aligned range inside f. */
int gmem_file_check_range(const struct gmem_file *f, uint64_t off,
			  uint64_t len, const char *what);

/*
 * accounting.c: the books.  Under f->range_lock, prepare before the
 * syscall; then recording its effect cannot fail.
 */
int gmem_account_init(struct gmem_file *f);
void gmem_account_free(struct gmem_file *f);
int gmem_account_prepare(struct gmem_file *f, uint64_t off, uint64_t len);
void gmem_account_populated(struct gmem_file *f, uint64_t off, uint64_t len,
			    int32_t node);
void gmem_account_discarded(struct gmem_file *f, uint64_t off, uint64_t len);
/* Make the books of [off, off + len) say exactly what held says. */
void gmem_account_replace(struct gmem_file *f, uint64_t off, uint64_t len,
			  const struct gmem_extents *held);

/* registry.c: every live file and VM, for process-wide figures. */
void gmem_registry_add(struct gmem_file *f);
void gmem_registry_remove(struct gmem_file *f);
void gmem_registry_add_vm(struct gmem_vm *vm);
void gmem_registry_remove_vm(struct gmem_vm *vm);
/*
 * References to every live file (vm NULL) or to the files bound to or
 * created for vm, taken under the registry lock; put each with
 * gmem_file_put() and free the array.  Also the VM count at that moment.
 */
int gmem_registry_files(struct gmem_vm *vm, struct gmem_file ***out,
			size_t *nr, uint32_t *nr_vms);
int gmem_registry_vms(struct gmem_vm ***out, size_t *nr);

/* stats.c */
void gmem_stats_add(struct gmem_file_stats *sum,
		    const struct gmem_file_stats *st);

static inline bool gmem_aligned(uint64_t v, uint64_t align)
{
	return (v & (align - 1)) == 0;
}

#endif /* GMEM_INTERNAL_H */
