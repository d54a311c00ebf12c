/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user client backend: connection, the request/reply exchange, and the commands.
 * Nothing in a reply is used before its size, id, command and fd count have been checked.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <uvfio/migration.h>

#include "client_priv.h"
#include "util/log.h"

#define MAX_REGIONS 100u /* what QEMU accepts */
#define MAX_IRQ_INDEXES 50u

static struct vfu_client *client_of(struct uvfio_handle *h)
{
	return h->priv;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A reply must echo our id and command and carry exactly the fds the command allows. */
/* A hostile server's text reaches terminals: printable ASCII only, bounded. */
static void keep_reason(struct vfu_client *c, const uint8_t *p, size_t len)
{
	size_t n = 0;

	for (size_t i = 0; i < len && p[i] && n + 1 < sizeof(c->last_error); i++)
		c->last_error[n++] = p[i] >= 0x20 && p[i] < 0x7f ? (char)p[i] : '?';
	c->last_error[n] = '\0';
}

static int check_reply(struct vfu_client *c, const struct vfu_hdr *req, struct vfu_msg *reply)
{
	const struct vfu_hdr *r = &reply->hdr;

	if ((r->flags & VFU_F_TYPE_MASK) != VFU_F_TYPE_REPLY) {
		log_err("vfio-user: expected a reply to %s, got type %u", vfu_command_name(req->cmd),
			r->flags & VFU_F_TYPE_MASK);
		c->broken = true;
		return -EPROTO;
	}
	if (r->msg_id != req->msg_id || r->cmd != req->cmd) {
		log_err("vfio-user: reply id %u cmd %u does not match request id %u cmd %u",
			r->msg_id, r->cmd, req->msg_id, req->cmd);
		c->broken = true;
		return -EPROTO;
	}
	c->last_error[0] = '\0';
	if (r->flags & VFU_F_ERROR) {
		if (reply->nfds)
			log_warn("vfio-user: error reply to %s carries fds", vfu_command_name(req->cmd));
		/* The uvfio error_reason extension: the server's reason as a string. */
		if (reply->payload_len)
			keep_reason(c, reply->payload, reply->payload_len);
		/* 0 or something that is no errno (kernel errnos end below 4096): EIO. */
		if (!r->error_no || r->error_no >= 4096)
			return -EIO;
		return -(int)r->error_no;
	}
	return 0;
}

static bool is_dma_command(const struct vfu_msg *m)
{
	return (m->hdr.flags & VFU_F_TYPE_MASK) == VFU_F_TYPE_COMMAND &&
	       (m->hdr.cmd == VFU_CMD_DMA_READ || m->hdr.cmd == VFU_CMD_DMA_WRITE);
}

/* The caller's placement, offered only the reply to req that is no error reply. */
struct placement {
	const struct vfu_hdr *req;
	vfu_place_fn fn;
	void *opaque;
};

static int place_reply(void *opaque, const struct vfu_hdr *hdr, size_t len, struct iovec *iov)
{
	const struct placement *p = opaque;

	if ((hdr->flags & VFU_F_TYPE_MASK) != VFU_F_TYPE_REPLY || (hdr->flags & VFU_F_ERROR) ||
	    hdr->msg_id != p->req->msg_id || hdr->cmd != p->req->cmd)
		return 0;
	return p->fn(p->opaque, hdr, len, iov);
}

/* The most data a message other than a data transfer may carry (region info, bool irqs,
 * features): never less than the spec's default, whatever the peer's max_data_xfer_size. */
static size_t data_max(const struct vfu_client *c)
{
	size_t xfer = vfu_client_xfer(c);

	return xfer > VFU_CLIENT_STD_XFER ? xfer : VFU_CLIENT_STD_XFER;
}

static size_t max_msg(const struct vfu_client *c)
{
	return (size_t)VFU_MAX_MSG_SIZE(data_max(c));
}

int vfu_client_send_locked(struct vfu_client *c, struct vfu_hdr *req, uint16_t cmd,
			   const struct iovec *iov, int iovcnt, const int *fds, size_t nfds,
			   bool want_reply)
{
	*req = (struct vfu_hdr){ .msg_id = c->next_id++, .cmd = cmd };
	if (c->broken)
		return -ENOTCONN;
	if (!want_reply)
		req->flags |= VFU_F_NO_REPLY;
	int ret = vfu_send(c->sock, req, iov, iovcnt, fds, nfds);
	if (ret < 0) {
		log_err("vfio-user: sending %s failed: %s", vfu_command_name(cmd), strerror(-ret));
		c->broken = true;
	}
	return ret;
}

/* Waits for req's reply; server-to-client DMA messages that arrive meanwhile on the main socket
 * are served. */
int vfu_client_recv_locked(struct vfu_client *c, const struct vfu_hdr *req, size_t max_reply_fds,
			   struct vfu_msg *reply, vfu_place_fn place, void *opaque)
{
	struct placement p = { req, place, opaque };
	int64_t deadline = now_ms() + c->timeout_ms;
	bool first = true;
	int ret;

	for (;;) {
		int left = -1;

		if (c->timeout_ms >= 0) {
			int64_t l = deadline - now_ms();
			left = l > 0 ? (int)l : 0;
		}
		vfu_msg_init(reply);
		/* The first read blocks (bounded by SO_RCVTIMEO): no poll before it. */
		ret = vfu_recv_buffered(c->sock, &c->rxb, reply, max_msg(c), VFU_OUR_MAX_MSG_FDS,
					left, first && c->rcvtimeo, place ? place_reply : NULL,
					&p);
		first = false;
		if (ret < 0) {
			log_err("vfio-user: no reply to %s: %s", vfu_command_name(req->cmd),
				strerror(-ret));
			c->broken = true;
			vfu_msg_release(reply);
			return ret;
		}
		if (is_dma_command(reply) && c->twin < 0) {
			vfu_client_serve_dma(c, c->sock, reply);
			vfu_msg_release(reply);
			continue;
		}
		break;
	}
	ret = check_reply(c, req, reply);
	if (ret == 0 && reply->nfds > max_reply_fds) {
		log_err("vfio-user: reply to %s carries %zu fds, at most %zu expected",
			vfu_command_name(req->cmd), reply->nfds, max_reply_fds);
		ret = -EPROTO;
	}
	if (ret < 0)
		vfu_msg_release(reply);
	return ret;
}

/*
 * Sends one command and, unless reply is NULL (posted), waits for its reply. A migration read
 * sent ahead is answered first: its reply comes before this one. Caller holds c->lock.
 */
static int exchange_locked(struct vfu_client *c, uint16_t cmd, const struct iovec *iov,
			   int iovcnt, const int *fds, size_t nfds, size_t max_reply_fds,
			   struct vfu_msg *reply, vfu_place_fn place, void *opaque)
{
	struct vfu_hdr req;

	vfu_client_ra_settle(c);
	int ret = vfu_client_send_locked(c, &req, cmd, iov, iovcnt, fds, nfds, reply != NULL);
	if (ret < 0 || !reply)
		return ret;
	return vfu_client_recv_locked(c, &req, max_reply_fds, reply, place, opaque);
}

int vfu_client_exchange(struct vfu_client *c, uint16_t cmd, const struct iovec *iov, int iovcnt,
			const int *fds, size_t nfds, size_t max_reply_fds, struct vfu_msg *reply)
{
	int ret;

	pthread_mutex_lock(&c->lock);
	ret = exchange_locked(c, cmd, iov, iovcnt, fds, nfds, max_reply_fds, reply, NULL, NULL);
	pthread_mutex_unlock(&c->lock);
	return ret;
}

/* A command with a fixed request struct and no fds whose reply has at least min_reply bytes. */
static int simple_call(struct vfu_client *c, uint16_t cmd, const void *req, size_t req_len,
		       size_t min_reply, size_t max_reply, struct vfu_msg *reply)
{
	struct iovec iov = { .iov_base = (void *)req, .iov_len = req_len };
	int ret = vfu_client_exchange(c, cmd, &iov, req_len ? 1 : 0, NULL, 0, 0, reply);

	if (ret < 0)
		return ret;
	if (reply->payload_len < min_reply || reply->payload_len > max_reply) {
		log_err("vfio-user: reply to %s has %zu payload bytes, expected %zu..%zu",
			vfu_command_name(cmd), reply->payload_len, min_reply, max_reply);
		vfu_msg_release(reply);
		return -EPROTO;
	}
	return 0;
}

static int connect_unix(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd, ret;

	if (strlen(path) >= sizeof(addr.sun_path))
		return -ENAMETOOLONG;
	memcpy(addr.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		ret = -errno;
		close(fd);
		return ret;
	}
	return fd;
}

/* Large migration writes: the kernel takes more per sendmsg() (best effort, capped by
 * net.core.wmem_max). */
static void big_sndbuf(int sock)
{
	int v = 4 << 20;

	if (setsockopt(sock, SOL_SOCKET, SO_SNDBUF, &v, sizeof(v)) < 0)
		log_debug("vfio-user: SO_SNDBUF: %s", strerror(errno));
}

/* A blocking read of a reply waits at most timeout_ms (-1: forever). */
static void set_rcvtimeo(struct vfu_client *c)
{
	struct timeval tv = { 0 };

	if (c->timeout_ms > 0) {
		tv.tv_sec = c->timeout_ms / 1000;
		tv.tv_usec = (c->timeout_ms % 1000) * 1000;
	}
	c->rcvtimeo = c->timeout_ms != 0 &&
		      setsockopt(c->sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)) == 0;
}

static void client_free(struct vfu_client *c)
{
	vfu_client_ra_drop(c);
	vfu_client_stop_twin(c);
	if (c->twin >= 0)
		close(c->twin);
	if (c->sock >= 0)
		close(c->sock);
	vfu_rxbuf_free(&c->rxb);
	pthread_mutex_destroy(&c->lock);
	pthread_mutex_destroy(&c->dma_lock);
	free(c);
}

static int vu_open(struct uvfio_handle *h, const char *path)
{
	struct vfu_client *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return -ENOMEM;
	c->twin = -1;
	c->stop_fd = -1;
	c->timeout_ms = VFU_CLIENT_DEFAULT_TIMEOUT_MS;
	vfu_rxbuf_init(&c->rxb);
	pthread_mutex_init(&c->lock, NULL);
	pthread_mutex_init(&c->dma_lock, NULL);
	c->sock = connect_unix(path);
	if (c->sock < 0) {
		ret = c->sock;
		log_err("vfio-user: cannot connect to %s: %s", path, strerror(-ret));
		client_free(c);
		return ret;
	}
	set_rcvtimeo(c);
	ret = vfu_client_negotiate(c);
	if (ret == 0 && c->peer.uvfio_xfer > VFU_CLIENT_STD_XFER)
		big_sndbuf(c->sock);
	if (ret == 0 && c->twin >= 0)
		ret = vfu_client_start_twin(c);
	if (ret < 0) {
		client_free(c);
		return ret;
	}
	h->priv = c;
	return 0;
}

static void vu_close(struct uvfio_handle *h)
{
	client_free(client_of(h));
	h->priv = NULL;
}

int uvfio_vfio_user_set_timeout(struct uvfio_handle *h, int timeout_ms)
{
	struct vfu_client *c = client_of(h);

	pthread_mutex_lock(&c->lock);
	c->timeout_ms = timeout_ms;
	set_rcvtimeo(c);
	pthread_mutex_unlock(&c->lock);
	return 0;
}

static int vu_get_device_info(struct uvfio_handle *h, struct uvfio_device_info *info)
{
	struct vfu_device_info req = { .argsz = sizeof(req) }, rep;
	struct vfu_msg reply;
	int ret = simple_call(client_of(h), VFU_CMD_DEVICE_GET_INFO, &req, sizeof(req),
			      sizeof(rep), sizeof(rep), &reply);

	if (ret < 0)
		return ret;
	memcpy(&rep, reply.payload, sizeof(rep));
	vfu_msg_release(&reply);
	if (rep.num_regions > MAX_REGIONS || rep.num_irqs > MAX_IRQ_INDEXES) {
		log_err("vfio-user: device claims %u regions, %u irq indexes", rep.num_regions,
			rep.num_irqs);
		return -EPROTO;
	}
	info->flags = rep.flags;
	info->num_regions = rep.num_regions;
	info->num_irqs = rep.num_irqs;
	return 0;
}

static int vu_get_region_info(struct uvfio_handle *h, uint32_t index,
			      struct uvfio_region_info *info)
{
	return vfu_client_region_info(client_of(h), index, info, NULL);
}

static size_t vu_max_rw(struct uvfio_handle *h)
{
	return vfu_client_xfer(client_of(h));
}

static bool access_echo_ok(const uint8_t *payload, const struct vfu_region_access *req)
{
	struct vfu_region_access rep;

	memcpy(&rep, payload, sizeof(rep));
	return rep.offset == req->offset && rep.region == req->region && rep.count == req->count;
}

static ssize_t vu_region_rw(struct uvfio_handle *h, uint32_t index, uint64_t offset, void *buf,
			    size_t count, bool is_write, bool posted)
{
	struct vfu_client *c = client_of(h);
	struct vfu_region_access req = { .offset = offset, .region = index,
					 .count = (uint32_t)count };
	struct iovec iov[2] = { { &req, sizeof(req) }, { buf, count } };
	size_t want = sizeof(req) + (is_write ? 0 : count);
	uint16_t cmd = is_write ? VFU_CMD_REGION_WRITE : VFU_CMD_REGION_READ;
	struct vfu_msg reply;
	int ret;

	if (count > vu_max_rw(h))
		return -EINVAL;
	if (posted) {
		ret = vfu_client_exchange(c, cmd, iov, is_write ? 2 : 1, NULL, 0, 0, NULL);
		return ret < 0 ? ret : (ssize_t)count;
	}
	ret = vfu_client_exchange(c, cmd, iov, is_write ? 2 : 1, NULL, 0, 0, &reply);
	if (ret < 0)
		return ret;
	if (reply.payload_len != want || !access_echo_ok(reply.payload, &req)) {
		log_err("vfio-user: %s reply of %zu bytes does not match the request",
			vfu_command_name(cmd), reply.payload_len);
		vfu_msg_release(&reply);
		return -EPROTO;
	}
	if (!is_write)
		memcpy(buf, reply.payload + sizeof(req), count);
	vfu_msg_release(&reply);
	return (ssize_t)count;
}

static int vu_region_mmap(struct uvfio_handle *h, uint32_t index, uint64_t offset, size_t len,
			  int prot, void **addr)
{
	struct uvfio_region_info info = { 0 };
	bool inside = false;
	int fd = -1, ret;
	void *p;

	ret = vfu_client_region_info(client_of(h), index, &info, &fd);
	if (ret < 0)
		return ret;
	if (!(info.flags & VFIO_REGION_INFO_FLAG_MMAP) || fd < 0) {
		ret = -ENOTSUP;
		goto out;
	}
	inside = offset + len <= info.size && !info.nr_sparse;
	for (uint32_t i = 0; i < info.nr_sparse; i++) {
		const struct uvfio_sparse_area *a = &info.sparse[i];

		if (offset >= a->offset && offset + len <= a->offset + a->size)
			inside = true;
	}
	if (!inside || (info.offset + offset) % (uint64_t)sysconf(_SC_PAGESIZE)) {
		ret = -EINVAL;
		goto out;
	}
	p = mmap(NULL, len, prot, MAP_SHARED, fd, (off_t)(info.offset + offset));
	if (p == MAP_FAILED) {
		ret = -errno;
		goto out;
	}
	*addr = p;
out:
	if (fd >= 0)
		close(fd);
	return ret;
}

static int vu_get_irq_info(struct uvfio_handle *h, uint32_t index, struct uvfio_irq_info *info)
{
	struct vfu_irq_info req = { .argsz = sizeof(req), .index = index }, rep;
	struct vfu_msg reply;
	int ret = simple_call(client_of(h), VFU_CMD_DEVICE_GET_IRQ_INFO, &req, sizeof(req),
			      sizeof(rep), sizeof(rep), &reply);

	if (ret < 0)
		return ret;
	memcpy(&rep, reply.payload, sizeof(rep));
	vfu_msg_release(&reply);
	if (rep.index != index) {
		log_err("vfio-user: irq info for index %u answered with %u", index, rep.index);
		return -EPROTO;
	}
	info->index = index;
	info->flags = rep.flags;
	info->count = rep.count;
	return 0;
}

static int set_irqs_msg(struct vfu_client *c, uint32_t flags, uint32_t index, uint32_t start,
			uint32_t count, const void *data, size_t data_len, const int *fds,
			size_t nfds)
{
	struct vfu_irq_set req = { .argsz = (uint32_t)(sizeof(req) + data_len), .flags = flags,
				   .index = index, .start = start, .count = count };
	struct iovec iov[2] = { { &req, sizeof(req) }, { (void *)data, data_len } };
	struct vfu_msg reply;
	int ret = vfu_client_exchange(c, VFU_CMD_DEVICE_SET_IRQS, iov, data_len ? 2 : 1, fds, nfds,
				      0, &reply);

	if (ret < 0)
		return ret;
	ret = reply.payload_len ? -EPROTO : 0;
	vfu_msg_release(&reply);
	return ret;
}

/* Eventfds travel as SCM_RIGHTS, at most the server's max_msg_fds per message; a run of -1
 * entries de-assigns those vectors (a DATA_EVENTFD message without fds). */
static int set_irqs_eventfd(struct vfu_client *c, uint32_t flags, uint32_t index,
			    uint32_t start, uint32_t count, const int32_t *fds)
{
	uint32_t max = c->peer.max_msg_fds ? c->peer.max_msg_fds : 1;
	uint32_t i = 0;

	while (i < count) {
		bool assign = fds[i] >= 0;
		uint32_t n = 1;
		int sent[VFU_OUR_MAX_MSG_FDS];
		int ret;

		while (i + n < count && (fds[i + n] >= 0) == assign && (!assign || n < max))
			n++;
		for (uint32_t k = 0; assign && k < n; k++)
			sent[k] = fds[i + k];
		ret = set_irqs_msg(c, flags, index, start + i, n, NULL, 0, assign ? sent : NULL,
				   assign ? n : 0);
		if (ret < 0)
			return ret;
		i += n;
	}
	return 0;
}

static int vu_set_irqs(struct uvfio_handle *h, uint32_t flags, uint32_t index, uint32_t start,
		       uint32_t count, const void *data)
{
	struct vfu_client *c = client_of(h);

	if (flags & VFIO_IRQ_SET_DATA_EVENTFD) {
		if (count > 4096)
			return -EINVAL;
		if (count)
			return set_irqs_eventfd(c, flags, index, start, count, data);
	}
	if ((flags & VFIO_IRQ_SET_DATA_BOOL) && count > data_max(c))
		return -EINVAL;
	return set_irqs_msg(c, flags, index, start, count, data,
			    (flags & VFIO_IRQ_SET_DATA_BOOL) ? count : 0, NULL, 0);
}

static int vu_reset(struct uvfio_handle *h)
{
	struct vfu_msg reply;
	int ret = simple_call(client_of(h), VFU_CMD_DEVICE_RESET, NULL, 0, 0, 0, &reply);

	if (ret < 0)
		return ret;
	vfu_msg_release(&reply);
	return 0;
}

/* A state change that leaves the saving states ends the session: migration data read ahead in
 * it belongs to no later read. */
static void drop_read_ahead_on_session_end(struct vfu_client *c, uint32_t flags, const void *data,
					   size_t len)
{
	uint32_t target;

	if (!(flags & VFIO_DEVICE_FEATURE_SET) ||
	    (flags & VFIO_DEVICE_FEATURE_MASK) != VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE ||
	    len < sizeof(target))
		return;
	memcpy(&target, data, sizeof(target));
	if (uvfio_mig_state_saving(target))
		return;
	pthread_mutex_lock(&c->lock);
	vfu_client_ra_drop(c);
	pthread_mutex_unlock(&c->lock);
}

static int vu_device_feature(struct uvfio_handle *h, uint32_t flags, const void *data, size_t len,
			     void *out, size_t *out_len)
{
	size_t room = out ? *out_len : 0;
	struct vfu_device_feature req = { .flags = flags };
	struct iovec iov[2] = { { &req, sizeof(req) }, { (void *)data, len } };
	struct vfu_msg reply;
	size_t got;
	int ret;

	if (len > data_max(client_of(h)) || room > data_max(client_of(h)))
		return -EINVAL;
	req.argsz = (uint32_t)(sizeof(req) + (len > room ? len : room));
	ret = vfu_client_exchange(client_of(h), VFU_CMD_DEVICE_FEATURE, iov, len ? 2 : 1, NULL, 0,
				  0, &reply);
	if (ret < 0)
		return ret;
	drop_read_ahead_on_session_end(client_of(h), flags, data, len);
	if (reply.payload_len < sizeof(req) || reply.payload_len > req.argsz) {
		vfu_msg_release(&reply);
		return -EPROTO;
	}
	got = reply.payload_len - sizeof(req);
	if (out) {
		memcpy(out, reply.payload + sizeof(req), got < room ? got : room);
		*out_len = got;
	}
	vfu_msg_release(&reply);
	return 0;
}

static int vu_ioas_attach(struct uvfio_handle *h, struct uvfio_ioas *ioas)
{
	struct vfu_client *c = client_of(h);

	pthread_mutex_lock(&c->dma_lock);
	c->ioas = ioas;
	pthread_mutex_unlock(&c->dma_lock);
	return 0;
}

static void vu_ioas_detach(struct uvfio_handle *h, struct uvfio_ioas *ioas)
{
	struct vfu_client *c = client_of(h);

	pthread_mutex_lock(&c->dma_lock);
	c->ioas = NULL;
	pthread_mutex_unlock(&c->dma_lock);
}

static int vu_dma_map(struct uvfio_handle *h, struct uvfio_ioas *ioas, uint64_t iova,
		      uint64_t size, uint32_t prot, int fd, uint64_t fd_offset, void *vaddr)
{
	struct vfu_client *c = client_of(h);
	uint64_t pgsize = c->peer.pgsizes & -c->peer.pgsizes; /* the smallest page size */
	struct vfu_dma_map req = { .argsz = sizeof(req), .offset = fd >= 0 ? fd_offset : 0,
				   .addr = iova, .size = size };
	struct iovec iov = { &req, sizeof(req) };
	struct vfu_msg reply;
	int ret;

	if (iova % pgsize || size % pgsize)
		return -EINVAL;
	if (c->nr_dma_maps >= c->peer.max_dma_maps)
		return -ENOSPC;
	req.flags = (prot & UVFIO_IOAS_READ ? VFU_DMA_FLAG_READ : 0) |
		    (prot & UVFIO_IOAS_WRITE ? VFU_DMA_FLAG_WRITE : 0);
	ret = vfu_client_exchange(c, VFU_CMD_DMA_MAP, &iov, 1, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0, 0,
		       &reply);
	if (ret < 0)
		return ret;
	ret = reply.payload_len ? -EPROTO : 0;
	vfu_msg_release(&reply);
	if (ret == 0)
		c->nr_dma_maps++;
	return ret;
}

static int vu_dma_unmap(struct uvfio_handle *h, struct uvfio_ioas *ioas, uint64_t iova,
			uint64_t size)
{
	struct vfu_client *c = client_of(h);
	struct vfu_dma_unmap req = { .argsz = sizeof(req), .addr = iova, .size = size }, rep;
	struct iovec iov = { &req, sizeof(req) };
	struct vfu_msg reply;
	int ret = vfu_client_exchange(c, VFU_CMD_DMA_UNMAP, &iov, 1, NULL, 0, 0, &reply);

	if (ret < 0)
		return ret;
	/* The spec echoes the entry; a header-only reply is accepted as QEMU does. */
	if (reply.payload_len == sizeof(rep)) {
		memcpy(&rep, reply.payload, sizeof(rep));
		ret = rep.addr == iova && rep.size == size ? 0 : -EPROTO;
	} else {
		ret = reply.payload_len ? -EPROTO : 0;
	}
	vfu_msg_release(&reply);
	if (ret == 0 && c->nr_dma_maps)
		c->nr_dma_maps--;
	return ret;
}

const struct uvfio_backend_ops uvfio_vfio_user_backend = {
	.name = "vfio-user",
	.open = vu_open,
	.close = vu_close,
	.get_device_info = vu_get_device_info,
	.get_region_info = vu_get_region_info,
	.region_rw = vu_region_rw,
	.max_rw = vu_max_rw,
	.region_mmap = vu_region_mmap,
	.region_ioeventfds = vfu_client_region_io_fds,
	.get_irq_info = vu_get_irq_info,
	.set_irqs = vu_set_irqs,
	.reset = vu_reset,
	.device_feature = vu_device_feature,
	.mig_data_rw = vfu_client_mig_data_rw,
	.mig_precopy_info = vfu_client_mig_precopy_info,
	.ioas_attach = vu_ioas_attach,
	.ioas_detach = vu_ioas_detach,
	.dma_map = vu_dma_map,
	.dma_unmap = vu_dma_unmap,
};
