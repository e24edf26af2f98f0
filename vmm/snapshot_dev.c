// SPDX-License-Identifier: MIT
/*
 * The virtio devices of a snapshot, in the shape of Firecracker's device
 * "persist" seam: each layer saves its own part. The device says what
 * builds it again (ops->save, devices/persist.c), the transport saves its
 * registers and queues (virtio_mmio_save, vmm/virtio_state.c). Restoring
 * builds the devices first, creates the VM with them in their slots (the
 * fabric: ioeventfds, irqfds, routes, made as for any VM), then loads each
 * transport's state, which starts what the driver had started.
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <evvm/devices.h>
#include <evvm/log.h>

#include "snapshot.h"
#include "snapshot_file.h"
#include "virtio_mmio.h"
#include "virtio_pci.h"
#include "virtio_state.h"
#include "vm.h"

/* The device in @slot of @vm's transport, or NULL past the last one. */
static struct evvm_virtio_dev *slot_dev(struct evvm_vm *vm, unsigned int slot)
{
	if (slot >= EVVM_MAX_VIRTIO)
		return NULL;
	if (vm->pci)
		return vm->virtio_pci[slot] ? virtio_pci_dev(vm->virtio_pci[slot]) : NULL;
	return vm->virtio[slot] ? virtio_mmio_dev(vm->virtio[slot]) : NULL;
}

/* The transport's part: its registers and the device's queues. */
static int save_transport(struct evvm_vm *vm, unsigned int slot, struct snapfile *sf)
{
	struct virtio_pci_state ps;
	struct virtio_state vs;

	if (vm->pci) {
		virtio_pci_save(vm->virtio_pci[slot], &ps);
		return snapfile_add(sf, SNAP_VIRTIO_PCI, slot, &ps, sizeof(ps));
	}
	virtio_mmio_save(vm->virtio[slot], &vs);
	return snapfile_add(sf, SNAP_VIRTIO_MMIO, slot, &vs, sizeof(vs));
}

static int save_one(struct evvm_vm *vm, unsigned int slot, struct snapfile *sf)
{
	struct evvm_virtio_dev *dev = slot_dev(vm, slot);
	struct snap_virtio_dev *h;
	int n, err;

	if (!dev->ops->save) {
		pr_err("snapshot '%s': %s: %s devices are not saved yet", sf->path, dev->id,
		       dev->ops->name);
		return -ENOTSUP;
	}
	/* malloc's alignment is the file's: the device's bytes follow the header. */
	h = calloc(1, sizeof(*h) + EVVM_DEV_STATE_MAX);
	if (!h)
		return -ENOMEM;
	h->device_id = dev->ops->device_id;
	/* A device without kick() is served by another process: a vhost-user backend. */
	h->served_by = dev->ops->kick ? SNAP_SERVED_BY_EVVM : SNAP_SERVED_BY_VHOST_USER;
	snprintf(h->id, sizeof(h->id), "%s", dev->id);
	n = dev->ops->save(dev, h + 1, EVVM_DEV_STATE_MAX);
	if (n < 0) {
		pr_err("snapshot '%s': %s: %s", sf->path, dev->id,
		       n == -EBUSY ? "rx chains the device holds cannot go back to the ring"
				   : evvm_strerror(n));
		free(h);
		return n;
	}
	err = snapfile_add(sf, SNAP_VIRTIO_DEV, slot, h, sizeof(*h) + n);
	free(h);
	return err ? err : save_transport(vm, slot, sf);
}

int snapshot_devices_save(struct evvm_vm *vm, struct snapfile *sf)
{
	struct snap_virtio sv = { .transport = vm->pci ? EVVM_TRANSPORT_PCI : EVVM_TRANSPORT_MMIO };
	int err = 0;

	if (vm->testdev) {
		pr_err("snapshot '%s': the test device is not saved yet", sf->path);
		return -ENOTSUP;
	}
	while (slot_dev(vm, sv.nr_devices))
		sv.nr_devices++;
	for (unsigned int i = 0; !err && i < sv.nr_devices; i++)
		err = save_one(vm, i, sf);
	if (!err)
		err = snapfile_add(sf, SNAP_VM_VIRTIO, 0, &sv, sizeof(sv));
	return err;
}

int snapshot_devices_logged(struct evvm_vm *vm, const char *state_path)
{
	struct evvm_virtio_dev *dev;

	for (unsigned int i = 0; (dev = slot_dev(vm, i)); i++) {
		if (!dev->ops->kick) {
			pr_err("snapshot '%s': %s: a vhost-user backend writes guest memory where "
			       "no dirty log sees it: take a Full snapshot",
			       state_path, dev->id);
			return -ENOTSUP;
		}
	}
	return 0;
}

/* Which overrides named a device of the snapshot: the others are refused. */
struct used_overrides {
	bool disk[EVVM_MAX_VIRTIO], net[EVVM_MAX_VIRTIO];
};

/* The override for drive @id, marked used, or NULL. */
static const char *disk_override(const struct evvm_vm_config *cfg, const char *id, bool *used)
{
	for (unsigned int i = 0; i < cfg->nr_disk_overrides; i++) {
		if (!strcmp(cfg->disk_overrides[i].id, id)) {
			used[i] = true;
			return cfg->disk_overrides[i].path;
		}
	}
	return NULL;
}

/* The tap for interface @id, marked used, or NULL. */
static const char *net_override(const struct evvm_vm_config *cfg, const char *id, bool *used)
{
	for (unsigned int i = 0; i < cfg->nr_net_overrides; i++) {
		if (!strcmp(cfg->net_overrides[i].id, id)) {
			used[i] = true;
			return cfg->net_overrides[i].tap;
		}
	}
	return NULL;
}

static int build_one(const struct snapfile *sf, unsigned int slot, struct evvm_vm_config *cfg,
		     struct used_overrides *used, struct evvm_virtio_dev **out)
{
	const struct snap_virtio_dev *h;
	struct virtio_dev_env env = {
		.origin = sf->path,
		.format = sf->version,
		.console = { .in_fd = -1, .out_fd = cfg->console_out },
		.vhost_user_load = cfg->vhost_user_load,
		.cancel_fd = cfg->vhost_user_load ? cfg->vhost_user_cancel_fd : -1,
	};
	size_t len = 0;

	h = snapfile_find(sf, SNAP_VIRTIO_DEV, slot, 0, &len);
	if (!h)
		return -EINVAL;
	if (len < sizeof(*h) || !memchr(h->id, 0, sizeof(h->id)) || !h->id[0] ||
	    h->served_by > SNAP_SERVED_BY_VHOST_USER) {
		pr_err("snapshot '%s': device %u: header is short, its id is not a string, or "
		       "what served it is unknown",
		       sf->path, slot);
		return -EINVAL;
	}
	env.vhost_user = h->served_by == SNAP_SERVED_BY_VHOST_USER;
	if (h->device_id == VIRTIO_ID_BLOCK)
		env.disk_path = disk_override(cfg, h->id, used->disk);
	if (h->device_id == VIRTIO_ID_NET)
		env.tap = net_override(cfg, h->id, used->net);
	return virtio_dev_load(h->device_id, h->id, h + 1, len - sizeof(*h), &env, out);
}

static void drop_devices(struct evvm_vm_config *cfg)
{
	for (unsigned int i = 0; i < cfg->nr_devices; i++)
		virtio_dev_destroy(cfg->devices[i]);
	cfg->nr_devices = 0;
}

/* An override that named no device of its kind: refused rather than ignored. */
static int unused_override(const struct snapfile *sf, const struct evvm_vm_config *cfg,
			   const struct used_overrides *used)
{
	for (unsigned int i = 0; i < cfg->nr_disk_overrides; i++) {
		if (!used->disk[i]) {
			pr_err("snapshot '%s': no disk '%s' to give the file '%s'", sf->path,
			       cfg->disk_overrides[i].id, cfg->disk_overrides[i].path);
			return -EINVAL;
		}
	}
	for (unsigned int i = 0; i < cfg->nr_net_overrides; i++) {
		if (!used->net[i]) {
			pr_err("snapshot '%s': no network interface '%s' to give the tap '%s'",
			       sf->path, cfg->net_overrides[i].id, cfg->net_overrides[i].tap);
			return -EINVAL;
		}
	}
	return 0;
}

/*
 * Mark the overrides that name a device of @sf, from the headers alone:
 * one naming none is refused before any device opens its file or tap.
 */
static void mark_overrides(const struct snapfile *sf, unsigned int nr,
			   const struct evvm_vm_config *cfg, struct used_overrides *used)
{
	for (unsigned int i = 0; i < nr; i++) {
		size_t len = 0;
		const struct snap_virtio_dev *h = snapfile_find_opt(sf, SNAP_VIRTIO_DEV, i, &len);

		if (!h || len < sizeof(*h) || !memchr(h->id, 0, sizeof(h->id)))
			continue; /* build_one() says what is wrong with it */
		if (h->device_id == VIRTIO_ID_BLOCK)
			disk_override(cfg, h->id, used->disk);
		if (h->device_id == VIRTIO_ID_NET)
			net_override(cfg, h->id, used->net);
	}
}

int snapshot_devices_build(const struct snapfile *sf, struct evvm_vm_config *cfg)
{
	const struct snap_virtio *sv = snapfile_find_opt(sf, SNAP_VM_VIRTIO, 0, NULL);
	struct used_overrides used = { { false } };
	int err = 0;

	cfg->nr_devices = 0;
	if (cfg->nr_disk_overrides > EVVM_MAX_VIRTIO || cfg->nr_net_overrides > EVVM_MAX_VIRTIO) {
		pr_err("snapshot '%s': %u disk and %u network overrides, a VM has at most %u "
		       "devices",
		       sf->path, cfg->nr_disk_overrides, cfg->nr_net_overrides, EVVM_MAX_VIRTIO);
		return -EINVAL;
	}
	if (sv && !snapfile_find(sf, SNAP_VM_VIRTIO, 0, sizeof(*sv), NULL))
		return -EINVAL;
	if (sv && ((sv->transport != EVVM_TRANSPORT_MMIO && sv->transport != EVVM_TRANSPORT_PCI) ||
		   sv->nr_devices > EVVM_MAX_VIRTIO)) {
		pr_err("snapshot '%s': %u devices on transport %u: this evvm restores up to %u on "
		       "virtio-mmio (%u) or virtio-pci (%u)",
		       sf->path, sv->nr_devices, sv->transport, EVVM_MAX_VIRTIO,
		       EVVM_TRANSPORT_MMIO, EVVM_TRANSPORT_PCI);
		return -EINVAL;
	}
	mark_overrides(sf, sv ? sv->nr_devices : 0, cfg, &used);
	err = unused_override(sf, cfg, &used);
	for (unsigned int i = 0; sv && !err && i < sv->nr_devices; i++) {
		err = build_one(sf, i, cfg, &used, &cfg->devices[i]);
		if (!err)
			cfg->nr_devices++;
	}
	if (err)
		drop_devices(cfg);
	cfg->transport = sv ? sv->transport : EVVM_TRANSPORT_MMIO;
	return err;
}

static int restore_one(struct evvm_vm *vm, unsigned int slot, const struct snapfile *sf)
{
	const struct virtio_pci_state *ps;
	const struct virtio_state *vs;

	if (vm->pci) {
		ps = snapfile_find(sf, SNAP_VIRTIO_PCI, slot, sizeof(*ps), NULL);
		return ps ? virtio_pci_restore(vm->virtio_pci[slot], ps, sf->path) : -EINVAL;
	}
	vs = snapfile_find(sf, SNAP_VIRTIO_MMIO, slot, sizeof(*vs), NULL);
	return vs ? virtio_mmio_restore(vm->virtio[slot], vs, sf->path) : -EINVAL;
}

int snapshot_devices_restore(struct evvm_vm *vm, const struct snapfile *sf)
{
	int err = 0;

	for (unsigned int i = 0; !err && slot_dev(vm, i); i++)
		err = restore_one(vm, i, sf);
	return err;
}
