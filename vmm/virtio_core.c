// SPDX-License-Identifier: MIT
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <evvm/log.h>

#include "virtio_core.h"
#include "virtio_state.h"

int vcore_init(struct vcore *c, struct evvm_virtio_dev *dev, const char *name,
	       struct ioeventfd_table *ioeventfds, const struct vcore_ops *ops, void *opaque)
{
	memset(c, 0, sizeof(*c));
	c->dev = dev;
	c->name = name;
	c->ioeventfds = ioeventfds;
	c->ops = ops;
	c->opaque = opaque;
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++) {
		c->q[q] = (struct vcore_queue){ .kick_fd = -1, .c = c, .index = q };
		snprintf(c->q[q].name, sizeof(c->q[q].name), "%s.q%u", dev->id, q);
		dev->kick_fds[q] = -1;
	}
	c->g[0] = (struct vcore_group){ .c = c, .dev = dev };
	c->nr_groups = 1;
	if (dev->ops->nr_queues > EVVM_VIRTIO_MAX_QUEUES)
		return -EINVAL;
	for (unsigned int q = 0; q < dev->ops->nr_queues; q++) {
		c->q[q].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (c->q[q].kick_fd < 0)
			return -errno;
		dev->kick_fds[q] = c->q[q].kick_fd;
		c->q[q].num = dev->ops->queue_max;
	}
	return 0;
}

int vcore_add_instance(struct vcore *c, struct evvm_virtio_dev *inst)
{
	if (c->nr_groups >= c->dev->ops->nr_queues)
		return -ENOSPC;
	c->g[c->nr_groups] = (struct vcore_group){ .c = c, .dev = inst, .index = c->nr_groups };
	c->nr_groups++;
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		inst->kick_fds[q] = c->q[q].kick_fd;
	return 0;
}

/* The group that serves queue @q. */
static struct vcore_group *group_of(struct vcore *c, unsigned int q)
{
	return &c->g[q % c->nr_groups];
}

void vcore_destroy(struct vcore *c)
{
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		if (c->q[q].kick_fd >= 0)
			close(c->q[q].kick_fd);
}

uint64_t vcore_offered(const struct vcore *c)
{
	return c->dev->host_features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
}

void vcore_fail(struct vcore *c)
{
	if (atomic_fetch_or(&c->status, VIRTIO_STATUS_DEVICE_NEEDS_RESET) &
	    VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	pr_warn("%s: device needs reset", c->name);
	c->ops->config_interrupt(c->opaque);
}

/* I/O thread: queue @mq was kicked. */
static void vcore_kick(void *opaque, uint32_t events)
{
	struct vcore_queue *mq = opaque;
	struct vcore *c = mq->c;
	struct vcore_group *g = group_of(c, mq->index);
	uint64_t n;

	(void)events;
	/* Paused: the kick waits in the eventfd (a batch may still hold its event). */
	if (g->io_quiesced || read(mq->kick_fd, &n, sizeof(n)) != sizeof(n))
		return;
	/* Each doorbell write added 1 to the eventfd's counter. */
	atomic_fetch_add_explicit(&mq->kicks, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&mq->kick_wakeups, 1, memory_order_relaxed);
	kick_latency_kicked(&mq->latency);
	if (mq->doorbell)
		ioeventfd_note_kicks(mq->doorbell, n);
	if (atomic_load(&c->status) & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	g->dev->ops->kick(g->dev, mq->index);
}

static void queue_unhook(struct vcore *c, struct vcore_queue *mq)
{
	if (mq->assigned)
		ioeventfd_deassign(c->ioeventfds, &mq->key, mq->kick_fd);
	mq->assigned = false;
	mq->doorbell = NULL;
}

/* The ioeventfd where the transport says the doorbell is now, if anywhere. */
static int queue_hook(struct vcore *c, struct vcore_queue *mq)
{
	int err;

	if (!c->ops->notify_key(c->opaque, mq->index, &mq->key))
		return 0;
	/* (no handle for a queue served elsewhere: its kicks are not read here) */
	err = ioeventfd_assign(c->ioeventfds, &mq->key, mq->kick_fd,
			       c->dev->ops->kick ? &mq->doorbell : NULL);
	mq->assigned = !err;
	return err;
}

void vcore_rekey(struct vcore *c)
{
	if (!c->started)
		return;
	for (unsigned int q = 0; q < c->dev->ops->nr_queues; q++) {
		struct vcore_queue *mq = &c->q[q];
		int err;

		if (!mq->ready)
			continue;
		queue_unhook(c, mq);
		err = queue_hook(c, mq);
		if (err)
			pr_warn("%s: queue %u doorbell: %s; kicks reach it by exit", c->name, q,
				evvm_strerror(err));
	}
}

void vcore_kick_by_hand(struct vcore *c, unsigned int q)
{
	uint64_t one = 1;

	/* (a device served elsewhere: its backend reads the same eventfd) */
	if (!c->started || q >= c->dev->ops->nr_queues || !c->q[q].ready)
		return;
	if (write(c->q[q].kick_fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_warn("%s: queue %u kick: %s", c->name, q, evvm_strerror(errno));
}

/* What runs on each group's I/O thread at DRIVER_OK, for its queues. */
static int vcore_start_on_loop(void *opaque)
{
	struct vcore_group *g = opaque;
	struct vcore *c = g->c;
	struct evvm_virtio_dev *dev = g->dev;
	int err;

	for (unsigned int q = g->index; q < dev->ops->nr_queues; q += c->nr_groups) {
		struct vcore_queue *mq = &c->q[q];

		if (!mq->ready)
			continue;
		/* Kicks of a queue served by another process are that process's to read. */
		err = dev->ops->kick ? loop_add(dev->loop, mq->kick_fd, EPOLLIN, vcore_kick, mq)
				     : 0;
		if (err)
			return err;
		mq->watched = dev->ops->kick;
		err = queue_hook(c, mq);
		if (err)
			return err;
	}
	err = dev->ops->start(dev);
	if (err || !dev->ops->kick)
		return err;
	/* Buffers made available before DRIVER_OK sent no kick. */
	for (unsigned int q = g->index; q < dev->ops->nr_queues; q += c->nr_groups)
		if (c->q[q].ready)
			dev->ops->kick(dev, q);
	return 0;
}

/* What runs on each group's I/O thread at reset: after it, nothing touches its rings. */
static int vcore_stop_on_loop(void *opaque)
{
	struct vcore_group *g = opaque;
	struct vcore *c = g->c;
	struct evvm_virtio_dev *dev = g->dev;

	if (c->started)
		dev->ops->stop(dev);
	g->io_quiesced = false;
	for (unsigned int q = g->index; q < dev->ops->nr_queues; q += c->nr_groups) {
		struct vcore_queue *mq = &c->q[q];

		queue_unhook(c, mq);
		if (mq->watched)
			loop_del(dev->loop, mq->kick_fd);
		mq->watched = false;
		kick_latency_forget(&mq->latency);
		vq_reset(&dev->vqs[q]);
	}
	return 0;
}

/* On each group's I/O thread: kicks off and the instance quiet, or the reverse. */
static int vcore_quiesce_on_loop(void *opaque)
{
	struct vcore_group *g = opaque;
	struct vcore *c = g->c;
	struct evvm_virtio_dev *dev = g->dev;
	int err = 0;

	g->io_quiesced = c->quiesced;
	if (c->quiesced)
		err = dev->ops->quiesce ? dev->ops->quiesce(dev, true) : -ENOTSUP;
	/* Kicks wait in their eventfds while paused, and are read once resumed. */
	for (unsigned int q = g->index; !err && q < dev->ops->nr_queues; q += c->nr_groups)
		if (c->q[q].watched)
			loop_mod(dev->loop, c->q[q].kick_fd, c->quiesced ? 0 : EPOLLIN);
	if (!err && !c->quiesced && dev->ops->quiesce)
		err = dev->ops->quiesce(dev, false);
	if (err)
		g->io_quiesced = !c->quiesced;
	return err;
}

int vcore_quiesce(struct vcore *c, bool quiesced)
{
	unsigned int i;
	int err = 0;

	if (!c->started || c->quiesced == quiesced)
		return 0;
	c->quiesced = quiesced;
	for (i = 0; i < c->nr_groups && !err; i++)
		err = loop_call(c->g[i].dev->loop, vcore_quiesce_on_loop, &c->g[i]);
	if (err) {
		/* The groups that changed go back (group i - 1 failed and stayed). */
		c->quiesced = !quiesced;
		for (unsigned int j = 0; j + 1 < i; j++)
			loop_call(c->g[j].dev->loop, vcore_quiesce_on_loop, &c->g[j]);
		pr_err("%s: %s: %s", c->name, quiesced ? "pause" : "resume", evvm_strerror(err));
	}
	return err;
}

void vcore_reset(struct vcore *c)
{
	for (unsigned int i = 0; i < c->nr_groups; i++)
		loop_call(c->g[i].dev->loop, vcore_stop_on_loop, &c->g[i]);
	c->started = false;
	c->quiesced = false;
	c->driver_features = 0;
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++) {
		struct vcore_queue *mq = &c->q[q];
		uint64_t n;

		mq->num = c->dev->ops->queue_max;
		mq->ready = false;
		mq->desc = mq->avail = mq->used = 0;
		/* A kick left in the eventfd belongs to the old driver. */
		if (mq->kick_fd >= 0 && read(mq->kick_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
			pr_warn("%s: draining kick: %s", c->name, evvm_strerror(errno));
	}
	atomic_store(&c->status, 0);
}

void vcore_set_status(struct vcore *c, uint32_t v)
{
	uint32_t old = atomic_load(&c->status);
	int err;

	if (v == 0) {
		vcore_reset(c);
		return;
	}
	/* The driver only ever adds bits (3.1.1); FAILED needs no action. */
	if ((old & ~v) & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) {
		pr_warn("%s: driver cleared status bits (0x%x -> 0x%x); ignored", c->name, old, v);
		return;
	}
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		/* Accept only what was offered, and only the modern interface. */
		if ((c->driver_features & ~vcore_offered(c)) ||
		    !(c->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
			pr_warn("%s: driver features 0x%llx not acceptable (offered 0x%llx)",
				c->name, (unsigned long long)c->driver_features,
				(unsigned long long)vcore_offered(c));
			v &= ~VIRTIO_STATUS_FEATURES_OK;
		}
		for (unsigned int i = 0; i < c->nr_groups; i++)
			c->g[i].dev->features = c->driver_features;
	}
	atomic_fetch_or(&c->status, v);

	if ((v & VIRTIO_STATUS_DRIVER_OK) && !c->started &&
	    !(v & VIRTIO_STATUS_DEVICE_NEEDS_RESET)) {
		if (!(v & VIRTIO_STATUS_FEATURES_OK)) {
			pr_warn("%s: DRIVER_OK without FEATURES_OK", c->name);
			vcore_fail(c);
			return;
		}
		err = 0;
		for (unsigned int i = 0; i < c->nr_groups && !err; i++)
			err = loop_call(c->g[i].dev->loop, vcore_start_on_loop, &c->g[i]);
		c->started = true; /* so that reset stops what did start */
		if (err) {
			pr_warn("%s: start: %s", c->name, evvm_strerror(err));
			vcore_fail(c);
		}
	}
}

void vcore_queue_enable(struct vcore *c, unsigned int q)
{
	struct evvm_virtio_dev *dev = c->dev;
	struct vcore_queue *mq = &c->q[q];

	/* Queues are set up before DRIVER_OK (3.1.1); a late one would never be served. */
	if (atomic_load(&c->status) & VIRTIO_STATUS_DRIVER_OK) {
		pr_warn("%s: queue %u enabled after DRIVER_OK", c->name, q);
		vcore_fail(c);
		return;
	}
	if (mq->num > dev->ops->queue_max || mq->num == 0) {
		pr_warn("%s: queue %u size %u: the device takes 1 to %u", c->name, q, mq->num,
			dev->ops->queue_max);
		vcore_fail(c);
		return;
	}
	/* vq_init() says what is wrong with the queue; its instance's ring. */
	dev = group_of(c, q)->dev;
	if (vq_init(&dev->vqs[q], dev->mem, mq->name, mq->num, mq->desc, mq->avail, mq->used,
		    c->driver_features)) {
		vcore_fail(c);
		return;
	}
	mq->ready = true;
}

void vcore_save(struct vcore *c, struct virtio_state *s)
{
	s->device_id = c->dev->ops->device_id;
	s->nr_queues = c->dev->ops->nr_queues;
	s->status = atomic_load(&c->status);
	s->offered = vcore_offered(c);
	s->driver_features = c->driver_features;
	for (unsigned int q = 0; q < c->dev->ops->nr_queues; q++) {
		const struct vcore_queue *mq = &c->q[q];
		struct virtio_state_queue *sq = &s->q[q];

		sq->num = mq->num;
		sq->ready = mq->ready;
		sq->desc = mq->desc;
		sq->avail = mq->avail;
		sq->used = mq->used;
		if (mq->ready)
			virtio_state_save_queue(sq, &group_of(c, q)->dev->vqs[q]);
	}
}

int vcore_restore(struct vcore *c, const struct virtio_state *s, const char *file)
{
	const uint32_t live = VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	int err = virtio_state_check(s, c->dev, vcore_offered(c), file);

	for (unsigned int q = 0; !err && q < c->dev->ops->nr_queues; q++) {
		struct vcore_queue *mq = &c->q[q];
		const struct virtio_state_queue *sq = &s->q[q];

		mq->num = sq->num;
		mq->desc = sq->desc;
		mq->avail = sq->avail;
		mq->used = sq->used;
		if (sq->ready)
			err = virtio_state_load_queue(s, group_of(c, q)->dev, q, mq->name, file);
		mq->ready = sq->ready && !err;
	}
	if (err) {
		vcore_reset(c);
		return err;
	}
	c->driver_features = s->driver_features;
	for (unsigned int i = 0; i < c->nr_groups; i++)
		c->g[i].dev->features = s->driver_features;
	atomic_store(&c->status, s->status);
	/* A device that failed waits for the driver's reset, as it did. */
	if ((s->status & live) != VIRTIO_STATUS_DRIVER_OK)
		return 0;
	for (unsigned int i = 0; i < c->nr_groups && !err; i++)
		err = loop_call(c->g[i].dev->loop, vcore_start_on_loop, &c->g[i]);
	c->started = true; /* so that reset stops what did start */
	if (err) {
		pr_err("snapshot '%s': %s: start: %s", file, c->name, evvm_strerror(err));
		vcore_reset(c);
	}
	return err;
}
