// SPDX-License-Identifier: MIT
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/virtio.h>

#include "../../vhost/wire.h"
#include "fake_vhost.h"

struct fake_vhost {
	struct fake_vhost_config cfg;
	char path[108];
	int listen_fd, conn_fd, stop_fd;
	pthread_t thread;

	pthread_mutex_t lock;
	pthread_cond_t changed;
	bool stalled;
	unsigned int counts[64];
	int base[8];
	unsigned long inflight_given, inflight_set;
};

static void fake_reply(struct fake_vhost *f, const struct vhost_wire_msg *msg, const void *payload,
		       uint32_t size, int fd)
{
	vhost_wire_send(f->conn_fd, msg->m.hdr.request, VHOST_USER_REPLY, payload, size,
			fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, 1000);
}

static void fake_get_inflight(struct fake_vhost *f, const struct vhost_wire_msg *msg)
{
	struct vhost_user_inflight in = msg->m.payload.inflight;
	struct stat st;
	int fd = memfd_create("fake-inflight", MFD_CLOEXEC);

	assert_true(fd >= 0);
	in.mmap_size = 4096 * (in.num_queues ? in.num_queues : 1);
	in.mmap_offset = 0;
	assert_int_equal(ftruncate(fd, in.mmap_size), 0);
	assert_int_equal(fstat(fd, &st), 0);
	pthread_mutex_lock(&f->lock);
	f->inflight_given = st.st_ino;
	pthread_mutex_unlock(&f->lock);
	fake_reply(f, msg, &in, sizeof(in), fd);
	close(fd);
}

/* Answer @msg as a blk backend without a data path would. */
static void fake_answer(struct fake_vhost *f, struct vhost_wire_msg *msg)
{
	uint32_t req = msg->m.hdr.request;
	uint64_t v = 0;

	switch (req) {
	case VHOST_USER_GET_FEATURES:
		fake_reply(f, msg, &f->cfg.features, sizeof(v), -1);
		return;
	case VHOST_USER_GET_PROTOCOL_FEATURES:
		fake_reply(f, msg, &f->cfg.protocol, sizeof(v), -1);
		return;
	case VHOST_USER_GET_QUEUE_NUM:
		fake_reply(f, msg, &f->cfg.queues, sizeof(v), -1);
		return;
	case VHOST_USER_GET_CONFIG: {
		struct vhost_user_config c = msg->m.payload.config;

		memset(c.payload, 0, sizeof(c.payload));
		c.payload[0] = f->cfg.capacity & 0xff;
		c.payload[1] = f->cfg.capacity >> 8;
		c.payload[34] = 16; /* num_queues as the backend sees it */
		fake_reply(f, msg, &c, msg->m.hdr.size, -1);
		return;
	}
	case VHOST_USER_GET_VRING_BASE: {
		struct vhost_user_vring_state s = { msg->m.payload.state.index, f->cfg.stop_base };

		fake_reply(f, msg, &s, sizeof(s), -1);
		return;
	}
	case VHOST_USER_GET_INFLIGHT_FD:
		fake_get_inflight(f, msg);
		return;
	}
	if (msg->m.hdr.flags & VHOST_USER_NEED_REPLY)
		fake_reply(f, msg, &v, sizeof(v), -1);
}

/* Note what @msg says that a test may ask about. */
static void fake_record(struct fake_vhost *f, const struct vhost_wire_msg *msg)
{
	uint32_t req = msg->m.hdr.request;
	struct stat st;

	pthread_mutex_lock(&f->lock);
	if (req < 64)
		f->counts[req]++;
	if (req == VHOST_USER_SET_VRING_BASE && msg->m.payload.state.index < 8)
		f->base[msg->m.payload.state.index] = msg->m.payload.state.num;
	if (req == VHOST_USER_SET_INFLIGHT_FD && msg->nr_fds == 1 && fstat(msg->fds[0], &st) == 0)
		f->inflight_set = st.st_ino;
	if (req == VHOST_USER_SET_VRING_CALL && f->cfg.signal_calls && msg->nr_fds == 1) {
		const uint64_t v = (msg->m.payload.u64 & 0xff) + 1;

		assert_int_equal(write(msg->fds[0], &v, sizeof(v)), (ssize_t)sizeof(v));
	}
	if (req == f->cfg.stall_at || f->cfg.stall_at == 0)
		f->stalled = true;
	pthread_cond_broadcast(&f->changed);
	pthread_mutex_unlock(&f->lock);
}

/* Until @fd is readable or the test stops us; false when stopped. */
static bool fake_wait(struct fake_vhost *f, int fd)
{
	struct pollfd p[2] = { { .fd = f->stop_fd, .events = POLLIN },
			       { .fd = fd, .events = POLLIN } };

	while (poll(p, 2, -1) < 0 && errno == EINTR)
		;
	return !p[0].revents;
}

static void *fake_main(void *arg)
{
	struct fake_vhost *f = arg;

	while (fake_wait(f, f->listen_fd)) {
		f->conn_fd = accept4(f->listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (f->conn_fd < 0)
			continue;
		while (fake_wait(f, f->conn_fd)) {
			struct vhost_wire_msg msg;
			const char *why;
			bool stalled;

			if (vhost_wire_recv(f->conn_fd, &msg, 1000, &why))
				break;
			fake_record(f, &msg);
			pthread_mutex_lock(&f->lock);
			stalled = f->stalled;
			pthread_mutex_unlock(&f->lock);
			if (!stalled)
				fake_answer(f, &msg);
			vhost_wire_close_fds(&msg);
		}
		close(f->conn_fd);
		f->conn_fd = -1;
	}
	return NULL;
}

struct fake_vhost *fake_vhost_start(const char *sock, const struct fake_vhost_config *cfg)
{
	struct fake_vhost *f = calloc(1, sizeof(*f));
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	assert_non_null(f);
	f->cfg = *cfg;
	if (!f->cfg.features)
		f->cfg.features =
			VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	if (!f->cfg.queues)
		f->cfg.queues = 1;
	for (unsigned int q = 0; q < 8; q++)
		f->base[q] = -1;
	assert_true(strlen(sock) < sizeof(sa.sun_path));
	strcpy(sa.sun_path, sock);
	strcpy(f->path, sock);
	unlink(sock);
	f->conn_fd = -1;
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->listen_fd >= 0);
	assert_int_equal(bind(f->listen_fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(f->listen_fd, 4), 0);
	f->stop_fd = eventfd(0, EFD_CLOEXEC);
	assert_true(f->stop_fd >= 0);
	pthread_mutex_init(&f->lock, NULL);
	pthread_cond_init(&f->changed, NULL);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
	return f;
}

void fake_vhost_stop(struct fake_vhost *f)
{
	const uint64_t one = 1;

	if (!f)
		return;
	assert_int_equal(write(f->stop_fd, &one, sizeof(one)), (ssize_t)sizeof(one));
	pthread_join(f->thread, NULL);
	if (f->conn_fd >= 0)
		close(f->conn_fd);
	close(f->listen_fd);
	close(f->stop_fd);
	unlink(f->path);
	pthread_cond_destroy(&f->changed);
	pthread_mutex_destroy(&f->lock);
	free(f);
}

bool fake_vhost_wait_for(struct fake_vhost *f, uint32_t request, unsigned int n, double timeout_s)
{
	struct timespec until;
	bool seen;

	clock_gettime(CLOCK_REALTIME, &until);
	until.tv_sec += (time_t)timeout_s;
	pthread_mutex_lock(&f->lock);
	while (f->counts[request] < n &&
	       pthread_cond_timedwait(&f->changed, &f->lock, &until) != ETIMEDOUT)
		;
	seen = f->counts[request] >= n;
	pthread_mutex_unlock(&f->lock);
	return seen;
}

unsigned int fake_vhost_count(struct fake_vhost *f, uint32_t request)
{
	unsigned int n;

	pthread_mutex_lock(&f->lock);
	n = f->counts[request];
	pthread_mutex_unlock(&f->lock);
	return n;
}

int fake_vhost_base(struct fake_vhost *f, unsigned int q)
{
	int b;

	pthread_mutex_lock(&f->lock);
	b = f->base[q];
	pthread_mutex_unlock(&f->lock);
	return b;
}

unsigned long fake_vhost_inflight_given(struct fake_vhost *f)
{
	unsigned long ino;

	pthread_mutex_lock(&f->lock);
	ino = f->inflight_given;
	pthread_mutex_unlock(&f->lock);
	return ino;
}

unsigned long fake_vhost_inflight_set(struct fake_vhost *f)
{
	unsigned long ino;

	pthread_mutex_lock(&f->lock);
	ino = f->inflight_set;
	pthread_mutex_unlock(&f->lock);
	return ino;
}
