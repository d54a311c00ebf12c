/* SPDX-License-Identifier: MIT */
/*
 * A peer that dies at any moment. One scripted session of the uvfio client against an edu-mig
 * server covers every kind of message: VERSION and the device queries of uvfio_open, config
 * and BAR access, DMA_MAP with and without an fd, SET_IRQS, the device's DMA into a window
 * without an fd (server-to-client DMA over the twin socket), an interrupt, migration through
 * PRE_COPY, STOP_COPY, STOP, RESUMING (data both ways) and back to RUNNING, reset, unmaps.
 *
 * Boundaries are counted, not timed: a hook in the server (vfu_dispatch_hook) counts the
 * messages of the current connection, and at message k
 * - kills the client (SIGKILL, and waits for it to be gone before handling message k), for
 *   k = 1..N; the same server must then serve the whole session to the next client;
 * - kills itself (SIGKILL), for k = 1..N, each with a fresh server; the client's calls must
 *   all return, the failing ones with a clear error (never a hang, never ETIMEDOUT: the
 *   client's reply timeout is switched off, so only the dead socket can end a wait).
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <linux/pci_regs.h>

#include <uvfio/client.h>
#include <uvfio/driver.h>
#include <uvfio/migration.h>
#include <uvfio/pci.h>

#include "edu_regs.h"
#include "harness.h"
#include "vfio-user/server/server_priv.h"

enum { KILL_CLIENT = 1, KILL_SERVER = 2 };

/* Shared with the server child (MAP_SHARED before the fork). */
struct shared {
	int kill_at; /* 0: nobody dies */
	int mode;
	int count; /* messages of the current connection so far */
	int max_count; /* the most any connection had */
	uint16_t last_cmd; /* of the message last counted */
};
static struct shared *sh;

static int pidfd_open_(pid_t pid)
{
	return (int)syscall(SYS_pidfd_open, pid, 0);
}

/* Runs in the server child, on its loop thread. */
static void hook(int sock, const struct vfu_hdr *hdr)
{
	if (hdr->cmd == VFU_CMD_VERSION && (hdr->flags & VFU_F_TYPE_MASK) == VFU_F_TYPE_COMMAND)
		__atomic_store_n(&sh->count, 0, __ATOMIC_SEQ_CST);
	int n = __atomic_add_fetch(&sh->count, 1, __ATOMIC_SEQ_CST);
	sh->last_cmd = hdr->cmd;
	if (n > __atomic_load_n(&sh->max_count, __ATOMIC_SEQ_CST))
		__atomic_store_n(&sh->max_count, n, __ATOMIC_SEQ_CST);
	if (n != __atomic_load_n(&sh->kill_at, __ATOMIC_SEQ_CST))
		return;
	if (sh->mode == KILL_SERVER)
		raise(SIGKILL);
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(sock, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return;
	int pfd = pidfd_open_(cred.pid);
	kill(cred.pid, SIGKILL);
	if (pfd >= 0) {
		/* The client is gone before its message k is handled: an exact boundary. */
		struct pollfd p = { .fd = pfd, .events = POLLIN };
		poll(&p, 1, -1);
		close(pfd);
	}
}

static struct uvfio_device *edu_mig(void *arg)
{
	struct uvfio_pci_device *pdev;

	(void)arg;
	vfu_dispatch_hook = hook;
	uvfio_register_builtin_drivers();
	if (uvfio_pci_create("edu-mig", &pdev) < 0)
		return NULL;
	return uvfio_pci_to_device(pdev);
}

#define RAM_IOVA 0x100000ull
#define ANON_IOVA 0x200000ull
/* In session_on: the first error ends the session (everything is freed at out). */
#define CK(x)                                                                                      \
	do {                                                                                       \
		long ck_ = (long)(x);                                                              \
		if (ck_ < 0) {                                                                     \
			ret = (int)ck_;                                                            \
			goto out;                                                                  \
		}                                                                                  \
	} while (0)

static int wr32(struct uvfio_handle *h, uint64_t off, uint32_t v)
{
	return (int)uvfio_region_write(h, 0, off, &v, 4);
}

/* Waits for the interrupt, or for the server (watch: its pidfd, -1 if none) to die. */
static int wait_irq(int efd, int watch)
{
	struct pollfd p[2] = { { .fd = efd, .events = POLLIN }, { .fd = watch, .events = POLLIN } };
	uint64_t v;

	/* The bound only turns a lost interrupt into an error instead of a stuck test. */
	int n = poll(p, watch >= 0 ? 2 : 1, 20000);
	if (n <= 0 || !(p[0].revents & POLLIN))
		return -EIO;
	return read(efd, &v, sizeof(v)) == sizeof(v) ? 0 : -EIO;
}

static ssize_t read_all(struct uvfio_handle *h, uint8_t *buf, size_t cap)
{
	size_t len = 0;

	for (;;) {
		ssize_t n = uvfio_mig_read(h, buf + len, cap - len);
		if (n <= 0)
			return n < 0 ? n : (ssize_t)len;
		len += (size_t)n;
		if (len == cap)
			return -ENOSPC;
	}
}

/* The whole session; 0, or the first error. */
static int session_on(struct uvfio_handle *h, int watch, uint8_t *stream, size_t cap)
{
	struct uvfio_ioas *ioas = NULL;
	void *ram = NULL;
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	uint32_t v = 0, state = 0;
	struct uvfio_device_info info;
	ssize_t pre = 0, rest = 0;
	int efd = eventfd(0, EFD_CLOEXEC);
	int ret = 0;

	uint8_t *anon = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
			     0);
	if (efd < 0 || anon == MAP_FAILED) {
		ret = -ENOMEM;
		goto out;
	}
	memcpy(anon, "anonymous-memory", 16);
	CK(uvfio_set_msg_timeout(h, -1));
	CK(uvfio_config_write(h, PCI_COMMAND, &cmd, 2));
	CK(uvfio_region_read(h, 0, REG_ID, &v, 4));
	CK(v == EDU_ID ? 0 : -EBADMSG);
	CK(uvfio_ioas_new(&ioas));
	CK(uvfio_ioas_attach(ioas, h));
	CK(uvfio_ioas_map_alloc(ioas, RAM_IOVA, 0x2000, UVFIO_IOAS_READ | UVFIO_IOAS_WRITE, &ram));
	CK(uvfio_ioas_map(ioas, ANON_IOVA, 4096, UVFIO_IOAS_READ | UVFIO_IOAS_WRITE, -1, 0, anon));
	CK(uvfio_irq_enable(h, UVFIO_PCI_INTX_IRQ, 0, 1, &efd));
	/* The device reads the anonymous window (DMA messages), then writes it to RAM. */
	CK(wr32(h, REG_DMA_SRC, (uint32_t)ANON_IOVA));
	CK(wr32(h, REG_DMA_DST, DMA_BUF));
	CK(wr32(h, REG_DMA_CNT, 16));
	CK(wr32(h, REG_DMA_CMD, DMA_START | DMA_IRQ));
	CK(wait_irq(efd, watch));
	CK(wr32(h, REG_IRQ_ACK, 0x100));
	CK(uvfio_irq_unmask(h, UVFIO_PCI_INTX_IRQ, 0));
	CK(wr32(h, REG_DMA_SRC, DMA_BUF));
	CK(wr32(h, REG_DMA_DST, (uint32_t)RAM_IOVA));
	CK(wr32(h, REG_DMA_CMD, DMA_START | DMA_TO_RAM | DMA_IRQ));
	CK(wait_irq(efd, watch));
	CK(memcmp(ram, "anonymous-memory", 16) == 0 ? 0 : -EBADMSG);
	CK(wr32(h, REG_IRQ_ACK, 0x100));
	/* Migration: save (pre-copy, stop-copy), then load it back. */
	CK(uvfio_mig_set_state(h, UVFIO_MIG_STATE_PRE_COPY, NULL));
	CK(pre = read_all(h, stream, cap));
	CK(uvfio_mig_set_state(h, UVFIO_MIG_STATE_STOP_COPY, NULL));
	CK(rest = read_all(h, stream + pre, cap - (size_t)pre));
	CK(uvfio_mig_set_state(h, UVFIO_MIG_STATE_STOP, NULL));
	CK(uvfio_mig_set_state(h, UVFIO_MIG_STATE_RESUMING, NULL));
	for (size_t off = 0; off < (size_t)(pre + rest);) {
		ssize_t n = uvfio_mig_write(h, stream + off, (size_t)(pre + rest) - off);
		CK(n);
		off += (size_t)n;
	}
	CK(uvfio_mig_set_state(h, UVFIO_MIG_STATE_RUNNING, NULL));
	CK(uvfio_mig_get_state(h, &state));
	CK(state == UVFIO_MIG_STATE_RUNNING ? 0 : -EBADMSG);
	CK(uvfio_reset(h));
	CK(uvfio_irq_disable(h, UVFIO_PCI_INTX_IRQ));
	CK(uvfio_ioas_unmap(ioas, ANON_IOVA, 4096));
	CK(uvfio_ioas_detach(ioas, h));
	/* Detaching unmaps best-effort (its errors are not reported): one more request makes a
	 * death during it visible. */
	CK(uvfio_get_device_info(h, &info));
out:
	if (ioas)
		uvfio_ioas_free(ioas);
	if (anon != MAP_FAILED)
		munmap(anon, 4096);
	if (efd >= 0)
		close(efd);
	return ret;
}

#define STREAM_CAP (8u << 20)

static int session(const char *path, int watch, int *err_after)
{
	struct uvfio_handle *h;
	uint8_t *stream = malloc(STREAM_CAP);
	int ret = stream ? h_open(path, &h) : -ENOMEM;

	if (err_after)
		*err_after = ret; /* no handle: nothing more to ask */
	if (ret == 0) {
		ret = session_on(h, watch, stream, STREAM_CAP);
		/* After a failure, the handle answers at once (no wait on a dead peer). */
		uint32_t v;
		if (err_after)
			*err_after = ret < 0 ? (int)uvfio_region_read(h, 0, 0, &v, 4) : 0;
		uvfio_close(h);
	}
	free(stream);
	return ret;
}

static int group_setup(void **state)
{
	(void)state;
	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	return sh == MAP_FAILED ? -1 : 0;
}

static int calibrate(void)
{
	struct h_server s;

	memset(sh, 0, sizeof(*sh));
	assert_int_equal(h_server_start(&s, edu_mig, NULL, NULL), 0);
	assert_int_equal(session(s.sock_path, -1, NULL), 0);
	assert_int_equal(h_server_stop(&s), 0);
	int n = __atomic_load_n(&sh->max_count, __ATOMIC_SEQ_CST);
	assert_true(n > 30); /* every kind of message is in there */
	fprintf(stderr, "session: %d messages, the last one %s\n", n,
		vfu_command_name(sh->last_cmd));
	return n;
}

static void test_client_dies(void **state)
{
	(void)state;
	int n = calibrate();
	struct h_server s;

	sh->mode = KILL_CLIENT;
	assert_int_equal(h_server_start(&s, edu_mig, NULL, NULL), 0);
	for (int k = 1; k <= n; k++) {
		__atomic_store_n(&sh->kill_at, k, __ATOMIC_SEQ_CST);
		fflush(NULL);
		pid_t pid = fork();
		assert_true(pid >= 0);
		if (pid == 0)
			_exit(session(s.sock_path, -1, NULL) == 0 ? 0 : 1);
		int status;
		assert_int_equal(waitpid(pid, &status, 0), pid);
		if (!WIFSIGNALED(status) || WTERMSIG(status) != SIGKILL)
			fail_msg("k=%d: the client was not killed (status 0x%x)", k, status);
		/* The next client gets the whole session, correctly. */
		__atomic_store_n(&sh->kill_at, 0, __ATOMIC_SEQ_CST);
		int ret = session(s.sock_path, -1, NULL);
		if (ret != 0)
			fail_msg("k=%d: the next client failed: %s", k, strerror(-ret));
	}
	assert_int_equal(h_server_stop(&s), 0);
}

static bool clear_error(int err)
{
	return err == -ECONNRESET || err == -EPIPE || err == -ENOTCONN || err == -EPROTO ||
	       err == -EIO;
}

static void test_server_dies(void **state)
{
	(void)state;
	int n = calibrate();

	for (int k = 1; k <= n; k++) {
		struct h_server s;

		sh->mode = KILL_SERVER;
		sh->kill_at = k;
		assert_int_equal(h_server_start(&s, edu_mig, NULL, NULL), 0);
		int watch = pidfd_open_(s.pid);
		int after = 0;
		int ret = session(s.sock_path, watch, &after);
		if (!clear_error(ret) || !clear_error(after))
			fail_msg("k=%d: the session ended with %d (%s), then %d (%s)", k, ret,
				 strerror(-ret), after, strerror(-after));
		close(watch);
		int status;
		assert_int_equal(waitpid(s.pid, &status, 0), s.pid);
		assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
		s.pid = 0;
		h_server_stop(&s); /* only removes the directory now */
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_client_dies),
		cmocka_unit_test(test_server_dies),
	};
	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, group_setup, NULL);
}
