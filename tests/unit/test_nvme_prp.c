/* SPDX-License-Identifier: MIT */
/*
 * The NVMe host driver's data pointers without a controller: PRP1/PRP2, PRP lists chained over
 * several pages (the last entry of a full page points to the next), PRP1 inside a page, SGL
 * Data Block, the refusals (PRP1 not dword aligned, more than the slot's list pages), and every
 * status named by uvfio_nvme_strstatus.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "nvme/host/nvme_host_priv.h"

#define PAGE 4096ull
#define LIST_IOVA 0x900000ull

static uint64_t lists[4 * 512];

static void setup_q(struct uvfio_nvme_qpair *q, struct nvme_req *r, uint32_t pages)
{
	memset(q, 0, sizeof(*q));
	memset(lists, 0, sizeof(lists));
	q->prp_pages = pages;
	r->prp_list = lists;
	r->prp_iova = LIST_IOVA;
}

/* Walks the PRPs of sqe like a controller and checks they cover [iova, iova+len) in order. */
static void check_walk(const struct nvme_sqe *sqe, uint64_t iova, size_t len)
{
	uint64_t want = iova, left = len, first = PAGE - (iova & (PAGE - 1));
	const uint64_t *list;
	uint32_t i = 0;

	assert_int_equal(sqe->prp1, iova);
	if (first >= left)
		return;
	want += first;
	left -= first;
	if (left <= PAGE) {
		assert_int_equal(sqe->prp2, want);
		return;
	}
	assert_int_equal(sqe->prp2, LIST_IOVA);
	list = lists;
	while (left) {
		if (i == 511 && left > PAGE) {
			/* chain: points at the next list page */
			assert_int_equal(list[i] % PAGE, 0);
			list = lists + (list[i] - LIST_IOVA) / 8;
			i = 0;
			continue;
		}
		assert_int_equal(list[i], want);
		want += PAGE;
		left = left > PAGE ? left - PAGE : 0;
		i++;
	}
}

static void test_prp_sizes(void **state)
{
	static const size_t sizes[] = { 512, 4096, 4608, 8192, 12288, 65536, 511 * 4096,
					512 * 4096, 513 * 4096, 2u << 20 };
	static const uint64_t offs[] = { 0, 512, 4092 };
	struct uvfio_nvme_qpair q;
	struct nvme_req r;

	for (size_t o = 0; o < 3; o++) {
		for (size_t s = 0; s < sizeof(sizes) / sizeof(sizes[0]); s++) {
			struct nvme_sqe sqe = { 0 };
			uint64_t iova = 0x10000000ull + offs[o];

			setup_q(&q, &r, 4);
			assert_int_equal(nvme_build_dptr(&q, &r, &sqe, iova, sizes[s], false), 0);
			assert_int_equal(NVME_SQE_PSDT(sqe.flags), NVME_PSDT_PRP);
			check_walk(&sqe, iova, sizes[s]);
		}
	}
}

static void test_prp_refusals(void **state)
{
	struct uvfio_nvme_qpair q;
	struct nvme_req r;
	struct nvme_sqe sqe = { 0 };

	setup_q(&q, &r, 1);
	assert_int_equal(nvme_build_dptr(&q, &r, &sqe, 0x10000002ull, 512, false), -EINVAL);
	/* 600 pages need two list pages; the slot has one. */
	assert_int_equal(nvme_build_dptr(&q, &r, &sqe, 0x10000000ull, 600 * 4096, false), -E2BIG);
	/* Exactly one full list page (512 entries after PRP1) still fits. */
	memset(&sqe, 0, sizeof(sqe));
	assert_int_equal(nvme_build_dptr(&q, &r, &sqe, 0x10000000ull, 513 * 4096, false), 0);
	check_walk(&sqe, 0x10000000ull, 513 * 4096);
}

static void test_sgl_and_no_data(void **state)
{
	struct uvfio_nvme_qpair q;
	struct nvme_req r;
	struct nvme_sqe sqe = { 0 };

	setup_q(&q, &r, 1);
	assert_int_equal(nvme_build_dptr(&q, &r, &sqe, 0x20000200ull, 1 << 20, true), 0);
	assert_int_equal(NVME_SQE_PSDT(sqe.flags), NVME_PSDT_SGL_MPTR_CONTIG);
	assert_int_equal(sqe.sgl.addr, 0x20000200ull);
	assert_int_equal(sqe.sgl.length, 1 << 20);
	assert_int_equal(NVME_SGL_TYPE(sqe.sgl.type), NVME_SGL_TYPE_DATA_BLOCK);
	/* No data: PRP1 carries a queue's base (Create I/O SQ/CQ), nothing else. */
	memset(&sqe, 0, sizeof(sqe));
	assert_int_equal(nvme_build_dptr(&q, &r, &sqe, 0x30000000ull, 0, false), 0);
	assert_int_equal(sqe.prp1, 0x30000000ull);
	assert_int_equal(sqe.prp2, 0);
}

static void test_strstatus(void **state)
{
	assert_string_equal(uvfio_nvme_strstatus(0), "success");
	assert_string_equal(uvfio_nvme_strstatus(0x080), "LBA Out of Range");
	assert_string_equal(uvfio_nvme_strstatus(0x080 | UVFIO_NVME_STATUS_DNR), "LBA Out of Range");
	assert_string_equal(uvfio_nvme_strstatus(0x285), "Compare Failure");
	assert_string_equal(uvfio_nvme_strstatus(0x10c), "Invalid Queue Deletion");
	assert_string_equal(uvfio_nvme_strstatus(0x0fe), "Unknown Generic Command Status");
	assert_string_equal(uvfio_nvme_strstatus(0x7ff), "Vendor Specific Status");
	assert_string_equal(uvfio_nvme_strstatus(-ETIMEDOUT), strerror(ETIMEDOUT));
	/* Every code of the spec header's generic set has a name of its own. */
	for (int sc = 0; sc <= 0x22; sc++)
		if (sc != 0x17)
			assert_string_not_equal(uvfio_nvme_strstatus(sc),
						"Unknown Generic Command Status");
}

/* Every entry point refuses NULL and nonsense without touching anything. */
static void test_bad_args(void **state)
{
	struct uvfio_nvme_cmd cmd = { .opcode = 2 };
	struct uvfio_nvme_ctrl *c = (void *)1;
	uint32_t v;

	assert_int_equal(uvfio_nvme_ctrl_open(NULL, NULL, &c), -EINVAL);
	assert_int_equal(uvfio_nvme_open("bogus:x", NULL, &c), -EINVAL);
	assert_int_equal(uvfio_nvme_ctrl_reset(NULL), -EINVAL);
	assert_int_equal(uvfio_nvme_ctrl_get_info(NULL, NULL), -EINVAL);
	assert_null(uvfio_nvme_ctrl_identify_data(NULL));
	assert_int_equal(uvfio_nvme_ns_get_info(NULL, 1, NULL), -EINVAL);
	assert_int_equal(uvfio_nvme_ns_list(NULL, NULL, 0), -EINVAL);
	assert_int_equal(uvfio_nvme_admin(NULL, &cmd, NULL, 0, NULL), -EINVAL);
	assert_int_equal(uvfio_nvme_identify(NULL, 1, 0, NULL), -EINVAL);
	assert_int_equal(uvfio_nvme_get_log_page(NULL, 2, 0, &v, 3), -EINVAL);
	assert_int_equal(uvfio_nvme_get_features(NULL, 7, 0, 0, &v), -EINVAL);
	assert_int_equal(uvfio_nvme_format(NULL, 1, 0, 0), -EINVAL);
	assert_null(uvfio_nvme_dma_alloc(NULL, 4096));
	uvfio_nvme_dma_free(NULL, NULL);
	assert_int_equal(uvfio_nvme_qpair_create(NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_nvme_submit(NULL, &cmd, NULL, 0, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_nvme_read(NULL, 1, NULL, 0, 1, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_nvme_flush(NULL, 1, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_nvme_write_zeroes(NULL, 1, 0, 0, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_nvme_deallocate(NULL, 1, 0, 1, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_nvme_io_sync(NULL, &cmd, NULL, 0, NULL), -EINVAL);
	assert_int_equal(uvfio_nvme_process(NULL, 0), -EINVAL);
	assert_int_equal(uvfio_nvme_wait(NULL, 0), -EINVAL);
	assert_int_equal(uvfio_nvme_qpair_fd(NULL), -1);
	assert_int_equal(uvfio_nvme_qpair_outstanding(NULL), 0);
	uvfio_nvme_qpair_destroy(NULL);
	uvfio_nvme_ctrl_close(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_prp_sizes),
		cmocka_unit_test(test_prp_refusals),
		cmocka_unit_test(test_sgl_and_no_data),
		cmocka_unit_test(test_strstatus),
		cmocka_unit_test(test_bad_args),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
