/*
 * tests=mem-touch: the guest half of bench/snapshot. Writes one word in
 * every 4 KiB page of memtouch.mib MiB from 64 MiB up (the VM needs that
 * much RAM above them), then passes over those pages for ever, every 50 ms
 * of LAPIC timer: each pass reads and checks every page's word and prints
 * its TSC cycles (a line when it starts, one when it ends, so bench/snapshot
 * can pause between two passes). The pass after a restore pays for the first touch of
 * each page (the memory file mapped MAP_PRIVATE); the passes before it do
 * not. A page that lost its word fails the test.
 */
#include "cpu.h"
#include "irq.h"
#include "lapic.h"
#include "printf.h"
#include "test.h"

#define TOUCH_BASE	   (64ull << 20)
#define TOUCH_PAGE	   4096ull
#define TOUCH_VECTOR	   (FREE_VECTOR_BASE + 2)
#define TOUCH_TICKS	   5 /* 10 ms each: 50 ms between passes */

#define LAPIC_LVT_TIMER	   0x320
#define LAPIC_TIMER_INIT   0x380
#define LAPIC_TIMER_DIV	   0x3e0
#define LVT_TIMER_PERIODIC 0x20000
#define TIMER_DIV_16	   0x3
#define TIMER_COUNT	   625000 /* KVM's LAPIC timer: 1 GHz / 16 -> 10 ms */

static volatile unsigned int ticks;

static void touch_tick(struct irq_frame *frame)
{
	(void)frame;
	ticks++;
	lapic_eoi();
}

static volatile u64 *page_word(u64 i)
{
	return (volatile u64 *)(uintptr_t)(TOUCH_BASE + i * TOUCH_PAGE);
}

static u64 word_of(u64 i)
{
	return (i * 0x9e3779b97f4a7c15ull) ^ 0x5eed;
}

static void wait_ticks(unsigned int n)
{
	unsigned int until = ticks + n;

	while ((int)(ticks - until) < 0) {
		sti();
		hlt();
		cli();
	}
}

static int test_mem_touch(void)
{
	u64 mib, pages, t0, t1;

	if (test_arg_u64("memtouch.mib", 32, 1, 2944, &mib))
		return -1;
	pages = mib << 20 >> 12;
	t0 = rdtsc();
	for (u64 i = 0; i < pages; i++)
		*page_word(i) = word_of(i);
	t1 = rdtsc();
	printf("evvm-guest: mem-touch: filled %lu pages in %lu cycles\n", pages, t1 - t0);
	irq_register(TOUCH_VECTOR, touch_tick);
	lapic_enable();
	lapic_write(LAPIC_TIMER_DIV, TIMER_DIV_16);
	lapic_write(LAPIC_LVT_TIMER, LVT_TIMER_PERIODIC | TOUCH_VECTOR);
	lapic_write(LAPIC_TIMER_INIT, TIMER_COUNT);
	for (u64 pass = 1;; pass++) {
		wait_ticks(TOUCH_TICKS);
		printf("evvm-guest: mem-touch pass %lu start\n", pass);
		t0 = rdtsc();
		for (u64 i = 0; i < pages; i++) {
			if (*page_word(i) != word_of(i)) {
				lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
				return test_fail("pass %lu: page %lu lost its word", pass, i);
			}
		}
		t1 = rdtsc();
		printf("evvm-guest: mem-touch pass %lu: %lu pages in %lu cycles\n", pass, pages,
		       t1 - t0);
	}
}
GUEST_TEST("mem-touch", test_mem_touch);
