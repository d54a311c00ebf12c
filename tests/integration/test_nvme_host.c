/* SPDX-License-Identifier: MIT */
/*
 * The NVMe host driver against real controllers, the same cases for each target URL: QEMU's
 * nvme through x-vfio-user-server and uvfio's own nvme (uvfio serve nvme). Identify, write /
 * read / compare round trips with sizes that need PRP lists (and SGLs when offered), flush,
 * write zeroes, deallocate, LBA out of range by name, polling and interrupt completions, a
 * controller reset with data kept, queue pairs in two threads.
 * Set NT_VFIO_URL (e.g. vfio:0000:00:05.0) to run the cases against a kernel-VFIO device too.
 */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <dirent.h>

#include <cmocka.h>
#include <uvfio/nvme.h>

#include "nvme_target.h"

enum { T_QEMU, T_UVFIO, T_URL };

static int target_kind;
static const char *server_opts; /* extra "uvfio serve --device nvme,..." options */
static struct nvme_target tgt;
static struct uvfio_nvme_ctrl *ctrl;
static struct uvfio_nvme_qpair *qp;
static struct uvfio_nvme_ns_info ns;

static int open_with(const struct uvfio_nvme_opts *o)
{
	const char *url = tgt.url;
	int ret;

	memset(&tgt, 0, sizeof(tgt));
	if (target_kind == T_QEMU)
		ret = nt_start_qemu(&tgt);
	else if (target_kind == T_UVFIO)
		ret = nt_start_uvfio(&tgt, server_opts);
	else
		ret = 0;
	url = target_kind == T_URL ? getenv("NT_VFIO_URL") : tgt.url;
	if (ret < 0) {
		fprintf(stderr, "starting the target: %s\n", strerror(-ret));
		return ret;
	}
	/* QEMU creates its socket file a moment before it listens. */
	for (int i = 0; i < 100; i++) {
		ret = uvfio_nvme_open(url, o, &ctrl);
		if (ret != -ECONNREFUSED)
			break;
		poll(NULL, 0, 50);
	}
	if (ret < 0) {
		fprintf(stderr, "uvfio_nvme_open(%s): %s\n", url, strerror(-ret));
		return ret;
	}
	if ((ret = uvfio_nvme_qpair_create(ctrl, &qp)) < 0)
		return ret;
	return uvfio_nvme_ns_get_info(ctrl, 1, &ns) ? -EIO : 0;
}

static int setup_default(void **state)
{
	struct uvfio_nvme_opts o;

	uvfio_nvme_opts_default(&o);
	o.irq = UVFIO_NVME_IRQ_POLL;
	o.sgl = UVFIO_NVME_SGL_NEVER;
	return open_with(&o);
}

static int setup_sgl(void **state)
{
	struct uvfio_nvme_opts o;

	uvfio_nvme_opts_default(&o);
	o.irq = UVFIO_NVME_IRQ_POLL;
	return open_with(&o);
}

static int setup_irq(void **state)
{
	struct uvfio_nvme_opts o;

	uvfio_nvme_opts_default(&o);
	o.irq = UVFIO_NVME_IRQ_AUTO;
	return open_with(&o);
}

static int setup_short_timeouts(void **state)
{
	struct uvfio_nvme_opts o;

	uvfio_nvme_opts_default(&o);
	o.irq = UVFIO_NVME_IRQ_POLL;
	o.io_timeout_ms = 300;
	o.admin_timeout_ms = 500;
	return open_with(&o);
}

/* uvfio's controller without an mmap-able doorbell page: ioeventfds carry shadow doorbells. */
static int setup_no_db_mmap(void **state)
{
	struct uvfio_nvme_opts o;
	int ret;

	uvfio_nvme_opts_default(&o);
	o.irq = UVFIO_NVME_IRQ_POLL;
	server_opts = target_kind == T_UVFIO ? "db_mmap=off" : NULL;
	ret = open_with(&o);
	server_opts = NULL;
	return ret;
}

static int setup_db_messages(void **state)
{
	struct uvfio_nvme_opts o;

	uvfio_nvme_opts_default(&o);
	o.irq = UVFIO_NVME_IRQ_AUTO;
	o.doorbells = UVFIO_NVME_DB_MESSAGE;
	o.no_shadow_doorbells = true;
	return open_with(&o);
}

static int teardown(void **state)
{
	if (qp)
		uvfio_nvme_qpair_destroy(qp);
	qp = NULL;
	uvfio_nvme_ctrl_close(ctrl);
	ctrl = NULL;
	if (target_kind != T_URL)
		nt_stop(&tgt);
	return 0;
}

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 31 + seed * 7 + (i >> 9)) ^ (seed >> 3));
}

static void test_identify(void **state)
{
	struct uvfio_nvme_ctrl_info ci;
	uint32_t ids[8];

	assert_int_equal(uvfio_nvme_ctrl_get_info(ctrl, &ci), 0);
	assert_true(ci.mn[0] != '\0');
	assert_true(ci.nn >= 1);
	assert_true(ci.max_xfer >= 4096);
	assert_true(ci.io_queues >= 1);
	assert_true(uvfio_nvme_ns_list(ctrl, ids, 8) >= 1);
	assert_int_equal(ids[0], 1);
	assert_true(ns.lba_size == 512 || ns.lba_size == 4096);
	assert_true(ns.nsze >= (1u << 20) / ns.lba_size);
	if (target_kind != T_URL) {
		assert_string_equal(ci.sn, "uvfiotest");
		assert_int_equal(ns.nsze * ns.lba_size, NT_IMG_BYTES);
	}
	/* Raw identify data matches what the info says. */
	const uint8_t *id = uvfio_nvme_ctrl_identify_data(ctrl);
	assert_memory_equal(id + 4, ci.sn, strlen(ci.sn));
}

/* Write a pattern, read it back, Compare it (match and mismatch), for sizes from one block
 * to max_xfer, starting inside a page too. */
static void round_trips(void)
{
	struct uvfio_nvme_ctrl_info ci;
	uint32_t bs = ns.lba_size;
	uint8_t *w, *r;

	assert_int_equal(uvfio_nvme_ctrl_get_info(ctrl, &ci), 0);
	w = uvfio_nvme_dma_alloc(ctrl, ci.max_xfer + 4096);
	r = uvfio_nvme_dma_alloc(ctrl, ci.max_xfer + 4096);
	assert_non_null(w);
	assert_non_null(r);
	const size_t sizes[] = { bs, 4096, 8192, 12288, 65536, 3 * 65536 + bs, ci.max_xfer };
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		for (size_t off = 0; off <= bs; off += bs) {
			size_t len = sizes[i];
			uint32_t nlb = (uint32_t)(len / bs);
			uint64_t lba = 1000 + i * 3000;
			struct uvfio_nvme_cmd c = { .opcode = 0x01, .nsid = 1,
						    .cdw10 = (uint32_t)lba, .cdw12 = nlb - 1 };

			if (len + off > ci.max_xfer + 4096u || len > ci.max_xfer)
				continue;
			fill(w + off, len, (uint32_t)(i * 2 + off));
			memset(r + off, 0xee, len);
			assert_int_equal(uvfio_nvme_io_sync(qp, &c, w + off, len, NULL), 0);
			c.opcode = 0x02;
			assert_int_equal(uvfio_nvme_io_sync(qp, &c, r + off, len, NULL), 0);
			assert_memory_equal(w + off, r + off, len);
			c.opcode = 0x05; /* compare */
			if (ci.oncs & 1) {
				assert_int_equal(uvfio_nvme_io_sync(qp, &c, w + off, len, NULL), 0);
				w[off + len - 1] ^= 0xff;
				int st = uvfio_nvme_io_sync(qp, &c, w + off, len, NULL);
				assert_int_equal(UVFIO_NVME_STATUS_CODE(st), 0x285);
				assert_string_equal(uvfio_nvme_strstatus(st), "Compare Failure");
			}
		}
	}
	uvfio_nvme_dma_free(ctrl, w);
	uvfio_nvme_dma_free(ctrl, r);
}

static void test_round_trips_prp(void **state)
{
	round_trips();
}

static void test_round_trips_sgl(void **state)
{
	struct uvfio_nvme_ctrl_info ci;

	assert_int_equal(uvfio_nvme_ctrl_get_info(ctrl, &ci), 0);
	if (!ci.sgl)
		fprintf(stderr, "the controller offers no SGLs: PRPs again\n");
	round_trips();
}

struct done {
	int n, status;
};

static void cb(void *arg, int status, uint32_t cdw0)
{
	struct done *d = arg;

	d->n++;
	d->status = status;
}

static int run1(int ret, struct done *d)
{
	assert_int_equal(ret, 0);
	while (!d->n)
		assert_true(uvfio_nvme_wait(qp, 5000) > 0);
	return d->status;
}

static void test_flush_zeroes_deallocate(void **state)
{
	uint32_t bs = ns.lba_size;
	uint8_t *buf = uvfio_nvme_dma_alloc(ctrl, 16 * bs);
	uint8_t *zero = calloc(1, 16 * bs);
	struct done d = { 0 };

	fill(buf, 16 * bs, 9);
	assert_int_equal(run1(uvfio_nvme_write(qp, 1, buf, 64, 16, cb, &d), &d), 0);
	d.n = 0;
	assert_int_equal(run1(uvfio_nvme_flush(qp, 1, cb, &d), &d), 0);
	d.n = 0;
	assert_int_equal(run1(uvfio_nvme_write_zeroes(qp, 1, 64, 8, cb, &d), &d), 0);
	d.n = 0;
	memset(buf, 0xaa, 16 * bs);
	assert_int_equal(run1(uvfio_nvme_read(qp, 1, buf, 64, 16, cb, &d), &d), 0);
	assert_memory_equal(buf, zero, 8 * bs);
	assert_memory_not_equal(buf + 8 * bs, zero, 8 * bs);
	d.n = 0;
	assert_int_equal(run1(uvfio_nvme_deallocate(qp, 1, 72, 8, cb, &d), &d), 0);
	d.n = 0;
	assert_int_equal(run1(uvfio_nvme_read(qp, 1, buf, 64, 16, cb, &d), &d), 0);
	assert_memory_equal(buf, zero, 8 * bs); /* untouched by the deallocate */
	uvfio_nvme_dma_free(ctrl, buf);
	free(zero);
}

static void test_out_of_range(void **state)
{
	uint8_t *buf = uvfio_nvme_dma_alloc(ctrl, 4096);
	struct done d = { 0 };
	int st;

	st = run1(uvfio_nvme_read(qp, 1, buf, ns.nsze, 1, cb, &d), &d);
	assert_int_equal(UVFIO_NVME_STATUS_CODE(st), 0x080);
	assert_string_equal(uvfio_nvme_strstatus(st), "LBA Out of Range");
	d.n = 0;
	st = run1(uvfio_nvme_write(qp, 1, buf, ns.nsze - 1, 2, cb, &d), &d);
	assert_string_equal(uvfio_nvme_strstatus(st), "LBA Out of Range");
	/* A namespace that does not exist, and a buffer not from the driver. */
	struct uvfio_nvme_cmd c = { .opcode = 0x02, .nsid = 77, .cdw12 = 0 };
	st = uvfio_nvme_io_sync(qp, &c, buf, ns.lba_size, NULL);
	/* The spec's answer; QEMU says Invalid Field for NSIDs above its maximum. */
	assert_true(UVFIO_NVME_STATUS_CODE(st) == 0x00b || UVFIO_NVME_STATUS_CODE(st) == 0x002);
	assert_true(!strcmp(uvfio_nvme_strstatus(st), "Invalid Namespace or Format") ||
		    !strcmp(uvfio_nvme_strstatus(st), "Invalid Field in Command"));
	uint8_t stack[512];
	assert_int_equal(uvfio_nvme_submit(qp, &c, stack, sizeof(stack), cb, &d), -EINVAL);
	/* The queue still works. */
	d.n = 0;
	assert_int_equal(run1(uvfio_nvme_read(qp, 1, buf, 0, 1, cb, &d), &d), 0);
	uvfio_nvme_dma_free(ctrl, buf);
}

/* Queue depth > 1 with completions reaped by wait(): interrupt mode when set up so. */
static void deep_queue(void)
{
	enum { N = 48 };
	uint32_t bs = ns.lba_size;
	uint8_t *buf = uvfio_nvme_dma_alloc(ctrl, N * bs);
	struct done d = { 0 };
	int submitted = 0;

	for (int i = 0; i < N; i++)
		fill(buf + i * bs, bs, 100 + i);
	while (submitted < N) {
		int ret = uvfio_nvme_write(qp, 1, buf + submitted * bs, 5000 + submitted, 1, cb, &d);
		if (ret == -EAGAIN) {
			uvfio_nvme_wait(qp, 1000);
			continue;
		}
		assert_int_equal(ret, 0);
		submitted++;
	}
	while (d.n < N)
		assert_true(uvfio_nvme_wait(qp, 5000) > 0);
	assert_int_equal(d.status, 0);
	assert_int_equal(uvfio_nvme_qpair_outstanding(qp), 0);
	memset(buf, 0, N * bs);
	d.n = 0;
	assert_int_equal(run1(uvfio_nvme_read(qp, 1, buf, 5000, N, cb, &d), &d), 0);
	for (int i = 0; i < N; i++) {
		uint8_t want[4096];
		fill(want, bs, 100 + i);
		assert_memory_equal(buf + i * bs, want, bs);
	}
	uvfio_nvme_dma_free(ctrl, buf);
}

static void test_polling(void **state)
{
	struct uvfio_nvme_ctrl_info ci;

	assert_int_equal(uvfio_nvme_ctrl_get_info(ctrl, &ci), 0);
	assert_string_equal(ci.irq, "poll");
	assert_int_equal(uvfio_nvme_qpair_fd(qp), -1);
	deep_queue();
}

static void test_interrupts(void **state)
{
	struct uvfio_nvme_ctrl_info ci;

	assert_int_equal(uvfio_nvme_ctrl_get_info(ctrl, &ci), 0);
	fprintf(stderr, "interrupt mode: %s, doorbells: %s%s\n", ci.irq, ci.doorbells,
		ci.shadow_doorbells ? " + shadow" : "");
	assert_string_not_equal(ci.irq, "poll");
	if (target_kind == T_UVFIO) {
		/* Mapped doorbells, GET_REGION_IO_FDS's kicks, shadow doorbells, MSI-X. */
		assert_string_equal(ci.doorbells, "mmap+ioeventfd");
		assert_true(ci.shadow_doorbells);
		assert_string_equal(ci.irq, "msix");
	} else if (target_kind == T_QEMU) {
		assert_string_equal(ci.irq, "intx"); /* its MSI-X never reaches a client */
	}
	assert_true(uvfio_nvme_qpair_fd(qp) >= 0);
	deep_queue();
}

/* Each doorbell path moves data: mmap (+ ioeventfd kicks), ioeventfds with shadow doorbells,
 * posted region writes. What uvfio's controller offers is known, so its paths are asserted. */
static void test_doorbells_ioeventfd(void **state)
{
	struct uvfio_nvme_ctrl_info ci;

	assert_int_equal(uvfio_nvme_ctrl_get_info(ctrl, &ci), 0);
	fprintf(stderr, "doorbells: %s%s\n", ci.doorbells, ci.shadow_doorbells ? " + shadow" : "");
	if (target_kind == T_UVFIO) {
		assert_string_equal(ci.doorbells, "ioeventfd");
		assert_true(ci.shadow_doorbells);
	}
	deep_queue();
}

static void test_doorbells_messages(void **state)
{
	struct uvfio_nvme_ctrl_info ci;

	assert_int_equal(uvfio_nvme_ctrl_get_info(ctrl, &ci), 0);
	assert_string_equal(ci.doorbells, "message");
	assert_false(ci.shadow_doorbells);
	deep_queue();
}

static void test_reset_recovery(void **state)
{
	uint32_t bs = ns.lba_size;
	uint8_t *buf = uvfio_nvme_dma_alloc(ctrl, 8 * bs);
	uint8_t want[8 * 4096];
	struct done d = { 0 };

	fill(buf, 8 * bs, 42);
	memcpy(want, buf, 8 * bs);
	assert_int_equal(run1(uvfio_nvme_write(qp, 1, buf, 300, 8, cb, &d), &d), 0);
	/* A command outstanding at the reset completes with -ECANCELED or before it. */
	d.n = 0;
	assert_int_equal(uvfio_nvme_read(qp, 1, buf, 300, 8, cb, &d), 0);
	assert_int_equal(uvfio_nvme_ctrl_reset(ctrl), 0);
	uvfio_nvme_process(qp, 0);
	assert_int_equal(d.n, 1);
	assert_true(d.status == 0 || d.status == -ECANCELED);
	assert_int_equal(uvfio_nvme_qpair_outstanding(qp), 0);
	/* The same queue pair works after the reset and the data is there. */
	memset(buf, 0, 8 * bs);
	d.n = 0;
	assert_int_equal(run1(uvfio_nvme_read(qp, 1, buf, 300, 8, cb, &d), &d), 0);
	assert_memory_equal(buf, want, 8 * bs);
	uvfio_nvme_dma_free(ctrl, buf);
}

/* SIGSTOP is asynchronous: wait until every thread of pid is stopped, so the controller
 * cannot complete a command submitted after this returns. */
static bool stop_process(pid_t pid)
{
	char path[64];

	if (kill(pid, SIGSTOP))
		return false;
	snprintf(path, sizeof(path), "/proc/%d/task", (int)pid);
	for (int i = 0; i < 500; i++) {
		DIR *d = opendir(path);
		struct dirent *e;
		bool all = d != NULL;

		while (d && (e = readdir(d))) {
			char st[600], buf[512], *p;
			FILE *f;

			if (e->d_name[0] == '.')
				continue;
			snprintf(st, sizeof(st), "%s/%s/stat", path, e->d_name);
			f = fopen(st, "r");
			p = f && fgets(buf, sizeof(buf), f) ? strrchr(buf, ')') : NULL;
			if (f)
				fclose(f);
			if (!p || (p[2] != 'T' && p[2] != 't'))
				all = false;
		}
		if (d)
			closedir(d);
		if (all)
			return true;
		poll(NULL, 0, 10);
	}
	return false;
}

/* A controller that stops answering (its process stopped): the command times out (after an
 * Abort that times out too), and a controller reset brings the queue pair back. */
static void test_timeout_and_reset(void **state)
{
	uint32_t bs = ns.lba_size;
	uint8_t *buf = uvfio_nvme_dma_alloc(ctrl, bs);
	struct done d = { 0 };

	if (target_kind == T_URL) {
		skip();
		return;
	}
	fill(buf, bs, 5);
	assert_int_equal(run1(uvfio_nvme_write(qp, 1, buf, 7, 1, cb, &d), &d), 0);
	assert_true(stop_process(tgt.pid));
	d.n = 0;
	assert_int_equal(uvfio_nvme_read(qp, 1, buf, 7, 1, cb, &d), 0);
	while (!d.n)
		assert_true(uvfio_nvme_wait(qp, 5000) >= 0);
	assert_int_equal(d.status, -ETIMEDOUT);
	assert_string_equal(uvfio_nvme_strstatus(d.status), strerror(ETIMEDOUT));
	assert_int_equal(uvfio_nvme_qpair_outstanding(qp), 0);
	assert_int_equal(kill(tgt.pid, SIGCONT), 0);
	assert_int_equal(uvfio_nvme_ctrl_reset(ctrl), 0);
	memset(buf, 0, bs);
	d.n = 0;
	assert_int_equal(run1(uvfio_nvme_read(qp, 1, buf, 7, 1, cb, &d), &d), 0);
	uint8_t want[4096];
	fill(want, bs, 5);
	assert_memory_equal(buf, want, bs);
	uvfio_nvme_dma_free(ctrl, buf);
}

struct worker {
	int id, errors;
};

static void *worker_main(void *arg)
{
	struct worker *wk = arg;
	struct uvfio_nvme_qpair *q;
	uint32_t bs = ns.lba_size;
	uint8_t *w, *r;

	if (uvfio_nvme_qpair_create(ctrl, &q) < 0) {
		wk->errors++;
		return NULL;
	}
	w = uvfio_nvme_dma_alloc(ctrl, 4 * bs);
	r = uvfio_nvme_dma_alloc(ctrl, 4 * bs);
	for (int i = 0; i < 50 && w && r; i++) {
		uint64_t lba = 20000 + (uint64_t)wk->id * 1000 + (uint64_t)i * 4;
		struct uvfio_nvme_cmd c = { .opcode = 1, .nsid = 1, .cdw10 = (uint32_t)lba,
					    .cdw12 = 3 };
		fill(w, 4 * bs, (uint32_t)(wk->id * 100 + i));
		wk->errors += uvfio_nvme_io_sync(q, &c, w, 4 * bs, NULL) != 0;
		c.opcode = 2;
		wk->errors += uvfio_nvme_io_sync(q, &c, r, 4 * bs, NULL) != 0;
		wk->errors += memcmp(w, r, 4 * bs) != 0;
	}
	uvfio_nvme_dma_free(ctrl, w);
	uvfio_nvme_dma_free(ctrl, r);
	uvfio_nvme_qpair_destroy(q);
	return NULL;
}

static void test_two_threads(void **state)
{
	struct worker wk[2] = { { .id = 1 }, { .id = 2 } };
	pthread_t t[2];

	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_create(&t[i], NULL, worker_main, &wk[i]), 0);
	for (int i = 0; i < 2; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(wk[i].errors, 0);
	}
}

static void test_admin_errors(void **state)
{
	uint8_t log[512];
	uint32_t v;

	/* SMART log works, an unknown log page and feature are named errors. */
	assert_int_equal(uvfio_nvme_get_log_page(ctrl, 0x02, 0xffffffff, log, sizeof(log)), 0);
	int st = uvfio_nvme_get_features(ctrl, 0x7f, 0, 0, &v);
	assert_true(st > 0);
	assert_string_equal(uvfio_nvme_strstatus(st), "Invalid Field in Command");
	struct uvfio_nvme_cmd bad = { .opcode = 0xc3 };
	st = uvfio_nvme_admin(ctrl, &bad, NULL, 0, NULL);
	assert_string_equal(uvfio_nvme_strstatus(st), "Invalid Command Opcode");
	assert_int_equal(uvfio_nvme_get_features(ctrl, 0x07, 0, 0, &v), 0);
	/* Freed DMA buffers give their table slots back: more allocations than slots. */
	for (int i = 0; i < 300; i++) {
		void *p = uvfio_nvme_dma_alloc(ctrl, 4096);
		assert_non_null(p);
		uvfio_nvme_dma_free(ctrl, p);
	}
	/* Deallocate (a DMA buffer per command) many times, then I/O still works. */
	for (int i = 0; i < 20; i++) {
		struct done d = { 0 };
		assert_int_equal(run1(uvfio_nvme_deallocate(qp, 1, 4096 + i, 1, cb, &d), &d), 0);
	}
	uint8_t *buf = uvfio_nvme_dma_alloc(ctrl, 4096);
	struct done d = { 0 };
	assert_int_equal(run1(uvfio_nvme_read(qp, 1, buf, 0, 1, cb, &d), &d), 0);
	uvfio_nvme_dma_free(ctrl, buf);
}

/* Format NVM on uvfio's controller: the LBA size changes, the data is zeroed, refusals (no such
 * format, protection information, cryptographic erase) carry the spec's status. */
static void test_format(void **state)
{
	struct uvfio_nvme_ns_info ni;
	struct done d = { 0 };
	uint8_t *buf;
	uint8_t zero[4096] = { 0 }, want[4096];

	if (target_kind != T_UVFIO) {
		skip(); /* other controllers' formats differ (QEMU's carry metadata) */
		return;
	}
	assert_true(uvfio_nvme_ctrl_identify_data(ctrl) != NULL);
	struct uvfio_nvme_ctrl_info ci;
	assert_int_equal(uvfio_nvme_ctrl_get_info(ctrl, &ci), 0);
	assert_true(ci.oacs & 2);
	buf = uvfio_nvme_dma_alloc(ctrl, 4096);
	fill(buf, 512, 77);
	assert_int_equal(run1(uvfio_nvme_write(qp, 1, buf, 10, 1, cb, &d), &d), 0);

	assert_int_equal(uvfio_nvme_format(ctrl, 1, 1, 0), 0);
	assert_int_equal(uvfio_nvme_ns_get_info(ctrl, 1, &ni), 0);
	assert_int_equal(ni.lba_size, 4096);
	assert_int_equal(ni.flbas & 0xf, 1);
	assert_int_equal(ni.nsze, ns.nsze * ns.lba_size / 4096);
	d.n = 0;
	assert_int_equal(run1(uvfio_nvme_read(qp, 1, buf, 1, 1, cb, &d), &d), 0);
	assert_memory_equal(buf, zero, 4096); /* LBA 10 of 512 bytes lay in this block */
	fill(want, 4096, 78);
	memcpy(buf, want, 4096);
	d.n = 0;
	assert_int_equal(run1(uvfio_nvme_write(qp, 1, buf, ni.nsze - 1, 1, cb, &d), &d), 0);
	memset(buf, 0, 4096);
	d.n = 0;
	assert_int_equal(run1(uvfio_nvme_read(qp, 1, buf, ni.nsze - 1, 1, cb, &d), &d), 0);
	assert_memory_equal(buf, want, 4096);

	/* No format 2, no protection information, no cryptographic erase, no namespace 9. */
	int st = uvfio_nvme_format(ctrl, 1, 2, 0);
	assert_int_equal(UVFIO_NVME_STATUS_CODE(st), 0x10a);
	assert_string_equal(uvfio_nvme_strstatus(st), "Invalid Format");
	struct uvfio_nvme_cmd pi = { .opcode = 0x80, .nsid = 1, .cdw10 = 1u << 5 };
	assert_int_equal(UVFIO_NVME_STATUS_CODE(uvfio_nvme_admin(ctrl, &pi, NULL, 0, NULL)), 0x10a);
	assert_int_equal(UVFIO_NVME_STATUS_CODE(uvfio_nvme_format(ctrl, 1, 0, 2)), 0x002);
	assert_int_equal(UVFIO_NVME_STATUS_CODE(uvfio_nvme_format(ctrl, 9, 0, 0)), 0x00b);
	assert_int_equal(uvfio_nvme_ns_get_info(ctrl, 1, &ni), 0);
	assert_int_equal(ni.lba_size, 4096); /* a refused format changes nothing */

	/* Back to 512 with a user data erase (SES 1): zeroed as well. */
	assert_int_equal(uvfio_nvme_format(ctrl, 0xffffffffu, 0, 1), 0);
	assert_int_equal(uvfio_nvme_ns_get_info(ctrl, 1, &ni), 0);
	assert_int_equal(ni.lba_size, 512);
	assert_int_equal(ni.nsze, ns.nsze * ns.lba_size / 512);
	d.n = 0;
	assert_int_equal(run1(uvfio_nvme_read(qp, 1, buf, ni.nsze - 8, 8, cb, &d), &d), 0);
	assert_memory_equal(buf, zero, 4096);
	uvfio_nvme_dma_free(ctrl, buf);
}

#define CASE(fn, setup) cmocka_unit_test_setup_teardown(fn, setup, teardown)

static int run_target(const char *name)
{
	const struct CMUnitTest tests[] = {
		CASE(test_identify, setup_default),
		CASE(test_round_trips_prp, setup_default),
		CASE(test_round_trips_sgl, setup_sgl),
		CASE(test_flush_zeroes_deallocate, setup_default),
		CASE(test_out_of_range, setup_default),
		CASE(test_polling, setup_default),
		CASE(test_interrupts, setup_irq),
		CASE(test_doorbells_ioeventfd, setup_no_db_mmap),
		CASE(test_doorbells_messages, setup_db_messages),
		CASE(test_reset_recovery, setup_default),
		CASE(test_timeout_and_reset, setup_short_timeouts),
		CASE(test_two_threads, setup_default),
		CASE(test_admin_errors, setup_default),
		CASE(test_format, setup_default),
	};

	return _cmocka_run_group_tests(name, tests, sizeof(tests) / sizeof(tests[0]), NULL, NULL);
}

static bool have_uvfio_nvme(void)
{
	char cmd[512];
	const char *bin = getenv("UVFIO_BIN");

	if (!bin)
		return false;
	snprintf(cmd, sizeof(cmd), "%s serve --help 2>&1 | grep -q '^  nvme '", bin);
	return system(cmd) == 0;
}

int main(void)
{
	int fails = 0;
	const char *ci = getenv("CI");

	if (nt_have_qemu()) {
		target_kind = T_QEMU;
		fails += run_target("nvme-host/qemu");
	} else if (ci && !strcmp(ci, "true")) {
		fails++;
	}
	if (have_uvfio_nvme()) {
		target_kind = T_UVFIO;
		fails += run_target("nvme-host/uvfio");
	} else {
		fprintf(stderr, "uvfio has no nvme device in this build: skipping those cases\n");
	}
	if (getenv("NT_VFIO_URL")) {
		target_kind = T_URL;
		fails += run_target("nvme-host/url");
	}
	return fails ? 1 : 0;
}
