/* Single-instruction CPU helpers and TSC-based time. */
#ifndef GUEST_CPU_H
#define GUEST_CPU_H

#include "types.h"

/*
 * Time is measured in TSC cycles assuming at least 1 GHz, so a timeout is
 * never shorter than intended. Loop counts would not do: emulated code
 * runs ~1000x slower than native.
 */
#define TSC_PER_US		1000ULL
#define TSC_PER_MS		(1000 * TSC_PER_US)
#define TIMEOUT_CYCLES		2000000000ULL

static inline void cli(void)
{
	asm volatile("cli" : : : "memory");
}

static inline void sti(void)
{
	asm volatile("sti" : : : "memory");
}

static inline void hlt(void)
{
	asm volatile("hlt" : : : "memory");
}

static inline void cpu_relax(void)
{
	asm volatile("pause" : : : "memory");
}

static inline u64 rdtsc(void)
{
	u32 lo, hi;

	asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((u64)hi << 32) | lo;
}

static inline u64 rdmsr(u32 msr)
{
	u32 lo, hi;

	asm volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((u64)hi << 32) | lo;
}

static inline void wrmsr(u32 msr, u64 v)
{
	asm volatile("wrmsr" : : "c"(msr), "a"((u32)v), "d"((u32)(v >> 32)));
}

/* Deadline @cycles from now, for tsc_passed(). */
static inline u64 tsc_deadline(u64 cycles)
{
	return rdtsc() + cycles;
}

static inline bool tsc_passed(u64 deadline)
{
	return (s64)(rdtsc() - deadline) >= 0;
}

static inline void tsc_delay(u64 cycles)
{
	u64 deadline = tsc_deadline(cycles);

	while (!tsc_passed(deadline))
		cpu_relax();
}

/* Stop this CPU for good; interrupts stay off so nothing wakes it. */
static inline __noreturn void cpu_halt_forever(void)
{
	for (;;) {
		cli();
		hlt();
	}
}

#endif
