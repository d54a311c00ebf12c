/* SPDX-License-Identifier: MIT */
/*
 * The edu-mig unit tests' fixture: devices created through the driver core with a memfd DMA
 * window as guest RAM, region and feature helpers, and a whole migration (stop-copy on one
 * device, resume on another) through the device core's entry points. Header-only: each test
 * program is one file.
 */
#ifndef UVFIO_TEST_EDU_MIG_FIXTURE_H
#define UVFIO_TEST_EDU_MIG_FIXTURE_H

#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <uvfio/dma.h>
#include <uvfio/driver.h>
#include <uvfio/migration.h>

#include "../../drivers/edu-mig/edu_mig.h"
#include "util/vfio_compat.h"

#define S_STOP UVFIO_MIG_STATE_STOP
#define S_RUNNING UVFIO_MIG_STATE_RUNNING
#define S_STOP_COPY UVFIO_MIG_STATE_STOP_COPY
#define S_RESUMING UVFIO_MIG_STATE_RESUMING
#define S_PRE_COPY UVFIO_MIG_STATE_PRE_COPY

#define RAM_IOVA 0x100000ull
#define RAM_SIZE 0x10000ull
#define DIRTY_OFF 0x8000ull /* the dirtier's range in RAM */
#define DIRTY_LEN 0x4000ull

struct tdev {
	struct uvfio_pci_device *p;
	struct uvfio_device *dev;
	struct edu_mig *m;
	uint8_t *ram; /* client memory mapped at RAM_IOVA */
	int memfd;
};

static inline void tdev_new(struct tdev *t, const char *decl)
{
	memset(t, 0, sizeof(*t));
	uvfio_register_builtin_drivers();
	assert_int_equal(uvfio_pci_create(decl, &t->p), 0);
	t->dev = uvfio_pci_to_device(t->p);
	t->m = edu_mig_from_pdev(t->p);
	assert_non_null(t->m);
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	assert_int_equal(uvfio_pci_cfg_access(t->p, PCI_COMMAND, &cmd, 2, true), 2);
	t->memfd = memfd_create("ram", MFD_CLOEXEC);
	assert_true(t->memfd >= 0);
	assert_int_equal(ftruncate(t->memfd, RAM_SIZE), 0);
	t->ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, t->memfd, 0);
	assert_true(t->ram != MAP_FAILED);
	assert_int_equal(uvfio_dma_space_add(uvfio_device_dma_space(t->dev), RAM_IOVA, RAM_SIZE,
					     UVFIO_DMA_READ | UVFIO_DMA_WRITE, t->memfd, 0),
			 0);
}

static inline void tdev_free(struct tdev *t)
{
	uvfio_pci_device_free(t->p);
	munmap(t->ram, RAM_SIZE);
	close(t->memfd);
}

struct pair {
	struct tdev src, dst;
};

static inline int setup_pair(void **state)
{
	struct pair *pr = calloc(1, sizeof(*pr));
	assert_non_null(pr);
	tdev_new(&pr->src, "edu-mig,mem=64K");
	tdev_new(&pr->dst, "edu-mig,mem=64K");
	*state = pr;
	return 0;
}

static inline int teardown_pair(void **state)
{
	struct pair *pr = *state;
	tdev_free(&pr->src);
	tdev_free(&pr->dst);
	free(pr);
	return 0;
}

/* ---- access helpers ---- */

static inline uint64_t rd(struct tdev *t, uint32_t region, uint64_t off, size_t size)
{
	uint64_t v = 0;
	assert_int_equal(uvfio_device_region_rw(t->dev, region, off, &v, size, false),
			 (ssize_t)size);
	return v;
}

static inline void wr(struct tdev *t, uint32_t region, uint64_t off, uint64_t v, size_t size)
{
	ssize_t n = uvfio_device_region_rw(t->dev, region, off, &v, size, true);
	assert_int_equal(n, (ssize_t)size);
}

static inline void read_block(struct tdev *t, uint32_t region, void *buf, size_t len)
{
	assert_int_equal(uvfio_device_region_rw(t->dev, region, 0, buf, len, false), (ssize_t)len);
}

static inline uint64_t counter(struct tdev *t)
{
	return rd(t, EDU_MIG_DIRTIER_REGION, DIRTIER_REG_COUNTER, 8);
}

static inline int feature(struct tdev *t, uint32_t flags, const void *in, size_t len, void *out,
		   size_t *out_len)
{
	return uvfio_device_feature(t->dev, flags, in, len, out, out_len);
}

static inline int set_state(struct tdev *t, uint32_t state)
{
	struct { uint32_t state; int32_t fd; } d = { state, -1 };
	return feature(t, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &d,
		       sizeof(d), NULL, NULL);
}

static inline uint64_t events(int fd)
{
	uint64_t n = 0;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

/* MSI with one eventfd (vfio-pci semantics enable MSI in config space). */
static inline int msi_eventfd(struct tdev *t)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_EVENTFD |
						       UVFIO_IRQ_SET_ACTION_TRIGGER,
					       UVFIO_PCI_MSI_IRQ, 0, 1, NULL, &fd),
			 0);
	assert_true(uvfio_pci_msi_enabled(t->p));
	return fd;
}

/* Everything a saving session has to give, until end of stream (or, in PRE_COPY, for now). */
static inline uint8_t *drain(struct tdev *t, size_t *len)
{
	size_t cap = 1 << 20, n = 0;
	uint8_t *buf = malloc(cap);
	assert_non_null(buf);
	for (;;) {
		if (cap - n < 65536) {
			cap *= 2;
			buf = realloc(buf, cap);
			assert_non_null(buf);
		}
		ssize_t r = uvfio_device_mig_data_read(t->dev, buf + n, 65536);
		assert_true(r >= 0);
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*len = n;
	return buf;
}

/* dst from RUNNING to RESUMING, takes the stream, then RESUMING -> STOP: its result. */
static inline int resume(struct tdev *dst, const uint8_t *stream, size_t len)
{
	if (uvfio_device_mig_state(dst->dev) != S_RESUMING)
		assert_int_equal(set_state(dst, S_RESUMING), 0);
	assert_int_equal(uvfio_device_mig_data_write(dst->dev, stream, len), (ssize_t)len);
	return set_state(dst, S_STOP);
}

static inline uint8_t *stop_copy(struct tdev *src, size_t *len)
{
	assert_int_equal(set_state(src, S_STOP_COPY), 0);
	return drain(src, len);
}

static inline void start_dirtier(struct tdev *t, uint32_t rate)
{
	const uint32_t R = EDU_MIG_DIRTIER_REGION;
	wr(t, R, DIRTIER_REG_BASE, RAM_IOVA + DIRTY_OFF, 8);
	wr(t, R, DIRTIER_REG_LEN, DIRTY_LEN, 8);
	wr(t, R, DIRTIER_REG_RATE, rate, 4);
	wr(t, R, DIRTIER_REG_ENABLE, 1, 4);
}


#endif
