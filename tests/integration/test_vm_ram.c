// SPDX-License-Identifier: MIT
/*
 * Guest RAM as a vhost-user backend receives it: a memfd sealed against
 * shrinking and growing (and against further seals), so no access through
 * a backend's mapping can fault.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/vm.h>

#include "cli.h"
#include "harness.h"
#include "vm.h"

static void test_ram_memfd_is_sealed(void **state)
{
	const struct evvm_vm_config cfg = {
		.mem_size = 16 << 20,
		.nr_cpus = 1,
		.kernel_name = "demo",
		.kernel = demo_guest_start,
		.kernel_size = demo_guest_end - demo_guest_start,
		.console_in = -1,
		.console_out = -1,
	};
	struct evvm_vm *vm = NULL;
	struct stat st;
	int fd, seals;

	(void)state;
	require_kvm();
	assert_int_equal(vm_create(&cfg, &vm), 0);
	/* The fd the frontend hands to backends (SET_MEM_TABLE). */
	assert_true(vm->mem.nr_regions >= 1);
	fd = vm->mem.regions[0].fd;
	assert_true(fd >= 0);
	seals = fcntl(fd, F_GET_SEALS);
	assert_int_equal(seals, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL);

	/* The seals hold: neither size change nor a new seal is possible. */
	assert_int_equal(ftruncate(fd, 4096), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(ftruncate(fd, 32 << 20), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_WRITE), -1);
	assert_int_equal(errno, EPERM);
	assert_int_equal(fstat(fd, &st), 0);
	assert_int_equal(st.st_size, 16 << 20);
	vm_destroy(vm);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ram_memfd_is_sealed),
	};

	return cmocka_run_group_tests_name("guest RAM", tests, NULL, NULL);
}
