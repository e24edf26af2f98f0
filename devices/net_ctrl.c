// SPDX-License-Identifier: MIT
/* virtio-net's control queue (virtio 1.2, 5.1.6.5): rx mode and MAC table commands. */
#include <errno.h>
#include <stdint.h>

#include <evvm/log.h>

#include "net.h"

static uint8_t ctrl_handle(const struct vq_elem *e)
{
	uint8_t cmd[2], on;

	iov_to_buf(e->iov, e->out_num, 0, cmd, sizeof(cmd));
	switch (cmd[0]) {
	case VIRTIO_NET_CTRL_RX:
		/* The tap sees every frame for us anyway: promisc and allmulti are no-ops. */
		if ((cmd[1] == VIRTIO_NET_CTRL_RX_PROMISC ||
		     cmd[1] == VIRTIO_NET_CTRL_RX_ALLMULTI) &&
		    iov_to_buf(e->iov, e->out_num, 2, &on, 1) == 1)
			return VIRTIO_NET_OK;
		break;
	case VIRTIO_NET_CTRL_MAC:
		/* No filtering: accept the tables (Linux sends them with CTRL_RX). */
		if (cmd[1] == VIRTIO_NET_CTRL_MAC_TABLE_SET)
			return VIRTIO_NET_OK;
		break;
	}
	return VIRTIO_NET_ERR;
}

/* One command: 5.1.6.5, class and command out, an ack byte in. Returns 0 or -EINVAL. */
static int ctrl_one(struct evvm_virtio_dev *dev, struct vq_elem *e)
{
	struct net *n = dev->priv;
	uint8_t ack;

	if (e->out_len < 2 || e->in_len < 1) {
		pr_err("%s: control command chain of %llu+%llu bytes, needs 2+1", dev->id,
		       (unsigned long long)e->out_len, (unsigned long long)e->in_len);
		return -EINVAL;
	}
	ack = ctrl_handle(e);
	count(&n->c.ctrl_commands, 1);
	iov_from_buf(&e->iov[e->out_num], e->in_num, 0, &ack, 1);
	return vq_push(&dev->vqs[NET_CTRLQ], e, 1);
}

/*
 * Drain the control queue with kicks off, then ask for kicks again and look
 * once more: a command made available in between sent none (with
 * EVENT_IDX, avail_event must move on or the driver never kicks again).
 */
void net_ctrl(struct evvm_virtio_dev *dev)
{
	struct net *n = dev->priv;
	struct evvm_vq *vq = &dev->vqs[NET_CTRLQ];
	struct vq_elem *e = &n->ctrl_elem;
	bool pushed = false, rearmed = false;
	int r;

	vq_set_notify(vq, false);
	for (;;) {
		r = vq_pop(vq, e);
		if (r > 0) {
			r = ctrl_one(dev, e);
		} else if (r == 0 && !rearmed) {
			/* Empty: kicks on, then one more look. */
			vq_set_notify(vq, true);
			rearmed = true;
			continue;
		} else {
			break; /* empty after re-arming, or a ring error */
		}
		if (r < 0)
			break;
		pushed = true;
		if (rearmed) {
			/* Work raced the re-arm: drain with kicks off again. */
			vq_set_notify(vq, false);
			rearmed = false;
		}
	}
	if (r < 0)
		virtio_dev_fail(dev);
	if (pushed)
		virtio_dev_notify(dev, NET_CTRLQ);
}
