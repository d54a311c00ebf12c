/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: arbitrary server replies to the client. Byte 0 picks the request the client makes
 * after a valid handshake (or 0xff: the input is the VERSION reply itself); the rest is what the
 * fake server answers, with msg_id and cmd patched to match the request when the input is long
 * enough to hold a header, so the fuzzer reaches the payload checks. The client must reject
 * what is malformed and never crash, leak or read out of bounds.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#include "vfio-user/wire.h"

static char sock_path[108];
static int listen_fd = -1;

struct script {
	const uint8_t *data;
	size_t size;
	bool raw_version;
};

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

static void send_patched(int fd, const struct vfu_hdr *req, const uint8_t *data, size_t size)
{
	uint8_t *copy = malloc(size ? size : 1);

	memcpy(copy, data, size);
	if (size >= sizeof(struct vfu_hdr)) {
		struct vfu_hdr *h = (struct vfu_hdr *)copy;
		h->msg_id = req->msg_id;
		h->cmd = req->cmd;
	}
	if (write(fd, copy, size) < 0) {
		/* the client may have given up already */
	}
	free(copy);
}

static void *fake_server(void *arg)
{
	struct script *s = arg;
	static const char json[] = "{\"capabilities\":{\"max_msg_fds\":8}}";
	struct vfu_hdr req;
	int fd = accept(listen_fd, NULL, NULL);

	if (fd < 0)
		return NULL;
	if (read_msg(fd, &req) == 0) {
		if (s->raw_version) {
			send_patched(fd, &req, s->data, s->size);
		} else {
			uint8_t reply[sizeof(struct vfu_hdr) + sizeof(struct vfu_version) + sizeof(json)];
			struct vfu_hdr *h = (struct vfu_hdr *)reply;
			struct vfu_version *v = (struct vfu_version *)(h + 1);

			*h = (struct vfu_hdr){ .msg_id = req.msg_id, .cmd = VFU_CMD_VERSION,
					       .msg_size = sizeof(reply), .flags = VFU_F_TYPE_REPLY };
			v->major = 0;
			v->minor = 0;
			memcpy(v->data, json, sizeof(json));
			if (write(fd, reply, sizeof(reply)) == (ssize_t)sizeof(reply) &&
			    read_msg(fd, &req) == 0)
				send_patched(fd, &req, s->data, s->size);
		}
	}
	close(fd);
	return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct script s = { .data = data + 1, .size = size ? size - 1 : 0 };
	struct uvfio_handle *h = NULL;
	char url[128];
	pthread_t thr;

	if (listen_fd < 0) {
		struct sockaddr_un sa = { .sun_family = AF_UNIX };
		char dir[] = "/tmp/uvfio-fuzzc-XXXXXX";

		uvfio_log_set_level(0);
		if (!mkdtemp(dir))
			abort();
		snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
		memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
		listen_fd = socket(AF_UNIX, SOCK_STREAM, 0);
		if (listen_fd < 0 || bind(listen_fd, (struct sockaddr *)&sa, sizeof(sa)) ||
		    listen(listen_fd, 4))
			abort();
	}
	if (!size)
		return 0;
	s.raw_version = data[0] == 0xff;
	snprintf(url, sizeof(url), "vfio-user:%s", sock_path);
	pthread_create(&thr, NULL, fake_server, &s);
	if (uvfio_open(url, &h) == 0) {
		struct uvfio_device_info info;
		struct uvfio_region_info rinfo;
		struct uvfio_irq_info iinfo;
		uint8_t buf[64];

		switch (data[0] % 4) {
		case 0:
			uvfio_get_device_info(h, &info);
			break;
		case 1:
			uvfio_get_region_info(h, UVFIO_PCI_BAR0_REGION, &rinfo);
			break;
		case 2:
			uvfio_get_irq_info(h, UVFIO_PCI_MSI_IRQ, &iinfo);
			break;
		default:
			uvfio_region_read(h, UVFIO_PCI_CONFIG_REGION, 0, buf, sizeof(buf));
			break;
		}
		uvfio_close(h);
	}
	pthread_join(thr, NULL);
	return 0;
}
