// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "vu_frontend.h"

int vu_fe_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	assert_true(fd >= 0);
	assert_true(strlen(path) < sizeof(sa.sun_path));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	return fd;
}

void vu_fe_send(int fd, uint32_t req, uint32_t flags, const void *payload, uint32_t size,
		const int *fds, unsigned int nfds)
{
	struct vhost_user_msg m = {
		.hdr = { .request = req, .flags = VHOST_USER_VERSION | flags, .size = size },
	};
	union {
		char buf[CMSG_SPACE(sizeof(int) * 8)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = &m, .iov_len = sizeof(m.hdr) + size };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	assert_true(size <= sizeof(m.payload) && nfds <= 8);
	if (size)
		memcpy(&m.payload, payload, size);
	if (nfds) {
		struct cmsghdr *c;

		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(fd, &mh, MSG_NOSIGNAL), (ssize_t)iov.iov_len);
}

uint32_t vu_fe_recv(int fd, uint32_t req, struct vhost_user_msg *m)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };

	assert_int_equal(poll(&p, 1, VU_FE_TIMEOUT_MS), 1);
	assert_int_equal(recv(fd, &m->hdr, sizeof(m->hdr), MSG_WAITALL), sizeof(m->hdr));
	assert_int_equal(m->hdr.request, req);
	assert_int_equal(m->hdr.flags, VHOST_USER_VERSION | VHOST_USER_REPLY);
	assert_true(m->hdr.size <= sizeof(m->payload));
	if (m->hdr.size)
		assert_int_equal(recv(fd, &m->payload, m->hdr.size, MSG_WAITALL),
				 (ssize_t)m->hdr.size);
	return m->hdr.size;
}

uint64_t vu_fe_ack(int fd, uint32_t req, const void *payload, uint32_t size, const int *fds,
		   unsigned int nfds)
{
	struct vhost_user_msg m;
	uint64_t v;

	vu_fe_send(fd, req, VHOST_USER_NEED_REPLY, payload, size, fds, nfds);
	assert_int_equal(vu_fe_recv(fd, req, &m), 8);
	memcpy(&v, &m.payload, sizeof(v));
	return v;
}

uint64_t vu_fe_get_u64(int fd, uint32_t req)
{
	struct vhost_user_msg m;
	uint64_t v;

	vu_fe_send(fd, req, 0, NULL, 0, NULL, 0);
	assert_int_equal(vu_fe_recv(fd, req, &m), 8);
	memcpy(&v, &m.payload, sizeof(v));
	return v;
}

uint32_t vu_fe_get_vring_base(int fd, uint32_t index)
{
	struct vhost_user_vring_state s = { .index = index };
	struct vhost_user_msg m;

	vu_fe_send(fd, VHOST_USER_GET_VRING_BASE, 0, &s, sizeof(s), NULL, 0);
	assert_int_equal(vu_fe_recv(fd, VHOST_USER_GET_VRING_BASE, &m), sizeof(s));
	memcpy(&s, &m.payload, sizeof(s));
	assert_int_equal(s.index, index);
	return s.num;
}
