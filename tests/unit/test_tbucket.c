// SPDX-License-Identifier: MIT
/*
 * Token buckets (lib/tbucket.c) on a clock the test moves: capacity,
 * refill rate without lost fractions, the one-time burst, oversized
 * requests and their debt, and the wait a timer would be armed with; a
 * level saved and restored (snapshots), and levels that cannot be.
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

/*
 * A level saved (with what refilled up to the save) and given to a new
 * bucket at another clock: what was spent stays spent, partial tokens and
 * debt included, and the time between save and restore refills nothing.
 */
static void test_level_roundtrip(void **state)
{
	struct tbucket a, b;
	struct tbucket_level l;

	(void)state;
	tbucket_init(&a, 100, 20, 100, 0);    /* 1 token a ms, 20 one-time */
	assert_true(tbucket_take(&a, 90, 0)); /* 20 burst + 70: 30 left */
	tbucket_get_level(&a, MS / 2, &l);    /* 30.5 tokens */
	assert_int_equal(l.burst, 0);
	assert_null(tbucket_level_fault(&a, &l));

	tbucket_init(&b, 100, 20, 100, 0);
	assert_null(tbucket_level_fault(&b, &l));
	tbucket_set_level(&b, &l, 1000 * MS);
	assert_false(tbucket_take(&b, 31, 1000 * MS));
	assert_true(tbucket_take(&b, 30, 1000 * MS));
	/* The half token saved and half a ms after the restore make one. */
	assert_false(tbucket_take(&b, 1, 1000 * MS + MS / 2 - 1));
	assert_true(tbucket_take(&b, 1, 1000 * MS + MS / 2));

	/* A debt (an oversized take) survives too. */
	tbucket_init(&a, 100, 0, 100, 0);
	assert_true(tbucket_take(&a, 150, 0)); /* owes 50 */
	tbucket_get_level(&a, 0, &l);
	assert_true(l.debt_lo != 0);
	tbucket_init(&b, 100, 0, 100, 0);
	assert_null(tbucket_level_fault(&b, &l));
	tbucket_set_level(&b, &l, 7 * MS);
	assert_int_equal(tbucket_wait_ns(&b, 1, 7 * MS), 51 * MS);
}

/* Levels no bucket with these limits can have are refused, each naming why. */
static void test_level_faults(void **state)
{
	struct tbucket b, none;
	struct tbucket_level full, l;

	(void)state;
	tbucket_init(&b, 100, 20, 100, 0);
	tbucket_init(&none, 0, 0, 0, 0);
	tbucket_get_level(&b, 0, &full);
	assert_int_equal(full.burst, 20);
	assert_null(tbucket_level_fault(&b, &full));

	l = full;
	l.budget_lo++;
	assert_string_equal(tbucket_level_fault(&b, &l), "a budget above the bucket's size");
	l = full;
	l.budget_hi = 1;
	assert_string_equal(tbucket_level_fault(&b, &l), "a budget above the bucket's size");
	l = full;
	l.burst = 21;
	assert_string_equal(tbucket_level_fault(&b, &l),
			    "more one-time burst left than the bucket was given");
	l = full;
	l.debt_lo = 1; /* with a budget: refill pays a debt first */
	assert_string_equal(tbucket_level_fault(&b, &l), "a debt no request can leave");
	l = (struct tbucket_level){ .debt_hi = 1ULL << 40 };
	assert_string_equal(tbucket_level_fault(&b, &l), "a debt no request can leave");
	l = (struct tbucket_level){ .burst = 1 };
	assert_string_equal(tbucket_level_fault(&none, &l),
			    "a level for a bucket that limits nothing");
	l = (struct tbucket_level){ 0 };
	assert_null(tbucket_level_fault(&none, &l));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_no_limit),	  cmocka_unit_test(test_capacity_and_rate),
		cmocka_unit_test(test_no_lost_fractions), cmocka_unit_test(test_one_time_burst),
		cmocka_unit_test(test_oversized),	  cmocka_unit_test(test_clock_back),
		cmocka_unit_test(test_level_roundtrip),	  cmocka_unit_test(test_level_faults),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
