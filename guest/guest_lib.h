/* SPDX-License-Identifier: MIT */
/* guest_lib.h - the little a guest program needs: calls to the host. */
#ifndef GMEM_GUEST_LIB_H
#define GMEM_GUEST_LIB_H

#include <stdint.h>

#include "ucall.h"

/* Each program defines this; the runner passes up to four arguments. */
uint64_t guest_main(uint64_t a0, uint64_t a1, uint64_t a2, uint64_t a3);

/* Call the host; returns when the host resumes the vCPU. */
void guest_ucall(uint64_t cmd, uint64_t a0, uint64_t a1, uint64_t a2);
void guest_value(uint64_t tag, uint64_t value);
/* The mailbox, where the host's answers to UCALL_REQ arrive. */
volatile struct guest_mailbox *guest_mailbox(void);

__attribute__((noreturn)) void guest_assert_fail(uint64_t line, uint64_t a,
						 uint64_t b);

#define GUEST_ASSERT(cond)						\
	do {								\
		if (!(cond))						\
			guest_assert_fail(__LINE__, 0, 0);		\
	} while (0)

#define GUEST_ASSERT_EQ(a, b)						\
	do {								\
		uint64_t __a = (uint64_t)(a), __b = (uint64_t)(b);	\
		if (__a != __b)						\
			guest_assert_fail(__LINE__, __a, __b);		\
	} while (0)

#endif /* GMEM_GUEST_LIB_H */
