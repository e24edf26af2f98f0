/*
 * virtio-mmio transport (version 2) and split virtqueues for the test guest.
 * Register accesses are exits (~10 us each under PVM), so the paths that run
 * per request touch only QueueNotify, and only when the device asks for it.
 */
#include "virtio.h"
#include "cmdline.h"
#include "cpu.h"
#include "io.h"
#include "ioapic.h"
#include "irq.h"
#include "lapic.h"
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
static bool parsed;

/* Device by GSI, for the shared interrupt handler. */
static struct virtio_dev *gsi_dev[IOAPIC_PINS];
static unsigned int irqs_routed;

#define CMDLINE_KEY		"virtio_mmio.device="

u32 virtio_read(const struct virtio_dev *d, u32 reg)
{
	return mmio_read32(d->base + reg);
}

void virtio_write(const struct virtio_dev *d, u32 reg, u32 val)
{
	mmio_write32(d->base + reg, val);
}

u8 virtio_cfg_read8(const struct virtio_dev *d, u32 off)
{
	return mmio_read8(d->base + VIRTIO_MMIO_CONFIG + off);
}

u16 virtio_cfg_read16(const struct virtio_dev *d, u32 off)
{
	return mmio_read16(d->base + VIRTIO_MMIO_CONFIG + off);
}

u32 virtio_cfg_read32(const struct virtio_dev *d, u32 off)
{
	return mmio_read32(d->base + VIRTIO_MMIO_CONFIG + off);
}

u64 virtio_cfg_read64(const struct virtio_dev *d, u32 off)
{
	u32 gen, lo, hi;
	int tries = 8;

	do {
		gen = virtio_read(d, VIRTIO_MMIO_CONFIG_GEN);
		lo = virtio_cfg_read32(d, off);
		hi = virtio_cfg_read32(d, off + 4);
	} while (gen != virtio_read(d, VIRTIO_MMIO_CONFIG_GEN) && --tries);
	return ((u64)hi << 32) | lo;
}

/* ---- Discovery ------------------------------------------------------- */

/* A number: 0x-prefixed hex, else decimal. Advances *pp; false if no digit. */
static bool parse_num(const char **pp, u64 *out)
{
	const char *p = *pp;
	unsigned int base = 10, digit;
	u64 v = 0;
	bool any = false;

	if (p[0] == '0' && (p[1] == 'x' || p[1] == 'X')) {
		base = 16;
		p += 2;
	}
	for (;; p++) {
		if (*p >= '0' && *p <= '9')
			digit = *p - '0';
		else if (base == 16 && *p >= 'a' && *p <= 'f')
			digit = *p - 'a' + 10;
		else if (base == 16 && *p >= 'A' && *p <= 'F')
			digit = *p - 'A' + 10;
		else
			break;
		if (v > (~0ULL - digit) / base)
			return false;	/* overflow */
		v = v * base + digit;
		any = true;
	}
	*pp = p;
	*out = v;
	return any;
}

bool virtio_parse_u64(const char *s, u64 *out)
{
	return parse_num(&s, out) && !*s;
}

/* "<size>@<base>:<gsi>[:<id>]"; @end is where the word ends. */
static bool parse_device(const char *p, const char *end, struct virtio_dev *d)
{
	u64 size, base, gsi;

	if (!parse_num(&p, &size))
		return false;
	switch (*p) {
	case 'K': case 'k': size <<= 10; p++; break;
	case 'M': case 'm': size <<= 20; p++; break;
	case 'G': case 'g': size <<= 30; p++; break;
	}
	if (*p++ != '@' || !parse_num(&p, &base) || *p++ != ':' ||
	    !parse_num(&p, &gsi) || gsi > 255)
		return false;
	/* An optional ":<platform device id>", as Linux accepts, is ignored. */
	if (p != end && *p != ':')
		return false;
	d->size = size;
	d->base = base;
	d->gsi = gsi;
	return true;
}

static void parse_cmdline(void)
{
	const char *w = cmdline_raw(), *end;
	size_t klen = strlen(CMDLINE_KEY);

	parsed = true;
	while (*w) {
		while (*w == ' ')
			w++;
		end = w;
		while (*end && *end != ' ')
			end++;
		if ((size_t)(end - w) > klen && !strncmp(w, CMDLINE_KEY, klen)) {
			struct virtio_dev *d = &devs[ndevs];

			if (ndevs == VIRTIO_MAX_DEVS)
				printf("evvm-guest: virtio: more than %u devices, ignoring '%.*s'\n",
				       VIRTIO_MAX_DEVS, (int)(end - w), w);
			else if (!parse_device(w + klen, end, d))
				printf("evvm-guest: virtio: bad entry '%.*s' (want <size>@<base>:<gsi>)\n",
				       (int)(end - w), w);
			else
				ndevs++;
		}
		w = end;
	}
}

/* Check the registers once; print why a device is refused. */
static void probe(struct virtio_dev *d)
{
	u32 magic;

	d->probed = true;
	if (d->base >= (1ULL << 32) || d->base + d->size > (1ULL << 32) ||
	    d->size < VIRTIO_MMIO_CONFIG) {
		printf("evvm-guest: virtio-mmio at 0x%lx size 0x%lx: outside the mapped 4 GiB or smaller than 0x100, ignored\n",
		       d->base, d->size);
		return;
	}
	magic = virtio_read(d, VIRTIO_MMIO_MAGIC);
	if (magic != VIRTIO_MMIO_MAGIC_VALUE) {
		printf("evvm-guest: virtio-mmio at 0x%lx: bad MagicValue 0x%x, ignored\n",
		       d->base, magic);
		return;
	}
	d->version = virtio_read(d, VIRTIO_MMIO_VERSION);
	/* DeviceID sits at the same offset in legacy devices. */
	d->device_id = virtio_read(d, VIRTIO_MMIO_DEVICE_ID);
	if (d->version == 1) {
		printf("evvm-guest: virtio-mmio at 0x%lx (%s): legacy Version 1 is not supported, only Version 2 (virtio 1.x)\n",
		       d->base, virtio_type_name(d->device_id));
		return;
	}
	if (d->version != 2) {
		printf("evvm-guest: virtio-mmio at 0x%lx: unknown Version %u, ignored\n",
		       d->base, d->version);
		return;
	}
	/* DeviceID 0 is a placeholder: ignored without a word (4.2.2.2). */
	d->usable = d->device_id != 0;
}

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

struct virtio_dev *virtio_find(u32 device_id, unsigned int nth, bool quiet)
{
	struct virtio_dev *legacy = NULL;
	unsigned int i;

	if (!parsed)
		parse_cmdline();
	for (i = 0; i < ndevs; i++) {
		struct virtio_dev *d = &devs[i];

		if (!d->probed)
			probe(d);
		if (d->device_id != device_id)
			continue;
		if (!d->usable) {
			if (d->version == 1 && !legacy)
				legacy = d;
			continue;
		}
		if (!nth--)
			return d;
	}
	if (quiet)
		return NULL;
	if (legacy)
		test_fail("no usable %s device: the one at 0x%lx is legacy virtio-mmio (Version 1)",
			  virtio_type_name(device_id), legacy->base);
	else
		test_fail("no %s device (run evvm with %s)",
			  virtio_type_name(device_id), type_flag(device_id));
	return NULL;
}

/* ---- Device set-up and reset ---------------------------------------- */

static void virtio_irq(struct irq_frame *frame)
{
	unsigned int gsi = frame->vector - GSI_VECTOR_BASE;
	struct virtio_dev *d = gsi < IOAPIC_PINS ? gsi_dev[gsi] : NULL;
	u32 isr;
	int i;

	if (d) {
		WRITE_ONCE(d->irqs, d->irqs + 1);
		/*
		 * The pin is edge-triggered: acknowledge until InterruptStatus
		 * reads 0, or an event that arrives between the read and the
		 * ACK would keep a level-style line high with no new edge.
		 */
		for (i = 0; i < 4; i++) {
			isr = virtio_read(d, VIRTIO_MMIO_INT_STATUS);
			if (!isr)
				break;
			virtio_write(d, VIRTIO_MMIO_INT_ACK, isr);
			if (isr & VIRTIO_INT_USED)
				WRITE_ONCE(d->used_irqs, d->used_irqs + 1);
			if (isr & VIRTIO_INT_CONFIG)
				WRITE_ONCE(d->config_irqs, d->config_irqs + 1);
		}
	}
	lapic_eoi();
}

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
	virtio_write(d, VIRTIO_MMIO_STATUS, bits);
}

static int reset_and_wait(struct virtio_dev *d)
{
	u64 deadline;
	u32 s;

	virtio_write(d, VIRTIO_MMIO_STATUS, 0);
	deadline = tsc_deadline(VIRTIO_RESET_TIMEOUT);
	while ((s = virtio_read(d, VIRTIO_MMIO_STATUS)) != 0) {
		if (tsc_passed(deadline))
			return test_fail("%s at 0x%lx: Status still 0x%x after reset",
					 virtio_type_name(d->device_id), d->base, s);
		tsc_delay(10 * TSC_PER_US);
	}
	return 0;
}

int virtio_dev_reset(struct virtio_dev *d)
{
	unsigned int i;
	int rc;

	if (verbose() && d->irq_routed) {
		printf("evvm-guest: virtio: %s at 0x%lx reset:",
		       virtio_type_name(d->device_id), d->base);
		for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
			if (d->vq[i].num)
				printf(" q%u %u kicks %u notifies %u used;", i,
				       d->vq[i].kicks, d->vq[i].notifies,
				       d->vq[i].last_used);
		printf(" %u irqs (%u used, %u config)\n", d->irqs,
		       d->used_irqs, d->config_irqs);
	}
	/* Mask first, with interrupts still on, so a latched vector lands here. */
	if (d->irq_routed)
		ioapic_mask(d->gsi);
	rc = reset_and_wait(d);
	if (d->irq_routed) {
		d->irq_routed = false;
		if (!--irqs_routed)
			cli();
		irq_register(GSI_VECTOR(d->gsi), NULL);
		WRITE_ONCE(gsi_dev[d->gsi], NULL);
	}
	for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
		d->vq[i].num = 0;
	return rc;
}

int virtio_dev_begin(struct virtio_dev *d, u64 want)
{
	const char *name = virtio_type_name(d->device_id);
	u32 lo, hi, s;

	if (virtio_dev_reset(d))
		return -1;
	d->features = 0;
	d->irqs = d->used_irqs = d->config_irqs = 0;

	set_status(d, VIRTIO_S_ACKNOWLEDGE);
	set_status(d, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER);

	virtio_write(d, VIRTIO_MMIO_DEV_FEATURES_SEL, 0);
	lo = virtio_read(d, VIRTIO_MMIO_DEV_FEATURES);
	virtio_write(d, VIRTIO_MMIO_DEV_FEATURES_SEL, 1);
	hi = virtio_read(d, VIRTIO_MMIO_DEV_FEATURES);
	d->offered = ((u64)hi << 32) | lo;
	if (!(d->offered & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
		set_status(d, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER |
			   VIRTIO_S_FAILED);
		virtio_dev_reset(d);
		return test_fail("%s at 0x%lx does not offer VIRTIO_F_VERSION_1 (features 0x%lx)",
				 name, d->base, d->offered);
	}

	want |= VIRTIO_BIT(VIRTIO_F_VERSION_1);
	if (!cmdline_off("virtio.event_idx"))
		want |= VIRTIO_BIT(VIRTIO_F_EVENT_IDX);
	if (!cmdline_off("virtio.indirect"))
		want |= VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	d->features = want & d->offered;

	virtio_write(d, VIRTIO_MMIO_DRV_FEATURES_SEL, 0);
	virtio_write(d, VIRTIO_MMIO_DRV_FEATURES, (u32)d->features);
	virtio_write(d, VIRTIO_MMIO_DRV_FEATURES_SEL, 1);
	virtio_write(d, VIRTIO_MMIO_DRV_FEATURES, (u32)(d->features >> 32));

	set_status(d, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER |
		   VIRTIO_S_FEATURES_OK);
	s = virtio_read(d, VIRTIO_MMIO_STATUS);
	if (!(s & VIRTIO_S_FEATURES_OK)) {
		virtio_dev_reset(d);
		return test_fail("%s at 0x%lx refused features 0x%lx (Status 0x%x)",
				 name, d->base, d->features, s);
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

struct virtq *virtio_queue_program(struct virtio_dev *d, u16 index, u16 num)
{
	struct virtq *vq;
	u64 a;

	if (index >= VIRTIO_MAX_QUEUES || !num || num > VIRTQ_MAX_SIZE) {
		test_fail("queue %u of %u entries: beyond the driver's limits",
			  index, num);
		return NULL;
	}
	vq = virtq_init(d, index, num);
	virtio_write(d, VIRTIO_MMIO_QUEUE_NUM, num);
	a = (u64)(unsigned long)vq->desc;
	virtio_write(d, VIRTIO_MMIO_QUEUE_DESC_LO, (u32)a);
	virtio_write(d, VIRTIO_MMIO_QUEUE_DESC_HI, (u32)(a >> 32));
	a = (u64)(unsigned long)vq->avail;
	virtio_write(d, VIRTIO_MMIO_QUEUE_DRIVER_LO, (u32)a);
	virtio_write(d, VIRTIO_MMIO_QUEUE_DRIVER_HI, (u32)(a >> 32));
	a = (u64)(unsigned long)vq->used;
	virtio_write(d, VIRTIO_MMIO_QUEUE_DEVICE_LO, (u32)a);
	virtio_write(d, VIRTIO_MMIO_QUEUE_DEVICE_HI, (u32)(a >> 32));
	virtio_write(d, VIRTIO_MMIO_QUEUE_READY, 1);
	return vq;
}

struct virtq *virtio_queue_setup(struct virtio_dev *d, u16 index, u16 max_num)
{
	const char *name = virtio_type_name(d->device_id);
	u32 max;
	u16 num;

	virtio_write(d, VIRTIO_MMIO_QUEUE_SEL, index);
	if (virtio_read(d, VIRTIO_MMIO_QUEUE_READY)) {
		test_fail("%s queue %u: QueueReady is already 1 after reset",
			  name, index);
		return NULL;
	}
	max = virtio_read(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
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
	/* virtio_dev_ready() explains why a GSI is unusable; here, no irq. */
	if (!d->irq_routed && d->gsi < IOAPIC_PINS && !gsi_dev[d->gsi]) {
		WRITE_ONCE(gsi_dev[d->gsi], d);
		irq_register(GSI_VECTOR(d->gsi), virtio_irq);
		lapic_enable();
		ioapic_route(d->gsi, GSI_VECTOR(d->gsi),
			     IOAPIC_EDGE | IOAPIC_ACTIVE_HIGH, lapic_id());
		d->irq_routed = true;
		irqs_routed++;
		sti();
	}
	set_status(d, VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER |
		   VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK);
	if (verbose()) {
		unsigned int i;

		printf("evvm-guest: virtio: %s at 0x%lx gsi %u: offered 0x%lx, negotiated 0x%lx, queue sizes",
		       virtio_type_name(d->device_id), d->base, d->gsi,
		       d->offered, d->features);
		for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
			if (d->vq[i].num)
				printf(" %u", d->vq[i].num);
		printf("\n");
	}
	return virtio_read(d, VIRTIO_MMIO_STATUS);
}

int virtio_dev_ready(struct virtio_dev *d)
{
	const char *name = virtio_type_name(d->device_id);
	u32 s;

	if (d->gsi >= IOAPIC_PINS) {
		virtio_dev_reset(d);
		return test_fail("%s at 0x%lx: GSI %u is beyond the IOAPIC's %u pins",
				 name, d->base, d->gsi, IOAPIC_PINS);
	}
	if (gsi_dev[d->gsi] && gsi_dev[d->gsi] != d) {
		virtio_dev_reset(d);
		return test_fail("%s at 0x%lx: GSI %u is shared with the device at 0x%lx",
				 name, d->base, d->gsi, gsi_dev[d->gsi]->base);
	}
	s = virtio_dev_ready_raw(d);
	if (s & (VIRTIO_S_NEEDS_RESET | VIRTIO_S_FAILED)) {
		virtio_dev_reset(d);
		return test_fail("%s at 0x%lx: Status 0x%x after DRIVER_OK",
				 name, d->base, s);
	}
	return 0;
}

bool virtio_wait_needs_reset(struct virtio_dev *d, u64 cycles)
{
	u64 deadline = tsc_deadline(cycles);

	for (;;) {
		if (virtio_read(d, VIRTIO_MMIO_STATUS) & VIRTIO_S_NEEDS_RESET)
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
			return test_fail("%s: no used-buffer interrupt on GSI %u (vector 0x%x) within %lu cycles",
					 virtio_type_name(d->device_id), d->gsi,
					 GSI_VECTOR(d->gsi), cycles);
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
	virtio_write(vq->dev, VIRTIO_MMIO_QUEUE_NOTIFY, vq->index);
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
