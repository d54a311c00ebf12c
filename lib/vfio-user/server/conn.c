/* SPDX-License-Identifier: MIT */
/*
 * One client connection: non-blocking receive and send, the stall timers, replies, teardown.
 * Sends never wait: what the socket does not take goes to the output queue (outq.h); while it
 * is not empty the loop stops reading this client (backpressure) and watches for
 * writability; a client that takes nothing of it for msg_timeout_ms is disconnected.
 * Teardown is ordered so DMA handler threads never see a freed connection: the srv_dev forgets
 * the connection first, in-flight DMA is failed and waited for, then the device is closed
 * (which unmaps DMA windows, closes eventfds and resets it).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
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

/* Received payloads go to the connection's buffer: no allocation per message. */
static int place_rx(void *opaque, const struct vfu_hdr *hdr, size_t len, struct iovec *iov)
{
	struct vfu_conn *c = opaque;

	(void)hdr;
	if (len > c->rx_cap) {
		uint8_t *b = realloc(c->rx_buf, len);
		if (!b)
			return 0; /* the receiver mallocs this one */
		c->rx_buf = b;
		c->rx_cap = len;
	}
	iov[0] = (struct iovec){ .iov_base = c->rx_buf, .iov_len = len };
	return 1;
}

/* Hands a placed payload to the handlers as if it were the message's own. */
static void rx_lend(struct vfu_conn *c)
{
	if (c->rx.dst_cnt && !c->rx.msg.payload && c->rx.msg.payload_len && !c->rx.bad)
		c->rx.msg.payload = c->rx_buf;
}

static void rx_reset(struct vfu_conn *c)
{
	if (c->rx.msg.payload == c->rx_buf)
		c->rx.msg.payload = NULL; /* the connection's, not the message's */
	vfu_receiver_reset(&c->rx);
	c->rx.place = place_rx;
	c->rx.place_opaque = c;
}

void *conn_tx_buf(struct vfu_conn *c, size_t len)
{
	if (len > c->tx_cap) {
		uint8_t *b = realloc(c->tx_buf, len);
		if (!b)
			return NULL;
		c->tx_buf = b;
		c->tx_cap = len;
	}
	return c->tx_buf;
}

int conn_open(struct srv_dev *sd, int sock)
{
	struct srv_loop *l = sd->loop;
	struct uvfio_server *srv = sd->srv;
	struct vfu_conn *c = calloc(1, sizeof(*c));

	if (!c)
		return -ENOMEM;
	c->sd = sd;
	c->sock = sock;
	c->twin_fd = -1;
	c->reading = true;
	c->timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	c->tx_timer_fd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	c->kick_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	c->ev_sock = (struct ev_src){ .kind = EV_SOCK, .obj = c };
	c->ev_timer = (struct ev_src){ .kind = EV_TIMER, .obj = c };
	c->ev_tx_timer = (struct ev_src){ .kind = EV_TX_TIMER, .obj = c };
	c->ev_kick = (struct ev_src){ .kind = EV_DMA_KICK, .obj = c };
	c->neg.max_data_xfer_size = srv->limits.max_data_xfer_size;
	c->neg.client_max_msg_fds = VFU_DEFAULT_MAX_MSG_FDS;
	vfu_receiver_init(&c->rx);
	vfu_receiver_init(&c->dma_rx);
	vfu_rxbuf_init(&c->rxb);
	c->rx.rb = &c->rxb;
	c->dma_rx.rb = &c->rxb;
	c->rx.place = place_rx;
	c->rx.place_opaque = c;
	outq_init(&c->out);
	pthread_mutex_init(&c->twin_lock, NULL);
	pthread_mutex_init(&c->lock, NULL);
	pthread_condattr_t ca;
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&c->dma_cond, &ca);
	pthread_condattr_destroy(&ca);

	int ret = c->timer_fd < 0 || c->tx_timer_fd < 0 || c->kick_fd < 0 ? -errno : 0;
	if (!ret)
		ret = srv_epoll_add(l, sock, &c->ev_sock);
	if (!ret)
		ret = srv_epoll_add(l, c->timer_fd, &c->ev_timer);
	if (!ret)
		ret = srv_epoll_add(l, c->tx_timer_fd, &c->ev_tx_timer);
	if (!ret)
		ret = srv_epoll_add(l, c->kick_fd, &c->ev_kick);
	if (!ret)
		ret = uvfio_device_open(sd->dev);
	if (ret < 0) {
		log_err("server: %s: cannot accept a client: %s", uvfio_device_name(sd->dev),
			strerror(-ret));
		c->sock = -1; /* the caller closes it */
		srv_epoll_del(l, sock);
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

static void close_fd(struct srv_loop *l, int *fd)
{
	if (*fd < 0)
		return;
	srv_epoll_del(l, *fd);
	close(*fd);
	*fd = -1;
}

void conn_close(struct vfu_conn *c)
{
	struct srv_dev *sd = c->sd;
	struct srv_loop *l = sd->loop;
	bool opened = c->sock >= 0;

	if (c->closed)
		return;
	c->closed = true;
	/* Later events of the loop's current batch for this connection are skipped. */
	__atomic_store_n(&c->ev_sock.dead, true, __ATOMIC_RELEASE);
	__atomic_store_n(&c->ev_timer.dead, true, __ATOMIC_RELEASE);
	__atomic_store_n(&c->ev_tx_timer.dead, true, __ATOMIC_RELEASE);
	__atomic_store_n(&c->ev_kick.dead, true, __ATOMIC_RELEASE);
	pthread_mutex_lock(&sd->lock);
	sd->conn = NULL;
	pthread_mutex_unlock(&sd->lock);
	conn_fail_dma(c);

	close_fd(l, &c->sock);
	close_fd(l, &c->timer_fd);
	close_fd(l, &c->tx_timer_fd);
	close_fd(l, &c->kick_fd);
	if (opened) {
		uvfio_device_close(sd->dev);
		log_info("server: %s: client disconnected", uvfio_device_name(sd->dev));
		srv_listen_pause(sd, false);
	}
	if (c->twin_fd >= 0)
		close(c->twin_fd);
	c->twin_fd = -1;
	srv_defer_free_conn(l, c);
}

void conn_free(struct vfu_conn *c)
{
	rx_reset(c);
	vfu_receiver_reset(&c->rx);
	free_queue(c);
	outq_free(&c->out);
	vfu_receiver_reset(&c->dma_rx); /* dma_inline never leaves dma_buf lent */
	vfu_rxbuf_free(&c->rxb);
	free(c->rx_buf);
	free(c->dma_buf);
	free(c->tx_buf);
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

static void arm(int fd, uint32_t ms, bool on)
{
	struct itimerspec its = { 0 };

	if (on) {
		its.it_value.tv_sec = ms / 1000;
		its.it_value.tv_nsec = (long)(ms % 1000) * 1000000;
	}
	timerfd_settime(fd, 0, &its, NULL);
}

static void arm_timer(struct vfu_conn *c, bool on)
{
	arm(c->timer_fd, c->sd->srv->cfg.msg_timeout_ms, on);
	c->timer_armed = on;
}

/* Replies pile up: stop reading this client, wait for room, start the clock on it. */
void conn_pause_reading(struct vfu_conn *c)
{
	if (!c->reading)
		return;
	c->reading = false;
	srv_epoll_mod(c->sd->loop, c->sock, &c->ev_sock, EPOLLOUT);
	arm(c->tx_timer_fd, c->sd->srv->cfg.msg_timeout_ms, true);
}

static void resume_reading(struct vfu_conn *c)
{
	if (c->reading)
		return;
	c->reading = true;
	srv_epoll_mod(c->sd->loop, c->sock, &c->ev_sock, EPOLLIN);
	arm(c->tx_timer_fd, 0, false);
}

int conn_send(struct vfu_conn *c, struct vfu_hdr *h, const struct iovec *iov, int iovcnt,
	      const int *fds, size_t nfds)
{
	if (c->sock < 0)
		return -EPIPE;
	int ret = outq_send(&c->out, c->sock, h, iov, iovcnt, fds, nfds);
	if (ret < 0)
		return ret;
	if (outq_pending(&c->out))
		conn_pause_reading(c);
	return 0;
}

static bool out_pending(const struct vfu_conn *c)
{
	return mig_reply_pending(c) || outq_pending(&c->out);
}

/* Sends what waits, in order: the migration reply in progress, then the queue. Returns the
 * bytes sent (0 if the socket took none) or -errno. */
static ssize_t flush_out(struct vfu_conn *c)
{
	ssize_t total = 0;

	while (mig_reply_pending(c)) {
		int n = mig_reply_continue(c);
		if (n <= 0)
			return n < 0 ? n : total;
		total += n;
	}
	c->out.hold = false;
	ssize_t n = outq_flush(&c->out, c->sock);
	return n < 0 ? n : total + n;
}

static int wait_writable(struct vfu_conn *c)
{
	struct pollfd p = { .fd = c->sock, .events = POLLOUT };
	int n = poll(&p, 1, (int)c->sd->srv->cfg.msg_timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	return n == 0 ? -ETIMEDOUT : 0;
}

int conn_send_wait(struct vfu_conn *c, struct vfu_hdr *h, const struct iovec *iov, int iovcnt)
{
	int ret = 0;

	/* What is queued goes first: the client reads messages in the order they were made. */
	while (ret == 0 && out_pending(c)) {
		ssize_t n = flush_out(c);
		if (n < 0)
			ret = (int)n;
		else if (out_pending(c))
			ret = wait_writable(c);
	}
	if (ret == 0) {
		resume_reading(c);
		ret = vfu_send_timeout(c->sock, h, iov, iovcnt, NULL, 0,
				       (int)c->sd->srv->cfg.msg_timeout_ms);
	}
	if (ret < 0)
		conn_mark_dead(c);
	return ret;
}

int conn_reply(struct vfu_conn *c, const struct vfu_hdr *req, const struct vfu_reply *r)
{
	struct vfu_hdr h = { .msg_id = req->msg_id, .cmd = req->cmd, .flags = VFU_F_TYPE_REPLY };
	struct iovec iov = { .iov_base = r->payload, .iov_len = r->len };

	if (req->flags & VFU_F_NO_REPLY)
		return 0;
	int ret = conn_send(c, &h, &iov, r->len ? 1 : 0, r->fds, r->nfds);
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
	int ret = conn_send(c, &h, NULL, 0, NULL, 0);
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

static void on_readable(struct vfu_conn *c)
{
	struct uvfio_server *srv = c->sd->srv;

	for (int i = 0; c->reading; i++) {
		if (i == CONN_MAX_BATCH) {
			if (vfu_rxbuf_len(&c->rxb))
				conn_defer_buffered(c);
			return;
		}
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
		 * epoll (level-triggered) rather than pay a read that finds nothing, unless more was
		 * read ahead (epoll will not report that). Posted messages come in bursts: keep
		 * reading. */
		bool more_likely = c->rx.msg.hdr.flags & VFU_F_NO_REPLY;
		rx_lend(c);
		dispatch_msg(c, &c->rx.msg, c->rx.bad);
		rx_reset(c);
		run_queue(c);
		if (c->dead) {
			conn_close(c);
			return;
		}
		if (!more_likely && !vfu_rxbuf_len(&c->rxb))
			return;
	}
}

void conn_on_buffered(struct vfu_conn *c)
{
	if (!c->closed && c->reading && vfu_rxbuf_len(&c->rxb))
		on_readable(c);
}

void conn_defer_buffered(struct vfu_conn *c)
{
	uint64_t one = 1;

	c->rx_deferred = true;
	if (write(c->kick_fd, &one, sizeof(one)) < 0) {
		/* EAGAIN: the counter is full, a kick is pending anyway */
	}
}

void conn_on_event(struct vfu_conn *c, uint32_t events)
{
	if (!c->reading) {
		ssize_t n = flush_out(c);
		if (n < 0) {
			if (n != -EPIPE && n != -ECONNRESET)
				log_warn("server: %s: send failed: %s", uvfio_device_name(c->sd->dev),
					 strerror((int)-n));
			conn_close(c);
			return;
		}
		if (!out_pending(c)) {
			resume_reading(c); /* EPOLLIN, if any, comes with the next wait */
			conn_on_buffered(c); /* what was read ahead, it will not report */
		}
		else if (n > 0)
			arm(c->tx_timer_fd, c->sd->srv->cfg.msg_timeout_ms, true); /* it reads: more time */
		else if (events & (EPOLLERR | EPOLLHUP))
			conn_close(c);
		return;
	}
	on_readable(c);
}

void conn_on_tx_timer(struct vfu_conn *c)
{
	uint64_t v;

	if (read(c->tx_timer_fd, &v, sizeof(v)) < 0 || !out_pending(c))
		return;
	log_warn("server: %s: client read none of %zu pending reply bytes for %u ms; "
		 "disconnecting it", uvfio_device_name(c->sd->dev),
		 outq_pending(&c->out) + c->mig_left + (c->mig_pre_len - c->mig_pre_off),
		 c->sd->srv->cfg.msg_timeout_ms);
	conn_close(c);
}

void conn_on_timer(struct vfu_conn *c)
{
	uint64_t v;
	struct vfu_hdr h = { 0 };

	if (read(c->timer_fd, &v, sizeof(v)) < 0)
		return;
	c->timer_armed = false;
	if (!c->rx.in_message || !c->reading)
		return; /* not reading: the send stall timer decides */
	if (c->rx.hdr_got == sizeof(h))
		h = c->rx.msg.hdr;
	log_warn("server: %s: %s message (msg_size %u) incomplete after %u ms; dropped",
		 uvfio_device_name(c->sd->dev), vfu_command_name(h.cmd), h.msg_size,
		 c->sd->srv->cfg.msg_timeout_ms);
	h.flags &= ~VFU_F_NO_REPLY; /* a stalled message gets its answer regardless */
	conn_error(c, &h, ETIMEDOUT);
	rx_reset(c);
	vfu_rxbuf_discard(&c->rxb); /* its bytes read ahead go with it */
	if (c->dead)
		conn_close(c);
}
