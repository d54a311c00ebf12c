/* SPDX-License-Identifier: MIT */
/*
 * The server's event loops. Each loop is an epoll fd serving its devices (listening sockets,
 * connections, DMA kicks, watched eventfds), run by a thread of its own under
 * uvfio_server_run() or by the embedding program's thread through uvfio_server_dispatch().
 * Every loop's epfd sits in the server's top-level epfd, so one fd tells an embedder that some
 * loop has work.
 *
 * A loop handles every event one epoll_wait() returned. Handling one may close objects that
 * later events of the batch point to (a connection closing, an fd being unwatched): closing
 * marks their ev_src dead and the memory is freed after the batch, so a later event of the
 * same batch is recognised and skipped, never read from freed memory.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include "vfio-user/server/server_priv.h"
#include "util/log.h"

#define SRV_DEFAULT_TIMEOUT_MS 5000u
#define LOOP_BATCH 64
/* Adaptive polling: the spin window after the last work, between these bounds (us). */
#define POLL_MIN_US 16u
#define POLL_START_US 128u
#define POLL_MAX_US 2048u
/* A polling loop with device pollers never sleeps longer than this: a poller may have no fd. */
#define POLL_SLEEP_MS 1

int srv_epoll_add(struct srv_loop *l, int fd, struct ev_src *ev)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = ev };

	if (epoll_ctl(l->epfd, EPOLL_CTL_ADD, fd, &e) < 0)
		return -errno;
	return 0;
}

int srv_epoll_mod(struct srv_loop *l, int fd, struct ev_src *ev, uint32_t events)
{
	struct epoll_event e = { .events = events, .data.ptr = ev };

	if (epoll_ctl(l->epfd, EPOLL_CTL_MOD, fd, &e) < 0)
		return -errno;
	return 0;
}

void srv_epoll_del(struct srv_loop *l, int fd)
{
	epoll_ctl(l->epfd, EPOLL_CTL_DEL, fd, NULL);
}

/* The loop this thread is running right now (thread-local: no data race). */
static __thread struct srv_loop *loop_of_this_thread;

bool srv_on_loop_thread(struct srv_loop *l)
{
	return loop_of_this_thread == l;
}

void srv_defer_free_conn(struct srv_loop *l, struct vfu_conn *c)
{
	if (loop_of_this_thread != l) {
		conn_free(c); /* no batch of this loop is running: nothing can point to c */
		return;
	}
	c->grave_next = l->dead_conns;
	l->dead_conns = c;
}

static void reap(struct srv_loop *l)
{
	while (l->dead_conns) {
		struct vfu_conn *c = l->dead_conns;
		l->dead_conns = c->grave_next;
		conn_free(c);
	}
	pthread_mutex_lock(&l->watch_lock);
	struct srv_watch *w = l->dead_watches;
	l->dead_watches = NULL;
	pthread_mutex_unlock(&l->watch_lock);
	while (w) {
		struct srv_watch *next = w->next;
		free(w);
		w = next;
	}
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
	if (cfg->poll_us < UVFIO_SERVER_POLL_ADAPTIVE)
		cfg->poll_us = UVFIO_SERVER_POLL_ADAPTIVE;
}

static int top_add(struct uvfio_server *srv, int fd, struct ev_src *ev)
{
	struct epoll_event e = { .events = EPOLLIN, .data.ptr = ev };

	return epoll_ctl(srv->epfd, EPOLL_CTL_ADD, fd, &e) < 0 ? -errno : 0;
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
	srv->epfd = epoll_create1(EPOLL_CLOEXEC);
	srv->stop_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	srv->ev_stop = (struct ev_src){ .kind = EV_STOP, .obj = srv };
	if (srv->epfd < 0 || srv->stop_fd < 0 || top_add(srv, srv->stop_fd, &srv->ev_stop) < 0) {
		log_err("server: cannot set up the event loop: %s", strerror(errno));
		uvfio_server_free(srv);
		return NULL;
	}
	return srv;
}

static void loop_free(struct srv_loop *l)
{
	reap(l);
	while (l->watches) {
		struct srv_watch *w = l->watches;
		l->watches = w->next;
		free(w);
	}
	if (l->epfd >= 0)
		close(l->epfd);
	pthread_mutex_destroy(&l->watch_lock);
	free(l);
}

static struct srv_loop *loop_new(struct uvfio_server *srv)
{
	struct srv_loop **v = realloc(srv->loops, (srv->nloops + 1) * sizeof(*v));
	struct srv_loop *l = calloc(1, sizeof(*l));

	if (v)
		srv->loops = v;
	if (!v || !l) {
		free(l);
		return NULL;
	}
	l->srv = srv;
	l->index = srv->nloops;
	l->poll_us = srv->cfg.poll_us;
	l->spin_us = POLL_START_US;
	pthread_mutex_init(&l->watch_lock, NULL);
	l->ev_stop = (struct ev_src){ .kind = EV_STOP, .obj = srv };
	l->ev_loop = (struct ev_src){ .kind = EV_LOOP, .obj = l };
	l->epfd = epoll_create1(EPOLL_CLOEXEC);
	int ret = l->epfd < 0 ? -errno : srv_epoll_add(l, srv->stop_fd, &l->ev_stop);
	if (!ret)
		ret = top_add(srv, l->epfd, &l->ev_loop);
	if (ret < 0) {
		log_err("server: cannot set up an event loop: %s", strerror(-ret));
		loop_free(l);
		return NULL;
	}
	srv->loops[srv->nloops++] = l;
	return l;
}

struct srv_loop *srv_pick_loop(struct uvfio_server *srv)
{
	unsigned want = srv->cfg.loops ? srv->cfg.loops : ~0u;

	if (srv->nloops < want)
		return loop_new(srv);
	return srv->loops[srv->ndevs % srv->nloops];
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
	for (unsigned i = 0; i < srv->nloops; i++)
		loop_free(srv->loops[i]);
	free(srv->loops);
	if (srv->stop_fd >= 0)
		close(srv->stop_fd);
	if (srv->epfd >= 0)
		close(srv->epfd);
	free(srv);
}

int srv_watch(void *loop, int fd, void (*cb)(void *arg), void *arg)
{
	struct srv_loop *l = loop;
	struct srv_watch *w = calloc(1, sizeof(*w));

	if (!w)
		return -ENOMEM;
	*w = (struct srv_watch){ .ev = { .kind = EV_WATCH, .obj = w }, .fd = fd, .cb = cb, .arg = arg };
	int ret = srv_epoll_add(l, fd, &w->ev);
	if (ret < 0) {
		free(w);
		return ret;
	}
	pthread_mutex_lock(&l->watch_lock);
	w->next = l->watches;
	l->watches = w;
	pthread_mutex_unlock(&l->watch_lock);
	return 0;
}

void srv_unwatch(void *loop, int fd)
{
	struct srv_loop *l = loop;

	pthread_mutex_lock(&l->watch_lock);
	for (struct srv_watch **pp = &l->watches; *pp; pp = &(*pp)->next) {
		struct srv_watch *w = *pp;
		if (w->fd != fd)
			continue;
		*pp = w->next;
		srv_epoll_del(l, fd);
		__atomic_store_n(&w->ev.dead, true, __ATOMIC_RELEASE);
		/* The loop may hold an event for w from its current epoll_wait(): freed after it. */
		w->next = l->dead_watches;
		l->dead_watches = w;
		break;
	}
	pthread_mutex_unlock(&l->watch_lock);
}

static void handle_event(struct ev_src *ev, uint32_t events)
{
	switch (ev->kind) {
	case EV_STOP:
	case EV_LOOP:
		break; /* handled by the callers */
	case EV_LISTEN:
		srv_on_listen(ev->obj);
		break;
	case EV_SOCK:
		conn_on_event(ev->obj, events);
		break;
	case EV_TIMER:
		conn_on_timer(ev->obj);
		break;
	case EV_TX_TIMER:
		conn_on_tx_timer(ev->obj);
		break;
	case EV_DMA_KICK:
		conn_on_kick(ev->obj);
		break;
	case EV_WATCH: {
		struct srv_watch *w = ev->obj;
		w->cb(w->arg); /* may unwatch w: freed only after the batch */
		break;
	}
	}
}

static int run_pollers(struct srv_loop *l)
{
	int n = 0;

	for (struct srv_dev *sd = l->devs; sd; sd = sd->loop_next)
		n += uvfio_device_poll(sd->dev);
	return n;
}

static bool has_pollers(struct srv_loop *l)
{
	for (struct srv_dev *sd = l->devs; sd; sd = sd->loop_next)
		if (uvfio_device_has_poller(sd->dev))
			return true;
	return false;
}

/* One epoll_wait() and everything it returned, then the device pollers. Returns the work done
 * (events + what pollers reported), or -ECANCELED if the server is being stopped. */
static int loop_dispatch(struct srv_loop *l, int timeout_ms)
{
	struct epoll_event evs[LOOP_BATCH];
	int n = epoll_wait(l->epfd, evs, LOOP_BATCH, timeout_ms);

	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	struct srv_loop *outer = loop_of_this_thread;
	loop_of_this_thread = l;
	bool stop = false;
	int work = 0;
	for (int i = 0; i < n; i++) {
		struct ev_src *ev = evs[i].data.ptr;
		if (__atomic_load_n(&ev->dead, __ATOMIC_ACQUIRE))
			continue;
		if (ev->kind == EV_STOP) {
			stop = true; /* level-triggered: every loop sees it; the runner drains it */
			continue;
		}
		handle_event(ev, evs[i].events);
		work++;
	}
	work += run_pollers(l);
	reap(l);
	loop_of_this_thread = outer;
	return stop ? -ECANCELED : work;
}

static uint64_t now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

/* Polling: spin on the loop until nothing came for the window, then adapt the window. */
static int loop_spin(struct srv_loop *l)
{
	uint64_t window = l->poll_us > 0 ? (uint64_t)l->poll_us : l->spin_us;
	uint64_t last = now_us(), busy = 0;

	for (;;) {
		int ret = loop_dispatch(l, 0);
		if (ret < 0)
			return ret;
		uint64_t t = now_us();
		if (ret > 0) {
			last = t;
			busy++;
		} else if (t - last >= window) {
			break;
		}
	}
	if (l->poll_us < 0) {
		/* Work kept arriving while spinning: spinning pays, spin longer next time. */
		if (busy > 1 && l->spin_us < POLL_MAX_US)
			l->spin_us *= 2;
		else if (busy <= 1 && l->spin_us > POLL_MIN_US)
			l->spin_us /= 2;
	}
	return 0;
}

static int loop_run(struct srv_loop *l)
{
	for (;;) {
		int ret = l->poll_us ? loop_spin(l) : 0;
		if (ret == 0)
			ret = loop_dispatch(l, l->poll_us && has_pollers(l) ? POLL_SLEEP_MS : -1);
		if (ret == -ECANCELED)
			return 0;
		if (ret < 0) {
			log_err("server: loop %u: %s", l->index, strerror(-ret));
			return ret;
		}
	}
}

static void *loop_thread(void *arg)
{
	struct srv_loop *l = arg;

	return (void *)(intptr_t)loop_run(l);
}

static void drain_stop(struct uvfio_server *srv)
{
	uint64_t v;

	if (read(srv->stop_fd, &v, sizeof(v)) < 0) {
		/* EAGAIN: nothing to drain */
	}
}

int uvfio_server_fd(struct uvfio_server *srv)
{
	return srv ? srv->epfd : -EINVAL;
}

int uvfio_server_dispatch(struct uvfio_server *srv, int timeout_ms)
{
	struct epoll_event evs[LOOP_BATCH];

	if (!srv)
		return -EINVAL;
	int n = epoll_wait(srv->epfd, evs, LOOP_BATCH, timeout_ms);
	if (n < 0)
		return errno == EINTR ? 0 : -errno;
	int work = 0;
	for (int i = 0; i < n; i++) {
		struct ev_src *ev = evs[i].data.ptr;
		int ret = ev->kind == EV_LOOP ? loop_dispatch(ev->obj, 0) : -ECANCELED;
		if (ret == -ECANCELED) {
			drain_stop(srv);
			return -ECANCELED;
		}
		if (ret < 0)
			return ret;
		work += ret;
	}
	return work;
}

int uvfio_server_run(struct uvfio_server *srv)
{
	int ret = 0;

	if (!srv)
		return -EINVAL;
	if (srv->nloops == 0) {
		for (;;) {
			ret = uvfio_server_dispatch(srv, -1);
			if (ret == -ECANCELED)
				return 0;
			if (ret < 0)
				return ret;
		}
	}
	for (unsigned i = 1; i < srv->nloops && ret == 0; i++) {
		struct srv_loop *l = srv->loops[i];
		ret = -pthread_create(&l->thread, NULL, loop_thread, l);
		l->thread_started = ret == 0;
		if (ret < 0)
			log_err("server: cannot start loop %u: %s", i, strerror(-ret));
	}
	if (ret == 0)
		ret = loop_run(srv->loops[0]);
	uvfio_server_stop(srv); /* the other loops end too, whatever ended this one */
	for (unsigned i = 1; i < srv->nloops; i++) {
		struct srv_loop *l = srv->loops[i];
		void *res = NULL;
		if (!l->thread_started)
			continue;
		pthread_join(l->thread, &res);
		l->thread_started = false;
		if (ret == 0 && res)
			ret = (int)(intptr_t)res;
	}
	drain_stop(srv);
	return ret;
}

void uvfio_server_stop(struct uvfio_server *srv)
{
	uint64_t one = 1;

	/* write() to an eventfd is async-signal-safe; every loop sees it as readable. */
	if (srv && write(srv->stop_fd, &one, sizeof(one)) < 0) {
		/* The counter can only overflow after 2^64 stops: nothing to do. */
	}
}
