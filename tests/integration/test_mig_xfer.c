/* SPDX-License-Identifier: MIT */
/*
 * The transfer size of migration data against a server left at its default
 * max_data_xfer_size: 1 MiB for a client that proposes only the standard key (QEMU,
 * libvfio-user), the uvfio size for a client that proposes it under "uvfio". Checked in the
 * VERSION reply, by the MIG_DATA_READ size limit, by the frame limit (E2BIG before any
 * handler) and with our own client, whose reads land straight in the caller's buffer. The
 * device is edu-mig with 2 MiB of device memory: its stream is a little over 2 MiB.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <linux/vfio.h>

#include <uvfio/client.h>
#include <uvfio/migration.h>
#include <uvfio/pci.h>
#include <uvfio/uvfio.h>

#include "client/backend.h"
#include "harness.h"

#define STD_XFER (1u << 20)
#define UVFIO_XFER (16u << 20)
#define DEV_MEM (2u << 20)
#define STD_JSON "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576}}"
#define UVFIO_JSON                                                                                 \
	"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576,"                    \
	"\"uvfio\":{\"max_data_xfer_size\":16777216}}}"

static struct h_server server;

static struct uvfio_device *edu_mig(void *arg)
{
	struct uvfio_pci_device *pdev;

	(void)arg;
	uvfio_register_builtin_drivers();
	if (uvfio_pci_create("edu-mig,mem=2M", &pdev) < 0)
		return NULL;
	return uvfio_pci_to_device(pdev);
}

static int group_setup(void **state)
{
	(void)state;
	return h_server_start(&server, edu_mig, NULL, NULL);
}

static int group_teardown(void **state)
{
	(void)state;
	return h_server_stop(&server) == 0 ? 0 : -1;
}

/* One command; 0 and the reply in *m (if m), or the -errno of an error reply. */
static int call(int sock, uint16_t cmd, const void *p, size_t len, struct vfu_msg *m)
{
	static uint16_t id = 1;
	struct vfu_msg reply;
	uint16_t my = id++;

	assert_int_equal(h_send(sock, my, cmd, 0, p, len, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &reply, 10000), 0);
	assert_int_equal(reply.hdr.msg_id, my);
	assert_int_equal(reply.hdr.flags & VFU_F_TYPE_MASK, VFU_F_TYPE_REPLY);
	if (reply.hdr.flags & VFU_F_ERROR) {
		int err = -(int)reply.hdr.error_no;
		vfu_msg_release(&reply);
		return err;
	}
	if (m)
		*m = reply;
	else
		vfu_msg_release(&reply);
	return 0;
}

/* A raw client with proposal; the reply's JSON in json. */
static int client(const char *proposal, char *json, size_t cap)
{
	uint8_t buf[512];
	struct vfu_version v = { 0, 0 };
	struct vfu_msg m;
	int sock = h_track(h_connect(server.sock_path));

	assert_true(sock >= 0);
	memcpy(buf, &v, 4);
	memcpy(buf + 4, proposal, strlen(proposal) + 1);
	assert_int_equal(call(sock, VFU_CMD_VERSION, buf, 4 + strlen(proposal) + 1, &m), 0);
	assert_true(m.payload_len > 4 && m.payload_len - 4 <= cap);
	memcpy(json, m.payload + 4, m.payload_len - 4);
	vfu_msg_release(&m);
	return sock;
}

static int set_state(int sock, uint32_t state)
{
	struct {
		struct vfu_device_feature f;
		struct uvfio_feature_mig_state s;
	} __attribute__((packed)) req = {
		{ 16, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE },
		{ state, -1 },
	};

	return call(sock, VFU_CMD_DEVICE_FEATURE, &req, sizeof(req), NULL);
}

/* MIG_DATA_READ/WRITE of size with extra payload bytes (garbage for a write). */
static int data(int sock, uint16_t cmd, uint32_t size, size_t extra, struct vfu_msg *m)
{
	uint8_t *buf = calloc(1, 8 + extra);
	struct vfu_mig_data q = { .argsz = 8 + size, .size = size };

	assert_non_null(buf);
	memcpy(buf, &q, 8);
	int ret = call(sock, cmd, buf, 8 + extra, m);
	free(buf);
	return ret;
}

/* Reads the whole stream in requests of size; returns its length and the number of replies
 * that carried data. */
static size_t drain(int sock, uint32_t size, unsigned *replies)
{
	size_t total = 0;
	struct vfu_msg m;

	*replies = 0;
	for (;;) {
		assert_int_equal(data(sock, VFU_CMD_MIG_DATA_READ, size, 0, &m), 0);
		size_t n = m.payload_len - 8;
		if (total == 0)
			assert_memory_equal(m.payload + 8, "UVFIOMIG", 8);
		vfu_msg_release(&m);
		total += n;
		*replies += n ? 1 : 0;
		if (n < size)
			return total;
	}
}

static void test_standard_client(void **state)
{
	(void)state;
	char json[512];
	unsigned replies;
	int sock = client(STD_JSON, json, sizeof(json));

	assert_non_null(strstr(json, "\"max_data_xfer_size\":1048576"));
	assert_null(strstr(json, "uvfio"));
	assert_int_equal(set_state(sock, UVFIO_MIG_STATE_STOP_COPY), 0);
	assert_int_equal(data(sock, VFU_CMD_MIG_DATA_READ, STD_XFER + 1, 0, NULL), -EINVAL);
	size_t len = drain(sock, STD_XFER, &replies);
	assert_true(len > DEV_MEM && len < DEV_MEM + STD_XFER);
	assert_int_equal(replies, 3);
	assert_int_equal(set_state(sock, UVFIO_MIG_STATE_RUNNING), 0);
	/* A header announcing more than 1 MiB + headers: refused by the frame limit at once,
	 * and the connection closed (the stream cannot be resynchronised). */
	struct vfu_hdr big = { .msg_id = 900, .cmd = VFU_CMD_MIG_DATA_WRITE,
			       .msg_size = 16 + 8 + 2 * STD_XFER };
	assert_int_equal(h_send_raw(sock, &big, sizeof(big), NULL, 0), 0);
	assert_int_equal(h_expect_error(sock, 900, VFU_CMD_MIG_DATA_WRITE, E2BIG), 0);
	struct vfu_msg m;
	assert_int_equal(h_recv(sock, &m, 5000), -ECONNRESET);
	h_close_tracked(NULL);
}

static void test_uvfio_client(void **state)
{
	(void)state;
	char json[512];
	unsigned replies;
	int sock = client(UVFIO_JSON, json, sizeof(json));

	/* The standard key as for anyone; the larger size in the uvfio object. */
	assert_non_null(strstr(json, "\"max_data_xfer_size\":1048576"));
	assert_non_null(strstr(json, "\"max_data_xfer_size\":16777216"));
	assert_int_equal(set_state(sock, UVFIO_MIG_STATE_STOP_COPY), 0);
	assert_int_equal(data(sock, VFU_CMD_MIG_DATA_READ, UVFIO_XFER + 1, 0, NULL), -EINVAL);
	size_t len = drain(sock, 4 * STD_XFER, &replies);
	assert_true(len > DEV_MEM && len < DEV_MEM + STD_XFER);
	assert_int_equal(replies, 1);
	/* A 2 MiB write gets past the frame limit to the device, which refuses garbage. */
	assert_int_equal(set_state(sock, UVFIO_MIG_STATE_RESUMING), 0);
	assert_int_equal(data(sock, VFU_CMD_MIG_DATA_WRITE, 2 * STD_XFER, 2 * STD_XFER, NULL),
			 -EINVAL);
	assert_int_equal(call(sock, VFU_CMD_DEVICE_RESET, NULL, 0, NULL), 0);
	h_close_tracked(NULL);
}

/* Our client: the uvfio size, a save in one message each way, and a load of it. */
static void test_our_client(void **state)
{
	(void)state;
	struct uvfio_handle *h = NULL;
	uint8_t *buf = malloc(4 * STD_XFER);

	assert_non_null(buf);
	assert_int_equal(h_open(server.sock_path, &h), 0);
	assert_int_equal(h->ops->max_rw(h), UVFIO_XFER);
	assert_int_equal(uvfio_mig_set_state(h, UVFIO_MIG_STATE_STOP_COPY, NULL), 0);
	ssize_t n = uvfio_mig_read(h, buf, 4 * STD_XFER);
	assert_true(n > (ssize_t)DEV_MEM && n < (ssize_t)(DEV_MEM + STD_XFER));
	assert_memory_equal(buf, "UVFIOMIG", 8);
	assert_int_equal(uvfio_mig_read(h, buf + n, 4 * STD_XFER - (size_t)n), 0);
	assert_int_equal(uvfio_mig_set_state(h, UVFIO_MIG_STATE_RESUMING, NULL), 0);
	assert_int_equal(uvfio_mig_write(h, buf, (size_t)n), n);
	assert_int_equal(uvfio_mig_set_state(h, UVFIO_MIG_STATE_RUNNING, NULL), 0);
	uvfio_close(h);
	free(buf);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_standard_client, h_close_tracked),
		cmocka_unit_test_teardown(test_uvfio_client, h_close_tracked),
		cmocka_unit_test(test_our_client),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
