// SPDX-License-Identifier: MIT
/*
 * virtio-net in a snapshot (devices/persist.h: struct net_persist). The
 * device is paused when saved, and what it holds then is either in the
 * rings or here:
 *
 * - rx chains it popped (for a frame that did not fit yet, or left over
 *   after one) and a tx chain waiting for a full tap are in flight: the
 *   transport gives them back to the avail ring (virtio_state.c), and the
 *   restored device takes them again. A tap write either takes a whole
 *   frame or none (EAGAIN), so that tx chain was not sent: not twice.
 * - A frame read from the tap and not yet delivered (no rx buffers, or
 *   the limiter held it) exists nowhere else: it is saved, and delivered
 *   first after the restore; whether it already paid the rx limiter too.
 * - Frames still queued in the tap are the kernel's: the old process
 *   closing its tap drops them, as a wire would (and a clone on another
 *   tap never had them).
 * - The control queue holds nothing: commands complete within a kick, and
 *   promisc, allmulti and MAC tables are accepted without state (the tap
 *   sees every frame).
 *
 * The rate limiters keep their limits and their buckets' levels. The
 * counters start from zero, as Firecracker's metrics do.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <net/if.h>

#include <evvm/log.h>

#include "net.h"
#include "persist.h"

_Static_assert(NET_RX_BUF == NET_PERSIST_FRAME_MAX, "a saved frame is one rx_buf holds");
_Static_assert(NET_HDR_LEN == NET_PERSIST_HDR_LEN, "the vnet header");
_Static_assert(sizeof(struct net_persist) + NET_RX_BUF <= EVVM_DEV_STATE_MAX,
	       "net's state fits what a snapshot takes");

int net_save(struct evvm_virtio_dev *dev, void *buf, size_t cap)
{
	struct net *n = dev->priv;
	struct net_persist p = {
		.event_idx = n->cfg.event_idx,
		.rx_paid = n->rx_len && n->rx_paid,
		.host_features = dev->host_features,
		.frame_len = (uint32_t)n->rx_len,
	};
	uint64_t now = ratelimit_now();

	if (n->cfg.vhost_user)
		return -ENOTSUP; /* served by a vhost-user frontend's process */
	/*
	 * Held rx chains around one pushed back (shorter than a header, which
	 * no driver posts) cannot go back to the avail ring in one piece.
	 */
	if (n->rx_held && n->rx_held_gap)
		return -EBUSY;
	if (cap < sizeof(p) + n->rx_len)
		return -ENOSPC;
	snprintf(p.tap, sizeof(p.tap), "%s", n->tap_name);
	memcpy(p.mac, n->cfg.mac, sizeof(p.mac));
	ratelimit_save(&n->rx_rl, now, &p.rx_rate_limit, &p.rx_level);
	ratelimit_save(&n->tx_rl, now, &p.tx_rate_limit, &p.tx_level);
	memcpy(buf, &p, sizeof(p));
	memcpy((char *)buf + sizeof(p), n->rx_buf, n->rx_len);
	return (int)(sizeof(p) + n->rx_len);
}

/* The saved limits and levels on the new device, not yet on a transport. */
static int net_load_limits(struct evvm_virtio_dev *dev, const struct net_persist *p)
{
	struct net *n = dev->priv;
	uint64_t now;
	int err;

	err = net_set_rate_limit(dev, &p->rx_rate_limit, &p->tx_rate_limit);
	if (err)
		return err;
	now = ratelimit_now();
	ratelimit_set_level(&n->rx_rl, &p->rx_level, now);
	ratelimit_set_level(&n->tx_rl, &p->tx_level, now);
	return 0;
}

int net_load(const char *id, const struct net_persist *p, const struct virtio_dev_env *env,
	     struct evvm_virtio_dev **out)
{
	struct net_config cfg = { .tap = env->tap ? env->tap : p->tap, .event_idx = p->event_idx };
	struct evvm_virtio_dev *dev;
	struct net *n;
	uint64_t lost;
	int err;

	memcpy(cfg.mac, p->mac, sizeof(cfg.mac));
	/*
	 * Opening a tap that is not there creates it (with CAP_NET_ADMIN):
	 * unconfigured, attached to nothing, where the restored guest's
	 * traffic would silently go nowhere. Booting may make one; a restore
	 * wants the one the host set up.
	 */
	if (!if_nametoindex(cfg.tap)) {
		pr_err("snapshot '%s': %s: tap '%s' does not exist: create and set it up first, "
		       "or give another tap (--restore ...,net=%s:TAP; network_overrides)",
		       env->origin, id, cfg.tap, id);
		return -ENODEV;
	}
	err = net_create(id, &cfg, out); /* logs a line naming the tap */
	if (err)
		return err;
	dev = *out;
	n = dev->priv;
	/*
	 * The guest may have accepted any feature the old device offered:
	 * one this tap cannot give (its offloads) would be refused with the
	 * transport's state, naming no tap.
	 */
	lost = p->host_features & ~dev->host_features;
	if (lost) {
		pr_err("snapshot '%s': %s: tap '%s' cannot give features 0x%llx the snapshot's "
		       "device offered (its offloads)",
		       env->origin, id, cfg.tap, (unsigned long long)lost);
		err = -EINVAL;
		goto fail;
	}
	/* Offer what the driver was offered: a feature it never saw stays unseen. */
	dev->host_features = p->host_features;
	err = net_load_limits(dev, p);
	if (err)
		goto fail;
	memcpy(n->rx_buf, p + 1, p->frame_len);
	n->rx_len = p->frame_len;
	n->rx_paid = p->rx_paid;
	return 0;
fail:
	virtio_dev_destroy(dev);
	*out = NULL;
	return err;
}
