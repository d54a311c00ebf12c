/* SPDX-License-Identifier: MIT */
/*
 * Three edu devices in one server process on three sockets: each has its own registers, DMA
 * space, interrupts and reset; a client leaving one does not disturb the others. One IOAS may
 * serve several devices.
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
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <uvfio/client.h>

#include "edu_regs.h"
#include "harness.h"

#define NDEV 3
#define RAM_IOVA 0x100000ull
#define RAM_SIZE 0x2000ull

struct fx {
	struct h_server srv;
	char paths[NDEV][160];
	struct uvfio_handle *h[NDEV];
	int efd[NDEV];
};


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

static uint64_t events(int fd)
{
	uint64_t n = 0;
	return read(fd, &n, sizeof(n)) == sizeof(n) ? n : 0;
}

static void wait_clear(struct uvfio_handle *h, uint64_t off, uint32_t mask)
{
	for (int i = 0; i < 100000; i++)
		if (!(rd32(h, off) & mask))
			return;
	fail_msg("bit 0x%x of 0x%llx stuck", mask, (unsigned long long)off);
}

static void dma(struct uvfio_handle *h, uint32_t src, uint32_t dst, uint32_t cnt, uint32_t cmd)
{
	wr32(h, REG_DMA_SRC, src);
	wr32(h, REG_DMA_DST, dst);
	wr32(h, REG_DMA_CNT, cnt);
	wr32(h, REG_DMA_CMD, cmd | 1);
	wait_clear(h, REG_DMA_CMD, 1);
}

static int setup(void **state)
{
	static struct fx f;
	memset(&f, 0, sizeof(f));
	/* Sockets 2 and 3 go into the directory the harness creates for socket 1. */
	char dir[] = "/tmp/uvfio-multi-XXXXXX";
	if (!mkdtemp(dir))
		return -1;
	snprintf(f.paths[1], sizeof(f.paths[1]), "%s/b.sock", dir);
	snprintf(f.paths[2], sizeof(f.paths[2]), "%s/c.sock", dir);
	const char *const args[] = { "--device", "edu,name=a",	"--socket", "@SOCK@",
				     "--device", "edu,name=b",	"--socket", f.paths[1],
				     "--device", "edu,dma_mask=0xffffff,name=c", "--socket",
				     f.paths[2], NULL };
	if (h_server_start_cli(&f.srv, args) != 0)
		return -1;
	snprintf(f.paths[0], sizeof(f.paths[0]), "%s", f.srv.sock_path);
	for (int i = 0; i < NDEV; i++) {
		if (h_open(f.paths[i], &f.h[i]) != 0)
			return -1;
		f.efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		if (f.efd[i] < 0)
			return -1;
	}
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < NDEV; i++) {
		if (f->h[i])
			uvfio_close(f->h[i]);
		close(f->efd[i]);
	}
	int ret = h_server_stop(&f->srv);
	/* The extra sockets' directory is ours to clean. */
	char dir[160];
	snprintf(dir, sizeof(dir), "%s", f->paths[1]);
	*strrchr(dir, '/') = '\0';
	unlink(f->paths[1]);
	unlink(f->paths[2]);
	rmdir(dir);
	return ret == 0 ? 0 : -1;
}

static void test_independent_registers(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < NDEV; i++) {
		enable(f->h[i]);
		wr32(f->h[i], REG_LIVE, 0x100u + (uint32_t)i);
		wr32(f->h[i], REG_FACT, 3u + (uint32_t)i);
	}
	static const uint32_t fact[NDEV] = { 6, 24, 120 };
	for (int i = 0; i < NDEV; i++) {
		wait_clear(f->h[i], REG_STATUS, 1);
		assert_int_equal(rd32(f->h[i], REG_LIVE), ~(0x100u + (uint32_t)i));
		assert_int_equal(rd32(f->h[i], REG_FACT), fact[i]);
	}
}

static void test_independent_interrupts(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < NDEV; i++) {
		enable(f->h[i]);
		int idx = i == 1 ? UVFIO_PCI_MSI_IRQ : UVFIO_PCI_INTX_IRQ;
		assert_int_equal(uvfio_irq_enable(f->h[i], (uint32_t)idx, 0, 1, &f->efd[i]), 0);
	}
	for (int i = 0; i < NDEV; i++) {
		wr32(f->h[i], REG_IRQ_RAISE, 1u << i);
		for (int j = 0; j < NDEV; j++)
			assert_int_equal(events(f->efd[j]), j == i ? 1 : 0);
	}
	for (int i = 0; i < NDEV; i++)
		assert_int_equal(rd32(f->h[i], REG_IRQ_STATUS), 1u << i);
}

static void test_own_and_shared_dma(void **state)
{
	struct fx *f = *state;
	struct uvfio_ioas *own = NULL, *shared = NULL;
	void *own_mem = NULL, *shared_mem = NULL;
	/* Device a alone in one IOAS; b and c share another with different data at the same
	 * IOVA, so a device reaching the wrong IOAS would copy the wrong bytes. */
	assert_int_equal(uvfio_ioas_new(&own), 0);
	assert_int_equal(uvfio_ioas_new(&shared), 0);
	assert_int_equal(uvfio_ioas_map_alloc(own, RAM_IOVA, RAM_SIZE,
					      UVFIO_IOAS_READ | UVFIO_IOAS_WRITE, &own_mem),
			 0);
	assert_int_equal(uvfio_ioas_map_alloc(shared, RAM_IOVA, RAM_SIZE,
					      UVFIO_IOAS_READ | UVFIO_IOAS_WRITE, &shared_mem),
			 0);
	assert_int_equal(uvfio_ioas_attach(own, f->h[0]), 0);
	assert_int_equal(uvfio_ioas_attach(shared, f->h[1]), 0);
	assert_int_equal(uvfio_ioas_attach(shared, f->h[2]), 0);
	uint8_t *a = own_mem, *s = shared_mem;
	memset(a, 0xaa, 256);
	memset(s, 0x55, 256);
	memset(s + 0x1000, 0, 0x1000);
	for (int i = 0; i < NDEV; i++) {
		enable(f->h[i]);
		dma(f->h[i], RAM_IOVA, DMA_BUF, 256, 0);
	}
	/* b -> shared+0x1000, c -> shared+0x1100, a -> own+0x1000. */
	dma(f->h[0], DMA_BUF, RAM_IOVA + 0x1000, 256, 2);
	dma(f->h[1], DMA_BUF, RAM_IOVA + 0x1000, 256, 2);
	/* c has a 24-bit dma_mask: 0x1101100 lands at 0x101100. */
	dma(f->h[2], DMA_BUF, 0x1000000 + RAM_IOVA + 0x1100, 256, 2);
	for (int k = 0; k < 256; k++)
		assert_int_equal(a[0x1000 + k], 0xaa);
	for (int k = 0; k < 0x200; k++)
		assert_int_equal(s[0x1000 + k], 0x55);
	assert_int_equal(s[0x1200], 0);
	uvfio_ioas_free(own);
	uvfio_ioas_free(shared);
}

static void test_one_client_leaving(void **state)
{
	struct fx *f = *state;
	for (int i = 0; i < NDEV; i++) {
		enable(f->h[i]);
		wr32(f->h[i], REG_LIVE, 7u * (uint32_t)(i + 1));
	}
	/* b leaves and comes back: only b was reset. */
	uvfio_close(f->h[1]);
	f->h[1] = NULL;
	assert_int_equal(h_open(f->paths[1], &f->h[1]), 0);
	uint16_t cmd = 0xffff;
	assert_int_equal(uvfio_config_read(f->h[1], PCI_COMMAND, &cmd, 2), 0);
	assert_int_equal(cmd, 0);
	enable(f->h[1]);
	assert_int_equal(rd32(f->h[1], REG_LIVE), 0);
	assert_int_equal(rd32(f->h[0], REG_LIVE), ~7u);
	assert_int_equal(rd32(f->h[2], REG_LIVE), ~21u);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_independent_registers),
		T(test_independent_interrupts),
		T(test_own_and_shared_dma),
		T(test_one_client_leaving),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
