// SPDX-License-Identifier: MIT
/* guest_lib.c - calls from a guest program to the host, over port I/O. */
#include "guest_lib.h"

volatile struct guest_mailbox *guest_mailbox(void)
{
	return (volatile struct guest_mailbox *)GUEST_MAILBOX_GPA;
}

void guest_ucall(uint64_t cmd, uint64_t a0, uint64_t a1, uint64_t a2)
{
	volatile struct guest_mailbox *mb = guest_mailbox();

	mb->cmd = cmd;
	mb->arg[0] = a0;
	mb->arg[1] = a1;
	mb->arg[2] = a2;
	/* The memory clobber orders the mailbox stores before the exit. */
	__asm__ volatile("outl %%eax, %%dx"
			 : : "a"(0), "d"(GUEST_UCALL_PORT) : "memory");
}

void guest_value(uint64_t tag, uint64_t value)
{
	guest_ucall(UCALL_VALUE, tag, value, 0);
}

void guest_assert_fail(uint64_t line, uint64_t a, uint64_t b)
{
	for (;;) {
		guest_ucall(UCALL_ASSERT, line, a, b);
		__asm__ volatile("hlt");
	}
}

/* The compiler may emit calls to these even in freestanding code. */
void *memset(void *s, int c, unsigned long n);
void *memcpy(void *d, const void *s, unsigned long n);

void *memset(void *s, int c, unsigned long n)
{
	unsigned char *p = s;

	while (n--)
		*p++ = (unsigned char)c;
	return s;
}

void *memcpy(void *d, const void *s, unsigned long n)
{
	unsigned char *dp = d;
	const unsigned char *sp = s;

	while (n--)
		*dp++ = *sp++;
	return d;
}
