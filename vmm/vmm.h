/* SPDX-License-Identifier: MIT */
/*
 * vmm.h - what the parts of gmem-vmm share: the options, the machine's
 * state and one function group per part of the PC it models.
 */
#ifndef GMEM_VMM_H
#define GMEM_VMM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <gmem.h>

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)

/*
 * Guest-physical layout.  RAM starts at 0; whatever does not fit below
 * the 32-bit hole continues at 4 GiB.  The hole keeps the IOAPIC
 * (0xfec00000), the local APIC (0xfee00000) and the Intel TSS pages out
 * of RAM.
 */
#define LOW_RAM_MAX		(3 * GIB)
#define HIGH_RAM_START		(4 * GIB)

/* Exit statuses of the VMM itself; a guest's own status is 0-255. */
#define VMM_EXIT_ERROR		1	/* the VMM failed */
#define VMM_EXIT_USAGE		2	/* bad options or input files */
#define VMM_EXIT_NO_STATUS	125	/* the guest reset or died silently */

struct vmm_opts {
	uint64_t ram_size;
	uint32_t backend;		/* enum gmem_backend */
	uint64_t hugepage_size;		/* 0: the library's default */
	const char *host_nodes;
	const char *policy;
	struct gmem_numa_policy numa;	/* the two above, parsed */
	bool prealloc;
	const char *kernel;
	const char *initrd;
	const char *append;
	const char *stats_dir;		/* NULL: the library's default */
	int verbose;
};

/* memory.c: guest RAM, all of it through libgmem. */
struct vmm_mem {
	struct gmem_vm *vm;
	struct gmem_file *ram;
	struct gmem_binding *low;	/* [0, low_size) at guest-physical 0 */
	struct gmem_binding *high;	/* the rest at 4 GiB, or NULL */
	uint8_t *host;			/* the whole file, mapped here */
	uint64_t size;
	uint64_t low_size;
	uint64_t page_size;		/* backend page: the discard unit */
	bool thread_policy;		/* the vCPU thread carries the policy */
	double populate_seconds;	/* --prealloc's cost, or 0 */
};

/* boot.c: what the bzImage and initrd need, worked out before any RAM. */
struct boot_plan {
	uint8_t *image;			/* the whole bzImage file */
	size_t image_size;
	size_t setup_size;		/* real-mode part, which we skip */
	uint16_t version;		/* boot protocol, e.g. 0x020f */
	uint64_t kernel_addr;		/* where the 64-bit kernel goes */
	uint64_t kernel_span;		/* bytes it needs there (init_size) */
	uint8_t *initrd;
	size_t initrd_size;
	uint64_t initrd_addr;
	uint64_t initrd_max;		/* highest byte the kernel can reach */
	const char *cmdline;
	uint32_t cmdline_max;		/* without the terminating NUL */
	uint64_t ram_needed;		/* smallest RAM that holds the above */
};

/* cpu.c: the one vCPU. */
struct vcpu {
	int fd;
	struct kvm_run *run;
	size_t run_size;
};

/* serial.c: a 16550A UART on the COM1 ports, IRQ 4. */
struct serial {
	uint8_t ier, lcr, mcr, scr, fcr, dll, dlm;
	bool thre_pending;		/* "transmitter empty" interrupt due */
	uint8_t rx[16];			/* looped-back bytes (driver probe) */
	unsigned int rx_len;
	int irq_level;			/* what we last told KVM, -1 unknown */
	char out[256];			/* stdout line buffer */
	size_t out_len;
};

/* kvmstats.c: a binary stats fd (KVM_GET_STATS_FD) opened once. */
struct kvm_stats {
	int fd;
	uint32_t count;
	uint32_t name_size;
	uint64_t data_offset;
	char *names;			/* count names of name_size bytes */
	uint32_t *offsets;		/* where each value sits in the data */
};

struct vmm {
	struct vmm_opts opts;
	struct vmm_mem mem;
	struct boot_plan boot;
	int kvm_fd;
	int vm_fd;
	struct vcpu cpu;
	struct serial com1;
	struct kvm_stats vm_stats, cpu_stats;
	/* The control port (ctl.h). */
	uint64_t ctl_addr, ctl_len;
	uint32_t ctl_status;
	/* Timing, in seconds since the VMM started. */
	double t_start;
	double t_ready;			/* RAM, kernel and vCPU set up */
	double t_init;			/* guest init began; 0 = not yet */
	uint8_t rtc_index;		/* CMOS register the guest selected */
	uint32_t pci_addr;		/* PCI configuration address register */
	/* What the guest touched that nothing here models. */
	uint64_t unknown_ports, unknown_mmio;
	uint8_t port_seen[65536 / 8];	/* ports already logged */
	/* Set by the control port or a reset: the run loop ends with it. */
	int exit_status;		/* -1 while running */
};

/* main.c */
double vmm_now(void);
void vmm_log(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void vmm_verbose(const struct vmm *v, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
const char *vmm_size_str(uint64_t bytes, char *buf, size_t len);

/* memory.c */
int mem_create(struct vmm *v);
int mem_discard(struct vmm *v, uint64_t gpa, uint64_t len);
int mem_bind_vcpu_thread(struct vmm *v);
void mem_report(struct vmm *v, const char *when);
void mem_destroy(struct vmm *v);
void *mem_gpa(struct vmm *v, uint64_t gpa, uint64_t len);

/* boot.c */
int boot_plan(struct vmm *v);
int boot_load(struct vmm *v);
uint64_t boot_entry(const struct vmm *v);
void boot_free(struct vmm *v);
#define BOOT_PARAMS_GPA		0x7000ULL
#define BOOT_GDT_GPA		0x1000ULL
#define BOOT_PML4_GPA		0x9000ULL
#define BOOT_STACK_TOP		0x7000ULL
#define BOOT_GDT_CS		0x10	/* the boot protocol's __BOOT_CS */
#define BOOT_GDT_DS		0x18	/* and __BOOT_DS */

/* cpu.c */
int cpu_create(struct vmm *v);
void cpu_destroy(struct vmm *v);
uint64_t cpu_rip(struct vmm *v);

/* serial.c */
#define COM1_PORT	0x3f8
#define COM1_IRQ	4
void serial_init(struct serial *s);
void serial_io(struct vmm *v, uint16_t port, bool write, uint8_t *data);
void serial_flush(struct serial *s);

/* rtc.c */
#define RTC_INDEX_PORT	0x70
#define RTC_DATA_PORT	0x71
void rtc_io(struct vmm *v, uint16_t port, bool write, uint8_t *data);

/* pci.c */
#define PCI_CONFIG_ADDR	0xcf8
#define PCI_CONFIG_DATA	0xcfc
void pci_io(struct vmm *v, uint16_t port, bool write, uint8_t *data,
	    unsigned int size);

/* ctl.c: the paravirtual control port of ctl.h. */
void ctl_io(struct vmm *v, uint16_t port, bool write, uint32_t *data);

/* kvmstats.c */
int kvm_stats_open(struct kvm_stats *st, int fd);
int kvm_stats_get(const struct kvm_stats *st, const char *name,
		  uint64_t *value);
void kvm_stats_close(struct kvm_stats *st);
void kvm_stats_report(struct vmm *v, const char *when);

/* exits.c */
int vmm_run(struct vmm *v);
void vmm_stop_on_signals(void);

#endif /* GMEM_VMM_H */
