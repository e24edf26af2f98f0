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
 * For a test's setup and teardown: everything the test writes to stderr
 * (the evvm log lines of the errors it provokes on purpose) is held back,
 * and written out by capture_test_end() only if the test failed (cmocka's
 * error lines, which also go to stderr, are in the text). Nests with
 * capture_begin()/capture_end().
 */
void capture_test_begin(void);
void capture_test_end(void);

#endif
