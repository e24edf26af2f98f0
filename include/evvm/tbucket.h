/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TBUCKET_H
#define EVVM_TBUCKET_H

#include <stdbool.h>
#include <stdint.h>

/*
 * A token bucket as Firecracker's rate limiters define one (its swagger's
 * TokenBucket): it holds at most @size tokens and refills from empty to
 * full in @refill_ms milliseconds, at a steady rate; @one_time_burst extra
 * tokens are spent first and never come back. A request bigger than @size
 * passes when the bucket is full and leaves it owing the difference, so it
 * is not blocked forever. Time is whatever clock the caller passes (ns).
 * No locking: one user at a time.
 */
struct tbucket {
	uint64_t size, refill_ns;
	uint64_t burst;		  /* one-time tokens left */
	unsigned __int128 budget; /* tokens * refill_ns: whole and partial tokens */
	unsigned __int128 debt;	  /* the same unit: owed by an oversized request */
	uint64_t last_ns;	  /* when budget was last refilled */
};

/*
 * A full bucket at @now_ns. @size or @refill_ms 0: no limit (every take
 * succeeds), as in Firecracker.
 */
void tbucket_init(struct tbucket *b, uint64_t size, uint64_t one_time_burst, uint64_t refill_ms,
		  uint64_t now_ns);

/* Whether the bucket limits anything. */
bool tbucket_limited(const struct tbucket *b);

/* Take @tokens at @now_ns: true if they were there (then they are gone), false if not. */
bool tbucket_take(struct tbucket *b, uint64_t tokens, uint64_t now_ns);

/*
 * How long after @now_ns a take of @tokens would succeed (0: now), for a
 * timer. Does not change the bucket.
 */
uint64_t tbucket_wait_ns(const struct tbucket *b, uint64_t tokens, uint64_t now_ns);

#endif
