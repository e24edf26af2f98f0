/* SPDX-License-Identifier: MIT */
#ifndef EVVM_TESTS_TIMESCALE_H
#define EVVM_TESTS_TIMESCALE_H

#include <stdlib.h>

/*
 * What the tests' wall-clock timeouts are multiplied by: EVVM_TEST_TIME_SCALE
 * (1 to 100, default 1). tools/kvm-nested sets it, since everything there
 * runs under QEMU's TCG. Timeouts only catch hangs; nothing is timed.
 */
static inline double test_time_scale(void)
{
	const char *s = getenv("EVVM_TEST_TIME_SCALE");
	double v = s ? strtod(s, NULL) : 1;

	return v >= 1 && v <= 100 ? v : 1;
}

#endif
