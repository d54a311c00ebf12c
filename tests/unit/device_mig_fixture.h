/* SPDX-License-Identifier: MIT */
/*
 * A migratable test device for the device core's migration tests (test_device_mig.c,
 * test_device_mig_log.c): BAR0 and config space in memory, a driver whose arcs, save and load
 * are recorded or scripted, and a DMA window over a memfd, plus the calls a transport makes.
 * Header-only: each test program includes it once.
 */
#ifndef UVFIO_TEST_DEVICE_MIG_FIXTURE_H
#define UVFIO_TEST_DEVICE_MIG_FIXTURE_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/vfio.h>

#include <uvfio/device.h>
#include <uvfio/dma.h>
#include <uvfio/migration.h>

#include "util/vfio_compat.h"

#define S_STOP UVFIO_MIG_STATE_STOP
#define S_RUNNING UVFIO_MIG_STATE_RUNNING
#define S_STOP_COPY UVFIO_MIG_STATE_STOP_COPY
#define S_RESUMING UVFIO_MIG_STATE_RESUMING
#define S_RUNNING_P2P UVFIO_MIG_STATE_RUNNING_P2P
#define S_PRE_COPY UVFIO_MIG_STATE_PRE_COPY
#define S_PRE_COPY_P2P UVFIO_MIG_STATE_PRE_COPY_P2P
#define S_ERROR UVFIO_MIG_STATE_ERROR

#define MEM_SIZE 64
#define DMA_IOVA 0x100000ull
#define DMA_SIZE (64u * 4096u)
#define INITIAL_SIZE 10000 /* bytes of the PRE_COPY initial section */

enum { SEC_MEM = 1, SEC_INITIAL = 2, SEC_DIRTY = 3 };

struct tdev {
	struct uvfio_device *dev;
	struct uvfio_migration_ops ops;
	uint8_t bar[MEM_SIZE], cfg[256];
	struct uvfio_mig_arc arcs[32];
	unsigned nr_arcs;
	uint32_t fail_from, fail_to; /* an arc that fails (0/0: none) */
	bool fail_broken;
	bool refuse_load;
	bool initial_sent;
	bool dirty; /* the device "dirtied" pre-copy data */
	unsigned loads;
	int memfd;
	uint8_t *mem; /* the DMA window's memory, as the client sees it */
};

static ssize_t mem_rw(struct uvfio_device *dev, uint32_t index, uint64_t off, void *buf,
		      size_t count, bool is_write)
{
	struct tdev *t = uvfio_device_priv(dev);
	uint8_t *m = index == VFIO_PCI_CONFIG_REGION_INDEX ? t->cfg : t->bar;
	if (is_write)
		memcpy(m + off, buf, count);
	else
		memcpy(buf, m + off, count);
	return (ssize_t)count;
}

static int t_reset(struct uvfio_device *dev)
{
	return 0;
}

static const struct uvfio_device_ops dev_ops = { .name = "migtest", .reset = t_reset };

static int t_step(struct uvfio_device *dev, uint32_t from, uint32_t to, bool *broken)
{
	struct tdev *t = uvfio_device_priv(dev);
	if (t->fail_from == from && t->fail_to == to && (from || to)) {
		*broken = t->fail_broken;
		return -EIO;
	}
	assert_true(t->nr_arcs < 32);
	t->arcs[t->nr_arcs++] = (struct uvfio_mig_arc){ (uint8_t)from, (uint8_t)to };
	return 0;
}

static int t_save(struct uvfio_device *dev, struct uvfio_mig_writer *w, bool final)
{
	struct tdev *t = uvfio_device_priv(dev);
	if (final)
		return uvfio_mig_writer_section(w, SEC_MEM, t->bar, MEM_SIZE);
	if (!t->initial_sent) {
		static uint8_t initial[INITIAL_SIZE];
		memset(initial, 0x5a, sizeof(initial));
		t->initial_sent = true;
		return uvfio_mig_writer_section(w, SEC_INITIAL, initial, sizeof(initial));
	}
	if (t->dirty) {
		t->dirty = false;
		return uvfio_mig_writer_section(w, SEC_DIRTY, t->bar, 8);
	}
	return 0;
}

static int t_load(struct uvfio_device *dev, uint32_t version, const struct uvfio_mig_section *s,
		  size_t nr)
{
	struct tdev *t = uvfio_device_priv(dev);
	if (t->refuse_load)
		return -EINVAL;
	for (size_t i = 0; i < nr; i++)
		if (s[i].id == SEC_MEM && s[i].len == MEM_SIZE)
			memcpy(t->bar, s[i].data, MEM_SIZE);
	t->loads++;
	return 0;
}

static int t_precopy_info(struct uvfio_device *dev, uint64_t *initial, uint64_t *dirty)
{
	struct tdev *t = uvfio_device_priv(dev);
	*initial = t->initial_sent ? 0 : INITIAL_SIZE;
	*dirty = t->dirty ? 8 : 0;
	return 0;
}

static const struct uvfio_mig_identity ident = {
	.vendor = 0x1234, .device = 0x5678, .subvendor = 1, .subdevice = 2, .driver = "migtest",
};

static struct tdev *tdev_new(uint32_t flags)
{
	struct tdev *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->dev = uvfio_device_new(&dev_ops, UVFIO_DEVICE_FLAGS_RESET | UVFIO_DEVICE_FLAGS_PCI, 9,
				  1);
	assert_non_null(t->dev);
	uvfio_device_set_priv(t->dev, t);
	struct uvfio_region bar = { .size = MEM_SIZE, .flags = 3, .rw = mem_rw, .mmap_fd = -1 };
	struct uvfio_region cfg = { .size = 256, .flags = 3, .rw = mem_rw, .mmap_fd = -1 };
	assert_int_equal(uvfio_device_set_region(t->dev, 0, &bar), 0);
	assert_int_equal(uvfio_device_set_region(t->dev, VFIO_PCI_CONFIG_REGION_INDEX, &cfg), 0);
	assert_int_equal(uvfio_device_set_irq_info(t->dev, 0, 1,
						   UVFIO_IRQ_INFO_EVENTFD | UVFIO_IRQ_INFO_MASKABLE),
			 0);
	t->ops = (struct uvfio_migration_ops){ .flags = flags, .state_version = 1,
					       .min_state_version = 1, .step = t_step,
					       .save = t_save, .load = t_load,
					       .precopy_info = t_precopy_info };
	assert_int_equal(uvfio_device_set_migration(t->dev, &t->ops, &ident), 0);
	t->memfd = memfd_create("dma", 0);
	assert_true(t->memfd >= 0);
	assert_int_equal(ftruncate(t->memfd, DMA_SIZE), 0);
	t->mem = mmap(NULL, DMA_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, t->memfd, 0);
	assert_true(t->mem != MAP_FAILED);
	assert_int_equal(uvfio_dma_space_add(uvfio_device_dma_space(t->dev), DMA_IOVA, DMA_SIZE,
					     UVFIO_DMA_READ | UVFIO_DMA_WRITE, t->memfd, 0),
			 0);
	return t;
}

static void tdev_free(struct tdev *t)
{
	uvfio_device_free(t->dev);
	munmap(t->mem, DMA_SIZE);
	close(t->memfd);
	free(t);
}

/* ---- feature helpers: what a transport does ---- */

static int feature(struct tdev *t, uint32_t flags, const void *in, size_t len, void *out,
		   size_t *out_len)
{
	return uvfio_device_feature(t->dev, flags, in, len, out, out_len);
}

__attribute__((unused)) static int set_state(struct tdev *t, uint32_t state)
{
	struct { uint32_t state; int32_t fd; } d = { state, -1 };
	return feature(t, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &d,
		       sizeof(d), NULL, NULL);
}

__attribute__((unused)) static uint32_t get_state(struct tdev *t)
{
	struct { uint32_t state; int32_t fd; } d = { 99, 0 };
	size_t len = sizeof(d);
	assert_int_equal(feature(t, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
				 NULL, 0, &d, &len),
			 0);
	assert_int_equal(len, sizeof(d));
	assert_int_equal(d.fd, -1);
	assert_int_equal(d.state, uvfio_device_mig_state(t->dev));
	return d.state;
}

/* A complete stream: reads the saving session to its end. */
__attribute__((unused)) static size_t drain(struct tdev *t, uint8_t *buf, size_t cap, size_t chunk)
{
	size_t n = 0;
	for (;;) {
		size_t want = cap - n < chunk ? cap - n : chunk;
		ssize_t r = uvfio_device_mig_data_read(t->dev, buf + n, want);
		assert_true(r >= 0);
		if (r == 0)
			return n;
		n += (size_t)r;
		assert_true(n < cap);
	}
}

/* A good stream for ident carrying bar. */
__attribute__((unused)) static size_t good_stream(const uint8_t *bar, uint8_t *buf, size_t cap)
{
	struct uvfio_mig_writer *w;
	struct uvfio_mig_identity id = ident;
	id.state_version = 1;
	assert_int_equal(uvfio_mig_writer_new(&id, &w), 0);
	assert_int_equal(uvfio_mig_writer_section(w, SEC_MEM, bar, MEM_SIZE), 0);
	assert_int_equal(uvfio_mig_writer_end(w), 0);
	ssize_t n = uvfio_mig_writer_read(w, buf, cap);
	assert_true(n > 0 && (size_t)n < cap);
	uvfio_mig_writer_free(w);
	return (size_t)n;
}

#endif
