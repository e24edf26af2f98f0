/*
 * PCI bus 0 through ECAM (pci.ecam=, default evvm's 0xe0000000; QEMU's q35
 * has it at 0xb0000000), and the capabilities of a modern virtio-pci
 * function (virtio 1.2, 4.1.4): shared by the virtio-pci transport
 * (virtio_pci.c) and the pci tests' raw driver (test_virtio_pci.c).
 */
#ifndef GUEST_PCI_H
#define GUEST_PCI_H

#include "types.h"
#include "virtio.h"

#define PCI_DEFAULT_ECAM	0xe0000000UL
#define PCI_SLOTS		32
#define PCI_VENDOR_VIRTIO	0x1af4
#define PCI_DEVICE_VIRTIO	0x1040	/* modern: 0x1040 + virtio device id */
#define PCI_DEVICE_VIRTIO_END	0x107f

#define PCI_COMMAND		0x04
#define PCI_CMD_MEMORY		0x0002
#define PCI_CMD_MASTER		0x0004
#define PCI_CMD_INTX_OFF	0x0400

/* MSI-X (PCI 3.0, 6.8.2): Message Control and the 16-byte table entries. */
#define MSIX_CTRL_ENABLE	0x8000
#define MSIX_CTRL_MASKALL	0x4000
#define MSIX_ENTRY_SIZE		16
#define MSIX_ENTRY_CTRL		12
#define VPCI_NO_VECTOR		0xffff

/* Common configuration offsets (4.1.4.3). */
#define CC_DFSELECT		0x00
#define CC_DF			0x04
#define CC_GFSELECT		0x08
#define CC_GF			0x0c
#define CC_MSIX			0x10
#define CC_NUMQ			0x12
#define CC_STATUS		0x14
#define CC_CFGGEN		0x15
#define CC_Q_SELECT		0x16
#define CC_Q_SIZE		0x18
#define CC_Q_MSIX		0x1a
#define CC_Q_ENABLE		0x1c
#define CC_Q_NOFF		0x1e
#define CC_Q_DESC		0x20
#define CC_Q_AVAIL		0x28
#define CC_Q_USED		0x30

/* ECAM address of (bus 0, @slot, function 0) register @reg. */
unsigned long pci_ecam(unsigned int slot, u32 reg);

/*
 * Map @slot's virtio capabilities (common, notify, ISR, device; MSI-X
 * table and PBA) into @c. False if common, notify, ISR or MSI-X is missing
 * (or in a BAR above 4 GiB or an I/O BAR).
 */
bool pci_virtio_caps(unsigned int slot, struct virtio_pci_caps *c);

/* Memory decoding and bus mastering on, INTx off (MSI-X only here). */
void pci_enable(unsigned int slot);

#endif
