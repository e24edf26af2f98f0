// SPDX-License-Identifier: MIT
/*
 * The vhost-user frontend: evvm's side of a device served by another
 * process. Messages go out on the device's I/O thread (start and stop run
 * there), one at a time, each answered before the next is sent.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <evvm/log.h>

#include "frontend.h"
#include "vhost_user.h"

/* Transport features the frontend can pass on: device bits, rings, version 1. */
#define VHOST_PASS_FEATURES                                                                        \
	(0xffffffULL | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) |     \
	 VIRTIO_BIT(VIRTIO_F_VERSION_1))

#define VHOST_WANT_PROTOCOL                                                                        \
	(VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG) |  \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ))

struct vhost_frontend {
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	int sock;
	bool connected; /* false once the backend went away */
	bool watched;	/* sock is on the device loop (hang-up detection) */
	uint64_t backend_features;
	uint64_t protocol; /* negotiated protocol features */
	bool started_rings[EVVM_VIRTIO_MAX_QUEUES];
	uint8_t config[VHOST_USER_MAX_CONFIG];
	struct evvm_device_ops ops; /* per instance: queue count, config size */
};

static int vu_send(struct vhost_frontend *f, uint32_t request, uint32_t flags, const void *payload,
		   uint32_t size, const int *fds, unsigned int nr_fds)
{
	struct vhost_user_hdr hdr = { request, VHOST_USER_VERSION | flags, size };
	struct iovec iov[2] = { { &hdr, sizeof(hdr) }, { (void *)payload, size } };
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct msghdr msg = { .msg_iov = iov, .msg_iovlen = size ? 2 : 1 };
	ssize_t n;

	if (!f->connected)
		return -ENOTCONN;
	if (nr_fds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		msg.msg_control = ctl.buf;
		msg.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
		c = CMSG_FIRSTHDR(&msg);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nr_fds);
	}
	do
		n = sendmsg(f->sock, &msg, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	if (n != (ssize_t)(sizeof(hdr) + size)) {
		int err = n < 0 ? -errno : -EIO;

		pr_err("vhost-user '%s': send request %u: %s", f->path, request,
		       evvm_strerror(err));
		f->connected = false;
		return err;
	}
	return 0;
}

static int vu_recv_all(int fd, void *buf, size_t len)
{
	while (len) {
		ssize_t n = recv(fd, buf, len, MSG_WAITALL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return n < 0 ? -errno : -ECONNRESET;
		buf = (char *)buf + n;
		len -= n;
	}
	return 0;
}

/* Read the reply to @request into @payload, which must be @size bytes exactly. */
static int vu_reply(struct vhost_frontend *f, uint32_t request, void *payload, uint32_t size)
{
	struct vhost_user_hdr hdr;
	int err;

	err = vu_recv_all(f->sock, &hdr, sizeof(hdr));
	if (!err && (hdr.request != request || !(hdr.flags & VHOST_USER_REPLY) ||
		     hdr.size != size))
		err = -EPROTO;
	if (!err)
		err = vu_recv_all(f->sock, payload, size);
	if (err) {
		pr_err("vhost-user '%s': reply to request %u: %s", f->path, request,
		       evvm_strerror(err));
		f->connected = false;
	}
	return err;
}

/* Send a request that expects no reply; with REPLY_ACK, ask for one and check it. */
static int vu_request(struct vhost_frontend *f, uint32_t request, const void *payload,
		      uint32_t size, const int *fds, unsigned int nr_fds)
{
	bool ack = f->protocol & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK);
	uint64_t status;
	int err;

	err = vu_send(f, request, ack ? VHOST_USER_NEED_REPLY : 0, payload, size, fds, nr_fds);
	if (err || !ack)
		return err;
	err = vu_reply(f, request, &status, sizeof(status));
	if (!err && status) {
		pr_err("vhost-user '%s': backend refused request %u", f->path, request);
		err = -EIO;
	}
	return err;
}

/* Send a request that has a reply of its own, and read that reply into @out. */
static int vu_query(struct vhost_frontend *f, uint32_t request, const void *in, uint32_t in_size,
		    void *out, uint32_t out_size)
{
	int err = vu_send(f, request, 0, in, in_size, NULL, 0);

	return err ? err : vu_reply(f, request, out, out_size);
}

static int vu_get_u64(struct vhost_frontend *f, uint32_t request, uint64_t *v)
{
	return vu_query(f, request, NULL, 0, v, sizeof(*v));
}

static int vu_set_u64(struct vhost_frontend *f, uint32_t request, uint64_t v)
{
	return vu_request(f, request, &v, sizeof(v), NULL, 0);
}

static int vu_ring_state(struct vhost_frontend *f, uint32_t request, unsigned int q, uint32_t num)
{
	const struct vhost_user_vring_state s = { q, num };

	return vu_request(f, request, &s, sizeof(s), NULL, 0);
}

static int vu_ring_fd(struct vhost_frontend *f, uint32_t request, unsigned int q, int fd)
{
	const uint64_t v = q;

	return vu_request(f, request, &v, sizeof(v), &fd, 1);
}

/* Every RAM region, as the backend maps it: the memfd, at its offset. */
static int vu_set_mem_table(struct vhost_frontend *f, const struct evvm_mem *mem)
{
	struct vhost_user_memory m = { .nregions = mem->nr_regions };
	int fds[VHOST_USER_MAX_REGIONS];

	if (mem->nr_regions > VHOST_USER_MAX_REGIONS)
		return -E2BIG;
	for (unsigned int i = 0; i < mem->nr_regions; i++) {
		const struct evvm_mem_region *r = &mem->regions[i];

		if (r->fd < 0)
			return -EINVAL; /* anonymous memory cannot be shared */
		m.regions[i] = (struct vhost_user_region){
			.guest_phys_addr = r->gpa,
			.memory_size = r->size,
			.userspace_addr = (uintptr_t)r->hva,
			.mmap_offset = r->offset,
		};
		fds[i] = r->fd;
	}
	return vu_request(f, VHOST_USER_SET_MEM_TABLE, &m,
			  offsetof(struct vhost_user_memory, regions) +
				  mem->nr_regions * sizeof(m.regions[0]),
			  fds, mem->nr_regions);
}

static int vu_start_ring(struct vhost_frontend *f, struct evvm_virtio_dev *dev, unsigned int q)
{
	const struct evvm_vq *vq = &dev->vqs[q];
	const struct vhost_user_vring_addr a = {
		.index = q,
		.desc = (uintptr_t)vq->desc,
		.used = (uintptr_t)vq->used,
		.avail = (uintptr_t)vq->avail,
	};
	int err;

	err = vu_ring_state(f, VHOST_USER_SET_VRING_NUM, q, vq->num);
	if (!err)
		err = vu_request(f, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	if (!err)
		err = vu_ring_state(f, VHOST_USER_SET_VRING_BASE, q, 0);
	if (!err)
		err = vu_ring_fd(f, VHOST_USER_SET_VRING_CALL, q, dev->call_fd);
	/* The kick fd starts the ring (vhost-user.rst, "Ring states"): last. */
	if (!err)
		err = vu_ring_fd(f, VHOST_USER_SET_VRING_KICK, q, dev->kick_fds[q]);
	if (!err && (f->backend_features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)))
		err = vu_ring_state(f, VHOST_USER_SET_VRING_ENABLE, q, 1);
	if (!err)
		f->started_rings[q] = true;
	return err;
}

static void vu_hangup(void *opaque, uint32_t events)
{
	struct evvm_virtio_dev *dev = opaque;
	struct vhost_frontend *f = dev->priv;

	if (!(events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
		return;
	loop_del(dev->loop, f->sock);
	f->watched = false;
	if (f->connected)
		pr_err("%s: vhost-user backend '%s' disconnected", dev->id, f->path);
	f->connected = false;
	dev->needs_reset(dev);
}

static int vu_start(struct evvm_virtio_dev *dev)
{
	struct vhost_frontend *f = dev->priv;
	uint64_t features = dev->features;
	int err;

	if (!f->connected) {
		pr_err("%s: vhost-user backend '%s' is gone", dev->id, f->path);
		return -ENOTCONN;
	}
	if (!f->watched && loop_add(dev->loop, f->sock, EPOLLRDHUP, vu_hangup, dev) == 0)
		f->watched = true;
	if (f->backend_features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES))
		features |= VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	err = vu_set_u64(f, VHOST_USER_SET_FEATURES, features);
	if (!err)
		err = vu_set_mem_table(f, dev->mem);
	for (unsigned int q = 0; !err && q < dev->ops->nr_queues; q++)
		if (dev->vqs[q].ready)
			err = vu_start_ring(f, dev, q);
	if (err)
		pr_err("%s: starting vhost-user backend '%s': %s", dev->id, f->path,
		       evvm_strerror(err));
	return err;
}

static void vu_stop(struct evvm_virtio_dev *dev)
{
	struct vhost_frontend *f = dev->priv;

	/* GET_VRING_BASE stops a ring: the backend is done with it once it answers. */
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++) {
		struct vhost_user_vring_state s = { q, 0 };

		if (!f->started_rings[q])
			continue;
		f->started_rings[q] = false;
		vu_query(f, VHOST_USER_GET_VRING_BASE, &s, sizeof(s), &s, sizeof(s));
	}
}

static void vu_config_read(struct evvm_virtio_dev *dev, uint32_t offset, void *data, uint32_t len)
{
	struct vhost_frontend *f = dev->priv;

	memcpy(data, f->config + offset, len);
}

static void vu_destroy(struct evvm_virtio_dev *dev)
{
	struct vhost_frontend *f = dev->priv;

	if (f->watched)
		loop_del(dev->loop, f->sock);
	if (f->sock >= 0)
		close(f->sock);
	free(f);
}

/* Size of config space per device type (virtio 1.2, 5.x config layouts). */
static uint32_t config_size(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_BLOCK:
		return 60;
	case VIRTIO_ID_NET:
		return 12;
	default:
		return 0;
	}
}

static int vu_connect(struct vhost_frontend *f, const char *id)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memcpy(sa.sun_path, f->path, sizeof(f->path));
	f->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (f->sock < 0 || connect(f->sock, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = -errno;

		pr_err("%s: vhost-user socket '%s': connect: %s", id, f->path, evvm_strerror(err));
		return err;
	}
	f->connected = true;
	return 0;
}

/* Learn what the backend offers, before the guest asks. */
static int vu_handshake(struct vhost_frontend *f, uint32_t device_id)
{
	uint64_t offered, nr_queues = 1;
	int err;

	err = vu_send(f, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
	if (!err)
		err = vu_get_u64(f, VHOST_USER_GET_FEATURES, &f->backend_features);
	if (err)
		return err;
	if (f->backend_features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)) {
		err = vu_get_u64(f, VHOST_USER_GET_PROTOCOL_FEATURES, &offered);
		if (err)
			return err;
		f->protocol = offered & VHOST_WANT_PROTOCOL;
		/* Sent before REPLY_ACK is in force, so no ack is asked for. */
		err = vu_send(f, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &f->protocol,
			      sizeof(f->protocol), NULL, 0);
		if (err)
			return err;
	}
	if (f->protocol & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ)) {
		err = vu_get_u64(f, VHOST_USER_GET_QUEUE_NUM, &nr_queues);
		if (err)
			return err;
	}
	if (nr_queues < 1 || nr_queues > EVVM_VIRTIO_MAX_QUEUES) {
		pr_err("vhost-user '%s': backend has %llu queues, evvm supports 1 to %u", f->path,
		       (unsigned long long)nr_queues, EVVM_VIRTIO_MAX_QUEUES);
		return -EINVAL;
	}
	f->ops.nr_queues = nr_queues;
	f->ops.config_size = config_size(device_id);
	if (f->ops.config_size) {
		struct vhost_user_config c = { .offset = 0, .size = f->ops.config_size };
		uint32_t len = VHOST_USER_CONFIG_HDR_SIZE + f->ops.config_size;

		if (!(f->protocol & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG))) {
			pr_err("vhost-user '%s': backend cannot share its config space "
			       "(no VHOST_USER_PROTOCOL_F_CONFIG)",
			       f->path);
			return -ENOTSUP;
		}
		err = vu_query(f, VHOST_USER_GET_CONFIG, &c, len, &c, len);
		if (!err && c.size != f->ops.config_size)
			err = -EPROTO;
		if (err)
			return err;
		memcpy(f->config, c.payload, f->ops.config_size);
	}
	return 0;
}

int vhost_user_dev_create(const char *id, uint32_t device_id, const char *socket_path,
			  struct evvm_virtio_dev **out)
{
	struct evvm_virtio_dev *dev = calloc(1, sizeof(*dev));
	struct vhost_frontend *f = calloc(1, sizeof(*f));
	int err;

	if (!dev || !f) {
		free(dev);
		free(f);
		return -ENOMEM;
	}
	/* Checked before the copy: a truncated path would name another socket. */
	if (strlen(socket_path) >= sizeof(f->path)) {
		pr_err("%s: vhost-user socket '%s': path too long", id, socket_path);
		free(dev);
		free(f);
		return -ENAMETOOLONG;
	}
	f->sock = -1;
	snprintf(f->path, sizeof(f->path), "%s", socket_path);
	f->ops = (struct evvm_device_ops){
		.name = "vhost-user",
		.device_id = device_id,
		.queue_max = 256,
		.config_read = vu_config_read,
		.start = vu_start,
		.kick = NULL, /* the backend reads the kick eventfds */
		.stop = vu_stop,
		.destroy = vu_destroy,
	};
	dev->priv = f;
	dev->ops = &f->ops;
	snprintf(dev->id, sizeof(dev->id), "%s", id);

	err = vu_connect(f, id);
	if (!err)
		err = vu_handshake(f, device_id);
	if (err) {
		vu_destroy(dev);
		free(dev);
		return err;
	}
	dev->host_features = f->backend_features & VHOST_PASS_FEATURES;
	*out = dev;
	return 0;
}
