/*
 * evvm-linuxboot: the boot-protocol contract guest. Constants shared by
 * the assembly (head.S, setup.S), the C checks (main.c) and, by value,
 * mkbzimage.c. Linux's names and offsets: Documentation/arch/x86/boot.rst
 * and arch/x86/include/uapi/asm/bootparam.h. Includable from .S files.
 */
#ifndef LINUXBOOT_H
#define LINUXBOOT_H

/* The image: linked and run at 16 MiB, Linux's default physical start. */
#define LB_LOAD_ADDR		0x1000000
#define LB_ENTRY64_OFFSET	0x200	/* startup_64 - startup_32 */

/* What the setup header says about this kernel (setup.S writes these). */
#define LB_PROTOCOL		0x020f
#define LB_KERNEL_ALIGNMENT	0x200000
#define LB_MIN_ALIGNMENT	21	/* log2: the alignment is required */
#define LB_CMDLINE_SIZE		2047	/* without the NUL */
#define LB_INITRD_ADDR_MAX	0x7fffffff	/* highest byte of an initrd */

/* Selectors the 32- and 64-bit boot protocols require of the loader. */
#define BOOT_CS			0x10
#define BOOT_DS			0x18

/* struct boot_params ("zero page") offsets. */
#define BP_TBOOT_ADDR		0x058	/* u64 */
#define BP_ACPI_RSDP_ADDR	0x070	/* u64 */
#define BP_EXT_RAMDISK_IMAGE	0x0c0	/* u32 */
#define BP_EXT_RAMDISK_SIZE	0x0c4	/* u32 */
#define BP_EXT_CMD_LINE_PTR	0x0c8	/* u32 */
#define BP_EFI_LOADER_SIG	0x1c0	/* u32 */
#define BP_SCRATCH		0x1e4	/* u32 */
#define BP_E820_ENTRIES		0x1e8	/* u8 */
#define BP_SENTINEL		0x1ef	/* u8 */
#define BP_HDR			0x1f1	/* struct setup_header */
#define BP_E820_TABLE		0x2d0	/* 128 x { u64 addr, u64 size, u32 type } */
#define BP_E820_MAX		128
#define BP_E820_ENTRY_SIZE	20
#define BP_SIZE			4096

/* struct setup_header fields, as offsets in boot_params (= in the file). */
#define HDR_SETUP_SECTS		0x1f1	/* u8 */
#define HDR_SYSSIZE		0x1f4	/* u32 */
#define HDR_VID_MODE		0x1fa	/* u16 */
#define HDR_BOOT_FLAG		0x1fe	/* u16: 0xaa55 */
#define HDR_JUMP		0x200	/* u16: 0xeb, offset of the setup code */
#define HDR_HEADER		0x202	/* u32: "HdrS" */
#define HDR_VERSION		0x206	/* u16 */
#define HDR_KERNEL_VERSION	0x20e	/* u16 */
#define HDR_TYPE_OF_LOADER	0x210	/* u8 */
#define HDR_LOADFLAGS		0x211	/* u8 */
#define HDR_CODE32_START	0x214	/* u32 */
#define HDR_RAMDISK_IMAGE	0x218	/* u32 */
#define HDR_RAMDISK_SIZE	0x21c	/* u32 */
#define HDR_HEAP_END_PTR	0x224	/* u16 */
#define HDR_CMD_LINE_PTR	0x228	/* u32 */
#define HDR_INITRD_ADDR_MAX	0x22c	/* u32 */
#define HDR_KERNEL_ALIGNMENT	0x230	/* u32 */
#define HDR_RELOCATABLE		0x234	/* u8 */
#define HDR_MIN_ALIGNMENT	0x235	/* u8 */
#define HDR_XLOADFLAGS		0x236	/* u16 */
#define HDR_CMDLINE_SIZE	0x238	/* u32 */
#define HDR_HARDWARE_SUBARCH	0x23c	/* u32 */
#define HDR_SUBARCH_DATA	0x240	/* u64 */
#define HDR_PAYLOAD_OFFSET	0x248	/* u32 */
#define HDR_PAYLOAD_LENGTH	0x24c	/* u32 */
#define HDR_SETUP_DATA		0x250	/* u64 */
#define HDR_PREF_ADDRESS	0x258	/* u64 */
#define HDR_INIT_SIZE		0x260	/* u32 */
#define HDR_HANDOVER_OFFSET	0x264	/* u32 */
#define HDR_KERNEL_INFO_OFFSET	0x268	/* u32 */
#define HDR_END			0x26c	/* 0x202 + the jump's offset byte */

#define HDRS_MAGIC		0x53726448	/* "HdrS" */
#define BOOT_FLAG_MAGIC		0xaa55
#define LOADED_HIGH		0x01	/* loadflags */
#define CAN_USE_HEAP		0x80
#define XLF_KERNEL_64		0x0001	/* xloadflags */
#define XLF_CAN_BE_LOADED_ABOVE_4G 0x0002
#define XLF_5LEVEL		0x0020

/*
 * struct entry_state (main.c): the CPU state the loader handed over,
 * recorded by head.S before it changes anything. Offsets for head.S.
 */
#define ES_PATH			0	/* u64: 64 or 32 (which entry ran) */
#define ES_ENTRY		8	/* u64: the address jumped to */
#define ES_ZERO_PAGE		16	/* u64: %rsi / %esi */
#define ES_CR0			24
#define ES_CR3			32
#define ES_CR4			40
#define ES_EFER			48
#define ES_RFLAGS		56
#define ES_CS			64	/* u16 each */
#define ES_DS			66
#define ES_ES			68
#define ES_SS			70
#define ES_GDTR			72	/* sgdt: u16 limit, u64 base */
#define ES_SIZE			88

/* More control register bits than guest/layout.h has. */
#define X86_CR4_LA57		0x00001000
#define EFER_LMA		0x00000400
#define X86_EFLAGS_IF		0x00000200

#endif
