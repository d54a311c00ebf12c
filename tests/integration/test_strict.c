/* SPDX-License-Identifier: MIT */
/*
 * Where the kernel is strict, the server is too, and every refusal can say why:
 * - DMA_MAP aligned to the smallest negotiated page size (iova, size, fd offset);
 * - pgsizes in VERSION must offer a page size mmap() can honour (4096 or more);
 * - interrupt fds (trigger and mask/unmask) must be eventfds;
 * - the uvfio error_reason extension: error replies carry the reason string to a client that
 *   negotiated it, and stay header-only (byte-identical) for every other client; the client
 *   library exposes it as uvfio_last_error().
 * After each refusal the same connection still serves.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/vfio.h>

#include <uvfio/client.h>

#include "harness.h"

#define REASON_JSON "{\"capabilities\":{\"max_msg_fds\":16,\"uvfio\":{\"error_reason\":true}}}"

static struct h_server server;

static int group_setup(void **state)
{
	struct uvfio_server_config cfg = { .msg_timeout_ms = 2000 };

	(void)state;
	return h_server_start(&server, h_test_device, NULL, &cfg);
}

static int group_teardown(void **state)
{
	(void)state;
	return h_server_stop(&server) == 0 ? 0 : -1;
}

static int versioned(const char *json)
{
	int sock = h_track(h_connect(server.sock_path));

	assert_true(sock >= 0);
	assert_int_equal(h_version(sock, json), 0);
	assert_int_equal(h_enable_device(sock), 0);
	return sock;
}

static void expect_ok(int sock)
{
	struct vfu_msg m;

	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	vfu_msg_release(&m);
}

static int map(int sock, uint16_t id, uint64_t iova, uint64_t size, uint64_t off, int fd)
{
	struct vfu_dma_map d = { .argsz = 32, .flags = 3, .offset = off, .addr = iova,
				 .size = size };

	return h_send(sock, id, VFU_CMD_DMA_MAP, 0, &d, 32, fd >= 0 ? &fd : NULL, fd >= 0);
}

static void test_dma_map_alignment(void **state)
{
	(void)state;
	int sock = versioned(NULL); /* no pgsizes: the default, 4096 */
	int fd = memfd_create("guest", MFD_CLOEXEC);

	assert_int_equal(ftruncate(fd, 0x10000), 0);
	assert_int_equal(map(sock, 1, 0x100800, 0x1000, 0, -1), 0);
	assert_int_equal(h_expect_error(sock, 1, VFU_CMD_DMA_MAP, EINVAL), 0);
	assert_int_equal(map(sock, 2, 0x100000, 0x1800, 0, -1), 0);
	assert_int_equal(h_expect_error(sock, 2, VFU_CMD_DMA_MAP, EINVAL), 0);
	assert_int_equal(map(sock, 3, 0x100000, 0x1000, 0x200, fd), 0);
	assert_int_equal(h_expect_error(sock, 3, VFU_CMD_DMA_MAP, EINVAL), 0);
	assert_int_equal(map(sock, 4, 0x100000, 0x1000, 0x1000, fd), 0);
	expect_ok(sock);
	assert_int_equal(h_check_alive(sock), 0);
	h_close_tracked(NULL);

	/* A client whose IOMMU pages are 2 MiB maps in 2 MiB units. */
	sock = versioned("{\"capabilities\":{\"pgsizes\":2097152}}");
	assert_int_equal(map(sock, 5, 0x200000, 0x1000, 0, -1), 0);
	assert_int_equal(h_expect_error(sock, 5, VFU_CMD_DMA_MAP, EINVAL), 0);
	assert_int_equal(map(sock, 6, 0x201000, 0x200000, 0, -1), 0);
	assert_int_equal(h_expect_error(sock, 6, VFU_CMD_DMA_MAP, EINVAL), 0);
	assert_int_equal(map(sock, 7, 0x200000, 0x200000, 0, -1), 0);
	expect_ok(sock);
	assert_int_equal(h_check_alive(sock), 0);
	close(fd);
	h_close_tracked(NULL);
}

static void test_pgsizes(void **state)
{
	(void)state;
	static const char *const bad[] = {
		"{\"capabilities\":{\"pgsizes\":0}}",
		"{\"capabilities\":{\"pgsizes\":512}}",
		"{\"capabilities\":{\"pgsizes\":2560}}", /* 512 | 2048: smallest below 4096 */
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int sock = h_track(h_connect(server.sock_path));
		assert_true(sock >= 0);
		assert_int_equal(h_version(sock, bad[i]), -EPROTO);
		/* Refused, not fatal: a correct VERSION on the same connection works. */
		assert_int_equal(h_version(sock, "{\"capabilities\":{\"pgsizes\":1073745920}}"), 0);
		assert_int_equal(h_enable_device(sock), 0);
		assert_int_equal(h_check_alive(sock), 0);
		h_close_tracked(NULL);
	}
}

static int set_irq(int sock, uint16_t id, uint32_t action, int fd)
{
	struct vfu_irq_set s = {
		.argsz = 20,
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | action,
		.index = VFIO_PCI_INTX_IRQ_INDEX,
		.start = 0,
		.count = 1,
	};
	return h_send(sock, id, VFU_CMD_DEVICE_SET_IRQS, 0, &s, 20, &fd, 1);
}

static void test_irq_fds_are_eventfds(void **state)
{
	(void)state;
	int sock = versioned(NULL);
	int mfd = memfd_create("notanevent", MFD_CLOEXEC);
	int p[2];
	int efd = eventfd(0, EFD_CLOEXEC);

	assert_int_equal(pipe(p), 0);
	assert_int_equal(set_irq(sock, 1, VFIO_IRQ_SET_ACTION_TRIGGER, mfd), 0);
	assert_int_equal(h_expect_error(sock, 1, VFU_CMD_DEVICE_SET_IRQS, EINVAL), 0);
	assert_int_equal(set_irq(sock, 2, VFIO_IRQ_SET_ACTION_TRIGGER, p[1]), 0);
	assert_int_equal(h_expect_error(sock, 2, VFU_CMD_DEVICE_SET_IRQS, EINVAL), 0);
	assert_int_equal(set_irq(sock, 3, VFIO_IRQ_SET_ACTION_UNMASK, p[0]), 0);
	assert_int_equal(h_expect_error(sock, 3, VFU_CMD_DEVICE_SET_IRQS, EINVAL), 0);
	assert_int_equal(set_irq(sock, 4, VFIO_IRQ_SET_ACTION_TRIGGER, efd), 0);
	expect_ok(sock);
	assert_int_equal(set_irq(sock, 5, VFIO_IRQ_SET_ACTION_UNMASK, efd), 0);
	expect_ok(sock);
	assert_int_equal(h_check_alive(sock), 0);
	close(mfd);
	close(p[0]);
	close(p[1]);
	close(efd);
	h_close_tracked(NULL);
}

/* A REGION_READ outside BAR0; returns the reply. */
static void read_outside(int sock, uint16_t id, struct vfu_msg *m)
{
	struct vfu_region_access a = { .offset = H_BAR0_SIZE, .region = 0, .count = 4 };

	assert_int_equal(h_send(sock, id, VFU_CMD_REGION_READ, 0, &a, 16, NULL, 0), 0);
	assert_int_equal(h_recv(sock, m, 5000), 0);
	assert_int_equal(m->hdr.flags, VFU_F_TYPE_REPLY | VFU_F_ERROR);
	assert_int_equal(m->hdr.error_no, EINVAL);
	assert_int_equal(m->hdr.msg_id, id);
}

static void test_error_reason_wire(void **state)
{
	(void)state;
	static const char want[] = "access 0x1000+4 outside region 0 (size 0x1000)";
	struct vfu_msg m;

	/* Negotiated: the reply says it accepts, error replies carry the string. */
	int sock = h_track(h_connect(server.sock_path));
	assert_true(sock >= 0);
	uint8_t v[4 + sizeof(REASON_JSON)] = { 0 };
	memcpy(v + 4, REASON_JSON, sizeof(REASON_JSON));
	assert_int_equal(h_send(sock, 1, VFU_CMD_VERSION, 0, v, sizeof(v), NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	assert_non_null(strstr((const char *)m.payload + 4, "\"error_reason\":true"));
	vfu_msg_release(&m);
	assert_int_equal(h_enable_device(sock), 0);
	read_outside(sock, 2, &m);
	assert_int_equal(m.payload_len, sizeof(want));
	assert_string_equal((const char *)m.payload, want);
	vfu_msg_release(&m);
	/* A refusal before any device code runs has its reason too. */
	assert_int_equal(h_send(sock, 3, 999, 0, NULL, 0, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY | VFU_F_ERROR);
	assert_string_equal((const char *)m.payload, "unknown command 999");
	vfu_msg_release(&m);
	assert_int_equal(h_check_alive(sock), 0);
	h_close_tracked(NULL);

	/* Not negotiated (QEMU, libvfio-user): header only, byte for byte as before. */
	static const char *const others[] = {
		NULL, "{\"capabilities\":{\"uvfio\":{\"precopy_info\":true}}}",
		"{\"capabilities\":{\"uvfio\":{\"error_reason\":false}}}",
	};
	for (size_t i = 0; i < sizeof(others) / sizeof(others[0]); i++) {
		sock = versioned(others[i]);
		read_outside(sock, 4, &m);
		assert_int_equal(m.hdr.msg_size, 16);
		assert_int_equal(m.payload_len, 0);
		vfu_msg_release(&m);
		h_close_tracked(NULL);
	}
}

static void test_last_error_api(void **state)
{
	(void)state;
	struct uvfio_handle *h;
	uint32_t v = 0;
	uint16_t cmd = 0x6;

	assert_int_equal(h_open(server.sock_path, &h), 0);
	assert_string_equal(uvfio_last_error(h), "");
	assert_int_equal(uvfio_region_read(h, 0, 0, &v, 4), -EIO);
	assert_string_equal(uvfio_last_error(h), "memory decoding is off (COMMAND.MEM)");
	assert_int_equal(uvfio_config_write(h, 4, &cmd, 2), 0);
	assert_int_equal(uvfio_region_read(h, 0, H_BAR0_SIZE - 2, &v, 4), -EINVAL);
	assert_string_equal(uvfio_last_error(h), "access 0xffe+4 outside region 0 (size 0x1000)");
	assert_int_equal(uvfio_region_read(h, 0, 0, &v, 4), 4);
	assert_string_equal(uvfio_last_error(h), ""); /* the last request succeeded */
	assert_int_equal(uvfio_region_read(h, 6, 0, &v, 4), -EINVAL); /* no ROM */
	assert_non_null(strstr(uvfio_last_error(h), "region 6"));
	uvfio_close(h);
	assert_string_equal(uvfio_last_error(NULL), "");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_dma_map_alignment, h_close_tracked),
		cmocka_unit_test_teardown(test_pgsizes, h_close_tracked),
		cmocka_unit_test_teardown(test_irq_fds_are_eventfds, h_close_tracked),
		cmocka_unit_test_teardown(test_error_reason_wire, h_close_tracked),
		cmocka_unit_test_teardown(test_last_error_api, h_close_tracked),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
