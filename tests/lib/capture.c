// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/log.h>

#include "capture.h"

/* Every test program sees evvm's log on stderr, as evvm's commands do. */
__attribute__((constructor)) static void capture_log_to_stderr(void)
{
	evvm_log_set_output(STDERR_FILENO, false);
}

static int saved_stderr = -1;
static FILE *capture_file;

void capture_begin(void)
{
	fflush(stderr);
	capture_file = tmpfile();
	assert_non_null(capture_file);
	saved_stderr = dup(STDERR_FILENO);
	assert_true(saved_stderr >= 0);
	assert_true(dup2(fileno(capture_file), STDERR_FILENO) >= 0);
}

void capture_end(char *buf, size_t size, bool show)
{
	size_t n;

	fflush(stderr);
	assert_true(dup2(saved_stderr, STDERR_FILENO) >= 0);
	close(saved_stderr);
	rewind(capture_file);
	n = fread(buf, 1, size - 1, capture_file);
	buf[n] = '\0';
	fclose(capture_file);
	if (show)
		fputs(buf, stderr);
}

/* The captured test running now (cmocka runs one at a time), and whether it returned. */
static const struct capture_test *current;
static bool current_passed;
static int test_saved_stderr = -1;
static FILE *test_file;

/* Stop holding stderr back; what was held goes out if @show. */
static void capture_test_end(bool show)
{
	char buf[4096];
	size_t n;

	if (!test_file)
		return;
	fflush(stderr);
	dup2(test_saved_stderr, STDERR_FILENO);
	close(test_saved_stderr);
	test_saved_stderr = -1;
	rewind(test_file);
	while (show && (n = fread(buf, 1, sizeof(buf), test_file)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(test_file);
	test_file = NULL;
}

int capture_setup(void **state)
{
	/* One left open by a setup that failed (its test did not run): show it. */
	capture_test_end(true);
	current = *state; /* the struct capture_test, cmocka's initial state */
	current_passed = false;
	*state = NULL;
	fflush(stderr);
	test_file = tmpfile();
	if (!test_file)
		return -1;
	test_saved_stderr = dup(STDERR_FILENO);
	if (test_saved_stderr < 0 || dup2(fileno(test_file), STDERR_FILENO) < 0)
		return -1;
	return current->setup ? current->setup(state) : 0;
}

/* A failing assertion leaves the test by longjmp(), so current_passed stays false. */
void capture_run(void **state)
{
	current->test(state);
	current_passed = true;
}

int capture_teardown(void **state)
{
	int err = current->teardown ? current->teardown(state) : 0;

	capture_test_end(!current_passed || err);
	return err;
}
