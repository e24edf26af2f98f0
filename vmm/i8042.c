// SPDX-License-Identifier: MIT
/*
 * A minimal i8042 keyboard controller, for what a Linux guest without ACPI
 * uses it for: the reset line. `reboot=k` (and Linux's default reboot,
 * which tries the controller after ACPI) writes command 0xfe to port 0x64
 * once port 0x64 says the input buffer is empty; evvm then ends the VM with
 * status 0.
 *
 * Enough of the controller is there for Linux's i8042 driver to probe it
 * without hanging: the status register (0x14, or 0x1c after a command),
 * the command byte (0x20/0x60), the self tests (0xaa -> 0x55, 0xab -> 0),
 * port enable/disable bits and the output port. No mouse is attached:
 * bytes for it are dropped and Linux finds no AUX port after one 0.5 s
 * timeout (i8042.noaux skips it); see docs/boot.md.
 *
 * The keyboard is a dumb one, there for Ctrl+Alt+Del (Firecracker's
 * SendCtrlAltDel, which a Linux guest turns into a reboot): it acknowledges
 * every command (0xfa), answers "identify" as an MF2 keyboard and "reset"
 * with a passed self test, and types only what i8042_ctrl_alt_del() gives
 * it. Its bytes raise IRQ 1 (a pulse per byte) while the command byte
 * enables the keyboard interrupt.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <evvm/log.h>

#include "legacy.h"

#define I8042_DATA_PORT 0x60
#define I8042_CMD_PORT	0x64

/* Status register. */
#define STR_OBF	    0x01 /* output buffer full: port 0x60 has a byte */
#define STR_IBF	    0x02 /* input buffer full: never, evvm takes bytes at once */
#define STR_SYS	    0x04 /* system flag: self test passed */
#define STR_CMD	    0x08 /* the last byte written went to port 0x64 */
#define STR_KEYLOCK 0x10 /* 1 = keyboard not inhibited */

/* Command byte (CTR). */
#define CTR_KBDINT 0x01
#define CTR_SYS	   0x04
#define CTR_KBDDIS 0x10
#define CTR_AUXDIS 0x20
#define CTR_XLATE  0x40

/* Output port. */
#define OUTPORT_RESET 0x01 /* 0 = the reset line is asserted */
#define OUTPORT_A20   0x02

#define OUT_MAX	      16

#define I8042_KBD_IRQ 1

/* The keyboard's answers. */
#define KBD_ACK	      0xfa
#define KBD_BAT_OK    0xaa /* self test passed, after a reset */
#define KBD_ID_MF2_1  0xab
#define KBD_ID_MF2_2  0x83
#define KBD_CMD_ID    0xf2
#define KBD_CMD_RESET 0xff

/* Ctrl, Alt, Del pressed, in scan code set 2 and (translated) set 1. */
static const uint8_t cad_set2[] = { 0x14, 0x11, 0xe0, 0x71 };
static const uint8_t cad_set1[] = { 0x1d, 0x38, 0xe0, 0x53 };

struct i8042 {
	const struct stop_hook *stop;
	const struct irq_hook *irq;
	pthread_mutex_t lock;
	uint8_t status;
	uint8_t ctr;
	uint8_t outport;
	uint8_t pending; /* a command whose data byte comes next on port 0x60, or 0 */
	uint8_t out[OUT_MAX];
	unsigned int out_len;
	uint8_t last; /* what port 0x60 reads when the buffer is empty */
};

static void kbc_push(struct i8042 *kbc, uint8_t byte)
{
	if (kbc->out_len < OUT_MAX)
		kbc->out[kbc->out_len++] = byte;
}

/* A keyboard byte waits: an edge on IRQ 1 if the guest enabled it. */
static void kbd_interrupt(struct i8042 *kbc)
{
	if (!kbc->irq || !kbc->irq->set_irq || !(kbc->ctr & CTR_KBDINT) || (kbc->ctr & CTR_KBDDIS))
		return;
	kbc->irq->set_irq(kbc->irq->opaque, I8042_KBD_IRQ, 1);
	kbc->irq->set_irq(kbc->irq->opaque, I8042_KBD_IRQ, 0);
}

/* A byte the guest sent to the keyboard: a command it acknowledges. */
static void kbd_command(struct i8042 *kbc, uint8_t byte)
{
	/* What it had not read yet is gone, as a real keyboard's answer replaces it. */
	kbc->out_len = 0;
	kbc_push(kbc, KBD_ACK);
	if (byte == KBD_CMD_ID) {
		kbc_push(kbc, KBD_ID_MF2_1);
		kbc_push(kbc, KBD_ID_MF2_2);
	} else if (byte == KBD_CMD_RESET) {
		kbc_push(kbc, KBD_BAT_OK);
	}
	kbd_interrupt(kbc);
}

/* The CPU's reset line was pulled: a guest reboot ends the VM. */
static void kbc_reset(struct i8042 *kbc, uint8_t how)
{
	pr_info("guest reboot (i8042 reset, command 0x%02x)", how);
	kbc->stop->stop(kbc->stop->opaque, 0);
}

static void kbc_command(struct i8042 *kbc, uint8_t cmd)
{
	kbc->pending = 0;
	switch (cmd) {
	case 0x20: /* read the command byte */
		kbc_push(kbc, kbc->ctr);
		break;
	case 0x60: /* write the command byte */
	case 0xd1: /* write the output port */
	case 0xd2: /* write the keyboard output buffer */
	case 0xd3: /* write the mouse output buffer (no mouse: dropped) */
	case 0xd4: /* write to the mouse (no mouse: dropped) */
		kbc->pending = cmd;
		break;
	case 0xa7:
		kbc->ctr |= CTR_AUXDIS;
		break;
	case 0xa8:
		kbc->ctr &= ~CTR_AUXDIS;
		break;
	case 0xa9: /* mouse interface test: 01 = clock line stuck low, i.e. none */
		kbc_push(kbc, 0x01);
		break;
	case 0xaa: /* controller self test */
		kbc->status |= STR_SYS;
		kbc_push(kbc, 0x55);
		break;
	case 0xab: /* keyboard interface test: no error */
		kbc_push(kbc, 0x00);
		break;
	case 0xad:
		kbc->ctr |= CTR_KBDDIS;
		break;
	case 0xae:
		kbc->ctr &= ~CTR_KBDDIS;
		break;
	case 0xd0: /* read the output port */
		kbc_push(kbc, kbc->outport);
		break;
	case 0xdd:
		kbc->outport &= ~OUTPORT_A20;
		break;
	case 0xdf:
		kbc->outport |= OUTPORT_A20;
		break;
	default:
		/* 0xf0-0xff pulse output lines whose bit is 0; line 0 is reset (0xfe). */
		if ((cmd & 0xf0) == 0xf0 && !(cmd & OUTPORT_RESET))
			kbc_reset(kbc, cmd);
		break;
	}
}

static void kbc_data(struct i8042 *kbc, uint8_t byte)
{
	uint8_t cmd = kbc->pending;

	kbc->pending = 0;
	switch (cmd) {
	case 0x60:
		kbc->ctr = byte;
		/* The system flag of the command byte shows in the status register. */
		kbc->status = (kbc->status & ~STR_SYS) | (byte & CTR_SYS);
		break;
	case 0xd1:
		kbc->outport = byte;
		if (!(byte & OUTPORT_RESET))
			kbc_reset(kbc, 0xd1);
		break;
	case 0xd2:
		kbc_push(kbc, byte);
		break;
	case 0xd3:
	case 0xd4:
		break; /* no mouse */
	default:
		kbd_command(kbc, byte);
		break;
	}
}

/* Port 0x60: the output buffer (reads) and data bytes (writes). */
static void i8042_data_read(void *opaque, uint64_t offset, void *data, unsigned int len)
{
	struct i8042 *kbc = opaque;

	(void)offset;
	pthread_mutex_lock(&kbc->lock);
	if (kbc->out_len) {
		kbc->last = kbc->out[0];
		memmove(kbc->out, kbc->out + 1, --kbc->out_len);
		/* One interrupt per byte: the next one gets its own. */
		if (kbc->out_len)
			kbd_interrupt(kbc);
	}
	memset(data, 0, len);
	*(uint8_t *)data = kbc->last;
	pthread_mutex_unlock(&kbc->lock);
}

static void i8042_data_write(void *opaque, uint64_t offset, const void *data, unsigned int len)
{
	struct i8042 *kbc = opaque;

	(void)offset;
	(void)len;
	pthread_mutex_lock(&kbc->lock);
	kbc->status &= ~STR_CMD;
	kbc_data(kbc, *(const uint8_t *)data);
	pthread_mutex_unlock(&kbc->lock);
}

/* Port 0x64: the status register (reads) and commands (writes). */
static void i8042_cmd_read(void *opaque, uint64_t offset, void *data, unsigned int len)
{
	struct i8042 *kbc = opaque;

	(void)offset;
	pthread_mutex_lock(&kbc->lock);
	memset(data, 0, len);
	*(uint8_t *)data = kbc->status | (kbc->out_len ? STR_OBF : 0);
	pthread_mutex_unlock(&kbc->lock);
}

static void i8042_cmd_write(void *opaque, uint64_t offset, const void *data, unsigned int len)
{
	struct i8042 *kbc = opaque;

	(void)offset;
	(void)len;
	pthread_mutex_lock(&kbc->lock);
	kbc->status |= STR_CMD;
	kbc_command(kbc, *(const uint8_t *)data);
	pthread_mutex_unlock(&kbc->lock);
}

static const struct iobus_ops i8042_data_ops = {
	.read = i8042_data_read,
	.write = i8042_data_write,
};

static const struct iobus_ops i8042_cmd_ops = {
	.read = i8042_cmd_read,
	.write = i8042_cmd_write,
};

int i8042_ctrl_alt_del(struct i8042 *kbc)
{
	const uint8_t *keys;
	int err = 0;

	pthread_mutex_lock(&kbc->lock);
	/* The controller translates set 2 into set 1 while the guest keeps XLATE set. */
	keys = (kbc->ctr & CTR_XLATE) ? cad_set1 : cad_set2;
	if (kbc->out_len + sizeof(cad_set1) > OUT_MAX) {
		err = -ENOBUFS;
	} else {
		for (size_t i = 0; i < sizeof(cad_set1); i++)
			kbc_push(kbc, keys[i]);
		kbd_interrupt(kbc);
	}
	pthread_mutex_unlock(&kbc->lock);
	return err;
}

int i8042_create(struct iobus *pio, const struct stop_hook *stop, const struct irq_hook *irq,
		 struct i8042 **out)
{
	struct i8042 *kbc = calloc(1, sizeof(*kbc));
	int err;

	if (!kbc)
		return -ENOMEM;
	kbc->stop = stop;
	kbc->irq = irq;
	pthread_mutex_init(&kbc->lock, NULL);
	/* As firmware leaves it: POST passed, keyboard enabled and translated. */
	kbc->status = STR_SYS | STR_KEYLOCK;
	kbc->ctr = CTR_KBDINT | CTR_SYS | CTR_AUXDIS | CTR_XLATE;
	kbc->outport = OUTPORT_RESET | OUTPORT_A20;

	err = iobus_register(pio, I8042_DATA_PORT, 1, &i8042_data_ops, kbc, "i8042");
	if (!err) {
		err = iobus_register(pio, I8042_CMD_PORT, 1, &i8042_cmd_ops, kbc, "i8042");
		if (err)
			iobus_unregister(pio, I8042_DATA_PORT);
	}
	if (err) {
		pthread_mutex_destroy(&kbc->lock);
		free(kbc);
		return err;
	}
	*out = kbc;
	return 0;
}

void i8042_destroy(struct i8042 *kbc)
{
	if (!kbc)
		return;
	/* The io bus goes with the VM; no vCPU runs any more. */
	pthread_mutex_destroy(&kbc->lock);
	free(kbc);
}

_Static_assert(sizeof(((struct i8042_state *)0)->out) >= OUT_MAX, "the snapshot holds the buffer");

void i8042_save(struct i8042 *kbc, struct i8042_state *st)
{
	pthread_mutex_lock(&kbc->lock);
	*st = (struct i8042_state){
		.status = kbc->status,
		.ctr = kbc->ctr,
		.outport = kbc->outport,
		.pending = kbc->pending,
		.last = kbc->last,
		.out_len = kbc->out_len,
	};
	memcpy(st->out, kbc->out, kbc->out_len);
	pthread_mutex_unlock(&kbc->lock);
}

int i8042_restore(struct i8042 *kbc, const struct i8042_state *st)
{
	if (st->out_len > OUT_MAX)
		return -EINVAL;
	pthread_mutex_lock(&kbc->lock);
	kbc->status = st->status;
	kbc->ctr = st->ctr;
	kbc->outport = st->outport;
	kbc->pending = st->pending;
	kbc->last = st->last;
	kbc->out_len = st->out_len;
	memcpy(kbc->out, st->out, st->out_len);
	pthread_mutex_unlock(&kbc->lock);
	return 0;
}
