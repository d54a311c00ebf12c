/* SPDX-License-Identifier: MIT */
/*
 * Serve devices over vfio-user, each on its own listening UNIX socket with at most one client
 * at a time.
 *
 * Execution model: every device is served by an event loop (an epoll fd) of its own, or, with
 * config.loops = N, devices share N loops (added round-robin). uvfio_server_run() runs each
 * loop on a thread of its own (the caller's thread runs the first) until uvfio_server_stop().
 * A loop never waits for a client to read: replies the socket cannot take are queued on the
 * connection, the loop stops reading from that client until they are out, and a client that
 * reads nothing for msg_timeout_ms is disconnected. Nothing one client does delays another
 * device's loop. Add every device before uvfio_server_run().
 *
 * Embedding: a program with its own event loop watches uvfio_server_fd() for readability (it
 * is readable whenever any loop has work) and then calls uvfio_server_dispatch(server, 0),
 * which handles every ready loop on the caller's thread; nothing else runs the loops then (do
 * not call uvfio_server_run() too). Devices may be added at any time in this mode.
 *
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
	/* Event loops: 0 gives each device a loop (and, under uvfio_server_run, a thread) of its
	 * own; N > 0 shares N loops between the devices, added round-robin. */
	uint32_t loops;
	/* Polling: 0 sleeps in epoll whenever nothing is ready. N > 0 busy-polls each loop's
	 * sockets, eventfds and device pollers (uvfio_device_set_poller) for N microseconds after
	 * the last work before sleeping; UVFIO_SERVER_POLL_ADAPTIVE spins for a window that grows
	 * while work keeps arriving and shrinks while it does not. */
	int32_t poll_us;
};

#define UVFIO_SERVER_POLL_ADAPTIVE (-1)

/* config may be NULL for defaults. */
UVFIO_API struct uvfio_server *uvfio_server_new(const struct uvfio_server_config *config);
/* Disconnects clients, closes sockets (and unlinks their paths), frees the devices. */
UVFIO_API void uvfio_server_free(struct uvfio_server *server);
/* Serve dev on a new socket at path, created with mode 0600 (never wider, whatever the umask).
 * -EADDRINUSE if a live server answers there; a stale socket file (nothing listening) is
 * replaced. At free the file is unlinked only if it is still the one this server created.
 * The server owns dev from now on, even on failure. */
UVFIO_API int uvfio_server_add_device(struct uvfio_server *server, struct uvfio_device *dev,
				      const char *socket_path);
/* Serve dev on an already listening socket fd (e.g. inherited, --fd=N). */
UVFIO_API int uvfio_server_add_device_fd(struct uvfio_server *server, struct uvfio_device *dev,
					 int listen_fd);
/* The fd to watch for readability when embedding (see the top of this file). */
UVFIO_API int uvfio_server_fd(struct uvfio_server *server);
/* Handle what is ready in every loop on the caller's thread, waiting up to timeout_ms (-1:
 * forever) for something to be ready. Returns the number of events handled, 0 on timeout,
 * -ECANCELED after uvfio_server_stop(). */
UVFIO_API int uvfio_server_dispatch(struct uvfio_server *server, int timeout_ms);
/* Runs every loop, each on its own thread (the first on the caller's), until stopped; joins
 * them. Returns 0 when stopped. */
UVFIO_API int uvfio_server_run(struct uvfio_server *server);
/* Async-signal-safe and thread-safe. */
UVFIO_API void uvfio_server_stop(struct uvfio_server *server);

UVFIO_END_DECLS

#endif
