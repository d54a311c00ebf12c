/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include <uvfio/server.h>

#include "vfio-user/caps.h"
#include "vfio-user/wire.h"

static const struct vfu_server_limits ours = {
	.max_msg_fds = 16,
	.max_data_xfer_size = 1 << 20,
	.max_dma_maps = 65535,
	.allow_twin_socket = true,
	.allow_write_multiple = true,
};

/* VERSION payload: major, minor, then json (with its NUL) if not NULL. */
static size_t make_version(uint8_t *buf, uint16_t major, uint16_t minor, const char *json)
{
	struct vfu_version v = { .major = major, .minor = minor };
	size_t n = sizeof(v);

	memcpy(buf, &v, sizeof(v));
	if (json) {
		memcpy(buf + n, json, strlen(json) + 1);
		n += strlen(json) + 1;
	}
	return n;
}

static struct json_object *reply_caps(const char *reply, struct json_object **root)
{
	struct json_object *caps;

	*root = json_tokener_parse(reply);
	assert_non_null(*root);
	assert_true(json_object_object_get_ex(*root, "capabilities", &caps));
	return caps;
}

static int64_t get_int(struct json_object *o, const char *key)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_int64(v);
}

static void test_qemu_json(void **state)
{
	(void)state;
	uint8_t buf[1024];
	struct vfu_negotiated neg;
	char *reply;
	size_t rlen;
	size_t n = make_version(buf, 0, 0,
		"{\"capabilities\": {\"pgsizes\": 4096, \"max_msg_fds\": 16, \"max_dma_maps\": 65535, "
		"\"max_data_xfer_size\": 1048576, \"migration\": {\"max_bitmap_size\": 268435456, "
		"\"pgsize\": 4096}, \"write_multiple\": true}}");

	assert_int_equal(vfu_version_negotiate(buf, n, &ours, &neg, &reply, &rlen), 0);
	assert_int_equal(neg.minor, 0);
	assert_int_equal(neg.client_max_msg_fds, 16);
	assert_int_equal(neg.max_data_xfer_size, 1048576);
	assert_int_equal(neg.max_dma_maps, 65535);
	assert_int_equal(neg.mig_pgsize, 4096);
	assert_true(neg.write_multiple);
	assert_false(neg.twin_socket);
	assert_int_equal(rlen, strlen(reply) + 1);
	struct json_object *root, *caps = reply_caps(reply, &root), *v;
	assert_int_equal(get_int(caps, "max_msg_fds"), 16);
	assert_int_equal(get_int(caps, "max_data_xfer_size"), 1048576);
	assert_int_equal(get_int(caps, "pgsizes"), 4096);
	assert_true(json_object_object_get_ex(caps, "write_multiple", &v));
	assert_true(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(caps, "migration", &v));
	assert_int_equal(get_int(v, "pgsize"), 4096);
	assert_false(json_object_object_get_ex(caps, "twin_socket", &v));
	assert_false(json_object_object_get_ex(caps, "uvfio", &v));
	assert_false(neg.precopy_info);
	assert_true(neg.qemu_dma_layout); /* QEMU's VERSION: QEMU's DMA message layout */
	json_object_put(root);
	free(reply);
}

/* Which DMA message layout a connection gets: auto-detected, or forced by the server. */
static void test_dma_layout_choice(void **state)
{
	(void)state;
	static const char *const qemu = "{\"capabilities\": {\"migration\": "
					"{\"max_bitmap_size\": 268435456, \"pgsize\": 4096}}}";
	static const char *const lvu = "{\"capabilities\":{\"migration\":{\"pgsize\":4096}}}";
	struct { const char *json; int mode; bool qemu; } cases[] = {
		{ qemu, UVFIO_DMA_MSG_AUTO, true },  { lvu, UVFIO_DMA_MSG_AUTO, false },
		{ NULL, UVFIO_DMA_MSG_AUTO, false }, { qemu, UVFIO_DMA_MSG_SPEC, false },
		{ lvu, UVFIO_DMA_MSG_QEMU, true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		uint8_t buf[256];
		struct vfu_server_limits l = ours;
		struct vfu_negotiated neg;
		char *reply;
		size_t rlen, n = make_version(buf, 0, 0, cases[i].json);
		l.dma_msg_layout = cases[i].mode;
		assert_int_equal(vfu_version_negotiate(buf, n, &l, &neg, &reply, &rlen), 0);
		assert_int_equal(neg.qemu_dma_layout, cases[i].qemu);
		free(reply);
	}
}

static void test_limits_and_subset(void **state)
{
	(void)state;
	uint8_t buf[1024];
	struct vfu_negotiated neg;
	char *reply;
	size_t rlen;
	struct vfu_server_limits small = ours;

	small.max_data_xfer_size = 4096;
	small.allow_write_multiple = false;
	size_t n = make_version(buf, 0, 7,
		"{\"capabilities\":{\"max_data_xfer_size\":65536,\"max_dma_maps\":10,"
		"\"write_multiple\":true,\"future_thing\":[1,2],\"twin_socket\":{\"supported\":true}}}");
	assert_int_equal(vfu_version_negotiate(buf, n, &small, &neg, &reply, &rlen), 0);
	assert_int_equal(neg.minor, VFU_MINOR);
	assert_int_equal(neg.max_data_xfer_size, 4096);
	assert_int_equal(neg.max_dma_maps, 10);
	assert_int_equal(neg.client_max_msg_fds, VFU_DEFAULT_MAX_MSG_FDS);
	assert_false(neg.write_multiple);
	assert_true(neg.twin_socket);
	struct json_object *root, *caps = reply_caps(reply, &root), *v, *t;
	assert_int_equal(get_int(caps, "max_data_xfer_size"), 4096);
	assert_int_equal(get_int(caps, "max_dma_maps"), 10);
	/* Not proposed by the client: not in the reply. */
	assert_false(json_object_object_get_ex(caps, "max_msg_fds", &v));
	assert_false(json_object_object_get_ex(caps, "pgsizes", &v));
	assert_false(json_object_object_get_ex(caps, "future_thing", &v));
	assert_true(json_object_object_get_ex(caps, "write_multiple", &v));
	assert_false(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(caps, "twin_socket", &t));
	assert_true(json_object_object_get_ex(t, "supported", &v));
	assert_true(json_object_get_boolean(v));
	assert_int_equal(get_int(t, "fd_index"), 0);
	json_object_put(root);
	free(reply);

	/* Twin socket refused by config. */
	small.allow_twin_socket = false;
	assert_int_equal(vfu_version_negotiate(buf, n, &small, &neg, &reply, &rlen), 0);
	assert_false(neg.twin_socket);
	caps = reply_caps(reply, &root);
	assert_true(json_object_object_get_ex(caps, "twin_socket", &t));
	assert_true(json_object_object_get_ex(t, "supported", &v));
	assert_false(json_object_get_boolean(v));
	assert_false(json_object_object_get_ex(t, "fd_index", &v));
	json_object_put(root);
	free(reply);
}

static void test_missing_json_is_defaults(void **state)
{
	(void)state;
	uint8_t buf[64];
	struct vfu_negotiated neg;
	char *reply;
	size_t rlen;
	size_t n = make_version(buf, 0, 1, NULL);

	assert_int_equal(vfu_version_negotiate(buf, n, &ours, &neg, &reply, &rlen), 0);
	assert_int_equal(neg.minor, 1);
	assert_int_equal(neg.client_max_msg_fds, 1);
	assert_int_equal(neg.max_data_xfer_size, VFU_DEFAULT_MAX_DATA_XFER);
	assert_string_equal(reply, "{\"capabilities\":{}}");
	free(reply);
	/* An object without "capabilities" is fine too. */
	n = make_version(buf, 0, 0, "{}");
	assert_int_equal(vfu_version_negotiate(buf, n, &ours, &neg, &reply, &rlen), 0);
	free(reply);
}

static void expect_bad(const char *json)
{
	uint8_t buf[512];
	struct vfu_negotiated neg;
	char *reply = NULL;
	size_t rlen;
	size_t n = make_version(buf, 0, 0, json);

	assert_int_equal(vfu_version_negotiate(buf, n, &ours, &neg, &reply, &rlen), -EINVAL);
	assert_null(reply);
}

static void test_bad_types(void **state)
{
	(void)state;
	expect_bad("{\"capabilities\":{\"max_msg_fds\":\"16\"}}");
	expect_bad("{\"capabilities\":{\"max_msg_fds\":-1}}");
	expect_bad("{\"capabilities\":{\"max_msg_fds\":4294967296}}");
	expect_bad("{\"capabilities\":{\"max_data_xfer_size\":1.5}}");
	expect_bad("{\"capabilities\":{\"max_data_xfer_size\":0}}");
	expect_bad("{\"capabilities\":{\"max_dma_maps\":true}}");
	expect_bad("{\"capabilities\":{\"pgsizes\":null}}");
	expect_bad("{\"capabilities\":{\"write_multiple\":1}}");
	expect_bad("{\"capabilities\":{\"twin_socket\":true}}");
	expect_bad("{\"capabilities\":{\"twin_socket\":{\"supported\":\"yes\"}}}");
	expect_bad("{\"capabilities\":{\"migration\":4096}}");
	expect_bad("{\"capabilities\":{\"migration\":{\"pgsize\":\"x\"}}}");
	expect_bad("{\"capabilities\":[]}");
	expect_bad("[1,2]");
	expect_bad("{\"capabilities\":{");
	expect_bad("{} trailing");
	expect_bad("");
}

static void test_bad_framing(void **state)
{
	(void)state;
	uint8_t buf[64] = { 0 };
	struct vfu_negotiated neg;
	char *reply = NULL;
	size_t rlen;

	/* Shorter than major/minor. */
	assert_int_equal(vfu_version_negotiate(buf, 3, &ours, &neg, &reply, &rlen), -EINVAL);
	/* Major other than 0. */
	size_t n = make_version(buf, 1, 0, "{}");
	assert_int_equal(vfu_version_negotiate(buf, n, &ours, &neg, &reply, &rlen), -EINVAL);
	/* JSON without its NUL inside the payload. */
	n = make_version(buf, 0, 0, "{}");
	assert_int_equal(vfu_version_negotiate(buf, n - 1, &ours, &neg, &reply, &rlen), -EINVAL);
	assert_null(reply);
	/* Bytes after the NUL are tolerated (padding). */
	buf[n] = 'x';
	assert_int_equal(vfu_version_negotiate(buf, n + 1, &ours, &neg, &reply, &rlen), 0);
	free(reply);
}

/* Negotiates json; returns the reply's "uvfio" object (NULL if absent) and neg. */
static struct json_object *uvfio_reply(const char *json, struct vfu_negotiated *neg,
				       struct json_object **root)
{
	uint8_t buf[512];
	char *reply;
	size_t rlen;
	size_t n = make_version(buf, 0, 0, json);
	struct json_object *u = NULL;

	assert_int_equal(vfu_version_negotiate(buf, n, &ours, neg, &reply, &rlen), 0);
	struct json_object *caps = reply_caps(reply, root);
	free(reply);
	if (!json_object_object_get_ex(caps, "uvfio", &u))
		return NULL;
	assert_true(json_object_is_type(u, json_type_object));
	return u;
}

static bool reply_precopy(struct json_object *u)
{
	struct json_object *v;

	assert_true(json_object_object_get_ex(u, "precopy_info", &v));
	assert_true(json_object_is_type(v, json_type_boolean));
	return json_object_get_boolean(v);
}

/* The uvfio extension: answered only when proposed, so other clients never see the key. */
static void test_uvfio_extension(void **state)
{
	(void)state;
	struct vfu_negotiated neg;
	struct json_object *root, *u;

	u = uvfio_reply("{\"capabilities\":{\"uvfio\":{\"precopy_info\":true}}}", &neg, &root);
	assert_non_null(u);
	assert_true(reply_precopy(u));
	assert_true(neg.precopy_info);
	json_object_put(root);
	/* Proposed as false, or as an object without the member: echoed as false. */
	u = uvfio_reply("{\"capabilities\":{\"uvfio\":{\"precopy_info\":false}}}", &neg, &root);
	assert_non_null(u);
	assert_false(reply_precopy(u));
	assert_false(neg.precopy_info);
	json_object_put(root);
	u = uvfio_reply("{\"capabilities\":{\"uvfio\":{\"future\":1}}}", &neg, &root);
	assert_non_null(u);
	assert_false(reply_precopy(u));
	assert_false(neg.precopy_info);
	json_object_put(root);
	/* Not proposed: not in the reply, not negotiated. */
	u = uvfio_reply("{\"capabilities\":{\"max_msg_fds\":4}}", &neg, &root);
	assert_null(u);
	assert_false(neg.precopy_info);
	json_object_put(root);
	u = uvfio_reply("{\"precopy_info\":true}", &neg, &root);
	assert_null(u);
	assert_false(neg.precopy_info);
	json_object_put(root);
	/* Wrong types are refused. */
	expect_bad("{\"capabilities\":{\"uvfio\":true}}");
	expect_bad("{\"capabilities\":{\"uvfio\":{\"precopy_info\":1}}}");
	expect_bad("{\"capabilities\":{\"uvfio\":{\"precopy_info\":\"true\"}}}");
}

/* The uvfio transfer size: granted up to the server's uvfio limit, to a client that proposed
 * it; the standard key of the reply keeps its own value, and a server without the limit does
 * not answer it. */
static void test_uvfio_xfer(void **state)
{
	(void)state;
	struct vfu_server_limits big = ours;
	struct vfu_negotiated neg;
	struct json_object *root, *caps, *u;
	uint8_t buf[512];
	char *reply;
	size_t rlen, n;
	static const struct {
		const char *json;
		uint32_t limit, want;
	} cases[] = {
		{ "{\"capabilities\":{\"max_data_xfer_size\":1048576,"
		  "\"uvfio\":{\"max_data_xfer_size\":16777216}}}", 8 << 20, 8 << 20 },
		{ "{\"capabilities\":{\"max_data_xfer_size\":1048576,"
		  "\"uvfio\":{\"max_data_xfer_size\":2097152}}}", 8 << 20, 2 << 20 },
		{ "{\"capabilities\":{\"max_data_xfer_size\":1048576,"
		  "\"uvfio\":{\"max_data_xfer_size\":2097152}}}", 4096, 4096 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		big.uvfio_max_xfer = cases[i].limit;
		n = make_version(buf, 0, 0, cases[i].json);
		assert_int_equal(vfu_version_negotiate(buf, n, &big, &neg, &reply, &rlen), 0);
		assert_int_equal(neg.max_data_xfer_size, cases[i].want);
		caps = reply_caps(reply, &root);
		free(reply);
		assert_int_equal(get_int(caps, "max_data_xfer_size"), 1 << 20);
		assert_true(json_object_object_get_ex(caps, "uvfio", &u));
		assert_int_equal(get_int(u, "max_data_xfer_size"), cases[i].want);
		json_object_put(root);
	}
	/* A server with no uvfio limit: the standard size, and no answer to the key. */
	n = make_version(buf, 0, 0, cases[0].json);
	assert_int_equal(vfu_version_negotiate(buf, n, &ours, &neg, &reply, &rlen), 0);
	assert_int_equal(neg.max_data_xfer_size, 1 << 20);
	caps = reply_caps(reply, &root);
	free(reply);
	assert_true(json_object_object_get_ex(caps, "uvfio", &u));
	assert_false(json_object_object_get_ex(u, "max_data_xfer_size", NULL));
	json_object_put(root);
	/* Not proposed (QEMU's JSON): nothing changes even with the limit. */
	big.uvfio_max_xfer = 16 << 20;
	n = make_version(buf, 0, 0, "{\"capabilities\":{\"max_data_xfer_size\":1048576}}");
	assert_int_equal(vfu_version_negotiate(buf, n, &big, &neg, &reply, &rlen), 0);
	assert_int_equal(neg.max_data_xfer_size, 1 << 20);
	caps = reply_caps(reply, &root);
	free(reply);
	assert_false(json_object_object_get_ex(caps, "uvfio", NULL));
	json_object_put(root);
	/* Bad values. */
	expect_bad("{\"capabilities\":{\"uvfio\":{\"max_data_xfer_size\":0}}}");
	expect_bad("{\"capabilities\":{\"uvfio\":{\"max_data_xfer_size\":-1}}}");
	expect_bad("{\"capabilities\":{\"uvfio\":{\"max_data_xfer_size\":\"16M\"}}}");
	expect_bad("{\"capabilities\":{\"uvfio\":{\"max_data_xfer_size\":1.5}}}");
	expect_bad("{\"capabilities\":{\"uvfio\":{\"max_data_xfer_size\":4294967296}}}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_qemu_json),
		cmocka_unit_test(test_limits_and_subset),
		cmocka_unit_test(test_missing_json_is_defaults),
		cmocka_unit_test(test_bad_types),
		cmocka_unit_test(test_bad_framing),
		cmocka_unit_test(test_uvfio_extension),
		cmocka_unit_test(test_uvfio_xfer),
		cmocka_unit_test(test_dma_layout_choice),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
