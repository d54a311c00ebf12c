/* SPDX-License-Identifier: MIT */
/*
 * Server-to-client DMA: the device reads or writes the client's memory with DMA_READ and
 * DMA_WRITE messages (spec layout: u64 address, u64 count, data at 16). Served from the IOAS
 * the handle is attached to, with its bounds and permissions; anything else gets an error reply.
 * Without a twin socket these arrive between a request and its reply on the main socket; with
 * one, a thread answers them there.
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "client_priv.h"
#include "util/log.h"

#define TWIN_RECV_TIMEOUT_MS 5000

static int dma_rw(struct vfu_client *c, uint64_t addr, void *buf, size_t len, bool dev_writes)
{
	int ret;

	pthread_mutex_lock(&c->dma_lock);
	ret = c->ioas ? uvfio_ioas_dma_rw(c->ioas, addr, buf, len, dev_writes) : -EFAULT;
	pthread_mutex_unlock(&c->dma_lock);
	return ret;
}

/* Returns the positive errno to answer with, or 0 once a reply was sent. */
static int serve(struct vfu_client *c, int sock, struct vfu_msg *msg)
{
	struct vfu_dma_access acc;
	bool is_write = msg->hdr.cmd == VFU_CMD_DMA_WRITE;
	uint8_t *data;
	int ret;

	if (msg->hdr.cmd != VFU_CMD_DMA_READ && !is_write) {
		log_warn("vfio-user: server sent command %u to the client", msg->hdr.cmd);
		return EINVAL;
	}
	if (msg->nfds || !msg->payload || msg->payload_len < sizeof(acc))
		return EINVAL;
	memcpy(&acc, msg->payload, sizeof(acc));
	if (!acc.count || acc.count > VFU_CLIENT_MAX_XFER ||
	    msg->payload_len != sizeof(acc) + (is_write ? acc.count : 0)) {
		log_warn("vfio-user: bad %s of %llu bytes", vfu_command_name(msg->hdr.cmd),
			 (unsigned long long)acc.count);
		return EINVAL;
	}
	if (is_write) {
		ret = dma_rw(c, acc.addr, msg->payload + sizeof(acc), acc.count, true);
		if (ret < 0)
			return -ret;
		return -vfu_send_reply(sock, &msg->hdr, &acc, sizeof(acc), NULL, 0);
	}
	data = malloc(sizeof(acc) + acc.count);
	if (!data)
		return ENOMEM;
	memcpy(data, &acc, sizeof(acc));
	ret = dma_rw(c, acc.addr, data + sizeof(acc), acc.count, false);
	if (ret == 0)
		ret = vfu_send_reply(sock, &msg->hdr, data, sizeof(acc) + acc.count, NULL, 0);
	free(data);
	return -ret;
}

void vfu_client_serve_dma(struct vfu_client *c, int sock, struct vfu_msg *msg)
{
	int err = serve(c, sock, msg);

	if (!err || (msg->hdr.flags & VFU_F_NO_REPLY))
		return;
	log_debug("vfio-user: %s refused: %s", vfu_command_name(msg->hdr.cmd), strerror(err));
	vfu_send_error(sock, &msg->hdr, err);
}

static void *twin_main(void *arg)
{
	struct vfu_client *c = arg;

	for (;;) {
		struct pollfd pfd[2] = { { .fd = c->twin, .events = POLLIN },
					 { .fd = c->stop_fd, .events = POLLIN } };
		struct vfu_msg msg;
		int ret;

		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (pfd[1].revents)
			break;
		vfu_msg_init(&msg);
		ret = vfu_recv(c->twin, &msg, VFU_MAX_MSG_SIZE(VFU_CLIENT_MAX_XFER),
			       VFU_OUR_MAX_MSG_FDS, TWIN_RECV_TIMEOUT_MS);
		if (ret < 0) {
			vfu_msg_release(&msg);
			if (ret != -ECONNRESET)
				log_warn("vfio-user: twin socket: %s", strerror(-ret));
			break;
		}
		if ((msg.hdr.flags & VFU_F_TYPE_MASK) == VFU_F_TYPE_COMMAND)
			vfu_client_serve_dma(c, c->twin, &msg);
		else
			log_warn("vfio-user: unexpected reply on the twin socket");
		vfu_msg_release(&msg);
	}
	return NULL;
}

int vfu_client_start_twin(struct vfu_client *c)
{
	int ret;

	c->stop_fd = eventfd(0, EFD_CLOEXEC);
	if (c->stop_fd < 0)
		return -errno;
	ret = pthread_create(&c->twin_thread, NULL, twin_main, c);
	if (ret) {
		close(c->stop_fd);
		c->stop_fd = -1;
		return -ret;
	}
	c->twin_thread_running = true;
	return 0;
}

void vfu_client_stop_twin(struct vfu_client *c)
{
	uint64_t one = 1;

	if (c->twin_thread_running) {
		if (write(c->stop_fd, &one, sizeof(one)) != sizeof(one))
			log_warn("vfio-user: cannot stop the twin thread");
		pthread_join(c->twin_thread, NULL);
		c->twin_thread_running = false;
	}
	if (c->stop_fd >= 0)
		close(c->stop_fd);
	c->stop_fd = -1;
}
