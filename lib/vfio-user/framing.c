/* SPDX-License-Identifier: MIT */
/*
 * vfio-user framing. An unbuffered receiver never reads past the end of the current message
 * (header first, then exactly the payload), so fds that ride on the next message's header are
 * not collected early; a buffered one (vfu_rxbuf) reads ahead and tells whose fds they are by
 * where messages start. recvmsg() uses MSG_DONTWAIT unless the caller asked for one blocking
 * read (bounded by its SO_RCVTIMEO).
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "vfio-user/framing.h"
#include "util/log.h"

#define VFU_SEND_SMALL_IOV 16
#define VFU_SEND_MAX_IOV (1 << 16)

void vfu_msg_init(struct vfu_msg *msg)
{
	memset(&msg->hdr, 0, sizeof(msg->hdr));
	msg->payload = NULL;
	msg->payload_len = 0;
	msg->nfds = 0;
}

void vfu_msg_release(struct vfu_msg *msg)
{
	free(msg->payload);
	for (size_t i = 0; i < msg->nfds; i++)
		if (msg->fds[i] >= 0)
			close(msg->fds[i]);
	vfu_msg_init(msg);
}

static int wait_fd(int sock, short events, int timeout_ms)
{
	struct pollfd p = { .fd = sock, .events = events };

	for (;;) {
		int r = poll(&p, 1, timeout_ms);
		if (r > 0)
			return 0;
		if (r == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static void iov_advance(struct iovec **iov, int *iovcnt, size_t n)
{
	while (*iovcnt > 0 && n >= (*iov)->iov_len) {
		n -= (*iov)->iov_len;
		(*iov)++;
		(*iovcnt)--;
	}
	if (*iovcnt > 0) {
		(*iov)->iov_base = (uint8_t *)(*iov)->iov_base + n;
		(*iov)->iov_len -= n;
	}
}

int vfu_send(int sock, struct vfu_hdr *hdr, const struct iovec *iov, int iovcnt, const int *fds,
	     size_t nfds)
{
	return vfu_send_timeout(sock, hdr, iov, iovcnt, fds, nfds, -1);
}

/* sendmsg() until all of iov went out; mh may carry fds, which go with the first bytes. */
void vfu_attach_fds(struct msghdr *mh, void *ctl, const int *fds, size_t nfds)
{
	memset(ctl, 0, CMSG_SPACE(sizeof(int) * nfds));
	mh->msg_control = ctl;
	mh->msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
	struct cmsghdr *c = CMSG_FIRSTHDR(mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
	memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
}

static int send_all(int sock, struct msghdr *mh, struct iovec *cur, int cnt, int timeout_ms)
{
	while (cnt > 0) {
		mh->msg_iov = cur;
		mh->msg_iovlen = (size_t)(cnt < IOV_MAX ? cnt : IOV_MAX);
		ssize_t n = sendmsg(sock, mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno != EAGAIN && errno != EWOULDBLOCK)
				return -errno;
			int r = wait_fd(sock, POLLOUT, timeout_ms);
			if (r < 0)
				return r;
			continue;
		}
		/* The fds went with the first bytes; never send them twice. */
		mh->msg_control = NULL;
		mh->msg_controllen = 0;
		iov_advance(&cur, &cnt, (size_t)n);
	}
	return 0;
}

int vfu_send_timeout(int sock, struct vfu_hdr *hdr, const struct iovec *iov, int iovcnt,
		     const int *fds, size_t nfds, int timeout_ms)
{
	struct iovec small[VFU_SEND_SMALL_IOV + 1], *v = small;
	uint64_t total = sizeof(*hdr);
	union {
		char buf[CMSG_SPACE(sizeof(int) * VFU_SCM_MAX_FD)];
		struct cmsghdr align;
	} ctl;

	if (iovcnt < 0 || iovcnt > VFU_SEND_MAX_IOV || nfds > VFU_SCM_MAX_FD ||
	    (nfds && !fds))
		return -EINVAL;
	/* Migration data goes out from wherever its pieces are: possibly many iovecs. */
	if (iovcnt > VFU_SEND_SMALL_IOV) {
		v = malloc(((size_t)iovcnt + 1) * sizeof(*v));
		if (!v)
			return -ENOMEM;
	}
	v[0] = (struct iovec){ .iov_base = hdr, .iov_len = sizeof(*hdr) };
	for (int i = 0; i < iovcnt; i++) {
		v[i + 1] = iov[i];
		total += iov[i].iov_len;
	}
	int ret = -EMSGSIZE;
	if (total <= UINT32_MAX) {
		hdr->msg_size = (uint32_t)total;
		struct msghdr mh = { 0 };
		if (nfds)
			vfu_attach_fds(&mh, ctl.buf, fds, nfds);
		ret = send_all(sock, &mh, v, iovcnt + 1, timeout_ms);
	}
	if (v != small)
		free(v);
	return ret;
}

int vfu_send_reply(int sock, const struct vfu_hdr *req, const void *payload, size_t len,
		   const int *fds, size_t nfds)
{
	struct vfu_hdr h = {
		.msg_id = req->msg_id,
		.cmd = req->cmd,
		.flags = VFU_F_TYPE_REPLY,
	};
	struct iovec iov = { .iov_base = (void *)payload, .iov_len = len };

	return vfu_send(sock, &h, &iov, len ? 1 : 0, fds, nfds);
}

int vfu_send_error(int sock, const struct vfu_hdr *req, int err)
{
	struct vfu_hdr h = {
		.msg_id = req->msg_id,
		.cmd = req->cmd,
		.flags = VFU_F_TYPE_REPLY | VFU_F_ERROR,
		.error_no = (uint32_t)err,
	};

	return vfu_send(sock, &h, NULL, 0, NULL, 0);
}

void vfu_receiver_init(struct vfu_receiver *r)
{
	vfu_msg_init(&r->msg);
	r->hdr_got = 0;
	r->payload_got = 0;
	r->bad = 0;
	r->in_message = false;
	r->place = NULL;
	r->place_opaque = NULL;
	r->dst_cnt = 0;
	r->rb = NULL;
	r->block_once = false;
}

void vfu_receiver_reset(struct vfu_receiver *r)
{
	vfu_place_fn place = r->place;
	void *opaque = r->place_opaque;
	struct vfu_rxbuf *rb = r->rb;

	vfu_msg_release(&r->msg);
	vfu_receiver_init(r);
	r->place = place;
	r->place_opaque = opaque;
	r->rb = rb;
}

void vfu_rxbuf_init(struct vfu_rxbuf *b)
{
	b->buf = NULL;
	b->head = b->tail = 0;
	b->pos = 0;
	b->pend_nfds = 0;
	b->pend_pos = 0;
	b->pend_bad = false;
}

void vfu_rxbuf_free(struct vfu_rxbuf *b)
{
	for (size_t i = 0; i < b->pend_nfds; i++)
		close(b->pend_fds[i]);
	free(b->buf);
	vfu_rxbuf_init(b);
}

void vfu_rxbuf_discard(struct vfu_rxbuf *b)
{
	for (size_t i = 0; i < b->pend_nfds; i++)
		close(b->pend_fds[i]);
	b->pend_nfds = 0;
	b->pend_bad = false;
	b->pos += b->tail - b->head;
	b->head = b->tail = 0;
}

/* The message keeps fd unless it is over max_fds: then it is closed and the message bad. */
static void add_fd(struct vfu_receiver *r, int fd, size_t max_fds)
{
	if (r->msg.nfds < max_fds && r->msg.nfds < VFU_MAX_FDS) {
		r->msg.fds[r->msg.nfds++] = fd;
		return;
	}
	close(fd);
	r->bad = EINVAL;
}

/* The fds of one read, in order; *n of them. */
static size_t cmsg_fds(struct msghdr *mh, int *out)
{
	size_t got = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		const int *p = (const int *)CMSG_DATA(c);
		for (size_t i = 0; i < n && got < VFU_SCM_MAX_FD; i++)
			memcpy(&out[got++], p + i, sizeof(int));
	}
	return got;
}

/* Keeps the fds of every SCM_RIGHTS message; past max_fds they are closed and the message
 * marked bad. A truncated control buffer (MSG_CTRUNC) means the kernel dropped some. */
static void take_fds(struct vfu_receiver *r, struct msghdr *mh, size_t max_fds)
{
	int fds[VFU_SCM_MAX_FD];
	size_t n = cmsg_fds(mh, fds);

	for (size_t i = 0; i < n; i++)
		add_fd(r, fds[i], max_fds);
	if (mh->msg_flags & MSG_CTRUNC)
		r->bad = EINVAL;
}

/* One recvmsg into iov; >0 bytes, 0 EOF, -EAGAIN, -errno. fds go to r's message if take. */
static ssize_t recv_raw(struct vfu_receiver *r, int sock, struct msghdr *mh)
{
	int flags = MSG_CMSG_CLOEXEC | (r->block_once ? 0 : MSG_DONTWAIT);

	r->block_once = false;
	for (;;) {
		ssize_t n = recvmsg(sock, mh, flags);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EWOULDBLOCK)
			return -EAGAIN;
		return -errno;
	}
}

static ssize_t recv_some(struct vfu_receiver *r, int sock, struct iovec *iov, int iovcnt,
			 size_t max_fds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * VFU_SCM_MAX_FD)];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = {
		.msg_iov = iov,
		.msg_iovlen = (size_t)iovcnt,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n = recv_raw(r, sock, &mh);

	if (n >= 0)
		take_fds(r, &mh, max_fds);
	return n;
}

/* Asks the caller where the payload goes; true if its answer is usable. */
static bool place_payload(struct vfu_receiver *r)
{
	struct iovec iov[VFU_PLACE_MAX_IOV];
	int n = r->place(r->place_opaque, &r->msg.hdr, r->msg.payload_len, iov);
	size_t total = 0;

	if (n <= 0 || n > VFU_PLACE_MAX_IOV)
		return false;
	for (int i = 0; i < n; i++) {
		if (!iov[i].iov_base || iov[i].iov_len > r->msg.payload_len - total)
			return false;
		total += iov[i].iov_len;
	}
	if (total != r->msg.payload_len)
		return false;
	memcpy(r->dst, iov, sizeof(iov[0]) * (size_t)n);
	r->dst_cnt = n;
	return true;
}

/* The header just completed: decide what to do with the payload. */
static int start_payload(struct vfu_receiver *r, size_t max_size)
{
	uint32_t size = r->msg.hdr.msg_size;

	if (size < sizeof(struct vfu_hdr)) {
		r->bad = EINVAL;
		return 1; /* no way to know where the payload ends: the header is all there is */
	}
	if (size > max_size) {
		/* Not skipped: a peer that announces more than it agreed to is not trusted to
		 * send what it announced, and a wrong guess would read its next bytes as headers.
		 * The stream cannot be resynchronised; the caller closes the connection. */
		r->bad = E2BIG;
		return 1;
	}
	r->msg.payload_len = size - sizeof(struct vfu_hdr);
	if (r->msg.payload_len == 0)
		return 1;
	if (r->place && place_payload(r))
		return 0;
	r->msg.payload = malloc(r->msg.payload_len);
	if (!r->msg.payload)
		return -ENOMEM;
	return 0;
}

/* Returns 1 message complete, 0 progress made, -EAGAIN nothing to read now, or -errno. */
static int feed_one(struct vfu_receiver *r, int sock, size_t max_size, size_t max_fds)
{
	struct iovec iov[VFU_PLACE_MAX_IOV], *cur = iov;
	int cnt = 1;
	bool in_hdr = r->hdr_got < sizeof(r->msg.hdr);

	if (in_hdr) {
		iov[0].iov_base = (uint8_t *)&r->msg.hdr + r->hdr_got;
		iov[0].iov_len = sizeof(r->msg.hdr) - r->hdr_got;
	} else if (r->dst_cnt) {
		memcpy(iov, r->dst, sizeof(iov[0]) * (size_t)r->dst_cnt);
		cnt = r->dst_cnt;
		iov_advance(&cur, &cnt, r->payload_got);
	} else {
		iov[0].iov_base = r->msg.payload + r->payload_got;
		iov[0].iov_len = r->msg.payload_len - r->payload_got;
	}
	ssize_t n = recv_some(r, sock, cur, cnt, max_fds);
	if (n == -EAGAIN)
		return -EAGAIN;
	if (n == -ECONNRESET && r->in_message)
		return -EPROTO;
	if (n < 0)
		return (int)n;
	if (n == 0)
		return r->in_message ? -EPROTO : -ECONNRESET;
	r->in_message = true;
	if (in_hdr) {
		r->hdr_got += (size_t)n;
		if (r->hdr_got < sizeof(r->msg.hdr))
			return 0;
		return start_payload(r, max_size);
	}
	r->payload_got += (size_t)n;
	return r->payload_got == r->msg.payload_len ? 1 : 0;
}

/* The fds held for the message at the buffer's head go to r, which is about to parse it. */
static void take_pending(struct vfu_receiver *r, size_t max_fds)
{
	struct vfu_rxbuf *b = r->rb;

	if ((!b->pend_nfds && !b->pend_bad) || b->pend_pos != b->pos)
		return;
	for (size_t i = 0; i < b->pend_nfds; i++)
		add_fd(r, b->pend_fds[i], max_fds);
	if (b->pend_bad)
		r->bad = EINVAL;
	b->pend_nfds = 0;
	b->pend_bad = false;
}

/* Where the last message that starts in buf[head, tail) starts (head if none after it). A
 * header that is incomplete or out of bounds ends the walk: nothing after it is parsed. */
static size_t last_start(const struct vfu_rxbuf *b, size_t max_size)
{
	size_t s = b->head;

	while (b->tail - s >= sizeof(struct vfu_hdr)) {
		struct vfu_hdr h;
		memcpy(&h, b->buf + s, sizeof(h));
		if (h.msg_size < sizeof(h) || h.msg_size > max_size || h.msg_size >= b->tail - s)
			break;
		s += h.msg_size;
	}
	return s;
}

/* A read's fds: to r if they belong to the message at the head, else held for theirs. */
static void hold_fds(struct vfu_receiver *r, struct msghdr *mh, size_t max_size,
		     size_t max_fds)
{
	struct vfu_rxbuf *b = r->rb;
	int fds[VFU_SCM_MAX_FD];
	size_t n = cmsg_fds(mh, fds);
	bool trunc = mh->msg_flags & MSG_CTRUNC;

	if (!n && !trunc)
		return;
	size_t at = last_start(b, max_size);
	if (at == b->head) {
		for (size_t i = 0; i < n; i++)
			add_fd(r, fds[i], max_fds);
		if (trunc)
			r->bad = EINVAL;
		return;
	}
	if (b->pend_nfds || b->pend_bad) {
		/* Cannot happen with a sender that attaches fds to a message's start (the held set
		 * is taken before the next read); refuse rather than guess. */
		for (size_t i = 0; i < n; i++)
			close(fds[i]);
		b->pend_bad = true;
		return;
	}
	memcpy(b->pend_fds, fds, n * sizeof(int));
	b->pend_nfds = n;
	b->pend_pos = b->pos + (at - b->head);
	b->pend_bad = trunc;
}

/* One read into the buffer, after what is there. */
static ssize_t fill(struct vfu_receiver *r, int sock, size_t max_size, size_t max_fds)
{
	struct vfu_rxbuf *b = r->rb;
	union {
		char buf[CMSG_SPACE(sizeof(int) * VFU_SCM_MAX_FD)];
		struct cmsghdr align;
	} ctl;

	if (!b->buf) {
		b->buf = malloc(VFU_RXBUF_SIZE);
		if (!b->buf)
			return -ENOMEM;
	}
	take_pending(r, max_fds); /* at most one set is ever held */
	if (b->head) {
		memmove(b->buf, b->buf + b->head, b->tail - b->head);
		b->tail -= b->head;
		b->head = 0;
	}
	struct iovec iov = { .iov_base = b->buf + b->tail, .iov_len = VFU_RXBUF_SIZE - b->tail };
	struct msghdr mh = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = ctl.buf,
		.msg_controllen = sizeof(ctl.buf),
	};
	ssize_t n = recv_raw(r, sock, &mh);
	if (n > 0) {
		b->tail += (size_t)n;
		hold_fds(r, &mh, max_size, max_fds);
	}
	return n;
}

static void consume(struct vfu_rxbuf *b, void *dst, size_t n)
{
	memcpy(dst, b->buf + b->head, n);
	b->head += n;
	b->pos += n;
}

/* feed_one() through the buffer: headers only from whole buffered headers, payloads from the
 * buffer first, then straight from the socket into their place. */
static int feed_buffered(struct vfu_receiver *r, int sock, size_t max_size, size_t max_fds)
{
	struct vfu_rxbuf *b = r->rb;

	if (r->hdr_got < sizeof(r->msg.hdr)) {
		if (vfu_rxbuf_len(b) < sizeof(r->msg.hdr)) {
			bool mid = r->in_message || vfu_rxbuf_len(b);
			r->in_message = mid; /* a partial header counts: its stall timer runs */
			ssize_t n = fill(r, sock, max_size, max_fds);
			if (n == -ECONNRESET && mid)
				return -EPROTO;
			if (n == 0)
				return mid ? -EPROTO : -ECONNRESET;
			if (n < 0)
				return (int)n;
			r->in_message = true;
			return 0;
		}
		take_pending(r, max_fds);
		consume(b, &r->msg.hdr, sizeof(r->msg.hdr));
		r->hdr_got = sizeof(r->msg.hdr);
		r->in_message = true;
		return start_payload(r, max_size);
	}
	size_t need = r->msg.payload_len - r->payload_got;
	size_t n = vfu_rxbuf_len(b) < need ? vfu_rxbuf_len(b) : need;
	if (!n)
		return feed_one(r, sock, max_size, max_fds);
	if (r->dst_cnt) {
		struct iovec iov[VFU_PLACE_MAX_IOV], *cur = iov;
		int cnt = r->dst_cnt;
		size_t left = n;
		memcpy(iov, r->dst, sizeof(iov[0]) * (size_t)cnt);
		iov_advance(&cur, &cnt, r->payload_got);
		for (; cnt > 0 && left; cur++, cnt--) {
			size_t k = cur->iov_len < left ? cur->iov_len : left;
			consume(b, cur->iov_base, k);
			left -= k;
		}
	} else {
		consume(b, r->msg.payload + r->payload_got, n);
	}
	r->payload_got += n;
	return r->payload_got == r->msg.payload_len ? 1 : 0;
}

int vfu_receiver_feed(struct vfu_receiver *r, int sock, size_t max_size, size_t max_fds)
{
	int ret;

	do
		ret = r->rb ? feed_buffered(r, sock, max_size, max_fds)
			    : feed_one(r, sock, max_size, max_fds);
	while (ret == 0);
	if (ret == -EAGAIN)
		return 0;
	if (ret == 1 && r->bad) {
		/* Nothing of a bad message is for the caller's parser. */
		free(r->msg.payload);
		r->msg.payload = NULL;
		r->msg.payload_len = 0;
	}
	return ret;
}

static int remaining_ms(const struct timespec *deadline)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	int64_t ms = (int64_t)(deadline->tv_sec - now.tv_sec) * 1000 +
		     (deadline->tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : (ms > INT32_MAX ? INT32_MAX : (int)ms);
}

int vfu_recv(int sock, struct vfu_msg *msg, size_t max_size, size_t max_fds, int timeout_ms)
{
	return vfu_recv_placed(sock, msg, max_size, max_fds, timeout_ms, NULL, NULL);
}

static int recv_common(int sock, struct vfu_rxbuf *rb, struct vfu_msg *msg, size_t max_size,
		       size_t max_fds, int timeout_ms, bool may_block, vfu_place_fn place,
		       void *opaque);

int vfu_recv_placed(int sock, struct vfu_msg *msg, size_t max_size, size_t max_fds,
		    int timeout_ms, vfu_place_fn place, void *opaque)
{
	return recv_common(sock, NULL, msg, max_size, max_fds, timeout_ms, false, place, opaque);
}

int vfu_recv_buffered(int sock, struct vfu_rxbuf *rb, struct vfu_msg *msg, size_t max_size,
		      size_t max_fds, int timeout_ms, bool may_block, vfu_place_fn place,
		      void *opaque)
{
	return recv_common(sock, rb, msg, max_size, max_fds, timeout_ms, may_block, place,
			   opaque);
}

static int recv_common(int sock, struct vfu_rxbuf *rb, struct vfu_msg *msg, size_t max_size,
		       size_t max_fds, int timeout_ms, bool may_block, vfu_place_fn place,
		       void *opaque)
{
	struct vfu_receiver *r = malloc(sizeof(*r));
	struct timespec deadline;
	int ret;

	if (!r)
		return -ENOMEM;
	vfu_receiver_init(r);
	r->place = place;
	r->place_opaque = opaque;
	r->rb = rb;
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000;
	if (deadline.tv_nsec >= 1000000000) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000;
	}
	/* Wait first: a reply is rarely there the moment its request went out, and a read that
	 * finds nothing costs a syscall on every round trip. Better still, one blocking read
	 * waits and reads at once; what is already buffered needs no wait at all. */
	bool wait = !(rb && (may_block || vfu_rxbuf_len(rb)));
	r->block_once = rb && may_block && !vfu_rxbuf_len(rb);
	for (;;) {
		if (wait) {
			ret = wait_fd(sock, POLLIN, timeout_ms < 0 ? -1 : remaining_ms(&deadline));
			if (ret < 0)
				break;
		}
		wait = true;
		ret = vfu_receiver_feed(r, sock, max_size, max_fds);
		if (ret != 0)
			break;
	}
	if (ret == 1 && r->bad) {
		log_warn("vfio-user: bad message (cmd %u, msg_size %u, %zu fds): %s", r->msg.hdr.cmd,
			 r->msg.hdr.msg_size, r->msg.nfds, strerror(r->bad));
		ret = -EPROTO;
	}
	if (ret == 1) {
		*msg = r->msg;
		vfu_receiver_init(r);
		ret = 0;
	}
	vfu_receiver_reset(r);
	free(r);
	return ret;
}
