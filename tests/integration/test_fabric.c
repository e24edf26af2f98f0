// SPDX-License-Identifier: MIT
/*
 * The eventfd fabric driven from inside real guests: every in-guest test
 * runs twice, on KVM's path (ioeventfd/irqfd in the kernel) and on evvm's
 * userspace path, with the same expectations.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "harness.h"

#define TIMEOUT 300

static const char *const kernel_path[] = { "--ioeventfd=kernel", "--irqfd=kernel" };
static const char *const user_path[] = { "--ioeventfd=user", "--irqfd=user" };

/* Run `evvm run --testdev <path> --cmdline tests=<tests>` and expect all to pass. */
static void run_on(const char *const path[2], const char *tests, const char *expect)
{
	char cmdline[256], ok[128];
	struct run_result r;

	snprintf(cmdline, sizeof(cmdline), "tests=%s", tests);
	run_evvm(&r, TIMEOUT,
		 (const char *[]){ "run", "--testdev", path[0], path[1], "--cmdline", cmdline,
				   NULL });
	assert_false(r.timed_out);
	if (r.status != 0)
		print_error("%s %s: status %d\nstdout:\n%s\nstderr:\n%s\n", path[0], path[1],
			    r.status, r.out, r.err);
	assert_int_equal(r.status, 0);
	/* Each named test reported ok (not merely "nothing failed"). */
	for (const char *t = tests; *t;) {
		size_t n = strcspn(t, ",");

		snprintf(ok, sizeof(ok), "evvm-guest: test %.*s: ok\n", (int)n, t);
		assert_contains(r.out, ok);
		t += n + (t[n] == ',');
	}
	if (expect)
		assert_contains(r.out, expect);
	run_result_free(&r);
}

static void both_paths(const char *tests, const char *expect)
{
	require_kvm();
	run_on(kernel_path, tests, expect);
	run_on(user_path, tests, expect);
}

static void test_ioeventfd_datamatch(void **state)
{
	(void)state;
	both_paths("ioeventfd-datamatch", NULL);
}

static void test_ioeventfd_wildcard(void **state)
{
	(void)state;
	both_paths("ioeventfd-wildcard", NULL);
}

static void test_ioeventfd_length_mismatch(void **state)
{
	(void)state;
	both_paths("ioeventfd-length", NULL);
}

static void test_ioeventfd_any_length(void **state)
{
	(void)state;
	both_paths("ioeventfd-anylen", NULL);
}

static void test_ioeventfd_pio(void **state)
{
	(void)state;
	both_paths("ioeventfd-pio", NULL);
}

static void test_ioeventfd_two_fds_one_address(void **state)
{
	(void)state;
	both_paths("ioeventfd-two-fds", NULL);
}

static void test_ioeventfd_deassign_exits_again(void **state)
{
	(void)state;
	both_paths("ioeventfd-deassign", NULL);
}

static void test_irqfd_msi(void **state)
{
	(void)state;
	both_paths("irqfd-msi", NULL);
}

static void test_irqfd_ioapic_edge(void **state)
{
	(void)state;
	both_paths("irqfd-edge", NULL);
}

static void test_irqfd_signalled_before_assign(void **state)
{
	(void)state;
	both_paths("irqfd-presignal", NULL);
}

/* 10,000 level cycles: none lost; spurious ones fail unless the host caused them. */
static void test_irqfd_ioapic_level_resample(void **state)
{
	(void)state;
	both_paths("irqfd-level", "evvm-guest: irqfd-level: 10000 cycles, ");
}

/* All of them in one boot, so each test cleans up after itself. */
static void test_all_in_one_boot(void **state)
{
	(void)state;
	both_paths("ioeventfd-datamatch,ioeventfd-wildcard,ioeventfd-length,ioeventfd-anylen,"
		   "ioeventfd-pio,ioeventfd-two-fds,ioeventfd-deassign,irqfd-msi,irqfd-edge,"
		   "irqfd-presignal,bench",
		   NULL);
}

/* --stats=json counts what the guest did: 100 kicks answered by 100 interrupts. */
static void test_stats_json(void **state)
{
	const char *const *paths[] = { kernel_path, user_path };
	struct run_result r;

	(void)state;
	require_kvm();
	for (int i = 0; i < 2; i++) {
		const char *const *p = paths[i];
		bool user = i == 1;

		run_evvm(&r, TIMEOUT,
			 (const char *[]){ "run", "--testdev", "--stats=json", p[0], p[1],
					   "--cmdline", "tests=bench bench.n=100", NULL });
		assert_int_equal(r.status, 0);
		assert_contains(r.err, user ? "\"ioeventfd\": {\"mode\": \"user\", \"kicks\": 100, "
					      "\"user_hits\": 200" :
					      "\"ioeventfd\": {\"mode\": \"kernel\", \"kicks\": 100, "
					      "\"user_hits\": 0");
		assert_contains(r.err, user ? "\"irqfd\": {\"mode\": \"user\", \"signals\": 100, "
					      "\"injected\": 100" :
					      "\"irqfd\": {\"mode\": \"kernel\", \"signals\": 100, "
					      "\"injected\": 0");
		assert_contains(r.err, "\"testdev-io\": {\"wakeups\": ");
		run_result_free(&r);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ioeventfd_datamatch),
		cmocka_unit_test(test_ioeventfd_wildcard),
		cmocka_unit_test(test_ioeventfd_length_mismatch),
		cmocka_unit_test(test_ioeventfd_any_length),
		cmocka_unit_test(test_ioeventfd_pio),
		cmocka_unit_test(test_ioeventfd_two_fds_one_address),
		cmocka_unit_test(test_ioeventfd_deassign_exits_again),
		cmocka_unit_test(test_irqfd_msi),
		cmocka_unit_test(test_irqfd_ioapic_edge),
		cmocka_unit_test(test_irqfd_signalled_before_assign),
		cmocka_unit_test(test_irqfd_ioapic_level_resample),
		cmocka_unit_test(test_all_in_one_boot),
		cmocka_unit_test(test_stats_json),
	};

	return cmocka_run_group_tests_name("eventfd fabric", tests, NULL, NULL);
}
