/*
 * Fixed addresses and selectors shared by the assembly, the C code and
 * (by value) guest.ld. Keep this file includable from .S files.
 */
#ifndef GUEST_LAYOUT_H
#define GUEST_LAYOUT_H

/* evvm's guest-physical layout and ports, the VMM's own definitions. */
#include "../vmm/layout.h"

/* The image is linked and loaded here, vaddr == paddr. */
#define GUEST_LOAD_ADDR		HIGH_MEM_START

/* Interrupt stubs come first in the image so the IDT can be static data. */
#define ISR_STUBS_ADDR		GUEST_LOAD_ADDR
#define ISR_STUB_SIZE		16

/* GDT selectors (see head.S). */
#define KERNEL_CS		0x08
#define KERNEL_DS		0x10
#define GDT_SIZE		(3 * 8)

/* The AP trampoline is copied here; SIPI vector = address >> 12. */
#define TRAMPOLINE_ADDR		0x8000
#define TRAMPOLINE_VECTOR	(TRAMPOLINE_ADDR >> 12)

#define MAX_CPUS		LAYOUT_MAX_CPUS
#define STACK_SIZE		16384	/* the boot CPU's */
#define AP_STACK_SIZE		4096	/* an AP only checks in and halts */

/* Control register and MSR bits used on the way to long mode. */
#define X86_CR0_PE		0x00000001
#define X86_CR0_ET		0x00000010
#define X86_CR0_PG		0x80000000
#define X86_CR4_PAE		0x00000020
#define MSR_EFER		0xc0000080
#define EFER_LME		0x00000100

#endif
