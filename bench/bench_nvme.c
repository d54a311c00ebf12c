/* SPDX-License-Identifier: MIT */
/*
 * uvfio's NVMe controller (RAM namespace, one worker thread, served by "uvfio serve") driven by
 * the userspace NVMe driver through "uvfio bench nvme --json", 4 KiB random reads, polling and
 * interrupt completions, next to baselines measured in the same run:
 *   - the copy limit: memcpy of 4 KiB blocks per second (each read is one such copy),
 *   - the raw AF_UNIX ping-pong of 8 bytes, blocking and busy-polling (bench_util.h).
 * Goals: QD32 polling >= 1M IOPS; QD1 polling latency <= 2x the busy-poll ping-pong; QD1
 * interrupt latency <= 1.2x the blocking ping-pong.
 * usage: bench_nvme UVFIO_BIN [seconds per row]
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <json-c/json.h>

#include "bench_util.h"

#define COPY_SRC (64u << 20) /* = the bench --size: the same working set */
#define BLOCK 4096u

static double copy_blocks_per_s(void)
{
	uint8_t *src = malloc(COPY_SRC), *dst = malloc(BLOCK);
	uint64_t rng = 88172645463325252ull, n = 0;
	double best = 0;

	if (!src || !dst)
		return -1;
	memset(src, 1, COPY_SRC);
	for (int run = 0; run < BENCH_RUNS; run++) {
		uint64_t t0 = bench_now_ns(), t;

		n = 0;
		do {
			for (int i = 0; i < 4096; i++) {
				rng ^= rng << 13, rng ^= rng >> 7, rng ^= rng << 17;
				memcpy(dst, src + (rng % (COPY_SRC / BLOCK)) * BLOCK, BLOCK);
				__asm__ volatile("" : : "r"(dst) : "memory");
			}
			n += 4096;
			t = bench_now_ns() - t0;
		} while (t < 200000000ull);
		double rate = (double)n / ((double)t / 1e9);
		if (rate > best)
			best = rate;
	}
	free(src);
	free(dst);
	return best;
}

struct result {
	double iops, lat_ns, p99_ns, usr, sys, server;
};

/* Runs uvfio bench nvme and reads jobs[0] of its JSON. */
static int bench(const char *bin, const char *sock, pid_t server, int qd, bool irq,
		 double secs, struct result *r)
{
	char cmd[1024], *buf = malloc(1 << 20);
	size_t len = 0, n;
	json_object *j, *job, *rd, *lat, *pct, *v;
	FILE *p;
	int ret = -1;

	snprintf(cmd, sizeof(cmd), "%s bench nvme %s --rw randread --bs 4k --qd %d --time %.1f %s "
		 "--size 64M --json --server-pid %d", bin, sock, qd, secs, irq ? "--irq" : "--poll",
		 (int)server);
	p = popen(cmd, "r");
	if (!p || !buf) {
		free(buf);
		return -1;
	}
	while ((n = fread(buf + len, 1, (1 << 20) - 1 - len, p)) > 0)
		len += n;
	buf[len] = '\0';
	if (pclose(p) != 0) {
		fprintf(stderr, "bench_nvme: '%s' failed\n", cmd);
		free(buf);
		return -1;
	}
	j = json_tokener_parse(buf);
	free(buf);
	if (j && json_object_object_get_ex(j, "jobs", &v) && (job = json_object_array_get_idx(v, 0)) &&
	    json_object_object_get_ex(job, "read", &rd) &&
	    json_object_object_get_ex(rd, "lat_ns", &lat) &&
	    json_object_object_get_ex(lat, "percentile", &pct)) {
		json_object_object_get_ex(rd, "iops", &v);
		r->iops = json_object_get_double(v);
		json_object_object_get_ex(lat, "mean", &v);
		r->lat_ns = json_object_get_double(v);
		json_object_object_get_ex(pct, "99.000000", &v);
		r->p99_ns = json_object_get_double(v);
		json_object_object_get_ex(job, "usr_cpu", &v);
		r->usr = json_object_get_double(v);
		json_object_object_get_ex(job, "sys_cpu", &v);
		r->sys = json_object_get_double(v);
		r->server = json_object_object_get_ex(job, "server_cpu", &v) ?
				    json_object_get_double(v) : -1;
		ret = 0;
	}
	json_object_put(j);
	return ret;
}

static pid_t start_server(const char *bin, const char *dir, char *sock, size_t len)
{
	snprintf(sock, len, "%s/nvme.sock", dir);
	pid_t pid = fork();

	if (pid == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, 1);
		dup2(null, 2);
		execl(bin, bin, "serve", "--device", "nvme,size=256M", "--socket", sock, (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 500; i++) {
		struct stat st;

		if (stat(sock, &st) == 0)
			return pid;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	return -1;
}

static int missed;

static void row(const char *name, double v, const char *unit, double base, const char *bunit,
		bool has_goal, bool met, const char *goal)
{
	char vb[32], bb[32] = "", rb[16] = "";

	snprintf(vb, sizeof(vb), "%.0f %s", v, unit);
	if (base > 0) {
		snprintf(bb, sizeof(bb), "%.0f %s", base, bunit);
		snprintf(rb, sizeof(rb), "%.2fx", v / base);
	}
	printf("%-36s %16s %16s %8s  %s\n", name, vb, bb, rb, goal);
	if (has_goal && !met) {
		printf("GOAL MISSED: %s: %s\n", name, goal);
		missed++;
	}
}

int main(int argc, char **argv)
{
	const char *bin = argc > 1 ? argv[1] : "build/tools/uvfio/uvfio";
	double secs = argc > 2 ? strtod(argv[2], NULL) : 3;
	char dir[] = "/tmp/uvfio-bench-nvme-XXXXXX", sock[128], pre[1024];
	struct result p1, i1, p32, i32;
	pid_t srv;

	if (!mkdtemp(dir))
		return 1;
	double copy = copy_blocks_per_s();
	double pp_block = bench_raw_pingpong_ns(20000, 8, 8, 0);
	double pp_busy = bench_raw_pingpong_ns(20000, 8, 8, BENCH_SPIN_PEER | BENCH_SPIN_SELF);
	srv = start_server(bin, dir, sock, sizeof(sock));
	/* Precondition: write the 64 MiB once, so no row pays the RAM backend's first touch. */
	snprintf(pre, sizeof(pre), "%s bench nvme %s --rw write --bs 128k --qd 4 --time 3 "
		 "--size 64M >/dev/null", bin, sock);
	if (srv < 0 || system(pre) != 0 || copy <= 0 || pp_block <= 0 || pp_busy <= 0 ||
	    bench(bin, sock, srv, 1, false, secs, &p1) || bench(bin, sock, srv, 1, true, secs, &i1) ||
	    bench(bin, sock, srv, 32, false, secs, &p32) ||
	    bench(bin, sock, srv, 32, true, secs, &i32)) {
		fprintf(stderr, "bench_nvme: failed to run\n");
		if (srv > 0)
			kill(srv, SIGTERM);
		return 1;
	}
	kill(srv, SIGTERM);
	waitpid(srv, NULL, 0);
	unlink(sock);
	rmdir(dir);

	printf("%-36s %16s %16s %8s  %s\n", "nvme (uvfio's, RAM, 1 server thread)", "value", "base",
	       "ratio", "goal");
	row("copy limit: memcpy 4 KiB blocks", copy, "/s", 0, "", false, true, "(baseline)");
	row("AF_UNIX 8 B ping-pong, blocking", pp_block, "ns", 0, "", false, true, "(baseline)");
	row("AF_UNIX 8 B ping-pong, busy-poll", pp_busy, "ns", 0, "", false, true, "(baseline)");
	row("4k randread QD1 poll, avg latency", p1.lat_ns, "ns", pp_busy, "ns", true,
	    p1.lat_ns <= 2 * pp_busy, "<= 2.00x busy-poll ping-pong");
	row("4k randread QD1 irq, avg latency", i1.lat_ns, "ns", pp_block, "ns", true,
	    i1.lat_ns <= 1.2 * pp_block, "<= 1.20x blocking ping-pong");
	row("4k randread QD32 poll, IOPS", p32.iops, "IOPS", copy, "/s", true, p32.iops >= 1e6,
	    ">= 1M IOPS (ratio: of the copy limit)");
	row("4k randread QD32 irq, IOPS", i32.iops, "IOPS", copy, "/s", false, true,
	    "(no goal; ratio: of the copy limit)");
	printf("  CPU (%% of one CPU) client usr+sys / server: QD1 poll %.0f/%.0f, QD1 irq %.0f/%.0f, "
	       "QD32 poll %.0f/%.0f, QD32 irq %.0f/%.0f\n", p1.usr + p1.sys, p1.server,
	       i1.usr + i1.sys, i1.server, p32.usr + p32.sys, p32.server, i32.usr + i32.sys,
	       i32.server);
	printf("  p99 latency: QD1 poll %.0f ns, QD1 irq %.0f ns\n", p1.p99_ns, i1.p99_ns);
	return 0;
}
