/* Interrupt and exception dispatch through the static IDT (isr.S). */
#ifndef GUEST_IRQ_H
#define GUEST_IRQ_H

#include "types.h"

#define NR_VECTORS		256
#define NR_EXCEPTIONS		32

/* Convention: IOAPIC pin (GSI) n is delivered on vector GSI_VECTOR(n). */
#define GSI_VECTOR_BASE		0x20
#define GSI_VECTOR(gsi)		(GSI_VECTOR_BASE + (gsi))
/* Free for tests that pick their own vectors (MSI, IPIs). */
#define FREE_VECTOR_BASE	0x40
#define SPURIOUS_VECTOR		0xff

/* Saved state, lowest address first; pushed by isr.S. */
struct irq_frame {
	u64 r15, r14, r13, r12, r11, r10, r9, r8;
	u64 rbp, rdi, rsi, rdx, rcx, rbx, rax;
	u64 vector;
	u64 error;		/* 0 for vectors without an error code */
	u64 rip, cs, rflags, rsp, ss;	/* pushed by the CPU */
};

/* Runs with interrupts off; a device handler must EOI its LAPIC itself. */
typedef void (*irq_handler_t)(struct irq_frame *frame);

/* Load the IDT on this CPU. */
void idt_load(void);

/* Install @handler for @vector (exceptions too); NULL removes it. */
void irq_register(unsigned int vector, irq_handler_t handler);

/*
 * Called by isr.S. Without a handler an exception reports itself and ends
 * the VM with EXIT_ERROR; other vectors are reported and acknowledged.
 */
void interrupt_dispatch(u64 vector, struct irq_frame *frame);

#endif
