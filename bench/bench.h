/* SPDX-License-Identifier: MIT */
#ifndef EVVM_BENCH_BENCH_H
#define EVVM_BENCH_BENCH_H

#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <x86intrin.h>

/*
 * What every benchmark's main() does the same way: option values, pinning
 * to one host CPU, wall-clock time. Error lines start with @prog. Include
 * after defining _GNU_SOURCE (sched_setaffinity).
 */

static inline double now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1e9 + ts.tv_nsec;
}

/* A plain decimal unsigned int: no sign, no trailing characters. */
static inline bool parse_uint(const char *s, unsigned int *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > 0xffffffffUL || s[0] == '-')
		return false;
	*out = v;
	return true;
}

/*
 * "1", "1,2": distinct numbers in @min..@max, at most @cap of them, into
 * @list; false if anything else (no message).
 */
static inline bool parse_uint_list(const char *s, unsigned int min, unsigned int max,
				   unsigned int *list, unsigned int cap, unsigned int *n)
{
	char buf[64], *tok, *save;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	*n = 0;
	for (tok = strtok_r(buf, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
		unsigned int v;

		if (*n == cap || !parse_uint(tok, &v) || v < min || v > max)
			return false;
		for (unsigned int i = 0; i < *n; i++)
			if (list[i] == v)
				return false;
		list[(*n)++] = v;
	}
	return *n > 0;
}

/* --@name @arg in @min..@max, else false after "@prog: --@name '@arg': want @min..@max". */
static inline bool opt_uint(const char *prog, const char *name, const char *arg, unsigned int min,
			    unsigned int max, unsigned int *out)
{
	if (parse_uint(arg, out) && *out >= min && *out <= max)
		return true;
	fprintf(stderr, "%s: --%s '%s': want %u..%u\n", prog, name, arg, min, max);
	return false;
}

/* --pin @arg: a CPU number, else false after one line. */
static inline bool opt_cpu(const char *prog, const char *arg, int *cpu)
{
	unsigned int v;

	if (!parse_uint(arg, &v) || v >= CPU_SETSIZE) {
		fprintf(stderr, "%s: --pin '%s': want a CPU number\n", prog, arg);
		return false;
	}
	*cpu = (int)v;
	return true;
}

/*
 * Put the calling thread on host CPU @cpu; every thread and process it
 * creates from then on inherits that. 0, or -errno.
 */
static inline int pin_cpu(int cpu)
{
	cpu_set_t set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	return sched_setaffinity(0, sizeof(set), &set) ? -errno : 0;
}

/* The host's TSC rate in Hz, measured against CLOCK_MONOTONIC (~@ms ms). */
static inline double tsc_rate_hz(unsigned int ms)
{
	double t0 = now_ns(), t1;
	unsigned long long c0 = __rdtsc(), c1;

	do {
		t1 = now_ns();
	} while (t1 - t0 < ms * 1e6);
	c1 = __rdtsc();
	return (double)(c1 - c0) / ((t1 - t0) / 1e9);
}

#endif
