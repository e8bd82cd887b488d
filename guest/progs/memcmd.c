// SPDX-License-Identifier: MIT
/*
 * memcmd.c - a guest that does memory work for the host: fill, check and
 * touch ranges of guest-physical memory, one request at a time, so tests
 * and benchmarks observe memory from inside the guest.
 */
#include "guest_lib.h"

static uint64_t fill(uint64_t gpa, uint64_t len, uint64_t seed, uint64_t base)
{
	volatile uint64_t *p = (volatile uint64_t *)gpa;

	for (uint64_t i = 0; i < len / 8; i++)
		p[i] = guest_pattern(seed, base / 8 + i);
	return 0;
}

static uint64_t check(uint64_t gpa, uint64_t len, uint64_t seed,
		      uint64_t base)
{
	volatile uint64_t *p = (volatile uint64_t *)gpa;

	for (uint64_t i = 0; i < len / 8; i++)
		if (p[i] != guest_pattern(seed, base / 8 + i))
			return i * 8;
	return GUEST_CHECK_OK;
}

static uint64_t check_zero(uint64_t gpa, uint64_t len)
{
	volatile uint64_t *p = (volatile uint64_t *)gpa;

	for (uint64_t i = 0; i < len / 8; i++)
		if (p[i])
			return i * 8;
	return GUEST_CHECK_OK;
}

/* For each page, the word's index within the whole range, in words. */
static uint64_t page_word_index(uint64_t base, uint64_t off)
{
	return (base + off) / 8 + guest_page_word(base + off);
}

static uint64_t fill_pages(uint64_t gpa, uint64_t len, uint64_t seed,
			   uint64_t base)
{
	for (uint64_t off = 0; off < len; off += GUEST_PAGE_SIZE) {
		uint64_t w = page_word_index(base, off);

		*(volatile uint64_t *)(gpa + off + guest_page_word(base + off) *
				       8) = guest_pattern(seed, w);
	}
	return 0;
}

static uint64_t check_pages(uint64_t gpa, uint64_t len, uint64_t seed,
			    uint64_t base)
{
	for (uint64_t off = 0; off < len; off += GUEST_PAGE_SIZE) {
		uint64_t at = off + guest_page_word(base + off) * 8;

		if (*(volatile uint64_t *)(gpa + at) !=
		    guest_pattern(seed, page_word_index(base, off)))
			return at;
	}
	return GUEST_CHECK_OK;
}

static uint64_t check_zero_pages(uint64_t gpa, uint64_t len, uint64_t base)
{
	for (uint64_t off = 0; off < len; off += GUEST_PAGE_SIZE) {
		uint64_t at = off + guest_page_word(base + off) * 8;

		if (*(volatile uint64_t *)(gpa + at))
			return at;
	}
	return GUEST_CHECK_OK;
}

/* Does the CPU say AuthenticAMD?  Then the hypercall is vmmcall. */
static int cpu_is_amd(void)
{
	uint32_t a = 0, b, c, d;

	__asm__ volatile("cpuid" : "+a"(a), "=b"(b), "=c"(c), "=d"(d));
	return b == 0x68747541;	/* "Auth" */
}

/*
 * Ask the host to make a range private or shared (KVM's hypercall 12:
 * address, 4 KiB pages, attributes; bit 4 means encrypted, i.e. private).
 */
static uint64_t map_gpa_range(uint64_t gpa, uint64_t len, uint64_t private)
{
	uint64_t ret = 12, attrs = private ? 0x10 : 0;

	if (cpu_is_amd())
		__asm__ volatile("vmmcall"
				 : "+a"(ret)
				 : "b"(gpa), "c"(len / GUEST_PAGE_SIZE),
				   "d"(attrs)
				 : "memory");
	else
		__asm__ volatile("vmcall"
				 : "+a"(ret)
				 : "b"(gpa), "c"(len / GUEST_PAGE_SIZE),
				   "d"(attrs)
				 : "memory");
	return ret;
}

static uint64_t touch(uint64_t gpa, uint64_t len, uint64_t stride)
{
	GUEST_ASSERT(stride != 0);
	for (uint64_t off = 0; off < len; off += stride)
		*(volatile uint8_t *)(gpa + off) = 1;
	return len / stride;
}

uint64_t guest_main(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	volatile struct guest_mailbox *mb = guest_mailbox();
	uint64_t result = 0, done = 0;

	(void)a0, (void)a1, (void)a2, (void)a3;
	for (;;) {
		uint64_t op, x, y, z, w;

		guest_ucall(UCALL_REQ, result, done, 0);
		op = mb->op;
		x = mb->op_arg[0];
		y = mb->op_arg[1];
		z = mb->op_arg[2];
		w = mb->op_arg[3];
		switch (op) {
		case MEMCMD_EXIT:
			return done;
		case MEMCMD_FILL:
			result = fill(x, y, z, w);
			break;
		case MEMCMD_CHECK:
			result = check(x, y, z, w);
			break;
		case MEMCMD_CHECK_ZERO:
			result = check_zero(x, y);
			break;
		case MEMCMD_TOUCH:
			result = touch(x, y, z);
			break;
		case MEMCMD_READ64:
			result = *(volatile uint64_t *)x;
			break;
		case MEMCMD_WRITE64:
			*(volatile uint64_t *)x = y;
			result = 0;
			break;
		case MEMCMD_FILL_PAGES:
			result = fill_pages(x, y, z, w);
			break;
		case MEMCMD_CHECK_PAGES:
			result = check_pages(x, y, z, w);
			break;
		case MEMCMD_CHECK_ZERO_PAGES:
			result = check_zero_pages(x, y, z);
			break;
		case MEMCMD_MAP_GPA_RANGE:
			result = map_gpa_range(x, y, z);
			break;
		default:
			GUEST_ASSERT_EQ(op, MEMCMD_EXIT);
		}
		done++;
	}
}
