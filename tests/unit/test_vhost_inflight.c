// SPDX-License-Identifier: MIT
/*
 * vhost-user in-flight tracking (vhost/inflight.c) on a virtqueue in plain
 * memory: a "backend" pops and pushes through lib/virtqueue with the
 * tracker installed, "dies" (its state is dropped, only guest memory and the
 * region stay), and a new one started on the same region resubmits exactly
 * the chains that were in flight, in the order they were taken.
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
#include <sys/mman.h>
#include <unistd.h>

#include <evvm/mem.h>
#include <evvm/virtio.h>
#include <evvm/virtqueue.h>

#include "../../vhost/inflight.h"

#include <cmocka.h>

#define GPA   0x100000ULL
#define SIZE  0x10000
#define NUM   8
#define DESC  (GPA)
#define AVAIL (GPA + 0x1000)
#define USED  (GPA + 0x2000)
#define DATA  (GPA + 0x4000)

struct t {
	uint8_t *ram;
	struct evvm_mem mem;
	struct evvm_vq vq;
	struct inflight_region region;
	struct inflight_ring ir;
	int fd;
	uint16_t avail_idx;
	struct vq_elem elem;
};

static void *g(struct t *t, uint64_t gpa)
{
	return t->ram + (gpa - GPA);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	struct evvm_mem_region r = { .gpa = GPA, .size = SIZE, .fd = -1 };

	if (!t || !(t->ram = calloc(1, SIZE)))
		return -1;
	r.hva = t->ram;
	mem_init(&t->mem);
	if (mem_add_region(&t->mem, &r))
		return -1;
	/* Head i: one 16-byte device-writable buffer. */
	for (unsigned int i = 0; i < NUM; i++) {
		struct vring_desc d = { DATA + 16 * i, 16, VRING_DESC_F_WRITE, 0 };

		memcpy(g(t, DESC + 16 * i), &d, sizeof(d));
	}
	t->fd = inflight_region_create(1, NUM, &t->region);
	if (t->fd < 0)
		return -1;
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;

	inflight_ring_stop(&t->ir);
	inflight_region_unmap(&t->region);
	close(t->fd);
	free(t->ram);
	free(t);
	return 0;
}

/* The driver makes head @h available. */
static void post(struct t *t, uint16_t h)
{
	uint16_t *avail = g(t, AVAIL);

	avail[2 + (t->avail_idx % NUM)] = h;
	__atomic_store_n(&avail[1], ++t->avail_idx, __ATOMIC_RELEASE);
}

/* A backend (re)starts: a fresh vq on the same memory, tracking on the region. */
static int backend_start(struct t *t)
{
	char why[160];
	int n;

	inflight_ring_stop(&t->ir);
	memset(&t->ir, 0, sizeof(t->ir));
	assert_int_equal(vq_init(&t->vq, &t->mem, "t.q0", NUM, DESC, AVAIL, USED, 0), 0);
	n = inflight_ring_start(&t->ir, &t->region, 0, &t->vq, why, sizeof(why));
	assert_true(n >= 0);
	return n;
}

static uint16_t pop(struct t *t)
{
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	return t->elem.head;
}

static void push(struct t *t, uint16_t head)
{
	t->elem.head = head;
	t->elem.in_len = 16;
	assert_int_equal(vq_push(&t->vq, &t->elem, 1), 0);
}

static uint16_t ring_used_idx(struct t *t)
{
	return __atomic_load_n((uint16_t *)g(t, USED + 2), __ATOMIC_ACQUIRE);
}

static void test_resubmit_in_order(void **state)
{
	struct t *t = *state;
	struct vq_base base;

	assert_int_equal(backend_start(t), 0); /* a new region: nothing in flight */
	for (uint16_t h = 0; h < 5; h++)
		post(t, h);
	for (uint16_t h = 0; h < 5; h++)
		assert_int_equal(pop(t), h);
	push(t, 3);
	push(t, 1);
	/* Killed with 0, 2, 4 in flight. */
	assert_int_equal(backend_start(t), 3);
	vq_get_base(&t->vq, &base);
	assert_int_equal(base.last_avail, 5);
	assert_int_equal(base.used_idx, 2);
	post(t, 5);
	assert_int_equal(pop(t), 0);
	assert_int_equal(pop(t), 2);
	assert_int_equal(pop(t), 4);
	assert_int_equal(pop(t), 5); /* then the new one */
	assert_int_equal(vq_pop(&t->vq, &t->elem), 0);
	/* Killed again: 0, 2, 4 still in flight, 5 taken after them. */
	push(t, 2);
	assert_int_equal(backend_start(t), 3);
	assert_int_equal(pop(t), 0);
	assert_int_equal(pop(t), 4);
	assert_int_equal(pop(t), 5);
	push(t, 5);
	push(t, 0);
	push(t, 4);
	assert_int_equal(ring_used_idx(t), 6);
	/* Nothing left: each chain completed once. */
	assert_int_equal(backend_start(t), 0);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 0);
}

/* Killed after the used index moved and before the batch was cleared. */
static void test_crash_between_publish_and_clear(void **state)
{
	struct t *t = *state;
	struct vq_base base;

	backend_start(t);
	for (uint16_t h = 0; h < 3; h++)
		post(t, h);
	for (uint16_t h = 0; h < 3; h++)
		pop(t);
	t->ir.t.published = NULL; /* dies in the middle of vq_push() */
	push(t, 1);
	assert_int_equal(ring_used_idx(t), 1);
	/* Head 1 is still marked, but the used ring has it: not resubmitted. */
	assert_int_equal(backend_start(t), 2);
	vq_get_base(&t->vq, &base);
	assert_int_equal(base.last_avail, 3);
	assert_int_equal(pop(t), 0);
	assert_int_equal(pop(t), 2);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 0);
}

/* A region the frontend scribbled on: bounded, no access outside it. */
static void test_hostile_region(void **state)
{
	struct t *t = *state;
	uint8_t *q = t->region.base;
	int n;

	backend_start(t);
	memset(q + 16, 0xff, 16 * NUM); /* every entry "in flight", next = 0xffff */
	q[12] = 0xff;			/* last_batch_head */
	q[13] = 0xff;
	q[14] = 0x34; /* used_idx far from the ring's */
	q[15] = 0x12;
	n = backend_start(t);
	assert_true(n >= 0 && n <= NUM);
	/* Whatever it claims, heads come out in range, then the ring is empty. */
	for (int i = 0; i < n; i++)
		assert_true(pop(t) < NUM);
}

static void test_region_checks(void **state)
{
	struct t *t = *state;
	struct vhost_user_inflight m = { .mmap_size = 192, .num_queues = 1, .queue_size = NUM };
	struct inflight_region r;
	char why[160];
	char path[] = "/tmp/evvm-inflight-XXXXXX";
	int fd;

	assert_int_equal(inflight_region_size(1, NUM), 192);
	assert_int_equal(inflight_region_size(2, 128), 2 * 2112);
	assert_int_equal(inflight_region_map(t->fd, &m, 1, 256, &r, why, sizeof(why)), 0);
	inflight_region_unmap(&r);
	m.num_queues = 2; /* the region is for one */
	assert_int_equal(inflight_region_map(t->fd, &m, 2, 256, &r, why, sizeof(why)), -EINVAL);
	m.num_queues = 1;
	m.mmap_offset = 4096;
	assert_int_equal(inflight_region_map(t->fd, &m, 1, 256, &r, why, sizeof(why)), -EINVAL);
	m.mmap_offset = 0;
	/* The vq's size must be the region's. */
	m.queue_size = 4;
	m.mmap_size = inflight_region_size(1, 4);
	assert_int_equal(inflight_region_map(t->fd, &m, 1, 256, &r, why, sizeof(why)), 0);
	assert_int_equal(vq_init(&t->vq, &t->mem, "t.q0", NUM, DESC, AVAIL, USED, 0), 0);
	assert_int_equal(inflight_ring_start(&t->ir, &r, 0, &t->vq, why, sizeof(why)), -EINVAL);
	assert_int_equal(inflight_ring_start(&t->ir, &r, 1, &t->vq, why, sizeof(why)), -EINVAL);
	inflight_region_unmap(&r);
	/* A regular file in /tmp: long enough, but no seals to be had (not shmem). */
	fd = mkstemp(path);
	assert_true(fd >= 0);
	unlink(path);
	assert_int_equal(ftruncate(fd, 4096), 0);
	m = (struct vhost_user_inflight){ .mmap_size = 192, .num_queues = 1, .queue_size = NUM };
	assert_int_equal(inflight_region_map(fd, &m, 1, 256, &r, why, sizeof(why)), 0);
	inflight_region_unmap(&r);
	close(fd);
	/* The region we create is sealed. */
	assert_true(fcntl(t->fd, F_GET_SEALS) & F_SEAL_SHRINK);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_resubmit_in_order, setup, teardown),
		cmocka_unit_test_setup_teardown(test_crash_between_publish_and_clear, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_hostile_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_checks, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
