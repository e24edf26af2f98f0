// SPDX-License-Identifier: MIT
/*
 * virtio-net's rate limiters, Firecracker's rx_rate_limiter and
 * tx_rate_limiter: each frame costs one op and its length in bytes, vnet
 * header included. A frame short of tokens waits, nothing is dropped: a tx
 * chain goes back to the ring (vq_unpop), an rx frame read from the tap
 * stays pending (and the tap unwatched), until the limiter's timer fires
 * on the device's I/O thread and that direction runs again.
 */
#include <errno.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <evvm/log.h>

#include "net.h"

int net_rl_init(struct net *n)
{
	int err;

	ratelimit_init(&n->rx_rl);
	ratelimit_init(&n->tx_rl);
	/* Their timers now: PATCH /network-interfaces comes when seccomp forbids making them. */
	err = ratelimit_prepare(&n->rx_rl);
	if (!err)
		err = ratelimit_prepare(&n->tx_rl);
	if (err)
		net_rl_fini(n);
	return err;
}

bool net_rl_admit(struct net *n, bool tx, uint64_t bytes)
{
	struct ratelimit *rl = tx ? &n->tx_rl : &n->rx_rl;

	if (!rl->on || !ratelimit_admit(rl, bytes, ratelimit_now()))
		return true;
	count(tx ? &n->c.tx_rate_limiter_throttled : &n->c.rx_rate_limiter_throttled, 1);
	return false;
}

static void rl_timer_read(struct evvm_virtio_dev *dev, const struct ratelimit *rl)
{
	uint64_t v;

	if (read(rl->timer_fd, &v, sizeof(v)) < 0 && errno != EAGAIN)
		pr_warn("%s: rate limiter timer: %s", dev->id, evvm_strerror(errno));
}

/* A paused device leaves the flag set: the resume runs that direction. */
static void net_on_rx_timer(void *opaque, uint32_t events)
{
	struct evvm_virtio_dev *dev = opaque;
	struct net *n = dev->priv;

	(void)events;
	rl_timer_read(dev, &n->rx_rl);
	if (n->paused || !n->rx_throttled)
		return;
	n->rx_throttled = false;
	net_rx(dev);
}

static void net_on_tx_timer(void *opaque, uint32_t events)
{
	struct evvm_virtio_dev *dev = opaque;
	struct net *n = dev->priv;

	(void)events;
	rl_timer_read(dev, &n->tx_rl);
	if (n->paused || !n->tx_throttled)
		return;
	n->tx_throttled = false;
	net_tx(dev);
}

/* Watch @rl's timer on the device's loop, once it has one. */
static int rl_watch(struct evvm_virtio_dev *dev, struct ratelimit *rl, struct evvm_loop **on,
		    evvm_loop_fn fn)
{
	int err;

	if (*on || rl->timer_fd < 0)
		return 0;
	err = loop_add(dev->loop, rl->timer_fd, EPOLLIN, fn, dev);
	if (err)
		pr_err("%s: watching a rate limiter's timer: %s", dev->id, evvm_strerror(err));
	else
		*on = dev->loop;
	return err;
}

static void rl_unwatch(struct ratelimit *rl, struct evvm_loop **on)
{
	ratelimit_disarm(rl);
	if (*on)
		loop_del(*on, rl->timer_fd);
	*on = NULL;
}

static int rl_watch_both(struct evvm_virtio_dev *dev)
{
	struct net *n = dev->priv;
	int err;

	err = rl_watch(dev, &n->rx_rl, &n->rx_rl_loop, net_on_rx_timer);
	if (!err)
		err = rl_watch(dev, &n->tx_rl, &n->tx_rl_loop, net_on_tx_timer);
	return err;
}

int net_rl_start(struct evvm_virtio_dev *dev)
{
	struct net *n = dev->priv;
	int err;

	n->rx_throttled = n->tx_throttled = false;
	err = rl_watch_both(dev);
	if (err)
		net_rl_stop(dev);
	return err;
}

void net_rl_stop(struct evvm_virtio_dev *dev)
{
	struct net *n = dev->priv;

	/* A chain given back is in the reset ring; a pending rx frame stays, paid or not. */
	rl_unwatch(&n->rx_rl, &n->rx_rl_loop);
	rl_unwatch(&n->tx_rl, &n->tx_rl_loop);
	n->rx_throttled = n->tx_throttled = false;
}

/* Run what waits now: if its bucket is still short it waits again, the timer re-armed. */
static void rl_retry(struct evvm_virtio_dev *dev, bool rx, bool tx)
{
	struct net *n = dev->priv;

	if (tx && n->tx_throttled) {
		ratelimit_disarm(&n->tx_rl);
		n->tx_throttled = false;
		net_tx(dev);
	}
	if (rx && n->rx_throttled) {
		ratelimit_disarm(&n->rx_rl);
		n->rx_throttled = false;
		net_rx(dev);
	}
}

void net_rl_resume(struct evvm_virtio_dev *dev)
{
	struct net *n = dev->priv;

	if (n->started)
		rl_retry(dev, true, true);
}

void net_rl_fini(struct net *n)
{
	ratelimit_fini(&n->rx_rl);
	ratelimit_fini(&n->tx_rl);
}

struct net_rl_arg {
	struct evvm_virtio_dev *dev;
	const struct evvm_rate_limit *rx, *tx;
};

static int net_set_rl_on_loop(void *opaque)
{
	struct net_rl_arg *a = opaque;
	struct net *n = a->dev->priv;
	uint64_t now = ratelimit_now();
	int err = 0;

	if (a->rx)
		err = ratelimit_set(&n->rx_rl, a->rx, now);
	if (!err && a->tx)
		err = ratelimit_set(&n->tx_rl, a->tx, now);
	if (!err && n->started)
		err = rl_watch_both(a->dev);
	if (err)
		return err;
	/* A frame waiting under the old limits is judged by the new ones. */
	if (n->started && !n->paused)
		rl_retry(a->dev, a->rx, a->tx);
	return 0;
}

int net_set_rate_limit(struct evvm_virtio_dev *dev, const struct evvm_rate_limit *rx,
		       const struct evvm_rate_limit *tx)
{
	struct net_rl_arg a = { dev, rx, tx };
	int err;

	if (!net_serves(dev)) {
		pr_err("%s: not a virtio-net device evvm serves", dev->id);
		return -ENOTSUP;
	}
	/* Before a transport owns the device no thread serves it yet. */
	err = dev->loop ? loop_call(dev->loop, net_set_rl_on_loop, &a) : net_set_rl_on_loop(&a);
	if (err)
		pr_err("%s: rate limiter: %s", dev->id, evvm_strerror(err));
	return err;
}
