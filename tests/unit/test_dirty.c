/* SPDX-License-Identifier: MIT */
/*
 * Dirty page logging: START validation as vfio core does it, marks and REPORT (read and clear)
 * at equal and different page sizes, and concurrent device threads marking while reports run:
 * the union of all reports is exactly the set of pages marked.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "dma/dirty.h"
#include "util/log.h"

#define K4 0x1000ull
#define K64 0x10000ull
#define M2 0x200000ull

static bool bit(const uint64_t *bm, uint64_t n)
{
	return (bm[n / 64] >> (n % 64)) & 1;
}

static unsigned popcount(const uint64_t *bm, size_t words)
{
	unsigned n = 0;

	for (size_t i = 0; i < words; i++)
		n += (unsigned)__builtin_popcountll(bm[i]);
	return n;
}

static struct uvfio_dirty_log *started(const struct uvfio_dirty_range *r, uint32_t nr,
				       uint64_t ps)
{
	struct uvfio_dirty_log *log = uvfio_dirty_log_new();
	uint64_t got = ps;

	assert_non_null(log);
	assert_int_equal(uvfio_dirty_log_start(log, r, nr, &got), 0);
	assert_int_equal(got, ps);
	return log;
}

static void test_start_validation(void **unused)
{
	struct uvfio_dirty_range many[UVFIO_DIRTY_MAX_RANGES + 1];
	struct uvfio_dirty_range r[3];
	struct uvfio_dirty_log *log = uvfio_dirty_log_new();
	uint64_t ps = K4;
	uint32_t i;

	(void)unused;
	assert_non_null(log);
	r[0] = (struct uvfio_dirty_range){ 0x100000, 16 * K4 };
	assert_int_equal(uvfio_dirty_log_start(log, r, 0, &ps), -EINVAL);
	assert_int_equal(uvfio_dirty_log_start(log, NULL, 1, &ps), -EINVAL);
	assert_int_equal(uvfio_dirty_log_start(log, r, 1, NULL), -EINVAL);
	assert_int_equal(uvfio_dirty_log_start(NULL, r, 1, &ps), -EINVAL);
	for (i = 0; i <= UVFIO_DIRTY_MAX_RANGES; i++)
		many[i] = (struct uvfio_dirty_range){ i * 2 * K4, K4 };
	assert_int_equal(uvfio_dirty_log_start(log, many, UVFIO_DIRTY_MAX_RANGES + 1, &ps), -E2BIG);
	/* Page sizes: powers of two from 4 KiB. */
	static const uint64_t bad_ps[] = { 0, 1, 2048, 4097, 12288, 3ull << 20 };
	for (i = 0; i < sizeof(bad_ps) / sizeof(bad_ps[0]); i++) {
		ps = bad_ps[i];
		assert_int_equal(uvfio_dirty_log_start(log, r, 1, &ps), -EINVAL);
	}
	ps = K4;
	/* Alignment, emptiness, overflow, overlap (given unsorted). */
	r[0] = (struct uvfio_dirty_range){ 0x100800, K4 };
	assert_int_equal(uvfio_dirty_log_start(log, r, 1, &ps), -EINVAL);
	r[0] = (struct uvfio_dirty_range){ 0x100000, K4 + 1 };
	assert_int_equal(uvfio_dirty_log_start(log, r, 1, &ps), -EINVAL);
	r[0] = (struct uvfio_dirty_range){ 0x100000, 0 };
	assert_int_equal(uvfio_dirty_log_start(log, r, 1, &ps), -EINVAL);
	r[0] = (struct uvfio_dirty_range){ UINT64_MAX - K4 + 1, K4 }; /* ends exactly at 2^64 */
	assert_int_equal(uvfio_dirty_log_start(log, r, 1, &ps), -EOVERFLOW);
	r[0] = (struct uvfio_dirty_range){ UINT64_MAX - K4 + 1, 2 * K4 };
	assert_int_equal(uvfio_dirty_log_start(log, r, 1, &ps), -EOVERFLOW);
	r[0] = (struct uvfio_dirty_range){ 0x300000, 4 * K4 };
	r[1] = (struct uvfio_dirty_range){ 0x100000, 4 * K4 };
	r[2] = (struct uvfio_dirty_range){ 0x303000, K4 };
	assert_int_equal(uvfio_dirty_log_start(log, r, 3, &ps), -EINVAL);
	assert_false(uvfio_dirty_log_active(log));
	/* Adjacent is fine; a second START before STOP is not. */
	r[2] = (struct uvfio_dirty_range){ 0x304000, K4 };
	assert_int_equal(uvfio_dirty_log_start(log, r, 3, &ps), 0);
	assert_true(uvfio_dirty_log_active(log));
	assert_int_equal(uvfio_dirty_log_page_size(log), K4);
	assert_int_equal(uvfio_dirty_log_start(log, r, 3, &ps), -EBUSY);
	assert_int_equal(uvfio_dirty_log_stop(log), 0);
	assert_int_equal(uvfio_dirty_log_stop(log), 0);
	assert_int_equal(uvfio_dirty_log_page_size(log), 0);
	/* The maximum count is accepted. */
	assert_int_equal(uvfio_dirty_log_start(log, many, UVFIO_DIRTY_MAX_RANGES, &ps), 0);
	uvfio_dirty_log_free(log);
}

static void test_mark_report_clears(void **unused)
{
	const struct uvfio_dirty_range r[2] = { { 0x100000, 128 * K4 }, { 0x10000, 16 * K4 } };
	struct uvfio_dirty_log *log = started(r, 2, K4);
	uint64_t bm[4];

	(void)unused;
	uvfio_dirty_log_mark(log, 0x10000, 1); /* page 0 of the low range */
	uvfio_dirty_log_mark(log, 0x1fff0, 0x20); /* straddles its end into the gap */
	uvfio_dirty_log_mark(log, 0x100000 + 63 * K4 + 10, K4); /* pages 63-64: crosses a word */
	uvfio_dirty_log_mark(log, 0x100000 + 127 * K4, 0); /* empty: nothing */
	uvfio_dirty_log_mark(log, 0x5000, K4); /* outside */
	uvfio_dirty_log_mark(log, 0x200000, K4); /* just past the high range */
	uvfio_dirty_log_mark(log, UINT64_MAX - 8, 100); /* wraps: clipped, no crash */
	uvfio_dirty_log_mark(NULL, 0, 1);

	memset(bm, 0, sizeof(bm));
	assert_int_equal(uvfio_dirty_log_report(log, 0x10000, 16 * K4, K4, bm), 0);
	assert_true(bit(bm, 0));
	assert_true(bit(bm, 15));
	assert_int_equal(popcount(bm, 1), 2);
	memset(bm, 0, sizeof(bm));
	assert_int_equal(uvfio_dirty_log_report(log, 0x100000, 128 * K4, K4, bm), 0);
	assert_true(bit(bm, 63));
	assert_true(bit(bm, 64));
	assert_int_equal(popcount(bm, 2), 2);
	/* REPORT cleared what it returned. */
	memset(bm, 0, sizeof(bm));
	assert_int_equal(uvfio_dirty_log_report(log, 0x100000, 128 * K4, K4, bm), 0);
	assert_int_equal(uvfio_dirty_log_report(log, 0x10000, 16 * K4, K4, bm), 0);
	assert_int_equal(popcount(bm, 2), 0);
	/* Only sets bits: what the caller had stays. */
	bm[0] = 1ull << 5;
	uvfio_dirty_log_mark(log, 0x100000 + 3 * K4, 1);
	assert_int_equal(uvfio_dirty_log_report(log, 0x100000, 128 * K4, K4, bm), 0);
	assert_int_equal(bm[0], (1ull << 5) | (1ull << 3));
	/* A report spanning ranges and the gap between them: bits relative to its own iova. */
	uvfio_dirty_log_mark(log, 0x10000 + K4, 1);
	uvfio_dirty_log_mark(log, 0x100000, 1);
	memset(bm, 0, sizeof(bm));
	assert_int_equal(uvfio_dirty_log_report(log, 0x10000, 0xf1000, K4, bm), 0);
	assert_true(bit(bm, 1));
	assert_true(bit(bm, (0x100000 - 0x10000) / K4));
	assert_int_equal(popcount(bm, 4), 2);
	uvfio_dirty_log_free(log);
}

static void test_report_errors(void **unused)
{
	const struct uvfio_dirty_range r = { 0, 64 * K4 };
	struct uvfio_dirty_log *log = uvfio_dirty_log_new();
	uint64_t bm[2] = { 0 }, ps = K4;

	(void)unused;
	assert_int_equal(uvfio_dirty_log_report(log, 0, K4, K4, bm), -EINVAL); /* not started */
	assert_int_equal(uvfio_dirty_log_start(log, &r, 1, &ps), 0);
	assert_int_equal(uvfio_dirty_log_report(log, 0, K4, 2048, bm), -EINVAL);
	assert_int_equal(uvfio_dirty_log_report(log, 0, K4, 3 * K4, bm), -EINVAL);
	assert_int_equal(uvfio_dirty_log_report(log, 0, 0, K4, bm), -EINVAL);
	assert_int_equal(uvfio_dirty_log_report(log, 0x800, K4, K4, bm), -EINVAL);
	assert_int_equal(uvfio_dirty_log_report(log, 0, K4 + 8, K4, bm), -EINVAL);
	assert_int_equal(uvfio_dirty_log_report(log, 0, K4, K4, NULL), -EINVAL);
	assert_int_equal(uvfio_dirty_log_report(NULL, 0, K4, K4, bm), -EINVAL);
	assert_int_equal(uvfio_dirty_log_report(log, UINT64_MAX - K4 + 1, 2 * K4, K4, bm),
			 -EOVERFLOW);
	/* Entirely outside the logged ranges: clean, not an error. */
	uvfio_dirty_log_mark(log, 0, 64 * K4);
	assert_int_equal(uvfio_dirty_log_report(log, 0x100000, 2 * K4, K4, bm), 0);
	assert_int_equal(bm[0], 0);
	assert_int_equal(uvfio_dirty_log_stop(log), 0);
	assert_int_equal(uvfio_dirty_log_report(log, 0, K4, K4, bm), -EINVAL);
	uvfio_dirty_log_free(log);
}

static void test_report_page_size_conversion(void **unused)
{
	const struct uvfio_dirty_range r4 = { 0, 2 * M2 };
	const struct uvfio_dirty_range r64 = { 0x100000, 16 * K64 };
	struct uvfio_dirty_log *log = started(&r4, 1, K4);
	uint64_t bm[16];
	unsigned i;

	(void)unused;
	/* Log at 4K, report at 2M: any dirty 4K page makes its 2M page dirty. */
	uvfio_dirty_log_mark(log, K4, 1);
	uvfio_dirty_log_mark(log, M2 + 0x1ff000, 1);
	memset(bm, 0, sizeof(bm));
	assert_int_equal(uvfio_dirty_log_report(log, 0, 2 * M2, M2, bm), 0);
	assert_int_equal(bm[0], 3);
	memset(bm, 0, sizeof(bm));
	assert_int_equal(uvfio_dirty_log_report(log, 0, 2 * M2, K4, bm), 0);
	assert_int_equal(popcount(bm, 16), 0);
	/* Log at 4K, report at 8K. */
	uvfio_dirty_log_mark(log, 3 * K4, 1);
	memset(bm, 0, sizeof(bm));
	assert_int_equal(uvfio_dirty_log_report(log, 0, 16 * K4, 2 * K4, bm), 0);
	assert_int_equal(bm[0], 1ull << 1);
	uvfio_dirty_log_free(log);

	/* Log at 64K, report at 4K: a dirty 64K page is 16 dirty 4K pages. */
	log = started(&r64, 1, K64);
	uvfio_dirty_log_mark(log, 0x100000 + K64 + 5, 1);
	memset(bm, 0, sizeof(bm));
	assert_int_equal(uvfio_dirty_log_report(log, 0x100000, 4 * K64, K4, bm), 0);
	assert_int_equal(bm[0], 0xffffull << 16);
	/* A report covering half a log page returns it but keeps it dirty for the other half. */
	uvfio_dirty_log_mark(log, 0x100000 + 2 * K64, 1);
	memset(bm, 0, sizeof(bm));
	assert_int_equal(uvfio_dirty_log_report(log, 0x100000 + 2 * K64, K64 / 2, K4, bm), 0);
	assert_int_equal(bm[0], 0xff);
	memset(bm, 0, sizeof(bm));
	assert_int_equal(uvfio_dirty_log_report(log, 0x100000 + 2 * K64 + K64 / 2, K64 / 2, K4, bm),
			 0);
	assert_int_equal(bm[0], 0xff);
	/* Covered whole, it is cleared. */
	memset(bm, 0, sizeof(bm));
	assert_int_equal(uvfio_dirty_log_report(log, 0x100000, 16 * K64, K64, bm), 0);
	assert_int_equal(bm[0], 1ull << 2);
	memset(bm, 0, sizeof(bm));
	assert_int_equal(uvfio_dirty_log_report(log, 0x100000, 16 * K64, K64, bm), 0);
	assert_int_equal(bm[0], 0);
	for (i = 0; i < 16; i++)
		uvfio_dirty_log_mark(log, 0x100000 + i * K64, 1);
	memset(bm, 0, sizeof(bm));
	assert_int_equal(uvfio_dirty_log_report(log, 0x100000, 16 * K64, K64, bm), 0);
	assert_int_equal(bm[0], 0xffff);
	uvfio_dirty_log_free(log);
}

/* The log is over IOVA ranges, not mappings: memory mapped after START is logged when written. */
static void test_later_mappings_are_logged(void **unused)
{
	const struct uvfio_dirty_range r = { 0x40000000, 1024 * K4 };
	struct uvfio_dirty_log *log = started(&r, 1, K4);
	uint64_t bm[16] = { 0 };

	(void)unused;
	/* Nothing is mapped yet at START; a window [0x40080000, +64K) appears later and the device
	 * writes into it: the DMA layer marks the IOVA it wrote. */
	uvfio_dirty_log_mark(log, 0x40080000 + 0x2345, 0x2000);
	assert_int_equal(uvfio_dirty_log_report(log, 0x40000000, 1024 * K4, K4, bm), 0);
	assert_true(bit(bm, 0x82));
	assert_true(bit(bm, 0x83));
	assert_true(bit(bm, 0x84));
	assert_int_equal(popcount(bm, 16), 3);
	uvfio_dirty_log_free(log);
}

/* A huge range at 4K would need more bitmap than allowed: the page size is raised. */
static void test_page_size_raised(void **unused)
{
	const struct uvfio_dirty_range r = { 0, 1ull << 50 };
	struct uvfio_dirty_log *log = uvfio_dirty_log_new();
	uint64_t ps = K4, bm[1] = { 0 };

	(void)unused;
	assert_int_equal(uvfio_dirty_log_start(log, &r, 1, &ps), 0);
	assert_true(ps > K4);
	assert_true((1ull << 50) / ps / 8 <= UVFIO_DIRTY_MAX_BITMAP_BYTES);
	assert_int_equal(uvfio_dirty_log_page_size(log), ps);
	uvfio_dirty_log_mark(log, ps + 1, 1);
	assert_int_equal(uvfio_dirty_log_report(log, 0, 64 * ps, ps, bm), 0);
	assert_int_equal(bm[0], 2);
	uvfio_dirty_log_free(log);
}

/* ---- concurrency ---- */

#define NPAGES 65536u /* per range */
#define WORDS (NPAGES / 64)
#define MARKERS 4
#define BASE_A 0x10000000ull /* marked disjointly: page p by thread p % MARKERS */
#define BASE_B 0x20000000ull /* marked by every thread: overlapping */

struct race {
	struct uvfio_dirty_log *log;
	pthread_barrier_t go;
	atomic_int markers_left;
	uint64_t seen_a[WORDS], seen_b[WORDS]; /* union of reports, reporter-owned */
	unsigned reports;
};

struct marker {
	struct race *race;
	unsigned id;
};

#define PER_THREAD (NPAGES / MARKERS)

/* Range B as the markers write it: a span of 3 pages from every even page + thread id. */
static void overlap_spans(unsigned id, void (*fn)(void *ctx, uint64_t page), void *ctx)
{
	uint64_t p;

	for (p = 0; p < NPAGES / 4; p += 2)
		fn(ctx, p + id);
}

static void mark_span(void *ctx, uint64_t page)
{
	uvfio_dirty_log_mark(ctx, BASE_B + page * K4, 3 * K4);
}

static void expect_span(void *ctx, uint64_t page)
{
	uint64_t *bm = ctx;

	for (uint64_t q = page; q < page + 3; q++)
		bm[q / 64] |= 1ull << (q % 64);
}

static void *marker_thread(void *arg)
{
	struct marker *m = arg;
	struct race *race = m->race;
	uint64_t j, page;

	pthread_barrier_wait(&race->go);
	/* Each of this thread's pages (page % MARKERS == id) once, in a scattered order (an odd
	 * multiplier permutes 0..PER_THREAD-1, a power of two). */
	for (j = 0; j < PER_THREAD; j++) {
		page = m->id + MARKERS * ((j * 7919) % PER_THREAD);
		uvfio_dirty_log_mark(race->log, BASE_A + page * K4 + (page % 7), 1);
	}
	overlap_spans(m->id, mark_span, race->log);
	atomic_fetch_sub(&race->markers_left, 1);
	return NULL;
}

static void report_into(struct race *race, uint64_t base, uint64_t *seen, bool halves)
{
	uint64_t bm[WORDS];
	unsigned i, h;

	if (!halves) {
		memset(bm, 0, sizeof(bm));
		assert_int_equal(uvfio_dirty_log_report(race->log, base, NPAGES * K4, K4, bm), 0);
		for (i = 0; i < WORDS; i++)
			seen[i] |= bm[i];
		return;
	}
	for (h = 0; h < 2; h++) {
		memset(bm, 0, sizeof(bm));
		assert_int_equal(uvfio_dirty_log_report(race->log, base + h * (NPAGES / 2) * K4,
							(NPAGES / 2) * K4, K4, bm),
				 0);
		for (i = 0; i < WORDS / 2; i++)
			seen[h * WORDS / 2 + i] |= bm[i];
	}
}

static void *reporter_thread(void *arg)
{
	struct race *race = arg;

	pthread_barrier_wait(&race->go);
	while (atomic_load(&race->markers_left) > 0) {
		report_into(race, BASE_A, race->seen_a, race->reports % 2);
		report_into(race, BASE_B, race->seen_b, race->reports % 3 == 0);
		race->reports++;
	}
	/* Everything marked after the last report in the loop. */
	report_into(race, BASE_A, race->seen_a, false);
	report_into(race, BASE_B, race->seen_b, false);
	return NULL;
}

static void test_concurrent_marks_lose_nothing(void **unused)
{
	const struct uvfio_dirty_range r[2] = { { BASE_A, NPAGES * K4 }, { BASE_B, NPAGES * K4 } };
	static struct race race;
	struct marker m[MARKERS];
	pthread_t tm[MARKERS], tr;
	uint64_t expect_b[WORDS], bm[WORDS];
	unsigned round, i, total_reports = 0;

	(void)unused;
	/* What range B must show, computed without the log. */
	memset(expect_b, 0, sizeof(expect_b));
	for (i = 0; i < MARKERS; i++)
		overlap_spans(i, expect_span, expect_b);
	assert_int_equal(popcount(expect_b, WORDS), NPAGES / 4 + MARKERS);
	for (round = 0; round < 20; round++) {
		memset(&race, 0, sizeof(race));
		race.log = started(r, 2, K4);
		atomic_init(&race.markers_left, MARKERS);
		pthread_barrier_init(&race.go, NULL, MARKERS + 1);
		for (i = 0; i < MARKERS; i++) {
			m[i] = (struct marker){ &race, i };
			assert_int_equal(pthread_create(&tm[i], NULL, marker_thread, &m[i]), 0);
		}
		assert_int_equal(pthread_create(&tr, NULL, reporter_thread, &race), 0);
		for (i = 0; i < MARKERS; i++)
			pthread_join(tm[i], NULL);
		pthread_join(tr, NULL);
		pthread_barrier_destroy(&race.go);
		for (i = 0; i < WORDS; i++)
			assert_int_equal(race.seen_a[i], ~0ull);
		assert_memory_equal(race.seen_b, expect_b, sizeof(expect_b));
		/* And nothing is left behind. */
		memset(bm, 0, sizeof(bm));
		assert_int_equal(uvfio_dirty_log_report(race.log, BASE_A, NPAGES * K4, K4, bm), 0);
		assert_int_equal(popcount(bm, WORDS), 0);
		total_reports += race.reports;
		uvfio_dirty_log_free(race.log);
	}
	print_message("concurrent rounds: %u reports ran during marking\n", total_reports);
}

/* START/STOP cycling while device threads mark: stop must wait them out (ASan checks). */
struct churn {
	struct uvfio_dirty_log *log;
	atomic_bool stop;
	atomic_ulong marks;
};

static void *churn_marker(void *arg)
{
	struct churn *c = arg;
	uint64_t i = 0;

	while (!atomic_load(&c->stop)) {
		uvfio_dirty_log_mark(c->log, (i++ % 256) * K4, K4);
		atomic_fetch_add(&c->marks, 1);
	}
	return NULL;
}

static void test_start_stop_while_marking(void **unused)
{
	const struct uvfio_dirty_range r = { 0, 256 * K4 };
	struct churn c = { .log = uvfio_dirty_log_new() };
	pthread_t t[3];
	uint64_t ps, bm[4];
	unsigned i, cycles;

	(void)unused;
	assert_non_null(c.log);
	for (i = 0; i < 3; i++)
		assert_int_equal(pthread_create(&t[i], NULL, churn_marker, &c), 0);
	for (cycles = 0; cycles < 2000; cycles++) {
		ps = K4;
		assert_int_equal(uvfio_dirty_log_start(c.log, &r, 1, &ps), 0);
		memset(bm, 0, sizeof(bm));
		assert_int_equal(uvfio_dirty_log_report(c.log, 0, 256 * K4, K4, bm), 0);
		assert_int_equal(uvfio_dirty_log_stop(c.log), 0);
	}
	/* Keep cycling until the markers demonstrably ran alongside. */
	while (atomic_load(&c.marks) < 10000) {
		ps = K4;
		assert_int_equal(uvfio_dirty_log_start(c.log, &r, 1, &ps), 0);
		assert_int_equal(uvfio_dirty_log_stop(c.log), 0);
	}
	atomic_store(&c.stop, true);
	for (i = 0; i < 3; i++)
		pthread_join(t[i], NULL);
	uvfio_dirty_log_free(c.log);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_start_validation),
		cmocka_unit_test(test_mark_report_clears),
		cmocka_unit_test(test_report_errors),
		cmocka_unit_test(test_report_page_size_conversion),
		cmocka_unit_test(test_later_mappings_are_logged),
		cmocka_unit_test(test_page_size_raised),
		cmocka_unit_test(test_concurrent_marks_lose_nothing),
		cmocka_unit_test(test_start_stop_while_marking),
	};

	uvfio_log_set_level(UVFIO_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
