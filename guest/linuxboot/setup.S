/*
 * The bzImage's real-mode part: the 512-byte boot sector with the setup
 * header at 0x1f1 (boot protocol 2.15), then a minimal setup: what Linux's
 * arch/x86/boot does for a BIOS loader, reduced to what evvm-linuxboot
 * checks. A loader that uses the 16-bit entry (QEMU + SeaBIOS's linuxboot
 * option ROM) jumps to 0x200 in real mode with CS = base + 0x20,
 * DS = ES = SS = base. The stub
 *   - builds boot_params in its own .bss: zeroed, then the setup header
 *     as the loader left it (0x1f1..0x26c), then the BIOS e820 map
 *     (INT 15h, AX = E820h),
 *   - enables A20, masks NMI, loads a null IDT and a GDT with
 *     __BOOT_CS (0x10) and __BOOT_DS (0x18),
 *   - enters protected mode and jumps to code32_start (startup_32 in the
 *     protected-mode code) with %esi = boot_params, as the 32-bit boot
 *     protocol says.
 * mkbzimage fills in setup_sects, syssize, payload_offset/length,
 * init_size and kernel_info_offset. Linked at 0 (setup.ld): every address
 * here is an offset from the start of the setup, i.e. from DS.
 */
#include "linuxboot.h"

#define SMAP		0x534d4150	/* "SMAP" */
#define VID_NORMAL	0xffff

	.code16
	.section .setup, "ax"
	.globl _start
_start:
	/* Booted from a disk as a boot sector: nothing to do but stop. */
	cli
1:	hlt
	jmp 1b

	.org BP_SENTINEL
	.byte 0xff		/* sentinel: a loader must not copy this byte */
	.byte 0
	.org HDR_SETUP_SECTS
hdr:
	.byte 0			/* setup_sects (mkbzimage) */
	.word 0			/* root_flags */
	.long 0			/* syssize (mkbzimage) */
	.word 0			/* ram_size */
	.word VID_NORMAL	/* vid_mode */
	.word 0			/* root_dev */
	.word BOOT_FLAG_MAGIC	/* boot_flag */
	.org HDR_JUMP		/* the real-mode entry */
	.byte 0xeb
	.byte start_of_setup - 1f
1:	.ascii "HdrS"
	.word LB_PROTOCOL	/* version */
	.long 0			/* realmode_swtch */
	.word 0x1000		/* start_sys_seg (obsolete) */
	.word kernel_version - 0x200
	.byte 0			/* type_of_loader */
	.byte LOADED_HIGH	/* loadflags */
	.word 0x8000		/* setup_move_size */
	.long 0x100000		/* code32_start */
	.long 0			/* ramdisk_image */
	.long 0			/* ramdisk_size */
	.long 0			/* bootsect_kludge */
	.word heap_end - 0x200	/* heap_end_ptr */
	.byte 0			/* ext_loader_ver */
	.byte 0			/* ext_loader_type */
	.long 0			/* cmd_line_ptr */
	.long LB_INITRD_ADDR_MAX
	.long LB_KERNEL_ALIGNMENT
	.byte 1			/* relocatable_kernel */
	.byte LB_MIN_ALIGNMENT
	.word XLF_KERNEL_64	/* xloadflags */
	.long LB_CMDLINE_SIZE
	.long 0			/* hardware_subarch */
	.quad 0			/* hardware_subarch_data */
	.long 0			/* payload_offset (mkbzimage) */
	.long 0			/* payload_length (mkbzimage) */
	.quad 0			/* setup_data */
	.quad LB_LOAD_ADDR	/* pref_address */
	.long 0			/* init_size (mkbzimage) */
	.long 0			/* handover_offset: no EFI handover */
	.long 0			/* kernel_info_offset (mkbzimage) */
	.globl hdr_end		/* setup.ld checks it is HDR_END */
hdr_end:

start_of_setup:
	cli
	cld
	movw %ds, %ax
	movw %ax, %es
	movw %ax, %ss
	movw $stack_end, %sp
	pushw %ax		/* CS = DS: addresses are offsets from here */
	pushw $1f
	lretw
1:
	/* boot_params: zeroed, then the setup header as the loader left it. */
	movw $boot_params, %di
	movw $(BP_SIZE / 2), %cx
	xorw %ax, %ax
	rep stosw
	movw $hdr, %si
	movw $(boot_params + BP_HDR), %di
	movw $(hdr_end - hdr), %cx
	rep movsb

	/*
	 * The BIOS memory map, up to 128 entries of 20 bytes. Empty entries
	 * are dropped (SeaBIOS for QEMU's microvm ends its map with one;
	 * Linux's setup keeps it and the kernel's e820 sanitizing drops it).
	 */
	xorl %ebx, %ebx
	xorw %bp, %bp
	movw $(boot_params + BP_E820_TABLE), %di
2:	movl $0xe820, %eax
	movl $SMAP, %edx
	movl $BP_E820_ENTRY_SIZE, %ecx
	int $0x15
	jc 3f
	cmpl $SMAP, %eax
	jne 3f
	movl 8(%di), %eax
	orl 12(%di), %eax
	jz 4f
	incw %bp
	addw $BP_E820_ENTRY_SIZE, %di
4:	testl %ebx, %ebx
	jz 3f
	cmpw $BP_E820_MAX, %bp
	jb 2b
3:	movw %bp, %ax
	movb %al, boot_params + BP_E820_ENTRIES

	/* A20 through the fast gate; NMI off; no real-mode IVT from now on. */
	inb $0x92, %al
	orb $0x02, %al
	andb $0xfe, %al
	outb %al, $0x92
	movb $0x80, %al
	outb %al, $0x70
	lidtl null_idt

	/* Linear addresses: the setup's base, boot_params, the GDT, pm32. */
	xorl %ebx, %ebx
	movw %ds, %bx
	shll $4, %ebx
	addl %ebx, gdt_ptr + 2
	addl %ebx, pm32_ptr
	leal boot_params(%ebx), %esi
	leal stack_end(%ebx), %ecx
	lgdtl gdt_ptr
	movl %cr0, %eax
	orb $X86_CR0_PE, %al
	movl %eax, %cr0
	ljmpl *pm32_ptr

	.code32
in_pm32:
	movl $BOOT_DS, %eax
	movl %eax, %ds
	movl %eax, %es
	movl %eax, %fs
	movl %eax, %gs
	movl %eax, %ss
	movl %ecx, %esp
	movl HDR_CODE32_START(%esi), %eax
	xorl %ebx, %ebx		/* the 32-bit protocol: %ebx, %ebp, %edi zero */
	xorl %ebp, %ebp
	xorl %edi, %edi
	jmp *%eax

	.balign 8
gdt:
	.quad 0
	.quad 0
	.quad 0x00cf9b000000ffff	/* __BOOT_CS: flat 32-bit code */
	.quad 0x00cf93000000ffff	/* __BOOT_DS: flat data */
gdt_end:
gdt_ptr:
	.word gdt_end - gdt - 1
	.long gdt			/* + the setup's base, at run time */
null_idt:
	.word 0
	.long 0
pm32_ptr:
	.long in_pm32			/* + the setup's base, at run time */
	.word BOOT_CS

kernel_version:
	.asciz "evvm-linuxboot (the boot-protocol contract guest)"

	.section .bss
	.balign 16
boot_params:
	.skip BP_SIZE
stack:
	.skip 1024
stack_end:
heap_end:

	.section .note.GNU-stack, "", @progbits
