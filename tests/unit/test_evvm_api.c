// SPDX-License-Identifier: MIT
/*
 * The public API (include/evvm/evvm.h) where it needs no KVM: argument
 * checks and their messages, the order of a VM's life, errors that name
 * their cause and stay with their VM, and the log callback.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/evvm.h>

#include "capture.h"

#define STR_(x) #x
#define STR(x)	STR_(x)

static struct evvm_ctx *new_vm(void)
{
	struct evvm_ctx *vm = NULL;

	assert_int_equal(evvm_create(&vm), 0);
	assert_non_null(vm);
	assert_string_equal(evvm_errmsg(vm), "");
	return vm;
}

/* Fail unless @vm's message contains @needle. */
static void assert_msg(struct evvm_ctx *vm, const char *needle)
{
	if (!strstr(evvm_errmsg(vm), needle))
		fail_msg("message '%s' lacks '%s'", evvm_errmsg(vm), needle);
}

/* A non-empty regular file standing in for a kernel (read only by evvm_start()). */
static void make_file(char *path, size_t size)
{
	int fd;

	snprintf(path, 64, "/tmp/evvm-api-%d-XXXXXX", (int)getpid());
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	close(fd);
}

static void test_version(void **state)
{
	(void)state;
	assert_string_equal(evvm_version(), STR(EVVM_VERSION_MAJOR) "." STR(EVVM_VERSION_MINOR));
}

static void test_null_arguments(void **state)
{
	struct evvm_ctx *vm = new_vm();
	int status;

	(void)state;
	assert_int_equal(evvm_create(NULL), -EINVAL);
	assert_int_equal(evvm_set_cpus(NULL, 1), -EINVAL);
	assert_int_equal(evvm_set_kernel(NULL, "k"), -EINVAL);
	assert_int_equal(evvm_add_disk(NULL, "d", NULL, 0), -EINVAL);
	assert_int_equal(evvm_add_vhost_user(NULL, EVVM_VHOST_USER_BLK, "s", NULL, 0, 0), -EINVAL);
	assert_int_equal(evvm_add_rng(NULL), -EINVAL);
	assert_int_equal(evvm_start(NULL), -EINVAL);
	assert_int_equal(evvm_stop(NULL, 0), -EINVAL);
	assert_int_equal(evvm_wait(NULL, &status), -EINVAL);
	assert_int_equal(evvm_pause(NULL), -EINVAL);
	assert_string_equal(evvm_errmsg(NULL), "no VM (NULL)");
	evvm_destroy(NULL);

	assert_int_equal(evvm_set_kernel(vm, NULL), -EINVAL);
	assert_msg(vm, "evvm_set_kernel: no path");
	assert_int_equal(evvm_add_disk(vm, NULL, NULL, 0), -EINVAL);
	assert_msg(vm, "evvm_add_disk: no path");
	assert_int_equal(evvm_add_net_tap(vm, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(evvm_add_vhost_user(vm, EVVM_VHOST_USER_NET, NULL, NULL, 0, 0), -EINVAL);
	assert_int_equal(evvm_wait(vm, NULL), -EINVAL);
	evvm_destroy(vm);
}

static void test_machine_limits(void **state)
{
	struct evvm_ctx *vm = new_vm();
	char cmdline[4097];

	(void)state;
	assert_int_equal(evvm_set_cpus(vm, 0), -EINVAL);
	assert_msg(vm, "evvm_set_cpus: 0 vCPUs: must be 1 to 64");
	assert_int_equal(evvm_set_cpus(vm, 65), -EINVAL);
	assert_int_equal(evvm_set_cpus(vm, 64), 0);

	assert_int_equal(evvm_set_memory(vm, (4 << 20) - 4096, 0), -EINVAL);
	assert_msg(vm, "at least 4 MiB");
	assert_int_equal(evvm_set_memory(vm, (64 << 20) + 1, 0), -EINVAL);
	assert_msg(vm, "multiple of 4 KiB");
	assert_int_equal(evvm_set_memory(vm, 64 << 20, 1u << 7), -EINVAL);
	assert_msg(vm, "unknown flags 0x80");
	assert_int_equal(evvm_set_memory(vm, 1ULL << 40, EVVM_MEMORY_OVERCOMMIT), 0);

	memset(cmdline, 'x', sizeof(cmdline) - 1);
	cmdline[4096] = '\0';
	assert_int_equal(evvm_set_cmdline(vm, cmdline), -EINVAL);
	assert_msg(vm, "command line of 4096 bytes: the limit is 4095");
	cmdline[4095] = '\0';
	assert_int_equal(evvm_set_cmdline(vm, cmdline), 0);
	assert_int_equal(evvm_set_cmdline(vm, ""), 0);
	assert_int_equal(evvm_set_cmdline(vm, NULL), 0);
	assert_int_equal(evvm_set_kernel(vm, ""), -EINVAL);
	assert_msg(vm, "evvm_set_kernel: empty path");
	assert_int_equal(evvm_set_initramfs(vm, NULL), 0);
	assert_int_equal(evvm_set_serial(vm, -2, 1), -EBADF);
	assert_int_equal(evvm_set_serial(vm, -1, -1), 0);
	evvm_destroy(vm);
}

static void test_devices(void **state)
{
	static const uint8_t multicast[6] = { 0x01, 0, 0, 0, 0, 1 };
	struct evvm_ctx *vm = new_vm();

	(void)state;
	assert_int_equal(evvm_add_disk(vm, "a.img", NULL, 0), 0);
	assert_int_equal(evvm_add_disk(vm, "b.img", "blk0", 0), -EEXIST);
	assert_msg(vm, "evvm_add_disk: id 'blk0' is taken by a disk");
	assert_int_equal(evvm_add_disk(vm, "b.img", "123456789012345678901", 0), -EINVAL);
	assert_msg(vm, "at most 20 bytes");
	assert_int_equal(evvm_add_disk(vm, "b.img", "a,b", 0), -EINVAL);
	assert_msg(vm, "commas");
	assert_int_equal(evvm_add_disk(vm, "b.img", NULL, 1u << 5), -EINVAL);
	assert_int_equal(evvm_add_disk(vm, "", NULL, 0), -EINVAL);
	assert_int_equal(evvm_add_disk(vm, "b.img", NULL, EVVM_DISK_ROOT | EVVM_DISK_READONLY), 0);
	assert_int_equal(evvm_add_disk(vm, "c.img", NULL, EVVM_DISK_ROOT), -EEXIST);
	assert_msg(vm, "disk 'blk1' is the root disk already");

	assert_int_equal(evvm_add_net_tap(vm, "tap0", "blk1", NULL), -EEXIST);
	assert_msg(vm, "taken by a disk");
	assert_int_equal(evvm_add_net_tap(vm, "tap0", NULL, multicast), -EINVAL);
	assert_msg(vm, "multicast");
	assert_int_equal(evvm_add_net_tap(vm, "tap-name-too-long", NULL, NULL), -EINVAL);
	assert_int_equal(evvm_add_net_tap(vm, "tap0", NULL, NULL), 0);

	assert_int_equal(evvm_add_vhost_user(vm, 7, "s.sock", NULL, 0, 0), -EINVAL);
	assert_msg(vm, "unknown type 7");
	assert_int_equal(evvm_add_vhost_user(vm, EVVM_VHOST_USER_NET, "s.sock", NULL, 2, 0),
			 -EINVAL);
	assert_int_equal(evvm_add_vhost_user(vm, EVVM_VHOST_USER_BLK, "s.sock", NULL, 17, 0),
			 -EINVAL);
	assert_int_equal(evvm_add_vhost_user(vm, EVVM_VHOST_USER_BLK, "s.sock", NULL, 0, 3601),
			 -EINVAL);
	assert_int_equal(evvm_add_vhost_user(vm, EVVM_VHOST_USER_BLK, "s.sock", NULL, 4, 5), 0);
	assert_int_equal(evvm_add_vhost_user(vm, EVVM_VHOST_USER_NET, "n.sock", "net0", 0, 0),
			 -EEXIST);

	assert_int_equal(evvm_add_rng(vm), 0);
	assert_int_equal(evvm_add_rng(vm), -EEXIST);
	assert_int_equal(evvm_add_console(vm, -1, -1), 0);
	assert_int_equal(evvm_add_console(vm, -1, -1), -EEXIST);
	/* 3 disks, a net, rng and console: 6 of 10. */
	for (int i = 0; i < 4; i++)
		assert_int_equal(evvm_add_disk(vm, "d.img", NULL, EVVM_DISK_READONLY), 0);
	assert_int_equal(evvm_add_disk(vm, "d.img", NULL, 0), -ENOSPC);
	assert_msg(vm, "at most 10 devices");
	evvm_destroy(vm);
}

static void test_life_order(void **state)
{
	struct evvm_ctx *vm = new_vm();
	int status = -1;

	(void)state;
	assert_int_equal(evvm_wait(vm, &status), -EINVAL);
	assert_msg(vm, "evvm_wait: the VM was not started");
	assert_int_equal(evvm_pause(vm), -EINVAL);
	assert_msg(vm, "evvm_pause: the VM is not running");
	assert_int_equal(evvm_resume(vm), -EINVAL);
	assert_int_equal(evvm_stop(vm, 256), -EINVAL);
	assert_msg(vm, "status 256");

	assert_int_equal(evvm_start(vm), -EINVAL);
	assert_msg(vm, "evvm_start: no kernel (evvm_set_kernel())");
	assert_int_equal(evvm_start(vm), -EALREADY);
	assert_int_equal(evvm_set_cpus(vm, 2), -EBUSY);
	assert_msg(vm, "evvm_set_cpus: the VM is already started");
	assert_int_equal(evvm_add_rng(vm), -EBUSY);
	assert_int_equal(evvm_wait(vm, &status), -EINVAL);
	assert_int_equal(status, -1);
	evvm_destroy(vm);

	/* A stop before the start cancels it. */
	vm = new_vm();
	assert_int_equal(evvm_set_kernel(vm, "/nonexistent"), 0);
	assert_int_equal(evvm_stop(vm, 3), 0);
	assert_int_equal(evvm_start(vm), -ECANCELED);
	assert_msg(vm, "evvm_stop() came first");
	evvm_destroy(vm);
}

/* evvm_start()'s failures name the file and the cause, and only their own VM's. */
static void test_start_errors_are_per_vm(void **state)
{
	struct evvm_ctx *a = new_vm(), *b = new_vm();
	char kernel[64];

	(void)state;
	make_file(kernel, 4096);
	assert_int_equal(evvm_set_kernel(a, "/nonexistent/kernel-a"), 0);
	assert_int_equal(evvm_set_kernel(b, kernel), 0);
	assert_int_equal(evvm_add_disk(b, "/nonexistent/disk-b", NULL, 0), 0);

	assert_int_equal(evvm_start(a), -ENOENT);
	assert_msg(a, "kernel '/nonexistent/kernel-a': open: ENOENT");
	assert_string_equal(evvm_errmsg(b), "");
	assert_int_equal(evvm_start(b), -ENOENT);
	assert_msg(b, "disk '/nonexistent/disk-b': open: ENOENT");
	assert_msg(a, "kernel-a");
	evvm_destroy(a);
	evvm_destroy(b);
	unlink(kernel);
}

struct starter {
	struct evvm_ctx *vm;
	int err;
};

static void *start_thread(void *arg)
{
	struct starter *s = arg;

	s->err = evvm_start(s->vm);
	return NULL;
}

/* Two VMs failing at once in two threads: each keeps its own reason. */
static void test_two_vms_at_once(void **state)
{
	struct starter s[2];
	pthread_t t[2];
	char kernel[64], disk[2][32];

	(void)state;
	make_file(kernel, 4096);
	for (int round = 0; round < 20; round++) {
		for (int i = 0; i < 2; i++) {
			s[i].vm = new_vm();
			snprintf(disk[i], sizeof(disk[i]), "/nonexistent/disk-%d", i);
			assert_int_equal(evvm_set_kernel(s[i].vm, kernel), 0);
			assert_int_equal(evvm_set_cpus(s[i].vm, i + 1), 0);
			assert_int_equal(evvm_add_disk(s[i].vm, disk[i], NULL, 0), 0);
			assert_int_equal(pthread_create(&t[i], NULL, start_thread, &s[i]), 0);
		}
		for (int i = 0; i < 2; i++) {
			assert_int_equal(pthread_join(t[i], NULL), 0);
			assert_int_equal(s[i].err, -ENOENT);
			assert_msg(s[i].vm, disk[i]);
			evvm_destroy(s[i].vm);
		}
	}
	unlink(kernel);
}

/*
 * evvm_stop() from another thread ends evvm_start()'s wait for a vhost-user
 * backend: this one takes the connection and never answers (evvm would
 * give up on it after 5 s with ETIMEDOUT).
 */
static void test_stop_cancels_backend_wait(void **state)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	char dir[64], kernel[64];
	struct starter s = { 0 };
	struct pollfd p;
	pthread_t t;
	int lfd;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/evvm-api-%d-XXXXXX", (int)getpid());
	assert_non_null(mkdtemp(dir));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/silent.sock", dir);
	lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(lfd >= 0);
	assert_int_equal(bind(lfd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	assert_int_equal(listen(lfd, 1), 0);
	make_file(kernel, 4096);

	s.vm = new_vm();
	assert_int_equal(evvm_set_kernel(s.vm, kernel), 0);
	assert_int_equal(evvm_add_vhost_user(s.vm, EVVM_VHOST_USER_BLK, sa.sun_path, NULL, 0, 0),
			 0);
	assert_int_equal(pthread_create(&t, NULL, start_thread, &s), 0);
	/* evvm_start() is in the wait once its connection is pending. */
	p = (struct pollfd){ .fd = lfd, .events = POLLIN };
	assert_int_equal(poll(&p, 1, 4000), 1);
	assert_int_equal(evvm_stop(s.vm, 9), 0);
	assert_int_equal(pthread_join(t, NULL), 0);
	assert_int_equal(s.err, -ECANCELED);
	assert_msg(s.vm, "evvm_start: cancelled by evvm_stop()");
	assert_int_equal(evvm_wait(s.vm, &(int){ 0 }), -EINVAL);
	evvm_destroy(s.vm);
	close(lfd);
	unlink(sa.sun_path);
	rmdir(dir);
	unlink(kernel);
}

struct log_seen {
	int lines, errors;
	char first[256];
};

static void log_cb(void *opaque, int level, const char *msg)
{
	struct log_seen *seen = opaque;

	if (!seen->lines++)
		snprintf(seen->first, sizeof(seen->first), "%s", msg);
	seen->errors += level == EVVM_LOG_LEVEL_ERROR;
}

/* Lines go to the callback, and nowhere at all without one. */
static void test_log_callback(void **state)
{
	struct log_seen seen = { 0 };
	struct evvm_ctx *vm = new_vm();
	char err[512];

	(void)state;
	assert_int_equal(evvm_set_log(log_cb, &seen, 4), -EINVAL);
	assert_int_equal(evvm_set_log(log_cb, &seen, -1), -EINVAL);
	assert_int_equal(evvm_set_log(log_cb, &seen, EVVM_LOG_LEVEL_WARN), 0);
	assert_int_equal(evvm_set_kernel(vm, "/nonexistent/kernel-log"), 0);
	capture_begin();
	assert_int_equal(evvm_start(vm), -ENOENT);
	capture_end(err, sizeof(err), true);
	evvm_destroy(vm);
	assert_int_equal(seen.errors, 1);
	assert_non_null(strstr(seen.first, "kernel '/nonexistent/kernel-log': open: ENOENT"));
	assert_string_equal(err, "");

	/* No callback: silent. */
	assert_int_equal(evvm_set_log(NULL, NULL, EVVM_LOG_LEVEL_DEBUG), 0);
	vm = new_vm();
	assert_int_equal(evvm_set_kernel(vm, "/nonexistent/kernel-quiet"), 0);
	capture_begin();
	assert_int_equal(evvm_start(vm), -ENOENT);
	capture_end(err, sizeof(err), true);
	assert_msg(vm, "kernel-quiet"); /* the reason is still there, for the caller */
	evvm_destroy(vm);
	assert_string_equal(err, "");
	assert_int_equal(seen.lines, 1);
	assert_int_equal(evvm_set_log(NULL, NULL, EVVM_LOG_LEVEL_WARN), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version),
		cmocka_unit_test(test_null_arguments),
		cmocka_unit_test(test_machine_limits),
		cmocka_unit_test(test_devices),
		cmocka_unit_test(test_life_order),
		cmocka_unit_test_captured(test_start_errors_are_per_vm),
		cmocka_unit_test_captured(test_two_vms_at_once),
		cmocka_unit_test_captured(test_stop_cancels_backend_wait),
		cmocka_unit_test(test_log_callback),
	};

	return cmocka_run_group_tests_name("evvm_api", tests, NULL, NULL);
}
