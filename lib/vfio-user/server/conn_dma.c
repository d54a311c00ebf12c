/* SPDX-License-Identifier: MIT */
/*
 * Server-to-client DMA (windows the client mapped without an fd): DMA_READ/DMA_WRITE in the
 * spec's layout, chunked by the negotiated max_data_xfer_size.
 *
 * - Twin socket negotiated: any thread sends on it and waits there for the reply (one DMA at a
 *   time, under twin_lock); the main socket is never involved.
 * - No twin socket, called from a thread other than the loop: the request is queued and the
 *   loop is kicked (eventfd); the loop queues it on the connection's output queue behind any
 *   reply already there (never waiting for the socket) and matches the client's reply by
 *   msg_id when it reads the main socket; the caller waits on a condvar meanwhile. Requests go
 *   out in the order the loop took them, replies are matched by msg_id in any order.
 * - No twin socket, called on the loop thread itself (a device doing DMA while handling a
 *   command): the loop cannot wait for itself, so it sends (after what is queued) and then
 *   reads the main socket inline until the reply comes, bounded by msg_timeout_ms, queueing the client's commands that arrive meanwhile; they
 *   are handled after the current command, in order.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vfio-user/server/server_priv.h"
#include "util/log.h"

/* How a DMA request goes out: queued by the loop, waited for by the loop, on the twin socket. */
enum dma_path { DMA_QUEUED, DMA_INLINE, DMA_TWIN };

static int send_iov(struct vfu_conn *c, enum dma_path path, struct vfu_hdr *h,
		    const struct iovec *iov, int cnt)
{
	if (path == DMA_QUEUED)
		return conn_send(c, h, iov, cnt, NULL, 0);
	if (path == DMA_INLINE)
		return conn_send_wait(c, h, iov, cnt);
	return vfu_send_timeout(c->twin_fd, h, iov, cnt, NULL, 0,
				(int)c->sd->srv->cfg.msg_timeout_ms);
}

static int send_dma(struct vfu_conn *c, enum dma_path path, uint16_t msg_id, uint64_t iova,
		    const void *buf, size_t len, bool is_write)
{
	struct vfu_hdr h = {
		.msg_id = msg_id,
		.cmd = is_write ? VFU_CMD_DMA_WRITE : VFU_CMD_DMA_READ,
		.flags = VFU_F_TYPE_COMMAND,
	};
	if (c->neg.qemu_dma_layout) {
		/* A DMA_READ request carries no data, but QEMU still wants the padded struct. */
		static const uint8_t pad[VFU_QEMU_DMA_PAD];
		struct vfu_qemu_dma_rw q = { .addr = iova, .count = (uint32_t)len };
		struct iovec iov[3] = { { &q, sizeof(q) }, { (void *)buf, is_write ? len : 0 },
					{ (void *)pad, sizeof(pad) } };
		return send_iov(c, path, &h, iov, 3);
	}
	struct vfu_dma_access a = { .addr = iova, .count = len };
	struct iovec iov[2] = { { &a, sizeof(a) }, { (void *)buf, len } };

	return send_iov(c, path, &h, iov, is_write ? 2 : 1);
}

/* The echoed address and count, and where the data starts, in this connection's layout.
 * false if the payload does not have the *want bytes the layout needs. */
static bool parse_echo(const struct vfu_conn *c, const struct vfu_msg *m, size_t len,
		       bool is_write, size_t *want, uint64_t *addr, uint64_t *count,
		       size_t *data_off)
{
	if (c->neg.qemu_dma_layout) {
		struct vfu_qemu_dma_rw q;
		*want = sizeof(q) + (is_write ? 0 : len + VFU_QEMU_DMA_PAD);
		if (m->payload_len != *want)
			return false;
		memcpy(&q, m->payload, sizeof(q));
		*addr = q.addr;
		*count = q.count;
		*data_off = sizeof(q);
		return true;
	}
	struct vfu_dma_access a;
	*want = sizeof(a) + (is_write ? 0 : len);
	if (m->payload_len != *want)
		return false;
	memcpy(&a, m->payload, sizeof(a));
	*addr = a.addr;
	*count = a.count;
	*data_off = sizeof(a);
	return true;
}

/* Checks a reply against what we asked and, for a read, copies the data out. */
static int take_reply(const struct vfu_conn *c, const struct vfu_msg *m, uint16_t msg_id,
		      uint64_t iova, void *buf, size_t len, bool is_write)
{
	uint16_t cmd = is_write ? VFU_CMD_DMA_WRITE : VFU_CMD_DMA_READ;
	uint64_t addr = 0, count = 0;
	size_t want = 0, data_off = 0;

	if (m->hdr.msg_id != msg_id || m->hdr.cmd != cmd)
		return -EPROTO;
	if (m->hdr.flags & VFU_F_ERROR) {
		log_warn("server: client failed %s of 0x%llx+%zu: error %u", vfu_command_name(cmd),
			 (unsigned long long)iova, len, m->hdr.error_no);
		return -EIO;
	}
	/* A bare header for DMA_WRITE is what QEMU sends; accept it. */
	if (is_write && m->payload_len == 0)
		return 0;
	if (!parse_echo(c, m, len, is_write, &want, &addr, &count, &data_off)) {
		log_warn("server: %s reply of %zu bytes, expected %zu (%s layout)",
			 vfu_command_name(cmd), m->payload_len, want,
			 c->neg.qemu_dma_layout ? "QEMU" : "spec");
		return -EIO;
	}
	if (addr != iova || count != len) {
		log_warn("server: %s reply echoes 0x%llx+%llu, expected 0x%llx+%zu",
			 vfu_command_name(cmd), (unsigned long long)addr,
			 (unsigned long long)count, (unsigned long long)iova, len);
		return -EIO;
	}
	if (!is_write)
		memcpy(buf, m->payload + data_off, len);
	return 0;
}

static bool is_reply(const struct vfu_msg *m)
{
	return (m->hdr.flags & VFU_F_TYPE_MASK) == VFU_F_TYPE_REPLY;
}

static int dma_twin(struct vfu_conn *c, uint16_t msg_id, uint64_t iova, void *buf, size_t len,
		    bool is_write)
{
	struct vfu_msg m;
	int ret;

	pthread_mutex_lock(&c->twin_lock);
	ret = send_dma(c, DMA_TWIN, msg_id, iova, buf, len, is_write);
	vfu_msg_init(&m);
	if (!ret)
		ret = vfu_recv(c->twin_fd, &m, (size_t)VFU_MAX_MSG_SIZE(len), 0,
			       (int)c->sd->srv->cfg.msg_timeout_ms);
	pthread_mutex_unlock(&c->twin_lock);
	if (!ret)
		ret = is_reply(&m) ? take_reply(c, &m, msg_id, iova, buf, len, is_write) : -EPROTO;
	vfu_msg_release(&m);
	return ret < 0 ? -EIO : 0;
}

/* Replies read inline land in a buffer of the connection: no allocation per DMA message. */
static int place_dma(void *opaque, const struct vfu_hdr *hdr, size_t len, struct iovec *iov)
{
	struct vfu_conn *c = opaque;

	(void)hdr;
	if (len > c->dma_cap) {
		uint8_t *b = realloc(c->dma_buf, len);
		if (!b)
			return 0; /* the receiver mallocs this one */
		c->dma_buf = b;
		c->dma_cap = len;
	}
	iov[0] = (struct iovec){ .iov_base = c->dma_buf, .iov_len = len };
	return 1;
}

static void dma_rx_reset(struct vfu_conn *c, struct vfu_receiver *r)
{
	vfu_receiver_reset(r);
	r->place = place_dma;
	r->place_opaque = c;
}

/* A command that came while waiting: it is handled later, so it gets a payload of its own. */
static void queue_command(struct vfu_conn *c, struct vfu_receiver *r)
{
	if (r->dst_cnt && r->msg.payload_len && !r->bad) {
		r->msg.payload = malloc(r->msg.payload_len);
		if (!r->msg.payload) {
			conn_mark_dead(c);
			return;
		}
		memcpy(r->msg.payload, c->dma_buf, r->msg.payload_len);
	}
	conn_queue_msg(c, &r->msg, r->bad);
}

static int dma_inline(struct vfu_conn *c, uint16_t msg_id, uint64_t iova, void *buf, size_t len,
		      bool is_write)
{
	struct vfu_receiver *r = &c->dma_rx;
	int timeout = (int)c->sd->srv->cfg.msg_timeout_ms;
	int ret = send_dma(c, DMA_INLINE, msg_id, iova, buf, len, is_write);

	dma_rx_reset(c, r);
	while (ret == 0) {
		int got = vfu_receiver_feed(r, c->sock, conn_max_msg_size(c),
					    c->sd->srv->limits.max_msg_fds);
		if (got < 0) {
			conn_mark_dead(c);
			ret = got;
			break;
		}
		if (got == 0) {
			struct pollfd p = { .fd = c->sock, .events = POLLIN };
			int n = poll(&p, 1, timeout);
			if (n == 0)
				ret = -ETIMEDOUT;
			else if (n < 0 && errno != EINTR)
				ret = -errno;
			continue;
		}
		if (r->bad == E2BIG) {
			/* An oversized header: the stream cannot be resynchronised. */
			conn_mark_dead(c);
			ret = -EPROTO;
			break;
		}
		if (r->dst_cnt && !r->bad)
			r->msg.payload = c->dma_buf; /* lent: taken back before the reset */
		if (!r->bad && is_reply(&r->msg)) {
			if (r->msg.hdr.msg_id == msg_id) {
				ret = take_reply(c, &r->msg, msg_id, iova, buf, len, is_write);
				break;
			}
			log_warn("server: dropping a reply to unknown msg_id %u", r->msg.hdr.msg_id);
		} else {
			if (r->msg.payload == c->dma_buf)
				r->msg.payload = NULL;
			queue_command(c, r);
		}
		if (r->msg.payload == c->dma_buf)
			r->msg.payload = NULL;
		dma_rx_reset(c, r);
	}
	if (r->msg.payload == c->dma_buf)
		r->msg.payload = NULL;
	dma_rx_reset(c, r);
	return ret < 0 ? -EIO : 0;
}

static void deadline_after(struct timespec *ts, uint32_t ms)
{
	clock_gettime(CLOCK_MONOTONIC, ts);
	ts->tv_sec += ms / 1000;
	ts->tv_nsec += (long)(ms % 1000) * 1000000;
	if (ts->tv_nsec >= 1000000000) {
		ts->tv_sec++;
		ts->tv_nsec -= 1000000000;
	}
}

static void unlink_req(struct vfu_conn *c, struct dma_req *req)
{
	for (struct dma_req **pp = &c->dma_reqs; *pp; pp = &(*pp)->next) {
		if (*pp == req) {
			*pp = req->next;
			return;
		}
	}
}

/* Called with c->lock held; returns with it held. */
static int dma_via_loop(struct vfu_conn *c, uint64_t iova, void *buf, size_t len, bool is_write)
{
	struct dma_req req = { .iova = iova, .buf = buf, .len = len, .is_write = is_write };
	struct timespec deadline;
	uint64_t one = 1;
	int ret = 0;

	req.next = c->dma_reqs;
	c->dma_reqs = &req;
	if (write(c->kick_fd, &one, sizeof(one)) < 0) {
		unlink_req(c, &req);
		return -EIO;
	}
	deadline_after(&deadline, c->sd->srv->cfg.msg_timeout_ms);
	while (!req.done && !c->dead && ret == 0)
		ret = pthread_cond_timedwait(&c->dma_cond, &c->lock, &deadline);
	if (!req.done) {
		unlink_req(c, &req);
		log_warn("server: DMA %s of 0x%llx+%zu got no reply", is_write ? "write" : "read",
			 (unsigned long long)iova, len);
		return -EIO;
	}
	return req.result;
}

void conn_on_kick(struct vfu_conn *c)
{
	uint64_t v;

	if (read(c->kick_fd, &v, sizeof(v)) < 0)
		return;
	pthread_mutex_lock(&c->lock);
	for (struct dma_req *req = c->dma_reqs; req; req = req->next) {
		if (req->sent)
			continue;
		req->msg_id = c->next_msg_id++;
		req->sent = true;
		if (send_dma(c, DMA_QUEUED, req->msg_id, req->iova, req->buf, req->len,
			     req->is_write) < 0) {
			req->done = true;
			req->result = -EIO;
			c->dead = true;
		}
	}
	pthread_cond_broadcast(&c->dma_cond);
	pthread_mutex_unlock(&c->lock);
	if (c->dead) {
		conn_close(c);
		return;
	}
	if (c->rx_deferred) {
		c->rx_deferred = false;
		conn_on_buffered(c);
	}
}

void conn_handle_reply(struct vfu_conn *c, struct vfu_msg *msg)
{
	pthread_mutex_lock(&c->lock);
	for (struct dma_req *req = c->dma_reqs; req; req = req->next) {
		if (!req->sent || req->msg_id != msg->hdr.msg_id)
			continue;
		req->result = take_reply(c, msg, req->msg_id, req->iova, req->buf, req->len,
					 req->is_write) < 0 ? -EIO : 0;
		req->done = true;
		unlink_req(c, req);
		pthread_cond_broadcast(&c->dma_cond);
		pthread_mutex_unlock(&c->lock);
		return;
	}
	pthread_mutex_unlock(&c->lock);
	log_warn("server: %s: dropping a reply (cmd %u msg_id %u) to nothing we sent",
		 uvfio_device_name(c->sd->dev), msg->hdr.cmd, msg->hdr.msg_id);
}

void conn_fail_dma(struct vfu_conn *c)
{
	pthread_mutex_lock(&c->lock);
	c->dead = true;
	for (struct dma_req *req = c->dma_reqs; req; req = req->next) {
		req->done = true;
		req->result = -EIO;
	}
	c->dma_reqs = NULL;
	if (c->twin_fd >= 0)
		shutdown(c->twin_fd, SHUT_RDWR); /* wakes a thread waiting there for a reply */
	pthread_cond_broadcast(&c->dma_cond);
	while (c->users > 0)
		pthread_cond_wait(&c->dma_cond, &c->lock);
	pthread_mutex_unlock(&c->lock);
}

static int dma_chunk(struct vfu_conn *c, uint64_t iova, void *buf, size_t len, bool is_write)
{
	pthread_mutex_lock(&c->lock);
	uint16_t id = c->next_msg_id++;
	bool twin = c->twin_fd >= 0;
	bool on_loop = srv_on_loop_thread(c->sd->loop);
	int ret;
	if (twin || on_loop) {
		pthread_mutex_unlock(&c->lock);
		if (twin)
			return dma_twin(c, id, iova, buf, len, is_write);
		return dma_inline(c, id, iova, buf, len, is_write);
	}
	ret = dma_via_loop(c, iova, buf, len, is_write);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

int conn_dma_msg(void *opaque, uint64_t iova, void *buf, size_t len, bool is_write)
{
	struct srv_dev *sd = opaque;
	struct vfu_conn *c;
	int ret = 0;

	size_t chunk = 0;
	bool ok = false;

	/* sd->lock keeps the connection from being freed until we are counted as a user. */
	pthread_mutex_lock(&sd->lock);
	c = sd->conn;
	if (c) {
		pthread_mutex_lock(&c->lock);
		if (!c->dead && c->versioned) {
			c->users++;
			ok = true;
			/* Never 0 (VERSION refuses it); the floor only guards the loop below. */
			chunk = c->neg.max_data_xfer_size ? c->neg.max_data_xfer_size : 4096;
		}
		pthread_mutex_unlock(&c->lock);
	}
	pthread_mutex_unlock(&sd->lock);
	if (!ok)
		return -EIO;

	uint8_t *p = buf;
	while (len > 0 && ret == 0) {
		size_t n = len < chunk ? len : chunk;
		ret = dma_chunk(c, iova, p, n, is_write);
		iova += n;
		p += n;
		len -= n;
	}
	pthread_mutex_lock(&c->lock);
	if (--c->users == 0)
		pthread_cond_broadcast(&c->dma_cond);
	pthread_mutex_unlock(&c->lock);
	return ret;
}
