/* SPDX-License-Identifier: MIT */
/* Server internals shared by server.c (loop, sockets), conn.c (one client) and dispatch.c. */
#ifndef UVFIO_VFIO_USER_SERVER_PRIV_H
#define UVFIO_VFIO_USER_SERVER_PRIV_H

#include <pthread.h>

#include <uvfio/server.h>

#include "vfio-user/caps.h"
#include "vfio-user/framing.h"

struct uvfio_server;
struct vfu_conn;

/* What an epoll event refers to. */
enum ev_kind { EV_STOP, EV_LISTEN, EV_SOCK, EV_TIMER, EV_DMA_KICK, EV_WATCH };

struct ev_src {
	enum ev_kind kind;
	void *obj;
};

/* One served device and its listening socket. */
struct srv_dev {
	struct uvfio_server *srv;
	struct uvfio_device *dev;
	int listen_fd;
	char *path; /* unlinked at free; NULL for an inherited fd */
	struct ev_src ev;
	pthread_mutex_t lock; /* guards conn against DMA handler threads */
	struct vfu_conn *conn; /* the one client, or NULL */
	struct srv_dev *next;
};

/* A queued command that arrived while the loop waited inline for a DMA reply. */
struct queued_msg {
	struct vfu_msg *msg;
	int bad;
	struct queued_msg *next;
};

/* A server-to-client DMA request handed from another thread to the loop. */
struct dma_req {
	uint64_t iova;
	void *buf;
	size_t len;
	bool is_write;
	uint16_t msg_id; /* of the message in flight */
	bool sent;
	bool done;
	int result;
	struct dma_req *next;
};

struct vfu_conn {
	struct srv_dev *sd;
	int sock;
	int timer_fd; /* stall timer of a message that started arriving */
	int kick_fd; /* eventfd: dma requests queued for the loop */
	struct ev_src ev_sock, ev_timer, ev_kick;
	struct vfu_receiver rx;
	bool timer_armed;
	bool versioned;
	bool dead; /* peer gone: the loop closes the connection */
	struct vfu_negotiated neg;
	int twin_fd; /* our end of the twin socket, -1 if none */
	pthread_mutex_t twin_lock; /* one twin-socket DMA at a time */
	pthread_mutex_t lock; /* the dma queue, msg ids, users, dead */
	pthread_cond_t dma_cond; /* a dma_req completed, or users dropped */
	unsigned users; /* DMA handler threads inside this connection */
	struct dma_req *dma_reqs; /* queued/in flight on the main socket */
	uint16_t next_msg_id;
	struct queued_msg *queue_head, *queue_tail;
	/* MIG_DATA_READ replies, kept while a stream is being drained: no allocation and no
	 * fresh pages per message. */
	bool big_sndbuf; /* SO_SNDBUF was raised for large migration replies */
};

struct uvfio_server {
	int epfd;
	int stop_fd; /* eventfd: uvfio_server_stop */
	struct ev_src ev_stop;
	struct uvfio_server_config cfg;
	struct vfu_server_limits limits;
	struct srv_dev *devs;
	pthread_mutex_t watch_lock;
	struct srv_watch *watches;
};

/* An fd the device core watches on our loop (irqfd-style unmask). */
struct srv_watch {
	struct ev_src ev;
	int fd;
	void (*cb)(void *arg);
	void *arg;
	struct srv_watch *next;
};

/* A reply a command handler prepared (payload malloc'd or pointing into a static buffer). */
#define VFU_REPLY_MAX_FDS 64 /* GET_REGION_IO_FDS: one eventfd per doorbell */
struct vfu_reply {
	void *payload;
	size_t len;
	bool free_payload;
	int fds[VFU_REPLY_MAX_FDS];
	size_t nfds;
	bool close_fds; /* the fds are ours: close them once sent */
	bool sent; /* the handler sent the reply itself (migration data, from the stream) */
};

/* server.c */
int srv_epoll_add(struct uvfio_server *srv, int fd, struct ev_src *ev);
void srv_epoll_del(struct uvfio_server *srv, int fd);
bool srv_on_loop_thread(struct uvfio_server *srv);
/* While a client is served the listener is not watched: the next client waits in the backlog. */
void srv_listen_pause(struct srv_dev *sd, bool pause);

/* conn.c */
int conn_open(struct srv_dev *sd, int sock);
void conn_close(struct vfu_conn *c);
void conn_on_readable(struct vfu_conn *c);
void conn_on_timer(struct vfu_conn *c);
void conn_on_kick(struct vfu_conn *c);
void conn_mark_dead(struct vfu_conn *c);
/* Sends with the server's msg_timeout_ms as the bound on a peer that stops reading. */
int conn_send(struct vfu_conn *c, int sock, struct vfu_hdr *h, const struct iovec *iov,
	      int iovcnt, const int *fds, size_t nfds);
/* Marks the connection dead if a send failed; the loop closes it after the current message. */
int conn_reply(struct vfu_conn *c, const struct vfu_hdr *req, const struct vfu_reply *r);
int conn_error(struct vfu_conn *c, const struct vfu_hdr *req, int err);
void conn_queue_msg(struct vfu_conn *c, struct vfu_msg *msg, int bad);
size_t conn_max_msg_size(struct vfu_conn *c);

/* conn_dma.c */
/* A reply to one of our DMA_READ/WRITE on the main socket (loop thread). */
void conn_handle_reply(struct vfu_conn *c, struct vfu_msg *msg);
void conn_fail_dma(struct vfu_conn *c);
/* The DMA space's message handler (opaque: the srv_dev): server-to-client DMA_READ/WRITE. */
int conn_dma_msg(void *opaque, uint64_t iova, void *buf, size_t len, bool is_write);

/* dispatch_dev.c: device commands. Each returns 0 with *r filled, or -errno (error reply). */
int handle_get_info(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r);
int handle_region_info(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r);
int handle_region_io_fds(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r);
int handle_irq_info(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r);
int handle_set_irqs(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r);
int handle_region_read(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r);
int handle_region_write(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r);
int handle_write_multi(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r);
int handle_feature(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r);

/* dispatch.c: handles one complete message (bad: the receiver's verdict, 0 if fine). */
void dispatch_msg(struct vfu_conn *c, struct vfu_msg *msg, int bad);

#endif
