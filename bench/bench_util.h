/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the benchmarks: a monotonic clock and a result line. */
#ifndef UVFIO_BENCH_UTIL_H
#define UVFIO_BENCH_UTIL_H

#include <stdint.h>
#include <stdio.h>
#include <time.h>

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* Best of several runs: the least disturbed by the other core's load. */
#define BENCH_RUNS 5

#endif
