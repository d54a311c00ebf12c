/* SPDX-License-Identifier: MIT */
/*
 * Malformed and hostile input to the server: each case must get an error reply (REPLY|ERROR,
 * the right errno, the request's msg_id and cmd, header only), after which the same server
 * still serves a valid request correctly. The server must not leak fds and must exit 0.
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

#include <uvfio/pci.h>

#include "harness.h"

#define BAR0_SIZE H_BAR0_SIZE
#define XFER 4096u
#define TIMEOUT_MS 300u

static struct h_server server;
static int fds_connected; /* the server's fd count with one versioned client */

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

static void test_first_count_fds(void **state)
{
	(void)state;
	int sock = connect_client();
	assert_alive(sock);
	fds_connected = h_server_count_fds(&server);
	assert_true(fds_connected > 0);
	h_close_tracked(NULL);
}

static void test_before_version_and_fds_on_version(void **state)
{
	(void)state;
	int sock = h_track(h_connect(server.sock_path));
	struct vfu_device_info info = { .argsz = 16 };
	struct vfu_region_access a = { .count = 4 };

	assert_true(sock >= 0);
	assert_int_equal(h_send(sock, 1, VFU_CMD_DEVICE_GET_INFO, 0, &info, 16, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 1, VFU_CMD_DEVICE_GET_INFO, EINVAL), 0);
	assert_int_equal(h_send(sock, 2, VFU_CMD_REGION_READ, 0, &a, 16, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 2, VFU_CMD_REGION_READ, EINVAL), 0);
	/* VERSION with an fd. */
	uint8_t v[] = { 0, 0, 0, 0, '{', '}', 0 };
	int fd = memfd_create("x", 0);
	assert_int_equal(h_send(sock, 3, VFU_CMD_VERSION, 0, v, sizeof(v), &fd, 1), 0);
	close(fd);
	assert_int_equal(h_expect_error(sock, 3, VFU_CMD_VERSION, EINVAL), 0);
	/* Major 1; JSON without NUL; JSON of the wrong type. */
	v[0] = 1;
	assert_int_equal(h_send(sock, 4, VFU_CMD_VERSION, 0, v, sizeof(v), NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 4, VFU_CMD_VERSION, EINVAL), 0);
	v[0] = 0;
	assert_int_equal(h_send(sock, 5, VFU_CMD_VERSION, 0, v, sizeof(v) - 1, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 5, VFU_CMD_VERSION, EINVAL), 0);
	const char *bad = "\0\0\0\0{\"capabilities\":{\"max_msg_fds\":\"many\"}}";
	assert_int_equal(h_send(sock, 6, VFU_CMD_VERSION, 0, bad, 4 + strlen(bad + 4) + 1, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 6, VFU_CMD_VERSION, EINVAL), 0);
	/* Now a proper handshake, then a second VERSION is refused. */
	assert_int_equal(h_version(sock, NULL), 0);
	assert_int_equal(h_enable_device(sock), 0);
	assert_alive(sock);
	assert_int_equal(h_send(sock, 7, VFU_CMD_VERSION, 0, v, sizeof(v), NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 7, VFU_CMD_VERSION, EINVAL), 0);
	assert_alive(sock);
	h_close_tracked(NULL);
}

static void test_short_header(void **state)
{
	(void)state;
	int sock = connect_client();
	struct vfu_hdr h = { .msg_id = 77, .cmd = VFU_CMD_DEVICE_GET_INFO, .msg_size = 8 };

	assert_int_equal(h_send_raw(sock, &h, sizeof(h), NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 77, VFU_CMD_DEVICE_GET_INFO, EINVAL), 0);
	assert_alive(sock);
	h_close_tracked(NULL);
}

static void test_stalled_message(void **state)
{
	(void)state;
	int sock = connect_client();
	uint8_t buf[16 + 8] = { 0 };
	struct vfu_hdr h = { .msg_id = 78, .cmd = VFU_CMD_REGION_READ, .msg_size = 16 + 16 };

	memcpy(buf, &h, sizeof(h));
	assert_int_equal(h_send_raw(sock, buf, sizeof(buf), NULL, 0), 0);
	/* Nothing until the stall timeout, then ETIMEDOUT. */
	assert_int_equal(h_expect_error(sock, 78, VFU_CMD_REGION_READ, ETIMEDOUT), 0);
	assert_alive(sock);
	h_close_tracked(NULL);
}

/* Part of a header, then nothing: the stall timer still runs (the bytes sit in the server's
 * read-ahead buffer, not in a message), the part is dropped, and the stream goes on. */
static void test_stalled_header(void **state)
{
	(void)state;
	int sock = connect_client();
	uint8_t part[7] = { 1, 2, 3, 4, 5, 6, 7 };

	assert_int_equal(h_send_raw(sock, part, sizeof(part), NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 0, 0, ETIMEDOUT), 0);
	assert_alive(sock);
	h_close_tracked(NULL);
}

/* A header announcing more than the agreed maximum: refused at once (E2BIG) and the connection
 * closed, whether or not the payload follows; the next client is served. */
static void test_oversized(void **state)
{
	(void)state;
	for (int with_payload = 0; with_payload < 2; with_payload++) {
		int sock = connect_client();
		size_t len = XFER + 1000;
		uint8_t *p = calloc(1, len);
		struct vfu_region_access a = { .offset = 0, .region = 0,
					       .count = (uint32_t)(len - 16) };
		struct vfu_msg m;

		memcpy(p, &a, sizeof(a));
		if (with_payload) {
			assert_int_equal(h_send(sock, 79, VFU_CMD_REGION_WRITE, 0, p, len, NULL, 0), 0);
		} else {
			struct vfu_hdr h = { .msg_id = 79, .cmd = VFU_CMD_REGION_WRITE,
					     .msg_size = (uint32_t)(16 + len) };
			assert_int_equal(h_send_raw(sock, &h, sizeof(h), NULL, 0), 0);
		}
		assert_int_equal(h_expect_error(sock, 79, VFU_CMD_REGION_WRITE, E2BIG), 0);
		assert_int_equal(h_recv(sock, &m, 5000), -ECONNRESET);
		free(p);
		h_close_tracked(NULL);
	}
	assert_alive(connect_client());
	h_close_tracked(NULL);
}

static void test_argsz(void **state)
{
	(void)state;
	int sock = connect_client();
	struct vfu_device_info info = { .argsz = 8 };
	struct vfu_region_info ri = { .argsz = 16, .index = 0 };
	struct vfu_irq_info ii = { .argsz = 4, .index = 0 };
	struct vfu_msg m;

	assert_int_equal(h_send(sock, 10, VFU_CMD_DEVICE_GET_INFO, 0, &info, 16, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 10, VFU_CMD_DEVICE_GET_INFO, EINVAL), 0);
	assert_int_equal(h_send(sock, 11, VFU_CMD_DEVICE_GET_REGION_INFO, 0, &ri, 32, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 11, VFU_CMD_DEVICE_GET_REGION_INFO, EINVAL), 0);
	assert_int_equal(h_send(sock, 12, VFU_CMD_DEVICE_GET_IRQ_INFO, 0, &ii, 16, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 12, VFU_CMD_DEVICE_GET_IRQ_INFO, EINVAL), 0);
	/* msg_size not matching the struct. */
	info.argsz = 16;
	assert_int_equal(h_send(sock, 13, VFU_CMD_DEVICE_GET_INFO, 0, &info, 12, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 13, VFU_CMD_DEVICE_GET_INFO, EINVAL), 0);
	assert_alive(sock);
	/* argsz larger than needed is fine: the reply is what is needed. */
	info.argsz = 1000;
	assert_int_equal(h_send(sock, 14, VFU_CMD_DEVICE_GET_INFO, 0, &info, 16, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	assert_int_equal(m.payload_len, 16);
	memcpy(&info, m.payload, 16);
	assert_int_equal(info.argsz, 16);
	assert_int_equal(info.num_regions, UVFIO_PCI_NUM_REGIONS);
	assert_true(info.flags & VFIO_DEVICE_FLAGS_PCI);
	vfu_msg_release(&m);
	ri.argsz = 4096;
	assert_int_equal(h_send(sock, 15, VFU_CMD_DEVICE_GET_REGION_INFO, 0, &ri, 32, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	memcpy(&ri, m.payload, 32);
	assert_int_equal(m.payload_len, ri.argsz);
	assert_int_equal(ri.size, BAR0_SIZE);
	vfu_msg_release(&m);
	assert_alive(sock);
	h_close_tracked(NULL);
}

static void test_fd_counts(void **state)
{
	(void)state;
	int sock = connect_client();
	int fds[2] = { memfd_create("a", 0), memfd_create("b", 0) };
	uint8_t set[20];
	struct vfu_irq_set s = {
		.argsz = 20,
		.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_INTX_IRQ_INDEX,
		.start = 0,
		.count = 1,
	};
	struct vfu_dma_map d = { .argsz = 32, .flags = 3, .offset = 0, .addr = 0x100000, .size = 4096 };

	assert_int_equal(ftruncate(fds[0], 4096), 0);
	memcpy(set, &s, sizeof(s));
	assert_int_equal(h_send(sock, 20, VFU_CMD_DEVICE_SET_IRQS, 0, set, 20, fds, 2), 0);
	assert_int_equal(h_expect_error(sock, 20, VFU_CMD_DEVICE_SET_IRQS, EINVAL), 0);
	assert_int_equal(h_send(sock, 21, VFU_CMD_DMA_MAP, 0, &d, sizeof(d), fds, 2), 0);
	assert_int_equal(h_expect_error(sock, 21, VFU_CMD_DMA_MAP, EINVAL), 0);
	/* fds on a command that takes none are closed and the command still runs. */
	struct vfu_device_info info = { .argsz = 16 };
	struct vfu_msg m;
	assert_int_equal(h_send(sock, 22, VFU_CMD_DEVICE_GET_INFO, 0, &info, 16, fds, 2), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	vfu_msg_release(&m);
	/* DATA_BOOL with an fd. */
	uint8_t setb[21];
	s.argsz = 21;
	s.flags = VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER;
	memcpy(setb, &s, sizeof(s));
	setb[20] = 1;
	assert_int_equal(h_send(sock, 23, VFU_CMD_DEVICE_SET_IRQS, 0, setb, 21, fds, 1), 0);
	assert_int_equal(h_expect_error(sock, 23, VFU_CMD_DEVICE_SET_IRQS, EINVAL), 0);
	/* The right counts work: one eventfd, then de-assign with none. */
	int efd = eventfd(0, EFD_CLOEXEC);
	s.argsz = 20;
	s.flags = VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER;
	memcpy(set, &s, sizeof(s));
	assert_int_equal(h_send(sock, 24, VFU_CMD_DEVICE_SET_IRQS, 0, set, 20, &efd, 1), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	vfu_msg_release(&m);
	assert_int_equal(h_send(sock, 25, VFU_CMD_DEVICE_SET_IRQS, 0, set, 20, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	vfu_msg_release(&m);
	/* A valid map with one fd. */
	assert_int_equal(h_send(sock, 26, VFU_CMD_DMA_MAP, 0, &d, sizeof(d), fds, 1), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	assert_int_equal(m.payload_len, 0);
	vfu_msg_release(&m);
	close(efd);
	close(fds[0]);
	close(fds[1]);
	assert_alive(sock);
	h_close_tracked(NULL);
}

static void test_unknown_commands(void **state)
{
	(void)state;
	int sock = connect_client();
	uint32_t x[4] = { 16, 0, 0, 0 };

	assert_int_equal(h_send(sock, 30, 99, 0, x, 16, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 30, 99, EINVAL), 0);
	assert_int_equal(h_send(sock, 31, 0, 0, x, 16, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 31, 0, EINVAL), 0);
	assert_int_equal(h_send(sock, 32, VFU_CMD_DIRTY_PAGES, 0, x, 8, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 32, VFU_CMD_DIRTY_PAGES, ENOTSUP), 0);
	/* A well-formed migration read to a device that does not migrate. */
	uint32_t mig_read[2] = { 8 + 64, 64 };
	assert_int_equal(h_send(sock, 33, VFU_CMD_MIG_DATA_READ, 0, mig_read, 8, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 33, VFU_CMD_MIG_DATA_READ, ENOTTY), 0);
	/* DMA_READ is ours to send, not the client's. */
	assert_int_equal(h_send(sock, 34, VFU_CMD_DMA_READ, 0, x, 16, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 34, VFU_CMD_DMA_READ, EINVAL), 0);
	/* A message that is neither command nor reply. */
	assert_int_equal(h_send(sock, 35, VFU_CMD_DEVICE_GET_INFO, 0x7, x, 16, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 35, VFU_CMD_DEVICE_GET_INFO, EINVAL), 0);
	/* REGION_WRITE_MULTI was not negotiated by h_version's default capabilities. */
	assert_int_equal(h_send(sock, 36, VFU_CMD_REGION_WRITE_MULTI, 0, x, 8, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 36, VFU_CMD_REGION_WRITE_MULTI, EINVAL), 0);
	assert_alive(sock);
	h_close_tracked(NULL);
}

static void test_dma_errors(void **state)
{
	(void)state;
	int sock = connect_client();
	int fd = memfd_create("guest", 0);
	struct vfu_dma_map d = { .argsz = 32, .flags = 3, .addr = 0x200000, .size = 8192 };
	struct vfu_dma_unmap u = { .argsz = 24, .addr = 0x200000, .size = 8192 };
	struct vfu_msg m;

	assert_int_equal(ftruncate(fd, 8192), 0);
	assert_int_equal(h_send(sock, 40, VFU_CMD_DMA_MAP, 0, &d, 32, &fd, 1), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	vfu_msg_release(&m);
	/* Overlap (also without an fd). */
	d.addr = 0x201000;
	d.size = 4096;
	assert_int_equal(h_send(sock, 41, VFU_CMD_DMA_MAP, 0, &d, 32, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 41, VFU_CMD_DMA_MAP, EEXIST), 0);
	/* Wraps around the address space. */
	d.addr = UINT64_MAX - 100;
	assert_int_equal(h_send(sock, 42, VFU_CMD_DMA_MAP, 0, &d, 32, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 42, VFU_CMD_DMA_MAP, EINVAL), 0);
	/* Beyond the end of the fd. */
	d.addr = 0x400000;
	d.offset = 4096;
	d.size = 8192;
	assert_int_equal(h_send(sock, 43, VFU_CMD_DMA_MAP, 0, &d, 32, &fd, 1), 0);
	assert_int_equal(h_expect_error(sock, 43, VFU_CMD_DMA_MAP, EINVAL), 0);
	/* Size 0, unknown flags, argsz too small, wrong msg_size. */
	d.offset = 0;
	d.size = 0;
	assert_int_equal(h_send(sock, 44, VFU_CMD_DMA_MAP, 0, &d, 32, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 44, VFU_CMD_DMA_MAP, EINVAL), 0);
	d.size = 4096;
	d.flags = 7;
	assert_int_equal(h_send(sock, 45, VFU_CMD_DMA_MAP, 0, &d, 32, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 45, VFU_CMD_DMA_MAP, EINVAL), 0);
	d.flags = 3;
	d.argsz = 16;
	assert_int_equal(h_send(sock, 46, VFU_CMD_DMA_MAP, 0, &d, 32, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 46, VFU_CMD_DMA_MAP, EINVAL), 0);
	d.argsz = 32;
	assert_int_equal(h_send(sock, 47, VFU_CMD_DMA_MAP, 0, &d, 24, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 47, VFU_CMD_DMA_MAP, EINVAL), 0);
	/* Unmap: unknown range, partial range, dirty bitmap flag, ALL with an address. */
	u.addr = 0x900000;
	assert_int_equal(h_send(sock, 50, VFU_CMD_DMA_UNMAP, 0, &u, 24, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 50, VFU_CMD_DMA_UNMAP, ENOENT), 0);
	u.addr = 0x200000;
	u.size = 4096;
	assert_int_equal(h_send(sock, 51, VFU_CMD_DMA_UNMAP, 0, &u, 24, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 51, VFU_CMD_DMA_UNMAP, ENOENT), 0);
	u.size = 8192;
	u.flags = VFIO_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP;
	assert_int_equal(h_send(sock, 52, VFU_CMD_DMA_UNMAP, 0, &u, 24, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 52, VFU_CMD_DMA_UNMAP, EINVAL), 0);
	u.flags = VFIO_DMA_UNMAP_FLAG_ALL;
	assert_int_equal(h_send(sock, 53, VFU_CMD_DMA_UNMAP, 0, &u, 24, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 53, VFU_CMD_DMA_UNMAP, EINVAL), 0);
	/* The exact range unmaps, echoing the struct. */
	u.flags = 0;
	assert_int_equal(h_send(sock, 54, VFU_CMD_DMA_UNMAP, 0, &u, 24, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	assert_int_equal(m.payload_len, 24);
	assert_memory_equal(m.payload, &u, 24);
	vfu_msg_release(&m);
	/* ... and is gone now. */
	assert_int_equal(h_send(sock, 55, VFU_CMD_DMA_UNMAP, 0, &u, 24, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 55, VFU_CMD_DMA_UNMAP, ENOENT), 0);
	close(fd);
	assert_alive(sock);
	h_close_tracked(NULL);
}

static void test_region_errors(void **state)
{
	(void)state;
	int sock = connect_client();
	struct vfu_region_access a = { .offset = 0, .region = 20, .count = 4 };
	struct vfu_region_info ri = { .argsz = 32, .index = 50 };
	uint8_t w[16 + 8] = { 0 };

	assert_int_equal(h_send(sock, 60, VFU_CMD_REGION_READ, 0, &a, 16, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 60, VFU_CMD_REGION_READ, EINVAL), 0);
	a.region = 0;
	a.offset = BAR0_SIZE - 2;
	assert_int_equal(h_send(sock, 61, VFU_CMD_REGION_READ, 0, &a, 16, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 61, VFU_CMD_REGION_READ, EINVAL), 0);
	a.offset = UINT64_MAX - 1;
	assert_int_equal(h_send(sock, 62, VFU_CMD_REGION_READ, 0, &a, 16, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 62, VFU_CMD_REGION_READ, EINVAL), 0);
	a.offset = 0;
	a.count = XFER + 1;
	assert_int_equal(h_send(sock, 63, VFU_CMD_REGION_READ, 0, &a, 16, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 63, VFU_CMD_REGION_READ, EINVAL), 0);
	/* A write whose count disagrees with msg_size (8 data bytes, count 4). */
	a.count = 4;
	memcpy(w, &a, 16);
	assert_int_equal(h_send(sock, 64, VFU_CMD_REGION_WRITE, 0, w, sizeof(w), NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 64, VFU_CMD_REGION_WRITE, EINVAL), 0);
	/* A read with data attached. */
	assert_int_equal(h_send(sock, 65, VFU_CMD_REGION_READ, 0, w, sizeof(w), NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 65, VFU_CMD_REGION_READ, EINVAL), 0);
	assert_int_equal(h_send(sock, 66, VFU_CMD_DEVICE_GET_REGION_INFO, 0, &ri, 32, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 66, VFU_CMD_DEVICE_GET_REGION_INFO, EINVAL), 0);
	struct vfu_region_io_fds_request io = { .argsz = 16, .index = 50 };
	assert_int_equal(h_send(sock, 67, VFU_CMD_DEVICE_GET_REGION_IO_FDS, 0, &io, 16, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 67, VFU_CMD_DEVICE_GET_REGION_IO_FDS, EINVAL), 0);
	/* NO_REPLY is honoured: the posted write lands, and only the read is answered. */
	uint32_t val = 0xfeedf00d;
	a.offset = 128;
	memcpy(w, &a, 16);
	memcpy(w + 16, &val, 4);
	assert_int_equal(h_send(sock, 68, VFU_CMD_REGION_WRITE, VFU_F_NO_REPLY, w, 20, NULL, 0), 0);
	assert_int_equal(h_send(sock, 69, VFU_CMD_REGION_READ, 0, &a, 16, NULL, 0), 0);
	struct vfu_msg m;
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.msg_id, 69);
	assert_memory_equal(m.payload + 16, &val, 4);
	vfu_msg_release(&m);
	assert_alive(sock);
	h_close_tracked(NULL);
}

static void test_set_irqs_ranges(void **state)
{
	(void)state;
	int sock = connect_client();
	struct vfu_irq_set s = {
		.argsz = 20,
		.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER,
		.index = VFIO_PCI_INTX_IRQ_INDEX,
		.start = 1,
		.count = 1,
	};

	assert_int_equal(h_send(sock, 70, VFU_CMD_DEVICE_SET_IRQS, 0, &s, 20, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 70, VFU_CMD_DEVICE_SET_IRQS, EINVAL), 0);
	s.start = 0;
	s.count = 2;
	assert_int_equal(h_send(sock, 71, VFU_CMD_DEVICE_SET_IRQS, 0, &s, 20, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 71, VFU_CMD_DEVICE_SET_IRQS, EINVAL), 0);
	s.start = UINT32_MAX;
	s.count = 2;
	assert_int_equal(h_send(sock, 72, VFU_CMD_DEVICE_SET_IRQS, 0, &s, 20, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 72, VFU_CMD_DEVICE_SET_IRQS, EINVAL), 0);
	s.start = 0;
	s.count = 1;
	s.index = 40;
	assert_int_equal(h_send(sock, 73, VFU_CMD_DEVICE_SET_IRQS, 0, &s, 20, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 73, VFU_CMD_DEVICE_SET_IRQS, EINVAL), 0);
	/* argsz not the request size; two DATA flags; a BOOL without its byte. */
	s.index = VFIO_PCI_INTX_IRQ_INDEX;
	s.argsz = 24;
	assert_int_equal(h_send(sock, 74, VFU_CMD_DEVICE_SET_IRQS, 0, &s, 20, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 74, VFU_CMD_DEVICE_SET_IRQS, EINVAL), 0);
	s.argsz = 20;
	s.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER;
	assert_int_equal(h_send(sock, 75, VFU_CMD_DEVICE_SET_IRQS, 0, &s, 20, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 75, VFU_CMD_DEVICE_SET_IRQS, EINVAL), 0);
	s.flags = VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER;
	assert_int_equal(h_send(sock, 76, VFU_CMD_DEVICE_SET_IRQS, 0, &s, 20, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 76, VFU_CMD_DEVICE_SET_IRQS, EINVAL), 0);
	assert_int_equal(h_send(sock, 77, VFU_CMD_DEVICE_SET_IRQS, 0, &s, 12, NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 77, VFU_CMD_DEVICE_SET_IRQS, EINVAL), 0);
	/* Disable all of an index: start 0, count 0, DATA_NONE. */
	struct vfu_msg m;
	s.flags = VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER;
	s.count = 0;
	assert_int_equal(h_send(sock, 78, VFU_CMD_DEVICE_SET_IRQS, 0, &s, 20, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	vfu_msg_release(&m);
	assert_alive(sock);
	h_close_tracked(NULL);
}

static void test_close_mid_message(void **state)
{
	(void)state;
	int sock = connect_client();
	struct vfu_hdr h = { .msg_id = 80, .cmd = VFU_CMD_REGION_WRITE, .msg_size = 16 + 100 };
	uint8_t part[16 + 10] = { 0 };

	memcpy(part, &h, 16);
	assert_int_equal(h_send_raw(sock, part, sizeof(part), NULL, 0), 0);
	h_close_tracked(NULL);
	/* Mid-header too. */
	sock = connect_client();
	assert_int_equal(h_send_raw(sock, &h, 7, NULL, 0), 0);
	h_close_tracked(NULL);
	/* The next client is served. */
	sock = connect_client();
	assert_alive(sock);
	h_close_tracked(NULL);
}

static void test_second_client_waits(void **state)
{
	(void)state;
	int first = connect_client();
	int second = h_track(h_connect(server.sock_path));
	uint8_t v[] = { 0, 0, 0, 0, '{', '}', 0 };
	struct vfu_msg m;

	assert_true(second >= 0);
	assert_int_equal(h_send(second, 90, VFU_CMD_VERSION, 0, v, sizeof(v), NULL, 0), 0);
	/* Not served while the first is connected (it waits in the backlog) ... */
	assert_true(h_quiet(second, 200));
	assert_alive(first);
	h_untrack(first); /* the teardown must not close a number reused by then */
	close(first);
	/* ... and served as soon as the first leaves. */
	assert_int_equal(h_recv(second, &m, 5000), 0);
	assert_int_equal(m.hdr.msg_id, 90);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	vfu_msg_release(&m);
	assert_int_equal(h_enable_device(second), 0);
	assert_alive(second);
}

/* The server API itself, in this process: bad arguments, timeouts, stop. */
static void test_server_api(void **state)
{
	(void)state;
	struct uvfio_server *srv = uvfio_server_new(NULL);
	char long_path[200];

	assert_non_null(srv);
	memset(long_path, 'a', sizeof(long_path) - 1);
	long_path[sizeof(long_path) - 1] = '\0';
	/* The server owns the device even on failure (ASan reports a leak otherwise). */
	assert_int_equal(uvfio_server_add_device(srv, h_test_device(NULL), long_path), -ENAMETOOLONG);
	assert_int_equal(uvfio_server_add_device(srv, h_test_device(NULL), "/nonexistent/dir/s"), -ENOENT);
	assert_int_equal(uvfio_server_add_device(srv, NULL, "/tmp/x"), -EINVAL);
	assert_int_equal(uvfio_server_add_device_fd(srv, h_test_device(NULL), -1), -EINVAL);
	assert_int_equal(uvfio_server_dispatch(NULL, 0), -EINVAL);
	assert_true(uvfio_server_fd(srv) >= 0);
	assert_int_equal(uvfio_server_dispatch(srv, 0), 0);
	uvfio_server_stop(srv);
	assert_int_equal(uvfio_server_dispatch(srv, 1000), -ECANCELED);
	uvfio_server_stop(srv);
	assert_int_equal(uvfio_server_run(srv), 0);
	uvfio_server_free(srv);
}

/* A client that sends but never reads cannot stall the server: once its socket is full the
 * server gives up after msg_timeout_ms, drops it and serves the next client. */
static void test_client_stops_reading(void **state)
{
	(void)state;
	int sock = connect_client();
	struct vfu_region_access a = { .offset = 0, .region = 0, .count = XFER };

	int ret = 0;
	/* Our sends fail too once the server has dropped us (unread data: a reset). */
	for (int i = 0; i < 4000 && ret == 0; i++)
		ret = h_send(sock, (uint16_t)i, VFU_CMD_REGION_READ, 0, &a, 16, NULL, 0);
	assert_true(ret == 0 || ret == -ECONNRESET || ret == -EPIPE);
	int next = h_track(h_connect(server.sock_path));
	assert_true(next >= 0);
	assert_int_equal(h_version(next, NULL), 0);
	assert_int_equal(h_enable_device(next), 0);
	assert_alive(next);
	h_close_tracked(NULL);
}

static void test_last_no_fd_leak(void **state)
{
	(void)state;
	int sock = connect_client();
	assert_alive(sock);
	assert_int_equal(h_server_count_fds(&server), fds_connected);
	h_close_tracked(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_first_count_fds, h_close_tracked),
		cmocka_unit_test_teardown(test_before_version_and_fds_on_version, h_close_tracked),
		cmocka_unit_test_teardown(test_short_header, h_close_tracked),
		cmocka_unit_test_teardown(test_stalled_message, h_close_tracked),
		cmocka_unit_test_teardown(test_stalled_header, h_close_tracked),
		cmocka_unit_test_teardown(test_oversized, h_close_tracked),
		cmocka_unit_test_teardown(test_argsz, h_close_tracked),
		cmocka_unit_test_teardown(test_fd_counts, h_close_tracked),
		cmocka_unit_test_teardown(test_unknown_commands, h_close_tracked),
		cmocka_unit_test_teardown(test_dma_errors, h_close_tracked),
		cmocka_unit_test_teardown(test_region_errors, h_close_tracked),
		cmocka_unit_test_teardown(test_set_irqs_ranges, h_close_tracked),
		cmocka_unit_test_teardown(test_close_mid_message, h_close_tracked),
		cmocka_unit_test_teardown(test_second_client_waits, h_close_tracked),
		cmocka_unit_test_teardown(test_client_stops_reading, h_close_tracked),
		cmocka_unit_test_teardown(test_last_no_fd_leak, h_close_tracked),
		cmocka_unit_test(test_server_api),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
