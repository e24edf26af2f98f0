// SPDX-License-Identifier: MIT
/* `evvm run` end to end: the real binary boots the real test guest. */
#include <setjmp.h>
#include <signal.h>
#include <stdbool.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "cli.h"

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
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "-v", "--cmdline", "tests=mmio-unowned", NULL });
	assert_contains(r.out, "evvm-guest: test mmio-unowned: ok");
	assert_int_equal(r.status, 0);
	/* evvm says so under -v, once per address, and keeps running. */
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
	/* A passing demo alarms nobody: its own tests' expected accesses log only under -v. */
	assert_string_equal(r.err, "");
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

/*
 * Whether @help documents option @o: "--NAME" followed by what its kind of
 * argument looks like ("--kernel PATH" or "--irqfd=MODE", "--stats[=FORMAT]",
 * "--rng" alone), and "-c, --NAME" for one with a short form.
 */
static bool help_documents(const char *help, const struct option *o)
{
	char flag[64];

	snprintf(flag, sizeof(flag), "--%s", o->name);
	for (const char *p = help; (p = strstr(p, flag)); p++) {
		char next = p[strlen(flag)];
		bool ok = o->has_arg == required_argument   ? next == ' ' || next == '='
			  : o->has_arg == optional_argument ? !strncmp(p + strlen(flag), "[=", 2)
							    : next == ' ' || next == '\n';

		/* Starts an option line ("  --x" or "  -v, --x"), not a mention in prose. */
		if (ok && p >= help + 2 && (!strncmp(p - 2, "  ", 2) || !strncmp(p - 2, ", ", 2))) {
			if (o->val >= 0x20 && o->val < 0x7f && p >= help + 4) {
				char shortf[8];

				snprintf(shortf, sizeof(shortf), "-%c, ", o->val);
				return !strncmp(p - 4, shortf, 4);
			}
			return true;
		}
	}
	return false;
}

/* Every option the parser accepts (its own table), and nothing else, is in --help. */
static void test_help_documents_every_flag(void **state)
{
	struct run_result r;
	unsigned int n = 0;

	(void)state;
	run_evvm(&r, TIMEOUT, (const char *[]){ "run", "--help", NULL });
	assert_int_equal(r.status, 0);
	for (const struct option *o = run_option_table(); o->name; o++, n++)
		if (!help_documents(r.out, o))
			fail_msg("evvm run --help does not document --%s:\n%s", o->name, r.out);
	assert_true(n >= 19); /* the table was found: as many options as when this was written */
	/* And the help's option lines name no option the parser lacks. */
	for (const char *p = r.out; (p = strstr(p, "\n  --")); p++) {
		char name[32];
		bool known = false;

		if (sscanf(p + 5, "%31[a-z-]", name) != 1)
			continue;
		for (const struct option *o = run_option_table(); o->name; o++)
			known |= !strcmp(o->name, name);
		if (!known)
			fail_msg("evvm run --help documents --%s, which the parser does not accept",
				 name);
	}
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
