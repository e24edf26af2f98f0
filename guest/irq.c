#include "irq.h"
#include "exit.h"
#include "io.h"
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

/*
 * KVM resets the 8259s unmasked with vector base 0 and the boot CPU's LINT0
 * in ExtINT mode, and its default routes send GSIs 0-15 to them as well as
 * to the IOAPIC: a device pin would also arrive as exception vector "pin".
 * Every test routes pins through the IOAPIC, so mask both PICs, as an OS does.
 */
void pic_mask_all(void)
{
	outb(0xff, 0x21);
	outb(0xff, 0xa1);
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
