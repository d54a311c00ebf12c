/* SPDX-License-Identifier: MIT */
/*
 * DMA logging through the device core's features: writes from several device threads, windows
 * mapped after the start, writes through kept pointers, report-and-clear, bad requests.
 */
#include "device_mig_fixture.h"

static int log_start(struct tdev *t, uint64_t *page_size, const struct uvfio_dirty_range *r,
		     uint32_t nr)
{
	uint8_t buf[16 + 8 * 16];
	uint32_t hdr[2] = { nr, 0 };
	memcpy(buf, page_size, 8);
	memcpy(buf + 8, hdr, 8);
	if (nr)
		memcpy(buf + 16, r, nr * sizeof(*r));
	uint8_t out[sizeof(buf)];
	size_t len = 16 + nr * sizeof(*r);
	memcpy(out, buf, len);
	size_t out_len = len;
	int ret = feature(t, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START, buf,
			  len, out, &out_len);
	memcpy(page_size, out, 8);
	return ret;
}

static int log_report(struct tdev *t, uint64_t iova, uint64_t length, uint64_t page_size,
		      uint64_t *bitmap, size_t words)
{
	uint64_t in[3] = { iova, length, page_size };
	uint8_t out[24 + 8 * 64];
	size_t out_len = 24 + words * 8;
	int ret = feature(t, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, in,
			  sizeof(in), out, &out_len);
	if (ret == 0) {
		assert_memory_equal(out, in, sizeof(in));
		memcpy(bitmap, out + 24, out_len - 24);
	}
	return ret;
}

struct page_writer {
	struct tdev *t;
	unsigned first, step;
};

static void *write_pages(void *p)
{
	struct page_writer *w = p;
	for (unsigned pg = w->first; pg < DMA_SIZE / 4096; pg += w->step) {
		uint8_t b = (uint8_t)pg;
		assert_int_equal(uvfio_dma_write(w->t->dev, DMA_IOVA + pg * 4096ull + 17, &b, 1), 0);
	}
	return NULL;
}

static void test_logging(void **unused)
{
	struct tdev *t = tdev_new(UVFIO_MIGRATION_STOP_COPY);
	const uint64_t later = DMA_IOVA + DMA_SIZE; /* mapped after logging starts */
	struct uvfio_dirty_range r[2] = { { DMA_IOVA, DMA_SIZE }, { later, 4 * 4096 } };
	uint64_t ps = 4096, bm[2];

	assert_int_equal(log_report(t, DMA_IOVA, DMA_SIZE, 4096, bm, 1), -EINVAL); /* not on */
	assert_int_equal(log_start(t, &ps, r, 2), 0);
	assert_int_equal(ps, 4096);
	assert_int_equal(log_start(t, &ps, r, 2), -EBUSY);
	/* Four device threads, every page written by exactly one. */
	pthread_t th[4];
	struct page_writer w[4];
	for (unsigned i = 0; i < 4; i++) {
		w[i] = (struct page_writer){ t, i, 4 };
		assert_int_equal(pthread_create(&th[i], NULL, write_pages, &w[i]), 0);
	}
	for (unsigned i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	memset(bm, 0, sizeof(bm));
	assert_int_equal(log_report(t, DMA_IOVA, DMA_SIZE, 4096, bm, 1), 0);
	assert_int_equal(bm[0], ~0ull); /* 64 pages */
	assert_int_equal(log_report(t, DMA_IOVA, DMA_SIZE, 4096, bm, 1), 0);
	assert_int_equal(bm[0], 0); /* the report cleared them */
	/* A window mapped after the start, a pointer written through, a declared write. */
	int fd = memfd_create("later", 0);
	assert_int_equal(ftruncate(fd, 4 * 4096), 0);
	assert_int_equal(uvfio_dma_space_add(uvfio_device_dma_space(t->dev), later, 4 * 4096,
					     UVFIO_DMA_READ | UVFIO_DMA_WRITE, fd, 0),
			 0);
	uint8_t b = 1;
	assert_int_equal(uvfio_dma_write(t->dev, later + 2 * 4096, &b, 1), 0);
	struct uvfio_dma_ref ref;
	assert_int_equal(uvfio_dma_get(t->dev, DMA_IOVA + 5 * 4096, 4096, UVFIO_DMA_WRITE, &ref), 0);
	((uint8_t *)ref.ptr)[9] = 3;
	uvfio_dma_put(t->dev, &ref);
	assert_int_equal(uvfio_dma_get(t->dev, DMA_IOVA + 6 * 4096, 4096, UVFIO_DMA_READ, &ref), 0);
	uvfio_dma_put(t->dev, &ref); /* read-only: not dirty */
	uvfio_dma_mark_dirty(t->dev, DMA_IOVA + 9 * 4096 + 100, 4096); /* straddles 9 and 10 */
	memset(bm, 0, sizeof(bm));
	assert_int_equal(log_report(t, later, 4 * 4096, 4096, bm, 1), 0);
	assert_int_equal(bm[0], 1u << 2);
	assert_int_equal(log_report(t, DMA_IOVA, DMA_SIZE, 4096, bm, 1), 0);
	assert_int_equal(bm[0], (1u << 5) | (1u << 9) | (1u << 10));
	/* Too small a reply buffer, bad page size. */
	uint64_t in[3] = { DMA_IOVA, DMA_SIZE, 4096 };
	uint8_t out[24];
	size_t out_len = sizeof(out);
	assert_int_equal(feature(t, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT,
				 in, sizeof(in), out, &out_len),
			 -ENOSPC);
	assert_int_equal(log_report(t, DMA_IOVA, DMA_SIZE, 1000, bm, 1), -EINVAL);
	assert_int_equal(feature(t, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP,
				 NULL, 0, NULL, NULL),
			 0);
	assert_int_equal(log_report(t, DMA_IOVA, DMA_SIZE, 4096, bm, 1), -EINVAL);
	/* No ranges: the windows mapped now; a client leaving stops logging. */
	ps = 4096;
	assert_int_equal(log_start(t, &ps, NULL, 0), 0);
	assert_int_equal(uvfio_dma_write(t->dev, later, &b, 1), 0);
	memset(bm, 0, sizeof(bm));
	assert_int_equal(log_report(t, later, 4 * 4096, 4096, bm, 1), 0);
	assert_int_equal(bm[0], 1);
	uvfio_device_close(t->dev);
	assert_int_equal(log_report(t, later, 4 * 4096, 4096, bm, 1), -EINVAL);
	close(fd);
	tdev_free(t);
}

static void test_logging_bad_start(void **unused)
{
	struct tdev *t = tdev_new(UVFIO_MIGRATION_STOP_COPY);
	struct uvfio_dirty_range r[2] = { { DMA_IOVA, 8192 }, { DMA_IOVA + 4096, 8192 } };
	uint64_t ps = 4096;
	assert_int_equal(log_start(t, &ps, r, 2), -EINVAL); /* overlapping */
	r[0].length = 100;
	assert_int_equal(log_start(t, &ps, r, 1), -EINVAL); /* misaligned */
	ps = 3000;
	r[0].length = 4096;
	assert_int_equal(log_start(t, &ps, r, 1), -EINVAL); /* page size */
	uint8_t buf[16] = { 0 };
	buf[0] = 0x10; /* page size 4096 */
	buf[1] = 0x10;
	buf[8] = 2; /* two ranges announced, none sent */
	assert_int_equal(feature(t, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				 buf, sizeof(buf), NULL, NULL),
			 -EINVAL);
	buf[8] = 0;
	buf[9] = 2; /* 512 ranges */
	assert_int_equal(feature(t, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				 buf, sizeof(buf), NULL, NULL),
			 -E2BIG);
	tdev_free(t);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_logging),
		cmocka_unit_test(test_logging_bad_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
