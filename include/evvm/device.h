/* SPDX-License-Identifier: MIT */
#ifndef EVVM_DEVICE_H
#define EVVM_DEVICE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <evvm/loop.h>
#include <evvm/mem.h>
#include <evvm/virtio.h>
#include <evvm/virtqueue.h>

/*
 * A virtio device, as the device code sees it: queues, features and config,
 * and nothing of KVM or of the transport. A transport (virtio-mmio in the
 * VMM, or the vhost-user backend server) owns a struct evvm_virtio_dev,
 * negotiates features, sets up the queues, turns kicks into ops->kick() on
 * the device's I/O thread, and turns dev->notify() into an interrupt.
 *
 * Threads: every op except config_read/config_write runs on the device's
 * I/O thread (dev->loop), so device state needs no locks of its own. The
 * config ops run on a vCPU thread and may only touch what the device
 * guards for that (usually: config space that never changes).
 */

#define EVVM_VIRTIO_MAX_QUEUES 16

struct evvm_virtio_dev;

/* One named device counter, for `evvm run --stats`. */
struct evvm_dev_counter {
	const char *name; /* a JSON key: "tx_packets" */
	uint64_t value;
};

#define EVVM_DEV_MAX_COUNTERS 32

struct evvm_device_ops {
	const char *name;   /* "blk", "rng", "console" */
	uint32_t device_id; /* VIRTIO_ID_* */
	unsigned int nr_queues;
	uint16_t queue_max; /* largest queue size the device accepts */
	uint32_t config_size;
	/*
	 * Requests may be submitted again after the transport restarts (the
	 * device never vq_unpop()s, and a request done twice does no harm the
	 * driver would not expect from a retry): vhost-user in-flight tracking.
	 */
	bool resubmit_ok;

	/* Read or write config space; the transport checked offset + len <= config_size. */
	void (*config_read)(struct evvm_virtio_dev *dev, uint32_t offset, void *data, uint32_t len);
	void (*config_write)(struct evvm_virtio_dev *dev, uint32_t offset, const void *data,
			     uint32_t len);

	/*
	 * DRIVER_OK: dev->features is final and every queue the driver made
	 * ready is vq_init()ed. Returns 0 or -errno (the transport then sets
	 * DEVICE_NEEDS_RESET).
	 */
	int (*start)(struct evvm_virtio_dev *dev);

	/*
	 * A queue was kicked (or, after start(), may hold work). Called again
	 * for every kick; kicks that arrive while it runs coalesce.
	 * NULL for a device whose queues are served by another process (a
	 * vhost-user frontend): the transport then neither reads the kick
	 * eventfds nor writes the call eventfd itself, and hands both over in
	 * dev->kick_fds / dev->call_fd.
	 */
	void (*kick)(struct evvm_virtio_dev *dev, unsigned int q);

	/*
	 * Device reset: finish or cancel every request in flight; after this
	 * returns the device touches no queue and no guest memory until the
	 * next start().
	 */
	void (*stop)(struct evvm_virtio_dev *dev);

	/*
	 * The VM pauses (@quiesced) or resumes, between start() and stop(),
	 * on the I/O thread; the transport reads no kick meanwhile, and the
	 * guest's vCPUs are parked. Pausing finishes every request in flight
	 * (completions pushed, the driver notified) and stops taking work from
	 * the host side (tap frames, terminal input): once it returns 0 the
	 * device touches no ring and no guest memory, and sends no interrupt,
	 * until it is resumed. Work left in device state (a frame read, a
	 * chain popped and waiting for the tap) waits for the resume, which
	 * takes everything up again where it stopped; kicks that came in
	 * between reach kick() afterwards. -errno if the device could not
	 * quiesce (the pause fails). Required of every device with kick();
	 * a device without it cannot be paused (-ENOTSUP).
	 */
	int (*quiesce)(struct evvm_virtio_dev *dev, bool quiesced);

	/* Free dev->priv and the device's resources; the device is stopped. */
	void (*destroy)(struct evvm_virtio_dev *dev);

	/*
	 * Optional: fill @out with up to @max counters and return how many.
	 * Called from any thread; counters are read with relaxed atomics.
	 */
	unsigned int (*counters)(struct evvm_virtio_dev *dev, struct evvm_dev_counter *out,
				 unsigned int max);

	/*
	 * Optional: create in *@out another device on the same backing (the
	 * same id, queues, features and config) with state of its own, so
	 * that a transport can serve some of the queues on another thread:
	 * each instance runs on its own dev->loop, and the transport kicks
	 * each queue on one instance only. Destroyed with
	 * virtio_dev_destroy(), before or after @dev. Called on the thread
	 * that created @dev, before the device starts. Returns 0 or -errno
	 * after logging.
	 */
	int (*clone)(struct evvm_virtio_dev *dev, struct evvm_virtio_dev **out);

	/*
	 * Optional (snapshots): write into @buf (@cap bytes, at least
	 * EVVM_DEV_STATE_MAX) what virtio_dev_load() needs to build the
	 * device again in another process (blk: its file, read-only,
	 * serial, queues, limits and bucket levels; net: its tap, MAC,
	 * limits, a frame read and not yet delivered), and return the
	 * length, or -errno (-ENOSPC, -ENOTSUP). Called with the VM paused,
	 * so the device is quiesced. A device without it cannot be
	 * snapshotted.
	 */
	int (*save)(struct evvm_virtio_dev *dev, void *buf, size_t cap);
};

/* The most an ops->save() writes: net's header and a 64 KiB frame. */
#define EVVM_DEV_STATE_MAX (72u << 10)

struct evvm_virtio_dev {
	const struct evvm_device_ops *ops;
	void *priv;  /* the device's own state */
	char id[32]; /* instance name in messages: "blk0" */
	/*
	 * Set by whoever creates the device: the I/O threads its transport
	 * serves the queues on (0 or 1: one), queue q on thread q % M, each
	 * thread with an instance of its own (ops->clone). Only virtio-pci
	 * takes more than one.
	 */
	unsigned int nr_iothreads;

	uint64_t host_features; /* offered (the transport adds VIRTIO_F_VERSION_1) */
	uint64_t features;	/* negotiated; valid from start() */
	const struct evvm_mem *mem;
	struct evvm_loop *loop; /* the device's I/O thread */
	struct evvm_vq vqs[EVVM_VIRTIO_MAX_QUEUES];

	/* Set by the transport. */
	void (*notify)(struct evvm_virtio_dev *dev, unsigned int q); /* used-buffer interrupt */
	void (*needs_reset)(struct evvm_virtio_dev *dev);	     /* DEVICE_NEEDS_RESET */
	/* The config space changed: a configuration-change interrupt. NULL: none. */
	void (*config_changed)(struct evvm_virtio_dev *dev);
	void *transport;
	/*
	 * The queues' kick eventfds (written by the guest's notify, through an
	 * ioeventfd) and the device's call eventfd (an irqfd: writing it
	 * interrupts the guest). Not owned by the device.
	 */
	int kick_fds[EVVM_VIRTIO_MAX_QUEUES];
	int call_fd;
	/*
	 * With @per_queue_calls (virtio-pci), queue q's used-buffer
	 * interrupt is call_fds[q] instead: its MSI-X vector's eventfd, or
	 * one the transport relays. Set before start() and left alone until
	 * the next reset; for a device served by another process.
	 */
	bool per_queue_calls;
	int call_fds[EVVM_VIRTIO_MAX_QUEUES];
};

/*
 * After pushing to queue @q: interrupt the driver if it wants one
 * (vq_should_notify). Call once per batch of pushes.
 */
static inline void virtio_dev_notify(struct evvm_virtio_dev *dev, unsigned int q)
{
	if (vq_should_notify(&dev->vqs[q]))
		dev->notify(dev, q);
}

/*
 * A guest error on @q (vq_pop() returned -EINVAL, or a request the device
 * cannot accept): stop using the device until the driver resets it.
 */
static inline void virtio_dev_fail(struct evvm_virtio_dev *dev)
{
	dev->needs_reset(dev);
}

#endif
