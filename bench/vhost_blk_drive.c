// SPDX-License-Identifier: MIT
/*
 * bench/vhost-blk's guest: a vhost-user frontend session (evvm's frontend)
 * over a memfd of its own, and one driver thread per queue that writes
 * descriptors and the avail ring itself, kicks the queue's kick eventfd
 * and sleeps in a read() of the queue's own call eventfd. See vhost_blk.c.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#include <evvm/device.h>
#include <evvm/devices.h>
#include <evvm/iothread.h>
#include <evvm/log.h>
#include <evvm/loop.h>
#include <evvm/mem.h>
#include <evvm/virtio.h>
#include <evvm/virtqueue.h>

#include "bench.h"
#include "vhost_blk.h"

#include "../vhost/frontend.h"
#include "../vhost/frontend_int.h"

#define SECTOR 512

/* "Guest RAM": one memfd region, one area per queue; the layout inside an area. */
#define RAM_GPA		 0x100000ULL
#define AREA_SIZE	 0x40000u
#define RAM_SIZE	 (MAX_QUEUES * AREA_SIZE)
#define DESC_OFF	 0x0000	 /* 16 * QUEUE_NUM */
#define AVAIL_OFF	 0x1000	 /* 6 + 2 * QUEUE_NUM */
#define USED_OFF	 0x2000	 /* 6 + 8 * QUEUE_NUM */
#define HDR_OFF		 0x3000	 /* 16 per slot */
#define STATUS_OFF	 0x3800	 /* 1 per slot */
#define DATA_OFF	 0x10000 /* IO_BYTES per slot: 0x20000 at MAX_QD */

#define VIRTIO_BLK_T_IN	 0
#define VIRTIO_BLK_T_OUT 1
#define VIRTIO_BLK_S_OK	 0
#define VIRTIO_BLK_F_RO	 5

enum { FAIL_NONE, FAIL_RESET, FAIL_TIMEOUT, FAIL_PEER /* another queue's driver failed */ };

struct session;

/* The driver's side of one split ring, and what its thread measured. */
struct ring {
	struct session *s;
	unsigned int q;
	uint8_t *area; /* this queue's part of the RAM */
	uint64_t gpa;  /* and its guest address */
	struct vring_desc *desc;
	uint16_t *avail; /* flags, idx, ring[] */
	uint8_t *used;	 /* flags, idx, ring[] of vring_used_elem */
	uint16_t avail_idx, last_used;
	int kick_fd, call_fd;
	/* Counted over the timed part (after the warm-up), for -v. */
	bool counting;
	uint64_t kicks, kicks_skipped, sleeps;
	/* The thread's run. */
	const struct workload *w;
	uint64_t seed;
	uint64_t *lat; /* up to @n latencies, ns */
	unsigned int nlat;
	double t0, t_end;
	int rc;
};

/* One connection to a running backend, as the guest would drive it. */
struct session {
	struct evvm_virtio_dev *dev;
	struct evvm_iothread *io; /* the frontend's loop (socket hang-ups, timer) */
	struct evvm_mem mem;
	uint8_t *ram;
	int ram_fd, timer_fd;
	atomic_int failed; /* 0, or why the run must stop */
	unsigned int queues;
	struct ring rings[MAX_QUEUES];
	/* The timed part starts once every driver and the main thread are warm (or one failed). */
	pthread_mutex_t warm_lock;
	pthread_cond_t warm_cond;
	unsigned int warm_count;
	bool warm_open;
	const struct opts *o;
	const struct disk *d;
	const char *what;
};

/* ---- the frontend session ------------------------------------------------ */

static void sess_fail(struct session *s, int why)
{
	const uint64_t one = 1;
	int expected = FAIL_NONE;

	if (!atomic_compare_exchange_strong(&s->failed, &expected, why))
		return;
	/* Wake every driver that sleeps on its call eventfd. */
	for (unsigned int q = 0; q < s->queues; q++)
		if (s->rings[q].call_fd >= 0 && write(s->rings[q].call_fd, &one, sizeof(one)) < 0)
			continue;
}

static void sess_needs_reset(struct evvm_virtio_dev *dev)
{
	sess_fail(dev->transport, FAIL_RESET);
}

static void sess_notify(struct evvm_virtio_dev *dev, unsigned int q)
{
	(void)q;
	/* A vhost-user device signals through the call eventfds; this is never expected. */
	sess_fail(dev->transport, FAIL_RESET);
}

static void sess_timer(void *opaque, uint32_t events)
{
	struct session *s = opaque;
	uint64_t v;

	(void)events;
	if (read(s->timer_fd, &v, sizeof(v)) == sizeof(v))
		sess_fail(s, FAIL_TIMEOUT);
}

static int sess_start_on_loop(void *opaque)
{
	struct session *s = opaque;
	int err = loop_add(s->dev->loop, s->timer_fd, EPOLLIN, sess_timer, s);

	return err ? err : s->dev->ops->start(s->dev);
}

static int sess_stop_on_loop(void *opaque)
{
	struct session *s = opaque;

	if (s->dev) {
		s->dev->ops->stop(s->dev);
		virtio_dev_destroy(s->dev);
		s->dev = NULL;
	}
	loop_del(iothread_loop(s->io), s->timer_fd);
	return 0;
}

static void sess_init(struct session *s)
{
	memset(s, 0, sizeof(*s));
	pthread_mutex_init(&s->warm_lock, NULL);
	pthread_cond_init(&s->warm_cond, NULL);
	s->ram_fd = s->timer_fd = -1;
	for (unsigned int q = 0; q < MAX_QUEUES; q++)
		s->rings[q].kick_fd = s->rings[q].call_fd = -1;
}

/* Stops the rings (GET_VRING_BASE) and closes the socket. */
static void sess_close(struct session *s)
{
	if (s->io) {
		loop_call(iothread_loop(s->io), sess_stop_on_loop, s);
		iothread_destroy(s->io);
	} else if (s->dev) {
		virtio_dev_destroy(s->dev);
	}
	if (s->ram)
		munmap(s->ram, RAM_SIZE);
	if (s->ram_fd >= 0)
		close(s->ram_fd);
	for (unsigned int q = 0; q < MAX_QUEUES; q++) {
		if (s->rings[q].kick_fd >= 0)
			close(s->rings[q].kick_fd);
		if (s->rings[q].call_fd >= 0)
			close(s->rings[q].call_fd);
	}
	if (s->timer_fd >= 0)
		close(s->timer_fd);
	sess_init(s);
}

/* The RAM, a kick and a call eventfd per queue, the deadline timer; 0 or 1 after one line. */
static int sess_alloc(struct session *s)
{
	struct evvm_mem_region r;
	int err;

	s->ram_fd = memfd_create("vhost-blk-guest-ram", MFD_CLOEXEC);
	if (s->ram_fd < 0 || ftruncate(s->ram_fd, RAM_SIZE) < 0) {
		fprintf(stderr, "vhost-blk: guest RAM memfd: %s\n", evvm_strerror(errno));
		return 1;
	}
	s->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, s->ram_fd, 0);
	if (s->ram == MAP_FAILED) {
		s->ram = NULL;
		fprintf(stderr, "vhost-blk: mapping guest RAM: %s\n", evvm_strerror(errno));
		return 1;
	}
	for (unsigned int q = 0; q < s->queues; q++) {
		struct ring *g = &s->rings[q];

		/* The driver sleeps in read() on call_fd; kicks never block. */
		g->kick_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		g->call_fd = eventfd(0, EFD_CLOEXEC);
		if (g->kick_fd < 0 || g->call_fd < 0) {
			fprintf(stderr, "vhost-blk: eventfd: %s\n", evvm_strerror(errno));
			return 1;
		}
		g->s = s;
		g->q = q;
		g->area = s->ram + (size_t)q * AREA_SIZE;
		g->gpa = RAM_GPA + (uint64_t)q * AREA_SIZE;
		g->desc = (struct vring_desc *)(g->area + DESC_OFF);
		g->avail = (uint16_t *)(g->area + AVAIL_OFF);
		g->used = g->area + USED_OFF;
	}
	s->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
	if (s->timer_fd < 0) {
		fprintf(stderr, "vhost-blk: timerfd: %s\n", evvm_strerror(errno));
		return 1;
	}
	mem_init(&s->mem);
	r = (struct evvm_mem_region){
		.gpa = RAM_GPA, .size = RAM_SIZE, .hva = s->ram, .fd = s->ram_fd, .offset = 0
	};
	err = mem_add_region(&s->mem, &r);
	if (err) {
		fprintf(stderr, "vhost-blk: guest RAM region: %s\n", evvm_strerror(err));
		return 1;
	}
	return 0;
}

/* What the backend offers and reports is a disk this bench can use; 0 or 1 after one line. */
static int sess_check(struct session *s, const char *name, bool inflight)
{
	struct evvm_virtio_dev *dev = s->dev;
	const struct vhost_frontend *f = dev->priv;
	uint64_t capacity;

	if (!(dev->host_features & VIRTIO_BIT(VIRTIO_F_VERSION_1)) ||
	    (dev->host_features & VIRTIO_BIT(VIRTIO_BLK_F_RO))) {
		fprintf(stderr,
			"vhost-blk: %s offers features 0x%" PRIx64 ": want VERSION_1 and not RO\n",
			name, dev->host_features);
		return 1;
	}
	/* A row labelled "in-flight on" must have had the region. */
	if (inflight && !(f->conn.protocol & VIRTIO_BIT(VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD))) {
		fprintf(stderr,
			"vhost-blk: %s does not offer VHOST_USER_PROTOCOL_F_INFLIGHT_SHMFD "
			"(use --inflight=off)\n",
			name);
		return 1;
	}
	/* Config space: capacity (le64 at 0) must hold the whole disk. */
	dev->ops->config_read(dev, 0, &capacity, sizeof(capacity));
	if (capacity < s->d->blocks * (IO_BYTES / SECTOR)) {
		fprintf(stderr,
			"vhost-blk: %s reports a capacity of %" PRIu64
			" sectors, the disk has %" PRIu64 "\n",
			name, capacity, s->d->blocks * (IO_BYTES / SECTOR));
		return 1;
	}
	return 0;
}

/*
 * The backend shares each call eventfd's open file and may have made it
 * non-blocking (QEMU does that to every fd it receives). Make them blocking
 * again, so the drivers wait the same way, in one read(), whoever the
 * backend is; the backend's writes never block on them.
 */
static int sess_block_calls(struct session *s)
{
	for (unsigned int q = 0; q < s->queues; q++) {
		int flags = fcntl(s->rings[q].call_fd, F_GETFL);

		if (flags < 0 || fcntl(s->rings[q].call_fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
			fprintf(stderr, "vhost-blk: call eventfd: %s\n", evvm_strerror(errno));
			return 1;
		}
	}
	return 0;
}

/*
 * Connect to @sock, negotiate (the in-flight region only with @inflight),
 * share the RAM and start s->queues queues, with a deadline of @secs for
 * the whole run; 0, or 1 after one line (the frontend may have logged the
 * cause before it).
 */
static int sess_open(struct session *s, const char *name, const char *sock, bool inflight,
		     unsigned int secs)
{
	struct itimerspec its = { .it_value.tv_sec = secs };
	int call_fds[MAX_QUEUES];
	struct evvm_virtio_dev *dev;
	int err;

	if (sess_alloc(s))
		return 1;
	for (unsigned int q = 0; q < s->queues; q++)
		call_fds[q] = s->rings[q].call_fd;
	err = vhost_user_dev_create("vhost-blk", VIRTIO_ID_BLOCK,
				    &(struct vhost_user_opts){ .socket = sock,
							       .queues = s->queues,
							       .cancel_fd = -1,
							       .no_inflight = !inflight,
							       .call_fds = call_fds },
				    &dev);
	if (err) {
		fprintf(stderr, "vhost-blk: %s: connecting to %s: %s\n", name, sock,
			evvm_strerror(err));
		return 1;
	}
	s->dev = dev;
	if (sess_check(s, name, inflight))
		return 1;
	err = iothread_create("vhost-blk-fe", 0, &s->io);
	if (err) {
		fprintf(stderr, "vhost-blk: frontend thread: %s\n", evvm_strerror(err));
		return 1;
	}
	/* What a transport sets up, with this program as the guest. */
	dev->mem = &s->mem;
	dev->loop = iothread_loop(s->io);
	dev->transport = s;
	dev->notify = sess_notify;
	dev->needs_reset = sess_needs_reset;
	dev->call_fd = s->rings[0].call_fd; /* unused: each queue has its own */
	dev->features = VIRTIO_BIT(VIRTIO_F_VERSION_1);
	if (s->queues > 1)
		dev->features |= VIRTIO_BIT(VIRTIO_BLK_F_MQ);
	for (unsigned int q = 0; q < s->queues; q++) {
		static const char *const names[MAX_QUEUES] = {
			"vhost-blk.q0", "vhost-blk.q1", "vhost-blk.q2", "vhost-blk.q3",
			"vhost-blk.q4", "vhost-blk.q5", "vhost-blk.q6", "vhost-blk.q7",
		};
		const struct ring *g = &s->rings[q];

		dev->kick_fds[q] = g->kick_fd;
		err = vq_init(&dev->vqs[q], &s->mem, names[q], QUEUE_NUM, g->gpa + DESC_OFF,
			      g->gpa + AVAIL_OFF, g->gpa + USED_OFF, dev->features);
		if (err) {
			fprintf(stderr, "vhost-blk: vq_init: %s\n", evvm_strerror(err));
			return 1;
		}
	}
	if (timerfd_settime(s->timer_fd, 0, &its, NULL)) {
		fprintf(stderr, "vhost-blk: timerfd: %s\n", evvm_strerror(errno));
		return 1;
	}
	err = loop_call(dev->loop, sess_start_on_loop, s);
	if (err) {
		fprintf(stderr, "vhost-blk: %s: starting the queues: %s\n", name,
			evvm_strerror(err));
		return 1;
	}
	if (inflight && ((const struct vhost_frontend *)dev->priv)->inflight_fd < 0) {
		fprintf(stderr, "vhost-blk: %s: no in-flight region after the start\n", name);
		return 1;
	}
	return sess_block_calls(s);
}

/* ---- the driver ---------------------------------------------------------- */

/* Wait until every driver and the main thread are warm, or warm_open() opened the way. */
static void warm_wait(struct session *s)
{
	pthread_mutex_lock(&s->warm_lock);
	if (++s->warm_count == s->queues + 1)
		s->warm_open = true;
	if (s->warm_open)
		pthread_cond_broadcast(&s->warm_cond);
	while (!s->warm_open)
		pthread_cond_wait(&s->warm_cond, &s->warm_lock);
	pthread_mutex_unlock(&s->warm_lock);
}

/* Let every warm_wait() return (a driver failed: nobody waits for it). */
static void warm_release(struct session *s)
{
	pthread_mutex_lock(&s->warm_lock);
	s->warm_open = true;
	pthread_cond_broadcast(&s->warm_cond);
	pthread_mutex_unlock(&s->warm_lock);
}

static inline uint64_t xorshift(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

/* The fixed chain of slot @slot: header, data (device-writable for reads), status. */
static void build_chains(struct ring *g, const struct workload *w)
{
	for (unsigned int slot = 0; slot < w->qd; slot++) {
		struct vring_desc *dd = &g->desc[3 * slot];

		dd[0] = (struct vring_desc){ g->gpa + HDR_OFF + 16 * slot, 16, VRING_DESC_F_NEXT,
					     (uint16_t)(3 * slot + 1) };
		dd[1] = (struct vring_desc){ g->gpa + DATA_OFF + (uint64_t)IO_BYTES * slot,
					     IO_BYTES,
					     VRING_DESC_F_NEXT |
						     (w->write ? 0 : VRING_DESC_F_WRITE),
					     (uint16_t)(3 * slot + 2) };
		dd[2] = (struct vring_desc){ g->gpa + STATUS_OFF + slot, 1, VRING_DESC_F_WRITE, 0 };
	}
}

/* Fill slot @slot's header (and data, for a write) and put it in the avail ring (unpublished). */
static void queue_req(struct ring *g, const struct workload *w, unsigned int slot, uint64_t block)
{
	uint8_t *hdr = g->area + HDR_OFF + 16 * slot;
	const uint32_t type = w->write ? VIRTIO_BLK_T_OUT : VIRTIO_BLK_T_IN;
	const uint32_t reserved = 0;
	const uint64_t sector = block * (IO_BYTES / SECTOR);

	memcpy(hdr, &type, 4);
	memcpy(hdr + 4, &reserved, 4);
	memcpy(hdr + 8, &sector, 8);
	g->area[STATUS_OFF + slot] = 0xff;
	if (w->write) {
		const uint64_t v = disk_pattern(block * IO_BYTES);

		memcpy(g->area + DATA_OFF + (size_t)IO_BYTES * slot, &v, 8);
	}
	g->avail[2 + g->avail_idx % QUEUE_NUM] = 3 * slot;
	g->avail_idx++;
}

/* Publish what queue_req() added, and kick unless the backend said not to. */
static int publish(struct ring *g)
{
	const uint64_t one = 1;
	uint16_t used_flags;

	/* Descriptors, headers, data and ring entries before the index. */
	__atomic_store_n(&g->avail[1], g->avail_idx, __ATOMIC_RELEASE);
	/* The index store before the flags load (a full barrier, 2.7.13.4). */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	used_flags = __atomic_load_n((uint16_t *)g->used, __ATOMIC_RELAXED);
	if (used_flags & VRING_USED_F_NO_NOTIFY) {
		g->kicks_skipped += g->counting;
		return 0;
	}
	g->kicks += g->counting;
	if (write(g->kick_fd, &one, sizeof(one)) != sizeof(one)) {
		fprintf(stderr, "vhost-blk: kick queue %u: %s\n", g->q, evvm_strerror(errno));
		return -1;
	}
	return 0;
}

/* Sleep on the call eventfd until the used index moves; its value, or -1 after one line. */
static int wait_used(struct ring *g, const char *what)
{
	for (;;) {
		uint16_t idx = __atomic_load_n((uint16_t *)(g->used + 2), __ATOMIC_ACQUIRE);
		uint64_t v;
		ssize_t r;

		if (idx != g->last_used)
			return idx;
		switch (atomic_load(&g->s->failed)) {
		case FAIL_RESET:
			fprintf(stderr, "vhost-blk: %s: the backend hung up or broke the queue\n",
				what);
			return -1;
		case FAIL_TIMEOUT:
			fprintf(stderr,
				"vhost-blk: %s: did not finish in time (%u of queue %u's requests "
				"outstanding)\n",
				what, (uint16_t)(g->avail_idx - g->last_used), g->q);
			return -1;
		case FAIL_PEER:
			return -1;
		}
		g->sleeps += g->counting;
		r = read(g->call_fd, &v, sizeof(v));
		if (r < 0 && errno == EAGAIN) {
			/* The backend made the shared eventfd non-blocking. */
			struct pollfd pfd = { g->call_fd, POLLIN, 0 };

			poll(&pfd, 1, -1);
		} else if (r < 0 && errno != EINTR) {
			fprintf(stderr, "vhost-blk: %s: reading the call eventfd: %s\n", what,
				evvm_strerror(errno));
			return -1;
		}
	}
}

/* Slot state of one driver. */
struct slots {
	double t_sub[MAX_QD];
	unsigned int seq[MAX_QD], submitted, completed, nlat;
	uint64_t block[MAX_QD], x;
};

static void submit(struct ring *g, struct slots *st, unsigned int slot, double t)
{
	st->block[slot] = xorshift(&st->x) % g->s->d->blocks;
	st->seq[slot] = st->submitted++;
	st->t_sub[slot] = t;
	queue_req(g, g->w, slot, st->block[slot]);
}

/* Check the used element @id (status, data) and free its slot; 0, or 1 after one line. */
static int complete(struct ring *g, struct slots *st, uint32_t id, double t)
{
	const struct workload *w = g->w;
	const char *what = g->s->what;
	unsigned int slot = id / 3;
	uint8_t status;

	if (id % 3 || slot >= w->qd || st->t_sub[slot] < 0) {
		fprintf(stderr,
			"vhost-blk: %s: queue %u returned id %u, which is no request in flight\n",
			what, g->q, id);
		return 1;
	}
	status = g->area[STATUS_OFF + slot];
	if (status != VIRTIO_BLK_S_OK) {
		fprintf(stderr, "vhost-blk: %s: %s of block %" PRIu64 " failed with status %u\n",
			what, w->rw, st->block[slot], status);
		return 1;
	}
	if (!w->write) {
		uint64_t v;

		memcpy(&v, g->area + DATA_OFF + (size_t)IO_BYTES * slot, 8);
		if (v != disk_pattern(st->block[slot] * IO_BYTES)) {
			fprintf(stderr,
				"vhost-blk: %s: read of block %" PRIu64
				" returned the wrong data\n",
				what, st->block[slot]);
			return 1;
		}
	}
	/* Not those in flight while the drivers waited for each other. */
	if (g->counting && st->t_sub[slot] >= g->t0 && st->nlat < g->s->o->n)
		g->lat[st->nlat++] = (uint64_t)(t - st->t_sub[slot]);
	st->t_sub[slot] = -1;
	st->completed++;
	return 0;
}

/*
 * One queue's driver: warm-up, wait at the barrier for the others, then
 * the timed requests; g->rc 0, or 1 after one line.
 */
static void *drive(void *opaque)
{
	struct ring *g = opaque;
	struct session *s = g->s;
	const unsigned int warmup = s->o->warmup, total = warmup + s->o->n;
	struct slots st = { .x = g->seed * DISK_GOLDEN | 1 };
	double t;

	g->rc = 1;
	for (unsigned int slot = 0; slot < MAX_QD; slot++)
		st.t_sub[slot] = -1;
	build_chains(g, g->w);
	t = now_ns();
	for (unsigned int slot = 0; slot < g->w->qd && st.submitted < total; slot++)
		submit(g, &st, slot, t);
	if (publish(g))
		goto out;
	while (st.completed < total) {
		int idx = wait_used(g, s->what);
		unsigned int refill = 0;

		if (idx < 0)
			goto out;
		t = now_ns();
		while (g->last_used != (uint16_t)idx) {
			const struct vring_used_elem *e =
				(const struct vring_used_elem *)(g->used + 4) +
				g->last_used % QUEUE_NUM;
			unsigned int slot = e->id / 3;

			g->last_used++;
			if (complete(g, &st, e->id, t))
				goto out;
			if (st.completed == warmup) {
				/* The others' warm-ups too; this queue's requests stay in flight.
				 */
				warm_wait(s);
				t = g->t0 = now_ns();
				g->counting = true;
			}
			if (st.submitted < total) {
				submit(g, &st, slot, now_ns());
				refill++;
			}
		}
		g->t_end = t;
		if (refill && publish(g))
			goto out;
	}
	g->rc = 0;
out:
	g->nlat = st.nlat;
	if (g->rc) {
		sess_fail(s, FAIL_PEER);
		warm_release(s);
	}
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return (x > y) - (x < y);
}

/*
 * Start a driver per queue, take the backend's CPU clock when they are all
 * warm and when they are done; the figures in @out. 0, or 1 after one line.
 */
static int sess_drive(struct session *s, pid_t backend, struct sample *out)
{
	const unsigned int n = s->o->n;
	struct timespec cpu0 = { 0 }, cpu1;
	pthread_t threads[MAX_QUEUES];
	unsigned int started = 0, nlat = 0;
	clockid_t cpu_clock;
	bool have_cpu;
	double sum = 0;
	uint64_t *lat;
	int rc = 0;

	lat = calloc((size_t)n * s->queues, sizeof(*lat));
	if (!lat) {
		fprintf(stderr, "vhost-blk: %s\n", evvm_strerror(ENOMEM));
		return 1;
	}
	have_cpu = !clock_getcpuclockid(backend, &cpu_clock);
	for (unsigned int q = 0; q < s->queues; q++) {
		s->rings[q].lat = lat + (size_t)q * n;
		if (pthread_create(&threads[q], NULL, drive, &s->rings[q]))
			break;
		started++;
	}
	if (started < s->queues) {
		fprintf(stderr, "vhost-blk: driver thread: %s\n", evvm_strerror(EAGAIN));
		sess_fail(s, FAIL_PEER);
		warm_release(s);
		rc = 1;
	}
	warm_wait(s);
	have_cpu = have_cpu && !clock_gettime(cpu_clock, &cpu0);
	for (unsigned int q = 0; q < started; q++) {
		pthread_join(threads[q], NULL);
		rc |= s->rings[q].rc;
	}
	have_cpu = have_cpu && !clock_gettime(cpu_clock, &cpu1);
	out->iops = 0;
	for (unsigned int q = 0; !rc && q < s->queues; q++) {
		const struct ring *g = &s->rings[q];

		out->iops += n / ((g->t_end - g->t0) / 1e9);
		for (unsigned int i = 0; i < g->nlat; i++) {
			lat[nlat++] = g->lat[i];
			sum += g->lat[i];
		}
	}
	if (!rc && nlat) {
		qsort(lat, nlat, sizeof(*lat), cmp_u64);
		out->mean_us = sum / nlat / 1e3;
		out->p99_us = lat[(nlat * 99 + 99) / 100 - 1] / 1e3;
		out->cpu_us = have_cpu ? ((cpu1.tv_sec - cpu0.tv_sec) * 1e9 +
					  (cpu1.tv_nsec - cpu0.tv_nsec)) /
						 1e3 / ((double)n * s->queues)
				       : -1;
	}
	free(lat);
	return rc;
}

int session_run(const struct opts *o, const struct disk *d, const char *name, const char *sock,
		pid_t backend, unsigned int queues, bool inflight, const struct workload *w,
		unsigned int seed, unsigned int deadline_s, struct sample *out, const char *what)
{
	struct session *s = malloc(sizeof(*s));
	uint64_t kicks = 0, skipped = 0, sleeps = 0;
	int rc = 1;

	if (!s) {
		fprintf(stderr, "vhost-blk: %s\n", evvm_strerror(ENOMEM));
		return 1;
	}
	sess_init(s);
	s->queues = queues;
	s->o = o;
	s->d = d;
	s->what = what;
	for (unsigned int q = 0; q < queues; q++) {
		s->rings[q].w = w;
		/* Different offsets per queue, the same for every backend. */
		s->rings[q].seed = (uint64_t)seed * MAX_QUEUES + q;
	}
	if (sess_open(s, name, sock, inflight, deadline_s))
		goto out;
	if (sess_drive(s, backend, out))
		goto out;
	for (unsigned int q = 0; q < queues; q++) {
		kicks += s->rings[q].kicks;
		skipped += s->rings[q].kicks_skipped;
		sleeps += s->rings[q].sleeps;
	}
	if (o->verbose)
		fprintf(stderr,
			"vhost-blk: %s: %.0f IOPS, mean %.1f us, p99 %.1f us, backend CPU %.2f "
			"us/req; per request: %.2f kicks, %.2f kicks skipped (NO_NOTIFY), "
			"%.2f sleeps on the call eventfd\n",
			what, out->iops, out->mean_us, out->p99_us, out->cpu_us,
			(double)kicks / o->n / queues, (double)skipped / o->n / queues,
			(double)sleeps / o->n / queues);
	rc = 0;
out:
	sess_close(s);
	free(s);
	return rc;
}
