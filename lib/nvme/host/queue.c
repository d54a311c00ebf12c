/* SPDX-License-Identifier: MIT */
/*
 * Queue pairs: rings in DMA memory, command slots (CID = slot), doorbells, completion reaping,
 * command timeouts (Abort first, then the command fails with -ETIMEDOUT and stays reserved
 * until a controller reset). Nothing here locks: a queue pair belongs to one thread.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "nvme/host/nvme_host_priv.h"
#include "util/log.h"

#define TIMEOUT_CHECK_EVERY 4096u /* empty polls between deadline checks */

uint64_t nvme_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int nvme_qpair_alloc(struct uvfio_nvme_ctrl *c, uint16_t qid, uint16_t size,
		     struct uvfio_nvme_qpair **out)
{
	struct uvfio_nvme_qpair *q = calloc(1, sizeof(*q));
	uint32_t per_page = nvme_prps_per_page(NVME_HOST_PAGE);
	size_t sq_len, cq_len, prp_len, total;
	uint8_t *mem;
	uint64_t iova;

	if (!q)
		return -ENOMEM;
	q->ctrl = c;
	q->qid = qid;
	q->size = size;
	q->phase = NVME_CQ_PHASE_INITIAL;
	q->sq_efd = q->cq_efd = q->irq_fd = -1;
	q->prp_pages = (c->max_xfer / NVME_HOST_PAGE + 1) / (per_page - 1) + 1;
	sq_len = ((size_t)size * NVME_SQE_SIZE + NVME_HOST_PAGE - 1) & ~(size_t)(NVME_HOST_PAGE - 1);
	cq_len = ((size_t)size * NVME_CQE_SIZE + NVME_HOST_PAGE - 1) & ~(size_t)(NVME_HOST_PAGE - 1);
	prp_len = (size_t)size * q->prp_pages * NVME_HOST_PAGE;
	total = sq_len + cq_len + prp_len;
	q->reqs = calloc(size, sizeof(*q->reqs));
	q->free_cids = calloc(size, sizeof(*q->free_cids));
	mem = uvfio_nvme_dma_alloc(c, total);
	if (!q->reqs || !q->free_cids || !mem) {
		free(q->reqs);
		free(q->free_cids);
		free(q);
		return -ENOMEM;
	}
	q->mem = mem;
	nvme_dma_iova(c, mem, total, &iova);
	q->sq = (struct nvme_sqe *)mem;
	q->sq_iova = iova;
	q->cq = (volatile struct nvme_cqe *)(mem + sq_len);
	q->cq_iova = iova + sq_len;
	for (uint16_t i = 0; i < size; i++) {
		size_t off = sq_len + cq_len + (size_t)i * q->prp_pages * NVME_HOST_PAGE;

		q->reqs[i].prp_list = (uint64_t *)(mem + off);
		q->reqs[i].prp_iova = iova + off;
	}
	/* One slot stays empty (tail + 1 == head is full): size - 1 commands at most. */
	q->nfree = 0;
	for (uint16_t i = size - 1; i-- > 0;)
		q->free_cids[q->nfree++] = i;
	*out = q;
	return 0;
}

void nvme_qpair_free(struct uvfio_nvme_qpair *q)
{
	if (!q)
		return;
	uvfio_nvme_dma_free(q->ctrl, q->mem);
	free(q->reqs);
	free(q->free_cids);
	free(q);
}

static void complete(struct uvfio_nvme_qpair *q, uint16_t cid, int status, uint32_t cdw0)
{
	struct nvme_req *r = &q->reqs[cid];
	uvfio_nvme_cb cb = r->cb;
	void *arg = r->arg;

	r->busy = false;
	r->cb = NULL;
	q->free_cids[q->nfree++] = cid;
	if (cb)
		cb(arg, status, cdw0);
}

void nvme_qpair_reset(struct uvfio_nvme_qpair *q, int err)
{
	for (uint16_t cid = 0; cid < q->size; cid++) {
		struct nvme_req *r = &q->reqs[cid];

		if (r->busy) {
			complete(q, cid, err, 0);
		} else if (r->aborted) {
			/* Timed out earlier and kept reserved: the reset frees it. */
			r->aborted = false;
			q->free_cids[q->nfree++] = cid;
		}
	}
	memset((void *)q->cq, 0, (size_t)q->size * NVME_CQE_SIZE);
	q->sq_tail = q->cq_head = 0;
	q->sq_db_last = q->cq_db_last = 0;
	q->phase = NVME_CQ_PHASE_INITIAL;
}

void nvme_qpair_setup_doorbells(struct uvfio_nvme_qpair *q)
{
	struct uvfio_nvme_ctrl *c = q->ctrl;
	uint32_t sqi = nvme_db_index(q->qid, false), cqi = nvme_db_index(q->qid, true);
	uint32_t stride = (4u << c->dstrd) / 4; /* in u32 */

	q->sq_db = q->cq_db = NULL;
	q->sq_efd = q->cq_efd = -1;
	q->shadow_sq = q->shadow_cq = q->eventidx_sq = q->eventidx_cq = NULL;
	if (c->db_mode == UVFIO_NVME_DB_MMAP) {
		volatile uint32_t *base = c->db_map;

		q->sq_db = base + sqi * stride;
		q->cq_db = base + cqi * stride;
	}
	/* Shadow doorbells for I/O queues only, as Linux does (the admin queue rings MMIO). */
	if (c->shadow && q->qid) {
		q->shadow_sq = c->shadow + sqi * stride;
		q->shadow_cq = c->shadow + cqi * stride;
		q->eventidx_sq = c->eventidx + sqi * stride;
		q->eventidx_cq = c->eventidx + cqi * stride;
		*q->shadow_sq = 0;
		*q->shadow_cq = 0;
	}
	/* Kicks: after an mmapped doorbell store, or carrying a shadow doorbell's value. */
	if (c->db_nefd && (c->db_mode == UVFIO_NVME_DB_MMAP ||
			   (c->db_mode == UVFIO_NVME_DB_IOEVENTFD && q->shadow_sq))) {
		q->sq_efd = sqi < c->db_nefd ? c->db_efd[sqi] : -1;
		q->cq_efd = cqi < c->db_nefd ? c->db_efd[cqi] : -1;
	}
}

static void ring(struct uvfio_nvme_qpair *q, bool is_cq, uint16_t val)
{
	volatile uint32_t *shadow = is_cq ? q->shadow_cq : q->shadow_sq;
	volatile uint32_t *db = is_cq ? q->cq_db : q->sq_db;
	uint16_t *last = is_cq ? &q->cq_db_last : &q->sq_db_last;
	int efd = is_cq ? q->cq_efd : q->sq_efd;

	if (shadow) {
		volatile uint32_t *ei = is_cq ? q->eventidx_cq : q->eventidx_sq;
		uint16_t old = *last;

		__atomic_thread_fence(__ATOMIC_RELEASE);
		*shadow = val;
		/* The store above must be visible before we read EventIdx (the controller does
		 * the opposite: writes EventIdx, then reads the shadow value). */
		__atomic_thread_fence(__ATOMIC_SEQ_CST);
		*last = val;
		if (!nvme_dbbuf_need_event((uint16_t)*ei, val, old))
			return;
	}
	*last = val;
	__atomic_thread_fence(__ATOMIC_RELEASE);
	if (db)
		*db = val;
	if (efd >= 0) {
		uint64_t one = 1;

		if (write(efd, &one, sizeof(one)) != sizeof(one))
			log_warn("nvme: doorbell eventfd write: %m");
	} else if (!db) {
		uint32_t v = val;
		uint32_t off = is_cq ? nvme_cq_doorbell(q->qid, q->ctrl->dstrd) :
				       nvme_sq_doorbell(q->qid, q->ctrl->dstrd);
		int ret = uvfio_region_write_posted(q->ctrl->h, UVFIO_PCI_BAR0_REGION, off, &v,
						    sizeof(v));

		if (ret < 0)
			log_warn("nvme: doorbell 0x%x: %s", off, strerror(-ret));
	}
}

int nvme_qpair_submit_raw(struct uvfio_nvme_qpair *q, const struct uvfio_nvme_cmd *cmd,
			  uint64_t iova, size_t len, uvfio_nvme_cb cb, void *arg, uint32_t timeout_ms)
{
	struct uvfio_nvme_ctrl *c = q->ctrl;
	struct nvme_sqe sqe = { 0 };
	struct nvme_req *r;
	uint16_t cid;
	bool sgl;
	int ret;

	if (len > c->max_xfer)
		return -EINVAL;
	if (!q->nfree)
		return -EAGAIN;
	cid = q->free_cids[q->nfree - 1];
	r = &q->reqs[cid];
	sqe.opcode = cmd->opcode;
	sqe.cid = cid;
	sqe.nsid = cmd->nsid;
	sqe.cdw2 = cmd->cdw2;
	sqe.cdw3 = cmd->cdw3;
	sqe.cdw10 = cmd->cdw10;
	sqe.cdw11 = cmd->cdw11;
	sqe.cdw12 = cmd->cdw12;
	sqe.cdw13 = cmd->cdw13;
	sqe.cdw14 = cmd->cdw14;
	sqe.cdw15 = cmd->cdw15;
	/* Admin commands always use PRPs (SGLs are for I/O commands). */
	sgl = q->qid && c->sgl &&
	      (c->opts.sgl == UVFIO_NVME_SGL_ALWAYS ||
	       len > 2 * NVME_HOST_PAGE - (iova & (NVME_HOST_PAGE - 1)));
	ret = nvme_build_dptr(q, r, &sqe, iova, len, sgl);
	if (ret < 0)
		return ret;
	q->nfree--;
	r->busy = true;
	r->aborted = false;
	r->cb = cb;
	r->arg = arg;
	r->deadline_ns = timeout_ms ? nvme_now_ns() + (uint64_t)timeout_ms * 1000000ull : 0;
	memcpy(&q->sq[q->sq_tail], &sqe, sizeof(sqe));
	q->sq_tail = (uint16_t)((q->sq_tail + 1) % q->size);
	ring(q, false, q->sq_tail);
	return cid;
}

void nvme_qpair_forget(struct uvfio_nvme_qpair *q, uint16_t cid)
{
	struct nvme_req *r = &q->reqs[cid];

	if (!r->busy)
		return;
	r->busy = false;
	r->cb = NULL;
	r->aborted = true; /* reserved until its completion or a reset */
}

/* An expired command: ask the controller to abort it once; if it still does not complete
 * within another timeout, fail it and keep its CID reserved until a reset. */
static void check_timeouts(struct uvfio_nvme_qpair *q)
{
	uint64_t now = nvme_now_ns();
	uint32_t tmo = q->qid ? q->ctrl->opts.io_timeout_ms : q->ctrl->opts.admin_timeout_ms;

	for (uint16_t cid = 0; cid < q->size; cid++) {
		struct nvme_req *r = &q->reqs[cid];

		if (!r->busy || !r->deadline_ns || now < r->deadline_ns)
			continue;
		if (!r->aborted && q->qid) {
			log_warn("nvme: queue %u command %u timed out: aborting it", q->qid, cid);
			r->aborted = true;
			r->deadline_ns = now + (uint64_t)tmo * 1000000ull;
			uvfio_nvme_abort(q->ctrl, q->qid, cid);
			continue;
		}
		log_err("nvme: queue %u command %u timed out; it stays reserved until a controller "
			"reset", q->qid, cid);
		uvfio_nvme_cb cb = r->cb;
		void *arg = r->arg;

		r->busy = false;
		r->aborted = true; /* not back in the free list */
		r->cb = NULL;
		if (cb)
			cb(arg, -ETIMEDOUT, 0);
	}
}

int uvfio_nvme_process(struct uvfio_nvme_qpair *q, uint32_t max)
{
	uint32_t n = 0;

	if (!q)
		return -EINVAL;
	for (;;) {
		volatile struct nvme_cqe *e = &q->cq[q->cq_head];
		uint16_t st = e->status;
		uint16_t cid;

		if ((st & 1) != q->phase)
			break;
		__atomic_thread_fence(__ATOMIC_ACQUIRE);
		cid = e->cid;
		uint32_t dw0 = e->dw0;
		if (++q->cq_head == q->size) {
			q->cq_head = 0;
			q->phase ^= 1;
		}
		n++;
		if (cid >= q->size || !q->reqs[cid].busy) {
			/* A late completion of a command we timed out (or garbage): drop it. */
			if (cid < q->size && q->reqs[cid].aborted) {
				q->reqs[cid].aborted = false;
				q->free_cids[q->nfree++] = cid;
			} else {
				log_warn("nvme: queue %u: completion for unknown command %u", q->qid,
					 cid);
			}
		} else {
			complete(q, cid, st >> 1, dw0);
		}
		if (max && n == max)
			break;
	}
	if (n) {
		ring(q, true, q->cq_head);
		q->polls_idle = 0;
	} else if (++q->polls_idle >= TIMEOUT_CHECK_EVERY) {
		q->polls_idle = 0;
		if (q->nfree + 1 < q->size)
			check_timeouts(q);
	}
	return (int)n;
}

int uvfio_nvme_wait(struct uvfio_nvme_qpair *q, int timeout_ms)
{
	uint64_t end = timeout_ms < 0 ? UINT64_MAX : nvme_now_ns() + (uint64_t)timeout_ms * 1000000ull;
	int n;

	if (!q)
		return -EINVAL;
	for (;;) {
		n = uvfio_nvme_process(q, 0);
		if (n)
			return n;
		uint64_t now = nvme_now_ns();
		if (now >= end)
			return 0;
		if (q->irq_fd < 0)
			continue;
		/* Sleep at most 100 ms at a time: a shared vector's event may be consumed by
		 * another queue's thread, and deadlines need checking. */
		uint64_t left_ms = (end - now) / 1000000ull + 1;
		struct pollfd pfd = { .fd = q->irq_fd, .events = POLLIN };
		int ret = poll(&pfd, 1, left_ms > 100 ? 100 : (int)left_ms);

		if (ret > 0) {
			uint64_t v;

			if (read(q->irq_fd, &v, sizeof(v)) == sizeof(v))
				nvme_irq_rearm(q->ctrl);
		} else if (ret == 0) {
			check_timeouts(q);
		}
	}
}

uint16_t uvfio_nvme_qpair_id(const struct uvfio_nvme_qpair *q)
{
	return q ? q->qid : 0;
}

int uvfio_nvme_qpair_fd(const struct uvfio_nvme_qpair *q)
{
	return q ? q->irq_fd : -1;
}

uint32_t uvfio_nvme_qpair_outstanding(const struct uvfio_nvme_qpair *q)
{
	uint32_t n = 0;

	if (!q)
		return 0;
	for (uint16_t i = 0; i < q->size; i++)
		n += q->reqs[i].busy;
	return n;
}
