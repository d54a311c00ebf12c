/* SPDX-License-Identifier: MIT */
/*
 * DEVICE_GET_REGION_IO_FDS (protocol §3.6): the eventfds a server listens on for writes to parts
 * of a region (e.g. NVMe doorbells), so a client can kick the device without a message.
 * The entry stride is taken from argsz/count, never hard-coded: the spec's entry is 40 bytes,
 * libvfio-user's 48 (it puts shadow fields before datamatch, so datamatch is the last u64).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vfio-user/client/client_priv.h"
#include "vfio-user/wire.h"
#include "util/log.h"

#define IO_FDS_FIRST_ARGSZ 4096u
#define IO_FDS_MAX_ARGSZ (256u * 1024)
#define IO_FDS_MAX_FDS 256u
#define KVM_IOEVENTFD_FLAG_DATAMATCH 1u

struct io_fds_entry {
	uint64_t offset, size;
	uint32_t fd_index, type, flags;
	uint64_t datamatch;
};

static void read_entry(const uint8_t *p, size_t stride, struct io_fds_entry *e)
{
	memcpy(&e->offset, p, 8);
	memcpy(&e->size, p + 8, 8);
	memcpy(&e->fd_index, p + 16, 4);
	memcpy(&e->type, p + 20, 4);
	memcpy(&e->flags, p + 24, 4);
	/* datamatch is the entry's last u64 in both layouts. */
	memcpy(&e->datamatch, p + stride - 8, 8);
}

/* Checks the reply and fills out[0..max); *total gets the entry count. */
static int parse_reply(struct vfu_msg *reply, uint32_t index, uint64_t region_size,
		       struct uvfio_ioeventfd *out, size_t max, size_t *filled)
{
	struct vfu_region_io_fds_request head;
	size_t stride;

	memcpy(&head, reply->payload, sizeof(head));
	if (head.index != index) {
		log_err("vfio-user: GET_REGION_IO_FDS reply for region %u, asked %u", head.index,
			index);
		return -EPROTO;
	}
	if (!head.count)
		return 0;
	stride = (head.argsz - sizeof(head)) / head.count;
	if (stride < sizeof(struct vfu_sub_region_ioeventfd) || stride % 8 ||
	    sizeof(head) + stride * head.count != head.argsz || head.argsz > reply->payload_len ||
	    !reply->nfds) {
		log_err("vfio-user: GET_REGION_IO_FDS reply: %u entries in %u bytes, %zu fds",
			head.count, head.argsz, reply->nfds);
		return -EPROTO;
	}
	for (uint32_t i = 0; i < head.count; i++) {
		struct io_fds_entry e;

		read_entry(reply->payload + sizeof(head) + i * stride, stride, &e);
		if (e.fd_index >= reply->nfds || !e.size || e.size > 8 ||
		    e.offset + e.size > region_size || e.offset + e.size < e.offset) {
			log_err("vfio-user: GET_REGION_IO_FDS entry %u: offset 0x%llx size %llu "
				"fd_index %u outside region %u / %zu fds", i,
				(unsigned long long)e.offset, (unsigned long long)e.size,
				e.fd_index, index, reply->nfds);
			return -EPROTO;
		}
	}
	for (uint32_t i = 0; i < head.count; i++) {
		struct io_fds_entry e;

		read_entry(reply->payload + sizeof(head) + i * stride, stride, &e);
		if (e.type != VFU_IO_FD_TYPE_IOEVENTFD) {
			/* ioregionfd and shadow ioeventfds need more than a write to an fd. */
			log_info("vfio-user: region %u io fd at 0x%llx has type %u: skipped", index,
				 (unsigned long long)e.offset, e.type);
			continue;
		}
		if (*filled < max) {
			int fd = dup(reply->fds[e.fd_index]);

			if (fd < 0)
				return -errno;
			out[*filled] = (struct uvfio_ioeventfd){
				.index = index,
				.offset = e.offset,
				.size = (uint32_t)e.size,
				.fd = fd,
				.flags = (e.flags & KVM_IOEVENTFD_FLAG_DATAMATCH) ?
						 UVFIO_IOEVENTFD_DATAMATCH : 0,
				.datamatch = e.datamatch,
			};
		}
		(*filled)++;
	}
	return 0;
}

int vfu_client_region_io_fds(struct uvfio_handle *h, uint32_t index, struct uvfio_ioeventfd *out,
			     size_t max)
{
	struct vfu_client *c = h->priv;
	struct uvfio_region_info info = { 0 };
	uint32_t argsz = IO_FDS_FIRST_ARGSZ;
	int ret;

	ret = h->ops->get_region_info(h, index, &info);
	if (ret < 0)
		return ret;
	for (int attempt = 0; attempt < 2; attempt++) {
		struct vfu_region_io_fds_request req = { .argsz = argsz, .index = index };
		struct iovec iov = { .iov_base = &req, .iov_len = sizeof(req) };
		struct vfu_region_io_fds_request head;
		struct vfu_msg reply;
		size_t filled = 0;

		ret = vfu_client_exchange(c, VFU_CMD_DEVICE_GET_REGION_IO_FDS, &iov, 1, NULL, 0,
					  IO_FDS_MAX_FDS, &reply);
		if (ret < 0)
			return ret;
		if (reply.payload_len < sizeof(head) || reply.payload_len > argsz) {
			log_err("vfio-user: GET_REGION_IO_FDS reply of %zu bytes (asked for %u)",
				reply.payload_len, argsz);
			vfu_msg_release(&reply);
			return -EPROTO;
		}
		memcpy(&head, reply.payload, sizeof(head));
		if (head.argsz > reply.payload_len) {
			/* Our buffer was too small: the server said how much it needs. */
			vfu_msg_release(&reply);
			if (attempt || head.argsz > IO_FDS_MAX_ARGSZ) {
				log_err("vfio-user: region %u io fds need %u bytes", index,
					head.argsz);
				return -E2BIG;
			}
			argsz = head.argsz;
			continue;
		}
		ret = parse_reply(&reply, index, info.size, out, max, &filled);
		vfu_msg_release(&reply);
		if (ret < 0) {
			for (size_t i = 0; i < filled && i < max; i++)
				close(out[i].fd);
			return ret;
		}
		return (int)filled;
	}
	return -EPROTO;
}
