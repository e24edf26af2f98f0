// SPDX-License-Identifier: MIT
/*
 * virtio-blk's part of vm_pause() (ops->quiesce) and of PATCH /drives
 * (blk_set_path), against temporary files, with a fake transport: guest
 * RAM in malloc'd memory, the device's I/O thread a loop in a thread of
 * the test, notify/config_changed callbacks that count.
 */
#define _GNU_SOURCE
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <evvm/devices.h>
#include <evvm/loop.h>
#include <evvm/virtio.h>

#include <cmocka.h>

#include "capture.h"
#include "devtest.h"
#include "fakeguest.h"
#include "proc.h"

#define SECTOR	   512
#define QSIZE	   256
#define RAM_GPA	   0x40000000ULL
#define RAM_SIZE   (16u << 20)
#define RING_DESC  RAM_GPA
#define RING_AVAIL (RAM_GPA + 0x1000)
#define RING_USED  (RAM_GPA + 0x2000)
#define HEAP	   (RAM_GPA + 0x4000)
#define S_UNSET	   0xee

struct fake {
	char dir[64], path[96], path2[96];
	struct fakeguest g;
	struct fg_queue q;
	struct evvm_loop *loop;
	pthread_t thread;
	struct evvm_virtio_dev *dev;
	atomic_int notifies, fails, config_changes;
};

struct req {
	uint16_t head;
	uint64_t data;
	uint8_t *status;
};

static void *hva(struct fake *f, uint64_t gpa)
{
	void *p = fg_hva(&f->g, gpa, 1);

	assert_non_null(p);
	return p;
}

static struct req post_req(struct fake *f, uint32_t type, uint64_t sector, uint32_t len)
{
	uint64_t hdr = fg_alloc(&f->g, 16), st = fg_alloc(&f->g, 1);
	struct req r = { .data = fg_alloc(&f->g, len), .status = hva(f, st) };
	uint32_t t = htole32(type);
	uint64_t s = htole64(sector);
	struct fg_seg segs[3] = {
		{ hdr, 16, false },
		{ r.data, len, type == VIRTIO_BLK_T_IN },
		{ st, 1, true },
	};
	int head;

	assert_true(hdr && st && r.data);
	memset(hva(f, hdr), 0, 16);
	memcpy(hva(f, hdr), &t, 4);
	memcpy(hva(f, hdr + 8), &s, 8);
	*r.status = S_UNSET;
	head = fg_post_chain(&f->g, &f->q, segs, 3);
	assert_true(head >= 0);
	r.head = head;
	return r;
}

static int used_idx(struct fake *f)
{
	return fg_used_idx(&f->g, &f->q);
}

static int call_kick(void *opaque)
{
	struct evvm_virtio_dev *dev = opaque;

	dev->ops->kick(dev, 0);
	return 0;
}

static int call_pause(void *opaque)
{
	struct evvm_virtio_dev *dev = opaque;

	return dev->ops->quiesce(dev, true);
}

static int call_resume(void *opaque)
{
	struct evvm_virtio_dev *dev = opaque;

	return dev->ops->quiesce(dev, false);
}

/* A kick and, in the same loop turn, the pause: requests are in flight when it starts. */
static int call_kick_pause(void *opaque)
{
	call_kick(opaque);
	return call_pause(opaque);
}

static void wait_used(struct fake *f, int n)
{
	double t0 = now_s();

	while (used_idx(f) < n) {
		if (now_s() - t0 > 10)
			fail_msg("%d of %d requests completed", used_idx(f), n);
		usleep(100);
	}
}

static void on_notify(struct evvm_virtio_dev *dev, unsigned int q)
{
	struct fake *f = dev->transport;

	(void)q;
	atomic_fetch_add(&f->notifies, 1);
}

static void on_fail(struct evvm_virtio_dev *dev)
{
	struct fake *f = dev->transport;

	atomic_fetch_add(&f->fails, 1);
}

static void on_config(struct evvm_virtio_dev *dev)
{
	struct fake *f = dev->transport;

	atomic_fetch_add(&f->config_changes, 1);
}

static void make_file(const char *path, uint64_t bytes, int fill)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	uint8_t *buf = malloc(bytes);

	assert_true(fd >= 0 && buf);
	memset(buf, fill, bytes);
	assert_int_equal(pwrite(fd, buf, bytes, 0), (ssize_t)bytes);
	/* Out of the page cache: reads go to the ring and wait for the disk. */
	assert_int_equal(fsync(fd), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);
	free(buf);
}

static uint64_t capacity(struct fake *f)
{
	uint64_t v;

	f->dev->ops->config_read(f->dev, 0, &v, 8);
	return le64toh(v);
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	struct blk_config cfg = { 0 };
	uint8_t *ram = aligned_alloc(4096, RAM_SIZE);

	if (!f || !ram)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "%s/evvm-blkp-XXXXXX", tmp ? tmp : "/tmp");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/a.img", f->dir);
	snprintf(f->path2, sizeof(f->path2), "%s/b.img", f->dir);
	make_file(f->path, 4 << 20, 0xa1);
	memset(ram, 0, RAM_SIZE);
	if (fg_init(&f->g, ram, RAM_GPA, RAM_SIZE, HEAP) || loop_create(&f->loop, "blkp-test") ||
	    pthread_create(&f->thread, NULL, devtest_loop_thread, f->loop))
		return -1;
	cfg.path = f->path;
	if (blk_create("blk0", &cfg, &f->dev))
		return -1;
	f->dev->mem = &f->g.mem;
	f->dev->loop = f->loop;
	f->dev->notify = on_notify;
	f->dev->needs_reset = on_fail;
	f->dev->config_changed = on_config;
	f->dev->transport = f;
	f->dev->features = f->dev->host_features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	if (fg_queue_init(&f->g, &f->q, RING_DESC, QSIZE) ||
	    vq_init(&f->dev->vqs[0], &f->g.mem, "blk0.q0", QSIZE, RING_DESC, RING_AVAIL, RING_USED,
		    f->dev->features) ||
	    devtest_start(f->loop, f->dev))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	devtest_stop(f->loop, f->dev);
	loop_stop(f->loop);
	pthread_join(f->thread, NULL);
	virtio_dev_destroy(f->dev);
	loop_destroy(f->loop);
	free(f->g.ram);
	unlink(f->path);
	unlink(f->path2);
	rmdir(f->dir);
	free(f);
	return 0;
}

/*
 * Pause with uncached reads in flight: when quiesce returns every one of
 * them is completed and pushed (status OK, data there) and the driver was
 * notified; then nothing moves, even for a kick; the resume serves what
 * came meanwhile.
 */
static void test_pause_completes_in_flight(void **state)
{
	struct fake *f = *state;
	enum { N = 32, LEN = 64 * 1024, M = 8 };
	struct req r[N + M];
	uint8_t want[LEN];
	int notifies;

	memset(want, 0xa1, sizeof(want));
	for (unsigned int i = 0; i < N; i++)
		r[i] = post_req(f, VIRTIO_BLK_T_IN, (uint64_t)(N - 1 - i) * LEN / SECTOR, LEN);
	assert_int_equal(loop_call(f->loop, call_kick_pause, f->dev), 0);
	/* Paused: everything is done already, nothing waits. */
	assert_int_equal(used_idx(f), N);
	for (unsigned int i = 0; i < N; i++) {
		assert_int_equal(*r[i].status, VIRTIO_BLK_S_OK);
		assert_memory_equal(hva(f, r[i].data), want, LEN);
	}
	notifies = atomic_load(&f->notifies);
	assert_true(notifies >= 1);
	/* Like a driver that wants an interrupt for the next completion (used_event). */
	assert_int_equal(fg_set_used_event(&f->g, &f->q, N), 0);

	/* New requests and a kick (an event of the batch that paused): untouched. */
	for (unsigned int i = N; i < N + M; i++)
		r[i] = post_req(f, VIRTIO_BLK_T_IN, i, SECTOR);
	assert_int_equal(loop_call(f->loop, call_kick, f->dev), 0);
	usleep(50000);
	assert_int_equal(used_idx(f), N);
	assert_int_equal(atomic_load(&f->notifies), notifies);
	for (unsigned int i = N; i < N + M; i++)
		assert_int_equal(*r[i].status, S_UNSET);

	/* Resumed: they complete without another kick. */
	assert_int_equal(loop_call(f->loop, call_resume, f->dev), 0);
	wait_used(f, N + M);
	for (unsigned int i = N; i < N + M; i++)
		assert_int_equal(*r[i].status, VIRTIO_BLK_S_OK);
	assert_true(atomic_load(&f->notifies) > notifies);
	assert_int_equal(atomic_load(&f->fails), 0);
}

/* A pause of an idle device, twice in a row, then a resume: it works as before. */
static void test_pause_idle(void **state)
{
	struct fake *f = *state;
	struct req r;

	assert_int_equal(loop_call(f->loop, call_pause, f->dev), 0);
	assert_int_equal(loop_call(f->loop, call_pause, f->dev), 0);
	assert_int_equal(loop_call(f->loop, call_resume, f->dev), 0);
	r = post_req(f, VIRTIO_BLK_T_IN, 0, SECTOR);
	loop_call(f->loop, call_kick, f->dev);
	wait_used(f, 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
}

/* A new backing file: capacity and data follow it, the driver is told once. */
static void test_set_path(void **state)
{
	struct fake *f = *state;
	uint8_t b2[SECTOR];
	struct req r;

	assert_int_equal(capacity(f), (4 << 20) / SECTOR);
	make_file(f->path2, 2 << 20, 0xb2);
	assert_int_equal(blk_set_path(f->dev, f->path2), 0);
	assert_int_equal(atomic_load(&f->config_changes), 1);
	assert_int_equal(capacity(f), (2 << 20) / SECTOR);
	memset(b2, 0xb2, sizeof(b2));
	r = post_req(f, VIRTIO_BLK_T_IN, 7, SECTOR);
	loop_call(f->loop, call_kick, f->dev);
	wait_used(f, 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
	assert_memory_equal(hva(f, r.data), b2, SECTOR);
	/* Beyond the new, smaller end: refused. */
	r = post_req(f, VIRTIO_BLK_T_IN, (2 << 20) / SECTOR, SECTOR);
	loop_call(f->loop, call_kick, f->dev);
	wait_used(f, 2);
	assert_int_equal(*r.status, VIRTIO_BLK_S_IOERR);
	/* The old file is no longer locked by us: another writer may take it. */
	{
		struct blk_config cfg = { .path = f->path };
		struct evvm_virtio_dev *other;

		assert_int_equal(blk_create("blk1", &cfg, &other), 0);
		virtio_dev_destroy(other);
	}
}

/* The same path again after the file grew: a resize. */
static void test_set_path_same_file_resize(void **state)
{
	struct fake *f = *state;

	assert_int_equal(truncate(f->path, 8 << 20), 0);
	assert_int_equal(blk_set_path(f->dev, f->path), 0);
	assert_int_equal(capacity(f), (8 << 20) / SECTOR);
	assert_int_equal(atomic_load(&f->config_changes), 1);
}

/* A path that cannot serve: an error naming it, and the old file stays in use. */
static void test_set_path_errors(void **state)
{
	struct fake *f = *state;
	char bad[128];
	struct req r;
	uint8_t a1[SECTOR];

	snprintf(bad, sizeof(bad), "%s/missing.img", f->dir);
	assert_int_equal(blk_set_path(f->dev, bad), -ENOENT);
	make_file(f->path2, 1000, 0); /* not a whole number of sectors */
	assert_int_equal(blk_set_path(f->dev, f->path2), -EINVAL);
	assert_int_equal(blk_set_path(f->dev, f->dir), -EISDIR);
	assert_int_equal(atomic_load(&f->config_changes), 0);
	assert_int_equal(capacity(f), (4 << 20) / SECTOR);
	memset(a1, 0xa1, sizeof(a1));
	r = post_req(f, VIRTIO_BLK_T_IN, 3, SECTOR);
	loop_call(f->loop, call_kick, f->dev);
	wait_used(f, 1);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
	assert_memory_equal(hva(f, r.data), a1, SECTOR);
	/* Still locked: a second writer is refused. */
	{
		struct blk_config cfg = { .path = f->path };
		struct evvm_virtio_dev *other = NULL;

		assert_int_equal(blk_create("blk1", &cfg, &other), -EBUSY);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_captured_setup_teardown(test_pause_completes_in_flight, setup,
							 teardown),
		cmocka_unit_test_captured_setup_teardown(test_pause_idle, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_set_path, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_set_path_same_file_resize, setup,
							 teardown),
		cmocka_unit_test_captured_setup_teardown(test_set_path_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
