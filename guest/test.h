/*
 * In-guest tests. A test is one file:
 *
 *	static int test_foo(void)
 *	{
 *		if (bad)
 *			return test_fail("reg 0x%x", val);
 *		return 0;
 *	}
 *	GUEST_TEST("foo", test_foo);
 *
 * and runs when the command line says tests=...,foo,...
 */
#ifndef GUEST_TEST_H
#define GUEST_TEST_H

#include "types.h"

struct guest_test {
	const char *name;
	int (*fn)(void);	/* 0: pass; else it called test_fail() */
};

/* Put {name, fn} into .guest_tests, which guest.ld collects. */
#define GUEST_TEST(_name, _fn)						\
	static const struct guest_test __guest_test_##_fn		\
	__used __attribute__((section(".guest_tests"))) __aligned(8) =	\
		{ .name = (_name), .fn = (_fn) }

/* Record why the running test failed (the first call wins); returns -1. */
int test_fail(const char *fmt, ...) __printf(1, 2);

/*
 * The command line's @key as a number (decimal or 0x-hex) in [@min, @max]
 * into *@out, or @def when absent: 0, or test_fail()'s -1.
 */
int test_arg_u64(const char *key, u64 def, u64 min, u64 max, u64 *out);

/*
 * Run the comma-separated test names in @list (NULL: the default set),
 * print one line per test and a summary, and exit the VM.
 */
__noreturn void tests_run(const char *list);

#endif
