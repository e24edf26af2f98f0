// SPDX-License-Identifier: MIT
/*
 * virtio over PCI, modern interface only (virtio 1.2, 4.1). The registers
 * run on the vCPU thread that exits here (under @lock); the device runs on
 * its own I/O thread. Each queue has its own doorbell address, registered
 * as a length-0 ioeventfd (KVM's fast MMIO bus), and its own MSI-X vector
 * (vmm/msix.c), so a kick and an interrupt each cost no exit to evvm.
 * The status machine and queue checks are shared with the other
 * transports through vmm/virtio_core.c.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <evvm/devices.h>
#include <evvm/iothread.h>
#include <evvm/log.h>

#include "le.h"
#include "msix.h"
#include "pci.h"
#include "virtio_core.h"
#include "virtio_pci.h"
#include "virtio_pci_int.h"

/* Capability types (4.1.4). */
enum {
	CAP_COMMON = 1,
	CAP_NOTIFY = 2,
	CAP_ISR = 3,
	CAP_DEVICE = 4,
	CAP_PCI_CFG = 5,
};

#define CAP_VENDOR	0x09
#define CAP_LEN		16
#define CAP_NOTIFY_LEN	20
#define CAP_PCI_CFG_LEN 20
#define SUBSYS_ID	0x1100 /* non-transitional: 0x40 or above (4.1.2.1) */
#define CLASS_OTHER	0xff0000

/* A line about something the guest did: rate-limited. */
void vpci_warn(struct virtio_pci *t, const char *fmt, ...)
{
	unsigned long dropped = 0;
	char line[200];
	va_list ap;
	bool ok;

	pthread_mutex_lock(&t->rl_lock);
	ok = evvm_ratelimit(&t->rl, &dropped);
	pthread_mutex_unlock(&t->rl_lock);
	if (dropped)
		pr_warn("%s: %lu messages suppressed", t->name, dropped);
	if (!ok)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	pr_warn("%s: %s", t->name, line);
}

void vpci_intx_raise(struct virtio_pci *t, uint32_t why)
{
	atomic_fetch_or(&t->isr, why);
	if (!atomic_load(&t->intx_disabled))
		irqfd_signal(t->intx);
}

/* dev->notify: a used-buffer notification for queue @q. */
static void vpci_notify(struct evvm_virtio_dev *dev, unsigned int q)
{
	struct virtio_pci *t = dev->transport;

	if (q < EVVM_VIRTIO_MAX_QUEUES) {
		atomic_fetch_add_explicit(&t->interrupts[q], 1, memory_order_relaxed);
		kick_latency_interrupted(&t->core.q[q].latency);
	}
	if (msix_enabled(&t->msix))
		msix_notify(&t->msix, atomic_load(&t->queue_vector[q]));
	else
		vpci_intx_raise(t, VIRTIO_INT_VRING);
}

/* vcore: NEEDS_RESET was set. */
static void vpci_config_interrupt(void *opaque)
{
	struct virtio_pci *t = opaque;

	atomic_fetch_add_explicit(&t->config_interrupts, 1, memory_order_relaxed);
	if (msix_enabled(&t->msix))
		msix_notify(&t->msix, atomic_load(&t->config_vector));
	else
		vpci_intx_raise(t, VIRTIO_INT_CONFIG);
}

/* dev->config_changed: a new config generation and a configuration-change interrupt. */
static void vpci_config_changed(struct evvm_virtio_dev *dev)
{
	struct virtio_pci *t = dev->transport;

	atomic_fetch_add(&t->config_generation, 1);
	vpci_config_interrupt(t);
}

static void vpci_fail(struct evvm_virtio_dev *dev)
{
	struct virtio_pci *t = dev->transport;

	vcore_fail(&t->core);
}

/* vcore: queue @q's doorbell; called with @lock held or during a start it blocks. */
static bool vpci_notify_key(void *opaque, unsigned int q, struct ioeventfd_key *key)
{
	struct virtio_pci *t = opaque;

	if (t->notify_base == PCI_BAR_UNMAPPED)
		return false;
	*key = (struct ioeventfd_key){
		.space = IOEVENTFD_MMIO,
		.addr = t->notify_base + (uint64_t)q * VIRTIO_PCI_NOTIFY_MULT,
		.len = 0, /* any write: KVM's fast MMIO bus */
	};
	return true;
}

static const struct vcore_ops vpci_core_ops = {
	.notify_key = vpci_notify_key,
	.config_interrupt = vpci_config_interrupt,
};

/* I/O thread: the guest EOIed the INTx line; raise it again if the ISR is still set. */
static void vpci_resample(void *opaque, uint32_t events)
{
	struct virtio_pci *t = opaque;
	uint64_t n;

	(void)events;
	if (read(t->resample_fd, &n, sizeof(n)) != sizeof(n))
		return;
	if (atomic_load(&t->isr) && !atomic_load(&t->intx_disabled) && !msix_enabled(&t->msix))
		irqfd_signal(t->intx);
}

/* I/O thread: a backend's interrupt for a queue without a vector of its own. */
static void vpci_relay_call(void *opaque, uint32_t events)
{
	struct vpci_relay *r = opaque;
	uint64_t n;

	(void)events;
	if (read(r->fd, &n, sizeof(n)) == sizeof(n))
		vpci_notify(r->t->dev, r->q);
}

/*
 * DRIVER_OK of a device served by another process: each queue's call fd,
 * its MSI-X vector's eventfd (the backend's interrupt then costs evvm
 * nothing; msix.c holds it while masked) or, with no vector, its relay.
 * Fixed until the reset. @lock held.
 */
void vpci_bind_calls(struct virtio_pci *t)
{
	struct evvm_virtio_dev *dev = t->dev;
	bool msix = msix_enabled(&t->msix);

	for (unsigned int q = 0; q < dev->ops->nr_queues; q++) {
		uint16_t vec = atomic_load(&t->queue_vector[q]);

		dev->call_fds[q] = msix && vec != MSIX_NO_VECTOR ? msix_vector_fd(&t->msix, vec)
								 : t->relay[q].fd;
	}
	dev->per_queue_calls = true;
}

/* BAR0: common, ISR, device config, doorbells. Unowned parts read zero. */
static void bar0_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct virtio_pci *t = opaque;
	const struct evvm_device_ops *ops = t->dev->ops;

	memset(data, 0, len);
	if (off < COMMON_LEN) {
		vpci_common_read(t, (uint32_t)off, data, len);
	} else if (off == VIRTIO_PCI_ISR_OFF) {
		/* Reading the ISR clears it and lowers INTx (4.1.4.5). */
		*(uint8_t *)data = (uint8_t)atomic_exchange(&t->isr, 0);
	} else if (off >= VIRTIO_PCI_DEVICE_OFF &&
		   off - VIRTIO_PCI_DEVICE_OFF + len <= ops->config_size) {
		if (ops->config_read)
			ops->config_read(t->dev, (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF), data,
					 len);
	}
}

static void notify_write(struct virtio_pci *t, uint64_t off)
{
	uint64_t rel = off - VIRTIO_PCI_NOTIFY_OFF;
	unsigned int q = (unsigned int)(rel / VIRTIO_PCI_NOTIFY_MULT);

	if (rel % VIRTIO_PCI_NOTIFY_MULT || q >= t->dev->ops->nr_queues) {
		vpci_warn(t, "doorbell write at BAR0+0x%llx: no queue's", (unsigned long long)off);
		return;
	}
	/* No ioeventfd took it: before DRIVER_OK (ignored), or through the PCI-config window. */
	pthread_mutex_lock(&t->lock);
	vcore_kick_by_hand(&t->core, q);
	pthread_mutex_unlock(&t->lock);
}

static void bar0_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct virtio_pci *t = opaque;
	const struct evvm_device_ops *ops = t->dev->ops;

	if (off < COMMON_LEN)
		vpci_common_write(t, (uint32_t)off, data, len);
	else if (off >= VIRTIO_PCI_NOTIFY_OFF && off < VIRTIO_PCI_NOTIFY_OFF + 0x1000)
		notify_write(t, off);
	else if (off >= VIRTIO_PCI_DEVICE_OFF &&
		 off - VIRTIO_PCI_DEVICE_OFF + len <= ops->config_size && ops->config_write)
		ops->config_write(t->dev, (uint32_t)(off - VIRTIO_PCI_DEVICE_OFF), data, len);
}

static void bar1_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct virtio_pci *t = opaque;

	if (!msix_bar_read(&t->msix, off, data, len)) {
		memset(data, 0, len);
		vpci_warn(t, "MSI-X: %u-byte read at BAR1+0x%llx is past the table and PBA", len,
			  (unsigned long long)off);
	}
}

static void bar1_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct virtio_pci *t = opaque;

	if (!msix_bar_write(&t->msix, off, data, len))
		vpci_warn(t, "MSI-X: %u-byte write at BAR1+0x%llx is past the table and PBA", len,
			  (unsigned long long)off);
}

static const struct iobus_ops bar0_ops = { .read = bar0_read, .write = bar0_write };
static const struct iobus_ops bar1_ops = { .read = bar1_read, .write = bar1_write };

/* The PCI-config access window (4.1.4.9): bar, offset, length name a BAR access. */
static bool pcfg_target(struct virtio_pci *t, unsigned int *bar, uint32_t *off, uint32_t *len)
{
	const uint8_t *c = &t->f.cfg[t->pcfg];
	uint32_t size;

	*bar = c[4];
	*off = get_le32(c + 8);
	*len = get_le32(c + 12);
	size = *bar == 0 ? VIRTIO_PCI_BAR0_SIZE : *bar == 1 ? VIRTIO_PCI_BAR1_SIZE : 0;
	if ((*len != 1 && *len != 2 && *len != 4) || *off % *len || *off >= size ||
	    *len > size - *off) {
		vpci_warn(t, "PCI-config window: BAR%u+0x%x length %u is no access", *bar, *off,
			  *len);
		return false;
	}
	return true;
}

static bool pcfg_data(struct virtio_pci *t, uint32_t off, unsigned int len)
{
	return t->pcfg && off < t->pcfg + 20 && off + len > t->pcfg + 16;
}

/* pci.c hooks: with cfg_lock held, so the window's fields stay put. */
static void vpci_cfg_read(void *opaque, uint32_t off, void *data, unsigned int len)
{
	struct virtio_pci *t = opaque;
	uint32_t boff, blen;
	unsigned int bar;
	uint8_t v[4] = { 0 };

	if (!pcfg_data(t, off, len) || !pcfg_target(t, &bar, &boff, &blen))
		return;
	(bar == 0 ? bar0_read : bar1_read)(t, boff, v, blen);
	memcpy(&t->f.cfg[t->pcfg + 16], v, 4);
	for (unsigned int i = 0; i < len; i++)
		if (off + i >= t->pcfg + 16 && off + i < t->pcfg + 20)
			((uint8_t *)data)[i] = t->f.cfg[off + i];
}

static void vpci_cfg_write(void *opaque, uint32_t off, const void *data, unsigned int len)
{
	struct virtio_pci *t = opaque;
	uint32_t boff, blen;
	unsigned int bar;

	(void)data;
	atomic_store(&t->intx_disabled,
		     get_le16(&t->f.cfg[PCI_COMMAND]) & PCI_COMMAND_INTX_DISABLE);
	msix_cfg_write(&t->msix, &t->f, off, len);
	if (!pcfg_data(t, off, len) || !pcfg_target(t, &bar, &boff, &blen))
		return;
	(bar == 0 ? bar0_write : bar1_write)(t, boff, &t->f.cfg[t->pcfg + 16], blen);
}

static void vpci_bar_map(void *opaque, unsigned int bar, uint64_t base)
{
	struct virtio_pci *t = opaque;

	if (bar != 0)
		return; /* MSI-X needs nothing: accesses come through the bus */
	pthread_mutex_lock(&t->lock);
	t->notify_base = base == PCI_BAR_UNMAPPED ? base : base + VIRTIO_PCI_NOTIFY_OFF;
	vcore_rekey(&t->core);
	pthread_mutex_unlock(&t->lock);
}

static const struct pci_func_ops vpci_func_ops = {
	.cfg_read = vpci_cfg_read,
	.cfg_write = vpci_cfg_write,
	.bar_map = vpci_bar_map,
};

static int vpci_cap(struct virtio_pci *t, uint8_t type, unsigned int len, uint32_t off,
		    uint32_t size)
{
	unsigned int c = pci_cap_add(&t->f, CAP_VENDOR, len);

	if (!c)
		return -ENOSPC;
	t->f.cfg[c + 2] = (uint8_t)len;
	t->f.cfg[c + 3] = type;
	t->f.cfg[c + 4] = 0; /* BAR0 */
	put_le32(&t->f.cfg[c + 8], off);
	put_le32(&t->f.cfg[c + 12], size);
	if (type == CAP_NOTIFY)
		put_le32(&t->f.cfg[c + 16], VIRTIO_PCI_NOTIFY_MULT);
	if (type == CAP_PCI_CFG) {
		t->pcfg = c;
		t->f.wmask[c + 4] = 0xff;
		memset(&t->f.wmask[c + 8], 0xff, 12); /* offset, length, data */
	}
	return 0;
}

static uint32_t class_of(uint32_t device_id)
{
	switch (device_id) {
	case VIRTIO_ID_NET:
		return 0x020000; /* network: Ethernet */
	case VIRTIO_ID_BLOCK:
		return 0x010000; /* mass storage: SCSI, as other VMMs give it */
	case VIRTIO_ID_CONSOLE:
		return 0x078000; /* communication: other */
	}
	return CLASS_OTHER;
}

static int vpci_build_func(struct virtio_pci *t, uint32_t bar_base)
{
	const struct evvm_device_ops *ops = t->dev->ops;
	int err;

	pci_func_init(&t->f, VIRTIO_PCI_VENDOR, (uint16_t)(VIRTIO_PCI_DEVICE_BASE + ops->device_id),
		      class_of(ops->device_id), true, &vpci_func_ops, t, t->name);
	put_le16(&t->f.cfg[PCI_SUBSYS_ID], SUBSYS_ID);
	err = pci_func_bar(&t->f, 0, VIRTIO_PCI_BAR0_SIZE, bar_base, &bar0_ops);
	if (!err)
		err = pci_func_bar(&t->f, 1, VIRTIO_PCI_BAR1_SIZE, bar_base + VIRTIO_PCI_BAR0_SIZE,
				   &bar1_ops);
	if (!err)
		err = vpci_cap(t, CAP_COMMON, CAP_LEN, VIRTIO_PCI_COMMON_OFF, COMMON_LEN);
	if (!err)
		err = vpci_cap(t, CAP_NOTIFY, CAP_NOTIFY_LEN, VIRTIO_PCI_NOTIFY_OFF,
			       ops->nr_queues * VIRTIO_PCI_NOTIFY_MULT);
	if (!err)
		err = vpci_cap(t, CAP_ISR, CAP_LEN, VIRTIO_PCI_ISR_OFF, 1);
	if (!err && ops->config_size)
		err = vpci_cap(t, CAP_DEVICE, CAP_LEN, VIRTIO_PCI_DEVICE_OFF, ops->config_size);
	if (!err)
		err = vpci_cap(t, CAP_PCI_CFG, CAP_PCI_CFG_LEN, 0, 0);
	if (!err)
		err = msix_cap_add(&t->msix, &t->f, 1, VIRTIO_PCI_MSIX_TABLE, VIRTIO_PCI_MSIX_PBA);
	return err;
}

static int vpci_watch_resample(void *opaque)
{
	struct virtio_pci *t = opaque;
	int err = loop_add(t->dev->loop, t->resample_fd, EPOLLIN, vpci_resample, t);

	for (unsigned int q = 0; !err && q < EVVM_VIRTIO_MAX_QUEUES; q++)
		if (t->relay[q].fd >= 0)
			err = loop_add(t->dev->loop, t->relay[q].fd, EPOLLIN, vpci_relay_call,
				       &t->relay[q]);
	return err;
}

/*
 * I/O threads 1 to M - 1, each with a clone of the device (as `evvm
 * vhost-user-blk --iothreads` serves its rings): vcore sends queue q to
 * thread q % M.
 */
static int vpci_add_iothreads(struct virtio_pci *t)
{
	struct evvm_virtio_dev *dev = t->dev;
	unsigned int m = dev->nr_iothreads;
	char io_name[16];
	int err;

	if (m > 1 && (!dev->ops->clone || m > dev->ops->nr_queues)) {
		pr_err("%s: %u I/O threads: the device serves %u queues%s", t->name, m,
		       dev->ops->nr_queues, dev->ops->clone ? "" : " on one thread only");
		return -EINVAL;
	}
	for (unsigned int i = 1; i < m; i++) {
		struct evvm_virtio_dev *c;

		err = dev->ops->clone(dev, &c);
		if (err)
			return err;
		t->clones[t->nr_clones++] = c;
		c->mem = dev->mem;
		c->notify = vpci_notify;
		c->needs_reset = vpci_fail;
		c->config_changed = vpci_config_changed;
		c->transport = t;
		c->call_fd = -1;
		/* (i < 16: the cast tells gcc the name fits) */
		snprintf(io_name, sizeof(io_name), "%.9s-io%u", dev->id, (unsigned char)i);
		err = iothread_create(io_name, t->host.poll_max_us, &t->more_io[i - 1]);
		if (err)
			return err;
		c->loop = iothread_loop(t->more_io[i - 1]);
		err = vcore_add_instance(&t->core, c);
		if (err)
			return err;
	}
	if (m > 1)
		pr_info("%s: %u queues on %u I/O threads (queue q on thread q %% %u)", t->name,
			dev->ops->nr_queues, m, m);
	return 0;
}

static int vpci_connect(struct virtio_pci *t)
{
	char io_name[16];
	int slot, err;

	slot = pci_func_add(t->host.bus, &t->f);
	if (slot < 0)
		return slot;
	t->on_bus = true;
	t->gsi = PCI_INTX_GSI_BASE + (uint32_t)slot % PCI_INTX_GSIS;
	snprintf(t->name, sizeof(t->name), "virtio-pci %s@00:%02x.0", t->dev->id,
		 (unsigned int)slot & 0x1f);
	t->intx_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	t->resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->intx_fd < 0 || t->resample_fd < 0)
		return -errno;
	for (unsigned int q = 0; !t->dev->ops->kick && q < t->dev->ops->nr_queues; q++) {
		t->relay[q].fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->relay[q].fd < 0)
			return -errno;
	}
	err = irqfd_assign(t->host.irqfds, t->intx_fd, t->gsi, t->resample_fd, &t->intx);
	if (err)
		return err;
	snprintf(io_name, sizeof(io_name), "%.12s-io", t->dev->id);
	err = iothread_create(io_name, t->host.poll_max_us, &t->io);
	if (err)
		return err;
	t->dev->loop = iothread_loop(t->io);
	t->dev->call_fd = -1; /* interrupts go through the transport */
	err = loop_call(t->dev->loop, vpci_watch_resample, t);
	return err ? err : vpci_add_iothreads(t);
}

int virtio_pci_create(const struct virtio_pci_host *host, struct evvm_virtio_dev *dev,
		      uint32_t bar_base, struct virtio_pci **out)
{
	struct virtio_pci *t = calloc(1, sizeof(*t));
	int err;

	if (!t) {
		virtio_dev_destroy(dev);
		return -ENOMEM;
	}
	t->host = *host;
	t->dev = dev;
	t->intx_fd = t->resample_fd = -1;
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		t->relay[q] = (struct vpci_relay){ t, q, -1 };
	t->notify_base = PCI_BAR_UNMAPPED;
	snprintf(t->name, sizeof(t->name), "virtio-pci %s", dev->id);
	pthread_mutex_init(&t->lock, NULL);
	pthread_mutex_init(&t->rl_lock, NULL);
	t->rl = (struct evvm_ratelimit)EVVM_RATELIMIT_INIT(10);
	atomic_store(&t->config_vector, MSIX_NO_VECTOR);
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		atomic_store(&t->queue_vector[q], MSIX_NO_VECTOR);
	dev->mem = host->mem;
	dev->notify = vpci_notify;
	dev->needs_reset = vpci_fail;
	dev->config_changed = vpci_config_changed;
	dev->transport = t;

	err = vcore_init(&t->core, dev, t->name, host->ioeventfds, &vpci_core_ops, t);
	t->core_ready = true;
	if (!err) {
		err = msix_init(&t->msix, host->irqfds, dev->ops->nr_queues + 1, t->name);
		t->msix_ready = true; /* msix_destroy() after any msix_init() */
	}
	if (!err)
		err = vpci_build_func(t, bar_base);
	if (!err)
		err = vpci_connect(t);
	if (err)
		goto fail;
	*out = t;
	return 0;
fail:
	pr_err("%s: %s", t->name, evvm_strerror(err));
	virtio_pci_destroy(t);
	return err;
}

int virtio_pci_quiesce(struct virtio_pci *t, bool quiesced)
{
	int err;

	pthread_mutex_lock(&t->lock);
	err = vcore_quiesce(&t->core, quiesced);
	pthread_mutex_unlock(&t->lock);
	return err;
}

/* Devices are destroyed on their I/O thread too, like every other op. */
static int vpci_destroy_on_loop(void *opaque)
{
	struct virtio_pci *t = opaque;

	loop_del(t->dev->loop, t->resample_fd);
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		if (t->relay[q].fd >= 0)
			loop_del(t->dev->loop, t->relay[q].fd);
	virtio_dev_destroy(t->dev);
	t->dev = NULL;
	return 0;
}

static int vpci_destroy_clone(void *opaque)
{
	virtio_dev_destroy(opaque);
	return 0;
}

void virtio_pci_destroy(struct virtio_pci *t)
{
	if (!t)
		return;
	/* Off the bus first: once this returns no vCPU is in a BAR or config handler. */
	if (t->on_bus)
		pci_func_remove(t->host.bus, &t->f);
	if (t->io) {
		vcore_reset(&t->core); /* the device stops on its I/O threads */
		loop_call(t->dev->loop, vpci_destroy_on_loop, t);
		iothread_destroy(t->io);
	}
	virtio_dev_destroy(t->dev); /* not started: no I/O thread to run it on */
	for (unsigned int i = 0; i < t->nr_clones; i++) {
		if (t->clones[i]->loop)
			loop_call(t->clones[i]->loop, vpci_destroy_clone, t->clones[i]);
		else
			virtio_dev_destroy(t->clones[i]);
		iothread_destroy(t->more_io[i]);
	}
	if (t->intx)
		irqfd_deassign(t->host.irqfds, t->intx_fd, t->gsi);
	if (t->msix_ready)
		msix_destroy(&t->msix);
	if (t->core_ready)
		vcore_destroy(&t->core);
	if (t->intx_fd >= 0)
		close(t->intx_fd);
	if (t->resample_fd >= 0)
		close(t->resample_fd);
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		if (t->relay[q].fd >= 0)
			close(t->relay[q].fd);
	pthread_mutex_destroy(&t->rl_lock);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

struct evvm_virtio_dev *virtio_pci_dev(struct virtio_pci *t)
{
	return t->dev;
}

void virtio_pci_get_stats(struct virtio_pci *t, struct virtio_mmio_stats *s)
{
	*s = (struct virtio_mmio_stats){
		.kicks_seen = t->dev->ops->kick != NULL,
		.nr_queues = t->dev->ops->nr_queues,
		.config_interrupts = atomic_load(&t->config_interrupts),
	};
	for (unsigned int q = 0; q < s->nr_queues; q++) {
		s->q[q].kicks = atomic_load(&t->core.q[q].kicks);
		s->q[q].kick_wakeups = atomic_load(&t->core.q[q].kick_wakeups);
		s->q[q].interrupts = atomic_load(&t->interrupts[q]);
		kick_latency_get(&t->core.q[q].latency, s->q[q].kick_to_interrupt);
	}
}

unsigned int virtio_pci_counters(struct virtio_pci *t, struct evvm_dev_counter *out,
				 unsigned int max)
{
	const struct evvm_device_ops *ops = t->dev->ops;
	struct evvm_dev_counter more[EVVM_DEV_MAX_COUNTERS];
	unsigned int n;

	if (!ops->counters)
		return 0;
	n = ops->counters(t->dev, out, max);
	/* A clone has the same counters in the same order. */
	for (unsigned int i = 0; i < t->nr_clones; i++) {
		unsigned int m = ops->counters(t->clones[i], more, EVVM_DEV_MAX_COUNTERS);

		for (unsigned int k = 0; k < n && k < m; k++)
			out[k].value += more[k].value;
	}
	return n;
}
