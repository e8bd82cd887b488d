// SPDX-License-Identifier: MIT
/* cmd_probe.c - "gmemctl probe": what this host offers, for a person or JSON. */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include "gmem.h"
#include "gmemctl.h"

struct backend_check {
	enum gmem_backend backend;
	int usable;
	char why[256];
};

/* Try each backend for real with the smallest file it takes. */
static void check_backends(const struct gmem_host *h, struct backend_check *out)
{
	static const enum gmem_backend order[] = {
		GMEM_BACKEND_GUEST_MEMFD, GMEM_BACKEND_MEMFD, GMEM_BACKEND_HUGETLB,
	};
	struct gmem_vm *vm = NULL;

	if (h->kvm_present && gmem_vm_create(&vm) < 0)
		vm = NULL;	/* the reason stays in gmem_last_error() */
	for (int i = 0; i < 3; i++) {
		struct gmem_file_args a = { 0 };
		struct gmem_file *f;

		a.backend = order[i];
		a.vm = vm;
		a.size = order[i] == GMEM_BACKEND_HUGETLB && h->nr_hugepage_sizes
			 ? h->hugepages[0].page_size : 4096;
		out[i].backend = order[i];
		if (order[i] == GMEM_BACKEND_GUEST_MEMFD && !vm) {
			snprintf(out[i].why, sizeof(out[i].why),
				 "needs a KVM VM: %s", h->kvm_present ?
				 gmem_last_error() : h->kvm_error);
			continue;
		}
		out[i].usable = gmem_file_create(&a, &f) == 0;
		if (out[i].usable)
			gmem_file_close(f);
		else
			snprintf(out[i].why, sizeof(out[i].why), "%s",
				 gmem_last_error());
	}
	if (vm)
		gmem_vm_close(vm);
}

static const char *yes(int v)
{
	return v ? "yes" : "no";
}

/* The caps of every VM type, each asked of a VM of that type. */
static void probe_types(struct gmem_vm_caps caps[GMEM_VM_TYPE_COUNT])
{
	for (uint32_t t = 0; t < GMEM_VM_TYPE_COUNT; t++)
		if (gmem_probe_vm_type(t, &caps[t]) < 0)
			caps[t] = (struct gmem_vm_caps){ .type = t };
}

static void gmem_flags(uint64_t f, char *buf, size_t len)
{
	snprintf(buf, len, "%s%s%s",
		 f & GMEM_KVM_GUEST_MEMFD_FLAG_MMAP ? " mmap" : "",
		 f & GMEM_KVM_GUEST_MEMFD_FLAG_INIT_SHARED ? " init_shared" : "",
		 f ? "" : " none");
}

/* What the kernel promises about private memory, in one sentence. */
static const char *private_guarantee(const struct gmem_vm_caps *c)
{
	if (!(c->memory_attributes & GMEM_MEMORY_ATTRIBUTE_PRIVATE))
		return NULL;
	if (c->guest_memfd_flags & GMEM_KVM_GUEST_MEMFD_FLAG_MMAP)
		return "the kernel refuses host access to private pages "
		       "(SIGBUS through any mapping); libgmem never maps them";
	return "guest_memfd cannot be mapped on this type at all; libgmem "
	       "never tries";
}

/* The kernel paths to the IOMMU, and what is known about MAP_FILE. */
static void print_dma(const struct gmem_dma_host *d)
{
	if (d->vfio_type1)
		printf("  VFIO type1        usable (a container offers the "
		       "type1v2 IOMMU; libgmem maps by address)\n");
	else
		printf("  VFIO type1        no: %s\n", d->vfio_error);
	if (d->iommufd)
		printf("  iommufd           usable (an IOAS can be "
		       "allocated)\n");
	else
		printf("  iommufd           no: %s\n", d->iommufd_error);
	if (d->iommufd_map_file == 1)
		printf("  IOAS_MAP_FILE     known to this kernel (a memfd "
		       "mapped by fd into an empty IOAS);\n"
		       "                    which "
		       "files it pins for a device shows only when mapped: "
		       "libgmem\n                    tries each file and maps "
		       "by address where it is refused\n");
	else if (d->iommufd_map_file == 0)
		printf("  IOAS_MAP_FILE     not in this kernel: libgmem maps by "
		       "address\n");
	else
		printf("  IOAS_MAP_FILE     not known (no usable iommufd)\n");
}

static void print_human(const struct gmem_host *h,
			const struct backend_check *b,
			const struct gmem_vm_caps *types,
			const struct gmem_dma_host *dma)
{
	const char *promise = NULL;
	char fl[64];
	char s1[32];

	if (h->kvm_present)
		printf("KVM                 yes, API version %d\n",
		       h->kvm_api_version);
	else
		printf("KVM                 no: %s\n", h->kvm_error);
	printf("  USER_MEMORY2      %s\n", yes(h->cap_user_memory2));
	printf("  GUEST_MEMFD       %s", yes(h->cap_guest_memfd));
	if (h->cap_guest_memfd)
		printf(", flags:%s%s%s",
		       h->cap_guest_memfd_flags & GMEM_KVM_GUEST_MEMFD_FLAG_MMAP
			       ? " mmap" : "",
		       h->cap_guest_memfd_flags &
				       GMEM_KVM_GUEST_MEMFD_FLAG_INIT_SHARED
			       ? " init_shared" : "",
		       h->cap_guest_memfd_flags ? "" : " none");
	printf("\n  MEMORY_ATTRIBUTES 0x%llx%s\n",
	       (unsigned long long)h->cap_memory_attributes,
	       h->cap_memory_attributes & (1ULL << 3) ? " (private memory)"
						       : " (no private memory)");
	printf("  VM_TYPES          0x%llx\n",
	       (unsigned long long)h->cap_vm_types);
	printf("  PRE_FAULT_MEMORY  %s\n", yes(h->cap_pre_fault_memory));
	printf("  MEMORY_FAULT_INFO %s\n", yes(h->cap_memory_fault_info));
	printf("  NR_MEMSLOTS       %d\n", h->cap_nr_memslots);
	printf("VM types            (each asked of a VM of its own)\n");
	for (uint32_t t = 0; t < GMEM_VM_TYPE_COUNT; t++) {
		const struct gmem_vm_caps *c = &types[t];

		if (!c->supported) {
			printf("  %-17s no\n", gmem_vm_type_name(t));
			continue;
		}
		gmem_flags(c->guest_memfd_flags, fl, sizeof(fl));
		printf("  %-17s yes, attributes 0x%llx%s, guest_memfd flags:%s\n",
		       gmem_vm_type_name(t),
		       (unsigned long long)c->memory_attributes,
		       c->memory_attributes & GMEM_MEMORY_ATTRIBUTE_PRIVATE ?
		       " (PRIVATE)" : "", fl);
		if (!promise)
			promise = private_guarantee(c);
	}
	printf("private memory      %s\n", promise ? promise :
	       "no VM type has it here: guest memory is shared with the host");
	if (h->cap_guest_memfd)
		printf("guest_memfd NUMA    %s\n",
		       h->guest_memfd_numa == GMEM_NUMA_VIA_MBIND ?
		       "a policy is kept in the file (mbind)" :
		       "follows the allocating thread (no policy in the file)");
	printf("memfd               %s (hugetlb memfd: %s)\n", yes(h->memfd),
	       yes(h->memfd_hugetlb));
	printf("hugepage pools     ");
	if (!h->nr_hugepage_sizes)
		printf(" none");
	for (unsigned int i = 0; i < h->nr_hugepage_sizes; i++)
		printf(" %s: %llu free of %llu%s",
		       format_size(h->hugepages[i].page_size, s1, sizeof(s1)),
		       (unsigned long long)h->hugepages[i].free,
		       (unsigned long long)h->hugepages[i].total,
		       i + 1 < h->nr_hugepage_sizes ? ";" : "");
	printf("\nTHP                 enabled=%s shmem_enabled=%s\n",
	       h->thp_enabled, h->thp_shmem_enabled);
	printf("NUMA                %u node%s, mask 0x%llx\n", h->nr_numa_nodes,
	       h->nr_numa_nodes == 1 ? "" : "s",
	       (unsigned long long)h->numa_node_mask);
	printf("IOMMU               /dev/iommu %s, /dev/vfio/vfio %s\n",
	       h->iommu ? "present" : "absent", h->vfio ? "present" : "absent");
	print_dma(dma);
	printf("backends\n");
	for (int i = 0; i < 3; i++)
		printf("  %-17s %s%s\n", gmem_backend_name(b[i].backend),
		       b[i].usable ? "usable" : "unusable: ", b[i].why);
}

static void print_json(const struct gmem_host *h,
		       const struct backend_check *b,
		       const struct gmem_vm_caps *types,
		       const struct gmem_dma_host *dma)
{
	printf("{\n  \"kvm\": {\"present\": %s, \"api_version\": %d, \"error\": ",
	       h->kvm_present ? "true" : "false", h->kvm_api_version);
	json_string(stdout, h->kvm_error);
	printf(",\n    \"caps\": {\"user_memory2\": %d, \"guest_memfd\": %d, "
	       "\"guest_memfd_flags\": %llu, \"memory_attributes\": %llu, "
	       "\"vm_types\": %llu, \"pre_fault_memory\": %d, "
	       "\"memory_fault_info\": %d, \"nr_memslots\": %d}},\n",
	       h->cap_user_memory2, h->cap_guest_memfd,
	       (unsigned long long)h->cap_guest_memfd_flags,
	       (unsigned long long)h->cap_memory_attributes,
	       (unsigned long long)h->cap_vm_types, h->cap_pre_fault_memory,
	       h->cap_memory_fault_info, h->cap_nr_memslots);
	printf("  \"vm_types\": [");
	for (uint32_t t = 0; t < GMEM_VM_TYPE_COUNT; t++)
		printf("%s\n    {\"type\": %u, \"name\": \"%s\", "
		       "\"supported\": %s, \"memory_attributes\": %llu, "
		       "\"guest_memfd_flags\": %llu, \"pre_fault_memory\": %u, "
		       "\"exit_hypercalls\": %llu}", t ? "," : "", t,
		       gmem_vm_type_name(t),
		       types[t].supported ? "true" : "false",
		       (unsigned long long)types[t].memory_attributes,
		       (unsigned long long)types[t].guest_memfd_flags,
		       types[t].pre_fault_memory,
		       (unsigned long long)types[t].exit_hypercalls);
	printf("],\n  \"guest_memfd_numa\": \"%s\",\n",
	       h->guest_memfd_numa == GMEM_NUMA_VIA_MBIND ? "mbind" :
	       h->guest_memfd_numa == GMEM_NUMA_VIA_THREAD ? "thread" : "none");
	printf("  \"memfd\": %s, \"memfd_hugetlb\": %s,\n",
	       h->memfd ? "true" : "false", h->memfd_hugetlb ? "true" : "false");
	printf("  \"hugepages\": [");
	for (unsigned int i = 0; i < h->nr_hugepage_sizes; i++)
		printf("%s{\"page_size\": %llu, \"total\": %llu, \"free\": %llu}",
		       i ? ", " : "",
		       (unsigned long long)h->hugepages[i].page_size,
		       (unsigned long long)h->hugepages[i].total,
		       (unsigned long long)h->hugepages[i].free);
	printf("],\n  \"thp\": {\"enabled\": ");
	json_string(stdout, h->thp_enabled);
	printf(", \"shmem_enabled\": ");
	json_string(stdout, h->thp_shmem_enabled);
	printf("},\n  \"numa\": {\"nodes\": %u, \"mask\": %llu},\n",
	       h->nr_numa_nodes, (unsigned long long)h->numa_node_mask);
	printf("  \"iommu\": %s, \"vfio\": %s,\n",
	       h->iommu ? "true" : "false", h->vfio ? "true" : "false");
	printf("  \"dma\": {\"vfio\": %s, \"vfio_type1\": %s, "
	       "\"vfio_error\": ", dma->vfio ? "true" : "false",
	       dma->vfio_type1 ? "true" : "false");
	json_string(stdout, dma->vfio_error);
	printf(",\n    \"iommufd\": %s, \"iommufd_error\": ",
	       dma->iommufd ? "true" : "false");
	json_string(stdout, dma->iommufd_error);
	printf(", \"map_file\": \"%s\"},\n  \"backends\": {",
	       dma->iommufd_map_file == 1 ? "yes" :
	       dma->iommufd_map_file == 0 ? "no" : "unknown");
	for (int i = 0; i < 3; i++) {
		printf("%s\n    \"%s\": {\"usable\": %s, \"error\": ",
		       i ? "," : "", gmem_backend_name(b[i].backend),
		       b[i].usable ? "true" : "false");
		json_string(stdout, b[i].why);
		printf("}");
	}
	printf("\n  }\n}\n");
}

/* Every option; gmemctl complete lists them for the shell. */
const struct option probe_options[] = {
	{ "json", no_argument, NULL, 'j' },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 },
};

int cmd_probe(int argc, char **argv)
{
	struct gmem_vm_caps types[GMEM_VM_TYPE_COUNT];
	struct backend_check b[3];
	struct gmem_dma_host dma;
	struct gmem_host h;
	int json = 0, c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", probe_options,
				NULL)) != -1) {
		switch (c) {
		case 'j':
			json = 1;
			break;
		case 'h':
			printf("usage: gmemctl probe [--json]\n"
			       "Show KVM's guest-memory capabilities, memfd, "
			       "hugepage pools, THP, NUMA, IOMMU\n"
			       "(VFIO type1, iommufd and MAP_FILE), and which "
			       "gmem backends work here.\n\n"
			       "  --json      JSON (schema in docs/json.md)\n"
			       "  -h, --help  this text\n");
			return 0;
		default:
			return unknown_option("probe");
		}
	}
	if (optind < argc)
		return usage_error("probe", "unexpected argument '%s'",
				   argv[optind]);
	memset(b, 0, sizeof(b));
	gmem_probe(&h);
	check_backends(&h, b);
	memset(types, 0, sizeof(types));
	if (h.kvm_present)
		probe_types(types);
	gmem_dma_probe(&dma);
	if (json)
		print_json(&h, b, types, &dma);
	else
		print_human(&h, b, types, &dma);
	return 0;
}
