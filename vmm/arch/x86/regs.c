// SPDX-License-Identifier: MIT
#include <errno.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include <evvm/log.h>

#include "x86.h"

#define X86_CR0_PE 0x1
#define X86_CR0_ET 0x10

static void flat_segment(struct kvm_segment *s, uint16_t selector, uint8_t type)
{
	*s = (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = selector,
		.type = type,
		.present = 1,
		.dpl = 0,
		.db = 1, /* 32-bit */
		.s = 1,	 /* code or data, not system */
		.l = 0,
		.g = 1, /* limit in pages */
	};
}

int regs_set_pvh_entry(int vcpu_fd, uint32_t entry, uint32_t rbx)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs = { 0 };

	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;

	/* PVH: flat 32-bit code (exec/read) and data (read/write) segments. */
	flat_segment(&sregs.cs, 0x10, 0xb);
	flat_segment(&sregs.ds, 0x18, 0x3);
	sregs.es = sregs.fs = sregs.gs = sregs.ss = sregs.ds;
	/* Entry checks want a usable busy TSS even though nothing uses it. */
	sregs.tr = (struct kvm_segment){ .limit = 0x67, .type = 0xb, .present = 1 };
	sregs.cr0 = X86_CR0_PE | X86_CR0_ET;
	sregs.cr3 = 0;
	sregs.cr4 = 0;
	sregs.efer = 0;
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;

	regs.rip = entry;
	regs.rbx = rbx;
	regs.rflags = 0x2; /* bit 1 is reserved and must be set; IF off */
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

void regs_dump(int vcpu_fd, unsigned int id)
{
	struct kvm_regs r;
	struct kvm_sregs s;

	if (ioctl(vcpu_fd, KVM_GET_REGS, &r) < 0 || ioctl(vcpu_fd, KVM_GET_SREGS, &s) < 0) {
		pr_err("vcpu %u: cannot read registers: %s", id, evvm_strerror(errno));
		return;
	}
	pr_err("vcpu %u: rip=%016llx rsp=%016llx rflags=%08llx", id, r.rip, r.rsp, r.rflags);
	pr_err("vcpu %u: rax=%016llx rbx=%016llx rcx=%016llx rdx=%016llx", id, r.rax, r.rbx,
	       r.rcx, r.rdx);
	pr_err("vcpu %u: rsi=%016llx rdi=%016llx rbp=%016llx", id, r.rsi, r.rdi, r.rbp);
	pr_err("vcpu %u: cr0=%08llx cr2=%016llx cr3=%016llx cr4=%08llx efer=%llx", id, s.cr0,
	       s.cr2, s.cr3, s.cr4, s.efer);
	pr_err("vcpu %u: cs=%04x(l=%u db=%u) idt=%016llx/%x gdt=%016llx/%x", id, s.cs.selector,
	       s.cs.l, s.cs.db, s.idt.base, s.idt.limit, s.gdt.base, s.gdt.limit);
}
