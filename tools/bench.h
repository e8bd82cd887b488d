/* SPDX-License-Identifier: MIT */
/* bench.h - what the parts of "gmemctl bench" share: options, rows, helpers. */
#ifndef GMEMCTL_BENCH_H
#define GMEMCTL_BENCH_H

#include <stdbool.h>
#include <stdint.h>

#include "gmem.h"

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)
#define GIB (1ULL << 30)
#define TIB (1ULL << 40)

/* The parts, each a file of its own (bench_<part>.c). */
enum bench_part {
	PART_READY,		/* make memory ready, every method */
	PART_FAULTS,		/* KVM's faults on a guest's first pass */
	PART_DISCARD,		/* discard throughput against raw punch */
	PART_LATENCY,		/* until a guest reads zero */
	PART_START,		/* guests that start at once */
	PART_SCALE,		/* stats, many files, many memslots */
	PART_OVERHEAD,		/* each call against its raw syscalls */
	PART_COUNT
};

enum bench_format { FMT_MARKDOWN, FMT_CSV, FMT_JSON };

struct bench_opts {
	unsigned int parts;		/* bit per enum bench_part */
	enum bench_format format;
	const char *csv_file;		/* also write CSV here */
	bool quick;
	bool grow_pool;			/* root: grow hugetlb pools for a part */
	int runs;			/* interleaved repetitions; medians */
	uint64_t sizes[4];		/* ready part */
	int nsizes;
	uint64_t guest_size;		/* faults part */
	uint64_t bulk_size;		/* discard and overhead parts */
	uint64_t sparse[3];		/* scale: sparse file sizes */
	int nsparse;
	unsigned int files;		/* scale: files for gmem_stats */
	unsigned int slots[2];		/* scale: memslots, small and large */
	unsigned int calls;		/* overhead: calls per batch */
};

#define NO_VALUE (-1.0)		/* a double a row does not have */
#define NO_COUNT (-1LL)		/* a count a row does not have */

/*
 * One measured figure.  Every part writes the same shape, so CSV and JSON
 * keep one schema; the markdown table of a part shows only its columns.
 * ratio is always this row's seconds over the seconds of the row whose
 * method is ratio_to (same part, backend and size): lower is faster.
 */
struct bench_row {
	enum bench_part part;
	char backend[16];		/* "" when not about one backend */
	uint64_t size;			/* bytes the row is about, or 0 */
	long long count;		/* files, slots, calls...; NO_COUNT */
	char method[32];		/* a key, stable for scripts */
	char what[80];			/* for people */
	double seconds;			/* median */
	double max_seconds;
	double per_call_us;
	double gib_s;
	double ratio;
	char ratio_to[32];
	long long faults;		/* KVM pf_taken over the pass */
	long long pages_4k, pages_2m, pages_1g;
	char note[320];
};

struct bench {
	struct bench_opts o;
	struct bench_row *rows;
	int nrows, cap;
	struct gmem_host host;
	struct gmem_vm *vm;		/* owns guest_memfd files; or NULL */
	char vm_why[200];		/* why there is no VM */
	unsigned int cpus;
	char command[512];
	char date[40];
	char kernel[80];
	double load_start, load_end;	/* 1-minute load average */
	int qemu_start, qemu_end;	/* qemu-system processes running */
	double elapsed;
	double part_seconds[PART_COUNT];
	double part_load[PART_COUNT];	/* 1-minute load after each part */
};

/* A new row with every optional figure unset. */
struct bench_row *bench_add(struct bench *b, enum bench_part part,
			    const char *backend, uint64_t size,
			    const char *method, const char *what_fmt, ...)
	__attribute__((format(printf, 6, 7)));
/* A row that says why a part or backend has no figures. */
void bench_skip(struct bench *b, enum bench_part part, const char *backend,
		uint64_t size, const char *fmt, ...)
	__attribute__((format(printf, 5, 6)));
struct bench_row *bench_find(struct bench *b, enum bench_part part,
			     const char *backend, uint64_t size,
			     const char *method);
/* Fill ratio for every row that names a ratio_to row. */
void bench_ratios(struct bench *b);

double median(const double *v, int n);
/* The value below which a fraction p of v lies (p = 0.9: the p90). */
double percentile(const double *v, int n, double p);
double maximum(const double *v, int n);
/* Run fn over [p, p + len) cut into n contiguous pieces, one per thread. */
void run_threads(uint8_t *p, uint64_t len, unsigned int n,
		 void (*fn)(uint8_t *p, uint64_t len));
void populate_write(uint8_t *p, uint64_t len);	/* MADV_POPULATE_WRITE */
void zero_bytes(uint8_t *p, uint64_t len);	/* memset 0 */
void touch_pages(uint8_t *p, uint64_t len);	/* one write per 4 KiB */

/* A library file of backend; guest_memfd uses b->vm.  Reason in why. */
int bench_file(struct bench *b, enum gmem_backend backend, uint64_t size,
	       struct gmem_file **f, char *why, size_t len);
/* Whether backend can have a file of size now; if not, why. */
bool bench_backend_ok(struct bench *b, enum gmem_backend backend,
		      uint64_t size, char *why, size_t len);
/* Short names used in rows: "memfd", "guest_memfd", "hugetlb 2M". */
const char *bench_backend(enum gmem_backend backend);

/*
 * hugetlb pool room for pages 2 MiB pages, grown by us (root, --grow-pool)
 * under the lock the test harness uses, or already there.  Undone by
 * bench_pool_put(), also on SIGINT/SIGTERM.
 */
bool bench_pool_get(struct bench *b, uint64_t pages, char *why, size_t len);
void bench_pool_put(void);

/*
 * The raw KVM calls the library stands for, made directly, for the
 * comparisons: a VM fd, a memslot (memory_size 0 deletes it) and a
 * host-mappable guest_memfd.  They return what the ioctl returned.
 */
int raw_vm_create(void);
int raw_set_slot(int vm_fd, uint32_t slot, uint64_t gpa, uint64_t size,
		 void *addr, bool region2);
int raw_guest_memfd(int vm_fd, uint64_t size);

/* A guest of size on backend be; hugetlb in pages of huge (2 MiB if 0). */
struct guest_config;
void bench_guest_config(enum gmem_backend be, uint64_t huge, uint64_t size,
			struct guest_config *cfg);

void bench_ready(struct bench *b);
void bench_faults(struct bench *b);
void bench_latency(struct bench *b);
void bench_start(struct bench *b);
void bench_discard(struct bench *b);
void bench_scale(struct bench *b);
void bench_overhead(struct bench *b);

void bench_report(struct bench *b);
/* gnuplot script that draws a CSV this command wrote, into dir. */
int bench_plot(const char *csv, const char *dir);

#endif /* GMEMCTL_BENCH_H */
