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

/* Identify, features, log pages, asynchronous events. */
#include "nvme_spec_admin.h"

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
