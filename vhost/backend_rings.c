// SPDX-License-Identifier: MIT
/*
 * vhost-user backend: the rings, on the device's I/O thread. Every
 * vub_io_*() function runs its body there (loop_call()) with an argument
 * struct of its own; see backend_int.h for who owns what and backend.h for
 * how ring states map onto the device's ops.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#include <evvm/virtio.h>

#include "backend_int.h"

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/*
 * Signal an eventfd (call or err) without ever blocking the I/O thread: the
 * fds are non-blocking (set when received), so a saturated counter or a
 * full pipe is an EAGAIN, and skipped.
 */
static void vub_signal(int fd)
{
	uint64_t one = 1;

	if (fd < 0)
		return;
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_debug("signalling fd %d: %s", fd, evvm_strerror(errno));
}

static bool ring_enabled(const struct vhost_backend *b, const struct vub_ring *r)
{
	return b->all_enabled || r->enabled;
}

uint64_t vub_rings_started(const struct vhost_backend *b)
{
	uint64_t mask = 0;

	for (unsigned int q = 0; q < b->ops->nr_queues; q++)
		if (b->rings[q].started)
			mask |= 1ULL << q;
	return mask;
}

void vub_notify(struct evvm_virtio_dev *dev, unsigned int q)
{
	struct vhost_backend *b = dev->transport;

	if (q < EVVM_VIRTIO_MAX_QUEUES)
		vub_signal(b->rings[q].call_fd);
}

/* vhost-user has no status to set: log, signal err fds, stop processing. */
void vub_needs_reset(struct evvm_virtio_dev *dev)
{
	struct vhost_backend *b = dev->transport;

	if (b->failed)
		return;
	b->failed = true;
	pr_err("%s: device needs reset: its rings are not processed until the frontend restarts "
	       "them",
	       b->name);
	for (unsigned int q = 0; q < b->ops->nr_queues; q++)
		vub_signal(b->rings[q].err_fd);
}

/* Kick the device for ring @r if it may process it now. */
static void ring_poke(struct vhost_backend *b, struct vub_ring *r)
{
	if (r->started && b->dev_started && ring_enabled(b, r) && !b->failed)
		b->ops->kick(b->dev, r->index);
}

static void rings_poke(struct vhost_backend *b)
{
	for (unsigned int q = 0; q < b->ops->nr_queues; q++)
		ring_poke(b, &b->rings[q]);
}

/* A kick fd is readable. */
static void vub_on_kick(void *opaque, uint32_t events)
{
	struct vub_ring *r = opaque;
	uint64_t v;

	(void)events;
	if (read(r->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN && errno != EINTR)
		pr_debug("%s: kick fd: %s", r->name, evvm_strerror(errno));
	ring_poke(r->b, r);
}

static int ring_watch(struct vhost_backend *b, struct vub_ring *r)
{
	int err;

	if (r->kick_watched || r->kick_fd < 0)
		return 0;
	err = loop_add(b->dev->loop, r->kick_fd, EPOLLIN, vub_on_kick, r);
	if (err)
		return err;
	r->kick_watched = true;
	return 0;
}

static void ring_unwatch(struct vhost_backend *b, struct vub_ring *r)
{
	if (!r->kick_watched)
		return;
	loop_del(b->dev->loop, r->kick_fd);
	r->kick_watched = false;
}

/*
 * vq_init() ring @r from its configuration and the current memory table,
 * then continue at @base (the whole of it with @whole; see vq_set_base()).
 * With an in-flight region, the region decides where the ring continues and
 * which chains are submitted again (inflight_ring_start()).
 */
static int ring_map(struct vhost_backend *b, struct vub_ring *r, const struct vq_base *base,
		    bool whole)
{
	struct evvm_vq *vq = &b->dev->vqs[r->index];
	struct ring_gpas g;
	const char *bad;
	char why[160];
	int err;

	err = memtable_ring_gpas(&b->mem_table, r->desc_ua, r->avail_ua, r->used_ua, r->num, &g,
				 &bad);
	if (err) {
		pr_err("%s: %s is not in the frontend's memory", r->name, bad);
		vq_reset(vq);
	} else {
		/* vq_init() says why it fails. */
		err = vq_init(vq, &b->mem, r->name, r->num, g.desc, g.avail, g.used,
			      b->dev->features);
	}
	/* Even on failure: GET_VRING_BASE reports it (the queue is not ready, nothing pops). */
	vq_set_base(vq, base, false);
	if (err)
		return err;
	err = vq_set_base(vq, base, whole);
	if (err || !b->inflight.addr)
		return err;
	err = inflight_ring_start(&r->ir, &b->inflight, r->index, vq, why, sizeof(why));
	if (err < 0) {
		pr_err("%s: in-flight tracking: %s", r->name, why);
		vq_reset(vq);
		vq_set_base(vq, base, false);
		return err;
	}
	return 0;
}

/* Map every started ring again at its current position (memory or in-flight counts changed). */
static void rings_remap(struct vhost_backend *b)
{
	for (unsigned int q = 0; q < b->ops->nr_queues; q++) {
		struct vub_ring *r = &b->rings[q];
		struct vq_base base;

		if (!r->started)
			continue;
		vq_get_base(&b->dev->vqs[q], &base);
		if (ring_map(b, r, &base, true)) {
			pr_err("%s: cannot be mapped again", r->name);
			vub_needs_reset(b->dev);
		}
	}
}

/* Start the device; the caller has vq_init()ed the rings that run. */
static int dev_start(struct vhost_backend *b)
{
	int err;

	b->failed = false;
	err = b->ops->start(b->dev);
	if (err) {
		pr_err("%s: device start: %s", b->name, evvm_strerror(err));
		return err;
	}
	b->dev_started = true;
	return 0;
}

static void dev_stop(struct vhost_backend *b)
{
	if (!b->dev_started)
		return;
	b->ops->stop(b->dev);
	b->dev_started = false;
}

/*
 * The device was stopped with requests in flight while rings still run:
 * map those rings again (their in-flight counts are stale), keeping their
 * indices, and start the device again.
 */
static void dev_restart(struct vhost_backend *b)
{
	rings_remap(b);
	if (!b->failed && dev_start(b))
		vub_needs_reset(b->dev);
	rings_poke(b);
}

struct ring_start_arg {
	struct vhost_backend *b;
	unsigned int q;
	int fd;
};

static int io_ring_start(void *opaque)
{
	struct ring_start_arg *a = opaque;
	struct vhost_backend *b = a->b;
	struct vub_ring *r = &b->rings[a->q];
	struct vq_base base = { .last_avail = r->base };
	int err;

	err = ring_map(b, r, &base, false);
	if (err)
		return err;
	r->kick_fd = a->fd;
	err = ring_watch(b, r);
	if (err) {
		pr_err("%s: watching the kick fd: %s", r->name, evvm_strerror(err));
		goto undo;
	}
	r->started = true;
	if (!b->dev_started) {
		err = dev_start(b);
		if (err) {
			r->started = false;
			ring_unwatch(b, r);
			goto undo;
		}
	}
	/* Buffers made available before the ring started sent no kick we saw. */
	ring_poke(b, r);
	return 0;
undo:
	r->kick_fd = -1;
	vq_reset(&b->dev->vqs[a->q]);
	inflight_ring_stop(&r->ir);
	return err;
}

int vub_io_ring_start(struct vhost_backend *b, unsigned int q, int fd)
{
	struct ring_start_arg a = { b, q, fd };

	return loop_call(b->dev->loop, io_ring_start, &a);
}

struct ring_fd_arg {
	struct vhost_backend *b;
	unsigned int q;
	bool err;
	int fd; /* in: the new fd; out: the old one */
};

static int io_ring_set_kick(void *opaque)
{
	struct ring_fd_arg *a = opaque;
	struct vhost_backend *b = a->b;
	struct vub_ring *r = &b->rings[a->q];
	int old = r->kick_fd, err;

	ring_unwatch(b, r);
	r->kick_fd = a->fd;
	err = ring_watch(b, r);
	if (err) {
		pr_err("%s: watching the kick fd: %s", r->name, evvm_strerror(err));
		r->kick_fd = old;
		if (ring_watch(b, r))
			pr_err("%s: the old kick fd cannot be watched again", r->name);
		return err;
	}
	a->fd = old;
	ring_poke(b, r);
	return 0;
}

int vub_io_ring_set_kick(struct vhost_backend *b, unsigned int q, int *fd)
{
	struct ring_fd_arg a = { .b = b, .q = q, .fd = *fd };
	int err = loop_call(b->dev->loop, io_ring_set_kick, &a);

	if (!err)
		*fd = a.fd;
	return err;
}

static int io_ring_set_signal(void *opaque)
{
	struct ring_fd_arg *a = opaque;
	struct vub_ring *r = &a->b->rings[a->q];
	int *slot = a->err ? &r->err_fd : &r->call_fd;
	int old = *slot;

	*slot = a->fd;
	a->fd = old;
	/* A notification may have gone to the old fd, or nowhere: one more is harmless. */
	if (!a->err && r->started)
		vub_signal(r->call_fd);
	if (a->err && a->b->failed)
		vub_signal(r->err_fd);
	return 0;
}

void vub_io_ring_set_signal(struct vhost_backend *b, unsigned int q, bool err, int *fd)
{
	struct ring_fd_arg a = { .b = b, .q = q, .err = err, .fd = *fd };

	loop_call(b->dev->loop, io_ring_set_signal, &a);
	*fd = a.fd;
}

struct ring_enable_arg {
	struct vhost_backend *b;
	unsigned int q;
	bool enable;
};

static int io_ring_enable(void *opaque)
{
	struct ring_enable_arg *a = opaque;
	struct vub_ring *r = &a->b->rings[a->q];
	bool was = ring_enabled(a->b, r);

	r->enabled = a->enable;
	if (!was && ring_enabled(a->b, r))
		ring_poke(a->b, r);
	return 0;
}

void vub_io_ring_enable(struct vhost_backend *b, unsigned int q, bool enable)
{
	struct ring_enable_arg a = { b, q, enable };

	loop_call(b->dev->loop, io_ring_enable, &a);
}

struct rings_arg {
	struct vhost_backend *b;
	uint64_t mask;
};

/* Stop watching the kick fds of the rings in the mask (the device keeps running). */
static int io_rings_pause(void *opaque)
{
	struct rings_arg *a = opaque;

	for (unsigned int q = 0; q < a->b->ops->nr_queues; q++)
		if (a->mask & (1ULL << q))
			ring_unwatch(a->b, &a->b->rings[q]);
	return 0;
}

/* Chains popped and not yet pushed on the rings in the mask; -1 if the device failed. */
static int io_rings_inflight(void *opaque)
{
	struct rings_arg *a = opaque;
	struct vhost_backend *b = a->b;
	int n = 0;

	if (b->failed)
		return -1;
	for (unsigned int q = 0; q < b->ops->nr_queues; q++)
		if (a->mask & (1ULL << q))
			n += b->dev->vqs[q].inflight;
	return n;
}

bool vub_rings_drain(struct vhost_backend *b, uint64_t mask)
{
	struct rings_arg a = { b, mask };
	uint64_t deadline = now_ms() + VHOST_BACKEND_DRAIN_MS;
	const struct timespec tick = { .tv_nsec = 1000000 };

	loop_call(b->dev->loop, io_rings_pause, &a);
	for (bool first = true;; first = false) {
		int n = loop_call(b->dev->loop, io_rings_inflight, &a);

		if (n == 0)
			return true;
		if (first && n > 0)
			pr_debug("%s: waiting for %d requests in flight", b->name, n);
		if (n < 0)
			return false;
		if (now_ms() >= deadline) {
			pr_warn("%s: %d requests still in flight after %u ms", b->name, n,
				VHOST_BACKEND_DRAIN_MS);
			return false;
		}
		if (atomic_load(&b->stopping))
			return false;
		nanosleep(&tick, NULL);
	}
}

struct ring_stop_arg {
	struct vhost_backend *b;
	unsigned int q;
	int kick_fd;	     /* out */
	uint16_t last_avail; /* out */
};

static int io_ring_stop(void *opaque)
{
	struct ring_stop_arg *a = opaque;
	struct vhost_backend *b = a->b;
	struct vub_ring *r = &b->rings[a->q];
	struct evvm_vq *vq = &b->dev->vqs[a->q];
	bool others = vub_rings_started(b) & ~(1ULL << a->q);
	uint32_t inflight = vq->inflight;
	struct vq_base base;

	vq_get_base(vq, &base);
	a->last_avail = base.last_avail;
	r->started = false;
	if (!others) {
		dev_stop(b);
		b->failed = false;
	} else if (inflight && !b->failed) {
		/* The device cannot cancel one ring's requests: reset it, resume the others. */
		dev_stop(b);
	}
	if (inflight)
		pr_warn("%s: stopped with %u requests in flight; they were cancelled", r->name,
			inflight);
	vq_reset(vq);
	inflight_ring_stop(&r->ir);
	if (others && inflight && !b->failed)
		dev_restart(b);
	a->kick_fd = r->kick_fd;
	r->kick_fd = -1;
	return 0;
}

uint16_t vub_io_ring_stop(struct vhost_backend *b, unsigned int q, int *kick_fd)
{
	struct ring_stop_arg a = { .b = b, .q = q };

	loop_call(b->dev->loop, io_ring_stop, &a);
	*kick_fd = a.kick_fd;
	return a.last_avail;
}

struct mem_swap_arg {
	struct vhost_backend *b;
	struct vub_table *table; /* in: the new table; out: the old one */
	const struct evvm_mem *mem;
	bool quiesced;
};

static int io_mem_swap(void *opaque)
{
	struct mem_swap_arg *a = opaque;
	struct vhost_backend *b = a->b;
	struct vub_table old_table = b->mem_table;
	bool cancel = vub_rings_started(b) && !a->quiesced && b->dev_started;

	if (cancel)
		dev_stop(b);
	b->mem_table = *a->table;
	b->mem = *a->mem; /* dev->mem and each vq->mem point here */
	*a->table = old_table;
	rings_remap(b);
	for (unsigned int q = 0; q < b->ops->nr_queues; q++)
		if (b->rings[q].started && ring_watch(b, &b->rings[q]))
			pr_err("%s: the kick fd cannot be watched again", b->rings[q].name);
	if (cancel && !b->failed && dev_start(b))
		vub_needs_reset(b->dev);
	rings_poke(b);
	return 0;
}

void vub_io_mem_swap(struct vhost_backend *b, struct vub_table *t, const struct evvm_mem *mem,
		     bool quiesced)
{
	struct mem_swap_arg a = { b, t, mem, quiesced };

	loop_call(b->dev->loop, io_mem_swap, &a);
}

struct features_arg {
	struct vhost_backend *b;
	uint64_t features;
};

static int io_set_features(void *opaque)
{
	struct features_arg *a = opaque;

	a->b->dev->features = a->features & ~VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	a->b->all_enabled = !(a->features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	return 0;
}

void vub_io_set_features(struct vhost_backend *b, uint64_t features)
{
	struct features_arg a = { b, features };

	loop_call(b->dev->loop, io_set_features, &a);
}

static int io_disable_all(void *opaque)
{
	struct vhost_backend *b = opaque;

	b->all_enabled = false;
	for (unsigned int q = 0; q < b->ops->nr_queues; q++)
		b->rings[q].enabled = false;
	return 0;
}

void vub_io_disable_all(struct vhost_backend *b)
{
	loop_call(b->dev->loop, io_disable_all, b);
}

struct reset_arg {
	struct vhost_backend *b;
	struct vub_table *old; /* NULL: RESET_DEVICE; else the end of the connection */
};

static int io_reset(void *opaque)
{
	struct reset_arg *a = opaque;
	struct vhost_backend *b = a->b;

	dev_stop(b);
	b->failed = false;
	for (unsigned int q = 0; q < b->ops->nr_queues; q++) {
		struct vub_ring *r = &b->rings[q];

		ring_unwatch(b, r);
		vq_reset(&b->dev->vqs[q]);
		inflight_ring_stop(&r->ir);
		r->started = false;
		r->enabled = false;
	}
	if (a->old) {
		*a->old = b->mem_table;
		b->mem_table.nr = 0;
		mem_init(&b->mem);
		b->dev->features = 0;
		b->all_enabled = true;
	}
	return 0;
}

void vub_io_reset(struct vhost_backend *b, struct vub_table *old)
{
	struct reset_arg a = { b, old };

	loop_call(b->dev->loop, io_reset, &a);
}
