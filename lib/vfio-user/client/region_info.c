/* SPDX-License-Identifier: MIT */
/*
 * GET_REGION_INFO on the client: the reply and its capability chain (sparse mmap areas, type,
 * MSI-X mappable) are checked against the reply's size before anything is taken from them.
 */
#include <errno.h>
#include <string.h>

#include <linux/vfio.h>

#include "client_priv.h"
#include "util/log.h"

#define REGION_INFO_FIRST_ARGSZ 512u
#define REGION_INFO_MAX_ARGSZ (64u * 1024)

static int parse_sparse(const uint8_t *p, size_t len, uint32_t off, struct uvfio_region_info *info)
{
	struct vfu_cap_sparse_mmap cap;

	if (len - off < sizeof(cap))
		return -EPROTO;
	memcpy(&cap, p + off, sizeof(cap));
	if (cap.nr_areas > 16 || (len - off - sizeof(cap)) / sizeof(struct vfu_sparse_mmap_area) <
					 cap.nr_areas) {
		log_err("vfio-user: sparse mmap cap with %u areas does not fit", cap.nr_areas);
		return -EPROTO;
	}
	for (uint32_t i = 0; i < cap.nr_areas; i++) {
		struct vfu_sparse_mmap_area a;

		memcpy(&a, p + off + sizeof(cap) + i * sizeof(a), sizeof(a));
		if (a.offset + a.size < a.offset || a.offset + a.size > info->size) {
			log_err("vfio-user: sparse area %u outside the region", i);
			return -EPROTO;
		}
		info->sparse[i].offset = a.offset;
		info->sparse[i].size = a.size;
	}
	info->nr_sparse = cap.nr_areas;
	return 0;
}

/* Walks the capability chain of a region info reply of len bytes (p = the vfu_region_info). */
static int parse_caps(const uint8_t *p, size_t len, uint32_t off, struct uvfio_region_info *info)
{
	size_t max_caps = len / sizeof(struct vfu_cap_header);

	for (size_t n = 0; off; n++) {
		struct vfu_cap_header hdr;
		int ret = 0;

		/* Forward-only links inside the reply: the walk ends and never loops. */
		if (n >= max_caps || off < sizeof(struct vfu_region_info) ||
		    off > len - sizeof(hdr)) {
			log_err("vfio-user: region %u cap offset %u out of range", info->index, off);
			return -EPROTO;
		}
		memcpy(&hdr, p + off, sizeof(hdr));
		if (hdr.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			ret = parse_sparse(p, len, off, info);
		} else if (hdr.id == VFIO_REGION_INFO_CAP_TYPE) {
			struct vfu_cap_type t;

			if (len - off < sizeof(t))
				return -EPROTO;
			memcpy(&t, p + off, sizeof(t));
			info->has_type = true;
			info->type = t.type;
			info->subtype = t.subtype;
		} else if (hdr.id == VFIO_REGION_INFO_CAP_MSIX_MAPPABLE) {
			info->msix_mappable = true;
		} else {
			log_debug("vfio-user: region %u: unknown cap %u ignored", info->index, hdr.id);
		}
		if (ret < 0)
			return ret;
		if (hdr.next && hdr.next <= off) {
			log_err("vfio-user: region %u cap chain goes backwards", info->index);
			return -EPROTO;
		}
		off = hdr.next;
	}
	return 0;
}

/* GET_REGION_INFO, re-asking once with the argsz the server says it needs. fd (if not NULL)
 * receives the region's mmap fd or -1. */
int vfu_client_region_info(struct vfu_client *c, uint32_t index, struct uvfio_region_info *info,
			   int *fd)
{
	uint32_t argsz = REGION_INFO_FIRST_ARGSZ;

	for (int attempt = 0; attempt < 2; attempt++) {
		struct vfu_region_info req = { .argsz = argsz, .index = index }, rep;
		struct iovec iov = { .iov_base = &req, .iov_len = sizeof(req) };
		struct vfu_msg reply;
		size_t len;
		int ret = vfu_client_exchange(c, VFU_CMD_DEVICE_GET_REGION_INFO, &iov, 1, NULL, 0, 1, &reply);

		if (ret < 0)
			return ret;
		len = reply.payload_len;
		if (len < sizeof(rep) || len > argsz) {
			log_err("vfio-user: region info reply of %zu bytes (asked for %u)", len,
				argsz);
			vfu_msg_release(&reply);
			return -EPROTO;
		}
		memcpy(&rep, reply.payload, sizeof(rep));
		if (rep.index != index || rep.argsz < sizeof(rep) ||
		    (reply.nfds && !(rep.flags & VFIO_REGION_INFO_FLAG_MMAP))) {
			log_err("vfio-user: bad region info reply (index %u argsz %u fds %zu)",
				rep.index, rep.argsz, reply.nfds);
			vfu_msg_release(&reply);
			return -EPROTO;
		}
		if (rep.argsz > len) {
			vfu_msg_release(&reply);
			if (attempt || rep.argsz > REGION_INFO_MAX_ARGSZ) {
				log_err("vfio-user: region %u info needs %u bytes", index,
					rep.argsz);
				return -E2BIG;
			}
			argsz = rep.argsz;
			continue;
		}
		info->index = index;
		info->flags = rep.flags;
		info->size = rep.size;
		info->offset = rep.offset;
		ret = 0;
		if (rep.flags & VFIO_REGION_INFO_FLAG_CAPS)
			ret = parse_caps(reply.payload, rep.argsz, rep.cap_offset, info);
		if (ret == 0 && fd) {
			*fd = reply.nfds ? reply.fds[0] : -1;
			if (reply.nfds)
				reply.fds[0] = -1;
		}
		vfu_msg_release(&reply);
		return ret;
	}
	return -EPROTO;
}
