/* SPDX-License-Identifier: MIT */
/*
 * Devices and their listening sockets. While a client is served the listening socket is not
 * watched: a second client waits in the backlog (its connect() succeeds, nothing answers) until
 * the first leaves, so a client reconnecting right after a disconnect never races the server's
 * cleanup.
 *
 * Socket ownership: a path where a live server answers is refused (-EADDRINUSE), only a stale
 * socket file (connect() is refused) is replaced; the file is created with mode 0600 from the
 * start; at exit it is unlinked only if it is still the file this server created.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <uvfio/dma.h>

#include "vfio-user/server/server_priv.h"
#include "util/log.h"

#define SOCK_MODE 0600

static void listen_pause(struct srv_dev *sd, bool pause)
{
	if (sd->listen_fd >= 0)
		srv_epoll_mod(sd->loop, sd->listen_fd, &sd->ev, pause ? 0 : EPOLLIN);
}

void srv_listen_pause(struct srv_dev *sd, bool pause)
{
	listen_pause(sd, pause);
}

/* Unlinks our socket file, unless someone replaced it meanwhile (another server's socket). */
static void unlink_ours(struct srv_dev *sd)
{
	struct stat st;

	if (lstat(sd->path, &st) < 0)
		return;
	/* An inode number can be reused by a file made after ours was removed: ctime tells. */
	if (st.st_dev != sd->path_dev || st.st_ino != sd->path_ino ||
	    st.st_ctim.tv_sec != sd->path_ctime.tv_sec ||
	    st.st_ctim.tv_nsec != sd->path_ctime.tv_nsec) {
		log_info("server: %s is no longer our socket; leaving it", sd->path);
		return;
	}
	unlink(sd->path);
}

void srv_dev_free(struct srv_dev *sd)
{
	if (sd->conn)
		conn_close(sd->conn); /* freed right away: no batch of its loop runs now */
	if (sd->listen_fd >= 0) {
		srv_epoll_del(sd->loop, sd->listen_fd);
		close(sd->listen_fd);
	}
	if (sd->path)
		unlink_ours(sd);
	uvfio_dma_space_set_msg_handler(uvfio_device_dma_space(sd->dev), NULL, NULL);
	uvfio_device_set_fd_watcher(sd->dev, NULL, NULL, NULL);
	uvfio_device_free(sd->dev);
	pthread_mutex_destroy(&sd->lock);
	free(sd->path);
	free(sd);
}

int uvfio_server_add_device_fd(struct uvfio_server *srv, struct uvfio_device *dev, int listen_fd)
{
	if (!srv || !dev || listen_fd < 0) {
		uvfio_device_free(dev);
		return -EINVAL;
	}
	struct srv_dev *sd = calloc(1, sizeof(*sd));
	struct srv_loop *l = sd ? srv_pick_loop(srv) : NULL;
	if (!sd || !l) {
		free(sd);
		uvfio_device_free(dev);
		return -ENOMEM;
	}
	sd->srv = srv;
	sd->loop = l;
	sd->dev = dev;
	sd->listen_fd = listen_fd;
	sd->ev = (struct ev_src){ .kind = EV_LISTEN, .obj = sd };
	pthread_mutex_init(&sd->lock, NULL);
	/* accept() must never block the loop on a connection that went away meanwhile. */
	int fl = fcntl(listen_fd, F_GETFL);
	int ret = fl < 0 || fcntl(listen_fd, F_SETFL, fl | O_NONBLOCK) < 0 ? -errno : 0;
	if (ret == 0)
		ret = srv_epoll_add(l, listen_fd, &sd->ev);
	if (ret < 0) {
		log_err("server: cannot watch listening socket %d: %s", listen_fd, strerror(-ret));
		sd->listen_fd = -1; /* the caller's fd: not ours to close on failure */
		srv_dev_free(sd);
		return ret;
	}
	uvfio_device_set_fd_watcher(dev, srv_watch, srv_unwatch, l);
	uvfio_dma_space_set_msg_handler(uvfio_device_dma_space(dev), conn_dma_msg, sd);
	sd->next = srv->devs;
	srv->devs = sd;
	sd->loop_next = l->devs;
	l->devs = sd;
	srv->ndevs++;
	return 0;
}

/* A socket file at sa: -EADDRINUSE if a server answers there, 0 once a stale one is removed. */
static int clear_stale(const struct sockaddr_un *sa)
{
	struct stat st;

	if (lstat(sa->sun_path, &st) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (!S_ISSOCK(st.st_mode)) {
		log_err("server: %s exists and is not a socket", sa->sun_path);
		return -EEXIST;
	}
	int probe = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (probe < 0)
		return -errno;
	int ret = connect(probe, (const struct sockaddr *)sa, sizeof(*sa)) == 0 ? 0 : -errno;
	close(probe);
	if (ret != -ECONNREFUSED) {
		/* Accepted, or a full backlog (EAGAIN): someone is serving there. */
		log_err("server: a server is live on %s; not replacing its socket", sa->sun_path);
		return -EADDRINUSE;
	}
	if (unlink(sa->sun_path) < 0 && errno != ENOENT)
		return -errno;
	log_info("server: replaced the stale socket file %s", sa->sun_path);
	return 0;
}

static int listen_on(const char *path, struct stat *made)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	/* bind() creates the file with the socket's own mode under the umask: set it first, so
	 * the file never exists with wider permissions, whatever the umask. */
	int ret = fchmod(fd, SOCK_MODE) < 0 ? -errno : 0;
	for (int attempt = 0; ret == 0; attempt++) {
		if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			break;
		ret = -errno;
		if (ret != -EADDRINUSE || attempt > 0)
			break;
		ret = clear_stale(&sa);
	}
	if (ret == 0 && listen(fd, 8) < 0)
		ret = -errno;
	if (ret == 0 && lstat(path, made) < 0)
		ret = -errno;
	if (ret == 0 && (made->st_mode & 0777 & ~SOCK_MODE)) {
		/* A kernel that ignores the socket's mode at bind: narrow it now. */
		log_warn("server: %s was created with mode %o", path, made->st_mode & 0777);
		if (chmod(path, SOCK_MODE) < 0)
			ret = -errno;
	}
	if (ret < 0) {
		close(fd);
		return ret;
	}
	return fd;
}

int uvfio_server_add_device(struct uvfio_server *srv, struct uvfio_device *dev,
			    const char *socket_path)
{
	struct stat st;

	if (!srv || !dev || !socket_path) {
		uvfio_device_free(dev);
		return -EINVAL;
	}
	char *path = strdup(socket_path);
	int fd = path ? listen_on(socket_path, &st) : -ENOMEM;
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
	srv->devs->path_dev = st.st_dev;
	srv->devs->path_ino = st.st_ino;
	srv->devs->path_ctime = st.st_ctim;
	log_info("server: %s listening on %s (loop %u)", uvfio_device_name(dev), socket_path,
		 srv->devs->loop->index);
	return 0;
}

void srv_on_listen(struct srv_dev *sd)
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
	listen_pause(sd, true);
}
