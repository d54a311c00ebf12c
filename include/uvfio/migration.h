/* SPDX-License-Identifier: MIT */
/*
 * Migration, the v2 uAPI of Linux VFIO: states and feature flags with the kernel's numbers, the
 * state machine (one table, the kernel's, with its skip rule for unsupported optional states and
 * a guard against the ERROR loop the kernel once had), the data-session rules of each arc, the
 * ops a migratable driver fills, and the framed stream uvfio wraps each driver's data in.
 *
 * Drivers implement single arcs only; the walker below turns a request for a final state into
 * the shortest path of arcs. Saving states (PRE_COPY, PRE_COPY_P2P, STOP_COPY) are only ever its
 * ends, except that a path starting in the saving group may stay in it (one session:
 * PRE_COPY -> PRE_COPY_P2P -> STOP_COPY).
 */
#ifndef UVFIO_MIGRATION_H
#define UVFIO_MIGRATION_H

#include <sys/uio.h>

#include <uvfio/common.h>

UVFIO_BEGIN_DECLS

struct uvfio_device;

/* enum vfio_device_mig_state. */
enum uvfio_mig_state {
	UVFIO_MIG_STATE_ERROR = 0,
	UVFIO_MIG_STATE_STOP = 1,
	UVFIO_MIG_STATE_RUNNING = 2,
	UVFIO_MIG_STATE_STOP_COPY = 3,
	UVFIO_MIG_STATE_RESUMING = 4,
	UVFIO_MIG_STATE_RUNNING_P2P = 5,
	UVFIO_MIG_STATE_PRE_COPY = 6,
	UVFIO_MIG_STATE_PRE_COPY_P2P = 7,
	UVFIO_MIG_STATE_NR = 8,
};

/* VFIO_MIGRATION_* of struct vfio_device_feature_migration. STOP_COPY is always required. */
#define UVFIO_MIGRATION_STOP_COPY (1u << 0)
#define UVFIO_MIGRATION_P2P (1u << 1)
#define UVFIO_MIGRATION_PRE_COPY (1u << 2)

/* Longest path the walker takes (the kernel table's longest is 4 arcs: PRE_COPY->RESUMING). */
#define UVFIO_MIG_MAX_ARCS 8

/* "STOP_COPY", ... or "?" for an out-of-range value. */
UVFIO_API const char *uvfio_mig_state_name(uint32_t state);
/* Whether flags is one of the four combinations the kernel defines. */
UVFIO_API bool uvfio_mig_flags_valid(uint32_t flags);
/* Whether a device with these flags has this state (ERROR is never "supported": it cannot be
 * requested). */
UVFIO_API bool uvfio_mig_state_supported(uint32_t flags, uint32_t state);
/* Whether from->to is an arc a driver with these flags implements (the uAPI's list). */
UVFIO_API bool uvfio_mig_arc_valid(uint32_t flags, uint32_t from, uint32_t to);

/*
 * vfio_mig_get_next_state(): the next single arc from cur towards target. -EINVAL if flags is
 * not a defined combination, cur or target is unsupported (ERROR included), or target cannot be
 * reached (STOP_COPY -> PRE_COPY(_P2P)). cur == target gives next = cur.
 */
UVFIO_API int uvfio_mig_next_state(uint32_t flags, uint32_t cur, uint32_t target, uint32_t *next);

/*
 * One arc, done by the driver. Return 0 when the device is in `to`, or -errno when the arc
 * failed: the device is then still in `from`, unless the callback sets *broken because the
 * device is left unusable, which puts it in ERROR (only a reset leaves ERROR).
 */
typedef int (*uvfio_mig_step_fn)(void *opaque, uint32_t from, uint32_t to, bool *broken);

struct uvfio_mig_arc {
	uint8_t from, to;
};

/* The arcs a walk completed (a failed arc is not listed). */
struct uvfio_mig_path {
	unsigned nr_arcs;
	struct uvfio_mig_arc arcs[UVFIO_MIG_MAX_ARCS];
};

/*
 * Walks *state to target, one uvfio_mig_next_state() arc at a time, calling step for each.
 * On success *state == target. On failure *state is where the device is: the start of the
 * failed arc, or ERROR if step said so; the path is validated before the first arc, so a request
 * that cannot succeed (-EINVAL) calls step never. path may be NULL.
 */
UVFIO_API int uvfio_mig_walk(uint32_t flags, uint32_t *state, uint32_t target,
			     uvfio_mig_step_fn step, void *opaque, struct uvfio_mig_path *path);

/* What an arc does to the data session (the data_fd of VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE). */
enum uvfio_mig_session_action {
	UVFIO_MIG_SESSION_NONE = 0, /* no session involved */
	UVFIO_MIG_SESSION_OPEN_SAVE, /* RUNNING->PRE_COPY, RUNNING_P2P->PRE_COPY_P2P, STOP->STOP_COPY */
	UVFIO_MIG_SESSION_OPEN_RESUME, /* STOP->RESUMING */
	UVFIO_MIG_SESSION_KEEP, /* PRE_COPY<->PRE_COPY_P2P, PRE_COPY(_P2P)->STOP_COPY: same session */
	UVFIO_MIG_SESSION_END_SAVE, /* STOP_COPY->STOP, PRE_COPY->RUNNING, PRE_COPY_P2P->RUNNING_P2P */
	UVFIO_MIG_SESSION_COMMIT, /* RESUMING->STOP: load what was written; may fail */
};
/* The action of arc from->to, or -EINVAL if it is no arc of any feature set. */
UVFIO_API int uvfio_mig_arc_session(uint32_t from, uint32_t to);

/* Whether a state carries a saving session (PRE_COPY, PRE_COPY_P2P, STOP_COPY). */
UVFIO_API bool uvfio_mig_state_saving(uint32_t state);
/* The quiescence rules of the uAPI for the device core's gates: whether a device may initiate
 * DMA / raise interrupts in a state. Yes in RUNNING, PRE_COPY and their P2P variants (uvfio
 * devices only reach the client's memory, never a peer's, so P2P quiescence stops nothing);
 * no in STOP, STOP_COPY, RESUMING, ERROR. */
UVFIO_API bool uvfio_mig_state_may_dma(uint32_t state);
UVFIO_API bool uvfio_mig_state_may_irq(uint32_t state);

/*
 * A state machine instance: the device core keeps one per migratable device. It starts in
 * RUNNING; uvfio_mig_fsm_reset() (DEVICE_RESET) brings it back there from any state, ERROR
 * included, and ends any session.
 */
enum uvfio_mig_session {
	UVFIO_MIG_NO_SESSION = 0,
	UVFIO_MIG_SAVING,
	UVFIO_MIG_RESUMING,
};

struct uvfio_mig_fsm {
	uint32_t flags;
	uint32_t state;
	enum uvfio_mig_session session;
};

/* -EINVAL if flags is not a defined combination. */
UVFIO_API int uvfio_mig_fsm_init(struct uvfio_mig_fsm *fsm, uint32_t flags);
/* uvfio_mig_walk() on fsm->state, keeping fsm->session in step with the arcs walked. */
UVFIO_API int uvfio_mig_fsm_set_state(struct uvfio_mig_fsm *fsm, uint32_t target,
				      uvfio_mig_step_fn step, void *opaque,
				      struct uvfio_mig_path *path);
UVFIO_API void uvfio_mig_fsm_reset(struct uvfio_mig_fsm *fsm);

/* ---- the framed stream ---- */

/*
 * Layout (little-endian): a header (magic "UVFIOMIG", format version, header length, a CRC of
 * those; vendor/device/subvendor/subdevice, driver name, driver state version, a CRC of the
 * whole header), then sections (id != 0, length, a check of the data (XXH3), CRC32 of the
 * section header, the data), then an end marker (id 0, the number of sections, a check over
 * every header before it). See lib/core/mig_stream.c.
 */
#define UVFIO_MIG_FORMAT_VERSION 2
#define UVFIO_MIG_DRIVER_NAME_MAX 31
#define UVFIO_MIG_HEADER_SIZE 64
#define UVFIO_MIG_SECTION_HEADER_SIZE 24

/* Who a stream belongs to. A reader accepts state versions min_state_version..state_version. */
struct uvfio_mig_identity {
	uint16_t vendor, device, subvendor, subdevice;
	const char *driver; /* at most UVFIO_MIG_DRIVER_NAME_MAX bytes */
	uint32_t state_version;
	uint32_t min_state_version; /* reader only */
};

struct uvfio_mig_section {
	uint32_t id;
	size_t len;
	const void *data;
};

/* Bytes a stream with nr sections of payload bytes in total takes (for MIG_DATA_SIZE). */
UVFIO_API uint64_t uvfio_mig_stream_size(size_t nr_sections, uint64_t payload);

/* Writer: builds the stream into a buffer the saving side drains with read(). */
struct uvfio_mig_writer;
/* Writes the header. -EINVAL for a bad identity (no/too long driver name). */
UVFIO_API int uvfio_mig_writer_new(const struct uvfio_mig_identity *id,
				   struct uvfio_mig_writer **out);
UVFIO_API void uvfio_mig_writer_free(struct uvfio_mig_writer *w);
/* Appends one section (its data copied). -EINVAL for id 0 (the end marker's) or after end;
 * -ENOMEM (the stream is then as it was). */
UVFIO_API int uvfio_mig_writer_section(struct uvfio_mig_writer *w, uint32_t id, const void *data,
				       size_t len);
/* One section gathered from pieces. A piece with by_ref is not copied: the writer keeps the
 * pointer, so those bytes must stay unchanged until the stream was read past them or the writer
 * is freed. That suits frozen device memory in STOP_COPY (large states cost no copy and no
 * buffer); data that may still change (PRE_COPY) must be copied. Large by-reference data is
 * hashed by a worker thread while the stream is read, so adding it returns at once. */
struct uvfio_mig_piece {
	const void *data;
	size_t len;
	bool by_ref;
};
UVFIO_API int uvfio_mig_writer_section_pieces(struct uvfio_mig_writer *w, uint32_t id,
					      const struct uvfio_mig_piece *pieces, size_t nr);
/* Appends the end marker; nothing can be added after it. */
UVFIO_API int uvfio_mig_writer_end(struct uvfio_mig_writer *w);
/* Bytes written but not yet read. */
UVFIO_API size_t uvfio_mig_writer_pending(const struct uvfio_mig_writer *w);
/* Copies out up to len bytes. 0: end of stream (ended and drained); -ENOMSG: nothing to read
 * now but the stream goes on (the pre-copy "temporary end of stream"). */
UVFIO_API ssize_t uvfio_mig_writer_read(struct uvfio_mig_writer *w, void *buf, size_t len);

/*
 * Reader: takes the stream in pieces of any size and validates as it goes; sections are handed
 * out only once the end marker and every checksum were verified, so nothing reaches the device
 * before the whole stream is known good. The first error sticks until reset. Errors:
 *   -ENODEV          another device (the reason names both identities)
 *   -EPROTONOSUPPORT newer format version, or a driver state version outside the accepted range
 *   -EBADMSG         a checksum does not match (corruption)
 *   -ENODATA         the stream ended early (finish() before the end marker)
 *   -EINVAL          malformed: not a uvfio stream, bad lengths, bytes after the end marker
 *   -EFBIG           the stream exceeds the reader's size limit
 */
struct uvfio_mig_reader;
UVFIO_API int uvfio_mig_reader_new(const struct uvfio_mig_identity *expect,
				   struct uvfio_mig_reader **out);
UVFIO_API void uvfio_mig_reader_free(struct uvfio_mig_reader *r);
/* Forgets the stream (and any error): ready for a new one. */
UVFIO_API void uvfio_mig_reader_reset(struct uvfio_mig_reader *r);
/* Largest stream accepted (default 256 MiB). */
UVFIO_API void uvfio_mig_reader_set_max_size(struct uvfio_mig_reader *r, uint64_t max);
/* Consumes all of buf (returns len) or fails with one of the errors above. */
UVFIO_API ssize_t uvfio_mig_reader_write(struct uvfio_mig_reader *r, const void *buf, size_t len);
/* The writer is done: 0 if a complete, verified stream was received, else the error. */
UVFIO_API int uvfio_mig_reader_finish(struct uvfio_mig_reader *r);
/* The verified sections in stream order, valid until reset/free; -ENODATA if not complete,
 * or the sticky error. */
UVFIO_API int uvfio_mig_reader_sections(struct uvfio_mig_reader *r,
					const struct uvfio_mig_section **sections, size_t *nr);
/* While the stream arrives: how many sections so far passed their own check (header accepted,
 * section header and data checksums verified), and section i of those, its data valid until
 * the next write, reset or free. What the whole stream will be is only known at the end: such
 * a section may still belong to a stream that is refused. -ENODATA for i out of range, the
 * sticky error after one. */
UVFIO_API size_t uvfio_mig_reader_nr_checked(const struct uvfio_mig_reader *r);
UVFIO_API int uvfio_mig_reader_checked(const struct uvfio_mig_reader *r, size_t i,
				       struct uvfio_mig_section *out);
/* The driver state version of the stream (valid once its header was accepted). */
UVFIO_API uint32_t uvfio_mig_reader_state_version(const struct uvfio_mig_reader *r);
/* Why the last error happened ("" if none). */
UVFIO_API const char *uvfio_mig_reader_reason(const struct uvfio_mig_reader *r);

/* ---- what a migratable driver fills ---- */
struct uvfio_migration_ops {
	uint32_t flags; /* UVFIO_MIGRATION_*: a defined combination */
	uint32_t state_version; /* version of the state save() writes */
	uint32_t min_state_version; /* oldest version load() still understands */
	/* Exactly one arc (see uvfio_mig_step_fn). Quiesce on entering STOP-like states. A device
	 * reset (DEVICE_RESET, or the client going away) returns the state machine to RUNNING
	 * without arcs: the driver's uvfio_device_ops.reset must leave the device running. */
	int (*step)(struct uvfio_device *dev, uint32_t from, uint32_t to, bool *broken);
	/* Saving session: append state as sections (ids != 0 of the driver's choosing). Called with
	 * final=false in PRE_COPY states (initial and dirtied data) and once with final=true in
	 * STOP_COPY (everything not yet saved). The core writes header and end marker. */
	int (*save)(struct uvfio_device *dev, struct uvfio_mig_writer *w, bool final);
	/* RESUMING->STOP with a verified stream: sections in stream order. An error fails the arc. */
	int (*load)(struct uvfio_device *dev, uint32_t state_version,
		    const struct uvfio_mig_section *sections, size_t nr);
	/* PRE_COPY: initial bytes not yet saved, bytes dirtied since (NULL: both 0). */
	int (*precopy_info)(struct uvfio_device *dev, uint64_t *initial_bytes,
			    uint64_t *dirty_bytes);
	/* MIG_DATA_SIZE: payload bytes STOP_COPY will still save (NULL: unknown, 0). */
	int (*data_size)(struct uvfio_device *dev, uint64_t *stop_copy_bytes);
	/* Optional, RESUMING: section index of the stream being written passed its own check
	 * (uvfio_mig_reader_checked), in order, each once; index 0 starts a new stream. The driver
	 * may copy it aside so load() has less to do inside the downtime, but must not change the
	 * device: the stream can still be refused, and load() still gets every section and
	 * decides. */
	void (*stage)(struct uvfio_device *dev, size_t index, const struct uvfio_mig_section *sec);
};

/* ---- device side: what the device core does with those ops ---- */

/*
 * Makes dev migratable (before it is served): the core then answers the MIGRATION,
 * MIG_DEVICE_STATE, MIG_DATA_SIZE and DMA_LOGGING_* features itself, runs the FSM with ops->step
 * for each arc, wraps save()/load() in the framed stream (identity from the PCI IDs and the
 * driver name), and enforces quiescence: in a state where uvfio_mig_state_may_dma() is false
 * uvfio_dma_read/write/get fail with -EPERM without touching memory (arcs into such a state wait
 * for DMA calls in progress to return), and interrupts are deferred (pending) until a state
 * that allows them. ops must outlive dev. -EINVAL: flags not a defined combination, or
 * step/save/load missing.
 */
UVFIO_API int uvfio_device_set_migration(struct uvfio_device *dev,
					 const struct uvfio_migration_ops *ops,
					 const struct uvfio_mig_identity *id);
/* Current state (RUNNING for a device that is not migratable). */
UVFIO_API uint32_t uvfio_device_mig_state(struct uvfio_device *dev);
/* Transport entry points (vfio-user MIG_DATA_READ / MIG_DATA_WRITE, or a test). A device that
 * is not migratable: -ENOTTY (these and uvfio_device_mig_precopy_info).
 * read: in PRE_COPY(_P2P) and STOP_COPY only (-EINVAL elsewhere); returns bytes copied; 0 means
 * no more data now (PRE_COPY: until more is dirtied; STOP_COPY: end of stream).
 * write: in RESUMING only (-EINVAL elsewhere); consumes all of len or fails with the stream
 * reader's error (the stream is then refused at RESUMING->STOP and the device keeps its state). */
UVFIO_API ssize_t uvfio_device_mig_data_read(struct uvfio_device *dev, void *buf, size_t len);
UVFIO_API ssize_t uvfio_device_mig_data_write(struct uvfio_device *dev, const void *buf,
					      size_t len);
/* The zero-copy form of uvfio_device_mig_data_read(), for transports: the next min(len, what
 * there is now) stream bytes, topped up from the driver in pre-copy like a read, are handed to
 * send as iovecs pointing into the stream (device memory passed by reference included), and
 * consumed if send returns 0 (all of them) or k with 0 < k < bytes (only the first k: the rest
 * is what the next call hands out first; a transport that cannot wait for its socket sends the
 * rest of a reply that way). A negative return is returned and nothing is consumed. send runs
 * with the device's migration lock held and must not call back into the device. Returns the
 * bytes consumed; 0 means no data now (PRE_COPY) or the end of the stream (STOP_COPY), and send
 * is then not called. */
typedef int (*uvfio_mig_send_fn)(void *opaque, const struct iovec *iov, int nr, size_t bytes);
UVFIO_API ssize_t uvfio_device_mig_data_send(struct uvfio_device *dev, size_t len,
					     uvfio_mig_send_fn send, void *opaque);
/* VFIO_MIG_GET_PRECOPY_INFO: in PRE_COPY(_P2P) only (-EINVAL elsewhere). Bytes already queued
 * in the stream count as initial (before the initial data was all read) or dirty. */
UVFIO_API int uvfio_device_mig_precopy_info(struct uvfio_device *dev, uint64_t *initial_bytes,
					    uint64_t *dirty_bytes);
/* Why the last RESUMING->STOP was refused ("" if it was not). */
UVFIO_API const char *uvfio_device_mig_error(struct uvfio_device *dev);

/* DMA logging ranges (VFIO_DEVICE_FEATURE_DMA_LOGGING_START's struct
 * vfio_device_feature_dma_logging_range). */
struct uvfio_dirty_range {
	uint64_t iova;
	uint64_t length;
};

/* A driver that writes guest memory through a uvfio_dma_get() pointer it keeps declares the
 * bytes it wrote here (uvfio_dma_put() of a WRITE ref marks its whole range by itself). */
UVFIO_API void uvfio_dma_mark_dirty(struct uvfio_device *dev, uint64_t iova, size_t len);

UVFIO_END_DECLS

#endif
