// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evvm/log.h>

#include "uart.h"

/* Register offsets (DLAB=0 unless noted). */
enum {
	UART_RBR_THR = 0, /* DLL when LCR.DLAB */
	UART_IER = 1,	  /* DLM when LCR.DLAB */
	UART_IIR_FCR = 2,
	UART_LCR = 3,
	UART_MCR = 4,
	UART_LSR = 5,
	UART_MSR = 6,
	UART_SCR = 7,
};

#define IER_RDI	     0x01 /* receive data available */
#define IER_THRI     0x02 /* transmit holding register empty */
#define IER_RLSI     0x04 /* receiver line status */
#define IER_MSI	     0x08 /* modem status */

#define IIR_NO_INT   0x01
#define IIR_MSI	     0x00
#define IIR_THRI     0x02
#define IIR_RDI	     0x04
#define IIR_FIFO     0xc0

#define FCR_ENABLE   0x01
#define FCR_CLEAR_RX 0x02

#define LCR_DLAB     0x80

#define MCR_DTR	     0x01
#define MCR_RTS	     0x02
#define MCR_OUT1     0x04
#define MCR_OUT2     0x08
#define MCR_LOOP     0x10

#define LSR_DR	     0x01
#define LSR_THRE     0x20
#define LSR_TEMT     0x40

#define MSR_CTS	     0x10
#define MSR_DSR	     0x20
#define MSR_RI	     0x40
#define MSR_DCD	     0x80

#define RX_FIFO	     16

struct uart {
	struct uart_config cfg;
	pthread_mutex_t lock;
	struct uart_counters counters; /* under @lock */
	uint8_t ier, lcr, mcr, scr, fcr, msr;
	uint16_t divisor;
	bool thr_int;	  /* THRE interrupt pending (cleared by an IIR read) */
	bool msr_changed; /* MSR delta bits pending */
	uint8_t rx[RX_FIFO];
	unsigned int rx_head, rx_count;
	bool rx_was_full;
	int irq_level;
	bool out_broken; /* output fd failed: said once, then discard */
};

int uart_create(const struct uart_config *cfg, struct uart **out)
{
	struct uart *u = calloc(1, sizeof(*u));

	if (!u)
		return -ENOMEM;
	u->cfg = *cfg;
	if (pthread_mutex_init(&u->lock, NULL)) {
		free(u);
		return -ENOMEM;
	}
	u->divisor = 12; /* 9600 baud, what firmware leaves */
	u->msr = MSR_DCD | MSR_DSR | MSR_CTS;
	*out = u;
	return 0;
}

void uart_destroy(struct uart *u)
{
	if (!u)
		return;
	pthread_mutex_destroy(&u->lock);
	free(u);
}

/* Highest-priority pending interrupt, as IIR reports it. */
static uint8_t uart_iir(const struct uart *u)
{
	if ((u->ier & IER_RDI) && u->rx_count)
		return IIR_RDI;
	if ((u->ier & IER_THRI) && u->thr_int)
		return IIR_THRI;
	if ((u->ier & IER_MSI) && u->msr_changed)
		return IIR_MSI;
	return IIR_NO_INT;
}

static void uart_update_irq(struct uart *u)
{
	int level = uart_iir(u) != IIR_NO_INT && (u->mcr & MCR_OUT2);

	if (level != u->irq_level) {
		u->irq_level = level;
		if (u->cfg.set_irq)
			u->cfg.set_irq(u->cfg.opaque, level);
	}
}

static void uart_rx_push(struct uart *u, uint8_t c)
{
	if (u->rx_count == RX_FIFO)
		return; /* overrun: only reachable in loopback mode */
	u->rx[(u->rx_head + u->rx_count) % RX_FIFO] = c;
	u->rx_count++;
}

static void uart_transmit(struct uart *u, uint8_t c)
{
	if (u->mcr & MCR_LOOP) {
		uart_rx_push(u, c);
		return;
	}
	if (u->cfg.out_fd < 0 || u->out_broken)
		return;
	while (write(u->cfg.out_fd, &c, 1) < 0) {
		if (errno == EINTR)
			continue;
		pr_warn("%s: output: %s; further guest output is discarded", u->cfg.name,
			evvm_strerror(errno));
		u->counters.error_count++;
		u->out_broken = true;
		return;
	}
}

static uint8_t uart_read_reg(struct uart *u, unsigned int reg, bool *rx_ready)
{
	uint8_t v = 0;

	switch (reg) {
	case UART_RBR_THR:
		if (u->lcr & LCR_DLAB)
			return u->divisor & 0xff;
		if (u->rx_count) {
			v = u->rx[u->rx_head];
			u->rx_head = (u->rx_head + 1) % RX_FIFO;
			u->rx_count--;
			if (u->rx_was_full) {
				u->rx_was_full = false;
				*rx_ready = true;
			}
		}
		return v;
	case UART_IER:
		if (u->lcr & LCR_DLAB)
			return u->divisor >> 8;
		return u->ier;
	case UART_IIR_FCR:
		v = uart_iir(u);
		/* Reading IIR acknowledges a THRE interrupt it reports. */
		if (v == IIR_THRI)
			u->thr_int = false;
		return v | ((u->fcr & FCR_ENABLE) ? IIR_FIFO : 0);
	case UART_LCR:
		return u->lcr;
	case UART_MCR:
		return u->mcr;
	case UART_LSR:
		return LSR_THRE | LSR_TEMT | (u->rx_count ? LSR_DR : 0);
	case UART_MSR:
		if (u->mcr & MCR_LOOP) {
			/* Loopback wires DTR->DSR, RTS->CTS, OUT1->RI, OUT2->DCD. */
			v = ((u->mcr & MCR_DTR) ? MSR_DSR : 0) |
			    ((u->mcr & MCR_RTS) ? MSR_CTS : 0) |
			    ((u->mcr & MCR_OUT1) ? MSR_RI : 0) |
			    ((u->mcr & MCR_OUT2) ? MSR_DCD : 0);
		} else {
			v = u->msr;
		}
		u->msr_changed = false;
		return v;
	case UART_SCR:
		return u->scr;
	}
	return 0xff;
}

static void uart_write_reg(struct uart *u, unsigned int reg, uint8_t v, bool *rx_ready)
{
	switch (reg) {
	case UART_RBR_THR:
		if (u->lcr & LCR_DLAB) {
			u->divisor = (u->divisor & 0xff00) | v;
			return;
		}
		uart_transmit(u, v);
		/* Sent at once: THR is empty again. */
		u->thr_int = true;
		return;
	case UART_IER:
		if (u->lcr & LCR_DLAB) {
			u->divisor = (u->divisor & 0xff) | (v << 8);
			return;
		}
		/* Enabling THRI with THR empty raises it at once. */
		if (!(u->ier & IER_THRI) && (v & IER_THRI))
			u->thr_int = true;
		u->ier = v & 0x0f;
		return;
	case UART_IIR_FCR:
		u->fcr = v & FCR_ENABLE;
		if (v & FCR_CLEAR_RX)
			u->rx_count = 0;
		return;
	case UART_LCR:
		u->lcr = v;
		return;
	case UART_MCR:
		/* Leaving loopback reconnects the input. */
		if ((u->mcr & MCR_LOOP) && !(v & MCR_LOOP) && u->rx_was_full) {
			u->rx_was_full = false;
			*rx_ready = true;
		}
		u->mcr = v & 0x1f;
		return;
	case UART_SCR:
		u->scr = v;
		return;
	}
	/* LSR and MSR are read-only. */
}

static void uart_io_read(void *opaque, uint64_t offset, void *data, unsigned int len)
{
	struct uart *u = opaque;
	bool rx_ready = false;
	uint8_t *out = data;

	pthread_mutex_lock(&u->lock);
	u->counters.read_count++;
	/* A wider access reads consecutive registers, like the bus would. */
	for (unsigned int i = 0; i < len; i++)
		out[i] = offset + i < 8 ? uart_read_reg(u, offset + i, &rx_ready) : 0xff;
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	if (rx_ready && u->cfg.rx_ready)
		u->cfg.rx_ready(u->cfg.opaque);
}

static void uart_io_write(void *opaque, uint64_t offset, const void *data, unsigned int len)
{
	struct uart *u = opaque;
	const uint8_t *in = data;
	bool rx_ready = false;

	pthread_mutex_lock(&u->lock);
	u->counters.write_count++;
	for (unsigned int i = 0; i < len && offset + i < 8; i++)
		uart_write_reg(u, offset + i, in[i], &rx_ready);
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	if (rx_ready && u->cfg.rx_ready)
		u->cfg.rx_ready(u->cfg.opaque);
}

const struct iobus_ops uart_iobus_ops = {
	.read = uart_io_read,
	.write = uart_io_write,
};

size_t uart_receive(struct uart *u, const uint8_t *buf, size_t len)
{
	size_t n = 0;

	pthread_mutex_lock(&u->lock);
	/* In loopback mode the line is disconnected: take nothing. */
	while (!(u->mcr & MCR_LOOP) && n < len && u->rx_count < RX_FIFO)
		uart_rx_push(u, buf[n++]);
	if (n < len)
		u->rx_was_full = true;
	uart_update_irq(u);
	pthread_mutex_unlock(&u->lock);
	return n;
}

size_t uart_rx_space(struct uart *u)
{
	size_t n;

	pthread_mutex_lock(&u->lock);
	n = (u->mcr & MCR_LOOP) ? 0 : RX_FIFO - u->rx_count;
	/* The caller will wait: tell it when there is room. */
	if (n == 0)
		u->rx_was_full = true;
	pthread_mutex_unlock(&u->lock);
	return n;
}

void uart_get_counters(struct uart *u, struct uart_counters *c)
{
	pthread_mutex_lock(&u->lock);
	*c = u->counters;
	pthread_mutex_unlock(&u->lock);
}

_Static_assert(sizeof(((struct uart_state *)0)->rx) == RX_FIFO, "the snapshot holds the FIFO");

void uart_save(struct uart *u, struct uart_state *st)
{
	pthread_mutex_lock(&u->lock);
	*st = (struct uart_state){
		.ier = u->ier,
		.lcr = u->lcr,
		.mcr = u->mcr,
		.scr = u->scr,
		.fcr = u->fcr,
		.msr = u->msr,
		.divisor = u->divisor,
		.thr_int = u->thr_int,
		.msr_changed = u->msr_changed,
		.rx_was_full = u->rx_was_full,
		.rx_count = u->rx_count,
		.rx_head = u->rx_head,
	};
	memcpy(st->rx, u->rx, RX_FIFO);
	pthread_mutex_unlock(&u->lock);
}

int uart_restore(struct uart *u, const struct uart_state *st)
{
	if (st->rx_count > RX_FIFO || st->rx_head >= RX_FIFO)
		return -EINVAL;
	pthread_mutex_lock(&u->lock);
	u->ier = st->ier;
	u->lcr = st->lcr;
	u->mcr = st->mcr;
	u->scr = st->scr;
	u->fcr = st->fcr;
	u->msr = st->msr;
	u->divisor = st->divisor;
	u->thr_int = st->thr_int;
	u->msr_changed = st->msr_changed;
	u->rx_was_full = st->rx_was_full;
	u->rx_count = st->rx_count;
	u->rx_head = st->rx_head;
	memcpy(u->rx, st->rx, RX_FIFO);
	/* The line's level lives in the restored irqchip; only our copy follows it. */
	u->irq_level = uart_iir(u) != IIR_NO_INT && (u->mcr & MCR_OUT2);
	pthread_mutex_unlock(&u->lock);
	return 0;
}
