/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VHOST_FRONTEND_INT_H
#define EVVM_VHOST_FRONTEND_INT_H

#include <stdbool.h>
#include <stdint.h>

#include <evvm/device.h>

#include "frontend_conn.h"
#include "vhost_user.h"

/* One device served by a vhost-user backend; all of it is used on the device's I/O thread. */
struct vhost_frontend {
	struct vu_conn conn;
	struct evvm_virtio_dev *dev;
	unsigned int queues;		      /* rings the guest gets */
	unsigned int reconnect_s;	      /* 0: no reconnect */
	bool no_inflight;		      /* never negotiate INFLIGHT_SHMFD */
	int call_fds[EVVM_VIRTIO_MAX_QUEUES]; /* per queue; -1: dev->call_fd */
	int timer_fd;			      /* reconnect attempts; -1 when not reconnecting */
	bool watched;			      /* conn.sock is on the device loop (hang-up) */
	bool running;			      /* between start() and stop(): rings to set up */
	bool quiesced;			      /* the VM is paused: rings stopped, not set up */
	uint64_t backend_features;	      /* as the first backend offered them */
	bool started_rings[EVVM_VIRTIO_MAX_QUEUES];
	/*
	 * Where GET_VRING_BASE stopped each ring at the last pause (rings in
	 * @stopped_rings, a mask): the backend's next avail index, saved in a
	 * snapshot (frontend_persist.c). With @restored (a device built from
	 * a snapshot, not started since), the first start hands these to the
	 * backend in SET_VRING_BASE instead of 0.
	 */
	uint16_t ring_base[EVVM_VIRTIO_MAX_QUEUES];
	uint32_t stopped_rings;
	bool restored;

	/* The in-flight region, from the first GET_INFLIGHT_FD after a start; kept across backends.
	 */
	int inflight_fd;
	struct vhost_user_inflight inflight;

	uint8_t config[VHOST_USER_MAX_CONFIG];
	struct evvm_device_ops ops; /* per instance: queue count, config size */
};

/* Transport features the frontend can pass on: device bits, rings, version 1. */
#define VHOST_PASS_FEATURES                                                                  \
	(0xffffffULL | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | \
	 VIRTIO_BIT(VIRTIO_F_VERSION_1))

/*
 * frontend_setup.c. What the backend offers, negotiated on a fresh
 * connection: the first time (@first) it decides the device (features,
 * queues, config); later, it checks the new backend can serve the same
 * device (-ENOTSUP if not). 0 or -errno after logging.
 */
int vu_handshake(struct vhost_frontend *f, bool first);

/*
 * DRIVER_OK, or the same again for a new backend (@restart): features,
 * memory table, the in-flight region, and every ready ring, each from the
 * used index the guest sees on a restart. 0 or -errno after logging.
 */
int vu_setup(struct vhost_frontend *f, bool restart);

/* Forget the in-flight region (a device reset: nothing is in flight). */
void vu_inflight_free(struct vhost_frontend *f);

/*
 * frontend.c. The backend is gone (@err says why): close, and either
 * reconnect or put the device in DEVICE_NEEDS_RESET. -ECANCELED (evvm is
 * stopping) only closes.
 */
void vu_lost(struct vhost_frontend *f, int err);

/* frontend_persist.c: ops->save. */
int vu_save(struct evvm_virtio_dev *dev, void *buf, size_t cap);

#endif
