// SPDX-License-Identifier: MIT
/*
 * main.c - gmem-vmm's options (in QEMU's words) and the order in which the
 * machine is put together: KVM VM, interrupt chips, RAM, kernel, vCPU, run.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "ctl.h"
#include "vmm.h"

/*
 * Where KVM on Intel keeps the real-mode TSS: three pages that must be
 * outside RAM.  Just under the BIOS area at the top of 4 GiB, as PCs do.
 */
#define INTEL_TSS_ADDR	0xfffbd000ULL

/* The memslots libgmem may use; a VMM keeps the rest for its devices. */
#define GMEM_SLOT_FIRST	0
#define GMEM_SLOT_COUNT	8

double vmm_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void vmm_log(const char *fmt, ...)
{
	va_list ap;

	fflush(stdout);
	fputs("gmem-vmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

void vmm_verbose(const struct vmm *v, const char *fmt, ...)
{
	va_list ap;

	if (!v->opts.verbose)
		return;
	fflush(stdout);
	fputs("gmem-vmm: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

const char *vmm_size_str(uint64_t bytes, char *buf, size_t len)
{
	if (bytes >= GIB && bytes % GIB == 0)
		snprintf(buf, len, "%llu GiB",
			 (unsigned long long)(bytes / GIB));
	else if (bytes >= MIB && bytes % MIB == 0)
		snprintf(buf, len, "%llu MiB",
			 (unsigned long long)(bytes / MIB));
	else if (bytes >= MIB)
		snprintf(buf, len, "%.1f MiB", (double)bytes / MIB);
	else
		snprintf(buf, len, "%llu KiB",
			 (unsigned long long)((bytes + KIB - 1) / KIB));
	return buf;
}

static void usage(FILE *f)
{
	fprintf(f,
"usage: gmem-vmm --kernel BZIMAGE [--initrd FILE] [--append CMDLINE] [OPTION]...\n"
"Boot a Linux bzImage on one vCPU whose RAM is a libgmem file.  The guest's\n"
"serial console (COM1, use console=ttyS0) goes to stdout; gmem-vmm's own\n"
"lines go to stderr.  Options follow QEMU's names; one or two dashes work.\n"
"\n"
"  --kernel FILE          bzImage with the 64-bit boot protocol (2.12+)\n"
"  --initrd FILE          initramfs, loaded as high as the kernel allows\n"
"  --append CMDLINE       kernel command line\n"
"  -m SIZE                guest RAM, e.g. 512M or 1G; no suffix means MiB\n"
"                         (default 256M)\n"
"  --mem-backend NAME     guest_memfd (default), memfd or hugetlb\n"
"  --hugepage-size SIZE   hugetlb page size: 2M (default) or 1G\n"
"  --host-nodes LIST      host NUMA nodes for the RAM, e.g. 0 or 0-1\n"
"  --policy MODE          bind, preferred or interleave (with --host-nodes)\n"
"  --prealloc             allocate all RAM before the guest starts\n"
"  --stats-dir DIR        export figures for 'gmemctl stats' there\n"
"                         (default /run/gmem)\n"
"  -v, --verbose          say more about the machine and its exits\n"
"  -h, --help             this text\n"
"\n"
"The guest powers off by writing its status to port 0x%x (see vmm/ctl.h);\n"
"gmem-vmm then exits with that status.  Other exit statuses: %d the VMM\n"
"failed, %d bad options or input files, %d the guest reset or stopped\n"
"without a status.\n",
		CTL_PORT_BASE + CTL_REG_EXIT, VMM_EXIT_ERROR, VMM_EXIT_USAGE,
		VMM_EXIT_NO_STATUS);
}

/* QEMU's -m: a number of MiB, or a number with a K, M, G or T suffix. */
static int parse_ram_size(const char *s, uint64_t *out)
{
	unsigned long long n;
	unsigned int shift = 20;
	char *end;

	if (!isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	n = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (toupper((unsigned char)*end)) {
	case '\0': break;
	case 'K': shift = 10; end++; break;
	case 'M': shift = 20; end++; break;
	case 'G': shift = 30; end++; break;
	case 'T': shift = 40; end++; break;
	default: return -EINVAL;
	}
	if ((*end == 'B' || *end == 'b') && end[1] == '\0')
		end++;
	if (*end || n == 0 || n > (~0ULL >> shift))
		return -EINVAL;
	*out = (uint64_t)n << shift;
	return 0;
}

enum {
	OPT_KERNEL = 256, OPT_INITRD, OPT_APPEND, OPT_BACKEND, OPT_HUGEPAGE,
	OPT_NODES, OPT_POLICY, OPT_PREALLOC, OPT_STATS_DIR,
};

static int parse_options(struct vmm_opts *o, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "kernel", required_argument, NULL, OPT_KERNEL },
		{ "initrd", required_argument, NULL, OPT_INITRD },
		{ "append", required_argument, NULL, OPT_APPEND },
		{ "mem-backend", required_argument, NULL, OPT_BACKEND },
		{ "hugepage-size", required_argument, NULL, OPT_HUGEPAGE },
		{ "host-nodes", required_argument, NULL, OPT_NODES },
		{ "policy", required_argument, NULL, OPT_POLICY },
		{ "prealloc", no_argument, NULL, OPT_PREALLOC },
		{ "stats-dir", required_argument, NULL, OPT_STATS_DIR },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	enum gmem_backend be;
	int c;

	o->ram_size = 256 * MIB;
	o->backend = GMEM_BACKEND_GUEST_MEMFD;
	o->append = "";
	opterr = 0;
	/* _only: QEMU spells its options with one dash (-kernel, -m). */
	while ((c = getopt_long_only(argc, argv, ":m:vh", longopts,
				     NULL)) != -1) {
		switch (c) {
		case 'm':
			if (parse_ram_size(optarg, &o->ram_size) < 0) {
				vmm_log("error: -m %s: not a size (e.g. 512M, "
					"1G)", optarg);
				return -EINVAL;
			}
			break;
		case OPT_KERNEL: o->kernel = optarg; break;
		case OPT_INITRD: o->initrd = optarg; break;
		case OPT_APPEND: o->append = optarg; break;
		case OPT_BACKEND:
			if (gmem_backend_parse(optarg, &be) < 0 ||
			    be == GMEM_BACKEND_AUTO) {
				vmm_log("error: --mem-backend %s: use "
					"guest_memfd, memfd or hugetlb",
					optarg);
				return -EINVAL;
			}
			o->backend = be;
			break;
		case OPT_HUGEPAGE:
			if (!strcmp(optarg, "2M") || !strcmp(optarg, "2m")) {
				o->hugepage_size = 2 * MIB;
			} else if (!strcmp(optarg, "1G") ||
				   !strcmp(optarg, "1g")) {
				o->hugepage_size = GIB;
			} else {
				vmm_log("error: --hugepage-size %s: use 2M or "
					"1G", optarg);
				return -EINVAL;
			}
			break;
		case OPT_NODES: o->host_nodes = optarg; break;
		case OPT_POLICY: o->policy = optarg; break;
		case OPT_PREALLOC: o->prealloc = true; break;
		case OPT_STATS_DIR: o->stats_dir = optarg; break;
		case 'v': o->verbose++; break;
		case 'h': usage(stdout); exit(0);
		case ':':
			vmm_log("error: %s needs a value", argv[optind - 1]);
			return -EINVAL;
		default:
			vmm_log("error: unknown option %s (see --help)",
				argv[optind - 1]);
			return -EINVAL;
		}
	}
	if (optind < argc) {
		vmm_log("error: unexpected argument %s (see --help)",
			argv[optind]);
		return -EINVAL;
	}
	if (!o->kernel) {
		vmm_log("error: --kernel is required (see --help)");
		return -EINVAL;
	}
	if (o->hugepage_size && o->backend != GMEM_BACKEND_HUGETLB) {
		vmm_log("error: --hugepage-size needs --mem-backend hugetlb");
		return -EINVAL;
	}
	/* As in QEMU: nodes need a policy, and a policy needs nodes. */
	if (!o->host_nodes != !o->policy) {
		vmm_log("error: --host-nodes and --policy go together");
		return -EINVAL;
	}
	if (o->policy && !strcmp(o->policy, "default")) {
		vmm_log("error: --policy default takes no --host-nodes");
		return -EINVAL;
	}
	/* The library checks the nodes against this host's. */
	if (o->policy &&
	    gmem_numa_policy_parse(o->policy, o->host_nodes, &o->numa) < 0) {
		vmm_log("error: --policy %s --host-nodes %s: %s", o->policy,
			o->host_nodes, gmem_last_error());
		return -EINVAL;
	}
	return 0;
}

/* The VM and the PC parts KVM models in the kernel: PIC, IOAPIC, PIT. */
static int create_vm(struct vmm *v)
{
	struct kvm_pit_config pit = { .flags = KVM_PIT_SPEAKER_DUMMY };
	int api;

	v->kvm_fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);
	if (v->kvm_fd < 0) {
		vmm_log("error: /dev/kvm: %s", strerror(errno));
		return -errno;
	}
	api = ioctl(v->kvm_fd, KVM_GET_API_VERSION, 0);
	if (api != KVM_API_VERSION) {
		vmm_log("error: KVM API version %d, expected %d", api,
			KVM_API_VERSION);
		return -EINVAL;
	}
	v->vm_fd = ioctl(v->kvm_fd, KVM_CREATE_VM, 0);
	if (v->vm_fd < 0) {
		vmm_log("error: KVM_CREATE_VM: %s", strerror(errno));
		return -errno;
	}
	/* Only Intel needs it, but it is harmless elsewhere. */
	if (ioctl(v->vm_fd, KVM_SET_TSS_ADDR, INTEL_TSS_ADDR) < 0) {
		vmm_log("error: KVM_SET_TSS_ADDR: %s", strerror(errno));
		return -errno;
	}
	/*
	 * Two 8259 PICs and an IOAPIC in the kernel, so interrupts and the
	 * guest's HLT never come out to us.  Must come before the vCPU.
	 */
	if (ioctl(v->vm_fd, KVM_CREATE_IRQCHIP, 0) < 0) {
		vmm_log("error: KVM_CREATE_IRQCHIP: %s", strerror(errno));
		return -errno;
	}
	/*
	 * The 8254 timer on IRQ 0, which Linux calibrates against; the
	 * dummy speaker keeps port 0x61 in the kernel too.
	 */
	if (ioctl(v->vm_fd, KVM_CREATE_PIT2, &pit) < 0) {
		vmm_log("error: KVM_CREATE_PIT2: %s", strerror(errno));
		return -errno;
	}
	return 0;
}

int main(int argc, char **argv)
{
	static struct vmm vm;
	struct vmm *v = &vm;
	int ret, status;

	v->t_start = vmm_now();
	v->kvm_fd = v->vm_fd = v->cpu.fd = -1;
	v->vm_stats.fd = v->cpu_stats.fd = -1;

	if (parse_options(&v->opts, argc, argv) < 0)
		return VMM_EXIT_USAGE;
	/* Bad input files are found before anything is allocated. */
	if (boot_plan(v) < 0)
		return VMM_EXIT_USAGE;
	status = VMM_EXIT_ERROR;
	vmm_stop_on_signals();
	if (create_vm(v) < 0)
		goto out;
	ret = gmem_vm_open(v->vm_fd, GMEM_SLOT_FIRST, GMEM_SLOT_COUNT,
			   &v->mem.vm);
	if (ret < 0) {
		vmm_log("error: gmem_vm_open: %s", gmem_last_error());
		goto out;
	}
	if (mem_create(v) < 0 || boot_load(v) < 0 || cpu_create(v) < 0)
		goto out;
	if (gmem_stats_export_start(v->opts.stats_dir, 500) < 0)
		vmm_log("warning: no stats for gmemctl: %s", gmem_last_error());
	if (kvm_stats_open(&v->vm_stats, v->vm_fd) < 0 ||
	    kvm_stats_open(&v->cpu_stats, v->cpu.fd) < 0)
		vmm_log("warning: no KVM binary stats on this kernel");
	/* The vCPU runs on this thread, so its faults follow this policy. */
	if (mem_bind_vcpu_thread(v) < 0)
		goto out;
	serial_init(&v->com1);
	v->t_ready = vmm_now() - v->t_start;
	vmm_log("booting %s: %s of %s RAM%s, ready after %.3f s",
		v->opts.kernel,
		gmem_backend_name(gmem_file_backend(v->mem.ram)),
		vmm_size_str(v->mem.size, (char[24]){ 0 }, 24),
		v->opts.prealloc ? " (preallocated)" : "", v->t_ready);

	ret = vmm_run(v);
	serial_flush(&v->com1);
	if (ret >= 0) {
		status = ret;
		vmm_log("stopped %.3f s after gmem-vmm started",
			vmm_now() - v->t_start);
		mem_report(v, "at exit");
		kvm_stats_report(v, "at exit");
	}
out:
	gmem_stats_export_stop();
	kvm_stats_close(&v->cpu_stats);
	kvm_stats_close(&v->vm_stats);
	cpu_destroy(v);
	mem_destroy(v);
	boot_free(v);
	if (v->vm_fd >= 0)
		close(v->vm_fd);
	if (v->kvm_fd >= 0)
		close(v->kvm_fd);
	fflush(stdout);
	return status;
}
