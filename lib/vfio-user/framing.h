/* SPDX-License-Identifier: MIT */
/*
 * vfio-user framing: one message = header + payload, fds as SCM_RIGHTS on the sendmsg() that
 * carries the header. Sizes and fd counts are checked here, before anyone parses a payload.
 */
#ifndef UVFIO_VFIO_USER_FRAMING_H
#define UVFIO_VFIO_USER_FRAMING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

#include "wire.h"

#define VFU_MAX_FDS 1024 /* never accept more than this in one message */
#define VFU_SCM_MAX_FD 253 /* the kernel's limit of fds in one SCM_RIGHTS message */

struct vfu_rxbuf;

struct vfu_msg {
	struct vfu_hdr hdr;
	uint8_t *payload; /* hdr.msg_size - 16 bytes, malloc'd (NULL if none) */
	size_t payload_len;
	int fds[VFU_MAX_FDS];
	size_t nfds;
};

void vfu_msg_init(struct vfu_msg *msg);
/* Frees the payload and closes every fd still in msg->fds (take one by setting it to -1). */
void vfu_msg_release(struct vfu_msg *msg);

/* Sends header (msg_size computed from the iovecs) + payload iovecs + fds, all of it, retrying on
 * EINTR/EAGAIN (poll). MSG_NOSIGNAL: a gone peer gives -EPIPE, not SIGPIPE. */
/* Puts fds as one SCM_RIGHTS message in mh, using ctl (CMSG_SPACE(sizeof(int) * nfds) bytes,
 * cmsghdr-aligned, sized by the caller for its own fd limit). */
struct msghdr;
void vfu_attach_fds(struct msghdr *mh, void *ctl, const int *fds, size_t nfds);

int vfu_send(int sock, struct vfu_hdr *hdr, const struct iovec *iov, int iovcnt, const int *fds,
	     size_t nfds);
/* The same with a bound: -ETIMEDOUT if the peer takes none of the rest for timeout_ms (-1: none).
 * A server uses it so a client that stops reading cannot stall its loop forever. */
int vfu_send_timeout(int sock, struct vfu_hdr *hdr, const struct iovec *iov, int iovcnt,
		     const int *fds, size_t nfds, int timeout_ms);
int vfu_send_reply(int sock, const struct vfu_hdr *req, const void *payload, size_t len,
		   const int *fds, size_t nfds);
/* Error reply: header only, flags REPLY|ERROR, error_no = err (positive errno). */
int vfu_send_error(int sock, const struct vfu_hdr *req, int err);

/*
 * Blocking receive of one whole message (the client's side). timeout_ms applies to the whole
 * message (-1: none). Errors: -ECONNRESET peer closed at a message boundary, -EPROTO closed or
 * malformed mid-message / msg_size < 16 / msg_size > max_size / more fds than max_fds (extra
 * fds closed), -ETIMEDOUT.
 */
int vfu_recv(int sock, struct vfu_msg *msg, size_t max_size, size_t max_fds, int timeout_ms);

/*
 * Placing a payload: once a header is in and its msg_size is within max_size, place() may
 * point iov (at most VFU_PLACE_MAX_IOV entries whose lengths sum to exactly payload_len) at
 * the caller's memory and return how many entries it used; the payload is then received
 * there, with no malloc and no copy, and msg->payload stays NULL (payload_len is set). 0
 * (or anything invalid) keeps the usual malloc'd payload. Everything else is vfu_recv()'s.
 */
#define VFU_PLACE_MAX_IOV 2
typedef int (*vfu_place_fn)(void *opaque, const struct vfu_hdr *hdr, size_t payload_len,
			    struct iovec *iov);
int vfu_recv_placed(int sock, struct vfu_msg *msg, size_t max_size, size_t max_fds,
		    int timeout_ms, vfu_place_fn place, void *opaque);
/* The same through a buffer kept between calls (a client's main socket). may_block: the first
 * read blocks instead of polling first (one syscall per reply); the caller has set SO_RCVTIMEO
 * to at most timeout_ms. */
int vfu_recv_buffered(int sock, struct vfu_rxbuf *rb, struct vfu_msg *msg, size_t max_size,
		      size_t max_fds, int timeout_ms, bool may_block, vfu_place_fn place,
		      void *opaque);

/*
 * Incremental, non-blocking receive (the server's side): feed it when the socket is readable.
 * Returns 1 when msg holds a complete message (ownership passes to the caller; call
 * vfu_receiver_reset() before the next), 0 if more bytes are needed, negative errno on a fatal
 * condition (-ECONNRESET: orderly close at a boundary; -EPROTO: close mid-message).
 * Oversized messages (msg_size > max_size) and short ones (msg_size < 16) are reported as
 * complete messages with msg->payload NULL and bad set to E2BIG / EINVAL. Nothing after an
 * oversized header is read: the stream cannot be resynchronised, so bad == E2BIG means the
 * caller must close the connection (after an error reply, if it likes).
 */
/*
 * A buffered receive: one recvmsg() takes a header, its payload and whatever else is there, so
 * a small message costs one syscall. Bytes are still parsed header first, sizes checked before
 * a payload is placed or allocated; a payload larger than what is buffered is received straight
 * into its place. fds: the kernel ends a read after the first piece that carries SCM_RIGHTS,
 * and a sender attaches them to the piece that starts a message, so fds that come with a read
 * belong to the last message that starts in the buffered bytes (the one being received if none
 * starts after it); they are held, with that message's stream offset, until it is parsed.
 * Receivers that read the same socket share one (the server's inline DMA wait), so no byte is
 * taken out of order.
 */
#define VFU_RXBUF_SIZE 65536
struct vfu_rxbuf {
	uint8_t *buf; /* VFU_RXBUF_SIZE bytes, allocated at the first read */
	size_t head, tail; /* unparsed bytes: buf[head, tail) */
	uint64_t pos; /* stream offset of buf[head] */
	int pend_fds[VFU_SCM_MAX_FD]; /* fds of the message that starts at pend_pos */
	size_t pend_nfds;
	uint64_t pend_pos;
	bool pend_bad; /* some of them were lost (MSG_CTRUNC) */
};
void vfu_rxbuf_init(struct vfu_rxbuf *b);
void vfu_rxbuf_free(struct vfu_rxbuf *b); /* closes fds still held */
/* Drops what was read ahead (a stalled message's bytes; fds held are closed). */
void vfu_rxbuf_discard(struct vfu_rxbuf *b);
static inline size_t vfu_rxbuf_len(const struct vfu_rxbuf *b)
{
	return b->tail - b->head;
}

struct vfu_receiver {
	struct vfu_msg msg;
	size_t hdr_got;
	size_t payload_got;
	int bad;
	bool in_message;
	vfu_place_fn place; /* NULL: every payload is malloc'd */
	void *place_opaque;
	struct iovec dst[VFU_PLACE_MAX_IOV]; /* the placed payload's room, dst_cnt entries */
	int dst_cnt; /* 0: the payload is malloc'd */
	struct vfu_rxbuf *rb; /* NULL: never read past the current message */
	bool block_once; /* the next read of the socket may block (SO_RCVTIMEO bounds it) */
};
void vfu_receiver_init(struct vfu_receiver *r); /* no placement, no buffer */
/* Releases what the receiver still owns; keeps its placement and buffer. */
void vfu_receiver_reset(struct vfu_receiver *r);
int vfu_receiver_feed(struct vfu_receiver *r, int sock, size_t max_size, size_t max_fds);

#endif
