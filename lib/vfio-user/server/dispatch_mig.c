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
#include <limits.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <linux/vfio.h>

#include <uvfio/migration.h>

#include "vfio-user/server/dispatch_mig.h"
#include "util/log.h"
#include "util/reason.h"

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

	if (!c->neg.precopy_info)
		return refuse(ENOTTY, "precopy info feature was not negotiated");
	if (op & ~FEATURE_OPS)
		return -EINVAL;
	if (op & VFIO_DEVICE_FEATURE_PROBE)
		return (op & VFIO_DEVICE_FEATURE_SET) ? -EINVAL : echo(m, f, r);
	if (op != VFIO_DEVICE_FEATURE_GET || m->payload_len != sizeof(*f) ||
	    f->argsz < sizeof(*f) + sizeof(info))
		return refuse(EINVAL, "precopy info: flags 0x%x, %zu bytes, argsz %u", f->flags,
			      m->payload_len, f->argsz);
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

#define MIG_SMALL_IOV 16
#define MIG_PRE_DATA 4096 /* data copied when the socket takes none: progress either way */

struct mig_send {
	struct vfu_conn *c;
	const struct vfu_hdr *req;
	int err; /* the socket failed: the connection is dead */
};

/* Copies up to MIG_PRE_DATA bytes of iov, from byte skip on, behind what mig_pre holds. */
static size_t keep_some(struct vfu_conn *c, const struct iovec *iov, int nr, size_t skip)
{
	size_t room = sizeof(c->mig_pre) - c->mig_pre_len, got = 0;

	for (int i = 0; i < nr && got < room && got < MIG_PRE_DATA; i++) {
		if (skip >= iov[i].iov_len) {
			skip -= iov[i].iov_len;
			continue;
		}
		size_t k = min_size(iov[i].iov_len - skip, min_size(room, MIG_PRE_DATA) - got);
		memcpy(c->mig_pre + c->mig_pre_len, (uint8_t *)iov[i].iov_base + skip, k);
		c->mig_pre_len += k;
		got += k;
		skip = 0;
	}
	return got;
}

/* Sends the reply to a MIG_DATA_READ from where the stream bytes are (device memory passed by
 * reference included), without waiting: no copy in user space. What the socket does not take
 * stays in the stream (the return value tells the device how much was consumed) and is sent
 * from there when the socket has room (mig_reply_continue). */
static int send_mig_reply(void *opaque, const struct iovec *iov, int nr, size_t bytes)
{
	struct mig_send *x = opaque;
	struct vfu_conn *c = x->c;
	struct vfu_mig_data head = { .argsz = (uint32_t)(sizeof(head) + bytes),
				     .size = (uint32_t)bytes };
	struct vfu_hdr h = { .msg_id = x->req->msg_id, .cmd = x->req->cmd,
			     .flags = VFU_F_TYPE_REPLY,
			     .msg_size = (uint32_t)(sizeof(h) + sizeof(head) + bytes) };
	struct iovec small[MIG_SMALL_IOV], *v = small;
	size_t hlen = sizeof(h) + sizeof(head);
	ssize_t n = 0;

	if (nr + 2 > MIG_SMALL_IOV)
		v = malloc(((size_t)nr + 2) * sizeof(*v));
	if (!v)
		return -ENOMEM;
	v[0] = (struct iovec){ .iov_base = &h, .iov_len = sizeof(h) };
	v[1] = (struct iovec){ .iov_base = &head, .iov_len = sizeof(head) };
	memcpy(v + 2, iov, (size_t)nr * sizeof(*iov));
	if (outq_pending(&c->out) || mig_reply_pending(c)) {
		/* Something is already waiting (a command queued during inline DMA): this reply
		 * goes behind it, copied, to keep the order. */
		n = conn_send(c, &h, v + 1, nr + 1, NULL, 0);
		if (v != small)
			free(v);
		if (n < 0) {
			conn_mark_dead(c);
			x->err = (int)n;
		}
		return (int)n;
	}
	n = outq_send_nowait(c->sock, v, nr + 2 < IOV_MAX ? nr + 2 : IOV_MAX, NULL, 0);
	if (n < 0) {
		if (v != small)
			free(v);
		log_warn("server: %s: sending migration data failed: %s", dev_name(c),
			 strerror((int)-n));
		conn_mark_dead(c);
		x->err = (int)n;
		return (int)n;
	}
	if ((size_t)n == hlen + bytes) {
		if (v != small)
			free(v);
		return 0;
	}
	/* The rest waits: the head's rest and, if the socket took no data, a little data. */
	c->mig_pre_off = c->mig_pre_len = 0;
	if ((size_t)n < hlen) {
		uint8_t whole[sizeof(h) + sizeof(head)];
		memcpy(whole, &h, sizeof(h));
		memcpy(whole + sizeof(h), &head, sizeof(head));
		memcpy(c->mig_pre, whole + n, hlen - (size_t)n);
		c->mig_pre_len = hlen - (size_t)n;
	}
	size_t taken = (size_t)n > hlen ? (size_t)n - hlen : keep_some(c, iov, nr, 0);
	if (v != small)
		free(v);
	c->mig_left = bytes - taken;
	log_debug("server: %s: migration reply of %zu bytes: %zd now, the rest as the socket "
		  "takes it", dev_name(c), bytes, n);
	if (c->mig_left) {
		c->out.hold = true; /* later messages queue behind the rest of this reply */
		conn_pause_reading(c);
	} else if (c->mig_pre_len) {
		c->out.hold = true;
		conn_pause_reading(c);
	}
	return taken == bytes ? 0 : (int)taken;
}

/* The send callback of a continuation: the next bytes of the reply in progress. */
static int send_mig_rest(void *opaque, const struct iovec *iov, int nr, size_t bytes)
{
	struct vfu_conn *c = opaque;
	ssize_t n = outq_send_nowait(c->sock, (struct iovec *)iov, nr < IOV_MAX ? nr : IOV_MAX,
				     NULL, 0);

	if (n < 0)
		return (int)n;
	if (n == 0) {
		/* No room after all: keep a little, so the device's stream moves on regardless. */
		c->mig_blocked = true;
		c->mig_pre_off = c->mig_pre_len = 0;
		n = (ssize_t)keep_some(c, iov, nr, 0);
	}
	return (size_t)n == bytes ? 0 : (int)n;
}

int mig_reply_continue(struct vfu_conn *c)
{
	size_t sent = 0;

	while (c->mig_pre_off < c->mig_pre_len) {
		struct iovec v = { c->mig_pre + c->mig_pre_off, c->mig_pre_len - c->mig_pre_off };
		ssize_t n = outq_send_nowait(c->sock, &v, 1, NULL, 0);
		if (n <= 0)
			return n < 0 ? (int)n : (int)sent;
		c->mig_pre_off += (size_t)n;
		sent += (size_t)n;
	}
	c->mig_pre_off = c->mig_pre_len = 0;
	c->mig_blocked = false;
	while (c->mig_left && !c->mig_blocked) {
		ssize_t n = uvfio_device_mig_data_send(c->sd->dev, c->mig_left, send_mig_rest, c);
		if (n < 0)
			return (int)n;
		if (n == 0 || (size_t)n > c->mig_left) {
			log_err("server: %s: the migration stream ended %zu bytes short of a reply",
				dev_name(c), c->mig_left);
			return -EPROTO;
		}
		c->mig_left -= (size_t)n;
		/* What send_mig_rest kept in mig_pre was consumed but not sent. */
		sent += (size_t)n - (c->mig_blocked ? c->mig_pre_len : 0);
	}
	return (int)sent;
}

/* READ: argsz | size -> argsz | size | data, size = bytes read; fewer than asked means the
 * device has no more data for now (PRE_COPY) or the stream ended (STOP_COPY). */
int handle_mig_data_read(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_mig_data q;

	if (m->payload_len != sizeof(q))
		return refuse(EINVAL, "MIG_DATA_READ payload of %zu bytes", m->payload_len);
	memcpy(&q, m->payload, sizeof(q));
	/* Larger than max_data_xfer_size is refused, not shortened: a short reply means "no
	 * more data" and must not be produced by a limit. */
	if (q.size == 0 || q.size > c->neg.max_data_xfer_size ||
	    q.argsz < sizeof(q) + (uint64_t)q.size)
		return refuse(EINVAL, "MIG_DATA_READ argsz %u size %u (max %u)", q.argsz, q.size,
			      c->neg.max_data_xfer_size);
	if (m->hdr.flags & VFU_F_NO_REPLY)
		return refuse(EINVAL, "MIG_DATA_READ without a reply would lose data");
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
	if (m->payload_len < sizeof(q))
		return refuse(EINVAL, "MIG_DATA_WRITE payload of %zu bytes", m->payload_len);
	memcpy(&q, m->payload, sizeof(q));
	if (q.size == 0 || q.size != m->payload_len - sizeof(q) ||
	    q.argsz < sizeof(q) + (uint64_t)q.size)
		return refuse(EINVAL, "MIG_DATA_WRITE argsz %u size %u in %zu bytes", q.argsz,
			      q.size, m->payload_len);
	ssize_t n = uvfio_device_mig_data_write(c->sd->dev, m->payload + sizeof(q), q.size);
	if (n < 0)
		return (int)n;
	if ((size_t)n != q.size) {
		log_err("server: %s: device took %zd of %u migration bytes", dev_name(c), n, q.size);
		return -EIO;
	}
	return 0;
}
