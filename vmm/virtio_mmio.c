// SPDX-License-Identifier: MIT
/*
 * virtio over MMIO, version 2 (virtio 1.2, 4.2.2). Registers are handled on
 * the vCPU thread that exits here; the device runs on its own I/O thread.
 * Kicks reach that thread through one ioeventfd per queue, interrupts leave
 * it through one irqfd, so neither direction passes through a vCPU thread
 * once the driver is up.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <evvm/devices.h>
#include <evvm/iothread.h>
#include <evvm/log.h>

#include "virtio_mmio.h"
#include "virtio_state.h"
#include "vm.h"

enum {
	REG_MAGIC = 0x000,
	REG_VERSION = 0x004,
	REG_DEVICE_ID = 0x008,
	REG_VENDOR_ID = 0x00c,
	REG_DEVICE_FEATURES = 0x010,
	REG_DEVICE_FEATURES_SEL = 0x014,
	REG_DRIVER_FEATURES = 0x020,
	REG_DRIVER_FEATURES_SEL = 0x024,
	REG_QUEUE_SEL = 0x030,
	REG_QUEUE_NUM_MAX = 0x034,
	REG_QUEUE_NUM = 0x038,
	REG_QUEUE_READY = 0x044,
	REG_QUEUE_NOTIFY = 0x050,
	REG_INTERRUPT_STATUS = 0x060,
	REG_INTERRUPT_ACK = 0x064,
	REG_STATUS = 0x070,
	REG_QUEUE_DESC_LOW = 0x080,
	REG_QUEUE_DESC_HIGH = 0x084,
	REG_QUEUE_DRIVER_LOW = 0x090,
	REG_QUEUE_DRIVER_HIGH = 0x094,
	REG_QUEUE_DEVICE_LOW = 0x0a0,
	REG_QUEUE_DEVICE_HIGH = 0x0a4,
	REG_CONFIG_GENERATION = 0x0fc,
	REG_CONFIG = 0x100,
};

#define VIRTIO_MMIO_MAGIC   0x74726976 /* "virt" */
#define VIRTIO_MMIO_VERSION 2
#define EVVM_VENDOR_ID	    0x4d565645 /* "EVVM" */

struct mmio_queue {
	uint16_t num;
	bool ready;
	uint64_t desc, avail, used;
	int kick_fd;
	bool kick_assigned;	    /* ioeventfd and loop watch in place */
	struct ioeventfd *doorbell; /* while kick_assigned (its kick counter) */
	/* Counted on the I/O thread, read by --stats: atomics. */
	_Atomic uint64_t kicks;	       /* the eventfd counts read: one per guest kick */
	_Atomic uint64_t kick_wakeups; /* reads of the eventfd (kicks coalesced into one) */
	_Atomic uint64_t interrupts;   /* used-buffer notifications sent for this queue */
	struct kick_latency latency;
	struct virtio_mmio *t;
	unsigned int index;
	char name[48]; /* "blk0.q0", for the virtqueue's messages */
};

struct virtio_mmio {
	struct evvm_vm *vm;
	struct evvm_virtio_dev *dev;
	uint64_t base;
	uint32_t gsi;
	char name[48];

	/* Register state, changed by vCPU threads under @lock. */
	pthread_mutex_t lock;
	uint32_t dev_features_sel, drv_features_sel, queue_sel;
	uint64_t driver_features;
	struct mmio_queue q[EVVM_VIRTIO_MAX_QUEUES];
	bool started;

	/* Also changed by the I/O thread (notify, fail): atomics. */
	_Atomic uint32_t status;
	_Atomic uint32_t isr;

	_Atomic uint64_t config_interrupts;
	_Atomic uint32_t config_generation; /* bumped by each config change */
	bool quiesced;			    /* under @lock: vm_pause() quiesced the device */
	bool io_quiesced;		    /* the same, as the I/O thread sees it */

	int call_fd;
	struct irqfd *irqfd;
	struct evvm_iothread *io;
};

static void mmio_interrupt(struct virtio_mmio *t, uint32_t why)
{
	atomic_fetch_or(&t->isr, why);
	irqfd_signal(t->irqfd);
}

/* dev->notify: a used-buffer notification for queue @q. */
static void mmio_notify(struct evvm_virtio_dev *dev, unsigned int q)
{
	struct virtio_mmio *t = dev->transport;

	/* Counted first: whoever sees the interrupt sees it counted. */
	if (q < EVVM_VIRTIO_MAX_QUEUES) {
		atomic_fetch_add_explicit(&t->q[q].interrupts, 1, memory_order_relaxed);
		kick_latency_interrupted(&t->q[q].latency);
	}
	mmio_interrupt(t, VIRTIO_INT_VRING);
}

/* dev->needs_reset, or a driver error seen here: DEVICE_NEEDS_RESET (4.2.2.1). */
static void mmio_fail(struct evvm_virtio_dev *dev)
{
	struct virtio_mmio *t = dev->transport;

	if (atomic_fetch_or(&t->status, VIRTIO_STATUS_DEVICE_NEEDS_RESET) &
	    VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	pr_warn("%s: device needs reset", t->name);
	atomic_fetch_add_explicit(&t->config_interrupts, 1, memory_order_relaxed);
	mmio_interrupt(t, VIRTIO_INT_CONFIG);
}

/* dev->config_changed: the device changed its config space (4.2.2.1). */
static void mmio_config_changed(struct evvm_virtio_dev *dev)
{
	struct virtio_mmio *t = dev->transport;

	atomic_fetch_add(&t->config_generation, 1);
	atomic_fetch_add_explicit(&t->config_interrupts, 1, memory_order_relaxed);
	mmio_interrupt(t, VIRTIO_INT_CONFIG);
}

/* I/O thread: queue @q was kicked. */
static void mmio_kick(void *opaque, uint32_t events)
{
	struct mmio_queue *mq = opaque;
	struct virtio_mmio *t = mq->t;
	uint64_t n;

	(void)events;
	/* Paused: the kick waits in the eventfd (a batch may still hold its event). */
	if (t->io_quiesced || read(mq->kick_fd, &n, sizeof(n)) != sizeof(n))
		return;
	/* Each guest write to QueueNotify added 1 to the eventfd's counter. */
	atomic_fetch_add_explicit(&mq->kicks, n, memory_order_relaxed);
	atomic_fetch_add_explicit(&mq->kick_wakeups, 1, memory_order_relaxed);
	kick_latency_kicked(&mq->latency);
	if (mq->doorbell)
		ioeventfd_note_kicks(mq->doorbell, n);
	if (atomic_load(&t->status) & VIRTIO_STATUS_DEVICE_NEEDS_RESET)
		return;
	t->dev->ops->kick(t->dev, mq->index);
}

static struct ioeventfd_key notify_key(struct virtio_mmio *t, unsigned int q)
{
	return (struct ioeventfd_key){
		.space = IOEVENTFD_MMIO,
		.addr = t->base + REG_QUEUE_NOTIFY,
		.len = 4,
		.datamatch = true,
		.data = q,
	};
}

/* What runs on the I/O thread at DRIVER_OK. */
static int mmio_start_on_loop(void *opaque)
{
	struct virtio_mmio *t = opaque;
	struct evvm_virtio_dev *dev = t->dev;
	int err;

	for (unsigned int q = 0; q < dev->ops->nr_queues; q++) {
		struct mmio_queue *mq = &t->q[q];
		const struct ioeventfd_key key = notify_key(t, q);

		if (!mq->ready)
			continue;
		/* Kicks of a queue served elsewhere are read by that process. */
		err = dev->ops->kick ? loop_add(dev->loop, mq->kick_fd, EPOLLIN, mmio_kick, mq) : 0;
		if (err)
			return err;
		err = ioeventfd_assign(&t->vm->ioeventfds, &key, mq->kick_fd, &mq->doorbell);
		if (err) {
			if (dev->ops->kick)
				loop_del(dev->loop, mq->kick_fd);
			return err;
		}
		mq->kick_assigned = true;
	}
	err = dev->ops->start(dev);
	if (err || !dev->ops->kick)
		return err;
	/* Buffers made available before DRIVER_OK sent no kick. */
	for (unsigned int q = 0; q < dev->ops->nr_queues; q++)
		if (t->q[q].ready)
			dev->ops->kick(dev, q);
	return 0;
}

/* What runs on the I/O thread at reset: after it, nothing touches the rings. */
static int mmio_stop_on_loop(void *opaque)
{
	struct virtio_mmio *t = opaque;
	struct evvm_virtio_dev *dev = t->dev;

	if (t->started)
		dev->ops->stop(dev);
	t->io_quiesced = false;
	for (unsigned int q = 0; q < dev->ops->nr_queues; q++) {
		struct mmio_queue *mq = &t->q[q];
		const struct ioeventfd_key key = notify_key(t, q);

		if (mq->kick_assigned) {
			ioeventfd_deassign(&t->vm->ioeventfds, &key, mq->kick_fd);
			if (dev->ops->kick)
				loop_del(dev->loop, mq->kick_fd);
			mq->kick_assigned = false;
			mq->doorbell = NULL;
		}
		kick_latency_forget(&mq->latency);
		vq_reset(&dev->vqs[q]);
	}
	return 0;
}

/* On the I/O thread: kicks off and the device quiet, or the reverse. */
static int mmio_quiesce_on_loop(void *opaque)
{
	struct virtio_mmio *t = opaque;
	struct evvm_virtio_dev *dev = t->dev;
	int err = 0;

	t->io_quiesced = t->quiesced;
	if (t->quiesced && dev->ops->quiesce)
		err = dev->ops->quiesce(dev, true);
	else if (t->quiesced)
		err = dev->ops->kick ? -ENOTSUP : 0;
	/* Kicks wait in their eventfds while paused, and are read once resumed. */
	for (unsigned int q = 0; !err && dev->ops->kick && q < dev->ops->nr_queues; q++)
		if (t->q[q].kick_assigned)
			loop_mod(dev->loop, t->q[q].kick_fd, t->quiesced ? 0 : EPOLLIN);
	if (!err && !t->quiesced && dev->ops->quiesce)
		err = dev->ops->quiesce(dev, false);
	if (err)
		t->io_quiesced = !t->quiesced;
	return err;
}

int virtio_mmio_quiesce(struct virtio_mmio *t, bool quiesced)
{
	int err = 0;

	pthread_mutex_lock(&t->lock);
	if (t->started && t->quiesced != quiesced) {
		t->quiesced = quiesced;
		err = loop_call(t->dev->loop, mmio_quiesce_on_loop, t);
		if (err) {
			t->quiesced = !quiesced;
			pr_err("%s: %s: %s", t->name, quiesced ? "pause" : "resume",
			       evvm_strerror(err));
		}
	}
	pthread_mutex_unlock(&t->lock);
	return err;
}

/* Status 0: everything back to its initial state (4.2.2.1: reset). */
static void mmio_reset(struct virtio_mmio *t)
{
	loop_call(t->dev->loop, mmio_stop_on_loop, t);
	t->started = false;
	t->quiesced = false;
	t->dev_features_sel = t->drv_features_sel = t->queue_sel = 0;
	t->driver_features = 0;
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++) {
		struct mmio_queue *mq = &t->q[q];
		uint64_t n;

		mq->num = mq->ready = 0;
		mq->desc = mq->avail = mq->used = 0;
		/* A kick left in the eventfd belongs to the old driver (still counted). */
		if (mq->kick_fd >= 0 && read(mq->kick_fd, &n, sizeof(n)) == sizeof(n))
			atomic_fetch_add_explicit(&mq->kicks, n, memory_order_relaxed);
		else if (mq->kick_fd >= 0 && errno != EAGAIN)
			pr_warn("%s: draining kick: %s", t->name, evvm_strerror(errno));
	}
	atomic_store(&t->isr, 0);
	atomic_store(&t->status, 0);
}

static uint64_t offered_features(const struct virtio_mmio *t)
{
	return t->dev->host_features | VIRTIO_BIT(VIRTIO_F_VERSION_1);
}

static void mmio_set_status(struct virtio_mmio *t, uint32_t v)
{
	uint32_t old = atomic_load(&t->status);
	int err;

	if (v == 0) {
		mmio_reset(t);
		return;
	}
	/* The driver only ever adds bits (3.1.1); FAILED needs no action. */
	if ((old & ~v) & ~VIRTIO_STATUS_DEVICE_NEEDS_RESET) {
		pr_warn("%s: driver cleared status bits (0x%x -> 0x%x); ignored", t->name, old, v);
		return;
	}
	if ((v & VIRTIO_STATUS_FEATURES_OK) && !(old & VIRTIO_STATUS_FEATURES_OK)) {
		/* Accept only what was offered, and only the modern interface. */
		if ((t->driver_features & ~offered_features(t)) ||
		    !(t->driver_features & VIRTIO_BIT(VIRTIO_F_VERSION_1))) {
			pr_warn("%s: driver features 0x%llx not acceptable (offered 0x%llx)",
				t->name, (unsigned long long)t->driver_features,
				(unsigned long long)offered_features(t));
			v &= ~VIRTIO_STATUS_FEATURES_OK;
		}
		t->dev->features = t->driver_features;
	}
	atomic_fetch_or(&t->status, v);

	if ((v & VIRTIO_STATUS_DRIVER_OK) && !t->started &&
	    !(v & VIRTIO_STATUS_DEVICE_NEEDS_RESET)) {
		if (!(v & VIRTIO_STATUS_FEATURES_OK)) {
			pr_warn("%s: DRIVER_OK without FEATURES_OK", t->name);
			mmio_fail(t->dev);
			return;
		}
		err = loop_call(t->dev->loop, mmio_start_on_loop, t);
		t->started = true; /* so that reset stops what did start */
		if (err) {
			pr_warn("%s: start: %s", t->name, evvm_strerror(err));
			mmio_fail(t->dev);
		}
	}
}

/* QueueReady = 1: the queue's size and addresses are final; check them now. */
static void mmio_queue_ready(struct virtio_mmio *t, struct mmio_queue *mq)
{
	struct evvm_virtio_dev *dev = t->dev;
	int err;

	if (mq->num > dev->ops->queue_max) {
		pr_warn("%s: queue %u size %u exceeds QueueNumMax %u", t->name, mq->index, mq->num,
			dev->ops->queue_max);
		mmio_fail(dev);
		return;
	}
	/* vq_init() says what is wrong with the queue. */
	err = vq_init(&dev->vqs[mq->index], dev->mem, mq->name, mq->num, mq->desc, mq->avail,
		      mq->used, t->driver_features);
	if (err) {
		mmio_fail(dev);
		return;
	}
	mq->ready = true;
}

static struct mmio_queue *selected_queue(struct virtio_mmio *t)
{
	return t->queue_sel < t->dev->ops->nr_queues ? &t->q[t->queue_sel] : NULL;
}

static uint32_t mmio_read_reg(struct virtio_mmio *t, uint64_t off)
{
	struct mmio_queue *mq = selected_queue(t);

	switch (off) {
	case REG_MAGIC:
		return VIRTIO_MMIO_MAGIC;
	case REG_VERSION:
		return VIRTIO_MMIO_VERSION;
	case REG_DEVICE_ID:
		return t->dev->ops->device_id;
	case REG_VENDOR_ID:
		return EVVM_VENDOR_ID;
	case REG_DEVICE_FEATURES:
		return t->dev_features_sel < 2 ? offered_features(t) >> (32 * t->dev_features_sel)
					       : 0;
	case REG_QUEUE_NUM_MAX:
		return mq ? t->dev->ops->queue_max : 0;
	case REG_QUEUE_READY:
		return mq ? mq->ready : 0;
	case REG_INTERRUPT_STATUS:
		/*
		 * When another process serves the queues its interrupts reach
		 * the guest through the irqfd without passing here, so report
		 * a possible used buffer on every read: the driver checks its
		 * queues, which is all the bit asks of it.
		 */
		return atomic_load(&t->isr) | (t->dev->ops->kick ? 0 : VIRTIO_INT_VRING);
	case REG_STATUS:
		return atomic_load(&t->status);
	case REG_CONFIG_GENERATION:
		return atomic_load(&t->config_generation);
	}
	return 0;
}

static void set_low(uint64_t *v, uint32_t x)
{
	*v = (*v & ~0xffffffffULL) | x;
}

static void set_high(uint64_t *v, uint32_t x)
{
	*v = (*v & 0xffffffffULL) | ((uint64_t)x << 32);
}

static void mmio_write_reg(struct virtio_mmio *t, uint64_t off, uint32_t v)
{
	struct mmio_queue *mq = selected_queue(t);
	uint32_t status = atomic_load(&t->status);

	switch (off) {
	case REG_DEVICE_FEATURES_SEL:
		t->dev_features_sel = v;
		return;
	case REG_DRIVER_FEATURES:
		if (status & VIRTIO_STATUS_FEATURES_OK)
			return; /* negotiation is over */
		if (t->drv_features_sel == 0)
			set_low(&t->driver_features, v);
		else if (t->drv_features_sel == 1)
			set_high(&t->driver_features, v);
		return;
	case REG_DRIVER_FEATURES_SEL:
		t->drv_features_sel = v;
		return;
	case REG_QUEUE_SEL:
		t->queue_sel = v;
		return;
	case REG_INTERRUPT_ACK:
		atomic_fetch_and(&t->isr, ~v);
		return;
	case REG_STATUS:
		mmio_set_status(t, v);
		return;
	case REG_QUEUE_NOTIFY:
		/*
		 * The ioeventfd takes notifies once the device runs; one that
		 * exits here came before DRIVER_OK (ignored, and the device
		 * looks at every ready queue when it starts) or names no queue.
		 */
		return;
	}

	/* Queue registers: only for an existing queue that is not live yet. */
	if (!mq || mq->ready) {
		if (mq)
			pr_warn("%s: queue %u changed while ready; ignored", t->name, mq->index);
		return;
	}
	switch (off) {
	case REG_QUEUE_NUM:
		mq->num = v;
		return;
	case REG_QUEUE_READY:
		/* Queues are set up before DRIVER_OK (3.1.1); a late one would never be served. */
		if (v == 1 && (status & VIRTIO_STATUS_DRIVER_OK)) {
			pr_warn("%s: queue %u made ready after DRIVER_OK", t->name, mq->index);
			mmio_fail(t->dev);
		} else if (v == 1) {
			mmio_queue_ready(t, mq);
		}
		return;
	case REG_QUEUE_DESC_LOW:
		set_low(&mq->desc, v);
		return;
	case REG_QUEUE_DESC_HIGH:
		set_high(&mq->desc, v);
		return;
	case REG_QUEUE_DRIVER_LOW:
		set_low(&mq->avail, v);
		return;
	case REG_QUEUE_DRIVER_HIGH:
		set_high(&mq->avail, v);
		return;
	case REG_QUEUE_DEVICE_LOW:
		set_low(&mq->used, v);
		return;
	case REG_QUEUE_DEVICE_HIGH:
		set_high(&mq->used, v);
		return;
	}
}

static bool config_range(struct virtio_mmio *t, uint64_t off, unsigned int len)
{
	return off >= REG_CONFIG && off - REG_CONFIG + len <= t->dev->ops->config_size;
}

static void mmio_read(void *opaque, uint64_t off, void *data, unsigned int len)
{
	struct virtio_mmio *t = opaque;
	uint32_t v;

	memset(data, 0, len);
	if (off >= REG_CONFIG) {
		if (config_range(t, off, len) && t->dev->ops->config_read)
			t->dev->ops->config_read(t->dev, off - REG_CONFIG, data, len);
		return;
	}
	if (len != 4 || (off & 3))
		return; /* registers are 32-bit (4.2.2.2) */
	pthread_mutex_lock(&t->lock);
	v = mmio_read_reg(t, off);
	pthread_mutex_unlock(&t->lock);
	memcpy(data, &v, 4);
}

static void mmio_write(void *opaque, uint64_t off, const void *data, unsigned int len)
{
	struct virtio_mmio *t = opaque;
	uint32_t v;

	if (off >= REG_CONFIG) {
		if (config_range(t, off, len) && t->dev->ops->config_write)
			t->dev->ops->config_write(t->dev, off - REG_CONFIG, data, len);
		return;
	}
	if (len != 4 || (off & 3))
		return;
	memcpy(&v, data, 4);
	pthread_mutex_lock(&t->lock);
	mmio_write_reg(t, off, v);
	pthread_mutex_unlock(&t->lock);
}

static const struct iobus_ops virtio_mmio_ops = {
	.read = mmio_read,
	.write = mmio_write,
};

int virtio_mmio_create(struct evvm_vm *vm, struct evvm_virtio_dev *dev, uint64_t base, uint32_t gsi,
		       struct virtio_mmio **out)
{
	struct virtio_mmio *t = calloc(1, sizeof(*t));
	char io_name[16];
	int err = -ENOMEM;

	if (!t) {
		virtio_dev_destroy(dev);
		return err;
	}
	t->vm = vm;
	t->dev = dev;
	t->base = base;
	t->gsi = gsi;
	t->call_fd = -1;
	snprintf(t->name, sizeof(t->name), "virtio-mmio %s@0x%llx", dev->id,
		 (unsigned long long)base);
	pthread_mutex_init(&t->lock, NULL);
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++) {
		t->q[q] = (struct mmio_queue){ .kick_fd = -1, .t = t, .index = q };
		snprintf(t->q[q].name, sizeof(t->q[q].name), "%s.q%u", dev->id, q);
	}

	dev->mem = &vm->mem;
	dev->notify = mmio_notify;
	dev->needs_reset = mmio_fail;
	dev->config_changed = mmio_config_changed;
	dev->transport = t;

	if (dev->ops->nr_queues > EVVM_VIRTIO_MAX_QUEUES)
		goto fail_inval;
	if (dev->nr_iothreads > 1) {
		/* (its queue logic is its own, not virtio_core.c's groups) */
		pr_err("%s: %u I/O threads: only --transport=pci serves a device on more than "
		       "one",
		       t->name, dev->nr_iothreads);
		goto fail_inval;
	}
	for (unsigned int q = 0; q < dev->ops->nr_queues; q++) {
		t->q[q].kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (t->q[q].kick_fd < 0)
			goto fail_errno;
	}
	t->call_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (t->call_fd < 0)
		goto fail_errno;
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		dev->kick_fds[q] = t->q[q].kick_fd;
	dev->call_fd = t->call_fd;
	err = irqfd_assign(&vm->irqfds, t->call_fd, gsi, -1, &t->irqfd);
	if (err)
		goto fail;
	snprintf(io_name, sizeof(io_name), "%.12s-io", dev->id);
	err = iothread_create(io_name, vm->cfg.poll_max_us, &t->io);
	if (err)
		goto fail;
	dev->loop = iothread_loop(t->io);
	err = iobus_register(&vm->mmio, base, VIRTIO_MMIO_SIZE, &virtio_mmio_ops, t, t->name);
	if (err)
		goto fail;
	*out = t;
	return 0;
fail_inval:
	err = -EINVAL;
	goto fail;
fail_errno:
	err = -errno;
fail:
	pr_err("%s: %s", t->name, evvm_strerror(err));
	virtio_mmio_destroy(t);
	return err;
}

/* Devices are destroyed on their I/O thread too, like every other op. */
static int mmio_destroy_on_loop(void *opaque)
{
	struct virtio_mmio *t = opaque;

	virtio_dev_destroy(t->dev);
	t->dev = NULL;
	return 0;
}

void virtio_mmio_destroy(struct virtio_mmio *t)
{
	if (!t)
		return;
	iobus_unregister(&t->vm->mmio, t->base);
	if (t->io) {
		loop_call(t->dev->loop, mmio_stop_on_loop, t);
		loop_call(t->dev->loop, mmio_destroy_on_loop, t);
		iothread_destroy(t->io);
	}
	virtio_dev_destroy(t->dev); /* not started: no I/O thread to run it on */
	if (t->irqfd)
		irqfd_deassign(&t->vm->irqfds, t->call_fd, t->gsi);
	if (t->call_fd >= 0)
		close(t->call_fd);
	for (unsigned int q = 0; q < EVVM_VIRTIO_MAX_QUEUES; q++)
		if (t->q[q].kick_fd >= 0)
			close(t->q[q].kick_fd);
	pthread_mutex_destroy(&t->lock);
	free(t);
}

struct evvm_virtio_dev *virtio_mmio_dev(struct virtio_mmio *t)
{
	return t->dev;
}

void virtio_mmio_get_stats(struct virtio_mmio *t, struct virtio_mmio_stats *s)
{
	*s = (struct virtio_mmio_stats){
		.kicks_seen = t->dev->ops->kick != NULL,
		.nr_queues = t->dev->ops->nr_queues,
		.config_interrupts = atomic_load(&t->config_interrupts),
	};
	for (unsigned int q = 0; q < s->nr_queues; q++) {
		s->q[q].kicks = atomic_load(&t->q[q].kicks);
		s->q[q].kick_wakeups = atomic_load(&t->q[q].kick_wakeups);
		s->q[q].interrupts = atomic_load(&t->q[q].interrupts);
		kick_latency_get(&t->q[q].latency, s->q[q].kick_to_interrupt);
	}
}

void virtio_mmio_save(struct virtio_mmio *t, struct virtio_state *s)
{
	const struct evvm_virtio_dev *dev = t->dev;

	pthread_mutex_lock(&t->lock);
	*s = (struct virtio_state){
		.device_id = dev->ops->device_id,
		.nr_queues = dev->ops->nr_queues,
		.status = atomic_load(&t->status),
		.isr = atomic_load(&t->isr),
		.config_generation = atomic_load(&t->config_generation),
		.queue_sel = t->queue_sel,
		.dev_features_sel = t->dev_features_sel,
		.drv_features_sel = t->drv_features_sel,
		.offered = offered_features(t),
		.driver_features = t->driver_features,
	};
	for (unsigned int q = 0; q < dev->ops->nr_queues; q++) {
		const struct mmio_queue *mq = &t->q[q];
		struct virtio_state_queue *sq = &s->q[q];

		sq->num = mq->num;
		sq->ready = mq->ready;
		sq->desc = mq->desc;
		sq->avail = mq->avail;
		sq->used = mq->used;
		if (mq->ready)
			virtio_state_save_queue(sq, &dev->vqs[q]);
	}
	pthread_mutex_unlock(&t->lock);
}

/* The registers and queues of @s, checked; the device not started yet. */
static int mmio_load_state(struct virtio_mmio *t, const struct virtio_state *s, const char *file)
{
	struct evvm_virtio_dev *dev = t->dev;
	int err = virtio_state_check(s, dev, offered_features(t), file);

	for (unsigned int q = 0; !err && q < dev->ops->nr_queues; q++) {
		struct mmio_queue *mq = &t->q[q];
		const struct virtio_state_queue *sq = &s->q[q];

		mq->num = sq->num;
		mq->desc = sq->desc;
		mq->avail = sq->avail;
		mq->used = sq->used;
		if (sq->ready)
			err = virtio_state_load_queue(s, dev, q, mq->name, file);
		mq->ready = sq->ready && !err;
	}
	if (err)
		return err;
	t->queue_sel = s->queue_sel;
	t->dev_features_sel = s->dev_features_sel;
	t->drv_features_sel = s->drv_features_sel;
	t->driver_features = s->driver_features;
	dev->features = s->driver_features;
	atomic_store(&t->isr, s->isr);
	atomic_store(&t->config_generation, s->config_generation);
	atomic_store(&t->status, s->status);
	return 0;
}

int virtio_mmio_restore(struct virtio_mmio *t, const struct virtio_state *s, const char *file)
{
	uint32_t live = VIRTIO_STATUS_DRIVER_OK | VIRTIO_STATUS_DEVICE_NEEDS_RESET;
	int err;

	pthread_mutex_lock(&t->lock);
	err = mmio_load_state(t, s, file);
	/* A device that failed waits for the driver's reset, as it did. */
	if (!err && (s->status & live) == VIRTIO_STATUS_DRIVER_OK) {
		err = loop_call(t->dev->loop, mmio_start_on_loop, t);
		t->started = true; /* so that reset stops what did start */
		if (err)
			pr_err("snapshot '%s': %s: start: %s", file, t->name, evvm_strerror(err));
	}
	if (err)
		mmio_reset(t);
	pthread_mutex_unlock(&t->lock);
	return err;
}
