/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the benchmarks: a monotonic clock and socket I/O for baselines. */
#ifndef UVFIO_BENCH_UTIL_H
#define UVFIO_BENCH_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

static inline uint64_t bench_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* All of len bytes read or written (the raw baselines' socket copies); -1 on EOF or error. */
static inline int bench_full_io(int fd, void *buf, size_t len, bool is_write)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = is_write ? write(fd, (char *)buf + done, len - done)
				     : read(fd, (char *)buf + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* Best of several runs: the least disturbed by the other core's load. */
#define BENCH_RUNS 5

#endif
