// SPDX-License-Identifier: MIT
/*
 * virtio-console (virtio 1.2, 5.3) with one port and no multiport: the
 * transmitq goes to an output fd, an input fd feeds the receiveq. Input is
 * read only when the guest has posted buffers for it, so nothing typed is
 * ever dropped; it waits in the fd instead.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <unistd.h>

#include <evvm/devices.h>
#include <evvm/log.h>

enum { CONSOLE_RXQ, CONSOLE_TXQ };

struct console_config_space {
	uint16_t cols;
	uint16_t rows;
	uint32_t max_nr_ports;
	uint32_t emerg_wr;
} __attribute__((packed));

struct console {
	struct console_config cfg;
	bool in_watched; /* cfg.in_fd is on the loop */
	bool in_paused;	 /* ... but not read: no receive buffers */
	bool quiesced;	 /* the VM is paused: input is not read either */
	bool out_broken; /* output failed: said once, then discarded */
	struct vq_elem elem;
};

static void console_tx(struct console *c, const struct vq_elem *e, const char *id)
{
	for (unsigned int i = 0; i < e->out_num && c->cfg.out_fd >= 0 && !c->out_broken; i++) {
		const char *p = e->iov[i].iov_base;
		size_t len = e->iov[i].iov_len;

		while (len) {
			ssize_t n = write(c->cfg.out_fd, p, len);

			if (n < 0) {
				if (errno == EINTR || errno == EAGAIN)
					continue;
				pr_warn("%s: output: %s; further output is discarded", id,
					evvm_strerror(errno));
				c->out_broken = true;
				break;
			}
			p += n;
			len -= n;
		}
	}
}

/* Write out everything on the transmitq; notifications off while at it. */
static void console_drain_tx(struct evvm_virtio_dev *dev)
{
	struct console *c = dev->priv;
	struct evvm_vq *vq = &dev->vqs[CONSOLE_TXQ];
	bool pushed = false;
	int r;

	for (;;) {
		vq_set_notify(vq, false);
		while ((r = vq_pop(vq, &c->elem)) > 0) {
			console_tx(c, &c->elem, dev->id);
			vq_push(vq, &c->elem, 0);
			pushed = true;
		}
		if (r < 0) {
			virtio_dev_fail(dev);
			break;
		}
		vq_set_notify(vq, true);
		if (vq_pop(vq, &c->elem) <= 0)
			break;
		console_tx(c, &c->elem, dev->id);
		vq_push(vq, &c->elem, 0);
		pushed = true;
	}
	if (pushed)
		virtio_dev_notify(dev, CONSOLE_TXQ);
}

static void console_pause_input(struct evvm_virtio_dev *dev, bool pause)
{
	struct console *c = dev->priv;

	if (!c->in_watched || c->in_paused == pause)
		return;
	c->in_paused = pause;
	if (!c->quiesced)
		loop_mod(dev->loop, c->cfg.in_fd, pause ? 0 : EPOLLIN);
}

/* Pause: input waits in its fd; tx is done within each kick, so nothing is in flight. */
static int console_quiesce(struct evvm_virtio_dev *dev, bool quiesced)
{
	struct console *c = dev->priv;

	c->quiesced = quiesced;
	if (c->in_watched && !c->in_paused)
		loop_mod(dev->loop, c->cfg.in_fd, quiesced ? 0 : EPOLLIN);
	return 0;
}

/* The input fd is readable: move bytes into one receive buffer. */
static void console_input(void *opaque, uint32_t events)
{
	struct evvm_virtio_dev *dev = opaque;
	struct console *c = dev->priv;
	struct evvm_vq *vq = &dev->vqs[CONSOLE_RXQ];
	ssize_t n;
	int r;

	(void)events;
	if (c->quiesced)
		return; /* an event of the batch that was running when the VM paused */
	r = vq_pop(vq, &c->elem);
	if (r < 0) {
		virtio_dev_fail(dev);
		console_pause_input(dev, true);
		return;
	}
	if (r == 0 || c->elem.in_num == 0) {
		if (r > 0)
			vq_push(vq, &c->elem, 0); /* a buffer with no room: give it back */
		/* Wait for the guest to post buffers (its kick resumes us). */
		console_pause_input(dev, true);
		return;
	}
	do
		n = readv(c->cfg.in_fd, &c->elem.iov[c->elem.out_num], c->elem.in_num);
	while (n < 0 && errno == EINTR);
	if (n <= 0) {
		/* EOF or error: the guest gets no more input. */
		if (n < 0 && errno != EAGAIN)
			pr_warn("%s: input: %s", dev->id, evvm_strerror(errno));
		if (n == 0 || errno != EAGAIN) {
			loop_del(dev->loop, c->cfg.in_fd);
			c->in_watched = false;
		}
		n = 0;
	}
	vq_push(vq, &c->elem, n);
	virtio_dev_notify(dev, CONSOLE_RXQ);
}

static void console_kick(struct evvm_virtio_dev *dev, unsigned int q)
{
	if (q == CONSOLE_TXQ)
		console_drain_tx(dev);
	else
		console_pause_input(dev, false); /* new receive buffers */
}

static int console_start(struct evvm_virtio_dev *dev)
{
	struct console *c = dev->priv;
	int err;

	c->quiesced = false;
	if (c->cfg.in_fd < 0 || !dev->vqs[CONSOLE_RXQ].ready)
		return 0;
	err = loop_add(dev->loop, c->cfg.in_fd, EPOLLIN, console_input, dev);
	if (err)
		return err;
	c->in_watched = true;
	c->in_paused = false;
	return 0;
}

static void console_stop(struct evvm_virtio_dev *dev)
{
	struct console *c = dev->priv;

	if (c->in_watched)
		loop_del(dev->loop, c->cfg.in_fd);
	c->in_watched = false;
}

static void console_config_read(struct evvm_virtio_dev *dev, uint32_t offset, void *data,
				uint32_t len)
{
	const struct console_config_space cs = { .max_nr_ports = 1 };

	(void)dev;
	memcpy(data, (const char *)&cs + offset, len);
}

static void console_destroy(struct evvm_virtio_dev *dev)
{
	free(dev->priv);
}

/* ops->save(): nothing; a paused device holds no request (see its quiesce). */
static int console_save(struct evvm_virtio_dev *dev, void *buf, size_t cap)
{
	(void)dev;
	(void)buf;
	(void)cap;
	return 0;
}

static const struct evvm_device_ops console_ops = {
	.name = "console",
	.device_id = VIRTIO_ID_CONSOLE,
	.nr_queues = 2,
	.queue_max = 256,
	.config_size = sizeof(struct console_config_space),
	.config_read = console_config_read,
	.start = console_start,
	.kick = console_kick,
	.stop = console_stop,
	.quiesce = console_quiesce,
	.destroy = console_destroy,
	.save = console_save,
};

int console_create(const char *id, const struct console_config *cfg, struct evvm_virtio_dev **out)
{
	struct evvm_virtio_dev *dev = calloc(1, sizeof(*dev));
	struct console *c;

	if (!dev)
		return -ENOMEM;
	c = calloc(1, sizeof(*c));
	if (!c) {
		free(dev);
		return -ENOMEM;
	}
	c->cfg = *cfg;
	dev->priv = c;
	dev->ops = &console_ops;
	snprintf(dev->id, sizeof(dev->id), "%s", id);
	dev->host_features = VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	*out = dev;
	return 0;
}
