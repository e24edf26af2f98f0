/*
 * The virtio-mmio transport (virtio 1.2, 4.2; Version 2 only): devices from
 * the command line, registers in their window, one IOAPIC pin each whose
 * handler reads InterruptStatus and writes InterruptACK.
 */
#include "cmdline.h"
#include "cpu.h"
#include "io.h"
#include "ioapic.h"
#include "irq.h"
#include "lapic.h"
#include "lib.h"
#include "printf.h"
#include "test.h"
#include "virtio.h"

/* MMIO registers (4.2.2); all 32-bit, little-endian. */
#define VIRTIO_MMIO_MAGIC		0x000
#define VIRTIO_MMIO_VERSION		0x004
#define VIRTIO_MMIO_DEVICE_ID		0x008
#define VIRTIO_MMIO_DEV_FEATURES	0x010
#define VIRTIO_MMIO_DEV_FEATURES_SEL	0x014
#define VIRTIO_MMIO_DRV_FEATURES	0x020
#define VIRTIO_MMIO_DRV_FEATURES_SEL	0x024
#define VIRTIO_MMIO_QUEUE_SEL		0x030
#define VIRTIO_MMIO_QUEUE_NUM_MAX	0x034
#define VIRTIO_MMIO_QUEUE_NUM		0x038
#define VIRTIO_MMIO_QUEUE_READY		0x044
#define VIRTIO_MMIO_QUEUE_NOTIFY	0x050
#define VIRTIO_MMIO_INT_STATUS		0x060
#define VIRTIO_MMIO_INT_ACK		0x064
#define VIRTIO_MMIO_STATUS		0x070
#define VIRTIO_MMIO_QUEUE_DESC_LO	0x080
#define VIRTIO_MMIO_QUEUE_DESC_HI	0x084
#define VIRTIO_MMIO_QUEUE_DRIVER_LO	0x090
#define VIRTIO_MMIO_QUEUE_DRIVER_HI	0x094
#define VIRTIO_MMIO_QUEUE_DEVICE_LO	0x0a0
#define VIRTIO_MMIO_QUEUE_DEVICE_HI	0x0a4
#define VIRTIO_MMIO_CONFIG_GEN		0x0fc
#define VIRTIO_MMIO_CONFIG		0x100

#define VIRTIO_MMIO_MAGIC_VALUE		0x74726976	/* "virt" */

#define CMDLINE_KEY		"virtio_mmio.device="

/* Device by GSI, for the shared interrupt handler. */
static struct virtio_dev *gsi_dev[IOAPIC_PINS];

static u32 rd(const struct virtio_dev *d, u32 reg)
{
	return mmio_read32(d->mmio.base + reg);
}

static void wr(const struct virtio_dev *d, u32 reg, u32 val)
{
	mmio_write32(d->mmio.base + reg, val);
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
static bool parse_device(const char *p, const char *end, u64 *size, u64 *base,
			 u64 *gsi)
{
	if (!parse_num(&p, size))
		return false;
	switch (*p) {
	case 'K': case 'k': *size <<= 10; p++; break;
	case 'M': case 'm': *size <<= 20; p++; break;
	case 'G': case 'g': *size <<= 30; p++; break;
	}
	if (*p++ != '@' || !parse_num(&p, base) || *p++ != ':' ||
	    !parse_num(&p, gsi) || *gsi > 255)
		return false;
	/* An optional ":<platform device id>", as Linux accepts, is ignored. */
	return p == end || *p == ':';
}

static void add_word(const char *w, const char *end)
{
	size_t klen = strlen(CMDLINE_KEY);
	u64 size, base, gsi;
	struct virtio_dev *d;

	if (!parse_device(w + klen, end, &size, &base, &gsi)) {
		printf("evvm-guest: virtio: bad entry '%.*s' (want <size>@<base>:<gsi>)\n",
		       (int)(end - w), w);
		return;
	}
	d = virtio_dev_new(&virtio_mmio_transport);
	if (!d) {
		printf("evvm-guest: virtio: more than %u devices, ignoring '%.*s'\n",
		       VIRTIO_MAX_DEVS, (int)(end - w), w);
		return;
	}
	d->mmio.size = size;
	d->mmio.base = base;
	d->mmio.gsi = gsi;
	snprintf(d->where, sizeof(d->where), "0x%lx", d->mmio.base);
}

void virtio_mmio_discover(void)
{
	const char *w = cmdline_raw(), *end;
	size_t klen = strlen(CMDLINE_KEY);

	while (*w) {
		while (*w == ' ')
			w++;
		end = w;
		while (*end && *end != ' ')
			end++;
		if ((size_t)(end - w) > klen && !strncmp(w, CMDLINE_KEY, klen))
			add_word(w, end);
		w = end;
	}
}

/* Check the registers once; print why a device is refused. */
static void mmio_probe(struct virtio_dev *d)
{
	u32 magic;

	if (d->mmio.base >= (1ULL << 32) ||
	    d->mmio.base + d->mmio.size > (1ULL << 32) ||
	    d->mmio.size < VIRTIO_MMIO_CONFIG) {
		printf("evvm-guest: virtio-mmio at 0x%lx size 0x%lx: outside the mapped 4 GiB or smaller than 0x100, ignored\n",
		       d->mmio.base, d->mmio.size);
		return;
	}
	magic = rd(d, VIRTIO_MMIO_MAGIC);
	if (magic != VIRTIO_MMIO_MAGIC_VALUE) {
		printf("evvm-guest: virtio-mmio at 0x%lx: bad MagicValue 0x%x, ignored\n",
		       d->mmio.base, magic);
		return;
	}
	d->mmio.version = rd(d, VIRTIO_MMIO_VERSION);
	/* DeviceID sits at the same offset in legacy devices. */
	d->device_id = rd(d, VIRTIO_MMIO_DEVICE_ID);
	if (d->mmio.version == 1) {
		printf("evvm-guest: virtio-mmio at 0x%lx (%s): legacy Version 1 is not supported, only Version 2 (virtio 1.x)\n",
		       d->mmio.base, virtio_type_name(d->device_id));
		d->legacy = true;
		return;
	}
	if (d->mmio.version != 2) {
		printf("evvm-guest: virtio-mmio at 0x%lx: unknown Version %u, ignored\n",
		       d->mmio.base, d->mmio.version);
		return;
	}
	/* DeviceID 0 is a placeholder: ignored without a word (4.2.2.2). */
	d->usable = d->device_id != 0;
}

/* ---- Registers ------------------------------------------------------- */

static u32 mmio_get_status(const struct virtio_dev *d)
{
	return rd(d, VIRTIO_MMIO_STATUS);
}

static void mmio_set_status(const struct virtio_dev *d, u32 status)
{
	wr(d, VIRTIO_MMIO_STATUS, status);
}

static u64 mmio_device_features(const struct virtio_dev *d)
{
	u32 lo, hi;

	wr(d, VIRTIO_MMIO_DEV_FEATURES_SEL, 0);
	lo = rd(d, VIRTIO_MMIO_DEV_FEATURES);
	wr(d, VIRTIO_MMIO_DEV_FEATURES_SEL, 1);
	hi = rd(d, VIRTIO_MMIO_DEV_FEATURES);
	return ((u64)hi << 32) | lo;
}

static void mmio_driver_features(const struct virtio_dev *d, u64 f)
{
	wr(d, VIRTIO_MMIO_DRV_FEATURES_SEL, 0);
	wr(d, VIRTIO_MMIO_DRV_FEATURES, (u32)f);
	wr(d, VIRTIO_MMIO_DRV_FEATURES_SEL, 1);
	wr(d, VIRTIO_MMIO_DRV_FEATURES, (u32)(f >> 32));
}

static u32 mmio_queue_max(const struct virtio_dev *d, u16 index)
{
	wr(d, VIRTIO_MMIO_QUEUE_SEL, index);
	return rd(d, VIRTIO_MMIO_QUEUE_NUM_MAX);
}

static bool mmio_queue_ready(const struct virtio_dev *d, u16 index)
{
	wr(d, VIRTIO_MMIO_QUEUE_SEL, index);
	return rd(d, VIRTIO_MMIO_QUEUE_READY);
}

static void wr64(const struct virtio_dev *d, u32 lo_reg, const void *p)
{
	u64 a = (u64)(unsigned long)p;

	wr(d, lo_reg, (u32)a);
	wr(d, lo_reg + 4, (u32)(a >> 32));
}

static int mmio_queue_program(struct virtio_dev *d, struct virtq *vq)
{
	wr(d, VIRTIO_MMIO_QUEUE_NUM, vq->num);
	wr64(d, VIRTIO_MMIO_QUEUE_DESC_LO, vq->desc);
	wr64(d, VIRTIO_MMIO_QUEUE_DRIVER_LO, vq->avail);
	wr64(d, VIRTIO_MMIO_QUEUE_DEVICE_LO, vq->used);
	wr(d, VIRTIO_MMIO_QUEUE_READY, 1);
	return 0;
}

/* QueueNotify: the queue index, a 32-bit write (evvm matches it by value). */
static void mmio_notify(struct virtq *vq)
{
	wr(vq->dev, VIRTIO_MMIO_QUEUE_NOTIFY, vq->index);
}

static u32 mmio_cfg_read(const struct virtio_dev *d, u32 off, unsigned int size)
{
	unsigned long a = d->mmio.base + VIRTIO_MMIO_CONFIG + off;

	if (size == 1)
		return mmio_read8(a);
	if (size == 2)
		return mmio_read16(a);
	return mmio_read32(a);
}

static u32 mmio_config_generation(const struct virtio_dev *d)
{
	return rd(d, VIRTIO_MMIO_CONFIG_GEN);
}

/* ---- Interrupts ------------------------------------------------------ */

static void mmio_irq(struct irq_frame *frame)
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
			isr = rd(d, VIRTIO_MMIO_INT_STATUS);
			if (!isr)
				break;
			wr(d, VIRTIO_MMIO_INT_ACK, isr);
			if (isr & VIRTIO_INT_USED)
				WRITE_ONCE(d->used_irqs, d->used_irqs + 1);
			if (isr & VIRTIO_INT_CONFIG)
				WRITE_ONCE(d->config_irqs, d->config_irqs + 1);
		}
	}
	lapic_eoi();
}

static int mmio_irq_check(const struct virtio_dev *d)
{
	const char *name = virtio_type_name(d->device_id);
	u32 gsi = d->mmio.gsi;

	if (gsi >= IOAPIC_PINS)
		return test_fail("%s at 0x%lx: GSI %u is beyond the IOAPIC's %u pins",
				 name, d->mmio.base, gsi, IOAPIC_PINS);
	if (gsi_dev[gsi] && gsi_dev[gsi] != d)
		return test_fail("%s at 0x%lx: GSI %u is shared with the device at 0x%lx",
				 name, d->mmio.base, gsi, gsi_dev[gsi]->mmio.base);
	return 0;
}

static bool mmio_irq_on(struct virtio_dev *d)
{
	u32 gsi = d->mmio.gsi;

	/* virtio_dev_ready() explains why a GSI is unusable; here, no irq. */
	if (gsi >= IOAPIC_PINS || gsi_dev[gsi])
		return false;
	WRITE_ONCE(gsi_dev[gsi], d);
	irq_register(GSI_VECTOR(gsi), mmio_irq);
	lapic_enable();
	ioapic_route(gsi, GSI_VECTOR(gsi), IOAPIC_EDGE | IOAPIC_ACTIVE_HIGH,
		     lapic_id());
	return true;
}

/* Mask first, with interrupts still on, so a latched vector lands here. */
static void mmio_irq_mask(struct virtio_dev *d)
{
	ioapic_mask(d->mmio.gsi);
}

static void mmio_irq_off(struct virtio_dev *d)
{
	irq_register(GSI_VECTOR(d->mmio.gsi), NULL);
	WRITE_ONCE(gsi_dev[d->mmio.gsi], NULL);
}

const struct virtio_transport virtio_mmio_transport = {
	.name = "virtio-mmio",
	.probe = mmio_probe,
	.get_status = mmio_get_status,
	.set_status = mmio_set_status,
	.device_features = mmio_device_features,
	.driver_features = mmio_driver_features,
	.queue_max = mmio_queue_max,
	.queue_ready = mmio_queue_ready,
	.queue_program = mmio_queue_program,
	.notify = mmio_notify,
	.cfg_read = mmio_cfg_read,
	.config_generation = mmio_config_generation,
	.irq_check = mmio_irq_check,
	.irq_on = mmio_irq_on,
	.irq_mask = mmio_irq_mask,
	.irq_off = mmio_irq_off,
};
