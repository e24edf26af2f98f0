// SPDX-License-Identifier: MIT
/*
 * The public API (include/evvm/evvm.h) booting the test guest: two VMs at
 * once in this process, each with its own disk; evvm_stop(), evvm_pause()
 * and evvm_destroy() of a running VM.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/evvm.h>

#include "disk_pattern.h"
#include "harness.h"

#define SECTORS 64

static void make_disk(char *path)
{
	int fd;

	snprintf(path, 64, "/tmp/evvm-embed-%d-XXXXXX", (int)getpid());
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, SECTORS * 512), 0);
	close(fd);
}

/* A VM of the test guest running @cmdline, its serial output to @out. */
static struct evvm_ctx *guest_vm(const char *cmdline, FILE *out)
{
	struct evvm_ctx *vm = NULL;

	assert_int_equal(evvm_create(&vm), 0);
	assert_int_equal(evvm_set_kernel(vm, guest_elf()), 0);
	assert_int_equal(evvm_set_memory(vm, 32 << 20, 0), 0);
	assert_int_equal(evvm_set_cmdline(vm, cmdline), 0);
	assert_int_equal(evvm_set_serial(vm, -1, out ? fileno(out) : -1), 0);
	return vm;
}

static void start_or_fail(struct evvm_ctx *vm)
{
	int err = evvm_start(vm);

	if (err)
		fail_msg("evvm_start: %d: %s", err, evvm_errmsg(vm));
}

/*
 * Wait until @f (the guest's serial output) contains @text, at most 60 s.
 * pread(): the guest's writes move the file offset, which must stay theirs.
 */
static void wait_output(FILE *f, const char *text)
{
	char buf[4096] = "";

	for (int i = 0; i < 6000; i++) {
		ssize_t n = pread(fileno(f), buf, sizeof(buf) - 1, 0);

		buf[n > 0 ? n : 0] = '\0';
		if (strstr(buf, text))
			return;
		usleep(10000);
	}
	fail_msg("the guest never wrote '%s'; it wrote: %s", text, buf);
}

static void test_two_vms_with_disks(void **state)
{
	struct evvm_ctx *vm[2];
	char disk[2][64], cmdline[128];
	int status;

	(void)state;
	require_kvm();
	for (int i = 0; i < 2; i++) {
		make_disk(disk[i]);
		snprintf(cmdline, sizeof(cmdline), "tests=virtio-blk blk.seed=%d blk.sectors=%d",
			 11 + i, SECTORS);
		vm[i] = guest_vm(cmdline, NULL);
		assert_int_equal(evvm_add_disk(vm[i], disk[i], NULL, 0), 0);
	}
	for (int i = 0; i < 2; i++)
		start_or_fail(vm[i]);
	for (int i = 0; i < 2; i++) {
		assert_int_equal(evvm_wait(vm[i], &status), 0);
		assert_int_equal(status, 0);
		assert_int_equal(evvm_wait(vm[i], &status), 0); /* again: at once, the same */
		assert_int_equal(status, 0);
		evvm_destroy(vm[i]);
		assert_int_equal(pattern_check(disk[i], 11 + i, SECTORS), 0);
		unlink(disk[i]);
	}
}

static void test_stop_and_pause(void **state)
{
	FILE *out = tmpfile();
	struct evvm_ctx *vm;
	int status, err;

	(void)state;
	require_kvm();
	assert_non_null(out);
	vm = guest_vm("tests=idle", out);
	start_or_fail(vm);
	assert_int_equal(evvm_start(vm), -EALREADY);
	assert_int_equal(evvm_set_cpus(vm, 2), -EBUSY);
	wait_output(out, "evvm-guest: idle");
	err = evvm_pause(vm);
	if (err) {
		assert_int_equal(err, -ENOTSUP);
		assert_non_null(strstr(evvm_errmsg(vm), "cannot pause"));
	} else {
		assert_int_equal(evvm_resume(vm), 0);
	}
	assert_int_equal(evvm_stop(vm, 42), 0);
	assert_int_equal(evvm_stop(vm, 7), 0); /* the first request wins */
	assert_int_equal(evvm_wait(vm, &status), 0);
	assert_int_equal(status, 42);
	assert_int_equal(evvm_pause(vm), -EINVAL);
	evvm_destroy(vm);
	fclose(out);
}

/* Destroying a running VM stops it first. */
static void test_destroy_running(void **state)
{
	FILE *out = tmpfile();
	struct evvm_ctx *vm;

	(void)state;
	require_kvm();
	assert_non_null(out);
	vm = guest_vm("tests=idle", out);
	start_or_fail(vm);
	wait_output(out, "evvm-guest: idle");
	evvm_destroy(vm);
	fclose(out);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_two_vms_with_disks),
		cmocka_unit_test(test_stop_and_pause),
		cmocka_unit_test(test_destroy_running),
	};

	return cmocka_run_group_tests_name("embed", tests, NULL, NULL);
}
