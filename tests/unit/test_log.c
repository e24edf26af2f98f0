// SPDX-License-Identifier: MIT
/* The log's rate limit (lib/log.c), used for lines a guest or a peer can cause. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
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

/* Read what the log wrote into @fd's pipe (NUL-terminated into @buf). */
static void read_pipe(int fd, char *buf, size_t size)
{
	ssize_t n = read(fd, buf, size - 1);

	assert_true(n > 0);
	buf[n] = 0;
}

/* show_level and show_log_origin: "[LEVEL] [file:line] " before the message. */
static void test_level_and_origin(void **state)
{
	char buf[256];
	int p[2];
	int line;

	(void)state;
	assert_int_equal(pipe(p), 0);
	evvm_log_set_level(EVVM_LOG_INFO);
	evvm_log_set_output(p[1], true);
	evvm_log_set_origin(true);
	line = __LINE__ + 1;
	pr_warn("disk %d", 7);
	read_pipe(p[0], buf, sizeof(buf));
	snprintf(buf + 128, 128, "evvm: [WARN] [%s:%d] disk 7\n", __FILE__, line);
	assert_string_equal(buf, buf + 128);
	evvm_log_set_origin(false);
	pr_info("plain");
	read_pipe(p[0], buf, sizeof(buf));
	assert_string_equal(buf, "evvm: [INFO] plain\n");
	/* Above the level: nothing written, nothing lost. */
	pr_debug("hidden");
	evvm_log_set_output(-1, false);
	evvm_log_set_level(EVVM_LOG_WARN);
	close(p[1]);
	assert_int_equal(read(p[0], buf, sizeof(buf)), 0);
	close(p[0]);
}

/* A line the output does not take (a full pipe) is counted as lost, not waited for. */
static void test_lost_lines(void **state)
{
	static char fill[65536];
	unsigned long before = evvm_log_lost();
	int p[2];

	(void)state;
	assert_int_equal(pipe2(p, O_NONBLOCK), 0);
	while (write(p[1], fill, sizeof(fill)) > 0)
		;
	evvm_log_set_output(p[1], false);
	pr_err("one");
	pr_err("two");
	evvm_log_set_output(-1, false);
	assert_int_equal(evvm_log_lost(), before + 2);
	close(p[0]);
	close(p[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_burst_then_count_then_report),
		cmocka_unit_test(test_level_and_origin),
		cmocka_unit_test(test_lost_lines),
	};

	return cmocka_run_group_tests_name("log", tests, NULL, NULL);
}
