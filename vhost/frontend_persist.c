// SPDX-License-Identifier: MIT
/*
 * A vhost-user device in a snapshot. Saving writes what builds the
 * frontend again (the backend's socket, the device the guest saw, where
 * the backend stopped each ring at the pause); loading connects to a
 * backend (the same one, one started again on the same data, or a
 * clone's own), checks that it can serve the device the guest knows, and
 * leaves the ring bases for the transport's restore to start the rings
 * from: the set-up of a reconnect (frontend_setup.c), with the saved
 * bases instead of the used index.
 *
 * In flight: pausing stops every ring with GET_VRING_BASE, which a
 * backend answers once it has completed what it had taken (evvm's does;
 * vhost-user.rst lets a backend stop with requests still taken, which a
 * snapshot could not hold: the save refuses that, see save_ring). So a
 * snapshot has nothing in flight, and the in-flight region the restored
 * device asks the backend for at its start is a fresh, zeroed one.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <evvm/log.h>
#include <evvm/loop.h>
#include <evvm/virtio.h>

#include "frontend.h"
#include "frontend_int.h"
#include "frontend_state.h"

struct save_args {
	struct vhost_frontend *f;
	struct vu_persist *p;
};

/* Ring @q's base for the snapshot: where the backend stopped it, with nothing left taken. */
static int save_ring(struct vhost_frontend *f, unsigned int q, struct vu_persist *p)
{
	const struct evvm_vq *vq = &f->dev->vqs[q];
	uint16_t used = vq_used_ring_idx(vq);

	if (!vq->ready)
		return 0;
	if (!(f->stopped_rings & (1u << q))) {
		pr_err("%s: queue %u: vhost-user backend '%s' did not stop it at the pause (it was "
		       "gone): where it stopped is unknown",
		       f->dev->id, q, f->conn.path);
		return -ENOTCONN;
	}
	if (f->ring_base[q] != used) {
		pr_err("%s: queue %u: vhost-user backend '%s' stopped at avail index %u with "
		       "requests completed up to %u only: %u still in flight would be lost",
		       f->dev->id, q, f->conn.path, f->ring_base[q], used,
		       (uint16_t)(f->ring_base[q] - used));
		return -EBUSY;
	}
	p->ring_base[q] = f->ring_base[q];
	return 0;
}

/* On the device's I/O thread, where a reconnect would change the frontend. */
static int save_on_loop(void *opaque)
{
	struct save_args *a = opaque;
	struct vhost_frontend *f = a->f;
	struct evvm_virtio_dev *dev = f->dev;
	struct vu_persist *p = a->p;
	int err = 0;

	if (f->running && !f->quiesced) {
		pr_err("%s: the device is not paused", dev->id);
		return -EBUSY;
	}
	*p = (struct vu_persist){
		.device_id = f->ops.device_id,
		.queues = f->queues,
		.reconnect_s = f->reconnect_s,
		.config_size = f->ops.config_size,
		.host_features = dev->host_features,
		.features = dev->features,
		.running = f->running,
		.no_inflight = f->no_inflight,
		.path_len = strlen(f->conn.path),
	};
	memcpy(p->config, f->config, f->ops.config_size);
	for (unsigned int q = 0; f->running && !err && q < f->queues; q++)
		err = save_ring(f, q, p);
	return err;
}

int vu_save(struct evvm_virtio_dev *dev, void *buf, size_t cap)
{
	struct vhost_frontend *f = dev->priv;
	struct vu_persist p;
	struct save_args a = { f, &p };
	int err;

	err = dev->loop ? loop_call(dev->loop, save_on_loop, &a) : save_on_loop(&a);
	if (err)
		return err;
	if (cap < sizeof(p) + p.path_len)
		return -ENOSPC;
	memcpy(buf, &p, sizeof(p));
	memcpy((char *)buf + sizeof(p), f->conn.path, p.path_len);
	return sizeof(p) + p.path_len;
}

/* "2, 9, 28" of @bits into @out. */
static const char *bit_list(uint64_t bits, char *out, size_t size)
{
	size_t n = 0;

	out[0] = 0;
	for (unsigned int b = 0; b < 64 && n < size; b++)
		if (bits & VIRTIO_BIT(b))
			n += snprintf(out + n, size - n, "%s%u", n ? ", " : "", b);
	return out;
}

/* The first byte where the new backend's config differs from the guest's, or -1. */
static int config_diff(const struct vhost_frontend *f, const struct vu_persist *p)
{
	for (uint32_t i = 0; i < p->config_size; i++)
		if (f->config[i] != p->config[i])
			return (int)i;
	return -1;
}

/*
 * Whether the backend just connected can serve the device the guest
 * knows: the same queues, every feature the driver accepted, the same
 * config space (a disk of the same size). Then the device takes the
 * snapshot's view and, if started, its ring bases. -EINVAL after a line.
 */
static int adopt(struct vhost_frontend *f, const struct vu_persist *p, const char *origin)
{
	struct evvm_virtio_dev *dev = f->dev;
	uint64_t missing = p->features & ~(dev->host_features | VIRTIO_BIT(VIRTIO_F_VERSION_1));
	uint64_t cap_now, cap_then;
	char bits[256];
	int at;

	if (f->queues != p->queues) {
		pr_err("snapshot '%s': %s: vhost-user backend '%s' serves %u queues, the device "
		       "had "
		       "%u",
		       origin, dev->id, f->conn.path, f->queues, p->queues);
		return -EINVAL;
	}
	if (missing) {
		pr_err("snapshot '%s': %s: vhost-user backend '%s' does not offer features the "
		       "guest had accepted: 0x%llx (bits %s)",
		       origin, dev->id, f->conn.path, (unsigned long long)missing,
		       bit_list(missing, bits, sizeof(bits)));
		return -EINVAL;
	}
	at = config_diff(f, p);
	if (at >= 0 && p->device_id == VIRTIO_ID_BLOCK && at < 8) {
		memcpy(&cap_now, f->config, sizeof(cap_now));
		memcpy(&cap_then, p->config, sizeof(cap_then));
		pr_err("snapshot '%s': %s: vhost-user backend '%s' has a disk of %llu sectors, the "
		       "snapshot's had %llu",
		       origin, dev->id, f->conn.path, (unsigned long long)cap_now,
		       (unsigned long long)cap_then);
		return -EINVAL;
	}
	if (at >= 0) {
		pr_err("snapshot '%s': %s: vhost-user backend '%s' shows another config space than "
		       "the guest saw (byte %d: 0x%02x, was 0x%02x)",
		       origin, dev->id, f->conn.path, at, f->config[at], p->config[at]);
		return -EINVAL;
	}
	/* What the guest was offered, as far as this backend has it (all it accepted). */
	dev->host_features &= p->host_features;
	f->restored = p->running;
	memcpy(f->ring_base, p->ring_base, sizeof(f->ring_base));
	return 0;
}

int vhost_user_dev_load(uint32_t device_id, const char *id, const void *state, size_t len,
			const struct virtio_dev_env *env, struct evvm_virtio_dev **out)
{
	char path[VU_PERSIST_PATH_MAX + 1];
	struct vu_persist p;
	const char *bad = vu_persist_parse(state, len, &p, path);
	struct vhost_user_opts o;
	int err;

	*out = NULL;
	if (!bad && p.device_id != device_id)
		bad = "vhost-user device type is not the one its section names";
	if (bad) {
		pr_err("snapshot '%s': %s: %s", env->origin, id, bad);
		return -EINVAL;
	}
	o = (struct vhost_user_opts){
		.socket = env->disk_path ? env->disk_path : path,
		.queues = device_id == VIRTIO_ID_BLOCK ? p.queues : 0,
		.reconnect_s = p.reconnect_s,
		.cancel_fd = env->cancel_fd,
		.no_inflight = p.no_inflight,
	};
	/*
	 * The backend must answer now, reconnect or not: the guest's device
	 * (features, queues, config) is checked against it before anything
	 * runs, and a VM whose disk may never come back is not started.
	 */
	err = vhost_user_dev_create(id, device_id, &o, out);
	if (err) {
		pr_err("snapshot '%s': %s: vhost-user backend '%s' cannot take the device back: %s",
		       env->origin, id, o.socket, evvm_strerror(err));
		return err;
	}
	err = adopt((*out)->priv, &p, env->origin);
	if (err) {
		virtio_dev_destroy(*out);
		*out = NULL;
	}
	return err;
}
