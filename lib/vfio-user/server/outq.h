/* SPDX-License-Identifier: MIT */
/*
 * A connection's output queue: what a non-blocking sendmsg() could not take right away. The
 * loop never waits for a peer to read: a message goes out directly while the queue is empty,
 * and whatever the socket does not take is copied here (fds duplicated, attached to the first
 * byte of their message) and flushed when the socket is writable again. The caller stops
 * reading from a peer while its queue is not empty (backpressure) and disconnects a peer that
 * takes nothing for its timeout. The buffer is the queue's: it grows to the largest backlog
 * seen and is reused, so a message that goes out directly costs no allocation.
 */
#ifndef UVFIO_VFIO_USER_OUTQ_H
#define UVFIO_VFIO_USER_OUTQ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "vfio-user/wire.h"

#define OUTQ_MAX_FDREC 8 /* messages with fds that may wait in the queue at once */
/* fds per message: a GET_REGION_IO_FDS reply carries one eventfd per doorbell (VFU_REPLY_MAX_FDS) */
#define OUTQ_MAX_FDS 64

struct outq_fdrec {
	uint64_t pos; /* stream offset of the message's first byte */
	int fds[OUTQ_MAX_FDS];
	size_t nfds;
};

struct outq {
	uint8_t *buf;
	size_t cap;
	size_t head, tail; /* pending bytes: buf[head, tail) */
	uint64_t sent; /* bytes sent since init: fd records are kept in these stream offsets */
	uint64_t queued; /* stream offset of buf[tail] */
	struct outq_fdrec rec[OUTQ_MAX_FDREC];
	unsigned nrec;
	bool hold; /* the owner sends something of its own first: queue even when empty */
};

void outq_init(struct outq *q);
/* Closes the duplicated fds still waiting and frees the buffer. */
void outq_free(struct outq *q);
static inline size_t outq_pending(const struct outq *q)
{
	return q->tail - q->head;
}
/*
 * Queues one message: hdr (msg_size is set here) + iov + fds (the caller's; duplicated if they
 * must wait). Sent directly when nothing is pending. Returns 0 (all sent or queued), or
 * -EPIPE/-ECONNRESET/... if the socket failed, -ENOMEM, -EMSGSIZE, -EINVAL (too many fds).
 */
int outq_send(struct outq *q, int sock, struct vfu_hdr *hdr, const struct iovec *iov, int iovcnt,
	      const int *fds, size_t nfds);
/* sendmsg() that never waits: bytes sent, 0 if the socket is full, or -errno. */
ssize_t outq_send_nowait(int sock, struct iovec *iov, int cnt, const int *fds, size_t nfds);
/* Sends what is pending. Returns the bytes sent (0 if the socket took nothing) or -errno. */
ssize_t outq_flush(struct outq *q, int sock);

#endif
