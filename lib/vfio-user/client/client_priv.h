/* SPDX-License-Identifier: MIT */
/* The vfio-user client backend's state, shared by client*.c. */
#ifndef UVFIO_VFIO_USER_CLIENT_PRIV_H
#define UVFIO_VFIO_USER_CLIENT_PRIV_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "client/backend.h"
#include "vfio-user/framing.h"

#define VFU_CLIENT_DEFAULT_TIMEOUT_MS 5000
/* max_data_xfer_size as we advertise it to every server (QEMU's figure), and the larger size a
 * uvfio server may agree to through the "uvfio" capability; the latter is the most we accept. */
#define VFU_CLIENT_STD_XFER VFU_DEFAULT_MAX_DATA_XFER
#define VFU_CLIENT_MAX_XFER VFU_UVFIO_MAX_XFER
#define VFU_CLIENT_MAX_DMA_MAPS 65535u
#define VFU_CLIENT_PGSIZE 4096u

/* What the server's VERSION reply allows us. */
struct vfu_peer_caps {
	uint16_t minor;
	uint32_t max_msg_fds;
	uint32_t max_data_xfer_size;
	uint32_t max_dma_maps;
	uint64_t pgsizes;
	bool write_multiple;
	bool twin_socket;
	uint32_t twin_fd_index;
	bool precopy_info; /* uvfio extension: the server answers VFU_FEATURE_UVFIO_PRECOPY_INFO */
	uint32_t uvfio_xfer; /* uvfio extension: the agreed larger transfer size, 0 if none */
};

struct vfu_client {
	int sock;
	int twin; /* server-to-client command socket, -1 if not negotiated */
	pthread_mutex_t lock; /* one request/reply exchange at a time on sock */
	uint16_t next_id;
	int timeout_ms;
	bool rcvtimeo; /* SO_RCVTIMEO on sock is timeout_ms: a reply may be read blocking */
	struct vfu_rxbuf rxb; /* sock's bytes read ahead: a reply takes one recvmsg */
	bool broken; /* the stream is out of step (timeout, bad framing): refuse further use */
	struct vfu_peer_caps peer;
	uint32_t nr_dma_maps;
	/* The server's reason for the last reply under lock, "" if it gave none (or succeeded). */
	char last_error[200];

	/* Serving the device's DMA messages. */
	pthread_mutex_t dma_lock;
	struct uvfio_ioas *ioas;
	pthread_t twin_thread;
	bool twin_thread_running;
	int stop_fd; /* eventfd that ends the twin thread */

	/* Migration data read ahead (client_mig.c), under lock: one MIG_DATA_READ sent before the
	 * caller asked, so the server fills the socket while the caller takes the last reply. */
	struct {
		bool pending; /* sent, reply not read yet */
		struct vfu_hdr req;
		uint32_t size;
		bool have; /* its reply was read for another command: kept for the next read */
		struct vfu_msg msg;
		size_t off;
		int err;
	} ra;
};

/* The most data one message may carry on this connection, each way. */
static inline size_t vfu_client_xfer(const struct vfu_client *c)
{
	uint32_t peer = c->peer.max_data_xfer_size;

	if (c->peer.uvfio_xfer)
		return c->peer.uvfio_xfer;
	return peer < VFU_CLIENT_STD_XFER ? peer : VFU_CLIENT_STD_XFER;
}

/* One command; reply NULL: posted (NO_REPLY). On success reply holds a checked reply with at
 * most max_reply_fds fds (release it). Thread-safe. */
int vfu_client_exchange(struct vfu_client *c, uint16_t cmd, const struct iovec *iov, int iovcnt,
			const int *fds, size_t nfds, size_t max_reply_fds, struct vfu_msg *reply);

/* region_info.c: GET_REGION_INFO, re-asked once with the argsz the server says it needs. fd
 * (if not NULL) receives the region's mmap fd or -1. */
int vfu_client_region_info(struct vfu_client *c, uint32_t index, struct uvfio_region_info *info,
			   int *fd);

/* The halves of an exchange, for callers that keep a request in flight (client_mig.c). Caller
 * holds c->lock. send fills req (its msg_id); recv waits for req's reply, and place (may be
 * NULL) may receive its payload straight into the caller's memory (see vfu_recv_placed();
 * reply->payload stays NULL then): it is asked only about that reply, never about an error
 * reply or a message of the server's own. */
int vfu_client_send_locked(struct vfu_client *c, struct vfu_hdr *req, uint16_t cmd,
			   const struct iovec *iov, int iovcnt, const int *fds, size_t nfds,
			   bool want_reply);
int vfu_client_recv_locked(struct vfu_client *c, const struct vfu_hdr *req, size_t max_reply_fds,
			   struct vfu_msg *reply, vfu_place_fn place, void *opaque);
/* client_mig.c: a read-ahead reply is taken in before any other command (under c->lock), and
 * dropped when a state change ends the saving session. */
void vfu_client_ra_settle(struct vfu_client *c);
void vfu_client_ra_drop(struct vfu_client *c);

/* client_version.c: negotiate on c->sock; may set c->twin. */
int vfu_client_negotiate(struct vfu_client *c);

/* client_mig.c: the backend's migration data ops. */
ssize_t vfu_client_mig_data_rw(struct uvfio_handle *h, void *buf, size_t count, bool is_write);
int vfu_client_mig_precopy_info(struct uvfio_handle *h, uint64_t *initial_bytes,
				uint64_t *dirty_bytes);

/* iofds.c: DEVICE_GET_REGION_IO_FDS. */
int vfu_client_region_io_fds(struct uvfio_handle *h, uint32_t index, struct uvfio_ioeventfd *out,
			     size_t max);

/* client_dma.c */
/* msg is a command from the server (DMA_READ/DMA_WRITE); answers it on sock. */
void vfu_client_serve_dma(struct vfu_client *c, int sock, struct vfu_msg *msg);
int vfu_client_start_twin(struct vfu_client *c);
void vfu_client_stop_twin(struct vfu_client *c);

#endif
