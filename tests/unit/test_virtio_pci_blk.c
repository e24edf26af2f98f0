// SPDX-License-Identifier: MIT
/*
 * virtio-blk on virtio-pci, driven by tests/lib/vpci_driver.c: a 4-queue
 * disk (a doorbell and an MSI-X vector per queue, each request completed
 * on its own queue, --stats per queue), the same on 2 I/O threads
 * (iothreads=2: queue q on the clone of thread q % 2), and a vhost-user
 * disk whose backend (evvm's own, vhost/backend.c) signals each queue's
 * MSI-X vector eventfd itself, held in the PBA while masked, or reaches
 * INTx through evvm's relay when MSI-X is off.
 */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
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

#include "le.h"
#include "msix.h"
#include "vpci_driver.h"
#include "../../vhost/backend.h"
#include "../../vhost/frontend.h"

#define BLK_QUEUES 4

static int setup_blk(void **state)
{
	struct vpci_fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	return vpci_setup(state, f, vpci_make_blk(f, BLK_QUEUES));
}

/* The same disk, its queues on 2 I/O threads (dev->nr_iothreads). */
static int setup_blk_iothreads(void **state)
{
	struct vpci_fx *f = calloc(1, sizeof(*f));
	struct evvm_virtio_dev *dev;

	assert_non_null(f);
	dev = vpci_make_blk(f, BLK_QUEUES);
	dev->nr_iothreads = 2;
	return vpci_setup(state, f, dev);
}

#define VU_QUEUES 2

static uint64_t latency_samples(const uint64_t *hist)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < EVVM_KICK_LATENCY_BUCKETS; i++)
		n += hist[i];
	return n;
}

static void *backend_main(void *arg)
{
	vhost_backend_run(arg);
	return NULL;
}

/*
 * A vhost-user blk device of VU_QUEUES queues on the transport, its
 * backend evvm's own (vhost/backend.c, as `evvm vhost-user-blk` runs it).
 */
static int setup_vhost(void **state)
{
	struct vpci_fx *f = calloc(1, sizeof(*f));
	struct vhost_backend_config cfg = { 0 };
	struct vhost_user_opts o = { .queues = VU_QUEUES, .cancel_fd = -1 };
	struct evvm_virtio_dev *dev;

	assert_non_null(f);
	f->backend_dev = vpci_make_blk(f, VU_QUEUES);
	snprintf(f->sock, sizeof(f->sock), "%s.sock", f->disk);
	cfg.socket_path = f->sock;
	cfg.dev = f->backend_dev;
	assert_int_equal(vhost_backend_create(&cfg, &f->backend), 0);
	assert_int_equal(pthread_create(&f->backend_thread, NULL, backend_main, f->backend), 0);
	o.socket = f->sock;
	assert_int_equal(vhost_user_dev_create("blk0", VIRTIO_ID_BLOCK, &o, &dev), 0);
	return vpci_setup(state, f, dev);
}

/* Each of 4 queues: its own doorbell, its request on its ring, its own MSI-X vector. */
static void test_blk_multiqueue(void **state)
{
	struct vpci_fx *f = *state;
	struct virtio_mmio_stats st;
	uint32_t gsi[BLK_QUEUES];

	vpci_find_caps(f);
	assert_int_equal(vpci_cfg_rd(f, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_BLOCK);
	assert_int_equal(vpci_cfg_rd(f, f->msix + 2, 2) & 0x7ff, BLK_QUEUES); /* config + 4 */
	assert_int_equal(vpci_cfg_rd(f, f->cap[2] + 12, 4), BLK_QUEUES * 4);  /* notify length */
	vpci_blk_negotiate(f, BLK_QUEUES);
	vpci_msix_on(f, BLK_QUEUES + 1);
	for (unsigned int q = 0; q < BLK_QUEUES; q++)
		vpci_blk_queue_up(f, q);
	vpci_driver_ok(f);
	/* Backwards, so that no queue's request can ride on another's kick. */
	for (unsigned int q = BLK_QUEUES; q-- > 0;) {
		vpci_blk_get_id(f, q);
		gsi[q] = vpci_msi_gsi(f, 0x41 + q);
		assert_true(gsi[q] >= IRQFD_PINS);
		assert_int_equal(vpci_wait_irq(f, gsi[q]), 1);
		for (unsigned int o = 0; o < BLK_QUEUES; o++)
			if (o > q) /* routed already: nothing more */
				assert_int_equal(vpci_irq_count(f, gsi[o]), 0);
		/* The rings of the queues not kicked yet are untouched. */
		for (unsigned int o = 0; o < q; o++)
			assert_int_equal(get_le16(f->ram + BQ_BASE(o) + 0x2000 + 2), 0);
	}
	assert_int_equal(vpci_irq_count(f, vpci_msi_gsi(f, 0x40)), 0); /* no config interrupt */
	/* --stats: one kick and one interrupt on every queue. */
	virtio_pci_get_stats(f->t, &st);
	assert_true(st.kicks_seen);
	assert_int_equal(st.nr_queues, BLK_QUEUES);
	assert_int_equal(st.config_interrupts, 0);
	for (unsigned int q = 0; q < BLK_QUEUES; q++) {
		assert_int_equal(st.q[q].kicks, 1);
		assert_int_equal(st.q[q].kick_wakeups, 1);
		assert_int_equal(st.q[q].interrupts, 1);
		/* The interrupt answered the kick: one kick-to-interrupt sample. */
		assert_int_equal(latency_samples(st.q[q].kick_to_interrupt), 1);
	}
	/* Reset: every queue disabled. */
	vpci_cc_wr(f, 0x14, 0, 1);
	for (unsigned int q = 0; q < BLK_QUEUES; q++) {
		vpci_cc_wr(f, 0x16, q, 2);
		assert_int_equal(vpci_cc_rd(f, 0x1c, 2), 0);
		assert_int_equal(vpci_cc_rd(f, 0x1a, 2), MSIX_NO_VECTOR);
	}
}

static uint64_t counter(const struct evvm_dev_counter *c, unsigned int n, const char *name)
{
	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return c[i].value;
	fail_msg("no counter %s", name);
	return 0;
}

/* Whether this process has a thread called @name. */
static bool thread_named(const char *name)
{
	DIR *d = opendir("/proc/self/task");
	char path[300], comm[32];
	struct dirent *e;
	bool found = false;

	assert_non_null(d);
	while (!found && (e = readdir(d))) {
		FILE *fp;

		snprintf(path, sizeof(path), "/proc/self/task/%s/comm", e->d_name);
		fp = fopen(path, "r");
		if (!fp)
			continue;
		found = fgets(comm, sizeof(comm), fp) && !strncmp(comm, name, strlen(name)) &&
			comm[strlen(name)] == '\n';
		fclose(fp);
	}
	closedir(d);
	return found;
}

/*
 * iothreads=2: queues 0 and 2 on the device's thread, 1 and 3 on a second
 * thread's clone; every queue's request completes with its own vector,
 * the counters add up over both instances, pause and resume reach both.
 */
static void test_blk_iothreads(void **state)
{
	struct vpci_fx *f = *state;
	struct evvm_dev_counter c[EVVM_DEV_MAX_COUNTERS];
	struct evvm_virtio_dev *dev = virtio_pci_dev(f->t);
	unsigned int n;

	vpci_find_caps(f);
	vpci_blk_negotiate(f, BLK_QUEUES);
	vpci_msix_on(f, BLK_QUEUES + 1);
	for (unsigned int q = 0; q < BLK_QUEUES; q++)
		vpci_blk_queue_up(f, q);
	vpci_driver_ok(f);
	for (unsigned int q = 0; q < BLK_QUEUES; q++) {
		vpci_blk_get_id(f, q);
		assert_int_equal(vpci_wait_irq(f, vpci_msi_gsi(f, 0x41 + q)), 1);
	}
	/* (named before its loop ran, which the start above needed) */
	assert_true(thread_named("blk0-io1"));
	/* The device's own instance served queues 0 and 2 only. */
	n = dev->ops->counters(dev, c, EVVM_DEV_MAX_COUNTERS);
	assert_int_equal(counter(c, n, "q0_requests"), 1);
	assert_int_equal(counter(c, n, "q1_requests"), 0);
	assert_int_equal(counter(c, n, "q2_requests"), 1);
	assert_int_equal(counter(c, n, "q3_requests"), 0);
	n = virtio_pci_counters(f->t, c, EVVM_DEV_MAX_COUNTERS);
	for (unsigned int q = 0; q < BLK_QUEUES; q++) {
		char name[16];

		snprintf(name, sizeof(name), "q%u_requests", q);
		assert_int_equal(counter(c, n, name), 1);
	}
	/* Paused and resumed (each thread's instance in turn): both serve on. */
	assert_int_equal(virtio_pci_quiesce(f->t, true), 0);
	assert_int_equal(virtio_pci_quiesce(f->t, false), 0);
	vpci_blk_get_id(f, 3);
	vpci_blk_get_id(f, 0);
	n = virtio_pci_counters(f->t, c, EVVM_DEV_MAX_COUNTERS);
	assert_int_equal(counter(c, n, "q3_requests"), 2);
	assert_int_equal(counter(c, n, "q0_requests"), 2);
	/* Reset stops both; up again, both serve. */
	vpci_cc_wr(f, 0x14, 0, 1);
	memset(f->ram + BQ_BASE(0), 0, BLK_QUEUES * 0x4000);
	vpci_blk_negotiate(f, BLK_QUEUES);
	for (unsigned int q = 0; q < BLK_QUEUES; q++)
		vpci_blk_queue_up(f, q);
	vpci_driver_ok(f);
	vpci_blk_get_id(f, 1);
	vpci_blk_get_id(f, 2);
}

/*
 * A device another process serves (vhost-user, evvm's own blk backend):
 * the backend reads each queue's doorbell eventfd and writes each queue's
 * MSI-X vector eventfd itself. A masked vector holds what it wrote in the
 * PBA and delivers it once on unmask.
 */
static void test_vhost_user_msix(void **state)
{
	struct vpci_fx *f = *state;
	uint32_t gsi[VU_QUEUES];

	vpci_find_caps(f);
	assert_int_equal(vpci_cfg_rd(f, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_BLOCK);
	assert_int_equal(vpci_cfg_rd(f, f->msix + 2, 2) & 0x7ff, VU_QUEUES);
	vpci_blk_negotiate(f, VU_QUEUES);
	vpci_msix_on(f, VU_QUEUES + 1);
	for (unsigned int q = 0; q < VU_QUEUES; q++)
		vpci_blk_queue_up(f, q);
	vpci_driver_ok(f);
	for (unsigned int q = VU_QUEUES; q-- > 0;) {
		vpci_blk_get_id(f, q);
		gsi[q] = vpci_msi_gsi(f, 0x41 + q);
		assert_true(gsi[q] >= IRQFD_PINS);
		assert_int_equal(vpci_wait_irq(f, gsi[q]), 1);
	}
	/* Queue 0's vector masked: the backend's interrupt waits in the PBA. */
	vpci_mmio_wr(f, f->bar1 + 16 + 12, 1, 4);
	vpci_blk_get_id(f, 0);
	for (int i = 0; i < 2000 && !(vpci_mmio_rd(f, f->bar1 + VIRTIO_PCI_MSIX_PBA, 8) & 2); i++)
		usleep(1000);
	assert_int_equal(vpci_mmio_rd(f, f->bar1 + VIRTIO_PCI_MSIX_PBA, 8), 2);
	assert_int_equal(vpci_irq_count(f, gsi[0]), 0);
	/* Queue 1 is not held up by it. */
	vpci_blk_get_id(f, 1);
	assert_int_equal(vpci_wait_irq(f, gsi[1]), 1);
	/* Unmasked: delivered, once. */
	vpci_mmio_wr(f, f->bar1 + 16 + 12, 0, 4);
	assert_int_equal(vpci_irq_count(f, gsi[0]), 1);
	assert_int_equal(vpci_mmio_rd(f, f->bar1 + VIRTIO_PCI_MSIX_PBA, 8), 0);
	/* A vector change after DRIVER_OK is refused: the backend holds the old fd. */
	vpci_cc_wr(f, 0x16, 0, 2);
	vpci_cc_wr(f, 0x1a, 2, 2);
	assert_int_equal(vpci_cc_rd(f, 0x1a, 2), 1);
	/* Reset, and up again with the vectors swapped: the backend gets the new fds. */
	vpci_cc_wr(f, 0x14, 0, 1);
	memset(f->ram + BQ_BASE(0), 0, 2 * 0x4000);
	vpci_blk_negotiate(f, VU_QUEUES);
	for (unsigned int q = 0; q < VU_QUEUES; q++) {
		vpci_blk_queue_up(f, q);
		vpci_cc_wr(f, 0x1a, VU_QUEUES - q, 2);
	}
	vpci_driver_ok(f);
	vpci_blk_get_id(f, 0);
	assert_int_equal(vpci_wait_irq(f, gsi[1]), 1);
	assert_int_equal(vpci_irq_count(f, gsi[0]), 0);
}

/* MSI-X off: the backend's interrupts come through evvm's relay, as INTx with the ISR. */
static void test_vhost_user_intx(void **state)
{
	struct vpci_fx *f = *state;
	uint32_t gsi = PCI_INTX_GSI_BASE + SLOT % PCI_INTX_GSIS;
	struct virtio_mmio_stats st;
	uint64_t isr;

	vpci_find_caps(f);
	vpci_blk_negotiate(f, VU_QUEUES);
	for (unsigned int q = 0; q < VU_QUEUES; q++)
		vpci_blk_queue_up(f, q);
	vpci_driver_ok(f);
	for (unsigned int q = 0; q < VU_QUEUES; q++) {
		vpci_blk_get_id(f, q);
		assert_int_equal(vpci_wait_irq(f, gsi), 1);
		isr = vpci_mmio_rd(f, f->bar0 + vpci_cfg_rd(f, f->cap[3] + 8, 4), 1);
		assert_int_equal(isr, VIRTIO_INT_VRING);
	}
	assert_int_equal(f->irqt.nr_msi, 0);
	/* The backend read the kicks; the relayed interrupts were counted. */
	virtio_pci_get_stats(f->t, &st);
	assert_false(st.kicks_seen);
	for (unsigned int q = 0; q < VU_QUEUES; q++) {
		assert_int_equal(st.q[q].kicks, 0);
		assert_int_equal(st.q[q].interrupts, 1);
		/* No kick read here started a clock: no sample for the relayed interrupt. */
		assert_int_equal(latency_samples(st.q[q].kick_to_interrupt), 0);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_blk_multiqueue, setup_blk, vpci_teardown),
		cmocka_unit_test_setup_teardown(test_blk_iothreads, setup_blk_iothreads,
						vpci_teardown),
		cmocka_unit_test_setup_teardown(test_vhost_user_msix, setup_vhost, vpci_teardown),
		cmocka_unit_test_setup_teardown(test_vhost_user_intx, setup_vhost, vpci_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
