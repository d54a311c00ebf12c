/* SPDX-License-Identifier: MIT */
/*
 * A 4-byte REGION_READ round trip through the client API and the vfio-user server (separate
 * processes) against a raw AF_UNIX ping-pong of the same bytes measured in the same run.
 * Goal: at most 1.5x the raw round trip.
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

static pid_t start_server(const char *path)
{
	pid_t pid = fork();

	if (pid == 0) {
		struct uvfio_server *server = uvfio_server_new(NULL);
		struct uvfio_pci_device *pdev;

		uvfio_register_builtin_drivers();
		if (!server || uvfio_pci_create("edu", &pdev) ||
		    uvfio_server_add_device(server, uvfio_pci_to_device(pdev), path))
			_exit(1);
		uvfio_server_run(server);
		uvfio_server_free(server);
		_exit(0);
	}
	return pid;
}

static int open_when_ready(const char *path, const char *url, struct uvfio_handle **h)
{
	/* The server child creates the socket asynchronously: wait for it (bounded) so the open
	 * below does not log a refused connection. */
	for (int i = 0; i < 500 && access(path, F_OK); i++)
		usleep(10000);
	return uvfio_open(url, h);
}

static double uvfio_read_ns(unsigned iters)
{
	char dir[] = "/tmp/uvfio-bench-XXXXXX", path[128], url[160];
	struct uvfio_handle *h;
	uint16_t cmd = 0x2; /* COMMAND.MEMORY */
	double best = 1e30;
	uint32_t val;
	pid_t pid;

	if (!mkdtemp(dir))
		return -1;
	snprintf(path, sizeof(path), "%s/edu.sock", dir);
	snprintf(url, sizeof(url), "vfio-user:%s", path);
	pid = start_server(path);
	if (pid < 0 || open_when_ready(path, url, &h))
		return -1;
	if (uvfio_config_write(h, 4, &cmd, 2))
		return -1;
	for (int run = 0; run < BENCH_RUNS; run++) {
		uint64_t t0 = bench_now_ns();

		for (unsigned i = 0; i < iters; i++)
			if (uvfio_region_read(h, UVFIO_PCI_BAR0_REGION, 0, &val, 4) != 4)
				return -1;
		double ns = (double)(bench_now_ns() - t0) / iters;
		if (ns < best)
			best = ns;
	}
	if (val != 0x010000ed)
		fprintf(stderr, "bench: unexpected edu id 0x%08x\n", val);
	uvfio_close(h);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
	unlink(path);
	rmdir(dir);
	return best;
}

int main(int argc, char **argv)
{
	unsigned iters = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 20000;
	bool pinned = argc > 2 && strcmp(argv[2], "--same-cpu") == 0;
	cpu_set_t one;

	/* Cross-CPU wake-ups dominate a round trip on small VMs and vary from run to run; with
	 * --same-cpu both sides of both measurements share one CPU (children inherit it). */
	CPU_ZERO(&one);
	CPU_SET(0, &one);
	if (pinned && sched_setaffinity(0, sizeof(one), &one))
		perror("sched_setaffinity");
	double raw = bench_raw_pingpong_ns(iters, REQ_BYTES, REPLY_BYTES, false);
	double uv = uvfio_read_ns(iters);

	if (raw <= 0 || uv <= 0) {
		fprintf(stderr, "bench_region_read: failed to run\n");
		return 1;
	}
	printf("%-34s %10s %10s %8s %s\n", "benchmark", "ns/op", "base ns", "ratio", "goal");
	printf("%-34s %10.0f %10.0f %7.2fx %s\n",
	       pinned ? "region read 4B round trip, 1 CPU" : "region read 4B round trip", uv, raw,
	       uv / raw,
	       "<= 1.50x raw AF_UNIX ping-pong");
	return 0;
}
