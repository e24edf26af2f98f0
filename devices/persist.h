/* SPDX-License-Identifier: MIT */
#ifndef EVVM_DEVICES_PERSIST_H
#define EVVM_DEVICES_PERSIST_H

#include <stddef.h>
#include <stdint.h>

#include <evvm/devices.h>

#include "ratelimit.h"

/*
 * What a device's ops->save() writes into a snapshot and virtio_dev_load()
 * reads back (devices/persist.c). On disk as is: little-endian, naturally
 * aligned, reserved bytes zero. rng and console save nothing: their
 * requests complete within a kick, so a paused one holds no state.
 *
 * The state file's format version (virtio_dev_env.format) says which
 * layout a device's bytes have: format 2 knows disks without their
 * buckets' levels (restored full); format 3 added those, and net.
 */
#define PERSIST_FORMAT_V2 2
#define PERSIST_FORMAT_V3 3

/* virtio-blk in format 2, and the first part of format 3's: its configuration. */
struct blk_persist_v2 {
	uint64_t capacity; /* sectors the guest was told */
	struct evvm_rate_limit rate_limit;
	uint32_t queues; /* blk_config.queues: 0 is one queue without VIRTIO_BLK_F_MQ */
	uint8_t readonly;
	uint8_t rate_limited;
	uint8_t reserved[2];
	char serial[20];   /* NUL-padded */
	uint32_t path_len; /* bytes of path after the whole header, no NUL */
};

/* virtio-blk in format 3; the data lives in the file, whose path follows. */
struct blk_persist {
	struct blk_persist_v2 cfg;
	struct ratelimit_level rate_level; /* all zero without rate_limited */
};

#define BLK_PERSIST_PATH_MAX 4095

/* virtio-net (format 3): what builds it again on a tap, then a frame it holds. */
struct net_persist {
	char tap[16];	/* the interface, NUL-terminated (IFNAMSIZ) */
	uint8_t mac[6]; /* what the guest reads from the config space */
	uint8_t event_idx;
	uint8_t rx_paid;	/* the frame passed the rx limiter: it does not pay again */
	uint64_t host_features; /* offered: the tap's offloads decided some */
	struct evvm_rate_limit rx_rate_limit, tx_rate_limit; /* all zero: none */
	struct ratelimit_level rx_level, tx_level;
	/*
	 * A frame read from the tap and not yet delivered (the guest had no
	 * buffers, or the limiter held it): frame_len bytes after the struct,
	 * virtio_net_hdr_v1 first; 0: none.
	 */
	uint32_t frame_len;
	uint32_t reserved;
};

/* A frame is a virtio_net_hdr_v1 and at least one byte, at most what a tap hands over. */
#define NET_PERSIST_HDR_LEN   12
#define NET_PERSIST_FRAME_MAX (NET_PERSIST_HDR_LEN + 65535 + 14 + 4) /* net.h: NET_RX_BUF */

/*
 * Check @len bytes of @state, saved by a device of type @device_id in a
 * state file of format @format, without building anything. 0, or -EINVAL
 * with the fault in @why (a phrase naming the field: "disk path has a NUL
 * byte").
 */
int virtio_dev_state_check(uint32_t device_id, const void *state, size_t len, unsigned int format,
			   char *why, size_t why_len);

/* blk.c: the buckets of the disk @dev, not yet on a transport, at @level instead of full. */
void blk_set_rate_level(struct evvm_virtio_dev *dev, const struct ratelimit_level *level);

/*
 * net_persist.c: the net device of @p (checked), on the tap @env->tap if
 * given, else the saved one. 0, or -errno after a line naming
 * @env->origin and @id.
 */
int net_load(const char *id, const struct net_persist *p, const struct virtio_dev_env *env,
	     struct evvm_virtio_dev **out);

#endif
