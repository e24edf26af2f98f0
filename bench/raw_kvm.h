// SPDX-License-Identifier: MIT
/*
 * The raw-KVM reference for the fabric benchmark: the smallest host that
 * runs the test guest's tests=bench (docs/testdev.md, "Benchmark guest
 * protocol") with bench.setup=none, wiring the same kernel fabric evvm uses
 * (an MMIO ioeventfd, an MSI irqfd, one thread answering kicks) with no
 * evvm code at all. Only libc, pthreads and <linux/kvm.h>.
 */
#ifndef EVVM_BENCH_RAW_KVM_H
#define EVVM_BENCH_RAW_KVM_H

#include <stddef.h>
#include <stdint.h>

struct raw_result {
	double phase_ns[3]; /* phases 1..3 (MARK p to MARK p|0x100); 0 if unfinished */
	int status;	    /* the guest's exit status (port 0xf4 value & 0xff) */
};

/*
 * Boot the PVH ELF @elf/@size with @cmdline (at most 4095 bytes) on 1 vCPU
 * and @mem_mb MiB of RAM (2..3072); ioeventfd (MMIO, no datamatch, length
 * @doorbell_len: 4, or 0 for any write) at @doorbell, an MSI irqfd to
 * @vector on APIC 0, and a thread that answers each kick by writing the
 * irqfd. Runs until the guest writes port 0xf4.
 * Returns 0 (see @out->status for the guest's verdict) or -errno (with a
 * message on stderr).
 */
int raw_kvm_run(const void *elf, size_t size, const char *cmdline, uint64_t doorbell,
		unsigned int doorbell_len, unsigned int vector, unsigned int mem_mb,
		struct raw_result *out);

#endif
