/* PCI bus 0 through ECAM and virtio-pci capabilities (pci.h). */
#include "io.h"
#include "lib.h"
#include "pci.h"
#include "test.h"

#define CAP_PTR			0x34
#define CAP_VENDOR		0x09
#define CAP_MSIX		0x11

/* virtio_pci_cap.cfg_type (4.1.4). */
#define CAP_COMMON		1
#define CAP_NOTIFY		2
#define CAP_ISR			3
#define CAP_DEVICE		4

static unsigned long ecam_base(void)
{
	static unsigned long base;
	u64 v;

	if (!base) {
		if (test_arg_u64("pci.ecam", PCI_DEFAULT_ECAM, 0x100000, 0xfff00000, &v))
			v = PCI_DEFAULT_ECAM;
		base = (unsigned long)v;
	}
	return base;
}

unsigned long pci_ecam(unsigned int slot, u32 reg)
{
	return ecam_base() + ((unsigned long)slot << 15) + reg;
}

void pci_enable(unsigned int slot)
{
	mmio_write16(pci_ecam(slot, PCI_COMMAND),
		     PCI_CMD_MEMORY | PCI_CMD_MASTER | PCI_CMD_INTX_OFF);
}

/* A BAR's address (32- or 64-bit memory BAR); 0 if it is none we can reach. */
static unsigned long bar_addr(unsigned int slot, unsigned int bar)
{
	u32 lo, hi = 0;

	if (bar > 5)
		return 0;
	lo = mmio_read32(pci_ecam(slot, 0x10 + 4 * bar));
	if (lo & 1)
		return 0; /* I/O BAR */
	if (((lo >> 1) & 3) == 2 && bar < 5)
		hi = mmio_read32(pci_ecam(slot, 0x14 + 4 * bar));
	if (hi)
		return 0; /* above 4 GiB: not mapped by the guest */
	return lo & ~0xfUL;
}

static void map_msix(unsigned int s, u32 c, struct virtio_pci_caps *caps)
{
	u32 t = mmio_read32(pci_ecam(s, c + 4)), p = mmio_read32(pci_ecam(s, c + 8));
	unsigned long tb = bar_addr(s, t & 7), pb = bar_addr(s, p & 7);

	if (!tb || !pb)
		return;
	caps->msix_cap = c;
	caps->msix_size = (mmio_read16(pci_ecam(s, c + 2)) & 0x7ff) + 1;
	caps->msix_table = tb + (t & ~7u);
	caps->msix_pba = pb + (p & ~7u);
}

/* One virtio vendor capability at @c; the first of each type counts (4.1.4.1). */
static void map_vendor(unsigned int s, u32 c, struct virtio_pci_caps *caps)
{
	u8 type = mmio_read8(pci_ecam(s, c + 3));
	unsigned long bar = bar_addr(s, mmio_read8(pci_ecam(s, c + 4)));
	unsigned long at = bar + mmio_read32(pci_ecam(s, c + 8));
	u32 len = mmio_read32(pci_ecam(s, c + 12));

	if (!bar)
		return;
	if (type == CAP_COMMON && !caps->common) {
		caps->common = at;
	} else if (type == CAP_NOTIFY && !caps->notify) {
		caps->notify = at;
		caps->notify_len = len;
		caps->notify_mult = mmio_read32(pci_ecam(s, c + 16));
	} else if (type == CAP_ISR && !caps->isr) {
		caps->isr = at;
	} else if (type == CAP_DEVICE && !caps->device) {
		caps->device = at;
		caps->device_len = len;
	}
}

bool pci_virtio_caps(unsigned int s, struct virtio_pci_caps *caps)
{
	unsigned int n = 0;
	u32 c;

	memset(caps, 0, sizeof(*caps));
	/* At most 48 capabilities fit in 256 bytes: a loop in the list ends here. */
	for (c = mmio_read8(pci_ecam(s, CAP_PTR)) & ~3u; c && n < 48;
	     c = mmio_read8(pci_ecam(s, c + 1)) & ~3u, n++) {
		u8 id = mmio_read8(pci_ecam(s, c));

		if (id == CAP_MSIX)
			map_msix(s, c, caps);
		else if (id == CAP_VENDOR)
			map_vendor(s, c, caps);
	}
	return caps->common && caps->notify && caps->isr && caps->msix_cap;
}
