/* SPDX-License-Identifier: MIT */
/* What cmd_nvme.c and cmd_nvme_io.c share. */
#ifndef UVFIO_TOOL_NVME_CLI_H
#define UVFIO_TOOL_NVME_CLI_H

#include <stdbool.h>
#include <stdint.h>

#include <uvfio/nvme.h>

struct nvme_args {
	const char *sub, *url, *data;
	bool json;
	uint32_t nsid;
	bool nsid_set;
	uint64_t slba, nlb0, data_size, fid, cdw11, lbaf, ses;
	bool fid_set;
	int irq;
};

/* Prints what failed (an NVMe status by name, or an errno) and returns EXIT_FAILED. */
int nvme_fail(const char *what, int st);
/* read, write, flush. */
int nvme_cmd_io(struct uvfio_nvme_ctrl *c, const struct nvme_args *a);

#endif
