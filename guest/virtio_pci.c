/* Modern virtio-pci, just enough for the pci tests (virtio_pci.h). */
#include "cmdline.h"
#include "cpu.h"
#include "io.h"
#include "lapic.h"
#include "lib.h"
#include "printf.h"
#include "test.h"
#include "virtio_pci.h"

#define VPCI_QMAX		64
#define CAP_VENDOR		0x09
#define CAP_MSIX		0x11

/* Common configuration offsets (4.1.4.3). */
#define CC_DFSELECT		0x00
#define CC_DF			0x04
#define CC_GFSELECT		0x08
#define CC_GF			0x0c
#define CC_MSIX			0x10
#define CC_STATUS		0x14
#define CC_Q_SELECT		0x16
#define CC_Q_SIZE		0x18
#define CC_Q_MSIX		0x1a
#define CC_Q_ENABLE		0x1c
#define CC_Q_NOFF		0x1e
#define CC_Q_DESC		0x20
#define CC_Q_AVAIL		0x28
#define CC_Q_USED		0x30

static struct virtq_desc vq_desc[VPCI_QMAX] __aligned(16);
static u8 vq_avail[6 + 2 * VPCI_QMAX] __aligned(2);
static u8 vq_used[6 + 8 * VPCI_QMAX] __aligned(4);

static unsigned long ecam_base(void)
{
	u64 v;

	if (test_arg_u64("pci.ecam", PCI_DEFAULT_ECAM, 0x100000, 0xfff00000, &v))
		return 0;
	return (unsigned long)v;
}

unsigned long pci_ecam(unsigned int slot, u32 reg)
{
	return ecam_base() + ((unsigned long)slot << 15) + reg;
}

/* A BAR's address (32- or 64-bit memory BAR); 0 if it is none we can reach. */
static unsigned long bar_addr(unsigned int slot, unsigned int bar)
{
	u32 lo = mmio_read32(pci_ecam(slot, 0x10 + 4 * bar)), hi = 0;

	if (lo & 1)
		return 0; /* I/O BAR */
	if (((lo >> 1) & 3) == 2)
		hi = mmio_read32(pci_ecam(slot, 0x14 + 4 * bar));
	if (hi)
		return 0; /* above 4 GiB: not mapped by the guest */
	return lo & ~0xfUL;
}

static int map_caps(struct vpci_dev *d)
{
	unsigned int s = d->slot;

	for (u32 c = mmio_read8(pci_ecam(s, 0x34)); c; c = mmio_read8(pci_ecam(s, c + 1))) {
		u8 id = mmio_read8(pci_ecam(s, c));

		if (id == CAP_MSIX) {
			u32 t = mmio_read32(pci_ecam(s, c + 4)), p = mmio_read32(pci_ecam(s, c + 8));

			d->msix_cap = c;
			d->msix_size = (mmio_read16(pci_ecam(s, c + 2)) & 0x7ff) + 1;
			d->msix_table = bar_addr(s, t & 7) + (t & ~7u);
			d->msix_pba = bar_addr(s, p & 7) + (p & ~7u);
			continue;
		}
		if (id != CAP_VENDOR)
			continue;
		u8 type = mmio_read8(pci_ecam(s, c + 3)), bar = mmio_read8(pci_ecam(s, c + 4));
		unsigned long at = bar_addr(s, bar) + mmio_read32(pci_ecam(s, c + 8));

		if (bar > 5)
			continue;
		if (type == 1 && !d->common)
			d->common = at;
		else if (type == 2 && !d->notify) {
			d->notify = at;
			d->notify_mult = mmio_read32(pci_ecam(s, c + 16));
		} else if (type == 3 && !d->isr)
			d->isr = at;
		else if (type == 4 && !d->device)
			d->device = at;
	}
	if (!d->common || !d->notify || !d->isr || !d->msix_cap)
		return test_fail("virtio-pci 00:%02x.0: missing capabilities (common %lx notify "
				 "%lx isr %lx msix %x)", s, d->common, d->notify, d->isr,
				 d->msix_cap);
	return 0;
}

int vpci_find(struct vpci_dev *d, u16 device_id)
{
	memset(d, 0, sizeof(*d));
	for (unsigned int s = 0; s < 32; s++) {
		if (mmio_read16(pci_ecam(s, 0)) != 0x1af4 ||
		    mmio_read16(pci_ecam(s, 2)) != device_id)
			continue;
		d->slot = s;
		d->device_id = device_id;
		/* Memory decoding and bus mastering; INTx off (MSI-X only here). */
		mmio_write16(pci_ecam(s, 4), 0x0406);
		return map_caps(d);
	}
	return test_fail("no virtio-pci function with device id 0x%x (run evvm with "
			 "--transport=pci)", device_id);
}

int vpci_reset(struct vpci_dev *d)
{
	u64 deadline = tsc_deadline(TIMEOUT_CYCLES);

	mmio_write8(d->common + CC_STATUS, 0);
	while (mmio_read8(d->common + CC_STATUS)) {
		if (tsc_passed(deadline))
			return test_fail("virtio-pci 00:%02x.0: reset never completed", d->slot);
		cpu_relax();
	}
	return 0;
}

void vpci_msix_mask(struct vpci_dev *d, unsigned int vec, bool masked)
{
	mmio_write32(d->msix_table + 16 * vec + 12, masked ? 1 : 0);
}

static void msix_program(struct vpci_dev *d, u8 msi_vector)
{
	/* Enable with the function masked while the entries change, then unmask it. */
	mmio_write16(pci_ecam(d->slot, d->msix_cap + 2), 0xc000);
	for (unsigned int v = 0; v < 2 && v < d->msix_size; v++) {
		unsigned long e = d->msix_table + 16 * v;

		mmio_write32(e, (u32)LAPIC_BASE | lapic_id() << 12);
		mmio_write32(e + 4, 0);
		mmio_write32(e + 8, msi_vector);
		mmio_write32(e + 12, 0);
	}
	mmio_write16(pci_ecam(d->slot, d->msix_cap + 2), 0x8000);
}

static int queue_setup(struct vpci_dev *d, u16 qsize, u16 qvec)
{
	u16 max;

	mmio_write16(d->common + CC_Q_SELECT, 0);
	max = mmio_read16(d->common + CC_Q_SIZE);
	if (!max)
		return test_fail("virtio-pci 00:%02x.0: queue 0 absent", d->slot);
	if (qsize > max)
		qsize = max;
	if (qsize > VPCI_QMAX)
		qsize = VPCI_QMAX;
	memset(vq_desc, 0, sizeof(vq_desc));
	memset(vq_avail, 0, sizeof(vq_avail));
	memset(vq_used, 0, sizeof(vq_used));
	d->desc = vq_desc;
	d->avail = (struct virtq_avail *)vq_avail;
	d->used = (struct virtq_used *)vq_used;
	d->queue_size = qsize;
	d->avail_idx = d->last_used = 0;
	mmio_write16(d->common + CC_Q_SIZE, qsize);
	mmio_write32(d->common + CC_Q_DESC, (u32)(unsigned long)vq_desc);
	mmio_write32(d->common + CC_Q_DESC + 4, 0);
	mmio_write32(d->common + CC_Q_AVAIL, (u32)(unsigned long)vq_avail);
	mmio_write32(d->common + CC_Q_AVAIL + 4, 0);
	mmio_write32(d->common + CC_Q_USED, (u32)(unsigned long)vq_used);
	mmio_write32(d->common + CC_Q_USED + 4, 0);
	mmio_write16(d->common + CC_Q_MSIX, qvec);
	if (mmio_read16(d->common + CC_Q_MSIX) != qvec)
		return test_fail("virtio-pci 00:%02x.0: queue vector %u refused", d->slot, qvec);
	d->doorbell = d->notify + (unsigned long)mmio_read16(d->common + CC_Q_NOFF) *
					  d->notify_mult;
	mmio_write16(d->common + CC_Q_ENABLE, 1);
	return 0;
}

int vpci_start(struct vpci_dev *d, u16 qsize, u16 qvec, u8 msi_vector)
{
	u8 s = VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER;

	if (vpci_reset(d))
		return -1;
	mmio_write8(d->common + CC_STATUS, s);
	mmio_write32(d->common + CC_DFSELECT, 1);
	if (!(mmio_read32(d->common + CC_DF) & 1))
		return test_fail("virtio-pci 00:%02x.0: no VERSION_1", d->slot);
	mmio_write32(d->common + CC_GFSELECT, 0);
	mmio_write32(d->common + CC_GF, 0);
	mmio_write32(d->common + CC_GFSELECT, 1);
	mmio_write32(d->common + CC_GF, 1);
	s |= VIRTIO_S_FEATURES_OK;
	mmio_write8(d->common + CC_STATUS, s);
	if (!(mmio_read8(d->common + CC_STATUS) & VIRTIO_S_FEATURES_OK))
		return test_fail("virtio-pci 00:%02x.0: FEATURES_OK refused", d->slot);
	msix_program(d, msi_vector);
	mmio_write16(d->common + CC_MSIX, 0);
	if (queue_setup(d, qsize, qvec))
		return -1;
	s |= VIRTIO_S_DRIVER_OK;
	mmio_write8(d->common + CC_STATUS, s);
	if (mmio_read8(d->common + CC_STATUS) & (VIRTIO_S_NEEDS_RESET | VIRTIO_S_FAILED))
		return test_fail("virtio-pci 00:%02x.0: status 0x%x after DRIVER_OK", d->slot,
				 mmio_read8(d->common + CC_STATUS));
	return 0;
}

void vpci_post_chain(struct vpci_dev *d, const struct vbuf *bufs, unsigned int n)
{
	u16 head = (u16)((d->avail_idx * 4) % d->queue_size);

	for (unsigned int i = 0; i < n; i++) {
		struct virtq_desc *x = &d->desc[(head + i) % d->queue_size];

		x->addr = bufs[i].addr;
		x->len = bufs[i].len;
		x->flags = (bufs[i].write ? VRING_DESC_F_WRITE : 0) |
			   (i + 1 < n ? VRING_DESC_F_NEXT : 0);
		x->next = (u16)((head + i + 1) % d->queue_size);
	}
	d->avail->ring[d->avail_idx % d->queue_size] = head;
	barrier();
	WRITE_ONCE(d->avail->idx, ++d->avail_idx);
	barrier();
	mmio_write16(d->doorbell, 0);
}

void vpci_post(struct vpci_dev *d, const void *buf, u32 len, bool write)
{
	struct vbuf b = { (u64)(unsigned long)buf, len, write };

	vpci_post_chain(d, &b, 1);
}

int vpci_wait_used(struct vpci_dev *d, u32 *len, u64 cycles)
{
	u64 deadline = tsc_deadline(cycles);

	while (READ_ONCE(d->used->idx) == d->last_used) {
		if (tsc_passed(deadline))
			return test_fail("virtio-pci 00:%02x.0: no used buffer", d->slot);
		cpu_relax();
	}
	barrier();
	*len = d->used->ring[d->last_used % d->queue_size].len;
	d->last_used++;
	return 0;
}
