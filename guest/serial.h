/* The 16550 UART at COM1: the guest's console. */
#ifndef GUEST_SERIAL_H
#define GUEST_SERIAL_H

#include "layout.h"
#include "types.h"

#define UART_BASE		COM1_PORT
#define UART_IRQ		COM1_IRQ	/* ISA IRQ = IOAPIC pin */

#define UART_THR		0	/* transmit holding (write) */
#define UART_IER		1	/* interrupt enable */
#define UART_IIR		2	/* interrupt identification (read) */
#define UART_LCR		3
#define UART_MCR		4	/* modem control */
#define UART_LSR		5	/* line status */

#define UART_IER_THRI		0x02	/* interrupt when THR is empty */
#define UART_IIR_NO_INT		0x01
#define UART_IIR_ID		0x0e
#define UART_IIR_THRI		0x02
#define UART_MCR_OUT2		0x08	/* gates the IRQ line on PCs */
#define UART_LSR_THRE		0x20

/* Write one byte; "\n" is sent as is, with no "\r". */
void serial_putc(char c);
void serial_write(const char *s, size_t n);

#endif
