// SPDX-License-Identifier: MIT
/*
 * test_stats.c - the figures agree with the kernel's own evidence (within
 * 1%): st_blocks, /proc/meminfo, smaps, the hugetlb pool and the memory
 * cgroup; totals add up; and the export reaches gmemctl stats.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"

#define MIB (1ULL << 20)

static bool within_1pct(uint64_t got, uint64_t want)
{
	uint64_t diff = got > want ? got - want : want - got;

	return diff * 100 <= want;
}

#define CHECK_NEAR(got, want)						\
	do {								\
		uint64_t __g = (got), __w = (want);			\
		if (!within_1pct(__g, __w)) {				\
			t_fail(__FILE__, __LINE__, "%s = %llu, not within " \
			       "1%% of %llu", #got,			\
			       (unsigned long long)__g,			\
			       (unsigned long long)__w);		\
			return;						\
		}							\
	} while (0)

/* A /proc/meminfo line in bytes. */
static uint64_t meminfo(const char *key)
{
	char line[256];
	unsigned long long kb = 0;
	size_t n = strlen(key);
	FILE *f = fopen("/proc/meminfo", "re");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, key, n) && line[n] == ':')
			sscanf(line + n + 1, "%llu", &kb);
	if (f)
		fclose(f);
	return kb << 10;
}

/* Rss of the mapping that starts at addr, from /proc/self/smaps. */
static uint64_t smaps_rss(const void *addr)
{
	char line[512], want[32];
	unsigned long long kb = ~0ULL;
	bool in = false;
	FILE *f = fopen("/proc/self/smaps", "re");

	snprintf(want, sizeof(want), "%lx-", (unsigned long)addr);
	while (f && fgets(line, sizeof(line), f)) {
		if (strchr(line, '-') && strchr(line, ' ') &&
		    strchr(line, '-') < strchr(line, ' '))
			in = !strncmp(line, want, strlen(want));
		else if (in && !strncmp(line, "Rss:", 4))
			sscanf(line + 4, "%llu", &kb);
	}
	if (f)
		fclose(f);
	return kb == ~0ULL ? ~0ULL : kb << 10;
}

/*
 * This process's memory cgroup (v1) usage, or ~0 if it cannot be read.
 * Under ASan the sanitizer's shadow of every touched byte is charged too,
 * so the cgroup is no evidence there.
 */
static uint64_t cgroup_usage(void)
{
#if defined(__SANITIZE_ADDRESS__)
	if (1)
		return ~0ULL;
#endif
	char line[512], path[600];
	unsigned long long v = ~0ULL;
	FILE *f = fopen("/proc/self/cgroup", "re");

	path[0] = '\0';
	while (f && fgets(line, sizeof(line), f)) {
		char *p = strstr(line, ":memory:");

		if (p) {
			p[strcspn(p, "\n")] = '\0';
			snprintf(path, sizeof(path), "/sys/fs/cgroup/memory%s/"
				 "memory.usage_in_bytes", p + 8);
		}
	}
	if (f)
		fclose(f);
	f = path[0] ? fopen(path, "re") : NULL;
	if (f) {
		if (fscanf(f, "%llu", &v) != 1)
			v = ~0ULL;
		fclose(f);
	}
	return v;
}

static void memfd_figures_match_the_kernel(void)
{
	struct gmem_file_args a = { 0 };
	struct gmem_file_stats st;
	struct gmem_file *f;
	struct stat sb;
	uint64_t shmem0, cg0;
	uint8_t *p;

	a.size = 256 * MIB;
	a.backend = GMEM_BACKEND_MEMFD;
	CHECK_OK(gmem_file_create(&a, &f));
	p = gmem_file_host_addr(f);
	shmem0 = meminfo("Shmem");
	cg0 = cgroup_usage();

	/* After populate: allocated, not touched. */
	CHECK_OK(gmem_populate(f, 0, 128 * MIB));
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.populated_bytes == 128 * MIB);
	CHECK(st.touched_bytes == 0);
	CHECK(st.resident_bytes == 128 * MIB);
	CHECK(fstat(gmem_file_fd(f), &sb) == 0);
	CHECK_NEAR((uint64_t)sb.st_blocks * 512, st.populated_bytes);
	CHECK_NEAR(meminfo("Shmem") - shmem0, st.resident_bytes);
	if (cg0 != ~0ULL)
		CHECK_NEAR(cgroup_usage() - cg0, st.resident_bytes);

	/* After touching half of it and 32 MiB beyond it. */
	memset(p + 64 * MIB, 7, 96 * MIB);
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.touched_bytes == 96 * MIB);
	CHECK(st.resident_bytes == 160 * MIB);
	CHECK_NEAR(smaps_rss(p), st.touched_bytes);
	CHECK_NEAR(meminfo("Shmem") - shmem0, st.resident_bytes);
	if (cg0 != ~0ULL)
		CHECK_NEAR(cgroup_usage() - cg0, st.resident_bytes);

	/* After discarding 96 MiB across populated and touched pages. */
	CHECK_OK(gmem_discard(f, 32 * MIB, 96 * MIB));
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.populated_bytes == 32 * MIB);
	CHECK(st.touched_bytes == 32 * MIB);
	CHECK(st.resident_bytes == 64 * MIB);
	CHECK(st.discarded_bytes == 96 * MIB);
	CHECK(fstat(gmem_file_fd(f), &sb) == 0);
	CHECK_NEAR((uint64_t)sb.st_blocks * 512, st.resident_bytes);
	CHECK_NEAR(meminfo("Shmem") - shmem0, st.resident_bytes);
	CHECK_NEAR(smaps_rss(p), st.touched_bytes);
	if (cg0 != ~0ULL)
		CHECK_NEAR(cgroup_usage() - cg0, st.resident_bytes);
	CHECK_OK(gmem_file_close(f));
}

static void hugetlb_figures_match_the_pool(void)
{
	const uint64_t psz = 2 * MIB;
	struct gmem_file_args a = { 0 };
	struct gmem_file_stats st;
	struct gmem_file *f;
	uint64_t total;

	T_SKIP_UNLESS(t_hugepool_set(psz, 16));
	total = t_hugepool_read(psz, "nr_hugepages");
	a.size = 16 * psz;
	a.backend = GMEM_BACKEND_HUGETLB;
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK_OK(gmem_populate(f, 0, 8 * psz));
	memset((uint8_t *)gmem_file_host_addr(f) + 12 * psz, 1, 2 * psz);
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.hugepages == 10);
	CHECK(st.hugepages == total - t_hugepool_read(psz, "free_hugepages"));
	CHECK_NEAR(meminfo("HugePages_Total") - meminfo("HugePages_Free"),
		   st.hugepages << 10);	/* meminfo() read pages as kB */
	CHECK_OK(gmem_discard(f, 0, 4 * psz));
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.hugepages == 6);
	CHECK(st.hugepages == total - t_hugepool_read(psz, "free_hugepages"));
	CHECK_OK(gmem_file_close(f));
}

static void totals_add_up_by_backend(void)
{
	struct gmem_file_args a = { 0 };
	struct gmem_file *f1, *f2;
	struct gmem_stats s0, s;

	CHECK_OK(gmem_stats(&s0));
	a.backend = GMEM_BACKEND_MEMFD;
	a.size = 4 * MIB;
	CHECK_OK(gmem_file_create(&a, &f1));
	a.size = 8 * MIB;
	CHECK_OK(gmem_file_create(&a, &f2));
	CHECK_OK(gmem_populate(f1, 0, 4 * MIB));
	CHECK_OK(gmem_populate(f2, 0, 2 * MIB));
	CHECK_OK(gmem_discard(f2, 0, 2 * MIB));
	CHECK_OK(gmem_stats(&s));
	CHECK(s.files == s0.files + 2);
	CHECK(s.total.size == s0.total.size + 12 * MIB);
	CHECK(s.backend[GMEM_BACKEND_MEMFD].populated_bytes ==
	      s0.backend[GMEM_BACKEND_MEMFD].populated_bytes + 4 * MIB);
	CHECK(s.total.discarded_bytes == s0.total.discarded_bytes + 2 * MIB);
	CHECK(s.backend[GMEM_BACKEND_GUEST_MEMFD].size ==
	      s0.backend[GMEM_BACKEND_GUEST_MEMFD].size);
	CHECK_OK(gmem_file_close(f1));
	CHECK_OK(gmem_file_close(f2));
	CHECK_OK(gmem_stats(&s));
	CHECK(s.files == s0.files);
	CHECK_ERR(gmem_stats(NULL), EINVAL);
	CHECK_ERR(gmem_vm_stats(NULL, NULL), EINVAL);
}

/* gmem_vm_stats counts the files bound to a VM or created for it. */
static void vm_figures(void)
{
	struct gmem_file_args a = { 0 };
	struct gmem_bind_args b = { 0 };
	struct gmem_file_stats st;
	struct gmem_binding *bd;
	struct gmem_file *f;
	struct gmem_vm *vm;

	T_SKIP_UNLESS(t_need_kvm());
	CHECK_OK(gmem_vm_create(&vm));
	a.backend = GMEM_BACKEND_MEMFD;
	a.size = 4 * MIB;
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK_OK(gmem_populate(f, 0, 2 * MIB));
	CHECK_OK(gmem_vm_stats(vm, &st));
	CHECK(st.populated_bytes == 0);
	b.length = 4 * MIB;
	b.slot = GMEM_SLOT_ANY;
	CHECK_OK(gmem_bind(vm, f, &b, &bd));
	CHECK_OK(gmem_vm_stats(vm, &st));
	CHECK(st.populated_bytes == 2 * MIB && st.bindings == 1);
	CHECK_OK(gmem_unbind(bd));
	CHECK_OK(gmem_file_close(f));
	CHECK_OK(gmem_vm_close(vm));
}

static void export_reaches_gmemctl_stats(void)
{
	char dir[] = "/tmp/gmem-stats-XXXXXX", pid[16], path[64];
	const char *one[] = { "stats", "--dir", dir, "--pid", pid, NULL };
	const char *json[] = { "stats", "--dir", dir, "--json", NULL };
	const char *all[] = { "stats", "--dir", dir, NULL };
	struct gmem_file_args a = { 0 };
	struct gmem_file *f;

	CHECK(mkdtemp(dir));
	snprintf(pid, sizeof(pid), "%d", (int)getpid());
	snprintf(path, sizeof(path), "%s/%s.stats", dir, pid);
	a.backend = GMEM_BACKEND_MEMFD;
	a.size = 8 * MIB;
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK_OK(gmem_populate(f, 0, 6 * MIB));
	CHECK_OK(gmem_stats_export_start(dir, 10));
	CHECK(access(path, R_OK) == 0);
	CHECK(t_gmemctl(one) == 0);
	CHECK(t_out_value("GmemPopulated") == 6 * 1024);
	CHECK(t_out_value("GmemMemfd") == 6 * 1024);
	CHECK(t_out_value("GmemSize") == 8 * 1024);
	CHECK(t_out_value("Files") == 1);
	/* Figures follow the process as it changes. */
	CHECK_OK(gmem_discard(f, 0, 4 * MIB));
	usleep(100 * 1000);
	CHECK(t_gmemctl(all) == 0);
	CHECK(t_out_value("Processes") == 1);
	CHECK(t_out_value("GmemPopulated") == 2 * 1024);
	CHECK(t_out_value("GmemDiscarded") == 4 * 1024);
	CHECK(t_gmemctl(json) == 0);
	CHECK(t_json_valid(t_out));
	CHECK(strstr(t_out, "\"GmemPopulated\": 2097152"));
	CHECK_OK(gmem_stats_export_stop());
	CHECK(access(path, F_OK) < 0);
	CHECK(t_gmemctl(one) == 1);
	CHECK(strstr(t_out, "exports no figures"));
	CHECK_OK(gmem_file_close(f));
	rmdir(dir);
}

static void bad_export_calls(void)
{
	const char *badpid[] = { "stats", "--pid", "x", NULL };

	CHECK_ERR(gmem_stats_export_start("/tmp", 0), EINVAL);
	CHECK_ERR(gmem_stats_export_stop(), ENOENT);
	CHECK_ERR(gmem_stats_export_start("/proc/no/such/dir", 100), ENOENT);
	CHECK_OK(gmem_stats_export_start("/tmp", 1000));
	CHECK_ERR(gmem_stats_export_start("/tmp", 1000), EBUSY);
	CHECK_OK(gmem_stats_export_stop());
	CHECK(t_gmemctl(badpid) == 2);
}

static const struct t_case cases[] = {
	T_CASE(memfd_figures_match_the_kernel),
	T_CASE(hugetlb_figures_match_the_pool),
	T_CASE(totals_add_up_by_backend),
	T_CASE(vm_figures),
	T_CASE(export_reaches_gmemctl_stats),
	T_CASE(bad_export_calls),
};
T_MAIN(cases)
