// SPDX-License-Identifier: MIT
/*
 * evvm as a vhost-user frontend: the test guest's blk tests against a real
 * backend (qemu-storage-daemon), with the data checked on the host; a
 * backend that goes away while the VM runs, with and without reconnect; and
 * backends that stop answering (tests/lib/fake_vhost) at each phase, where
 * evvm must give up after its deadline and stop promptly on a signal.
 */
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/virtio.h>

#include "../../vhost/frontend_conn.h"
#include "../../vhost/vhost_user.h"
#include "disk_pattern.h"
#include "fake_vhost.h"
#include "harness.h"
#include "proc.h"

#define TIMEOUT 120
#define SECTORS 8192

struct backend {
	pid_t pid;
	char dir[64];
	char sock[96];
	char disk[96];
	char log[96];
	struct fake_vhost *fake;
	atomic_uint restarts; /* by the chaos thread */
	atomic_bool chaos_stop;
};

/* A fresh directory with an empty disk of SECTORS, and the socket's path there. */
static void backend_files(struct backend *b)
{
	int fd;

	strcpy(b->dir, "/tmp/evvm-vhost-XXXXXX");
	assert_non_null(mkdtemp(b->dir));
	snprintf(b->sock, sizeof(b->sock), "%s/blk.sock", b->dir);
	snprintf(b->disk, sizeof(b->disk), "%s/disk.img", b->dir);
	snprintf(b->log, sizeof(b->log), "%s/evvm.log", b->dir);
	fd = open(b->disk, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SECTORS * 512), 0);
	close(fd);
}

/* Start the backend @argv, called @name, and wait until it listens on b->sock. */
static void backend_spawn(struct backend *b, const char *name, const char *const argv[])
{
	int st;

	b->pid = spawn(argv, NULL);
	if (wait_listening(b->pid, b->sock, 5, &st))
		return;
	if (st < 0)
		fail_msg("%s does not listen on %s after 5 s", name, b->sock);
	b->pid = 0;
	fail_msg("%s exited with status %d before listening on %s", name, st, b->sock);
}

/* qemu-storage-daemon exporting a fresh disk as vhost-user-blk. */
static void qsd_start(struct backend *b)
{
	char blockdev[160], export[200];

	backend_files(b);
	snprintf(blockdev, sizeof(blockdev), "driver=file,node-name=f0,filename=%s", b->disk);
	snprintf(export, sizeof(export),
		 "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=%s,writable=on",
		 b->sock);
	backend_spawn(b, "qemu-storage-daemon",
		      (const char *[]){ "qemu-storage-daemon", "--blockdev", blockdev, "--blockdev",
					"driver=raw,node-name=d0,file=f0", "--export", export,
					NULL });
}

static const char *evvm_path(void)
{
	return getenv("EVVM") ? getenv("EVVM") : "build/evvm";
}

/* `evvm vhost-user-blk` on b->disk, as it is. */
static void evvm_backend_spawn(struct backend *b)
{
	const char *evvm = evvm_path();
	char disk[128];

	snprintf(disk, sizeof(disk), "path=%s", b->disk);
	backend_spawn(b, "evvm vhost-user-blk",
		      (const char *[]){ evvm, "vhost-user-blk", "--socket", b->sock, "--disk", disk,
					NULL });
}

/* evvm's own backend, `evvm vhost-user-blk`, on a fresh disk. */
static void evvm_backend_start(struct backend *b)
{
	backend_files(b);
	evvm_backend_spawn(b);
}

/* evvm's backend must exit 0 on SIGTERM and remove its socket. */
static void evvm_backend_stop(struct backend *b)
{
	int ws;

	kill(b->pid, SIGTERM);
	assert_int_equal(waitpid(b->pid, &ws, 0), b->pid);
	b->pid = 0;
	assert_true(WIFEXITED(ws));
	assert_int_equal(WEXITSTATUS(ws), 0);
	assert_int_not_equal(access(b->sock, F_OK), 0);
}

static void backend_stop(struct backend *b)
{
	fake_vhost_stop(b->fake);
	b->fake = NULL;
	if (b->pid > 0) {
		kill(b->pid, SIGTERM);
		waitpid(b->pid, NULL, 0);
		b->pid = 0;
	}
	unlink(b->sock);
	unlink(b->disk);
	unlink(b->log);
	rmdir(b->dir);
}

/* Each test's backend, stopped and its files removed even when the test fails. */
static int backend_setup(void **state)
{
	*state = calloc(1, sizeof(struct backend));
	return *state ? 0 : -1;
}

static int backend_teardown(void **state)
{
	backend_stop(*state);
	free(*state);
	return 0;
}

/*
 * The in-guest blk tests, writing pattern @seed, against the backend on
 * b->sock; with @stats, evvm must have seen none of the kicks.
 */
static void guest_blk_tests_opts(struct backend *b, unsigned int seed, bool stats, const char *opts)
{
	struct run_result r;
	char disk[160], cmdline[160];

	snprintf(disk, sizeof(disk), "vhost_user=on,socket=%s%s", b->sock, opts);
	snprintf(cmdline, sizeof(cmdline),
		 "tests=virtio-blk,virtio-blk-qd64,virtio-blk-past-end,"
		 "virtio-blk-write blk.seed=%u blk.sectors=1024",
		 seed);
	run_evvm(&r, TIMEOUT,
		 stats ? (const char *[]){ "run", "--stats", "--disk", disk, "--cmdline", cmdline,
					   NULL }
		       : (const char *[]){ "run", "--disk", disk, "--cmdline", cmdline, NULL });
	if (r.status)
		print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "evvm-guest: 4 passed, 0 failed\n");
	/* The kicks went to the backend: evvm read none of them. */
	if (stats)
		assert_contains(r.err, "ioeventfds (kernel): 0 kicks seen, 0 matched by evvm");
	run_result_free(&r);
}

static void guest_blk_tests(struct backend *b, unsigned int seed, bool stats)
{
	guest_blk_tests_opts(b, seed, stats, "");
}

/* The same in-guest blk tests as the built-in disk passes, served by QEMU's daemon. */
static void test_guest_blk_tests_on_qemu_storage_daemon(void **state)
{
	struct backend *b = *state;

	require_kvm();
	qsd_start(b);
	guest_blk_tests(b, 99, true);
	/* What the guest flushed is in the backend's file. */
	assert_int_equal(pattern_check(b->disk, 99, 1024), 0);
}

/* evvm on both sides: the frontend hands evvm's own backend the queues. */
static void test_guest_blk_tests_on_evvm_backend(void **state)
{
	struct backend *b = *state;

	require_kvm();
	evvm_backend_start(b);
	guest_blk_tests(b, 31, false);
	evvm_backend_stop(b);
	assert_int_equal(pattern_check(b->disk, 31, 1024), 0);
}

/* queues=2 of evvm's multiqueue backend: the guest driver sees num_queues 2 and works. */
static void test_guest_blk_tests_two_queues(void **state)
{
	struct backend *b = *state;

	require_kvm();
	evvm_backend_start(b);
	guest_blk_tests_opts(b, 33, false, ",queues=2");
	evvm_backend_stop(b);
	assert_int_equal(pattern_check(b->disk, 33, 1024), 0);
}

/* The same over evvm's userspace fabric path: evvm matches the kick, the backend reads it. */
static void test_vhost_user_over_userspace_fabric(void **state)
{
	struct backend *b = *state;
	struct run_result r;
	char disk[128];

	require_kvm();
	qsd_start(b);
	snprintf(disk, sizeof(disk), "vhost_user=on,socket=%s", b->sock);
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "--ioeventfd=user", "--irqfd=user", "--disk", disk,
				   "--cmdline", "tests=virtio-blk,virtio-blk-qd64", NULL });
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "evvm-guest: 2 passed, 0 failed\n");
	run_result_free(&r);
}

static void kill_backend(void *arg)
{
	struct backend *b = arg;

	kill(b->pid, SIGKILL);
	waitpid(b->pid, NULL, 0);
	b->pid = 0;
}

/* The backend dies: the device needs a reset, the VM keeps running. */
static void test_backend_disconnect(void **state)
{
	struct backend *b = *state;
	struct run_result r;
	char disk[128];
	const struct run_step steps[] = {
		{ .stream = 1, .text = "evvm-guest: idle\n", .hook = kill_backend, .arg = b },
		{ .stream = 2, .text = "device needs reset", .sig = SIGTERM },
	};

	require_kvm();
	qsd_start(b);
	snprintf(disk, sizeof(disk), "vhost_user=on,socket=%s", b->sock);
	run_evvm_steps(&r, TIMEOUT,
		       (const char *[]){ "run", "--disk", disk, "--cmdline",
					 "tests=virtio-blk,idle", NULL },
		       steps, 2);
	assert_false(r.timed_out);
	assert_contains(r.err, "blk0: vhost-user backend '");
	assert_contains(r.err, "' disconnected");
	assert_contains(r.err, "virtio-mmio blk0@0xd1000000: device needs reset");
	/* Still running after the disconnect: only the SIGTERM stopped it. */
	assert_contains(r.err, "stopping on TERM");
	assert_int_equal(r.status, 128 + SIGTERM);
	run_result_free(&r);
}

/* A scripted backend on b->sock that stops answering at @stall_at (0: at once). */
static void fake_start(struct backend *b, uint32_t stall_at)
{
	const struct fake_vhost_config cfg = {
		.stall_at = stall_at,
		.protocol = VIRTIO_BIT(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			    VIRTIO_BIT(VHOST_USER_PROTOCOL_F_CONFIG),
		.capacity = 1024,
	};

	backend_files(b);
	b->fake = fake_vhost_start(b->sock, &cfg);
}

/* A backend that accepts and never answers: evvm gives up after its deadline, saying why. */
static void test_silent_backend(void **state)
{
	struct backend *b = *state;
	struct run_result r;
	char disk[128], want[256];

	fake_start(b, 0);
	snprintf(disk, sizeof(disk), "vhost_user=on,socket=%s", b->sock);
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--disk", disk, NULL });
	assert_false(r.timed_out);
	assert_int_equal(r.status, 1);
	snprintf(want, sizeof(want),
		 "evvm: blk0: vhost-user backend '%s': waiting for the reply to GET_FEATURES: "
		 "nothing within %d ms; treating the backend as gone",
		 b->sock, VHOST_USER_REPLY_TIMEOUT_MS);
	assert_contains(r.err, want);
	run_result_free(&r);
}

/*
 * The same backend, and a stop signal while evvm waits on it in the
 * handshake (before the VM exists): evvm ends with 128+N, the log saying
 * it gave up on the backend because it is stopping (not on the deadline).
 */
static void test_signal_in_handshake(void **state)
{
	struct backend *b = *state;
	const int sigs[] = { SIGTERM, SIGINT };
	char disk[128];

	fake_start(b, 0);
	snprintf(disk, sizeof(disk), "vhost_user=on,socket=%s", b->sock);
	for (unsigned int i = 0; i < 2; i++) {
		pid_t pid =
			spawn((const char *[]){ evvm_path(), "run", "--disk", disk, NULL }, b->log);
		char *log;
		int st;

		assert_true(fake_vhost_wait_for(b->fake, VHOST_USER_GET_FEATURES, i + 1, 10));
		kill(pid, sigs[i]);
		st = wait_exit(pid, 30);
		if (st < 0) {
			kill(pid, SIGKILL);
			waitpid(pid, NULL, 0);
		}
		log = slurp(b->log);
		if (st != 128 + sigs[i])
			print_error("status %d, log:\n%s\n", st, log);
		assert_int_equal(st, 128 + sigs[i]);
		assert_contains(log, "GET_FEATURES: given up, evvm is stopping");
		assert_contains(log, sigs[i] == SIGTERM ? "stopping on TERM" : "stopping on INT");
		free(log);
	}
}

/*
 * A backend that stalls at DRIVER_OK (its first set-up message): evvm gives
 * up after the deadline, the device needs a reset, the VM keeps running
 * and SIGTERM ends it.
 */
static void test_stall_at_driver_ok(void **state)
{
	struct backend *b = *state;
	struct run_result r;
	char disk[128];
	const struct run_step steps[] = {
		{ .stream = 2, .text = "SET_FEATURES: nothing within" },
		{ .stream = 1, .text = "evvm-guest: idle\n", .sig = SIGTERM },
	};

	require_kvm();
	fake_start(b, VHOST_USER_SET_FEATURES);
	snprintf(disk, sizeof(disk), "vhost_user=on,socket=%s", b->sock);
	run_evvm_steps(&r, TIMEOUT,
		       (const char *[]){ "run", "--disk", disk, "--cmdline",
					 "tests=virtio-blk,idle", NULL },
		       steps, 2);
	assert_false(r.timed_out);
	assert_contains(r.err, "waiting for the reply to SET_FEATURES: nothing within");
	assert_contains(r.err, "virtio-mmio blk0@0xd1000000: device needs reset");
	assert_contains(r.out, "evvm-guest: test virtio-blk: FAILED");
	assert_contains(r.err, "stopping on TERM");
	assert_int_equal(r.status, 128 + SIGTERM);
	run_result_free(&r);
}

static void wait_set_features(void *arg)
{
	struct backend *b = arg;

	assert_true(fake_vhost_wait_for(b->fake, VHOST_USER_SET_FEATURES, 1, 60));
}

static void wait_get_vring_base(void *arg)
{
	struct backend *b = arg;

	assert_true(fake_vhost_wait_for(b->fake, VHOST_USER_GET_VRING_BASE, 1, 60));
}

/* SIGTERM while a vCPU waits on DRIVER_OK's set-up: evvm ends, giving up on the backend. */
static void test_signal_at_driver_ok(void **state)
{
	struct backend *b = *state;
	struct run_result r;
	char disk[128];
	const struct run_step steps[] = {
		{ .stream = 1, .text = "evvm-guest: booted", .hook = wait_set_features, .arg = b },
		{ .stream = 1, .text = "evvm-guest: booted", .sig = SIGTERM },
	};

	require_kvm();
	fake_start(b, VHOST_USER_SET_FEATURES);
	snprintf(disk, sizeof(disk), "vhost_user=on,socket=%s", b->sock);
	run_evvm_steps(&r, TIMEOUT,
		       (const char *[]){ "run", "--disk", disk, "--cmdline",
					 "tests=virtio-blk,idle", NULL },
		       steps, 2);
	assert_false(r.timed_out);
	assert_contains(r.err, "SET_FEATURES: given up, evvm is stopping");
	assert_contains(r.err, "stopping on TERM");
	assert_int_equal(r.status, 128 + SIGTERM);
	run_result_free(&r);
}

/*
 * A backend that serves nothing and stalls at GET_VRING_BASE, which the
 * guest's reset sends after its requests timed out: SIGTERM then ends evvm.
 */
static void test_signal_at_get_vring_base(void **state)
{
	struct backend *b = *state;
	struct run_result r;
	char disk[128];
	const struct run_step steps[] = {
		{ .stream = 1,
		  .text = "evvm-guest: booted",
		  .hook = wait_get_vring_base,
		  .arg = b },
		{ .stream = 1, .text = "evvm-guest: booted", .sig = SIGTERM },
	};

	require_kvm();
	fake_start(b, VHOST_USER_GET_VRING_BASE);
	snprintf(disk, sizeof(disk), "vhost_user=on,socket=%s", b->sock);
	run_evvm_steps(&r, TIMEOUT,
		       (const char *[]){ "run", "--disk", disk, "--cmdline",
					 "tests=virtio-blk,idle blk.sectors=8", NULL },
		       steps, 2);
	assert_false(r.timed_out);
	assert_contains(r.err, "GET_VRING_BASE: given up, evvm is stopping");
	assert_contains(r.err, "stopping on TERM");
	assert_int_equal(r.status, 128 + SIGTERM);
	run_result_free(&r);
}

/*
 * SIGKILL the backend and start it again on the same socket and disk, every
 * 1.2 s (more than the reconnect period, so the frontend meets each
 * backend) until the run is over.
 */
static void *chaos_thread(void *arg)
{
	struct backend *b = arg;

	for (;;) {
		for (unsigned int i = 0; i < 12; i++) {
			if (atomic_load(&b->chaos_stop))
				return NULL;
			usleep(100 * 1000);
		}
		kill(b->pid, SIGKILL);
		waitpid(b->pid, NULL, 0);
		b->pid = 0;
		evvm_backend_spawn(b);
		atomic_fetch_add(&b->restarts, 1);
	}
}

static pthread_t chaos;
static bool chaos_started;

static void start_chaos(void *arg)
{
	assert_int_equal(pthread_create(&chaos, NULL, chaos_thread, arg), 0);
	chaos_started = true;
}

/*
 * reconnect=1: the guest writes, flushes and reads back a pattern, over and
 * over for 20e9 TSC cycles (blk.min-ms=20000: 5 s or more on hosts up to
 * 4 GHz), while its backend is SIGKILLed and started again every 1.2 s; every block is verified by the guest and on
 * the host file, and the guest never hangs (its requests time out by
 * themselves, so a lost request fails the test instead of hanging it).
 */
static void test_reconnect_guest_blk(void **state)
{
	struct backend *b = *state;
	struct run_result r;
	char disk[160];
	const struct run_step steps[] = {
		{ .stream = 1, .text = "evvm-guest: booted", .hook = start_chaos, .arg = b },
	};

	require_kvm();
	evvm_backend_start(b);
	snprintf(disk, sizeof(disk), "vhost_user=on,socket=%s,reconnect=1", b->sock);
	chaos_started = false;
	run_evvm_steps(&r, TIMEOUT,
		       (const char *[]){ "run", "--disk", disk, "--cmdline",
					 "tests=virtio-blk blk.seed=77 blk.sectors=4096 blk.min-ms=20000", NULL },
		       steps, 1);
	atomic_store(&b->chaos_stop, true);
	if (chaos_started)
		pthread_join(chaos, NULL);
	assert_false(r.timed_out);
	if (r.status)
		print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "evvm-guest: 1 passed, 0 failed\n");
	/* The backend died under the guest at least twice, and came back. */
	assert_true(atomic_load(&b->restarts) >= 2);
	assert_contains(r.err, "queues paused, reconnecting every 1 s");
	assert_contains(r.err, "reconnected, queues resumed");
	assert_int_equal(pattern_check(b->disk, 77, 4096), 0);
	run_result_free(&r);
}

static void test_frontend_errors(void **state)
{
	struct run_result r;

	(void)state;
	require_kvm();
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "--disk", "vhost_user=on,socket=/nonexistent/x.sock",
				   NULL });
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "blk0: vhost-user socket '/nonexistent/x.sock': connect: ENOENT");
	run_result_free(&r);

	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--disk", "vhost_user=on", NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "--disk vhost_user=on: expected socket=PATH");
	run_result_free(&r);

	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "--disk", "vhost_user=on,socket=/s,path=/x", NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "--disk vhost_user=on: expected socket=PATH, and no path=, "
			       "readonly= or iothreads= (the backend decides those)");
	run_result_free(&r);

	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--disk", "socket=/s", NULL });
	assert_int_equal(r.status, 2);
	assert_contains(r.err, "--disk socket=/s: needs vhost_user=on");
	run_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_frontend_errors),
		cmocka_unit_test_setup_teardown(test_guest_blk_tests_on_qemu_storage_daemon,
						backend_setup, backend_teardown),
		cmocka_unit_test_setup_teardown(test_guest_blk_tests_on_evvm_backend, backend_setup,
						backend_teardown),
		cmocka_unit_test_setup_teardown(test_guest_blk_tests_two_queues, backend_setup,
						backend_teardown),
		cmocka_unit_test_setup_teardown(test_vhost_user_over_userspace_fabric,
						backend_setup, backend_teardown),
		cmocka_unit_test_setup_teardown(test_backend_disconnect, backend_setup,
						backend_teardown),
		cmocka_unit_test_setup_teardown(test_silent_backend, backend_setup,
						backend_teardown),
		cmocka_unit_test_setup_teardown(test_signal_in_handshake, backend_setup,
						backend_teardown),
		cmocka_unit_test_setup_teardown(test_stall_at_driver_ok, backend_setup,
						backend_teardown),
		cmocka_unit_test_setup_teardown(test_signal_at_driver_ok, backend_setup,
						backend_teardown),
		cmocka_unit_test_setup_teardown(test_signal_at_get_vring_base, backend_setup,
						backend_teardown),
		cmocka_unit_test_setup_teardown(test_reconnect_guest_blk, backend_setup,
						backend_teardown),
	};

	return cmocka_run_group_tests_name("vhost-user frontend", tests, NULL, NULL);
}
