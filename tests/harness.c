// SPDX-License-Identifier: MIT
/* harness.c - run a table of test cases and report each one. */
#include <dirent.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

enum { T_PASS, T_FAIL, T_SKIP };

static int state;
static char reason[512];

void t_fail(const char *file, int line, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (state == T_FAIL)
		return;
	state = T_FAIL;
	n = snprintf(reason, sizeof(reason), "%s:%d: ", file, line);
	va_start(ap, fmt);
	vsnprintf(reason + n, sizeof(reason) - (size_t)n, fmt, ap);
	va_end(ap);
}

void t_skip(const char *fmt, ...)
{
	va_list ap;

	if (state != T_PASS)
		return;
	state = T_SKIP;
	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
}

bool t_failed(void)
{
	return state == T_FAIL;
}

bool t_need_kvm(void)
{
	int fd = open("/dev/kvm", O_RDWR | O_CLOEXEC);

	if (fd < 0) {
		t_skip("needs /dev/kvm: %s", strerror(errno));
		return false;
	}
	close(fd);
	return true;
}

bool t_need_guest_memfd_mmap(void)
{
	struct gmem_host h;

	if (!t_need_kvm())
		return false;
	gmem_probe(&h);
	if (!h.cap_guest_memfd) {
		t_skip("needs KVM_CAP_GUEST_MEMFD (Linux 6.8+)");
		return false;
	}
	if (!(h.cap_guest_memfd_flags & GMEM_KVM_GUEST_MEMFD_FLAG_MMAP)) {
		t_skip("needs GUEST_MEMFD_FLAG_MMAP (Linux 6.18+)");
		return false;
	}
	return true;
}

int t_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;	/* the directory's own fd */
}

int t_main(int argc, char **argv, const struct t_case *cases, size_t n)
{
	int passed = 0, failed = 0, skipped = 0;

	setvbuf(stdout, NULL, _IOLBF, 0);
	for (size_t i = 0; i < n; i++) {
		if (argc > 1 && strcmp(argv[1], cases[i].name) != 0)
			continue;
		state = T_PASS;
		reason[0] = '\0';
		cases[i].fn();
		switch (state) {
		case T_PASS:
			printf("PASS %s\n", cases[i].name);
			passed++;
			break;
		case T_FAIL:
			printf("FAIL %s: %s\n", cases[i].name, reason);
			failed++;
			break;
		default:
			printf("SKIP %s: %s\n", cases[i].name, reason);
			skipped++;
		}
	}
	if (failed)
		return 1;
	return passed == 0 && skipped > 0 ? 77 : 0;
}

/* Pools changed by t_hugepool_set, put back at exit. */
static struct {
	uint64_t page_size;
	unsigned long long old;
} pools[4];
static int nr_pools;

static void pool_path(uint64_t page_size, char *buf, size_t len)
{
	snprintf(buf, len, "/sys/kernel/mm/hugepages/hugepages-%llukB/"
		 "nr_hugepages", (unsigned long long)(page_size >> 10));
}

static int pool_write(uint64_t page_size, unsigned long long n)
{
	char path[128];
	FILE *f;
	int ret = 0;

	pool_path(page_size, path, sizeof(path));
	f = fopen(path, "we");
	if (!f)
		return -errno;
	if (fprintf(f, "%llu\n", n) < 0)
		ret = -EIO;
	if (fclose(f) != 0 && !ret)
		ret = -errno;
	return ret;
}

static void pools_restore(void)
{
	for (int i = 0; i < nr_pools; i++)
		pool_write(pools[i].page_size, pools[i].old);
}

uint64_t t_hugepool_read(uint64_t page_size, const char *field)
{
	char path[128];
	unsigned long long v = ~0ULL;
	FILE *f;

	snprintf(path, sizeof(path), "/sys/kernel/mm/hugepages/"
		 "hugepages-%llukB/%s", (unsigned long long)(page_size >> 10),
		 field);
	f = fopen(path, "re");
	if (!f)
		return ~0ULL;
	if (fscanf(f, "%llu", &v) != 1)
		v = ~0ULL;
	fclose(f);
	return v;
}

bool t_hugepool_set(uint64_t page_size, uint64_t n)
{
	uint64_t old = t_hugepool_read(page_size, "nr_hugepages");
	int i, ret;

	if (old == ~0ULL) {
		t_skip("no pool of %llu KiB hugepages on this host",
		       (unsigned long long)(page_size >> 10));
		return false;
	}
	for (i = 0; i < nr_pools; i++)
		if (pools[i].page_size == page_size)
			break;
	if (i == nr_pools && nr_pools < 4) {
		pools[nr_pools].page_size = page_size;
		pools[nr_pools++].old = old;
		if (nr_pools == 1)
			atexit(pools_restore);
	}
	ret = pool_write(page_size, n);
	if (ret < 0) {
		t_skip("cannot resize the %llu KiB pool (needs root): %s",
		       (unsigned long long)(page_size >> 10), strerror(-ret));
		return false;
	}
	if (t_hugepool_read(page_size, "nr_hugepages") < n) {
		t_skip("the kernel found only %llu of %llu %llu KiB pages",
		       (unsigned long long)t_hugepool_read(page_size,
							   "nr_hugepages"),
		       (unsigned long long)n,
		       (unsigned long long)(page_size >> 10));
		return false;
	}
	return true;
}
