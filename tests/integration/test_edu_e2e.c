/* SPDX-License-Identifier: MIT */
/*
 * edu end to end: `$UVFIO_BIN serve --device edu` in a child process, driven through the
 * public client API over a real socket. Interrupts arrive on eventfds; DMA data is checked in
 * both directions, through shared memory (memfd) and through DMA messages (anonymous memory).
 *
 * Determinism: the server signals an eventfd before it replies to the request that caused the
 * interrupt, and the edu worker raises its completion interrupt before the status/start bit
 * reads as clear; so after the reply (or the poll of that bit) an eventfd's state is final.
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
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <uvfio/client.h>

#include "edu_regs.h"
#include "harness.h"


#define RAM_IOVA 0x100000ull
#define RAM_SIZE 0x4000ull
#define ANON_IOVA 0x800000ull

struct fx {
	struct h_server srv;
	struct uvfio_handle *h;
	struct uvfio_ioas *ioas;
	uint8_t *ram;
	int efd;
};


static uint32_t rd32(struct fx *f, uint64_t off)
{
	uint32_t v = 0;
	assert_int_equal(uvfio_region_read(f->h, 0, off, &v, 4), 4);
	return v;
}

static void wr32(struct fx *f, uint64_t off, uint32_t v)
{
	assert_int_equal(uvfio_region_write(f->h, 0, off, &v, 4), 4);
}

static void wr64(struct fx *f, uint64_t off, uint64_t v)
{
	assert_int_equal(uvfio_region_write(f->h, 0, off, &v, 8), 8);
}

static uint16_t cfg16(struct fx *f, uint32_t off)
{
	uint16_t v = 0;
	assert_int_equal(uvfio_config_read(f->h, off, &v, 2), 0);
	return v;
}

static void set_command(struct fx *f, uint16_t cmd)
{
	assert_int_equal(uvfio_config_write(f->h, PCI_COMMAND, &cmd, 2), 0);
}

/* Bounded poll of a register bit (the device computes in the background). */
static uint32_t wait_clear(struct fx *f, uint64_t off, uint32_t mask)
{
	for (int i = 0; i < 100000; i++) {
		uint32_t v = rd32(f, off);
		if (!(v & mask))
			return v;
	}
	fail_msg("register 0x%llx bit 0x%x never cleared", (unsigned long long)off, mask);
	return 0;
}

static uint64_t events(int fd)
{
	uint64_t n = 0;
	return read(fd, &n, sizeof(n)) == sizeof(n) ? n : 0;
}

static int setup(void **state)
{
	static struct fx f;
	memset(&f, 0, sizeof(f));
	const char *const args[] = { "--device", "edu", "--socket", "@SOCK@", NULL };
	if (h_server_start_cli(&f.srv, args) != 0)
		return -1;
	if (h_open(f.srv.sock_path, &f.h) != 0)
		return -1;
	void *mem = NULL;
	if (uvfio_ioas_new(&f.ioas) || uvfio_ioas_map_alloc(f.ioas, RAM_IOVA, RAM_SIZE,
							     UVFIO_IOAS_READ | UVFIO_IOAS_WRITE,
							     &mem) ||
	    uvfio_ioas_attach(f.ioas, f.h))
		return -1;
	f.ram = mem;
	f.efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (f.efd < 0)
		return -1;
	/* As firmware: BAR0 (edu's only BAR) gets an address, then decoding and mastering. */
	if (uvfio_pci_setup(f.h, UVFIO_PCI_SETUP_MASTER) != 1)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	uvfio_ioas_free(f->ioas);
	uvfio_close(f->h);
	close(f->efd);
	/* The server must survive everything above and exit cleanly. */
	return h_server_stop(&f->srv) == 0 ? 0 : -1;
}

static void dma(struct fx *f, uint64_t src, uint64_t dst, uint64_t cnt, uint32_t cmd)
{
	wr64(f, REG_DMA_SRC, src);
	wr64(f, REG_DMA_DST, dst);
	wr64(f, REG_DMA_CNT, cnt);
	wr32(f, REG_DMA_CMD, cmd | DMA_START);
	wait_clear(f, REG_DMA_CMD, DMA_START);
}

static void fill(uint8_t *p, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 31 + seed);
}

static void test_identity(void **state)
{
	struct fx *f = *state;
	struct uvfio_device_info info;
	assert_int_equal(uvfio_get_device_info(f->h, &info), 0);
	assert_true(info.flags & UVFIO_DEVICE_FLAGS_PCI);
	assert_true(info.flags & UVFIO_DEVICE_FLAGS_RESET);
	assert_int_equal(info.num_regions, 9);
	assert_int_equal(info.num_irqs, 5);
	struct uvfio_region_info ri;
	assert_int_equal(uvfio_get_region_info(f->h, 0, &ri), 0);
	assert_int_equal(ri.size, 1u << 20);
	assert_int_equal(uvfio_get_region_info(f->h, 1, &ri), 0);
	assert_int_equal(ri.size, 0);
	struct uvfio_irq_info ii;
	assert_int_equal(uvfio_get_irq_info(f->h, UVFIO_PCI_INTX_IRQ, &ii), 0);
	assert_int_equal(ii.count, 1);
	assert_int_equal(uvfio_get_irq_info(f->h, UVFIO_PCI_MSI_IRQ, &ii), 0);
	assert_int_equal(ii.count, 1);
	assert_int_equal(uvfio_get_irq_info(f->h, UVFIO_PCI_MSIX_IRQ, &ii), 0);
	assert_int_equal(ii.count, 0);

	assert_int_equal(cfg16(f, PCI_VENDOR_ID), 0x1234);
	assert_int_equal(cfg16(f, PCI_DEVICE_ID), 0x11e8);
	uint32_t cr = 0;
	assert_int_equal(uvfio_config_read(f->h, PCI_CLASS_REVISION, &cr, 4), 0);
	assert_int_equal(cr, 0x00ff0010);
	assert_int_equal(cfg16(f, PCI_SUBSYSTEM_VENDOR_ID), 0x1af4);
	assert_int_equal(cfg16(f, PCI_SUBSYSTEM_ID), 0x1100);
	uint8_t pin = 0, cap = 0, id = 0;
	assert_int_equal(uvfio_config_read(f->h, PCI_INTERRUPT_PIN, &pin, 1), 0);
	assert_int_equal(pin, 1);
	assert_int_equal(uvfio_config_read(f->h, PCI_CAPABILITY_LIST, &cap, 1), 0);
	assert_int_equal(uvfio_config_read(f->h, cap, &id, 1), 0);
	assert_int_equal(id, PCI_CAP_ID_MSI);
	uint16_t ctrl = cfg16(f, cap + PCI_MSI_FLAGS);
	assert_true(ctrl & PCI_MSI_FLAGS_64BIT);
	assert_false(ctrl & PCI_MSI_FLAGS_MASKBIT);
}

/* uvfio_pci_setup() on uvfio's own server: BAR0 placed naturally aligned in the 32-bit window
 * with its type bits kept, decoding and mastering on; a second call moves nothing. */
static void test_pci_setup(void **state)
{
	struct fx *f = *state;
	uint32_t bar = 0, again = 0;

	assert_int_equal(uvfio_config_read(f->h, PCI_BASE_ADDRESS_0, &bar, 4), 0);
	assert_int_equal(bar & 0xf, 0); /* 32-bit, non-prefetchable memory */
	assert_true(bar >= 0x80000000u && bar < 0xfec00000u);
	assert_int_equal(bar % (1u << 20), 0); /* edu's BAR0 is 1 MiB */
	assert_int_equal(cfg16(f, PCI_COMMAND) & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER),
			 PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	assert_int_equal(uvfio_pci_setup(f->h, 0), 0);
	assert_int_equal(uvfio_config_read(f->h, PCI_BASE_ADDRESS_0, &again, 4), 0);
	assert_int_equal(again, bar);
	assert_int_equal(rd32(f, REG_ID) & 0xffff, 0xed);
}

static void test_registers_and_widths(void **state)
{
	struct fx *f = *state;
	assert_int_equal(rd32(f, REG_ID), 0x010000ed);
	wr32(f, REG_LIVE, 0x0badf00d);
	assert_int_equal(rd32(f, REG_LIVE), ~0x0badf00du);
	uint64_t v = 0;
	assert_int_equal(uvfio_region_read(f->h, 0, REG_ID, &v, 2), 2);
	assert_int_equal(v, 0xffff);
	assert_int_equal(uvfio_region_read(f->h, 0, REG_ID, &v, 8), 8);
	assert_true(v == UINT64_MAX);
	wr64(f, REG_DMA_CNT, 0x123456789aull);
	assert_int_equal(uvfio_region_read(f->h, 0, REG_DMA_CNT, &v, 8), 8);
	assert_true(v == 0x123456789aull);
	/* Status: only 0x80 is writable. */
	wr32(f, REG_STATUS, 0xff);
	assert_int_equal(rd32(f, REG_STATUS), 0x80);
	wr32(f, REG_STATUS, 0);
	/* Memory decode off: BAR access refused. */
	set_command(f, 0);
	uint32_t x;
	assert_true(uvfio_region_read(f->h, 0, REG_ID, &x, 4) < 0);
	set_command(f, PCI_COMMAND_MEMORY);
	assert_int_equal(rd32(f, REG_ID), 0x010000ed);
}

static void test_factorial(void **state)
{
	struct fx *f = *state;
	static const struct {
		uint32_t n, r;
	} cases[] = { { 5, 120 }, { 12, 479001600 }, { 0, 1 }, { 13, 1932053504 }, { 40, 0 } };
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		wr32(f, REG_FACT, cases[i].n);
		wait_clear(f, REG_STATUS, 0x01);
		assert_int_equal(rd32(f, REG_FACT), cases[i].r);
	}
}

static void test_dma_shared_memory(void **state)
{
	struct fx *f = *state;
	fill(f->ram, 4096, 1);
	memset(f->ram + 0x1000, 0, 0x2000);
	dma(f, RAM_IOVA, DMA_BUF, 4096, 0);
	dma(f, DMA_BUF, RAM_IOVA + 0x1000, 4096, DMA_TO_RAM);
	assert_memory_equal(f->ram + 0x1000, f->ram, 4096);
	/* A piece from the middle of the buffer to an odd address. */
	dma(f, DMA_BUF + 0x123, RAM_IOVA + 0x2001, 0x300, DMA_TO_RAM);
	assert_memory_equal(f->ram + 0x2001, f->ram + 0x123, 0x300);
	assert_int_equal(f->ram[0x2000], 0);
	assert_int_equal(f->ram[0x2301], 0);
}

static void test_dma_messages(void **state)
{
	struct fx *f = *state;
	/* Anonymous memory has no fd: the server reaches it with DMA_READ/DMA_WRITE messages. */
	uint8_t *anon = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
			     -1, 0);
	assert_true(anon != MAP_FAILED);
	assert_int_equal(uvfio_ioas_map(f->ioas, ANON_IOVA, 0x2000,
					UVFIO_IOAS_READ | UVFIO_IOAS_WRITE, -1, 0, anon),
			 0);
	fill(anon, 2048, 7);
	dma(f, ANON_IOVA, DMA_BUF, 2048, 0);
	dma(f, DMA_BUF, ANON_IOVA + 0x1000, 2048, DMA_TO_RAM);
	assert_memory_equal(anon + 0x1000, anon, 2048);
	assert_int_equal(uvfio_ioas_unmap(f->ioas, ANON_IOVA, 0x2000), 0);
	munmap(anon, 0x2000);
}

static void test_dma_refused(void **state)
{
	struct fx *f = *state;
	memset(f->ram, 0x5a, RAM_SIZE);
	/* Device range leaves the buffer. */
	dma(f, DMA_BUF + 0xf00, RAM_IOVA, 0x200, DMA_TO_RAM);
	/* Unmapped IOVA. */
	dma(f, DMA_BUF, RAM_IOVA + RAM_SIZE, 0x100, DMA_TO_RAM);
	/* Bus mastering off. */
	set_command(f, PCI_COMMAND_MEMORY);
	dma(f, DMA_BUF, RAM_IOVA, 0x100, DMA_TO_RAM);
	for (size_t i = 0; i < RAM_SIZE; i++)
		if (f->ram[i] != 0x5a)
			fail_msg("RAM changed at 0x%zx", i);
	/* Still usable. */
	set_command(f, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	fill(f->ram, 64, 3);
	dma(f, RAM_IOVA, DMA_BUF, 64, 0);
	dma(f, DMA_BUF, RAM_IOVA + 64, 64, DMA_TO_RAM);
	assert_memory_equal(f->ram + 64, f->ram, 64);
}

static void test_intx(void **state)
{
	struct fx *f = *state;
	assert_int_equal(uvfio_irq_enable(f->h, UVFIO_PCI_INTX_IRQ, 0, 1, &f->efd), 0);
	assert_int_equal(events(f->efd), 0);
	wr32(f, REG_IRQ_RAISE, 0x3);
	assert_int_equal(events(f->efd), 1);
	assert_true(cfg16(f, PCI_STATUS) & PCI_STATUS_INTERRUPT);
	assert_int_equal(rd32(f, REG_IRQ_STATUS), 0x3);
	/* Auto-masked: a second raise does not signal until unmasked. */
	wr32(f, REG_IRQ_RAISE, 0x4);
	assert_int_equal(events(f->efd), 0);
	/* Partial ack: the line stays high, so the unmask fires again (level). */
	wr32(f, REG_IRQ_ACK, 0x1);
	assert_int_equal(uvfio_irq_unmask(f->h, UVFIO_PCI_INTX_IRQ, 0), 0);
	assert_int_equal(events(f->efd), 1);
	wr32(f, REG_IRQ_ACK, 0x6);
	assert_false(cfg16(f, PCI_STATUS) & PCI_STATUS_INTERRUPT);
	assert_int_equal(uvfio_irq_unmask(f->h, UVFIO_PCI_INTX_IRQ, 0), 0);
	assert_int_equal(events(f->efd), 0);
	/* Factorial completion interrupt through INTx. */
	wr32(f, REG_STATUS, 0x80);
	wr32(f, REG_FACT, 6);
	wait_clear(f, REG_STATUS, 0x01);
	assert_int_equal(events(f->efd), 1);
	assert_int_equal(rd32(f, REG_FACT), 720);
	assert_int_equal(rd32(f, REG_IRQ_STATUS), 0x1);
	wr32(f, REG_IRQ_ACK, 0x1);
	assert_int_equal(uvfio_irq_unmask(f->h, UVFIO_PCI_INTX_IRQ, 0), 0);
	assert_int_equal(events(f->efd), 0);
	assert_int_equal(uvfio_irq_disable(f->h, UVFIO_PCI_INTX_IRQ), 0);
}

static void test_msi(void **state)
{
	struct fx *f = *state;
	int intx = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(intx >= 0);
	/* One interrupt type at a time, as vfio-pci: MSI waits until INTx is off. */
	assert_int_equal(uvfio_irq_enable(f->h, UVFIO_PCI_INTX_IRQ, 0, 1, &intx), 0);
	assert_int_equal(uvfio_irq_enable(f->h, UVFIO_PCI_MSI_IRQ, 0, 1, &f->efd), -EINVAL);
	assert_int_equal(uvfio_irq_disable(f->h, UVFIO_PCI_INTX_IRQ), 0);
	assert_int_equal(uvfio_irq_enable(f->h, UVFIO_PCI_MSI_IRQ, 0, 1, &f->efd), 0);
	wr32(f, REG_IRQ_RAISE, 0x10);
	assert_int_equal(events(f->efd), 1);
	/* Every raise is a message, acked or not; INTx stays quiet. */
	wr32(f, REG_IRQ_RAISE, 0x20);
	assert_int_equal(events(f->efd), 1);
	assert_int_equal(events(intx), 0);
	wr32(f, REG_IRQ_ACK, 0x30);
	/* DMA completion interrupt, data checked. */
	fill(f->ram, 256, 9);
	dma(f, RAM_IOVA, DMA_BUF, 256, DMA_IRQ);
	assert_int_equal(events(f->efd), 1);
	assert_int_equal(rd32(f, REG_IRQ_STATUS), 0x100);
	wr32(f, REG_IRQ_ACK, 0x100);
	memset(f->ram + 0x1000, 0, 256);
	dma(f, DMA_BUF, RAM_IOVA + 0x1000, 256, DMA_TO_RAM | DMA_IRQ);
	assert_int_equal(events(f->efd), 1);
	assert_memory_equal(f->ram + 0x1000, f->ram, 256);
	/* Factorial completion interrupt. */
	wr32(f, REG_IRQ_ACK, 0x100);
	wr32(f, REG_STATUS, 0x80);
	wr32(f, REG_FACT, 3);
	wait_clear(f, REG_STATUS, 0x01);
	assert_int_equal(events(f->efd), 1);
	assert_int_equal(rd32(f, REG_FACT), 6);
	assert_int_equal(events(intx), 0);
	/* MSI off: back to INTx. */
	assert_int_equal(uvfio_irq_disable(f->h, UVFIO_PCI_MSI_IRQ), 0);
	assert_int_equal(uvfio_irq_enable(f->h, UVFIO_PCI_INTX_IRQ, 0, 1, &intx), 0);
	wr32(f, REG_IRQ_ACK, 0x1);
	wr32(f, REG_IRQ_RAISE, 0x2);
	assert_int_equal(events(intx), 1);
	assert_int_equal(events(f->efd), 0);
	close(intx);
}

static void test_device_reset(void **state)
{
	struct fx *f = *state;
	wr32(f, REG_LIVE, 1);
	wr32(f, REG_STATUS, 0x80);
	wr64(f, REG_DMA_SRC, 0x1000);
	assert_int_equal(uvfio_reset(f->h), 0);
	assert_int_equal(cfg16(f, PCI_COMMAND), 0);
	set_command(f, PCI_COMMAND_MEMORY);
	assert_int_equal(rd32(f, REG_LIVE), 0);
	assert_int_equal(rd32(f, REG_STATUS), 0);
	assert_int_equal(rd32(f, REG_DMA_SRC), 0);
	assert_int_equal(rd32(f, REG_ID), 0x010000ed);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity),
		T(test_pci_setup),
		T(test_registers_and_widths), T(test_factorial),
		T(test_dma_shared_memory), T(test_dma_messages),	 T(test_dma_refused),
		T(test_intx),		   T(test_msi),			 T(test_device_reset),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
