/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_UART_H
#define EVVM_VMM_UART_H

#include <stddef.h>
#include <stdint.h>

#include "iobus.h"

/*
 * A 16550A UART. Transmitted bytes are written to an fd at once (so THR is
 * always empty); received bytes come from uart_receive() into a 16-byte
 * FIFO. The interrupt output follows the 16550's pending state gated by
 * MCR.OUT2, as on a PC.
 */

struct uart;

struct uart_config {
	const char *name; /* "com1" */
	int out_fd;	  /* where the guest's output goes, -1 to discard; not owned */
	/* Drive the interrupt line (0 or 1); called with the UART's lock held. */
	void (*set_irq)(void *opaque, int level);
	/* The receive FIFO has room again after being full. */
	void (*rx_ready)(void *opaque);
	void *opaque;
};

int uart_create(const struct uart_config *cfg, struct uart **out);
void uart_destroy(struct uart *uart);

/* The 8 registers as io bus handlers; opaque is the struct uart. */
extern const struct iobus_ops uart_iobus_ops;

/*
 * Queue received bytes. Returns how many were taken (0 when the FIFO is
 * full; rx_ready is called once there is room again).
 */
size_t uart_receive(struct uart *uart, const uint8_t *buf, size_t len);

/* Bytes the receive FIFO can take now. */
size_t uart_rx_space(struct uart *uart);

/* Register accesses, and output failures, over the UART's life (Firecracker's names). */
struct uart_counters {
	uint64_t read_count, write_count, error_count;
};
void uart_get_counters(struct uart *uart, struct uart_counters *c);

/* The guest-visible registers and receive FIFO, as the snapshot stores them. */
struct uart_state {
	uint8_t ier, lcr, mcr, scr, fcr, msr;
	uint16_t divisor;
	uint8_t thr_int, msr_changed, rx_was_full, rx_count, rx_head;
	uint8_t pad[3];
	uint8_t rx[16];
};

/* Fill *@st from @uart (the VM paused). */
void uart_save(struct uart *uart, struct uart_state *st);

/*
 * Load *@st (from a file: checked) into @uart and raise its interrupt line
 * if the state says it is pending. 0, or -EINVAL for a FIFO out of range.
 */
int uart_restore(struct uart *uart, const struct uart_state *st);

#endif
