/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TESTS_FAKEGUEST_H
#define EVVM_TESTS_FAKEGUEST_H

#include <stdbool.h>
#include <stdint.h>

#include <evvm/mem.h>
#include <evvm/virtio.h>
#include <evvm/virtqueue.h>

/*
 * A fake guest driver for device unit tests and fuzzers: one block of
 * guest RAM (a host buffer at guest-physical @gpa), a bump allocator for
 * buffers, and the driver's side of split rings. No cmocka here (the
 * fuzzers link it): functions report failure by their result, the tests'
 * own wrappers assert.
 */
struct fakeguest {
	uint8_t *ram;
	uint64_t gpa, size;
	uint64_t heap; /* next free gpa for fg_alloc() */
	struct evvm_mem mem;
};

/* One buffer of a chain. */
struct fg_seg {
	uint64_t gpa;
	uint32_t len;
	bool write; /* device-writable */
};

/* The driver's side of one split ring of @size entries (a power of 2). */
struct fg_queue {
	uint64_t desc, avail, used; /* gpas */
	uint16_t size;
	uint16_t next_desc; /* next descriptor to fill (wraps around the table) */
	uint16_t avail_idx; /* the driver's copy of avail->idx */
	uint16_t used_seen; /* used entries consumed */
};

/*
 * Describe @ram (@size bytes, caller-owned) as guest RAM at @gpa, with
 * buffers allocated from @heap on. Returns 0 or -errno from mem_add_region().
 */
int fg_init(struct fakeguest *g, uint8_t *ram, uint64_t gpa, uint64_t size, uint64_t heap);

/* Host address of guest range [@gpa, @gpa + @len), or NULL if not all in RAM. */
void *fg_hva(const struct fakeguest *g, uint64_t gpa, uint64_t len);

/* @len bytes of RAM from the heap (64-byte aligned); 0 once RAM is exhausted. */
uint64_t fg_alloc(struct fakeguest *g, uint32_t len);

/* Let the heap start over at @heap (nothing outstanding uses it). */
void fg_free_all(struct fakeguest *g, uint64_t heap);

/* Lay out ring @q at @desc (avail at +0x1000, used at +0x2000) and zero it. */
int fg_queue_init(struct fakeguest *g, struct fg_queue *q, uint64_t desc, uint16_t size);

/*
 * Write a chain of @n buffers into the descriptor table from q->next_desc on
 * (wrapping around it) and make it available. Returns its head, or -EINVAL
 * if @n is 0 or larger than the ring, -EFAULT if the ring is not in RAM.
 */
int fg_post_chain(struct fakeguest *g, struct fg_queue *q, const struct fg_seg *segs,
		  unsigned int n);

/* The device's used->idx (acquire), or -EFAULT. */
int fg_used_idx(const struct fakeguest *g, const struct fg_queue *q);

/* Used entry @i (modulo the ring's size) into *@e. 0 or -EFAULT. */
int fg_used_elem(const struct fakeguest *g, const struct fg_queue *q, uint16_t i,
		 struct vring_used_elem *e);

/* Set used_event (EVENT_IDX: interrupt me when entry @idx is used). 0 or -EFAULT. */
int fg_set_used_event(const struct fakeguest *g, const struct fg_queue *q, uint16_t idx);

#endif
