// SPDX-License-Identifier: MIT
/* `evvm run` end to end: the real binary boots the real test guest. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "harness.h"

#define TIMEOUT 120

static void test_exit_status_passes_through(void **state)
{
	struct run_result r;

	(void)state;
	require_kvm();
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--cmdline", "exit=42", NULL });
	assert_false(r.timed_out);
	assert_int_equal(r.status, 42);
	run_result_free(&r);

	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--cmdline", "exit=0", NULL });
	assert_int_equal(r.status, 0);
	run_result_free(&r);
}

static void test_kernel_from_file(void **state)
{
	struct run_result r;

	(void)state;
	require_kvm();
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "--kernel", guest_elf(), "--cmdline", "exit=7", NULL });
	assert_int_equal(r.status, 7);
	assert_contains(r.out, "evvm-guest: booted, cmdline \"exit=7\"");
	run_result_free(&r);
}

static void test_serial_output_arrives(void **state)
{
	struct run_result r;

	(void)state;
	require_kvm();
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--cmdline", "tests=serial", NULL });
	assert_contains(r.out, "evvm-guest: serial: hello from the guest\n");
	assert_contains(r.out, "evvm-guest: 1 passed, 0 failed\n");
	assert_int_equal(r.status, 0);
	run_result_free(&r);
}

static void test_serial_interrupt(void **state)
{
	struct run_result r;

	(void)state;
	require_kvm();
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--cmdline", "tests=serial-irq", NULL });
	assert_contains(r.out, "evvm-guest: test serial-irq: ok");
	assert_int_equal(r.status, 0);
	run_result_free(&r);
}

/* Keys typed on evvm's terminal reach the guest's UART, with its interrupt. */
static void test_serial_input_from_terminal(void **state)
{
	struct run_result r;

	(void)state;
	require_kvm();
	run_evvm_tty(&r, TIMEOUT, (const char *[]){ "run", "--cmdline", "tests=serial-echo", NULL },
		     "serial-echo: type a line\n", "hello, evvm\n");
	assert_contains(r.out, "evvm-guest: serial-echo: got 'hello, evvm'");
	assert_contains(r.out, "evvm-guest: test serial-echo: ok");
	assert_int_equal(r.status, 0);
	run_result_free(&r);
}

static void test_unowned_mmio_reads_all_ones(void **state)
{
	struct run_result r;

	(void)state;
	require_kvm();
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--cmdline", "tests=mmio-unowned", NULL });
	assert_contains(r.out, "evvm-guest: test mmio-unowned: ok");
	assert_int_equal(r.status, 0);
	/* evvm says so, once per address, and keeps running. */
	assert_contains(r.err, "mmio: unowned 1-byte read at 0xd0000000");
	run_result_free(&r);
}

static void test_two_vcpus_come_up(void **state)
{
	struct run_result r;

	(void)state;
	require_kvm();
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "--cpus", "boot=2", "--cmdline", "tests=smp", NULL });
	assert_contains(r.out, "evvm-guest: smp: 2 cpus up");
	assert_contains(r.out, "evvm-guest: test smp: ok");
	assert_int_equal(r.status, 0);
	run_result_free(&r);
}

static void test_triple_fault_fails_loudly(void **state)
{
	struct run_result r;

	(void)state;
	require_kvm();
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--cmdline", "tests=triple-fault", NULL });
	assert_false(r.timed_out);
	assert_int_equal(r.status, 1);
	assert_contains(r.err, "vcpu 0: triple fault");
	assert_contains(r.err, "rip=");
	run_result_free(&r);
}

/* Linux's ACPI power-off (S5 through the sleep control register) ends the VM with 0. */
static void test_acpi_poweroff(void **state)
{
	struct run_result r;

	(void)state;
	require_kvm();
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "-v", "--cmdline", "tests=acpi-poweroff", NULL });
	assert_false(r.timed_out);
	assert_int_equal(r.status, 0);
	assert_contains(r.err, "ACPI sleep type 3 requested; only S5 (power off) is offered");
	assert_contains(r.out, "acpi-poweroff: still running, S5");
	assert_contains(r.err, "guest powered off (ACPI S5)");
	run_result_free(&r);
}

static void test_demo_passes(void **state)
{
	struct run_result r;

	(void)state;
	require_kvm();
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--cpus", "boot=2", NULL });
	assert_contains(r.out, " passed, 0 failed\n");
	assert_int_equal(r.status, 0);
	run_result_free(&r);
}

static void test_sigterm_stops_the_vm(void **state)
{
	struct run_result r;

	(void)state;
	require_kvm();
	run_evvm_signal(&r, TIMEOUT, (const char *[]){ "run", "--cmdline", "tests=idle", NULL },
			"evvm-guest: idle", SIGTERM);
	assert_false(r.timed_out);
	assert_int_equal(r.status, 128 + SIGTERM);
	assert_contains(r.err, "stopping on TERM");
	run_result_free(&r);
}

/* Command-line errors need no KVM: one line naming the problem, non-zero. */
static void expect_error(const char *const args[], int status, const char *msg)
{
	struct run_result r;

	run_evvm(&r, TIMEOUT, args);
	assert_int_equal(r.status, status);
	assert_contains(r.err, msg);
	assert_string_equal(r.out, "");
	run_result_free(&r);
}

static void test_bad_command_lines(void **state)
{
	(void)state;
	expect_error((const char *[]){ "run", "--bogus", NULL }, 2, "unrecognized option");
	expect_error((const char *[]){ "frobnicate", NULL }, 2, "unknown command 'frobnicate'");
	expect_error((const char *[]){ "run", "--cpus", "boot=0", NULL }, 2,
		     "--cpus boot=0: expected a number from 1 to");
	expect_error((const char *[]){ "run", "--cpus", "2", NULL }, 2, "--cpus: expected boot=N");
	expect_error((const char *[]){ "run", "--memory", "size=1M", NULL }, 2,
		     "must be a multiple of 4K and at least 4M");
	expect_error((const char *[]){ "run", "--memory", "size=lots", NULL }, 2,
		     "--memory size=lots: expected a size");
	expect_error((const char *[]){ "run", "--ioeventfd=fast", NULL }, 2,
		     "--ioeventfd=fast: expected kernel or user");
	expect_error((const char *[]){ "run", "--irqfd=", NULL }, 2,
		     "--irqfd=: expected kernel or user");
	expect_error((const char *[]){ "run", "--stats=xml", NULL }, 2,
		     "--stats=xml: expected text or json");
	expect_error((const char *[]){ "run", "--poll-max-us=lots", NULL }, 2,
		     "--poll-max-us=lots: expected 0 to 1000000");
	expect_error((const char *[]){ "run", "--transport=usb", NULL }, 2,
		     "--transport=usb: expected mmio or pci");
	expect_error((const char *[]){ "run", "--kernel", "/nonexistent/vmlinux", NULL }, 1,
		     "evvm: kernel '/nonexistent/vmlinux': open: ENOENT");
}

static void test_non_elf_kernel_refused(void **state)
{
	char path[] = "/tmp/evvm-test-XXXXXX";
	int fd = mkstemp(path);

	(void)state;
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "#!/bin/sh\necho not a kernel\n", 28), 28);
	close(fd);
	require_kvm(); /* the image is checked after KVM is opened */
	expect_error((const char *[]){ "run", "--kernel", path, NULL }, 1, "not an ELF file");
	unlink(path);
}

static void test_help_documents_every_flag(void **state)
{
	struct run_result r;

	(void)state;
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--help", NULL });
	assert_int_equal(r.status, 0);
	assert_contains(r.out, "--kernel PATH");
	assert_contains(r.out, "--cmdline STR");
	assert_contains(r.out, "--cpus boot=N");
	assert_contains(r.out, "--memory size=SIZE");
	assert_contains(r.out, "--ioeventfd=MODE");
	assert_contains(r.out, "--irqfd=MODE");
	assert_contains(r.out, "--poll-max-us=N");
	assert_contains(r.out, "--stats[=FORMAT]");
	assert_contains(r.out, "--testdev");
	assert_contains(r.out, "--transport=T");
	run_result_free(&r);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_help_documents_every_flag),
		cmocka_unit_test(test_bad_command_lines),
		cmocka_unit_test(test_non_elf_kernel_refused),
		cmocka_unit_test(test_exit_status_passes_through),
		cmocka_unit_test(test_kernel_from_file),
		cmocka_unit_test(test_serial_output_arrives),
		cmocka_unit_test(test_serial_interrupt),
		cmocka_unit_test(test_serial_input_from_terminal),
		cmocka_unit_test(test_unowned_mmio_reads_all_ones),
		cmocka_unit_test(test_two_vcpus_come_up),
		cmocka_unit_test(test_triple_fault_fails_loudly),
		cmocka_unit_test(test_sigterm_stops_the_vm),
		cmocka_unit_test(test_acpi_poweroff),
		cmocka_unit_test(test_demo_passes),
	};

	return cmocka_run_group_tests_name("evvm run", tests, NULL, NULL);
}
