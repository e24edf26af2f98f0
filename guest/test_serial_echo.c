/*
 * Serial input end to end: the host types a line on evvm's terminal, the
 * UART raises IRQ 4 for received data, and the handler drains the FIFO.
 * The test echoes what it got so the host can compare.
 */
#include "cpu.h"
#include "io.h"
#include "ioapic.h"
#include "irq.h"
#include "lapic.h"
#include "printf.h"
#include "serial.h"
#include "test.h"

#define SERIAL_VECTOR		GSI_VECTOR(UART_IRQ)
#define UART_RBR		0
#define UART_IER_RDI		0x01
#define UART_LSR_DR		0x01
#define LINE_MAX		64
/* The host types after the prompt; allow it a few seconds. */
#define ECHO_TIMEOUT		(5 * TIMEOUT_CYCLES)

static char line[LINE_MAX + 1];
static unsigned int len, rx_irqs;
static bool done;

static void serial_rx_irq(struct irq_frame *frame)
{
	(void)frame;
	while (inb(UART_BASE + UART_LSR) & UART_LSR_DR) {
		char c = inb(UART_BASE + UART_RBR);

		if (c == '\n' || c == '\r' || len == LINE_MAX)
			WRITE_ONCE(done, true);
		else if (!done)
			line[len++] = c;
	}
	WRITE_ONCE(rx_irqs, rx_irqs + 1);
	lapic_eoi();
}

static int test_serial_echo(void)
{
	u8 mcr = inb(UART_BASE + UART_MCR);
	u64 deadline;

	len = 0;
	rx_irqs = 0;
	done = false;
	irq_register(SERIAL_VECTOR, serial_rx_irq);
	lapic_enable();
	ioapic_route(UART_IRQ, SERIAL_VECTOR, IOAPIC_EDGE | IOAPIC_ACTIVE_HIGH,
		     lapic_id());
	outb(mcr | UART_MCR_OUT2, UART_BASE + UART_MCR);
	outb(UART_IER_RDI, UART_BASE + UART_IER);

	printf("evvm-guest: serial-echo: type a line\n");
	deadline = tsc_deadline(ECHO_TIMEOUT);
	sti();
	while (!READ_ONCE(done) && !tsc_passed(deadline))
		cpu_relax(); /* no timer to wake a hlt: spin to honour the timeout */
	cli();

	outb(0, UART_BASE + UART_IER);
	outb(mcr, UART_BASE + UART_MCR);
	ioapic_mask(UART_IRQ);
	irq_register(SERIAL_VECTOR, NULL);

	if (!done)
		return test_fail("no complete line within the timeout (%u bytes, %u interrupts)",
				 len, rx_irqs);
	line[len] = '\0';
	printf("evvm-guest: serial-echo: got '%s' in %u interrupts\n", line, rx_irqs);
	return 0;
}
GUEST_TEST("serial-echo", test_serial_echo);
