// SPDX-License-Identifier: MIT
/*
 * evvm as a vhost-user frontend: the test guest's blk tests against a real
 * backend (qemu-storage-daemon), with the data checked on the host, and a
 * backend that goes away while the VM runs.
 */
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "disk_pattern.h"
#include "harness.h"
#include "proc.h"

#define TIMEOUT 120
#define SECTORS 8192

struct backend {
	pid_t pid;
	char dir[64];
	char sock[96];
	char disk[96];
};

/* A fresh directory with an empty disk of SECTORS, and the socket's path there. */
static void backend_files(struct backend *b)
{
	int fd;

	strcpy(b->dir, "/tmp/evvm-vhost-XXXXXX");
	assert_non_null(mkdtemp(b->dir));
	snprintf(b->sock, sizeof(b->sock), "%s/blk.sock", b->dir);
	snprintf(b->disk, sizeof(b->disk), "%s/disk.img", b->dir);
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

/* evvm's own backend, `evvm vhost-user-blk`, on a fresh disk. */
static void evvm_backend_start(struct backend *b)
{
	const char *evvm = getenv("EVVM") ? getenv("EVVM") : "build/evvm";
	char disk[128];

	backend_files(b);
	snprintf(disk, sizeof(disk), "path=%s", b->disk);
	backend_spawn(b, "evvm vhost-user-blk",
		      (const char *[]){ evvm, "vhost-user-blk", "--socket", b->sock, "--disk", disk,
					NULL });
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
	if (b->pid > 0) {
		kill(b->pid, SIGTERM);
		waitpid(b->pid, NULL, 0);
		b->pid = 0;
	}
	unlink(b->sock);
	unlink(b->disk);
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
static void guest_blk_tests(struct backend *b, unsigned int seed, bool stats)
{
	struct run_result r;
	char disk[128], cmdline[160];

	snprintf(disk, sizeof(disk), "vhost_user=on,socket=%s", b->sock);
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
	assert_contains(r.err, "--disk vhost_user=on: expected socket=PATH, and no path= or "
			       "readonly= (the backend decides those)");
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
		cmocka_unit_test_setup_teardown(test_vhost_user_over_userspace_fabric,
						backend_setup, backend_teardown),
		cmocka_unit_test_setup_teardown(test_backend_disconnect, backend_setup,
						backend_teardown),
	};

	return cmocka_run_group_tests_name("vhost-user frontend", tests, NULL, NULL);
}
