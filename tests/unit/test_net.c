// SPDX-License-Identifier: MIT
/*
 * virtio-net on a real tap, in a network namespace of this test's own
 * (unshare(CLONE_NEWNET) before any thread starts), driven by a fake
 * transport in this file: malloc'd guest RAM, the device's I/O thread, a
 * tiny driver writing descriptors and avail rings for the three queues.
 * The host side of the tap is an AF_PACKET socket on the tap interface:
 * frames the device writes arrive there, frames sent there reach the
 * device. Test frames use the local experimental ethertype 0x88b5 and
 * IPv6 is off in the namespace, so nothing else crosses the tap.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/capability.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/ethernet.h>
#include <net/if.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* evvm headers first, as everywhere. */
#include <evvm/devices.h>
#include <evvm/log.h>
#include <evvm/loop.h>
#include <evvm/tap.h>
#include <evvm/virtio.h>

#include <cmocka.h>

#include "../../devices/persist.h"
#include "capture.h"
#include "devtest.h"
#include "fakeguest.h"
#include "proc.h"

#define QSIZE	  256
#define RAM_GPA	  0x40000000ULL
#define RAM_SIZE  (8u << 20)
#define HEAP	  (RAM_GPA + 0x10000)
#define HDR	  12
#define ETHERTYPE 0x88b5
#define TAP	  "evvmt0"
#define TAP2	  "evvmt2" /* a restored clone's */

enum { RXQ, TXQ, CTRLQ, NQ };

static bool have_tap; /* root, /dev/net/tun, and our own namespace */

struct fake {
	struct fakeguest g; /* RAM and its heap */
	struct evvm_loop *loop;
	pthread_t thread;
	struct evvm_virtio_dev *dev;
	bool started;
	int pkt; /* AF_PACKET socket on the tap */
	int ifindex;
	struct fg_queue q[NQ]; /* the driver's side of each ring */
	atomic_int notifies[NQ], fails;
};

static uint64_t desc_gpa(unsigned int q)
{
	return RAM_GPA + q * 0x4000;
}

static uint64_t avail_gpa(unsigned int q)
{
	return desc_gpa(q) + 0x1000;
}

static uint64_t used_gpa(unsigned int q)
{
	return desc_gpa(q) + 0x2000;
}

static void *hva(struct fake *f, uint64_t gpa)
{
	void *p = fg_hva(&f->g, gpa, 1);

	assert_non_null(p);
	return p;
}

static uint64_t galloc(struct fake *f, uint32_t len)
{
	uint64_t gpa = fg_alloc(&f->g, len);

	assert_true(gpa != 0);
	return gpa;
}

static uint16_t used_idx(struct fake *f, unsigned int q)
{
	int idx = fg_used_idx(&f->g, &f->q[q]);

	assert_true(idx >= 0);
	return idx;
}

static struct vring_used_elem used_elem(struct fake *f, unsigned int q, uint16_t i)
{
	struct vring_used_elem e;

	assert_int_equal(fg_used_elem(&f->g, &f->q[q], i, &e), 0);
	return e;
}

/* Write a chain and make it available; returns its head. */
static uint16_t post_chain(struct fake *f, unsigned int q, const struct fg_seg *segs,
			   unsigned int n)
{
	int head = fg_post_chain(&f->g, &f->q[q], segs, n);

	assert_true(head >= 0);
	return head;
}

/* One device-writable buffer of @len bytes as an rx chain; returns its gpa. */
static uint64_t post_rx(struct fake *f, uint32_t len)
{
	struct fg_seg s = { galloc(f, len), len, true };

	memset(hva(f, s.gpa), 0xee, len);
	post_chain(f, RXQ, &s, 1);
	return s.gpa;
}

struct kick_arg {
	struct evvm_virtio_dev *dev;
	unsigned int q;
};

static int do_kick(void *opaque)
{
	struct kick_arg *a = opaque;

	a->dev->ops->kick(a->dev, a->q);
	return 0;
}

static void kick(struct fake *f, unsigned int q)
{
	struct kick_arg a = { f->dev, q };

	loop_call(f->loop, do_kick, &a);
}

/* Wait (10 s at most: a failure, not a timing assertion) until @q has @n more used entries. */
static uint16_t wait_used(struct fake *f, unsigned int q, uint16_t n)
{
	uint16_t first = f->q[q].used_seen;
	double t0 = now_s();

	while ((uint16_t)(used_idx(f, q) - first) < n) {
		if (now_s() - t0 > 10)
			fail_msg("queue %u: only %u of %u chains used", q,
				 (uint16_t)(used_idx(f, q) - first), n);
		usleep(100);
	}
	f->q[q].used_seen += n;
	return first;
}

static uint64_t counter(struct fake *f, const char *name)
{
	struct evvm_dev_counter c[EVVM_DEV_MAX_COUNTERS];
	unsigned int n = f->dev->ops->counters(f->dev, c, EVVM_DEV_MAX_COUNTERS);

	for (unsigned int i = 0; i < n; i++)
		if (!strcmp(c[i].name, name))
			return c[i].value;
	fail_msg("no counter %s", name);
	return 0;
}

static void wait_counter(struct fake *f, const char *name, uint64_t want)
{
	double t0 = now_s();

	while (counter(f, name) < want) {
		if (now_s() - t0 > 10)
			fail_msg("%s is %llu, expected %llu", name,
				 (unsigned long long)counter(f, name), (unsigned long long)want);
		usleep(100);
	}
}

/* The interrupt follows the used entry: wait for it rather than race it. */
static void wait_notifies(struct fake *f, unsigned int q, int want)
{
	double t0 = now_s();

	while (atomic_load(&f->notifies[q]) < want) {
		if (now_s() - t0 > 10)
			fail_msg("queue %u: %d interrupts, expected %d", q,
				 atomic_load(&f->notifies[q]), want);
		usleep(100);
	}
}

/* ---- the host side of the tap ---- */

static const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 1 };

/* A test frame: dst, src, ethertype, then a 32-bit sequence number and a pattern. */
static size_t make_frame(uint8_t *buf, size_t len, uint32_t seq, const uint8_t dst[6])
{
	uint16_t type = htons(ETHERTYPE);

	assert_true(len >= 18);
	memcpy(buf, dst, 6);
	memcpy(buf + 6, peer_mac, 6);
	memcpy(buf + 12, &type, 2);
	memcpy(buf + 14, &seq, 4);
	for (size_t i = 18; i < len; i++)
		buf[i] = (uint8_t)(seq + i);
	return len;
}

static void inject(struct fake *f, const uint8_t *frame, size_t len)
{
	struct sockaddr_ll sa = {
		.sll_family = AF_PACKET,
		.sll_ifindex = f->ifindex,
		.sll_halen = 6,
	};

	memcpy(sa.sll_addr, frame, 6);
	assert_int_equal(sendto(f->pkt, frame, len, 0, (struct sockaddr *)&sa, sizeof(sa)),
			 (ssize_t)len);
}

/* The next test frame the device sent into the tap (10 s at most); returns its length. */
static size_t capture(struct fake *f, uint8_t *buf, size_t size)
{
	double t0 = now_s();

	for (;;) {
		struct pollfd p = { .fd = f->pkt, .events = POLLIN };
		struct sockaddr_ll sa;
		socklen_t sl = sizeof(sa);
		ssize_t n;

		if (now_s() - t0 > 10)
			fail_msg("no frame on the tap");
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recvfrom(f->pkt, buf, size, 0, (struct sockaddr *)&sa, &sl);
		assert_true(n >= 0);
		if (sa.sll_pkttype == PACKET_OUTGOING || n < 14 || buf[12] != 0x88 ||
		    buf[13] != 0xb5)
			continue;
		return n;
	}
}

static void set_up(const char *name)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

/* ---- the fake transport ---- */

static void on_notify(struct evvm_virtio_dev *dev, unsigned int q)
{
	struct fake *f = dev->transport;

	assert_true(q < NQ);
	atomic_fetch_add(&f->notifies[q], 1);
}

static void on_fail(struct evvm_virtio_dev *dev)
{
	struct fake *f = dev->transport;

	atomic_fetch_add(&f->fails, 1);
}

/* Put @dev (on @tap) on the fake transport, bring the tap up, start with @features, kick. */
static void attach_dev(struct fake *f, struct evvm_virtio_dev *dev, const char *tap,
		       uint64_t features)
{
	static const char *const names[NQ] = { "net0.rx", "net0.tx", "net0.ctrl" };
	struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };

	f->dev = dev;
	dev->mem = &f->g.mem;
	dev->loop = f->loop;
	dev->notify = on_notify;
	dev->needs_reset = on_fail;
	dev->transport = f;
	set_up(tap);
	f->ifindex = if_nametoindex(tap);
	assert_true(f->ifindex > 0);
	f->pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(f->pkt >= 0);
	sa.sll_ifindex = f->ifindex;
	assert_int_equal(bind(f->pkt, (struct sockaddr *)&sa, sizeof(sa)), 0);

	dev->features = (features & dev->host_features) | VIRTIO_BIT(VIRTIO_F_VERSION_1);
	for (unsigned int q = 0; q < dev->ops->nr_queues; q++)
		assert_int_equal(vq_init(&dev->vqs[q], &f->g.mem, names[q], QSIZE, desc_gpa(q),
					 avail_gpa(q), used_gpa(q), dev->features),
				 0);
	assert_int_equal(devtest_start(f->loop, dev), 0);
	f->started = true;
	for (unsigned int q = 0; q < dev->ops->nr_queues; q++)
		kick(f, q);
}

/* Create the device on cfg->tap and attach_dev() it. */
static void attach(struct fake *f, const struct net_config *cfg, uint64_t features)
{
	struct evvm_virtio_dev *dev;

	assert_int_equal(net_create("net0", cfg, &dev), 0);
	attach_dev(f, dev, cfg->tap, features);
}

static const struct net_config default_cfg = {
	.tap = TAP,
	.mac = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x50 },
	.event_idx = true,
};

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	uint8_t *ram;

	if (!f)
		return -1;
	ram = aligned_alloc(4096, RAM_SIZE);
	if (!ram)
		return -1;
	memset(ram, 0, RAM_SIZE);
	if (fg_init(&f->g, ram, RAM_GPA, RAM_SIZE, HEAP) || loop_create(&f->loop, "net-test"))
		return -1;
	for (unsigned int q = 0; q < NQ; q++)
		if (fg_queue_init(&f->g, &f->q[q], desc_gpa(q), QSIZE))
			return -1;
	if (pthread_create(&f->thread, NULL, devtest_loop_thread, f->loop))
		return -1;
	f->pkt = -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fake *f = *state;

	if (f->dev && f->started)
		devtest_stop(f->loop, f->dev);
	loop_stop(f->loop);
	pthread_join(f->thread, NULL);
	virtio_dev_destroy(f->dev);
	loop_destroy(f->loop);
	if (f->pkt >= 0)
		close(f->pkt);
	free(f->g.ram);
	free(f);
	return 0;
}

/* Why there is no tap (set by own_netns()), for the skip message. */
static char no_tap_reason[128];

#define NEED_TAP()                                                                            \
	do {                                                                                  \
		if (!have_tap) {                                                              \
			print_message("skipped: no tap in a network namespace of the test's " \
				      "own: %s\n",                                            \
				      no_tap_reason);                                         \
			skip();                                                               \
		}                                                                             \
	} while (0)

static const uint8_t dev_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x50 };

#define ALL_FEATURES (~0ULL)
#define NO_MRG	     (~VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF))

/* ---- tests ---- */

static void test_features_and_config(void **state)
{
	struct fake *f = *state;
	struct net_config vu = default_cfg;
	struct evvm_virtio_dev *d2;
	uint8_t cfg[12];
	uint64_t feat;
	static const int want[] = {
		VIRTIO_NET_F_MAC,	VIRTIO_NET_F_STATUS,	 VIRTIO_NET_F_MRG_RXBUF,
		VIRTIO_NET_F_CSUM,	VIRTIO_NET_F_GUEST_CSUM, VIRTIO_NET_F_HOST_TSO4,
		VIRTIO_NET_F_HOST_TSO6, VIRTIO_NET_F_GUEST_TSO4, VIRTIO_NET_F_GUEST_TSO6,
		VIRTIO_NET_F_CTRL_VQ,	VIRTIO_NET_F_CTRL_RX,	 VIRTIO_F_EVENT_IDX,
		VIRTIO_F_INDIRECT_DESC,
	};

	NEED_TAP();
	attach(f, &default_cfg, ALL_FEATURES);
	feat = f->dev->host_features;
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++)
		assert_true(feat & VIRTIO_BIT(want[i]));
	assert_false(feat & VIRTIO_BIT(VIRTIO_NET_F_MQ));
	assert_false(feat & VIRTIO_BIT(VIRTIO_NET_F_MTU));
	assert_int_equal(f->dev->ops->device_id, VIRTIO_ID_NET);
	assert_int_equal(f->dev->ops->nr_queues, 3);
	assert_int_equal(f->dev->ops->config_size, 12);
	f->dev->ops->config_read(f->dev, 0, cfg, sizeof(cfg));
	assert_memory_equal(cfg, dev_mac, 6);
	assert_int_equal(cfg[6] | cfg[7] << 8, VIRTIO_NET_S_LINK_UP);
	assert_int_equal(cfg[8] | cfg[9] << 8, 1);
	assert_int_equal(cfg[10] | cfg[11] << 8, 0); /* mtu: VIRTIO_NET_F_MTU not offered */

	/* Behind vhost-user: rx and tx only, no control queue; event_idx=off is honoured. */
	vu.tap = "evvmt1";
	vu.vhost_user = true;
	vu.event_idx = false;
	assert_int_equal(net_create("net1", &vu, &d2), 0);
	assert_int_equal(d2->ops->nr_queues, 2);
	assert_false(d2->host_features & VIRTIO_BIT(VIRTIO_NET_F_CTRL_VQ));
	assert_false(d2->host_features & VIRTIO_BIT(VIRTIO_F_EVENT_IDX));
	virtio_dev_destroy(d2);
}

/* A frame in two descriptors (header, then data) comes out of the tap intact. */
static void test_tx(void **state)
{
	struct fake *f = *state;
	uint8_t frame[1514], got[2048];
	struct fg_seg s[2];
	uint16_t head;
	size_t n;

	NEED_TAP();
	attach(f, &default_cfg, ALL_FEATURES);
	make_frame(frame, sizeof(frame), 7, peer_mac);
	s[0] = (struct fg_seg){ galloc(f, HDR), HDR, false };
	s[1] = (struct fg_seg){ galloc(f, sizeof(frame)), sizeof(frame), false };
	memset(hva(f, s[0].gpa), 0, HDR);
	memcpy(hva(f, s[1].gpa), frame, sizeof(frame));
	head = post_chain(f, TXQ, s, 2);
	kick(f, TXQ);
	n = capture(f, got, sizeof(got));
	assert_int_equal(n, sizeof(frame));
	assert_memory_equal(got, frame, n);
	assert_int_equal(used_elem(f, TXQ, wait_used(f, TXQ, 1)).id, head);
	assert_int_equal(counter(f, "tx_packets"), 1);
	assert_int_equal(counter(f, "tx_bytes"), sizeof(frame));
	wait_notifies(f, TXQ, 1);
	assert_int_equal(atomic_load(&f->fails), 0);
}

/* A batch of frames: all sent, in order, one interrupt for the batch. */
static void test_tx_batch(void **state)
{
	struct fake *f = *state;
	enum { N = 32 };
	uint8_t got[2048];

	NEED_TAP();
	attach(f, &default_cfg, ALL_FEATURES);
	for (uint32_t i = 0; i < N; i++) {
		struct fg_seg s = { galloc(f, HDR + 100), HDR + 100, false };

		memset(hva(f, s.gpa), 0, HDR);
		make_frame(hva(f, s.gpa + HDR), 100, i, peer_mac);
		post_chain(f, TXQ, &s, 1);
	}
	kick(f, TXQ);
	for (uint32_t i = 0; i < N; i++) {
		uint32_t seq;

		assert_int_equal(capture(f, got, sizeof(got)), 100);
		memcpy(&seq, got + 14, 4);
		assert_int_equal(seq, i);
	}
	wait_used(f, TXQ, N);
	wait_notifies(f, TXQ, 1);
	assert_int_equal(atomic_load(&f->notifies[TXQ]), 1);
	assert_int_equal(counter(f, "tx_notifies"), 1);
}

/* A frame sent to the tap lands in an rx buffer with a header and num_buffers 1. */
static void rx_one(struct fake *f, uint64_t features)
{
	uint8_t frame[600];
	struct virtio_net_hdr_v1 h;
	struct vring_used_elem u;
	uint64_t buf;

	attach(f, &default_cfg, features);
	buf = post_rx(f, 2048);
	kick(f, RXQ);
	make_frame(frame, sizeof(frame), 42, dev_mac);
	inject(f, frame, sizeof(frame));
	u = used_elem(f, RXQ, wait_used(f, RXQ, 1));
	assert_int_equal(u.len, HDR + sizeof(frame));
	memcpy(&h, hva(f, buf), HDR);
	assert_int_equal(le16toh(h.num_buffers), 1);
	assert_int_equal(h.gso_type, VIRTIO_NET_HDR_GSO_NONE);
	assert_memory_equal(hva(f, buf + HDR), frame, sizeof(frame));
	assert_int_equal(counter(f, "rx_packets"), 1);
	assert_int_equal(counter(f, "rx_bytes"), sizeof(frame));
	wait_notifies(f, RXQ, 1);
}

static void test_rx(void **state)
{
	NEED_TAP();
	rx_one(*state, NO_MRG);
}

static int do_quiesce(void *opaque)
{
	struct evvm_virtio_dev *dev = opaque;

	return dev->ops->quiesce(dev, true);
}

static int do_resume(void *opaque)
{
	struct evvm_virtio_dev *dev = opaque;

	return dev->ops->quiesce(dev, false);
}

/*
 * vm_pause()'s part: while quiesced, a frame on the tap waits there and
 * the rx ring is not touched; resumed, the frame arrives whole.
 */
static void test_rx_paused(void **state)
{
	struct fake *f = *state;
	uint8_t frame[300];
	struct vring_used_elem u;
	uint64_t buf;

	NEED_TAP();
	attach(f, &default_cfg, NO_MRG);
	buf = post_rx(f, 2048);
	kick(f, RXQ);
	assert_int_equal(loop_call(f->loop, do_quiesce, f->dev), 0);
	make_frame(frame, sizeof(frame), 7, dev_mac);
	inject(f, frame, sizeof(frame));
	usleep(50000);
	assert_int_equal(used_idx(f, RXQ), 0);
	assert_int_equal(counter(f, "rx_packets"), 0);
	assert_int_equal(*(uint8_t *)hva(f, buf), 0xee); /* the buffer as posted */
	assert_int_equal(loop_call(f->loop, do_resume, f->dev), 0);
	u = used_elem(f, RXQ, wait_used(f, RXQ, 1));
	assert_int_equal(u.len, HDR + sizeof(frame));
	assert_memory_equal(hva(f, buf + HDR), frame, sizeof(frame));
	assert_int_equal(counter(f, "rx_packets"), 1);
}

static void test_rx_mrg_one_buffer(void **state)
{
	NEED_TAP();
	rx_one(*state, ALL_FEATURES);
}

/* MRG_RXBUF with 256-byte buffers: a 1000-byte frame spans four chains. */
static void test_rx_mrg_spans_chains(void **state)
{
	struct fake *f = *state;
	uint8_t frame[1000], got[HDR + 1000];
	struct virtio_net_hdr_v1 h;
	uint64_t bufs[8];
	size_t off = 0;
	uint16_t first;

	NEED_TAP();
	attach(f, &default_cfg, ALL_FEATURES);
	for (int i = 0; i < 8; i++)
		bufs[i] = post_rx(f, 256);
	kick(f, RXQ);
	make_frame(frame, sizeof(frame), 9, dev_mac);
	inject(f, frame, sizeof(frame));
	first = wait_used(f, RXQ, 4);
	for (int i = 0; i < 4; i++) {
		struct vring_used_elem u = used_elem(f, RXQ, first + i);

		assert_int_equal(u.id, i); /* one descriptor per chain, posted in order */
		assert_int_equal(u.len, i < 3 ? 256 : HDR + sizeof(frame) - 3 * 256);
		memcpy(got + off, hva(f, bufs[i]), u.len);
		off += u.len;
	}
	memcpy(&h, got, HDR);
	assert_int_equal(le16toh(h.num_buffers), 4);
	assert_memory_equal(got + HDR, frame, sizeof(frame));

	/* The next frame starts in the fifth buffer. */
	make_frame(frame, 100, 10, dev_mac);
	inject(f, frame, 100);
	assert_int_equal(used_elem(f, RXQ, wait_used(f, RXQ, 1)).len, HDR + 100);
	assert_memory_equal(hva(f, bufs[4] + HDR), frame, 100);
}

/*
 * The guest runs out of rx buffers: frames wait (in the tap and in the
 * device), the device stops reading, and with new buffers and a kick every
 * frame arrives once, in order.
 */
static void out_of_buffers(struct fake *f, uint64_t features)
{
	enum { N = 12 };
	uint64_t bufs[N];
	uint8_t frame[200];
	unsigned int posted = 0, seen = 0;

	attach(f, &default_cfg, features);
	for (; posted < 3; posted++)
		bufs[posted] = post_rx(f, 2048);
	kick(f, RXQ);
	for (uint32_t i = 0; i < N; i++)
		inject(f, frame, make_frame(frame, sizeof(frame), 1000 + i, dev_mac));
	/* The device has filled what it had and stalled with a frame pending. */
	wait_counter(f, "rx_stalls", 1);
	wait_used(f, RXQ, 3);
	assert_int_equal(used_idx(f, RXQ), 3);
	assert_int_equal(counter(f, "rx_packets"), 3);
	for (; seen < 3; seen++) {
		uint32_t seq;

		memcpy(&seq, hva(f, bufs[seen] + HDR + 14), 4);
		assert_int_equal(seq, 1000 + seen);
	}

	while (seen < N) {
		unsigned int batch = posted + 4 <= N ? 4 : N - posted;
		uint16_t first, k = 0;

		for (unsigned int i = 0; i < batch; i++, posted++)
			bufs[posted] = post_rx(f, 2048);
		kick(f, RXQ);
		first = wait_used(f, RXQ, posted - seen);
		for (; seen < posted; k++, seen++) {
			struct vring_used_elem u = used_elem(f, RXQ, first + k);
			uint32_t seq;

			assert_int_equal(u.id, seen);
			assert_int_equal(u.len, HDR + sizeof(frame));
			memcpy(&seq, hva(f, bufs[seen] + HDR + 14), 4);
			assert_int_equal(seq, 1000 + seen);
		}
		if (seen < N)
			wait_counter(f, "rx_stalls", 1 + seen / 4);
	}
	assert_int_equal(counter(f, "rx_packets"), N);
	assert_int_equal(atomic_load(&f->fails), 0);
}

static void test_out_of_buffers_event_idx(void **state)
{
	NEED_TAP();
	out_of_buffers(*state, ALL_FEATURES);
}

static void test_out_of_buffers_no_event_idx(void **state)
{
	NEED_TAP();
	out_of_buffers(*state, ALL_FEATURES & ~VIRTIO_BIT(VIRTIO_F_EVENT_IDX) & NO_MRG);
}

static int rx_inflight(void *opaque)
{
	struct evvm_virtio_dev *dev = opaque;

	return (int)dev->vqs[RXQ].inflight;
}

/*
 * MRG_RXBUF, a frame needing three buffers and only two posted: nothing is
 * pushed and nothing stays in flight (the two go back to the ring), and
 * with one more the frame arrives whole, in the same buffers.
 */
static void test_mrg_partial(void **state)
{
	struct fake *f = *state;
	uint8_t frame[600];
	uint64_t bufs[3];
	struct virtio_net_hdr_v1 h;
	uint16_t first;

	NEED_TAP();
	attach(f, &default_cfg, ALL_FEATURES);
	bufs[0] = post_rx(f, 256);
	bufs[1] = post_rx(f, 256);
	kick(f, RXQ);
	inject(f, frame, make_frame(frame, sizeof(frame), 5, dev_mac));
	wait_counter(f, "rx_stalls", 1);
	assert_int_equal(used_idx(f, RXQ), 0);
	assert_int_equal(loop_call(f->loop, rx_inflight, f->dev), 0);
	bufs[2] = post_rx(f, 256);
	kick(f, RXQ);
	first = wait_used(f, RXQ, 3);
	memcpy(&h, hva(f, bufs[0]), HDR);
	assert_int_equal(le16toh(h.num_buffers), 3);
	assert_int_equal(used_elem(f, RXQ, first + 2).len, HDR + sizeof(frame) - 512);
	assert_memory_equal(hva(f, bufs[0] + HDR), frame, 256 - HDR);
	assert_memory_equal(hva(f, bufs[1]), frame + 256 - HDR, 256);
	assert_memory_equal(hva(f, bufs[2]), frame + 512 - HDR, sizeof(frame) - 512 + HDR);
}

/* Bad tx chains are dropped and counted; the next frame goes through. */
static void test_tx_bad(void **state)
{
	struct fake *f = *state;
	enum { LONG = 65551 };
	struct fg_seg s;
	uint8_t got[2048];
	uint32_t seq;

	NEED_TAP();
	attach(f, &default_cfg, ALL_FEATURES);
	s = (struct fg_seg){ galloc(f, 8), 8, false }; /* shorter than the header */
	post_chain(f, TXQ, &s, 1);
	s = (struct fg_seg){ galloc(f, LONG), LONG, false };
	memset(hva(f, s.gpa), 0, HDR);
	make_frame(hva(f, s.gpa + HDR), LONG - HDR, 1, peer_mac);
	post_chain(f, TXQ, &s, 1);
	s = (struct fg_seg){ galloc(f, HDR + 60), HDR + 60, false };
	memset(hva(f, s.gpa), 0, HDR);
	make_frame(hva(f, s.gpa + HDR), 60, 2, peer_mac);
	post_chain(f, TXQ, &s, 1);
	kick(f, TXQ);
	wait_used(f, TXQ, 3);
	assert_int_equal(capture(f, got, sizeof(got)), 60);
	memcpy(&seq, got + 14, 4);
	assert_int_equal(seq, 2);
	assert_int_equal(counter(f, "tx_dropped_bad_header"), 1);
	assert_int_equal(counter(f, "tx_dropped_too_long"), 1);
	assert_int_equal(counter(f, "tx_packets"), 1);
	for (int i = 0; i < 3; i++)
		assert_int_equal(used_elem(f, TXQ, i).len, 0);
	assert_int_equal(atomic_load(&f->fails), 0);
}

/* Post a tx chain: a header with @flags and @gso_type, then a test frame of @len bytes. */
static void post_tx(struct fake *f, uint8_t flags, uint8_t gso_type, size_t len, uint32_t seq)
{
	struct virtio_net_hdr_v1 h = { .flags = flags, .gso_type = gso_type };
	struct fg_seg s = { galloc(f, HDR + len), HDR + len, false };

	if (gso_type != VIRTIO_NET_HDR_GSO_NONE)
		h.gso_size = 1448;
	memcpy(hva(f, s.gpa), &h, HDR);
	make_frame(hva(f, s.gpa + HDR), len, seq, peer_mac);
	post_chain(f, TXQ, &s, 1);
}

/*
 * The driver is held to what it negotiated (5.1.6.2): without HOST_TSO4 no
 * TCPv4 segmentation, without CSUM no NEEDS_CSUM, UFO and ECN never.
 */
static void test_tx_offloads_as_negotiated(void **state)
{
	struct fake *f = *state;
	uint64_t features =
		ALL_FEATURES & ~VIRTIO_BIT(VIRTIO_NET_F_HOST_TSO4) & ~VIRTIO_BIT(VIRTIO_NET_F_CSUM);
	uint8_t got[2048];
	uint32_t seq;

	NEED_TAP();
	attach(f, &default_cfg, features);
	post_tx(f, 0, VIRTIO_NET_HDR_GSO_TCPV4, 200, 1); /* TSO4 not negotiated */
	post_tx(f, VIRTIO_NET_HDR_F_NEEDS_CSUM, VIRTIO_NET_HDR_GSO_NONE, 60, 2); /* no CSUM */
	post_tx(f, 0, VIRTIO_NET_HDR_GSO_UDP, 200, 3); /* UFO: never offered */
	post_tx(f, 0, VIRTIO_NET_HDR_GSO_TCPV6 | VIRTIO_NET_HDR_GSO_ECN, 200, 4); /* ECN */
	post_tx(f, 0, VIRTIO_NET_HDR_GSO_NONE, 1514, 5); /* a full Ethernet frame */
	post_tx(f, 0, VIRTIO_NET_HDR_GSO_NONE, 60, 6);
	kick(f, TXQ);
	wait_used(f, TXQ, 6);
	assert_int_equal(capture(f, got, sizeof(got)), 1514);
	memcpy(&seq, got + 14, 4);
	assert_int_equal(seq, 5);
	assert_int_equal(capture(f, got, sizeof(got)), 60);
	memcpy(&seq, got + 14, 4);
	assert_int_equal(seq, 6);
	assert_int_equal(counter(f, "tx_dropped_bad_header"), 4);
	assert_int_equal(counter(f, "tx_packets"), 2);
	assert_int_equal(atomic_load(&f->fails), 0);
}

/* An rx chain too short for the header is returned empty and counted; the frame goes on. */
static void test_rx_too_short(void **state)
{
	struct fake *f = *state;
	uint8_t frame[100];
	uint64_t buf;

	NEED_TAP();
	attach(f, &default_cfg, ALL_FEATURES);
	post_rx(f, 8);
	buf = post_rx(f, 2048);
	kick(f, RXQ);
	inject(f, frame, make_frame(frame, sizeof(frame), 3, dev_mac));
	wait_used(f, RXQ, 2);
	assert_int_equal(used_elem(f, RXQ, 0).len, 0);
	assert_int_equal(used_elem(f, RXQ, 1).len, HDR + sizeof(frame));
	assert_memory_equal(hva(f, buf + HDR), frame, sizeof(frame));
	assert_int_equal(counter(f, "rx_dropped_too_short"), 1);
	assert_int_equal(atomic_load(&f->fails), 0);
}

/* Without MRG_RXBUF a frame larger than the chain is dropped and counted; the chain is reused. */
static void test_rx_too_long(void **state)
{
	struct fake *f = *state;
	uint8_t frame[1000];
	uint64_t buf;

	NEED_TAP();
	attach(f, &default_cfg, NO_MRG);
	buf = post_rx(f, 512);
	kick(f, RXQ);
	inject(f, frame, make_frame(frame, sizeof(frame), 1, dev_mac));
	inject(f, frame, make_frame(frame, 200, 2, dev_mac));
	wait_used(f, RXQ, 1);
	assert_int_equal(used_elem(f, RXQ, 0).len, HDR + 200);
	assert_memory_equal(hva(f, buf + HDR), frame, 200);
	assert_int_equal(counter(f, "rx_dropped_too_long"), 1);
}

static uint8_t ctrl(struct fake *f, uint8_t cls, uint8_t cmd)
{
	struct fg_seg s[2] = {
		{ galloc(f, 3), 3, false },
		{ galloc(f, 1), 1, true },
	};
	uint8_t *out = hva(f, s[0].gpa), *ack = hva(f, s[1].gpa);

	out[0] = cls;
	out[1] = cmd;
	out[2] = 1;
	*ack = 0xee;
	post_chain(f, CTRLQ, s, 2);
	kick(f, CTRLQ);
	assert_int_equal(used_elem(f, CTRLQ, wait_used(f, CTRLQ, 1)).len, 1);
	return *ack;
}

static void test_ctrl(void **state)
{
	struct fake *f = *state;

	NEED_TAP();
	attach(f, &default_cfg, ALL_FEATURES);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_PROMISC), VIRTIO_NET_OK);
	assert_int_equal(ctrl(f, VIRTIO_NET_CTRL_RX, VIRTIO_NET_CTRL_RX_ALLMULTI), VIRTIO_NET_OK);
	assert_int_equal(ctrl(f, 4 /* ANNOUNCE: not offered */, 0), VIRTIO_NET_ERR);
	assert_int_equal(counter(f, "ctrl_commands"), 3);
}

/* Stop with a frame pending: it is kept and delivered after the next start. */
static void test_pending_survives_reset(void **state)
{
	struct fake *f = *state;
	uint8_t frame[300];
	uint64_t buf;

	NEED_TAP();
	attach(f, &default_cfg, ALL_FEATURES);
	kick(f, RXQ); /* no buffers: the first frame is read and waits */
	inject(f, frame, make_frame(frame, sizeof(frame), 77, dev_mac));
	wait_counter(f, "rx_stalls", 1);
	devtest_stop(f->loop, f->dev);
	for (unsigned int q = 0; q < NQ; q++) {
		vq_reset(&f->dev->vqs[q]);
		assert_int_equal(fg_queue_init(&f->g, &f->q[q], desc_gpa(q), QSIZE), 0);
		assert_int_equal(vq_init(&f->dev->vqs[q], &f->g.mem, "q", QSIZE, desc_gpa(q),
					 avail_gpa(q), used_gpa(q), f->dev->features),
				 0);
	}
	memset(hva(f, RAM_GPA), 0, HEAP - RAM_GPA);
	assert_int_equal(devtest_start(f->loop, f->dev), 0);
	buf = post_rx(f, 2048);
	kick(f, RXQ);
	wait_used(f, RXQ, 1);
	assert_memory_equal(hva(f, buf + HDR), frame, sizeof(frame));
}

/* One tx chain, header and a 60-byte frame in one buffer. */
static void post_tx_60(struct fake *f, uint32_t seq)
{
	struct fg_seg s = { galloc(f, HDR + 60), HDR + 60, false };

	memset(hva(f, s.gpa), 0, HDR);
	make_frame(hva(f, s.gpa + HDR), 60, seq, peer_mac);
	post_chain(f, TXQ, &s, 1);
}

/*
 * A snapshot of the paused device (ops->save, virtio_dev_load) holding a
 * frame read from the tap that the guest had no buffer for, with a tx
 * limiter of 10 ops (refilled in 1000 s: nothing comes back during the
 * test) of which 3 are spent: built again on another tap, as a clone is,
 * it keeps the MAC and features, delivers that frame first, and lets 7
 * more frames out before the limiter holds the 8th (full buckets would let
 * 10 through); then frames cross its new tap.
 */
static void test_save_restore(void **state)
{
	struct fake *f = *state;
	static const struct evvm_rate_limit tx = { .ops = { .size = 10, .refill_ms = 1000000 } };
	const struct virtio_dev_env env = {
		.origin = "t.state",
		.format = 3,
		.tap = TAP2,
		.console = { -1, -1 },
	};
	uint8_t frame[300], again[200], mac[6];
	char *blob = malloc(EVVM_DEV_STATE_MAX);
	struct evvm_virtio_dev *dev;
	uint64_t offered, buf;
	int len;

	NEED_TAP();
	assert_non_null(blob);
	attach(f, &default_cfg, ALL_FEATURES);
	assert_int_equal(net_set_rate_limit(f->dev, NULL, &tx), 0);
	for (uint32_t i = 0; i < 3; i++)
		post_tx_60(f, i);
	kick(f, TXQ);
	wait_used(f, TXQ, 3);
	kick(f, RXQ); /* no buffers: the frame is read and waits */
	inject(f, frame, make_frame(frame, sizeof(frame), 77, dev_mac));
	wait_counter(f, "rx_stalls", 1);
	assert_int_equal(loop_call(f->loop, do_quiesce, f->dev), 0);
	len = f->dev->ops->save(f->dev, blob, EVVM_DEV_STATE_MAX);
	assert_int_equal(len, sizeof(struct net_persist) + HDR + sizeof(frame));
	offered = f->dev->host_features;
	devtest_stop(f->loop, f->dev);
	f->started = false;
	virtio_dev_destroy(f->dev);
	f->dev = NULL;
	close(f->pkt);
	f->pkt = -1;

	/* A tap that is not there is refused, not made (it would carry nothing). */
	assert_int_equal(virtio_dev_load(VIRTIO_ID_NET, "net0", blob, len, &env, &dev), -ENODEV);
	assert_int_equal(if_nametoindex(TAP2), 0);
	assert_int_equal(system("ip tuntap add dev " TAP2 " mode tap"), 0);
	assert_int_equal(virtio_dev_load(VIRTIO_ID_NET, "net0", blob, len, &env, &dev), 0);
	free(blob);
	dev->ops->config_read(dev, 0, mac, sizeof(mac));
	assert_memory_equal(mac, dev_mac, sizeof(mac));
	assert_int_equal(dev->host_features, offered);
	for (unsigned int q = 0; q < NQ; q++)
		assert_int_equal(fg_queue_init(&f->g, &f->q[q], desc_gpa(q), QSIZE), 0);
	memset(hva(f, RAM_GPA), 0, HEAP - RAM_GPA);
	attach_dev(f, dev, TAP2, ALL_FEATURES);
	buf = post_rx(f, 2048);
	kick(f, RXQ);
	wait_used(f, RXQ, 1);
	assert_memory_equal(hva(f, buf + HDR), frame, sizeof(frame));

	for (uint32_t i = 0; i < 7; i++)
		post_tx_60(f, 10 + i);
	kick(f, TXQ);
	wait_used(f, TXQ, 7);
	assert_int_equal(counter(f, "tx_rate_limiter_throttled"), 0);
	post_tx_60(f, 20);
	kick(f, TXQ);
	wait_counter(f, "tx_rate_limiter_throttled", 1);
	assert_int_equal(used_idx(f, TXQ), 7);

	buf = post_rx(f, 2048);
	kick(f, RXQ);
	inject(f, again, make_frame(again, sizeof(again), 78, dev_mac));
	wait_used(f, RXQ, 1);
	assert_memory_equal(hva(f, buf + HDR), again, sizeof(again));
	assert_int_equal(atomic_load(&f->fails), 0);
}

/*
 * The tap is deleted under the running device: it stops watching it (no
 * busy loop on the error epoll keeps reporting), and tx chains still come
 * back, counted as errors.
 */
static void test_tap_deleted(void **state)
{
	struct fake *f = *state;
	struct evvm_loop_stats a, b;
	struct fg_seg s;

	NEED_TAP();
	attach(f, &default_cfg, ALL_FEATURES);
	post_rx(f, 2048);
	kick(f, RXQ);
	assert_int_equal(system("ip link del " TAP), 0);
	usleep(100000);
	loop_get_stats(f->loop, &a);
	usleep(100000);
	loop_get_stats(f->loop, &b);
	assert_true(b.dispatches - a.dispatches < 10);
	s = (struct fg_seg){ galloc(f, HDR + 60), HDR + 60, false };
	memset(hva(f, s.gpa), 0, HDR);
	make_frame(hva(f, s.gpa + HDR), 60, 1, peer_mac);
	post_chain(f, TXQ, &s, 1);
	kick(f, TXQ);
	wait_used(f, TXQ, 1);
	assert_int_equal(counter(f, "tx_errors"), 1);
	assert_int_equal(counter(f, "tx_packets"), 0);
	assert_int_equal(atomic_load(&f->fails), 0);
}

/*
 * Host-side cost of the data path, without a guest: 64-byte frames through
 * the device, in rounds of up to 200 chains. Prints frames per second;
 * asserts only that every frame made it.
 */
static void test_rate(void **state)
{
	struct fake *f = *state;
	enum { ROUNDS = 100, BATCH = 200, LEN = 64 };
	uint64_t tx[BATCH], rx[BATCH];
	uint8_t frame[LEN];
	double t0, t_tx, t_rx;

	NEED_TAP();
	attach(f, &default_cfg, ALL_FEATURES);
	for (int i = 0; i < BATCH; i++) {
		tx[i] = galloc(f, HDR + LEN);
		memset(hva(f, tx[i]), 0, HDR);
		make_frame(hva(f, tx[i] + HDR), LEN, i, peer_mac);
		rx[i] = galloc(f, 2048);
	}
	t0 = now_s();
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < BATCH; i++)
			post_chain(f, TXQ, &(struct fg_seg){ tx[i], HDR + LEN, false }, 1);
		kick(f, TXQ);
		wait_used(f, TXQ, BATCH);
	}
	t_tx = now_s() - t0;
	t0 = now_s();
	for (int r = 0; r < ROUNDS; r++) {
		for (int i = 0; i < BATCH; i++)
			post_chain(f, RXQ, &(struct fg_seg){ rx[i], 2048, true }, 1);
		kick(f, RXQ);
		for (int i = 0; i < BATCH; i++)
			inject(f, frame, make_frame(frame, LEN, r * BATCH + i, dev_mac));
		wait_used(f, RXQ, BATCH);
	}
	t_rx = now_s() - t0;
	assert_int_equal(counter(f, "tx_packets"), ROUNDS * BATCH);
	assert_int_equal(counter(f, "rx_packets"), ROUNDS * BATCH);
	print_message("%d x %d-byte frames: tx %.0f frames/s (%llu interrupts), rx %.0f frames/s "
		      "(injection included; %llu interrupts, %llu stalls)\n",
		      ROUNDS * BATCH, LEN, ROUNDS * BATCH / t_tx,
		      (unsigned long long)counter(f, "tx_notifies"), ROUNDS * BATCH / t_rx,
		      (unsigned long long)counter(f, "rx_notifies"),
		      (unsigned long long)counter(f, "rx_stalls"));
}

/* ---- tap errors ---- */

/* Drop CAP_NET_ADMIN from this (child) process: creating taps or using others' is refused. */
static int drop_net_admin(void)
{
	struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
	struct __user_cap_data_struct d[2];

	if (syscall(SYS_capget, &h, d))
		return -1;
	d[CAP_NET_ADMIN / 32].effective &= ~(1u << (CAP_NET_ADMIN % 32));
	d[CAP_NET_ADMIN / 32].permitted &= ~(1u << (CAP_NET_ADMIN % 32));
	return syscall(SYS_capset, &h, d);
}

/* Run tap_open(@name) in a child, without CAP_NET_ADMIN if @drop; its stderr goes to @msg. */
static int open_in_child(const char *name, bool drop, char *msg, size_t size)
{
	int p[2], status;
	ssize_t n;
	pid_t pid;

	assert_int_equal(pipe(p), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		int fd;

		dup2(p[1], STDERR_FILENO);
		if (drop && drop_net_admin())
			_exit(100);
		fd = tap_open("net0", name);
		_exit(fd >= 0 ? 0 : -fd);
	}
	close(p[1]);
	n = read(p[0], msg, size - 1);
	msg[n > 0 ? n : 0] = 0;
	close(p[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return -WEXITSTATUS(status);
}

static void test_tap_errors(void **state)
{
	char msg[1024];
	struct ifreq ifr = { 0 };
	int fd, held;

	(void)state;
	NEED_TAP();
	/* Not a tap. */
	assert_int_equal(open_in_child("lo", false, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "net0: tap 'lo'"));
	assert_non_null(strstr(msg, "not a single-queue tap"));

	/* Busy: we hold it. */
	held = tap_open("test", "evvmbusy");
	assert_true(held >= 0);
	assert_int_equal(open_in_child("evvmbusy", false, msg, sizeof(msg)), -EBUSY);
	assert_non_null(strstr(msg, "tap 'evvmbusy'"));
	assert_non_null(strstr(msg, "EBUSY"));
	assert_non_null(strstr(msg, "another process"));
	close(held);

	/* Without CAP_NET_ADMIN: no such tap, or one that is not ours. */
	assert_int_equal(open_in_child("evvmnone", true, msg, sizeof(msg)), -ENOENT);
	assert_non_null(strstr(msg, "tap 'evvmnone': no such network device"));
	fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	assert_true(fd >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "evvmroot");
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	assert_int_equal(ioctl(fd, TUNSETIFF, &ifr), 0);
	assert_int_equal(ioctl(fd, TUNSETOWNER, 4242), 0); /* someone else's */
	assert_int_equal(ioctl(fd, TUNSETPERSIST, 1), 0);
	close(fd);
	assert_int_equal(open_in_child("evvmroot", true, msg, sizeof(msg)), -EPERM);
	assert_non_null(strstr(msg, "tap 'evvmroot': TUNSETIFF: EPERM"));
	fd = tap_open("test", "evvmroot");
	assert_true(fd >= 0);
	assert_int_equal(ioctl(fd, TUNSETPERSIST, 0), 0);
	close(fd);

	/* A name too long for an interface. */
	assert_int_equal(open_in_child("a-name-of-16-chr", false, msg, sizeof(msg)), -EINVAL);
	assert_non_null(strstr(msg, "1 to 15 characters"));
}

/* Put this process in a network namespace of its own, with IPv6 off (no stray frames). */
static bool own_netns(void)
{
	FILE *f;

	if (geteuid() != 0) {
		snprintf(no_tap_reason, sizeof(no_tap_reason), "needs root (euid %u)", geteuid());
		return false;
	}
	if (access("/dev/net/tun", R_OK | W_OK)) {
		snprintf(no_tap_reason, sizeof(no_tap_reason), "/dev/net/tun: %s", strerror(errno));
		return false;
	}
	if (unshare(CLONE_NEWNET)) {
		snprintf(no_tap_reason, sizeof(no_tap_reason), "unshare(CLONE_NEWNET): %s",
			 strerror(errno));
		return false;
	}
	f = fopen("/proc/sys/net/ipv6/conf/default/disable_ipv6", "w");
	if (f) {
		fputs("1\n", f);
		fclose(f);
	}
	return true;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(t) cmocka_unit_test_captured_setup_teardown(t, setup, teardown)
		T(test_features_and_config),
		T(test_tx),
		T(test_tx_batch),
		T(test_rx),
		T(test_rx_paused),
		T(test_rx_mrg_one_buffer),
		T(test_rx_mrg_spans_chains),
		T(test_out_of_buffers_event_idx),
		T(test_out_of_buffers_no_event_idx),
		T(test_mrg_partial),
		T(test_tx_bad),
		T(test_rx_too_short),
		T(test_rx_too_long),
		T(test_tx_offloads_as_negotiated),
		T(test_ctrl),
		T(test_pending_survives_reset),
		T(test_save_restore),
		T(test_tap_deleted),
		T(test_rate),
		T(test_tap_errors),
#undef T
	};

	have_tap = own_netns();
	return cmocka_run_group_tests(tests, NULL, NULL);
}
