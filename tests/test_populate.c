// SPDX-License-Identifier: MIT
/*
 * test_populate.c - making memory ready: on several threads with the books
 * still matching the kernel, in the background while a guest runs (its
 * touches served either way), cancelled, failing with its reason, and
 * pre-faulted into KVM so a guest's first pass takes no faults.
 */
#include <poll.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "runner.h"

#define KIB (1ULL << 10)
#define MIB (1ULL << 20)

static struct gmem_file *make_memfd(uint64_t size)
{
	struct gmem_file_args a = { .size = size,
				    .backend = GMEM_BACKEND_MEMFD };
	struct gmem_file *f = NULL;

	return gmem_file_create(&a, &f) < 0 ? NULL : f;
}

/* Several threads, one range: every page there, counted once, zeroed. */
static void threads_fill_the_range(void)
{
	struct gmem_populate_args a = { .threads = 4 };
	struct gmem_file *f = make_memfd(256 * MIB);
	struct gmem_file_stats st;
	struct stat sb;
	uint8_t *p;

	CHECK(f);
	p = gmem_file_host_addr(f);
	p[100 * MIB] = 7;	/* already there: stays, counted once */
	CHECK_OK(gmem_populate_with(f, 0, 256 * MIB, &a));
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(fstat(gmem_file_fd(f), &sb) == 0);
	CHECK((uint64_t)sb.st_blocks * 512 == 256 * MIB);
	CHECK(st.populated_bytes == 256 * MIB && st.populate_calls == 1);
	/* Ready means zeroed and mapped: every page is in use already. */
	CHECK(st.touched_bytes == 256 * MIB);
	CHECK(p[100 * MIB] == 7 && p[0] == 0 && p[256 * MIB - 1] == 0);
	CHECK_OK(gmem_file_close(f));
}

/* Allocate-only leaves pages for the first touch to zero. */
static void no_zero_only_allocates(void)
{
	struct gmem_populate_args a = { .flags = GMEM_POPULATE_NO_ZERO };
	struct gmem_file *f = make_memfd(16 * MIB);
	struct gmem_file_stats st;

	CHECK(f);
	CHECK_OK(gmem_populate_with(f, 0, 16 * MIB, &a));
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(st.populated_bytes == 16 * MIB && st.resident_bytes == 16 * MIB);
	CHECK(st.touched_bytes == 0);
	CHECK_OK(gmem_file_close(f));
}

static void bad_populate_args(void)
{
	struct gmem_populate_args a = { .threads = 65 };
	struct gmem_file *f = make_memfd(4 * MIB);
	struct gmem_populate_job *j = NULL;

	CHECK(f);
	CHECK_ERR(gmem_populate_with(f, 0, 4 * MIB, &a), EINVAL);
	a = (struct gmem_populate_args){ .flags = 1U << 7 };
	CHECK_ERR(gmem_populate_with(f, 0, 4 * MIB, &a), EINVAL);
	a = (struct gmem_populate_args){ .reserved = { 1 } };
	CHECK_ERR(gmem_populate_with(f, 0, 4 * MIB, &a), EINVAL);
	CHECK_ERR(gmem_populate_start(f, 0, 8 * MIB, NULL, &j), ERANGE);
	CHECK_ERR(gmem_populate_start(f, 0, 4 * MIB, NULL, NULL), EINVAL);
	CHECK_ERR(gmem_populate_start(NULL, 0, 4 * MIB, NULL, &j), EINVAL);
	CHECK_ERR(gmem_populate_start(f, 0, 0, NULL, &j), EINVAL);
	CHECK_ERR(gmem_populate_start(f, 1, 4096, NULL, &j), EINVAL);
	CHECK_ERR(gmem_populate_start(f, ~0ULL << 12, 8192, NULL, &j),
		  EOVERFLOW);
	a = (struct gmem_populate_args){ .threads = 65 };
	CHECK_ERR(gmem_populate_start(f, 0, 4 * MIB, &a, &j), EINVAL);
	CHECK_ERR(gmem_populate_with(NULL, 0, 4 * MIB, NULL), EINVAL);
	CHECK_ERR(gmem_populate_poll(NULL, NULL), EINVAL);
	CHECK_ERR(gmem_populate_wait(NULL), EINVAL);
	CHECK_ERR(gmem_populate_cancel(NULL), EINVAL);
	CHECK_ERR(gmem_populate_fd(NULL), EINVAL);
	CHECK(j == NULL);
	CHECK_OK(gmem_file_close(f));
}

/*
 * In the background: its fd says when it is done, progress reaches the
 * whole range, and the file's handle may be closed meanwhile.
 */
static void background_job_finishes(void)
{
	struct gmem_file *f = make_memfd(128 * MIB);
	struct gmem_populate_job *j;
	struct pollfd pfd;
	uint64_t done = 0;
	struct stat sb;
	int fd;

	CHECK(f);
	fd = dup(gmem_file_fd(f));
	CHECK_OK(gmem_populate_start(f, 0, 128 * MIB, NULL, &j));
	CHECK_OK(gmem_file_close(f));		/* the job holds it */
	pfd.fd = gmem_populate_fd(j);
	pfd.events = POLLIN;
	CHECK(pfd.fd >= 0);
	/* An event, not a time; the bound turns a hang into a failure. */
	CHECK(poll(&pfd, 1, 120 * 1000) == 1);
	CHECK(gmem_populate_poll(j, &done) == 1 && done == 128 * MIB);
	CHECK_OK(gmem_populate_wait(j));
	CHECK(fstat(fd, &sb) == 0 && (uint64_t)sb.st_blocks * 512 == 128 * MIB);
	close(fd);
}

/* Cancelled, it stops after the pieces under way and says so. */
static void background_job_cancels(void)
{
	struct gmem_populate_args a = { .threads = 1 };
	struct gmem_file *f = make_memfd(1024 * MIB);
	struct gmem_populate_job *j;
	struct gmem_file_stats st;
	uint64_t done;
	struct stat sb;

	CHECK(f);
	CHECK_OK(gmem_populate_start(f, 0, 1024 * MIB, &a, &j));
	CHECK_OK(gmem_populate_cancel(j));
	CHECK_ERR(gmem_populate_wait(j), ECANCELED);
	CHECK(strstr(gmem_last_error(), "cancelled"));
	/* What it did is there and counted: the books match the kernel. */
	CHECK_OK(gmem_file_stats(f, &st));
	CHECK(fstat(gmem_file_fd(f), &sb) == 0);
	done = (uint64_t)sb.st_blocks * 512;
	CHECK(st.populated_bytes == done && done < 1024 * MIB);
	CHECK_OK(gmem_file_close(f));
}

/* A job that fails reports the first error with its reason. */
static int job_past_the_limit(void)
{
	struct gmem_file *f = make_memfd(256 * MIB);
	struct gmem_populate_job *j;
	int ret;

	if (!f || gmem_populate_start(f, 0, 256 * MIB, NULL, &j) < 0)
		return 10;
	ret = gmem_populate_wait(j);
	if (ret != -ENOMEM || !strstr(gmem_last_error(), "memory cgroup"))
		return 11;
	return gmem_file_close(f) < 0 ? 12 : 0;
}

static void background_job_reports_errors(void)
{
	int status;
	pid_t pid;

	T_SKIP_UNLESS(t_cgroup_create(96 * MIB));
	pid = fork();
	CHECK(pid >= 0);
	if (pid == 0) {
		/* Into the cgroup before any allocation of the job's. */
		if (!t_cgroup_join(getpid()))
			_exit(9);
		_exit(job_past_the_limit());
	}
	CHECK(waitpid(pid, &status, 0) == pid);
	CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}

/*
 * A guest runs while its RAM is populated behind it: what it writes stays
 * (the job never zeroes a page the guest already has), what it reads of
 * pages the job has not reached yet is zero.
 */
static void guest_runs_during_background_populate(void)
{
	struct guest_config cfg = { .backend = GMEM_BACKEND_AUTO,
				    .ram_size = 64 * MIB };
	struct gmem_populate_job *j;
	struct guest g;
	uint64_t res;

	T_SKIP_UNLESS(t_need_kvm());
	CHECK(guest_create(&g, &cfg) == 0);
	CHECK(guest_memcmd_start(&g) == 0);
	CHECK_OK(gmem_populate_start(g.ram, 0, 64 * MIB, NULL, &j));
	CHECK(guest_memcmd(&g, MEMCMD_FILL_PAGES, 8 * MIB, 32 * MIB, 9, 0,
			   NULL) == 0);
	CHECK(guest_memcmd(&g, MEMCMD_CHECK_ZERO_PAGES, 40 * MIB, 16 * MIB, 0,
			   0, &res) == 0 && res == GUEST_CHECK_OK);
	CHECK_OK(gmem_populate_wait(j));
	CHECK(guest_memcmd(&g, MEMCMD_CHECK_PAGES, 8 * MIB, 32 * MIB, 9, 0,
			   &res) == 0 && res == GUEST_CHECK_OK);
	CHECK(guest_memcmd_stop(&g) == 0);
	guest_destroy(&g);
}

/*
 * One try of the case below: 1 if the guest's writes came before the job
 * reached them and the job kept them, 0 if the job got there first (a
 * stalled vCPU on a busy machine: try again), -1 on a failure.
 */
static int touch_ahead_once(void)
{
	const uint64_t ram = 512 * MIB, at = ram - 64 * KIB;
	struct guest_config cfg = { .backend = GMEM_BACKEND_AUTO,
				    .ram_size = ram };
	struct gmem_populate_args one = { .threads = 1 };
	struct gmem_file_stats st;
	struct gmem_populate_job *j = NULL;
	const char *why = NULL;
	struct guest g;
	uint64_t done = 0, res = 0;
	int ret = -1;

	if (guest_create(&g, &cfg) < 0 || guest_memcmd_start(&g) < 0) {
		t_fail(__FILE__, __LINE__, "guest: %s", g.error);
		goto out;
	}
	if (gmem_populate_start(g.ram, 0, ram, &one, &j) < 0) {
		why = gmem_last_error();
		goto fail;
	}
	if (guest_memcmd(&g, MEMCMD_FILL_PAGES, at, 64 * KIB, 5, 0, NULL) < 0)
		goto guest_failed;
	gmem_populate_poll(j, &done);
	ret = gmem_populate_wait(j);
	j = NULL;
	if (ret < 0) {
		why = gmem_last_error();
		goto fail;
	}
	if (done >= ram / 2) {
		printf("# the job was %llu MiB in when the guest's writes were "
		       "done: not ahead of it; again\n",
		       (unsigned long long)(done >> 20));
		ret = 0;
		goto out;
	}
	if (guest_memcmd(&g, MEMCMD_CHECK_PAGES, at, 64 * KIB, 5, 0,
			 &res) < 0)
		goto guest_failed;
	ret = -1;
	if (res != GUEST_CHECK_OK) {
		why = "the job did not keep what the guest wrote ahead of it";
		goto fail;
	}
	if (gmem_file_stats(g.ram, &st) < 0 || st.populated_bytes != ram) {
		why = "the job did not populate all of it";
		goto fail;
	}
	if (guest_memcmd_stop(&g) < 0)
		goto guest_failed;
	ret = 1;
	goto out;
guest_failed:
	why = g.error;
fail:
	t_fail(__FILE__, __LINE__, "%s", why);
	ret = -1;
out:
	if (j)
		gmem_populate_wait(j);
	guest_destroy(&g);
	return ret;
}

/*
 * The guest's touches come before the job reaches them, and that is
 * checked, not assumed: one thread takes the pieces in order, so while
 * less than half is done the last pages are untouched by the job.  The
 * guest writes them then; the job, passing over them later, keeps what
 * it wrote.
 */
static void guest_touches_ahead_of_the_job(void)
{
	int ret = 0;

	T_SKIP_UNLESS(t_need_kvm());
	for (int i = 0; i < 3 && ret == 0; i++)
		ret = touch_ahead_once();
	if (ret == 0)
		t_fail(__FILE__, __LINE__, "three times the job got to the "
		       "guest's pages first");
}

/* KVM faults of a guest's first pass over 16 MiB, with or without pre-fault. */
static int first_pass_faults(bool prefault, uint64_t *faults)
{
	struct guest_config cfg = { .backend = GMEM_BACKEND_AUTO,
				    .ram_size = 24 * MIB };
	uint64_t before, after, n;
	struct guest g;

	if (guest_create(&g, &cfg) < 0 || gmem_populate(g.ram, 0, 24 * MIB) < 0)
		goto fail;
	if (guest_memcmd_start(&g) < 0)
		goto fail;
	if (prefault && gmem_prefault(g.vm, g.vcpu_fd, 8 * MIB, 16 * MIB) < 0) {
		snprintf(g.error, sizeof(g.error), "%s", gmem_last_error());
		goto fail;
	}
	if (guest_kvm_stat(&g, "pf_taken", &before) < 0 ||
	    guest_memcmd(&g, MEMCMD_TOUCH, 8 * MIB, 16 * MIB, 4096, 0, &n) < 0 ||
	    guest_kvm_stat(&g, "pf_taken", &after) < 0)
		goto fail;
	*faults = after - before;
	guest_destroy(&g);
	return 0;
fail:
	t_fail(__FILE__, __LINE__, "%s", g.error);
	guest_destroy(&g);
	return -1;
}

/* Pre-faulted memory: the guest's first pass takes 99% fewer KVM faults. */
static void prefault_removes_first_touch_faults(void)
{
	struct gmem_vm_caps c;
	struct gmem_vm *vm;
	uint64_t lazy, pre;

	T_SKIP_UNLESS(t_need_kvm());
	CHECK_OK(gmem_vm_create(&vm));
	CHECK_OK(gmem_vm_get_caps(vm, &c));
	/* Checked before KVM is asked, so on any KVM. */
	CHECK_ERR(gmem_prefault(NULL, -1, 0, 4096), EINVAL);
	CHECK_ERR(gmem_prefault(vm, -1, 1, 4096), EINVAL);
	CHECK_ERR(gmem_prefault(vm, -1, 0, 4097), EINVAL);
	CHECK_ERR(gmem_prefault(vm, -1, 0, 0), EINVAL);
	if (!c.pre_fault_memory) {
		CHECK_ERR(gmem_prefault(vm, -1, 0, 4096), EOPNOTSUPP);
		CHECK_OK(gmem_vm_close(vm));
		t_skip("this KVM has no KVM_PRE_FAULT_MEMORY (the emulated "
		       "machine's has; make check runs this there)");
		return;
	}
	/* A vcpu_fd that is none: KVM_PRE_FAULT_MEMORY's own error. */
	CHECK_ERR(gmem_prefault(vm, -1, 0, 4096), EBADF);
	CHECK(strstr(gmem_last_error(), "KVM_PRE_FAULT_MEMORY"));
	CHECK_OK(gmem_vm_close(vm));
	if (first_pass_faults(false, &lazy) < 0 ||
	    first_pass_faults(true, &pre) < 0)
		return;
	printf("# first pass over 16 MiB: %llu KVM faults, %llu after "
	       "pre-fault\n", (unsigned long long)lazy,
	       (unsigned long long)pre);
	CHECK(lazy >= 1000);
	CHECK(pre * 100 <= lazy);
}

static const struct t_case cases[] = {
	T_CASE(threads_fill_the_range),
	T_CASE(no_zero_only_allocates),
	T_CASE(bad_populate_args),
	T_CASE(background_job_finishes),
	T_CASE(background_job_cancels),
	T_CASE(background_job_reports_errors),
	T_CASE(guest_runs_during_background_populate),
	T_CASE(guest_touches_ahead_of_the_job),
	T_CASE(prefault_removes_first_touch_faults),
};
T_MAIN(cases)
