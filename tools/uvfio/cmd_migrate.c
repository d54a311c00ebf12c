/* SPDX-License-Identifier: MIT */
/*
 * uvfio migrate SRC DST [...]   move a running device (and the memory it DMAs into)
 * uvfio save URL FILE           stop-copy a device's state into a file
 * uvfio load URL FILE           load a state file into a device
 *
 * A vfio-user server resets its device when the client leaves, so `migrate` is the client
 * (the VMM) of both devices for the whole run: it shares the --mem memory with both, starts
 * the source's work with --write, migrates, checks with --verify, and resets both on exit.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <json-c/json.h>

#include <uvfio/migrate.h>
#include <uvfio/uvfio.h>

#include "commands.h"
#include "parse.h"

#define EXIT_MISMATCH 3 /* --verify found a difference */
#define MAX_MEM 16
#define MAX_WRITES 64
#define VERIFY_BAR0_BYTES 256u

struct migrate_args {
	const char *src_url, *dst_url;
	struct uvfio_dirty_range mem[MAX_MEM];
	unsigned nr_mem;
	struct reg_write writes[MAX_WRITES];
	unsigned nr_writes;
	uint64_t warmup_ms;
	int msg_timeout_ms; /* 0: the transport's default */
	struct uvfio_migrate_opts opts;
	bool verify, json;
};

struct verify_result {
	bool done;
	bool memory, bar0, state;
	char detail[160];
};

static void migrate_help(void)
{
	printf("usage: uvfio migrate SRC DST [--mem SIZE@IOVA]... [--write REGION:OFF=VAL[/W]]...\n"
	       "                     [--warmup MS] [--max-downtime MS] [--no-precopy]\n"
	       "                     [--max-rounds N] [--verify] [--json] [--msg-timeout MS]\n"
	       "                     [--log LEVEL]\n\n"
	       "Moves the device SRC is running to DST (a fresh device of the same kind), as a VMM\n"
	       "does: pre-copy rounds while SRC runs, until the rest fits the downtime budget, then\n"
	       "stop-copy, and DST runs. uvfio is the client of both for the whole run:\n"
	       "  --mem SIZE@IOVA   guest memory (SIZE with K/M/G) mapped on both sides; the pages\n"
	       "                    SRC's DMA dirties are copied to DST in each round\n"
	       "  --write R:OFF=VAL[/W]  a register write replayed on SRC before migrating (to start\n"
	       "                    its work); R as in 'uvfio write', W = 1, 2, 4 (default) or 8\n"
	       "  --warmup MS       let SRC run this long before migrating\n"
	       "  --max-downtime MS downtime budget (default 300)\n"
	       "  --no-precopy      don't use the device's PRE_COPY state\n"
	       "  --max-rounds N    rounds before stop-copy at most (1..%d, default 30)\n"
	       "  --verify          compare memory, the first %u bytes of BAR0 and the saved device\n"
	       "                    state of SRC (stopped) and DST (before it runs)\n"
	       "  --json            one JSON object on stdout\n"
	       "  --msg-timeout MS  how long a device may take to answer (default 5000; a large\n"
	       "                    state is serialised before STOP_COPY is acknowledged)\n"
	       "Both devices are set up first as firmware would (BAR addresses, decoding, as\n"
	       "'uvfio read' does), with bus mastering on when --mem gives them memory.\n"
	       "Progress goes to stderr when it is a terminal. Exit: 0 migrated, 1 failed (SRC is\n"
	       "running again), 2 bad usage, 3 --verify found a difference.\n",
	       UVFIO_MIGRATE_MAX_ROUNDS, VERIFY_BAR0_BYTES);
}

/* Whether two URLs name one device: equal after the vfio-user: prefix, or one socket file. */
static bool same_device(const char *x, const char *y)
{
	struct stat sx, sy;

	if (!strncmp(x, "vfio-user:", 10))
		x += 10;
	if (!strncmp(y, "vfio-user:", 10))
		y += 10;
	if (!strcmp(x, y))
		return true;
	return stat(x, &sx) == 0 && stat(y, &sy) == 0 && sx.st_dev == sy.st_dev &&
	       sx.st_ino == sy.st_ino;
}

static int parse_migrate(int argc, char **argv, struct migrate_args *a)
{
	static const struct option opts[] = {
		{ "mem", required_argument, NULL, 'm' },
		{ "write", required_argument, NULL, 'w' },
		{ "warmup", required_argument, NULL, 'W' },
		{ "max-downtime", required_argument, NULL, 'd' },
		{ "no-precopy", no_argument, NULL, 'P' },
		{ "max-rounds", required_argument, NULL, 'r' },
		{ "verify", no_argument, NULL, 'v' },
		{ "json", no_argument, NULL, 'j' },
		{ "msg-timeout", required_argument, NULL, 't' },
		{ "log", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	uint64_t v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			migrate_help();
			return -1;
		case 'm':
			if (a->nr_mem == MAX_MEM)
				return usage_error("migrate", "at most %d --mem", MAX_MEM);
			if (!parse_mem(optarg, &a->mem[a->nr_mem++]))
				return usage_error("migrate", "bad --mem '%s' (SIZE@IOVA, both "
							      "multiples of 4096)", optarg);
			break;
		case 'w':
			if (a->nr_writes == MAX_WRITES)
				return usage_error("migrate", "at most %d --write", MAX_WRITES);
			if (!parse_write(optarg, &a->writes[a->nr_writes++]))
				return usage_error("migrate", "bad --write '%s' (REGION:OFF=VAL[/W])",
						   optarg);
			break;
		case 'W':
			if (!parse_u64(optarg, &a->warmup_ms) || a->warmup_ms > 3600000)
				return usage_error("migrate", "bad --warmup '%s'", optarg);
			break;
		case 'd':
			if (!parse_u64(optarg, &v) || !v || v > 3600000)
				return usage_error("migrate", "bad --max-downtime '%s'", optarg);
			a->opts.max_downtime_ms = (uint32_t)v;
			break;
		case 'P':
			a->opts.no_precopy = true;
			break;
		case 'r':
			if (!parse_u64(optarg, &v) || !v || v > UVFIO_MIGRATE_MAX_ROUNDS)
				return usage_error("migrate", "--max-rounds must be 1..%d",
						   UVFIO_MIGRATE_MAX_ROUNDS);
			a->opts.max_rounds = (uint32_t)v;
			break;
		case 'v':
			a->verify = true;
			break;
		case 'j':
			a->json = true;
			break;
		case 't':
			if (!parse_u64(optarg, &v) || !v || v > 3600000)
				return usage_error("migrate", "bad --msg-timeout '%s'", optarg);
			a->msg_timeout_ms = (int)v;
			break;
		case 'l':
			if (!set_log_level(optarg))
				return usage_error("migrate", "bad --log level '%s'", optarg);
			break;
		default:
			return usage_error("migrate", "bad option");
		}
	}
	if (argc - optind != 2)
		return usage_error("migrate", "expected SRC DST");
	a->src_url = argv[optind];
	a->dst_url = argv[optind + 1];
	if (check_url("migrate", a->src_url) || check_url("migrate", a->dst_url))
		return EXIT_USAGE;
	/* One device cannot be its own destination: the second open would wait for ever
	 * behind the first (a vfio-user server serves one client at a time). */
	if (same_device(a->src_url, a->dst_url))
		return usage_error("migrate", "SRC and DST are the same device '%s'", a->src_url);
	for (unsigned i = 0; i < a->nr_mem; i++)
		for (unsigned j = 0; j < i; j++)
			if (a->mem[i].iova < a->mem[j].iova + a->mem[j].length &&
			    a->mem[j].iova < a->mem[i].iova + a->mem[i].length)
				return usage_error("migrate", "--mem ranges overlap");
	return 0;
}

static const char *human(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	unsigned u = 0;

	while (v >= 1024 && u < 4) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, u ? "%.1f %s" : "%.0f %s", v, units[u]);
	return buf;
}

static int print_progress(const struct uvfio_migrate_progress *p, void *opaque)
{
	char a[24], b[24], c[24], d[24];

	(void)opaque;
	if (p->phase != UVFIO_MIGRATE_PRECOPY)
		return 0;
	fprintf(stderr, "round %u: %s device data + %s memory, %s/s, %s left, stop-copy "
			"estimate %llu ms\n", p->round, human(p->device_bytes, a, sizeof(a)),
		human(p->memory_bytes, b, sizeof(b)), human(p->rate, c, sizeof(c)),
		human(p->remaining_bytes, d, sizeof(d)), (unsigned long long)p->estimate_ms);
	return 0;
}

static int open_device(const char *cmd, const char *url, struct uvfio_handle **h)
{
	return open_url(cmd, url, h) ? -EINVAL : 0;
}

/* As a VMM's firmware would: BAR addresses, decoding, and bus mastering when there is guest
 * memory to DMA to. The destination's config space is overwritten by the migrated one anyway. */
static int pci_setup(struct uvfio_handle *h, bool master)
{
	int ret = uvfio_pci_setup(h, master ? UVFIO_PCI_SETUP_MASTER : 0);

	return ret < 0 ? ret : 0;
}

static int setup(struct migrate_args *a, struct uvfio_handle *h[2], struct uvfio_ioas *ioas[2])
{
	const char *urls[2] = { a->src_url, a->dst_url };
	int ret;

	for (int s = 0; s < 2; s++) {
		ret = open_device("migrate", urls[s], &h[s]);
		if (ret < 0)
			return ret;
		if (a->msg_timeout_ms)
			uvfio_set_msg_timeout(h[s], a->msg_timeout_ms);
		ret = uvfio_ioas_new(&ioas[s]);
		for (unsigned i = 0; i < a->nr_mem && ret == 0; i++) {
			void *mem;

			ret = uvfio_ioas_map_alloc(ioas[s], a->mem[i].iova, (size_t)a->mem[i].length,
						   UVFIO_IOAS_READ | UVFIO_IOAS_WRITE, &mem);
		}
		if (ret == 0)
			ret = uvfio_ioas_attach(ioas[s], h[s]);
		if (ret == 0)
			ret = pci_setup(h[s], a->nr_mem > 0);
		if (ret < 0) {
			fprintf(stderr, "uvfio migrate: %s: cannot set up memory: %s\n", urls[s],
				strerror(-ret));
			return ret;
		}
	}
	for (unsigned i = 0; i < a->nr_writes; i++) {
		const struct reg_write *w = &a->writes[i];
		ssize_t n = uvfio_region_write(h[0], w->region, w->offset, &w->value, w->width);

		if (n < 0) {
			fprintf(stderr, "uvfio migrate: --write region %u offset 0x%llx: %s\n",
				w->region, (unsigned long long)w->offset, strerror((int)-n));
			return (int)n;
		}
	}
	if (a->warmup_ms) {
		struct timespec ts = { (time_t)(a->warmup_ms / 1000),
				       (long)(a->warmup_ms % 1000) * 1000000 };

		while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
			;
	}
	return 0;
}

struct growbuf {
	uint8_t *p;
	size_t len, cap;
};

static int grow_write(void *opaque, const void *buf, size_t len)
{
	struct growbuf *g = opaque;

	if (g->len + len > g->cap) {
		size_t cap = g->cap ? g->cap : 1u << 20;
		uint8_t *p;

		while (cap < g->len + len)
			cap *= 2;
		p = realloc(g->p, cap);
		if (!p)
			return -ENOMEM;
		g->p = p;
		g->cap = cap;
	}
	memcpy(g->p + g->len, buf, len);
	g->len += len;
	return 0;
}

/* Both stopped devices saved again: equal streams mean equal device state (registers,
 * buffers, config space: whatever the driver migrates). */
static int compare_state(struct uvfio_handle *h[2], struct verify_result *v)
{
	struct growbuf g[2] = { { 0 } };
	int64_t n[2];
	int ret = 0;

	for (int s = 0; s < 2 && ret == 0; s++) {
		n[s] = uvfio_migrate_save(h[s], grow_write, &g[s]);
		if (n[s] < 0)
			ret = (int)n[s];
	}
	if (ret == 0) {
		size_t i = 0;

		while (i < g[0].len && i < g[1].len && g[0].p[i] == g[1].p[i])
			i++;
		v->state = g[0].len == g[1].len && i == g[0].len;
		if (!v->state)
			snprintf(v->detail, sizeof(v->detail), "device state streams differ at byte "
				 "%zu (%zu and %zu bytes)", i, g[0].len, g[1].len);
	}
	free(g[0].p);
	free(g[1].p);
	return ret;
}

static void compare_bar0(struct uvfio_handle *h[2], struct verify_result *v)
{
	struct uvfio_region_info ri;
	uint64_t size;

	v->bar0 = true;
	if (uvfio_get_region_info(h[0], UVFIO_PCI_BAR0_REGION, &ri) < 0 || !ri.size)
		return;
	size = ri.size < VERIFY_BAR0_BYTES ? ri.size : VERIFY_BAR0_BYTES;
	for (uint64_t off = 0; off + 4 <= size; off += 4) {
		uint32_t x[2] = { 0, 0 };
		ssize_t r[2];

		for (int s = 0; s < 2; s++)
			r[s] = uvfio_region_read(h[s], UVFIO_PCI_BAR0_REGION, off, &x[s], 4);
		if (r[0] != r[1] || x[0] != x[1]) {
			v->bar0 = false;
			snprintf(v->detail, sizeof(v->detail), "BAR0 0x%llx: 0x%08x vs 0x%08x",
				 (unsigned long long)off, x[0], x[1]);
			return;
		}
	}
}

static int verify(struct migrate_args *a, struct uvfio_handle *h[2], struct uvfio_ioas *ioas[2],
		  struct verify_result *v)
{
	v->done = true;
	v->memory = true;
	for (unsigned i = 0; i < a->nr_mem && v->memory; i++) {
		const uint8_t *p = uvfio_ioas_translate(ioas[0], a->mem[i].iova, a->mem[i].length);
		const uint8_t *q = uvfio_ioas_translate(ioas[1], a->mem[i].iova, a->mem[i].length);

		for (uint64_t off = 0; off < a->mem[i].length; off += 4096)
			if (memcmp(p + off, q + off, 4096)) {
				v->memory = false;
				snprintf(v->detail, sizeof(v->detail), "memory differs in the page "
					 "at IOVA 0x%llx", (unsigned long long)(a->mem[i].iova + off));
				break;
			}
	}
	compare_bar0(h, v);
	return compare_state(h, v);
}

static json_object *stats_json(const struct uvfio_migrate_stats *st, const struct verify_result *v)
{
	json_object *o = json_object_new_object(), *rounds = json_object_new_array();

	json_object_object_add(o, "rounds", json_object_new_int64(st->rounds));
	json_object_object_add(o, "precopy", json_object_new_boolean(st->precopy));
	json_object_object_add(o, "converged", json_object_new_boolean(st->converged));
	json_object_object_add(o, "dirty_logging", json_object_new_boolean(st->dirty_logging));
	json_object_object_add(o, "page_size", json_object_new_int64((int64_t)st->page_size));
	json_object_object_add(o, "device_bytes", json_object_new_int64((int64_t)st->device_bytes));
	json_object_object_add(o, "precopy_device_bytes",
			       json_object_new_int64((int64_t)st->precopy_device_bytes));
	json_object_object_add(o, "memory_bytes", json_object_new_int64((int64_t)st->memory_bytes));
	json_object_object_add(o, "stopcopy_memory_bytes",
			       json_object_new_int64((int64_t)st->stopcopy_memory_bytes));
	json_object_object_add(o, "total_ns", json_object_new_int64((int64_t)st->total_ns));
	json_object_object_add(o, "downtime_ns", json_object_new_int64((int64_t)st->downtime_ns));
	json_object_object_add(o, "budget_ms", json_object_new_int64((int64_t)st->budget_ms));
	json_object_object_add(o, "estimate_ms", json_object_new_int64((int64_t)st->estimate_ms));
	json_object_object_add(o, "src_state",
			       json_object_new_string(uvfio_mig_state_name(st->src_state)));
	json_object_object_add(o, "dst_state",
			       json_object_new_string(uvfio_mig_state_name(st->dst_state)));
	for (uint32_t i = 0; i < st->rounds && i < UVFIO_MIGRATE_MAX_ROUNDS; i++) {
		const struct uvfio_migrate_round *r = &st->round[i];
		json_object *j = json_object_new_object();

		json_object_object_add(j, "device_bytes", json_object_new_int64((int64_t)r->device_bytes));
		json_object_object_add(j, "dirty_pages", json_object_new_int64((int64_t)r->dirty_pages));
		json_object_object_add(j, "memory_bytes", json_object_new_int64((int64_t)r->memory_bytes));
		json_object_object_add(j, "duration_ns", json_object_new_int64((int64_t)r->duration_ns));
		json_object_object_add(j, "remaining_bytes",
				       json_object_new_int64((int64_t)r->remaining_bytes));
		json_object_object_add(j, "estimate_ms", json_object_new_int64((int64_t)r->estimate_ms));
		json_object_array_add(rounds, j);
	}
	json_object_object_add(o, "round", rounds);
	if (v->done) {
		json_object *j = json_object_new_object();

		json_object_object_add(j, "memory", json_object_new_boolean(v->memory));
		json_object_object_add(j, "bar0", json_object_new_boolean(v->bar0));
		json_object_object_add(j, "device_state", json_object_new_boolean(v->state));
		if (v->detail[0])
			json_object_object_add(j, "detail", json_object_new_string(v->detail));
		json_object_object_add(o, "verify", j);
	}
	return o;
}

static void print_text(const struct migrate_args *a, const struct uvfio_migrate_stats *st,
		       const struct verify_result *v)
{
	char x[24], y[24], z[24], w[24];

	printf("migrated %s -> %s in %.3f s\n", a->src_url, a->dst_url, (double)st->total_ns / 1e9);
	printf("  rounds %u (pre-copy %s, %s)", st->rounds, st->precopy ? "on" : "off",
	       st->converged ? "converged" : "did not converge");
	if (st->dirty_logging)
		printf(", dirty pages of %llu bytes\n", (unsigned long long)st->page_size);
	else
		printf(", no dirty logging\n");
	printf("  downtime %.3f ms (budget %llu ms, estimate %llu ms)%s\n",
	       (double)st->downtime_ns / 1e6, (unsigned long long)st->budget_ms,
	       (unsigned long long)st->estimate_ms,
	       st->downtime_ns > st->budget_ms * 1000000ull ? ": OVER BUDGET" : "");
	printf("  device data %s (%s before the stop), memory %s (%s during the downtime)\n",
	       human(st->device_bytes, x, sizeof(x)), human(st->precopy_device_bytes, y, sizeof(y)),
	       human(st->memory_bytes, z, sizeof(z)), human(st->stopcopy_memory_bytes, w, sizeof(w)));
	if (v->done)
		printf("  verify: memory %s, BAR0 %s, device state %s%s%s\n",
		       v->memory ? "identical" : "DIFFERS", v->bar0 ? "identical" : "DIFFERS",
		       v->state ? "identical" : "DIFFERS", v->detail[0] ? ": " : "", v->detail);
}

int cmd_migrate(int argc, char **argv)
{
	static struct migrate_args a;
	struct uvfio_migrate_stats *st = calloc(1, sizeof(*st));
	struct uvfio_handle *h[2] = { NULL, NULL };
	struct uvfio_ioas *ioas[2] = { NULL, NULL };
	struct verify_result v = { 0 };
	int ret, code = EXIT_FAILED;

	memset(&a, 0, sizeof(a));
	ret = parse_migrate(argc, argv, &a);
	if (ret != 0 || !st) {
		free(st);
		return ret < 0 ? EXIT_OK : !st ? EXIT_FAILED : ret;
	}
	a.opts.ranges = a.mem;
	a.opts.nr_ranges = a.nr_mem;
	a.opts.final_state = a.verify ? UVFIO_MIG_STATE_STOP : UVFIO_MIG_STATE_RUNNING;
	if (isatty(STDERR_FILENO) && !a.json)
		a.opts.progress = print_progress;
	ret = setup(&a, h, ioas);
	if (ret == 0) {
		ret = uvfio_migrate(h[0], ioas[0], h[1], ioas[1], &a.opts, st);
		if (ret < 0) {
			fprintf(stderr, "uvfio migrate: %s (%s); the source is %s\n",
				uvfio_migrate_strerror(ret), strerror(-ret),
				uvfio_mig_state_name(st->src_state));
			/* What a refusing server said, if it said anything. */
			for (int s = 0; s < 2; s++)
				if (*uvfio_last_error(h[s]))
					fprintf(stderr, "uvfio migrate: the %s refused: %s\n",
						s ? "destination" : "source", uvfio_last_error(h[s]));
		}
	}
	if (ret == 0 && a.verify) {
		ret = verify(&a, h, ioas, &v);
		if (ret == 0)
			ret = uvfio_mig_set_state(h[1], UVFIO_MIG_STATE_RUNNING, NULL);
		if (ret < 0)
			fprintf(stderr, "uvfio migrate: --verify: %s\n", strerror(-ret));
	}
	if (ret == 0)
		code = a.verify && !(v.memory && v.bar0 && v.state) ? EXIT_MISMATCH : EXIT_OK;
	if (a.json) {
		json_object *o = stats_json(st, &v);

		json_object_object_add(o, "ok", json_object_new_boolean(code == EXIT_OK));
		if (ret < 0) {
			json_object_object_add(o, "error",
					       json_object_new_string(uvfio_migrate_strerror(ret)));
			json_object_object_add(o, "errno", json_object_new_int(-ret));
		}
		printf("%s\n", json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN));
		json_object_put(o);
	} else if (ret == 0) {
		print_text(&a, st, &v);
	}
	for (int s = 0; s < 2; s++) {
		/* The device stops its DMA before its memory goes (the server would reset it
		 * at the disconnect anyway). */
		if (h[s] && ioas[s])
			uvfio_reset(h[s]);
		if (ioas[s])
			uvfio_ioas_free(ioas[s]);
		if (h[s])
			uvfio_close(h[s]);
	}
	free(st);
	return code;
}
