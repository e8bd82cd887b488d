// SPDX-License-Identifier: MIT
/*
 * memtable.c - the device process's side of a memory table: receive the
 * VMM's entries, map them, translate guest-physical ranges to pointers,
 * and let go of ranges when told.  Every message is checked before it is
 * believed: a VMM that sends nonsense gets an ERROR and an empty table,
 * never a crash or a mapping of something it did not describe.
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "memtable_proto.h"

#define DEFAULT_TIMEOUT_MS 2000
/* Messages one process call handles before it lets the device work. */
#define MAX_BATCH 1024

struct mt_entry {
	uint32_t id;
	int prot;			/* what the entry allows */
	uint64_t gpa;
	uint64_t length;
	uint8_t *map;
	struct gmem_extents invalid;	/* offsets in the entry, not usable */
};

struct gmem_memtable {
	int sock;
	uint32_t timeout_ms;
	char name[GMEM_MT_NAME_LEN];
	uint64_t send_seq;		/* our last seq */
	uint64_t recv_seq;		/* the VMM's last seq */
	bool hello;			/* the VMM's HELLO arrived */
	uint32_t peer_max_fds;
	int dead;			/* 0, or what process returns now */
	struct mt_entry *v;		/* sorted by gpa, disjoint */
	size_t nr;
	uint64_t messages;
};

static void drop_entry(struct mt_entry *e)
{
	munmap(e->map, e->length);
	gmem_extents_free(&e->invalid);
}

static void drop_all(struct gmem_memtable *mt)
{
	for (size_t i = 0; i < mt->nr; i++)
		drop_entry(&mt->v[i]);
	free(mt->v);
	mt->v = NULL;
	mt->nr = 0;
}

static int send_msg(struct gmem_memtable *mt, void *buf, size_t len)
{
	((struct gmem_mt_hdr *)buf)->seq = ++mt->send_seq;
	return gmem_mt_send(mt->sock, buf, len, NULL, 0, (int)mt->timeout_ms);
}

static int send_ack(struct gmem_memtable *mt, uint64_t seq, char *why,
		    size_t n)
{
	struct gmem_mt_ack a = { .seq = seq };
	int ret;

	gmem_mt_hdr_init(&a.h, GMEM_MT_ACK, sizeof(a), 0);
	ret = send_msg(mt, &a, sizeof(a));
	if (ret < 0)
		snprintf(why, n, "sending ACK of %llu: %s",
			 (unsigned long long)seq, strerror(-ret));
	return ret;
}

/* The entry with this id, or NULL. */
static struct mt_entry *find_id(struct gmem_memtable *mt, uint32_t id)
{
	for (size_t i = 0; i < mt->nr; i++)
		if (mt->v[i].id == id)
			return &mt->v[i];
	return NULL;
}

/* Index of the first entry whose gpa is above gpa. */
static size_t upper(const struct gmem_memtable *mt, uint64_t gpa)
{
	size_t lo = 0, hi = mt->nr;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (mt->v[mid].gpa <= gpa)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* Check one new entry against the table and the others in its message. */
static int check_entry(struct gmem_memtable *mt,
		       const struct gmem_mt_map *map, uint32_t i, int fd,
		       char *why, size_t n)
{
	const struct gmem_mt_entry *e = &map->e[i];
	struct stat st;

	if (find_id(mt, e->id))
		return gmem_mt_bad(why, n, "MAP: entry %u is already in the table",
			   e->id);
	for (uint32_t k = 0; k < i; k++) {
		if (map->e[k].id == e->id)
			return gmem_mt_bad(why, n, "MAP: entry %u twice", e->id);
		if (overlaps(map->e[k].gpa, map->e[k].length, e->gpa,
			     e->length))
			return gmem_mt_bad(why, n, "MAP: entries %u and %u overlap in "
				   "the guest", map->e[k].id, e->id);
	}
	for (size_t k = 0; k < mt->nr; k++)
		if (overlaps(mt->v[k].gpa, mt->v[k].length, e->gpa, e->length))
			return gmem_mt_bad(why, n, "MAP: entry %u at 0x%llx overlaps "
				   "entry %u", e->id,
				   (unsigned long long)e->gpa, mt->v[k].id);
	if (fstat(fd, &st) < 0)
		return gmem_mt_bad(why, n, "MAP: entry %u: fstat: %s", e->id,
			   strerror(errno));
	if (st.st_size < 0 || e->offset > (uint64_t)st.st_size ||
	    e->length > (uint64_t)st.st_size - e->offset)
		return gmem_mt_bad(why, n, "MAP: entry %u: 0x%llx+0x%llx runs past the "
			   "file's 0x%llx bytes", e->id,
			   (unsigned long long)e->offset,
			   (unsigned long long)e->length,
			   (unsigned long long)st.st_size);
	if (e->length > SIZE_MAX)
		return gmem_mt_bad(why, n, "MAP: entry %u too long", e->id);
	return 0;
}

static int handle_map(struct gmem_memtable *mt, const struct gmem_mt_map *map,
		      int *fds, char *why, size_t n)
{
	struct mt_entry add[GMEM_MT_MAX_FDS];
	struct mt_entry *v;
	uint32_t i, done = 0;
	int ret = 0;

	if (mt->nr + map->count > GMEM_MT_MAX_ENTRIES)
		return gmem_mt_bad(why, n, "MAP: a table of more than %u entries",
			   GMEM_MT_MAX_ENTRIES);
	for (i = 0; i < map->count; i++) {
		const struct gmem_mt_entry *e = &map->e[i];
		int prot = PROT_READ | (e->flags & GMEM_MT_WRITE ? PROT_WRITE
								 : 0);
		void *p;

		ret = check_entry(mt, map, i, fds[i], why, n);
		if (ret < 0)
			break;
		/* An entry that starts unusable is mapped inaccessible. */
		p = mmap(NULL, e->length,
			 e->flags & GMEM_MT_START_INVALID ? PROT_NONE : prot,
			 MAP_SHARED, fds[i], (off_t)e->offset);
		if (p == MAP_FAILED) {
			ret = gmem_mt_bad(why, n, "MAP: entry %u: mmap of 0x%llx+0x%llx: "
				  "%s", e->id, (unsigned long long)e->offset,
				  (unsigned long long)e->length,
				  strerror(errno));
			break;
		}
		add[i] = (struct mt_entry){ .id = e->id, .prot = prot,
					    .gpa = e->gpa, .length = e->length,
					    .map = p };
		done = i + 1;
		if (e->flags & GMEM_MT_START_INVALID &&
		    gmem_extents_add(&add[i].invalid, 0, e->length,
				     GMEM_NODE_UNKNOWN, NULL, NULL) < 0) {
			ret = -ENOMEM;
			snprintf(why, n, "MAP: out of memory");
			break;
		}
	}
	v = ret == 0 ? realloc(mt->v, (mt->nr + map->count) * sizeof(*v))
		     : NULL;
	if (ret == 0 && !v) {
		ret = -ENOMEM;
		snprintf(why, n, "MAP: out of memory");
	}
	/* The mappings hold the files; the fds are not needed any more. */
	for (i = 0; i < map->count; i++)
		close(fds[i]);
	if (ret < 0) {
		for (i = 0; i < done; i++)
			drop_entry(&add[i]);
		return ret;
	}
	mt->v = v;
	for (i = 0; i < map->count; i++) {
		size_t at = upper(mt, add[i].gpa);

		memmove(&mt->v[at + 1], &mt->v[at],
			(mt->nr - at) * sizeof(mt->v[0]));
		mt->v[at] = add[i];
		mt->nr++;
	}
	return 0;
}

/* The entry a range message names, with the range inside it. */
static struct mt_entry *range_entry(struct gmem_memtable *mt,
				    const struct gmem_mt_range *r, char *why,
				    size_t n)
{
	struct mt_entry *e = find_id(mt, r->id);

	if (!e) {
		gmem_mt_bad(why, n, "%s of entry %u, which is not in the table",
		    gmem_mt_type_name(r->h.type), r->id);
		return NULL;
	}
	if (r->offset > e->length || r->length > e->length - r->offset) {
		gmem_mt_bad(why, n, "%s of 0x%llx+0x%llx, past entry %u's 0x%llx bytes",
		    gmem_mt_type_name(r->h.type),
		    (unsigned long long)r->offset,
		    (unsigned long long)r->length, r->id,
		    (unsigned long long)e->length);
		return NULL;
	}
	return e;
}

static int handle_invalidate(struct gmem_memtable *mt,
			     const struct gmem_mt_range *r, char *why,
			     size_t n)
{
	struct mt_entry *e = range_entry(mt, r, why, n);

	if (!e)
		return -EPROTO;
	if (gmem_extents_add(&e->invalid, r->offset, r->offset + r->length,
			     GMEM_NODE_UNKNOWN, NULL, NULL) < 0) {
		snprintf(why, n, "INVALIDATE: out of memory");
		return -ENOMEM;
	}
	if (e->invalid.nr > GMEM_MT_MAX_HOLES)
		return gmem_mt_bad(why, n, "INVALIDATE: entry %u has more than %u "
			   "unusable ranges", r->id, GMEM_MT_MAX_HOLES);
	/*
	 * A stale pointer should fault, not write into pages the guest may
	 * get back.  Best effort: a hugetlb mapping takes only whole huge
	 * pages, and the books above are what translate goes by.
	 */
	mprotect(e->map + r->offset, r->length, PROT_NONE);
	return send_ack(mt, r->h.seq, why, n);
}

static int handle_revalidate(struct gmem_memtable *mt,
			     const struct gmem_mt_range *r, char *why,
			     size_t n)
{
	struct mt_entry *e = range_entry(mt, r, why, n);

	if (!e)
		return -EPROTO;
	if (gmem_extents_remove(&e->invalid, r->offset, r->offset + r->length,
				NULL, NULL) < 0) {
		snprintf(why, n, "REVALIDATE: out of memory");
		return -ENOMEM;
	}
	mprotect(e->map + r->offset, r->length, e->prot);
	return 0;
}

static int handle_unmap(struct gmem_memtable *mt,
			const struct gmem_mt_unmap *u, char *why, size_t n)
{
	struct mt_entry *e = find_id(mt, u->id);
	size_t i;

	if (!e)
		return gmem_mt_bad(why, n, "UNMAP of entry %u, which is not in the "
			   "table", u->id);
	i = (size_t)(e - mt->v);
	drop_entry(e);
	memmove(&mt->v[i], &mt->v[i + 1], (mt->nr - i - 1) * sizeof(mt->v[0]));
	mt->nr--;
	return send_ack(mt, u->h.seq, why, n);
}

static int handle_hello(struct gmem_memtable *mt,
			const struct gmem_mt_hello *x, char *why, size_t n)
{
	if (mt->hello)
		return gmem_mt_bad(why, n, "a second HELLO");
	if (x->magic != GMEM_MT_MAGIC)
		return gmem_mt_bad(why, n, "HELLO with magic 0x%x, not 0x%x", x->magic,
			   GMEM_MT_MAGIC);
	if (x->major != GMEM_MT_MAJOR)
		return gmem_mt_bad(why, n, "the VMM speaks version %u.%u; this device "
			   "speaks %u.%u", x->major, x->minor, GMEM_MT_MAJOR,
			   GMEM_MT_MINOR);
	if (!x->max_entries || !x->max_fds)
		return gmem_mt_bad(why, n, "HELLO takes %u entries, %u fds a message; "
			   "both must be at least 1", x->max_entries,
			   x->max_fds);
	mt->peer_max_fds = x->max_fds;
	mt->hello = true;
	return 0;
}

static void close_fds(int *fds, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++)
		close(fds[i]);
}

int gmem_mt_client_handle(struct gmem_memtable *mt,
			  const struct gmem_mt_msg *m, int *fds,
			  uint64_t *kicks, char *why, size_t n)
{
	const struct gmem_mt_hdr *h = m->buf;
	int type = gmem_mt_check(m, GMEM_MT_FROM_VMM, why, n);

	/* Only a MAP that passed the check keeps its fds, until mapped. */
	if (type != GMEM_MT_MAP)
		close_fds(fds, m->nfds);
	if (type < 0)
		return type;
	if (h->seq != mt->recv_seq + 1) {
		if (type == GMEM_MT_MAP)
			close_fds(fds, m->nfds);
		return gmem_mt_bad(why, n, "%s has sequence number %llu, expected %llu",
			   gmem_mt_type_name((uint32_t)type),
			   (unsigned long long)h->seq,
			   (unsigned long long)(mt->recv_seq + 1));
	}
	mt->recv_seq = h->seq;
	if (type == GMEM_MT_ERROR) {
		snprintf(why, n, "the VMM gave up: %s",
			 ((const struct gmem_mt_error *)m->buf)->reason);
		return -ECONNABORTED;
	}
	if (!mt->hello && type != GMEM_MT_HELLO) {
		if (type == GMEM_MT_MAP)
			close_fds(fds, m->nfds);
		return gmem_mt_bad(why, n, "%s before HELLO",
			   gmem_mt_type_name((uint32_t)type));
	}
	switch (type) {
	case GMEM_MT_HELLO:
		return handle_hello(mt, m->buf, why, n);
	case GMEM_MT_MAP:
		return handle_map(mt, m->buf, fds, why, n);
	case GMEM_MT_INVALIDATE:
		return handle_invalidate(mt, m->buf, why, n);
	case GMEM_MT_REVALIDATE:
		return handle_revalidate(mt, m->buf, why, n);
	case GMEM_MT_UNMAP:
		return handle_unmap(mt, m->buf, why, n);
	case GMEM_MT_KICK:
		if (kicks)
			*kicks |= 1ULL << ((const struct gmem_mt_kick *)
					   m->buf)->queue;
		return 0;
	case GMEM_MT_BYE:
		drop_all(mt);
		if (send_ack(mt, h->seq, why, n) < 0)
			return -ECONNRESET;
		snprintf(why, n, "the VMM said goodbye");
		return -ESHUTDOWN;
	}
	return gmem_mt_bad(why, n, "message type %d unhandled", type);
}

struct gmem_memtable *gmem_mt_client_new(int sock, const char *name,
					 uint32_t timeout_ms)
{
	struct gmem_memtable *mt = calloc(1, sizeof(*mt));

	if (!mt)
		return NULL;
	mt->sock = sock;
	mt->timeout_ms = timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS;
	snprintf(mt->name, sizeof(mt->name), "%s", name ? name : "device");
	return mt;
}

/*
 * The table is over: every entry goes, and the VMM hears why if this side
 * rejected something.  Returns err with the reason recorded.
 */
static int die(struct gmem_memtable *mt, int err, const char *why)
{
	drop_all(mt);
	if (err != -ESHUTDOWN && err != -ECONNRESET && err != -ECONNABORTED) {
		struct gmem_mt_error e = { .code = (uint32_t)-err };

		gmem_mt_hdr_init(&e.h, GMEM_MT_ERROR, sizeof(e), 0);
		snprintf(e.reason, sizeof(e.reason), "%s: %s", mt->name, why);
		e.h.seq = ++mt->send_seq;
		gmem_mt_send(mt->sock, &e, sizeof(e), NULL, 0, 0);
		shutdown(mt->sock, SHUT_RDWR);
	}
	mt->dead = err;
	return gmem_fail(-err, "memtable: %s", why);
}

/*
 * The VMM hung up on us: if it sent an ERROR first, its reason goes in why
 * (true).  The rest of what it sent is moot.
 */
static bool vmm_gave_up(struct gmem_memtable *mt, char *why, size_t n)
{
	uint64_t buf[GMEM_MT_MAX_MSG / 8];
	int fds[GMEM_MT_MAX_FDS];
	char ignored[160];

	for (int i = 0; i < 64; i++) {
		struct gmem_mt_msg m = { .buf = buf };
		ssize_t r = gmem_mt_recv(mt->sock, buf, fds, &m.nfds, ignored,
					 sizeof(ignored));

		if (r <= 0)
			return false;
		m.len = (size_t)r;
		for (unsigned int k = 0; k < m.nfds; k++)
			close(fds[k]);
		m.nfds = 0;
		if (gmem_mt_check(&m, GMEM_MT_FROM_VMM, ignored,
				  sizeof(ignored)) == GMEM_MT_ERROR) {
			snprintf(why, n, "the VMM gave up: %.*s",
				 GMEM_MT_REASON_LEN,
				 ((struct gmem_mt_error *)buf)->reason);
			return true;
		}
	}
	return false;
}

/* Receive and handle one message; 1, 0 if none waits, or -errno. */
static int one_message(struct gmem_memtable *mt, uint64_t *kicks)
{
	uint64_t buf[GMEM_MT_MAX_MSG / 8];
	int fds[GMEM_MT_MAX_FDS];
	struct gmem_mt_msg m = { .buf = buf };
	char why[192];
	unsigned int nfds;
	ssize_t r;
	int ret;

	r = gmem_mt_recv(mt->sock, buf, fds, &nfds, why, sizeof(why));
	if (r == -EAGAIN)
		return 0;
	if (r == 0)
		return die(mt, -ECONNRESET, "the VMM closed the connection");
	if (r < 0)
		return die(mt, (int)r, why);
	m.len = (size_t)r;
	m.nfds = nfds;
	ret = gmem_mt_client_handle(mt, &m, fds, kicks, why, sizeof(why));
	mt->messages++;
	if ((ret == -EPIPE || ret == -ECONNRESET) &&
	    vmm_gave_up(mt, why, sizeof(why)))
		ret = -ECONNABORTED;
	return ret < 0 ? die(mt, ret, why) : 1;
}

GMEM_API int gmem_memtable_open(const struct gmem_memtable_args *a,
				struct gmem_memtable **out)
{
	struct gmem_mt_hello h;
	struct gmem_memtable *mt;
	struct pollfd p;
	int ret;

	gmem_error_clear();
	if (!a || !out)
		return gmem_fail(EINVAL, "gmem_memtable_open: NULL argument");
	for (size_t i = 0; i < sizeof(a->reserved) / sizeof(a->reserved[0]); i++)
		if (a->reserved[i])
			return gmem_fail(EINVAL, "memtable: reserved fields "
					 "must be zero");
	if (a->flags)
		return gmem_fail(EINVAL, "memtable: unknown flags 0x%x",
				 a->flags);
	ret = gmem_mt_check_socket(a->sock_fd, "memtable");
	if (ret < 0)
		return ret;
	mt = gmem_mt_client_new(a->sock_fd, a->name, a->timeout_ms);
	if (!mt)
		return gmem_fail(ENOMEM, "memtable: out of memory");
	gmem_mt_hello_init(&h, mt->name);
	ret = send_msg(mt, &h, sizeof(h));
	if (ret < 0) {
		ret = gmem_fail(-ret, "memtable: sending HELLO: %s",
				strerror(-ret));
		goto fail;
	}
	/* The VMM's HELLO comes first; what follows waits for process. */
	p = (struct pollfd){ .fd = mt->sock, .events = POLLIN };
	ret = poll(&p, 1, (int)mt->timeout_ms);
	if (ret <= 0) {
		ret = gmem_fail(ret ? errno : ETIMEDOUT, "memtable: no HELLO "
				"from the VMM within %u ms", mt->timeout_ms);
		goto fail;
	}
	ret = one_message(mt, NULL);
	if (ret == 0)
		ret = gmem_fail(ETIMEDOUT, "memtable: no HELLO from the VMM");
	if (ret < 0)
		goto fail;
	*out = mt;
	return 0;

fail:
	drop_all(mt);
	free(mt);
	return ret;
}

GMEM_API int gmem_memtable_fd(const struct gmem_memtable *mt)
{
	gmem_error_clear();
	if (!mt)
		return gmem_fail(EINVAL, "gmem_memtable_fd: NULL memtable");
	return mt->sock;
}

GMEM_API int gmem_memtable_process(struct gmem_memtable *mt, int timeout_ms,
				   uint64_t *kicks)
{
	struct pollfd p;
	int handled = 0, ret;

	gmem_error_clear();
	if (kicks)
		*kicks = 0;
	if (!mt)
		return gmem_fail(EINVAL, "gmem_memtable_process: NULL memtable");
	if (mt->dead)
		return gmem_fail(-mt->dead, "memtable: the table is over (%s)",
				 strerror(-mt->dead));
	while (handled < MAX_BATCH) {
		ret = one_message(mt, kicks);
		if (ret < 0)
			return ret;
		if (ret) {
			handled++;
			continue;
		}
		if (handled || timeout_ms == 0)
			break;
		p = (struct pollfd){ .fd = mt->sock, .events = POLLIN };
		ret = poll(&p, 1, timeout_ms);
		if (ret < 0 && errno != EINTR)
			return gmem_fail(errno, "memtable: poll: %s",
					 strerror(errno));
		if (ret <= 0)
			break;
		/* Once: a message arrived, so only what waits is handled. */
		timeout_ms = 0;
	}
	return handled;
}

GMEM_API void *gmem_memtable_translate(struct gmem_memtable *mt, uint64_t gpa,
				       uint64_t length, uint32_t access)
{
	const struct mt_entry *e;
	uint64_t off;
	size_t i;

	gmem_error_clear();
	if (!mt || !length || !access ||
	    access & ~(GMEM_MEMTABLE_READ | GMEM_MEMTABLE_WRITE)) {
		gmem_fail(EINVAL, "memtable translate: NULL table, empty range "
			  "or bad access 0x%x", access);
		errno = EINVAL;
		return NULL;
	}
	i = upper(mt, gpa);
	e = i ? &mt->v[i - 1] : NULL;
	off = e ? gpa - e->gpa : 0;
	if (!e || off >= e->length || length > e->length - off) {
		gmem_fail(ENOENT, "memtable: guest 0x%llx+0x%llx is not inside "
			  "one entry of the table", (unsigned long long)gpa,
			  (unsigned long long)length);
		errno = ENOENT;
		return NULL;
	}
	if (access & GMEM_MEMTABLE_WRITE && !(e->prot & PROT_WRITE)) {
		gmem_fail(EACCES, "memtable: entry %u is read-only", e->id);
		errno = EACCES;
		return NULL;
	}
	if (gmem_extents_covered(&e->invalid, off, off + length)) {
		gmem_fail(EFAULT, "memtable: guest 0x%llx+0x%llx was "
			  "invalidated", (unsigned long long)gpa,
			  (unsigned long long)length);
		errno = EFAULT;
		return NULL;
	}
	return e->map + off;
}

GMEM_API int gmem_memtable_info(const struct gmem_memtable *mt,
				struct gmem_memtable_info *out)
{
	gmem_error_clear();
	if (!mt || !out)
		return gmem_fail(EINVAL, "gmem_memtable_info: NULL argument");
	memset(out, 0, sizeof(*out));
	out->entries = (uint32_t)mt->nr;
	for (size_t i = 0; i < mt->nr; i++) {
		out->mapped_bytes += mt->v[i].length;
		out->invalid_bytes += mt->v[i].invalid.bytes;
	}
	out->messages = mt->messages;
	return 0;
}

GMEM_API int gmem_memtable_close(struct gmem_memtable *mt)
{
	gmem_error_clear();
	if (!mt)
		return gmem_fail(EINVAL, "gmem_memtable_close: NULL memtable");
	drop_all(mt);
	close(mt->sock);
	free(mt);
	return 0;
}
