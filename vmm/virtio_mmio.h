/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_VIRTIO_MMIO_H
#define EVVM_VMM_VIRTIO_MMIO_H

#include <stdint.h>

#include <evvm/device.h>

#include "kick_latency.h"

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
int virtio_mmio_create(struct evvm_vm *vm, struct evvm_virtio_dev *dev, uint64_t base, uint32_t gsi,
		       struct virtio_mmio **out);

/* The device behind the transport (for its counters). */
struct evvm_virtio_dev *virtio_mmio_dev(struct virtio_mmio *t);

/*
 * Doorbell counters of one queue, over the transport's life. kicks: the
 * guest's writes to QueueNotify for the queue, as the values the I/O thread
 * read from its kick eventfd (KVM or evvm adds 1 per write, so this is
 * exact whether or not the VMM saw the write); kick_wakeups: those reads,
 * each one wakeup of the I/O thread for any number of kicks; interrupts:
 * used-buffer notifications the device sent for the queue;
 * kick_to_interrupt: the queue's struct kick_latency histogram.
 */
struct virtio_mmio_queue_stats {
	uint64_t kicks, kick_wakeups, interrupts;
	uint64_t kick_to_interrupt[EVVM_KICK_LATENCY_BUCKETS];
};

struct virtio_mmio_stats {
	bool kicks_seen; /* false: the device's queues are served by another process */
	unsigned int nr_queues;
	uint64_t config_interrupts; /* configuration-change (needs-reset) interrupts */
	struct virtio_mmio_queue_stats q[EVVM_VIRTIO_MAX_QUEUES];
};

/* A snapshot of @t's doorbell counters; safe while the device runs. */
void virtio_mmio_get_stats(struct virtio_mmio *t, struct virtio_mmio_stats *s);

/*
 * vm_pause() (@quiesced) or vm_resume(), with the vCPUs parked: on the
 * device's I/O thread the queues' kick eventfds are no longer read (kicks
 * wait in them) and the device quiesces (ops->quiesce), or the reverse. A
 * device the driver has not started has nothing to do. 0 or -errno after
 * logging; on failure the device stays as it was.
 */
int virtio_mmio_quiesce(struct virtio_mmio *t, bool quiesced);

struct virtio_state;

/*
 * Snapshot (the VM paused): the registers, features and queues of @t's
 * device into @s. Queue positions come from the device's rings (see
 * virtio_state_save_queue).
 */
void virtio_mmio_save(struct virtio_mmio *t, struct virtio_state *s);

/*
 * Restore (before any vCPU runs): @s, read from the state file @file,
 * checked (virtio_state_check, virtio_state_load_queue) and loaded into
 * @t, whose device was built from the same snapshot; a device the driver
 * had started is started again (its doorbell ioeventfds assigned, its
 * queues looked at once, for kicks the old process never read). 0, or
 * -EINVAL after a line naming @file and the fault; the transport is then
 * as created (virtio_mmio_destroy() it).
 */
int virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_state *s, const char *file);

/* Reset the device, release its fds and I/O thread, destroy it. NULL is ignored. */
void virtio_mmio_destroy(struct virtio_mmio *vm);

#endif
