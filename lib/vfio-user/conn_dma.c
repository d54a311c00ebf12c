/* SPDX-License-Identifier: MIT */
/*
 * Server-to-client DMA (windows the client mapped without an fd): DMA_READ/DMA_WRITE in the
 * spec's layout, chunked by the negotiated max_data_xfer_size.
 *
 * - Twin socket negotiated: any thread sends on it and waits there for the reply (one DMA at a
 *   time, under twin_lock); the main socket is never involved.
 * - No twin socket, called from a thread other than the loop: the request is queued and the
 *   loop is kicked (eventfd); the loop sends it and matches the client's reply by msg_id when
 *   it reads the main socket; the caller waits on a condvar meanwhile.
 * - No twin socket, called on the loop thread itself (a device doing DMA while handling a
 *   command): the loop cannot wait for itself, so it sends and then reads the main socket
 *   inline until the reply comes, queueing the client's commands that arrive meanwhile; they
 *   are handled after the current command, in order.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vfio-user/server_priv.h"
#include "util/log.h"

static int send_dma(struct vfu_conn *c, int sock, uint16_t msg_id, uint64_t iova,
		    const void *buf, size_t len, bool is_write)
{
	struct vfu_hdr h = {
		.msg_id = msg_id,
		.cmd = is_write ? VFU_CMD_DMA_WRITE : VFU_CMD_DMA_READ,
		.flags = VFU_F_TYPE_COMMAND,
	};
	struct vfu_dma_access a = { .addr = iova, .count = len };
	struct iovec iov[2] = { { &a, sizeof(a) }, { (void *)buf, len } };

	return conn_send(c, sock, &h, iov, is_write ? 2 : 1, NULL, 0);
}

/* Checks a reply against what we asked and, for a read, copies the data out. */
static int take_reply(const struct vfu_msg *m, uint16_t msg_id, uint64_t iova, void *buf,
		      size_t len, bool is_write)
{
	uint16_t cmd = is_write ? VFU_CMD_DMA_WRITE : VFU_CMD_DMA_READ;
	struct vfu_dma_access a;

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
	size_t want = sizeof(a) + (is_write ? 0 : len);
	if (m->payload_len != want) {
		log_warn("server: %s reply of %zu bytes, expected %zu", vfu_command_name(cmd),
			 m->payload_len, want);
		return -EIO;
	}
	memcpy(&a, m->payload, sizeof(a));
	if (a.addr != iova || a.count != len) {
		log_warn("server: %s reply echoes 0x%llx+%llu, expected 0x%llx+%zu",
			 vfu_command_name(cmd), (unsigned long long)a.addr,
			 (unsigned long long)a.count, (unsigned long long)iova, len);
		return -EIO;
	}
	if (!is_write)
		memcpy(buf, m->payload + sizeof(a), len);
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
	ret = send_dma(c, c->twin_fd, msg_id, iova, buf, len, is_write);
	vfu_msg_init(&m);
	if (!ret)
		ret = vfu_recv(c->twin_fd, &m, (size_t)VFU_MAX_MSG_SIZE(len), 0,
			       (int)c->sd->srv->cfg.msg_timeout_ms);
	pthread_mutex_unlock(&c->twin_lock);
	if (!ret)
		ret = is_reply(&m) ? take_reply(&m, msg_id, iova, buf, len, is_write) : -EPROTO;
	vfu_msg_release(&m);
	return ret < 0 ? -EIO : 0;
}

static int dma_inline(struct vfu_conn *c, uint16_t msg_id, uint64_t iova, void *buf, size_t len,
		      bool is_write)
{
	struct vfu_receiver *r = malloc(sizeof(*r));
	int timeout = (int)c->sd->srv->cfg.msg_timeout_ms;
	int ret = r ? send_dma(c, c->sock, msg_id, iova, buf, len, is_write) : -ENOMEM;

	if (r)
		vfu_receiver_init(r);
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
		if (!r->bad && is_reply(&r->msg)) {
			if (r->msg.hdr.msg_id == msg_id) {
				ret = take_reply(&r->msg, msg_id, iova, buf, len, is_write);
				break;
			}
			log_warn("server: dropping a reply to unknown msg_id %u", r->msg.hdr.msg_id);
			vfu_receiver_reset(r);
			continue;
		}
		conn_queue_msg(c, &r->msg, r->bad);
		vfu_receiver_reset(r);
	}
	if (r) {
		vfu_receiver_reset(r);
		free(r);
	}
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
		if (send_dma(c, c->sock, req->msg_id, req->iova, req->buf, req->len, req->is_write) < 0) {
			req->done = true;
			req->result = -EIO;
			c->dead = true;
		}
	}
	pthread_cond_broadcast(&c->dma_cond);
	pthread_mutex_unlock(&c->lock);
	if (c->dead)
		conn_close(c);
}

void conn_handle_reply(struct vfu_conn *c, struct vfu_msg *msg)
{
	pthread_mutex_lock(&c->lock);
	for (struct dma_req *req = c->dma_reqs; req; req = req->next) {
		if (!req->sent || req->msg_id != msg->hdr.msg_id)
			continue;
		req->result = take_reply(msg, req->msg_id, req->iova, req->buf, req->len,
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
	bool on_loop = srv_on_loop_thread(c->sd->srv);
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
