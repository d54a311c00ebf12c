/* SPDX-License-Identifier: MIT */
/*
 * The vfio-user server: one epoll loop, a listening socket per device, at most one client per
 * device. While a client is served, the listening socket is not watched: a second client
 * waits in the backlog (its connect() succeeds, nothing answers) until the first leaves, so a
 * client reconnecting right after a disconnect never races the server's cleanup.
 * The loop handles one event per epoll_wait(): handling one event may free the objects other
 * events of the same batch point to (a connection closing, an fd being unwatched).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uvfio/dma.h>

#include "vfio-user/server/server_priv.h"
#include "util/log.h"

#define SRV_DEFAULT_TIMEOUT_MS 5000u

int srv_epoll_add(struct uvfio_server *srv, int fd, struct ev_src *ev)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = ev };

	if (epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
		return -errno;
	return 0;
}

void srv_epoll_del(struct uvfio_server *srv, int fd)
{
	epoll_ctl(srv->epfd, EPOLL_CTL_DEL, fd, NULL);
}

void srv_listen_pause(struct srv_dev *sd, bool pause)
{
	struct epoll_event e = { .events = pause ? 0 : EPOLLIN, .data.ptr = &sd->ev };

	if (sd->listen_fd >= 0)
		epoll_ctl(sd->srv->epfd, EPOLL_CTL_MOD, sd->listen_fd, &e);
}

/* The server whose loop this thread is running right now (thread-local: no data race). */
static __thread struct uvfio_server *loop_of_this_thread;

bool srv_on_loop_thread(struct uvfio_server *srv)
{
	return loop_of_this_thread == srv;
}

static void fill_config(struct uvfio_server_config *cfg, const struct uvfio_server_config *in)
{
	if (in)
		*cfg = *in;
	else
		memset(cfg, 0, sizeof(*cfg));
	/* QEMU refuses a server that advertises more than 16. */
	if (!cfg->max_msg_fds || cfg->max_msg_fds > VFU_OUR_MAX_MSG_FDS)
		cfg->max_msg_fds = VFU_OUR_MAX_MSG_FDS;
	if (!cfg->max_data_xfer_size)
		cfg->max_data_xfer_size = VFU_DEFAULT_MAX_DATA_XFER;
	if (!cfg->max_dma_maps)
		cfg->max_dma_maps = VFU_DEFAULT_MAX_DMA_MAPS;
	if (!cfg->msg_timeout_ms)
		cfg->msg_timeout_ms = SRV_DEFAULT_TIMEOUT_MS;
}

struct uvfio_server *uvfio_server_new(const struct uvfio_server_config *config)
{
	struct uvfio_server *srv = calloc(1, sizeof(*srv));

	if (!srv)
		return NULL;
	fill_config(&srv->cfg, config);
	srv->limits = (struct vfu_server_limits){
		.max_msg_fds = srv->cfg.max_msg_fds,
		.max_data_xfer_size = srv->cfg.max_data_xfer_size,
		/* A size the user set holds for every client; the default grows for uvfio's. */
		.uvfio_max_xfer = config && config->max_data_xfer_size ? config->max_data_xfer_size
									 : VFU_UVFIO_MAX_XFER,
		.max_dma_maps = srv->cfg.max_dma_maps,
		.allow_twin_socket = !srv->cfg.no_twin_socket,
		.allow_write_multiple = !srv->cfg.no_write_multiple,
		.dma_msg_layout = (int)srv->cfg.dma_msg_layout,
	};
	pthread_mutex_init(&srv->watch_lock, NULL);
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	srv->ev_stop = (struct ev_src){ .kind = EV_STOP, .obj = srv };
	if (srv->epfd < 0 || srv->stop_fd < 0 || srv_epoll_add(srv, srv->stop_fd, &srv->ev_stop) < 0) {
		log_err("server: cannot set up the event loop: %s", strerror(errno));
		uvfio_server_free(srv);
		return NULL;
	}
	return srv;
}

static void srv_dev_free(struct srv_dev *sd)
{
	if (sd->conn)
		conn_close(sd->conn);
	if (sd->listen_fd >= 0) {
		srv_epoll_del(sd->srv, sd->listen_fd);
		close(sd->listen_fd);
	}
	if (sd->path)
		unlink(sd->path);
	uvfio_dma_space_set_msg_handler(uvfio_device_dma_space(sd->dev), NULL, NULL);
	uvfio_device_set_fd_watcher(sd->dev, NULL, NULL, NULL);
	uvfio_device_free(sd->dev);
	pthread_mutex_destroy(&sd->lock);
	free(sd->path);
	free(sd);
}

void uvfio_server_free(struct uvfio_server *srv)
{
	if (!srv)
		return;
	while (srv->devs) {
		struct srv_dev *sd = srv->devs;
		srv->devs = sd->next;
		srv_dev_free(sd);
	}
	while (srv->watches) {
		struct srv_watch *w = srv->watches;
		srv->watches = w->next;
		free(w);
	}
	if (srv->stop_fd >= 0)
		close(srv->stop_fd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	pthread_mutex_destroy(&srv->watch_lock);
	free(srv);
}

static int srv_watch(void *loop, int fd, void (*cb)(void *arg), void *arg)
{
	struct uvfio_server *srv = loop;
	struct srv_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	*w = (struct srv_watch){ .ev = { .kind = EV_WATCH, .obj = w }, .fd = fd, .cb = cb, .arg = arg };
	int ret = srv_epoll_add(srv, fd, &w->ev);
	if (ret < 0) {
		free(w);
		return ret;
	}
	pthread_mutex_lock(&srv->watch_lock);
	w->next = srv->watches;
	srv->watches = w;
	pthread_mutex_unlock(&srv->watch_lock);
	return 0;
}

static void srv_unwatch(void *loop, int fd)
{
	struct uvfio_server *srv = loop;

	pthread_mutex_lock(&srv->watch_lock);
	for (struct srv_watch **pp = &srv->watches; *pp; pp = &(*pp)->next) {
		struct srv_watch *w = *pp;
		if (w->fd != fd)
			continue;
		*pp = w->next;
		srv_epoll_del(srv, fd);
		free(w);
		break;
	}
	pthread_mutex_unlock(&srv->watch_lock);
}

int uvfio_server_add_device_fd(struct uvfio_server *srv, struct uvfio_device *dev, int listen_fd)
{
	if (!srv || !dev || listen_fd < 0) {
		uvfio_device_free(dev);
		return -EINVAL;
	}
	struct srv_dev *sd = calloc(1, sizeof(*sd));
	if (!sd) {
		uvfio_device_free(dev);
		return -ENOMEM;
	}
	sd->srv = srv;
	sd->dev = dev;
	sd->listen_fd = listen_fd;
	sd->ev = (struct ev_src){ .kind = EV_LISTEN, .obj = sd };
	pthread_mutex_init(&sd->lock, NULL);
	/* accept() must never block the loop on a connection that went away meanwhile. */
	int fl = fcntl(listen_fd, F_GETFL);
	int ret = fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
	if (ret == 0)
		ret = srv_epoll_add(srv, listen_fd, &sd->ev);
	if (ret < 0) {
		log_err("server: cannot watch listening socket %d: %s", listen_fd, strerror(-ret));
		sd->listen_fd = -1; /* the caller's fd: not ours to close on failure */
		srv_dev_free(sd);
		return ret;
	}
	uvfio_device_set_fd_watcher(dev, srv_watch, srv_unwatch, srv);
	uvfio_dma_space_set_msg_handler(uvfio_device_dma_space(dev), conn_dma_msg, sd);
	sd->next = srv->devs;
	srv->devs = sd;
	return 0;
}

static int listen_on(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* A stale socket file of an earlier run would make bind() fail. */
	struct stat st;
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || chmod(path, 0600) < 0 ||
	    listen(fd, 8) < 0) {
		int err = errno;
		close(fd);
		return -err;
	}
	return fd;
}

int uvfio_server_add_device(struct uvfio_server *srv, struct uvfio_device *dev,
			    const char *socket_path)
{
	if (!srv || !dev || !socket_path) {
		uvfio_device_free(dev);
		return -EINVAL;
	}
	char *path = strdup(socket_path);
	int fd = path ? listen_on(socket_path) : -ENOMEM;
	if (fd < 0) {
		log_err("server: cannot listen on %s: %s", socket_path, strerror(-fd));
		free(path);
		uvfio_device_free(dev);
		return fd;
	}
	int ret = uvfio_server_add_device_fd(srv, dev, fd);
	if (ret < 0) {
		close(fd);
		unlink(path);
		free(path);
		return ret;
	}
	srv->devs->path = path;
	log_info("server: %s listening on %s", uvfio_device_name(dev), socket_path);
	return 0;
}

int uvfio_server_fd(struct uvfio_server *srv)
{
	return srv ? srv->epfd : -EINVAL;
}

static void on_listen(struct srv_dev *sd)
{
	int fd = accept4(sd->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR && errno != ECONNABORTED)
			log_warn("server: accept on %s: %s", uvfio_device_name(sd->dev), strerror(errno));
		return;
	}
	if (sd->conn) {
		/* Not reached while the listener is paused; kept as a guard. */
		log_warn("server: %s already has a client; closing the new connection",
			 uvfio_device_name(sd->dev));
		close(fd);
		return;
	}
	int ret = conn_open(sd, fd);
	if (ret < 0) {
		log_err("server: cannot set up a connection: %s", strerror(-ret));
		close(fd);
		return;
	}
	srv_listen_pause(sd, true);
}

static void on_watch(struct uvfio_server *srv, struct srv_watch *w)
{
	void (*cb)(void *) = w->cb;
	void *arg = w->arg;

	(void)srv;
	cb(arg); /* may unwatch (free) w: nothing of w is used after this */
}

static int handle_event(struct uvfio_server *srv, struct ev_src *ev)
{
	uint64_t v;

	switch (ev->kind) {
	case EV_STOP:
		if (read(srv->stop_fd, &v, sizeof(v)) < 0) {
			/* EAGAIN: another dispatcher consumed it; stop anyway. */
		}
		return -ECANCELED;
	case EV_LISTEN:
		on_listen(ev->obj);
		break;
	case EV_SOCK:
		conn_on_readable(ev->obj);
		break;
	case EV_TIMER:
		conn_on_timer(ev->obj);
		break;
	case EV_DMA_KICK:
		conn_on_kick(ev->obj);
		break;
	case EV_WATCH:
		on_watch(srv, ev->obj);
		break;
	}
	return 1;
}

int uvfio_server_dispatch(struct uvfio_server *srv, int timeout_ms)
{
	struct epoll_event e;

	if (!srv)
		return -EINVAL;
	int n = epoll_wait(srv->epfd, &e, 1, timeout_ms);
	if (n <= 0)
		return n == 0 || errno == EINTR ? 0 : -errno;
	struct uvfio_server *outer = loop_of_this_thread;
	loop_of_this_thread = srv;
	int ret = handle_event(srv, e.data.ptr);
	loop_of_this_thread = outer;
	return ret;
}

int uvfio_server_run(struct uvfio_server *srv)
{
	for (;;) {
		int ret = uvfio_server_dispatch(srv, -1);
		if (ret == -ECANCELED)
			return 0;
		if (ret < 0)
			return ret;
	}
}

void uvfio_server_stop(struct uvfio_server *srv)
{
	uint64_t one = 1;

	/* write() to an eventfd is async-signal-safe; the loop sees it as readable. */
	if (srv && write(srv->stop_fd, &one, sizeof(one)) < 0) {
		/* The counter can only overflow after 2^64 stops: nothing to do. */
	}
}
