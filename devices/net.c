// SPDX-License-Identifier: MIT
/*
 * virtio-net (virtio 1.2, 5.1) on a tap device. Frames cross the tap with
 * the same 12-byte virtio_net_hdr_v1 the guest uses, so checksum and
 * segmentation offloads pass through untouched (TUNSETOFFLOAD says which
 * ones the guest accepts).
 *
 * rx: a frame is read from the tap into a bounce buffer only when it can
 * go somewhere; when the guest has no (or not enough) receive buffers the
 * frame stays pending, the tap is no longer watched, and the next rx kick
 * resumes. Nothing read is ever dropped for lack of buffers, and nothing
 * is delivered twice. Chains popped for a frame that does not fit yet are
 * given back to the ring (vq_unpop) and taken again after the next kick,
 * and the chains of a frame are pushed together: the driver sees all
 * num_buffers of a merged frame or none.
 *
 * tx: the queue is drained with kicks off, one interrupt per batch. When
 * the tap is full (EAGAIN) the chain is kept and the tap watched for
 * EPOLLOUT; draining resumes from it.
 *
 * Rate limiters (net_rl.c) hold a frame short of tokens the same way: an
 * rx frame stays pending, a tx chain goes back to the ring.
 */
#include <endian.h>
#include <errno.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/if_tun.h>

#include <evvm/devices.h>
#include <evvm/log.h>
#include <evvm/tap.h>

#include "net.h"

/* Watch the tap for what we can use now: frames if rx may run, room if tx waits. */
static void net_tap_update(struct evvm_virtio_dev *dev)
{
	struct net *n = dev->priv;
	uint32_t ev = 0;

	if (!n->tap_watched)
		return;
	if (n->paused)
		ev = 0;
	else if (n->rx_enabled && !n->rx_stalled && !n->rx_throttled)
		ev |= EPOLLIN;
	if (n->tx_pending && !n->paused)
		ev |= EPOLLOUT;
	if (ev != n->tap_events && loop_mod(dev->loop, n->tap_fd, ev) == 0)
		n->tap_events = ev;
}

/* ---- rx ---- */

static struct vq_elem *rx_slot(struct net *n)
{
	if (!n->rx_elems[n->rx_held])
		n->rx_elems[n->rx_held] = malloc(sizeof(struct vq_elem));
	return n->rx_elems[n->rx_held];
}

/*
 * Pop rx chains until the pending frame fits. Returns 1 when it does, 0
 * when the guest has no more buffers, -ENOSPC when it can never fit (the
 * frame is to be dropped; the held chains stay for the next one), -EINVAL
 * on a ring error, -ENOMEM.
 */
static int rx_gather(struct evvm_virtio_dev *dev, bool *pushed)
{
	struct net *n = dev->priv;
	struct evvm_vq *vq = &dev->vqs[NET_RXQ];
	bool mrg = has(dev, VIRTIO_NET_F_MRG_RXBUF);

	while (n->rx_room < n->rx_len) {
		struct vq_elem *e;
		int r;

		/* Without MRG_RXBUF a frame goes in one chain; with, in at most the whole ring. */
		if ((!mrg && n->rx_held) || n->rx_held >= vq->num || n->rx_held >= NET_QUEUE_MAX)
			return -ENOSPC;
		e = rx_slot(n);
		if (!e)
			return -ENOMEM;
		r = vq_pop(vq, e);
		if (r <= 0)
			return r;
		/* 5.1.6.3.1: every buffer holds at least the header. */
		if (e->in_len < NET_HDR_LEN) {
			count(&n->c.rx_dropped_too_short, 1);
			if (vq_push(vq, e, 0) < 0)
				return -EINVAL;
			*pushed = true;
			n->rx_held_gap |= n->rx_held > 0;
			continue;
		}
		n->rx_held++;
		n->rx_room += e->in_len;
	}
	return 1;
}

/* Copy the pending frame into the held chains and hand them all to the driver. */
static int rx_fill(struct evvm_virtio_dev *dev)
{
	struct net *n = dev->priv;
	struct virtio_net_hdr_v1 *hdr = (struct virtio_net_hdr_v1 *)n->rx_buf;
	size_t done = 0;
	unsigned int used = 0;

	/* The tap fills in everything but num_buffers; DATA_VALID needs GUEST_CSUM. */
	if (!has(dev, VIRTIO_NET_F_GUEST_CSUM)) {
		hdr->flags = 0;
		hdr->gso_type = VIRTIO_NET_HDR_GSO_NONE;
	}
	while (done < n->rx_len) {
		struct vq_elem *e = n->rx_elems[used];
		size_t len = n->rx_len - done;

		if (len > e->in_len)
			len = e->in_len;
		iov_from_buf(&e->iov[e->out_num], e->in_num, 0, n->rx_buf + done, len);
		n->rx_written[used++] = len;
		done += len;
	}
	/* num_buffers lives in the first chain, written after we know the count. */
	hdr->num_buffers = htole16(used);
	iov_from_buf(&n->rx_elems[0]->iov[n->rx_elems[0]->out_num], n->rx_elems[0]->in_num,
		     offsetof(struct virtio_net_hdr_v1, num_buffers), &hdr->num_buffers,
		     sizeof(hdr->num_buffers));
	/* Counted before the guest can see the frame: the counters never lag the ring. */
	count(&n->c.rx_packets, 1);
	count(&n->c.rx_bytes, n->rx_len - NET_HDR_LEN);
	if (vq_push_n(&dev->vqs[NET_RXQ], n->rx_elems, n->rx_written, used) < 0)
		return -EINVAL;
	/* Chains not needed stay held for the next frame, in order. */
	for (unsigned int i = used; i < n->rx_held; i++) {
		struct vq_elem *t = n->rx_elems[i - used];

		n->rx_elems[i - used] = n->rx_elems[i];
		n->rx_elems[i] = t;
	}
	n->rx_held -= used;
	n->rx_held_gap &= n->rx_held > 0;
	n->rx_room = 0;
	for (unsigned int i = 0; i < n->rx_held; i++)
		n->rx_room += n->rx_elems[i]->in_len;
	n->rx_len = 0;
	return 0;
}

/* Read the next frame from the tap into the bounce buffer: 1, 0 when none, -errno. */
static int rx_read(struct evvm_virtio_dev *dev)
{
	struct net *n = dev->priv;
	ssize_t r;

	for (;;) {
		r = read(n->tap_fd, n->rx_buf, NET_RX_BUF);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			if (errno == EAGAIN)
				return 0;
			/* The tap went away (deleted?): stop watching it, or epoll spins. */
			pr_warn("%s: tap '%s': read: %s; no more frames are received", dev->id,
				n->tap_name, evvm_strerror(errno));
			loop_del(dev->loop, n->tap_fd);
			n->tap_watched = false;
			return -EIO;
		}
		if ((size_t)r > NET_HDR_LEN)
			break;
		/* A header and no frame: nothing to deliver. */
	}
	n->rx_len = r;
	return 1;
}

/*
 * Out of buffers: give the chains taken for the pending frame back rather
 * than hold them, so nothing stays in flight while we wait (a vhost-user
 * ring stop then need not wait for them). Only possible while they are the
 * last chains popped; else (a too-short chain was returned between them,
 * which a driver does not do) they stay held.
 */
static void rx_give_back(struct evvm_virtio_dev *dev)
{
	struct net *n = dev->priv;

	if (!n->rx_held || n->rx_held_gap || vq_unpop(&dev->vqs[NET_RXQ], n->rx_held) < 0)
		return;
	n->rx_held = 0;
	n->rx_held_gap = false;
	n->rx_room = 0;
}

/*
 * Move frames from the tap to the guest until the tap is empty, the guest
 * has no buffers left (then wait for its kick), or the budget is spent.
 */
void net_rx(struct evvm_virtio_dev *dev)
{
	struct net *n = dev->priv;
	struct evvm_vq *vq = &dev->vqs[NET_RXQ];
	bool pushed = false, stalled = false;
	int r = 0;

	if (!n->rx_enabled || n->rx_throttled)
		return; /* a kick, a timer or a resume starts us */
	if (!vq->ready) {
		/* A stopped vhost-user ring: wait for its restart's kick, don't spin on EPOLLIN. */
		n->rx_stalled = true;
		net_tap_update(dev);
		return;
	}
	for (unsigned int budget = NET_RX_BUDGET; budget;) {
		if (!n->rx_len) {
			r = rx_read(dev);
			if (r <= 0)
				break;
			budget--;
			n->rx_paid = false;
		}
		/* Paid once: a frame that then waits for buffers does not pay again. */
		if (!n->rx_paid && !(n->rx_paid = net_rl_admit(n, false, n->rx_len))) {
			n->rx_throttled = true;
			break;
		}
		r = rx_gather(dev, &pushed);
		if (r == 0) {
			/* Out of buffers: ask for a kick, then look once more (it may have raced).
			 */
			vq_set_notify(vq, true);
			r = rx_gather(dev, &pushed);
			if (r == 0) {
				rx_give_back(dev);
				stalled = true;
				break;
			}
			vq_set_notify(vq, false);
		}
		if (r == -ENOSPC) {
			count(&n->c.rx_dropped_too_long, 1);
			n->rx_len = 0;
			continue;
		}
		if (r < 0 || rx_fill(dev) < 0) {
			r = -EINVAL;
			break;
		}
		pushed = true;
	}
	if (r == -EINVAL || r == -ENOMEM) {
		if (r == -ENOMEM)
			pr_err("%s: rx: out of memory", dev->id);
		virtio_dev_fail(dev);
		stalled = true; /* read nothing more until a reset */
	}
	if (stalled && !n->rx_stalled)
		count(&n->c.rx_stalls, 1);
	n->rx_stalled = stalled;
	net_tap_update(dev);
	if (pushed && vq_should_notify(vq)) {
		count(&n->c.rx_notifies, 1);
		dev->notify(dev, NET_RXQ);
	}
}

/* ---- tx ---- */

/*
 * What the driver may send (5.1.6.2): checksum and segmentation offloads
 * only as negotiated; the tap itself would take any. Without
 * VIRTIO_NET_F_MTU there is no smaller limit than NET_TX_MAX (Linux then
 * allows an MTU up to 65535). Returns the counter a bad frame goes to, or
 * NULL.
 */
static uint64_t *tx_check(struct evvm_virtio_dev *dev, const struct vq_elem *e)
{
	struct net *n = dev->priv;
	struct virtio_net_hdr_v1 hdr;
	bool ok;

	if (e->out_len < NET_HDR_LEN)
		return &n->c.tx_dropped_bad_header;
	if (e->out_len > NET_TX_MAX)
		return &n->c.tx_dropped_too_long;
	iov_to_buf(e->iov, e->out_num, 0, &hdr, sizeof(hdr));
	if ((hdr.flags & VIRTIO_NET_HDR_F_NEEDS_CSUM) && !has(dev, VIRTIO_NET_F_CSUM))
		return &n->c.tx_dropped_bad_header;
	switch (hdr.gso_type) {
	case VIRTIO_NET_HDR_GSO_NONE:
		ok = true;
		break;
	case VIRTIO_NET_HDR_GSO_TCPV4:
		ok = has(dev, VIRTIO_NET_F_HOST_TSO4);
		break;
	case VIRTIO_NET_HDR_GSO_TCPV6:
		ok = has(dev, VIRTIO_NET_F_HOST_TSO6);
		break;
	default: /* UFO and ECN are not offered */
		ok = false;
	}
	return ok ? NULL : &n->c.tx_dropped_bad_header;
}

/* Send one chain to the tap: 0 done (sent or dropped), -EAGAIN when the tap is full. */
static int tx_one(struct evvm_virtio_dev *dev, const struct vq_elem *e)
{
	struct net *n = dev->priv;
	uint64_t *bad = tx_check(dev, e);
	ssize_t r;

	if (bad) {
		count(bad, 1);
		return 0;
	}
	do
		r = writev(n->tap_fd, e->iov, e->out_num);
	while (r < 0 && errno == EINTR);
	if (r < 0 && errno == EAGAIN)
		return -EAGAIN;
	if (r < 0) {
		/* The kernel refused the frame (a bad GSO header, the tap down): drop it. */
		if (!n->tx_write_failed)
			pr_warn("%s: tap '%s': write: %s (frame dropped; counted in tx_errors)",
				dev->id, n->tap_name, evvm_strerror(errno));
		n->tx_write_failed = true;
		count(&n->c.tx_errors, 1);
		return 0;
	}
	count(&n->c.tx_packets, 1);
	count(&n->c.tx_bytes, e->out_len - NET_HDR_LEN);
	return 0;
}

/* Send, push and count one popped chain; false if it has to wait for the tap. */
static bool tx_complete(struct evvm_virtio_dev *dev, bool *pushed, bool *failed)
{
	struct net *n = dev->priv;

	if (tx_one(dev, &n->tx_elem) == -EAGAIN) {
		if (!n->tx_pending)
			count(&n->c.tx_eagain, 1);
		n->tx_pending = true;
		return false;
	}
	n->tx_pending = false;
	if (vq_push(&dev->vqs[NET_TXQ], &n->tx_elem, 0) < 0)
		*failed = true;
	else
		*pushed = true;
	return !*failed;
}

/*
 * A chain just popped: sent as tx_complete() does, unless the tx limiter
 * is short, which puts it back in the ring to wait for its timer.
 */
static bool tx_next(struct evvm_virtio_dev *dev, bool *pushed, bool *failed)
{
	struct net *n = dev->priv;

	if (net_rl_admit(n, true, n->tx_elem.out_len))
		return tx_complete(dev, pushed, failed);
	if (vq_unpop(&dev->vqs[NET_TXQ], 1) < 0)
		*failed = true;
	n->tx_throttled = true;
	return false;
}

/* Drain the tx queue: kicks off meanwhile, re-check after enabling, one interrupt. */
void net_tx(struct evvm_virtio_dev *dev)
{
	struct net *n = dev->priv;
	struct evvm_vq *vq = &dev->vqs[NET_TXQ];
	bool pushed = false, failed = false;
	int r = 0;

	if (!vq->ready) {
		n->tx_pending = false; /* a stopped vhost-user ring: its chains are gone */
		net_tap_update(dev);
		return;
	}
	if (n->tx_throttled)
		return; /* the limiter's timer resumes us */
	if (n->tx_pending && !tx_complete(dev, &pushed, &failed))
		goto out;
	for (;;) {
		vq_set_notify(vq, false);
		while (!failed && (r = vq_pop(vq, &n->tx_elem)) > 0)
			if (!tx_next(dev, &pushed, &failed))
				goto out; /* the tap's EPOLLOUT or the limiter's timer resumes us */
		if (failed || r < 0) {
			failed = true;
			break;
		}
		vq_set_notify(vq, true);
		r = vq_pop(vq, &n->tx_elem);
		if (r < 0)
			failed = true;
		if (r <= 0)
			break;
		if (!tx_next(dev, &pushed, &failed))
			goto out;
	}
out:
	if (failed)
		virtio_dev_fail(dev);
	net_tap_update(dev);
	if (pushed && vq_should_notify(vq)) {
		count(&n->c.tx_notifies, 1);
		dev->notify(dev, NET_TXQ);
	}
}

/* ---- device ops ---- */

static void net_on_tap(void *opaque, uint32_t events)
{
	struct evvm_virtio_dev *dev = opaque;
	struct net *n = dev->priv;

	if (n->paused)
		return; /* an event of the batch that was running when the VM paused */
	if (events & (EPOLLERR | EPOLLHUP)) {
		/* The tap was deleted: epoll would report it forever. tx writes now fail. */
		pr_warn("%s: tap '%s' went away; no more frames are received", dev->id,
			n->tap_name);
		loop_del(dev->loop, n->tap_fd);
		n->tap_watched = false;
		return;
	}
	if (events & EPOLLOUT)
		net_tx(dev);
	if (events & EPOLLIN)
		net_rx(dev);
}

static void net_kick(struct evvm_virtio_dev *dev, unsigned int q)
{
	struct net *n = dev->priv;

	switch (q) {
	case NET_RXQ:
		/* New buffers: the pending frame (if any) goes first, then the tap. */
		n->rx_enabled = true;
		n->rx_stalled = false;
		vq_set_notify(&dev->vqs[NET_RXQ], false);
		net_rx(dev);
		break;
	case NET_TXQ:
		net_tx(dev);
		break;
	case NET_CTRLQ:
		net_ctrl(dev);
		break;
	}
}

/*
 * Pause: frames and room on the tap wait (its watch is off); a frame read,
 * rx chains held and a tx chain waiting for the tap stay in device state,
 * so no request is lost and none touches a ring until the resume, which
 * goes on with them.
 */
static int net_quiesce(struct evvm_virtio_dev *dev, bool quiesced)
{
	struct net *n = dev->priv;

	n->paused = quiesced;
	net_tap_update(dev);
	if (!quiesced)
		net_rl_resume(dev);
	return 0;
}

static unsigned int net_tun_offloads(const struct evvm_virtio_dev *dev)
{
	unsigned int f = 0;

	/* TUN_F_TSO* need TUN_F_CSUM, as GUEST_TSO* need GUEST_CSUM (5.1.3.1). */
	if (!has(dev, VIRTIO_NET_F_GUEST_CSUM))
		return 0;
	f |= TUN_F_CSUM;
	if (has(dev, VIRTIO_NET_F_GUEST_TSO4))
		f |= TUN_F_TSO4;
	if (has(dev, VIRTIO_NET_F_GUEST_TSO6))
		f |= TUN_F_TSO6;
	return f;
}

static int net_start(struct evvm_virtio_dev *dev)
{
	struct net *n = dev->priv;
	int err;

	err = tap_set_offload(n->tap_fd, net_tun_offloads(dev));
	if (err) {
		pr_err("%s: tap '%s': TUNSETOFFLOAD 0x%x: %s", dev->id, n->tap_name,
		       net_tun_offloads(dev), evvm_strerror(err));
		return err;
	}
	/* Nothing is read until the first rx kick: a vhost-user ring may start disabled. */
	n->rx_enabled = false;
	n->rx_stalled = false;
	n->tx_pending = false;
	n->paused = false;
	n->tap_events = 0;
	err = net_rl_start(dev);
	if (err)
		return err;
	err = loop_add(dev->loop, n->tap_fd, 0, net_on_tap, dev);
	if (err) {
		pr_err("%s: tap '%s': watch: %s", dev->id, n->tap_name, evvm_strerror(err));
		net_rl_stop(dev);
		return err;
	}
	n->tap_watched = true;
	n->started = true;
	return 0;
}

static void net_stop(struct evvm_virtio_dev *dev)
{
	struct net *n = dev->priv;

	if (n->tap_watched)
		loop_del(dev->loop, n->tap_fd);
	n->tap_watched = false;
	net_rl_stop(dev);
	n->started = false;
	/*
	 * Chains in flight are cancelled with the queues; a frame already read
	 * stays pending for the next start.
	 */
	n->rx_held = 0;
	n->rx_held_gap = false;
	n->rx_room = 0;
	n->tx_pending = false;
	n->rx_enabled = false;
}

static void net_config_read(struct evvm_virtio_dev *dev, uint32_t offset, void *data, uint32_t len)
{
	struct net *n = dev->priv;
	struct net_config_space cs = {
		.status = htole16(VIRTIO_NET_S_LINK_UP),
		.max_virtqueue_pairs = htole16(1),
	};

	memcpy(cs.mac, n->cfg.mac, sizeof(cs.mac));
	memcpy(data, (const char *)&cs + offset, len);
}

static void net_config_write(struct evvm_virtio_dev *dev, uint32_t offset, const void *data,
			     uint32_t len)
{
	/* The config space is read-only for a VERSION_1 driver (5.1.4.2). */
	(void)dev, (void)offset, (void)data, (void)len;
}

static unsigned int net_counters(struct evvm_virtio_dev *dev, struct evvm_dev_counter *out,
				 unsigned int max)
{
	struct net *n = dev->priv;
	const struct evvm_dev_counter all[] = {
#define C(f) { #f, __atomic_load_n(&n->c.f, __ATOMIC_RELAXED) }
		C(rx_packets),		C(rx_bytes),
		C(tx_packets),		C(tx_bytes),
		C(tx_dropped_too_long), C(tx_dropped_bad_header),
		C(tx_errors),		C(rx_dropped_too_short),
		C(rx_dropped_too_long), C(rx_stalls),
		C(tx_eagain),		C(rx_notifies),
		C(tx_notifies),		C(ctrl_commands),
		C(rx_rate_limiter_throttled),
		C(tx_rate_limiter_throttled),
#undef C
	};
	unsigned int nr = sizeof(all) / sizeof(all[0]);

	if (nr > max)
		nr = max;
	memcpy(out, all, nr * sizeof(*out));
	return nr;
}

static void net_destroy(struct evvm_virtio_dev *dev)
{
	struct net *n = dev->priv;

	if (n->tap_fd >= 0)
		close(n->tap_fd);
	net_rl_fini(n);
	for (unsigned int i = 0; i < NET_QUEUE_MAX; i++)
		free(n->rx_elems[i]);
	free(n->rx_buf);
	free(n);
}

/*
 * The vhost-user variant differs only in its queues: behind vhost-user the
 * frontend serves the control queue. QEMU keeps the config space too (and
 * warns that it does not use ours); evvm's own frontend reads it.
 */
#define NET_OPS(queues)                                                                         \
	{                                                                                       \
		.name = "net", .device_id = VIRTIO_ID_NET, .nr_queues = (queues),               \
		.queue_max = NET_QUEUE_MAX, .config_size = sizeof(struct net_config_space),     \
		.config_read = net_config_read, .config_write = net_config_write,               \
		.start = net_start, .kick = net_kick, .stop = net_stop, .destroy = net_destroy, \
		.quiesce = net_quiesce, .counters = net_counters, .save = net_save,             \
	}

static const struct evvm_device_ops net_ops = NET_OPS(3);
static const struct evvm_device_ops net_vu_ops = NET_OPS(2);

bool net_serves(const struct evvm_virtio_dev *dev)
{
	return dev->ops == &net_ops || dev->ops == &net_vu_ops;
}

int net_create(const char *id, const struct net_config *cfg, struct evvm_virtio_dev **out)
{
	struct evvm_virtio_dev *dev = calloc(1, sizeof(*dev));
	struct net *n = calloc(1, sizeof(*n));
	uint64_t f;
	int err;

	if (!dev || !n || !(n->rx_buf = malloc(NET_RX_BUF))) {
		pr_err("%s: out of memory", id);
		goto fail;
	}
	n->cfg = *cfg;
	snprintf(n->tap_name, sizeof(n->tap_name), "%s", cfg->tap);
	n->cfg.tap = n->tap_name;
	n->tap_fd = tap_open(id, cfg->tap);
	err = n->tap_fd < 0 ? n->tap_fd : net_rl_init(n);
	if (err) {
		if (n->tap_fd >= 0) {
			pr_err("%s: rate limiter timers: %s", id, evvm_strerror(err));
			close(n->tap_fd);
		}
		free(n->rx_buf);
		free(n);
		free(dev);
		return err;
	}
	f = VIRTIO_BIT(VIRTIO_NET_F_MAC) | VIRTIO_BIT(VIRTIO_NET_F_STATUS) |
	    VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF) | VIRTIO_BIT(VIRTIO_NET_F_CSUM) |
	    VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) | VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO6) |
	    VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	/* Guest offloads only if the tap can hand us such frames. */
	if (tap_set_offload(n->tap_fd, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6) == 0)
		f |= VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM) | VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO4) |
		     VIRTIO_BIT(VIRTIO_NET_F_GUEST_TSO6);
	else if (tap_set_offload(n->tap_fd, TUN_F_CSUM) == 0)
		f |= VIRTIO_BIT(VIRTIO_NET_F_GUEST_CSUM);
	tap_set_offload(n->tap_fd, 0);
	if (!cfg->vhost_user)
		f |= VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ) | VIRTIO_BIT(VIRTIO_NET_F_CTRL_RX);
	if (cfg->event_idx)
		f |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	dev->host_features = f;
	dev->priv = n;
	dev->ops = cfg->vhost_user ? &net_vu_ops : &net_ops;
	snprintf(dev->id, sizeof(dev->id), "%s", id);
	*out = dev;
	return 0;
fail:
	if (n)
		free(n->rx_buf);
	free(n);
	free(dev);
	return -ENOMEM;
}
