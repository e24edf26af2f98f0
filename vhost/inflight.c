// SPDX-License-Identifier: MIT
/*
 * vhost-user in-flight tracking, split rings (see inflight.h). Stores to the
 * region are ordered as the document's procedure requires, so that a
 * backend killed between any two of them leaves a region its successor can
 * recover: a chain is marked before the device starts it, and cleared only
 * after its used entry is published; a batch being published is listed
 * (next, last_batch_head) first, so a crash after the used index moved but
 * before the marks were cleared is undone from the list.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <evvm/log.h>

#include "inflight.h"

#define INFLIGHT_ALIGN 64

struct inflight_desc {
	uint8_t inflight;
	uint8_t padding[5];
	uint16_t next;
	uint64_t counter;
};

struct inflight_queue {
	uint64_t features;
	uint16_t version;
	uint16_t desc_num;
	uint16_t last_batch_head;
	uint16_t used_idx;
	struct inflight_desc desc[];
};

_Static_assert(sizeof(struct inflight_desc) == 16, "16-byte entries");
_Static_assert(sizeof(struct inflight_queue) == 16, "16-byte queue header");

static uint64_t inflight_queue_size(uint16_t queue_size)
{
	uint64_t n = sizeof(struct inflight_queue) + sizeof(struct inflight_desc) * queue_size;

	return (n + INFLIGHT_ALIGN - 1) & ~(uint64_t)(INFLIGHT_ALIGN - 1);
}

uint64_t inflight_region_size(uint16_t num_queues, uint16_t queue_size)
{
	return inflight_queue_size(queue_size) * num_queues;
}

int inflight_region_create(uint16_t num_queues, uint16_t queue_size, struct inflight_region *r)
{
	uint64_t size = inflight_region_size(num_queues, queue_size);
	int fd, err;
	void *p;

	fd = memfd_create("evvm-inflight", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -errno;
	if (ftruncate(fd, (off_t)size) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0) {
		err = -errno;
		goto close_fd;
	}
	p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	if (p == MAP_FAILED) {
		err = -errno;
		goto close_fd;
	}
	*r = (struct inflight_region){ .addr = p,
				       .map_len = size,
				       .base = p,
				       .num_queues = num_queues,
				       .queue_size = queue_size };
	return fd;
close_fd:
	close(fd);
	return err;
}

/* The fd is long enough, and cannot shrink (a memfd sealed here if it can be). */
static int inflight_check_fd(int fd, uint64_t end, char *why, size_t why_len)
{
	struct stat st;
	int seals;

	if (fstat(fd, &st) < 0) {
		snprintf(why, why_len, "fstat: %s", evvm_strerror(errno));
		return -errno;
	}
	if (!S_ISREG(st.st_mode) || (uint64_t)st.st_size < end) {
		snprintf(why, why_len, "the fd is not a file of at least %llu bytes",
			 (unsigned long long)end);
		return -EINVAL;
	}
	seals = fcntl(fd, F_GET_SEALS);
	if (seals >= 0 && !(seals & F_SEAL_SHRINK) &&
	    ((seals & F_SEAL_SEAL) || fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK) < 0)) {
		snprintf(why, why_len, "the region's memfd can shrink and cannot be sealed");
		return -EINVAL;
	}
	return 0;
}

int inflight_region_map(int fd, const struct vhost_user_inflight *msg, unsigned int max_queues,
			uint16_t max_size, struct inflight_region *r, char *why, size_t why_len)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t need, off = msg->mmap_offset, len = msg->mmap_size;
	void *p;
	int err;

	if (msg->num_queues == 0 || msg->num_queues > max_queues || msg->queue_size == 0 ||
	    msg->queue_size > max_size || (msg->queue_size & (msg->queue_size - 1))) {
		snprintf(why, why_len,
			 "%u queues of %u entries (1 to %u queues, a power of 2 up to %u)",
			 msg->num_queues, msg->queue_size, max_queues, max_size);
		return -EINVAL;
	}
	need = inflight_region_size(msg->num_queues, msg->queue_size);
	if (len < need || len > (uint64_t)1 << 32 || off > (uint64_t)1 << 40 ||
	    off % INFLIGHT_ALIGN) {
		snprintf(why, why_len,
			 "region of %llu bytes at offset %llu (a multiple of 64); %u queues of %u "
			 "entries need %llu",
			 (unsigned long long)len, (unsigned long long)off, msg->num_queues,
			 msg->queue_size, (unsigned long long)need);
		return -EINVAL;
	}
	err = inflight_check_fd(fd, off + len, why, why_len);
	if (err)
		return err;
	r->map_len = off % page + len;
	p = mmap(NULL, r->map_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		 (off_t)(off - off % page));
	if (p == MAP_FAILED) {
		snprintf(why, why_len, "mmap: %s", evvm_strerror(errno));
		return -errno;
	}
	r->addr = p;
	r->base = (uint8_t *)p + off % page;
	r->num_queues = msg->num_queues;
	r->queue_size = msg->queue_size;
	return 0;
}

void inflight_region_unmap(struct inflight_region *r)
{
	if (r->addr)
		munmap(r->addr, r->map_len);
	*r = (struct inflight_region){ 0 };
}

/* ---- the tracker: runs on the queue's thread ---- */

static bool ir_resubmit(struct vq_tracker *t, uint16_t *head)
{
	struct inflight_ring *ir = (struct inflight_ring *)t;

	if (ir->next_resubmit >= ir->nr_resubmit)
		return false;
	*head = ir->resubmit[ir->next_resubmit++];
	if (ir->next_resubmit == ir->nr_resubmit) {
		free(ir->resubmit);
		ir->resubmit = NULL;
		ir->nr_resubmit = ir->next_resubmit = 0;
	}
	return true;
}

/* Marked before the device sees it: the counter first, then the flag. */
static void ir_popped(struct vq_tracker *t, uint16_t head)
{
	struct inflight_ring *ir = (struct inflight_ring *)t;
	struct inflight_desc *d = &ir->q->desc[head];

	d->counter = ir->counter++;
	__atomic_store_n(&d->inflight, 1, __ATOMIC_RELEASE);
}

/* The batch is listed before the used index moves. */
static void ir_publishing(struct vq_tracker *t, struct vq_elem *const *elems, unsigned int n)
{
	struct inflight_ring *ir = (struct inflight_ring *)t;
	struct inflight_queue *q = ir->q;

	for (unsigned int i = 0; i < n; i++) {
		q->desc[elems[i]->head].next = q->last_batch_head;
		__atomic_store_n(&q->last_batch_head, elems[i]->head, __ATOMIC_RELEASE);
	}
}

/* The used index moved: clear the batch, then record the index. */
static void ir_published(struct vq_tracker *t, struct vq_elem *const *elems, unsigned int n,
			 uint16_t used_idx)
{
	struct inflight_ring *ir = (struct inflight_ring *)t;
	struct inflight_queue *q = ir->q;

	for (unsigned int i = 0; i < n; i++)
		__atomic_store_n(&q->desc[elems[i]->head].inflight, 0, __ATOMIC_RELEASE);
	__atomic_store_n(&q->used_idx, used_idx, __ATOMIC_RELEASE);
}

/*
 * The region says used_idx but the used ring says @ring_used: the backend
 * died after publishing a batch of (ring_used - used_idx) chains and before
 * clearing them; the batch list from last_batch_head names them.
 */
static void ir_undo_last_batch(struct inflight_ring *ir, uint16_t ring_used)
{
	struct inflight_queue *q = ir->q;
	uint16_t batch = ring_used - q->used_idx, head = q->last_batch_head;

	/* Both come from the frontend's memory: bound the walk and every index. */
	if (batch > ir->num)
		batch = ir->num;
	for (uint16_t i = 0; i < batch && head < ir->num; i++) {
		q->desc[head].inflight = 0;
		head = q->desc[head].next;
	}
	q->used_idx = ring_used;
}

static int counter_cmp(const void *a, const void *b, void *arg)
{
	const struct inflight_desc *d = arg;
	uint64_t x = d[*(const uint16_t *)a].counter, y = d[*(const uint16_t *)b].counter;

	return x < y ? -1 : x > y;
}

/* Collect the chains still marked, sorted by counter; sets ir->counter past the last. */
static int ir_collect(struct inflight_ring *ir)
{
	struct inflight_queue *q = ir->q;
	unsigned int n = 0;

	ir->counter = 0;
	for (unsigned int i = 0; i < ir->num; i++)
		if (q->desc[i].inflight)
			n++;
	if (!n)
		return 0;
	ir->resubmit = malloc(n * sizeof(*ir->resubmit));
	if (!ir->resubmit)
		return -ENOMEM;
	n = 0;
	for (unsigned int i = 0; i < ir->num; i++) {
		if (!q->desc[i].inflight)
			continue;
		q->desc[i].inflight = 1;
		ir->resubmit[n++] = i;
		if (q->desc[i].counter >= ir->counter)
			ir->counter = q->desc[i].counter + 1;
	}
	qsort_r(ir->resubmit, n, sizeof(*ir->resubmit), counter_cmp, q->desc);
	ir->nr_resubmit = n;
	ir->next_resubmit = 0;
	return (int)n;
}

int inflight_ring_start(struct inflight_ring *ir, const struct inflight_region *region,
			unsigned int q, struct evvm_vq *vq, char *why, size_t why_len)
{
	struct vq_base base;
	int n;

	inflight_ring_stop(ir);
	if (q >= region->num_queues || vq->num != region->queue_size) {
		snprintf(why, why_len,
			 "the in-flight region has %u queues of %u entries; queue %u has %u",
			 region->num_queues, region->queue_size, q, vq->num);
		return -EINVAL;
	}
	ir->q = (struct inflight_queue *)(region->base +
					  inflight_queue_size(region->queue_size) * q);
	ir->num = vq->num;
	ir->name = vq->name;
	vq_get_base(vq, &base);
	/* The used ring's index is what the driver saw: the truth to recover against. */
	base.used_idx = __atomic_load_n((uint16_t *)(vq->used + 2), __ATOMIC_ACQUIRE);
	if (ir->q->version != INFLIGHT_VERSION || ir->q->desc_num != vq->num) {
		/* A new region (or one for another queue size): nothing was in flight. */
		memset(ir->q->desc, 0, sizeof(struct inflight_desc) * vq->num);
		ir->q->features = 0;
		ir->q->desc_num = vq->num;
		ir->q->last_batch_head = 0;
		ir->q->used_idx = base.used_idx;
		__atomic_store_n(&ir->q->version, INFLIGHT_VERSION, __ATOMIC_RELEASE);
	} else if (ir->q->used_idx != base.used_idx) {
		ir_undo_last_batch(ir, base.used_idx);
	}
	n = ir_collect(ir);
	if (n < 0) {
		snprintf(why, why_len, "%s", evvm_strerror(n));
		ir->q = NULL;
		return n;
	}
	/* Every chain taken is either used or still in flight. */
	base.last_avail = base.used_idx + n;
	vq_set_base(vq, &base, true);
	ir->t = (struct vq_tracker){ .resubmit = ir_resubmit,
				     .popped = ir_popped,
				     .publishing = ir_publishing,
				     .published = ir_published };
	vq->tracker = &ir->t;
	if (n)
		pr_info("%s: %d requests in flight before the restart are submitted again",
			vq->name, n);
	return n;
}

void inflight_ring_stop(struct inflight_ring *ir)
{
	free(ir->resubmit);
	ir->resubmit = NULL;
	ir->nr_resubmit = ir->next_resubmit = 0;
	ir->q = NULL;
}
