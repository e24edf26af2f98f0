// SPDX-License-Identifier: MIT
/*
 * virtio-blk against a temporary file, driven by a fake transport in this
 * file: malloc'd guest RAM registered with evvm_mem, an event loop on its
 * own thread as the device's I/O thread, a tiny driver that writes
 * descriptors and the avail ring the way a guest would, and notify()/fail()
 * callbacks that count their calls.
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
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

/* evvm headers first, as everywhere. */
#include <evvm/devices.h>
#include <evvm/log.h>
#include <evvm/loop.h>
#include <evvm/virtio.h>

#include <cmocka.h>

#include "capture.h"
#include "devtest.h"
#include "fakeguest.h"
#include "proc.h"

#define S_UNSET	   0xee /* what the driver leaves in the status byte */

#define SECTOR	   512
#define DISK_SECS  2048 /* 1 MiB */
#define QSIZE	   256
#define RAM_GPA	   0x40000000ULL
#define RAM_SIZE   (16u << 20)
#define RING_DESC  RAM_GPA
#define RING_AVAIL (RAM_GPA + 0x1000)
#define RING_USED  (RAM_GPA + 0x2000)
#define HEAP	   (RAM_GPA + 0x4000)

/* Offsets in the config space (5.2.4). */
#define CFG_CAPACITY	     0
#define CFG_SEG_MAX	     12
#define CFG_BLK_SIZE	     20
#define CFG_MAX_DISCARD_SECS 36
#define CFG_MAX_DISCARD_SEG  40
#define CFG_DISCARD_ALIGN    44
#define CFG_MAX_WZ_SECS	     48
#define CFG_MAX_WZ_SEG	     52
#define CFG_WZ_MAY_UNMAP     56

struct fake {
	char path[64];
	struct fakeguest g; /* RAM and its heap */
	struct fg_queue q;  /* the driver's side of the ring */
	struct evvm_loop *loop;
	pthread_t thread;
	bool running;
	struct evvm_virtio_dev *dev;
	bool started;

	atomic_int notifies, fails;
};

/* ---- the fake guest ---- */

static void *hva(struct fake *f, uint64_t gpa)
{
	void *p = fg_hva(&f->g, gpa, 1);

	assert_non_null(p);
	return p;
}

static uint64_t galloc(struct fake *f, uint32_t len)
{
	uint64_t gpa = fg_alloc(&f->g, len);

	assert_true(gpa != 0);
	return gpa;
}

static uint16_t used_idx(struct fake *f)
{
	int idx = fg_used_idx(&f->g, &f->q);

	assert_true(idx >= 0);
	return idx;
}

static struct vring_used_elem used_elem(struct fake *f, uint16_t i)
{
	struct vring_used_elem e;

	assert_int_equal(fg_used_elem(&f->g, &f->q, i, &e), 0);
	return e;
}

/* Write a chain of @n buffers and make it available; returns its head. */
static uint16_t post_chain(struct fake *f, const struct fg_seg *segs, unsigned int n)
{
	int head;

	/* No wrap-around: requests in flight keep their descriptors. */
	assert_true(f->q.next_desc + n <= QSIZE);
	head = fg_post_chain(&f->g, &f->q, segs, n);
	assert_true(head >= 0);
	return head;
}

/* A request with header, data in one buffer (if any) and a status byte. */
struct req {
	uint16_t head;
	uint64_t data;
	uint8_t *status;
};

static struct req post_req(struct fake *f, uint32_t type, uint64_t sector, uint32_t data_len,
			   bool data_write)
{
	uint64_t hdr = galloc(f, 16), st = galloc(f, 1);
	struct fg_seg segs[3];
	unsigned int n = 0;
	struct req r = { .status = hva(f, st) };
	uint32_t t = htole32(type);
	uint64_t s = htole64(sector);

	memset(hva(f, hdr), 0, 16);
	memcpy(hva(f, hdr), &t, 4);
	memcpy(hva(f, hdr + 8), &s, 8);
	*r.status = S_UNSET;
	segs[n++] = (struct fg_seg){ hdr, 16, false };
	if (data_len) {
		r.data = galloc(f, data_len);
		segs[n++] = (struct fg_seg){ r.data, data_len, data_write };
	}
	segs[n++] = (struct fg_seg){ st, 1, true };
	r.head = post_chain(f, segs, n);
	return r;
}

static uint8_t run_dwz(struct fake *f, uint32_t type, const uint64_t *sector, const uint32_t *num,
		       const uint32_t *flags, unsigned int n);

static int do_kick(void *opaque)
{
	struct evvm_virtio_dev *dev = opaque;

	dev->ops->kick(dev, 0);
	return 0;
}

static void kick(struct fake *f)
{
	loop_call(f->loop, do_kick, f->dev);
}

/* Wait until @n more chains are used; returns the index of the first. */
static uint16_t wait_used(struct fake *f, uint16_t n)
{
	uint16_t first = f->q.used_seen;
	double t0 = now_s();

	while ((uint16_t)(used_idx(f) - first) < n) {
		if (now_s() - t0 > 10)
			fail_msg("only %u of %u requests completed",
				 (uint16_t)(used_idx(f) - first), n);
		usleep(50);
	}
	f->q.used_seen += n;
	/* Like a driver that wants an interrupt for the next completion (used_event). */
	assert_int_equal(fg_set_used_event(&f->g, &f->q, f->q.used_seen), 0);
	return first;
}

/* Kick, and wait for the device to use one chain, which must be @head's. */
static struct vring_used_elem complete1(struct fake *f, uint16_t head)
{
	struct vring_used_elem u;

	kick(f);
	u = used_elem(f, wait_used(f, 1));
	assert_int_equal(u.id, head);
	return u;
}

/* Buffers and descriptors can be reused: nothing is outstanding. */
static void drv_reset(struct fake *f)
{
	assert_int_equal(used_idx(f), f->q.avail_idx);
	fg_free_all(&f->g, HEAP);
	f->q.next_desc = 0;
}

/* Post one request, kick, wait, check the used length; returns the status. */
static uint8_t run1(struct fake *f, uint32_t type, uint64_t sector, uint32_t data_len,
		    bool data_write, const void *out_data, void *in_data)
{
	struct req r;
	struct vring_used_elem u;

	drv_reset(f);
	r = post_req(f, type, sector, data_len, data_write);
	if (out_data)
		memcpy(hva(f, r.data), out_data, data_len);
	u = complete1(f, r.head);
	if (*r.status == VIRTIO_BLK_S_OK && type == VIRTIO_BLK_T_IN)
		assert_int_equal(u.len, data_len + 1);
	else if (type != VIRTIO_BLK_T_GET_ID && type != VIRTIO_BLK_T_IN)
		assert_int_equal(u.len, 1);
	if (in_data)
		memcpy(in_data, hva(f, r.data), data_len);
	return *r.status;
}

/* ---- the fake transport ---- */

static void on_notify(struct evvm_virtio_dev *dev, unsigned int q)
{
	struct fake *f = dev->transport;

	assert_int_equal(q, 0);
	atomic_fetch_add(&f->notifies, 1);
}

static void on_fail(struct evvm_virtio_dev *dev)
{
	struct fake *f = dev->transport;

	atomic_fetch_add(&f->fails, 1);
}

/* A fresh ring (as after a reset), vq_init() and start(). */
static void start_dev(struct fake *f, uint64_t features)
{
	struct evvm_virtio_dev *dev = f->dev;

	memset(hva(f, RAM_GPA), 0, HEAP - RAM_GPA);
	assert_int_equal(fg_queue_init(&f->g, &f->q, RING_DESC, QSIZE), 0);
	drv_reset(f);
	dev->features = features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	assert_int_equal(vq_init(&dev->vqs[0], &f->g.mem, "blk0.q0", QSIZE, RING_DESC, RING_AVAIL,
				 RING_USED, dev->features),
			 0);
	assert_int_equal(devtest_start(f->loop, dev), 0);
	f->started = true;
}

static void stop_dev(struct fake *f)
{
	devtest_stop(f->loop, f->dev);
	vq_reset(&f->dev->vqs[0]);
	f->started = false;
}

/* Create the device on f->path and start it with every offered feature. */
static void attach(struct fake *f, const struct blk_config *cfg)
{
	assert_int_equal(blk_create("blk0", cfg, &f->dev), 0);
	f->dev->mem = &f->g.mem;
	f->dev->loop = f->loop;
	f->dev->notify = on_notify;
	f->dev->needs_reset = on_fail;
	f->dev->transport = f;
	start_dev(f, f->dev->host_features);
}

static void make_disk(const char *path, uint64_t bytes, int fill)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	uint8_t *buf = malloc(bytes ? bytes : 1);

	assert_true(fd >= 0 && buf);
	memset(buf, fill, bytes);
	assert_int_equal(pwrite(fd, buf, bytes, 0), (ssize_t)bytes);
	close(fd);
	free(buf);
}

static void read_disk(struct fake *f, uint64_t off, void *buf, size_t len)
{
	int fd = open(f->path, O_RDONLY | O_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, buf, len, off), (ssize_t)len);
	close(fd);
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	const char *tmp = getenv("TMPDIR");
	uint8_t *ram;
	int fd;

	if (!f)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/evvm-blk-XXXXXX", tmp ? tmp : "/tmp");
	fd = mkstemp(f->path);
	if (fd < 0)
		return -1;
	close(fd);
	make_disk(f->path, DISK_SECS * SECTOR, 0);
	ram = aligned_alloc(4096, RAM_SIZE);
	if (!ram)
		return -1;
	memset(ram, 0, RAM_SIZE);
	if (fg_init(&f->g, ram, RAM_GPA, RAM_SIZE, HEAP) || loop_create(&f->loop, "blk-test"))
		return -1;
	if (pthread_create(&f->thread, NULL, devtest_loop_thread, f->loop))
		return -1;
	f->running = true;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	if (f->dev && f->started)
		stop_dev(f);
	if (f->running) {
		loop_stop(f->loop);
		pthread_join(f->thread, NULL);
	}
	/* As virtio-mmio does: the device is destroyed after its I/O thread. */
	virtio_dev_destroy(f->dev);
	loop_destroy(f->loop);
	free(f->g.ram);
	unlink(f->path);
	free(f);
	return 0;
}

static uint32_t cfg32(struct fake *f, uint32_t off)
{
	uint32_t v;

	f->dev->ops->config_read(f->dev, off, &v, 4);
	return le32toh(v);
}

static uint64_t cfg64(struct fake *f, uint32_t off)
{
	uint64_t v;

	f->dev->ops->config_read(f->dev, off, &v, 8);
	return le64toh(v);
}

/* ---- tests ---- */

static void test_features_and_config(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = f->path };
	uint64_t feat;

	attach(f, &cfg);
	feat = f->dev->host_features;
	assert_string_equal(f->dev->ops->name, "blk");
	assert_int_equal(f->dev->ops->device_id, VIRTIO_ID_BLOCK);
	assert_int_equal(f->dev->ops->queue_max, 256);
	assert_int_equal(f->dev->ops->config_size, 60);
	for (int bit = 0; bit < 64; bit++) {
		static const int want[] = { VIRTIO_BLK_F_SEG_MAX, VIRTIO_BLK_F_BLK_SIZE,
					    VIRTIO_BLK_F_FLUSH, VIRTIO_F_EVENT_IDX,
					    VIRTIO_F_INDIRECT_DESC };
		bool wanted = false;

		for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
			wanted |= want[i] == bit;
		if (wanted)
			assert_true(feat & VIRTIO_BIT(bit));
	}
	assert_false(feat & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	assert_int_equal(cfg64(f, CFG_CAPACITY), DISK_SECS);
	assert_int_equal(cfg32(f, CFG_SEG_MAX), 254);
	assert_int_equal(cfg32(f, CFG_BLK_SIZE), 512);
	if (feat & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD)) {
		assert_true(cfg32(f, CFG_MAX_DISCARD_SECS) > 0);
		assert_true(cfg32(f, CFG_MAX_DISCARD_SEG) > 1);
		assert_true(cfg32(f, CFG_DISCARD_ALIGN) >= 1);
	} else {
		print_message("note: the file system of %s cannot punch holes\n", f->path);
	}
	if (feat & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES)) {
		assert_true(cfg32(f, CFG_MAX_WZ_SECS) > 0);
		assert_true(cfg32(f, CFG_MAX_WZ_SEG) > 1);
		assert_int_equal(cfg32(f, CFG_WZ_MAY_UNMAP) & 0xff, 1);
	}
}

static void fill_pattern(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 131 + seed * 7919) >> 3) ^ (uint8_t)seed;
}

static void test_write_read_back(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = f->path };
	uint8_t pattern[8 * SECTOR], back[8 * SECTOR];

	attach(f, &cfg);
	fill_pattern(pattern, sizeof(pattern), 1);
	assert_int_equal(run1(f, VIRTIO_BLK_T_OUT, 10, sizeof(pattern), false, pattern, NULL),
			 VIRTIO_BLK_S_OK);
	memset(back, 0, sizeof(back));
	assert_int_equal(run1(f, VIRTIO_BLK_T_IN, 10, sizeof(back), true, NULL, back),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(back, pattern, sizeof(pattern));
	/* And it is really in the file. */
	read_disk(f, 10 * SECTOR, back, sizeof(back));
	assert_memory_equal(back, pattern, sizeof(pattern));
	/* The last sector of the disk is reachable. */
	assert_int_equal(run1(f, VIRTIO_BLK_T_OUT, DISK_SECS - 1, SECTOR, false, pattern, NULL),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(run1(f, VIRTIO_BLK_T_IN, DISK_SECS - 1, SECTOR, true, NULL, back),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(back, pattern, SECTOR);
	assert_int_equal(atomic_load(&f->fails), 0);
	assert_true(atomic_load(&f->notifies) > 0);
}

/*
 * Header split over three buffers, data over several odd-sized ones, the
 * status byte at the end of the last data buffer.
 */
static void test_scattered_layout(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = f->path };
	uint8_t pattern[4 * SECTOR], back[4 * SECTOR];
	uint8_t hdr[16] = { 0 };
	uint64_t h, d;
	struct fg_seg segs[8];
	struct vring_used_elem u;

	attach(f, &cfg);
	fill_pattern(pattern, sizeof(pattern), 2);

	/* Write: header 5+7+4 bytes, then the last header bytes share a buffer with data. */
	drv_reset(f);
	hdr[0] = VIRTIO_BLK_T_OUT;
	hdr[8] = 33; /* sector */
	h = galloc(f, 16);
	memcpy(hva(f, h), hdr, 16);
	d = galloc(f, sizeof(pattern) + 4);
	memcpy(hva(f, d), hdr + 12, 4); /* header bytes 12..15, then data */
	memcpy(hva(f, d + 4), pattern, sizeof(pattern));
	segs[0] = (struct fg_seg){ h, 5, false };
	segs[1] = (struct fg_seg){ h + 5, 7, false };
	segs[2] = (struct fg_seg){ d, 1000 + 4, false };
	segs[3] = (struct fg_seg){ d + 1004, sizeof(pattern) - 1000, false };
	segs[4] = (struct fg_seg){ galloc(f, 1), 1, true };
	*(uint8_t *)hva(f, segs[4].gpa) = S_UNSET;
	u = complete1(f, post_chain(f, segs, 5));
	assert_int_equal(u.len, 1);
	assert_int_equal(*(uint8_t *)hva(f, segs[4].gpa), VIRTIO_BLK_S_OK);
	read_disk(f, 33 * SECTOR, back, sizeof(back));
	assert_memory_equal(back, pattern, sizeof(pattern));

	/* Read: data in 3 writable buffers, the last one ending with the status byte. */
	drv_reset(f);
	hdr[0] = VIRTIO_BLK_T_IN;
	h = galloc(f, 16);
	memcpy(hva(f, h), hdr, 16);
	d = galloc(f, sizeof(pattern) + 1);
	memset(hva(f, d), 0, sizeof(pattern) + 1);
	segs[0] = (struct fg_seg){ h, 16, false };
	segs[1] = (struct fg_seg){ d, 511, true };
	segs[2] = (struct fg_seg){ d + 511, 2, true };
	segs[3] = (struct fg_seg){ d + 513, sizeof(pattern) - 513 + 1, true };
	*(uint8_t *)hva(f, d + sizeof(pattern)) = S_UNSET;
	u = complete1(f, post_chain(f, segs, 4));
	assert_int_equal(u.len, sizeof(pattern) + 1);
	assert_int_equal(*(uint8_t *)hva(f, d + sizeof(pattern)), VIRTIO_BLK_S_OK);
	assert_memory_equal(hva(f, d), pattern, sizeof(pattern));
}

static void test_flush(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = f->path };
	uint8_t pattern[SECTOR];

	attach(f, &cfg);
	fill_pattern(pattern, sizeof(pattern), 3);
	assert_int_equal(run1(f, VIRTIO_BLK_T_OUT, 0, sizeof(pattern), false, pattern, NULL),
			 VIRTIO_BLK_S_OK);
	assert_int_equal(run1(f, VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL, NULL), VIRTIO_BLK_S_OK);
}

/*
 * A driver that did not negotiate FLUSH gets write-through (5.2.6.4): writes
 * go with RWF_DSYNC, discard/write-zeroes end with an fdatasync. Here only
 * the results are visible.
 */
static void test_writethrough(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = f->path };
	uint8_t pattern[4 * SECTOR], back[4 * SECTOR];
	uint64_t sec = 2;
	uint32_t num = 2, flags = 0;

	make_disk(f->path, DISK_SECS * SECTOR, 0xaa);
	attach(f, &cfg);
	stop_dev(f);
	start_dev(f, f->dev->host_features & ~VIRTIO_BIT(VIRTIO_BLK_F_FLUSH));
	fill_pattern(pattern, sizeof(pattern), 5);
	assert_int_equal(run1(f, VIRTIO_BLK_T_OUT, 0, sizeof(pattern), false, pattern, NULL),
			 VIRTIO_BLK_S_OK);
	read_disk(f, 0, back, sizeof(back));
	assert_memory_equal(back, pattern, sizeof(pattern));
	if (f->dev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES)) {
		assert_int_equal(run_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, &sec, &num, &flags, 1),
				 VIRTIO_BLK_S_OK);
		memset(pattern + 2 * SECTOR, 0, 2 * SECTOR);
		read_disk(f, 0, back, sizeof(back));
		assert_memory_equal(back, pattern, sizeof(pattern));
	}
}

static void test_out_of_range(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = f->path };
	uint8_t buf[2 * SECTOR] = { 0 };

	attach(f, &cfg);
	/* Past the end, across the end, and sectors whose byte offset overflows. */
	assert_int_equal(run1(f, VIRTIO_BLK_T_IN, DISK_SECS, SECTOR, true, NULL, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(run1(f, VIRTIO_BLK_T_IN, DISK_SECS - 1, 2 * SECTOR, true, NULL, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(run1(f, VIRTIO_BLK_T_OUT, DISK_SECS - 1, 2 * SECTOR, false, buf, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(run1(f, VIRTIO_BLK_T_IN, UINT64_MAX, SECTOR, true, NULL, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(run1(f, VIRTIO_BLK_T_OUT, UINT64_MAX >> 9, SECTOR, false, buf, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(run1(f, VIRTIO_BLK_T_IN, (UINT64_MAX >> 9) + 1, SECTOR, true, NULL, NULL),
			 VIRTIO_BLK_S_IOERR);
	/* The file did not grow. */
	{
		struct stat st;

		assert_int_equal(stat(f->path, &st), 0);
		assert_int_equal(st.st_size, DISK_SECS * SECTOR);
	}
	assert_int_equal(atomic_load(&f->fails), 0);
}

static void test_malformed_requests(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = f->path };
	uint8_t buf[SECTOR], back[SECTOR], zero[SECTOR] = { 0 };
	struct vring_used_elem u;
	struct fg_seg segs[3];
	uint64_t h;

	attach(f, &cfg);
	fill_pattern(buf, sizeof(buf), 4);
	/* Data not a multiple of 512. */
	assert_int_equal(run1(f, VIRTIO_BLK_T_IN, 0, 100, true, NULL, NULL), VIRTIO_BLK_S_IOERR);
	assert_int_equal(run1(f, VIRTIO_BLK_T_OUT, 0, SECTOR - 1, false, buf, NULL),
			 VIRTIO_BLK_S_IOERR);
	read_disk(f, 0, back, sizeof(back));
	assert_memory_equal(back, zero, sizeof(zero));
	/* Unknown and unsupported types. */
	assert_int_equal(run1(f, 99, 0, 0, false, NULL, NULL), VIRTIO_BLK_S_UNSUPP);
	assert_int_equal(run1(f, VIRTIO_BLK_T_GET_LIFETIME, 0, 8, true, NULL, NULL),
			 VIRTIO_BLK_S_UNSUPP);

	/* Header too short: 8 readable bytes. */
	drv_reset(f);
	h = galloc(f, 16);
	memset(hva(f, h), 0, 16);
	segs[0] = (struct fg_seg){ h, 8, false };
	segs[1] = (struct fg_seg){ galloc(f, SECTOR), SECTOR, true };
	segs[2] = (struct fg_seg){ galloc(f, 1), 1, true };
	*(uint8_t *)hva(f, segs[2].gpa) = S_UNSET;
	u = complete1(f, post_chain(f, segs, 3));
	assert_int_equal(u.len, 1);
	assert_int_equal(*(uint8_t *)hva(f, segs[2].gpa), VIRTIO_BLK_S_IOERR);
	assert_int_equal(atomic_load(&f->fails), 0);

	/* The device still works. */
	assert_int_equal(run1(f, VIRTIO_BLK_T_OUT, 0, SECTOR, false, buf, NULL), VIRTIO_BLK_S_OK);
}

/* A chain with no device-writable byte cannot be answered: the device fails. */
static void test_no_status_byte(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = f->path };
	struct fg_seg segs[2];
	uint64_t h;

	attach(f, &cfg);
	h = galloc(f, 16);
	memset(hva(f, h), 0, 16);
	segs[0] = (struct fg_seg){ h, 16, false };
	segs[1] = (struct fg_seg){ galloc(f, SECTOR), SECTOR, false };
	post_chain(f, segs, 2);
	kick(f);
	assert_int_equal(atomic_load(&f->fails), 1);
	assert_int_equal(used_idx(f), 0);
	/* Nothing more is popped until reset. */
	post_req(f, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	kick(f);
	assert_int_equal(used_idx(f), 0);
	assert_int_equal(atomic_load(&f->fails), 1);
}

static void test_malformed_chain(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = f->path };
	struct fg_seg segs[3];
	uint64_t h;
	struct req r;

	attach(f, &cfg);
	/* A good request first, then one whose data buffer lies outside guest RAM. */
	r = post_req(f, VIRTIO_BLK_T_FLUSH, 0, 0, false);
	h = galloc(f, 16);
	memset(hva(f, h), 0, 16);
	segs[0] = (struct fg_seg){ h, 16, false };
	segs[1] = (struct fg_seg){ RAM_GPA + RAM_SIZE - 256, 512, true }; /* runs off the end */
	segs[2] = (struct fg_seg){ galloc(f, 1), 1, true };
	post_chain(f, segs, 3);
	kick(f);
	assert_int_equal(atomic_load(&f->fails), 1);
	/*
	 * The flush was in flight when the queue broke: it completes, but the
	 * device no longer touches the ring.
	 */
	usleep(20000);
	assert_int_equal(used_idx(f), 0);
	assert_int_equal(*r.status, S_UNSET);
	kick(f);
	assert_int_equal(atomic_load(&f->fails), 1);

	/* A reset (stop, fresh queue, start) brings it back. */
	stop_dev(f);
	atomic_store(&f->fails, 0);
	start_dev(f, f->dev->host_features);
	assert_int_equal(run1(f, VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL, NULL), VIRTIO_BLK_S_OK);
}

static void test_readonly(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = f->path, .readonly = true };
	struct blk_config rw = { .path = f->path };
	struct evvm_virtio_dev *other = NULL;
	uint8_t buf[SECTOR], back[SECTOR];

	make_disk(f->path, DISK_SECS * SECTOR, 0x5a);
	attach(f, &cfg);
	assert_true(f->dev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_RO));
	assert_false(f->dev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD));
	assert_false(f->dev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_WRITE_ZEROES));
	memset(buf, 0x11, sizeof(buf));
	assert_int_equal(run1(f, VIRTIO_BLK_T_OUT, 0, SECTOR, false, buf, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(run1(f, VIRTIO_BLK_T_DISCARD, 0, 16, false, NULL, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(run1(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 16, false, NULL, NULL),
			 VIRTIO_BLK_S_IOERR);
	read_disk(f, 0, back, sizeof(back));
	memset(buf, 0x5a, sizeof(buf));
	assert_memory_equal(back, buf, sizeof(buf));
	assert_int_equal(run1(f, VIRTIO_BLK_T_IN, 0, SECTOR, true, NULL, back), VIRTIO_BLK_S_OK);
	assert_memory_equal(back, buf, sizeof(buf));
	assert_int_equal(run1(f, VIRTIO_BLK_T_FLUSH, 0, 0, false, NULL, NULL), VIRTIO_BLK_S_OK);

	/* Readers share the disk; a writer is kept out. */
	assert_int_equal(blk_create("blk1", &cfg, &other), 0);
	virtio_dev_destroy(other);
	other = NULL;
	assert_int_equal(blk_create("blk1", &rw, &other), -EBUSY);
	assert_null(other);
}

static void test_get_id(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = f->path, .serial = "evvm-disk-0001" };
	struct blk_config full = { .path = f->path, .serial = "ABCDEFGHIJ0123456789" };
	struct blk_config toolong = { .path = f->path, .serial = "ABCDEFGHIJ0123456789X" };
	struct evvm_virtio_dev *other = NULL;
	char id[20], want[20] = "evvm-disk-0001";
	struct req r;
	struct vring_used_elem u;

	attach(f, &cfg);
	assert_int_equal(run1(f, VIRTIO_BLK_T_GET_ID, 0, 20, true, NULL, id), VIRTIO_BLK_S_OK);
	assert_memory_equal(id, want, 20); /* NUL-padded */
	/* Used length: 20 bytes of ID and the status byte. */
	drv_reset(f);
	r = post_req(f, VIRTIO_BLK_T_GET_ID, 0, 20, true);
	u = complete1(f, r.head);
	assert_int_equal(u.len, 21);
	assert_int_equal(*r.status, VIRTIO_BLK_S_OK);
	stop_dev(f);
	virtio_dev_destroy(f->dev);
	f->dev = NULL;

	/* 20 bytes: no terminator. Default: the device id. */
	attach(f, &full);
	assert_int_equal(run1(f, VIRTIO_BLK_T_GET_ID, 0, 20, true, NULL, id), VIRTIO_BLK_S_OK);
	assert_memory_equal(id, "ABCDEFGHIJ0123456789", 20);
	stop_dev(f);
	virtio_dev_destroy(f->dev);
	f->dev = NULL;
	cfg.serial = NULL;
	attach(f, &cfg);
	assert_int_equal(run1(f, VIRTIO_BLK_T_GET_ID, 0, 20, true, NULL, id), VIRTIO_BLK_S_OK);
	memset(want, 0, sizeof(want));
	strcpy(want, "blk0");
	assert_memory_equal(id, want, 20);

	assert_int_equal(blk_create("blk1", &toolong, &other), -EINVAL);
	assert_null(other);
}

/* Post a discard/write-zeroes request with @n segments. */
static struct req post_dwz(struct fake *f, uint32_t type, const uint64_t *sector,
			   const uint32_t *num, const uint32_t *flags, unsigned int n)
{
	uint64_t hdr = galloc(f, 16), data = galloc(f, 16 * n), st = galloc(f, 1);
	uint32_t t = htole32(type);
	struct fg_seg segs[3];
	struct req r = { .status = hva(f, st), .data = data };

	memset(hva(f, hdr), 0, 16);
	memcpy(hva(f, hdr), &t, 4);
	for (unsigned int i = 0; i < n; i++) {
		uint64_t s = htole64(sector[i]);
		uint32_t c = htole32(num[i]), fl = htole32(flags[i]);
		uint8_t *p = hva(f, data + 16 * i);

		memcpy(p, &s, 8);
		memcpy(p + 8, &c, 4);
		memcpy(p + 12, &fl, 4);
	}
	*r.status = S_UNSET;
	segs[0] = (struct fg_seg){ hdr, 16, false };
	segs[1] = (struct fg_seg){ data, 16 * n, false };
	segs[2] = (struct fg_seg){ st, 1, true };
	r.head = post_chain(f, segs, 3);
	return r;
}

static uint8_t run_dwz(struct fake *f, uint32_t type, const uint64_t *sector, const uint32_t *num,
		       const uint32_t *flags, unsigned int n)
{
	struct req r;
	struct vring_used_elem u;

	drv_reset(f);
	r = post_dwz(f, type, sector, num, flags, n);
	u = complete1(f, r.head);
	assert_int_equal(u.len, 1);
	return *r.status;
}

/* Sectors [first, first + n) of the file hold @byte. */
static void assert_disk_bytes(struct fake *f, uint64_t first, uint64_t n, int byte)
{
	uint8_t *back = malloc(n * SECTOR), *want = malloc(n * SECTOR);

	assert_non_null(back);
	assert_non_null(want);
	read_disk(f, first * SECTOR, back, n * SECTOR);
	memset(want, byte, n * SECTOR);
	assert_memory_equal(back, want, n * SECTOR);
	free(back);
	free(want);
}

static void test_discard_write_zeroes(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = f->path };
	uint64_t sec[40];
	uint32_t num[40], flags[40] = { 0 };
	uint8_t back[8 * SECTOR], zero[8 * SECTOR] = { 0 };

	make_disk(f->path, DISK_SECS * SECTOR, 0xaa);
	attach(f, &cfg);
	if (!(f->dev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_DISCARD))) {
		print_message("skipped: %s cannot punch holes\n", f->path);
		skip();
	}

	/* Discard reads back zeroes here (punched holes); neighbours untouched. */
	sec[0] = 64;
	num[0] = 16;
	assert_int_equal(run_dwz(f, VIRTIO_BLK_T_DISCARD, sec, num, flags, 1), VIRTIO_BLK_S_OK);
	assert_disk_bytes(f, 64, 16, 0);
	assert_disk_bytes(f, 63, 1, 0xaa);
	assert_disk_bytes(f, 80, 1, 0xaa);
	assert_int_equal(run1(f, VIRTIO_BLK_T_IN, 64, sizeof(back), true, NULL, back),
			 VIRTIO_BLK_S_OK);
	assert_memory_equal(back, zero, sizeof(back));

	/* Write zeroes, without and with unmap, three segments (one empty). */
	sec[0] = 100, num[0] = 3, flags[0] = 0;
	sec[1] = 200, num[1] = 0, flags[1] = 0;
	sec[2] = 300, num[2] = 9, flags[2] = 1;
	assert_int_equal(run_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, sec, num, flags, 3),
			 VIRTIO_BLK_S_OK);
	assert_disk_bytes(f, 100, 3, 0);
	assert_disk_bytes(f, 103, 1, 0xaa);
	assert_disk_bytes(f, 200, 1, 0xaa);
	assert_disk_bytes(f, 300, 9, 0);
	assert_disk_bytes(f, 299, 1, 0xaa);
	assert_disk_bytes(f, 309, 1, 0xaa);
	/* Up to the last sector. */
	sec[0] = DISK_SECS - 2, num[0] = 2, flags[0] = 0;
	assert_int_equal(run_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, sec, num, flags, 1),
			 VIRTIO_BLK_S_OK);
	assert_disk_bytes(f, DISK_SECS - 2, 2, 0);

	/* 5.2.6.2: unmap on a discard, or an unknown flag: UNSUPP. */
	sec[0] = 400, num[0] = 1, flags[0] = 1;
	assert_int_equal(run_dwz(f, VIRTIO_BLK_T_DISCARD, sec, num, flags, 1), VIRTIO_BLK_S_UNSUPP);
	flags[0] = 2;
	assert_int_equal(run_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, sec, num, flags, 1),
			 VIRTIO_BLK_S_UNSUPP);
	/* A bad segment after a good one: nothing is done. */
	sec[0] = 400, num[0] = 1, flags[0] = 0;
	sec[1] = DISK_SECS - 1, num[1] = 2, flags[1] = 0;
	assert_int_equal(run_dwz(f, VIRTIO_BLK_T_WRITE_ZEROES, sec, num, flags, 2),
			 VIRTIO_BLK_S_IOERR);
	assert_disk_bytes(f, 400, 1, 0xaa);
	sec[1] = UINT64_MAX, num[1] = 1;
	assert_int_equal(run_dwz(f, VIRTIO_BLK_T_DISCARD, sec, num, flags, 2), VIRTIO_BLK_S_IOERR);
	assert_disk_bytes(f, 400, 1, 0xaa);
	/* More segments than max_discard_seg. */
	for (unsigned int i = 0; i < 40; i++)
		sec[i] = 400 + i, num[i] = 1, flags[i] = 0;
	assert_int_equal(run_dwz(f, VIRTIO_BLK_T_DISCARD, sec, num, flags,
				 cfg32(f, CFG_MAX_DISCARD_SEG) + 1),
			 VIRTIO_BLK_S_IOERR);
	assert_disk_bytes(f, 400, 1, 0xaa);
	assert_int_equal(
		run_dwz(f, VIRTIO_BLK_T_DISCARD, sec, num, flags, cfg32(f, CFG_MAX_DISCARD_SEG)),
		VIRTIO_BLK_S_OK);
	assert_disk_bytes(f, 400, cfg32(f, CFG_MAX_DISCARD_SEG), 0);
	/* Data that is not whole segments. */
	assert_int_equal(run1(f, VIRTIO_BLK_T_DISCARD, 0, 15, false, zero, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(run1(f, VIRTIO_BLK_T_WRITE_ZEROES, 0, 0, false, NULL, NULL),
			 VIRTIO_BLK_S_IOERR);
	assert_int_equal(atomic_load(&f->fails), 0);
}

/* The file shrank under the device: a short read, then end of file -> IOERR. */
static void test_short_read_at_eof(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = f->path };
	struct req r;
	struct vring_used_elem u;

	make_disk(f->path, DISK_SECS * SECTOR, 0x77);
	attach(f, &cfg);
	assert_int_equal(truncate(f->path, (DISK_SECS - 2) * SECTOR), 0);
	drv_reset(f);
	r = post_req(f, VIRTIO_BLK_T_IN, DISK_SECS - 4, 4 * SECTOR, true);
	memset(hva(f, r.data), 0, 4 * SECTOR);
	u = complete1(f, r.head);
	assert_int_equal(*r.status, VIRTIO_BLK_S_IOERR);
	/* What was read is reported: two sectors and the status byte. */
	assert_int_equal(u.len, 2 * SECTOR + 1);
	assert_int_equal(((uint8_t *)hva(f, r.data))[2 * SECTOR - 1], 0x77);
}

/* 64 requests made available at once each complete exactly once. */
static void many_in_flight(struct fake *f, uint64_t features)
{
	struct blk_config cfg = { .path = f->path };
	enum { N = 64, LEN = 8 * SECTOR };
	struct req r[N];
	unsigned int seen[N] = { 0 };
	uint8_t pattern[LEN];
	uint16_t first;
	double t0;
	int rounds = 0;

	attach(f, &cfg);
	if (features != f->dev->host_features) {
		stop_dev(f);
		start_dev(f, features);
	}
	drv_reset(f);
	for (unsigned int i = 0; i < N; i++) {
		r[i] = post_req(f, VIRTIO_BLK_T_OUT, i * 8, LEN, false);
		fill_pattern(hva(f, r[i].data), LEN, 100 + i);
	}
	kick(f);
	first = wait_used(f, N);
	usleep(20000);
	assert_int_equal(used_idx(f), (uint16_t)(first + N)); /* nothing more */
	for (unsigned int i = 0; i < N; i++) {
		struct vring_used_elem u = used_elem(f, first + i);
		unsigned int k;

		for (k = 0; k < N && r[k].head != u.id; k++)
			;
		assert_true(k < N);
		seen[k]++;
		assert_int_equal(u.len, 1);
	}
	for (unsigned int i = 0; i < N; i++) {
		assert_int_equal(seen[i], 1);
		assert_int_equal(*r[i].status, VIRTIO_BLK_S_OK);
	}

	/* Read them all back at once, a few rounds, and time it (not a benchmark). */
	t0 = now_s();
	do {
		drv_reset(f);
		for (unsigned int i = 0; i < N; i++)
			r[i] = post_req(f, VIRTIO_BLK_T_IN, i * 8, LEN, true);
		kick(f);
		first = wait_used(f, N);
		rounds++;
	} while (now_s() - t0 < 0.2);
	for (unsigned int i = 0; i < N; i++) {
		fill_pattern(pattern, LEN, 100 + i);
		assert_int_equal(*r[i].status, VIRTIO_BLK_S_OK);
		assert_memory_equal(hva(f, r[i].data), pattern, LEN);
	}
	print_message("%s: %d x %d reads of 4 KiB: %.0f requests/s, %d interrupts\n",
		      features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX) ? "event idx" : "no event idx",
		      rounds, N, rounds * N / (now_s() - t0), atomic_load(&f->notifies));
	assert_true(atomic_load(&f->notifies) >= 1);
	assert_int_equal(atomic_load(&f->fails), 0);
}

static void test_many_in_flight(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = f->path };
	struct evvm_virtio_dev *probe;

	assert_int_equal(blk_create("probe", &cfg, &probe), 0);
	uint64_t all = probe->host_features;
	virtio_dev_destroy(probe);
	many_in_flight(f, all);
}

static void test_many_in_flight_no_event_idx(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = f->path };
	struct evvm_virtio_dev *probe;

	assert_int_equal(blk_create("probe", &cfg, &probe), 0);
	uint64_t feat = probe->host_features & ~VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	virtio_dev_destroy(probe);
	many_in_flight(f, feat);
}

static int kick_then_stop(void *opaque)
{
	struct evvm_virtio_dev *dev = opaque;

	dev->ops->kick(dev, 0);
	dev->ops->stop(dev);
	return 0;
}

/*
 * stop() with reads in flight (from disk, not the page cache): it returns
 * only once they are done, and afterwards nothing changes in guest memory.
 * A read that completed before stop() began may have been pushed (how many
 * depends on the disk and the scheduler); each pushed one is whole and
 * right, and one not pushed has no status.
 */
static void test_stop_in_flight(void **state)
{
	struct fake *f = *state;
	enum { N = 64, LEN = 64 * 1024 };
	struct blk_config cfg = { .path = f->path };
	struct req r[N];
	uint8_t *snap = malloc(N * LEN), *fill = malloc(LEN), status[N];
	bool pushed[N] = { false };
	uint16_t used;
	int notifies;
	double t0, t1;
	int fd;

	assert_non_null(snap);
	assert_non_null(fill);
	memset(fill, 0x3c, LEN);
	make_disk(f->path, (uint64_t)N * LEN, 0x3c);
	/* Out of the page cache, so the reads really wait for the disk. */
	fd = open(f->path, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(fsync(fd), 0);
	assert_int_equal(posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED), 0);
	close(fd);

	attach(f, &cfg);
	drv_reset(f);
	/*
	 * Last sector first: reads in file order let readahead fill the cache
	 * behind the first one, and a slow build (ASan) then finds the later
	 * ones cached and completes them inline, before stop().
	 */
	for (unsigned int i = 0; i < N; i++) {
		r[i] = post_req(f, VIRTIO_BLK_T_IN, (uint64_t)(N - 1 - i) * LEN / SECTOR, LEN,
				true);
		memset(hva(f, r[i].data), 0, LEN);
	}
	t0 = now_s();
	loop_call(f->loop, kick_then_stop, f->dev);
	t1 = now_s();
	vq_reset(&f->dev->vqs[0]);
	f->started = false;
	for (unsigned int i = 0; i < N; i++) {
		memcpy(snap + (size_t)i * LEN, hva(f, r[i].data), LEN);
		status[i] = *r[i].status;
	}
	used = used_idx(f);
	notifies = atomic_load(&f->notifies);
	assert_true(used <= N);
	for (uint16_t u = 0; u < used; u++) {
		struct vring_used_elem e;
		unsigned int i;

		assert_int_equal(fg_used_elem(&f->g, &f->q, u, &e), 0);
		for (i = 0; i < N && r[i].head != e.id; i++)
			;
		assert_true(i < N);
		assert_false(pushed[i]);
		pushed[i] = true;
		assert_int_equal(status[i], VIRTIO_BLK_S_OK);
		assert_memory_equal(snap + (size_t)i * LEN, fill, LEN);
	}
	for (unsigned int i = 0; i < N; i++)
		assert_true(pushed[i] || status[i] == S_UNSET);
	usleep(50000);
	assert_int_equal(used_idx(f), used);
	assert_int_equal(atomic_load(&f->notifies), notifies);
	for (unsigned int i = 0; i < N; i++) {
		assert_int_equal(*r[i].status, status[i]);
		assert_memory_equal(snap + (size_t)i * LEN, hva(f, r[i].data), LEN);
	}
	print_message("kick + stop with %d x 64 KiB uncached reads: %.2f ms, %u completed first\n",
		      N, (t1 - t0) * 1e3, used);

	/* Started again on a fresh ring, it works. */
	start_dev(f, f->dev->host_features);
	{
		uint8_t back[SECTOR], want[SECTOR];

		memset(want, 0x3c, sizeof(want));
		assert_int_equal(run1(f, VIRTIO_BLK_T_IN, 5, SECTOR, true, NULL, back),
				 VIRTIO_BLK_S_OK);
		assert_memory_equal(back, want, sizeof(want));
	}
	free(fill);
	free(snap);
}

/* Run blk_create() with stderr captured into @msg. */
static int create_capture(const struct blk_config *cfg, char *msg, size_t size)
{
	char path[] = "/tmp/evvm-blk-err-XXXXXX";
	struct evvm_virtio_dev *dev = NULL;
	int saved = dup(STDERR_FILENO), fd = mkstemp(path), err;
	ssize_t n;

	assert_true(saved >= 0 && fd >= 0);
	unlink(path);
	fflush(stderr);
	dup2(fd, STDERR_FILENO);
	err = blk_create("blk9", cfg, &dev);
	dup2(saved, STDERR_FILENO);
	close(saved);
	n = pread(fd, msg, size - 1, 0);
	close(fd);
	msg[n > 0 ? n : 0] = 0;
	if (!err)
		virtio_dev_destroy(dev);
	else
		assert_null(dev);
	return err;
}

static void test_open_errors(void **state)
{
	struct fake *f = *state;
	struct blk_config cfg = { .path = "/nonexistent/disk.img" };
	struct evvm_virtio_dev *holder;
	char msg[512];

	assert_int_equal(create_capture(&cfg, msg, sizeof(msg)), -ENOENT);
	assert_string_equal(msg,
			    "evvm: disk '/nonexistent/disk.img': open: ENOENT (No such file or "
			    "directory)\n");

	cfg.path = "/tmp";
	cfg.readonly = true; /* a directory opens read-only */
	assert_int_equal(create_capture(&cfg, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "disk '/tmp': "));
	assert_non_null(strstr(msg, "not a regular file or a block device"));

	make_disk(f->path, 1000, 0);
	cfg.path = f->path;
	cfg.readonly = false;
	assert_int_equal(create_capture(&cfg, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "size 1000 is not a multiple of 512 bytes"));

	/* One writer at a time, and no reader beside a writer. */
	make_disk(f->path, 4096, 0);
	assert_int_equal(blk_create("blk0", &cfg, &holder), 0);
	assert_int_equal(create_capture(&cfg, msg, sizeof(msg)), -EBUSY);
	assert_non_null(strstr(msg, "disk '"));
	assert_non_null(strstr(msg, "': in use by another process"));
	cfg.readonly = true;
	assert_int_equal(create_capture(&cfg, msg, sizeof(msg)), -EBUSY);
	virtio_dev_destroy(holder);
	/* Released with the device. */
	cfg.readonly = false;
	assert_int_equal(create_capture(&cfg, msg, sizeof(msg)), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_captured_setup_teardown(test_features_and_config, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_write_read_back, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_scattered_layout, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_flush, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_writethrough, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_out_of_range, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_malformed_requests, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_no_status_byte, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_malformed_chain, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_readonly, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_get_id, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_discard_write_zeroes, setup,
							 teardown),
		cmocka_unit_test_captured_setup_teardown(test_short_read_at_eof, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_many_in_flight, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_many_in_flight_no_event_idx, setup,
							 teardown),
		cmocka_unit_test_captured_setup_teardown(test_stop_in_flight, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_open_errors, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
