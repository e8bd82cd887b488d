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

/* guest_memfd ABI (Linux 6.8+); Debian 12's <linux/kvm.h> predates it. */
#define SMOKE_CAP_GUEST_MEMFD 234
#define SMOKE_CAP_GUEST_MEMFD_FLAGS 244
#define SMOKE_MEM_GUEST_MEMFD (1u << 2)
#define SMOKE_GMEM_FLAG_MMAP (1u << 0)
#define SMOKE_GMEM_FLAG_INIT_SHARED (1u << 1)
struct smoke_create_guest_memfd {
	uint64_t size;
	uint64_t flags;
	uint64_t reserved[6];
};
struct smoke_memory_region2 {
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
#define SMOKE_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct smoke_create_guest_memfd)
#define SMOKE_SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct smoke_memory_region2)

static int kvm_fd = -1;
static int n_pass, n_fail, n_skip;

struct guest {
	int vm_fd;
	int gmem_fd;	/* -1 unless guest memory is a guest_memfd */
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

/* Guest memory from an mmap()able, initially shared guest_memfd (Linux 6.18+). */
static int guest_map_gmem(struct guest *g, const char **why)
{
	struct smoke_create_guest_memfd cg = {
		.size = GUEST_MEM_SIZE,
		.flags = SMOKE_GMEM_FLAG_MMAP | SMOKE_GMEM_FLAG_INIT_SHARED,
	};
	g->gmem_fd = ioctl(g->vm_fd, SMOKE_CREATE_GUEST_MEMFD, &cg);
	if (g->gmem_fd < 0) {
		*why = "KVM_CREATE_GUEST_MEMFD(MMAP|INIT_SHARED) failed";
		return -1;
	}
	g->mem = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->gmem_fd, 0);
	if (g->mem == MAP_FAILED) {
		g->mem = NULL;
		*why = "mmap of guest_memfd failed";
		return -1;
	}
	struct smoke_memory_region2 region = {
		.slot = 0,
		.flags = SMOKE_MEM_GUEST_MEMFD,
		.guest_phys_addr = 0,
		.memory_size = GUEST_MEM_SIZE,
		.userspace_addr = (uintptr_t)g->mem,
		.guest_memfd_offset = 0,
		.guest_memfd = (uint32_t)g->gmem_fd,
	};
	if (ioctl(g->vm_fd, SMOKE_SET_USER_MEMORY_REGION2, &region) < 0) {
		*why = "KVM_SET_USER_MEMORY_REGION2 with KVM_MEM_GUEST_MEMFD failed";
		return -1;
	}
	return 0;
}

/* Plain anonymous memory and the classic memslot ioctl. */
static int guest_map_anon(struct guest *g, const char **why)
{
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
	return 0;
}

/* Create a VM with one 64 KiB slot at GPA 0 and one vCPU. Returns 0 or -1. */
static int guest_create(struct guest *g, int use_gmem, const char **why)
{
	memset(g, 0, sizeof(*g));
	g->vm_fd = g->vcpu_fd = g->gmem_fd = -1;

	g->vm_fd = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (g->vm_fd < 0) {
		*why = "KVM_CREATE_VM failed";
		return -1;
	}
	if ((use_gmem ? guest_map_gmem : guest_map_anon)(g, why) < 0)
		return -1;
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
	if (g->gmem_fd >= 0)
		close(g->gmem_fd);
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

static void test_real_mode(const char *name, int use_gmem)
{
	static const uint8_t code[] = {
		0xb0, 0x42,		/* mov al, 0x42 */
		0xe6, TEST_PORT,	/* out 0x10, al */
		0xf4,			/* hlt */
	};
	struct guest g;
	const char *err = NULL;
	char why[256];

	if (guest_create(&g, use_gmem, &err) < 0) {
		snprintf(why, sizeof(why), "%s: %s", err, strerror(errno));
		result(name, 0, why);
		guest_destroy(&g);
		return;
	}
	memcpy(g.mem + CODE_GPA, code, sizeof(code));

	struct kvm_sregs sregs;
	if (ioctl(g.vcpu_fd, KVM_GET_SREGS, &sregs) < 0) {
		result(name, 0, "KVM_GET_SREGS failed");
		goto out;
	}
	sregs.cs.base = 0;
	sregs.cs.selector = 0;
	if (ioctl(g.vcpu_fd, KVM_SET_SREGS, &sregs) < 0) {
		result(name, 0, "KVM_SET_SREGS failed");
		goto out;
	}
	if (set_rip(&g, CODE_GPA) < 0) {
		result(name, 0, "KVM_SET_REGS failed");
		goto out;
	}
	if (expect_out_then_hlt(&g, 0x42, 1, why, sizeof(why)) < 0)
		result(name, 0, why);
	else
		result(name, 1, NULL);
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

	if (guest_create(&g, 0, &err) < 0) {
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

/*
 * Informational only (not PASS/FAIL): what guest_memfd can do on a default
 * VM of this kernel.  Creating one needs CONFIG_KVM_PRIVATE_MEM; binding it to
 * a memslot additionally needs a VM type with private memory.
 */
static void probe_guest_memfd(void)
{
	int vm = ioctl(kvm_fd, KVM_CREATE_VM, 0);
	if (vm < 0) {
		printf("info guest_memfd: KVM_CREATE_VM: %s\n", strerror(errno));
		return;
	}
	printf("info vm-fd caps: MEMORY_ATTRIBUTES=%d GUEST_MEMFD=%d VM_TYPES=%d\n",
	       ioctl(vm, KVM_CHECK_EXTENSION, 233), ioctl(vm, KVM_CHECK_EXTENSION, 234),
	       ioctl(vm, KVM_CHECK_EXTENSION, 235));
	if (ioctl(kvm_fd, KVM_CHECK_EXTENSION, SMOKE_CAP_GUEST_MEMFD) <= 0) {
		printf("info guest_memfd: not supported by this kernel\n");
		close(vm);
		return;
	}
	struct smoke_create_guest_memfd cg = { .size = GUEST_MEM_SIZE };
	int gfd = ioctl(vm, SMOKE_CREATE_GUEST_MEMFD, &cg);
	if (gfd < 0) {
		printf("info guest_memfd: KVM_CREATE_GUEST_MEMFD on default VM: %s\n",
		       strerror(errno));
		close(vm);
		return;
	}
	printf("info guest_memfd: KVM_CREATE_GUEST_MEMFD on default VM: ok (fd %d)\n", gfd);
	void *shared = mmap(NULL, GUEST_MEM_SIZE, PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (shared != MAP_FAILED) {
		struct smoke_memory_region2 r = {
			.slot = 0,
			.flags = SMOKE_MEM_GUEST_MEMFD,
			.memory_size = GUEST_MEM_SIZE,
			.userspace_addr = (uintptr_t)shared,
			.guest_memfd = (uint32_t)gfd,
		};
		int rc = ioctl(vm, SMOKE_SET_USER_MEMORY_REGION2, &r);
		printf("info guest_memfd: KVM_SET_USER_MEMORY_REGION2 with KVM_MEM_GUEST_MEMFD: %s\n",
		       rc == 0 ? "ok" : strerror(errno));
		munmap(shared, GUEST_MEM_SIZE);
	}
	close(gfd);
	close(vm);
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

	test_real_mode("real-mode", 0);
	test_long_mode();
	probe_guest_memfd();

	/* Real-mode guest again, but running out of guest_memfd memory. */
	int gflags = ioctl(kvm_fd, KVM_CHECK_EXTENSION, SMOKE_CAP_GUEST_MEMFD_FLAGS);
	unsigned need = SMOKE_GMEM_FLAG_MMAP | SMOKE_GMEM_FLAG_INIT_SHARED;
	if (gflags > 0 && ((unsigned)gflags & need) == need) {
		test_real_mode("guest-memfd-real-mode", 1);
	} else {
		n_skip++;
		printf("SKIP guest-memfd-real-mode: needs guest_memfd MMAP|INIT_SHARED (cap 244 = %d)\n",
		       gflags);
	}

	printf("kvm-smoke: %d passed, %d failed, %d skipped\n", n_pass, n_fail, n_skip);
	close(kvm_fd);
	return n_fail ? 1 : 0;
}
