/* SPDX-License-Identifier: MIT */
#ifndef EVVM_BENCH_MEDIAN_H
#define EVVM_BENCH_MEDIAN_H

#include <stdlib.h>

/* What every benchmark reports: the median of its runs (sorts @v). */

static int median_cmp(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static inline double median(double *v, unsigned int n)
{
	qsort(v, n, sizeof(*v), median_cmp);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

#endif
