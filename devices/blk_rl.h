/* SPDX-License-Identifier: MIT */
#ifndef EVVM_DEVICES_BLK_RL_H
#define EVVM_DEVICES_BLK_RL_H

#include <stdbool.h>
#include <stdint.h>

#include <evvm/devices.h>
#include <evvm/tbucket.h>

/*
 * A disk's rate limiter (devices/blk.c): the two buckets and the timerfd
 * that wakes the I/O thread when a request that had to wait may go. Used
 * on the device's I/O thread only.
 */
struct blk_rl {
	struct tbucket bytes, ops;
	bool on;      /* either bucket limits */
	int timer_fd; /* -1 until the first limit */
};

/* No limit, no timer. */
void blk_rl_init(struct blk_rl *rl);

/* The limits of @cfg (NULL: none), buckets full at @now_ns; the timer is made when first needed. 0
 * or -errno. */
int blk_rl_set(struct blk_rl *rl, const struct evvm_rate_limit *cfg, uint64_t now_ns);

/*
 * A request of @bytes at @now_ns: 0 if it may go (its tokens are taken
 * from both buckets), else the ns to wait, with the timer armed for then.
 */
uint64_t blk_rl_admit(struct blk_rl *rl, uint64_t bytes, uint64_t now_ns);

/* Disarm the timer and clear its count (a reset). */
void blk_rl_disarm(struct blk_rl *rl);

/* Close the timer. */
void blk_rl_fini(struct blk_rl *rl);

/* CLOCK_MONOTONIC in ns. */
uint64_t blk_rl_now(void);

#endif
