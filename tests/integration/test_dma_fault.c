/* SPDX-License-Identifier: MIT */
/*
 * A hostile client shrinks its memory file after DMA_MAP, then makes devices DMA into it. One
 * server process serves two devices: "faultdev" (defined here; DMA on the server loop while a
 * message is handled, on its own thread through uvfio_dma_write, and on its own thread through
 * a uvfio_dma_get pointer and uvfio_dma_copy_to) and edu (its DMA engine thread). Each access
 * must end in an error status (-EFAULT), never in SIGBUS: both devices keep serving, the same
 * client keeps talking, and the next client is served.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <uvfio/dma.h>
#include <uvfio/driver.h>
#include <uvfio/pci.h>

#include "edu_regs.h"
#include "harness.h"

#define BAR_SIZE 4096u
#define REG_INLINE 0x200u /* write an IOVA: uvfio_dma_read of 16 bytes on the server loop */
#define REG_THREAD 0x208u /* write an IOVA: a thread does uvfio_dma_write of 16 bytes */
#define REG_REF 0x210u /* write an IOVA: a thread writes 16 bytes through uvfio_dma_get + copy_to */
#define REG_INLINE_STATUS 0x300u
#define REG_THREAD_STATUS 0x320u /* reading waits for the thread */
#define PAGE 4096u

static const uint8_t pattern[16] = "fault-pattern-!";

/* ---- faultdev (runs in the server child) ---- */
static uint8_t bar[BAR_SIZE];
static pthread_t worker;
static bool worker_running;
static int32_t worker_ret;

struct job {
	struct uvfio_device *dev;
	uint64_t iova;
	bool by_ref;
};

static void *worker_main(void *arg)
{
	struct job *j = arg;

	if (!j->by_ref) {
		worker_ret = uvfio_dma_write(j->dev, j->iova, pattern, sizeof(pattern));
	} else {
		struct uvfio_dma_ref ref;
		worker_ret = uvfio_dma_get(j->dev, j->iova, sizeof(pattern), UVFIO_DMA_WRITE, &ref);
		if (worker_ret == 0) {
			worker_ret = uvfio_dma_copy_to(&ref, 0, pattern, sizeof(pattern));
			uvfio_dma_put(j->dev, &ref);
		}
	}
	free(j);
	return NULL;
}

static void start_job(struct uvfio_pci_device *pdev, uint64_t off, uint64_t iova)
{
	struct uvfio_device *dev = uvfio_pci_to_device(pdev);

	if (off == REG_INLINE) {
		int32_t ret = uvfio_dma_read(dev, iova, bar + 0x310, 16);
		memcpy(bar + REG_INLINE_STATUS, &ret, 4);
		return;
	}
	struct job *j = malloc(sizeof(*j));
	if (!j || worker_running) {
		free(j);
		return;
	}
	*j = (struct job){ dev, iova, off == REG_REF };
	worker_running = pthread_create(&worker, NULL, worker_main, j) == 0;
	if (!worker_running)
		free(j);
}

static ssize_t bar_rw(struct uvfio_pci_device *pdev, int b, uint64_t off, void *buf, size_t count,
		      bool is_write)
{
	(void)b;
	if (!is_write && off == REG_THREAD_STATUS && worker_running) {
		pthread_join(worker, NULL);
		worker_running = false;
		memcpy(bar + REG_THREAD_STATUS, &worker_ret, 4);
	}
	if (is_write)
		memcpy(bar + off, buf, count);
	else
		memcpy(buf, bar + off, count);
	if (is_write && count == 8 && off >= REG_INLINE && off <= REG_REF) {
		uint64_t iova;
		memcpy(&iova, buf, 8);
		start_job(pdev, off, iova);
	}
	return (ssize_t)count;
}

static void faultdev_release(struct uvfio_pci_device *pdev)
{
	(void)pdev;
	if (worker_running)
		pthread_join(worker, NULL);
	worker_running = false;
}

static const struct uvfio_pci_ops faultdev_ops = { .release = faultdev_release };

static struct uvfio_device *faultdev_new(void)
{
	const struct uvfio_pci_ident id = { .vendor = 0x1234, .device = 0x0bad,
					    .class_code = 0xff0000 };
	struct uvfio_pci_device *pdev = uvfio_pci_device_new(&id);

	if (!pdev || uvfio_pci_setup_bar(pdev, 0, BAR_SIZE, UVFIO_PCI_BAR_MEM32, bar_rw) < 0)
		return NULL;
	uvfio_pci_set_ops(pdev, &faultdev_ops);
	uvfio_pci_finalize(pdev);
	struct uvfio_device *dev = uvfio_pci_to_device(pdev);
	uvfio_device_set_name(dev, "faultdev");
	return dev;
}

/* ---- the server child: faultdev and edu in one process ---- */
static struct uvfio_server *child_srv;
static pid_t server_pid;
static char dir[64], path_fault[128], path_edu[128];

static void on_term(int sig)
{
	(void)sig;
	uvfio_server_stop(child_srv);
}

static void child_main(int ready)
{
	struct sigaction sa = { .sa_handler = on_term };
	struct uvfio_server_config cfg = { .msg_timeout_ms = 2000 };
	struct uvfio_pci_device *edu = NULL;

	prctl(PR_SET_PDEATHSIG, SIGTERM);
	sigemptyset(&sa.sa_mask);
	sigaction(SIGTERM, &sa, NULL);
	uvfio_register_builtin_drivers();
	child_srv = uvfio_server_new(&cfg);
	struct uvfio_device *fd = faultdev_new();
	if (!child_srv || !fd || uvfio_pci_create("edu", &edu) < 0 ||
	    uvfio_server_add_device(child_srv, fd, path_fault) < 0 ||
	    uvfio_server_add_device(child_srv, uvfio_pci_to_device(edu), path_edu) < 0)
		_exit(3);
	if (write(ready, "r", 1) != 1)
		_exit(4);
	close(ready);
	int ret = uvfio_server_run(child_srv);
	uvfio_server_free(child_srv);
	exit(ret == 0 ? 0 : 6);
}

static int group_setup(void **state)
{
	int p[2];
	char c;

	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/uvfio-fault-XXXXXX");
	if (!mkdtemp(dir) || pipe(p) < 0)
		return -1;
	snprintf(path_fault, sizeof(path_fault), "%s/fault.sock", dir);
	snprintf(path_edu, sizeof(path_edu), "%s/edu.sock", dir);
	fflush(NULL);
	server_pid = fork();
	if (server_pid == 0) {
		close(p[0]);
		child_main(p[1]);
	}
	close(p[1]);
	ssize_t n = read(p[0], &c, 1);
	close(p[0]);
	return n == 1 ? 0 : -1;
}

static int group_teardown(void **state)
{
	int status = -1;

	(void)state;
	kill(server_pid, SIGTERM);
	waitpid(server_pid, &status, 0);
	unlink(path_fault);
	unlink(path_edu);
	rmdir(dir);
	/* The server exited cleanly: no signal ended it. */
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* ---- the hostile client ---- */
static int map_memfd(int sock, uint16_t id, uint64_t iova, size_t size, bool seal)
{
	int fd = memfd_create("guest", MFD_CLOEXEC | (seal ? MFD_ALLOW_SEALING : 0));
	struct vfu_dma_map d = { .argsz = 32, .flags = 3, .addr = iova, .size = size };
	struct vfu_msg m;

	assert_true(fd >= 0);
	assert_int_equal(ftruncate(fd, (off_t)size), 0);
	if (seal)
		assert_int_equal(fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	assert_int_equal(h_send(sock, id, VFU_CMD_DMA_MAP, 0, &d, 32, &fd, 1), 0);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.hdr.flags, VFU_F_TYPE_REPLY);
	vfu_msg_release(&m);
	return fd;
}

static int32_t rd32(int sock, uint64_t off)
{
	int32_t v = 0;
	assert_int_equal(h_region_read(sock, 0, off, &v, 4), 0);
	return v;
}

static void wr64(int sock, uint64_t off, uint64_t v)
{
	assert_int_equal(h_region_write(sock, 0, off, &v, 8), 0);
}

static void wr32(int sock, uint64_t off, uint32_t v)
{
	assert_int_equal(h_region_write(sock, 0, off, &v, 4), 0);
}

static void edu_alive(int sock)
{
	wr32(sock, REG_LIVE, 0x1234);
	assert_int_equal((uint32_t)rd32(sock, REG_LIVE), ~0x1234u);
}

/* An edu transfer of 16 bytes; waits for the start bit to clear. */
static void edu_dma(int sock, uint64_t src, uint64_t dst, uint32_t cmd)
{
	wr32(sock, REG_DMA_SRC, (uint32_t)src);
	wr32(sock, REG_DMA_DST, (uint32_t)dst);
	wr32(sock, REG_DMA_CNT, 16);
	wr32(sock, REG_DMA_CMD, DMA_START | cmd);
	int i;
	for (i = 0; i < 100000 && (rd32(sock, REG_DMA_CMD) & DMA_START); i++)
		;
	assert_true(i < 100000);
}

static void test_faultdev_paths(void **state)
{
	(void)state;
	int sock = h_connect_enabled(path_fault);
	assert_true(sock >= 0);
	/* Three windows, one per access path, so each path meets a fresh fault. */
	int f1 = map_memfd(sock, 10, 0x100000, 2 * PAGE, false);
	int f2 = map_memfd(sock, 11, 0x200000, 2 * PAGE, false);
	int f3 = map_memfd(sock, 12, 0x300000, 2 * PAGE, false);
	int ok = map_memfd(sock, 13, 0x400000, PAGE, true); /* sealed: the fast path */

	/* Before the shrink, each path works. */
	wr64(sock, REG_THREAD, 0x100000 + PAGE);
	assert_int_equal(rd32(sock, REG_THREAD_STATUS), 0);
	uint8_t *mem = mmap(NULL, 2 * PAGE, PROT_READ, MAP_SHARED, f1, 0);
	assert_true(mem != MAP_FAILED);
	assert_memory_equal(mem + PAGE, pattern, 16);
	munmap(mem, 2 * PAGE);

	assert_int_equal(ftruncate(f1, 0), 0);
	assert_int_equal(ftruncate(f2, PAGE), 0);
	assert_int_equal(ftruncate(f3, 0), 0);
	wr64(sock, REG_INLINE, 0x100000 + 8); /* on the loop, while our message is handled */
	assert_int_equal(rd32(sock, REG_INLINE_STATUS), -EFAULT);
	wr64(sock, REG_THREAD, 0x200000 + PAGE + 8); /* the device's thread */
	assert_int_equal(rd32(sock, REG_THREAD_STATUS), -EFAULT);
	wr64(sock, REG_REF, 0x300000 + 32); /* the device's thread, through a pointer */
	assert_int_equal(rd32(sock, REG_THREAD_STATUS), -EFAULT);
	/* The window stays disabled, even its first page, which still exists. */
	wr64(sock, REG_THREAD, 0x200000);
	assert_int_equal(rd32(sock, REG_THREAD_STATUS), -EFAULT);

	/* The sealed window works, and cannot be shrunk. */
	assert_int_equal(ftruncate(ok, 0), -1);
	wr64(sock, REG_REF, 0x400000);
	assert_int_equal(rd32(sock, REG_THREAD_STATUS), 0);
	mem = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, ok, 0);
	assert_true(mem != MAP_FAILED);
	assert_memory_equal(mem, pattern, 16);
	munmap(mem, PAGE);
	assert_int_equal(h_check_alive(sock), 0);
	close(f1);
	close(f2);
	close(f3);
	close(ok);
	h_close_tracked(NULL);

	/* The next client is served. */
	sock = h_connect_enabled(path_fault);
	assert_true(sock >= 0);
	assert_int_equal(h_check_alive(sock), 0);
	int f4 = map_memfd(sock, 20, 0x100000, PAGE, false);
	wr64(sock, REG_THREAD, 0x100000);
	assert_int_equal(rd32(sock, REG_THREAD_STATUS), 0);
	close(f4);
	h_close_tracked(NULL);
}

static void test_edu_engine(void **state)
{
	(void)state;
	int sock = h_connect_enabled(path_edu);
	int other = h_connect_enabled(path_fault); /* the other device, served meanwhile */
	assert_true(sock >= 0 && other >= 0);
	int f = map_memfd(sock, 30, 0x100000, 2 * PAGE, false);

	edu_dma(sock, DMA_BUF, 0x100000, DMA_TO_RAM); /* works before the shrink */
	assert_int_equal(ftruncate(f, 0), 0);
	edu_dma(sock, DMA_BUF, 0x100000 + PAGE, DMA_TO_RAM); /* faults in edu's DMA thread */
	edu_dma(sock, 0x100000, DMA_BUF, 0); /* and reading */
	edu_alive(sock);
	assert_int_equal(h_check_alive(other), 0);
	/* A fresh window of the same client works: RAM -> device -> RAM. */
	int g = map_memfd(sock, 31, 0x200000, PAGE, false);
	uint32_t *mem = mmap(NULL, PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, g, 0);
	assert_true(mem != MAP_FAILED);
	mem[0] = 0xfeedf00d;
	edu_dma(sock, 0x200000, DMA_BUF, 0);
	edu_dma(sock, DMA_BUF, 0x200000 + 64, DMA_TO_RAM);
	assert_int_equal(mem[16], 0xfeedf00d);
	munmap(mem, PAGE);
	close(f);
	close(g);
	h_close_tracked(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_teardown(test_faultdev_paths, h_close_tracked),
		cmocka_unit_test_teardown(test_edu_engine, h_close_tracked),
	};
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
