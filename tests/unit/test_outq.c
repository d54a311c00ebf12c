/* SPDX-License-Identifier: MIT */
/* The server's per-connection output queue: direct sends, backpressure, order, fds, errors. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vfio-user/server/outq.h"

#define MSG_PAYLOAD 16384

struct pair {
	int tx, rx;
};

static void make_pair(struct pair *p)
{
	int sv[2];
	int small = 4096;

	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	p->tx = sv[0];
	p->rx = sv[1];
	assert_int_equal(setsockopt(p->tx, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	assert_int_equal(fcntl(p->rx, F_SETFL, O_NONBLOCK), 0);
}

static void fill(uint8_t *buf, size_t len, unsigned seed)
{
	for (size_t i = 0; i < len; i++)
		buf[i] = (uint8_t)(seed * 31 + i * 7);
}

/* Message k: a header with msg_id k and a MSG_PAYLOAD-byte payload seeded by k. */
static int push(struct outq *q, int sock, unsigned k, const int *fds, size_t nfds)
{
	static uint8_t payload[MSG_PAYLOAD];
	struct vfu_hdr h = { .msg_id = (uint16_t)k, .cmd = VFU_CMD_REGION_READ,
			     .flags = VFU_F_TYPE_REPLY };
	struct iovec iov = { payload, sizeof(payload) };

	fill(payload, sizeof(payload), k);
	return outq_send(q, sock, &h, &iov, 1, fds, nfds);
}

/* Reads what is there, appended to buf at *got; records the stream range [*fd_at, *fd_end) of
 * the read that brought an fd (the kernel ends such a read with the fd's first byte's buffer). */
static size_t fd_end;
static void drain(int sock, uint8_t *buf, size_t cap, size_t *got, size_t *fd_at, int *fd)
{
	for (;;) {
		union {
			char c[CMSG_SPACE(sizeof(int) * 2)];
			struct cmsghdr align;
		} ctl;
		struct iovec iov = { buf + *got, cap - *got };
		struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.c,
				     .msg_controllen = sizeof(ctl.c) };
		ssize_t n = recvmsg(sock, &mh, 0);
		if (n <= 0)
			return;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			if (c->cmsg_type == SCM_RIGHTS) {
				memcpy(fd, CMSG_DATA(c), sizeof(int));
				*fd_at = *got;
				fd_end = *got + (size_t)n;
			}
		}
		*got += (size_t)n;
	}
}

static void check_stream(const uint8_t *buf, size_t len, unsigned nmsg)
{
	size_t msg = sizeof(struct vfu_hdr) + MSG_PAYLOAD;
	static uint8_t want[MSG_PAYLOAD];

	assert_int_equal(len, nmsg * msg);
	for (unsigned k = 0; k < nmsg; k++) {
		struct vfu_hdr h;
		memcpy(&h, buf + k * msg, sizeof(h));
		assert_int_equal(h.msg_id, k);
		assert_int_equal(h.msg_size, msg);
		fill(want, sizeof(want), k);
		assert_memory_equal(buf + k * msg + sizeof(h), want, sizeof(want));
	}
}

static void test_direct_when_empty(void **state)
{
	struct pair p;
	struct outq q;

	(void)state;
	make_pair(&p);
	outq_init(&q);
	struct vfu_hdr h = { .msg_id = 7 };
	assert_int_equal(outq_send(&q, p.tx, &h, NULL, 0, NULL, 0), 0);
	assert_int_equal(outq_pending(&q), 0);
	assert_null(q.buf); /* nothing was queued: no buffer, no allocation */
	struct vfu_hdr got;
	assert_int_equal(read(p.rx, &got, sizeof(got)), sizeof(got));
	assert_int_equal(got.msg_id, 7);
	assert_int_equal(got.msg_size, sizeof(got));
	outq_free(&q);
	close(p.tx);
	close(p.rx);
}

static void test_backpressure_keeps_order(void **state)
{
	struct pair p;
	struct outq q;
	unsigned n = 0;
	size_t cap = 64u << 20, got = 0, fd_at = 0;
	uint8_t *buf = malloc(cap);
	int fd = -1;

	(void)state;
	make_pair(&p);
	outq_init(&q);
	/* The peer reads nothing: the socket fills and the rest waits in the queue. */
	while (outq_pending(&q) == 0)
		assert_int_equal(push(&q, p.tx, n++, NULL, 0), 0);
	size_t before = outq_pending(&q);
	for (int i = 0; i < 8; i++)
		assert_int_equal(push(&q, p.tx, n++, NULL, 0), 0);
	/* Everything after the first queued message is queued whole, nothing jumps ahead. */
	assert_int_equal(outq_pending(&q), before + 8 * (sizeof(struct vfu_hdr) + MSG_PAYLOAD));
	assert_int_equal(outq_flush(&q, p.tx), 0); /* still no room: nothing sent, no error */
	while (outq_pending(&q)) {
		drain(p.rx, buf, cap, &got, &fd_at, &fd);
		assert_true(outq_flush(&q, p.tx) >= 0);
	}
	drain(p.rx, buf, cap, &got, &fd_at, &fd);
	check_stream(buf, got, n);
	assert_int_equal(fd, -1);
	outq_free(&q);
	free(buf);
	close(p.tx);
	close(p.rx);
}

static void test_fds_ride_with_their_message(void **state)
{
	struct pair p;
	struct outq q;
	unsigned n = 0;
	size_t cap = 64u << 20, got = 0, fd_at = 0;
	uint8_t *buf = malloc(cap);
	int fd = -1, efd = eventfd(0, 0);
	struct stat want, st;

	(void)state;
	make_pair(&p);
	outq_init(&q);
	while (outq_pending(&q) == 0)
		assert_int_equal(push(&q, p.tx, n++, NULL, 0), 0);
	unsigned with_fd = n;
	assert_int_equal(push(&q, p.tx, n++, &efd, 1), 0);
	assert_int_equal(push(&q, p.tx, n++, NULL, 0), 0);
	/* The queue holds its own copy of the fd: the caller may close its own now. */
	assert_int_equal(fstat(efd, &want), 0);
	close(efd);
	while (outq_pending(&q)) {
		drain(p.rx, buf, cap, &got, &fd_at, &fd);
		assert_true(outq_flush(&q, p.tx) >= 0);
	}
	drain(p.rx, buf, cap, &got, &fd_at, &fd);
	check_stream(buf, got, n);
	assert_true(fd >= 0);
	/* The fd came with the read holding its message's first byte, not an earlier or later
	 * message's. */
	size_t msg = sizeof(struct vfu_hdr) + MSG_PAYLOAD, start = with_fd * msg;
	assert_true(fd_at <= start && start < fd_end);
	assert_true(fd_end <= start + msg);
	assert_int_equal(fstat(fd, &st), 0);
	assert_true(st.st_ino == want.st_ino);
	close(fd);
	outq_free(&q);
	free(buf);
	close(p.tx);
	close(p.rx);
}

static void test_errors(void **state)
{
	struct pair p;
	struct outq q;
	int fds[OUTQ_MAX_FDS + 1] = { 0 };
	struct vfu_hdr h = { 0 };

	(void)state;
	make_pair(&p);
	outq_init(&q);
	assert_int_equal(outq_send(&q, p.tx, &h, NULL, 0, fds, OUTQ_MAX_FDS + 1), -EINVAL);
	assert_int_equal(outq_send(&q, p.tx, &h, NULL, -1, NULL, 0), -EINVAL);
	unsigned n = 0;
	while (outq_pending(&q) == 0)
		assert_int_equal(push(&q, p.tx, n++, NULL, 0), 0);
	/* Queued fds are closed by outq_free, not leaked. */
	int efd = eventfd(0, 0);
	assert_int_equal(push(&q, p.tx, n++, &efd, 1), 0);
	close(efd);
	close(p.rx);
	assert_int_equal(outq_flush(&q, p.tx), -EPIPE);
	outq_free(&q);
	assert_int_equal(outq_pending(&q), 0);
	assert_int_equal(push(&q, p.tx, 0, NULL, 0), -EPIPE);
	close(p.tx);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_direct_when_empty),
		cmocka_unit_test(test_backpressure_keeps_order),
		cmocka_unit_test(test_fds_ride_with_their_message),
		cmocka_unit_test(test_errors),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
