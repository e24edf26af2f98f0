// SPDX-License-Identifier: MIT
/*
 * VHOST_USER_PROTOCOL_F_STATUS in the vhost-user backend (vhost/backend*.c):
 * SET_STATUS / GET_STATUS keep the virtio status byte, FEATURES_OK sticks
 * only after SET_FEATURES, and status 0 resets the device while the saved
 * ring indices stay for GET_VRING_BASE (QEMU 7.2 sends 0 before it).
 *
 * The backend serves an rng device on a thread of this process; the
 * frontend here is the smallest one that drives a ring (the full one, with
 * the other message tests, is test_vhost_backend.c). Guest RAM is a memfd
 * mapped at mmap_offset MAP_OFF, guest address RAM_GPA, frontend user
 * address UA_BASE.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

/* evvm headers first, as everywhere. */
#include <evvm/devices.h>
#include <evvm/virtio.h>
#include <evvm/virtqueue.h>

#include "capture.h"
#include "vu_frontend.h"
#include "../../vhost/backend.h"
#include "../../vhost/vhost_user.h"

#include <cmocka.h>

#define RAM_GPA	   0x40000000ULL
#define RAM_SIZE   (1u << 20)
#define MAP_OFF	   0x1000ULL
#define UA_BASE	   0x7e5500000000ULL
#define QSIZE	   8
#define DESC_OFF   0x0000
#define AVAIL_OFF  0x1000
#define USED_OFF   0x2000
#define BUF_OFF	   0x4000
#define TIMEOUT_MS VU_FE_TIMEOUT_MS

struct env {
	char dir[64];
	char sock[128];
	struct evvm_virtio_dev *dev;
	struct vhost_backend *b;
	pthread_t thread;

	int fd;
	int memfd;
	uint8_t *ram;
	int kick, call;
	uint16_t avail_idx;
};

static void *backend_main(void *arg)
{
	struct env *e = arg;

	vhost_backend_run(e->b);
	return NULL;
}

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

static void fe_connect(struct env *e)
{
	close_fd(&e->fd);
	e->fd = vu_fe_connect(e->sock);
}

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct vhost_backend_config cfg = { 0 };

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/evvm-vus-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->sock, sizeof(e->sock), "%s/sock", e->dir);
	e->fd = e->memfd = e->kick = e->call = -1;
	assert_int_equal(rng_create("rng0", &e->dev), 0);
	cfg.socket_path = e->sock;
	cfg.dev = e->dev;
	assert_int_equal(vhost_backend_create(&cfg, &e->b), 0);
	assert_int_equal(pthread_create(&e->thread, NULL, backend_main, e), 0);

	e->memfd = memfd_create("vus-test-ram", MFD_CLOEXEC);
	assert_true(e->memfd >= 0);
	assert_int_equal(ftruncate(e->memfd, RAM_SIZE + MAP_OFF), 0);
	e->ram = mmap(NULL, RAM_SIZE + MAP_OFF, PROT_READ | PROT_WRITE, MAP_SHARED, e->memfd, 0);
	assert_true(e->ram != MAP_FAILED);
	e->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	e->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(e->kick >= 0 && e->call >= 0);
	fe_connect(e);
	*state = e;
	return 0;
}

static int teardown(void **state)
{
	struct env *e = *state;

	close_fd(&e->fd);
	vhost_backend_stop(e->b);
	pthread_join(e->thread, NULL);
	vhost_backend_destroy(e->b);
	virtio_dev_destroy(e->dev);
	munmap(e->ram, RAM_SIZE + MAP_OFF);
	close_fd(&e->memfd);
	close_fd(&e->kick);
	close_fd(&e->call);
	rmdir(e->dir);
	free(e);
	return 0;
}

/* ---- the frontend (tests/lib/vu_frontend.c) ---- */

static uint64_t fe_ack_fds(struct env *e, uint32_t req, const void *payload, uint32_t size,
			   const int *fds, unsigned int nfds)
{
	return vu_fe_ack(e->fd, req, payload, size, fds, nfds);
}

static uint64_t fe_ack(struct env *e, uint32_t req, const void *payload, uint32_t size)
{
	return vu_fe_ack(e->fd, req, payload, size, NULL, 0);
}

static uint64_t fe_get_u64(struct env *e, uint32_t req)
{
	return vu_fe_get_u64(e->fd, req);
}

static uint64_t set_status(struct env *e, uint64_t s)
{
	return fe_ack(e, VHOST_USER_SET_STATUS, &s, sizeof(s));
}

static uint64_t get_status(struct env *e)
{
	return fe_get_u64(e, VHOST_USER_GET_STATUS);
}

/* Protocol features with STATUS, and the device features (with @set_features). */
static void fe_negotiate(struct env *e, bool set_features)
{
	uint64_t p = fe_get_u64(e, VHOST_USER_GET_PROTOCOL_FEATURES), f;

	assert_true(p & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_STATUS));
	assert_int_equal(fe_ack(e, VHOST_USER_SET_PROTOCOL_FEATURES, &p, 8), 0);
	if (!set_features)
		return;
	f = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	assert_int_equal(fe_ack(e, VHOST_USER_SET_FEATURES, &f, 8), 0);
}

static void *g2h(struct env *e, uint64_t gpa)
{
	return e->ram + MAP_OFF + (gpa - RAM_GPA);
}

/* Memory table, ring 0 at @base, its call and kick fds, enabled. */
static void fe_start_ring(struct env *e, uint16_t base)
{
	struct vhost_user_memory m = { .nregions = 1 };
	struct vhost_user_vring_state s = { .index = 0, .num = QSIZE };
	struct vhost_user_vring_addr a = { .index = 0,
					   .desc = UA_BASE + DESC_OFF,
					   .avail = UA_BASE + AVAIL_OFF,
					   .used = UA_BASE + USED_OFF };
	uint64_t v = 0;

	m.regions[0] = (struct vhost_user_region){ .guest_phys_addr = RAM_GPA,
						   .memory_size = RAM_SIZE,
						   .userspace_addr = UA_BASE,
						   .mmap_offset = MAP_OFF };
	assert_int_equal(fe_ack_fds(e, VHOST_USER_SET_MEM_TABLE, &m,
				    8 + sizeof(struct vhost_user_region), &e->memfd, 1),
			 0);
	assert_int_equal(fe_ack(e, VHOST_USER_SET_VRING_NUM, &s, sizeof(s)), 0);
	s.num = base;
	assert_int_equal(fe_ack(e, VHOST_USER_SET_VRING_BASE, &s, sizeof(s)), 0);
	assert_int_equal(fe_ack(e, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a)), 0);
	assert_int_equal(fe_ack_fds(e, VHOST_USER_SET_VRING_CALL, &v, 8, &e->call, 1), 0);
	assert_int_equal(fe_ack_fds(e, VHOST_USER_SET_VRING_KICK, &v, 8, &e->kick, 1), 0);
	s.num = 1;
	assert_int_equal(fe_ack(e, VHOST_USER_SET_VRING_ENABLE, &s, sizeof(s)), 0);
}

static uint16_t used_idx(struct env *e)
{
	return __atomic_load_n((uint16_t *)g2h(e, RAM_GPA + USED_OFF + 2), __ATOMIC_ACQUIRE);
}

/* Post a 16-byte rng request (descriptor 0) and kick. */
static void post_request(struct env *e)
{
	struct vring_desc *desc = g2h(e, RAM_GPA + DESC_OFF);
	uint16_t *avail = g2h(e, RAM_GPA + AVAIL_OFF);

	desc[0] = (struct vring_desc){ .addr = RAM_GPA + BUF_OFF,
				       .len = 16,
				       .flags = VRING_DESC_F_WRITE };
	avail[2 + e->avail_idx % QSIZE] = 0;
	e->avail_idx++;
	__atomic_store_n(&avail[1], e->avail_idx, __ATOMIC_RELEASE);
	assert_int_equal(eventfd_write(e->kick, 1), 0);
}

/* Wait until the used index reaches @idx. */
static void wait_used(struct env *e, uint16_t idx)
{
	struct pollfd p = { .fd = e->call, .events = POLLIN };
	eventfd_t v;

	while (used_idx(e) != idx) {
		assert_int_equal(poll(&p, 1, TIMEOUT_MS), 1);
		eventfd_read(e->call, &v);
	}
}

static uint32_t get_vring_base(struct env *e, uint32_t index)
{
	return vu_fe_get_vring_base(e->fd, index);
}

/* ---- tests ---- */

#define S_ACK VIRTIO_STATUS_ACKNOWLEDGE
#define S_DRV VIRTIO_STATUS_DRIVER
#define S_FOK VIRTIO_STATUS_FEATURES_OK
#define S_DOK VIRTIO_STATUS_DRIVER_OK

/* The byte is kept as set, in the order a driver sets it. */
static void test_status_sequence(void **state)
{
	struct env *e = *state;

	fe_negotiate(e, false);
	assert_int_equal(get_status(e), 0);
	assert_int_equal(set_status(e, S_ACK), 0);
	assert_int_equal(get_status(e), S_ACK);
	assert_int_equal(set_status(e, S_ACK | S_DRV), 0);
	assert_int_equal(get_status(e), S_ACK | S_DRV);
	fe_negotiate(e, true);
	assert_int_equal(set_status(e, S_ACK | S_DRV | S_FOK), 0);
	assert_int_equal(get_status(e), S_ACK | S_DRV | S_FOK);
	assert_int_equal(set_status(e, S_ACK | S_DRV | S_FOK | S_DOK), 0);
	assert_int_equal(get_status(e), S_ACK | S_DRV | S_FOK | S_DOK);
}

/* FEATURES_OK without SET_FEATURES does not stick: the driver reads it back clear. */
static void test_features_ok_needs_features(void **state)
{
	struct env *e = *state;

	fe_negotiate(e, false);
	assert_int_equal(set_status(e, S_ACK | S_DRV | S_FOK), 0);
	assert_int_equal(get_status(e), S_ACK | S_DRV);
	fe_negotiate(e, true);
	assert_int_equal(set_status(e, S_ACK | S_DRV | S_FOK), 0);
	assert_int_equal(get_status(e), S_ACK | S_DRV | S_FOK);
	/* Reset: SET_FEATURES is needed again. */
	assert_int_equal(set_status(e, 0), 0);
	assert_int_equal(get_status(e), 0);
	assert_int_equal(set_status(e, S_ACK | S_DRV | S_FOK), 0);
	assert_int_equal(get_status(e), S_ACK | S_DRV);
}

/* Not a byte, or the wrong size: refused, nothing changes, the connection stays. */
static void test_status_malformed(void **state)
{
	struct env *e = *state;
	uint32_t four = S_ACK;

	fe_negotiate(e, true);
	assert_int_equal(set_status(e, S_ACK), 0);
	assert_int_not_equal(set_status(e, 0x100), 0);
	assert_int_not_equal(set_status(e, ~0ULL), 0);
	assert_int_not_equal(fe_ack(e, VHOST_USER_SET_STATUS, &four, sizeof(four)), 0);
	assert_int_equal(get_status(e), S_ACK);
}

/*
 * Status 0 resets the device: the running ring stops (kicks do nothing),
 * and GET_VRING_BASE afterwards still answers the index it stopped at, as
 * QEMU 7.2 asks in that order. The ring starts again at SET_VRING_KICK.
 */
static void test_status_zero_resets(void **state)
{
	struct env *e = *state;

	fe_negotiate(e, true);
	assert_int_equal(set_status(e, S_ACK | S_DRV | S_FOK), 0);
	fe_start_ring(e, 0);
	assert_int_equal(set_status(e, S_ACK | S_DRV | S_FOK | S_DOK), 0);
	post_request(e);
	post_request(e);
	wait_used(e, 2);

	assert_int_equal(set_status(e, 0), 0);
	assert_int_equal(get_status(e), 0);
	post_request(e);
	usleep(100 * 1000);
	assert_int_equal(used_idx(e), 2);
	assert_int_equal(get_vring_base(e, 0), 2);

	/* Set up again the way QEMU does: the pending request is served. */
	fe_negotiate(e, true);
	assert_int_equal(set_status(e, S_ACK | S_DRV | S_FOK), 0);
	fe_start_ring(e, 2);
	wait_used(e, 3);
	assert_int_equal(get_vring_base(e, 0), 3);
}

/* RESET_DEVICE and a new connection start from status 0. */
static void test_status_reset_and_reconnect(void **state)
{
	struct env *e = *state;

	fe_negotiate(e, true);
	assert_int_equal(set_status(e, S_ACK | S_DRV | S_FOK), 0);
	assert_int_equal(fe_ack(e, VHOST_USER_RESET_DEVICE, NULL, 0), 0);
	assert_int_equal(get_status(e), 0);

	fe_negotiate(e, true);
	assert_int_equal(set_status(e, S_ACK | S_DRV | S_FOK), 0);
	fe_connect(e);
	assert_int_equal(get_status(e), 0);
	/* And the new connection's SET_FEATURES is what counts. */
	fe_negotiate(e, false);
	assert_int_equal(set_status(e, S_FOK), 0);
	assert_int_equal(get_status(e), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_captured_setup_teardown(test_status_sequence, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_features_ok_needs_features, setup,
							 teardown),
		cmocka_unit_test_captured_setup_teardown(test_status_malformed, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_status_zero_resets, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_status_reset_and_reconnect, setup,
							 teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
