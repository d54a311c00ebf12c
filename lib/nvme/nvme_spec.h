/* SPDX-License-Identifier: MIT */
/*
 * NVMe definitions shared by the NVMe controller (drivers/nvme) and the NVMe host driver.
 * Numbers from the NVMe Base Specification 1.4/2.0 and the NVM Command Set specification.
 * Everything on the wire or in guest memory is little-endian; uvfio only runs on little-endian
 * hosts (x86-64, arm64), so the structs are used as they are. Internal header, not public API.
 * Stable: other branches build on it; only add to it.
 */
#ifndef UVFIO_NVME_SPEC_H
#define UVFIO_NVME_SPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#if __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "nvme_spec.h assumes a little-endian host"
#endif

#define NVME_PACKED __attribute__((packed))

/* ---- PCI identity ---- */
#define NVME_PCI_CLASS 0x01 /* mass storage */
#define NVME_PCI_SUBCLASS 0x08 /* non-volatile memory */
#define NVME_PCI_PROGIF 0x02 /* NVM Express */
#define NVME_PCI_CLASS_CODE 0x010802u

/* ---- Controller registers (BAR0) ---- */
#define NVME_REG_CAP 0x00 /* 64 bit */
#define NVME_REG_VS 0x08
#define NVME_REG_INTMS 0x0c
#define NVME_REG_INTMC 0x10
#define NVME_REG_CC 0x14
#define NVME_REG_CSTS 0x1c
#define NVME_REG_NSSR 0x20
#define NVME_REG_AQA 0x24
#define NVME_REG_ASQ 0x28 /* 64 bit */
#define NVME_REG_ACQ 0x30 /* 64 bit */
#define NVME_REG_CMBLOC 0x38
#define NVME_REG_CMBSZ 0x3c
#define NVME_REG_BPINFO 0x40
#define NVME_REG_BPRSEL 0x44
#define NVME_REG_BPMBL 0x48 /* 64 bit */
#define NVME_REG_CMBMSC 0x50 /* 64 bit */
#define NVME_REG_CMBSTS 0x58
#define NVME_REG_PMRCAP 0xe00
#define NVME_REG_PMRCTL 0xe04
#define NVME_REG_PMRSTS 0xe08
#define NVME_REG_DBS 0x1000 /* first doorbell */

/* CAP */
#define NVME_CAP_MQES(cap) ((uint32_t)((cap) & 0xffff))
#define NVME_CAP_CQR (1ull << 16)
#define NVME_CAP_AMS_WRR (1ull << 17)
#define NVME_CAP_AMS_VS (1ull << 18)
#define NVME_CAP_TO(cap) ((uint32_t)(((cap) >> 24) & 0xff))
#define NVME_CAP_DSTRD(cap) ((uint32_t)(((cap) >> 32) & 0xf))
#define NVME_CAP_NSSRS (1ull << 36)
#define NVME_CAP_CSS_NVM (1ull << 37)
#define NVME_CAP_CSS_IOCS (1ull << 43) /* one or more I/O command sets */
#define NVME_CAP_CSS_NOIO (1ull << 44) /* admin only */
#define NVME_CAP_BPS (1ull << 45)
#define NVME_CAP_MPSMIN(cap) ((uint32_t)(((cap) >> 48) & 0xf))
#define NVME_CAP_MPSMAX(cap) ((uint32_t)(((cap) >> 52) & 0xf))
#define NVME_CAP_PMRS (1ull << 56)
#define NVME_CAP_CMBS (1ull << 57)
#define NVME_CAP_SET_MQES(v) ((uint64_t)((v) & 0xffff))
#define NVME_CAP_SET_TO(v) ((uint64_t)((v) & 0xff) << 24)
#define NVME_CAP_SET_DSTRD(v) ((uint64_t)((v) & 0xf) << 32)
#define NVME_CAP_SET_MPSMIN(v) ((uint64_t)((v) & 0xf) << 48)
#define NVME_CAP_SET_MPSMAX(v) ((uint64_t)((v) & 0xf) << 52)

/* VS */
#define NVME_VS(major, minor, ter) (((uint32_t)(major) << 16) | ((uint32_t)(minor) << 8) | (ter))
#define NVME_VS_1_4 NVME_VS(1, 4, 0)

/* CC */
#define NVME_CC_EN (1u << 0)
#define NVME_CC_CSS(cc) (((cc) >> 4) & 0x7)
#define NVME_CC_MPS(cc) (((cc) >> 7) & 0xf)
#define NVME_CC_AMS(cc) (((cc) >> 11) & 0x7)
#define NVME_CC_SHN(cc) (((cc) >> 14) & 0x3)
#define NVME_CC_IOSQES(cc) (((cc) >> 16) & 0xf)
#define NVME_CC_IOCQES(cc) (((cc) >> 20) & 0xf)
#define NVME_CC_CSS_NVM 0
#define NVME_CC_CSS_CSI 6
#define NVME_CC_CSS_ADMIN 7
#define NVME_CC_SHN_NONE 0
#define NVME_CC_SHN_NORMAL 1
#define NVME_CC_SHN_ABRUPT 2
#define NVME_CC_SHN_MASK (3u << 14)
#define NVME_CC_SET_MPS(v) (((uint32_t)(v) & 0xf) << 7)
#define NVME_CC_SET_IOSQES(v) (((uint32_t)(v) & 0xf) << 16)
#define NVME_CC_SET_IOCQES(v) (((uint32_t)(v) & 0xf) << 20)
#define NVME_CC_SET_SHN(v) (((uint32_t)(v) & 0x3) << 14)
#define NVME_CC_RESERVED 0xff00000eu /* bits 3:1 and 31:24 */

/* CSTS */
#define NVME_CSTS_RDY (1u << 0)
#define NVME_CSTS_CFS (1u << 1)
#define NVME_CSTS_SHST(csts) (((csts) >> 2) & 0x3)
#define NVME_CSTS_SHST_MASK (3u << 2)
#define NVME_CSTS_SHST_NORMAL 0
#define NVME_CSTS_SHST_OCCURRING 1
#define NVME_CSTS_SHST_COMPLETE 2
#define NVME_CSTS_NSSRO (1u << 4)
#define NVME_CSTS_PP (1u << 5)

#define NVME_NSSR_MAGIC 0x4E564D65u /* "NVMe" */

/* AQA */
#define NVME_AQA_ASQS(aqa) ((aqa) & 0xfff)
#define NVME_AQA_ACQS(aqa) (((aqa) >> 16) & 0xfff)
#define NVME_AQA_SET(asqs, acqs) (((uint32_t)(asqs) & 0xfff) | (((uint32_t)(acqs) & 0xfff) << 16))

/* CMBLOC / CMBSZ */
#define NVME_CMBLOC_BIR(v) ((v) & 0x7)
#define NVME_CMBLOC_OFST(v) ((v) >> 12)
#define NVME_CMBSZ_SQS (1u << 0)
#define NVME_CMBSZ_CQS (1u << 1)
#define NVME_CMBSZ_LISTS (1u << 2)
#define NVME_CMBSZ_RDS (1u << 3)
#define NVME_CMBSZ_WDS (1u << 4)
#define NVME_CMBSZ_SZU(v) (((v) >> 8) & 0xf)
#define NVME_CMBSZ_SZ(v) ((v) >> 12)

/* Doorbells: SQ y tail at 0x1000 + (2y) * (4 << DSTRD), CQ y head at (2y + 1). */
static inline uint32_t nvme_sq_doorbell(uint32_t qid, uint32_t dstrd)
{
	return NVME_REG_DBS + (2 * qid) * (4u << dstrd);
}
static inline uint32_t nvme_cq_doorbell(uint32_t qid, uint32_t dstrd)
{
	return NVME_REG_DBS + (2 * qid + 1) * (4u << dstrd);
}
/* Index of a doorbell (or shadow/EventIdx entry) in 4 << DSTRD units: 2*qid (SQ), 2*qid+1 (CQ). */
static inline uint32_t nvme_db_index(uint32_t qid, bool is_cq)
{
	return 2 * qid + (is_cq ? 1 : 0);
}

/* ---- Queue entries ---- */
#define NVME_SQE_SIZE 64
#define NVME_CQE_SIZE 16
#define NVME_SQES_LOG2 6
#define NVME_CQES_LOG2 4
#define NVME_ADMIN_QID 0
#define NVME_MAX_QUEUE_ENTRIES 65536

/* SGL descriptor (16 bytes). */
struct nvme_sgl_desc {
	uint64_t addr;
	uint32_t length;
	uint8_t rsvd[3];
	uint8_t type; /* type 7:4, subtype 3:0 */
};
_Static_assert(sizeof(struct nvme_sgl_desc) == 16, "SGL descriptor is 16 bytes");

#define NVME_SGL_TYPE(t) ((uint8_t)((t) >> 4))
#define NVME_SGL_SUBTYPE(t) ((uint8_t)((t) & 0xf))
#define NVME_SGL_FMT(type, subtype) ((uint8_t)(((type) << 4) | (subtype)))
enum {
	NVME_SGL_TYPE_DATA_BLOCK = 0x0,
	NVME_SGL_TYPE_BIT_BUCKET = 0x1,
	NVME_SGL_TYPE_SEGMENT = 0x2,
	NVME_SGL_TYPE_LAST_SEGMENT = 0x3,
	NVME_SGL_TYPE_KEYED_DATA_BLOCK = 0x4,
	NVME_SGL_TYPE_TRANSPORT_DATA_BLOCK = 0x5,
	NVME_SGL_TYPE_VENDOR = 0xf,
};
enum {
	NVME_SGL_SUBTYPE_ADDRESS = 0x0,
	NVME_SGL_SUBTYPE_OFFSET = 0x1,
	NVME_SGL_SUBTYPE_TRANSPORT = 0xa,
};

/* CDW0 flags byte: FUSE 1:0, PSDT 7:6. */
#define NVME_SQE_FUSE(flags) ((flags) & 0x3)
#define NVME_SQE_PSDT(flags) (((flags) >> 6) & 0x3)
#define NVME_SQE_SET_PSDT(v) ((uint8_t)(((v) & 0x3) << 6))
enum {
	NVME_PSDT_PRP = 0,
	NVME_PSDT_SGL_MPTR_CONTIG = 1,
	NVME_PSDT_SGL_MPTR_SGL = 2,
};
#define NVME_FUSE_NONE 0
#define NVME_FUSE_FIRST 1
#define NVME_FUSE_SECOND 2

/* Submission queue entry (64 bytes). */
struct nvme_sqe {
	uint8_t opcode;
	uint8_t flags; /* FUSE 1:0, PSDT 7:6 */
	uint16_t cid;
	uint32_t nsid;
	uint32_t cdw2;
	uint32_t cdw3;
	uint64_t mptr;
	union {
		struct {
			uint64_t prp1;
			uint64_t prp2;
		};
		struct nvme_sgl_desc sgl;
	};
	uint32_t cdw10;
	uint32_t cdw11;
	uint32_t cdw12;
	uint32_t cdw13;
	uint32_t cdw14;
	uint32_t cdw15;
};
_Static_assert(sizeof(struct nvme_sqe) == NVME_SQE_SIZE, "SQE is 64 bytes");
_Static_assert(offsetof(struct nvme_sqe, prp1) == 24, "DPTR at 24");
_Static_assert(offsetof(struct nvme_sqe, cdw10) == 40, "CDW10 at 40");

/* Completion queue entry (16 bytes). */
struct nvme_cqe {
	uint32_t dw0; /* command specific */
	uint32_t dw1;
	uint16_t sqhd;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status; /* P 0, SC 8:1, SCT 11:9, CRD 13:12, M 14, DNR 15 */
};
_Static_assert(sizeof(struct nvme_cqe) == NVME_CQE_SIZE, "CQE is 16 bytes");
_Static_assert(offsetof(struct nvme_cqe, status) == 14, "status at 14");

/* ---- Status field (the 15 bits above the phase bit; "status" below excludes the phase) ----
 * A status value in this API is SCT << 8 | SC, plus NVME_STATUS_MORE / NVME_STATUS_DNR. */
#define NVME_STATUS_SC(s) ((uint8_t)((s) & 0xff))
#define NVME_STATUS_SCT(s) ((uint8_t)(((s) >> 8) & 0x7))
#define NVME_STATUS_CRD(s) (((s) >> 11) & 0x3)
#define NVME_STATUS_MORE (1u << 13)
#define NVME_STATUS_DNR (1u << 14)
#define NVME_STATUS_MAKE(sct, sc) ((uint16_t)((((sct) & 0x7) << 8) | ((sc) & 0xff)))

/* Pack a status (as above) and a phase bit into the CQE's status halfword, and back. */
static inline uint16_t nvme_cqe_status_pack(uint16_t status, bool phase)
{
	return (uint16_t)(((status & 0x7fff) << 1) | (phase ? 1 : 0));
}
static inline uint16_t nvme_cqe_status(const struct nvme_cqe *cqe)
{
	return (uint16_t)(cqe->status >> 1);
}
static inline bool nvme_cqe_phase(const volatile struct nvme_cqe *cqe)
{
	return cqe->status & 1;
}
/* Success ignoring the More/DNR/CRD bits. */
static inline bool nvme_status_ok(uint16_t status)
{
	return (status & 0x7ff) == 0;
}

/* Status code types */
enum {
	NVME_SCT_GENERIC = 0x0,
	NVME_SCT_CMD_SPECIFIC = 0x1,
	NVME_SCT_MEDIA = 0x2,
	NVME_SCT_PATH = 0x3,
	NVME_SCT_VENDOR = 0x7,
};

/* Generic command status (SCT 0) */
enum {
	NVME_SC_SUCCESS = 0x00,
	NVME_SC_INVALID_OPCODE = 0x01,
	NVME_SC_INVALID_FIELD = 0x02,
	NVME_SC_CID_CONFLICT = 0x03,
	NVME_SC_DATA_TRANSFER_ERROR = 0x04,
	NVME_SC_POWER_LOSS = 0x05,
	NVME_SC_INTERNAL = 0x06,
	NVME_SC_ABORT_REQ = 0x07,
	NVME_SC_ABORT_SQ_DELETED = 0x08,
	NVME_SC_FUSED_FAIL = 0x09,
	NVME_SC_FUSED_MISSING = 0x0a,
	NVME_SC_INVALID_NS = 0x0b,
	NVME_SC_CMD_SEQ_ERROR = 0x0c,
	NVME_SC_SGL_INVALID_LAST = 0x0d, /* invalid SGL segment descriptor */
	NVME_SC_SGL_INVALID_COUNT = 0x0e,
	NVME_SC_SGL_INVALID_DATA_LEN = 0x0f,
	NVME_SC_SGL_INVALID_METADATA_LEN = 0x10,
	NVME_SC_SGL_INVALID_TYPE = 0x11,
	NVME_SC_CMB_INVALID_USE = 0x12,
	NVME_SC_PRP_INVALID_OFFSET = 0x13,
	NVME_SC_ATOMIC_WU_EXCEEDED = 0x14,
	NVME_SC_OP_DENIED = 0x15,
	NVME_SC_SGL_INVALID_OFFSET = 0x16,
	NVME_SC_HOSTID_INCONSISTENT = 0x18,
	NVME_SC_KA_TIMEOUT_EXPIRED = 0x19,
	NVME_SC_KA_TIMEOUT_INVALID = 0x1a,
	NVME_SC_ABORTED_PREEMPT_ABORT = 0x1b,
	NVME_SC_SANITIZE_FAILED = 0x1c,
	NVME_SC_SANITIZE_IN_PROGRESS = 0x1d,
	NVME_SC_SGL_INVALID_GRANULARITY = 0x1e,
	NVME_SC_CMD_NOT_SUP_CMB_QUEUE = 0x1f,
	NVME_SC_NS_WRITE_PROTECTED = 0x20,
	NVME_SC_CMD_INTERRUPTED = 0x21,
	NVME_SC_TRANSIENT_TR_ERR = 0x22,
	/* NVM command set, generic */
	NVME_SC_LBA_RANGE = 0x80,
	NVME_SC_CAP_EXCEEDED = 0x81,
	NVME_SC_NS_NOT_READY = 0x82,
	NVME_SC_RESERVATION_CONFLICT = 0x83,
	NVME_SC_FORMAT_IN_PROGRESS = 0x84,
};

/* Command specific status (SCT 1) */
enum {
	NVME_SC_CQ_INVALID = 0x00,
	NVME_SC_QID_INVALID = 0x01,
	NVME_SC_QUEUE_SIZE = 0x02,
	NVME_SC_ABORT_LIMIT = 0x03,
	NVME_SC_ASYNC_LIMIT = 0x05,
	NVME_SC_FIRMWARE_SLOT = 0x06,
	NVME_SC_FIRMWARE_IMAGE = 0x07,
	NVME_SC_INVALID_VECTOR = 0x08,
	NVME_SC_INVALID_LOG_PAGE = 0x09,
	NVME_SC_INVALID_FORMAT = 0x0a,
	NVME_SC_FW_NEEDS_CONV_RESET = 0x0b,
	NVME_SC_INVALID_QUEUE_DELETION = 0x0c,
	NVME_SC_FEATURE_NOT_SAVEABLE = 0x0d,
	NVME_SC_FEATURE_NOT_CHANGEABLE = 0x0e,
	NVME_SC_FEATURE_NOT_PER_NS = 0x0f,
	NVME_SC_FW_NEEDS_SUBSYS_RESET = 0x10,
	NVME_SC_FW_NEEDS_RESET = 0x11,
	NVME_SC_FW_NEEDS_MAX_TIME = 0x12,
	NVME_SC_FW_ACTIVATE_PROHIBITED = 0x13,
	NVME_SC_OVERLAPPING_RANGE = 0x14,
	NVME_SC_NS_INSUFFICIENT_CAP = 0x15,
	NVME_SC_NS_ID_UNAVAILABLE = 0x16,
	NVME_SC_NS_ALREADY_ATTACHED = 0x18,
	NVME_SC_NS_IS_PRIVATE = 0x19,
	NVME_SC_NS_NOT_ATTACHED = 0x1a,
	NVME_SC_THIN_PROV_NOT_SUPP = 0x1b,
	NVME_SC_CTRL_LIST_INVALID = 0x1c,
	NVME_SC_SELF_TEST_IN_PROGRESS = 0x1d,
	NVME_SC_BP_WRITE_PROHIBITED = 0x1e,
	NVME_SC_CTRL_ID_INVALID = 0x1f,
	NVME_SC_SEC_CTRL_STATE_INVALID = 0x20,
	NVME_SC_CTRL_RES_NUM_INVALID = 0x21,
	NVME_SC_RES_ID_INVALID = 0x22,
	NVME_SC_PMR_SAN_PROHIBITED = 0x23,
	NVME_SC_ANA_GROUP_ID_INVALID = 0x24,
	NVME_SC_ANA_ATTACH_FAILED = 0x25,
	/* NVM command set, command specific */
	NVME_SC_BAD_ATTRIBUTES = 0x80,
	NVME_SC_INVALID_PI = 0x81,
	NVME_SC_READ_ONLY = 0x82,
};

/* Media and data integrity errors (SCT 2) */
enum {
	NVME_SC_WRITE_FAULT = 0x80,
	NVME_SC_READ_ERROR = 0x81,
	NVME_SC_GUARD_CHECK = 0x82,
	NVME_SC_APPTAG_CHECK = 0x83,
	NVME_SC_REFTAG_CHECK = 0x84,
	NVME_SC_COMPARE_FAILED = 0x85,
	NVME_SC_ACCESS_DENIED = 0x86,
	NVME_SC_UNWRITTEN_BLOCK = 0x87,
};

/* ---- Opcodes ---- */
enum {
	NVME_ADM_DELETE_SQ = 0x00,
	NVME_ADM_CREATE_SQ = 0x01,
	NVME_ADM_GET_LOG_PAGE = 0x02,
	NVME_ADM_DELETE_CQ = 0x04,
	NVME_ADM_CREATE_CQ = 0x05,
	NVME_ADM_IDENTIFY = 0x06,
	NVME_ADM_ABORT = 0x08,
	NVME_ADM_SET_FEATURES = 0x09,
	NVME_ADM_GET_FEATURES = 0x0a,
	NVME_ADM_ASYNC_EVENT = 0x0c,
	NVME_ADM_NS_MGMT = 0x0d,
	NVME_ADM_FW_COMMIT = 0x10,
	NVME_ADM_FW_DOWNLOAD = 0x11,
	NVME_ADM_DEV_SELF_TEST = 0x14,
	NVME_ADM_NS_ATTACH = 0x15,
	NVME_ADM_KEEP_ALIVE = 0x18,
	NVME_ADM_DIRECTIVE_SEND = 0x19,
	NVME_ADM_DIRECTIVE_RECV = 0x1a,
	NVME_ADM_VIRT_MGMT = 0x1c,
	NVME_ADM_NVME_MI_SEND = 0x1d,
	NVME_ADM_NVME_MI_RECV = 0x1e,
	NVME_ADM_DBBUF_CONFIG = 0x7c,
	NVME_ADM_FORMAT_NVM = 0x80,
	NVME_ADM_SECURITY_SEND = 0x81,
	NVME_ADM_SECURITY_RECV = 0x82,
	NVME_ADM_SANITIZE = 0x84,
	NVME_ADM_GET_LBA_STATUS = 0x86,
};

enum {
	NVME_CMD_FLUSH = 0x00,
	NVME_CMD_WRITE = 0x01,
	NVME_CMD_READ = 0x02,
	NVME_CMD_WRITE_UNCOR = 0x04,
	NVME_CMD_COMPARE = 0x05,
	NVME_CMD_WRITE_ZEROES = 0x08,
	NVME_CMD_DSM = 0x09,
	NVME_CMD_VERIFY = 0x0c,
	NVME_CMD_RESV_REGISTER = 0x0d,
	NVME_CMD_RESV_REPORT = 0x0e,
	NVME_CMD_RESV_ACQUIRE = 0x11,
	NVME_CMD_RESV_RELEASE = 0x15,
	NVME_CMD_COPY = 0x19,
};

/* ---- Admin command fields ---- */
/* Create I/O CQ: CDW10 QID 15:0, QSIZE 31:16 (0-based); CDW11 PC 0, IEN 1, IV 31:16 */
#define NVME_CQ_FLAGS_PC (1u << 0)
#define NVME_CQ_FLAGS_IEN (1u << 1)
/* Create I/O SQ: CDW11 PC 0, QPRIO 2:1, CQID 31:16; CDW12 NVMSETID 15:0 */
#define NVME_SQ_FLAGS_PC (1u << 0)
#define NVME_SQ_PRIO(cdw11) (((cdw11) >> 1) & 0x3)
#define NVME_CDW10_QID(cdw10) ((uint16_t)((cdw10) & 0xffff))
#define NVME_CDW10_QSIZE(cdw10) ((uint16_t)((cdw10) >> 16))
#define NVME_CDW11_IV(cdw11) ((uint16_t)((cdw11) >> 16))
#define NVME_CDW11_CQID(cdw11) ((uint16_t)((cdw11) >> 16))

/* Identify: CDW10 CNS 7:0, CNTID 31:16; CDW11 CNSSID 15:0, CSI 31:24 */
enum {
	NVME_ID_CNS_NS = 0x00,
	NVME_ID_CNS_CTRL = 0x01,
	NVME_ID_CNS_NS_ACTIVE_LIST = 0x02,
	NVME_ID_CNS_NS_DESC_LIST = 0x03,
	NVME_ID_CNS_NVMSET_LIST = 0x04,
	NVME_ID_CNS_CS_NS = 0x05,
	NVME_ID_CNS_CS_CTRL = 0x06,
	NVME_ID_CNS_NS_ACTIVE_LIST_CS = 0x07,
	NVME_ID_CNS_NS_CS_INDEP = 0x08,
	NVME_ID_CNS_NS_PRESENT_LIST = 0x10,
	NVME_ID_CNS_NS_PRESENT = 0x11,
	NVME_ID_CNS_CTRL_NS_LIST = 0x12,
	NVME_ID_CNS_CTRL_LIST = 0x13,
	NVME_ID_CNS_PRIMARY_CTRL_CAP = 0x14,
	NVME_ID_CNS_SCNDRY_CTRL_LIST = 0x15,
	NVME_ID_CNS_NS_GRANULARITY = 0x16,
	NVME_ID_CNS_UUID_LIST = 0x17,
	NVME_ID_CNS_IO_CMD_SET = 0x1c,
};
#define NVME_IDENTIFY_SIZE 4096
#define NVME_CSI_NVM 0x00
#define NVME_CSI_KV 0x01
#define NVME_CSI_ZNS 0x02

/* Power state descriptor (32 bytes) */
struct nvme_id_power_state {
	uint16_t max_power; /* centiwatts */
	uint8_t rsvd2;
	uint8_t flags;
	uint32_t entry_lat; /* microseconds */
	uint32_t exit_lat;
	uint8_t read_tput;
	uint8_t read_lat;
	uint8_t write_tput;
	uint8_t write_lat;
	uint16_t idle_power;
	uint8_t idle_scale;
	uint8_t rsvd19;
	uint16_t active_power;
	uint8_t active_work_scale;
	uint8_t rsvd23[9];
};
_Static_assert(sizeof(struct nvme_id_power_state) == 32, "power state is 32 bytes");

/* Identify Controller (CNS 01) */
struct nvme_id_ctrl {
	uint16_t vid;
	uint16_t ssvid;
	char sn[20];
	char mn[40];
	char fr[8];
	uint8_t rab;
	uint8_t ieee[3];
	uint8_t cmic;
	uint8_t mdts;
	uint16_t cntlid;
	uint32_t ver;
	uint32_t rtd3r;
	uint32_t rtd3e;
	uint32_t oaes;
	uint32_t ctratt;
	uint16_t rrls;
	uint8_t rsvd102[9];
	uint8_t cntrltype;
	uint8_t fguid[16];
	uint16_t crdt1;
	uint16_t crdt2;
	uint16_t crdt3;
	uint8_t rsvd134[122];
	uint16_t oacs;
	uint8_t acl;
	uint8_t aerl;
	uint8_t frmw;
	uint8_t lpa;
	uint8_t elpe;
	uint8_t npss;
	uint8_t avscc;
	uint8_t apsta;
	uint16_t wctemp;
	uint16_t cctemp;
	uint16_t mtfa;
	uint32_t hmpre;
	uint32_t hmmin;
	uint8_t tnvmcap[16];
	uint8_t unvmcap[16];
	uint32_t rpmbs;
	uint16_t edstt;
	uint8_t dsto;
	uint8_t fwug;
	uint16_t kas;
	uint16_t hctma;
	uint16_t mntmt;
	uint16_t mxtmt;
	uint32_t sanicap;
	uint32_t hmminds;
	uint16_t hmmaxd;
	uint16_t nsetidmax;
	uint16_t endgidmax;
	uint8_t anatt;
	uint8_t anacap;
	uint32_t anagrpmax;
	uint32_t nanagrpid;
	uint32_t pels;
	uint16_t domainid;
	uint8_t rsvd358[10];
	uint8_t megcap[16];
	uint8_t rsvd384[128];
	uint8_t sqes;
	uint8_t cqes;
	uint16_t maxcmd;
	uint32_t nn;
	uint16_t oncs;
	uint16_t fuses;
	uint8_t fna;
	uint8_t vwc;
	uint16_t awun;
	uint16_t awupf;
	uint8_t icsvscc;
	uint8_t nwpc;
	uint16_t acwu;
	uint16_t ocfs;
	uint32_t sgls;
	uint32_t mnan;
	uint8_t maxdna[16];
	uint32_t maxcna;
	uint32_t oaqd;
	uint8_t rsvd568[200];
	char subnqn[256];
	uint8_t rsvd1024[768];
	uint32_t ioccsz;
	uint32_t iorcsz;
	uint16_t icdoff;
	uint8_t ctrattr;
	uint8_t msdbd;
	uint8_t rsvd1804[2];
	uint8_t dctype;
	uint8_t rsvd1807[241];
	struct nvme_id_power_state psd[32];
	uint8_t vs[1024];
};
_Static_assert(sizeof(struct nvme_id_ctrl) == NVME_IDENTIFY_SIZE, "identify controller is 4 KiB");
_Static_assert(offsetof(struct nvme_id_ctrl, mdts) == 77, "MDTS at 77");
_Static_assert(offsetof(struct nvme_id_ctrl, ver) == 80, "VER at 80");
_Static_assert(offsetof(struct nvme_id_ctrl, oacs) == 256, "OACS at 256");
_Static_assert(offsetof(struct nvme_id_ctrl, kas) == 320, "KAS at 320");
_Static_assert(offsetof(struct nvme_id_ctrl, sqes) == 512, "SQES at 512");
_Static_assert(offsetof(struct nvme_id_ctrl, oncs) == 520, "ONCS at 520");
_Static_assert(offsetof(struct nvme_id_ctrl, sgls) == 536, "SGLS at 536");
_Static_assert(offsetof(struct nvme_id_ctrl, subnqn) == 768, "SUBNQN at 768");
_Static_assert(offsetof(struct nvme_id_ctrl, ioccsz) == 1792, "IOCCSZ at 1792");
_Static_assert(offsetof(struct nvme_id_ctrl, psd) == 2048, "PSD0 at 2048");

/* Identify controller bits */
#define NVME_CTRL_CMIC_MULTI_PORT (1u << 0)
#define NVME_CTRL_CMIC_MULTI_CTRL (1u << 1)
#define NVME_CTRL_CMIC_ANA (1u << 3)
#define NVME_CTRL_OAES_NS_ATTR (1u << 8)
#define NVME_CTRL_OAES_FW_ACT (1u << 9)
#define NVME_CTRL_CTRATT_HOSTID_128 (1u << 0)
#define NVME_CTRL_CTRATT_NVM_SETS (1u << 2)
#define NVME_CTRL_CTRATT_UUID_LIST (1u << 9)
#define NVME_CTRL_OACS_SEC_SUPP (1u << 0)
#define NVME_CTRL_OACS_FORMAT (1u << 1)
#define NVME_CTRL_OACS_FW (1u << 2)
#define NVME_CTRL_OACS_NS_MNGT (1u << 3)
#define NVME_CTRL_OACS_SELF_TEST (1u << 4)
#define NVME_CTRL_OACS_DIRECTIVES (1u << 5)
#define NVME_CTRL_OACS_NVME_MI (1u << 6)
#define NVME_CTRL_OACS_VIRT_MGMT (1u << 7)
#define NVME_CTRL_OACS_DBBUF (1u << 8)
#define NVME_CTRL_OACS_LBA_STATUS (1u << 9)
#define NVME_CTRL_FRMW_SLOT1_RO (1u << 0)
#define NVME_CTRL_FRMW_NSLOTS(n) ((uint8_t)(((n) & 0x7) << 1))
#define NVME_CTRL_FRMW_NO_RESET (1u << 4)
#define NVME_CTRL_LPA_SMART_PER_NS (1u << 0)
#define NVME_CTRL_LPA_CMD_EFFECTS (1u << 1)
#define NVME_CTRL_LPA_EXT_DATA (1u << 2)
#define NVME_CTRL_LPA_TELEMETRY (1u << 3)
#define NVME_CTRL_ONCS_COMPARE (1u << 0)
#define NVME_CTRL_ONCS_WRITE_UNCOR (1u << 1)
#define NVME_CTRL_ONCS_DSM (1u << 2)
#define NVME_CTRL_ONCS_WRITE_ZEROES (1u << 3)
#define NVME_CTRL_ONCS_SAVE_FEATURES (1u << 4)
#define NVME_CTRL_ONCS_RESERVATIONS (1u << 5)
#define NVME_CTRL_ONCS_TIMESTAMP (1u << 6)
#define NVME_CTRL_ONCS_VERIFY (1u << 7)
#define NVME_CTRL_ONCS_COPY (1u << 8)
#define NVME_CTRL_VWC_PRESENT (1u << 0)
#define NVME_CTRL_VWC_FLUSH_NSID_ALL (3u << 1) /* broadcast NSID supported for Flush */
#define NVME_CTRL_SGLS_SUPPORTED (1u << 0) /* byte-aligned: 01b; dword-aligned: 10b */
#define NVME_CTRL_SGLS_DWORD_ALIGN (1u << 1)
#define NVME_CTRL_SGLS_KEYED (1u << 2)
#define NVME_CTRL_SGLS_BIT_BUCKET (1u << 16)
#define NVME_CTRL_SGLS_MPTR_BYTE (1u << 17)
#define NVME_CTRL_SGLS_OVERSIZE (1u << 18)
#define NVME_CTRL_SGLS_MPTR_SGL (1u << 19)
#define NVME_CTRL_SGLS_ADDR_OFFSET (1u << 20)
#define NVME_CTRL_SGLS_TPORT (1u << 21)

/* Identify Controller, I/O command set specific for NVM (CNS 06, CSI 00) */
struct nvme_id_ctrl_nvm {
	uint8_t vsl;
	uint8_t wzsl;
	uint8_t wusl;
	uint8_t dmrl;
	uint32_t dmrsl;
	uint64_t dmsl;
	uint8_t rsvd16[4080];
};
_Static_assert(sizeof(struct nvme_id_ctrl_nvm) == NVME_IDENTIFY_SIZE, "id ctrl nvm is 4 KiB");

/* LBA format (4 bytes) */
struct nvme_lbaf {
	uint16_t ms; /* metadata bytes per LBA */
	uint8_t ds; /* LBA data size, log2 */
	uint8_t rp; /* relative performance 1:0 */
};
_Static_assert(sizeof(struct nvme_lbaf) == 4, "LBA format is 4 bytes");

/* Identify Namespace (CNS 00) */
struct nvme_id_ns {
	uint64_t nsze;
	uint64_t ncap;
	uint64_t nuse;
	uint8_t nsfeat;
	uint8_t nlbaf; /* 0-based */
	uint8_t flbas;
	uint8_t mc;
	uint8_t dpc;
	uint8_t dps;
	uint8_t nmic;
	uint8_t rescap;
	uint8_t fpi;
	uint8_t dlfeat;
	uint16_t nawun;
	uint16_t nawupf;
	uint16_t nacwu;
	uint16_t nabsn;
	uint16_t nabo;
	uint16_t nabspf;
	uint16_t noiob;
	uint8_t nvmcap[16];
	uint16_t npwg;
	uint16_t npwa;
	uint16_t npdg;
	uint16_t npda;
	uint16_t nows;
	uint16_t mssrl;
	uint32_t mcl;
	uint8_t msrc;
	uint8_t rsvd81;
	uint8_t nulbaf;
	uint8_t rsvd83[9];
	uint32_t anagrpid;
	uint8_t rsvd96[3];
	uint8_t nsattr;
	uint16_t nvmsetid;
	uint16_t endgid;
	uint8_t nguid[16];
	uint8_t eui64[8];
	struct nvme_lbaf lbaf[64];
	uint8_t vs[3712];
};
_Static_assert(sizeof(struct nvme_id_ns) == NVME_IDENTIFY_SIZE, "identify namespace is 4 KiB");
_Static_assert(offsetof(struct nvme_id_ns, nsfeat) == 24, "NSFEAT at 24");
_Static_assert(offsetof(struct nvme_id_ns, dlfeat) == 33, "DLFEAT at 33");
_Static_assert(offsetof(struct nvme_id_ns, npwg) == 64, "NPWG at 64");
_Static_assert(offsetof(struct nvme_id_ns, anagrpid) == 92, "ANAGRPID at 92");
_Static_assert(offsetof(struct nvme_id_ns, nguid) == 104, "NGUID at 104");
_Static_assert(offsetof(struct nvme_id_ns, eui64) == 120, "EUI64 at 120");
_Static_assert(offsetof(struct nvme_id_ns, lbaf) == 128, "LBAF0 at 128");

#define NVME_NS_FEAT_THIN (1u << 0)
#define NVME_NS_FEAT_ATOMICS (1u << 1)
#define NVME_NS_FEAT_DEALLOC_ERR (1u << 2)
#define NVME_NS_FEAT_IO_OPT (1u << 4)
#define NVME_NS_FLBAS_LBA_MASK 0xf
#define NVME_NS_FLBAS_META_EXT (1u << 4)
#define NVME_NS_DLFEAT_READ_ZEROES 0x1 /* deallocated blocks read as zeroes */
#define NVME_NS_DLFEAT_WRITE_ZEROES (1u << 3) /* Write Zeroes may deallocate */
#define NVME_NS_DLFEAT_GUARD_CRC (1u << 4)
#define NVME_NS_NMIC_SHARED (1u << 0)
#define NVME_NS_NSATTR_WRITE_PROTECTED (1u << 0)

/* I/O command set independent Identify Namespace (CNS 08), the fields in use */
struct nvme_id_ns_cs_indep {
	uint8_t nsfeat;
	uint8_t nmic;
	uint8_t rescap;
	uint8_t fpi;
	uint32_t anagrpid;
	uint8_t nsattr;
	uint8_t rsvd9;
	uint16_t nvmsetid;
	uint16_t endgid;
	uint8_t nstat;
	uint8_t rsvd15[4081];
};
_Static_assert(sizeof(struct nvme_id_ns_cs_indep) == NVME_IDENTIFY_SIZE, "4 KiB");
#define NVME_NSTAT_NRDY (1u << 0)

/* Namespace identification descriptor (CNS 03): a list of these, ended by a zero NIDT */
struct nvme_ns_id_desc {
	uint8_t nidt;
	uint8_t nidl;
	uint16_t rsvd;
	/* followed by nidl bytes of id */
};
_Static_assert(sizeof(struct nvme_ns_id_desc) == 4, "NS id descriptor header is 4 bytes");
enum {
	NVME_NIDT_EUI64 = 0x01,
	NVME_NIDT_NGUID = 0x02,
	NVME_NIDT_UUID = 0x03,
	NVME_NIDT_CSI = 0x04,
};
#define NVME_NIDT_EUI64_LEN 8
#define NVME_NIDT_NGUID_LEN 16
#define NVME_NIDT_UUID_LEN 16
#define NVME_NIDT_CSI_LEN 1

/* Active namespace list (CNS 02): up to 1024 NSIDs above CDW1.NSID, ascending, 0-terminated */
#define NVME_NS_LIST_ENTRIES 1024

/* ---- Features ---- Set/Get Features: CDW10 FID 7:0, SEL 10:8 (get), SV 31 (set) */
enum {
	NVME_FEAT_ARBITRATION = 0x01,
	NVME_FEAT_POWER_MGMT = 0x02,
	NVME_FEAT_LBA_RANGE = 0x03,
	NVME_FEAT_TEMP_THRESH = 0x04,
	NVME_FEAT_ERR_RECOVERY = 0x05,
	NVME_FEAT_VOLATILE_WC = 0x06,
	NVME_FEAT_NUM_QUEUES = 0x07,
	NVME_FEAT_IRQ_COALESCE = 0x08,
	NVME_FEAT_IRQ_CONFIG = 0x09,
	NVME_FEAT_WRITE_ATOMIC = 0x0a,
	NVME_FEAT_ASYNC_EVENT = 0x0b,
	NVME_FEAT_AUTO_PST = 0x0c,
	NVME_FEAT_HOST_MEM_BUF = 0x0d,
	NVME_FEAT_TIMESTAMP = 0x0e,
	NVME_FEAT_KATO = 0x0f,
	NVME_FEAT_HCTM = 0x10,
	NVME_FEAT_NOPSC = 0x11,
	NVME_FEAT_RRL = 0x12,
	NVME_FEAT_PLM_CONFIG = 0x13,
	NVME_FEAT_PLM_WINDOW = 0x14,
	NVME_FEAT_HOST_BEHAVIOR = 0x16,
	NVME_FEAT_SANITIZE = 0x17,
	NVME_FEAT_IOCS_PROFILE = 0x19,
	NVME_FEAT_SW_PROGRESS = 0x80,
	NVME_FEAT_HOST_ID = 0x81,
	NVME_FEAT_RESV_MASK = 0x82,
	NVME_FEAT_RESV_PERSIST = 0x83,
	NVME_FEAT_WRITE_PROTECT = 0x84,
};
#define NVME_FEAT_FID(cdw10) ((uint8_t)((cdw10) & 0xff))
#define NVME_FEAT_SEL(cdw10) (((cdw10) >> 8) & 0x7)
#define NVME_FEAT_SV (1u << 31)
enum {
	NVME_FEAT_SEL_CURRENT = 0,
	NVME_FEAT_SEL_DEFAULT = 1,
	NVME_FEAT_SEL_SAVED = 2,
	NVME_FEAT_SEL_SUPPORTED = 3,
};
/* SEL=3 answer bits */
#define NVME_FEAT_CAP_SAVEABLE (1u << 0)
#define NVME_FEAT_CAP_NS_SPECIFIC (1u << 1)
#define NVME_FEAT_CAP_CHANGEABLE (1u << 2)
/* Number of Queues: dw11/dw0 NSQR 15:0, NCQR 31:16, both 0-based; 0xffff is invalid */
#define NVME_FEAT_NQ_NSQ(v) ((uint16_t)((v) & 0xffff))
#define NVME_FEAT_NQ_NCQ(v) ((uint16_t)((v) >> 16))
/* Interrupt Coalescing: THR 7:0 (0-based count), TIME 15:8 (100 us units) */
#define NVME_FEAT_IC_THR(v) ((v) & 0xff)
#define NVME_FEAT_IC_TIME(v) (((v) >> 8) & 0xff)
/* Interrupt Vector Configuration: IV 15:0, CD 16 (coalescing disable) */
#define NVME_FEAT_IVC_IV(v) ((uint16_t)((v) & 0xffff))
#define NVME_FEAT_IVC_CD (1u << 16)
/* Temperature Threshold: TMPTH 15:0 kelvin, TMPSEL 19:16, THSEL 21:20 (0 over, 1 under) */
#define NVME_FEAT_TT_TMPTH(v) ((uint16_t)((v) & 0xffff))
#define NVME_FEAT_TT_TMPSEL(v) (((v) >> 16) & 0xf)
#define NVME_FEAT_TT_THSEL(v) (((v) >> 20) & 0x3)
/* Error Recovery: TLER 15:0, DULBE 16 */
#define NVME_FEAT_ERR_DULBE (1u << 16)
/* Arbitration: AB 2:0, LPW 15:8, MPW 23:16, HPW 31:24 */
/* Power Management: PS 4:0, WH 7:5 */
/* Async Event Configuration */
#define NVME_AEC_SMART_MASK 0xffu
#define NVME_AEC_NS_ATTR (1u << 8)
#define NVME_AEC_FW_ACT (1u << 9)
#define NVME_AEC_TELEMETRY (1u << 10)
#define NVME_AEC_ANA (1u << 11)
/* Timestamp data (8 bytes): milliseconds since the epoch 47:0, attributes in byte 6 */
#define NVME_TIMESTAMP_SYNCH (1u << 0)
#define NVME_TIMESTAMP_ORIGIN(attr) (((attr) >> 1) & 0x7)
#define NVME_TIMESTAMP_ORIGIN_RESET 0
#define NVME_TIMESTAMP_ORIGIN_HOST 1

/* ---- Log pages ----
 * Get Log Page: CDW10 LID 7:0, LSP 14:8, RAE 15, NUMDL 31:16; CDW11 NUMDU 15:0, LSI 31:16;
 * CDW12/13 offset (bytes, dword aligned); CDW14 UUID 6:0, CSI 31:24. NUMD is 0-based dwords. */
enum {
	NVME_LOG_SUPPORTED = 0x00,
	NVME_LOG_ERROR = 0x01,
	NVME_LOG_SMART = 0x02,
	NVME_LOG_FW_SLOT = 0x03,
	NVME_LOG_CHANGED_NS = 0x04,
	NVME_LOG_CMD_EFFECTS = 0x05,
	NVME_LOG_DEVICE_SELF_TEST = 0x06,
	NVME_LOG_TELEMETRY_HOST = 0x07,
	NVME_LOG_TELEMETRY_CTRL = 0x08,
	NVME_LOG_ENDURANCE_GROUP = 0x09,
	NVME_LOG_ANA = 0x0c,
	NVME_LOG_DISC = 0x70,
	NVME_LOG_RESERVATION = 0x80,
	NVME_LOG_SANITIZE = 0x81,
};
#define NVME_LOG_LID(cdw10) ((uint8_t)((cdw10) & 0xff))
#define NVME_LOG_LSP(cdw10) (((cdw10) >> 8) & 0x7f)
#define NVME_LOG_RAE (1u << 15)
#define NVME_LOG_NUMD(cdw10, cdw11) ((((uint32_t)((cdw11) & 0xffff) << 16) | ((cdw10) >> 16)) + 1)

/* Error Information log entry (64 bytes) */
struct nvme_error_log {
	uint64_t error_count;
	uint16_t sqid;
	uint16_t cid;
	uint16_t status; /* status field as in the CQE: bit 0 phase */
	uint16_t param_error_location; /* byte 7:0, bit 10:8 */
	uint64_t lba;
	uint32_t nsid;
	uint8_t vs;
	uint8_t trtype;
	uint8_t rsvd30[2];
	uint64_t cs;
	uint16_t trtype_spec_info;
	uint8_t rsvd42[22];
};
_Static_assert(sizeof(struct nvme_error_log) == 64, "error log entry is 64 bytes");

/* SMART / Health Information log (512 bytes). 128-bit counters as two little-endian u64. */
struct nvme_smart_log {
	uint8_t critical_warning;
	uint16_t temperature; /* kelvin, at byte 1 (unaligned) */
	uint8_t avail_spare;
	uint8_t spare_thresh;
	uint8_t percent_used;
	uint8_t endu_grp_crit_warn_sumry;
	uint8_t rsvd7[25];
	uint64_t data_units_read[2]; /* thousands of 512-byte units, rounded up */
	uint64_t data_units_written[2];
	uint64_t host_reads[2];
	uint64_t host_writes[2];
	uint64_t ctrl_busy_time[2]; /* minutes */
	uint64_t power_cycles[2];
	uint64_t power_on_hours[2];
	uint64_t unsafe_shutdowns[2];
	uint64_t media_errors[2];
	uint64_t num_err_log_entries[2];
	uint32_t warning_temp_time;
	uint32_t critical_comp_time;
	uint16_t temp_sensor[8];
	uint32_t thm_temp1_trans_count;
	uint32_t thm_temp2_trans_count;
	uint32_t thm_temp1_total_time;
	uint32_t thm_temp2_total_time;
	uint8_t rsvd232[280];
} NVME_PACKED;
_Static_assert(sizeof(struct nvme_smart_log) == 512, "SMART log is 512 bytes");
_Static_assert(offsetof(struct nvme_smart_log, data_units_read) == 32, "DUR at 32");
_Static_assert(offsetof(struct nvme_smart_log, warning_temp_time) == 192, "WCTT at 192");
#define NVME_SMART_CRIT_SPARE (1u << 0)
#define NVME_SMART_CRIT_TEMPERATURE (1u << 1)
#define NVME_SMART_CRIT_RELIABILITY (1u << 2)
#define NVME_SMART_CRIT_MEDIA (1u << 3)
#define NVME_SMART_CRIT_VOLATILE_MEMORY (1u << 4)

/* Firmware Slot Information log (512 bytes) */
struct nvme_fw_slot_log {
	uint8_t afi; /* active slot 2:0, next-reset slot 6:4 */
	uint8_t rsvd1[7];
	char frs[7][8];
	uint8_t rsvd64[448];
};
_Static_assert(sizeof(struct nvme_fw_slot_log) == 512, "FW slot log is 512 bytes");

/* Changed Namespace List log (4096 bytes): NSIDs, 0-terminated; 0xffffffff first = overflow */
#define NVME_CHANGED_NS_ENTRIES 1024

/* Commands Supported and Effects log (4096 bytes) */
struct nvme_effects_log {
	uint32_t acs[256];
	uint32_t iocs[256];
	uint8_t rsvd2048[2048];
};
_Static_assert(sizeof(struct nvme_effects_log) == 4096, "effects log is 4 KiB");
#define NVME_CMD_EFFECTS_CSUPP (1u << 0)
#define NVME_CMD_EFFECTS_LBCC (1u << 1)
#define NVME_CMD_EFFECTS_NCC (1u << 2)
#define NVME_CMD_EFFECTS_NIC (1u << 3)
#define NVME_CMD_EFFECTS_CCC (1u << 4)
#define NVME_CMD_EFFECTS_CSE_SINGLE (1u << 16)
#define NVME_CMD_EFFECTS_CSE_MULTI (1u << 17)
#define NVME_CMD_EFFECTS_UUID_SEL (1u << 19)

/* ---- Asynchronous events: completion DW0 = type 2:0, info 15:8, log page 23:16 ---- */
enum {
	NVME_AER_TYPE_ERROR = 0,
	NVME_AER_TYPE_SMART = 1,
	NVME_AER_TYPE_NOTICE = 2,
	NVME_AER_TYPE_CSS = 6,
	NVME_AER_TYPE_VS = 7,
};
enum {
	NVME_AER_ERROR_INVALID_DB_REG = 0x00,
	NVME_AER_ERROR_INVALID_DB_VALUE = 0x01,
	NVME_AER_ERROR_DIAG_FAILURE = 0x02,
	NVME_AER_ERROR_PERSISTENT_INTERNAL = 0x03,
	NVME_AER_ERROR_TRANSIENT_INTERNAL = 0x04,
	NVME_AER_ERROR_FW_IMAGE_LOAD = 0x05,
};
enum {
	NVME_AER_SMART_RELIABILITY = 0x00,
	NVME_AER_SMART_TEMP_THRESH = 0x01,
	NVME_AER_SMART_SPARE_THRESH = 0x02,
};
enum {
	NVME_AER_NOTICE_NS_CHANGED = 0x00,
	NVME_AER_NOTICE_FW_ACT_STARTING = 0x01,
	NVME_AER_NOTICE_TELEMETRY = 0x02,
	NVME_AER_NOTICE_ANA = 0x03,
};
static inline uint32_t nvme_aer_result(uint8_t type, uint8_t info, uint8_t lid)
{
	return (uint32_t)(type & 0x7) | ((uint32_t)info << 8) | ((uint32_t)lid << 16);
}

/* ---- NVM command fields ----
 * Read/Write/Compare/Write Zeroes: SLBA CDW10 (low) CDW11 (high), CDW12 NLB 15:0 (0-based),
 * DTYPE 23:20, DEAC 25 (write zeroes), PRINFO 29:26, FUA 30, LR 31. */
#define NVME_RW_NLB(cdw12) ((uint32_t)((cdw12) & 0xffff) + 1)
#define NVME_RW_DEAC (1u << 25)
#define NVME_RW_FUA (1u << 30)
#define NVME_RW_LR (1u << 31)
static inline uint64_t nvme_rw_slba(const struct nvme_sqe *sqe)
{
	return ((uint64_t)sqe->cdw11 << 32) | sqe->cdw10;
}
/* Dataset Management: CDW10 NR 7:0 (0-based range count); CDW11 IDR 0, IDW 1, AD 2 */
#define NVME_DSM_NR(cdw10) (((cdw10) & 0xff) + 1)
#define NVME_DSM_IDR (1u << 0)
#define NVME_DSM_IDW (1u << 1)
#define NVME_DSM_AD (1u << 2)
#define NVME_DSM_MAX_RANGES 256
struct nvme_dsm_range {
	uint32_t cattr;
	uint32_t nlb; /* 1-based here */
	uint64_t slba;
};
_Static_assert(sizeof(struct nvme_dsm_range) == 16, "DSM range is 16 bytes");
/* Flush to every namespace */
#define NVME_NSID_ALL 0xffffffffu

/* ---- PRPs ---- every entry is 8 bytes; entries after PRP1 are page aligned. */
#define NVME_PRP_ENTRY_SIZE 8
static inline uint32_t nvme_prps_per_page(uint32_t page_size)
{
	return page_size / NVME_PRP_ENTRY_SIZE;
}

/* ---- Doorbell Buffer Config (shadow doorbells): PRP1 = shadow doorbell page,
 * PRP2 = EventIdx page; both page aligned, entries indexed like the doorbells (nvme_db_index,
 * 4 << DSTRD bytes each). The host skips the MMIO doorbell unless the new value passed the
 * EventIdx: nvme_dbbuf_need_event(). */
static inline bool nvme_dbbuf_need_event(uint16_t event_idx, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event_idx - 1) < (uint16_t)(new_idx - old_idx);
}

/* ---- Misc ---- */
#define NVME_KELVIN(celsius) ((uint16_t)((celsius) + 273))
/* Phase bit: starts at 1 in a new CQ, flips at each wrap of the CQ tail. */
#define NVME_CQ_PHASE_INITIAL 1

#endif
