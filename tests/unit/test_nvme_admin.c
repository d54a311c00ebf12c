/* SPDX-License-Identifier: MIT */
/* The NVMe controller's registers and admin commands, driven by an in-process fake host. */
#include "nvme_fake_host.h"

#define G(sc) ST(NVME_SCT_GENERIC, sc)
#define CS(sc) ST(NVME_SCT_CMD_SPECIFIC, sc)

static int setup(void **state)
{
	*state = fh_new("nvme,size=1M,queues=4,namespaces=3,serial=SN42,model=Test Model");
	return 0;
}

static int teardown(void **state)
{
	fh_free(*state);
	return 0;
}

static void test_registers_and_enable(void **state)
{
	struct fh *h = *state;
	uint64_t cap = fh_rd(h, NVME_REG_CAP, 8);
	assert_int_equal(NVME_CAP_MQES(cap), NVMEC_MAX_QES - 1);
	assert_true(cap & NVME_CAP_CQR);
	assert_true(cap & NVME_CAP_CSS_NVM);
	assert_int_equal(NVME_CAP_DSTRD(cap), 0);
	assert_int_equal(fh_rd(h, NVME_REG_CAP + 4, 4), cap >> 32);
	assert_int_equal(fh_rd(h, NVME_REG_VS, 4), NVME_VS_1_4);
	assert_int_equal(fh_rd(h, NVME_REG_CSTS, 4), 0);
	/* PCI identity: NVMe class code, 64-bit BAR0. */
	assert_int_equal(uvfio_pci_cfg_read32(h->p, PCI_CLASS_REVISION) >> 8, NVME_PCI_CLASS_CODE);
	assert_int_equal(uvfio_pci_cfg_read16(h->p, PCI_VENDOR_ID), NVMEC_VENDOR);
	assert_true(uvfio_pci_cfg_read32(h->p, PCI_BASE_ADDRESS_0) & PCI_BASE_ADDRESS_MEM_TYPE_64);
	assert_true(uvfio_pci_find_cap(h->p, PCI_CAP_ID_MSIX) != 0);
	assert_true(uvfio_pci_find_cap(h->p, PCI_CAP_ID_EXP) != 0);
	fh_enable(h);
	fh_wr(h, NVME_REG_INTMS, 4, 1);
	assert_int_equal(fh_rd(h, NVME_REG_INTMS, 4), 1);
	fh_wr(h, NVME_REG_INTMC, 4, 1);
	assert_int_equal(fh_rd(h, NVME_REG_INTMS, 4), 0);
	/* Disable: RDY drops; enable again works. */
	fh_wr(h, NVME_REG_CC, 4, 0);
	assert_true(fh_wait_csts(h, NVME_CSTS_RDY, 0));
	fh_enable(h);
}

static void test_bad_enable_is_fatal(void **state)
{
	struct fh *h = *state;
	fh_wr(h, NVME_REG_AQA, 4, 0); /* one-entry queues */
	fh_wr(h, NVME_REG_ASQ, 8, FH_IOVA);
	fh_wr(h, NVME_REG_ACQ, 8, FH_IOVA + 0x1000);
	fh_wr(h, NVME_REG_CC, 4, NVME_CC_EN);
	assert_true(fh_wait_csts(h, NVME_CSTS_CFS, NVME_CSTS_CFS));
	assert_false(fh_rd(h, NVME_REG_CSTS, 4) & NVME_CSTS_RDY);
	fh_wr(h, NVME_REG_CC, 4, 0);
	assert_true(fh_wait_csts(h, NVME_CSTS_CFS, 0));
	fh_enable(h);
}

static void test_shutdown(void **state)
{
	struct fh *h = *state;
	fh_enable(h);
	fh_wr(h, NVME_REG_CC, 4,
	      NVME_CC_EN | NVME_CC_SET_IOSQES(6) | NVME_CC_SET_IOCQES(4) |
		      NVME_CC_SET_SHN(NVME_CC_SHN_NORMAL));
	assert_true(fh_wait_csts(h, NVME_CSTS_SHST_MASK, NVME_CSTS_SHST_COMPLETE << 2));
	fh_wr(h, NVME_REG_CC, 4, 0);
	assert_true(fh_wait_csts(h, NVME_CSTS_SHST_MASK | NVME_CSTS_RDY, 0));
}

static void test_identify_controller(void **state)
{
	struct fh *h = *state;
	fh_enable(h);
	assert_int_equal(fh_identify(h, NVME_ID_CNS_CTRL, 0, 0), 0);
	struct nvme_id_ctrl *id = (void *)(h->ram + FH_ADMIN_BUF);
	assert_int_equal(id->vid, NVMEC_VENDOR);
	assert_memory_equal(id->sn, "SN42    ", 8);
	assert_memory_equal(id->mn, "Test Model  ", 12);
	assert_int_equal(id->nn, 3);
	assert_int_equal(id->ver, NVME_VS_1_4);
	assert_true(id->oacs & NVME_CTRL_OACS_DBBUF);
	assert_true(id->oacs & NVME_CTRL_OACS_FORMAT);
	assert_int_equal(id->fna, 0);
	assert_int_equal(id->kas, 0); /* no keep alive timer is enforced */
	assert_int_equal(id->sqes, 0x66);
	assert_int_equal(id->cqes, 0x44);
	assert_int_equal(id->mdts, NVMEC_MDTS);
	assert_true(id->oncs & NVME_CTRL_ONCS_WRITE_ZEROES);
	assert_true(id->sgls & NVME_CTRL_SGLS_SUPPORTED);
	assert_int_equal(id->rsvd1024[0], 0); /* all of the 4 KiB was written */
}

static void test_identify_namespaces(void **state)
{
	struct fh *h = *state;
	fh_enable(h);
	struct nvme_id_ns *ns = (void *)(h->ram + FH_ADMIN_BUF);
	assert_int_equal(fh_identify(h, NVME_ID_CNS_NS, 2, 0), 0);
	assert_int_equal(ns->nsze, (1u << 20) / 512);
	assert_int_equal(ns->lbaf[ns->flbas & 0xf].ds, 9);
	uint8_t eui2[8];
	memcpy(eui2, ns->eui64, 8);
	assert_int_equal(fh_identify(h, NVME_ID_CNS_NS, 3, 0), 0);
	assert_memory_not_equal(eui2, ns->eui64, 8);
	assert_int_equal(fh_identify(h, NVME_ID_CNS_NS, 4, 0), G(NVME_SC_INVALID_NS));
	assert_int_equal(fh_identify(h, NVME_ID_CNS_NS, 0, 0), G(NVME_SC_INVALID_NS));
	assert_true(h->last.status & (NVME_STATUS_DNR << 1));

	uint32_t *list = (void *)(h->ram + FH_ADMIN_BUF);
	assert_int_equal(fh_identify(h, NVME_ID_CNS_NS_ACTIVE_LIST, 0, 0), 0);
	assert_int_equal(list[0], 1);
	assert_int_equal(list[2], 3);
	assert_int_equal(list[3], 0);
	assert_int_equal(fh_identify(h, NVME_ID_CNS_NS_ACTIVE_LIST, 2, 0), 0);
	assert_int_equal(list[0], 3);
	assert_int_equal(list[1], 0);
	assert_int_equal(fh_identify(h, NVME_ID_CNS_NS_ACTIVE_LIST, 0xfffffffe, 0),
			 G(NVME_SC_INVALID_NS));

	uint8_t *d = h->ram + FH_ADMIN_BUF;
	assert_int_equal(fh_identify(h, NVME_ID_CNS_NS_DESC_LIST, 1, 0), 0);
	assert_int_equal(d[0], NVME_NIDT_EUI64);
	assert_int_equal(d[1], 8);
	assert_int_equal(d[12], NVME_NIDT_NGUID);
	assert_int_equal(d[32], NVME_NIDT_CSI);
	assert_int_equal(d[36], NVME_CSI_NVM);
	assert_int_equal(d[37], 0);

	assert_int_equal(fh_identify(h, NVME_ID_CNS_CS_CTRL, 0, NVME_CSI_NVM), 0);
	assert_int_equal(fh_identify(h, NVME_ID_CNS_CS_CTRL, 0, NVME_CSI_ZNS),
			 G(NVME_SC_INVALID_FIELD));
	assert_int_equal(fh_identify(h, NVME_ID_CNS_CS_NS, 1, NVME_CSI_NVM), 0);
	assert_int_equal(fh_identify(h, 0x55, 0, 0), G(NVME_SC_INVALID_FIELD));
}

static void test_queue_errors(void **state)
{
	struct fh *h = *state;
	uint32_t f = NVME_CQ_FLAGS_PC | NVME_CQ_FLAGS_IEN;
	fh_enable(h);
	assert_int_equal(fh_create_cq(h, 0, 16, 0, f), CS(NVME_SC_QID_INVALID));
	assert_int_equal(fh_create_cq(h, 5, 16, 0, f), CS(NVME_SC_QID_INVALID));
	assert_int_equal(fh_create_cq(h, 1, 1, 0, f), CS(NVME_SC_QUEUE_SIZE));
	assert_int_equal(fh_create_cq(h, 1, NVMEC_MAX_QES + 1, 0, f), CS(NVME_SC_QUEUE_SIZE));
	assert_int_equal(fh_create_cq(h, 1, 16, 5, f), CS(NVME_SC_INVALID_VECTOR));
	assert_int_equal(fh_create_cq(h, 1, 16, 1, NVME_CQ_FLAGS_IEN), G(NVME_SC_INVALID_FIELD));
	assert_int_equal(fh_create_sq(h, 1, 16, 1, NVME_SQ_FLAGS_PC), CS(NVME_SC_CQ_INVALID));
	assert_int_equal(fh_create_cq(h, 1, 16, 1, f), 0);
	assert_int_equal(fh_create_cq(h, 1, 16, 1, f), CS(NVME_SC_QID_INVALID));
	assert_int_equal(fh_create_sq(h, 1, 16, 0, NVME_SQ_FLAGS_PC), CS(NVME_SC_CQ_INVALID));
	assert_int_equal(fh_create_sq(h, 1, 16, 1, NVME_SQ_FLAGS_PC), 0);
	assert_int_equal(fh_create_sq(h, 1, 16, 1, NVME_SQ_FLAGS_PC), CS(NVME_SC_QID_INVALID));

	struct nvme_sqe c = { .opcode = NVME_ADM_DELETE_CQ, .cdw10 = 1 };
	assert_int_equal(fh_cmd(h, 0, &c), CS(NVME_SC_INVALID_QUEUE_DELETION));
	c = (struct nvme_sqe){ .opcode = NVME_ADM_DELETE_SQ, .cdw10 = 1 };
	assert_int_equal(fh_cmd(h, 0, &c), 0);
	c = (struct nvme_sqe){ .opcode = NVME_ADM_DELETE_SQ, .cdw10 = 1 };
	assert_int_equal(fh_cmd(h, 0, &c), CS(NVME_SC_QID_INVALID));
	c = (struct nvme_sqe){ .opcode = NVME_ADM_DELETE_CQ, .cdw10 = 1 };
	assert_int_equal(fh_cmd(h, 0, &c), 0);
	c = (struct nvme_sqe){ .opcode = NVME_ADM_DELETE_CQ, .cdw10 = 0 };
	assert_int_equal(fh_cmd(h, 0, &c), CS(NVME_SC_QID_INVALID));
	c = (struct nvme_sqe){ .opcode = 0x7f };
	assert_int_equal(fh_cmd(h, 0, &c), G(NVME_SC_INVALID_OPCODE));
	/* SGLs are not for admin commands. */
	c = (struct nvme_sqe){ .opcode = NVME_ADM_IDENTIFY, .flags = NVME_SQE_SET_PSDT(1),
			       .cdw10 = 1 };
	assert_int_equal(fh_cmd(h, 0, &c), G(NVME_SC_INVALID_FIELD));
	/* Reset deletes I/O queues: qid 1 can be created again afterwards. */
	fh_io_queue(h, 1, 16);
	fh_wr(h, NVME_REG_CC, 4, 0);
	assert_true(fh_wait_csts(h, NVME_CSTS_RDY, 0));
	fh_enable(h);
	fh_io_queue(h, 1, 16);
}

static uint16_t feat(struct fh *h, bool set, uint32_t cdw10, uint32_t cdw11)
{
	struct nvme_sqe c = { .opcode = set ? NVME_ADM_SET_FEATURES : NVME_ADM_GET_FEATURES };
	c.cdw10 = cdw10;
	c.cdw11 = cdw11;
	c.prp1 = FH_IOVA + FH_ADMIN_BUF;
	return fh_cmd(h, 0, &c);
}

static void test_features(void **state)
{
	struct fh *h = *state;
	fh_enable(h);
	assert_int_equal(feat(h, true, NVME_FEAT_NUM_QUEUES, (7u << 16) | 7), 0);
	assert_int_equal(h->last.dw0, (3u << 16) | 3);
	assert_int_equal(feat(h, true, NVME_FEAT_NUM_QUEUES, 0xffff), G(NVME_SC_INVALID_FIELD));
	assert_int_equal(feat(h, false, NVME_FEAT_VOLATILE_WC, 0), 0);
	assert_int_equal(h->last.dw0, 1);
	assert_int_equal(feat(h, true, NVME_FEAT_VOLATILE_WC, 0), 0);
	assert_int_equal(feat(h, false, NVME_FEAT_VOLATILE_WC, 0), 0);
	assert_int_equal(h->last.dw0, 0);
	assert_int_equal(feat(h, false, NVME_FEAT_VOLATILE_WC | (NVME_FEAT_SEL_DEFAULT << 8), 0),
			 0);
	assert_int_equal(h->last.dw0, 1);
	assert_int_equal(feat(h, false, NVME_FEAT_VOLATILE_WC | (NVME_FEAT_SEL_SUPPORTED << 8), 0),
			 0);
	assert_int_equal(h->last.dw0, NVME_FEAT_CAP_CHANGEABLE);
	assert_int_equal(feat(h, true, NVME_FEAT_IRQ_COALESCE, 0x0a03), 0);
	assert_int_equal(feat(h, false, NVME_FEAT_IRQ_COALESCE, 0), 0);
	assert_int_equal(h->last.dw0, 0x0a03);
	assert_int_equal(feat(h, true, NVME_FEAT_IRQ_CONFIG, NVME_FEAT_IVC_CD | 2), 0);
	assert_int_equal(feat(h, false, NVME_FEAT_IRQ_CONFIG, 2), 0);
	assert_int_equal(h->last.dw0, NVME_FEAT_IVC_CD | 2);
	assert_int_equal(feat(h, true, NVME_FEAT_IRQ_CONFIG, 9), G(NVME_SC_INVALID_FIELD));
	assert_int_equal(feat(h, true, NVME_FEAT_ARBITRATION, 0x03020100), 0);
	assert_int_equal(feat(h, false, NVME_FEAT_ARBITRATION, 0), 0);
	assert_int_equal(h->last.dw0, 0x03020100);
	assert_int_equal(feat(h, true, NVME_FEAT_POWER_MGMT, 1), G(NVME_SC_INVALID_FIELD));
	assert_int_equal(feat(h, true, NVME_FEAT_ERR_RECOVERY, NVME_FEAT_ERR_DULBE),
			 G(NVME_SC_INVALID_FIELD));
	assert_int_equal(feat(h, true, NVME_FEAT_ASYNC_EVENT, 0x1ff), 0);
	assert_int_equal(feat(h, false, NVME_FEAT_ASYNC_EVENT, 0), 0);
	assert_int_equal(h->last.dw0, 0x1ff);
	assert_int_equal(feat(h, true, NVME_FEAT_VOLATILE_WC | NVME_FEAT_SV, 1),
			 CS(NVME_SC_FEATURE_NOT_SAVEABLE));
	assert_int_equal(feat(h, true, 0x7e, 0), G(NVME_SC_INVALID_FIELD));
	assert_int_equal(feat(h, false, NVME_FEAT_TEMP_THRESH, 0), 0);
	assert_int_equal(h->last.dw0, NVME_KELVIN(70));

	/* Timestamp: what the host set, moving forward. */
	uint64_t ts = 1700000000000ull;
	memcpy(h->ram + FH_ADMIN_BUF, &ts, 8);
	assert_int_equal(feat(h, true, NVME_FEAT_TIMESTAMP, 0), 0);
	memset(h->ram + FH_ADMIN_BUF, 0, 8);
	assert_int_equal(feat(h, false, NVME_FEAT_TIMESTAMP, 0), 0);
	uint64_t got = 0;
	memcpy(&got, h->ram + FH_ADMIN_BUF, 6);
	assert_true(got >= ts && got < ts + 60000);
	assert_int_equal((h->ram[FH_ADMIN_BUF + 6] >> 1) & 7, NVME_TIMESTAMP_ORIGIN_HOST);

	/* Number of queues cannot change once I/O queues exist. */
	fh_io_queue(h, 1, 8);
	assert_int_equal(feat(h, true, NVME_FEAT_NUM_QUEUES, 0), G(NVME_SC_CMD_SEQ_ERROR));
}

static uint16_t get_log(struct fh *h, uint8_t lid, uint32_t len, uint64_t off, bool rae)
{
	struct nvme_sqe c = { .opcode = NVME_ADM_GET_LOG_PAGE, .nsid = NVME_NSID_ALL };
	uint32_t numd = len / 4 - 1;
	c.cdw10 = lid | (rae ? NVME_LOG_RAE : 0) | (numd << 16);
	c.cdw11 = numd >> 16;
	c.cdw12 = (uint32_t)off;
	c.cdw13 = (uint32_t)(off >> 32);
	c.prp1 = FH_IOVA + FH_ADMIN_BUF;
	memset(h->ram + FH_ADMIN_BUF, 0xa5, len);
	return fh_cmd(h, 0, &c);
}

static void test_log_pages(void **state)
{
	struct fh *h = *state;
	fh_enable(h);
	fh_io_queue(h, 1, 16);
	memset(h->ram + FH_DATA, 0x11, 8192);
	for (int i = 0; i < 3; i++)
		assert_int_equal(fh_rw(h, 1, NVME_CMD_WRITE, 1, 0, 16, 0, 512), 0);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 1, 0, 8, 0, 512), 0);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 1, 1u << 30, 1, 0, 512),
			 G(NVME_SC_LBA_RANGE));

	assert_int_equal(get_log(h, NVME_LOG_SMART, 512, 0, false), 0);
	struct nvme_smart_log smart;
	memcpy(&smart, h->ram + FH_ADMIN_BUF, sizeof(smart));
	uint64_t v[2];
	memcpy(v, smart.host_writes, 16);
	assert_int_equal(v[0], 3);
	memcpy(v, smart.host_reads, 16);
	assert_int_equal(v[0], 1);
	memcpy(v, smart.data_units_written, 16);
	assert_int_equal(v[0], 1); /* 48 units of 512 bytes, rounded up to thousands */
	assert_int_equal(smart.temperature, nvmec_temperature());
	assert_int_equal(smart.avail_spare, 100);

	assert_int_equal(get_log(h, NVME_LOG_ERROR, 64, 0, false), 0);
	struct nvme_error_log *e = (void *)(h->ram + FH_ADMIN_BUF);
	assert_true(e->error_count >= 1);
	assert_int_equal(e->sqid, 1);
	assert_int_equal(e->status >> 1 & 0x7ff, G(NVME_SC_LBA_RANGE));

	assert_int_equal(get_log(h, NVME_LOG_FW_SLOT, 512, 0, false), 0);
	assert_int_equal(h->ram[FH_ADMIN_BUF], 1);
	assert_memory_equal(h->ram + FH_ADMIN_BUF + 8, "1.0", 3);

	assert_int_equal(get_log(h, NVME_LOG_CMD_EFFECTS, 4096, 0, false), 0);
	struct nvme_effects_log *fx = (void *)(h->ram + FH_ADMIN_BUF);
	assert_true(fx->acs[NVME_ADM_IDENTIFY] & NVME_CMD_EFFECTS_CSUPP);
	assert_true(fx->iocs[NVME_CMD_WRITE] & NVME_CMD_EFFECTS_LBCC);
	assert_int_equal(fx->acs[0x7f], 0);

	/* Offset into a log, and zeroes beyond its end. */
	assert_int_equal(get_log(h, NVME_LOG_SMART, 512, 32, false), 0);
	memcpy(v, h->ram + FH_ADMIN_BUF + 48, 16); /* host_reads now at 64 - 32 + 16... */
	assert_int_equal(h->ram[FH_ADMIN_BUF + 511], 0);

	assert_int_equal(get_log(h, NVME_LOG_CHANGED_NS, 4096, 0, false), 0);
	assert_int_equal(get_log(h, 0x42, 512, 0, false), CS(NVME_SC_INVALID_LOG_PAGE));
	assert_int_equal(get_log(h, NVME_LOG_SMART, 512, 4096, false), G(NVME_SC_INVALID_FIELD));
	assert_int_equal(get_log(h, NVME_LOG_SMART, 512, 2, false), G(NVME_SC_INVALID_FIELD));
}

static void test_async_events(void **state)
{
	struct fh *h = *state;
	fh_enable(h);
	fh_io_queue(h, 1, 8);
	struct nvme_sqe aer = { .opcode = NVME_ADM_ASYNC_EVENT };
	uint16_t cid = fh_submit(h, 0, &aer);
	/* A doorbell past the queues: "invalid doorbell register". */
	fh_wr(h, NVME_REG_DBS + 8 * 100, 4, 1);
	struct nvme_cqe e;
	assert_true(fh_reap(h, 0, &e));
	assert_int_equal(e.cid, cid);
	assert_int_equal(nvme_cqe_status(&e), 0);
	assert_int_equal(e.dw0, nvme_aer_result(NVME_AER_TYPE_ERROR, NVME_AER_ERROR_INVALID_DB_REG,
						NVME_LOG_ERROR));
	/* Clearing the event (log read) re-arms the type; a bad SQ tail is reported. */
	assert_int_equal(get_log(h, NVME_LOG_ERROR, 64, 0, false), 0);
	aer.cid = 0;
	cid = fh_submit(h, 0, &aer);
	fh_db(h, 1, false, 8); /* the queue has 8 entries: tail 8 is out of range */
	assert_true(fh_reap(h, 0, &e));
	assert_int_equal(e.cid, cid);
	assert_int_equal(e.dw0, nvme_aer_result(NVME_AER_TYPE_ERROR,
						NVME_AER_ERROR_INVALID_DB_VALUE, NVME_LOG_ERROR));
	/* The queue works again once its doorbell is sane. */
	fh_db(h, 1, false, 0);
	memset(h->ram + FH_DATA, 0x5a, 512);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_WRITE, 1, 3, 1, 0, 512), 0);

	/* A temperature threshold below the current temperature: SMART event. */
	assert_int_equal(feat(h, true, NVME_FEAT_ASYNC_EVENT, 0xff), 0);
	aer.cid = 0;
	cid = fh_submit(h, 0, &aer);
	struct nvme_sqe sf = { .opcode = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_TEMP_THRESH,
			       .cdw11 = NVME_KELVIN(20) };
	uint16_t sf_cid = fh_submit(h, 0, &sf);
	/* The event is raised while Set Features runs: its AER completes first. */
	assert_true(fh_reap(h, 0, &e));
	assert_int_equal(e.cid, cid);
	assert_int_equal(e.dw0 & 7, NVME_AER_TYPE_SMART);
	assert_true(fh_reap(h, 0, &e));
	assert_int_equal(e.cid, sf_cid);
	assert_int_equal(nvme_cqe_status(&e), 0);
	assert_int_equal(get_log(h, NVME_LOG_SMART, 512, 0, false), 0);
	assert_true(h->ram[FH_ADMIN_BUF] & NVME_SMART_CRIT_TEMPERATURE);

	/* At most AERL + 1 outstanding. */
	for (int i = 0; i <= NVMEC_AERL; i++) {
		aer.cid = 0;
		fh_submit(h, 0, &aer);
	}
	aer.cid = 0;
	assert_int_equal(fh_cmd(h, 0, &aer), CS(NVME_SC_ASYNC_LIMIT));

	struct nvme_sqe c = { .opcode = NVME_ADM_ABORT, .cdw10 = (5u << 16) | 1 };
	assert_int_equal(fh_cmd(h, 0, &c), 0);
	assert_int_equal(h->last.dw0 & 1, 1); /* not aborted */
	c = (struct nvme_sqe){ .opcode = NVME_ADM_KEEP_ALIVE };
	assert_int_equal(fh_cmd(h, 0, &c), 0);
}

static void test_ioeventfds_offered(void **state)
{
	struct fh *h = *state;
	struct uvfio_ioeventfd e[16];
	int n = uvfio_device_get_ioeventfds(h->dev, 0, e, 16);
	assert_int_equal(n, 2 * (4 + 1));
	for (int i = 0; i < n; i++) {
		assert_int_equal(e[i].offset, NVME_REG_DBS + 4ull * i);
		assert_int_equal(e[i].size, 4);
		assert_true(e[i].fd >= 0);
	}
	assert_int_equal(uvfio_device_get_ioeventfds(h->dev, 1, NULL, 0), 0);
	const struct uvfio_region *r = uvfio_device_get_region(h->dev, 0);
	assert_true(r->mmap_fd >= 0);
	assert_int_equal(r->nr_sparse, 1);
	assert_int_equal(r->sparse[0].offset, NVMEC_DB_OFFSET);
	assert_int_equal(r->sparse[0].size, NVMEC_DB_SIZE);
}

/* CAP.NSSRS is 0: writing "NVMe" to NSSR is ignored (the controller stays ready, CSTS.NSSRO
 * stays clear). Keep Alive Timer is stored and read back; the command completes. */
static void test_no_nssr_keep_alive(void **state)
{
	struct fh *h = *state;
	fh_enable(h);
	assert_int_equal((fh_rd(h, NVME_REG_CAP, 8) >> 36) & 1, 0);
	fh_wr(h, NVME_REG_NSSR, 4, 0x4E564D65);
	assert_int_equal(fh_identify(h, NVME_ID_CNS_CTRL, 0, 0), 0);
	uint32_t csts = (uint32_t)fh_rd(h, NVME_REG_CSTS, 4);
	assert_true(csts & NVME_CSTS_RDY);
	assert_int_equal(csts & (1u << 4), 0);
	struct nvme_sqe c = { .opcode = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_KATO,
			      .cdw11 = 120000 };
	assert_int_equal(fh_cmd(h, 0, &c), 0);
	c = (struct nvme_sqe){ .opcode = NVME_ADM_GET_FEATURES, .cdw10 = NVME_FEAT_KATO };
	assert_int_equal(fh_cmd(h, 0, &c), 0);
	assert_int_equal(h->last.dw0, 120000);
	c = (struct nvme_sqe){ .opcode = NVME_ADM_KEEP_ALIVE };
	assert_int_equal(fh_cmd(h, 0, &c), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_registers_and_enable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_enable_is_fatal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shutdown, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify_controller, setup, teardown),
		cmocka_unit_test_setup_teardown(test_identify_namespaces, setup, teardown),
		cmocka_unit_test_setup_teardown(test_queue_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_features, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_pages, setup, teardown),
		cmocka_unit_test_setup_teardown(test_async_events, setup, teardown),
		cmocka_unit_test_setup_teardown(test_ioeventfds_offered, setup, teardown),
		cmocka_unit_test_setup_teardown(test_no_nssr_keep_alive, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
