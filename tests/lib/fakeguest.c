// SPDX-License-Identifier: MIT
#include <errno.h>
#include <string.h>

#include "fakeguest.h"

#define RING_AVAIL_OFF 0x1000
#define RING_USED_OFF  0x2000

int fg_init(struct fakeguest *g, uint8_t *ram, uint64_t gpa, uint64_t size, uint64_t heap)
{
	struct evvm_mem_region r = { .gpa = gpa, .size = size, .hva = ram, .fd = -1 };

	*g = (struct fakeguest){ .ram = ram, .gpa = gpa, .size = size, .heap = heap };
	mem_init(&g->mem);
	return mem_add_region(&g->mem, &r);
}

void *fg_hva(const struct fakeguest *g, uint64_t gpa, uint64_t len)
{
	if (gpa < g->gpa || gpa - g->gpa > g->size || len > g->size - (gpa - g->gpa))
		return NULL;
	return g->ram + (gpa - g->gpa);
}

uint64_t fg_alloc(struct fakeguest *g, uint32_t len)
{
	uint64_t gpa = g->heap, next = (g->heap + len + 63) & ~63ULL;

	if (next > g->gpa + g->size)
		return 0;
	g->heap = next;
	return gpa;
}

void fg_free_all(struct fakeguest *g, uint64_t heap)
{
	g->heap = heap;
}

int fg_queue_init(struct fakeguest *g, struct fg_queue *q, uint64_t desc, uint16_t size)
{
	void *p = fg_hva(g, desc, RING_USED_OFF + 6 + 8 * (uint64_t)size);

	if (!p || !size || (size & (size - 1)))
		return !p ? -EFAULT : -EINVAL;
	memset(p, 0, RING_USED_OFF + 6 + 8 * (uint64_t)size);
	*q = (struct fg_queue){ .desc = desc,
				.avail = desc + RING_AVAIL_OFF,
				.used = desc + RING_USED_OFF,
				.size = size };
	return 0;
}

int fg_post_chain(struct fakeguest *g, struct fg_queue *q, const struct fg_seg *segs,
		  unsigned int n)
{
	struct vring_desc *desc = fg_hva(g, q->desc, 16 * (uint64_t)q->size);
	uint16_t *avail = fg_hva(g, q->avail, 4 + 2 * (uint64_t)q->size);
	uint16_t head = q->next_desc % q->size;

	if (!desc || !avail)
		return -EFAULT;
	if (!n || n > q->size)
		return -EINVAL;
	for (unsigned int i = 0; i < n; i++) {
		uint16_t k = q->next_desc++ % q->size;

		desc[k] = (struct vring_desc){
			.addr = segs[i].gpa,
			.len = segs[i].len,
			.flags = (segs[i].write ? VRING_DESC_F_WRITE : 0) |
				 (i + 1 < n ? VRING_DESC_F_NEXT : 0),
			.next = (k + 1) % q->size,
		};
	}
	avail[2 + q->avail_idx % q->size] = head;
	q->avail_idx++;
	__atomic_store_n(&avail[1], q->avail_idx, __ATOMIC_RELEASE);
	return head;
}

int fg_used_idx(const struct fakeguest *g, const struct fg_queue *q)
{
	uint16_t *idx = fg_hva(g, q->used + 2, 2);

	return idx ? __atomic_load_n(idx, __ATOMIC_ACQUIRE) : -EFAULT;
}

int fg_used_elem(const struct fakeguest *g, const struct fg_queue *q, uint16_t i,
		 struct vring_used_elem *e)
{
	const void *p = fg_hva(g, q->used + 4 + 8 * (uint64_t)(i % q->size), sizeof(*e));

	if (!p)
		return -EFAULT;
	memcpy(e, p, sizeof(*e));
	return 0;
}

int fg_set_used_event(const struct fakeguest *g, const struct fg_queue *q, uint16_t idx)
{
	uint16_t *ev = fg_hva(g, q->avail + 4 + 2 * (uint64_t)q->size, 2);

	if (!ev)
		return -EFAULT;
	__atomic_store_n(ev, idx, __ATOMIC_RELEASE);
	return 0;
}
