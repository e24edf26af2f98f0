/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_X86_H
#define EVVM_VMM_X86_H

#include <stdbool.h>
#include <stdint.h>

#include <evvm/mem.h>

#include "../../layout.h"

struct kvm_cpuid2;
struct kvm_regs;
struct kvm_sregs;
struct kvm_msr_entry;

/* CPUID leaves KVM can offer (KVM_GET_SUPPORTED_CPUID); free() the result. */
int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out);

/*
 * Give vCPU @vcpu_fd the supported leaves, with its APIC id and the
 * topology of @nr_cpus filled in and the hypervisor bit set.
 */
int cpuid_set(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned int apic_id,
	      unsigned int nr_cpus);

/* Family/model/stepping and feature flags of leaf 1, for the MP table. */
void cpuid_signature(const struct kvm_cpuid2 *supported, uint32_t *eax, uint32_t *edx);

/*
 * Put a vCPU at a 32-bit protected-mode entry with paging off and flat
 * segments, as the PVH boot ABI requires: %eip = @entry, %ebx = @rbx.
 */
int regs_set_pvh_entry(int vcpu_fd, uint32_t entry, uint32_t rbx);

/* Linux's boot GDT selectors (Documentation/arch/x86/boot.rst). */
#define LINUX64_BOOT_CS 0x10
#define LINUX64_BOOT_DS 0x18

/* The 64-bit Linux entry: where things are, for regs_linux64_state(). */
struct linux64_entry {
	uint64_t rip;	   /* the kernel's 64-bit entry (physical = virtual) */
	uint64_t rsi;	   /* struct boot_params (the zero page) */
	uint64_t cr3;	   /* PML4 of the identity map */
	uint64_t gdt_base; /* a GDT with __BOOT_CS and __BOOT_DS */
	uint16_t gdt_limit;
};

/*
 * The boot protocol's 64-bit entry state, without KVM: long mode with
 * paging (CR0 = PE|ET|PG, CR4 = PAE, EFER = LME|LMA, CR3 = @e->cr3), CS =
 * 0x10 flat 64-bit code (L=1), DS/ES/SS/FS/GS = 0x18 flat data, GDTR from
 * @e, IDTR base 0 limit 0, a busy TSS in TR, no LDT; every general register
 * 0 except %rip = @e->rip and %rsi = @e->rsi; RFLAGS = 0x2 (interrupts off).
 * All of @regs is written; of @sregs only those fields (apic_base and the
 * interrupt bitmap are left alone).
 */
void regs_linux64_state(const struct linux64_entry *e, struct kvm_regs *regs,
			struct kvm_sregs *sregs);

/* Put a vCPU in that state (KVM_GET_SREGS, KVM_SET_SREGS, KVM_SET_REGS). Returns 0 or -errno. */
int regs_set_linux64_entry(int vcpu_fd, const struct linux64_entry *e);

#define MSR_IA32_TSC			 0x10
#define MSR_IA32_APICBASE		 0x1b
#define MSR_IA32_APICBASE_BSP		 (1ULL << 8)
#define MSR_IA32_APICBASE_ENABLE	 (1ULL << 11)
#define MSR_IA32_MISC_ENABLE		 0x1a0
#define MSR_IA32_MISC_ENABLE_FAST_STRING (1ULL << 0)

/* Room for regs_boot_msrs(). */
#define REGS_BOOT_MSRS_MAX 4

/*
 * The MSRs evvm sets on vCPU @id before it runs: MISC_ENABLE =
 * @misc_enable | fast strings, TSC = 0, APICBASE = 0xfee00000 | enabled
 * (| BSP on vCPU 0). Writes them to @out; returns how many.
 */
unsigned int regs_boot_msrs(unsigned int id, uint64_t misc_enable, struct kvm_msr_entry *out);

/* KVM_GET_MSR_INDEX_LIST of the /dev/kvm fd: *@out (free() it) holds *@nr indices. */
int msr_index_list(int kvm_fd, uint32_t **out, unsigned int *nr);

/*
 * Set regs_boot_msrs() on a vCPU with KVM_SET_MSRS (MISC_ENABLE read first
 * when KVM lists it in @list, the KVM_GET_MSR_INDEX_LIST). An MSR KVM does
 * not list is still set (KVM handles APICBASE without listing it); one it
 * refuses is an error. Returns 0 or -errno after a message.
 */
int regs_set_boot_msrs(int vcpu_fd, unsigned int id, const uint32_t *list, unsigned int nr);

/* LAPIC register offsets and LVT bits (KVM_GET_LAPIC's 1 KiB page). */
#define APIC_LVT_LINT0	 0x350
#define APIC_LVT_LINT1	 0x360
#define APIC_LVT_DM_MASK 0x700
#define APIC_DM_NMI	 0x400
#define APIC_DM_EXTINT	 0x700
#define APIC_LVT_MASKED	 0x10000

/*
 * In a KVM_GET_LAPIC register page: LINT0's delivery mode = ExtINT and
 * LINT1's = NMI; on the BSP both are also unmasked (virtual wire mode), on
 * an AP their mask bits stay as they were.
 */
void lapic_lint_setup(uint8_t *regs, bool bsp);

/* lapic_lint_setup() on a vCPU through KVM_GET_LAPIC / KVM_SET_LAPIC. Returns 0 or -errno. */
int regs_set_lint(int vcpu_fd, bool bsp);

/*
 * Give the CPUID leaves in @c (@c->nent of them, room for @cap) the
 * topology of @nr_cpus single-threaded cores in one package, seen from the
 * vCPU with APIC id @apic_id: leaf 1 (APIC id, logical count, HTT), 4
 * (cores per package, cache sharing), 0xb and 0x1f (SMT and core levels;
 * sub-leaves added as needed, where KVM offers the leaf), and AMD's
 * 0x80000008 (core count, APIC id size), 0x8000001d (cache sharing) and
 * 0x8000001e (core id). Also sets the hypervisor bit. Returns -E2BIG when
 * @cap is too small.
 */
int cpuid_patch(struct kvm_cpuid2 *c, unsigned int cap, unsigned int apic_id,
		unsigned int nr_cpus);

/* Log the vCPU's registers (one block of lines at error level). */
void regs_dump(int vcpu_fd, unsigned int id);

/*
 * Write an MP specification 1.4 table at @gpa (16-byte aligned, in the BIOS
 * area) describing @nr_cpus processors with APIC ids 0..n-1, one IOAPIC with
 * id @nr_cpus at IOAPIC_BASE and ISA IRQs 0..15 wired to the same pins.
 * Returns the bytes written or -errno.
 */
int mptable_write(const struct evvm_mem *mem, uint64_t gpa, unsigned int nr_cpus,
		  uint32_t cpu_signature, uint32_t cpu_features);

#endif
