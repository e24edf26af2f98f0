/*
 * AP start-up. trampoline_start..trampoline_end is copied to
 * TRAMPOLINE_ADDR by smp.c and entered by SIPI in real mode with
 * CS = TRAMPOLINE_ADDR >> 4, IP = 0. It goes straight to long mode (no
 * 32-bit stop) with the BSP's GDT and static page tables, then calls
 * ap_main(ap_boot_index) on ap_boot_stack; the BSP starts one AP at a
 * time, so these two globals are not contended.
 */
#include "layout.h"
#include "longmode.h"

	.section .rodata.trampoline, "a"
	.code16
	.globl trampoline_start, trampoline_end
trampoline_start:
	movw %cs, %ax
	movw %ax, %ds
	lgdtl tramp_gdt_ptr - trampoline_start
	LONG_MODE_ENTER
	ljmpl $KERNEL_CS, $ap_start64

	.balign 4
tramp_gdt_ptr:				/* a copy: head.S's is out of reach here */
	.word GDT_SIZE - 1
	.long gdt
trampoline_end:

	.text
	.code64
ap_start64:
	LONG_MODE_DATA_SEGS
	movq ap_boot_stack(%rip), %rsp
	xorl %ebp, %ebp
	movl ap_boot_index(%rip), %edi
	call ap_main
1:	cli
	hlt
	jmp 1b

	.section .note.GNU-stack, "", @progbits
