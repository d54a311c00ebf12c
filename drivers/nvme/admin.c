/* SPDX-License-Identifier: MIT */
/* Admin commands: queues, features, AER, abort, keep alive, doorbell buffer config. */
#include <string.h>
#include <time.h>

#include <uvfio/dma.h>

#include "nvme.h"
#include "util/log.h"

static uint32_t nr_vectors(struct nvmec *n)
{
	return n->nr_ioq + 1; /* MSI-X table size */
}

static void create_cq(struct nvmec *n, struct nvmec_req *req)
{
	const struct nvme_sqe *c = &req->cmd;
	uint16_t qid = NVME_CDW10_QID(c->cdw10);
	uint32_t qsize = NVME_CDW10_QSIZE(c->cdw10) + 1u;
	uint16_t iv = NVME_CDW11_IV(c->cdw11);
	uint32_t cc = __atomic_load_n(&n->regs.cc, __ATOMIC_RELAXED);

	if (qid == 0 || qid > n->nr_ioq || n->cq[qid].valid) {
		req->status = SC_CS(NVME_SC_QID_INVALID) | DNR;
		return;
	}
	if (qsize < 2 || qsize > NVMEC_MAX_QES) {
		req->status = SC_CS(NVME_SC_QUEUE_SIZE) | DNR;
		return;
	}
	if (!(c->cdw11 & NVME_CQ_FLAGS_PC)) {
		/* CAP.CQR: only physically contiguous queues. */
		req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
		return;
	}
	if (NVME_CC_IOCQES(cc) != NVME_CQES_LOG2) {
		req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
		return;
	}
	if (c->prp1 == 0 || (c->prp1 & ((1ull << n->page_shift) - 1))) {
		req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
		return;
	}
	if ((c->cdw11 & NVME_CQ_FLAGS_IEN) && iv >= nr_vectors(n)) {
		req->status = SC_CS(NVME_SC_INVALID_VECTOR) | DNR;
		return;
	}
	struct nvmec_cq *cq = &n->cq[qid];
	memset(cq, 0, sizeof(*cq));
	cq->qid = qid;
	cq->size = qsize;
	cq->base = c->prp1;
	cq->phase = NVME_CQ_PHASE_INITIAL;
	cq->ien = c->cdw11 & NVME_CQ_FLAGS_IEN;
	cq->iv = iv;
	nvmec_init_queue_dbs(n, qid);
	cq->valid = true;
}

static void create_sq(struct nvmec *n, struct nvmec_req *req)
{
	const struct nvme_sqe *c = &req->cmd;
	uint16_t qid = NVME_CDW10_QID(c->cdw10);
	uint32_t qsize = NVME_CDW10_QSIZE(c->cdw10) + 1u;
	uint16_t cqid = NVME_CDW11_CQID(c->cdw11);
	uint32_t cc = __atomic_load_n(&n->regs.cc, __ATOMIC_RELAXED);

	if (qid == 0 || qid > n->nr_ioq || n->sq[qid].valid) {
		req->status = SC_CS(NVME_SC_QID_INVALID) | DNR;
		return;
	}
	if (qsize < 2 || qsize > NVMEC_MAX_QES) {
		req->status = SC_CS(NVME_SC_QUEUE_SIZE) | DNR;
		return;
	}
	if (cqid == 0 || cqid > n->nr_ioq || !n->cq[cqid].valid) {
		req->status = SC_CS(NVME_SC_CQ_INVALID) | DNR;
		return;
	}
	if (!(c->cdw11 & NVME_SQ_FLAGS_PC) || NVME_CC_IOSQES(cc) != NVME_SQES_LOG2) {
		req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
		return;
	}
	if (c->prp1 == 0 || (c->prp1 & ((1ull << n->page_shift) - 1))) {
		req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
		return;
	}
	struct nvmec_sq *sq = &n->sq[qid];
	memset(sq, 0, sizeof(*sq));
	sq->qid = qid;
	sq->cqid = cqid;
	sq->size = qsize;
	sq->base = c->prp1;
	sq->prio = NVME_SQ_PRIO(c->cdw11);
	n->cq[cqid].nr_sqs++;
	nvmec_init_queue_dbs(n, qid);
	sq->valid = true;
}

static void delete_sq(struct nvmec *n, struct nvmec_req *req)
{
	uint16_t qid = NVME_CDW10_QID(req->cmd.cdw10);
	if (qid == 0 || qid > n->nr_ioq || !n->sq[qid].valid) {
		req->status = SC_CS(NVME_SC_QID_INVALID) | DNR;
		return;
	}
	/* Commands of this queue in flight complete first (asynchronous file I/O); the unfetched
	 * ones are dropped with the queue, as the spec allows for commands not yet fetched. */
	nvmec_aio_drain(n, true);
	nvmec_delete_sq(n, qid);
}

static void delete_cq(struct nvmec *n, struct nvmec_req *req)
{
	uint16_t qid = NVME_CDW10_QID(req->cmd.cdw10);
	if (qid == 0 || qid > n->nr_ioq || !n->cq[qid].valid) {
		req->status = SC_CS(NVME_SC_QID_INVALID) | DNR;
		return;
	}
	if (n->cq[qid].nr_sqs) {
		req->status = SC_CS(NVME_SC_INVALID_QUEUE_DELETION) | DNR;
		return;
	}
	nvmec_delete_cq(n, qid);
}

static void async_event(struct nvmec *n, struct nvmec_req *req)
{
	if (n->nr_aer > NVMEC_AERL) {
		req->status = SC_CS(NVME_SC_ASYNC_LIMIT) | DNR;
		return;
	}
	n->aer_cids[n->nr_aer++] = req->cmd.cid;
	req->no_completion = true;
	nvmec_aen_complete(n);
}

static void abort_cmd(struct nvmec *n, struct nvmec_req *req)
{
	/* Commands run to completion when fetched, so none is ever left to abort: DW0 bit 0
	 * set says "not aborted", as the spec lets a controller answer. */
	(void)n;
	req->dw0 = 1;
}

static void dbbuf_config(struct nvmec *n, struct nvmec_req *req)
{
	uint64_t mask = (1ull << n->page_shift) - 1;
	uint64_t dbs = req->cmd.prp1, eis = req->cmd.prp2;
	if (!dbs || !eis || (dbs & mask) || (eis & mask) || dbs == eis) {
		req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
		return;
	}
	/* Both pages must be reachable before we depend on them. */
	uint32_t probe;
	struct uvfio_device *dev = uvfio_pci_to_device(n->pdev);
	if (uvfio_dma_read(dev, dbs, &probe, 4) < 0 || uvfio_dma_read(dev, eis, &probe, 4) < 0) {
		req->status = SC(NVME_SC_DATA_TRANSFER_ERROR);
		return;
	}
	n->dbbuf_dbs = dbs;
	n->dbbuf_eis = eis;
	n->dbbuf = true;
	/* Existing I/O queues continue from where they are: shadow = EventIdx = current. */
	for (uint32_t q = 1; q <= n->nr_ioq; q++) {
		if (n->sq[q].valid) {
			uint32_t v = n->sq[q].tail;
			(void)uvfio_dma_write(dev, dbs + nvme_db_index(q, false) * 4ull, &v, 4);
			nvmec_update_eventidx(n, q, false, v);
		}
		if (n->cq[q].valid) {
			uint32_t v = n->cq[q].head;
			(void)uvfio_dma_write(dev, dbs + nvme_db_index(q, true) * 4ull, &v, 4);
			nvmec_update_eventidx(n, q, true, v);
		}
	}
}

void nvmec_admin(struct nvmec *n, struct nvmec_req *req)
{
	const struct nvme_sqe *c = &req->cmd;
	if (NVME_SQE_FUSE(c->flags)) {
		req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
		return;
	}
	switch (c->opcode) {
	case NVME_ADM_CREATE_CQ:
		create_cq(n, req);
		break;
	case NVME_ADM_CREATE_SQ:
		create_sq(n, req);
		break;
	case NVME_ADM_DELETE_SQ:
		delete_sq(n, req);
		break;
	case NVME_ADM_DELETE_CQ:
		delete_cq(n, req);
		break;
	case NVME_ADM_IDENTIFY:
		nvmec_identify(n, req);
		break;
	case NVME_ADM_GET_LOG_PAGE:
		nvmec_get_log_page(n, req);
		break;
	case NVME_ADM_SET_FEATURES:
		nvmec_features(n, req, true);
		break;
	case NVME_ADM_GET_FEATURES:
		nvmec_features(n, req, false);
		break;
	case NVME_ADM_ASYNC_EVENT:
		async_event(n, req);
		break;
	case NVME_ADM_ABORT:
		abort_cmd(n, req);
		break;
	case NVME_ADM_KEEP_ALIVE:
		/* KAS is 0: no timer runs, so there is nothing to restart (KATO is only stored). */
		break;
	case NVME_ADM_DBBUF_CONFIG:
		dbbuf_config(n, req);
		break;
	case NVME_ADM_FORMAT_NVM:
		nvmec_format(n, req);
		break;
	default:
		req->status = SC(NVME_SC_INVALID_OPCODE) | DNR;
		break;
	}
}
