// SPDX-License-Identifier: MIT
/*
 * vhost-user backend: message handlers, on the control thread.
 *
 * Every message is checked before anything is changed: payload size
 * (exact), the number of fds, the ring index, ring sizes, the memory table.
 * A rejected message changes nothing, its fds are closed, a line is
 * logged, and with NEED_REPLY the frontend gets a non-zero u64 (a positive
 * errno).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>

#include <evvm/virtio.h>

#include "backend_int.h"

#define VUB_PROTOCOL_FEATURES                                                                 \
	(VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ) | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) | \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG) |                                           \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_RESET_DEVICE) |                                     \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_STATUS))

#define VHOST_VRING_F_LOG 0 /* SET_VRING_ADDR flags: log used-ring writes */

static void ring_close_fds(struct vub_ring *r)
{
	vub_close_fd(&r->kick_fd);
	vub_close_fd(&r->call_fd);
	vub_close_fd(&r->err_fd);
}

static void ring_forget(struct vub_ring *r)
{
	r->num = 0;
	r->addr_set = false;
	r->desc_ua = r->avail_ua = r->used_ua = 0;
	r->base = 0;
}

void vub_rings_forget(struct vhost_backend *b)
{
	for (unsigned int q = 0; q < b->ops->nr_queues; q++) {
		ring_close_fds(&b->rings[q]);
		ring_forget(&b->rings[q]);
	}
}

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

	if (f & ~offered_features(b))
		return vub_reject(b, msg, -EINVAL, "features 0x%llx were not offered (0x%llx)",
				  (unsigned long long)f, (unsigned long long)offered_features(b));
	if (vub_rings_started(b) &&
	    (f & ~VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)) != b->dev->features)
		return vub_reject(b, msg, -EBUSY, "features change while rings run");
	vub_io_set_features(b, f);
	b->features_set = true;
	pr_debug("%s: features 0x%llx", b->name, (unsigned long long)f);
	return 0;
}

/*
 * CONFIG only for a device that has config space (rng has none: QEMU warns
 * otherwise); in-flight tracking for a device whose requests may be
 * submitted again.
 */
static uint64_t vub_protocol_features(const struct vhost_backend *b)
{
	uint64_t f = VUB_PROTOCOL_FEATURES;

	if (!b->dev->ops->config_size)
		f &= ~VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG);
	if (b->dev->ops->resubmit_ok)
		f |= VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
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
	/* Deprecated; the document recommends ignoring it or disabling every ring. */
	(void)msg;
	vub_io_disable_all(b);
	return 0;
}

static int h_reset_device(struct vhost_backend *b, struct vub_msg *msg)
{
	(void)msg;
	vub_io_reset(b, NULL);
	vub_rings_forget(b);
	b->status = 0;
	b->features_set = false;
	pr_info("%s: device reset", b->name);
	return 0;
}

static int h_get_queue_num(struct vhost_backend *b, struct vub_msg *msg)
{
	reply_u64(msg, b->ops->nr_queues);
	return 0;
}

static int h_set_mem_table(struct vhost_backend *b, struct vub_msg *msg)
{
	struct vub_table *t = calloc(1, sizeof(*t));
	struct evvm_mem *mem = calloc(1, sizeof(*mem));
	uint32_t n, size = msg->w.m.hdr.size;
	uint64_t mask;
	bool quiesced;
	char why[160];
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
	err = memtable_build(&msg->w.m.payload.memory, msg->w.fds, b->guard_efd, t, mem, why,
			     sizeof(why));
	if (err) {
		vub_reject(b, msg, err, "%s", why);
		goto out;
	}

	/* Rings that run are quiesced, so that no request holds a pointer into the old maps. */
	mask = vub_rings_started(b);
	quiesced = !mask || vub_rings_drain(b, mask);
	vub_io_mem_swap(b, t, mem, quiesced);
	memtable_unmap(t); /* now the old table */
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
	struct vub_ring *r;
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
	if (b->mem_table.nr && r->num &&
	    memtable_ring_gpas(&b->mem_table, va.desc, va.avail, va.used, r->num, &g, &bad))
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
	struct vub_ring *r;
	int err, kick_fd;

	r = msg_ring(b, msg, s.index, &err);
	if (!r)
		return err;
	if (r->started) {
		vub_rings_drain(b, 1ULL << s.index);
		r->base = vub_io_ring_stop(b, s.index, &kick_fd);
		vub_close_fd(&kick_fd);
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
	if (r->started) {
		err = vub_io_ring_set_kick(b, r->index, &fd);
		if (err)
			return vub_reject(b, msg, err, "queue %u: kick fd: %s", r->index,
					  evvm_strerror(err));
		msg->w.fds[0] = -1;
		vub_close_fd(&fd); /* the old one */
		return 0;
	}
	if (!b->mem_table.nr || !r->num || !r->addr_set)
		return vub_reject(b, msg, -EINVAL, "queue %u cannot start without %s", r->index,
				  !b->mem_table.nr ? "a memory table"
				  : !r->num	   ? "a size (SET_VRING_NUM)"
						   : "addresses (SET_VRING_ADDR)");
	if (memtable_ring_gpas(&b->mem_table, r->desc_ua, r->avail_ua, r->used_ua, r->num, &g,
			       &bad))
		return vub_reject(b, msg, -EFAULT, "queue %u: %s is not in the frontend's memory",
				  r->index, bad);
	err = vub_io_ring_start(b, r->index, fd);
	if (err)
		return vub_reject(b, msg, err, "queue %u cannot start: %s", r->index,
				  evvm_strerror(err));
	msg->w.fds[0] = -1; /* the ring's now */
	pr_info("%s: started (size %u, avail index %u)", r->name, r->num, r->base);
	return 0;
}

static int h_set_vring_call(struct vhost_backend *b, struct vub_msg *msg)
{
	struct vub_ring *r;
	int fd, err;

	r = vring_fd_msg(b, msg, &fd, &err);
	if (!r)
		return err;
	/* Signalled on the I/O thread per batch: a write there must never block. */
	if (fd >= 0 && fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK) < 0)
		return vub_reject(b, msg, -errno, "queue %u: call fd: %s", r->index,
				  evvm_strerror(errno));
	if (fd >= 0)
		msg->w.fds[0] = -1;
	vub_io_ring_set_signal(b, r->index, msg->w.m.hdr.request == VHOST_USER_SET_VRING_ERR, &fd);
	vub_close_fd(&fd); /* the old one */
	return 0;
}

static int h_set_vring_enable(struct vhost_backend *b, struct vub_msg *msg)
{
	struct vhost_user_vring_state s = msg->w.m.payload.state;
	struct vub_ring *r;
	int err;

	r = msg_ring(b, msg, s.index, &err);
	if (!r)
		return err;
	if (s.num > 1)
		return vub_reject(b, msg, -EINVAL, "queue %u: enable %u is not 0 or 1", s.index,
				  s.num);
	vub_io_ring_enable(b, s.index, s.num);
	return 0;
}

/* GET/SET_INFLIGHT_FD: the device must track, and no ring may run meanwhile. */
static int inflight_msg_check(struct vhost_backend *b, const struct vub_msg *msg)
{
	if (!(vub_protocol_features(b) & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)))
		return vub_reject(b, msg, -ENOTSUP, "the device does not track requests in flight");
	if (vub_rings_started(b))
		return vub_reject(b, msg, -EBUSY, "rings are running");
	return 0;
}

static int h_get_inflight_fd(struct vhost_backend *b, struct vub_msg *msg)
{
	struct vhost_user_inflight in = msg->w.m.payload.inflight;
	struct inflight_region r;
	int err, fd;

	err = inflight_msg_check(b, msg);
	if (err)
		return err;
	if (in.num_queues == 0 || in.num_queues > b->ops->nr_queues || in.queue_size == 0 ||
	    in.queue_size > b->ops->queue_max || (in.queue_size & (in.queue_size - 1)))
		return vub_reject(b, msg, -EINVAL,
				  "%u queues of %u entries (1 to %u queues, a power of 2 up to %u)",
				  in.num_queues, in.queue_size, b->ops->nr_queues,
				  b->ops->queue_max);
	fd = inflight_region_create(in.num_queues, in.queue_size, &r);
	if (fd < 0)
		return vub_reject(b, msg, fd, "creating the region: %s", evvm_strerror(fd));
	inflight_region_unmap(&b->inflight);
	b->inflight = r;
	in.mmap_size = r.map_len;
	in.mmap_offset = 0;
	memcpy(&msg->reply, &in, sizeof(in));
	msg->reply_size = sizeof(in);
	msg->reply_fd = fd;
	pr_info("%s: in-flight region of %llu bytes for %u queues of %u", b->name,
		(unsigned long long)in.mmap_size, in.num_queues, in.queue_size);
	return 0;
}

static int h_set_inflight_fd(struct vhost_backend *b, struct vub_msg *msg)
{
	struct vhost_user_inflight in = msg->w.m.payload.inflight;
	struct inflight_region r;
	char why[160];
	int err;

	err = inflight_msg_check(b, msg);
	if (err)
		return err;
	if (msg->w.nr_fds != 1)
		return vub_reject(b, msg, -EINVAL, "%u fds (expected 1)", msg->w.nr_fds);
	err = inflight_region_map(msg->w.fds[0], &in, b->ops->nr_queues, b->ops->queue_max, &r, why,
				  sizeof(why));
	if (err)
		return vub_reject(b, msg, err, "%s", why);
	inflight_region_unmap(&b->inflight);
	b->inflight = r;
	pr_info("%s: in-flight region of %u queues of %u entries", b->name, r.num_queues,
		r.queue_size);
	return 0;
}

/*
 * Stop every started ring as GET_VRING_BASE would (drained first, so that
 * the saved index covers only completed requests), keeping its
 * configuration: a later GET_VRING_BASE answers from the saved index.
 */
static void rings_stop_all(struct vhost_backend *b)
{
	uint64_t mask = vub_rings_started(b);
	int kick_fd;

	if (!mask)
		return;
	vub_rings_drain(b, mask);
	for (unsigned int q = 0; q < b->ops->nr_queues; q++) {
		if (!(mask & (1ULL << q)))
			continue;
		b->rings[q].base = vub_io_ring_stop(b, q, &kick_fd);
		vub_close_fd(&kick_fd);
		pr_info("%s: stopped at avail index %u (device reset)", b->rings[q].name,
			b->rings[q].base);
	}
}

/*
 * SET_STATUS: the virtio status byte. FEATURES_OK sticks only after an
 * accepted SET_FEATURES (GET_STATUS shows the bit clear otherwise, which is
 * how virtio refuses features). 0 is a device reset: the rings stop and
 * nothing is in flight after the reply, but their configuration and saved
 * indices stay, since vhost-user's own messages own those: QEMU 7.2's
 * frontend sends 0 before the GET_VRING_BASE of each stop, and must still
 * get the right index from it.
 */
static int h_set_status(struct vhost_backend *b, struct vub_msg *msg)
{
	uint64_t v = msg_u64(msg);
	uint8_t s;

	if (v > UINT8_MAX)
		return vub_reject(b, msg, -EINVAL, "status 0x%llx is not a byte",
				  (unsigned long long)v);
	s = v;
	if (s == 0) {
		rings_stop_all(b);
		b->status = 0;
		b->features_set = false;
		pr_info("%s: status 0: device reset", b->name);
		return 0;
	}
	if ((s & VIRTIO_STATUS_FEATURES_OK) && !(b->status & VIRTIO_STATUS_FEATURES_OK) &&
	    !b->features_set) {
		s &= ~VIRTIO_STATUS_FEATURES_OK;
		pr_warn("%s: FEATURES_OK before SET_FEATURES: refused", b->name);
	}
	b->status = s;
	pr_info("%s: status 0x%x", b->name, s);
	return 0;
}

static int h_get_status(struct vhost_backend *b, struct vub_msg *msg)
{
	reply_u64(msg, b->status);
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

#define STATE_SIZE    ((int)sizeof(struct vhost_user_vring_state))
#define INFLIGHT_SIZE ((int)sizeof(struct vhost_user_inflight))

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
	[VHOST_USER_GET_INFLIGHT_FD] = { h_get_inflight_fd, INFLIGHT_SIZE, FDS_NONE, true },
	[VHOST_USER_SET_INFLIGHT_FD] = { h_set_inflight_fd, INFLIGHT_SIZE, FDS_HANDLER, false },
	[VHOST_USER_GET_MAX_MEM_SLOTS] = { NULL, SIZE_ANY, FDS_HANDLER, true },
	[VHOST_USER_SET_STATUS] = { h_set_status, 8, FDS_NONE, false },
	[VHOST_USER_GET_STATUS] = { h_get_status, 0, FDS_NONE, true },
	[28] = { NULL, SIZE_ANY, FDS_HANDLER, true }, /* POSTCOPY_ADVISE */
	[30] = { NULL, SIZE_ANY, FDS_HANDLER, true }, /* POSTCOPY_END */
};

static int vub_send_reply(struct vhost_backend *b, uint32_t request, const void *payload,
			  uint32_t size, int fd)
{
	return vhost_wire_send(b->conn_fd, request, VHOST_USER_REPLY, payload, size, &fd,
			       fd >= 0 ? 1 : 0, VUB_IO_TIMEOUT_MS);
}

int vub_dispatch(struct vhost_backend *b, struct vub_msg *msg)
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
	msg->reply_fd = -1;
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

	if (h && h->reply) {
		err = vub_send_reply(b, req, &msg->reply, err ? 0 : msg->reply_size,
				     err ? -1 : msg->reply_fd);
		vub_close_fd(&msg->reply_fd);
		return err;
	}
	if (!(msg->w.m.hdr.flags & VHOST_USER_NEED_REPLY))
		return 0;
	ack = err ? (uint64_t)-err : 0;
	return vub_send_reply(b, req, &ack, sizeof(ack), -1);
}
