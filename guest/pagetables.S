/*
 * Static identity map of 0..4 GiB with 2 MiB pages, emitted by the
 * assembler so the guest never spends emulated instructions building it.
 * The top GiB (LAPIC, IOAPIC, device MMIO) is mapped uncached.
 */
#define PTE_P		0x001
#define PTE_RW		0x002
#define PTE_PWT		0x008
#define PTE_PCD		0x010
#define PTE_PS		0x080

#define PDE_RAM		(PTE_P | PTE_RW | PTE_PS)
#define PDE_MMIO	(PDE_RAM | PTE_PWT | PTE_PCD)
#include "layout.h"

#define MMIO_START	LOW_RAM_END

	.section .data.pagetables, "aw"
	.balign 4096
	.globl pml4
pml4:
	.quad pdpt + (PTE_P | PTE_RW)
	.fill 511, 8, 0

pdpt:
	.set .Lpd_off, 0
	.rept 4
	.quad pd + .Lpd_off + (PTE_P | PTE_RW)
	.set .Lpd_off, .Lpd_off + 4096
	.endr
	.fill 508, 8, 0

pd:
	.set .Laddr, 0
	.rept 4 * 512
	.if .Laddr < MMIO_START
	.quad .Laddr + PDE_RAM
	.else
	.quad .Laddr + PDE_MMIO
	.endif
	.set .Laddr, .Laddr + 0x200000
	.endr

	.section .note.GNU-stack, "", @progbits
