// SPDX-License-Identifier: MIT
/* virtio-rng (virtio 1.2, 5.4): fill the driver's buffers from getrandom(2). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/random.h>

#include <evvm/devices.h>
#include <evvm/log.h>

/* Entropy per request at most: a huge buffer must not stall the I/O thread. */
#define RNG_MAX_PER_REQUEST (64 * 1024)

struct rng {
	struct vq_elem elem;
	uint64_t requests, bytes; /* filled (relaxed atomics: the I/O thread writes) */
};

/* One request filled with @n bytes, for the metrics. */
static size_t rng_count(struct rng *rng, size_t n)
{
	__atomic_store_n(&rng->requests, rng->requests + 1, __ATOMIC_RELAXED);
	__atomic_store_n(&rng->bytes, rng->bytes + n, __ATOMIC_RELAXED);
	return n;
}

static size_t rng_fill(const struct vq_elem *e)
{
	size_t done = 0;

	for (unsigned int i = e->out_num; i < e->out_num + e->in_num; i++) {
		char *p = e->iov[i].iov_base;
		size_t len = e->iov[i].iov_len;

		while (len && done < RNG_MAX_PER_REQUEST) {
			size_t want =
				len < RNG_MAX_PER_REQUEST - done ? len : RNG_MAX_PER_REQUEST - done;
			ssize_t n = getrandom(p, want, 0);

			if (n < 0) {
				if (errno == EINTR)
					continue;
				pr_err("rng: getrandom: %s", evvm_strerror(errno));
				return done;
			}
			p += n;
			len -= n;
			done += n;
		}
	}
	return done;
}

static void rng_kick(struct evvm_virtio_dev *dev, unsigned int q)
{
	struct rng *rng = dev->priv;
	struct evvm_vq *vq = &dev->vqs[q];
	bool pushed = false;
	int r;

	for (;;) {
		/* No kicks while draining; then look once more after re-enabling. */
		vq_set_notify(vq, false);
		while ((r = vq_pop(vq, &rng->elem)) > 0) {
			if (vq_push(vq, &rng->elem, rng_count(rng, rng_fill(&rng->elem))) < 0)
				break;
			pushed = true;
		}
		if (r < 0) {
			virtio_dev_fail(dev);
			break;
		}
		vq_set_notify(vq, true);
		if (vq_pop(vq, &rng->elem) <= 0)
			break;
		/* Raced with the driver: handle it and go round again. */
		if (vq_push(vq, &rng->elem, rng_count(rng, rng_fill(&rng->elem))) < 0)
			break;
		pushed = true;
	}
	if (pushed)
		virtio_dev_notify(dev, q);
}

/* Every request completes within its kick: pausing has nothing to wait for. */
static int rng_quiesce(struct evvm_virtio_dev *dev, bool quiesced)
{
	(void)dev;
	(void)quiesced;
	return 0;
}

static int rng_start(struct evvm_virtio_dev *dev)
{
	(void)dev;
	return 0;
}

static void rng_stop(struct evvm_virtio_dev *dev)
{
	(void)dev; /* requests complete inside kick: nothing is in flight */
}

/* Firecracker's names: requests served, bytes given. */
static unsigned int rng_counters(struct evvm_virtio_dev *dev, struct evvm_dev_counter *out,
				 unsigned int max)
{
	const struct rng *rng = dev->priv;
	const struct evvm_dev_counter c[] = {
		{ "entropy_event_count", __atomic_load_n(&rng->requests, __ATOMIC_RELAXED) },
		{ "entropy_bytes", __atomic_load_n(&rng->bytes, __ATOMIC_RELAXED) },
	};
	unsigned int n = max < 2 ? max : 2;

	for (unsigned int i = 0; i < n; i++)
		out[i] = c[i];
	return n;
}

static void rng_destroy(struct evvm_virtio_dev *dev)
{
	free(dev->priv);
}

/* ops->save(): nothing; a paused device holds no request (see its quiesce). */
static int rng_save(struct evvm_virtio_dev *dev, void *buf, size_t cap)
{
	(void)dev;
	(void)buf;
	(void)cap;
	return 0;
}

static const struct evvm_device_ops rng_ops = {
	.name = "rng",
	.device_id = VIRTIO_ID_RNG,
	.nr_queues = 1,
	.queue_max = 256,
	.config_size = 0,
	.start = rng_start,
	.kick = rng_kick,
	.stop = rng_stop,
	.quiesce = rng_quiesce,
	.destroy = rng_destroy,
	.save = rng_save,
	.counters = rng_counters,
};

int rng_create(const char *id, struct evvm_virtio_dev **out)
{
	struct evvm_virtio_dev *dev = calloc(1, sizeof(*dev));

	if (!dev)
		return -ENOMEM;
	dev->priv = calloc(1, sizeof(struct rng));
	if (!dev->priv) {
		free(dev);
		return -ENOMEM;
	}
	dev->ops = &rng_ops;
	snprintf(dev->id, sizeof(dev->id), "%s", id);
	dev->host_features = VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	*out = dev;
	return 0;
}
