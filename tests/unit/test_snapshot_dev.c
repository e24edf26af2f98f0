// SPDX-License-Identifier: MIT
/*
 * A virtio device's part of a snapshot, no KVM: the transport state
 * (vmm/virtio_state.c) of a good file loads; each corrupt field (status
 * bits, ISR, features not offered or without VERSION_1, queues the device
 * lacks, sizes, flags, rings outside RAM or misaligned, a used index the
 * ring does not hold) is refused with a line naming the file, the device
 * and the fault. A device's own bytes (devices/persist.c): a saved disk
 * builds again, and a short, inconsistent or out-of-range one, a disk of
 * another size, a device type evvm cannot restore, are refused; a disk's
 * bucket levels come back as saved (format 3) or full (format 2's layout),
 * and impossible levels are refused; a hostile net state is refused
 * before a tap is touched (test_net.c saves and loads a real one).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/devices.h>
#include <evvm/virtio.h>

#include "../../devices/persist.h"
#include "capture.h"
#include "virtio_state.h"

#define RAM_GPA	 0x100000ULL
#define RAM_SIZE 0x100000ULL
#define FILE	 "f.state"

static const struct evvm_device_ops fake_ops = {
	.name = "rng",
	.device_id = VIRTIO_ID_RNG,
	.nr_queues = 1,
	.queue_max = 256,
};

#define OFFERED                                                            \
	(VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | \
	 VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC))

struct fx {
	struct evvm_mem mem;
	uint8_t *ram;
	struct evvm_virtio_dev dev;
	struct virtio_state s;
	char log[4096];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct evvm_mem_region r = { .gpa = RAM_GPA, .size = RAM_SIZE, .fd = -1 };

	assert_non_null(f);
	f->ram = calloc(1, RAM_SIZE);
	assert_non_null(f->ram);
	r.hva = f->ram;
	mem_init(&f->mem);
	assert_int_equal(mem_add_region(&f->mem, &r), 0);
	f->dev.ops = &fake_ops;
	f->dev.mem = &f->mem;
	strcpy(f->dev.id, "rng0");
	/* A driver that started the device and used queue 0 a little. */
	f->s = (struct virtio_state){
		.device_id = VIRTIO_ID_RNG,
		.nr_queues = 1,
		.status = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			  VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK,
		.offered = OFFERED,
		.driver_features = VIRTIO_BIT(VIRTIO_F_VERSION_1) | VIRTIO_BIT(VIRTIO_F_EVENT_IDX),
	};
	f->s.q[0] = (struct virtio_state_queue){
		.desc = RAM_GPA,
		.avail = RAM_GPA + 0x1000,
		.used = RAM_GPA + 0x2000,
		.num = 256,
		.last_avail = 7,
		.used_idx = 7,
		.ready = 1,
	};
	/* used->idx in guest memory, as the device published it. */
	f->ram[0x2002] = 7;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	vq_reset(&f->dev.vqs[0]);
	free(f->ram);
	free(f);
	return 0;
}

/* Check and load queue 0 of f->s; the result, with the log in f->log. */
static int check_and_load(struct fx *f)
{
	int err;

	capture_begin();
	err = virtio_state_check(&f->s, &f->dev, OFFERED, FILE);
	if (!err)
		err = virtio_state_load_queue(&f->s, &f->dev, 0, "rng0.q0", FILE);
	capture_end(f->log, sizeof(f->log), false);
	return err;
}

static void expect_refused(struct fx *f, const char *needle)
{
	assert_int_equal(check_and_load(f), -EINVAL);
	if (!strstr(f->log, "snapshot '" FILE "': rng0: ") || !strstr(f->log, needle))
		fail_msg("want '%s' naming the file and device, got:\n%s", needle, f->log);
}

static void test_good_state_loads(void **state)
{
	struct fx *f = *state;
	struct vq_base b;

	assert_int_equal(check_and_load(f), 0);
	assert_true(f->dev.vqs[0].ready);
	vq_get_base(&f->dev.vqs[0], &b);
	assert_int_equal(b.last_avail, 7);
	assert_int_equal(b.used_idx, 7);
}

/*
 * A chain a paused device still holds (blk's rate-limited request) goes
 * back to the avail ring: saved last_avail is before it, unpopped counts
 * it, and a restore takes it again at the same avail entry.
 */
static void test_held_chain_given_back(void **state)
{
	struct fx *f = *state;
	struct virtio_state out = f->s;
	struct evvm_vq *vq = &f->dev.vqs[0];
	struct vq_base b;

	assert_int_equal(check_and_load(f), 0);
	vq->last_avail = 9; /* two more popped ... */
	vq->inflight = 1;   /* ... one pushed (used_idx 7 -> 8), one held */
	vq->used_idx = 8;
	f->ram[0x2002] = 8;
	virtio_state_save_queue(&out.q[0], vq);
	assert_int_equal(out.q[0].last_avail, 8);
	assert_int_equal(out.q[0].unpopped, 1);
	assert_int_equal(out.q[0].used_idx, 8);
	f->s = out;
	assert_int_equal(check_and_load(f), 0);
	vq_get_base(vq, &b);
	assert_int_equal(b.last_avail, 8);
	assert_int_equal(vq->inflight, 0);
}

#define CASE(name, change, needle)         \
	static void name(void **state)     \
	{                                  \
		struct fx *f = *state;     \
		change;                    \
		expect_refused(f, needle); \
	}

CASE(test_wrong_type, f->s.device_id = VIRTIO_ID_BLOCK, "device type or queue count")
CASE(test_status_unknown_bit, f->s.status |= 0x20, "device status has unknown bits")
CASE(test_driver_ok_alone, f->s.status &= ~VIRTIO_STATUS_FEATURES_OK,
     "DRIVER_OK without FEATURES_OK")
CASE(test_isr_unknown, f->s.isr = 4, "interrupt status has unknown bits")
CASE(test_feature_not_offered, f->s.driver_features |= VIRTIO_BIT(40),
     "driver features include some the device does not offer")
CASE(test_no_version_1, f->s.driver_features &= ~VIRTIO_BIT(VIRTIO_F_VERSION_1),
     "accepted without VERSION_1")
CASE(test_queue_beyond_device, f->s.q[3].num = 8, "queue 3 (size 8) is set up, but the device")
CASE(test_flag_not_bool, f->s.q[0].ready = 2, "flags other than 0 and 1")
CASE(test_reserved_set, f->s.q[0].reserved = 1, "reserved bits set")
CASE(test_size_not_pow2, f->s.q[0].num = 100, "queue 0 (size 100) has a size that is not a power")
CASE(test_size_zero, f->s.q[0].num = 0, "not a power of 2")
CASE(test_size_too_big, f->s.q[0].num = 512, "larger than the device's largest queue")
CASE(test_unpopped_too_many, f->s.q[0].unpopped = 257, "more chains given back")
CASE(test_ready_before_features, f->s.status = VIRTIO_STATUS_ACKNOWLEDGE,
     "ready before the features were accepted")
CASE(test_ring_outside_ram, f->s.q[0].used = RAM_GPA + RAM_SIZE - 8,
     "queue 0: rings not in guest RAM")
CASE(test_ring_misaligned, f->s.q[0].desc = RAM_GPA + 8, "queue 0: rings not in guest RAM")
CASE(test_used_idx_mismatch, f->s.q[0].used_idx = 8,
     "used index 8, but the memory file's ring has 7")

/* A saved disk in format 3: the header, then @path; returns its length. */
static size_t disk_state(char *buf, uint64_t capacity, const char *path)
{
	struct blk_persist p = {
		.cfg = {
			.capacity = capacity,
			.path_len = (uint32_t)strlen(path),
			.serial = "serial-1",
		},
	};

	memcpy(buf, &p, sizeof(p));
	memcpy(buf + sizeof(p), path, p.cfg.path_len);
	return sizeof(p) + p.cfg.path_len;
}

/* Load @len bytes of @buf as device @id of @type (format @format); the log in @log. */
static int load_as(uint32_t type, const char *id, unsigned int format, const char *buf, size_t len,
		   const char *override, char *log, size_t log_size, struct evvm_virtio_dev **keep)
{
	const struct virtio_dev_env env = {
		.origin = FILE,
		.format = format,
		.disk_path = override,
		.console = { .in_fd = -1, .out_fd = -1 },
	};
	struct evvm_virtio_dev *dev = NULL;
	int err;

	capture_begin();
	err = virtio_dev_load(type, id, buf, len, &env, &dev);
	capture_end(log, log_size, false);
	if (!err) {
		assert_non_null(dev);
		if (keep)
			*keep = dev;
		else
			virtio_dev_destroy(dev);
	} else {
		assert_null(dev);
	}
	return err;
}

static int load(uint32_t type, const char *buf, size_t len, const char *override, char *log,
		size_t log_size)
{
	return load_as(type, "blk0", 3, buf, len, override, log, log_size, NULL);
}

static void expect_refused_as(uint32_t type, const char *id, unsigned int format, const char *buf,
			      size_t len, const char *needle)
{
	char log[4096], head[64];

	assert_int_equal(load_as(type, id, format, buf, len, NULL, log, sizeof(log), NULL),
			 -EINVAL);
	snprintf(head, sizeof(head), "snapshot '" FILE "': %s: ", id);
	if (!strstr(log, head) || !strstr(log, needle))
		fail_msg("want '%s' naming the file and device, got:\n%s", needle, log);
}

static void expect_load_refused(uint32_t type, const char *buf, size_t len, const char *override,
				const char *needle)
{
	char log[4096];

	assert_int_equal(load(type, buf, len, override, log, sizeof(log)), -EINVAL);
	if (!strstr(log, "snapshot '" FILE "': blk0: ") || !strstr(log, needle))
		fail_msg("want '%s' naming the file and device, got:\n%s", needle, log);
}

/* A disk file of @sectors sectors at @path (a mkstemp template). */
static void make_disk(char *path, uint64_t sectors)
{
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, sectors * 512), 0);
	close(fd);
}

static void test_disk_state(void **state)
{
	char path[] = "/tmp/evvm-snapdev-XXXXXX", small[64], buf[512], log[4096];
	struct blk_persist *p = (struct blk_persist *)buf;
	size_t len;
	int fd;

	(void)state;
	make_disk(path, 2048);
	snprintf(small, sizeof(small), "%s.small", path);
	fd = open(small, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 19), 0);
	close(fd);

	len = disk_state(buf, 2048, path);
	assert_int_equal(load(VIRTIO_ID_BLOCK, buf, len, NULL, log, sizeof(log)), 0);
	expect_load_refused(VIRTIO_ID_BLOCK, buf, len, small,
			    "has 1024 sectors, the snapshot's had 2048");
	expect_load_refused(VIRTIO_ID_BLOCK, buf, sizeof(*p) - 1, NULL, "shorter than its header");
	expect_load_refused(VIRTIO_ID_BLOCK, buf, len - 1, NULL, "path length is not what");
	p->cfg.readonly = 2;
	expect_load_refused(VIRTIO_ID_BLOCK, buf, len, NULL, "flags are not 0 or 1");
	p->cfg.readonly = 0;
	p->cfg.queues = EVVM_VIRTIO_MAX_QUEUES + 1;
	expect_load_refused(VIRTIO_ID_BLOCK, buf, len, NULL, "more queues than a device may");
	p->cfg.queues = 0;
	buf[sizeof(*p) + 2] = 0;
	expect_load_refused(VIRTIO_ID_BLOCK, buf, len, NULL, "path has a NUL byte");
	expect_load_refused(VIRTIO_ID_RNG, buf, len, NULL, "for a device that saves none");
	expect_load_refused(99, buf, 0, NULL, "device type 99 cannot be restored");
	expect_refused_as(VIRTIO_ID_BLOCK, "blk0", 4, buf, len, "device state of format 4");
	unlink(small);
	unlink(path);
}

#define SLOW_MS 1000000000ULL	    /* refilled in 11 days: a test sees no token come back */
#define TOKEN	(SLOW_MS * 1000000) /* a token in a bucket's unit: tokens x refill_ns */

/*
 * Limits of 1000 bytes and 10 ops: 400 bytes and 3 ops spent, 50 of a
 * 100-op one-time burst left.
 */
static void spent_disk(struct blk_persist *p)
{
	p->cfg.rate_limited = 1;
	p->cfg.rate_limit = (struct evvm_rate_limit){
		.bandwidth = { .size = 1000, .refill_ms = SLOW_MS },
		.ops = { .size = 10, .one_time_burst = 100, .refill_ms = SLOW_MS },
	};
	p->rate_level = (struct ratelimit_level){ .bytes = { .budget_lo = 600 * TOKEN },
						  .ops = { .budget_lo = 7 * TOKEN, .burst = 50 } };
}

/*
 * A disk's buckets come back at their levels, and are saved at them again;
 * levels that cannot be are refused, naming the bucket.
 */
static void test_disk_levels(void **state)
{
	char path[] = "/tmp/evvm-snapdev-XXXXXX", buf[512], out[512], log[4096];
	struct blk_persist *p = (struct blk_persist *)buf, *q = (struct blk_persist *)out;
	struct evvm_virtio_dev *dev = NULL;
	size_t len;
	int n;

	(void)state;
	make_disk(path, 2048);
	len = disk_state(buf, 2048, path);
	spent_disk(p);
	assert_int_equal(
		load_as(VIRTIO_ID_BLOCK, "blk0", 3, buf, len, NULL, log, sizeof(log), &dev), 0);
	n = dev->ops->save(dev, out, sizeof(out));
	virtio_dev_destroy(dev);
	assert_int_equal(n, (int)len);
	assert_memory_equal(&q->cfg.rate_limit, &p->cfg.rate_limit, sizeof(p->cfg.rate_limit));
	/* Not full: what was spent stays spent (a fraction of a token may have come back). */
	assert_true(q->rate_level.bytes.budget_lo >= 600 * TOKEN);
	assert_true(q->rate_level.bytes.budget_lo < 601 * TOKEN);
	assert_int_equal(q->rate_level.bytes.budget_hi, 0);
	assert_true(q->rate_level.ops.budget_lo >= 7 * TOKEN);
	assert_true(q->rate_level.ops.budget_lo < 8 * TOKEN);
	assert_int_equal(q->rate_level.ops.burst, 50);

	p->rate_level.bytes.budget_lo = 1001 * TOKEN;
	expect_load_refused(
		VIRTIO_ID_BLOCK, buf, len, NULL,
		"disk rate limiter, bandwidth bucket: a budget above the bucket's size");
	spent_disk(p);
	p->rate_level.ops.burst = 101;
	expect_load_refused(VIRTIO_ID_BLOCK, buf, len, NULL,
			    "ops bucket: more one-time burst left than the bucket was given");
	spent_disk(p);
	p->rate_level.ops.debt_hi = 1;
	expect_load_refused(VIRTIO_ID_BLOCK, buf, len, NULL, "ops bucket: a debt no request");
	spent_disk(p);
	p->cfg.rate_limited = 0;
	expect_load_refused(VIRTIO_ID_BLOCK, buf, len, NULL,
			    "a level for a bucket that limits nothing");
	unlink(path);
}

/*
 * A format-2 file's disk (no levels after the header) is read by that
 * layout: its buckets start full, as format 2 restored them; the same
 * bytes read as format 3 are refused, not misread.
 */
static void test_disk_format_2(void **state)
{
	char path[] = "/tmp/evvm-snapdev-XXXXXX", buf[512], out[512], log[4096];
	struct blk_persist_v2 v2 = {
		.capacity = 2048,
		.rate_limit = { .ops = { .size = 10, .refill_ms = 1000 } },
		.rate_limited = 1,
	};
	struct blk_persist *q = (struct blk_persist *)out;
	struct evvm_virtio_dev *dev = NULL;
	size_t len;

	(void)state;
	make_disk(path, 2048);
	v2.path_len = (uint32_t)strlen(path);
	memcpy(buf, &v2, sizeof(v2));
	memcpy(buf + sizeof(v2), path, v2.path_len);
	len = sizeof(v2) + v2.path_len;
	assert_int_equal(
		load_as(VIRTIO_ID_BLOCK, "blk0", 2, buf, len, NULL, log, sizeof(log), &dev), 0);
	assert_true(dev->ops->save(dev, out, sizeof(out)) > 0);
	virtio_dev_destroy(dev);
	assert_int_equal(q->cfg.rate_limit.ops.size, 10);
	assert_int_equal(q->rate_level.ops.budget_lo, 10ULL * 1000000000ULL); /* full */
	assert_int_equal(q->cfg.path_len, v2.path_len);
	assert_memory_equal(out + sizeof(*q), path, v2.path_len);
	expect_load_refused(VIRTIO_ID_BLOCK, buf, len, NULL,
			    "disk state is shorter than its header");
	unlink(path);
}

/* A saved net device with a 100-byte pending frame; returns its length. */
static size_t net_state(char *buf)
{
	struct net_persist p = {
		.tap = "evvmtap0",
		.mac = { 0x52, 0x54, 0, 0, 0, 1 },
		.event_idx = 1,
		.rx_paid = 1,
		.frame_len = 100,
	};

	memcpy(buf, &p, sizeof(p));
	memset(buf + sizeof(p), 0xab, p.frame_len);
	return sizeof(p) + p.frame_len;
}

#define NET_REFUSED(change, needle)                                            \
	do {                                                                   \
		len = net_state(buf);                                          \
		change;                                                        \
		expect_refused_as(VIRTIO_ID_NET, "net0", 3, buf, len, needle); \
	} while (0)

/*
 * A hostile net state is refused before any tap is opened, naming the
 * file, the interface and the fault (no tap is needed: each check comes
 * first).
 */
static void test_net_state_refused(void **state)
{
	_Alignas(8) char buf[sizeof(struct net_persist) + 70000];
	struct net_persist *p = (struct net_persist *)buf;
	size_t len;

	(void)state;
	NET_REFUSED(len = sizeof(*p) - 1, "net state is shorter than its header");
	NET_REFUSED(len--, "pending frame length is not what the section holds");
	NET_REFUSED(p->frame_len = 12; len = sizeof(*p) + 12, "pending frame is no longer than");
	NET_REFUSED(p->frame_len = 65600; len = sizeof(*p) + 65600, "longer than a tap's");
	NET_REFUSED(memset(p->tap, 'x', sizeof(p->tap)), "tap name is empty or not NUL-terminated");
	NET_REFUSED(p->tap[0] = 0, "tap name is empty");
	NET_REFUSED(p->event_idx = 2, "net flags are not 0 or 1");
	NET_REFUSED(p->frame_len = 0; p->rx_paid = 1; len = sizeof(*p), "paid for no frame");
	NET_REFUSED(p->reserved = 1, "reserved bytes are set");
	NET_REFUSED(p->rx_level.bytes.burst = 1,
		    "rx rate limiter, bandwidth bucket: a level for a bucket that limits nothing");
	NET_REFUSED(p->tx_rate_limit.ops = ((struct evvm_bucket_cfg){ 5, 0, 100 });
		    p->tx_level.ops.budget_lo = 501000000, "tx rate limiter, ops bucket: a budget");
	len = net_state(buf);
	expect_refused_as(VIRTIO_ID_NET, "net0", 2, buf, len,
			  "net state in a format that has none");
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_good_state_loads),
		T(test_held_chain_given_back),
		T(test_wrong_type),
		T(test_status_unknown_bit),
		T(test_driver_ok_alone),
		T(test_isr_unknown),
		T(test_feature_not_offered),
		T(test_no_version_1),
		T(test_queue_beyond_device),
		T(test_flag_not_bool),
		T(test_reserved_set),
		T(test_size_not_pow2),
		T(test_size_zero),
		T(test_size_too_big),
		T(test_unpopped_too_many),
		T(test_ready_before_features),
		T(test_ring_outside_ram),
		T(test_ring_misaligned),
		T(test_used_idx_mismatch),
		cmocka_unit_test(test_disk_state),
		cmocka_unit_test(test_disk_levels),
		cmocka_unit_test(test_disk_format_2),
		cmocka_unit_test(test_net_state_refused),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
