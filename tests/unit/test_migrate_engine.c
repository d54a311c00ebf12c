/* SPDX-License-Identifier: MIT */
/*
 * The migration engine's arithmetic (lib/client/migrate_plan.c): rates, the stop-copy estimate,
 * when the rounds stop, and the dirty-bitmap walk that decides which pages are copied; plus
 * the argument checks and error texts of save/load that need no device.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "client/migrate_priv.h"
#include "util/log.h"

static void test_meter_rate(void **state)
{
	struct mig_meter m = { 0 };

	(void)state;
	/* Nothing measured: the caller's guess. */
	assert_int_equal(mig_meter_rate(&m, 123), 123);
	/* Too short a time to trust. */
	mig_meter_add(&m, 1000, 5);
	assert_int_equal(mig_meter_rate(&m, 7), 7);
	m = (struct mig_meter){ 0 };
	mig_meter_add(&m, 1u << 20, 1000000); /* 1 MiB in 1 ms */
	mig_meter_add(&m, 1u << 20, 1000000);
	assert_int_equal(mig_meter_rate(&m, 7), (1ull << 20) * 1000);
	/* Large counts do not overflow. */
	m = (struct mig_meter){ .bytes = UINT64_MAX / 2, .ns = 1000000000ull };
	assert_true(mig_meter_rate(&m, 0) == UINT64_MAX / 2);
}

static void test_transfer_and_ms(void **state)
{
	(void)state;
	assert_int_equal(mig_transfer_ns(0, 0), 0);
	assert_true(mig_transfer_ns(1, 0) == UINT64_MAX);
	assert_int_equal(mig_transfer_ns(1000, 1000), 1000000000ull);
	/* Rounded up: a byte at 3 bytes/s is 333333334 ns. */
	assert_int_equal(mig_transfer_ns(1, 3), 333333334ull);
	assert_true(mig_transfer_ns(UINT64_MAX, 1) == UINT64_MAX);
	assert_int_equal(mig_ns_to_ms(0), 0);
	assert_int_equal(mig_ns_to_ms(1), 1);
	assert_int_equal(mig_ns_to_ms(1000000), 1);
	assert_int_equal(mig_ns_to_ms(1000001), 2);
}

static void test_estimate(void **state)
{
	struct mig_estimate_in in = {
		.device_bytes = 100ull << 20, .device_rate = 1000ull << 20, /* 100 ms */
		.memory_bytes = 40ull << 20, .memory_rate = 4000ull << 20, /* 10 ms */
		.load_bytes = 300ull << 20, .load_rate = 1000ull << 20, /* 300 ms */
		.fixed_ns = 2000000, /* 2 ms */
	};

	(void)state;
	assert_int_equal(mig_ns_to_ms(mig_estimate_ns(&in)), 412);
	in.load_bytes = 0;
	assert_int_equal(mig_ns_to_ms(mig_estimate_ns(&in)), 112);
	in.device_rate = 0;
	assert_true(mig_estimate_ns(&in) == UINT64_MAX);
	in = (struct mig_estimate_in){ .fixed_ns = 5 };
	assert_int_equal(mig_estimate_ns(&in), 5);
}

static void test_plan_converges(void **state)
{
	struct mig_plan p;

	(void)state;
	mig_plan_init(&p, 30, 100);
	assert_int_equal(mig_plan_round(&p, 900, true), MIG_NEXT_ROUND);
	assert_int_equal(mig_plan_round(&p, 300, true), MIG_NEXT_ROUND);
	assert_int_equal(mig_plan_round(&p, 100, true), MIG_NEXT_CONVERGED);
	assert_int_equal(p.rounds, 3);
	/* Fitting the budget wins even on the last allowed round. */
	mig_plan_init(&p, 1, 100);
	assert_int_equal(mig_plan_round(&p, 50, true), MIG_NEXT_CONVERGED);
}

static void test_plan_max_rounds(void **state)
{
	struct mig_plan p;

	(void)state;
	mig_plan_init(&p, 1, 10);
	assert_int_equal(mig_plan_round(&p, 500, true), MIG_NEXT_MAX_ROUNDS);
	mig_plan_init(&p, 4, 10);
	for (uint64_t est = 400; est > 100; est -= 100)
		assert_int_equal(mig_plan_round(&p, est, true), MIG_NEXT_ROUND);
	assert_int_equal(mig_plan_round(&p, 50, true), MIG_NEXT_MAX_ROUNDS);
}

static void test_plan_stalls(void **state)
{
	struct mig_plan p;

	(void)state;
	/* Nothing a round can move: stop at once. */
	mig_plan_init(&p, 30, 10);
	assert_int_equal(mig_plan_round(&p, 500, false), MIG_NEXT_STALLED);
	/* An estimate that stops improving: MIG_STALL_ROUNDS rounds after the best one. */
	mig_plan_init(&p, 30, 10);
	assert_int_equal(mig_plan_round(&p, 500, true), MIG_NEXT_ROUND);
	for (unsigned i = 1; i < MIG_STALL_ROUNDS; i++)
		assert_int_equal(mig_plan_round(&p, 500 + i, true), MIG_NEXT_ROUND);
	assert_int_equal(mig_plan_round(&p, 500, true), MIG_NEXT_STALLED);
	/* An improvement restarts the count. */
	mig_plan_init(&p, 30, 10);
	assert_int_equal(mig_plan_round(&p, 500, true), MIG_NEXT_ROUND);
	for (unsigned i = 1; i < MIG_STALL_ROUNDS; i++)
		assert_int_equal(mig_plan_round(&p, 600, true), MIG_NEXT_ROUND);
	assert_int_equal(mig_plan_round(&p, 499, true), MIG_NEXT_ROUND);
	for (unsigned i = 1; i < MIG_STALL_ROUNDS; i++)
		assert_int_equal(mig_plan_round(&p, 499, true), MIG_NEXT_ROUND);
	assert_int_equal(mig_plan_round(&p, 499, true), MIG_NEXT_STALLED);
}

static void test_bitmap_count_and_or(void **state)
{
	uint64_t a[3] = { 0x5, UINT64_MAX, UINT64_MAX }, b[3] = { 0x2, 0, 0x1 };

	(void)state;
	assert_int_equal(mig_bitmap_words(0), 0);
	assert_int_equal(mig_bitmap_words(1), 1);
	assert_int_equal(mig_bitmap_words(64), 1);
	assert_int_equal(mig_bitmap_words(65), 2);
	/* Bits past nbits are not counted. */
	assert_int_equal(mig_bitmap_count(a, 130), 2 + 64 + 2);
	assert_int_equal(mig_bitmap_count(a, 128), 2 + 64);
	assert_int_equal(mig_bitmap_count(a, 192), 2 + 64 + 64);
	assert_int_equal(mig_bitmap_count(a, 1), 1);
	mig_bitmap_or(b, a, 1);
	assert_true(b[0] == 0x7 && b[1] == 0 && b[2] == 1);
}

/* Collects the runs the walk finds as "start+len," text. */
static void runs(const uint64_t *bm, uint64_t nbits, char *out, size_t size)
{
	uint64_t pos = 0, start, len;
	size_t n = 0;

	out[0] = '\0';
	while (mig_bitmap_next_run(bm, nbits, pos, &start, &len)) {
		n += (size_t)snprintf(out + n, size - n, "%llu+%llu,", (unsigned long long)start,
				      (unsigned long long)len);
		assert_true(n < size);
		pos = start + len;
	}
}

static void test_bitmap_runs(void **state)
{
	uint64_t bm[4] = { 0 };
	char s[256];

	(void)state;
	runs(bm, 256, s, sizeof(s));
	assert_string_equal(s, "");
	bm[0] = 0x1 | 0x6 << 4 | 1ull << 63;
	bm[1] = UINT64_MAX;
	bm[2] = 0x3;
	bm[3] = 1ull << 63;
	runs(bm, 256, s, sizeof(s));
	/* The run from bit 63 spans a whole word and stops inside the next. */
	assert_string_equal(s, "0+1,5+2,63+67,255+1,");
	/* A run cut by nbits; the bit past nbits is no page. */
	runs(bm, 255, s, sizeof(s));
	assert_string_equal(s, "0+1,5+2,63+67,");
	runs(bm, 100, s, sizeof(s));
	assert_string_equal(s, "0+1,5+2,63+37,");
	/* Starting the walk mid-run. */
	uint64_t start, len;
	assert_true(mig_bitmap_next_run(bm, 256, 64, &start, &len));
	assert_int_equal(start, 64);
	assert_int_equal(len, 66);
	assert_false(mig_bitmap_next_run(bm, 256, 256, &start, &len));
	/* Every bit set: one run. */
	memset(bm, 0xff, sizeof(bm));
	runs(bm, 256, s, sizeof(s));
	assert_string_equal(s, "0+256,");
	runs(bm, 200, s, sizeof(s));
	assert_string_equal(s, "0+200,");
}

static int write_nothing(void *opaque, const void *buf, size_t len)
{
	(void)opaque;
	(void)buf;
	(void)len;
	return 0;
}

static void test_bad_arguments(void **state)
{
	struct uvfio_migrate_stats st;

	(void)state;
	memset(&st, 0xaa, sizeof(st));
	assert_int_equal(uvfio_migrate(NULL, NULL, NULL, NULL, NULL, &st), -EINVAL);
	/* The stats are filled on failure too. */
	assert_int_equal(st.rounds, 0);
	assert_int_equal(st.src_state, UVFIO_MIG_STATE_ERROR);
	assert_int_equal(uvfio_migrate(NULL, NULL, NULL, NULL, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_migrate_save(NULL, write_nothing, NULL), -EINVAL);
	assert_int_equal(uvfio_migrate_load(NULL, "x", 1, 0), -EINVAL);
}

static void test_strerror(void **state)
{
	static const int errs[] = { ENODEV, EPROTONOSUPPORT, EBADMSG, ENODATA, EINVAL, EFBIG,
				    ENOTTY, EBUSY, EPROTO, ECONNRESET, EPIPE, ECANCELED };

	(void)state;
	for (size_t i = 0; i < sizeof(errs) / sizeof(errs[0]); i++) {
		const char *s = uvfio_migrate_strerror(-errs[i]);

		assert_non_null(s);
		assert_true(strlen(s) > 5);
		/* Distinct sentences for the stream's refusals. */
		for (size_t j = 0; j < i && j < 6; j++)
			assert_string_not_equal(s, uvfio_migrate_strerror(-errs[j]));
	}
	assert_string_equal(uvfio_migrate_strerror(-ENODATA), "the stream is truncated");
	assert_string_equal(uvfio_migrate_strerror(-ENODATA), uvfio_migrate_strerror(ENODATA));
	assert_non_null(uvfio_migrate_strerror(-9999));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_meter_rate),
		cmocka_unit_test(test_transfer_and_ms),
		cmocka_unit_test(test_estimate),
		cmocka_unit_test(test_plan_converges),
		cmocka_unit_test(test_plan_max_rounds),
		cmocka_unit_test(test_plan_stalls),
		cmocka_unit_test(test_bitmap_count_and_or),
		cmocka_unit_test(test_bitmap_runs),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_strerror),
	};

	uvfio_log_set_level(UVFIO_LOG_ERR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
