/* SPDX-License-Identifier: MIT */
/*
 * One client connection: non-blocking receive, the stall timer, replies, and teardown.
 * Teardown is ordered so DMA handler threads never see a freed connection: the srv_dev forgets
 * the connection first, in-flight DMA is failed and waited for, then the device is closed
 * (which unmaps DMA windows, closes eventfds and resets it).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "vfio-user/server/server_priv.h"
#include "util/log.h"

#define CONN_MAX_BATCH 64 /* messages handled per readable event, for fairness between devices */

size_t conn_max_msg_size(struct vfu_conn *c)
{
	/* A full REGION_WRITE_MULTI must fit even with a small max_data_xfer_size. */
	size_t multi = sizeof(struct vfu_hdr) + sizeof(struct vfu_write_multi) +
		       VFU_WRITE_MULTI_MAX * sizeof(struct vfu_write_multi_entry);
	uint32_t lim = c->sd->srv->limits.max_data_xfer_size;
	/* A larger size agreed with a uvfio client; a payload is allocated at its own size, so
	 * the limit costs small messages nothing. */
	if (c->neg.max_data_xfer_size > lim)
		lim = c->neg.max_data_xfer_size;
	size_t xfer = (size_t)VFU_MAX_MSG_SIZE(lim);

	return xfer > multi ? xfer : multi;
}

int conn_open(struct srv_dev *sd, int sock)
{
	struct uvfio_server *srv = sd->srv;
	struct vfu_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->sd = sd;
	c->sock = sock;
	c->twin_fd = -1;
	c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	c->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->ev_sock = (struct ev_src){ .kind = EV_SOCK, .obj = c };
	c->ev_timer = (struct ev_src){ .kind = EV_TIMER, .obj = c };
	c->ev_kick = (struct ev_src){ .kind = EV_DMA_KICK, .obj = c };
	c->neg.max_data_xfer_size = srv->limits.max_data_xfer_size;
	c->neg.client_max_msg_fds = VFU_DEFAULT_MAX_MSG_FDS;
	vfu_receiver_init(&c->rx);
	pthread_mutex_init(&c->twin_lock, NULL);
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->dma_cond, &ca);
	pthread_condattr_destroy(&ca);

	int ret = c->timer_fd < 0 || c->kick_fd < 0 ? -errno : 0;
	if (!ret)
		ret = srv_epoll_add(srv, sock, &c->ev_sock);
	if (!ret)
		ret = srv_epoll_add(srv, c->timer_fd, &c->ev_timer);
	if (!ret)
		ret = srv_epoll_add(srv, c->kick_fd, &c->ev_kick);
	if (!ret)
		ret = uvfio_device_open(sd->dev);
	if (ret < 0) {
		log_err("server: %s: cannot accept a client: %s", uvfio_device_name(sd->dev),
			strerror(-ret));
		c->sock = -1; /* the caller closes it */
		srv_epoll_del(srv, sock);
		pthread_mutex_lock(&sd->lock);
		sd->conn = c;
		pthread_mutex_unlock(&sd->lock);
		conn_close(c);
		return ret;
	}
	pthread_mutex_lock(&sd->lock);
	sd->conn = c;
	pthread_mutex_unlock(&sd->lock);
	log_info("server: %s: client connected", uvfio_device_name(sd->dev));
	return 0;
}

static void free_queue(struct vfu_conn *c)
{
	while (c->queue_head) {
		struct queued_msg *q = c->queue_head;
		c->queue_head = q->next;
		vfu_msg_release(q->msg);
		free(q->msg);
		free(q);
	}
	c->queue_tail = NULL;
}

void conn_close(struct vfu_conn *c)
{
	struct srv_dev *sd = c->sd;
	struct uvfio_server *srv = sd->srv;
	bool opened = c->sock >= 0;

	pthread_mutex_lock(&sd->lock);
	sd->conn = NULL;
	pthread_mutex_unlock(&sd->lock);
	conn_fail_dma(c);

	if (c->sock >= 0) {
		srv_epoll_del(srv, c->sock);
		close(c->sock);
	}
	if (c->timer_fd >= 0) {
		srv_epoll_del(srv, c->timer_fd);
		close(c->timer_fd);
	}
	if (c->kick_fd >= 0) {
		srv_epoll_del(srv, c->kick_fd);
		close(c->kick_fd);
	}
	if (opened) {
		uvfio_device_close(sd->dev);
		log_info("server: %s: client disconnected", uvfio_device_name(sd->dev));
		srv_listen_pause(sd, false);
	}
	if (c->twin_fd >= 0)
		close(c->twin_fd);
	vfu_receiver_reset(&c->rx);
	free_queue(c);
	pthread_cond_destroy(&c->dma_cond);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->twin_lock);
	free(c);
}

void conn_mark_dead(struct vfu_conn *c)
{
	/* Under the lock: DMA handler threads read it there. */
	pthread_mutex_lock(&c->lock);
	c->dead = true;
	pthread_mutex_unlock(&c->lock);
}

int conn_send(struct vfu_conn *c, int sock, struct vfu_hdr *h, const struct iovec *iov,
	      int iovcnt, const int *fds, size_t nfds)
{
	return vfu_send_timeout(sock, h, iov, iovcnt, fds, nfds,
				(int)c->sd->srv->cfg.msg_timeout_ms);
}

int conn_reply(struct vfu_conn *c, const struct vfu_hdr *req, const struct vfu_reply *r)
{
	struct vfu_hdr h = { .msg_id = req->msg_id, .cmd = req->cmd, .flags = VFU_F_TYPE_REPLY };
	struct iovec iov = { .iov_base = r->payload, .iov_len = r->len };

	if (req->flags & VFU_F_NO_REPLY)
		return 0;
	int ret = conn_send(c, c->sock, &h, &iov, r->len ? 1 : 0, r->fds, r->nfds);
	if (ret < 0) {
		log_warn("server: sending the %s reply failed: %s", vfu_command_name(req->cmd),
			 strerror(-ret));
		conn_mark_dead(c);
	}
	return ret;
}

int conn_error(struct vfu_conn *c, const struct vfu_hdr *req, int err)
{
	struct vfu_hdr h = {
		.msg_id = req->msg_id,
		.cmd = req->cmd,
		.flags = VFU_F_TYPE_REPLY | VFU_F_ERROR,
		.error_no = (uint32_t)err,
	};

	if (req->flags & VFU_F_NO_REPLY)
		return 0;
	int ret = conn_send(c, c->sock, &h, NULL, 0, NULL, 0);
	if (ret < 0) {
		log_warn("server: sending the %s error reply failed: %s",
			 vfu_command_name(req->cmd), strerror(-ret));
		conn_mark_dead(c);
	}
	return ret;
}

void conn_queue_msg(struct vfu_conn *c, struct vfu_msg *msg, int bad)
{
	struct queued_msg *q = calloc(1, sizeof(*q));
	struct vfu_msg *copy = malloc(sizeof(*copy));

	if (!q || !copy) {
		/* Nothing sensible to answer with; dropping it would desynchronise the client. */
		log_err("server: out of memory queueing a command; closing the connection");
		free(q);
		free(copy);
		vfu_msg_release(msg);
		conn_mark_dead(c);
		return;
	}
	*copy = *msg; /* takes the payload and fds */
	vfu_msg_init(msg);
	q->msg = copy;
	q->bad = bad;
	if (c->queue_tail)
		c->queue_tail->next = q;
	else
		c->queue_head = q;
	c->queue_tail = q;
}

static void arm_timer(struct vfu_conn *c, bool on)
{
	uint32_t ms = c->sd->srv->cfg.msg_timeout_ms;
	struct itimerspec its = { 0 };

	if (on) {
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
	}
	timerfd_settime(c->timer_fd, 0, &its, NULL);
	c->timer_armed = on;
}

/* Commands that arrived while the loop waited inline for a DMA reply. */
static void run_queue(struct vfu_conn *c)
{
	while (c->queue_head && !c->dead) {
		struct queued_msg *q = c->queue_head;
		c->queue_head = q->next;
		if (!c->queue_head)
			c->queue_tail = NULL;
		dispatch_msg(c, q->msg, q->bad);
		vfu_msg_release(q->msg);
		free(q->msg);
		free(q);
	}
}

void conn_on_readable(struct vfu_conn *c)
{
	struct uvfio_server *srv = c->sd->srv;

	for (int i = 0; i < CONN_MAX_BATCH; i++) {
		int ret = vfu_receiver_feed(&c->rx, c->sock, conn_max_msg_size(c),
					    srv->limits.max_msg_fds);
		if (ret == 0) {
			if (c->rx.in_message && !c->timer_armed)
				arm_timer(c, true);
			return;
		}
		if (ret < 0) {
			if (ret == -EPROTO)
				log_warn("server: %s: client closed mid-message",
					 uvfio_device_name(c->sd->dev));
			else if (ret != -ECONNRESET)
				log_warn("server: %s: receive failed: %s",
					 uvfio_device_name(c->sd->dev), strerror(-ret));
			conn_close(c);
			return;
		}
		if (c->timer_armed)
			arm_timer(c, false);
		/* A client that wants a reply usually waits for it before sending more: go back to
		 * epoll (level-triggered) rather than pay a read that finds nothing. Posted messages
		 * come in bursts: keep reading. */
		bool more_likely = c->rx.msg.hdr.flags & VFU_F_NO_REPLY;
		dispatch_msg(c, &c->rx.msg, c->rx.bad);
		vfu_receiver_reset(&c->rx);
		run_queue(c);
		if (c->dead) {
			conn_close(c);
			return;
		}
		if (!more_likely)
			return;
	}
}

void conn_on_timer(struct vfu_conn *c)
{
	uint64_t v;
	struct vfu_hdr h = { 0 };

	if (read(c->timer_fd, &v, sizeof(v)) < 0)
		return;
	c->timer_armed = false;
	if (!c->rx.in_message)
		return;
	if (c->rx.hdr_got == sizeof(h))
		h = c->rx.msg.hdr;
	log_warn("server: %s: %s message (msg_size %u) incomplete after %u ms; dropped",
		 uvfio_device_name(c->sd->dev), vfu_command_name(h.cmd), h.msg_size,
		 c->sd->srv->cfg.msg_timeout_ms);
	h.flags &= ~VFU_F_NO_REPLY; /* a stalled message gets its answer regardless */
	conn_error(c, &h, ETIMEDOUT);
	vfu_receiver_reset(&c->rx);
	if (c->dead)
		conn_close(c);
}
