// SPDX-License-Identifier: MIT
/*
 * evvm's vhost-user backends driven by the real Linux virtio drivers: Debian's
 * cloud kernel boots under QEMU in software mode (TCG, no /dev/kvm) with a
 * vhost-user device whose backend is `evvm vhost-user-blk` or
 * `evvm vhost-user-rng` or `evvm vhost-user-net`. tests/linux/prepare provides
 * the kernel and a busybox initramfs whose /init (tests/linux/init) runs the
 * in-guest half and prints one "EVVM-LINUX: " verdict line; the host half
 * checks the disk file, or the peer's counters.
 *
 * The net tests run the peer in a network namespace of their own: a tap with
 * NET_PEER on it, which the backend serves (inside that namespace). The guest
 * pings it, also with NET_MTU-sized frames (several merged rx buffers each),
 * then reads NET_TCP_BYTES from it over TCP and sends them back; the peer's
 * kernel counts the echo requests, and tcp_peer() checks the data that came
 * back.
 *
 * Controls: the same blk tests against qemu-storage-daemon's vhost-user-blk
 * export, the rng test against QEMU's own virtio-rng-pci (Debian 12 has no
 * vhost-user-rng backend), and the net test against QEMU's own virtio-net on
 * the same tap. If a control fails too, the fault is in this harness, the
 * guest or QEMU, not in evvm.
 *
 * Needs qemu-system-x86, busybox-static, cpio and iproute2 (tools/deps test),
 * root for the net tests (network namespaces, taps) and, the first time,
 * network access to Debian's mirrors to download the kernel package; without
 * any of these the tests fail, they do not skip.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <dirent.h>
#include <ftw.h>
#include <poll.h>
#include <sched.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <cmocka.h>

#include "harness.h"
#include "linux_guest.h"
#include "proc.h"

/*
 * Bounds. A boot takes 3-7 s. If every step of every test hangs, each test
 * waits GUEST_TIMEOUT plus BACKEND_TIMEOUT for each of its backend's start
 * and stop and the TCP peer's start and end: 560 s for the eight, under
 * run-tests' 600 s.
 */
#define BACKEND_TIMEOUT 10 /* to listen, and to exit after SIGTERM */
#define GUEST_TIMEOUT	50 /* QEMU's start to its exit */
#define QEMU_MEM	"256"

#define DISK_SECTORS	16384 /* 8 MiB; the guest writes sectors 2048..10239 */
#define WRITE_FIRST	2048
#define WRITE_COUNT	8192

/* The net tests' link: the peer (the namespace's tap) and the guest. */
#define NET_TAP	      "evvmtap0"
#define NET_PEER      "10.0.3.1"
#define NET_ADDR      "10.0.3.2"
#define NET_LEN	      "24"
#define NET_MAC	      "52:54:00:12:34:56"
#define NET_PINGS     5
#define NET_MTU	      9000 /* both ends: a ping of NET_MTU - 28 bytes is one big frame */
#define NET_JUMBO     3	   /* such pings */
#define NET_TCP_PORT  5001
#define NET_TCP_BYTES 4194304	  /* each way */
#define NS_PREFIX     "evvm-vhl-" /* + the test program's pid + "-" + a counter */
#define STR_(x)	      #x
#define STR(x)	      STR_(x)

/* Feature bits the guest must see negotiated (virtio 1.2, 5.1.3 and 6). */
#define VIRTIO_NET_F_MRG_RXBUF	15
#define VIRTIO_RING_F_EVENT_IDX 29

/* ---- QEMU ---- */

static bool qemu_has_device(const char *dev)
{
	char log[] = "/tmp/evvm-qemu-help-XXXXXX", want[128];
	int fd = mkstemp(log), st;
	char *out;
	bool has;

	assert_true(fd >= 0);
	close(fd);
	st = run_cmd((const char *[]){ "qemu-system-x86_64", "-device", "help", NULL }, log, 30);
	out = slurp(log);
	unlink(log);
	if (st != 0)
		fail_msg("qemu-system-x86_64 -device help: status %d (install qemu-system-x86: "
			 "tools/deps test):\n%s",
			 st, out);
	snprintf(want, sizeof(want), "name \"%s\"", dev);
	has = strstr(out, want) != NULL;
	free(out);
	return has;
}

/* ---- one test's processes and files, cleaned up in teardown ---- */

struct ctx {
	char dir[64]; /* temp dir: disk.img, vhost.sock, backend.log, qemu.log, peer.log */
	char disk[96], sock[96], blog[96], qlog[96], plog[96];
	char netns[48]; /* the net tests' namespace, "" if none */
	pid_t backend, qemu, peer;
	char *verdict; /* the guest's, from boot() */
	unsigned seed;
	double t0;
};

/* ---- the net tests' network namespace ---- */

/* `ip ARGS...`: its exit status; its output (malloc'd) in @out if non-NULL. */
static int ip_cmd(char **out, const char *const args[])
{
	char log[] = "/tmp/evvm-ip-XXXXXX";
	const char *argv[16] = { "ip" };
	int fd = mkstemp(log), st;
	size_t n = 1;

	assert_true(fd >= 0);
	close(fd);
	for (size_t i = 0; args[i]; i++) {
		assert_true(n + 1 < sizeof(argv) / sizeof(argv[0]));
		argv[n++] = args[i];
	}
	argv[n] = NULL;
	st = run_cmd(argv, log, 30);
	if (out)
		*out = slurp(log);
	unlink(log);
	return st;
}

static void netns_delete(const char *ns)
{
	/* The tap first: nothing else may still hold the namespace alive. */
	ip_cmd(NULL, (const char *[]){ "-n", ns, "link", "del", NET_TAP, NULL });
	ip_cmd(NULL, (const char *[]){ "netns", "del", ns, NULL });
}

/* Namespaces left by a test program that was killed before its teardown. */
static void netns_delete_stale(void)
{
	DIR *d = opendir("/run/netns");
	struct dirent *e;
	int pid;

	if (!d)
		return;
	while ((e = readdir(d))) {
		if (sscanf(e->d_name, NS_PREFIX "%d-", &pid) == 1 && pid != getpid() &&
		    kill(pid, 0) < 0 && errno == ESRCH) {
			print_message("deleting stale network namespace %s\n", e->d_name);
			netns_delete(e->d_name);
		}
	}
	closedir(d);
}

/* A fresh namespace for @c with the peer: NET_TAP up with NET_PEER/NET_LEN. */
static void netns_create(struct ctx *c)
{
	static unsigned count;
	char *out = NULL;
	const char *ns = c->netns;
	const char *const *step;
	/* clang-format off */
	const char *const *steps[] = {
		(const char *[]){ "-n", ns, "link", "set", "lo", "up", NULL },
		(const char *[]){ "-n", ns, "tuntap", "add", "dev", NET_TAP, "mode", "tap", NULL },
		(const char *[]){ "-n", ns, "addr", "add", NET_PEER "/" NET_LEN, "dev", NET_TAP, NULL },
		(const char *[]){ "-n", ns, "link", "set", NET_TAP, "mtu", STR(NET_MTU), NULL },
		(const char *[]){ "-n", ns, "link", "set", NET_TAP, "up", NULL },
		NULL
	};
	/* clang-format on */

	netns_delete_stale();
	snprintf(c->netns, sizeof(c->netns), NS_PREFIX "%d-%u", (int)getpid(), count++);
	if (ip_cmd(&out, (const char *[]){ "netns", "add", ns, NULL }) != 0) {
		c->netns[0] = '\0';
		fail_msg("ip netns add %s: %s", ns, out);
	}
	free(out);
	for (size_t i = 0; (step = steps[i]); i++) {
		char cmd[160] = "ip";

		if (ip_cmd(&out, step) != 0) {
			for (size_t j = 0; step[j]; j++)
				snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), " %s",
					 step[j]);
			fail_msg("%s: %s", cmd, out);
		}
		free(out);
	}
}

/* @file's first number, read inside the namespace (its /sys, its /proc/net). */
static long long netns_read(struct ctx *c, const char *file)
{
	char *out;
	long long v = -1;
	int st = ip_cmd(&out, (const char *[]){ "netns", "exec", c->netns, "cat", file, NULL });

	if (st != 0 || sscanf(out, "%lld", &v) != 1)
		fail_msg("cat %s in %s: status %d: %s", file, c->netns, st, out);
	free(out);
	return v;
}

/* Icmp counter @name (e.g. "InEchos") of the namespace's /proc/net/snmp. */
static long long netns_icmp(struct ctx *c, const char *name)
{
	char *out, *names, *vals, *sn, *sv, *n, *v;
	long long r = -1;
	int st = ip_cmd(
		&out, (const char *[]){ "netns", "exec", c->netns, "cat", "/proc/net/snmp", NULL });

	/* Two lines "Icmp: InMsgs InErrors ..." and "Icmp: 5 0 ...". */
	names = strstr(out, "\nIcmp: ");
	vals = names ? strstr(names + 1, "\nIcmp: ") : NULL;
	if (st != 0 || !vals)
		fail_msg("no Icmp counters in %s's /proc/net/snmp (status %d): %s", c->netns, st,
			 out);
	names[strcspn(names + 1, "\n") + 1] = '\0';
	vals[strcspn(vals + 1, "\n") + 1] = '\0';
	n = strtok_r(names + 7, " ", &sn);
	v = strtok_r(vals + 7, " ", &sv);
	for (; n && v; n = strtok_r(NULL, " ", &sn), v = strtok_r(NULL, " ", &sv)) {
		if (strcmp(n, name) == 0) {
			r = strtoll(v, NULL, 10);
			break;
		}
	}
	free(out);
	if (r < 0)
		fail_msg("no Icmp counter %s in %s's /proc/net/snmp", name, c->netns);
	return r;
}

static int setup(void **state)
{
	struct ctx *c = calloc(1, sizeof(*c));

	if (!c)
		return -1;
	snprintf(c->dir, sizeof(c->dir), "%s/evvm-vhost-XXXXXX",
		 access("/dev/shm", W_OK) ? "/tmp" : "/dev/shm");
	if (!mkdtemp(c->dir))
		return -1;
	snprintf(c->disk, sizeof(c->disk), "%s/disk.img", c->dir);
	snprintf(c->sock, sizeof(c->sock), "%s/vhost.sock", c->dir);
	snprintf(c->blog, sizeof(c->blog), "%s/backend.log", c->dir);
	snprintf(c->qlog, sizeof(c->qlog), "%s/qemu.log", c->dir);
	snprintf(c->plog, sizeof(c->plog), "%s/peer.log", c->dir);
	c->seed = (unsigned)(getpid() * 2654435761u ^ (unsigned)time(NULL)) % 1000000;
	c->t0 = now_s();
	*state = c;
	return 0;
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st, (void)flag, (void)ftw;
	return remove(p);
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	if (c->qemu > 0) {
		kill(c->qemu, SIGKILL);
		waitpid(c->qemu, NULL, 0);
	}
	if (c->backend > 0) {
		kill(c->backend, SIGKILL);
		waitpid(c->backend, NULL, 0);
	}
	if (c->peer > 0) {
		kill(c->peer, SIGKILL);
		waitpid(c->peer, NULL, 0);
	}
	if (c->netns[0])
		netns_delete(c->netns);
	free(c->verdict);
	print_message("wall time: %.1f s\n", now_s() - c->t0);
	nftw(c->dir, rm_one, 8, FTW_DEPTH | FTW_PHYS);
	free(c);
	return 0;
}

/*
 * The backend's, QEMU's and the TCP peer's output, straight to stderr:
 * cmocka's print_error() truncates long messages.
 */
static void dump_logs(struct ctx *c)
{
	const char *name[] = { "backend", "QEMU", "TCP peer" };
	const char *path[] = { c->blog, c->qlog, c->plog };

	fflush(stdout);
	for (size_t i = 0; i < 3; i++) {
		char *out = slurp(path[i]);

		if (*out || i < 2)
			fprintf(stderr, "---- %s output:\n%s%s", name[i], out,
				*out && out[strlen(out) - 1] != '\n' ? "\n" : "");
		free(out);
	}
	fprintf(stderr, "----\n");
	fflush(stderr);
}

/* Fail with @why, after the logs. */
#define fail_ctx(c, ...)               \
	do {                           \
		dump_logs(c);          \
		fail_msg(__VA_ARGS__); \
	} while (0)

/* Start the backend and wait until it listens on c->sock. */
static void start_backend(struct ctx *c, const char *const argv[])
{
	char cmd[512] = "";
	int st;

	for (size_t i = 0; argv[i]; i++)
		snprintf(cmd + strlen(cmd), sizeof(cmd) - strlen(cmd), "%s%s", i ? " " : "",
			 argv[i]);
	c->backend = spawn(argv, c->blog);
	if (wait_listening(c->backend, c->sock, BACKEND_TIMEOUT, &st))
		return;
	if (st >= 0) {
		c->backend = 0;
		fail_ctx(c, "backend `%s` exited with status %d before listening", cmd, st);
	}
	fail_ctx(c, "backend `%s` does not listen after %d s", cmd, BACKEND_TIMEOUT);
}

/*
 * Start the guest with the device options @devargs and the test @cmdline,
 * QEMU run by the command @wrap (e.g. "ip netns exec NS") if not NULL.
 * Returns when QEMU started (the kernel and initramfs are ready by then).
 */
static double qemu_start(struct ctx *c, const char *const wrap[], const char *const devargs[],
			 const char *cmdline)
{
	char vmlinuz[256], initrd[256], append[512];
	const char *argv[48];
	size_t n = 0;

	linux_guest_prepare(vmlinuz, initrd, sizeof(vmlinuz));
	snprintf(append, sizeof(append), "console=ttyS0 panic=-1 quiet %s", cmdline);
	/* clang-format off */
	const char *const qemu[] = {
		"qemu-system-x86_64", "-M", "pc,memory-backend=mem", "-accel", "tcg",
		"-m", QEMU_MEM, "-object", "memory-backend-memfd,id=mem,size=" QEMU_MEM "M,share=on",
		"-nographic", "-no-reboot", "-nic", "none",
		"-kernel", vmlinuz, "-initrd", initrd, "-append", append, NULL
	};
	/* clang-format on */
	for (size_t i = 0; wrap && wrap[i]; i++)
		argv[n++] = wrap[i];
	for (size_t i = 0; qemu[i]; i++)
		argv[n++] = qemu[i];
	for (size_t i = 0; devargs[i]; i++) {
		assert_true(n + 1 < sizeof(argv) / sizeof(argv[0]));
		argv[n++] = devargs[i];
	}
	argv[n] = NULL;
	c->qemu = spawn(argv, c->qlog);
	return now_s();
}

/*
 * Wait for QEMU started at @t0 to exit. Returns the verdict line (after
 * "EVVM-LINUX: ", owned by @c); fails if there is none or QEMU did not exit 0.
 */
static char *qemu_finish(struct ctx *c, double t0)
{
	char *out, *v, *end, *verdict;
	int st = wait_exit(c->qemu, GUEST_TIMEOUT - (now_s() - t0));

	out = slurp(c->qlog);
	v = strstr(out, "EVVM-LINUX: ");
	if (st < 0) {
		kill(c->qemu, SIGKILL);
		waitpid(c->qemu, NULL, 0);
		c->qemu = 0;
		free(out);
		fail_ctx(c, "QEMU did not exit within %d s (%s)", GUEST_TIMEOUT,
			 v ? "after the guest's verdict: stuck stopping the vhost-user device?"
			   : "no verdict from the guest");
	}
	c->qemu = 0;
	print_message("QEMU: boot to power-off %.1f s\n", now_s() - t0);
	if (!v) {
		free(out);
		fail_ctx(c, "QEMU exited with status %d and no \"EVVM-LINUX: \" line", st);
	}
	v += strlen("EVVM-LINUX: ");
	end = v + strcspn(v, "\r\n");
	verdict = c->verdict = strndup(v, end - v);
	free(out);
	assert_non_null(verdict);
	print_message("guest: %s\n", verdict);
	if (st != 0)
		fail_ctx(c, "QEMU exited with status %d (verdict: %s)", st, verdict);
	return verdict;
}

/* qemu_start(), then qemu_finish(). */
static char *boot_qemu(struct ctx *c, const char *const wrap[], const char *const devargs[],
		       const char *cmdline)
{
	return qemu_finish(c, qemu_start(c, wrap, devargs, cmdline));
}

/* boot_qemu() with @device; a vhost-user device is connected to c->sock. */
static char *boot(struct ctx *c, const char *device, const char *cmdline)
{
	char chardev[160], dev[96];

	if (strncmp(device, "vhost-user-", 11) == 0) {
		snprintf(chardev, sizeof(chardev), "socket,id=c0,path=%s", c->sock);
		snprintf(dev, sizeof(dev), "%s,chardev=c0", device);
		return boot_qemu(c, NULL,
				 (const char *[]){ "-chardev", chardev, "-device", dev, NULL },
				 cmdline);
	}
	return boot_qemu(c, NULL, (const char *[]){ "-device", device, NULL }, cmdline);
}

/* SIGTERM the backend: it must exit 0 within BACKEND_TIMEOUT and remove its socket. */
static void stop_backend(struct ctx *c)
{
	int st = wait_exit(c->backend, 0);

	if (st >= 0) {
		c->backend = 0;
		fail_ctx(c, "backend exited by itself (status %d) before SIGTERM", st);
	}
	assert_int_equal(kill(c->backend, SIGTERM), 0);
	st = wait_exit(c->backend, BACKEND_TIMEOUT);
	if (st < 0)
		fail_ctx(c, "backend still running %d s after SIGTERM", BACKEND_TIMEOUT);
	c->backend = 0;
	if (st != 0)
		fail_ctx(c, "backend exited with status %d after SIGTERM, not 0", st);
	if (access(c->sock, F_OK) == 0)
		fail_ctx(c, "backend left its socket %s behind", c->sock);
}

/* ---- the disk: patterns as tests/linux/init writes them ---- */

/* ---- the tests ---- */

static void blk_test(struct ctx *c, const char *const backend[])
{
	char cmdline[128], sha[65], want[80];
	char *v;

	linux_disk_make(c->disk, c->seed, DISK_SECTORS);
	start_backend(c, backend);
	snprintf(cmdline, sizeof(cmdline), "evvm.test=blk evvm.seed=%u evvm.sectors=%d", c->seed,
		 DISK_SECTORS);
	v = boot(c, "vhost-user-blk-pci", cmdline);
	stop_backend(c);
	if (strncmp(v, "blk ok ", 7) != 0)
		fail_ctx(c, "the guest says: %s", v);
	/* What the guest read back is what is in the file, and it is the pattern. */
	linux_disk_sha256(c->disk, WRITE_FIRST, WRITE_COUNT, sha);
	snprintf(want, sizeof(want), "blk ok %s", sha);
	if (strcmp(v, want) != 0)
		fail_msg("the guest read back sha256 %s; the disk file has %s", v + 7, sha);
	linux_disk_check(c->disk, c->seed, DISK_SECTORS, WRITE_FIRST, WRITE_COUNT);
}

static void blk_ro_test(struct ctx *c, const char *const backend[])
{
	char cmdline[128];
	char *v;

	linux_disk_make(c->disk, c->seed, DISK_SECTORS);
	start_backend(c, backend);
	snprintf(cmdline, sizeof(cmdline), "evvm.test=blk-ro evvm.seed=%u evvm.sectors=%d", c->seed,
		 DISK_SECTORS);
	v = boot(c, "vhost-user-blk-pci", cmdline);
	stop_backend(c);
	if (strcmp(v, "blk-ro ok") != 0)
		fail_ctx(c, "the guest says: %s", v);
	linux_disk_check(c->disk, c->seed, DISK_SECTORS, 0, 0);
}

static const char *evvm(void)
{
	return getenv("EVVM") ? getenv("EVVM") : "build/evvm";
}

/* Control: the harness and guest against qemu-storage-daemon's backend. */
static void qsd_blk(struct ctx *c, bool ro)
{
	char file[256], addr[256];

	snprintf(file, sizeof(file), "driver=file,node-name=f0,filename=%s%s", c->disk,
		 ro ? ",read-only=on" : "");
	snprintf(addr, sizeof(addr),
		 "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=%s,writable=%s",
		 c->sock, ro ? "off" : "on");
	(ro ? blk_ro_test : blk_test)(
		c, (const char *[]){ "qemu-storage-daemon", "--blockdev", file, "--blockdev",
				     ro ? "driver=raw,node-name=d0,file=f0,read-only=on"
					: "driver=raw,node-name=d0,file=f0",
				     "--export", addr, NULL });
}

static void test_control_qsd_blk(void **state)
{
	qsd_blk(*state, false);
}

static void test_control_qsd_blk_readonly(void **state)
{
	qsd_blk(*state, true);
}

/* Control: the guest's rng test against QEMU's own virtio-rng-pci (no vhost-user). */
static void test_control_qemu_rng(void **state)
{
	struct ctx *c = *state;
	char *v = boot(c, "virtio-rng-pci", "evvm.test=rng");

	if (strcmp(v, "rng ok") != 0)
		fail_ctx(c, "the guest says: %s", v);
}

static void evvm_blk(struct ctx *c, bool ro)
{
	char disk[160];

	snprintf(disk, sizeof(disk), "path=%s%s", c->disk, ro ? ",readonly=on" : "");
	(ro ? blk_ro_test : blk_test)(c, (const char *[]){ evvm(), "vhost-user-blk", "--socket",
							   c->sock, "--disk", disk, NULL });
}

static void test_evvm_blk(void **state)
{
	evvm_blk(*state, false);
}

static void test_evvm_blk_readonly(void **state)
{
	evvm_blk(*state, true);
}

/*
 * Multiqueue: -smp 2 and the device @devopt; the guest does I/O on each CPU,
 * so on each of its two queues, and reads it back; the backend's per-queue
 * request counters (its info line at disconnect) show both, and its ready
 * line ends with @ready. QEMU also drives the device status
 * (VHOST_USER_PROTOCOL_F_STATUS) meanwhile. @extra: backend options.
 */
static void blk_multiqueue(struct ctx *c, const char *extra[3], const char *devopt,
			   const char *ready_end)
{
	char disk[160], chardev[160], cmdline[128];
	unsigned long long q[2] = { 0, 0 };
	char *v, *log, *p;
	bool ready, status;

	snprintf(disk, sizeof(disk), "path=%s", c->disk);
	snprintf(chardev, sizeof(chardev), "socket,id=c0,path=%s", c->sock);
	snprintf(cmdline, sizeof(cmdline), "evvm.test=blk-mq evvm.seed=%u evvm.sectors=%d", c->seed,
		 DISK_SECTORS);
	linux_disk_make(c->disk, c->seed, DISK_SECTORS);
	start_backend(c, (const char *[]){ evvm(), "vhost-user-blk", "-v", "--socket", c->sock,
					   "--disk", disk, extra[0], extra[1], extra[2], NULL });
	v = boot_qemu(c, NULL,
		      (const char *[]){ "-smp", "2", "-chardev", chardev, "-device", devopt, NULL },
		      cmdline);
	stop_backend(c);
	if (strcmp(v, "blk-mq ok queues=2 cpus=2") != 0)
		fail_ctx(c, "the guest says: %s", v);
	log = slurp(c->blog);
	p = strstr(log, "q0_requests=");
	if (!p || sscanf(p, "q0_requests=%llu q1_requests=%llu", &q[0], &q[1]) != 2) {
		free(log);
		fail_ctx(c, "no per-queue request counters in the backend's output");
	}
	ready = strstr(log, "evvm: vhost-user blk0: ready on '") != NULL &&
		strstr(log, ready_end) != NULL;
	/* QEMU 7.2 negotiates VHOST_USER_PROTOCOL_F_STATUS: DRIVER_OK, then 0 at each stop. */
	status = strstr(log, "blk0: status 0xf\n") != NULL &&
		 strstr(log, "blk0: status 0: device reset\n") != NULL;
	free(log);
	print_message("backend: queue 0 took %llu requests, queue 1 %llu\n", q[0], q[1]);
	if (!q[0] || !q[1])
		fail_ctx(c, "a queue carried no I/O: q0 %llu, q1 %llu requests", q[0], q[1]);
	if (!ready)
		fail_ctx(c, "no ready line ending '%s' from the backend", ready_end);
	if (!status)
		fail_ctx(c, "the backend's log shows no SET_STATUS DRIVER_OK and reset from QEMU");
}

/* QEMU's default num-queues (one per vCPU) against the default 16 queues. */
static void test_evvm_blk_multiqueue(void **state)
{
	blk_multiqueue(*state, (const char *[3]){ NULL }, "vhost-user-blk-pci,chardev=c0",
		       "' (16 queues)\n");
}

/* Two queues on two I/O threads: queue 0 on one, queue 1 on the other. */
static void test_evvm_blk_iothreads(void **state)
{
	blk_multiqueue(*state, (const char *[3]){ "--queues=2", "--iothreads=2", NULL },
		       "vhost-user-blk-pci,chardev=c0,num-queues=2",
		       "' (2 queues, 2 I/O threads)\n");
}

/* Wait up to @timeout_s for @text in @path; false if it does not appear. */
static bool wait_for_text(const char *path, const char *text, double timeout_s)
{
	double end = now_s() + timeout_s;

	do {
		char *out = slurp(path);
		bool found = strstr(out, text) != NULL;

		free(out);
		if (found)
			return true;
		usleep(20000);
	} while (now_s() < end);
	return false;
}

#define RESTARTS 4 /* backend kills while the guest writes */

/*
 * In-flight tracking across backend restarts: the guest writes 4 MiB in
 * synchronous one-sector writes while the backend is SIGKILLed RESTARTS
 * times and started again on the same socket; QEMU reconnects
 * (reconnect=1) and hands the new backend the in-flight region. Every
 * write completes (the guest's dd returns), reads back right in the guest
 * and in the file; the backends resubmitted what was in flight.
 */
static void test_evvm_blk_restart(void **state)
{
	struct ctx *c = *state;
	char disk[160], chardev[160], cmdline[128], sha[65], want[80];
	const char *argv[] = { evvm(),	"vhost-user-blk", "-v", "--socket",
			       c->sock, "--disk",	  disk, NULL };
	unsigned int resubmitted = 0, during = 0;
	double t0;
	char *v, *log, *p;

	snprintf(disk, sizeof(disk), "path=%s", c->disk);
	snprintf(chardev, sizeof(chardev), "socket,id=c0,path=%s,reconnect=1", c->sock);
	snprintf(cmdline, sizeof(cmdline), "evvm.test=blk-restart evvm.seed=%u evvm.sectors=%d",
		 c->seed, DISK_SECTORS);
	linux_disk_make(c->disk, c->seed, DISK_SECTORS);
	start_backend(c, argv);
	t0 = qemu_start(c, NULL,
			(const char *[]){ "-chardev", chardev, "-device",
					  "vhost-user-blk-pci,chardev=c0,num-queues=1", NULL },
			cmdline);
	if (!wait_for_text(c->qlog, "evvm-linux: writing at", GUEST_TIMEOUT / 2))
		fail_ctx(c, "the guest did not start writing");
	for (int i = 0; i < RESTARTS; i++) {
		/* Each kill hits a backend QEMU has reconnected to and that serves I/O. */
		if (!wait_for_text(c->blog, ".q0: started", GUEST_TIMEOUT / 2))
			fail_ctx(c, "QEMU did not start the queue on backend %d", i + 1);
		usleep(150000 + 100000 * i);
		/* All of this backend's output, before the next one starts. */
		log = slurp(c->blog);
		for (p = log; (p = strstr(p, "in flight before the restart are submitted again"));
		     p++)
			resubmitted++;
		/* Every backend after the first is handed the region the first one made. */
		if (i > 0 && !strstr(log, "in-flight region of 1 queues of 128 entries")) {
			free(log);
			fail_ctx(c, "restarted backend %d got no in-flight region", i);
		}
		free(log);
		log = slurp(c->qlog);
		during += !strstr(log, "evvm-linux: wrote 4 MiB");
		free(log);
		kill(c->backend, SIGKILL);
		waitpid(c->backend, NULL, 0);
		c->backend = 0;
		print_message("backend killed at %.1f s\n", now_s() - t0);
		start_backend(c, argv);
	}
	v = qemu_finish(c, t0);
	stop_backend(c);
	log = slurp(c->blog);
	for (p = log; (p = strstr(p, "in flight before the restart are submitted again")); p++)
		resubmitted++;
	free(log);
	if (strncmp(v, "blk-restart ok ", 15) != 0)
		fail_ctx(c, "the guest says: %s", v);
	linux_disk_sha256(c->disk, WRITE_FIRST, WRITE_COUNT, sha);
	snprintf(want, sizeof(want), "blk-restart ok %s", sha);
	if (strcmp(v, want) != 0)
		fail_msg("the guest read back sha256 %s; the disk file has %s", v + 15, sha);
	linux_disk_check(c->disk, c->seed, DISK_SECTORS, WRITE_FIRST, WRITE_COUNT);
	print_message("%u of %d kills while the guest wrote; %u backends resubmitted requests\n",
		      during, RESTARTS, resubmitted);
	/* Kills after the writes would prove nothing. */
	if (during < 2)
		fail_msg("only %u of %d kills came while the guest wrote", during, RESTARTS);
}

static void test_evvm_rng(void **state)
{
	struct ctx *c = *state;
	char *v;

	if (!qemu_has_device("vhost-user-rng-pci"))
		fail_msg("this QEMU has no vhost-user-rng-pci device (qemu-system-x86_64 "
			 "-device help; Debian's qemu-system-x86 7.2 has it)");
	start_backend(c, (const char *[]){ evvm(), "vhost-user-rng", "--socket", c->sock, NULL });
	v = boot(c, "vhost-user-rng-pci", "evvm.test=rng");
	stop_backend(c);
	if (strcmp(v, "rng ok") != 0)
		fail_ctx(c, "the guest says: %s", v);
}

/* ---- net: the guest pings the namespace's tap ---- */

#define NET_CMDLINE                                                                 \
	"evvm.test=net evvm.ip=" NET_ADDR "/" NET_LEN " evvm.peer=" NET_PEER        \
	" evvm.pings=" STR(NET_PINGS) " evvm.mtu=" STR(NET_MTU) " evvm.jumbo=" STR( \
		NET_JUMBO) " evvm.tcp=" STR(NET_TCP_BYTES) " evvm.port=" STR(NET_TCP_PORT)
/*
 * vectors=0: INTx, not MSI-X. QEMU 7.2 crashes (SIGSEGV in
 * msix_set_vector_notifiers() under vhost_net_start()) when the driver starts
 * a vhost-user netdev under TCG with MSI-X: vhost_net_start() turns off guest
 * notifier masking for vhost-user, so the MSI-X unmask takes the KVM irqfd
 * path, whose per-vector state only exists with KVM. With INTx QEMU relays
 * the call eventfds itself. romfile=: no iPXE ROM, nothing for SeaBIOS to
 * drive. The control uses the same device.
 */
#define NET_DEVICE "virtio-net-pci,netdev=n0,mac=" NET_MAC ",romfile=,vectors=0"

/* Byte @i of the TCP test's data for @seed. */
static uint8_t tcp_byte(unsigned seed, uint64_t i)
{
	uint32_t v = (uint32_t)(i / 4) * 2654435761u ^ seed;

	v ^= v >> 15;
	v *= 0x2c1b3c6du;
	v ^= v >> 12;
	return v >> (8 * (i % 4));
}

/* accept() on @s within @timeout_s; -1 with errno ETIMEDOUT if none. */
static int accept_within(int s, int timeout_s)
{
	struct pollfd p = { .fd = s, .events = POLLIN };
	struct timeval tv = { .tv_sec = 30 };
	int r = poll(&p, 1, timeout_s * 1000), fd;

	if (r <= 0) {
		errno = r ? errno : ETIMEDOUT;
		return -1;
	}
	fd = accept4(s, NULL, NULL, SOCK_CLOEXEC);
	/* A stalled transfer fails the peer rather than hanging it. */
	if (fd >= 0 && (setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) ||
			setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv)))) {
		close(fd);
		return -1;
	}
	return fd;
}

/*
 * The peer's TCP side, in a child process that enters c->netns: listen on
 * NET_PEER:NET_TCP_PORT, tell @ready; send NET_TCP_BYTES of tcp_byte() to
 * the first connection and close it; read the second to its end and check
 * it is the same data. One line to c->plog; exit status 0 if all came back.
 */
static __attribute__((noreturn)) void tcp_peer(struct ctx *c, int ready)
{
	static uint8_t buf[65536];
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(NET_TCP_PORT) };
	FILE *log = fopen(c->plog, "w");
	char path[96];
	uint64_t off = 0, bad = UINT64_MAX;
	int ns, s, fd, one = 1;
	ssize_t n;

	if (!log)
		_exit(2);
	setvbuf(log, NULL, _IONBF, 0);
	snprintf(path, sizeof(path), "/run/netns/%s", c->netns);
	ns = open(path, O_RDONLY | O_CLOEXEC);
	if (ns < 0 || setns(ns, CLONE_NEWNET) < 0) {
		fprintf(log, "entering %s: %s\n", path, strerror(errno));
		_exit(1);
	}
	inet_pton(AF_INET, NET_PEER, &a.sin_addr);
	s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (s < 0 || setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) ||
	    bind(s, (struct sockaddr *)&a, sizeof(a)) || listen(s, 2)) {
		fprintf(log, "listening on " NET_PEER ":%d: %s\n", NET_TCP_PORT, strerror(errno));
		_exit(1);
	}
	if (write(ready, "r", 1) != 1)
		_exit(1);
	fd = accept_within(s, GUEST_TIMEOUT);
	if (fd < 0) {
		fprintf(log, "no connection to send to: %s\n", strerror(errno));
		_exit(1);
	}
	while (off < NET_TCP_BYTES) {
		size_t len = NET_TCP_BYTES - off < sizeof(buf) ? NET_TCP_BYTES - off : sizeof(buf);

		for (size_t i = 0; i < len; i++)
			buf[i] = tcp_byte(c->seed, off + i);
		n = write(fd, buf, len);
		if (n <= 0) {
			fprintf(log, "sending: %s after %llu bytes\n", n ? strerror(errno) : "EOF",
				(unsigned long long)off);
			_exit(1);
		}
		off += n;
	}
	close(fd);
	fd = accept_within(s, 30);
	if (fd < 0) {
		fprintf(log, "sent %d bytes; no connection to read them back from: %s\n",
			NET_TCP_BYTES, strerror(errno));
		_exit(1);
	}
	for (off = 0; (n = read(fd, buf, sizeof(buf))) > 0; off += n)
		for (ssize_t i = 0; i < n && bad == UINT64_MAX; i++)
			if (off + i >= NET_TCP_BYTES || buf[i] != tcp_byte(c->seed, off + i))
				bad = off + i;
	if (n < 0) {
		fprintf(log, "sent %d bytes; reading them back: %s after %llu bytes\n",
			NET_TCP_BYTES, strerror(errno), (unsigned long long)off);
		_exit(1);
	}
	fprintf(log, "sent %d bytes, got %llu back", NET_TCP_BYTES, (unsigned long long)off);
	if (bad != UINT64_MAX)
		fprintf(log, ", first wrong byte at offset %llu", (unsigned long long)bad);
	fprintf(log, "\n");
	_exit(off == NET_TCP_BYTES && bad == UINT64_MAX ? 0 : 1);
}

/* Start tcp_peer() and wait until it listens. */
static void start_tcp_peer(struct ctx *c)
{
	struct pollfd p = { .events = POLLIN };
	int fds[2];
	char b = 0;

	assert_int_equal(pipe2(fds, O_CLOEXEC), 0);
	c->peer = fork();
	assert_true(c->peer >= 0);
	if (c->peer == 0) {
		close(fds[0]);
		tcp_peer(c, fds[1]);
	}
	close(fds[1]);
	p.fd = fds[0];
	if (poll(&p, 1, BACKEND_TIMEOUT * 1000) != 1 || read(fds[0], &b, 1) != 1 || b != 'r') {
		char *log = slurp(c->plog);

		close(fds[0]);
		fail_msg("the peer's TCP side did not start listening: %s", log);
	}
	close(fds[0]);
}

/* The value of "@key=" in the verdict @v (up to the next space), or fail. */
static void verdict_field(struct ctx *c, const char *v, const char *key, char *out, size_t n)
{
	char k[32];
	const char *p;

	snprintf(k, sizeof(k), " %s=", key);
	p = strstr(v, k);
	if (!p)
		fail_ctx(c, "no %s= in the guest's verdict: %s", key, v);
	p += strlen(k);
	snprintf(out, n, "%.*s", (int)strcspn(p, " "), p);
}

/* The TCP exchange: the guest got NET_TCP_BYTES, the peer got them back intact. */
static void check_tcp_peer(struct ctx *c, const char *v)
{
	const char *want = "tcp: " STR(NET_TCP_BYTES) " bytes in ";
	int st = wait_exit(c->peer, BACKEND_TIMEOUT);
	char *log;

	if (st < 0)
		fail_ctx(c, "the peer's TCP side still runs %d s after the guest's verdict: %s",
			 BACKEND_TIMEOUT, v);
	c->peer = 0;
	log = slurp(c->plog);
	print_message("peer's TCP side: %s", log);
	if (st != 0) {
		print_error("peer's TCP side: status %d: %s", st, log);
		free(log);
		fail_ctx(c, "the guest's TCP data did not come back intact (guest: %s)", v);
	}
	free(log);
	if (!strstr(v, want))
		fail_ctx(c, "the guest's verdict lacks \"%s\": %s", want, v);
}

/*
 * After the guest's net test: it says ok, with our MAC and MRG_RXBUF and
 * EVENT_IDX negotiated, and NET_PINGS echo requests answered. The peer's
 * kernel (a fresh namespace: all its ICMP is the guest's) got every request
 * once and answered it, through the tap.
 */
static void check_net(struct ctx *c, const char *v)
{
	const char *ping = "ping: " STR(NET_PINGS) " packets transmitted, " STR(
		NET_PINGS) " packets received, 0% packet loss";
	const char *jumbo = "jumbo: " STR(NET_JUMBO) " packets transmitted, " STR(
		NET_JUMBO) " packets received, 0% packet loss";
	char mac[32], feat[80];
	long long in, out, rx, tx;
	int bits[] = { VIRTIO_NET_F_MRG_RXBUF, VIRTIO_RING_F_EVENT_IDX };

	in = netns_icmp(c, "InEchos");
	out = netns_icmp(c, "OutEchoReps");
	rx = netns_read(c, "/sys/class/net/" NET_TAP "/statistics/rx_packets");
	tx = netns_read(c, "/sys/class/net/" NET_TAP "/statistics/tx_packets");
	print_message("peer: %lld echo requests in, %lld replies out; tap: %lld packets from "
		      "the guest, %lld to it\n",
		      in, out, rx, tx);
	if (strncmp(v, "net ok ", 7) != 0)
		fail_ctx(c, "the guest says: %s", v);
	verdict_field(c, v, "mac", mac, sizeof(mac));
	if (strcmp(mac, NET_MAC) != 0)
		fail_ctx(c, "the guest's interface has MAC %s, QEMU was given " NET_MAC, mac);
	verdict_field(c, v, "features", feat, sizeof(feat));
	if (strlen(feat) != 64 || strspn(feat, "01") != 64)
		fail_ctx(c, "the guest's virtio features are '%s', not 64 bits", feat);
	for (size_t i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
		if (feat[bits[i]] != '1')
			fail_ctx(c, "feature bit %d (%s) not negotiated: %s", bits[i],
				 bits[i] == VIRTIO_NET_F_MRG_RXBUF ? "VIRTIO_NET_F_MRG_RXBUF"
								   : "VIRTIO_RING_F_EVENT_IDX",
				 feat);
	if (!strstr(v, ping))
		fail_ctx(c, "the guest's ping: %s (want \"%s\")", v, ping);
	if (!strstr(v, jumbo))
		fail_ctx(c, "the guest's %d-byte pings: %s (want \"%s\")", NET_MTU - 28, v, jumbo);
	if (in != NET_PINGS + NET_JUMBO || out != NET_PINGS + NET_JUMBO)
		fail_ctx(c, "the peer got %lld echo requests and sent %lld replies, not %d", in,
			 out, NET_PINGS + NET_JUMBO);
	if (rx < NET_PINGS || tx < NET_PINGS)
		fail_ctx(c,
			 "the tap passed %lld packets from the guest and %lld to it, fewer "
			 "than the %d pings",
			 rx, tx, NET_PINGS);
	check_tcp_peer(c, v);
}

/* Control: QEMU's own virtio-net on the tap (QEMU runs in the namespace). */
static void test_control_qemu_net(void **state)
{
	struct ctx *c = *state;
	char *v;

	netns_create(c);
	start_tcp_peer(c);
	v = boot_qemu(c, (const char *[]){ "ip", "netns", "exec", c->netns, NULL },
		      (const char *[]){ "-netdev",
					"tap,id=n0,ifname=" NET_TAP
					",script=no,downscript=no,vhost=off",
					"-device", NET_DEVICE, NULL },
		      NET_CMDLINE);
	check_net(c, v);
}

/*
 * evvm vhost-user-net serves the tap from inside the namespace; QEMU, outside
 * it, reaches the backend through the socket's path.
 */
static void test_evvm_net(void **state)
{
	struct ctx *c = *state;
	char chardev[160];
	char *v;

	netns_create(c);
	start_tcp_peer(c);
	start_backend(c,
		      (const char *[]){ "ip", "netns", "exec", c->netns, evvm(), "vhost-user-net",
					"--socket", c->sock, "--tap", NET_TAP, NULL });
	snprintf(chardev, sizeof(chardev), "socket,id=c0,path=%s", c->sock);
	v = boot_qemu(c, NULL,
		      (const char *[]){ "-chardev", chardev, "-netdev",
					"vhost-user,id=n0,chardev=c0", "-device", NET_DEVICE,
					NULL },
		      NET_CMDLINE);
	stop_backend(c);
	check_net(c, v);
}

/* An argument selects tests by name: test_vhost_linux '*net*'. */
int main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_control_qsd_blk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_qsd_blk_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_qemu_rng, setup, teardown),
		cmocka_unit_test_setup_teardown(test_control_qemu_net, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evvm_blk, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evvm_blk_readonly, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evvm_blk_multiqueue, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evvm_blk_iothreads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evvm_blk_restart, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evvm_rng, setup, teardown),
		cmocka_unit_test_setup_teardown(test_evvm_net, setup, teardown),
	};

	if (argc > 1)
		cmocka_set_test_filter(argv[1]);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
