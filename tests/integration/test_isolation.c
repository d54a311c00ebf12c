/* SPDX-License-Identifier: MIT */
/*
 * Devices of one server process are isolated from each other's clients:
 * - a client that sends requests and never reads a reply fills its socket; the server queues
 *   what the socket does not take, stops reading that client, keeps answering another
 *   device's client meanwhile (whether the two devices share a loop or not), and disconnects
 *   the stuck client after msg_timeout_ms; its device then serves a new client;
 * - embedding: the server runs inside a foreign epoll loop next to the program's own timerfd,
 *   both keep working.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/vfio.h>

#include <uvfio/migration.h>

#include "harness.h"
#include "migration/feature_payloads.h"

#define TIMEOUT_MS 300 /* the stuck client's grace: short, the test waits for the disconnect */

struct two {
	pid_t pid;
	char dir[64];
	char path[2][128];
};

static struct uvfio_server *child_srv;

static void on_term(int sig)
{
	(void)sig;
	uvfio_server_stop(child_srv);
}

/* Forks a server with two test devices (loops: the config's). Returns once both listen. */
static void start_two(struct two *t, uint32_t loops, uint32_t timeout_ms)
{
	int pfd[2];

	strcpy(t->dir, "/tmp/uvfio-iso.XXXXXX");
	assert_non_null(mkdtemp(t->dir));
	for (int i = 0; i < 2; i++)
		snprintf(t->path[i], sizeof(t->path[i]), "%s/d%d.sock", t->dir, i);
	assert_int_equal(pipe(pfd), 0);
	t->pid = fork();
	assert_true(t->pid >= 0);
	if (t->pid == 0) {
		struct uvfio_server_config cfg = { .msg_timeout_ms = timeout_ms, .loops = loops };
		struct sigaction sa = { .sa_handler = on_term };
		close(pfd[0]);
		sigaction(SIGTERM, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		child_srv = uvfio_server_new(&cfg);
		if (!child_srv || uvfio_server_add_device(child_srv, h_test_device(NULL), t->path[0]) ||
		    uvfio_server_add_device(child_srv, h_test_device(NULL), t->path[1]))
			_exit(2);
		if (write(pfd[1], "r", 1) != 1)
			_exit(2);
		int ret = uvfio_server_run(child_srv);
		uvfio_server_free(child_srv);
		_exit(ret == 0 ? 0 : 1);
	}
	close(pfd[1]);
	char c;
	assert_int_equal(read(pfd[0], &c, 1), 1);
	close(pfd[0]);
}

static int stop_two(struct two *t)
{
	int status = 0;

	kill(t->pid, SIGTERM);
	waitpid(t->pid, &status, 0);
	for (int i = 0; i < 2; i++)
		unlink(t->path[i]);
	rmdir(t->dir);
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -ECHILD;
}

/* A client thread that sends BAR0 reads of the whole BAR, blocking, without reading a reply:
 * until the server hangs up on it (stuck), or `limit` requests went out. */
struct flood {
	int sock;
	int limit;
	int sent;
	int err; /* the errno that ended it, 0 if the limit did */
	int done;
};

static void *flood_thread(void *arg)
{
	struct flood *f = arg;
	struct vfu_region_access a = { .offset = 0, .region = 0, .count = H_BAR0_SIZE };
	struct vfu_hdr h = { .cmd = VFU_CMD_REGION_READ, .flags = VFU_F_TYPE_COMMAND,
			     .msg_size = sizeof(h) + sizeof(a) };
	uint8_t buf[sizeof(h) + sizeof(a)];

	for (f->sent = 0; f->sent < f->limit; f->sent++) {
		h.msg_id = (uint16_t)(1000 + f->sent);
		memcpy(buf, &h, sizeof(h));
		memcpy(buf + sizeof(h), &a, sizeof(a));
		int ret = h_send_raw(f->sock, buf, sizeof(buf), NULL, 0);
		if (ret < 0) {
			f->err = -ret;
			break;
		}
	}
	__atomic_store_n(&f->done, 1, __ATOMIC_RELEASE);
	return NULL;
}

/* Whether the server hung up on sock (bounded far above its timeout), read without a byte. */
static bool hung_up(int sock)
{
	struct pollfd p = { .fd = sock, .events = POLLRDHUP };
	int n = poll(&p, 1, 30000);

	return n == 1 && (p.revents & (POLLRDHUP | POLLHUP));
}

static void stuck_client(uint32_t loops)
{
	struct two t;
	struct flood f = { .limit = 1000000 };
	pthread_t th;

	start_two(&t, loops, TIMEOUT_MS);
	f.sock = h_connect_enabled(t.path[0]);
	int good = h_connect_enabled(t.path[1]);
	assert_true(f.sock >= 0);
	assert_true(good >= 0);
	assert_int_equal(pthread_create(&th, NULL, flood_thread, &f), 0);
	/* The other device's client is answered all along: while the stuck client's replies
	 * fill its socket, while the server waits for it to read (msg_timeout_ms), and after
	 * the server gave up on it. */
	int served = 0;
	while (!__atomic_load_n(&f.done, __ATOMIC_ACQUIRE)) {
		assert_int_equal(h_check_alive(good), 0);
		served++;
	}
	pthread_join(th, NULL);
	assert_true(served > 0);
	/* Its sends failed because the server disconnected it, not because of the limit. */
	assert_true(f.sent < f.limit);
	assert_true(f.err == EPIPE || f.err == ECONNRESET);
	assert_true(hung_up(f.sock));
	assert_int_equal(h_check_alive(good), 0);
	h_untrack(f.sock);
	close(f.sock);
	/* Its device serves the next client. */
	int next = h_connect_enabled(t.path[0]);
	assert_true(next >= 0);
	assert_int_equal(h_check_alive(next), 0);
	assert_int_equal(h_check_alive(good), 0);
	h_close_tracked(NULL);
	assert_int_equal(stop_two(&t), 0);
}

static void test_stuck_client_own_loops(void **state)
{
	(void)state;
	stuck_client(0);
}

static void test_stuck_client_shared_loop(void **state)
{
	(void)state;
	stuck_client(1);
}

/* A client that sends far more than the sockets hold before it reads is not disconnected: the
 * server queues, pauses reading it, and it gets every reply, in order. */
static void test_slow_reader_gets_everything(void **state)
{
	struct two t;
	struct vfu_msg m;
	struct flood f = { .limit = 2000 }; /* ~8 MiB of replies */
	pthread_t th;

	(void)state;
	start_two(&t, 1, 10000); /* a reader that reads is never cut off */
	f.sock = h_connect_enabled(t.path[0]);
	assert_true(f.sock >= 0);
	assert_int_equal(pthread_create(&th, NULL, flood_thread, &f), 0);
	for (int i = 0; i < f.limit; i++) {
		assert_int_equal(h_recv(f.sock, &m, 10000), 0);
		assert_int_equal(m.hdr.msg_id, (uint16_t)(1000 + i));
		assert_int_equal(m.hdr.flags & VFU_F_ERROR, 0);
		assert_int_equal(m.payload_len, sizeof(struct vfu_region_access) + H_BAR0_SIZE);
		vfu_msg_release(&m);
	}
	pthread_join(th, NULL);
	assert_int_equal(f.err, 0);
	assert_int_equal(h_check_alive(f.sock), 0);
	h_close_tracked(NULL);
	assert_int_equal(stop_two(&t), 0);
}

/* ---- device pollers in polling mode ---- */

struct poller {
	sem_t enough; /* posted once, at the 100th call */
	unsigned calls;
	pthread_t thread; /* the thread of the last call */
};

static int count_polls(void *arg)
{
	struct poller *p = arg;

	p->thread = pthread_self();
	if (++p->calls == 100)
		sem_post(&p->enough);
	return 0; /* no work: an adaptive loop would back off; a fixed one spins its window */
}

struct runner {
	struct uvfio_server *srv;
	pthread_t thread;
	int ret;
};

static void *run_server(void *arg)
{
	struct runner *r = arg;

	r->thread = pthread_self();
	r->ret = uvfio_server_run(r->srv);
	return NULL;
}

static bool wait_sem(sem_t *s)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	ts.tv_sec += 30;
	return sem_timedwait(s, &ts) == 0;
}

/* Each device's poll callback runs on that device's own loop thread, over and over while the
 * loop polls, and the devices are served meanwhile. */
static void test_pollers_on_their_loops(void **state)
{
	char dir[] = "/tmp/uvfio-poll.XXXXXX", path[2][128];
	struct uvfio_server_config cfg = { .poll_us = 50 };
	struct poller p[2];
	struct runner r = { 0 };
	pthread_t th;

	(void)state;
	assert_non_null(mkdtemp(dir));
	r.srv = uvfio_server_new(&cfg);
	assert_non_null(r.srv);
	for (int i = 0; i < 2; i++) {
		struct uvfio_device *dev = h_test_device(NULL);
		memset(&p[i], 0, sizeof(p[i]));
		sem_init(&p[i].enough, 0, 0);
		uvfio_device_set_poller(dev, count_polls, &p[i]);
		snprintf(path[i], sizeof(path[i]), "%s/d%d.sock", dir, i);
		assert_int_equal(uvfio_server_add_device(r.srv, dev, path[i]), 0);
	}
	assert_int_equal(pthread_create(&th, NULL, run_server, &r), 0);
	for (int i = 0; i < 2; i++) {
		int sock = h_connect_enabled(path[i]);
		assert_true(sock >= 0);
		assert_int_equal(h_check_alive(sock), 0);
	}
	assert_true(wait_sem(&p[0].enough));
	assert_true(wait_sem(&p[1].enough));
	uvfio_server_stop(r.srv);
	pthread_join(th, NULL);
	assert_int_equal(r.ret, 0);
	/* The first loop runs on the thread that called uvfio_server_run, the second on its own. */
	assert_true(pthread_equal(p[0].thread, r.thread) || pthread_equal(p[1].thread, r.thread));
	assert_false(pthread_equal(p[0].thread, p[1].thread));
	h_close_tracked(NULL);
	uvfio_server_free(r.srv);
	for (int i = 0; i < 2; i++)
		sem_destroy(&p[i].enough);
	assert_int_equal(rmdir(dir), 0);
}

/* ---- migration data under backpressure ---- */

#define MIG_REQ (1u << 20) /* bytes per MIG_DATA_READ (the default max_data_xfer_size) */
#define MIG_MAX (24u << 20) /* more than the stream of an edu-mig with mem=8M */

static void mig_state(int sock, uint16_t id, uint32_t state)
{
	uint8_t buf[sizeof(struct vfu_device_feature) + sizeof(struct uvfio_feature_mig_state)];
	struct vfu_device_feature f = { .argsz = sizeof(buf),
					.flags = VFIO_DEVICE_FEATURE_SET |
						 VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE };
	struct uvfio_feature_mig_state st = { .device_state = state, .data_fd = -1 };
	struct vfu_msg m;

	memcpy(buf, &f, sizeof(f));
	memcpy(buf + sizeof(f), &st, sizeof(st));
	assert_int_equal(h_send(sock, id, VFU_CMD_DEVICE_FEATURE, 0, buf, sizeof(buf), NULL, 0), 0);
	assert_int_equal(h_recv(sock, &m, 30000), 0);
	assert_int_equal(m.hdr.flags & VFU_F_ERROR, 0);
	vfu_msg_release(&m);
}

static void mig_request(int sock, uint16_t id)
{
	struct vfu_mig_data q = { .argsz = sizeof(q) + MIG_REQ, .size = MIG_REQ };

	assert_int_equal(h_send(sock, id, VFU_CMD_MIG_DATA_READ, 0, &q, sizeof(q), NULL, 0), 0);
}

/* One reply to request id: its data appended to out at *len; false once the stream ended. */
static bool mig_reply(int sock, uint16_t id, uint8_t *out, size_t *len)
{
	struct vfu_msg m;
	struct vfu_mig_data q;

	assert_int_equal(h_recv(sock, &m, 30000), 0);
	assert_int_equal(m.hdr.msg_id, id);
	assert_int_equal(m.hdr.flags & VFU_F_ERROR, 0);
	assert_true(m.payload_len >= sizeof(q));
	memcpy(&q, m.payload, sizeof(q));
	assert_int_equal(m.payload_len, sizeof(q) + q.size);
	assert_true(*len + q.size <= MIG_MAX);
	memcpy(out + *len, m.payload + sizeof(q), q.size);
	*len += q.size;
	vfu_msg_release(&m);
	return q.size == MIG_REQ;
}

/* The device's stop-copy stream read with many requests in flight and a small receive buffer,
 * so that replies find the socket full (sent from the stream as it drains, none lost or
 * reordered), equals the same stream read one request at a time. */
static void test_mig_data_under_backpressure(void **state)
{
	static const char *const args[] = { "--device", "edu-mig,mem=8M", "--socket", "@SOCK@",
					    NULL };
	struct h_server s;
	uint8_t *piped = malloc(MIG_MAX), *plain = malloc(MIG_MAX);
	size_t plen = 0, len = 0;
	uint16_t id = 10;

	(void)state;
	assert_non_null(piped);
	assert_non_null(plain);
	assert_int_equal(h_server_start_cli(&s, args), 0);
	int sock = h_connect(s.sock_path);
	assert_true(sock >= 0);
	h_track(sock);
	int small = 4096;
	setsockopt(sock, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small));
	assert_int_equal(h_version(sock, NULL), 0);

	mig_state(sock, id++, UVFIO_MIG_STATE_STOP_COPY);
	uint16_t first = id;
	for (int i = 0; i < 16; i++)
		mig_request(sock, id++);
	bool more = true;
	for (uint16_t r = first; r < id; r++)
		if (!mig_reply(sock, r, piped, &plen) || !more)
			more = false;
	while (more) {
		mig_request(sock, id);
		more = mig_reply(sock, id++, piped, &plen);
	}
	assert_true(plen > (8u << 20));

	mig_state(sock, id++, UVFIO_MIG_STATE_STOP);
	mig_state(sock, id++, UVFIO_MIG_STATE_STOP_COPY);
	do {
		mig_request(sock, id);
	} while (mig_reply(sock, id++, plain, &len));
	assert_int_equal(plen, len);
	assert_memory_equal(piped, plain, len);
	h_close_tracked(NULL);
	assert_int_equal(h_server_stop(&s), 0);
	free(piped);
	free(plain);
}

struct embed {
	char path[2][128];
	int done_fd;
	int ticks; /* the foreign loop's timer ticks, atomically */
	int result;
};

static void *embed_client(void *arg)
{
	struct embed *e = arg;
	int s[2];
	uint64_t one = 1;

	e->result = 0;
	for (int i = 0; i < 2 && !e->result; i++) {
		s[i] = h_connect_enabled(e->path[i]);
		if (s[i] < 0)
			e->result = s[i];
	}
	/* Requests before and after the foreign loop saw its timer tick a few times. */
	for (int round = 0; round < 2 && !e->result; round++) {
		for (int i = 0; i < 20 && !e->result; i++)
			e->result = h_check_alive(s[i % 2]);
		while (round == 0 && __atomic_load_n(&e->ticks, __ATOMIC_ACQUIRE) < 3)
			poll(NULL, 0, 1);
	}
	if (write(e->done_fd, &one, sizeof(one)) != sizeof(one) && !e->result)
		e->result = -EIO;
	return NULL;
}

static void test_embedded_in_foreign_loop(void **state)
{
	struct embed e = { 0 };
	char dir[] = "/tmp/uvfio-emb.XXXXXX";
	struct uvfio_server_config cfg = { .msg_timeout_ms = 2000 };
	pthread_t th;

	(void)state;
	assert_non_null(mkdtemp(dir));
	struct uvfio_server *srv = uvfio_server_new(&cfg);
	assert_non_null(srv);
	for (int i = 0; i < 2; i++) {
		snprintf(e.path[i], sizeof(e.path[i]), "%s/d%d.sock", dir, i);
		assert_int_equal(uvfio_server_add_device(srv, h_test_device(NULL), e.path[i]), 0);
	}
	int ep = epoll_create1(EPOLL_CLOEXEC);
	int tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	e.done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	struct itimerspec its = { .it_interval = { 0, 1000000 }, .it_value = { 0, 1000000 } };
	assert_int_equal(timerfd_settime(tfd, 0, &its, NULL), 0);
	struct epoll_event ev = { .events = EPOLLIN };
	ev.data.fd = uvfio_server_fd(srv);
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, ev.data.fd, &ev), 0);
	ev.data.fd = tfd;
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, tfd, &ev), 0);
	ev.data.fd = e.done_fd;
	assert_int_equal(epoll_ctl(ep, EPOLL_CTL_ADD, e.done_fd, &ev), 0);
	assert_int_equal(pthread_create(&th, NULL, embed_client, &e), 0);

	bool done = false;
	int handled = 0;
	while (!done) {
		struct epoll_event out[4];
		int n = epoll_wait(ep, out, 4, 30000);
		assert_true(n > 0); /* something is always due: the timer ticks every ms */
		for (int i = 0; i < n; i++) {
			uint64_t v;
			if (out[i].data.fd == tfd) {
				assert_int_equal(read(tfd, &v, sizeof(v)), sizeof(v));
				__atomic_add_fetch(&e.ticks, 1, __ATOMIC_RELEASE);
			} else if (out[i].data.fd == e.done_fd) {
				done = true;
			} else {
				int r = uvfio_server_dispatch(srv, 0);
				assert_true(r >= 0);
				handled += r;
			}
		}
	}
	pthread_join(th, NULL);
	assert_int_equal(e.result, 0);
	assert_true(handled >= 80); /* every request went through the embedded dispatch */
	assert_true(__atomic_load_n(&e.ticks, __ATOMIC_ACQUIRE) >= 3);
	h_close_tracked(NULL);
	/* Stop works through the embedding call too. */
	uvfio_server_stop(srv);
	assert_int_equal(uvfio_server_dispatch(srv, 1000), -ECANCELED);
	uvfio_server_free(srv);
	close(ep);
	close(tfd);
	close(e.done_fd);
	assert_int_equal(rmdir(dir), 0); /* the server removed its socket files */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_stuck_client_own_loops, h_close_tracked),
		cmocka_unit_test_teardown(test_stuck_client_shared_loop, h_close_tracked),
		cmocka_unit_test_teardown(test_slow_reader_gets_everything, h_close_tracked),
		cmocka_unit_test_teardown(test_embedded_in_foreign_loop, h_close_tracked),
		cmocka_unit_test_teardown(test_mig_data_under_backpressure, h_close_tracked),
		cmocka_unit_test_teardown(test_pollers_on_their_loops, h_close_tracked),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
