// SPDX-License-Identifier: MIT
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "parse.h"

static void test_size(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_size("4096", &v), 0);
	assert_int_equal(v, 4096);
	assert_int_equal(parse_size("512M", &v), 0);
	assert_int_equal(v, 512ULL << 20);
	assert_int_equal(parse_size("2G", &v), 0);
	assert_int_equal(v, 2ULL << 30);
	assert_int_equal(parse_size("64k", &v), 0);
	assert_int_equal(v, 64ULL << 10);
	assert_int_equal(parse_size("", &v), -EINVAL);
	assert_int_equal(parse_size("M", &v), -EINVAL);
	assert_int_equal(parse_size("-1M", &v), -EINVAL);
	assert_int_equal(parse_size("12MB", &v), -EINVAL);
	assert_int_equal(parse_size("99999999999T", &v), -EINVAL);
	assert_int_equal(parse_size("99999999999999999999", &v), -EINVAL);
}

static void test_uint(void **state)
{
	uint64_t v;

	(void)state;
	assert_int_equal(parse_uint("2", 1, 64, &v), 0);
	assert_int_equal(v, 2);
	assert_int_equal(parse_uint("0", 1, 64, &v), -EINVAL);
	assert_int_equal(parse_uint("65", 1, 64, &v), -EINVAL);
	assert_int_equal(parse_uint("2x", 1, 64, &v), -EINVAL);
	assert_int_equal(parse_uint(" 2", 1, 64, &v), -EINVAL);
}

static void test_kv(void **state)
{
	char buf[] = "boot=2,max=4";
	char *s = buf, *k, *v;

	(void)state;
	assert_int_equal(parse_kv_next(&s, &k, &v), 1);
	assert_string_equal(k, "boot");
	assert_string_equal(v, "2");
	assert_int_equal(parse_kv_next(&s, &k, &v), 1);
	assert_string_equal(k, "max");
	assert_string_equal(v, "4");
	assert_int_equal(parse_kv_next(&s, &k, &v), 0);

	char bad[] = "boot";
	s = bad;
	assert_int_equal(parse_kv_next(&s, &k, &v), -EINVAL);
	char empty_key[] = "=3";
	s = empty_key;
	assert_int_equal(parse_kv_next(&s, &k, &v), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_size),
		cmocka_unit_test(test_uint),
		cmocka_unit_test(test_kv),
	};

	return cmocka_run_group_tests_name("parse", tests, NULL, NULL);
}
