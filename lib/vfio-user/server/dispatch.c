/* SPDX-License-Identifier: MIT */
/*
 * Command routing and the connection-level commands (VERSION, DMA_MAP/UNMAP, RESET). Every
 * handler checks msg_size against its struct before reading the payload; a failed check is an
 * error reply (header only) and the connection goes on.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uvfio/dma.h>

#include "dma/gate.h"
#include "vfio-user/server/dispatch_mig.h"
#include "vfio-user/server/server_priv.h"
#include "util/log.h"
#include "util/reason.h"

static const char *dev_name(struct vfu_conn *c)
{
	return uvfio_device_name(c->sd->dev);
}

/* Logs about the client's memory say whose it is: device and client pid. */
static void set_dma_label(struct vfu_conn *c)
{
	struct ucred cred = { 0 };
	socklen_t len = sizeof(cred);
	char label[96];

	if (getsockopt(c->sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		cred.pid = 0;
	snprintf(label, sizeof(label), "%s (client pid %d)", dev_name(c), (int)cred.pid);
	dma_space_set_label(uvfio_device_dma_space(c->sd->dev), label);
}

static int handle_version(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_negotiated neg;
	char *json;
	size_t jlen;

	if (c->versioned)
		return refuse(EINVAL, "VERSION after the handshake");
	if (m->nfds)
		return refuse(EINVAL, "VERSION carries %zu fds", m->nfds);
	int ret = vfu_version_negotiate(m->payload, m->payload_len, &c->sd->srv->limits, &neg,
					&json, &jlen);
	if (ret < 0)
		return ret;
	struct vfu_version v = { .major = VFU_MAJOR, .minor = neg.minor };
	r->len = sizeof(v) + jlen;
	r->payload = malloc(r->len);
	if (!r->payload) {
		free(json);
		return -ENOMEM;
	}
	r->free_payload = true;
	memcpy(r->payload, &v, sizeof(v));
	memcpy((uint8_t *)r->payload + sizeof(v), json, jlen);
	free(json);
	int sv[2] = { -1, -1 };
	if (neg.twin_socket && socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0)
		return -errno;
	if (sv[1] >= 0) {
		r->fds[0] = sv[1];
		r->nfds = 1;
		r->close_fds = true;
	}
	/* DMA handler threads read these once versioned is set. */
	pthread_mutex_lock(&c->lock);
	c->twin_fd = sv[0];
	c->neg = neg;
	c->versioned = true;
	pthread_mutex_unlock(&c->lock);
	uvfio_dma_space_set_max_windows(uvfio_device_dma_space(c->sd->dev), neg.max_dma_maps);
	set_dma_label(c);
	log_info("server: %s: negotiated 0.%u, max_data_xfer_size %u, %s", dev_name(c),
		 neg.minor, neg.max_data_xfer_size, neg.twin_socket ? "twin socket" : "one socket");
	return 0;
}

/* An fd must cover [offset, offset+size) or touching the mapping would SIGBUS the server. */
static int check_map_fd(int fd, uint64_t offset, uint64_t size)
{
	struct stat st;

	if (fstat(fd, &st) < 0)
		return -errno;
	if (!S_ISREG(st.st_mode))
		return 0; /* devices and the like: mmap() itself decides */
	if (offset > (uint64_t)st.st_size || size > (uint64_t)st.st_size - offset)
		return refuse(EINVAL, "the fd (0x%llx bytes) does not cover offset 0x%llx "
			      "size 0x%llx", (unsigned long long)st.st_size,
			      (unsigned long long)offset,
			      (unsigned long long)size);
	return 0;
}

static int handle_dma_map(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_dma_map d;

	if (m->payload_len != sizeof(d) || m->nfds > 1)
		return refuse(EINVAL, "%zu payload bytes (want %zu) with %zu fds (at most 1)",
			      m->payload_len, sizeof(d), m->nfds);
	memcpy(&d, m->payload, sizeof(d));
	if (d.argsz < sizeof(d))
		return refuse(EINVAL, "argsz %u < %zu", d.argsz, sizeof(d));
	if (d.flags & ~(VFU_DMA_FLAG_READ | VFU_DMA_FLAG_WRITE))
		return refuse(EINVAL, "unknown flags 0x%x", d.flags);
	int fd = m->nfds ? m->fds[0] : -1;
	/* The kernel's rule for VFIO_IOMMU_MAP_DMA: iova, size (and the memory behind) aligned
	 * to the smallest IOMMU page size; ours is the one negotiated in VERSION. */
	uint64_t pg = c->neg.pgsizes & -c->neg.pgsizes;
	if (!pg || d.size == 0 || ((d.addr | d.size | (fd >= 0 ? d.offset : 0)) & (pg - 1)))
		return refuse(EINVAL, "addr 0x%llx size 0x%llx offset 0x%llx not aligned to the "
			      "page size 0x%llx (or size 0)", (unsigned long long)d.addr,
			      (unsigned long long)d.size, (unsigned long long)d.offset,
			      (unsigned long long)pg);
	if (fd >= 0) {
		int ret = check_map_fd(fd, d.offset, d.size);
		if (ret < 0)
			return ret;
	}
	int ret = uvfio_dma_space_add(uvfio_device_dma_space(c->sd->dev), d.addr, d.size,
				      d.flags, fd, d.offset);
	(void)r;
	return ret;
}

static int handle_dma_unmap(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_dma_unmap *d;
	struct uvfio_dma_space *space = uvfio_device_dma_space(c->sd->dev);

	if (m->payload_len != sizeof(*d))
		return refuse(EINVAL, "%zu payload bytes, want %zu", m->payload_len, sizeof(*d));
	d = (struct vfu_dma_unmap *)m->payload;
	if (d->argsz < sizeof(*d))
		return refuse(EINVAL, "argsz %u < %zu", d->argsz, sizeof(*d));
	if (d->flags & VFU_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP)
		return refuse(EINVAL, "0.9.1 dirty bitmaps are not supported");
	if (d->flags & ~VFU_DMA_UNMAP_FLAG_ALL)
		return refuse(EINVAL, "unknown flags 0x%x", d->flags);
	if (d->flags & VFU_DMA_UNMAP_FLAG_ALL) {
		if (d->addr || d->size)
			return refuse(EINVAL, "UNMAP_ALL with an address or size");
		uvfio_dma_space_remove_all(space);
	} else {
		int ret = uvfio_dma_space_remove(space, d->addr, d->size);
		if (ret < 0)
			return ret;
	}
	d->argsz = sizeof(*d);
	r->payload = d;
	r->len = sizeof(*d);
	return 0;
}

static int handle_reset(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	(void)r;
	if (m->payload_len != 0)
		return refuse(EINVAL, "DEVICE_RESET takes no payload");
	int ret = uvfio_device_reset(c->sd->dev);
	if (ret == -ENOTTY)
		reason_set("the device has no reset");
	return ret;
}

static int route(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	switch (m->hdr.cmd) {
	case VFU_CMD_VERSION:
		return handle_version(c, m, r);
	case VFU_CMD_DMA_MAP:
		return handle_dma_map(c, m, r);
	case VFU_CMD_DMA_UNMAP:
		return handle_dma_unmap(c, m, r);
	case VFU_CMD_DEVICE_GET_INFO:
		return handle_get_info(c, m, r);
	case VFU_CMD_DEVICE_GET_REGION_INFO:
		return handle_region_info(c, m, r);
	case VFU_CMD_DEVICE_GET_REGION_IO_FDS:
		return handle_region_io_fds(c, m, r);
	case VFU_CMD_DEVICE_GET_IRQ_INFO:
		return handle_irq_info(c, m, r);
	case VFU_CMD_DEVICE_SET_IRQS:
		return handle_set_irqs(c, m, r);
	case VFU_CMD_REGION_READ:
		return handle_region_read(c, m, r);
	case VFU_CMD_REGION_WRITE:
		return handle_region_write(c, m, r);
	case VFU_CMD_DEVICE_RESET:
		return handle_reset(c, m, r);
	case VFU_CMD_REGION_WRITE_MULTI:
		return handle_write_multi(c, m, r);
	case VFU_CMD_DEVICE_FEATURE:
		return handle_feature(c, m, r);
	case VFU_CMD_MIG_DATA_READ:
		return handle_mig_data_read(c, m, r);
	case VFU_CMD_MIG_DATA_WRITE:
		return handle_mig_data_write(c, m, r);
	case VFU_CMD_DIRTY_PAGES:
		return refuse(ENOTSUP, "DIRTY_PAGES (0.9.1) is not supported");
	default:
		return refuse(EINVAL, "unknown command %u", m->hdr.cmd);
	}
}

/* Commands that take fds; any other command's fds are closed unused. */
static bool takes_fds(uint16_t cmd)
{
	return cmd == VFU_CMD_DMA_MAP || cmd == VFU_CMD_DEVICE_SET_IRQS || cmd == VFU_CMD_VERSION;
}

static void drop_fds(struct vfu_conn *c, struct vfu_msg *m)
{
	log_warn("server: %s: closing %zu unexpected fds sent with %s", dev_name(c), m->nfds,
		 vfu_command_name(m->hdr.cmd));
	for (size_t i = 0; i < m->nfds; i++)
		if (m->fds[i] >= 0)
			close(m->fds[i]);
	m->nfds = 0;
}

/*
 * An error reply. With the uvfio error_reason extension negotiated it carries the reason the
 * refusing core gave, as a NUL-terminated string; otherwise it is the header alone, as the
 * spec has it.
 */
static void reply_error(struct vfu_conn *c, const struct vfu_hdr *req, int err,
			const char *reason)
{
	if (!reason || !c->neg.error_reason || (req->flags & VFU_F_NO_REPLY)) {
		conn_error(c, req, err);
		return;
	}
	struct vfu_hdr h = {
		.msg_id = req->msg_id,
		.cmd = req->cmd,
		.flags = VFU_F_TYPE_REPLY | VFU_F_ERROR,
		.error_no = (uint32_t)err,
	};
	struct iovec iov = { (void *)reason, strlen(reason) + 1 };
	if (conn_send(c, &h, &iov, 1, NULL, 0) < 0)
		conn_mark_dead(c);
}

/* Every refusal is logged once, here: device, command, reason. */
static void refused(struct vfu_conn *c, const struct vfu_hdr *req, int err)
{
	const char *why = reason_get();

	log_warn("server: %s: %s (msg_id %u) refused: %s%s%s", dev_name(c),
		 vfu_command_name(req->cmd), req->msg_id, why ? why : strerror(err),
		 why ? ": " : "", why ? strerror(err) : "");
	reply_error(c, req, err, why);
}

void (*vfu_dispatch_hook)(int sock, const struct vfu_hdr *hdr);

void dispatch_msg(struct vfu_conn *c, struct vfu_msg *m, int bad)
{
	struct vfu_reply r = { 0 };
	uint32_t type = m->hdr.flags & VFU_F_TYPE_MASK;

	if (vfu_dispatch_hook)
		vfu_dispatch_hook(c->sock, &m->hdr);
	log_debug("server: %s: %s msg_id %u, %u bytes, %zu fds", dev_name(c),
		  vfu_command_name(m->hdr.cmd), m->hdr.msg_id, m->hdr.msg_size, m->nfds);
	reason_clear();
	if (bad == E2BIG) {
		/* Nothing after the header was read, and nothing can be: where the next message
		 * starts is unknown. Refuse and close. */
		reason_set("msg_size %u exceeds the maximum of %zu; closing the connection",
			   m->hdr.msg_size, conn_max_msg_size(c));
		refused(c, &m->hdr, E2BIG);
		conn_mark_dead(c);
		return;
	}
	if (bad) {
		reason_set("malformed message (msg_size %u, %zu fds)", m->hdr.msg_size, m->nfds);
		refused(c, &m->hdr, bad);
		return;
	}
	if (type == VFU_F_TYPE_REPLY) {
		conn_handle_reply(c, m);
		return;
	}
	if (type != VFU_F_TYPE_COMMAND) {
		reason_set("message type %u is not a command", type);
		refused(c, &m->hdr, EINVAL);
		return;
	}
	if (m->nfds && !takes_fds(m->hdr.cmd))
		drop_fds(c, m);
	if (!c->versioned && m->hdr.cmd != VFU_CMD_VERSION) {
		reason_set("%s before VERSION", vfu_command_name(m->hdr.cmd));
		refused(c, &m->hdr, EINVAL);
		return;
	}
	int ret = route(c, m, &r);
	if (ret < 0)
		refused(c, &m->hdr, -ret);
	else if (!r.sent)
		conn_reply(c, &m->hdr, &r);
	if (r.free_payload)
		free(r.payload);
	for (size_t i = 0; r.close_fds && i < r.nfds; i++)
		close(r.fds[i]);
}
