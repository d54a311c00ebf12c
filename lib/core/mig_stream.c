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
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <xxhash.h>
#include <zlib.h>

#include <uvfio/migration.h>

#include "core/mig_stream_priv.h"
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

struct uvfio_mig_writer {
	struct wseg *seg;
	size_t head, nseg, capseg; /* live segments are [head, nseg) */
	size_t head_off; /* bytes of seg[head] already read */
	size_t pending;
	XXH3_state_t *chain; /* header and section headers, for the end marker */
	XXH3_state_t *sec; /* the section being added */
	uint64_t nr_sections;
	bool ended;
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

static int put_copy(struct uvfio_mig_writer *w, const void *data, size_t len)
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
	g->len += len;
	w->pending += len;
	return 0;
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
	for (size_t i = w->head; i < w->nseg; i++)
		free(w->seg[i].own);
	free(w->seg);
	XXH3_freeState(w->chain);
	XXH3_freeState(w->sec);
	free(w);
}

int uvfio_mig_writer_section_pieces(struct uvfio_mig_writer *w, uint32_t id,
				    const struct uvfio_mig_piece *pieces, size_t nr)
{
	uint8_t h[SEC_SIZE];
	uint64_t len = 0;

	if (!w || w->ended || id == END_ID || (nr && !pieces))
		return -EINVAL;
	XXH3_64bits_reset(w->sec);
	for (size_t i = 0; i < nr; i++) {
		if (pieces[i].len && !pieces[i].data)
			return -EINVAL;
		len += pieces[i].len;
		XXH3_64bits_update(w->sec, pieces[i].data, pieces[i].len);
	}
	/* The whole section or nothing: a failed append leaves the stream as it was. */
	size_t saved_live = w->nseg - w->head, saved_pending = w->pending;
	size_t saved_len = saved_live ? w->seg[w->nseg - 1].len : 0;
	fill_section_header(h, id, len, (uint32_t)XXH3_64bits_digest(w->sec));
	int ret = put_copy(w, h, sizeof(h));
	for (size_t i = 0; ret == 0 && i < nr; i++)
		ret = pieces[i].by_ref ? put_ref(w, pieces[i].data, pieces[i].len)
				       : put_copy(w, pieces[i].data, pieces[i].len);
	if (ret) {
		/* Indices are relative to head: appending may have compacted the array. */
		size_t keep = w->head + saved_live;
		for (size_t i = keep; i < w->nseg; i++)
			free(w->seg[i].own);
		w->nseg = keep;
		if (saved_live)
			w->seg[keep - 1].len = saved_len;
		w->pending = saved_pending;
		return ret;
	}
	XXH3_64bits_update(w->chain, h, sizeof(h));
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
	uint8_t h[SEC_SIZE];
	int ret;

	if (!w || w->ended)
		return -EINVAL;
	fill_section_header(h, END_ID, w->nr_sections, (uint32_t)XXH3_64bits_digest(w->chain));
	ret = put_copy(w, h, sizeof(h));
	if (ret)
		return ret;
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
