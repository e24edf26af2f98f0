/* Polled UART output: one LSR read and one THR write per byte. */
#include "serial.h"
#include "cpu.h"
#include "io.h"

/* After this long without THRE the byte is dropped rather than hang. */
#define UART_TIMEOUT_CYCLES	(100 * TSC_PER_MS)

void serial_putc(char c)
{
	u64 deadline;

	if (!(inb(UART_BASE + UART_LSR) & UART_LSR_THRE)) {
		deadline = tsc_deadline(UART_TIMEOUT_CYCLES);
		while (!(inb(UART_BASE + UART_LSR) & UART_LSR_THRE))
			if (tsc_passed(deadline))
				return;
	}
	outb(c, UART_BASE + UART_THR);
}

void serial_write(const char *s, size_t n)
{
	while (n--)
		serial_putc(*s++);
}
