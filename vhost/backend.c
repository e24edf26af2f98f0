// SPDX-License-Identifier: MIT
/*
 * vhost-user backend: one virtio device served on a unix socket (QEMU's
 * docs/interop/vhost-user.rst). See backend.h for the threads and for how
 * ring states map onto the device's ops.
 *
 * Ownership. The control thread owns the connection, the memory mappings,
 * each ring's configuration (size, addresses, base) and its kick, call and
 * err fds. State the I/O thread reads in its own callbacks (kick, notify,
 * needs_reset) -- which rings run and are enabled, which fds they use,
 * dev->features, dev->mem -- is written only on the I/O thread, inside
 * functions the control thread runs there with loop_call(); that call
 * orders those writes with everything the control thread does before and
 * after it, so neither side needs a lock.
 *
 * Every message is checked before anything is changed: payload size
 * (exact), the number of fds, the ring index, ring sizes, the memory table.
 * A rejected message changes nothing, its fds are closed, a line is
 * logged, and with NEED_REPLY the frontend gets a non-zero u64 (a positive
 * errno). A message that cannot be framed (a bad version, a payload larger
 * than any request's, a short read) drops the connection.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <evvm/iothread.h>
#include <evvm/log.h>
#include <evvm/virtio.h>

#include "backend.h"
#include "vhost_user.h"
#include "wire.h"

/* A frontend that stalls in the middle of a message, or stops reading replies, is dropped. */
#define VUB_IO_TIMEOUT_MS 2000
/* Rejection lines per second at most; a frontend can cause them. */
#define VUB_LOG_BURST 20

#define VUB_PROTOCOL_FEATURES                                                                 \
	(VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ) | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) | \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG) |                                           \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_RESET_DEVICE))

#define VHOST_VRING_F_LOG 0 /* SET_VRING_ADDR flags: log used-ring writes */

/* One region of the frontend's memory, mapped here. */
struct vub_region {
	uint64_t gpa;	/* guest physical start */
	uint64_t size;	/* bytes */
	uint64_t uaddr; /* the frontend's user address of the start */
	void *map;	/* our mapping (page-aligned, may start before the region) */
	size_t map_len;
};

struct vub_table {
	unsigned int nr;
	struct vub_region r[VHOST_USER_MAX_REGIONS];
};

struct vub_ring {
	struct vhost_backend *b;
	unsigned int index;
	char name[48]; /* "blk0.q0": the virtqueue's name in messages */

	/* Control thread: the frontend's configuration. */
	uint16_t num; /* 0 until SET_VRING_NUM */
	bool addr_set;
	uint64_t desc_ua, avail_ua, used_ua; /* frontend user addresses */
	uint16_t base;			     /* next avail index at the next start */

	/* Written on the I/O thread only (see the top); the fds belong to the control thread. */
	bool started;
	bool enabled;	   /* SET_VRING_ENABLE */
	bool kick_watched; /* kick_fd is in the I/O loop */
	int kick_fd, call_fd, err_fd;
};

struct vhost_backend {
	struct evvm_virtio_dev *dev;
	const struct evvm_device_ops *ops;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	char name[64]; /* "vhost-user blk0" in messages */
	dev_t sock_dev;
	ino_t sock_ino;
	int listen_fd, conn_fd;
	struct evvm_loop *ctl;
	struct evvm_iothread *io;
	atomic_bool stopping;

	/* Written on the I/O thread only. */
	struct vub_table mem_table; /* the mappings behind @mem, keyed also by user address */
	struct evvm_mem mem;	    /* dev->mem: keyed by guest physical address */
	bool all_enabled; /* VHOST_USER_F_PROTOCOL_FEATURES not acked: rings are enabled */
	bool dev_started;
	bool failed; /* needs_reset: no kicks reach the device until it restarts */
	struct vub_ring rings[EVVM_VIRTIO_MAX_QUEUES];

	/* Rejection log limiting (control thread). */
	struct evvm_ratelimit log;
};

/* A message as received, and the reply of a request that has one. */
struct vub_msg {
	struct vhost_wire_msg w;
	union vhost_user_payload reply;
	uint32_t reply_size;
};

/* ------------------------------------------------------------------ */
/* Helpers                                                             */

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000ULL + ts.tv_nsec / 1000000;
}

/* Log why a message was rejected (at most VUB_LOG_BURST lines a second); returns @err. */
static int vub_reject(struct vhost_backend *b, const struct vub_msg *msg, int err, const char *fmt,
		      ...) __attribute__((format(printf, 4, 5)));
static int vub_reject(struct vhost_backend *b, const struct vub_msg *msg, int err, const char *fmt,
		      ...)
{
	unsigned long dropped;
	bool show = evvm_ratelimit(&b->log, &dropped);
	char what[256];
	va_list ap;

	if (dropped)
		pr_warn("%s: %lu more rejected messages not shown", b->name, dropped);
	if (!show)
		return err;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	pr_warn("%s: %s (%u) rejected: %s", b->name, vhost_wire_req_name(msg->w.m.hdr.request),
		msg->w.m.hdr.request, what);
	return err;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
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

static uint64_t rings_started_mask(const struct vhost_backend *b)
{
	uint64_t mask = 0;

	for (unsigned int q = 0; q < b->ops->nr_queues; q++)
		if (b->rings[q].started)
			mask |= 1u << q;
	return mask;
}

/* Frontend user range [ua, ua + len) -> guest physical address, within one region. */
static int table_ua_to_gpa(const struct vub_table *t, uint64_t ua, uint64_t len, uint64_t *gpa)
{
	for (unsigned int i = 0; i < t->nr; i++) {
		const struct vub_region *r = &t->r[i];

		if (ua >= r->uaddr && ua - r->uaddr < r->size) {
			if (len > r->size - (ua - r->uaddr))
				return -EFAULT;
			*gpa = r->gpa + (ua - r->uaddr);
			return 0;
		}
	}
	return -EFAULT;
}

static void table_unmap(struct vub_table *t)
{
	for (unsigned int i = 0; i < t->nr; i++)
		munmap(t->r[i].map, t->r[i].map_len);
	t->nr = 0;
}

/* The three ring areas' guest addresses, from the frontend's user addresses. */
struct ring_gpas {
	uint64_t desc, avail, used;
};

static int ring_translate(const struct vub_table *t, const struct vub_ring *r, uint16_t num,
			  struct ring_gpas *g, const char **bad)
{
	if (table_ua_to_gpa(t, r->desc_ua, 16ULL * num, &g->desc)) {
		*bad = "descriptor table";
		return -EFAULT;
	}
	if (table_ua_to_gpa(t, r->avail_ua, 6 + 2ULL * num, &g->avail)) {
		*bad = "driver (avail) area";
		return -EFAULT;
	}
	if (table_ua_to_gpa(t, r->used_ua, 6 + 8ULL * num, &g->used)) {
		*bad = "device (used) area";
		return -EFAULT;
	}
	return 0;
}

/* ------------------------------------------------------------------ */
/* I/O thread: callbacks and the functions run there with loop_call() */

/* dev->notify: a used-buffer notification for ring @q. */
static void vub_notify(struct evvm_virtio_dev *dev, unsigned int q)
{
	struct vhost_backend *b = dev->transport;

	if (q < EVVM_VIRTIO_MAX_QUEUES)
		vub_signal(b->rings[q].call_fd);
}

/* dev->needs_reset: vhost-user has no status to set; log, signal err fds, stop processing. */
static void vub_needs_reset(struct evvm_virtio_dev *dev)
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
 * then restore the indices: @last_avail, and @used_idx (or, with
 * !@keep, the used index the ring holds).
 */
static int ring_map(struct vhost_backend *b, struct vub_ring *r, uint16_t last_avail, bool keep,
		    const struct evvm_vq *old)
{
	struct evvm_vq *vq = &b->dev->vqs[r->index];
	struct ring_gpas g;
	const char *bad;
	int err;

	err = ring_translate(&b->mem_table, r, r->num, &g, &bad);
	if (err) {
		pr_err("%s: %s is not in the frontend's memory", r->name, bad);
		vq_reset(vq);
	} else {
		/* vq_init() says why it fails. */
		err = vq_init(vq, &b->mem, r->name, r->num, g.desc, g.avail, g.used,
			      b->dev->features);
	}
	/* Even on failure: GET_VRING_BASE reports it (the queue is not ready, nothing pops). */
	vq->last_avail = last_avail;
	if (err)
		return err;
	if (keep) {
		vq->used_idx = old->used_idx;
		vq->signalled_used = old->signalled_used;
		vq->signalled_used_valid = old->signalled_used_valid;
		vq->unpopped = old->unpopped;
	} else {
		vq->used_idx = __atomic_load_n((uint16_t *)(vq->used + 2), __ATOMIC_ACQUIRE);
	}
	return 0;
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
	for (unsigned int q = 0; q < b->ops->nr_queues; q++) {
		struct vub_ring *r = &b->rings[q];
		struct evvm_vq old = b->dev->vqs[q];

		if (r->started && ring_map(b, r, old.last_avail, true, &old))
			vub_needs_reset(b->dev);
	}
	if (!b->failed && dev_start(b))
		vub_needs_reset(b->dev);
	for (unsigned int q = 0; q < b->ops->nr_queues; q++)
		ring_poke(b, &b->rings[q]);
}

struct io_arg {
	struct vhost_backend *b;
	unsigned int q;
	int fd;
	bool flag;
	uint64_t u64;
	struct vub_table *table; /* SET_MEM_TABLE: in: the new table; out: the old one */
	struct evvm_mem *mem;
	uint32_t out;
};

/* SET_VRING_KICK on a stopped ring: map it, watch its kick fd, start the device if first. */
static int io_ring_start(void *opaque)
{
	struct io_arg *a = opaque;
	struct vhost_backend *b = a->b;
	struct vub_ring *r = &b->rings[a->q];
	int err;

	err = ring_map(b, r, r->base, false, NULL);
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
	return err;
}

/* SET_VRING_KICK on a started ring: switch to the new fd; returns the old one in a->fd. */
static int io_ring_set_kick(void *opaque)
{
	struct io_arg *a = opaque;
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

/* SET_VRING_CALL / SET_VRING_ERR: swap the fd; returns the old one in a->fd. */
static int io_ring_set_call(void *opaque)
{
	struct io_arg *a = opaque;
	struct vub_ring *r = &a->b->rings[a->q];
	int old = r->call_fd;

	r->call_fd = a->fd;
	a->fd = old;
	/* A notification may have gone to the old fd, or nowhere: one more is harmless. */
	if (r->started)
		vub_signal(r->call_fd);
	return 0;
}

static int io_ring_set_err(void *opaque)
{
	struct io_arg *a = opaque;
	struct vub_ring *r = &a->b->rings[a->q];
	int old = r->err_fd;

	r->err_fd = a->fd;
	a->fd = old;
	if (a->b->failed)
		vub_signal(r->err_fd);
	return 0;
}

static int io_ring_enable(void *opaque)
{
	struct io_arg *a = opaque;
	struct vub_ring *r = &a->b->rings[a->q];
	bool was = ring_enabled(a->b, r);

	r->enabled = a->flag;
	if (!was && ring_enabled(a->b, r))
		ring_poke(a->b, r);
	return 0;
}

/* Stop watching the kick fds of the rings in mask a->u64 (the device keeps running). */
static int io_rings_pause(void *opaque)
{
	struct io_arg *a = opaque;

	for (unsigned int q = 0; q < a->b->ops->nr_queues; q++)
		if (a->u64 & (1u << q))
			ring_unwatch(a->b, &a->b->rings[q]);
	return 0;
}

/* Chains popped and not yet pushed on the rings in mask a->u64; -1 if the device failed. */
static int io_rings_inflight(void *opaque)
{
	struct io_arg *a = opaque;
	struct vhost_backend *b = a->b;
	int n = 0;

	if (b->failed)
		return -1;
	for (unsigned int q = 0; q < b->ops->nr_queues; q++)
		if (a->u64 & (1u << q))
			n += b->dev->vqs[q].inflight;
	return n;
}

/* GET_VRING_BASE on a started ring whose kick fd is unwatched: stop it; a->out = last_avail. */
static int io_ring_stop(void *opaque)
{
	struct io_arg *a = opaque;
	struct vhost_backend *b = a->b;
	struct vub_ring *r = &b->rings[a->q];
	struct evvm_vq *vq = &b->dev->vqs[a->q];
	bool others = rings_started_mask(b) & ~(1u << a->q);
	uint32_t inflight = vq->inflight;

	a->out = vq->last_avail;
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
	if (others && inflight && !b->failed)
		dev_restart(b);
	a->fd = r->kick_fd; /* for the caller to close */
	r->kick_fd = -1;
	return 0;
}

/*
 * SET_MEM_TABLE: install a->table and a->mem (whose regions it maps) and
 * hand the old table back in a->table. Started rings have their kick fds
 * unwatched and, with a->flag, nothing in flight; without, the device is
 * reset around the switch. They are mapped again in the new memory.
 */
static int io_mem_swap(void *opaque)
{
	struct io_arg *a = opaque;
	struct vhost_backend *b = a->b;
	struct vub_table old_table = b->mem_table;
	bool cancel = rings_started_mask(b) && !a->flag && b->dev_started;

	if (cancel)
		dev_stop(b);
	b->mem_table = *a->table;
	b->mem = *a->mem; /* dev->mem and each vq->mem point here */
	*a->table = old_table;
	for (unsigned int q = 0; q < b->ops->nr_queues; q++) {
		struct vub_ring *r = &b->rings[q];
		struct evvm_vq old = b->dev->vqs[q];

		if (!r->started)
			continue;
		if (ring_map(b, r, old.last_avail, true, &old)) {
			pr_err("%s: cannot be mapped in the new memory table", r->name);
			vub_needs_reset(b->dev);
		}
		if (ring_watch(b, r))
			pr_err("%s: the kick fd cannot be watched again", r->name);
	}
	if (cancel && !b->failed && dev_start(b))
		vub_needs_reset(b->dev);
	for (unsigned int q = 0; q < b->ops->nr_queues; q++)
		ring_poke(b, &b->rings[q]);
	return 0;
}

static int io_set_features(void *opaque)
{
	struct io_arg *a = opaque;

	a->b->dev->features = a->u64 & ~VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	a->b->all_enabled = !(a->u64 & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES));
	return 0;
}

/* RESET_OWNER: disable every ring. */
static int io_disable_all(void *opaque)
{
	struct io_arg *a = opaque;

	a->b->all_enabled = false;
	for (unsigned int q = 0; q < a->b->ops->nr_queues; q++)
		a->b->rings[q].enabled = false;
	return 0;
}

/*
 * RESET_DEVICE, or the end of a connection (a->flag): stop the device and
 * every ring; the fds stay for the control thread to close. At the end of a
 * connection, also forget the features and the memory table (handed back in
 * a->table for unmapping).
 */
static int io_reset(void *opaque)
{
	struct io_arg *a = opaque;
	struct vhost_backend *b = a->b;

	dev_stop(b);
	b->failed = false;
	for (unsigned int q = 0; q < b->ops->nr_queues; q++) {
		struct vub_ring *r = &b->rings[q];

		ring_unwatch(b, r);
		vq_reset(&b->dev->vqs[q]);
		r->started = false;
		r->enabled = false;
	}
	if (a->flag) {
		*a->table = b->mem_table;
		b->mem_table.nr = 0;
		mem_init(&b->mem);
		b->dev->features = 0;
		b->all_enabled = true;
	}
	return 0;
}

static int io_call(struct vhost_backend *b, int (*fn)(void *), struct io_arg *a)
{
	a->b = b;
	return loop_call(b->dev->loop, fn, a);
}

/* ------------------------------------------------------------------ */
/* Control thread: rings                                               */

static void ring_close_fds(struct vub_ring *r)
{
	close_fd(&r->kick_fd);
	close_fd(&r->call_fd);
	close_fd(&r->err_fd);
}

static void ring_forget(struct vub_ring *r)
{
	r->num = 0;
	r->addr_set = false;
	r->desc_ua = r->avail_ua = r->used_ua = 0;
	r->base = 0;
}

/*
 * Unwatch the kick fds of the rings in @mask and wait until they have
 * nothing in flight: the I/O thread keeps completing requests meanwhile.
 * Returns false after VHOST_BACKEND_DRAIN_MS, on a stop request, or when
 * the device failed (it pushes nothing more).
 */
static bool rings_drain(struct vhost_backend *b, uint64_t mask)
{
	struct io_arg a = { .u64 = mask };
	uint64_t deadline = now_ms() + VHOST_BACKEND_DRAIN_MS;
	const struct timespec tick = { .tv_nsec = 1000000 };

	io_call(b, io_rings_pause, &a);
	for (bool first = true;; first = false) {
		int n = io_call(b, io_rings_inflight, &a);

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

/* ------------------------------------------------------------------ */
/* Control thread: message handlers                                    */

static uint64_t offered_features(const struct vhost_backend *b)
{
	return b->dev->host_features | VIRTIO_BIT(VIRTIO_F_VERSION_1) |
	       VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
}

static uint64_t msg_u64(const struct vub_msg *msg)
{
	uint64_t v;

	memcpy(&v, &msg->w.m.payload, sizeof(v));
	return v;
}

static void reply_u64(struct vub_msg *msg, uint64_t v)
{
	memcpy(&msg->reply, &v, sizeof(v));
	msg->reply_size = sizeof(v);
}

/* The ring a vring_state message names, or NULL after rejecting it. */
static struct vub_ring *msg_ring(struct vhost_backend *b, const struct vub_msg *msg, uint32_t index,
				 int *err)
{
	if (index >= b->ops->nr_queues) {
		*err = vub_reject(b, msg, -EINVAL, "queue %u out of range (the device has %u)",
				  index, b->ops->nr_queues);
		return NULL;
	}
	return &b->rings[index];
}

static int h_get_features(struct vhost_backend *b, struct vub_msg *msg)
{
	reply_u64(msg, offered_features(b));
	return 0;
}

static int h_set_features(struct vhost_backend *b, struct vub_msg *msg)
{
	uint64_t f = msg_u64(msg);
	struct io_arg a = { .u64 = f };

	if (f & ~offered_features(b))
		return vub_reject(b, msg, -EINVAL, "features 0x%llx were not offered (0x%llx)",
				  (unsigned long long)f, (unsigned long long)offered_features(b));
	if (rings_started_mask(b) &&
	    (f & ~VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)) != b->dev->features)
		return vub_reject(b, msg, -EBUSY, "features change while rings run");
	io_call(b, io_set_features, &a);
	pr_debug("%s: features 0x%llx", b->name, (unsigned long long)f);
	return 0;
}

/* CONFIG only for a device that has config space (rng has none: QEMU warns otherwise). */
static uint64_t vub_protocol_features(const struct vhost_backend *b)
{
	uint64_t f = VUB_PROTOCOL_FEATURES;

	if (!b->dev->ops->config_size)
		f &= ~VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG);
	return f;
}

static int h_get_protocol_features(struct vhost_backend *b, struct vub_msg *msg)
{
	reply_u64(msg, vub_protocol_features(b));
	return 0;
}

static int h_set_protocol_features(struct vhost_backend *b, struct vub_msg *msg)
{
	uint64_t f = msg_u64(msg);

	if (f & ~vub_protocol_features(b))
		return vub_reject(
			b, msg, -EINVAL, "protocol features 0x%llx were not offered (0x%llx)",
			(unsigned long long)f, (unsigned long long)vub_protocol_features(b));
	return 0;
}

/* One frontend per connection: it owns the backend by being connected. */
static int h_set_owner(struct vhost_backend *b, struct vub_msg *msg)
{
	(void)b;
	(void)msg;
	return 0;
}

static int h_reset_owner(struct vhost_backend *b, struct vub_msg *msg)
{
	struct io_arg a = { 0 };

	/* Deprecated; the document recommends ignoring it or disabling every ring. */
	(void)msg;
	io_call(b, io_disable_all, &a);
	return 0;
}

static int h_reset_device(struct vhost_backend *b, struct vub_msg *msg)
{
	struct io_arg a = { .flag = false };

	(void)msg;
	io_call(b, io_reset, &a);
	for (unsigned int q = 0; q < b->ops->nr_queues; q++) {
		ring_close_fds(&b->rings[q]);
		ring_forget(&b->rings[q]);
	}
	pr_info("%s: device reset", b->name);
	return 0;
}

static int h_get_queue_num(struct vhost_backend *b, struct vub_msg *msg)
{
	reply_u64(msg, b->ops->nr_queues);
	return 0;
}

/* Check the table in the message and map every region; on error nothing stays mapped. */
static int mem_table_build(struct vhost_backend *b, struct vub_msg *msg, struct vub_table *t,
			   struct evvm_mem *mem)
{
	struct vhost_user_memory m;
	uint32_t n;
	long pagesize = sysconf(_SC_PAGESIZE);
	int err;

	/* The caller checked the size: 8 + 32 * nregions, at most sizeof(m). */
	memcpy(&m, &msg->w.m.payload, sizeof(m));
	n = m.nregions;
	t->nr = 0;
	mem_init(mem);

	for (unsigned int i = 0; i < n; i++) {
		const struct vhost_user_region *r = &m.regions[i];

		if (r->memory_size == 0)
			return vub_reject(b, msg, -EINVAL, "region %u is empty", i);
		if (r->guest_phys_addr + r->memory_size < r->guest_phys_addr ||
		    r->userspace_addr + r->memory_size < r->userspace_addr ||
		    r->mmap_offset + r->memory_size < r->mmap_offset ||
		    r->mmap_offset + r->memory_size > (uint64_t)SIZE_MAX / 2)
			return vub_reject(b, msg, -EINVAL, "region %u (size 0x%llx) overflows", i,
					  (unsigned long long)r->memory_size);
		for (unsigned int j = 0; j < i; j++) {
			const struct vhost_user_region *o = &m.regions[j];

			if (r->guest_phys_addr < o->guest_phys_addr + o->memory_size &&
			    o->guest_phys_addr < r->guest_phys_addr + r->memory_size)
				return vub_reject(b, msg, -EINVAL,
						  "regions %u and %u overlap in guest memory", j,
						  i);
			if (r->userspace_addr < o->userspace_addr + o->memory_size &&
			    o->userspace_addr < r->userspace_addr + r->memory_size)
				return vub_reject(b, msg, -EINVAL,
						  "regions %u and %u overlap in the frontend's "
						  "address space",
						  j, i);
		}
	}

	for (unsigned int i = 0; i < n; i++) {
		const struct vhost_user_region *r = &m.regions[i];
		struct vub_region *v = &t->r[i];
		uint64_t align = pagesize, map_off;
		struct stat st;
		void *p;

		if (fstat(msg->w.fds[i], &st) < 0) {
			err = vub_reject(b, msg, -errno, "region %u: fstat: %s", i,
					 evvm_strerror(errno));
			goto fail;
		}
		/* Beyond the end of the file, an access would raise SIGBUS here. */
		if (S_ISREG(st.st_mode) && (uint64_t)st.st_size < r->mmap_offset + r->memory_size) {
			err = vub_reject(b, msg, -EINVAL,
					 "region %u: offset 0x%llx + size 0x%llx is past the end "
					 "of its file (0x%llx bytes)",
					 i, (unsigned long long)r->mmap_offset,
					 (unsigned long long)r->memory_size,
					 (unsigned long long)st.st_size);
			goto fail;
		}
		/* hugetlbfs reports its page size here; the mapping must start on one. */
		if (st.st_blksize > pagesize && !(st.st_blksize & (st.st_blksize - 1)))
			align = st.st_blksize;
		map_off = r->mmap_offset - r->mmap_offset % align;
		v->map_len = r->mmap_offset - map_off + r->memory_size;
		p = mmap(NULL, v->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, msg->w.fds[i],
			 (off_t)map_off);
		if (p == MAP_FAILED) {
			err = vub_reject(b, msg, -errno, "region %u: mmap of 0x%llx bytes: %s", i,
					 (unsigned long long)r->memory_size, evvm_strerror(errno));
			goto fail;
		}
		v->map = p;
		v->gpa = r->guest_phys_addr;
		v->size = r->memory_size;
		v->uaddr = r->userspace_addr;
		t->nr++;
		err = mem_add_region(mem, &(struct evvm_mem_region){
						  .gpa = v->gpa,
						  .size = v->size,
						  .hva = (uint8_t *)p + (r->mmap_offset - map_off),
						  .fd = -1,
						  .offset = r->mmap_offset,
					  });
		if (err) {
			err = vub_reject(b, msg, err, "region %u: %s", i, evvm_strerror(err));
			goto fail;
		}
		pr_debug("%s: region %u: guest 0x%llx size 0x%llx user 0x%llx offset 0x%llx",
			 b->name, i, (unsigned long long)v->gpa, (unsigned long long)v->size,
			 (unsigned long long)v->uaddr, (unsigned long long)r->mmap_offset);
	}
	return 0;
fail:
	table_unmap(t);
	return err;
}

static int h_set_mem_table(struct vhost_backend *b, struct vub_msg *msg)
{
	struct vub_table *t = calloc(1, sizeof(*t));
	struct evvm_mem *mem = calloc(1, sizeof(*mem));
	struct io_arg a = { 0 };
	uint32_t n, size = msg->w.m.hdr.size;
	uint64_t mask;
	int err;

	if (!t || !mem) {
		err = vub_reject(b, msg, -ENOMEM, "%s", evvm_strerror(ENOMEM));
		goto out;
	}
	if (size < 8) {
		err = vub_reject(b, msg, -EINVAL, "payload of %u bytes is shorter than 8", size);
		goto out;
	}
	n = msg->w.m.payload.memory.nregions;
	if (n == 0 || n > VHOST_USER_MAX_REGIONS) {
		err = vub_reject(b, msg, -EINVAL, "%u regions (1 to %u)", n,
				 VHOST_USER_MAX_REGIONS);
		goto out;
	}
	if (size != 8 + n * sizeof(struct vhost_user_region)) {
		err = vub_reject(b, msg, -EINVAL,
				 "payload of %u bytes for %u regions (expected %zu)", size, n,
				 8 + n * sizeof(struct vhost_user_region));
		goto out;
	}
	if (msg->w.nr_fds != n) {
		err = vub_reject(b, msg, -EINVAL, "%u region%s but %u fd%s", n, n == 1 ? "" : "s",
				 msg->w.nr_fds, msg->w.nr_fds == 1 ? "" : "s");
		goto out;
	}
	err = mem_table_build(b, msg, t, mem);
	if (err)
		goto out;

	/* Rings that run are quiesced, so that no request holds a pointer into the old maps. */
	mask = rings_started_mask(b);
	a.flag = !mask || rings_drain(b, mask);
	a.table = t;
	a.mem = mem;
	io_call(b, io_mem_swap, &a);
	table_unmap(t); /* now the old table */
	pr_info("%s: memory table of %u regions", b->name, n);
out:
	free(t);
	free(mem);
	return err;
}

static int h_set_vring_num(struct vhost_backend *b, struct vub_msg *msg)
{
	struct vhost_user_vring_state s = msg->w.m.payload.state;
	struct vub_ring *r;
	int err;

	r = msg_ring(b, msg, s.index, &err);
	if (!r)
		return err;
	if (s.num == 0 || s.num > b->ops->queue_max || (s.num & (s.num - 1)))
		return vub_reject(b, msg, -EINVAL,
				  "queue %u: size %u is not a power of 2 from 1 to %u", s.index,
				  s.num, b->ops->queue_max);
	if (r->started)
		return vub_reject(b, msg, -EBUSY, "queue %u is running", s.index);
	r->num = s.num;
	return 0;
}

static int h_set_vring_addr(struct vhost_backend *b, struct vub_msg *msg)
{
	struct vhost_user_vring_addr va = msg->w.m.payload.addr;
	struct vub_ring *r, tmp;
	struct ring_gpas g;
	const char *bad;
	int err;

	r = msg_ring(b, msg, va.index, &err);
	if (!r)
		return err;
	if (va.flags & ~(1u << VHOST_VRING_F_LOG))
		return vub_reject(b, msg, -EINVAL, "queue %u: unknown flags 0x%x", va.index,
				  va.flags);
	if (va.flags & (1u << VHOST_VRING_F_LOG))
		return vub_reject(b, msg, -ENOTSUP, "queue %u: dirty logging is not supported",
				  va.index);
	if (r->started)
		return vub_reject(b, msg, -EBUSY, "queue %u is running", va.index);
	/* Checked now if the memory table and size are known, and again at start. */
	tmp = *r;
	tmp.desc_ua = va.desc;
	tmp.avail_ua = va.avail;
	tmp.used_ua = va.used;
	if (b->mem_table.nr && r->num && ring_translate(&b->mem_table, &tmp, r->num, &g, &bad))
		return vub_reject(b, msg, -EFAULT, "queue %u: %s is not in the frontend's memory",
				  va.index, bad);
	r->desc_ua = va.desc;
	r->avail_ua = va.avail;
	r->used_ua = va.used;
	r->addr_set = true;
	return 0;
}

static int h_set_vring_base(struct vhost_backend *b, struct vub_msg *msg)
{
	struct vhost_user_vring_state s = msg->w.m.payload.state;
	struct vub_ring *r;
	int err;

	r = msg_ring(b, msg, s.index, &err);
	if (!r)
		return err;
	if (s.num > UINT16_MAX)
		return vub_reject(b, msg, -EINVAL, "queue %u: base %u is not a 16-bit index",
				  s.index, s.num);
	if (r->started)
		return vub_reject(b, msg, -EBUSY, "queue %u is running", s.index);
	r->base = s.num;
	return 0;
}

static int h_get_vring_base(struct vhost_backend *b, struct vub_msg *msg)
{
	struct vhost_user_vring_state s = msg->w.m.payload.state;
	struct io_arg a = { .q = s.index };
	struct vub_ring *r;
	int err;

	r = msg_ring(b, msg, s.index, &err);
	if (!r)
		return err;
	if (r->started) {
		rings_drain(b, 1u << s.index);
		io_call(b, io_ring_stop, &a);
		close_fd(&a.fd);
		r->base = a.out;
		pr_info("%s: stopped at avail index %u", r->name, r->base);
	}
	s.num = r->base;
	memcpy(&msg->reply, &s, sizeof(s));
	msg->reply_size = sizeof(s);
	return 0;
}

/* Check a SET_VRING_KICK/CALL/ERR payload: the ring, and 1 fd unless the NOFD bit says 0. */
static struct vub_ring *vring_fd_msg(struct vhost_backend *b, struct vub_msg *msg, int *fd,
				     int *err)
{
	uint64_t v = msg_u64(msg);
	bool nofd = v & VHOST_USER_VRING_NOFD_MASK;
	struct vub_ring *r;

	if (v & ~(VHOST_USER_VRING_IDX_MASK | VHOST_USER_VRING_NOFD_MASK)) {
		*err = vub_reject(b, msg, -EINVAL, "unknown bits in 0x%llx", (unsigned long long)v);
		return NULL;
	}
	r = msg_ring(b, msg, v & VHOST_USER_VRING_IDX_MASK, err);
	if (!r)
		return NULL;
	if (msg->w.nr_fds != (nofd ? 0u : 1u)) {
		*err = vub_reject(b, msg, -EINVAL, "%u fd%s with the no-fd flag %s", msg->w.nr_fds,
				  msg->w.nr_fds == 1 ? "" : "s", nofd ? "set" : "clear");
		return NULL;
	}
	*fd = nofd ? -1 : msg->w.fds[0];
	return r;
}

static int h_set_vring_kick(struct vhost_backend *b, struct vub_msg *msg)
{
	struct io_arg a = { 0 };
	struct ring_gpas g;
	struct vub_ring *r;
	const char *bad;
	int fd, err;

	r = vring_fd_msg(b, msg, &fd, &err);
	if (!r)
		return err;
	if (fd < 0)
		return vub_reject(b, msg, -ENOTSUP,
				  "queue %u: polling (no kick fd) is not supported", r->index);
	/* We read the kick fd: a read must not block the I/O thread, whoever else reads it. */
	if (fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return vub_reject(b, msg, -errno, "queue %u: kick fd: %s", r->index,
				  evvm_strerror(errno));
	a.q = r->index;
	a.fd = fd;
	if (r->started) {
		err = io_call(b, io_ring_set_kick, &a);
		if (err)
			return vub_reject(b, msg, err, "queue %u: kick fd: %s", r->index,
					  evvm_strerror(err));
		msg->w.fds[0] = -1;
		close_fd(&a.fd);
		return 0;
	}
	if (!b->mem_table.nr || !r->num || !r->addr_set)
		return vub_reject(b, msg, -EINVAL, "queue %u cannot start without %s", r->index,
				  !b->mem_table.nr ? "a memory table"
				  : !r->num	   ? "a size (SET_VRING_NUM)"
						   : "addresses (SET_VRING_ADDR)");
	if (ring_translate(&b->mem_table, r, r->num, &g, &bad))
		return vub_reject(b, msg, -EFAULT, "queue %u: %s is not in the frontend's memory",
				  r->index, bad);
	err = io_call(b, io_ring_start, &a);
	if (err)
		return vub_reject(b, msg, err, "queue %u cannot start: %s", r->index,
				  evvm_strerror(err));
	msg->w.fds[0] = -1; /* the ring's now */
	pr_info("%s: started (size %u, avail index %u)", r->name, r->num, r->base);
	return 0;
}

static int h_set_vring_call(struct vhost_backend *b, struct vub_msg *msg)
{
	struct io_arg a = { 0 };
	struct vub_ring *r;
	int fd, err;

	r = vring_fd_msg(b, msg, &fd, &err);
	if (!r)
		return err;
	/* Signalled on the I/O thread per batch: a write there must never block. */
	if (fd >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return vub_reject(b, msg, -errno, "queue %u: call fd: %s", r->index,
				  evvm_strerror(errno));
	a.q = r->index;
	a.fd = fd;
	io_call(b,
		msg->w.m.hdr.request == VHOST_USER_SET_VRING_CALL ? io_ring_set_call
								  : io_ring_set_err,
		&a);
	if (fd >= 0)
		msg->w.fds[0] = -1;
	close_fd(&a.fd); /* the old one */
	return 0;
}

static int h_set_vring_enable(struct vhost_backend *b, struct vub_msg *msg)
{
	struct vhost_user_vring_state s = msg->w.m.payload.state;
	struct io_arg a = { .q = s.index };
	struct vub_ring *r;
	int err;

	r = msg_ring(b, msg, s.index, &err);
	if (!r)
		return err;
	if (s.num > 1)
		return vub_reject(b, msg, -EINVAL, "queue %u: enable %u is not 0 or 1", s.index,
				  s.num);
	a.flag = s.num;
	io_call(b, io_ring_enable, &a);
	return 0;
}

/* Check a GET_CONFIG/SET_CONFIG payload against the device's config space. */
static int config_check(struct vhost_backend *b, struct vub_msg *msg, struct vhost_user_config *c)
{
	uint32_t size = msg->w.m.hdr.size;

	if (size < VHOST_USER_CONFIG_HDR_SIZE)
		return vub_reject(b, msg, -EINVAL, "payload of %u bytes is shorter than %u", size,
				  VHOST_USER_CONFIG_HDR_SIZE);
	memcpy(c, &msg->w.m.payload, size);
	if (c->size == 0 || c->size > VHOST_USER_MAX_CONFIG ||
	    size != VHOST_USER_CONFIG_HDR_SIZE + c->size)
		return vub_reject(b, msg, -EINVAL, "payload of %u bytes for %u config bytes", size,
				  c->size);
	if (c->flags > 1)
		return vub_reject(b, msg, -EINVAL, "unknown flags 0x%x", c->flags);
	if ((uint64_t)c->offset + c->size > b->ops->config_size)
		return vub_reject(b, msg, -EINVAL,
				  "bytes %u+%u are outside the config space (%u bytes)", c->offset,
				  c->size, b->ops->config_size);
	return 0;
}

static int h_get_config(struct vhost_backend *b, struct vub_msg *msg)
{
	struct vhost_user_config c;
	int err = config_check(b, msg, &c);

	if (err)
		return err;
	if (!b->ops->config_read)
		return vub_reject(b, msg, -ENOTSUP, "the device has no config space");
	b->ops->config_read(b->dev, c.offset, c.payload, c.size);
	memcpy(&msg->reply, &c, VHOST_USER_CONFIG_HDR_SIZE + c.size);
	msg->reply_size = VHOST_USER_CONFIG_HDR_SIZE + c.size;
	return 0;
}

static int h_set_config(struct vhost_backend *b, struct vub_msg *msg)
{
	struct vhost_user_config c;
	int err = config_check(b, msg, &c);

	if (err)
		return err;
	if (!b->ops->config_write)
		return vub_reject(b, msg, -ENOTSUP, "the device's config space is read-only");
	/* The device ignores writes to fields it does not make writable, as on virtio-mmio. */
	b->ops->config_write(b->dev, c.offset, c.payload, c.size);
	return 0;
}

/* How a request is checked before its handler runs. */
enum { SIZE_ANY = -1 };
enum vub_fds { FDS_NONE, FDS_HANDLER };

struct vub_handler {
	int (*fn)(struct vhost_backend *b, struct vub_msg *msg);
	int size;	  /* exact payload size, or SIZE_ANY: the handler checks */
	enum vub_fds fds; /* FDS_NONE: a message with fds is refused */
	bool reply;	  /* the request has a reply of its own */
};

#define STATE_SIZE ((int)sizeof(struct vhost_user_vring_state))

static const struct vub_handler vub_handlers[] = {
	[VHOST_USER_GET_FEATURES] = { h_get_features, 0, FDS_NONE, true },
	[VHOST_USER_SET_FEATURES] = { h_set_features, 8, FDS_NONE, false },
	[VHOST_USER_SET_OWNER] = { h_set_owner, 0, FDS_NONE, false },
	[VHOST_USER_RESET_OWNER] = { h_reset_owner, 0, FDS_NONE, false },
	[VHOST_USER_SET_MEM_TABLE] = { h_set_mem_table, SIZE_ANY, FDS_HANDLER, false },
	[VHOST_USER_SET_VRING_NUM] = { h_set_vring_num, STATE_SIZE, FDS_NONE, false },
	[VHOST_USER_SET_VRING_ADDR] = { h_set_vring_addr, sizeof(struct vhost_user_vring_addr),
					FDS_NONE, false },
	[VHOST_USER_SET_VRING_BASE] = { h_set_vring_base, STATE_SIZE, FDS_NONE, false },
	[VHOST_USER_GET_VRING_BASE] = { h_get_vring_base, STATE_SIZE, FDS_NONE, true },
	[VHOST_USER_SET_VRING_KICK] = { h_set_vring_kick, 8, FDS_HANDLER, false },
	[VHOST_USER_SET_VRING_CALL] = { h_set_vring_call, 8, FDS_HANDLER, false },
	[VHOST_USER_SET_VRING_ERR] = { h_set_vring_call, 8, FDS_HANDLER, false },
	[VHOST_USER_GET_PROTOCOL_FEATURES] = { h_get_protocol_features, 0, FDS_NONE, true },
	[VHOST_USER_SET_PROTOCOL_FEATURES] = { h_set_protocol_features, 8, FDS_NONE, false },
	[VHOST_USER_GET_QUEUE_NUM] = { h_get_queue_num, 0, FDS_NONE, true },
	[VHOST_USER_SET_VRING_ENABLE] = { h_set_vring_enable, STATE_SIZE, FDS_NONE, false },
	[VHOST_USER_GET_CONFIG] = { h_get_config, SIZE_ANY, FDS_NONE, true },
	[VHOST_USER_SET_CONFIG] = { h_set_config, SIZE_ANY, FDS_NONE, false },
	[VHOST_USER_RESET_DEVICE] = { h_reset_device, 0, FDS_NONE, false },
	/* Not offered; answered (empty) so that a frontend waiting for a reply does not hang. */
	[VHOST_USER_GET_INFLIGHT_FD] = { NULL, SIZE_ANY, FDS_HANDLER, true },
	[VHOST_USER_GET_MAX_MEM_SLOTS] = { NULL, SIZE_ANY, FDS_HANDLER, true },
	[VHOST_USER_GET_STATUS] = { NULL, SIZE_ANY, FDS_HANDLER, true },
	[28] = { NULL, SIZE_ANY, FDS_HANDLER, true }, /* POSTCOPY_ADVISE */
	[30] = { NULL, SIZE_ANY, FDS_HANDLER, true }, /* POSTCOPY_END */
};

/* ------------------------------------------------------------------ */
/* Control thread: the connection                                      */

static int vub_send_reply(struct vhost_backend *b, uint32_t request, const void *payload,
			  uint32_t size)
{
	return vhost_wire_send(b->conn_fd, request, VHOST_USER_REPLY, payload, size, NULL, 0,
			       VUB_IO_TIMEOUT_MS);
}

/*
 * Check and handle one message, and reply: requests with a reply of their
 * own get it (an empty payload on error), others a u64 with NEED_REPLY.
 * Returns 0, or -errno when the reply could not be sent.
 */
static int vub_dispatch(struct vhost_backend *b, struct vub_msg *msg)
{
	uint32_t req = msg->w.m.hdr.request, size = msg->w.m.hdr.size;
	const struct vub_handler *h = NULL;
	uint64_t ack;
	int err;

	if (req < sizeof(vub_handlers) / sizeof(vub_handlers[0]))
		h = &vub_handlers[req];
	pr_debug("%s: %s (%u), %u bytes, %u fds, flags 0x%x", b->name, vhost_wire_req_name(req),
		 req, size, msg->w.nr_fds, msg->w.m.hdr.flags);
	msg->reply_size = 0;
	if (!h || !h->fn)
		err = vub_reject(b, msg, -EOPNOTSUPP, "not supported");
	else if (msg->w.m.hdr.flags & VHOST_USER_REPLY)
		err = vub_reject(b, msg, -EINVAL, "reply flag set in a request");
	else if (msg->w.fds_truncated)
		err = vub_reject(b, msg, -EINVAL, "more than %u fds", VHOST_USER_MAX_FDS);
	else if (h->size != SIZE_ANY && size != (uint32_t)h->size)
		err = vub_reject(b, msg, -EINVAL, "payload of %u bytes (expected %d)", size,
				 h->size);
	else if (h->fds == FDS_NONE && msg->w.nr_fds)
		err = vub_reject(b, msg, -EINVAL, "%u fd%s (expected none)", msg->w.nr_fds,
				 msg->w.nr_fds == 1 ? "" : "s");
	else
		err = h->fn(b, msg);
	/* Whatever a handler did not keep is closed before the frontend hears back. */
	vhost_wire_close_fds(&msg->w);

	if (h && h->reply)
		return vub_send_reply(b, req, &msg->reply, err ? 0 : msg->reply_size);
	if (!(msg->w.m.hdr.flags & VHOST_USER_NEED_REPLY))
		return 0;
	ack = err ? (uint64_t)-err : 0;
	return vub_send_reply(b, req, &ack, sizeof(ack));
}

/* The frontend is gone: stop the device, unmap its memory, close its fds. */
static void vub_disconnect(struct vhost_backend *b)
{
	struct vub_table *t = calloc(1, sizeof(*t));
	struct vub_table fallback;
	struct io_arg a = { .flag = true, .table = t ? t : &fallback };

	io_call(b, io_reset, &a);
	table_unmap(a.table);
	free(t);
	for (unsigned int q = 0; q < b->ops->nr_queues; q++) {
		ring_close_fds(&b->rings[q]);
		ring_forget(&b->rings[q]);
	}
	loop_del(b->ctl, b->conn_fd);
	close_fd(&b->conn_fd);
	/* The next frontend, if one is waiting. */
	if (loop_mod(b->ctl, b->listen_fd, EPOLLIN))
		pr_err("%s: cannot listen again", b->name);
}

static void vub_on_conn(void *opaque, uint32_t events)
{
	struct vhost_backend *b = opaque;
	struct vub_msg *msg = calloc(1, sizeof(*msg));
	const char *why = "";
	int r;

	(void)events;
	if (!msg) {
		pr_err("%s: %s; dropping the frontend", b->name, evvm_strerror(ENOMEM));
		vub_disconnect(b);
		return;
	}
	r = vhost_wire_recv(b->conn_fd, &msg->w, VUB_IO_TIMEOUT_MS, &why);
	if (r == -ECONNRESET && !strcmp(why, "closed")) {
		pr_info("%s: frontend disconnected", b->name);
		vub_disconnect(b);
	} else if (r < 0) {
		pr_warn("%s: bad message from the frontend (%s: %s); dropping it", b->name, why,
			evvm_strerror(r));
		vub_disconnect(b);
	} else {
		r = vub_dispatch(b, msg);
		if (r) {
			pr_warn("%s: reply to %s: %s; dropping the frontend", b->name,
				vhost_wire_req_name(msg->w.m.hdr.request), evvm_strerror(r));
			vub_disconnect(b);
		}
	}
	free(msg);
}

static void vub_on_listen(void *opaque, uint32_t events)
{
	struct vhost_backend *b = opaque;
	int fd, err;

	(void)events;
	fd = accept4(b->listen_fd, NULL, NULL, SOCK_CLOEXEC);
	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			pr_warn("%s: accept: %s", b->name, evvm_strerror(errno));
		return;
	}
	if (b->conn_fd >= 0) {
		close(fd); /* not reached: the listening socket is unwatched meanwhile */
		return;
	}
	err = loop_add(b->ctl, fd, EPOLLIN, vub_on_conn, b);
	if (err) {
		pr_warn("%s: watching the frontend: %s", b->name, evvm_strerror(err));
		close(fd);
		return;
	}
	b->conn_fd = fd;
	/* One frontend at a time: others wait in the backlog. */
	loop_mod(b->ctl, b->listen_fd, 0);
	pr_info("%s: frontend connected", b->name);
}

/* ------------------------------------------------------------------ */
/* Setup and teardown                                                  */

/*
 * Make @path free for bind(): nothing there, or a socket nobody listens on
 * (removed). Returns 0 or -errno after logging.
 */
static int vub_free_path(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int fd, err;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		err = -errno;
		pr_err("vhost-user socket '%s': %s", path, evvm_strerror(err));
		return err;
	}
	if (!S_ISSOCK(st.st_mode)) {
		pr_err("vhost-user socket '%s': exists and is not a socket", path);
		return -EEXIST;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': socket: %s", path, evvm_strerror(err));
		return err;
	}
	memcpy(sa.sun_path, path, strlen(path));
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 || errno == EAGAIN ||
	    errno == EINPROGRESS) {
		close(fd);
		pr_err("vhost-user socket '%s': another backend is listening on it", path);
		return -EADDRINUSE;
	}
	err = errno;
	close(fd);
	if (err != ECONNREFUSED) {
		pr_err("vhost-user socket '%s': connect: %s", path, evvm_strerror(err));
		return -err;
	}
	/* Stale: left by a backend that is gone. */
	if (unlink(path) < 0 && errno != ENOENT) {
		err = -errno;
		pr_err("vhost-user socket '%s': removing the stale socket: %s", path,
		       evvm_strerror(err));
		return err;
	}
	return 0;
}

static int vub_listen(struct vhost_backend *b)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	int err;

	err = vub_free_path(b->path);
	if (err)
		return err;
	b->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (b->listen_fd < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': socket: %s", b->path, evvm_strerror(err));
		return err;
	}
	memcpy(sa.sun_path, b->path, strlen(b->path));
	if (bind(b->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': bind: %s", b->path, evvm_strerror(err));
		return err;
	}
	if (stat(b->path, &st) == 0) {
		b->sock_dev = st.st_dev;
		b->sock_ino = st.st_ino;
	}
	if (listen(b->listen_fd, 4) < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': listen: %s", b->path, evvm_strerror(err));
		return err;
	}
	return 0;
}

int vhost_backend_create(const struct vhost_backend_config *cfg, struct vhost_backend **out)
{
	struct evvm_virtio_dev *dev = cfg->dev;
	struct vhost_backend *b;
	char tname[16];
	int err;

	if (!cfg->socket_path || !*cfg->socket_path) {
		pr_err("vhost-user: no socket path");
		return -EINVAL;
	}
	if (strlen(cfg->socket_path) >= sizeof(b->path)) {
		pr_err("vhost-user socket '%s': path longer than %zu bytes", cfg->socket_path,
		       sizeof(b->path) - 1);
		return -ENAMETOOLONG;
	}
	if (!dev || dev->ops->nr_queues == 0 || dev->ops->nr_queues > EVVM_VIRTIO_MAX_QUEUES) {
		pr_err("vhost-user socket '%s': no device, or one with no queues",
		       cfg->socket_path);
		return -EINVAL;
	}
	b = calloc(1, sizeof(*b));
	if (!b) {
		pr_err("vhost-user socket '%s': %s", cfg->socket_path, evvm_strerror(ENOMEM));
		return -ENOMEM;
	}
	b->dev = dev;
	b->ops = dev->ops;
	b->log = (struct evvm_ratelimit)EVVM_RATELIMIT_INIT(VUB_LOG_BURST);
	b->listen_fd = b->conn_fd = -1;
	b->all_enabled = true;
	snprintf(b->path, sizeof(b->path), "%s", cfg->socket_path);
	snprintf(b->name, sizeof(b->name), "vhost-user %s", dev->id);
	mem_init(&b->mem);
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++) {
		struct vub_ring *r = &b->rings[q];

		r->b = b;
		r->index = q;
		r->kick_fd = r->call_fd = r->err_fd = -1;
		snprintf(r->name, sizeof(r->name), "%s.q%u", dev->id, q);
	}

	err = loop_create(&b->ctl, "vhost-user");
	if (err) {
		pr_err("vhost-user socket '%s': control loop: %s", b->path, evvm_strerror(err));
		b->ctl = NULL;
		goto fail;
	}
	err = vub_listen(b);
	if (err)
		goto fail;
	err = loop_add(b->ctl, b->listen_fd, EPOLLIN, vub_on_listen, b);
	if (err) {
		pr_err("vhost-user socket '%s': watching: %s", b->path, evvm_strerror(err));
		goto fail;
	}
	snprintf(tname, sizeof(tname), "vu-%.12s", dev->id);
	err = iothread_create(tname, cfg->poll_max_us, &b->io);
	if (err) {
		b->io = NULL;
		goto fail;
	}
	dev->loop = iothread_loop(b->io);
	dev->mem = &b->mem;
	dev->notify = vub_notify;
	dev->needs_reset = vub_needs_reset;
	dev->transport = b;
	for (unsigned int q = 0; q < b->ops->nr_queues; q++)
		vq_reset(&dev->vqs[q]);
	*out = b;
	return 0;
fail:
	vhost_backend_destroy(b);
	return err;
}

int vhost_backend_run(struct vhost_backend *b)
{
	int err;

	pr_info("%s: listening on '%s'", b->name, b->path);
	err = loop_run(b->ctl);
	if (b->conn_fd >= 0) {
		pr_info("%s: stopping; dropping the frontend", b->name);
		vub_disconnect(b);
	}
	return err;
}

void vhost_backend_stop(struct vhost_backend *b)
{
	atomic_store(&b->stopping, true);
	loop_stop(b->ctl);
}

void vhost_backend_destroy(struct vhost_backend *b)
{
	bool had_io;
	struct stat st;

	if (!b)
		return;
	had_io = b->io != NULL;
	if (b->conn_fd >= 0 && had_io)
		vub_disconnect(b);
	iothread_destroy(b->io);
	if (b->listen_fd >= 0) {
		/* Only our own socket: not one another backend bound after removing ours. */
		if (b->sock_ino && stat(b->path, &st) == 0 && st.st_ino == b->sock_ino &&
		    st.st_dev == b->sock_dev)
			unlink(b->path);
		close(b->listen_fd);
	}
	loop_destroy(b->ctl);
	if (had_io) {
		b->dev->loop = NULL;
		b->dev->mem = NULL;
		b->dev->transport = NULL;
	}
	free(b);
}
