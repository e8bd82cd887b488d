// SPDX-License-Identifier: MIT
/*
 * memory.c - the guest's RAM, and the only part of gmem-vmm that knows
 * libgmem: one file on the chosen backend, its NUMA policy, two bindings
 * around the 32-bit hole, prealloc, discard on the guest's request, and
 * the figures that show what the guest used.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "vmm.h"

static int lib_error(const char *what, int ret)
{
	vmm_log("error: %s: %s", what, gmem_last_error());
	return ret;
}

/* One memslot: [offset, offset + length) of the file at gpa. */
static int bind_range(struct vmm_mem *m, uint64_t offset, uint64_t length,
		      uint64_t gpa, struct gmem_binding **out)
{
	struct gmem_bind_args ba = {
		.offset = offset,
		.length = length,
		.gpa = gpa,
		.slot = GMEM_SLOT_ANY,
	};
	int ret = gmem_bind(m->vm, m->ram, &ba, out);

	return ret < 0 ? lib_error("binding guest RAM", ret) : 0;
}

int mem_create(struct vmm *v)
{
	const struct vmm_opts *o = &v->opts;
	struct vmm_mem *m = &v->mem;
	struct gmem_file_args fa = {
		.size = o->ram_size,
		.backend = o->backend,
		.vm = m->vm,		/* guest_memfd belongs to a VM */
		.page_size = o->hugepage_size,
		.name = "gmem-vmm-ram",
	};
	int ret;

	ret = gmem_file_create(&fa, &m->ram);
	if (ret < 0)
		return lib_error("creating guest RAM", ret);
	m->size = gmem_file_size(m->ram);
	m->page_size = gmem_file_page_size(m->ram);
	/*
	 * The kernel and initrd are copied in through the host mapping.  A
	 * guest_memfd has one here because this VM type has no private
	 * memory: the guest uses it as shared memory, which the host can map.
	 */
	m->host = gmem_file_host_addr(m->ram);
	if (!m->host) {
		vmm_log("error: the RAM file has no host mapping to load the "
			"kernel through");
		return -EINVAL;
	}

	/*
	 * The policy goes on before any page exists: pages already there
	 * would not move.  Where the file cannot carry it (guest_memfd
	 * before Linux 6.19), lazily faulted pages follow the thread that
	 * faults them, which is the vCPU's: see mem_bind_vcpu_thread().
	 */
	if (o->numa.mode != GMEM_NUMA_DEFAULT) {
		ret = gmem_file_set_numa_policy(m->ram, 0, m->size, &o->numa);
		if (ret < 0)
			return lib_error("NUMA policy of guest RAM", ret);
		m->thread_policy = gmem_file_numa_method(m->ram) ==
				   GMEM_NUMA_VIA_THREAD;
	}

	/* Below the 32-bit hole, then the rest above 4 GiB. */
	m->low_size = m->size < LOW_RAM_MAX ? m->size : LOW_RAM_MAX;
	ret = bind_range(m, 0, m->low_size, 0, &m->low);
	if (ret == 0 && m->size > m->low_size)
		ret = bind_range(m, m->low_size, m->size - m->low_size,
				 HIGH_RAM_START, &m->high);
	if (ret < 0)
		return ret;

	if (o->prealloc) {
		double t = vmm_now();

		ret = gmem_populate(m->ram, 0, m->size);
		if (ret < 0)
			return lib_error("preallocating guest RAM", ret);
		m->populate_seconds = vmm_now() - t;
		vmm_log("preallocated %s in %.3f s",
			vmm_size_str(m->size, (char[24]){ 0 }, 24),
			m->populate_seconds);
	}
	return 0;
}

int mem_bind_vcpu_thread(struct vmm *v)
{
	int ret;

	if (!v->mem.thread_policy)
		return 0;
	ret = gmem_numa_bind_thread(&v->opts.numa);
	return ret < 0 ? lib_error("NUMA policy of the vCPU thread", ret) : 0;
}

/* Where guest-physical [gpa, gpa + len) lives in the file, or -EFAULT. */
static int64_t gpa_to_offset(const struct vmm_mem *m, uint64_t gpa,
			     uint64_t len)
{
	uint64_t high = m->size - m->low_size;

	if (len > m->size)
		return -EFAULT;
	if (gpa <= m->low_size && len <= m->low_size - gpa)
		return (int64_t)gpa;
	if (gpa >= HIGH_RAM_START && gpa - HIGH_RAM_START <= high &&
	    len <= high - (gpa - HIGH_RAM_START))
		return (int64_t)(gpa - HIGH_RAM_START + m->low_size);
	return -EFAULT;
}

void *mem_gpa(struct vmm *v, uint64_t gpa, uint64_t len)
{
	int64_t off = gpa_to_offset(&v->mem, gpa, len);

	return off < 0 ? NULL : v->mem.host + off;
}

/*
 * The guest asked for [gpa, gpa + len) to go.  After gmem_discard()
 * returns, KVM has dropped every mapping of it and the guest reads zeros.
 */
int mem_discard(struct vmm *v, uint64_t gpa, uint64_t len)
{
	int64_t off = gpa_to_offset(&v->mem, gpa, len);
	double t;
	int ret;

	if (off < 0 || len == 0) {
		vmm_log("discard 0x%llx+0x%llx: not one stretch of RAM",
			(unsigned long long)gpa, (unsigned long long)len);
		return -EFAULT;
	}
	t = vmm_now();
	ret = gmem_discard(v->mem.ram, (uint64_t)off, len);
	if (ret < 0) {
		vmm_log("discard 0x%llx+0x%llx: %s", (unsigned long long)gpa,
			(unsigned long long)len, gmem_last_error());
		return ret;
	}
	vmm_log("discarded guest-physical 0x%llx+0x%llx (file offset 0x%llx) "
		"in %.1f ms", (unsigned long long)gpa, (unsigned long long)len,
		(unsigned long long)off, (vmm_now() - t) * 1e3);
	return 0;
}

static const char *mib(uint64_t bytes, char *buf, size_t len)
{
	if (bytes == GMEM_STATS_UNKNOWN)
		snprintf(buf, len, "unknown");
	else
		snprintf(buf, len, "%.1f MiB", (double)bytes / MIB);
	return buf;
}

/* What the RAM file holds: the evidence that the guest used its RAM. */
void mem_report(struct vmm *v, const char *when)
{
	struct gmem_file_stats st;
	char a[24], b[24], c[24], d[24], e[24];
	int ret;

	ret = gmem_file_stats(v->mem.ram, &st);
	if (ret < 0) {
		vmm_log("RAM %s: no figures: %s", when, gmem_last_error());
		return;
	}
	vmm_log("RAM %s: %s %s; resident %s, touched %s, populated %s, "
		"discarded %s in %llu call(s), hugepages %llu", when,
		vmm_size_str(st.size, a, sizeof(a)),
		gmem_backend_name(st.backend), mib(st.resident_bytes, b, 24),
		mib(st.touched_bytes, c, 24), mib(st.populated_bytes, d, 24),
		mib(st.discarded_bytes, e, 24),
		(unsigned long long)st.discard_calls,
		(unsigned long long)st.hugepages);
	for (int n = 0; n < GMEM_MAX_NUMA_NODES; n++)
		if (st.node_bytes[n])
			vmm_log("RAM %s: node %d holds %s", when, n,
				mib(st.node_bytes[n], a, sizeof(a)));
}

void mem_destroy(struct vmm *v)
{
	struct vmm_mem *m = &v->mem;

	/* The same order as setup, backwards; libgmem takes any order. */
	if (m->high)
		gmem_unbind(m->high);
	if (m->low)
		gmem_unbind(m->low);
	if (m->ram)
		gmem_file_close(m->ram);
	if (m->vm)
		gmem_vm_close(m->vm);
	memset(m, 0, sizeof(*m));
}
