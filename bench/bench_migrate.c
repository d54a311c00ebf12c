/* SPDX-License-Identifier: MIT */
/*
 * Migration, two figures:
 *  (a) stop-copy throughput: the whole state of an edu-mig device with 256 MiB of device
 *      memory, served by another process, saved with uvfio_migrate_save() into a sink that
 *      counts bytes, against a raw AF_UNIX copy of the same number of bytes between two
 *      processes in the same run. Goal: at least 0.8x the raw copy.
 *  (b) downtime: uvfio_migrate() of an edu-mig device whose dirtier writes guest memory at a
 *      fixed rate, with --max-downtime 50, 100 and 300 ms: the measured downtime against the
 *      budget, with the rounds it took.
 * Usage: bench_migrate [DEVICE_MEM_MiB (256)] [DIRTY_RATE_KiB_per_ms (256)]
 */
#include <errno.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include <uvfio/migrate.h>
#include <uvfio/uvfio.h>

#include "bench_util.h"

#define RAW_CHUNK (16u << 20) /* what one server reply carries at most between uvfio peers */
#define SINK_CHUNK (4u << 20)
#define RAM_IOVA 0x100000000ull
#define RAM_SIZE (64ull << 20)
#define DIRTY_LEN (32ull << 20)
#define DIRTIER 9u

struct server {
	pid_t pid;
	char dir[32], path[64], url[80];
};

static int server_start(struct server *s, const char *spec)
{
	snprintf(s->dir, sizeof(s->dir), "/tmp/uvfio-bench-XXXXXX");
	if (!mkdtemp(s->dir))
		return -errno;
	snprintf(s->path, sizeof(s->path), "%s/dev.sock", s->dir);
	snprintf(s->url, sizeof(s->url), "vfio-user:%s", s->path);
	s->pid = fork();
	if (s->pid == 0) {
		/* A bench killed half-way (^C, a closed pipe) must not leave a dirtier running. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() == 1)
			_exit(1);
		struct uvfio_server *server = uvfio_server_new(NULL);
		struct uvfio_pci_device *pdev;

		uvfio_register_builtin_drivers();
		if (!server || uvfio_pci_create(spec, &pdev) ||
		    uvfio_server_add_device(server, uvfio_pci_to_device(pdev), s->path))
			_exit(1);
		uvfio_server_run(server);
		_exit(0);
	}
	return s->pid < 0 ? -errno : 0;
}

static int server_open(struct server *s, struct uvfio_handle **h)
{
	/* The child creates the socket asynchronously: wait for it, bounded. */
	for (int i = 0; i < 1000 && access(s->path, F_OK); i++)
		usleep(10000);
	return uvfio_open(s->url, h);
}

static void server_stop(struct server *s)
{
	kill(s->pid, SIGTERM);
	waitpid(s->pid, NULL, 0);
	unlink(s->path);
	rmdir(s->dir);
}

/* The baseline: another process writes `bytes` into a socket from a buffer of that size (in
 * memory, not in cache, like the device memory a save sends), we read them in the sink's chunk
 * size. The writer waits for a request so that fork() and faulting the buffer in are not timed.
 * One writer serves every run: each uvfio run is paired with a raw run right after it. */
struct raw_copy {
	pid_t pid;
	int sock;
};

static int raw_start(struct raw_copy *r, uint64_t bytes)
{
	int sv[2];

	if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv))
		return -1;
	r->pid = fork();
	if (r->pid == 0) {
		uint8_t *src = malloc(bytes);
		uint64_t want;

		close(sv[0]);
		if (src)
			memset(src, 0x5a, bytes);
		while (src && bench_full_io(sv[1], &want, sizeof(want), false) == 0)
			for (uint64_t off = 0; off < want;) {
				size_t n = want - off < RAW_CHUNK ? (size_t)(want - off) : RAW_CHUNK;

				if (bench_full_io(sv[1], src + off % bytes, n, true))
					_exit(1);
				off += n;
			}
		_exit(0);
	}
	close(sv[1]);
	r->sock = sv[0];
	return r->pid < 0 ? -1 : 0;
}

static double raw_copy_gbps(struct raw_copy *r, uint64_t bytes)
{
	static uint8_t buf[SINK_CHUNK];
	uint64_t t0 = bench_now_ns(), got = 0;

	if (bench_full_io(r->sock, &bytes, sizeof(bytes), true))
		return -1;
	while (got < bytes) {
		ssize_t n = read(r->sock, buf, bytes - got < SINK_CHUNK ? bytes - got : SINK_CHUNK);

		if (n <= 0)
			return -1;
		got += (uint64_t)n;
	}
	return (double)bytes / (double)(bench_now_ns() - t0);
}

static void raw_stop(struct raw_copy *r)
{
	close(r->sock);
	waitpid(r->pid, NULL, 0);
}

static int count_bytes(void *opaque, const void *buf, size_t len)
{
	(void)buf;
	*(uint64_t *)opaque += len;
	return 0;
}

static int stop_copy_throughput(unsigned mem_mib)
{
	char spec[64];
	struct server s;
	struct uvfio_handle *h;
	uint64_t bytes = 0;
	double best = 0, raw = 0, worst_ratio = 1e9, ratio[BENCH_RUNS];
	struct raw_copy rc;

	snprintf(spec, sizeof(spec), "edu-mig,mem=%uM", mem_mib);
	if (server_start(&s, spec) || server_open(&s, &h))
		return -1;
	/* Entering STOP_COPY serialises the whole state before the reply: more than the default
	 * 5 s reply timeout on a slow machine. */
	uvfio_set_msg_timeout(h, 120000);
	if (raw_start(&rc, (uint64_t)mem_mib << 20))
		return -1;
	for (int run = 0; run < BENCH_RUNS; run++) {
		uint64_t t0 = bench_now_ns();
		int64_t n;

		bytes = 0;
		/* From RUNNING the first time, from STOP after: the same stream either way. */
		n = uvfio_migrate_save(h, count_bytes, &bytes);
		if (n < 0 || (uint64_t)n != bytes) {
			fprintf(stderr, "bench_migrate: save: %s\n", strerror((int)-n));
			return -1;
		}
		double gbps = (double)bytes / (double)(bench_now_ns() - t0);
		double r = raw_copy_gbps(&rc, bytes);
		if (r <= 0)
			return -1;
		best = gbps > best ? gbps : best;
		raw = r > raw ? r : raw;
		ratio[run] = gbps / r;
		worst_ratio = ratio[run] < worst_ratio ? ratio[run] : worst_ratio;
	}
	raw_stop(&rc);
	/* Where the time goes: the arc into STOP_COPY (the device serialises its state) and the
	 * transfer, timed apart once. */
	static uint8_t chunk[SINK_CHUNK];
	uint64_t t0 = bench_now_ns(), t1, t2, moved = 0;
	ssize_t n = uvfio_mig_set_state(h, UVFIO_MIG_STATE_STOP_COPY, NULL);

	t1 = bench_now_ns();
	while (n >= 0 && (n = uvfio_mig_read(h, chunk, sizeof(chunk))) > 0)
		moved += (uint64_t)n;
	t2 = bench_now_ns();
	if (n < 0 || uvfio_mig_set_state(h, UVFIO_MIG_STATE_STOP, NULL))
		return -1;
	uvfio_close(h);
	server_stop(&s);
	printf("%-40s %10.2f %10.2f %7.2fx %s\n", "stop-copy save, 256 MiB state (GB/s)", best, raw,
	       best / raw, "(best runs)");
	printf("  each run against the raw copy right after it:");
	for (int run = 0; run < BENCH_RUNS; run++)
		printf(" %.2fx", ratio[run]);
	printf("\n");
	if (worst_ratio >= 0.8)
		printf("%56s goal met: >= 0.80x the raw AF_UNIX copy in every run (worst %.2fx)\n",
		       "", worst_ratio);
	else
		printf("GOAL MISSED: >= 0.80x the raw AF_UNIX copy in every run (worst %.2fx)\n",
		       worst_ratio);
	printf("  (%llu stream bytes per save, device memory %u MiB; entering STOP_COPY %.0f ms, "
	       "then the transfer at %.2f GB/s)\n", (unsigned long long)bytes, mem_mib,
	       (double)(t1 - t0) / 1e6, (double)moved / (double)(t2 - t1));
	return 0;
}

struct side {
	struct server srv;
	struct uvfio_handle *h;
	struct uvfio_ioas *ioas;
};

static int side_start(struct side *d)
{
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	void *mem;

	if (server_start(&d->srv, "edu-mig,mem=16M") || server_open(&d->srv, &d->h) ||
	    uvfio_set_msg_timeout(d->h, 120000) ||
	    uvfio_ioas_new(&d->ioas) ||
	    uvfio_ioas_map_alloc(d->ioas, RAM_IOVA, RAM_SIZE, UVFIO_IOAS_READ | UVFIO_IOAS_WRITE,
				 &mem) ||
	    uvfio_ioas_attach(d->ioas, d->h))
		return -1;
	return uvfio_config_write(d->h, PCI_COMMAND, &cmd, 2);
}

static void side_stop(struct side *d)
{
	uvfio_ioas_free(d->ioas);
	uvfio_close(d->h);
	server_stop(&d->srv);
}

static int reg(struct uvfio_handle *h, uint64_t off, uint64_t v, size_t width)
{
	return uvfio_region_write(h, DIRTIER, off, &v, width) == (ssize_t)width ? 0 : -1;
}

/* Migrates back and forth between two devices: the one that ran last is the next source,
 * its dirtier still enabled (its registers migrate with it). */
static int downtime(unsigned rate_kib)
{
	static const uint32_t budgets[] = { 50, 100, 300 };
	struct uvfio_dirty_range range = { RAM_IOVA, RAM_SIZE };
	struct side d[2];
	int src = 0, ret = 0;

	if (side_start(&d[0]) || side_start(&d[1]))
		return -1;
	if (reg(d[0].h, 0x00, RAM_IOVA, 8) || reg(d[0].h, 0x08, DIRTY_LEN, 8) ||
	    reg(d[0].h, 0x10, (uint64_t)rate_kib << 10, 4) || reg(d[0].h, 0x14, 1, 4))
		return -1;
	usleep(50000); /* let the dirtier reach its pace */
	printf("%-40s %10s %10s %8s %s\n", "downtime, dirtier writing guest memory", "ms",
	       "budget", "rounds", "estimate");
	for (size_t i = 0; i < sizeof(budgets) / sizeof(budgets[0]) && ret == 0; i++) {
		struct uvfio_migrate_opts o = {
			.ranges = &range, .nr_ranges = 1, .max_downtime_ms = budgets[i],
		};
		static struct uvfio_migrate_stats st;
		char label[64];

		ret = uvfio_migrate(d[src].h, d[src].ioas, d[1 - src].h, d[1 - src].ioas, &o, &st);
		if (ret < 0) {
			fprintf(stderr, "bench_migrate: migrate: %s\n", uvfio_migrate_strerror(ret));
			break;
		}
		snprintf(label, sizeof(label), "  %u KiB/ms over %llu MiB, budget %u ms", rate_kib,
			 (unsigned long long)(DIRTY_LEN >> 20), budgets[i]);
		printf("%-40s %10.2f %10u %8u %5llu ms %s%s\n", label, (double)st.downtime_ns / 1e6,
		       budgets[i], st.rounds, (unsigned long long)st.estimate_ms,
		       st.downtime_ns <= budgets[i] * 1000000ull ? "goal met: within budget"
								  : "over budget",
		       st.converged ? "" : " (did not converge)");
		if (st.downtime_ns > budgets[i] * 1000000ull)
			printf("GOAL MISSED: downtime %.2f ms over the %u ms budget\n",
			       (double)st.downtime_ns / 1e6, budgets[i]);
		src = 1 - src;
		usleep(50000);
	}
	side_stop(&d[0]);
	side_stop(&d[1]);
	return ret;
}

int main(int argc, char **argv)
{
	unsigned mem_mib = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 0) : 256;
	unsigned rate = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 256;

	uvfio_log_set_level(UVFIO_LOG_ERR);
	setvbuf(stdout, NULL, _IOLBF, 0);
	printf("%-40s %10s %10s %8s %s\n", "benchmark", "uvfio", "baseline", "ratio", "goal");
	if (stop_copy_throughput(mem_mib) < 0 || downtime(rate) < 0) {
		fprintf(stderr, "bench_migrate: failed to run\n");
		return 1;
	}
	return 0;
}
