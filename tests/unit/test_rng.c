// SPDX-License-Identifier: MIT
/*
 * virtio-rng's rate limiter (rng_set_rate_limit, Firecracker's entropy
 * rate_limiter), with a fake transport: guest RAM in malloc'd memory, the
 * device's I/O thread a loop in a thread of the test.
 */
#define _GNU_SOURCE
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

#include "devtest.h"
#include "fakeguest.h"
#include "proc.h"

#define QSIZE	   64
#define RAM_GPA	   0x40000000ULL
#define RAM_SIZE   (1u << 20)
#define RING_DESC  RAM_GPA
#define RING_AVAIL (RAM_GPA + 0x1000)
#define RING_USED  (RAM_GPA + 0x2000)
#define HEAP	   (RAM_GPA + 0x4000)
#define BUF	   512

struct fake {
	struct fakeguest g;
	struct fg_queue q;
	struct evvm_loop *loop;
	pthread_t thread;
	struct evvm_virtio_dev *dev;
	atomic_int fails;
};

static void on_notify(struct evvm_virtio_dev *dev, unsigned int q)
{
	(void)dev;
	(void)q;
}

static void on_fail(struct evvm_virtio_dev *dev)
{
	struct fake *f = dev->transport;

	atomic_fetch_add(&f->fails, 1);
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	uint8_t *ram = aligned_alloc(4096, RAM_SIZE);

	if (!f || !ram)
		return -1;
	memset(ram, 0, RAM_SIZE);
	if (fg_init(&f->g, ram, RAM_GPA, RAM_SIZE, HEAP) || loop_create(&f->loop, "rng-test") ||
	    pthread_create(&f->thread, NULL, devtest_loop_thread, f->loop) ||
	    rng_create("rng0", &f->dev))
		return -1;
	f->dev->mem = &f->g.mem;
	f->dev->loop = f->loop;
	f->dev->notify = on_notify;
	f->dev->needs_reset = on_fail;
	f->dev->transport = f;
	f->dev->features = f->dev->host_features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	if (fg_queue_init(&f->g, &f->q, RING_DESC, QSIZE) ||
	    vq_init(&f->dev->vqs[0], &f->g.mem, "rng0.q0", QSIZE, RING_DESC, RING_AVAIL, RING_USED,
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
	free(f);
	return 0;
}

static void post(struct fake *f, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		struct fg_seg seg = { fg_alloc(&f->g, BUF), BUF, true };

		assert_true(seg.gpa);
		assert_true(fg_post_chain(&f->g, &f->q, &seg, 1) >= 0);
	}
}

static int used(struct fake *f)
{
	return fg_used_idx(&f->g, &f->q);
}

static void wait_used(struct fake *f, int n)
{
	double t0 = now_s();

	while (used(f) < n) {
		if (now_s() - t0 > 10)
			fail_msg("%d of %d requests completed", used(f), n);
		usleep(100);
	}
}

static int call_kick(void *opaque)
{
	struct evvm_virtio_dev *dev = opaque;

	dev->ops->kick(dev, 0);
	return 0;
}

static int call_quiesce(void *opaque)
{
	struct evvm_virtio_dev *dev = opaque;

	return dev->ops->quiesce(dev, true);
}

static int call_resume(void *opaque)
{
	struct evvm_virtio_dev *dev = opaque;

	return dev->ops->quiesce(dev, false);
}

static uint64_t counter(struct fake *f, const char *name)
{
	struct evvm_dev_counter c[EVVM_DEV_MAX_COUNTERS];
	unsigned int n = f->dev->ops->counters(f->dev, c, EVVM_DEV_MAX_COUNTERS);

	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return c[i].value;
	fail_msg("no counter %s", name);
	return 0;
}

/* No limit: every request of a kick is served within it. */
static void test_unlimited(void **state)
{
	struct fake *f = *state;

	post(f, 8);
	loop_call(f->loop, call_kick, f->dev);
	assert_int_equal(used(f), 8);
	assert_int_equal(counter(f, "entropy_bytes"), 8 * BUF);
	assert_int_equal(counter(f, "entropy_rate_limiter_throttled"), 0);
}

/*
 * 1 KiB of bandwidth refilled in 200 ms: of 4 requests of 512 bytes the
 * kick serves 2; the other 2 wait in the ring for the timer, which cannot
 * serve them sooner than the refill (a bound the limiter guarantees, not
 * a speed); all 4 are served in the end, each once.
 */
static void test_bandwidth(void **state)
{
	struct fake *f = *state;
	const struct evvm_rate_limit rl = { .bandwidth = { .size = 1024, .refill_ms = 200 } };
	double t0;

	assert_int_equal(rng_set_rate_limit(f->dev, &rl), 0);
	post(f, 4);
	t0 = now_s();
	loop_call(f->loop, call_kick, f->dev);
	assert_int_equal(used(f), 2);
	wait_used(f, 4);
	assert_true(now_s() - t0 >= 0.19);
	usleep(50000);
	assert_int_equal(used(f), 4);
	assert_int_equal(counter(f, "entropy_event_count"), 4);
	assert_int_equal(counter(f, "entropy_bytes"), 4 * BUF);
	assert_true(counter(f, "entropy_rate_limiter_throttled") >= 1);
	assert_int_equal(atomic_load(&f->fails), 0);
}

/*
 * One op a minute: the second request waits. A pause leaves it waiting;
 * a resume does not serve it (still no tokens); removing the limit serves
 * it at once.
 */
static void test_ops_pause_and_remove(void **state)
{
	struct fake *f = *state;
	const struct evvm_rate_limit slow = { .ops = { .size = 1, .refill_ms = 60000 } };
	const struct evvm_rate_limit none = { 0 };

	assert_int_equal(rng_set_rate_limit(f->dev, &slow), 0);
	post(f, 3);
	loop_call(f->loop, call_kick, f->dev);
	assert_int_equal(used(f), 1);
	assert_int_equal(loop_call(f->loop, call_quiesce, f->dev), 0);
	loop_call(f->loop, call_kick, f->dev); /* a paused device takes nothing */
	assert_int_equal(used(f), 1);
	assert_int_equal(loop_call(f->loop, call_resume, f->dev), 0);
	assert_int_equal(used(f), 1);
	assert_int_equal(rng_set_rate_limit(f->dev, &none), 0);
	assert_int_equal(used(f), 3);
	assert_int_equal(counter(f, "entropy_event_count"), 3);
}

/* Limits set before the device is on a transport are in force from its start. */
static void test_limit_before_start(void **state)
{
	struct fake *f = *state;
	const struct evvm_rate_limit slow = { .ops = { .size = 2, .refill_ms = 60000 } };

	devtest_stop(f->loop, f->dev);
	f->dev->loop = NULL;
	assert_int_equal(rng_set_rate_limit(f->dev, &slow), 0);
	f->dev->loop = f->loop;
	assert_int_equal(devtest_start(f->loop, f->dev), 0);
	post(f, 5);
	loop_call(f->loop, call_kick, f->dev);
	assert_int_equal(used(f), 2);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_unlimited, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bandwidth, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ops_pause_and_remove, setup, teardown),
		cmocka_unit_test_setup_teardown(test_limit_before_start, setup, teardown),
	};

	return cmocka_run_group_tests_name("virtio-rng", tests, NULL, NULL);
}
