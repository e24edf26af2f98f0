// SPDX-License-Identifier: MIT
/* Two VMs in one process, running at once: nothing may be process-global. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include <evvm/log.h>
#include <evvm/vm.h>

#include "cli.h"
#include "harness.h"

struct vm_thread {
	struct evvm_vm *vm;
	int status;
	FILE *out; /* the guest's serial output */
};

static void *vm_thread(void *arg)
{
	struct vm_thread *t = arg;

	t->status = vm_run(t->vm);
	return NULL;
}

/* A VM whose serial output goes to @out (NULL: discarded). */
static struct evvm_vm *make_vm(const char *cmdline, unsigned int cpus, FILE *out)
{
	struct evvm_vm_config cfg = {
		.mem_size = 16 << 20,
		.nr_cpus = cpus,
		.kernel_name = "demo",
		.kernel = demo_guest_start,
		.kernel_size = demo_guest_end - demo_guest_start,
		.cmdline = cmdline,
		.console_in = -1,
		.console_out = out ? fileno(out) : -1,
	};
	struct evvm_vm *vm = NULL;

	assert_int_equal(vm_create(&cfg, &vm), 0);
	return vm;
}

/* What was written to @f, NUL-terminated; closes @f. */
static void read_all(FILE *f, char *buf, size_t size)
{
	size_t n;

	rewind(f);
	n = fread(buf, 1, size - 1, f);
	buf[n] = '\0';
	fclose(f);
}

static void test_two_vms_run_concurrently(void **state)
{
	static char text_a[65536], text_b[65536];
	struct vm_thread a, b;
	pthread_t ta, tb;

	(void)state;
	require_kvm();
	a.out = tmpfile();
	b.out = tmpfile();
	assert_true(a.out && b.out);
	a.vm = make_vm("tests=serial,smp", 2, a.out);
	b.vm = make_vm("exit=9", 1, b.out);
	assert_int_equal(pthread_create(&ta, NULL, vm_thread, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, vm_thread, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	/* Each VM reports its own guest's status: the tests passing gives 0. */
	assert_int_equal(a.status, 0);
	assert_int_equal(b.status, 9);
	vm_destroy(a.vm);
	vm_destroy(b.vm);
	/* Both guests ran, each wrote to its own serial port only. */
	read_all(a.out, text_a, sizeof(text_a));
	read_all(b.out, text_b, sizeof(text_b));
	assert_contains(text_a, "evvm-guest: booted, cmdline \"tests=serial,smp\"");
	assert_contains(text_a, "evvm-guest: test serial: ok");
	assert_contains(text_a, "evvm-guest: test smp: ok");
	assert_contains(text_b, "evvm-guest: booted, cmdline \"exit=9\"");
	assert_null(strstr(text_b, "tests=serial"));
	assert_null(strstr(text_a, "exit=9"));
}

static void test_stop_from_outside(void **state)
{
	struct vm_thread a;
	pthread_t t;

	(void)state;
	require_kvm();
	a.vm = make_vm("tests=idle", 2, NULL);
	assert_int_equal(pthread_create(&t, NULL, vm_thread, &a), 0);
	vm_stop(a.vm, 77);
	pthread_join(t, NULL);
	assert_int_equal(a.status, 77);
	vm_destroy(a.vm);
}

static void test_bad_config_refused(void **state)
{
	struct evvm_vm_config cfg = {
		.mem_size = 1 << 20,
		.nr_cpus = 1,
		.kernel_name = "demo",
		.kernel = demo_guest_start,
		.kernel_size = demo_guest_end - demo_guest_start,
		.console_in = -1,
		.console_out = -1,
	};
	struct evvm_vm *vm = NULL;

	(void)state;
	evvm_log_set_level(-1);
	assert_int_equal(vm_create(&cfg, &vm), -EINVAL);
	cfg.mem_size = 16 << 20;
	cfg.nr_cpus = 0;
	assert_int_equal(vm_create(&cfg, &vm), -EINVAL);
	assert_null(vm);
	evvm_log_set_level(EVVM_LOG_WARN);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_bad_config_refused),
		cmocka_unit_test(test_two_vms_run_concurrently),
		cmocka_unit_test(test_stop_from_outside),
	};

	return cmocka_run_group_tests_name("two VMs in one process", tests, NULL, NULL);
}
