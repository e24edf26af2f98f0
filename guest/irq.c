#include "irq.h"
#include "exit.h"
#include "lapic.h"
#include "printf.h"

struct desc_ptr {
	u16 limit;
	u64 base;
} __packed;

extern const struct desc_ptr idt_ptr;	/* isr.S */

static irq_handler_t handlers[NR_VECTORS];

void idt_load(void)
{
	asm volatile("lidt %0" : : "m"(idt_ptr));
}

void irq_register(unsigned int vector, irq_handler_t handler)
{
	if (vector < NR_VECTORS)
		WRITE_ONCE(handlers[vector], handler);
}

void interrupt_dispatch(u64 vector, struct irq_frame *frame)
{
	irq_handler_t handler = handlers[vector & (NR_VECTORS - 1)];

	if (handler) {
		handler(frame);
		return;
	}
	if (vector < NR_EXCEPTIONS) {
		printf("evvm-guest: exception %lu at rip=0x%lx error=0x%lx\n",
		       vector, frame->rip, frame->error);
		guest_exit(EXIT_ERROR);
	}
	/* A spurious interrupt must not be acknowledged. */
	if (vector == SPURIOUS_VECTOR)
		return;
	printf("evvm-guest: unexpected interrupt %lu\n", vector);
	lapic_eoi();
}
