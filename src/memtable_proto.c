// SPDX-License-Identifier: MIT
/*
 * memtable_proto.c - what both ends of a memory table share: checking a
 * message before anything trusts it, and moving one message with its fds
 * over a SOCK_SEQPACKET socket.  No state here but what callers pass in,
 * so the fuzzer can drive the checks without sockets.
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "memtable_proto.h"

static const char *const type_names[GMEM_MT_TYPE_COUNT] = {
	[GMEM_MT_HELLO] = "HELLO",
	[GMEM_MT_MAP] = "MAP",
	[GMEM_MT_INVALIDATE] = "INVALIDATE",
	[GMEM_MT_REVALIDATE] = "REVALIDATE",
	[GMEM_MT_UNMAP] = "UNMAP",
	[GMEM_MT_KICK] = "KICK",
	[GMEM_MT_BYE] = "BYE",
	[GMEM_MT_ACK] = "ACK",
	[GMEM_MT_ERROR] = "ERROR",
};

const char *gmem_mt_type_name(uint32_t type)
{
	if (type < GMEM_MT_TYPE_COUNT && type_names[type])
		return type_names[type];
	return "unknown";
}

void gmem_mt_hello_init(struct gmem_mt_hello *h, const char *name)
{
	memset(h, 0, sizeof(*h));
	gmem_mt_hdr_init(&h->h, GMEM_MT_HELLO, sizeof(*h), 0);
	h->magic = GMEM_MT_MAGIC;
	h->major = GMEM_MT_MAJOR;
	h->minor = GMEM_MT_MINOR;
	h->max_entries = GMEM_MT_MAX_ENTRIES;
	h->max_fds = GMEM_MT_MAX_FDS;
	memcpy(h->name, name, sizeof(h->name));
	h->name[sizeof(h->name) - 1] = '\0';
}

/* Write why a message is rejected into why; -EPROTO. */
int gmem_mt_bad(char *why, size_t n, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, n, fmt, ap);
	va_end(ap);
	return -EPROTO;
}

/* The exact size of each fixed-size type (MAP varies; 0: not allowed). */
static size_t fixed_size(uint32_t type)
{
	switch (type) {
	case GMEM_MT_HELLO:
		return sizeof(struct gmem_mt_hello);
	case GMEM_MT_INVALIDATE:
	case GMEM_MT_REVALIDATE:
		return sizeof(struct gmem_mt_range);
	case GMEM_MT_UNMAP:
		return sizeof(struct gmem_mt_unmap);
	case GMEM_MT_KICK:
		return sizeof(struct gmem_mt_kick);
	case GMEM_MT_BYE:
		return sizeof(struct gmem_mt_hdr);
	case GMEM_MT_ACK:
		return sizeof(struct gmem_mt_ack);
	case GMEM_MT_ERROR:
		return sizeof(struct gmem_mt_error);
	}
	return 0;
}

static bool sent_by(uint32_t type, enum gmem_mt_from from)
{
	switch (type) {
	case GMEM_MT_HELLO:
	case GMEM_MT_ERROR:
		return true;
	case GMEM_MT_ACK:
		return from == GMEM_MT_FROM_DEVICE;
	case GMEM_MT_MAP:
	case GMEM_MT_INVALIDATE:
	case GMEM_MT_REVALIDATE:
	case GMEM_MT_UNMAP:
	case GMEM_MT_KICK:
	case GMEM_MT_BYE:
		return from == GMEM_MT_FROM_VMM;
	}
	return false;
}

static bool aligned(uint64_t v)
{
	return (v & (GMEM_MT_ALIGN - 1)) == 0;
}

/* offset and length of a range: aligned, non-empty, no wrap. */
static int check_span(uint64_t off, uint64_t len, const char *what,
		      char *why, size_t n)
{
	if (!len)
		return gmem_mt_bad(why, n, "%s: length 0", what);
	if (!aligned(off) || !aligned(len))
		return gmem_mt_bad(why, n, "%s: 0x%llx+0x%llx is not in whole %u-byte "
			   "pages", what, (unsigned long long)off,
			   (unsigned long long)len, GMEM_MT_ALIGN);
	if (off + len < off)
		return gmem_mt_bad(why, n, "%s: 0x%llx+0x%llx wraps around", what,
			   (unsigned long long)off, (unsigned long long)len);
	return 0;
}

static bool has_nul(const char *s, size_t n)
{
	return memchr(s, '\0', n) != NULL;
}

static int check_map(const struct gmem_mt_msg *m, char *why, size_t n)
{
	const struct gmem_mt_map *map = m->buf;
	size_t body;
	int ret;

	if (m->len < sizeof(*map))
		return gmem_mt_bad(why, n, "MAP of %zu bytes is shorter than its "
			   "%zu-byte head", m->len, sizeof(*map));
	body = m->len - sizeof(*map);
	if (body % sizeof(struct gmem_mt_entry))
		return gmem_mt_bad(why, n, "MAP of %zu bytes holds no whole number of "
			   "%zu-byte entries", m->len,
			   sizeof(struct gmem_mt_entry));
	if (map->count != body / sizeof(struct gmem_mt_entry))
		return gmem_mt_bad(why, n, "MAP says %u entries but holds %zu",
			   map->count, body / sizeof(struct gmem_mt_entry));
	if (map->count < 1 || map->count > GMEM_MT_MAX_FDS)
		return gmem_mt_bad(why, n, "MAP of %u entries (1 to %u allowed)",
			   map->count, GMEM_MT_MAX_FDS);
	if (m->nfds != map->count)
		return gmem_mt_bad(why, n, "MAP of %u entries came with %u fds (one "
			   "each)", map->count, m->nfds);
	if (map->reserved32)
		return gmem_mt_bad(why, n, "MAP: reserved field set");
	for (uint32_t i = 0; i < map->count; i++) {
		const struct gmem_mt_entry *e = &map->e[i];

		if (e->reserved)
			return gmem_mt_bad(why, n, "MAP entry %u: reserved field set",
				   e->id);
		if (e->flags & ~GMEM_MT_ENTRY_FLAGS)
			return gmem_mt_bad(why, n, "MAP entry %u: unknown flags 0x%x",
				   e->id, e->flags & ~GMEM_MT_ENTRY_FLAGS);
		if (!(e->flags & GMEM_MT_READ))
			return gmem_mt_bad(why, n, "MAP entry %u: not readable",
				   e->id);
		ret = check_span(e->offset, e->length, "MAP entry file range",
				 why, n);
		if (ret == 0)
			ret = check_span(e->gpa, e->length,
					 "MAP entry guest range", why, n);
		if (ret < 0)
			return ret;
	}
	return GMEM_MT_MAP;
}

int gmem_mt_check(const struct gmem_mt_msg *m, enum gmem_mt_from from,
		  char *why, size_t n)
{
	const struct gmem_mt_hdr *h = m->buf;
	uint32_t type;
	size_t want;
	int ret;

	if (m->len < sizeof(*h))
		return gmem_mt_bad(why, n, "truncated: a %zu-byte message, shorter "
			   "than the %zu-byte header", m->len, sizeof(*h));
	type = h->type;
	if (h->size != m->len)
		return gmem_mt_bad(why, n, "truncated or padded: the header says %u "
			   "bytes, the packet has %zu", h->size, m->len);
	if (!sent_by(type, from))
		return gmem_mt_bad(why, n, "message type %u (%s) is not one the %s "
			   "sends", type, gmem_mt_type_name(type),
			   from == GMEM_MT_FROM_VMM ? "VMM" : "device");
	if (!h->seq)
		return gmem_mt_bad(why, n, "%s with sequence number 0",
			   gmem_mt_type_name(type));
	if (type == GMEM_MT_MAP)
		return check_map(m, why, n);
	want = fixed_size(type);
	if (m->len != want)
		return gmem_mt_bad(why, n, "%s of %zu bytes; it has %zu",
			   gmem_mt_type_name(type), m->len, want);
	if (m->nfds)
		return gmem_mt_bad(why, n, "%s came with %u fds; only MAP carries fds",
			   gmem_mt_type_name(type), m->nfds);
	switch (type) {
	case GMEM_MT_HELLO: {
		const struct gmem_mt_hello *x = m->buf;

		if (x->reserved32 || x->reserved[0] || x->reserved[1])
			return gmem_mt_bad(why, n, "HELLO: reserved field set");
		if (!has_nul(x->name, sizeof(x->name)))
			return gmem_mt_bad(why, n, "HELLO: name not NUL-terminated");
		break;
	}
	case GMEM_MT_INVALIDATE:
	case GMEM_MT_REVALIDATE: {
		const struct gmem_mt_range *x = m->buf;

		if (x->reserved32)
			return gmem_mt_bad(why, n, "%s: reserved field set",
				   gmem_mt_type_name(type));
		ret = check_span(x->offset, x->length,
				 gmem_mt_type_name(type), why, n);
		if (ret < 0)
			return ret;
		break;
	}
	case GMEM_MT_UNMAP: {
		const struct gmem_mt_unmap *x = m->buf;

		if (x->reserved32)
			return gmem_mt_bad(why, n, "UNMAP: reserved field set");
		break;
	}
	case GMEM_MT_KICK: {
		const struct gmem_mt_kick *x = m->buf;

		if (x->reserved32)
			return gmem_mt_bad(why, n, "KICK: reserved field set");
		if (x->queue >= GMEM_MT_MAX_QUEUE)
			return gmem_mt_bad(why, n, "KICK of queue %u (0 to %u)",
				   x->queue, GMEM_MT_MAX_QUEUE - 1);
		break;
	}
	case GMEM_MT_ACK: {
		const struct gmem_mt_ack *x = m->buf;

		if (!x->seq)
			return gmem_mt_bad(why, n, "ACK of sequence number 0");
		break;
	}
	case GMEM_MT_ERROR: {
		const struct gmem_mt_error *x = m->buf;

		if (x->reserved32)
			return gmem_mt_bad(why, n, "ERROR: reserved field set");
		if (!has_nul(x->reason, sizeof(x->reason)))
			return gmem_mt_bad(why, n, "ERROR: reason not NUL-terminated");
		break;
	}
	}
	return (int)type;
}

int gmem_mt_server_accept(struct gmem_mt_server_state *s,
			  const struct gmem_mt_msg *m, char *why, size_t n)
{
	const struct gmem_mt_hdr *h = m->buf;
	int type = gmem_mt_check(m, GMEM_MT_FROM_DEVICE, why, n);

	if (type < 0)
		return type;
	if (h->seq != s->recv_seq + 1)
		return gmem_mt_bad(why, n, "%s has sequence number %llu, expected %llu",
			   gmem_mt_type_name((uint32_t)type),
			   (unsigned long long)h->seq,
			   (unsigned long long)(s->recv_seq + 1));
	s->recv_seq = h->seq;
	if (type == GMEM_MT_ERROR) {
		const struct gmem_mt_error *x = m->buf;

		s->peer_error = x->code && x->code < 4096 ? (int)x->code
							  : EPROTO;
		snprintf(s->peer_reason, sizeof(s->peer_reason), "%s",
			 x->reason);
		snprintf(why, n, "the device gave up: %s", x->reason);
		return -ECONNABORTED;
	}
	if (!s->hello && type != GMEM_MT_HELLO)
		return gmem_mt_bad(why, n, "%s before HELLO",
			   gmem_mt_type_name((uint32_t)type));
	if (type == GMEM_MT_HELLO) {
		const struct gmem_mt_hello *x = m->buf;

		if (s->hello)
			return gmem_mt_bad(why, n, "a second HELLO");
		if (x->magic != GMEM_MT_MAGIC)
			return gmem_mt_bad(why, n, "HELLO with magic 0x%x, not 0x%x",
				   x->magic, GMEM_MT_MAGIC);
		if (x->major != GMEM_MT_MAJOR)
			return gmem_mt_bad(why, n, "the device speaks version %u.%u; "
				   "this VMM speaks %u.%u", x->major, x->minor,
				   GMEM_MT_MAJOR, GMEM_MT_MINOR);
		if (!x->max_entries || !x->max_fds)
			return gmem_mt_bad(why, n, "HELLO takes %u entries, %u fds a "
				   "message; both must be at least 1",
				   x->max_entries, x->max_fds);
		s->max_entries = x->max_entries;
		s->max_fds = x->max_fds;
		memcpy(s->name, x->name, sizeof(s->name));
		s->hello = true;
		return 0;
	}
	/* Only ACK is left. */
	{
		const struct gmem_mt_ack *x = m->buf;

		if (x->seq <= s->acked || x->seq > s->sent)
			return gmem_mt_bad(why, n, "ACK of %llu: %llu was acknowledged "
				   "already and %llu is the last sent",
				   (unsigned long long)x->seq,
				   (unsigned long long)s->acked,
				   (unsigned long long)s->sent);
		s->acked = x->seq;
	}
	return 0;
}

int gmem_mt_send(int sock, const void *buf, size_t len, const int *fds,
		 unsigned int nfds, int timeout_ms)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * GMEM_MT_MAX_FDS)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	struct pollfd p = { .fd = sock, .events = POLLOUT };

	if (nfds > GMEM_MT_MAX_FDS)
		return -EINVAL;
	if (nfds) {
		struct cmsghdr *c;

		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	for (;;) {
		ssize_t r = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);

		if (r == (ssize_t)len)
			return 0;
		if (r >= 0)
			return -EMSGSIZE;	/* a packet goes whole or not */
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return -errno;
		/* A peer that stops reading is given timeout_ms, no more. */
		r = poll(&p, 1, timeout_ms);
		if (r == 0)
			return -ETIMEDOUT;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

static void close_fds(const int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		close(fds[i]);
}

ssize_t gmem_mt_recv(int sock, void *buf, int *fds, unsigned int *nfds,
		     char *why, size_t n)
{
	/* Room for one fd past the limit, so too many is seen as such. */
	union {
		char buf[CMSG_SPACE(sizeof(int) * (GMEM_MT_MAX_FDS + 1))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = buf, .iov_len = GMEM_MT_MAX_MSG };
	struct msghdr mh = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = u.buf, .msg_controllen = sizeof(u.buf),
	};
	int got[GMEM_MT_MAX_FDS + 1];
	unsigned int ngot = 0;
	bool other = false;
	ssize_t r;

	*nfds = 0;
	do
		r = recvmsg(sock, &mh, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
	while (r < 0 && errno == EINTR);
	if (r < 0) {
		if (errno == EAGAIN)
			return -EAGAIN;
		snprintf(why, n, "recvmsg: %s", strerror(errno));
		return -errno;
	}
	for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c;
	     c = CMSG_NXTHDR(&mh, c)) {
		size_t k;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) {
			other = true;
			continue;
		}
		k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < k; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(fd));
			if (ngot < GMEM_MT_MAX_FDS + 1)
				got[ngot++] = fd;
			else
				close(fd);
		}
	}
	if (mh.msg_flags & MSG_CTRUNC || ngot > GMEM_MT_MAX_FDS) {
		close_fds(got, ngot);
		return gmem_mt_bad(why, n, "a message came with more than %u fds",
			   GMEM_MT_MAX_FDS);
	}
	if (other) {
		close_fds(got, ngot);
		return gmem_mt_bad(why, n, "a message came with ancillary data other "
			   "than fds");
	}
	if (mh.msg_flags & MSG_TRUNC) {
		close_fds(got, ngot);
		snprintf(why, n, "a message longer than %u bytes",
			 GMEM_MT_MAX_MSG);
		return -EMSGSIZE;
	}
	if (r == 0) {
		/* End of stream (or an empty packet, which is no message). */
		close_fds(got, ngot);
		return 0;
	}
	memcpy(fds, got, ngot * sizeof(int));
	*nfds = ngot;
	return r;
}

int gmem_mt_check_socket(int sock, const char *who)
{
	int type = 0, domain = 0;
	socklen_t l = sizeof(type);

	if (sock < 0)
		return gmem_fail(EBADF, "%s: sock_fd %d is not open", who, sock);
	if (getsockopt(sock, SOL_SOCKET, SO_TYPE, &type, &l) < 0)
		return gmem_fail(errno == ENOTSOCK ? ENOTSOCK : errno,
				 "%s: fd %d is not a socket: %s", who, sock,
				 strerror(errno));
	l = sizeof(domain);
	if (getsockopt(sock, SOL_SOCKET, SO_DOMAIN, &domain, &l) < 0)
		return gmem_fail(errno, "%s: SO_DOMAIN: %s", who,
				 strerror(errno));
	if (domain != AF_UNIX || type != SOCK_SEQPACKET)
		return gmem_fail(EPROTOTYPE, "%s: fd %d must be an AF_UNIX "
				 "SOCK_SEQPACKET socket (each message is one "
				 "packet with its fds); it is domain %d type %d",
				 who, sock, domain, type);
	return 0;
}
