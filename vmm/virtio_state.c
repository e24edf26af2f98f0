// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdbool.h>

#include <evvm/log.h>

#include "virtio_state.h"

#define STATUS_KNOWN                                                                  \
	(VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK | \
	 VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET | VIRTIO_STATUS_FAILED)

static bool queue_empty(const struct virtio_state_queue *sq)
{
	return !sq->desc && !sq->avail && !sq->used && !sq->num && !sq->last_avail &&
	       !sq->used_idx && !sq->signalled_used && !sq->unpopped && !sq->ready &&
	       !sq->signalled_used_valid && !sq->reserved;
}

static int check_queue(const struct virtio_state *s, const struct evvm_virtio_dev *dev,
		       unsigned int q, const char *file)
{
	const struct virtio_state_queue *sq = &s->q[q];
	const char *fault = NULL;

	if (q >= dev->ops->nr_queues) {
		if (!queue_empty(sq))
			fault = "is set up, but the device has no such queue";
	} else if (sq->ready > 1 || sq->signalled_used_valid > 1 || sq->reserved) {
		fault = "has flags other than 0 and 1, or reserved bits set";
	} else if (sq->ready && (!sq->num || (sq->num & (sq->num - 1)))) {
		fault = "has a size that is not a power of 2";
	} else if (sq->ready && sq->num > dev->ops->queue_max) {
		fault = "is larger than the device's largest queue";
	} else if (sq->ready && sq->unpopped > sq->num) {
		fault = "has more chains given back than it has entries";
	} else if (sq->ready && !(s->status & VIRTIO_STATUS_FEATURES_OK)) {
		fault = "is ready before the features were accepted";
	}
	if (!fault)
		return 0;
	pr_err("snapshot '%s': %s: queue %u (size %u) %s", file, dev->id, q, sq->num, fault);
	return -EINVAL;
}

int virtio_state_check(const struct virtio_state *s, const struct evvm_virtio_dev *dev,
		       uint64_t offered, const char *file)
{
	const char *fault = NULL;

	if (s->device_id != dev->ops->device_id || s->nr_queues != dev->ops->nr_queues)
		fault = "device type or queue count is not the device's";
	else if (s->status & ~STATUS_KNOWN)
		fault = "device status has unknown bits";
	else if ((s->status & VIRTIO_STATUS_DRIVER_OK) && !(s->status & VIRTIO_STATUS_FEATURES_OK))
		fault = "device status has DRIVER_OK without FEATURES_OK";
	else if (s->isr & ~(VIRTIO_INT_VRING | VIRTIO_INT_CONFIG))
		fault = "interrupt status has unknown bits";
	else if (s->driver_features & ~offered)
		fault = "driver features include some the device does not offer";
	else if ((s->status & VIRTIO_STATUS_FEATURES_OK) &&
		 !(s->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1)))
		fault = "features were accepted without VERSION_1";
	if (fault) {
		pr_err("snapshot '%s': %s: %s (status 0x%x, features 0x%llx, offered 0x%llx)", file,
		       dev->id, fault, s->status, (unsigned long long)s->driver_features,
		       (unsigned long long)offered);
		return -EINVAL;
	}
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		if (check_queue(s, dev, q, file))
			return -EINVAL;
	return 0;
}

int virtio_state_load_queue(const struct virtio_state *s, struct evvm_virtio_dev *dev,
			    unsigned int q, const char *name, const char *file)
{
	const struct virtio_state_queue *sq = &s->q[q];
	const struct vq_base base = {
		.last_avail = sq->last_avail,
		.used_idx = sq->used_idx,
		.signalled_used = sq->signalled_used,
		.signalled_used_valid = sq->signalled_used_valid,
		.unpopped = sq->unpopped,
	};
	struct evvm_vq *vq = &dev->vqs[q];

	/* vq_init() says which area is outside guest RAM or misaligned. */
	if (vq_init(vq, dev->mem, name, sq->num, sq->desc, sq->avail, sq->used,
		    s->driver_features) ||
	    vq_set_base(vq, &base, true)) {
		pr_err("snapshot '%s': %s: queue %u: rings not in guest RAM", file, dev->id, q);
		vq_reset(vq);
		return -EINVAL;
	}
	if (vq_used_ring_idx(vq) != sq->used_idx) {
		pr_err("snapshot '%s': %s: queue %u: used index %u, but the memory file's ring has "
		       "%u",
		       file, dev->id, q, sq->used_idx, vq_used_ring_idx(vq));
		vq_reset(vq);
		return -EINVAL;
	}
	return 0;
}

void virtio_state_save_queue(struct virtio_state_queue *sq, const struct evvm_vq *vq)
{
	struct vq_base base;

	vq_get_base(vq, &base);
	sq->last_avail = base.last_avail - (uint16_t)vq->inflight;
	sq->used_idx = base.used_idx;
	sq->signalled_used = base.signalled_used;
	sq->signalled_used_valid = base.signalled_used_valid;
	sq->unpopped = base.unpopped + (uint16_t)vq->inflight;
}
