// SPDX-License-Identifier: MIT
/*
 * evvm as a vhost-user frontend: the test guest's blk tests against a real
 * backend (qemu-storage-daemon), with the data checked on the host, and a
 * backend that goes away while the VM runs.
 */
#include <errno.h>
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
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "disk_pattern.h"
#include "harness.h"

#define TIMEOUT 120
#define SECTORS 8192

struct backend {
	pid_t pid;
	char dir[64];
	char sock[96];
	char disk[96];
};

static void sleep_ms(int ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

/* qemu-storage-daemon exporting a fresh disk as vhost-user-blk. */
static void qsd_start(struct backend *b)
{
	char blockdev[160], export[200];
	int fd;

	strcpy(b->dir, "/tmp/evvm-vhost-XXXXXX");
	assert_non_null(mkdtemp(b->dir));
	snprintf(b->sock, sizeof(b->sock), "%s/blk.sock", b->dir);
	snprintf(b->disk, sizeof(b->disk), "%s/disk.img", b->dir);
	fd = open(b->disk, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SECTORS * 512), 0);
	close(fd);
	snprintf(blockdev, sizeof(blockdev), "driver=file,node-name=f0,filename=%s", b->disk);
	snprintf(export, sizeof(export),
		 "type=vhost-user-blk,id=e0,node-name=d0,addr.type=unix,addr.path=%s,writable=on",
		 b->sock);
	b->pid = fork();
	assert_true(b->pid >= 0);
	if (b->pid == 0) {
		int null = open("/dev/null", O_RDWR);

		dup2(null, 0);
		dup2(null, 1);
		execlp("qemu-storage-daemon", "qemu-storage-daemon", "--blockdev", blockdev,
		       "--blockdev", "driver=raw,node-name=d0,file=f0", "--export", export, NULL);
		fprintf(stderr, "exec qemu-storage-daemon: %s\n", strerror(errno));
		_exit(127);
	}
	/* Ready when the socket exists. */
	for (int i = 0; i < 500 && access(b->sock, F_OK); i++)
		sleep_ms(10);
	if (access(b->sock, F_OK))
		fail_msg("qemu-storage-daemon did not create %s", b->sock);
}

/* evvm's own backend, `evvm vhost-user-blk`, on a fresh disk. */
static void evvm_backend_start(struct backend *b)
{
	const char *evvm = getenv("EVVM") ? getenv("EVVM") : "build/evvm";
	char disk[128];
	int fd;

	strcpy(b->dir, "/tmp/evvm-vhost-XXXXXX");
	assert_non_null(mkdtemp(b->dir));
	snprintf(b->sock, sizeof(b->sock), "%s/blk.sock", b->dir);
	snprintf(b->disk, sizeof(b->disk), "%s/disk.img", b->dir);
	fd = open(b->disk, O_CREAT | O_RDWR | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SECTORS * 512), 0);
	close(fd);
	snprintf(disk, sizeof(disk), "path=%s", b->disk);
	b->pid = fork();
	assert_true(b->pid >= 0);
	if (b->pid == 0) {
		execl(evvm, evvm, "vhost-user-blk", "--socket", b->sock, "--disk", disk, NULL);
		fprintf(stderr, "exec %s: %s\n", evvm, strerror(errno));
		_exit(127);
	}
	for (int i = 0; i < 500 && access(b->sock, F_OK); i++)
		sleep_ms(10);
	if (access(b->sock, F_OK))
		fail_msg("evvm vhost-user-blk did not create %s", b->sock);
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

/* The same in-guest blk tests as the built-in disk passes, served by QEMU's daemon. */
static void test_guest_blk_tests_on_qemu_storage_daemon(void **state)
{
	struct backend b = { 0 };
	struct run_result r;
	char disk[128];

	(void)state;
	require_kvm();
	qsd_start(&b);
	snprintf(disk, sizeof(disk), "vhost_user=on,socket=%s", b.sock);
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "--stats", "--disk", disk, "--cmdline",
				   "tests=virtio-blk,virtio-blk-qd64,virtio-blk-past-end,"
				   "virtio-blk-write blk.seed=99 blk.sectors=1024",
				   NULL });
	if (r.status)
		print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "evvm-guest: 4 passed, 0 failed\n");
	/* The kicks went to the backend: evvm read none of them. */
	assert_contains(r.err, "ioeventfds (kernel): 0 kicks seen, 0 matched by evvm");
	run_result_free(&r);
	/* What the guest flushed is in the backend's file. */
	assert_int_equal(pattern_check(b.disk, 99, 1024), 0);
	backend_stop(&b);
}

/* evvm on both sides: the frontend hands evvm's own backend the queues. */
static void test_guest_blk_tests_on_evvm_backend(void **state)
{
	struct backend b = { 0 };
	struct run_result r;
	char disk[128];

	(void)state;
	require_kvm();
	evvm_backend_start(&b);
	snprintf(disk, sizeof(disk), "vhost_user=on,socket=%s", b.sock);
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "--disk", disk, "--cmdline",
				   "tests=virtio-blk,virtio-blk-qd64,virtio-blk-past-end,"
				   "virtio-blk-write blk.seed=31 blk.sectors=1024",
				   NULL });
	if (r.status)
		print_error("stdout:\n%s\nstderr:\n%s\n", r.out, r.err);
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "evvm-guest: 4 passed, 0 failed\n");
	run_result_free(&r);
	evvm_backend_stop(&b);
	assert_int_equal(pattern_check(b.disk, 31, 1024), 0);
	backend_stop(&b);
}

/* The same over evvm's userspace fabric path: evvm matches the kick, the backend reads it. */
static void test_vhost_user_over_userspace_fabric(void **state)
{
	struct backend b = { 0 };
	struct run_result r;
	char disk[128];

	(void)state;
	require_kvm();
	qsd_start(&b);
	snprintf(disk, sizeof(disk), "vhost_user=on,socket=%s", b.sock);
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "--ioeventfd=user", "--irqfd=user", "--disk", disk,
				   "--cmdline", "tests=virtio-blk,virtio-blk-qd64", NULL });
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "evvm-guest: 2 passed, 0 failed\n");
	run_result_free(&r);
	backend_stop(&b);
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
	struct backend b = { 0 };
	struct run_result r;
	char disk[128];
	const struct run_step steps[] = {
		{ .stream = 1, .text = "evvm-guest: idle\n", .hook = kill_backend, .arg = &b },
		{ .stream = 2, .text = "device needs reset", .sig = SIGTERM },
	};

	(void)state;
	require_kvm();
	qsd_start(&b);
	snprintf(disk, sizeof(disk), "vhost_user=on,socket=%s", b.sock);
	run_evvm_steps(&r, TIMEOUT,
		       (const char *[]){ "run", "--disk", disk, "--cmdline", "tests=virtio-blk,idle",
					 NULL },
		       steps, 2);
	assert_false(r.timed_out);
	assert_contains(r.err, "blk0: vhost-user backend '");
	assert_contains(r.err, "' disconnected");
	assert_contains(r.err, "virtio-mmio blk0@0xd1000000: device needs reset");
	/* Still running after the disconnect: only the SIGTERM stopped it. */
	assert_contains(r.err, "stopping on TERM");
	assert_int_equal(r.status, 128 + SIGTERM);
	run_result_free(&r);
	backend_stop(&b);
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
		cmocka_unit_test(test_guest_blk_tests_on_qemu_storage_daemon),
		cmocka_unit_test(test_guest_blk_tests_on_evvm_backend),
		cmocka_unit_test(test_vhost_user_over_userspace_fabric),
		cmocka_unit_test(test_backend_disconnect),
	};

	return cmocka_run_group_tests_name("vhost-user frontend", tests, NULL, NULL);
}
