// SPDX-License-Identifier: MIT
/*
 * runner.c - the host side of the guest runner: a VM on gmem RAM, identity
 * page tables, one vCPU started directly in 64-bit mode, and the ucall loop.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/kvm.h>
#include <linux/mempolicy.h>

#include "runner.h"

/* The table mkimages.sh generates. */
struct guest_image_entry {
	const char *name;
	const uint8_t *start;
	const uint8_t *end;
};
extern const struct guest_image_entry guest_images[];

#define PTE_P	(1ULL << 0)
#define PTE_RW	(1ULL << 1)
#define PTE_PS	(1ULL << 7)

#define CR0_PE	(1ULL << 0)
#define CR0_MP	(1ULL << 1)
#define CR0_ET	(1ULL << 4)
#define CR0_NE	(1ULL << 5)
#define CR0_WP	(1ULL << 16)
#define CR0_PG	(1ULL << 31)
#define CR4_PAE	(1ULL << 5)
#define EFER_LME (1ULL << 8)
#define EFER_LMA (1ULL << 10)

#define SEL_CODE 0x08
#define SEL_DATA 0x10
#define SEL_TSS  0x18

/* kvm_run's exit union as KVM_EXIT_MEMORY_FAULT fills it (Linux 6.8+). */
struct memory_fault_exit {
	uint64_t flags;
	uint64_t gpa;
	uint64_t size;
};
#define EXIT_MEMORY_FAULT 39
#define EXIT_HYPERCALL 3

static int fail(struct guest *g, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct guest *g, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(g->error, sizeof(g->error), fmt, ap);
	va_end(ap);
	return -err;
}

const char *const *guest_image_names(void)
{
	static const char *names[32];

	for (int i = 0; guest_images[i].name && i < 31; i++)
		names[i] = guest_images[i].name;
	return names;
}

static const struct guest_image_entry *find_image(const char *name)
{
	for (int i = 0; guest_images[i].name; i++)
		if (strcmp(guest_images[i].name, name) == 0)
			return &guest_images[i];
	return NULL;
}

static void *gpa_to_host(struct guest *g, uint64_t gpa)
{
	return g->ram_host + gpa;
}

static void write_page_tables(struct guest *g, uint64_t gib)
{
	uint64_t *pml4 = gpa_to_host(g, GUEST_PML4_GPA);
	uint64_t *pdpt = gpa_to_host(g, GUEST_PDPT_GPA);

	memset(pml4, 0, 4096);
	memset(pdpt, 0, 4096);
	pml4[0] = GUEST_PDPT_GPA | PTE_P | PTE_RW;
	for (uint64_t i = 0; i < gib; i++) {
		uint64_t pd_gpa = GUEST_PD_GPA + i * 4096;
		uint64_t *pd = gpa_to_host(g, pd_gpa);

		pdpt[i] = pd_gpa | PTE_P | PTE_RW;
		for (uint64_t j = 0; j < 512; j++)
			pd[j] = ((i << 30) + (j << 21)) | PTE_P | PTE_RW | PTE_PS;
	}
}

/* The GDT is there for completeness; KVM uses the cached segments below. */
static void write_gdt(struct guest *g)
{
	uint64_t *gdt = gpa_to_host(g, GUEST_GDT_GPA);

	memset(gdt, 0, 4096);
	gdt[SEL_CODE / 8] = 0x00af9b000000ffffULL;	/* 64-bit code */
	gdt[SEL_DATA / 8] = 0x00cf93000000ffffULL;	/* data */
	gdt[SEL_TSS / 8] = 0x00008b0000000067ULL;	/* busy 64-bit TSS */
}

static void set_seg(struct kvm_segment *s, uint16_t sel, uint8_t type,
		    bool code)
{
	memset(s, 0, sizeof(*s));
	s->selector = sel;
	s->limit = 0xffffffff;
	s->type = type;
	s->present = 1;
	s->s = 1;
	s->g = 1;
	s->l = code;
	s->db = !code;
}

static int setup_cpuid(struct guest *g)
{
	struct kvm_cpuid2 *cpuid;
	int nent = 64, ret;

	for (;;) {
		cpuid = calloc(1, sizeof(*cpuid) +
				  nent * sizeof(struct kvm_cpuid_entry2));
		if (!cpuid)
			return fail(g, ENOMEM, "out of memory for CPUID");
		cpuid->nent = nent;
		if (ioctl(g->kvm_fd, KVM_GET_SUPPORTED_CPUID, cpuid) == 0)
			break;
		ret = errno;
		free(cpuid);
		if (ret != E2BIG || nent >= 4096)
			return fail(g, ret, "KVM_GET_SUPPORTED_CPUID: %s",
				    strerror(ret));
		nent *= 2;
	}
	/* Long mode is only accepted once the guest's CPUID says LM. */
	ret = ioctl(g->vcpu_fd, KVM_SET_CPUID2, cpuid) < 0 ? errno : 0;
	free(cpuid);
	if (ret)
		return fail(g, ret, "KVM_SET_CPUID2: %s", strerror(ret));
	return 0;
}

static int setup_long_mode(struct guest *g)
{
	struct kvm_sregs sregs;

	if (ioctl(g->vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return fail(g, errno, "KVM_GET_SREGS: %s", strerror(errno));
	sregs.cr0 = CR0_PE | CR0_MP | CR0_ET | CR0_NE | CR0_WP | CR0_PG;
	sregs.cr3 = GUEST_PML4_GPA;
	sregs.cr4 = CR4_PAE;
	sregs.efer = EFER_LME | EFER_LMA;
	set_seg(&sregs.cs, SEL_CODE, 11, true);
	set_seg(&sregs.ds, SEL_DATA, 3, false);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	memset(&sregs.tr, 0, sizeof(sregs.tr));
	sregs.tr.selector = SEL_TSS;
	sregs.tr.limit = 0x67;
	sregs.tr.type = 11;
	sregs.tr.present = 1;
	sregs.gdt.base = GUEST_GDT_GPA;
	sregs.gdt.limit = 5 * 8 - 1;	/* the TSS descriptor takes 16 bytes */
	if (ioctl(g->vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return fail(g, errno, "KVM_SET_SREGS: %s", strerror(errno));
	return 0;
}

static int create_vcpu(struct guest *g)
{
	int vm_fd = gmem_vm_fd(g->vm);
	long size;

	size = ioctl(g->kvm_fd, KVM_GET_VCPU_MMAP_SIZE, 0);
	if (size <= 0)
		return fail(g, errno, "KVM_GET_VCPU_MMAP_SIZE: %s",
			    strerror(errno));
	g->vcpu_fd = ioctl(vm_fd, KVM_CREATE_VCPU, 0);
	if (g->vcpu_fd < 0)
		return fail(g, errno, "KVM_CREATE_VCPU: %s", strerror(errno));
	g->run = mmap(NULL, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED,
		      g->vcpu_fd, 0);
	if (g->run == MAP_FAILED) {
		g->run = NULL;
		return fail(g, errno, "mmap of kvm_run: %s", strerror(errno));
	}
	g->run_size = (size_t)size;
	size = setup_cpuid(g);
	if (size < 0)
		return (int)size;
	return setup_long_mode(g);
}

/*
 * The vCPU thread takes the RAM's policy where the file cannot hold it;
 * the thread's own policy is kept to be given back on destroy.
 */
#define NODE_BITS (8 * sizeof(((struct guest *)0)->saved_nodes))

static int save_thread_policy(struct guest *g)
{
	if (syscall(SYS_get_mempolicy, &g->saved_mode, g->saved_nodes,
		    NODE_BITS + 1, NULL, 0) < 0)
		return fail(g, errno, "get_mempolicy: %s", strerror(errno));
	return 0;
}

static void restore_thread_policy(struct guest *g)
{
	bool dflt = (g->saved_mode & ~(MPOL_F_STATIC_NODES |
				       MPOL_F_RELATIVE_NODES)) == MPOL_DEFAULT;

	syscall(SYS_set_mempolicy, g->saved_mode,
		dflt ? NULL : g->saved_nodes, dflt ? 0 : NODE_BITS + 1);
}

static int lib_fail(struct guest *g, int ret, const char *what)
{
	return fail(g, -ret, "%s: %s", what, gmem_last_error());
}

int guest_create(struct guest *g, const struct guest_config *cfg)
{
	struct gmem_file_args fa = { 0 };
	struct gmem_bind_args ba = { 0 };
	uint64_t gib = cfg->map_gib ? cfg->map_gib : 4;
	int ret;

	memset(g, 0, sizeof(*g));
	g->kvm_fd = g->vcpu_fd = -1;
	if (cfg->ram_size < GUEST_BOOT_SIZE)
		return fail(g, EINVAL, "guest RAM must be at least %llu bytes",
			    (unsigned long long)GUEST_BOOT_SIZE);
	if (gib > GUEST_MAX_MAPPED_GIB)
		return fail(g, EINVAL, "at most %llu GiB can be mapped",
			    (unsigned long long)GUEST_MAX_MAPPED_GIB);
	g->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (g->kvm_fd < 0)
		return fail(g, errno, "/dev/kvm: %s", strerror(errno));
	if (cfg->vm) {
		g->vm = cfg->vm;
	} else {
		ret = gmem_vm_create_type(cfg->vm_type, &g->vm);
		if (ret < 0)
			goto lib_error_vm;
		g->owns_vm = true;
	}
	fa.size = cfg->ram_size;
	fa.backend = cfg->backend;
	fa.vm = g->vm;
	fa.page_size = cfg->page_size;
	fa.name = "guest-ram";
	ret = gmem_file_create(&fa, &g->ram);
	if (ret < 0) {
		lib_fail(g, ret, "creating guest RAM");
		goto destroy;
	}
	if (cfg->numa) {
		ret = gmem_file_set_numa_policy(g->ram, 0, cfg->ram_size,
						cfg->numa);
		if (ret < 0) {
			lib_fail(g, ret, "NUMA policy of guest RAM");
			goto destroy;
		}
		if (gmem_file_numa_method(g->ram) == GMEM_NUMA_VIA_THREAD) {
			ret = save_thread_policy(g);
			if (ret < 0)
				goto destroy;
			ret = gmem_numa_bind_thread(cfg->numa);
			if (ret < 0) {
				lib_fail(g, ret, "NUMA policy of the vCPU thread");
				goto destroy;
			}
			g->thread_policy = true;
		}
	}
	g->ram_host = gmem_file_host_addr(g->ram);
	if (!g->ram_host) {
		ret = fail(g, EINVAL, "the runner writes its boot region "
			   "through the host mapping, and this file has none");
		goto destroy;
	}
	ba.length = cfg->ram_size;
	ba.slot = GMEM_SLOT_ANY;
	ret = gmem_bind(g->vm, g->ram, &ba, &g->ram_binding);
	if (ret < 0) {
		lib_fail(g, ret, "binding guest RAM");
		goto destroy;
	}
	write_gdt(g);
	write_page_tables(g, gib);
	ret = create_vcpu(g);
	if (ret < 0)
		goto destroy;
	return 0;

lib_error_vm:
	lib_fail(g, ret, "creating the VM");
destroy:
	{
		/* Keep the first reason; teardown may overwrite g->error. */
		char why[sizeof(g->error)];

		memcpy(why, g->error, sizeof(why));
		guest_destroy(g);
		memcpy(g->error, why, sizeof(why));
	}
	return ret;
}

int guest_load(struct guest *g, const char *image, const uint64_t args[4])
{
	const struct guest_image_entry *img = find_image(image);
	struct kvm_regs regs;
	size_t len;

	if (!img)
		return fail(g, ENOENT, "no guest program \"%s\"", image);
	len = (size_t)(img->end - img->start);
	if (len > GUEST_CODE_MAX)
		return fail(g, E2BIG, "guest program %s is %zu bytes, over "
			    "%llu", image, len,
			    (unsigned long long)GUEST_CODE_MAX);
	/* Zero the whole code area: flat binaries carry no .bss. */
	memset(gpa_to_host(g, GUEST_CODE_GPA), 0, GUEST_CODE_MAX);
	memcpy(gpa_to_host(g, GUEST_CODE_GPA), img->start, len);
	memset(gpa_to_host(g, GUEST_MAILBOX_GPA), 0,
	       sizeof(struct guest_mailbox));
	memset(&regs, 0, sizeof(regs));
	regs.rip = GUEST_CODE_GPA;
	regs.rsp = GUEST_STACK_TOP;
	regs.rflags = 0x2;
	regs.rdi = args ? args[0] : 0;
	regs.rsi = args ? args[1] : 0;
	regs.rdx = args ? args[2] : 0;
	regs.rcx = args ? args[3] : 0;
	if (ioctl(g->vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return fail(g, errno, "KVM_SET_REGS: %s", strerror(errno));
	g->image = img->name;
	return 0;
}

static uint64_t guest_rip(struct guest *g)
{
	struct kvm_regs regs;

	if (ioctl(g->vcpu_fd, KVM_GET_REGS, &regs) < 0)
		return ~0ULL;
	return regs.rip;
}

int guest_run(struct guest *g, struct guest_ucall *uc)
{
	struct kvm_run *run = g->run;
	struct memory_fault_exit *mf;
	volatile struct guest_mailbox *mb =
		gpa_to_host(g, GUEST_MAILBOX_GPA);

	for (;;) {
		int result = ioctl(g->vcpu_fd, KVM_RUN, 0) < 0 ? -errno : 0;

		if (g->handle_conversions) {
			int handled = gmem_vcpu_handle_exit(g->vm, run, result);

			if (handled < 0)
				return fail(g, -handled, "guest %s: a conversion "
					    "it asked for failed: %s", g->image,
					    gmem_last_error());
			if (handled) {
				g->conversion_exits++;
				continue;
			}
		}
		if (result < 0) {
			int err = -result;

			if (err == EINTR || err == EAGAIN)
				continue;
			/* KVM reports a memory fault with KVM_RUN failing. */
			if ((err == EFAULT || err == EHWPOISON) &&
			    run->exit_reason == EXIT_MEMORY_FAULT) {
				mf = (struct memory_fault_exit *)&run->mmio;
				return fail(g, err, "guest %s: KVM memory fault "
					    "at 0x%llx+0x%llx (flags 0x%llx)",
					    g->image,
					    (unsigned long long)mf->gpa,
					    (unsigned long long)mf->size,
					    (unsigned long long)mf->flags);
			}
			return fail(g, err, "KVM_RUN: %s", strerror(err));
		}
		g->exits++;
		switch (run->exit_reason) {
		case KVM_EXIT_IO:
			if (run->io.port != GUEST_UCALL_PORT && g->port_io) {
				int r = g->port_io(g, run->io.port,
						   run->io.direction ==
						   KVM_EXIT_IO_OUT,
						   (uint8_t *)run +
						   run->io.data_offset,
						   run->io.size, run->io.count,
						   g->port_opaque);

				if (r < 0)
					return fail(g, -r, "%s: port 0x%x: %s",
						    g->image, run->io.port,
						    strerror(-r));
				continue;
			}
			if (run->io.port != GUEST_UCALL_PORT ||
			    run->io.direction != KVM_EXIT_IO_OUT)
				return fail(g, EPROTO, "%s: unexpected port "
					    "I/O to 0x%x", g->image,
					    run->io.port);
			uc->cmd = mb->cmd;
			for (int i = 0; i < 3; i++)
				uc->arg[i] = mb->arg[i];
			if (uc->cmd == UCALL_ASSERT)
				return fail(g, EFAULT, "guest %s: assertion "
					    "failed at line %llu (0x%llx vs "
					    "0x%llx)", g->image,
					    (unsigned long long)uc->arg[0],
					    (unsigned long long)uc->arg[1],
					    (unsigned long long)uc->arg[2]);
			return 0;
		case KVM_EXIT_MMIO:
			if (g->unbacked_reads_ones) {
				g->mmio_exits++;
				if (!run->mmio.is_write)
					memset(run->mmio.data, 0xff,
					       sizeof(run->mmio.data));
				continue;
			}
			return fail(g, EFAULT, "guest %s: access to unbacked "
				    "guest-physical 0x%llx at rip 0x%llx",
				    g->image,
				    (unsigned long long)run->mmio.phys_addr,
				    (unsigned long long)guest_rip(g));
		case KVM_EXIT_HLT:
			return fail(g, EPROTO, "guest %s halted without "
				    "reporting, rip 0x%llx", g->image,
				    (unsigned long long)guest_rip(g));
		case KVM_EXIT_SHUTDOWN:
			return fail(g, EFAULT, "guest %s: triple fault near "
				    "rip 0x%llx", g->image,
				    (unsigned long long)guest_rip(g));
		case EXIT_HYPERCALL:
			return fail(g, EPROTO, "guest %s: hypercall %llu exit not "
				    "handled", g->image,
				    (unsigned long long)run->hypercall.nr);
		case KVM_EXIT_FAIL_ENTRY:
			return fail(g, EIO, "guest %s: VM entry failed, "
				    "reason 0x%llx", g->image,
				    (unsigned long long)run->fail_entry
					    .hardware_entry_failure_reason);
		case KVM_EXIT_INTERNAL_ERROR:
			return fail(g, EIO, "guest %s: KVM internal error %u "
				    "at rip 0x%llx", g->image,
				    run->internal.suberror,
				    (unsigned long long)guest_rip(g));
		default:
			return fail(g, EIO, "guest %s: unexpected exit %u",
				    g->image, run->exit_reason);
		}
	}
}

void guest_destroy(struct guest *g)
{
	if (g->run)
		munmap(g->run, g->run_size);
	if (g->vcpu_fd >= 0)
		close(g->vcpu_fd);
	if (g->ram_binding)
		gmem_unbind(g->ram_binding);
	if (g->ram)
		gmem_file_close(g->ram);
	if (g->owns_vm && g->vm)
		gmem_vm_close(g->vm);
	if (g->kvm_fd >= 0)
		close(g->kvm_fd);
	if (g->thread_policy) {
		restore_thread_policy(g);
		g->thread_policy = false;
	}
	g->run = NULL;
	g->vcpu_fd = g->kvm_fd = -1;
	g->ram_binding = NULL;
	g->ram = NULL;
	g->vm = NULL;
}

/* Look name up in the binary stats of fd (KVM_GET_STATS_FD). */
static int read_stat(int fd, const char *name, uint64_t *value)
{
	struct kvm_stats_header h;
	size_t dsize;
	char *descs;
	int sfd, ret = -ENOENT;

	sfd = ioctl(fd, KVM_GET_STATS_FD, NULL);
	if (sfd < 0)
		return -errno;
	if (pread(sfd, &h, sizeof(h), 0) != sizeof(h)) {
		close(sfd);
		return -EIO;
	}
	dsize = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = calloc(h.num_desc, dsize);
	if (!descs) {
		close(sfd);
		return -ENOMEM;
	}
	if (pread(sfd, descs, h.num_desc * dsize, h.desc_offset) ==
	    (ssize_t)(h.num_desc * dsize)) {
		for (uint32_t i = 0; i < h.num_desc; i++) {
			struct kvm_stats_desc *d =
				(struct kvm_stats_desc *)(descs + i * dsize);

			if (strncmp(d->name, name, h.name_size))
				continue;
			ret = pread(sfd, value, sizeof(*value),
				    h.data_offset + d->offset) ==
			      sizeof(*value) ? 0 : -EIO;
			break;
		}
	}
	free(descs);
	close(sfd);
	return ret;
}

int guest_kvm_stat(struct guest *g, const char *name, uint64_t *value)
{
	int ret = read_stat(gmem_vm_fd(g->vm), name, value);

	if (ret == -ENOENT)
		ret = read_stat(g->vcpu_fd, name, value);
	return ret;
}

uint64_t guest_host_check_pages(const void *p, uint64_t len, uint64_t seed,
				uint64_t base, bool zero)
{
	for (uint64_t off = 0; off < len; off += GUEST_PAGE_SIZE) {
		uint64_t word = guest_page_word(base + off);
		uint64_t at = off + word * 8;
		uint64_t want = zero ? 0 : guest_pattern(seed, (base + off) / 8 +
							   word);

		if (*(const volatile uint64_t *)((const uint8_t *)p + at) != want)
			return at;
	}
	return GUEST_CHECK_OK;
}

void guest_host_fill_pages(void *p, uint64_t len, uint64_t seed,
			   uint64_t base)
{
	for (uint64_t off = 0; off < len; off += GUEST_PAGE_SIZE) {
		uint64_t word = guest_page_word(base + off);

		*(volatile uint64_t *)((uint8_t *)p + off + word * 8) =
			guest_pattern(seed, (base + off) / 8 + word);
	}
}

static int expect(struct guest *g, const struct guest_ucall *uc, uint64_t cmd)
{
	if (uc->cmd != cmd)
		return fail(g, EPROTO, "guest %s: call %llu, expected %llu",
			    g->image, (unsigned long long)uc->cmd,
			    (unsigned long long)cmd);
	return 0;
}

int guest_memcmd_start(struct guest *g)
{
	struct guest_ucall uc;
	int ret;

	ret = guest_load(g, "memcmd", NULL);
	if (ret < 0)
		return ret;
	ret = guest_run(g, &uc);
	return ret < 0 ? ret : expect(g, &uc, UCALL_REQ);
}

int guest_memcmd(struct guest *g, uint64_t op, uint64_t a0, uint64_t a1,
		 uint64_t a2, uint64_t a3, uint64_t *result)
{
	volatile struct guest_mailbox *mb =
		gpa_to_host(g, GUEST_MAILBOX_GPA);
	struct guest_ucall uc;
	int ret;

	mb->op = op;
	mb->op_arg[0] = a0;
	mb->op_arg[1] = a1;
	mb->op_arg[2] = a2;
	mb->op_arg[3] = a3;
	ret = guest_run(g, &uc);
	if (ret < 0)
		return ret;
	ret = expect(g, &uc, op == MEMCMD_EXIT ? UCALL_DONE : UCALL_REQ);
	if (ret == 0 && result)
		*result = uc.arg[0];
	return ret;
}

int guest_memcmd_stop(struct guest *g)
{
	return guest_memcmd(g, MEMCMD_EXIT, 0, 0, 0, 0, NULL);
}
