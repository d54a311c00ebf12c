/* SPDX-License-Identifier: MIT */
/*
 * The migration engine's arithmetic: rates, the stop-copy estimate, when to stop the rounds,
 * and walking dirty bitmaps. No I/O here, so every rule is unit-tested on its own
 * (tests/unit/test_migrate_engine.c).
 */
#include <time.h>

#include "client/migrate_priv.h"

/* Below this much measured time a rate says more about the clock than the transfer. */
#define MIG_METER_MIN_NS 10000ull

uint64_t mig_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void mig_meter_add(struct mig_meter *m, uint64_t bytes, uint64_t ns)
{
	m->bytes += bytes;
	m->ns += ns;
}

uint64_t mig_meter_rate(const struct mig_meter *m, uint64_t fallback)
{
	if (m->ns < MIG_METER_MIN_NS || !m->bytes)
		return fallback;
	return (uint64_t)((unsigned __int128)m->bytes * 1000000000u / m->ns);
}

uint64_t mig_transfer_ns(uint64_t bytes, uint64_t rate)
{
	unsigned __int128 ns;

	if (!bytes)
		return 0;
	if (!rate)
		return UINT64_MAX;
	ns = ((unsigned __int128)bytes * 1000000000u + rate - 1) / rate;
	return ns > UINT64_MAX ? UINT64_MAX : (uint64_t)ns;
}

uint64_t mig_ns_to_ms(uint64_t ns)
{
	return ns / 1000000u + (ns % 1000000u != 0);
}

static uint64_t add_sat(uint64_t a, uint64_t b)
{
	return a > UINT64_MAX - b ? UINT64_MAX : a + b;
}

uint64_t mig_estimate_ns(const struct mig_estimate_in *in)
{
	uint64_t ns = mig_transfer_ns(in->device_bytes, in->device_rate);

	ns = add_sat(ns, mig_transfer_ns(in->memory_bytes, in->memory_rate));
	ns = add_sat(ns, mig_transfer_ns(in->load_bytes, in->load_rate));
	return add_sat(ns, in->fixed_ns);
}

void mig_plan_init(struct mig_plan *p, uint32_t max_rounds, uint64_t budget_ms)
{
	p->max_rounds = max_rounds;
	p->budget_ms = budget_ms;
	p->rounds = 0;
	p->best_ms = UINT64_MAX;
	p->since_best = 0;
}

enum mig_next mig_plan_round(struct mig_plan *p, uint64_t estimate_ms, bool can_move)
{
	p->rounds++;
	if (estimate_ms <= p->budget_ms)
		return MIG_NEXT_CONVERGED;
	if (!can_move)
		return MIG_NEXT_STALLED;
	if (p->rounds >= p->max_rounds)
		return MIG_NEXT_MAX_ROUNDS;
	if (estimate_ms < p->best_ms) {
		p->best_ms = estimate_ms;
		p->since_best = 0;
		return MIG_NEXT_ROUND;
	}
	return ++p->since_best >= MIG_STALL_ROUNDS ? MIG_NEXT_STALLED : MIG_NEXT_ROUND;
}

size_t mig_bitmap_words(uint64_t nbits)
{
	return (size_t)((nbits + 63) / 64);
}

uint64_t mig_bitmap_count(const uint64_t *bm, uint64_t nbits)
{
	size_t words = mig_bitmap_words(nbits);
	uint64_t n = 0;

	for (size_t i = 0; i < words; i++) {
		uint64_t w = bm[i];

		/* Bits past nbits in the last word are not pages. */
		if (i == words - 1 && nbits % 64)
			w &= (1ull << (nbits % 64)) - 1;
		n += (uint64_t)__builtin_popcountll(w);
	}
	return n;
}

void mig_bitmap_or(uint64_t *dst, const uint64_t *src, size_t words)
{
	for (size_t i = 0; i < words; i++)
		dst[i] |= src[i];
}

static bool bit_set(const uint64_t *bm, uint64_t n)
{
	return bm[n / 64] >> (n % 64) & 1;
}

bool mig_bitmap_next_run(const uint64_t *bm, uint64_t nbits, uint64_t pos, uint64_t *start,
			 uint64_t *len)
{
	uint64_t end;

	/* Skip clear words whole: most of a bitmap is clear in later rounds. */
	while (pos < nbits) {
		uint64_t w = bm[pos / 64] >> (pos % 64);

		if (w) {
			pos += (uint64_t)__builtin_ctzll(w);
			break;
		}
		pos = (pos / 64 + 1) * 64;
	}
	if (pos >= nbits)
		return false;
	end = pos + 1;
	while (end < nbits) {
		if (end % 64 == 0 && bm[end / 64] == UINT64_MAX && end + 64 <= nbits) {
			end += 64;
			continue;
		}
		if (!bit_set(bm, end))
			break;
		end++;
	}
	*start = pos;
	*len = end - pos;
	return true;
}
