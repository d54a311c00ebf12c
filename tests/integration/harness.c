/* SPDX-License-Identifier: MIT */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <uvfio/client.h>
#include <uvfio/dma.h>
#include <uvfio/pci.h>

#include "harness.h"

static struct uvfio_server *child_server;

static void on_sigterm(int sig)
{
	(void)sig;
	uvfio_server_stop(child_server);
}

/* In a fresh child: die with the test process, so a failed test (which may skip
 * h_server_stop) never leaves a server holding the test's output pipes open. */
static void die_with_parent(pid_t parent)
{
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(7); /* the parent is already gone */
}

static int make_dir(struct h_server *s)
{
	snprintf(s->dir, sizeof(s->dir), "/tmp/uvfio-test-XXXXXX");
	if (!mkdtemp(s->dir))
		return -errno;
	snprintf(s->sock_path, sizeof(s->sock_path), "%s/dev.sock", s->dir);
	return 0;
}

static void remove_dir(struct h_server *s)
{
	unlink(s->sock_path);
	rmdir(s->dir);
}

/* The child: serve until SIGTERM. Exit status 0 only if everything went right. */
static void child_main(h_device_fn make_dev, void *arg, const struct uvfio_server_config *cfg,
		       const char *path, int ready_fd)
{
	struct sigaction sa = { .sa_handler = on_sigterm };

	sigemptyset(&sa.sa_mask);
	child_server = uvfio_server_new(cfg);
	if (!child_server || sigaction(SIGTERM, &sa, NULL) < 0)
		_exit(3);
	struct uvfio_device *dev = make_dev(arg);
	if (!dev)
		_exit(2);
	if (uvfio_server_add_device(child_server, dev, path) < 0)
		_exit(4);
	char c = 'r';
	if (write(ready_fd, &c, 1) != 1)
		_exit(5);
	close(ready_fd);
	int ret = uvfio_server_run(child_server);
	uvfio_server_free(child_server);
	/* exit(), not _exit(): under ASan the leak checker runs and fails the status on a leak. */
	exit(ret == 0 ? 0 : 6);
}

int h_server_start(struct h_server *s, h_device_fn make_dev, void *arg,
		   const struct uvfio_server_config *cfg)
{
	int p[2];
	int ret = make_dir(s);

	if (ret < 0)
		return ret;
	if (pipe2(p, O_CLOEXEC) < 0)
		return -errno;
	fflush(NULL);
	pid_t parent = getpid();
	s->pid = fork();
	if (s->pid < 0) {
		ret = -errno;
		close(p[0]);
		close(p[1]);
		return ret;
	}
	if (s->pid == 0) {
		die_with_parent(parent);
		close(p[0]);
		child_main(make_dev, arg, cfg, s->sock_path, p[1]);
	}
	close(p[1]);
	char c;
	ssize_t n;
	do
		n = read(p[0], &c, 1);
	while (n < 0 && errno == EINTR);
	close(p[0]);
	if (n != 1) {
		/* The child died before listening. */
		h_server_stop(s);
		return -ECHILD;
	}
	return 0;
}

int h_server_start_cli(struct h_server *s, const char *const *args)
{
	const char *bin = getenv("UVFIO_BIN");
	size_t n = 0;
	int ret = make_dir(s);

	if (ret < 0)
		return ret;
	if (!bin)
		return -ENOENT;
	while (args[n])
		n++;
	char **argv = calloc(n + 3, sizeof(*argv));
	if (!argv)
		return -ENOMEM;
	argv[0] = (char *)bin;
	argv[1] = (char *)"serve";
	for (size_t i = 0; i < n; i++)
		argv[i + 2] = (char *)(strcmp(args[i], "@SOCK@") ? args[i] : s->sock_path);
	fflush(NULL);
	pid_t parent = getpid();
	s->pid = fork();
	if (s->pid == 0) {
		die_with_parent(parent);
		execv(bin, argv);
		_exit(127);
	}
	free(argv);
	if (s->pid < 0)
		return -errno;
	/* Bounded polling: the CLI has no readiness channel. */
	for (int i = 0; i < 1000; i++) {
		struct stat st;
		if (stat(s->sock_path, &st) == 0 && S_ISSOCK(st.st_mode))
			return 0;
		if (waitpid(s->pid, NULL, WNOHANG) == s->pid) {
			s->pid = 0;
			remove_dir(s);
			return -ECHILD;
		}
		poll(NULL, 0, 10);
	}
	h_server_stop(s);
	return -ETIMEDOUT;
}

int h_server_stop(struct h_server *s)
{
	int status = -1;
	int ret = -ECHILD;

	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		for (int i = 0; i < 1000; i++) {
			pid_t w = waitpid(s->pid, &status, WNOHANG);
			if (w == s->pid)
				break;
			if (i == 999) {
				fprintf(stderr, "harness: server %d ignores SIGTERM; killing it\n", s->pid);
				kill(s->pid, SIGKILL);
				waitpid(s->pid, &status, 0);
				status = -1;
			}
			poll(NULL, 0, 10);
		}
		if (status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0)
			ret = 0;
		else
			fprintf(stderr, "harness: server exit status 0x%x\n", status);
	}
	s->pid = 0;
	remove_dir(s);
	return ret;
}

int h_server_count_fds(const struct h_server *s)
{
	char path[64];
	int n = 0;

	snprintf(path, sizeof(path), "/proc/%d/fd", s->pid);
	DIR *d = opendir(path);
	if (!d)
		return -errno;
	struct dirent *e;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int h_connect(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	strcpy(sa.sun_path, path);
	for (int i = 0; i < 500; i++) {
		int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fd < 0)
			return -errno;
		if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0)
			return fd;
		int err = errno;
		close(fd);
		if (err != ENOENT && err != ECONNREFUSED)
			return -err;
		poll(NULL, 0, 10);
	}
	return -ETIMEDOUT;
}

int h_send_raw(int sock, const void *buf, size_t len, const int *fds, size_t nfds)
{
	union {
		char buf[CMSG_SPACE(sizeof(int) * 64)];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

	if (nfds > 64)
		return -EINVAL;
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
	while (iov.iov_len > 0) {
		ssize_t n = sendmsg(sock, &mh, MSG_NOSIGNAL);
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		mh.msg_control = NULL;
		mh.msg_controllen = 0;
		iov.iov_base = (char *)iov.iov_base + n;
		iov.iov_len -= (size_t)n;
	}
	return 0;
}

int h_send(int sock, uint16_t msg_id, uint16_t cmd, uint32_t flags, const void *payload,
	   size_t len, const int *fds, size_t nfds)
{
	struct vfu_hdr h = {
		.msg_id = msg_id,
		.cmd = cmd,
		.msg_size = (uint32_t)(sizeof(h) + len),
		.flags = flags,
	};
	uint8_t *buf = malloc(sizeof(h) + len);

	if (!buf)
		return -ENOMEM;
	memcpy(buf, &h, sizeof(h));
	if (len)
		memcpy(buf + sizeof(h), payload, len);
	int ret = h_send_raw(sock, buf, sizeof(h) + len, fds, nfds);
	free(buf);
	return ret;
}

int h_recv(int sock, struct vfu_msg *msg, int timeout_ms)
{
	vfu_msg_init(msg);
	return vfu_recv(sock, msg, 64u << 20, 64, timeout_ms);
}

bool h_quiet(int sock, int timeout_ms)
{
	struct pollfd p = { .fd = sock, .events = POLLIN };

	return poll(&p, 1, timeout_ms) == 0;
}

int h_expect_error(int sock, uint16_t msg_id, uint16_t cmd, int err)
{
	struct vfu_msg m;
	int ret = h_recv(sock, &m, 10000);

	if (ret < 0) {
		fprintf(stderr, "harness: expected error %d for cmd %u, receive failed: %s\n", err,
			cmd, strerror(-ret));
		return -EBADMSG;
	}
	bool ok = m.hdr.flags == (VFU_F_TYPE_REPLY | VFU_F_ERROR) && m.hdr.error_no == (uint32_t)err &&
		  m.hdr.msg_id == msg_id && m.hdr.cmd == cmd && m.hdr.msg_size == sizeof(m.hdr) &&
		  m.nfds == 0;
	if (!ok)
		fprintf(stderr,
			"harness: expected error %d to cmd %u id %u; got flags 0x%x error %u cmd %u "
			"id %u size %u fds %zu\n",
			err, cmd, msg_id, m.hdr.flags, m.hdr.error_no, m.hdr.cmd, m.hdr.msg_id,
			m.hdr.msg_size, m.nfds);
	vfu_msg_release(&m);
	return ok ? 0 : -EBADMSG;
}

int h_version(int sock, const char *json)
{
	const char *def = "{\"capabilities\":{\"max_msg_fds\":16,\"max_data_xfer_size\":1048576}}";
	const char *j = json ? json : def;
	size_t jlen = strlen(j) + 1;
	uint8_t buf[4096];
	struct vfu_version v = { .major = 0, .minor = 0 };
	struct vfu_msg m;

	if (sizeof(v) + jlen > sizeof(buf))
		return -EINVAL;
	memcpy(buf, &v, sizeof(v));
	memcpy(buf + sizeof(v), j, jlen);
	int ret = h_send(sock, 0x4242, VFU_CMD_VERSION, 0, buf, sizeof(v) + jlen, NULL, 0);
	if (ret < 0)
		return ret;
	ret = h_recv(sock, &m, 10000);
	if (ret < 0)
		return ret;
	bool ok = m.hdr.flags == VFU_F_TYPE_REPLY && m.hdr.msg_id == 0x4242 &&
		  m.hdr.cmd == VFU_CMD_VERSION && m.payload_len > sizeof(v) &&
		  m.payload[m.payload_len - 1] == '\0';
	if (ok) {
		memcpy(&v, m.payload, sizeof(v));
		ok = v.major == 0 && v.minor == 0;
	}
	vfu_msg_release(&m);
	return ok ? 0 : -EPROTO;
}

/* The test device (runs in the server child). */
const uint8_t h_dma_pattern[16] = "uvfio-dma-write";
static uint8_t bar0[H_BAR0_SIZE];
static int bar2_fd = -1;
static pthread_t dma_thread;
static bool dma_thread_running;
static int32_t dma_thread_ret;

struct dma_job {
	struct uvfio_device *dev;
	uint64_t iova;
};

static void *dma_thread_main(void *arg)
{
	struct dma_job *job = arg;

	dma_thread_ret = uvfio_dma_write(job->dev, job->iova, h_dma_pattern, sizeof(h_dma_pattern));
	free(job);
	return NULL;
}

static void device_dma(struct uvfio_pci_device *pdev, uint64_t off, uint64_t iova)
{
	struct uvfio_device *dev = uvfio_pci_to_device(pdev);

	if (off == H_REG_DMA_INLINE) {
		int32_t ret = uvfio_dma_read(dev, iova, bar0 + H_REG_DMA_DATA, 16);
		memcpy(bar0 + H_REG_DMA_STATUS, &ret, 4);
		return;
	}
	struct dma_job *job = malloc(sizeof(*job));
	if (!job || dma_thread_running) {
		free(job);
		return;
	}
	*job = (struct dma_job){ dev, iova };
	dma_thread_running = pthread_create(&dma_thread, NULL, dma_thread_main, job) == 0;
	if (!dma_thread_running)
		free(job);
}

static ssize_t bar0_rw(struct uvfio_pci_device *pdev, int bar, uint64_t off, void *buf,
		       size_t count, bool is_write)
{
	(void)bar;
	if (!is_write && off == H_REG_THREAD_STATUS && dma_thread_running) {
		pthread_join(dma_thread, NULL);
		dma_thread_running = false;
		memcpy(bar0 + H_REG_THREAD_STATUS, &dma_thread_ret, 4);
	}
	if (is_write)
		memcpy(bar0 + off, buf, count);
	else
		memcpy(buf, bar0 + off, count);
	if (is_write && count == 8 && (off == H_REG_DMA_INLINE || off == H_REG_DMA_THREAD)) {
		uint64_t iova;
		memcpy(&iova, buf, 8);
		device_dma(pdev, off, iova);
	}
	return (ssize_t)count;
}

static ssize_t bar2_rw(struct uvfio_pci_device *pdev, int bar, uint64_t off, void *buf,
		       size_t count, bool is_write)
{
	(void)pdev;
	(void)bar;
	ssize_t n = is_write ? pwrite(bar2_fd, buf, count, (off_t)off) :
			       pread(bar2_fd, buf, count, (off_t)off);
	return n < 0 ? -errno : n;
}

/* Feature H_FEATURE_TEST: GET returns "feature!" (8 bytes), SET takes 8 bytes, PROBE is fine. */
static int test_feature(struct uvfio_pci_device *pdev, uint32_t flags, const void *data,
			size_t len, void *out, size_t *out_len)
{
	(void)pdev;
	(void)data;
	if ((flags & VFIO_DEVICE_FEATURE_MASK) != H_FEATURE_TEST)
		return -ENOTTY;
	if (flags & VFIO_DEVICE_FEATURE_PROBE)
		return 0;
	if (flags & VFIO_DEVICE_FEATURE_SET)
		return len == 8 ? 0 : -EINVAL;
	if (*out_len < 8)
		return -EINVAL;
	memcpy(out, "feature!", 8);
	*out_len = 8;
	return 0;
}

static const struct uvfio_pci_ops test_pci_ops = { .feature = test_feature };

struct uvfio_device *h_test_device(void *arg)
{
	static const struct uvfio_sparse_area area = { 0, 4096 };
	const struct uvfio_pci_ident id = { .vendor = 0x1234, .device = 0x11e8,
					    .class_code = 0xff0000 };
	struct uvfio_pci_device *pdev = uvfio_pci_device_new(&id);

	(void)arg;
	if (!pdev)
		return NULL;
	bar2_fd = memfd_create("bar2", MFD_CLOEXEC);
	if (bar2_fd < 0 || ftruncate(bar2_fd, 8192) < 0 ||
	    uvfio_pci_setup_bar(pdev, 0, H_BAR0_SIZE, UVFIO_PCI_BAR_MEM32, bar0_rw) < 0 ||
	    uvfio_pci_setup_bar(pdev, 2, 8192, UVFIO_PCI_BAR_MEM32, bar2_rw) < 0 ||
	    uvfio_pci_bar_set_mmap(pdev, 2, bar2_fd, 0, &area, 1) < 0 ||
	    uvfio_pci_set_intx_pin(pdev, 1) < 0) {
		uvfio_pci_device_free(pdev);
		return NULL;
	}
	uvfio_pci_set_ops(pdev, &test_pci_ops);
	uvfio_pci_finalize(pdev);
	struct uvfio_device *dev = uvfio_pci_to_device(pdev);
	uvfio_device_set_name(dev, "testdev");
	return dev;
}

/* Receives the reply to (id, cmd): 0 and the message, -errno of an error reply, or -EBADMSG. */
static int recv_reply(int sock, uint16_t id, uint16_t cmd, struct vfu_msg *m)
{
	int ret = h_recv(sock, m, 10000);

	if (ret < 0)
		return ret;
	if (m->hdr.msg_id != id || m->hdr.cmd != cmd ||
	    (m->hdr.flags & VFU_F_TYPE_MASK) != VFU_F_TYPE_REPLY) {
		vfu_msg_release(m);
		return -EBADMSG;
	}
	if (m->hdr.flags & VFU_F_ERROR) {
		ret = m->hdr.error_no ? -(int)m->hdr.error_no : -EIO;
		vfu_msg_release(m);
		return ret;
	}
	return 0;
}

int h_region_write(int sock, uint32_t region, uint64_t offset, const void *data, uint32_t count)
{
	struct vfu_region_access a = { .offset = offset, .region = region, .count = count };
	uint8_t *buf = malloc(sizeof(a) + count);
	struct vfu_msg m;

	if (!buf)
		return -ENOMEM;
	memcpy(buf, &a, sizeof(a));
	memcpy(buf + sizeof(a), data, count);
	int ret = h_send(sock, 0x7001, VFU_CMD_REGION_WRITE, 0, buf, sizeof(a) + count, NULL, 0);
	free(buf);
	if (ret == 0)
		ret = recv_reply(sock, 0x7001, VFU_CMD_REGION_WRITE, &m);
	if (ret == 0)
		vfu_msg_release(&m);
	return ret;
}

int h_region_read(int sock, uint32_t region, uint64_t offset, void *out, uint32_t count)
{
	struct vfu_region_access a = { .offset = offset, .region = region, .count = count };
	struct vfu_msg m;
	int ret = h_send(sock, 0x7002, VFU_CMD_REGION_READ, 0, &a, sizeof(a), NULL, 0);

	if (ret == 0)
		ret = recv_reply(sock, 0x7002, VFU_CMD_REGION_READ, &m);
	if (ret < 0)
		return ret;
	if (m.payload_len != sizeof(a) + count)
		ret = -EBADMSG;
	else
		memcpy(out, m.payload + sizeof(a), count);
	vfu_msg_release(&m);
	return ret;
}

int h_enable_device(int sock)
{
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

	return h_region_write(sock, VFIO_PCI_CONFIG_REGION_INDEX, PCI_COMMAND, &cmd, sizeof(cmd));
}

int h_open(const char *sock_path, struct uvfio_handle **h)
{
	char url[160];
	int ret = -ECONNREFUSED;

	snprintf(url, sizeof(url), "vfio-user:%s", sock_path);
	/* The socket file exists a moment before it listens: bounded retries. */
	for (int i = 0; i < 500 && (ret == -ECONNREFUSED || ret == -ENOENT); i++) {
		ret = uvfio_open(url, h);
		if (ret)
			poll(NULL, 0, 10);
	}
	return ret;
}

#define H_MAX_TRACKED 8
static int tracked[H_MAX_TRACKED];
static int n_tracked;

int h_track(int sock)
{
	if (sock >= 0 && n_tracked < H_MAX_TRACKED)
		tracked[n_tracked++] = sock;
	return sock;
}

void h_untrack(int sock)
{
	for (int i = 0; i < n_tracked; i++)
		if (tracked[i] == sock)
			tracked[i--] = tracked[--n_tracked];
}

int h_close_tracked(void **state)
{
	(void)state;
	for (int i = 0; i < n_tracked; i++)
		close(tracked[i]);
	n_tracked = 0;
	return 0;
}

int h_check_alive(int sock)
{
	static uint32_t value = 0x5a5a0000;
	uint32_t got = 0;
	int ret;

	value++;
	ret = h_region_write(sock, 0, 64, &value, 4);
	if (ret == 0)
		ret = h_region_read(sock, 0, 64, &got, 4);
	if (ret == 0 && got != value)
		ret = -EBADMSG;
	return ret;
}

static void slurp(int fd, char *buf, size_t size)
{
	size_t n = 0;
	ssize_t r;

	lseek(fd, 0, SEEK_SET);
	while (n + 1 < size && (r = read(fd, buf + n, size - 1 - n)) > 0)
		n += (size_t)r;
	buf[n] = '\0';
	close(fd);
}

int h_run_cli(struct h_run *r, ...)
{
	char *argv[48];
	int argc = 0, st;
	va_list ap;

	argv[argc++] = getenv("UVFIO_BIN");
	if (!argv[0])
		return -ENOENT;
	va_start(ap, r);
	while (argc < 47 && (argv[argc] = va_arg(ap, char *)))
		argc++;
	va_end(ap);
	argv[argc] = NULL;
	/* Memory files: output of any size, no pipe to drain while waiting. */
	int out = memfd_create("out", MFD_CLOEXEC), err = memfd_create("err", MFD_CLOEXEC);
	if (out < 0 || err < 0) {
		int e = -errno;
		if (out >= 0)
			close(out);
		if (err >= 0)
			close(err);
		return e;
	}
	pid_t pid = fork();
	if (pid < 0) {
		close(out);
		close(err);
		return -errno;
	}
	if (pid == 0) {
		dup2(out, 1);
		dup2(err, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0) {
		if (errno != EINTR) {
			close(out);
			close(err);
			return -errno;
		}
	}
	r->status = WIFEXITED(st) ? WEXITSTATUS(st) : -1;
	slurp(out, r->out, sizeof(r->out));
	slurp(err, r->err, sizeof(r->err));
	return 0;
}

bool h_run_matches(const struct h_run *r, int status, const char *in_out, const char *in_err)
{
	bool ok = r->status == status && (!in_out || strstr(r->out, in_out)) &&
		  (!in_err || strstr(r->err, in_err));
	if (!ok)
		fprintf(stderr, "exit %d (expected %d)\nstdout:\n%s\nstderr:\n%s\n", r->status,
			status, r->out, r->err);
	return ok;
}

int h_connect_enabled(const char *path)
{
	int sock = h_connect(path);
	if (sock < 0)
		return sock;
	h_track(sock);
	int ret = h_version(sock, NULL);
	if (ret == 0)
		ret = h_enable_device(sock);
	return ret < 0 ? ret : sock;
}
