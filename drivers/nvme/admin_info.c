/* SPDX-License-Identifier: MIT */
/* Identify and Get Log Page: what the controller tells the host about itself. */
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "nvme.h"

/* ASCII fields are space padded, not NUL terminated. */
static void pad(char *dst, size_t len, const char *src)
{
	memset(dst, ' ', len);
	size_t l = strlen(src);
	memcpy(dst, src, l < len ? l : len);
}

static void id_ctrl(struct nvmec *n, struct nvme_id_ctrl *id)
{
	id->vid = NVMEC_VENDOR;
	id->ssvid = NVMEC_SUBVENDOR;
	pad(id->sn, sizeof(id->sn), n->serial);
	pad(id->mn, sizeof(id->mn), n->model);
	pad(id->fr, sizeof(id->fr), "1.0");
	id->rab = 6;
	id->mdts = NVMEC_MDTS;
	id->cntlid = 0;
	id->ver = NVME_VS_1_4;
	id->oaes = NVME_CTRL_OAES_NS_ATTR;
	id->cntrltype = 1; /* I/O controller */
	id->oacs = NVME_CTRL_OACS_DBBUF | NVME_CTRL_OACS_FORMAT;
	id->fna = 0; /* Format NVM per namespace; no cryptographic erase */
	id->acl = 3;
	id->aerl = NVMEC_AERL;
	id->frmw = NVME_CTRL_FRMW_SLOT1_RO | NVME_CTRL_FRMW_NSLOTS(1);
	id->lpa = NVME_CTRL_LPA_CMD_EFFECTS | NVME_CTRL_LPA_EXT_DATA;
	id->elpe = NVMEC_ERR_LOG_ENTRIES - 1;
	id->npss = 0;
	id->wctemp = NVME_KELVIN(70);
	id->cctemp = NVME_KELVIN(100);
	id->sqes = (NVME_SQES_LOG2 << 4) | NVME_SQES_LOG2;
	id->cqes = (NVME_CQES_LOG2 << 4) | NVME_CQES_LOG2;
	id->nn = n->nr_ns;
	id->oncs = NVME_CTRL_ONCS_COMPARE | NVME_CTRL_ONCS_DSM | NVME_CTRL_ONCS_WRITE_ZEROES |
		   NVME_CTRL_ONCS_TIMESTAMP;
	id->vwc = NVME_CTRL_VWC_PRESENT | NVME_CTRL_VWC_FLUSH_NSID_ALL;
	id->sgls = NVME_CTRL_SGLS_SUPPORTED | NVME_CTRL_SGLS_BIT_BUCKET;
	snprintf(id->subnqn, sizeof(id->subnqn), "nqn.2026-12.dev.uvfio:nvme:%s", n->serial);
	id->psd[0].max_power = 2500; /* 25 W */
	id->psd[0].entry_lat = 16;
	id->psd[0].exit_lat = 4;
}

static void id_ns(struct nvmec *n, struct nvmec_ns *ns, struct nvme_id_ns *id)
{
	(void)n;
	id->nsze = id->ncap = id->nuse = ns->nlbas;
	id->nsfeat = 0;
	id->nlbaf = NVMEC_NR_LBAF - 1; /* formats offered (Format NVM), the one in use current */
	for (uint32_t i = 0; i < NVMEC_NR_LBAF; i++) {
		id->lbaf[i].ds = nvmec_lbaf_ds(i);
		if (id->lbaf[i].ds == ns->lba_shift)
			id->flbas = (uint8_t)i;
	}
	id->dlfeat = NVME_NS_DLFEAT_READ_ZEROES | NVME_NS_DLFEAT_WRITE_ZEROES;
	memcpy(id->nguid, ns->nguid, sizeof(id->nguid));
	memcpy(id->eui64, ns->eui64, sizeof(id->eui64));
}

static struct nvmec_ns *find_ns(struct nvmec *n, uint32_t nsid)
{
	if (nsid == 0 || nsid > n->nr_ns)
		return NULL;
	return &n->ns[nsid - 1];
}

static void ns_list(struct nvmec *n, uint32_t above, uint32_t *list)
{
	uint32_t k = 0;
	for (uint32_t i = 1; i <= n->nr_ns && k < NVME_NS_LIST_ENTRIES; i++)
		if (i > above)
			list[k++] = i;
}

static void ns_descs(struct nvmec_ns *ns, uint8_t *p)
{
	struct nvme_ns_id_desc d = { .nidt = NVME_NIDT_EUI64, .nidl = NVME_NIDT_EUI64_LEN };
	memcpy(p, &d, sizeof(d));
	memcpy(p + 4, ns->eui64, 8);
	p += 4 + 8;
	d = (struct nvme_ns_id_desc){ .nidt = NVME_NIDT_NGUID, .nidl = NVME_NIDT_NGUID_LEN };
	memcpy(p, &d, sizeof(d));
	memcpy(p + 4, ns->nguid, 16);
	p += 4 + 16;
	d = (struct nvme_ns_id_desc){ .nidt = NVME_NIDT_CSI, .nidl = NVME_NIDT_CSI_LEN };
	memcpy(p, &d, sizeof(d));
	p[4] = NVME_CSI_NVM;
}

void nvmec_identify(struct nvmec *n, struct nvmec_req *req)
{
	const struct nvme_sqe *c = &req->cmd;
	uint8_t cns = c->cdw10 & 0xff;
	uint8_t csi = c->cdw11 >> 24;
	uint8_t *buf = n->bounce;
	struct nvmec_ns *ns = find_ns(n, c->nsid);

	memset(buf, 0, NVME_IDENTIFY_SIZE);
	switch (cns) {
	case NVME_ID_CNS_CTRL:
		id_ctrl(n, (struct nvme_id_ctrl *)buf);
		break;
	case NVME_ID_CNS_NS:
	case NVME_ID_CNS_NS_CS_INDEP:
		if (!ns) {
			req->status = SC(NVME_SC_INVALID_NS) | DNR;
			return;
		}
		if (cns == NVME_ID_CNS_NS) {
			id_ns(n, ns, (struct nvme_id_ns *)buf);
		} else {
			struct nvme_id_ns_cs_indep *ci = (void *)buf;
			ci->nstat = NVME_NSTAT_NRDY; /* ready */
		}
		break;
	case NVME_ID_CNS_NS_ACTIVE_LIST:
	case NVME_ID_CNS_NS_ACTIVE_LIST_CS:
		if (cns == NVME_ID_CNS_NS_ACTIVE_LIST_CS && csi != NVME_CSI_NVM) {
			req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
			return;
		}
		if (c->nsid >= 0xfffffffeu) {
			req->status = SC(NVME_SC_INVALID_NS) | DNR;
			return;
		}
		ns_list(n, c->nsid, (uint32_t *)buf);
		break;
	case NVME_ID_CNS_NS_DESC_LIST:
		if (!ns) {
			req->status = SC(NVME_SC_INVALID_NS) | DNR;
			return;
		}
		ns_descs(ns, buf);
		break;
	case NVME_ID_CNS_CS_NS:
		if (csi != NVME_CSI_NVM) {
			req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
			return;
		}
		if (!ns) {
			req->status = SC(NVME_SC_INVALID_NS) | DNR;
			return;
		}
		break; /* the NVM set's namespace fields: none in use, all zero */
	case NVME_ID_CNS_CS_CTRL:
		if (csi != NVME_CSI_NVM) {
			req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
			return;
		}
		struct nvme_id_ctrl_nvm *cn = (void *)buf;
		cn->dmrl = 1; /* ranges per DSM we like; any up to 256 work */
		break;
	default:
		req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
		return;
	}
	req->status = nvmec_admin_to_host(n, c, buf, NVME_IDENTIFY_SIZE);
}

/* The log is packed (temperature at byte 1): copy, never take a member's address. */
#define put128(field, v)                                                                           \
	do {                                                                                       \
		uint64_t tmp_[2] = { (v), 0 };                                                     \
		memcpy((uint8_t *)&l + offsetof(struct nvme_smart_log, field), tmp_, 16);          \
	} while (0)

static size_t log_smart(struct nvmec *n, uint8_t *buf)
{
	struct nvme_smart_log l;
	memset(&l, 0, sizeof(l));
	l.critical_warning = nvmec_temp_warning(n) ? NVME_SMART_CRIT_TEMPERATURE : 0;
	l.temperature = nvmec_temperature();
	l.avail_spare = 100;
	l.spare_thresh = 10;
	/* Data units: thousands of 512-byte units, rounded up. */
	put128(data_units_read, (n->stats.data_units_read + 999) / 1000);
	put128(data_units_written, (n->stats.data_units_written + 999) / 1000);
	put128(host_reads, n->stats.host_reads);
	put128(host_writes, n->stats.host_writes);
	put128(ctrl_busy_time, n->stats.busy_ns / 60000000000ull);
	put128(power_cycles, 1);
	put128(power_on_hours, (nvmec_now_ns() - n->power_on_ns) / 3600000000000ull);
	put128(media_errors, n->stats.media_errors);
	put128(num_err_log_entries, n->stats.err_count);
	l.temp_sensor[0] = 0;
	memcpy(buf, &l, sizeof(l));
	return sizeof(l);
}

static size_t log_error(struct nvmec *n, uint8_t *buf)
{
	/* Newest first. */
	for (uint32_t i = 0; i < NVMEC_ERR_LOG_ENTRIES; i++) {
		uint32_t k = (n->err_log_next + NVMEC_ERR_LOG_ENTRIES - 1 - i) % NVMEC_ERR_LOG_ENTRIES;
		memcpy(buf + i * sizeof(struct nvme_error_log), &n->err_log[k],
		       sizeof(struct nvme_error_log));
	}
	return NVMEC_ERR_LOG_ENTRIES * sizeof(struct nvme_error_log);
}

static size_t log_effects(uint8_t *buf)
{
	struct nvme_effects_log *l = (void *)buf;
	static const uint8_t admin[] = {
		NVME_ADM_DELETE_SQ,  NVME_ADM_CREATE_SQ,    NVME_ADM_GET_LOG_PAGE,
		NVME_ADM_DELETE_CQ,  NVME_ADM_CREATE_CQ,    NVME_ADM_IDENTIFY,
		NVME_ADM_ABORT,	     NVME_ADM_SET_FEATURES, NVME_ADM_GET_FEATURES,
		NVME_ADM_ASYNC_EVENT, NVME_ADM_KEEP_ALIVE,  NVME_ADM_DBBUF_CONFIG,
	};
	for (size_t i = 0; i < sizeof(admin); i++)
		l->acs[admin[i]] = NVME_CMD_EFFECTS_CSUPP;
	/* Format NVM changes data and the namespace's size in blocks. */
	l->acs[NVME_ADM_FORMAT_NVM] = NVME_CMD_EFFECTS_CSUPP | NVME_CMD_EFFECTS_LBCC |
				      NVME_CMD_EFFECTS_NCC;
	l->iocs[NVME_CMD_FLUSH] = NVME_CMD_EFFECTS_CSUPP | NVME_CMD_EFFECTS_LBCC;
	l->iocs[NVME_CMD_WRITE] = NVME_CMD_EFFECTS_CSUPP | NVME_CMD_EFFECTS_LBCC;
	l->iocs[NVME_CMD_READ] = NVME_CMD_EFFECTS_CSUPP;
	l->iocs[NVME_CMD_COMPARE] = NVME_CMD_EFFECTS_CSUPP;
	l->iocs[NVME_CMD_WRITE_ZEROES] = NVME_CMD_EFFECTS_CSUPP | NVME_CMD_EFFECTS_LBCC;
	l->iocs[NVME_CMD_DSM] = NVME_CMD_EFFECTS_CSUPP | NVME_CMD_EFFECTS_LBCC;
	return sizeof(*l);
}

void nvmec_get_log_page(struct nvmec *n, struct nvmec_req *req)
{
	const struct nvme_sqe *c = &req->cmd;
	uint8_t lid = NVME_LOG_LID(c->cdw10);
	bool rae = c->cdw10 & NVME_LOG_RAE;
	uint64_t len = (uint64_t)NVME_LOG_NUMD(c->cdw10, c->cdw11) * 4;
	uint64_t off = ((uint64_t)c->cdw13 << 32) | c->cdw12;
	uint8_t csi = c->cdw14 >> 24;
	uint8_t *buf = n->bounce;
	uint8_t *data = buf + (1u << 20) / 2; /* the log, then what goes to the host */
	size_t size = 0;

	if ((off & 3) || len > (4096ull << NVMEC_MDTS) / 2) {
		req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
		return;
	}
	memset(data, 0, 8192);
	switch (lid) {
	case NVME_LOG_ERROR:
		size = log_error(n, data);
		if (!rae)
			n->aen_masked &= ~(1u << NVME_AER_TYPE_ERROR);
		break;
	case NVME_LOG_SMART:
		if (c->nsid && c->nsid != NVME_NSID_ALL && !(c->nsid <= n->nr_ns)) {
			req->status = SC(NVME_SC_INVALID_NS) | DNR;
			return;
		}
		size = log_smart(n, data);
		if (!rae)
			n->aen_masked &= ~(1u << NVME_AER_TYPE_SMART);
		break;
	case NVME_LOG_FW_SLOT: {
		struct nvme_fw_slot_log *l = (void *)data;
		l->afi = 1;
		pad(l->frs[0], 8, "1.0");
		size = sizeof(*l);
		break;
	}
	case NVME_LOG_CHANGED_NS:
		memcpy(data, n->changed_ns, n->nr_changed_ns * 4);
		size = NVME_CHANGED_NS_ENTRIES * 4;
		if (!rae) {
			n->nr_changed_ns = 0;
			memset(n->changed_ns, 0, sizeof(n->changed_ns));
			n->aen_masked &= ~(1u << NVME_AER_TYPE_NOTICE);
		}
		break;
	case NVME_LOG_CMD_EFFECTS:
		if (csi != NVME_CSI_NVM) {
			req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
			return;
		}
		size = log_effects(data);
		break;
	default:
		req->status = SC_CS(NVME_SC_INVALID_LOG_PAGE) | DNR;
		return;
	}
	if (off >= size) {
		req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
		return;
	}
	/* Past the end of the log the host reads zeroes. */
	memset(buf, 0, len);
	memcpy(buf, data + off, size - off < len ? size - off : len);
	req->status = nvmec_admin_to_host(n, c, buf, len);
	if (!rae && n->nr_aen)
		nvmec_aen_complete(n);
}
