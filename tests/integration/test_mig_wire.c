/* SPDX-License-Identifier: MIT */
/*
 * Migration over vfio-user, end to end: the migration features, state changes along paths,
 * MIG_DATA_READ/WRITE between two servers, the uvfio precopy extension with and without
 * negotiation, DMA logging, and every malformed request (after each the server still serves).
 * The device is a small test device here: BAR0 scratch whose first STATE_LEN bytes are its
 * migrated state, and a register that makes it DMA.
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
#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <uvfio/client.h>
#include <uvfio/dma.h>
#include <uvfio/migration.h>
#include <uvfio/pci.h>

#include "client/backend.h"
#include "harness.h"

#define XFER 4096u /* the servers' max_data_xfer_size */
#define STATE_LEN 32u
#define REG_DMA_IOVA 0x100u /* write 8 bytes: the device writes dma_pattern there */
#define REG_DMA_RESULT 0x108u /* s32 result of that write */
#define SEC_STATE 1u
#define SEC_PRECOPY 2u
#define SEC_BULK 3u /* several messages long, so that data moves in pieces */
#define BULK_LEN (3 * XFER + 100)
#define RAM_IOVA 0x100000u
#define RAM_SIZE 0x10000u
#define PAGE 4096u

enum { ERR = UVFIO_MIG_STATE_ERROR, STOP = UVFIO_MIG_STATE_STOP, RUN = UVFIO_MIG_STATE_RUNNING,
       SC = UVFIO_MIG_STATE_STOP_COPY, RES = UVFIO_MIG_STATE_RESUMING,
       R_P2P = UVFIO_MIG_STATE_RUNNING_P2P, PC = UVFIO_MIG_STATE_PRE_COPY,
       PC_P2P = UVFIO_MIG_STATE_PRE_COPY_P2P };

static const uint8_t dma_pattern[16] = "dirty-this-page";
static const uint8_t precopy_data[8] = "precopy!";

/* ---- the test device (runs in the server children) ---- */
static uint8_t bar0[H_BAR0_SIZE];
static bool precopy_sent;
static uint8_t bulk[BULK_LEN];

static void fill_bulk(void)
{
	for (size_t i = 0; i < BULK_LEN; i++)
		bulk[i] = (uint8_t)(i * 7 + 1);
}

static ssize_t bar0_rw(struct uvfio_pci_device *pdev, int bar, uint64_t off, void *buf,
		       size_t count, bool is_write)
{
	(void)bar;
	if (!is_write) {
		memcpy(buf, bar0 + off, count);
		return (ssize_t)count;
	}
	memcpy(bar0 + off, buf, count);
	if (off == REG_DMA_IOVA && count == 8) {
		uint64_t iova;
		memcpy(&iova, buf, 8);
		int32_t ret = uvfio_dma_write(uvfio_pci_to_device(pdev), iova, dma_pattern,
					      sizeof(dma_pattern));
		memcpy(bar0 + REG_DMA_RESULT, &ret, 4);
	}
	return (ssize_t)count;
}

static int mig_step(struct uvfio_device *dev, uint32_t from, uint32_t to, bool *broken)
{
	(void)dev;
	(void)broken;
	if (uvfio_mig_arc_session(from, to) == UVFIO_MIG_SESSION_OPEN_SAVE)
		precopy_sent = false;
	return 0;
}

static int mig_save(struct uvfio_device *dev, struct uvfio_mig_writer *w, bool final)
{
	(void)dev;
	if (final) {
		int ret = uvfio_mig_writer_section(w, SEC_STATE, bar0, STATE_LEN);
		return ret < 0 ? ret : uvfio_mig_writer_section(w, SEC_BULK, bulk, BULK_LEN);
	}
	if (precopy_sent)
		return 0;
	precopy_sent = true;
	return uvfio_mig_writer_section(w, SEC_PRECOPY, precopy_data, sizeof(precopy_data));
}

static int mig_load(struct uvfio_device *dev, uint32_t version,
		    const struct uvfio_mig_section *s, size_t nr)
{
	const struct uvfio_mig_section *state = NULL, *big = NULL;

	(void)dev;
	(void)version;
	for (size_t i = 0; i < nr; i++) {
		if (s[i].id == SEC_STATE && s[i].len == STATE_LEN)
			state = &s[i];
		if (s[i].id == SEC_BULK && s[i].len == BULK_LEN)
			big = &s[i];
	}
	if (!state || !big || memcmp(big->data, bulk, BULK_LEN))
		return -EINVAL;
	memcpy(bar0, state->data, STATE_LEN);
	return 0;
}

static int mig_data_size(struct uvfio_device *dev, uint64_t *bytes)
{
	(void)dev;
	*bytes = STATE_LEN;
	return 0;
}

static const struct uvfio_migration_ops mig_ops = {
	.flags = UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P | UVFIO_MIGRATION_PRE_COPY,
	.state_version = 1, .min_state_version = 1,
	.step = mig_step, .save = mig_save, .load = mig_load, .data_size = mig_data_size,
};

static const struct uvfio_mig_identity mig_id = {
	.vendor = 0x1234, .device = 0x11e9, .driver = "migwire", .state_version = 1,
	.min_state_version = 1,
};

static struct uvfio_device *mig_device(void *arg)
{
	const struct uvfio_pci_ident id = { .vendor = 0x1234, .device = 0x11e9,
					    .class_code = 0xff0000 };
	struct uvfio_pci_device *pdev = uvfio_pci_device_new(&id);

	(void)arg;
	if (!pdev)
		return NULL;
	fill_bulk();
	if (uvfio_pci_setup_bar(pdev, 0, H_BAR0_SIZE, UVFIO_PCI_BAR_MEM32, bar0_rw) < 0) {
		uvfio_pci_device_free(pdev);
		return NULL;
	}
	uvfio_pci_finalize(pdev);
	struct uvfio_device *dev = uvfio_pci_to_device(pdev);
	uvfio_device_set_name(dev, "migwire");
	if (uvfio_device_set_migration(dev, &mig_ops, &mig_id) < 0)
		return NULL;
	return dev;
}

/* ---- test side ---- */
static struct h_server src, dst;

static int group_setup(void **state)
{
	struct uvfio_server_config cfg = { .max_data_xfer_size = XFER };

	(void)state;
	if (h_server_start(&src, mig_device, NULL, &cfg) < 0)
		return -1;
	return h_server_start(&dst, mig_device, NULL, &cfg);
}

static int group_teardown(void **state)
{
	(void)state;
	int a = h_server_stop(&src), b = h_server_stop(&dst);
	return a == 0 && b == 0 ? 0 : -1;
}

/* Clients a test opened, closed by the teardown when an assertion failed: an open client
 * would keep the next one waiting in the server's backlog. */
static struct uvfio_handle *clients[2];

static int close_all(void **state)
{
	for (size_t i = 0; i < 2; i++) {
		if (clients[i])
			uvfio_close(clients[i]);
		clients[i] = NULL;
	}
	return h_close_tracked(state);
}

static void close_client(struct uvfio_handle *h)
{
	for (size_t i = 0; i < 2; i++)
		if (clients[i] == h)
			clients[i] = NULL;
	uvfio_close(h);
}

static struct uvfio_handle *open_client(const struct h_server *s)
{
	struct uvfio_handle *h = NULL;
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

	assert_int_equal(h_open(s->sock_path, &h), 0);
	clients[clients[0] ? 1 : 0] = h;
	assert_int_equal(uvfio_config_write(h, PCI_COMMAND, &cmd, 2), 0);
	return h;
}

static void check_path(const struct uvfio_mig_path *p, const uint8_t *states, unsigned nr)
{
	assert_int_equal(p->nr_arcs, nr - 1);
	for (unsigned i = 0; i + 1 < nr; i++) {
		assert_int_equal(p->arcs[i].from, states[i]);
		assert_int_equal(p->arcs[i].to, states[i + 1]);
	}
}

static void expect_state(struct uvfio_handle *h, uint32_t want)
{
	uint32_t st = 99;

	assert_int_equal(uvfio_mig_get_state(h, &st), 0);
	assert_int_equal(st, want);
}

/* A raw client: VERSION with json (NULL: the harness default, no uvfio key). */
static int raw_client(const char *json)
{
	int sock = h_track(h_connect(src.sock_path));

	assert_true(sock >= 0);
	assert_int_equal(h_version(sock, json), 0);
	assert_int_equal(h_enable_device(sock), 0);
	return sock;
}

/* One command; 0 and the reply in *m (if m), or the -errno of an error reply. */
static int raw_call(int sock, uint16_t cmd, const void *p, size_t len, struct vfu_msg *m)
{
	static uint16_t id = 1;
	struct vfu_msg reply;
	uint16_t my = id++;

	assert_int_equal(h_send(sock, my, cmd, 0, p, len, NULL, 0), 0);
	assert_int_equal(h_recv(sock, &reply, 10000), 0);
	assert_int_equal(reply.hdr.msg_id, my);
	assert_int_equal(reply.hdr.cmd, cmd);
	assert_int_equal(reply.hdr.flags & VFU_F_TYPE_MASK, VFU_F_TYPE_REPLY);
	if (reply.hdr.flags & VFU_F_ERROR) {
		int err = reply.hdr.error_no ? -(int)reply.hdr.error_no : -EIO;
		assert_int_equal(reply.payload_len, 0);
		vfu_msg_release(&reply);
		return err;
	}
	if (m)
		*m = reply;
	else
		vfu_msg_release(&reply);
	return 0;
}

/* DEVICE_FEATURE with argsz, flags and data. */
static int raw_feature(int sock, uint32_t argsz, uint32_t flags, const void *data, size_t len,
		       struct vfu_msg *m)
{
	uint8_t buf[1024];
	struct vfu_device_feature f = { .argsz = argsz, .flags = flags };

	assert_true(sizeof(f) + len <= sizeof(buf));
	memcpy(buf, &f, sizeof(f));
	if (len)
		memcpy(buf + sizeof(f), data, len);
	return raw_call(sock, VFU_CMD_DEVICE_FEATURE, buf, sizeof(f) + len, m);
}

static int raw_set_state(int sock, uint32_t state)
{
	struct uvfio_feature_mig_state s = { .device_state = state, .data_fd = -1 };

	return raw_feature(sock, 16, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
			   &s, sizeof(s), NULL);
}

/* A request that must work: region writes are refused outside the running states, so in
 * those the check is a feature GET. */
static void check_serving(int sock)
{
	uint64_t flags;
	struct vfu_msg m;

	assert_int_equal(raw_feature(sock, 16, VFIO_DEVICE_FEATURE_GET |
					       VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0, &m), 0);
	assert_int_equal(m.payload_len, 16);
	memcpy(&flags, m.payload + 8, 8);
	assert_int_equal(flags, mig_ops.flags);
	vfu_msg_release(&m);
}

static void test_flags_probe(void **state)
{
	(void)state;
	struct uvfio_handle *h = open_client(&src);
	uint32_t flags = 0;
	uint64_t size = 0;

	assert_int_equal(uvfio_mig_get_flags(h, &flags), 0);
	assert_int_equal(flags, mig_ops.flags);
	expect_state(h, RUN);
	/* Stream bytes: the state, framed. */
	assert_int_equal(uvfio_mig_data_size(h, &size), 0);
	assert_true(size > STATE_LEN);
	/* PROBE through the client: GET is supported, SET of MIGRATION is not. */
	assert_int_equal(uvfio_device_feature_call(h, VFIO_DEVICE_FEATURE_PROBE |
						     VFIO_DEVICE_FEATURE_GET |
						     VFIO_DEVICE_FEATURE_MIGRATION,
						     NULL, 0, NULL, NULL), 0);
	assert_int_equal(uvfio_device_feature_call(h, VFIO_DEVICE_FEATURE_PROBE |
						     VFIO_DEVICE_FEATURE_SET |
						     VFIO_DEVICE_FEATURE_MIGRATION,
						     NULL, 0, NULL, NULL), -EINVAL);
	/* The client checks its arguments. */
	assert_int_equal(uvfio_mig_get_flags(h, NULL), -EINVAL);
	assert_int_equal(uvfio_mig_get_state(h, NULL), -EINVAL);
	assert_int_equal(uvfio_mig_data_size(h, NULL), -EINVAL);
	close_client(h);

	/* PROBE on the wire: the request comes back as it was. */
	int sock = raw_client(NULL);
	struct vfu_msg m;
	uint32_t probe = VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
			 VFIO_DEVICE_FEATURE_MIGRATION;
	assert_int_equal(raw_feature(sock, 8, probe, NULL, 0, &m), 0);
	assert_int_equal(m.payload_len, 8);
	struct vfu_device_feature f;
	memcpy(&f, m.payload, 8);
	assert_int_equal(f.flags, probe);
	vfu_msg_release(&m);
	assert_int_equal(h_check_alive(sock), 0);
	h_close_tracked(NULL);
}

static void test_set_state_paths(void **state)
{
	(void)state;
	struct uvfio_handle *h = open_client(&src);
	struct uvfio_mig_path p;

	assert_int_equal(uvfio_mig_set_state(h, STOP, &p), 0);
	check_path(&p, (const uint8_t[]){ RUN, R_P2P, STOP }, 3);
	expect_state(h, STOP);
	assert_int_equal(uvfio_mig_set_state(h, RUN, &p), 0);
	check_path(&p, (const uint8_t[]){ STOP, R_P2P, RUN }, 3);
	assert_int_equal(uvfio_mig_set_state(h, RUN, &p), 0);
	assert_int_equal(p.nr_arcs, 0);
	assert_int_equal(uvfio_mig_set_state(h, PC, &p), 0);
	check_path(&p, (const uint8_t[]){ RUN, PC }, 2);
	assert_int_equal(uvfio_mig_set_state(h, SC, &p), 0);
	check_path(&p, (const uint8_t[]){ PC, PC_P2P, SC }, 3);
	/* Back to PRE_COPY is no path: refused before any arc. */
	assert_int_equal(uvfio_mig_set_state(h, PC, &p), -EINVAL);
	assert_int_equal(p.nr_arcs, 0);
	expect_state(h, SC);
	assert_int_equal(uvfio_mig_set_state(h, RUN, NULL), 0);
	expect_state(h, RUN);
	/* Unsupported targets. */
	assert_int_equal(uvfio_mig_set_state(h, ERR, &p), -EINVAL);
	assert_int_equal(uvfio_mig_set_state(h, UVFIO_MIG_STATE_NR, &p), -EINVAL);
	assert_int_equal(p.nr_arcs, 0);
	/* RESUMING -> STOP with no stream fails at the commit: no arc done, still RESUMING;
	 * a reset brings the device back to RUNNING. */
	assert_int_equal(uvfio_mig_set_state(h, RES, &p), 0);
	check_path(&p, (const uint8_t[]){ RUN, R_P2P, STOP, RES }, 4);
	assert_int_equal(uvfio_mig_set_state(h, RUN, &p), -ENODATA);
	assert_int_equal(p.nr_arcs, 0);
	expect_state(h, RES);
	assert_int_equal(uvfio_reset(h), 0);
	expect_state(h, RUN);
	close_client(h);
}

/* Reads what the current saving state has now, in calls of 3 messages' worth (the client
 * splits them); a short read is the end. */
static size_t read_all(struct uvfio_handle *h, uint8_t *buf, size_t cap)
{
	size_t len = 0;

	for (;;) {
		size_t want = cap - len < 3 * XFER ? cap - len : 3 * XFER;
		assert_true(want > 0);
		ssize_t n = uvfio_mig_read(h, buf + len, want);
		assert_true(n >= 0);
		len += (size_t)n;
		if ((size_t)n < want)
			return len;
	}
}

static void test_data_round_trip(void **state)
{
	(void)state;
	struct uvfio_handle *s = open_client(&src), *d = open_client(&dst);
	uint8_t want[STATE_LEN], got[STATE_LEN], zero[STATE_LEN] = { 0 };
	static uint8_t stream[8 * XFER];
	uint64_t initial = 0, dirty = 0;
	size_t len;

	for (unsigned i = 0; i < STATE_LEN; i++)
		want[i] = (uint8_t)(0xa0 + i);
	assert_int_equal(uvfio_region_write(s, 0, 0, want, STATE_LEN), STATE_LEN);
	assert_int_equal(uvfio_region_write(d, 0, 0, zero, STATE_LEN), STATE_LEN);

	/* PRE_COPY: the initial data, then nothing more for now. */
	assert_int_equal(uvfio_mig_set_state(s, PC, NULL), 0);
	assert_int_equal(uvfio_mig_precopy_info(s, &initial, &dirty), 0);
	assert_true(initial > 0);
	len = read_all(s, stream, sizeof(stream));
	assert_true(len >= initial);
	assert_int_equal(uvfio_mig_precopy_info(s, &initial, &dirty), 0);
	assert_int_equal(initial, 0);
	assert_int_equal(uvfio_mig_read(s, stream + len, 16), 0);
	/* STOP_COPY: the rest, several messages long. */
	assert_int_equal(uvfio_mig_set_state(s, SC, NULL), 0);
	assert_int_equal(uvfio_mig_precopy_info(s, &initial, &dirty), -EINVAL);
	len += read_all(s, stream + len, sizeof(stream) - len);
	assert_true(len > BULK_LEN);
	assert_int_equal(uvfio_mig_read(s, stream + len, 16), 0);

	/* Into the destination in pieces of several messages each. */
	assert_int_equal(uvfio_mig_set_state(d, RES, NULL), 0);
	assert_int_equal(uvfio_mig_write(d, stream, len), (ssize_t)len);
	struct uvfio_mig_path p;
	assert_int_equal(uvfio_mig_set_state(d, RUN, &p), 0);
	check_path(&p, (const uint8_t[]){ RES, STOP, R_P2P, RUN }, 4);
	assert_int_equal(uvfio_region_read(d, 0, 0, got, STATE_LEN), STATE_LEN);
	assert_memory_equal(got, want, STATE_LEN);

	/* Data calls outside a session are refused by the server. */
	assert_int_equal(uvfio_mig_read(d, got, 8), -EINVAL);
	assert_int_equal(uvfio_mig_write(d, got, 8), -EINVAL);
	assert_int_equal(uvfio_mig_set_state(s, RUN, NULL), 0);
	close_client(s);
	close_client(d);
}

/* VERSION by hand; the reply's JSON is returned in json (NUL-terminated). */
static void raw_version(int sock, const char *proposal, char *json, size_t cap)
{
	uint8_t buf[512];
	struct vfu_version v = { 0, 0 };
	struct vfu_msg m;

	memcpy(buf, &v, 4);
	memcpy(buf + 4, proposal, strlen(proposal) + 1);
	assert_int_equal(raw_call(sock, VFU_CMD_VERSION, buf, 4 + strlen(proposal) + 1, &m), 0);
	assert_true(m.payload_len > 4 && m.payload_len - 4 <= cap);
	memcpy(json, m.payload + 4, m.payload_len - 4);
	assert_int_equal(json[m.payload_len - 5], '\0');
	vfu_msg_release(&m);
}

static void test_precopy_negotiation(void **state)
{
	(void)state;
	const uint32_t get = VFIO_DEVICE_FEATURE_GET | VFU_FEATURE_UVFIO_PRECOPY_INFO;
	char json[512];
	struct vfu_msg m;

	/* Not proposed: no "uvfio" key in the reply, and the feature is unknown. */
	int sock = h_track(h_connect(src.sock_path));
	assert_true(sock >= 0);
	raw_version(sock, "{\"capabilities\":{\"max_msg_fds\":8}}", json, sizeof(json));
	assert_null(strstr(json, "uvfio"));
	assert_int_equal(h_enable_device(sock), 0);
	assert_int_equal(raw_set_state(sock, PC), 0);
	assert_int_equal(raw_feature(sock, 24, get, NULL, 0, NULL), -ENOTTY);
	assert_int_equal(raw_feature(sock, 8, get | VFIO_DEVICE_FEATURE_PROBE, NULL, 0, NULL),
			 -ENOTTY);
	assert_int_equal(raw_set_state(sock, RUN), 0);
	assert_int_equal(h_check_alive(sock), 0);
	h_close_tracked(NULL);

	/* Proposed: echoed, and answered in PRE_COPY. */
	sock = h_track(h_connect(src.sock_path));
	assert_true(sock >= 0);
	raw_version(sock, "{\"capabilities\":{\"uvfio\":{\"precopy_info\":true}}}", json,
		    sizeof(json));
	assert_non_null(strstr(json, "\"uvfio\":{\"precopy_info\":true}"));
	assert_int_equal(h_enable_device(sock), 0);
	/* RUNNING: the device has no precopy sizes. */
	assert_int_equal(raw_feature(sock, 24, get, NULL, 0, NULL), -EINVAL);
	assert_int_equal(raw_set_state(sock, PC), 0);
	assert_int_equal(raw_feature(sock, 24, get, NULL, 0, &m), 0);
	assert_int_equal(m.payload_len, 24);
	struct vfu_device_feature f;
	struct vfu_precopy_info info;
	memcpy(&f, m.payload, 8);
	memcpy(&info, m.payload + 8, 16);
	assert_int_equal(f.argsz, 24);
	assert_int_equal(f.flags, get);
	assert_true(info.initial_bytes > 0);
	vfu_msg_release(&m);
	assert_int_equal(raw_feature(sock, 8, get | VFIO_DEVICE_FEATURE_PROBE, NULL, 0, NULL), 0);
	/* Bad requests: SET, too little room, data with the GET. */
	uint64_t junk = 0;
	uint32_t set = VFIO_DEVICE_FEATURE_SET | VFU_FEATURE_UVFIO_PRECOPY_INFO;
	assert_int_equal(raw_feature(sock, 24, set, &junk, 8, NULL), -EINVAL);
	assert_int_equal(raw_feature(sock, 8, set | VFIO_DEVICE_FEATURE_PROBE, NULL, 0, NULL),
			 -EINVAL);
	assert_int_equal(raw_feature(sock, 23, get, NULL, 0, NULL), -EINVAL);
	assert_int_equal(raw_feature(sock, 32, get, &junk, 8, NULL), -EINVAL);
	assert_int_equal(raw_set_state(sock, RUN), 0);
	assert_int_equal(h_check_alive(sock), 0);
	h_close_tracked(NULL);

	/* A wrongly typed extension fails the handshake. */
	sock = h_track(h_connect(src.sock_path));
	assert_true(sock >= 0);
	uint8_t buf[128];
	const char *bad = "{\"capabilities\":{\"uvfio\":{\"precopy_info\":1}}}";
	memcpy(buf, &(struct vfu_version){ 0, 0 }, 4);
	memcpy(buf + 4, bad, strlen(bad) + 1);
	assert_int_equal(raw_call(sock, VFU_CMD_VERSION, buf, 4 + strlen(bad) + 1, NULL), -EINVAL);
	h_close_tracked(NULL);
}

static void test_dma_logging(void **state)
{
	(void)state;
	struct uvfio_handle *h = open_client(&src);
	struct uvfio_ioas *ioas;
	void *ram;
	struct uvfio_dirty_range r = { RAM_IOVA, RAM_SIZE };
	uint64_t ps = PAGE, bitmap[1];
	uint64_t iova = RAM_IOVA + 3 * PAGE + 8;
	int32_t result = -1;

	assert_int_equal(uvfio_ioas_new(&ioas), 0);
	assert_int_equal(uvfio_ioas_map_alloc(ioas, RAM_IOVA, RAM_SIZE,
					      UVFIO_IOAS_READ | UVFIO_IOAS_WRITE, &ram), 0);
	assert_int_equal(uvfio_ioas_attach(ioas, h), 0);
	assert_int_equal(uvfio_dirty_start(h, &r, 1, &ps), 0);
	assert_true(ps >= PAGE && (ps & (ps - 1)) == 0);
	assert_int_equal(uvfio_dirty_start(h, &r, 1, &ps), -EBUSY);

	assert_int_equal(uvfio_region_write(h, 0, REG_DMA_IOVA, &iova, 8), 8);
	assert_int_equal(uvfio_region_read(h, 0, REG_DMA_RESULT, &result, 4), 4);
	assert_int_equal(result, 0);
	assert_memory_equal((uint8_t *)ram + 3 * PAGE + 8, dma_pattern, sizeof(dma_pattern));

	bitmap[0] = 0;
	assert_int_equal(uvfio_dirty_report(h, RAM_IOVA, RAM_SIZE, ps, bitmap), 0);
	assert_int_equal(bitmap[0], 1ull << ((3 * PAGE) / ps));
	bitmap[0] = 0;
	assert_int_equal(uvfio_dirty_report(h, RAM_IOVA, RAM_SIZE, ps, bitmap), 0);
	assert_int_equal(bitmap[0], 0);
	/* Client-side argument checks. */
	assert_int_equal(uvfio_dirty_report(h, RAM_IOVA, RAM_SIZE, 3, bitmap), -EINVAL);
	assert_int_equal(uvfio_dirty_report(h, RAM_IOVA, 0, ps, bitmap), -EINVAL);
	assert_int_equal(uvfio_dirty_report(h, RAM_IOVA + 1, RAM_SIZE, ps, bitmap), -EINVAL);
	assert_int_equal(uvfio_dirty_report(h, RAM_IOVA, RAM_SIZE, ps, NULL), -EINVAL);
	assert_int_equal(uvfio_dirty_stop(h), 0);

	/* Started again after a stop; stopped by the disconnect below. */
	uint64_t bad_ps = 3;
	assert_int_equal(uvfio_dirty_start(h, &r, 0, &ps), -EINVAL);
	assert_int_equal(uvfio_dirty_start(h, &r, 1, &bad_ps), -EINVAL);
	assert_int_equal(uvfio_dirty_start(h, NULL, 1, &ps), -EINVAL);
	assert_int_equal(uvfio_dirty_start(h, &r, UINT32_MAX, &ps), -E2BIG);
	ps = PAGE;
	assert_int_equal(uvfio_dirty_start(h, &r, 1, &ps), 0);
	uvfio_ioas_free(ioas);
	close_client(h);
}

/* MIG_DATA_READ / MIG_DATA_WRITE requests with argsz, size and extra payload bytes. */
static int raw_data(int sock, uint16_t cmd, uint32_t argsz, uint32_t size, size_t extra,
		    struct vfu_msg *m)
{
	static uint8_t buf[8 + 2 * XFER];
	struct vfu_mig_data q = { .argsz = argsz, .size = size };

	assert_true(extra <= 2 * XFER);
	memcpy(buf, &q, 8);
	memset(buf + 8, 0x5a, extra);
	return raw_call(sock, cmd, buf, 8 + extra, m);
}

static void test_bad_data_requests(void **state)
{
	(void)state;
	int sock = raw_client(NULL);
	const uint16_t rd = VFU_CMD_MIG_DATA_READ, wr = VFU_CMD_MIG_DATA_WRITE;
	uint8_t four[4] = { 0 };
	struct vfu_msg m;

	/* RUNNING: no session. */
	assert_int_equal(raw_data(sock, rd, 8 + 64, 64, 0, NULL), -EINVAL);
	assert_int_equal(raw_data(sock, wr, 8 + 64, 64, 64, NULL), -EINVAL);
	assert_int_equal(h_check_alive(sock), 0);

	/* STOP_COPY: the stream is there, but the requests are malformed. */
	assert_int_equal(raw_set_state(sock, SC), 0);
	assert_int_equal(raw_call(sock, rd, four, 4, NULL), -EINVAL);         /* short */
	assert_int_equal(raw_data(sock, rd, 8 + 64, 64, 4, NULL), -EINVAL);   /* long */
	assert_int_equal(raw_data(sock, rd, 8, 0, 0, NULL), -EINVAL);         /* size 0 */
	assert_int_equal(raw_data(sock, rd, 8 + XFER + 1, XFER + 1, 0, NULL), -EINVAL);
	assert_int_equal(raw_data(sock, rd, 8 + 63, 64, 0, NULL), -EINVAL);   /* argsz */
	check_serving(sock);
	/* A good read: argsz and size describe the data. */
	assert_int_equal(raw_data(sock, rd, 8 + 16, 16, 0, &m), 0);
	struct vfu_mig_data q;
	memcpy(&q, m.payload, 8);
	assert_int_equal(q.size, 16);
	assert_int_equal(q.argsz, 24);
	assert_int_equal(m.payload_len, 24);
	assert_memory_equal(m.payload + 8, "UVFIOMIG", 8);
	vfu_msg_release(&m);
	/* Writes in a saving state. */
	assert_int_equal(raw_data(sock, wr, 8 + 16, 16, 16, NULL), -EINVAL);

	/* RESUMING: malformed writes, then reads. */
	assert_int_equal(raw_set_state(sock, RES), 0);
	assert_int_equal(raw_call(sock, wr, four, 4, NULL), -EINVAL);         /* short */
	assert_int_equal(raw_data(sock, wr, 8 + 16, 16, 15, NULL), -EINVAL);  /* size > payload */
	assert_int_equal(raw_data(sock, wr, 8 + 16, 16, 17, NULL), -EINVAL);  /* size < payload */
	assert_int_equal(raw_data(sock, wr, 8, 0, 0, NULL), -EINVAL);         /* size 0 */
	assert_int_equal(raw_data(sock, wr, 8 + 15, 16, 16, NULL), -EINVAL);  /* argsz */
	assert_int_equal(raw_data(sock, rd, 8 + 16, 16, 0, NULL), -EINVAL);   /* read */
	check_serving(sock);
	/* Garbage is refused by the stream reader (not a uvfio stream). */
	assert_int_equal(raw_data(sock, wr, 8 + 64, 64, 64, NULL), -EINVAL);
	assert_int_equal(raw_set_state(sock, STOP), -EINVAL);
	check_serving(sock);
	assert_int_equal(raw_call(sock, VFU_CMD_DEVICE_RESET, NULL, 0, NULL), 0);
	assert_int_equal(h_enable_device(sock), 0);
	assert_int_equal(h_check_alive(sock), 0);
	h_close_tracked(NULL);
}

static void test_bad_features(void **state)
{
	(void)state;
	int sock = raw_client(NULL);
	const uint32_t get = VFIO_DEVICE_FEATURE_GET, set = VFIO_DEVICE_FEATURE_SET;
	uint8_t four[4] = { 0 };
	struct vfu_msg m;

	/* Framing of DEVICE_FEATURE itself. */
	assert_int_equal(raw_call(sock, VFU_CMD_DEVICE_FEATURE, four, 4, NULL), -EINVAL);
	assert_int_equal(raw_feature(sock, 4, get | VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0, NULL),
			 -EINVAL);
	assert_int_equal(raw_feature(sock, 64, get | 0x1234, NULL, 0, NULL), -ENOTTY);
	assert_int_equal(raw_feature(sock, 64, set | VFIO_DEVICE_FEATURE_MIGRATION, four, 4, NULL),
			 -EINVAL);
	assert_int_equal(h_check_alive(sock), 0);

	/* MIG_DEVICE_STATE: bad states and short data. */
	assert_int_equal(raw_set_state(sock, ERR), -EINVAL);
	assert_int_equal(raw_set_state(sock, 99), -EINVAL);
	assert_int_equal(raw_feature(sock, 16, set | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, four, 4,
				     NULL), -EINVAL);
	/* A good SET echoes the new state. */
	struct uvfio_feature_mig_state st = { .device_state = STOP, .data_fd = -1 };
	assert_int_equal(raw_feature(sock, 16, set | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &st,
				     sizeof(st), &m), 0);
	assert_int_equal(m.payload_len, 16);
	memcpy(&st, m.payload + 8, 8);
	assert_int_equal(st.device_state, STOP);
	assert_int_equal(st.data_fd, -1);
	vfu_msg_release(&m);
	uint32_t busy = 0x12345678;
	assert_int_equal(h_region_write(sock, 0, 64, &busy, 4), -EBUSY);
	check_serving(sock);
	assert_int_equal(raw_set_state(sock, RUN), 0);
	assert_int_equal(h_check_alive(sock), 0);

	/* DMA_LOGGING_START: no ranges, a count larger than the ranges sent, misaligned. */
	const uint32_t start = set | VFIO_DEVICE_FEATURE_DMA_LOGGING_START;
	struct {
		struct uvfio_feature_logging_control c;
		struct uvfio_dirty_range r[2];
	} __attribute__((packed)) ctl = { { PAGE, 1, 0 }, { { RAM_IOVA, RAM_SIZE } } };
	ctl.c.num_ranges = 0; /* "all mapped", and nothing is */
	assert_int_equal(raw_feature(sock, 64, start, &ctl, 16, NULL), -EINVAL);
	ctl.c.num_ranges = 2;
	assert_int_equal(raw_feature(sock, 64, start, &ctl, 32, NULL), -EINVAL);
	ctl.c.num_ranges = UINT32_MAX;
	assert_int_equal(raw_feature(sock, 64, start, &ctl, 32, NULL), -E2BIG);
	ctl.c.num_ranges = 1;
	ctl.r[0].iova = RAM_IOVA + 1;
	assert_int_equal(raw_feature(sock, 64, start, &ctl, 32, NULL), -EINVAL);
	ctl.r[0].iova = RAM_IOVA;
	ctl.c.page_size = 3;
	assert_int_equal(raw_feature(sock, 64, start, &ctl, 32, NULL), -EINVAL);
	assert_int_equal(h_check_alive(sock), 0);

	/* A good start echoes the control with the page size in use. */
	ctl.c.page_size = PAGE;
	assert_int_equal(raw_feature(sock, 64, start, &ctl, 32, &m), 0);
	assert_int_equal(m.payload_len, 8 + 32);
	struct uvfio_feature_logging_control echo;
	memcpy(&echo, m.payload + 8, sizeof(echo));
	assert_int_equal(echo.num_ranges, 1);
	assert_true(echo.page_size >= PAGE);
	vfu_msg_release(&m);

	/* DMA_LOGGING_REPORT: no room for the bitmap, short request data. */
	const uint32_t report = get | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT;
	struct uvfio_feature_logging_report q = { RAM_IOVA, RAM_SIZE, echo.page_size };
	assert_int_equal(raw_feature(sock, 8 + 24, report, &q, sizeof(q), NULL), -ENOSPC);
	assert_int_equal(raw_feature(sock, 8 + 24 + 8, report, &q, 16, NULL), -EINVAL);
	assert_int_equal(raw_feature(sock, 8 + 24 + 8, report, &q, sizeof(q), &m), 0);
	assert_int_equal(m.payload_len, 8 + 24 + 8);
	vfu_msg_release(&m);
	assert_int_equal(raw_feature(sock, 8, set | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0,
				     NULL), 0);
	assert_int_equal(h_check_alive(sock), 0);
	h_close_tracked(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_flags_probe, close_all),
		cmocka_unit_test_teardown(test_set_state_paths, close_all),
		cmocka_unit_test_teardown(test_data_round_trip, close_all),
		cmocka_unit_test_teardown(test_precopy_negotiation, close_all),
		cmocka_unit_test_teardown(test_dma_logging, close_all),
		cmocka_unit_test_teardown(test_bad_data_requests, close_all),
		cmocka_unit_test_teardown(test_bad_features, close_all),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
