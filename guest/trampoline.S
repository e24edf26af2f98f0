/*
 * AP start-up. trampoline_start..trampoline_end is copied to
 * TRAMPOLINE_ADDR by smp.c and entered by SIPI in real mode with
 * CS = TRAMPOLINE_ADDR >> 4, IP = 0. It goes straight to long mode (no
 * 32-bit stop) with the BSP's GDT and static page tables, then calls
 * ap_main(ap_boot_index) on ap_boot_stack; the BSP starts one AP at a
 * time, so these two globals are not contended.
 */
#include "layout.h"

	.section .rodata.trampoline, "a"
	.code16
	.globl trampoline_start, trampoline_end
trampoline_start:
	movw %cs, %ax
	movw %ax, %ds
	lgdtl tramp_gdt_ptr - trampoline_start
	movl $X86_CR4_PAE, %eax
	movl %eax, %cr4
	movl $pml4, %eax
	movl %eax, %cr3
	movl $MSR_EFER, %ecx
	movl $EFER_LME, %eax
	xorl %edx, %edx
	wrmsr
	movl $(X86_CR0_PG | X86_CR0_ET | X86_CR0_PE), %eax
	movl %eax, %cr0
	ljmpl $KERNEL_CS, $ap_start64

	.balign 4
tramp_gdt_ptr:				/* a copy: head.S's is out of reach here */
	.word GDT_SIZE - 1
	.long gdt
trampoline_end:

	.text
	.code64
ap_start64:
	movl $KERNEL_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
	movq ap_boot_stack(%rip), %rsp
	xorl %ebp, %ebp
	movl ap_boot_index(%rip), %edi
	call ap_main
1:	cli
	hlt
	jmp 1b

	.section .note.GNU-stack, "", @progbits
