// SPDX-License-Identifier: MIT
/* virtio-rng (virtio 1.2, 5.4): fill the driver's buffers from getrandom(2). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/random.h>
#include <unistd.h>

#include <evvm/devices.h>
#include <evvm/log.h>
#include <evvm/loop.h>

#include "ratelimit.h"

/* Entropy per request at most: a huge buffer must not stall the I/O thread. */
#define RNG_MAX_PER_REQUEST (64 * 1024)

struct rng {
	struct vq_elem elem;
	/*
	 * Firecracker's entropy rate limiter: a request short of tokens goes
	 * back to the ring (vq_unpop) and the queue waits for the timer.
	 */
	struct ratelimit rl;
	struct evvm_loop *rl_loop; /* where rl.timer_fd is watched, or NULL */
	bool started, paused, throttled;
	/* Relaxed atomics: the I/O thread writes, the metrics read. */
	uint64_t requests, bytes, throttled_events;
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

/* What the request would be given: its writable bytes, capped as rng_fill() caps them. */
static uint64_t rng_request_bytes(const struct vq_elem *e)
{
	uint64_t n = 0;

	for (unsigned int i = e->out_num; i < e->out_num + e->in_num; i++)
		n += e->iov[i].iov_len;
	return n < RNG_MAX_PER_REQUEST ? n : RNG_MAX_PER_REQUEST;
}

/*
 * Serve the popped request: 1 if it was pushed, 0 if the rate limiter
 * holds it (it is back in the ring, the timer armed), -1 if the push failed.
 */
static int rng_serve(struct rng *rng, struct evvm_vq *vq)
{
	if (ratelimit_admit(&rng->rl, rng_request_bytes(&rng->elem), ratelimit_now())) {
		vq_unpop(vq, 1);
		rng->throttled = true;
		__atomic_store_n(&rng->throttled_events, rng->throttled_events + 1,
				 __ATOMIC_RELAXED);
		return 0;
	}
	return vq_push(vq, &rng->elem, rng_count(rng, rng_fill(&rng->elem))) < 0 ? -1 : 1;
}

static void rng_kick(struct evvm_virtio_dev *dev, unsigned int q)
{
	struct rng *rng = dev->priv;
	struct evvm_vq *vq = &dev->vqs[q];
	bool pushed = false;
	int r, served = 1;

	/* Throttled: the timer serves the ring; paused: resume does. */
	if (rng->throttled || rng->paused)
		return;
	for (;;) {
		/* No kicks while draining; then look once more after re-enabling. */
		vq_set_notify(vq, false);
		while ((r = vq_pop(vq, &rng->elem)) > 0 && (served = rng_serve(rng, vq)) > 0)
			pushed = true;
		if (r < 0) {
			virtio_dev_fail(dev);
			break;
		}
		if (served <= 0)
			break; /* notify stays off: kicks would find the limiter empty */
		vq_set_notify(vq, true);
		if (vq_pop(vq, &rng->elem) <= 0)
			break;
		/* Raced with the driver: handle it and go round again. */
		if ((served = rng_serve(rng, vq)) <= 0)
			break;
		pushed = true;
	}
	if (pushed)
		virtio_dev_notify(dev, q);
}

static void rng_on_rl_timer(void *opaque, uint32_t events)
{
	struct evvm_virtio_dev *dev = opaque;
	struct rng *rng = dev->priv;
	uint64_t n;

	(void)events;
	if (read(rng->rl.timer_fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		pr_warn("%s: rate limiter timer: %s", dev->id, evvm_strerror(errno));
	if (!rng->throttled)
		return;
	rng->throttled = false;
	rng_kick(dev, 0);
}

static int rng_rl_watch(struct evvm_virtio_dev *dev)
{
	struct rng *rng = dev->priv;
	int err;

	if (rng->rl_loop || rng->rl.timer_fd < 0)
		return 0;
	err = loop_add(dev->loop, rng->rl.timer_fd, EPOLLIN, rng_on_rl_timer, dev);
	if (!err)
		rng->rl_loop = dev->loop;
	return err;
}

/*
 * Requests complete within their kick; one the rate limiter holds is still
 * in the ring, so pausing has nothing to wait for: the timer just leaves
 * the ring alone until the resume, which serves it.
 */
static int rng_quiesce(struct evvm_virtio_dev *dev, bool quiesced)
{
	struct rng *rng = dev->priv;

	rng->paused = quiesced;
	if (!quiesced && rng->started && !rng->throttled)
		rng_kick(dev, 0);
	return 0;
}

static int rng_start(struct evvm_virtio_dev *dev)
{
	struct rng *rng = dev->priv;
	int err = rng_rl_watch(dev);

	rng->started = !err;
	return err;
}

static void rng_stop(struct evvm_virtio_dev *dev)
{
	struct rng *rng = dev->priv;

	/* Nothing is in flight; a held request goes with the reset ring. */
	ratelimit_disarm(&rng->rl);
	if (rng->rl_loop)
		loop_del(rng->rl_loop, rng->rl.timer_fd);
	rng->rl_loop = NULL;
	rng->started = rng->throttled = false;
}

struct rng_rl_arg {
	struct evvm_virtio_dev *dev;
	const struct evvm_rate_limit *rl;
};

static int rng_set_rl_on_loop(void *opaque)
{
	struct rng_rl_arg *a = opaque;
	struct rng *rng = a->dev->priv;
	int err = ratelimit_set(&rng->rl, a->rl, ratelimit_now());

	if (!err && rng->started)
		err = rng_rl_watch(a->dev);
	if (err)
		return err;
	/* A request held under the old limits is judged by the new ones. */
	if (rng->started && rng->throttled) {
		ratelimit_disarm(&rng->rl);
		rng->throttled = false;
		rng_kick(a->dev, 0);
	}
	return 0;
}

int rng_set_rate_limit(struct evvm_virtio_dev *dev, const struct evvm_rate_limit *rl)
{
	struct rng_rl_arg a = { dev, rl };
	int err;

	if (dev->ops->kick != rng_kick) {
		pr_err("%s: not a virtio-rng device evvm serves", dev->id);
		return -ENOTSUP;
	}
	/* Before a transport owns the device no thread serves it yet. */
	err = dev->loop ? loop_call(dev->loop, rng_set_rl_on_loop, &a) : rng_set_rl_on_loop(&a);
	if (err)
		pr_err("%s: rate limiter: %s", dev->id, evvm_strerror(err));
	return err;
}

/* Firecracker's names: requests served, bytes given. */
static unsigned int rng_counters(struct evvm_virtio_dev *dev, struct evvm_dev_counter *out,
				 unsigned int max)
{
	const struct rng *rng = dev->priv;
	const struct evvm_dev_counter c[] = {
		{ "entropy_event_count", __atomic_load_n(&rng->requests, __ATOMIC_RELAXED) },
		{ "entropy_bytes", __atomic_load_n(&rng->bytes, __ATOMIC_RELAXED) },
		{ "entropy_rate_limiter_throttled",
		  __atomic_load_n(&rng->throttled_events, __ATOMIC_RELAXED) },
	};
	unsigned int n = max < 3 ? max : 3;

	for (unsigned int i = 0; i < n; i++)
		out[i] = c[i];
	return n;
}

static void rng_destroy(struct evvm_virtio_dev *dev)
{
	struct rng *rng = dev->priv;

	ratelimit_fini(&rng->rl);
	free(rng);
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
	ratelimit_init(&((struct rng *)dev->priv)->rl);
	/* Made now, as blk's: rng_set_rate_limit() may run on the I/O thread. */
	if (ratelimit_prepare(&((struct rng *)dev->priv)->rl)) {
		int err = -errno;

		free(dev->priv);
		free(dev);
		return err;
	}
	dev->ops = &rng_ops;
	snprintf(dev->id, sizeof(dev->id), "%s", id);
	dev->host_features = VIRTIO_BIT(VIRTIO_F_EVENT_IDX) | VIRTIO_BIT(VIRTIO_F_INDIRECT_DESC);
	*out = dev;
	return 0;
}
