/* SPDX-License-Identifier: MIT */
/*
 * harness.h - a test program is a table of cases.  Each case runs in a
 * child process of its own, so a failed check, a leak or a crash in one
 * case never spills into the next, and passes, fails (the first failed
 * check, with file:line and the library's reason) or skips with a reason.
 * Output lines "PASS name", "FAIL name: ...", "SKIP name: ..." are what
 * tests/run-tests.sh counts.
 *
 * Host-wide things a case changes (hugetlb pools, sysfs knobs, cgroups)
 * go through helpers here: they serialise with other test runs on the
 * same machine, and are put back when the case ends, however it ends.
 */
#ifndef GMEM_HARNESS_H
#define GMEM_HARNESS_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include "gmem.h"

struct t_case {
	const char *name;
	void (*fn)(void);
};

/* Run the cases; exit status 0 (all passed or skipped), 1, or 77 (all
 * skipped).  argv[1], if given, runs only the case of that name. */
int t_main(int argc, char **argv, const struct t_case *cases, size_t n);

void t_fail(const char *file, int line, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void t_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
bool t_failed(void);

/* Skip the case unless /dev/kvm works; the reason names what is missing. */
bool t_need_kvm(void);
/* Skip the case unless guest_memfd can be created and host-mapped. */
bool t_need_guest_memfd_mmap(void);
/*
 * Skip the case unless KVM offers a VM type with private memory; inside
 * the emulated machine, which is built to have it, fail with the reason
 * it is missing instead.
 */
bool t_need_private(void);

/* Where the emulated machine's edu DMA device is (its features file). */
struct t_edu {
	char bdf[32];			/* PCI address, 0000:00:01.0 */
	char group[64];			/* /dev/vfio/N */
	char cdev[64];			/* /dev/vfio/devices/vfioN */
};
/*
 * Skip the case unless this is the emulated machine; there, which is built
 * with edu behind an IOMMU, fail with the machine's reason if edu cannot
 * be reached through VFIO type1 (iommufd false) or iommufd (true).
 */
bool t_need_edu(bool iommufd, struct t_edu *out);

/* tool.c: run build/gmemctl with args (NULL-terminated); its stdout and
 * stderr land in t_out; returns its exit status. */
extern char t_out[1 << 16];
int t_gmemctl(const char *const *args);
/* The same with a pseudo-terminal for its stdout and stderr. */
int t_gmemctl_tty(const char *const *args);
bool t_json_valid(const char *s);
/* The number after "key:" on a line of t_out, or ~0ULL. */
unsigned long long t_out_value(const char *key);

/*
 * Hold a host-wide lock named what (e.g. "hugetlb") until the case ends,
 * so two runs of the suite on one machine take turns with it.
 */
void t_lock_host(const char *what);

/*
 * Make exactly n pages of page_size free in the hugetlb pool (root only)
 * for this case, holding the "hugetlb" host lock; the pool is put back
 * when the case ends.  Skips the case (false) when that cannot be done.
 */
bool t_hugepool_set(uint64_t page_size, uint64_t n);
/* A pool counter: "nr_hugepages", "free_hugepages", "resv_hugepages". */
uint64_t t_hugepool_read(uint64_t page_size, const char *field);

/*
 * Write a sysfs or proc knob for this case, holding the host lock named
 * after it; the old value is written back when the case ends.
 */
bool t_knob_set(const char *path, const char *value);

/*
 * A memory cgroup of the case's own (v1 or v2, whichever the machine has;
 * mounted for the case if none is), with limit bytes (0: none).  Processes
 * join with t_cgroup_join(); the cgroup goes when the case ends.
 */
bool t_cgroup_create(uint64_t limit);
/* The same with the hugetlb controller, limiting pages of page_size. */
bool t_cgroup_create_hugetlb(uint64_t page_size, uint64_t limit);
bool t_cgroup_join(pid_t pid);
/* Bytes charged to the case's cgroup now, or ~0ULL. */
uint64_t t_cgroup_usage(void);
/* A key of the case's cgroup's memory.stat ("shmem", ...), or ~0ULL. */
uint64_t t_cgroup_stat(const char *key);

/* A directory of the case's own, removed with its contents at the end. */
const char *t_tmpdir(void);

/* Open file descriptors of this process, to show nothing leaked. */
int t_count_fds(void);

#define T_SKIP_UNLESS(cond)						\
	do {								\
		if (!(cond))						\
			return;						\
	} while (0)

#define CHECK(cond)							\
	do {								\
		if (!(cond)) {						\
			t_fail(__FILE__, __LINE__, "%s", #cond);	\
			return;						\
		}							\
	} while (0)

/* expr returns >= 0; on failure show the library's reason. */
#define CHECK_OK(expr)							\
	do {								\
		long __r = (long)(expr);				\
		if (__r < 0) {						\
			t_fail(__FILE__, __LINE__, "%s = %ld (%s)",	\
			       #expr, __r, gmem_last_error());		\
			return;						\
		}							\
	} while (0)

/*
 * expr fails with exactly -err and gives a reason of its own (the library
 * clears the reason when a call starts, so old text cannot pass for it).
 */
#define CHECK_ERR(expr, err)						\
	do {								\
		long __r = (long)(expr);				\
		if (__r != -(long)(err)) {				\
			t_fail(__FILE__, __LINE__,			\
			       "%s = %ld, expected %ld (%s)", #expr,	\
			       __r, -(long)(err), gmem_last_error());	\
			return;						\
		}							\
		if (!gmem_last_error()[0]) {				\
			t_fail(__FILE__, __LINE__, "%s: no reason given", \
			       #expr);					\
			return;						\
		}							\
	} while (0)

#define T_CASE(fn) { #fn, fn }
#define T_MAIN(cases)							\
	int main(int argc, char **argv)					\
	{								\
		return t_main(argc, argv, cases,			\
			      sizeof(cases) / sizeof(cases[0]));	\
	}

#endif /* GMEM_HARNESS_H */
