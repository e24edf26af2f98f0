// SPDX-License-Identifier: MIT
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include <evvm/loop.h>

struct counter {
	struct evvm_loop *loop;
	int fd;
	int calls;
	int stop_after;
	uint64_t sum;
};

static void on_ready(void *opaque, uint32_t events)
{
	struct counter *c = opaque;
	uint64_t v;

	assert_true(events & EPOLLIN);
	assert_int_equal(read(c->fd, &v, sizeof(v)), sizeof(v));
	c->sum += v;
	if (++c->calls == c->stop_after)
		loop_stop(c->loop);
}

static void *run_loop(void *arg)
{
	loop_run(arg);
	return NULL;
}

static void signal_fd(int fd)
{
	uint64_t one = 1;

	assert_int_equal(write(fd, &one, sizeof(one)), sizeof(one));
}

static void test_dispatch_and_stop(void **state)
{
	struct counter c = { .stop_after = 3 };

	(void)state;
	assert_int_equal(loop_create(&c.loop, "t"), 0);
	c.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(loop_add(c.loop, c.fd, EPOLLIN, on_ready, &c), 0);
	assert_int_equal(loop_add(c.loop, c.fd, EPOLLIN, on_ready, &c), -EEXIST);
	signal_fd(c.fd);
	signal_fd(c.fd);
	c.stop_after = 1;
	/* One readiness, one callback: it reads the whole count. */
	assert_int_equal(loop_run(c.loop), 0);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.sum, 2);
	/* A stop is final: a stop that raced ahead of loop_run() is never lost. */
	signal_fd(c.fd);
	assert_int_equal(loop_run(c.loop), 0);
	assert_int_equal(c.calls, 1);
	assert_int_equal(loop_del(c.loop, c.fd), 0);
	assert_int_equal(loop_del(c.loop, c.fd), -ENOENT);
	loop_destroy(c.loop);
	close(c.fd);
}

static int add_one(void *opaque)
{
	int *v = opaque;

	return ++*v;
}

static void test_call_runs_in_loop_thread(void **state)
{
	struct evvm_loop *loop;
	pthread_t t;
	int v = 0;

	(void)state;
	assert_int_equal(loop_create(&loop, "t"), 0);
	/* Not running: called directly. */
	assert_int_equal(loop_call(loop, add_one, &v), 1);
	assert_int_equal(pthread_create(&t, NULL, run_loop, loop), 0);
	for (int i = 0; i < 100; i++)
		assert_int_equal(loop_call(loop, add_one, &v), i + 2);
	loop_stop(loop);
	pthread_join(t, NULL);
	assert_int_equal(v, 101);
	loop_destroy(loop);
}

static void test_stop_from_other_thread(void **state)
{
	struct evvm_loop *loop;
	pthread_t t;

	(void)state;
	assert_int_equal(loop_create(&loop, "t"), 0);
	assert_int_equal(pthread_create(&t, NULL, run_loop, loop), 0);
	loop_stop(loop);
	assert_int_equal(pthread_join(t, NULL), 0);
	loop_destroy(loop);
}

struct poller {
	struct counter c;
	int rounds;
};

static void *kick_often(void *arg)
{
	struct poller *p = arg;
	struct timespec gap = { 0, 20000 }; /* 20 us: well inside a 5 ms window */

	for (int i = 0; i < p->rounds; i++) {
		signal_fd(p->c.fd);
		nanosleep(&gap, NULL);
	}
	return NULL;
}

/*
 * Run @p's loop (with a polling budget of @poll_max, if non-zero) while
 * kick_often() signals it; the loop's stats once both are done.
 */
static void run_poller(struct poller *p, unsigned int poll_max, struct evvm_loop_stats *s)
{
	pthread_t lt, kt;
	uint64_t left;

	assert_int_equal(loop_create(&p->c.loop, "t"), 0);
	if (poll_max)
		loop_set_poll_max(p->c.loop, poll_max);
	p->c.fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_int_equal(loop_add(p->c.loop, p->c.fd, EPOLLIN, on_ready, &p->c), 0);
	assert_int_equal(pthread_create(&lt, NULL, run_loop, p->c.loop), 0);
	assert_int_equal(pthread_create(&kt, NULL, kick_often, p), 0);
	pthread_join(kt, NULL);
	loop_stop(p->c.loop);
	pthread_join(lt, NULL);
	/* Signals the loop had no time to dispatch before it stopped are still counted. */
	if (read(p->c.fd, &left, sizeof(left)) == sizeof(left))
		p->c.sum += left;
	loop_get_stats(p->c.loop, s);
	loop_destroy(p->c.loop);
	close(p->c.fd);
}

/*
 * Events arriving soon after each wait make the window grow and catch them,
 * and the loop measures whether polling shortened its waits. Whether it
 * then keeps polling depends on this machine (whether the poller slows
 * the kicker); bench/notify's loop paths show that, not this test.
 */
static void test_adaptive_polling_catches_frequent_events(void **state)
{
	struct poller p = { .c.stop_after = -1, .rounds = 2000 };
	struct evvm_loop_stats s;

	(void)state;
	/* A generous window, so a loaded machine's late wakeups still fall inside it. */
	run_poller(&p, 5000, &s);
	assert_int_equal(p.c.sum, 2000);
	assert_true(s.poll_hits > 0);
	assert_true(s.poll_trials >= 1);
	assert_true(s.poll_mean_ns[0] > 0 && s.poll_mean_ns[1] > 0);
}

/* Without a polling budget the loop never polls. */
static void test_no_polling_by_default(void **state)
{
	struct poller p = { .c.stop_after = -1, .rounds = 200 };
	struct evvm_loop_stats s;

	(void)state;
	run_poller(&p, 0, &s);
	assert_int_equal(p.c.sum, 200);
	assert_int_equal(s.poll_hits, 0);
	assert_int_equal(s.poll_ns, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dispatch_and_stop),
		cmocka_unit_test(test_call_runs_in_loop_thread),
		cmocka_unit_test(test_stop_from_other_thread),
		cmocka_unit_test(test_adaptive_polling_catches_frequent_events),
		cmocka_unit_test(test_no_polling_by_default),
	};

	return cmocka_run_group_tests_name("loop", tests, NULL, NULL);
}
