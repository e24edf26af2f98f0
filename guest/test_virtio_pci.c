/*
 * virtio over PCI (--transport=pci): the guest finds its devices by walking
 * bus 0 through ECAM, turns MSI-X on, and checks that requests complete
 * with their queue's MSI-X vector arriving at the local APIC; that a masked
 * vector (or a masked function) holds the interrupt in the PBA until it is
 * unmasked; and that a hostile driver's accesses (absent functions,
 * extended and misaligned config reads, vectors past the table, a BAR moved
 * onto another, MSI-X accesses past the table, doorbells no queue owns)
 * leave the device working.
 */
#include "cpu.h"
#include "io.h"
#include "irq.h"
#include "lapic.h"
#include "lib.h"
#include "pci.h"
#include "test.h"
#include "virtio.h"

/*
 * The tests' own raw driver, below the virtio core on purpose: one queue of
 * at most VPCI_QMAX entries, VERSION_1 only, MSI-X entries 0 (config) and 1
 * (queue 0) on one vector, so the tests can poke every register directly.
 * Discovery (ECAM, capabilities) is pci.c's, shared with the transport.
 */
#define VPCI_QMAX		64

struct vpci_dev {
	unsigned int slot;
	struct virtio_pci_caps c;
	u16 queue_size;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	u16 avail_idx, last_used;
	unsigned long doorbell;	/* queue 0's */
};

static struct virtq_desc vq_desc[VPCI_QMAX] __aligned(16);
static u8 vq_avail[6 + 2 * VPCI_QMAX] __aligned(2);
static u8 vq_used[6 + 8 * VPCI_QMAX] __aligned(4);

/* The first function with PCI device id @device_id, mapped and enabled. */
static int vpci_find(struct vpci_dev *d, u16 device_id)
{
	memset(d, 0, sizeof(*d));
	for (unsigned int s = 0; s < PCI_SLOTS; s++) {
		if (mmio_read16(pci_ecam(s, 0)) != PCI_VENDOR_VIRTIO ||
		    mmio_read16(pci_ecam(s, 2)) != device_id)
			continue;
		d->slot = s;
		pci_enable(s);
		if (!pci_virtio_caps(s, &d->c))
			return test_fail("virtio-pci 00:%02x.0: missing capabilities (common %lx notify %lx isr %lx msix %x)",
					 s, d->c.common, d->c.notify, d->c.isr, d->c.msix_cap);
		return 0;
	}
	return test_fail("no virtio-pci function with device id 0x%x (run evvm with --transport=pci)",
			 device_id);
}

static int vpci_reset(struct vpci_dev *d)
{
	u64 deadline = tsc_deadline(TIMEOUT_CYCLES);

	mmio_write8(d->c.common + CC_STATUS, 0);
	while (mmio_read8(d->c.common + CC_STATUS)) {
		if (tsc_passed(deadline))
			return test_fail("virtio-pci 00:%02x.0: reset never completed", d->slot);
		cpu_relax();
	}
	return 0;
}

static void vpci_msix_mask(struct vpci_dev *d, unsigned int vec, bool masked)
{
	mmio_write32(d->c.msix_table + MSIX_ENTRY_SIZE * vec + MSIX_ENTRY_CTRL, masked ? 1 : 0);
}

static void msix_program(struct vpci_dev *d, u8 msi_vector)
{
	unsigned long ctrl = pci_ecam(d->slot, d->c.msix_cap + 2);

	/* Enable with the function masked while the entries change, then unmask it. */
	mmio_write16(ctrl, MSIX_CTRL_ENABLE | MSIX_CTRL_MASKALL);
	for (unsigned int v = 0; v < 2 && v < d->c.msix_size; v++) {
		unsigned long e = d->c.msix_table + MSIX_ENTRY_SIZE * v;

		mmio_write32(e, (u32)LAPIC_BASE | lapic_id() << 12);
		mmio_write32(e + 4, 0);
		mmio_write32(e + 8, msi_vector);
		mmio_write32(e + MSIX_ENTRY_CTRL, 0);
	}
	mmio_write16(ctrl, MSIX_CTRL_ENABLE);
}

static int vpci_queue_setup(struct vpci_dev *d, u16 qsize, u16 qvec)
{
	unsigned long c = d->c.common;
	u16 max;

	mmio_write16(c + CC_Q_SELECT, 0);
	max = mmio_read16(c + CC_Q_SIZE);
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
	mmio_write16(c + CC_Q_SIZE, qsize);
	mmio_write32(c + CC_Q_DESC, (u32)(unsigned long)vq_desc);
	mmio_write32(c + CC_Q_DESC + 4, 0);
	mmio_write32(c + CC_Q_AVAIL, (u32)(unsigned long)vq_avail);
	mmio_write32(c + CC_Q_AVAIL + 4, 0);
	mmio_write32(c + CC_Q_USED, (u32)(unsigned long)vq_used);
	mmio_write32(c + CC_Q_USED + 4, 0);
	mmio_write16(c + CC_Q_MSIX, qvec);
	if (mmio_read16(c + CC_Q_MSIX) != qvec)
		return test_fail("virtio-pci 00:%02x.0: queue vector %u refused", d->slot, qvec);
	d->doorbell = d->c.notify + (unsigned long)mmio_read16(c + CC_Q_NOFF) * d->c.notify_mult;
	mmio_write16(c + CC_Q_ENABLE, 1);
	return 0;
}

/*
 * Reset, negotiate VERSION_1 only, set up queue 0 (@qsize entries) with
 * MSI-X vector @qvec (config changes on vector 0) and set DRIVER_OK. MSI-X
 * entries 0 and 1 go to @msi_vector on this CPU, unmasked.
 */
static int vpci_start(struct vpci_dev *d, u16 qsize, u16 qvec, u8 msi_vector)
{
	unsigned long c = d->c.common;
	u8 s = VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER;

	if (vpci_reset(d))
		return -1;
	mmio_write8(c + CC_STATUS, s);
	mmio_write32(c + CC_DFSELECT, 1);
	if (!(mmio_read32(c + CC_DF) & 1))
		return test_fail("virtio-pci 00:%02x.0: no VERSION_1", d->slot);
	mmio_write32(c + CC_GFSELECT, 0);
	mmio_write32(c + CC_GF, 0);
	mmio_write32(c + CC_GFSELECT, 1);
	mmio_write32(c + CC_GF, 1);
	s |= VIRTIO_S_FEATURES_OK;
	mmio_write8(c + CC_STATUS, s);
	if (!(mmio_read8(c + CC_STATUS) & VIRTIO_S_FEATURES_OK))
		return test_fail("virtio-pci 00:%02x.0: FEATURES_OK refused", d->slot);
	msix_program(d, msi_vector);
	mmio_write16(c + CC_MSIX, 0);
	if (vpci_queue_setup(d, qsize, qvec))
		return -1;
	s |= VIRTIO_S_DRIVER_OK;
	mmio_write8(c + CC_STATUS, s);
	if (mmio_read8(c + CC_STATUS) & (VIRTIO_S_NEEDS_RESET | VIRTIO_S_FAILED))
		return test_fail("virtio-pci 00:%02x.0: status 0x%x after DRIVER_OK", d->slot,
				 mmio_read8(c + CC_STATUS));
	return 0;
}

/* Post a chain of @n buffers (header, data, status), and kick. */
static void vpci_post_chain(struct vpci_dev *d, const struct vbuf *bufs, unsigned int n)
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

static void vpci_post(struct vpci_dev *d, const void *buf, u32 len, bool write)
{
	struct vbuf b = { (u64)(unsigned long)buf, len, write };

	vpci_post_chain(d, &b, 1);
}

/* Wait for the next used entry; its length in *@len. 0, or -1 on timeout. */
static int vpci_wait_used(struct vpci_dev *d, u32 *len, u64 cycles)
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

/* ---- The tests ------------------------------------------------------- */

#define MSI_VEC			0x46
#define RNG_PCI_ID		(0x1040 + VIRTIO_ID_RNG)
#define BLK_PCI_ID		(0x1040 + VIRTIO_ID_BLOCK)
#define QUIET_WAIT		(20 * TSC_PER_MS)

static u32 runs;
static u8 buf[512] __aligned(16);
static u8 blk_hdr[16] __aligned(16);
static u8 blk_status;

static void count_irq(struct irq_frame *frame)
{
	(void)frame;
	WRITE_ONCE(runs, runs + 1);
	lapic_eoi();
}

/* With interrupts on, wait until @want runs (or just @cycles with 0). */
static u32 wait_runs(u32 want, u64 cycles)
{
	u64 deadline = tsc_deadline(cycles);

	sti();
	while ((!want || READ_ONCE(runs) < want) && !tsc_passed(deadline))
		cpu_relax();
	cli();
	return READ_ONCE(runs);
}

/* Exactly @want interrupts so far, after a quiet spell. */
static int expect_runs(u32 want, const char *what)
{
	u32 n = want ? wait_runs(want, TIMEOUT_CYCLES) : 0;

	if (n == want)
		n = wait_runs(0, QUIET_WAIT);
	if (n != want)
		return test_fail("%s: %u interrupts, want %u", what, n, want);
	return 0;
}

static int open_dev(struct vpci_dev *d, u16 id)
{
	cli();
	WRITE_ONCE(runs, 0);
	irq_register(MSI_VEC, count_irq);
	lapic_enable();
	if (vpci_find(d, id) || vpci_start(d, 8, 1, MSI_VEC))
		return -1;
	return 0;
}

static int close_dev(struct vpci_dev *d, int rc)
{
	if (d->c.common && vpci_reset(d))
		rc = -1;
	irq_register(MSI_VEC, NULL);
	return rc;
}

/* One 64-byte entropy request: completes, is not all zero. */
static int rng_once(struct vpci_dev *d)
{
	u32 len = 0;

	memset(buf, 0, 64);
	vpci_post(d, buf, 64, true);
	if (vpci_wait_used(d, &len, TIMEOUT_CYCLES))
		return -1;
	if (len == 0 || len > 64)
		return test_fail("virtio-pci rng: used length %u", len);
	for (unsigned int i = 0; i < 64; i++)
		if (buf[i])
			return 0;
	return test_fail("virtio-pci rng: 64 bytes all zero");
}

static int test_pci_rng(void)
{
	struct vpci_dev d;
	int rc = -1;

	if (open_dev(&d, RNG_PCI_ID))
		goto out;
	if (rng_once(&d) || expect_runs(1, "first request"))
		goto out;
	if (rng_once(&d) || expect_runs(2, "second request"))
		goto out;
	rc = 0;
out:
	return close_dev(&d, rc);
}
GUEST_TEST("virtio-pci-rng", test_pci_rng);

/* The PBA's bit for @vec becomes @want (the device notifies after it publishes). */
static int wait_pending(struct vpci_dev *d, unsigned int vec, bool want)
{
	u64 deadline = tsc_deadline(TIMEOUT_CYCLES);

	while (!!(mmio_read32(d->c.msix_pba) & (1u << vec)) != want) {
		if (tsc_passed(deadline))
			return test_fail("MSI-X vector %u pending bit never %s", vec,
					 want ? "set" : "clear");
		cpu_relax();
	}
	return 0;
}

static int test_pci_msix_mask(void)
{
	unsigned long ctrl;
	struct vpci_dev d;
	int rc = -1;

	if (open_dev(&d, RNG_PCI_ID))
		goto out;
	ctrl = pci_ecam(d.slot, d.c.msix_cap + 2);
	/* Vector masked: the request completes, the interrupt waits. */
	vpci_msix_mask(&d, 1, true);
	if (rng_once(&d) || wait_pending(&d, 1, true) || expect_runs(0, "masked vector"))
		goto out;
	vpci_msix_mask(&d, 1, false);
	if (expect_runs(1, "vector unmasked") || wait_pending(&d, 1, false))
		goto out;
	/* Function masked: the same through Message Control. */
	mmio_write16(ctrl, 0xc000);
	if (rng_once(&d) || wait_pending(&d, 1, true) || expect_runs(1, "function masked"))
		goto out;
	mmio_write16(ctrl, 0x8000);
	if (expect_runs(2, "function unmasked") || wait_pending(&d, 1, false))
		goto out;
	rc = 0;
out:
	return close_dev(&d, rc);
}
GUEST_TEST("virtio-pci-msix-mask", test_pci_msix_mask);

/* Config reads no function answers, of every size. */
static int hostile_config(struct vpci_dev *d)
{
	unsigned int absent = 31;

	while (absent && mmio_read16(pci_ecam(absent, 0)) != 0xffff)
		absent--;
	if (!absent)
		return test_fail("no empty slot on bus 0");
	if (mmio_read8(pci_ecam(absent, 0)) != 0xff || mmio_read16(pci_ecam(absent, 2)) != 0xffff ||
	    mmio_read32(pci_ecam(absent, 0x3c)) != 0xffffffff)
		return test_fail("absent 00:%02x.0 does not read all-ones", absent);
	/* Extended space of a conventional function reads zero. */
	if (mmio_read32(pci_ecam(d->slot, 0x100)) || mmio_read16(pci_ecam(d->slot, 0xffe)) ||
	    mmio_read8(pci_ecam(d->slot, 0x7ff)))
		return test_fail("extended config space of 00:%02x.0 is not zero", d->slot);
	/* Writes there and to an absent function go nowhere. */
	mmio_write32(pci_ecam(absent, 4), 0xffffffff);
	mmio_write32(pci_ecam(d->slot, 0x200), 0xffffffff);
	/* Misaligned: all-ones. */
	if (mmio_read16(pci_ecam(d->slot, 1)) != 0xffff)
		return test_fail("misaligned config read answered");
	/* The ports see the same host bridge as ECAM. */
	outl(0x80000000, 0xcf8);
	if (inl(0xcfc) != mmio_read32(pci_ecam(0, 0)))
		return test_fail("0xcf8/0xcfc and ECAM disagree on 00:00.0");
	return 0;
}

/* BAR1 (MSI-X) moved onto BAR0: refused, the table is gone until it moves back. */
static int hostile_bar_overlap(struct vpci_dev *d)
{
	unsigned long bar1 = pci_ecam(d->slot, 0x14);
	u32 old = mmio_read32(bar1), bar0 = mmio_read32(pci_ecam(d->slot, 0x10)) & ~0xfu;

	mmio_write32(bar1, bar0);
	if (mmio_read32(d->c.msix_table + 8) != 0xffffffff) {
		mmio_write32(bar1, old);
		return test_fail("BAR1 moved onto BAR0 still decodes");
	}
	if (mmio_read8(d->c.common + 0x14) != (VIRTIO_S_ACKNOWLEDGE | VIRTIO_S_DRIVER |
					     VIRTIO_S_FEATURES_OK | VIRTIO_S_DRIVER_OK))
		return test_fail("BAR0 lost to an overlapping BAR1");
	mmio_write32(bar1, old);
	if (mmio_read32(d->c.msix_table + 8) != MSI_VEC)
		return test_fail("BAR1 back in place does not decode");
	return 0;
}

static int test_pci_hostile(void)
{
	struct vpci_dev d;
	int rc = -1;

	if (open_dev(&d, RNG_PCI_ID) || hostile_config(&d) || hostile_bar_overlap(&d))
		goto out;
	/* Vectors past the table read back NO_VECTOR. */
	mmio_write16(d.c.common + 0x16, 0);
	mmio_write16(d.c.common + 0x1a, (u16)(d.c.msix_size + 3));
	if (mmio_read16(d.c.common + 0x1a) != VPCI_NO_VECTOR) {
		test_fail("queue vector %u past a %u-entry table accepted", d.c.msix_size + 3,
			  d.c.msix_size);
		goto out;
	}
	mmio_write16(d.c.common + 0x1a, 1);
	/* MSI-X accesses past the table and PBA, and past the table in it. */
	if (mmio_read32(d.c.msix_table + 16 * d.c.msix_size) != 0) {
		test_fail("MSI-X table read past its end answered");
		goto out;
	}
	mmio_write32(d.c.msix_table + 16 * d.c.msix_size + 8, 0x12345678);
	mmio_write32(d.c.msix_pba, 0xffffffff); /* read-only */
	mmio_write16(d.c.msix_table + 12, 0);   /* 16-bit: ignored */
	/* Doorbells at offsets no queue owns. */
	mmio_write16(d.doorbell + 7 * d.c.notify_mult, 0);
	mmio_write16(d.doorbell + 2, 0);
	/* The device still works, interrupts included. */
	if (rng_once(&d) || expect_runs(1, "after hostile accesses"))
		goto out;
	rc = 0;
out:
	return close_dev(&d, rc);
}
GUEST_TEST("virtio-pci-hostile", test_pci_hostile);

/* One virtio-blk request of @type on sector 0 with buf as data. */
static int blk_rw(struct vpci_dev *d, u32 type)
{
	struct vbuf b[3] = {
		{ (u64)(unsigned long)blk_hdr, 16, false },
		{ (u64)(unsigned long)buf, 512, type == 0 },
		{ (u64)(unsigned long)&blk_status, 1, true },
	};
	u32 len;

	memset(blk_hdr, 0, sizeof(blk_hdr));
	blk_hdr[0] = (u8)type;
	blk_status = 0xff;
	vpci_post_chain(d, b, 3);
	if (vpci_wait_used(d, &len, TIMEOUT_CYCLES))
		return -1;
	if (READ_ONCE(blk_status) != 0)
		return test_fail("virtio-pci blk: request type %u status %u", type, blk_status);
	return 0;
}

static int test_pci_blk(void)
{
	struct vpci_dev d;
	int rc = -1;

	if (open_dev(&d, BLK_PCI_ID))
		goto out;
	for (unsigned int i = 0; i < 512; i++)
		buf[i] = (u8)(i * 7 + 3);
	if (blk_rw(&d, 1) || expect_runs(1, "write"))
		goto out;
	memset(buf, 0, 512);
	if (blk_rw(&d, 0) || expect_runs(2, "read"))
		goto out;
	for (unsigned int i = 0; i < 512; i++) {
		if (buf[i] != (u8)(i * 7 + 3)) {
			test_fail("virtio-pci blk: byte %u reads 0x%x after the write", i, buf[i]);
			goto out;
		}
	}
	rc = 0;
out:
	return close_dev(&d, rc);
}
GUEST_TEST("virtio-pci-blk", test_pci_blk);
