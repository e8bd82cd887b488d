// SPDX-License-Identifier: MIT
/*
 * stats.c - process-wide figures: a registry of live files and VMs, totals
 * by backend and by VM, and an opt-in export for inspection from outside.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct gmem_file *files;
static struct gmem_vm *vms;
static uint32_t nr_files, nr_vms, next_vm_id = 1;

void gmem_registry_add(struct gmem_file *f)
{
	pthread_mutex_lock(&registry_lock);
	f->reg_next = files;
	f->reg_prev = NULL;
	if (files)
		files->reg_prev = f;
	files = f;
	nr_files++;
	pthread_mutex_unlock(&registry_lock);
}

void gmem_registry_remove(struct gmem_file *f)
{
	pthread_mutex_lock(&registry_lock);
	if (f->reg_prev)
		f->reg_prev->reg_next = f->reg_next;
	else
		files = f->reg_next;
	if (f->reg_next)
		f->reg_next->reg_prev = f->reg_prev;
	nr_files--;
	pthread_mutex_unlock(&registry_lock);
}

void gmem_registry_add_vm(struct gmem_vm *vm)
{
	pthread_mutex_lock(&registry_lock);
	vm->id = next_vm_id++;
	vm->reg_next = vms;
	vms = vm;
	nr_vms++;
	pthread_mutex_unlock(&registry_lock);
}

void gmem_registry_remove_vm(struct gmem_vm *vm)
{
	struct gmem_vm **pp;

	pthread_mutex_lock(&registry_lock);
	for (pp = &vms; *pp && *pp != vm; pp = &(*pp)->reg_next)
		;
	if (*pp)
		*pp = vm->reg_next;
	nr_vms--;
	pthread_mutex_unlock(&registry_lock);
}

static void add_stats(struct gmem_file_stats *sum,
		      const struct gmem_file_stats *st)
{
	sum->size += st->size;
	sum->bindings += st->bindings;
	sum->populated_bytes += st->populated_bytes;
	if (st->touched_bytes != GMEM_STATS_UNKNOWN &&
	    sum->touched_bytes != GMEM_STATS_UNKNOWN)
		sum->touched_bytes += st->touched_bytes;
	else
		sum->touched_bytes = GMEM_STATS_UNKNOWN;
	sum->resident_bytes += st->resident_bytes;
	sum->hugepages += st->hugepages;
	sum->discarded_bytes += st->discarded_bytes;
	sum->populate_calls += st->populate_calls;
	sum->discard_calls += st->discard_calls;
	for (int n = 0; n < GMEM_MAX_NUMA_NODES; n++)
		sum->node_bytes[n] += st->node_bytes[n];
	sum->unknown_node_bytes += st->unknown_node_bytes;
}

int gmem_stats(struct gmem_stats *out)
{
	struct gmem_file_stats st;

	if (!out)
		return gmem_fail(EINVAL, "gmem_stats: out is NULL");
	memset(out, 0, sizeof(*out));
	pthread_mutex_lock(&registry_lock);
	out->files = nr_files;
	out->vms = nr_vms;
	for (struct gmem_file *f = files; f; f = f->reg_next) {
		gmem_file_stats(f, &st);
		add_stats(&out->total, &st);
		add_stats(&out->backend[st.backend], &st);
	}
	pthread_mutex_unlock(&registry_lock);
	return 0;
}

static bool bound_in(struct gmem_vm *vm, const struct gmem_file *f)
{
	for (struct gmem_binding *b = vm->bindings; b; b = b->next)
		if (b->file == f)
			return true;
	return false;
}

int gmem_vm_stats(struct gmem_vm *vm, struct gmem_file_stats *out)
{
	struct gmem_file_stats st;

	if (!vm || !out)
		return gmem_fail(EINVAL, "gmem_vm_stats: NULL argument");
	memset(out, 0, sizeof(*out));
	/* Lock order: registry, then VM, then file. */
	pthread_mutex_lock(&registry_lock);
	pthread_mutex_lock(&vm->lock);
	for (struct gmem_file *f = files; f; f = f->reg_next) {
		if (f->owner != vm && !bound_in(vm, f))
			continue;
		gmem_file_stats(f, &st);
		add_stats(out, &st);
	}
	pthread_mutex_unlock(&vm->lock);
	pthread_mutex_unlock(&registry_lock);
	return 0;
}

/* ---- export ---- */

static struct {
	pthread_mutex_t lock;
	pthread_cond_t wake;
	pthread_t thread;
	bool running;
	bool stop;
	unsigned int interval_ms;
	char path[512];
} exporter = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER };

#define MAX_LISTED_VMS 256

static void line_kb(FILE *f, const char *key, uint64_t bytes)
{
	char k[64];

	snprintf(k, sizeof(k), "%s:", key);
	fprintf(f, "%-20s %12llu kB\n", k, (unsigned long long)(bytes >> 10));
}

/* The figures in /proc/meminfo's style: "Key:   value kB". */
static void write_snapshot(FILE *out)
{
	static const char *const backend_keys[GMEM_BACKEND_COUNT] = {
		NULL, "GmemGuestMemfd", "GmemMemfd", "GmemHugetlb",
	};
	const struct gmem_host *h = gmem_host_cached();
	struct gmem_vm *list[MAX_LISTED_VMS];
	struct gmem_file_stats vst;
	struct gmem_stats s;
	size_t nr = 0;
	char key[48];

	gmem_stats(&s);
	fprintf(out, "%-20s %12d\n", "Pid:", (int)getpid());
	fprintf(out, "%-20s %12u\n", "Files:", s.files);
	fprintf(out, "%-20s %12u\n", "Vms:", s.vms);
	line_kb(out, "GmemTotal", s.total.resident_bytes);
	line_kb(out, "GmemSize", s.total.size);
	line_kb(out, "GmemPopulated", s.total.populated_bytes);
	if (s.total.touched_bytes != GMEM_STATS_UNKNOWN)
		line_kb(out, "GmemTouched", s.total.touched_bytes);
	line_kb(out, "GmemDiscarded", s.total.discarded_bytes);
	fprintf(out, "%-20s %12llu\n", "GmemHugePages:",
		(unsigned long long)s.total.hugepages);
	for (int b = 1; b < GMEM_BACKEND_COUNT; b++)
		line_kb(out, backend_keys[b], s.backend[b].resident_bytes);
	for (int n = 0; n < GMEM_MAX_NUMA_NODES; n++) {
		if (!(h->numa_node_mask & (1ULL << n)))
			continue;
		snprintf(key, sizeof(key), "GmemNode%d", n);
		line_kb(out, key, s.total.node_bytes[n]);
	}
	line_kb(out, "GmemNodeUnknown", s.total.unknown_node_bytes);
	/* Take references, then drop the lock: gmem_vm_stats() takes it. */
	pthread_mutex_lock(&registry_lock);
	for (struct gmem_vm *vm = vms; vm && nr < MAX_LISTED_VMS;
	     vm = vm->reg_next)
		if (gmem_vm_tryget(vm))
			list[nr++] = vm;
	pthread_mutex_unlock(&registry_lock);
	for (size_t i = 0; i < nr; i++) {
		gmem_vm_stats(list[i], &vst);
		snprintf(key, sizeof(key), "GmemVm%u", list[i]->id);
		line_kb(out, key, vst.resident_bytes);
		gmem_vm_put(list[i]);
	}
}

static int export_once(const char *path)
{
	char tmp[600];
	FILE *f;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	f = fopen(tmp, "we");
	if (!f)
		return -errno;
	write_snapshot(f);
	if (fclose(f) != 0 || rename(tmp, path) < 0) {
		unlink(tmp);
		return -errno;
	}
	return 0;
}

static void *export_loop(void *arg)
{
	(void)arg;
	pthread_mutex_lock(&exporter.lock);
	while (!exporter.stop) {
		struct timespec ts;
		uint64_t ns;

		pthread_mutex_unlock(&exporter.lock);
		export_once(exporter.path);
		pthread_mutex_lock(&exporter.lock);
		clock_gettime(CLOCK_REALTIME, &ts);
		ns = (uint64_t)ts.tv_nsec + exporter.interval_ms * 1000000ULL;
		ts.tv_sec += (time_t)(ns / 1000000000ULL);
		ts.tv_nsec = (long)(ns % 1000000000ULL);
		if (!exporter.stop)
			pthread_cond_timedwait(&exporter.wake, &exporter.lock, &ts);
	}
	pthread_mutex_unlock(&exporter.lock);
	return NULL;
}

int gmem_stats_export_start(const char *dir, unsigned int interval_ms)
{
	int ret = 0;

	if (!dir)
		dir = "/run/gmem";
	if (interval_ms == 0 || interval_ms > 3600 * 1000)
		return gmem_fail(EINVAL, "stats export: interval %u ms is not "
				 "in 1..3600000", interval_ms);
	if (mkdir(dir, 0755) < 0 && errno != EEXIST)
		return gmem_fail(errno, "stats export: mkdir %s: %s", dir,
				 strerror(errno));
	pthread_mutex_lock(&exporter.lock);
	if (exporter.running) {
		ret = gmem_fail(EBUSY, "stats export: already running to %s",
				exporter.path);
		goto unlock;
	}
	snprintf(exporter.path, sizeof(exporter.path), "%s/%d.stats", dir,
		 (int)getpid());
	/* Write once now, so a failure shows here and readers never wait. */
	ret = export_once(exporter.path);
	if (ret < 0) {
		ret = gmem_fail(-ret, "stats export: writing %s: %s",
				exporter.path, strerror(-ret));
		goto unlock;
	}
	exporter.interval_ms = interval_ms;
	exporter.stop = false;
	ret = pthread_create(&exporter.thread, NULL, export_loop, NULL);
	if (ret) {
		unlink(exporter.path);
		ret = gmem_fail(ret, "stats export: thread: %s", strerror(ret));
		goto unlock;
	}
	exporter.running = true;
unlock:
	pthread_mutex_unlock(&exporter.lock);
	return ret;
}

int gmem_stats_export_stop(void)
{
	pthread_mutex_lock(&exporter.lock);
	if (!exporter.running) {
		pthread_mutex_unlock(&exporter.lock);
		return gmem_fail(ENOENT, "stats export: not running");
	}
	exporter.stop = true;
	pthread_cond_signal(&exporter.wake);
	pthread_mutex_unlock(&exporter.lock);
	pthread_join(exporter.thread, NULL);
	pthread_mutex_lock(&exporter.lock);
	exporter.running = false;
	unlink(exporter.path);
	pthread_mutex_unlock(&exporter.lock);
	return 0;
}
