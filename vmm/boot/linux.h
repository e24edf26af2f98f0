/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_BOOT_LINUX_H
#define EVVM_VMM_BOOT_LINUX_H

/*
 * Linux's 64-bit boot protocol (Documentation/arch/x86/boot.rst, protocol
 * 2.15): a zero page (struct boot_params) with the kernel's setup header,
 * the command line, the initramfs and the e820 map; an identity map and a
 * GDT in guest RAM; the vCPU in long mode at the 64-bit entry with %rsi =
 * the zero page. docs/boot.md is the contract.
 *
 * The builders here are pure functions of their arguments (no KVM, no VM)
 * so the unit tests can check them.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../layout.h"
#include "boot.h"

struct evvm_vm;
struct bzimage_info;

/* Where the boot data goes: vmm/layout.h (LINUX_*_GPA). */
#define LINUX_GDT_LIMIT	     0x1f
#define LINUX_PT_SIZE	     0x6000ULL	    /* the six page-table pages from LINUX_PML4_GPA */
#define LINUX_KERNEL_DEFAULT 0x1000000ULL   /* 16 MiB: where a kernel goes by default */
#define LINUX_IDMAP_END	     0x100000000ULL /* the identity map covers [0, 4 GiB) */

/* struct boot_params (arch/x86/include/uapi/asm/bootparam.h) offsets. */
#define BP_SIZE		     0x1000
#define BP_ACPI_RSDP_ADDR    0x070
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_RAMDISK_SIZE  0x0c4
#define BP_EXT_CMD_LINE_PTR  0x0c8
#define BP_E820_ENTRIES	     0x1e8
#define BP_SENTINEL	     0x1ef
#define BP_HDR		     0x1f1 /* struct setup_header */
#define BP_HDR_END	     0x290 /* the header may not run past this */
#define BP_E820_TABLE	     0x2d0
#define BP_E820_MAX	     128 /* E820_MAX_ENTRIES_ZEROPAGE */
#define BP_E820_ENTRY_SIZE   20

/* setup_header fields, as offsets in the zero page (= in the bzImage). */
#define HDR_VID_MODE	      0x1fa
#define HDR_BOOT_FLAG	      0x1fe /* 0xaa55 */
#define HDR_JUMP	      0x200 /* the header ends at 0x202 + the byte at 0x201 */
#define HDR_HEADER	      0x202 /* "HdrS" */
#define HDR_VERSION	      0x206
#define HDR_TYPE_OF_LOADER    0x210
#define HDR_LOADFLAGS	      0x211
#define HDR_CODE32_START      0x214
#define HDR_RAMDISK_IMAGE     0x218
#define HDR_RAMDISK_SIZE      0x21c
#define HDR_HEAP_END_PTR      0x224
#define HDR_CMD_LINE_PTR      0x228
#define HDR_INITRD_ADDR_MAX   0x22c
#define HDR_KERNEL_ALIGNMENT  0x230
#define HDR_RELOCATABLE	      0x234
#define HDR_XLOADFLAGS	      0x236
#define HDR_CMDLINE_SIZE      0x238
#define HDR_HARDWARE_SUBARCH  0x23c
#define HDR_SUBARCH_DATA      0x240
#define HDR_SETUP_DATA	      0x250
#define HDR_PREF_ADDRESS      0x258
#define HDR_INIT_SIZE	      0x260

#define LOADFLAG_LOADED_HIGH  0x01
#define LOADFLAG_KASLR	      0x02
#define LOADFLAG_CAN_USE_HEAP 0x80
#define LINUX_LOADER_TYPE     0xff   /* "undefined": evvm has no assigned id */
#define LINUX_HEAP_END_PTR    0xfe00 /* a 64 KiB setup segment; nothing runs there */

/* What evvm writes into a header synthesized for a vmlinux. */
#define LINUX_SYNTH_VERSION	    0x020f
#define LINUX_SYNTH_CMDLINE_SIZE    2047       /* x86 COMMAND_LINE_SIZE - 1 */
#define LINUX_SYNTH_INITRD_ADDR_MAX 0x7fffffff /* what x86-64 kernels declare */
#define LINUX_SYNTH_ALIGNMENT	    0x200000

/* A kernel ready for the 64-bit entry, however it was loaded. */
struct linux_kernel {
	uint8_t hdr[BP_HDR_END - BP_HDR]; /* setup header: zero page [0x1f1, 0x290) */
	size_t hdr_len;			  /* bytes of it taken from the image */
	bool synthesized;		  /* a vmlinux: evvm made the header up */
	uint64_t load_addr;		  /* the kernel's first byte in guest RAM */
	uint64_t init_size;		  /* bytes from load_addr it needs while booting */
	uint64_t entry;			  /* 64-bit entry, physical */
	uint32_t cmdline_size;		  /* longest command line, without the NUL */
	uint64_t initrd_addr_max;	  /* last byte an initramfs may occupy */
};

/*
 * A setup header for a kernel from a bzImage: [0x1f1, 0x202 + byte at
 * 0x201) of @img (capped at 0x290), with its cmdline_size, initrd_addr_max
 * (and, unless @init_size is given (non-zero), init_size) as limits.
 * @load_addr and @entry are where evvm puts it. Returns 0 or -ENOEXEC after
 * a message naming @name.
 */
int linux_kernel_from_bzimage(const struct bzimage_info *bz, const void *img, size_t size,
			      uint64_t load_addr, uint64_t entry, const char *name,
			      struct linux_kernel *k);

/*
 * A setup header made up for a vmlinux: boot_flag 0xaa55, "HdrS", version
 * 2.15, LOADED_HIGH, relocatable 0, kernel_alignment 2 MiB, cmdline_size
 * 2047, initrd_addr_max 0x7fffffff, init_size @init_size, pref_address
 * @load_addr.
 */
void linux_kernel_synthesize(uint64_t load_addr, uint64_t init_size, uint64_t entry,
			     struct linux_kernel *k);

/*
 * The physical address of an ELF's entry: e_entry itself when it lies in a
 * PT_LOAD's physical range (Linux's vmlinux: phys_startup_64), else e_entry
 * moved from the virtual to the physical range of the PT_LOAD holding it
 * (an entry at 0xffffffff8...). @elf must have passed elf_load(). Returns 0
 * or -ENOEXEC when no PT_LOAD holds it.
 */
int linux_elf_entry(const void *elf, size_t size, uint64_t *phys);

/*
 * How many bytes from @load_lo a vmlinux needs: up to the end of its last
 * allocated section (the .bss and .brk that no PT_LOAD covers), mapped to
 * physical with the offset of the PT_LOAD at @load_lo, rounded up to 4 KiB;
 * at least up to @load_hi.
 */
uint64_t linux_elf_footprint(const void *elf, size_t size, uint64_t load_lo, uint64_t load_hi);

/*
 * Where an initramfs of @size bytes goes: page-aligned, as high as it fits
 * below min(@k->initrd_addr_max + 1, @ram_end), in [1 MiB, @ram_end) and
 * not in the kernel's [load_addr, load_addr + init_size); below the kernel
 * when above does not fit. Returns 0 and *@addr, or -ENOSPC after a message
 * naming @name.
 */
int linux_place_initrd(const struct linux_kernel *k, uint64_t ram_end, uint64_t size,
		       const char *name, uint64_t *addr);

/*
 * Fill the zero page @bp (BP_SIZE bytes): zeroed, then @k's setup header
 * with type_of_loader 0xff, loadflags |= LOADED_HIGH | CAN_USE_HEAP,
 * heap_end_ptr 0xfe00, cmd_line_ptr @cmdline_gpa (+ ext_cmd_line_ptr),
 * ramdisk_image/size @initrd_addr/@initrd_size (+ ext_ fields),
 * hardware_subarch 0 (PC), setup_data 0, and the @n e820 entries. The
 * command line @cmdline must fit @k->cmdline_size: -E2BIG otherwise (and
 * -E2BIG for more than 128 e820 entries), after a message naming @name.
 */
int linux_build_boot_params(uint8_t *bp, const struct linux_kernel *k, const char *cmdline,
			    uint64_t cmdline_gpa, uint64_t initrd_addr, uint64_t initrd_size,
			    const struct e820_entry *e820, unsigned int n, const char *name);

/*
 * The identity map of [0, 4 GiB) in @pt (LINUX_PT_SIZE bytes, to be copied
 * to LINUX_PML4_GPA): PML4[0] -> PDPT, PDPT[0..3] -> 4 page directories of
 * 2 MiB pages, present and writable; 3..4 GiB (MMIO) uncached (PCD|PWT).
 */
void linux_build_page_tables(uint8_t *pt);

/* The boot GDT (LINUX_GDT_LIMIT + 1 bytes): null, null, 0x10 code64, 0x18 data. */
void linux_build_gdt(uint64_t gdt[4]);

/*
 * Load the kernel in vm->cfg, whatever it is (ELF or bzImage, by its
 * magic), with the protocol vm->cfg.boot asks for: PVH through pvh_load(),
 * or the 64-bit Linux protocol (zero page, command line, initramfs, page
 * tables, GDT). Fills *@entry with how vCPU 0 enters it. Returns 0 or
 * -errno after a message.
 */
int boot_load_kernel(struct evvm_vm *vm, struct boot_entry *entry);

/*
 * After the vCPUs exist: @entry's registers on vCPU 0 (the one place the
 * entry is applied), boot MSRs and LINT0/LINT1 on each.
 */
int boot_setup_vcpus(struct evvm_vm *vm, const struct boot_entry *entry);

#endif
