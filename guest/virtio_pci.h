/*
 * A minimal modern virtio-pci driver (virtio 1.2, 4.1) beside the mmio one
 * (virtio.h, whose ring structures it shares): functions are found by
 * walking bus 0 through ECAM (pci.ecam=, default evvm's 0xe0000000), their
 * capabilities give the common, notify and ISR structures and the MSI-X
 * table, and each queue's interrupt is an MSI-X vector aimed at this CPU's
 * local APIC.
 */
#ifndef GUEST_VIRTIO_PCI_H
#define GUEST_VIRTIO_PCI_H

#include "types.h"
#include "virtio.h"

#define PCI_DEFAULT_ECAM	0xe0000000UL
#define VPCI_NO_VECTOR		0xffff

struct vpci_dev {
	unsigned int slot;
	u16 device_id;		/* PCI device id: 0x1040 + virtio id */
	unsigned long common, notify, isr, device;
	u32 notify_mult;
	unsigned long msix_table, msix_pba;
	unsigned int msix_cap, msix_size;
	u16 queue_size;
	struct virtq_desc *desc;
	struct virtq_avail *avail;
	struct virtq_used *used;
	u16 avail_idx, last_used;
	unsigned long doorbell;	/* queue 0's */
};

/* ECAM address of (bus 0, @slot, function 0) register @reg. */
unsigned long pci_ecam(unsigned int slot, u32 reg);

/*
 * Find the first function with PCI device id @device_id, map its
 * capabilities and turn on memory decoding and bus mastering. 0, or -1
 * after test_fail().
 */
int vpci_find(struct vpci_dev *d, u16 device_id);

/*
 * Reset, negotiate VERSION_1 only, set up queue 0 (@qsize entries) with
 * MSI-X vector @qvec (config changes on vector 0) and set DRIVER_OK. MSI-X
 * entries 0 and 1 go to @msi_vector on this CPU, unmasked. 0, or -1 after
 * test_fail().
 */
int vpci_start(struct vpci_dev *d, u16 qsize, u16 qvec, u8 msi_vector);

/* Post one buffer of @len at @buf (device-writable if @write), and kick. */
void vpci_post(struct vpci_dev *d, const void *buf, u32 len, bool write);

/* Post a chain of @n buffers (header, data, status), and kick. */
void vpci_post_chain(struct vpci_dev *d, const struct vbuf *bufs, unsigned int n);

/* Wait for the next used entry; its length in *@len. 0, or -1 on timeout. */
int vpci_wait_used(struct vpci_dev *d, u32 *len, u64 cycles);

/* Reset the device (status 0) and wait for it to read back 0. */
int vpci_reset(struct vpci_dev *d);

/* MSI-X table entry @vec: masked or not. */
void vpci_msix_mask(struct vpci_dev *d, unsigned int vec, bool masked);

#endif
