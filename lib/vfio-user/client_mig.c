/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user client's migration data: MIG_DATA_READ / MIG_DATA_WRITE, and precopy sizes
 * through the uvfio extension feature when the server agreed to it in VERSION.
 */
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include <linux/vfio.h>

#include "client_priv.h"
#include "util/log.h"

/* Where a MIG_DATA_READ reply goes: its argsz/size head to rep, its data (at most count
 * bytes) straight to the caller's buffer. A reply of another length is left to the usual
 * receive and refused after it. */
struct read_dst {
	void *buf;
	size_t count;
	bool placed;
	struct vfu_mig_data rep; /* last: the wire struct ends in its data[] */
};

static int place_read(void *opaque, const struct vfu_hdr *hdr, size_t len, struct iovec *iov)
{
	struct read_dst *d = opaque;

	(void)hdr;
	if (len < sizeof(d->rep) || len - sizeof(d->rep) > d->count)
		return 0;
	iov[0] = (struct iovec){ &d->rep, sizeof(d->rep) };
	iov[1] = (struct iovec){ d->buf, len - sizeof(d->rep) };
	d->placed = true;
	return len > sizeof(d->rep) ? 2 : 1;
}

static ssize_t mig_read(struct vfu_client *c, void *buf, size_t count)
{
	struct vfu_mig_data req = { .argsz = (uint32_t)(sizeof(req) + count),
				    .size = (uint32_t)count };
	struct read_dst d = { .buf = buf, .count = count };
	struct iovec iov = { &req, sizeof(req) };
	struct vfu_msg reply;
	int ret = vfu_client_exchange_placed(c, VFU_CMD_MIG_DATA_READ, &iov, 1, &reply, place_read,
					     &d);

	if (ret < 0)
		return ret;
	/* Not placed: shorter than its head or longer than asked for, whatever it says. */
	size_t len = reply.payload_len;
	vfu_msg_release(&reply);
	if (!d.placed || d.rep.size != len - sizeof(d.rep) ||
	    d.rep.argsz < sizeof(d.rep) + (uint64_t)d.rep.size) {
		log_err("vfio-user: MIG_DATA_READ of %zu: reply argsz %u size %u in %zu bytes",
			count, d.placed ? d.rep.argsz : 0, d.placed ? d.rep.size : 0, len);
		return -EPROTO;
	}
	return d.rep.size;
}

static ssize_t mig_write(struct vfu_client *c, const void *buf, size_t count)
{
	struct vfu_mig_data req = { .argsz = (uint32_t)(sizeof(req) + count),
				    .size = (uint32_t)count }, rep;
	struct iovec iov[2] = { { &req, sizeof(req) }, { (void *)buf, count } };
	struct vfu_msg reply;
	int ret = vfu_client_exchange(c, VFU_CMD_MIG_DATA_WRITE, iov, 2, NULL, 0, 0, &reply);

	if (ret < 0)
		return ret;
	/* The spec's reply is the header alone; an echo of argsz/size is accepted if it agrees. */
	ret = 0;
	if (reply.payload_len == sizeof(rep)) {
		memcpy(&rep, reply.payload, sizeof(rep));
		if (rep.size != count)
			ret = -EPROTO;
	} else if (reply.payload_len) {
		ret = -EPROTO;
	}
	if (ret < 0)
		log_err("vfio-user: MIG_DATA_WRITE reply of %zu bytes does not fit the request",
			reply.payload_len);
	vfu_msg_release(&reply);
	return ret < 0 ? ret : (ssize_t)count;
}

ssize_t vfu_client_mig_data_rw(struct uvfio_handle *h, void *buf, size_t count, bool is_write)
{
	struct vfu_client *c = h->priv;

	if (count == 0 || count > vfu_client_xfer(c))
		return -EINVAL;
	return is_write ? mig_write(c, buf, count) : mig_read(c, buf, count);
}

int vfu_client_mig_precopy_info(struct uvfio_handle *h, uint64_t *initial_bytes,
				uint64_t *dirty_bytes)
{
	struct vfu_client *c = h->priv;
	struct vfu_precopy_info info;
	size_t len = sizeof(info);

	if (!c->peer.precopy_info)
		return -ENOTSUP;
	int ret = h->ops->device_feature(h, VFIO_DEVICE_FEATURE_GET | VFU_FEATURE_UVFIO_PRECOPY_INFO,
					 NULL, 0, &info, &len);
	if (ret < 0)
		return ret;
	if (len != sizeof(info)) {
		log_err("vfio-user: precopy info of %zu bytes", len);
		return -EPROTO;
	}
	*initial_bytes = info.initial_bytes;
	*dirty_bytes = info.dirty_bytes;
	return 0;
}
