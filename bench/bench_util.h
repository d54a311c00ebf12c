/* SPDX-License-Identifier: MIT */
/* Small helpers shared by the benchmarks: a monotonic clock and socket I/O for baselines. */
#ifndef UVFIO_BENCH_UTIL_H
#define UVFIO_BENCH_UTIL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/wait.h>
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

/* One recv of exactly len bytes, spinning on MSG_DONTWAIT (the busy-polling baseline). */
static inline int bench_spin_read(int fd, void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = recv(fd, (char *)buf + done, len - done, MSG_DONTWAIT);
		if (n < 0 && (errno == EAGAIN || errno == EINTR))
			continue;
		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/*
 * The raw AF_UNIX ping-pong: req_len bytes to a forked peer, reply_len bytes back, iters times,
 * best of BENCH_RUNS; ns per round trip. spin says which side spins on non-blocking reads
 * instead of sleeping in read(): the peer (the floor for a polling server and a blocking
 * client), this side too (a polling driver against a polling device), or neither (the floor for
 * a transport that sleeps and is woken).
 */
#define BENCH_SPIN_PEER 1u
#define BENCH_SPIN_SELF 2u
static inline double bench_raw_pingpong_ns(unsigned iters, size_t req_len, size_t reply_len,
					   unsigned spin)
{
	char req[256] = { 0 }, reply[256] = { 0 };
	double best = 1e30;
	int sv[2];
	pid_t pid;

	if (req_len > sizeof(req) || reply_len > sizeof(reply) ||
	    socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -1;
	pid = fork();
	if (pid == 0) {
		close(sv[0]);
		while (((spin & BENCH_SPIN_PEER) ? bench_spin_read(sv[1], req, req_len) :
			       bench_full_io(sv[1], req, req_len, false)) == 0)
			if (bench_full_io(sv[1], reply, reply_len, true))
				break;
		_exit(0);
	}
	close(sv[1]);
	for (int run = 0; run < BENCH_RUNS; run++) {
		uint64_t t0 = bench_now_ns();

		for (unsigned i = 0; i < iters; i++) {
			if (bench_full_io(sv[0], req, req_len, true) ||
			    ((spin & BENCH_SPIN_SELF) ? bench_spin_read(sv[0], reply, reply_len) :
				    bench_full_io(sv[0], reply, reply_len, false)))
				return -1;
		}
		double ns = (double)(bench_now_ns() - t0) / iters;
		if (ns < best)
			best = ns;
	}
	close(sv[0]);
	waitpid(pid, NULL, 0);
	return best;
}

#endif
