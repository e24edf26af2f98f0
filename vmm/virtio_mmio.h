/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_VIRTIO_MMIO_H
#define EVVM_VMM_VIRTIO_MMIO_H

#include <stdint.h>

#include <evvm/device.h>

struct evvm_vm;
struct virtio_mmio;

#define VIRTIO_MMIO_SIZE 0x1000

/*
 * Put @dev behind a virtio-mmio (version 2) register window at @base with
 * its interrupt on @gsi: one irqfd for the device, and at DRIVER_OK one
 * ioeventfd per queue on QueueNotify (length 4, datamatch = queue index).
 * The transport owns @dev from then on (also on failure). Returns 0 or
 * -errno after logging.
 */
int virtio_mmio_create(struct evvm_vm *vm, struct evvm_virtio_dev *dev, uint64_t base,
		       uint32_t gsi, struct virtio_mmio **out);

/* The device behind the transport (for its counters). */
struct evvm_virtio_dev *virtio_mmio_dev(struct virtio_mmio *t);

/* Reset the device, release its fds and I/O thread, destroy it. NULL is ignored. */
void virtio_mmio_destroy(struct virtio_mmio *vm);

#endif
