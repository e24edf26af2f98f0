/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_SNAPSHOT_H
#define EVVM_VMM_SNAPSHOT_H

#include <stdint.h>

#include <evvm/vm.h>

struct vcpu;
struct snapfile;
struct evvm_vm;
struct evvm_vm_config;

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

/* The virtio devices (section SNAP_VM_VIRTIO): their transport, how many slots. */
struct snap_virtio {
	uint32_t transport; /* enum evvm_transport */
	uint32_t nr_devices;
};

/* One device (SNAP_VIRTIO_DEV, index: its slot); its ops->save() bytes follow. */
struct snap_virtio_dev {
	uint32_t device_id; /* VIRTIO_ID_* */
	uint32_t served_by; /* enum snap_served_by: whose ops->save() the bytes are */
	char id[32];	    /* NUL-terminated */
};

enum snap_served_by {
	SNAP_SERVED_BY_EVVM,	   /* evvm's own device (devices/) */
	SNAP_SERVED_BY_VHOST_USER, /* a vhost-user backend, through evvm's frontend */
};

/*
 * Append every virtio device of the paused @vm (snapshot_dev.c): what
 * builds it again, and its transport's state. -ENOTSUP, logged naming
 * @sf's file, for what is not saved yet (the test device, a device
 * without ops->save).
 */
int snapshot_devices_save(struct evvm_vm *vm, struct snapfile *sf);

/*
 * Build the devices of @sf into @cfg (cfg->devices, nr_devices,
 * transport), with @cfg's disk overrides applied and checked. On failure
 * nothing is left in @cfg. 0 or -errno after a line naming the file.
 */
int snapshot_devices_build(const struct snapfile *sf, struct evvm_vm_config *cfg);

/*
 * -ENOTSUP, logged naming @state_path, if a device of @vm writes guest
 * RAM from another process (a vhost-user backend), where no dirty log
 * sees it: a diff snapshot would miss those pages.
 */
int snapshot_devices_logged(struct evvm_vm *vm, const char *state_path);

/*
 * Guest RAM of the paused @vm to @path as @type says (snapshot_mem.c),
 * through a temporary file fsync'd and renamed into place. With
 * cfg.track_dirty_pages it takes the dirty logs, full or diff, so the
 * snapshot is the next diff's base. 0 or -errno, logged naming @path.
 */
int snapshot_mem_save(struct evvm_vm *vm, const char *path, enum evvm_snapshot_type type);

/* Load each device's transport state into the VM built with them. 0 or -errno, logged. */
int snapshot_devices_restore(struct evvm_vm *vm, const struct snapfile *sf);

#endif
