/* SPDX-License-Identifier: MIT */
/* The buffered receive (vfu_rxbuf): several messages per read, fds kept with the message that
 * carried them, payloads larger than the buffer, bad sizes. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "vfio-user/framing.h"

static void make_pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

static void send_msg(int sock, uint16_t id, const char *payload, int fd)
{
	struct vfu_hdr h = { .msg_id = id, .cmd = VFU_CMD_REGION_READ };
	struct iovec iov = { .iov_base = (void *)payload, .iov_len = strlen(payload) };

	assert_int_equal(vfu_send(sock, &h, &iov, 1, fd >= 0 ? &fd : NULL, fd >= 0 ? 1 : 0), 0);
}

/* The memfd's size identifies which one arrived. */
static int memfd_sized(off_t size)
{
	int fd = memfd_create("t", MFD_CLOEXEC);

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, size), 0);
	return fd;
}

static off_t fd_size(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return st.st_size;
}

static void expect(int sock, struct vfu_rxbuf *rb, uint16_t id, const char *payload,
		   off_t fdsize)
{
	struct vfu_msg m;

	vfu_msg_init(&m);
	assert_int_equal(vfu_recv_buffered(sock, rb, &m, 1 << 20, 4, 1000, false, NULL, NULL), 0);
	assert_int_equal(m.hdr.msg_id, id);
	assert_int_equal(m.payload_len, strlen(payload));
	assert_memory_equal(m.payload, payload, strlen(payload));
	assert_int_equal(m.nfds, fdsize ? 1 : 0);
	if (fdsize)
		assert_int_equal(fd_size(m.fds[0]), fdsize);
	vfu_msg_release(&m);
}

/* Messages with and without fds, all in the socket before the first read: each message gets
 * exactly the fds sent with it, whichever read brought them. */
static void test_fds_stay_with_their_message(void **state)
{
	(void)state;
	int sv[2];
	struct vfu_rxbuf rb;
	int a = memfd_sized(4096), b = memfd_sized(8192), d = memfd_sized(12288);

	make_pair(sv);
	vfu_rxbuf_init(&rb);
	send_msg(sv[0], 1, "one", -1);
	send_msg(sv[0], 2, "two", a);
	send_msg(sv[0], 3, "three", -1);
	send_msg(sv[0], 4, "four", -1);
	send_msg(sv[0], 5, "five", b);
	send_msg(sv[0], 6, "six", d);
	send_msg(sv[0], 7, "seven", -1);
	close(a);
	close(b);
	close(d);
	expect(sv[1], &rb, 1, "one", 0);
	expect(sv[1], &rb, 2, "two", 4096);
	expect(sv[1], &rb, 3, "three", 0);
	expect(sv[1], &rb, 4, "four", 0);
	expect(sv[1], &rb, 5, "five", 8192);
	expect(sv[1], &rb, 6, "six", 12288);
	expect(sv[1], &rb, 7, "seven", 0);
	assert_int_equal(vfu_rxbuf_len(&rb), 0);
	vfu_rxbuf_free(&rb);
	close(sv[0]);
	close(sv[1]);
}

/* One read takes several messages: the second is answered from the buffer with no read. */
static void test_several_per_read(void **state)
{
	(void)state;
	int sv[2];
	struct vfu_rxbuf rb;
	struct vfu_receiver r;

	make_pair(sv);
	vfu_rxbuf_init(&rb);
	vfu_receiver_init(&r);
	r.rb = &rb;
	send_msg(sv[0], 1, "abc", -1);
	send_msg(sv[0], 2, "defg", -1);
	assert_int_equal(vfu_receiver_feed(&r, sv[1], 1024, 4), 1);
	assert_int_equal(r.msg.hdr.msg_id, 1);
	vfu_receiver_reset(&r);
	assert_ptr_equal(r.rb, &rb);
	assert_int_equal(vfu_rxbuf_len(&rb), 20);
	/* Nothing is left in the socket: this one comes from the buffer. */
	assert_int_equal(vfu_receiver_feed(&r, sv[1], 1024, 4), 1);
	assert_int_equal(r.msg.hdr.msg_id, 2);
	assert_memory_equal(r.msg.payload, "defg", 4);
	vfu_receiver_reset(&r);
	assert_int_equal(vfu_receiver_feed(&r, sv[1], 1024, 4), 0);
	vfu_receiver_reset(&r);
	vfu_rxbuf_free(&rb);
	close(sv[0]);
	close(sv[1]);
}

/* A payload larger than the buffer: what was buffered, then the rest straight into place. */
static void *writer(void *arg)
{
	int *sv = arg;
	size_t len = 3 * VFU_RXBUF_SIZE + 123;
	char *p = malloc(len + 1);

	for (size_t i = 0; i < len; i++)
		p[i] = (char)('a' + i % 26);
	p[len] = 0;
	send_msg(sv[0], 1, p, -1);
	send_msg(sv[0], 2, "tail", -1);
	free(p);
	return NULL;
}

static void test_payload_larger_than_buffer(void **state)
{
	(void)state;
	int sv[2];
	struct vfu_rxbuf rb;
	struct vfu_msg m;
	pthread_t t;
	size_t len = 3 * VFU_RXBUF_SIZE + 123;

	make_pair(sv);
	vfu_rxbuf_init(&rb);
	assert_int_equal(pthread_create(&t, NULL, writer, sv), 0);
	vfu_msg_init(&m);
	assert_int_equal(vfu_recv_buffered(sv[1], &rb, &m, 1 << 20, 4, 5000, false, NULL, NULL),
			 0);
	assert_int_equal(m.payload_len, len);
	for (size_t i = 0; i < len; i++)
		if (m.payload[i] != (char)('a' + i % 26))
			fail_msg("byte %zu differs", i);
	vfu_msg_release(&m);
	expect(sv[1], &rb, 2, "tail", 0);
	pthread_join(t, NULL);
	vfu_rxbuf_free(&rb);
	close(sv[0]);
	close(sv[1]);
}

/* Bad sizes are caught before any payload is placed: an oversized header is reported bad
 * (E2BIG: the caller closes), a short one (EINVAL) too, and its fds are not leaked. */
static void test_bad_sizes(void **state)
{
	(void)state;
	int sv[2];
	struct vfu_rxbuf rb;
	struct vfu_receiver r;
	struct vfu_hdr shorth = { .msg_id = 1, .msg_size = 8 };
	struct vfu_hdr big = { .msg_id = 2, .msg_size = 1 << 30 };

	make_pair(sv);
	vfu_rxbuf_init(&rb);
	vfu_receiver_init(&r);
	r.rb = &rb;
	assert_int_equal(write(sv[0], &shorth, sizeof(shorth)), (ssize_t)sizeof(shorth));
	assert_int_equal(write(sv[0], &big, sizeof(big)), (ssize_t)sizeof(big));
	assert_int_equal(vfu_receiver_feed(&r, sv[1], 4096, 4), 1);
	assert_int_equal(r.bad, EINVAL);
	vfu_receiver_reset(&r);
	assert_int_equal(vfu_receiver_feed(&r, sv[1], 4096, 4), 1);
	assert_int_equal(r.bad, E2BIG);
	assert_null(r.msg.payload);
	vfu_receiver_reset(&r);
	vfu_rxbuf_free(&rb);
	close(sv[0]);
	close(sv[1]);
}

/* A message that trickles in byte by byte, then EOF mid-message is a protocol error. */
static void test_trickle_and_eof(void **state)
{
	(void)state;
	int sv[2];
	struct vfu_rxbuf rb;
	struct vfu_receiver r;
	uint8_t buf[16 + 5];
	struct vfu_hdr h = { .msg_id = 9, .cmd = VFU_CMD_REGION_READ, .msg_size = sizeof(buf) };

	make_pair(sv);
	vfu_rxbuf_init(&rb);
	vfu_receiver_init(&r);
	r.rb = &rb;
	memcpy(buf, &h, 16);
	memcpy(buf + 16, "hello", 5);
	for (size_t i = 0; i < sizeof(buf); i++) {
		assert_int_equal(write(sv[0], buf + i, 1), 1);
		assert_int_equal(vfu_receiver_feed(&r, sv[1], 1024, 4), i + 1 == sizeof(buf) ? 1 : 0);
	}
	assert_memory_equal(r.msg.payload, "hello", 5);
	vfu_receiver_reset(&r);
	assert_int_equal(write(sv[0], buf, 7), 7);
	close(sv[0]);
	assert_int_equal(vfu_receiver_feed(&r, sv[1], 1024, 4), -EPROTO);
	vfu_receiver_reset(&r);
	vfu_rxbuf_free(&rb);
	close(sv[1]);
}

/* A blocking first read with SO_RCVTIMEO set: a reply that never comes times out. */
static void test_blocking_read_times_out(void **state)
{
	(void)state;
	int sv[2];
	struct vfu_rxbuf rb;
	struct vfu_msg m;
	struct timeval tv = { .tv_usec = 50000 };

	make_pair(sv);
	vfu_rxbuf_init(&rb);
	assert_int_equal(setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv)), 0);
	vfu_msg_init(&m);
	assert_int_equal(vfu_recv_buffered(sv[1], &rb, &m, 1024, 4, 50, true, NULL, NULL),
			 -ETIMEDOUT);
	send_msg(sv[0], 3, "late", -1);
	expect(sv[1], &rb, 3, "late", 0);
	vfu_rxbuf_free(&rb);
	close(sv[0]);
	close(sv[1]);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_fds_stay_with_their_message),
		cmocka_unit_test(test_several_per_read),
		cmocka_unit_test(test_payload_larger_than_buffer),
		cmocka_unit_test(test_bad_sizes),
		cmocka_unit_test(test_trickle_and_eof),
		cmocka_unit_test(test_blocking_read_times_out),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
