// SPDX-License-Identifier: MIT
/*
 * virtio-net on a tap, driven by the test guest's driver (guest/virtio_net.c)
 * under the real evvm binary. Each test makes its own network namespace
 * with a tap in it, moves this thread there (so evvm and our sockets live
 * there too), and deletes it in the teardown, also after a failure.
 *
 * The host peer is a thread with an AF_PACKET socket on the tap
 * (tests/lib/frame_peer.c): it checks the guest's frames (sequence numbers,
 * contents) or injects frames with a bounded window of unacknowledged ones,
 * so the tap's queue in the kernel never overflows, and its socket must
 * drop nothing; the ARP + ICMP test uses the kernel's own stack. evvm's
 * --stats=json counters must match what the driver saw. Variants cover
 * EVENT_IDX off (device or driver), no MRG_RXBUF, polling, the userspace
 * fabric and `evvm vhost-user-net` behind evvm's vhost-user frontend.
 * The tap tests that need no vhost-user backend (refused on pci) run over
 * both transports, as "<case>(mmio)" and "<case>(pci)".
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "frame_peer.h"
#include "harness.h"
#include "netpeer.h"
#include "proc.h"

#define TIMEOUT	  120 /* a 100k-frame run takes < 10 s, also under ASan */
#define TAP	  "evtap0"
#define GUEST_MAC "52:54:00:12:34:56"
#define BIG_COUNT 100000
/* Unacknowledged frames the host keeps in flight: below the guest's 256 rx buffers. */
#define WINDOW	  192
#define GUEST_ACK 32

/*
 * Static, so a test that fails mid-run leaves nothing on its stack to the
 * thread, and the teardown frees evvm's output.
 */
static struct frame_peer peer;
static struct run_result result;
/* This case's --transport= (its cmocka initial state; mmio without one). */
static const char *transport_arg = "--transport=mmio";

static void peer_start(struct frame_peer *p, enum peer_mode mode, uint32_t count)
{
	memset(p, 0, sizeof(*p));
	p->mode = mode;
	p->count = count;
	p->window = WINDOW;
	assert_true(mac_parse(GUEST_MAC, p->guest_mac));
	if (frame_peer_start(p, TAP))
		fail_msg("host peer: %s", p->err);
}

/* Stop the peer; fail if it saw an error or its socket dropped anything. */
static void peer_stop(struct frame_peer *p)
{
	frame_peer_stop(p);
	if (p->err[0])
		fail_msg("host peer: %s", p->err);
	if (p->drops)
		fail_msg("host peer: AF_PACKET socket dropped %u of %u frames", p->drops,
			 p->packets);
}

/* Skip without root or /dev/net/tun; then the namespace and its tap. */
static void net_prereq(struct netns *ns, const char *tag)
{
	char err[160];

	require_tap_kvm();
	if (netns_create(ns, tag, TAP, err, sizeof(err)))
		fail_msg("%s", err);
}

static int setup(void **state)
{
	struct netns *ns = calloc(1, sizeof(*ns));

	if (!ns)
		return -1;
	ns->home_fd = -1;
	transport_arg = *state ? *state : "--transport=mmio";
	*state = ns;
	return 0;
}

static void backend_stop(bool check);

static int teardown(void **state)
{
	backend_stop(false);
	frame_peer_stop(&peer);
	run_result_free(&result);
	netns_destroy(*state);
	free(*state);
	return 0;
}

static unsigned long long stat_of(const struct run_result *r, const char *key)
{
	unsigned long long v;

	if (!json_dev_counter(r->err, "net0", key, &v))
		fail_msg("no net0 \"%s\" in --stats=json:\n%s", key, r->err);
	return v;
}

/* The guest's own "rx N tx M frames" from net_report(). */
static void guest_counts(const struct run_result *r, unsigned int *rx, unsigned int *tx)
{
	const char *p = strstr(r->out, " rx ");

	if (!p || sscanf(p, " rx %u tx %u frames", rx, tx) != 2)
		fail_msg("no driver report in the guest's output:\n%s", r->out);
}

/* How a run is set up, beyond the test itself. */
struct variant {
	bool event_idx_off; /* the device does not offer EVENT_IDX */
	bool user_fabric;   /* --ioeventfd=user --irqfd=user */
	bool vhost_user;    /* the device is `evvm vhost-user-net` (no --stats counters) */
	const char *guest;  /* more guest command line, e.g. "net.mrg_rxbuf=0" */
};

/* `evvm vhost-user-net` on the tap, for vhost_user variants. */
static pid_t backend_pid = -1;
static char backend_sock[64], backend_log[64];

static void backend_start(const struct variant *v)
{
	const char *evvm = getenv("EVVM") ? getenv("EVVM") : "build/evvm";
	int fd, st;

	snprintf(backend_sock, sizeof(backend_sock), "/tmp/evvm-net-%d.sock", (int)getpid());
	unlink(backend_sock);
	snprintf(backend_log, sizeof(backend_log), "/tmp/evvm-net-backend-XXXXXX");
	fd = mkstemp(backend_log);
	assert_true(fd >= 0);
	close(fd);
	backend_pid = spawn((const char *[]){ evvm, "vhost-user-net", "--socket", backend_sock,
					      "--tap", TAP, "--mac", GUEST_MAC,
					      v->event_idx_off ? "--event-idx=off" : NULL, NULL },
			    backend_log);
	/* 10 s is plenty even under ASan. */
	if (wait_listening(backend_pid, backend_sock, 10, &st))
		return;
	if (st >= 0) {
		backend_pid = -1;
		fail_msg("evvm vhost-user-net exited at start (status %d), see %s", st,
			 backend_log);
	}
	fail_msg("evvm vhost-user-net: not listening on %s after 10 s", backend_sock);
}

/* SIGTERM it; with @check, it must exit 0 (its log is shown otherwise). */
static void backend_stop(bool check)
{
	char buf[4096] = "";
	int ws = 0, fd;
	ssize_t n;

	if (backend_pid < 0)
		return;
	kill(backend_pid, SIGTERM);
	waitpid(backend_pid, &ws, 0);
	backend_pid = -1;
	unlink(backend_sock);
	fd = open(backend_log, O_RDONLY | O_CLOEXEC);
	n = fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : 0;
	buf[n > 0 ? n : 0] = '\0';
	if (fd >= 0)
		close(fd);
	unlink(backend_log);
	if (check && !(WIFEXITED(ws) && WEXITSTATUS(ws) == 0))
		fail_msg("evvm vhost-user-net: exit status 0x%x after SIGTERM; its output:\n%s", ws,
			 buf);
}

static void run_net(struct run_result *r, const char *cmdline, const struct variant *v)
{
	static const struct variant plain;
	char net[96], line[256];
	const char *args[12];
	int n = 0;

	if (!v)
		v = &plain;
	if (v->vhost_user) {
		backend_start(v);
		snprintf(net, sizeof(net), "vhost_user=on,socket=%s", backend_sock);
	} else {
		snprintf(net, sizeof(net), "tap=%s,mac=%s%s", TAP, GUEST_MAC,
			 v->event_idx_off ? ",event_idx=off" : "");
	}
	snprintf(line, sizeof(line), "%s %s", cmdline, v->guest ? v->guest : "");
	args[n++] = "run";
	args[n++] = transport_arg;
	args[n++] = "--net";
	args[n++] = net;
	args[n++] = "--stats=json";
	if (v->user_fabric) {
		args[n++] = "--ioeventfd=user";
		args[n++] = "--irqfd=user";
	}
	args[n++] = "--cmdline";
	args[n++] = line;
	args[n] = NULL;
	run_evvm(r, TIMEOUT, args);
	backend_stop(true);
}

static void expect_ok(const struct run_result *r, const char *test)
{
	char ok[96];

	snprintf(ok, sizeof(ok), "evvm-guest: test %s: ok\n", test);
	if (r->status != 0 || !strstr(r->out, ok))
		print_error("status %d\nstdout:\n%s\nstderr:\n%s\n", r->status, r->out, r->err);
	assert_int_equal(r->status, 0);
	assert_contains(r->out, ok);
}

/* Show the driver's counters line (notifies, waits, interrupts) of @test. */
static void show_report(const struct run_result *r, const char *test)
{
	char key[64];
	const char *p, *e;

	snprintf(key, sizeof(key), "evvm-guest: %s: mac ", test);
	p = strstr(r->out, key);
	if (p && (e = strchr(p, '\n')))
		print_message("  %.*s\n", (int)(e - p), p);
}

/* The driver negotiated what the variant asks for. */
static void check_mode(const struct run_result *r, const struct variant *v)
{
	bool off = v && (v->event_idx_off || (v->guest && strstr(v->guest, "virtio.event_idx=0")));
	bool no_mrg = v && v->guest && strstr(v->guest, "net.mrg_rxbuf=0");

	assert_contains(r->out, off ? " event_idx=0 " : " event_idx=1 ");
	assert_contains(r->out, no_mrg ? " mrg_rxbuf=0 " : " mrg_rxbuf=1 ");
}

/* Guest -> host: @count frames captured in order, contents checked. */
static double guest_to_host(void **state, uint32_t count, const struct variant *v)
{
	unsigned int rx, tx;
	struct run_result *r = &result;
	char cmdline[96];
	struct frame_peer *p = &peer;
	double t;

	net_prereq(*state, "tx");
	peer_start(p, PEER_CAPTURE, 0);
	snprintf(cmdline, sizeof(cmdline), "tests=virtio-net-tx net.count=%u", count);
	t = frame_peer_now();
	run_net(r, cmdline, v);
	t = frame_peer_now() - t;
	peer_stop(p);
	expect_ok(r, "virtio-net-tx");
	check_mode(r, v);
	if (count >= BIG_COUNT)
		show_report(r, "virtio-net-tx");
	assert_int_equal(p->got, count);
	assert_true(p->done);
	assert_int_equal(p->done_seq, count);
	guest_counts(r, &rx, &tx);
	assert_int_equal(tx, count + 1);
	if (v && v->vhost_user) {
		run_result_free(r);
		return t; /* the counters are the backend's */
	}
	assert_int_equal(stat_of(r, "tx_packets"), count + 1);
	assert_int_equal(stat_of(r, "tx_bytes"), (unsigned long long)(count + 1) * NF_LEN);
	assert_int_equal(stat_of(r, "tx_dropped_too_long"), 0);
	assert_int_equal(stat_of(r, "tx_dropped_bad_header"), 0);
	run_result_free(r);
	return t;
}

/* Host -> guest: @count frames, a bounded window in flight, none lost. */
static double host_to_guest(void **state, uint32_t count, const struct variant *v)
{
	unsigned long long dropped;
	unsigned int rx, tx;
	struct run_result *r = &result;
	char cmdline[128], want[96];
	struct frame_peer *p = &peer;
	double t;

	net_prereq(*state, "rx");
	peer_start(p, PEER_INJECT, count);
	snprintf(cmdline, sizeof(cmdline), "tests=virtio-net-rx net.count=%u net.ack=%u", count,
		 GUEST_ACK);
	t = frame_peer_now();
	run_net(r, cmdline, v);
	t = frame_peer_now() - t;
	peer_stop(p);
	expect_ok(r, "virtio-net-rx");
	check_mode(r, v);
	if (count >= BIG_COUNT)
		show_report(r, "virtio-net-rx");
	snprintf(want, sizeof(want), "virtio-net-rx: received %u frames in order", count);
	assert_contains(r->out, want);
	assert_true(p->ready);
	assert_int_equal(p->sent, count);
	assert_int_equal(p->got, count);
	assert_true(p->done);
	/* The device counted what the driver saw, both ways. */
	guest_counts(r, &rx, &tx);
	assert_true(rx >= count);
	if (!(v && v->vhost_user)) {
		assert_int_equal(stat_of(r, "rx_packets"), rx);
		assert_int_equal(stat_of(r, "tx_packets"), tx);
	}
	/* Nothing was dropped on the way into the tap's queue either. */
	assert_int_equal(netdev_counter(TAP, "tx_dropped", &dropped), 0);
	assert_int_equal(dropped, 0);
	run_result_free(r);
	return t;
}

static const struct variant no_event_idx = { .event_idx_off = true };

/* The driver's other modes, and evvm's userspace fabric, both ways. */
static const struct variant variants[] = {
	{ .guest = "virtio.event_idx=0" },
	{ .guest = "net.mrg_rxbuf=0 virtio.indirect=0" },
	{ .guest = "net.wait=spin" },
	{ .user_fabric = true },
	{ .user_fabric = true, .event_idx_off = true },
	{ .vhost_user = true },
	{ .vhost_user = true, .event_idx_off = true, .user_fabric = true },
};

static void test_variants_both_ways(void **state)
{
	for (size_t i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
		print_message("variant: guest '%s'%s%s%s\n",
			      variants[i].guest ? variants[i].guest : "",
			      variants[i].event_idx_off ? ", event_idx=off" : "",
			      variants[i].user_fabric ? ", userspace ioeventfd/irqfd" : "",
			      variants[i].vhost_user ? ", evvm vhost-user-net" : "");
		guest_to_host(state, 2000, &variants[i]);
		netns_destroy(*state);
		host_to_guest(state, 2000, &variants[i]);
		netns_destroy(*state);
	}
}

static void test_guest_frames_on_tap(void **state)
{
	guest_to_host(state, 1000, NULL);
}

static void test_tap_frames_reach_guest(void **state)
{
	host_to_guest(state, 1000, NULL);
}

static void test_100k_guest_to_host_event_idx_on(void **state)
{
	print_message("100000 frames guest->host, EVENT_IDX on: %.1f s\n",
		      guest_to_host(state, BIG_COUNT, NULL));
}

static void test_100k_guest_to_host_event_idx_off(void **state)
{
	print_message("100000 frames guest->host, EVENT_IDX off: %.1f s\n",
		      guest_to_host(state, BIG_COUNT, &no_event_idx));
}

static void test_100k_host_to_guest_event_idx_on(void **state)
{
	print_message("100000 frames host->guest, EVENT_IDX on: %.1f s\n",
		      host_to_guest(state, BIG_COUNT, NULL));
}

static void test_100k_host_to_guest_event_idx_off(void **state)
{
	print_message("100000 frames host->guest, EVENT_IDX off: %.1f s\n",
		      host_to_guest(state, BIG_COUNT, &no_event_idx));
}

/* ARP and ICMP echo with the kernel's stack, 10.0.2.2 on the tap. */
static void arp_and_icmp_echo(void **state, const struct variant *v)
{
	unsigned long long echos;
	uint8_t mac[6];
	char want[96];
	struct run_result *r = &result;

	net_prereq(*state, "ping");
	assert_int_equal(netns_sh("ip addr add 10.0.2.2/24 dev %s", TAP), 0);
	assert_int_equal(netdev_mac(TAP, mac), 0);
	run_net(r, "tests=virtio-net-ping net.ip=10.0.2.15 net.peer=10.0.2.2 net.pings=3", v);
	expect_ok(r, "virtio-net-ping");
	snprintf(want, sizeof(want),
		 "virtio-net-ping: 10.0.2.2 is at %02x:%02x:%02x:%02x:%02x:%02x, 3/3 echo replies",
		 mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]);
	assert_contains(r->out, want);
	/* The peer's stack answered exactly our three requests. */
	assert_int_equal(snmp_counter("Icmp", "InEchos", &echos), 0);
	assert_int_equal(echos, 3);
	assert_int_equal(snmp_counter("Icmp", "OutEchoReps", &echos), 0);
	assert_int_equal(echos, 3);
	run_result_free(r);
}

static void test_arp_and_icmp_echo(void **state)
{
	arp_and_icmp_echo(state, NULL);
}

/* The same through `evvm vhost-user-net` and evvm's vhost-user frontend. */
static void test_arp_and_icmp_echo_vhost_user(void **state)
{
	static const struct variant vu = { .vhost_user = true };

	arp_and_icmp_echo(state, &vu);
}

/* Bad transmit chains are dropped and counted; the good frames around them arrive. */
static void test_hostile_tx_chains(void **state)
{
	struct run_result *r = &result;
	struct frame_peer *p = &peer;

	net_prereq(*state, "hostile");
	peer_start(p, PEER_CAPTURE, 0);
	run_net(r, "tests=virtio-net-hostile", NULL);
	peer_stop(p);
	expect_ok(r, "virtio-net-hostile");
	assert_int_equal(p->got, 3);
	assert_true(p->done);
	assert_int_equal(p->done_seq, 3);
	assert_int_equal(stat_of(r, "tx_packets"), 4);
	assert_int_equal(stat_of(r, "tx_dropped_too_long"), 1);
	assert_int_equal(stat_of(r, "tx_dropped_bad_header"), 1);
	run_result_free(r);
}

/* A receive buffer too short for the header: dropped, counted, the next frame arrives. */
static void test_hostile_rx_short_buffer(void **state)
{
	struct frame_peer *p = &peer;
	unsigned int rx, tx;
	struct run_result *r = &result;

	net_prereq(*state, "hostilerx");
	peer_start(p, PEER_INJECT, 2);
	run_net(r, "tests=virtio-net-hostile-rx", NULL);
	peer_stop(p);
	expect_ok(r, "virtio-net-hostile-rx");
	assert_contains(r->out, "short buffer used with length 0, then seq 1 arrived");
	assert_true(p->done);
	assert_int_equal(stat_of(r, "rx_dropped_too_short"), 1);
	guest_counts(r, &rx, &tx);
	assert_int_equal(stat_of(r, "rx_packets"), rx);
	run_result_free(r);
}

/*
 * Nobody sends: the guest, sleeping in hlt, must still notice its deadline
 * (VIRTIO_IO_TIMEOUT, >= 5 s) and fail the test rather than hang.
 */
static void test_rx_deadline_without_peer(void **state)
{
	struct run_result *r = &result;

	net_prereq(*state, "nopeer");
	run_net(r, "tests=virtio-net-rx net.count=10", NULL);
	assert_false(r->timed_out);
	assert_int_not_equal(r->status, 0);
	assert_contains(r->out, "FAILED: virtio-net-rx: nothing for ");
	assert_contains(r->out, "after 0 of 10 frames");
	run_result_free(r);
}

/* The control queue: RX and MAC commands acked, bad ones refused, all counted. */
static void test_ctrl_queue(void **state)
{
	struct run_result *r = &result;

	net_prereq(*state, "ctrl");
	run_net(r, "tests=virtio-net-ctrl", NULL);
	expect_ok(r, "virtio-net-ctrl");
	assert_contains(r->out, "virtio-net-ctrl: 5 commands answered");
	assert_int_equal(stat_of(r, "ctrl_commands"), 5);
	assert_int_equal(stat_of(r, "tx_packets"), 1);
	run_result_free(r);
}

/* 100,000 frames each way through `evvm vhost-user-net`. */
static void test_100k_both_ways_vhost_user(void **state)
{
	static const struct variant vu = { .vhost_user = true };

	print_message("100000 frames guest->host, vhost-user-net: %.1f s\n",
		      guest_to_host(state, BIG_COUNT, &vu));
	netns_destroy(*state);
	print_message("100000 frames host->guest, vhost-user-net: %.1f s\n",
		      host_to_guest(state, BIG_COUNT, &vu));
}

/* Bad taps: the error names the device, the tap and the cause. */
static void test_bad_taps(void **state)
{
	struct run_result *r = &result;

	net_prereq(*state, "badtap");
	run_evvm(r, TIMEOUT,
		 (const char *[]){ "run", "--net", "tap=this-name-is-far-too-long-for-a-tap",
				   "--cmdline", "tests=serial", NULL });
	assert_int_equal(r->status, 2);
	assert_contains(r->err, "evvm: --net tap=this-name-is-far-too-long-for-a-tap: expected");
	run_result_free(r);

	/* A tun is not a tap. */
	assert_int_equal(netns_sh("ip tuntap add dev evtun0 mode tun"), 0);
	run_evvm(r, TIMEOUT,
		 (const char *[]){ "run", "--net", "tap=evtun0", "--cmdline", "tests=serial",
				   NULL });
	assert_int_equal(r->status, 1);
	assert_contains(r->err, "evvm: net0: tap 'evtun0': TUNSETIFF: EINVAL");
	run_result_free(r);
}

/* A tap case over both transports, named "<case>(mmio)" and "<case>(pci)". */
#define BOTH(f)                                                           \
	{ #f "(mmio)", f, setup, teardown, (void *)"--transport=mmio" },  \
	{                                                                 \
#f "(pci)", f, setup, teardown, (void *)"--transport=pci" \
	}

int main(void)
{
	const struct CMUnitTest tests[] = {
		BOTH(test_guest_frames_on_tap),
		BOTH(test_tap_frames_reach_guest),
		BOTH(test_arp_and_icmp_echo),
		cmocka_unit_test_setup_teardown(test_arp_and_icmp_echo_vhost_user, setup, teardown),
		BOTH(test_hostile_tx_chains),
		BOTH(test_hostile_rx_short_buffer),
		BOTH(test_rx_deadline_without_peer),
		BOTH(test_ctrl_queue),
		cmocka_unit_test_setup_teardown(test_bad_taps, setup, teardown),
		cmocka_unit_test_setup_teardown(test_variants_both_ways, setup, teardown),
		cmocka_unit_test_setup_teardown(test_100k_guest_to_host_event_idx_on, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_100k_guest_to_host_event_idx_off, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_100k_host_to_guest_event_idx_on, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_100k_host_to_guest_event_idx_off, setup,
						teardown),
		cmocka_unit_test_setup_teardown(test_100k_both_ways_vhost_user, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
