/* SPDX-License-Identifier: MIT */
/* I/O queue pairs as the caller sees them, and the NVM I/O commands. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "nvme/host/nvme_host_priv.h"
#include "util/log.h"

int uvfio_nvme_qpair_create(struct uvfio_nvme_ctrl *c, struct uvfio_nvme_qpair **out)
{
	struct uvfio_nvme_qpair *q;
	uint16_t qid = 0;
	int ret;

	if (!c || !out)
		return -EINVAL;
	pthread_mutex_lock(&c->admin_lock);
	for (uint16_t i = 1; i <= c->granted; i++) {
		if (!c->qpairs[i]) {
			qid = i;
			c->qpairs[i] = (void *)1; /* reserved while we build it */
			break;
		}
	}
	pthread_mutex_unlock(&c->admin_lock);
	if (!qid)
		return -EBUSY;
	ret = nvme_qpair_alloc(c, qid, (uint16_t)c->queue_size, &q);
	if (ret < 0)
		goto fail;
	if (c->irq_mode != UVFIO_NVME_IRQ_POLL && c->nvec) {
		/* Vector 0 is the admin queue's; I/O queues spread over the others, or share
		 * vector 0 when there is only one (MSI, INTx). */
		q->vector = c->nvec > 1 ? (uint16_t)(1 + (qid - 1) % (c->nvec - 1)) : 0;
		q->irq_fd = c->vec_fd[q->vector];
	}
	nvme_qpair_setup_doorbells(q);
	ret = nvme_qpair_create_hw(q);
	if (ret) {
		nvme_qpair_free(q);
		ret = ret < 0 ? ret : -EIO;
		goto fail;
	}
	c->qpairs[qid] = q;
	*out = q;
	return 0;
fail:
	c->qpairs[qid] = NULL;
	return ret;
}

void uvfio_nvme_qpair_destroy(struct uvfio_nvme_qpair *q)
{
	struct uvfio_nvme_ctrl *c;
	struct uvfio_nvme_cmd sq, cq;
	int st;

	if (!q)
		return;
	c = q->ctrl;
	sq = (struct uvfio_nvme_cmd){ .opcode = NVME_ADM_DELETE_SQ, .cdw10 = q->qid };
	cq = (struct uvfio_nvme_cmd){ .opcode = NVME_ADM_DELETE_CQ, .cdw10 = q->qid };
	pthread_mutex_lock(&c->admin_lock);
	st = nvme_admin_sync(c, &sq, 0, 0, NULL);
	if (st == 0)
		st = nvme_admin_sync(c, &cq, 0, 0, NULL);
	pthread_mutex_unlock(&c->admin_lock);
	if (st)
		log_warn("nvme: deleting I/O queue %u: %s", q->qid, uvfio_nvme_strstatus(st));
	/* Deleting the SQ aborted what was outstanding: tell the callers. */
	nvme_qpair_reset(q, -ECANCELED);
	c->qpairs[q->qid] = NULL;
	nvme_qpair_free(q);
}

int uvfio_nvme_submit(struct uvfio_nvme_qpair *q, const struct uvfio_nvme_cmd *cmd, void *buf,
		      size_t len, uvfio_nvme_cb cb, void *arg)
{
	uint64_t iova = 0;

	if (!q || !cmd || (len && !buf))
		return -EINVAL;
	if (len && nvme_dma_iova(q->ctrl, buf, len, &iova) < 0) {
		log_err("nvme: buffer %p (+%zu) is not from uvfio_nvme_dma_alloc()", buf, len);
		return -EINVAL;
	}
	int ret = nvme_qpair_submit_raw(q, cmd, iova, len, cb, arg, q->ctrl->opts.io_timeout_ms);

	return ret < 0 ? ret : 0;
}

/* Block size of nsid, from the cache (one Identify the first time). */
static int lba_size(struct uvfio_nvme_qpair *q, uint32_t nsid, uint32_t *size)
{
	struct uvfio_nvme_ns_info info;
	int st;

	if (nsid && nsid <= NVME_HOST_MAX_NS_CACHE && q->ctrl->ns[nsid - 1].valid) {
		*size = q->ctrl->ns[nsid - 1].info.lba_size;
		return 0;
	}
	st = uvfio_nvme_ns_get_info(q->ctrl, nsid, &info);
	if (st)
		return st < 0 ? st : -ENXIO;
	*size = info.lba_size;
	return 0;
}

static int rw(struct uvfio_nvme_qpair *q, uint8_t opc, uint32_t nsid, void *buf, uint64_t slba,
	      uint32_t nlb, uvfio_nvme_cb cb, void *arg)
{
	struct uvfio_nvme_cmd cmd = { .opcode = opc, .nsid = nsid, .cdw10 = (uint32_t)slba,
				      .cdw11 = (uint32_t)(slba >> 32), .cdw12 = nlb - 1 };
	uint32_t bs;
	int ret;

	if (!q || !nlb || nlb > 0x10000)
		return -EINVAL;
	ret = lba_size(q, nsid, &bs);
	if (ret < 0)
		return ret;
	return uvfio_nvme_submit(q, &cmd, buf, (size_t)nlb * bs, cb, arg);
}

int uvfio_nvme_read(struct uvfio_nvme_qpair *q, uint32_t nsid, void *buf, uint64_t slba,
		    uint32_t nlb, uvfio_nvme_cb cb, void *arg)
{
	return rw(q, NVME_CMD_READ, nsid, buf, slba, nlb, cb, arg);
}

int uvfio_nvme_write(struct uvfio_nvme_qpair *q, uint32_t nsid, void *buf, uint64_t slba,
		     uint32_t nlb, uvfio_nvme_cb cb, void *arg)
{
	return rw(q, NVME_CMD_WRITE, nsid, buf, slba, nlb, cb, arg);
}

int uvfio_nvme_compare(struct uvfio_nvme_qpair *q, uint32_t nsid, void *buf, uint64_t slba,
		       uint32_t nlb, uvfio_nvme_cb cb, void *arg)
{
	return rw(q, NVME_CMD_COMPARE, nsid, buf, slba, nlb, cb, arg);
}

int uvfio_nvme_flush(struct uvfio_nvme_qpair *q, uint32_t nsid, uvfio_nvme_cb cb, void *arg)
{
	struct uvfio_nvme_cmd cmd = { .opcode = NVME_CMD_FLUSH, .nsid = nsid };

	return uvfio_nvme_submit(q, &cmd, NULL, 0, cb, arg);
}

int uvfio_nvme_write_zeroes(struct uvfio_nvme_qpair *q, uint32_t nsid, uint64_t slba,
			    uint32_t nlb, uvfio_nvme_cb cb, void *arg)
{
	struct uvfio_nvme_cmd cmd = { .opcode = NVME_CMD_WRITE_ZEROES, .nsid = nsid,
				      .cdw10 = (uint32_t)slba, .cdw11 = (uint32_t)(slba >> 32),
				      .cdw12 = nlb - 1 };

	if (!nlb || nlb > 0x10000)
		return -EINVAL;
	return uvfio_nvme_submit(q, &cmd, NULL, 0, cb, arg);
}

struct dsm_ctx {
	uvfio_nvme_cb cb;
	void *arg;
	struct uvfio_nvme_ctrl *c;
	struct nvme_dsm_range *range;
};

static void dsm_done(void *arg, int status, uint32_t cdw0)
{
	struct dsm_ctx *d = arg;

	uvfio_nvme_dma_free(d->c, d->range);
	if (d->cb)
		d->cb(d->arg, status, cdw0);
	free(d);
}

int uvfio_nvme_deallocate(struct uvfio_nvme_qpair *q, uint32_t nsid, uint64_t slba, uint32_t nlb,
			  uvfio_nvme_cb cb, void *arg)
{
	struct uvfio_nvme_cmd cmd = { .opcode = NVME_CMD_DSM, .nsid = nsid, .cdw10 = 0,
				      .cdw11 = NVME_DSM_AD };
	struct dsm_ctx *d;
	int ret;

	if (!q || !nlb)
		return -EINVAL;
	d = calloc(1, sizeof(*d));
	if (!d)
		return -ENOMEM;
	/* Rare enough that a buffer per command is fine. */
	d->range = uvfio_nvme_dma_alloc(q->ctrl, NVME_HOST_PAGE);
	if (!d->range) {
		free(d);
		return -ENOMEM;
	}
	d->cb = cb;
	d->arg = arg;
	d->c = q->ctrl;
	d->range->nlb = nlb;
	d->range->slba = slba;
	ret = uvfio_nvme_submit(q, &cmd, d->range, sizeof(*d->range), dsm_done, d);
	if (ret < 0) {
		uvfio_nvme_dma_free(q->ctrl, d->range);
		free(d);
	}
	return ret;
}

struct io_sync {
	bool done;
	int status;
	uint32_t cdw0;
};

static void io_sync_cb(void *arg, int status, uint32_t cdw0)
{
	struct io_sync *s = arg;

	s->done = true;
	s->status = status;
	s->cdw0 = cdw0;
}

int uvfio_nvme_io_sync(struct uvfio_nvme_qpair *q, const struct uvfio_nvme_cmd *cmd, void *buf,
		       size_t len, uint32_t *cdw0)
{
	struct io_sync s = { 0 };
	int ret = uvfio_nvme_submit(q, cmd, buf, len, io_sync_cb, &s);

	if (ret < 0)
		return ret;
	while (!s.done) {
		ret = uvfio_nvme_wait(q, 1000);
		if (ret < 0)
			return ret;
	}
	if (cdw0)
		*cdw0 = s.cdw0;
	return s.status;
}
