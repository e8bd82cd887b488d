// SPDX-License-Identifier: MIT
/*
 * host.c - facts about this machine that need no KVM: page sizes, hugetlb
 * pools and NUMA nodes, read once from sysfs.  File creation relies only on
 * these, so it never opens /dev/kvm or creates a VM behind the caller's back.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "internal.h"

#define KVM_DEV "/dev/kvm"
#define HUGEPAGES_DIR "/sys/kernel/mm/hugepages"
#define NODE_DIR "/sys/devices/system/node"

int gmem_open_kvm(void)
{
	int fd = open(KVM_DEV, O_RDWR | O_CLOEXEC);

	if (fd < 0)
		return gmem_fail(errno, "cannot open %s: %s", KVM_DEV,
				 strerror(errno));
	return fd;
}

/* A small file whole, without stdio's buffer: the room check reads many. */
ssize_t gmem_read_text(const char *path, char *buf, size_t len)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, len - 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		n = -errno;
	close(fd);
	buf[n < 0 ? 0 : n] = '\0';
	return n;
}

uint64_t gmem_read_u64(const char *path, uint64_t def)
{
	char buf[32], *end;
	unsigned long long v;

	if (gmem_read_text(path, buf, sizeof(buf)) <= 0)
		return def;
	errno = 0;
	v = strtoull(buf, &end, 10);
	return end == buf || errno ? def : v;
}

uint64_t gmem_hugepool_read(uint64_t page_size, const char *field)
{
	char path[128];

	snprintf(path, sizeof(path), HUGEPAGES_DIR "/hugepages-%llukB/%s",
		 (unsigned long long)(page_size >> 10), field);
	return gmem_read_u64(path, 0);
}

/* Sysfs shows modes as "always [madvise] never": keep the bracketed one. */
void gmem_read_sysfs_mode(const char *path, char *out, size_t outlen)
{
	char buf[256], *l, *r;
	FILE *f = fopen(path, "re");

	snprintf(out, outlen, "unavailable");
	if (!f)
		return;
	if (fgets(buf, sizeof(buf), f)) {
		l = strchr(buf, '[');
		r = l ? strchr(l, ']') : NULL;
		if (l && r) {
			*r = '\0';
			snprintf(out, outlen, "%s", l + 1);
		}
	}
	fclose(f);
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

static void read_huge_sizes(struct gmem_facts *h)
{
	DIR *d = opendir(HUGEPAGES_DIR);
	struct dirent *e;

	if (!d)
		return;
	while ((e = readdir(d)) && h->nr_huge_sizes < GMEM_MAX_HUGEPAGE_SIZES) {
		unsigned long long kb;

		if (sscanf(e->d_name, "hugepages-%llukB", &kb) == 1)
			h->huge_sizes[h->nr_huge_sizes++] = kb << 10;
	}
	closedir(d);
	qsort(h->huge_sizes, h->nr_huge_sizes, sizeof(uint64_t), cmp_u64);
}

/*
 * Walk a node list like "0-3,5": count the nodes, set bits below 64, and
 * return one past the highest node named (0 if the list cannot be read).
 */
static unsigned int read_node_list(const char *path, unsigned int *count,
				   uint64_t *mask)
{
	char buf[1024], *p;
	unsigned int top = 0;
	FILE *f = fopen(path, "re");

	if (!f)
		return 0;
	if (!fgets(buf, sizeof(buf), f))
		buf[0] = '\0';
	fclose(f);
	for (p = buf; *p && *p != '\n';) {
		char *end;
		unsigned long lo = strtoul(p, &end, 10), hi = lo;

		if (end == p)
			break;
		if (*end == '-')
			hi = strtoul(end + 1, &end, 10);
		for (; lo <= hi && lo < 4096; lo++) {
			if (count)
				(*count)++;
			if (mask && lo < 64)
				*mask |= 1ULL << lo;
			if (lo + 1 > top)
				top = (unsigned int)lo + 1;
		}
		p = (*end == ',') ? end + 1 : end;
	}
	return top;
}

static void read_numa(struct gmem_facts *h)
{
	int mode;

	h->numa_syscalls = syscall(SYS_get_mempolicy, &mode, NULL, 0, NULL,
				   0) == 0;
	if (!read_node_list(NODE_DIR "/has_memory", &h->nr_numa_nodes,
			    &h->numa_node_mask) &&
	    !read_node_list(NODE_DIR "/online", &h->nr_numa_nodes,
			    &h->numa_node_mask)) {
		/* No NUMA in the kernel: all memory is one node. */
		h->nr_numa_nodes = 1;
		h->numa_node_mask = 1;
	}
	h->nr_node_ids = read_node_list(NODE_DIR "/possible", NULL, NULL);
	if (!h->nr_node_ids)
		h->nr_node_ids = 64 - (unsigned int)__builtin_clzll(
					     h->numa_node_mask);
}

static struct gmem_facts facts;
static pthread_once_t facts_once = PTHREAD_ONCE_INIT;

static void read_facts(void)
{
	long psz = sysconf(_SC_PAGESIZE);

	facts.page_size = psz > 0 ? (uint64_t)psz : 4096;
	read_huge_sizes(&facts);
	read_numa(&facts);
}

const struct gmem_facts *gmem_facts(void)
{
	pthread_once(&facts_once, read_facts);
	return &facts;
}
