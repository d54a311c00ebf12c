/* SPDX-License-Identifier: MIT */
/*
 * uvfio_region_ioeventfds() over vfio-user (DEVICE_GET_REGION_IO_FDS) against a scripted fake
 * server: spec (40-byte) and libvfio-user (48-byte) entry strides, shared fds, the argsz retry,
 * entries of other types skipped, and malformed replies (entry outside the region, fd index out
 * of range, stride that does not divide) refused without leaking fds.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/eventfd.h>

#include <cmocka.h>
#include <linux/vfio.h>

#include "client_fake.h"
#include "vfio-user/wire.h"

#define REGION_SIZE 0x4000u

enum { C_SPEC, C_LIBVFIO_USER, C_RETRY, C_OUTSIDE, C_BAD_FD_INDEX, C_BAD_STRIDE, C_NONE,
       C_OTHER_TYPE };

static void answer_region_info(struct fake *f, int fd)
{
	struct vfu_msg m;
	struct vfu_region_info ri = { .argsz = sizeof(ri), .flags = VFIO_REGION_INFO_FLAG_READ |
								    VFIO_REGION_INFO_FLAG_WRITE,
				      .size = REGION_SIZE };

	if (srv_recv(fd, &m) < 0)
		return;
	SRV_CHECK(f, m.hdr.cmd == VFU_CMD_DEVICE_GET_REGION_INFO);
	memcpy(&ri.index, m.payload + 8, 4);
	srv_reply(fd, &m, &ri, sizeof(ri));
	vfu_msg_release(&m);
}

/* Writes entry i (stride bytes) for doorbell i: offset 0x1000 + 4i, datamatch i + 1. */
static void put_entry(uint8_t *p, size_t stride, uint32_t i, uint32_t fd_index, uint32_t type)
{
	uint64_t off = 0x1000 + 4 * i, size = 4, dm = i + 1;
	uint32_t flags = 1; /* KVM_IOEVENTFD_FLAG_DATAMATCH */

	memset(p, 0, stride);
	memcpy(p, &off, 8);
	memcpy(p + 8, &size, 8);
	memcpy(p + 16, &fd_index, 4);
	memcpy(p + 20, &type, 4);
	memcpy(p + 24, &flags, 4);
	memcpy(p + stride - 8, &dm, 8);
}

static void script_io_fds(struct fake *f, int fd)
{
	uint8_t buf[512];
	struct vfu_region_io_fds_request head;
	int efds[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
	size_t stride = f->arg == C_LIBVFIO_USER ? 48 : 40;
	uint32_t count = f->arg == C_NONE ? 0 : 3;
	struct vfu_msg m;

	answer_region_info(f, fd);
	for (int round = 0; round < 2; round++) {
		if (srv_recv(fd, &m) < 0)
			goto out;
		SRV_CHECK(f, m.hdr.cmd == VFU_CMD_DEVICE_GET_REGION_IO_FDS && m.payload_len == 16);
		memcpy(&head, m.payload, sizeof(head));
		SRV_CHECK(f, head.index == 0 && head.flags == 0 && head.count == 0);
		if (f->arg == C_RETRY && round == 1)
			SRV_CHECK(f, head.argsz == 8192);
		head.count = count;
		head.argsz = (uint32_t)(16 + stride * count);
		if (f->arg == C_BAD_STRIDE)
			head.argsz += 4;
		if (f->arg == C_RETRY && round == 0) {
			/* Claim more room is needed than the client offered. */
			head.argsz = 8192;
			srv_reply(fd, &m, &head, sizeof(head));
			vfu_msg_release(&m);
			continue;
		}
		memcpy(buf, &head, sizeof(head));
		for (uint32_t i = 0; i < count; i++)
			put_entry(buf + 16 + i * stride, stride, i, i == 2 ? 1 : 0,
				  f->arg == C_OTHER_TYPE && i == 1 ? 1 : 0);
		if (f->arg == C_OUTSIDE) {
			uint64_t off = REGION_SIZE - 2;
			memcpy(buf + 16 + stride, &off, 8);
		}
		if (f->arg == C_BAD_FD_INDEX) {
			uint32_t idx = 2;
			memcpy(buf + 16 + 16, &idx, 4);
		}
		f->count++;
		srv_send(fd, m.hdr.msg_id, m.hdr.cmd, VFU_F_TYPE_REPLY, 0, buf, head.argsz,
			 efds, count ? 2 : 0);
		vfu_msg_release(&m);
		break;
	}
out:
	close(efds[0]);
	close(efds[1]);
}

static int io_fds_case(uint32_t which, struct uvfio_ioeventfd *out, size_t max)
{
	struct fake f = { .arg = which };
	struct uvfio_handle *h = NULL;
	int ret;

	fake_start(&f, script_io_fds);
	assert_int_equal(open_fake(&f, &h), 0);
	ret = uvfio_region_ioeventfds(h, 0, out, max);
	uvfio_close(h);
	fake_join(&f);
	return ret;
}

static void check_three(struct uvfio_ioeventfd *e, int n)
{
	assert_int_equal(n, 3);
	for (uint32_t i = 0; i < 3; i++) {
		assert_int_equal(e[i].offset, 0x1000 + 4 * i);
		assert_int_equal(e[i].size, 4);
		assert_int_equal(e[i].flags, UVFIO_IOEVENTFD_DATAMATCH);
		assert_int_equal(e[i].datamatch, i + 1);
		assert_true(e[i].fd >= 0);
	}
	/* Entries 0 and 1 share the server's fd 0: writing one is seen on the other. */
	uint64_t v = 1;
	assert_int_equal(write(e[0].fd, &v, 8), 8);
	assert_int_equal(read(e[1].fd, &v, 8), 8);
	for (int i = 0; i < 3; i++)
		close(e[i].fd);
}

static void test_spec_stride(void **state)
{
	struct uvfio_ioeventfd e[4];
	int before = count_fds();

	check_three(e, io_fds_case(C_SPEC, e, 4));
	assert_int_equal(count_fds(), before);
}

static void test_libvfio_user_stride(void **state)
{
	struct uvfio_ioeventfd e[4];

	check_three(e, io_fds_case(C_LIBVFIO_USER, e, 4));
}

static void test_argsz_retry(void **state)
{
	struct uvfio_ioeventfd e[4];

	check_three(e, io_fds_case(C_RETRY, e, 4));
}

static void test_fewer_slots_than_entries(void **state)
{
	struct uvfio_ioeventfd e[1];
	int before = count_fds();

	assert_int_equal(io_fds_case(C_SPEC, e, 1), 3);
	assert_int_equal(e[0].offset, 0x1000);
	close(e[0].fd);
	assert_int_equal(count_fds(), before);
}

static void test_none(void **state)
{
	struct uvfio_ioeventfd e[1];

	assert_int_equal(io_fds_case(C_NONE, e, 1), 0);
}

static void test_other_type_skipped(void **state)
{
	struct uvfio_ioeventfd e[4];

	assert_int_equal(io_fds_case(C_OTHER_TYPE, e, 4), 2);
	assert_int_equal(e[0].offset, 0x1000);
	assert_int_equal(e[1].offset, 0x1008);
	close(e[0].fd);
	close(e[1].fd);
}

static void test_malformed(void **state)
{
	static const uint32_t bad[] = { C_OUTSIDE, C_BAD_FD_INDEX, C_BAD_STRIDE };
	struct uvfio_ioeventfd e[4];
	int before = count_fds();

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(io_fds_case(bad[i], e, 4), -EPROTO);
	assert_int_equal(count_fds(), before);
}

static void test_bad_args(void **state)
{
	assert_int_equal(uvfio_region_ioeventfds(NULL, 0, NULL, 0), -EINVAL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spec_stride),
		cmocka_unit_test(test_libvfio_user_stride),
		cmocka_unit_test(test_argsz_retry),
		cmocka_unit_test(test_fewer_slots_than_entries),
		cmocka_unit_test(test_none),
		cmocka_unit_test(test_other_type_skipped),
		cmocka_unit_test(test_malformed),
		cmocka_unit_test(test_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
