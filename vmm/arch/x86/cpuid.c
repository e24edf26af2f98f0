// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include <evvm/log.h>

#include "x86.h"

int cpuid_get_supported(int kvm_fd, struct kvm_cpuid2 **out)
{
	/* KVM says E2BIG until the buffer is large enough. */
	for (unsigned int nent = 64; nent <= 4096; nent *= 2) {
		struct kvm_cpuid2 *c;

		c = calloc(1, sizeof(*c) + nent * sizeof(c->entries[0]));
		if (!c)
			return -ENOMEM;
		c->nent = nent;
		if (ioctl(kvm_fd, KVM_GET_SUPPORTED_CPUID, c) == 0) {
			*out = c;
			return 0;
		}
		free(c);
		if (errno != E2BIG) {
			int err = -errno;

			pr_err("KVM_GET_SUPPORTED_CPUID: %s", evvm_strerror(err));
			return err;
		}
	}
	return -E2BIG;
}

void cpuid_signature(const struct kvm_cpuid2 *c, uint32_t *eax, uint32_t *edx)
{
	*eax = *edx = 0;
	for (unsigned int i = 0; i < c->nent; i++) {
		if (c->entries[i].function == 1) {
			*eax = c->entries[i].eax;
			*edx = c->entries[i].edx;
		}
	}
}

/* Bits needed for @n ids: the APIC id shift to the package level. */
static unsigned int id_bits(unsigned int n)
{
	unsigned int b = 0;

	while ((1u << b) < n)
		b++;
	return b;
}

/* Extended topology (0xb, 0x1f): SMT level (1 thread), core level (all CPUs), end. */
static void topology_leaf(struct kvm_cpuid_entry2 *e, uint32_t function, uint32_t index,
			  unsigned int apic_id, unsigned int nr_cpus)
{
	*e = (struct kvm_cpuid_entry2){
		.function = function,
		.index = index,
		.flags = KVM_CPUID_FLAG_SIGNIFCANT_INDEX,
		.edx = apic_id,
	};
	switch (index) {
	case 0:
		e->eax = 0;
		e->ebx = 1;
		e->ecx = 1u << 8; /* level type 1: SMT */
		break;
	case 1:
		e->eax = id_bits(nr_cpus);
		e->ebx = nr_cpus;
		e->ecx = 2u << 8 | 1; /* level type 2: core */
		break;
	default:
		e->ecx = index; /* level type 0: no more levels */
		break;
	}
}

int cpuid_patch(struct kvm_cpuid2 *c, unsigned int cap, unsigned int apic_id,
		unsigned int nr_cpus)
{
	bool has_0b = false, has_1f = false;
	unsigned int n = 0;

	/* Drop KVM's 0xb/0x1f sub-leaves (host values); ours are added below. */
	for (unsigned int i = 0; i < c->nent; i++) {
		uint32_t f = c->entries[i].function;

		has_0b |= f == 0xb;
		has_1f |= f == 0x1f;
		if (f != 0xb && f != 0x1f)
			c->entries[n++] = c->entries[i];
	}
	c->nent = n;
	if (c->nent + 3 * (has_0b + has_1f) > cap)
		return -E2BIG;
	for (uint32_t idx = 0; idx < 3; idx++) {
		if (has_0b)
			topology_leaf(&c->entries[c->nent++], 0xb, idx, apic_id, nr_cpus);
		if (has_1f)
			topology_leaf(&c->entries[c->nent++], 0x1f, idx, apic_id, nr_cpus);
	}

	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			/* EBX[31:24] initial APIC id, EBX[23:16] logical CPUs per package. */
			e->ebx = (e->ebx & 0xffff) | (apic_id << 24) | ((nr_cpus & 0xff) << 16);
			if (nr_cpus > 1)
				e->edx |= 1u << 28; /* HTT: the count above is valid */
			else
				e->edx &= ~(1u << 28);
			e->ecx |= 1u << 31; /* running under a hypervisor */
			break;
		case 4:
			/* Deterministic cache parameters (Intel); type 0 ends the list. */
			if ((e->eax & 0x1f) == 0)
				break;
			e->eax &= 0x3fff;
			e->eax |= (nr_cpus - 1) << 26; /* cores per package - 1 */
			if (((e->eax >> 5) & 7) == 3)  /* the L3 is shared by all */
				e->eax |= (nr_cpus - 1) << 14;
			break;
		case 0x80000008:
			/* AMD: ECX[7:0] cores - 1, ECX[15:12] APIC id bits for them. */
			e->ecx = (e->ecx & ~0xf0ffu) | (nr_cpus - 1) | id_bits(nr_cpus) << 12;
			break;
		case 0x8000001d:
			/* AMD cache topology: EAX[25:14] CPUs sharing the cache - 1. */
			if ((e->eax & 0x1f) == 0)
				break;
			e->eax &= ~(0xfffu << 14);
			if (((e->eax >> 5) & 7) == 3)
				e->eax |= (nr_cpus - 1) << 14;
			break;
		case 0x8000001e:
			/* AMD: extended APIC id, core id, one thread per core, node 0. */
			e->eax = apic_id;
			e->ebx = apic_id & 0xff;
			e->ecx = 0;
			break;
		}
	}
	return 0;
}

/* Room cpuid_patch() may need beyond what KVM offers. */
#define CPUID_EXTRA 6

int cpuid_set(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned int apic_id,
	      unsigned int nr_cpus)
{
	size_t size = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(size + CPUID_EXTRA * sizeof(supported->entries[0]));
	int err;

	if (!c)
		return -ENOMEM;
	memcpy(c, supported, size);
	err = cpuid_patch(c, supported->nent + CPUID_EXTRA, apic_id, nr_cpus);
	if (!err && ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0)
		err = -errno;
	if (err)
		pr_err("vcpu %u: KVM_SET_CPUID2: %s", apic_id, evvm_strerror(err));
	free(c);
	return err;
}
