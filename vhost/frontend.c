// SPDX-License-Identifier: MIT
/*
 * The vhost-user frontend: evvm's side of a device served by another
 * process. Messages go out on the device's I/O thread (start, stop, the
 * hang-up watch and the reconnect timer all run there), one at a time, each
 * answered within its deadline before the next is sent.
 *
 * A backend that goes away (hang-up, or no answer in time) either leaves
 * the device in DEVICE_NEEDS_RESET or, with reconnect, pauses it: the
 * guest's kicks wait in the kick eventfds, and once a backend listens on the
 * socket again the set-up is replayed (frontend_setup.c) and the rings go on
 * from where the guest sees them.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <evvm/log.h>

#include "frontend.h"
#include "frontend_int.h"

static void vu_watch(struct vhost_frontend *f);

static void timer_stop(struct vhost_frontend *f)
{
	if (f->timer_fd < 0)
		return;
	loop_del(f->dev->loop, f->timer_fd);
	close(f->timer_fd);
	f->timer_fd = -1;
}

static void vu_unwatch(struct vhost_frontend *f)
{
	if (f->watched)
		loop_del(f->dev->loop, f->conn.sock);
	f->watched = false;
}

/* A permanent failure: the guest must reset the device. */
static void vu_fail(struct vhost_frontend *f)
{
	timer_stop(f);
	vu_unwatch(f);
	vu_conn_close(&f->conn);
	memset(f->started_rings, 0, sizeof(f->started_rings));
	f->dev->needs_reset(f->dev);
}

/*
 * The reconnect timer: try the socket; a backend that takes the handshake
 * and (if the device runs) the set-up is watched for a hang-up from then
 * on, and the timer stops.
 */
static void vu_reconnect_tick(void *opaque, uint32_t events)
{
	struct vhost_frontend *f = opaque;
	uint64_t n;
	int err;

	(void)events;
	if (read(f->timer_fd, &n, sizeof(n)) < 0)
		return;
	if (vu_conn_open(&f->conn, true))
		return; /* not back yet */
	err = vu_handshake(f, false);
	if (!err && f->running && !f->quiesced)
		err = vu_setup(f, true);
	if (err == -ENOTSUP) {
		pr_err("%s: vhost-user backend '%s' cannot serve this device any more", f->dev->id,
		       f->conn.path);
		vu_fail(f);
		return;
	}
	if (err) {
		vu_conn_close(&f->conn);
		return; /* try again at the next tick */
	}
	timer_stop(f);
	vu_watch(f);
	pr_warn("%s: vhost-user backend '%s' reconnected%s", f->dev->id, f->conn.path,
		f->running ? ", queues resumed" : "");
}

void vu_lost(struct vhost_frontend *f, int err)
{
	struct itimerspec every = { .it_interval = { .tv_sec = f->reconnect_s },
				    .it_value = { .tv_sec = f->reconnect_s } };
	int terr;

	vu_unwatch(f);
	vu_conn_close(&f->conn);
	memset(f->started_rings, 0, sizeof(f->started_rings));
	if (err == -ECANCELED)
		return; /* evvm is stopping */
	if (!f->reconnect_s) {
		f->dev->needs_reset(f->dev);
		return;
	}
	if (f->timer_fd >= 0)
		return; /* already trying */
	f->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	terr = f->timer_fd < 0 || timerfd_settime(f->timer_fd, 0, &every, NULL) < 0 ? -errno : 0;
	if (!terr)
		terr = loop_add(f->dev->loop, f->timer_fd, EPOLLIN, vu_reconnect_tick, f);
	if (terr) {
		pr_err("%s: vhost-user backend '%s': reconnect timer: %s", f->dev->id, f->conn.path,
		       evvm_strerror(terr));
		if (f->timer_fd >= 0)
			close(f->timer_fd);
		f->timer_fd = -1;
		f->dev->needs_reset(f->dev);
		return;
	}
	pr_warn("%s: vhost-user backend '%s' is gone; queues paused, reconnecting every %u s",
		f->dev->id, f->conn.path, f->reconnect_s);
}

static void vu_hangup(void *opaque, uint32_t events)
{
	struct vhost_frontend *f = opaque;

	if (!(events & (EPOLLHUP | EPOLLRDHUP | EPOLLERR)))
		return;
	pr_err("%s: vhost-user backend '%s' disconnected", f->dev->id, f->conn.path);
	vu_lost(f, -ECONNRESET);
}

static void vu_watch(struct vhost_frontend *f)
{
	if (!f->watched && loop_add(f->dev->loop, f->conn.sock, EPOLLRDHUP, vu_hangup, f) == 0)
		f->watched = true;
}

static int vu_start(struct evvm_virtio_dev *dev)
{
	struct vhost_frontend *f = dev->priv;
	int err;

	f->running = true;
	if (!vu_conn_up(&f->conn)) {
		if (f->timer_fd >= 0)
			return 0; /* paused: the rings start when the backend is back */
		pr_err("%s: vhost-user backend '%s' is gone", dev->id, f->conn.path);
		return -ENOTCONN;
	}
	vu_watch(f);
	err = vu_setup(f, false);
	if (!err)
		return 0;
	pr_err("%s: starting vhost-user backend '%s': %s", dev->id, f->conn.path,
	       evvm_strerror(err));
	if (vu_conn_up(&f->conn))
		return err; /* a refusal by a live backend is not fixed by reconnecting */
	vu_lost(f, err);
	return f->timer_fd >= 0 ? 0 : err;
}

/*
 * GET_VRING_BASE stops a ring: the backend is done with it once it
 * answers. Its answer, the next avail entry it would take, is kept for a
 * snapshot, and the queue's position follows it (the used index read
 * from the ring), so that the transport saves where the backend stopped.
 */
static int vu_stop_rings(struct vhost_frontend *f)
{
	int err = 0;

	f->stopped_rings = 0;
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++) {
		struct vhost_user_vring_state s = { q, 0 };

		if (!f->started_rings[q])
			continue;
		f->started_rings[q] = false;
		if (!err)
			err = vu_query(&f->conn, VHOST_USER_GET_VRING_BASE, &s, sizeof(s), &s,
				       sizeof(s), NULL);
		if (!err && s.index == q && s.num <= UINT16_MAX) {
			const struct vq_base b = { .last_avail = s.num };

			f->ring_base[q] = s.num;
			f->stopped_rings |= 1u << q;
			vq_set_base(&f->dev->vqs[q], &b, false);
		}
	}
	return err;
}

/*
 * Pause: the backend stops every ring (and with it what it has in flight;
 * with the in-flight region it resubmits that after the resume). Resume:
 * the set-up is replayed as after a reconnect, each ring from the used
 * index the guest sees. A backend that is gone meanwhile is reconnected
 * as ever, and sets up its rings only once the VM runs again.
 */
static int vu_quiesce(struct evvm_virtio_dev *dev, bool quiesced)
{
	struct vhost_frontend *f = dev->priv;
	int err;

	f->quiesced = quiesced;
	/* No backend to stop the rings: a snapshot has no position for them. */
	if (quiesced)
		f->stopped_rings = 0;
	if (!f->running || !vu_conn_up(&f->conn))
		return 0;
	err = quiesced ? vu_stop_rings(f) : vu_setup(f, true);
	if (err) {
		pr_err("%s: %s vhost-user backend '%s': %s", dev->id,
		       quiesced ? "pausing" : "resuming", f->conn.path, evvm_strerror(err));
		vu_lost(f, err);
	}
	/* A backend that did not answer may still use the rings: the pause failed. */
	if (err && quiesced)
		f->quiesced = false;
	return quiesced ? err : 0;
}

static void vu_stop(struct evvm_virtio_dev *dev)
{
	struct vhost_frontend *f = dev->priv;
	int err;

	f->running = false;
	f->quiesced = false;
	f->restored = false; /* the driver's next start begins its rings at 0 */
	err = vu_stop_rings(f);
	/* After a reset, nothing in flight belongs to the driver any more. */
	vu_inflight_free(f);
	if (err && err != -ENOTCONN)
		vu_lost(f, err);
}

static void vu_config_read(struct evvm_virtio_dev *dev, uint32_t offset, void *data, uint32_t len)
{
	struct vhost_frontend *f = dev->priv;

	memcpy(data, f->config + offset, len);
}

static void vu_destroy(struct evvm_virtio_dev *dev)
{
	struct vhost_frontend *f = dev->priv;

	if (dev->loop) {
		timer_stop(f);
		vu_unwatch(f);
	}
	vu_conn_close(&f->conn);
	vu_inflight_free(f);
	free(f);
}

int vhost_user_dev_create(const char *id, uint32_t device_id, const struct vhost_user_opts *o,
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
	f->dev = dev;
	f->timer_fd = -1;
	f->inflight_fd = -1;
	f->queues = o->queues ? o->queues : 1;
	f->reconnect_s = o->reconnect_s;
	f->no_inflight = o->no_inflight;
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		f->call_fds[q] = o->call_fds && q < f->queues ? o->call_fds[q] : -1;
	f->ops = (struct evvm_device_ops){
		.name = "vhost-user",
		.device_id = device_id,
		.queue_max = 256,
		.config_read = vu_config_read,
		.start = vu_start,
		.kick = NULL, /* the backend reads the kick eventfds */
		.stop = vu_stop,
		.quiesce = vu_quiesce,
		.destroy = vu_destroy,
		.save = vu_save,
	};
	dev->priv = f;
	dev->ops = &f->ops;
	snprintf(dev->id, sizeof(dev->id), "%s", id);

	err = vu_conn_init(&f->conn, id, o->socket, o->cancel_fd);
	if (err)
		pr_err("%s: vhost-user socket '%s': path too long", id, o->socket);
	if (!err)
		err = vu_conn_open(&f->conn, false);
	if (!err)
		err = vu_handshake(f, true);
	if (err) {
		vu_destroy(dev);
		free(dev);
		return err;
	}
	*out = dev;
	return 0;
}
