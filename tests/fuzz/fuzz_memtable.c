// SPDX-License-Identifier: MIT
/*
 * fuzz_memtable.c - libFuzzer target for the memory-table parsers: the
 * device's side (each record sent as a packet with real fds over a socket
 * pair, then received, checked and applied to a live table by
 * gmem_memtable_process) and the VMM's side (check, then the server's
 * state) take whatever bytes come, as a hostile peer would send them.
 *
 * Input: one byte picks the side (even: device, odd: VMM), then records
 * of [length: 2 bytes][fd spec: 1 byte][length bytes].  The fd spec gives
 * the number of fds (low 4 bits, up to 15: past the limit of 8 too) and
 * their kind (high bits): a 64 KiB memfd, a pipe, the same memfd
 * read-only, or /dev/null.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "internal.h"
#include "memtable_proto.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static int kinds[4];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char path[64];
	int p[2];

	(void)argc, (void)argv;
	kinds[0] = memfd_create("fuzz", MFD_CLOEXEC);
	if (kinds[0] < 0 || ftruncate(kinds[0], 64 * 1024) < 0)
		return 1;
	if (pipe2(p, O_CLOEXEC) < 0)
		return 1;
	kinds[1] = p[0];
	snprintf(path, sizeof(path), "/proc/self/fd/%d", kinds[0]);
	kinds[2] = open(path, O_RDONLY | O_CLOEXEC);
	kinds[3] = open("/dev/null", O_RDWR | O_CLOEXEC);
	return 0;
}

/* Send one packet with n fds of a kind, past the protocol's limit too. */
static void send_packet(int sock, const void *buf, size_t len,
			unsigned int n, unsigned int kind)
{
	union {
		char c[CMSG_SPACE(sizeof(int) * 15)];
		struct cmsghdr align;
	} u;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (n) {
		struct cmsghdr *c;
		int fds[15];

		for (unsigned int i = 0; i < n; i++)
			fds[i] = kinds[kind];
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.c;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * n);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * n);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * n);
	}
	sendmsg(sock, &mh, MSG_DONTWAIT | MSG_NOSIGNAL);
}

/* Throw away what the device side sent (ACKs, ERROR). */
static void drain(int sock)
{
	char buf[GMEM_MT_MAX_MSG];

	while (recv(sock, buf, sizeof(buf), MSG_DONTWAIT) > 0)
		;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* Aligned as a received message is. */
	uint64_t buf[GMEM_MT_MAX_MSG / 8 + 8];
	struct gmem_mt_server_state st = { .sent = 64 };
	struct gmem_memtable *mt = NULL;
	bool vmm_side;
	char why[192];
	int sv[2];

	if (size < 1)
		return 0;
	vmm_side = data[0] & 1;
	data++;
	size--;
	if (!vmm_side) {
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv))
			return 0;
		mt = gmem_mt_client_new(sv[0], "fuzz", 1);
		if (!mt) {
			close(sv[0]);
			close(sv[1]);
			return 0;
		}
	}
	while (size >= 3) {
		size_t len = (size_t)data[0] | (size_t)data[1] << 8;
		unsigned int nfds = data[2] & 15, kind = data[2] >> 4 & 3;
		struct gmem_mt_msg m = { .buf = buf };
		uint64_t kicks;
		int ret;

		data += 3;
		size -= 3;
		if (len > size)
			len = size;
		/* A little over the limit, to reach the too-long path. */
		if (len > sizeof(buf))
			len = sizeof(buf);
		memcpy(buf, data, len);
		data += len;
		size -= len;
		if (vmm_side) {
			m.len = len < GMEM_MT_MAX_MSG ? len : GMEM_MT_MAX_MSG;
			m.nfds = nfds;
			ret = gmem_mt_server_accept(&st, &m, why, sizeof(why));
			/* The state stays sane whatever came. */
			if (st.acked > st.sent)
				__builtin_trap();
		} else {
			send_packet(sv[1], buf, len, nfds, kind);
			ret = gmem_memtable_process(mt, 0, &kicks);
			drain(sv[1]);
		}
		/* Both real ends stop at the first error. */
		if (ret < 0)
			break;
	}
	if (mt) {
		struct gmem_memtable_info info;

		/* What is left in the table is still consistent. */
		gmem_memtable_info(mt, &info);
		if (info.invalid_bytes > info.mapped_bytes)
			__builtin_trap();
		gmem_memtable_translate(mt, 0, 4096, GMEM_MEMTABLE_READ);
		gmem_memtable_close(mt);
		close(sv[1]);
	}
	return 0;
}
