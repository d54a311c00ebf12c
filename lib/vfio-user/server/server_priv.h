/* SPDX-License-Identifier: MIT */
/* Server internals shared by loop.c (loops, sockets), conn.c (one client) and dispatch.c. */
#ifndef UVFIO_VFIO_USER_SERVER_PRIV_H
#define UVFIO_VFIO_USER_SERVER_PRIV_H

#include <pthread.h>
#include <time.h>

#include <uvfio/server.h>

#include <sys/types.h>

#include "vfio-user/caps.h"
#include "vfio-user/framing.h"
#include "vfio-user/server/outq.h"

struct uvfio_server;
struct vfu_conn;
struct srv_loop;

/* What an epoll event refers to. */
enum ev_kind { EV_STOP, EV_LOOP, EV_LISTEN, EV_SOCK, EV_TIMER, EV_TX_TIMER, EV_DMA_KICK, EV_WATCH };

struct ev_src {
	enum ev_kind kind;
	bool dead; /* its object is closing: later events of the same batch are skipped */
	void *obj;
};

/* One served device and its listening socket, on one loop. */
struct srv_dev {
	struct uvfio_server *srv;
	struct srv_loop *loop;
	struct uvfio_device *dev;
	int listen_fd;
	char *path; /* unlinked at free if it is still our socket; NULL for an inherited fd */
	dev_t path_dev; /* the socket file we created, to recognise it at exit */
	ino_t path_ino;
	struct timespec path_ctime;
	struct ev_src ev;
	pthread_mutex_t lock; /* guards conn against DMA handler threads */
	struct vfu_conn *conn; /* the one client, or NULL */
	struct srv_dev *next; /* in the server's list */
	struct srv_dev *loop_next; /* in its loop's list */
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
	int tx_timer_fd; /* stall timer of replies the peer does not read */
	int kick_fd; /* eventfd: dma requests queued for the loop */
	struct ev_src ev_sock, ev_timer, ev_tx_timer, ev_kick;
	struct vfu_receiver rx;
	struct vfu_rxbuf rxb; /* what was read ahead of rx and dma_rx, which share it */
	struct outq out; /* what the socket did not take yet; reading pauses while not empty */
	bool reading; /* EPOLLIN is watched (false while replies pile up) */
	uint8_t *rx_buf; /* placed payloads of received messages: no allocation per message */
	size_t rx_cap;
	struct vfu_receiver dma_rx; /* the loop's own DMA replies, read inline (conn_dma.c) */
	uint8_t *dma_buf; /* their payloads */
	size_t dma_cap;
	uint8_t *tx_buf; /* reply payloads built by handlers (region reads and the like) */
	size_t tx_cap;
	struct vfu_conn *grave_next; /* closed, freed at the end of the loop's batch */
	bool timer_armed;
	bool rx_deferred; /* buffered messages left for the next kick */
	bool closed;
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
	/* A MIG_DATA_READ reply the socket did not take whole: mig_pre[off, len) (the rest of its
	 * head, or data copied when the socket took none) goes first, then mig_left bytes still
	 * in the device's stream, sent from there as the socket takes them (no copy). The output
	 * queue holds everything else back until then. */
	size_t mig_left;
	size_t mig_pre_off, mig_pre_len;
	bool mig_blocked; /* the socket took nothing in the last continuation */
	uint8_t mig_pre[64 + 4096];
};

/* One event loop: an epoll fd, the devices it serves, the thread that runs it. */
struct srv_loop {
	struct uvfio_server *srv;
	unsigned index;
	int epfd;
	struct ev_src ev_stop; /* the server's stop eventfd, in every loop */
	struct ev_src ev_loop; /* this loop's epfd in the server's top-level epfd (embedding) */
	struct srv_dev *devs;
	pthread_t thread;
	bool thread_started;
	int poll_us; /* 0: sleep in epoll; >0: spin that long after the last work; <0: adaptive */
	unsigned spin_us; /* adaptive: the current spin window */
	pthread_mutex_t watch_lock;
	struct srv_watch *watches;
	struct srv_watch *dead_watches; /* unwatched, freed by the loop after its batch */
	struct vfu_conn *dead_conns;
};

struct uvfio_server {
	int epfd; /* top level: the stop eventfd and every loop's epfd (uvfio_server_fd) */
	int stop_fd; /* eventfd: uvfio_server_stop */
	struct ev_src ev_stop;
	struct uvfio_server_config cfg;
	struct vfu_server_limits limits;
	struct srv_dev *devs;
	struct srv_loop **loops;
	unsigned nloops;
	unsigned ndevs;
};

/* An fd the device core watches on its loop (irqfd-style unmask). */
struct srv_watch {
	struct ev_src ev;
	int fd;
	void (*cb)(void *arg);
	void *arg;
	struct srv_watch *next;
};

/* A reply a command handler prepared (payload malloc'd or pointing into a static buffer). */
#define VFU_REPLY_MAX_FDS 64 /* GET_REGION_IO_FDS: one eventfd per doorbell */
_Static_assert(VFU_REPLY_MAX_FDS <= OUTQ_MAX_FDS, "a reply's fds fit in the output queue");
struct vfu_reply {
	void *payload;
	size_t len;
	bool free_payload;
	int fds[VFU_REPLY_MAX_FDS];
	size_t nfds;
	bool close_fds; /* the fds are ours: close them once sent */
	bool sent; /* the handler sent the reply itself (migration data, from the stream) */
};

/* loop.c */
int srv_epoll_add(struct srv_loop *l, int fd, struct ev_src *ev);
int srv_epoll_mod(struct srv_loop *l, int fd, struct ev_src *ev, uint32_t events);
void srv_epoll_del(struct srv_loop *l, int fd);
bool srv_on_loop_thread(struct srv_loop *l);
struct srv_loop *srv_pick_loop(struct uvfio_server *srv);
int srv_watch(void *loop, int fd, void (*cb)(void *arg), void *arg);
void srv_unwatch(void *loop, int fd);
/* device.c (internal) */
bool uvfio_device_has_poller(struct uvfio_device *dev);
/* socket.c */
void srv_on_listen(struct srv_dev *sd);
void srv_dev_free(struct srv_dev *sd);
/* Frees c once the loop's current batch is handled (now if no batch is running). */
void srv_defer_free_conn(struct srv_loop *l, struct vfu_conn *c);
/* While a client is served the listener is not watched: the next client waits in the backlog. */
void srv_listen_pause(struct srv_dev *sd, bool pause);

/* conn.c */
int conn_open(struct srv_dev *sd, int sock);
/* Closes the connection; the memory goes when the loop's batch ends (srv_defer_free_conn). */
void conn_close(struct vfu_conn *c);
void conn_free(struct vfu_conn *c);
void conn_on_event(struct vfu_conn *c, uint32_t events);
void conn_on_tx_timer(struct vfu_conn *c);
void conn_on_timer(struct vfu_conn *c);
void conn_on_kick(struct vfu_conn *c);
/* Handles messages already read ahead (epoll will not report them: the socket is drained). */
void conn_on_buffered(struct vfu_conn *c);
/* Comes back to the buffered messages from the loop later (fairness between connections). */
void conn_defer_buffered(struct vfu_conn *c);
void conn_mark_dead(struct vfu_conn *c);
/* Queues a message on the main socket without waiting (outq.h); -errno if the socket failed
 * (the caller marks the connection dead: it may hold c->lock). */
int conn_send(struct vfu_conn *c, struct vfu_hdr *h, const struct iovec *iov, int iovcnt,
	      const int *fds, size_t nfds);
/* Sends on the main socket and waits until all of it is out (what is queued first), bounded by
 * msg_timeout_ms: only for a loop that must wait for the peer anyway (inline DMA). */
int conn_send_wait(struct vfu_conn *c, struct vfu_hdr *h, const struct iovec *iov, int iovcnt);
/* A reply buffer of at least len bytes owned by the connection, valid until the next call. */
void *conn_tx_buf(struct vfu_conn *c, size_t len);
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

/* dispatch_mig.c: the rest of a MIG_DATA_READ reply (see vfu_conn.mig_left). Returns > 0 if
 * bytes went out, 0 if the socket took none, -errno if the connection failed. */
int mig_reply_continue(struct vfu_conn *c);
static inline bool mig_reply_pending(const struct vfu_conn *c)
{
	return c->mig_left || c->mig_pre_off < c->mig_pre_len;
}
/* Pauses reading (conn.c): replies are waiting to go out. */
void conn_pause_reading(struct vfu_conn *c);

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
/* Test hook: called with the connection's socket and each message's header before it is
 * handled (tests/integration/test_peer_death.c kills a peer at the k-th message). NULL, and
 * never set, outside tests. */
extern void (*vfu_dispatch_hook)(int sock, const struct vfu_hdr *hdr);

#endif
