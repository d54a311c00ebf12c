/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: arbitrary bytes from a client into a live server connection (an edu device behind
 * it). The server must answer or drop the connection, never crash, leak or hang, and must keep
 * serving: each input ends with a well-formed VERSION that must get a reply.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#include "vfio-user/wire.h"

static struct uvfio_server *server;
static char sock_path[108];

static void setup(void)
{
	struct uvfio_server_config cfg = { 0 };
	struct uvfio_pci_device *pdev;
	char dir[] = "/tmp/uvfio-fuzz-XXXXXX";

	uvfio_log_set_level(0);
	if (!mkdtemp(dir))
		abort();
	snprintf(sock_path, sizeof(sock_path), "%s/s", dir);
	uvfio_register_builtin_drivers();
	server = uvfio_server_new(&cfg);
	if (!server || uvfio_pci_create("edu", &pdev) ||
	    uvfio_server_add_device(server, uvfio_pci_to_device(pdev), sock_path))
		abort();
}

static int connect_client(void)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0);

	memcpy(sa.sun_path, sock_path, strlen(sock_path) + 1);
	if (fd < 0)
		abort();
	/* A UNIX stream connect to a listening socket completes at once or EAGAIN (backlog). */
	while (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) && errno != EISCONN) {
		if (errno != EAGAIN && errno != EINPROGRESS)
			abort();
		uvfio_server_dispatch(server, 0);
	}
	return fd;
}

/* Pump the server until it has closed our connection, draining its replies. */
static void pump_until_closed(int fd)
{
	char buf[4096];

	for (int i = 0; i < 100000; i++) {
		ssize_t n = read(fd, buf, sizeof(buf));

		if (n == 0 || (n < 0 && errno != EAGAIN))
			return;
		if (n < 0)
			uvfio_server_dispatch(server, 1);
	}
	abort(); /* the server neither answered nor closed: a hang */
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int fd;

	if (!server)
		setup();
	fd = connect_client();
	for (size_t off = 0; off < size;) {
		ssize_t n = write(fd, data + off, size - off);

		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno == EAGAIN)
			uvfio_server_dispatch(server, 1);
		else
			break;
	}
	shutdown(fd, SHUT_WR);
	pump_until_closed(fd);
	close(fd);
	/* Whatever happened, the next client must get a VERSION reply. */
	fd = connect_client();
	{
		char msg[sizeof(struct vfu_hdr) + sizeof(struct vfu_version) + 3] = { 0 };
		struct vfu_hdr *hdr = (struct vfu_hdr *)msg;
		struct vfu_hdr reply;
		int got = 0;

		hdr->cmd = VFU_CMD_VERSION;
		hdr->msg_size = sizeof(msg);
		memcpy(msg + sizeof(*hdr) + sizeof(struct vfu_version), "{}", 3);
		if (write(fd, msg, sizeof(msg)) != (ssize_t)sizeof(msg))
			abort();
		for (int i = 0; i < 100000 && got < (int)sizeof(reply); i++) {
			ssize_t n = read(fd, (char *)&reply + got, sizeof(reply) - (size_t)got);

			if (n > 0)
				got += (int)n;
			else if (n == 0)
				abort();
			else
				uvfio_server_dispatch(server, 1);
		}
		if (got != (int)sizeof(reply) || reply.cmd != VFU_CMD_VERSION ||
		    (reply.flags & VFU_F_ERROR))
			abort();
	}
	shutdown(fd, SHUT_WR);
	pump_until_closed(fd);
	close(fd);
	return 0;
}
