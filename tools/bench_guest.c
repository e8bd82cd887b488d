// SPDX-License-Identifier: MIT
/*
 * bench_guest.c - the parts that need a running guest: KVM's own counts
 * of the faults a guest's first pass over its memory takes after each way
 * of making it ready (counts do not depend on how fast an emulator is),
 * and how long until a guest reads zero after a discard.
 */
#include <fcntl.h>
#include <linux/falloc.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "gmemctl.h"
#include "runner.h"

enum walk_method {
	W_LAZY, W_PREALLOC, W_POPULATE, W_NO_ZERO, W_PREFAULT, W_COUNT
};

static const char *const walk_key[W_COUNT] = {
	"lazy", "prealloc", "populate", "populate_no_zero", "populate_prefault",
};

static const char *const walk_what[W_COUNT] = {
	"Firecracker lazy (nothing up front)",
	"QEMU/CH prealloc (MADV_POPULATE_WRITE)",
	"gmem_populate",
	"gmem_populate NO_ZERO",
	"gmem_populate + gmem_prefault",
};

void bench_guest_config(enum gmem_backend be, uint64_t huge, uint64_t size,
			struct guest_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->backend = be;
	cfg->ram_size = size;
	cfg->map_gib = (size + GIB - 1) / GIB;
	if (cfg->map_gib < 1)
		cfg->map_gib = 1;
	if (be == GMEM_BACKEND_HUGETLB)
		cfg->page_size = huge ? huge : 2 * MIB;
}

static void kvm_counts(struct guest *g, struct bench_row *r)
{
	static const char *const names[] = { "pages_4k", "pages_2m",
					     "pages_1g" };
	long long *out[] = { &r->pages_4k, &r->pages_2m, &r->pages_1g };
	uint64_t v;

	for (int i = 0; i < 3; i++)
		if (guest_kvm_stat(g, names[i], &v) == 0)
			*out[i] = (long long)v;
}

/*
 * Make a guest's RAM ready by method m, then let the guest write one byte
 * per 4 KiB over everything after its boot region, and count.
 */
static int walk(enum gmem_backend be, uint64_t huge, uint64_t size,
		enum walk_method m, struct bench_row *r, char *why, size_t len)
{
	struct gmem_populate_args pa = { .flags = GMEM_POPULATE_NO_ZERO };
	uint64_t data = size - GUEST_BOOT_SIZE;
	uint64_t before = 0, after = 0, n;
	struct guest_config cfg;
	struct guest g;
	int ret = 0;

	bench_guest_config(be, huge, size, &cfg);
	if (guest_create(&g, &cfg) < 0) {
		snprintf(why, len, "%s", g.error);
		return -1;
	}
	if (m == W_PREALLOC)
		populate_write(g.ram_host, size);
	else if (m == W_POPULATE || m == W_PREFAULT)
		ret = gmem_populate(g.ram, 0, size);
	else if (m == W_NO_ZERO)
		ret = gmem_populate_with(g.ram, 0, size, &pa);
	if (ret < 0) {
		snprintf(why, len, "%s", gmem_last_error());
		goto out;
	}
	ret = guest_memcmd_start(&g);
	if (ret < 0) {
		snprintf(why, len, "%s", g.error);
		goto out;
	}
	if (m == W_PREFAULT &&
	    gmem_prefault(g.vm, g.vcpu_fd, GUEST_BOOT_SIZE, data) < 0) {
		/* A KVM without it is data: the row says so. */
		snprintf(r->note, sizeof(r->note), "%s", gmem_last_error());
		ret = 1;
		goto stop;
	}
	if (guest_kvm_stat(&g, "pf_taken", &before) < 0) {
		snprintf(r->note, sizeof(r->note), "this KVM has no pf_taken");
		ret = 1;
		goto stop;
	}
	ret = guest_memcmd(&g, MEMCMD_TOUCH, GUEST_BOOT_SIZE, data, 4096, 0,
			   &n);
	if (ret < 0) {
		snprintf(why, len, "%s", g.error);
		goto out;
	}
	guest_kvm_stat(&g, "pf_taken", &after);
	r->faults = (long long)(after - before);
	r->count = (long long)n;
	kvm_counts(&g, r);
stop:
	guest_memcmd_stop(&g);
out:
	guest_destroy(&g);
	return ret < 0 ? -1 : 0;
}

/*
 * hugetlb 1 GiB, where a page is free (they are reserved at boot, as in
 * the emulated machine, never grown here): a 1 GiB guest, one page.
 */
static void faults_1g(struct bench *b)
{
	static const enum walk_method ms[] = { W_LAZY, W_POPULATE,
					       W_PREFAULT };
	uint64_t free_pages = 0;
	char why[256];

	for (unsigned int i = 0; i < b->host.nr_hugepage_sizes; i++)
		if (b->host.hugepages[i].page_size == GIB)
			free_pages = b->host.hugepages[i].free;
	if (free_pages < 1) {
		bench_skip(b, PART_FAULTS, "hugetlb 1G", GIB, "no free 1 GiB "
			   "page (reserve one at boot: hugepagesz=1G "
			   "hugepages=1)");
		return;
	}
	for (size_t i = 0; i < sizeof(ms) / sizeof(ms[0]); i++) {
		struct bench_row *r = bench_add(b, PART_FAULTS, "hugetlb 1G",
						GIB, walk_key[ms[i]], "%s",
						walk_what[ms[i]]);

		if (walk(GMEM_BACKEND_HUGETLB, GIB, GIB, ms[i], r, why,
			 sizeof(why)) < 0) {
			b->nrows--;
			bench_skip(b, PART_FAULTS, "hugetlb 1G", GIB, "%s", why);
			return;
		}
	}
}

void bench_faults(struct bench *b)
{
	static const enum gmem_backend backends[] = {
		GMEM_BACKEND_MEMFD, GMEM_BACKEND_GUEST_MEMFD,
		GMEM_BACKEND_HUGETLB,
	};
	uint64_t size = b->o.guest_size;
	char why[256];

	if (!b->host.kvm_present) {
		bench_skip(b, PART_FAULTS, NULL, size, "no KVM here (%s); run "
			   "this part in the emulated machine: tests/vm/"
			   "run-in-vm.sh build -- ./gmemctl bench --only faults",
			   b->host.kvm_error);
		return;
	}
	for (size_t i = 0; i < sizeof(backends) / sizeof(backends[0]); i++) {
		enum gmem_backend be = backends[i];
		const char *n = bench_backend(be);

		if (be == GMEM_BACKEND_HUGETLB &&
		    !bench_pool_get(b, size / (2 * MIB), why, sizeof(why))) {
			bench_skip(b, PART_FAULTS, n, size, "%s", why);
			continue;
		}
		for (int m = 0; m < W_COUNT; m++) {
			struct bench_row *r = bench_add(b, PART_FAULTS, n, size,
							walk_key[m], "%s",
							walk_what[m]);

			if (walk(be, 0, size, (enum walk_method)m, r, why,
				 sizeof(why)) < 0) {
				b->nrows--;
				bench_skip(b, PART_FAULTS, n, size, "%s", why);
				break;
			}
			/*
			 * A KVM that counts nothing over a lazy pass (a PVM
			 * one) would print zeros that look like data.
			 */
			if (m == W_LAZY && r->faults == 0 && r->count > 0 &&
			    r->pages_4k <= 0) {
				long long pages = r->count;

				b->nrows--;
				bench_skip(b, PART_FAULTS, NULL, size,
					   "this KVM counts no faults: pf_taken "
					   "and pages_4k stayed 0 while a guest "
					   "touched %lld new pages; count them "
					   "in the emulated machine (tests/vm/"
					   "run-in-vm.sh build -- ./gmemctl "
					   "bench --only faults)", pages);
				if (be == GMEM_BACKEND_HUGETLB)
					bench_pool_put();
				return;
			}
		}
		if (be == GMEM_BACKEND_HUGETLB)
			bench_pool_put();
	}
	faults_1g(b);
}

/* ---- latency until a guest reads zero ---- */

static void latency_on(struct bench *b, enum gmem_backend be)
{
	uint64_t size = 16 * MIB, psz, npages, v;
	int reps = b->o.quick ? 4 : 40, zero[2] = { 0, 0 }, k[2] = { 0, 0 };
	double t[2][64];
	const char *n = bench_backend(be);
	struct guest_config cfg;
	struct bench_row *r;
	struct guest g;
	char why[256];
	int fd;

	if (be == GMEM_BACKEND_HUGETLB &&
	    !bench_pool_get(b, size / (2 * MIB), why, sizeof(why))) {
		bench_skip(b, PART_LATENCY, n, 0, "%s", why);
		return;
	}
	bench_guest_config(be, 0, size, &cfg);
	if (guest_create(&g, &cfg) < 0 || gmem_populate(g.ram, 0, size) < 0 ||
	    guest_memcmd_start(&g) < 0) {
		bench_skip(b, PART_LATENCY, n, 0, "%s %s", g.error,
			   gmem_last_error());
		goto out;
	}
	psz = gmem_file_page_size(g.ram);
	npages = (size - GUEST_BOOT_SIZE) / psz;
	fd = gmem_file_fd(g.ram);
	for (int i = 0; i < reps; i++) {
		/* Library and raw punch take turns, on different pages. */
		int lib = i % 2;
		uint64_t gpa = GUEST_BOOT_SIZE + (uint64_t)(i / 2) % npages * psz;
		double s;

		/* The guest holds data there, mapped by KVM. */
		if (guest_memcmd(&g, MEMCMD_WRITE64, gpa, 0x5a5a5a5a5a5a5a5aULL,
				 0, 0, NULL) < 0)
			break;
		s = now_seconds();
		if (lib)
			gmem_discard(g.ram, gpa, psz);
		else
			fallocate(fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE,
				  (off_t)gpa, (off_t)psz);
		s = now_seconds() - s;
		if (guest_memcmd(&g, MEMCMD_READ64, gpa, 0, 0, 0, &v) < 0)
			break;
		t[lib][k[lib]++] = s;
		zero[lib] += v == 0;
	}
	for (int lib = 1; lib >= 0; lib--) {
		r = bench_add(b, PART_LATENCY, n, psz, lib ? "discard" : "punch",
			      "%s of one page, guest-mapped",
			      lib ? "gmem_discard" : "raw fallocate punch");
		r->count = k[lib];
		r->seconds = median(t[lib], k[lib]);
		r->max_seconds = maximum(t[lib], k[lib]);
		r->per_call_us = r->seconds * 1e6;
		if (lib)
			snprintf(r->ratio_to, sizeof(r->ratio_to), "punch");
		snprintf(r->note, sizeof(r->note), "the guest then read zero "
			 "%d of %d times", zero[lib], k[lib]);
	}
	guest_memcmd_stop(&g);
out:
	guest_destroy(&g);
	if (be == GMEM_BACKEND_HUGETLB)
		bench_pool_put();
}

void bench_latency(struct bench *b)
{
	if (!b->host.kvm_present) {
		bench_skip(b, PART_LATENCY, NULL, 0, "no KVM here (%s)",
			   b->host.kvm_error);
		return;
	}
	latency_on(b, GMEM_BACKEND_MEMFD);
	latency_on(b, GMEM_BACKEND_GUEST_MEMFD);
	latency_on(b, GMEM_BACKEND_HUGETLB);
}
