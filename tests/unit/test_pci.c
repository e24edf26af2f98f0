// SPDX-License-Identifier: MIT
/*
 * The PCI root complex (vmm/pci.c) driven through the io buses, as a guest
 * drives it: 0xcf8/0xcfc and ECAM decode to the same registers, BARs size
 * and move, and hostile accesses (no function, bad sizes, misaligned, past
 * config space, BARs onto RAM, ECAM or each other) do nothing harmful.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <evvm/log.h>

#include "pci.h"

struct fake {
	struct pci_func f;
	unsigned int reads, writes, maps;
	uint64_t last_off, mapped[PCI_BARS];
	unsigned int cfg_writes;
};

static void fake_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct fake *d = opaque;

	d->reads++;
	d->last_off = off;
	memset(data, 0x5a, len);
}

static void fake_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct fake *d = opaque;

	(void)data;
	(void)len;
	d->writes++;
	d->last_off = off;
}

static void fake_bar_map(void *opaque, unsigned int bar, uint64_t base)
{
	struct fake *d = opaque;

	d->maps++;
	d->mapped[bar] = base;
}

static void fake_cfg_write(void *opaque, uint32_t off, const void *data, unsigned int len)
{
	struct fake *d = opaque;

	(void)off;
	(void)data;
	(void)len;
	d->cfg_writes++;
}

static const struct iobus_ops fake_bar_ops = { .read = fake_read, .write = fake_write };
static const struct pci_func_ops fake_ops = { .cfg_write = fake_cfg_write,
					      .bar_map = fake_bar_map };

struct fixture {
	struct iobus pio, mmio;
	struct pci_bus bus;
	struct fake a, b;
};

static void fake_init(struct fake *d, uint32_t bar0)
{
	memset(d, 0, sizeof(*d));
	pci_func_init(&d->f, 0x1af4, 0x1042, 0x010000, true, &fake_ops, d, "fake");
	assert_int_equal(pci_func_bar(&d->f, 0, 0x4000, bar0, &fake_bar_ops), 0);
	for (unsigned int i = 0; i < PCI_BARS; i++)
		d->mapped[i] = PCI_BAR_UNMAPPED;
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	evvm_log_set_level(EVVM_LOG_ERR); /* the hostile cases warn */
	assert_non_null(f);
	assert_int_equal(iobus_init(&f->pio, "pio"), 0);
	assert_int_equal(iobus_init(&f->mmio, "mmio"), 0);
	assert_int_equal(pci_bus_init(&f->bus, &f->pio, &f->mmio), 0);
	fake_init(&f->a, PCI_MMIO_BASE);
	fake_init(&f->b, PCI_MMIO_BASE + 0x4000);
	assert_int_equal(pci_func_add(&f->bus, &f->a.f), 1);
	assert_int_equal(pci_func_add(&f->bus, &f->b.f), 2);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	pci_func_remove(&f->bus, &f->a.f);
	pci_func_remove(&f->bus, &f->b.f);
	pci_bus_destroy(&f->bus);
	iobus_destroy(&f->mmio);
	iobus_destroy(&f->pio);
	free(f);
	return 0;
}

static uint32_t cf8_read(struct fixture *f, unsigned int dev, uint32_t reg, unsigned int len)
{
	uint32_t a = 0x80000000u | dev << 11 | (reg & 0xfc), v = 0;

	assert_true(iobus_write(&f->pio, 0xcf8, &a, 4));
	assert_true(iobus_read(&f->pio, 0xcfc + (reg & 3), &v, len));
	return v;
}

static void cf8_write(struct fixture *f, unsigned int dev, uint32_t reg, uint32_t v,
		      unsigned int len)
{
	uint32_t a = 0x80000000u | dev << 11 | (reg & 0xfc);

	assert_true(iobus_write(&f->pio, 0xcf8, &a, 4));
	assert_true(iobus_write(&f->pio, 0xcfc + (reg & 3), &v, len));
}

static uint64_t ecam(unsigned int dev, unsigned int fn, uint32_t reg)
{
	return PCI_ECAM_BASE + (dev << 15) + (fn << 12) + reg;
}

static uint32_t ecam_read(struct fixture *f, unsigned int dev, uint32_t reg, unsigned int len)
{
	uint32_t v = 0;

	assert_true(iobus_read(&f->mmio, ecam(dev, 0, reg), &v, len));
	return v;
}

static void ecam_write(struct fixture *f, unsigned int dev, uint32_t reg, uint32_t v,
		       unsigned int len)
{
	assert_true(iobus_write(&f->mmio, ecam(dev, 0, reg), &v, len));
}

static void test_host_bridge_both_ways(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(cf8_read(f, 0, PCI_VENDOR_ID, 4), 0x00081b36);
	assert_int_equal(ecam_read(f, 0, PCI_VENDOR_ID, 4), 0x00081b36);
	assert_int_equal(cf8_read(f, 0, PCI_REVISION, 4) >> 8, 0x060000);
	assert_int_equal(ecam_read(f, 0, PCI_HEADER_TYPE, 1), 0);
	/* Byte and word reads at every lane of the data port. */
	assert_int_equal(cf8_read(f, 0, 1, 1), 0x1b);
	assert_int_equal(cf8_read(f, 0, 2, 2), 0x0008);
	assert_int_equal(cf8_read(f, 1, 3, 1), 0x10);
	/* The latch reads back; reserved bits are zero. */
	uint32_t a = 0x8000fffe, v;
	assert_true(iobus_write(&f->pio, 0xcf8, &a, 4));
	assert_true(iobus_read(&f->pio, 0xcf8, &v, 4));
	assert_int_equal(v, 0x8000fffc);
}

static void test_absent_functions_read_ones(void **state)
{
	struct fixture *f = *state;
	static const unsigned int lens[] = { 1, 2, 4 };
	uint64_t q = 0;
	uint32_t a = 0x00000000, v;

	for (unsigned int i = 0; i < 3; i++) {
		unsigned int len = lens[i];
		uint32_t ones = len == 4 ? 0xffffffff : (1u << (8 * len)) - 1;

		assert_int_equal(cf8_read(f, 7, 0, len), ones);	  /* no device */
		assert_int_equal(ecam_read(f, 31, 0, len), ones); /* no device */
		v = 0;
		assert_true(iobus_read(&f->mmio, ecam(1, 3, 0), &v, len)); /* no function 3 */
		assert_int_equal(v, ones);
		/* Past 0xff of a device that exists: extended space, zero. */
		assert_int_equal(ecam_read(f, 1, 0x100, len), 0);
		assert_int_equal(ecam_read(f, 1, 0xffc, len), 0);
		/* Writes there go nowhere. */
		ecam_write(f, 7, PCI_COMMAND, 0xffff, len);
		ecam_write(f, 1, 0x200, 0xffffffff, len);
	}
	/* Misaligned and 8-byte accesses read as all-ones and write nothing. */
	assert_int_equal(ecam_read(f, 1, 1, 2), 0xffff);
	assert_int_equal(ecam_read(f, 1, 2, 4), 0xffffffff);
	assert_int_equal(cf8_read(f, 1, 1, 2), 0xffff);
	assert_true(iobus_read(&f->mmio, ecam(1, 0, 0), &q, 8));
	assert_int_equal(q, UINT64_MAX);
	q = 0;
	assert_true(iobus_write(&f->mmio, ecam(1, 0, PCI_COMMAND), &q, 8));
	/* Config disabled in the latch: all-ones. */
	assert_true(iobus_write(&f->pio, 0xcf8, &a, 4));
	assert_true(iobus_read(&f->pio, 0xcfc, &v, 4));
	assert_int_equal(v, 0xffffffff);
	/* A byte access to 0xcf8 is not the latch. */
	v = 0;
	assert_true(iobus_read(&f->pio, 0xcf8, &v, 1));
	assert_int_equal(v, 0xff);
	assert_int_equal(f->a.cfg_writes, 0);
	assert_int_equal(ecam_read(f, 1, PCI_COMMAND, 2), 0);
}

static void test_read_only_fields(void **state)
{
	struct fixture *f = *state;

	ecam_write(f, 1, PCI_VENDOR_ID, 0x12345678, 4);
	cf8_write(f, 1, PCI_HEADER_TYPE, 0xff, 1);
	ecam_write(f, 1, PCI_COMMAND, 0xffffffff, 4);
	assert_int_equal(ecam_read(f, 1, PCI_VENDOR_ID, 4), 0x10421af4);
	assert_int_equal(ecam_read(f, 1, PCI_HEADER_TYPE, 1), 0);
	assert_int_equal(ecam_read(f, 1, PCI_COMMAND, 2),
			 PCI_COMMAND_MEM | PCI_COMMAND_MASTER | PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(ecam_read(f, 1, PCI_INT_PIN, 1), 1);
	assert_int_equal(f->a.cfg_writes, 3);
}

static void test_bar_sizing_and_decode(void **state)
{
	struct fixture *f = *state;
	uint32_t v;

	/* Sizing, as every OS does it: all-ones, read back, restore. */
	ecam_write(f, 1, PCI_BAR0, 0xffffffff, 4);
	assert_int_equal(ecam_read(f, 1, PCI_BAR0, 4), 0xffffc000);
	assert_int_equal(ecam_read(f, 1, PCI_BAR0 + 4, 4), 0); /* BAR1 not implemented */
	ecam_write(f, 1, PCI_BAR0, PCI_MMIO_BASE, 4);
	assert_int_equal(ecam_read(f, 1, PCI_BAR0, 4), PCI_MMIO_BASE);

	/* Not decoded until Memory Space Enable. */
	assert_true(iobus_read(&f->mmio, PCI_MMIO_BASE + 8, &v, 4));
	assert_int_equal(v, 0xffffffff);
	assert_int_equal(f->a.reads, 0);
	ecam_write(f, 1, PCI_COMMAND, PCI_COMMAND_MEM, 2);
	assert_int_equal(f->a.mapped[0], PCI_MMIO_BASE);
	assert_true(iobus_read(&f->mmio, PCI_MMIO_BASE + 8, &v, 4));
	assert_int_equal(v, 0x5a5a5a5a);
	assert_int_equal(f->a.last_off, 8);
	/* An access crossing the BAR's end belongs to nobody. */
	assert_true(iobus_write(&f->mmio, PCI_MMIO_BASE + 0x3ffe, &v, 4));
	assert_int_equal(f->a.writes, 0);

	/* Moved: decodes at the new place only. */
	ecam_write(f, 1, PCI_BAR0, PCI_MMIO_BASE + 0x100000, 4);
	assert_int_equal(f->a.mapped[0], PCI_MMIO_BASE + 0x100000);
	assert_true(iobus_write(&f->mmio, PCI_MMIO_BASE + 0x100010, &v, 2));
	assert_int_equal(f->a.writes, 1);
	assert_int_equal(f->a.last_off, 0x10);
	assert_true(iobus_read(&f->mmio, PCI_MMIO_BASE + 8, &v, 4));
	assert_int_equal(f->a.reads, 1);

	/* Decoding off again: unmapped. */
	ecam_write(f, 1, PCI_COMMAND, 0, 2);
	assert_int_equal(f->a.mapped[0], PCI_BAR_UNMAPPED);
}

static void test_bar_refused_on_ram_ecam_or_overlap(void **state)
{
	struct fixture *f = *state;
	static const uint32_t bad[] = { 0x00100000, (uint32_t)PCI_ECAM_BASE, 0xfec00000,
					(uint32_t)(PCI_MMIO_BASE + PCI_MMIO_SIZE),
					(uint32_t)(PCI_MMIO_BASE - 0x4000) };
	uint32_t v;

	ecam_write(f, 1, PCI_COMMAND, PCI_COMMAND_MEM, 2);
	ecam_write(f, 2, PCI_COMMAND, PCI_COMMAND_MEM, 2);
	assert_int_equal(f->a.mapped[0], PCI_MMIO_BASE);
	assert_int_equal(f->b.mapped[0], PCI_MMIO_BASE + 0x4000);
	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ecam_write(f, 1, PCI_BAR0, bad[i], 4);
		assert_int_equal(f->a.mapped[0], PCI_BAR_UNMAPPED);
	}
	/* ECAM still answers; RAM-side addresses stay with whoever had them. */
	assert_int_equal(ecam_read(f, 1, PCI_VENDOR_ID, 2), 0x1af4);

	/* Onto b's BAR: refused, b keeps decoding. */
	ecam_write(f, 1, PCI_BAR0, PCI_MMIO_BASE + 0x4000, 4);
	assert_int_equal(f->a.mapped[0], PCI_BAR_UNMAPPED);
	assert_true(iobus_read(&f->mmio, PCI_MMIO_BASE + 0x4000, &v, 4));
	assert_int_equal(f->b.reads, 1);
	assert_int_equal(f->a.reads, 0);
	/* b moves away: a decodes where it asked to be. */
	ecam_write(f, 2, PCI_BAR0, PCI_MMIO_BASE + 0x8000, 4);
	assert_int_equal(f->b.mapped[0], PCI_MMIO_BASE + 0x8000);
	assert_int_equal(f->a.mapped[0], PCI_MMIO_BASE + 0x4000);
	assert_true(iobus_read(&f->mmio, PCI_MMIO_BASE + 0x4000, &v, 4));
	assert_int_equal(f->a.reads, 1);
}

static void test_capability_list(void **state)
{
	struct fake d;
	unsigned int c1, c2;

	(void)state;
	fake_init(&d, PCI_MMIO_BASE);
	c1 = pci_cap_add(&d.f, 0x09, 16);
	c2 = pci_cap_add(&d.f, 0x11, 12);
	assert_int_equal(c1, PCI_CAP_START);
	assert_int_equal(c2, PCI_CAP_START + 16);
	assert_int_equal(d.f.cfg[PCI_CAP_PTR], c1);
	assert_int_equal(d.f.cfg[c1 + 1], c2);
	assert_int_equal(d.f.cfg[c2 + 1], 0);
	assert_true(d.f.cfg[PCI_STATUS] & PCI_STATUS_CAP_LIST);
	assert_int_equal(pci_cap_add(&d.f, 0x09, 200), 0); /* does not fit */
	assert_int_equal(pci_func_bar(&d.f, 1, 0x3000, 0, &fake_bar_ops), -EINVAL);
	assert_int_equal(pci_func_bar(&d.f, 1, 0x4000, 0x1000, &fake_bar_ops), -EINVAL);
	assert_int_equal(pci_func_bar(&d.f, 6, 0x4000, 0, &fake_bar_ops), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_host_bridge_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_absent_functions_read_ones, setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_only_fields, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_sizing_and_decode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bar_refused_on_ram_ecam_or_overlap, setup,
						teardown),
		cmocka_unit_test(test_capability_list),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
