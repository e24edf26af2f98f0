// SPDX-License-Identifier: MIT
#include "../vm.h"
#include "boot.h"

#define EBDA_START 0x9fc00ULL
#define BIOS_START 0xf0000ULL /* the MP table lives here */
#define HIGH_START 0x100000ULL

static unsigned int e820_add(struct e820_entry *e, unsigned int n, unsigned int max,
			     uint64_t addr, uint64_t size, uint32_t type)
{
	if (n < max && size)
		e[n++] = (struct e820_entry){ addr, size, type };
	return n;
}

unsigned int e820_build(const struct evvm_vm *vm, struct e820_entry *e, unsigned int max)
{
	uint64_t low = vm->ram_size < LOW_RAM_END ? vm->ram_size : LOW_RAM_END;
	unsigned int n = 0;

	n = e820_add(e, n, max, 0, EBDA_START, E820_RAM);
	n = e820_add(e, n, max, EBDA_START, 0xa0000 - EBDA_START, E820_RESERVED);
	n = e820_add(e, n, max, BIOS_START, HIGH_START - BIOS_START, E820_RESERVED);
	n = e820_add(e, n, max, HIGH_START, low - HIGH_START, E820_RAM);
	n = e820_add(e, n, max, IOAPIC_BASE, 0x1000, E820_RESERVED);
	n = e820_add(e, n, max, LAPIC_BASE, 0x1000, E820_RESERVED);
	if (vm->ram_size > LOW_RAM_END)
		n = e820_add(e, n, max, HIGH_RAM_START, vm->ram_size - LOW_RAM_END, E820_RAM);
	return n;
}
