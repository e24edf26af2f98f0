/* SPDX-License-Identifier: MIT */
#ifndef EVVM_VMM_KICK_LATENCY_H
#define EVVM_VMM_KICK_LATENCY_H

#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include <evvm/vm.h> /* EVVM_KICK_LATENCY_BUCKETS */

/*
 * One queue's kick-to-interrupt latency: from the I/O thread's read of the
 * kick eventfd (KVM's ioeventfd takes the guest's write, so evvm never sees
 * the write itself) to the write of the queue's interrupt (irqfd or MSI-X).
 * The first kick read while none waits starts the clock; the next interrupt
 * sent for the queue stops it and counts one sample. A kick whose
 * completion the driver asked not to be interrupted for (EVENT_IDX,
 * VRING_AVAIL_F_NO_INTERRUPT) keeps waiting for the queue's next
 * interrupt, so a queue the driver polls, or a receive queue waiting for
 * traffic, shows that wait too. Histogram bucket i < 17 counts samples
 * below 2^i us, the last one the rest (EVVM_KICK_LATENCY_BUCKETS).
 *
 * Written by the I/O threads with relaxed atomics, read by --stats and
 * the metrics line at any time: one clock read when a kick starts the
 * clock and one per interrupt that stops it.
 */
struct kick_latency {
	_Atomic uint64_t kicked_ns; /* CLOCK_MONOTONIC of the waiting kick; 0: none waits */
	_Atomic uint64_t buckets[EVVM_KICK_LATENCY_BUCKETS];
};

static inline uint64_t kick_latency_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* The bucket of a sample of @ns nanoseconds. */
static inline unsigned int kick_latency_bucket(uint64_t ns)
{
	uint64_t us = ns / 1000;
	unsigned int b = us ? 64 - (unsigned int)__builtin_clzll(us) : 0;

	return b < EVVM_KICK_LATENCY_BUCKETS ? b : EVVM_KICK_LATENCY_BUCKETS - 1;
}

/* I/O thread: the queue's kick eventfd was read. */
static inline void kick_latency_kicked(struct kick_latency *l)
{
	uint64_t none = 0;

	if (atomic_load_explicit(&l->kicked_ns, memory_order_relaxed))
		return;
	/* (| 1: 0 means "none waits") */
	atomic_compare_exchange_strong_explicit(&l->kicked_ns, &none, kick_latency_now_ns() | 1,
						memory_order_relaxed, memory_order_relaxed);
}

/* An interrupt for the queue was just sent: one sample if a kick waited for it. */
static inline void kick_latency_interrupted(struct kick_latency *l)
{
	uint64_t kicked, now;

	if (!atomic_load_explicit(&l->kicked_ns, memory_order_relaxed))
		return;
	kicked = atomic_exchange_explicit(&l->kicked_ns, 0, memory_order_relaxed);
	if (!kicked)
		return;
	now = kick_latency_now_ns();
	atomic_fetch_add_explicit(&l->buckets[kick_latency_bucket(now > kicked ? now - kicked : 0)],
				  1, memory_order_relaxed);
}

/* Device reset: a kick of the old driver waits for nothing any more. */
static inline void kick_latency_forget(struct kick_latency *l)
{
	atomic_store_explicit(&l->kicked_ns, 0, memory_order_relaxed);
}

static inline void kick_latency_get(struct kick_latency *l, uint64_t out[EVVM_KICK_LATENCY_BUCKETS])
{
	for (unsigned int i = 0; i < EVVM_KICK_LATENCY_BUCKETS; i++)
		out[i] = atomic_load_explicit(&l->buckets[i], memory_order_relaxed);
}

#endif
