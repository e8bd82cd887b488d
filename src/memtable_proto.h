/* SPDX-License-Identifier: MIT */
/*
 * memtable_proto.h - the wire format of memory tables, spoken between a
 * VMM (devproc.c) and a device process (memtable.c): layouts, limits and
 * the checks both ends make.  docs/memtable.md describes it in prose.
 */
#ifndef GMEM_MEMTABLE_PROTO_H
#define GMEM_MEMTABLE_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* "GMMT" read as a little-endian number. */
#define GMEM_MT_MAGIC		0x544d4d47u
#define GMEM_MT_MAJOR		1
#define GMEM_MT_MINOR		0

/* Limits: a message is one SOCK_SEQPACKET packet. */
#define GMEM_MT_MAX_MSG		4096	/* bytes, header included */
#define GMEM_MT_MAX_FDS		8	/* per message = entries per MAP */
#define GMEM_MT_MAX_ENTRIES	256	/* live entries in one table */
#define GMEM_MT_MAX_HOLES	65536	/* unusable ranges per entry */
#define GMEM_MT_NAME_LEN	32
#define GMEM_MT_REASON_LEN	120
#define GMEM_MT_MAX_QUEUE	64	/* KICK queues: 0..63 */
/* Offsets, lengths and addresses are multiples of this. */
#define GMEM_MT_ALIGN		4096u

enum gmem_mt_type {
	GMEM_MT_HELLO = 1,	/* both ways, first message of each side */
	GMEM_MT_MAP = 2,	/* VMM: new entries, one fd each */
	GMEM_MT_INVALIDATE = 3,	/* VMM: stop using a range; ACK it */
	GMEM_MT_REVALIDATE = 4,	/* VMM: a range may be used again */
	GMEM_MT_UNMAP = 5,	/* VMM: an entry is gone; ACK it */
	GMEM_MT_KICK = 6,	/* VMM: a doorbell for a queue */
	GMEM_MT_BYE = 7,	/* VMM: drop everything; ACK it */
	GMEM_MT_ACK = 8,	/* device: done with every message up to seq */
	GMEM_MT_ERROR = 9,	/* both ways: why, then the sender closes */
	GMEM_MT_TYPE_COUNT
};

/* Every message starts with this. */
struct gmem_mt_hdr {
	uint32_t type;		/* enum gmem_mt_type */
	uint32_t size;		/* bytes of the message, header included */
	uint64_t seq;		/* 1, 2, 3, ... per sender */
};

struct gmem_mt_hello {
	struct gmem_mt_hdr h;
	uint32_t magic;		/* GMEM_MT_MAGIC */
	uint16_t major;		/* must match */
	uint16_t minor;		/* may differ: newer sides ignore nothing */
	uint32_t flags;		/* none defined yet: 0 */
	uint32_t max_entries;	/* most live entries the sender handles */
	uint32_t max_fds;	/* most fds the sender takes in one message */
	uint32_t reserved32;
	char name[GMEM_MT_NAME_LEN];	/* NUL-terminated, for messages */
	uint64_t reserved[2];
};

/* Entry flags. */
#define GMEM_MT_READ		(1u << 0)	/* must be set */
#define GMEM_MT_WRITE		(1u << 1)
#define GMEM_MT_START_INVALID	(1u << 2)	/* unusable until REVALIDATE */
#define GMEM_MT_ENTRY_FLAGS	(GMEM_MT_READ | GMEM_MT_WRITE | \
				 GMEM_MT_START_INVALID)

struct gmem_mt_entry {
	uint32_t id;		/* the VMM's name for it; unique while live */
	uint32_t flags;		/* GMEM_MT_READ | ... */
	uint64_t offset;	/* in the file the fd refers to */
	uint64_t length;
	uint64_t gpa;		/* guest-physical address of offset */
	uint64_t reserved;
};

struct gmem_mt_map {
	struct gmem_mt_hdr h;
	uint32_t count;		/* entries that follow = fds attached */
	uint32_t reserved32;
	struct gmem_mt_entry e[];
};

/* INVALIDATE and REVALIDATE: a range of one entry. */
struct gmem_mt_range {
	struct gmem_mt_hdr h;
	uint32_t id;
	uint32_t reserved32;
	uint64_t offset;	/* from the entry's start, not the file's */
	uint64_t length;
};

struct gmem_mt_unmap {
	struct gmem_mt_hdr h;
	uint32_t id;
	uint32_t reserved32;
};

struct gmem_mt_kick {
	struct gmem_mt_hdr h;
	uint32_t queue;		/* < GMEM_MT_MAX_QUEUE */
	uint32_t reserved32;
};

struct gmem_mt_ack {
	struct gmem_mt_hdr h;
	uint64_t seq;		/* the last of the other side's messages done */
};

struct gmem_mt_error {
	struct gmem_mt_hdr h;
	uint32_t code;		/* an errno value */
	uint32_t reserved32;
	char reason[GMEM_MT_REASON_LEN];	/* NUL-terminated */
};

/* Who sent a message: each side accepts only the other side's types. */
enum gmem_mt_from { GMEM_MT_FROM_VMM, GMEM_MT_FROM_DEVICE };

/* One message as received: the bytes and how many fds came with it. */
struct gmem_mt_msg {
	const void *buf;
	size_t len;
	unsigned int nfds;
};

/*
 * Check one message's framing, size, fd count and reserved fields for its
 * type and sender (not what it means for a table).  The type, or -errno
 * with the reason in why.
 */
int gmem_mt_check(const struct gmem_mt_msg *m, enum gmem_mt_from from,
		  char *why, size_t why_len);

/* The VMM's view of a device's messages: what it sent and acknowledged. */
struct gmem_mt_server_state {
	bool hello;		/* the device's HELLO arrived */
	uint64_t recv_seq;	/* the device's last seq */
	uint64_t sent;		/* the VMM's last seq sent */
	uint64_t acked;		/* the last of those the device acknowledged */
	uint32_t max_entries;	/* from the device's HELLO */
	uint32_t max_fds;
	char name[GMEM_MT_NAME_LEN];
	/* An ERROR from the device: its code and reason. */
	int peer_error;
	char peer_reason[GMEM_MT_REASON_LEN];
};

/*
 * Take one message from a device into s: 0, or -errno with why (a bad
 * message, a version mismatch, an ERROR from the device).  Pure: the
 * caller does the I/O, so this is what the fuzzer runs.
 */
int gmem_mt_server_accept(struct gmem_mt_server_state *s,
			  const struct gmem_mt_msg *m, char *why,
			  size_t why_len);

/*
 * Send one message with nfds fds (MSG_NOSIGNAL; waits up to timeout_ms
 * for room, -1 forever).  0 or -errno.
 */
int gmem_mt_send(int sock, const void *buf, size_t len, const int *fds,
		 unsigned int nfds, int timeout_ms);

/*
 * Receive one message into buf (GMEM_MT_MAX_MSG bytes) and its fds
 * (GMEM_MT_MAX_FDS, close-on-exec).  The length, 0 at end of stream, or
 * -errno with why: a packet too long, too many fds or ancillary data of
 * another kind (whatever fds came are closed then), or the call failed.
 * -EAGAIN when nothing is there.
 */
ssize_t gmem_mt_recv(int sock, void *buf, int *fds, unsigned int *nfds,
		     char *why, size_t why_len);

/* Is sock a SOCK_SEQPACKET Unix socket?  0, or -errno with the reason. */
int gmem_mt_check_socket(int sock, const char *who);

/*
 * The device's side, message by message (memtable.c), for the fuzzer: a
 * memtable on sock that has not shaken hands, and the handling of one
 * message with the fds that came with it (always taken: kept or closed).
 * 0, or -errno with why; *kicks collects KICKs.
 */
struct gmem_memtable;
struct gmem_memtable *gmem_mt_client_new(int sock, const char *name,
					 uint32_t timeout_ms);
int gmem_mt_client_handle(struct gmem_memtable *mt,
			  const struct gmem_mt_msg *m, int *fds,
			  uint64_t *kicks, char *why, size_t why_len);

/* Fill in a header. */
static inline void gmem_mt_hdr_init(struct gmem_mt_hdr *h, uint32_t type,
				    uint32_t size, uint64_t seq)
{
	h->type = type;
	h->size = size;
	h->seq = seq;
}

const char *gmem_mt_type_name(uint32_t type);
/* Either side's HELLO: this version, its limits, and name (GMEM_MT_NAME_LEN bytes). */
void gmem_mt_hello_init(struct gmem_mt_hello *h, const char *name);
/* Write why a message is rejected into why (n bytes); returns -EPROTO. */
int gmem_mt_bad(char *why, size_t n, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif /* GMEM_MEMTABLE_PROTO_H */
