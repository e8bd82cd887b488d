// SPDX-License-Identifier: MIT
/*
 * numa.c - NUMA policies per file range: parsed and checked against the
 * host's nodes, stored in the file (mbind) where the kernel honours that,
 * otherwise applied to the allocating thread around each allocation.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <linux/mempolicy.h>

#include "internal.h"

/* The kernel's nodemask length argument counts one past the last bit. */
#define MAXNODE (GMEM_MAX_NUMA_NODES + 1)

static long sys_mbind(void *addr, uint64_t len, int mode,
		      const unsigned long *mask)
{
	return syscall(SYS_mbind, addr, len, mode, mask, MAXNODE, 0);
}

static long sys_set_mempolicy(int mode, const unsigned long *mask)
{
	return syscall(SYS_set_mempolicy, mode, mask, MAXNODE);
}

static long sys_get_mempolicy(int *mode, unsigned long *mask)
{
	return syscall(SYS_get_mempolicy, mode, mask, MAXNODE, NULL, 0);
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
	uint64_t host = gmem_host_cached()->numa_node_mask;
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
	missing = p->nodes & ~host;
	if (missing)
		return gmem_fail(EINVAL, "numa: node %d does not exist on this "
				 "host (nodes with memory: mask 0x%llx)",
				 __builtin_ctzll(missing),
				 (unsigned long long)host);
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
					 "%d nodes gmem supports", hi,
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

int gmem_numa_policy_parse(const char *mode, const char *nodes,
			   struct gmem_numa_policy *out)
{
	struct gmem_numa_policy p = { 0 };
	uint32_t m;
	int ret;

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

/* guest_memfd follows mbind on its mapping from Linux 6.19. */
static bool kernel_gmem_honours_mbind(void)
{
	struct utsname u;
	unsigned int major = 0, minor = 0;

	if (uname(&u) < 0 || sscanf(u.release, "%u.%u", &major, &minor) != 2)
		return false;
	return major > 6 || (major == 6 && minor >= 19);
}

int gmem_file_numa_method(const struct gmem_file *f)
{
	if (!f)
		return gmem_fail(EINVAL, "numa: file is NULL");
	if (!f->host_addr)
		return GMEM_NUMA_VIA_THREAD;
	if (f->ops->id == GMEM_BACKEND_GUEST_MEMFD &&
	    !kernel_gmem_honours_mbind())
		return GMEM_NUMA_VIA_THREAD;
	return GMEM_NUMA_VIA_MBIND;
}

/* Under f->lock: replace the policy of [off, off + len) in f's list. */
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
	free(f->numa);
	f->numa = n;
	f->nr_numa = cnt;
	return 0;
}

int gmem_file_set_numa_policy(struct gmem_file *f, uint64_t off, uint64_t len,
			      const struct gmem_numa_policy *p)
{
	unsigned long mask;
	int ret;

	if (!f)
		return gmem_fail(EINVAL, "numa: file is NULL");
	ret = gmem_file_check_range(f, off, len, "numa policy");
	if (ret < 0)
		return ret;
	ret = gmem_numa_check(p);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&f->lock);
	if (gmem_account_any_populated(f, off, len)) {
		ret = gmem_fail(EBUSY, "numa: part of 0x%llx+0x%llx is already "
				"populated and would not move; set the policy "
				"first or discard the range",
				(unsigned long long)off,
				(unsigned long long)len);
		goto unlock;
	}
	if (gmem_file_numa_method(f) == GMEM_NUMA_VIA_MBIND) {
		mask = (unsigned long)p->nodes;
		if (sys_mbind((uint8_t *)f->host_addr + off, len,
			      kernel_mode(p->mode), p->nodes ? &mask : NULL) < 0) {
			ret = gmem_fail(errno, "numa: mbind on %s: %s",
					f->ops->name, strerror(errno));
			goto unlock;
		}
	}
	ret = store_range(f, off, len, p);
unlock:
	pthread_mutex_unlock(&f->lock);
	return ret;
}

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

int gmem_numa_bind_thread(const struct gmem_numa_policy *p)
{
	unsigned long mask;
	int ret = gmem_numa_check(p);

	if (ret < 0)
		return ret;
	mask = (unsigned long)p->nodes;
	if (sys_set_mempolicy(kernel_mode(p->mode), p->nodes ? &mask : NULL) < 0)
		return gmem_fail(errno, "numa: set_mempolicy: %s",
				 strerror(errno));
	return 0;
}

int gmem_numa_thread_save(struct gmem_numa_saved *s)
{
	if (sys_get_mempolicy(&s->mode, &s->mask) < 0)
		return gmem_fail(errno, "numa: get_mempolicy: %s",
				 strerror(errno));
	return 0;
}

void gmem_numa_thread_restore(const struct gmem_numa_saved *s)
{
	int mode = s->mode & ~MPOL_MODE_FLAGS;

	sys_set_mempolicy(s->mode, mode == MPOL_DEFAULT ? NULL : &s->mask);
}

int64_t gmem_file_query_nodes(struct gmem_file *f, uint64_t off, uint64_t len,
			      uint64_t *bytes_per_node)
{
	enum { BATCH = 512 };
	void *pages[BATCH];
	int status[BATCH];
	uint64_t found = 0, step;
	int ret;

	if (!f || !bytes_per_node)
		return gmem_fail(EINVAL, "numa: NULL argument");
	ret = gmem_file_check_range(f, off, len, "query nodes");
	if (ret < 0)
		return ret;
	if (!f->host_addr)
		return gmem_fail(EOPNOTSUPP, "numa: the file has no host "
				 "mapping to ask about");
	step = f->page_size;
	for (uint64_t pos = off; pos < off + len;) {
		unsigned long n = 0;

		for (; n < BATCH && pos < off + len; n++, pos += step)
			pages[n] = (uint8_t *)f->host_addr + pos;
		if (syscall(SYS_move_pages, 0, n, pages, NULL, status, 0) < 0)
			return gmem_fail(errno, "numa: move_pages: %s",
					 strerror(errno));
		for (unsigned long i = 0; i < n; i++) {
			if (status[i] < 0 || status[i] >= GMEM_MAX_NUMA_NODES)
				continue;	/* not mapped here */
			bytes_per_node[status[i]] += step;
			found += step;
		}
	}
	return (int64_t)found;
}
