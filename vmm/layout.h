/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_LAYOUT_H
#define EVVM_VMM_LAYOUT_H

/*
 * The guest-physical layout and the I/O ports evvm owns: docs/memory-map.md
 * in C, one definition each. Shared with the test guest (guest/), so it is
 * freestanding and includable from assembly: no includes, no types.
 */

#ifdef __ASSEMBLER__
#define LAYOUT_ADDR(x) x
#else
#define LAYOUT_ADDR(x) x##ULL
#endif

/* Boot data evvm writes below 1 MiB (docs/boot.md): the Linux 64-bit protocol's... */
#define LINUX_GDT_GPA	    LAYOUT_ADDR(0x500)	 /* 4 descriptors: null, null, code, data */
#define LINUX_ZERO_PAGE_GPA LAYOUT_ADDR(0x7000)	 /* struct boot_params, 4 KiB */
#define LINUX_PML4_GPA	    LAYOUT_ADDR(0x9000)	 /* identity map of 0..4 GiB, 2 MiB pages: */
#define LINUX_PDPT_GPA	    LAYOUT_ADDR(0xa000)	 /*   PML4, PDPT, */
#define LINUX_PD_GPA	    LAYOUT_ADDR(0xb000)	 /*   and 4 page directories, to 0xefff */
#define LINUX_CMDLINE_GPA   LAYOUT_ADDR(0x20000) /* the command line, NUL-terminated */
/* ... and PVH's. */
#define PVH_START_INFO_GPA LAYOUT_ADDR(0x1000) /* struct hvm_start_info */
#define PVH_MEMMAP_GPA	   LAYOUT_ADDR(0x1040) /* its memory map */
#define PVH_CMDLINE_GPA	   LAYOUT_ADDR(0x2000) /* the command line, to 0x2fff */

/* RAM and the holes in it. */
#define EBDA_START	LAYOUT_ADDR(0x9fc00)	 /* e820 reserved to 0xa0000 */
#define BIOS_AREA_START LAYOUT_ADDR(0xe0000)	 /* e820 reserved to HIGH_MEM_START */
#define ACPI_RSDP_GPA	LAYOUT_ADDR(0xe0000)	 /* ACPI tables, in the area Linux scans */
#define ACPI_AREA_SIZE	LAYOUT_ADDR(0x10000)	 /* 0xe0000-0xeffff */
#define MPTABLE_GPA	LAYOUT_ADDR(0xf0000)	 /* MP floating pointer and table */
#define HIGH_MEM_START	LAYOUT_ADDR(0x100000)	 /* 1 MiB: kernels load at or above it */
#define LOW_RAM_END	LAYOUT_ADDR(0xc0000000)	 /* RAM below 4 GiB ends here: MMIO */
#define HIGH_RAM_START	LAYOUT_ADDR(0x100000000) /* the rest of RAM starts here */

/* MMIO. */
#define UNOWNED_MMIO_GPA LAYOUT_ADDR(0xd0000000) /* nothing: the test guest probes it */
#define VIRTIO_MMIO_BASE LAYOUT_ADDR(0xd1000000) /* device i at base + i * 4 KiB */
#define IOAPIC_BASE	 LAYOUT_ADDR(0xfec00000)
#define LAPIC_BASE	 LAYOUT_ADDR(0xfee00000)
#define KVM_IDMAP_ADDR	 LAYOUT_ADDR(0xfffbc000) /* one page, VMX real-mode identity map */
#define KVM_TSS_ADDR	 LAYOUT_ADDR(0xfffbd000) /* three pages, VMX real-mode TSS */

/* I/O ports. */
#define DEBUG_EXIT_PORT 0xf4
#define COM1_PORT	0x3f8
#define COM1_IRQ	4
#define ACPI_SLEEP_PORT 0x600

/* vCPUs the MP table, the MADT and the test guest describe (APIC id = index). */
#define LAYOUT_MAX_CPUS 64

#endif
