/* SPDX-License-Identifier: MIT */
/*
 * Live migration of uvfio's NVMe controller with I/O in flight (issue 9): two "uvfio serve"
 * nvme devices; the host driver drives the source from an I/O thread that keeps QD writes
 * outstanding, each write's block naming its LBA and its sequence number (the generation).
 * uvfio_migrate() runs pre-copy rounds while the writes go on (each round waits for more
 * writes to complete, so every round races with I/O), then, as a VMM stops its vCPUs, the I/O
 * thread parks with commands outstanding before the source stops. The driver follows the
 * controller to the destination (uvfio_nvme_ctrl_migrated), the thread goes on there and then
 * drains. Checked: every command completed exactly once (callbacks per sequence number, and
 * completion queue entries reaped == commands submitted), all with success, and every LBA
 * holds the last write to it (an old write replayed on the destination would show).
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
#include <time.h>

#include <cmocka.h>
#include <uvfio/client.h>
#include <uvfio/migrate.h>
#include <uvfio/nvme.h>

#include "nvme_target.h"

#define QD 16
#define NLBA 512 /* the ring of LBAs written: seq i goes to LBA (i % NLBA) */
#define MAX_SEQ 20000
#define PER_ROUND 200 /* writes completed during each pre-copy round, at least */
#define AFTER 1000 /* writes submitted on the destination */
#define MAGIC 0x4d494749u

struct rec {
	uint32_t seq;
	int slot;
	int calls;
	int status;
};

struct io {
	struct uvfio_nvme_ctrl *c;
	struct uvfio_nvme_qpair *q;
	uint32_t bs;
	uint8_t *buf; /* QD slots of one block */
	int free_slots[QD];
	int nfree;
	struct rec rec[MAX_SEQ];
	uint32_t submitted;
	uint64_t cqes; /* completion queue entries reaped */
	int errors;
	/* Control, under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond;
	uint32_t completed;
	bool park, parked, resume;
	uint32_t stop_at; /* submit up to this many, then drain and leave (0: unbounded) */
	uint32_t allowed; /* writes the thread may submit before the next round allows more */
};

static struct io io_g;

static void fill_block(uint8_t *p, uint32_t bs, uint32_t lba, uint32_t seq)
{
	uint32_t hdr[3] = { MAGIC, lba, seq };

	for (uint32_t i = 0; i < bs; i++)
		p[i] = (uint8_t)(seq * 7 + i);
	memcpy(p, hdr, sizeof(hdr));
}

static void write_done(void *arg, int status, uint32_t cdw0)
{
	struct rec *r = arg;
	struct io *io = &io_g;

	(void)cdw0;
	r->calls++;
	r->status = status;
	if (r->calls == 1)
		io->free_slots[io->nfree++] = r->slot;
	pthread_mutex_lock(&io->lock);
	io->completed++;
	pthread_cond_broadcast(&io->cond);
	pthread_mutex_unlock(&io->lock);
}

static int reap(struct io *io, bool block)
{
	int n = block ? uvfio_nvme_wait(io->q, 10000) : uvfio_nvme_process(io->q, 0);

	if (n < 0 || (block && n == 0)) {
		/* An error, or nothing within 10 s: a lost completion. */
		fprintf(stderr, "reaping after %u writes: %s\n", io->submitted,
			n < 0 ? strerror(-n) : "no completion within 10 s");
		return -1;
	}
	io->cqes += (uint64_t)n;
	return 0;
}

/* Submit writes until QD are outstanding. */
static int fill(struct io *io, uint32_t stop_at)
{
	while (io->nfree && io->submitted < MAX_SEQ && (!stop_at || io->submitted < stop_at)) {
		uint32_t seq = io->submitted;
		struct rec *r = &io->rec[seq];
		int slot = io->free_slots[--io->nfree];
		uint8_t *p = io->buf + (size_t)slot * io->bs;

		r->seq = seq;
		r->slot = slot;
		fill_block(p, io->bs, seq % NLBA, seq);
		if (uvfio_nvme_write(io->q, 1, p, seq % NLBA, 1, write_done, r) != 0) {
			io->errors++;
			return -1;
		}
		io->submitted++;
	}
	return 0;
}

static void *io_main(void *arg)
{
	struct io *io = arg;

	for (;;) {
		pthread_mutex_lock(&io->lock);
		bool park = io->park;
		uint32_t stop_at = io->stop_at, allowed = io->allowed;
		if (!park && !stop_at && io->submitted >= allowed && io->nfree == QD) {
			/* All the writes allowed so far are done: wait for more allowance. */
			pthread_cond_wait(&io->cond, &io->lock);
			pthread_mutex_unlock(&io->lock);
			continue;
		}
		pthread_mutex_unlock(&io->lock);
		if (park) {
			/* Parked right after submitting QD writes: they stay outstanding over the
			 * move (the source may have run some of them, or none). */
			if (fill(io, 0) < 0)
				return NULL;
			pthread_mutex_lock(&io->lock);
			io->parked = true;
			pthread_cond_broadcast(&io->cond);
			while (!io->resume)
				pthread_cond_wait(&io->cond, &io->lock);
			io->park = io->parked = false;
			pthread_mutex_unlock(&io->lock);
			continue;
		}
		if (stop_at && io->submitted >= stop_at)
			break;
		uint32_t limit = stop_at ? stop_at : allowed;
		if (fill(io, limit) < 0)
			return NULL;
		if (io->nfree == QD)
			continue;
		/* Wait for a completion when nothing more may be submitted now. */
		if (reap(io, io->nfree == 0 || io->submitted >= limit) < 0) {
			io->errors++;
			return NULL;
		}
	}
	while (uvfio_nvme_qpair_outstanding(io->q))
		if (reap(io, true) < 0) {
			io->errors++;
			return NULL;
		}
	return NULL;
}

/* Waits (bounded, 60 s) until cond_fn holds; false if it never did. */
static bool wait_for(struct io *io, bool (*cond_fn)(struct io *, uint32_t), uint32_t v)
{
	struct timespec ts;
	bool ok;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 60;
	pthread_mutex_lock(&io->lock);
	while (!(ok = cond_fn(io, v)))
		if (pthread_cond_timedwait(&io->cond, &io->lock, &ts) == ETIMEDOUT) {
			ok = cond_fn(io, v);
			break;
		}
	pthread_mutex_unlock(&io->lock);
	return ok;
}

static bool completed_at_least(struct io *io, uint32_t v)
{
	return io->completed >= v;
}

static bool is_parked(struct io *io, uint32_t v)
{
	(void)v;
	return io->parked;
}

struct mig_cb {
	struct io *io;
	uint32_t precopy_rounds;
	int errors;
};

static int progress(const struct uvfio_migrate_progress *p, void *opaque)
{
	struct mig_cb *m = opaque;
	struct io *io = m->io;

	if (p->phase == UVFIO_MIGRATE_PRECOPY) {
		/* Let the source take more writes before the next round: rounds race with I/O. */
		uint32_t target;

		m->precopy_rounds++;
		pthread_mutex_lock(&io->lock);
		io->allowed += PER_ROUND;
		target = io->allowed;
		pthread_cond_broadcast(&io->cond);
		pthread_mutex_unlock(&io->lock);
		if (!wait_for(io, completed_at_least, target)) {
			fprintf(stderr, "round %u: no writes completing\n", m->precopy_rounds);
			m->errors++;
			return -EIO;
		}
	} else if (p->phase == UVFIO_MIGRATE_STOPCOPY) {
		/* The "vCPUs" stop before the device does. */
		pthread_mutex_lock(&io->lock);
		io->park = true;
		pthread_cond_broadcast(&io->cond);
		pthread_mutex_unlock(&io->lock);
		if (!wait_for(io, is_parked, 0)) {
			m->errors++;
			return -EIO;
		}
	}
	return 0;
}

/* state: NULL for RAM namespaces (their data moves in pre-copy), else a file both servers share
 * (io_uring: writes really are in flight inside the controller when it quiesces). */
static void test_migrate_with_io_in_flight(void **state)
{
	const char *file = *state;
	char opts[200];

	struct io *iop = &io_g;
	struct nvme_target src, dst;
	struct uvfio_handle *sh = NULL, *dh = NULL;
	struct uvfio_nvme_opts o;
	struct uvfio_nvme_ns_info ns;
	pthread_t t;

	if (file)
		snprintf(opts, sizeof(opts), "file=%s", file);
	memset(iop, 0, sizeof(*iop));
	memset(&src, 0, sizeof(src));
	memset(&dst, 0, sizeof(dst));
	pthread_mutex_init(&iop->lock, NULL);
	pthread_cond_init(&iop->cond, NULL);
	assert_int_equal(nt_start_uvfio(&src, file ? opts : NULL), 0);
	assert_int_equal(nt_start_uvfio(&dst, file ? opts : NULL), 0);
	assert_int_equal(uvfio_open(src.url, &sh), 0);
	uvfio_nvme_opts_default(&o);
	o.io_queues = 1;
	o.io_timeout_ms = 0; /* a lost completion shows as a missing callback, not an Abort */
	assert_int_equal(uvfio_nvme_ctrl_open(sh, &o, &iop->c), 0);
	assert_int_equal(uvfio_nvme_ns_get_info(iop->c, 1, &ns), 0);
	iop->bs = ns.lba_size;
	assert_int_equal(uvfio_nvme_qpair_create(iop->c, &iop->q), 0);
	iop->buf = uvfio_nvme_dma_alloc(iop->c, (size_t)QD * iop->bs);
	assert_non_null(iop->buf);
	for (int i = 0; i < QD; i++)
		iop->free_slots[iop->nfree++] = i;

	/* The destination reaches the driver's memory through the driver's IOAS. */
	struct uvfio_ioas *ioas = uvfio_nvme_ctrl_ioas(iop->c);
	assert_int_equal(uvfio_open(dst.url, &dh), 0);
	assert_int_equal(uvfio_ioas_attach(ioas, dh), 0);
	/* Following a device that is not the migrated controller is refused, harmlessly. */
	assert_int_equal(uvfio_nvme_ctrl_migrated(iop->c, NULL), -EINVAL);
	assert_int_equal(uvfio_nvme_ctrl_migrated(iop->c, sh), -EINVAL);
	assert_int_equal(uvfio_nvme_ctrl_migrated(iop->c, dh), -EIO); /* fresh: not enabled */
	assert_ptr_equal(uvfio_nvme_ctrl_handle(iop->c), sh);

	iop->allowed = PER_ROUND;
	assert_int_equal(pthread_create(&t, NULL, io_main, iop), 0);
	assert_true(wait_for(iop, completed_at_least, PER_ROUND));
	struct mig_cb m = { .io = iop };
	struct uvfio_migrate_opts mo = { .max_rounds = 3, .max_downtime_ms = 1, .progress = progress, .opaque = &m };
	struct uvfio_migrate_stats st;
	int ret = uvfio_migrate(sh, ioas, dh, ioas, &mo, &st);
	assert_int_equal(ret, 0);
	assert_int_equal(m.errors, 0);
	if (!file) {
		assert_true(st.precopy);
		assert_true(m.precopy_rounds >= 1);
	}
	assert_int_equal(st.dst_state, UVFIO_MIG_STATE_RUNNING);
	assert_true(is_parked(iop, 0));

	/* The thread is parked (the handshake above orders its writes before our reads). */
	uint32_t before = iop->submitted;
	uint32_t outstanding = uvfio_nvme_qpair_outstanding(iop->q);
	assert_int_equal(outstanding, QD);
	assert_int_equal(uvfio_nvme_ctrl_migrated(iop->c, dh), 0);
	assert_ptr_equal(uvfio_nvme_ctrl_handle(iop->c), dh);
	uvfio_close(sh);
	assert_int_equal(nt_stop(&src), 0);
	fprintf(stderr, "migrated after %u writes, %u outstanding at the stop, %u pre-copy rounds\n",
		before, outstanding, m.precopy_rounds);

	pthread_mutex_lock(&iop->lock);
	iop->stop_at = before + AFTER;
	iop->resume = true;
	pthread_cond_broadcast(&iop->cond);
	pthread_mutex_unlock(&iop->lock);
	pthread_join(t, NULL);
	assert_int_equal(iop->errors, 0);

	/* Every command completed once, with success; as many CQEs as commands. */
	assert_int_equal(iop->submitted, before + AFTER);
	for (uint32_t s = 0; s < iop->submitted; s++) {
		if (iop->rec[s].calls != 1 || iop->rec[s].status != 0)
			fail_msg("write %u: %d completions, status %d", s, iop->rec[s].calls,
				 iop->rec[s].status);
	}
	assert_int_equal(iop->cqes, iop->submitted);
	assert_int_equal(iop->completed, iop->submitted);

	/* Each LBA of the ring holds its last write (read on the destination). */
	uint8_t *r = uvfio_nvme_dma_alloc(iop->c, (size_t)NLBA * iop->bs);
	uint8_t *want = malloc(iop->bs);
	assert_non_null(r);
	assert_non_null(want);
	struct uvfio_nvme_cmd rc = { .opcode = 0x02, .nsid = 1, .cdw12 = 63 };
	for (uint32_t lba = 0; lba < NLBA; lba += 64) {
		rc.cdw10 = lba;
		assert_int_equal(uvfio_nvme_io_sync(iop->q, &rc, r + (size_t)lba * iop->bs,
						    64 * (size_t)iop->bs, NULL),
				 0);
	}
	for (uint32_t lba = 0; lba < NLBA; lba++) {
		uint32_t last = iop->submitted - 1 - ((iop->submitted - 1 - lba) % NLBA);
		fill_block(want, iop->bs, lba, last);
		if (memcmp(r + (size_t)lba * iop->bs, want, iop->bs)) {
			uint32_t got[3];
			memcpy(got, r + (size_t)lba * iop->bs, sizeof(got));
			fail_msg("LBA %u holds (magic %x, lba %u, seq %u), want seq %u", lba,
				 got[0], got[1], got[2], last);
		}
	}
	free(want);
	uvfio_nvme_dma_free(iop->c, r);
	uvfio_nvme_dma_free(iop->c, iop->buf);
	uvfio_nvme_qpair_destroy(iop->q);
	uvfio_nvme_ctrl_close(iop->c);
	uvfio_close(dh);
	assert_int_equal(nt_stop(&dst), 0);
}

static char img[64];

static int setup_file(void **state)
{
	int fd;

	snprintf(img, sizeof(img), "/tmp/uvfio-migio-XXXXXX");
	fd = mkstemp(img);
	if (fd < 0 || ftruncate(fd, (off_t)NT_IMG_BYTES) < 0)
		return -1;
	close(fd);
	*state = img;
	return 0;
}

static int teardown_file(void **state)
{
	unlink(img);
	return 0;
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_migrate_with_io_in_flight, NULL),
		cmocka_unit_test_setup_teardown(test_migrate_with_io_in_flight, setup_file,
						teardown_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
