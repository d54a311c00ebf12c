/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: arbitrary server messages to the client. After a valid handshake (offering
 * migration and uvfio's precopy_info) the client makes one call, chosen by byte 0 (0xff: the
 * input is the VERSION reply itself). The fake server answers the first requests the call makes
 * with a bare success reply and request number `skip` with the fuzzed bytes, then hangs up.
 * Those bytes may hold the server's own DMA_READ/DMA_WRITE requests before (or instead of) the
 * reply: byte 1 bit 0 attaches an IOAS with 64 KiB mapped at 0x10000 for them to reach.
 * Byte 1 bit 1 patches msg_id and cmd of every reply-type message to match the request (so
 * the fuzzer reaches the payload checks), bits 2-3 are skip. Replies covered: device, region and
 * irq info, region read/write, DEVICE_FEATURE (migration, states, precopy info, data size,
 * dirty logging), MIG_DATA_READ/WRITE, SET_IRQS, reset. The client must reject what is
 * malformed and never crash, leak or read out of bounds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#include "vfio-user/wire.h"

static char sock_path[108];
static int listen_fd = -1;
static struct uvfio_ioas *ioas;

struct script {
	const uint8_t *data;
	size_t size;
	bool raw_version, patch;
	unsigned skip;
};

/* Reads one request; its fds are dropped (closed by the kernel with the skb). */
static int read_msg(int fd, struct vfu_hdr *hdr)
{
	uint8_t buf[4096];
	size_t got = 0;

	while (got < sizeof(*hdr)) {
		ssize_t n = read(fd, (uint8_t *)hdr + got, sizeof(*hdr) - got);
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	for (size_t left = hdr->msg_size > 16 ? hdr->msg_size - 16 : 0; left;) {
		ssize_t n = read(fd, buf, left < sizeof(buf) ? left : sizeof(buf));
		if (n <= 0)
			return -1;
		left -= (size_t)n;
	}
	return 0;
}

/* Patch msg_id and cmd of every reply-type message in the bytes (walking their msg_size). */
static void send_patched(int fd, const struct vfu_hdr *req, const struct script *s)
{
	uint8_t *copy = malloc(s->size ? s->size : 1);

	memcpy(copy, s->data, s->size);
	for (size_t off = 0; s->patch && off + sizeof(struct vfu_hdr) <= s->size;) {
		struct vfu_hdr h;

		memcpy(&h, copy + off, sizeof(h));
		if ((h.flags & VFU_F_TYPE_MASK) == VFU_F_TYPE_REPLY) {
			h.msg_id = req->msg_id;
			h.cmd = req->cmd;
			memcpy(copy + off, &h, sizeof(h));
		}
		off += h.msg_size > sizeof(h) ? h.msg_size : sizeof(h);
	}
	if (write(fd, copy, s->size) < 0) {
		/* the client may have given up already */
	}
	free(copy);
}

static void *fake_server(void *arg)
{
	struct script *s = arg;
	static const char json[] = "{\"capabilities\":{\"max_msg_fds\":8,"
				   "\"migration\":{\"pgsize\":4096},"
				   "\"uvfio\":{\"precopy_info\":true}}}";
	struct vfu_hdr req;
	int fd = accept(listen_fd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if (read_msg(fd, &req) == 0) {
		if (s->raw_version) {
			send_patched(fd, &req, s);
		} else {
			uint8_t reply[sizeof(struct vfu_hdr) + sizeof(struct vfu_version) + sizeof(json)];
			struct vfu_hdr *h = (struct vfu_hdr *)reply;
			struct vfu_version *v = (struct vfu_version *)(h + 1);

			*h = (struct vfu_hdr){ .msg_id = req.msg_id, .cmd = VFU_CMD_VERSION,
					       .msg_size = sizeof(reply), .flags = VFU_F_TYPE_REPLY };
			v->major = 0;
			v->minor = 0;
			memcpy(v->data, json, sizeof(json));
			if (write(fd, reply, sizeof(reply)) != (ssize_t)sizeof(reply))
				goto out;
			for (unsigned k = 0; read_msg(fd, &req) == 0; k++) {
				struct vfu_hdr ok = { .msg_id = req.msg_id, .cmd = req.cmd,
						      .msg_size = sizeof(ok),
						      .flags = VFU_F_TYPE_REPLY };

				if (k == s->skip) {
					send_patched(fd, &req, s);
					break;
				}
				if (!(req.flags & VFU_F_NO_REPLY) &&
				    write(fd, &ok, sizeof(ok)) != (ssize_t)sizeof(ok))
					break;
			}
		}
	}
out:
	close(fd);
	return NULL;
}

static void call(struct uvfio_handle *h, uint8_t op)
{
	struct uvfio_device_info info;
	struct uvfio_region_info rinfo;
	struct uvfio_irq_info iinfo;
	struct uvfio_dirty_range range = { .iova = 0x10000, .length = 0x10000 };
	uint64_t bitmap[4], a, b, pgsize;
	uint32_t flags, state;
	uint8_t buf[4096] = { 0 };
	int efd;

	switch (op % 18) {
	case 0:
		uvfio_get_device_info(h, &info);
		break;
	case 1:
		uvfio_get_region_info(h, UVFIO_PCI_BAR0_REGION, &rinfo);
		break;
	case 2:
		uvfio_get_region_info(h, 9, &rinfo); /* a device-specific region: caps */
		break;
	case 3:
		uvfio_get_irq_info(h, UVFIO_PCI_MSI_IRQ, &iinfo);
		break;
	case 4:
		uvfio_region_read(h, UVFIO_PCI_CONFIG_REGION, 0, buf, 64);
		break;
	case 5:
		uvfio_region_write(h, UVFIO_PCI_BAR0_REGION, 8, buf, 8);
		break;
	case 6:
		uvfio_mig_get_flags(h, &flags);
		break;
	case 7:
		uvfio_mig_get_state(h, &state);
		break;
	case 8:
		uvfio_mig_set_state(h, UVFIO_MIG_STATE_STOP, NULL);
		break;
	case 9:
		uvfio_mig_read(h, buf, sizeof(buf));
		break;
	case 10:
		uvfio_mig_write(h, buf, 512);
		break;
	case 11:
		uvfio_mig_precopy_info(h, &a, &b);
		break;
	case 12:
		uvfio_mig_data_size(h, &a);
		break;
	case 13:
		uvfio_dirty_start(h, &range, 1, &pgsize);
		break;
	case 14:
		uvfio_dirty_report(h, 0x10000, 0x10000, 4096, bitmap);
		break;
	case 15:
		efd = eventfd(0, EFD_CLOEXEC);
		uvfio_irq_enable(h, UVFIO_PCI_MSI_IRQ, 0, 1, &efd);
		close(efd);
		break;
	case 16:
		uvfio_reset(h);
		break;
	default:
		uvfio_region_write_posted(h, UVFIO_PCI_BAR0_REGION, 8, buf, 4);
		uvfio_region_read(h, UVFIO_PCI_BAR0_REGION, 0, buf, 4);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct script s = { .data = data + 2, .size = size > 2 ? size - 2 : 0 };
	struct uvfio_handle *h = NULL;
	char url[128];
	pthread_t thr;

	if (listen_fd < 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		char dir[] = "/tmp/uvfio-fuzzc-XXXXXX";
		void *va;

		uvfio_log_set_level(0);
		if (!mkdtemp(dir))
			abort();
		snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
		memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
		listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
		    listen(listen_fd, 4))
			abort();
		if (uvfio_ioas_new(&ioas) ||
		    uvfio_ioas_map_alloc(ioas, 0x10000, 0x10000, UVFIO_DMA_READ | UVFIO_DMA_WRITE,
					 &va))
			abort();
	}
	if (size < 2)
		return 0;
	s.raw_version = data[0] == 0xff;
	s.patch = data[1] & 2;
	s.skip = (data[1] >> 2) & 3;
	snprintf(url, sizeof(url), "vfio-user:%s", sock_path);
	pthread_create(&thr, NULL, fake_server, &s);
	if (uvfio_open(url, &h) == 0) {
		/* Attaching maps the IOAS: one DMA_MAP request, answered like the skipped ones. */
		if (!(data[1] & 1) || uvfio_ioas_attach(ioas, h) == 0)
			call(h, data[0]);
		uvfio_close(h);
	}
	pthread_join(thr, NULL);
	return 0;
}
