// SPDX-License-Identifier: MIT
/*
 * populate.c - make a range of a file ready before the guest needs it:
 * allocated and zeroed, in pieces spread over threads, each piece holding
 * its range of the file across the syscall and the books.  Also in the
 * background, while the guest already runs.
 */
#include <errno.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "internal.h"

/* A policy that the allocation would not see goes on this thread. */
static bool needs_thread_policy(const struct gmem_file *f,
				const struct gmem_numa_policy *p)
{
	if (p->mode == GMEM_NUMA_DEFAULT)
		return false;
	return !f->map || !(f->ops->numa_reach(f) & GMEM_REACH_POPULATE);
}

/*
 * One piece, under one policy, holding its range.  A signal interrupts
 * only this piece, and it is retried in halves down to a page, so even a
 * VMM that takes a timer signal every millisecond makes progress.
 */
static int populate_piece(struct gmem_file *f, uint64_t off, uint64_t len,
			  const struct gmem_numa_policy *p, bool zero)
{
	struct gmem_numa_saved saved;
	bool switched = false;
	int ret;

	ret = gmem_account_prepare(f, off, len);
	if (ret < 0)
		return ret;
	ret = f->ops->check_room(f, off, len);
	if (ret < 0)
		return ret;
	if (needs_thread_policy(f, p)) {
		ret = gmem_numa_thread_save(&saved);
		if (ret < 0)
			return ret;
		ret = gmem_numa_set_thread(p);
		if (ret < 0)
			return ret;
		switched = true;
	}
	for (;;) {
		ret = f->ops->populate(f, off, len, zero);
		if (ret != -EINTR)
			break;
		if (len > f->page_size) {
			uint64_t half = len / f->page_size / 2 * f->page_size;

			ret = populate_piece(f, off, half, p, zero);
			if (ret == 0)
				ret = populate_piece(f, off + half, len - half,
						     p, zero);
			if (switched)
				gmem_numa_thread_restore(&saved);
			return ret;
		}
	}
	if (switched)
		gmem_numa_thread_restore(&saved);
	if (ret < 0) {
		gmem_resync_books(f, off, len);
		return ret;
	}
	gmem_account_populated(f, off, len, gmem_numa_certain_node(p));
	/* The pages are there again: devices may map them. */
	gmem_file_revalidate(f, off, len);
	return 0;
}

/* One populate, shared by its threads; pieces are handed out in order. */
struct run {
	struct gmem_file *f;
	bool zero;
	uint64_t piece;
	pthread_mutex_t lock;
	uint64_t start;
	uint64_t next;			/* next offset to hand out */
	uint64_t end;
	int err;			/* the first failure, and why */
	char why[320];
	uint64_t done;			/* bytes populated so far (atomic) */
	bool cancel;			/* atomic */
};

/* The next piece: within one policy range and one piece size. */
static bool take_piece(struct run *r, uint64_t *off, uint64_t *len,
		       struct gmem_numa_policy *p)
{
	uint64_t seg_end;
	bool got = false;

	pthread_mutex_lock(&r->lock);
	if (!r->err && !__atomic_load_n(&r->cancel, __ATOMIC_RELAXED) &&
	    r->next < r->end) {
		pthread_mutex_lock(&r->f->lock);
		*p = *gmem_numa_policy_at(r->f, r->next, &seg_end);
		pthread_mutex_unlock(&r->f->lock);
		*off = r->next;
		*len = (seg_end < r->end ? seg_end : r->end) - r->next;
		if (*len > r->piece)
			*len = r->piece;
		r->next += *len;
		got = true;
	}
	pthread_mutex_unlock(&r->lock);
	return got;
}

static void *worker(void *arg)
{
	struct run *r = arg;
	struct gmem_numa_policy p;
	struct gmem_range_hold hold;
	uint64_t off, len;
	int ret;

	while (take_piece(r, &off, &len, &p)) {
		gmem_range_lock(&r->f->ranges, &hold, off, off + len);
		ret = populate_piece(r->f, off, len, &p, r->zero);
		gmem_range_unlock(&r->f->ranges, &hold);
		if (ret < 0) {
			pthread_mutex_lock(&r->lock);
			if (!r->err) {
				r->err = ret;
				snprintf(r->why, sizeof(r->why), "%s",
					 gmem_last_error());
			}
			pthread_mutex_unlock(&r->lock);
			break;
		}
		__atomic_add_fetch(&r->done, len, __ATOMIC_RELAXED);
	}
	return NULL;
}

/* The CPUs this thread may run on: its affinity, which a cpuset narrows. */
static unsigned int usable_cpus(void)
{
	cpu_set_t set;
	int n;

	if (sched_getaffinity(0, sizeof(set), &set) < 0) {
		/* More CPUs than a cpu_set_t holds: every online one. */
		long online = sysconf(_SC_NPROCESSORS_ONLN);

		return online > 0 ? (unsigned int)online : 1;
	}
	n = CPU_COUNT(&set);
	return n > 0 ? (unsigned int)n : 1;
}

/*
 * Pieces small enough to keep every thread busy, big enough that the work
 * per syscall dwarfs the bookkeeping, in whole pages.
 */
static uint64_t piece_size(const struct gmem_file *f, uint64_t len,
			   unsigned int threads)
{
	uint64_t max = f->ops->populate_chunk, min = 2ULL << 20, piece;

	if (min < f->page_size)
		min = f->page_size;
	if (max < min)
		max = min;
	piece = len / (4ULL * threads);
	piece = piece < min ? min : piece > max ? max : piece;
	return (piece + f->page_size - 1) / f->page_size * f->page_size;
}

/* Worker threads take no signals: those are the VMM's. */
static int start_workers(pthread_t *th, unsigned int n, struct run *r)
{
	sigset_t all, old;
	unsigned int i;
	int ret = 0;

	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (i = 0; i < n; i++) {
		ret = pthread_create(&th[i], NULL, worker, r);
		if (ret)
			break;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return (int)i;
}

/*
 * Run r with up to threads threads, this one among them.  A range that
 * would not fit whole in the cgroup goes on one thread, piece after piece,
 * so what fits gets done and the refusal comes at the right piece.
 */
static int run_populate(struct run *r, unsigned int threads)
{
	pthread_t th[64];
	unsigned int n = 0;
	uint64_t pieces;

	r->piece = piece_size(r->f, r->end - r->next, threads);
	pieces = (r->end - r->next + r->piece - 1) / r->piece;
	if (threads > pieces)
		threads = (unsigned int)pieces;
	if (threads > 1 && r->f->ops->check_room(r->f, r->next,
						  r->end - r->next) < 0) {
		gmem_error_clear();
		threads = 1;
	}
	if (threads > 1)
		n = (unsigned int)start_workers(th, threads - 1 < 64 ?
						threads - 1 : 64, r);
	worker(r);
	for (unsigned int i = 0; i < n; i++)
		pthread_join(th[i], NULL);
	if (r->err)
		return gmem_fail(-r->err, "%s", r->why);
	return 0;
}

static int check_args(struct gmem_file *f, uint64_t off, uint64_t len,
		      const struct gmem_populate_args *a,
		      unsigned int *threads)
{
	int ret;

	if (!f)
		return gmem_fail(EINVAL, "populate: file is NULL");
	ret = gmem_file_check_range(f, off, len, "populate");
	if (ret < 0)
		return ret;
	if (a && (a->reserved[0] || a->reserved[1] || a->reserved[2]))
		return gmem_fail(EINVAL, "populate: reserved fields must be "
				 "zero");
	if (a && (a->flags & ~GMEM_POPULATE_FLAGS_ALL))
		return gmem_fail(EINVAL, "populate: unknown flags 0x%x",
				 a->flags & ~GMEM_POPULATE_FLAGS_ALL);
	if (a && a->threads > 64)
		return gmem_fail(EINVAL, "populate: %u threads, at most 64",
				 a->threads);
	*threads = a && a->threads ? a->threads : usable_cpus();
	return 0;
}

static void run_init(struct run *r, struct gmem_file *f, uint64_t off,
		     uint64_t len, const struct gmem_populate_args *a)
{
	memset(r, 0, sizeof(*r));
	pthread_mutex_init(&r->lock, NULL);
	r->f = f;
	r->zero = !(a && (a->flags & GMEM_POPULATE_NO_ZERO));
	r->start = r->next = off;
	r->end = off + len;
}

static void count_call(struct gmem_file *f)
{
	pthread_mutex_lock(&f->lock);
	f->populate_calls++;
	pthread_mutex_unlock(&f->lock);
}

GMEM_API int gmem_populate_with(struct gmem_file *file, uint64_t offset,
				uint64_t length,
				const struct gmem_populate_args *args)
{
	unsigned int threads;
	struct run r;
	int ret;

	gmem_error_clear();
	ret = check_args(file, offset, length, args, &threads);
	if (ret < 0)
		return ret;
	run_init(&r, file, offset, length, args);
	ret = run_populate(&r, threads);
	pthread_mutex_destroy(&r.lock);
	count_call(file);
	return ret;
}

GMEM_API int gmem_populate(struct gmem_file *file, uint64_t offset,
			   uint64_t length)
{
	return gmem_populate_with(file, offset, length, NULL);
}

/* ---- in the background ---- */

struct gmem_populate_job {
	struct run run;
	unsigned int threads;
	pthread_t thread;
	int result;			/* once finished */
	bool finished;			/* atomic */
	int event_fd;			/* readable once finished */
};

static void *job_main(void *arg)
{
	struct gmem_populate_job *j = arg;
	uint64_t one = 1;

	j->result = run_populate(&j->run, j->threads);
	if (__atomic_load_n(&j->run.cancel, __ATOMIC_RELAXED) &&
	    j->run.next < j->run.end && !j->run.err)
		j->result = gmem_fail(ECANCELED, "populate: cancelled after "
				      "0x%llx of 0x%llx bytes",
				      (unsigned long long)j->run.done,
				      (unsigned long long)(j->run.end -
							   j->run.start));
	if (j->result < 0)
		snprintf(j->run.why, sizeof(j->run.why), "%s",
			 gmem_last_error());
	count_call(j->run.f);
	__atomic_store_n(&j->finished, true, __ATOMIC_RELEASE);
	if (write(j->event_fd, &one, sizeof(one)) < 0)
		j->result = j->result ? j->result : -errno;
	return NULL;
}

GMEM_API int gmem_populate_start(struct gmem_file *file, uint64_t offset,
				 uint64_t length,
				 const struct gmem_populate_args *args,
				 struct gmem_populate_job **out)
{
	struct gmem_populate_job *j;
	sigset_t all, old;
	int ret;

	gmem_error_clear();
	if (!out)
		return gmem_fail(EINVAL, "populate: out is NULL");
	j = calloc(1, sizeof(*j));
	if (!j)
		return gmem_fail(ENOMEM, "populate: out of memory for a job");
	ret = check_args(file, offset, length, args, &j->threads);
	if (ret < 0)
		goto free_job;
	j->event_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (j->event_fd < 0) {
		ret = gmem_fail(errno, "populate: eventfd: %s", strerror(errno));
		goto free_job;
	}
	run_init(&j->run, file, offset, length, args);
	/* The file may be closed meanwhile: the job keeps it. */
	gmem_file_get(file);
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&j->thread, NULL, job_main, j);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		ret = gmem_fail(ret, "populate: thread: %s", strerror(ret));
		gmem_file_put(file);
		close(j->event_fd);
		pthread_mutex_destroy(&j->run.lock);
		goto free_job;
	}
	*out = j;
	return 0;
free_job:
	free(j);
	return ret;
}

GMEM_API int gmem_populate_poll(struct gmem_populate_job *job,
				uint64_t *done)
{
	gmem_error_clear();
	if (!job)
		return gmem_fail(EINVAL, "populate: job is NULL");
	if (done)
		*done = __atomic_load_n(&job->run.done, __ATOMIC_RELAXED);
	return __atomic_load_n(&job->finished, __ATOMIC_ACQUIRE) ? 1 : 0;
}

GMEM_API int gmem_populate_fd(struct gmem_populate_job *job)
{
	gmem_error_clear();
	if (!job)
		return gmem_fail(EINVAL, "populate: job is NULL");
	return job->event_fd;
}

GMEM_API int gmem_populate_cancel(struct gmem_populate_job *job)
{
	gmem_error_clear();
	if (!job)
		return gmem_fail(EINVAL, "populate: job is NULL");
	/* Pieces under way finish; no new one starts. */
	__atomic_store_n(&job->run.cancel, true, __ATOMIC_RELAXED);
	return 0;
}

GMEM_API int gmem_populate_wait(struct gmem_populate_job *job)
{
	int ret;

	gmem_error_clear();
	if (!job)
		return gmem_fail(EINVAL, "populate: job is NULL");
	pthread_join(job->thread, NULL);
	ret = job->result;
	if (ret < 0)
		gmem_fail(-ret, "%s", job->run.why);
	gmem_file_put(job->run.f);
	close(job->event_fd);
	pthread_mutex_destroy(&job->run.lock);
	free(job);
	return ret;
}
