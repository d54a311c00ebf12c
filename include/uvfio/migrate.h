/* SPDX-License-Identifier: MIT */
/*
 * The client side of a live migration: one call that moves a running device and the guest
 * memory it DMAs into from a source to a destination, as a VMM does.
 *
 * Why a library call: a vfio-user server resets its device when the client disconnects, and the
 * client owns the memory the device writes. A running device therefore only exists while its
 * client is connected, so the program that drives the device (the VMM) also drives its
 * migration. The two IOAS objects stand for the memory of the two hosts: each holds its own
 * mappings at the same IOVAs, and src_ioas / dst_ioas are attached to src / dst.
 *
 * What uvfio_migrate() does:
 *   1. checks that both devices migrate (STOP_COPY) and puts the destination in RESUMING;
 *   2. starts DMA logging on the source over opts->ranges and copies that memory once;
 *   3. rounds while the source runs: device data (PRE_COPY, if both sides have it and
 *      opts->no_precopy is false) streamed to the destination, pages the device dirtied copied
 *      again, until the estimated stop time fits opts->max_downtime_ms at the measured rates
 *      (or opts->max_rounds);
 *   4. STOP_COPY: the last dirty pages and the final device data; the destination loads the
 *      stream (RESUMING -> STOP verifies it) and goes to opts->final_state; the source ends in
 *      STOP; logging is stopped.
 * If anything fails (the destination refuses the stream, its connection breaks: -ECONNRESET,
 * -EPIPE, a callback cancels), the source is walked back to the state it started in (RUNNING),
 * logging is stopped and the error returned: the source keeps running as if nothing happened.
 * The destination is left where it failed (usually RESUMING; uvfio_reset() brings it back to
 * RUNNING). A gone peer never raises SIGPIPE (the vfio-user transport sends with MSG_NOSIGNAL).
 *
 * The estimate: remaining device bytes (MIG_DATA_SIZE) at the device data rate measured so far,
 * plus dirty memory at the last memory copy's rate, plus the destination's load of the whole
 * stream at the last memory copy's rate (at most 1 GiB/s; 1 GiB/s when no memory was
 * copied), plus the state changes at the cost measured for the
 * destination's arcs into RESUMING. Rounds also end when the estimate has not improved for 5
 * rounds (the device dirties as fast as we copy). A source that is stopped, or that has neither
 * DMA logging nor PRE_COPY, gets no rounds: everything moves in the downtime.
 *
 * A device that serialises a large state when it enters STOP_COPY may need a longer reply
 * timeout than the default (uvfio_set_msg_timeout()).
 *
 * Memory written by the CPU (the guest's vCPUs) is not tracked here: only device DMA is logged.
 * A VMM with running vCPUs adds its own dirty tracking on top; uvfio's callers have none.
 */
#ifndef UVFIO_MIGRATE_H
#define UVFIO_MIGRATE_H

#include <uvfio/client.h>
#include <uvfio/migration.h>

UVFIO_BEGIN_DECLS

enum uvfio_migrate_phase {
	UVFIO_MIGRATE_PRECOPY = 1, /* a round while the source runs */
	UVFIO_MIGRATE_STOPCOPY, /* the source is stopped: downtime */
	UVFIO_MIGRATE_DONE, /* the destination is in its final state */
};

/* What the progress callback gets, after the initial copy and after each round. */
struct uvfio_migrate_progress {
	enum uvfio_migrate_phase phase;
	uint32_t round; /* 1 = the initial copy of memory and device data */
	uint64_t device_bytes; /* stream bytes moved so far */
	uint64_t memory_bytes; /* guest memory bytes copied so far */
	uint64_t rate; /* bytes per second, device and memory together, over the whole run */
	uint64_t remaining_bytes; /* what stop-copy would still move now */
	uint64_t estimate_ms; /* how long stop-copy would take now */
};

/* Return 0 to go on; anything else cancels the migration (uvfio_migrate returns -ECANCELED, or
 * the negative value returned). Called on the caller's thread: with PRECOPY after each round,
 * once with STOPCOPY just before the source stops (still cancellable), and with DONE once the
 * destination is in its final state (the return value is then ignored). */
typedef int (*uvfio_migrate_progress_fn)(const struct uvfio_migrate_progress *p, void *opaque);

struct uvfio_migrate_opts {
	/* Guest memory to move: each range must lie in one mapping of both IOAS objects. May be
	 * empty (a device without DMA). */
	const struct uvfio_dirty_range *ranges;
	uint32_t nr_ranges;
	/* Downtime budget the rounds aim for (0: 300 ms). */
	uint32_t max_downtime_ms;
	/* Rounds before stop-copy whatever the estimate (0: 30; 1: stop right after the initial
	 * copy; at most UVFIO_MIGRATE_MAX_ROUNDS). */
	uint32_t max_rounds;
	/* Don't use the device's PRE_COPY state even if both sides support it: its data then all
	 * moves during the downtime (memory still moves in rounds). */
	bool no_precopy;
	/* The destination's state at the end: RUNNING (0 means RUNNING) or STOP (to inspect it
	 * before it runs; a later uvfio_mig_set_state(dst, RUNNING) starts it). */
	uint32_t final_state;
	/* Size of each read of device data (0: 4 MiB). */
	size_t chunk_size;
	uvfio_migrate_progress_fn progress;
	void *opaque;
};

#define UVFIO_MIGRATE_MAX_ROUNDS 64

struct uvfio_migrate_round {
	uint64_t device_bytes; /* stream bytes moved in this round */
	uint64_t dirty_pages; /* pages found dirty (round 1: every page of the ranges) */
	uint64_t memory_bytes;
	uint64_t duration_ns;
	uint64_t remaining_bytes; /* estimate at the end of the round */
	uint64_t estimate_ms;
};

struct uvfio_migrate_stats {
	uint32_t rounds; /* rounds before stop-copy (0: none, see above) */
	bool precopy; /* the device's PRE_COPY state was used */
	bool converged; /* the estimate fit the budget (false: max_rounds ended the rounds) */
	bool dirty_logging; /* the source logged DMA (else all memory moved during downtime) */
	uint64_t page_size; /* dirty tracking granularity */
	uint64_t device_bytes; /* total stream bytes */
	uint64_t precopy_device_bytes; /* of which before the source stopped */
	uint64_t memory_bytes; /* total guest memory bytes copied */
	uint64_t stopcopy_memory_bytes; /* of which during downtime */
	uint64_t total_ns; /* the whole call */
	uint64_t downtime_ns; /* source left its running state .. destination in final_state */
	uint64_t budget_ms; /* the max_downtime_ms used */
	uint64_t estimate_ms; /* the last estimate before stopping */
	uint32_t src_state, dst_state; /* states at return (ERROR if they could not be read) */
	/* The first min(rounds, UVFIO_MIGRATE_MAX_ROUNDS) rounds. */
	struct uvfio_migrate_round round[UVFIO_MIGRATE_MAX_ROUNDS];
};

/*
 * Migrates src (RUNNING, or STOP for a device already stopped) to dst (RUNNING or STOP, i.e.
 * fresh or stopped, never mid-session). opts NULL: defaults with no memory. st may be NULL; it
 * is filled on failure too (states, bytes so far). Errors: -ENOTTY either device is not
 * migratable, -EBUSY a device is in a state that cannot start, -EINVAL bad options or a range
 * outside the IOAS mappings, -EPROTO the devices' migration features differ in a way that
 * matters, else the error of the step that failed (the destination's refusal of the stream is
 * the errno of its RESUMING -> STOP: -EBADMSG, -ENODATA, -ENODEV, -EPROTONOSUPPORT, -EINVAL).
 */
UVFIO_API int uvfio_migrate(struct uvfio_handle *src, struct uvfio_ioas *src_ioas,
			    struct uvfio_handle *dst, struct uvfio_ioas *dst_ioas,
			    const struct uvfio_migrate_opts *opts, struct uvfio_migrate_stats *st);

/*
 * The same stream, to or from something else than a device (a file: uvfio save / load).
 * save: h goes to STOP_COPY (from RUNNING or STOP), the whole stream is handed to write_fn in
 * pieces, then h goes to STOP. On failure h is walked back to the state it started in.
 * Returns the number of stream bytes or -errno (write_fn's error if it failed).
 */
typedef int (*uvfio_migrate_write_fn)(void *opaque, const void *buf, size_t len);
UVFIO_API int64_t uvfio_migrate_save(struct uvfio_handle *h, uvfio_migrate_write_fn write_fn,
				     void *opaque);
/*
 * load: h goes to RESUMING (from RUNNING or STOP), gets the len bytes of buf, goes to STOP
 * (the device verifies and loads the stream) and then to final_state (0: RUNNING). On a refusal
 * h is left in RESUMING with its old state untouched and the device's errno is returned (see
 * uvfio_migrate()); uvfio_migrate_strerror() says what it means.
 */
UVFIO_API int uvfio_migrate_load(struct uvfio_handle *h, const void *buf, size_t len,
				 uint32_t final_state);

/* A sentence for an error of uvfio_migrate/_save/_load ("the stream is truncated", ...). */
UVFIO_API const char *uvfio_migrate_strerror(int err);

UVFIO_END_DECLS

#endif
