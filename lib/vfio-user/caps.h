/* SPDX-License-Identifier: MIT */
/*
 * VERSION negotiation: parse the client's capability JSON, decide what this connection uses,
 * and build the reply JSON (a subset of what the client proposed, limits min()ed).
 */
#ifndef UVFIO_VFIO_USER_CAPS_H
#define UVFIO_VFIO_USER_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What one side states; has_* tell whether the key was present. */
struct vfu_caps {
	uint32_t max_msg_fds;
	uint32_t max_data_xfer_size;
	uint32_t max_dma_maps;
	uint64_t pgsizes;
	uint64_t mig_pgsize; /* legacy "migration": {"pgsize": n} */
	bool twin_socket; /* "twin_socket": {"supported": true} */
	bool write_multiple;
	bool precopy_info; /* uvfio extension: "uvfio": {"precopy_info": true} */
	uint32_t uvfio_xfer; /* uvfio extension: "uvfio": {"max_data_xfer_size": n} */
	bool error_reason; /* uvfio extension: "uvfio": {"error_reason": true} */
	bool mig_max_bitmap_size; /* "migration": {"max_bitmap_size": n}: only QEMU sends it */
	bool has_max_msg_fds, has_max_data_xfer_size, has_max_dma_maps, has_pgsizes, has_migration,
		has_twin_socket, has_write_multiple, has_uvfio, has_uvfio_xfer, has_error_reason;
};

/* The server's own limits and switches. */
struct vfu_server_limits {
	uint32_t max_msg_fds;
	uint32_t max_data_xfer_size;
	uint32_t uvfio_max_xfer; /* most a client proposing the uvfio size gets; 0: not offered */
	uint32_t max_dma_maps;
	bool allow_twin_socket;
	bool allow_write_multiple;
	int dma_msg_layout; /* enum uvfio_dma_msg_layout */
};

/* What a connection uses after VERSION. */
struct vfu_negotiated {
	uint16_t minor;
	uint32_t client_max_msg_fds; /* fds we may send in one message */
	uint32_t max_data_xfer_size; /* both directions; the uvfio size if one was agreed */
	uint32_t max_dma_maps;
	uint64_t pgsizes;
	uint64_t mig_pgsize; /* 0: not stated */
	bool twin_socket; /* the reply offers one: create it and send it as fd 0 */
	bool write_multiple;
	bool precopy_info; /* DEVICE_FEATURE VFU_FEATURE_UVFIO_PRECOPY_INFO is answered */
	bool qemu_dma_layout; /* DMA_READ/WRITE in QEMU 10.x's layout (struct vfu_qemu_dma_rw) */
	bool error_reason; /* error replies carry the reason as a NUL-terminated string */
};

/* json: the bytes after major/minor, len of them. len 0: no JSON, all defaults. Otherwise the
 * JSON must be NUL-terminated within len. -EINVAL on malformed JSON or a wrongly typed key. */
int vfu_caps_parse(const char *json, size_t len, struct vfu_caps *caps);
/*
 * Whole VERSION request payload -> negotiated settings and the reply JSON (malloc'd,
 * NUL-terminated; *reply_len includes the NUL). -EINVAL: short payload, major != 0, bad JSON.
 */
int vfu_version_negotiate(const void *payload, size_t len, const struct vfu_server_limits *ours,
			  struct vfu_negotiated *neg, char **reply_json, size_t *reply_len);

#endif
