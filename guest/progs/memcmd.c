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
		default:
			GUEST_ASSERT_EQ(op, MEMCMD_EXIT);
		}
		done++;
	}
}
