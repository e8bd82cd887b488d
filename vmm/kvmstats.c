// SPDX-License-Identifier: MIT
/*
 * kvmstats.c - KVM's own counts for the VM and the vCPU (page faults it
 * took, exits, how it mapped guest RAM), read from the binary stats file
 * descriptors (KVM_GET_STATS_FD, Linux 5.14+).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <linux/kvm.h>

#include "vmm.h"

/* Read the descriptors once; the values are read fresh each time. */
int kvm_stats_open(struct kvm_stats *st, int fd)
{
	struct kvm_stats_header h;
	size_t dsize;
	char *descs;

	memset(st, 0, sizeof(*st));
	st->fd = ioctl(fd, KVM_GET_STATS_FD, NULL);
	if (st->fd < 0)
		return -errno;
	if (pread(st->fd, &h, sizeof(h), 0) != sizeof(h))
		goto fail;
	dsize = sizeof(struct kvm_stats_desc) + h.name_size;
	descs = calloc(h.num_desc, dsize);
	st->names = calloc(h.num_desc, h.name_size);
	st->offsets = calloc(h.num_desc, sizeof(*st->offsets));
	if (!descs || !st->names || !st->offsets ||
	    pread(st->fd, descs, h.num_desc * dsize, h.desc_offset) !=
	    (ssize_t)(h.num_desc * dsize)) {
		free(descs);
		goto fail;
	}
	for (uint32_t i = 0; i < h.num_desc; i++) {
		struct kvm_stats_desc *d =
			(struct kvm_stats_desc *)(descs + i * dsize);

		memcpy(st->names + (size_t)i * h.name_size, d->name,
		       h.name_size);
		st->names[(size_t)(i + 1) * h.name_size - 1] = '\0';
		st->offsets[i] = d->offset;
	}
	free(descs);
	st->count = h.num_desc;
	st->name_size = h.name_size;
	st->data_offset = h.data_offset;
	return 0;
fail:
	kvm_stats_close(st);
	return -EIO;
}

int kvm_stats_get(const struct kvm_stats *st, const char *name,
		  uint64_t *value)
{
	for (uint32_t i = 0; i < st->count; i++) {
		if (strcmp(st->names + (size_t)i * st->name_size, name))
			continue;
		if (pread(st->fd, value, sizeof(*value),
			  (off_t)(st->data_offset + st->offsets[i])) !=
		    sizeof(*value))
			return -EIO;
		return 0;
	}
	return -ENOENT;
}

void kvm_stats_close(struct kvm_stats *st)
{
	if (st->fd > 0)
		close(st->fd);
	free(st->names);
	free(st->offsets);
	memset(st, 0, sizeof(*st));
	st->fd = -1;
}

/* Append "name N" for each statistic this kernel has. */
static void add(char *buf, size_t len, const struct kvm_stats *st,
		const char *const *names)
{
	for (; *names; names++) {
		uint64_t val;
		size_t used = strlen(buf);

		if (kvm_stats_get(st, *names, &val) == 0)
			snprintf(buf + used, len - used, " %s %llu", *names,
				 (unsigned long long)val);
	}
}

/*
 * pf_taken counts the guest's faults that KVM's MMU handled (on RAM
 * faulted in lazily, one per page or fewer: the shadow MMU prefetches
 * neighbours); pages_* say how KVM mapped the RAM it did map.
 */
void kvm_stats_report(struct vmm *v, const char *when)
{
	static const char *const cpu_names[] = {
		"pf_taken", "pf_fixed", "exits", "io_exits", "mmio_exits",
		"halt_exits", NULL
	};
	static const char *const vm_names[] = {
		"pages_4k", "pages_2m", "pages_1g", NULL
	};
	char buf[512] = "";

	if (v->cpu_stats.fd < 0)
		return;
	add(buf, sizeof(buf), &v->cpu_stats, cpu_names);
	add(buf, sizeof(buf), &v->vm_stats, vm_names);
	vmm_log("KVM %s:%s", when, buf);
}
