/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TESTS_VPCI_DRIVER_H
#define EVVM_TESTS_VPCI_DRIVER_H

/*
 * A virtio-pci driver for the unit tests (tests/unit/test_virtio_pci*.c):
 * one function at 00:01.0 on a bus of its own, driven through the same io
 * buses, ioeventfd matching and irqfd table a VM uses (no KVM: the
 * ioeventfd table matches doorbells in userspace, as --ioeventfd=user
 * does, and the irqfd table records routes without injecting). Guest RAM
 * is a memfd, as a VM's, so a vhost-user backend can map it.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include <evvm/device.h>
#include <evvm/mem.h>

#include "../../vmm/iobus.h"
#include "../../vmm/ioeventfd.h"
#include "../../vmm/irqfd.h"
#include "../../vmm/pci.h"
#include "../../vmm/virtio_pci.h"

#define RAM_SIZE (1u << 20)
#define SLOT	 1
#define QSIZE	 8
/* A blk queue's rings and buffers (vpci_blk_*): queue q's at BQ_BASE(q), 16 KiB each. */
#define BQ_BASE(q) (0x20000u + (q) * 0x4000u)

struct vpci_fx {
	struct iobus pio, mmio;
	struct pci_bus bus;
	struct ioeventfd_table iot;
	struct irqfd_table irqt;
	struct evvm_mem mem;
	uint8_t *ram;
	struct virtio_pci *t;
	uint64_t bar0, bar1;
	unsigned int cap[6]; /* config offset of each virtio capability type */
	unsigned int msix;
	uint16_t avail_idx;
	char disk[32]; /* the blk fixture's file */
	int memfd;
	/* The vhost-user fixture: evvm's blk backend on a thread of its own. */
	struct vhost_backend *backend;
	struct evvm_virtio_dev *backend_dev;
	pthread_t backend_thread;
	char sock[48];
};

/* Configuration space through ECAM. */
uint32_t vpci_cfg_rd(struct vpci_fx *f, uint32_t reg, unsigned int len);
void vpci_cfg_wr(struct vpci_fx *f, uint32_t reg, uint32_t v, unsigned int len);

/* An MMIO write as vcpu.c makes it: ioeventfds first. True if one took it. */
bool vpci_mmio_wr(struct vpci_fx *f, uint64_t addr, uint64_t v, unsigned int len);
uint64_t vpci_mmio_rd(struct vpci_fx *f, uint64_t addr, unsigned int len);

/* The common configuration, found through its capability. */
void vpci_cc_wr(struct vpci_fx *f, uint32_t off, uint64_t v, unsigned int len);
uint64_t vpci_cc_rd(struct vpci_fx *f, uint32_t off, unsigned int len);

/* The bus, the tables and RAM in @f, and @dev (NULL: virtio-rng) at slot 1; *@state = @f. */
int vpci_setup(void **state, struct vpci_fx *f, struct evvm_virtio_dev *dev);

/* A virtio-blk of @queues queues on a fresh 1 MiB file (f->disk, removed at teardown). */
struct evvm_virtio_dev *vpci_make_blk(struct vpci_fx *f, unsigned int queues);

/* Everything vpci_setup() and the test made, the backend too. */
int vpci_teardown(void **state);

/* The capabilities, BAR0 and BAR1; memory decoding and bus mastering on. */
void vpci_find_caps(struct vpci_fx *f);

/* MSI-X on, vector v's message data 0x40 + v for @nr vectors, the config vector 0. */
void vpci_msix_on(struct vpci_fx *f, unsigned int nr);

void vpci_driver_ok(struct vpci_fx *f);

/* The eventfd bound to @gsi's irqfd: how often it was signalled since the last look. */
uint64_t vpci_irq_count(struct vpci_fx *f, uint32_t gsi);
/* The MSI route of the message (0xfee00000, @data), or 0. */
uint32_t vpci_msi_gsi(struct vpci_fx *f, uint32_t data);
/* vpci_irq_count(), waiting up to 2 s for a first one. */
uint64_t vpci_wait_irq(struct vpci_fx *f, uint32_t gsi);

/* blk: queue @q at BQ_BASE(q), size QSIZE, vector 1 + q, enabled. */
void vpci_blk_queue_up(struct vpci_fx *f, unsigned int q);
/* blk: GET_ID on queue @q through its own doorbell; returns once used, checked. */
void vpci_blk_get_id(struct vpci_fx *f, unsigned int q);
/* blk: features (MQ) and num_queues checked as a driver does, then FEATURES_OK. */
void vpci_blk_negotiate(struct vpci_fx *f, unsigned int queues);

#endif
