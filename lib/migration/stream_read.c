/* SPDX-License-Identifier: MIT */
/*
 * The migration stream's reader: takes the stream in pieces of any size, validates as it goes
 * (layout in mig_stream.c) and hands the sections out only once all of it was verified.
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

#include "migration/stream_priv.h"
#include "util/log.h"
#include "util/reason.h"

enum rstate {
	R_PREFIX, /* collecting the first 16 header bytes */
	R_HEADER, /* collecting the rest of the header */
	R_SECHDR, /* collecting a section header (or the end marker) */
	R_DATA, /* collecting section data */
	R_DONE, /* end marker verified */
	R_FAILED,
};

struct sec_ref {
	uint32_t id;
	size_t off, len;
};

struct uvfio_mig_reader {
	uint16_t vendor, device, subvendor, subdevice;
	char driver[NAME_FIELD];
	uint32_t state_version, min_state_version;
	uint64_t max_size;

	enum rstate st;
	int err;
	char reason[256];
	uint64_t total; /* bytes consumed */
	XXH3_state_t *chain; /* header and section headers so far */
	uint8_t hdr[HDR_MAX]; /* the header, or the current section header */
	size_t have, need; /* bytes of the current unit collected / wanted */
	uint16_t hdr_len;
	uint32_t stream_state_version;

	/* the current section */
	uint32_t sec_id, sec_check;
	XXH3_state_t *sec; /* its data so far */
	/* all section data, back to back */
	uint8_t *data;
	size_t data_len, data_cap;
	struct sec_ref *secs;
	size_t nr_secs, secs_cap;
	struct uvfio_mig_section *out; /* built once the stream is verified */
};

static int fail(struct uvfio_mig_reader *r, int err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct uvfio_mig_reader *r, int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	r->st = R_FAILED;
	r->err = err;
	log_warn("migration stream refused: %s", r->reason);
	reason_set("migration stream refused: %s", r->reason);
	return err;
}

int uvfio_mig_reader_new(const struct uvfio_mig_identity *expect, struct uvfio_mig_reader **out)
{
	struct uvfio_mig_reader *r;

	if (!out)
		return -EINVAL;
	*out = NULL;
	if (!identity_ok(expect) || expect->min_state_version > expect->state_version) {
		log_err("migration stream: reader needs a driver name of 1..%d bytes and "
			"min_state_version <= state_version", UVFIO_MIG_DRIVER_NAME_MAX);
		return -EINVAL;
	}
	r = calloc(1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	/* xxhash states want their own (64-byte) alignment: allocated by the library. */
	r->chain = XXH3_createState();
	r->sec = XXH3_createState();
	if (!r->chain || !r->sec) {
		uvfio_mig_reader_free(r);
		return -ENOMEM;
	}
	r->vendor = expect->vendor;
	r->device = expect->device;
	r->subvendor = expect->subvendor;
	r->subdevice = expect->subdevice;
	memcpy(r->driver, expect->driver, strlen(expect->driver));
	r->state_version = expect->state_version;
	r->min_state_version = expect->min_state_version;
	r->max_size = DEFAULT_MAX_SIZE;
	uvfio_mig_reader_reset(r);
	*out = r;
	return 0;
}

void uvfio_mig_reader_free(struct uvfio_mig_reader *r)
{
	if (!r)
		return;
	free(r->data);
	free(r->secs);
	free(r->out);
	XXH3_freeState(r->chain);
	XXH3_freeState(r->sec);
	free(r);
}

void uvfio_mig_reader_reset(struct uvfio_mig_reader *r)
{
	if (!r)
		return;
	r->st = R_PREFIX;
	r->err = 0;
	r->reason[0] = '\0';
	r->total = 0;
	XXH3_64bits_reset(r->chain);
	r->have = 0;
	r->need = PREFIX_SIZE;
	r->hdr_len = 0;
	r->stream_state_version = 0;
	r->data_len = 0;
	r->nr_secs = 0;
	free(r->out);
	r->out = NULL;
}

void uvfio_mig_reader_set_max_size(struct uvfio_mig_reader *r, uint64_t max)
{
	if (r)
		r->max_size = max;
}

static int check_prefix(struct uvfio_mig_reader *r)
{
	const uint8_t *h = r->hdr;
	uint16_t version = get16(h + 8), len = get16(h + 10);

	if (memcmp(h, MAGIC, 8) != 0)
		return fail(r, -EINVAL, "not a uvfio migration stream (bad magic)");
	if (get32(h + 12) != crc_of(h, 12))
		return fail(r, -EBADMSG, "header checksum mismatch (format/length fields)");
	if (version > UVFIO_MIG_FORMAT_VERSION)
		return fail(r, -EPROTONOSUPPORT,
			    "stream format version %u is newer than supported version %u", version,
			    UVFIO_MIG_FORMAT_VERSION);
	if (version == 1)
		return fail(r, -EPROTONOSUPPORT,
			    "stream format version 1 (CRC32 checks) is no longer read; this is %u",
			    UVFIO_MIG_FORMAT_VERSION);
	if (version == 0)
		return fail(r, -EINVAL, "stream format version 0 is invalid");
	if (len < HDR_SIZE || len > HDR_MAX)
		return fail(r, -EINVAL, "header length %u outside %u..%u", len, HDR_SIZE, HDR_MAX);
	r->hdr_len = len;
	r->st = R_HEADER;
	r->need = len;
	return 0;
}

static int check_header(struct uvfio_mig_reader *r)
{
	const uint8_t *h = r->hdr;
	char name[NAME_FIELD];
	uint16_t ven = get16(h + 16), dev = get16(h + 18), sven = get16(h + 20),
		 sdev = get16(h + 22);
	uint32_t sv = get32(h + 24);

	if (get32(h + r->hdr_len - 4) != crc_of(h, r->hdr_len - 4u))
		return fail(r, -EBADMSG, "header checksum mismatch");
	if (!memchr(h + 28, '\0', NAME_FIELD) || h[28] == '\0')
		return fail(r, -EINVAL, "driver name in header is empty or not terminated");
	memcpy(name, h + 28, NAME_FIELD);
	/* The name goes into a message: nothing unprintable from the peer. */
	for (char *c = name; *c; c++)
		if (*c < 0x20 || *c > 0x7e)
			*c = '?';
	if (ven != r->vendor || dev != r->device || sven != r->subvendor ||
	    sdev != r->subdevice || strcmp(name, r->driver) != 0)
		return fail(r, -ENODEV,
			    "stream is for %04x:%04x (sub %04x:%04x) driver \"%s\", this device is "
			    "%04x:%04x (sub %04x:%04x) driver \"%s\"",
			    ven, dev, sven, sdev, name, r->vendor, r->device, r->subvendor,
			    r->subdevice, r->driver);
	if (sv > r->state_version || sv < r->min_state_version)
		return fail(r, -EPROTONOSUPPORT,
			    "driver \"%s\" state version %u not supported (accepts %u..%u)", name,
			    sv, r->min_state_version, r->state_version);
	r->stream_state_version = sv;
	r->st = R_SECHDR;
	r->need = SEC_SIZE;
	r->have = 0;
	return 0;
}

static int add_section_ref(struct uvfio_mig_reader *r)
{
	struct sec_ref *ns;
	size_t cap;

	if (r->nr_secs == r->secs_cap) {
		cap = r->secs_cap ? r->secs_cap * 2 : 16;
		ns = realloc(r->secs, cap * sizeof(*ns));
		if (!ns)
			return fail(r, -ENOMEM, "out of memory");
		r->secs = ns;
		r->secs_cap = cap;
	}
	r->secs[r->nr_secs].id = r->sec_id;
	r->secs[r->nr_secs].off = r->data_len;
	r->secs[r->nr_secs].len = 0;
	r->nr_secs++;
	return 0;
}

static int finish_stream(struct uvfio_mig_reader *r)
{
	size_t i;

	r->out = calloc(r->nr_secs ? r->nr_secs : 1, sizeof(*r->out));
	if (!r->out)
		return fail(r, -ENOMEM, "out of memory");
	for (i = 0; i < r->nr_secs; i++) {
		r->out[i].id = r->secs[i].id;
		r->out[i].len = r->secs[i].len;
		r->out[i].data = r->data ? r->data + r->secs[i].off : NULL;
	}
	r->st = R_DONE;
	return 0;
}

static int end_of_data(struct uvfio_mig_reader *r)
{
	if ((uint32_t)XXH3_64bits_digest(r->sec) != r->sec_check)
		return fail(r, -EBADMSG, "checksum mismatch in data of section %zu (id %u)",
			    r->nr_secs - 1, r->sec_id);
	r->st = R_SECHDR;
	r->need = SEC_SIZE;
	r->have = 0;
	return 0;
}

static int check_section_header(struct uvfio_mig_reader *r)
{
	const uint8_t *h = r->hdr;
	uint32_t id = get32(h), flags = get32(h + 4);
	uint64_t len = get64(h + 8);

	if (get32(h + 20) != crc_of(h, 20))
		return fail(r, -EBADMSG, "checksum mismatch in header of section %zu", r->nr_secs);
	if (flags != 0)
		return fail(r, -EINVAL, "section %zu has unknown flags %#x", r->nr_secs, flags);
	if (id == END_ID) {
		if (len != r->nr_secs)
			return fail(r, -EBADMSG, "end marker counts %llu sections, stream had %zu",
				    (unsigned long long)len, r->nr_secs);
		if (get32(h + 16) != (uint32_t)XXH3_64bits_digest(r->chain))
			return fail(r, -EBADMSG, "stream checksum mismatch at end marker");
		return finish_stream(r);
	}
	/* The end marker's bytes are not part of the check it carries; other headers are. */
	XXH3_64bits_update(r->chain, h, SEC_SIZE);
	if (len > r->max_size || r->total + len > r->max_size)
		return fail(r, -EFBIG, "section %zu of %llu bytes exceeds the %llu byte limit",
			    r->nr_secs, (unsigned long long)len, (unsigned long long)r->max_size);
	r->sec_id = id;
	r->sec_check = get32(h + 16);
	XXH3_64bits_reset(r->sec);
	if (add_section_ref(r))
		return r->err;
	r->st = R_DATA;
	r->need = (size_t)len;
	r->have = 0;
	return len ? 0 : end_of_data(r);
}

static int data_reserve(struct uvfio_mig_reader *r, size_t more)
{
	size_t cap = r->data_cap ? r->data_cap : 4096;
	uint8_t *nd;

	if (r->data_len + more <= r->data_cap)
		return 0;
	while (cap < r->data_len + more)
		cap *= 2;
	nd = realloc(r->data, cap);
	if (!nd)
		return fail(r, -ENOMEM, "out of memory");
	r->data = nd;
	r->data_cap = cap;
	return 0;
}

/* Takes up to len bytes of section data; returns the count taken or negative errno. */
static ssize_t take_data(struct uvfio_mig_reader *r, const uint8_t *p, size_t len)
{
	size_t n = r->need - r->have;

	if (n > len)
		n = len;
	if (data_reserve(r, n))
		return r->err;
	memcpy(r->data + r->data_len, p, n);
	r->data_len += n;
	r->secs[r->nr_secs - 1].len += n;
	XXH3_64bits_update(r->sec, r->data + r->data_len - n, n); /* the copy, still in cache */
	r->have += n;
	return (ssize_t)n;
}

/* A whole header unit (prefix, header rest, section header) was collected. */
static int unit_done(struct uvfio_mig_reader *r)
{
	switch (r->st) {
	case R_PREFIX:
		XXH3_64bits_update(r->chain, r->hdr, PREFIX_SIZE);
		return check_prefix(r);
	case R_HEADER:
		XXH3_64bits_update(r->chain, r->hdr + PREFIX_SIZE, r->hdr_len - PREFIX_SIZE);
		return check_header(r);
	default:
		return check_section_header(r);
	}
}

ssize_t uvfio_mig_reader_write(struct uvfio_mig_reader *r, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t done = 0, n;
	ssize_t taken;
	int ret;

	if (!r || (len && !buf) || len > SSIZE_MAX)
		return -EINVAL;
	if (r->st == R_FAILED)
		return r->err;
	while (done < len) {
		if (r->st == R_DONE)
			return fail(r, -EINVAL, "%zu bytes of trailing data after the end marker",
				    len - done);
		if (r->st == R_DATA) {
			taken = take_data(r, p + done, len - done);
			if (taken < 0)
				return taken;
			n = (size_t)taken;
		} else {
			n = r->need - r->have;
			if (n > len - done)
				n = len - done;
			memcpy(r->hdr + r->have, p + done, n);
			r->have += n;
		}
		done += n;
		r->total += n;
		if (r->total > r->max_size)
			return fail(r, -EFBIG, "stream exceeds the %llu byte limit",
				    (unsigned long long)r->max_size);
		if (r->have < r->need)
			continue;
		ret = r->st == R_DATA ? end_of_data(r) : unit_done(r);
		if (ret)
			return ret;
	}
	return (ssize_t)len;
}

int uvfio_mig_reader_finish(struct uvfio_mig_reader *r)
{
	static const char *const where[] = {
		[R_PREFIX] = "the header", [R_HEADER] = "the header",
		[R_SECHDR] = "a section header", [R_DATA] = "section data",
	};

	if (!r)
		return -EINVAL;
	if (r->st == R_FAILED)
		return r->err;
	if (r->st == R_DONE)
		return 0;
	if (r->total == 0)
		return fail(r, -ENODATA, "truncated: empty stream");
	if (r->st == R_SECHDR && r->have == 0)
		return fail(r, -ENODATA, "truncated: no end marker after %zu sections (%llu bytes)",
			    r->nr_secs, (unsigned long long)r->total);
	return fail(r, -ENODATA, "truncated: stream ends inside %s after %llu bytes (%zu of %zu)",
		    where[r->st], (unsigned long long)r->total, r->have, r->need);
}

int uvfio_mig_reader_sections(struct uvfio_mig_reader *r, const struct uvfio_mig_section **sections,
			      size_t *nr)
{
	if (!r || !sections || !nr)
		return -EINVAL;
	if (r->st == R_FAILED)
		return r->err;
	if (r->st != R_DONE)
		return -ENODATA;
	*sections = r->out;
	*nr = r->nr_secs;
	return 0;
}

size_t uvfio_mig_reader_nr_checked(const struct uvfio_mig_reader *r)
{
	if (!r || r->st == R_FAILED)
		return 0;
	/* The section being received is the last one, not checked yet. */
	return r->st == R_DATA ? r->nr_secs - 1 : r->nr_secs;
}

int uvfio_mig_reader_checked(const struct uvfio_mig_reader *r, size_t i,
			     struct uvfio_mig_section *out)
{
	if (!r || !out)
		return -EINVAL;
	if (r->st == R_FAILED)
		return r->err;
	if (i >= uvfio_mig_reader_nr_checked(r))
		return -ENODATA;
	out->id = r->secs[i].id;
	out->len = r->secs[i].len;
	out->data = r->data ? r->data + r->secs[i].off : NULL;
	return 0;
}

uint32_t uvfio_mig_reader_state_version(const struct uvfio_mig_reader *r)
{
	return r ? r->stream_state_version : 0;
}

const char *uvfio_mig_reader_reason(const struct uvfio_mig_reader *r)
{
	return r ? r->reason : "";
}
