/*
 * UART interrupt end to end: THR-empty interrupt -> IRQ 4 -> IOAPIC pin 4
 * -> LAPIC -> IDT. Enabling the THRE interrupt while THR is already empty
 * makes the UART raise it at once.
 */
#include "cpu.h"
#include "io.h"
#include "ioapic.h"
#include "irq.h"
#include "lapic.h"
#include "serial.h"
#include "test.h"

#define SERIAL_VECTOR		GSI_VECTOR(UART_IRQ)
#define SERIAL_IRQ_TIMEOUT	TIMEOUT_CYCLES

static unsigned int irqs;
static u8 last_iir;

static void serial_irq(struct irq_frame *frame)
{
	(void)frame;
	/* Reading IIR acknowledges the THRE interrupt in the UART. */
	WRITE_ONCE(last_iir, inb(UART_BASE + UART_IIR));
	WRITE_ONCE(irqs, irqs + 1);
	lapic_eoi();
}

static int test_serial_irq(void)
{
	u8 mcr = inb(UART_BASE + UART_MCR);
	u64 deadline;

	WRITE_ONCE(irqs, 0);
	irq_register(SERIAL_VECTOR, serial_irq);
	lapic_enable();
	ioapic_route(UART_IRQ, SERIAL_VECTOR, IOAPIC_EDGE | IOAPIC_ACTIVE_HIGH,
		     lapic_id());
	outb(mcr | UART_MCR_OUT2, UART_BASE + UART_MCR);
	outb(UART_IER_THRI, UART_BASE + UART_IER);

	sti();
	deadline = tsc_deadline(SERIAL_IRQ_TIMEOUT);
	while (!READ_ONCE(irqs) && !tsc_passed(deadline))
		cpu_relax();
	cli();

	/* Quiet again before anything prints. */
	outb(0, UART_BASE + UART_IER);
	outb(mcr, UART_BASE + UART_MCR);
	ioapic_mask(UART_IRQ);
	irq_register(SERIAL_VECTOR, NULL);

	if (!irqs)
		return test_fail("no interrupt on vector 0x%x within %lu cycles",
				 SERIAL_VECTOR, (u64)SERIAL_IRQ_TIMEOUT);
	if ((last_iir & (UART_IIR_NO_INT | UART_IIR_ID)) != UART_IIR_THRI)
		return test_fail("IIR 0x%x in the handler, want THRE", last_iir);
	return 0;
}
GUEST_TEST("serial-irq", test_serial_irq);
