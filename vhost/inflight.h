/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VHOST_INFLIGHT_H
#define EVVM_VHOST_INFLIGHT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <evvm/virtqueue.h>

#include "vhost_user.h"

/*
 * vhost-user in-flight tracking for split rings (docs/interop/vhost-user.rst,
 * "Inflight I/O tracking"): a shared region, one part per queue, in which
 * the backend marks each chain it takes (with a counter giving the order)
 * and clears it once its used entry is published. The frontend keeps the
 * region across a backend restart and hands it to the next backend, which
 * resubmits exactly the chains still marked, in the order they were taken.
 *
 * Layout, as QEMU's libvhost-user and DPDK read it: per queue, 16 bytes
 * (features u64, version u16 = 1, desc_num u16, last_batch_head u16,
 * used_idx u16) and desc_num 16-byte entries (inflight u8, 5 padding
 * bytes, next u16, counter u64); each queue's part rounded up to 64 bytes.
 * A region whose version is 0 is new.
 */

#define INFLIGHT_VERSION 1

/* One mapped region (the control thread maps and unmaps it). */
struct inflight_region {
	void *addr; /* NULL: none */
	size_t map_len;
	uint8_t *base; /* addr + the offset within the mapping */
	uint16_t num_queues;
	uint16_t queue_size;
};

/* Per ring: the vq_tracker of one queue's part (I/O thread). */
struct inflight_ring {
	struct vq_tracker t;
	struct inflight_queue *q; /* NULL: not tracking */
	uint16_t num;
	uint64_t counter;   /* the next chain's */
	uint16_t *resubmit; /* heads to hand out again, in counter order */
	unsigned int nr_resubmit, next_resubmit;
	const char *name;
};

/* Bytes of the region for @num_queues queues of @queue_size entries. */
uint64_t inflight_region_size(uint16_t num_queues, uint16_t queue_size);

/*
 * GET_INFLIGHT_FD: a new zeroed region (memfd sealed against shrinking and
 * growing) for @num_queues queues of @queue_size entries, mapped into @r.
 * Returns the memfd (the caller sends it and closes it), or -errno.
 */
int inflight_region_create(uint16_t num_queues, uint16_t queue_size, struct inflight_region *r);

/*
 * SET_INFLIGHT_FD: check @msg against @fd (size, offset, queue count and
 * size up to @max_queues and @max_size, the file's length) and map it into
 * @r. The fd stays the caller's. Returns 0, or -errno with @why.
 */
int inflight_region_map(int fd, const struct vhost_user_inflight *msg, unsigned int max_queues,
			uint16_t max_size, struct inflight_region *r, char *why, size_t why_len);

/* Unmap; @r is empty after. */
void inflight_region_unmap(struct inflight_region *r);

/*
 * Start tracking queue @q of @region on @vq, which is vq_init()ed at its
 * base: recover the region's state (a crash between publishing a batch and
 * clearing it, a new region), set vq's next avail index to the used index
 * plus the chains still in flight, queue those for resubmission in counter
 * order, and install the tracker. Returns the number of chains to
 * resubmit, or -EINVAL with @why when the queue's part cannot be used (the
 * queue size differs, or @q is beyond the region's queues).
 */
int inflight_ring_start(struct inflight_ring *ir, const struct inflight_region *region,
			unsigned int q, struct evvm_vq *vq, char *why, size_t why_len);

/* Stop tracking (the ring stopped or the region goes away); frees the resubmit list. */
void inflight_ring_stop(struct inflight_ring *ir);

#endif
