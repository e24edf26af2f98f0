// SPDX-License-Identifier: MIT
/*
 * Token buckets (lib/tbucket.c) on a clock the test moves: capacity,
 * refill rate without lost fractions, the one-time burst, oversized
 * requests and their debt, and the wait a timer would be armed with.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <evvm/tbucket.h>

#define MS 1000000ULL

static void test_no_limit(void **state)
{
	struct tbucket b;

	(void)state;
	tbucket_init(&b, 0, 0, 100, 0);
	assert_false(tbucket_limited(&b));
	assert_true(tbucket_take(&b, UINT64_MAX, 0));
	assert_int_equal(tbucket_wait_ns(&b, UINT64_MAX, 0), 0);
	tbucket_init(&b, 1000, 0, 0, 0); /* refill_time 0: no limit either */
	assert_false(tbucket_limited(&b));
	assert_true(tbucket_take(&b, 5000, 0));
}

/* 1000 tokens a second (size 100, refilled in 100 ms): full, empty, refilled. */
static void test_capacity_and_rate(void **state)
{
	struct tbucket b;
	uint64_t t = 5 * MS;

	(void)state;
	tbucket_init(&b, 100, 0, 100, t);
	assert_true(tbucket_limited(&b));
	assert_true(tbucket_take(&b, 60, t));
	assert_true(tbucket_take(&b, 40, t));
	assert_false(tbucket_take(&b, 1, t));
	/* 1 token per ms. */
	assert_int_equal(tbucket_wait_ns(&b, 10, t), 10 * MS);
	assert_false(tbucket_take(&b, 10, t + 9 * MS));
	assert_true(tbucket_take(&b, 10, t + 10 * MS));
	/* Never above size, however long it waits. */
	t += 10 * MS + 1000 * MS;
	assert_true(tbucket_take(&b, 100, t));
	assert_false(tbucket_take(&b, 1, t));
}

/* Taken one token at a time, every 0.3 ms: no fraction is lost. */
static void test_no_lost_fractions(void **state)
{
	struct tbucket b;
	uint64_t t = 0, taken = 0;

	(void)state;
	tbucket_init(&b, 10, 0, 10, 0); /* 1 token a ms */
	for (t = 0; t <= 1000 * MS; t += 300000)
		taken += tbucket_take(&b, 1, t);
	/*
	 * The 10 it starts with and 1 a ms for 999.9 ms (the bucket is never
	 * full again, so nothing is capped): 1009 whole tokens.
	 */
	assert_int_equal(taken, 1009);
}

/* The one-time burst is spent first, and never refills. */
static void test_one_time_burst(void **state)
{
	struct tbucket b;

	(void)state;
	tbucket_init(&b, 100, 50, 100, 0);
	assert_true(tbucket_take(&b, 30, 0));  /* burst 50 -> 20 */
	assert_true(tbucket_take(&b, 120, 0)); /* 20 from the burst, 100 from the bucket */
	assert_false(tbucket_take(&b, 1, 0));
	assert_int_equal(tbucket_wait_ns(&b, 100, 0), 100 * MS);
	assert_true(tbucket_take(&b, 100, 100 * MS));
	assert_false(tbucket_take(&b, 1, 100 * MS)); /* the burst is gone for good */
}

/* A request bigger than the bucket goes when it is full, and the debt delays the next. */
static void test_oversized(void **state)
{
	struct tbucket b;

	(void)state;
	tbucket_init(&b, 100, 0, 100, 0);
	assert_true(tbucket_take(&b, 50, 0));
	assert_false(tbucket_take(&b, 250, 0)); /* not full */
	assert_int_equal(tbucket_wait_ns(&b, 250, 0), 50 * MS);
	assert_true(tbucket_take(&b, 250, 50 * MS)); /* full: goes, owing 150 */
	assert_false(tbucket_take(&b, 1, 50 * MS));
	/* 150 ms to pay the debt, 1 more ms for one token. */
	assert_int_equal(tbucket_wait_ns(&b, 1, 50 * MS), 151 * MS);
	assert_false(tbucket_take(&b, 1, 200 * MS));
	assert_true(tbucket_take(&b, 1, 201 * MS));
}

/* A clock that goes back refills nothing and breaks nothing. */
static void test_clock_back(void **state)
{
	struct tbucket b;

	(void)state;
	tbucket_init(&b, 10, 0, 10, 100 * MS);
	assert_true(tbucket_take(&b, 10, 100 * MS));
	assert_false(tbucket_take(&b, 1, 50 * MS));
	assert_true(tbucket_take(&b, 1, 101 * MS));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_limit),	  cmocka_unit_test(test_capacity_and_rate),
		cmocka_unit_test(test_no_lost_fractions), cmocka_unit_test(test_one_time_burst),
		cmocka_unit_test(test_oversized),	  cmocka_unit_test(test_clock_back),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
