/*
 * The switch to long mode, shared by the three places that make it: the
 * BSP's PVH entry (head.S), the AP trampoline (trampoline.S) and
 * linuxboot's startup_32. Assembler macros only; include from .S files
 * after layout.h. The caller loads its GDT first and far-jumps to its
 * 64-bit code after LONG_MODE_ENTER.
 */
#ifndef GUEST_LONGMODE_H
#define GUEST_LONGMODE_H

/* PAE, the static identity map, EFER.LME, then paging: long mode is on. */
.macro LONG_MODE_ENTER
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
.endm

/* First thing in 64-bit mode: the flat data selector everywhere. */
.macro LONG_MODE_DATA_SEGS
	movl $KERNEL_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %ss
	movl %eax, %fs
	movl %eax, %gs
.endm

#endif
