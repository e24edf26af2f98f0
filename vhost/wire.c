// SPDX-License-Identifier: MIT
/*
 * vhost-user message framing (see wire.h). The socket is used with
 * MSG_DONTWAIT and poll(2) against one deadline for the whole message, so
 * that a peer that stalls half-way costs at most that deadline.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "wire.h"

static const char *const wire_req_names[] = {
	[VHOST_USER_GET_FEATURES] = "GET_FEATURES",
	[VHOST_USER_SET_FEATURES] = "SET_FEATURES",
	[VHOST_USER_SET_OWNER] = "SET_OWNER",
	[VHOST_USER_RESET_OWNER] = "RESET_OWNER",
	[VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
	[VHOST_USER_SET_LOG_BASE] = "SET_LOG_BASE",
	[VHOST_USER_SET_LOG_FD] = "SET_LOG_FD",
	[VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
	[VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
	[VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
	[VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
	[VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
	[VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
	[VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
	[VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
	[VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
	[VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
	[VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
	[19] = "SEND_RARP",
	[20] = "NET_SET_MTU",
	[VHOST_USER_SET_BACKEND_REQ_FD] = "SET_BACKEND_REQ_FD",
	[22] = "IOTLB_MSG",
	[23] = "SET_VRING_ENDIAN",
	[VHOST_USER_GET_CONFIG] = "GET_CONFIG",
	[VHOST_USER_SET_CONFIG] = "SET_CONFIG",
	[26] = "CREATE_CRYPTO_SESSION",
	[27] = "CLOSE_CRYPTO_SESSION",
	[28] = "POSTCOPY_ADVISE",
	[29] = "POSTCOPY_LISTEN",
	[30] = "POSTCOPY_END",
	[VHOST_USER_GET_INFLIGHT_FD] = "GET_INFLIGHT_FD",
	[VHOST_USER_SET_INFLIGHT_FD] = "SET_INFLIGHT_FD",
	[33] = "GPU_SET_SOCKET",
	[VHOST_USER_RESET_DEVICE] = "RESET_DEVICE",
	[35] = "VRING_KICK",
	[VHOST_USER_GET_MAX_MEM_SLOTS] = "GET_MAX_MEM_SLOTS",
	[VHOST_USER_ADD_MEM_REG] = "ADD_MEM_REG",
	[VHOST_USER_REM_MEM_REG] = "REM_MEM_REG",
	[VHOST_USER_SET_STATUS] = "SET_STATUS",
	[VHOST_USER_GET_STATUS] = "GET_STATUS",
};

const char *vhost_wire_req_name(uint32_t request)
{
	if (request < sizeof(wire_req_names) / sizeof(wire_req_names[0]) && wire_req_names[request])
		return wire_req_names[request];
	return "unknown request";
}

static int64_t wire_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000LL + ts.tv_nsec / 1000000;
}

/* Wait for @events on @sock until @deadline (ms, < 0: none). 0, or -ETIMEDOUT/-errno. */
static int wire_wait(int sock, short events, int64_t deadline)
{
	struct pollfd p = { .fd = sock, .events = events };

	for (;;) {
		int left = -1, n;

		if (deadline >= 0) {
			int64_t d = deadline - wire_now_ms();

			if (d <= 0)
				return -ETIMEDOUT;
			left = d > 60000 ? 60000 : (int)d;
		}
		n = poll(&p, 1, left);
		if (n > 0)
			return 0; /* readable, writable, or hung up: the next call says which */
		if (n < 0 && errno != EINTR)
			return -errno;
	}
}

static int64_t wire_deadline(int timeout_ms)
{
	return timeout_ms < 0 ? -1 : wire_now_ms() + timeout_ms;
}

int vhost_wire_send(int sock, uint32_t request, uint32_t flags, const void *payload, uint32_t size,
		    const int *fds, unsigned int nr_fds, int timeout_ms)
{
	struct vhost_user_msg m = {
		.hdr = { .request = request, .flags = VHOST_USER_VERSION | flags, .size = size },
	};
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	int64_t deadline = wire_deadline(timeout_ms);
	size_t len = sizeof(m.hdr) + size, done = 0;

	if (nr_fds > VHOST_USER_MAX_FDS || size > sizeof(m.payload))
		return -EINVAL;
	if (size)
		memcpy(&m.payload, payload, size);
	while (done < len) {
		struct iovec iov = { (uint8_t *)&m + done, len - done };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;
		int err;

		/* The fds go with the first byte only. */
		if (nr_fds && !done) {
			struct cmsghdr *c;

			memset(&ctl, 0, sizeof(ctl));
			mh.msg_control = ctl.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * nr_fds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * nr_fds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * nr_fds);
		}
		n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n > 0) {
			done += n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK))
			return n == 0 ? -EPIPE : -errno;
		err = wire_wait(sock, POLLOUT, deadline);
		if (err)
			return err;
	}
	return 0;
}

/* Keep the fds of every SCM_RIGHTS in @mh (up to the array; the others are closed). */
static void wire_take_fds(struct msghdr *mh, struct vhost_wire_msg *msg)
{
	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		unsigned int nfd;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		nfd = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (unsigned int i = 0; i < nfd; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
			if (msg->nr_fds < VHOST_USER_MAX_FDS) {
				msg->fds[msg->nr_fds++] = fd;
			} else {
				close(fd);
				msg->fds_truncated = true;
			}
		}
	}
	if (mh->msg_flags & MSG_CTRUNC)
		msg->fds_truncated = true; /* the kernel closed the ones that did not fit */
}

/*
 * Read exactly @len bytes at @buf (@done of them already there) before
 * @deadline; fds are taken from the first read only (@take_fds).
 */
static int wire_read(int sock, struct vhost_wire_msg *msg, void *buf, size_t len, bool take_fds,
		     int64_t deadline)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	size_t done = 0;

	while (done < len) {
		struct iovec iov = { (uint8_t *)buf + done, len - done };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;
		int err;

		if (take_fds && !done) {
			mh.msg_control = ctl.buf;
			mh.msg_controllen = sizeof(ctl.buf);
		}
		n = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n > 0) {
			if (take_fds && !done)
				wire_take_fds(&mh, msg);
			done += n;
			continue;
		}
		if (n == 0)
			return done ? -EPIPE : -ECONNRESET;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		err = wire_wait(sock, POLLIN, deadline);
		if (err)
			return err;
	}
	return 0;
}

int vhost_wire_recv(int sock, struct vhost_wire_msg *msg, int timeout_ms, const char **why)
{
	int64_t deadline = wire_deadline(timeout_ms);
	int err;

	memset(msg, 0, sizeof(*msg));
	err = wire_read(sock, msg, &msg->m.hdr, sizeof(msg->m.hdr), true, deadline);
	if (err) {
		/* A close before any byte is the peer going away between messages. */
		*why = err == -ECONNRESET ? "closed" : "short header";
		if (err == -EPIPE)
			err = -ECONNRESET;
		goto fail;
	}
	if ((msg->m.hdr.flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
		*why = "unknown protocol version";
		err = -EPROTO;
		goto fail;
	}
	if (msg->m.hdr.size > sizeof(msg->m.payload)) {
		*why = "payload larger than any request's";
		err = -EPROTO;
		goto fail;
	}
	err = wire_read(sock, msg, &msg->m.payload, msg->m.hdr.size, false, deadline);
	if (err) {
		*why = "short payload";
		if (err == -EPIPE)
			err = -ECONNRESET;
		goto fail;
	}
	return 0;
fail:
	vhost_wire_close_fds(msg);
	return err;
}

void vhost_wire_close_fds(struct vhost_wire_msg *msg)
{
	for (unsigned int i = 0; i < msg->nr_fds; i++) {
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
		msg->fds[i] = -1;
	}
	msg->nr_fds = 0;
}
