// SPDX-License-Identifier: MIT
/*
 * What the frontend tells a backend: the handshake on each new connection,
 * and the device's set-up at DRIVER_OK, replayed for a backend started
 * again (vhost-user.rst: features, memory table, in-flight region, then
 * per ring num, addresses, base, call, kick, enable).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <evvm/log.h>

#include "frontend_int.h"
#include "frontend_state.h"

#define VHOST_WANT_PROTOCOL                                                                       \
	(VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG) | \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ) | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))

#define BLK_CFG_NUM_QUEUES 34 /* offset of num_queues in virtio_blk_config */

static int vu_get_u64(struct vu_conn *c, uint32_t request, uint64_t *v)
{
	return vu_query(c, request, NULL, 0, v, sizeof(*v), NULL);
}

static int vu_ring_state(struct vu_conn *c, uint32_t request, unsigned int q, uint32_t num)
{
	const struct vhost_user_vring_state s = { q, num };

	return vu_request(c, request, &s, sizeof(s), NULL, 0);
}

static int vu_ring_fd(struct vu_conn *c, uint32_t request, unsigned int q, int fd)
{
	const uint64_t v = q;

	return vu_request(c, request, &v, sizeof(v), &fd, 1);
}

static int vu_read_config(struct vhost_frontend *f)
{
	struct vhost_user_config c = { .offset = 0, .size = f->ops.config_size };
	uint32_t len = VHOST_USER_CONFIG_HDR_SIZE + f->ops.config_size;
	int err;

	if (!(f->conn.protocol & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG))) {
		pr_err("%s: vhost-user backend '%s' cannot share its config space "
		       "(no VHOST_USER_PROTOCOL_F_CONFIG)",
		       f->dev->id, f->conn.path);
		return -ENOTSUP;
	}
	err = vu_query(&f->conn, VHOST_USER_GET_CONFIG, &c, len, &c, len, NULL);
	if (!err && c.size != f->ops.config_size) {
		pr_err("%s: vhost-user backend '%s': GET_CONFIG: %u bytes, expected %u", f->dev->id,
		       f->conn.path, c.size, f->ops.config_size);
		err = -EPROTO;
	}
	if (!err)
		memcpy(f->config, c.payload, f->ops.config_size);
	return err;
}

/*
 * The first backend decides the device: how many queues (the guest gets
 * f->queues of them, told in blk's num_queues) and what config it reads.
 */
static int vu_shape_device(struct vhost_frontend *f, uint64_t backend_queues)
{
	struct evvm_virtio_dev *dev = f->dev;
	uint16_t nq;
	int err;

	dev->host_features = f->backend_features & VHOST_PASS_FEATURES;
	if (f->ops.device_id != VIRTIO_ID_BLOCK) {
		/* Other devices' queue layouts are the backend's: all of its queues. */
		if (backend_queues < 1 || backend_queues > EVVM_VIRTIO_MAX_QUEUES) {
			pr_err("%s: vhost-user backend '%s' has %llu queues, evvm supports 1 to %u",
			       dev->id, f->conn.path, (unsigned long long)backend_queues,
			       EVVM_VIRTIO_MAX_QUEUES);
			return -EINVAL;
		}
		f->queues = backend_queues;
		f->ops.nr_queues = f->queues;
		return vu_read_config(f);
	}
	if (f->queues > backend_queues) {
		pr_err("%s: vhost-user backend '%s' has %llu queue%s, %u asked for (queues=)",
		       dev->id, f->conn.path, (unsigned long long)backend_queues,
		       backend_queues == 1 ? "" : "s", f->queues);
		return -EINVAL;
	}
	if (f->queues > 1 && !(dev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_MQ))) {
		pr_err("%s: vhost-user backend '%s' does not offer VIRTIO_BLK_F_MQ; queues=%u "
		       "needs "
		       "it",
		       dev->id, f->conn.path, f->queues);
		return -EINVAL;
	}
	f->ops.nr_queues = f->queues;
	err = vu_read_config(f);
	if (err)
		return err;
	/* The guest sees the queues it gets, whatever the backend could serve. */
	nq = f->queues;
	memcpy(f->config + BLK_CFG_NUM_QUEUES, &nq, sizeof(nq));
	if (f->queues == 1)
		dev->host_features &= ~VIRTIO_BIT(VIRTIO_BLK_F_MQ);
	return 0;
}

int vu_handshake(struct vhost_frontend *f, bool first)
{
	struct vu_conn *c = &f->conn;
	uint64_t features, offered, nr_queues = 1;
	int err;

	err = vu_send(c, VHOST_USER_SET_OWNER, 0, NULL, 0, NULL, 0);
	if (!err)
		err = vu_get_u64(c, VHOST_USER_GET_FEATURES, &features);
	if (err)
		return err;
	if (!first && (f->dev->host_features & ~features)) {
		pr_err("%s: vhost-user backend '%s' now offers features 0x%llx, the device has "
		       "0x%llx",
		       f->dev->id, c->path, (unsigned long long)features,
		       (unsigned long long)f->dev->host_features);
		return -ENOTSUP;
	}
	f->backend_features = features;
	if (features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)) {
		err = vu_get_u64(c, VHOST_USER_GET_PROTOCOL_FEATURES, &offered);
		if (err)
			return err;
		/* Sent before REPLY_ACK is in force, so no ack is asked for. */
		offered &= VHOST_WANT_PROTOCOL;
		if (f->no_inflight)
			offered &= ~VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
		err = vu_send(c, VHOST_USER_SET_PROTOCOL_FEATURES, 0, &offered, sizeof(offered),
			      NULL, 0);
		if (err)
			return err;
		c->protocol = offered;
	}
	if (c->protocol & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ)) {
		err = vu_get_u64(c, VHOST_USER_GET_QUEUE_NUM, &nr_queues);
		if (err)
			return err;
	}
	if (!first) {
		if (nr_queues >= f->queues)
			return 0;
		pr_err("%s: vhost-user backend '%s' now has %llu queues, the device has %u",
		       f->dev->id, c->path, (unsigned long long)nr_queues, f->queues);
		return -ENOTSUP;
	}
	f->ops.config_size = vu_config_size(f->ops.device_id);
	return vu_shape_device(f, nr_queues);
}

/* Every RAM region, as the backend maps it: the memfd, at its offset. */
static int vu_set_mem_table(struct vhost_frontend *f)
{
	const struct evvm_mem *mem = f->dev->mem;
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
	return vu_request(&f->conn, VHOST_USER_SET_MEM_TABLE, &m,
			  offsetof(struct vhost_user_memory, regions) +
				  mem->nr_regions * sizeof(m.regions[0]),
			  fds, mem->nr_regions);
}

void vu_inflight_free(struct vhost_frontend *f)
{
	if (f->inflight_fd >= 0)
		close(f->inflight_fd);
	f->inflight_fd = -1;
}

/*
 * The region's queue size: the rings' as the driver set them (the largest,
 * should they differ), since a backend may require the two to match.
 */
static uint16_t inflight_queue_size(const struct vhost_frontend *f)
{
	uint16_t size = 0;

	for (unsigned int q = 0; q < f->queues; q++)
		if (f->dev->vqs[q].ready && f->dev->vqs[q].num > size)
			size = f->dev->vqs[q].num;
	return size ? size : f->ops.queue_max;
}

/*
 * The in-flight region: asked of the backend at the first start after a
 * reset, handed to every backend from then on, so that one started again
 * resubmits what its predecessor had not completed.
 */
static int vu_set_inflight(struct vhost_frontend *f)
{
	struct vu_conn *c = &f->conn;
	int err;

	if (!(c->protocol & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD)))
		return 0;
	if (f->inflight_fd < 0) {
		struct vhost_user_inflight in = { .num_queues = f->queues,
						  .queue_size = inflight_queue_size(f) };

		err = vu_query(c, VHOST_USER_GET_INFLIGHT_FD, &in, sizeof(in), &f->inflight,
			       sizeof(f->inflight), &f->inflight_fd);
		if (err)
			return err;
		if (!f->inflight.mmap_size || f->inflight.num_queues != in.num_queues ||
		    f->inflight.queue_size != in.queue_size) {
			pr_err("%s: vhost-user backend '%s': GET_INFLIGHT_FD: region of %llu bytes "
			       "for %u queues of %u, asked for %u of %u",
			       f->dev->id, c->path, (unsigned long long)f->inflight.mmap_size,
			       f->inflight.num_queues, f->inflight.queue_size, in.num_queues,
			       in.queue_size);
			vu_inflight_free(f);
			return -EPROTO;
		}
	}
	return vu_request(c, VHOST_USER_SET_INFLIGHT_FD, &f->inflight, sizeof(f->inflight),
			  &f->inflight_fd, 1);
}

/* Queue @q's interrupt eventfd: the one given at create, else the transport's. */
static int vu_call_fd(const struct vhost_frontend *f, unsigned int q)
{
	if (f->call_fds[q] >= 0)
		return f->call_fds[q];
	return f->dev->per_queue_calls ? f->dev->call_fds[q] : f->dev->call_fd;
}

static int vu_start_ring(struct vhost_frontend *f, unsigned int q, bool restart)
{
	struct evvm_virtio_dev *dev = f->dev;
	struct vu_conn *c = &f->conn;
	const struct evvm_vq *vq = &dev->vqs[q];
	const struct vhost_user_vring_addr a = {
		.index = q,
		.desc = (uintptr_t)vq->desc,
		.used = (uintptr_t)vq->used,
		.avail = (uintptr_t)vq->avail,
	};
	/*
	 * A new ring starts at 0. After a backend died, the guest's used index
	 * is where it stopped for sure (QEMU does the same); with the in-flight
	 * region the backend resubmits what it had taken beyond that, without
	 * it a request completed out of order may be completed twice. A ring
	 * restored from a snapshot goes on where GET_VRING_BASE stopped it.
	 */
	uint16_t base = f->restored ? f->ring_base[q] : restart ? vq_used_ring_idx(vq) : 0;
	int err;

	/*
	 * The snapshot was taken drained (frontend_persist.c refuses any
	 * other): a base beyond the used index would skip requests the guest
	 * still waits for, one behind it would do some twice.
	 */
	if (f->restored && base != vq_used_ring_idx(vq)) {
		pr_err("%s: queue %u: the snapshot's ring base %u is not the used index %u in "
		       "guest memory",
		       dev->id, q, base, vq_used_ring_idx(vq));
		return -EINVAL;
	}
	err = vu_ring_state(c, VHOST_USER_SET_VRING_NUM, q, vq->num);
	if (!err)
		err = vu_request(c, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0);
	if (!err)
		err = vu_ring_state(c, VHOST_USER_SET_VRING_BASE, q, base);
	if (!err)
		err = vu_ring_fd(c, VHOST_USER_SET_VRING_CALL, q, vu_call_fd(f, q));
	/* The kick fd starts the ring (vhost-user.rst, "Ring states"): last. */
	if (!err)
		err = vu_ring_fd(c, VHOST_USER_SET_VRING_KICK, q, dev->kick_fds[q]);
	if (!err && (f->backend_features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES)))
		err = vu_ring_state(c, VHOST_USER_SET_VRING_ENABLE, q, 1);
	if (err)
		return err;
	f->started_rings[q] = true;
	if (restart || f->restored) {
		/*
		 * Kicks sent while no backend listened (or to the process a
		 * snapshot came from) were read by nobody: one for this one.
		 */
		const uint64_t one = 1;

		if (write(dev->kick_fds[q], &one, sizeof(one)) < 0)
			pr_warn("%s: kick queue %u: %s", dev->id, q, evvm_strerror(-errno));
	}
	return 0;
}

int vu_setup(struct vhost_frontend *f, bool restart)
{
	struct evvm_virtio_dev *dev = f->dev;
	uint64_t features = dev->features;
	int err;

	if (f->backend_features & VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES))
		features |= VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	err = vu_request(&f->conn, VHOST_USER_SET_FEATURES, &features, sizeof(features), NULL, 0);
	if (!err)
		err = vu_set_mem_table(f);
	if (!err)
		err = vu_set_inflight(f);
	for (unsigned int q = 0; !err && q < f->queues; q++)
		if (dev->vqs[q].ready)
			err = vu_start_ring(f, q, restart);
	/* Once a backend has the saved bases, later set-ups go by the used index. */
	if (!err)
		f->restored = false;
	return err;
}
