/* SPDX-License-Identifier: MIT */
/* The bundled test guest, run by `evvm run` when no --kernel is given. */
	.section .rodata
	.balign 16
	.globl demo_guest_start
	.globl demo_guest_end
demo_guest_start:
	.incbin DEMO_GUEST_PATH
demo_guest_end:

	.section .note.GNU-stack, "", @progbits
