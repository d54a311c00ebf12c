/* SPDX-License-Identifier: MIT */
/*
 * NVMe admin data structures and fields: Identify (controller, namespace, descriptors),
 * features, log pages, asynchronous events. Part of nvme_spec.h, which includes it: include
 * nvme_spec.h, not this file.
 */
#ifndef UVFIO_NVME_SPEC_ADMIN_H
#define UVFIO_NVME_SPEC_ADMIN_H

#ifndef UVFIO_NVME_SPEC_H
#error "include nvme/nvme_spec.h"
#endif

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

#endif
