/* SPDX-License-Identifier: MIT */
/*
 * runner.h - run purpose-built 64-bit guest programs on a VM whose RAM is
 * gmem.  Uses only libgmem's public API plus the vCPU ioctls any VMM makes.
 */
#ifndef GMEM_RUNNER_H
#define GMEM_RUNNER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gmem.h"
#include "ucall.h"

struct guest_config {
	uint32_t backend;	/* enum gmem_backend of the RAM file */
	uint64_t ram_size;	/* at guest-physical 0; >= GUEST_BOOT_SIZE */
	uint64_t map_gib;	/* identity-mapped span in GiB; 0 = 4 */
	uint64_t page_size;	/* hugetlb page size, or 0 */
	struct gmem_vm *vm;	/* use this VM; NULL = create one */
	uint32_t vm_type;	/* enum gmem_vm_type of the VM made here */
	/*
	 * NUMA policy for all of RAM, set before anything is written.  If
	 * the file cannot hold it, the calling thread, which runs the vCPU
	 * and so takes the guest's lazy faults, gets it instead.
	 */
	const struct gmem_numa_policy *numa;
};

struct guest_ucall {
	uint64_t cmd;		/* enum guest_ucall_cmd */
	uint64_t arg[3];
};

struct guest {
	struct gmem_vm *vm;
	bool owns_vm;
	struct gmem_file *ram;
	struct gmem_binding *ram_binding;
	uint8_t *ram_host;
	int kvm_fd;
	int vcpu_fd;
	void *run;		/* struct kvm_run */
	size_t run_size;
	const char *image;	/* name of the loaded program */
	uint64_t exits;		/* every KVM_RUN return */
	/*
	 * Treat unbacked guest-physical memory as a PC does: reads return
	 * all ones, writes vanish (counted in mmio_exits).  Off, such an
	 * access ends guest_run() with an error.
	 */
	bool unbacked_reads_ones;
	uint64_t mmio_exits;
	/*
	 * Hand memory faults and MAP_GPA_RANGE hypercalls to libgmem
	 * (gmem_vcpu_handle_exit), as a VMM with private memory does.
	 */
	bool handle_conversions;
	uint64_t conversion_exits;
	/*
	 * Port I/O to any port but the ucall port, for a VMM's own devices
	 * (set after guest_create): data is size * count bytes in kvm_run,
	 * to fill for an IN.  Return 0 to resume the guest, -errno to end
	 * guest_run() with it.  NULL: such I/O ends guest_run() (EPROTO).
	 */
	int (*port_io)(struct guest *g, uint16_t port, bool out, void *data,
		       uint32_t size, uint32_t count, void *opaque);
	void *port_opaque;
	bool thread_policy;	/* this thread took the RAM's NUMA policy */
	int saved_mode;		/* ...and this was its own, to give back */
	unsigned long saved_nodes[16];
	char error[256];	/* why the last call failed */
};

/* Names of the embedded guest programs, NULL-terminated. */
const char *const *guest_image_names(void);

/* Make the VM (if not given), the RAM file and binding, and one vCPU. */
int guest_create(struct guest *g, const struct guest_config *cfg);
/* Copy a program in and point the vCPU at it with these arguments. */
int guest_load(struct guest *g, const char *image, const uint64_t args[4]);
/* Run until the guest calls the host; fill *uc.  -errno on any other exit. */
int guest_run(struct guest *g, struct guest_ucall *uc);
/* Tear down in the order a VMM would; safe on a partly created guest. */
void guest_destroy(struct guest *g);

/*
 * A KVM statistic by name, from the VM's binary stats ("pages_4k",
 * "pages_2m", "pages_1g") or else the vCPU's ("pf_taken", "exits", ...).
 * -ENOENT if this kernel has no such statistic.
 */
int guest_kvm_stat(struct guest *g, const char *name, uint64_t *value);

/*
 * Check, from the host, the words MEMCMD_FILL_PAGES writes: p is the
 * host's view of a range's first byte at byte offset base of the range.
 * The offset of the first bad word, or GUEST_CHECK_OK.
 */
uint64_t guest_host_check_pages(const void *p, uint64_t len, uint64_t seed,
				uint64_t base, bool zero);
/* The host's side of MEMCMD_FILL_PAGES: the same words, written here. */
void guest_host_fill_pages(void *p, uint64_t len, uint64_t seed,
			   uint64_t base);

/* The memcmd program: load it and run to its first request. */
int guest_memcmd_start(struct guest *g);
/* Have the memcmd guest do op; *result gets its answer. */
int guest_memcmd(struct guest *g, uint64_t op, uint64_t a0, uint64_t a1,
		 uint64_t a2, uint64_t a3, uint64_t *result);
/* Tell the memcmd guest to return and wait for UCALL_DONE. */
int guest_memcmd_stop(struct guest *g);

#endif /* GMEM_RUNNER_H */
