// SPDX-License-Identifier: MIT
/*
 * virtio-net's rate limiters (net_set_rate_limit, Firecracker's
 * rx_rate_limiter and tx_rate_limiter) on a real tap in a network
 * namespace of the test's own, driven by a fake transport as in
 * test_net.c: a frame short of tokens waits (tx: in the ring; rx: read
 * and held), none is lost, and a new limit or the timer lets it go.
 * Buckets that refill in a minute stand for "no refill" within a test.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_packet.h>
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
#include <unistd.h>

#include <evvm/devices.h>
#include <evvm/loop.h>
#include <evvm/virtio.h>

#include <cmocka.h>

#include "devtest.h"
#include "fakeguest.h"
#include "proc.h"

#define QSIZE	  256
#define RAM_GPA	  0x40000000ULL
#define RAM_SIZE  (8u << 20)
#define HEAP	  (RAM_GPA + 0x10000)
#define HDR	  12
#define FRAME	  100 /* bytes of a test frame, without the vnet header */
#define ETHERTYPE 0x88b5
#define TAP	  "evvmr0"

enum { RXQ, TXQ, CTRLQ, NQ };

static bool have_tap;
static char no_tap_reason[128];

static const uint8_t dev_mac[6] = { 0x52, 0x54, 0x00, 0x12, 0x34, 0x50 };
static const uint8_t peer_mac[6] = { 0x02, 0, 0, 0, 0, 1 };
static const struct evvm_rate_limit none;

struct fake {
	struct fakeguest g;
	struct evvm_loop *loop;
	pthread_t thread;
	struct evvm_virtio_dev *dev;
	bool started;
	int pkt, ifindex;
	struct fg_queue q[NQ];
	atomic_int fails;
};

#define NEED_TAP()                                                                            \
	do {                                                                                  \
		if (!have_tap) {                                                              \
			print_message("skipped: no tap in a network namespace of the test's " \
				      "own: %s\n",                                            \
				      no_tap_reason);                                         \
			skip();                                                               \
		}                                                                             \
	} while (0)

static uint64_t desc_gpa(unsigned int q)
{
	return RAM_GPA + q * 0x4000;
}

static void *hva(struct fake *f, uint64_t gpa)
{
	void *p = fg_hva(&f->g, gpa, 1);

	assert_non_null(p);
	return p;
}

static uint16_t used_idx(struct fake *f, unsigned int q)
{
	int idx = fg_used_idx(&f->g, &f->q[q]);

	assert_true(idx >= 0);
	return idx;
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

/* Wait (10 s at most: a failure bound, not a timing assertion) for @name to reach @want. */
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

static void wait_used(struct fake *f, unsigned int q, uint16_t n)
{
	double t0 = now_s();

	while (used_idx(f, q) < n) {
		if (now_s() - t0 > 10)
			fail_msg("queue %u: %u of %u chains used", q, used_idx(f, q), n);
		usleep(100);
	}
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

/* A test frame: @dst, our peer, the test ethertype, @seq, a pattern. */
static void make_frame(uint8_t *buf, uint32_t seq, const uint8_t dst[6])
{
	uint16_t type = htons(ETHERTYPE);

	memcpy(buf, dst, 6);
	memcpy(buf + 6, peer_mac, 6);
	memcpy(buf + 12, &type, 2);
	memcpy(buf + 14, &seq, 4);
	for (size_t i = 18; i < FRAME; i++)
		buf[i] = (uint8_t)(seq + i);
}

/* A tx chain: a zero header, then frame @seq. */
static void post_tx(struct fake *f, uint32_t seq)
{
	struct fg_seg s = { fg_alloc(&f->g, HDR + FRAME), HDR + FRAME, false };

	assert_true(s.gpa);
	memset(hva(f, s.gpa), 0, HDR);
	make_frame(hva(f, s.gpa + HDR), seq, peer_mac);
	assert_true(fg_post_chain(&f->g, &f->q[TXQ], &s, 1) >= 0);
}

/* An rx buffer of 2 KiB; returns its gpa. */
static uint64_t post_rx(struct fake *f)
{
	struct fg_seg s = { fg_alloc(&f->g, 2048), 2048, true };

	assert_true(s.gpa);
	assert_true(fg_post_chain(&f->g, &f->q[RXQ], &s, 1) >= 0);
	return s.gpa;
}

static void inject(struct fake *f, uint32_t seq)
{
	struct sockaddr_ll sa = { .sll_family = AF_PACKET,
				  .sll_ifindex = f->ifindex,
				  .sll_halen = 6 };
	uint8_t frame[FRAME];

	make_frame(frame, seq, dev_mac);
	memcpy(sa.sll_addr, frame, 6);
	assert_int_equal(sendto(f->pkt, frame, FRAME, 0, (struct sockaddr *)&sa, sizeof(sa)),
			 FRAME);
}

/* The next test frame the device sent into the tap (10 s at most); returns its seq. */
static uint32_t capture(struct fake *f)
{
	double t0 = now_s();
	uint8_t buf[2048];
	uint32_t seq;

	for (;;) {
		struct pollfd p = { .fd = f->pkt, .events = POLLIN };
		struct sockaddr_ll sa;
		socklen_t sl = sizeof(sa);
		ssize_t n;

		if (now_s() - t0 > 10)
			fail_msg("no frame on the tap");
		if (poll(&p, 1, 100) <= 0)
			continue;
		n = recvfrom(f->pkt, buf, sizeof(buf), 0, (struct sockaddr *)&sa, &sl);
		assert_true(n >= 0);
		if (sa.sll_pkttype == PACKET_OUTGOING || n != FRAME || buf[12] != 0x88 ||
		    buf[13] != 0xb5)
			continue;
		memcpy(&seq, buf + 14, 4);
		return seq;
	}
}

/* Whether a test frame is on the tap now (nothing waited for). */
static bool tap_has_frame(struct fake *f)
{
	uint8_t buf[2048];
	struct sockaddr_ll sa;
	socklen_t sl = sizeof(sa);
	ssize_t n;

	while ((n = recvfrom(f->pkt, buf, sizeof(buf), MSG_DONTWAIT, (struct sockaddr *)&sa,
			     &sl)) >= 0)
		if (sa.sll_pkttype != PACKET_OUTGOING && n == FRAME && buf[12] == 0x88)
			return true;
	return false;
}

static void on_notify(struct evvm_virtio_dev *dev, unsigned int q)
{
	(void)dev, (void)q;
}

static void on_fail(struct evvm_virtio_dev *dev)
{
	struct fake *f = dev->transport;

	atomic_fetch_add(&f->fails, 1);
}

static void tap_up(void)
{
	struct ifreq ifr = { 0 };
	int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	assert_true(s >= 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", TAP);
	assert_int_equal(ioctl(s, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	assert_int_equal(ioctl(s, SIOCSIFFLAGS, &ifr), 0);
	close(s);
}

/*
 * Create the device with @rx and @tx limits set before it is on a
 * transport (NULL: none), bring the tap up, start, kick every queue.
 */
static void attach(struct fake *f, const struct evvm_rate_limit *rx,
		   const struct evvm_rate_limit *tx)
{
	static const char *const names[NQ] = { "net0.rx", "net0.tx", "net0.ctrl" };
	const struct net_config cfg = { .tap = TAP, .mac = { 0x52, 0x54, 0, 0x12, 0x34, 0x50 } };
	struct sockaddr_ll sa = { .sll_family = AF_PACKET, .sll_protocol = htons(ETH_P_ALL) };
	struct evvm_virtio_dev *dev;

	assert_int_equal(net_create("net0", &cfg, &f->dev), 0);
	dev = f->dev;
	if (rx || tx)
		assert_int_equal(net_set_rate_limit(dev, rx, tx), 0);
	dev->mem = &f->g.mem;
	dev->loop = f->loop;
	dev->notify = on_notify;
	dev->needs_reset = on_fail;
	dev->transport = f;
	tap_up();
	f->ifindex = if_nametoindex(TAP);
	assert_true(f->ifindex > 0);
	f->pkt = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC, htons(ETH_P_ALL));
	assert_true(f->pkt >= 0);
	sa.sll_ifindex = f->ifindex;
	assert_int_equal(bind(f->pkt, (struct sockaddr *)&sa, sizeof(sa)), 0);
	/* Without MRG_RXBUF: one frame, one rx buffer. */
	dev->features = (dev->host_features & ~VIRTIO_BIT(VIRTIO_NET_F_MRG_RXBUF)) |
			VIRTIO_BIT(VIRTIO_F_VERSION_1);
	for (unsigned int q = 0; q < NQ; q++)
		assert_int_equal(vq_init(&dev->vqs[q], &f->g.mem, names[q], QSIZE, desc_gpa(q),
					 desc_gpa(q) + 0x1000, desc_gpa(q) + 0x2000, dev->features),
				 0);
	assert_int_equal(devtest_start(f->loop, dev), 0);
	f->started = true;
	for (unsigned int q = 0; q < NQ; q++)
		kick(f, q);
}

static int setup(void **state)
{
	struct fake *f = calloc(1, sizeof(*f));
	uint8_t *ram = aligned_alloc(4096, RAM_SIZE);

	if (!f || !ram)
		return -1;
	memset(ram, 0, RAM_SIZE);
	if (fg_init(&f->g, ram, RAM_GPA, RAM_SIZE, HEAP) || loop_create(&f->loop, "net-rl-test"))
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
	if (f->dev)
		virtio_dev_destroy(f->dev);
	loop_destroy(f->loop);
	if (f->pkt >= 0)
		close(f->pkt);
	free(f->g.ram);
	free(f);
	return 0;
}

/* ---- tests ---- */

/*
 * A tx ops bucket of 3 that does not refill: of 8 frames exactly 3 reach
 * the tap within the kick, the other 5 wait in the ring (more kicks do not
 * move them); removing the limit sends them, in order, none lost.
 */
static void test_tx_ops(void **state)
{
	struct fake *f = *state;
	const struct evvm_rate_limit three = { .ops = { .size = 3, .refill_ms = 60000 } };

	NEED_TAP();
	attach(f, NULL, &three);
	for (uint32_t i = 0; i < 8; i++)
		post_tx(f, i);
	kick(f, TXQ);
	assert_int_equal(used_idx(f, TXQ), 3);
	assert_int_equal(counter(f, "tx_packets"), 3);
	assert_int_equal(counter(f, "tx_rate_limiter_throttled"), 1);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(capture(f), i);
	kick(f, TXQ);
	assert_int_equal(used_idx(f, TXQ), 3);
	assert_false(tap_has_frame(f));

	assert_int_equal(net_set_rate_limit(f->dev, NULL, &none), 0);
	assert_int_equal(used_idx(f, TXQ), 8);
	for (uint32_t i = 3; i < 8; i++)
		assert_int_equal(capture(f), i);
	assert_int_equal(counter(f, "tx_packets"), 8);
	assert_int_equal(counter(f, "tx_rate_limiter_throttled"), 1);
	assert_int_equal(counter(f, "rx_rate_limiter_throttled"), 0);
	assert_int_equal(atomic_load(&f->fails), 0);
}

/*
 * An rx ops bucket of 2: of 5 frames on the tap 2 are delivered; the
 * third is read and held (the tap is no longer watched, so the rest stay
 * there); a new limit with room delivers all three, in order.
 */
static void test_rx_ops(void **state)
{
	struct fake *f = *state;
	const struct evvm_rate_limit two = { .ops = { .size = 2, .refill_ms = 60000 } };
	const struct evvm_rate_limit ten = { .ops = { .size = 10, .refill_ms = 60000 } };
	uint64_t buf[8];

	NEED_TAP();
	attach(f, &two, NULL);
	for (int i = 0; i < 8; i++)
		buf[i] = post_rx(f);
	kick(f, RXQ);
	for (uint32_t i = 0; i < 5; i++)
		inject(f, i);
	wait_counter(f, "rx_rate_limiter_throttled", 1);
	assert_int_equal(used_idx(f, RXQ), 2);
	assert_int_equal(counter(f, "rx_packets"), 2);
	kick(f, RXQ); /* buffers are not what it waits for */
	assert_int_equal(used_idx(f, RXQ), 2);

	assert_int_equal(net_set_rate_limit(f->dev, &ten, NULL), 0);
	wait_used(f, RXQ, 5);
	for (uint32_t i = 0; i < 5; i++) {
		struct vring_used_elem u;
		uint32_t seq;

		assert_int_equal(fg_used_elem(&f->g, &f->q[RXQ], i, &u), 0);
		assert_int_equal(u.len, HDR + FRAME);
		memcpy(&seq, hva(f, buf[i] + HDR + 14), 4);
		assert_int_equal(seq, i);
	}
	assert_int_equal(counter(f, "rx_packets"), 5);
	assert_int_equal(counter(f, "rx_rate_limiter_throttled"), 1);
	assert_int_equal(counter(f, "tx_rate_limiter_throttled"), 0);
	assert_int_equal(atomic_load(&f->fails), 0);
}

/*
 * A tx bandwidth bucket of two frames (vnet header included) refilled in
 * 50 ms: all 6 frames of one kick go, in order, the timer sending those
 * that waited (at least 4 could not go at once).
 */
static void test_tx_bandwidth_timer(void **state)
{
	struct fake *f = *state;
	const struct evvm_rate_limit bw = {
		.bandwidth = { .size = 2 * (HDR + FRAME), .refill_ms = 50 },
	};

	NEED_TAP();
	attach(f, NULL, &bw);
	for (uint32_t i = 0; i < 6; i++)
		post_tx(f, i);
	kick(f, TXQ);
	for (uint32_t i = 0; i < 6; i++)
		assert_int_equal(capture(f), i);
	wait_used(f, TXQ, 6);
	assert_int_equal(counter(f, "tx_packets"), 6);
	assert_true(counter(f, "tx_rate_limiter_throttled") >= 1);
	assert_int_equal(atomic_load(&f->fails), 0);
}

/*
 * An rx bandwidth bucket with a one-time burst of one frame and a refill
 * of one frame per 50 ms: the frames on the tap all arrive, the timer
 * delivering the held ones.
 */
static void test_rx_bandwidth_timer(void **state)
{
	struct fake *f = *state;
	const struct evvm_rate_limit bw = {
		.bandwidth = { .size = HDR + FRAME,
			       .one_time_burst = HDR + FRAME,
			       .refill_ms = 50 },
	};

	NEED_TAP();
	attach(f, &bw, NULL);
	for (int i = 0; i < 4; i++)
		post_rx(f);
	kick(f, RXQ);
	for (uint32_t i = 0; i < 4; i++)
		inject(f, i);
	wait_used(f, RXQ, 4);
	assert_int_equal(counter(f, "rx_packets"), 4);
	assert_true(counter(f, "rx_rate_limiter_throttled") >= 1);
	assert_int_equal(atomic_load(&f->fails), 0);
}

/*
 * A pause and resume leave a throttled frame waiting while the bucket is
 * still empty; a limit set while paused takes effect, and what waits goes
 * at the resume.
 */
static void test_pause(void **state)
{
	struct fake *f = *state;
	const struct evvm_rate_limit one = { .ops = { .size = 1, .refill_ms = 60000 } };

	NEED_TAP();
	attach(f, NULL, &one);
	for (uint32_t i = 0; i < 3; i++)
		post_tx(f, i);
	kick(f, TXQ);
	assert_int_equal(used_idx(f, TXQ), 1);
	assert_int_equal(loop_call(f->loop, do_quiesce, f->dev), 0);
	assert_int_equal(loop_call(f->loop, do_resume, f->dev), 0);
	assert_int_equal(used_idx(f, TXQ), 1);
	assert_int_equal(loop_call(f->loop, do_quiesce, f->dev), 0);
	assert_int_equal(net_set_rate_limit(f->dev, NULL, &none), 0);
	assert_int_equal(used_idx(f, TXQ), 1); /* paused: the ring is not touched */
	assert_int_equal(loop_call(f->loop, do_resume, f->dev), 0);
	assert_int_equal(used_idx(f, TXQ), 3);
	for (uint32_t i = 0; i < 3; i++)
		assert_int_equal(capture(f), i);
	assert_int_equal(counter(f, "tx_packets"), 3);
}

/* The setter refuses a device that is not virtio-net. */
static void test_not_net(void **state)
{
	struct evvm_virtio_dev *rng;

	(void)state;
	assert_int_equal(rng_create("rng0", &rng), 0);
	assert_int_equal(net_set_rate_limit(rng, &none, &none), -ENOTSUP);
	virtio_dev_destroy(rng);
}

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
#define T(t) cmocka_unit_test_setup_teardown(t, setup, teardown)
		T(test_tx_ops),
		T(test_rx_ops),
		T(test_tx_bandwidth_timer),
		T(test_rx_bandwidth_timer),
		T(test_pause),
		T(test_not_net),
#undef T
	};

	have_tap = own_netns();
	return cmocka_run_group_tests_name("virtio-net rate limiters", tests, NULL, NULL);
}
