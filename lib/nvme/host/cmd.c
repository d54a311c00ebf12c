/* SPDX-License-Identifier: MIT */
/*
 * Commands: admin commands (synchronous, serialised by admin_lock, data through one DMA page
 * or a temporary buffer), namespaces, I/O queue pair creation, and the NVM I/O commands.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme/host/nvme_host_priv.h"
#include "util/log.h"

struct sync_done {
	bool done;
	int status;
	uint32_t cdw0;
};

static void sync_cb(void *arg, int status, uint32_t cdw0)
{
	struct sync_done *d = arg;

	d->done = true;
	d->status = status;
	d->cdw0 = cdw0;
}

/* Waits on q for d; timeout_ms bounds the whole wait (the queue's own timeout handling also
 * runs). Returns the status. */
static int wait_done(struct uvfio_nvme_qpair *q, struct sync_done *d, uint32_t timeout_ms)
{
	uint64_t end = nvme_now_ns() + (uint64_t)timeout_ms * 1000000ull;

	while (!d->done) {
		int n = uvfio_nvme_wait(q, 100);

		if (n < 0)
			return n;
		if (!d->done && nvme_now_ns() > end)
			return -ETIMEDOUT;
	}
	return d->status;
}

int nvme_admin_sync(struct uvfio_nvme_ctrl *c, const struct uvfio_nvme_cmd *cmd, uint64_t iova,
		    size_t len, uint32_t *cdw0)
{
	struct sync_done d = { 0 };
	int ret;

	int cid = nvme_qpair_submit_raw(c->admin, cmd, iova, len, sync_cb, &d,
					c->opts.admin_timeout_ms);

	if (cid < 0)
		return cid;
	ret = wait_done(c->admin, &d, c->opts.admin_timeout_ms);
	if (!d.done) {
		/* d lives on this stack: the completion, if it ever comes, must not reach it. */
		nvme_qpair_forget(c->admin, (uint16_t)cid);
		log_err("nvme: admin command 0x%02x got no completion within %u ms", cmd->opcode,
			c->opts.admin_timeout_ms);
	}
	if (cdw0)
		*cdw0 = d.cdw0;
	return ret;
}

int uvfio_nvme_admin(struct uvfio_nvme_ctrl *c, const struct uvfio_nvme_cmd *cmd, void *buf,
		     size_t len, uint32_t *cdw0)
{
	bool to_dev = (cmd ? cmd->opcode & 3 : 0) == 1, from_dev = (cmd ? cmd->opcode & 3 : 0) == 2;
	void *dma = NULL;
	uint64_t iova = 0;
	int ret;

	if (!c || !cmd || (len && !buf) || len > c->max_xfer)
		return -EINVAL;
	if (len > NVME_HOST_PAGE) {
		dma = uvfio_nvme_dma_alloc(c, len);
		if (!dma)
			return -ENOMEM;
	}
	pthread_mutex_lock(&c->admin_lock);
	if (len) {
		void *b = dma ? dma : c->admin_buf;

		memset(b, 0, len);
		if (to_dev)
			memcpy(b, buf, len);
		nvme_dma_iova(c, b, len, &iova);
	}
	ret = nvme_admin_sync(c, cmd, iova, len, cdw0);
	if (ret == 0 && from_dev && len)
		memcpy(buf, dma ? dma : c->admin_buf, len);
	pthread_mutex_unlock(&c->admin_lock);
	uvfio_nvme_dma_free(c, dma);
	return ret;
}

int uvfio_nvme_identify(struct uvfio_nvme_ctrl *c, uint8_t cns, uint32_t nsid, void *buf4k)
{
	struct uvfio_nvme_cmd cmd = { .opcode = NVME_ADM_IDENTIFY, .nsid = nsid, .cdw10 = cns };

	return uvfio_nvme_admin(c, &cmd, buf4k, NVME_IDENTIFY_SIZE, NULL);
}

int uvfio_nvme_get_log_page(struct uvfio_nvme_ctrl *c, uint8_t lid, uint32_t nsid, void *buf,
			    size_t len)
{
	uint32_t numd = (uint32_t)(len / 4) - 1;
	struct uvfio_nvme_cmd cmd = { .opcode = NVME_ADM_GET_LOG_PAGE, .nsid = nsid,
				      .cdw10 = lid | (numd & 0xffff) << 16, .cdw11 = numd >> 16 };

	if (!len || len % 4)
		return -EINVAL;
	return uvfio_nvme_admin(c, &cmd, buf, len, NULL);
}

int uvfio_nvme_get_features(struct uvfio_nvme_ctrl *c, uint8_t fid, uint32_t nsid, uint32_t cdw11,
			    uint32_t *result)
{
	struct uvfio_nvme_cmd cmd = { .opcode = NVME_ADM_GET_FEATURES, .nsid = nsid, .cdw10 = fid,
				      .cdw11 = cdw11 };

	return uvfio_nvme_admin(c, &cmd, NULL, 0, result);
}

int uvfio_nvme_set_features(struct uvfio_nvme_ctrl *c, uint8_t fid, uint32_t nsid, uint32_t cdw11,
			    uint32_t *result)
{
	struct uvfio_nvme_cmd cmd = { .opcode = NVME_ADM_SET_FEATURES, .nsid = nsid, .cdw10 = fid,
				      .cdw11 = cdw11 };

	return uvfio_nvme_admin(c, &cmd, NULL, 0, result);
}

int uvfio_nvme_format(struct uvfio_nvme_ctrl *c, uint32_t nsid, uint8_t lbaf, uint8_t ses)
{
	struct uvfio_nvme_cmd cmd = { .opcode = NVME_ADM_FORMAT_NVM, .nsid = nsid,
				      .cdw10 = (lbaf & 0xfu) | ((uint32_t)(ses & 7) << 9) };
	int st = uvfio_nvme_admin(c, &cmd, NULL, 0, NULL);

	if (st == 0)
		memset(c->ns, 0, sizeof(c->ns)); /* sizes may have changed */
	return st;
}

int uvfio_nvme_abort(struct uvfio_nvme_ctrl *c, uint16_t sqid, uint16_t cid)
{
	struct uvfio_nvme_cmd cmd = { .opcode = NVME_ADM_ABORT,
				      .cdw10 = sqid | ((uint32_t)cid << 16) };

	return uvfio_nvme_admin(c, &cmd, NULL, 0, NULL);
}

int uvfio_nvme_ns_list(struct uvfio_nvme_ctrl *c, uint32_t *nsids, size_t max)
{
	uint32_t *list = malloc(NVME_IDENTIFY_SIZE);
	int n = 0, st;

	if (!c || (max && !nsids) || !list) {
		free(list);
		return -EINVAL;
	}
	st = uvfio_nvme_identify(c, NVME_ID_CNS_NS_ACTIVE_LIST, 0, list);
	if (st) {
		free(list);
		return st < 0 ? st : -EIO;
	}
	for (; n < NVME_NS_LIST_ENTRIES && list[n]; n++)
		if ((size_t)n < max)
			nsids[n] = list[n];
	free(list);
	return n;
}

int uvfio_nvme_ns_get_info(struct uvfio_nvme_ctrl *c, uint32_t nsid, struct uvfio_nvme_ns_info *info)
{
	struct nvme_ns_cache *slot = NULL;
	struct nvme_id_ns *ns;
	int st;

	if (!c || !info || !nsid || nsid == NVME_NSID_ALL)
		return -EINVAL;
	if (nsid <= NVME_HOST_MAX_NS_CACHE) {
		slot = &c->ns[nsid - 1];
		if (slot->valid) {
			*info = slot->info;
			return 0;
		}
	}
	ns = malloc(sizeof(*ns));
	if (!ns)
		return -ENOMEM;
	st = uvfio_nvme_identify(c, NVME_ID_CNS_NS, nsid, ns);
	if (st == 0 && !ns->nsze)
		st = NVME_STATUS_MAKE(NVME_SCT_GENERIC, NVME_SC_INVALID_NS); /* inactive */
	if (st == 0) {
		const struct nvme_lbaf *f = &ns->lbaf[ns->flbas & NVME_NS_FLBAS_LBA_MASK];

		*info = (struct uvfio_nvme_ns_info){ .nsid = nsid, .nsze = ns->nsze,
						     .ncap = ns->ncap, .nuse = ns->nuse,
						     .lba_size = 1u << f->ds, .ms = f->ms,
						     .flbas = ns->flbas, .nlbaf = ns->nlbaf };
		if (slot) {
			slot->info = *info;
			slot->valid = true;
		}
	}
	free(ns);
	return st;
}

int nvme_qpair_create_hw(struct uvfio_nvme_qpair *q)
{
	struct uvfio_nvme_ctrl *c = q->ctrl;
	uint32_t qsize = (uint32_t)(q->size - 1) << 16;
	struct uvfio_nvme_cmd cq = { .opcode = NVME_ADM_CREATE_CQ, .cdw10 = q->qid | qsize,
				     .cdw11 = NVME_CQ_FLAGS_PC |
					      (q->irq_fd >= 0 ? NVME_CQ_FLAGS_IEN |
							      (uint32_t)q->vector << 16 : 0) };
	struct uvfio_nvme_cmd sq = { .opcode = NVME_ADM_CREATE_SQ, .cdw10 = q->qid | qsize,
				     .cdw11 = NVME_SQ_FLAGS_PC | (uint32_t)q->qid << 16 };
	int st;

	pthread_mutex_lock(&c->admin_lock);
	st = nvme_admin_sync(c, &cq, q->cq_iova, 0, NULL);
	if (st == 0) {
		/* The queue's memory is given by PRP1 alone (physically contiguous, PC=1). */
		st = nvme_admin_sync(c, &sq, q->sq_iova, 0, NULL);
		if (st) {
			struct uvfio_nvme_cmd del = { .opcode = NVME_ADM_DELETE_CQ, .cdw10 = q->qid };
			nvme_admin_sync(c, &del, 0, 0, NULL);
		}
	}
	pthread_mutex_unlock(&c->admin_lock);
	if (st)
		log_err("nvme: creating I/O queue %u: %s", q->qid, uvfio_nvme_strstatus(st));
	return st;
}
