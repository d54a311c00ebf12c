/* SPDX-License-Identifier: MIT */
/* Get/Set Features. Nothing is saveable (ONCS bit 4 clear): SV and SEL=saved act on defaults. */
#include <string.h>
#include <time.h>

#include "nvme.h"

#define TEMP_CURRENT NVME_KELVIN(50)
#define TEMP_WARN NVME_KELVIN(70)
#define TEMP_CRIT NVME_KELVIN(100)

uint16_t nvmec_temperature(void)
{
	return TEMP_CURRENT;
}

void nvmec_features_reset(struct nvmec *n)
{
	memset(&n->feat, 0, sizeof(n->feat));
	for (int i = 0; i < 9; i++)
		n->feat.temp_over[i] = i == 0 ? TEMP_WARN : 0xffff;
	n->feat.vwc = true;
}

static uint64_t now_ms_since(struct nvmec *n)
{
	uint64_t base = n->feat.timestamp_set ? n->feat.timestamp_ms : 0;
	uint64_t from = n->feat.timestamp_set ? n->feat.timestamp_set_ns : n->power_on_ns;
	return base + (nvmec_now_ns() - from) / 1000000;
}

/* A threshold the (fixed) temperature now crosses raises the SMART temperature warning. */
static void check_temperature(struct nvmec *n)
{
	uint16_t t = nvmec_temperature();
	if (t > n->feat.temp_over[0] || (n->feat.temp_under[0] && t < n->feat.temp_under[0]))
		nvmec_aen_post(n, NVME_AER_TYPE_SMART, NVME_AER_SMART_TEMP_THRESH, NVME_LOG_SMART);
}

bool nvmec_temp_warning(struct nvmec *n)
{
	uint16_t t = nvmec_temperature();
	return t > n->feat.temp_over[0] || (n->feat.temp_under[0] && t < n->feat.temp_under[0]);
}

static bool any_io_queue(struct nvmec *n)
{
	for (uint32_t q = 1; q <= n->nr_ioq; q++)
		if (n->sq[q].valid || n->cq[q].valid)
			return true;
	return false;
}

static void set_feature(struct nvmec *n, struct nvmec_req *req, uint8_t fid, uint32_t v)
{
	uint32_t tmpsel, thsel;
	switch (fid) {
	case NVME_FEAT_ARBITRATION:
		n->feat.arbitration = v;
		break;
	case NVME_FEAT_POWER_MGMT:
		if ((v & 0x1f) != 0) { /* one power state (NPSS 0) */
			req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
			return;
		}
		n->feat.power_mgmt = v & 0xff;
		break;
	case NVME_FEAT_TEMP_THRESH:
		tmpsel = NVME_FEAT_TT_TMPSEL(v);
		thsel = NVME_FEAT_TT_THSEL(v);
		if ((tmpsel != 0 && tmpsel != 0xf) || thsel > 1) {
			req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
			return;
		}
		if (thsel == 0)
			n->feat.temp_over[0] = NVME_FEAT_TT_TMPTH(v);
		else
			n->feat.temp_under[0] = NVME_FEAT_TT_TMPTH(v);
		check_temperature(n);
		break;
	case NVME_FEAT_ERR_RECOVERY:
		if (v & NVME_FEAT_ERR_DULBE) { /* NSFEAT bit 2 clear */
			req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
			return;
		}
		n->feat.err_recovery = v & 0xffff;
		break;
	case NVME_FEAT_VOLATILE_WC:
		n->feat.vwc = v & 1;
		break;
	case NVME_FEAT_NUM_QUEUES: {
		uint16_t nsq = NVME_FEAT_NQ_NSQ(v), ncq = NVME_FEAT_NQ_NCQ(v);
		if (nsq == 0xffff || ncq == 0xffff) {
			req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
			return;
		}
		if (any_io_queue(n)) {
			req->status = SC(NVME_SC_CMD_SEQ_ERROR) | DNR;
			return;
		}
		uint16_t max = (uint16_t)(n->nr_ioq - 1);
		n->feat.nsq_granted = nsq < max ? nsq : max;
		n->feat.ncq_granted = ncq < max ? ncq : max;
		n->feat.nq_set = true;
		/* The reply says what the controller has; the host takes the minimum. */
		req->dw0 = ((uint32_t)max << 16) | max;
		break;
	}
	case NVME_FEAT_IRQ_COALESCE:
		n->feat.irq_coalesce = v & 0xffff;
		break;
	case NVME_FEAT_IRQ_CONFIG: {
		uint16_t iv = NVME_FEAT_IVC_IV(v);
		if (iv > n->nr_ioq) {
			req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
			return;
		}
		n->feat.ivc_cd[iv] = (v & NVME_FEAT_IVC_CD) ? 1 : 0;
		break;
	}
	case NVME_FEAT_ASYNC_EVENT:
		n->feat.aec = v & (NVME_AEC_SMART_MASK | NVME_AEC_NS_ATTR | NVME_AEC_FW_ACT);
		break;
	case NVME_FEAT_TIMESTAMP: {
		uint8_t ts[8];
		uint16_t st = nvmec_admin_from_host(n, &req->cmd, ts, sizeof(ts));
		if (st) {
			req->status = st;
			return;
		}
		uint64_t ms = 0;
		memcpy(&ms, ts, 6);
		n->feat.timestamp_ms = ms;
		n->feat.timestamp_set_ns = nvmec_now_ns();
		n->feat.timestamp_set = true;
		break;
	}
	case NVME_FEAT_KATO:
		n->feat.kato = v;
		break;
	default:
		req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
		return;
	}
}

static bool supported(uint8_t fid)
{
	switch (fid) {
	case NVME_FEAT_ARBITRATION:
	case NVME_FEAT_POWER_MGMT:
	case NVME_FEAT_TEMP_THRESH:
	case NVME_FEAT_ERR_RECOVERY:
	case NVME_FEAT_VOLATILE_WC:
	case NVME_FEAT_NUM_QUEUES:
	case NVME_FEAT_IRQ_COALESCE:
	case NVME_FEAT_IRQ_CONFIG:
	case NVME_FEAT_ASYNC_EVENT:
	case NVME_FEAT_TIMESTAMP:
	case NVME_FEAT_KATO:
		return true;
	default:
		return false;
	}
}

static void get_feature(struct nvmec *n, struct nvmec_req *req, uint8_t fid, uint32_t sel)
{
	const struct nvme_sqe *c = &req->cmd;
	struct nvmec_features def, *f = &n->feat;
	if (sel == NVME_FEAT_SEL_SUPPORTED) {
		req->dw0 = NVME_FEAT_CAP_CHANGEABLE;
		return;
	}
	if (sel == NVME_FEAT_SEL_DEFAULT || sel == NVME_FEAT_SEL_SAVED) {
		struct nvmec_features cur = n->feat;
		nvmec_features_reset(n);
		def = n->feat;
		n->feat = cur;
		f = &def;
	}
	switch (fid) {
	case NVME_FEAT_ARBITRATION:
		req->dw0 = f->arbitration;
		break;
	case NVME_FEAT_POWER_MGMT:
		req->dw0 = f->power_mgmt;
		break;
	case NVME_FEAT_TEMP_THRESH: {
		uint32_t tmpsel = NVME_FEAT_TT_TMPSEL(c->cdw11), thsel = NVME_FEAT_TT_THSEL(c->cdw11);
		if (tmpsel != 0 || thsel > 1) {
			req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
			return;
		}
		req->dw0 = thsel ? f->temp_under[0] : f->temp_over[0];
		break;
	}
	case NVME_FEAT_ERR_RECOVERY:
		req->dw0 = f->err_recovery;
		break;
	case NVME_FEAT_VOLATILE_WC:
		req->dw0 = f->vwc;
		break;
	case NVME_FEAT_NUM_QUEUES: {
		uint32_t max = n->nr_ioq - 1;
		req->dw0 = f == &n->feat && f->nq_set
				   ? ((uint32_t)f->ncq_granted << 16) | f->nsq_granted
				   : (max << 16) | max;
		break;
	}
	case NVME_FEAT_IRQ_COALESCE:
		req->dw0 = f->irq_coalesce;
		break;
	case NVME_FEAT_IRQ_CONFIG: {
		uint16_t iv = NVME_FEAT_IVC_IV(c->cdw11);
		if (iv > n->nr_ioq) {
			req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
			return;
		}
		req->dw0 = iv | (f->ivc_cd[iv] ? NVME_FEAT_IVC_CD : 0);
		break;
	}
	case NVME_FEAT_ASYNC_EVENT:
		req->dw0 = f->aec;
		break;
	case NVME_FEAT_TIMESTAMP: {
		uint8_t ts[8] = { 0 };
		uint64_t ms = sel == NVME_FEAT_SEL_CURRENT ? now_ms_since(n) : 0;
		memcpy(ts, &ms, 6);
		if (f->timestamp_set && sel == NVME_FEAT_SEL_CURRENT)
			ts[6] = NVME_TIMESTAMP_ORIGIN_HOST << 1;
		req->status = nvmec_admin_to_host(n, c, ts, sizeof(ts));
		break;
	}
	case NVME_FEAT_KATO:
		req->dw0 = f->kato;
		break;
	}
}

void nvmec_features(struct nvmec *n, struct nvmec_req *req, bool set)
{
	const struct nvme_sqe *c = &req->cmd;
	uint8_t fid = NVME_FEAT_FID(c->cdw10);
	if (!supported(fid)) {
		req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
		return;
	}
	/* None of ours is namespace specific; a namespace ID must still exist if given. */
	if (c->nsid && c->nsid != NVME_NSID_ALL && c->nsid > n->nr_ns) {
		req->status = SC(NVME_SC_INVALID_NS) | DNR;
		return;
	}
	if (set) {
		if (c->cdw10 & NVME_FEAT_SV) {
			req->status = SC_CS(NVME_SC_FEATURE_NOT_SAVEABLE) | DNR;
			return;
		}
		set_feature(n, req, fid, c->cdw11);
		return;
	}
	uint32_t sel = NVME_FEAT_SEL(c->cdw10);
	if (sel > NVME_FEAT_SEL_SUPPORTED) {
		req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
		return;
	}
	get_feature(n, req, fid, sel);
}
