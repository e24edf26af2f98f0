/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TESTS_CAPTURE_H
#define EVVM_TESTS_CAPTURE_H

#include <stdbool.h>
#include <stddef.h>

/* Send this process' stderr to a temporary file (evvm's log lines go there). */
void capture_begin(void);

/* Stop capturing; the text goes to @buf (NUL-terminated) and, when @show, to stderr. */
void capture_end(char *buf, size_t size, bool show);

/*
 * A test whose stderr (the evvm log lines of the errors it provokes on
 * purpose) is held back, and written out only if the test failed: in a
 * cmocka test array, cmocka_unit_test_captured(f) or
 * cmocka_unit_test_captured_setup_teardown(f, setup, teardown) for one
 * with fixtures of its own (which run inside the capture). Nests with
 * capture_begin()/capture_end().
 */
struct capture_test {
	void (*test)(void **state);
	int (*setup)(void **state);
	int (*teardown)(void **state);
};

void capture_run(void **state);
int capture_setup(void **state);
int capture_teardown(void **state);

/* clang-format off */
#define cmocka_unit_test_captured_setup_teardown(f, su, td)                        \
	{ #f, capture_run, capture_setup, capture_teardown,                        \
	  (void *)&(const struct capture_test){ f, su, td } }
/* clang-format on */
#define cmocka_unit_test_captured(f) cmocka_unit_test_captured_setup_teardown(f, NULL, NULL)

#endif
