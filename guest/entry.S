/* SPDX-License-Identifier: MIT */
/* entry.S - first instruction of every guest program: call guest_main, report. */
#include "ucall.h"

	.section .text.entry, "ax"
	.globl _start
_start:
	/* The runner set rsp and the arguments in rdi, rsi, rdx, rcx. */
	call	guest_main
	movq	%rax, %rsi
	movq	$GUEST_UCALL_DONE, %rdi
	xorq	%rdx, %rdx
	xorq	%rcx, %rcx
	call	guest_ucall
1:	hlt
	jmp	1b
