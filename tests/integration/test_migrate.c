/* SPDX-License-Identifier: MIT */
/*
 * uvfio_migrate() end to end: two `uvfio serve --device edu-mig` processes, the test as the
 * VMM of both. The source runs the dirtier (continuous DMA over guest memory) and holds
 * state in its registers, its DMA buffer and its device memory; after the migration the two
 * devices and the two guest memories must be identical, with and without pre-copy. A
 * destination killed mid-migration leaves the source running and working.
 *
 * Synchronisation: register reads are round trips to the server, and the device's own
 * progress (dirtier counter, DMA start bit) is read back with bounded polls, never slept on.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <uvfio/client.h>
#include <uvfio/migrate.h>

#include "edu_regs.h"
#include "harness.h"

#define RAM_IOVA 0x100000ull
#define RAM_SIZE (1ull << 20)
#define DIRTY_LEN (512ull << 10) /* the dirtier writes the first half of RAM */
#define SCRATCH_IN (RAM_SIZE - 0x4000) /* buffer pattern, DMA'd into the device */
#define SCRATCH_OUT (RAM_SIZE - 0x2000) /* the device's buffer, DMA'd back out */
#define DEV_MEM (64u << 10) /* edu-mig mem= */
#define DIRTIER 9u
#define DIRTIER_BASE 0x00
#define DIRTIER_LEN 0x08
#define DIRTIER_RATE 0x10
#define DIRTIER_ENABLE 0x14
#define DIRTIER_COUNTER 0x18
#define MEM_BAR 2u

struct side {
	struct h_server srv;
	struct uvfio_handle *h;
	struct uvfio_ioas *ioas;
	uint8_t *ram;
	bool killed;
};

struct fx {
	struct side s[2]; /* source, destination */
};

static int start_side(struct side *s, const char *spec)
{
	const char *const args[] = { "--device", spec, "--socket", "@SOCK@", NULL };
	void *mem = NULL;
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

	if (h_server_start_cli(&s->srv, args) || h_open(s->srv.sock_path, &s->h))
		return -1;
	if (uvfio_ioas_new(&s->ioas) ||
	    uvfio_ioas_map_alloc(s->ioas, RAM_IOVA, RAM_SIZE, UVFIO_IOAS_READ | UVFIO_IOAS_WRITE,
				 &mem) ||
	    uvfio_ioas_attach(s->ioas, s->h))
		return -1;
	s->ram = mem;
	return uvfio_config_write(s->h, PCI_COMMAND, &cmd, 2) ? -1 : 0;
}

static int stop_side(struct side *s)
{
	int ret;

	if (s->ioas)
		uvfio_ioas_free(s->ioas);
	if (s->h)
		uvfio_close(s->h);
	ret = h_server_stop(&s->srv);
	return s->killed ? 0 : ret;
}

static int setup(void **state)
{
	static struct fx f;

	memset(&f, 0, sizeof(f));
	if (start_side(&f.s[0], "edu-mig,mem=64K") || start_side(&f.s[1], "edu-mig,mem=64K"))
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int a = stop_side(&f->s[0]), b = stop_side(&f->s[1]);

	return a || b ? -1 : 0;
}

static uint64_t rd(struct uvfio_handle *h, uint32_t region, uint64_t off, unsigned width)
{
	uint64_t v = 0;

	assert_int_equal(uvfio_region_read(h, region, off, &v, width), (ssize_t)width);
	return v;
}

static void wr(struct uvfio_handle *h, uint32_t region, uint64_t off, uint64_t v, unsigned width)
{
	assert_int_equal(uvfio_region_write(h, region, off, &v, width), (ssize_t)width);
}

/* Bounded poll of the device's own progress. */
static void wait_bar0_clear(struct uvfio_handle *h, uint64_t off, uint32_t mask)
{
	for (int i = 0; i < 100000; i++)
		if (!(rd(h, 0, off, 4) & mask))
			return;
	fail_msg("BAR0 0x%llx bit 0x%x never cleared", (unsigned long long)off, mask);
}

static void wait_counter(struct uvfio_handle *h, uint64_t at_least)
{
	for (int i = 0; i < 200000; i++)
		if (rd(h, DIRTIER, DIRTIER_COUNTER, 8) >= at_least)
			return;
	fail_msg("the dirtier never reached %llu writes", (unsigned long long)at_least);
}

static void edu_dma(struct uvfio_handle *h, uint64_t src, uint64_t dst, uint32_t cmd)
{
	wr(h, 0, REG_DMA_SRC, src, 8);
	wr(h, 0, REG_DMA_DST, dst, 8);
	wr(h, 0, REG_DMA_CNT, 4096, 8);
	wr(h, 0, REG_DMA_CMD, cmd | DMA_START, 4);
	wait_bar0_clear(h, REG_DMA_CMD, DMA_START);
}

/* State everywhere a migration must carry: registers, the DMA buffer, device memory, and the
 * dirtier writing guest memory at 32 KiB/ms. */
static void load_source(struct side *s)
{
	struct uvfio_handle *h = s->h;

	wr(h, 0, REG_LIVE, 0x12345678, 4);
	wr(h, 0, REG_FACT, 10, 4);
	wait_bar0_clear(h, REG_STATUS, 0x1);
	assert_int_equal(rd(h, 0, REG_FACT, 4), 3628800);
	for (unsigned i = 0; i < 4096; i++)
		s->ram[SCRATCH_IN + i] = (uint8_t)(i * 7 + 3);
	edu_dma(h, RAM_IOVA + SCRATCH_IN, DMA_BUF, 0);
	for (uint64_t off = 0; off < DEV_MEM; off += 8)
		wr(h, MEM_BAR, off, 0x0101010101010101ull * (off / 8 % 251), 8);
	wr(h, DIRTIER, DIRTIER_BASE, RAM_IOVA, 8);
	wr(h, DIRTIER, DIRTIER_LEN, DIRTY_LEN, 8);
	wr(h, DIRTIER, DIRTIER_RATE, 32u << 10, 4);
	wr(h, DIRTIER, DIRTIER_ENABLE, 1, 4);
	wait_counter(h, 4);
}

/* DEVICE_RESET leaves RESUMING for RUNNING, and clears COMMAND: decode and DMA on again. */
static void reset_device(struct uvfio_handle *h)
{
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

	assert_int_equal(uvfio_reset(h), 0);
	assert_int_equal(uvfio_config_write(h, PCI_COMMAND, &cmd, 2), 0);
}

static uint32_t state_of(struct uvfio_handle *h)
{
	uint32_t st = UVFIO_MIG_STATE_ERROR;

	assert_int_equal(uvfio_mig_get_state(h, &st), 0);
	return st;
}

/* Both stopped: everything readable must match. */
static void compare_stopped(struct fx *f)
{
	static const uint32_t regs[] = { REG_ID, REG_LIVE, REG_FACT, REG_STATUS, REG_IRQ_STATUS };
	static const uint32_t dma_regs[] = { REG_DMA_SRC, REG_DMA_DST, REG_DMA_CNT, REG_DMA_CMD };
	struct uvfio_handle *a = f->s[0].h, *b = f->s[1].h;

	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		assert_int_equal(rd(a, 0, regs[i], 4), rd(b, 0, regs[i], 4));
	for (size_t i = 0; i < sizeof(dma_regs) / sizeof(dma_regs[0]); i++)
		assert_true(rd(a, 0, dma_regs[i], 8) == rd(b, 0, dma_regs[i], 8));
	assert_int_equal(rd(b, 0, REG_LIVE, 4), ~0x12345678u);
	assert_int_equal(rd(b, 0, REG_FACT, 4), 3628800);
	for (uint32_t off = 0; off < 0x20; off += 8)
		assert_true(rd(a, DIRTIER, off, 8) == rd(b, DIRTIER, off, 8));
	assert_true(rd(b, DIRTIER, DIRTIER_COUNTER, 8) >= 4);
	for (uint64_t off = 0; off < DEV_MEM; off += 8)
		assert_true(rd(b, MEM_BAR, off, 8) == 0x0101010101010101ull * (off / 8 % 251));
	/* Guest memory: the dirtier's pattern, identical on both sides. */
	assert_memory_equal(f->s[0].ram, f->s[1].ram, RAM_SIZE);
	uint64_t word;
	memcpy(&word, f->s[1].ram, 8);
	assert_true(word != 0);
}

/* Both running again, dirtiers off: each device's buffer DMA'd out must be the pattern. */
static void compare_buffers(struct fx *f)
{
	for (int i = 0; i < 2; i++) {
		struct side *s = &f->s[i];

		assert_int_equal(uvfio_mig_set_state(s->h, UVFIO_MIG_STATE_RUNNING, NULL), 0);
		wr(s->h, DIRTIER, DIRTIER_ENABLE, 0, 4);
		memset(s->ram + SCRATCH_OUT, 0, 4096);
		edu_dma(s->h, DMA_BUF, RAM_IOVA + SCRATCH_OUT, DMA_TO_RAM);
	}
	assert_memory_equal(f->s[0].ram + SCRATCH_OUT, f->s[1].ram + SCRATCH_OUT, 4096);
	assert_memory_equal(f->s[1].ram + SCRATCH_OUT, f->s[1].ram + SCRATCH_IN, 4096);
}

static void migrate_and_compare(struct fx *f, bool precopy)
{
	struct uvfio_dirty_range range = { RAM_IOVA, RAM_SIZE };
	struct uvfio_migrate_opts o = {
		.ranges = &range,
		.nr_ranges = 1,
		.no_precopy = !precopy,
		.final_state = UVFIO_MIG_STATE_STOP,
	};
	static struct uvfio_migrate_stats st;

	load_source(&f->s[0]);
	assert_int_equal(uvfio_migrate(f->s[0].h, f->s[0].ioas, f->s[1].h, f->s[1].ioas, &o, &st),
			 0);
	assert_int_equal(st.src_state, UVFIO_MIG_STATE_STOP);
	assert_int_equal(st.dst_state, UVFIO_MIG_STATE_STOP);
	assert_int_equal(state_of(f->s[1].h), UVFIO_MIG_STATE_STOP);
	assert_true(st.dirty_logging);
	assert_int_equal(st.page_size, 4096);
	assert_int_equal(st.precopy, precopy);
	assert_true(st.rounds >= 1);
	/* Round 1 copies all memory; the device memory is part of the device data. */
	assert_int_equal(st.round[0].memory_bytes, RAM_SIZE);
	assert_int_equal(st.round[0].dirty_pages, RAM_SIZE / 4096);
	assert_true(st.memory_bytes >= RAM_SIZE);
	assert_true(st.device_bytes > DEV_MEM);
	if (precopy)
		assert_true(st.precopy_device_bytes >= DEV_MEM);
	else
		assert_int_equal(st.precopy_device_bytes, 0);
	assert_true(st.downtime_ns > 0 && st.downtime_ns < st.total_ns);
	assert_int_equal(st.budget_ms, 300);
	compare_stopped(f);
	compare_buffers(f);
}

static void test_migrate_precopy(void **state)
{
	migrate_and_compare(*state, true);
}

static void test_migrate_no_precopy(void **state)
{
	migrate_and_compare(*state, false);
}

struct killer {
	struct side *victim;
	unsigned calls;
	enum uvfio_migrate_phase phase;
};

static int kill_destination(const struct uvfio_migrate_progress *p, void *opaque)
{
	struct killer *k = opaque;

	if (k->calls++ == 0) {
		k->phase = p->phase;
		kill(k->victim->srv.pid, SIGKILL);
		waitpid(k->victim->srv.pid, NULL, 0);
		k->victim->srv.pid = 0;
		k->victim->killed = true;
	}
	return 0;
}

static void test_destination_killed(void **state)
{
	struct fx *f = *state;
	struct side *src = &f->s[0];
	struct uvfio_dirty_range range = { RAM_IOVA, RAM_SIZE };
	struct killer k = { .victim = &f->s[1] };
	struct uvfio_migrate_opts o = {
		.ranges = &range,
		.nr_ranges = 1,
		.progress = kill_destination,
		.opaque = &k,
	};
	static struct uvfio_migrate_stats st;
	uint64_t ps = 4096, count;
	int ret;

	load_source(src);
	ret = uvfio_migrate(src->h, src->ioas, f->s[1].h, f->s[1].ioas, &o, &st);
	if (ret != -ECONNRESET && ret != -EPIPE)
		fail_msg("uvfio_migrate returned %d (%s)", ret, strerror(-ret));
	assert_int_equal(k.phase, UVFIO_MIGRATE_PRECOPY);
	assert_int_equal(st.src_state, UVFIO_MIG_STATE_RUNNING);
	assert_int_equal(state_of(src->h), UVFIO_MIG_STATE_RUNNING);
	/* The source still works: registers, edu DMA both ways, the dirtier goes on. */
	assert_int_equal(rd(src->h, 0, REG_LIVE, 4), ~0x12345678u);
	memset(src->ram + SCRATCH_OUT, 0, 4096);
	edu_dma(src->h, DMA_BUF, RAM_IOVA + SCRATCH_OUT, DMA_TO_RAM);
	assert_memory_equal(src->ram + SCRATCH_OUT, src->ram + SCRATCH_IN, 4096);
	count = rd(src->h, DIRTIER, DIRTIER_COUNTER, 8);
	wait_counter(src->h, count + 2);
	/* Its logging was stopped: starting it again is allowed (-EBUSY if it still ran). */
	assert_int_equal(uvfio_dirty_start(src->h, &range, 1, &ps), 0);
	assert_int_equal(uvfio_dirty_stop(src->h), 0);
}

static int cancel_at_once(const struct uvfio_migrate_progress *p, void *opaque)
{
	return *(int *)opaque;
}

static void expect_untouched(struct fx *f, int ret, int want)
{
	assert_int_equal(ret, want);
	assert_int_equal(state_of(f->s[0].h), UVFIO_MIG_STATE_RUNNING);
}

static void test_bad_requests(void **state)
{
	struct fx *f = *state;
	struct uvfio_handle *a = f->s[0].h, *b = f->s[1].h;
	struct uvfio_ioas *ia = f->s[0].ioas, *ib = f->s[1].ioas;
	struct uvfio_dirty_range r[2] = { { RAM_IOVA, RAM_SIZE }, { RAM_IOVA, 4096 } };
	struct uvfio_migrate_opts o = { .ranges = r, .nr_ranges = 1 };
	int verdict;

	expect_untouched(f, uvfio_migrate(a, ia, a, ia, NULL, NULL), -EINVAL);
	expect_untouched(f, uvfio_migrate(a, NULL, b, NULL, &o, NULL), -EINVAL);
	o.max_rounds = UVFIO_MIGRATE_MAX_ROUNDS + 1;
	expect_untouched(f, uvfio_migrate(a, ia, b, ib, &o, NULL), -EINVAL);
	o.max_rounds = 0;
	o.final_state = UVFIO_MIG_STATE_RESUMING;
	expect_untouched(f, uvfio_migrate(a, ia, b, ib, &o, NULL), -EINVAL);
	o.final_state = 0;
	o.chunk_size = 1ull << 40;
	expect_untouched(f, uvfio_migrate(a, ia, b, ib, &o, NULL), -EINVAL);
	o.chunk_size = 0;
	o.nr_ranges = 2; /* overlapping */
	expect_untouched(f, uvfio_migrate(a, ia, b, ib, &o, NULL), -EINVAL);
	r[0] = (struct uvfio_dirty_range){ RAM_IOVA + 8, 4096 }; /* misaligned */
	o.nr_ranges = 1;
	expect_untouched(f, uvfio_migrate(a, ia, b, ib, &o, NULL), -EINVAL);
	r[0] = (struct uvfio_dirty_range){ RAM_IOVA, RAM_SIZE + 4096 }; /* past the mapping */
	expect_untouched(f, uvfio_migrate(a, ia, b, ib, &o, NULL), -EINVAL);
	r[0] = (struct uvfio_dirty_range){ RAM_IOVA, 0 };
	expect_untouched(f, uvfio_migrate(a, ia, b, ib, &o, NULL), -EINVAL);
	r[0] = (struct uvfio_dirty_range){ RAM_IOVA, RAM_SIZE };

	/* A destination mid-session cannot start. */
	assert_int_equal(uvfio_mig_set_state(b, UVFIO_MIG_STATE_RESUMING, NULL), 0);
	expect_untouched(f, uvfio_migrate(a, ia, b, ib, &o, NULL), -EBUSY);
	reset_device(b);
	assert_int_equal(state_of(b), UVFIO_MIG_STATE_RUNNING);

	/* The progress callback cancels: positive -> -ECANCELED, negative -> itself. */
	o.progress = cancel_at_once;
	o.opaque = &verdict;
	verdict = 1;
	expect_untouched(f, uvfio_migrate(a, ia, b, ib, &o, NULL), -ECANCELED);
	reset_device(b);
	verdict = -EINTR;
	expect_untouched(f, uvfio_migrate(a, ia, b, ib, &o, NULL), -EINTR);
	reset_device(b);
	o.progress = NULL;

	/* A good migration still works after all that. */
	assert_int_equal(uvfio_migrate(a, ia, b, ib, &o, NULL), 0);
	assert_int_equal(state_of(b), UVFIO_MIG_STATE_RUNNING);
	assert_int_equal(state_of(a), UVFIO_MIG_STATE_STOP);
}

struct sink {
	uint8_t *p;
	size_t len, cap;
	int fail_after; /* calls before write_fn fails; -1 never */
};

static int to_sink(void *opaque, const void *buf, size_t len)
{
	struct sink *s = opaque;

	if (s->fail_after == 0)
		return -ENOSPC;
	if (s->fail_after > 0)
		s->fail_after--;
	if (s->len + len > s->cap)
		return -EFBIG;
	memcpy(s->p + s->len, buf, len);
	s->len += len;
	return 0;
}

static void test_not_migratable(void **state)
{
	struct fx *f = *state;
	struct side plain = { 0 };
	struct uvfio_migrate_stats st;

	assert_int_equal(start_side(&plain, "edu"), 0);
	expect_untouched(f, uvfio_migrate(f->s[0].h, NULL, plain.h, NULL, NULL, &st), -ENOTTY);
	expect_untouched(f, uvfio_migrate(plain.h, NULL, f->s[0].h, NULL, NULL, &st), -ENOTTY);
	static uint8_t buf[4096];
	struct sink s = { buf, 0, sizeof(buf), -1 };
	assert_true(uvfio_migrate_save(plain.h, to_sink, &s) == -ENOTTY);
	assert_int_equal(s.len, 0);
	assert_int_equal(uvfio_migrate_load(plain.h, "x", 1, 0), -ENOTTY);
	assert_int_equal(stop_side(&plain), 0);
}

/* Save and load without a live peer: the stream is complete on its own; a device refuses a
 * damaged one and keeps its state. */
static void test_save_load(void **state)
{
	struct fx *f = *state;
	struct uvfio_handle *a = f->s[0].h, *b = f->s[1].h;
	static uint8_t buf[1 << 20];
	struct sink s = { buf, 0, sizeof(buf), 0 };
	int64_t n;

	wr(a, 0, REG_LIVE, 0xcafe, 4);
	/* write_fn fails: the error is returned and the device is back where it was. */
	assert_true(uvfio_migrate_save(a, to_sink, &s) == -ENOSPC);
	assert_int_equal(state_of(a), UVFIO_MIG_STATE_RUNNING);
	s.fail_after = -1;
	n = uvfio_migrate_save(a, to_sink, &s);
	assert_true(n > 0 && (size_t)n == s.len);
	assert_memory_equal(buf, "UVFIOMIG", 8);
	assert_int_equal(state_of(a), UVFIO_MIG_STATE_STOP);

	/* Damaged streams are refused with the reader's verdict; b keeps its state. */
	wr(b, 0, REG_LIVE, 0xbeef, 4);
	buf[s.len / 2] ^= 0x40;
	assert_int_equal(uvfio_migrate_load(b, buf, s.len, 0), -EBADMSG);
	assert_int_equal(state_of(b), UVFIO_MIG_STATE_RESUMING);
	assert_int_equal(rd(b, 0, REG_LIVE, 4), ~0xbeefu);
	reset_device(b);
	buf[s.len / 2] ^= 0x40;
	wr(b, 0, REG_LIVE, 0xbeef, 4);
	assert_int_equal(uvfio_migrate_load(b, buf, s.len - 1, 0), -ENODATA);
	reset_device(b);
	assert_int_equal(uvfio_migrate_load(b, buf, s.len, UVFIO_MIG_STATE_RESUMING), -EINVAL);
	assert_int_equal(state_of(b), UVFIO_MIG_STATE_RUNNING);

	/* The good stream: b becomes a (its config space too, so BAR0 decodes). */
	assert_int_equal(uvfio_migrate_load(b, buf, s.len, UVFIO_MIG_STATE_STOP), 0);
	assert_int_equal(state_of(b), UVFIO_MIG_STATE_STOP);
	assert_int_equal(rd(b, 0, REG_LIVE, 4), ~0xcafeu);
	/* Loading needs a device that is not mid-session. */
	assert_int_equal(uvfio_mig_set_state(b, UVFIO_MIG_STATE_RESUMING, NULL), 0);
	assert_int_equal(uvfio_migrate_load(b, buf, s.len, 0), -EBUSY);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate_precopy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_no_precopy, setup, teardown),
		cmocka_unit_test_setup_teardown(test_destination_killed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_requests, setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_migratable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load, setup, teardown),
	};

	/* SIGPIPE keeps its default action: a send to the killed destination that raised it
	 * would end this test. */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
