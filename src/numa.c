// SPDX-License-Identifier: MIT
/*
 * numa.c - NUMA policies per file range: parsed and checked against the
 * host's nodes, stored in the file (mbind on its mapping) where the kernel
 * honours that, otherwise applied to the allocating thread around each
 * allocation.  Whether a file keeps a policy is found out by trying it.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <linux/mempolicy.h>

#include "internal.h"

#define BITS_PER_LONG (8 * sizeof(unsigned long))

/*
 * The kernel reads maxnode - 1 bits, and get_mempolicy() insists on room
 * for every possible node: size masks from the possible nodes.
 */
static unsigned long maxnode(void)
{
	return gmem_facts()->nr_node_ids + 1;
}

static void to_mask(uint64_t nodes, unsigned long *mask, size_t longs)
{
	memset(mask, 0, longs * sizeof(*mask));
	for (unsigned int n = 0; n < 64; n++)
		if (nodes & (1ULL << n))
			mask[n / BITS_PER_LONG] |= 1UL << (n % BITS_PER_LONG);
}

static int kernel_mode(uint32_t mode)
{
	switch (mode) {
	case GMEM_NUMA_BIND:
		return MPOL_BIND;
	case GMEM_NUMA_PREFERRED:
		return MPOL_PREFERRED;
	case GMEM_NUMA_INTERLEAVE:
		return MPOL_INTERLEAVE;
	default:
		return MPOL_DEFAULT;
	}
}

static const char *const mode_names[GMEM_NUMA_MODE_COUNT] = {
	"default", "bind", "preferred", "interleave",
};

int gmem_numa_check(const struct gmem_numa_policy *p)
{
	const struct gmem_facts *h = gmem_facts();
	uint64_t missing;

	if (!p)
		return gmem_fail(EINVAL, "numa: policy is NULL");
	if (p->reserved32 || p->reserved[0] || p->reserved[1])
		return gmem_fail(EINVAL, "numa: reserved fields must be zero");
	if (p->mode >= GMEM_NUMA_MODE_COUNT)
		return gmem_fail(EINVAL, "numa: unknown policy mode %u", p->mode);
	if (p->mode == GMEM_NUMA_DEFAULT) {
		if (p->nodes)
			return gmem_fail(EINVAL, "numa: the default policy "
					 "takes no nodes");
		return 0;
	}
	if (!p->nodes)
		return gmem_fail(EINVAL, "numa: policy %s needs at least one "
				 "node", mode_names[p->mode]);
	if (p->mode == GMEM_NUMA_PREFERRED && (p->nodes & (p->nodes - 1)))
		return gmem_fail(EINVAL, "numa: preferred takes exactly one "
				 "node");
	missing = p->nodes & ~h->numa_node_mask;
	if (missing)
		return gmem_fail(EINVAL, "numa: node %d does not exist on this "
				 "host (nodes with memory: mask 0x%llx)",
				 __builtin_ctzll(missing),
				 (unsigned long long)h->numa_node_mask);
	if (!h->numa_syscalls)
		return gmem_fail(EOPNOTSUPP, "numa: this kernel has no NUMA "
				 "policies (built without CONFIG_NUMA)");
	return 0;
}

/* "0-3,5" into a mask of at most GMEM_MAX_NUMA_NODES nodes. */
static int parse_nodes(const char *s, uint64_t *out)
{
	uint64_t mask = 0;
	const char *p = s;

	while (*p) {
		char *end;
		unsigned long lo, hi;

		if (*p < '0' || *p > '9')
			goto bad;
		lo = strtoul(p, &end, 10);
		hi = lo;
		if (*end == '-') {
			if (end[1] < '0' || end[1] > '9')
				goto bad;
			hi = strtoul(end + 1, &end, 10);
		}
		if (hi < lo)
			return gmem_fail(EINVAL, "numa: range %lu-%lu runs "
					 "backwards", lo, hi);
		if (hi >= GMEM_MAX_NUMA_NODES)
			return gmem_fail(EINVAL, "numa: node %lu is beyond the "
					 "%d nodes a policy can name", hi,
					 GMEM_MAX_NUMA_NODES);
		for (unsigned long n = lo; n <= hi; n++)
			mask |= 1ULL << n;
		if (*end == ',' && end[1])
			end++;
		else if (*end)
			goto bad;
		p = end;
	}
	*out = mask;
	return 0;
bad:
	return gmem_fail(EINVAL, "numa: bad node list \"%s\" (want e.g. "
			 "\"0-3,5\")", s);
}

GMEM_API int gmem_numa_policy_parse(const char *mode, const char *nodes,
				    struct gmem_numa_policy *out)
{
	struct gmem_numa_policy p = { 0 };
	uint32_t m;
	int ret;

	gmem_error_clear();
	if (!mode || !out)
		return gmem_fail(EINVAL, "numa: NULL argument");
	for (m = 0; m < GMEM_NUMA_MODE_COUNT; m++)
		if (!strcmp(mode, mode_names[m]))
			break;
	if (m == GMEM_NUMA_MODE_COUNT)
		return gmem_fail(EINVAL, "numa: unknown policy \"%s\" (want "
				 "default, bind, preferred or interleave)",
				 mode);
	p.mode = m;
	if (nodes && *nodes) {
		ret = parse_nodes(nodes, &p.nodes);
		if (ret < 0)
			return ret;
	}
	ret = gmem_numa_check(&p);
	if (ret < 0)
		return ret;
	*out = p;
	return 0;
}

static long sys_mbind(void *addr, uint64_t len, int mode, uint64_t nodes)
{
	unsigned long mask[sizeof(((struct gmem_numa_saved *)0)->mask) /
			   sizeof(unsigned long)];

	to_mask(nodes, mask, sizeof(mask) / sizeof(mask[0]));
	return syscall(SYS_mbind, addr, len, mode, nodes ? mask : NULL,
		       nodes ? maxnode() : 0, 0);
}

/*
 * A policy stored in the file (not only in one mapping) shows in a second,
 * fresh mapping of it.  shmem keeps it; guest_memfd does from Linux 6.19
 * (vendors backport it); on older kernels the second mapping shows none.
 * Try it on the file's first page and take it back.
 */
bool gmem_numa_stored_in_file(int fd, void *map, uint64_t page_size)
{
	int mode = -1;
	unsigned long mask[sizeof(((struct gmem_numa_saved *)0)->mask) /
			   sizeof(unsigned long)];
	bool stored = false;
	void *second;

	if (!gmem_facts()->numa_syscalls)
		return false;
	if (sys_mbind(map, page_size, MPOL_BIND,
		      gmem_facts()->numa_node_mask & -gmem_facts()->numa_node_mask) < 0)
		return false;
	second = mmap(NULL, page_size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		      0);
	if (second != MAP_FAILED) {
		if (syscall(SYS_get_mempolicy, &mode, mask, maxnode(), second,
			    MPOL_F_ADDR) == 0)
			stored = (mode & ~MPOL_MODE_FLAGS) == MPOL_BIND;
		munmap(second, page_size);
	}
	sys_mbind(map, page_size, MPOL_DEFAULT, 0);
	return stored;
}

/* Holding the range: replace the policy of [off, off + len) in f's list. */
static int store_range(struct gmem_file *f, uint64_t off, uint64_t len,
		       const struct gmem_numa_policy *p)
{
	struct gmem_numa_range *r = f->numa, *n;
	size_t cnt = 0, max = f->nr_numa * 2 + 1;
	uint64_t end = off + len;

	n = calloc(max, sizeof(*n));
	if (!n)
		return gmem_fail(ENOMEM, "numa: out of memory");
	/* Keep the parts of old ranges outside the new one, in order. */
	for (size_t i = 0; i < f->nr_numa; i++) {
		uint64_t rs = r[i].off, re = r[i].off + r[i].len;

		if (rs < off)
			n[cnt++] = (struct gmem_numa_range){
				rs, (re < off ? re : off) - rs, r[i].policy };
		if (re > end)
			n[cnt++] = (struct gmem_numa_range){
				rs > end ? rs : end, re - (rs > end ? rs : end),
				r[i].policy };
	}
	if (p->mode != GMEM_NUMA_DEFAULT)
		n[cnt++] = (struct gmem_numa_range){ off, len, *p };
	pthread_mutex_lock(&f->lock);
	free(f->numa);
	f->numa = n;
	f->nr_numa = cnt;
	pthread_mutex_unlock(&f->lock);
	return 0;
}

GMEM_API int gmem_file_set_numa_policy(struct gmem_file *f, uint64_t off,
				       uint64_t len,
				       const struct gmem_numa_policy *p)
{
	struct gmem_range_hold hold;
	bool any;
	int ret;

	gmem_error_clear();
	if (!f)
		return gmem_fail(EINVAL, "numa: file is NULL");
	ret = gmem_file_check_range(f, off, len, "numa policy");
	if (ret < 0)
		return ret;
	ret = gmem_numa_check(p);
	if (ret < 0)
		return ret;
	gmem_range_lock(&f->ranges, &hold, off, off + len);
	pthread_mutex_lock(&f->lock);
	any = gmem_extents_covered(&f->populated, off, off + len) != 0;
	pthread_mutex_unlock(&f->lock);
	if (any) {
		ret = gmem_fail(EBUSY, "numa: part of 0x%llx+0x%llx is already "
				"populated and would not move; set the policy "
				"first or discard the range",
				(unsigned long long)off,
				(unsigned long long)len);
		goto unlock;
	}
	/* Without NUMA in the kernel only the default is let through. */
	if (f->map && f->ops->numa_reach(f) && gmem_facts()->numa_syscalls) {
		if (sys_mbind((uint8_t *)f->map + off, len,
			      kernel_mode(p->mode), p->nodes) < 0) {
			ret = gmem_fail(errno, "numa: mbind on %s: %s",
					f->ops->name, strerror(errno));
			goto unlock;
		}
	}
	ret = store_range(f, off, len, p);
unlock:
	gmem_range_unlock(&f->ranges, &hold);
	return ret;
}

GMEM_API int gmem_file_numa_method(const struct gmem_file *f)
{
	gmem_error_clear();
	if (!f)
		return gmem_fail(EINVAL, "numa: file is NULL");
	if (f->map && (f->ops->numa_reach(f) & GMEM_REACH_FAULTS))
		return GMEM_NUMA_VIA_MBIND;
	return GMEM_NUMA_VIA_THREAD;
}

/* Under f->lock. */
const struct gmem_numa_policy *gmem_numa_policy_at(const struct gmem_file *f,
						   uint64_t off,
						   uint64_t *seg_end)
{
	static const struct gmem_numa_policy dflt;
	uint64_t end = f->size;

	for (size_t i = 0; i < f->nr_numa; i++) {
		const struct gmem_numa_range *r = &f->numa[i];

		if (off >= r->off && off < r->off + r->len) {
			*seg_end = r->off + r->len;
			return &r->policy;
		}
		if (r->off > off && r->off < end)
			end = r->off;
	}
	*seg_end = end;
	return &dflt;
}

/*
 * Only two placements are certain: a policy bound to one node (the kernel
 * fails the allocation rather than go elsewhere), and a host with one node.
 * Preferred may spill, and interleave is spread by rules that differ by
 * file type, so those stay unknown rather than modelled.
 */
int32_t gmem_numa_certain_node(const struct gmem_numa_policy *p)
{
	const struct gmem_facts *h = gmem_facts();

	if (h->nr_numa_nodes == 1 && h->numa_node_mask)
		return __builtin_ctzll(h->numa_node_mask);
	if (p->mode == GMEM_NUMA_BIND && !(p->nodes & (p->nodes - 1)))
		return __builtin_ctzll(p->nodes);
	return GMEM_NODE_UNKNOWN;
}

int gmem_numa_set_thread(const struct gmem_numa_policy *p)
{
	unsigned long mask[sizeof(((struct gmem_numa_saved *)0)->mask) /
			   sizeof(unsigned long)];

	to_mask(p->nodes, mask, sizeof(mask) / sizeof(mask[0]));
	if (syscall(SYS_set_mempolicy, kernel_mode(p->mode),
		    p->nodes ? mask : NULL, p->nodes ? maxnode() : 0) < 0)
		return gmem_fail(errno, "numa: set_mempolicy: %s",
				 strerror(errno));
	return 0;
}

GMEM_API int gmem_numa_bind_thread(const struct gmem_numa_policy *p)
{
	int ret;

	gmem_error_clear();
	ret = gmem_numa_check(p);
	if (ret < 0)
		return ret;
	return gmem_numa_set_thread(p);
}

int gmem_numa_thread_save(struct gmem_numa_saved *s)
{
	memset(s, 0, sizeof(*s));
	if (syscall(SYS_get_mempolicy, &s->mode, s->mask, maxnode(), NULL,
		    0) < 0)
		return gmem_fail(errno, "numa: get_mempolicy: %s",
				 strerror(errno));
	return 0;
}

void gmem_numa_thread_restore(const struct gmem_numa_saved *s)
{
	int mode = s->mode & ~MPOL_MODE_FLAGS;

	/* Mode flags (static or relative nodes) travel with the mode. */
	syscall(SYS_set_mempolicy, s->mode,
		mode == MPOL_DEFAULT ? NULL : s->mask,
		mode == MPOL_DEFAULT ? 0 : maxnode());
}

GMEM_API int64_t gmem_file_query_nodes(struct gmem_file *f, uint64_t off,
				       uint64_t len, uint64_t *bytes_per_node)
{
	enum { BATCH = 512 };
	void *pages[BATCH];
	int status[BATCH];
	uint64_t found = 0, step;
	int ret;

	gmem_error_clear();
	if (!f || !bytes_per_node)
		return gmem_fail(EINVAL, "numa: NULL argument");
	ret = gmem_file_check_range(f, off, len, "query nodes");
	if (ret < 0)
		return ret;
	if (!f->host_visible)
		return gmem_fail(EOPNOTSUPP, "numa: the file has no host "
				 "mapping to ask about");
	step = f->page_size;
	for (uint64_t pos = off; pos < off + len;) {
		unsigned long n = 0;

		for (; n < BATCH && pos < off + len; n++, pos += step)
			pages[n] = (uint8_t *)f->map + pos;
		if (syscall(SYS_move_pages, 0, n, pages, NULL, status, 0) < 0)
			return gmem_fail(errno, "numa: move_pages: %s",
					 strerror(errno));
		for (unsigned long i = 0; i < n; i++) {
			if (status[i] < 0)
				continue;	/* not mapped here */
			/* Found either way: the array has no slot past it. */
			if (status[i] < GMEM_MAX_NUMA_NODES)
				bytes_per_node[status[i]] += step;
			found += step;
		}
	}
	return (int64_t)found;
}
