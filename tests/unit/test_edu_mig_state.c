/* SPDX-License-Identifier: MIT */
/*
 * edu-mig's migration data through the device core: save on one device and load on another,
 * pre-copy with device memory written meanwhile, streams the driver must refuse, and memory
 * staged while a stream arrives.
 */
#include "edu_mig_fixture.h"

/* ---- save on one device, load on another ---- */

static const uint32_t edu_regs[] = {
	EDU_REG_ID,	 EDU_REG_LIVENESS, EDU_REG_FACT,    EDU_REG_STATUS,
	EDU_REG_IRQ_STATUS, EDU_REG_DMA_SRC,  EDU_REG_DMA_DST, EDU_REG_DMA_CNT,
	EDU_REG_DMA_CMD,
};

static void assert_same_device(struct tdev *a, struct tdev *b)
{
	for (size_t i = 0; i < sizeof(edu_regs) / sizeof(edu_regs[0]); i++) {
		size_t size = edu_regs[i] >= 0x80 ? 8 : 4;
		assert_int_equal(rd(a, 0, edu_regs[i], size), rd(b, 0, edu_regs[i], size));
	}
	struct edu_regs ra, rb;
	static uint8_t ba[EDU_DMA_BUF_SIZE], bb[EDU_DMA_BUF_SIZE];
	edu_get_state(&a->m->edu, &ra, ba);
	edu_get_state(&b->m->edu, &rb, bb);
	assert_memory_equal(ba, bb, sizeof(ba));
	static uint8_t ca[UVFIO_PCI_CFG_SIZE], cb[UVFIO_PCI_CFG_SIZE];
	read_block(a, UVFIO_PCI_CONFIG_REGION, ca, sizeof(ca));
	read_block(b, UVFIO_PCI_CONFIG_REGION, cb, sizeof(cb));
	assert_memory_equal(ca, cb, sizeof(ca));
	for (uint64_t off = 0; off < EDU_MIG_DIRTIER_SIZE; off += 8)
		assert_int_equal(rd(a, EDU_MIG_DIRTIER_REGION, off, 8),
				 rd(b, EDU_MIG_DIRTIER_REGION, off, 8));
	static uint8_t ma[65536], mb[65536];
	read_block(a, EDU_MIG_MEM_BAR, ma, sizeof(ma));
	read_block(b, EDU_MIG_MEM_BAR, mb, sizeof(mb));
	assert_memory_equal(ma, mb, sizeof(ma));
}

/* A source with something in every part of its state. */
static void program_source(struct tdev *s)
{
	wr(s, 0, EDU_REG_LIVENESS, 0x12345678, 4);
	/* Factorial with its interrupt: INTx asserted, irq_status set. */
	wr(s, 0, EDU_REG_STATUS, EDU_STATUS_IRQFACT, 4);
	wr(s, 0, EDU_REG_FACT, 10, 4);
	assert_int_equal(edu_wait_idle(&s->m->edu), 0);
	assert_int_equal(rd(s, 0, EDU_REG_FACT, 4), 3628800);
	/* The buffer filled by DMA from RAM. */
	for (unsigned i = 0; i < EDU_DMA_BUF_SIZE; i++)
		s->ram[i] = (uint8_t)(i * 7 + 3);
	wr(s, 0, EDU_REG_DMA_SRC, RAM_IOVA, 8);
	wr(s, 0, EDU_REG_DMA_DST, EDU_DMA_BUF_ADDR, 8);
	wr(s, 0, EDU_REG_DMA_CNT, EDU_DMA_BUF_SIZE, 8);
	wr(s, 0, EDU_REG_DMA_CMD, EDU_DMA_START, 8);
	assert_int_equal(edu_wait_idle(&s->m->edu), 0);
	wr(s, 0, EDU_REG_DMA_SRC, 0xabc000, 8);
	for (uint64_t off = 0; off < 65536; off += 4096 + 8)
		wr(s, EDU_MIG_MEM_BAR, off, 0xfeed0000ull + off, 8);
	uint32_t msi = uvfio_pci_find_cap(s->p, PCI_CAP_ID_MSI);
	uint32_t v = 0xfee00000;
	assert_int_equal(uvfio_pci_cfg_access(s->p, msi + PCI_MSI_ADDRESS_LO, &v, 4, true), 4);
	start_dirtier(s, 4096);
}

static void test_save_load(void **state)
{
	struct pair *pr = *state;
	struct tdev *s = &pr->src, *d = &pr->dst;
	program_source(s);
	assert_true(uvfio_pci_cfg_read16(s->p, PCI_STATUS) & PCI_STATUS_INTERRUPT);
	dirtier_sync(&s->m->dirtier);
	size_t len;
	uint8_t *stream = stop_copy(s, &len);
	assert_true(counter(s) >= 1);
	assert_int_equal(resume(d, stream, len), 0);
	assert_same_device(s, d);
	assert_int_equal(rd(d, 0, EDU_REG_IRQ_STATUS, 4), EDU_IRQ_FACT);

	/* The destination runs on: the dirtier continues from the source's count. */
	uint64_t c = counter(d);
	memcpy(d->ram, s->ram, RAM_SIZE); /* the VMM moved guest memory */
	assert_int_equal(set_state(d, S_RUNNING), 0);
	dirtier_sync(&d->m->dirtier);
	dirtier_sync(&d->m->dirtier);
	assert_true(counter(d) > c);
	wr(d, 0, EDU_REG_LIVENESS, 1, 4);
	assert_int_equal(rd(d, 0, EDU_REG_LIVENESS, 4), 0xfffffffe);
	/* So does the source, once back in RUNNING. */
	assert_int_equal(set_state(s, S_RUNNING), 0);
	assert_int_equal(uvfio_device_mig_state(s->dev), S_RUNNING);
	free(stream);
}

static void test_precopy(void **unused)
{
	struct tdev s, d;
	tdev_new(&s, "edu-mig,mem=32M");
	tdev_new(&d, "edu-mig,mem=32M");
	const uint64_t late = 20ull << 20; /* beyond the first pre-copy batch */
	wr(&s, EDU_MIG_MEM_BAR, 0x3000, 0x1111, 8);
	assert_int_equal(set_state(&s, S_PRE_COPY), 0);
	uint64_t init = 0, dirty = 0;
	assert_int_equal(uvfio_device_mig_precopy_info(s.dev, &init, &dirty), 0);
	assert_true(init >= 32ull << 20);
	assert_int_equal(dirty, 0);
	/* Not sent yet: goes out as initial data, not dirty. */
	wr(&s, EDU_MIG_MEM_BAR, late, 0x2222, 8);
	assert_int_equal(uvfio_device_mig_precopy_info(s.dev, &init, &dirty), 0);
	assert_int_equal(dirty, 0);

	size_t n1, n2, n3;
	uint8_t *p1 = drain(&s, &n1);
	assert_true(n1 > 32ull << 20);
	assert_int_equal(uvfio_device_mig_precopy_info(s.dev, &init, &dirty), 0);
	assert_int_equal(init, 0);
	assert_int_equal(dirty, 0);
	/* Sent already: written again, it is dirty, exactly one page. */
	wr(&s, EDU_MIG_MEM_BAR, 0x3000, 0x3333, 8);
	wr(&s, EDU_MIG_MEM_BAR, 0x3008, 0x4444, 8);
	assert_int_equal(uvfio_device_mig_precopy_info(s.dev, &init, &dirty), 0);
	assert_int_equal(init, 0);
	assert_int_equal(dirty, 4096);
	uint64_t size = 0;
	size_t sl = sizeof(size);
	assert_int_equal(feature(&s, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE,
				 NULL, 0, &size, &sl),
			 0);
	assert_true(size > 4096 + uvfio_pci_state_size(s.p) && size < (1u << 20));
	uint8_t *p2 = drain(&s, &n2);
	assert_true(n2 >= 4096 && n2 < 8192);
	uint8_t *p3 = stop_copy(&s, &n3);
	assert_true(n3 < (1u << 20)); /* memory went in pre-copy */

	uint8_t *all = malloc(n1 + n2 + n3);
	assert_non_null(all);
	memcpy(all, p1, n1);
	memcpy(all + n1, p2, n2);
	memcpy(all + n1 + n2, p3, n3);
	assert_int_equal(resume(&d, all, n1 + n2 + n3), 0);
	assert_int_equal(rd(&d, EDU_MIG_MEM_BAR, 0x3000, 8), 0x3333);
	assert_int_equal(rd(&d, EDU_MIG_MEM_BAR, 0x3008, 8), 0x4444);
	assert_int_equal(rd(&d, EDU_MIG_MEM_BAR, late, 8), 0x2222);
	free(p1);
	free(p2);
	free(p3);
	free(all);
	tdev_free(&s);
	tdev_free(&d);
}

/* ---- refused streams ---- */

enum mut_op { DROP, DUP, PATCH, RESIZE, EXTRA };

struct mutation {
	uint32_t id; /* the section changed (or added, for EXTRA) */
	enum mut_op op;
	size_t off; /* PATCH/EXTRA: where val goes (little-endian, width bytes) */
	uint64_t val;
	unsigned width;
	size_t len; /* RESIZE/EXTRA: section length */
};

static void put_val(uint8_t *p, uint64_t v, unsigned width)
{
	for (unsigned i = 0; i < width; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

/* The good stream's sections, written again with one change. */
static uint8_t *mutate(struct tdev *t, const struct uvfio_mig_section *sec, size_t nr,
		       const struct mutation *mu, size_t *len)
{
	struct uvfio_mig_writer *w;
	assert_int_equal(uvfio_mig_writer_new(&t->m->ident, &w), 0);
	uint8_t *tmp = calloc(1, 1 << 20);
	assert_non_null(tmp);
	for (size_t i = 0; i < nr; i++) {
		const struct uvfio_mig_section *s = &sec[i];
		size_t n = s->len;
		memcpy(tmp, s->data, n);
		if (s->id == mu->id && mu->op == DROP)
			continue;
		if (s->id == mu->id && mu->op == PATCH)
			put_val(tmp + mu->off, mu->val, mu->width);
		if (s->id == mu->id && mu->op == RESIZE) {
			memset(tmp + n, 0, mu->len > n ? mu->len - n : 0);
			n = mu->len;
		}
		assert_int_equal(uvfio_mig_writer_section(w, s->id, tmp, n), 0);
		if (s->id == mu->id && mu->op == DUP)
			assert_int_equal(uvfio_mig_writer_section(w, s->id, tmp, n), 0);
	}
	if (mu->op == EXTRA) {
		memset(tmp, 0, mu->len);
		if (mu->id == EDU_MIG_SEC_DMA) {
			/* A queued job that matches the source's DMA registers... */
			put_val(tmp, 0xabc000, 8);
			put_val(tmp + 8, EDU_DMA_BUF_ADDR, 8);
			put_val(tmp + 16, EDU_DMA_BUF_SIZE, 8);
			put_val(tmp + 24, EDU_DMA_START, 8);
		}
		put_val(tmp + mu->off, mu->val, mu->width); /* ...but for this */
		assert_int_equal(uvfio_mig_writer_section(w, mu->id, tmp, mu->len), 0);
	}
	assert_int_equal(uvfio_mig_writer_end(w), 0);
	size_t cap = uvfio_mig_writer_pending(w);
	uint8_t *out = malloc(cap);
	assert_non_null(out);
	assert_int_equal(uvfio_mig_writer_read(w, out, cap), (ssize_t)cap);
	uvfio_mig_writer_free(w);
	free(tmp);
	*len = cap;
	return out;
}

/* What a refused load must not change. */
static uint8_t *snapshot(struct tdev *t, size_t *len)
{
	size_t n = 0, cap = 9 * 8 + UVFIO_PCI_CFG_SIZE + EDU_MIG_DIRTIER_SIZE + 65536;
	uint8_t *b = malloc(cap);
	assert_non_null(b);
	for (size_t i = 0; i < sizeof(edu_regs) / sizeof(edu_regs[0]); i++, n += 8) {
		uint64_t v = rd(t, 0, edu_regs[i], edu_regs[i] >= 0x80 ? 8 : 4);
		memcpy(b + n, &v, 8);
	}
	read_block(t, UVFIO_PCI_CONFIG_REGION, b + n, UVFIO_PCI_CFG_SIZE);
	n += UVFIO_PCI_CFG_SIZE;
	for (uint64_t off = 0; off < EDU_MIG_DIRTIER_SIZE; off += 8, n += 8) {
		uint64_t v = rd(t, EDU_MIG_DIRTIER_REGION, off, 8);
		memcpy(b + n, &v, 8);
	}
	read_block(t, EDU_MIG_MEM_BAR, b + n, 65536);
	*len = n + 65536;
	return b;
}

static void test_bad_streams(void **state)
{
	struct pair *pr = *state;
	struct tdev *s = &pr->src, *d = &pr->dst;
	const struct mutation bad[] = {
		/* id, op, off, val, width, len */
		{ EDU_MIG_SEC_CONFIG, DROP, 0, 0, 0, 0 },
		{ EDU_MIG_SEC_PCI, DROP, 0, 0, 0, 0 },
		{ EDU_MIG_SEC_REGS, DROP, 0, 0, 0, 0 },
		{ EDU_MIG_SEC_BUFFER, DROP, 0, 0, 0, 0 },
		{ EDU_MIG_SEC_DIRTIER, DROP, 0, 0, 0, 0 },
		{ EDU_MIG_SEC_REGS, DUP, 0, 0, 0, 0 },
		{ 99, EXTRA, 0, 0, 0, 8 }, /* unknown section */
		{ EDU_MIG_SEC_REGS, RESIZE, 0, 0, 0, EDU_MIG_REGS_SIZE - 1 },
		{ EDU_MIG_SEC_BUFFER, RESIZE, 0, 0, 0, EDU_DMA_BUF_SIZE + 1 },
		{ EDU_MIG_SEC_DIRTIER, RESIZE, 0, 0, 0, 32 },
		{ EDU_MIG_SEC_PCI, RESIZE, 0, 0, 0, 100 },
		{ EDU_MIG_SEC_CONFIG, PATCH, 0, 128 << 10, 8, 0 }, /* mem= differs */
		{ EDU_MIG_SEC_CONFIG, PATCH, 8, 0xffffffff, 8, 0 }, /* dma_mask= differs */
		{ EDU_MIG_SEC_REGS, PATCH, 8, 0x2, 4, 0 }, /* status bit that does not exist */
		{ EDU_MIG_SEC_REGS, PATCH, 40, EDU_DMA_START, 8, 0 }, /* start, no DMA section */
		{ EDU_MIG_SEC_DIRTIER, PATCH, 20, 3, 4, 0 }, /* enable bit 1 */
		{ EDU_MIG_SEC_DIRTIER, PATCH, 32, DIRTY_LEN, 8, 0 }, /* position past the range */
		{ EDU_MIG_SEC_PCI, PATCH, 24, 0x4321, 2, 0 }, /* another vendor's config space */
		{ EDU_MIG_SEC_MEM, EXTRA, 0, 0, 8, 8 }, /* memory section without bytes */
		{ EDU_MIG_SEC_MEM, EXTRA, 0, 65536 - 8, 8, 24 }, /* past the end */
		{ EDU_MIG_SEC_MEM, EXTRA, 0, UINT64_MAX - 7, 8, 24 }, /* wraps */
		{ EDU_MIG_SEC_DMA, EXTRA, 24, EDU_DMA_TO_RAM, 8, 32 }, /* no start bit */
		{ EDU_MIG_SEC_DMA, EXTRA, 0, 0x999000, 8, 32 }, /* not the registers' job */
		{ EDU_MIG_SEC_DMA, EXTRA, 0, 0, 0, 31 },
	};
	program_source(s);
	size_t len;
	uint8_t *good = stop_copy(s, &len);
	struct uvfio_mig_reader *r;
	assert_int_equal(uvfio_mig_reader_new(&s->m->ident, &r), 0);
	assert_int_equal(uvfio_mig_reader_write(r, good, len), (ssize_t)len);
	assert_int_equal(uvfio_mig_reader_finish(r), 0);
	const struct uvfio_mig_section *sec;
	size_t nr;
	assert_int_equal(uvfio_mig_reader_sections(r, &sec, &nr), 0);

	size_t before_len, after_len;
	uint8_t *before = snapshot(d, &before_len);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t n;
		uint8_t *stream = mutate(s, sec, nr, &bad[i], &n);
		assert_int_equal(resume(d, stream, n), -EINVAL);
		assert_int_equal(uvfio_device_mig_state(d->dev), S_RESUMING);
		uint8_t *after = snapshot(d, &after_len);
		assert_memory_equal(before, after, before_len);
		free(after);
		free(stream);
	}
	/* The same sections unchanged are accepted: each refusal was about its change. */
	const struct mutation none = { 0, PATCH, 0, 0, 0, 0 };
	size_t n;
	uint8_t *stream = mutate(s, sec, nr, &none, &n);
	assert_int_equal(resume(d, stream, n), 0);
	assert_same_device(s, d);
	free(stream);
	free(before);
	uvfio_mig_reader_free(r);
	free(good);
}

/* ---- memory staged while the stream arrives ---- */

/* A stream refused only at its end (truncated, or its end-to-end check broken) had its memory
 * sections staged already: the device is still untouched, and the good stream loads after. */
static void test_staged_then_refused(void **state)
{
	struct pair *pr = *state;
	struct tdev *s = &pr->src, *d = &pr->dst;
	program_source(s);
	size_t len, before_len, after_len;
	uint8_t *good = stop_copy(s, &len);
	uint8_t *before = snapshot(d, &before_len);

	assert_int_equal(resume(d, good, len - 1), -ENODATA);
	assert_true(d->m->stage_next > 0); /* its sections were staged */
	uint8_t *after = snapshot(d, &after_len);
	assert_memory_equal(before, after, before_len);
	free(after);

	good[len - 1] ^= 0x40; /* inside the end marker */
	assert_int_equal(uvfio_device_mig_data_write(d->dev, good, len), -EBADMSG);
	assert_int_equal(set_state(d, S_STOP), -EBADMSG);
	assert_int_equal(uvfio_device_mig_state(d->dev), S_RESUMING);
	after = snapshot(d, &after_len);
	assert_memory_equal(before, after, before_len);
	free(after);

	good[len - 1] ^= 0x40;
	assert_int_equal(uvfio_device_mig_data_write(d->dev, good, len), (ssize_t)len);
	assert_true(d->m->stage_ok); /* all of it staged: load() swaps */
	assert_int_equal(set_state(d, S_STOP), 0);
	assert_same_device(s, d);
	free(before);
	free(good);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_save_load, setup_pair, teardown_pair),
		cmocka_unit_test(test_precopy),
		cmocka_unit_test_setup_teardown(test_bad_streams, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_staged_then_refused, setup_pair, teardown_pair),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
