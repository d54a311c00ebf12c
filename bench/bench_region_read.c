/* SPDX-License-Identifier: MIT */
/*
 * REGION_READ round trips through the client API and a vfio-user server in another process,
 * each against a raw AF_UNIX baseline measured in the same run:
 *  - 4-byte BAR read, server loop sleeping in epoll, vs a raw blocking ping-pong of the same
 *    bytes. Goal: <= 1.10x.
 *  - the same with the server busy-polling (config.poll_us, `uvfio serve --poll`) vs a raw
 *    ping-pong whose answering side busy-polls (recv MSG_DONTWAIT). Goal: <= 1.30x.
 *  - 8 devices in one server, 8 client processes reading at once: aggregate reads/s as the
 *    server's loops grow from 1 to the number of cores, against 1 loop. Goal: more loops are
 *    never slower than one (>= 0.95x).
 * Each uvfio row is measured interleaved with its baseline (pair_ns).
 * Usage: bench_region_read [ITERS (20000)] [--same-cpu] (one CPU: the blocking row, goal 1.5x)
 */
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#include "bench_util.h"

#define REQ_BYTES (16 + 16) /* header + region access */
#define REPLY_BYTES (16 + 16 + 4) /* header + region access + data */
#define NDEV 8

struct raw_echo {
	int sock;
	pid_t pid;
};

/* The raw baseline's echoing side, in another process like the server; kept running so the
 * raw and uvfio figures can be measured alternately (the load here shifts between runs). */
static int raw_start(struct raw_echo *e, bool spin)
{
	char req[REQ_BYTES] = { 0 }, reply[REPLY_BYTES] = { 0 };
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -1;
	e->pid = fork();
	if (e->pid == 0) {
		close(sv[0]);
		while ((spin ? bench_spin_read(sv[1], req, sizeof(req))
			     : bench_full_io(sv[1], req, sizeof(req), false)) == 0)
			if (bench_full_io(sv[1], reply, sizeof(reply), true))
				break;
		_exit(0);
	}
	close(sv[1]);
	e->sock = sv[0];
	return e->pid < 0 ? -1 : 0;
}

static double raw_run_ns(struct raw_echo *e, unsigned iters)
{
	char req[REQ_BYTES] = { 0 }, reply[REPLY_BYTES] = { 0 };
	uint64_t t0 = bench_now_ns();

	for (unsigned i = 0; i < iters; i++) {
		if (bench_full_io(e->sock, req, sizeof(req), true) ||
		    bench_full_io(e->sock, reply, sizeof(reply), false))
			return -1;
	}
	return (double)(bench_now_ns() - t0) / iters;
}

static void raw_stop(struct raw_echo *e)
{
	close(e->sock);
	waitpid(e->pid, NULL, 0);
}

struct server {
	pid_t pid;
	char dir[32];
	char path[NDEV][64];
	unsigned ndev;
};

static int start_server(struct server *s, unsigned ndev, uint32_t loops, int32_t poll_us)
{
	snprintf(s->dir, sizeof(s->dir), "/tmp/uvfio-bench-XXXXXX");
	if (!mkdtemp(s->dir))
		return -1;
	s->ndev = ndev;
	for (unsigned i = 0; i < ndev; i++)
		snprintf(s->path[i], sizeof(s->path[i]), "%s/edu%u.sock", s->dir, i);
	s->pid = fork();
	if (s->pid == 0) {
		struct uvfio_server_config cfg = { .loops = loops, .poll_us = poll_us };
		struct uvfio_server *server = uvfio_server_new(&cfg);

		uvfio_register_builtin_drivers();
		for (unsigned i = 0; server && i < ndev; i++) {
			struct uvfio_pci_device *pdev;
			if (uvfio_pci_create("edu", &pdev) ||
			    uvfio_server_add_device(server, uvfio_pci_to_device(pdev), s->path[i]))
				_exit(1);
		}
		if (!server)
			_exit(1);
		uvfio_server_run(server);
		uvfio_server_free(server);
		_exit(0);
	}
	return s->pid < 0 ? -1 : 0;
}

static void stop_server(struct server *s)
{
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
	for (unsigned i = 0; i < s->ndev; i++)
		unlink(s->path[i]);
	rmdir(s->dir);
}

static int open_dev(const char *path, struct uvfio_handle **h)
{
	char url[96];
	uint16_t cmd = 0x2; /* COMMAND.MEMORY */

	/* The server child creates the socket asynchronously: wait for it (bounded) so the open
	 * below does not log a refused connection. */
	for (int i = 0; i < 500 && access(path, F_OK); i++)
		usleep(10000);
	snprintf(url, sizeof(url), "vfio-user:%s", path);
	if (uvfio_open(url, h))
		return -1;
	return uvfio_config_write(*h, 4, &cmd, 2) ? -1 : 0;
}

static int reads(struct uvfio_handle *h, unsigned iters)
{
	uint32_t val = 0;

	for (unsigned i = 0; i < iters; i++)
		if (uvfio_region_read(h, UVFIO_PCI_BAR0_REGION, 0, &val, 4) != 4)
			return -1;
	return val == 0x010000ed ? 0 : -1;
}

/*
 * A uvfio row and its raw baseline, measured interleaved (raw run, uvfio run, ... BENCH_RUNS
 * times each, best of each): on a loaded machine the two see the same moments of load, so
 * their ratio means something even when the absolute figures wander.
 */
static int pair_ns(unsigned iters, bool spin, int32_t poll_us, double *raw, double *uv)
{
	struct server s;
	struct raw_echo e;
	struct uvfio_handle *h;
	int ret = 0;

	*raw = *uv = 1e30;
	if (raw_start(&e, spin))
		return -1;
	if (start_server(&s, 1, 0, poll_us) || open_dev(s.path[0], &h)) {
		raw_stop(&e);
		return -1;
	}
	for (int run = 0; run < 2 * BENCH_RUNS && ret == 0; run++) {
		double r = raw_run_ns(&e, iters);
		uint64_t t0 = bench_now_ns();
		if (r < 0 || reads(h, iters)) {
			ret = -1;
			break;
		}
		double u = (double)(bench_now_ns() - t0) / iters;
		*raw = r < *raw ? r : *raw;
		*uv = u < *uv ? u : *uv;
	}
	uvfio_close(h);
	stop_server(&s);
	raw_stop(&e);
	return ret;
}

/* NDEV client processes, one per device, start together; reads/s of all of them. */
static double aggregate_ops(unsigned iters, uint32_t loops)
{
	struct server s;
	int go[2], done[2];
	pid_t kids[NDEV];
	double best = 0;

	if (start_server(&s, NDEV, loops, 0) || pipe(go) || pipe(done))
		return -1;
	for (unsigned i = 0; i < NDEV; i++) {
		kids[i] = fork();
		if (kids[i] == 0) {
			struct uvfio_handle *h;
			char c = 1;
			int ok = open_dev(s.path[i], &h) == 0;
			for (int run = 0; run < BENCH_RUNS; run++) {
				if (read(go[0], &c, 1) != 1)
					_exit(1);
				c = ok && reads(h, iters) == 0;
				if (write(done[1], &c, 1) != 1)
					_exit(1);
			}
			_exit(0);
		}
	}
	for (int run = 0; run < BENCH_RUNS && best >= 0; run++) {
		char c[NDEV] = { 0 };
		uint64_t t0 = bench_now_ns();
		if (write(go[1], c, NDEV) != NDEV)
			best = -1;
		for (unsigned i = 0; i < NDEV && best >= 0; i++)
			if (read(done[0], &c[i], 1) != 1 || !c[i])
				best = -1;
		double ops = (double)NDEV * iters / ((double)(bench_now_ns() - t0) / 1e9);
		if (best >= 0 && ops > best)
			best = ops;
	}
	for (unsigned i = 0; i < NDEV; i++)
		waitpid(kids[i], NULL, 0);
	close(go[0]);
	close(go[1]);
	close(done[0]);
	close(done[1]);
	stop_server(&s);
	return best;
}

static void verdict(bool met, const char *goal)
{
	if (met)
		printf("%56s goal met: %s\n", "", goal);
	else
		printf("GOAL MISSED: %s\n", goal);
}

int main(int argc, char **argv)
{
	unsigned iters = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 20000;
	bool pinned = argc > 2 && strcmp(argv[2], "--same-cpu") == 0;
	long cores = sysconf(_SC_NPROCESSORS_ONLN);
	cpu_set_t one;

	uvfio_log_set_level(UVFIO_LOG_ERR);
	setvbuf(stdout, NULL, _IOLBF, 0);
	/* Cross-CPU wake-ups dominate a round trip on small VMs and vary from run to run; with
	 * --same-cpu both sides of both measurements share one CPU (children inherit it), and
	 * only the blocking row is measured (spinning on one CPU measures the scheduler). */
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (pinned && sched_setaffinity(0, sizeof(one), &one))
		perror("sched_setaffinity");
	double raw, uv;
	if (pair_ns(iters, false, 0, &raw, &uv)) {
		fprintf(stderr, "bench_region_read: failed to run\n");
		return 1;
	}
	printf("%-40s %10s %10s %8s\n", "benchmark", "uvfio", "baseline", "ratio");
	printf("%-40s %10.0f %10.0f %7.2fx\n",
	       pinned ? "BAR read 4B round trip, 1 CPU (ns)" : "BAR read 4B round trip (ns)", uv,
	       raw, uv / raw);
	/* Issue 11's goals: 1.10x across CPUs; 1.5x on one CPU, where every round trip is two
	 * context switches and the server's epoll_wait adds to a much shorter raw figure. */
	if (pinned) {
		verdict(uv / raw <= 1.50, "<= 1.50x the raw blocking AF_UNIX ping-pong, one CPU");
		return 0;
	}
	verdict(uv / raw <= 1.10, "<= 1.10x the raw blocking AF_UNIX ping-pong");

	double rawp, uvp;
	if (pair_ns(iters, true, UVFIO_SERVER_POLL_ADAPTIVE, &rawp, &uvp)) {
		fprintf(stderr, "bench_region_read: polling rows failed to run\n");
		return 1;
	}
	printf("%-40s %10.0f %10.0f %7.2fx\n", "BAR read 4B, server --poll (ns)", uvp, rawp,
	       uvp / rawp);
	verdict(uvp / rawp <= 1.30, "<= 1.30x the raw ping-pong with a busy-polling echo");

	unsigned agg_iters = iters / 4 ? iters / 4 : 1;
	double one_loop = aggregate_ops(agg_iters, 1);
	if (one_loop <= 0) {
		fprintf(stderr, "bench_region_read: 8-device rows failed to run\n");
		return 1;
	}
	printf("%-40s %10.0f %10.0f %7.2fx\n", "8 devices, 8 clients, 1 loop (reads/s)", one_loop,
	       one_loop, 1.0);
	for (long l = 2; l <= cores && l <= NDEV; l++) {
		double ops = aggregate_ops(agg_iters, (uint32_t)l);
		char label[64];
		if (ops <= 0) {
			fprintf(stderr, "bench_region_read: 8-device rows failed to run\n");
			return 1;
		}
		snprintf(label, sizeof(label), "8 devices, 8 clients, %ld loops (reads/s)", l);
		printf("%-40s %10.0f %10.0f %7.2fx\n", label, ops, one_loop, ops / one_loop);
		verdict(ops / one_loop >= 0.95, ">= 0.95x the aggregate of 1 loop");
	}
	return 0;
}
