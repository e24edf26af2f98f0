/* SPDX-License-Identifier: MIT */
#ifndef EVVM_DEVICES_H
#define EVVM_DEVICES_H

#include <stdbool.h>
#include <stdint.h>

#include <evvm/device.h>

/*
 * Device constructors. Each returns 0 with a device ready to hand to a
 * transport (ops, priv, id and host_features filled in), or -errno after
 * logging one line that names the device and the cause.
 */

/* virtio-rng: the driver's buffers are filled from getrandom(2). */
int rng_create(const char *id, struct evvm_virtio_dev **out);

/* virtio-console, one port: guest output to @out_fd, input from @in_fd (-1: none). */
struct console_config {
	int in_fd;  /* not owned */
	int out_fd; /* not owned */
};
int console_create(const char *id, const struct console_config *cfg, struct evvm_virtio_dev **out);

/*
 * Firecracker's RateLimiter: a bandwidth bucket (tokens are bytes) and an
 * ops bucket (tokens are requests), each a TokenBucket (evvm/tbucket.h);
 * a bucket of size 0 or refill_ms 0 limits nothing.
 */
struct evvm_rate_limit {
	struct evvm_bucket_cfg {
		uint64_t size, one_time_burst, refill_ms;
	} bandwidth, ops;
};

/* virtio-blk on a file or block device. */
struct blk_config {
	const char *path;
	bool readonly;
	const char *serial; /* GET_ID answer (at most 20 bytes), or NULL for the id */
	/*
	 * Request queues, 1 to EVVM_VIRTIO_MAX_QUEUES, all served on the
	 * device's I/O thread; VIRTIO_BLK_F_MQ is offered with num_queues in
	 * the config (as qemu-storage-daemon does). 0: one queue, no MQ.
	 */
	unsigned int queues;
	/* NULL: none. Requests wait (popped, not started) until both buckets have tokens. */
	const struct evvm_rate_limit *rate_limit;
};
int blk_create(const char *id, const struct blk_config *cfg, struct evvm_virtio_dev **out);

/*
 * A new backing file for the disk @dev (a blk_create() device on a
 * transport): opened and checked as blk_create() does (same read-only
 * mode), then swapped in on the device's I/O thread between two requests
 * (those in flight finish on the old file first); the capacity follows the
 * new file and the driver gets a configuration-change interrupt. The path
 * may name the current file (a resize). 0, or -errno after logging, with
 * the old file still in use. Any thread but the device's I/O thread.
 */
int blk_set_path(struct evvm_virtio_dev *dev, const char *path);

/*
 * New rate limits for the disk @dev (a blk_create() device on a
 * transport), full buckets from now; all zero removes them. 0 or -errno
 * after logging. Any thread but the device's I/O thread.
 */
int blk_set_rate_limit(struct evvm_virtio_dev *dev, const struct evvm_rate_limit *rl);

/*
 * Rate limits for the rng @dev (an rng_create() device), full buckets from
 * now; all zero removes them. A request short of tokens (its bytes, one
 * op) waits in the ring until the buckets have them. 0 or -errno after
 * logging. Before the device is on a transport, or from any thread but
 * the device's I/O thread.
 */
int rng_set_rate_limit(struct evvm_virtio_dev *dev, const struct evvm_rate_limit *rl);

/*
 * virtio-net on a tap device (devices/net.c). With @vhost_user the device
 * has only the rx and tx queues and no CTRL_VQ: a vhost-user frontend
 * serves the control queue itself.
 */
struct net_config {
	const char *tap; /* tap device name */
	uint8_t mac[6];
	bool event_idx; /* offer VIRTIO_F_EVENT_IDX */
	bool vhost_user;
};
int net_create(const char *id, const struct net_config *cfg, struct evvm_virtio_dev **out);

/*
 * Rate limits for the net @dev (a net_create() device): @rx on frames
 * delivered to the guest, @tx on frames it sends; each frame costs one op
 * and its length in bytes (the 12-byte virtio_net_hdr included), as in
 * Firecracker. NULL leaves that direction as it is; otherwise full buckets
 * from now, all zero removes the limit. A frame short of tokens waits
 * (rx: read from the tap and held; tx: in the ring) until its buckets have
 * them; none is dropped. 0 or -errno after logging. Before the device is
 * on a transport, or from any thread but the device's I/O thread.
 */
int net_set_rate_limit(struct evvm_virtio_dev *dev, const struct evvm_rate_limit *rx,
		       const struct evvm_rate_limit *tx);

/*
 * A device again from what its ops->save() wrote in another process
 * (a snapshot): @device_id (VIRTIO_ID_*) and @id as saved, @len bytes of
 * @state, checked here (-EINVAL after a line naming @env->origin, @id and
 * the fault). What the snapshot cannot hold comes from @env. A net device
 * opens its tap again by name: the saved one, or @env->tap.
 */
struct virtio_dev_env;
typedef int virtio_dev_loader(uint32_t device_id, const char *id, const void *state, size_t len,
			      const struct virtio_dev_env *env, struct evvm_virtio_dev **out);

struct virtio_dev_env {
	const char *origin;  /* names the snapshot in messages */
	unsigned int format; /* the state file's format version: the layout of @state */
	/*
	 * blk: this file instead of the saved one (a clone's copy); a disk a
	 * vhost-user backend served: this backend socket instead.
	 */
	const char *disk_path;
	const char *tap; /* net: this tap instead of the saved one (a clone's own) */
	struct console_config console;
	/*
	 * The state is a vhost-user frontend's (another process served the
	 * device): devices/ know no vhost-user, so @vhost_user_load builds
	 * it, given by a caller that may reach backends (NULL: refused).
	 * Its waits on a backend end once @cancel_fd is readable (-1: never).
	 */
	bool vhost_user;
	virtio_dev_loader *vhost_user_load;
	int cancel_fd;
};
int virtio_dev_load(uint32_t device_id, const char *id, const void *state, size_t len,
		    const struct virtio_dev_env *env, struct evvm_virtio_dev **out);

/* ops->destroy() and free the device; NULL is ignored. The device must be stopped. */
void virtio_dev_destroy(struct evvm_virtio_dev *dev);

#endif
