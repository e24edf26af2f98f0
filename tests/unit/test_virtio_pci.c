// SPDX-License-Identifier: MIT
/*
 * virtio-pci (vmm/virtio_pci.c) driven by a driver written here
 * (tests/lib/vpci_driver.c). The device is virtio-rng on its own I/O
 * thread. What a driver sees: the capabilities, feature negotiation, a
 * request completed with its MSI-X vector fired or held pending while
 * masked, INTx with the ISR when MSI-X is off, doorbells that follow a
 * moved BAR, the PCI-config access window; and what a hostile one gets:
 * NO_VECTOR for vectors past the table, nothing for doorbells no queue owns
 * or accesses no field covers, and NEEDS_RESET for a bad queue. And a
 * snapshot of the transport loaded into a fresh one.
 * test_virtio_pci_blk.c has the multiqueue and vhost-user cases.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/devices.h>
#include <evvm/log.h>
#include <evvm/virtio.h>
#include <evvm/virtqueue.h>

#include "le.h"
#include "msix.h"
#include "vpci_driver.h"

#define DESC_GPA  0x1000
#define AVAIL_GPA 0x2000
#define USED_GPA  0x3000
#define BUF_GPA	  0x10000

static int setup(void **state)
{
	return vpci_setup(state, calloc(1, sizeof(struct vpci_fx)), NULL);
}

static void probe(struct vpci_fx *f)
{
	assert_int_equal(vpci_cfg_rd(f, PCI_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(vpci_cfg_rd(f, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_RNG);
	assert_true(vpci_cfg_rd(f, PCI_REVISION, 1) >= 1);
	assert_true(vpci_cfg_rd(f, PCI_SUBSYS_ID, 2) >= 0x40);
	assert_true(vpci_cfg_rd(f, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	vpci_find_caps(f);
	for (unsigned int i = 1; i <= 5; i++)
		if (i != 4) /* rng has no device config */
			assert_int_not_equal(f->cap[i], 0);
	assert_int_equal(f->cap[4], 0);
	assert_int_not_equal(f->msix, 0);
	assert_int_equal(vpci_cfg_rd(f, f->cap[2] + 16, 4), 4); /* notify_off_multiplier */
	/* 2 vectors: config + 1 queue */
	assert_int_equal(vpci_cfg_rd(f, f->msix + 2, 2) & 0x7ff, 1);
}

static void negotiate(struct vpci_fx *f)
{
	uint64_t feats;

	vpci_cc_wr(f, 0x14, 0, 1);
	vpci_cc_wr(f, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	vpci_cc_wr(f, 0x00, 1, 4);
	feats = vpci_cc_rd(f, 0x04, 4) << 32;
	vpci_cc_wr(f, 0x00, 0, 4);
	feats |= vpci_cc_rd(f, 0x04, 4);
	assert_true(feats & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	vpci_cc_wr(f, 0x08, 1, 4);
	vpci_cc_wr(f, 0x0c, 1, 4); /* VERSION_1 */
	vpci_cc_wr(f, 0x08, 0, 4);
	vpci_cc_wr(f, 0x0c, 0, 4);
	vpci_cc_wr(f, 0x14,
		   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
	assert_true(vpci_cc_rd(f, 0x14, 1) & VIRTIO_STATUS_FEATURES_OK);
}

static void msix_on(struct vpci_fx *f)
{
	vpci_msix_on(f, 2);
}

static void queue_up(struct vpci_fx *f)
{
	vpci_cc_wr(f, 0x16, 0, 2);
	assert_int_equal(vpci_cc_rd(f, 0x18, 2), 256); /* rng's queue_max */
	vpci_cc_wr(f, 0x18, QSIZE, 2);
	vpci_cc_wr(f, 0x20, DESC_GPA, 4); /* the 64-bit fields in halves, as Linux writes them */
	vpci_cc_wr(f, 0x24, 0, 4);
	vpci_cc_wr(f, 0x28, AVAIL_GPA, 8);
	vpci_cc_wr(f, 0x30, USED_GPA, 8);
	assert_int_equal(vpci_cc_rd(f, 0x28, 8), AVAIL_GPA);
	vpci_cc_wr(f, 0x1c, 1, 2);
	assert_int_equal(vpci_cc_rd(f, 0x1c, 2), 1);
}

/* Queue q's doorbell, from the notify capability and queue_notify_off. */
static uint64_t doorbell(struct vpci_fx *f)
{
	vpci_cc_wr(f, 0x16, 0, 2);
	return f->bar0 + vpci_cfg_rd(f, f->cap[2] + 8, 4) +
	       vpci_cc_rd(f, 0x1e, 2) * vpci_cfg_rd(f, f->cap[2] + 16, 4);
}

/* Make one 64-byte device-writable buffer available; returns the used index to wait for. */
static uint16_t post(struct vpci_fx *f)
{
	uint8_t *desc = f->ram + DESC_GPA, *avail = f->ram + AVAIL_GPA;
	unsigned int slot = f->avail_idx % QSIZE;

	put_le64(desc + 16 * slot, BUF_GPA + 64 * slot);
	put_le32(desc + 16 * slot + 8, 64);
	put_le16(desc + 16 * slot + 12, VRING_DESC_F_WRITE);
	put_le16(avail + 4 + 2 * slot, (uint16_t)slot);
	__atomic_store_n((uint16_t *)(avail + 2), ++f->avail_idx, __ATOMIC_RELEASE);
	return f->avail_idx;
}

static void wait_used(struct vpci_fx *f, uint16_t idx)
{
	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n((uint16_t *)(f->ram + USED_GPA + 2), __ATOMIC_ACQUIRE) == idx)
			return;
		usleep(1000);
	}
	fail_msg("used index never reached %u", idx);
}

/* The driver up with MSI-X: the queue on vector 1, the config on vector 0. */
static void up_with_msix(struct vpci_fx *f)
{
	probe(f);
	negotiate(f);
	msix_on(f);
	queue_up(f);
	vpci_cc_wr(f, 0x1a, 1, 2);
	assert_int_equal(vpci_cc_rd(f, 0x1a, 2), 1);
	vpci_driver_ok(f);
}

/* Until the PBA has the bits of @mask (the I/O thread completes on its own time). */
static void wait_pending(struct vpci_fx *f, uint64_t mask)
{
	for (int i = 0;
	     i < 1000 && (vpci_mmio_rd(f, f->bar1 + VIRTIO_PCI_MSIX_PBA, 8) & mask) != mask; i++)
		usleep(1000);
}

static void test_request_with_msix(void **state)
{
	struct vpci_fx *f = *state;
	static const uint8_t zero[64];
	uint16_t idx;
	uint32_t gsi;

	up_with_msix(f);

	idx = post(f);
	/* The doorbell is a length-0 ioeventfd: any write there is taken. */
	assert_true(vpci_mmio_wr(f, doorbell(f), 0, 2));
	wait_used(f, idx);
	assert_int_equal(get_le32(f->ram + USED_GPA + 4 + 4), 64);
	assert_memory_not_equal(f->ram + BUF_GPA, zero, 64);
	gsi = vpci_msi_gsi(f, 0x41);
	assert_true(gsi >= IRQFD_PINS);
	assert_int_equal(vpci_wait_irq(f, gsi), 1);

	/* Masked: the request completes, the interrupt waits in the PBA. */
	vpci_mmio_wr(f, f->bar1 + 16 + 12, 1, 4);
	idx = post(f);
	assert_true(vpci_mmio_wr(f, doorbell(f), 0, 4));
	wait_used(f, idx);
	wait_pending(f, 2);
	assert_int_equal(vpci_mmio_rd(f, f->bar1 + VIRTIO_PCI_MSIX_PBA, 8), 2);
	assert_int_equal(vpci_irq_count(f, gsi), 0);
	/* Unmasked: it arrives, once. */
	vpci_mmio_wr(f, f->bar1 + 16 + 12, 0, 4);
	assert_int_equal(vpci_irq_count(f, gsi), 1);
	assert_int_equal(vpci_mmio_rd(f, f->bar1 + VIRTIO_PCI_MSIX_PBA, 8), 0);
	/* The config vector (routed once unmasked) saw nothing. */
	assert_int_equal(vpci_irq_count(f, vpci_msi_gsi(f, 0x40)), 0);
}

/* A fresh transport in the same slot, for a device built again (as a restore makes it). */
static void recreate(struct vpci_fx *f)
{
	struct virtio_pci_host host = { &f->mem, &f->bus, &f->iot, &f->irqt, 0 };
	struct evvm_virtio_dev *dev;

	virtio_pci_destroy(f->t);
	f->t = NULL;
	assert_int_equal(rng_create("rng0", &dev), 0);
	assert_int_equal(virtio_pci_create(&host, dev, PCI_MMIO_BASE, &f->t), 0);
}

/*
 * virtio_pci_save() of a paused device loaded into a fresh transport
 * (virtio_pci_restore): the BAR the driver moved decodes there with its
 * doorbell, the vectors and the MSI-X table are back, the interrupt held
 * pending while masked fires once on unmask, and the queue goes on from
 * where it was. A state whose read-only configuration bytes are another
 * device's is refused, and nothing is loaded.
 */
static void test_save_restore(void **state)
{
	struct vpci_fx *f = *state;
	struct virtio_pci_state *st = calloc(1, sizeof(*st)), *bad = calloc(1, sizeof(*bad));
	uint32_t moved = PCI_MMIO_BASE + 0x100000;
	uint16_t idx;
	uint32_t gsi;

	up_with_msix(f);
	vpci_cfg_wr(f, PCI_BAR0, moved, 4);
	f->bar0 = moved;
	vpci_mmio_wr(f, f->bar1 + 16 + 12, 1, 4); /* vector 1 masked */
	idx = post(f);
	assert_true(vpci_mmio_wr(f, doorbell(f), 0, 2));
	wait_used(f, idx);
	wait_pending(f, 2);
	assert_int_equal(virtio_pci_quiesce(f->t, true), 0);
	virtio_pci_save(f->t, st);
	assert_int_equal(st->msix_pending, 2);

	*bad = *st;
	bad->cfg[PCI_DEVICE_ID] ^= 1;
	recreate(f);
	assert_int_equal(virtio_pci_restore(f->t, bad, "bad.state"), -EINVAL);
	assert_int_equal(vpci_cfg_rd(f, PCI_BAR0, 4) & ~0xfu, PCI_MMIO_BASE);

	recreate(f);
	assert_int_equal(virtio_pci_restore(f->t, st, "test.state"), 0);
	assert_int_equal(vpci_cfg_rd(f, PCI_BAR0, 4) & ~0xfu, moved);
	assert_int_equal(vpci_cc_rd(f, 0x14, 1) & VIRTIO_STATUS_DRIVER_OK, VIRTIO_STATUS_DRIVER_OK);
	vpci_cc_wr(f, 0x16, 0, 2);
	assert_int_equal(vpci_cc_rd(f, 0x1a, 2), 1);
	assert_int_equal(vpci_cc_rd(f, 0x1c, 2), 1);
	assert_int_equal(vpci_mmio_rd(f, f->bar1 + 16 + 8, 4), 0x41);
	assert_int_equal(vpci_mmio_rd(f, f->bar1 + VIRTIO_PCI_MSIX_PBA, 8), 2);
	vpci_mmio_wr(f, f->bar1 + 16 + 12, 0, 4);
	gsi = vpci_msi_gsi(f, 0x41);
	assert_int_equal(vpci_irq_count(f, gsi), 1);
	assert_int_equal(vpci_mmio_rd(f, f->bar1 + VIRTIO_PCI_MSIX_PBA, 8), 0);
	idx = post(f);
	assert_true(vpci_mmio_wr(f, doorbell(f), 0, 2));
	wait_used(f, idx);
	assert_int_equal(vpci_wait_irq(f, gsi), 1);
	free(bad);
	free(st);
}

static void test_intx_without_msix(void **state)
{
	struct vpci_fx *f = *state;
	uint32_t gsi = PCI_INTX_GSI_BASE + SLOT % PCI_INTX_GSIS;
	uint16_t idx;

	probe(f);
	assert_int_equal(vpci_cfg_rd(f, PCI_INT_PIN, 1), 1);
	negotiate(f);
	queue_up(f);
	vpci_driver_ok(f);
	idx = post(f);
	assert_true(vpci_mmio_wr(f, doorbell(f), 0, 2));
	wait_used(f, idx);
	assert_int_equal(vpci_wait_irq(f, gsi), 1);
	/* The ISR says why, and reading it clears it. */
	assert_int_equal(vpci_mmio_rd(f, f->bar0 + vpci_cfg_rd(f, f->cap[3] + 8, 4), 1),
			 VIRTIO_INT_VRING);
	assert_int_equal(vpci_mmio_rd(f, f->bar0 + vpci_cfg_rd(f, f->cap[3] + 8, 4), 1), 0);
	assert_int_equal(f->irqt.nr_msi, 0);
}

static void test_doorbell_follows_bar(void **state)
{
	struct vpci_fx *f = *state;
	uint64_t old;
	uint16_t idx;

	probe(f);
	negotiate(f);
	queue_up(f);
	vpci_driver_ok(f);
	old = doorbell(f);
	vpci_cfg_wr(f, PCI_BAR0, PCI_MMIO_BASE + 0x100000, 4);
	f->bar0 = PCI_MMIO_BASE + 0x100000;
	assert_int_equal(doorbell(f), old + 0x100000);
	assert_false(vpci_mmio_wr(f, old, 0, 2)); /* nothing there any more */
	idx = post(f);
	assert_true(vpci_mmio_wr(f, doorbell(f), 0, 2));
	wait_used(f, idx);

	/* Decoding off: no doorbell at all; back on: it returns. */
	vpci_cfg_wr(f, PCI_COMMAND, 0, 2);
	assert_false(vpci_mmio_wr(f, doorbell(f), 0, 2));
	vpci_cfg_wr(f, PCI_COMMAND, PCI_COMMAND_MEM, 2);
	idx = post(f);
	assert_true(vpci_mmio_wr(f, doorbell(f), 0, 2));
	wait_used(f, idx);
}

static void test_pci_cfg_window(void **state)
{
	struct vpci_fx *f = *state;
	unsigned int c;
	uint16_t idx;

	probe(f);
	c = f->cap[5];
	/* BAR0 + num_queues (16 bits) through configuration space. */
	vpci_cfg_wr(f, c + 4, 0, 1);
	vpci_cfg_wr(f, c + 8, 0x12, 4);
	vpci_cfg_wr(f, c + 12, 2, 4);
	assert_int_equal(vpci_cfg_rd(f, c + 16, 4) & 0xffff, 1);
	/* A kick through the window, when there is no ioeventfd to take it. */
	negotiate(f);
	queue_up(f);
	vpci_driver_ok(f);
	idx = post(f);
	vpci_cfg_wr(f, c + 8, vpci_cfg_rd(f, f->cap[2] + 8, 4), 4);
	vpci_cfg_wr(f, c + 16, 0, 4);
	wait_used(f, idx);
	/* Nonsense windows do nothing: length 3, past the BAR, BAR 5. */
	vpci_cfg_wr(f, c + 12, 3, 4);
	assert_int_equal(vpci_cfg_rd(f, c + 16, 4), 0);
	vpci_cfg_wr(f, c + 12, 4, 4);
	vpci_cfg_wr(f, c + 8, VIRTIO_PCI_BAR0_SIZE, 4);
	vpci_cfg_wr(f, c + 16, 0xffffffff, 4);
	vpci_cfg_wr(f, c + 4, 5, 1);
	vpci_cfg_wr(f, c + 8, 0, 4);
	vpci_cfg_wr(f, c + 16, 0xffffffff, 4);
	assert_false(vpci_cc_rd(f, 0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

static void test_hostile_driver(void **state)
{
	struct vpci_fx *f = *state;
	static const unsigned int lens[] = { 1, 2, 4, 8 };

	probe(f);
	negotiate(f);
	msix_on(f);
	/* Vectors past the table read back as NO_VECTOR. */
	vpci_cc_wr(f, 0x10, 2, 2);
	assert_int_equal(vpci_cc_rd(f, 0x10, 2), MSIX_NO_VECTOR);
	vpci_cc_wr(f, 0x16, 0, 2);
	vpci_cc_wr(f, 0x1a, 0x7fff, 2);
	assert_int_equal(vpci_cc_rd(f, 0x1a, 2), MSIX_NO_VECTOR);
	/* A queue that does not exist: reads as absent, takes nothing. */
	vpci_cc_wr(f, 0x16, 5, 2);
	assert_int_equal(vpci_cc_rd(f, 0x18, 2), 0);
	assert_int_equal(vpci_cc_rd(f, 0x1a, 2), MSIX_NO_VECTOR);
	vpci_cc_wr(f, 0x1c, 1, 2);
	assert_int_equal(vpci_cc_rd(f, 0x1c, 2), 0);
	/* Accesses no field covers, of every size, all over BAR0 and BAR1. */
	for (unsigned int i = 0; i < 4; i++) {
		for (uint64_t off = 0; off < VIRTIO_PCI_BAR0_SIZE; off += 0x1f3) {
			vpci_mmio_rd(f, f->bar0 + off, lens[i]);
			if (off >= 0x40 && (off < 0x3000 || off >= 0x3004))
				vpci_mmio_wr(f, f->bar0 + off, ~0ULL, lens[i]);
		}
		assert_int_equal(vpci_mmio_rd(f, f->bar0 + 0x13, lens[i]), 0);
		/* Past the table and the PBA; past the table. */
		assert_int_equal(vpci_mmio_rd(f, f->bar1 + 0x900, lens[i]), 0);
		vpci_mmio_wr(f, f->bar1 + 0x20, ~0ULL, lens[i]);
	}
	/* A 64-bit field takes aligned halves only. */
	vpci_cc_wr(f, 0x16, 0, 2);
	vpci_cc_wr(f, 0x20, 0x1000, 8);
	vpci_cc_wr(f, 0x22, 0xffffffff, 4);
	assert_int_equal(vpci_cc_rd(f, 0x20, 8), 0x1000);
	assert_int_equal(vpci_cc_rd(f, 0x22, 4), 0);
	/* Doorbells at offsets no queue owns: no ioeventfd, nothing kicked. */
	assert_false(vpci_mmio_wr(f, f->bar0 + 0x3004, 0, 2));
	assert_false(vpci_mmio_wr(f, f->bar0 + 0x3002, 0, 2));
	/* A queue larger than the device takes: NEEDS_RESET, told through the config vector. */
	vpci_cc_wr(f, 0x10, 0, 2);
	vpci_cc_wr(f, 0x16, 0, 2);
	vpci_cc_wr(f, 0x18, 1024, 2);
	vpci_cc_wr(f, 0x1c, 1, 2);
	assert_true(vpci_cc_rd(f, 0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal(vpci_cc_rd(f, 0x1c, 2), 0);
	/* The config vector fired for it. */
	assert_int_equal(vpci_wait_irq(f, vpci_msi_gsi(f, 0x40)), 1);
	/* Reset clears it all. */
	vpci_cc_wr(f, 0x14, 0, 1);
	assert_int_equal(vpci_cc_rd(f, 0x14, 1), 0);
	assert_int_equal(vpci_cc_rd(f, 0x10, 2), MSIX_NO_VECTOR);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_with_msix, setup, vpci_teardown),
		cmocka_unit_test_setup_teardown(test_intx_without_msix, setup, vpci_teardown),
		cmocka_unit_test_setup_teardown(test_save_restore, setup, vpci_teardown),
		cmocka_unit_test_setup_teardown(test_doorbell_follows_bar, setup, vpci_teardown),
		cmocka_unit_test_setup_teardown(test_pci_cfg_window, setup, vpci_teardown),
		cmocka_unit_test_setup_teardown(test_hostile_driver, setup, vpci_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
