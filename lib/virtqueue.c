// SPDX-License-Identifier: MIT
/*
 * Device side of a split virtqueue (virtio 1.2, 2.7). The driver writes the
 * rings from another CPU at any time, so every guest field is read exactly
 * once into a local, checked, and only the local is used afterwards.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <evvm/log.h>
#include <evvm/virtio.h>
#include <evvm/virtqueue.h>

/* Driver area: flags, idx, ring[num], used_event (2.7.6), as u16 indices. */
#define AVAIL_FLAGS 0
#define AVAIL_IDX   1
#define AVAIL_RING  2

/* Device area: flags, idx, ring[num] of 8 bytes, avail_event (2.7.8), in bytes. */
#define USED_FLAGS 0
#define USED_IDX   2
#define USED_RING  4

static const char *vq_name(const struct evvm_vq *vq)
{
	return vq->name ? vq->name : "virtqueue";
}

/* Log a guest error and latch the queue broken; returns -EINVAL. */
static int vq_fault(struct evvm_vq *vq, const char *fmt, ...)
	__attribute__((cold, format(printf, 2, 3)));

static int vq_fault(struct evvm_vq *vq, const char *fmt, ...)
{
	char what[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	pr_err("%s: %s", vq_name(vq), what);
	vq->broken = true;
	return -EINVAL;
}

static uint16_t guest_load16(const uint16_t *p)
{
	return __atomic_load_n(p, __ATOMIC_RELAXED);
}

static void guest_store16(uint16_t *p, uint16_t v)
{
	__atomic_store_n(p, v, __ATOMIC_RELAXED);
}

static uint16_t *used_u16(struct evvm_vq *vq, size_t offset)
{
	return (uint16_t *)(vq->used + offset);
}

static uint16_t *used_event(struct evvm_vq *vq)
{
	return &vq->avail[AVAIL_RING + vq->num];
}

static uint16_t *avail_event(struct evvm_vq *vq)
{
	return used_u16(vq, USED_RING + sizeof(struct vring_used_elem) * vq->num);
}

/*
 * Snapshot one descriptor. Indirect tables need not be aligned, hence
 * memcpy; the compiler barrier keeps the compiler from fetching a field
 * again from guest memory after it has been checked.
 */
static void read_desc(const struct vring_desc *p, struct vring_desc *d)
{
	memcpy(d, p, sizeof(*d));
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
}

/*
 * Map the area @what of @size bytes at @gpa, which must be aligned to
 * @align and inside one RAM region. Returns the host address, or NULL
 * after logging why.
 */
static void *map_area(struct evvm_vq *vq, const char *what, uint64_t gpa, uint64_t size,
		      uint64_t align)
{
	void *hva;

	if (gpa & (align - 1)) {
		pr_err("%s: %s at 0x%llx is not %llu-byte aligned", vq_name(vq), what,
		       (unsigned long long)gpa, (unsigned long long)align);
		return NULL;
	}
	hva = mem_translate(vq->mem, gpa, size);
	if (!hva) {
		pr_err("%s: %s 0x%llx+0x%llx is not in guest RAM", vq_name(vq), what,
		       (unsigned long long)gpa, (unsigned long long)size);
		return NULL;
	}
	/* Atomic accesses need the host address aligned too. */
	if ((uintptr_t)hva & (align - 1)) {
		pr_err("%s: %s at 0x%llx is mapped at a host address not %llu-byte aligned",
		       vq_name(vq), what, (unsigned long long)gpa, (unsigned long long)align);
		return NULL;
	}
	return hva;
}

void vq_reset(struct evvm_vq *vq)
{
	const struct evvm_mem *mem = vq->mem;
	const char *name = vq->name;

	memset(vq, 0, sizeof(*vq));
	vq->mem = mem;
	vq->name = name;
}

int vq_init(struct evvm_vq *vq, const struct evvm_mem *mem, const char *name, uint16_t num,
	    uint64_t desc, uint64_t avail, uint64_t used, uint64_t features)
{
	void *d, *a, *u;

	vq_reset(vq);
	vq->mem = mem;
	vq->name = name;

	if (num == 0 || num > VQ_MAX_SIZE || (num & (num - 1))) {
		pr_err("%s: queue size %u is not a power of 2 from 1 to %u", vq_name(vq), num,
		       VQ_MAX_SIZE);
		return -EINVAL;
	}
	/* Sizes and alignments from the table in 2.7. */
	d = map_area(vq, "descriptor table", desc, 16ULL * num, 16);
	a = d ? map_area(vq, "driver area", avail, 6 + 2ULL * num, 2) : NULL;
	u = a ? map_area(vq, "device area", used, 6 + 8ULL * num, 4) : NULL;
	if (!u)
		return -EINVAL;
	vq->desc = d;
	vq->avail = a;
	vq->used = u;
	vq->used_len = 6 + 8U * num;
	vq->num = num;
	vq->event_idx = features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	vq->indirect = features & VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	vq->ready = true;
	return 0;
}

/* Append one buffer to @elem, checking direction order, the segment limit and the range. */
static int add_buffer(struct evvm_vq *vq, struct vq_elem *elem, const struct vring_desc *d,
		      bool *seen_write)
{
	bool write = d->flags & VRING_DESC_F_WRITE;
	unsigned int n = elem->out_num + elem->in_num;
	void *hva;

	/* 2.7.4.2: device-writable buffers come last (empty ones too: no exception). */
	if (!write && *seen_write)
		return vq_fault(vq, "device-readable descriptor after a device-writable one");
	*seen_write |= write;
	if (d->len == 0)
		return 0;
	if (n == VQ_MAX_SEGS)
		return vq_fault(vq, "chain has more than %u buffers", VQ_MAX_SEGS);
	hva = mem_translate(vq->mem, d->addr, d->len);
	if (!hva)
		return vq_fault(vq, "buffer 0x%llx+0x%x is not in guest RAM",
				(unsigned long long)d->addr, d->len);
	elem->iov[n].iov_base = hva;
	elem->iov[n].iov_len = d->len;
	if (write) {
		elem->in_num++;
		elem->in_len += d->len;
	} else {
		elem->out_num++;
		elem->out_len += d->len;
	}
	return 0;
}

/* Switch the walk to the indirect table @d refers to (2.7.5.3). */
static const struct vring_desc *enter_indirect(struct evvm_vq *vq, const struct vring_desc *d,
					       bool in_indirect)
{
	const struct vring_desc *table;

	if (!vq->indirect) {
		vq_fault(vq, "indirect descriptor, but VIRTIO_F_INDIRECT_DESC not negotiated");
		return NULL;
	}
	if (in_indirect) {
		vq_fault(vq, "indirect descriptor inside an indirect table");
		return NULL;
	}
	if (d->flags & VRING_DESC_F_NEXT) {
		vq_fault(vq, "indirect descriptor with NEXT set");
		return NULL;
	}
	if (d->len == 0 || d->len % sizeof(*d) || d->len > sizeof(*d) * VQ_MAX_SIZE) {
		vq_fault(vq, "indirect table length %u is not a multiple of 16 from 16 to %zu",
			 d->len, sizeof(*d) * VQ_MAX_SIZE);
		return NULL;
	}
	table = mem_translate(vq->mem, d->addr, d->len);
	if (!table)
		vq_fault(vq, "indirect table 0x%llx+0x%x is not in guest RAM",
			 (unsigned long long)d->addr, d->len);
	return table;
}

void vq_get_base(const struct evvm_vq *vq, struct vq_base *base)
{
	*base = (struct vq_base){
		.last_avail = vq->last_avail,
		.used_idx = vq->used_idx,
		.signalled_used = vq->signalled_used,
		.signalled_used_valid = vq->signalled_used_valid,
		.unpopped = vq->unpopped,
	};
}

int vq_set_base(struct evvm_vq *vq, const struct vq_base *base, bool whole)
{
	vq->last_avail = base->last_avail;
	if (!vq->ready)
		return 0;
	if (!whole) {
		vq->used_idx = __atomic_load_n(used_u16(vq, USED_IDX), __ATOMIC_ACQUIRE);
		return 0;
	}
	if (base->unpopped > vq->num)
		return -EINVAL;
	vq->used_idx = base->used_idx;
	vq->signalled_used = base->signalled_used;
	vq->signalled_used_valid = base->signalled_used_valid;
	vq->unpopped = base->unpopped;
	return 0;
}

/* Read chain @head into @elem; -EINVAL (queue broken) if it is not a valid chain. */
static int vq_read_chain(struct evvm_vq *vq, struct vq_elem *elem, uint16_t head)
{
	const struct vring_desc *table = vq->desc;
	unsigned int max = vq->num, count = 0;
	bool seen_write = false, in_indirect = false;
	struct vring_desc d;
	uint16_t i;
	int err;

	elem->head = head;
	elem->out_num = elem->in_num = 0;
	elem->out_len = elem->in_len = 0;
	for (i = head;;) {
		if (i >= max)
			return vq_fault(vq, "next %u out of range (%u descriptors)", i, max);
		/* Longer than the table means a descriptor was visited twice: a loop. */
		if (++count > max)
			return vq_fault(vq, "chain longer than %u descriptors", max);
		read_desc(&table[i], &d);
		if (d.flags & VRING_DESC_F_INDIRECT) {
			table = enter_indirect(vq, &d, in_indirect);
			if (!table)
				return -EINVAL;
			/* The indirect descriptor ends the main chain (NEXT refused above). */
			in_indirect = true;
			max = d.len / sizeof(d);
			count = 0;
			i = 0;
			continue;
		}
		err = add_buffer(vq, elem, &d, &seen_write);
		if (err)
			return err;
		if (!(d.flags & VRING_DESC_F_NEXT))
			return 0;
		i = d.next;
	}
}

/* A chain the tracker hands out again: counts as popped, not taken from the avail ring. */
static int vq_pop_resubmit(struct evvm_vq *vq, struct vq_elem *elem, uint16_t head)
{
	int err;

	if (head >= vq->num)
		return vq_fault(vq, "resubmitted head %u out of range (queue size %u)", head,
				vq->num);
	if (vq->inflight >= vq->num)
		return vq_fault(vq, "more than %u chains in flight", vq->num);
	err = vq_read_chain(vq, elem, head);
	if (err)
		return err;
	vq->inflight++;
	return 1;
}

int vq_pop(struct evvm_vq *vq, struct vq_elem *elem)
{
	uint16_t avail_idx, head;
	int err;

	if (!vq->ready || vq->broken)
		return 0;
	if (vq->tracker && vq->tracker->resubmit && vq->tracker->resubmit(vq->tracker, &head))
		return vq_pop_resubmit(vq, elem, head);
	/* Acquire: the ring entry and its chain were written before the index. */
	avail_idx = __atomic_load_n(&vq->avail[AVAIL_IDX], __ATOMIC_ACQUIRE);
	if (avail_idx == vq->last_avail)
		return 0;
	/* Also catches an index that went backwards. */
	if ((uint16_t)(avail_idx - vq->last_avail) > vq->num)
		return vq_fault(vq, "avail idx %u is more than %u ahead of %u", avail_idx, vq->num,
				vq->last_avail);
	/* Each chain holds a descriptor of its own until pushed back. */
	if (vq->inflight >= vq->num)
		return vq_fault(vq, "driver made more than %u chains available at once", vq->num);
	head = guest_load16(&vq->avail[AVAIL_RING + (vq->last_avail & (vq->num - 1))]);
	if (head >= vq->num)
		return vq_fault(vq, "head %u out of range (queue size %u)", head, vq->num);
	err = vq_read_chain(vq, elem, head);
	if (err)
		return err;
	vq->last_avail++;
	vq->inflight++;
	if (vq->unpopped)
		vq->unpopped--;
	if (vq->tracker && vq->tracker->popped)
		vq->tracker->popped(vq->tracker, head);
	return 1;
}

int vq_unpop(struct evvm_vq *vq, unsigned int n)
{
	if (n > vq->inflight) {
		pr_err("%s: %u chains given back, %u in flight", vq_name(vq), n, vq->inflight);
		return -EINVAL;
	}
	vq->last_avail -= (uint16_t)n;
	vq->inflight -= n;
	vq->unpopped += (uint16_t)n;
	return 0;
}

int vq_push(struct evvm_vq *vq, const struct vq_elem *elem, uint32_t written)
{
	struct vq_elem *const one = (struct vq_elem *)elem; /* vq_push_n() only reads it */

	return vq_push_n(vq, &one, &written, 1);
}

/*
 * A diff snapshot must hold what the device wrote: the used ring, and every
 * device-writable buffer of the chains, whatever @written says (a status
 * byte may lie past it).
 */
static void log_pushed(struct evvm_vq *vq, struct vq_elem *const *elems, unsigned int n)
{
	mem_mark_dirty(vq->mem, vq->used, vq->used_len);
	for (unsigned int i = 0; i < n; i++)
		for (unsigned int j = elems[i]->out_num; j < elems[i]->out_num + elems[i]->in_num;
		     j++)
			mem_mark_dirty(vq->mem, elems[i]->iov[j].iov_base,
				       elems[i]->iov[j].iov_len);
}

int vq_push_n(struct evvm_vq *vq, struct vq_elem *const *elems, const uint32_t *written,
	      unsigned int n)
{
	struct vring_used_elem *ring = (struct vring_used_elem *)(vq->used + USED_RING);

	if (!vq->ready) {
		pr_err("%s: push to a queue that is not ready", vq_name(vq));
		return -EINVAL;
	}
	if (n > vq->inflight) {
		if (!vq->inflight)
			pr_err("%s: push with no chain in flight", vq_name(vq));
		else
			pr_err("%s: push of %u chains with %u in flight", vq_name(vq), n,
			       vq->inflight);
		return -EINVAL;
	}
	/* Nothing is published unless every chain passes. */
	for (unsigned int i = 0; i < n; i++) {
		if (written[i] > elems[i]->in_len) {
			pr_err("%s: push of %u bytes written into %llu bytes of buffers",
			       vq_name(vq), written[i], (unsigned long long)elems[i]->in_len);
			return -EINVAL;
		}
		if (elems[i]->head >= vq->num) {
			pr_err("%s: push of head %u out of range", vq_name(vq), elems[i]->head);
			return -EINVAL;
		}
	}
	for (unsigned int i = 0; i < n; i++) {
		struct vring_used_elem *u = &ring[(uint16_t)(vq->used_idx + i) & (vq->num - 1)];

		__atomic_store_n(&u->id, elems[i]->head, __ATOMIC_RELAXED);
		__atomic_store_n(&u->len, written[i], __ATOMIC_RELAXED);
	}
	if (vq->tracker && vq->tracker->publishing)
		vq->tracker->publishing(vq->tracker, elems, n);
	vq->used_idx += n;
	/* Release: the driver sees every entry once it sees the index. */
	__atomic_store_n(used_u16(vq, USED_IDX), vq->used_idx, __ATOMIC_RELEASE);
	vq->inflight -= n;
	if (vq->mem->log_dirty)
		log_pushed(vq, elems, n);
	if (vq->tracker && vq->tracker->published)
		vq->tracker->published(vq->tracker, elems, n, vq->used_idx);
	return 0;
}

/* 2.7.7 (and 2.7.10 for avail_event): true when @event lies in [old, new). */
static bool vring_need_event(uint16_t event, uint16_t new, uint16_t old)
{
	return (uint16_t)(new - event - 1) < (uint16_t)(new - old);
}

bool vq_should_notify(struct evvm_vq *vq)
{
	uint16_t old = vq->signalled_used, new = vq->used_idx;
	bool notify;

	if (!vq->ready || new == old)
		return false;
	/*
	 * Our used idx store must be visible before we read the driver's
	 * choice, or the driver could re-enable interrupts after seeing the
	 * old idx while we read its old choice, and both would sleep.
	 */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (vq->event_idx)
		/* The first use always notifies: a lost interrupt hangs a driver. */
		notify = !vq->signalled_used_valid ||
			 vring_need_event(guest_load16(used_event(vq)), new, old);
	else
		notify = !(guest_load16(&vq->avail[AVAIL_FLAGS]) & VRING_AVAIL_F_NO_INTERRUPT);
	if (notify) {
		vq->signalled_used = new;
		vq->signalled_used_valid = true;
	}
	return notify;
}

void vq_set_notify(struct evvm_vq *vq, bool enable)
{
	if (!vq->ready)
		return;
	if (vq->event_idx)
		/*
		 * avail_event names the ring entry whose publication kicks us:
		 * the next one we have not seen (given-back chains were seen),
		 * or to disable, the one we took last (already published, so
		 * no kick until the index wraps).
		 * 2.7.10 requires flags to stay 0.
		 */
		guest_store16(avail_event(vq), enable ? (uint16_t)(vq->last_avail + vq->unpopped)
						      : vq->last_avail - 1);
	else
		guest_store16(used_u16(vq, USED_FLAGS), enable ? 0 : VRING_USED_F_NO_NOTIFY);
	if (vq->mem->log_dirty)
		mem_mark_dirty(vq->mem, vq->used, vq->used_len);
	/* The caller re-pops next: the store must be visible before that reads avail idx. */
	if (enable)
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
}

uint16_t vq_used_ring_idx(const struct evvm_vq *vq)
{
	if (!vq->ready)
		return 0;
	return __atomic_load_n((const uint16_t *)(vq->used + USED_IDX), __ATOMIC_ACQUIRE);
}

/* Copy between an element's buffers, from byte @offset on, and @buf: to @buf if @out. */
static size_t iov_copy(const struct iovec *iov, unsigned int n, size_t offset, char *buf,
		       size_t len, bool out)
{
	size_t done = 0;

	for (unsigned int i = 0; i < n && done < len; i++) {
		char *base = iov[i].iov_base;
		size_t chunk;

		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		chunk = iov[i].iov_len - offset;
		if (chunk > len - done)
			chunk = len - done;
		if (out)
			memcpy(buf + done, base + offset, chunk);
		else
			memcpy(base + offset, buf + done, chunk);
		done += chunk;
		offset = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned int n, size_t offset, void *buf, size_t len)
{
	return iov_copy(iov, n, offset, buf, len, true);
}

size_t iov_from_buf(const struct iovec *iov, unsigned int n, size_t offset, const void *buf,
		    size_t len)
{
	return iov_copy(iov, n, offset, (char *)buf, len, false);
}
