/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target: the VERSION payload parser and negotiator (major/minor + capability JSON).
 * Whatever the bytes, negotiation either fails with -EINVAL or yields limits no larger than ours
 * and a NUL-terminated reply.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vfio-user/caps.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct vfu_server_limits ours = {
		.max_msg_fds = 16,
		.max_data_xfer_size = 1 << 20,
		.max_dma_maps = 1024,
		.allow_twin_socket = true,
		.allow_write_multiple = true,
	};
	struct vfu_negotiated neg;
	struct vfu_caps caps;
	char *reply = NULL;
	size_t reply_len = 0;

	(void)vfu_caps_parse((const char *)data, size, &caps);

	int rc = vfu_version_negotiate(data, size, &ours, &neg, &reply, &reply_len);
	if (rc == 0) {
		if (!reply || reply_len == 0 || reply[reply_len - 1] != '\0' ||
		    neg.max_data_xfer_size > ours.max_data_xfer_size ||
		    neg.max_dma_maps > ours.max_dma_maps)
			abort();
	} else if (rc != -EINVAL) {
		abort();
	}
	free(reply);
	return 0;
}
