/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_VIRTIO_PCI_INT_H
#define EVVM_VMM_VIRTIO_PCI_INT_H

/* virtio_pci.c's state, shared with virtio_pci_common.c (the common configuration). */

#include <pthread.h>
#include <stdatomic.h>

#include <evvm/iothread.h>
#include <evvm/log.h>

#include "irqfd.h"
#include "msix.h"
#include "pci.h"
#include "virtio_core.h"
#include "virtio_pci.h"

#define COMMON_LEN 0x38

/* Common configuration fields (4.1.4.3). */
enum {
	CC_DFSELECT = 0x00,
	CC_DF = 0x04,
	CC_GFSELECT = 0x08,
	CC_GF = 0x0c,
	CC_MSIX = 0x10,
	CC_NUMQ = 0x12,
	CC_STATUS = 0x14,
	CC_CFGGEN = 0x15,
	CC_Q_SELECT = 0x16,
	CC_Q_SIZE = 0x18,
	CC_Q_MSIX = 0x1a,
	CC_Q_ENABLE = 0x1c,
	CC_Q_NOFF = 0x1e,
	CC_Q_DESC = 0x20,
	CC_Q_AVAIL = 0x28,
	CC_Q_USED = 0x30,
};

struct virtio_pci {
	struct virtio_pci_host host;
	struct evvm_virtio_dev *dev;
	char name[72];
	struct pci_func f;
	bool on_bus;
	struct msix msix;
	bool msix_ready;
	struct vcore core;
	bool core_ready;
	unsigned int pcfg; /* offset of the PCI-config access capability */

	/* Register state, under @lock (vCPU threads). */
	pthread_mutex_t lock;
	uint32_t dfselect, gfselect;
	uint16_t queue_sel;
	uint64_t notify_base; /* BAR0 + NOTIFY_OFF, or PCI_BAR_UNMAPPED */

	/* Also read on the I/O thread. */
	_Atomic uint16_t config_vector;
	_Atomic uint16_t queue_vector[EVVM_VIRTIO_MAX_QUEUES];
	_Atomic uint32_t isr;
	_Atomic uint32_t config_generation; /* bumped by each config change */
	_Atomic uint64_t interrupts[EVVM_VIRTIO_MAX_QUEUES], config_interrupts; /* --stats */
	atomic_bool intx_disabled;

	/*
	 * A device served by another process: per queue, the eventfd its
	 * backend signals when the queue has no MSI-X vector to signal
	 * directly (MSI-X off at DRIVER_OK, or NO_VECTOR); read here.
	 */
	struct vpci_relay {
		struct virtio_pci *t;
		unsigned int q;
		int fd;
	} relay[EVVM_VIRTIO_MAX_QUEUES];

	int intx_fd, resample_fd;
	struct irqfd *intx;
	uint32_t gsi;
	struct evvm_iothread *io;
	/* dev->nr_iothreads > 1: the other threads and their clones of @dev (vcore groups). */
	struct evvm_iothread *more_io[EVVM_VIRTIO_MAX_QUEUES];
	struct evvm_virtio_dev *clones[EVVM_VIRTIO_MAX_QUEUES];
	unsigned int nr_clones;
	pthread_mutex_t rl_lock;
	struct evvm_ratelimit rl;
};

/* A line about something the guest did: rate-limited. */
void vpci_warn(struct virtio_pci *t, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* INTx: the ISR bit @why, then the (level) line; it stays up until the guest's EOI. */
void vpci_intx_raise(struct virtio_pci *t, uint32_t why);

/* DRIVER_OK of a device served by another process: each queue's call fd. @lock held. */
void vpci_bind_calls(struct virtio_pci *t);

/* Common configuration accesses at @off of it (BAR0 + 0): a field, or a warning. */
void vpci_common_read(struct virtio_pci *t, uint32_t off, void *data, unsigned int len);
void vpci_common_write(struct virtio_pci *t, uint32_t off, const void *data, unsigned int len);

#endif
