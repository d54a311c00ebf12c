/* SPDX-License-Identifier: MIT */
/*
 * uvfio_migrate(): a VMM's migration loop over two client handles (include/uvfio/migrate.h).
 *
 * Guest memory lives in the caller's two IOAS objects, so "copying a page" is a memcpy between
 * the two mappings; the source's DMA log says which pages to copy again. A page is copied after
 * its dirty bit was read and cleared, so a write the device makes while we copy sets the bit
 * again and the page goes in the next round (or in the stop-copy, after the source is quiesced).
 *
 * One rule for every failure: the source goes back to the state it started in and its logging
 * stops; the destination is left where it failed (a VMM discards it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/migrate_priv.h"
#include "util/log.h"

#define MIG_PAGE 4096u

struct mig_range {
	uint64_t iova, len;
	const uint8_t *src;
	uint8_t *dst;
	uint64_t nbits;
	size_t words;
	uint64_t *pending; /* pages to copy: reports OR'ed in, cleared once copied */
	uint64_t *report; /* one report */
};

struct mig_ctx {
	struct uvfio_handle *src, *dst;
	struct uvfio_migrate_opts o; /* defaults applied */
	struct uvfio_migrate_stats *st;
	uint32_t src_flags, dst_flags;
	uint32_t src_start, dst_start;
	bool src_moved; /* the source left src_start: walk it back on failure */
	bool logging;
	bool precopy_on; /* the source is in PRE_COPY */
	uint64_t page_size;
	struct mig_range *ranges;
	uint32_t nr_ranges;
	uint8_t *buf;
	struct mig_meter dev_meter, mem_meter; /* the whole run */
	struct mig_meter mem_last; /* the last copy: the first one also faults the pages in */
	uint64_t arc_ns; /* one state change, measured on the destination */
	uint64_t report_ns; /* the last round of dirty reports */
	uint64_t t0;
	struct mig_plan plan;
};

static bool ranges_overlap(const struct uvfio_dirty_range *a, const struct uvfio_dirty_range *b)
{
	return a->iova < b->iova + b->length && b->iova < a->iova + a->length;
}

/* Options with defaults applied; -EINVAL for anything a device is not asked about. */
static int check_opts(struct mig_ctx *c, struct uvfio_ioas *src_ioas,
		      struct uvfio_ioas *dst_ioas, const struct uvfio_migrate_opts *opts)
{
	if (opts)
		c->o = *opts;
	if (c->o.nr_ranges && (!c->o.ranges || !src_ioas || !dst_ioas))
		return -EINVAL;
	if (c->o.max_rounds > UVFIO_MIGRATE_MAX_ROUNDS || c->o.chunk_size > MIG_MAX_CHUNK)
		return -EINVAL;
	if (c->o.final_state != 0 && c->o.final_state != UVFIO_MIG_STATE_RUNNING &&
	    c->o.final_state != UVFIO_MIG_STATE_STOP)
		return -EINVAL;
	c->o.max_downtime_ms = c->o.max_downtime_ms ? c->o.max_downtime_ms : MIG_DEFAULT_BUDGET_MS;
	c->o.max_rounds = c->o.max_rounds ? c->o.max_rounds : MIG_DEFAULT_ROUNDS;
	c->o.chunk_size = c->o.chunk_size ? c->o.chunk_size : MIG_DEFAULT_CHUNK;
	c->o.final_state = c->o.final_state ? c->o.final_state : UVFIO_MIG_STATE_RUNNING;
	for (uint32_t i = 0; i < c->o.nr_ranges; i++) {
		const struct uvfio_dirty_range *r = &c->o.ranges[i];

		if (!r->length || r->iova % MIG_PAGE || r->length % MIG_PAGE ||
		    r->iova + r->length < r->iova || r->length > SIZE_MAX) {
			log_err("migrate: range %u [0x%llx, +0x%llx) is empty or not page aligned", i,
				(unsigned long long)r->iova, (unsigned long long)r->length);
			return -EINVAL;
		}
		if (!uvfio_ioas_translate(src_ioas, r->iova, (size_t)r->length) ||
		    !uvfio_ioas_translate(dst_ioas, r->iova, (size_t)r->length)) {
			log_err("migrate: range %u [0x%llx, +0x%llx) is not inside one mapping of "
				"both IOAS", i, (unsigned long long)r->iova,
				(unsigned long long)r->length);
			return -EINVAL;
		}
		for (uint32_t j = 0; j < i; j++)
			if (ranges_overlap(r, &c->o.ranges[j])) {
				log_err("migrate: ranges %u and %u overlap", j, i);
				return -EINVAL;
			}
	}
	return 0;
}

/* The memory of each range on both sides; bitmaps come once the page size is known. */
static int setup_ranges(struct mig_ctx *c, struct uvfio_ioas *src_ioas,
			struct uvfio_ioas *dst_ioas)
{
	c->nr_ranges = c->o.nr_ranges;
	if (!c->nr_ranges)
		return 0;
	c->ranges = calloc(c->nr_ranges, sizeof(*c->ranges));
	if (!c->ranges)
		return -ENOMEM;
	for (uint32_t i = 0; i < c->nr_ranges; i++) {
		struct mig_range *r = &c->ranges[i];

		r->iova = c->o.ranges[i].iova;
		r->len = c->o.ranges[i].length;
		r->src = uvfio_ioas_translate(src_ioas, r->iova, (size_t)r->len);
		r->dst = uvfio_ioas_translate(dst_ioas, r->iova, (size_t)r->len);
	}
	return 0;
}

static int alloc_bitmaps(struct mig_ctx *c)
{
	for (uint32_t i = 0; i < c->nr_ranges; i++) {
		struct mig_range *r = &c->ranges[i];

		r->nbits = r->len / c->page_size;
		r->words = mig_bitmap_words(r->nbits);
		r->pending = calloc(r->words, sizeof(uint64_t));
		r->report = calloc(r->words, sizeof(uint64_t));
		if (!r->pending || !r->report)
			return -ENOMEM;
	}
	return 0;
}

static void free_ctx(struct mig_ctx *c)
{
	for (uint32_t i = 0; c->ranges && i < c->nr_ranges; i++) {
		free(c->ranges[i].pending);
		free(c->ranges[i].report);
	}
	free(c->ranges);
	free(c->buf);
}

static int read_flags(struct uvfio_handle *h, const char *who, uint32_t *flags)
{
	int ret = uvfio_mig_get_flags(h, flags);

	if (ret < 0) {
		log_err("migrate: %s: cannot read migration flags: %s", who, strerror(-ret));
		return ret;
	}
	if (!uvfio_mig_flags_valid(*flags) || !(*flags & UVFIO_MIGRATION_STOP_COPY)) {
		log_err("migrate: %s: migration flags 0x%x are no defined combination", who, *flags);
		return -EPROTO;
	}
	return 0;
}

/* Both devices migrate and can start; the destination goes to RESUMING. */
static int prepare(struct mig_ctx *c)
{
	struct uvfio_mig_path path = { 0 };
	uint64_t t;
	int ret;

	ret = read_flags(c->src, "source", &c->src_flags);
	if (ret == 0)
		ret = read_flags(c->dst, "destination", &c->dst_flags);
	if (ret == 0)
		ret = mig_startable_state(c->src, &c->src_start);
	if (ret == 0)
		ret = mig_startable_state(c->dst, &c->dst_start);
	if (ret < 0)
		return ret;
	t = mig_now_ns();
	ret = uvfio_mig_set_state(c->dst, UVFIO_MIG_STATE_RESUMING, &path);
	if (ret < 0) {
		log_err("migrate: destination: cannot enter RESUMING: %s", strerror(-ret));
		return ret;
	}
	/* The stop-copy walks a few arcs on each side; this is what one costs here. */
	c->arc_ns = (mig_now_ns() - t) / (path.nr_arcs ? path.nr_arcs : 1);
	return 0;
}

/* Logging over the ranges, if the source can; without it all memory moves in the downtime. */
static int start_logging(struct mig_ctx *c)
{
	uint64_t ps = MIG_PAGE;
	int ret;

	if (!c->nr_ranges || c->src_start != UVFIO_MIG_STATE_RUNNING)
		return 0;
	ret = uvfio_dirty_start(c->src, c->o.ranges, c->o.nr_ranges, &ps);
	if (ret == -ENOTTY || ret == -ENOTSUP) {
		log_info("migrate: the source does not log DMA: memory moves during the downtime");
		return 0;
	}
	if (ret < 0) {
		log_err("migrate: source: cannot start DMA logging: %s", strerror(-ret));
		return ret;
	}
	c->logging = true;
	for (uint32_t i = 0; i < c->nr_ranges; i++) {
		/* A page size that does not divide the ranges cannot be reported exactly. */
		if (!ps || ps % MIG_PAGE || c->ranges[i].iova % ps || c->ranges[i].len % ps) {
			log_warn("migrate: dirty page size %llu does not fit the ranges: memory "
				 "moves during the downtime", (unsigned long long)ps);
			uvfio_dirty_stop(c->src);
			c->logging = false;
			return 0;
		}
	}
	c->page_size = ps;
	return alloc_bitmaps(c);
}

static void count_memory(struct mig_ctx *c, uint64_t bytes, uint64_t ns)
{
	c->st->memory_bytes += bytes;
	if (!bytes)
		return;
	mig_meter_add(&c->mem_meter, bytes, ns);
	c->mem_last = (struct mig_meter){ bytes, ns };
}

static void copy_all_memory(struct mig_ctx *c, struct uvfio_migrate_round *rd)
{
	uint64_t t = mig_now_ns(), bytes = 0;

	for (uint32_t i = 0; i < c->nr_ranges; i++) {
		memcpy(c->ranges[i].dst, c->ranges[i].src, (size_t)c->ranges[i].len);
		bytes += c->ranges[i].len;
		rd->dirty_pages += c->page_size ? c->ranges[i].len / c->page_size
						: c->ranges[i].len / MIG_PAGE;
	}
	rd->memory_bytes += bytes;
	count_memory(c, bytes, mig_now_ns() - t);
}

/* The pages found dirty so far, then they are clean. */
static void copy_pending(struct mig_ctx *c, struct uvfio_migrate_round *rd)
{
	uint64_t t = mig_now_ns(), bytes = 0;

	for (uint32_t i = 0; i < c->nr_ranges; i++) {
		struct mig_range *r = &c->ranges[i];
		uint64_t pos = 0, start, n;

		while (mig_bitmap_next_run(r->pending, r->nbits, pos, &start, &n)) {
			uint64_t off = start * c->page_size, len = n * c->page_size;

			memcpy(r->dst + off, r->src + off, (size_t)len);
			bytes += len;
			rd->dirty_pages += n;
			pos = start + n;
		}
		memset(r->pending, 0, r->words * sizeof(uint64_t));
	}
	rd->memory_bytes += bytes;
	count_memory(c, bytes, mig_now_ns() - t);
}

/* Reads (and clears) the source's log into the pending bitmaps. */
static int harvest(struct mig_ctx *c)
{
	uint64_t t = mig_now_ns();

	for (uint32_t i = 0; i < c->nr_ranges; i++) {
		struct mig_range *r = &c->ranges[i];
		int ret;

		memset(r->report, 0, r->words * sizeof(uint64_t));
		ret = uvfio_dirty_report(c->src, r->iova, r->len, c->page_size, r->report);
		if (ret < 0) {
			log_err("migrate: source: dirty report of [0x%llx, +0x%llx): %s",
				(unsigned long long)r->iova, (unsigned long long)r->len,
				strerror(-ret));
			return ret;
		}
		mig_bitmap_or(r->pending, r->report, r->words);
	}
	c->report_ns = mig_now_ns() - t;
	return 0;
}

static uint64_t pending_bytes(const struct mig_ctx *c)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < c->nr_ranges; i++)
		n += mig_bitmap_count(c->ranges[i].pending, c->ranges[i].nbits) * c->page_size;
	return n;
}

static uint64_t all_memory_bytes(const struct mig_ctx *c)
{
	uint64_t n = 0;

	for (uint32_t i = 0; i < c->nr_ranges; i++)
		n += c->ranges[i].len;
	return n;
}

/* Stream bytes from the source's session to the destination's, until the source has no more
 * (for now, in PRE_COPY) or limit bytes moved. */
static int move_device(struct mig_ctx *c, uint64_t limit, uint64_t *moved)
{
	uint64_t t = mig_now_ns(), total = 0;
	int ret = 0;

	while (total < limit) {
		size_t want = c->o.chunk_size;
		ssize_t n;

		if (limit - total < want)
			want = (size_t)(limit - total);
		n = uvfio_mig_read(c->src, c->buf, want);
		if (n == -ENOMSG && c->precopy_on)
			n = 0; /* the kernel's "no more data for now" */
		if (n < 0) {
			log_err("migrate: source: reading device data: %s", strerror((int)-n));
			ret = (int)n;
			break;
		}
		if (n == 0)
			break;
		if ((size_t)n > want) {
			ret = -EPROTO;
			break;
		}
		ret = mig_write_all(c->dst, c->buf, (size_t)n);
		if (ret < 0) {
			log_err("migrate: destination: writing device data: %s", strerror(-ret));
			break;
		}
		total += (uint64_t)n;
	}
	*moved += total;
	c->st->device_bytes += total;
	if (total)
		mig_meter_add(&c->dev_meter, total, mig_now_ns() - t);
	return ret;
}

/* What the source would still save in STOP_COPY. Unknown counts as 0 (logged once). */
static uint64_t device_remaining(struct mig_ctx *c)
{
	uint64_t size = 0, initial = 0, dirty = 0;

	if (uvfio_mig_data_size(c->src, &size) == 0)
		return size;
	if (c->precopy_on && uvfio_mig_precopy_info(c->src, &initial, &dirty) == 0)
		return initial + dirty;
	return 0;
}

/* How much one pre-copy round reads at most: what the device had at the round's start, so a
 * device that keeps producing data cannot hold a round forever. */
static uint64_t precopy_limit(struct mig_ctx *c)
{
	uint64_t initial = 0, dirty = 0;

	if (uvfio_mig_precopy_info(c->src, &initial, &dirty) < 0)
		return UINT64_MAX;
	return initial + dirty + c->o.chunk_size;
}

/* Arcs from -> to with these flags (0 if the walker refuses). */
static unsigned count_arcs(uint32_t flags, uint32_t from, uint32_t to)
{
	unsigned n = 0;
	uint32_t next;

	while (from != to && n < UVFIO_MIG_MAX_ARCS &&
	       uvfio_mig_next_state(flags, from, to, &next) == 0) {
		from = next;
		n++;
	}
	return n;
}

/* The destination's load rate: a copy of the stream into device memory the driver faulted in
 * on entering RESUMING, so about the rate of the last memory copy here (same machine, same
 * load; the first copy also faults pages in and errs on the long side), never more than the
 * guess (a load also checks what it copies). */
static uint64_t load_rate(const struct mig_ctx *c)
{
	uint64_t r = mig_meter_rate(&c->mem_last, MIG_GUESS_LOAD_RATE);

	return r < MIG_GUESS_LOAD_RATE ? r : MIG_GUESS_LOAD_RATE;
}

static uint64_t estimate_ms(struct mig_ctx *c, uint64_t dev_bytes, uint64_t mem_bytes)
{
	uint32_t from = c->precopy_on ? UVFIO_MIG_STATE_PRE_COPY : c->src_start;
	unsigned arcs = count_arcs(c->src_flags, from, UVFIO_MIG_STATE_STOP_COPY) + 1 +
			count_arcs(c->dst_flags, UVFIO_MIG_STATE_RESUMING, c->o.final_state);
	struct mig_estimate_in in = {
		.device_bytes = dev_bytes,
		.device_rate = mig_meter_rate(&c->dev_meter, MIG_GUESS_DEVICE_RATE),
		.memory_bytes = mem_bytes,
		.memory_rate = mig_meter_rate(&c->mem_last, mig_meter_rate(&c->mem_meter,
									  MIG_GUESS_MEMORY_RATE)),
		/* The destination checks and loads the whole stream when it leaves RESUMING: a
		 * copy of it, at about the rate memory copies went here, under the same load. */
		.load_bytes = c->st->device_bytes + dev_bytes,
		.load_rate = load_rate(c),
		.fixed_ns = c->arc_ns * arcs + c->report_ns,
	};

	return mig_ns_to_ms(mig_estimate_ns(&in));
}

static int progress(struct mig_ctx *c, enum uvfio_migrate_phase phase, uint32_t round,
		    uint64_t remaining, uint64_t est_ms)
{
	uint64_t elapsed = mig_now_ns() - c->t0;
	uint64_t moved = c->st->device_bytes + c->st->memory_bytes;
	struct uvfio_migrate_progress p = {
		.phase = phase,
		.round = round,
		.device_bytes = c->st->device_bytes,
		.memory_bytes = c->st->memory_bytes,
		.rate = elapsed ? (uint64_t)((unsigned __int128)moved * 1000000000u / elapsed) : 0,
		.remaining_bytes = remaining,
		.estimate_ms = est_ms,
	};
	int ret;

	if (!c->o.progress)
		return 0;
	ret = c->o.progress(&p, c->o.opaque);
	if (ret == 0)
		return 0;
	log_info("migrate: cancelled by the progress callback (%d)", ret);
	return ret < 0 ? ret : -ECANCELED;
}

/* One round: copy what is dirty, stream what the device has, read the log again. */
static int one_round(struct mig_ctx *c, struct uvfio_migrate_round *rd)
{
	uint64_t t = mig_now_ns();
	int ret = 0;

	if (c->logging && c->plan.rounds == 0)
		copy_all_memory(c, rd);
	else if (c->logging)
		copy_pending(c, rd);
	if (c->precopy_on)
		ret = move_device(c, precopy_limit(c), &rd->device_bytes);
	if (ret == 0 && c->logging)
		ret = harvest(c);
	rd->duration_ns = mig_now_ns() - t;
	return ret;
}

static int run_rounds(struct mig_ctx *c)
{
	enum mig_next next = MIG_NEXT_ROUND;
	int ret;

	if (c->src_start != UVFIO_MIG_STATE_RUNNING || (!c->logging && !c->precopy_on))
		return 0; /* nothing a round could move ahead of the downtime */
	while (next == MIG_NEXT_ROUND) {
		struct uvfio_migrate_round rd = { 0 };
		uint64_t dev_rem, mem_rem;

		ret = one_round(c, &rd);
		if (ret < 0)
			return ret;
		dev_rem = device_remaining(c);
		mem_rem = c->logging ? pending_bytes(c) : all_memory_bytes(c);
		rd.remaining_bytes = dev_rem + mem_rem;
		rd.estimate_ms = estimate_ms(c, dev_rem, mem_rem);
		c->st->precopy_device_bytes += rd.device_bytes;
		next = mig_plan_round(&c->plan, rd.estimate_ms, true);
		c->st->rounds = c->plan.rounds;
		c->st->estimate_ms = rd.estimate_ms;
		if (c->plan.rounds <= UVFIO_MIGRATE_MAX_ROUNDS)
			c->st->round[c->plan.rounds - 1] = rd;
		log_debug("migrate: round %u: %llu device + %llu memory bytes in %llu us, %llu "
			  "left, estimate %llu ms", c->plan.rounds,
			  (unsigned long long)rd.device_bytes, (unsigned long long)rd.memory_bytes,
			  (unsigned long long)(rd.duration_ns / 1000),
			  (unsigned long long)rd.remaining_bytes, (unsigned long long)rd.estimate_ms);
		ret = progress(c, UVFIO_MIGRATE_PRECOPY, c->plan.rounds, rd.remaining_bytes,
			       rd.estimate_ms);
		if (ret < 0)
			return ret;
	}
	c->st->converged = next == MIG_NEXT_CONVERGED;
	return 0;
}

static int set_state(struct uvfio_handle *h, const char *who, uint32_t state)
{
	int ret = uvfio_mig_set_state(h, state, NULL);

	if (ret < 0)
		log_err("migrate: %s: cannot enter %s: %s", who, uvfio_mig_state_name(state),
			strerror(-ret));
	return ret;
}

/* The downtime: source stopped, the rest of memory and device data moved, destination up. */
static int stop_copy(struct mig_ctx *c)
{
	struct uvfio_migrate_round rd = { 0 };
	uint64_t t = mig_now_ns(), mem_before = c->st->memory_bytes, t_stopped, t_mem, t_dev;
	int ret;

	ret = set_state(c->src, "source", UVFIO_MIG_STATE_STOP_COPY);
	if (ret < 0)
		return ret;
	t_stopped = mig_now_ns();
	c->precopy_on = false;
	/* DMA is quiesced now: the last report is complete. */
	if (c->logging) {
		ret = harvest(c);
		if (ret < 0)
			return ret;
		copy_pending(c, &rd);
	} else {
		copy_all_memory(c, &rd);
	}
	c->st->stopcopy_memory_bytes = c->st->memory_bytes - mem_before;
	t_mem = mig_now_ns();
	ret = move_device(c, UINT64_MAX, &rd.device_bytes);
	if (ret == 0)
		ret = set_state(c->src, "source", UVFIO_MIG_STATE_STOP);
	t_dev = mig_now_ns();
	if (ret < 0)
		return ret;
	/* RESUMING -> STOP is where the destination checks and loads the stream. */
	ret = set_state(c->dst, "destination", UVFIO_MIG_STATE_STOP);
	if (ret == 0 && c->o.final_state != UVFIO_MIG_STATE_STOP)
		ret = set_state(c->dst, "destination", c->o.final_state);
	c->st->downtime_ns = mig_now_ns() - t;
	if (ret == 0 && c->st->downtime_ns > c->o.max_downtime_ms * 1000000ull)
		log_warn("migrate: downtime %.1f ms is over the %u ms budget (estimate %llu ms)",
			 (double)c->st->downtime_ns / 1e6, c->o.max_downtime_ms,
			 (unsigned long long)c->st->estimate_ms);
	log_debug("migrate: downtime %llu us: source stopped %llu us, memory %llu us, device "
		  "data %llu us, destination up %llu us", (unsigned long long)(c->st->downtime_ns / 1000),
		  (unsigned long long)((t_stopped - t) / 1000),
		  (unsigned long long)((t_mem - t_stopped) / 1000),
		  (unsigned long long)((t_dev - t_mem) / 1000),
		  (unsigned long long)((mig_now_ns() - t_dev) / 1000));
	return ret;
}

static void undo(struct mig_ctx *c)
{
	int ret;

	if (c->src_moved) {
		ret = uvfio_mig_set_state(c->src, c->src_start, NULL);
		if (ret < 0)
			log_err("migrate: source: cannot return to %s: %s",
				uvfio_mig_state_name(c->src_start), strerror(-ret));
		else
			log_info("migrate: source back in %s", uvfio_mig_state_name(c->src_start));
	}
	if (c->logging)
		uvfio_dirty_stop(c->src);
	c->logging = false;
}

static int migrate(struct mig_ctx *c, struct uvfio_ioas *src_ioas, struct uvfio_ioas *dst_ioas)
{
	int ret = setup_ranges(c, src_ioas, dst_ioas);

	if (ret == 0)
		ret = prepare(c);
	if (ret < 0)
		return ret;
	c->buf = malloc(c->o.chunk_size);
	if (!c->buf)
		return -ENOMEM;
	ret = start_logging(c);
	if (ret < 0)
		return ret;
	c->st->dirty_logging = c->logging;
	c->st->page_size = c->logging ? c->page_size : 0;
	if (!c->o.no_precopy && c->src_start == UVFIO_MIG_STATE_RUNNING &&
	    (c->src_flags & c->dst_flags & UVFIO_MIGRATION_PRE_COPY)) {
		c->src_moved = true;
		ret = set_state(c->src, "source", UVFIO_MIG_STATE_PRE_COPY);
		if (ret < 0)
			return ret;
		c->precopy_on = true;
		c->st->precopy = true;
	}
	ret = run_rounds(c);
	if (ret < 0)
		return ret;
	ret = progress(c, UVFIO_MIGRATE_STOPCOPY, c->plan.rounds + 1,
		       device_remaining(c) + (c->logging ? pending_bytes(c) : all_memory_bytes(c)),
		       c->st->estimate_ms);
	if (ret < 0)
		return ret;
	c->src_moved = true;
	ret = stop_copy(c);
	if (ret < 0)
		return ret;
	if (c->logging)
		uvfio_dirty_stop(c->src);
	c->logging = false;
	return 0;
}

static void final_states(struct mig_ctx *c)
{
	if (uvfio_mig_get_state(c->src, &c->st->src_state) < 0)
		c->st->src_state = UVFIO_MIG_STATE_ERROR;
	if (uvfio_mig_get_state(c->dst, &c->st->dst_state) < 0)
		c->st->dst_state = UVFIO_MIG_STATE_ERROR;
}

int uvfio_migrate(struct uvfio_handle *src, struct uvfio_ioas *src_ioas, struct uvfio_handle *dst,
		  struct uvfio_ioas *dst_ioas, const struct uvfio_migrate_opts *opts,
		  struct uvfio_migrate_stats *st)
{
	struct uvfio_migrate_stats local;
	struct mig_ctx c = { .src = src, .dst = dst, .t0 = mig_now_ns() };
	int ret;

	c.st = st ? st : &local;
	memset(c.st, 0, sizeof(*c.st));
	c.st->src_state = c.st->dst_state = UVFIO_MIG_STATE_ERROR;
	if (!src || !dst || src == dst)
		return -EINVAL;
	ret = check_opts(&c, src_ioas, dst_ioas, opts);
	if (ret < 0)
		return ret;
	c.st->budget_ms = c.o.max_downtime_ms;
	mig_plan_init(&c.plan, c.o.max_rounds, c.o.max_downtime_ms);
	ret = migrate(&c, src_ioas, dst_ioas);
	if (ret < 0)
		undo(&c);
	free_ctx(&c);
	c.st->total_ns = mig_now_ns() - c.t0;
	final_states(&c);
	if (ret == 0 && c.o.progress)
		progress(&c, UVFIO_MIGRATE_DONE, c.plan.rounds + 1, 0, 0);
	if (ret < 0 && c.st->src_state != UVFIO_MIG_STATE_ERROR)
		log_err("migrate: failed: %s; the source is in %s", uvfio_migrate_strerror(ret),
			uvfio_mig_state_name(c.st->src_state));
	else if (ret < 0 && c.src_moved)
		log_err("migrate: failed: %s; the source could not be returned to %s (its state "
			"cannot be read: its connection or server failed)",
			uvfio_migrate_strerror(ret), uvfio_mig_state_name(c.src_start));
	else if (ret < 0)
		log_err("migrate: failed: %s", uvfio_migrate_strerror(ret));
	return ret;
}
