/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: a vfio-user client talking to a live server with one device behind it (FUZZ_DEVICE,
 * a declaration such as "edu" or "edu-mig,mem=64K"; tests/fuzz/meson.build builds one target per
 * device). The harness negotiates VERSION itself, so the fuzzer starts past the handshake, then
 * sends a sequence of framed messages with fds attached where a record asks for them (memfds
 * for DMA_MAP, eventfds for SET_IRQS and REGION_IO_FDS). It answers the server's own DMA_READ/
 * DMA_WRITE requests. The server must answer or drop the connection, never crash, leak or hang,
 * and must keep serving: the next input's VERSION must get a good reply.
 *
 * Input: [mode] then records [cmd][fdspec][len lo][len hi][payload: len bytes] (see
 * tests/fuzz/README.md). mode bits 0-1 pick the VERSION proposal, bit 2 makes the harness
 * answer the server's DMA requests with an error.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#include "vfio-user/wire.h"

#ifndef FUZZ_DEVICE
#define FUZZ_DEVICE "edu"
#endif

#define MAX_STEPS 5000 /* dispatch rounds before we call it a hang */

static struct uvfio_server *server;
static char sock_path[108];
static int memfd = -1;
static bool dma_error;
static bool desync; /* a record framed badly: replies no longer match what we sent */

static const char *const proposals[4] = {
	"{}",
	"{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576,\"pgsizes\":4096,"
	"\"migration\":{\"pgsize\":4096},\"write_multiple\":true}}",
	"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":65536,"
	"\"uvfio\":{\"precopy_info\":true,\"max_data_xfer_size\":65536}}}",
	"{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":4096,"
	"\"migration\":{\"pgsize\":4096,\"max_bitmap_size\":4096}}}",
};

static void setup(void)
{
	struct uvfio_server_config cfg = { .msg_timeout_ms = 200 };
	struct uvfio_pci_device *pdev;
	char dir[] = "/tmp/uvfio-fuzz-XXXXXX";

	uvfio_log_set_level(0);
	if (!mkdtemp(dir))
		abort();
	snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
	uvfio_register_builtin_drivers();
	server = uvfio_server_new(&cfg);
	if (!server || uvfio_pci_create(FUZZ_DEVICE, &pdev) ||
	    uvfio_server_add_device(server, uvfio_pci_to_device(pdev), sock_path))
		abort();
	/* Guest RAM the fuzzer maps windows of: 1 MiB, whatever offset and size it asks for. */
	memfd = memfd_create("fuzz-ram", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, 1 << 20))
		abort();
}

static int connect_client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	if (fd < 0)
		abort();
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EISCONN) {
		if (errno != EAGAIN && errno != EINPROGRESS)
			abort();
		uvfio_server_dispatch(server, 0);
	}
	return fd;
}

/* Send all of buf (fds with the first byte), dispatching the server while the socket is full. */
static int send_all(int fd, const void *buf, size_t len, const int *fds, int nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 4)];
		struct cmsghdr align;
	} u;
	size_t off = 0;

	while (off < len) {
		struct iovec iov = { (char *)buf + off, len - off };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
		ssize_t n;

		if (off == 0 && nfds) {
			struct cmsghdr *c;

			memset(&u, 0, sizeof(u));
			mh.msg_control = u.buf;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * (size_t)nfds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * (size_t)nfds);
			memcpy(CMSG_DATA(c), fds, sizeof(int) * (size_t)nfds);
		}
		n = sendmsg(fd, &mh, MSG_NOSIGNAL);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno == EAGAIN)
			uvfio_server_dispatch(server, 1);
		else
			return -1;
	}
	return 0;
}

/* Read one whole message (blocking through dispatch), into a malloc'ed buffer. */
static uint8_t *recv_msg(int fd, struct vfu_hdr *hdr)
{
	uint8_t *body = NULL;
	size_t got = 0, want = sizeof(*hdr);

	for (int i = 0; i < MAX_STEPS; i++) {
		uint8_t *dst = got < sizeof(*hdr) ? (uint8_t *)hdr + got : body + got - sizeof(*hdr);
		ssize_t n = got < want ? read(fd, dst, (got < sizeof(*hdr) ? sizeof(*hdr) : want) - got)
				       : 0;

		if (got == want && got >= sizeof(*hdr))
			return body ? body : malloc(1);
		if (n == 0 || (n < 0 && errno != EAGAIN)) {
			free(body);
			return NULL;
		}
		if (n < 0) {
			uvfio_server_dispatch(server, 1);
			continue;
		}
		got += (size_t)n;
		if (got == sizeof(*hdr)) {
			if (hdr->msg_size < sizeof(*hdr) || hdr->msg_size > (64u << 20))
				abort(); /* the server framed garbage */
			want = hdr->msg_size;
			body = malloc(want - sizeof(*hdr) + 1);
		}
	}
	abort(); /* the server neither answered nor closed: a hang */
}

/* The server asked us for DMA (a window mapped without an fd): answer it like a client. */
static int answer_dma(int fd, const struct vfu_hdr *req, const uint8_t *body)
{
	static uint8_t zeros[1 << 16];
	const struct vfu_dma_access *a = (const struct vfu_dma_access *)body;
	size_t plen = req->msg_size - sizeof(*req);
	struct vfu_hdr h = { .msg_id = req->msg_id, .cmd = req->cmd, .flags = VFU_F_TYPE_REPLY };
	struct vfu_dma_access echo;
	uint64_t count;

	if (plen < sizeof(echo) || dma_error) {
		h.flags |= VFU_F_ERROR;
		h.error_no = EFAULT;
		h.msg_size = sizeof(h);
		return send_all(fd, &h, sizeof(h), NULL, 0);
	}
	echo = *a;
	count = req->cmd == VFU_CMD_DMA_READ && a->count <= sizeof(zeros) ? a->count : 0;
	h.msg_size = (uint32_t)(sizeof(h) + sizeof(echo) + count);
	if (send_all(fd, &h, sizeof(h), NULL, 0) || send_all(fd, &echo, sizeof(echo), NULL, 0))
		return -1;
	return count ? send_all(fd, zeros, count, NULL, 0) : 0;
}

/* Wait for the reply to msg_id, answering the server's requests meanwhile. -1: it hung up. */
static int await_reply(int fd, uint16_t msg_id, struct vfu_hdr *reply)
{
	for (;;) {
		uint8_t *body = recv_msg(fd, reply);

		if (!body)
			return -1;
		if ((reply->flags & VFU_F_TYPE_MASK) == VFU_F_TYPE_COMMAND &&
		    (reply->cmd == VFU_CMD_DMA_READ || reply->cmd == VFU_CMD_DMA_WRITE)) {
			int ret = answer_dma(fd, reply, body);

			free(body);
			if (ret)
				return -1;
			continue;
		}
		free(body);
		if (reply->msg_id == msg_id)
			return 0;
	}
}

static int handshake(int fd, unsigned which)
{
	const char *json = proposals[which % 4];
	size_t jlen = strlen(json) + 1;
	uint8_t msg[sizeof(struct vfu_hdr) + sizeof(struct vfu_version) + 256];
	struct vfu_hdr *h = (struct vfu_hdr *)msg;
	struct vfu_version *v = (struct vfu_version *)(h + 1);
	struct vfu_hdr reply;

	*h = (struct vfu_hdr){ .msg_id = 1, .cmd = VFU_CMD_VERSION,
			       .msg_size = (uint32_t)(sizeof(*h) + sizeof(*v) + jlen) };
	v->major = VFU_MAJOR;
	v->minor = which == 3 ? 0 : VFU_MINOR;
	memcpy(v->data, json, jlen);
	if (send_all(fd, msg, h->msg_size, NULL, 0) || await_reply(fd, 1, &reply) ||
	    reply.cmd != VFU_CMD_VERSION || (reply.flags & VFU_F_ERROR))
		return -1;
	return 0;
}

/* fdspec: bits 0-1 number of fds, 2-3 their kind, 4 NO_REPLY, 5 reply type (wrong direction),
 * 6 msg_size off by the next payload byte (framing errors), 7 don't wait for the reply. */
static int send_record(int fd, uint16_t msg_id, uint8_t cmd, uint8_t fdspec, const uint8_t *p,
		       size_t len)
{
	struct vfu_hdr h = { .msg_id = msg_id, .cmd = cmd, .msg_size = (uint32_t)(sizeof(h) + len) };
	int fds[3], nfds = fdspec & 3, ret;
	struct vfu_hdr reply;

	if (fdspec & 0x10)
		h.flags |= VFU_F_NO_REPLY;
	if (fdspec & 0x20)
		h.flags |= VFU_F_TYPE_REPLY;
	if ((fdspec & 0x40) && len)
		h.msg_size = (uint32_t)(sizeof(h) + len - 1 - (p[0] % len)); /* claims less */
	for (int i = 0; i < nfds; i++) {
		switch ((fdspec >> 2) & 3) {
		case 0:
			fds[i] = dup(memfd);
			break;
		case 1:
			fds[i] = eventfd(0, EFD_CLOEXEC);
			break;
		case 2:
			fds[i] = open("/dev/null", O_RDWR | O_CLOEXEC);
			break;
		default:
			fds[i] = i == 0 ? eventfd(0, EFD_CLOEXEC) : dup(memfd);
			break;
		}
		if (fds[i] < 0)
			abort();
	}
	ret = send_all(fd, &h, sizeof(h), fds, nfds);
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	if (ret || (len && send_all(fd, p, len, NULL, 0)))
		return -1;
	if (fdspec & 0x40)
		desync = true;
	if ((fdspec & 0xf0) || desync)
		return 0; /* no reply expected (NO_REPLY, a "reply" to nothing, framing off) */
	return await_reply(fd, msg_id, &reply);
}

/* Drain until the server closes, answering its DMA requests. */
static void finish(int fd)
{
	struct vfu_hdr h;

	shutdown(fd, SHUT_WR);
	while (await_reply(fd, 0xffff, &h) == 0)
		;
	close(fd);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint16_t msg_id = 2;
	size_t off = 1;
	int fd;

	if (!server)
		setup();
	if (size < 1)
		return 0;
	dma_error = data[0] & 4;
	desync = false;
	fd = connect_client();
	if (handshake(fd, data[0] & 3))
		abort(); /* a previous input left the server unable to serve */
	while (off + 4 <= size) {
		uint8_t cmd = data[off], fdspec = data[off + 1];
		size_t len = data[off + 2] | (size_t)data[off + 3] << 8;

		off += 4;
		if (len > size - off)
			len = size - off;
		if (send_record(fd, msg_id++, cmd, fdspec, data + off, len))
			break;
		off += len;
	}
	finish(fd);
	return 0;
}
