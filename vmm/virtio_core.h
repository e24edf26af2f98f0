/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_VIRTIO_CORE_H
#define EVVM_VMM_VIRTIO_CORE_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <evvm/device.h>

#include "ioeventfd.h"
#include "kick_latency.h"

/*
 * What a virtio transport does whatever its registers look like (virtio
 * 1.2, 3.1 and 2.1): the device status state machine, feature acceptance,
 * per-queue setup and its checks, one kick eventfd per queue read on the
 * device's I/O thread, and the queues' doorbell ioeventfds. The transport
 * keeps the register layout and the interrupt path, and serialises every
 * call here under its own lock (vCPU threads); the I/O thread only reads
 * kicks and raises NEEDS_RESET.
 *
 * virtio-pci uses it; virtio-mmio still has its own copy of the same rules
 * (moving it here is a follow-up, after the stats work on virtio_mmio.c).
 */

struct vcore;

struct vcore_ops {
	/* The doorbell of queue @q, or false when it has none now (BAR not decoded). */
	bool (*notify_key)(void *opaque, unsigned int q, struct ioeventfd_key *key);
	/* DEVICE_NEEDS_RESET was just set: send a configuration-change interrupt. */
	void (*config_interrupt)(void *opaque);
};

struct vcore_queue {
	uint16_t num;
	bool ready;
	uint64_t desc, avail, used;
	int kick_fd;
	bool watched;  /* kick_fd on the I/O thread's loop */
	bool assigned; /* the ioeventfd @key is in place */
	struct ioeventfd_key key;
	struct ioeventfd *doorbell; /* while assigned: its kicks counter */
	/* Counted on the I/O thread, read by --stats: as virtio_mmio_queue_stats. */
	_Atomic uint64_t kicks, kick_wakeups;
	struct kick_latency latency; /* stopped by the transport's interrupt */
	struct vcore *c;
	unsigned int index;
	char name[48]; /* "blk0.q0", for the virtqueue's messages */
};

/*
 * An I/O thread's device instance (group 0: the device; others: its
 * clones, ops->clone). Queue q is served by group q % nr_groups.
 */
struct vcore_group {
	struct vcore *c;
	struct evvm_virtio_dev *dev; /* on its own dev->loop */
	unsigned int index;
	bool io_quiesced; /* vm_pause() quiesced it, as its I/O thread sees it */
};

struct vcore {
	struct evvm_virtio_dev *dev;
	const char *name; /* the transport's, for messages; not owned */
	struct ioeventfd_table *ioeventfds;
	const struct vcore_ops *ops;
	void *opaque;
	uint64_t driver_features;
	bool started;
	bool quiesced; /* vm_pause() quiesced the device */
	_Atomic uint32_t status;
	struct vcore_queue q[EVVM_VIRTIO_MAX_QUEUES];
	struct vcore_group g[EVVM_VIRTIO_MAX_QUEUES];
	unsigned int nr_groups;
};

/*
 * Take @dev's queues: one kick eventfd each, put in dev->kick_fds. 0 or
 * -errno (-EINVAL for too many queues); vcore_destroy() either way.
 */
int vcore_init(struct vcore *c, struct evvm_virtio_dev *dev, const char *name,
	       struct ioeventfd_table *ioeventfds, const struct vcore_ops *ops, void *opaque);

/*
 * Serve some of the queues with @inst (a clone of the device, on a loop of
 * its own, wired to the same transport): queue q goes to instance
 * q % (instances), the device itself being instance 0. Before the driver
 * starts the device; not owned. 0, or -ENOSPC past one per queue.
 */
int vcore_add_instance(struct vcore *c, struct evvm_virtio_dev *inst);

/* Close the kick eventfds. The device must be stopped (vcore_reset). */
void vcore_destroy(struct vcore *c);

/* Features offered: the device's plus VERSION_1. */
uint64_t vcore_offered(const struct vcore *c);

/* A driver write of @v to device_status (0 resets). */
void vcore_set_status(struct vcore *c, uint32_t v);

/* Status 0, or teardown: stop the device, unhook the doorbells, forget the queues. */
void vcore_reset(struct vcore *c);

/* The driver enabled queue @q: check its size and rings (-> NEEDS_RESET if bad). */
void vcore_queue_enable(struct vcore *c, unsigned int q);

/* DEVICE_NEEDS_RESET (device or transport found the driver at fault). Any thread. */
void vcore_fail(struct vcore *c);

/* The doorbells moved (or appeared, or vanished): re-key the ioeventfds of a started device. */
void vcore_rekey(struct vcore *c);

/*
 * vm_pause() (@quiesced) or vm_resume(), under the transport's lock: kick
 * eventfds not read and the device quiesced (ops->quiesce), or the
 * reverse, on the I/O thread. 0 (also for a device not started) or -errno
 * after logging; on failure the device stays as it was.
 */
int vcore_quiesce(struct vcore *c, bool quiesced);

struct virtio_state;

/*
 * Snapshots, under the transport's lock with the device quiesced: the
 * device status, features and queues of @c into @s (the transport adds
 * its registers).
 */
void vcore_save(struct vcore *c, struct virtio_state *s);

/*
 * Load @s (read from @file: checked first) into @c, a device just created
 * and not started, and start it if the driver had (each queue looked at
 * once, so kicks the old process never read are not lost). 0, or -errno
 * after a line naming @file; the device is then reset.
 */
int vcore_restore(struct vcore *c, const struct virtio_state *s, const char *file);

/* A doorbell write that reached the transport instead of an ioeventfd: kick @q if live. */
void vcore_kick_by_hand(struct vcore *c, unsigned int q);

#endif
