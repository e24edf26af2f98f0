/* SPDX-License-Identifier: MIT */
#ifndef EVVM_DEVICES_PERSIST_H
#define EVVM_DEVICES_PERSIST_H

#include <stdint.h>

#include <evvm/devices.h>

/*
 * What a device's ops->save() writes into a snapshot and virtio_dev_load()
 * reads back (devices/persist.c). On disk as is: little-endian, naturally
 * aligned, reserved bytes zero. rng and console save nothing: their
 * requests complete within a kick, so a paused one holds no state.
 */

/* virtio-blk: its configuration; the data lives in the file. The path follows. */
struct blk_persist {
	uint64_t capacity; /* sectors the guest was told */
	struct evvm_rate_limit rate_limit;
	uint32_t queues; /* blk_config.queues: 0 is one queue without VIRTIO_BLK_F_MQ */
	uint8_t readonly;
	uint8_t rate_limited;
	uint8_t reserved[2];
	char serial[20];   /* NUL-padded */
	uint32_t path_len; /* bytes of path after the struct, no NUL */
};

#define BLK_PERSIST_PATH_MAX 4095

#endif
