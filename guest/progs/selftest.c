// SPDX-License-Identifier: MIT
/*
 * selftest.c - a guest that proves the runner itself: arguments arrive,
 * the stack and calls work, values and assertions reach the host with the
 * right line, and the return value comes back.
 */
#include "guest_lib.h"

static uint64_t fib(uint64_t n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

uint64_t guest_main(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3)
{
	uint64_t local[64];

	guest_value(1, a0 + a1 + a2 + a3);
	guest_value(2, fib(20));
	if (a0 == 0xa55e47) {
		/* Tell the host which line must be reported, then fail. */
		guest_value(3, __LINE__ + 1);
		GUEST_ASSERT_EQ(a1, a2);
	}
	for (int i = 0; i < 64; i++)
		local[i] = (uint64_t)i * a1;
	return local[63] + a3;
}
