/*
 * evvm-linuxboot entry points. As in a Linux bzImage's protected-mode
 * code, the image starts with two entries:
 *
 *   startup_32 (+0x000)  the 32-bit boot protocol: protected mode, paging
 *                        off, %esi = boot_params. setup.S (the bzImage's
 *                        real-mode part) comes here; so would a loader
 *                        that speaks the 32-bit protocol.
 *   startup_64 (+0x200)  the 64-bit boot protocol: long mode, paging on,
 *                        %rsi = boot_params. The vmlinux ELF's e_entry,
 *                        and XLF_KERNEL_64's entry in the bzImage.
 *
 * Both record the CPU state they were handed in entry_state (main.c checks
 * it) before changing anything, move the image to LB_LOAD_ADDR if it was
 * loaded elsewhere (QEMU puts a bzImage's code at 1 MiB), then go on as
 * guest/head.S does: static GDT, page tables and stack, clear .bss (the
 * bzImage's own entry is loaded without it) and call linuxboot_main().
 *
 * The code before the move runs wherever the loader put it, so it is
 * position-independent: RIP-relative in 64-bit mode, %ebp-relative
 * (call/pop) in 32-bit mode.
 */
#include "linuxboot.h"
#include "longmode.h"

#define STATE(field)	entry_state + ES_##field

#define UART_THR	0x3f8
#define UART_LSR	0x3fd
#define EXIT_PORT	0xf4
#define EXIT_ERROR	2

/*
 * Print the NUL-terminated message at %(e|r)si on COM1 and end the VM with
 * status 2. Registers only, so it runs before the image is where it was
 * linked. The encodings are the same in 32- and 64-bit mode.
 */
.macro EARLY_FAIL
1:	lodsb
	testb %al, %al
	jz 4f
	movb %al, %bl
	movl $100000, %ecx		/* a missing UART must not hang us */
	movw $UART_LSR, %dx
2:	inb %dx, %al
	testb $0x20, %al		/* THRE */
	jnz 3f
	decl %ecx
	jnz 2b
3:	movb %bl, %al
	movw $UART_THR, %dx
	outb %al, %dx
	jmp 1b
4:	movl $EXIT_ERROR, %eax
	movw $EXIT_PORT, %dx
	outl %eax, %dx
5:	cli
	hlt
	jmp 5b
.endm

	.section .head.text, "ax"
	.code32
	.globl startup_32
startup_32:
	/* Linux's trick: a 4-byte stack in boot_params.scratch. */
	leal (BP_SCRATCH + 4)(%esi), %esp
	pushfl
	popl %ebx			/* EFLAGS as handed over */
	cli
	cld
	call 1f
1:	popl %ebp
	subl $(1b - startup_32), %ebp	/* where the loader put us */
	movl %esi, %edx			/* boot_params */
	movl $startup_32, %edi
	cmpl %edi, %ebp
	je 3f

	/* Move the image (code and data; .bss is cleared later) home. */
	movl $_edata, %ecx
	subl %edi, %ecx
	movl %ebp, %eax
	subl %edi, %eax
	jae 2f
	negl %eax
2:	cmpl %ecx, %eax			/* |load - home| < size: overlap */
	jb overlap32
	movl %ebp, %esi
	rep movsb
	movl %edx, %esi
3:	movl $startup_32_home, %eax
	jmp *%eax

overlap32:
	leal (msg_overlap - startup_32)(%ebp), %esi
	EARLY_FAIL

	.code64
	.org LB_ENTRY64_OFFSET
	.globl startup_64
startup_64:
	/* Record what the loader handed over, before changing anything. */
	movq %rsi, STATE(ZERO_PAGE)(%rip)
	leaq startup_64(%rip), %rax
	movq %rax, STATE(ENTRY)(%rip)
	movl $64, STATE(PATH)(%rip)
	movq %cr0, %rax
	movq %rax, STATE(CR0)(%rip)
	movq %cr3, %rax
	movq %rax, STATE(CR3)(%rip)
	movq %cr4, %rax
	movq %rax, STATE(CR4)(%rip)
	movl $MSR_EFER, %ecx
	rdmsr
	movl %eax, STATE(EFER)(%rip)
	movl %edx, STATE(EFER)+4(%rip)
	movw %cs, STATE(CS)(%rip)
	movw %ds, STATE(DS)(%rip)
	movw %es, STATE(ES)(%rip)
	movw %ss, STATE(SS)(%rip)
	sgdt STATE(GDTR)(%rip)
	cld

	/* What this guest cannot run with at all. */
	leaq startup_32(%rip), %rbp	/* the load address */
	movq %cr4, %rax
	testl $X86_CR4_LA57, %eax
	jnz la57
	movq %rbp, %rax
	shrq $32, %rax
	jnz above_4g

	movq %rbp, %r12
	subq $startup_32, %r12		/* 0 when loaded at LB_LOAD_ADDR */
	jz .Lhome64
	movl $_edata, %ecx
	subl $startup_32, %ecx		/* image size */
	movq %r12, %rax
	testq %rax, %rax
	jns 1f
	negq %rax
1:	cmpq %rcx, %rax
	jb overlap64
	/*
	 * The loader's page tables need not map LB_LOAD_ADDR: point ours
	 * (copied with the image) at where they are now and use them.
	 */
	leaq pml4(%rip), %rdi
	addq %r12, (%rdi)		/* pml4[0] -> pdpt */
	movq (%rdi), %rax
	andq $~0xfff, %rax
	addq %r12, 0(%rax)		/* pdpt[0..3] -> the four pds */
	addq %r12, 8(%rax)
	addq %r12, 16(%rax)
	addq %r12, 24(%rax)
	movq %rdi, %cr3
	movq %rbp, %rsi
	movl $startup_32, %edi
	rep movsb
	movl $1f, %eax
	jmp *%rax
1:	movl $pml4, %edi		/* home: undo the move in this copy */
	subq %r12, (%rdi)
	movq (%rdi), %rax
	andq $~0xfff, %rax
	subq %r12, 0(%rax)
	subq %r12, 8(%rax)
	subq %r12, 16(%rax)
	subq %r12, 24(%rax)
.Lhome64:
	movl $pml4, %eax
	movq %rax, %cr3
	lgdt gdt_ptr64
	movl $boot_stack_top, %esp
	pushfq				/* nothing above changed IF */
	popq %rax
	movq %rax, STATE(RFLAGS)(%rip)
	cli
	pushq $KERNEL_CS
	pushq $start_kernel64
	lretq

la57:
	leaq msg_la57(%rip), %rsi
	jmp early_fail64
above_4g:
	leaq msg_above_4g(%rip), %rsi
	jmp early_fail64
overlap64:
	leaq msg_overlap(%rip), %rsi
early_fail64:
	EARLY_FAIL

msg_la57:
	.asciz "evvm-linuxboot: entered with 5-level paging (CR4.LA57), but xloadflags has no XLF_5LEVEL\n"
msg_above_4g:
	.asciz "evvm-linuxboot: loaded above 4 GiB, but xloadflags has no XLF_CAN_BE_LOADED_ABOVE_4G\n"
msg_overlap:
	.asciz "evvm-linuxboot: loaded less than the image size away from 0x1000000, where it must run: load it at pref_address\n"

/* 32-bit entry, continued at the link address. */
	.text
	.code32
startup_32_home:
	movl $32, STATE(PATH)
	movl %ebp, STATE(ENTRY)
	movl %esi, STATE(ZERO_PAGE)
	movl %ebx, STATE(RFLAGS)
	movl %cr0, %eax
	movl %eax, STATE(CR0)
	movl %cr3, %eax
	movl %eax, STATE(CR3)
	movl %cr4, %eax
	movl %eax, STATE(CR4)
	movl $MSR_EFER, %ecx
	rdmsr
	movl %eax, STATE(EFER)
	movl %edx, STATE(EFER)+4
	movw %cs, STATE(CS)
	movw %ds, STATE(DS)
	movw %es, STATE(ES)
	movw %ss, STATE(SS)
	sgdtl STATE(GDTR)

	/* Long mode, as guest/head.S's pvh_start. */
	lgdt gdt_ptr32
	LONG_MODE_ENTER
	ljmp $KERNEL_CS, $start_kernel64

	.code64
start_kernel64:
	LONG_MODE_DATA_SEGS
	movl $boot_stack_top, %esp
	/* .bss, but not the stacks (see linuxboot.ld): one rep stosq. */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	shrl $3, %ecx
	xorl %eax, %eax
	rep stosq
	xorl %ebp, %ebp
	call linuxboot_main
1:	cli
	hlt
	jmp 1b

/*
 * The GDT shared with the APs (trampoline.S refers to "gdt"): null,
 * KERNEL_CS = 64-bit code, KERNEL_DS = flat data, as in guest/head.S.
 */
	.section .rodata
	.balign 16
	.globl gdt
gdt:
	.quad 0
	.quad 0x00af9a000000ffff
	.quad 0x00cf92000000ffff
	.if . - gdt != GDT_SIZE
	.error "GDT_SIZE does not match the GDT"
	.endif
gdt_ptr32:				/* lgdt in 32-bit mode: 32-bit base */
	.word GDT_SIZE - 1
	.long gdt
	.balign 8
gdt_ptr64:				/* lgdt in 64-bit mode: 64-bit base */
	.word GDT_SIZE - 1
	.quad gdt

/*
 * kernel_info (boot protocol 2.15; the header's kernel_info_offset points
 * here). setup_type_max 0: this guest reads no setup_data.
 */
	.balign 4
	.globl kernel_info
kernel_info:
	.ascii "LToP"
	.long kernel_info_var_len_data - kernel_info
	.long kernel_info_end - kernel_info
	.long 0
kernel_info_var_len_data:
kernel_info_end:

/* Written by startup_32/startup_64 before anything else: in .data, so a move carries it. */
	.data
	.balign 8
	.globl entry_state
entry_state:
	.skip ES_SIZE

/* Not cleared at boot (see linuxboot.ld). */
	.section .bss.stacks, "aw", @nobits
	.balign 16
boot_stack:
	.skip STACK_SIZE
boot_stack_top:

	.section .note.GNU-stack, "", @progbits
