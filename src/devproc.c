// SPDX-License-Identifier: MIT
/*
 * devproc.c - the VMM's side of a memory table: a device process gets the
 * fd of every binding's shared side over a Unix socket, and is made to
 * let go of a range (and to say so) before a discard, an unbind or a
 * conversion to private goes ahead.
 *
 * One thread per device talks to it; the library's threads that need the
 * device to let go queue a message and wait for its ACK.  The device's
 * lock ranks below the VM lock and the range locks (the watch callbacks
 * run with those held) and above only the VM's attribute lock, which a
 * new entry's check for private memory takes briefly; the thread takes
 * no library lock at all, so a wait for an ACK can always end.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "memtable_proto.h"

#define DEFAULT_TIMEOUT_MS 2000
/* Messages waiting to go out before the device counts as not reading. */
#define MAX_QUEUED 4096

struct out_msg {
	struct out_msg *next;
	uint64_t seq;
	size_t len;
	unsigned int nfds;
	int fds[GMEM_MT_MAX_FDS];
	uint64_t buf[];			/* the message, 8-byte aligned */
};

/* One binding's shared side in the device's table. */
struct dp_entry {
	struct gmem_watch w;
	struct gmem_devproc *d;
	uint32_t id;
	bool live;			/* the device has it (under d->lock) */
	/*
	 * What the device has let go of and not been given back (offsets
	 * in the entry; under d->lock), so the same range is not asked for
	 * twice: a conversion to private invalidates, then discards.  Never
	 * more than the device's own record, or a needed message is skipped.
	 */
	struct gmem_extents invalid;
	struct dp_entry *next;		/* d->entries, under the VM lock */
};

struct gmem_devproc {
	struct gmem_vm *vm;		/* ref held */
	struct gmem_vm_listener listener;
	struct dp_entry *entries;	/* changed only in bound() and remove */
	int sock;
	int wake;			/* eventfd: the thread has work */
	pthread_t thread;
	uint32_t timeout_ms;
	uint32_t flags;
	char name[GMEM_MT_NAME_LEN];

	pthread_mutex_t lock;		/* everything below */
	pthread_cond_t cond;		/* status, ACKs */
	uint32_t status;		/* enum gmem_devproc_status */
	int error;
	char reason[192];
	struct timespec hello_deadline;
	struct gmem_mt_server_state st;
	uint64_t next_seq;
	struct out_msg *q;
	struct out_msg **q_tail;
	size_t q_len;
	bool stopping;
	uint32_t next_id;
	uint32_t live_entries;
	uint32_t withheld;
	uint32_t waiting;
	uint64_t invalidations;
	uint64_t kicks;
	pid_t peer_pid;
};

#define ENTRY_OF(wp) ((struct dp_entry *)((char *)(wp) - \
					  offsetof(struct dp_entry, w)))

static void deadline_in(struct timespec *ts, uint32_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000L;
	if (ts->tv_nsec >= 1000000000L) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000L;
	}
}

/* Milliseconds until ts (0 if past), for poll(). */
static int ms_until(const struct timespec *ts)
{
	struct timespec now;
	int64_t ms;

	clock_gettime(CLOCK_MONOTONIC, &now);
	ms = (int64_t)(ts->tv_sec - now.tv_sec) * 1000 +
	     (ts->tv_nsec - now.tv_nsec) / 1000000;
	if (ms < 0)
		return 0;
	return ms > 60000 ? 60000 : (int)ms + 1;
}

static void wake_thread(struct gmem_devproc *d)
{
	uint64_t one = 1;

	/* Only a full counter fails, and then the thread is awake anyway. */
	if (write(d->wake, &one, sizeof(one)) < 0)
		return;
}

static void free_msg(struct out_msg *m)
{
	for (unsigned int i = 0; i < m->nfds; i++)
		close(m->fds[i]);
	free(m);
}

static void free_queue(struct gmem_devproc *d)
{
	struct out_msg *m, *next;

	for (m = d->q; m; m = next) {
		next = m->next;
		free_msg(m);
	}
	d->q = NULL;
	d->q_tail = &d->q;
	d->q_len = 0;
}

/*
 * Under d->lock: the device has failed, for good.  It is told why (if it
 * still listens) and its socket shut, so it sees the end; waiters wake.
 */
static void fail_locked(struct gmem_devproc *d, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void fail_locked(struct gmem_devproc *d, int err, const char *fmt, ...)
{
	struct gmem_mt_error e = { 0 };
	va_list ap;

	if (d->status == GMEM_DEVPROC_FAILED)
		return;
	d->status = GMEM_DEVPROC_FAILED;
	d->error = err;
	va_start(ap, fmt);
	vsnprintf(d->reason, sizeof(d->reason), fmt, ap);
	va_end(ap);
	free_queue(d);
	gmem_mt_hdr_init(&e.h, GMEM_MT_ERROR, sizeof(e), ++d->next_seq);
	e.code = (uint32_t)err;
	memcpy(e.reason, d->reason, sizeof(e.reason) - 1);
	gmem_mt_send(d->sock, &e, sizeof(e), NULL, 0, 0);
	shutdown(d->sock, SHUT_RDWR);
	pthread_cond_broadcast(&d->cond);
	wake_thread(d);
}

/*
 * Under d->lock: queue a message (its header's seq is filled in here) with
 * fds, which the queue then owns.  The seq, or 0 if the device failed.
 */
static uint64_t queue_msg(struct gmem_devproc *d, const void *buf, size_t len,
			  const int *fds, unsigned int nfds)
{
	struct out_msg *m;

	if (d->status == GMEM_DEVPROC_FAILED)
		goto drop;
	if (d->q_len >= MAX_QUEUED) {
		fail_locked(d, ENOBUFS, "%s: %zu messages wait to be sent: "
			    "the device stopped reading", d->name, d->q_len);
		goto drop;
	}
	m = malloc(sizeof(*m) + len);
	if (!m) {
		fail_locked(d, ENOMEM, "%s: out of memory for a message",
			    d->name);
		goto drop;
	}
	m->next = NULL;
	m->len = len;
	m->nfds = nfds;
	if (nfds)
		memcpy(m->fds, fds, nfds * sizeof(int));
	memcpy(m->buf, buf, len);
	m->seq = ++d->next_seq;
	((struct gmem_mt_hdr *)m->buf)->seq = m->seq;
	*d->q_tail = m;
	d->q_tail = &m->next;
	d->q_len++;
	wake_thread(d);
	return m->seq;

drop:
	for (unsigned int i = 0; i < nfds; i++)
		close(fds[i]);
	return 0;
}

static uint64_t queue_range(struct gmem_devproc *d, uint32_t type,
			    uint32_t id, uint64_t off, uint64_t len)
{
	struct gmem_mt_range r = { .id = id, .offset = off, .length = len };

	gmem_mt_hdr_init(&r.h, type, sizeof(r), 0);
	return queue_msg(d, &r, sizeof(r), NULL, 0);
}

/*
 * Under d->lock: wait until the device acknowledged seq, or fail it after
 * the timeout.  True if it did acknowledge.
 */
static bool wait_ack(struct gmem_devproc *d, uint64_t seq, const char *what,
		     uint64_t gpa, uint64_t len)
{
	struct timespec deadline;

	deadline_in(&deadline, d->timeout_ms);
	d->waiting++;
	while (d->status != GMEM_DEVPROC_FAILED && d->st.acked < seq) {
		int r = pthread_cond_timedwait(&d->cond, &d->lock, &deadline);

		if (r == ETIMEDOUT && d->st.acked < seq)
			fail_locked(d, ETIMEDOUT, "%s: no ACK of %s of guest "
				    "0x%llx+0x%llx within %u ms", d->name, what,
				    (unsigned long long)gpa,
				    (unsigned long long)len, d->timeout_ms);
	}
	d->waiting--;
	return d->st.acked >= seq;
}

/* ---- the watch: what the rest of the library tells the device ---- */

static int dp_invalidate(struct gmem_watch *w, uint64_t off, uint64_t len)
{
	struct dp_entry *e = ENTRY_OF(w);
	struct gmem_devproc *d = e->d;
	uint64_t gpa = w->gpa + (off - w->off), seq;

	uint64_t o = off - w->off;

	pthread_mutex_lock(&d->lock);
	if (d->status != GMEM_DEVPROC_FAILED && e->live &&
	    gmem_extents_covered(&e->invalid, o, o + len) < len) {
		seq = queue_range(d, GMEM_MT_INVALIDATE, e->id, o, len);
		/*
		 * Never refuse: a device that does not answer in time is
		 * failed and the discard goes on, as the API promises.
		 */
		if (seq && wait_ack(d, seq, "an invalidation", gpa, len)) {
			d->invalidations++;
			/* Out of memory only costs a message next time. */
			gmem_extents_add(&e->invalid, o, o + len,
					 GMEM_NODE_UNKNOWN, NULL, NULL);
		}
	}
	pthread_mutex_unlock(&d->lock);
	return 0;
}

static void dp_revalidate(struct gmem_watch *w, uint64_t off, uint64_t len)
{
	struct dp_entry *e = ENTRY_OF(w);
	struct gmem_devproc *d = e->d;

	uint64_t o = off - w->off;

	pthread_mutex_lock(&d->lock);
	if (d->status != GMEM_DEVPROC_FAILED && e->live) {
		/* A record that cannot shrink is forgotten: never too big. */
		if (gmem_extents_remove(&e->invalid, o, o + len, NULL,
					NULL) < 0)
			gmem_extents_free(&e->invalid);
		queue_range(d, GMEM_MT_REVALIDATE, e->id, o, len);
	}
	pthread_mutex_unlock(&d->lock);
}

static void dp_detach(struct gmem_watch *w)
{
	struct dp_entry *e = ENTRY_OF(w);
	struct gmem_devproc *d = e->d;
	struct gmem_mt_unmap u = { .id = e->id };
	uint64_t seq;

	pthread_mutex_lock(&d->lock);
	if (e->live) {
		gmem_mt_hdr_init(&u.h, GMEM_MT_UNMAP, sizeof(u), 0);
		seq = queue_msg(d, &u, sizeof(u), NULL, 0);
		if (seq)
			wait_ack(d, seq, "an entry's removal", w->gpa, w->len);
		e->live = false;
		d->live_entries--;
	}
	pthread_mutex_unlock(&d->lock);
}

static const struct gmem_watch_ops dp_watch_ops = {
	.invalidate = dp_invalidate,
	.revalidate = dp_revalidate,
	.detach = dp_detach,
};

/* The fd the device gets for f: the same file, or a read-only opening. */
static int device_fd(struct gmem_devproc *d, struct gmem_file *f)
{
	char path[64];

	if (!(d->flags & GMEM_DEVPROC_READ_ONLY))
		return fcntl(f->fd, F_DUPFD_CLOEXEC, 3);
	/*
	 * A new open file description, read-only, so mmap(PROT_WRITE) fails
	 * in the device whatever it claims.  guest_memfd has no path.
	 */
	snprintf(path, sizeof(path), "/proc/self/fd/%d", f->fd);
	return open(path, O_RDONLY | O_CLOEXEC);
}

/*
 * Under d->lock: queue b's entry.  A range that is private now starts
 * unusable; its shared runs are revalidated right after, in order.
 */
static void send_entry(struct gmem_devproc *d, struct dp_entry *e,
		       struct gmem_binding *b, int fd)
{
	uint64_t buf[(sizeof(struct gmem_mt_map) +
		      sizeof(struct gmem_mt_entry)) / 8] = { 0 };
	struct gmem_mt_map *m = (struct gmem_mt_map *)buf;
	struct gmem_mt_entry *me = &m->e[0];
	struct gmem_vm *vm = b->vm;
	uint64_t pos, run;
	bool any_private = false;

	for (pos = 0; vm->has_private && pos < b->length; pos += run) {
		any_private |= gmem_vm_is_private(vm, b->gpa + pos, &run);
		if (run > b->length - pos)
			run = b->length - pos;
	}
	gmem_mt_hdr_init(&m->h, GMEM_MT_MAP, sizeof(buf), 0);
	m->count = 1;
	me->id = e->id;
	me->flags = GMEM_MT_READ | (any_private ? GMEM_MT_START_INVALID : 0) |
		      (d->flags & GMEM_DEVPROC_READ_ONLY ? 0 : GMEM_MT_WRITE);
	me->offset = b->file->base + b->offset;	/* where in the fd */
	me->length = b->length;
	me->gpa = b->gpa;
	if (!queue_msg(d, buf, sizeof(buf), &fd, 1))
		return;
	e->live = true;
	d->live_entries++;
	gmem_extents_free(&e->invalid);
	for (pos = 0; any_private && pos < b->length; pos += run) {
		bool private = gmem_vm_is_private(vm, b->gpa + pos, &run);

		if (run > b->length - pos)
			run = b->length - pos;
		if (!private)
			queue_range(d, GMEM_MT_REVALIDATE, e->id, pos, run);
		else
			gmem_extents_add(&e->invalid, pos, pos + run,
					 GMEM_NODE_UNKNOWN, NULL, NULL);
	}
}

/*
 * Under vm->lock, for each binding: watch its shared side and give the
 * device an entry for it.  The device lock is taken only around the
 * queueing: adding the watch takes the file's locks, which rank above it.
 */
static void dp_bound(struct gmem_vm_listener *l, struct gmem_binding *b)
{
	struct gmem_devproc *d = (struct gmem_devproc *)((char *)l -
				 offsetof(struct gmem_devproc, listener));
	struct dp_entry *e;
	bool failed, fresh = false;
	char why[160];
	int fd, ret;

	if (!b->file)
		return;		/* private only: nothing a device may touch */
	pthread_mutex_lock(&d->lock);
	failed = d->status == GMEM_DEVPROC_FAILED;
	pthread_mutex_unlock(&d->lock);
	if (failed)
		return;
	/*
	 * Reuse an entry whose binding ended, so a VM that binds and unbinds
	 * all day keeps as many entries as it has bindings.  Under vm->lock
	 * each binding's end has run to completion, so watch.c is done with
	 * a detached watch; its VM reference is dropped here (never the last:
	 * the devproc holds one).
	 */
	for (e = d->entries; e; e = e->next) {
		if (e->w.vm && e->w.detached) {
			gmem_vm_put(e->w.vm);
			e->w.vm = NULL;
		}
		if (!e->w.vm)
			break;
	}
	if (!e) {
		e = calloc(1, sizeof(*e));
		if (!e) {
			pthread_mutex_lock(&d->lock);
			fail_locked(d, ENOMEM, "%s: out of memory for an entry",
				    d->name);
			pthread_mutex_unlock(&d->lock);
			return;
		}
		e->d = d;
		e->w.ops = &dp_watch_ops;
		e->w.owner = d;
		fresh = true;
	}
	fd = device_fd(d, b->file);
	if (fd < 0) {
		int err = errno;

		pthread_mutex_lock(&d->lock);
		if (d->flags & GMEM_DEVPROC_READ_ONLY && err != EMFILE &&
		    err != ENFILE && err != ENOMEM)
			d->withheld++;
		else
			fail_locked(d, err, "%s: no fd for the binding at "
				    "0x%llx: %s", d->name,
				    (unsigned long long)b->gpa, strerror(err));
		pthread_mutex_unlock(&d->lock);
		goto unused;
	}
	ret = gmem_watch_add_locked(b, &e->w);
	if (ret < 0) {
		snprintf(why, sizeof(why), "%s", gmem_last_error());
		/* The reason goes to the device's state, not the binder. */
		gmem_error_clear();
		close(fd);
		pthread_mutex_lock(&d->lock);
		fail_locked(d, -ret, "%s: cannot watch the binding at 0x%llx: "
			    "%s", d->name, (unsigned long long)b->gpa, why);
		pthread_mutex_unlock(&d->lock);
		goto unused;
	}
	pthread_mutex_lock(&d->lock);
	e->id = ++d->next_id;
	if (d->live_entries >= GMEM_MT_MAX_ENTRIES ||
	    (d->st.hello && d->live_entries >= d->st.max_entries)) {
		close(fd);
		fail_locked(d, ENOSPC, "%s: a table of more than %u entries",
			    d->name, d->live_entries);
	} else {
		send_entry(d, e, b, fd);
	}
	pthread_mutex_unlock(&d->lock);
unused:
	if (fresh) {
		e->next = d->entries;
		d->entries = e;
	}
}

/* ---- the thread that talks to the device ---- */

/* Send what is queued until the socket is full. */
static void send_queued(struct gmem_devproc *d)
{
	for (;;) {
		struct out_msg *m;
		int ret;

		pthread_mutex_lock(&d->lock);
		m = d->status == GMEM_DEVPROC_FAILED ? NULL : d->q;
		if (m) {
			d->q = m->next;
			if (!d->q)
				d->q_tail = &d->q;
			d->q_len--;
		}
		pthread_mutex_unlock(&d->lock);
		if (!m)
			return;
		ret = gmem_mt_send(d->sock, m->buf, m->len, m->fds, m->nfds, 0);
		pthread_mutex_lock(&d->lock);
		if (ret == -ETIMEDOUT && d->status != GMEM_DEVPROC_FAILED) {
			/* No room now: first in line again, wait for POLLOUT. */
			m->next = d->q;
			d->q = m;
			if (!m->next)
				d->q_tail = &m->next;
			d->q_len++;
			pthread_mutex_unlock(&d->lock);
			return;
		}
		/* Gone, whichever way it is noticed first: as on receive. */
		if (ret == -EPIPE || ret == -ECONNRESET)
			fail_locked(d, ECONNRESET, "%s: the device closed the "
				    "connection", d->name);
		else if (ret < 0)
			fail_locked(d, -ret, "%s: sending %s: %s", d->name,
				    gmem_mt_type_name(((struct gmem_mt_hdr *)
						       m->buf)->type),
				    strerror(-ret));
		else
			d->st.sent = m->seq;
		pthread_mutex_unlock(&d->lock);
		free_msg(m);
	}
}

/* Read what the device sent; false once it failed. */
static bool receive(struct gmem_devproc *d)
{
	uint64_t buf[GMEM_MT_MAX_MSG / 8];
	int fds[GMEM_MT_MAX_FDS];
	char why[160];

	for (int i = 0; i < 64; i++) {
		struct gmem_mt_msg m = { .buf = buf };
		unsigned int nfds;
		ssize_t r;
		int ret;

		r = gmem_mt_recv(d->sock, buf, fds, &nfds, why, sizeof(why));
		if (r == -EAGAIN)
			return true;
		pthread_mutex_lock(&d->lock);
		/* A device that died with messages unread resets, else ends. */
		if (r == 0 || r == -ECONNRESET) {
			fail_locked(d, ECONNRESET, "%s: the device closed the "
				    "connection", d->name);
		} else if (r < 0) {
			fail_locked(d, (int)-r, "%s: %s", d->name, why);
		} else {
			bool had_hello = d->st.hello;

			m.len = (size_t)r;
			m.nfds = nfds;
			ret = gmem_mt_server_accept(&d->st, &m, why,
						    sizeof(why));
			/* A device never sends fds; the check says so. */
			for (unsigned int k = 0; k < nfds; k++)
				close(fds[k]);
			if (ret < 0) {
				fail_locked(d, -ret == ECONNABORTED ?
					    d->st.peer_error : -ret, "%s: %s",
					    d->name, why);
			} else if (!had_hello && d->st.hello) {
				if (d->live_entries > d->st.max_entries)
					fail_locked(d, ENOSPC, "%s: the device "
						    "takes %u entries; the "
						    "table has %u", d->name,
						    d->st.max_entries,
						    d->live_entries);
				else
					d->status = GMEM_DEVPROC_CONNECTED;
			}
			pthread_cond_broadcast(&d->cond);
		}
		ret = d->status == GMEM_DEVPROC_FAILED;
		pthread_mutex_unlock(&d->lock);
		if (ret)
			return false;
	}
	return true;
}

static void *dp_thread(void *arg)
{
	struct gmem_devproc *d = arg;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = d->wake, .events = POLLIN },
			{ .fd = d->sock, .events = POLLIN },
		};
		int timeout = -1;
		uint64_t n;

		pthread_mutex_lock(&d->lock);
		if (d->stopping) {
			pthread_mutex_unlock(&d->lock);
			break;
		}
		if (d->status == GMEM_DEVPROC_FAILED)
			p[1].fd = -1;	/* shut: nothing more to say or hear */
		else if (d->q)
			p[1].events |= POLLOUT;
		if (d->status == GMEM_DEVPROC_CONNECTING) {
			timeout = ms_until(&d->hello_deadline);
			if (timeout == 0)
				fail_locked(d, ETIMEDOUT, "%s: no HELLO from "
					    "the device within %u ms", d->name,
					    d->timeout_ms);
		}
		pthread_mutex_unlock(&d->lock);
		if (poll(p, 2, timeout) < 0)
			continue;
		if (p[0].revents & POLLIN && read(d->wake, &n, sizeof(n)) < 0)
			n = 0;
		if (p[1].revents & (POLLIN | POLLHUP | POLLERR) &&
		    !receive(d))
			continue;
		if (p[1].revents & POLLOUT || (p[0].revents & POLLIN))
			send_queued(d);
	}
	return NULL;
}

/* ---- the API ---- */

static struct gmem_devproc *dp_alloc(const struct gmem_devproc_args *a)
{
	struct gmem_devproc *d = calloc(1, sizeof(*d));
	pthread_condattr_t ca;

	if (!d)
		return NULL;
	d->sock = a->sock_fd;
	d->wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (d->wake < 0) {
		free(d);
		return NULL;
	}
	pthread_mutex_init(&d->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&d->cond, &ca);
	pthread_condattr_destroy(&ca);
	d->timeout_ms = a->timeout_ms ? a->timeout_ms : DEFAULT_TIMEOUT_MS;
	d->flags = a->flags;
	snprintf(d->name, sizeof(d->name), "%s", a->name ? a->name : "device");
	d->q_tail = &d->q;
	d->listener.bound = dp_bound;
	return d;
}

static void dp_free(struct gmem_devproc *d)
{
	struct dp_entry *e, *next;

	for (e = d->entries; e; e = next) {
		next = e->next;
		gmem_extents_free(&e->invalid);
		free(e);
	}
	free_queue(d);
	close(d->wake);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
	free(d);
}

GMEM_API int gmem_devproc_add(struct gmem_vm *vm,
			      const struct gmem_devproc_args *a,
			      struct gmem_devproc **out)
{
	struct gmem_mt_hello h;
	struct gmem_devproc *d;
	struct ucred cred;
	socklen_t cl = sizeof(cred);
	sigset_t all, old;
	int ret;

	gmem_error_clear();
	if (!vm || !a || !out)
		return gmem_fail(EINVAL, "gmem_devproc_add: NULL argument");
	for (size_t i = 0; i < sizeof(a->reserved) / sizeof(a->reserved[0]); i++)
		if (a->reserved[i])
			return gmem_fail(EINVAL, "devproc: reserved fields "
					 "must be zero");
	if (a->flags & ~GMEM_DEVPROC_READ_ONLY)
		return gmem_fail(EINVAL, "devproc: unknown flags 0x%x",
				 a->flags & ~GMEM_DEVPROC_READ_ONLY);
	ret = gmem_mt_check_socket(a->sock_fd, "devproc");
	if (ret < 0)
		return ret;
	if (gmem_vm_is_closed(vm))
		return gmem_fail(ESHUTDOWN, "devproc: the VM is closed");
	d = dp_alloc(a);
	if (!d)
		return gmem_fail(ENOMEM, "devproc: out of memory (or no "
				 "eventfd)");
	if (getsockopt(d->sock, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
		d->peer_pid = cred.pid;
	gmem_mt_hello_init(&h, d->name);
	pthread_mutex_lock(&d->lock);
	queue_msg(d, &h, sizeof(h), NULL, 0);
	deadline_in(&d->hello_deadline, d->timeout_ms);
	pthread_mutex_unlock(&d->lock);
	if (d->status == GMEM_DEVPROC_FAILED) {
		dp_free(d);
		return gmem_fail(ENOMEM, "devproc: out of memory for HELLO");
	}
	/* The thread takes no signal meant for the VMM's own threads. */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	ret = pthread_create(&d->thread, NULL, dp_thread, d);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret) {
		dp_free(d);
		return gmem_fail(ret, "devproc: pthread_create: %s",
				 strerror(ret));
	}
	gmem_vm_get(vm);
	d->vm = vm;
	gmem_vm_listen(vm, &d->listener);
	/* A binding the device could not get is in its state, not here. */
	gmem_error_clear();
	*out = d;
	return 0;
}

GMEM_API int gmem_devproc_state(struct gmem_devproc *d, uint32_t wait_ms,
				struct gmem_devproc_info *out)
{
	struct timespec deadline;
	int status;

	gmem_error_clear();
	if (!d || !out)
		return gmem_fail(EINVAL, "gmem_devproc_state: NULL argument");
	deadline_in(&deadline, wait_ms);
	pthread_mutex_lock(&d->lock);
	while (wait_ms && d->status == GMEM_DEVPROC_CONNECTING &&
	       pthread_cond_timedwait(&d->cond, &d->lock, &deadline) !=
	       ETIMEDOUT)
		;
	memset(out, 0, sizeof(*out));
	out->status = d->status;
	out->error = d->error;
	snprintf(out->reason, sizeof(out->reason), "%s", d->reason);
	out->peer_pid = d->peer_pid;
	out->entries = d->live_entries;
	out->withheld = d->withheld;
	out->waiting = d->waiting;
	out->invalidations = d->invalidations;
	out->kicks = d->kicks;
	status = (int)d->status;
	pthread_mutex_unlock(&d->lock);
	return status;
}

GMEM_API int gmem_devproc_notify(struct gmem_devproc *d, uint32_t queue)
{
	struct gmem_mt_kick k = { .queue = queue };
	int ret = 0;

	gmem_error_clear();
	if (!d)
		return gmem_fail(EINVAL, "gmem_devproc_notify: NULL device");
	if (queue >= GMEM_MT_MAX_QUEUE)
		return gmem_fail(EINVAL, "devproc: queue %u (0 to %u)", queue,
				 GMEM_MT_MAX_QUEUE - 1);
	gmem_mt_hdr_init(&k.h, GMEM_MT_KICK, sizeof(k), 0);
	pthread_mutex_lock(&d->lock);
	if (d->status == GMEM_DEVPROC_FAILED || !queue_msg(d, &k, sizeof(k),
							  NULL, 0))
		ret = gmem_fail(ENOTCONN, "devproc: the device failed: %s",
				d->reason);
	else
		d->kicks++;
	pthread_mutex_unlock(&d->lock);
	return ret;
}

GMEM_API int gmem_devproc_remove(struct gmem_devproc *d)
{
	struct gmem_mt_hdr bye;
	uint64_t seq;

	gmem_error_clear();
	if (!d)
		return gmem_fail(EINVAL, "gmem_devproc_remove: NULL device");
	/* No new entries, then no more callbacks from the library. */
	gmem_vm_unlisten(d->vm, &d->listener);
	for (struct dp_entry *e = d->entries; e; e = e->next)
		gmem_watch_remove(&e->w);
	pthread_mutex_lock(&d->lock);
	if (d->status != GMEM_DEVPROC_FAILED) {
		gmem_mt_hdr_init(&bye, GMEM_MT_BYE, sizeof(bye), 0);
		seq = queue_msg(d, &bye, sizeof(bye), NULL, 0);
		if (seq)
			wait_ack(d, seq, "goodbye", 0, 0);
	}
	d->stopping = true;
	wake_thread(d);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	close(d->sock);
	gmem_vm_put(d->vm);
	dp_free(d);
	return 0;
}
