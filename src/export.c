// SPDX-License-Identifier: MIT
/*
 * export.c - opt-in export of this process's figures for gmemctl stats: a
 * thread rewrites dir/<pid>.stats, meminfo-style, every interval.  Each
 * write goes to a fresh file made in the directory (by its fd, never
 * following a link, under an unpredictable name) and renamed over the old.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool running;			/* started and not yet being stopped */
	bool stop;
	unsigned int interval_ms;
	int dir_fd;
	char name[32];			/* "<pid>.stats" */
	uint64_t generation;		/* writes so far */
} exporter = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER,
	       .dir_fd = -1 };

static void line_kb(FILE *f, const char *key, uint64_t bytes)
{
	char k[64];

	snprintf(k, sizeof(k), "%s:", key);
	fprintf(f, "%-20s %12llu kB\n", k, (unsigned long long)(bytes >> 10));
}

static void line_n(FILE *f, const char *key, uint64_t n)
{
	char k[64];

	snprintf(k, sizeof(k), "%s:", key);
	fprintf(f, "%-20s %12llu\n", k, (unsigned long long)n);
}

/* The figures in /proc/meminfo's style: "Key:   value kB". */
static void write_snapshot(FILE *out, uint64_t generation)
{
	static const char *const backend_keys[GMEM_BACKEND_COUNT] = {
		NULL, "GmemGuestMemfd", "GmemMemfd", "GmemHugetlb",
	};
	const struct gmem_facts *h = gmem_facts();
	struct gmem_file_stats vst;
	struct gmem_vm **vms;
	struct gmem_stats s;
	size_t nr = 0;
	char key[48];

	gmem_stats(&s);
	line_n(out, "Pid", (uint64_t)getpid());
	line_n(out, "Generation", generation);
	line_n(out, "Files", s.files);
	line_n(out, "Vms", s.vms);
	line_kb(out, "GmemTotal", s.total.resident_bytes);
	line_kb(out, "GmemSize", s.total.size);
	line_kb(out, "GmemPopulated", s.total.populated_bytes);
	if (s.total.touched_bytes != GMEM_STATS_UNKNOWN)
		line_kb(out, "GmemTouched", s.total.touched_bytes);
	line_kb(out, "GmemDiscarded", s.total.discarded_bytes);
	line_kb(out, "GmemShared", s.total.shared_bytes);
	line_kb(out, "GmemPrivate", s.total.private_bytes);
	line_n(out, "GmemHugePages", s.total.hugepages);
	for (int b = 1; b < GMEM_BACKEND_COUNT; b++)
		line_kb(out, backend_keys[b], s.backend[b].resident_bytes);
	for (int n = 0; n < GMEM_MAX_NUMA_NODES; n++) {
		if (!(h->numa_node_mask & (1ULL << n)))
			continue;
		snprintf(key, sizeof(key), "GmemNode%d", n);
		line_kb(out, key, s.total.node_bytes[n]);
	}
	line_kb(out, "GmemNodeUnknown", s.total.unknown_node_bytes);
	if (gmem_registry_vms(&vms, &nr) < 0)
		return;
	for (size_t i = 0; i < nr; i++) {
		if (gmem_vm_stats(vms[i], &vst) == 0) {
			snprintf(key, sizeof(key), "GmemVm%u", vms[i]->id);
			line_kb(out, key, vst.resident_bytes);
		}
		gmem_vm_put(vms[i]);
	}
	free(vms);
}

/* Write one snapshot and put it in place; -errno on failure. */
static int export_once(int dir_fd, const char *name, uint64_t generation)
{
	char tmp[64];
	uint64_t rnd;
	FILE *f;
	int fd, err;

	if (getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		rnd = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
	snprintf(tmp, sizeof(tmp), ".%s.%016llx", name,
		 (unsigned long long)rnd);
	fd = openat(dir_fd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
		    O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		err = errno;
		close(fd);
		unlinkat(dir_fd, tmp, 0);
		return -err;
	}
	write_snapshot(f, generation);
	if (fclose(f) != 0 || renameat(dir_fd, tmp, dir_fd, name) < 0) {
		err = errno;
		unlinkat(dir_fd, tmp, 0);
		return -err;
	}
	return 0;
}

static void *export_loop(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&exporter.lock);
	while (!exporter.stop) {
		struct timespec ts;
		uint64_t ns, gen = ++exporter.generation;

		pthread_mutex_unlock(&exporter.lock);
		export_once(exporter.dir_fd, exporter.name, gen);
		pthread_mutex_lock(&exporter.lock);
		/* Monotonic: a clock change must not stall or rush the export. */
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ns = (uint64_t)ts.tv_nsec + exporter.interval_ms * 1000000ULL;
		ts.tv_sec += (time_t)(ns / 1000000000ULL);
		ts.tv_nsec = (long)(ns % 1000000000ULL);
		while (!exporter.stop &&
		       pthread_cond_timedwait(&exporter.wake, &exporter.lock,
					      &ts) == 0)
			;
	}
	pthread_mutex_unlock(&exporter.lock);
	return NULL;
}

/* The thread runs with every signal blocked: they are the VMM's to take. */
static int start_thread(void)
{
	sigset_t all, old;
	int ret;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&exporter.thread, NULL, export_loop, NULL);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	/* Named, so an operator (and a test) can tell it in /proc. */
	if (ret == 0)
		pthread_setname_np(exporter.thread, "gmem-export");
	return ret;
}

static void init_wake_clock(void)
{
	pthread_condattr_t ca;

	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_destroy(&exporter.wake);
	pthread_cond_init(&exporter.wake, &ca);
	pthread_condattr_destroy(&ca);
}

GMEM_API int gmem_stats_export_start(const char *dir, unsigned int interval_ms)
{
	static pthread_once_t clock_once = PTHREAD_ONCE_INIT;
	int dir_fd, ret = 0;

	gmem_error_clear();
	if (!dir)
		dir = "/run/gmem";
	if (interval_ms == 0 || interval_ms > 3600 * 1000)
		return gmem_fail(EINVAL, "stats export: interval %u ms is not "
				 "in 1..3600000", interval_ms);
	if (strlen(dir) >= PATH_MAX)
		return gmem_fail(ENAMETOOLONG, "stats export: the directory "
				 "name is %zu bytes, over PATH_MAX",
				 strlen(dir));
	pthread_once(&clock_once, init_wake_clock);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return gmem_fail(errno, "stats export: mkdir %s: %s", dir,
				 strerror(errno));
	dir_fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dir_fd < 0)
		return gmem_fail(errno, "stats export: open %s: %s", dir,
				 strerror(errno));
	pthread_mutex_lock(&exporter.lock);
	if (exporter.running || exporter.dir_fd >= 0) {
		ret = gmem_fail(EBUSY, "stats export: already running");
		goto unlock;
	}
	snprintf(exporter.name, sizeof(exporter.name), "%d.stats",
		 (int)getpid());
	/* Write once now, so a failure shows here and readers never wait. */
	exporter.generation = 1;
	ret = export_once(dir_fd, exporter.name, exporter.generation);
	if (ret < 0) {
		ret = gmem_fail(-ret, "stats export: writing %s/%s: %s", dir,
				exporter.name, strerror(-ret));
		goto unlock;
	}
	exporter.interval_ms = interval_ms;
	exporter.stop = false;
	exporter.dir_fd = dir_fd;
	ret = start_thread();
	if (ret) {
		unlinkat(dir_fd, exporter.name, 0);
		exporter.dir_fd = -1;
		ret = gmem_fail(ret, "stats export: thread: %s", strerror(ret));
		goto unlock;
	}
	exporter.running = true;
	pthread_mutex_unlock(&exporter.lock);
	return 0;
unlock:
	pthread_mutex_unlock(&exporter.lock);
	close(dir_fd);
	return ret;
}

GMEM_API int gmem_stats_export_stop(void)
{
	pthread_t thread;
	int dir_fd;

	gmem_error_clear();
	pthread_mutex_lock(&exporter.lock);
	/* Only one caller stops it; a second one finds it not running. */
	if (!exporter.running) {
		pthread_mutex_unlock(&exporter.lock);
		return gmem_fail(ENOENT, "stats export: not running");
	}
	exporter.running = false;
	exporter.stop = true;
	thread = exporter.thread;
	pthread_cond_signal(&exporter.wake);
	pthread_mutex_unlock(&exporter.lock);
	pthread_join(thread, NULL);
	pthread_mutex_lock(&exporter.lock);
	dir_fd = exporter.dir_fd;
	unlinkat(dir_fd, exporter.name, 0);
	exporter.dir_fd = -1;
	pthread_mutex_unlock(&exporter.lock);
	close(dir_fd);
	return 0;
}
