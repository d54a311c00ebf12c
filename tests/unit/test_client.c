/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user client against a scripted fake server (client_fake.h): the VERSION handshake,
 * reply validation (id, command, sizes, argsz, fds, errors, timeouts, a server that closes
 * mid-reply), region info capability chains, split and posted region access, SET_IRQS, URLs.
 * Each case checks what the client API returns and that nothing leaks.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <sys/eventfd.h>
#include <sys/mman.h>

#include <cmocka.h>
#include <linux/vfio.h>

#include "client_fake.h"

static void test_version_bad_major(void **state)
{
	struct fake f = { .major = 1 , .version_json = GOOD_JSON };

	expect_open_fails(&f, -EPROTO);
}

static void test_version_minor_too_high(void **state)
{
	struct fake f = { .minor = 3, .version_json = GOOD_JSON };

	expect_open_fails(&f, -EPROTO);
}

static void test_version_bad_json(void **state)
{
	struct fake f = { .version_json = "{\"capabilities\": {" };

	expect_open_fails(&f, -EPROTO);
}

static void test_version_json_not_object(void **state)
{
	struct fake f = { .version_json = "[1,2]" };

	expect_open_fails(&f, -EPROTO);
}

static void test_version_json_no_nul(void **state)
{
	static const char json[] = "{\"capabilities\":{}}";
	struct fake f = { .version_json = json, .version_len = sizeof(json) - 1 };

	expect_open_fails(&f, -EPROTO);
}

static void test_version_wrong_types(void **state)
{
	static const char *const bad[] = {
		"{\"capabilities\":{\"max_msg_fds\":\"8\"}}",
		"{\"capabilities\":{\"max_msg_fds\":17}}",
		"{\"capabilities\":{\"max_msg_fds\":0}}",
		"{\"capabilities\":{\"max_data_xfer_size\":-1}}",
		"{\"capabilities\":{\"max_data_xfer_size\":1073741824}}",
		"{\"capabilities\":{\"max_dma_maps\":65536}}",
		"{\"capabilities\":{\"pgsizes\":1000}}",
		"{\"capabilities\":{\"pgsizes\":6144}}",
		"{\"capabilities\":{\"write_multiple\":1}}",
		"{\"capabilities\":{\"twin_socket\":true}}",
		"{\"capabilities\":{\"twin_socket\":{\"supported\":\"yes\"}}}",
		"{\"capabilities\":[]}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct fake f = { .version_json = bad[i] };

		expect_open_fails(&f, -EPROTO);
	}
}

static void test_version_twin_bad_fd_index(void **state)
{
	int sp[2], sp2[2];
	struct fake f = {
		.version_json = "{\"capabilities\":{\"twin_socket\":{\"supported\":true,\"fd_index\":1}}}",
	};

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	f.version_fds[0] = sp[0];
	f.version_nfds = 1;
	expect_open_fails(&f, -EPROTO);
	close(sp[1]);

	/* fd_index 0 but no fd at all. */
	struct fake g = {
		.version_json = "{\"capabilities\":{\"twin_socket\":{\"supported\":true,\"fd_index\":0}}}",
	};
	expect_open_fails(&g, -EPROTO);

	/* Supported without fd_index. */
	struct fake k = { .version_json = "{\"capabilities\":{\"twin_socket\":{\"supported\":true}}}" };
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp2), 0);
	k.version_fds[0] = sp2[0];
	k.version_nfds = 1;
	expect_open_fails(&k, -EPROTO);
	close(sp2[1]);
}

static void test_version_twin_not_a_socket(void **state)
{
	int efd = eventfd(0, EFD_CLOEXEC);
	struct fake f = {
		.version_json = "{\"capabilities\":{\"twin_socket\":{\"supported\":true,\"fd_index\":0}}}",
		.version_fds = { efd },
		.version_nfds = 1,
	};

	expect_open_fails(&f, -EPROTO);
}

static void test_version_fds_without_twin(void **state)
{
	int efd = eventfd(0, EFD_CLOEXEC);
	struct fake f = { .version_json = GOOD_JSON, .version_fds = { efd }, .version_nfds = 1 };

	expect_open_fails(&f, -EPROTO);
}

/* No JSON at all: every default applies, the connection works. */
static void script_device_info(struct fake *f, int fd)
{
	struct vfu_msg m;
	struct vfu_device_info rep = { .argsz = 16, .num_regions = 9, .num_irqs = 5,
				       .flags = VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET };

	if (srv_recv(fd, &m) < 0)
		return;
	SRV_CHECK(f, m.hdr.cmd == VFU_CMD_DEVICE_GET_INFO && m.payload_len == 16);
	srv_reply(fd, &m, &rep, sizeof(rep));
	vfu_msg_release(&m);
}

static void test_version_no_json_defaults(void **state)
{
	struct fake f = { .no_json = true };
	struct uvfio_handle *h = NULL;
	struct uvfio_device_info info;

	fake_start(&f, script_device_info);
	assert_int_equal(open_fake(&f, &h), 0);
	assert_string_equal(uvfio_backend_name(h), "vfio-user");
	assert_int_equal(uvfio_get_device_info(h, &info), 0);
	assert_int_equal(info.num_regions, 9);
	assert_int_equal(info.num_irqs, 5);
	assert_int_equal(info.flags, VFIO_DEVICE_FLAGS_PCI | VFIO_DEVICE_FLAGS_RESET);
	uvfio_close(h);
	fake_join(&f);
}

/* Reply variants to GET_INFO, chosen by f->arg. */
enum {
	R_WRONG_ID, R_WRONG_CMD, R_TRUNCATED, R_NOT_REPLY, R_ERR_EBUSY, R_ERR_ZERO, R_ERR_HUGE,
	R_FDS, R_TOO_MANY_REGIONS,
};

static int pipefd[2] = { -1, -1 };

static void script_bad_info(struct fake *f, int fd)
{
	struct vfu_msg m;
	struct vfu_device_info rep = { .argsz = 16, .num_regions = 9, .num_irqs = 5 };
	int fds[2];

	if (srv_recv(fd, &m) < 0)
		return;
	switch (f->arg) {
	case R_WRONG_ID:
		srv_send(fd, m.hdr.msg_id + 1, m.hdr.cmd, VFU_F_TYPE_REPLY, 0, &rep, 16, NULL, 0);
		break;
	case R_WRONG_CMD:
		srv_send(fd, m.hdr.msg_id, VFU_CMD_DEVICE_GET_IRQ_INFO, VFU_F_TYPE_REPLY, 0, &rep, 16,
			 NULL, 0);
		break;
	case R_TRUNCATED:
		srv_reply(fd, &m, &rep, 8);
		break;
	case R_NOT_REPLY:
		srv_send(fd, m.hdr.msg_id, m.hdr.cmd, VFU_F_TYPE_COMMAND, 0, &rep, 16, NULL, 0);
		break;
	case R_ERR_EBUSY:
		srv_send(fd, m.hdr.msg_id, m.hdr.cmd, VFU_F_TYPE_REPLY | VFU_F_ERROR, EBUSY, NULL, 0,
			 NULL, 0);
		break;
	case R_ERR_ZERO:
		srv_send(fd, m.hdr.msg_id, m.hdr.cmd, VFU_F_TYPE_REPLY | VFU_F_ERROR, 0, NULL, 0,
			 NULL, 0);
		break;
	case R_ERR_HUGE:
		srv_send(fd, m.hdr.msg_id, m.hdr.cmd, VFU_F_TYPE_REPLY | VFU_F_ERROR, 0x80000000u,
			 NULL, 0, NULL, 0);
		break;
	case R_FDS:
		fds[0] = pipefd[1];
		fds[1] = pipefd[1];
		srv_send(fd, m.hdr.msg_id, m.hdr.cmd, VFU_F_TYPE_REPLY, 0, &rep, 16, fds, 2);
		close(pipefd[1]);
		pipefd[1] = -1;
		break;
	case R_TOO_MANY_REGIONS:
		rep.num_regions = 1000;
		srv_reply(fd, &m, &rep, 16);
		break;
	}
	vfu_msg_release(&m);
}

static int bad_info_case(uint32_t which)
{
	struct fake f = { .arg = which };
	struct uvfio_handle *h = NULL;
	struct uvfio_device_info info;
	int ret;

	fake_start(&f, script_bad_info);
	assert_int_equal(open_fake(&f, &h), 0);
	ret = uvfio_get_device_info(h, &info);
	uvfio_close(h);
	fake_join(&f);
	return ret;
}

static void test_reply_wrong_msg_id(void **state)
{
	assert_int_equal(bad_info_case(R_WRONG_ID), -EPROTO);
}

static void test_reply_wrong_cmd(void **state)
{
	assert_int_equal(bad_info_case(R_WRONG_CMD), -EPROTO);
}

static void test_reply_truncated(void **state)
{
	assert_int_equal(bad_info_case(R_TRUNCATED), -EPROTO);
}

static void test_reply_not_a_reply(void **state)
{
	assert_int_equal(bad_info_case(R_NOT_REPLY), -EPROTO);
}

static void test_reply_error_errno(void **state)
{
	assert_int_equal(bad_info_case(R_ERR_EBUSY), -EBUSY);
	assert_int_equal(bad_info_case(R_ERR_ZERO), -EIO);
	assert_int_equal(bad_info_case(R_ERR_HUGE), -EIO);
}

static void test_reply_absurd_counts(void **state)
{
	assert_int_equal(bad_info_case(R_TOO_MANY_REGIONS), -EPROTO);
}

static void test_reply_extra_fds_closed(void **state)
{
	struct pollfd p;
	int before;

	assert_int_equal(pipe2(pipefd, O_CLOEXEC), 0);
	before = count_fds();
	assert_int_equal(bad_info_case(R_FDS), -EPROTO);
	/* The server closed its end (-1 fd); both client copies must be closed too. */
	assert_int_equal(count_fds(), before - 1);
	p = (struct pollfd){ .fd = pipefd[0], .events = POLLIN };
	assert_int_equal(poll(&p, 1, 0), 1);
	assert_true(p.revents & POLLHUP);
	close(pipefd[0]);
}

/* After a reply out of step the connection is refused, not resynchronised by guessing. */
static void script_wrong_id_then_info(struct fake *f, int fd)
{
	struct vfu_msg m;
	struct vfu_device_info rep = { .argsz = 16, .num_regions = 9 };

	if (srv_recv(fd, &m) < 0)
		return;
	srv_send(fd, m.hdr.msg_id + 7, m.hdr.cmd, VFU_F_TYPE_REPLY, 0, &rep, 16, NULL, 0);
	vfu_msg_release(&m);
}

static void test_broken_after_desync(void **state)
{
	struct fake f = { 0 };
	struct uvfio_handle *h = NULL;
	struct uvfio_device_info info;

	fake_start(&f, script_wrong_id_then_info);
	assert_int_equal(open_fake(&f, &h), 0);
	assert_int_equal(uvfio_get_device_info(h, &info), -EPROTO);
	assert_int_equal(uvfio_get_device_info(h, &info), -ENOTCONN);
	uvfio_close(h);
	fake_join(&f);
}

static void script_silent(struct fake *f, int fd)
{
	struct vfu_msg m;

	/* Read the request and never answer; fake_main then waits for the client to leave. */
	if (srv_recv(fd, &m) == 0)
		f->count++;
	vfu_msg_release(&m);
}

static void test_reply_timeout(void **state)
{
	struct fake f = { 0 };
	struct uvfio_handle *h = NULL;
	struct uvfio_device_info info;

	fake_start(&f, script_silent);
	assert_int_equal(open_fake(&f, &h), 0);
	assert_int_equal(uvfio_set_msg_timeout(h, 100), 0);
	assert_int_equal(uvfio_set_msg_timeout(h, -2), -EINVAL);
	assert_int_equal(uvfio_get_device_info(h, &info), -ETIMEDOUT);
	uvfio_close(h);
	fake_join(&f);
	assert_int_equal(f.count, 1);
}

static void script_close_mid_reply(struct fake *f, int fd)
{
	struct vfu_msg m;
	uint8_t raw[24] = { 0 };
	struct vfu_hdr hdr;

	if (srv_recv(fd, &m) < 0)
		return;
	hdr = (struct vfu_hdr){ .msg_id = m.hdr.msg_id, .cmd = m.hdr.cmd, .msg_size = 32,
				.flags = VFU_F_TYPE_REPLY };
	memcpy(raw, &hdr, sizeof(hdr));
	SRV_CHECK(f, write(fd, raw, sizeof(raw)) == (ssize_t)sizeof(raw));
	vfu_msg_release(&m);
	shutdown(fd, SHUT_RDWR);
}

static void test_server_closes_mid_reply(void **state)
{
	struct fake f = { 0 };
	struct uvfio_handle *h = NULL;
	struct uvfio_device_info info;

	fake_start(&f, script_close_mid_reply);
	assert_int_equal(open_fake(&f, &h), 0);
	assert_int_equal(uvfio_get_device_info(h, &info), -EPROTO);
	uvfio_close(h);
	fake_join(&f);
}

/* Region info: f->arg picks the caps layout. */
enum { C_GOOD, C_LOOP, C_LOW_OFFSET, C_PAST_END, C_HUGE_ARGSZ, C_RETRY, C_SPARSE_OUTSIDE,
       C_MORE_THAN_ASKED };

static size_t build_region_info(uint32_t which, uint8_t *buf, uint32_t index)
{
	struct vfu_region_info ri = { .argsz = 32, .flags = VFIO_REGION_INFO_FLAG_READ |
							     VFIO_REGION_INFO_FLAG_CAPS,
				      .index = index, .cap_offset = 32, .size = 0x1000 };
	struct vfu_cap_sparse_mmap sp = { .hdr = { .id = VFIO_REGION_INFO_CAP_SPARSE_MMAP,
						   .version = 1, .next = 64 },
					  .nr_areas = 1 };
	struct vfu_sparse_mmap_area area = { .offset = 0x800, .size = 0x800 };
	struct vfu_cap_type ty = { .hdr = { .id = VFIO_REGION_INFO_CAP_TYPE, .version = 1 },
				   .type = 0x8086, .subtype = 3 };
	size_t len = 80;

	if (which == C_SPARSE_OUTSIDE)
		area.size = 0x1000;
	if (which == C_LOOP)
		ty.hdr.next = 32;
	if (which == C_LOW_OFFSET)
		ri.cap_offset = 8;
	if (which == C_PAST_END)
		ty.hdr.next = 76;
	ri.argsz = (uint32_t)len;
	if (which == C_HUGE_ARGSZ)
		ri.argsz = 0x7fffffff;
	memcpy(buf, &ri, sizeof(ri));
	memcpy(buf + 32, &sp, sizeof(sp));
	memcpy(buf + 48, &area, sizeof(area));
	memcpy(buf + 64, &ty, sizeof(ty));
	return len;
}

static void script_region_info(struct fake *f, int fd)
{
	uint8_t buf[4096];
	struct vfu_msg m;
	struct vfu_region_info req;

	for (int round = 0; round < 2; round++) {
		size_t len;

		if (srv_recv(fd, &m) < 0)
			return;
		SRV_CHECK(f, m.hdr.cmd == VFU_CMD_DEVICE_GET_REGION_INFO && m.payload_len == 32);
		memcpy(&req, m.payload, sizeof(req));
		len = build_region_info(f->arg, buf, req.index);
		if (f->arg == C_RETRY && round == 0) {
			/* Claim 600 bytes are needed and send only 32. */
			struct vfu_region_info ri = { .argsz = 600, .index = req.index };
			srv_reply(fd, &m, &ri, sizeof(ri));
			vfu_msg_release(&m);
			continue;
		}
		if (f->arg == C_RETRY)
			SRV_CHECK(f, req.argsz == 600);
		if (f->arg == C_HUGE_ARGSZ)
			len = 32;
		if (f->arg == C_MORE_THAN_ASKED)
			len = req.argsz + 8;
		f->count++;
		srv_reply(fd, &m, buf, len);
		vfu_msg_release(&m);
		return;
	}
}

static int region_case(uint32_t which, struct uvfio_region_info *info)
{
	struct fake f = { .arg = which };
	struct uvfio_handle *h = NULL;
	int ret;

	fake_start(&f, script_region_info);
	assert_int_equal(open_fake(&f, &h), 0);
	ret = uvfio_get_region_info(h, 2, info);
	uvfio_close(h);
	fake_join(&f);
	return ret;
}

static void test_region_info_caps(void **state)
{
	struct uvfio_region_info info;

	assert_int_equal(region_case(C_GOOD, &info), 0);
	assert_int_equal(info.index, 2);
	assert_int_equal(info.size, 0x1000);
	assert_int_equal(info.nr_sparse, 1);
	assert_int_equal(info.sparse[0].offset, 0x800);
	assert_int_equal(info.sparse[0].size, 0x800);
	assert_true(info.has_type);
	assert_int_equal(info.type, 0x8086);
	assert_int_equal(info.subtype, 3);
}

static void test_region_info_bad_caps(void **state)
{
	struct uvfio_region_info info;

	assert_int_equal(region_case(C_LOOP, &info), -EPROTO);
	assert_int_equal(region_case(C_LOW_OFFSET, &info), -EPROTO);
	assert_int_equal(region_case(C_PAST_END, &info), -EPROTO);
	assert_int_equal(region_case(C_SPARSE_OUTSIDE, &info), -EPROTO);
	assert_int_equal(region_case(C_MORE_THAN_ASKED, &info), -EPROTO);
}

static void test_region_info_argsz(void **state)
{
	struct uvfio_region_info info;

	assert_int_equal(region_case(C_HUGE_ARGSZ, &info), -E2BIG);
	assert_int_equal(region_case(C_RETRY, &info), 0);
	assert_int_equal(info.nr_sparse, 1);
}

/* Region access split into max_data_xfer_size pieces; data = offset-derived pattern. */
static void script_split(struct fake *f, int fd)
{
	for (;;) {
		struct vfu_msg m;
		struct vfu_region_access acc;
		uint8_t buf[64];

		if (srv_recv(fd, &m) < 0)
			return;
		if (m.hdr.cmd == VFU_CMD_DEVICE_GET_INFO) { /* end marker */
			struct vfu_device_info rep = { .argsz = 16 };
			srv_reply(fd, &m, &rep, sizeof(rep));
			vfu_msg_release(&m);
			return;
		}
		memcpy(&acc, m.payload, sizeof(acc));
		SRV_CHECK(f, acc.count <= 16 && acc.region == 1);
		f->count++;
		if (m.hdr.cmd == VFU_CMD_REGION_WRITE) {
			SRV_CHECK(f, m.payload_len == sizeof(acc) + acc.count);
			SRV_CHECK(f, !!(m.hdr.flags & VFU_F_NO_REPLY) == (f->arg == 1));
			for (uint32_t i = 0; i < acc.count && i < 16; i++)
				SRV_CHECK(f, m.payload[16 + i] == (uint8_t)(acc.offset + i));
			if (!(m.hdr.flags & VFU_F_NO_REPLY))
				srv_reply(fd, &m, &acc, sizeof(acc));
		} else {
			memcpy(buf, &acc, sizeof(acc));
			for (uint32_t i = 0; i < acc.count && i < 16; i++)
				buf[16 + i] = (uint8_t)(acc.offset + i);
			srv_reply(fd, &m, buf, sizeof(acc) + acc.count);
		}
		vfu_msg_release(&m);
	}
}

static void test_region_rw_split(void **state)
{
	struct fake f = { .version_json = "{\"capabilities\":{\"max_data_xfer_size\":16}}" };
	struct uvfio_handle *h = NULL;
	struct uvfio_device_info info;
	uint8_t buf[40];

	fake_start(&f, script_split);
	assert_int_equal(open_fake(&f, &h), 0);
	assert_int_equal(uvfio_region_read(h, 1, 0x100, buf, sizeof(buf)), 40);
	for (size_t i = 0; i < sizeof(buf); i++)
		assert_int_equal(buf[i], (uint8_t)(0x100 + i));
	assert_int_equal(uvfio_region_write(h, 1, 0x100, buf, sizeof(buf)), 40);
	assert_int_equal(uvfio_get_device_info(h, &info), 0);
	uvfio_close(h);
	fake_join(&f);
	assert_int_equal(f.count, 6);
}

static void test_region_write_posted(void **state)
{
	struct fake f = { .version_json = "{\"capabilities\":{\"max_data_xfer_size\":16}}", .arg = 1 };
	struct uvfio_handle *h = NULL;
	struct uvfio_device_info info;
	uint8_t buf[20];

	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(0x40 + i);
	fake_start(&f, script_split);
	assert_int_equal(open_fake(&f, &h), 0);
	assert_int_equal(uvfio_region_write_posted(h, 1, 0x40, buf, sizeof(buf)), 0);
	/* A request with a reply after the posted ones: the server has seen them all. */
	assert_int_equal(uvfio_get_device_info(h, &info), 0);
	uvfio_close(h);
	fake_join(&f);
	assert_int_equal(f.count, 2);
}

/* SET_IRQS: eventfds split by the server's max_msg_fds (2 here). */
static void script_irqs(struct fake *f, int fd)
{
	for (;;) {
		struct vfu_msg m;
		struct vfu_irq_set s;

		if (srv_recv(fd, &m) < 0)
			return;
		memcpy(&s, m.payload, sizeof(s));
		if (s.flags == (VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER)) {
			SRV_CHECK(f, s.start == 2 * (uint32_t)f->count && m.nfds == s.count);
			SRV_CHECK(f, m.nfds <= 2 && s.index == VFIO_PCI_MSIX_IRQ_INDEX);
			f->count++;
		} else if (s.flags == (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK)) {
			SRV_CHECK(f, s.start == 3 && s.count == 1 && m.nfds == 0);
			f->arg |= 1;
		} else if (s.flags == (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK)) {
			SRV_CHECK(f, s.start == 3 && s.count == 1);
			f->arg |= 2;
		} else if (s.flags == (VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_TRIGGER)) {
			SRV_CHECK(f, s.start == 0 && s.count == 0 && s.argsz == 20);
			f->arg |= 4;
		} else {
			f->bad++;
		}
		srv_reply(fd, &m, NULL, 0);
		vfu_msg_release(&m);
		if (f->arg == 7)
			return;
	}
}

static void test_irqs(void **state)
{
	struct fake f = { .version_json = "{\"capabilities\":{\"max_msg_fds\":2}}" };
	struct uvfio_handle *h = NULL;
	int efds[5];

	for (int i = 0; i < 5; i++)
		efds[i] = eventfd(0, EFD_CLOEXEC);
	fake_start(&f, script_irqs);
	assert_int_equal(open_fake(&f, &h), 0);
	assert_int_equal(uvfio_irq_enable(h, VFIO_PCI_MSIX_IRQ_INDEX, 0, 5, efds), 0);
	assert_int_equal(uvfio_irq_mask(h, VFIO_PCI_MSIX_IRQ_INDEX, 3), 0);
	assert_int_equal(uvfio_irq_unmask(h, VFIO_PCI_MSIX_IRQ_INDEX, 3), 0);
	assert_int_equal(uvfio_irq_disable(h, VFIO_PCI_MSIX_IRQ_INDEX), 0);
	/* Bad flag combinations never reach the wire. */
	assert_int_equal(uvfio_set_irqs(h, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_DATA_BOOL |
					       VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, 0, NULL), -EINVAL);
	assert_int_equal(uvfio_set_irqs(h, VFIO_IRQ_SET_DATA_NONE, 0, 0, 0, NULL), -EINVAL);
	assert_int_equal(uvfio_set_irqs(h, VFIO_IRQ_SET_DATA_BOOL | VFIO_IRQ_SET_ACTION_TRIGGER,
					0, 0, 2, NULL), -EINVAL);
	assert_int_equal(uvfio_set_irqs(h, 1u << 9 | VFIO_IRQ_SET_DATA_NONE |
					       VFIO_IRQ_SET_ACTION_TRIGGER, 0, 0, 0, NULL), -EINVAL);
	assert_int_equal(uvfio_irq_enable(h, 0, 0, 0, efds), -EINVAL);
	uvfio_close(h);
	fake_join(&f);
	assert_int_equal(f.count, 3);
	assert_int_equal(f.arg, 7);
	for (int i = 0; i < 5; i++)
		close(efds[i]);
}

/* DMA: the server maps what the client shares, then reads and writes it with DMA messages. */
static void test_url_parsing(void **state)
{
	struct uvfio_handle *h = NULL;

	assert_int_equal(uvfio_open("foo:bar", &h), -EINVAL);
	assert_int_equal(uvfio_open("vfio-user:", &h), -EINVAL);
	assert_int_equal(uvfio_open("vfio:", &h), -EINVAL);
	assert_int_equal(uvfio_open("/nonexistent/uvfio.sock", &h), -ENOENT);
	assert_int_equal(uvfio_open("vfio-user:/nonexistent/uvfio.sock", &h), -ENOENT);
	assert_int_equal(uvfio_open(NULL, &h), -EINVAL);
	assert_int_equal(uvfio_open("/x", NULL), -EINVAL);
	assert_null(h);
}

static void test_bare_path_url(void **state)
{
	struct fake f = { 0 };
	struct uvfio_handle *h = NULL;
	struct uvfio_device_info info;

	fake_start(&f, script_device_info);
	assert_int_equal(uvfio_open(f.path, &h), 0);
	assert_int_equal(uvfio_get_device_info(h, &info), 0);
	uvfio_close(h);
	fake_join(&f);
}

static void test_front_bad_args(void **state)
{
	struct fake f = { 0 };
	struct uvfio_handle *h = NULL;
	struct uvfio_device_info di;
	uint8_t buf[8];

	fake_start(&f, script_silent);
	assert_int_equal(open_fake(&f, &h), 0);
	/* None of these reach the wire (script_silent would count a request). */
	assert_int_equal(uvfio_get_device_info(NULL, &di), -EINVAL);
	assert_int_equal(uvfio_get_device_info(h, NULL), -EINVAL);
	assert_int_equal(uvfio_get_region_info(h, 0, NULL), -EINVAL);
	assert_int_equal(uvfio_get_irq_info(h, 0, NULL), -EINVAL);
	assert_int_equal(uvfio_region_read(h, 0, 0, NULL, 4), -EINVAL);
	assert_int_equal(uvfio_region_read(h, 0, UINT64_MAX - 2, buf, 4), -EINVAL);
	assert_int_equal(uvfio_region_write(NULL, 0, 0, buf, 4), -EINVAL);
	assert_int_equal(uvfio_region_write_posted(h, 0, 0, NULL, 4), -EINVAL);
	assert_int_equal(uvfio_config_read(h, 0, buf, 0), -EINVAL);
	assert_int_equal(uvfio_config_write(h, 0, NULL, 4), -EINVAL);
	assert_int_equal(uvfio_region_munmap(h, NULL, 4096), -EINVAL);
	assert_int_equal(uvfio_set_msg_timeout(NULL, 10), -EINVAL);
	assert_int_equal(uvfio_reset(NULL), -EINVAL);
	assert_int_equal(uvfio_ioas_attach(NULL, h), -EINVAL);
	assert_null(uvfio_backend_name(NULL));
	uvfio_close(NULL);
	uvfio_close(h);
	fake_join(&f);
	assert_int_equal(f.count, 0);
}

/* One handle, several threads: each request gets its own reply (the handle serialises). */
struct reader {
	struct uvfio_handle *h;
	uint64_t base;
	int bad;
};

static void *reader_main(void *arg)
{
	struct reader *r = arg;

	for (int i = 0; i < 50; i++) {
		uint8_t buf[8];
		uint64_t off = r->base + (uint64_t)i * 8;

		if (uvfio_region_read(r->h, 1, off, buf, sizeof(buf)) != (ssize_t)sizeof(buf)) {
			r->bad++;
			continue;
		}
		for (size_t k = 0; k < sizeof(buf); k++)
			r->bad += buf[k] != (uint8_t)(off + k);
	}
	return NULL;
}

static void test_threads_share_handle(void **state)
{
	struct fake f = { .version_json = "{\"capabilities\":{\"max_data_xfer_size\":16}}" };
	struct uvfio_handle *h = NULL;
	struct uvfio_device_info info;
	struct reader r[4];
	pthread_t t[4];

	fake_start(&f, script_split);
	assert_int_equal(open_fake(&f, &h), 0);
	for (int i = 0; i < 4; i++) {
		r[i] = (struct reader){ .h = h, .base = (uint64_t)i * 0x1000 + (uint64_t)i };
		assert_int_equal(pthread_create(&t[i], NULL, reader_main, &r[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(r[i].bad, 0);
	}
	assert_int_equal(uvfio_get_device_info(h, &info), 0);
	uvfio_close(h);
	fake_join(&f);
	assert_int_equal(f.count, 200);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_version_bad_major),
		cmocka_unit_test(test_version_minor_too_high),
		cmocka_unit_test(test_version_bad_json),
		cmocka_unit_test(test_version_json_not_object),
		cmocka_unit_test(test_version_json_no_nul),
		cmocka_unit_test(test_version_wrong_types),
		cmocka_unit_test(test_version_twin_bad_fd_index),
		cmocka_unit_test(test_version_twin_not_a_socket),
		cmocka_unit_test(test_version_fds_without_twin),
		cmocka_unit_test(test_version_no_json_defaults),
		cmocka_unit_test(test_reply_wrong_msg_id),
		cmocka_unit_test(test_reply_wrong_cmd),
		cmocka_unit_test(test_reply_truncated),
		cmocka_unit_test(test_reply_not_a_reply),
		cmocka_unit_test(test_reply_error_errno),
		cmocka_unit_test(test_reply_absurd_counts),
		cmocka_unit_test(test_reply_extra_fds_closed),
		cmocka_unit_test(test_broken_after_desync),
		cmocka_unit_test(test_reply_timeout),
		cmocka_unit_test(test_server_closes_mid_reply),
		cmocka_unit_test(test_region_info_caps),
		cmocka_unit_test(test_region_info_bad_caps),
		cmocka_unit_test(test_region_info_argsz),
		cmocka_unit_test(test_region_rw_split),
		cmocka_unit_test(test_region_write_posted),
		cmocka_unit_test(test_threads_share_handle),
		cmocka_unit_test(test_irqs),
		cmocka_unit_test(test_url_parsing),
		cmocka_unit_test(test_front_bad_args),
		cmocka_unit_test(test_bare_path_url),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
