// SPDX-License-Identifier: MIT
/*
 * vhost-user backend: one virtio device served on a unix socket (QEMU's
 * docs/interop/vhost-user.rst). See backend.h for the threads and for how
 * ring states map onto the device's ops.
 * This file: the listening socket, the connection, setup and teardown.
 * Ownership between the threads: backend_int.h.
 *
 * A message that cannot be framed (a bad version, a payload larger than
 * any request's, a short read) drops the connection; backend_msg.c checks
 * and handles the others.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include <evvm/devices.h>
#include <evvm/iothread.h>

#include "backend_int.h"

/* Log why a message was rejected (at most VUB_LOG_BURST lines a second); returns @err. */
int vub_reject(struct vhost_backend *b, const struct vub_msg *msg, int err, const char *fmt, ...)
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

void vub_close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/*
 * One info line with the device's counters ("q0_requests=12 q1_requests=9"),
 * if it has any: summed over the groups' instances (the same counters each).
 */
static void vub_log_counters(struct vhost_backend *b)
{
	struct evvm_dev_counter c[EVVM_DEV_MAX_COUNTERS], more[EVVM_DEV_MAX_COUNTERS];
	char line[512];
	unsigned int n;
	size_t len = 0;

	if (!b->ops->counters)
		return;
	n = b->ops->counters(b->dev, c, EVVM_DEV_MAX_COUNTERS);
	for (unsigned int i = 1; i < b->nr_groups; i++) {
		struct evvm_virtio_dev *d = b->groups[i].dev;
		unsigned int m = d->ops->counters(d, more, EVVM_DEV_MAX_COUNTERS);

		for (unsigned int k = 0; k < n && k < m; k++)
			c[k].value += more[k].value;
	}
	line[0] = 0;
	for (unsigned int i = 0; i < n && len < sizeof(line); i++)
		len += snprintf(line + len, sizeof(line) - len, "%s%s=%llu", i ? " " : "",
				c[i].name, (unsigned long long)c[i].value);
	if (n)
		pr_info("%s: %s", b->name, line);
}

/* Arm (or disarm) the deadline for a new connection's first message. */
static void vub_idle_arm(struct vhost_backend *b, bool on)
{
	struct itimerspec its = { 0 };

	if (on) {
		its.it_value.tv_sec = b->idle_ms / 1000;
		its.it_value.tv_nsec = (b->idle_ms % 1000) * 1000000L;
	}
	if (timerfd_settime(b->idle_timer, 0, &its, NULL) < 0)
		pr_warn("%s: idle timer: %s", b->name, evvm_strerror(errno));
}

/* The frontend is gone: stop the device, unmap its memory, close its fds. */
void vub_disconnect(struct vhost_backend *b)
{
	struct vub_table old;

	vub_io_reset(b, &old);
	memtable_unmap(&old);
	inflight_region_unmap(&b->inflight);
	vub_log_counters(b);
	vub_rings_forget(b);
	b->status = 0;
	b->features_set = false;
	vub_idle_arm(b, false);
	loop_del(b->ctl, b->conn_fd);
	vub_close_fd(&b->conn_fd);
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
	if (r == 0 && !b->conn_spoke) {
		b->conn_spoke = true;
		vub_idle_arm(b, false);
	}
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
	if (!vub_peer_allowed(b, fd)) {
		close(fd);
		return;
	}
	err = loop_add(b->ctl, fd, EPOLLIN, vub_on_conn, b);
	if (err) {
		pr_warn("%s: watching the frontend: %s", b->name, evvm_strerror(err));
		close(fd);
		return;
	}
	b->conn_fd = fd;
	b->conn_spoke = false;
	vub_idle_arm(b, true);
	/* One frontend at a time: others wait in the backlog. */
	loop_mod(b->ctl, b->listen_fd, 0);
	pr_info("%s: frontend connected", b->name);
}

/* A connection said nothing within its deadline: others may be waiting. */
static void vub_on_idle(void *opaque, uint32_t events)
{
	struct vhost_backend *b = opaque;
	uint64_t v;

	(void)events;
	if (read(b->idle_timer, &v, sizeof(v)) < 0 || b->conn_fd < 0 || b->conn_spoke)
		return;
	pr_warn("%s: the frontend sent nothing within %u ms of connecting; dropping it", b->name,
		b->idle_ms);
	vub_disconnect(b);
}

/* Guest memory shrank under a running device (sigbus.h): that frontend is done. */
static void vub_on_guard(void *opaque, uint32_t events)
{
	struct vhost_backend *b = opaque;
	uint64_t v;

	(void)events;
	if (read(b->guard_efd, &v, sizeof(v)) < 0 || b->conn_fd < 0)
		return;
	pr_err("%s: the frontend's memory shrank under the device (SIGBUS on guest memory); "
	       "dropping the frontend",
	       b->name);
	vub_disconnect(b);
}

/* A group's device failed: the others stop too (backend_int.h: only we call into groups). */
static void vub_on_fail(void *opaque, uint32_t events)
{
	struct vhost_backend *b = opaque;
	uint64_t v;

	(void)events;
	if (read(b->fail_efd, &v, sizeof(v)) < 0)
		return;
	vub_fail_all(b);
}

/*
 * The control loop's own fds: the idle deadline, the SIGBUS guard's
 * eventfd, and the one groups write when their device fails.
 */
static int vub_watch_own(struct vhost_backend *b)
{
	int err;

	b->idle_timer = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	b->guard_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	b->fail_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (b->idle_timer < 0 || b->guard_efd < 0 || b->fail_efd < 0) {
		err = -errno;
		pr_err("vhost-user socket '%s': timerfd/eventfd: %s", b->path, evvm_strerror(err));
		return err;
	}
	err = loop_add(b->ctl, b->idle_timer, EPOLLIN, vub_on_idle, b);
	if (!err)
		err = loop_add(b->ctl, b->guard_efd, EPOLLIN, vub_on_guard, b);
	if (!err)
		err = loop_add(b->ctl, b->fail_efd, EPOLLIN, vub_on_fail, b);
	if (err)
		pr_err("vhost-user socket '%s': watching: %s", b->path, evvm_strerror(err));
	return err;
}

/* ------------------------------------------------------------------ */
/* Setup and teardown                                                  */

/*
 * Group @i: its I/O thread and its device instance (group 0: the caller's
 * device; the others: clones), wired to this backend.
 */
static int vub_group_init(struct vhost_backend *b, unsigned int i, unsigned int poll_max_us)
{
	struct vub_group *g = &b->groups[i];
	char tname[16];
	int err;

	if (i == 0) {
		g->dev = b->dev;
	} else {
		err = b->ops->clone(b->dev, &g->dev);
		if (err) {
			g->dev = NULL;
			return err;
		}
	}
	snprintf(tname, sizeof(tname), "vu-%.8s-%u", b->dev->id, i % 100); /* i < 16 */
	err = iothread_create(tname, poll_max_us, &g->io);
	if (err) {
		g->io = NULL;
		return err;
	}
	g->loop = iothread_loop(g->io);
	g->dev->loop = g->loop;
	g->dev->mem = &g->mem;
	g->dev->notify = vub_notify;
	g->dev->needs_reset = vub_needs_reset;
	g->dev->transport = g;
	for (unsigned int q = 0; q < b->ops->nr_queues; q++)
		vq_reset(&g->dev->vqs[q]);
	return 0;
}

/* The groups' and rings' initial state: ring q in group q % nr_groups. */
static void vub_init_rings(struct vhost_backend *b)
{
	for (unsigned int i = 0; i < b->nr_groups; i++) {
		b->groups[i].b = b;
		b->groups[i].index = i;
		b->groups[i].all_enabled = true;
		mem_init(&b->groups[i].mem);
	}
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++) {
		struct vub_ring *r = &b->rings[q];

		r->b = b;
		r->g = &b->groups[q % b->nr_groups];
		r->index = q;
		r->kick_fd = r->call_fd = r->err_fd = -1;
		snprintf(r->name, sizeof(r->name), "%s.q%u", b->dev->id, q);
	}
}

/* How many I/O threads: 1 to the device's queues, more only for a device that clones. */
static int vub_check_iothreads(const struct vhost_backend_config *cfg, unsigned int *out)
{
	const struct evvm_device_ops *ops = cfg->dev->ops;
	unsigned int m = cfg->nr_iothreads ? cfg->nr_iothreads : 1;

	if (m > ops->nr_queues) {
		pr_err("vhost-user socket '%s': %u I/O threads for %u queue%s (1 to the queue "
		       "count)",
		       cfg->socket_path, m, ops->nr_queues, ops->nr_queues == 1 ? "" : "s");
		return -EINVAL;
	}
	if (m > 1 && !ops->clone) {
		pr_err("vhost-user socket '%s': device %s cannot be served by more than one I/O "
		       "thread",
		       cfg->socket_path, cfg->dev->id);
		return -EINVAL;
	}
	*out = m;
	return 0;
}

int vhost_backend_create(const struct vhost_backend_config *cfg, struct vhost_backend **out)
{
	struct evvm_virtio_dev *dev = cfg->dev;
	struct vhost_backend *b;
	unsigned int nr_groups;
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
	err = vub_check_iothreads(cfg, &nr_groups);
	if (err)
		return err;
	b = calloc(1, sizeof(*b));
	if (!b) {
		pr_err("vhost-user socket '%s': %s", cfg->socket_path, evvm_strerror(ENOMEM));
		return -ENOMEM;
	}
	b->dev = dev;
	b->ops = dev->ops;
	b->log = (struct evvm_ratelimit)EVVM_RATELIMIT_INIT(VUB_LOG_BURST);
	b->listen_fd = b->conn_fd = b->idle_timer = b->guard_efd = b->fail_efd = -1;
	b->idle_ms = cfg->idle_ms ? cfg->idle_ms : VHOST_BACKEND_IDLE_MS;
	b->nr_groups = nr_groups;
	b->uid = cfg->socket_owner_set ? cfg->socket_uid : geteuid();
	b->owner_set = cfg->socket_owner_set;
	b->group_set = cfg->socket_group_set;
	b->gid = cfg->socket_gid;
	snprintf(b->path, sizeof(b->path), "%s", cfg->socket_path);
	snprintf(b->name, sizeof(b->name), "vhost-user %s", dev->id);
	vub_init_rings(b);

	err = loop_create(&b->ctl, "vhost-user");
	if (err) {
		pr_err("vhost-user socket '%s': control loop: %s", b->path, evvm_strerror(err));
		b->ctl = NULL;
		goto fail;
	}
	err = vub_watch_own(b);
	if (err)
		goto fail;
	err = vub_listen(b);
	if (err)
		goto fail;
	err = loop_add(b->ctl, b->listen_fd, EPOLLIN, vub_on_listen, b);
	if (err) {
		pr_err("vhost-user socket '%s': watching: %s", b->path, evvm_strerror(err));
		goto fail;
	}
	for (unsigned int i = 0; i < nr_groups; i++) {
		err = vub_group_init(b, i, cfg->poll_max_us);
		if (err)
			goto fail;
	}
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

/* Stop every group's thread (after the device stopped), then free the clones. */
static void vub_groups_destroy(struct vhost_backend *b)
{
	for (unsigned int i = 0; i < b->nr_groups; i++)
		iothread_destroy(b->groups[i].io);
	for (unsigned int i = 1; i < b->nr_groups; i++)
		virtio_dev_destroy(b->groups[i].dev);
	if (b->groups[0].dev) {
		b->dev->loop = NULL;
		b->dev->mem = NULL;
		b->dev->transport = NULL;
	}
}

void vhost_backend_destroy(struct vhost_backend *b)
{
	bool had_io = true;
	struct stat st;

	if (!b)
		return;
	/* Every group has its thread, or setup failed before a frontend could connect. */
	for (unsigned int i = 0; i < b->nr_groups; i++)
		had_io = had_io && b->groups[i].io;
	if (b->conn_fd >= 0 && had_io)
		vub_disconnect(b);
	vub_groups_destroy(b);
	if (b->listen_fd >= 0) {
		/* Only our own socket: not one another backend bound after removing ours. */
		if (b->sock_ino && stat(b->path, &st) == 0 && st.st_ino == b->sock_ino &&
		    st.st_dev == b->sock_dev)
			unlink(b->path);
		close(b->listen_fd);
	}
	loop_destroy(b->ctl);
	vub_close_fd(&b->idle_timer);
	vub_close_fd(&b->guard_efd);
	vub_close_fd(&b->fail_efd);
	free(b);
}
