// SPDX-License-Identifier: MIT
/*
 * virtio-net across a snapshot (needs KVM, root and /dev/net/tun; skips
 * saying which is missing, or that network namespaces are refused). The
 * test guest's snap-net pings the kernel's stack on a tap (10.0.2.2) in a
 * network namespace of the test's own, in rounds, under `evvm run
 * --api-sock`; it is paused after round 5, snapshotted and killed, and
 * its tap deleted. The VM is restored onto another tap whose peer has the
 * original's MAC and address (a clone's own network; the guest keeps its
 * MAC), once by `evvm run --restore ...,net=net0:TAP` and once by PUT
 * /snapshot/load with network_overrides in a fresh `evvm firecracker`:
 * each continues from the round after the snapshot to the end
 * (tests/lib/snaptest.c), its echo requests and replies through its own
 * tap. An override naming an interface the snapshot lacks is refused by
 * both, with the message.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
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

#include "api_client.h"
#include "fc.h"
#include "harness.h"
#include "netpeer.h"
#include "proc.h"
#include "snaptest.h"

#define NET_ROUNDS "150"
#define NET_PINGS  2 /* snap-net's echo requests per round (its default) */
#define NET_TAP	   "evtap0"
#define GUEST_MAC  "52:54:00:12:34:56"
#define PEER_IP	   "10.0.2.2"

/* Static, so a failed test's teardown still leaves the namespace and deletes it. */
static struct netns snap_ns = { .home_fd = -1 };

static int net_teardown(void **state)
{
	(void)state;
	netns_destroy(&snap_ns);
	return 0;
}

/* Skip (saying why) without root, /dev/net/tun or netns; else enter one with NET_TAP. */
static void net_prereq(void)
{
	char err[160];
	pid_t pid;
	int ws;

	require_tap_kvm();
	/* A child asks first: a container may refuse new network namespaces. */
	pid = fork();
	if (pid == 0)
		_exit(unshare(CLONE_NEWNET) ? errno : 0);
	assert_true(pid > 0);
	assert_int_equal(waitpid(pid, &ws, 0), pid);
	if (!WIFEXITED(ws) || WEXITSTATUS(ws)) {
		print_message("SKIP: unshare(CLONE_NEWNET): %s\n",
			      WIFEXITED(ws) ? strerror(WEXITSTATUS(ws)) : "the probe was killed");
		skip();
	}
	if (netns_create(&snap_ns, "snapnet", NET_TAP, err, sizeof(err)))
		fail_msg("%s", err);
}

/* Boot snap-net on NET_TAP under `evvm run --api-sock`, pause after round 5, snapshot, kill. */
static void take_net_snapshot(struct snap *s)
{
	char cmdline[96], body[512], round5[32], *out;
	const char *argv[] = { evvm_bin(),   "run",   "--kernel", guest_elf(),
			       "--cmdline",  cmdline, "--net",	  "tap=" NET_TAP ",mac=" GUEST_MAC,
			       "--api-sock", s->sock, NULL };
	pid_t pid;
	int st;

	snap_paths(s, false);
	s->test = "snap-net";
	s->rounds = NET_ROUNDS;
	snprintf(cmdline, sizeof(cmdline), "tests=snap-net snapnet.rounds=%s net.peer=" PEER_IP,
		 s->rounds);
	pid = spawn(argv, s->log);
	assert_true(wait_listening(pid, s->sock, 30, &st));
	snprintf(round5, sizeof(round5), "%s round 5 ", s->test);
	wait_file(s->log, round5, FC_TIMEOUT);
	assert_int_equal(api_call(s->sock, "PATCH", "/vm", "{\"state\":\"Paused\"}", NULL), 204);
	snprintf(body, sizeof(body), "{\"snapshot_path\":\"%s\",\"mem_file_path\":\"%s\"}",
		 s->state, s->mem);
	assert_int_equal(api_call(s->sock, "PUT", "/snapshot/create", body, &out), 204);
	free(out);
	kill(pid, SIGKILL);
	assert_int_equal(wait_exit(pid, 30), 128 + SIGKILL);
	snap_killed(s);
}

/* A clone's tap @name: the original peer's MAC @mac and address, up. */
static void clone_tap(const char *name, const uint8_t mac[6])
{
	assert_int_equal(netns_sh("ip tuntap add dev %s mode tap && ip link set dev %s address "
				  "%02x:%02x:%02x:%02x:%02x:%02x && ip addr add " PEER_IP
				  "/24 dev %s && ip link set %s up",
				  name, name, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5], name,
				  name),
			 0);
}

/* The clone's echo requests came in through @tap and the replies went out there; then it goes. */
static void check_clone_tap(const struct snap *s, const char *tap)
{
	/* The rounds after the snapshot's (its next may have been half done). */
	unsigned long long rx, tx, want = (atoi(s->rounds) - s->round - 1ULL) * NET_PINGS;

	assert_int_equal(netdev_counter(tap, "rx_packets", &rx), 0);
	assert_int_equal(netdev_counter(tap, "tx_packets", &tx), 0);
	if (rx < want || tx < want)
		fail_msg("tap %s: %llu frames from the clone, %llu to it; want at least %llu each "
			 "(a request and its reply per echo after round %u)",
			 tap, rx, tx, want, s->round + 1);
	assert_int_equal(netns_sh("ip link del %s", tap), 0);
}

/* `evvm run --restore ...,net=net0:evtap1`. */
static void restore_net_cli(const struct snap *s, const uint8_t mac[6])
{
	char arg[512], log[160];
	const char *argv[] = { evvm_bin(), "run", "--restore", arg, NULL };
	int st;

	clone_tap("evtap1", mac);
	snprintf(arg, sizeof(arg), "state=%s,mem=%s,net=net0:evtap1", s->state, s->mem);
	snprintf(log, sizeof(log), "%s/clone1.log", s->dir);
	st = run_cmd(argv, log, FC_TIMEOUT);
	check_continued(s, log);
	assert_int_equal(st, 0);
	check_clone_tap(s, "evtap1");
}

/* PUT /snapshot/load's body, interface @iface on evtap2. */
static void net_load_body(char *body, size_t size, const struct snap *s, const char *iface)
{
	snprintf(body, size,
		 "{\"snapshot_path\":\"%s\",\"mem_file_path\":\"%s\",\"resume_vm\":true,"
		 "\"network_overrides\":[{\"iface_id\":\"%s\",\"host_dev_name\":\"evtap2\"}]}",
		 s->state, s->mem, iface);
}

/* PUT /snapshot/load in `evvm firecracker`, net0 on evtap2 (after iface "nope" is refused). */
static void load_net_api(const struct snap *s, const uint8_t mac[6])
{
	char body[768], *log;
	struct fc f;
	int st;

	clone_tap("evtap2", mac);
	fc_start(&f);
	/* evvm's lines to a file of their own: in f.log they would split the guest's. */
	snprintf(body, sizeof(body), "{\"log_path\":\"%s/fc.log\"}", f.dir);
	EXPECT(&f, "PUT", "/logger", body, 204, NULL, NULL);
	net_load_body(body, sizeof(body), s, "nope");
	EXPECT(&f, "PUT", "/snapshot/load", body, 400, NULL, "cannot load the snapshot");
	net_load_body(body, sizeof(body), s, "net0");
	EXPECT(&f, "PUT", "/snapshot/load", body, 204, NULL, NULL);
	st = wait_exit(f.pid, FC_TIMEOUT);
	check_continued(s, f.log);
	assert_int_equal(st, 0);
	check_clone_tap(s, "evtap2");
	snprintf(body, sizeof(body), "%s/fc.log", f.dir);
	log = slurp(body);
	if (!strstr(log, "no network interface 'nope' to give the tap 'evtap2'"))
		fail_msg("want the refused override in the log:\n%s", log);
	free(log);
	unlink(body);
	unlink(f.sock);
	rmdir(f.dir);
}

/*
 * snap-net snapshotted, its tap deleted; restored onto another tap twice
 * (--restore net=, PUT /snapshot/load network_overrides), an interface the
 * snapshot lacks refused.
 */
static void test_net_other_tap(void **state)
{
	struct snap s;
	uint8_t mac[6];

	(void)state;
	net_prereq();
	assert_int_equal(netns_sh("ip addr add " PEER_IP "/24 dev " NET_TAP), 0);
	assert_int_equal(netdev_mac(NET_TAP, mac), 0);
	take_net_snapshot(&s);
	assert_int_equal(netns_sh("ip link del " NET_TAP), 0);
	expect_refused_with(&s, s.state, s.mem, "net=nope:evtap1",
			    "no network interface 'nope' to give the tap 'evtap1'");
	restore_net_cli(&s, mac);
	load_net_api(&s, mac);
	snap_cleanup(&s);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_net_other_tap, net_teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
