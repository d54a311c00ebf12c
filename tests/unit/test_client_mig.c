/* SPDX-License-Identifier: MIT */
/*
 * The client's migration calls against a scripted fake server (client_fake.h): every reply is
 * checked (sizes, echoed fields, states and flags in range) and the precopy extension is used
 * only when the server agreed to it.
 */

#include <uvfio/migration.h>

#include "client_fake.h"
#include "client/backend.h"
#include "util/vfio_compat.h"

#define PC_JSON "{\"capabilities\":{\"uvfio\":{\"precopy_info\":true}}}"
#define SMALL_JSON "{\"capabilities\":{\"max_data_xfer_size\":4096}}"
#define FEATURE_GET(x) (VFIO_DEVICE_FEATURE_GET | (x))
#define FEATURE_SET(x) (VFIO_DEVICE_FEATURE_SET | (x))

/* One expected request and the reply to it. */
struct canned {
	uint16_t cmd;
	uint32_t flags; /* DEVICE_FEATURE: the request's flags, and the reply's header */
	const void *req; /* if set: the request's data after its 8-byte head must be this */
	size_t req_len;
	const void *data; /* reply: DEVICE_FEATURE data (after a head), else the whole payload */
	size_t len;
	uint32_t err; /* an error reply instead */
};

static const struct canned *plan;
static size_t plan_len;

static void script_plan(struct fake *f, int fd)
{
	for (size_t i = 0; i < plan_len; i++) {
		const struct canned *c = &plan[i];
		struct vfu_msg m;
		uint8_t buf[8192];
		uint32_t flags = 0;

		if (srv_recv(fd, &m) < 0) {
			f->bad++;
			return;
		}
		f->count++;
		SRV_CHECK(f, m.hdr.cmd == c->cmd && m.payload_len >= 8);
		if (m.payload_len >= 8)
			memcpy(&flags, m.payload + 4, 4);
		if (c->cmd == VFU_CMD_DEVICE_FEATURE)
			SRV_CHECK(f, flags == c->flags);
		if (c->req)
			SRV_CHECK(f, m.payload_len == 8 + c->req_len &&
					     !memcmp(m.payload + 8, c->req, c->req_len));
		if (c->err) {
			srv_send(fd, m.hdr.msg_id, m.hdr.cmd, VFU_F_TYPE_REPLY | VFU_F_ERROR, c->err,
				 NULL, 0, NULL, 0);
		} else if (c->cmd == VFU_CMD_DEVICE_FEATURE) {
			struct vfu_device_feature h = { .argsz = (uint32_t)(8 + c->len),
							.flags = c->flags };
			memcpy(buf, &h, 8);
			memcpy(buf + 8, c->data, c->len);
			srv_reply(fd, &m, buf, 8 + c->len);
		} else {
			srv_reply(fd, &m, c->data, c->len);
		}
		vfu_msg_release(&m);
	}
}

/* Runs call against a fake that answers plan p (json: its VERSION reply). */
#define RUN_PLAN(json, p, call)                                                                    \
	do {                                                                                       \
		struct fake f_ = { .version_json = (json) };                                       \
		struct uvfio_handle *h = NULL;                                                     \
		plan = (p);                                                                        \
		plan_len = sizeof(p) / sizeof((p)[0]);                                             \
		fake_start(&f_, script_plan);                                                      \
		assert_int_equal(open_fake(&f_, &h), 0);                                           \
		call;                                                                              \
		uvfio_close(h);                                                                    \
		fake_join(&f_);                                                                    \
		assert_int_equal(f_.count, (int)plan_len);                                         \
	} while (0)

static const uint64_t all_flags =
	UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P | UVFIO_MIGRATION_PRE_COPY;

static void test_precopy_not_negotiated(void **state)
{
	(void)state;
	static const struct canned none[] = { { .cmd = VFU_CMD_DEVICE_GET_INFO } };
	uint64_t a, b;
	struct uvfio_device_info info;

	/* No request goes out: the first one the fake sees is GET_INFO. */
	RUN_PLAN(GOOD_JSON, none, {
		assert_int_equal(uvfio_mig_precopy_info(h, &a, &b), -ENOTSUP);
		assert_int_equal(uvfio_get_device_info(h, &info), -EPROTO);
	});
}

static void test_precopy_negotiated(void **state)
{
	(void)state;
	static const uint64_t sizes[2] = { 1000, 24 };
	static const struct canned p[] = {
		{ VFU_CMD_DEVICE_FEATURE, FEATURE_GET(VFU_FEATURE_UVFIO_PRECOPY_INFO), NULL, 0,
		  sizes, 16, 0 },
		{ VFU_CMD_DEVICE_FEATURE, FEATURE_GET(VFU_FEATURE_UVFIO_PRECOPY_INFO), NULL, 0,
		  sizes, 8, 0 },
		{ VFU_CMD_DEVICE_FEATURE, FEATURE_GET(VFU_FEATURE_UVFIO_PRECOPY_INFO), NULL, 0,
		  NULL, 0, EINVAL },
	};
	uint64_t a = 0, b = 0;

	RUN_PLAN(PC_JSON, p, {
		assert_int_equal(uvfio_mig_precopy_info(h, &a, &b), 0);
		assert_int_equal(a, 1000);
		assert_int_equal(b, 24);
		assert_int_equal(uvfio_mig_precopy_info(h, &a, &b), -EPROTO);
		assert_int_equal(uvfio_mig_precopy_info(h, &a, &b), -EINVAL);
		assert_int_equal(uvfio_mig_precopy_info(h, NULL, &b), -EINVAL);
	});
}

static void test_precopy_bad_version(void **state)
{
	(void)state;
	struct fake f = { .version_json = "{\"capabilities\":{\"uvfio\":5}}" };
	expect_open_fails(&f, -EPROTO);
	struct fake g = { .version_json = "{\"capabilities\":{\"uvfio\":{\"precopy_info\":0}}}" };
	expect_open_fails(&g, -EPROTO);
}

static void test_bad_flags_and_state(void **state)
{
	(void)state;
	static const uint64_t no_stop_copy = UVFIO_MIGRATION_P2P, wide = (1ull << 32) | 1;
	static const struct uvfio_feature_mig_state bad_state = { 9, -1 };
	static const struct canned p[] = {
		{ VFU_CMD_DEVICE_FEATURE, FEATURE_GET(VFIO_DEVICE_FEATURE_MIGRATION), NULL, 0,
		  &no_stop_copy, 8, 0 },
		{ VFU_CMD_DEVICE_FEATURE, FEATURE_GET(VFIO_DEVICE_FEATURE_MIGRATION), NULL, 0,
		  &wide, 8, 0 },
		{ VFU_CMD_DEVICE_FEATURE, FEATURE_GET(VFIO_DEVICE_FEATURE_MIGRATION), NULL, 0,
		  &all_flags, 4, 0 },
		{ VFU_CMD_DEVICE_FEATURE, FEATURE_GET(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE), NULL, 0,
		  &bad_state, 8, 0 },
		{ VFU_CMD_DEVICE_FEATURE, FEATURE_GET(VFIO_DEVICE_FEATURE_MIG_DATA_SIZE), NULL, 0,
		  &wide, 4, 0 },
		{ VFU_CMD_DEVICE_FEATURE, FEATURE_GET(VFIO_DEVICE_FEATURE_MIGRATION), NULL, 0,
		  NULL, 0, ENOTTY },
	};
	uint32_t v;
	uint64_t size;

	RUN_PLAN(GOOD_JSON, p, {
		assert_int_equal(uvfio_mig_get_flags(h, &v), -EPROTO);
		assert_int_equal(uvfio_mig_get_flags(h, &v), -EPROTO);
		assert_int_equal(uvfio_mig_get_flags(h, &v), -EPROTO);
		assert_int_equal(uvfio_mig_get_state(h, &v), -EPROTO);
		assert_int_equal(uvfio_mig_data_size(h, &size), -EPROTO);
		assert_int_equal(uvfio_mig_get_flags(h, &v), -ENOTTY);
	});
}

static void test_set_state_checks_echo(void **state)
{
	(void)state;
	static const struct uvfio_feature_mig_state run = { UVFIO_MIG_STATE_RUNNING, -1 },
		to_p2p = { UVFIO_MIG_STATE_RUNNING_P2P, -1 }, stop = { UVFIO_MIG_STATE_STOP, -1 };
	static const struct canned p[] = {
		{ VFU_CMD_DEVICE_FEATURE, FEATURE_GET(VFIO_DEVICE_FEATURE_MIGRATION), NULL, 0,
		  &all_flags, 8, 0 },
		{ VFU_CMD_DEVICE_FEATURE, FEATURE_GET(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE), NULL, 0,
		  &run, 8, 0 },
		/* The first arc is RUNNING -> RUNNING_P2P; the server claims STOP. */
		{ VFU_CMD_DEVICE_FEATURE, FEATURE_SET(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE), &to_p2p,
		  8, &stop, 8, 0 },
		/* Read back after the failure. */
		{ VFU_CMD_DEVICE_FEATURE, FEATURE_GET(VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE), NULL, 0,
		  &run, 8, 0 },
	};
	struct uvfio_mig_path path = { .nr_arcs = 5 };

	RUN_PLAN(GOOD_JSON, p, {
		assert_int_equal(uvfio_mig_set_state(h, UVFIO_MIG_STATE_STOP, &path), -EPROTO);
		assert_int_equal(path.nr_arcs, 0);
	});
}

static void test_data_reply_checks(void **state)
{
	(void)state;
	struct { struct vfu_mig_data q; uint8_t d[8]; } __attribute__((packed))
		big = { { 16, 8 }, "abcdefg" }, lying = { { 16, 6 }, "abcdefg" },
		small_argsz = { { 8, 8 }, "abcdefg" }, good = { { 12, 4 }, "abc" },
		more = { { 16, 8 }, "abcdefg" }, tiny_argsz = { { 11, 4 }, "abc" };
	struct vfu_mig_data echo_bad = { 16, 7 }, echo_ok = { 16, 8 };
	const struct canned p[] = {
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, &big, 16, 0 },         /* 8 bytes for 4 */
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, &lying, 16, 0 },       /* size != data */
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, &small_argsz, 16, 0 }, /* argsz */
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, &good, 4, 0 },         /* truncated head */
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, &more, 12, 0 },        /* size > data sent */
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, &tiny_argsz, 12, 0 },  /* argsz, fits buf */
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, NULL, 0, EAGAIN },     /* error reply */
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, &good, 12, 0 },        /* short: the end */
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, &big, 16, 0 },         /* exactly asked */
		{ VFU_CMD_MIG_DATA_WRITE, 0, "12345678", 8, "x", 1, 0 },
		{ VFU_CMD_MIG_DATA_WRITE, 0, "12345678", 8, &echo_bad, 8, 0 },
		{ VFU_CMD_MIG_DATA_WRITE, 0, "12345678", 8, &echo_ok, 8, 0 },
		{ VFU_CMD_MIG_DATA_WRITE, 0, "12345678", 8, NULL, 0, 0 },
		{ VFU_CMD_MIG_DATA_WRITE, 0, "12345678", 8, NULL, 0, EINVAL },
	};
	uint8_t buf[8];

	plan = p;
	plan_len = sizeof(p) / sizeof(p[0]);
	struct fake f = { .version_json = GOOD_JSON };
	struct uvfio_handle *h = NULL;
	fake_start(&f, script_plan);
	assert_int_equal(open_fake(&f, &h), 0);
	assert_int_equal(uvfio_mig_read(h, buf, 4), -EPROTO);
	assert_int_equal(uvfio_mig_read(h, buf, 8), -EPROTO);
	assert_int_equal(uvfio_mig_read(h, buf, 8), -EPROTO);
	assert_int_equal(uvfio_mig_read(h, buf, 8), -EPROTO);
	assert_int_equal(uvfio_mig_read(h, buf, 8), -EPROTO);
	assert_int_equal(uvfio_mig_read(h, buf, 8), -EPROTO);
	assert_int_equal(uvfio_mig_read(h, buf, 8), -EAGAIN);
	assert_int_equal(uvfio_mig_read(h, buf, 8), 4);
	assert_memory_equal(buf, "abc", 4);
	assert_int_equal(uvfio_mig_read(h, buf, 8), 8);
	assert_memory_equal(buf, "abcdefg", 8);
	for (int i = 0; i < 2; i++)
		assert_int_equal(uvfio_mig_write(h, "12345678", 8), -EPROTO);
	for (int i = 0; i < 2; i++)
		assert_int_equal(uvfio_mig_write(h, "12345678", 8), 8);
	assert_int_equal(uvfio_mig_write(h, "12345678", 8), -EINVAL);
	assert_int_equal(uvfio_mig_read(h, NULL, 8), -EINVAL);
	assert_int_equal(uvfio_mig_read(h, buf, 0), 0);
	uvfio_close(h);
	fake_join(&f);
	assert_int_equal(f.count, (int)plan_len);
}

static void test_logging_reply_checks(void **state)
{
	(void)state;
	struct { struct uvfio_feature_logging_control c; struct uvfio_dirty_range r; }
	__attribute__((packed)) req = { { 8192, 1, 0 }, { 0x10000, 0x30000 } },
		smaller = { { 4096, 1, 0 }, { 0x10000, 0x30000 } },
		raised = { { 65536, 1, 0 }, { 0x10000, 0x30000 } };
	struct uvfio_feature_logging_report q = { 0x10000, 3 * 4096, 4096 };
	struct { struct uvfio_feature_logging_report q; uint64_t bits; } __attribute__((packed))
		rep = { q, ~0ull }, other = { { 0x20000, 3 * 4096, 4096 }, 1 };
	const uint32_t start = FEATURE_SET(VFIO_DEVICE_FEATURE_DMA_LOGGING_START),
		       report = FEATURE_GET(VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT);
	const struct canned p[] = {
		{ VFU_CMD_DEVICE_FEATURE, start, &req, sizeof(req), &smaller, sizeof(smaller), 0 },
		{ VFU_CMD_DEVICE_FEATURE, start, &req, sizeof(req), &req, 16, 0 },
		{ VFU_CMD_DEVICE_FEATURE, start, &req, sizeof(req), &raised, sizeof(raised), 0 },
		{ VFU_CMD_DEVICE_FEATURE, report, &q, sizeof(q), &other, sizeof(other), 0 },
		{ VFU_CMD_DEVICE_FEATURE, report, &q, sizeof(q), &rep, 24, 0 },
		{ VFU_CMD_DEVICE_FEATURE, report, &q, sizeof(q), &rep, sizeof(rep), 0 },
	};
	const struct uvfio_dirty_range range = req.r;
	uint64_t ps, bitmap;

	plan = p;
	plan_len = sizeof(p) / sizeof(p[0]);
	struct fake f = { .version_json = GOOD_JSON };
	struct uvfio_handle *h = NULL;
	fake_start(&f, script_plan);
	assert_int_equal(open_fake(&f, &h), 0);
	ps = 8192;
	assert_int_equal(uvfio_dirty_start(h, &range, 1, &ps), -EPROTO); /* lowered */
	assert_int_equal(uvfio_dirty_start(h, &range, 1, &ps), -EPROTO); /* truncated echo */
	assert_int_equal(uvfio_dirty_start(h, &range, 1, &ps), 0);
	assert_int_equal(ps, 65536);
	assert_int_equal(uvfio_dirty_report(h, 0x10000, 3 * 4096, 4096, &bitmap), -EPROTO);
	assert_int_equal(uvfio_dirty_report(h, 0x10000, 3 * 4096, 4096, &bitmap), -EPROTO);
	/* Bits past the 3 pages asked for are dropped. */
	bitmap = 0;
	assert_int_equal(uvfio_dirty_report(h, 0x10000, 3 * 4096, 4096, &bitmap), 0);
	assert_int_equal(bitmap, 7);
	uvfio_close(h);
	fake_join(&f);
	assert_int_equal(f.count, (int)plan_len);
}

/* A report whose bitmap does not fit one message is asked for in pieces of whole words. */
static void test_report_split(void **state)
{
	(void)state;
	/* max_data_xfer_size 4096: (4096 - 24 - 8) / 8 words of 64 pages per request. */
	const uint64_t chunk = (4096 - 32) / 8 * 64, ps = 4096;
	static uint8_t first[24 + (4096 - 32)];
	struct uvfio_feature_logging_report q1 = { 0, chunk * ps, ps }, q2 = { chunk * ps, ps, ps };
	struct { struct uvfio_feature_logging_report q; uint64_t bits; } __attribute__((packed))
		second = { q2, 1 };
	const uint32_t report = FEATURE_GET(VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT);
	const struct canned p[] = {
		{ VFU_CMD_DEVICE_FEATURE, report, &q1, sizeof(q1), first, sizeof(first), 0 },
		{ VFU_CMD_DEVICE_FEATURE, report, &q2, sizeof(q2), &second, sizeof(second), 0 },
	};
	uint64_t *bitmap = calloc(chunk / 64 + 1, 8);

	assert_non_null(bitmap);
	memcpy(first, &q1, sizeof(q1));
	first[24] = 0x2; /* page 1 */
	RUN_PLAN(SMALL_JSON, p, {
		assert_int_equal(uvfio_dirty_report(h, 0, (chunk + 1) * ps, ps, bitmap), 0);
	});
	assert_int_equal(bitmap[0], 2);
	assert_int_equal(bitmap[chunk / 64], 1);
	free(bitmap);
}

/* MIG_DATA_READ replies that land in the caller's buffer: a server command in between is
 * answered and does not land there; a peer that closes inside the data breaks the connection. */
static void script_read_specials(struct fake *f, int fd)
{
	struct vfu_msg m;
	struct { struct vfu_mig_data q; uint8_t d[8]; } __attribute__((packed))
		rep = { { 16, 8 }, "ABCDEFG" };
	struct vfu_dma_access acc = { .addr = 0x1000, .count = 8 };

	/* 1: a DMA_READ of the server's own comes first (no IOAS: the client refuses it). */
	if (srv_recv(fd, &m) < 0) {
		f->bad++;
		return;
	}
	SRV_CHECK(f, m.hdr.cmd == VFU_CMD_MIG_DATA_READ);
	srv_send(fd, 0x77, VFU_CMD_DMA_READ, VFU_F_TYPE_COMMAND, 0, &acc, sizeof(acc), NULL, 0);
	struct vfu_msg d;
	if (srv_recv(fd, &d) == 0) {
		SRV_CHECK(f, d.hdr.msg_id == 0x77 && (d.hdr.flags & VFU_F_ERROR));
		vfu_msg_release(&d);
	} else {
		f->bad++;
	}
	srv_reply(fd, &m, &rep, sizeof(rep));
	vfu_msg_release(&m);
	f->count++;

	/* 2: the header promises 8 bytes of data, 3 arrive, then the peer is gone. */
	if (srv_recv(fd, &m) < 0) {
		f->bad++;
		return;
	}
	struct vfu_hdr h = { .msg_id = m.hdr.msg_id, .cmd = m.hdr.cmd, .flags = VFU_F_TYPE_REPLY,
			     .msg_size = 16 + 16 };
	uint8_t part[16 + 8 + 3];
	memcpy(part, &h, 16);
	memcpy(part + 16, &rep, 8 + 3);
	SRV_CHECK(f, write(fd, part, sizeof(part)) == (ssize_t)sizeof(part));
	vfu_msg_release(&m);
	f->count++;
	shutdown(fd, SHUT_RDWR);
}

static void test_read_straight_to_buffer(void **state)
{
	(void)state;
	struct fake f = { .version_json = GOOD_JSON };
	struct uvfio_handle *h = NULL;
	uint8_t buf[8];

	fake_start(&f, script_read_specials);
	assert_int_equal(open_fake(&f, &h), 0);
	assert_int_equal(uvfio_mig_read(h, buf, 8), 8);
	assert_memory_equal(buf, "ABCDEFG", 8);
	assert_int_equal(uvfio_mig_read(h, buf, 8), -EPROTO);
	/* The stream is out of step: nothing more goes out. */
	assert_int_equal(uvfio_mig_read(h, buf, 8), -ENOTCONN);
	uvfio_close(h);
	fake_join(&f);
	assert_int_equal(f.count, 2);
}

/* The uvfio transfer size: one request for what the standard size would split in 16. */
static void script_big_read(struct fake *f, int fd)
{
	struct vfu_msg m;
	static uint8_t rep[8 + 65536];
	struct vfu_mig_data q;

	if (srv_recv(fd, &m) < 0) {
		f->bad++;
		return;
	}
	SRV_CHECK(f, m.hdr.cmd == VFU_CMD_MIG_DATA_READ && m.payload_len == 8);
	memcpy(&q, m.payload, 8);
	f->count++;
	f->arg = q.size;
	SRV_CHECK(f, q.size <= sizeof(rep) - 8);
	if (q.size > sizeof(rep) - 8)
		q.size = 0;
	q.argsz = 8 + q.size;
	memcpy(rep, &q, 8);
	for (uint32_t i = 0; i < q.size; i++)
		rep[8 + i] = (uint8_t)(i * 13);
	srv_reply(fd, &m, rep, 8 + q.size);
	vfu_msg_release(&m);
}

static void test_uvfio_xfer_size(void **state)
{
	(void)state;
	struct fake f = { .version_json = "{\"capabilities\":{\"max_data_xfer_size\":4096,"
					  "\"uvfio\":{\"max_data_xfer_size\":65536}}}" };
	struct uvfio_handle *h = NULL;
	uint8_t *buf = malloc(65536);

	assert_non_null(buf);
	fake_start(&f, script_big_read);
	assert_int_equal(open_fake(&f, &h), 0);
	assert_int_equal(h->ops->max_rw(h), 65536);
	assert_int_equal(uvfio_mig_read(h, buf, 65536), 65536);
	for (uint32_t i = 0; i < 65536; i++)
		if (buf[i] != (uint8_t)(i * 13))
			fail_msg("byte %u", i);
	uvfio_close(h);
	fake_join(&f);
	assert_int_equal(f.count, 1);
	assert_int_equal(f.arg, 65536);
	free(buf);

	/* Without the uvfio key the standard size holds. */
	struct fake g = { .version_json = SMALL_JSON };
	fake_start(&g, NULL);
	assert_int_equal(open_fake(&g, &h), 0);
	assert_int_equal(h->ops->max_rw(h), 4096);
	uvfio_close(h);
	fake_join(&g);

	/* More than we proposed, nothing, or no number: the handshake fails. */
	static const char *const bad[] = {
		"{\"capabilities\":{\"uvfio\":{\"max_data_xfer_size\":16777217}}}",
		"{\"capabilities\":{\"uvfio\":{\"max_data_xfer_size\":0}}}",
		"{\"capabilities\":{\"uvfio\":{\"max_data_xfer_size\":\"16M\"}}}",
		"{\"capabilities\":{\"uvfio\":{\"max_data_xfer_size\":-5}}}",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fake b = { .version_json = bad[i] };
		expect_open_fails(&b, -EPROTO);
	}
}

/* mig_read packs a reply: head (argsz, size) and data. */
struct mig_reply {
	uint32_t argsz, size;
	char data[8];
};
#define MIG_REPLY(s) { 8 + sizeof(s) - 1, sizeof(s) - 1, s }

/*
 * Read-ahead, with a uvfio server: a full reply sends the next read before the caller asks; its
 * reply is the next read's, or is kept while another command goes by, and is dropped when a
 * state change ends the saving session.
 */
static void test_read_ahead(void **state)
{
	(void)state;
	static const struct mig_reply full1 = MIG_REPLY("abcdefgh"), short2 = MIG_REPLY("ijkl"),
				      full3 = MIG_REPLY("01234567"), full4 = MIG_REPLY("89abcdef"),
				      full5 = MIG_REPLY("ABCDEFGH"), full6 = MIG_REPLY("XXXXXXXX"),
				      end = { 8, 0, "" };
	static const uint64_t flags = UVFIO_MIGRATION_STOP_COPY;
	static const uint32_t running[2] = { UVFIO_MIG_STATE_RUNNING, (uint32_t)-1 };
	const uint32_t get_mig = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION;
	const uint32_t set_state = VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE;
	const struct canned p[] = {
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, &full1, 16, 0 },
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, &short2, 12, 0 }, /* the read ahead */
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, &full3, 16, 0 },
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, &full4, 16, 0 }, /* ahead, kept */
		{ VFU_CMD_DEVICE_FEATURE, get_mig, NULL, 0, &flags, 8, 0 },
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, &full5, 16, 0 },
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, &full6, 16, 0 }, /* ahead, dropped */
		{ VFU_CMD_DEVICE_FEATURE, set_state, running, 8, running, 8, 0 },
		{ VFU_CMD_MIG_DATA_READ, 0, NULL, 0, &end, 8, 0 },
	};
	char buf[8];
	uint32_t got_flags;

	RUN_PLAN("{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
		 "\"uvfio\":{\"max_data_xfer_size\":65536}}}",
		 p, {
			 assert_int_equal(uvfio_mig_read(h, buf, 8), 8);
			 assert_memory_equal(buf, "abcdefgh", 8);
			 assert_int_equal(uvfio_mig_read(h, buf, 8), 4); /* short: no read ahead */
			 assert_memory_equal(buf, "ijkl", 4);
			 assert_int_equal(uvfio_mig_read(h, buf, 8), 8);
			 assert_memory_equal(buf, "01234567", 8);
			 assert_int_equal(uvfio_mig_get_flags(h, &got_flags), 0);
			 assert_int_equal(got_flags, UVFIO_MIGRATION_STOP_COPY);
			 assert_int_equal(uvfio_mig_read(h, buf, 8), 8); /* kept across the call */
			 assert_memory_equal(buf, "89abcdef", 8);
			 assert_int_equal(uvfio_mig_read(h, buf, 8), 8);
			 assert_memory_equal(buf, "ABCDEFGH", 8);
			 assert_int_equal(uvfio_device_feature_call(h, set_state, running, 8, NULL,
								    NULL),
					  0);
			 assert_int_equal(uvfio_mig_read(h, buf, 8), 0); /* not the dropped bytes */
		 });
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_precopy_not_negotiated),
		cmocka_unit_test(test_precopy_negotiated),
		cmocka_unit_test(test_precopy_bad_version),
		cmocka_unit_test(test_bad_flags_and_state),
		cmocka_unit_test(test_set_state_checks_echo),
		cmocka_unit_test(test_data_reply_checks),
		cmocka_unit_test(test_logging_reply_checks),
		cmocka_unit_test(test_report_split),
		cmocka_unit_test(test_read_straight_to_buffer),
		cmocka_unit_test(test_uvfio_xfer_size),
		cmocka_unit_test(test_read_ahead),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
