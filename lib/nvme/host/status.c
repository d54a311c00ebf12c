/* SPDX-License-Identifier: MIT */
/* Every NVMe status as a name a person can act on. */
#include <string.h>

#include "nvme/host/nvme_host_priv.h"

struct status_name {
	uint16_t code; /* SCT << 8 | SC */
	const char *name;
};

#define S(sct, sc, name) { NVME_STATUS_MAKE(sct, sc), name }

static const struct status_name names[] = {
	S(NVME_SCT_GENERIC, NVME_SC_SUCCESS, "Successful Completion"),
	S(NVME_SCT_GENERIC, NVME_SC_INVALID_OPCODE, "Invalid Command Opcode"),
	S(NVME_SCT_GENERIC, NVME_SC_INVALID_FIELD, "Invalid Field in Command"),
	S(NVME_SCT_GENERIC, NVME_SC_CID_CONFLICT, "Command ID Conflict"),
	S(NVME_SCT_GENERIC, NVME_SC_DATA_TRANSFER_ERROR, "Data Transfer Error"),
	S(NVME_SCT_GENERIC, NVME_SC_POWER_LOSS, "Commands Aborted due to Power Loss Notification"),
	S(NVME_SCT_GENERIC, NVME_SC_INTERNAL, "Internal Error"),
	S(NVME_SCT_GENERIC, NVME_SC_ABORT_REQ, "Command Abort Requested"),
	S(NVME_SCT_GENERIC, NVME_SC_ABORT_SQ_DELETED, "Command Aborted due to SQ Deletion"),
	S(NVME_SCT_GENERIC, NVME_SC_FUSED_FAIL, "Command Aborted due to Failed Fused Command"),
	S(NVME_SCT_GENERIC, NVME_SC_FUSED_MISSING, "Command Aborted due to Missing Fused Command"),
	S(NVME_SCT_GENERIC, NVME_SC_INVALID_NS, "Invalid Namespace or Format"),
	S(NVME_SCT_GENERIC, NVME_SC_CMD_SEQ_ERROR, "Command Sequence Error"),
	S(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_LAST, "Invalid SGL Segment Descriptor"),
	S(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_COUNT, "Invalid Number of SGL Descriptors"),
	S(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_DATA_LEN, "Data SGL Length Invalid"),
	S(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_METADATA_LEN, "Metadata SGL Length Invalid"),
	S(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_TYPE, "SGL Descriptor Type Invalid"),
	S(NVME_SCT_GENERIC, NVME_SC_CMB_INVALID_USE, "Invalid Use of Controller Memory Buffer"),
	S(NVME_SCT_GENERIC, NVME_SC_PRP_INVALID_OFFSET, "PRP Offset Invalid"),
	S(NVME_SCT_GENERIC, NVME_SC_ATOMIC_WU_EXCEEDED, "Atomic Write Unit Exceeded"),
	S(NVME_SCT_GENERIC, NVME_SC_OP_DENIED, "Operation Denied"),
	S(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_OFFSET, "SGL Offset Invalid"),
	S(NVME_SCT_GENERIC, NVME_SC_HOSTID_INCONSISTENT, "Host Identifier Inconsistent Format"),
	S(NVME_SCT_GENERIC, NVME_SC_KA_TIMEOUT_EXPIRED, "Keep Alive Timer Expired"),
	S(NVME_SCT_GENERIC, NVME_SC_KA_TIMEOUT_INVALID, "Keep Alive Timeout Invalid"),
	S(NVME_SCT_GENERIC, NVME_SC_ABORTED_PREEMPT_ABORT, "Command Aborted due to Preempt and Abort"),
	S(NVME_SCT_GENERIC, NVME_SC_SANITIZE_FAILED, "Sanitize Failed"),
	S(NVME_SCT_GENERIC, NVME_SC_SANITIZE_IN_PROGRESS, "Sanitize In Progress"),
	S(NVME_SCT_GENERIC, NVME_SC_SGL_INVALID_GRANULARITY, "SGL Data Block Granularity Invalid"),
	S(NVME_SCT_GENERIC, NVME_SC_CMD_NOT_SUP_CMB_QUEUE, "Command Not Supported for Queue in CMB"),
	S(NVME_SCT_GENERIC, NVME_SC_NS_WRITE_PROTECTED, "Namespace is Write Protected"),
	S(NVME_SCT_GENERIC, NVME_SC_CMD_INTERRUPTED, "Command Interrupted"),
	S(NVME_SCT_GENERIC, NVME_SC_TRANSIENT_TR_ERR, "Transient Transport Error"),
	S(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE, "LBA Out of Range"),
	S(NVME_SCT_GENERIC, NVME_SC_CAP_EXCEEDED, "Capacity Exceeded"),
	S(NVME_SCT_GENERIC, NVME_SC_NS_NOT_READY, "Namespace Not Ready"),
	S(NVME_SCT_GENERIC, NVME_SC_RESERVATION_CONFLICT, "Reservation Conflict"),
	S(NVME_SCT_GENERIC, NVME_SC_FORMAT_IN_PROGRESS, "Format In Progress"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_CQ_INVALID, "Completion Queue Invalid"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_QID_INVALID, "Invalid Queue Identifier"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_QUEUE_SIZE, "Invalid Queue Size"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_ABORT_LIMIT, "Abort Command Limit Exceeded"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_ASYNC_LIMIT, "Asynchronous Event Request Limit Exceeded"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_FIRMWARE_SLOT, "Invalid Firmware Slot"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_FIRMWARE_IMAGE, "Invalid Firmware Image"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_VECTOR, "Invalid Interrupt Vector"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_LOG_PAGE, "Invalid Log Page"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_FORMAT, "Invalid Format"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_FW_NEEDS_CONV_RESET, "Firmware Activation Requires Conventional Reset"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_QUEUE_DELETION, "Invalid Queue Deletion"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_FEATURE_NOT_SAVEABLE, "Feature Identifier Not Saveable"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_FEATURE_NOT_CHANGEABLE, "Feature Not Changeable"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_FEATURE_NOT_PER_NS, "Feature Not Namespace Specific"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_FW_NEEDS_SUBSYS_RESET, "Firmware Activation Requires NVM Subsystem Reset"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_FW_NEEDS_RESET, "Firmware Activation Requires Controller Level Reset"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_FW_NEEDS_MAX_TIME, "Firmware Activation Requires Maximum Time Violation"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_FW_ACTIVATE_PROHIBITED, "Firmware Activation Prohibited"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_OVERLAPPING_RANGE, "Overlapping Range"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_NS_INSUFFICIENT_CAP, "Namespace Insufficient Capacity"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_NS_ID_UNAVAILABLE, "Namespace Identifier Unavailable"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_NS_ALREADY_ATTACHED, "Namespace Already Attached"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_NS_IS_PRIVATE, "Namespace Is Private"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_NS_NOT_ATTACHED, "Namespace Not Attached"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_THIN_PROV_NOT_SUPP, "Thin Provisioning Not Supported"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_CTRL_LIST_INVALID, "Controller List Invalid"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_SELF_TEST_IN_PROGRESS, "Device Self-test In Progress"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_BP_WRITE_PROHIBITED, "Boot Partition Write Prohibited"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_CTRL_ID_INVALID, "Invalid Controller Identifier"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_SEC_CTRL_STATE_INVALID, "Invalid Secondary Controller State"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_CTRL_RES_NUM_INVALID, "Invalid Number of Controller Resources"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_RES_ID_INVALID, "Invalid Resource Identifier"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_PMR_SAN_PROHIBITED, "Sanitize Prohibited While PMR Enabled"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_ANA_GROUP_ID_INVALID, "ANA Group Identifier Invalid"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_ANA_ATTACH_FAILED, "ANA Attach Failed"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_BAD_ATTRIBUTES, "Conflicting Attributes"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_INVALID_PI, "Invalid Protection Information"),
	S(NVME_SCT_CMD_SPECIFIC, NVME_SC_READ_ONLY, "Attempted Write to Read Only Range"),
	S(NVME_SCT_MEDIA, NVME_SC_WRITE_FAULT, "Write Fault"),
	S(NVME_SCT_MEDIA, NVME_SC_READ_ERROR, "Unrecovered Read Error"),
	S(NVME_SCT_MEDIA, NVME_SC_GUARD_CHECK, "End-to-end Guard Check Error"),
	S(NVME_SCT_MEDIA, NVME_SC_APPTAG_CHECK, "End-to-end Application Tag Check Error"),
	S(NVME_SCT_MEDIA, NVME_SC_REFTAG_CHECK, "End-to-end Reference Tag Check Error"),
	S(NVME_SCT_MEDIA, NVME_SC_COMPARE_FAILED, "Compare Failure"),
	S(NVME_SCT_MEDIA, NVME_SC_ACCESS_DENIED, "Access Denied"),
	S(NVME_SCT_MEDIA, NVME_SC_UNWRITTEN_BLOCK, "Deallocated or Unwritten Logical Block"),
};

const char *uvfio_nvme_strstatus(int status)
{
	static const char *sct_unknown[] = {
		"Unknown Generic Command Status", "Unknown Command Specific Status",
		"Unknown Media and Data Integrity Error", "Unknown Path Related Status",
		"Reserved Status Code Type", "Reserved Status Code Type",
		"Reserved Status Code Type", "Vendor Specific Status",
	};
	uint16_t code;

	if (status == 0)
		return "success";
	if (status < 0)
		return strerror(-status);
	code = (uint16_t)UVFIO_NVME_STATUS_CODE(status);
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == code)
			return names[i].name;
	return sct_unknown[NVME_STATUS_SCT(code)];
}
