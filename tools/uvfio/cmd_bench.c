/* SPDX-License-Identifier: MIT */
/*
 * uvfio bench nvme URL --rw randread|randwrite|read|write|rw --bs 4k --qd N --jobs N --time S
 *                      [--poll|--irq] [--json] [--server-pid PID]
 * fio-shaped: each job is a thread with its own queue pair keeping qd commands in flight for
 * the time given; IOPS, bandwidth, completion latency (avg, p50/p99/p99.9, max) from a
 * log-linear histogram, and CPU use (this process, and the server's with --server-pid).
 * --json prints fio's JSON shape (jobs[].read.iops, jobs[].read.lat_ns.percentile, ...).
 */
#include <errno.h>
#include <sched.h>
#include <getopt.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>
#include <uvfio/nvme.h>

#include "commands.h"

#define HIST_SUB 64 /* buckets per power of two: ~1.5% resolution */
#define HIST_N (64 * HIST_SUB)
#define MAX_JOBS 64

enum { RW_RANDREAD, RW_RANDWRITE, RW_READ, RW_WRITE, RW_MIX };
static const char *const rw_names[] = { "randread", "randwrite", "read", "write", "rw" };

struct bench_cfg {
	const char *url;
	int rw;
	uint32_t bs, qd, jobs;
	double time_s;
	bool irq, json;
	long server_pid;
	uint64_t size; /* bytes of the namespace used from LBA 0 (0: all of it) */
};

struct dir_stats {
	uint64_t ios, bytes, lat_sum, lat_min, lat_max;
	uint64_t *hist;
};

struct job {
	const struct bench_cfg *cfg;
	struct uvfio_nvme_ctrl *ctrl;
	struct uvfio_nvme_ns_info ns;
	int id, err;
	uint64_t rng, seq_lba;
	struct dir_stats st[2]; /* read, write */
	struct uvfio_nvme_qpair *q;
	uint8_t *buf;
	struct slot {
		struct job *j;
		uint32_t idx;
		uint64_t t0;
		bool is_write;
	} *slots;
	bool stop;
	uint64_t runtime_ns;
};

static uint32_t hist_bucket(uint64_t v)
{
	int msb;

	if (v < HIST_SUB)
		return (uint32_t)v;
	msb = 63 - __builtin_clzll(v);
	return (uint32_t)((msb - 5) * HIST_SUB + ((v >> (msb - 6)) & (HIST_SUB - 1)));
}

static uint64_t hist_value(uint32_t b)
{
	uint32_t msb;

	if (b < HIST_SUB)
		return b;
	msb = b / HIST_SUB + 5;
	return ((uint64_t)(HIST_SUB + b % HIST_SUB) << (msb - 6)) + (1ull << (msb - 6)) / 2;
}

static uint64_t percentile(const uint64_t *hist, uint64_t total, double p)
{
	uint64_t want = (uint64_t)(p / 100.0 * (double)total + 0.5), seen = 0;

	if (!want)
		want = 1;
	for (uint32_t b = 0; b < HIST_N; b++) {
		seen += hist[b];
		if (seen >= want)
			return hist_value(b);
	}
	return 0;
}

static uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t xorshift(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static int submit(struct job *j, struct slot *s);

static void done(void *arg, int status, uint32_t cdw0)
{
	struct slot *s = arg;
	struct job *j = s->j;
	struct dir_stats *d = &j->st[s->is_write];
	uint64_t lat = now_ns() - s->t0;

	if (status) {
		if (!j->err)
			fprintf(stderr, "uvfio bench: job %d: %s\n", j->id,
				uvfio_nvme_strstatus(status));
		j->err = status < 0 ? status : -EIO;
		j->stop = true;
		return;
	}
	d->ios++;
	d->bytes += j->cfg->bs;
	d->lat_sum += lat;
	if (lat < d->lat_min)
		d->lat_min = lat;
	if (lat > d->lat_max)
		d->lat_max = lat;
	d->hist[hist_bucket(lat)]++;
	if (!j->stop)
		submit(j, s);
}

static int submit(struct job *j, struct slot *s)
{
	const struct bench_cfg *c = j->cfg;
	uint32_t nlb = c->bs / j->ns.lba_size;
	uint64_t blocks = j->ns.nsze / nlb, lba;

	if (c->size && c->size / c->bs < blocks)
		blocks = c->size / c->bs;
	int ret;

	if (c->rw == RW_RANDREAD || c->rw == RW_RANDWRITE || c->rw == RW_MIX)
		lba = (xorshift(&j->rng) % blocks) * nlb;
	else
		lba = (j->seq_lba++ % blocks) * nlb;
	s->is_write = c->rw == RW_RANDWRITE || c->rw == RW_WRITE ||
		      (c->rw == RW_MIX && (xorshift(&j->rng) & 1));
	s->t0 = now_ns();
	ret = s->is_write ? uvfio_nvme_write(j->q, j->ns.nsid, j->buf + (size_t)s->idx * c->bs,
					     lba, nlb, done, s) :
			    uvfio_nvme_read(j->q, j->ns.nsid, j->buf + (size_t)s->idx * c->bs, lba,
					    nlb, done, s);
	if (ret < 0) {
		j->err = ret;
		j->stop = true;
	}
	return ret;
}

static void *job_main(void *arg)
{
	struct job *j = arg;
	const struct bench_cfg *c = j->cfg;
	uint64_t t0, end;

	j->slots = calloc(c->qd, sizeof(*j->slots));
	j->buf = uvfio_nvme_dma_alloc(j->ctrl, (size_t)c->qd * c->bs);
	if (!j->slots || !j->buf) {
		j->err = -ENOMEM;
		return NULL;
	}
	memset(j->buf, 0x5a, (size_t)c->qd * c->bs);
	if ((j->err = uvfio_nvme_qpair_create(j->ctrl, &j->q)) < 0)
		return NULL;
	j->seq_lba = (uint64_t)j->id * 1000003;
	t0 = now_ns();
	end = t0 + (uint64_t)(c->time_s * 1e9);
	for (uint32_t i = 0; i < c->qd && !j->stop; i++) {
		j->slots[i] = (struct slot){ .j = j, .idx = i };
		submit(j, &j->slots[i]);
	}
	/* Check the clock every 64 reaps: it is not free at millions of IOPS. */
	for (uint32_t n = 0, idle = 0; !j->stop; n++) {
		if (c->irq)
			uvfio_nvme_wait(j->q, 100);
		else if (uvfio_nvme_process(j->q, 0) > 0)
			idle = 0;
		else if (++idle % 64 == 0)
			sched_yield(); /* cores oversubscribed: let the controller's thread run */
		if ((n & 63) == 0 && now_ns() >= end)
			j->stop = true;
	}
	j->runtime_ns = now_ns() - t0;
	/* Drain what is in flight (not counted: done() sees stop and resubmits nothing). */
	for (int i = 0; i < 1000 && uvfio_nvme_qpair_outstanding(j->q); i++)
		uvfio_nvme_wait(j->q, 10);
	uvfio_nvme_qpair_destroy(j->q);
	return NULL;
}

/* utime + stime of a process, in seconds (from /proc/PID/stat). */
static double proc_cpu_s(long pid)
{
	char path[64], buf[1024], *p;
	unsigned long ut = 0, st = 0;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = fopen(path, "r");
	if (!f)
		return -1;
	p = fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
	fclose(f);
	if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut,
			 &st) != 2)
		return -1;
	return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double tv_s(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

static json_object *dir_json(const struct dir_stats *d, double runtime_s)
{
	static const double pcts[] = { 1, 5, 10, 50, 90, 99, 99.5, 99.9, 99.99 };
	json_object *o = json_object_new_object(), *lat = json_object_new_object();
	json_object *pct = json_object_new_object();
	char key[32];

	json_object_object_add(o, "io_bytes", json_object_new_uint64(d->bytes));
	json_object_object_add(o, "bw", json_object_new_uint64(
						(uint64_t)((double)d->bytes / 1024 / runtime_s)));
	json_object_object_add(o, "iops", json_object_new_double((double)d->ios / runtime_s));
	json_object_object_add(o, "runtime", json_object_new_uint64((uint64_t)(runtime_s * 1000)));
	json_object_object_add(o, "total_ios", json_object_new_uint64(d->ios));
	json_object_object_add(lat, "min", json_object_new_uint64(d->ios ? d->lat_min : 0));
	json_object_object_add(lat, "max", json_object_new_uint64(d->lat_max));
	json_object_object_add(lat, "mean", json_object_new_double(
						    d->ios ? (double)d->lat_sum / (double)d->ios : 0));
	for (size_t i = 0; i < sizeof(pcts) / sizeof(pcts[0]); i++) {
		snprintf(key, sizeof(key), "%.6f", pcts[i]);
		json_object_object_add(pct, key, json_object_new_uint64(
							 d->ios ? percentile(d->hist, d->ios, pcts[i]) : 0));
	}
	json_object_object_add(lat, "percentile", pct);
	json_object_object_add(o, "lat_ns", lat);
	return o;
}

static void print_dir(const char *name, const struct dir_stats *d, double runtime_s)
{
	double iops = (double)d->ios / runtime_s, bw = (double)d->bytes / runtime_s;

	if (!d->ios)
		return;
	printf("  %s: IOPS=%.1fk, BW=%.1fMiB/s (%.1fMB/s)(%.1fMiB/%.0fmsec)\n", name, iops / 1e3,
	       bw / 1048576, bw / 1e6, (double)d->bytes / 1048576, runtime_s * 1e3);
	printf("    lat (nsec): min=%llu, max=%llu, avg=%.0f\n", (unsigned long long)d->lat_min,
	       (unsigned long long)d->lat_max, (double)d->lat_sum / (double)d->ios);
	printf("    lat percentiles (nsec): 50.00th=[%llu], 99.00th=[%llu], 99.90th=[%llu]\n",
	       (unsigned long long)percentile(d->hist, d->ios, 50),
	       (unsigned long long)percentile(d->hist, d->ios, 99),
	       (unsigned long long)percentile(d->hist, d->ios, 99.9));
}

static int run(const struct bench_cfg *c)
{
	struct uvfio_nvme_opts opts;
	struct uvfio_nvme_ctrl *ctrl;
	struct uvfio_nvme_ctrl_info ci;
	struct uvfio_nvme_ns_info ns;
	struct job *jobs = calloc(c->jobs, sizeof(*jobs));
	pthread_t th[MAX_JOBS];
	struct rusage r0, r1;
	double srv0, srv1, wall;
	uint64_t t0;
	int ret, st;

	uvfio_nvme_opts_default(&opts);
	opts.io_queues = c->jobs;
	opts.queue_size = c->qd + 1 > 64 ? c->qd + 1 : 64;
	opts.irq = c->irq ? UVFIO_NVME_IRQ_AUTO : UVFIO_NVME_IRQ_POLL;
	ret = uvfio_nvme_open(c->url, &opts, &ctrl);
	if (ret < 0 || !jobs) {
		fprintf(stderr, "uvfio bench: cannot open the controller at %s: %s\n", c->url,
			strerror(ret < 0 ? -ret : ENOMEM));
		free(jobs);
		return EXIT_FAILED;
	}
	uvfio_nvme_ctrl_get_info(ctrl, &ci);
	st = uvfio_nvme_ns_get_info(ctrl, 1, &ns);
	if (st || c->bs % ns.lba_size || c->bs > ci.max_xfer || ci.io_queues < c->jobs ||
	    (c->size && c->size < c->bs) ||
	    (c->irq && !strcmp(ci.irq, "poll"))) {
		fprintf(stderr, "uvfio bench: %s\n",
			st ? uvfio_nvme_strstatus(st) :
			c->bs % ns.lba_size || c->bs > ci.max_xfer ?
			     "--bs must be a multiple of the block size, at most MDTS" :
			c->size && c->size < c->bs ? "--size is less than --bs" :
			ci.io_queues < c->jobs ? "the controller grants fewer queues than --jobs" :
						 "no interrupt reaches us (try --poll)");
		uvfio_nvme_ctrl_close(ctrl);
		free(jobs);
		return EXIT_FAILED;
	}
	getrusage(RUSAGE_SELF, &r0);
	srv0 = c->server_pid ? proc_cpu_s(c->server_pid) : -1;
	t0 = now_ns();
	for (uint32_t i = 0; i < c->jobs; i++) {
		jobs[i] = (struct job){ .cfg = c, .ctrl = ctrl, .ns = ns, .id = (int)i,
					.rng = 0x9e3779b97f4a7c15ull * (i + 1) };
		for (int d = 0; d < 2; d++) {
			jobs[i].st[d].lat_min = UINT64_MAX;
			jobs[i].st[d].hist = calloc(HIST_N, sizeof(uint64_t));
		}
		pthread_create(&th[i], NULL, job_main, &jobs[i]);
	}
	for (uint32_t i = 0; i < c->jobs; i++)
		pthread_join(th[i], NULL);
	wall = (double)(now_ns() - t0) / 1e9;
	getrusage(RUSAGE_SELF, &r1);
	srv1 = c->server_pid ? proc_cpu_s(c->server_pid) : -1;
	double usr = (tv_s(r1.ru_utime) - tv_s(r0.ru_utime)) / wall * 100;
	double sys = (tv_s(r1.ru_stime) - tv_s(r0.ru_stime)) / wall * 100;
	double srv = srv0 >= 0 && srv1 >= 0 ? (srv1 - srv0) / wall * 100 : -1;

	ret = EXIT_OK;
	json_object *root = json_object_new_object(), *arr = json_object_new_array();
	json_object_object_add(root, "fio version", json_object_new_string("uvfio-bench-nvme"));
	for (uint32_t i = 0; i < c->jobs; i++) {
		struct job *j = &jobs[i];
		double rt = (double)j->runtime_ns / 1e9;

		if (j->err)
			ret = EXIT_FAILED;
		if (rt <= 0)
			rt = 1e-9;
		if (c->json) {
			json_object *jo = json_object_new_object();

			json_object_object_add(jo, "jobname", json_object_new_string("nvme"));
			json_object_object_add(jo, "error", json_object_new_int(-j->err));
			json_object_object_add(jo, "read", dir_json(&j->st[0], rt));
			json_object_object_add(jo, "write", dir_json(&j->st[1], rt));
			json_object_object_add(jo, "usr_cpu", json_object_new_double(usr / c->jobs));
			json_object_object_add(jo, "sys_cpu", json_object_new_double(sys / c->jobs));
			if (srv >= 0)
				json_object_object_add(jo, "server_cpu",
						       json_object_new_double(srv));
			json_object_array_add(arr, jo);
		} else {
			printf("nvme: (groupid=0, jobs=1): job %u: rw=%s, bs=%u, qd=%u, %s, "
			       "doorbells=%s%s\n", i, rw_names[c->rw], c->bs, c->qd, ci.irq,
			       ci.doorbells, ci.shadow_doorbells ? "+shadow" : "");
			print_dir("read", &j->st[0], rt);
			print_dir("write", &j->st[1], rt);
		}
		free(j->st[0].hist);
		free(j->st[1].hist);
		free(j->slots);
	}
	if (c->json) {
		json_object_object_add(root, "jobs", arr);
		printf("%s\n", json_object_to_json_string_ext(root, JSON_C_TO_STRING_PRETTY));
	} else {
		printf("  cpu          : usr=%.1f%%, sys=%.1f%% (of one CPU, all jobs)", usr, sys);
		if (srv >= 0)
			printf(", server=%.1f%%", srv);
		printf("\n");
		json_object_put(arr);
	}
	json_object_put(root);
	uvfio_nvme_ctrl_close(ctrl);
	free(jobs);
	return ret;
}

/* A size with K/M/G (parse.c's parse_size), from 1 byte to 1 GiB. */
static bool parse_size32(const char *s, uint32_t *out)
{
	uint64_t v;

	if (!parse_size(s, &v) || !v || v > (1u << 30))
		return false;
	*out = (uint32_t)v;
	return true;
}

static void help(void)
{
	printf("usage: uvfio bench nvme URL [--rw randread|randwrite|read|write|rw] [--bs 4k]\n"
	       "                        [--qd N] [--jobs N] [--time S] [--poll|--irq] [--json]\n"
	       "                        [--size BYTES] [--server-pid PID]\n\n"
	       "fio's shape: each job a thread with its own queue pair and qd commands in flight\n"
	       "on namespace 1 for --time seconds (default randread, 4k, qd 1, 1 job, 5 s, poll).\n"
	       "--size limits the I/O to the first BYTES of the namespace (k/m/g suffixes).\n"
	       "--server-pid adds the server process's CPU use.\n");
}

int cmd_bench(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "rw", required_argument, NULL, 'r' },  { "bs", required_argument, NULL, 'b' },
		{ "qd", required_argument, NULL, 'q' },  { "iodepth", required_argument, NULL, 'q' },
		{ "jobs", required_argument, NULL, 'j' }, { "numjobs", required_argument, NULL, 'j' },
		{ "time", required_argument, NULL, 't' }, { "runtime", required_argument, NULL, 't' },
		{ "poll", no_argument, NULL, 'P' },      { "irq", no_argument, NULL, 'I' },
		{ "json", no_argument, NULL, 'J' },      { "server-pid", required_argument, NULL, 's' },
		{ "size", required_argument, NULL, 'z' }, { "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct bench_cfg c = { .rw = RW_RANDREAD, .bs = 4096, .qd = 1, .jobs = 1, .time_s = 5 };
	uint64_t v;
	int o;

	optind = 1;
	while ((o = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (o) {
		case 'h':
			help();
			return EXIT_OK;
		case 'r':
			c.rw = -1;
			for (int i = 0; i < 5; i++)
				if (!strcmp(optarg, rw_names[i]))
					c.rw = i;
			if (c.rw < 0)
				return usage_error("bench", "bad --rw '%s'", optarg);
			break;
		case 'b':
			if (!parse_size32(optarg, &c.bs))
				return usage_error("bench", "bad --bs '%s'", optarg);
			break;
		case 'q':
			if (!parse_u64(optarg, &v) || !v || v > 4095)
				return usage_error("bench", "bad --qd '%s' (1..4095)", optarg);
			c.qd = (uint32_t)v;
			break;
		case 'j':
			if (!parse_u64(optarg, &v) || !v || v > MAX_JOBS)
				return usage_error("bench", "bad --jobs '%s' (1..%d)", optarg,
						   MAX_JOBS);
			c.jobs = (uint32_t)v;
			break;
		case 't':
			c.time_s = strtod(optarg, NULL);
			if (!(c.time_s > 0 && c.time_s <= 3600))
				return usage_error("bench", "bad --time '%s'", optarg);
			break;
		case 'P':
			c.irq = false;
			break;
		case 'I':
			c.irq = true;
			break;
		case 'J':
			c.json = true;
			break;
		case 'z': {
			uint32_t mb;

			if (!parse_size32(optarg, &mb))
				return usage_error("bench", "bad --size '%s' (up to 1G)", optarg);
			c.size = mb;
			break;
		}
		case 's':
			if (!parse_u64(optarg, &v) || !v)
				return usage_error("bench", "bad --server-pid '%s'", optarg);
			c.server_pid = (long)v;
			break;
		default:
			return usage_error("bench", "bad option");
		}
	}
	if (argc - optind != 2 || strcmp(argv[optind], "nvme"))
		return usage_error("bench", "expected: nvme URL");
	c.url = argv[optind + 1];
	return run(&c);
}
