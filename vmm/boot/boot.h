/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_BOOT_H
#define EVVM_VMM_BOOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <evvm/mem.h>

struct evvm_vm;

/* How vCPU 0 enters the kernel: what a loader returns, applied by boot_setup_vcpus(). */
struct boot_entry {
	enum boot_entry_mode {
		BOOT_ENTRY_PVH,	    /* 32-bit protected mode, paging off, %ebx = rbx */
		BOOT_ENTRY_LINUX64, /* long mode on evvm's identity map and GDT, %rsi = rsi */
	} mode;
	uint64_t rip;
	uint64_t rbx; /* PVH: hvm_start_info */
	uint64_t rsi; /* linux64: the zero page */
};

struct elf_image {
	uint64_t entry;	    /* e_entry (virtual) */
	uint64_t pvh_entry; /* XEN_ELFNOTE_PHYS32_ENTRY, if has_pvh */
	bool has_pvh;
	uint64_t load_lo; /* lowest and highest guest-physical byte loaded */
	uint64_t load_hi;
};

/*
 * Check a 64-bit x86 ELF executable and copy its PT_LOAD segments to their
 * physical addresses in @mem (zero-filling up to p_memsz). Every header and
 * segment is bounds-checked against @size and against guest RAM. Returns 0
 * or -errno after logging "kernel '<name>': <problem>".
 */
int elf_load(const struct evvm_mem *mem, const void *image, size_t size, const char *name,
	     struct elf_image *out);

/*
 * Walk the ELF notes in bytes [@off, @end) of @img (the caller has checked
 * that they lie in the image) for Xen's PVH entry note (type 18, name
 * "Xen", a 4- or 8-byte address). Returns true and sets *@entry if found.
 */
bool elf_pvh_note(const uint8_t *img, uint64_t off, uint64_t end, uint64_t *entry);

/* One e820 entry. */
struct e820_entry {
	uint64_t addr;
	uint64_t size;
	uint32_t type;
};

#define E820_RAM      1
#define E820_RESERVED 2
#define E820_MAX      16

/* The guest memory map: RAM evvm created, and the reserved holes. */
unsigned int e820_build(const struct evvm_vm *vm, struct e820_entry *e, unsigned int max);

/*
 * The same map for @ram_size bytes of RAM and @nr_virtio virtio-mmio
 * devices, in address order: RAM [0, EBDA), the EBDA and the BIOS area
 * reserved, RAM from 1 MiB to the end of low RAM, the virtio-mmio window
 * (one page per device), the IOAPIC and LAPIC pages reserved, RAM above
 * 4 GiB. Returns the number of entries (at most @max).
 */
unsigned int e820_layout(uint64_t ram_size, unsigned int nr_virtio, struct e820_entry *e,
			 unsigned int max);

/*
 * Load the kernel in vm->cfg as a PVH ELF, write hvm_start_info, the memory
 * map and the command line, and fill *@entry. Returns 0 or -errno after a
 * message.
 */
int pvh_load(struct evvm_vm *vm, struct boot_entry *entry);

#endif
