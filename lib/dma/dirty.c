/* SPDX-License-Identifier: MIT */
/*
 * Dirty page logging over IOVA ranges: one bitmap per range, bit k for the k-th log page from
 * the range's start. Marks OR bits atomically; reports take bits out with atomic exchange (or
 * fetch-and with a mask at the edges of a report), so a concurrent mark either lands before the
 * exchange and is reported now, or after it and is reported next time.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "dma/dirty.h"
#include "util/log.h"

struct log_range {
	uint64_t iova, end; /* [iova, end), end does not wrap */
	uint64_t npages;
	_Atomic uint64_t *bits;
};

struct log_state {
	uint64_t page_size;
	unsigned shift;
	uint32_t nr;
	struct log_range r[]; /* sorted by iova */
};

struct uvfio_dirty_log {
	_Atomic(struct log_state *) st;
	/* Marks and reports in flight; stop() frees only once it drops to 0 (see guard_enter). */
	atomic_uint users;
	pthread_mutex_t lock; /* serialises start/stop */
};

struct uvfio_dirty_log *uvfio_dirty_log_new(void)
{
	struct uvfio_dirty_log *log = calloc(1, sizeof(*log));

	if (!log)
		return NULL;
	atomic_init(&log->st, NULL);
	atomic_init(&log->users, 0);
	pthread_mutex_init(&log->lock, NULL);
	return log;
}

static void state_free(struct log_state *st)
{
	uint32_t i;

	if (!st)
		return;
	for (i = 0; i < st->nr; i++)
		free(st->r[i].bits);
	free(st);
}

void uvfio_dirty_log_free(struct uvfio_dirty_log *log)
{
	if (!log)
		return;
	uvfio_dirty_log_stop(log);
	pthread_mutex_destroy(&log->lock);
	free(log);
}

/*
 * Users announce themselves before loading the state pointer; stop() clears the pointer before
 * reading the count. Both sequentially consistent, so either the user sees NULL or stop() sees
 * the user and waits for it.
 */
static struct log_state *guard_enter(struct uvfio_dirty_log *log)
{
	atomic_fetch_add(&log->users, 1);
	return atomic_load(&log->st);
}

static void guard_exit(struct uvfio_dirty_log *log)
{
	atomic_fetch_sub(&log->users, 1);
}

static bool pow2_page(uint64_t ps)
{
	return ps >= 4096 && (ps & (ps - 1)) == 0;
}

static unsigned log2u64(uint64_t v)
{
	return 63u - (unsigned)__builtin_clzll(v);
}

static int cmp_range(const void *a, const void *b)
{
	const struct uvfio_dirty_range *x = a, *y = b;

	return x->iova < y->iova ? -1 : x->iova > y->iova;
}

static int validate(const struct uvfio_dirty_range *ranges, uint32_t nr, uint64_t ps,
		    struct uvfio_dirty_range *sorted)
{
	uint32_t i;

	if (nr == 0)
		return -EINVAL;
	if (nr > UVFIO_DIRTY_MAX_RANGES)
		return -E2BIG;
	if (!pow2_page(ps))
		return -EINVAL;
	for (i = 0; i < nr; i++) {
		const struct uvfio_dirty_range *r = &ranges[i];

		if (r->length == 0 || (r->iova & (ps - 1)) || (r->length & (ps - 1)))
			return -EINVAL;
		if (r->iova + r->length < r->iova)
			return -EOVERFLOW;
		sorted[i] = *r;
	}
	qsort(sorted, nr, sizeof(*sorted), cmp_range);
	for (i = 1; i < nr; i++)
		if (sorted[i].iova < sorted[i - 1].iova + sorted[i - 1].length)
			return -EINVAL;
	return 0;
}

static uint64_t pages_of(uint64_t length, unsigned shift)
{
	return (length >> shift) + ((length & ((1ull << shift) - 1)) != 0);
}

/* Bitmap bytes the ranges need at 2^shift pages (saturating). */
static uint64_t bitmap_bytes(const struct uvfio_dirty_range *r, uint32_t nr, unsigned shift)
{
	uint64_t total = 0, words;
	uint32_t i;

	for (i = 0; i < nr; i++) {
		words = (pages_of(r[i].length, shift) + 63) / 64;
		if (words > UINT64_MAX / 8 - total / 8)
			return UINT64_MAX;
		total += words * 8;
	}
	return total;
}

static struct log_state *state_new(const struct uvfio_dirty_range *sorted, uint32_t nr,
				   unsigned shift)
{
	struct log_state *st = calloc(1, sizeof(*st) + nr * sizeof(st->r[0]));
	uint32_t i;

	if (!st)
		return NULL;
	st->shift = shift;
	st->page_size = 1ull << shift;
	st->nr = nr;
	for (i = 0; i < nr; i++) {
		struct log_range *lr = &st->r[i];

		lr->iova = sorted[i].iova;
		lr->end = sorted[i].iova + sorted[i].length;
		lr->npages = pages_of(sorted[i].length, shift);
		lr->bits = calloc((size_t)((lr->npages + 63) / 64), sizeof(*lr->bits));
		if (!lr->bits) {
			state_free(st);
			return NULL;
		}
	}
	return st;
}

int uvfio_dirty_log_start(struct uvfio_dirty_log *log, const struct uvfio_dirty_range *ranges,
			  uint32_t nr, uint64_t *page_size)
{
	struct uvfio_dirty_range *sorted;
	struct log_state *st;
	unsigned shift;
	int ret;

	if (!log || !page_size || (nr && !ranges))
		return -EINVAL;
	if (nr > UVFIO_DIRTY_MAX_RANGES)
		return -E2BIG;
	sorted = calloc(nr ? nr : 1, sizeof(*sorted));
	if (!sorted)
		return -ENOMEM;
	ret = validate(ranges, nr, *page_size, sorted);
	if (ret) {
		log_debug("dirty log: START refused (%d)", ret);
		free(sorted);
		return ret;
	}
	/* Coarser pages rather than unbounded memory: the uAPI lets the device choose. */
	shift = log2u64(*page_size);
	while (shift < 63 && bitmap_bytes(sorted, nr, shift) > UVFIO_DIRTY_MAX_BITMAP_BYTES)
		shift++;
	pthread_mutex_lock(&log->lock);
	if (atomic_load(&log->st)) {
		pthread_mutex_unlock(&log->lock);
		free(sorted);
		return -EBUSY;
	}
	st = state_new(sorted, nr, shift);
	free(sorted);
	if (!st) {
		pthread_mutex_unlock(&log->lock);
		return -ENOMEM;
	}
	atomic_store(&log->st, st);
	pthread_mutex_unlock(&log->lock);
	if (st->page_size != *page_size)
		log_info("dirty log: page size raised from %llu to %llu to bound bitmap memory",
			 (unsigned long long)*page_size, (unsigned long long)st->page_size);
	*page_size = st->page_size;
	return 0;
}

int uvfio_dirty_log_stop(struct uvfio_dirty_log *log)
{
	struct log_state *st;

	if (!log)
		return -EINVAL;
	pthread_mutex_lock(&log->lock);
	st = atomic_exchange(&log->st, NULL);
	/* Marks are short and never block: wait them out rather than make them take a lock. */
	while (atomic_load(&log->users))
		sched_yield();
	pthread_mutex_unlock(&log->lock);
	state_free(st);
	return 0;
}

bool uvfio_dirty_log_active(struct uvfio_dirty_log *log)
{
	return log && atomic_load(&log->st) != NULL;
}

uint64_t uvfio_dirty_log_page_size(struct uvfio_dirty_log *log)
{
	struct log_state *st;
	uint64_t ps;

	if (!log)
		return 0;
	st = guard_enter(log);
	ps = st ? st->page_size : 0;
	guard_exit(log);
	return ps;
}

/* First range whose end lies above iova (ranges are sorted and disjoint). */
static uint32_t first_range(const struct log_state *st, uint64_t iova)
{
	uint32_t lo = 0, hi = st->nr, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (st->r[mid].end <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Mask of bits [lo, hi] (0 <= lo <= hi <= 63). */
static uint64_t bit_mask(unsigned lo, unsigned hi)
{
	uint64_t upper = hi == 63 ? ~0ull : (1ull << (hi + 1)) - 1;

	return upper & ~((1ull << lo) - 1);
}

static void set_pages(struct log_range *lr, uint64_t first, uint64_t last)
{
	uint64_t w;

	for (w = first / 64; w <= last / 64; w++) {
		unsigned lo = w == first / 64 ? (unsigned)(first % 64) : 0;
		unsigned hi = w == last / 64 ? (unsigned)(last % 64) : 63;

		atomic_fetch_or(&lr->bits[w], bit_mask(lo, hi));
	}
}

void uvfio_dirty_log_mark(struct uvfio_dirty_log *log, uint64_t iova, uint64_t len)
{
	struct log_state *st;
	uint64_t end, lo, hi;
	uint32_t i;

	if (!log || len == 0)
		return;
	end = iova + len < iova ? UINT64_MAX : iova + len;
	st = guard_enter(log);
	for (i = st ? first_range(st, iova) : 0; st && i < st->nr && st->r[i].iova < end; i++) {
		struct log_range *lr = &st->r[i];

		lo = iova > lr->iova ? iova : lr->iova;
		hi = end < lr->end ? end : lr->end;
		set_pages(lr, (lo - lr->iova) >> st->shift, (hi - 1 - lr->iova) >> st->shift);
	}
	guard_exit(log);
}

/* Sets report bits for [lo, hi) (already clipped to the report range). */
static void report_set(uint64_t *bitmap, uint64_t riova, unsigned rshift, uint64_t lo,
		       uint64_t hi)
{
	uint64_t n, last = (hi - 1 - riova) >> rshift;

	for (n = (lo - riova) >> rshift; n <= last; n++)
		bitmap[n / 64] |= 1ull << (n % 64);
}

struct report {
	uint64_t iova, end; /* [iova, end) */
	unsigned shift;
	uint64_t *bitmap;
};

/* [*lo, *hi) of log page p of lr (the last page ends with the range). */
static void page_span(const struct log_state *st, const struct log_range *lr, uint64_t p,
		      uint64_t *lo, uint64_t *hi)
{
	*lo = lr->iova + (p << st->shift);
	*hi = p + 1 >= lr->npages ? lr->end : *lo + st->page_size;
}

static bool page_inside(const struct log_state *st, const struct log_range *lr, uint64_t p,
			const struct report *rep)
{
	uint64_t lo, hi;

	page_span(st, lr, p, &lo, &hi);
	return lo >= rep->iova && hi <= rep->end;
}

/*
 * Takes the bits of log pages [first, last] of lr. Only the first and last can stick out of the
 * report; those are reported but stay set, since the part outside was not reported.
 */
static void report_range(const struct log_state *st, struct log_range *lr, uint64_t first,
			 uint64_t last, const struct report *rep)
{
	uint64_t w, lo_a, hi_a, page;
	bool keep_first = !page_inside(st, lr, first, rep);
	bool keep_last = !page_inside(st, lr, last, rep);

	for (w = first / 64; w <= last / 64; w++) {
		unsigned lo = w == first / 64 ? (unsigned)(first % 64) : 0;
		unsigned hi = w == last / 64 ? (unsigned)(last % 64) : 63;
		uint64_t mask = bit_mask(lo, hi), clear = mask, old, bits;

		if (keep_first && w == first / 64)
			clear &= ~(1ull << (first % 64));
		if (keep_last && w == last / 64)
			clear &= ~(1ull << (last % 64));
		if (clear == ~0ull)
			old = atomic_exchange(&lr->bits[w], 0);
		else if (clear)
			old = atomic_fetch_and(&lr->bits[w], ~clear);
		else
			old = atomic_load(&lr->bits[w]);
		bits = old & mask;
		while (bits) {
			page = w * 64 + (unsigned)__builtin_ctzll(bits);
			bits &= bits - 1;
			page_span(st, lr, page, &lo_a, &hi_a);
			lo_a = lo_a < rep->iova ? rep->iova : lo_a;
			hi_a = hi_a > rep->end ? rep->end : hi_a;
			report_set(rep->bitmap, rep->iova, rep->shift, lo_a, hi_a);
		}
	}
}

int uvfio_dirty_log_report(struct uvfio_dirty_log *log, uint64_t iova, uint64_t length,
			   uint64_t page_size, uint64_t *bitmap)
{
	struct report rep = { .iova = iova, .end = iova + length, .bitmap = bitmap };
	struct log_state *st;
	uint32_t i;

	if (!log || !bitmap || !pow2_page(page_size) || length == 0 ||
	    (iova & (page_size - 1)) || (length & (page_size - 1)))
		return -EINVAL;
	if (iova + length < iova)
		return -EOVERFLOW;
	rep.shift = log2u64(page_size);
	st = guard_enter(log);
	if (!st) {
		guard_exit(log);
		return -EINVAL;
	}
	for (i = first_range(st, iova); i < st->nr && st->r[i].iova < rep.end; i++) {
		struct log_range *lr = &st->r[i];
		uint64_t lo = iova > lr->iova ? iova : lr->iova;
		uint64_t hi = rep.end < lr->end ? rep.end : lr->end;

		report_range(st, lr, (lo - lr->iova) >> st->shift, (hi - 1 - lr->iova) >> st->shift,
			     &rep);
	}
	guard_exit(log);
	return 0;
}
