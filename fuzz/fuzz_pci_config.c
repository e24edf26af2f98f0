// SPDX-License-Identifier: MIT
/*
 * libFuzzer target for the PCI root complex's decoders (vmm/pci.c): the
 * input is a hostile guest's stream of port and MMIO accesses.
 *
 * Input: records of 10 bytes: op (bits 0-1: 0xcf8 ports, ECAM, BAR window,
 * one past the ECAM window; bit 2: write), len (1 << (bits % 4)), a 32-bit
 * address offset and a 32-bit value (little-endian). Two endpoints with two
 * BARs each and a capability sit on the bus. After every access the target
 * checks what the contract in pci.h promises: a BAR handler only sees
 * offsets inside its BAR, decoded BARs lie inside the MMIO window and never
 * overlap, and every BAR the bus says is decoded is the one bar_map()
 * reported last. A violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <evvm/log.h>

#include "../vmm/pci.h"

struct endpoint {
	struct pci_func f;
	uint64_t mapped[PCI_BARS];
};

static void check_access(void *opaque, uint64_t off, unsigned int len, unsigned int bar)
{
	struct endpoint *e = opaque;

	if (bar >= PCI_BARS || off + len > e->f.bar[bar].size)
		abort();
}

static void bar0_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	check_access(opaque, off, len, 0);
	memset(data, 0, len);
}

static void bar0_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	(void)data;
	check_access(opaque, off, len, 0);
}

static void bar2_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	check_access(opaque, off, len, 2);
	memset(data, 0, len);
}

static void bar2_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	(void)data;
	check_access(opaque, off, len, 2);
}

static void ep_bar_map(void *opaque, unsigned int bar, uint64_t base)
{
	struct endpoint *e = opaque;

	if (bar >= PCI_BARS)
		abort();
	e->mapped[bar] = base;
}

static const struct iobus_ops bar0_ops = { .read = bar0_read, .write = bar0_write };
static const struct iobus_ops bar2_ops = { .read = bar2_read, .write = bar2_write };
static const struct pci_func_ops ep_ops = { .bar_map = ep_bar_map };

static void ep_init(struct endpoint *e, uint32_t base)
{
	unsigned int cap;

	pci_func_init(&e->f, 0x1af4, 0x1042, 0x010000, true, &ep_ops, e, "fuzz");
	if (pci_func_bar(&e->f, 0, 0x4000, base, &bar0_ops) ||
	    pci_func_bar(&e->f, 2, 0x1000, base + 0x4000, &bar2_ops))
		abort();
	cap = pci_cap_add(&e->f, 0x11, 12);
	if (!cap)
		abort();
	e->f.wmask[cap + 3] = 0xc0; /* a writable byte in the capability */
	for (unsigned int i = 0; i < PCI_BARS; i++)
		e->mapped[i] = PCI_BAR_UNMAPPED;
}

static void check_bars(struct endpoint *eps, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		for (unsigned int b = 0; b < PCI_BARS; b++) {
			const struct pci_bar *x = &eps[i].f.bar[b];

			if (x->base != eps[i].mapped[b])
				abort();
			if (x->base == PCI_BAR_UNMAPPED)
				continue;
			if (x->base < PCI_MMIO_BASE ||
			    x->base + x->size > PCI_MMIO_BASE + PCI_MMIO_SIZE)
				abort();
			for (unsigned int j = 0; j < n; j++) {
				for (unsigned int c = 0; c < PCI_BARS; c++) {
					const struct pci_bar *y = &eps[j].f.bar[c];

					if ((i == j && b == c) || y->base == PCI_BAR_UNMAPPED)
						continue;
					if (x->base < y->base + y->size &&
					    y->base < x->base + x->size)
						abort();
				}
			}
		}
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct iobus pio, mmio;
	struct pci_bus bus;
	struct endpoint eps[2];

	evvm_log_set_level(EVVM_LOG_ERR);
	if (iobus_init(&pio, "pio") || iobus_init(&mmio, "mmio"))
		abort();
	if (pci_bus_init(&bus, &pio, &mmio))
		abort();
	ep_init(&eps[0], PCI_MMIO_BASE);
	ep_init(&eps[1], PCI_MMIO_BASE + 0x10000);
	if (pci_func_add(&bus, &eps[0].f) != 1 || pci_func_add(&bus, &eps[1].f) != 2)
		abort();

	for (size_t at = 0; at + 10 <= size; at += 10) {
		const uint8_t *r = data + at;
		unsigned int len = 1u << (r[1] % 4);
		uint32_t off, val;
		uint64_t addr, buf = 0;
		struct iobus *io = &mmio;

		memcpy(&off, r + 2, 4);
		memcpy(&val, r + 6, 4);
		switch (r[0] & 3) {
		case 0:
			io = &pio;
			addr = PCI_CONFIG_PORT - 8 + off % 24;
			break;
		case 1:
			addr = PCI_ECAM_BASE + off % PCI_ECAM_SIZE;
			break;
		case 2:
			addr = PCI_MMIO_BASE + off % 0x40000;
			break;
		default:
			addr = PCI_ECAM_BASE + PCI_ECAM_SIZE - 4 + off % 8;
			break;
		}
		if (r[0] & 4) {
			buf = val;
			iobus_write(io, addr, &buf, len);
		} else {
			iobus_read(io, addr, &buf, len);
		}
		check_bars(eps, 2);
	}

	pci_func_remove(&bus, &eps[0].f);
	pci_func_remove(&bus, &eps[1].f);
	pci_bus_destroy(&bus);
	iobus_destroy(&mmio);
	iobus_destroy(&pio);
	return 0;
}
