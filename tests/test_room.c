// SPDX-License-Identifier: MIT
/*
 * test_room.c - populate never gets the VMM killed: past a memory cgroup's
 * limit, or a hugetlb cgroup's, it fails with -ENOMEM and the numbers,
 * what was populated before stays usable and accounted, and the process
 * lives on.  Each case runs the populate in a child inside a real cgroup.
 */
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MIB (1ULL << 20)

/*
 * Fork a child, let it run before (if any) where it is, put it in the
 * case's cgroup, run fn there, and check that it ended by itself with
 * status 0 (a cgroup OOM kill is SIGKILL).
 */
static void in_cgroup_after(int (*before)(void), int (*fn)(void))
{
	int go[2], ready[2], status;
	char c = 0;
	pid_t pid;

	CHECK(pipe(go) == 0 && pipe(ready) == 0);
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		close(go[1]);
		close(ready[0]);
		if (before && before())
			_exit(4);
		if (write(ready[1], &c, 1) != 1)
			_exit(3);
		/* Wait until the parent has moved this process. */
		if (read(go[0], &c, 1) != 1)
			_exit(3);
		_exit(fn());
	}
	close(go[0]);
	close(ready[1]);
	if (read(ready[0], &c, 1) != 1)
		t_fail(__FILE__, __LINE__, "the child failed before moving");
	else if (t_cgroup_join(pid))
		c = 1;
	if (!c) {
		close(go[1]);
		close(ready[0]);
		waitpid(pid, &status, 0);
		return;
	}
	close(ready[0]);
	c = 0;
	CHECK(write(go[1], &c, 1) == 1);
	close(go[1]);
	CHECK(waitpid(pid, &status, 0) == pid);
	if (WIFSIGNALED(status))
		t_fail(__FILE__, __LINE__, "the populating process was killed "
		       "by signal %d", WTERMSIG(status));
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

static void in_cgroup(int (*fn)(void))
{
	in_cgroup_after(NULL, fn);
}

#define FAIL_IF(cond, code)						\
	do {								\
		if (cond) {						\
			fprintf(stderr, "# %s:%d: %s (%s)\n", __FILE__,	\
				__LINE__, #cond, gmem_last_error());	\
			return code;					\
		}							\
	} while (0)

/* In a 96 MiB cgroup: the first 64 MiB piece fits, the rest does not. */
static int populate_past_memcg_limit(void)
{
	struct gmem_file_args a = { .size = 256 * MIB,
				    .backend = GMEM_BACKEND_MEMFD };
	struct gmem_file_stats st;
	struct gmem_file *f;
	struct stat sb;
	uint8_t *p;

	FAIL_IF(gmem_file_create(&a, &f) < 0, 10);
	FAIL_IF(gmem_populate(f, 0, 256 * MIB) != -ENOMEM, 11);
	FAIL_IF(!strstr(gmem_last_error(), "would not fit in memory cgroup"),
		12);
	FAIL_IF(!strstr(gmem_last_error(), "limit 98304 KiB"), 13);
	FAIL_IF(gmem_file_stats(f, &st) < 0, 14);
	FAIL_IF(fstat(gmem_file_fd(f), &sb) < 0, 15);
	/* What was populated before the refusal is there and counted. */
	FAIL_IF(st.populated_bytes != 64 * MIB, 16);
	FAIL_IF((uint64_t)sb.st_blocks * 512 != st.populated_bytes, 17);
	p = gmem_file_host_addr(f);
	p[0] = 1;
	p[64 * MIB - 1] = 1;
	FAIL_IF(gmem_file_close(f) < 0, 18);
	return 0;
}

static void memcg_limit_gives_enomem(void)
{
	T_SKIP_UNLESS(t_cgroup_create(96 * MIB));
	in_cgroup(populate_past_memcg_limit);
}

/* A populate outside any limit first: the library has looked up the
 * cgroup hierarchy already. */
static int populate_a_little(void)
{
	struct gmem_file_args a = { .size = 4 * MIB,
				    .backend = GMEM_BACKEND_MEMFD };
	struct gmem_file *f;

	FAIL_IF(gmem_file_create(&a, &f) < 0, 20);
	FAIL_IF(gmem_populate(f, 0, 4 * MIB) < 0, 21);
	FAIL_IF(gmem_file_close(f) < 0, 22);
	return 0;
}

/* The thread's cgroup is asked on every populate, not remembered. */
static void limit_seen_after_moving_cgroups(void)
{
	T_SKIP_UNLESS(t_cgroup_create(96 * MIB));
	in_cgroup_after(populate_a_little, populate_past_memcg_limit);
}

/* In a hugetlb cgroup of two 2 MiB pages, a third page is refused. */
static int populate_past_hugetlb_limit(void)
{
	struct gmem_file_args a = { .size = 8 * MIB,
				    .backend = GMEM_BACKEND_HUGETLB };
	struct gmem_file_stats st;
	struct gmem_file *f;

	FAIL_IF(gmem_file_create(&a, &f) < 0, 10);
	FAIL_IF(gmem_populate(f, 0, 8 * MIB) != -ENOMEM, 11);
	FAIL_IF(!strstr(gmem_last_error(), "hugetlb cgroup"), 12);
	FAIL_IF(gmem_file_stats(f, &st) < 0, 13);
	FAIL_IF(st.populated_bytes != 4 * MIB || st.hugepages != 2, 14);
	FAIL_IF(gmem_file_close(f) < 0, 15);
	return 0;
}

static void hugetlb_cgroup_limit_gives_enomem(void)
{
	T_SKIP_UNLESS(t_hugepool_set(2 * MIB, 4));
	T_SKIP_UNLESS(t_cgroup_create_hugetlb(2 * MIB, 4 * MIB));
	in_cgroup(populate_past_hugetlb_limit);
}

static const struct t_case cases[] = {
	T_CASE(memcg_limit_gives_enomem),
	T_CASE(limit_seen_after_moving_cgroups),
	T_CASE(hugetlb_cgroup_limit_gives_enomem),
};
T_MAIN(cases)
