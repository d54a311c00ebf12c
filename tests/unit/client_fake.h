/* SPDX-License-Identifier: MIT */
/*
 * A scripted fake vfio-user server for the client's unit tests: a thread accepts one
 * connection on a UNIX socket, answers VERSION as configured and plays one script (good or
 * malformed replies). Failures inside the server thread are counted in fake.bad and checked by
 * fake_join() after joining it. Header-only: each test program is one file.
 */
#ifndef UVFIO_TEST_CLIENT_FAKE_H
#define UVFIO_TEST_CLIENT_FAKE_H

#include <dirent.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include <uvfio/client.h>

#include "vfio-user/framing.h"

#define GOOD_JSON "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":1048576}}"

struct fake;
typedef void (*script_fn)(struct fake *f, int fd);

struct fake {
	char path[108];
	int lfd;
	pthread_t thread;
	script_fn script;
	const char *version_json; /* NULL: GOOD_JSON unless no_json */
	bool no_json;
	size_t version_len; /* bytes of version_json to send (0: strlen + 1) */
	uint16_t major, minor;
	int version_fds[2];
	size_t version_nfds;
	int bad; /* checks that failed in the server thread */
	int count; /* scripts count what they saw here */
	uint32_t arg;
};

#define SRV_CHECK(f, cond)                                                                         \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fake server: check failed line %d: %s\n", __LINE__,      \
				#cond);                                                            \
			(f)->bad++;                                                                \
		}                                                                                  \
	} while (0)

static inline int srv_recv(int fd, struct vfu_msg *m)
{
	vfu_msg_init(m);
	return vfu_recv(fd, m, 4u << 20, 64, 10000);
}

static inline void srv_send(int fd, uint16_t id, uint16_t cmd, uint32_t flags, uint32_t err,
		     const void *p, size_t len, const int *fds, size_t nfds)
{
	struct vfu_hdr h = { .msg_id = id, .cmd = cmd, .flags = flags, .error_no = err };
	struct iovec iov = { (void *)p, len };

	vfu_send(fd, &h, &iov, len ? 1 : 0, fds, nfds);
}

static inline void srv_reply(int fd, const struct vfu_msg *req, const void *p, size_t len)
{
	srv_send(fd, req->hdr.msg_id, req->hdr.cmd, VFU_F_TYPE_REPLY, 0, p, len, NULL, 0);
}

/* Answers VERSION as configured in f. Returns 0 if the handshake request looked right. */
static inline int srv_version(struct fake *f, int fd)
{
	struct vfu_msg m;
	uint8_t buf[512];
	struct vfu_version v = { .major = f->major, .minor = f->minor };
	size_t jlen = 0;

	if (srv_recv(fd, &m) < 0)
		return -1;
	SRV_CHECK(f, m.hdr.cmd == VFU_CMD_VERSION && m.payload_len > 4 &&
			     m.payload[m.payload_len - 1] == '\0' && m.nfds == 0);
	SRV_CHECK(f, m.payload_len > 4 && strstr((char *)m.payload + 4, "\"twin_socket\""));
	memcpy(buf, &v, sizeof(v));
	if (f->version_json) {
		jlen = f->version_len ? f->version_len : strlen(f->version_json) + 1;
		memcpy(buf + sizeof(v), f->version_json, jlen);
	}
	srv_send(fd, m.hdr.msg_id, m.hdr.cmd, VFU_F_TYPE_REPLY, 0, buf, sizeof(v) + jlen,
		 f->version_fds, f->version_nfds);
	vfu_msg_release(&m);
	return 0;
}

static inline void *fake_main(void *arg)
{
	struct fake *f = arg;
	int fd = accept4(f->lfd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		f->bad++;
		return NULL;
	}
	if (srv_version(f, fd) == 0 && f->script)
		f->script(f, fd);
	/* Stay until the client is gone, so the client sees no EOF it did not cause; unmaps
	 * from its cleanup are answered. */
	for (;;) {
		struct vfu_msg m;

		if (srv_recv(fd, &m) < 0)
			break;
		if (m.hdr.cmd == VFU_CMD_DMA_UNMAP)
			srv_reply(fd, &m, m.payload, m.payload_len);
		vfu_msg_release(&m);
	}
	close(fd);
	return NULL;
}

static inline void fake_start(struct fake *f, script_fn script)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	static int seq;

	if (!f->version_json && !f->no_json)
		f->version_json = GOOD_JSON;
	f->script = script;
	snprintf(f->path, sizeof(f->path), "/tmp/uvfio-test-client-%d-%d", getpid(), seq++);
	unlink(f->path);
	memcpy(addr.sun_path, f->path, strlen(f->path) + 1);
	f->lfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	assert_true(f->lfd >= 0);
	assert_int_equal(bind(f->lfd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	assert_int_equal(listen(f->lfd, 1), 0);
	assert_int_equal(pthread_create(&f->thread, NULL, fake_main, f), 0);
}

static inline void fake_join(struct fake *f)
{
	pthread_join(f->thread, NULL);
	close(f->lfd);
	unlink(f->path);
	for (size_t i = 0; i < f->version_nfds; i++)
		close(f->version_fds[i]);
	assert_int_equal(f->bad, 0);
}

static inline int count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	while ((e = readdir(d)))
		n++;
	closedir(d);
	return n;
}

/* Opens a client on f; the URL is the bare path or vfio-user:path. */
static inline int open_fake(struct fake *f, struct uvfio_handle **h)
{
	char url[160];

	snprintf(url, sizeof(url), "vfio-user:%s", f->path);
	return uvfio_open(url, h);
}

/* A handshake that must fail: open returns want, and nothing leaks. */
static inline void expect_open_fails(struct fake *f, int want)
{
	struct uvfio_handle *h = NULL;
	/* fake_join closes the fds the fake sent; the client must have closed its copies. */
	int before = count_fds() - (int)f->version_nfds;

	fake_start(f, NULL);
	assert_int_equal(open_fake(f, &h), want);
	assert_null(h);
	fake_join(f);
	assert_int_equal(count_fds(), before);
}

#endif
