// SPDX-License-Identifier: MIT
/*
 * testdev: lets the test guest drive the eventfd fabric (docs/testdev.md).
 * Commands run in the vCPU thread that wrote CMD; the answers to kicks run
 * on the device's own I/O thread, as a real device's would.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <evvm/iothread.h>
#include <evvm/log.h>
#include <evvm/loop.h>

#include "vm.h"

#define TESTDEV_PORT  0x500
#define TESTDEV_SIZE  0x20
#define TESTDEV_ID    0x54535445 /* "ETST" */
#define TESTDEV_SLOTS 16
#define TESTDEV_MARKS 64

enum {
	REG_CMD = 0x00,
	REG_ARG0 = 0x04,
	REG_ARG3 = 0x10,
	REG_RESULT = 0x14,
	REG_MARK = 0x18,
	REG_ID = 0x1c,
};

enum {
	CMD_IOEVENTFD_ASSIGN = 1,
	CMD_IOEVENTFD_DEASSIGN,
	CMD_IOEVENTFD_COUNT,
	CMD_IRQFD_ASSIGN,
	CMD_IRQFD_DEASSIGN,
	CMD_IRQFD_SIGNAL,
	CMD_BIND,
	CMD_ACK,
	CMD_PENDING,
	CMD_UNOWNED,
};

enum { IRQ_MSI, IRQ_EDGE, IRQ_LEVEL };

struct td_irq {
	bool used;
	int fd;
	int resample_fd; /* level only */
	uint32_t gsi;
	bool msi;
	struct irqfd *q;
	_Atomic int pending; /* level: work the guest has not ACKed */
	bool asserted;	     /* level: line raised, no resample since (I/O thread only) */
	struct testdev *td;
};

struct td_ioev {
	bool used;
	struct ioeventfd_key key;
	int fd;
	struct ioeventfd *e;
	struct td_irq *bound; /* answered on the I/O thread */
};

struct testdev {
	struct evvm_vm *vm;
	pthread_mutex_t lock;
	uint32_t args[4];
	uint32_t result;
	struct td_ioev ioev[TESTDEV_SLOTS];
	struct td_irq irq[TESTDEV_SLOTS];
	struct evvm_iothread *io;
	struct evvm_loop *loop; /* the I/O thread's */
	struct evvm_mark marks[TESTDEV_MARKS];
	unsigned int nr_marks;
};

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

/* I/O thread: a kick arrived; answer it through the bound irqfd. */
static void td_kick(void *opaque, uint32_t events)
{
	struct td_ioev *io = opaque;
	uint64_t n;

	(void)events;
	if (read(io->fd, &n, sizeof(n)) != sizeof(n))
		return;
	ioeventfd_note_kicks(io->e, n);
	if (!io->bound)
		return;
	if (io->bound->resample_fd < 0) {
		irqfd_signal(io->bound->q);
		return;
	}
	/* Level: the line stays up until the EOI's resample; raise it once. */
	atomic_fetch_add(&io->bound->pending, (int)n);
	if (!io->bound->asserted) {
		io->bound->asserted = true;
		irqfd_signal(io->bound->q);
	}
}

/* I/O thread: the guest EOI'd a level line; re-assert while work is pending. */
static void td_resample(void *opaque, uint32_t events)
{
	struct td_irq *irq = opaque;
	uint64_t n;

	(void)events;
	if (read(irq->resample_fd, &n, sizeof(n)) != sizeof(n))
		return;
	irq->asserted = atomic_load(&irq->pending) > 0;
	if (irq->asserted)
		irqfd_signal(irq->q);
}

struct td_watch {
	struct testdev *td;
	int fd;
	evvm_loop_fn fn;
	void *opaque;
};

static int td_watch_add(void *opaque)
{
	struct td_watch *w = opaque;

	return loop_add(w->td->loop, w->fd, EPOLLIN, w->fn, w->opaque);
}

static int td_watch_del(void *opaque)
{
	struct td_watch *w = opaque;

	return loop_del(w->td->loop, w->fd);
}

static int td_watch(struct testdev *td, int fd, evvm_loop_fn fn, void *opaque, bool add)
{
	struct td_watch w = { td, fd, fn, opaque };

	return loop_call(td->loop, add ? td_watch_add : td_watch_del, &w);
}

static int td_slot(uint32_t v)
{
	return v < TESTDEV_SLOTS ? (int)v : -1;
}

static int td_ioeventfd_assign(struct testdev *td)
{
	struct ioeventfd_key key = {
		.space = (td->args[0] & 1) ? IOEVENTFD_PIO : IOEVENTFD_MMIO,
		.datamatch = td->args[0] & 2,
		.addr = td->args[1],
		.len = td->args[2],
		.data = td->args[3],
	};
	struct td_ioev *io = NULL;
	int i, err;

	for (i = 0; i < TESTDEV_SLOTS && !io; i++)
		if (!td->ioev[i].used)
			io = &td->ioev[i];
	if (!io)
		return -ENOSPC;
	io->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (io->fd < 0)
		return -errno;
	err = ioeventfd_assign(&td->vm->ioeventfds, &key, io->fd, &io->e);
	if (err) {
		close(io->fd);
		return err;
	}
	io->key = key;
	io->used = true;
	io->bound = NULL;
	return io - td->ioev;
}

static int td_ioeventfd_deassign(struct testdev *td, struct td_ioev *io)
{
	int err;

	if (io->bound)
		td_watch(td, io->fd, NULL, NULL, false);
	err = ioeventfd_deassign(&td->vm->ioeventfds, &io->key, io->fd);
	if (err)
		return err;
	close(io->fd);
	memset(io, 0, sizeof(*io));
	return 0;
}

static int td_ioeventfd_count(struct td_ioev *io)
{
	uint64_t n;

	if (io->bound)
		return -EBUSY;
	if (read(io->fd, &n, sizeof(n)) != sizeof(n))
		return errno == EAGAIN ? 0 : -errno;
	ioeventfd_note_kicks(io->e, n);
	return n > INT32_MAX ? INT32_MAX : (int)n;
}

static int td_irqfd_assign(struct testdev *td)
{
	uint32_t kind = td->args[0];
	struct td_irq *irq = NULL;
	uint64_t one = 1;
	int err;

	if (kind > IRQ_LEVEL)
		return -EINVAL;
	for (int i = 0; i < TESTDEV_SLOTS && !irq; i++)
		if (!td->irq[i].used)
			irq = &td->irq[i];
	if (!irq)
		return -ENOSPC;
	memset(irq, 0, sizeof(*irq));
	irq->td = td;
	irq->resample_fd = -1;
	irq->fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (irq->fd < 0)
		return -errno;
	if (kind == IRQ_MSI) {
		uint64_t addr = LAPIC_BASE | ((uint64_t)(td->args[2] & 0xff) << 12);

		err = irqfd_route_msi(&td->vm->irqfds, addr, td->args[1] & 0xff, &irq->gsi);
		if (err)
			goto fail;
		irq->msi = true;
	} else {
		irq->gsi = td->args[1];
	}
	if (kind == IRQ_LEVEL) {
		irq->resample_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (irq->resample_fd < 0) {
			err = -errno;
			goto fail;
		}
	}
	/* "Signalled before assign": the interrupt must still arrive. */
	if ((td->args[3] & 1) && write(irq->fd, &one, sizeof(one)) < 0) {
		err = -errno;
		goto fail;
	}
	err = irqfd_assign(&td->vm->irqfds, irq->fd, irq->gsi, irq->resample_fd, &irq->q);
	if (err)
		goto fail;
	if (irq->resample_fd >= 0) {
		err = td_watch(td, irq->resample_fd, td_resample, irq, true);
		if (err) {
			irqfd_deassign(&td->vm->irqfds, irq->fd, irq->gsi);
			goto fail;
		}
	}
	irq->used = true;
	return irq - td->irq;
fail:
	if (irq->msi)
		irqfd_route_remove(&td->vm->irqfds, irq->gsi);
	if (irq->resample_fd >= 0)
		close(irq->resample_fd);
	close(irq->fd);
	memset(irq, 0, sizeof(*irq));
	return err;
}

static int td_irqfd_deassign(struct testdev *td, struct td_irq *irq)
{
	int err;

	for (int i = 0; i < TESTDEV_SLOTS; i++)
		if (td->ioev[i].used && td->ioev[i].bound == irq)
			return -EBUSY; /* deassign the ioeventfd bound to it first */
	if (irq->resample_fd >= 0)
		td_watch(td, irq->resample_fd, NULL, NULL, false);
	err = irqfd_deassign(&td->vm->irqfds, irq->fd, irq->gsi);
	if (err)
		return err;
	if (irq->msi)
		irqfd_route_remove(&td->vm->irqfds, irq->gsi);
	if (irq->resample_fd >= 0)
		close(irq->resample_fd);
	close(irq->fd);
	memset(irq, 0, sizeof(*irq));
	return 0;
}

static int td_bind(struct testdev *td, struct td_ioev *io, struct td_irq *irq)
{
	int err;

	if (io->bound)
		return -EBUSY;
	io->bound = irq;
	err = td_watch(td, io->fd, td_kick, io, true);
	if (err)
		io->bound = NULL;
	return err;
}

static int td_command(struct testdev *td, uint32_t cmd)
{
	int a = td_slot(td->args[0]), b = td_slot(td->args[1]);
	struct td_ioev *io = a >= 0 && td->ioev[a].used ? &td->ioev[a] : NULL;
	struct td_irq *irq = a >= 0 && td->irq[a].used ? &td->irq[a] : NULL;
	int v;

	switch (cmd) {
	case CMD_IOEVENTFD_ASSIGN:
		return td_ioeventfd_assign(td);
	case CMD_IOEVENTFD_DEASSIGN:
		return io ? td_ioeventfd_deassign(td, io) : -ENOENT;
	case CMD_IOEVENTFD_COUNT:
		return io ? td_ioeventfd_count(io) : -ENOENT;
	case CMD_IRQFD_ASSIGN:
		return td_irqfd_assign(td);
	case CMD_IRQFD_DEASSIGN:
		return irq ? td_irqfd_deassign(td, irq) : -ENOENT;
	case CMD_IRQFD_SIGNAL:
		return irq ? irqfd_signal(irq->q) : -ENOENT;
	case CMD_BIND:
		if (!io || b < 0 || !td->irq[b].used)
			return -ENOENT;
		return td_bind(td, io, &td->irq[b]);
	case CMD_ACK:
		if (!irq)
			return -ENOENT;
		/* Take one unit of work, never going below zero. */
		v = atomic_load(&irq->pending);
		while (v > 0 && !atomic_compare_exchange_weak(&irq->pending, &v, v - 1))
			;
		return v > 0 ? v - 1 : 0;
	case CMD_PENDING:
		return irq ? atomic_load(&irq->pending) : -ENOENT;
	case CMD_UNOWNED:
		return (int)iobus_unowned_count(td->args[0] ? &td->vm->mmio : &td->vm->pio);
	}
	return -ENOSYS;
}

static void td_read(void *opaque, uint64_t offset, void *data, unsigned int len)
{
	struct testdev *td = opaque;
	uint32_t v = 0xffffffff;

	pthread_mutex_lock(&td->lock);
	if (offset >= REG_ARG0 && offset <= REG_ARG3)
		v = td->args[(offset - REG_ARG0) / 4];
	else if (offset == REG_RESULT)
		v = td->result;
	else if (offset == REG_ID)
		v = TESTDEV_ID;
	pthread_mutex_unlock(&td->lock);
	memcpy(data, &v, len < 4 ? len : 4);
}

static void td_write(void *opaque, uint64_t offset, const void *data, unsigned int len)
{
	struct testdev *td = opaque;
	uint32_t v = 0;

	if (len != 4 || (offset & 3))
		return; /* registers are 32-bit */
	memcpy(&v, data, 4);
	if (offset == REG_MARK) {
		uint64_t ns = now_ns();

		pthread_mutex_lock(&td->lock);
		if (td->nr_marks < TESTDEV_MARKS)
			td->marks[td->nr_marks] = (struct evvm_mark){ v, ns };
		td->nr_marks++;
		pthread_mutex_unlock(&td->lock);
		return;
	}
	pthread_mutex_lock(&td->lock);
	if (offset >= REG_ARG0 && offset <= REG_ARG3)
		td->args[(offset - REG_ARG0) / 4] = v;
	else if (offset == REG_CMD)
		td->result = (uint32_t)td_command(td, v);
	pthread_mutex_unlock(&td->lock);
}

static const struct iobus_ops testdev_ops = {
	.read = td_read,
	.write = td_write,
};

int testdev_create(struct evvm_vm *vm, struct testdev **out)
{
	struct testdev *td = calloc(1, sizeof(*td));
	int err;

	if (!td)
		return -ENOMEM;
	td->vm = vm;
	pthread_mutex_init(&td->lock, NULL);
	err = iothread_create("testdev-io", vm->cfg.poll_max_us, &td->io);
	if (!err) {
		td->loop = iothread_loop(td->io);
		err = iobus_register(&vm->pio, TESTDEV_PORT, TESTDEV_SIZE, &testdev_ops, td,
				     "testdev");
	}
	if (err) {
		pr_err("testdev: %s", evvm_strerror(err));
		testdev_destroy(td);
		return err;
	}
	*out = td;
	return 0;
}

void testdev_destroy(struct testdev *td)
{
	if (!td)
		return;
	if (td->io) {
		/* Unbinding needs the I/O thread: deassign before stopping it. */
		for (int i = 0; i < TESTDEV_SLOTS; i++)
			if (td->ioev[i].used)
				td_ioeventfd_deassign(td, &td->ioev[i]);
		for (int i = 0; i < TESTDEV_SLOTS; i++)
			if (td->irq[i].used)
				td_irqfd_deassign(td, &td->irq[i]);
		iothread_destroy(td->io);
	}
	pthread_mutex_destroy(&td->lock);
	free(td);
}

unsigned int testdev_marks(struct testdev *td, struct evvm_mark *out, unsigned int max)
{
	unsigned int n;

	pthread_mutex_lock(&td->lock);
	n = td->nr_marks < TESTDEV_MARKS ? td->nr_marks : TESTDEV_MARKS;
	memcpy(out, td->marks, (n < max ? n : max) * sizeof(*out));
	pthread_mutex_unlock(&td->lock);
	return n;
}

struct evvm_loop *testdev_loop(struct testdev *td)
{
	return td->loop;
}
