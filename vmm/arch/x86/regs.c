// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdlib.h>
#include <string.h>
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

/* ---- the 64-bit Linux entry ---- */

#define X86_CR0_PG  0x80000000ULL
#define X86_CR4_PAE 0x20ULL
#define EFER_LME    0x100ULL
#define EFER_LMA    0x400ULL

void regs_linux64_state(const struct linux64_entry *e, struct kvm_regs *regs,
			struct kvm_sregs *sregs)
{
	/* __BOOT_CS: flat 64-bit code, execute/read (accessed). */
	sregs->cs = (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = LINUX64_BOOT_CS,
		.type = 0xb,
		.present = 1,
		.dpl = 0,
		.db = 0, /* must be 0 with L = 1 */
		.s = 1,
		.l = 1,
		.g = 1,
	};
	/* __BOOT_DS: flat data, read/write (accessed), also in ES, SS, FS, GS. */
	sregs->ds = (struct kvm_segment){
		.base = 0,
		.limit = 0xffffffff,
		.selector = LINUX64_BOOT_DS,
		.type = 0x3,
		.present = 1,
		.dpl = 0,
		.db = 1,
		.s = 1,
		.l = 0,
		.g = 1,
	};
	sregs->es = sregs->fs = sregs->gs = sregs->ss = sregs->ds;
	/* Entry checks want a usable busy 64-bit TSS even though nothing uses it. */
	sregs->tr = (struct kvm_segment){ .limit = 0x67, .type = 0xb, .present = 1 };
	/* No LDT. */
	sregs->ldt = (struct kvm_segment){ .type = 0x2, .present = 0, .unusable = 1 };
	sregs->gdt.base = e->gdt_base;
	sregs->gdt.limit = e->gdt_limit;
	/* No IDT: a fault before the kernel loads its own is a triple fault. */
	sregs->idt.base = 0;
	sregs->idt.limit = 0;
	sregs->cr0 = X86_CR0_PE | X86_CR0_ET | X86_CR0_PG;
	sregs->cr2 = 0;
	sregs->cr3 = e->cr3;
	sregs->cr4 = X86_CR4_PAE;
	sregs->cr8 = 0;
	sregs->efer = EFER_LME | EFER_LMA;

	*regs = (struct kvm_regs){ 0 };
	regs->rip = e->rip;
	regs->rsi = e->rsi;
	regs->rflags = 0x2; /* bit 1 is reserved and must be set; IF off */
}

int regs_set_linux64_entry(int vcpu_fd, const struct linux64_entry *e)
{
	struct kvm_sregs sregs;
	struct kvm_regs regs;

	/* Start from KVM's state: apic_base and the interrupt bitmap stay as they are. */
	if (ioctl(vcpu_fd, KVM_GET_SREGS, &sregs) < 0)
		return -errno;
	regs_linux64_state(e, &regs, &sregs);
	if (ioctl(vcpu_fd, KVM_SET_SREGS, &sregs) < 0)
		return -errno;
	if (ioctl(vcpu_fd, KVM_SET_REGS, &regs) < 0)
		return -errno;
	return 0;
}

/* ---- MSRs ---- */

int msr_index_list(int kvm_fd, uint32_t **out, unsigned int *nr)
{
	struct kvm_msr_list probe = { .nmsrs = 0 };
	struct kvm_msr_list *list;
	int err;

	/* KVM answers E2BIG and the count when the list does not fit. */
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, &probe) < 0 && errno != E2BIG) {
		err = -errno;
		pr_err("KVM_GET_MSR_INDEX_LIST: %s", evvm_strerror(err));
		return err;
	}
	list = calloc(1, sizeof(*list) + (probe.nmsrs + 1) * sizeof(list->indices[0]));
	if (!list)
		return -ENOMEM;
	list->nmsrs = probe.nmsrs;
	if (ioctl(kvm_fd, KVM_GET_MSR_INDEX_LIST, list) < 0) {
		err = -errno;
		pr_err("KVM_GET_MSR_INDEX_LIST: %s", evvm_strerror(err));
		free(list);
		return err;
	}
	*nr = list->nmsrs;
	*out = malloc((list->nmsrs + 1) * sizeof(**out));
	if (!*out) {
		free(list);
		return -ENOMEM;
	}
	memcpy(*out, list->indices, list->nmsrs * sizeof(**out));
	free(list);
	return 0;
}

unsigned int regs_boot_msrs(unsigned int id, uint64_t misc_enable, struct kvm_msr_entry *out)
{
	unsigned int n = 0;

	out[n++] = (struct kvm_msr_entry){ .index = MSR_IA32_MISC_ENABLE,
					   .data = misc_enable | MSR_IA32_MISC_ENABLE_FAST_STRING };
	out[n++] = (struct kvm_msr_entry){ .index = MSR_IA32_TSC, .data = 0 };
	/* KVM's reset value: xAPIC enabled at LAPIC_BASE, BSP on vCPU 0 only. */
	out[n++] = (struct kvm_msr_entry){ .index = MSR_IA32_APICBASE,
					   .data = LAPIC_BASE | MSR_IA32_APICBASE_ENABLE |
						   (id == 0 ? MSR_IA32_APICBASE_BSP : 0) };
	return n;
}

static bool msr_listed(const uint32_t *list, unsigned int nr, uint32_t index)
{
	for (unsigned int i = 0; i < nr; i++)
		if (list[i] == index)
			return true;
	return false;
}

/* One MSR through KVM_GET_MSRS / KVM_SET_MSRS: 0, or -EINVAL when KVM refuses it. */
static int msr_access(int vcpu_fd, unsigned long req, uint32_t index, uint64_t *data)
{
	union {
		struct kvm_msrs hdr;
		uint8_t bytes[sizeof(struct kvm_msrs) + sizeof(struct kvm_msr_entry)];
	} m;
	int r;

	memset(&m, 0, sizeof(m));
	m.hdr.nmsrs = 1;
	m.hdr.entries[0].index = index;
	m.hdr.entries[0].data = *data;
	r = ioctl(vcpu_fd, req, &m);
	if (r < 0)
		return -errno;
	if (r != 1)
		return -EINVAL;
	*data = m.hdr.entries[0].data;
	return 0;
}

int regs_set_boot_msrs(int vcpu_fd, unsigned int id, const uint32_t *list, unsigned int nr)
{
	struct kvm_msr_entry want[REGS_BOOT_MSRS_MAX];
	uint64_t misc = 0;
	unsigned int n;
	int err;

	/* Keep the bits KVM sets in MISC_ENABLE (BTS/PEBS unavailable) and add fast strings. */
	if (msr_listed(list, nr, MSR_IA32_MISC_ENABLE) &&
	    msr_access(vcpu_fd, KVM_GET_MSRS, MSR_IA32_MISC_ENABLE, &misc))
		misc = 0;
	n = regs_boot_msrs(id, misc, want);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t v = want[i].data;

		if (!msr_listed(list, nr, want[i].index))
			pr_debug("vcpu %u: MSR 0x%x is not in KVM_GET_MSR_INDEX_LIST; setting it "
				 "anyway",
				 id, want[i].index);
		err = msr_access(vcpu_fd, KVM_SET_MSRS, want[i].index, &v);
		if (err) {
			pr_err("vcpu %u: KVM_SET_MSRS 0x%x = 0x%llx: %s", id, want[i].index,
			       (unsigned long long)want[i].data,
			       err == -EINVAL ? "refused by KVM" : evvm_strerror(err));
			return err;
		}
	}
	return 0;
}

/* ---- LAPIC LINT0 / LINT1 ---- */

static uint32_t lapic_reg(const uint8_t *regs, unsigned int off)
{
	uint32_t v;

	memcpy(&v, regs + off, 4);
	return v;
}

static void lapic_set_reg(uint8_t *regs, unsigned int off, uint32_t v)
{
	memcpy(regs + off, &v, 4);
}

void lapic_lint_setup(uint8_t *regs, bool bsp)
{
	uint32_t lint0 = lapic_reg(regs, APIC_LVT_LINT0);
	uint32_t lint1 = lapic_reg(regs, APIC_LVT_LINT1);

	/* Delivery mode (bits 10:8): LINT0 the 8259's ExtINT, LINT1 NMI. */
	lint0 = (lint0 & ~APIC_LVT_DM_MASK) | APIC_DM_EXTINT;
	lint1 = (lint1 & ~APIC_LVT_DM_MASK) | APIC_DM_NMI;
	/*
	 * Virtual wire mode on the BSP (both unmasked, as the MP table's local
	 * interrupt entries say); the APs keep KVM's reset mask until the guest
	 * programs them, as Linux does (it masks both on APs).
	 */
	if (bsp) {
		lint0 &= ~APIC_LVT_MASKED;
		lint1 &= ~APIC_LVT_MASKED;
	}
	lapic_set_reg(regs, APIC_LVT_LINT0, lint0);
	lapic_set_reg(regs, APIC_LVT_LINT1, lint1);
}

int regs_set_lint(int vcpu_fd, bool bsp)
{
	struct kvm_lapic_state lapic;

	if (ioctl(vcpu_fd, KVM_GET_LAPIC, &lapic) < 0)
		return -errno;
	lapic_lint_setup((uint8_t *)lapic.regs, bsp);
	if (ioctl(vcpu_fd, KVM_SET_LAPIC, &lapic) < 0)
		return -errno;
	return 0;
}
