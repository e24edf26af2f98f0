// SPDX-License-Identifier: MIT
/*
 * Token buckets (include/evvm/tbucket.h). Tokens are kept multiplied by
 * refill_ns, so that a refill adds elapsed_ns * size exactly and no
 * fraction of a token is lost however often the bucket is looked at.
 */
#include <stddef.h>

#include <evvm/tbucket.h>

typedef unsigned __int128 u128;

void tbucket_init(struct tbucket *b, uint64_t size, uint64_t one_time_burst, uint64_t refill_ms,
		  uint64_t now_ns)
{
	if (refill_ms > TBUCKET_MAX_REFILL_MS)
		refill_ms = TBUCKET_MAX_REFILL_MS;
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
	need = (need - have + t.size - 1) / t.size;
	return need > UINT64_MAX ? UINT64_MAX : (uint64_t)need;
}

static u128 u128_of(uint64_t lo, uint64_t hi)
{
	return (u128)hi << 64 | lo;
}

void tbucket_get_level(const struct tbucket *b, uint64_t now_ns, struct tbucket_level *out)
{
	struct tbucket t = *b;

	if (tbucket_limited(&t))
		tbucket_refill(&t, now_ns);
	*out = (struct tbucket_level){
		.budget_lo = (uint64_t)t.budget,
		.budget_hi = (uint64_t)(t.budget >> 64),
		.debt_lo = (uint64_t)t.debt,
		.debt_hi = (uint64_t)(t.debt >> 64),
		.burst = t.burst,
	};
}

const char *tbucket_level_fault(const struct tbucket *b, const struct tbucket_level *l)
{
	u128 budget = u128_of(l->budget_lo, l->budget_hi), debt = u128_of(l->debt_lo, l->debt_hi);

	if (!tbucket_limited(b))
		return budget || debt || l->burst ? "a level for a bucket that limits nothing"
						  : NULL;
	if (budget > (u128)b->size * b->refill_ns)
		return "a budget above the bucket's size";
	if (l->burst > b->burst)
		return "more one-time burst left than the bucket was given";
	/* The largest request is UINT64_MAX tokens; refill pays a debt before the budget grows. */
	if (debt > (u128)UINT64_MAX * b->refill_ns || (debt && budget))
		return "a debt no request can leave";
	return NULL;
}

void tbucket_set_level(struct tbucket *b, const struct tbucket_level *l, uint64_t now_ns)
{
	b->budget = u128_of(l->budget_lo, l->budget_hi);
	b->debt = u128_of(l->debt_lo, l->debt_hi);
	b->burst = l->burst;
	b->last_ns = now_ns;
}
