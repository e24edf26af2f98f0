/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_GATE_H
#define EVVM_VMM_GATE_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/*
 * Where vCPU threads park while the VM is paused. Each thread enters the
 * gate when it starts and leaves it when it ends; between two KVM_RUNs it
 * passes the gate (gate_pass), which parks it while the gate is closed.
 * gate_close() returns once every thread in the gate is parked, so after
 * it no vCPU runs guest code or an exit handler. Nothing here knows KVM:
 * the caller's kick makes a thread reach its next gate_pass() soon.
 */
struct vcpu_gate {
	pthread_mutex_t lock;
	pthread_cond_t cond;  /* parked threads wait for open/stop; close waits for parks */
	atomic_bool closed;   /* read without the lock on every pass */
	bool stopping;	      /* final: nobody parks, nobody waits */
	unsigned int running; /* threads between gate_enter and gate_leave */
	unsigned int parked;  /* of those, parked now */
};

/* Initialise an open gate with no thread in it. 0 or -errno. */
int gate_init(struct vcpu_gate *g);

/* Free the gate; no thread may be in it. */
void gate_destroy(struct vcpu_gate *g);

/* A thread starts (before its first gate_pass) or ends (after its last). */
void gate_enter(struct vcpu_gate *g);
void gate_leave(struct vcpu_gate *g);

/*
 * At a safe point of a thread in the gate: returns at once while the gate
 * is open; while it is closed, parks until it opens. false once
 * gate_stop() was called (the thread must end), true otherwise.
 */
bool gate_pass(struct vcpu_gate *g);

/*
 * Close the gate, call @kick(@opaque) to make the threads reach their safe
 * point, and wait until every thread in the gate is parked (threads that
 * enter later park at their first pass). 0, -EALREADY if it was closed
 * already, or -ECANCELED if gate_stop() came first or meanwhile (the gate
 * is then left open). One caller at a time.
 */
int gate_close(struct vcpu_gate *g, void (*kick)(void *opaque), void *opaque);

/* Open the gate: parked threads go on. Harmless when open. */
void gate_open(struct vcpu_gate *g);

/* Whether the gate is closed now. */
bool gate_is_closed(struct vcpu_gate *g);

/* For good: parked threads get false from gate_pass, gate_close fails. Any thread. */
void gate_stop(struct vcpu_gate *g);

#endif
