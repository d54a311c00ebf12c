/* SPDX-License-Identifier: MIT */
/*
 * Serve devices over vfio-user. One server runs one epoll loop for any number of devices, each
 * on its own listening UNIX socket with at most one client at a time. The loop can be embedded:
 * poll uvfio_server_fd() for readability and call uvfio_server_dispatch(server, 0).
 * A second client that connects while one is served waits in the listen backlog (connect()
 * succeeds, nothing is answered) until the first one leaves.
 * A server outlives its clients: when one leaves, its DMA windows are unmapped, its eventfds
 * closed and the device reset; the next client may connect.
 */
#ifndef UVFIO_SERVER_H
#define UVFIO_SERVER_H

#include <uvfio/device.h>

UVFIO_BEGIN_DECLS

struct uvfio_server;

struct uvfio_server_config {
	uint32_t max_msg_fds; /* advertised; 0: default (16) */
	uint32_t max_data_xfer_size; /* advertised; 0: default (1 MiB) */
	uint32_t max_dma_maps; /* 0: default (65535) */
	bool no_twin_socket; /* refuse twin_socket even if the client offers it */
	bool no_write_multiple; /* don't advertise REGION_WRITE_MULTI */
	/* A message whose rest does not arrive within this time is answered with ETIMEDOUT and
	 * dropped; also the wait for a client's reply to server-to-client DMA. 0: default (5000). */
	uint32_t msg_timeout_ms;
	/* Layout of server-to-client DMA_READ/DMA_WRITE (docs/protocol.md): QEMU 10.x puts the data
	 * at payload offset 12 after a u32 count, the spec and libvfio-user at 16 after a u64. */
	enum uvfio_dma_msg_layout {
		UVFIO_DMA_MSG_AUTO = 0, /* QEMU's for a client whose VERSION is QEMU's, else spec */
		UVFIO_DMA_MSG_SPEC,
		UVFIO_DMA_MSG_QEMU,
	} dma_msg_layout;
};

/* config may be NULL for defaults. */
UVFIO_API struct uvfio_server *uvfio_server_new(const struct uvfio_server_config *config);
/* Disconnects clients, closes sockets (and unlinks their paths), frees the devices. */
UVFIO_API void uvfio_server_free(struct uvfio_server *server);
/* Serve dev on a new socket at path (an existing socket file is replaced). The server owns dev
 * from now on, even on failure. */
UVFIO_API int uvfio_server_add_device(struct uvfio_server *server, struct uvfio_device *dev,
				      const char *socket_path);
/* Serve dev on an already listening socket fd (e.g. inherited, --fd=N). */
UVFIO_API int uvfio_server_add_device_fd(struct uvfio_server *server, struct uvfio_device *dev,
					 int listen_fd);
UVFIO_API int uvfio_server_fd(struct uvfio_server *server);
/* Handle what is ready, waiting up to timeout_ms (-1: forever). Returns the number of events
 * handled, 0 on timeout, -ECANCELED after uvfio_server_stop(). */
UVFIO_API int uvfio_server_dispatch(struct uvfio_server *server, int timeout_ms);
/* dispatch until stopped. Returns 0 when stopped. */
UVFIO_API int uvfio_server_run(struct uvfio_server *server);
/* Async-signal-safe and thread-safe. */
UVFIO_API void uvfio_server_stop(struct uvfio_server *server);

UVFIO_END_DECLS

#endif
