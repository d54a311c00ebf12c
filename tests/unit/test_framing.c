/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cmocka.h>

#include "vfio-user/framing.h"

static int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	if (!d)
		return -1;
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

static void make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

/* Raw header + payload + fds in one sendmsg, bypassing vfu_send's checks. */
static void raw_send(int sock, const void *data, size_t len, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 64)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds) {
		memset(&ctl, 0, sizeof(ctl));
		mh.msg_control = ctl.buf;
		mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
		memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
	}
	assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)len);
}

static void test_roundtrip_with_fd(void **state)
{
	(void)state;
	int sv[2];
	struct vfu_msg m;
	struct vfu_hdr h = { .msg_id = 7, .cmd = VFU_CMD_DMA_MAP };
	char payload[] = "0123456789";
	struct iovec iov[2] = { { payload, 4 }, { payload + 4, 6 } };
	int memfd = memfd_create("t", 0);

	make_pair(sv);
	assert_int_equal(write(memfd, "abc", 3), 3);
	assert_int_equal(vfu_send(sv[0], &h, iov, 2, &memfd, 1), 0);
	assert_int_equal(h.msg_size, 26);
	vfu_msg_init(&m);
	assert_int_equal(vfu_recv(sv[1], &m, 1024, 4, 1000), 0);
	assert_int_equal(m.hdr.msg_id, 7);
	assert_int_equal(m.hdr.cmd, VFU_CMD_DMA_MAP);
	assert_int_equal(m.payload_len, 10);
	assert_memory_equal(m.payload, payload, 10);
	assert_int_equal(m.nfds, 1);
	char b[3];
	assert_int_equal(pread(m.fds[0], b, 3, 0), 3);
	assert_memory_equal(b, "abc", 3);
	vfu_msg_release(&m);
	assert_int_equal(m.nfds, 0);
	close(memfd);
	close(sv[0]);
	close(sv[1]);
}

static void test_reply_and_error(void **state)
{
	(void)state;
	int sv[2];
	struct vfu_msg m;
	struct vfu_hdr req = { .msg_id = 99, .cmd = VFU_CMD_REGION_READ, .msg_size = 32 };

	make_pair(sv);
	assert_int_equal(vfu_send_reply(sv[0], &req, "xyz", 3, NULL, 0), 0);
	assert_int_equal(vfu_send_error(sv[0], &req, ENOENT), 0);
	vfu_msg_init(&m);
	assert_int_equal(vfu_recv(sv[1], &m, 1024, 0, 1000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	assert_int_equal(m.hdr.msg_id, 99);
	assert_int_equal(m.hdr.cmd, VFU_CMD_REGION_READ);
	assert_int_equal(m.hdr.msg_size, 19);
	vfu_msg_release(&m);
	assert_int_equal(vfu_recv(sv[1], &m, 1024, 0, 1000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY | VFU_F_ERROR);
	assert_int_equal(m.hdr.error_no, ENOENT);
	assert_int_equal(m.hdr.msg_size, 16);
	assert_null(m.payload);
	vfu_msg_release(&m);
	close(sv[0]);
	close(sv[1]);
}

struct big_sender {
	int sock;
	uint8_t *data;
	size_t len;
	int ret;
};

static void *big_send_main(void *arg)
{
	struct big_sender *s = arg;
	struct vfu_hdr h = { .msg_id = 1, .cmd = VFU_CMD_REGION_WRITE };
	struct iovec iov = { s->data, s->len };

	s->ret = vfu_send(s->sock, &h, &iov, 1, NULL, 0);
	return NULL;
}

/* A message far bigger than the socket buffer goes out in many partial writes. */
static void test_partial_writes(void **state)
{
	(void)state;
	int sv[2], small = 4096;
	pthread_t t;
	struct vfu_msg m;
	struct big_sender s = { .len = 1 << 20 };

	make_pair(sv);
	assert_int_equal(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	s.sock = sv[0];
	s.data = malloc(s.len);
	for (size_t i = 0; i < s.len; i++)
		s.data[i] = (uint8_t)(i * 13);
	assert_int_equal(pthread_create(&t, NULL, big_send_main, &s), 0);
	vfu_msg_init(&m);
	assert_int_equal(vfu_recv(sv[1], &m, 2 << 20, 0, 10000), 0);
	pthread_join(t, NULL);
	assert_int_equal(s.ret, 0);
	assert_int_equal(m.payload_len, s.len);
	assert_memory_equal(m.payload, s.data, s.len);
	vfu_msg_release(&m);
	free(s.data);
	close(sv[0]);
	close(sv[1]);
}

/* The incremental receiver, fed one byte at a time. */
static void test_receiver_byte_by_byte(void **state)
{
	(void)state;
	int sv[2];
	struct vfu_receiver r;
	uint8_t buf[16 + 5];
	struct vfu_hdr h = { .msg_id = 3, .cmd = VFU_CMD_REGION_READ, .msg_size = sizeof(buf) };

	make_pair(sv);
	memcpy(buf, &h, 16);
	memcpy(buf + 16, "hello", 5);
	vfu_receiver_init(&r);
	assert_int_equal(vfu_receiver_feed(&r, sv[1], 1024, 4), 0);
	for (size_t i = 0; i < sizeof(buf); i++) {
		assert_int_equal(write(sv[0], buf + i, 1), 1);
		int ret = vfu_receiver_feed(&r, sv[1], 1024, 4);
		assert_int_equal(ret, i + 1 == sizeof(buf) ? 1 : 0);
	}
	assert_int_equal(r.bad, 0);
	assert_int_equal(r.msg.hdr.msg_id, 3);
	assert_memory_equal(r.msg.payload, "hello", 5);
	vfu_receiver_reset(&r);
	/* Orderly close at a boundary. */
	close(sv[0]);
	assert_int_equal(vfu_receiver_feed(&r, sv[1], 1024, 4), -ECONNRESET);
	vfu_receiver_reset(&r);
	close(sv[1]);
}

static void test_eof_mid_message(void **state)
{
	(void)state;
	int sv[2];
	struct vfu_receiver r;
	struct vfu_hdr h = { .cmd = VFU_CMD_REGION_READ, .msg_size = 40 };

	/* Inside the header. */
	make_pair(sv);
	vfu_receiver_init(&r);
	assert_int_equal(write(sv[0], &h, 8), 8);
	close(sv[0]);
	assert_int_equal(vfu_receiver_feed(&r, sv[1], 1024, 4), -EPROTO);
	vfu_receiver_reset(&r);
	close(sv[1]);
	/* Inside the payload. */
	make_pair(sv);
	assert_int_equal(write(sv[0], &h, 16), 16);
	assert_int_equal(write(sv[0], "abc", 3), 3);
	close(sv[0]);
	assert_int_equal(vfu_receiver_feed(&r, sv[1], 1024, 4), -EPROTO);
	vfu_receiver_reset(&r);
	close(sv[1]);
	/* Blocking receive: same. */
	make_pair(sv);
	struct vfu_msg m;
	vfu_msg_init(&m);
	assert_int_equal(write(sv[0], &h, 16), 16);
	close(sv[0]);
	assert_int_equal(vfu_recv(sv[1], &m, 1024, 4, 1000), -EPROTO);
	close(sv[1]);
	make_pair(sv);
	close(sv[0]);
	assert_int_equal(vfu_recv(sv[1], &m, 1024, 4, 1000), -ECONNRESET);
	close(sv[1]);
}

static void test_short_and_oversized(void **state)
{
	(void)state;
	int sv[2];
	struct vfu_receiver r;
	struct vfu_hdr shorth = { .msg_id = 1, .cmd = VFU_CMD_DEVICE_GET_INFO, .msg_size = 8 };
	struct vfu_hdr big = { .msg_id = 2, .cmd = VFU_CMD_REGION_WRITE, .msg_size = 16 + 10000 };
	struct vfu_hdr ok = { .msg_id = 3, .cmd = VFU_CMD_DEVICE_RESET, .msg_size = 16 };
	uint8_t *junk = calloc(1, 10000);

	make_pair(sv);
	vfu_receiver_init(&r);
	assert_int_equal(write(sv[0], &shorth, 16), 16);
	assert_int_equal(vfu_receiver_feed(&r, sv[1], 1024, 4), 1);
	assert_int_equal(r.bad, EINVAL);
	assert_int_equal(r.msg.hdr.msg_id, 1);
	vfu_receiver_reset(&r);
	/* Oversized: reported as soon as the header is in; nothing after it is read (the
	 * caller closes the connection: the stream cannot be resynchronised). */
	assert_int_equal(write(sv[0], &big, 16), 16);
	assert_int_equal(write(sv[0], junk, 10000), 10000);
	assert_int_equal(vfu_receiver_feed(&r, sv[1], 1024, 4), 1);
	assert_int_equal(r.bad, E2BIG);
	assert_null(r.msg.payload);
	assert_int_equal(r.msg.hdr.msg_id, 2);
	vfu_receiver_reset(&r);
	uint8_t left[10000];
	assert_int_equal(read(sv[1], left, sizeof(left)), sizeof(left)); /* all still there */
	assert_memory_equal(left, junk, sizeof(left));
	assert_int_equal(write(sv[0], &ok, 16), 16);
	assert_int_equal(vfu_receiver_feed(&r, sv[1], 1024, 4), 1);
	assert_int_equal(r.bad, 0);
	assert_int_equal(r.msg.hdr.msg_id, 3);
	vfu_receiver_reset(&r);
	/* The blocking receive refuses both. */
	struct vfu_msg m;
	vfu_msg_init(&m);
	assert_int_equal(write(sv[0], &big, 16), 16);
	assert_int_equal(vfu_recv(sv[1], &m, 1024, 4, 1000), -EPROTO);
	assert_int_equal(write(sv[0], &ok, 16), 16);
	assert_int_equal(vfu_recv(sv[1], &m, 1024, 4, 1000), 0);
	assert_int_equal(m.hdr.msg_id, 3);
	vfu_msg_release(&m);
	assert_int_equal(write(sv[0], &shorth, 16), 16);
	assert_int_equal(vfu_recv(sv[1], &m, 1024, 4, 1000), -EPROTO);
	free(junk);
	close(sv[0]);
	close(sv[1]);
}

static void test_too_many_fds(void **state)
{
	(void)state;
	int sv[2], fds[20];
	struct vfu_receiver r;
	struct vfu_hdr h = { .msg_id = 5, .cmd = VFU_CMD_DEVICE_SET_IRQS, .msg_size = 20 };
	uint8_t buf[20] = { 0 };

	make_pair(sv);
	memcpy(buf, &h, 16);
	int before = count_fds();
	for (int i = 0; i < 20; i++)
		fds[i] = memfd_create("x", 0);
	raw_send(sv[0], buf, sizeof(buf), fds, 20);
	for (int i = 0; i < 20; i++)
		close(fds[i]);
	vfu_receiver_init(&r);
	assert_int_equal(vfu_receiver_feed(&r, sv[1], 1024, 16), 1);
	assert_int_equal(r.bad, EINVAL);
	assert_int_equal(r.msg.nfds, 16); /* kept until reset, which closes them */
	vfu_receiver_reset(&r);
	assert_int_equal(count_fds(), before);
	/* Blocking receive: -EPROTO, nothing leaked. */
	for (int i = 0; i < 3; i++)
		fds[i] = memfd_create("y", 0);
	raw_send(sv[0], buf, sizeof(buf), fds, 3);
	for (int i = 0; i < 3; i++)
		close(fds[i]);
	struct vfu_msg m;
	vfu_msg_init(&m);
	assert_int_equal(vfu_recv(sv[1], &m, 1024, 1, 1000), -EPROTO);
	assert_int_equal(count_fds(), before);
	/* And fds are refused by vfu_send past the kernel's limit. */
	assert_int_equal(vfu_send(sv[0], &h, NULL, 0, fds, 300), -EINVAL);
	close(sv[0]);
	close(sv[1]);
}

static void test_recv_timeout(void **state)
{
	(void)state;
	int sv[2];
	struct vfu_msg m;
	struct vfu_hdr h = { .cmd = VFU_CMD_REGION_READ, .msg_size = 40 };

	make_pair(sv);
	vfu_msg_init(&m);
	assert_int_equal(vfu_recv(sv[1], &m, 1024, 4, 50), -ETIMEDOUT);
	assert_int_equal(write(sv[0], &h, 16), 16);
	assert_int_equal(vfu_recv(sv[1], &m, 1024, 4, 50), -ETIMEDOUT);
	close(sv[0]);
	close(sv[1]);
	/* A peer that stops reading: the bounded send gives up. */
	make_pair(sv);
	size_t big = 4 << 20;
	uint8_t *junk = calloc(1, big);
	struct iovec iov = { junk, big };
	struct vfu_hdr w = { .cmd = VFU_CMD_REGION_WRITE };
	assert_int_equal(vfu_send_timeout(sv[0], &w, &iov, 1, NULL, 0, 50), -ETIMEDOUT);
	free(junk);
	close(sv[0]);
	close(sv[1]);
	/* A gone peer gives -EPIPE on send, not SIGPIPE. */
	make_pair(sv);
	close(sv[1]);
	assert_int_equal(vfu_send(sv[0], &h, NULL, 0, NULL, 0), -EPIPE);
	close(sv[0]);
}

/* A placement for the tests: an 8-byte head and the rest into data, if it fits. mode 1:
 * decline; mode 2: an answer that does not cover the payload. */
struct place_t {
	uint8_t head[8];
	uint8_t data[64];
	int mode;
	int calls;
	size_t len;
};

static int place_t_fn(void *opaque, const struct vfu_hdr *hdr, size_t len, struct iovec *iov)
{
	struct place_t *p = opaque;

	(void)hdr;
	p->calls++;
	p->len = len;
	if (p->mode == 1 || len < 8 || len - 8 > sizeof(p->data))
		return 0;
	iov[0] = (struct iovec){ p->head, 8 };
	iov[1] = (struct iovec){ p->data, p->mode == 2 ? len - 9 : len - 8 };
	return 2;
}

static void send_msg(int sock, uint16_t id, const void *payload, size_t len)
{
	struct vfu_hdr h = { .msg_id = id, .cmd = VFU_CMD_MIG_DATA_READ,
			     .flags = VFU_F_TYPE_REPLY };
	struct iovec iov = { (void *)payload, len };

	assert_int_equal(vfu_send(sock, &h, &iov, len ? 1 : 0, NULL, 0), 0);
}

/* The payload goes where place() says, with no buffer of the receiver's; declined or
 * unusable answers fall back to a malloc'd payload. */
static void test_placed_payload(void **state)
{
	(void)state;
	int sv[2];
	struct vfu_msg m;
	struct place_t p = { .mode = 0 };
	const char payload[] = "HEAD1234the data part";

	make_pair(sv);
	send_msg(sv[0], 1, payload, sizeof(payload));
	vfu_msg_init(&m);
	assert_int_equal(vfu_recv_placed(sv[1], &m, 1024, 4, 1000, place_t_fn, &p), 0);
	assert_int_equal(p.calls, 1);
	assert_null(m.payload);
	assert_int_equal(m.payload_len, sizeof(payload));
	assert_memory_equal(p.head, "HEAD1234", 8);
	assert_memory_equal(p.data, "the data part", sizeof(payload) - 8);
	vfu_msg_release(&m);
	/* Declined, and covering one byte too few: received the usual way. */
	for (int mode = 1; mode <= 2; mode++) {
		memset(&p, 0, sizeof(p));
		p.mode = mode;
		send_msg(sv[0], 2, payload, sizeof(payload));
		assert_int_equal(vfu_recv_placed(sv[1], &m, 1024, 4, 1000, place_t_fn, &p), 0);
		assert_int_equal(p.calls, 1);
		assert_non_null(m.payload);
		assert_memory_equal(m.payload, payload, sizeof(payload));
		assert_memory_equal(p.head, "\0\0\0\0\0\0\0\0", 8);
		vfu_msg_release(&m);
	}
	/* No payload: nothing to place, place() not asked. */
	memset(&p, 0, sizeof(p));
	send_msg(sv[0], 3, NULL, 0);
	assert_int_equal(vfu_recv_placed(sv[1], &m, 1024, 4, 1000, place_t_fn, &p), 0);
	assert_int_equal(p.calls, 0);
	assert_int_equal(m.payload_len, 0);
	/* Oversized: refused before place() is asked, and nothing after the header read. */
	uint8_t big[200] = { 0 };
	send_msg(sv[0], 4, big, sizeof(big));
	assert_int_equal(vfu_recv_placed(sv[1], &m, 100, 4, 1000, place_t_fn, &p), -EPROTO);
	assert_int_equal(p.calls, 0);
	assert_int_equal(read(sv[1], big, sizeof(big)), sizeof(big));
	send_msg(sv[0], 5, payload, 8);
	assert_int_equal(vfu_recv_placed(sv[1], &m, 100, 4, 1000, place_t_fn, &p), 0);
	assert_int_equal(m.hdr.msg_id, 5);
	assert_int_equal(p.calls, 1);
	close(sv[0]);
	close(sv[1]);
}

/* A peer that closes inside a placed payload, or sends fds with it: -EPROTO, nothing leaked. */
static void test_placed_errors(void **state)
{
	(void)state;
	int sv[2];
	struct vfu_msg m;
	struct place_t p = { .mode = 0 };
	struct vfu_hdr h = { .msg_id = 1, .cmd = VFU_CMD_MIG_DATA_READ,
			     .flags = VFU_F_TYPE_REPLY, .msg_size = 16 + 8 + 40 };
	uint8_t buf[16 + 8 + 20];

	make_pair(sv);
	memcpy(buf, &h, 16);
	memset(buf + 16, 'x', sizeof(buf) - 16);
	assert_int_equal(write(sv[0], buf, sizeof(buf)), (ssize_t)sizeof(buf));
	close(sv[0]);
	vfu_msg_init(&m);
	assert_int_equal(vfu_recv_placed(sv[1], &m, 1024, 4, 1000, place_t_fn, &p), -EPROTO);
	assert_int_equal(p.calls, 1);
	assert_null(m.payload);
	close(sv[1]);

	make_pair(sv);
	int before = count_fds();
	int fd = memfd_create("z", 0);
	h.msg_size = sizeof(buf);
	memcpy(buf, &h, 16);
	raw_send(sv[0], buf, sizeof(buf), &fd, 1);
	close(fd);
	assert_int_equal(vfu_recv_placed(sv[1], &m, 1024, 0, 1000, place_t_fn, &p), -EPROTO);
	assert_int_equal(count_fds(), before);
	close(sv[0]);
	close(sv[1]);
}

/* The incremental receiver with a placement, one byte at a time across both iovecs. */
static void test_receiver_placed_byte_by_byte(void **state)
{
	(void)state;
	int sv[2];
	struct vfu_receiver r;
	struct place_t p = { .mode = 0 };
	uint8_t buf[16 + 8 + 5];
	struct vfu_hdr h = { .msg_id = 9, .cmd = VFU_CMD_MIG_DATA_READ, .msg_size = sizeof(buf) };

	make_pair(sv);
	memcpy(buf, &h, 16);
	memcpy(buf + 16, "12345678hello", 13);
	vfu_receiver_init(&r);
	r.place = place_t_fn;
	r.place_opaque = &p;
	for (size_t i = 0; i < sizeof(buf); i++) {
		assert_int_equal(write(sv[0], buf + i, 1), 1);
		assert_int_equal(vfu_receiver_feed(&r, sv[1], 1024, 4), i + 1 == sizeof(buf) ? 1 : 0);
	}
	assert_int_equal(r.bad, 0);
	assert_null(r.msg.payload);
	assert_int_equal(r.msg.payload_len, 13);
	assert_memory_equal(p.head, "12345678", 8);
	assert_memory_equal(p.data, "hello", 5);
	vfu_receiver_reset(&r);
	assert_ptr_equal(r.place, place_t_fn); /* a reset receiver keeps its placement */
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_roundtrip_with_fd),
		cmocka_unit_test(test_reply_and_error),
		cmocka_unit_test(test_partial_writes),
		cmocka_unit_test(test_receiver_byte_by_byte),
		cmocka_unit_test(test_eof_mid_message),
		cmocka_unit_test(test_short_and_oversized),
		cmocka_unit_test(test_too_many_fds),
		cmocka_unit_test(test_recv_timeout),
		cmocka_unit_test(test_placed_payload),
		cmocka_unit_test(test_placed_errors),
		cmocka_unit_test(test_receiver_placed_byte_by_byte),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
