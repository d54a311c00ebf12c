/* SPDX-License-Identifier: MIT */
/*
 * DEVICE_FEATURE and the migration data commands (MIG_DATA_READ / MIG_DATA_WRITE). The device
 * core answers the migration and DMA logging features; this file only moves bytes between the
 * wire layouts and the core, plus the uvfio precopy-info extension negotiated in VERSION.
 * Every size is checked against the message before the payload is read.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <linux/vfio.h>

#include <uvfio/migration.h>

#include "vfio-user/server/dispatch_mig.h"
#include "util/log.h"

#define FEATURE_OPS (VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE)

static const char *dev_name(struct vfu_conn *c)
{
	return uvfio_device_name(c->sd->dev);
}

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

/* The request echoed within argsz: the SET and PROBE reply. */
static int echo(struct vfu_msg *m, const struct vfu_device_feature *f, struct vfu_reply *r)
{
	r->payload = m->payload;
	r->len = min_size(m->payload_len, f->argsz);
	return 0;
}

/* VFU_FEATURE_UVFIO_PRECOPY_INFO: GET only, no request data; ENOTTY unless negotiated, so a
 * client that did not ask sees what it sees for any feature the device lacks. */
static int precopy_feature(struct vfu_conn *c, struct vfu_msg *m,
			   const struct vfu_device_feature *f, struct vfu_reply *r)
{
	uint32_t op = f->flags & ~VFIO_DEVICE_FEATURE_MASK;
	struct vfu_precopy_info info;

	if (!c->neg.precopy_info) {
		log_warn("server: %s: precopy info feature was not negotiated", dev_name(c));
		return -ENOTTY;
	}
	if (op & ~FEATURE_OPS)
		return -EINVAL;
	if (op & VFIO_DEVICE_FEATURE_PROBE)
		return (op & VFIO_DEVICE_FEATURE_SET) ? -EINVAL : echo(m, f, r);
	if (op != VFIO_DEVICE_FEATURE_GET || m->payload_len != sizeof(*f) ||
	    f->argsz < sizeof(*f) + sizeof(info)) {
		log_warn("server: %s: precopy info: flags 0x%x, %zu bytes, argsz %u", dev_name(c),
			 f->flags, m->payload_len, f->argsz);
		return -EINVAL;
	}
	uint64_t initial, dirty;
	int ret = uvfio_device_mig_precopy_info(c->sd->dev, &initial, &dirty);
	if (ret < 0)
		return ret;
	info.initial_bytes = initial;
	info.dirty_bytes = dirty;
	uint8_t *buf = malloc(sizeof(*f) + sizeof(info));
	if (!buf)
		return -ENOMEM;
	struct vfu_device_feature head = { .argsz = sizeof(*f) + sizeof(info), .flags = f->flags };
	memcpy(buf, &head, sizeof(head));
	memcpy(buf + sizeof(head), &info, sizeof(info));
	r->payload = buf;
	r->free_payload = true;
	r->len = sizeof(head) + sizeof(info);
	return 0;
}

/*
 * GET: the core writes into a buffer of argsz - 8 bytes (at most max_data_xfer_size) and the
 * reply carries what it wrote with argsz grown to fit. SET: the core gets a copy of the data it
 * may rewrite (DMA_LOGGING_START raises page_size there) and the reply echoes that copy.
 */
int handle_feature(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_device_feature f;

	if (m->payload_len < sizeof(f))
		return -EINVAL;
	memcpy(&f, m->payload, sizeof(f));
	if (f.argsz < sizeof(f))
		return -EINVAL;
	if ((f.flags & VFIO_DEVICE_FEATURE_MASK) == VFU_FEATURE_UVFIO_PRECOPY_INFO)
		return precopy_feature(c, m, &f, r);
	bool probe = f.flags & VFIO_DEVICE_FEATURE_PROBE;
	bool get = (f.flags & VFIO_DEVICE_FEATURE_GET) && !probe;
	const uint8_t *data = m->payload + sizeof(f);
	size_t len = m->payload_len - sizeof(f);
	size_t room = get ? min_size(f.argsz - sizeof(f), c->neg.max_data_xfer_size) : len;
	uint8_t *buf = calloc(1, sizeof(f) + room);
	if (!buf)
		return -ENOMEM;
	size_t out_len = room;
	if (!get)
		memcpy(buf + sizeof(f), data, len);
	int ret = uvfio_device_feature(c->sd->dev, f.flags, data, len, buf + sizeof(f), &out_len);
	if (ret == 0 && !probe && out_len > room) {
		log_err("server: %s: feature 0x%x returned %zu bytes in %zu", dev_name(c), f.flags,
			out_len, room);
		ret = -EIO;
	}
	if (ret < 0) {
		free(buf);
		return ret;
	}
	if (probe)
		out_len = len;
	r->payload = buf;
	r->free_payload = true;
	if (get) {
		f.argsz = (uint32_t)(sizeof(f) + out_len);
		memcpy(buf, &f, sizeof(f));
		r->len = sizeof(f) + out_len;
		return 0;
	}
	memcpy(buf, &f, sizeof(f));
	r->len = min_size(sizeof(f) + out_len, f.argsz);
	return 0;
}

/* Socket send buffer for replies larger than the spec's default transfer: the kernel takes
 * more of a reply per sendmsg(), so the loop sleeps and wakes less often per reply. Best
 * effort: the kernel caps it at net.core.wmem_max. */
#define MIG_SNDBUF (4 << 20)

static void raise_sndbuf(struct vfu_conn *c)
{
	int v = MIG_SNDBUF;

	c->big_sndbuf = true;
	if (setsockopt(c->sock, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) < 0)
		log_debug("server: %s: SO_SNDBUF: %s", dev_name(c), strerror(errno));
}

#define MIG_SMALL_IOV 16

struct mig_send {
	struct vfu_conn *c;
	const struct vfu_hdr *req;
	int err; /* the socket failed: the connection is dead */
};

/* Sends the reply to a MIG_DATA_READ from where the stream bytes are (device memory passed by
 * reference included): no copy in user space. */
static int send_mig_reply(void *opaque, const struct iovec *iov, int nr, size_t bytes)
{
	struct mig_send *x = opaque;
	struct vfu_mig_data head = { .argsz = (uint32_t)(sizeof(head) + bytes),
				     .size = (uint32_t)bytes };
	struct vfu_hdr h = { .msg_id = x->req->msg_id, .cmd = x->req->cmd,
			     .flags = VFU_F_TYPE_REPLY };
	struct iovec small[MIG_SMALL_IOV], *v = small;

	if (nr + 1 > MIG_SMALL_IOV)
		v = malloc(((size_t)nr + 1) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	v[0] = (struct iovec){ .iov_base = &head, .iov_len = sizeof(head) };
	memcpy(v + 1, iov, (size_t)nr * sizeof(*iov));
	/* Never waits: what the socket does not take now is copied to the output queue. */
	int ret = conn_send(x->c, &h, v, nr + 1, NULL, 0);
	if (v != small)
		free(v);
	if (ret < 0) {
		log_warn("server: %s: sending migration data failed: %s", dev_name(x->c),
			 strerror(-ret));
		conn_mark_dead(x->c);
		x->err = ret;
	}
	return ret;
}

/* READ: argsz | size -> argsz | size | data, size = bytes read; fewer than asked means the
 * device has no more data for now (PRE_COPY) or the stream ended (STOP_COPY). */
int handle_mig_data_read(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_mig_data q;

	if (m->payload_len != sizeof(q)) {
		log_warn("server: %s: MIG_DATA_READ payload of %zu bytes", dev_name(c),
			 m->payload_len);
		return -EINVAL;
	}
	memcpy(&q, m->payload, sizeof(q));
	/* Larger than max_data_xfer_size is refused, not shortened: a short reply means "no
	 * more data" and must not be produced by a limit. */
	if (q.size == 0 || q.size > c->neg.max_data_xfer_size ||
	    q.argsz < sizeof(q) + (uint64_t)q.size) {
		log_warn("server: %s: MIG_DATA_READ argsz %u size %u (max %u)", dev_name(c), q.argsz,
			 q.size, c->neg.max_data_xfer_size);
		return -EINVAL;
	}
	if (m->hdr.flags & VFU_F_NO_REPLY) {
		log_warn("server: %s: MIG_DATA_READ without a reply would lose data", dev_name(c));
		return -EINVAL;
	}
	if (q.size > VFU_DEFAULT_MAX_DATA_XFER && !c->big_sndbuf)
		raise_sndbuf(c);
	struct mig_send x = { .c = c, .req = &m->hdr };
	ssize_t n = uvfio_device_mig_data_send(c->sd->dev, q.size, send_mig_reply, &x);
	if (x.err) {
		r->sent = true; /* the socket is gone: nothing more to say */
		return 0;
	}
	if (n < 0)
		return (int)n;
	if (n > 0) {
		r->sent = true;
		return 0;
	}
	/* Nothing now, or the end of the stream: an empty answer. */
	struct vfu_mig_data *empty = conn_tx_buf(c, sizeof(*empty));
	if (!empty)
		return -ENOMEM;
	*empty = (struct vfu_mig_data){ .argsz = sizeof(*empty), .size = 0 };
	r->payload = empty;
	r->len = sizeof(*empty);
	return 0;
}

/* WRITE: argsz | size | data with size the bytes that follow; the reply has no payload. */
int handle_mig_data_write(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_mig_data q;

	(void)r;
	if (m->payload_len < sizeof(q)) {
		log_warn("server: %s: MIG_DATA_WRITE payload of %zu bytes", dev_name(c),
			 m->payload_len);
		return -EINVAL;
	}
	memcpy(&q, m->payload, sizeof(q));
	if (q.size == 0 || q.size != m->payload_len - sizeof(q) ||
	    q.argsz < sizeof(q) + (uint64_t)q.size) {
		log_warn("server: %s: MIG_DATA_WRITE argsz %u size %u in %zu bytes", dev_name(c),
			 q.argsz, q.size, m->payload_len);
		return -EINVAL;
	}
	ssize_t n = uvfio_device_mig_data_write(c->sd->dev, m->payload + sizeof(q), q.size);
	if (n < 0)
		return (int)n;
	if ((size_t)n != q.size) {
		log_err("server: %s: device took %zd of %u migration bytes", dev_name(c), n, q.size);
		return -EIO;
	}
	return 0;
}
