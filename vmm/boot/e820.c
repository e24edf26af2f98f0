// SPDX-License-Identifier: MIT
#include "../virtio_mmio.h"
#include "../vm.h"
#include "boot.h"

static unsigned int e820_add(struct e820_entry *e, unsigned int n, unsigned int max,
			     uint64_t addr, uint64_t size, uint32_t type)
{
	if (n < max && size)
		e[n++] = (struct e820_entry){ addr, size, type };
	return n;
}

unsigned int e820_layout(uint64_t ram_size, unsigned int nr_virtio, struct e820_entry *e,
			 unsigned int max)
{
	uint64_t low = ram_size < LOW_RAM_END ? ram_size : LOW_RAM_END;
	unsigned int n = 0;

	/* In address order; RAM exactly as vm_create_ram() lays it out. */
	n = e820_add(e, n, max, 0, EBDA_START, E820_RAM);
	n = e820_add(e, n, max, EBDA_START, 0xa0000 - EBDA_START, E820_RESERVED);
	n = e820_add(e, n, max, BIOS_AREA_START, HIGH_MEM_START - BIOS_AREA_START, E820_RESERVED);
	n = e820_add(e, n, max, HIGH_MEM_START, low - HIGH_MEM_START, E820_RAM);
	n = e820_add(e, n, max, VIRTIO_MMIO_BASE, (uint64_t)nr_virtio * VIRTIO_MMIO_SIZE,
		     E820_RESERVED);
	n = e820_add(e, n, max, IOAPIC_BASE, 0x1000, E820_RESERVED);
	n = e820_add(e, n, max, LAPIC_BASE, 0x1000, E820_RESERVED);
	if (ram_size > LOW_RAM_END)
		n = e820_add(e, n, max, HIGH_RAM_START, ram_size - LOW_RAM_END, E820_RAM);
	return n;
}

unsigned int e820_build(const struct evvm_vm *vm, struct e820_entry *e, unsigned int max)
{
	return e820_layout(vm->ram_size, vm->cfg.nr_devices, e, max);
}
