/*
 * The transport-independent virtio core and split virtqueues for the test
 * guest; the transports are virtio_mmio.c and virtio_pci.c. Register
 * accesses are exits (~10 us each under PVM), so the paths that run per
 * request touch only the doorbell, and only when the device asks for it.
 */
#include "virtio.h"
#include "cmdline.h"
#include "cpu.h"
#include "lib.h"
#include "printf.h"
#include "test.h"

/*
 * Ring memory: one 8 KiB slot per (device, queue). For VIRTQ_MAX_SIZE = 256
 * the descriptor table takes 4 KiB, the driver area (avail) at +4 KiB at most
 * 518 bytes, the device area (used) at +5 KiB at most 2054 bytes.
 */
#define RING_SLOT_SIZE		8192
#define RING_AVAIL_OFF		4096
#define RING_USED_OFF		5120

static u8 ring_mem[VIRTIO_MAX_DEVS][VIRTIO_MAX_QUEUES][RING_SLOT_SIZE]
	__aligned(4096);

static struct virtio_dev devs[VIRTIO_MAX_DEVS];
static unsigned int ndevs;
static bool mmio_found, pci_found;
static unsigned int irqs_routed;

struct virtio_dev *virtio_dev_new(const struct virtio_transport *t)
{
	struct virtio_dev *d;

	if (ndevs == VIRTIO_MAX_DEVS)
		return NULL;
	d = &devs[ndevs++];
	memset(d, 0, sizeof(*d));
	d->t = t;
	return d;
}

u32 virtio_status(const struct virtio_dev *d)
{
	return d->t->get_status(d);
}

u8 virtio_cfg_read8(const struct virtio_dev *d, u32 off)
{
	return (u8)d->t->cfg_read(d, off, 1);
}

u16 virtio_cfg_read16(const struct virtio_dev *d, u32 off)
{
	return (u16)d->t->cfg_read(d, off, 2);
}

u32 virtio_cfg_read32(const struct virtio_dev *d, u32 off)
{
	return d->t->cfg_read(d, off, 4);
}

u64 virtio_cfg_read64(const struct virtio_dev *d, u32 off)
{
	u32 gen, lo, hi;
	int tries = 8;

	do {
		gen = d->t->config_generation(d);
		lo = virtio_cfg_read32(d, off);
		hi = virtio_cfg_read32(d, off + 4);
	} while (gen != d->t->config_generation(d) && --tries);
	return ((u64)hi << 32) | lo;
}

/* ---- Discovery ------------------------------------------------------- */

const char *virtio_type_name(u32 device_id)
{
	switch (device_id) {
	case VIRTIO_ID_BLOCK:	return "virtio-blk";
	case VIRTIO_ID_CONSOLE:	return "virtio-console";
	case VIRTIO_ID_RNG:	return "virtio-rng";
	case VIRTIO_ID_NET:	return "virtio-net";
	default:		return "virtio-other";
	}
}

static const char *type_flag(u32 device_id)
{
	switch (device_id) {
	case VIRTIO_ID_BLOCK:	return "--disk";
	case VIRTIO_ID_CONSOLE:	return "--console";
	case VIRTIO_ID_RNG:	return "--rng";
	case VIRTIO_ID_NET:	return "--net tap=NAME";
	default:		return "a device";
	}
}

/* The @nth usable device of the type among those found so far; *@nth counts down. */
static struct virtio_dev *search(u32 device_id, unsigned int *nth,
				 struct virtio_dev **legacy)
{
	unsigned int i;

	for (i = 0; i < ndevs; i++) {
		struct virtio_dev *d = &devs[i];

		if (!d->probed) {
			d->probed = true;
			d->t->probe(d);
		}
		if (d->device_id != device_id)
			continue;
		if (!d->usable) {
			if (d->legacy && !*legacy)
				*legacy = d;
			continue;
		}
		if (!(*nth)--)
			return d;
	}
	return NULL;
}

struct virtio_dev *virtio_find(u32 device_id, unsigned int nth, bool quiet)
{
	struct virtio_dev *legacy = NULL, *d;
	unsigned int left = nth;

	if (!mmio_found) {
		mmio_found = true;
		virtio_mmio_discover();
	}
	d = search(device_id, &left, &legacy);
	/* Bus 0 is walked only when the command line has too few: mmio runs see no ECAM. */
	if (!d && !pci_found) {
		pci_found = true;
		virtio_pci_discover();
		left = nth;
		d = search(device_id, &left, &legacy);
	}
	if (d || quiet)
		return d;
	if (legacy)
		test_fail("no usable %s device: the one at %s is legacy virtio-mmio (Version 1)",
			  virtio_type_name(device_id), legacy->where);
	else
		test_fail("no %s device (run evvm with %s)",
			  virtio_type_name(device_id), type_flag(device_id));
	return NULL;
}

/* ---- Device set-up and reset ---------------------------------------- */

static bool cmdline_off(const char *key)
{
	const char *v = cmdline_get(key);

	return v && !strcmp(v, "0");
}

/* virtio.verbose=1: one line per set-up and per reset. */
static bool verbose(void)
{
	const char *v = cmdline_get("virtio.verbose");

	return v && strcmp(v, "0");
}

static void set_status(struct virtio_dev *d, u32 bits)
{
	d->t->set_status(d, bits);
}

static int reset_and_wait(struct virtio_dev *d)
{
	u64 deadline;
	u32 s;

	set_status(d, 0);
	deadline = tsc_deadline(VIRTIO_RESET_TIMEOUT);
	while ((s = virtio_status(d)) != 0) {
		if (tsc_passed(deadline))
			return test_fail("%s at %s: Status still 0x%x after reset",
					 virtio_type_name(d->device_id), d->where, s);
		tsc_delay(10 * TSC_PER_US);
	}
	return 0;
}

int virtio_dev_reset(struct virtio_dev *d)
{
	unsigned int i;
	int rc;

	if (verbose() && d->irq_routed) {
		printf("evvm-guest: virtio: %s at %s reset:",
		       virtio_type_name(d->device_id), d->where);
		for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
			if (d->vq[i].num)
				printf(" q%u %u kicks %u notifies %u used;", i,
				       d->vq[i].kicks, d->vq[i].notifies,
				       d->vq[i].last_used);
		printf(" %u irqs (%u used, %u config)\n", d->irqs,
		       d->used_irqs, d->config_irqs);
	}
	if (d->irq_routed && d->t->irq_mask)
		d->t->irq_mask(d);
	rc = reset_and_wait(d);
	if (d->irq_routed) {
		d->irq_routed = false;
		d->t->irq_off(d);
		if (!--irqs_routed)
			cli();
	}
	for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
		d->vq[i].num = 0;
	return rc;
}

int virtio_dev_begin(struct virtio_dev *d, u64 want)
{
	const char *name = virtio_type_name(d->device_id);
	u32 s;

	if (virtio_dev_reset(d))
		return -1;
	d->features = 0;
	d->irqs = d->used_irqs = d->config_irqs = 0;

	set_status(d, VIRTIO_S_ACKNOWLEDGE);
	set_status(d, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);

	d->offered = d->t->device_features(d);
	if (!(d->offered & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		set_status(d, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER |
			   VIRTIO_S_FAILED);
		virtio_dev_reset(d);
		return test_fail("%s at %s does not offer VIRTIO_F_VERSION_1 (features 0x%lx)",
				 name, d->where, d->offered);
	}

	want |= VIRTIO_BIT(VIRTIO_F_VERSION_1);
	if (!cmdline_off("virtio.event_idx"))
		want |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	if (!cmdline_off("virtio.indirect"))
		want |= VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	d->features = want & d->offered;
	d->t->driver_features(d, d->features);

	set_status(d, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER |
		   VIRTIO_S_FEATURES_OK);
	s = virtio_status(d);
	if (!(s & VIRTIO_S_FEATURES_OK)) {
		virtio_dev_reset(d);
		return test_fail("%s at %s refused features 0x%lx (Status 0x%x)",
				 name, d->where, d->features, s);
	}
	return 0;
}

/* Lay out a queue of @num entries in its slot and clear it. */
static struct virtq *virtq_init(struct virtio_dev *d, u16 index, u16 num)
{
	struct virtq *vq = &d->vq[index];
	u8 *mem = ring_mem[d - devs][index];
	u16 i;

	memset(mem, 0, RING_SLOT_SIZE);
	memset(vq, 0, sizeof(*vq));
	vq->dev = d;
	vq->index = index;
	vq->num = num;
	vq->desc = (struct virtq_desc *)mem;
	vq->avail = (struct virtq_avail *)(mem + RING_AVAIL_OFF);
	vq->used = (struct virtq_used *)(mem + RING_USED_OFF);
	for (i = 0; i < num; i++)
		vq->desc[i].next = i + 1;
	vq->num_free = num;
	return vq;
}

u32 virtio_queue_max(struct virtio_dev *d, u16 index)
{
	return d->t->queue_max(d, index);
}

bool virtio_queue_ready(struct virtio_dev *d, u16 index)
{
	return d->t->queue_ready(d, index);
}

struct virtq *virtio_queue_program(struct virtio_dev *d, u16 index, u16 num)
{
	struct virtq *vq;

	if (index >= VIRTIO_MAX_QUEUES || !num || num > VIRTQ_MAX_SIZE) {
		test_fail("queue %u of %u entries: beyond the driver's limits",
			  index, num);
		return NULL;
	}
	vq = virtq_init(d, index, num);
	if (d->t->queue_program(d, vq)) {
		vq->num = 0;
		return NULL;
	}
	return vq;
}

struct virtq *virtio_queue_setup(struct virtio_dev *d, u16 index, u16 max_num)
{
	const char *name = virtio_type_name(d->device_id);
	u32 max;
	u16 num;

	if (virtio_queue_ready(d, index)) {
		test_fail("%s queue %u: QueueReady is already 1 after reset",
			  name, index);
		return NULL;
	}
	max = virtio_queue_max(d, index);
	if (!max) {
		test_fail("%s queue %u: not available (QueueNumMax 0)",
			  name, index);
		return NULL;
	}
	if (max > max_num)
		max = max_num;
	if (max > VIRTQ_MAX_SIZE)
		max = VIRTQ_MAX_SIZE;
	/* Split rings are a power of two long (2.7). */
	for (num = 1; (u32)num * 2 <= max; num *= 2)
		;
	return virtio_queue_program(d, index, num);
}

u32 virtio_dev_ready_raw(struct virtio_dev *d)
{
	/* virtio_dev_ready() explains why interrupts are unusable; here, none. */
	if (!d->irq_routed && d->t->irq_on(d)) {
		d->irq_routed = true;
		irqs_routed++;
		sti();
	}
	set_status(d, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER |
		   VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
	if (verbose()) {
		unsigned int i;

		printf("evvm-guest: virtio: %s at %s: offered 0x%lx, negotiated 0x%lx, queue sizes",
		       virtio_type_name(d->device_id), d->where,
		       d->offered, d->features);
		for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
			if (d->vq[i].num)
				printf(" %u", d->vq[i].num);
		printf("\n");
	}
	return virtio_status(d);
}

int virtio_dev_ready(struct virtio_dev *d)
{
	u32 s;

	if (d->t->irq_check && d->t->irq_check(d)) {
		virtio_dev_reset(d);
		return -1;
	}
	s = virtio_dev_ready_raw(d);
	if (s & (VIRTIO_S_NEEDS_RESET | VIRTIO_S_FAILED)) {
		virtio_dev_reset(d);
		return test_fail("%s at %s: Status 0x%x after DRIVER_OK",
				 virtio_type_name(d->device_id), d->where, s);
	}
	return 0;
}

bool virtio_wait_needs_reset(struct virtio_dev *d, u64 cycles)
{
	u64 deadline = tsc_deadline(cycles);

	for (;;) {
		if (virtio_status(d) & VIRTIO_S_NEEDS_RESET)
			return true;
		if (tsc_passed(deadline))
			return false;
		tsc_delay(TSC_PER_MS);
	}
}

int virtio_expect_irq(struct virtio_dev *d, u64 cycles)
{
	u64 deadline = tsc_deadline(cycles);

	while (!READ_ONCE(d->used_irqs))
		if (tsc_passed(deadline))
			return test_fail("%s at %s: no used-buffer interrupt (%s) within %lu cycles",
					 virtio_type_name(d->device_id), d->where,
					 d->t->name, cycles);
	return 0;
}

/* ---- Split virtqueue ------------------------------------------------- */

static inline u16 *used_event(struct virtq *vq)
{
	return &vq->avail->ring[vq->num];
}

static inline u16 *avail_event(struct virtq *vq)
{
	return (u16 *)&vq->used->ring[vq->num];
}

int virtq_add(struct virtq *vq, const struct vbuf *bufs, unsigned int n,
	      struct virtq_desc *indirect)
{
	struct virtq_desc *d;
	u16 head, idx, last = 0;
	unsigned int i;

	if (!n)
		return -1;
	if (indirect && n > 1 && virtio_has(vq->dev, VIRTIO_F_INDIRECT_DESC)) {
		if (!vq->num_free)
			return -1;
		for (i = 0; i < n; i++) {
			indirect[i].addr = bufs[i].addr;
			indirect[i].len = bufs[i].len;
			indirect[i].flags = (bufs[i].write ? VRING_DESC_F_WRITE : 0) |
					    (i + 1 < n ? VRING_DESC_F_NEXT : 0);
			indirect[i].next = i + 1 < n ? i + 1 : 0;
		}
		head = vq->free_head;
		d = &vq->desc[head];
		vq->free_head = d->next;
		vq->num_free--;
		d->addr = (u64)(unsigned long)indirect;
		d->len = n * sizeof(*indirect);
		d->flags = VRING_DESC_F_INDIRECT;
	} else {
		if (vq->num_free < n)
			return -1;
		/* The free list runs through .next, so the chain is linked already. */
		head = idx = vq->free_head;
		for (i = 0; i < n; i++) {
			d = &vq->desc[idx];
			d->addr = bufs[i].addr;
			d->len = bufs[i].len;
			d->flags = (bufs[i].write ? VRING_DESC_F_WRITE : 0) |
				   (i + 1 < n ? VRING_DESC_F_NEXT : 0);
			last = idx;
			idx = d->next;
		}
		vq->free_head = vq->desc[last].next;
		vq->num_free -= n;
	}
	vq->inflight[head] = true;
	vq->avail->ring[vq->avail_idx % vq->num] = head;
	vq->avail_idx++;
	return head;
}

void virtq_publish(struct virtq *vq)
{
	/* Ring entries before the index: x86 keeps stores in order. */
	barrier();
	WRITE_ONCE(vq->avail->idx, vq->avail_idx);
}

void virtq_notify(struct virtq *vq)
{
	vq->notifies++;
	vq->dev->t->notify(vq);
}

void virtq_kick(struct virtq *vq)
{
	u16 old = vq->kicked_idx, new = vq->avail_idx;
	bool need;

	vq->kicks++;
	virtq_publish(vq);
	/* The index store must be visible before we read the device's wish. */
	virtio_mb();
	vq->kicked_idx = new;
	if (virtio_has(vq->dev, VIRTIO_F_EVENT_IDX))
		need = (u16)(new - READ_ONCE(*avail_event(vq)) - 1) <
		       (u16)(new - old);
	else
		need = !(READ_ONCE(vq->used->flags) & VRING_USED_F_NO_NOTIFY);
	if (need)
		virtq_notify(vq);
}

int virtq_get_used(struct virtq *vq, u32 *id, u32 *len)
{
	u16 used_idx = READ_ONCE(vq->used->idx);
	struct virtq_used_elem e;
	u16 i, next, count;

	if (used_idx == vq->last_used)
		return 0;
	if ((u16)(used_idx - vq->last_used) > vq->num)
		return test_fail("queue %u: used->idx jumped from %u to %u (queue size %u)",
				 vq->index, vq->last_used, used_idx, vq->num);
	barrier();	/* x86 keeps loads in order: the element after the index */
	e = vq->used->ring[vq->last_used % vq->num];
	vq->last_used++;
	if (virtio_has(vq->dev, VIRTIO_F_EVENT_IDX))
		WRITE_ONCE(*used_event(vq), vq->last_used);

	if (e.id >= vq->num || !vq->inflight[e.id])
		return test_fail("queue %u: device returned id %u, which is not in flight",
				 vq->index, e.id);
	vq->inflight[e.id] = false;
	/* Return the chain to the free list: find its tail, splice. */
	i = e.id;
	for (count = 1; vq->desc[i].flags & VRING_DESC_F_NEXT; count++) {
		next = vq->desc[i].next;
		if (next >= vq->num || count >= vq->num)
			return test_fail("queue %u: our own chain at %u is corrupt",
					 vq->index, e.id);
		i = next;
	}
	vq->desc[i].next = vq->free_head;
	vq->free_head = e.id;
	vq->num_free += count;
	*id = e.id;
	*len = e.len;
	return 1;
}

int virtq_wait_used(struct virtq *vq, u32 *id, u32 *len, u64 cycles)
{
	u64 deadline = tsc_deadline(cycles);
	int rc;

	for (;;) {
		rc = virtq_get_used(vq, id, len);
		if (rc)
			return rc;
		if (tsc_passed(deadline))
			return 0;
		cpu_relax();
	}
}
