/*
 * The modern virtio-pci transport (virtio 1.2, 4.1): functions found on bus
 * 0 through ECAM, registers in the common configuration structure, one
 * doorbell per queue (notify base + queue_notify_off * multiplier) and
 * MSI-X: entry 0 for configuration changes, entry 1 + q for queue q, each a
 * vector of its own on this CPU's local APIC, so the handler reads nothing
 * from the device (no ISR read, no ACK).
 */
#include "cpu.h"
#include "io.h"
#include "irq.h"
#include "lapic.h"
#include "lib.h"
#include "pci.h"
#include "printf.h"
#include "test.h"
#include "virtio.h"

/* Vectors: device n (in discovery order) has VECTOR_BASE + n * PER_DEV + entry. */
#define VECTOR_BASE		0x50
#define VECTORS_PER_DEV		(VIRTIO_MAX_QUEUES + 1)

static struct virtio_dev *vector_dev[VIRTIO_MAX_DEVS];
static unsigned int npci;

static unsigned long cc(const struct virtio_dev *d, u32 off)
{
	return d->pci.caps.common + off;
}

/* ---- Discovery ------------------------------------------------------- */

/* The virtio device id of a virtio function, or 0 (not virtio, or unknown). */
static u32 virtio_id(unsigned int slot, u16 pci_device)
{
	if (pci_device >= PCI_DEVICE_VIRTIO && pci_device <= PCI_DEVICE_VIRTIO_END)
		return pci_device - PCI_DEVICE_VIRTIO;
	/* Transitional (4.1.2.1): the subsystem device id says which. */
	if (pci_device >= 0x1000 && pci_device < PCI_DEVICE_VIRTIO)
		return mmio_read16(pci_ecam(slot, 0x2e));
	return 0;
}

static void add_function(unsigned int slot, u32 id)
{
	struct virtio_dev *d;

	if (npci == VIRTIO_MAX_DEVS || !(d = virtio_dev_new(&virtio_pci_transport))) {
		printf("evvm-guest: virtio: more than %u devices, ignoring pci 00:%02x.0\n",
		       VIRTIO_MAX_DEVS, slot);
		return;
	}
	d->pci.slot = slot;
	d->device_id = id;
	d->pci.vector = (u8)(VECTOR_BASE + npci * VECTORS_PER_DEV);
	d->probed = true;
	snprintf(d->where, sizeof(d->where), "pci 00:%02x.0", slot);
	npci++;
	if (!pci_virtio_caps(slot, &d->pci.caps)) {
		printf("evvm-guest: virtio-pci 00:%02x.0 (%s): missing capabilities (common %lx notify %lx isr %lx msix %x), ignored\n",
		       slot, virtio_type_name(id), d->pci.caps.common,
		       d->pci.caps.notify, d->pci.caps.isr, d->pci.caps.msix_cap);
		return;
	}
	pci_enable(slot);
	d->usable = true;
}

void virtio_pci_discover(void)
{
	unsigned int s;
	u32 idw, id;

	for (s = 0; s < PCI_SLOTS; s++) {
		idw = mmio_read32(pci_ecam(s, 0));	/* vendor, device: one exit */
		if ((u16)idw != PCI_VENDOR_VIRTIO)
			continue;
		id = virtio_id(s, (u16)(idw >> 16));
		if (id)
			add_function(s, id);
	}
}

/* ---- Registers ------------------------------------------------------- */

static u32 pci_get_status(const struct virtio_dev *d)
{
	return mmio_read8(cc(d, CC_STATUS));
}

static void pci_set_status(const struct virtio_dev *d, u32 status)
{
	mmio_write8(cc(d, CC_STATUS), (u8)status);
}

static u64 pci_device_features(const struct virtio_dev *d)
{
	u32 lo, hi;

	mmio_write32(cc(d, CC_DFSELECT), 0);
	lo = mmio_read32(cc(d, CC_DF));
	mmio_write32(cc(d, CC_DFSELECT), 1);
	hi = mmio_read32(cc(d, CC_DF));
	return ((u64)hi << 32) | lo;
}

static void pci_driver_features(const struct virtio_dev *d, u64 f)
{
	mmio_write32(cc(d, CC_GFSELECT), 0);
	mmio_write32(cc(d, CC_GF), (u32)f);
	mmio_write32(cc(d, CC_GFSELECT), 1);
	mmio_write32(cc(d, CC_GF), (u32)(f >> 32));
}

/* queue_size reads the maximum until the driver writes it (4.1.4.3). */
static u32 pci_queue_max(const struct virtio_dev *d, u16 index)
{
	mmio_write16(cc(d, CC_Q_SELECT), index);
	return mmio_read16(cc(d, CC_Q_SIZE));
}

static bool pci_queue_ready(const struct virtio_dev *d, u16 index)
{
	mmio_write16(cc(d, CC_Q_SELECT), index);
	return mmio_read16(cc(d, CC_Q_ENABLE));
}

/* A 64-bit field as two 32-bit writes (4.1.3.1 allows it). */
static void wr64(const struct virtio_dev *d, u32 off, const void *p)
{
	u64 a = (u64)(unsigned long)p;

	mmio_write32(cc(d, off), (u32)a);
	mmio_write32(cc(d, off + 4), (u32)(a >> 32));
}

static int pci_queue_program(struct virtio_dev *d, struct virtq *vq)
{
	const struct virtio_pci_caps *c = &d->pci.caps;
	const char *name = virtio_type_name(d->device_id);
	u16 vec = vq->index + 1;
	u64 off;

	if (vec >= c->msix_size)
		return test_fail("%s at %s: queue %u needs MSI-X entry %u, the table has %u",
				 name, d->where, vq->index, vec, c->msix_size);
	mmio_write16(cc(d, CC_Q_SIZE), vq->num);
	wr64(d, CC_Q_DESC, vq->desc);
	wr64(d, CC_Q_AVAIL, vq->avail);
	wr64(d, CC_Q_USED, vq->used);
	mmio_write16(cc(d, CC_Q_MSIX), vec);
	if (mmio_read16(cc(d, CC_Q_MSIX)) != vec)
		return test_fail("%s at %s: queue %u: MSI-X vector %u refused",
				 name, d->where, vq->index, vec);
	off = (u64)mmio_read16(cc(d, CC_Q_NOFF)) * c->notify_mult;
	if (off + 2 > c->notify_len)
		return test_fail("%s at %s: queue %u's doorbell at notify + 0x%lx is past the %u-byte notify structure",
				 name, d->where, vq->index, off, c->notify_len);
	vq->notify_addr = c->notify + off;
	mmio_write16(cc(d, CC_Q_ENABLE), 1);
	return 0;
}

/* The queue index, 16 bits, at the queue's own address (no NOTIFICATION_DATA). */
static void pci_notify(struct virtq *vq)
{
	mmio_write16(vq->notify_addr, vq->index);
}

static u32 pci_cfg_read(const struct virtio_dev *d, u32 off, unsigned int size)
{
	unsigned long a = d->pci.caps.device + off;

	if (!d->pci.caps.device || off + size > d->pci.caps.device_len)
		return 0xffffffff >> (32 - 8 * size);	/* no such field */
	if (size == 1)
		return mmio_read8(a);
	if (size == 2)
		return mmio_read16(a);
	return mmio_read32(a);
}

static u32 pci_config_generation(const struct virtio_dev *d)
{
	return mmio_read8(cc(d, CC_CFGGEN));
}

/* ---- Interrupts: MSI-X ------------------------------------------------ */

static void pci_irq(struct irq_frame *frame)
{
	unsigned int v = frame->vector - VECTOR_BASE;
	struct virtio_dev *d = v / VECTORS_PER_DEV < VIRTIO_MAX_DEVS ?
			       vector_dev[v / VECTORS_PER_DEV] : NULL;

	if (d) {
		WRITE_ONCE(d->irqs, d->irqs + 1);
		if (v % VECTORS_PER_DEV)
			WRITE_ONCE(d->used_irqs, d->used_irqs + 1);
		else
			WRITE_ONCE(d->config_irqs, d->config_irqs + 1);
	}
	lapic_eoi();
}

static unsigned long msix_ctrl(const struct virtio_dev *d)
{
	return pci_ecam(d->pci.slot, d->pci.caps.msix_cap + 2);
}

/* Entries 0 (config) .. the last queue set up: this CPU, vector + entry. */
static bool pci_irq_on(struct virtio_dev *d)
{
	unsigned int i, n = 1, dev = (d->pci.vector - VECTOR_BASE) / VECTORS_PER_DEV;

	for (i = 0; i < VIRTIO_MAX_QUEUES; i++)
		if (d->vq[i].num)
			n = i + 2;
	if (n > d->pci.caps.msix_size)
		n = d->pci.caps.msix_size;
	WRITE_ONCE(vector_dev[dev], d);
	lapic_enable();
	for (i = 0; i < n; i++) {
		unsigned long e = d->pci.caps.msix_table + MSIX_ENTRY_SIZE * i;

		irq_register(d->pci.vector + i, pci_irq);
		mmio_write32(e, (u32)LAPIC_BASE | lapic_id() << 12);
		mmio_write32(e + 4, 0);
		mmio_write32(e + 8, d->pci.vector + i);
		mmio_write32(e + MSIX_ENTRY_CTRL, 0);
	}
	mmio_write16(cc(d, CC_MSIX), 0);
	mmio_write16(msix_ctrl(d), MSIX_CTRL_ENABLE);
	return true;
}

/*
 * After the reset (the device then holds no vector and sends nothing):
 * mask the function, so nothing is left pending for the next set-up.
 */
static void pci_irq_off(struct virtio_dev *d)
{
	unsigned int i, dev = (d->pci.vector - VECTOR_BASE) / VECTORS_PER_DEV;

	mmio_write16(msix_ctrl(d), MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
	for (i = 0; i < VECTORS_PER_DEV; i++)
		irq_register(d->pci.vector + i, NULL);
	WRITE_ONCE(vector_dev[dev], NULL);
}

const struct virtio_transport virtio_pci_transport = {
	.name = "virtio-pci",
	.get_status = pci_get_status,
	.set_status = pci_set_status,
	.device_features = pci_device_features,
	.driver_features = pci_driver_features,
	.queue_max = pci_queue_max,
	.queue_ready = pci_queue_ready,
	.queue_program = pci_queue_program,
	.notify = pci_notify,
	.cfg_read = pci_cfg_read,
	.config_generation = pci_config_generation,
	.irq_on = pci_irq_on,
	.irq_off = pci_irq_off,
};
