// SPDX-License-Identifier: MIT
/*
 * cpu.c - the one vCPU: its CPUID model (what KVM supports, minus what it
 * cannot back here), and the register state the 64-bit boot protocol
 * starts the kernel in.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmm.h"

#define CR0_PE		(1ULL << 0)
#define CR0_ET		(1ULL << 4)
#define CR0_NE		(1ULL << 5)
#define CR0_PG		(1ULL << 31)
#define CR4_PAE		(1ULL << 5)
#define EFER_LME	(1ULL << 8)
#define EFER_LMA	(1ULL << 10)

#define BIT(n)		(1U << (n))

/*
 * CPUID features that keep register state only in XSAVE areas, by leaf
 * and register.  See cpuid_model() for why they go.
 */
#define L1_ECX_XSAVE_FAMILY	(BIT(12) /* FMA */ | BIT(26) /* XSAVE */ | \
				 BIT(27) /* OSXSAVE */ | BIT(28) /* AVX */ | \
				 BIT(29) /* F16C */)
#define L7_EBX_XSAVE_FAMILY	(BIT(5) /* AVX2 */ | BIT(16) /* AVX512F */ | \
				 BIT(17) | BIT(21) | BIT(26) | BIT(27) | \
				 BIT(28) | BIT(30) | BIT(31) /* AVX512* */)
#define L7_ECX_XSAVE_FAMILY	(BIT(1) /* AVX512_VBMI */ | BIT(3) /* PKU */ | \
				 BIT(4) /* OSPKE */ | BIT(6) /* VBMI2 */ | \
				 BIT(7) /* CET_SS */ | BIT(9) /* VAES */ | \
				 BIT(10) /* VPCLMULQDQ */ | BIT(11) | \
				 BIT(12) | BIT(14) /* AVX512 VNNI etc. */)
#define L7_EDX_XSAVE_FAMILY	(BIT(2) | BIT(3) | BIT(8) /* AVX512 */ | \
				 BIT(20) /* CET_IBT */ | BIT(22) | \
				 BIT(23) | BIT(24) | BIT(25) /* AMX, FP16 */)
#define L7S1_EAX_XSAVE_FAMILY	(BIT(4) /* AVX_VNNI */ | BIT(5) /* BF16 */ | \
				 BIT(23) /* AVX_IFMA */)
#define LX1_ECX_XSAVE_FAMILY	(BIT(11) /* XOP */ | BIT(15) /* LWP */ | \
				 BIT(16) /* FMA4 */)

#define L1_ECX_TSC_DEADLINE	BIT(24)
#define L1_ECX_HYPERVISOR	BIT(31)
#define L1_EDX_HTT		BIT(28)

static int vcpu_error(const char *what)
{
	int err = errno;

	vmm_log("error: %s: %s", what, strerror(err));
	return -err;
}

static struct kvm_cpuid2 *supported_cpuid(int kvm_fd)
{
	struct kvm_cpuid2 *c;

	/* KVM says E2BIG until the buffer holds every entry it has. */
	for (unsigned int n = 64; n <= 4096; n *= 2) {
		c = calloc(1, sizeof(*c) + n * sizeof(c->entries[0]));
		if (!c)
			return NULL;
		c->nent = n;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0)
			return c;
		free(c);
		if (errno != E2BIG)
			break;
	}
	vcpu_error("KVM_GET_SUPPORTED_CPUID");
	return NULL;
}

/*
 * The CPU the guest sees: what this KVM can run, without the XSAVE
 * family.  In the emulated machine the tests use, KVM passes on leaf 0xD
 * sizes that do not match what that machine's XSAVE writes: offered them,
 * Linux 7.3 stops with "XSAVE consistency problem: size 2696 !=
 * kernel_size 576" and panics in fpu__init_system_xstate, as it did
 * under QEMU's -cpu host there.  So XSAVE goes, leaf 0xD with it, and
 * with them every feature whose registers live only in XSAVE areas (AVX,
 * AVX-512, AMX, PKU, CET): the guest uses FXSAVE, like any CPU before 2011.
 */
static void cpuid_model(struct vmm *v, struct kvm_cpuid2 *c)
{
	bool deadline = ioctl(v->kvm_fd, KVM_CHECK_EXTENSION,
			      KVM_CAP_TSC_DEADLINE_TIMER) > 0;
	uint32_t out = 0;

	for (uint32_t i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 0x1:
			e->ecx &= ~L1_ECX_XSAVE_FAMILY;
			/* KVM emulates it, but only reports it this way. */
			if (deadline)
				e->ecx |= L1_ECX_TSC_DEADLINE;
			e->ecx |= L1_ECX_HYPERVISOR;
			/* One CPU, local APIC ID 0, no siblings. */
			e->ebx &= 0x0000ffff;
			e->ebx |= 1 << 16;
			e->edx &= ~L1_EDX_HTT;
			break;
		case 0x7:
			if (e->index == 0) {
				e->ebx &= ~L7_EBX_XSAVE_FAMILY;
				e->ecx &= ~L7_ECX_XSAVE_FAMILY;
				e->edx &= ~L7_EDX_XSAVE_FAMILY;
			} else if (e->index == 1) {
				e->eax &= ~L7S1_EAX_XSAVE_FAMILY;
			}
			break;
		case 0xd:	/* XSAVE state sizes */
		case 0x14:	/* processor trace, saved by XSAVES */
		case 0x1d:	/* AMX tiles */
		case 0x1e:
			continue;
		case 0x80000001:
			e->ecx &= ~LX1_ECX_XSAVE_FAMILY;
			break;
		}
		c->entries[out++] = *e;
	}
	c->nent = out;
}

/* 64-bit mode, with the flat segments of the GDT boot.c wrote. */
static int set_boot_sregs(struct vmm *v)
{
	struct kvm_segment code = {
		.base = 0, .limit = 0xffffffff, .selector = BOOT_GDT_CS,
		.type = 0xb, .present = 1, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data = {
		.base = 0, .limit = 0xffffffff, .selector = BOOT_GDT_DS,
		.type = 0x3, .present = 1, .s = 1, .db = 1, .g = 1,
	};
	struct kvm_sregs s;

	if (ioctl(v->cpu.fd, KVM_GET_SREGS, &s) < 0)
		return vcpu_error("KVM_GET_SREGS");
	s.cr0 = CR0_PE | CR0_ET | CR0_NE | CR0_PG;
	s.cr3 = BOOT_PML4_GPA;
	s.cr4 = CR4_PAE;
	s.efer = EFER_LME | EFER_LMA;
	s.cs = code;
	s.ds = s.es = s.fs = s.gs = s.ss = data;
	s.gdt.base = BOOT_GDT_GPA;
	s.gdt.limit = 4 * 8 - 1;
	s.idt.base = 0;
	s.idt.limit = 0;	/* interrupts stay off until Linux has an IDT */
	/* Intel needs a usable task register even before the guest sets one. */
	memset(&s.tr, 0, sizeof(s.tr));
	s.tr.type = 0xb;
	s.tr.present = 1;
	s.tr.limit = 0x67;
	if (ioctl(v->cpu.fd, KVM_SET_SREGS, &s) < 0)
		return vcpu_error("KVM_SET_SREGS");
	return 0;
}

/* The boot protocol's hand-over: %rsi = boot_params, interrupts off. */
static int set_boot_regs(struct vmm *v)
{
	struct kvm_regs r = {
		.rip = boot_entry(v),
		.rsi = BOOT_PARAMS_GPA,
		.rsp = BOOT_STACK_TOP,
		.rflags = 0x2,		/* bit 1 is always set; IF clear */
	};

	if (ioctl(v->cpu.fd, KVM_SET_REGS, &r) < 0)
		return vcpu_error("KVM_SET_REGS");
	return 0;
}

int cpu_create(struct vmm *v)
{
	struct kvm_cpuid2 *cpuid;
	long size;
	int ret;

	size = ioctl(v->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0)
		return vcpu_error("KVM_GET_VCPU_MMAP_SIZE");
	v->cpu.fd = ioctl(v->vm_fd, KVM_CREATE_VCPU, 0);
	if (v->cpu.fd < 0)
		return vcpu_error("KVM_CREATE_VCPU");
	v->cpu.run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE,
			  MAP_SHARED, v->cpu.fd, 0);
	if (v->cpu.run == MAP_FAILED) {
		v->cpu.run = NULL;
		return vcpu_error("mmap of the vCPU's kvm_run");
	}
	v->cpu.run_size = (size_t)size;

	cpuid = supported_cpuid(v->kvm_fd);
	if (!cpuid)
		return -ENOMEM;
	cpuid_model(v, cpuid);
	/* Before the sregs: KVM refuses long mode to a CPU without LM. */
	ret = ioctl(v->cpu.fd, KVM_SET_CPUID2, cpuid) < 0 ?
		vcpu_error("KVM_SET_CPUID2") : 0;
	if (ret == 0 && v->opts.verbose > 1)
		for (uint32_t i = 0; i < cpuid->nent; i++)
			vmm_log("cpuid %08x.%u: %08x %08x %08x %08x",
				cpuid->entries[i].function,
				cpuid->entries[i].index,
				cpuid->entries[i].eax, cpuid->entries[i].ebx,
				cpuid->entries[i].ecx, cpuid->entries[i].edx);
	free(cpuid);
	if (ret < 0)
		return ret;
	ret = set_boot_sregs(v);
	return ret < 0 ? ret : set_boot_regs(v);
}

uint64_t cpu_rip(struct vmm *v)
{
	struct kvm_regs r;

	if (ioctl(v->cpu.fd, KVM_GET_REGS, &r) < 0)
		return ~0ULL;
	return r.rip;
}

void cpu_destroy(struct vmm *v)
{
	if (v->cpu.run)
		munmap(v->cpu.run, v->cpu.run_size);
	if (v->cpu.fd >= 0)
		close(v->cpu.fd);
	v->cpu.run = NULL;
	v->cpu.fd = -1;
}
