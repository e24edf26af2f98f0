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
	struct evvm_rate_limit cfg; /* as last set (all zero: none), for a snapshot */
	bool on;		    /* either bucket limits */
	int timer_fd;		    /* -1 until the first limit */
};

/* Both buckets' levels (a snapshot's; on disk as is, 80 bytes). */
struct ratelimit_level {
	struct tbucket_level bytes, ops;
};

/* No limit, no timer. */
void ratelimit_init(struct ratelimit *rl);

/*
 * Make the timer now, while timerfd_create is allowed: a thread under
 * evvm's seccomp lists may not call it (limits set at run time). 0 or
 * -errno.
 */
int ratelimit_prepare(struct ratelimit *rl);

/*
 * The limits of @cfg (NULL: none), buckets full at @now_ns; the timer is
 * made when first needed. 0, or -errno with no limits.
 */
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

/* The limits as last set, and the buckets' levels at @now_ns (see tbucket_get_level()). */
void ratelimit_save(const struct ratelimit *rl, uint64_t now_ns, struct evvm_rate_limit *cfg,
		    struct ratelimit_level *level);

/*
 * Whether @level can be that of limits @cfg (NULL: none): NULL, or the
 * fault, with *@bucket naming the bucket ("bandwidth", "ops").
 */
const char *ratelimit_level_fault(const struct evvm_rate_limit *cfg,
				  const struct ratelimit_level *level, const char **bucket);

/*
 * The buckets of @rl (just set to the limits @level was checked against)
 * at @level from @now_ns on, instead of full.
 */
void ratelimit_set_level(struct ratelimit *rl, const struct ratelimit_level *level,
			 uint64_t now_ns);

/* CLOCK_MONOTONIC in ns. */
uint64_t ratelimit_now(void);

#endif
