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

int cpuid_set(int vcpu_fd, const struct kvm_cpuid2 *supported, unsigned int apic_id,
	      unsigned int nr_cpus)
{
	size_t size = sizeof(*supported) + supported->nent * sizeof(supported->entries[0]);
	struct kvm_cpuid2 *c = malloc(size);
	int err = 0;

	if (!c)
		return -ENOMEM;
	memcpy(c, supported, size);
	for (unsigned int i = 0; i < c->nent; i++) {
		struct kvm_cpuid_entry2 *e = &c->entries[i];

		switch (e->function) {
		case 1:
			/* EBX[31:24] initial APIC id, EBX[23:16] logical CPUs per package. */
			e->ebx = (e->ebx & 0xffff) | (apic_id << 24) | ((nr_cpus & 0xff) << 16);
			if (nr_cpus > 1)
				e->edx |= 1u << 28; /* HTT: the count above is valid */
			e->ecx |= 1u << 31;	     /* running under a hypervisor */
			break;
		case 0xb:
		case 0x1f:
			/* Extended topology: every sub-leaf reports the x2APIC id. */
			e->edx = apic_id;
			break;
		}
	}
	if (ioctl(vcpu_fd, KVM_SET_CPUID2, c) < 0) {
		err = -errno;
		pr_err("vcpu %u: KVM_SET_CPUID2: %s", apic_id, evvm_strerror(err));
	}
	free(c);
	return err;
}
