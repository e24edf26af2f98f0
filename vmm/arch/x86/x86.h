/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_X86_H
#define EVVM_VMM_X86_H

#include <stdint.h>

#include <evvm/mem.h>

struct kvm_cpuid2;

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
