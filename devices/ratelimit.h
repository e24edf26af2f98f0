/* SPDX-License-Identifier: MIT */
#ifndef EVVM_DEVICES_RATELIMIT_H
#define EVVM_DEVICES_RATELIMIT_H

#include <stdbool.h>
#include <stdint.h>

#include <evvm/devices.h>
#include <evvm/tbucket.h>

/*
 * A device's rate limiter (a disk's, the rng's, a net queue's): the two
 * buckets and the timerfd that wakes the I/O thread when a request that
 * had to wait may go. Used on the device's I/O thread only.
 */
struct ratelimit {
	struct tbucket bytes, ops;
	bool on;      /* either bucket limits */
	int timer_fd; /* -1 until the first limit */
};

/* No limit, no timer. */
void ratelimit_init(struct ratelimit *rl);

/*
 * Make the timer now, while timerfd_create is allowed: a thread under
 * evvm's seccomp lists may not call it (limits set at run time). 0 or
 * -errno.
 */
int ratelimit_prepare(struct ratelimit *rl);

/* The limits of @cfg (NULL: none), buckets full at @now_ns; the timer is made when first needed. 0
 * or -errno. */
int ratelimit_set(struct ratelimit *rl, const struct evvm_rate_limit *cfg, uint64_t now_ns);

/*
 * A request of @bytes at @now_ns: 0 if it may go (its tokens are taken
 * from both buckets), else the ns to wait, with the timer armed for then.
 */
uint64_t ratelimit_admit(struct ratelimit *rl, uint64_t bytes, uint64_t now_ns);

/* Disarm the timer and clear its count (a reset). */
void ratelimit_disarm(struct ratelimit *rl);

/* Close the timer. */
void ratelimit_fini(struct ratelimit *rl);

/* CLOCK_MONOTONIC in ns. */
uint64_t ratelimit_now(void);

#endif
