/* SPDX-License-Identifier: MIT */
/*
 * The server's device-facing paths end to end, over a raw socket: server-to-client DMA
 * (inline on the loop, from another thread, over a twin socket) with reply validation,
 * region info capabilities and the mmap fd, REGION_WRITE_MULTI.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/vfio.h>

#include "harness.h"

#define BAR0_SIZE H_BAR0_SIZE
#define XFER 4096u
#define TIMEOUT_MS 300u

static struct h_server server;

#define assert_alive(sock) assert_int_equal(h_check_alive(sock), 0)

static int connect_client(void)
{
	int sock = h_connect_enabled(server.sock_path);

	assert_true(sock >= 0);
	return sock;
}

static int group_setup(void **state)
{
	struct uvfio_server_config cfg = { .max_data_xfer_size = XFER, .msg_timeout_ms = TIMEOUT_MS };

	(void)state;
	return h_server_start(&server, h_test_device, NULL, &cfg);
}

static int group_teardown(void **state)
{
	(void)state;
	return h_server_stop(&server) == 0 ? 0 : -1;
}

/* Server-to-client DMA through fd-less windows. */
static void map_msg_window(int sock, uint64_t iova)
{
	struct vfu_dma_map d = { .argsz = 32, .flags = 3, .addr = iova, .size = 4096 };
	struct vfu_msg m;

	assert_int_equal(h_send(sock, 500, VFU_CMD_DMA_MAP, 0, &d, 32, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	vfu_msg_release(&m);
}

static void send_write64(int sock, uint16_t id, uint64_t off, uint64_t val)
{
	uint8_t req[16 + 8];
	struct vfu_region_access a = { .offset = off, .region = 0, .count = 8 };

	memcpy(req, &a, 16);
	memcpy(req + 16, &val, 8);
	assert_int_equal(h_send(sock, id, VFU_CMD_REGION_WRITE, 0, req, sizeof(req), NULL, 0), 0);
}

static void expect_reply(int sock, uint16_t id, uint16_t cmd)
{
	struct vfu_msg m;

	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	assert_int_equal(m.hdr.msg_id, id);
	assert_int_equal(m.hdr.cmd, cmd);
	vfu_msg_release(&m);
}

static void read_bar(int sock, uint64_t off, void *out, uint32_t count)
{
	struct vfu_region_access a = { .offset = off, .region = 0, .count = count };
	struct vfu_msg m;

	assert_int_equal(h_send(sock, 501, VFU_CMD_REGION_READ, 0, &a, 16, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	assert_int_equal(m.payload_len, 16 + count);
	memcpy(out, m.payload + 16, count);
	vfu_msg_release(&m);
}

static int32_t read_status(int sock, uint64_t off)
{
	int32_t st;

	read_bar(sock, off, &st, 4);
	return st;
}

/* Receives a DMA request the server sent and checks its spec layout; returns its msg_id. */
static uint16_t expect_dma_request(int sock, uint16_t cmd, uint64_t iova, void *data)
{
	struct vfu_msg m;
	struct vfu_dma_access a;

	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.cmd, cmd);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_COMMAND);
	assert_int_equal(m.payload_len, 16 + (cmd == VFU_CMD_DMA_WRITE ? 16 : 0));
	memcpy(&a, m.payload, 16);
	assert_int_equal(a.addr, iova);
	assert_int_equal(a.count, 16);
	if (data)
		memcpy(data, m.payload + 16, 16);
	uint16_t id = m.hdr.msg_id;
	vfu_msg_release(&m);
	return id;
}

static void reply_dma(int sock, uint16_t id, uint16_t cmd, uint64_t iova, uint64_t count,
		      const void *data, size_t len)
{
	struct vfu_hdr h = { .msg_id = id, .cmd = cmd, .msg_size = (uint32_t)(32 + len),
			     .flags = VFU_F_TYPE_REPLY };
	struct vfu_dma_access a = { .addr = iova, .count = count };
	uint8_t buf[64];

	memcpy(buf, &h, 16);
	memcpy(buf + 16, &a, 16);
	if (len)
		memcpy(buf + 32, data, len);
	assert_int_equal(h_send_raw(sock, buf, 32 + len, NULL, 0), 0);
}

static const uint8_t guest_data[16] = "guest-memory-16";

static void test_dma_inline(void **state)
{
	(void)state;
	int sock = connect_client();
	uint8_t got[16];

	map_msg_window(sock, 0x10000);
	/* The device reads on the loop thread: the request comes on the main socket. */
	send_write64(sock, 100, H_REG_DMA_INLINE, 0x10010);
	uint16_t id = expect_dma_request(sock, VFU_CMD_DMA_READ, 0x10010, NULL);
	/* A command sent before our reply is queued and answered after the pending one. */
	struct vfu_device_info info = { .argsz = 16 };
	assert_int_equal(h_send(sock, 150, VFU_CMD_DEVICE_GET_INFO, 0, &info, 16, NULL, 0), 0);
	reply_dma(sock, id, VFU_CMD_DMA_READ, 0x10010, 16, guest_data, 16);
	expect_reply(sock, 100, VFU_CMD_REGION_WRITE);
	expect_reply(sock, 150, VFU_CMD_DEVICE_GET_INFO);
	assert_int_equal(read_status(sock, H_REG_DMA_STATUS), 0);
	read_bar(sock, H_REG_DMA_DATA, got, 16);
	assert_memory_equal(got, guest_data, 16);

	/* A reply echoing the wrong count is refused: the device sees -EIO. */
	send_write64(sock, 101, H_REG_DMA_INLINE, 0x10020);
	id = expect_dma_request(sock, VFU_CMD_DMA_READ, 0x10020, NULL);
	reply_dma(sock, id, VFU_CMD_DMA_READ, 0x10020, 8, guest_data, 16);
	expect_reply(sock, 101, VFU_CMD_REGION_WRITE);
	assert_int_equal(read_status(sock, H_REG_DMA_STATUS), -EIO);
	/* So is an error reply. */
	send_write64(sock, 102, H_REG_DMA_INLINE, 0x10030);
	id = expect_dma_request(sock, VFU_CMD_DMA_READ, 0x10030, NULL);
	struct vfu_hdr e = { .msg_id = id, .cmd = VFU_CMD_DMA_READ, .msg_size = 16,
			     .flags = VFU_F_TYPE_REPLY | VFU_F_ERROR, .error_no = EFAULT };
	assert_int_equal(h_send_raw(sock, &e, 16, NULL, 0), 0);
	expect_reply(sock, 102, VFU_CMD_REGION_WRITE);
	assert_int_equal(read_status(sock, H_REG_DMA_STATUS), -EIO);
	/* Unmapped: no message at all, -EFAULT. */
	send_write64(sock, 103, H_REG_DMA_INLINE, 0x90000);
	expect_reply(sock, 103, VFU_CMD_REGION_WRITE);
	assert_int_equal(read_status(sock, H_REG_DMA_STATUS), -EFAULT);
	assert_alive(sock);
	h_close_tracked(NULL);
}

static void test_dma_from_thread(void **state)
{
	(void)state;
	int sock = connect_client();
	uint8_t got[16];

	map_msg_window(sock, 0x20000);
	/* Another thread's DMA is sent by the loop after the write's reply. */
	send_write64(sock, 110, H_REG_DMA_THREAD, 0x20000);
	expect_reply(sock, 110, VFU_CMD_REGION_WRITE);
	uint16_t id = expect_dma_request(sock, VFU_CMD_DMA_WRITE, 0x20000, got);
	assert_memory_equal(got, h_dma_pattern, 16);
	reply_dma(sock, id, VFU_CMD_DMA_WRITE, 0x20000, 16, NULL, 0);
	assert_int_equal(read_status(sock, H_REG_THREAD_STATUS), 0);
	assert_alive(sock);
	h_close_tracked(NULL);
}

static void test_dma_twin_socket(void **state)
{
	(void)state;
	int sock = h_track(h_connect(server.sock_path));
	const char *json = "{\"capabilities\":{\"max_msg_fds\":16,\"twin_socket\":{\"supported\":true}}}";
	uint8_t v[256] = { 0 };
	struct vfu_msg m;
	uint8_t got[16];

	assert_true(sock >= 0);
	memcpy(v + 4, json, strlen(json) + 1);
	assert_int_equal(h_send(sock, 1, VFU_CMD_VERSION, 0, v, 4 + strlen(json) + 1, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	assert_int_equal(m.nfds, 1);
	assert_non_null(strstr((char *)m.payload + 4, "\"fd_index\":0"));
	int twin = h_track(m.fds[0]);
	m.fds[0] = -1;
	vfu_msg_release(&m);
	assert_int_equal(h_enable_device(sock), 0);
	map_msg_window(sock, 0x30000);

	/* Loop-thread DMA goes out on the twin socket. */
	send_write64(sock, 120, H_REG_DMA_INLINE, 0x30000);
	uint16_t id = expect_dma_request(twin, VFU_CMD_DMA_READ, 0x30000, NULL);
	reply_dma(twin, id, VFU_CMD_DMA_READ, 0x30000, 16, guest_data, 16);
	expect_reply(sock, 120, VFU_CMD_REGION_WRITE);
	assert_int_equal(read_status(sock, H_REG_DMA_STATUS), 0);
	read_bar(sock, H_REG_DMA_DATA, got, 16);
	assert_memory_equal(got, guest_data, 16);
	/* So does another thread's. */
	send_write64(sock, 121, H_REG_DMA_THREAD, 0x30010);
	expect_reply(sock, 121, VFU_CMD_REGION_WRITE);
	id = expect_dma_request(twin, VFU_CMD_DMA_WRITE, 0x30010, got);
	assert_memory_equal(got, h_dma_pattern, 16);
	reply_dma(twin, id, VFU_CMD_DMA_WRITE, 0x30010, 16, NULL, 0);
	assert_int_equal(read_status(sock, H_REG_THREAD_STATUS), 0);
	assert_true(h_quiet(sock, 0));
	assert_alive(sock);
	h_close_tracked(NULL);
}

static void test_region_info_caps(void **state)
{
	(void)state;
	int sock = connect_client();
	struct vfu_region_info ri = { .argsz = 32, .index = 2 };
	struct vfu_msg m;

	/* argsz 32: the head only, argsz says what the caps need, the fd comes along. */
	assert_int_equal(h_send(sock, 130, VFU_CMD_DEVICE_GET_REGION_INFO, 0, &ri, 32, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	assert_int_equal(m.payload_len, 32);
	memcpy(&ri, m.payload, 32);
	uint32_t needed = ri.argsz;
	assert_int_equal(needed, 32 + 16 + 16);
	assert_true(ri.flags & VFIO_REGION_INFO_FLAG_MMAP);
	assert_true(ri.flags & VFIO_REGION_INFO_FLAG_CAPS);
	assert_int_equal(ri.cap_offset, 32);
	assert_int_equal(ri.size, 8192);
	assert_int_equal(m.nfds, 1);
	vfu_msg_release(&m);
	/* Asking again with the full size gives the sparse mmap capability. */
	ri = (struct vfu_region_info){ .argsz = needed, .index = 2 };
	assert_int_equal(h_send(sock, 131, VFU_CMD_DEVICE_GET_REGION_INFO, 0, &ri, 32, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.payload_len, needed);
	struct vfu_cap_sparse_mmap cap;
	struct vfu_sparse_mmap_area area;
	memcpy(&cap, m.payload + 32, sizeof(cap));
	memcpy(&area, m.payload + 32 + sizeof(cap), sizeof(area));
	assert_int_equal(cap.hdr.id, VFIO_REGION_INFO_CAP_SPARSE_MMAP);
	assert_int_equal(cap.hdr.next, 0);
	assert_int_equal(cap.nr_areas, 1);
	assert_int_equal(area.offset, 0);
	assert_int_equal(area.size, 4096);
	vfu_msg_release(&m);
	/* An unimplemented region: size 0, no fd. */
	ri = (struct vfu_region_info){ .argsz = 32, .index = 4 };
	assert_int_equal(h_send(sock, 132, VFU_CMD_DEVICE_GET_REGION_INFO, 0, &ri, 32, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	memcpy(&ri, m.payload, 32);
	assert_int_equal(ri.size, 0);
	assert_int_equal(m.nfds, 0);
	vfu_msg_release(&m);
	/* GET_REGION_IO_FDS: no io fds, count 0. */
	struct vfu_region_io_fds_request io = { .argsz = 256, .index = 0 };
	assert_int_equal(h_send(sock, 133, VFU_CMD_DEVICE_GET_REGION_IO_FDS, 0, &io, 16, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	assert_int_equal(m.payload_len, 16);
	memcpy(&io, m.payload, 16);
	assert_int_equal(io.count, 0);
	assert_int_equal(m.nfds, 0);
	vfu_msg_release(&m);
	/* DEVICE_FEATURE: argsz too small, payload too short, then the device's own answer. */
	struct vfu_device_feature f = { .argsz = 4, .flags = VFIO_DEVICE_FEATURE_PROBE | 1 };
	assert_int_equal(h_send(sock, 134, VFU_CMD_DEVICE_FEATURE, 0, &f, 8, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 134, VFU_CMD_DEVICE_FEATURE, EINVAL), 0);
	assert_int_equal(h_send(sock, 135, VFU_CMD_DEVICE_FEATURE, 0, &f, 4, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 135, VFU_CMD_DEVICE_FEATURE, EINVAL), 0);
	assert_alive(sock);
	h_close_tracked(NULL);
}

static void test_write_multi(void **state)
{
	(void)state;
	int sock = h_track(h_connect(server.sock_path));
	uint8_t buf[8 + 202 * 24] = { 0 };
	uint64_t cnt = 2;
	struct vfu_write_multi_entry e[2] = {
		{ .offset = 0x400, .region = 0, .count = 4, .data = { 1, 2, 3, 4 } },
		{ .offset = 0x404, .region = 0, .count = 8, .data = { 5, 6, 7, 8, 9, 10, 11, 12 } },
	};
	struct vfu_msg m;

	assert_true(sock >= 0);
	assert_int_equal(h_version(sock, "{\"capabilities\":{\"write_multiple\":true}}"), 0);
	assert_int_equal(h_enable_device(sock), 0);
	memcpy(buf, &cnt, 8);
	memcpy(buf + 8, e, sizeof(e));
	assert_int_equal(h_send(sock, 140, VFU_CMD_REGION_WRITE_MULTI, 0, buf, 8 + 48, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	assert_int_equal(m.payload_len, 8);
	memcpy(&cnt, m.payload, 8);
	assert_int_equal(cnt, 2);
	vfu_msg_release(&m);
	uint8_t got[12];
	read_bar(sock, 0x400, got, 12);
	assert_memory_equal(got, ((uint8_t[]){ 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12 }), 12);
	/* wr_cnt disagreeing with msg_size, above 200, zero; a count above 8; out of range. */
	cnt = 3;
	memcpy(buf, &cnt, 8);
	assert_int_equal(h_send(sock, 141, VFU_CMD_REGION_WRITE_MULTI, 0, buf, 8 + 48, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 141, VFU_CMD_REGION_WRITE_MULTI, EINVAL), 0);
	/* 201 entries do not even fit the largest message; claim 201 in a 200-entry payload. */
	cnt = 201;
	memcpy(buf, &cnt, 8);
	assert_int_equal(h_send(sock, 142, VFU_CMD_REGION_WRITE_MULTI, 0, buf, 8 + 200 * 24, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 142, VFU_CMD_REGION_WRITE_MULTI, EINVAL), 0);
	cnt = 0;
	memcpy(buf, &cnt, 8);
	assert_int_equal(h_send(sock, 143, VFU_CMD_REGION_WRITE_MULTI, 0, buf, 8, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 143, VFU_CMD_REGION_WRITE_MULTI, EINVAL), 0);
	cnt = 2;
	memcpy(buf, &cnt, 8);
	e[1].count = 9;
	memcpy(buf + 8, e, sizeof(e));
	assert_int_equal(h_send(sock, 144, VFU_CMD_REGION_WRITE_MULTI, 0, buf, 8 + 48, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 144, VFU_CMD_REGION_WRITE_MULTI, EINVAL), 0);
	e[1].count = 4;
	e[1].offset = BAR0_SIZE;
	e[0].data[0] = 0x77;
	memcpy(buf + 8, e, sizeof(e));
	assert_int_equal(h_send(sock, 145, VFU_CMD_REGION_WRITE_MULTI, 0, buf, 8 + 48, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 145, VFU_CMD_REGION_WRITE_MULTI, EINVAL), 0);
	/* Nothing of a refused batch was written. */
	read_bar(sock, 0x400, got, 1);
	assert_int_equal(got[0], 1);
	assert_alive(sock);
	h_close_tracked(NULL);
}

static void test_device_feature(void **state)
{
	(void)state;
	int sock = connect_client();
	struct vfu_device_feature f = { .argsz = 8 + 64, .flags = VFIO_DEVICE_FEATURE_GET | H_FEATURE_TEST };
	struct vfu_msg m;

	/* GET: data appended, argsz = what it needs. */
	assert_int_equal(h_send(sock, 160, VFU_CMD_DEVICE_FEATURE, 0, &f, 8, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	assert_int_equal(m.payload_len, 16);
	memcpy(&f, m.payload, 8);
	assert_int_equal(f.argsz, 16);
	assert_int_equal(f.flags, VFIO_DEVICE_FEATURE_GET | H_FEATURE_TEST);
	assert_memory_equal(m.payload + 8, "feature!", 8);
	vfu_msg_release(&m);
	/* GET with too little room: the device's error. */
	f.argsz = 8 + 4;
	assert_int_equal(h_send(sock, 161, VFU_CMD_DEVICE_FEATURE, 0, &f, 8, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 161, VFU_CMD_DEVICE_FEATURE, EINVAL), 0);
	/* SET: the request echoed. */
	uint8_t set[16];
	f = (struct vfu_device_feature){ .argsz = 16, .flags = VFIO_DEVICE_FEATURE_SET | H_FEATURE_TEST };
	memcpy(set, &f, 8);
	memcpy(set + 8, "12345678", 8);
	assert_int_equal(h_send(sock, 162, VFU_CMD_DEVICE_FEATURE, 0, set, 16, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	assert_int_equal(m.payload_len, 16);
	assert_memory_equal(m.payload, set, 16);
	vfu_msg_release(&m);
	/* Unknown feature, and GET|SET without PROBE. */
	f = (struct vfu_device_feature){ .argsz = 16, .flags = VFIO_DEVICE_FEATURE_GET | 5 };
	assert_int_equal(h_send(sock, 163, VFU_CMD_DEVICE_FEATURE, 0, &f, 8, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 163, VFU_CMD_DEVICE_FEATURE, ENOTTY), 0);
	f.flags = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET | H_FEATURE_TEST;
	assert_int_equal(h_send(sock, 164, VFU_CMD_DEVICE_FEATURE, 0, &f, 8, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 164, VFU_CMD_DEVICE_FEATURE, EINVAL), 0);
	assert_alive(sock);
	h_close_tracked(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_dma_inline, h_close_tracked),
		cmocka_unit_test_teardown(test_dma_from_thread, h_close_tracked),
		cmocka_unit_test_teardown(test_dma_twin_socket, h_close_tracked),
		cmocka_unit_test_teardown(test_region_info_caps, h_close_tracked),
		cmocka_unit_test_teardown(test_write_multi, h_close_tracked),
		cmocka_unit_test_teardown(test_device_feature, h_close_tracked),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
