// SPDX-License-Identifier: MIT
/*
 * mkseeds.c - write the fuzzer's seed corpus: whole, valid exchanges for
 * each side (so the fuzzer starts deep in the parsers), plus a few of the
 * broken messages the tests send.  mkseeds DIR.
 */
#include <stdio.h>
#include <string.h>

#include "memtable_proto.h"

static unsigned char out[65536];
static size_t used;
static unsigned long long seq;

static void start(int side)
{
	used = 0;
	seq = 0;
	out[used++] = (unsigned char)side;
}

/* Append a record; the message's seq is numbered here unless keep. */
static void rec(void *msg, size_t len, unsigned int fdspec, int keep)
{
	if (!keep)
		((struct gmem_mt_hdr *)msg)->seq = ++seq;
	out[used++] = (unsigned char)(len & 0xff);
	out[used++] = (unsigned char)(len >> 8);
	out[used++] = (unsigned char)fdspec;
	memcpy(out + used, msg, len);
	used += len;
}

static int save(const char *dir, const char *name)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "wb");
	if (!f || fwrite(out, 1, used, f) != used) {
		perror(path);
		return 1;
	}
	return fclose(f) != 0;
}

static void hello(void)
{
	struct gmem_mt_hello h = { 0 };

	gmem_mt_hdr_init(&h.h, GMEM_MT_HELLO, sizeof(h), 0);
	h.magic = GMEM_MT_MAGIC;
	h.major = GMEM_MT_MAJOR;
	h.max_entries = 16;
	h.max_fds = GMEM_MT_MAX_FDS;
	strcpy(h.name, "seed");
	rec(&h, sizeof(h), 0, 0);
}

static void map(unsigned int n, uint32_t first, uint64_t gpa, uint32_t flags,
		unsigned int kind)
{
	unsigned char b[sizeof(struct gmem_mt_map) +
			GMEM_MT_MAX_FDS * sizeof(struct gmem_mt_entry)] = { 0 };
	struct gmem_mt_map *m = (struct gmem_mt_map *)b;
	size_t len = sizeof(*m) + n * sizeof(m->e[0]);

	gmem_mt_hdr_init(&m->h, GMEM_MT_MAP, (uint32_t)len, 0);
	m->count = n;
	for (unsigned int i = 0; i < n; i++)
		m->e[i] = (struct gmem_mt_entry){
			.id = first + i, .flags = flags,
			.offset = i * 8192ULL % 65536, .length = 8192,
			.gpa = gpa + i * 0x100000ULL,
		};
	rec(m, len, n | kind << 4, 0);
}

static void range(uint32_t type, uint32_t id, uint64_t off, uint64_t len)
{
	struct gmem_mt_range r = { .id = id, .offset = off, .length = len };

	gmem_mt_hdr_init(&r.h, type, sizeof(r), 0);
	rec(&r, sizeof(r), 0, 0);
}

static void simple(uint32_t type, uint32_t id)
{
	struct gmem_mt_unmap u = { .id = id };
	struct gmem_mt_kick k = { .queue = id };
	struct gmem_mt_hdr b;

	if (type == GMEM_MT_UNMAP) {
		gmem_mt_hdr_init(&u.h, type, sizeof(u), 0);
		rec(&u, sizeof(u), 0, 0);
	} else if (type == GMEM_MT_KICK) {
		gmem_mt_hdr_init(&k.h, type, sizeof(k), 0);
		rec(&k, sizeof(k), 0, 0);
	} else {
		gmem_mt_hdr_init(&b, type, sizeof(b), 0);
		rec(&b, sizeof(b), 0, 0);
	}
}

static void ack(unsigned long long n)
{
	struct gmem_mt_ack a = { .seq = n };

	gmem_mt_hdr_init(&a.h, GMEM_MT_ACK, sizeof(a), 0);
	rec(&a, sizeof(a), 0, 0);
}

static void error(void)
{
	struct gmem_mt_error e = { .code = 5 };

	gmem_mt_hdr_init(&e.h, GMEM_MT_ERROR, sizeof(e), 0);
	strcpy(e.reason, "seed gives up");
	rec(&e, sizeof(e), 0, 0);
}

int main(int argc, char **argv)
{
	const char *dir = argc > 1 ? argv[1] : ".";
	int bad = 0;

	/* The device's side: a whole life of a table. */
	start(0);
	hello();
	map(1, 1, 0, GMEM_MT_READ | GMEM_MT_WRITE, 0);
	map(3, 10, 0x40000000, GMEM_MT_READ, 0);
	range(GMEM_MT_INVALIDATE, 1, 4096, 4096);
	range(GMEM_MT_REVALIDATE, 1, 4096, 4096);
	simple(GMEM_MT_KICK, 0);
	simple(GMEM_MT_UNMAP, 11);
	simple(GMEM_MT_BYE, 0);
	bad |= save(dir, "device-life");

	start(0);
	hello();
	map(1, 5, 0x200000, GMEM_MT_READ | GMEM_MT_START_INVALID, 2);
	range(GMEM_MT_REVALIDATE, 5, 0, 8192);
	range(GMEM_MT_INVALIDATE, 5, 0, 4096);
	map(8, 20, 0x80000000, GMEM_MT_READ | GMEM_MT_WRITE, 0);
	simple(GMEM_MT_KICK, 63);
	error();
	bad |= save(dir, "device-read-only-and-full-map");

	/* Broken on purpose: past the file, a pipe, a wrong seq. */
	start(0);
	hello();
	map(1, 1, 0, GMEM_MT_READ, 1);
	bad |= save(dir, "device-pipe");

	start(0);
	hello();
	{
		unsigned char b[sizeof(struct gmem_mt_map) +
				sizeof(struct gmem_mt_entry)] = { 0 };
		struct gmem_mt_map *m = (struct gmem_mt_map *)b;

		gmem_mt_hdr_init(&m->h, GMEM_MT_MAP, sizeof(b), 0);
		m->count = 1;
		m->e[0] = (struct gmem_mt_entry){ .id = 1,
						  .flags = GMEM_MT_READ,
						  .offset = 65536,
						  .length = 4096 };
		rec(m, sizeof(b), 1, 0);
	}
	bad |= save(dir, "device-past-file");

	/* The VMM's side. */
	start(1);
	hello();
	ack(3);
	ack(10);
	ack(64);
	error();
	bad |= save(dir, "vmm-acks");

	start(1);
	hello();
	hello();
	bad |= save(dir, "vmm-second-hello");
	return bad;
}
