// SPDX-License-Identifier: MIT
/*
 * test_stats.c - the figures agree with the kernel's own evidence:
 * st_blocks, smaps, the hugetlb pool and a memory cgroup of the case's own;
 * totals add up; and the export reaches gmemctl stats, safely.
 */
#include <dirent.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define MIB (1ULL << 20)

/*
 * Within 1%, or 1 MiB: what the kernel charges besides the pages (page
 * tables of the mappings, the page cache's own nodes) counts too.
 */
static bool within_1pct(uint64_t got, uint64_t want)
{
	uint64_t diff = got > want ? got - want : want - got;

	return diff * 100 <= want || diff <= (1ULL << 20);
}

#define CHECK_NEAR(got, want)						\
	do {								\
		uint64_t __g = (got), __w = (want);			\
		if (!within_1pct(__g, __w)) {				\
			t_fail(__FILE__, __LINE__, "%s = %llu, not within " \
			       "1%% or 1 MiB of %llu", #got,		\
			       (unsigned long long)__g,			\
			       (unsigned long long)__w);		\
			return;						\
		}							\
	} while (0)

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
 * The kernel's figures come from a memory cgroup of the case's own, so
 * nothing else on the machine moves them.  Under ASan the sanitizer's
 * shadow of every touched byte is charged too, so usage is no evidence
 * there; the shmem count still is.
 */
static bool sanitized(void)
{
#if defined(__SANITIZE_ADDRESS__)
	return true;
#else
	return false;
#endif
}

static void memfd_figures_match_the_kernel(void)
{
	struct gmem_populate_args no_zero = { .flags = GMEM_POPULATE_NO_ZERO };
	struct gmem_file_args a = { 0 };
	struct gmem_file_stats st;
	struct gmem_file *f;
	struct stat sb;
	uint64_t shmem0, cg0;
	uint8_t *p;

	T_SKIP_UNLESS(t_cgroup_create(0) && t_cgroup_join(getpid()));
	a.size = 256 * MIB;
	a.backend = GMEM_BACKEND_MEMFD;
	CHECK_OK(gmem_file_create(&a, &f));
	p = gmem_file_host_addr(f);
	shmem0 = t_cgroup_stat("shmem");
	cg0 = t_cgroup_usage();
	CHECK(shmem0 != ~0ULL && cg0 != ~0ULL);

	/* After an allocate-only populate: allocated, not touched. */
	CHECK_OK(gmem_populate_with(f, 0, 128 * MIB, &no_zero));
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.populated_bytes == 128 * MIB);
	CHECK(st.touched_bytes == 0);
	CHECK(st.resident_bytes == 128 * MIB);
	CHECK(fstat(gmem_file_fd(f), &sb) == 0);
	CHECK((uint64_t)sb.st_blocks * 512 == st.populated_bytes);
	CHECK(t_cgroup_stat("shmem") - shmem0 == st.resident_bytes);
	if (!sanitized())
		CHECK_NEAR(t_cgroup_usage() - cg0, st.resident_bytes);

	/* After touching half of it and 32 MiB beyond it. */
	memset(p + 64 * MIB, 7, 96 * MIB);
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.touched_bytes == 96 * MIB);
	CHECK(st.resident_bytes == 160 * MIB);
	CHECK_NEAR(smaps_rss(p), st.touched_bytes);
	CHECK(t_cgroup_stat("shmem") - shmem0 == st.resident_bytes);
	if (!sanitized())
		CHECK_NEAR(t_cgroup_usage() - cg0, st.resident_bytes);

	/* After discarding 96 MiB across populated and touched pages. */
	CHECK_OK(gmem_discard(f, 32 * MIB, 96 * MIB));
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.populated_bytes == 32 * MIB);
	CHECK(st.touched_bytes == 32 * MIB);
	CHECK(st.resident_bytes == 64 * MIB);
	CHECK(st.discarded_bytes == 96 * MIB);
	CHECK(fstat(gmem_file_fd(f), &sb) == 0);
	CHECK((uint64_t)sb.st_blocks * 512 == st.resident_bytes);
	CHECK(t_cgroup_stat("shmem") - shmem0 == st.resident_bytes);
	CHECK_NEAR(smaps_rss(p), st.touched_bytes);
	if (!sanitized())
		CHECK_NEAR(t_cgroup_usage() - cg0, st.resident_bytes);
	/* A ready populate zeroes and maps: the pages count as touched. */
	CHECK_OK(gmem_populate(f, 128 * MIB, 64 * MIB));
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.populated_bytes == 96 * MIB);
	CHECK(st.touched_bytes == 64 * MIB && st.resident_bytes == 96 * MIB);
	CHECK_NEAR(smaps_rss(p), st.touched_bytes);
	CHECK(t_cgroup_stat("shmem") - shmem0 == st.resident_bytes);
	CHECK_OK(gmem_file_close(f));
}

/* The pool is the kernel's figure; the "hugetlb" host lock keeps other
 * test runs off it while the case runs. */
static void hugetlb_figures_match_the_pool(void)
{
	const uint64_t psz = 2 * MIB;
	struct gmem_file_args a = { 0 };
	struct gmem_file_stats st;
	struct gmem_file *f;
	uint64_t free0;

	T_SKIP_UNLESS(t_hugepool_set(psz, 16));
	free0 = t_hugepool_read(psz, "free_hugepages");
	a.size = 16 * psz;
	a.backend = GMEM_BACKEND_HUGETLB;
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK_OK(gmem_populate(f, 0, 8 * psz));
	memset((uint8_t *)gmem_file_host_addr(f) + 12 * psz, 1, 2 * psz);
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.hugepages == 10);
	CHECK(st.hugepages == free0 - t_hugepool_read(psz, "free_hugepages"));
	CHECK_OK(gmem_discard(f, 0, 4 * psz));
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.hugepages == 6);
	CHECK(st.hugepages == free0 - t_hugepool_read(psz, "free_hugepages"));
	CHECK_OK(gmem_file_close(f));
	CHECK(t_hugepool_read(psz, "free_hugepages") == free0);
}

/*
 * GMEM_STATS_NO_TOUCHED: touched unknown, every other figure the same and
 * still the kernel's (st_blocks, the hugetlb pool); bad flags refused.
 */
static void stats_without_touched(void)
{
	struct gmem_file_args a = { .size = 8 * MIB,
				    .backend = GMEM_BACKEND_MEMFD };
	struct gmem_file_stats full, bare;
	struct gmem_stats s;
	struct gmem_file *f;
	struct stat sb;

	CHECK_OK(gmem_file_create(&a, &f));
	CHECK_OK(gmem_populate(f, 0, 4 * MIB));
	memset((uint8_t *)gmem_file_host_addr(f) + 6 * MIB, 3, MIB);
	CHECK_OK(gmem_file_stats(f, &full));
	CHECK_OK(gmem_file_stats_with(f, &bare, GMEM_STATS_NO_TOUCHED));
	CHECK(full.touched_bytes == 5 * MIB);
	CHECK(bare.touched_bytes == GMEM_STATS_UNKNOWN);
	CHECK(fstat(gmem_file_fd(f), &sb) == 0);
	CHECK(bare.resident_bytes == (uint64_t)sb.st_blocks * 512);
	bare.touched_bytes = full.touched_bytes;
	CHECK(memcmp(&bare, &full, sizeof(full)) == 0);
	CHECK_OK(gmem_stats_with(&s, GMEM_STATS_NO_TOUCHED));
	CHECK(s.total.touched_bytes == GMEM_STATS_UNKNOWN);
	CHECK(s.backend[GMEM_BACKEND_MEMFD].resident_bytes >= 5 * MIB);
	CHECK_ERR(gmem_stats_with(&s, 1U << 7), EINVAL);
	CHECK_ERR(gmem_stats_with(NULL, 0), EINVAL);
	CHECK_ERR(gmem_file_stats_with(f, &bare, ~GMEM_STATS_FLAGS_ALL), EINVAL);
	CHECK(strstr(gmem_last_error(), "unknown flags"));
	CHECK_ERR(gmem_file_stats_with(NULL, &bare, 0), EINVAL);
	CHECK_OK(gmem_file_close(f));
}

/* The same on hugetlb: its pages from its blocks, as the pool says. */
static void hugetlb_stats_without_touched(void)
{
	const uint64_t psz = 2 * MIB;
	struct gmem_file_args a = { .size = 4 * psz,
				    .backend = GMEM_BACKEND_HUGETLB };
	struct gmem_file_stats full, bare;
	struct gmem_file *f;
	uint64_t free0;

	T_SKIP_UNLESS(t_hugepool_set(psz, 4));
	free0 = t_hugepool_read(psz, "free_hugepages");
	CHECK_OK(gmem_file_create(&a, &f));
	CHECK_OK(gmem_populate(f, 0, psz));
	memset((uint8_t *)gmem_file_host_addr(f) + 2 * psz, 1, 4096);
	CHECK_OK(gmem_file_stats(f, &full));
	CHECK_OK(gmem_file_stats_with(f, &bare, GMEM_STATS_NO_TOUCHED));
	CHECK(bare.touched_bytes == GMEM_STATS_UNKNOWN);
	CHECK(full.touched_bytes == 2 * psz);
	CHECK(bare.hugepages == 2 && full.hugepages == 2);
	CHECK(bare.hugepages == free0 - t_hugepool_read(psz, "free_hugepages"));
	CHECK(bare.resident_bytes == full.resident_bytes);
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

/* The "Generation:" figure of an export file, or 0. */
static uint64_t generation(const char *path)
{
	char line[128];
	unsigned long long g = 0;
	FILE *f = fopen(path, "re");

	while (f && fgets(line, sizeof(line), f))
		if (!strncmp(line, "Generation:", 11))
			g = strtoull(line + 11, NULL, 10);
	if (f)
		fclose(f);
	return g;
}

/*
 * Wait until the exporter has put a snapshot newer than gen in place: an
 * event (the file renamed into dir), not a time.  The long bound only
 * turns a hang into a failure.
 */
static bool wait_newer(const char *dir, const char *path, uint64_t gen)
{
	char buf[4096];
	struct pollfd pfd;
	bool ok = false;
	int fd = inotify_init1(IN_CLOEXEC);

	if (fd < 0 || inotify_add_watch(fd, dir, IN_MOVED_TO) < 0)
		goto out;
	pfd.fd = fd;
	pfd.events = POLLIN;
	while (!(ok = generation(path) > gen))
		if (poll(&pfd, 1, 60 * 1000) <= 0 || read(fd, buf, sizeof(buf)) < 0)
			break;
out:
	if (fd >= 0)
		close(fd);
	return ok;
}

static void export_reaches_gmemctl_stats(void)
{
	const char *dir = t_tmpdir();
	char pid[16], path[PATH_MAX];
	const char *one[] = { "stats", "--dir", dir, "--pid", pid, NULL };
	const char *json[] = { "stats", "--dir", dir, "--json", NULL };
	const char *all[] = { "stats", "--dir", dir, NULL };
	struct gmem_file_args a = { 0 };
	struct gmem_file *f;
	uint64_t gen;

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
	/* Figures follow the process as it changes: the snapshot after the
	 * next one began is sure to have seen the discard. */
	CHECK_OK(gmem_discard(f, 0, 4 * MIB));
	gen = generation(path);
	CHECK(wait_newer(dir, path, gen + 1));
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
}

static void bad_export_calls(void)
{
	const char *badpid[] = { "stats", "--pid", "x", NULL };
	const char *dir = t_tmpdir();
	char *longdir;

	CHECK_ERR(gmem_stats_export_start(dir, 0), EINVAL);
	CHECK_ERR(gmem_stats_export_start(dir, 3600 * 1000 + 1), EINVAL);
	CHECK_ERR(gmem_stats_export_stop(), ENOENT);
	CHECK_ERR(gmem_stats_export_start("/proc/no/such/dir", 100), ENOENT);
	/* Not a directory; a directory where no file can be made. */
	CHECK_ERR(gmem_stats_export_start("/dev/null", 100), ENOTDIR);
	CHECK(gmem_stats_export_start("/proc", 100) < 0);
	CHECK(strstr(gmem_last_error(), "writing /proc/"));
	/* A directory name longer than any path: refused, never truncated. */
	longdir = malloc(PATH_MAX + 16);
	CHECK(longdir);
	memset(longdir, 'a', PATH_MAX + 15);
	longdir[0] = '/';
	longdir[PATH_MAX + 15] = '\0';
	CHECK_ERR(gmem_stats_export_start(longdir, 100), ENAMETOOLONG);
	free(longdir);
	CHECK_OK(gmem_stats_export_start(dir, 1000));
	CHECK_ERR(gmem_stats_export_start(dir, 1000), EBUSY);
	CHECK_OK(gmem_stats_export_stop());
	CHECK_ERR(gmem_stats_export_stop(), ENOENT);
	CHECK(t_gmemctl(badpid) == 2);
}

/*
 * The export never follows a link planted in its directory, by the old
 * predictable temporary name or by the final name: the file a link points
 * to stays as it was, and the export is a file of its own.
 */
static void export_follows_no_links(void)
{
	const char *dir = t_tmpdir();
	char victim[PATH_MAX], final[PATH_MAX], tmp[PATH_MAX], buf[16] = "";
	struct stat st;
	FILE *f;

	snprintf(victim, sizeof(victim), "%s/victim", dir);
	snprintf(final, sizeof(final), "%s/%d.stats", dir, (int)getpid());
	snprintf(tmp, sizeof(tmp), "%s/%d.stats.tmp", dir, (int)getpid());
	f = fopen(victim, "we");
	CHECK(f && fputs("precious", f) >= 0 && fclose(f) == 0);
	CHECK(symlink(victim, final) == 0 && symlink(victim, tmp) == 0);
	CHECK_OK(gmem_stats_export_start(dir, 1000));
	CHECK(lstat(final, &st) == 0 && S_ISREG(st.st_mode));
	f = fopen(victim, "re");
	CHECK(f && fgets(buf, sizeof(buf), f) && fclose(f) == 0);
	CHECK(!strcmp(buf, "precious"));
	CHECK_OK(gmem_stats_export_stop());
	CHECK(lstat(final, &st) < 0 && errno == ENOENT);
}

struct stopper {
	pthread_barrier_t *go;
	int ret;
};

static void *stop_export(void *arg)
{
	struct stopper *s = arg;

	pthread_barrier_wait(s->go);
	s->ret = gmem_stats_export_stop();
	return NULL;
}

/* Two threads stopping at once: one stops it, the other is told it is
 * not running, and neither hangs. */
static void concurrent_stops(void)
{
	pthread_barrier_t go;
	struct stopper s[2];
	pthread_t th[2];
	struct timespec limit;

	for (int round = 0; round < 20; round++) {
		CHECK_OK(gmem_stats_export_start(t_tmpdir(), 1));
		CHECK(pthread_barrier_init(&go, NULL, 2) == 0);
		for (int i = 0; i < 2; i++) {
			s[i] = (struct stopper){ .go = &go, .ret = 1 };
			CHECK(pthread_create(&th[i], NULL, stop_export,
					     &s[i]) == 0);
		}
		/* The bound only turns a hang into a failure. */
		for (int i = 0; i < 2; i++) {
			clock_gettime(CLOCK_REALTIME, &limit);
			limit.tv_sec += 60;
			CHECK(pthread_timedjoin_np(th[i], NULL, &limit) == 0);
		}
		pthread_barrier_destroy(&go);
		CHECK((s[0].ret == 0 && s[1].ret == -ENOENT) ||
		      (s[1].ret == 0 && s[0].ret == -ENOENT));
	}
}

/* Signals are the VMM's: the exporter thread takes none of them. */
static void exporter_blocks_signals(void)
{
	char path[PATH_MAX], line[256], comm[32];
	bool found = false;
	struct dirent *e;
	DIR *d;

	CHECK_OK(gmem_stats_export_start(t_tmpdir(), 1000));
	d = opendir("/proc/self/task");
	CHECK(d);
	while ((e = readdir(d))) {
		FILE *f;

		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm",
			 e->d_name);
		f = fopen(path, "re");
		if (!f || !fgets(comm, sizeof(comm), f)) {
			if (f)
				fclose(f);
			continue;
		}
		fclose(f);
		if (strncmp(comm, "gmem-export", 11))
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/status",
			 e->d_name);
		f = fopen(path, "re");
		/*
		 * Every bit but SIGKILL and SIGSTOP (never blocked) and
		 * signals 32 and 33, which glibc keeps for itself.
		 */
		while (f && fgets(line, sizeof(line), f))
			if (!strncmp(line, "SigBlk:", 7))
				found = (strtoull(line + 7, NULL, 16) |
					 1ULL << (SIGKILL - 1) |
					 1ULL << (SIGSTOP - 1) | 1ULL << 31 |
					 1ULL << 32) == ~0ULL;
		if (f)
			fclose(f);
	}
	closedir(d);
	CHECK_OK(gmem_stats_export_stop());
	CHECK(found);
}

/* Heap in use by this process (glibc's own count). */
static uint64_t heap_in_use(void)
{
	struct mallinfo2 mi = mallinfo2();

	return mi.uordblks + mi.hblkhd;
}

/*
 * The books cost what is populated, not what the file could hold: a
 * sparse 1 TiB file takes next to no heap (a byte per page would be
 * 256 MiB), 64 scattered pages a few KiB, and discarding them gives it
 * back.  The figures meanwhile match the kernel's.
 */
static void books_grow_with_use_not_size(void)
{
	struct gmem_file_args a = { .size = 1ULL << 40,
				    .backend = GMEM_BACKEND_MEMFD };
	uint64_t base, created, used;
	struct gmem_file_stats st;
	struct gmem_file *f;
	struct stat sb;

	base = heap_in_use();
	CHECK_OK(gmem_file_create(&a, &f));
	created = heap_in_use();
	CHECK(created - base < 256 * 1024);
	for (uint64_t i = 0; i < 64; i++)
		CHECK_OK(gmem_populate(f, i * (16ULL << 30), 4096));
	used = heap_in_use();
	CHECK(used - created < 64 * 1024);
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(fstat(gmem_file_fd(f), &sb) == 0);
	CHECK(st.populated_bytes == 64 * 4096);
	CHECK((uint64_t)sb.st_blocks * 512 == st.populated_bytes);
	for (uint64_t i = 0; i < 64; i++)
		CHECK_OK(gmem_discard(f, i * (16ULL << 30), 4096));
	CHECK(heap_in_use() <= used);
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.populated_bytes == 0);
	printf("# 1 TiB sparse memfd: %llu bytes of heap for the handle, "
	       "%llu more for 64 scattered pages\n",
	       (unsigned long long)(created - base),
	       (unsigned long long)(used - created));
	CHECK_OK(gmem_file_close(f));
}

static const struct t_case cases[] = {
	T_CASE(books_grow_with_use_not_size),
	T_CASE(stats_without_touched),
	T_CASE(hugetlb_stats_without_touched),
	T_CASE(memfd_figures_match_the_kernel),
	T_CASE(hugetlb_figures_match_the_pool),
	T_CASE(totals_add_up_by_backend),
	T_CASE(vm_figures),
	T_CASE(export_reaches_gmemctl_stats),
	T_CASE(bad_export_calls),
	T_CASE(export_follows_no_links),
	T_CASE(concurrent_stops),
	T_CASE(exporter_blocks_signals),
};
T_MAIN(cases)
