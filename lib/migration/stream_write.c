/* SPDX-License-Identifier: MIT */
/*
 * The framed migration stream. All integers little-endian.
 *
 * Header (64 bytes in format 2):
 *   0  magic "UVFIOMIG"      8  u16 format version   10 u16 header length (>= 64)
 *   12 u32 CRC32 of bytes 0..11 (so version and length are trusted before they are used)
 *   16 u16 vendor, device, subvendor, subdevice      24 u32 driver state version
 *   28 char driver[32], NUL-padded                   hdr_len-4: u32 CRC32 of the header before it
 * Section header (24 bytes), then `length` bytes of data:
 *   0 u32 id (!= 0)  4 u32 flags (0)  8 u64 length  16 u32 data check  20 u32 CRC32 of 0..19
 *   The data check is the low half of the data's XXH3-64 (xxhash): a full pass over gigabytes of
 *   device memory at memory speed, where CRC32 ran at a third of it.
 * End marker: a section header with id 0, length = number of sections, data check = the low
 * half of XXH3-64 over the header and every section header before the marker. Those carry the
 * data checks, so dropped, reordered or spliced sections are caught without hashing the data
 * a second time.
 *
 * Format 1 (CRC32 data checks, the end marker over every byte) is no longer produced or read.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <xxhash.h>
#include <zlib.h>

#include <uvfio/migration.h>

#include "migration/stream_priv.h"
#include "util/log.h"

uint64_t uvfio_mig_stream_size(size_t nr_sections, uint64_t payload)
{
	return HDR_SIZE + (uint64_t)nr_sections * SEC_SIZE + payload + SEC_SIZE;
}

/* ---- writer ---- */

/*
 * The stream as a queue of segments: bytes the writer owns (headers, copied data, appended to
 * the last owned segment while it has room) and bytes it only points at (section data a driver
 * passed by reference). Reading drains segments from the head.
 */
struct wseg {
	const uint8_t *ptr;
	size_t len;
	uint8_t *own; /* == ptr for an owned segment, NULL for a reference */
	size_t cap;
};

#define OWN_MIN (64u << 10)

/*
 * Sections passed by reference are hashed by a worker thread, in order, while the stream is
 * already being read: entering STOP_COPY does not wait for a pass over all device memory, and
 * the hashing overlaps the transfer on another CPU. A header becomes final (its data check,
 * then its place in the chain the end marker seals) only when a read is about to hand it out;
 * reads never pass a header that is not final.
 */
struct hash_job {
	struct uvfio_mig_piece *pieces; /* the section's pieces (their data is the driver's) */
	size_t nr;
	uint32_t check;
};

struct late_hdr {
	uint8_t *hdr; /* its bytes in an owned segment (those never move) */
	uint64_t off; /* where it starts in the stream */
	long job; /* its data check comes from jobs[job]; -1: already in the header */
	bool end; /* the end marker: gets the chain's digest */
};

struct uvfio_mig_writer {
	struct wseg *seg;
	size_t head, nseg, capseg; /* live segments are [head, nseg) */
	size_t head_off; /* bytes of seg[head] already read */
	size_t pending;
	uint64_t appended, consumed; /* stream offsets: bytes added, bytes read */
	XXH3_state_t *chain; /* header and section headers, for the end marker */
	XXH3_state_t *sec; /* the section being added */
	uint64_t nr_sections;
	bool ended;

	/* Deferred checks: once the first job exists, every later header waits in late[]. */
	pthread_mutex_t lock; /* jobs, hashed, stop: shared with the worker */
	pthread_cond_t cond;
	struct hash_job *jobs;
	size_t njobs, capjobs, hashed; /* jobs[0, hashed) are done */
	bool worker_started, stop;
	pthread_t worker;
	XXH3_state_t *wsec; /* the worker's */
	struct late_hdr *late;
	size_t nlate, caplate, final; /* late[0, final) are final */
};

static struct wseg *new_seg(struct uvfio_mig_writer *w)
{
	if (w->head == w->nseg) {
		w->head = w->nseg = 0; /* all read: reuse the array from the start */
	} else if (w->head > 0 && w->nseg == w->capseg) {
		memmove(w->seg, w->seg + w->head, (w->nseg - w->head) * sizeof(*w->seg));
		w->nseg -= w->head;
		w->head = 0;
	}
	if (w->nseg == w->capseg) {
		size_t cap = w->capseg ? 2 * w->capseg : 16;
		struct wseg *ns = realloc(w->seg, cap * sizeof(*ns));
		if (!ns)
			return NULL;
		w->seg = ns;
		w->capseg = cap;
	}
	struct wseg *g = &w->seg[w->nseg++];
	memset(g, 0, sizeof(*g));
	return g;
}

/* Appends a copy; *where (may be NULL) gets the bytes' place, which never moves. */
static int put_copy_at(struct uvfio_mig_writer *w, const void *data, size_t len, uint8_t **where)
{
	struct wseg *g = w->nseg > w->head ? &w->seg[w->nseg - 1] : NULL;

	if (!len)
		return 0;
	if (!g || !g->own || g->cap - g->len < len) {
		size_t cap = len > OWN_MIN ? len : OWN_MIN;
		uint8_t *own = malloc(cap);
		if (!own)
			return -ENOMEM;
		g = new_seg(w);
		if (!g) {
			free(own);
			return -ENOMEM;
		}
		g->own = own;
		g->ptr = own;
		g->cap = cap;
	}
	memcpy(g->own + g->len, data, len);
	if (where)
		*where = g->own + g->len;
	g->len += len;
	w->pending += len;
	w->appended += len;
	return 0;
}

static int put_copy(struct uvfio_mig_writer *w, const void *data, size_t len)
{
	return put_copy_at(w, data, len, NULL);
}

static int put_ref(struct uvfio_mig_writer *w, const void *data, size_t len)
{
	if (!len)
		return 0;
	struct wseg *g = new_seg(w);
	if (!g)
		return -ENOMEM;
	g->ptr = data;
	g->len = len;
	w->pending += len;
	w->appended += len;
	return 0;
}

/* Header bytes: into the stream and into the chain the end marker seals. */
static int put_framing(struct uvfio_mig_writer *w, const void *data, size_t len)
{
	int ret = put_copy(w, data, len);
	if (ret == 0)
		XXH3_64bits_update(w->chain, data, len);
	return ret;
}

static void fill_section_header(uint8_t *h, uint32_t id, uint64_t length, uint32_t check)
{
	put32(h, id);
	put32(h + 4, 0);
	put64(h + 8, length);
	put32(h + 16, check);
	put32(h + 20, crc_of(h, 20));
}

/* Sections with at least this much data by reference are hashed by the worker. */
#define DEFER_MIN (64u << 10)

static uint32_t hash_pieces(XXH3_state_t *st, const struct uvfio_mig_piece *p, size_t nr)
{
	XXH3_64bits_reset(st);
	for (size_t i = 0; i < nr; i++)
		XXH3_64bits_update(st, p[i].data, p[i].len);
	return (uint32_t)XXH3_64bits_digest(st);
}

static void *hash_worker(void *arg)
{
	struct uvfio_mig_writer *w = arg;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->stop && w->hashed == w->njobs)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stop)
			break;
		size_t i = w->hashed;
		const struct uvfio_mig_piece *p = w->jobs[i].pieces;
		size_t nr = w->jobs[i].nr;
		pthread_mutex_unlock(&w->lock);
		uint32_t check = hash_pieces(w->wsec, p, nr);
		pthread_mutex_lock(&w->lock);
		w->jobs[i].check = check;
		w->hashed = i + 1;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

static int add_late(struct uvfio_mig_writer *w, uint8_t *hdr, uint64_t off, long job, bool end)
{
	if (w->nlate == w->caplate) {
		size_t cap = w->caplate ? 2 * w->caplate : 64;
		struct late_hdr *n = realloc(w->late, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		w->late = n;
		w->caplate = cap;
	}
	w->late[w->nlate++] = (struct late_hdr){ .hdr = hdr, .off = off, .job = job, .end = end };
	return 0;
}

/* Queues the hashing of a section's data: takes pieces (malloc'ed) whatever happens; 0, or
 * -ENOMEM with nothing queued. */
static int add_job(struct uvfio_mig_writer *w, struct uvfio_mig_piece *copy, size_t nr,
		   uint8_t *hdr, uint64_t off)
{
	pthread_mutex_lock(&w->lock);
	if (w->njobs == w->capjobs) {
		size_t cap = w->capjobs ? 2 * w->capjobs : 64;
		struct hash_job *n = realloc(w->jobs, cap * sizeof(*n));
		if (!n) {
			pthread_mutex_unlock(&w->lock);
			free(copy);
			return -ENOMEM;
		}
		w->jobs = n;
		w->capjobs = cap;
	}
	if (add_late(w, hdr, off, (long)w->njobs, false) < 0) {
		pthread_mutex_unlock(&w->lock);
		free(copy);
		return -ENOMEM;
	}
	w->jobs[w->njobs++] = (struct hash_job){ .pieces = copy, .nr = nr };
	/* Without a worker (it could not start), the reader hashes when it gets there. */
	if (!w->worker_started && !w->wsec)
		w->wsec = XXH3_createState();
	if (!w->worker_started && w->wsec &&
	    pthread_create(&w->worker, NULL, hash_worker, w) == 0)
		w->worker_started = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return 0;
}

/* Makes every header that starts before stream offset upto final, in stream order. */
static void settle_until(struct uvfio_mig_writer *w, uint64_t upto)
{
	while (w->final < w->nlate && w->late[w->final].off < upto) {
		struct late_hdr *e = &w->late[w->final];
		if (e->job >= 0) {
			size_t j = (size_t)e->job;
			pthread_mutex_lock(&w->lock);
			if (!w->worker_started && w->hashed == j) {
				w->jobs[j].check = hash_pieces(w->sec, w->jobs[j].pieces, w->jobs[j].nr);
				w->hashed = j + 1;
			}
			while (w->hashed <= j)
				pthread_cond_wait(&w->cond, &w->lock);
			uint32_t check = w->jobs[j].check;
			pthread_mutex_unlock(&w->lock);
			put32(e->hdr + 16, check);
			put32(e->hdr + 20, crc_of(e->hdr, 20));
		}
		if (e->end) {
			put32(e->hdr + 16, (uint32_t)XXH3_64bits_digest(w->chain));
			put32(e->hdr + 20, crc_of(e->hdr, 20));
		} else {
			XXH3_64bits_update(w->chain, e->hdr, SEC_SIZE);
		}
		w->final++;
	}
}

int uvfio_mig_writer_new(const struct uvfio_mig_identity *id, struct uvfio_mig_writer **out)
{
	struct uvfio_mig_writer *w;
	uint8_t h[HDR_SIZE] = { 0 };
	int ret;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!identity_ok(id)) {
		log_err("migration stream: writer needs a driver name of 1..%d bytes",
			UVFIO_MIG_DRIVER_NAME_MAX);
		return -EINVAL;
	}
	w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	/* xxhash states want their own (64-byte) alignment: allocated by the library. */
	w->chain = XXH3_createState();
	w->sec = XXH3_createState();
	if (!w->chain || !w->sec) {
		uvfio_mig_writer_free(w);
		return -ENOMEM;
	}
	XXH3_64bits_reset(w->chain);
	memcpy(h, MAGIC, 8);
	put16(h + 8, UVFIO_MIG_FORMAT_VERSION);
	put16(h + 10, HDR_SIZE);
	put32(h + 12, crc_of(h, 12));
	put16(h + 16, id->vendor);
	put16(h + 18, id->device);
	put16(h + 20, id->subvendor);
	put16(h + 22, id->subdevice);
	put32(h + 24, id->state_version);
	memcpy(h + 28, id->driver, strlen(id->driver));
	put32(h + HDR_SIZE - 4, crc_of(h, HDR_SIZE - 4));
	ret = put_framing(w, h, sizeof(h));
	if (ret) {
		uvfio_mig_writer_free(w);
		return ret;
	}
	*out = w;
	return 0;
}

void uvfio_mig_writer_free(struct uvfio_mig_writer *w)
{
	if (!w)
		return;
	if (w->worker_started) {
		pthread_mutex_lock(&w->lock);
		w->stop = true;
		pthread_cond_broadcast(&w->cond);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->worker, NULL);
	}
	for (size_t i = 0; i < w->njobs; i++)
		free(w->jobs[i].pieces);
	free(w->jobs);
	free(w->late);
	for (size_t i = w->head; i < w->nseg; i++)
		free(w->seg[i].own);
	free(w->seg);
	XXH3_freeState(w->chain);
	XXH3_freeState(w->sec);
	XXH3_freeState(w->wsec);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w);
}

/* Undoes appends back to a saved point (the whole section or nothing). */
struct wmark {
	size_t live, pending, last_len;
	uint64_t appended;
};

static struct wmark wmark(const struct uvfio_mig_writer *w)
{
	size_t live = w->nseg - w->head;

	return (struct wmark){ live, w->pending, live ? w->seg[w->nseg - 1].len : 0, w->appended };
}

static void rollback(struct uvfio_mig_writer *w, struct wmark m)
{
	/* Indices are relative to head: appending may have compacted the array. */
	size_t keep = w->head + m.live;
	for (size_t i = keep; i < w->nseg; i++)
		free(w->seg[i].own);
	w->nseg = keep;
	if (m.live)
		w->seg[keep - 1].len = m.last_len;
	w->pending = m.pending;
	w->appended = m.appended;
}

int uvfio_mig_writer_section_pieces(struct uvfio_mig_writer *w, uint32_t id,
				    const struct uvfio_mig_piece *pieces, size_t nr)
{
	uint8_t h[SEC_SIZE], *hp = NULL;
	uint64_t len = 0, by_ref = 0;

	if (!w || w->ended || id == END_ID || (nr && !pieces))
		return -EINVAL;
	for (size_t i = 0; i < nr; i++) {
		if (pieces[i].len && !pieces[i].data)
			return -EINVAL;
		len += pieces[i].len;
		by_ref += pieces[i].by_ref ? pieces[i].len : 0;
	}
	/* Copied data is hashed now, while it is at hand; large data by reference later. */
	bool defer = by_ref >= DEFER_MIN;
	uint32_t check = defer ? 0 : hash_pieces(w->sec, pieces, nr);
	/* What the worker hashes: the bytes as the stream has them (copies: the writer's). */
	struct uvfio_mig_piece *in_stream = defer ? malloc(nr * sizeof(*in_stream)) : NULL;
	if (defer && !in_stream)
		return -ENOMEM;
	struct wmark m = wmark(w);
	uint64_t off = w->appended;
	fill_section_header(h, id, len, check);
	int ret = put_copy_at(w, h, sizeof(h), &hp);
	for (size_t i = 0; ret == 0 && i < nr; i++) {
		uint8_t *at = (uint8_t *)pieces[i].data;
		ret = pieces[i].by_ref ? put_ref(w, pieces[i].data, pieces[i].len)
				       : put_copy_at(w, pieces[i].data, pieces[i].len, &at);
		if (in_stream)
			in_stream[i] = (struct uvfio_mig_piece){ at, pieces[i].len, true };
	}
	if (ret == 0) {
		if (defer) {
			ret = add_job(w, in_stream, nr, hp, off);
			in_stream = NULL; /* the job's now */
		} else if (w->final < w->nlate) {
			ret = add_late(w, hp, off, -1, false); /* behind a header not final yet */
		} else {
			XXH3_64bits_update(w->chain, h, sizeof(h));
		}
	}
	free(in_stream);
	if (ret) {
		rollback(w, m);
		return ret;
	}
	w->nr_sections++;
	return 0;
}

int uvfio_mig_writer_section(struct uvfio_mig_writer *w, uint32_t id, const void *data,
			     size_t len)
{
	struct uvfio_mig_piece p = { .data = data, .len = len };

	return uvfio_mig_writer_section_pieces(w, id, &p, 1);
}

int uvfio_mig_writer_end(struct uvfio_mig_writer *w)
{
	uint8_t h[SEC_SIZE], *hp = NULL;
	int ret;

	if (!w || w->ended)
		return -EINVAL;
	bool late = w->final < w->nlate;
	struct wmark m = wmark(w);
	uint64_t off = w->appended;
	fill_section_header(h, END_ID, w->nr_sections,
			    late ? 0 : (uint32_t)XXH3_64bits_digest(w->chain));
	ret = put_copy_at(w, h, sizeof(h), &hp);
	if (ret == 0 && late)
		ret = add_late(w, hp, off, -1, true); /* sealed once every header before it is */
	if (ret) {
		rollback(w, m);
		return ret;
	}
	w->ended = true;
	return 0;
}

size_t uvfio_mig_writer_pending(const struct uvfio_mig_writer *w)
{
	return w ? w->pending : 0;
}

ssize_t uvfio_mig_writer_read(struct uvfio_mig_writer *w, void *buf, size_t len)
{
	uint8_t *out = buf;
	size_t done = 0;

	if (!w || (len && !buf))
		return -EINVAL;
	if (w->pending == 0)
		return w->ended ? 0 : -ENOMSG;
	if (len > SSIZE_MAX)
		len = SSIZE_MAX;
	settle_until(w, w->consumed + (len < w->pending ? len : w->pending));
	for (size_t i = w->head; done < len && i < w->nseg; i++) {
		const struct wseg *g = &w->seg[i];
		size_t off = i == w->head ? w->head_off : 0, n = g->len - off;
		if (n > len - done)
			n = len - done;
		memcpy(out + done, g->ptr + off, n);
		done += n;
	}
	mig_writer_skip(w, done);
	return (ssize_t)done;
}

int mig_writer_iov(struct uvfio_mig_writer *w, size_t len, struct iovec **out, size_t *bytes)
{
	size_t n = 0, got = 0;

	*out = NULL;
	*bytes = 0;
	if (len > w->pending)
		len = w->pending;
	settle_until(w, w->consumed + len);
	for (size_t i = w->head; i < w->nseg && got < len; i++, n++)
		got += w->seg[i].len - (i == w->head ? w->head_off : 0);
	if (n == 0)
		return 0;
	struct iovec *iov = malloc(n * sizeof(*iov));
	if (!iov)
		return -ENOMEM;
	got = 0;
	for (size_t i = 0; i < n; i++) {
		const struct wseg *g = &w->seg[w->head + i];
		size_t off = i == 0 ? w->head_off : 0, k = g->len - off;
		if (k > len - got)
			k = len - got;
		iov[i] = (struct iovec){ .iov_base = (void *)(g->ptr + off), .iov_len = k };
		got += k;
	}
	*out = iov;
	*bytes = got;
	return (int)n;
}

void mig_writer_skip(struct uvfio_mig_writer *w, size_t n)
{
	if (n > w->pending)
		n = w->pending;
	w->pending -= n;
	w->consumed += n;
	while (n && w->head < w->nseg) {
		struct wseg *g = &w->seg[w->head];
		size_t k = g->len - w->head_off;
		if (k > n)
			k = n;
		n -= k;
		w->head_off += k;
		if (w->head_off == g->len) {
			free(g->own);
			w->head++;
			w->head_off = 0;
		}
	}
}
