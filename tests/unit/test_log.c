// SPDX-License-Identifier: MIT
/* The log's rate limit (lib/log.c), used for lines a guest or a peer can cause. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/log.h>

static long now_sec(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec;
}

static void test_burst_then_count_then_report(void **state)
{
	struct evvm_ratelimit rl = EVVM_RATELIMIT_INIT(3);
	unsigned long dropped;
	long sec;

	(void)state;
	/* Start right after a second begins, so the burst cannot straddle two. */
	for (sec = now_sec(); now_sec() == sec;)
		usleep(1000);
	sec = now_sec();
	for (int i = 0; i < 3; i++) {
		assert_true(evvm_ratelimit(&rl, &dropped));
		assert_int_equal(dropped, 0);
	}
	for (int i = 0; i < 4; i++) {
		assert_false(evvm_ratelimit(&rl, &dropped));
		assert_int_equal(dropped, 0);
	}
	assert_int_equal(now_sec(), sec); /* 7 calls take well under a second */

	/* The next second: the 4 held back are reported once, and lines flow again. */
	while (now_sec() == sec)
		usleep(10000);
	assert_true(evvm_ratelimit(&rl, &dropped));
	assert_int_equal(dropped, 4);
	assert_true(evvm_ratelimit(&rl, &dropped));
	assert_int_equal(dropped, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_count_then_report),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
