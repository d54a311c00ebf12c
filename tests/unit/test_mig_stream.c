/* SPDX-License-Identifier: MIT */
/*
 * The framed migration stream: round trips under every segmentation, and every way a bad stream
 * is refused (wrong device, newer version, truncation at every byte, every flipped bit and
 * byte), each with its own error, after which the same reader still accepts a good stream.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include <cmocka.h>

#include <uvfio/migration.h>

#include "util/log.h"

static const struct uvfio_mig_identity edu_id = {
	.vendor = 0x1234, .device = 0x11e8, .subvendor = 0x1af4, .subdevice = 0x1100,
	.driver = "edu", .state_version = 2, .min_state_version = 1,
};

static const uint8_t payload_a[] = "registers: 0123456789";
static const uint8_t payload_c[] = { 0xde, 0xad, 0xbe, 0xef, 0x00, 0x01 };

struct blob {
	uint8_t *buf;
	size_t len;
};

/* Drains a writer in pieces of `chunk` bytes. */
static struct blob drain(struct uvfio_mig_writer *w, size_t chunk)
{
	struct blob b = { .buf = malloc(uvfio_mig_writer_pending(w) + 1) };
	ssize_t n;

	assert_non_null(b.buf);
	while ((n = uvfio_mig_writer_read(w, b.buf + b.len, chunk)) > 0)
		b.len += (size_t)n;
	assert_int_equal(n, 0);
	return b;
}

/* Header, sections "a" (id 1), empty (id 7), "c" (id 3), end marker. */
static struct blob make_stream(const struct uvfio_mig_identity *id)
{
	struct uvfio_mig_writer *w;
	struct blob b;

	assert_int_equal(uvfio_mig_writer_new(id, &w), 0);
	assert_int_equal(uvfio_mig_writer_section(w, 1, payload_a, sizeof(payload_a)), 0);
	assert_int_equal(uvfio_mig_writer_section(w, 7, NULL, 0), 0);
	assert_int_equal(uvfio_mig_writer_section(w, 3, payload_c, sizeof(payload_c)), 0);
	assert_int_equal(uvfio_mig_writer_end(w), 0);
	b = drain(w, 1 << 20);
	uvfio_mig_writer_free(w);
	return b;
}

static uint32_t zcrc(const uint8_t *p, size_t len)
{
	return (uint32_t)crc32(crc32(0, Z_NULL, 0), p, (uInt)len);
}

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* Re-signs the header after a deliberate edit, so only the edit itself is judged. */
static void resign_header(uint8_t *s)
{
	put32(s + 12, zcrc(s, 12));
	put32(s + 60, zcrc(s, 60));
}

/* Feeds a stream in pieces of `chunk` bytes and finishes it: the first error, or 0. */
static int feed(struct uvfio_mig_reader *r, const uint8_t *buf, size_t len, size_t chunk)
{
	size_t off = 0, n;
	ssize_t ret;

	while (off < len) {
		n = len - off < chunk ? len - off : chunk;
		ret = uvfio_mig_reader_write(r, buf + off, n);
		if (ret < 0)
			return (int)ret;
		assert_int_equal(ret, n);
		off += n;
	}
	return uvfio_mig_reader_finish(r);
}

static void assert_good_sections(struct uvfio_mig_reader *r)
{
	const struct uvfio_mig_section *s;
	size_t nr;

	assert_int_equal(uvfio_mig_reader_sections(r, &s, &nr), 0);
	assert_int_equal(nr, 3);
	assert_int_equal(s[0].id, 1);
	assert_int_equal(s[0].len, sizeof(payload_a));
	assert_memory_equal(s[0].data, payload_a, sizeof(payload_a));
	assert_int_equal(s[1].id, 7);
	assert_int_equal(s[1].len, 0);
	assert_int_equal(s[2].id, 3);
	assert_int_equal(s[2].len, sizeof(payload_c));
	assert_memory_equal(s[2].data, payload_c, sizeof(payload_c));
	assert_int_equal(uvfio_mig_reader_state_version(r), 2);
	assert_string_equal(uvfio_mig_reader_reason(r), "");
}

/* The reader refuses `bad` with `err`, then accepts the good stream after a reset. */
static void refuse_then_accept(struct uvfio_mig_reader *r, const uint8_t *bad, size_t len,
			       size_t chunk, int err, const struct blob *good)
{
	const struct uvfio_mig_section *s;
	size_t nr;

	uvfio_mig_reader_reset(r);
	assert_int_equal(feed(r, bad, len, chunk), err);
	assert_true(strlen(uvfio_mig_reader_reason(r)) > 0);
	/* The error sticks; nothing is handed out. */
	assert_int_equal(uvfio_mig_reader_write(r, good->buf, good->len), err);
	assert_int_equal(uvfio_mig_reader_sections(r, &s, &nr), err);
	uvfio_mig_reader_reset(r);
	assert_int_equal(feed(r, good->buf, good->len, good->len), 0);
	assert_good_sections(r);
}

static void test_round_trip_every_segmentation(void **unused)
{
	struct uvfio_mig_reader *r;
	struct blob b = make_stream(&edu_id);
	size_t chunk;

	(void)unused;
	assert_int_equal(b.len, uvfio_mig_stream_size(3, sizeof(payload_a) + sizeof(payload_c)));
	assert_int_equal(uvfio_mig_reader_new(&edu_id, &r), 0);
	for (chunk = 1; chunk <= b.len; chunk++) {
		uvfio_mig_reader_reset(r);
		assert_int_equal(feed(r, b.buf, b.len, chunk), 0);
		assert_good_sections(r);
	}
	/* The writer side may be drained in any pieces too. */
	for (chunk = 1; chunk < 70; chunk += 3) {
		struct uvfio_mig_writer *w;
		struct blob c;

		assert_int_equal(uvfio_mig_writer_new(&edu_id, &w), 0);
		assert_int_equal(uvfio_mig_writer_section(w, 1, payload_a, sizeof(payload_a)), 0);
		assert_int_equal(uvfio_mig_writer_section(w, 7, NULL, 0), 0);
		assert_int_equal(uvfio_mig_writer_section(w, 3, payload_c, sizeof(payload_c)), 0);
		assert_int_equal(uvfio_mig_writer_end(w), 0);
		c = drain(w, chunk);
		assert_int_equal(c.len, b.len);
		assert_memory_equal(c.buf, b.buf, b.len);
		uvfio_mig_writer_free(w);
		free(c.buf);
	}
	uvfio_mig_reader_free(r);
	free(b.buf);
}

/* Pre-copy: sections are read as they are produced; the end is known only at the end marker. */
static void test_writer_incremental(void **unused)
{
	struct uvfio_mig_writer *w;
	struct uvfio_mig_reader *r;
	uint8_t buf[512];
	ssize_t n;

	(void)unused;
	assert_int_equal(uvfio_mig_writer_new(&edu_id, &w), 0);
	assert_int_equal(uvfio_mig_reader_new(&edu_id, &r), 0);
	n = uvfio_mig_writer_read(w, buf, sizeof(buf));
	assert_int_equal(n, UVFIO_MIG_HEADER_SIZE);
	assert_int_equal(uvfio_mig_reader_write(r, buf, (size_t)n), n);
	assert_int_equal(uvfio_mig_writer_read(w, buf, sizeof(buf)), -ENOMSG);
	assert_int_equal(uvfio_mig_writer_section(w, 1, payload_a, sizeof(payload_a)), 0);
	assert_int_equal(uvfio_mig_writer_pending(w),
			 UVFIO_MIG_SECTION_HEADER_SIZE + sizeof(payload_a));
	n = uvfio_mig_writer_read(w, buf, sizeof(buf));
	assert_int_equal(uvfio_mig_reader_write(r, buf, (size_t)n), n);
	assert_int_equal(uvfio_mig_writer_read(w, buf, sizeof(buf)), -ENOMSG);
	assert_int_equal(uvfio_mig_writer_section(w, 7, NULL, 0), 0);
	assert_int_equal(uvfio_mig_writer_section(w, 3, payload_c, sizeof(payload_c)), 0);
	assert_int_equal(uvfio_mig_writer_end(w), 0);
	assert_int_equal(uvfio_mig_writer_section(w, 4, payload_c, 1), -EINVAL);
	assert_int_equal(uvfio_mig_writer_end(w), -EINVAL);
	while ((n = uvfio_mig_writer_read(w, buf, 5)) > 0)
		assert_int_equal(uvfio_mig_reader_write(r, buf, (size_t)n), n);
	assert_int_equal(n, 0);
	assert_int_equal(uvfio_mig_reader_finish(r), 0);
	assert_good_sections(r);
	uvfio_mig_writer_free(w);
	uvfio_mig_reader_free(r);
}

static void test_wrong_device(void **unused)
{
	struct uvfio_mig_identity other[5];
	struct uvfio_mig_reader *r;
	struct blob good = make_stream(&edu_id);
	int i;

	(void)unused;
	for (i = 0; i < 5; i++)
		other[i] = edu_id;
	other[0].vendor = 0x8086;
	other[1].device = 0x11e9;
	other[2].subvendor = 0;
	other[3].subdevice = 0x1101;
	other[4].driver = "edu2";
	assert_int_equal(uvfio_mig_reader_new(&edu_id, &r), 0);
	for (i = 0; i < 5; i++) {
		struct blob bad = make_stream(&other[i]);

		refuse_then_accept(r, bad.buf, bad.len, bad.len, -ENODEV, &good);
		uvfio_mig_reader_reset(r);
		assert_int_equal(feed(r, bad.buf, bad.len, 7), -ENODEV);
		free(bad.buf);
	}
	/* The reason names both identities. */
	assert_non_null(strstr(uvfio_mig_reader_reason(r), "\"edu2\""));
	assert_non_null(strstr(uvfio_mig_reader_reason(r), "\"edu\""));
	assert_non_null(strstr(uvfio_mig_reader_reason(r), "1234:11e8"));
	uvfio_mig_reader_free(r);
	free(good.buf);
}

static void test_versions(void **unused)
{
	struct uvfio_mig_identity id = edu_id;
	struct uvfio_mig_reader *r;
	struct blob good = make_stream(&edu_id), b;

	(void)unused;
	assert_int_equal(uvfio_mig_reader_new(&edu_id, &r), 0);
	/* A newer stream format. */
	b = make_stream(&edu_id);
	b.buf[8] = UVFIO_MIG_FORMAT_VERSION + 1;
	resign_header(b.buf);
	refuse_then_accept(r, b.buf, b.len, 3, -EPROTONOSUPPORT, &good);
	uvfio_mig_reader_reset(r);
	assert_int_equal(feed(r, b.buf, b.len, b.len), -EPROTONOSUPPORT);
	assert_non_null(strstr(uvfio_mig_reader_reason(r), "newer"));
	/* Format 1 (CRC32 data checks) is not read any more, and says so. */
	b.buf[8] = 1;
	resign_header(b.buf);
	refuse_then_accept(r, b.buf, b.len, b.len, -EPROTONOSUPPORT, &good);
	uvfio_mig_reader_reset(r);
	assert_int_equal(feed(r, b.buf, b.len, b.len), -EPROTONOSUPPORT);
	assert_non_null(strstr(uvfio_mig_reader_reason(r), "no longer read"));
	/* Format version 0 never existed. */
	b.buf[8] = 0;
	resign_header(b.buf);
	refuse_then_accept(r, b.buf, b.len, b.len, -EINVAL, &good);
	free(b.buf);

	/* Driver state versions: newer than the driver knows, older than it still reads. */
	id.state_version = 3;
	b = make_stream(&id);
	refuse_then_accept(r, b.buf, b.len, b.len, -EPROTONOSUPPORT, &good);
	free(b.buf);
	id.state_version = 0;
	b = make_stream(&id);
	refuse_then_accept(r, b.buf, b.len, b.len, -EPROTONOSUPPORT, &good);
	free(b.buf);
	id.state_version = 1;
	b = make_stream(&id);
	uvfio_mig_reader_reset(r);
	assert_int_equal(feed(r, b.buf, b.len, b.len), 0);
	assert_int_equal(uvfio_mig_reader_state_version(r), 1);
	free(b.buf);
	uvfio_mig_reader_free(r);
	free(good.buf);
}

/* Cut at every byte: at each section boundary and inside every unit. */
static void test_truncated_everywhere(void **unused)
{
	const struct uvfio_mig_section *s;
	struct uvfio_mig_reader *r;
	struct blob good = make_stream(&edu_id);
	size_t cut, nr;

	(void)unused;
	assert_int_equal(uvfio_mig_reader_new(&edu_id, &r), 0);
	for (cut = 0; cut < good.len; cut++) {
		uvfio_mig_reader_reset(r);
		assert_int_equal(uvfio_mig_reader_write(r, good.buf, cut), (ssize_t)cut);
		/* Nothing is handed out before the end marker. */
		assert_int_equal(uvfio_mig_reader_sections(r, &s, &nr), -ENODATA);
		assert_int_equal(uvfio_mig_reader_finish(r), -ENODATA);
		assert_non_null(strstr(uvfio_mig_reader_reason(r), "truncated"));
		refuse_then_accept(r, good.buf, cut, 1, -ENODATA, &good);
	}
	uvfio_mig_reader_free(r);
	free(good.buf);
}

/* Every single flipped bit and every inverted byte is caught (magic bytes: not a stream). */
static void test_every_flip(void **unused)
{
	struct uvfio_mig_reader *r;
	struct blob good = make_stream(&edu_id);
	uint8_t *bad = malloc(good.len);
	size_t i;
	int bit, err;

	(void)unused;
	assert_non_null(bad);
	assert_int_equal(uvfio_mig_reader_new(&edu_id, &r), 0);
	for (i = 0; i < good.len; i++) {
		err = i < 8 ? -EINVAL : -EBADMSG;
		for (bit = 0; bit <= 8; bit++) {
			memcpy(bad, good.buf, good.len);
			bad[i] ^= bit == 8 ? 0xff : (uint8_t)(1u << bit);
			refuse_then_accept(r, bad, good.len, bit == 3 ? 5 : good.len, err, &good);
		}
	}
	uvfio_mig_reader_free(r);
	free(bad);
	free(good.buf);
}

static void test_malformed(void **unused)
{
	static const uint8_t garbage[] = "GET / HTTP/1.1\r\nHost: x\r\n\r\n"
					 "................................................";
	struct uvfio_mig_reader *r;
	struct blob good = make_stream(&edu_id);
	uint8_t *bad = malloc(2 * good.len);
	size_t sec0 = UVFIO_MIG_HEADER_SIZE, sec1 = sec0 + UVFIO_MIG_SECTION_HEADER_SIZE +
						       sizeof(payload_a);

	(void)unused;
	assert_non_null(bad);
	assert_int_equal(uvfio_mig_reader_new(&edu_id, &r), 0);
	refuse_then_accept(r, garbage, sizeof(garbage), 4, -EINVAL, &good);

	/* Two streams back to back: the second is trailing data. */
	memcpy(bad, good.buf, good.len);
	memcpy(bad + good.len, good.buf, good.len);
	refuse_then_accept(r, bad, 2 * good.len, 10, -EINVAL, &good);
	refuse_then_accept(r, bad, good.len + 1, good.len + 1, -EINVAL, &good);

	/* Header length below the format's. */
	memcpy(bad, good.buf, good.len);
	bad[10] = 32;
	resign_header(bad);
	refuse_then_accept(r, bad, good.len, good.len, -EINVAL, &good);

	/* Driver name without its NUL (all 32 bytes used). */
	memcpy(bad, good.buf, good.len);
	memset(bad + 28, 'x', 32);
	resign_header(bad);
	refuse_then_accept(r, bad, good.len, good.len, -EINVAL, &good);

	/* Unknown section flags, correctly signed. */
	memcpy(bad, good.buf, good.len);
	bad[sec0 + 4] = 1;
	put32(bad + sec0 + 20, zcrc(bad + sec0, 20));
	refuse_then_accept(r, bad, good.len, good.len, -EINVAL, &good);

	/* A whole section dropped: every unit is intact, the end marker's checksum is not. */
	memcpy(bad, good.buf, sec0);
	memcpy(bad + sec0, good.buf + sec1, good.len - sec1);
	refuse_then_accept(r, bad, good.len - (sec1 - sec0), good.len, -EBADMSG, &good);

	/* End marker claiming another section count, correctly signed. */
	memcpy(bad, good.buf, good.len);
	bad[good.len - UVFIO_MIG_SECTION_HEADER_SIZE + 8] = 2;
	put32(bad + good.len - 4, zcrc(bad + good.len - UVFIO_MIG_SECTION_HEADER_SIZE, 20));
	refuse_then_accept(r, bad, good.len, good.len, -EBADMSG, &good);
	assert_int_equal(uvfio_mig_reader_write(r, NULL, 1), -EINVAL);
	uvfio_mig_reader_free(r);
	free(bad);
	free(good.buf);
}

static void test_size_limit(void **unused)
{
	struct uvfio_mig_reader *r;
	struct blob good = make_stream(&edu_id);

	(void)unused;
	assert_int_equal(uvfio_mig_reader_new(&edu_id, &r), 0);
	uvfio_mig_reader_set_max_size(r, good.len - 1);
	assert_int_equal(feed(r, good.buf, good.len, 1), -EFBIG);
	assert_non_null(strstr(uvfio_mig_reader_reason(r), "limit"));
	/* The limit is configuration: it survives a reset; exactly the limit is fine. */
	uvfio_mig_reader_reset(r);
	assert_int_equal(feed(r, good.buf, good.len, good.len), -EFBIG);
	uvfio_mig_reader_set_max_size(r, good.len);
	uvfio_mig_reader_reset(r);
	assert_int_equal(feed(r, good.buf, good.len, 1), 0);
	assert_good_sections(r);
	/* A section announcing more than the limit is refused at its header. */
	uvfio_mig_reader_set_max_size(r, UVFIO_MIG_HEADER_SIZE + UVFIO_MIG_SECTION_HEADER_SIZE + 4);
	uvfio_mig_reader_reset(r);
	assert_int_equal(uvfio_mig_reader_write(r, good.buf,
						UVFIO_MIG_HEADER_SIZE + UVFIO_MIG_SECTION_HEADER_SIZE),
			 -EFBIG);
	uvfio_mig_reader_free(r);
	free(good.buf);
}

static void test_bad_arguments(void **unused)
{
	struct uvfio_mig_identity id = edu_id;
	struct uvfio_mig_writer *w;
	struct uvfio_mig_reader *r;
	const struct uvfio_mig_section *s;
	size_t nr;
	uint8_t b;

	(void)unused;
	assert_int_equal(uvfio_mig_writer_new(&id, NULL), -EINVAL);
	assert_int_equal(uvfio_mig_writer_new(NULL, &w), -EINVAL);
	id.driver = NULL;
	assert_int_equal(uvfio_mig_writer_new(&id, &w), -EINVAL);
	assert_null(w);
	id.driver = "";
	assert_int_equal(uvfio_mig_writer_new(&id, &w), -EINVAL);
	id.driver = "0123456789012345678901234567890123";
	assert_int_equal(uvfio_mig_writer_new(&id, &w), -EINVAL);
	assert_int_equal(uvfio_mig_reader_new(&id, &r), -EINVAL);
	assert_null(r);
	id.driver = "0123456789012345678901234567890"; /* 31: the longest */
	assert_int_equal(uvfio_mig_writer_new(&id, &w), 0);
	assert_int_equal(uvfio_mig_writer_section(w, 0, &b, 1), -EINVAL);
	assert_int_equal(uvfio_mig_writer_section(w, 1, NULL, 1), -EINVAL);
	assert_int_equal(uvfio_mig_writer_section(NULL, 1, &b, 1), -EINVAL);
	assert_int_equal(uvfio_mig_writer_read(w, NULL, 1), -EINVAL);
	assert_int_equal(uvfio_mig_writer_end(NULL), -EINVAL);
	assert_int_equal(uvfio_mig_writer_read(NULL, &b, 1), -EINVAL);
	uvfio_mig_writer_free(w);
	id = edu_id;
	id.min_state_version = 3;
	assert_int_equal(uvfio_mig_reader_new(&id, &r), -EINVAL);
	assert_int_equal(uvfio_mig_reader_new(&edu_id, NULL), -EINVAL);
	assert_int_equal(uvfio_mig_reader_write(NULL, &b, 1), -EINVAL);
	assert_int_equal(uvfio_mig_reader_finish(NULL), -EINVAL);
	assert_int_equal(uvfio_mig_reader_sections(NULL, &s, &nr), -EINVAL);
	assert_int_equal(uvfio_mig_reader_new(&edu_id, &r), 0);
	assert_int_equal(uvfio_mig_reader_finish(r), -ENODATA);
	assert_non_null(strstr(uvfio_mig_reader_reason(r), "empty"));
	uvfio_mig_reader_free(r);
	uvfio_mig_reader_free(NULL);
	uvfio_mig_writer_free(NULL);
}

/* A destination device: RESUMING -> STOP commits the stream through the reader. */
struct dest {
	struct uvfio_mig_reader *r;
	int loads;
	uint8_t state[sizeof(payload_a)]; /* what load() installs */
};

static int dest_step(void *opaque, uint32_t from, uint32_t to, bool *broken)
{
	const struct uvfio_mig_section *s;
	struct dest *d = opaque;
	size_t nr;
	int ret;

	if (uvfio_mig_arc_session(from, to) == UVFIO_MIG_SESSION_OPEN_RESUME)
		uvfio_mig_reader_reset(d->r);
	if (uvfio_mig_arc_session(from, to) != UVFIO_MIG_SESSION_COMMIT)
		return 0;
	ret = uvfio_mig_reader_finish(d->r);
	if (ret)
		return ret;
	ret = uvfio_mig_reader_sections(d->r, &s, &nr);
	if (ret)
		return ret;
	if (nr < 1 || s[0].len != sizeof(d->state))
		return -EINVAL;
	memcpy(d->state, s[0].data, sizeof(d->state));
	d->loads++;
	return 0;
}

/* A refused stream fails the RESUMING -> STOP arc: the device stays in RESUMING with its state
 * untouched, and accepts a good stream once the session is restarted. */
static void test_resuming_refuses_without_touching_device(void **unused)
{
	struct uvfio_mig_identity other = edu_id;
	struct uvfio_mig_fsm fsm;
	struct dest d = { 0 };
	struct blob good = make_stream(&edu_id), bad;
	const uint32_t flags = UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P;

	(void)unused;
	other.device = 0x1111;
	bad = make_stream(&other);
	assert_int_equal(uvfio_mig_reader_new(&edu_id, &d.r), 0);
	assert_int_equal(uvfio_mig_fsm_init(&fsm, flags), 0);
	assert_int_equal(uvfio_mig_fsm_set_state(&fsm, UVFIO_MIG_STATE_RESUMING, dest_step, &d, NULL),
			 0);
	assert_int_equal(fsm.session, UVFIO_MIG_RESUMING);
	assert_int_equal(uvfio_mig_reader_write(d.r, bad.buf, bad.len), -ENODEV);
	assert_int_equal(uvfio_mig_fsm_set_state(&fsm, UVFIO_MIG_STATE_RUNNING, dest_step, &d, NULL),
			 -ENODEV);
	assert_int_equal(fsm.state, UVFIO_MIG_STATE_RESUMING);
	assert_int_equal(d.loads, 0);
	assert_memory_equal(d.state, (uint8_t[sizeof(d.state)]){ 0 }, sizeof(d.state));
	/* Truncated: same, with its own error. */
	uvfio_mig_reader_reset(d.r);
	assert_int_equal(uvfio_mig_reader_write(d.r, good.buf, good.len - 1),
			 (ssize_t)(good.len - 1));
	assert_int_equal(uvfio_mig_fsm_set_state(&fsm, UVFIO_MIG_STATE_RUNNING, dest_step, &d, NULL),
			 -ENODATA);
	assert_int_equal(fsm.state, UVFIO_MIG_STATE_RESUMING);
	assert_int_equal(d.loads, 0);
	/* Restart the session (abort needs a reset, as in the uAPI), then a good stream. */
	uvfio_mig_fsm_reset(&fsm);
	assert_int_equal(uvfio_mig_fsm_set_state(&fsm, UVFIO_MIG_STATE_RESUMING, dest_step, &d, NULL),
			 0);
	assert_int_equal(uvfio_mig_reader_write(d.r, good.buf, good.len), (ssize_t)good.len);
	assert_int_equal(uvfio_mig_fsm_set_state(&fsm, UVFIO_MIG_STATE_RUNNING, dest_step, &d, NULL),
			 0);
	assert_int_equal(fsm.state, UVFIO_MIG_STATE_RUNNING);
	assert_int_equal(d.loads, 1);
	assert_memory_equal(d.state, payload_a, sizeof(payload_a));
	uvfio_mig_reader_free(d.r);
	free(good.buf);
	free(bad.buf);
}

/* Pieces: copied ones are taken at once, by-reference ones when the stream is read. */
static void test_pieces(void **unused)
{
	static uint8_t big[3 << 16];
	struct uvfio_mig_writer *w;
	struct uvfio_mig_reader *r;
	const struct uvfio_mig_section *sec;
	size_t nr;
	uint8_t head[4] = { 1, 2, 3, 4 };

	(void)unused;
	for (size_t i = 0; i < sizeof(big); i++)
		big[i] = (uint8_t)(i * 13);
	struct uvfio_mig_piece p[3] = { { head, sizeof(head), false },
					{ big, sizeof(big), true },
					{ payload_a, sizeof(payload_a), false } };
	assert_int_equal(uvfio_mig_writer_new(&edu_id, &w), 0);
	assert_int_equal(uvfio_mig_writer_section_pieces(w, 5, p, 3), 0);
	assert_int_equal(uvfio_mig_writer_pending(w), UVFIO_MIG_HEADER_SIZE +
							   UVFIO_MIG_SECTION_HEADER_SIZE + 4 +
							   sizeof(big) + sizeof(payload_a));
	head[0] = 9; /* copied: this change does not reach the stream */
	assert_int_equal(uvfio_mig_writer_end(w), 0);
	struct blob b = drain(w, 1000); /* small reads cross piece boundaries */
	uvfio_mig_writer_free(w);
	assert_int_equal(uvfio_mig_reader_new(&edu_id, &r), 0);
	assert_int_equal(feed(r, b.buf, b.len, 4097), 0);
	assert_int_equal(uvfio_mig_reader_sections(r, &sec, &nr), 0);
	assert_int_equal(nr, 1);
	assert_int_equal(sec[0].len, 4 + sizeof(big) + sizeof(payload_a));
	assert_int_equal(((const uint8_t *)sec[0].data)[0], 1);
	assert_memory_equal((const uint8_t *)sec[0].data + 4, big, sizeof(big));
	assert_memory_equal((const uint8_t *)sec[0].data + 4 + sizeof(big), payload_a,
			    sizeof(payload_a));
	free(b.buf);

	/* Deferred checks between plain sections, read in odd pieces: headers are made final in
	 * order and the end marker seals them all. Then a writer freed with its worker busy. */
	struct uvfio_mig_piece ref = { big, sizeof(big), true };
	assert_int_equal(uvfio_mig_writer_new(&edu_id, &w), 0);
	for (uint32_t id = 1; id <= 6; id++) {
		if (id % 2)
			assert_int_equal(uvfio_mig_writer_section_pieces(w, id, &ref, 1), 0);
		else
			assert_int_equal(uvfio_mig_writer_section(w, id, payload_c,
								  sizeof(payload_c)), 0);
	}
	assert_int_equal(uvfio_mig_writer_end(w), 0);
	b = drain(w, 777);
	uvfio_mig_writer_free(w);
	uvfio_mig_reader_reset(r);
	uvfio_mig_reader_set_max_size(r, 1 << 20);
	assert_int_equal(feed(r, b.buf, b.len, 4096), 0);
	assert_int_equal(uvfio_mig_reader_sections(r, &sec, &nr), 0);
	assert_int_equal(nr, 6);
	for (size_t i = 0; i < nr; i++) {
		assert_int_equal(sec[i].id, i + 1);
		if (i % 2 == 0)
			assert_memory_equal(sec[i].data, big, sizeof(big));
		else
			assert_memory_equal(sec[i].data, payload_c, sizeof(payload_c));
	}
	free(b.buf);
	assert_int_equal(uvfio_mig_writer_new(&edu_id, &w), 0);
	for (uint32_t id = 1; id <= 20; id++)
		assert_int_equal(uvfio_mig_writer_section_pieces(w, id, &ref, 1), 0);
	uvfio_mig_writer_free(w);

	/* A small referenced piece is checked when it is added (large ones by a worker, later):
	 * changed before it was read, the destination sees the corruption. */
	struct uvfio_mig_piece small = { big, 16 << 10, true };
	assert_int_equal(uvfio_mig_writer_new(&edu_id, &w), 0);
	assert_int_equal(uvfio_mig_writer_section_pieces(w, 5, &small, 1), 0);
	assert_int_equal(uvfio_mig_writer_end(w), 0);
	big[100] ^= 1;
	b = drain(w, 1 << 20);
	uvfio_mig_writer_free(w);
	uvfio_mig_reader_reset(r);
	assert_int_equal(feed(r, b.buf, b.len, b.len), -EBADMSG);
	free(b.buf);
	/* Bad pieces. */
	assert_int_equal(uvfio_mig_writer_new(&edu_id, &w), 0);
	struct uvfio_mig_piece nul = { NULL, 4, false };
	assert_int_equal(uvfio_mig_writer_section_pieces(w, 5, &nul, 1), -EINVAL);
	assert_int_equal(uvfio_mig_writer_section_pieces(w, 5, NULL, 1), -EINVAL);
	assert_int_equal(uvfio_mig_writer_section_pieces(w, 0, p, 1), -EINVAL);
	assert_int_equal(uvfio_mig_writer_pending(w), UVFIO_MIG_HEADER_SIZE); /* nothing added */
	uvfio_mig_writer_free(w); /* unread references are not touched */
	uvfio_mig_reader_free(r);
}

/* Sections are reported checked one by one as the stream arrives, byte by byte; a section
 * whose data is corrupt is never reported, nor anything after an error. */
static void test_checked_as_it_arrives(void **unused)
{
	(void)unused;
	struct blob b = make_stream(&edu_id);
	struct uvfio_mig_reader *r;
	struct uvfio_mig_section sec;
	size_t seen = 0;

	assert_int_equal(uvfio_mig_reader_new(&edu_id, &r), 0);
	for (size_t i = 0; i < b.len; i++) {
		assert_int_equal(uvfio_mig_reader_write(r, b.buf + i, 1), 1);
		size_t n = uvfio_mig_reader_nr_checked(r);
		assert_true(n == seen || n == seen + 1);
		if (n == seen + 1) {
			assert_int_equal(uvfio_mig_reader_checked(r, seen, &sec), 0);
			if (seen == 0) {
				assert_int_equal(sec.id, 1);
				assert_int_equal(sec.len, sizeof(payload_a));
				assert_memory_equal(sec.data, payload_a, sizeof(payload_a));
			}
			seen = n;
		}
	}
	assert_int_equal(seen, 3);
	assert_int_equal(uvfio_mig_reader_checked(r, 3, &sec), -ENODATA);
	assert_int_equal(uvfio_mig_reader_finish(r), 0);

	/* The last byte of section c's data flipped: a and the empty one pass, c never does. */
	uvfio_mig_reader_reset(r);
	size_t last_c = b.len - 24 - 1;
	b.buf[last_c] ^= 1;
	assert_int_equal(uvfio_mig_reader_write(r, b.buf, last_c), (ssize_t)last_c);
	assert_int_equal(uvfio_mig_reader_nr_checked(r), 2);
	assert_int_equal(uvfio_mig_reader_write(r, b.buf + last_c, b.len - last_c), -EBADMSG);
	assert_int_equal(uvfio_mig_reader_nr_checked(r), 0);
	assert_int_equal(uvfio_mig_reader_checked(r, 0, &sec), -EBADMSG);
	uvfio_mig_reader_free(r);
	free(b.buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_round_trip_every_segmentation),
		cmocka_unit_test(test_writer_incremental),
		cmocka_unit_test(test_wrong_device),
		cmocka_unit_test(test_versions),
		cmocka_unit_test(test_truncated_everywhere),
		cmocka_unit_test(test_every_flip),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_size_limit),
		cmocka_unit_test(test_bad_arguments),
		cmocka_unit_test(test_pieces),
		cmocka_unit_test(test_checked_as_it_arrives),
		cmocka_unit_test(test_resuming_refuses_without_touching_device),
	};

	/* Every refusal logs a warning; keep the test output readable. */
	uvfio_log_set_level(UVFIO_LOG_ERR - 1);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
