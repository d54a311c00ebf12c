/* SPDX-License-Identifier: MIT */
/*
 * Interoperability: the server as the real clients see it on the wire. QEMU 10.2's
 * vfio-user-pci and libvfio-user's client are replayed byte for byte where it matters: their
 * exact VERSION proposals (QEMU warns about "spurious" keys and rejects limits it cannot take),
 * QEMU's fixed 32-byte region-info request followed by a re-ask, its unmap-all at teardown,
 * its posted writes and its DMA_READ/DMA_WRITE message layout.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "harness.h"
#include "vfio-user/wire.h"

/* What QEMU 10.2.2 sends (protocol notes §3.1), key order and spacing included. */
static const char qemu_caps[] =
	"{\"capabilities\": {\"pgsizes\": 4096, \"max_msg_fds\": 16, \"max_dma_maps\": 65535, "
	"\"max_data_xfer_size\": 1048576, \"migration\": {\"max_bitmap_size\": 268435456, "
	"\"pgsize\": 4096}, \"write_multiple\": true}}";
/* libvfio-user's client: minor 2, fewer fds, asks for the twin socket. */
static const char lvu_caps[] = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,"
			       "\"migration\":{\"pgsize\":4096},\"twin_socket\":{\"supported\":true}}}";

static struct h_server server;
static int sock = -1;

static int group_setup(void **state)
{
	(void)state;
	return h_server_start(&server, h_test_device, NULL, NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	return h_server_stop(&server) == 0 ? 0 : -1;
}

static int close_sock(void **state)
{
	(void)state;
	if (sock >= 0)
		close(sock);
	sock = -1;
	return 0;
}

/* Sends VERSION major.minor with json; returns the reply (caller releases). */
static void version(uint16_t minor, const char *json, struct vfu_msg *reply)
{
	uint8_t buf[1024];
	struct vfu_version v = { .major = 0, .minor = minor };
	size_t len = strlen(json) + 1;

	sock = h_connect(server.sock_path);
	assert_true(sock >= 0);
	memcpy(buf, &v, sizeof(v));
	memcpy(buf + sizeof(v), json, len);
	assert_int_equal(h_send(sock, 1, VFU_CMD_VERSION, 0, buf, sizeof(v) + len, NULL, 0), 0);
	assert_int_equal(h_recv(sock, reply, 5000), 0);
	assert_int_equal(reply->hdr.flags, VFU_F_TYPE_REPLY);
	assert_int_equal(reply->hdr.cmd, VFU_CMD_VERSION);
	assert_true(reply->payload_len > sizeof(v));
	assert_int_equal(reply->payload[reply->payload_len - 1], '\0');
	memcpy(&v, reply->payload, sizeof(v));
	assert_int_equal(v.major, 0);
	assert_true(v.minor <= minor);
}

static struct json_object *reply_caps(const struct vfu_msg *reply)
{
	struct json_object *root = json_tokener_parse((const char *)reply->payload + 4);
	struct json_object *caps;

	assert_non_null(root);
	assert_true(json_object_object_get_ex(root, "capabilities", &caps));
	assert_true(json_object_is_type(caps, json_type_object));
	json_object_get(caps);
	json_object_put(root);
	return caps;
}

static void test_qemu_version(void **state)
{
	struct vfu_msg reply;
	(void)state;

	version(0, qemu_caps, &reply);
	assert_int_equal(reply.nfds, 0);
	struct json_object *caps = reply_caps(&reply);
	struct json_object *proposed_root = json_tokener_parse(qemu_caps), *proposed;
	assert_true(json_object_object_get_ex(proposed_root, "capabilities", &proposed));

	/* Nothing QEMU did not propose (it warns about spurious capabilities)... */
	json_object_object_foreach(caps, key, val) {
		(void)val;
		if (!json_object_object_get_ex(proposed, key, NULL))
			fail_msg("reply capability \"%s\" was not proposed", key);
	}
	/* ...and limits QEMU accepts. */
	struct json_object *v;
	if (json_object_object_get_ex(caps, "max_msg_fds", &v))
		assert_true(json_object_get_int64(v) >= 1 && json_object_get_int64(v) <= 16);
	if (json_object_object_get_ex(caps, "max_data_xfer_size", &v))
		assert_true(json_object_get_int64(v) > 0 && json_object_get_int64(v) <= (64 << 20));
	if (json_object_object_get_ex(caps, "max_dma_maps", &v))
		assert_true(json_object_get_int64(v) > 0 && json_object_get_int64(v) <= 65535);
	if (json_object_object_get_ex(caps, "pgsizes", &v))
		assert_int_equal(json_object_get_int64(v) % 4096, 0);
	/* Exactly QEMU's transfer size, whatever uvfio clients may get. */
	assert_true(json_object_object_get_ex(caps, "max_data_xfer_size", &v));
	assert_int_equal(json_object_get_int64(v), 1048576);
	/* QEMU batches posted writes only if the server advertises write_multiple. */
	assert_true(json_object_object_get_ex(caps, "write_multiple", &v));
	assert_true(json_object_get_boolean(v));
	json_object_put(proposed_root);
	json_object_put(caps);
	vfu_msg_release(&reply);
}

static void test_libvfio_user_version_twin_socket(void **state)
{
	struct vfu_msg reply, m;
	struct json_object *twin, *v;
	(void)state;

	version(2, lvu_caps, &reply);
	struct json_object *caps = reply_caps(&reply);
	assert_true(json_object_object_get_ex(caps, "twin_socket", &twin));
	assert_true(json_object_object_get_ex(twin, "supported", &v));
	assert_true(json_object_get_boolean(v));
	assert_true(json_object_object_get_ex(twin, "fd_index", &v));
	int64_t idx = json_object_get_int64(v);
	assert_true(idx >= 0 && (size_t)idx < reply.nfds);
	/* libvfio-user never sees write_multiple nor uvfio's keys: it did not propose them. */
	assert_false(json_object_object_get_ex(caps, "write_multiple", NULL));
	assert_false(json_object_object_get_ex(caps, "uvfio", NULL));
	assert_true(json_object_object_get_ex(caps, "max_data_xfer_size", &v));
	assert_int_equal(json_object_get_int64(v), 1048576);
	json_object_put(caps);
	vfu_msg_release(&reply);

	/* The connection works after the handshake. */
	struct vfu_device_info info = { .argsz = sizeof(info) };
	assert_int_equal(h_send(sock, 2, VFU_CMD_DEVICE_GET_INFO, 0, &info, sizeof(info), NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	assert_int_equal(m.payload_len, sizeof(info));
	vfu_msg_release(&m);
}

/* QEMU asks with argsz 32 (struct vfio_region_info) and re-asks with the argsz the reply names. */
static void test_qemu_region_info_reask(void **state)
{
	struct vfu_msg reply, m;
	struct vfu_region_info ri = { .argsz = sizeof(ri), .index = 2 };
	(void)state;

	version(0, qemu_caps, &reply);
	vfu_msg_release(&reply);
	assert_int_equal(h_send(sock, 2, VFU_CMD_DEVICE_GET_REGION_INFO, 0, &ri, sizeof(ri), NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	/* Never more than QEMU's buffer ("reply larger than recv buffer" is fatal there). */
	assert_int_equal(m.payload_len, sizeof(ri));
	struct vfu_region_info got;
	memcpy(&got, m.payload, sizeof(got));
	assert_true(got.argsz > sizeof(ri)); /* BAR2 has a sparse-mmap capability */
	assert_int_equal(got.size, 8192);
	uint32_t need = got.argsz;
	vfu_msg_release(&m);

	/* The re-ask: still a 32-byte request (QEMU's msg_size), only argsz grows. */
	ri.argsz = need;
	assert_int_equal(h_send(sock, 3, VFU_CMD_DEVICE_GET_REGION_INFO, 0, &ri, sizeof(ri), NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	assert_int_equal(m.payload_len, need);
	memcpy(&got, m.payload, sizeof(got));
	assert_int_equal(got.argsz, need);
	assert_true(got.cap_offset >= sizeof(got) && got.cap_offset + 16 <= need);
	struct vfu_cap_sparse_mmap sp;
	memcpy(&sp, m.payload + got.cap_offset, sizeof(sp));
	assert_int_equal(sp.hdr.id, 1); /* VFIO_REGION_INFO_CAP_SPARSE_MMAP */
	assert_int_equal(sp.nr_areas, 1);
	assert_int_equal(m.nfds, 1); /* the fd to mmap, on the same message */
	vfu_msg_release(&m);
}

/* QEMU's teardown: DMA_UNMAP with flags ALL, address and size 0. */
static void test_qemu_unmap_all(void **state)
{
	struct vfu_msg reply, m;
	(void)state;

	version(0, qemu_caps, &reply);
	vfu_msg_release(&reply);
	int fd = memfd_create("interop", 0);
	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, 2 * 4096), 0);
	for (uint16_t i = 0; i < 2; i++) {
		struct vfu_dma_map d = { .argsz = sizeof(d), .flags = VFU_DMA_FLAG_READ | VFU_DMA_FLAG_WRITE,
					 .offset = i * 4096u, .addr = 0x100000u + i * 0x10000u,
					 .size = 4096 };
		assert_int_equal(h_send(sock, 10 + i, VFU_CMD_DMA_MAP, 0, &d, sizeof(d), &fd, 1), 0);
		assert_int_equal(h_recv(sock, &m, 5000), 0);
		assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
		vfu_msg_release(&m);
	}
	close(fd);
	struct vfu_dma_unmap u = { .argsz = sizeof(u), .flags = VFU_DMA_UNMAP_FLAG_ALL };
	assert_int_equal(h_send(sock, 20, VFU_CMD_DMA_UNMAP, 0, &u, sizeof(u), NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	vfu_msg_release(&m);
	/* Both windows are gone: unmapping one of them now fails. */
	struct vfu_dma_unmap one = { .argsz = sizeof(one), .addr = 0x100000, .size = 4096 };
	assert_int_equal(h_send(sock, 21, VFU_CMD_DMA_UNMAP, 0, &one, sizeof(one), NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 21, VFU_CMD_DMA_UNMAP, ENOENT), 0);
}

/* QEMU posts BAR writes (No_reply) and batches them in REGION_WRITE_MULTI: no replies, applied
 * in order before the next read. */
static void test_qemu_posted_and_multi(void **state)
{
	struct vfu_msg reply;
	(void)state;

	version(0, qemu_caps, &reply);
	vfu_msg_release(&reply);
	assert_int_equal(h_enable_device(sock), 0);
	for (uint32_t i = 0; i < 50; i++) {
		uint8_t req[sizeof(struct vfu_region_access) + 4];
		struct vfu_region_access a = { .offset = 0x40, .region = 0, .count = 4 };
		memcpy(req, &a, sizeof(a));
		memcpy(req + sizeof(a), &i, 4);
		assert_int_equal(h_send(sock, (uint16_t)(100 + i), VFU_CMD_REGION_WRITE, VFU_F_NO_REPLY,
					req, sizeof(req), NULL, 0), 0);
	}
	uint8_t multi[8 + 3 * sizeof(struct vfu_write_multi_entry)] = { 0 };
	uint64_t cnt = 3;
	memcpy(multi, &cnt, 8);
	for (uint32_t i = 0; i < 3; i++) {
		struct vfu_write_multi_entry e = { .offset = 0x80 + 8 * i, .region = 0, .count = 8 };
		uint64_t val = 0x1111111111111111ull * (i + 1);
		memcpy(e.data, &val, 8);
		memcpy(multi + 8 + i * sizeof(e), &e, sizeof(e));
	}
	assert_int_equal(h_send(sock, 200, VFU_CMD_REGION_WRITE_MULTI, VFU_F_NO_REPLY, multi,
				sizeof(multi), NULL, 0), 0);
	/* The first thing to come back is the read's reply: nothing was answered before it. */
	uint32_t last = 0;
	assert_int_equal(h_region_read(sock, 0, 0x40, &last, 4), 0);
	assert_int_equal(last, 49);
	for (uint32_t i = 0; i < 3; i++) {
		uint64_t val = 0;
		assert_int_equal(h_region_read(sock, 0, 0x80 + 8 * i, &val, 8), 0);
		assert_int_equal(val, 0x1111111111111111ull * (i + 1));
	}
	assert_true(h_quiet(sock, 50));
}

/* QEMU 10.x's VFIOUserDMARW: {u64 offset; u32 count; data} with the struct's 4 bytes of
 * padding after the data, and a bare header answering a DMA_WRITE. A client whose VERSION is
 * QEMU's gets DMA messages it can parse. */
static uint16_t expect_qemu_dma(uint16_t cmd, uint64_t iova, uint8_t *data)
{
	struct vfu_msg m;
	uint64_t addr;
	uint32_t count;

	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.cmd, cmd);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_COMMAND);
	/* QEMU checks hdr.size >= sizeof(VFIOUserDMARW) + count (32 + count). */
	assert_int_equal(m.hdr.msg_size, 32 + (cmd == VFU_CMD_DMA_WRITE ? 16 : 0));
	memcpy(&addr, m.payload, 8);
	memcpy(&count, m.payload + 8, 4);
	assert_int_equal(addr, iova);
	assert_int_equal(count, 16);
	if (data)
		memcpy(data, m.payload + 12, 16);
	uint16_t id = m.hdr.msg_id;
	vfu_msg_release(&m);
	return id;
}

static void test_qemu_dma_messages(void **state)
{
	static const uint8_t guest[16] = "qemu-guest-ram!";
	struct vfu_msg reply;
	uint8_t got[16];
	(void)state;

	version(0, qemu_caps, &reply);
	vfu_msg_release(&reply);
	assert_int_equal(h_enable_device(sock), 0);
	struct vfu_dma_map d = { .argsz = 32, .flags = 3, .addr = 0x10000, .size = 4096 };
	assert_int_equal(h_send(sock, 2, VFU_CMD_DMA_MAP, 0, &d, 32, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &reply, 5000), 0);
	assert_int_equal(reply.hdr.flags, VFU_F_TYPE_REPLY);
	vfu_msg_release(&reply);

	/* The device reads: QEMU answers with the data at payload offset 12, then padding. */
	uint64_t iova = 0x10010;
	uint8_t req[16 + 8];
	struct vfu_region_access a = { .offset = H_REG_DMA_INLINE, .region = 0, .count = 8 };
	memcpy(req, &a, 16);
	memcpy(req + 16, &iova, 8);
	assert_int_equal(h_send(sock, 3, VFU_CMD_REGION_WRITE, 0, req, sizeof(req), NULL, 0), 0);
	uint16_t id = expect_qemu_dma(VFU_CMD_DMA_READ, iova, NULL);
	uint8_t rep[16 + 12 + 16 + 4] = { 0 };
	struct vfu_hdr h = { .msg_id = id, .cmd = VFU_CMD_DMA_READ, .msg_size = sizeof(rep),
			     .flags = VFU_F_TYPE_REPLY };
	uint32_t count = 16;
	memcpy(rep, &h, 16);
	memcpy(rep + 16, &iova, 8);
	memcpy(rep + 24, &count, 4);
	memcpy(rep + 28, guest, 16);
	assert_int_equal(h_send_raw(sock, rep, sizeof(rep), NULL, 0), 0);
	assert_int_equal(h_recv(sock, &reply, 5000), 0);
	assert_int_equal(reply.hdr.msg_id, 3);
	assert_int_equal(reply.hdr.flags, VFU_F_TYPE_REPLY);
	vfu_msg_release(&reply);
	int32_t status = -1;
	assert_int_equal(h_region_read(sock, 0, H_REG_DMA_STATUS, &status, 4), 0);
	assert_int_equal(status, 0);
	assert_int_equal(h_region_read(sock, 0, H_REG_DMA_DATA, got, 16), 0);
	assert_memory_equal(got, guest, 16);

	/* The device writes from its own thread: data at offset 12, a bare header back. */
	iova = 0x10000;
	a.offset = H_REG_DMA_THREAD;
	memcpy(req, &a, 16);
	memcpy(req + 16, &iova, 8);
	assert_int_equal(h_send(sock, 4, VFU_CMD_REGION_WRITE, 0, req, sizeof(req), NULL, 0), 0);
	assert_int_equal(h_recv(sock, &reply, 5000), 0);
	assert_int_equal(reply.hdr.msg_id, 4);
	vfu_msg_release(&reply);
	id = expect_qemu_dma(VFU_CMD_DMA_WRITE, iova, got);
	assert_memory_equal(got, h_dma_pattern, 16);
	struct vfu_hdr bare = { .msg_id = id, .cmd = VFU_CMD_DMA_WRITE, .msg_size = 16,
				.flags = VFU_F_TYPE_REPLY };
	assert_int_equal(h_send_raw(sock, &bare, 16, NULL, 0), 0);
	assert_int_equal(h_region_read(sock, 0, H_REG_THREAD_STATUS, &status, 4), 0);
	assert_int_equal(status, 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_qemu_version, close_sock),
		cmocka_unit_test_teardown(test_libvfio_user_version_twin_socket, close_sock),
		cmocka_unit_test_teardown(test_qemu_region_info_reask, close_sock),
		cmocka_unit_test_teardown(test_qemu_unmap_all, close_sock),
		cmocka_unit_test_teardown(test_qemu_posted_and_multi, close_sock),
		cmocka_unit_test_teardown(test_qemu_dma_messages, close_sock),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
