/*
 * For snapshot/restore (tests/integration/test_snapshot.c): rounds that
 * each fill 1 MiB with a pattern of their own, wait for the LAPIC timer
 * to tick a few times (interrupts on, halted), then check every word
 * against the pattern made again from the round's number. A snapshot
 * taken and restored anywhere in between must leave the guest's memory,
 * registers and timer as they were: a lost page fails the check, a lost
 * timer never finishes the round. Prints each round; snap_rounds=N (default 40).
 */
#include "cpu.h"
#include "irq.h"
#include "lapic.h"
#include "printf.h"
#include "test.h"

#define SNAP_WORDS		(1u << 17)	/* 1 MiB of u64 */
#define SNAP_TICKS		5		/* per round */
#define SNAP_VECTOR		(FREE_VECTOR_BASE + 1)

#define LAPIC_LVT_TIMER		0x320
#define LAPIC_TIMER_INIT	0x380
#define LAPIC_TIMER_DIV		0x3e0
#define LVT_TIMER_PERIODIC	0x20000
#define TIMER_DIV_16		0x3
/* KVM's LAPIC timer counts at 1 GHz: 625000 / 16 ns = 10 ms. */
#define TIMER_COUNT		625000

static u64 snap_buf[SNAP_WORDS];
static volatile unsigned int ticks;

static void snap_tick(struct irq_frame *frame)
{
	(void)frame;
	ticks++;
	lapic_eoi();
}

static u64 pattern(u64 *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static void fill(u64 round)
{
	u64 x = 0x9e3779b97f4a7c15ull ^ (round * 0x100000001b3ull);

	for (unsigned int i = 0; i < SNAP_WORDS; i++)
		snap_buf[i] = pattern(&x);
}

/* The first word that is not the round's pattern, or SNAP_WORDS. */
static unsigned int check(u64 round)
{
	u64 x = 0x9e3779b97f4a7c15ull ^ (round * 0x100000001b3ull);

	for (unsigned int i = 0; i < SNAP_WORDS; i++)
		if (snap_buf[i] != pattern(&x))
			return i;
	return SNAP_WORDS;
}

static int test_snap_loop(void)
{
	u64 rounds;
	unsigned int bad;

	if (test_arg_u64("snap_rounds", 40, 1, 1000000, &rounds))
		return -1;
	irq_register(SNAP_VECTOR, snap_tick);
	lapic_enable();
	lapic_write(LAPIC_TIMER_DIV, TIMER_DIV_16);
	lapic_write(LAPIC_LVT_TIMER, LVT_TIMER_PERIODIC | SNAP_VECTOR);
	lapic_write(LAPIC_TIMER_INIT, TIMER_COUNT);
	for (u64 r = 1; r <= rounds; r++) {
		unsigned int until;

		fill(r);
		until = ticks + SNAP_TICKS;
		while ((int)(ticks - until) < 0) {
			sti();
			hlt();
			cli();
		}
		bad = check(r);
		if (bad != SNAP_WORDS) {
			lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
			return test_fail("round %lu: word %u of 1 MiB is not the pattern", r, bad);
		}
		printf("evvm-guest: snap-loop round %lu ticks %u\n", r, ticks);
	}
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
	irq_register(SNAP_VECTOR, NULL);
	return 0;
}
GUEST_TEST("snap-loop", test_snap_loop);
