/* SPDX-License-Identifier: MIT */
/*
 * The client's DMA side against a scripted fake server (client_fake.h): server-to-client
 * DMA_READ/WRITE served from the IOAS while a reply is awaited and on a twin socket, IOAS
 * bookkeeping and rollback across devices, region mmap, DEVICE_FEATURE, reset and DMA_UNMAP.
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

static int dma_exchange(struct fake *f, int fd, uint16_t cmd, uint64_t addr, uint64_t count,
			const void *wdata, void *rdata)
{
	uint8_t buf[256];
	struct vfu_dma_access acc = { .addr = addr, .count = count };
	struct vfu_msg m;
	size_t len = sizeof(acc) + (cmd == VFU_CMD_DMA_WRITE ? count : 0);
	int ret;

	memcpy(buf, &acc, sizeof(acc));
	if (cmd == VFU_CMD_DMA_WRITE)
		memcpy(buf + sizeof(acc), wdata, count);
	srv_send(fd, 0x4242, cmd, VFU_F_TYPE_COMMAND, 0, buf, len, NULL, 0);
	if (srv_recv(fd, &m) < 0)
		return -EIO;
	SRV_CHECK(f, m.hdr.msg_id == 0x4242 && m.hdr.cmd == cmd &&
			     (m.hdr.flags & VFU_F_TYPE_MASK) == VFU_F_TYPE_REPLY);
	if (m.hdr.flags & VFU_F_ERROR) {
		ret = -(int)m.hdr.error_no;
	} else {
		size_t want = sizeof(acc) + (cmd == VFU_CMD_DMA_READ ? count : 0);
		SRV_CHECK(f, m.payload_len == want);
		if (rdata && m.payload_len == want)
			memcpy(rdata, m.payload + sizeof(acc), count);
		ret = 0;
	}
	vfu_msg_release(&m);
	return ret;
}

static void script_dma(struct fake *f, int fd)
{
	int dma_fd = f->version_nfds ? (int)f->arg : fd; /* twin: arg holds our end */
	struct vfu_msg m;
	uint8_t got[8] = { 0 };
	static const uint8_t put[4] = { 0xde, 0xad, 0xbe, 0xef };

	/* DMA_MAP from the attach (memfd) and one from a fd-less map. */
	for (int i = 0; i < 2; i++) {
		struct vfu_dma_map map;

		if (srv_recv(fd, &m) < 0)
			return;
		memcpy(&map, m.payload, sizeof(map));
		SRV_CHECK(f, m.hdr.cmd == VFU_CMD_DMA_MAP && m.payload_len == 32);
		SRV_CHECK(f, map.addr == (i ? 0x20000u : 0x10000u) && map.size == 0x1000);
		SRV_CHECK(f, m.nfds == (i ? 0u : 1u));
		SRV_CHECK(f, map.flags == (i ? VFU_DMA_FLAG_READ
					     : (VFU_DMA_FLAG_READ | VFU_DMA_FLAG_WRITE)));
		srv_reply(fd, &m, NULL, 0);
		vfu_msg_release(&m);
	}
	/* GET_INFO: before answering, DMA into the client. */
	if (srv_recv(fd, &m) < 0)
		return;
	SRV_CHECK(f, dma_exchange(f, dma_fd, VFU_CMD_DMA_READ, 0x10010, 8, NULL, got) == 0);
	SRV_CHECK(f, memcmp(got, "pattern", 8) == 0);
	SRV_CHECK(f, dma_exchange(f, dma_fd, VFU_CMD_DMA_WRITE, 0x10ffc, 4, put, NULL) == 0);
	SRV_CHECK(f, dma_exchange(f, dma_fd, VFU_CMD_DMA_READ, 0x10ffc, 8, NULL, got) == -EFAULT);
	SRV_CHECK(f, dma_exchange(f, dma_fd, VFU_CMD_DMA_READ, 0x30000, 8, NULL, got) == -EFAULT);
	SRV_CHECK(f, dma_exchange(f, dma_fd, VFU_CMD_DMA_WRITE, 0x20000, 4, put, NULL) == -EACCES);
	SRV_CHECK(f, dma_exchange(f, dma_fd, VFU_CMD_DMA_READ, 0x20000, 4, NULL, got) == 0);
	SRV_CHECK(f, memcmp(got, "ro!", 4) == 0);
	SRV_CHECK(f, dma_exchange(f, dma_fd, VFU_CMD_DMA_READ, 0x10000, 0, NULL, got) == -EINVAL);
	f->count++;
	{
		struct vfu_device_info rep = { .argsz = 16, .num_regions = 9 };
		srv_reply(fd, &m, &rep, sizeof(rep));
	}
	vfu_msg_release(&m);
}

static void run_dma_test(struct fake *f)
{
	struct uvfio_handle *h = NULL;
	struct uvfio_ioas *ioas = NULL;
	struct uvfio_device_info info;
	static char ro[4096] __attribute__((aligned(4096))) = "ro!";
	void *mem = NULL;

	fake_start(f, script_dma);
	assert_int_equal(open_fake(f, &h), 0);
	assert_int_equal(uvfio_ioas_new(&ioas), 0);
	assert_int_equal(uvfio_ioas_map_alloc(ioas, 0x10000, 0x1000,
					      UVFIO_IOAS_READ | UVFIO_IOAS_WRITE, &mem), 0);
	memcpy((uint8_t *)mem + 0x10, "pattern", 8);
	assert_int_equal(uvfio_ioas_attach(ioas, h), 0);
	assert_int_equal(uvfio_ioas_map(ioas, 0x20000, 0x1000, UVFIO_IOAS_READ, -1, 0, ro), 0);
	assert_int_equal(uvfio_get_device_info(h, &info), 0);
	assert_int_equal(info.num_regions, 9);
	assert_memory_equal((uint8_t *)mem + 0xffc, "\xde\xad\xbe\xef", 4);
	assert_ptr_equal(uvfio_ioas_translate(ioas, 0x10ffc, 4), (uint8_t *)mem + 0xffc);
	uvfio_close(h);
	uvfio_ioas_free(ioas);
	fake_join(f);
	assert_int_equal(f->count, 1);
}

static void test_dma_served_while_waiting(void **state)
{
	struct fake f = { 0 };

	run_dma_test(&f);
}

static void test_dma_twin_socket(void **state)
{
	int sp[2];
	struct fake f = {
		.version_json = "{\"capabilities\":{\"twin_socket\":{\"supported\":true,\"fd_index\":0}}}",
	};

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sp), 0);
	f.version_fds[0] = sp[0];
	f.version_nfds = 1;
	f.arg = (uint32_t)sp[1];
	run_dma_test(&f);
	close(sp[1]);
}

static void test_ioas_bad_input(void **state)
{
	struct uvfio_ioas *ioas = NULL;
	static uint8_t mem[0x3000] __attribute__((aligned(4096)));
	void *p = NULL;

	assert_int_equal(uvfio_ioas_new(&ioas), 0);
	assert_int_equal(uvfio_ioas_map(ioas, 0x1000, 0x2000, UVFIO_IOAS_READ, -1, 0, mem), 0);
	assert_int_equal(uvfio_ioas_map(ioas, 0x2000, 0x1000, UVFIO_IOAS_READ, -1, 0, mem), -EEXIST);
	assert_int_equal(uvfio_ioas_map(ioas, 0x0, 0x2000, UVFIO_IOAS_READ, -1, 0, mem), -EEXIST);
	assert_int_equal(uvfio_ioas_map(ioas, 0x3000, 0x1000, UVFIO_IOAS_READ, -1, 0, mem), 0);
	assert_int_equal(uvfio_ioas_map(ioas, 0x10001, 0x1000, UVFIO_IOAS_READ, -1, 0, mem), -EINVAL);
	assert_int_equal(uvfio_ioas_map(ioas, 0x10000, 0x1001, UVFIO_IOAS_READ, -1, 0, mem), -EINVAL);
	assert_int_equal(uvfio_ioas_map(ioas, 0x10000, 0, UVFIO_IOAS_READ, -1, 0, mem), -EINVAL);
	assert_int_equal(uvfio_ioas_map(ioas, 0x10000, 0x1000, 0, -1, 0, mem), -EINVAL);
	assert_int_equal(uvfio_ioas_map(ioas, 0x10000, 0x1000, 0x80, -1, 0, mem), -EINVAL);
	assert_int_equal(uvfio_ioas_map(ioas, UINT64_MAX - 0xfff, 0x2000, UVFIO_IOAS_READ, -1, 0,
					mem), -EINVAL);
	assert_int_equal(uvfio_ioas_map(ioas, 0x10000, 0x1000, UVFIO_IOAS_READ, -1, 0, NULL),
			 -EINVAL);
	assert_ptr_equal(uvfio_ioas_translate(ioas, 0x1800, 16), mem + 0x800);
	assert_ptr_equal(uvfio_ioas_translate(ioas, 0x3000, 0x1000), mem);
	assert_null(uvfio_ioas_translate(ioas, 0x2ff0, 0x20)); /* spans two mappings */
	assert_null(uvfio_ioas_translate(ioas, 0x5000, 1));
	assert_int_equal(uvfio_ioas_unmap(ioas, 0x1000, 0x1000), -ENOENT);
	assert_int_equal(uvfio_ioas_unmap(ioas, 0x1000, 0x2000), 0);
	assert_int_equal(uvfio_ioas_unmap(ioas, 0x1000, 0x2000), -ENOENT);
	assert_null(uvfio_ioas_translate(ioas, 0x1800, 16));
	assert_int_equal(uvfio_ioas_map_alloc(ioas, 0x3000, 0x1000, UVFIO_IOAS_READ, &p), -EEXIST);
	assert_int_equal(uvfio_ioas_map_alloc(ioas, 0x8000, 0x2000, UVFIO_IOAS_READ, &p), 0);
	memset(p, 0xab, 0x2000); /* really ours, really that big */
	assert_int_equal(uvfio_ioas_map_alloc(ioas, 0x8000, 0x2000, UVFIO_IOAS_READ, NULL), -EINVAL);
	assert_int_equal(uvfio_ioas_new(NULL), -EINVAL);
	uvfio_ioas_free(ioas);
}

/* Two devices share an IOAS; the second refuses a map: the first gets it unmapped again. */
static void script_map_refuser(struct fake *f, int fd)
{
	for (;;) {
		struct vfu_msg m;

		if (srv_recv(fd, &m) < 0)
			return;
		if (m.hdr.cmd == VFU_CMD_DMA_MAP) {
			f->count++;
			if (f->arg)
				srv_send(fd, m.hdr.msg_id, m.hdr.cmd, VFU_F_TYPE_REPLY | VFU_F_ERROR,
					 ENOSPC, NULL, 0, NULL, 0);
			else
				srv_reply(fd, &m, NULL, 0);
		} else if (m.hdr.cmd == VFU_CMD_DMA_UNMAP) {
			f->count += 100;
			srv_reply(fd, &m, m.payload, m.payload_len);
		}
		vfu_msg_release(&m);
	}
}

static void test_ioas_map_rollback(void **state)
{
	struct fake a = { 0 }, b = { .arg = 1 };
	struct uvfio_handle *ha = NULL, *hb = NULL;
	struct uvfio_ioas *ioas = NULL;
	void *p = NULL;

	fake_start(&a, script_map_refuser);
	fake_start(&b, script_map_refuser);
	assert_int_equal(open_fake(&a, &ha), 0);
	assert_int_equal(open_fake(&b, &hb), 0);
	assert_int_equal(uvfio_ioas_new(&ioas), 0);
	assert_int_equal(uvfio_ioas_attach(ioas, ha), 0);
	assert_int_equal(uvfio_ioas_attach(ioas, ha), -EALREADY);
	assert_int_equal(uvfio_ioas_attach(ioas, hb), 0);
	assert_int_equal(uvfio_ioas_map_alloc(ioas, 0x1000, 0x1000, UVFIO_IOAS_READ, &p), -ENOSPC);
	assert_null(uvfio_ioas_translate(ioas, 0x1000, 1));
	assert_int_equal(uvfio_ioas_detach(ioas, hb), 0);
	assert_int_equal(uvfio_ioas_detach(ioas, hb), -ENOENT);
	uvfio_close(hb);
	uvfio_close(ha); /* detaches itself */
	uvfio_ioas_free(ioas);
	fake_join(&a);
	fake_join(&b);
	assert_int_equal(a.count, 101); /* mapped, then unmapped by the rollback */
	assert_int_equal(b.count, 1);
}

/* Everything else, answered in a loop: mmap-able region info with a memfd, DEVICE_FEATURE,
 * DEVICE_RESET, DMA_MAP, and DMA_UNMAP whose echo is wrong for IOVA 0x5000. */
static void script_misc(struct fake *f, int fd)
{
	for (;;) {
		struct vfu_msg m;

		if (srv_recv(fd, &m) < 0)
			return;
		if (m.hdr.cmd == VFU_CMD_DEVICE_GET_REGION_INFO) {
			uint8_t buf[64] = { 0 };
			struct vfu_region_info ri = {
				.argsz = 64, .flags = VFIO_REGION_INFO_FLAG_READ |
						      VFIO_REGION_INFO_FLAG_MMAP |
						      VFIO_REGION_INFO_FLAG_CAPS,
				.cap_offset = 32, .size = 0x2000,
			};
			struct vfu_cap_sparse_mmap sp = {
				.hdr = { .id = VFIO_REGION_INFO_CAP_SPARSE_MMAP, .version = 1 },
				.nr_areas = 1,
			};
			struct vfu_sparse_mmap_area a = { .offset = 0x1000, .size = 0x1000 };
			int fds[2] = { (int)f->arg, (int)f->arg };

			memcpy(&ri.index, m.payload + 8, 4);
			memcpy(buf, &ri, sizeof(ri));
			memcpy(buf + 32, &sp, sizeof(sp));
			memcpy(buf + 48, &a, sizeof(a));
			/* Region 1 sends one fd too many, region 2 an fd without MMAP. */
			if (ri.index == 2) {
				ri.flags = VFIO_REGION_INFO_FLAG_READ;
				memcpy(buf, &ri, sizeof(ri));
			}
			srv_send(fd, m.hdr.msg_id, m.hdr.cmd, VFU_F_TYPE_REPLY, 0, buf, sizeof(buf),
				 fds, ri.index == 1 ? 2 : 1);
		} else if (m.hdr.cmd == VFU_CMD_DEVICE_FEATURE) {
			uint8_t buf[32];
			struct vfu_device_feature df;

			memcpy(&df, m.payload, sizeof(df));
			SRV_CHECK(f, df.argsz == 8 + 16 && m.payload_len == 8 + 4);
			df.argsz = 8 + 8;
			memcpy(buf, &df, sizeof(df));
			memcpy(buf + 8, "featdata", 8);
			srv_reply(fd, &m, buf, 16);
		} else if (m.hdr.cmd == VFU_CMD_DEVICE_RESET) {
			SRV_CHECK(f, m.payload_len == 0);
			f->count++;
			srv_reply(fd, &m, NULL, 0);
		} else if (m.hdr.cmd == VFU_CMD_DMA_MAP) {
			srv_reply(fd, &m, NULL, 0);
		} else if (m.hdr.cmd == VFU_CMD_DMA_UNMAP) {
			struct vfu_dma_unmap u;

			memcpy(&u, m.payload, sizeof(u));
			if (u.addr == 0x5000)
				u.size += 0x1000;
			srv_reply(fd, &m, &u, sizeof(u));
		}
		vfu_msg_release(&m);
	}
}

static void test_region_mmap(void **state)
{
	int mfd = memfd_create("bar", MFD_CLOEXEC);
	struct fake f = { 0 };
	struct uvfio_handle *h = NULL;
	void *p = NULL;
	int before;

	assert_true(mfd >= 0);
	assert_int_equal(ftruncate(mfd, 0x2000), 0);
	assert_int_equal(pwrite(mfd, "sparse!", 8, 0x1000), 8);
	f.arg = (uint32_t)mfd;
	fake_start(&f, script_misc);
	assert_int_equal(open_fake(&f, &h), 0);
	before = count_fds();
	assert_int_equal(uvfio_region_mmap(h, 0, 0x1000, 0x1000, PROT_READ, &p), 0);
	assert_memory_equal(p, "sparse!", 8);
	assert_int_equal(uvfio_region_munmap(h, p, 0x1000), 0);
	/* Outside the sparse area, unaligned, past the end. */
	assert_int_equal(uvfio_region_mmap(h, 0, 0, 0x1000, PROT_READ, &p), -EINVAL);
	assert_int_equal(uvfio_region_mmap(h, 0, 0x1800, 0x800, PROT_READ, &p), -EINVAL);
	assert_int_equal(uvfio_region_mmap(h, 0, 0x1000, 0x2000, PROT_READ, &p), -EINVAL);
	assert_int_equal(uvfio_region_mmap(h, 0, 0x1000, 0, PROT_READ, &p), -EINVAL);
	assert_int_equal(uvfio_region_mmap(h, 1, 0x1000, 0x1000, PROT_READ, &p), -EPROTO);
	assert_int_equal(uvfio_region_mmap(h, 2, 0x1000, 0x1000, PROT_READ, &p), -EPROTO);
	assert_int_equal(count_fds(), before); /* every fd received was closed */
	uvfio_close(h);
	fake_join(&f);
	close(mfd);
}

static void test_feature_reset_unmap(void **state)
{
	struct fake f = { .arg = (uint32_t)-1 };
	struct uvfio_handle *h = NULL;
	struct uvfio_ioas *ioas = NULL;
	uint8_t out[16];
	size_t out_len = sizeof(out);
	void *p = NULL;

	fake_start(&f, script_misc);
	assert_int_equal(open_fake(&f, &h), 0);
	assert_int_equal(uvfio_device_feature_call(h, VFIO_DEVICE_FEATURE_GET | 1, "abcd", 4, out,
						   &out_len), 0);
	assert_int_equal(out_len, 8);
	assert_memory_equal(out, "featdata", 8);
	assert_int_equal(uvfio_device_feature_call(h, 0, NULL, 4, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_reset(h), 0);
	assert_int_equal(f.count, 1);
	assert_int_equal(uvfio_ioas_new(&ioas), 0);
	assert_int_equal(uvfio_ioas_attach(ioas, h), 0);
	assert_int_equal(uvfio_ioas_map_alloc(ioas, 0x4000, 0x1000, UVFIO_IOAS_READ, &p), 0);
	assert_int_equal(uvfio_ioas_map_alloc(ioas, 0x5000, 0x1000, UVFIO_IOAS_READ, &p), 0);
	assert_int_equal(uvfio_ioas_unmap(ioas, 0x4000, 0x1000), 0);
	/* The device echoed a different range: reported (in the log), the IOAS entry is gone. */
	assert_int_equal(uvfio_ioas_unmap(ioas, 0x5000, 0x1000), 0);
	assert_null(uvfio_ioas_translate(ioas, 0x5000, 1));
	uvfio_ioas_free(ioas);
	uvfio_close(h);
	fake_join(&f);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_dma_served_while_waiting),
		cmocka_unit_test(test_dma_twin_socket),
		cmocka_unit_test(test_ioas_bad_input),
		cmocka_unit_test(test_ioas_map_rollback),
		cmocka_unit_test(test_region_mmap),
		cmocka_unit_test(test_feature_reset_unmap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
