/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_BZIMAGE_H
#define EVVM_VMM_BZIMAGE_H

/*
 * A Linux x86 bzImage (Documentation/arch/x86/boot.rst, boot protocol 2.08
 * to 2.15): the real-mode setup (boot sector and setup code, with the setup
 * header at 0x1f1), then the protected-mode code, which holds the compressed
 * vmlinux ELF (the payload) and the decompressor that a real-mode or 64-bit
 * entry would run. evvm decompresses the payload itself instead.
 */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "decompress.h"

/* File offsets of the setup header fields evvm reads. */
#define BZ_SETUP_SECTS	      0x1f1
#define BZ_SYSSIZE	      0x1f4
#define BZ_HEADER	      0x202 /* "HdrS" */
#define BZ_VERSION	      0x206
#define BZ_KERNEL_VERSION     0x20e
#define BZ_LOADFLAGS	      0x211
#define BZ_INITRD_ADDR_MAX    0x22c
#define BZ_KERNEL_ALIGNMENT   0x230
#define BZ_RELOCATABLE	      0x234
#define BZ_MIN_ALIGNMENT      0x235
#define BZ_XLOADFLAGS	      0x236
#define BZ_CMDLINE_SIZE	      0x238
#define BZ_PAYLOAD_OFFSET     0x248
#define BZ_PAYLOAD_LENGTH     0x24c
#define BZ_PREF_ADDRESS	      0x258
#define BZ_INIT_SIZE	      0x260

#define BZ_HDRS_MAGIC	      0x53726448U /* "HdrS" little-endian */

#define BZ_LOADED_HIGH	      0x01 /* loadflags: protected-mode code at 1 MiB */
#define XLF_KERNEL_64	      0x01 /* xloadflags: 64-bit entry at protected-mode code + 0x200 */
#define XLF_CAN_LOAD_ABOVE_4G 0x02

/* The protected-mode code's 64-bit entry, from its start (XLF_KERNEL_64). */
#define BZ_ENTRY64_OFFSET 0x200

struct bzimage_info {
	uint16_t version;    /* boot protocol, (major << 8) | minor */
	uint32_t setup_size; /* real-mode part: ((setup_sects ?: 4) + 1) * 512 bytes */
	uint64_t pm_offset;  /* protected-mode code: file offset (= setup_size) */
	uint64_t pm_size;    /* and size (syssize * 16; a signature may follow it) */
	uint8_t loadflags;
	uint16_t xloadflags;   /* 0 before protocol 2.12 */
	uint32_t init_size;    /* 0 before 2.10 */
	uint64_t pref_address; /* 0 before 2.10 */
	uint32_t kernel_alignment;
	uint8_t min_alignment; /* log2; 0 before 2.10 */
	bool relocatable;
	uint32_t cmdline_size;	  /* without the NUL */
	uint32_t initrd_addr_max; /* highest byte an initrd may occupy */
	uint64_t payload_offset;  /* file offset of the compressed vmlinux */
	uint32_t payload_length;
	const uint8_t *payload; /* inside the image given to bzimage_parse */
	enum compression compression;
	uint32_t uncompressed_size; /* the payload's last 4 bytes, as Linux appends them */
	char kernel_version[128];   /* the setup's version string ("" if none) */
};

/*
 * Check that @img (@size bytes, the file @name) is a bzImage evvm can boot
 * and describe it in @out. Refused, each with one message "kernel '<name>':
 * <problem>": not a bzImage (no HdrS), a header, setup, protected-mode part
 * or payload cut short, boot protocol older than 2.08 (no payload_offset),
 * a kernel without the 64-bit entry, a payload outside the protected-mode
 * code, a compression evvm cannot decompress. Returns 0 or -errno
 * (-ENOEXEC, -ENOTSUP for the compression).
 */
int bzimage_parse(const void *img, size_t size, const char *name, struct bzimage_info *out);

/* evvm's default bound on a decompressed kernel. */
#define BZIMAGE_VMLINUX_LIMIT (512ULL << 20)

/*
 * Decompress the payload found by bzimage_parse into a new buffer (free()
 * it), at most @limit bytes, and check its size against the one the image
 * records. Returns 0 or -errno after a message.
 */
int bzimage_decompress(const struct bzimage_info *bz, size_t limit, const char *name,
		       void **vmlinux, size_t *len);

#define VMLINUX_MAX_LOAD 16

struct vmlinux_segment {
	uint64_t paddr;
	uint64_t vaddr;
	uint64_t offset; /* in the ELF file */
	uint64_t filesz;
	uint64_t memsz;
};

struct vmlinux_info {
	uint64_t entry;	    /* e_entry: Linux's phys_startup_64, a physical address */
	uint64_t pvh_entry; /* Xen ELF note 18, if has_pvh */
	bool has_pvh;
	unsigned int nr_load; /* PT_LOAD segments with a memory size */
	struct vmlinux_segment load[VMLINUX_MAX_LOAD];
	uint64_t load_lo; /* lowest and highest guest-physical byte loaded */
	uint64_t load_hi;
};

/*
 * Check that @elf (@size bytes) is a 64-bit x86 ELF executable whose
 * PT_LOAD segments lie inside it, and whose entry is inside one of them
 * (physically); describe it in @out. Nothing is loaded: elf_load() does
 * that into guest memory. Returns 0 or -ENOEXEC after "kernel '<name>':
 * vmlinux <problem>".
 */
int vmlinux_check(const void *elf, size_t size, const char *name, struct vmlinux_info *out);

#endif
