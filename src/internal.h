/* SPDX-License-Identifier: MIT */
/*
 * internal.h - the library's objects and the seams between its files.
 * Nothing here is installed; the public API is include/gmem.h.
 */
#ifndef GMEM_INTERNAL_H
#define GMEM_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "gmem.h"
#include "kvm_uapi.h"

#define GMEM_BASE_PAGE_SIZE 4096ULL

/* ---- error.c ---- */

/* Record a reason for this thread and return -err (err > 0). */
int gmem_fail(int err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/* ---- probe.c ---- */

/* The probe, run once per process and then reused. */
const struct gmem_host *gmem_host_cached(void);
/* The number a sysfs or proc file holds, or 0. */
uint64_t gmem_read_u64(const char *path);
/* The bracketed choice of a sysfs mode file, or "unavailable". */
void gmem_read_sysfs_mode(const char *path, char *out, size_t outlen);
/* Open /dev/kvm close-on-exec; -errno with a reason on failure. */
int gmem_open_kvm(void);

/* ---- backends ---- */

struct gmem_file;

/*
 * One table per backend.  A new backend adds a table and an entry in
 * backend.c, and changes nothing else.
 */
struct gmem_backend_ops {
	enum gmem_backend id;
	const char *name;
	/* 0 if usable on this host with these args, else -errno + reason. */
	int (*available)(const struct gmem_host *host,
			 const struct gmem_file_args *args);
	/* Page size the file will use (sizes and ranges align to it). */
	uint64_t (*page_size)(const struct gmem_file_args *args);
	/* Make f->fd and, where the backend has one, f->host_addr. */
	int (*create)(struct gmem_file *f, const struct gmem_file_args *args);
	int (*populate)(struct gmem_file *f, uint64_t off, uint64_t len);
	int (*discard)(struct gmem_file *f, uint64_t off, uint64_t len);
	/* Fill the backend's part of a memslot for file range at off. */
	void (*fill_slot)(const struct gmem_file *f, uint64_t off,
			  struct gmem_kvm_userspace_memory_region2 *r);
};

extern const struct gmem_backend_ops gmem_backend_guest_memfd;
extern const struct gmem_backend_ops gmem_backend_memfd;
extern const struct gmem_backend_ops gmem_backend_hugetlb;

const struct gmem_backend_ops *gmem_backend_ops(enum gmem_backend id);
const struct gmem_backend_ops *gmem_backend_choose(const struct gmem_host *h,
						   const struct gmem_file_args *a);

/* Shared by the memfd-like backends (backend_memfd.c). */
/* memfd_create, size, seal, and map at an address aligned to align. */
int gmem_memfd_make(struct gmem_file *f, const struct gmem_file_args *args,
		    unsigned int mfd_flags, uint64_t align);
int gmem_fallocate_populate(struct gmem_file *f, uint64_t off, uint64_t len);
int gmem_fallocate_punch(struct gmem_file *f, uint64_t off, uint64_t len);
void gmem_fill_slot_from_mapping(const struct gmem_file *f, uint64_t off,
				 struct gmem_kvm_userspace_memory_region2 *r);

/* ---- numa.c ---- */

struct gmem_numa_range {
	uint64_t off;
	uint64_t len;
	struct gmem_numa_policy policy;
};

struct gmem_numa_saved {
	int mode;
	unsigned long mask;
};

int gmem_numa_check(const struct gmem_numa_policy *p);
/* The policy at off (default if none) and where that policy ends. */
const struct gmem_numa_policy *gmem_numa_policy_at(const struct gmem_file *f,
						   uint64_t off,
						   uint64_t *seg_end);
int gmem_numa_thread_save(struct gmem_numa_saved *s);
void gmem_numa_thread_restore(const struct gmem_numa_saved *s);

/* ---- objects ---- */

struct gmem_vm {
	pthread_mutex_t lock;		/* bindings, closed */
	int refs;			/* atomic: user + bindings + gmem files */
	int fd;
	bool owns_fd;
	bool closed;			/* gmem_vm_close() was called */
	bool has_memory2;		/* KVM_SET_USER_MEMORY_REGION2 works */
	unsigned int slot_first;
	unsigned int slot_count;
	struct gmem_binding *bindings;	/* sorted by gpa */
	uint32_t id;			/* for stats: GmemVm<id> */
	struct gmem_vm *reg_next;	/* stats.c registry */
};

struct gmem_file {
	pthread_mutex_t lock;		/* populated map and counters */
	int refs;			/* atomic: user + live bindings */
	const struct gmem_backend_ops *ops;
	int fd;
	uint64_t size;
	uint64_t page_size;
	void *host_addr;		/* NULL when not mapped */
	size_t map_len;			/* what to munmap at host_addr */
	bool thp;			/* memfd on transparent huge pages */
	struct gmem_vm *owner;		/* guest_memfd: its VM (ref held) */
	char name[64];

	/* NUMA policies by range, sorted by nothing; under lock (numa.c). */
	struct gmem_numa_range *numa;
	size_t nr_numa;

	/* Accounting, under lock (accounting.c). */
	uint8_t *page_node;		/* per page: GMEM_PAGE_* or node + 1 */
	uint64_t populated_pages;
	uint64_t node_pages[GMEM_MAX_NUMA_NODES + 1];	/* last: unknown */
	uint64_t discarded_bytes;
	uint64_t populate_calls;
	uint64_t discard_calls;
	uint32_t bindings;
	struct gmem_file *reg_next;	/* stats.c registry */
	struct gmem_file *reg_prev;
};

struct gmem_binding {
	struct gmem_vm *vm;		/* ref held until gmem_unbind() */
	struct gmem_file *file;		/* ref held while attached */
	bool attached;			/* memslot exists; under vm->lock */
	uint32_t slot;
	uint64_t offset;
	uint64_t length;
	uint64_t gpa;
	struct gmem_binding *next;	/* vm->bindings, under vm->lock */
};

/* vm.c */
void gmem_vm_get(struct gmem_vm *vm);
void gmem_vm_put(struct gmem_vm *vm);
/* Take a reference unless the last one is already gone (registry scans). */
bool gmem_vm_tryget(struct gmem_vm *vm);
/* Create, or with length 0 delete, the memslot of b.  Under vm->lock. */
int gmem_vm_set_slot(struct gmem_vm *vm, const struct gmem_binding *b,
		     bool create);

/* file.c */
void gmem_file_get(struct gmem_file *f);
void gmem_file_put(struct gmem_file *f);
/* Check [off, off + len) is a non-empty page-aligned range inside f. */
int gmem_file_check_range(const struct gmem_file *f, uint64_t off,
			  uint64_t len, const char *what);

/* stats.c: every live file, for process-wide figures. */
void gmem_registry_add(struct gmem_file *f);
void gmem_registry_remove(struct gmem_file *f);
void gmem_registry_add_vm(struct gmem_vm *vm);
void gmem_registry_remove_vm(struct gmem_vm *vm);

/* accounting.c: one byte per page says whether and where it was populated. */
#define GMEM_PAGE_ABSENT	0
#define GMEM_PAGE_NODE_UNKNOWN	255

int gmem_account_init(struct gmem_file *f);
void gmem_account_free(struct gmem_file *f);
/* Under f->lock. */
bool gmem_account_any_populated(const struct gmem_file *f, uint64_t off,
				uint64_t len);
/* Record a populate placed by policy p (how it was enforced: via_mbind). */
void gmem_account_populated(struct gmem_file *f, uint64_t off, uint64_t len,
			    const struct gmem_numa_policy *p, bool via_mbind);
void gmem_account_discarded(struct gmem_file *f, uint64_t off, uint64_t len);

static inline bool gmem_aligned(uint64_t v, uint64_t align)
{
	return (v & (align - 1)) == 0;
}

#endif /* GMEM_INTERNAL_H */
