/* SPDX-License-Identifier: MIT */
/*
 * Integration test harness: a vfio-user server in a child process, and raw-socket helpers to
 * talk to it byte by byte. Stable API: other tests build on it.
 *
 *   struct h_server s;
 *   h_server_start(&s, make_my_device, arg, &cfg);   // fork: the child serves make_my_device()
 *   int sock = h_connect(s.sock_path);                // retries until the socket accepts
 *   h_version(sock, NULL);                            // handshake with default capabilities
 *   h_send(sock, 1, VFU_CMD_DEVICE_GET_INFO, 0, &info, sizeof(info), NULL, 0);
 *   h_recv(sock, &msg, 5000);
 *   ...
 *   assert_int_equal(h_server_stop(&s), 0);           // SIGTERM; 0 iff the child exited with 0
 *
 * Server children get SIGTERM when the test process exits, so a failing test that skips
 * h_server_stop() does not leave one behind.
 *
 * Functions return 0 (or a value) on success and a negative errno on failure; they never abort,
 * so tests decide what to assert.
 */
#ifndef UVFIO_TEST_HARNESS_H
#define UVFIO_TEST_HARNESS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include <uvfio/server.h>

#include "vfio-user/framing.h"

struct h_server {
	pid_t pid;
	char dir[64]; /* a fresh temporary directory holding the socket */
	char sock_path[108];
};

/* Runs in the child: builds the device to serve. NULL makes the child exit with status 2. */
typedef struct uvfio_device *(*h_device_fn)(void *arg);

/*
 * Forks a child that serves make_dev(arg) with config cfg (NULL: defaults) on s->sock_path,
 * stops on SIGTERM (uvfio_server_stop) and exits 0 when its server ended cleanly. Returns once
 * the socket listens (the child reports it through a pipe).
 */
int h_server_start(struct h_server *s, h_device_fn make_dev, void *arg,
		   const struct uvfio_server_config *cfg);
/*
 * Forks and exec()s "$UVFIO_BIN serve <args...>"; each argument equal to "@SOCK@" is replaced
 * by s->sock_path. Returns once the socket file exists (bounded polling, 10 s at most), or
 * -ECHILD if the child died first.
 */
int h_server_start_cli(struct h_server *s, const char *const *args);
/* SIGTERM, wait (10 s at most, then SIGKILL), remove the directory. Returns 0 iff the child
 * exited with status 0, else -ECHILD. */
int h_server_stop(struct h_server *s);
/* Number of open fds of the child (entries of /proc/<pid>/fd), or -errno. */
int h_server_count_fds(const struct h_server *s);

/* uvfio_open("vfio-user:<sock_path>"), retrying while the socket is missing or not yet
 * listening (bounded: ~5 s). */
struct uvfio_handle;
int h_open(const char *sock_path, struct uvfio_handle **h);

/* Sockets a test opened, closed by h_close_tracked (a cmocka teardown) even when an assertion
 * failed: a client left open would keep the next one waiting in the server's backlog. */
int h_track(int sock);
int h_close_tracked(void **state);
/* Forget a tracked socket the test closes itself. */
void h_untrack(int sock);
/* A REGION_WRITE then REGION_READ of BAR0 offset 64 (test device scratch) through the socket:
 * 0 if the server answered both correctly (the value read is the value written). */
int h_check_alive(int sock);

/* Connects, retrying while the socket is missing or not yet listening (bounded: ~5 s). */
int h_connect(const char *path);

/* Raw bytes (and fds as SCM_RIGHTS on the same sendmsg), all of it. */
int h_send_raw(int sock, const void *buf, size_t len, const int *fds, size_t nfds);
/* A message with msg_size = 16 + len. */
int h_send(int sock, uint16_t msg_id, uint16_t cmd, uint32_t flags, const void *payload,
	   size_t len, const int *fds, size_t nfds);
/* One whole message (up to 64 MiB, 64 fds); -ETIMEDOUT, -ECONNRESET (EOF), -EPROTO. */
int h_recv(int sock, struct vfu_msg *msg, int timeout_ms);
/* Whether the peer sent nothing within timeout_ms (true) or something/EOF arrived (false). */
bool h_quiet(int sock, int timeout_ms);
/* Receives one message and checks it is an error reply to (msg_id, cmd) with error err. 0 if
 * so, else -EBADMSG (and a line on stderr saying what came instead). */
int h_expect_error(int sock, uint16_t msg_id, uint16_t cmd, int err);
/* VERSION 0.0 with json (NULL: a default capability set) and checks the reply; 0 on success. */
int h_version(int sock, const char *json);

/*
 * A small PCI test device (1234:11e8, named "testdev"), to pass to h_server_start() as
 * make_dev (arg unused). BAR0: H_BAR0_SIZE bytes of scratch RAM, with registers that make the
 * device do DMA through fd-less windows (server-to-client DMA messages):
 *   H_REG_DMA_INLINE   write an 8-byte IOVA: the device reads 16 bytes there at once (on the
 *                      server loop), the result (0 / -errno) lands in H_REG_DMA_STATUS (s32)
 *                      and the data in H_REG_DMA_DATA (16 bytes);
 *   H_REG_DMA_THREAD   write an 8-byte IOVA: another thread writes h_dma_pattern there; a
 *                      read of H_REG_THREAD_STATUS waits for that thread and returns its result.
 * BAR2: 8 KiB backed by a memfd, mmap-able in its first page only (one sparse area).
 * DEVICE_FEATURE index H_FEATURE_TEST: GET returns the 8 bytes "feature!" (-EINVAL if there
 * is less room), SET takes exactly 8 bytes, PROBE succeeds; other features -ENOTTY.
 * INTx pin A. Memory decode and bus mastering start off: see h_enable_device().
 */
#define H_BAR0_SIZE 4096u
#define H_REG_DMA_INLINE 0x200u
#define H_REG_DMA_THREAD 0x208u
#define H_REG_DMA_STATUS 0x300u
#define H_REG_DMA_DATA 0x310u
#define H_REG_THREAD_STATUS 0x320u
#define H_FEATURE_TEST 99u
extern const uint8_t h_dma_pattern[16];
struct uvfio_device *h_test_device(void *arg);

/* Region access through the socket (the client must be past VERSION): 0 or the server's
 * -errno, or a transport error. Replies that do not match are -EBADMSG. */
int h_region_write(int sock, uint32_t region, uint64_t offset, const void *data, uint32_t count);
int h_region_read(int sock, uint32_t region, uint64_t offset, void *out, uint32_t count);
/* Sets COMMAND.MEM and COMMAND.MASTER: BAR access and DMA depend on them. */
int h_enable_device(int sock);
/* h_connect + h_track + h_version + h_enable_device: a tracked socket ready for BAR access and
 * DMA, or -errno. */
int h_connect_enabled(const char *path);

/* One run of the CLI: its exit status (-1 if a signal ended it) and what it printed. */
struct h_run {
	int status;
	char out[65536];
	char err[16384];
};
/* Runs "$UVFIO_BIN args..." (NULL-terminated, at most 46) with stdout and stderr captured, and
 * waits for it. 0, or -errno if it could not be run. */
int h_run_cli(struct h_run *r, ...);
/* Whether r exited with status and printed in_out on stdout and in_err on stderr (NULL: not
 * checked); prints the whole run to stderr when it did not, so a failing test shows why. */
bool h_run_matches(const struct h_run *r, int status, const char *in_out, const char *in_err);

#endif
