/* SPDX-License-Identifier: MIT */
/*
 * Internals of the client-side migration engine (lib/core/migrate*.c): the round policy and
 * the dirty-bitmap walking, kept as pure functions so they are unit-tested without devices,
 * and the state helpers the engine and save/load share.
 */
#ifndef UVFIO_CORE_MIGRATE_PRIV_H
#define UVFIO_CORE_MIGRATE_PRIV_H

#include <uvfio/migrate.h>

#define MIG_DEFAULT_BUDGET_MS 300u
#define MIG_DEFAULT_ROUNDS 30u
#define MIG_DEFAULT_CHUNK (4u << 20)
#define MIG_MAX_CHUNK (64u << 20)
/* Rounds without a better estimate after which more rounds are pointless: the device dirties
 * as fast as we copy, or what is left only moves during the downtime. */
#define MIG_STALL_ROUNDS 5u
/* Rates assumed until one was measured (bytes per second). A device stream crosses a socket;
 * memory is a memcpy. Only the first estimate uses them. */
#define MIG_GUESS_DEVICE_RATE (1ull << 30)
#define MIG_GUESS_MEMORY_RATE (4ull << 30)
/* How fast a destination checks and applies a stream when it leaves RESUMING at best: it cannot
 * be measured before the downtime, so the engine takes the rate of its own last memory copy (same
 * machine, same load) when it has one, capped by this. */
#define MIG_GUESS_LOAD_RATE (1ull << 30)

uint64_t mig_now_ns(void);

/* Bytes moved and the time it took, summed over a run. */
struct mig_meter {
	uint64_t bytes;
	uint64_t ns;
};

void mig_meter_add(struct mig_meter *m, uint64_t bytes, uint64_t ns);
/* Bytes per second measured, or fallback if too little was measured to say. */
uint64_t mig_meter_rate(const struct mig_meter *m, uint64_t fallback);
/* Nanoseconds to move bytes at rate bytes/s (rounded up; UINT64_MAX if rate is 0 and bytes
 * are not). */
uint64_t mig_transfer_ns(uint64_t bytes, uint64_t rate);
/* Whole milliseconds, rounded up. */
uint64_t mig_ns_to_ms(uint64_t ns);

/* What stop-copy would take now: the transfers, the destination's load of the stream and the
 * state changes, one after the other. */
struct mig_estimate_in {
	uint64_t device_bytes, device_rate;
	uint64_t memory_bytes, memory_rate;
	uint64_t load_bytes, load_rate;
	uint64_t fixed_ns;
};
uint64_t mig_estimate_ns(const struct mig_estimate_in *in);

/* The round policy. */
enum mig_next {
	MIG_NEXT_ROUND = 0, /* another round */
	MIG_NEXT_CONVERGED, /* the estimate fits the budget */
	MIG_NEXT_MAX_ROUNDS, /* the round limit */
	MIG_NEXT_STALLED, /* rounds stopped improving the estimate, or cannot move anything */
};

struct mig_plan {
	uint32_t max_rounds;
	uint64_t budget_ms;
	uint32_t rounds; /* rounds done */
	uint64_t best_ms; /* best estimate so far */
	uint32_t since_best; /* rounds since it improved */
};

void mig_plan_init(struct mig_plan *p, uint32_t max_rounds, uint64_t budget_ms);
/* A round ended with this estimate; can_move: whether another round could move anything
 * (pre-copy data or logged memory). Says what to do next. */
enum mig_next mig_plan_round(struct mig_plan *p, uint64_t estimate_ms, bool can_move);

/* Dirty bitmaps: bit n = page n of a range, 64 bits a word, little bit first. */
size_t mig_bitmap_words(uint64_t nbits);
uint64_t mig_bitmap_count(const uint64_t *bm, uint64_t nbits);
void mig_bitmap_or(uint64_t *dst, const uint64_t *src, size_t words);
/* The first run of set bits at or after pos: false if there is none. */
bool mig_bitmap_next_run(const uint64_t *bm, uint64_t nbits, uint64_t pos, uint64_t *start,
			 uint64_t *len);

/* State helpers shared by the engine and save/load. */
/* The device's state if it is one a migration can start from (RUNNING or STOP): 0, else
 * -EBUSY (or the error reading it). */
int mig_startable_state(struct uvfio_handle *h, uint32_t *state);
/* Every byte of buf to the current resuming session. */
int mig_write_all(struct uvfio_handle *h, const void *buf, size_t len);

#endif
