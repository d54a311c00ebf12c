/* SPDX-License-Identifier: MIT */
/*
 * The device core's migration: arcs reach the driver exactly as the walker plans them, the
 * sessions and the framed stream, refused streams, quiescence of DMA and interrupts, the
 * client access rules of each state, and DMA logging through the features.
 */
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

static int set_state(struct tdev *t, uint32_t state)
{
	struct { uint32_t state; int32_t fd; } d = { state, -1 };
	return feature(t, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &d,
		       sizeof(d), NULL, NULL);
}

static uint32_t get_state(struct tdev *t)
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
static size_t drain(struct tdev *t, uint8_t *buf, size_t cap, size_t chunk)
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
static size_t good_stream(const uint8_t *bar, uint8_t *buf, size_t cap)
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

/* ---- tests ---- */

static const uint32_t flag_sets[] = {
	UVFIO_MIGRATION_STOP_COPY,
	UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P,
	UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_PRE_COPY,
	UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P | UVFIO_MIGRATION_PRE_COPY,
};

static int plan_step(void *opaque, uint32_t from, uint32_t to, bool *broken)
{
	return 0;
}

/* Every (current, requested) pair: the driver sees exactly the walker's arcs, in order. */
static void test_arcs_reach_driver(void **unused)
{
	uint8_t stream[512];
	for (size_t f = 0; f < 4; f++) {
		struct tdev *t = tdev_new(flag_sets[f]);
		for (uint32_t cur = 1; cur < UVFIO_MIG_STATE_NR; cur++) {
			if (!uvfio_mig_state_supported(flag_sets[f], cur))
				continue;
			for (uint32_t target = 0; target < UVFIO_MIG_STATE_NR; target++) {
				assert_int_equal(uvfio_device_reset(t->dev), 0);
				assert_int_equal(set_state(t, cur), 0);
				if (cur == S_RESUMING) {
					size_t n = good_stream(t->bar, stream, sizeof(stream));
					assert_int_equal(uvfio_device_mig_data_write(t->dev, stream, n),
							 (ssize_t)n);
				}
				uint32_t expect = cur;
				struct uvfio_mig_path path;
				int want = uvfio_mig_walk(flag_sets[f], &expect, target, plan_step, NULL,
							  &path);
				t->nr_arcs = 0;
				assert_int_equal(set_state(t, target), want);
				assert_int_equal(get_state(t), want == 0 ? target : cur);
				assert_int_equal(t->nr_arcs, want == 0 ? path.nr_arcs : 0);
				for (unsigned i = 0; want == 0 && i < path.nr_arcs; i++) {
					assert_int_equal(t->arcs[i].from, path.arcs[i].from);
					assert_int_equal(t->arcs[i].to, path.arcs[i].to);
				}
			}
		}
		tdev_free(t);
	}
}

static void test_feature_ops(void **unused)
{
	struct tdev *t = tdev_new(UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_PRE_COPY);
	uint64_t v = 0;
	size_t len = sizeof(v);
	assert_int_equal(feature(t, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION, NULL,
				 0, &v, &len),
			 0);
	assert_int_equal(v, UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_PRE_COPY);
	/* PROBE answers for the ops a feature has, and only those. */
	uint32_t probe = VFIO_DEVICE_FEATURE_PROBE;
	assert_int_equal(feature(t, probe | VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION,
				 NULL, 0, NULL, NULL),
			 0);
	assert_int_equal(feature(t, probe | VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIGRATION,
				 NULL, 0, NULL, NULL),
			 -EINVAL);
	assert_int_equal(feature(t, probe | VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET |
					    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
				 NULL, 0, NULL, NULL),
			 0);
	assert_int_equal(feature(t, probe | VFIO_DEVICE_FEATURE_GET |
					    VFIO_DEVICE_FEATURE_DMA_LOGGING_START,
				 NULL, 0, NULL, NULL),
			 -EINVAL);
	/* Short SET data, a GET reply that does not fit, an unknown state. */
	uint32_t short_state = S_STOP;
	assert_int_equal(feature(t, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
				 &short_state, sizeof(short_state), NULL, NULL),
			 -EINVAL);
	len = 4;
	assert_int_equal(feature(t, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION, NULL,
				 0, &v, &len),
			 -EINVAL);
	assert_int_equal(set_state(t, 42), -EINVAL);
	assert_int_equal(set_state(t, S_ERROR), -EINVAL);
	assert_int_equal(get_state(t), S_RUNNING);
	/* MIG_DATA_SIZE counts the stream, framing included. */
	len = sizeof(v);
	assert_int_equal(feature(t, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
				 NULL, 0, &v, &len),
			 0);
	assert_true(v >= UVFIO_MIG_HEADER_SIZE);
	/* Features the core does not own go to the driver (which has none). */
	assert_int_equal(feature(t, VFIO_DEVICE_FEATURE_GET | 0x99, NULL, 0, &v, &len), -ENOTTY);
	tdev_free(t);

	/* A device that is not migratable has none of them. */
	struct uvfio_device *plain = uvfio_device_new(&dev_ops, 0, 1, 0);
	len = sizeof(v);
	assert_int_equal(uvfio_device_feature(plain, VFIO_DEVICE_FEATURE_GET |
							     VFIO_DEVICE_FEATURE_MIGRATION,
					      NULL, 0, &v, &len),
			 -ENOTTY);
	assert_int_equal(uvfio_device_mig_state(plain), S_RUNNING);
	assert_int_equal(uvfio_device_mig_data_read(plain, &v, sizeof(v)), -ENOTTY);
	assert_int_equal(uvfio_device_mig_data_write(plain, &v, sizeof(v)), -ENOTTY);
	uint64_t d;
	assert_int_equal(uvfio_device_mig_precopy_info(plain, &v, &d), -ENOTTY);
	uvfio_device_free(plain);
}

static void test_set_migration_validates(void **unused)
{
	struct uvfio_device *dev = uvfio_device_new(&dev_ops, 0, 1, 0);
	struct uvfio_migration_ops ops = { .flags = UVFIO_MIGRATION_P2P, .step = t_step,
					   .save = t_save, .load = t_load };
	assert_int_equal(uvfio_device_set_migration(dev, &ops, &ident), -EINVAL);
	ops.flags = UVFIO_MIGRATION_STOP_COPY;
	ops.load = NULL;
	assert_int_equal(uvfio_device_set_migration(dev, &ops, &ident), -EINVAL);
	ops.load = t_load;
	struct uvfio_mig_identity noname = ident;
	noname.driver = NULL;
	assert_int_equal(uvfio_device_set_migration(dev, &ops, &noname), -EINVAL);
	assert_int_equal(uvfio_device_set_migration(dev, &ops, &ident), 0);
	assert_int_equal(uvfio_device_set_migration(dev, &ops, &ident), -EBUSY);
	uvfio_device_free(dev);
}

static void test_stop_copy_round_trip(void **unused)
{
	struct tdev *src = tdev_new(UVFIO_MIGRATION_STOP_COPY);
	struct tdev *dst = tdev_new(UVFIO_MIGRATION_STOP_COPY);
	static uint8_t stream[4096];
	for (int i = 0; i < MEM_SIZE; i++)
		src->bar[i] = (uint8_t)(i * 7 + 1);

	uint8_t b;
	assert_int_equal(uvfio_device_mig_data_read(src->dev, &b, 1), -EINVAL); /* RUNNING */
	assert_int_equal(set_state(src, S_STOP_COPY), 0);
	size_t n = drain(src, stream, sizeof(stream), 7);
	assert_true(n > MEM_SIZE);
	assert_int_equal(uvfio_device_mig_data_read(src->dev, &b, 1), 0); /* end of stream */
	assert_int_equal(set_state(src, S_STOP), 0);
	assert_int_equal(uvfio_device_mig_data_read(src->dev, &b, 1), -EINVAL);

	assert_int_equal(uvfio_device_mig_data_write(dst->dev, stream, n), -EINVAL); /* RUNNING */
	assert_int_equal(set_state(dst, S_RESUMING), 0);
	for (size_t off = 0; off < n; off += 5) {
		size_t k = n - off < 5 ? n - off : 5;
		assert_int_equal(uvfio_device_mig_data_write(dst->dev, stream + off, k), (ssize_t)k);
	}
	assert_int_equal(set_state(dst, S_RUNNING), 0);
	assert_int_equal(dst->loads, 1);
	assert_memory_equal(dst->bar, src->bar, MEM_SIZE);
	assert_string_equal(uvfio_device_mig_error(dst->dev), "");
	tdev_free(src);
	tdev_free(dst);
}

struct sink {
	uint8_t buf[4096];
	size_t len;
	int fail; /* the next send fails with this */
};

static int sink_send(void *opaque, const struct iovec *iov, int nr, size_t bytes)
{
	struct sink *k = opaque;
	size_t total = 0;
	if (k->fail)
		return k->fail;
	for (int i = 0; i < nr; i++) {
		memcpy(k->buf + k->len + total, iov[i].iov_base, iov[i].iov_len);
		total += iov[i].iov_len;
	}
	assert_int_equal(total, bytes);
	k->len += total;
	return 0;
}

/* The zero-copy read: bytes are consumed only when the transport sent them. */
static void test_data_send(void **unused)
{
	struct tdev *src = tdev_new(UVFIO_MIGRATION_STOP_COPY);
	static uint8_t ref[4096];
	static struct sink k;
	for (int i = 0; i < MEM_SIZE; i++)
		src->bar[i] = (uint8_t)(i + 3);
	assert_int_equal(uvfio_device_mig_data_send(src->dev, 10, sink_send, &k), -EINVAL);
	assert_int_equal(set_state(src, S_STOP_COPY), 0);
	k.fail = -EPIPE;
	assert_int_equal(uvfio_device_mig_data_send(src->dev, 10, sink_send, &k), -EPIPE);
	k.fail = 0;
	assert_int_equal(uvfio_device_mig_data_send(src->dev, 10, sink_send, &k), 10);
	ssize_t n;
	while ((n = uvfio_device_mig_data_send(src->dev, 33, sink_send, &k)) > 0)
		;
	assert_int_equal(n, 0);
	/* The same stream a fresh read gives. */
	assert_int_equal(set_state(src, S_STOP), 0);
	assert_int_equal(set_state(src, S_STOP_COPY), 0);
	size_t len = drain(src, ref, sizeof(ref), 4096);
	assert_int_equal(len, k.len);
	assert_memory_equal(ref, k.buf, len);
	assert_int_equal(uvfio_device_mig_data_send(src->dev, 10, NULL, &k), -EINVAL);
	tdev_free(src);
}

static void test_precopy_accounting(void **unused)
{
	struct tdev *src = tdev_new(UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_PRE_COPY);
	struct tdev *dst = tdev_new(UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_PRE_COPY);
	static uint8_t stream[2 * INITIAL_SIZE];
	uint64_t init, dirty;

	assert_int_equal(uvfio_device_mig_precopy_info(src->dev, &init, &dirty), -EINVAL);
	assert_int_equal(set_state(src, S_PRE_COPY), 0);
	assert_int_equal(uvfio_device_mig_precopy_info(src->dev, &init, &dirty), 0);
	assert_true(init > INITIAL_SIZE); /* the queued initial section, framed */
	assert_int_equal(dirty, 0);
	uint64_t first = init;
	size_t n = 0;
	ssize_t r = uvfio_device_mig_data_read(src->dev, stream, 100);
	assert_int_equal(r, 100);
	n += 100;
	assert_int_equal(uvfio_device_mig_precopy_info(src->dev, &init, &dirty), 0);
	assert_int_equal(init, first - 100);
	n += drain(src, stream + n, sizeof(stream) - n, 4096);
	assert_int_equal(n, first);
	assert_int_equal(uvfio_device_mig_precopy_info(src->dev, &init, &dirty), 0);
	assert_int_equal(init, 0);
	assert_int_equal(dirty, 0);
	/* The device dirties state: it shows as dirty bytes, then as data. */
	src->dirty = true;
	assert_int_equal(uvfio_device_mig_precopy_info(src->dev, &init, &dirty), 0);
	assert_int_equal(dirty, 8);
	size_t more = drain(src, stream + n, sizeof(stream) - n, 4096);
	assert_true(more > 8);
	n += more;
	src->bar[0] = 0xee;
	assert_int_equal(set_state(src, S_STOP_COPY), 0);
	assert_int_equal(uvfio_device_mig_precopy_info(src->dev, &init, &dirty), -EINVAL);
	n += drain(src, stream + n, sizeof(stream) - n, 4096);
	assert_int_equal(set_state(src, S_STOP), 0);

	assert_int_equal(set_state(dst, S_RESUMING), 0);
	assert_int_equal(uvfio_device_mig_data_write(dst->dev, stream, n), (ssize_t)n);
	assert_int_equal(set_state(dst, S_STOP), 0);
	assert_int_equal(dst->bar[0], 0xee);
	tdev_free(src);
	tdev_free(dst);
}

/* Each refusal leaves the destination in RESUMING with its state untouched and says why; a
 * good stream is still accepted afterwards. */
static void test_bad_streams_refused(void **unused)
{
	struct tdev *dst = tdev_new(UVFIO_MIGRATION_STOP_COPY);
	uint8_t good[512], bad[512], bar[MEM_SIZE];
	memset(bar, 0xab, sizeof(bar));
	size_t n = good_stream(bar, good, sizeof(good));
	memset(dst->bar, 0x11, MEM_SIZE);
	assert_int_equal(set_state(dst, S_RESUMING), 0);

	struct { const char *what; int err; } cases[] = {
		{ "truncated", -ENODATA }, { "flipped", -EBADMSG }, { "other device", -ENODEV },
		{ "driver refuses", -EINVAL },
	};
	for (size_t c = 0; c < 4; c++) {
		size_t len = n;
		memcpy(bad, good, n);
		dst->refuse_load = false;
		if (c == 0) {
			len = n - 1;
		} else if (c == 1) {
			bad[UVFIO_MIG_HEADER_SIZE + UVFIO_MIG_SECTION_HEADER_SIZE + 3] ^= 0x10;
		} else if (c == 2) {
			struct uvfio_mig_writer *w;
			struct uvfio_mig_identity other = ident;
			other.device = 0x9999;
			other.state_version = 1;
			assert_int_equal(uvfio_mig_writer_new(&other, &w), 0);
			assert_int_equal(uvfio_mig_writer_section(w, SEC_MEM, bar, MEM_SIZE), 0);
			assert_int_equal(uvfio_mig_writer_end(w), 0);
			len = (size_t)uvfio_mig_writer_read(w, bad, sizeof(bad));
			uvfio_mig_writer_free(w);
		} else {
			dst->refuse_load = true;
		}
		ssize_t w = uvfio_device_mig_data_write(dst->dev, bad, len);
		/* Another device is refused as soon as the header arrives; the rest at commit. */
		assert_true(w == (ssize_t)len || w == cases[c].err);
		assert_int_equal(set_state(dst, S_STOP), cases[c].err);
		assert_int_equal(get_state(dst), S_RESUMING);
		assert_true(strlen(uvfio_device_mig_error(dst->dev)) > 0);
		assert_int_equal(dst->bar[0], 0x11);
		assert_int_equal(dst->loads, 0);
	}
	dst->refuse_load = false;
	assert_int_equal(uvfio_device_mig_data_write(dst->dev, good, n), (ssize_t)n);
	assert_int_equal(set_state(dst, S_STOP), 0);
	assert_memory_equal(dst->bar, bar, MEM_SIZE);
	tdev_free(dst);
}

static void test_dma_quiesced(void **unused)
{
	struct tdev *t = tdev_new(UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P);
	uint32_t v = 0x12345678, r = 0;
	struct uvfio_dma_ref ref;

	assert_int_equal(uvfio_dma_write(t->dev, DMA_IOVA, &v, sizeof(v)), 0);
	assert_int_equal(set_state(t, S_RUNNING_P2P), 0); /* P2P: our devices reach no peers */
	assert_int_equal(uvfio_dma_write(t->dev, DMA_IOVA + 4, &v, sizeof(v)), 0);
	uint32_t quiet[] = { S_STOP, S_STOP_COPY };
	for (int i = 0; i < 2; i++) {
		assert_int_equal(set_state(t, quiet[i]), 0);
		uint32_t other = 0xdeadbeef;
		assert_int_equal(uvfio_dma_write(t->dev, DMA_IOVA + 8, &other, 4), -EPERM);
		assert_int_equal(uvfio_dma_read(t->dev, DMA_IOVA, &r, 4), -EPERM);
		assert_int_equal(uvfio_dma_get(t->dev, DMA_IOVA, 4, UVFIO_DMA_WRITE, &ref), -EPERM);
		assert_int_equal(*(uint32_t *)(t->mem + 8), 0); /* untouched */
	}
	assert_int_equal(set_state(t, S_RUNNING), 0);
	assert_int_equal(uvfio_dma_read(t->dev, DMA_IOVA, &r, 4), 0);
	assert_int_equal(r, v);
	tdev_free(t);
}

struct writer_arg {
	struct tdev *t;
	int refused;
	bool stop;
};

/* Writes an increasing counter over the whole window until told to stop. */
static void *dma_writer(void *p)
{
	struct writer_arg *a = p;
	static uint8_t buf[DMA_SIZE];
	for (uint32_t i = 1; !__atomic_load_n(&a->stop, __ATOMIC_ACQUIRE); i++) {
		memset(buf, (int)(i & 0xff), sizeof(buf));
		if (uvfio_dma_write(a->t->dev, DMA_IOVA, buf, sizeof(buf)) == -EPERM)
			__atomic_add_fetch(&a->refused, 1, __ATOMIC_RELEASE);
	}
	return NULL;
}

/* Once the arc into STOP returns, no device byte lands in memory, however busy the device. */
static void test_stop_waits_for_copies(void **unused)
{
	struct tdev *t = tdev_new(UVFIO_MIGRATION_STOP_COPY);
	static uint8_t snap[DMA_SIZE];
	struct writer_arg a = { .t = t };
	pthread_t th;
	assert_int_equal(pthread_create(&th, NULL, dma_writer, &a), 0);
	for (int round = 0; round < 20; round++) {
		t->nr_arcs = 0;
		assert_int_equal(set_state(t, S_STOP), 0);
		memcpy(snap, t->mem, DMA_SIZE);
		int seen = __atomic_load_n(&a.refused, __ATOMIC_ACQUIRE);
		while (__atomic_load_n(&a.refused, __ATOMIC_ACQUIRE) < seen + 3)
			sched_yield();
		assert_memory_equal(snap, t->mem, DMA_SIZE);
		assert_int_equal(set_state(t, S_RUNNING), 0);
	}
	__atomic_store_n(&a.stop, true, __ATOMIC_RELEASE);
	pthread_join(th, NULL);
	tdev_free(t);
}

static uint64_t fired(int fd)
{
	uint64_t v = 0;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static void test_irqs_deferred(void **unused)
{
	struct tdev *t = tdev_new(UVFIO_MIGRATION_STOP_COPY);
	int efd = eventfd(0, EFD_NONBLOCK);
	assert_int_equal(uvfio_device_set_irqs(t->dev, UVFIO_IRQ_SET_DATA_EVENTFD |
							       UVFIO_IRQ_SET_ACTION_TRIGGER,
					       0, 0, 1, NULL, &efd),
			 0);
	assert_int_equal(uvfio_device_irq_trigger(t->dev, 0, 0), 0);
	assert_int_equal(fired(efd), 1);
	/* Raised in STOP and STOP_COPY: nothing reaches the eventfd until RUNNING. */
	assert_int_equal(set_state(t, S_STOP), 0);
	assert_int_equal(uvfio_device_irq_trigger(t->dev, 0, 0), 0);
	assert_int_equal(set_state(t, S_STOP_COPY), 0);
	assert_int_equal(uvfio_device_irq_trigger(t->dev, 0, 0), 0);
	assert_int_equal(fired(efd), 0);
	assert_int_equal(set_state(t, S_STOP), 0);
	assert_int_equal(fired(efd), 0);
	assert_int_equal(set_state(t, S_RUNNING), 0);
	assert_int_equal(fired(efd), 1);
	/* A reset drops what a stopped device raised. */
	assert_int_equal(set_state(t, S_STOP), 0);
	assert_int_equal(uvfio_device_irq_trigger(t->dev, 0, 0), 0);
	assert_int_equal(uvfio_device_reset(t->dev), 0);
	assert_int_equal(get_state(t), S_RUNNING);
	assert_int_equal(fired(efd), 0);
	assert_int_equal(uvfio_device_irq_trigger(t->dev, 0, 0), 0);
	assert_int_equal(fired(efd), 1);
	tdev_free(t);
	close(efd);
}

/* The access table of docs/migration.md, state by state. */
static void test_access_rules(void **unused)
{
	const uint32_t all = UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P |
			     UVFIO_MIGRATION_PRE_COPY;
	struct {
		uint32_t state;
		int bar_write, cfg_write, read, irqs;
	} rules[] = {
		{ S_RUNNING, 0, 0, 0, 0 },	     { S_RUNNING_P2P, 0, 0, 0, 0 },
		{ S_PRE_COPY, 0, 0, 0, 0 },	     { S_PRE_COPY_P2P, 0, 0, 0, 0 },
		{ S_STOP, -EBUSY, 0, 0, 0 },	     { S_STOP_COPY, -EBUSY, -EBUSY, 0, 0 },
		{ S_RESUMING, -EBUSY, 0, 0, 0 },     { S_ERROR, -EIO, -EIO, -EIO, -EIO },
	};
	for (size_t i = 0; i < sizeof(rules) / sizeof(rules[0]); i++) {
		struct tdev *t = tdev_new(all);
		if (rules[i].state == S_ERROR) {
			t->fail_from = S_RUNNING;
			t->fail_to = S_RUNNING_P2P;
			t->fail_broken = true;
			assert_int_equal(set_state(t, S_STOP), -EIO);
		} else {
			assert_int_equal(set_state(t, rules[i].state), 0);
		}
		assert_int_equal(get_state(t), rules[i].state);
		uint32_t v = 0xa5a5a5a5;
		ssize_t expect_w = rules[i].bar_write ? rules[i].bar_write : 4;
		assert_int_equal(uvfio_device_region_rw(t->dev, 0, 0, &v, 4, true), expect_w);
		expect_w = rules[i].cfg_write ? rules[i].cfg_write : 4;
		assert_int_equal(uvfio_device_region_rw(t->dev, VFIO_PCI_CONFIG_REGION_INDEX, 0x40,
							&v, 4, true),
				 expect_w);
		ssize_t expect_r = rules[i].read ? rules[i].read : 4;
		assert_int_equal(uvfio_device_region_rw(t->dev, 0, 0, &v, 4, false), expect_r);
		assert_int_equal(uvfio_device_region_rw(t->dev, VFIO_PCI_CONFIG_REGION_INDEX, 0, &v,
							4, false),
				 expect_r);
		assert_int_equal(uvfio_device_set_irqs(t->dev, UVFIO_IRQ_SET_DATA_NONE |
								       UVFIO_IRQ_SET_ACTION_MASK,
						       0, 0, 1, NULL, NULL),
				 rules[i].irqs);
		/* Reset always works and brings the device back to RUNNING, ERROR included. */
		assert_int_equal(uvfio_device_reset(t->dev), 0);
		assert_int_equal(get_state(t), S_RUNNING);
		assert_int_equal(uvfio_device_region_rw(t->dev, 0, 0, &v, 4, true), 4);
		tdev_free(t);
	}
}

static void test_failed_arc_stays(void **unused)
{
	struct tdev *t = tdev_new(UVFIO_MIGRATION_STOP_COPY);
	t->fail_from = S_STOP;
	t->fail_to = S_STOP_COPY;
	assert_int_equal(set_state(t, S_STOP_COPY), -EIO);
	assert_int_equal(get_state(t), S_STOP); /* the arc before it completed */
	uint32_t v;
	assert_int_equal(uvfio_dma_read(t->dev, DMA_IOVA, &v, 4), -EPERM); /* still quiesced */
	assert_int_equal(uvfio_device_mig_data_read(t->dev, &v, 4), -EINVAL); /* no session */
	t->fail_from = t->fail_to = 0;
	assert_int_equal(set_state(t, S_RUNNING), 0);
	assert_int_equal(uvfio_dma_read(t->dev, DMA_IOVA, &v, 4), 0);
	tdev_free(t);
}

/* ---- DMA logging ---- */

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
		cmocka_unit_test(test_arcs_reach_driver),
		cmocka_unit_test(test_feature_ops),
		cmocka_unit_test(test_set_migration_validates),
		cmocka_unit_test(test_stop_copy_round_trip),
		cmocka_unit_test(test_data_send),
		cmocka_unit_test(test_precopy_accounting),
		cmocka_unit_test(test_bad_streams_refused),
		cmocka_unit_test(test_dma_quiesced),
		cmocka_unit_test(test_stop_waits_for_copies),
		cmocka_unit_test(test_irqs_deferred),
		cmocka_unit_test(test_access_rules),
		cmocka_unit_test(test_failed_arc_stays),
		cmocka_unit_test(test_logging),
		cmocka_unit_test(test_logging_bad_start),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
