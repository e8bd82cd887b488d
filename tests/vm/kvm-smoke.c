/* kvm-smoke.c - self-test that /dev/kvm works: caps, a real-mode guest and a long-mode guest. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/kvm.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#define GUEST_MEM_SIZE 0x10000u /* 64 KiB */
#define CODE_GPA 0x1000u
#define PML4_GPA 0x2000u
#define PDPT_GPA 0x3000u
#define PD_GPA 0x4000u
#define TEST_PORT 0x10

static int kvm_fd = -1;
static int n_pass, n_fail;

struct guest {
	int vm_fd;
	int vcpu_fd;
	uint8_t *mem;
	struct kvm_run *run;
	size_t run_size;
};

static void result(const char *name, int ok, const char *why)
{
	if (ok) {
		n_pass++;
		printf("PASS %s\n", name);
	} else {
		n_fail++;
		printf("FAIL %s: %s\n", name, why);
	}
}

static void print_caps(void)
{
	static const struct {
		int nr;
		const char *name;
	} caps[] = {
		{ 3, "USER_MEMORY" },
		{ 231, "USER_MEMORY2" },
		{ 232, "MEMORY_FAULT_INFO" },
		{ 233, "MEMORY_ATTRIBUTES" },
		{ 234, "GUEST_MEMFD" },
		{ 235, "VM_TYPES" },
		{ 236, "PRE_FAULT_MEMORY" },
		{ 244, "GUEST_MEMFD_FLAGS" },
	};
	for (size_t i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		int v = ioctl(kvm_fd, KVM_CHECK_EXTENSION, caps[i].nr);
		printf("cap %3d %-18s = %d\n", caps[i].nr, caps[i].name, v);
	}
}

/* Create a VM with one 64 KiB slot at GPA 0 and one vCPU. Returns 0 or -1. */
static int guest_create(struct guest *g, const char **why)
{
	memset(g, 0, sizeof(*g));
	g->vm_fd = g->vcpu_fd = -1;

	g->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (g->vm_fd < 0) {
		*why = "KVM_CREATE_VM failed";
		return -1;
	}
	g->mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE,
		      MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (g->mem == MAP_FAILED) {
		g->mem = NULL;
		*why = "mmap of guest memory failed";
		return -1;
	}
	struct kvm_userspace_memory_region region = {
		.slot = 0,
		.flags = 0,
		.guest_phys_addr = 0,
		.memory_size = GUEST_MEM_SIZE,
		.userspace_addr = (uintptr_t)g->mem,
	};
	if (ioctl(g->vm_fd, KVM_SET_USER_MEMORY_REGION, &region) < 0) {
		*why = "KVM_SET_USER_MEMORY_REGION failed";
		return -1;
	}
	g->vcpu_fd = ioctl(g->vm_fd, KVM_CREATE_VCPU, 0);
	if (g->vcpu_fd < 0) {
		*why = "KVM_CREATE_VCPU failed";
		return -1;
	}
	int sz = ioctl(kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (sz <= 0) {
		*why = "KVM_GET_VCPU_MMAP_SIZE failed";
		return -1;
	}
	g->run_size = (size_t)sz;
	g->run = mmap(NULL, g->run_size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->vcpu_fd, 0);
	if (g->run == MAP_FAILED) {
		g->run = NULL;
		*why = "mmap of kvm_run failed";
		return -1;
	}
	return 0;
}

static void guest_destroy(struct guest *g)
{
	if (g->run)
		munmap(g->run, g->run_size);
	if (g->mem)
		munmap(g->mem, GUEST_MEM_SIZE);
	if (g->vcpu_fd >= 0)
		close(g->vcpu_fd);
	if (g->vm_fd >= 0)
		close(g->vm_fd);
}

static int set_rip(struct guest *g, uint64_t rip)
{
	struct kvm_regs regs;
	memset(&regs, 0, sizeof(regs));
	regs.rip = rip;
	regs.rflags = 0x2; /* bit 1 is reserved and must be set */
	return ioctl(g->vcpu_fd, KVM_SET_REGS, &regs);
}

/*
 * Run until the guest does `out TEST_PORT` with the expected value (of the
 * given width), then once more and expect HLT.  Returns 0 on success.
 */
static int expect_out_then_hlt(struct guest *g, uint32_t want, unsigned size,
			       char *why, size_t whylen)
{
	if (ioctl(g->vcpu_fd, KVM_RUN, 0) < 0) {
		snprintf(why, whylen, "KVM_RUN: %s", strerror(errno));
		return -1;
	}
	struct kvm_run *r = g->run;
	if (r->exit_reason != KVM_EXIT_IO) {
		snprintf(why, whylen, "first exit %u, want KVM_EXIT_IO (%u)%s",
			 r->exit_reason, KVM_EXIT_IO,
			 r->exit_reason == KVM_EXIT_FAIL_ENTRY ? " (FAIL_ENTRY)" :
			 r->exit_reason == KVM_EXIT_INTERNAL_ERROR ? " (INTERNAL_ERROR)" :
			 r->exit_reason == KVM_EXIT_SHUTDOWN ? " (SHUTDOWN / triple fault)" : "");
		return -1;
	}
	uint32_t got = 0;
	memcpy(&got, (uint8_t *)r + r->io.data_offset, r->io.size);
	if (r->io.direction != KVM_EXIT_IO_OUT || r->io.port != TEST_PORT ||
	    r->io.size != size || r->io.count != 1 || got != want) {
		snprintf(why, whylen,
			 "io exit dir=%u port=0x%x size=%u count=%u data=0x%x, want out port 0x%x size %u data 0x%x",
			 r->io.direction, r->io.port, r->io.size, r->io.count, got,
			 TEST_PORT, size, want);
		return -1;
	}
	printf("  exit IO out port=0x%x size=%u data=0x%x\n", r->io.port, r->io.size, got);
	if (ioctl(g->vcpu_fd, KVM_RUN, 0) < 0) {
		snprintf(why, whylen, "second KVM_RUN: %s", strerror(errno));
		return -1;
	}
	if (r->exit_reason != KVM_EXIT_HLT) {
		snprintf(why, whylen, "second exit %u, want KVM_EXIT_HLT (%u)",
			 r->exit_reason, KVM_EXIT_HLT);
		return -1;
	}
	printf("  exit HLT\n");
	return 0;
}

static void test_real_mode(void)
{
	static const uint8_t code[] = {
		0xb0, 0x42,		/* mov al, 0x42 */
		0xe6, TEST_PORT,	/* out 0x10, al */
		0xf4,			/* hlt */
	};
	struct guest g;
	const char *err = NULL;
	char why[256];

	if (guest_create(&g, &err) < 0) {
		snprintf(why, sizeof(why), "%s: %s", err, strerror(errno));
		result("real-mode", 0, why);
		guest_destroy(&g);
		return;
	}
	memcpy(g.mem + CODE_GPA, code, sizeof(code));

	struct kvm_sregs sregs;
	if (ioctl(g.vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
		result("real-mode", 0, "KVM_GET_SREGS failed");
		goto out;
	}
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(g.vcpu_fd, KVM_SET_SREGS, &sregs) < 0) {
		result("real-mode", 0, "KVM_SET_SREGS failed");
		goto out;
	}
	if (set_rip(&g, CODE_GPA) < 0) {
		result("real-mode", 0, "KVM_SET_REGS failed");
		goto out;
	}
	if (expect_out_then_hlt(&g, 0x42, 1, why, sizeof(why)) < 0)
		result("real-mode", 0, why);
	else
		result("real-mode", 1, NULL);
out:
	guest_destroy(&g);
}

/* Copy the host-supported CPUID table onto the vCPU (needed for EFER.LME). */
static int set_supported_cpuid(struct guest *g, char *why, size_t whylen)
{
	unsigned nent = 64;
	struct kvm_cpuid2 *cpuid = NULL;

	for (;;) {
		free(cpuid);
		cpuid = calloc(1, sizeof(*cpuid) + nent * sizeof(struct kvm_cpuid_entry2));
		if (!cpuid) {
			snprintf(why, whylen, "out of memory");
			return -1;
		}
		cpuid->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			break;
		if (errno != E2BIG || nent >= 4096) {
			snprintf(why, whylen, "KVM_GET_SUPPORTED_CPUID: %s", strerror(errno));
			free(cpuid);
			return -1;
		}
		nent *= 2;
	}
	printf("  KVM_GET_SUPPORTED_CPUID: %u entries\n", cpuid->nent);
	int rc = ioctl(g->vcpu_fd, KVM_SET_CPUID2, cpuid);
	if (rc < 0)
		snprintf(why, whylen, "KVM_SET_CPUID2: %s", strerror(errno));
	free(cpuid);
	return rc;
}

static void test_long_mode(void)
{
	/* Only correct in 64-bit mode: 0x48 is a REX.W prefix, not `dec eax`. */
	static const uint8_t code[] = {
		0x48, 0xb8, 0x88, 0x77, 0x66, 0x55,
		0x44, 0x33, 0x22, 0x11,		/* mov rax, 0x1122334455667788 */
		0x48, 0xc1, 0xe8, 0x20,		/* shr rax, 32 */
		0xe7, TEST_PORT,		/* out 0x10, eax */
		0xf4,				/* hlt */
	};
	struct guest g;
	const char *err = NULL;
	char why[256];

	if (guest_create(&g, &err) < 0) {
		snprintf(why, sizeof(why), "%s: %s", err, strerror(errno));
		result("long-mode", 0, why);
		guest_destroy(&g);
		return;
	}
	memcpy(g.mem + CODE_GPA, code, sizeof(code));

	/* Identity map the first 1 GiB with 2 MiB pages: PML4 -> PDPT -> PD. */
	uint64_t *pml4 = (uint64_t *)(g.mem + PML4_GPA);
	uint64_t *pdpt = (uint64_t *)(g.mem + PDPT_GPA);
	uint64_t *pd = (uint64_t *)(g.mem + PD_GPA);
	pml4[0] = PDPT_GPA | 0x3;			/* present | writable */
	pdpt[0] = PD_GPA | 0x3;
	for (uint64_t i = 0; i < 512; i++)
		pd[i] = (i << 21) | 0x83;		/* present | writable | 2 MiB page */

	if (set_supported_cpuid(&g, why, sizeof(why)) < 0) {
		result("long-mode", 0, why);
		goto out;
	}

	struct kvm_sregs sregs;
	if (ioctl(g.vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
		result("long-mode", 0, "KVM_GET_SREGS failed");
		goto out;
	}
	struct kvm_segment code_seg = {
		.base = 0, .limit = 0xffffffff, .selector = 0x8,
		.type = 0xb,	/* execute/read, accessed */
		.present = 1, .dpl = 0, .db = 0, .s = 1, .l = 1, .g = 1,
	};
	struct kvm_segment data_seg = {
		.base = 0, .limit = 0xffffffff, .selector = 0x10,
		.type = 0x3,	/* read/write, accessed */
		.present = 1, .dpl = 0, .db = 1, .s = 1, .l = 0, .g = 1,
	};
	sregs.cs = code_seg;
	sregs.ds = sregs.es = sregs.fs = sregs.gs = sregs.ss = data_seg;
	sregs.tr.type = 0xb;	/* busy 64-bit TSS */
	sregs.tr.present = 1;
	sregs.tr.s = 0;
	sregs.cr3 = PML4_GPA;
	sregs.cr4 = 1u << 5;					/* PAE */
	sregs.cr0 = 0x80050033;	/* PG | AM | WP | NE | ET | MP | PE */
	sregs.efer = 0x500;					/* LME | LMA */
	if (ioctl(g.vcpu_fd, KVM_SET_SREGS, &sregs) < 0) {
		snprintf(why, sizeof(why), "KVM_SET_SREGS: %s", strerror(errno));
		result("long-mode", 0, why);
		goto out;
	}
	if (set_rip(&g, CODE_GPA) < 0) {
		result("long-mode", 0, "KVM_SET_REGS failed");
		goto out;
	}
	if (expect_out_then_hlt(&g, 0x11223344, 4, why, sizeof(why)) < 0) {
		result("long-mode", 0, why);
		goto out;
	}
	struct kvm_sregs after;
	if (ioctl(g.vcpu_fd, KVM_GET_SREGS, &after) == 0)
		printf("  after: efer=0x%llx cr0=0x%llx cr4=0x%llx cs.l=%u\n",
		       (unsigned long long)after.efer, (unsigned long long)after.cr0,
		       (unsigned long long)after.cr4, after.cs.l);
	result("long-mode", 1, NULL);
out:
	guest_destroy(&g);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);

	kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (kvm_fd < 0) {
		printf("FAIL open /dev/kvm: %s\n", strerror(errno));
		printf("kvm-smoke: 0 passed, 1 failed\n");
		return 1;
	}
	int api = ioctl(kvm_fd, KVM_GET_API_VERSION, 0);
	printf("KVM_GET_API_VERSION = %d\n", api);
	result("api-version", api == KVM_API_VERSION, "unexpected API version");
	print_caps();

	test_real_mode();
	test_long_mode();

	printf("kvm-smoke: %d passed, %d failed\n", n_pass, n_fail);
	close(kvm_fd);
	return n_fail ? 1 : 0;
}
