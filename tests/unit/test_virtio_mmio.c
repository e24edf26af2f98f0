// SPDX-License-Identifier: MIT
/*
 * The virtio-mmio transport without KVM: a driver programs an rng device
 * through the register window (iobus writes, as a vCPU's MMIO exits would),
 * then kicks its queue the two ways a guest's QueueNotify write arrives:
 * as KVM's ioeventfd does (the kick eventfd is signalled, evvm never sees
 * the write) and through evvm's user-mode match. Every kick must be counted
 * in the transport's stats, and the interrupts the device sent; each
 * interrupt that answers a kick is one kick-to-interrupt sample.
 */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/devices.h>
#include <evvm/virtio.h>

#include "fakeguest.h"
#include "virtio_mmio.h"
#include "vm.h"

#define RAM_GPA	 0x100000ULL
#define RAM_SIZE 0x10000
#define HEAP	 (RAM_GPA + 0x3000)
#define BASE	 0xd0000000ULL
#define GSI	 5
#define QSIZE	 8

/* virtio-mmio registers (4.2.2). */
#define R_DRIVER_FEATURES     0x020
#define R_DRIVER_FEATURES_SEL 0x024
#define R_QUEUE_SEL	      0x030
#define R_QUEUE_NUM	      0x038
#define R_QUEUE_READY	      0x044
#define R_QUEUE_NOTIFY	      0x050
#define R_STATUS	      0x070
#define R_QUEUE_DESC	      0x080
#define R_QUEUE_DRIVER	      0x090
#define R_QUEUE_DEVICE	      0x0a0

struct env {
	struct evvm_vm vm;
	struct fakeguest g;
	struct fg_queue q;
	struct virtio_mmio *t;
};

static void reg_write(struct env *e, uint64_t reg, uint32_t v)
{
	assert_true(iobus_write(&e->vm.mmio, BASE + reg, &v, sizeof(v)));
}

static void reg_write64(struct env *e, uint64_t reg, uint64_t v)
{
	reg_write(e, reg, (uint32_t)v);
	reg_write(e, reg + 4, (uint32_t)(v >> 32));
}

/* A vm with just what the transport uses: RAM, the fabric tables (no KVM), the MMIO bus. */
static struct env *env_new(bool user_ioeventfd)
{
	struct env *e = calloc(1, sizeof(*e));
	struct evvm_virtio_dev *dev;
	uint8_t *ram = calloc(1, RAM_SIZE);

	assert_true(e && ram);
	assert_int_equal(fg_init(&e->g, ram, RAM_GPA, RAM_SIZE, HEAP), 0);
	e->vm.mem = e->g.mem;
	assert_int_equal(ioeventfd_table_init(&e->vm.ioeventfds, -1, user_ioeventfd), 0);
	assert_int_equal(irqfd_table_init(&e->vm.irqfds, -1, false), 0);
	assert_int_equal(iobus_init(&e->vm.mmio, "mmio"), 0);
	assert_int_equal(rng_create("rng0", &dev), 0);
	assert_int_equal(virtio_mmio_create(&e->vm, dev, BASE, GSI, &e->t), 0);
	return e;
}

static void env_free(struct env *e)
{
	virtio_mmio_destroy(e->t);
	iobus_destroy(&e->vm.mmio);
	irqfd_table_destroy(&e->vm.irqfds);
	ioeventfd_table_destroy(&e->vm.ioeventfds);
	free(e->g.ram);
	free(e);
}

/* The driver's side of 3.1.1 for queue 0, up to DRIVER_OK. */
static void driver_start(struct env *e)
{
	reg_write(e, R_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	reg_write(e, R_DRIVER_FEATURES_SEL, 1);
	reg_write(e, R_DRIVER_FEATURES, 1); /* VERSION_1 */
	reg_write(e, R_STATUS,
		  VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK);
	assert_int_equal(fg_queue_init(&e->g, &e->q, RAM_GPA, QSIZE), 0);
	reg_write(e, R_QUEUE_SEL, 0);
	reg_write(e, R_QUEUE_NUM, QSIZE);
	reg_write64(e, R_QUEUE_DESC, e->q.desc);
	reg_write64(e, R_QUEUE_DRIVER, e->q.avail);
	reg_write64(e, R_QUEUE_DEVICE, e->q.used);
	reg_write(e, R_QUEUE_READY, 1);
	reg_write(e, R_STATUS,
		  VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			  VIRTIO_STATUS_DRIVER_OK);
}

/* Post one 16-byte rng buffer, kick with @kick, wait until the device used it. */
static void one_round(struct env *e, void (*kick)(struct env *e))
{
	struct fg_seg s = { fg_alloc(&e->g, 16), 16, true };
	uint16_t want = e->q.used_seen + 1;

	assert_true(s.gpa != 0);
	assert_true(fg_post_chain(&e->g, &e->q, &s, 1) >= 0);
	kick(e);
	for (int i = 0; fg_used_idx(&e->g, &e->q) != want; i++) {
		if (i > 20000)
			fail_msg("the device did not use the buffer within 10 s");
		usleep(500);
	}
	e->q.used_seen = want;
}

/* As KVM's ioeventfd: the kick eventfd is signalled, evvm sees no exit. */
static void kick_like_kvm(struct env *e)
{
	uint64_t one = 1;

	assert_int_equal(write(virtio_mmio_dev(e->t)->kick_fds[0], &one, sizeof(one)), sizeof(one));
}

/* As a vCPU's MMIO exit with --ioeventfd=user: evvm matches the write. */
static void kick_like_user_exit(struct env *e)
{
	uint32_t q = 0;

	assert_true(ioeventfd_user_write(&e->vm.ioeventfds, IOEVENTFD_MMIO, BASE + R_QUEUE_NOTIFY,
					 &q, sizeof(q)));
}

static void check_counts(struct env *e, void (*kick)(struct env *e))
{
	struct virtio_mmio_stats s;
	uint64_t kicks = 0, hits = 0;
	enum { ROUNDS = 5 };

	driver_start(e);
	for (int i = 0; i < ROUNDS; i++)
		one_round(e, kick);
	virtio_mmio_get_stats(e->t, &s);
	assert_true(s.kicks_seen);
	assert_int_equal(s.nr_queues, 1);
	assert_int_equal(s.q[0].kicks, ROUNDS);
	assert_true(s.q[0].kick_wakeups >= 1 && s.q[0].kick_wakeups <= ROUNDS);
	assert_true(s.q[0].interrupts >= 1 && s.q[0].interrupts <= ROUNDS);
	/* The fabric's per-doorbell count agrees. */
	ioeventfd_totals(&e->vm.ioeventfds, &kicks, &hits);
	assert_int_equal(kicks, ROUNDS);
	assert_int_equal(hits, e->vm.ioeventfds.user ? ROUNDS : 0);

	/* A kick the driver left behind is counted when the reset drains it. */
	kick_like_kvm(e);
	reg_write(e, R_STATUS, 0);
	virtio_mmio_get_stats(e->t, &s);
	assert_int_equal(s.q[0].kicks, ROUNDS + 1);
}

static void test_kernel_ioeventfd_kicks_counted(void **state)
{
	struct env *e = env_new(false);

	(void)state;
	check_counts(e, kick_like_kvm);
	env_free(e);
}

static void test_user_ioeventfd_kicks_counted(void **state)
{
	struct env *e = env_new(true);

	(void)state;
	check_counts(e, kick_like_user_exit);
	env_free(e);
}

static uint64_t samples(const uint64_t *hist)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < EVVM_KICK_LATENCY_BUCKETS; i++)
		n += hist[i];
	return n;
}

/* The used entry comes before the interrupt: wait until queue 0 counted @n. */
static void wait_interrupts(struct env *e, uint64_t n, struct virtio_mmio_stats *s)
{
	for (int i = 0;; i++) {
		virtio_mmio_get_stats(e->t, s);
		if (s->q[0].interrupts >= n)
			return;
		if (i > 20000)
			fail_msg("interrupt %llu not sent within 10 s", (unsigned long long)n);
		usleep(500);
	}
}

/*
 * Each round (a kick, the buffer used, the interrupt) adds exactly one
 * sample, in a bucket no later than that of the time the test saw pass
 * from its kick to the interrupt, which holds the measured interval.
 */
static void test_kick_to_interrupt_histogram(void **state)
{
	struct env *e = env_new(false);
	struct virtio_mmio_stats s;
	uint64_t before[EVVM_KICK_LATENCY_BUCKETS] = { 0 };
	enum { ROUNDS = 5 };

	(void)state;
	driver_start(e);
	virtio_mmio_get_stats(e->t, &s);
	assert_int_equal(s.q[0].interrupts, 0);
	assert_int_equal(samples(s.q[0].kick_to_interrupt), 0);
	for (unsigned int r = 1; r <= ROUNDS; r++) {
		uint64_t t0 = kick_latency_now_ns(), elapsed;
		unsigned int grew = EVVM_KICK_LATENCY_BUCKETS;

		one_round(e, kick_like_kvm);
		wait_interrupts(e, r, &s);
		elapsed = kick_latency_now_ns() - t0;
		assert_int_equal(s.q[0].interrupts, r);
		assert_int_equal(samples(s.q[0].kick_to_interrupt), r);
		for (unsigned int i = 0; i < EVVM_KICK_LATENCY_BUCKETS; i++) {
			assert_true(s.q[0].kick_to_interrupt[i] - before[i] <= 1);
			if (s.q[0].kick_to_interrupt[i] != before[i])
				grew = i;
			before[i] = s.q[0].kick_to_interrupt[i];
		}
		assert_true(grew <= kick_latency_bucket(elapsed));
	}
	/* A kick the reset drains waits for no interrupt: no sample later. */
	kick_like_kvm(e);
	reg_write(e, R_STATUS, 0);
	virtio_mmio_get_stats(e->t, &s);
	assert_int_equal(samples(s.q[0].kick_to_interrupt), ROUNDS);
	env_free(e);
}

/* The histogram's rules by themselves: buckets, one sample per answered kick. */
static void test_kick_latency_rules(void **state)
{
	struct kick_latency l = { 0 };
	uint64_t hist[EVVM_KICK_LATENCY_BUCKETS];

	(void)state;
	assert_int_equal(kick_latency_bucket(0), 0);
	assert_int_equal(kick_latency_bucket(999), 0);
	assert_int_equal(kick_latency_bucket(1000), 1);
	assert_int_equal(kick_latency_bucket(1999), 1);
	assert_int_equal(kick_latency_bucket(2000), 2);
	assert_int_equal(kick_latency_bucket(3999), 2);
	assert_int_equal(kick_latency_bucket(65535999), EVVM_KICK_LATENCY_BUCKETS - 2);
	assert_int_equal(kick_latency_bucket(65536000), EVVM_KICK_LATENCY_BUCKETS - 1);
	assert_int_equal(kick_latency_bucket(UINT64_MAX), EVVM_KICK_LATENCY_BUCKETS - 1);

	kick_latency_interrupted(&l); /* no kick waited: no sample */
	kick_latency_kicked(&l);
	kick_latency_kicked(&l); /* the first kick's clock runs on */
	kick_latency_interrupted(&l);
	kick_latency_interrupted(&l);
	kick_latency_kicked(&l);
	kick_latency_forget(&l);
	kick_latency_interrupted(&l);
	kick_latency_get(&l, hist);
	assert_int_equal(samples(hist), 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_kernel_ioeventfd_kicks_counted),
		cmocka_unit_test(test_user_ioeventfd_kicks_counted),
		cmocka_unit_test(test_kick_to_interrupt_histogram),
		cmocka_unit_test(test_kick_latency_rules),
	};

	return cmocka_run_group_tests_name("virtio-mmio", tests, NULL, NULL);
}
