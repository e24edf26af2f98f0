/*
 * PVH entry: the VMM starts us in 32-bit protected mode with paging off
 * and %ebx pointing at struct hvm_start_info. Go straight to long mode
 * with the static identity map and call guest_main(start_info).
 */
#include "layout.h"
#include "longmode.h"

#define XEN_ELFNOTE_PHYS32_ENTRY 18

/* The PVH loader finds the 32-bit entry in this Xen ELF note. */
	.section .note.Xen, "a", @note
	.balign 4
	.long 2f - 1f			/* namesz */
	.long 4f - 3f			/* descsz */
	.long XEN_ELFNOTE_PHYS32_ENTRY
1:	.asciz "Xen"
2:	.balign 4
3:	.long pvh_start
4:	.balign 4

	.section .text.head, "ax"
	.code32
	.globl pvh_start
pvh_start:
	lgdt gdt_ptr
	LONG_MODE_ENTER
	ljmp $KERNEL_CS, $start64

	.code64
start64:
	LONG_MODE_DATA_SEGS
	movl $boot_stack_top, %esp
	xorl %ebp, %ebp
	movl %ebx, %edi			/* struct hvm_start_info * */
	call guest_main
	/* guest_main does not return; stop hard if it ever does. */
1:	cli
	hlt
	jmp 1b

/*
 * Flat GDT shared with the APs: null, 64-bit code, data. No TSS: we never
 * change privilege level and use no IST stacks.
 */
	.section .rodata
	.balign 16
	.globl gdt, gdt_ptr
gdt:
	.quad 0
	.quad 0x00af9a000000ffff	/* KERNEL_CS: 64-bit, present, exec/read */
	.quad 0x00cf92000000ffff	/* KERNEL_DS: flat 4 GiB, read/write */
	.if . - gdt != GDT_SIZE
	.error "GDT_SIZE does not match the GDT"
	.endif
gdt_ptr:
	.word GDT_SIZE - 1
	.long gdt

	.section .bss
	.balign 16
boot_stack:
	.skip STACK_SIZE
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
