// SPDX-License-Identifier: MIT
/* The unit tests' virtio-pci driver (vpci_driver.h). */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/devices.h>
#include <evvm/log.h>
#include <evvm/virtio.h>
#include <evvm/virtqueue.h>

#include "../../vhost/backend.h"
#include "../../vmm/le.h"
#include "../../vmm/msix.h"
#include "vpci_driver.h"

/* Configuration space through ECAM. */
uint32_t vpci_cfg_rd(struct vpci_fx *f, uint32_t reg, unsigned int len)
{
	uint32_t v = 0;

	assert_true(iobus_read(&f->mmio, PCI_ECAM_BASE + (SLOT << 15) + reg, &v, len));
	return v;
}

void vpci_cfg_wr(struct vpci_fx *f, uint32_t reg, uint32_t v, unsigned int len)
{
	assert_true(iobus_write(&f->mmio, PCI_ECAM_BASE + (SLOT << 15) + reg, &v, len));
}

/* An MMIO write as vcpu.c makes it: ioeventfds first. True if one took it. */
bool vpci_mmio_wr(struct vpci_fx *f, uint64_t addr, uint64_t v, unsigned int len)
{
	if (ioeventfd_user_write(&f->iot, IOEVENTFD_MMIO, addr, &v, len))
		return true;
	iobus_write(&f->mmio, addr, &v, len);
	return false;
}

uint64_t vpci_mmio_rd(struct vpci_fx *f, uint64_t addr, unsigned int len)
{
	uint64_t v = 0;

	iobus_read(&f->mmio, addr, &v, len);
	return v;
}

void vpci_cc_wr(struct vpci_fx *f, uint32_t off, uint64_t v, unsigned int len)
{
	vpci_mmio_wr(f, f->bar0 + vpci_cfg_rd(f, f->cap[1] + 8, 4) + off, v, len);
}

uint64_t vpci_cc_rd(struct vpci_fx *f, uint32_t off, unsigned int len)
{
	return vpci_mmio_rd(f, f->bar0 + vpci_cfg_rd(f, f->cap[1] + 8, 4) + off, len);
}

/* The bus and tables, and the function @dev (NULL: virtio-rng) at slot 1. */
int vpci_setup(void **state, struct vpci_fx *f, struct evvm_virtio_dev *dev)
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

/* virtio-blk with @queues queues on a 1 MiB file. */
struct evvm_virtio_dev *vpci_make_blk(struct vpci_fx *f, unsigned int queues)
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

int vpci_teardown(void **state)
{
	struct vpci_fx *f = *state;

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
void vpci_find_caps(struct vpci_fx *f)
{
	for (uint32_t c = vpci_cfg_rd(f, PCI_CAP_PTR, 1); c; c = vpci_cfg_rd(f, c + 1, 1)) {
		uint8_t id = (uint8_t)vpci_cfg_rd(f, c, 1);

		if (id == 0x09) {
			uint8_t type = (uint8_t)vpci_cfg_rd(f, c + 3, 1);

			assert_true(type >= 1 && type <= 5);
			f->cap[type] = c;
		} else if (id == MSIX_CAP_ID) {
			f->msix = c;
		}
	}
	f->bar0 = vpci_cfg_rd(f, PCI_BAR0, 4) & ~0xfu;
	f->bar1 = vpci_cfg_rd(f, PCI_BAR0 + 4, 4) & ~0xfu;
	assert_int_equal(f->bar0, PCI_MMIO_BASE);
	vpci_cfg_wr(f, PCI_COMMAND, PCI_COMMAND_MEM | PCI_COMMAND_MASTER, 2);
}

/* MSI-X on, vector v's message data 0x40 + v, the config vector 0. */
void vpci_msix_on(struct vpci_fx *f, unsigned int nr)
{
	vpci_cfg_wr(f, f->msix + 2, 0x8000, 2);
	for (unsigned int v = 0; v < nr; v++) {
		vpci_mmio_wr(f, f->bar1 + v * 16, 0xfee00000, 4);
		vpci_mmio_wr(f, f->bar1 + v * 16 + 4, 0, 4);
		vpci_mmio_wr(f, f->bar1 + v * 16 + 8, 0x40 + v, 4);
		vpci_mmio_wr(f, f->bar1 + v * 16 + 12, 0, 4);
	}
	vpci_cc_wr(f, 0x10, 0, 2);
	assert_int_equal(vpci_cc_rd(f, 0x10, 2), 0);
}

void vpci_driver_ok(struct vpci_fx *f)
{
	vpci_cc_wr(f, 0x14,
		   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			   VIRTIO_STATUS_DRIVER_OK,
		   1);
	assert_false(vpci_cc_rd(f, 0x14, 1) & VIRTIO_STATUS_DEVICE_NEEDS_RESET);
}

/* The eventfd bound to @gsi's irqfd: how often it was signalled since the last look. */
uint64_t vpci_irq_count(struct vpci_fx *f, uint32_t gsi)
{
	uint64_t n = 0;

	for (unsigned int i = 0; i < f->irqt.nr; i++)
		if (f->irqt.entries[i]->gsi == gsi)
			if (read(f->irqt.entries[i]->fd, &n, sizeof(n)) != sizeof(n))
				n = 0;
	return n;
}

uint32_t vpci_msi_gsi(struct vpci_fx *f, uint32_t data)
{
	for (unsigned int i = 0; i < f->irqt.nr_msi; i++)
		if (f->irqt.msi[i].data == data && f->irqt.msi[i].addr == 0xfee00000)
			return f->irqt.msi[i].gsi;
	return 0;
}

uint64_t vpci_wait_irq(struct vpci_fx *f, uint32_t gsi)
{
	uint64_t n = 0;

	for (int i = 0; i < 2000 && !n; i++) {
		n = vpci_irq_count(f, gsi);
		if (!n)
			usleep(1000);
	}
	return n;
}

void vpci_blk_queue_up(struct vpci_fx *f, unsigned int q)
{
	vpci_cc_wr(f, 0x16, q, 2);
	assert_true(vpci_cc_rd(f, 0x18, 2) >= QSIZE);
	vpci_cc_wr(f, 0x18, QSIZE, 2);
	vpci_cc_wr(f, 0x20, BQ_BASE(q), 8);
	vpci_cc_wr(f, 0x28, BQ_BASE(q) + 0x1000, 8);
	vpci_cc_wr(f, 0x30, BQ_BASE(q) + 0x2000, 8);
	vpci_cc_wr(f, 0x1a, 1 + q, 2);
	assert_int_equal(vpci_cc_rd(f, 0x1a, 2), 1 + q);
	vpci_cc_wr(f, 0x1c, 1, 2);
	assert_int_equal(vpci_cc_rd(f, 0x1c, 2), 1);
}

/*
 * GET_ID on queue @q (header, 20-byte id, status), kicked at q's own
 * doorbell; returns once the device used it. Request n takes descriptors
 * 3n % QSIZE and on, its buffers at 0x3000 + 0x300 * (n % 2).
 */
void vpci_blk_get_id(struct vpci_fx *f, unsigned int q)
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
	vpci_cc_wr(f, 0x16, q, 2);
	bell = f->bar0 + vpci_cfg_rd(f, f->cap[2] + 8, 4) +
	       vpci_cc_rd(f, 0x1e, 2) * vpci_cfg_rd(f, f->cap[2] + 16, 4);
	assert_int_equal(bell, f->bar0 + VIRTIO_PCI_NOTIFY_OFF + 4 * q);
	assert_true(vpci_mmio_wr(f, bell, q, 2));
	for (int i = 0; i < 5000 && __atomic_load_n((uint16_t *)(base + 0x2000 + 2),
						    __ATOMIC_ACQUIRE) != (uint16_t)(n + 1);
	     i++)
		usleep(1000);
	assert_int_equal(get_le16(base + 0x2000 + 2), (uint16_t)(n + 1));
	assert_int_equal(buf[0x200], 0); /* VIRTIO_BLK_S_OK */
	assert_memory_equal(buf + 0x100, "blk0", 5);
}

/* Features (MQ among them) and num_queues as a blk driver checks them, then FEATURES_OK. */
void vpci_blk_negotiate(struct vpci_fx *f, unsigned int queues)
{
	vpci_cc_wr(f, 0x14, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER, 1);
	vpci_cc_wr(f, 0x00, 0, 4);
	assert_true(vpci_cc_rd(f, 0x04, 4) & VIRTIO_BIT(VIRTIO_BLK_F_MQ));
	assert_int_equal(vpci_cc_rd(f, 0x12, 2), queues); /* num_queues (common) */
	/* num_queues in the device config (offset 34). */
	assert_int_equal(vpci_mmio_rd(f, f->bar0 + vpci_cfg_rd(f, f->cap[4] + 8, 4) + 34, 2),
			 queues);
	vpci_cc_wr(f, 0x08, 0, 4);
	vpci_cc_wr(f, 0x0c, VIRTIO_BIT(VIRTIO_BLK_F_MQ), 4);
	vpci_cc_wr(f, 0x08, 1, 4);
	vpci_cc_wr(f, 0x0c, 1, 4); /* VERSION_1 */
	vpci_cc_wr(f, 0x14,
		   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK, 1);
	assert_true(vpci_cc_rd(f, 0x14, 1) & VIRTIO_STATUS_FEATURES_OK);
}
