/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_VIRTIO_STATE_H
#define EVVM_VMM_VIRTIO_STATE_H

#include <stdint.h>

#include <evvm/device.h>

/*
 * The common part of a virtio device's state in a snapshot (virtio 1.2,
 * 2.1-2.7): device status, features, selectors, interrupt status, config
 * generation and every queue's setup and position. A transport fills it
 * from its registers (virtio_mmio_save) and loads it back into a device
 * just created from the snapshot (virtio_mmio_restore); everything read
 * from a file is checked here first. On disk as is: little-endian, every
 * field naturally aligned, reserved fields zero.
 */

struct virtio_state_queue {
	uint64_t desc, avail, used; /* guest addresses of the three areas */
	uint16_t num;
	uint16_t last_avail; /* the next avail entry the device takes */
	uint16_t used_idx;   /* the used index published (= the ring's) */
	uint16_t signalled_used;
	uint16_t unpopped;
	uint8_t ready;
	uint8_t signalled_used_valid;
	uint32_t reserved;
};

struct virtio_state {
	uint32_t device_id, nr_queues;
	uint32_t status, isr;
	uint32_t config_generation, queue_sel;
	uint32_t dev_features_sel, drv_features_sel;
	uint64_t offered; /* what the device offered when saved (information) */
	uint64_t driver_features;
	struct virtio_state_queue q[EVVM_VIRTIO_MAX_QUEUES];
};

/*
 * Check @s, read from the state file @file, against @dev (a device just
 * built from the same snapshot, offering @offered): the device type and
 * queue count, known status bits in a reachable combination, an interrupt
 * status of known bits, features the device offers (VERSION_1 once
 * FEATURES_OK), queues beyond the device's empty, ready queues of a size
 * that is a power of 2 the device takes and flags of 0 or 1. -EINVAL after
 * one line naming @file, the device and the fault.
 */
int virtio_state_check(const struct virtio_state *s, const struct evvm_virtio_dev *dev,
		       uint64_t offered, const char *file);

/*
 * Map ready queue @q of @s into @dev->vqs[@q] (vq_init: the rings must lie
 * in guest RAM, aligned) at its saved position, and check that the used
 * index in guest memory is the saved one. @name is the queue's name for
 * the virtqueue's messages (kept). 0 or -EINVAL after a line naming @file.
 */
int virtio_state_load_queue(const struct virtio_state *s, struct evvm_virtio_dev *dev,
			    unsigned int q, const char *name, const char *file);

/*
 * A queue's position to save: chains a paused device still holds (blk's
 * request waiting for rate-limit tokens: popped, never started) go back
 * to the avail ring, so the restored device takes them again. Right only
 * when the held chains are the queue's last pops, as for blk, rng and
 * console (net can hold an rx chain popped before one it pushed: one
 * reason it is not saved yet).
 */
void virtio_state_save_queue(struct virtio_state_queue *sq, const struct evvm_vq *vq);

#endif
