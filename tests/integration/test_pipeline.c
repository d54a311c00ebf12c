/* SPDX-License-Identifier: MIT */
/*
 * Pipelined and posted requests to an edu device: posted writes (no reply) are applied in
 * order before a later read; two threads share one handle and each gets its own replies.
 */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <uvfio/client.h>

#include "edu_regs.h"
#include "harness.h"


struct fx {
	struct h_server srv;
	struct uvfio_handle *h;
};

static int setup(void **state)
{
	static struct fx f;
	memset(&f, 0, sizeof(f));
	const char *const args[] = { "--device", "edu", "--socket", "@SOCK@", NULL };
	if (h_server_start_cli(&f.srv, args) != 0)
		return -1;
	if (h_open(f.srv.sock_path, &f.h) != 0)
		return -1;
	uint16_t cmd = PCI_COMMAND_MEMORY;
	if (uvfio_config_write(f.h, PCI_COMMAND, &cmd, 2))
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	uvfio_close(f->h);
	return h_server_stop(&f->srv) == 0 ? 0 : -1;
}

static uint32_t rd32(struct uvfio_handle *h, uint64_t off)
{
	uint32_t v = 0;
	assert_int_equal(uvfio_region_read(h, 0, off, &v, 4), 4);
	return v;
}

static void post32(struct uvfio_handle *h, uint64_t off, uint32_t v)
{
	assert_int_equal(uvfio_region_write_posted(h, 0, off, &v, 4), 0);
}

static void test_posted_writes_in_order(void **state)
{
	struct fx *f = *state;
	/* Many posted writes to one register: the read after them sees the last. */
	for (uint32_t i = 0; i < 2000; i++)
		post32(f->h, REG_LIVE, i);
	assert_int_equal(rd32(f->h, REG_LIVE), ~1999u);

	/* Order across registers: raise and ack alternate; only the in-order result is 0x2. */
	for (uint32_t i = 0; i < 500; i++) {
		post32(f->h, REG_IRQ_RAISE, 0x1);
		post32(f->h, REG_IRQ_ACK, 0x1);
	}
	post32(f->h, REG_IRQ_RAISE, 0x2);
	assert_int_equal(rd32(f->h, REG_IRQ_STATUS), 0x2);
	post32(f->h, REG_IRQ_ACK, 0x2);

	/* A posted factorial start, then reads: status and result follow it. */
	post32(f->h, REG_FACT, 8);
	for (int i = 0; i < 100000 && (rd32(f->h, REG_STATUS) & 1); i++)
		;
	assert_int_equal(rd32(f->h, REG_STATUS) & 1, 0);
	assert_int_equal(rd32(f->h, REG_FACT), 40320);
	assert_int_equal(rd32(f->h, REG_IRQ_STATUS), 0);
}

static void test_posted_then_config(void **state)
{
	struct fx *f = *state;
	/* A posted BAR write is ordered before a later config write that disables decode. */
	post32(f->h, REG_LIVE, 0xabcd);
	uint16_t cmd = 0;
	assert_int_equal(uvfio_config_write(f->h, PCI_COMMAND, &cmd, 2), 0);
	cmd = PCI_COMMAND_MEMORY;
	assert_int_equal(uvfio_config_write(f->h, PCI_COMMAND, &cmd, 2), 0);
	assert_int_equal(rd32(f->h, REG_LIVE), ~0xabcdu);
	/* A posted write the device refuses (decode off) is dropped, later requests still work. */
	cmd = 0;
	assert_int_equal(uvfio_config_write(f->h, PCI_COMMAND, &cmd, 2), 0);
	uint32_t v = 5;
	(void)uvfio_region_write_posted(f->h, 0, REG_LIVE, &v, 4);
	cmd = PCI_COMMAND_MEMORY;
	assert_int_equal(uvfio_config_write(f->h, PCI_COMMAND, &cmd, 2), 0);
	assert_int_equal(rd32(f->h, REG_LIVE), ~0xabcdu);
	assert_int_equal(rd32(f->h, REG_ID), EDU_ID);
}

struct worker {
	struct uvfio_handle *h;
	uint64_t reg; /* a register only this thread writes */
	uint32_t seed;
	int errors;
};

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	for (uint32_t i = 0; i < 2000; i++) {
		uint32_t val = w->seed + i, back = 0, id = 0;
		uint16_t vendor = 0;
		if (uvfio_region_write(w->h, 0, w->reg, &val, 4) != 4)
			w->errors++;
		if (i % 3 == 0 && uvfio_region_write_posted(w->h, 0, w->reg, &val, 4) != 0)
			w->errors++;
		if (uvfio_region_read(w->h, 0, w->reg, &back, 4) != 4)
			w->errors++;
		if (uvfio_region_read(w->h, 0, REG_ID, &id, 4) != 4 || id != EDU_ID)
			w->errors++;
		if (uvfio_config_read(w->h, PCI_VENDOR_ID, &vendor, 2) != 0 || vendor != 0x1234)
			w->errors++;
		uint32_t want = w->reg == REG_LIVE ? ~val : val;
		if (back != want)
			w->errors++;
	}
	return NULL;
}

static void test_two_threads_one_handle(void **state)
{
	struct fx *f = *state;
	/* Thread a owns the liveness register, b the DMA count (writable while idle). */
	struct worker w[2] = {
		{ .h = f->h, .reg = REG_LIVE, .seed = 0x10000000 },
		{ .h = f->h, .reg = REG_DMA_CNT, .seed = 0x20000000 },
	};
	pthread_t t[2];
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &w[i]), 0);
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(t[i], NULL), 0);
	assert_int_equal(w[0].errors, 0);
	assert_int_equal(w[1].errors, 0);
	assert_int_equal(rd32(f->h, REG_LIVE), ~(0x10000000u + 1999));
	assert_int_equal(rd32(f->h, REG_DMA_CNT), 0x20000000u + 1999);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_posted_writes_in_order),
		T(test_posted_then_config),
		T(test_two_threads_one_handle),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
