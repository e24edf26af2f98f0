// SPDX-License-Identifier: MIT
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "capture.h"

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

static int test_saved_stderr = -1;
static FILE *test_file;

void capture_test_begin(void)
{
	capture_test_end(); /* one left open by a setup that failed */
	fflush(stderr);
	test_file = tmpfile();
	assert_non_null(test_file);
	test_saved_stderr = dup(STDERR_FILENO);
	assert_true(test_saved_stderr >= 0);
	assert_true(dup2(fileno(test_file), STDERR_FILENO) >= 0);
}

void capture_test_end(void)
{
	char buf[4096];
	bool failed = false;
	size_t n;

	if (!test_file)
		return;
	fflush(stderr);
	dup2(test_saved_stderr, STDERR_FILENO);
	close(test_saved_stderr);
	test_saved_stderr = -1;
	rewind(test_file);
	while (!failed && fgets(buf, sizeof(buf), test_file))
		failed = strstr(buf, "[  ERROR   ]") || strstr(buf, "[   LINE   ]");
	rewind(test_file);
	while (failed && (n = fread(buf, 1, sizeof(buf), test_file)) > 0)
		fwrite(buf, 1, n, stderr);
	fclose(test_file);
	test_file = NULL;
}
