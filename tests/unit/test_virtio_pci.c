// SPDX-License-Identifier: MIT
/*
 * virtio-pci (vmm/virtio_pci.c) driven by a driver written here, through
 * the same io buses, ioeventfd matching and irqfd table a VM uses (no KVM:
 * the ioeventfd table matches doorbells in userspace, as --ioeventfd=user
 * does, and the irqfd table records routes without injecting). The device
 * is virtio-rng on its own I/O thread. What a driver sees: the
 * capabilities, feature negotiation, a request completed with its MSI-X
 * vector fired or held pending while masked, INTx with the ISR when MSI-X
 * is off, doorbells that follow a moved BAR, the PCI-config access window;
 * and what a hostile one gets: NO_VECTOR for vectors past the table,
 * nothing for doorbells no queue owns or accesses no field covers, and
 * NEEDS_RESET for a bad queue. A 4-queue virtio-blk: a doorbell and an
 * MSI-X vector per queue, each request completed on its own queue.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/devices.h>
#include <evvm/log.h>
#include <evvm/virtio.h>
#include <evvm/virtqueue.h>

#include "ioeventfd.h"
#include "irqfd.h"
#include "le.h"
#include "msix.h"
#include "pci.h"
#include "virtio_pci.h"
#include "../../vhost/backend.h"
#include "../../vhost/frontend.h"

#define RAM_SIZE  (1u << 20)
#define SLOT	  1
#define DESC_GPA  0x1000
#define AVAIL_GPA 0x2000
#define USED_GPA  0x3000
#define BUF_GPA	  0x10000
#define QSIZE	  8

struct fixture {
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
static uint32_t cfg_rd(struct fixture *f, uint32_t reg, unsigned int len)
{
	uint32_t v = 0;

	assert_true(iobus_read(&f->mmio, PCI_ECAM_BASE + (SLOT << 15) + reg, &v, len));
	return v;
}

static void cfg_wr(struct fixture *f, uint32_t reg, uint32_t v, unsigned int len)
{
	assert_true(iobus_write(&f->mmio, PCI_ECAM_BASE + (SLOT << 15) + reg, &v, len));
}

/* An MMIO write as vcpu.c makes it: ioeventfds first. True if one took it. */
static bool mmio_wr(struct fixture *f, uint64_t addr, uint64_t v, unsigned int len)
{
	if (ioeventfd_user_write(&f->iot, IOEVENTFD_MMIO, addr, &v, len))
		return true;
	iobus_write(&f->mmio, addr, &v, len);
	return false;
}

static uint64_t mmio_rd(struct fixture *f, uint64_t addr, unsigned int len)
{
	uint64_t v = 0;

	iobus_read(&f->mmio, addr, &v, len);
	return v;
}

static void cc_wr(struct fixture *f, uint32_t off, uint64_t v, unsigned int len)
{
	mmio_wr(f, f->bar0 + cfg_rd(f, f->cap[1] + 8, 4) + off, v, len);
}

static uint64_t cc_rd(struct fixture *f, uint32_t off, unsigned int len)
{
	return mmio_rd(f, f->bar0 + cfg_rd(f, f->cap[1] + 8, 4) + off, len);
}

/* The bus and tables, and the function @dev (NULL: virtio-rng) at slot 1. */
static int setup_dev(void **state, struct fixture *f, struct evvm_virtio_dev *dev)
{
	struct evvm_mem_region r = { .gpa = 0, .size = RAM_SIZE };
	struct virtio_pci_host host;

	evvm_log_set_level(EVVM_LOG_ERR); /* the hostile cases warn */
	assert_non_null(f);
	/* In a memfd, as a VM's: a vhost-user backend maps it too. */
	f->memfd = mem_memfd_create("vpci-test-ram", RAM_SIZE);
	assert_true(f->memfd >= 0);
	f->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, f->memfd, 0);
	assert_true(f->ram != MAP_FAILED);
	r.hva = f->ram;
	r.fd = f->memfd;
	mem_init(&f->mem);
	assert_int_equal(mem_add_region(&f->mem, &r), 0);
	assert_int_equal(iobus_init(&f->pio, "pio"), 0);
	assert_int_equal(iobus_init(&f->mmio, "mmio"), 0);
	assert_int_equal(pci_bus_init(&f->bus, &f->pio, &f->mmio), 0);
	assert_int_equal(ioeventfd_table_init(&f->iot, -1, true), 0);
	assert_int_equal(irqfd_table_init(&f->irqt, -1, false), 0);
	host = (struct virtio_pci_host){ &f->mem, &f->bus, &f->iot, &f->irqt, 0 };
	if (!dev)
		assert_int_equal(rng_create("rng0", &dev), 0);
	assert_int_equal(virtio_pci_create(&host, dev, PCI_MMIO_BASE, &f->t), 0);
	*state = f;
	return 0;
}

static int setup(void **state)
{
	return setup_dev(state, calloc(1, sizeof(struct fixture)), NULL);
}

#define BLK_QUEUES 4

/* virtio-blk with @queues queues on a 1 MiB file. */
static struct evvm_virtio_dev *make_blk(struct fixture *f, unsigned int queues)
{
	struct blk_config cfg = { .queues = queues };
	struct evvm_virtio_dev *dev;
	int fd;

	snprintf(f->disk, sizeof(f->disk), "/tmp/evvm-vpci-XXXXXX");
	fd = mkstemp(f->disk);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 1 << 20), 0);
	close(fd);
	cfg.path = f->disk;
	assert_int_equal(blk_create("blk0", &cfg, &dev), 0);
	return dev;
}

static int setup_blk(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	return setup_dev(state, f, make_blk(f, BLK_QUEUES));
}

#define VU_QUEUES 2

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
	struct fixture *f = calloc(1, sizeof(*f));
	struct vhost_backend_config cfg = { 0 };
	struct vhost_user_opts o = { .queues = VU_QUEUES, .cancel_fd = -1 };
	struct evvm_virtio_dev *dev;

	assert_non_null(f);
	f->backend_dev = make_blk(f, VU_QUEUES);
	snprintf(f->sock, sizeof(f->sock), "%s.sock", f->disk);
	cfg.socket_path = f->sock;
	cfg.dev = f->backend_dev;
	assert_int_equal(vhost_backend_create(&cfg, &f->backend), 0);
	assert_int_equal(pthread_create(&f->backend_thread, NULL, backend_main, f->backend), 0);
	o.socket = f->sock;
	assert_int_equal(vhost_user_dev_create("blk0", VIRTIO_ID_BLOCK, &o, &dev), 0);
	return setup_dev(state, f, dev);
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	virtio_pci_destroy(f->t);
	irqfd_table_destroy(&f->irqt);
	ioeventfd_table_destroy(&f->iot);
	pci_bus_destroy(&f->bus);
	iobus_destroy(&f->mmio);
	iobus_destroy(&f->pio);
	munmap(f->ram, RAM_SIZE);
	close(f->memfd);
	if (f->backend) {
		vhost_backend_stop(f->backend);
		pthread_join(f->backend_thread, NULL);
		vhost_backend_destroy(f->backend);
		virtio_dev_destroy(f->backend_dev);
		unlink(f->sock);
	}
	if (f->disk[0])
		unlink(f->disk);
	free(f);
	return 0;
}

/* What a driver does first: find the function's capabilities, turn on decoding. */
static void find_caps(struct fixture *f)
{
	for (uint32_t c = cfg_rd(f, PCI_CAP_PTR, 1); c; c = cfg_rd(f, c + 1, 1)) {
		uint8_t id = (uint8_t)cfg_rd(f, c, 1);

		if (id == 0x09) {
			uint8_t type = (uint8_t)cfg_rd(f, c + 3, 1);

			assert_true(type >= 1 && type <= 5);
			f->cap[type] = c;
		} else if (id == MSIX_CAP_ID) {
			f->msix = c;
		}
	}
	f->bar0 = cfg_rd(f, PCI_BAR0, 4) & ~0xfu;
	f->bar1 = cfg_rd(f, PCI_BAR0 + 4, 4) & ~0xfu;
	assert_int_equal(f->bar0, PCI_MMIO_BASE);
	cfg_wr(f, PCI_COMMAND, PCI_COMMAND_MEM | PCI_COMMAND_MASTER, 2);
}

static void probe(struct fixture *f)
{
	assert_int_equal(cfg_rd(f, PCI_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(cfg_rd(f, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_RNG);
	assert_true(cfg_rd(f, PCI_REVISION, 1) >= 1);
	assert_true(cfg_rd(f, PCI_SUBSYS_ID, 2) >= 0x40);
	assert_true(cfg_rd(f, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	find_caps(f);
	for (unsigned int i = 1; i <= 5; i++)
		if (i != 4) /* rng has no device config */
			assert_int_not_equal(f->cap[i], 0);
	assert_int_equal(f->cap[4], 0);
	assert_int_not_equal(f->msix, 0);
	assert_int_equal(cfg_rd(f, f->cap[2] + 16, 4), 4);	/* notify_off_multiplier */
	assert_int_equal(cfg_rd(f, f->msix + 2, 2) & 0x7ff, 1); /* 2 vectors: config + 1 queue */
}

static void negotiate(struct fixture *f)
{
	uint64_t feats;

	cc_wr(f, 0x14, 0, 1);
	cc_wr(f, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	cc_wr(f, 0x00, 1, 4);
	feats = cc_rd(f, 0x04, 4) << 32;
	cc_wr(f, 0x00, 0, 4);
	feats |= cc_rd(f, 0x04, 4);
	assert_true(feats & VIRTIO_BIT(VIRTIO_F_VERSION_1));
	cc_wr(f, 0x08, 1, 4);
	cc_wr(f, 0x0c, 1, 4); /* VERSION_1 */
	cc_wr(f, 0x08, 0, 4);
	cc_wr(f, 0x0c, 0, 4);
	cc_wr(f, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK,
	      1);
	assert_true(cc_rd(f, 0x14, 1) & VIRTIO_STATUS_FEATURES_OK);
}

/* MSI-X on, vector v's message data 0x40 + v, the config vector 0. */
static void msix_on_n(struct fixture *f, unsigned int nr)
{
	cfg_wr(f, f->msix + 2, 0x8000, 2);
	for (unsigned int v = 0; v < nr; v++) {
		mmio_wr(f, f->bar1 + v * 16, 0xfee00000, 4);
		mmio_wr(f, f->bar1 + v * 16 + 4, 0, 4);
		mmio_wr(f, f->bar1 + v * 16 + 8, 0x40 + v, 4);
		mmio_wr(f, f->bar1 + v * 16 + 12, 0, 4);
	}
	cc_wr(f, 0x10, 0, 2);
	assert_int_equal(cc_rd(f, 0x10, 2), 0);
}

static void msix_on(struct fixture *f)
{
	msix_on_n(f, 2);
}

static void queue_up(struct fixture *f)
{
	cc_wr(f, 0x16, 0, 2);
	assert_int_equal(cc_rd(f, 0x18, 2), 256); /* rng's queue_max */
	cc_wr(f, 0x18, QSIZE, 2);
	cc_wr(f, 0x20, DESC_GPA, 4); /* the 64-bit fields in halves, as Linux writes them */
	cc_wr(f, 0x24, 0, 4);
	cc_wr(f, 0x28, AVAIL_GPA, 8);
	cc_wr(f, 0x30, USED_GPA, 8);
	assert_int_equal(cc_rd(f, 0x28, 8), AVAIL_GPA);
	cc_wr(f, 0x1c, 1, 2);
	assert_int_equal(cc_rd(f, 0x1c, 2), 1);
}

static void driver_ok(struct fixture *f)
{
	cc_wr(f, 0x14,
	      VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
		      VIRTIO_STATUS_DRIVER_OK,
	      1);
	assert_false(cc_rd(f, 0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

/* Queue q's doorbell, from the notify capability and queue_notify_off. */
static uint64_t doorbell(struct fixture *f)
{
	cc_wr(f, 0x16, 0, 2);
	return f->bar0 + cfg_rd(f, f->cap[2] + 8, 4) +
	       cc_rd(f, 0x1e, 2) * cfg_rd(f, f->cap[2] + 16, 4);
}

/* Make one 64-byte device-writable buffer available; returns the used index to wait for. */
static uint16_t post(struct fixture *f)
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

static void wait_used(struct fixture *f, uint16_t idx)
{
	for (int i = 0; i < 2000; i++) {
		if (__atomic_load_n((uint16_t *)(f->ram + USED_GPA + 2), __ATOMIC_ACQUIRE) == idx)
			return;
		usleep(1000);
	}
	fail_msg("used index never reached %u", idx);
}

/* The eventfd bound to @gsi's irqfd: how often it was signalled since the last look. */
static uint64_t irq_count(struct fixture *f, uint32_t gsi)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < f->irqt.nr; i++)
		if (f->irqt.entries[i]->gsi == gsi)
			if (read(f->irqt.entries[i]->fd, &n, sizeof(n)) != sizeof(n))
				n = 0;
	return n;
}

static uint32_t msi_gsi(struct fixture *f, uint32_t data)
{
	for (unsigned int i = 0; i < f->irqt.nr_msi; i++)
		if (f->irqt.msi[i].data == data && f->irqt.msi[i].addr == 0xfee00000)
			return f->irqt.msi[i].gsi;
	return 0;
}

static uint64_t wait_irq(struct fixture *f, uint32_t gsi)
{
	uint64_t n = 0;

	for (int i = 0; i < 2000 && !n; i++) {
		n = irq_count(f, gsi);
		if (!n)
			usleep(1000);
	}
	return n;
}

static void test_request_with_msix(void **state)
{
	struct fixture *f = *state;
	static const uint8_t zero[64];
	uint16_t idx;
	uint32_t gsi;

	probe(f);
	negotiate(f);
	msix_on(f);
	queue_up(f);
	cc_wr(f, 0x1a, 1, 2);
	assert_int_equal(cc_rd(f, 0x1a, 2), 1);
	driver_ok(f);

	idx = post(f);
	/* The doorbell is a length-0 ioeventfd: any write there is taken. */
	assert_true(mmio_wr(f, doorbell(f), 0, 2));
	wait_used(f, idx);
	assert_int_equal(get_le32(f->ram + USED_GPA + 4 + 4), 64);
	assert_memory_not_equal(f->ram + BUF_GPA, zero, 64);
	gsi = msi_gsi(f, 0x41);
	assert_true(gsi >= IRQFD_PINS);
	assert_int_equal(wait_irq(f, gsi), 1);

	/* Masked: the request completes, the interrupt waits in the PBA. */
	mmio_wr(f, f->bar1 + 16 + 12, 1, 4);
	idx = post(f);
	assert_true(mmio_wr(f, doorbell(f), 0, 4));
	wait_used(f, idx);
	for (int i = 0; i < 1000 && !(mmio_rd(f, f->bar1 + VIRTIO_PCI_MSIX_PBA, 8) & 2); i++)
		usleep(1000);
	assert_int_equal(mmio_rd(f, f->bar1 + VIRTIO_PCI_MSIX_PBA, 8), 2);
	assert_int_equal(irq_count(f, gsi), 0);
	/* Unmasked: it arrives, once. */
	mmio_wr(f, f->bar1 + 16 + 12, 0, 4);
	assert_int_equal(irq_count(f, gsi), 1);
	assert_int_equal(mmio_rd(f, f->bar1 + VIRTIO_PCI_MSIX_PBA, 8), 0);
	/* The config vector (routed once unmasked) saw nothing. */
	assert_int_equal(irq_count(f, msi_gsi(f, 0x40)), 0);
}

static void test_intx_without_msix(void **state)
{
	struct fixture *f = *state;
	uint32_t gsi = PCI_INTX_GSI_BASE + SLOT % PCI_INTX_GSIS;
	uint16_t idx;

	probe(f);
	assert_int_equal(cfg_rd(f, PCI_INT_PIN, 1), 1);
	negotiate(f);
	queue_up(f);
	driver_ok(f);
	idx = post(f);
	assert_true(mmio_wr(f, doorbell(f), 0, 2));
	wait_used(f, idx);
	assert_int_equal(wait_irq(f, gsi), 1);
	/* The ISR says why, and reading it clears it. */
	assert_int_equal(mmio_rd(f, f->bar0 + cfg_rd(f, f->cap[3] + 8, 4), 1), VIRTIO_INT_VRING);
	assert_int_equal(mmio_rd(f, f->bar0 + cfg_rd(f, f->cap[3] + 8, 4), 1), 0);
	assert_int_equal(f->irqt.nr_msi, 0);
}

static void test_doorbell_follows_bar(void **state)
{
	struct fixture *f = *state;
	uint64_t old;
	uint16_t idx;

	probe(f);
	negotiate(f);
	queue_up(f);
	driver_ok(f);
	old = doorbell(f);
	cfg_wr(f, PCI_BAR0, PCI_MMIO_BASE + 0x100000, 4);
	f->bar0 = PCI_MMIO_BASE + 0x100000;
	assert_int_equal(doorbell(f), old + 0x100000);
	assert_false(mmio_wr(f, old, 0, 2)); /* nothing there any more */
	idx = post(f);
	assert_true(mmio_wr(f, doorbell(f), 0, 2));
	wait_used(f, idx);

	/* Decoding off: no doorbell at all; back on: it returns. */
	cfg_wr(f, PCI_COMMAND, 0, 2);
	assert_false(mmio_wr(f, doorbell(f), 0, 2));
	cfg_wr(f, PCI_COMMAND, PCI_COMMAND_MEM, 2);
	idx = post(f);
	assert_true(mmio_wr(f, doorbell(f), 0, 2));
	wait_used(f, idx);
}

static void test_pci_cfg_window(void **state)
{
	struct fixture *f = *state;
	unsigned int c;
	uint16_t idx;

	probe(f);
	c = f->cap[5];
	/* BAR0 + num_queues (16 bits) through configuration space. */
	cfg_wr(f, c + 4, 0, 1);
	cfg_wr(f, c + 8, 0x12, 4);
	cfg_wr(f, c + 12, 2, 4);
	assert_int_equal(cfg_rd(f, c + 16, 4) & 0xffff, 1);
	/* A kick through the window, when there is no ioeventfd to take it. */
	negotiate(f);
	queue_up(f);
	driver_ok(f);
	idx = post(f);
	cfg_wr(f, c + 8, cfg_rd(f, f->cap[2] + 8, 4), 4);
	cfg_wr(f, c + 16, 0, 4);
	wait_used(f, idx);
	/* Nonsense windows do nothing: length 3, past the BAR, BAR 5. */
	cfg_wr(f, c + 12, 3, 4);
	assert_int_equal(cfg_rd(f, c + 16, 4), 0);
	cfg_wr(f, c + 12, 4, 4);
	cfg_wr(f, c + 8, VIRTIO_PCI_BAR0_SIZE, 4);
	cfg_wr(f, c + 16, 0xffffffff, 4);
	cfg_wr(f, c + 4, 5, 1);
	cfg_wr(f, c + 8, 0, 4);
	cfg_wr(f, c + 16, 0xffffffff, 4);
	assert_false(cc_rd(f, 0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

static void test_hostile_driver(void **state)
{
	struct fixture *f = *state;
	static const unsigned int lens[] = { 1, 2, 4, 8 };

	probe(f);
	negotiate(f);
	msix_on(f);
	/* Vectors past the table read back as NO_VECTOR. */
	cc_wr(f, 0x10, 2, 2);
	assert_int_equal(cc_rd(f, 0x10, 2), MSIX_NO_VECTOR);
	cc_wr(f, 0x16, 0, 2);
	cc_wr(f, 0x1a, 0x7fff, 2);
	assert_int_equal(cc_rd(f, 0x1a, 2), MSIX_NO_VECTOR);
	/* A queue that does not exist: reads as absent, takes nothing. */
	cc_wr(f, 0x16, 5, 2);
	assert_int_equal(cc_rd(f, 0x18, 2), 0);
	assert_int_equal(cc_rd(f, 0x1a, 2), MSIX_NO_VECTOR);
	cc_wr(f, 0x1c, 1, 2);
	assert_int_equal(cc_rd(f, 0x1c, 2), 0);
	/* Accesses no field covers, of every size, all over BAR0 and BAR1. */
	for (unsigned int i = 0; i < 4; i++) {
		for (uint64_t off = 0; off < VIRTIO_PCI_BAR0_SIZE; off += 0x1f3) {
			mmio_rd(f, f->bar0 + off, lens[i]);
			if (off >= 0x40 && (off < 0x3000 || off >= 0x3004))
				mmio_wr(f, f->bar0 + off, ~0ULL, lens[i]);
		}
		assert_int_equal(mmio_rd(f, f->bar0 + 0x13, lens[i]), 0);
		assert_int_equal(mmio_rd(f, f->bar1 + 0x900, lens[i]), 0); /* past table and PBA */
		mmio_wr(f, f->bar1 + 0x20, ~0ULL, lens[i]);		   /* past the table */
	}
	/* A 64-bit field takes aligned halves only. */
	cc_wr(f, 0x16, 0, 2);
	cc_wr(f, 0x20, 0x1000, 8);
	cc_wr(f, 0x22, 0xffffffff, 4);
	assert_int_equal(cc_rd(f, 0x20, 8), 0x1000);
	assert_int_equal(cc_rd(f, 0x22, 4), 0);
	/* Doorbells at offsets no queue owns: no ioeventfd, nothing kicked. */
	assert_false(mmio_wr(f, f->bar0 + 0x3004, 0, 2));
	assert_false(mmio_wr(f, f->bar0 + 0x3002, 0, 2));
	/* A queue larger than the device takes: NEEDS_RESET, told through the config vector. */
	cc_wr(f, 0x10, 0, 2);
	cc_wr(f, 0x16, 0, 2);
	cc_wr(f, 0x18, 1024, 2);
	cc_wr(f, 0x1c, 1, 2);
	assert_true(cc_rd(f, 0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
	assert_int_equal(cc_rd(f, 0x1c, 2), 0);
	/* The config vector fired for it. */
	assert_int_equal(wait_irq(f, msi_gsi(f, 0x40)), 1);
	/* Reset clears it all. */
	cc_wr(f, 0x14, 0, 1);
	assert_int_equal(cc_rd(f, 0x14, 1), 0);
	assert_int_equal(cc_rd(f, 0x10, 2), MSIX_NO_VECTOR);
}

/* Queue @q of the blk fixture: its rings and buffers, 16 KiB apart. */
#define BQ_BASE(q) (0x20000u + (q) * 0x4000u)

static void blk_queue_up(struct fixture *f, unsigned int q)
{
	cc_wr(f, 0x16, q, 2);
	assert_true(cc_rd(f, 0x18, 2) >= QSIZE);
	cc_wr(f, 0x18, QSIZE, 2);
	cc_wr(f, 0x20, BQ_BASE(q), 8);
	cc_wr(f, 0x28, BQ_BASE(q) + 0x1000, 8);
	cc_wr(f, 0x30, BQ_BASE(q) + 0x2000, 8);
	cc_wr(f, 0x1a, 1 + q, 2);
	assert_int_equal(cc_rd(f, 0x1a, 2), 1 + q);
	cc_wr(f, 0x1c, 1, 2);
	assert_int_equal(cc_rd(f, 0x1c, 2), 1);
}

/*
 * GET_ID on queue @q (header, 20-byte id, status), kicked at q's own
 * doorbell; returns once the device used it. Request n takes descriptors
 * 3n % QSIZE and on, its buffers at 0x3000 + 0x300 * (n % 2).
 */
static void blk_get_id(struct fixture *f, unsigned int q)
{
	uint8_t *base = f->ram + BQ_BASE(q), *desc = base, *avail = base + 0x1000;
	uint16_t n = get_le16(avail + 2);
	uint32_t bufs = BQ_BASE(q) + 0x3000 + 0x300 * (n % 2);
	uint8_t *buf = f->ram + bufs;
	unsigned int d0 = (3u * n) % QSIZE;
	uint64_t bell;

	memset(buf, 0xff, 0x300);
	put_le32(buf, VIRTIO_BLK_T_GET_ID);
	put_le32(buf + 4, 0);
	put_le64(buf + 8, 0);
	for (unsigned int i = 0; i < 3; i++) {
		static const uint32_t off[] = { 0, 0x100, 0x200 }, len[] = { 16, 20, 1 };
		uint8_t *d = desc + 16 * ((d0 + i) % QSIZE);

		put_le64(d, bufs + off[i]);
		put_le32(d + 8, len[i]);
		put_le16(d + 12, (i < 2 ? VRING_DESC_F_NEXT : 0) | (i ? VRING_DESC_F_WRITE : 0));
		put_le16(d + 14, (uint16_t)((d0 + i + 1) % QSIZE));
	}
	put_le16(avail + 4 + 2 * (n % QSIZE), (uint16_t)d0);
	__atomic_store_n((uint16_t *)(avail + 2), (uint16_t)(n + 1), __ATOMIC_RELEASE);
	cc_wr(f, 0x16, q, 2);
	bell = f->bar0 + cfg_rd(f, f->cap[2] + 8, 4) +
	       cc_rd(f, 0x1e, 2) * cfg_rd(f, f->cap[2] + 16, 4);
	assert_int_equal(bell, f->bar0 + VIRTIO_PCI_NOTIFY_OFF + 4 * q);
	assert_true(mmio_wr(f, bell, q, 2));
	for (int i = 0; i < 5000 && __atomic_load_n((uint16_t *)(base + 0x2000 + 2),
						    __ATOMIC_ACQUIRE) != (uint16_t)(n + 1); i++)
		usleep(1000);
	assert_int_equal(get_le16(base + 0x2000 + 2), (uint16_t)(n + 1));
	assert_int_equal(buf[0x200], 0); /* VIRTIO_BLK_S_OK */
	assert_memory_equal(buf + 0x100, "blk0", 5);
}

/* Features (MQ among them) and num_queues as a blk driver checks them, then FEATURES_OK. */
static void blk_negotiate(struct fixture *f, unsigned int queues)
{
	cc_wr(f, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	cc_wr(f, 0x00, 0, 4);
	assert_true(cc_rd(f, 0x04, 4) & VIRTIO_BIT(VIRTIO_BLK_F_MQ));
	assert_int_equal(cc_rd(f, 0x12, 2), queues); /* num_queues (common) */
	/* num_queues in the device config (offset 34). */
	assert_int_equal(mmio_rd(f, f->bar0 + cfg_rd(f, f->cap[4] + 8, 4) + 34, 2), queues);
	cc_wr(f, 0x08, 0, 4);
	cc_wr(f, 0x0c, VIRTIO_BIT(VIRTIO_BLK_F_MQ), 4);
	cc_wr(f, 0x08, 1, 4);
	cc_wr(f, 0x0c, 1, 4); /* VERSION_1 */
	cc_wr(f, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK,
	      1);
	assert_true(cc_rd(f, 0x14, 1) & VIRTIO_STATUS_FEATURES_OK);
}

/* Each of 4 queues: its own doorbell, its request on its ring, its own MSI-X vector. */
static void test_blk_multiqueue(void **state)
{
	struct fixture *f = *state;
	struct virtio_mmio_stats st;
	uint32_t gsi[BLK_QUEUES];

	find_caps(f);
	assert_int_equal(cfg_rd(f, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_BLOCK);
	assert_int_equal(cfg_rd(f, f->msix + 2, 2) & 0x7ff, BLK_QUEUES); /* config + 4 */
	assert_int_equal(cfg_rd(f, f->cap[2] + 12, 4), BLK_QUEUES * 4);	 /* notify length */
	blk_negotiate(f, BLK_QUEUES);
	msix_on_n(f, BLK_QUEUES + 1);
	for (unsigned int q = 0; q < BLK_QUEUES; q++)
		blk_queue_up(f, q);
	driver_ok(f);
	/* Backwards, so that no queue's request can ride on another's kick. */
	for (unsigned int q = BLK_QUEUES; q-- > 0;) {
		blk_get_id(f, q);
		gsi[q] = msi_gsi(f, 0x41 + q);
		assert_true(gsi[q] >= IRQFD_PINS);
		assert_int_equal(wait_irq(f, gsi[q]), 1);
		for (unsigned int o = 0; o < BLK_QUEUES; o++)
			if (o > q) /* routed already: nothing more */
				assert_int_equal(irq_count(f, gsi[o]), 0);
		/* The rings of the queues not kicked yet are untouched. */
		for (unsigned int o = 0; o < q; o++)
			assert_int_equal(get_le16(f->ram + BQ_BASE(o) + 0x2000 + 2), 0);
	}
	assert_int_equal(irq_count(f, msi_gsi(f, 0x40)), 0); /* no config interrupt */
	/* --stats: one kick and one interrupt on every queue. */
	virtio_pci_get_stats(f->t, &st);
	assert_true(st.kicks_seen);
	assert_int_equal(st.nr_queues, BLK_QUEUES);
	assert_int_equal(st.config_interrupts, 0);
	for (unsigned int q = 0; q < BLK_QUEUES; q++) {
		assert_int_equal(st.q[q].kicks, 1);
		assert_int_equal(st.q[q].kick_wakeups, 1);
		assert_int_equal(st.q[q].interrupts, 1);
	}
	/* Reset: every queue disabled. */
	cc_wr(f, 0x14, 0, 1);
	for (unsigned int q = 0; q < BLK_QUEUES; q++) {
		cc_wr(f, 0x16, q, 2);
		assert_int_equal(cc_rd(f, 0x1c, 2), 0);
		assert_int_equal(cc_rd(f, 0x1a, 2), MSIX_NO_VECTOR);
	}
}

/*
 * A device another process serves (vhost-user, evvm's own blk backend):
 * the backend reads each queue's doorbell eventfd and writes each queue's
 * MSI-X vector eventfd itself. A masked vector holds what it wrote in the
 * PBA and delivers it once on unmask.
 */
static void test_vhost_user_msix(void **state)
{
	struct fixture *f = *state;
	uint32_t gsi[VU_QUEUES];

	find_caps(f);
	assert_int_equal(cfg_rd(f, PCI_DEVICE_ID, 2), 0x1040 + VIRTIO_ID_BLOCK);
	assert_int_equal(cfg_rd(f, f->msix + 2, 2) & 0x7ff, VU_QUEUES);
	blk_negotiate(f, VU_QUEUES);
	msix_on_n(f, VU_QUEUES + 1);
	for (unsigned int q = 0; q < VU_QUEUES; q++)
		blk_queue_up(f, q);
	driver_ok(f);
	for (unsigned int q = VU_QUEUES; q-- > 0;) {
		blk_get_id(f, q);
		gsi[q] = msi_gsi(f, 0x41 + q);
		assert_true(gsi[q] >= IRQFD_PINS);
		assert_int_equal(wait_irq(f, gsi[q]), 1);
	}
	/* Queue 0's vector masked: the backend's interrupt waits in the PBA. */
	mmio_wr(f, f->bar1 + 16 + 12, 1, 4);
	blk_get_id(f, 0);
	for (int i = 0; i < 2000 && !(mmio_rd(f, f->bar1 + VIRTIO_PCI_MSIX_PBA, 8) & 2); i++)
		usleep(1000);
	assert_int_equal(mmio_rd(f, f->bar1 + VIRTIO_PCI_MSIX_PBA, 8), 2);
	assert_int_equal(irq_count(f, gsi[0]), 0);
	/* Queue 1 is not held up by it. */
	blk_get_id(f, 1);
	assert_int_equal(wait_irq(f, gsi[1]), 1);
	/* Unmasked: delivered, once. */
	mmio_wr(f, f->bar1 + 16 + 12, 0, 4);
	assert_int_equal(irq_count(f, gsi[0]), 1);
	assert_int_equal(mmio_rd(f, f->bar1 + VIRTIO_PCI_MSIX_PBA, 8), 0);
	/* A vector change after DRIVER_OK is refused: the backend holds the old fd. */
	cc_wr(f, 0x16, 0, 2);
	cc_wr(f, 0x1a, 2, 2);
	assert_int_equal(cc_rd(f, 0x1a, 2), 1);
	/* Reset, and up again with the vectors swapped: the backend gets the new fds. */
	cc_wr(f, 0x14, 0, 1);
	memset(f->ram + BQ_BASE(0), 0, 2 * 0x4000);
	blk_negotiate(f, VU_QUEUES);
	for (unsigned int q = 0; q < VU_QUEUES; q++) {
		blk_queue_up(f, q);
		cc_wr(f, 0x1a, VU_QUEUES - q, 2);
	}
	driver_ok(f);
	blk_get_id(f, 0);
	assert_int_equal(wait_irq(f, gsi[1]), 1);
	assert_int_equal(irq_count(f, gsi[0]), 0);
}

/* MSI-X off: the backend's interrupts come through evvm's relay, as INTx with the ISR. */
static void test_vhost_user_intx(void **state)
{
	struct fixture *f = *state;
	uint32_t gsi = PCI_INTX_GSI_BASE + SLOT % PCI_INTX_GSIS;
	struct virtio_mmio_stats st;
	uint64_t isr;

	find_caps(f);
	blk_negotiate(f, VU_QUEUES);
	for (unsigned int q = 0; q < VU_QUEUES; q++)
		blk_queue_up(f, q);
	driver_ok(f);
	for (unsigned int q = 0; q < VU_QUEUES; q++) {
		blk_get_id(f, q);
		assert_int_equal(wait_irq(f, gsi), 1);
		isr = mmio_rd(f, f->bar0 + cfg_rd(f, f->cap[3] + 8, 4), 1);
		assert_int_equal(isr, VIRTIO_INT_VRING);
	}
	assert_int_equal(f->irqt.nr_msi, 0);
	/* The backend read the kicks; the relayed interrupts were counted. */
	virtio_pci_get_stats(f->t, &st);
	assert_false(st.kicks_seen);
	for (unsigned int q = 0; q < VU_QUEUES; q++) {
		assert_int_equal(st.q[q].kicks, 0);
		assert_int_equal(st.q[q].interrupts, 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_request_with_msix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_without_msix, setup, teardown),
		cmocka_unit_test_setup_teardown(test_doorbell_follows_bar, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pci_cfg_window, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_driver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vhost_user_msix, setup_vhost, teardown),
		cmocka_unit_test_setup_teardown(test_vhost_user_intx, setup_vhost, teardown),
		cmocka_unit_test_setup_teardown(test_blk_multiqueue, setup_blk, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
