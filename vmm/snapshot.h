/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_SNAPSHOT_H
#define EVVM_VMM_SNAPSHOT_H

#include <stdint.h>

struct vcpu;
struct snapfile;

/* The VM's shape, which the restoring process builds again (section SNAP_VM_CONFIG). */
struct snap_vm_config {
	uint64_t mem_size;
	uint32_t nr_cpus;
	uint32_t no_acpi;
};

/*
 * Append @vcpu's KVM state (registers, special registers, XSAVE, XCRs,
 * MSRs, LAPIC, MP state, pending events, debug registers) to @sf. The
 * vCPU must not be in KVM_RUN. 0 or -errno, logged.
 */
int snapshot_vcpu_save(struct vcpu *vcpu, struct snapfile *sf);

/*
 * Load @vcpu's state from @sf into a vCPU just created (KVM_CREATE_VCPU,
 * CPUID set), in the order KVM needs. 0 or -errno, logged.
 */
int snapshot_vcpu_restore(struct vcpu *vcpu, const struct snapfile *sf);

#endif
