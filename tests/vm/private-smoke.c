// SPDX-License-Identifier: MIT
/* private-smoke.c - proves private guest memory works in the emulated machine: a type-1 VM, a two-backing memslot, attribute conversions, memory-fault and MAP_GPA_RANGE hypercall exits. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/falloc.h>
#include <linux/kvm.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

/*
 * ABI newer than Debian 12's <linux/kvm.h> (6.1), written down here so the
 * program builds anywhere.  Numbers from the 7.x uapi headers.
 */
#define PS_CAP_EXIT_HYPERCALL 201
#define PS_CAP_MEMORY_ATTRIBUTES 233
#define PS_CAP_GUEST_MEMFD 234
#define PS_CAP_VM_TYPES 235
#define PS_CAP_GUEST_MEMFD_FLAGS 244
#define PS_X86_SW_PROTECTED_VM 1
#define PS_MEM_GUEST_MEMFD (1u << 2)
#define PS_GMEM_FLAG_MMAP (1ull << 0)
#define PS_GMEM_FLAG_INIT_SHARED (1ull << 1)
#define PS_MEMORY_ATTRIBUTE_PRIVATE (1ull << 3)
#define PS_EXIT_HYPERCALL 3
#define PS_EXIT_MEMORY_FAULT 39
#define PS_MEMORY_EXIT_FLAG_PRIVATE (1ull << 3)
#define PS_EXIT_HYPERCALL_LONG_MODE (1ull << 0)
#define PS_HC_MAP_GPA_RANGE 12
#define PS_MAP_GPA_RANGE_ENCRYPTED (1u << 4)

struct ps_create_guest_memfd {
	uint64_t size;
	uint64_t flags;
	uint64_t reserved[6];
};

struct ps_memory_region2 {
	uint32_t slot;
	uint32_t flags;
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr;
	uint64_t guest_memfd_offset;
	uint32_t guest_memfd;
	uint32_t pad1;
	uint64_t pad2[14];
};

struct ps_memory_attributes {
	uint64_t address;
	uint64_t size;
	uint64_t attributes;
	uint64_t flags;
};

/* The exit-specific part of struct kvm_run (its union starts at byte 32). */
struct ps_exit_hypercall {
	uint64_t nr;
	uint64_t args[6];
	uint64_t ret;
	uint64_t flags;
};

struct ps_exit_memory_fault {
	uint64_t flags;
	uint64_t gpa;
	uint64_t size;
};

#define PS_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct ps_create_guest_memfd)
#define PS_SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct ps_memory_region2)
#define PS_SET_MEMORY_ATTRIBUTES _IOW(KVMIO, 0xd2, struct ps_memory_attributes)

#define RUN_EXIT_OFFSET 32
_Static_assert(offsetof(struct kvm_run, io) == RUN_EXIT_OFFSET, "kvm_run union moved");

/* Guest physical layout. */
#define LOW_SIZE 0x10000u	/* slot 0: code and page tables, plain memory */
#define CODE_GPA 0x1000u
#define PML4_GPA 0x2000u
#define PDPT_GPA 0x3000u
#define PD_GPA 0x4000u
#define PRIV_GPA 0x100000u	/* slot 1: memfd (shared) + guest_memfd (private) */
#define PRIV_SIZE 0x4000u
#define HC1_GPA (PRIV_GPA + 0x1000u)	/* converted by the vmmcall hypercall */
#define HC2_GPA (PRIV_GPA + 0x2000u)	/* converted by the vmcall hypercall */
#define FAULT_GPA 0x200000u	/* slot 2: memfd only, no guest_memfd */
#define FAULT_SIZE 0x1000u
#define PORT_BYTE 0x10
#define PORT_DWORD 0x11
#define SHARED_FILL 0x11	/* what the shared (memfd) side of slot 1 holds */
#define FAULT_FILL 0x22		/* what slot 2 holds */

/*
 * The guest: 64-bit code with absolute addresses only, copied to CODE_GPA.
 * Each out reports one observation; between reports the host changes the
 * attributes of the page the guest reads next.
 */
__asm__(".pushsection .rodata\n"
	".globl ps_guest, ps_guest_end, ps_guest_vmcall\n"
	".code64\n"
	"ps_guest:\n"
	/* 1: write and read back a private page */
	"	movl $0x100000, %ebx\n"
	"	movb $0x5a, (%rbx)\n"
	"	movzbl (%rbx), %eax\n"
	"	outb %al, $0x10\n"
	/* 2: the same page after the host made it shared */
	"	movzbl (%rbx), %eax\n"
	"	outb %al, $0x10\n"
	/* 3: private again */
	"	movzbl (%rbx), %eax\n"
	"	outb %al, $0x10\n"
	/* 4: after the host punched the guest_memfd page */
	"	movzbl (%rbx), %eax\n"
	"	outb %al, $0x10\n"
	/* 5: ask for HC1 to become private, with AMD's vmmcall */
	"	movl $12, %eax\n"
	"	movl $0x101000, %ebx\n"
	"	movl $1, %ecx\n"
	"	movl $0x10, %edx\n"
	"	vmmcall\n"
	"	outl %eax, $0x11\n"
	/* 6: read the converted page */
	"	movzbl (%rbx), %eax\n"
	"	outb %al, $0x10\n"
	/* 7: the same for HC2 with Intel's vmcall, which KVM rewrites to vmmcall */
	"	movl $12, %eax\n"
	"	movl $0x102000, %ebx\n"
	"	movl $1, %ecx\n"
	"	movl $0x10, %edx\n"
	"ps_guest_vmcall:\n"
	"	vmcall\n"
	"	outl %eax, $0x11\n"
	"	movzbl (%rbx), %eax\n"
	"	outb %al, $0x10\n"
	/* 8: a page the host marked private in a slot without guest_memfd */
	"	movl $0x200000, %ebx\n"
	"	movzbl (%rbx), %eax\n"
	"	outb %al, $0x10\n"
	"	hlt\n"
	"ps_guest_end:\n"
	".popsection\n");
extern const uint8_t ps_guest[], ps_guest_end[], ps_guest_vmcall[];

static int kvm_fd = -1;
static int n_pass, n_fail, n_skip;

static void pass(const char *name)
{
	n_pass++;
	printf("PASS %s\n", name);
}

static void fail(const char *name, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void fail(const char *name, const char *fmt, ...)
{
	va_list ap;

	n_fail++;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

static void check(const char *name, int ok, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void check(const char *name, int ok, const char *fmt, ...)
{
	va_list ap;

	if (ok) {
		pass(name);
		return;
	}
	n_fail++;
	printf("FAIL %s: ", name);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
}

/* The machine's own account of private memory (run-in-vm.sh writes it). */
static const char *feature(const char *key, char *buf, size_t len)
{
	const char *path = getenv("GMEM_VM_FEATURES");
	size_t klen = strlen(key);
	FILE *f = fopen(path ? path : "/etc/gmem-vm-features", "r");

	if (!f)
		return NULL;
	while (fgets(buf, (int)len, f)) {
		if (strncmp(buf, key, klen) == 0 && buf[klen] == '=') {
			fclose(f);
			buf[strcspn(buf, "\n")] = 0;
			return buf + klen + 1;
		}
	}
	fclose(f);
	return NULL;
}

static int set_attributes(int vm, uint64_t gpa, uint64_t size, uint64_t attrs)
{
	struct ps_memory_attributes a = {
		.address = gpa, .size = size, .attributes = attrs,
	};
	return ioctl(vm, PS_SET_MEMORY_ATTRIBUTES, &a);
}

static int create_gmem(int vm, uint64_t size, uint64_t flags)
{
	struct ps_create_guest_memfd c = { .size = size, .flags = flags };
	return ioctl(vm, PS_CREATE_GUEST_MEMFD, &c);
}

static int set_slot(int vm, uint32_t slot, uint32_t flags, uint64_t gpa, uint64_t size,
		    void *uaddr, int gmem, uint64_t gmem_off)
{
	struct ps_memory_region2 r = {
		.slot = slot,
		.flags = flags,
		.guest_phys_addr = gpa,
		.memory_size = size,
		.userspace_addr = (uintptr_t)uaddr,
		.guest_memfd_offset = gmem_off,
		.guest_memfd = (uint32_t)gmem,
	};
	return ioctl(vm, PS_SET_USER_MEMORY_REGION2, &r);
}

/* A shared, file-backed mapping the host can look at while the guest runs. */
static uint8_t *memfd_map(const char *name, size_t size, int fill)
{
	int fd = memfd_create(name, MFD_CLOEXEC);
	uint8_t *p;

	if (fd < 0 || ftruncate(fd, (off_t)size) < 0) {
		if (fd >= 0)
			close(fd);
		return NULL;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (p == MAP_FAILED)
		return NULL;
	memset(p, fill, size);
	return p;
}

/* Capabilities that say private memory is there at all. */
static void test_caps(void)
{
	int types = ioctl(kvm_fd, KVM_CHECK_EXTENSION, PS_CAP_VM_TYPES);

	check("vm-types", types > 0 && (types & (1 << PS_X86_SW_PROTECTED_VM)),
	      "KVM_CAP_VM_TYPES = %#x, want bit %d (KVM_X86_SW_PROTECTED_VM)", types,
	      PS_X86_SW_PROTECTED_VM);
	printf("  /dev/kvm: VM_TYPES=%#x MEMORY_ATTRIBUTES=%#x GUEST_MEMFD_FLAGS=%#x EXIT_HYPERCALL=%#x\n",
	       types, ioctl(kvm_fd, KVM_CHECK_EXTENSION, PS_CAP_MEMORY_ATTRIBUTES),
	       ioctl(kvm_fd, KVM_CHECK_EXTENSION, PS_CAP_GUEST_MEMFD_FLAGS),
	       ioctl(kvm_fd, KVM_CHECK_EXTENSION, PS_CAP_EXIT_HYPERCALL));

	/* A default VM has the attributes ioctl, but nothing can be private there. */
	int vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm < 0) {
		fail("default-vm-attributes", "KVM_CREATE_VM(0): %s", strerror(errno));
		return;
	}
	int rc_priv = set_attributes(vm, 0, 0x1000, PS_MEMORY_ATTRIBUTE_PRIVATE);
	int err_priv = errno;
	int rc_shared = set_attributes(vm, 0, 0x1000, 0);
	int err_shared = errno;
	check("default-vm-attributes", rc_priv < 0 && err_priv == EINVAL && rc_shared == 0,
	      "PRIVATE gave %d (%s), want EINVAL; shared gave %d (%s), want 0", rc_priv,
	      rc_priv < 0 ? strerror(err_priv) : "ok", rc_shared,
	      rc_shared < 0 ? strerror(err_shared) : "ok");
	close(vm);
}

struct pvm {
	int vm, vcpu, gmem;
	uint8_t *low;		/* slot 0 */
	uint8_t *shared;	/* slot 1's shared backing */
	uint8_t *fault;		/* slot 2 */
	struct kvm_run *run;
	size_t run_size;
};

static int set_long_mode(struct pvm *p)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;
	unsigned nent = 128;
	struct kvm_cpuid2 *cpuid;

	/* EFER.LME is refused unless the vCPU's CPUID says long mode. */
	for (;;) {
		cpuid = calloc(1, sizeof(*cpuid) + nent * sizeof(struct kvm_cpuid_entry2));
		if (!cpuid)
			return -1;
		cpuid->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			break;
		free(cpuid);
		if (errno != E2BIG || nent >= 4096)
			return -1;
		nent *= 2;
	}
	int rc = ioctl(p->vcpu, KVM_SET_CPUID2, cpuid);
	free(cpuid);
	if (rc < 0)
		return -1;

	/* Identity map the first 1 GiB with 2 MiB pages. */
	uint64_t *pml4 = (uint64_t *)(p->low + PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(p->low + PDPT_GPA);
	uint64_t *pd = (uint64_t *)(p->low + PD_GPA);
	pml4[0] = PDPT_GPA | 0x3;
	pdpt[0] = PD_GPA | 0x3;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x83;

	if (ioctl(p->vcpu, KVM_GET_SREGS, &sregs) < 0)
		return -1;
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = 0x8, .type = 0xb,
		.present = 1, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = 0x10, .type = 0x3,
		.present = 1, .s = 1, .db = 1, .g = 1,
	};
	sregs.cs = code;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data;
	sregs.tr.type = 0xb;
	sregs.tr.present = 1;
	sregs.cr3 = PML4_GPA;
	sregs.cr4 = 1u << 5;		/* PAE */
	sregs.cr0 = 0x80050033;		/* PG WP AM NE ET MP PE */
	sregs.efer = 0x500;		/* LME LMA */
	if (ioctl(p->vcpu, KVM_SET_SREGS, &sregs) < 0)
		return -1;
	memset(&regs, 0, sizeof(regs));
	regs.rip = CODE_GPA;
	regs.rflags = 0x2;
	return ioctl(p->vcpu, KVM_SET_REGS, &regs);
}

/* The type-1 VM with its three slots and one vCPU in long mode. */
static int pvm_create(struct pvm *p, char *why, size_t len)
{
	memset(p, 0, sizeof(*p));
	p->vm = p->vcpu = p->gmem = -1;

	p->vm = ioctl(kvm_fd, KVM_CREATE_VM, PS_X86_SW_PROTECTED_VM);
	if (p->vm < 0) {
		snprintf(why, len, "KVM_CREATE_VM(%d): %s", PS_X86_SW_PROTECTED_VM, strerror(errno));
		return -1;
	}
	p->low = mmap(NULL, LOW_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	p->shared = memfd_map("private-smoke-shared", PRIV_SIZE, SHARED_FILL);
	p->fault = memfd_map("private-smoke-fault", FAULT_SIZE, FAULT_FILL);
	if (p->low == MAP_FAILED || !p->shared || !p->fault) {
		snprintf(why, len, "host memory: %s", strerror(errno));
		return -1;
	}
	p->gmem = create_gmem(p->vm, PRIV_SIZE, 0);
	if (p->gmem < 0) {
		snprintf(why, len, "KVM_CREATE_GUEST_MEMFD: %s", strerror(errno));
		return -1;
	}
	if (set_slot(p->vm, 0, 0, 0, LOW_SIZE, p->low, 0, 0) < 0 ||
	    set_slot(p->vm, 1, PS_MEM_GUEST_MEMFD, PRIV_GPA, PRIV_SIZE, p->shared, p->gmem, 0) < 0 ||
	    set_slot(p->vm, 2, 0, FAULT_GPA, FAULT_SIZE, p->fault, 0, 0) < 0) {
		snprintf(why, len, "KVM_SET_USER_MEMORY_REGION2: %s", strerror(errno));
		return -1;
	}
	memcpy(p->low + CODE_GPA, ps_guest, (size_t)(ps_guest_end - ps_guest));
	p->vcpu = ioctl(p->vm, KVM_CREATE_VCPU, 0);
	int sz = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (p->vcpu < 0 || sz <= 0) {
		snprintf(why, len, "KVM_CREATE_VCPU: %s", strerror(errno));
		return -1;
	}
	p->run_size = (size_t)sz;
	p->run = mmap(NULL, p->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, p->vcpu, 0);
	if (p->run == MAP_FAILED) {
		p->run = NULL;
		snprintf(why, len, "mmap kvm_run: %s", strerror(errno));
		return -1;
	}
	if (set_long_mode(p) < 0) {
		snprintf(why, len, "long mode set-up: %s", strerror(errno));
		return -1;
	}
	return 0;
}

static void pvm_destroy(struct pvm *p)
{
	if (p->run)
		munmap(p->run, p->run_size);
	if (p->low && p->low != MAP_FAILED)
		munmap(p->low, LOW_SIZE);
	if (p->shared)
		munmap(p->shared, PRIV_SIZE);
	if (p->fault)
		munmap(p->fault, FAULT_SIZE);
	if (p->vcpu >= 0)
		close(p->vcpu);
	if (p->gmem >= 0)
		close(p->gmem);
	if (p->vm >= 0)
		close(p->vm);
}

static const char *exit_name(uint32_t reason)
{
	switch (reason) {
	case KVM_EXIT_IO: return "IO";
	case KVM_EXIT_HLT: return "HLT";
	case KVM_EXIT_MMIO: return "MMIO";
	case KVM_EXIT_SHUTDOWN: return "SHUTDOWN";
	case KVM_EXIT_FAIL_ENTRY: return "FAIL_ENTRY";
	case KVM_EXIT_INTERNAL_ERROR: return "INTERNAL_ERROR";
	case PS_EXIT_HYPERCALL: return "HYPERCALL";
	case PS_EXIT_MEMORY_FAULT: return "MEMORY_FAULT";
	default: return "?";
	}
}

/*
 * Run until the next exit.  Returns the exit reason, or -1 with errno set
 * when KVM_RUN itself failed (a memory fault does that, with the reason set).
 */
static int run_vcpu(struct pvm *p)
{
	int rc = ioctl(p->vcpu, KVM_RUN, 0);
	return rc < 0 ? -1 : (int)p->run->exit_reason;
}

/* Run and expect an out to PORT; its value goes to *val. */
static int expect_out(struct pvm *p, uint16_t port, uint32_t *val, char *why, size_t len)
{
	struct kvm_run *r = p->run;

	if (run_vcpu(p) < 0) {
		snprintf(why, len, "KVM_RUN: %s (exit %u %s)", strerror(errno), r->exit_reason,
			 exit_name(r->exit_reason));
		return -1;
	}
	if (r->exit_reason != KVM_EXIT_IO || r->io.direction != KVM_EXIT_IO_OUT || r->io.port != port) {
		snprintf(why, len, "exit %u (%s), want an out to port %#x", r->exit_reason,
			 exit_name(r->exit_reason), port);
		return -1;
	}
	*val = 0;
	memcpy(val, (uint8_t *)r + r->io.data_offset, r->io.size);
	return 0;
}

/* Guest reports 1-4: what the guest sees of one page as its attribute changes. */
static void test_conversions(struct pvm *p)
{
	char why[256];
	uint32_t v;

	/* Only the first page: the hypercalls convert the others later. */
	if (set_attributes(p->vm, PRIV_GPA, 0x1000, PS_MEMORY_ATTRIBUTE_PRIVATE) < 0) {
		fail("set-private", "KVM_SET_MEMORY_ATTRIBUTES(PRIVATE) on the two-backing slot: %s",
		     strerror(errno));
		return;
	}
	pass("set-private");

	if (expect_out(p, PORT_BYTE, &v, why, sizeof(why)) < 0) {
		fail("private-write-read", "%s", why);
		return;
	}
	check("private-write-read", v == 0x5a && p->shared[0] == SHARED_FILL,
	      "guest read back %#x (want 0x5a); shared backing holds %#x (want %#x)", v,
	      p->shared[0], SHARED_FILL);
	printf("  guest wrote 0x5a to private gpa %#x and read %#x; the memfd still holds %#x\n",
	       PRIV_GPA, v, p->shared[0]);

	if (set_attributes(p->vm, PRIV_GPA, 0x1000, 0) < 0) {
		fail("to-shared", "KVM_SET_MEMORY_ATTRIBUTES(0): %s", strerror(errno));
		return;
	}
	if (expect_out(p, PORT_BYTE, &v, why, sizeof(why)) < 0) {
		fail("to-shared", "%s", why);
		return;
	}
	check("to-shared", v == SHARED_FILL, "guest read %#x after conversion to shared, want %#x",
	      v, SHARED_FILL);

	if (set_attributes(p->vm, PRIV_GPA, 0x1000, PS_MEMORY_ATTRIBUTE_PRIVATE) < 0) {
		fail("back-to-private", "KVM_SET_MEMORY_ATTRIBUTES(PRIVATE): %s", strerror(errno));
		return;
	}
	if (expect_out(p, PORT_BYTE, &v, why, sizeof(why)) < 0) {
		fail("back-to-private", "%s", why);
		return;
	}
	check("back-to-private", v == 0x5a,
	      "guest read %#x, want 0x5a: private contents should survive a round trip", v);

	if (fallocate(p->gmem, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, 0, 0x1000) < 0) {
		fail("punch-private", "fallocate(PUNCH_HOLE) on guest_memfd: %s", strerror(errno));
		return;
	}
	if (expect_out(p, PORT_BYTE, &v, why, sizeof(why)) < 0) {
		fail("punch-private", "%s", why);
		return;
	}
	check("punch-private", v == 0, "guest read %#x after the hole punch, want 0", v);
}

/*
 * Guest reports 5-7: KVM_HC_MAP_GPA_RANGE reaches userspace as
 * KVM_EXIT_HYPERCALL; the VMM answers through hypercall.ret, which the guest
 * finds in RAX.  The vmmcall one is granted (range converted, ret 0); the
 * vmcall one is refused (nothing converted, ret -22), because KVM itself
 * zeroes ret before the exit and only a non-zero answer shows it travels.
 */
#define REFUSED ((uint64_t)-22)
static void test_hypercall(struct pvm *p, const char *name, uint64_t want_gpa, int vmcall)
{
	struct ps_exit_hypercall *hc = (void *)((uint8_t *)p->run + RUN_EXIT_OFFSET);
	size_t vmcall_off = (size_t)(ps_guest_vmcall - ps_guest);
	char why[256];
	uint32_t v;
	int reason = run_vcpu(p);

	if (reason != PS_EXIT_HYPERCALL) {
		fail(name, "exit %d (%s) errno %s, want KVM_EXIT_HYPERCALL", reason,
		     exit_name(p->run->exit_reason), reason < 0 ? strerror(errno) : "-");
		return;
	}
	printf("  %s: exit HYPERCALL nr=%llu args={%#llx, %llu, %#llx, %#llx, %#llx, %#llx} ret=%lld flags=%#llx\n",
	       vmcall ? "vmcall" : "vmmcall", (unsigned long long)hc->nr,
	       (unsigned long long)hc->args[0], (unsigned long long)hc->args[1],
	       (unsigned long long)hc->args[2], (unsigned long long)hc->args[3],
	       (unsigned long long)hc->args[4], (unsigned long long)hc->args[5],
	       (long long)hc->ret, (unsigned long long)hc->flags);
	if (vmcall)
		printf("  guest bytes at the vmcall now: %02x %02x %02x (0f 01 c1 = vmcall, 0f 01 d9 = vmmcall)\n",
		       p->low[CODE_GPA + vmcall_off], p->low[CODE_GPA + vmcall_off + 1],
		       p->low[CODE_GPA + vmcall_off + 2]);
	if (hc->nr != PS_HC_MAP_GPA_RANGE || hc->args[0] != want_gpa || hc->args[1] != 1 ||
	    hc->args[2] != PS_MAP_GPA_RANGE_ENCRYPTED || !(hc->flags & PS_EXIT_HYPERCALL_LONG_MODE)) {
		fail(name, "unexpected hypercall exit contents (see above)");
		return;
	}
	if (!vmcall) {
		/* Granted: the VMM converts the range, then reports success. */
		if (set_attributes(p->vm, hc->args[0], hc->args[1] * 0x1000,
				   PS_MEMORY_ATTRIBUTE_PRIVATE) < 0) {
			fail(name, "KVM_SET_MEMORY_ATTRIBUTES for the hypercall's range: %s",
			     strerror(errno));
			return;
		}
		hc->ret = 0;
	} else {
		hc->ret = REFUSED;
	}
	if (expect_out(p, PORT_DWORD, &v, why, sizeof(why)) < 0) {
		fail(name, "after the hypercall: %s", why);
		return;
	}
	printf("  %s: VMM set ret=%lld; guest EAX after the hypercall = %#x (was 12, the hypercall number)\n",
	       vmcall ? "vmcall" : "vmmcall", (long long)hc->ret, v);
	if (v != (uint32_t)hc->ret) {
		fail(name, "guest EAX %#x after the hypercall, want hypercall.ret (%#x)", v,
		     (uint32_t)hc->ret);
		return;
	}
	if (expect_out(p, PORT_BYTE, &v, why, sizeof(why)) < 0) {
		fail(name, "reading the page: %s", why);
		return;
	}
	/* A fresh private page reads 0; the shared side reads SHARED_FILL. */
	if (!vmcall)
		check(name, v == 0, "guest read %#x from the converted page, want 0 (private, fresh)", v);
	else
		check(name, v == SHARED_FILL, "guest read %#x from the refused page, want %#x (still shared)",
		      v, SHARED_FILL);
}

/* Guest report 8: implicit conversion through the memory-fault exit. */
static void test_memory_fault(struct pvm *p)
{
	struct ps_exit_memory_fault *mf = (void *)((uint8_t *)p->run + RUN_EXIT_OFFSET);
	char why[256];
	uint32_t v;

	if (set_attributes(p->vm, FAULT_GPA, FAULT_SIZE, PS_MEMORY_ATTRIBUTE_PRIVATE) < 0) {
		fail("memory-fault-exit", "KVM_SET_MEMORY_ATTRIBUTES on a slot without guest_memfd: %s",
		     strerror(errno));
		return;
	}
	int reason = run_vcpu(p);
	int err = errno;
	printf("  KVM_RUN returned %s, exit %u (%s) flags=%#llx gpa=%#llx size=%#llx\n",
	       reason < 0 ? strerror(err) : "0", p->run->exit_reason, exit_name(p->run->exit_reason),
	       (unsigned long long)mf->flags, (unsigned long long)mf->gpa,
	       (unsigned long long)mf->size);
	if (!(reason < 0 && err == EFAULT && p->run->exit_reason == PS_EXIT_MEMORY_FAULT &&
	      mf->flags == PS_MEMORY_EXIT_FLAG_PRIVATE && mf->gpa == FAULT_GPA && mf->size == 0x1000)) {
		fail("memory-fault-exit", "want EFAULT with exit 39, flags 0x8, gpa %#x, size 0x1000",
		     FAULT_GPA);
		return;
	}
	pass("memory-fault-exit");

	/* The VMM resolves it by converting back to shared; the guest goes on. */
	if (set_attributes(p->vm, FAULT_GPA, FAULT_SIZE, 0) < 0) {
		fail("memory-fault-resolved", "KVM_SET_MEMORY_ATTRIBUTES(0): %s", strerror(errno));
		return;
	}
	if (expect_out(p, PORT_BYTE, &v, why, sizeof(why)) < 0) {
		fail("memory-fault-resolved", "%s", why);
		return;
	}
	check("memory-fault-resolved", v == FAULT_FILL, "guest read %#x, want %#x", v, FAULT_FILL);
	reason = run_vcpu(p);
	check("guest-done", reason == KVM_EXIT_HLT, "last exit %d (%s), want HLT", reason,
	      exit_name(p->run->exit_reason));
}

int main(void)
{
	char buf[512], why[256];
	const char *priv;
	struct pvm p;

	setvbuf(stdout, NULL, _IOLBF, 0);
	priv = feature("private", buf, sizeof(buf));
	if (priv && strcmp(priv, "yes") != 0) {
		/* The machine knows why; say it rather than fail obscurely below. */
		printf("FAIL private-memory: the emulated machine has private=%s\n", priv);
		printf("private-smoke: 0 passed, 1 failed, 0 skipped\n");
		return 1;
	}
	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		printf("FAIL open-kvm: /dev/kvm: %s\n", strerror(errno));
		return 1;
	}
	test_caps();

	if (pvm_create(&p, why, sizeof(why)) < 0) {
		fail("type1-vm", "%s", why);
		pvm_destroy(&p);
		goto out;
	}
	pass("type1-vm");
	int attrs = ioctl(p.vm, KVM_CHECK_EXTENSION, PS_CAP_MEMORY_ATTRIBUTES);
	int gflags = ioctl(p.vm, KVM_CHECK_EXTENSION, PS_CAP_GUEST_MEMFD_FLAGS);
	check("type1-caps", attrs == (int)PS_MEMORY_ATTRIBUTE_PRIVATE && gflags == (int)PS_GMEM_FLAG_MMAP,
	      "MEMORY_ATTRIBUTES=%#x (want 0x8) GUEST_MEMFD_FLAGS=%#x (want 0x1)", attrs, gflags);
	printf("  type-1 VM fd: MEMORY_ATTRIBUTES=%#x GUEST_MEMFD_FLAGS=%#x\n", attrs, gflags);
	int g = create_gmem(p.vm, 0x1000, PS_GMEM_FLAG_MMAP | PS_GMEM_FLAG_INIT_SHARED);
	check("type1-no-init-shared", g < 0 && errno == EINVAL,
	      "KVM_CREATE_GUEST_MEMFD(MMAP|INIT_SHARED) gave %d (%s), want EINVAL", g,
	      g < 0 ? strerror(errno) : "ok");
	if (g >= 0)
		close(g);

	struct kvm_enable_cap cap = { .cap = PS_CAP_EXIT_HYPERCALL };
	cap.args[0] = 1ull << PS_HC_MAP_GPA_RANGE;
	if (ioctl(p.vm, KVM_ENABLE_CAP, &cap) < 0) {
		fail("exit-hypercall-cap", "KVM_ENABLE_CAP(EXIT_HYPERCALL, 1 << 12): %s", strerror(errno));
	} else {
		pass("exit-hypercall-cap");
		test_conversions(&p);
		test_hypercall(&p, "hypercall-vmmcall", HC1_GPA, 0);
		test_hypercall(&p, "hypercall-vmcall", HC2_GPA, 1);
		test_memory_fault(&p);
	}
	pvm_destroy(&p);
out:
	printf("private-smoke: %d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
	close(kvm_fd);
	return n_fail ? 1 : 0;
}
