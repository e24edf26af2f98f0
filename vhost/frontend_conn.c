// SPDX-License-Identifier: MIT
/*
 * One connection from evvm's frontend to a vhost-user backend: every wait
 * has a deadline and a way out (the cancel fd), so no evvm thread blocks
 * for ever on a peer.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <evvm/log.h>
#include <evvm/virtio.h>

#include "frontend_conn.h"
#include "wire.h"

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

int vu_conn_init(struct vu_conn *c, const char *id, const char *path, int cancel_fd)
{
	memset(c, 0, sizeof(*c));
	c->sock = -1;
	c->cancel_fd = cancel_fd;
	snprintf(c->id, sizeof(c->id), "%s", id);
	/* Checked before the copy: a truncated path would name another socket. */
	if (strlen(path) >= sizeof(c->path))
		return -ENAMETOOLONG;
	memcpy(c->path, path, strlen(path) + 1);
	return 0;
}

int vu_conn_open(struct vu_conn *c, bool quiet)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int err;

	vu_conn_close(c);
	memcpy(sa.sun_path, c->path, sizeof(c->path));
	/* Non-blocking: a backend whose accept queue is full makes connect fail, not wait. */
	c->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (c->sock >= 0 && connect(c->sock, (struct sockaddr *)&sa, sizeof(sa)) == 0) {
		c->broken = false;
		c->protocol = 0;
		return 0;
	}
	err = -errno;
	if (quiet && (err == -ENOENT || err == -ECONNREFUSED || err == -EAGAIN))
		pr_debug("%s: vhost-user socket '%s': connect: %s", c->id, c->path,
			 evvm_strerror(err));
	else
		pr_err("%s: vhost-user socket '%s': connect: %s", c->id, c->path,
		       evvm_strerror(err));
	vu_conn_close(c);
	return err;
}

void vu_conn_close(struct vu_conn *c)
{
	if (c->sock >= 0)
		close(c->sock);
	c->sock = -1;
	c->broken = true;
}

bool vu_conn_up(const struct vu_conn *c)
{
	return c->sock >= 0 && !c->broken;
}

/* The first failure on the connection is logged; from then on it is broken. */
static int conn_fail(struct vu_conn *c, uint32_t request, const char *doing, int err)
{
	const char *name = vhost_wire_req_name(request);

	if (c->broken)
		return err;
	c->broken = true;
	if (err == -ETIMEDOUT)
		pr_err("%s: vhost-user backend '%s': %s %s: nothing within %d ms; treating the "
		       "backend as gone",
		       c->id, c->path, doing, name, VHOST_USER_REPLY_TIMEOUT_MS);
	else if (err == -ECANCELED)
		pr_warn("%s: vhost-user backend '%s': %s %s: given up, evvm is stopping", c->id,
			c->path, doing, name);
	else
		pr_err("%s: vhost-user backend '%s': %s %s: %s", c->id, c->path, doing, name,
		       evvm_strerror(err));
	return err;
}

/* Until @events on the socket, the deadline, or the cancel fd, whichever is first. */
static int conn_wait(struct vu_conn *c, short events, int64_t deadline)
{
	struct pollfd p[2] = { { .fd = c->cancel_fd, .events = POLLIN },
			       { .fd = c->sock, .events = events } };

	for (;;) {
		int64_t left = deadline - now_ms();
		int n;

		if (left <= 0)
			return -ETIMEDOUT;
		/* A cancel fd of -1 is ignored by poll(). */
		n = poll(p, 2, left);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (p[0].revents)
			return -ECANCELED;
		if (p[1].revents)
			return 0;
	}
}

int vu_send(struct vu_conn *c, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
	    const int *fds, unsigned int nr_fds)
{
	struct pollfd p = { .fd = c->cancel_fd, .events = POLLIN };
	int err;

	if (!vu_conn_up(c))
		return -ENOTCONN;
	if (poll(&p, 1, 0) > 0)
		return conn_fail(c, request, "sending", -ECANCELED);
	err = vhost_wire_send(c->sock, request, flags, payload, size, fds, nr_fds,
			      VHOST_USER_REPLY_TIMEOUT_MS);
	return err ? conn_fail(c, request, "sending", err) : 0;
}

/*
 * The reply to @request, exactly @size bytes into @payload; with @fd, the
 * one fd it must carry. The wait for its first byte also watches the
 * cancel fd; the whole message shares one deadline.
 */
static int vu_reply(struct vu_conn *c, uint32_t request, void *payload, uint32_t size, int *fd)
{
	int64_t deadline = now_ms() + VHOST_USER_REPLY_TIMEOUT_MS;
	struct vhost_wire_msg msg;
	const char *why = NULL;
	int err, left;

	err = conn_wait(c, POLLIN, deadline);
	if (err)
		return conn_fail(c, request, "waiting for the reply to", err);
	left = deadline - now_ms();
	err = vhost_wire_recv(c->sock, &msg, left > 0 ? left : 1, &why);
	if (err) {
		if (why && err != -ETIMEDOUT)
			pr_debug("%s: vhost-user backend '%s': %s", c->id, c->path, why);
		return conn_fail(c, request, "waiting for the reply to", err);
	}
	if (msg.m.hdr.request != request || !(msg.m.hdr.flags & VHOST_USER_REPLY) ||
	    msg.m.hdr.size != size || msg.fds_truncated || msg.nr_fds != (fd ? 1u : 0u)) {
		pr_err("%s: vhost-user backend '%s': reply to %s: unexpected %s (flags 0x%x, %u "
		       "bytes, %u fds)",
		       c->id, c->path, vhost_wire_req_name(request),
		       vhost_wire_req_name(msg.m.hdr.request), msg.m.hdr.flags, msg.m.hdr.size,
		       msg.nr_fds);
		vhost_wire_close_fds(&msg);
		c->broken = true;
		return -EPROTO;
	}
	memcpy(payload, &msg.m.payload, size);
	if (fd) {
		*fd = msg.fds[0];
		msg.fds[0] = -1;
	}
	return 0;
}

int vu_request(struct vu_conn *c, uint32_t request, const void *payload, uint32_t size,
	       const int *fds, unsigned int nr_fds)
{
	bool ack = c->protocol & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK);
	uint64_t status;
	int err;

	err = vu_send(c, request, ack ? VHOST_USER_NEED_REPLY : 0, payload, size, fds, nr_fds);
	if (err || !ack)
		return err;
	err = vu_reply(c, request, &status, sizeof(status), NULL);
	if (!err && status) {
		pr_err("%s: vhost-user backend '%s' refused %s", c->id, c->path,
		       vhost_wire_req_name(request));
		err = -EIO;
	}
	return err;
}

int vu_query(struct vu_conn *c, uint32_t request, const void *in, uint32_t in_size, void *out,
	     uint32_t out_size, int *fd)
{
	int err = vu_send(c, request, 0, in, in_size, NULL, 0);

	return err ? err : vu_reply(c, request, out, out_size, fd);
}
