/*
 * Interrupt entry. 256 stubs of ISR_STUB_SIZE bytes each, linked at the
 * fixed address ISR_STUBS_ADDR (checked by guest.ld), so the assembler can
 * emit the whole IDT as static data: no gate-filling loop at boot.
 */
#include "layout.h"

#define GATE_INTR	0x8e		/* present, DPL 0, 64-bit interrupt gate */

/* Vectors for which the CPU pushes an error code. */
#define HAS_ERRCODE(v)	((v) == 8 || ((v) >= 10 && (v) <= 14) || (v) == 17 || \
			 (v) == 21 || (v) == 29 || (v) == 30)

	.section .text.isr, "ax"
	.code64
	.globl isr_stubs, isr_stubs_end
isr_stubs:
	.set .Lvec, 0
	.rept 256
	.balign ISR_STUB_SIZE
	.if !HAS_ERRCODE(.Lvec)
	pushq $0			/* keep one frame layout */
	.endif
	pushq $.Lvec
	jmp isr_common
	.set .Lvec, .Lvec + 1
	.endr
	.balign ISR_STUB_SIZE
isr_stubs_end:

/* Let guest.ld check that the stubs landed where the IDT says. */
	.globl isr_stubs_expected
	.set isr_stubs_expected, ISR_STUBS_ADDR

	.text
/* Frame layout must match struct irq_frame in irq.h. */
isr_common:
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	cld
	movq 15*8(%rsp), %rdi		/* vector */
	movq %rsp, %rsi			/* frame */
	call interrupt_dispatch
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp			/* vector, error code */
	iretq

	.section .rodata
	.balign 16
idt:
	.set .Lvec, 0
	.rept 256
	.word (ISR_STUBS_ADDR + .Lvec * ISR_STUB_SIZE) & 0xffff
	.word KERNEL_CS
	.byte 0				/* no IST */
	.byte GATE_INTR
	.word (ISR_STUBS_ADDR + .Lvec * ISR_STUB_SIZE) >> 16
	.long 0				/* stubs live below 4 GiB */
	.long 0
	.set .Lvec, .Lvec + 1
	.endr
idt_end:

	.globl idt_ptr
	.balign 8
idt_ptr:
	.word idt_end - idt - 1
	.quad idt

	.section .note.GNU-stack, "", @progbits
