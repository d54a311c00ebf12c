/* SPDX-License-Identifier: MIT */
/*
 * Queues, run by the worker: doorbells (MMIO page or shadow buffer), fetching commands,
 * posting completions with the phase bit, interrupts with coalescing, asynchronous events.
 */
#include <errno.h>
#include <string.h>

#include <uvfio/dma.h>

#include "nvme.h"
#include "util/log.h"

#define SQ_BUDGET 64 /* commands per queue per pass: queues share the worker fairly */

static struct uvfio_device *ndev(struct nvmec *n)
{
	return uvfio_pci_to_device(n->pdev);
}

bool nvmec_cq_full(const struct nvmec_cq *cq)
{
	return (cq->tail + 1) % cq->size == cq->head;
}

/* A reference on [iova, iova + len) held until the end of this pass, or NULL (outside a pass,
 * no room, or no direct access: the caller takes the locked path, which reports errors). */
static const struct uvfio_dma_ref *pass_ref(struct nvmec *n, uint64_t iova, uint64_t len,
					    uint32_t prot)
{
	if (!n->in_pass)
		return NULL;
	for (uint32_t i = 0; i < n->nr_pass_refs; i++) {
		struct nvmec_pass_ref *p = &n->pass_refs[i];
		if (p->iova == iova && p->len == len && p->prot == prot)
			return p->ref.window ? &p->ref : NULL; /* a failed get is not retried */
	}
	if (n->nr_pass_refs == NVMEC_PASS_REFS)
		return NULL;
	struct nvmec_pass_ref *p = &n->pass_refs[n->nr_pass_refs++];
	p->iova = iova;
	p->len = len;
	p->prot = prot;
	if (uvfio_dma_get(ndev(n), iova, len, prot, &p->ref) < 0) {
		p->ref.window = NULL;
		return NULL;
	}
	return &p->ref;
}

/* The part of the shadow doorbell (and EventIdx) page our queues use. */
static uint64_t dbbuf_len(struct nvmec *n)
{
	return (uint64_t)nvme_db_index((uint16_t)n->nr_ioq, true) * 4 + 4;
}

void nvmec_pass_drop(struct nvmec *n)
{
	for (uint32_t i = 0; i < n->nr_pass_refs; i++)
		if (n->pass_refs[i].ref.window)
			uvfio_dma_put(ndev(n), &n->pass_refs[i].ref);
	n->nr_pass_refs = 0;
}

static void pass_end(struct nvmec *n)
{
	nvmec_pass_drop(n);
	n->in_pass = false;
}

/* Copies through a pass reference (guarded, no lock), else the locked path. */
static int pass_read(struct nvmec *n, uint64_t base, uint64_t len, uint64_t addr, void *buf,
		     size_t blen)
{
	const struct uvfio_dma_ref *r = pass_ref(n, base, len, UVFIO_DMA_READ);
	if (r && uvfio_dma_copy_from(r, addr - base, buf, blen) == 0)
		return 0;
	return uvfio_dma_read(ndev(n), addr, buf, blen);
}

static int pass_write(struct nvmec *n, uint64_t base, uint64_t len, uint64_t addr,
		      const void *buf, size_t blen)
{
	const struct uvfio_dma_ref *r = pass_ref(n, base, len, UVFIO_DMA_WRITE);
	if (r && uvfio_dma_copy_to(r, addr - base, buf, blen) == 0)
		return 0;
	return uvfio_dma_write(ndev(n), addr, buf, blen);
}

static bool use_shadow(struct nvmec *n, uint16_t qid)
{
	return n->dbbuf && qid != 0; /* Linux never shadows the admin queue; neither do we */
}

static uint32_t read_db(struct nvmec *n, uint16_t qid, bool is_cq)
{
	uint32_t idx = nvme_db_index(qid, is_cq);
	if (use_shadow(n, qid)) {
		uint32_t v;
		if (pass_read(n, n->dbbuf_dbs, dbbuf_len(n), n->dbbuf_dbs + idx * 4ull, &v,
			      4) == 0)
			return v;
	}
	return __atomic_load_n(&n->db[idx], __ATOMIC_ACQUIRE);
}

void nvmec_update_eventidx(struct nvmec *n, uint16_t qid, bool is_cq, uint32_t val)
{
	if (!use_shadow(n, qid))
		return;
	uint32_t idx = nvme_db_index(qid, is_cq);
	/* Spinning, we read every shadow doorbell each pass: EventIdx = value - 1 is never
	 * crossed by the host's next writes, so it skips its kick (the syscall per command). */
	if (n->ei_spin)
		val = (uint16_t)(val - 1);
	(void)pass_write(n, n->dbbuf_eis, dbbuf_len(n), n->dbbuf_eis + idx * 4ull, &val, 4);
}

void nvmec_eventidx_mode(struct nvmec *n, bool spin)
{
	if (n->ei_spin == spin)
		return;
	n->ei_spin = spin;
	if (!n->dbbuf)
		return;
	for (uint32_t q = 1; q <= n->nr_ioq; q++) {
		if (n->sq[q].valid)
			nvmec_update_eventidx(n, (uint16_t)q, false, n->sq[q].tail);
		if (n->cq[q].valid)
			nvmec_update_eventidx(n, (uint16_t)q, true, n->cq[q].head);
	}
}

/* A new queue starts with doorbell 0 in the page and, with shadow doorbells, in the buffers. */
void nvmec_init_queue_dbs(struct nvmec *n, uint16_t qid)
{
	for (int c = 0; c < 2; c++) {
		uint32_t idx = nvme_db_index(qid, c);
		__atomic_store_n(&n->db[idx], 0, __ATOMIC_RELEASE);
		if (use_shadow(n, qid)) {
			uint32_t zero = 0;
			(void)uvfio_dma_write(ndev(n), n->dbbuf_dbs + idx * 4ull, &zero, 4);
			(void)uvfio_dma_write(ndev(n), n->dbbuf_eis + idx * 4ull, &zero, 4);
		}
	}
}

static void set_fatal(struct nvmec *n, const char *why)
{
	if (n->fatal)
		return;
	log_err("nvme %s: controller fatal status: %s", n->name, why);
	n->fatal = true;
	pthread_mutex_lock(&n->lock);
	n->regs.csts |= NVME_CSTS_CFS;
	pthread_mutex_unlock(&n->lock);
}

static bool intx_mode(struct nvmec *n)
{
	return !uvfio_pci_msix_enabled(n->pdev) && !uvfio_pci_msi_enabled(n->pdev);
}

static bool vector_masked_intms(struct nvmec *n, uint16_t iv)
{
	if (uvfio_pci_msix_enabled(n->pdev))
		return false; /* MSI-X masks through its table */
	uint32_t intms = __atomic_load_n(&n->regs.intms, __ATOMIC_RELAXED);
	return (intms >> (iv & 31)) & 1;
}

static void fire(struct nvmec *n, struct nvmec_cq *cq)
{
	if (vector_masked_intms(n, cq->iv))
		return; /* stays pending; INTMC kicks the worker to deliver it */
	cq->irq_pending = 0;
	int ret = uvfio_pci_raise_irq(n->pdev, intx_mode(n) ? 0 : cq->iv);
	if (ret < 0 && ret != -ENOLINK)
		log_debug("nvme %s: interrupt of CQ %u (vector %u) not delivered: %d", n->name,
			  cq->qid, cq->iv, ret);
}

void nvmec_flush_irqs(struct nvmec *n, bool all)
{
	uint32_t ic = n->feat.irq_coalesce;
	uint32_t thr = NVME_FEAT_IC_THR(ic) + 1;
	uint64_t time_ns = NVME_FEAT_IC_TIME(ic) * 100000ull;
	uint64_t now = 0;
	for (uint32_t q = 0; q <= n->nr_ioq; q++) {
		struct nvmec_cq *cq = &n->cq[q];
		if (!cq->valid || !cq->ien || !cq->irq_pending)
			continue;
		bool coalesce = q != 0 && ic != 0 && !n->feat.ivc_cd[cq->iv];
		if (!all && coalesce && cq->irq_pending < thr) {
			if (!now)
				now = nvmec_now_ns();
			if (now - cq->irq_first_ns < time_ns)
				continue;
		}
		fire(n, cq);
	}
}

/* INTx is a level: it stays asserted while any CQ with interrupts holds unread entries. */
void nvmec_irq_update(struct nvmec *n, struct nvmec_cq *cq)
{
	if (!intx_mode(n) || cq->head != cq->tail)
		return;
	for (uint32_t q = 0; q <= n->nr_ioq; q++)
		if (n->cq[q].valid && n->cq[q].ien && n->cq[q].head != n->cq[q].tail)
			return;
	uvfio_pci_set_intx(n->pdev, false);
}

void nvmec_post_cqe(struct nvmec *n, uint16_t sqid, uint16_t cid, uint32_t dw0, uint16_t status)
{
	struct nvmec_sq *sq = &n->sq[sqid];
	struct nvmec_cq *cq = &n->cq[sq->cqid];
	struct nvme_cqe e = {
		.dw0 = dw0,
		.sqhd = (uint16_t)sq->head,
		.sqid = sqid,
		.cid = cid,
		.status = nvme_cqe_status_pack(status, cq->phase),
	};
	uint64_t addr = cq->base + (uint64_t)cq->tail * NVME_CQE_SIZE;
	uint64_t ring = (uint64_t)cq->size * NVME_CQE_SIZE;
	const struct uvfio_dma_ref *pr = pass_ref(n, cq->base, ring, UVFIO_DMA_WRITE);
	struct uvfio_dma_ref ref;
	int ret = -EFAULT;
	if (pr) {
		/* The phase bit's dword last (copies are plain stores, ordered on x86-64 and by
		 * the fence elsewhere). */
		ret = uvfio_dma_copy_to(pr, addr - cq->base, &e, 12);
		__atomic_thread_fence(__ATOMIC_RELEASE);
		if (ret == 0)
			ret = uvfio_dma_copy_to(pr, addr - cq->base + 12, (uint8_t *)&e + 12, 4);
	}
	if (ret == 0) {
	} else if ((ret = uvfio_dma_get(ndev(n), addr, sizeof(e), UVFIO_DMA_WRITE, &ref)) == 0) {
		/* The host polls the phase bit: everything else must be visible first. */
		memcpy(ref.ptr, &e, 12);
		uint32_t last;
		memcpy(&last, (uint8_t *)&e + 12, 4);
		__atomic_store_n((uint32_t *)((uint8_t *)ref.ptr + 12), last, __ATOMIC_RELEASE);
		uvfio_dma_put(ndev(n), &ref);
	} else {
		ret = uvfio_dma_write(ndev(n), addr, &e, 12);
		if (ret == 0)
			ret = uvfio_dma_write(ndev(n), addr + 12, (uint8_t *)&e + 12, 4);
	}
	if (ret < 0) {
		/* An I/O queue in memory the host does not map only takes itself down; the admin
		 * queue takes the controller (CSTS.CFS). Bus mastering off (-EPERM) is no fault of
		 * the queue. */
		if (cq->qid == 0)
			set_fatal(n, "admin completion queue not writable");
		else if (ret != -EPERM && !cq->broken) {
			log_warn("nvme %s: CQ %u at 0x%llx not writable: queue stopped", n->name,
				 cq->qid, (unsigned long long)cq->base);
			cq->broken = true;
		}
		return;
	}
	if (++cq->tail == cq->size) {
		cq->tail = 0;
		cq->phase = !cq->phase;
	}
	if (cq->ien) {
		if (!cq->irq_pending++)
			cq->irq_first_ns = nvmec_now_ns();
	}
}

void nvmec_error_log_add(struct nvmec *n, const struct nvmec_req *req)
{
	struct nvme_error_log *e = &n->err_log[n->err_log_next];
	n->err_log_next = (n->err_log_next + 1) % NVMEC_ERR_LOG_ENTRIES;
	memset(e, 0, sizeof(*e));
	e->error_count = ++n->stats.err_count;
	e->sqid = req->sqid;
	e->cid = req->cmd.cid;
	e->status = (uint16_t)(req->status << 1);
	e->param_error_location = 0xffff;
	e->nsid = req->cmd.nsid;
	if (req->sqid && (req->cmd.opcode == NVME_CMD_READ || req->cmd.opcode == NVME_CMD_WRITE))
		e->lba = nvme_rw_slba(&req->cmd);
}

static bool aen_enabled(struct nvmec *n, uint8_t type, uint8_t info)
{
	switch (type) {
	case NVME_AER_TYPE_NOTICE:
		return info != NVME_AER_NOTICE_NS_CHANGED || (n->feat.aec & NVME_AEC_NS_ATTR);
	case NVME_AER_TYPE_SMART:
		return n->feat.aec & NVME_AEC_SMART_MASK;
	default:
		return true; /* error events cannot be disabled */
	}
}

void nvmec_aen_post(struct nvmec *n, uint8_t type, uint8_t info, uint8_t lid)
{
	if (!aen_enabled(n, type, info))
		return;
	uint32_t ev = nvme_aer_result(type, info, lid);
	for (uint32_t i = 0; i < n->nr_aen; i++)
		if (n->aen_queue[i] == ev)
			return; /* already queued */
	if (n->nr_aen == NVMEC_MAX_AEN_QUEUED)
		return;
	n->aen_queue[n->nr_aen++] = ev;
	nvmec_aen_complete(n);
}

/* Pair queued events with outstanding AER commands. An event type stays masked until the host
 * reads its log page (clearing it), as the spec has it. */
void nvmec_aen_complete(struct nvmec *n)
{
	uint32_t i = 0;
	while (n->nr_aer && i < n->nr_aen) {
		uint32_t ev = n->aen_queue[i];
		uint8_t type = ev & 7;
		if (n->aen_masked & (1u << type)) {
			i++;
			continue;
		}
		if (nvmec_cq_full(&n->cq[0]))
			return;
		memmove(&n->aen_queue[i], &n->aen_queue[i + 1], (n->nr_aen - i - 1) * 4);
		n->nr_aen--;
		uint16_t cid = n->aer_cids[--n->nr_aer];
		n->aen_masked |= 1u << type;
		nvmec_post_cqe(n, 0, cid, ev, 0);
	}
}

void nvmec_delete_sq(struct nvmec *n, uint16_t qid)
{
	struct nvmec_sq *sq = &n->sq[qid];
	if (!sq->valid)
		return;
	/* Commands run to completion when fetched: nothing of this queue is in flight. */
	if (n->cq[sq->cqid].valid && n->cq[sq->cqid].nr_sqs)
		n->cq[sq->cqid].nr_sqs--;
	memset(sq, 0, sizeof(*sq));
	__atomic_store_n(&n->db[nvme_db_index(qid, false)], 0, __ATOMIC_RELEASE);
}

void nvmec_delete_cq(struct nvmec *n, uint16_t qid)
{
	struct nvmec_cq *cq = &n->cq[qid];
	if (!cq->valid)
		return;
	memset(cq, 0, sizeof(*cq));
	__atomic_store_n(&n->db[nvme_db_index(qid, true)], 0, __ATOMIC_RELEASE);
}

static void bad_doorbell(struct nvmec *n, uint8_t info)
{
	log_debug("nvme %s: invalid doorbell (%s)", n->name,
		  info == NVME_AER_ERROR_INVALID_DB_REG ? "register" : "value");
	nvmec_aen_post(n, NVME_AER_TYPE_ERROR, info, NVME_LOG_ERROR);
}

/* Room for one more completion besides those reserved by commands in flight? */
static bool cq_room(const struct nvmec_cq *cq)
{
	uint32_t used = (cq->tail + cq->size - cq->head) % cq->size;
	return cq->size - 1 - used > cq->reserved;
}

static bool fetch(struct nvmec *n, struct nvmec_sq *sq, struct nvme_sqe *cmd)
{
	uint64_t addr = sq->base + (uint64_t)sq->head * NVME_SQE_SIZE;
	int ret = pass_read(n, sq->base, (uint64_t)sq->size * NVME_SQE_SIZE, addr, cmd,
			    sizeof(*cmd));
	if (ret < 0) {
		if (sq->qid == 0)
			set_fatal(n, "admin submission queue not readable");
		else if (ret != -EPERM) {
			log_warn("nvme %s: SQ %u at 0x%llx not readable: queue stopped", n->name,
				 sq->qid, (unsigned long long)sq->base);
			sq->broken = true;
		}
		return false;
	}
	return true;
}

static bool reset_requested(struct nvmec *n)
{
	return __atomic_load_n(&n->gen, __ATOMIC_ACQUIRE) != n->gen_done ||
	       __atomic_load_n(&n->cc_changed, __ATOMIC_ACQUIRE);
}

static int process_sq(struct nvmec *n, struct nvmec_sq *sq)
{
	if (sq->broken || n->cq[sq->cqid].broken)
		return 0;
	uint32_t tail = read_db(n, sq->qid, false);
	if (tail >= sq->size) {
		if (!sq->bad_db)
			bad_doorbell(n, NVME_AER_ERROR_INVALID_DB_VALUE);
		sq->bad_db = true;
		return 0;
	}
	sq->bad_db = false;
	sq->tail = tail;
	int done = 0;
	while (sq->head != sq->tail && done < SQ_BUDGET && !n->fatal) {
		struct nvmec_cq *cq = &n->cq[sq->cqid];
		if (!cq_room(cq)) {
			uint32_t h = read_db(n, cq->qid, true);
			if (h < cq->size)
				cq->head = h;
			if (!cq_room(cq))
				break; /* resumes once the host consumes completions */
		}
		struct nvmec_req req = { .sqid = sq->qid };
		if (!fetch(n, sq, &req.cmd))
			break;
		sq->head = (sq->head + 1) % sq->size;
		if (sq->qid == 0) {
			nvmec_pass_drop(n); /* admin DMA may be message-based: see nvme.h */
			nvmec_admin(n, &req);
		} else
			nvmec_io(n, &req);
		if (sq->qid == 0)
			log_debug("nvme %s: admin opcode 0x%02x nsid %u cdw10 0x%x cdw11 0x%x: status "
				  "0x%x",
				  n->name, req.cmd.opcode, req.cmd.nsid, req.cmd.cdw10, req.cmd.cdw11,
				  req.status);
		if (!req.no_completion) {
			if (!nvme_status_ok(req.status))
				nvmec_error_log_add(n, &req);
			nvmec_post_cqe(n, sq->qid, req.cmd.cid, req.dw0, req.status);
		}
		done++;
		if (reset_requested(n) || !sq->valid)
			break;
	}
	if (sq->valid)
		nvmec_update_eventidx(n, sq->qid, false, sq->tail);
	return done;
}

int nvmec_process(struct nvmec *n)
{
	int work = 0;

	n->in_pass = true;
	/* Our EventIdx writes of the last pass before the host's shadow writes we read now. */
	__atomic_thread_fence(__ATOMIC_SEQ_CST);
	if (__atomic_load_n(&n->bad_db_writes, __ATOMIC_RELAXED) &&
	    __atomic_exchange_n(&n->bad_db_writes, 0, __ATOMIC_SEQ_CST))
		bad_doorbell(n, NVME_AER_ERROR_INVALID_DB_REG);

	work += nvmec_aio_reap(n);
	for (uint32_t q = 0; q <= n->nr_ioq; q++) {
		struct nvmec_cq *cq = &n->cq[q];
		if (!cq->valid)
			continue;
		uint32_t h = read_db(n, q, true);
		if (h >= cq->size) {
			if (!cq->bad_db)
				bad_doorbell(n, NVME_AER_ERROR_INVALID_DB_VALUE);
			cq->bad_db = true;
			continue;
		}
		cq->bad_db = false;
		if (h != cq->head) {
			cq->head = h;
			nvmec_update_eventidx(n, q, true, h);
			nvmec_irq_update(n, cq);
		}
	}
	for (uint32_t q = 0; q <= n->nr_ioq && !n->fatal; q++) {
		if (!n->sq[q].valid)
			continue;
		work += process_sq(n, &n->sq[q]);
		if (reset_requested(n))
			break;
	}
	if (n->nr_aen && n->nr_aer)
		nvmec_aen_complete(n);
	nvmec_flush_irqs(n, false);
	pass_end(n);
	return work;
}
