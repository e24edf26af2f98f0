/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VIRTQUEUE_H
#define EVVM_VIRTQUEUE_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/uio.h>

#include <evvm/mem.h>

/*
 * The device side of a split virtqueue (virtio 1.2, 2.7). Everything read
 * from the rings is guest-controlled and checked: descriptor addresses and
 * lengths go through evvm_mem, chains are bounded by the queue size, loops
 * and indirect-in-indirect are refused, and an avail index that moves more
 * than the queue size is refused. Any violation latches the queue broken:
 * it pops nothing more until vq_reset(), and the caller is expected to put
 * the device in DEVICE_NEEDS_RESET.
 *
 * One thread at a time uses a queue (the device's I/O thread).
 */

#define VRING_DESC_F_NEXT	   1
#define VRING_DESC_F_WRITE	   2
#define VRING_DESC_F_INDIRECT	   4

#define VRING_AVAIL_F_NO_INTERRUPT 1
#define VRING_USED_F_NO_NOTIFY	   1

#define VQ_MAX_SIZE		   32768 /* the specification's limit for a split ring */
#define VQ_MAX_SEGS		   1024	 /* most buffers one chain may have; longer is refused */

struct vring_desc {
	uint64_t addr;
	uint32_t len;
	uint16_t flags;
	uint16_t next;
};

struct vring_used_elem {
	uint32_t id;
	uint32_t len;
};

/* One request: a chain's buffers, device-readable ones first. */
struct vq_elem {
	uint16_t head;	      /* what vq_push() returns to the driver */
	unsigned int out_num; /* iov[0 .. out_num) the device reads */
	unsigned int in_num;  /* iov[out_num .. out_num + in_num) it writes */
	uint64_t out_len;     /* bytes in each direction */
	uint64_t in_len;
	struct iovec iov[VQ_MAX_SEGS];
};

/*
 * A transport's view of the chains a device takes and gives back (vhost-user
 * in-flight tracking), without the device knowing: set vq->tracker after
 * vq_init() (which clears it). All hooks run on the queue's thread.
 */
struct vq_tracker {
	/*
	 * Optional: a chain to hand out again before any new one (a request
	 * that was in flight when the previous process died). Returns true
	 * and sets *@head; false when there are none (left).
	 */
	bool (*resubmit)(struct vq_tracker *t, uint16_t *head);
	/* Chain @head was taken from the avail ring (not for resubmitted ones). */
	void (*popped)(struct vq_tracker *t, uint16_t head);
	/* @n chains are about to be published in the used ring, whose index is now @used_idx. */
	void (*publishing)(struct vq_tracker *t, struct vq_elem *const *elems, unsigned int n);
	/* They were: the used index is @used_idx. */
	void (*published)(struct vq_tracker *t, struct vq_elem *const *elems, unsigned int n,
			  uint16_t used_idx);
};

struct evvm_vq {
	const struct evvm_mem *mem;
	const char *name; /* "blk0.q0" in messages; not owned */
	uint16_t num;	  /* queue size, a power of 2 */
	bool event_idx;	  /* VIRTIO_F_EVENT_IDX negotiated */
	bool indirect;	  /* VIRTIO_F_INDIRECT_DESC negotiated */
	bool ready;	  /* vq_init() succeeded and no reset since */
	bool broken;	  /* a guest error was seen; see above */

	struct vring_desc *desc; /* host views of the three areas */
	uint16_t *avail;	 /* flags, idx, ring[num], used_event */
	uint8_t *used;		 /* flags, idx, ring[num], avail_event */
	uint32_t used_len;	 /* bytes of the device area */

	uint16_t last_avail;	 /* next avail ring entry to take */
	uint16_t used_idx;	 /* our copy of used->idx */
	uint16_t signalled_used; /* used_idx at the last notification */
	bool signalled_used_valid;
	uint32_t inflight;	    /* popped but not yet pushed */
	uint16_t unpopped;	    /* given back by vq_unpop(), not yet popped again */
	struct vq_tracker *tracker; /* NULL: none; see struct vq_tracker */
};

/*
 * Check and map a queue of @num entries with its descriptor table, driver
 * (avail) and device (used) areas at the given guest addresses, each of
 * which must lie wholly in guest RAM and be aligned as 2.7 requires (16, 2,
 * 4). @num must be a power of 2 from 1 to VQ_MAX_SIZE. @features are the
 * negotiated ones (EVENT_IDX, INDIRECT_DESC are used). Returns 0, or -EINVAL
 * after logging why.
 */
int vq_init(struct evvm_vq *vq, const struct evvm_mem *mem, const char *name, uint16_t num,
	    uint64_t desc, uint64_t avail, uint64_t used, uint64_t features);

/* Forget the queue (device reset); vq_init() again to use it. */
void vq_reset(struct evvm_vq *vq);

/*
 * A queue's position, for a transport that stops and restarts a ring
 * under the same driver (vhost-user's GET/SET_VRING_BASE, a memory table
 * replaced under running rings).
 */
struct vq_base {
	uint16_t last_avail;
	uint16_t used_idx;
	uint16_t signalled_used;
	bool signalled_used_valid;
	uint16_t unpopped;
};

/* The position of @vq (ready or not). */
void vq_get_base(const struct evvm_vq *vq, struct vq_base *base);

/*
 * Continue at @base after vq_init(): the next chain taken is avail entry
 * base->last_avail. With @whole, the used index and notification state come
 * from @base too (the same ring, remapped); without, the used index is read
 * from the used ring (a ring started at a base the frontend chose). On a
 * queue that is not ready only last_avail is set (a later vq_get_base()
 * reports it). Returns 0, or -EINVAL for an unpopped count beyond the queue.
 */
int vq_set_base(struct evvm_vq *vq, const struct vq_base *base, bool whole);

/*
 * Take the next available chain into @elem (with a tracker, chains it has
 * to resubmit come first). Returns 1, 0 when the driver has
 * made nothing new available (or the queue is not ready or broken), or
 * -EINVAL when the chain or the avail index is invalid: the queue is then
 * broken and a line naming the queue and the fault has been logged.
 */
int vq_pop(struct evvm_vq *vq, struct vq_elem *elem);

/*
 * Return a popped chain to the driver with @written bytes written into its
 * device-writable buffers, and publish the used index. Returns 0 or -EINVAL
 * (written > in_len, or more pushed than popped: a device bug).
 */
int vq_push(struct evvm_vq *vq, const struct vq_elem *elem, uint32_t written);

/*
 * Give back the last @n chains popped and not pushed, untouched, as if they
 * had not been popped: the next vq_pop()s take them again, in order. For a
 * device that took buffers for something that does not fit yet and would
 * otherwise hold them (in flight) until the driver adds more. They were
 * seen: vq_set_notify(true) asks for a kick only for entries after them.
 * Returns 0, or -EINVAL if fewer than @n chains are in flight (a device bug).
 */
int vq_unpop(struct evvm_vq *vq, unsigned int n);

/*
 * vq_push() of @n chains, published with one used index update, so that the
 * driver sees all of them or none (virtio-net's merged rx buffers: the
 * driver expects num_buffers entries once it sees the first). Nothing is
 * pushed unless every chain passes vq_push()'s checks.
 */
int vq_push_n(struct evvm_vq *vq, struct vq_elem *const *elems, const uint32_t *written,
	      unsigned int n);

/*
 * Whether the driver wants an interrupt for what was pushed since the last
 * time this returned true: VRING_AVAIL_F_NO_INTERRUPT, or with EVENT_IDX the
 * used_event index (2.7.7).
 */
bool vq_should_notify(struct evvm_vq *vq);

/*
 * Tell the driver whether to kick: off while the device is already going
 * to look (polling, or draining), on before it sleeps. With EVENT_IDX this
 * writes avail_event; without, VRING_USED_F_NO_NOTIFY. After enabling,
 * call vq_pop() again: work made available meanwhile sent no kick.
 */
void vq_set_notify(struct evvm_vq *vq, bool enable);

/*
 * The used index as the ring in guest memory holds it now: what the device
 * (possibly another process serving the queue) last published. 0 for a
 * queue that is not ready.
 */
uint16_t vq_used_ring_idx(const struct evvm_vq *vq);

/* Copy up to @len bytes out of / into an element's buffers; returns bytes copied. */
size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t offset, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t offset, const void *buf,
		    size_t len);

#endif
