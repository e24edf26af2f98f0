/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VHOST_FRONTEND_STATE_H
#define EVVM_VHOST_FRONTEND_STATE_H

#include <stddef.h>
#include <stdint.h>

#include <evvm/device.h>

#include "vhost_user.h"

/*
 * What the vhost-user frontend's ops->save() writes into a snapshot
 * (frontend_persist.c) and vhost_user_dev_load() reads back: how to reach
 * the backend again and the device the guest saw. On disk as is:
 * little-endian, naturally aligned, reserved bytes zero; the socket path
 * follows, without its NUL. The data (a disk's blocks) is the backend's.
 */
struct vu_persist {
	uint32_t device_id;	/* VIRTIO_ID_BLOCK or VIRTIO_ID_NET */
	uint32_t queues;	/* rings the guest has */
	uint32_t reconnect_s;	/* vhost_user_opts.reconnect_s */
	uint32_t config_size;	/* bytes of @config the guest reads */
	uint64_t host_features; /* offered to the guest */
	uint64_t features;	/* the driver's (0 before it accepted any) */
	/* The backend's next avail index for each ring it served, from GET_VRING_BASE. */
	uint16_t ring_base[EVVM_VIRTIO_MAX_QUEUES];
	uint8_t running;     /* the driver had started the device (DRIVER_OK) */
	uint8_t no_inflight; /* vhost_user_opts.no_inflight */
	uint8_t reserved[6];
	uint8_t config[VHOST_USER_MAX_CONFIG]; /* config space as the guest saw it, zero-padded */
	uint32_t path_len;		       /* bytes of socket path after the struct */
	uint32_t reserved2;
};

#define VU_PERSIST_PATH_MAX	 107 /* sun_path less its NUL */
#define VU_PERSIST_RECONNECT_MAX 3600

/*
 * Bytes of config space the frontend gives a device type (virtio 1.2, 5.x
 * config layouts): blk and net; 0 for a type it does not serve.
 */
uint32_t vu_config_size(uint32_t device_id);

/*
 * Check @len bytes at @state (any alignment) as a saved frontend: sizes,
 * the path (no NUL, not empty, fits a unix socket address), the device
 * type and its config size, queue count, flags, features the driver took
 * from those offered, ring bases only for the queues a started device has,
 * reserved bytes zero. NULL, with *@out and @path (VU_PERSIST_PATH_MAX + 1
 * bytes, NUL-terminated) filled in, or what is wrong.
 */
const char *vu_persist_parse(const void *state, size_t len, struct vu_persist *out, char *path);

#endif
