// SPDX-License-Identifier: MIT
/* Two VMs in one process, running at once: nothing may be process-global. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <evvm/log.h>
#include <evvm/vm.h>

#include "cli.h"
#include "harness.h"

struct vm_thread {
	struct evvm_vm *vm;
	int status;
};

static void *vm_thread(void *arg)
{
	struct vm_thread *t = arg;

	t->status = vm_run(t->vm);
	return NULL;
}

static struct evvm_vm *make_vm(const char *cmdline, unsigned int cpus)
{
	struct evvm_vm_config cfg = {
		.mem_size = 16 << 20,
		.nr_cpus = cpus,
		.kernel_name = "demo",
		.kernel = demo_guest_start,
		.kernel_size = demo_guest_end - demo_guest_start,
		.cmdline = cmdline,
		.console_in = -1,
		.console_out = -1,
	};
	struct evvm_vm *vm = NULL;

	assert_int_equal(vm_create(&cfg, &vm), 0);
	return vm;
}

static void test_two_vms_run_concurrently(void **state)
{
	struct vm_thread a, b;
	pthread_t ta, tb;

	(void)state;
	require_kvm();
	a.vm = make_vm("tests=serial,smp", 2);
	b.vm = make_vm("exit=9", 1);
	assert_int_equal(pthread_create(&ta, NULL, vm_thread, &a), 0);
	assert_int_equal(pthread_create(&tb, NULL, vm_thread, &b), 0);
	pthread_join(ta, NULL);
	pthread_join(tb, NULL);
	/* Each VM reports its own guest's status: the tests passing gives 0. */
	assert_int_equal(a.status, 0);
	assert_int_equal(b.status, 9);
	vm_destroy(a.vm);
	vm_destroy(b.vm);
}

static void test_stop_from_outside(void **state)
{
	struct vm_thread a;
	pthread_t t;

	(void)state;
	require_kvm();
	a.vm = make_vm("tests=idle", 2);
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
