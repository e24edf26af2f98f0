// SPDX-License-Identifier: MIT
/*
 * evvm's vhost-user frontend (vhost/frontend*.c) against a scripted backend
 * (tests/lib/fake_vhost.c), with no VM: the test plays the transport (guest
 * RAM in a sealed memfd, kick and call eventfds, the device's I/O thread)
 * and checks what the frontend tells the backend, and what it does when the
 * backend hangs, goes away or comes back.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <evvm/device.h>
#include <evvm/devices.h>
#include <evvm/loop.h>
#include <evvm/mem.h>
#include <evvm/virtio.h>

#include "../../vhost/frontend.h"
#include "../../vhost/frontend_conn.h"
#include "../../vhost/vhost_user.h"
#include "capture.h"
#include "devtest.h"
#include "fake_vhost.h"

#include <cmocka.h>

#define RAM_SIZE (1u << 20)
#define QSIZE	 8
#define Q_STRIDE 0x4000 /* queue q's rings at q * Q_STRIDE */

#define PROTO_BASE                                                                                \
	(VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG) | \
	 VIRTIO_BIT(VHOST_USER_PROTOCOL_F_MQ))

struct env {
	char dir[64];
	char sock[128];
	struct fake_vhost *fake;
	struct evvm_loop *loop;
	pthread_t thread;
	int memfd;
	void *ram;
	struct evvm_mem mem;
	int kick[EVVM_VIRTIO_MAX_QUEUES], call, cancel;
	struct evvm_virtio_dev *dev;
	char log[8192];
	bool capturing;
};

static atomic_int resets;

static void count_reset(struct evvm_virtio_dev *dev)
{
	(void)dev;
	atomic_fetch_add(&resets, 1);
}

static int env_setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct evvm_mem_region r = { .gpa = 0, .size = RAM_SIZE, .offset = 0 };

	assert_non_null(e);
	strcpy(e->dir, "/tmp/evvm-fe-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->sock, sizeof(e->sock), "%s/sock", e->dir);
	e->memfd = mem_memfd_create("fe-test-ram", RAM_SIZE);
	assert_true(e->memfd >= 0);
	e->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, e->memfd, 0);
	assert_true(e->ram != MAP_FAILED);
	r.hva = e->ram;
	r.fd = e->memfd;
	mem_init(&e->mem);
	assert_int_equal(mem_add_region(&e->mem, &r), 0);
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++) {
		e->kick[q] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(e->kick[q] >= 0);
	}
	e->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->cancel = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(e->call >= 0 && e->cancel >= 0);
	assert_int_equal(loop_create(&e->loop, "fe-test"), 0);
	assert_int_equal(pthread_create(&e->thread, NULL, devtest_loop_thread, e->loop), 0);
	atomic_store(&resets, 0);
	*state = e;
	return 0;
}

static int destroy_on_loop(void *opaque)
{
	virtio_dev_destroy(opaque);
	return 0;
}

static int env_teardown(void **state)
{
	struct env *e = *state;

	if (e->capturing)
		capture_end(e->log, sizeof(e->log), true);
	if (e->dev)
		loop_call(e->loop, destroy_on_loop, e->dev);
	loop_stop(e->loop);
	pthread_join(e->thread, NULL);
	loop_destroy(e->loop);
	fake_vhost_stop(e->fake);
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		close(e->kick[q]);
	close(e->call);
	close(e->cancel);
	munmap(e->ram, RAM_SIZE);
	close(e->memfd);
	rmdir(e->dir);
	free(e);
	return 0;
}

static void log_begin(struct env *e)
{
	capture_begin();
	e->capturing = true;
}

/* Stop capturing; the log so far is in e->log (and shown, for a failing test). */
static const char *log_end(struct env *e)
{
	capture_end(e->log, sizeof(e->log), true);
	e->capturing = false;
	return e->log;
}

/* @dev wired up as a transport would, its queues in RAM at q * Q_STRIDE. */
static void wire(struct env *e, struct evvm_virtio_dev *dev)
{
	/* What the transport does. */
	dev->mem = &e->mem;
	dev->loop = e->loop;
	dev->needs_reset = count_reset;
	dev->call_fd = e->call;
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		dev->kick_fds[q] = e->kick[q];
	dev->features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	for (unsigned int q = 0; q < dev->ops->nr_queues; q++)
		assert_int_equal(vq_init(&dev->vqs[q], &e->mem, "blk0.q", QSIZE, q * Q_STRIDE,
					 q * Q_STRIDE + 0x1000, q * Q_STRIDE + 0x2000,
					 dev->features),
				 0);
	e->dev = dev;
}

/* The device @o describes, wired up as a transport would. */
static int create_opts(struct env *e, uint32_t device_id, const struct vhost_user_opts *o)
{
	struct evvm_virtio_dev *dev = NULL;
	int err = vhost_user_dev_create(device_id == VIRTIO_ID_NET ? "net0" : "blk0", device_id, o,
					&dev);

	if (!err)
		wire(e, dev);
	return err;
}

static int create_dev(struct env *e, uint32_t device_id, unsigned int queues,
		      unsigned int reconnect_s)
{
	const struct vhost_user_opts o = {
		.socket = e->sock,
		.queues = queues,
		.reconnect_s = reconnect_s,
		.cancel_fd = e->cancel,
	};

	return create_opts(e, device_id, &o);
}

static int create(struct env *e, unsigned int queues, unsigned int reconnect_s)
{
	return create_dev(e, VIRTIO_ID_BLOCK, queues, reconnect_s);
}

static void start_fake(struct env *e, uint32_t stall_at, uint64_t protocol)
{
	const struct fake_vhost_config cfg = { .stall_at = stall_at, .protocol = protocol };

	e->fake = fake_vhost_start(e->sock, &cfg);
}

static void cancel(struct env *e)
{
	const uint64_t one = 1;

	assert_int_equal(write(e->cancel, &one, sizeof(one)), (ssize_t)sizeof(one));
}

/* Wait up to 10 s for @n resets. */
static bool wait_resets(int n)
{
	for (int i = 0; i < 1000 && atomic_load(&resets) < n; i++)
		usleep(10000);
	return atomic_load(&resets) >= n;
}

/* A backend that accepts and never answers: create gives up after the deadline. */
static void test_silent_backend(void **state)
{
	struct env *e = *state;
	char want[256];

	start_fake(e, 0, PROTO_BASE);
	log_begin(e);
	assert_int_equal(create(e, 0, 0), -ETIMEDOUT);
	snprintf(want, sizeof(want),
		 "blk0: vhost-user backend '%s': waiting for the reply to GET_FEATURES: "
		 "nothing within %d ms; treating the backend as gone",
		 e->sock, VHOST_USER_REPLY_TIMEOUT_MS);
	assert_non_null(strstr(log_end(e), want));
}

/* The same backend, and evvm stopping meanwhile: create gives up on the cancel fd. */
static void test_silent_backend_cancelled(void **state)
{
	struct env *e = *state;

	start_fake(e, 0, PROTO_BASE);
	cancel(e); /* a stop signal arrived before the handshake */
	log_begin(e);
	assert_int_equal(create(e, 0, 0), -ECANCELED);
	assert_non_null(strstr(log_end(e), "sending SET_OWNER: given up, evvm is stopping"));
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_OWNER), 0);
}

/* Stalls at DRIVER_OK's first message: start fails after the deadline, the device needs reset. */
static void test_stall_at_start(void **state)
{
	struct env *e = *state;

	start_fake(e, VHOST_USER_SET_FEATURES, PROTO_BASE);
	assert_int_equal(create(e, 0, 0), 0);
	log_begin(e);
	assert_int_equal(devtest_start(e->loop, e->dev), -ETIMEDOUT);
	assert_non_null(
		strstr(log_end(e), "waiting for the reply to SET_FEATURES: nothing within"));
	assert_int_equal(atomic_load(&resets), 1);
	/* The connection is closed: stop sends nothing and waits for nothing. */
	devtest_stop(e->loop, e->dev);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_GET_VRING_BASE), 0);
}

static void *cancel_when_set_features(void *arg)
{
	struct env *e = arg;

	if (fake_vhost_wait_for(e->fake, VHOST_USER_SET_FEATURES, 1, 10))
		cancel(e);
	return NULL;
}

/* Stalled at DRIVER_OK and evvm stops: the wait ends on the cancel fd, no reset is asked. */
static void test_stall_at_start_cancelled(void **state)
{
	struct env *e = *state;
	pthread_t t;

	start_fake(e, VHOST_USER_SET_FEATURES, PROTO_BASE);
	assert_int_equal(create(e, 0, 0), 0);
	log_begin(e);
	assert_int_equal(pthread_create(&t, NULL, cancel_when_set_features, e), 0);
	assert_int_equal(devtest_start(e->loop, e->dev), -ECANCELED);
	pthread_join(t, NULL);
	assert_non_null(strstr(log_end(e), "SET_FEATURES: given up, evvm is stopping"));
	assert_int_equal(atomic_load(&resets), 0);
}

/* Stalls at GET_VRING_BASE (a reset, or evvm stopping): stop returns after the deadline. */
static void test_stall_at_get_vring_base(void **state)
{
	struct env *e = *state;

	start_fake(e, VHOST_USER_GET_VRING_BASE, PROTO_BASE);
	assert_int_equal(create(e, 0, 0), 0);
	assert_int_equal(devtest_start(e->loop, e->dev), 0);
	log_begin(e);
	devtest_stop(e->loop, e->dev);
	assert_non_null(
		strstr(log_end(e), "waiting for the reply to GET_VRING_BASE: nothing within"));
	assert_int_equal(atomic_load(&resets), 1);
}

/* queues=N: at most the backend's, told to the guest in num_queues, VIRTIO_BLK_F_MQ as needed. */
static void test_queues(void **state)
{
	struct env *e = *state;
	const struct fake_vhost_config cfg = {
		.stall_at = ~0u,
		.protocol = PROTO_BASE,
		.queues = 2,
		.features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_MQ) |
			    VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES),
	};
	uint16_t nq;
	char want[256];

	e->fake = fake_vhost_start(e->sock, &cfg);
	log_begin(e);
	assert_int_equal(create(e, 3, 0), -EINVAL);
	snprintf(want, sizeof(want),
		 "blk0: vhost-user backend '%s' has 2 queues, 3 asked for (queues=)", e->sock);
	assert_non_null(strstr(log_end(e), want));

	/* Default: one queue, and the guest is not told of more. */
	assert_int_equal(create(e, 0, 0), 0);
	assert_int_equal(e->dev->ops->nr_queues, 1);
	assert_false(e->dev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_MQ));
	e->dev->ops->config_read(e->dev, 34, &nq, sizeof(nq));
	assert_int_equal(nq, 1);
	loop_call(e->loop, destroy_on_loop, e->dev);
	e->dev = NULL;

	assert_int_equal(create(e, 2, 0), 0);
	assert_int_equal(e->dev->ops->nr_queues, 2);
	assert_true(e->dev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_MQ));
	e->dev->ops->config_read(e->dev, 34, &nq, sizeof(nq));
	assert_int_equal(nq, 2);
	e->dev->features |= VIRTIO_BIT(VIRTIO_BLK_F_MQ);
	assert_int_equal(devtest_start(e->loop, e->dev), 0);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_VRING_KICK), 2);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_VRING_ENABLE), 2);
	devtest_stop(e->loop, e->dev);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_GET_VRING_BASE), 2);
}

/* An eventfd's value (0 if none), without blocking. */
static uint64_t eventfd_take(int fd)
{
	uint64_t v = 0;

	if (read(fd, &v, sizeof(v)) != (ssize_t)sizeof(v))
		return 0;
	return v;
}

/*
 * no_inflight: a backend that offers INFLIGHT_SHMFD gets neither request;
 * call_fds: each queue signals its own eventfd, not dev->call_fd.
 */
static void test_no_inflight_call_fds(void **state)
{
	struct env *e = *state;
	const struct fake_vhost_config cfg = {
		.stall_at = ~0u,
		.protocol = PROTO_BASE | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD),
		.queues = 2,
		.features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_MQ) |
			    VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES),
		.signal_calls = true,
	};
	int calls[2] = { eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
			 eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };
	const struct vhost_user_opts o = { .socket = e->sock,
					   .queues = 2,
					   .cancel_fd = e->cancel,
					   .no_inflight = true,
					   .call_fds = calls };

	assert_true(calls[0] >= 0 && calls[1] >= 0);
	e->fake = fake_vhost_start(e->sock, &cfg);
	assert_int_equal(create_opts(e, VIRTIO_ID_BLOCK, &o), 0);
	e->dev->features |= VIRTIO_BIT(VIRTIO_BLK_F_MQ);
	assert_int_equal(devtest_start(e->loop, e->dev), 0);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_GET_INFLIGHT_FD), 0);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_INFLIGHT_FD), 0);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_VRING_CALL), 2);
	assert_int_equal(eventfd_take(calls[0]), 1);
	assert_int_equal(eventfd_take(calls[1]), 2);
	assert_int_equal(eventfd_take(e->call), 0);
	devtest_stop(e->loop, e->dev);
	loop_call(e->loop, destroy_on_loop, e->dev);
	e->dev = NULL;
	close(calls[0]);
	close(calls[1]);

	/* By default the same backend gets the region, and queues share dev->call_fd. */
	assert_int_equal(create(e, 2, 0), 0);
	e->dev->features |= VIRTIO_BIT(VIRTIO_BLK_F_MQ);
	assert_int_equal(devtest_start(e->loop, e->dev), 0);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_GET_INFLIGHT_FD), 1);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_INFLIGHT_FD), 1);
	assert_int_equal(eventfd_take(e->call), 1 + 2);
}

/*
 * A transport with a vector per queue (virtio-pci: dev->per_queue_calls)
 * gives each queue its call fd at start: SET_VRING_CALL sends those, and
 * again to a backend that reconnects.
 */
static void test_transport_call_fds(void **state)
{
	struct env *e = *state;
	const struct fake_vhost_config cfg = {
		.stall_at = ~0u,
		.protocol = PROTO_BASE,
		.queues = 2,
		.features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_MQ) |
			    VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES),
		.signal_calls = true,
	};
	int calls[2] = { eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK),
			 eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK) };

	assert_true(calls[0] >= 0 && calls[1] >= 0);
	e->fake = fake_vhost_start(e->sock, &cfg);
	assert_int_equal(create(e, 2, 0), 0);
	e->dev->features |= VIRTIO_BIT(VIRTIO_BLK_F_MQ);
	e->dev->per_queue_calls = true;
	e->dev->call_fds[0] = calls[0];
	e->dev->call_fds[1] = calls[1];
	assert_int_equal(devtest_start(e->loop, e->dev), 0);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_VRING_CALL), 2);
	assert_int_equal(eventfd_take(calls[0]), 1);
	assert_int_equal(eventfd_take(calls[1]), 2);
	assert_int_equal(eventfd_take(e->call), 0);
	devtest_stop(e->loop, e->dev);
	loop_call(e->loop, destroy_on_loop, e->dev);
	e->dev = NULL;
	close(calls[0]);
	close(calls[1]);
}

/* queues=2 against a backend without VIRTIO_BLK_F_MQ is refused. */
static void test_queues_need_mq(void **state)
{
	struct env *e = *state;
	const struct fake_vhost_config cfg = { .stall_at = ~0u,
					       .protocol = PROTO_BASE,
					       .queues = 4 };

	e->fake = fake_vhost_start(e->sock, &cfg);
	log_begin(e);
	assert_int_equal(create(e, 2, 0), -EINVAL);
	assert_non_null(strstr(log_end(e), "does not offer VIRTIO_BLK_F_MQ; queues=2 needs it"));
}

/* Without reconnect, a backend that goes away leaves the device needing a reset. */
static void test_disconnect_needs_reset(void **state)
{
	struct env *e = *state;

	start_fake(e, ~0u, PROTO_BASE);
	assert_int_equal(create(e, 0, 0), 0);
	assert_int_equal(devtest_start(e->loop, e->dev), 0);
	log_begin(e);
	fake_vhost_stop(e->fake);
	e->fake = NULL;
	assert_true(wait_resets(1));
	assert_non_null(strstr(log_end(e), "' disconnected"));
}

static uint16_t *used_idx(struct env *e, unsigned int q)
{
	return (uint16_t *)((uint8_t *)e->ram + q * Q_STRIDE + 0x2000 + 2);
}

/*
 * With reconnect: the backend dies, the device pauses, a new backend on the
 * same socket gets the whole set-up again: the first backend's in-flight
 * region, and the ring from the used index the guest sees.
 */
static void test_reconnect_replays_setup(void **state)
{
	struct env *e = *state;
	const uint64_t proto = PROTO_BASE | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD);
	unsigned long region;
	uint64_t kicks;

	start_fake(e, ~0u, proto);
	assert_int_equal(create(e, 0, 1), 0);
	assert_int_equal(devtest_start(e->loop, e->dev), 0);
	region = fake_vhost_inflight_given(e->fake);
	assert_int_not_equal(region, 0);
	assert_int_equal(fake_vhost_inflight_set(e->fake), region);
	assert_int_equal(fake_vhost_base(e->fake, 0), 0);

	/* The guest saw 5 requests completed before the backend died. */
	*used_idx(e, 0) = 5;
	log_begin(e);
	fake_vhost_stop(e->fake);
	e->fake = NULL;
	usleep(1500 * 1000); /* at least one attempt finds nobody */
	start_fake(e, ~0u, proto);
	assert_true(fake_vhost_wait_for(e->fake, VHOST_USER_SET_VRING_ENABLE, 1, 10));
	usleep(100 * 1000); /* the ack, the log line */
	assert_non_null(strstr(log_end(e), "queues paused, reconnecting every 1 s"));
	assert_non_null(strstr(e->log, "reconnected, queues resumed"));
	assert_int_equal(atomic_load(&resets), 0);

	/* The whole set-up again, with the region kept and the ring at the used index. */
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_OWNER), 1);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_FEATURES), 1);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_MEM_TABLE), 1);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_GET_INFLIGHT_FD), 0);
	assert_int_equal(fake_vhost_inflight_set(e->fake), region);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_VRING_NUM), 1);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_VRING_ADDR), 1);
	assert_int_equal(fake_vhost_base(e->fake, 0), 5);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_VRING_CALL), 1);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_VRING_KICK), 1);
	/* A kick for the new backend, which no one had read. */
	assert_int_equal(read(e->kick[0], &kicks, sizeof(kicks)), (ssize_t)sizeof(kicks));
	assert_true(kicks >= 1);

	/* A reset drops the region: the next start asks the backend for a new one. */
	devtest_stop(e->loop, e->dev);
	assert_int_equal(devtest_start(e->loop, e->dev), 0);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_GET_INFLIGHT_FD), 1);
	assert_int_equal(fake_vhost_base(e->fake, 0), 0);
}

/* A device the guest has not started yet reconnects too, without ring set-up. */
static void test_reconnect_before_start(void **state)
{
	struct env *e = *state;

	start_fake(e, ~0u, PROTO_BASE);
	assert_int_equal(create(e, 0, 1), 0);
	/* Watch for hang-ups as a started device does. */
	assert_int_equal(devtest_start(e->loop, e->dev), 0);
	devtest_stop(e->loop, e->dev);
	log_begin(e);
	fake_vhost_stop(e->fake);
	e->fake = NULL;
	usleep(200 * 1000);
	start_fake(e, ~0u, PROTO_BASE);
	assert_true(fake_vhost_wait_for(e->fake, VHOST_USER_GET_QUEUE_NUM, 1, 10));
	usleep(100 * 1000);
	assert_non_null(strstr(log_end(e), "reconnected"));
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_VRING_KICK), 0);
	/* The guest starts the device: the rings go to the new backend. */
	assert_int_equal(devtest_start(e->loop, e->dev), 0);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_VRING_KICK), 1);
	assert_int_equal(atomic_load(&resets), 0);
}

/* --net takes reconnect= too: the same replay, for all of the backend's queues. */
static void test_reconnect_net(void **state)
{
	struct env *e = *state;
	const struct fake_vhost_config cfg = {
		.stall_at = ~0u,
		.protocol = PROTO_BASE,
		.queues = 2,
	};

	e->fake = fake_vhost_start(e->sock, &cfg);
	assert_int_equal(create_dev(e, VIRTIO_ID_NET, 0, 1), 0);
	assert_int_equal(e->dev->ops->nr_queues, 2);
	assert_int_equal(devtest_start(e->loop, e->dev), 0);
	*used_idx(e, 1) = 3;
	log_begin(e);
	fake_vhost_stop(e->fake);
	e->fake = fake_vhost_start(e->sock, &cfg);
	assert_true(fake_vhost_wait_for(e->fake, VHOST_USER_SET_VRING_ENABLE, 2, 10));
	usleep(100 * 1000);
	assert_non_null(strstr(log_end(e), "reconnected, queues resumed"));
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_VRING_KICK), 2);
	assert_int_equal(fake_vhost_base(e->fake, 0), 0);
	assert_int_equal(fake_vhost_base(e->fake, 1), 3);
	assert_int_equal(atomic_load(&resets), 0);
}

static int quiesce_on_loop(void *dev)
{
	struct evvm_virtio_dev *d = dev;

	return d->ops->quiesce(d, true);
}

#define SNAP_FEATURES                                                                  \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES) | \
	 VIRTIO_BIT(VIRTIO_BLK_F_FLUSH))

/* A backend for the snapshot tests: 100 sectors, flush, stopping its rings at @stop_base. */
static void start_snap_fake(struct env *e, uint64_t features, uint16_t capacity, uint16_t stop_base)
{
	const struct fake_vhost_config cfg = {
		.stall_at = ~0u,
		.protocol = PROTO_BASE | VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD),
		.features = features,
		.capacity = capacity,
		.stop_base = stop_base,
	};

	fake_vhost_stop(e->fake);
	e->fake = fake_vhost_start(e->sock, &cfg);
}

/*
 * A started disk whose guest saw 7 requests completed, paused (the backend
 * stops its ring at @stop_base) and saved into @buf: the length, or
 * ops->save()'s error.
 */
static int snap_save(struct env *e, uint16_t stop_base, void *buf, size_t cap)
{
	start_snap_fake(e, SNAP_FEATURES, 100, stop_base);
	assert_int_equal(create(e, 0, 2), 0);
	e->dev->features |= VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	assert_int_equal(devtest_start(e->loop, e->dev), 0);
	*used_idx(e, 0) = 7;
	assert_int_equal(loop_call(e->loop, quiesce_on_loop, e->dev), 0);
	return e->dev->ops->save(e->dev, buf, cap);
}

/* virtio_dev_load() of @len bytes of @buf as a vhost-user disk, on @sock (NULL: the saved one). */
static int snap_load(struct env *e, const void *buf, size_t len, const char *sock)
{
	const struct virtio_dev_env env = {
		.origin = "t.state",
		.disk_path = sock,
		.vhost_user = true,
		.vhost_user_load = vhost_user_dev_load,
		.cancel_fd = e->cancel,
	};
	struct evvm_virtio_dev *dev;
	int err;

	if (e->dev)
		loop_call(e->loop, destroy_on_loop, e->dev);
	e->dev = NULL;
	err = virtio_dev_load(VIRTIO_ID_BLOCK, "blk0", buf, len, &env, &dev);
	if (!err) {
		wire(e, dev);
		dev->features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_BLK_F_FLUSH);
	}
	return err;
}

/*
 * Saved at the pause and loaded in "another process" against a backend
 * started again: the ring goes on at the index GET_VRING_BASE gave (not
 * 0), with a kick for what the old backend never read, and the guest's
 * features and config; a fresh in-flight region is asked for.
 */
static void test_snapshot_round_trip(void **state)
{
	struct env *e = *state;
	char buf[1024];
	int n = snap_save(e, 7, buf, sizeof(buf));
	uint64_t kicks = 0, capacity = 0;

	assert_true(n > 0);
	/* The transport saves the queue where the backend stopped it. */
	assert_int_equal(e->dev->vqs[0].last_avail, 7);
	assert_int_equal(e->dev->ops->save(e->dev, buf, 16), -ENOSPC);
	start_snap_fake(e, SNAP_FEATURES, 100, 0);
	assert_int_equal(snap_load(e, buf, n, NULL), 0);
	assert_true(e->dev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	e->dev->ops->config_read(e->dev, 0, &capacity, sizeof(capacity));
	assert_int_equal(capacity, 100);
	while (read(e->kick[0], &kicks, sizeof(kicks)) > 0)
		; /* nothing but the restore's own kick counts */
	assert_int_equal(devtest_start(e->loop, e->dev), 0);
	assert_int_equal(fake_vhost_base(e->fake, 0), 7);
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_GET_INFLIGHT_FD), 1);
	assert_int_equal(read(e->kick[0], &kicks, sizeof(kicks)), (ssize_t)sizeof(kicks));
	/* A reset after that starts the ring at 0 again, as the driver expects. */
	devtest_stop(e->loop, e->dev);
	assert_int_equal(devtest_start(e->loop, e->dev), 0);
	assert_int_equal(fake_vhost_base(e->fake, 0), 0);
}

/* A backend that stopped with requests taken and not completed: no snapshot. */
static void test_snapshot_not_drained(void **state)
{
	struct env *e = *state;
	char buf[1024];

	log_begin(e);
	assert_int_equal(snap_save(e, 9, buf, sizeof(buf)), -EBUSY);
	assert_non_null(strstr(log_end(e), "stopped at avail index 9 with requests completed up "
					   "to 7 only: 2 still in flight would be lost"));
}

/* Backends that cannot take the device back, and a ring base the guest's memory does not hold. */
static void test_snapshot_load_refused(void **state)
{
	struct env *e = *state;
	char buf[1024], nope[160], want[300];
	int n = snap_save(e, 7, buf, sizeof(buf));

	assert_true(n > 0);
	log_begin(e);
	start_snap_fake(e, SNAP_FEATURES & ~VIRTIO_BIT(VIRTIO_BLK_F_FLUSH), 100, 0);
	assert_int_equal(snap_load(e, buf, n, NULL), -EINVAL);
	snprintf(want, sizeof(want),
		 "snapshot 't.state': blk0: vhost-user backend '%s' does not offer features the "
		 "guest had accepted: 0x200 (bits 9)",
		 e->sock);
	assert_non_null(strstr(log_end(e), want));

	log_begin(e);
	start_snap_fake(e, SNAP_FEATURES, 50, 0);
	assert_int_equal(snap_load(e, buf, n, NULL), -EINVAL);
	assert_non_null(strstr(log_end(e), "has a disk of 50 sectors, the snapshot's had 100"));

	/* No backend on the socket given at load: refused, nothing built. */
	snprintf(nope, sizeof(nope), "%s/nope.sock", e->dir);
	log_begin(e);
	assert_int_equal(snap_load(e, buf, n, nope), -ENOENT);
	snprintf(want, sizeof(want),
		 "snapshot 't.state': blk0: vhost-user backend '%s' cannot take the device back: ",
		 nope);
	assert_non_null(strstr(log_end(e), want));
	assert_null(e->dev);

	/* The memory file's ring is not where the backend stopped: the start fails. */
	start_snap_fake(e, SNAP_FEATURES, 100, 0);
	assert_int_equal(snap_load(e, buf, n, NULL), 0);
	*used_idx(e, 0) = 6;
	log_begin(e);
	assert_int_not_equal(devtest_start(e->loop, e->dev), 0);
	assert_non_null(strstr(log_end(e), "the snapshot's ring base 7 is not the used index 6"));
	assert_int_equal(fake_vhost_count(e->fake, VHOST_USER_SET_VRING_KICK), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_silent_backend, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_silent_backend_cancelled, env_setup,
						env_teardown),
		cmocka_unit_test_setup_teardown(test_stall_at_start, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_stall_at_start_cancelled, env_setup,
						env_teardown),
		cmocka_unit_test_setup_teardown(test_stall_at_get_vring_base, env_setup,
						env_teardown),
		cmocka_unit_test_setup_teardown(test_queues, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_queues_need_mq, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_transport_call_fds, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_no_inflight_call_fds, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_disconnect_needs_reset, env_setup,
						env_teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_replays_setup, env_setup,
						env_teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_before_start, env_setup,
						env_teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_net, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_round_trip, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_not_drained, env_setup, env_teardown),
		cmocka_unit_test_setup_teardown(test_snapshot_load_refused, env_setup,
						env_teardown),
	};

	return cmocka_run_group_tests_name("vhost-user frontend", tests, NULL, NULL);
}
