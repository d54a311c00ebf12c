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
};
void vfu_receiver_init(struct vfu_receiver *r); /* no placement */
void vfu_receiver_reset(struct vfu_receiver *r); /* releases what the receiver still owns */
int vfu_receiver_feed(struct vfu_receiver *r, int sock, size_t max_size, size_t max_fds);

#endif
