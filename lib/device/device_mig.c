/* SPDX-License-Identifier: MIT */
/*
 * A migratable device: the v2 state machine run over the driver's single-arc op, the data
 * sessions of each arc wrapped in the framed stream, quiescence enforced on the device's DMA
 * and interrupts, the client access rules of each state, DMA logging, and the features that
 * carry all of it (MIGRATION, MIG_DEVICE_STATE, MIG_DATA_SIZE, DMA_LOGGING_*).
 *
 * Locking: mig->lock serialises state changes, data reads/writes and precopy queries (they all
 * run on a transport's thread, so the lock is almost never contended). The state is mirrored
 * in an atomic for the access checks of the region and irq paths, which must not wait for an
 * arc in progress. The dirty log has its own lock-free marking (lib/dma/dirty.c).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <linux/vfio.h>

#include <uvfio/dma.h>
#include <uvfio/migration.h>

#include "device/device_priv.h"
#include "migration/feature_payloads.h"
#include "migration/stream_priv.h"
#include "dma/dirty.h"
#include "dma/gate.h"
#include "util/log.h"
#include "util/reason.h"
#include "util/vfio_compat.h"

struct device_mig {
	const struct uvfio_migration_ops *ops;
	struct uvfio_mig_identity id;
	char driver[UVFIO_MIG_DRIVER_NAME_MAX + 1];
	pthread_mutex_t lock;
	struct uvfio_mig_fsm fsm;
	uint32_t state; /* fsm.state for lock-free readers (atomic) */
	struct uvfio_mig_writer *writer; /* saving session */
	uint64_t initial_left; /* stream bytes of the initial PRE_COPY data not read yet */
	struct uvfio_mig_reader *reader; /* resuming session (kept allocated, reset per session) */
	size_t staged; /* sections of the stream being written handed to ops->stage */
	struct uvfio_dirty_log *log;
	char error[256];
};

static uint32_t state_of(struct device_mig *m)
{
	return __atomic_load_n(&m->state, __ATOMIC_ACQUIRE);
}

int uvfio_device_set_migration(struct uvfio_device *dev, const struct uvfio_migration_ops *ops,
			       const struct uvfio_mig_identity *id)
{
	if (!dev || !ops || !id || !id->driver || !ops->step || !ops->save || !ops->load ||
	    !uvfio_mig_flags_valid(ops->flags) || strlen(id->driver) > UVFIO_MIG_DRIVER_NAME_MAX)
		return -EINVAL;
	if (dev->mig)
		return -EBUSY;
	struct device_mig *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->ops = ops;
	m->id = *id;
	snprintf(m->driver, sizeof(m->driver), "%s", id->driver);
	m->id.driver = m->driver;
	m->id.state_version = ops->state_version;
	m->id.min_state_version = ops->min_state_version;
	int ret = uvfio_mig_fsm_init(&m->fsm, ops->flags);
	if (ret == 0)
		ret = uvfio_mig_reader_new(&m->id, &m->reader);
	if (ret == 0) {
		m->log = uvfio_dirty_log_new();
		if (!m->log)
			ret = -ENOMEM;
	}
	if (ret < 0) {
		uvfio_mig_reader_free(m->reader);
		free(m);
		return ret;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->state = m->fsm.state;
	dev->mig = m;
	dma_space_set_dirty_log(dev->dma, m->log);
	return 0;
}

void device_mig_free(struct uvfio_device *dev)
{
	struct device_mig *m = dev->mig;
	if (!m)
		return;
	dma_space_set_dirty_log(dev->dma, NULL);
	uvfio_dirty_log_free(m->log);
	uvfio_mig_writer_free(m->writer);
	uvfio_mig_reader_free(m->reader);
	pthread_mutex_destroy(&m->lock);
	free(m);
	dev->mig = NULL;
}

uint32_t uvfio_device_mig_state(struct uvfio_device *dev)
{
	return dev && dev->mig ? state_of(dev->mig) : UVFIO_MIG_STATE_RUNNING;
}

const char *uvfio_device_mig_error(struct uvfio_device *dev)
{
	return dev && dev->mig ? dev->mig->error : "";
}

/* The gates follow the state: closed where the uAPI forbids DMA and interrupts. */
static void set_gates(struct uvfio_device *dev, uint32_t state)
{
	bool quiet = !uvfio_mig_state_may_dma(state);
	uvfio_device_set_irq_blocked(dev, !uvfio_mig_state_may_irq(state));
	dma_space_set_blocked(dev->dma, quiet);
}

static void end_save(struct device_mig *m)
{
	uvfio_mig_writer_free(m->writer);
	m->writer = NULL;
	m->initial_left = 0;
}

static int final_save(struct uvfio_device *dev)
{
	struct device_mig *m = dev->mig;
	int ret = m->ops->save(dev, m->writer, true);
	if (ret == 0)
		ret = uvfio_mig_writer_end(m->writer);
	return ret;
}

static int open_save(struct uvfio_device *dev, uint32_t to)
{
	struct device_mig *m = dev->mig;
	int ret = uvfio_mig_writer_new(&m->id, &m->writer);
	if (ret < 0)
		return ret;
	if (to == UVFIO_MIG_STATE_STOP_COPY) {
		ret = final_save(dev);
	} else {
		ret = m->ops->save(dev, m->writer, false);
		m->initial_left = uvfio_mig_writer_pending(m->writer);
	}
	if (ret < 0)
		end_save(m);
	return ret;
}

/* The largest stream a destination takes: its own state's size (the source must match it) with
 * room for pre-copy sending pages again, never less than the reader's default. */
static uint64_t resume_limit(struct uvfio_device *dev)
{
	const uint64_t floor = 256ull << 20, slack = 64ull << 20;
	uint64_t payload = 0;

	if (!dev->mig->ops->data_size || dev->mig->ops->data_size(dev, &payload) < 0)
		return floor;
	if (payload > (UINT64_MAX - slack) / 4)
		return UINT64_MAX;
	uint64_t limit = 4 * payload + slack;
	return limit > floor ? limit : floor;
}

/* RESUMING -> STOP: the stream must be complete and verified, then the driver loads it. A
 * refusal leaves the device in RESUMING, its state untouched, ready for a new stream. */
static int commit_stream(struct uvfio_device *dev)
{
	struct device_mig *m = dev->mig;
	const struct uvfio_mig_section *sec = NULL;
	size_t nr = 0;

	struct timespec t0, t1, t2;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	int ret = uvfio_mig_reader_finish(m->reader);
	if (ret == 0)
		ret = uvfio_mig_reader_sections(m->reader, &sec, &nr);
	if (ret < 0) {
		snprintf(m->error, sizeof(m->error), "%s", uvfio_mig_reader_reason(m->reader));
	} else {
		ret = m->ops->load(dev, uvfio_mig_reader_state_version(m->reader), sec, nr);
		if (ret < 0)
			snprintf(m->error, sizeof(m->error), "the %s driver refused the state: %s",
				 m->driver, strerror(-ret));
	}
	if (ret < 0) {
		log_warn("%s: migration stream refused: %s", dev->name, m->error);
		reason_set("migration stream refused: %s", m->error);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	uvfio_mig_reader_reset(m->reader);
	m->staged = 0;
	clock_gettime(CLOCK_MONOTONIC, &t2);
	log_debug("%s: stream committed: check and load %ld us, freeing it %ld us", dev->name,
		  (long)((t1.tv_sec - t0.tv_sec) * 1000000 + (t1.tv_nsec - t0.tv_nsec) / 1000),
		  (long)((t2.tv_sec - t1.tv_sec) * 1000000 + (t2.tv_nsec - t1.tv_nsec) / 1000));
	return ret;
}

/*
 * One arc. Gates open before the driver's step when the new state allows DMA (its restarted
 * work must not be refused) and close after it otherwise (so work the step completes still
 * lands). Sessions are set up once the device is in `to`: STOP_COPY saves a quiesced device.
 */
static int mig_arc(void *opaque, uint32_t from, uint32_t to, bool *broken)
{
	struct uvfio_device *dev = opaque;
	struct device_mig *m = dev->mig;
	int action = uvfio_mig_arc_session(from, to);
	int ret;

	if (action == UVFIO_MIG_SESSION_COMMIT) {
		ret = commit_stream(dev);
		if (ret < 0)
			return ret;
	}
	bool opening = uvfio_mig_state_may_dma(to);
	if (opening)
		set_gates(dev, to);
	ret = m->ops->step(dev, from, to, broken);
	if (ret < 0 || *broken) {
		set_gates(dev, *broken ? UVFIO_MIG_STATE_ERROR : from);
		return ret < 0 ? ret : -EIO;
	}
	if (!opening)
		set_gates(dev, to);

	switch (action) {
	case UVFIO_MIG_SESSION_OPEN_SAVE:
		ret = open_save(dev, to);
		break;
	case UVFIO_MIG_SESSION_KEEP:
		if (to == UVFIO_MIG_STATE_STOP_COPY)
			ret = final_save(dev);
		break;
	case UVFIO_MIG_SESSION_END_SAVE:
		end_save(m);
		break;
	case UVFIO_MIG_SESSION_OPEN_RESUME:
		uvfio_mig_reader_reset(m->reader);
		m->staged = 0;
		uvfio_mig_reader_set_max_size(m->reader, resume_limit(dev));
		m->error[0] = '\0';
		break;
	default:
		break;
	}
	if (ret < 0) {
		/* The device moved but its session could not be set up: only a reset helps. */
		log_err("%s: migration session for %s -> %s failed: %s", dev->name,
			  uvfio_mig_state_name(from), uvfio_mig_state_name(to), strerror(-ret));
		end_save(m);
		*broken = true;
		set_gates(dev, UVFIO_MIG_STATE_ERROR);
		return ret;
	}
	__atomic_store_n(&m->state, to, __ATOMIC_RELEASE);
	return 0;
}

static int set_state(struct uvfio_device *dev, uint32_t target)
{
	struct device_mig *m = dev->mig;
	pthread_mutex_lock(&m->lock);
	uint32_t from = m->fsm.state;
	int ret = uvfio_mig_fsm_set_state(&m->fsm, target, mig_arc, dev, NULL);
	__atomic_store_n(&m->state, m->fsm.state, __ATOMIC_RELEASE);
	if (m->fsm.state == UVFIO_MIG_STATE_ERROR)
		end_save(m);
	pthread_mutex_unlock(&m->lock);
	if (ret < 0)
		log_info("%s: migration %s -> %s failed in %s: %s", dev->name,
			 uvfio_mig_state_name(from), uvfio_mig_state_name(target),
			 uvfio_mig_state_name(m->fsm.state), strerror(-ret));
	else
		log_debug("%s: migration %s -> %s", dev->name, uvfio_mig_state_name(from),
			  uvfio_mig_state_name(target));
	return ret;
}

void device_mig_end_session(struct uvfio_device *dev)
{
	if (!dev->mig)
		return;
	pthread_mutex_lock(&dev->mig->lock);
	end_save(dev->mig);
	pthread_mutex_unlock(&dev->mig->lock);
}

void device_mig_reset(struct uvfio_device *dev, bool closing)
{
	struct device_mig *m = dev->mig;
	if (!m)
		return;
	pthread_mutex_lock(&m->lock);
	end_save(m);
	uvfio_mig_reader_reset(m->reader);
	m->staged = 0;
	uvfio_mig_fsm_reset(&m->fsm);
	__atomic_store_n(&m->state, m->fsm.state, __ATOMIC_RELEASE);
	m->error[0] = '\0';
	/* What the device raised before the reset is gone with it. */
	irq_drop_deferred(dev);
	set_gates(dev, UVFIO_MIG_STATE_RUNNING);
	if (closing)
		uvfio_dirty_log_stop(m->log);
	pthread_mutex_unlock(&m->lock);
}

/* With m->lock held, in a saving state: in pre-copy, asks the driver for what it dirtied until
 * want bytes are queued or it has nothing more now (STOP_COPY saved everything on entry). */
static int top_up(struct uvfio_device *dev, size_t want)
{
	struct device_mig *m = dev->mig;

	if (m->fsm.state == UVFIO_MIG_STATE_STOP_COPY)
		return 0;
	while (uvfio_mig_writer_pending(m->writer) < want) {
		size_t before = uvfio_mig_writer_pending(m->writer);
		int ret = m->ops->save(dev, m->writer, false);
		if (ret < 0)
			return ret;
		if (uvfio_mig_writer_pending(m->writer) == before)
			break;
	}
	return 0;
}

static void consumed(struct device_mig *m, size_t n)
{
	m->initial_left -= n < m->initial_left ? n : m->initial_left;
}

/* Locks and checks that a saving session can be read; 0 with the lock held, or -errno. */
static int lock_saving(struct uvfio_device *dev, bool has_buf)
{
	if (!dev || !has_buf)
		return -EINVAL;
	if (!dev->mig)
		return -ENOTTY;
	pthread_mutex_lock(&dev->mig->lock);
	if (!dev->mig->writer || !uvfio_mig_state_saving(dev->mig->fsm.state)) {
		pthread_mutex_unlock(&dev->mig->lock);
		return -EINVAL;
	}
	return 0;
}

ssize_t uvfio_device_mig_data_read(struct uvfio_device *dev, void *buf, size_t len)
{
	int ret = lock_saving(dev, buf || !len);
	if (ret < 0)
		return ret;
	struct device_mig *m = dev->mig;
	ssize_t n = top_up(dev, len);
	if (n == 0) {
		n = uvfio_mig_writer_read(m->writer, buf, len);
		if (n == -ENOMSG)
			n = 0; /* pre-copy drained: more once the device dirties something */
	}
	if (n > 0)
		consumed(m, (size_t)n);
	pthread_mutex_unlock(&m->lock);
	return n;
}

ssize_t uvfio_device_mig_data_send(struct uvfio_device *dev, size_t len, uvfio_mig_send_fn send,
				   void *opaque)
{
	int ret = lock_saving(dev, send != NULL);
	if (ret < 0)
		return ret;
	struct device_mig *m = dev->mig;
	struct iovec *iov = NULL;
	size_t bytes = 0;
	ret = top_up(dev, len);
	if (ret == 0)
		ret = mig_writer_iov(m->writer, len, &iov, &bytes);
	if (ret > 0) {
		/* Under the lock: the iovecs point into the stream, which only we change. */
		ret = send(opaque, iov, ret, bytes);
		/* k > 0: the transport took the first k bytes; the rest stays for the next call. */
		if (ret > 0 && (size_t)ret < bytes)
			bytes = (size_t)ret;
		if (ret >= 0) {
			mig_writer_skip(m->writer, bytes);
			consumed(m, bytes);
			ret = 0;
		}
	}
	pthread_mutex_unlock(&m->lock);
	free(iov);
	return ret < 0 ? ret : (ssize_t)bytes;
}

/* Sections that passed their checks go to the driver as they arrive (it may copy them aside:
 * less to load in the downtime). */
static void stage_checked(struct uvfio_device *dev, struct device_mig *m)
{
	size_t nr = uvfio_mig_reader_nr_checked(m->reader);
	struct uvfio_mig_section sec;

	for (; m->staged < nr; m->staged++) {
		if (uvfio_mig_reader_checked(m->reader, m->staged, &sec) < 0)
			break;
		m->ops->stage(dev, m->staged, &sec);
	}
}

ssize_t uvfio_device_mig_data_write(struct uvfio_device *dev, const void *buf, size_t len)
{
	if (!dev || (len && !buf))
		return -EINVAL;
	if (!dev->mig)
		return -ENOTTY;
	struct device_mig *m = dev->mig;
	ssize_t n;

	pthread_mutex_lock(&m->lock);
	if (m->fsm.state != UVFIO_MIG_STATE_RESUMING)
		n = -EINVAL;
	else
		n = uvfio_mig_reader_write(m->reader, buf, len);
	if (n >= 0 && m->ops->stage)
		stage_checked(dev, m);
	if (n < 0 && m->fsm.state == UVFIO_MIG_STATE_RESUMING)
		snprintf(m->error, sizeof(m->error), "%s", uvfio_mig_reader_reason(m->reader));
	pthread_mutex_unlock(&m->lock);
	return n;
}

int uvfio_device_mig_precopy_info(struct uvfio_device *dev, uint64_t *initial_bytes,
				  uint64_t *dirty_bytes)
{
	if (!dev || !initial_bytes || !dirty_bytes)
		return -EINVAL;
	if (!dev->mig)
		return -ENOTTY;
	struct device_mig *m = dev->mig;
	uint64_t init = 0, dirty = 0;
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	uint32_t s = m->fsm.state;
	if (!m->writer ||
	    (s != UVFIO_MIG_STATE_PRE_COPY && s != UVFIO_MIG_STATE_PRE_COPY_P2P)) {
		ret = -EINVAL;
	} else {
		if (m->ops->precopy_info)
			ret = m->ops->precopy_info(dev, &init, &dirty);
		uint64_t queued = uvfio_mig_writer_pending(m->writer);
		uint64_t queued_init = queued < m->initial_left ? queued : m->initial_left;
		init += queued_init;
		dirty += queued - queued_init;
	}
	pthread_mutex_unlock(&m->lock);
	if (ret == 0) {
		*initial_bytes = init;
		*dirty_bytes = dirty;
	}
	return ret;
}

static int data_size(struct uvfio_device *dev, uint64_t *bytes)
{
	struct device_mig *m = dev->mig;
	uint64_t payload = 0;
	int ret = 0;

	pthread_mutex_lock(&m->lock);
	if (m->ops->data_size)
		ret = m->ops->data_size(dev, &payload);
	/* An estimate: framing for a few sections, plus what a session already queued. */
	uint64_t total = uvfio_mig_stream_size(4, payload);
	if (m->writer)
		total += uvfio_mig_writer_pending(m->writer);
	pthread_mutex_unlock(&m->lock);
	*bytes = total;
	return ret;
}

/* ---- access rules (docs/migration.md) ---- */

int device_mig_check_region(struct uvfio_device *dev, uint32_t index, bool is_write)
{
	if (!dev->mig)
		return 0;
	uint32_t s = state_of(dev->mig);
	if (s == UVFIO_MIG_STATE_ERROR)
		return refuse(EIO, "the device is in migration state ERROR (reset it)");
	if (!is_write)
		return 0;
	bool config = (dev->flags & UVFIO_DEVICE_FLAGS_PCI) && index == VFIO_PCI_CONFIG_REGION_INDEX;
	switch (s) {
	case UVFIO_MIG_STATE_STOP_COPY:
		/* The state is saved already: a write would be lost. */
		return refuse(EBUSY, "no writes in migration state STOP_COPY");
	case UVFIO_MIG_STATE_STOP:
	case UVFIO_MIG_STATE_RESUMING:
		/* A stopped device still answers config space (the uAPI's "external subsystems");
		 * its registers are frozen or about to be replaced. */
		return config ? 0 : refuse(EBUSY, "no register writes in migration state %s",
					   uvfio_mig_state_name(s));
	default:
		return 0;
	}
}

int device_mig_check_irqs(struct uvfio_device *dev)
{
	if (dev->mig && state_of(dev->mig) == UVFIO_MIG_STATE_ERROR)
		return -EIO;
	return 0;
}

/* ---- features ---- */

static int logging_start(struct uvfio_device *dev, const void *data, size_t len, void *out,
			 size_t *out_len)
{
	struct uvfio_feature_logging_control h;
	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, data, sizeof(h));
	if (h.num_ranges > UVFIO_DIRTY_MAX_RANGES)
		return -E2BIG;
	if (len != sizeof(h) + (size_t)h.num_ranges * sizeof(struct uvfio_dirty_range))
		return -EINVAL;
	struct uvfio_dirty_range *r = NULL;
	uint32_t nr = h.num_ranges;
	if (nr) {
		r = malloc(nr * sizeof(*r));
		if (!r)
			return -ENOMEM;
		memcpy(r, (const uint8_t *)data + sizeof(h), nr * sizeof(*r));
	} else {
		/* No ranges: what is mapped now (vfio-user's "all"). */
		int n = dma_space_ranges(dev->dma, &r);
		if (n < 0)
			return n;
		if (n == 0)
			return -EINVAL;
		nr = (uint32_t)n;
	}
	uint64_t page_size = h.page_size;
	int ret = uvfio_dirty_log_start(dev->mig->log, r, nr, &page_size);
	free(r);
	if (ret < 0)
		return ret;
	if (out && out_len && *out_len >= sizeof(h)) {
		h.page_size = page_size;
		memcpy(out, &h, sizeof(h));
	}
	log_debug("%s: DMA logging started, %u ranges, page size %llu", dev->name, nr,
		  (unsigned long long)page_size);
	return 0;
}

static int logging_report(struct uvfio_device *dev, const void *data, size_t len, void *out,
			  size_t *out_len)
{
	struct uvfio_feature_logging_report h;
	if (len < sizeof(h))
		return -EINVAL;
	memcpy(&h, data, sizeof(h));
	if (h.page_size < 4096 || (h.page_size & (h.page_size - 1)) || h.length == 0 ||
	    h.length % h.page_size)
		return -EINVAL;
	uint64_t words = (h.length / h.page_size + 63) / 64;
	if (words > (SIZE_MAX - sizeof(h)) / 8 || *out_len < sizeof(h) + words * 8)
		return -ENOSPC;
	uint64_t *bitmap = calloc(words, sizeof(uint64_t));
	if (!bitmap)
		return -ENOMEM;
	int ret = uvfio_dirty_log_report(dev->mig->log, h.iova, h.length, h.page_size, bitmap);
	if (ret == 0) {
		memcpy(out, &h, sizeof(h));
		memcpy((uint8_t *)out + sizeof(h), bitmap, words * 8);
		*out_len = sizeof(h) + words * 8;
	}
	free(bitmap);
	return ret;
}

/* The GET/SET each feature supports. */
static uint32_t feature_ops(uint32_t feature)
{
	switch (feature) {
	case VFIO_DEVICE_FEATURE_MIGRATION:
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE:
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		return VFIO_DEVICE_FEATURE_GET;
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
		return VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
		return VFIO_DEVICE_FEATURE_SET;
	default:
		return 0;
	}
}

static int put_out(void *out, size_t *out_len, const void *val, size_t size)
{
	if (!out || !out_len || *out_len < size)
		return -EINVAL;
	memcpy(out, val, size);
	*out_len = size;
	return 0;
}

int device_mig_feature(struct uvfio_device *dev, uint32_t flags, const void *data, size_t len,
		       void *out, size_t *out_len)
{
	uint32_t feature = flags & VFIO_DEVICE_FEATURE_MASK;
	uint32_t supported = feature_ops(feature);
	uint32_t asked = flags & (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET);

	if (!dev->mig || !supported)
		return -ENOTTY;
	/* vfio_check_feature(): asking for an op the feature lacks is -EINVAL, probe or not. */
	if (!asked || (asked & ~supported))
		return -EINVAL;
	if (flags & VFIO_DEVICE_FEATURE_PROBE)
		return 0;
	bool get = asked == VFIO_DEVICE_FEATURE_GET;
	struct device_mig *m = dev->mig;

	switch (feature) {
	case VFIO_DEVICE_FEATURE_MIGRATION: {
		uint64_t f = m->ops->flags;
		return put_out(out, out_len, &f, sizeof(f));
	}
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE: {
		struct uvfio_feature_mig_state st;
		if (!get) {
			if (len < sizeof(st))
				return -EINVAL;
			memcpy(&st, data, sizeof(st));
			int ret = set_state(dev, st.device_state);
			if (ret < 0)
				return ret;
		}
		st.device_state = state_of(m);
		st.data_fd = -1; /* vfio-user carries the data in MIG_DATA_READ/WRITE */
		if (!get && (!out || !out_len || *out_len < sizeof(st)))
			return 0;
		return put_out(out, out_len, &st, sizeof(st));
	}
	case VFIO_DEVICE_FEATURE_MIG_DATA_SIZE: {
		uint64_t bytes;
		int ret = data_size(dev, &bytes);
		return ret < 0 ? ret : put_out(out, out_len, &bytes, sizeof(bytes));
	}
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
		return logging_start(dev, data, len, out, out_len);
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP:
		return uvfio_dirty_log_stop(m->log);
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		if (!out || !out_len)
			return -EINVAL;
		return logging_report(dev, data, len, out, out_len);
	default:
		return -ENOTTY;
	}
}
