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

/* Longer refill times are taken as this (about 31 years): refill_ns must fit 64 bits. */
#define TBUCKET_MAX_REFILL_MS 1000000000000ULL

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

/*
 * A bucket's level, for a snapshot (on disk as is: little-endian, no
 * padding). budget and debt in the bucket's own unit, tokens x refill_ns,
 * as 128-bit numbers in two halves: a fraction of a token is not lost.
 */
struct tbucket_level {
	uint64_t budget_lo, budget_hi;
	uint64_t debt_lo, debt_hi;
	uint64_t burst; /* one-time tokens left */
};

/*
 * The level of @b at @now_ns, refilled up to then: the time between a
 * save and a restore refills nothing (Firecracker's TokenBucket persist
 * keeps the time since the last refill the same way).
 */
void tbucket_get_level(const struct tbucket *b, uint64_t now_ns, struct tbucket_level *out);

/*
 * Whether @l can be the level of @b, a bucket just made with the limits
 * it was saved with: NULL, or what is wrong (a budget above its size, more
 * burst than it was given, a debt no request can make, a level for a
 * bucket that limits nothing).
 */
const char *tbucket_level_fault(const struct tbucket *b, const struct tbucket_level *l);

/* Give @b the level @l (checked with tbucket_level_fault()), refilled from @now_ns on. */
void tbucket_set_level(struct tbucket *b, const struct tbucket_level *l, uint64_t now_ns);

#endif
