/* SPDX-License-Identifier: MIT */
/*
 * Reconnecting to an edu device: the server reset it and dropped the old client's DMA
 * mappings and eventfds when the client left. A DMA to the old IOVA then fails cleanly (it
 * completes, memory untouched); a fresh mapping works. Repeated cycles leak no fds.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <uvfio/client.h>

#include "edu_regs.h"
#include "harness.h"

#define RAM_IOVA 0x100000ull
#define RAM_SIZE 0x2000ull

static struct h_server srv;


static uint32_t rd32(struct uvfio_handle *h, uint64_t off)
{
	uint32_t v = 0;
	assert_int_equal(uvfio_region_read(h, 0, off, &v, 4), 4);
	return v;
}

static void wr32(struct uvfio_handle *h, uint64_t off, uint32_t v)
{
	assert_int_equal(uvfio_region_write(h, 0, off, &v, 4), 4);
}

static void enable(struct uvfio_handle *h)
{
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	assert_int_equal(uvfio_config_write(h, PCI_COMMAND, &cmd, 2), 0);
}

static void dma(struct uvfio_handle *h, uint32_t src, uint32_t dst, uint32_t cnt, uint32_t cmd)
{
	wr32(h, REG_DMA_SRC, src);
	wr32(h, REG_DMA_DST, dst);
	wr32(h, REG_DMA_CNT, cnt);
	wr32(h, REG_DMA_CMD, cmd | 1);
	for (int i = 0; i < 100000; i++)
		if (!(rd32(h, REG_DMA_CMD) & 1))
			return;
	fail_msg("DMA never completed");
}

static int setup(void **state)
{
	const char *const args[] = { "--device", "edu", "--socket", "@SOCK@", NULL };
	return h_server_start_cli(&srv, args) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
	return h_server_stop(&srv) == 0 ? 0 : -1;
}

/* Child process: a client that sets state, maps memfd at RAM_IOVA, enables INTx with efd,
 * asserts the line and dies without any cleanup. Exit code 0 iff every step worked. */
static int abrupt_client(int memfd, void *ram, int efd)
{
	struct uvfio_handle *h = NULL;
	struct uvfio_ioas *ioas = NULL;
	if (h_open(srv.sock_path, &h) || uvfio_ioas_new(&ioas))
		return 1;
	if (uvfio_ioas_map(ioas, RAM_IOVA, RAM_SIZE, UVFIO_IOAS_READ | UVFIO_IOAS_WRITE, memfd, 0,
			   ram) ||
	    uvfio_ioas_attach(ioas, h))
		return 2;
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (uvfio_config_write(h, PCI_COMMAND, &cmd, 2) ||
	    uvfio_irq_enable(h, UVFIO_PCI_INTX_IRQ, 0, 1, &efd))
		return 3;
	const uint32_t regs[][2] = { { REG_LIVE, 0x1234 }, { REG_STATUS, 0x80 },
				     { REG_IRQ_RAISE, 0x8 }, { REG_DMA_CNT, 64 } };
	for (size_t i = 0; i < 4; i++)
		if (uvfio_region_write(h, 0, regs[i][0], &regs[i][1], 4) != 4)
			return 4;
	return 0;
}

static void test_state_reset_and_dma_unmapped(void **state)
{
	int memfd = memfd_create("ram", MFD_CLOEXEC);
	assert_true(memfd >= 0);
	assert_int_equal(ftruncate(memfd, RAM_SIZE), 0);
	uint8_t *ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
	assert_true(ram != MAP_FAILED);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(efd >= 0);

	fflush(NULL);
	pid_t pid = fork();
	assert_true(pid >= 0);
	if (pid == 0)
		_exit(abrupt_client(memfd, ram, efd));
	int status = -1;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 0);
	uint64_t n = 0;
	assert_int_equal(read(efd, &n, sizeof(n)), sizeof(n)); /* the child's INTx fired */

	struct uvfio_handle *h = NULL;
	assert_int_equal(h_open(srv.sock_path, &h), 0);
	uint16_t cmd = 0xffff, st = 0xffff;
	assert_int_equal(uvfio_config_read(h, PCI_COMMAND, &cmd, 2), 0);
	assert_int_equal(cmd, 0);
	assert_int_equal(uvfio_config_read(h, PCI_STATUS, &st, 2), 0);
	assert_false(st & PCI_STATUS_INTERRUPT);
	enable(h);
	assert_int_equal(rd32(h, REG_ID), 0x010000ed);
	assert_int_equal(rd32(h, REG_LIVE), 0);
	assert_int_equal(rd32(h, REG_STATUS), 0);
	assert_int_equal(rd32(h, REG_IRQ_STATUS), 0);
	assert_int_equal(rd32(h, REG_DMA_CNT), 0);
	/* The old eventfd is not connected any more. */
	wr32(h, REG_IRQ_RAISE, 0x1);
	assert_int_equal(read(efd, &n, sizeof(n)), -1);
	wr32(h, 0x64, 0x1);

	/* The old mapping is gone: the DMA completes without touching that memory. */
	memset(ram, 0x77, RAM_SIZE);
	dma(h, DMA_BUF, RAM_IOVA, 512, 2);
	for (size_t i = 0; i < RAM_SIZE; i++)
		if (ram[i] != 0x77)
			fail_msg("old memory written at 0x%zx after reconnect", i);
	assert_int_equal(rd32(h, REG_ID), 0x010000ed);

	/* A new mapping of the same memory works. */
	struct uvfio_ioas *ioas = NULL;
	assert_int_equal(uvfio_ioas_new(&ioas), 0);
	assert_int_equal(uvfio_ioas_map(ioas, RAM_IOVA, RAM_SIZE,
					UVFIO_IOAS_READ | UVFIO_IOAS_WRITE, memfd, 0, ram),
			 0);
	assert_int_equal(uvfio_ioas_attach(ioas, h), 0);
	for (int i = 0; i < 256; i++)
		ram[i] = (uint8_t)i;
	dma(h, RAM_IOVA, DMA_BUF, 256, 0);
	dma(h, DMA_BUF, RAM_IOVA + 0x1000, 256, 2);
	assert_memory_equal(ram + 0x1000, ram, 256);

	uvfio_close(h);
	uvfio_ioas_free(ioas);
	munmap(ram, RAM_SIZE);
	close(memfd);
	close(efd);
}

static void test_repeated_cycles_leak_nothing(void **state)
{
	int base = -1;
	for (int round = 0; round < 8; round++) {
		struct uvfio_handle *h = NULL;
		struct uvfio_ioas *ioas = NULL;
		void *mem = NULL;
		assert_int_equal(h_open(srv.sock_path, &h), 0);
		assert_int_equal(uvfio_ioas_new(&ioas), 0);
		assert_int_equal(uvfio_ioas_map_alloc(ioas, RAM_IOVA, RAM_SIZE,
						      UVFIO_IOAS_READ | UVFIO_IOAS_WRITE, &mem),
				 0);
		assert_int_equal(uvfio_ioas_attach(ioas, h), 0);
		int efd = eventfd(0, EFD_CLOEXEC);
		assert_int_equal(uvfio_irq_enable(h, UVFIO_PCI_MSI_IRQ, 0, 1, &efd), 0);
		enable(h);
		memset(mem, round, 64);
		dma(h, RAM_IOVA, DMA_BUF, 64, 0);
		assert_int_equal(rd32(h, REG_LIVE), 0); /* reset from the previous round */
		wr32(h, REG_LIVE, (uint32_t)round);
		/* Close the client first: the server then drops the mapping and the eventfd. */
		uvfio_close(h);
		uvfio_ioas_free(ioas);
		close(efd);
		/* The server notices the disconnect asynchronously: a new connection's first
		 * reply comes after it (one client at a time), so count after a round trip. */
		assert_int_equal(h_open(srv.sock_path, &h), 0);
		struct uvfio_device_info info;
		assert_int_equal(uvfio_get_device_info(h, &info), 0);
		int fds = h_server_count_fds(&srv);
		assert_true(fds > 0);
		if (base < 0)
			base = fds;
		assert_int_equal(fds, base);
		uvfio_close(h);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_state_reset_and_dma_unmapped, setup, teardown),
		cmocka_unit_test_setup_teardown(test_repeated_cycles_leak_nothing, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
