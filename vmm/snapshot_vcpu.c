// SPDX-License-Identifier: MIT
/*
 * One vCPU's KVM state to and from the snapshot state file: each KVM
 * structure is a section of its own, indexed by the vCPU's number, stored
 * as KVM returns it (the file is only read on the same kind of host).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <linux/kvm.h>

#include <evvm/log.h>

#include "snapshot.h"
#include "snapshot_file.h"
#include "vm.h"

/* What KVM_GET_MSR_INDEX_LIST may list; real lists have a few hundred. */
#define SNAP_MAX_MSRS 1024

struct snap_ioctl {
	uint32_t tag;
	unsigned long get, set;
	size_t size;
	const char *name;
};

/*
 * Fixed-size state, in the order it is restored. KVM's rules: SREGS before
 * LAPIC (apic_base in SREGS picks xAPIC or x2APIC, which decides how
 * KVM_SET_LAPIC reads the APIC ID); XSAVE after SREGS (CR4.OSXSAVE);
 * MSRs after LAPIC (MSR_IA32_TSC_DEADLINE is dropped unless the LAPIC
 * timer is already in TSC-deadline mode), see snapshot_vcpu_restore().
 */
static const struct snap_ioctl vcpu_regs[] = {
	{ SNAP_VCPU_REGS, KVM_GET_REGS, KVM_SET_REGS, sizeof(struct kvm_regs), "REGS" },
	{ SNAP_VCPU_SREGS, KVM_GET_SREGS, KVM_SET_SREGS, sizeof(struct kvm_sregs), "SREGS" },
	{ SNAP_VCPU_XCRS, KVM_GET_XCRS, KVM_SET_XCRS, sizeof(struct kvm_xcrs), "XCRS" },
	{ SNAP_VCPU_XSAVE, KVM_GET_XSAVE, KVM_SET_XSAVE, sizeof(struct kvm_xsave), "XSAVE" },
	{ SNAP_VCPU_DEBUGREGS, KVM_GET_DEBUGREGS, KVM_SET_DEBUGREGS, sizeof(struct kvm_debugregs),
	  "DEBUGREGS" },
	{ SNAP_VCPU_LAPIC, KVM_GET_LAPIC, KVM_SET_LAPIC, sizeof(struct kvm_lapic_state), "LAPIC" },
};

/* Restored last: pending events, then the run state (see snapshot_vcpu_restore()). */
static const struct snap_ioctl vcpu_last[] = {
	{ SNAP_VCPU_EVENTS, KVM_GET_VCPU_EVENTS, KVM_SET_VCPU_EVENTS,
	  sizeof(struct kvm_vcpu_events), "VCPU_EVENTS" },
	{ SNAP_VCPU_MP_STATE, KVM_GET_MP_STATE, KVM_SET_MP_STATE, sizeof(struct kvm_mp_state),
	  "MP_STATE" },
};

static int vcpu_ioctl(struct vcpu *vcpu, unsigned long req, void *arg, const char *name)
{
	if (ioctl(vcpu->fd, req, arg) < 0) {
		int err = -errno;

		pr_err("vcpu %u: KVM_%s: %s", vcpu->id, name, evvm_strerror(err));
		return err;
	}
	return 0;
}

static int snap_get(struct vcpu *vcpu, const struct snap_ioctl *s, struct snapfile *sf)
{
	void *buf = calloc(1, s->size);
	int err;

	if (!buf)
		return -ENOMEM;
	err = vcpu_ioctl(vcpu, s->get, buf, s->name);
	if (!err)
		err = snapfile_add(sf, s->tag, vcpu->id, buf, s->size);
	free(buf);
	return err;
}

static int snap_set(struct vcpu *vcpu, const struct snap_ioctl *s, const struct snapfile *sf)
{
	const void *p = snapfile_find(sf, s->tag, vcpu->id, s->size, NULL);
	void *buf;
	int err;

	if (!p)
		return -EINVAL;
	/* A copy: KVM may want it aligned, the file's sections are only 8-aligned. */
	buf = malloc(s->size);
	if (!buf)
		return -ENOMEM;
	memcpy(buf, p, s->size);
	err = vcpu_ioctl(vcpu, s->set, buf, s->name);
	free(buf);
	return err;
}

/* The MSRs KVM says it saves and restores (KVM_GET_MSR_INDEX_LIST). */
static int snap_msr_list(struct evvm_vm *vm, struct kvm_msr_list **out)
{
	struct kvm_msr_list *l = calloc(1, sizeof(*l) + SNAP_MAX_MSRS * sizeof(uint32_t));

	if (!l)
		return -ENOMEM;
	l->nmsrs = SNAP_MAX_MSRS;
	if (ioctl(vm->kvm_fd, KVM_GET_MSR_INDEX_LIST, l) < 0) {
		int err = -errno;

		pr_err("KVM_GET_MSR_INDEX_LIST: %s", evvm_strerror(err));
		free(l);
		return err;
	}
	*out = l;
	return 0;
}

/*
 * Read every listed MSR. KVM_GET_MSRS stops at the first one it cannot
 * read (an MSR of a feature this CPU lacks, as nested KVM often does):
 * that one is left out, logged, and the read goes on after it.
 */
static int snap_get_msrs(struct vcpu *vcpu, struct snapfile *sf)
{
	struct kvm_msr_list *list = NULL;
	struct kvm_msrs *m;
	uint32_t n = 0, done = 0;
	int err = snap_msr_list(vcpu->vm, &list);

	if (err)
		return err;
	m = calloc(1, sizeof(*m) + list->nmsrs * sizeof(struct kvm_msr_entry));
	if (!m) {
		free(list);
		return -ENOMEM;
	}
	for (uint32_t i = 0; i < list->nmsrs; i++)
		m->entries[i].index = list->indices[i];
	n = list->nmsrs;
	while (done < n) {
		struct kvm_msrs *part =
			(struct kvm_msrs *)((char *)m + done * sizeof(m->entries[0]));
		struct kvm_msrs hdr = *part; /* the part's header overlays earlier entries */
		int got;

		part->nmsrs = n - done;
		part->pad = 0;
		got = ioctl(vcpu->fd, KVM_GET_MSRS, part);
		*part = hdr;
		if (got < 0) {
			err = -errno;
			pr_err("vcpu %u: KVM_GET_MSRS: %s", vcpu->id, evvm_strerror(err));
			goto out;
		}
		done += got;
		if (done < n) {
			pr_debug("vcpu %u: MSR 0x%x not readable, left out of the snapshot",
				 vcpu->id, m->entries[done].index);
			memmove(&m->entries[done], &m->entries[done + 1],
				(n - done - 1) * sizeof(m->entries[0]));
			n--;
		}
	}
	m->nmsrs = n;
	err = snapfile_add(sf, SNAP_VCPU_MSRS, vcpu->id, m,
			   sizeof(*m) + n * sizeof(struct kvm_msr_entry));
out:
	free(m);
	free(list);
	return err;
}

static int snap_set_msrs(struct vcpu *vcpu, const struct snapfile *sf)
{
	size_t len = 0;
	const void *p = snapfile_find(sf, SNAP_VCPU_MSRS, vcpu->id, 0, &len);
	struct kvm_msrs *m;
	int got, err = 0;

	if (!p)
		return -EINVAL;
	if (len < sizeof(*m) ||
	    ((struct kvm_msrs *)p)->nmsrs != (len - sizeof(*m)) / sizeof(struct kvm_msr_entry) ||
	    (len - sizeof(*m)) % sizeof(struct kvm_msr_entry) ||
	    ((struct kvm_msrs *)p)->nmsrs > SNAP_MAX_MSRS) {
		pr_err("snapshot '%s': vcpu %u: MSR section of %zu bytes is malformed", sf->path,
		       vcpu->id, len);
		return -EINVAL;
	}
	m = malloc(len);
	if (!m)
		return -ENOMEM;
	memcpy(m, p, len);
	got = ioctl(vcpu->fd, KVM_SET_MSRS, m);
	if (got < 0) {
		err = -errno;
		pr_err("vcpu %u: KVM_SET_MSRS: %s", vcpu->id, evvm_strerror(err));
	} else if ((uint32_t)got != m->nmsrs) {
		/* KVM stops at the first MSR it refuses: name it. */
		pr_err("vcpu %u: KVM_SET_MSRS refused MSR 0x%x (%d of %u set)", vcpu->id,
		       m->entries[got].index, got, m->nmsrs);
		err = -EINVAL;
	}
	free(m);
	return err;
}

int snapshot_vcpu_save(struct vcpu *vcpu, struct snapfile *sf)
{
	int err = 0;

	/*
	 * MP_STATE first: KVM_GET_MP_STATE makes KVM take pending INIT/SIPI
	 * (kvm_apic_accept_events), which may change the registers read after it.
	 */
	err = snap_get(vcpu, &vcpu_last[1], sf);
	for (size_t i = 0; !err && i < sizeof(vcpu_regs) / sizeof(vcpu_regs[0]); i++)
		err = snap_get(vcpu, &vcpu_regs[i], sf);
	if (!err)
		err = snap_get_msrs(vcpu, sf);
	if (!err)
		err = snap_get(vcpu, &vcpu_last[0], sf);
	return err;
}

int snapshot_vcpu_restore(struct vcpu *vcpu, const struct snapfile *sf)
{
	int err = 0;

	/* REGS, SREGS, XCRS, XSAVE, DEBUGREGS, LAPIC: the order of vcpu_regs[]. */
	for (size_t i = 0; !err && i < sizeof(vcpu_regs) / sizeof(vcpu_regs[0]); i++)
		err = snap_set(vcpu, &vcpu_regs[i], sf);
	/*
	 * MSRs after LAPIC (TSC-deadline, above) and in the list's order, which
	 * puts MSR_IA32_TSC (0x10) before MSR_IA32_TSC_DEADLINE (0x6e0), whose
	 * value is an absolute TSC.
	 */
	if (!err)
		err = snap_set_msrs(vcpu, sf);
	/*
	 * Pending exceptions and interrupts, then MP_STATE, last: KVM_SET_LAPIC
	 * and KVM_SET_SREGS may themselves change what is pending or whether the
	 * vCPU runnable, so the saved values must come after them.
	 */
	for (size_t i = 0; !err && i < sizeof(vcpu_last) / sizeof(vcpu_last[0]); i++)
		err = snap_set(vcpu, &vcpu_last[i], sf);
	return err;
}
