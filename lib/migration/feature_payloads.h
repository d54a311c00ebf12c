/* SPDX-License-Identifier: MIT */
/*
 * The inline payloads of the migration and DMA logging features (after struct
 * vfio_device_feature's argsz and flags), as vfio-user carries them: the device core parses them
 * (lib/core/device_mig.c), the client builds them (lib/core/client_mig.c), and the kernel
 * backend converts them to the kernel's structs (lib/kernel/kmig.c).
 */
#ifndef UVFIO_CORE_FEATURE_PAYLOADS_H
#define UVFIO_CORE_FEATURE_PAYLOADS_H

#include <stdint.h>

struct uvfio_feature_mig_state {
	uint32_t device_state;
	int32_t data_fd; /* -1 on the wire */
} __attribute__((packed));
_Static_assert(sizeof(struct uvfio_feature_mig_state) == 8, "mig_state");

/* DMA_LOGGING_START: followed by num_ranges struct uvfio_dirty_range. */
struct uvfio_feature_logging_control {
	uint64_t page_size;
	uint32_t num_ranges;
	uint32_t reserved;
} __attribute__((packed));
_Static_assert(sizeof(struct uvfio_feature_logging_control) == 16, "logging_control");

/* DMA_LOGGING_REPORT: GET data; the reply repeats it, followed by the bitmap. */
struct uvfio_feature_logging_report {
	uint64_t iova;
	uint64_t length;
	uint64_t page_size;
} __attribute__((packed));
_Static_assert(sizeof(struct uvfio_feature_logging_report) == 24, "logging_report");

#endif
