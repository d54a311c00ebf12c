/* SPDX-License-Identifier: MIT */
/* A connection's output queue (see outq.h). */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vfio-user/framing.h"
#include "vfio-user/server/outq.h"

#define OUTQ_DIRECT_IOV 64 /* iovecs tried in the direct sendmsg; the rest is queued */

void outq_init(struct outq *q)
{
	memset(q, 0, sizeof(*q));
}

void outq_free(struct outq *q)
{
	for (unsigned i = 0; i < q->nrec; i++)
		for (size_t j = 0; j < q->rec[i].nfds; j++)
			close(q->rec[i].fds[j]);
	free(q->buf);
	outq_init(q);
}

ssize_t outq_send_nowait(int sock, struct iovec *iov, int cnt, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * OUTQ_MAX_FDS)];
		struct cmsghdr align;
	} ctl;
	struct msghdr mh = { .msg_iov = iov, .msg_iovlen = (size_t)cnt };

	if (nfds)
		vfu_attach_fds(&mh, ctl.buf, fds, nfds);
	for (;;) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		return -errno;
	}
}

static int reserve(struct outq *q, size_t need)
{
	if (q->tail + need <= q->cap)
		return 0;
	if (q->head) {
		memmove(q->buf, q->buf + q->head, q->tail - q->head);
		q->tail -= q->head;
		q->head = 0;
	}
	if (q->tail + need <= q->cap)
		return 0;
	size_t cap = q->cap ? q->cap * 2 : 4096;
	if (cap < q->tail + need)
		cap = q->tail + need;
	uint8_t *b = realloc(q->buf, cap);
	if (!b)
		return -ENOMEM;
	q->buf = b;
	q->cap = cap;
	return 0;
}

/* Copies bytes [skip, end) of the iovecs into the queue (room reserved). */
static void append(struct outq *q, const struct iovec *v, int cnt, size_t skip)
{
	for (int i = 0; i < cnt; i++) {
		size_t len = v[i].iov_len;
		if (skip >= len) {
			skip -= len;
			continue;
		}
		memcpy(q->buf + q->tail, (const uint8_t *)v[i].iov_base + skip, len - skip);
		q->tail += len - skip;
		skip = 0;
	}
}

int outq_send(struct outq *q, int sock, struct vfu_hdr *hdr, const struct iovec *iov, int iovcnt,
	      const int *fds, size_t nfds)
{
	struct iovec v[OUTQ_DIRECT_IOV];
	uint64_t total = sizeof(*hdr);

	if (iovcnt < 0 || nfds > OUTQ_MAX_FDS || (nfds && !fds))
		return -EINVAL;
	for (int i = 0; i < iovcnt; i++)
		total += iov[i].iov_len;
	if (total > UINT32_MAX)
		return -EMSGSIZE;
	hdr->msg_size = (uint32_t)total;
	if (nfds && q->nrec == OUTQ_MAX_FDREC && outq_pending(q))
		return -ENOBUFS;

	size_t done = 0;
	if (!outq_pending(q) && !q->hold) {
		int cnt = iovcnt + 1 < OUTQ_DIRECT_IOV ? iovcnt + 1 : OUTQ_DIRECT_IOV;
		v[0] = (struct iovec){ .iov_base = hdr, .iov_len = sizeof(*hdr) };
		for (int i = 1; i < cnt; i++)
			v[i] = iov[i - 1];
		ssize_t n = outq_send_nowait(sock, v, cnt, fds, nfds);
		if (n < 0)
			return (int)n;
		done = (size_t)n;
		q->sent += done;
		q->queued += done;
		if (done == total)
			return 0;
	}
	size_t rest = (size_t)total - done;
	if (reserve(q, rest) < 0)
		return -ENOMEM;
	if (nfds && done == 0) {
		struct outq_fdrec *r = &q->rec[q->nrec];
		r->pos = (size_t)q->queued;
		r->nfds = 0;
		for (size_t i = 0; i < nfds; i++) {
			int d = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
			if (d < 0) {
				int err = -errno;
				for (size_t j = 0; j < r->nfds; j++)
					close(r->fds[j]);
				return err;
			}
			r->fds[r->nfds++] = d;
		}
		q->nrec++;
	}
	struct iovec h = { .iov_base = hdr, .iov_len = sizeof(*hdr) };
	append(q, &h, 1, done);
	append(q, iov, iovcnt, done > sizeof(*hdr) ? done - sizeof(*hdr) : 0);
	q->queued += rest;
	return 0;
}

ssize_t outq_flush(struct outq *q, int sock)
{
	ssize_t total = 0;

	while (outq_pending(q)) {
		size_t len = outq_pending(q);
		struct outq_fdrec *r = q->nrec ? &q->rec[0] : NULL;
		bool attach = r && r->pos == q->sent;
		/* A message's fds go with its first byte: never send past the next message with fds. */
		const struct outq_fdrec *next = attach ? (q->nrec > 1 ? &q->rec[1] : NULL) : r;
		if (next && next->pos - q->sent < len)
			len = (size_t)(next->pos - q->sent);
		struct iovec v = { .iov_base = q->buf + q->head, .iov_len = len };
		ssize_t n = outq_send_nowait(sock, &v, 1, attach ? r->fds : NULL, attach ? r->nfds : 0);
		if (n < 0)
			return n;
		if (n == 0)
			break;
		if (attach) {
			for (size_t j = 0; j < r->nfds; j++)
				close(r->fds[j]);
			memmove(&q->rec[0], &q->rec[1], (q->nrec - 1) * sizeof(q->rec[0]));
			q->nrec--;
		}
		q->head += (size_t)n;
		q->sent += (uint64_t)n;
		total += n;
		if (q->head == q->tail)
			q->head = q->tail = 0;
	}
	return total;
}
