// SPDX-License-Identifier: MIT
/*
 * The i8042's keyboard (vmm/i8042.c): SendCtrlAltDel's scan codes in the
 * set the guest reads, IRQ 1 pulses while the guest enables them, and the
 * acknowledgements Linux's atkbd needs to find a keyboard. Driven through
 * the port bus as a guest would; the interrupt line is a recording hook.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

#include "iobus.h"
#include "legacy.h"

#include <cmocka.h>

struct kbd {
	struct iobus pio;
	struct stop_hook stop;
	struct irq_hook irq;
	struct i8042 *kbc;
	unsigned int raises, lowers; /* on GSI 1 */
	int level;
	unsigned int other_gsi;
	int stopped;
};

static void rec_irq(void *opaque, unsigned int gsi, int level)
{
	struct kbd *k = opaque;

	if (gsi != 1) {
		k->other_gsi++;
		return;
	}
	if (level)
		k->raises++;
	else
		k->lowers++;
	k->level = level;
}

static void rec_stop(void *opaque, int status)
{
	struct kbd *k = opaque;

	k->stopped = status + 1;
}

static uint8_t in8(struct kbd *k, uint16_t port)
{
	uint8_t v = 0xee;

	assert_true(iobus_read(&k->pio, port, &v, 1));
	return v;
}

static void out8(struct kbd *k, uint16_t port, uint8_t v)
{
	assert_true(iobus_write(&k->pio, port, &v, 1));
}

static int setup(void **state)
{
	struct kbd *k = calloc(1, sizeof(*k));

	if (!k || iobus_init(&k->pio, "pio"))
		return -1;
	k->stop = (struct stop_hook){ rec_stop, k };
	k->irq = (struct irq_hook){ rec_irq, k };
	if (i8042_create(&k->pio, &k->stop, &k->irq, &k->kbc))
		return -1;
	*state = k;
	return 0;
}

static int teardown(void **state)
{
	struct kbd *k = *state;

	i8042_destroy(k->kbc);
	iobus_destroy(&k->pio);
	free(k);
	return 0;
}

/* Read every byte waiting at port 0x60 into @out; returns how many. */
static unsigned int drain(struct kbd *k, uint8_t *out, unsigned int max)
{
	unsigned int n = 0;

	while ((in8(k, 0x64) & 0x01) && n < max)
		out[n++] = in8(k, 0x60);
	return n;
}

/* As firmware leaves it (translation on): set 1 codes, one pulse per byte. */
static void test_ctrl_alt_del_set1(void **state)
{
	static const uint8_t want[] = { 0x1d, 0x38, 0xe0, 0x53 };
	struct kbd *k = *state;
	uint8_t got[16];

	assert_int_equal(i8042_ctrl_alt_del(k->kbc), 0);
	assert_int_equal(k->raises, 1);
	assert_int_equal(k->level, 0); /* a pulse: edge-triggered ISA line */
	assert_int_equal(drain(k, got, sizeof(got)), sizeof(want));
	assert_memory_equal(got, want, sizeof(want));
	/* One more pulse for each byte still waiting after a read. */
	assert_int_equal(k->raises, 4);
	assert_int_equal(k->lowers, 4);
	assert_int_equal(k->other_gsi, 0);
	assert_int_equal(k->stopped, 0);
}

/* Translation off (command byte bit 6 clear): set 2 codes, as Firecracker sends. */
static void test_ctrl_alt_del_set2(void **state)
{
	static const uint8_t want[] = { 0x14, 0x11, 0xe0, 0x71 };
	struct kbd *k = *state;
	uint8_t got[16];

	out8(k, 0x64, 0x60);
	out8(k, 0x60, 0x05); /* KBDINT | SYS, no XLATE */
	assert_int_equal(i8042_ctrl_alt_del(k->kbc), 0);
	assert_int_equal(drain(k, got, sizeof(got)), sizeof(want));
	assert_memory_equal(got, want, sizeof(want));
}

/* The keyboard interrupt off, or the keyboard disabled: the bytes wait, no pulse. */
static void test_ctrl_alt_del_irq_disabled(void **state)
{
	struct kbd *k = *state;
	uint8_t got[16];

	out8(k, 0x64, 0x60);
	out8(k, 0x60, 0x44); /* SYS | XLATE, no KBDINT */
	assert_int_equal(i8042_ctrl_alt_del(k->kbc), 0);
	assert_int_equal(drain(k, got, sizeof(got)), 4);
	assert_int_equal(k->raises, 0);
	out8(k, 0x64, 0x60);
	out8(k, 0x60, 0x55); /* KBDINT but KBDDIS */
	assert_int_equal(i8042_ctrl_alt_del(k->kbc), 0);
	assert_int_equal(k->raises, 0);
}

/* A guest that reads nothing: the buffer fills, then the keys are refused whole. */
static void test_ctrl_alt_del_full(void **state)
{
	struct kbd *k = *state;
	uint8_t got[32];

	for (int i = 0; i < 4; i++)
		assert_int_equal(i8042_ctrl_alt_del(k->kbc), 0);
	assert_int_equal(i8042_ctrl_alt_del(k->kbc), -ENOBUFS);
	assert_int_equal(drain(k, got, sizeof(got)), 16);
	assert_int_equal(got[15], 0x53);
	assert_int_equal(i8042_ctrl_alt_del(k->kbc), 0);
}

/* What Linux's atkbd sends finds a keyboard: ACKs, an MF2 id, a passed reset. */
static void test_keyboard_commands(void **state)
{
	struct kbd *k = *state;
	uint8_t got[8];

	out8(k, 0x60, 0xf2); /* identify */
	assert_int_equal(drain(k, got, sizeof(got)), 3);
	assert_int_equal(got[0], 0xfa);
	assert_int_equal(got[1], 0xab);
	assert_int_equal(got[2], 0x83);
	out8(k, 0x60, 0xed); /* set LEDs, then its argument */
	assert_int_equal(drain(k, got, sizeof(got)), 1);
	assert_int_equal(got[0], 0xfa);
	out8(k, 0x60, 0x00);
	assert_int_equal(drain(k, got, sizeof(got)), 1);
	assert_int_equal(got[0], 0xfa);
	out8(k, 0x60, 0xff); /* reset */
	assert_int_equal(drain(k, got, sizeof(got)), 2);
	assert_int_equal(got[0], 0xfa);
	assert_int_equal(got[1], 0xaa);
	assert_true(k->raises >= 4);
	/* Bytes for the (absent) mouse still go nowhere. */
	out8(k, 0x64, 0xd4);
	out8(k, 0x60, 0xf2);
	assert_int_equal(in8(k, 0x64) & 0x01, 0);
	assert_int_equal(k->stopped, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_ctrl_alt_del_set1, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctrl_alt_del_set2, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctrl_alt_del_irq_disabled, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ctrl_alt_del_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_keyboard_commands, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
