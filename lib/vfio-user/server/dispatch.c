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
#include <sys/stat.h>
#include <unistd.h>

#include <uvfio/dma.h>

#include "dma/gate.h"
#include "vfio-user/server/dispatch_mig.h"
#include "vfio-user/server/server_priv.h"
#include "util/log.h"

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

	if (c->versioned) {
		log_warn("server: %s: VERSION after the handshake", dev_name(c));
		return -EINVAL;
	}
	if (m->nfds) {
		log_warn("server: %s: VERSION carries %zu fds", dev_name(c), m->nfds);
		return -EINVAL;
	}
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
		return -EINVAL;
	return 0;
}

static int handle_dma_map(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_dma_map d;

	if (m->payload_len != sizeof(d) || m->nfds > 1) {
		log_warn("server: %s: DMA_MAP of %zu bytes with %zu fds", dev_name(c),
			 m->payload_len, m->nfds);
		return -EINVAL;
	}
	memcpy(&d, m->payload, sizeof(d));
	if (d.argsz < sizeof(d) || (d.flags & ~(VFU_DMA_FLAG_READ | VFU_DMA_FLAG_WRITE))) {
		log_warn("server: %s: DMA_MAP argsz %u flags 0x%x", dev_name(c), d.argsz, d.flags);
		return -EINVAL;
	}
	int fd = m->nfds ? m->fds[0] : -1;
	if (fd >= 0 && check_map_fd(fd, d.offset, d.size) < 0) {
		log_warn("server: %s: DMA_MAP fd does not cover offset 0x%llx size 0x%llx",
			 dev_name(c), (unsigned long long)d.offset, (unsigned long long)d.size);
		return -EINVAL;
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
		return -EINVAL;
	d = (struct vfu_dma_unmap *)m->payload;
	if (d->argsz < sizeof(*d))
		return -EINVAL;
	if (d->flags & VFU_DMA_UNMAP_FLAG_GET_DIRTY_BITMAP) {
		log_warn("server: %s: 0.9.1 dirty bitmaps not supported", dev_name(c));
		return -EINVAL;
	}
	if (d->flags & ~VFU_DMA_UNMAP_FLAG_ALL)
		return -EINVAL;
	if (d->flags & VFU_DMA_UNMAP_FLAG_ALL) {
		if (d->addr || d->size)
			return -EINVAL;
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
		return -EINVAL;
	return uvfio_device_reset(c->sd->dev);
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
		log_warn("server: %s: DIRTY_PAGES (0.9.1) not supported", dev_name(c));
		return -ENOTSUP;
	default:
		log_warn("server: %s: unknown command %u", dev_name(c), m->hdr.cmd);
		return -EINVAL;
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

void dispatch_msg(struct vfu_conn *c, struct vfu_msg *m, int bad)
{
	struct vfu_reply r = { 0 };
	uint32_t type = m->hdr.flags & VFU_F_TYPE_MASK;

	log_debug("server: %s: %s msg_id %u, %u bytes, %zu fds", dev_name(c),
		  vfu_command_name(m->hdr.cmd), m->hdr.msg_id, m->hdr.msg_size, m->nfds);
	if (bad) {
		log_warn("server: %s: rejected %s (msg_size %u, %zu fds): %s", dev_name(c),
			 vfu_command_name(m->hdr.cmd), m->hdr.msg_size, m->nfds, strerror(bad));
		conn_error(c, &m->hdr, bad);
		return;
	}
	if (type == VFU_F_TYPE_REPLY) {
		conn_handle_reply(c, m);
		return;
	}
	if (type != VFU_F_TYPE_COMMAND) {
		log_warn("server: %s: message type %u is not a command", dev_name(c), type);
		conn_error(c, &m->hdr, EINVAL);
		return;
	}
	if (m->nfds && !takes_fds(m->hdr.cmd))
		drop_fds(c, m);
	if (!c->versioned && m->hdr.cmd != VFU_CMD_VERSION) {
		log_warn("server: %s: %s before VERSION", dev_name(c), vfu_command_name(m->hdr.cmd));
		conn_error(c, &m->hdr, EINVAL);
		return;
	}
	int ret = route(c, m, &r);
	if (ret < 0) {
		log_warn("server: %s: %s failed: %s", dev_name(c), vfu_command_name(m->hdr.cmd),
			 strerror(-ret));
		conn_error(c, &m->hdr, -ret);
	} else if (!r.sent) {
		conn_reply(c, &m->hdr, &r);
	}
	if (r.free_payload)
		free(r.payload);
	for (size_t i = 0; r.close_fds && i < r.nfds; i++)
		close(r.fds[i]);
}
