/* SPDX-License-Identifier: MIT */
/* NVM command set: Read, Write, Compare, Flush, Write Zeroes, Dataset Management. */
#include <string.h>

#include "nvme.h"

#define MAX_XFER (4096ull << NVMEC_MDTS)

static uint16_t lba_range(struct nvmec_ns *ns, uint64_t slba, uint64_t nlb)
{
	if (slba >= ns->nlbas || nlb > ns->nlbas - slba)
		return SC(NVME_SC_LBA_RANGE) | DNR;
	return 0;
}

static void count(struct nvmec *n, bool write, uint64_t bytes)
{
	if (write) {
		n->stats.host_writes++;
		n->stats.data_units_written += bytes >> 9;
	} else {
		n->stats.host_reads++;
		n->stats.data_units_read += bytes >> 9;
	}
}

/* The LBA range of a Read/Write/Compare checked against the namespace and the transfer limit,
 * and its data pointer (PRP or SGL) mapped into sg. */
static uint16_t map_lbas(struct nvmec *n, struct nvmec_ns *ns, const struct nvme_sqe *c,
			 struct nvmec_sg *sg, uint64_t *slba, uint64_t *len)
{
	uint64_t nlb = NVME_RW_NLB(c->cdw12);

	*slba = nvme_rw_slba(c);
	*len = nlb << ns->lba_shift;
	uint16_t st = lba_range(ns, *slba, nlb);
	if (st)
		return st;
	if (*len > MAX_XFER)
		return SC(NVME_SC_INVALID_FIELD) | DNR;
	return nvmec_map_data(n, c, *len, false, sg);
}

static uint16_t rw(struct nvmec *n, struct nvmec_ns *ns, struct nvmec_req *req, bool write)
{
	static __thread struct nvmec_sg sg;
	const struct nvme_sqe *c = &req->cmd;
	uint64_t slba, len;

	if ((c->cdw12 >> 26) & 0xf) /* PRINFO: no protection information formats */
		return SC(NVME_SC_INVALID_FIELD) | DNR;
	uint16_t st = map_lbas(n, ns, c, &sg, &slba, &len);
	if (st)
		return st;
	if (n->aio && ns->fd >= 0 &&
	    nvmec_aio_rw(n, ns, req, &sg, slba << ns->lba_shift, write, c->cdw12 & NVME_RW_FUA)) {
		req->no_completion = true; /* posted when io_uring completes it */
		count(n, write, len);
		return 0;
	}
	st = nvmec_sg_ns(n, &sg, ns, slba << ns->lba_shift, write);
	if (st) {
		if (NVME_STATUS_SCT(st) == NVME_SCT_MEDIA)
			n->stats.media_errors++;
		return st;
	}
	count(n, write, len);
	if (write && (c->cdw12 & NVME_RW_FUA) && ns->ops->flush && ns->ops->flush(ns) < 0)
		return SC_MEDIA(NVME_SC_WRITE_FAULT);
	return 0;
}

static uint16_t compare(struct nvmec *n, struct nvmec_ns *ns, struct nvmec_req *req)
{
	static __thread struct nvmec_sg sg;
	const struct nvme_sqe *c = &req->cmd;
	uint64_t slba, len;
	uint8_t *host = n->bounce, *media = n->bounce + MAX_XFER;

	uint16_t st = map_lbas(n, ns, c, &sg, &slba, &len);
	if (st)
		return st;
	st = nvmec_sg_copy(n, &sg, host, len, false);
	if (st)
		return st;
	if (ns->ops->rw(ns, false, slba << ns->lba_shift, media, len) < 0)
		return SC_MEDIA(NVME_SC_READ_ERROR);
	count(n, false, len);
	return memcmp(host, media, len) ? SC_MEDIA(NVME_SC_COMPARE_FAILED) | DNR : 0;
}

static uint16_t write_zeroes(struct nvmec_ns *ns, struct nvmec_req *req)
{
	const struct nvme_sqe *c = &req->cmd;
	uint64_t slba = nvme_rw_slba(c);
	uint64_t nlb = NVME_RW_NLB(c->cdw12);
	uint16_t st = lba_range(ns, slba, nlb);
	if (st)
		return st;
	if (ns->ops->zero(ns, slba << ns->lba_shift, nlb << ns->lba_shift,
			  c->cdw12 & NVME_RW_DEAC) < 0)
		return SC_MEDIA(NVME_SC_WRITE_FAULT);
	return 0;
}

static uint16_t dsm(struct nvmec *n, struct nvmec_ns *ns, struct nvmec_req *req)
{
	static __thread struct nvmec_sg sg;
	static __thread struct nvme_dsm_range r[NVME_DSM_MAX_RANGES];
	const struct nvme_sqe *c = &req->cmd;
	uint32_t nr = NVME_DSM_NR(c->cdw10);
	uint16_t st = nvmec_map_data(n, c, nr * sizeof(r[0]), false, &sg);
	if (st)
		return st;
	st = nvmec_sg_copy(n, &sg, r, nr * sizeof(r[0]), false);
	if (st)
		return st;
	if (!(c->cdw11 & NVME_DSM_AD))
		return 0; /* hints only */
	for (uint32_t i = 0; i < nr; i++) {
		st = lba_range(ns, r[i].slba, r[i].nlb);
		if (st)
			return st;
	}
	for (uint32_t i = 0; i < nr; i++)
		if (r[i].nlb && ns->ops->zero(ns, r[i].slba << ns->lba_shift,
					      (uint64_t)r[i].nlb << ns->lba_shift, true) < 0)
			return SC_MEDIA(NVME_SC_WRITE_FAULT);
	return 0;
}

static uint16_t flush(struct nvmec *n, uint32_t nsid)
{
	/* Writes completed before the Flush are what it covers: let those in flight finish. */
	nvmec_aio_drain(n, true);
	if (!n->feat.vwc)
		return 0; /* nothing volatile to flush */
	for (uint32_t i = 0; i < n->nr_ns; i++) {
		if (nsid != NVME_NSID_ALL && nsid != i + 1)
			continue;
		if (n->ns[i].ops->flush && n->ns[i].ops->flush(&n->ns[i]) < 0)
			return SC_MEDIA(NVME_SC_WRITE_FAULT);
	}
	return 0;
}

void nvmec_io(struct nvmec *n, struct nvmec_req *req)
{
	const struct nvme_sqe *c = &req->cmd;
	/* FUSE and the reserved bits of CDW0's flags: no fused operations here. */
	if (c->flags & 0x3f) {
		req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
		return;
	}
	if (c->opcode == NVME_CMD_FLUSH && c->nsid == NVME_NSID_ALL) {
		req->status = flush(n, NVME_NSID_ALL);
		return;
	}
	struct nvmec_ns *ns = c->nsid && c->nsid <= n->nr_ns ? &n->ns[c->nsid - 1] : NULL;
	switch (c->opcode) {
	case NVME_CMD_READ:
	case NVME_CMD_WRITE:
	case NVME_CMD_COMPARE:
	case NVME_CMD_WRITE_ZEROES:
	case NVME_CMD_DSM:
	case NVME_CMD_FLUSH:
		if (!ns) {
			req->status = SC(NVME_SC_INVALID_NS) | DNR;
			return;
		}
		break;
	default:
		req->status = SC(NVME_SC_INVALID_OPCODE) | DNR;
		return;
	}
	switch (c->opcode) {
	case NVME_CMD_READ:
		req->status = rw(n, ns, req, false);
		break;
	case NVME_CMD_WRITE:
		req->status = rw(n, ns, req, true);
		break;
	case NVME_CMD_COMPARE:
		req->status = compare(n, ns, req);
		break;
	case NVME_CMD_WRITE_ZEROES:
		req->status = write_zeroes(ns, req);
		break;
	case NVME_CMD_DSM:
		req->status = dsm(n, ns, req);
		break;
	case NVME_CMD_FLUSH:
		req->status = flush(n, c->nsid);
		break;
	}
}
