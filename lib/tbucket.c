// SPDX-License-Identifier: MIT
/*
 * Token buckets (include/evvm/tbucket.h). Tokens are kept multiplied by
 * refill_ns, so that a refill adds elapsed_ns * size exactly and no
 * fraction of a token is lost however often the bucket is looked at.
 */
#include <evvm/tbucket.h>

typedef unsigned __int128 u128;

void tbucket_init(struct tbucket *b, uint64_t size, uint64_t one_time_burst, uint64_t refill_ms,
		  uint64_t now_ns)
{
	*b = (struct tbucket){
		.size = size,
		.refill_ns = refill_ms * 1000000ULL,
		.burst = one_time_burst,
		.last_ns = now_ns,
	};
	if (!size || !refill_ms)
		b->size = b->refill_ns = 0; /* no limit */
	b->budget = (u128)b->size * b->refill_ns;
}

bool tbucket_limited(const struct tbucket *b)
{
	return b->size != 0;
}

/* Bring the budget up to @now_ns: pay the debt first, then fill up to size. */
static void tbucket_refill(struct tbucket *b, uint64_t now_ns)
{
	u128 full = (u128)b->size * b->refill_ns, add;

	if (now_ns <= b->last_ns)
		return; /* a clock that went back refills nothing */
	add = (u128)(now_ns - b->last_ns) * b->size;
	b->last_ns = now_ns;
	if (b->debt) {
		u128 pay = add < b->debt ? add : b->debt;

		b->debt -= pay;
		add -= pay;
	}
	b->budget = b->budget + add > full ? full : b->budget + add;
}

bool tbucket_take(struct tbucket *b, uint64_t tokens, uint64_t now_ns)
{
	u128 want, full;
	uint64_t rest;

	if (!tbucket_limited(b))
		return true;
	if (tokens <= b->burst) {
		b->burst -= tokens;
		return true;
	}
	/* The one-time burst goes first, but only if the rest is there too. */
	rest = tokens - b->burst;
	tbucket_refill(b, now_ns);
	if (b->debt)
		return false;
	want = (u128)rest * b->refill_ns;
	full = (u128)b->size * b->refill_ns;
	if (want <= b->budget) {
		b->budget -= want;
	} else if (rest > b->size && b->budget == full) {
		/* Bigger than the bucket: it goes when the bucket is full, and is paid off later.
		 */
		b->debt = want - b->budget;
		b->budget = 0;
	} else {
		return false;
	}
	b->burst = 0;
	return true;
}

uint64_t tbucket_wait_ns(const struct tbucket *b, uint64_t tokens, uint64_t now_ns)
{
	struct tbucket t = *b;
	u128 need, have;

	if (!tbucket_limited(&t))
		return 0;
	tokens -= tokens < t.burst ? tokens : t.burst;
	if (!tokens)
		return 0;
	tbucket_refill(&t, now_ns);
	/* An oversized request waits for a full bucket. */
	need = (u128)(tokens < t.size ? tokens : t.size) * t.refill_ns + t.debt;
	have = t.budget;
	if (have >= need)
		return 0;
	/* Each ns adds size units; round up so the take then succeeds. */
	return (uint64_t)((need - have + t.size - 1) / t.size);
}
