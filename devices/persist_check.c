// SPDX-License-Identifier: MIT
/*
 * The checks of a device's saved bytes (devices/persist.h), apart from
 * building it: a state file may be hostile, so every length, string and
 * range is looked at before anything is opened (fuzz/fuzz_persist.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <evvm/virtio.h>

#include "persist.h"

static int fault(char *why, size_t why_len, const char *what)
{
	snprintf(why, why_len, "%s", what);
	return -EINVAL;
}

/* A rate limiter's levels against its limits: the fault names both. */
static int level_check(const char *which, const struct evvm_rate_limit *cfg,
		       const struct ratelimit_level *level, char *why, size_t why_len)
{
	const char *bucket, *bad = ratelimit_level_fault(cfg, level, &bucket);

	if (!bad)
		return 0;
	snprintf(why, why_len, "%s rate limiter, %s bucket: %s", which, bucket, bad);
	return -EINVAL;
}

static int blk_check(const void *state, size_t len, unsigned int format, char *why, size_t why_len)
{
	const struct blk_persist_v2 *p = state;
	const struct blk_persist *p3 = state;
	size_t hdr = format == PERSIST_FORMAT_V2 ? sizeof(*p) : sizeof(*p3);

	if (len < hdr)
		return fault(why, why_len, "disk state is shorter than its header");
	if (p->path_len != len - hdr)
		return fault(why, why_len, "disk path length is not what the section holds");
	if (p->path_len == 0 || p->path_len > BLK_PERSIST_PATH_MAX)
		return fault(why, why_len, "disk path is empty or too long");
	if (memchr((const char *)state + hdr, 0, p->path_len))
		return fault(why, why_len, "disk path has a NUL byte");
	if (p->readonly > 1 || p->rate_limited > 1 || p->reserved[0] || p->reserved[1])
		return fault(why, why_len, "disk flags are not 0 or 1, or reserved bytes are set");
	if (p->queues > EVVM_VIRTIO_MAX_QUEUES)
		return fault(why, why_len, "disk has more queues than a device may");
	if (format == PERSIST_FORMAT_V2)
		return 0;
	return level_check("disk", p->rate_limited ? &p->rate_limit : NULL, &p3->rate_level, why,
			   why_len);
}

static int net_check(const void *state, size_t len, unsigned int format, char *why, size_t why_len)
{
	const struct net_persist *p = state;
	int err;

	if (format < PERSIST_FORMAT_V3)
		return fault(why, why_len, "net state in a format that has none");
	if (len < sizeof(*p))
		return fault(why, why_len, "net state is shorter than its header");
	if (p->frame_len != len - sizeof(*p))
		return fault(why, why_len, "pending frame length is not what the section holds");
	if (p->frame_len &&
	    (p->frame_len <= NET_PERSIST_HDR_LEN || p->frame_len > NET_PERSIST_FRAME_MAX))
		return fault(why, why_len,
			     "pending frame is no longer than its header, or longer than a tap's");
	if (!memchr(p->tap, 0, sizeof(p->tap)) || !p->tap[0])
		return fault(why, why_len, "tap name is empty or not NUL-terminated");
	if (p->event_idx > 1 || p->rx_paid > 1 || (p->rx_paid && !p->frame_len) || p->reserved)
		return fault(why, why_len,
			     "net flags are not 0 or 1, paid for no frame, or reserved bytes are "
			     "set");
	err = level_check("rx", &p->rx_rate_limit, &p->rx_level, why, why_len);
	return err ? err : level_check("tx", &p->tx_rate_limit, &p->tx_level, why, why_len);
}

int virtio_dev_state_check(uint32_t device_id, const void *state, size_t len, unsigned int format,
			   char *why, size_t why_len)
{
	if (format < PERSIST_FORMAT_V2 || format > PERSIST_FORMAT_V3) {
		snprintf(why, why_len, "device state of format %u", format);
		return -EINVAL;
	}
	switch (device_id) {
	case VIRTIO_ID_BLOCK:
		return blk_check(state, len, format, why, why_len);
	case VIRTIO_ID_NET:
		return net_check(state, len, format, why, why_len);
	case VIRTIO_ID_RNG:
	case VIRTIO_ID_CONSOLE:
		if (!len)
			return 0;
		snprintf(why, why_len, "%zu bytes of state for a device that saves none", len);
		return -EINVAL;
	}
	snprintf(why, why_len, "device type %u cannot be restored", device_id);
	return -EINVAL;
}
