/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_VIRTIO_PCI_H
#define EVVM_VMM_VIRTIO_PCI_H

#include <stdint.h>

#include <evvm/device.h>
#include <evvm/mem.h>

#include "msix.h"
#include "virtio_mmio.h" /* struct virtio_mmio_stats */
#include "virtio_state.h"

struct pci_bus;
struct ioeventfd_table;
struct irqfd_table;
struct virtio_pci;

/*
 * BAR layout of every virtio-pci device (docs/memory-map.md). BAR0 holds
 * the virtio structures, BAR1 the MSI-X table and PBA; each device's pair
 * sits in its own 64 KiB of the PCI MMIO window until the guest moves it.
 */
#define VIRTIO_PCI_BAR0_SIZE   0x4000
#define VIRTIO_PCI_COMMON_OFF  0x0000
#define VIRTIO_PCI_ISR_OFF     0x1000
#define VIRTIO_PCI_DEVICE_OFF  0x2000
#define VIRTIO_PCI_NOTIFY_OFF  0x3000
#define VIRTIO_PCI_NOTIFY_MULT 4 /* queue q's doorbell: NOTIFY_OFF + 4 * q */
#define VIRTIO_PCI_BAR1_SIZE   0x1000
#define VIRTIO_PCI_MSIX_TABLE  0x0000
#define VIRTIO_PCI_MSIX_PBA    0x0800
#define VIRTIO_PCI_DEV_STRIDE  0x10000
#define VIRTIO_PCI_VENDOR      0x1af4
#define VIRTIO_PCI_DEVICE_BASE 0x1040 /* non-transitional: 0x1040 + virtio device id */

/* What a virtio-pci device needs of its VM (none of it owned). */
struct virtio_pci_host {
	const struct evvm_mem *mem;
	struct pci_bus *bus;
	struct ioeventfd_table *ioeventfds;
	struct irqfd_table *irqfds;
	unsigned int poll_max_us; /* the I/O thread's busy-poll */
};

/*
 * Put @dev on @host's PCI bus as a modern virtio-pci function (virtio 1.2,
 * 4.1): common, notify (one length-0 ioeventfd per queue at
 * BAR0 + 0x3000 + 4 * q once the driver is up), ISR, device and PCI-config
 * access capabilities, and MSI-X with a vector for config changes and one
 * per queue; INTx (resampled, level) while MSI-X is off. Its queues are
 * served on dev->nr_iothreads I/O threads (queue q on thread q % M, each
 * with a clone of @dev). Its BARs start at
 * @bar_base (64 KiB aligned, inside the PCI MMIO window). The transport
 * owns @dev from then on (also on failure). A device served by another
 * process (no ops->kick, a vhost-user frontend) gets, at DRIVER_OK, each
 * queue's MSI-X vector eventfd as its call fd (dev->call_fds), or one the
 * I/O thread relays when the queue has no vector. 0 or -errno after
 * logging.
 */
int virtio_pci_create(const struct virtio_pci_host *host, struct evvm_virtio_dev *dev,
		      uint32_t bar_base, struct virtio_pci **out);

/* The device behind the transport (for its counters). */
struct evvm_virtio_dev *virtio_pci_dev(struct virtio_pci *t);

/*
 * A snapshot of @t's doorbell and interrupt counters, as virtio-mmio's
 * (kicks: the doorbell eventfd's counts the I/O thread read; interrupts:
 * used-buffer notifications sent, whatever the vector's mask).
 */
void virtio_pci_get_stats(struct virtio_pci *t, struct virtio_mmio_stats *s);

/*
 * vm_pause() (@quiesced) or vm_resume(), with the vCPUs parked: kick
 * eventfds not read and the device quiesced (ops->quiesce), or the
 * reverse. 0 or -errno after logging; on failure nothing changed.
 */
int virtio_pci_quiesce(struct virtio_pci *t, bool quiesced);

/*
 * The device's counters (ops->counters, 0 without), summed over its
 * instances when it runs on several I/O threads (dev->nr_iothreads).
 */
unsigned int virtio_pci_counters(struct virtio_pci *t, struct evvm_dev_counter *out,
				 unsigned int max);

/*
 * virtio-pci's part of a snapshot (vmm/virtio_pci_state.c; section
 * SNAP_VIRTIO_PCI, index: the device's slot). On disk as is:
 * little-endian, naturally aligned, reserved fields zero.
 */
struct virtio_pci_state {
	struct virtio_state vs; /* its selectors, ISR and generation are this transport's */
	uint8_t cfg[256];	/* the function's configuration space */
	struct msix_entry msix[MSIX_MAX_VECTORS];
	uint64_t msix_pending;
	uint32_t nr_vectors;
	uint16_t config_vector;
	uint16_t queue_vector[EVVM_VIRTIO_MAX_QUEUES];
	uint16_t reserved;
};

/* Save the paused device's transport state (the device quiesced). */
void virtio_pci_save(struct virtio_pci *t, struct virtio_pci_state *s);

/*
 * Load @s, read from @file, into @t: a function just created in the same
 * slot for a device built from the same snapshot, before any vCPU runs.
 * Everything is checked first; then the configuration space (BARs where
 * the guest put them), the MSI-X table and pending bits, the common
 * configuration, and the device's queues, started if the driver had. 0 or
 * -EINVAL after a line naming @file and the fault.
 */
int virtio_pci_restore(struct virtio_pci *t, const struct virtio_pci_state *s, const char *file);

/* Take the function off the bus, reset the device, free everything. NULL is ignored. */
void virtio_pci_destroy(struct virtio_pci *t);

#endif
