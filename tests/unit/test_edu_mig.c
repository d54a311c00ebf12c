/* SPDX-License-Identifier: MIT */
/*
 * edu-mig through the device core, in process: binding, its regions, the dirtier, and
 * quiescence of DMA, interrupts and the dirtier (saving and loading: test_edu_mig_state.c).
 */
#include "edu_mig_fixture.h"

/* ---- binding and regions ---- */

static bool migratable(struct tdev *t)
{
	uint64_t flags = 0;
	size_t len = sizeof(flags);
	int ret = feature(t, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0,
			  &flags, &len);
	if (ret == 0)
		assert_int_equal(flags, UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P |
						UVFIO_MIGRATION_PRE_COPY);
	else
		assert_int_equal(ret, -ENOTTY);
	return ret == 0;
}

static void test_binding(void **unused)
{
	uvfio_register_builtin_drivers();
	int err = 1;
	const struct uvfio_pci_device_id *id = NULL;
	assert_ptr_equal(uvfio_driver_match(&edu_mig_default_ident, NULL, &id, &err),
			 &edu_mig_driver);
	assert_int_equal(err, 0);
	assert_int_equal(id->subvendor, 0x1234);
	assert_int_equal(id->subdevice, 0x0001);
	assert_ptr_equal(uvfio_driver_match(&edu_default_ident, NULL, NULL, &err), &edu_driver);
	/* Another subsystem of the same device is plain edu too. */
	struct uvfio_pci_ident other = edu_mig_default_ident;
	other.subdevice = 0x0002;
	assert_ptr_equal(uvfio_driver_match(&other, NULL, NULL, &err), &edu_driver);

	static const struct {
		const char *decl;
		bool mig;
	} cases[] = {
		{ "edu-mig", true },
		{ "edu", false },
		{ "pci,vendor=0x1234,device=0x11e8,subvendor=0x1234,subdevice=0x0001", true },
		{ "pci,vendor=0x1234,device=0x11e8,subvendor=0x1af4,subdevice=0x1100", false },
		{ "pci,vendor=0x1234,device=0x11e8,driver_override=edu-mig", true },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct tdev t;
		tdev_new(&t, cases[i].decl);
		assert_int_equal(migratable(&t), cases[i].mig);
		const struct uvfio_region *r;
		r = uvfio_device_get_region(t.dev, EDU_MIG_DIRTIER_REGION);
		assert_int_equal(r && r->size, cases[i].mig);
		tdev_free(&t);
	}
	struct tdev t;
	tdev_new(&t, "edu-mig");
	const struct uvfio_pci_ident *ident = uvfio_pci_ident(t.p);
	assert_int_equal(ident->subvendor, 0x1234);
	assert_int_equal(ident->subdevice, 0x0001);
	assert_int_equal(rd(&t, 0, EDU_REG_ID, 4), EDU_ID_VALUE);
	/* No mem=: no BAR2. */
	assert_int_equal(uvfio_device_get_region(t.dev, EDU_MIG_MEM_BAR)->size, 0);
	tdev_free(&t);
}

static void test_regions_and_options(void **unused)
{
	struct tdev t;
	tdev_new(&t, "edu-mig,mem=64K");
	const struct uvfio_region *mem = uvfio_device_get_region(t.dev, EDU_MIG_MEM_BAR);
	assert_int_equal(mem->size, 65536);
	assert_false(mem->flags & UVFIO_REGION_MMAP); /* writes must reach the driver */
	uint32_t bar = uvfio_pci_cfg_read32(t.p, PCI_BASE_ADDRESS_2);
	assert_int_equal(bar & 0xf, PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH);
	wr(&t, EDU_MIG_MEM_BAR, 0xfff8, 0x1122334455667788ull, 8);
	assert_int_equal(rd(&t, EDU_MIG_MEM_BAR, 0xfff8, 8), 0x1122334455667788ull);
	const struct uvfio_region *d = uvfio_device_get_region(t.dev, EDU_MIG_DIRTIER_REGION);
	assert_int_equal(d->size, EDU_MIG_DIRTIER_SIZE);
	assert_int_equal(d->type, 0x80000000u | 0x1234u);
	assert_int_equal(d->subtype, EDU_MIG_DIRTIER_SUBTYPE);
	assert_int_equal(d->flags, UVFIO_REGION_READ | UVFIO_REGION_WRITE);
	assert_true(uvfio_device_num_regions(t.dev) > EDU_MIG_DIRTIER_REGION);
	tdev_free(&t);

	tdev_new(&t, "edu-mig,mem=0x1000,dma_mask=0xffffffff");
	assert_int_equal(uvfio_device_get_region(t.dev, EDU_MIG_MEM_BAR)->size, 4096);
	tdev_free(&t);

	static const char *const bad[] = {
		"edu-mig,mem=3000",  "edu-mig,mem=2G",    "edu-mig,mem=0",   "edu-mig,mem=64X",
		"edu-mig,mem=64KK",  "edu-mig,mem=abc",   "edu-mig,mem=2K", "edu-mig,mem=-4096",
		"edu-mig,dma_mask=0", "edu-mig,bogus=1",
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct uvfio_pci_device *p = (void *)1;
		assert_int_equal(uvfio_pci_create(bad[i], &p), -EINVAL);
		assert_null(p);
	}
}

static void test_dirtier_registers(void **unused)
{
	struct tdev t;
	tdev_new(&t, "edu-mig");
	const uint32_t R = EDU_MIG_DIRTIER_REGION;
	wr(&t, R, DIRTIER_REG_BASE, 0x1234567890ull, 8);
	wr(&t, R, DIRTIER_REG_LEN + 4, 0x1, 4); /* upper half alone */
	wr(&t, R, DIRTIER_REG_LEN, 0x2000, 4);
	wr(&t, R, DIRTIER_REG_RATE, 77, 4);
	assert_int_equal(rd(&t, R, DIRTIER_REG_BASE, 8), 0x1234567890ull);
	assert_int_equal(rd(&t, R, DIRTIER_REG_LEN, 8), 0x100002000ull);
	assert_int_equal(rd(&t, R, DIRTIER_REG_RATE, 4), 77);
	wr(&t, R, DIRTIER_REG_ENABLE, 0xfe, 4);
	assert_int_equal(rd(&t, R, DIRTIER_REG_ENABLE, 4), 0); /* only bit 0 exists */
	wr(&t, R, DIRTIER_REG_COUNTER, 99, 8); /* read-only */
	assert_int_equal(counter(&t), 0);
	/* 8 bytes over rate and enable at once. */
	wr(&t, R, DIRTIER_REG_RATE, 0x0000000000000010ull, 8);
	assert_int_equal(rd(&t, R, DIRTIER_REG_RATE, 4), 0x10);
	uint64_t v = 0;
	assert_int_equal(uvfio_device_region_rw(t.dev, R, 0, &v, 2, false), -EINVAL);
	assert_int_equal(uvfio_device_region_rw(t.dev, R, 2, &v, 4, false), -EINVAL);
	assert_int_equal(uvfio_device_region_rw(t.dev, R, 4, &v, 8, true), -EINVAL);
	assert_int_equal(uvfio_device_region_rw(t.dev, R, 32, &v, 4, false), -EINVAL);
	/* A reset clears the engine. */
	assert_int_equal(uvfio_device_reset(t.dev), 0);
	assert_int_equal(rd(&t, R, DIRTIER_REG_BASE, 8), 0);
	assert_int_equal(rd(&t, R, DIRTIER_REG_RATE, 4), 0);
	tdev_free(&t);
}

static int log_start(struct tdev *t, uint64_t iova, uint64_t len)
{
	uint8_t in[32], out[32];
	uint64_t ps = 4096;
	uint32_t nr[2] = { 1, 0 };
	memcpy(in, &ps, 8);
	memcpy(in + 8, nr, 8);
	memcpy(in + 16, &iova, 8);
	memcpy(in + 24, &len, 8);
	memcpy(out, in, sizeof(in));
	size_t out_len = sizeof(out);
	return feature(t, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START, in,
		       sizeof(in), out, &out_len);
}

static uint64_t log_report(struct tdev *t, uint64_t iova, uint64_t len)
{
	uint64_t in[3] = { iova, len, 4096 };
	uint8_t out[24 + 8];
	size_t out_len = sizeof(out);
	const uint32_t get = VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT;
	assert_int_equal(feature(t, get, in, sizeof(in), out, &out_len), 0);
	uint64_t bm;
	memcpy(&bm, out + 24, 8);
	return bm;
}

/* The dirtier writes its pattern (dirty-logged) while running and nothing while stopped. */
static void test_dirtier_runs_and_stops(void **unused)
{
	struct tdev t;
	tdev_new(&t, "edu-mig");
	assert_int_equal(log_start(&t, RAM_IOVA, RAM_SIZE), 0);
	start_dirtier(&t, (uint32_t)DIRTY_LEN);
	dirtier_sync(&t.m->dirtier);
	/* Words hold the counter value of the write that stored them: non-zero, and at most the
	 * counter read after them (the dirtier keeps running: read the word first). */
	uint64_t w;
	memcpy(&w, t.ram + DIRTY_OFF, 8);
	uint64_t c0 = counter(&t);
	assert_true(c0 >= 1);
	assert_true(w >= 1 && w <= c0);
	uint64_t pages = log_report(&t, RAM_IOVA, RAM_SIZE);
	assert_int_equal(pages & ~(0xfull << (DIRTY_OFF / 4096)), 0);
	assert_true(pages & (1ull << (DIRTY_OFF / 4096)));
	memcpy(&w, t.ram, 8);
	assert_int_equal(w, 0); /* outside the range: untouched */

	assert_int_equal(set_state(&t, S_STOP), 0);
	uint64_t c1 = counter(&t);
	uint8_t *snap = malloc(RAM_SIZE);
	assert_non_null(snap);
	memcpy(snap, t.ram, RAM_SIZE);
	log_report(&t, RAM_IOVA, RAM_SIZE); /* clears */
	dirtier_sync(&t.m->dirtier);
	assert_int_equal(counter(&t), c1);
	assert_memory_equal(snap, t.ram, RAM_SIZE);
	assert_int_equal(log_report(&t, RAM_IOVA, RAM_SIZE), 0);
	/* Register writes are refused while stopped. */
	uint32_t zero = 0;
	assert_int_equal(uvfio_device_region_rw(t.dev, EDU_MIG_DIRTIER_REGION, DIRTIER_REG_ENABLE,
						&zero, 4, true),
			 -EBUSY);

	assert_int_equal(set_state(&t, S_RUNNING), 0);
	dirtier_sync(&t.m->dirtier);
	dirtier_sync(&t.m->dirtier);
	assert_true(counter(&t) > c1);
	assert_true(log_report(&t, RAM_IOVA, RAM_SIZE) != 0);
	free(snap);
	tdev_free(&t);
}

/* ---- quiescence ---- */

/* The buffer's first 256 bytes from RAM, by DMA. */
static void fill_buffer(struct tdev *t)
{
	for (unsigned i = 0; i < 256; i++)
		t->ram[i] = (uint8_t)(0xa0 + i);
	wr(t, 0, EDU_REG_DMA_SRC, RAM_IOVA, 8);
	wr(t, 0, EDU_REG_DMA_DST, EDU_DMA_BUF_ADDR, 8);
	wr(t, 0, EDU_REG_DMA_CNT, 256, 8);
	wr(t, 0, EDU_REG_DMA_CMD, EDU_DMA_START, 8);
	assert_int_equal(edu_wait_idle(&t->m->edu), 0);
}

/* Starts a DMA of those bytes back to RAM + 0x1000, with an interrupt. */
static void queue_dma_to_ram(struct tdev *t)
{
	wr(t, 0, EDU_REG_DMA_SRC, EDU_DMA_BUF_ADDR, 8);
	wr(t, 0, EDU_REG_DMA_DST, RAM_IOVA + 0x1000, 8);
	wr(t, 0, EDU_REG_DMA_CNT, 256, 8);
	wr(t, 0, EDU_REG_DMA_CMD, EDU_DMA_START | EDU_DMA_TO_RAM | EDU_DMA_IRQ, 8);
}

static bool dma_landed(struct tdev *t)
{
	for (unsigned i = 0; i < 256; i++)
		if (t->ram[0x1000 + i] != (uint8_t)(0xa0 + i))
			return false;
	return true;
}

static bool ram_zero(struct tdev *t, uint64_t off, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (t->ram[off + i])
			return false;
	return true;
}

/* A DMA queued before STOP and not started: memory untouched and no interrupt while stopped,
 * saved as in flight, and done on the destination (and on the source) once RUNNING. */
static void test_queued_dma_moves(void **state)
{
	struct pair *pr = *state;
	struct tdev *s = &pr->src, *d = &pr->dst;
	int sfd = msi_eventfd(s), dfd = msi_eventfd(d);
	fill_buffer(s);
	edu_pause(&s->m->edu); /* hold the job back, so it is queued for sure */
	queue_dma_to_ram(s);
	assert_int_equal(set_state(s, S_STOP), 0);
	edu_resume(&s->m->edu);
	/* Paused with work pending: the barrier that the job is queued, not running. */
	assert_int_equal(edu_wait_idle(&s->m->edu), -EBUSY);
	assert_true(ram_zero(s, 0x1000, 256));
	assert_int_equal(events(sfd), 0);
	assert_true(rd(s, 0, EDU_REG_DMA_CMD, 8) & EDU_DMA_START);

	size_t len;
	uint8_t *stream = stop_copy(s, &len);
	assert_int_equal(resume(d, stream, len), 0);
	assert_int_equal(rd(d, 0, EDU_REG_DMA_CMD, 8),
			 EDU_DMA_START | EDU_DMA_TO_RAM | EDU_DMA_IRQ);
	memcpy(d->ram, s->ram, RAM_SIZE);
	assert_int_equal(edu_wait_idle(&d->m->edu), -EBUSY);
	assert_true(ram_zero(d, 0x1000, 256));
	assert_int_equal(events(dfd), 0);

	assert_int_equal(set_state(d, S_RUNNING), 0);
	assert_int_equal(edu_wait_idle(&d->m->edu), 0);
	assert_true(dma_landed(d));
	assert_int_equal(events(dfd), 1);
	assert_int_equal(rd(d, 0, EDU_REG_IRQ_STATUS, 4), EDU_IRQ_DMA);

	assert_int_equal(set_state(s, S_RUNNING), 0);
	assert_int_equal(edu_wait_idle(&s->m->edu), 0);
	assert_true(dma_landed(s));
	assert_int_equal(events(sfd), 1);
	free(stream);
	close(sfd);
	close(dfd);
}

/* A DMA started in RUNNING, then STOP: either it completed before the device stopped (data
 * and interrupt there) or it is deferred (nothing until RUNNING). Never half of each. */
static void test_dma_then_stop(void **state)
{
	struct pair *pr = *state;
	struct tdev *s = &pr->src;
	int fd = msi_eventfd(s);
	fill_buffer(s);
	queue_dma_to_ram(s);
	assert_int_equal(set_state(s, S_STOP), 0);
	if (dma_landed(s)) {
		assert_int_equal(events(fd), 1);
		assert_false(rd(s, 0, EDU_REG_DMA_CMD, 8) & EDU_DMA_START);
		assert_int_equal(edu_wait_idle(&s->m->edu), 0);
	} else {
		assert_true(ram_zero(s, 0x1000, 256));
		assert_int_equal(events(fd), 0);
		assert_int_equal(edu_wait_idle(&s->m->edu), -EBUSY);
		assert_true(ram_zero(s, 0x1000, 256));
		assert_int_equal(set_state(s, S_RUNNING), 0);
		assert_int_equal(edu_wait_idle(&s->m->edu), 0);
		assert_true(dma_landed(s));
		assert_int_equal(events(fd), 1);
	}
	close(fd);
}

/* Interrupts raised while stopped are held, then delivered once RUNNING. */
static void test_irq_deferred(void **state)
{
	struct pair *pr = *state;
	struct tdev *s = &pr->src;
	int fd = msi_eventfd(s);
	assert_int_equal(set_state(s, S_STOP), 0);
	assert_int_equal(uvfio_pci_raise_irq(s->p, 0), 0);
	assert_int_equal(events(fd), 0);
	/* The client cannot raise one through the device either: register writes are refused. */
	uint32_t v = EDU_IRQ_FACT;
	assert_int_equal(uvfio_device_region_rw(s->dev, 0, EDU_REG_IRQ_RAISE, &v, 4, true), -EBUSY);
	assert_int_equal(set_state(s, S_STOP_COPY), 0);
	assert_int_equal(events(fd), 0);
	assert_int_equal(set_state(s, S_RUNNING), 0);
	assert_int_equal(events(fd), 1);
	close(fd);
}

/* A reset while stopped brings the device back to RUNNING, and its worker runs again. */
static void test_reset_resumes(void **state)
{
	struct pair *pr = *state;
	struct tdev *s = &pr->src;
	assert_int_equal(set_state(s, S_STOP), 0);
	assert_int_equal(uvfio_device_reset(s->dev), 0);
	assert_int_equal(uvfio_device_mig_state(s->dev), S_RUNNING);
	uint16_t cmd = PCI_COMMAND_MEMORY; /* the reset cleared it */
	assert_int_equal(uvfio_pci_cfg_access(s->p, PCI_COMMAND, &cmd, 2, true), 2);
	wr(s, 0, EDU_REG_FACT, 5, 4);
	assert_int_equal(edu_wait_idle(&s->m->edu), 0);
	assert_int_equal(rd(s, 0, EDU_REG_FACT, 4), 120);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_binding),
		cmocka_unit_test(test_regions_and_options),
		cmocka_unit_test(test_dirtier_registers),
		cmocka_unit_test(test_dirtier_runs_and_stops),
		cmocka_unit_test_setup_teardown(test_queued_dma_moves, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_dma_then_stop, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_irq_deferred, setup_pair, teardown_pair),
		cmocka_unit_test_setup_teardown(test_reset_resumes, setup_pair, teardown_pair),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
