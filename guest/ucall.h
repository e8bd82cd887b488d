/* SPDX-License-Identifier: MIT */
/*
 * ucall.h - what guest programs and the host runner agree on: the guest's
 * fixed memory layout, the port-I/O call protocol and the test pattern.
 * Included by freestanding guest code and by the host, so no libc here.
 */
#ifndef GMEM_UCALL_H
#define GMEM_UCALL_H

/*
 * Guest-physical layout of the boot region, the first 2 MiB of guest RAM.
 * The runner writes the tables and code; the guest owns the rest of RAM.
 */
#define GUEST_GDT_GPA		0x1000ULL
#define GUEST_MAILBOX_GPA	0x2000ULL
#define GUEST_PML4_GPA		0x3000ULL
#define GUEST_PDPT_GPA		0x4000ULL
#define GUEST_PD_GPA		0x5000ULL	/* one page per GiB mapped */
#define GUEST_MAX_MAPPED_GIB	64ULL
#define GUEST_CODE_GPA		0x100000ULL
#define GUEST_CODE_MAX		0x80000ULL
#define GUEST_STACK_TOP		0x200000ULL
#define GUEST_BOOT_SIZE		0x200000ULL	/* data may start here */

/* A guest "calls" the host with one OUT to this port. */
#define GUEST_UCALL_PORT	0xE0
/* UCALL_DONE for entry.S, which cannot see the enum. */
#define GUEST_UCALL_DONE	1

#ifndef __ASSEMBLER__
#include <stdint.h>

enum guest_ucall_cmd {
	UCALL_NONE = 0,
	UCALL_DONE,	/* a0 = guest_main's return value; guest halts */
	UCALL_ASSERT,	/* a0 = line, a1 = left value, a2 = right value */
	UCALL_VALUE,	/* a0 = tag, a1 = value: a report, then resume */
	UCALL_REQ,	/* a0 = last result: ask the host for the next op */
};
_Static_assert(UCALL_DONE == GUEST_UCALL_DONE, "entry.S's UCALL_DONE");

/* Both directions of a call, in guest memory the host also maps. */
struct guest_mailbox {
	uint64_t cmd;		/* guest -> host */
	uint64_t arg[3];
	uint64_t op;		/* host -> guest, answering UCALL_REQ */
	uint64_t op_arg[4];
};

/* Operations the "memcmd" guest performs for the host. */
enum guest_memcmd_op {
	MEMCMD_EXIT = 0,	/* return from guest_main */
	MEMCMD_FILL,		/* gpa, len, seed, base: write the pattern */
	MEMCMD_CHECK,		/* gpa, len, seed, base: bad offset or ~0 */
	MEMCMD_CHECK_ZERO,	/* gpa, len: result = bad offset or ~0 */
	MEMCMD_TOUCH,		/* gpa, len, stride: write one byte a stride */
	MEMCMD_READ64,		/* gpa: result = the 64-bit word there */
	MEMCMD_WRITE64,		/* gpa, value */
	/*
	 * The same three, one word per 4 KiB page (see guest_page_word):
	 * every page is still written or checked, at a cost per page rather
	 * than per byte.  Some KVMs emulate each guest instruction, where a
	 * byte-wise pass over 256 MiB takes minutes and this takes a second.
	 */
	MEMCMD_FILL_PAGES,	/* gpa, len, seed, base */
	MEMCMD_CHECK_PAGES,	/* gpa, len, seed, base: bad offset or ~0 */
	MEMCMD_CHECK_ZERO_PAGES,	/* gpa, len, base: bad offset or ~0 */
	/* KVM_HC_MAP_GPA_RANGE: gpa, len, private?: the hypercall's result */
	MEMCMD_MAP_GPA_RANGE,
};

#define GUEST_CHECK_OK (~0ULL)

/*
 * The test pattern: the 64-bit word at byte offset 8 * i of a filled range.
 * Keyed on the position within the range, not the address, so the host's
 * view of the file and a second guest view of it agree; never zero, so a
 * hole always shows.  FILL and CHECK take "base", the byte offset of gpa
 * within the range, so part of a range can be checked on its own.
 */
static inline uint64_t guest_pattern(uint64_t seed, uint64_t i)
{
	uint64_t x = seed + (i + 1) * 0x9e3779b97f4a7c15ULL;

	x ^= x >> 31;
	x *= 0xbf58476d1ce4e5b9ULL;
	x ^= x >> 29;
	return x | 1;
}

#define GUEST_PAGE_SIZE 4096ULL

/*
 * The stress guest's control area, in the boot region past the page
 * tables of up to GUEST_MAX_MAPPED_GIB: the host writes
 * the discard counts; the guest keeps its own notes next to it.
 */
#define GUEST_STRESS_MAX_PAGES	4096ULL
#define GUEST_STRESS_CTL_GPA	0x60000ULL
#define GUEST_STRESS_MINE_GPA	0x70000ULL
#define GUEST_STRESS_SEEN_GPA	0x78000ULL
#define GUEST_STRESS_CHURN_WORD	0x6368757263680001ULL

struct guest_stress_ctl {
	uint64_t discard_begun;		/* host: discards started */
	uint64_t passes;		/* guest: passes finished */
	uint64_t pad[6];
	/* host: per page, discard_begun of the last discard that returned */
	uint64_t discard_done[GUEST_STRESS_MAX_PAGES];
};

/*
 * Which 64-bit word of the page at byte offset off (of a range) the
 * per-page operations use: it moves from page to page, so across a range
 * every position within a page is exercised.  The word holds the same
 * value a full fill would put there.
 */
static inline uint64_t guest_page_word(uint64_t off)
{
	return off / GUEST_PAGE_SIZE * 7 % (GUEST_PAGE_SIZE / 8);
}

#endif /* __ASSEMBLER__ */
#endif /* GMEM_UCALL_H */
