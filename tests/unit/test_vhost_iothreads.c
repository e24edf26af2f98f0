// SPDX-License-Identifier: MIT
/*
 * The vhost-user backend with its rings spread over I/O threads
 * (vhost_backend_config.nr_iothreads, `evvm vhost-user-blk --iothreads`): a
 * blk device of 4 queues on 2 threads (rings 0 and 2 on one, 1 and 3 on the
 * other), driven by 4 driver threads at once, one per ring, while the main
 * thread sends the control messages that touch every thread (SET_MEM_TABLE)
 * or one ring's thread (GET_VRING_BASE). Every request's data is checked
 * when read back, and on the disk file.
 *
 * The driver threads do not use cmocka (it is not thread-safe): they record
 * what went wrong, and the main thread asserts after joining them.
 *
 * Guest RAM is a memfd mapped at mmap_offset MAP_OFF, guest address
 * RAM_GPA, frontend user address UA_BASE; ring q's areas are at
 * RING_OFF(q).
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
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
#include <time.h>
#include <unistd.h>

/* evvm headers first, as everywhere. */
#include <evvm/devices.h>
#include <evvm/virtio.h>
#include <evvm/virtqueue.h>

#include "capture.h"
#include "vu_frontend.h"
#include "../../vhost/backend.h"

#include <cmocka.h>

#define RAM_GPA	    0x40000000ULL
#define RAM_SIZE    (1u << 20)
#define MAP_OFF	    0x1000ULL
#define UA_BASE	    0x7e5500000000ULL
#define NQ	    4
#define NTHREADS    2
#define QSIZE	    8
#define RING_OFF(q) ((uint64_t)(q)*0x20000)
#define DESC_OFF    0x0000
#define AVAIL_OFF   0x1000
#define USED_OFF    0x2000
#define HDR_OFF	    0x3000
#define STATUS_OFF  0x3100
#define DATA_OFF    0x4000
#define DISK_SIZE   (1u << 20)
#define Q_SECTORS   256 /* ring q writes sectors [q * Q_SECTORS, (q + 1) * Q_SECTORS) */
#define REQ_SECTORS 8
#define ITERS	    100

struct env;

/* One driver: ring q, one request at a time. */
struct drv {
	struct env *e;
	unsigned int q;
	unsigned int iters;
	int kick, call, err;
	uint16_t avail_idx, used_seen;
	pthread_t thread;
	char why[160]; /* empty: no failure */
};

struct env {
	char dir[64];
	char sock[128];
	char disk[128];
	struct evvm_virtio_dev *dev;
	struct vhost_backend *b;
	pthread_t thread;
	int fd;
	int memfd;
	uint8_t *ram;
	struct drv d[NQ];
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

static int setup(void **state)
{
	struct env *e = calloc(1, sizeof(*e));
	struct blk_config bc = { .queues = NQ };
	struct vhost_backend_config cfg = { .nr_iothreads = NTHREADS };
	int fd;

	assert_non_null(e);
	snprintf(e->dir, sizeof(e->dir), "/tmp/evvm-vuio-XXXXXX");
	assert_non_null(mkdtemp(e->dir));
	snprintf(e->sock, sizeof(e->sock), "%s/sock", e->dir);
	snprintf(e->disk, sizeof(e->disk), "%s/disk", e->dir);
	fd = open(e->disk, O_RDWR | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, DISK_SIZE), 0);
	close(fd);
	bc.path = e->disk;
	assert_int_equal(blk_create("blk0", &bc, &e->dev), 0);
	cfg.socket_path = e->sock;
	cfg.dev = e->dev;
	assert_int_equal(vhost_backend_create(&cfg, &e->b), 0);
	assert_int_equal(pthread_create(&e->thread, NULL, backend_main, e), 0);

	e->memfd = memfd_create("vuio-test-ram", MFD_CLOEXEC);
	assert_true(e->memfd >= 0);
	assert_int_equal(ftruncate(e->memfd, RAM_SIZE + MAP_OFF), 0);
	e->ram = mmap(NULL, RAM_SIZE + MAP_OFF, PROT_READ | PROT_WRITE, MAP_SHARED, e->memfd, 0);
	assert_true(e->ram != MAP_FAILED);
	for (unsigned int q = 0; q < NQ; q++) {
		struct drv *d = &e->d[q];

		d->e = e;
		d->q = q;
		d->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		d->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		d->err = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		assert_true(d->kick >= 0 && d->call >= 0 && d->err >= 0);
	}
	e->fd = vu_fe_connect(e->sock);
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
	for (unsigned int q = 0; q < NQ; q++) {
		close_fd(&e->d[q].kick);
		close_fd(&e->d[q].call);
		close_fd(&e->d[q].err);
	}
	unlink(e->disk);
	rmdir(e->dir);
	free(e);
	return 0;
}

/* ---- the frontend ---- */

static void *g2h(struct env *e, uint64_t gpa)
{
	return e->ram + MAP_OFF + (gpa - RAM_GPA);
}

static void set_mem_table(struct env *e)
{
	struct vhost_user_memory m = { .nregions = 1 };

	m.regions[0] = (struct vhost_user_region){ .guest_phys_addr = RAM_GPA,
						   .memory_size = RAM_SIZE,
						   .userspace_addr = UA_BASE,
						   .mmap_offset = MAP_OFF };
	assert_int_equal(vu_fe_ack(e->fd, VHOST_USER_SET_MEM_TABLE, &m,
				   8 + sizeof(struct vhost_user_region), &e->memfd, 1),
			 0);
}

/* Features, protocol features, memory, and every ring started and enabled at index 0. */
static void fe_setup(struct env *e)
{
	uint64_t f = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	uint64_t p = vu_fe_get_u64(e->fd, VHOST_USER_GET_PROTOCOL_FEATURES);

	memset(e->ram, 0, RAM_SIZE + MAP_OFF);
	assert_int_equal(vu_fe_ack(e->fd, VHOST_USER_SET_PROTOCOL_FEATURES, &p, 8, NULL, 0), 0);
	assert_int_equal(vu_fe_get_u64(e->fd, VHOST_USER_GET_QUEUE_NUM), NQ);
	assert_int_equal(vu_fe_ack(e->fd, VHOST_USER_SET_FEATURES, &f, 8, NULL, 0), 0);
	set_mem_table(e);
	for (unsigned int q = 0; q < NQ; q++) {
		struct drv *d = &e->d[q];
		struct vhost_user_vring_state s = { .index = q, .num = QSIZE };
		uint64_t base = UA_BASE + RING_OFF(q), idx = q;
		struct vhost_user_vring_addr a = { .index = q,
						   .desc = base + DESC_OFF,
						   .avail = base + AVAIL_OFF,
						   .used = base + USED_OFF };

		d->avail_idx = d->used_seen = 0;
		d->why[0] = 0;
		assert_int_equal(vu_fe_ack(e->fd, VHOST_USER_SET_VRING_NUM, &s, sizeof(s), NULL, 0),
				 0);
		s.num = 0;
		assert_int_equal(
			vu_fe_ack(e->fd, VHOST_USER_SET_VRING_BASE, &s, sizeof(s), NULL, 0), 0);
		assert_int_equal(
			vu_fe_ack(e->fd, VHOST_USER_SET_VRING_ADDR, &a, sizeof(a), NULL, 0), 0);
		assert_int_equal(vu_fe_ack(e->fd, VHOST_USER_SET_VRING_CALL, &idx, 8, &d->call, 1),
				 0);
		assert_int_equal(vu_fe_ack(e->fd, VHOST_USER_SET_VRING_ERR, &idx, 8, &d->err, 1),
				 0);
		assert_int_equal(vu_fe_ack(e->fd, VHOST_USER_SET_VRING_KICK, &idx, 8, &d->kick, 1),
				 0);
		s.num = 1;
		assert_int_equal(
			vu_fe_ack(e->fd, VHOST_USER_SET_VRING_ENABLE, &s, sizeof(s), NULL, 0), 0);
	}
}

/* ---- the drivers (no cmocka here: they run on threads of their own) ---- */

static uint8_t pattern(unsigned int q, unsigned int k, unsigned int i)
{
	return (uint8_t)(q * 31 + k * 7 + i * 13 + i / 512);
}

static uint16_t used_idx(struct drv *d)
{
	return __atomic_load_n((uint16_t *)g2h(d->e, RAM_GPA + RING_OFF(d->q) + USED_OFF + 2),
			       __ATOMIC_ACQUIRE);
}

/* Post a blk request of @type at @sector (REQ_SECTORS of data) on the ring, and kick. */
static void drv_post(struct drv *d, uint32_t type, uint64_t sector, uint64_t data_gpa)
{
	uint64_t base = RAM_GPA + RING_OFF(d->q);
	struct vring_desc *desc = g2h(d->e, base + DESC_OFF);
	uint16_t *avail = g2h(d->e, base + AVAIL_OFF);
	uint32_t hdr[4] = { htole32(type), 0 };
	uint64_t sec = htole64(sector);

	memcpy(&hdr[2], &sec, sizeof(sec));
	memcpy(g2h(d->e, base + HDR_OFF), hdr, sizeof(hdr));
	*(uint8_t *)g2h(d->e, base + STATUS_OFF) = 0xff;
	desc[0] = (struct vring_desc){ base + HDR_OFF, 16, VRING_DESC_F_NEXT, 1 };
	desc[1] = (struct vring_desc){ data_gpa, REQ_SECTORS * 512,
				       VRING_DESC_F_NEXT |
					       (type == VIRTIO_BLK_T_IN ? VRING_DESC_F_WRITE : 0),
				       2 };
	desc[2] = (struct vring_desc){ base + STATUS_OFF, 1, VRING_DESC_F_WRITE, 0 };
	avail[2 + d->avail_idx % QSIZE] = 0;
	d->avail_idx++;
	__atomic_store_n(&avail[1], d->avail_idx, __ATOMIC_RELEASE);
	eventfd_write(d->kick, 1);
}

/* Wait for the request's used entry; false (with d->why) on timeout or a bad status. */
static bool drv_wait(struct drv *d)
{
	struct pollfd p = { .fd = d->call, .events = POLLIN };
	uint8_t status;
	eventfd_t v;

	while (used_idx(d) == d->used_seen) {
		if (poll(&p, 1, VU_FE_TIMEOUT_MS) != 1) {
			snprintf(d->why, sizeof(d->why), "ring %u: no used entry within %d ms",
				 d->q, VU_FE_TIMEOUT_MS);
			return false;
		}
		eventfd_read(d->call, &v);
	}
	d->used_seen++;
	status = *(volatile uint8_t *)g2h(d->e, RAM_GPA + RING_OFF(d->q) + STATUS_OFF);
	if (status != VIRTIO_BLK_S_OK) {
		snprintf(d->why, sizeof(d->why), "ring %u: request %u: status %u", d->q,
			 d->used_seen, status);
		return false;
	}
	return true;
}

/* Iteration @k: write a pattern to the ring's next sectors, read it back, compare. */
static bool drv_iteration(struct drv *d, unsigned int k)
{
	uint64_t data = RAM_GPA + RING_OFF(d->q) + DATA_OFF;
	uint64_t sector = d->q * Q_SECTORS + (k % (Q_SECTORS / REQ_SECTORS)) * REQ_SECTORS;
	uint8_t *p = g2h(d->e, data);

	for (unsigned int i = 0; i < REQ_SECTORS * 512; i++)
		p[i] = pattern(d->q, k, i);
	drv_post(d, VIRTIO_BLK_T_OUT, sector, data);
	if (!drv_wait(d))
		return false;
	memset(p, 0, REQ_SECTORS * 512);
	drv_post(d, VIRTIO_BLK_T_IN, sector, data);
	if (!drv_wait(d))
		return false;
	for (unsigned int i = 0; i < REQ_SECTORS * 512; i++) {
		if (p[i] != pattern(d->q, k, i)) {
			snprintf(d->why, sizeof(d->why),
				 "ring %u: iteration %u: byte %u read back "
				 "0x%02x, wrote 0x%02x",
				 d->q, k, i, p[i], pattern(d->q, k, i));
			return false;
		}
	}
	return true;
}

static void *drv_main(void *arg)
{
	struct drv *d = arg;

	for (unsigned int k = 0; k < d->iters; k++)
		if (!drv_iteration(d, k))
			break;
	return NULL;
}

static void drv_start(struct drv *d, unsigned int iters)
{
	d->iters = iters;
	assert_int_equal(pthread_create(&d->thread, NULL, drv_main, d), 0);
}

static void drv_join(struct drv *d)
{
	pthread_join(d->thread, NULL);
	if (d->why[0])
		fail_msg("%s", d->why);
}

/* The last iteration's data of ring @q is on the disk file. */
static void check_disk(struct env *e, unsigned int q, unsigned int iters)
{
	uint8_t buf[REQ_SECTORS * 512];
	unsigned int k = iters - 1;
	uint64_t sector = q * Q_SECTORS + (k % (Q_SECTORS / REQ_SECTORS)) * REQ_SECTORS;
	int fd = open(e->disk, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, sizeof(buf), sector * 512), (ssize_t)sizeof(buf));
	close(fd);
	for (unsigned int i = 0; i < sizeof(buf); i++)
		if (buf[i] != pattern(q, k, i))
			fail_msg("disk: ring %u's sector %llu byte %u is 0x%02x, expected 0x%02x",
				 q, (unsigned long long)sector, i, buf[i], pattern(q, k, i));
}

/* Threads of this process whose name starts with @prefix. */
static int count_threads(const char *prefix)
{
	DIR *dir = opendir("/proc/self/task");
	struct dirent *de;
	int n = 0;

	assert_non_null(dir);
	while ((de = readdir(dir))) {
		char path[300], comm[32] = "";
		FILE *f;

		if (de->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", de->d_name);
		f = fopen(path, "r");
		if (!f)
			continue;
		if (fgets(comm, sizeof(comm), f) && !strncmp(comm, prefix, strlen(prefix)))
			n++;
		fclose(f);
	}
	closedir(dir);
	return n;
}

/* ---- tests ---- */

/*
 * Four rings on two threads carry I/O at once, while the memory table is
 * replaced under both threads several times; every byte reads back right,
 * and every ring stops at the index of the requests it completed.
 */
static void test_concurrent_io(void **state)
{
	struct env *e = *state;
	const struct timespec pause = { .tv_nsec = 20 * 1000000 };

	/* Each thread names itself once it runs. */
	for (int i = 0; i < 500 && count_threads("vu-blk0-") < NTHREADS; i++)
		usleep(10 * 1000);
	assert_int_equal(count_threads("vu-blk0-"), NTHREADS);
	fe_setup(e);
	for (unsigned int q = 0; q < NQ; q++)
		drv_start(&e->d[q], ITERS);
	for (int i = 0; i < 5; i++) {
		nanosleep(&pause, NULL);
		set_mem_table(e);
	}
	for (unsigned int q = 0; q < NQ; q++)
		drv_join(&e->d[q]);
	for (unsigned int q = 0; q < NQ; q++) {
		check_disk(e, q, ITERS);
		assert_int_equal(vu_fe_get_vring_base(e->fd, q), 2 * ITERS);
	}
}

/*
 * GET_VRING_BASE of ring 1 (thread 1) while rings 0 and 2 (thread 0) and 3
 * (thread 1) run: the reply comes after the ring stopped on its thread, so
 * a request posted on it afterwards is never used; the others go on.
 */
static void test_stop_one_ring(void **state)
{
	struct env *e = *state;
	struct drv *d1 = &e->d[1];

	fe_setup(e);
	assert_true(drv_iteration(d1, 0));
	drv_start(&e->d[0], ITERS);
	drv_start(&e->d[2], ITERS);
	drv_start(&e->d[3], ITERS);
	assert_int_equal(vu_fe_get_vring_base(e->fd, 1), 2);
	drv_post(d1, VIRTIO_BLK_T_IN, 1 * Q_SECTORS, RAM_GPA + RING_OFF(1) + DATA_OFF);
	usleep(100 * 1000);
	assert_int_equal(used_idx(d1), 2);
	drv_join(&e->d[0]);
	drv_join(&e->d[2]);
	drv_join(&e->d[3]);
	assert_int_equal(used_idx(d1), 2);
	assert_int_equal(vu_fe_get_vring_base(e->fd, 1), 2);
	check_disk(e, 0, ITERS);
	check_disk(e, 3, ITERS);
}

/*
 * A guest error on ring 1 (thread 1): the device needs a reset, so the err
 * fd of every ring is signalled, those of thread 0 included.
 */
static void test_error_reaches_all(void **state)
{
	struct env *e = *state;
	struct drv *d1 = &e->d[1];

	fe_setup(e);
	assert_true(drv_iteration(&e->d[0], 0));
	/* Data outside guest memory. */
	drv_post(d1, VIRTIO_BLK_T_IN, 0, RAM_GPA + RAM_SIZE + 0x100000);
	for (unsigned int q = 0; q < NQ; q++) {
		struct pollfd p = { .fd = e->d[q].err, .events = POLLIN };

		if (poll(&p, 1, VU_FE_TIMEOUT_MS) != 1)
			fail_msg("ring %u's err fd was not signalled", q);
	}
	/* And the frontend can start over: the device serves both threads again. */
	assert_int_equal(vu_fe_ack(e->fd, VHOST_USER_RESET_DEVICE, NULL, 0, NULL, 0), 0);
	fe_setup(e);
	for (unsigned int q = 0; q < NQ; q++)
		assert_true(drv_iteration(&e->d[q], 1));
}

/* The frontend goes away with requests in flight on both threads; the next one is served. */
static void test_disconnect_mid_io(void **state)
{
	struct env *e = *state;

	fe_setup(e);
	for (unsigned int q = 0; q < NQ; q++)
		drv_post(&e->d[q], VIRTIO_BLK_T_OUT, q * Q_SECTORS,
			 RAM_GPA + RING_OFF(q) + DATA_OFF);
	close_fd(&e->fd);
	e->fd = vu_fe_connect(e->sock);
	fe_setup(e);
	for (unsigned int q = 0; q < NQ; q++) {
		assert_true(drv_iteration(&e->d[q], 3));
		check_disk(e, q, 4);
	}
}

/* 1 to the queue count, and more than 1 only for a device that can be cloned. */
static void test_iothreads_checked(void **state)
{
	char sock[] = "/tmp/evvm-vuio-sock-XXXXXX";
	struct evvm_virtio_dev *rng;
	struct vhost_backend *b = NULL;
	struct vhost_backend_config cfg = { .socket_path = sock };
	struct env *e = *state;
	int fd = mkstemp(sock);

	(void)e;
	assert_true(fd >= 0);
	close(fd);
	unlink(sock);
	cfg.dev = e->dev; /* 4 queues, but already served: only the checks run */
	cfg.nr_iothreads = NQ + 1;
	assert_int_equal(vhost_backend_create(&cfg, &b), -EINVAL);
	assert_int_equal(rng_create("rng0", &rng), 0);
	cfg.dev = rng;
	cfg.nr_iothreads = 2;
	assert_int_equal(vhost_backend_create(&cfg, &b), -EINVAL);
	cfg.nr_iothreads = 1;
	assert_int_equal(vhost_backend_create(&cfg, &b), 0);
	vhost_backend_destroy(b);
	virtio_dev_destroy(rng);
	assert_int_equal(access(sock, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_captured_setup_teardown(test_concurrent_io, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_stop_one_ring, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_error_reaches_all, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_disconnect_mid_io, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_iothreads_checked, setup, teardown),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
