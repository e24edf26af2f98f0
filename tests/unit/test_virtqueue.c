// SPDX-License-Identifier: MIT
/*
 * The split virtqueue against a fake guest: malloc'd RAM registered with
 * evvm_mem, and a tiny driver in this file that writes descriptors and the
 * avail ring the way a guest would.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture.h"

#include <evvm/log.h>
#include <evvm/virtio.h>
#include <evvm/virtqueue.h>

/* Two adjacent regions (A then B), holes everywhere else. */
#define GPA_A	    0x100000ULL
#define SIZE_A	    0x200000ULL
#define GPA_B	    (GPA_A + SIZE_A)
#define SIZE_B	    0x10000ULL
#define HOLE	    0x10000000ULL

#define DATA	    (GPA_A + 0x100000) /* buffers; the rings stay below */
#define ITABLE	    (GPA_A + 0x180000) /* indirect tables */

#define F_EVENT_IDX VIRTIO_BIT(VIRTIO_F_EVENT_IDX)
#define F_INDIRECT  VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC)

struct tq {
	struct evvm_mem mem;
	uint8_t *ram_a, *ram_b;
	struct evvm_vq vq;
	uint16_t num;
	uint64_t features;
	uint64_t desc, avail, used; /* ring gpas */
	uint16_t avail_idx;	    /* the driver's next avail entry */
	struct vq_elem elem;
};

static int setup_regions(struct tq *t)
{
	/* Anonymous memory: no fd. */
	struct evvm_mem_region a = { .gpa = GPA_A, .size = SIZE_A, .hva = t->ram_a };
	struct evvm_mem_region b = { .gpa = GPA_B, .size = SIZE_B, .hva = t->ram_b };

	a.fd = b.fd = -1;

	mem_init(&t->mem);
	if (mem_add_region(&t->mem, &a) || mem_add_region(&t->mem, &b))
		return -1;
	return 0;
}

static int setup(void **state)
{
	struct tq *t = calloc(1, sizeof(*t));

	if (!t)
		return -1;
	*state = t;
	t->ram_a = malloc(SIZE_A);
	t->ram_b = malloc(SIZE_B);
	if (!t->ram_a || !t->ram_b)
		return -1;
	return setup_regions(t);
}

static int teardown(void **state)
{
	struct tq *t = *state;

	free(t->ram_a);
	free(t->ram_b);
	free(t);
	return 0;
}

static void *hva(struct tq *t, uint64_t gpa)
{
	void *p = mem_translate(&t->mem, gpa, 1);

	assert_non_null(p);
	return p;
}

/* Rings packed from GPA_A: descriptors, then avail, then used (4-aligned). */
static void layout(struct tq *t, uint16_t num)
{
	t->num = num;
	t->desc = GPA_A;
	t->avail = t->desc + 16ULL * num;
	t->used = (t->avail + 6 + 2ULL * num + 3) & ~3ULL;
}

/* A fresh guest (zeroed RAM, driver at index 0) and an initialized queue. */
static void start(struct tq *t, uint16_t num, uint64_t features)
{
	memset(t->ram_a, 0, SIZE_A);
	memset(t->ram_b, 0, SIZE_B);
	t->features = features;
	t->avail_idx = 0;
	layout(t, num);
	assert_int_equal(vq_init(&t->vq, &t->mem, "q0", num, t->desc, t->avail, t->used, features),
			 0);
	assert_true(t->vq.ready);
}

static void set_desc_at(struct tq *t, uint64_t table, unsigned int i, uint64_t addr, uint32_t len,
			uint16_t flags, uint16_t next)
{
	const struct vring_desc d = { .addr = addr, .len = len, .flags = flags, .next = next };

	memcpy(hva(t, table + 16ULL * i), &d, sizeof(d));
}

static void set_desc(struct tq *t, unsigned int i, uint64_t addr, uint32_t len, uint16_t flags,
		     uint16_t next)
{
	set_desc_at(t, t->desc, i, addr, len, flags, next);
}

static uint16_t *avail_ring(struct tq *t)
{
	return hva(t, t->avail);
}

static void set_avail_idx(struct tq *t, uint16_t idx)
{
	__atomic_store_n(&avail_ring(t)[1], idx, __ATOMIC_RELEASE);
}

/* Publish one chain head, as a driver does: ring entry, then the index. */
static void publish(struct tq *t, uint16_t head)
{
	avail_ring(t)[2 + (t->avail_idx & (t->num - 1))] = head;
	t->avail_idx++;
	set_avail_idx(t, t->avail_idx);
}

static uint16_t used_idx(struct tq *t)
{
	return __atomic_load_n((uint16_t *)hva(t, t->used + 2), __ATOMIC_ACQUIRE);
}

static uint16_t used_flags(struct tq *t)
{
	return *(uint16_t *)hva(t, t->used);
}

static struct vring_used_elem used_elem(struct tq *t, uint16_t i)
{
	struct vring_used_elem e;

	memcpy(&e, hva(t, t->used + 4 + 8ULL * (i & (t->num - 1))), sizeof(e));
	return e;
}

static void set_used_event(struct tq *t, uint16_t v)
{
	avail_ring(t)[2 + t->num] = v;
}

static uint16_t avail_event(struct tq *t)
{
	return *(uint16_t *)hva(t, t->used + 4 + 8ULL * t->num);
}

static void set_avail_flags(struct tq *t, uint16_t v)
{
	avail_ring(t)[0] = v;
}

/* The driver's side of 2.7.10 (kick or not), to check what vq_set_notify() wrote. */
static bool driver_need_event(uint16_t event, uint16_t new, uint16_t old)
{
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

static unsigned int count_lines(const char *s)
{
	unsigned int n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* One readable and one writable buffer, at descriptors @i and @i + 1. */
static void simple_chain(struct tq *t, uint16_t i)
{
	set_desc(t, i, DATA, 16, VRING_DESC_F_NEXT, i + 1);
	set_desc(t, i + 1, DATA + 0x1000, 32, VRING_DESC_F_WRITE, 0);
}

static void pop_push_ok(struct tq *t, uint16_t head)
{
	uint16_t before = used_idx(t);

	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.head, head);
	assert_int_equal(vq_push(&t->vq, &t->elem, 0), 0);
	assert_int_equal(used_idx(t), (uint16_t)(before + 1));
}

/*
 * The next pop must fail with -EINVAL, log exactly one line naming the
 * queue and containing @what, and latch the queue broken: it then pops
 * nothing, silently, even valid work. vq_reset() and vq_init() recover it.
 */
static void expect_fault(struct tq *t, const char *what)
{
	char log[2048];
	int r;

	capture_begin();
	r = vq_pop(&t->vq, &t->elem);
	capture_end(log, sizeof(log), true);
	assert_int_equal(r, -EINVAL);
	assert_true(t->vq.broken);
	assert_int_equal(count_lines(log), 1);
	assert_non_null(strstr(log, "evvm: q0: "));
	assert_non_null(strstr(log, what));

	/* Broken: valid work stays untouched and nothing more is logged. */
	set_desc(t, 0, DATA, 16, 0, 0);
	capture_begin();
	r = vq_pop(&t->vq, &t->elem);
	r += vq_pop(&t->vq, &t->elem);
	capture_end(log, sizeof(log), true);
	assert_int_equal(r, 0);
	assert_string_equal(log, "");

	vq_reset(&t->vq);
	assert_false(t->vq.ready);
	assert_false(t->vq.broken);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 0);
	start(t, t->num, t->features);
	assert_false(t->vq.broken);
	simple_chain(t, 0);
	publish(t, 0);
	pop_push_ok(t, 0);
}

/* vq_init must refuse, log one line, and leave the queue neither ready nor broken. */
static void expect_init_fails(struct tq *t, uint16_t num, uint64_t desc, uint64_t avail,
			      uint64_t used, const char *what)
{
	char log[1024];
	int r;

	capture_begin();
	r = vq_init(&t->vq, &t->mem, "q0", num, desc, avail, used, 0);
	capture_end(log, sizeof(log), true);
	assert_int_equal(r, -EINVAL);
	assert_int_equal(count_lines(log), 1);
	assert_non_null(strstr(log, "evvm: q0: "));
	assert_non_null(strstr(log, what));
	assert_false(t->vq.ready);
	assert_false(t->vq.broken);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 0);
	assert_false(vq_should_notify(&t->vq));
	vq_set_notify(&t->vq, true);
}

static void test_init_checks(void **state)
{
	struct tq *t = *state;

	memset(t->ram_a, 0, SIZE_A);
	layout(t, 8);
	expect_init_fails(t, 0, t->desc, t->avail, t->used, "queue size 0 is not a power of 2");
	expect_init_fails(t, 3, t->desc, t->avail, t->used, "queue size 3");
	expect_init_fails(t, 24, t->desc, t->avail, t->used, "queue size 24");
	expect_init_fails(t, 40000, t->desc, t->avail, t->used, "queue size 40000");
	expect_init_fails(t, 65535, t->desc, t->avail, t->used, "queue size 65535");
	/* Alignment: 16, 2, 4. */
	expect_init_fails(t, 8, t->desc + 8, t->avail, t->used,
			  "descriptor table at 0x100008 is not 16-byte aligned");
	expect_init_fails(t, 8, t->desc, t->avail + 1, t->used,
			  "driver area at 0x100081 is not 2-byte aligned");
	expect_init_fails(t, 8, t->desc, t->avail, t->used + 2,
			  "device area at 0x10009a is not 4-byte aligned");
	/* Outside RAM, straddling a region's end, across two adjacent regions. */
	expect_init_fails(t, 8, HOLE, t->avail, t->used,
			  "descriptor table 0x10000000+0x80 is not in guest RAM");
	expect_init_fails(t, 8, t->desc, HOLE, t->used,
			  "driver area 0x10000000+0x16 is not in guest RAM");
	expect_init_fails(t, 8, t->desc, t->avail, HOLE,
			  "device area 0x10000000+0x46 is not in guest RAM");
	expect_init_fails(t, 8, GPA_B + SIZE_B - 64, t->avail, t->used, "not in guest RAM");
	expect_init_fails(t, 8, t->desc, GPA_B + SIZE_B - 8, t->used, "not in guest RAM");
	expect_init_fails(t, 8, t->desc, t->avail, GPA_B + SIZE_B - 40, "not in guest RAM");
	expect_init_fails(t, 8, GPA_B - 64, t->avail, t->used, "not in guest RAM");
	expect_init_fails(t, 8, UINT64_MAX - 15, t->avail, t->used, "not in guest RAM");
	/* Rings that fit only without avail_event / used_event. */
	expect_init_fails(t, 8, t->desc, t->avail, GPA_B + SIZE_B - 68, "not in guest RAM");
	expect_init_fails(t, 8, t->desc, GPA_B + SIZE_B - 20, t->used, "not in guest RAM");

	/* The exact sizes fit; so does the largest queue. */
	assert_int_equal(vq_init(&t->vq, &t->mem, "q0", 8, GPA_B + SIZE_B - 128,
				 GPA_B + SIZE_B - 22, GPA_A + SIZE_A - 72, 0),
			 0);
	assert_true(t->vq.ready);
	start(t, VQ_MAX_SIZE, 0);
	simple_chain(t, VQ_MAX_SIZE - 2);
	publish(t, VQ_MAX_SIZE - 2);
	pop_push_ok(t, VQ_MAX_SIZE - 2);
	start(t, 1, 0);
	set_desc(t, 0, DATA, 4, 0, 0);
	publish(t, 0);
	pop_push_ok(t, 0);
}

/* Aligned in the guest but not on the host: a region mapped at an odd address. */
static void test_init_host_alignment(void **state)
{
	struct tq *t = *state;
	uint8_t *buf = malloc(0x1000 + 16);
	struct evvm_mem_region odd = { .gpa = HOLE, .size = 0x1000, .hva = buf + 2 };

	assert_non_null(buf);
	odd.fd = -1;
	assert_int_equal(mem_add_region(&t->mem, &odd), 0);
	layout(t, 8);
	expect_init_fails(t, 8, HOLE, t->avail, t->used, "host address not 16-byte aligned");
	expect_init_fails(t, 8, t->desc, t->avail, HOLE + 0x100, "host address not 4-byte aligned");
	/* The guest's own alignment is checked first. */
	expect_init_fails(t, 8, t->desc, HOLE + 0x101, t->used,
			  "at 0x10000101 is not 2-byte aligned");
	assert_int_equal(setup_regions(t), 0);
	free(buf);
}

static void test_simple_chain(void **state)
{
	struct tq *t = *state;
	struct vq_elem *e = &t->elem;
	char out[32], in[8];
	struct vring_used_elem u;

	start(t, 8, 0);
	assert_int_equal(vq_pop(&t->vq, e), 0);
	/* Head 5, chained out of order: 5 -> 3 -> 7. */
	set_desc(t, 5, DATA, 16, VRING_DESC_F_NEXT, 3);
	set_desc(t, 3, DATA + 0x100, 8, VRING_DESC_F_NEXT, 7);
	set_desc(t, 7, DATA + 0x200, 64, VRING_DESC_F_WRITE, 0);
	memcpy(hva(t, DATA), "0123456789abcdef", 16);
	memcpy(hva(t, DATA + 0x100), "ABCDEFGH", 8);
	publish(t, 5);

	assert_int_equal(vq_pop(&t->vq, e), 1);
	assert_int_equal(e->head, 5);
	assert_int_equal(e->out_num, 2);
	assert_int_equal(e->in_num, 1);
	assert_int_equal(e->out_len, 24);
	assert_int_equal(e->in_len, 64);
	assert_ptr_equal(e->iov[0].iov_base, hva(t, DATA));
	assert_int_equal(e->iov[0].iov_len, 16);
	assert_ptr_equal(e->iov[1].iov_base, hva(t, DATA + 0x100));
	assert_ptr_equal(e->iov[2].iov_base, hva(t, DATA + 0x200));
	assert_int_equal(e->iov[2].iov_len, 64);
	assert_int_equal(t->vq.inflight, 1);
	assert_int_equal(vq_pop(&t->vq, e), 0);

	assert_int_equal(iov_to_buf(e->iov, e->out_num, 0, out, sizeof(out)), 24);
	assert_memory_equal(out, "0123456789abcdefABCDEFGH", 24);
	assert_int_equal(iov_from_buf(e->iov + e->out_num, e->in_num, 0, "written", 7), 7);
	assert_int_equal(iov_to_buf(e->iov + e->out_num, e->in_num, 0, in, 7), 7);
	assert_memory_equal(in, "written", 7);
	assert_memory_equal(hva(t, DATA + 0x200), "written", 7);

	assert_int_equal(vq_push(&t->vq, e, 7), 0);
	assert_int_equal(used_idx(t), 1);
	u = used_elem(t, 0);
	assert_int_equal(u.id, 5);
	assert_int_equal(u.len, 7);
	assert_int_equal(t->vq.inflight, 0);
	assert_false(t->vq.broken);
}

static void test_several_chains(void **state)
{
	struct tq *t = *state;
	struct vq_elem elems[3];

	start(t, 4, 0);
	/* Only readable, only writable, and both. */
	set_desc(t, 0, DATA, 10, 0, 0);
	set_desc(t, 1, DATA + 0x100, 20, VRING_DESC_F_WRITE, 0);
	simple_chain(t, 2);
	publish(t, 0);
	publish(t, 1);
	publish(t, 2);
	for (int i = 0; i < 3; i++)
		assert_int_equal(vq_pop(&t->vq, &elems[i]), 1);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 0);
	assert_int_equal(elems[0].out_num, 1);
	assert_int_equal(elems[0].in_num, 0);
	assert_int_equal(elems[1].out_num, 0);
	assert_int_equal(elems[1].in_num, 1);
	assert_int_equal(elems[1].in_len, 20);
	assert_int_equal(elems[2].head, 2);
	assert_int_equal(t->vq.inflight, 3);

	/* Completed out of order: the used ring records push order. */
	assert_int_equal(vq_push(&t->vq, &elems[2], 32), 0);
	assert_int_equal(vq_push(&t->vq, &elems[0], 0), 0);
	assert_int_equal(vq_push(&t->vq, &elems[1], 20), 0);
	assert_int_equal(used_idx(t), 3);
	assert_int_equal(used_elem(t, 0).id, 2);
	assert_int_equal(used_elem(t, 0).len, 32);
	assert_int_equal(used_elem(t, 1).id, 0);
	assert_int_equal(used_elem(t, 2).id, 1);
	assert_int_equal(used_elem(t, 2).len, 20);
	assert_int_equal(t->vq.inflight, 0);
}

static void test_chain_as_long_as_queue(void **state)
{
	struct tq *t = *state;

	start(t, 4, 0);
	for (int i = 0; i < 4; i++)
		set_desc(t, i, DATA + i * 0x10, 0x10, i < 3 ? VRING_DESC_F_NEXT : 0, i + 1);
	publish(t, 0);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.out_num, 4);
	assert_int_equal(t->elem.out_len, 0x40);
}

static void test_zero_length(void **state)
{
	struct tq *t = *state;
	struct vq_elem *e = &t->elem;

	start(t, 8, 0);
	/* A zero-length descriptor's address means nothing: even one in a hole is fine. */
	set_desc(t, 0, HOLE, 0, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, DATA, 4, VRING_DESC_F_NEXT, 2);
	set_desc(t, 2, UINT64_MAX, 0, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 3);
	set_desc(t, 3, DATA + 0x100, 4, VRING_DESC_F_WRITE, 0);
	publish(t, 0);
	assert_int_equal(vq_pop(&t->vq, e), 1);
	assert_int_equal(e->out_num, 1);
	assert_int_equal(e->in_num, 1);
	assert_ptr_equal(e->iov[0].iov_base, hva(t, DATA));
	assert_ptr_equal(e->iov[1].iov_base, hva(t, DATA + 0x100));
	assert_int_equal(vq_push(&t->vq, e, 4), 0);

	/* A chain of nothing at all. */
	set_desc(t, 4, HOLE, 0, 0, 0);
	publish(t, 4);
	assert_int_equal(vq_pop(&t->vq, e), 1);
	assert_int_equal(e->out_num + e->in_num, 0);
	assert_int_equal(e->in_len, 0);
	assert_int_equal(vq_push(&t->vq, e, 1), -EINVAL);
	assert_int_equal(vq_push(&t->vq, e, 0), 0);
	assert_false(t->vq.broken);
}

static void test_indirect(void **state)
{
	struct tq *t = *state;
	struct vq_elem *e = &t->elem;

	start(t, 4, F_INDIRECT);
	/* A table of 3, chained 0 -> 2 -> 1; WRITE on the indirect descriptor is ignored. */
	set_desc(t, 1, ITABLE, 48, VRING_DESC_F_INDIRECT | VRING_DESC_F_WRITE, 0);
	set_desc_at(t, ITABLE, 0, DATA, 16, VRING_DESC_F_NEXT, 2);
	set_desc_at(t, ITABLE, 2, DATA + 0x100, 32, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc_at(t, ITABLE, 1, DATA + 0x200, 8, VRING_DESC_F_WRITE, 0);
	publish(t, 1);
	assert_int_equal(vq_pop(&t->vq, e), 1);
	assert_int_equal(e->head, 1);
	assert_int_equal(e->out_num, 1);
	assert_int_equal(e->in_num, 2);
	assert_int_equal(e->out_len, 16);
	assert_int_equal(e->in_len, 40);
	assert_ptr_equal(e->iov[0].iov_base, hva(t, DATA));
	assert_ptr_equal(e->iov[1].iov_base, hva(t, DATA + 0x100));
	assert_ptr_equal(e->iov[2].iov_base, hva(t, DATA + 0x200));
	assert_int_equal(vq_push(&t->vq, e, 40), 0);

	/* Direct descriptors, then one indirect (2.7.5.3.2), at an unaligned address. */
	set_desc(t, 2, DATA + 0x300, 4, VRING_DESC_F_NEXT, 3);
	set_desc(t, 3, ITABLE + 0x1004, 32, VRING_DESC_F_INDIRECT, 0);
	set_desc_at(t, ITABLE + 0x1004, 0, DATA + 0x400, 4, VRING_DESC_F_NEXT, 1);
	set_desc_at(t, ITABLE + 0x1004, 1, DATA + 0x500, 4, VRING_DESC_F_WRITE, 0);
	publish(t, 2);
	assert_int_equal(vq_pop(&t->vq, e), 1);
	assert_int_equal(e->out_num, 2);
	assert_int_equal(e->in_num, 1);
	assert_ptr_equal(e->iov[1].iov_base, hva(t, DATA + 0x400));
	assert_int_equal(vq_push(&t->vq, e, 0), 0);

	/* A table longer than the queue: bounded by its own size, not by num. */
	for (int i = 0; i < 64; i++)
		set_desc_at(t, ITABLE, i, DATA + i, 1, i < 63 ? VRING_DESC_F_NEXT : 0, i + 1);
	set_desc(t, 0, ITABLE, 64 * 16, VRING_DESC_F_INDIRECT, 0);
	publish(t, 0);
	assert_int_equal(vq_pop(&t->vq, e), 1);
	assert_int_equal(e->out_num, 64);
	assert_int_equal(vq_push(&t->vq, e, 0), 0);

	/* The largest table the header allows. */
	memset(hva(t, DATA), 0, 16 * VQ_MAX_SIZE);
	set_desc_at(t, DATA, 0, DATA + 16 * VQ_MAX_SIZE, 8, 0, 0);
	set_desc(t, 0, DATA, 16 * VQ_MAX_SIZE, VRING_DESC_F_INDIRECT, 0);
	publish(t, 0);
	assert_int_equal(vq_pop(&t->vq, e), 1);
	assert_int_equal(e->out_len, 8);
	assert_int_equal(vq_push(&t->vq, e, 0), 0);
	assert_false(t->vq.broken);
}

static void test_max_segments(void **state)
{
	struct tq *t = *state;

	start(t, 4, F_INDIRECT);
	for (int i = 0; i < VQ_MAX_SEGS; i++)
		set_desc_at(t, ITABLE, i, DATA + i, 1,
			    i < VQ_MAX_SEGS - 1 ? VRING_DESC_F_NEXT | VRING_DESC_F_WRITE
						: VRING_DESC_F_WRITE,
			    i + 1);
	/* Zero-length descriptors are not segments: one more of them is fine. */
	set_desc(t, 0, DATA, 0, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, ITABLE, 16 * VQ_MAX_SEGS, VRING_DESC_F_INDIRECT, 0);
	publish(t, 0);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(t->elem.in_num, VQ_MAX_SEGS);
	assert_int_equal(t->elem.in_len, VQ_MAX_SEGS);
	assert_int_equal(vq_push(&t->vq, &t->elem, VQ_MAX_SEGS), 0);

	/* One more real buffer is refused. */
	set_desc(t, 0, DATA + 0x8000, 1, VRING_DESC_F_NEXT, 1);
	publish(t, 0);
	expect_fault(t, "more than 1024 buffers");
}

static void test_split_regions(void **state)
{
	struct tq *t = *state;

	start(t, 8, 0);
	/* Each buffer inside one region, the chain spanning both. */
	set_desc(t, 0, GPA_A + SIZE_A - 16, 16, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, GPA_B, 16, VRING_DESC_F_NEXT, 2);
	set_desc(t, 2, GPA_B + SIZE_B - 1, 1, VRING_DESC_F_WRITE, 0);
	publish(t, 0);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	assert_ptr_equal(t->elem.iov[0].iov_base, t->ram_a + SIZE_A - 16);
	assert_ptr_equal(t->elem.iov[1].iov_base, t->ram_b);
	assert_ptr_equal(t->elem.iov[2].iov_base, t->ram_b + SIZE_B - 1);
	assert_int_equal(vq_push(&t->vq, &t->elem, 1), 0);

	/* One buffer across the boundary: contiguous to the guest, not to us. */
	set_desc(t, 0, GPA_A + SIZE_A - 16, 32, 0, 0);
	publish(t, 0);
	expect_fault(t, "not in guest RAM");
}

static void test_iov_helpers(void **state)
{
	char a[3] = "abc", b[1], c[5] = "defgh", out[16];
	const struct iovec iov[3] = { { a, 3 }, { b, 0 }, { c, 5 } };

	(void)state;
	assert_int_equal(iov_to_buf(iov, 3, 0, out, sizeof(out)), 8);
	assert_memory_equal(out, "abcdefgh", 8);
	assert_int_equal(iov_to_buf(iov, 3, 2, out, 3), 3);
	assert_memory_equal(out, "cde", 3);
	assert_int_equal(iov_to_buf(iov, 3, 3, out, 16), 5);
	assert_memory_equal(out, "defgh", 5);
	assert_int_equal(iov_to_buf(iov, 3, 7, out, 16), 1);
	assert_int_equal(out[0], 'h');
	assert_int_equal(iov_to_buf(iov, 3, 8, out, 16), 0);
	assert_int_equal(iov_to_buf(iov, 3, 100, out, 16), 0);
	assert_int_equal(iov_to_buf(iov, 0, 0, out, 16), 0);
	assert_int_equal(iov_to_buf(iov, 3, 0, out, 0), 0);

	assert_int_equal(iov_from_buf(iov, 3, 1, "XYZW", 4), 4);
	assert_memory_equal(a, "aXY", 3);
	assert_memory_equal(c, "ZWfgh", 5);
	assert_int_equal(iov_from_buf(iov, 3, 6, "123456", 6), 2);
	assert_memory_equal(c, "ZWf12", 5);
	assert_int_equal(iov_from_buf(iov, 3, 8, "1", 1), 0);
}

/* The 16-bit indices wrap: 65536 + a few chains through a queue of 4. */
static void test_index_wraparound(void **state)
{
	struct tq *t = *state;
	struct vq_elem *elems = calloc(4, sizeof(*elems));

	assert_non_null(elems);
	start(t, 4, F_EVENT_IDX);
	for (int i = 0; i < 4; i++)
		set_desc(t, i, DATA + 0x100 * i, 8, VRING_DESC_F_WRITE, 0);
	for (unsigned int n = 0; n < 0xfffe; n++) {
		publish(t, n % 4);
		assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
		assert_int_equal(t->elem.head, n % 4);
		assert_int_equal(vq_push(&t->vq, &t->elem, 8), 0);
	}
	assert_int_equal(t->vq.last_avail, 0xfffe);
	assert_int_equal(used_idx(t), 0xfffe);
	assert_true(vq_should_notify(&t->vq)); /* the first one always notifies */

	/* Four at once, across the wrap of both indices. */
	for (int i = 0; i < 4; i++)
		publish(t, 3 - i);
	assert_int_equal(t->avail_idx, 2);
	for (int i = 0; i < 4; i++) {
		assert_int_equal(vq_pop(&t->vq, &elems[i]), 1);
		assert_int_equal(elems[i].head, 3 - i);
	}
	assert_int_equal(vq_pop(&t->vq, &t->elem), 0);
	assert_int_equal(t->vq.last_avail, 2);
	/* The driver wants an interrupt once entry 0xffff is used. */
	set_used_event(t, 0xffff);
	assert_int_equal(vq_push(&t->vq, &elems[0], 1), 0);
	assert_false(vq_should_notify(&t->vq));
	assert_int_equal(vq_push(&t->vq, &elems[1], 2), 0);
	assert_true(vq_should_notify(&t->vq));
	assert_int_equal(vq_push(&t->vq, &elems[2], 3), 0);
	assert_int_equal(vq_push(&t->vq, &elems[3], 4), 0);
	assert_int_equal(used_idx(t), 2);
	assert_int_equal(used_elem(t, 0xfffe).id, 3);
	assert_int_equal(used_elem(t, 0xffff).id, 2);
	assert_int_equal(used_elem(t, 0).id, 1);
	assert_int_equal(used_elem(t, 1).id, 0);
	assert_int_equal(used_elem(t, 1).len, 4);
	assert_false(t->vq.broken);

	/* An index too far ahead across the wrap is still caught. */
	set_avail_idx(t, 2 + 5);
	expect_fault(t, "ahead");
	free(elems);
}

static void push_one(struct tq *t)
{
	publish(t, 0);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(vq_push(&t->vq, &t->elem, 0), 0);
}

static void test_event_idx_notify(void **state)
{
	struct tq *t = *state;

	start(t, 8, F_EVENT_IDX);
	set_desc(t, 0, DATA, 8, 0, 0);
	assert_false(vq_should_notify(&t->vq)); /* nothing used yet */

	/* The first notification is sent whatever used_event says. */
	set_used_event(t, 5);
	push_one(t); /* used idx 0 -> 1 */
	assert_true(vq_should_notify(&t->vq));
	assert_false(vq_should_notify(&t->vq)); /* nothing new */

	/* used_event equal to the old idx: the entry just written is the one. */
	set_used_event(t, 1);
	push_one(t); /* 1 -> 2 */
	assert_true(vq_should_notify(&t->vq));

	/* used_event behind: already notified past it. */
	set_used_event(t, 1);
	push_one(t); /* 2 -> 3 */
	assert_false(vq_should_notify(&t->vq));

	/* Ahead: no notification until the entry it names is used. */
	set_used_event(t, 5);
	push_one(t); /* 3 -> 4 */
	assert_false(vq_should_notify(&t->vq));
	push_one(t); /* 4 -> 5 */
	assert_false(vq_should_notify(&t->vq));
	push_one(t); /* 5 -> 6: entry 5 used */
	assert_true(vq_should_notify(&t->vq));

	/* Several pushes, one check: used_event anywhere in the batch notifies. */
	set_used_event(t, 7);
	push_one(t); /* 6 -> 7 */
	push_one(t); /* 7 -> 8 */
	push_one(t); /* 8 -> 9 */
	assert_true(vq_should_notify(&t->vq));

	/* NO_INTERRUPT means nothing with EVENT_IDX (2.7.7: ignore the bit). */
	set_avail_flags(t, VRING_AVAIL_F_NO_INTERRUPT);
	set_used_event(t, 9);
	push_one(t); /* 9 -> 10 */
	assert_true(vq_should_notify(&t->vq));

	/* Linux turns interrupts off by pointing used_event far away. */
	set_used_event(t, 0);
	for (int i = 0; i < 20; i++) {
		push_one(t);
		assert_false(vq_should_notify(&t->vq));
	}
}

static void test_no_interrupt_flag(void **state)
{
	struct tq *t = *state;

	start(t, 8, 0);
	set_desc(t, 0, DATA, 8, 0, 0);
	assert_false(vq_should_notify(&t->vq));
	push_one(t);
	assert_true(vq_should_notify(&t->vq));
	assert_false(vq_should_notify(&t->vq)); /* nothing new */

	/* used_event means nothing without EVENT_IDX. */
	set_used_event(t, 100);
	push_one(t);
	assert_true(vq_should_notify(&t->vq));

	set_avail_flags(t, VRING_AVAIL_F_NO_INTERRUPT);
	push_one(t);
	assert_false(vq_should_notify(&t->vq));
	push_one(t);
	assert_false(vq_should_notify(&t->vq));
	/* Re-enabled: what was pushed meanwhile is still owed an interrupt. */
	set_avail_flags(t, 0);
	assert_true(vq_should_notify(&t->vq));
	assert_false(vq_should_notify(&t->vq));
}

static void test_set_notify(void **state)
{
	struct tq *t = *state;
	uint16_t old;

	/* Without EVENT_IDX: VRING_USED_F_NO_NOTIFY, avail_event untouched. */
	start(t, 8, 0);
	*(uint16_t *)hva(t, t->used + 4 + 8 * 8) = 0xabcd;
	vq_set_notify(&t->vq, false);
	assert_int_equal(used_flags(t), VRING_USED_F_NO_NOTIFY);
	vq_set_notify(&t->vq, true);
	assert_int_equal(used_flags(t), 0);
	assert_int_equal(avail_event(t), 0xabcd);

	/* With EVENT_IDX: avail_event, and flags stay 0. */
	start(t, 8, F_EVENT_IDX);
	set_desc(t, 0, DATA, 8, 0, 0);
	publish(t, 0);
	publish(t, 0);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(vq_push(&t->vq, &t->elem, 0), 0);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	assert_int_equal(vq_push(&t->vq, &t->elem, 0), 0);

	vq_set_notify(&t->vq, true);
	assert_int_equal(avail_event(t), 2);
	assert_int_equal(used_flags(t), 0);
	/* The driver's check (2.7.10): publishing entry 2 kicks. */
	old = t->avail_idx;
	publish(t, 0);
	assert_true(driver_need_event(avail_event(t), t->avail_idx, old));

	/* Draining with kicks off: the driver's next publications do not kick. */
	assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
	vq_set_notify(&t->vq, false);
	assert_int_equal(used_flags(t), 0);
	for (int i = 0; i < 3; i++) {
		old = t->avail_idx;
		publish(t, 0);
		assert_false(driver_need_event(avail_event(t), t->avail_idx, old));
	}
	assert_int_equal(vq_push(&t->vq, &t->elem, 0), 0);

	/* Re-enabled with work still queued: that work sent no kick, so pop again. */
	vq_set_notify(&t->vq, true);
	assert_int_equal(avail_event(t), 3);
	for (int i = 0; i < 3; i++)
		pop_push_ok(t, 0);
	assert_int_equal(vq_pop(&t->vq, &t->elem), 0);
	vq_set_notify(&t->vq, true);
	old = t->avail_idx;
	publish(t, 0);
	assert_true(driver_need_event(avail_event(t), t->avail_idx, old));
}

/*
 * vq_unpop(): the last chains popped go back to the ring, untouched, and are
 * popped again in order; they were seen, so with EVENT_IDX the driver's
 * next publication (not theirs again) kicks.
 */
static void test_unpop(void **state)
{
	struct tq *t = *state;
	uint16_t old;

	start(t, 8, F_EVENT_IDX);
	for (uint16_t i = 0; i < 3; i++) {
		set_desc(t, i, DATA + 0x100 * i, 8, VRING_DESC_F_WRITE, 0);
		publish(t, i);
	}
	for (uint16_t i = 0; i < 3; i++) {
		assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
		assert_int_equal(t->elem.head, i);
	}
	assert_int_equal(vq_pop(&t->vq, &t->elem), 0);
	assert_int_equal(t->vq.inflight, 3);

	/* More than in flight is a device bug, and changes nothing. */
	assert_int_equal(vq_unpop(&t->vq, 4), -EINVAL);
	assert_int_equal(t->vq.inflight, 3);

	assert_int_equal(vq_unpop(&t->vq, 2), 0);
	assert_int_equal(t->vq.inflight, 1);
	/* Waiting for more: a kick for entry 3, not for 1 and 2 again. */
	vq_set_notify(&t->vq, true);
	assert_int_equal(avail_event(t), 3);
	set_desc(t, 3, DATA + 0x300, 8, VRING_DESC_F_WRITE, 0);
	old = t->avail_idx;
	publish(t, 3);
	assert_true(driver_need_event(avail_event(t), t->avail_idx, old));

	/* Taken again in order, then the new one; every chain pushed once. */
	for (uint16_t i = 1; i < 4; i++) {
		assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
		assert_int_equal(t->elem.head, i);
		assert_int_equal(t->elem.iov[0].iov_base, hva(t, DATA + 0x100 * i));
	}
	assert_int_equal(vq_pop(&t->vq, &t->elem), 0);
	assert_int_equal(t->vq.unpopped, 0);
	assert_int_equal(t->vq.inflight, 4);
	vq_set_notify(&t->vq, true);
	assert_int_equal(avail_event(t), 4);
}

static void test_push_errors(void **state)
{
	struct tq *t = *state;
	struct vq_elem *e = &t->elem;
	char log[1024];

	start(t, 8, 0);
	memset(e, 0, sizeof(*e));
	capture_begin();
	assert_int_equal(vq_push(&t->vq, e, 0), -EINVAL);
	capture_end(log, sizeof(log), true);
	assert_non_null(strstr(log, "evvm: q0: push with no chain in flight"));

	set_desc(t, 0, DATA, 8, VRING_DESC_F_WRITE, 0);
	publish(t, 0);
	assert_int_equal(vq_pop(&t->vq, e), 1);
	capture_begin();
	assert_int_equal(vq_push(&t->vq, e, 9), -EINVAL);
	capture_end(log, sizeof(log), true);
	assert_non_null(strstr(log, "evvm: q0: push of 9 bytes"));
	e->head = 8;
	assert_int_equal(vq_push(&t->vq, e, 8), -EINVAL);
	e->head = 0;
	/* A device bug, not the guest's: the queue is not broken. */
	assert_false(t->vq.broken);
	assert_int_equal(used_idx(t), 0);
	assert_int_equal(vq_push(&t->vq, e, 8), 0);
	assert_int_equal(used_idx(t), 1);
	assert_int_equal(vq_push(&t->vq, e, 0), -EINVAL);
	assert_int_equal(used_idx(t), 1);

	vq_reset(&t->vq);
	assert_int_equal(vq_push(&t->vq, e, 0), -EINVAL);
}

/* Hostile drivers: each case breaks the queue; expect_fault() checks recovery. */

static void test_bad_avail_idx(void **state)
{
	struct tq *t = *state;

	start(t, 8, 0);
	simple_chain(t, 0);
	set_avail_idx(t, 9);
	expect_fault(t, "avail idx 9 is more than 8 ahead of 0");

	/* vq_init() without vq_reset() also starts afresh. */
	set_avail_idx(t, 100);
	assert_int_equal(vq_pop(&t->vq, &t->elem), -EINVAL);
	start(t, 8, 0);
	assert_false(t->vq.broken);
	simple_chain(t, 0);
	publish(t, 0);
	pop_push_ok(t, 0);

	/* Exactly num is fine. */
	for (int i = 0; i < 8; i++)
		publish(t, 0);
	for (int i = 0; i < 8; i++) {
		assert_int_equal(vq_pop(&t->vq, &t->elem), 1);
		assert_int_equal(vq_push(&t->vq, &t->elem, 0), 0);
	}

	/* Backwards. */
	set_avail_idx(t, 7);
	expect_fault(t, "avail idx 7");
}

static void test_bad_head(void **state)
{
	struct tq *t = *state;

	start(t, 8, 0);
	publish(t, 8);
	expect_fault(t, "head 8 out of range");
	publish(t, 0xffff);
	expect_fault(t, "head 65535 out of range");
}

static void test_bad_next(void **state)
{
	struct tq *t = *state;

	start(t, 8, 0);
	set_desc(t, 0, DATA, 8, VRING_DESC_F_NEXT, 8);
	publish(t, 0);
	expect_fault(t, "next 8 out of range");
}

static void test_bad_loop(void **state)
{
	struct tq *t = *state;

	start(t, 8, 0);
	set_desc(t, 0, DATA, 0, VRING_DESC_F_NEXT, 0);
	publish(t, 0);
	expect_fault(t, "chain longer than 8 descriptors");

	set_desc(t, 3, DATA, 8, VRING_DESC_F_NEXT, 4);
	set_desc(t, 4, DATA, 8, VRING_DESC_F_NEXT, 5);
	set_desc(t, 5, DATA, 8, VRING_DESC_F_NEXT, 3);
	publish(t, 3);
	expect_fault(t, "chain longer than 8 descriptors");
}

static void test_bad_indirect_chain(void **state)
{
	struct tq *t = *state;

	start(t, 8, F_INDIRECT);
	/* A loop inside a table of 2. */
	set_desc_at(t, ITABLE, 0, DATA, 8, VRING_DESC_F_NEXT, 1);
	set_desc_at(t, ITABLE, 1, DATA, 8, VRING_DESC_F_NEXT, 0);
	set_desc(t, 0, ITABLE, 32, VRING_DESC_F_INDIRECT, 0);
	publish(t, 0);
	expect_fault(t, "chain longer than 2 descriptors");

	/* next past the table's end, though inside the queue size. */
	set_desc_at(t, ITABLE, 0, DATA, 8, VRING_DESC_F_NEXT, 2);
	set_desc(t, 0, ITABLE, 32, VRING_DESC_F_INDIRECT, 0);
	publish(t, 0);
	expect_fault(t, "next 2 out of range (2 descriptors)");
}

static void test_bad_buffer_range(void **state)
{
	struct tq *t = *state;

	start(t, 8, 0);
	set_desc(t, 0, HOLE, 8, 0, 0);
	publish(t, 0);
	expect_fault(t, "buffer 0x10000000+0x8 is not in guest RAM");

	set_desc(t, 0, UINT64_MAX - 3, 16, 0, 0); /* addr + len wraps */
	publish(t, 0);
	expect_fault(t, "not in guest RAM");

	set_desc(t, 0, GPA_B + SIZE_B - 8, 9, VRING_DESC_F_WRITE, 0);
	publish(t, 0);
	expect_fault(t, "not in guest RAM");

	set_desc(t, 0, GPA_A, 0xffffffff, 0, 0);
	publish(t, 0);
	expect_fault(t, "not in guest RAM");

	/* Second in the chain. */
	set_desc(t, 0, DATA, 8, VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, GPA_A - 1, 2, VRING_DESC_F_WRITE, 0);
	publish(t, 0);
	expect_fault(t, "not in guest RAM");
}

static void test_bad_order(void **state)
{
	struct tq *t = *state;

	start(t, 8, F_INDIRECT);
	set_desc(t, 0, DATA, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, DATA, 8, 0, 0);
	publish(t, 0);
	expect_fault(t, "device-readable descriptor after a device-writable one");

	/* Inside an indirect table. */
	set_desc_at(t, ITABLE, 0, DATA, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc_at(t, ITABLE, 1, DATA, 8, 0, 0);
	set_desc(t, 0, ITABLE, 32, VRING_DESC_F_INDIRECT, 0);
	publish(t, 0);
	expect_fault(t, "device-readable descriptor after a device-writable one");

	/* A writable direct descriptor, then a table that starts readable. */
	set_desc_at(t, ITABLE, 0, DATA, 8, 0, 0);
	set_desc(t, 0, DATA, 8, VRING_DESC_F_WRITE | VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, ITABLE, 16, VRING_DESC_F_INDIRECT, 0);
	publish(t, 0);
	expect_fault(t, "device-readable descriptor after a device-writable one");
}

static void test_bad_indirect(void **state)
{
	struct tq *t = *state;
	static const uint32_t bad_len[] = { 0, 8, 24, 16 * VQ_MAX_SIZE + 16, 0xfffffff0 };

	start(t, 8, 0);
	set_desc_at(t, ITABLE, 0, DATA, 8, 0, 0);
	set_desc(t, 0, ITABLE, 16, VRING_DESC_F_INDIRECT, 0);
	publish(t, 0);
	expect_fault(t, "VIRTIO_F_INDIRECT_DESC not negotiated");

	start(t, 8, F_INDIRECT);
	set_desc(t, 0, ITABLE, 16, VRING_DESC_F_INDIRECT | VRING_DESC_F_NEXT, 1);
	set_desc(t, 1, DATA, 8, 0, 0);
	publish(t, 0);
	expect_fault(t, "indirect descriptor with NEXT set");

	for (unsigned int i = 0; i < sizeof(bad_len) / sizeof(bad_len[0]); i++) {
		set_desc(t, 0, ITABLE, bad_len[i], VRING_DESC_F_INDIRECT, 0);
		publish(t, 0);
		expect_fault(t, "indirect table length");
	}

	set_desc(t, 0, HOLE, 16, VRING_DESC_F_INDIRECT, 0);
	publish(t, 0);
	expect_fault(t, "indirect table 0x10000000+0x10 is not in guest RAM");
	set_desc(t, 0, GPA_B + SIZE_B - 16, 32, VRING_DESC_F_INDIRECT, 0);
	publish(t, 0);
	expect_fault(t, "not in guest RAM");
	set_desc(t, 0, UINT64_MAX - 15, 32, VRING_DESC_F_INDIRECT, 0);
	publish(t, 0);
	expect_fault(t, "not in guest RAM");

	/* Indirect in indirect, even pointing at a valid table. */
	set_desc_at(t, ITABLE + 0x100, 0, DATA, 8, 0, 0);
	set_desc_at(t, ITABLE, 0, ITABLE + 0x100, 16, VRING_DESC_F_INDIRECT, 0);
	set_desc(t, 0, ITABLE, 16, VRING_DESC_F_INDIRECT, 0);
	publish(t, 0);
	expect_fault(t, "indirect descriptor inside an indirect table");
}

static void test_bad_inflight(void **state)
{
	struct tq *t = *state;
	struct vq_elem *elems = calloc(2, sizeof(*elems));

	assert_non_null(elems);
	start(t, 2, 0);
	set_desc(t, 0, DATA, 8, 0, 0);
	set_desc(t, 1, DATA, 8, 0, 0);
	publish(t, 0);
	publish(t, 1);
	assert_int_equal(vq_pop(&t->vq, &elems[0]), 1);
	assert_int_equal(vq_pop(&t->vq, &elems[1]), 1);
	/* Both descriptors are the device's: a third chain reuses one. */
	publish(t, 0);
	expect_fault(t, "more than 2 chains");
	free(elems);
}

/*
 * A driver thread and a device thread, as in a guest: each buffer carries
 * the sequence number written before publication, so a device that read
 * ahead of avail idx (missing acquire), or a driver that saw used idx
 * before the entry (missing release), trips an assertion.
 */
#define CONCURRENT_N 200000

struct concurrent {
	struct tq *t;
	bool failed; /* atomic: both threads */
};

static bool is_failed(struct concurrent *c)
{
	return __atomic_load_n(&c->failed, __ATOMIC_RELAXED);
}

static void mark_failed(struct concurrent *c)
{
	__atomic_store_n(&c->failed, true, __ATOMIC_RELAXED);
}

static void *device_thread(void *arg)
{
	struct concurrent *c = arg;
	struct tq *t = c->t;
	uint32_t expect = 0, seq;

	while (expect < CONCURRENT_N && !is_failed(c)) {
		int r = vq_pop(&t->vq, &t->elem);

		if (r == 0) {
			sched_yield();
			continue;
		}
		if (r < 0 || t->elem.out_num != 1 ||
		    iov_to_buf(t->elem.iov, 1, 0, &seq, sizeof(seq)) != sizeof(seq) ||
		    seq != expect || vq_push(&t->vq, &t->elem, 0)) {
			mark_failed(c);
			break;
		}
		expect++;
	}
	return NULL;
}

static void test_concurrent(void **state)
{
	struct tq *t = *state;
	struct concurrent c = { .t = t };
	uint16_t used_seen = 0;
	uint32_t seq = 0, done = 0;
	pthread_t th;

	start(t, 16, 0);
	for (int i = 0; i < 16; i++)
		set_desc(t, i, DATA + 0x10 * i, 4, 0, 0);
	assert_int_equal(pthread_create(&th, NULL, device_thread, &c), 0);
	while (done < CONCURRENT_N && !is_failed(&c)) {
		uint16_t u = used_idx(t);

		/* Reclaim what the device used, then refill what is free. */
		while (used_seen != u) {
			struct vring_used_elem e = used_elem(t, used_seen);

			if (e.id != (used_seen & 15)) {
				mark_failed(&c);
				break;
			}
			used_seen++;
			done++;
		}
		while (seq < CONCURRENT_N && (uint16_t)(t->avail_idx - used_seen) < 16) {
			uint16_t head = t->avail_idx & 15;

			memcpy(hva(t, DATA + 0x10 * head), &seq, sizeof(seq));
			publish(t, head);
			seq++;
		}
		sched_yield();
	}
	pthread_join(th, NULL);
	assert_false(is_failed(&c));
	assert_false(t->vq.broken);
	assert_int_equal(t->vq.inflight, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_captured_setup_teardown(test_init_checks, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_init_host_alignment, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_simple_chain, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_several_chains, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_chain_as_long_as_queue, setup,
							 teardown),
		cmocka_unit_test_captured_setup_teardown(test_zero_length, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_indirect, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_max_segments, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_split_regions, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_iov_helpers, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_index_wraparound, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_event_idx_notify, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_no_interrupt_flag, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_set_notify, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_unpop, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_push_errors, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_bad_avail_idx, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_bad_head, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_bad_next, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_bad_loop, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_bad_indirect_chain, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_bad_buffer_range, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_bad_order, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_bad_indirect, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_bad_inflight, setup, teardown),
		cmocka_unit_test_captured_setup_teardown(test_concurrent, setup, teardown),
	};

	return cmocka_run_group_tests_name("virtqueue", tests, NULL, NULL);
}
