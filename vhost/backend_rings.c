// SPDX-License-Identifier: MIT
/*
 * vhost-user backend: the rings, on their groups' I/O threads. Every
 * vub_io_*() function runs its body there (loop_call()) with an argument
 * struct of its own, on the ring's group, or on each group in turn; see
 * backend_int.h for who owns what and backend.h for how ring states map
 * onto the device's ops. Each group is a device of its own: starting,
 * stopping and failing are per group.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
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

static bool ring_enabled(const struct vub_ring *r)
{
	return r->g->all_enabled || r->enabled;
}

/* The rings of group @g, one bit each. */
static uint64_t group_rings(const struct vub_group *g)
{
	const struct vhost_backend *b = g->b;
	uint64_t mask = 0;

	for (unsigned int q = g->index; q < b->ops->nr_queues; q += b->nr_groups)
		mask |= 1ULL << q;
	return mask;
}

/* The group's ring after @r (NULL: the first), or NULL after its last. */
static struct vub_ring *group_next(const struct vub_group *g, const struct vub_ring *r)
{
	unsigned int q = r ? r->index + g->b->nr_groups : g->index;

	return q < g->b->ops->nr_queues ? &g->b->rings[q] : NULL;
}

/* The group's started rings (its own thread, or the control thread). */
static uint64_t group_started(const struct vub_group *g)
{
	uint64_t mask = 0;

	for (struct vub_ring *r = group_next(g, NULL); r; r = group_next(g, r))
		if (r->started)
			mask |= 1ULL << r->index;
	return mask;
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
	struct vub_group *g = dev->transport;

	if (q < EVVM_VIRTIO_MAX_QUEUES)
		vub_signal(g->b->rings[q].call_fd);
}

/* Group @g stops processing and signals its rings' err fds; whether it had not yet. */
static bool group_fail(struct vub_group *g)
{
	if (g->failed)
		return false;
	g->failed = true;
	for (struct vub_ring *r = group_next(g, NULL); r; r = group_next(g, r))
		vub_signal(r->err_fd);
	return true;
}

/*
 * vhost-user has no status to set: log, signal err fds, stop processing,
 * and have the control thread tell the other groups (vub_fail_all()).
 */
void vub_needs_reset(struct evvm_virtio_dev *dev)
{
	struct vub_group *g = dev->transport;
	struct vhost_backend *b = g->b;
	uint64_t one = 1;

	if (!group_fail(g))
		return;
	pr_err("%s: device needs reset: its rings are not processed until the frontend restarts "
	       "them",
	       b->name);
	if (b->nr_groups > 1 && write(b->fail_efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		pr_err("%s: telling the other I/O threads: %s", b->name, evvm_strerror(errno));
}

static int io_group_failed(void *opaque)
{
	const struct vub_group *g = opaque;

	return g->failed;
}

static int io_group_fail(void *opaque)
{
	group_fail(opaque);
	return 0;
}

/*
 * Only if a group is still failed: a reset (RESET_DEVICE, a ring restart, a
 * new frontend) handled before this clears the failure, and must not be
 * undone by its stale signal. Only the control thread clears `failed`, so
 * nothing clears it between the check and the calls.
 */
void vub_fail_all(struct vhost_backend *b)
{
	bool any = false;

	for (unsigned int i = 0; i < b->nr_groups && !any; i++)
		any = loop_call(b->groups[i].loop, io_group_failed, &b->groups[i]);
	if (!any)
		return;
	for (unsigned int i = 0; i < b->nr_groups; i++)
		loop_call(b->groups[i].loop, io_group_fail, &b->groups[i]);
}

/* Kick the device for ring @r if it may process it now. */
static void ring_poke(struct vub_ring *r)
{
	struct vub_group *g = r->g;

	if (r->started && g->dev_started && ring_enabled(r) && !g->failed)
		g->dev->ops->kick(g->dev, r->index);
}

static void rings_poke(struct vub_group *g)
{
	for (struct vub_ring *r = group_next(g, NULL); r; r = group_next(g, r))
		ring_poke(r);
}

/* A kick fd is readable. */
static void vub_on_kick(void *opaque, uint32_t events)
{
	struct vub_ring *r = opaque;
	uint64_t v;

	(void)events;
	if (read(r->kick_fd, &v, sizeof(v)) < 0 && errno != EAGAIN && errno != EINTR)
		pr_debug("%s: kick fd: %s", r->name, evvm_strerror(errno));
	ring_poke(r);
}

static int ring_watch(struct vub_ring *r)
{
	int err;

	if (r->kick_watched || r->kick_fd < 0)
		return 0;
	err = loop_add(r->g->loop, r->kick_fd, EPOLLIN, vub_on_kick, r);
	if (err)
		return err;
	r->kick_watched = true;
	return 0;
}

static void ring_unwatch(struct vub_ring *r)
{
	if (!r->kick_watched)
		return;
	loop_del(r->g->loop, r->kick_fd);
	r->kick_watched = false;
}

/*
 * vq_init() ring @r from its configuration and the current memory table,
 * then continue at @base (the whole of it with @whole; see vq_set_base()).
 * With an in-flight region, the region decides where the ring continues and
 * which chains are submitted again (inflight_ring_start()).
 */
static int ring_map(struct vub_ring *r, const struct vq_base *base, bool whole)
{
	struct vub_group *g = r->g;
	struct vhost_backend *b = r->b;
	struct evvm_vq *vq = &g->dev->vqs[r->index];
	struct ring_gpas rg;
	const char *bad;
	char why[160];
	int err;

	err = memtable_ring_gpas(&g->mem_table, r->desc_ua, r->avail_ua, r->used_ua, r->num, &rg,
				 &bad);
	if (err) {
		pr_err("%s: %s is not in the frontend's memory", r->name, bad);
		vq_reset(vq);
	} else {
		/* vq_init() says why it fails. */
		err = vq_init(vq, &g->mem, r->name, r->num, rg.desc, rg.avail, rg.used,
			      g->dev->features);
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
static void rings_remap(struct vub_group *g)
{
	for (struct vub_ring *r = group_next(g, NULL); r; r = group_next(g, r)) {
		struct vq_base base;

		if (!r->started)
			continue;
		vq_get_base(&g->dev->vqs[r->index], &base);
		if (ring_map(r, &base, true)) {
			pr_err("%s: cannot be mapped again", r->name);
			vub_needs_reset(g->dev);
		}
	}
}

/* Start the group's device; the caller has vq_init()ed the rings that run. */
static int dev_start(struct vub_group *g)
{
	int err;

	g->failed = false;
	err = g->dev->ops->start(g->dev);
	if (err) {
		pr_err("%s: device start: %s", g->b->name, evvm_strerror(err));
		return err;
	}
	g->dev_started = true;
	return 0;
}

static void dev_stop(struct vub_group *g)
{
	if (!g->dev_started)
		return;
	g->dev->ops->stop(g->dev);
	g->dev_started = false;
}

/*
 * The group's device was stopped with requests in flight while rings still
 * run: map those rings again (their in-flight counts are stale), keeping
 * their indices, and start the device again.
 */
static void dev_restart(struct vub_group *g)
{
	rings_remap(g);
	if (!g->failed && dev_start(g))
		vub_needs_reset(g->dev);
	rings_poke(g);
}

struct ring_start_arg {
	struct vhost_backend *b;
	unsigned int q;
	int fd;
};

static int io_ring_start(void *opaque)
{
	struct ring_start_arg *a = opaque;
	struct vub_ring *r = &a->b->rings[a->q];
	struct vub_group *g = r->g;
	struct vq_base base = { .last_avail = r->base };
	int err;

	err = ring_map(r, &base, false);
	if (err)
		return err;
	r->kick_fd = a->fd;
	err = ring_watch(r);
	if (err) {
		pr_err("%s: watching the kick fd: %s", r->name, evvm_strerror(err));
		goto undo;
	}
	r->started = true;
	if (!g->dev_started) {
		err = dev_start(g);
		if (err) {
			r->started = false;
			ring_unwatch(r);
			goto undo;
		}
	}
	/* Buffers made available before the ring started sent no kick we saw. */
	ring_poke(r);
	return 0;
undo:
	r->kick_fd = -1;
	vq_reset(&g->dev->vqs[a->q]);
	inflight_ring_stop(&r->ir);
	return err;
}

int vub_io_ring_start(struct vhost_backend *b, unsigned int q, int fd)
{
	struct ring_start_arg a = { b, q, fd };

	return loop_call(b->rings[q].g->loop, io_ring_start, &a);
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
	struct vub_ring *r = &a->b->rings[a->q];
	int old = r->kick_fd, err;

	ring_unwatch(r);
	r->kick_fd = a->fd;
	err = ring_watch(r);
	if (err) {
		pr_err("%s: watching the kick fd: %s", r->name, evvm_strerror(err));
		r->kick_fd = old;
		if (ring_watch(r))
			pr_err("%s: the old kick fd cannot be watched again", r->name);
		return err;
	}
	a->fd = old;
	ring_poke(r);
	return 0;
}

int vub_io_ring_set_kick(struct vhost_backend *b, unsigned int q, int *fd)
{
	struct ring_fd_arg a = { .b = b, .q = q, .fd = *fd };
	int err = loop_call(b->rings[q].g->loop, io_ring_set_kick, &a);

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
	if (a->err && r->g->failed)
		vub_signal(r->err_fd);
	return 0;
}

void vub_io_ring_set_signal(struct vhost_backend *b, unsigned int q, bool err, int *fd)
{
	struct ring_fd_arg a = { .b = b, .q = q, .err = err, .fd = *fd };

	loop_call(b->rings[q].g->loop, io_ring_set_signal, &a);
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
	bool was = ring_enabled(r);

	r->enabled = a->enable;
	if (!was && ring_enabled(r))
		ring_poke(r);
	return 0;
}

void vub_io_ring_enable(struct vhost_backend *b, unsigned int q, bool enable)
{
	struct ring_enable_arg a = { b, q, enable };

	loop_call(b->rings[q].g->loop, io_ring_enable, &a);
}

struct rings_arg {
	struct vub_group *g;
	uint64_t mask; /* of the group's rings */
};

/* Stop watching the kick fds of the rings in the mask (the device keeps running). */
static int io_rings_pause(void *opaque)
{
	struct rings_arg *a = opaque;

	for (struct vub_ring *r = group_next(a->g, NULL); r; r = group_next(a->g, r))
		if (a->mask & (1ULL << r->index))
			ring_unwatch(r);
	return 0;
}

/* Chains popped and not yet pushed on the rings in the mask; -1 if the device failed. */
static int io_rings_inflight(void *opaque)
{
	struct rings_arg *a = opaque;
	int n = 0;

	if (a->g->failed)
		return -1;
	for (struct vub_ring *r = group_next(a->g, NULL); r; r = group_next(a->g, r))
		if (a->mask & (1ULL << r->index))
			n += a->g->dev->vqs[r->index].inflight;
	return n;
}

/* Requests in flight on the rings of @mask, over every group; -1 if a device failed. */
static int rings_inflight(struct vhost_backend *b, uint64_t mask)
{
	int n = 0;

	for (unsigned int i = 0; i < b->nr_groups; i++) {
		struct rings_arg a = { &b->groups[i], mask & group_rings(&b->groups[i]) };
		int k;

		if (!a.mask)
			continue;
		k = loop_call(a.g->loop, io_rings_inflight, &a);
		if (k < 0)
			return -1;
		n += k;
	}
	return n;
}

bool vub_rings_drain(struct vhost_backend *b, uint64_t mask)
{
	uint64_t deadline = now_ms() + VHOST_BACKEND_DRAIN_MS;
	const struct timespec tick = { .tv_nsec = 1000000 };

	for (unsigned int i = 0; i < b->nr_groups; i++) {
		struct rings_arg a = { &b->groups[i], mask & group_rings(&b->groups[i]) };

		if (a.mask)
			loop_call(a.g->loop, io_rings_pause, &a);
	}
	for (bool first = true;; first = false) {
		int n = rings_inflight(b, mask);

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

/*
 * A kick the frontend sent before GET_VRING_BASE may still sit unread in the
 * kick fd (the I/O thread runs this call first): serve it, so that the ring
 * stops after what was kicked, whichever event the loop saw first.
 */
static void ring_serve_pending_kick(struct vub_ring *r)
{
	struct pollfd p = { .fd = r->kick_fd, .events = POLLIN };

	if (r->kick_fd >= 0 && r->kick_watched && poll(&p, 1, 0) == 1)
		vub_on_kick(r, EPOLLIN);
}

static int io_ring_stop(void *opaque)
{
	struct ring_stop_arg *a = opaque;
	struct vub_ring *r = &a->b->rings[a->q];
	struct vub_group *g = r->g;
	struct evvm_vq *vq = &g->dev->vqs[a->q];
	bool others = group_started(g) & ~(1ULL << a->q);
	uint32_t inflight;
	struct vq_base base;

	ring_serve_pending_kick(r);
	inflight = vq->inflight;
	vq_get_base(vq, &base);
	a->last_avail = base.last_avail;
	r->started = false;
	if (!others) {
		dev_stop(g);
		g->failed = false;
	} else if (inflight && !g->failed) {
		/* The device cannot cancel one ring's requests: reset it, resume the others. */
		dev_stop(g);
	}
	if (inflight)
		pr_warn("%s: stopped with %u requests in flight; they were cancelled", r->name,
			inflight);
	vq_reset(vq);
	inflight_ring_stop(&r->ir);
	if (others && inflight && !g->failed)
		dev_restart(g);
	a->kick_fd = r->kick_fd;
	r->kick_fd = -1;
	return 0;
}

uint16_t vub_io_ring_stop(struct vhost_backend *b, unsigned int q, int *kick_fd)
{
	struct ring_stop_arg a = { .b = b, .q = q };

	loop_call(b->rings[q].g->loop, io_ring_stop, &a);
	*kick_fd = a.kick_fd;
	return a.last_avail;
}

struct mem_swap_arg {
	struct vub_group *g;
	const struct vub_table *table;
	const struct evvm_mem *mem;
	bool quiesced;
};

static int io_mem_swap(void *opaque)
{
	struct mem_swap_arg *a = opaque;
	struct vub_group *g = a->g;
	bool cancel = group_started(g) && !a->quiesced && g->dev_started;

	if (cancel)
		dev_stop(g);
	g->mem_table = *a->table;
	g->mem = *a->mem; /* dev->mem and each vq->mem point here */
	rings_remap(g);
	for (struct vub_ring *r = group_next(g, NULL); r; r = group_next(g, r))
		if (r->started && ring_watch(r))
			pr_err("%s: the kick fd cannot be watched again", r->name);
	if (cancel && !g->failed && dev_start(g))
		vub_needs_reset(g->dev);
	rings_poke(g);
	return 0;
}

/*
 * One group after the other: a group that has not switched yet still uses
 * the old mappings, which stay until every group has switched.
 */
void vub_io_mem_swap(struct vhost_backend *b, struct vub_table *t, const struct evvm_mem *mem,
		     bool quiesced)
{
	struct vub_table old = b->mem_table;

	for (unsigned int i = 0; i < b->nr_groups; i++) {
		struct mem_swap_arg a = { &b->groups[i], t, mem, quiesced };

		loop_call(b->groups[i].loop, io_mem_swap, &a);
	}
	b->mem_table = *t;
	*t = old;
}

struct features_arg {
	struct vub_group *g;
	uint64_t features;
};

static int io_set_features(void *opaque)
{
	struct features_arg *a = opaque;

	a->g->dev->features = a->features & ~VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	a->g->all_enabled = !(a->features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	return 0;
}

void vub_io_set_features(struct vhost_backend *b, uint64_t features)
{
	for (unsigned int i = 0; i < b->nr_groups; i++) {
		struct features_arg a = { &b->groups[i], features };

		loop_call(b->groups[i].loop, io_set_features, &a);
	}
}

static int io_disable_all(void *opaque)
{
	struct vub_group *g = opaque;

	g->all_enabled = false;
	for (struct vub_ring *r = group_next(g, NULL); r; r = group_next(g, r))
		r->enabled = false;
	return 0;
}

void vub_io_disable_all(struct vhost_backend *b)
{
	for (unsigned int i = 0; i < b->nr_groups; i++)
		loop_call(b->groups[i].loop, io_disable_all, &b->groups[i]);
}

struct reset_arg {
	struct vub_group *g;
	bool forget; /* false: RESET_DEVICE; true: the end of the connection */
};

static int io_reset(void *opaque)
{
	struct reset_arg *a = opaque;
	struct vub_group *g = a->g;

	dev_stop(g);
	g->failed = false;
	for (struct vub_ring *r = group_next(g, NULL); r; r = group_next(g, r)) {
		ring_unwatch(r);
		vq_reset(&g->dev->vqs[r->index]);
		inflight_ring_stop(&r->ir);
		r->started = false;
		r->enabled = false;
	}
	if (a->forget) {
		g->mem_table.nr = 0;
		mem_init(&g->mem);
		g->dev->features = 0;
		g->all_enabled = true;
	}
	return 0;
}

void vub_io_reset(struct vhost_backend *b, struct vub_table *old)
{
	for (unsigned int i = 0; i < b->nr_groups; i++) {
		struct reset_arg a = { &b->groups[i], old != NULL };

		loop_call(b->groups[i].loop, io_reset, &a);
	}
	if (old) {
		*old = b->mem_table;
		b->mem_table.nr = 0;
	}
}
