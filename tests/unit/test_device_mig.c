/* SPDX-License-Identifier: MIT */
/*
 * The device core's migration: arcs reach the driver exactly as the walker plans them, the
 * sessions and the framed stream, refused streams, quiescence of DMA and interrupts, the
 * client access rules of each state. DMA logging: test_device_mig_log.c.
 */
#include "device_mig_fixture.h"

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
	size_t take; /* 0: all; else at most this many bytes per send */
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
	if (k->take && k->take < total) {
		k->len += k->take; /* the rest is not ours: the stream hands it out again */
		return (int)k->take;
	}
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
	/* A transport that takes only part: that part is consumed, the rest comes next. */
	k.take = 3;
	assert_int_equal(uvfio_device_mig_data_send(src->dev, 10, sink_send, &k), 3);
	assert_int_equal(uvfio_device_mig_data_send(src->dev, 10, sink_send, &k), 3);
	k.take = 0;
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
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
