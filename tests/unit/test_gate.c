// SPDX-License-Identifier: MIT
/*
 * The vCPU gate of vm_pause() (vmm/gate.c) with threads that play vCPUs:
 * each counts "guest instructions" between two passes of the gate, and a
 * kick only makes it reach its next pass sooner. No KVM involved.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>

#include "gate.h"

#include <cmocka.h>

#include "proc.h"

#define NR_VCPUS 4

struct fake_vcpu {
	struct vcpu_gate *g;
	pthread_t thread;
	atomic_ulong progress; /* passes done: the guest ran in between */
	atomic_bool ended;     /* gate_pass() said to stop */
	atomic_bool quit;      /* the test wants the thread to end by itself */
	bool enter_late;       /* sleep before gate_enter(), as a vCPU vm_run() starts later */
};

struct fixture {
	struct vcpu_gate g;
	struct fake_vcpu v[NR_VCPUS];
	atomic_uint kicks;
};

static void *vcpu_main(void *arg)
{
	struct fake_vcpu *v = arg;

	if (v->enter_late)
		usleep(30000);
	gate_enter(v->g);
	while (!atomic_load(&v->quit) && gate_pass(v->g)) {
		atomic_fetch_add(&v->progress, 1);
		usleep(100); /* "KVM_RUN" */
	}
	if (!atomic_load(&v->quit))
		atomic_store(&v->ended, true);
	gate_leave(v->g);
	return NULL;
}

static void kick_all(void *opaque)
{
	struct fixture *f = opaque;

	atomic_fetch_add(&f->kicks, 1);
}

static void start_vcpus(struct fixture *f, unsigned int n, bool late)
{
	for (unsigned int i = 0; i < n; i++) {
		f->v[i].g = &f->g;
		f->v[i].enter_late = late;
		assert_int_equal(pthread_create(&f->v[i].thread, NULL, vcpu_main, &f->v[i]), 0);
	}
}

static void join_vcpus(struct fixture *f, unsigned int n)
{
	for (unsigned int i = 0; i < n; i++) {
		atomic_store(&f->v[i].quit, true);
		pthread_join(f->v[i].thread, NULL);
	}
}

static void wait_progress(struct fake_vcpu *v, unsigned long beyond)
{
	double t0 = now_s();

	while (atomic_load(&v->progress) <= beyond) {
		if (now_s() - t0 > 10)
			fail_msg("a vCPU made no progress in 10 s");
		usleep(100);
	}
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	if (!f || gate_init(&f->g))
		return -1;
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	gate_destroy(&f->g);
	free(f);
	return 0;
}

/* Closed: every thread parked, none makes progress; opened: all go on. */
static void test_close_parks_all(void **state)
{
	struct fixture *f = *state;
	unsigned long frozen[NR_VCPUS];

	start_vcpus(f, NR_VCPUS, false);
	for (unsigned int i = 0; i < NR_VCPUS; i++)
		wait_progress(&f->v[i], 0);
	assert_int_equal(gate_close(&f->g, kick_all, f), 0);
	assert_int_equal(atomic_load(&f->kicks), 1);
	assert_true(gate_is_closed(&f->g));
	assert_int_equal(f->g.parked, NR_VCPUS);
	for (unsigned int i = 0; i < NR_VCPUS; i++)
		frozen[i] = atomic_load(&f->v[i].progress);
	usleep(50000);
	for (unsigned int i = 0; i < NR_VCPUS; i++)
		assert_int_equal(atomic_load(&f->v[i].progress), frozen[i]);

	/* Closing twice is refused, and does not kick again. */
	assert_int_equal(gate_close(&f->g, kick_all, f), -EALREADY);
	assert_int_equal(atomic_load(&f->kicks), 1);

	gate_open(&f->g);
	assert_false(gate_is_closed(&f->g));
	for (unsigned int i = 0; i < NR_VCPUS; i++)
		wait_progress(&f->v[i], frozen[i]);
	join_vcpus(f, NR_VCPUS);
	for (unsigned int i = 0; i < NR_VCPUS; i++)
		assert_false(atomic_load(&f->v[i].ended));
	assert_int_equal(f->g.running, 0);
}

/* No thread yet: close returns at once; a thread that enters later parks before running. */
static void test_close_before_threads(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(gate_close(&f->g, kick_all, f), 0);
	start_vcpus(f, 2, true);
	usleep(80000); /* they entered (30 ms) and parked */
	assert_int_equal(atomic_load(&f->v[0].progress), 0);
	assert_int_equal(atomic_load(&f->v[1].progress), 0);
	gate_open(&f->g);
	wait_progress(&f->v[0], 0);
	wait_progress(&f->v[1], 0);
	join_vcpus(f, 2);
}

/* A stop ends parked threads, fails a later close, and leaves the gate open. */
static void test_stop_while_parked(void **state)
{
	struct fixture *f = *state;

	start_vcpus(f, NR_VCPUS, false);
	assert_int_equal(gate_close(&f->g, kick_all, f), 0);
	gate_stop(&f->g);
	for (unsigned int i = 0; i < NR_VCPUS; i++) {
		pthread_join(f->v[i].thread, NULL);
		assert_true(atomic_load(&f->v[i].ended));
	}
	assert_int_equal(f->g.running, 0);
	gate_open(&f->g);
	assert_int_equal(gate_close(&f->g, kick_all, f), -ECANCELED);
	assert_false(gate_is_closed(&f->g));
	/* A pass after the stop says to end, open or not. */
	assert_false(gate_pass(&f->g));
}

struct stopper {
	struct vcpu_gate *g;
};

/* The kick of this close never reaches thread 0: it is stuck until the stop. */
static void *stop_later(void *arg)
{
	struct stopper *s = arg;

	usleep(30000);
	gate_stop(s->g);
	return NULL;
}

/* A close waiting for a thread that never parks gives up when the VM stops. */
static void test_stop_during_close(void **state)
{
	struct fixture *f = *state;
	struct stopper s = { &f->g };
	pthread_t t;

	gate_enter(&f->g); /* a "vCPU" that never passes the gate */
	assert_int_equal(pthread_create(&t, NULL, stop_later, &s), 0);
	assert_int_equal(gate_close(&f->g, kick_all, f), -ECANCELED);
	assert_false(gate_is_closed(&f->g));
	pthread_join(t, NULL);
	gate_leave(&f->g);
}

static void *leave_later(void *arg)
{
	struct vcpu_gate *g = arg;

	usleep(30000);
	gate_leave(g);
	return NULL;
}

/* A thread that ends instead of parking (the guest exited) lets the close finish. */
static void test_leave_during_close(void **state)
{
	struct fixture *f = *state;
	pthread_t t;

	gate_enter(&f->g);
	assert_int_equal(pthread_create(&t, NULL, leave_later, &f->g), 0);
	assert_int_equal(gate_close(&f->g, kick_all, f), 0);
	pthread_join(t, NULL);
	assert_int_equal(f->g.running, 0);
	gate_open(&f->g);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_close_parks_all, setup, teardown),
		cmocka_unit_test_setup_teardown(test_close_before_threads, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_while_parked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stop_during_close, setup, teardown),
		cmocka_unit_test_setup_teardown(test_leave_during_close, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
