/* SPDX-License-Identifier: MIT */
/* edu register semantics against the PCI core, without a transport. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <uvfio/dma.h>
#include <uvfio/driver.h>

#include "../../drivers/edu/edu.h"

#define RAM_IOVA 0x100000ull
#define RAM_SIZE 0x4000ull

struct t {
	struct uvfio_pci_device *p;
	struct uvfio_device *dev;
	struct edu_state *s;
	uint8_t *ram; /* the client memory DMA_MAPped at RAM_IOVA */
	int memfd;
	int intx_fd, msi_fd;
};

static struct t *new_edu(const char *decl)
{
	static struct t t;
	memset(&t, 0, sizeof(t));
	uvfio_register_builtin_drivers();
	assert_int_equal(uvfio_pci_create(decl, &t.p), 0);
	t.dev = uvfio_pci_to_device(t.p);
	t.s = edu_from_pdev(t.p);
	assert_non_null(t.s);
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	assert_int_equal(uvfio_pci_cfg_access(t.p, PCI_COMMAND, &cmd, 2, true), 2);
	t.memfd = memfd_create("ram", MFD_CLOEXEC);
	assert_true(t.memfd >= 0);
	assert_int_equal(ftruncate(t.memfd, RAM_SIZE), 0);
	t.ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, t.memfd, 0);
	assert_true(t.ram != MAP_FAILED);
	assert_int_equal(uvfio_dma_space_add(uvfio_device_dma_space(t.dev), RAM_IOVA, RAM_SIZE,
					     UVFIO_DMA_READ | UVFIO_DMA_WRITE, t.memfd, 0),
			 0);
	t.intx_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	t.msi_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(t.intx_fd >= 0 && t.msi_fd >= 0);
	return &t;
}

static int setup(void **state)
{
	*state = new_edu("edu");
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	uvfio_pci_device_free(t->p);
	munmap(t->ram, RAM_SIZE);
	close(t->memfd);
	close(t->intx_fd);
	close(t->msi_fd);
	return 0;
}

static uint64_t rd(struct t *t, uint64_t off, size_t size)
{
	uint64_t v = 0;
	assert_int_equal(uvfio_device_region_rw(t->dev, 0, off, &v, size, false), (ssize_t)size);
	return v;
}

static void wr(struct t *t, uint64_t off, uint64_t v, size_t size)
{
	assert_int_equal(uvfio_device_region_rw(t->dev, 0, off, &v, size, true), (ssize_t)size);
}

static uint64_t events(int fd)
{
	uint64_t n = 0;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static void test_identity(void **state)
{
	struct t *t = *state;
	assert_int_equal(uvfio_pci_cfg_read16(t->p, PCI_VENDOR_ID), 0x1234);
	assert_int_equal(uvfio_pci_cfg_read16(t->p, PCI_DEVICE_ID), 0x11e8);
	assert_int_equal(uvfio_pci_cfg_read8(t->p, PCI_REVISION_ID), 0x10);
	assert_int_equal(uvfio_pci_cfg_read32(t->p, PCI_CLASS_REVISION) >> 8, 0x00ff00);
	assert_int_equal(uvfio_pci_cfg_read16(t->p, PCI_SUBSYSTEM_VENDOR_ID), 0x1af4);
	assert_int_equal(uvfio_pci_cfg_read16(t->p, PCI_SUBSYSTEM_ID), 0x1100);
	assert_int_equal(uvfio_pci_cfg_read8(t->p, PCI_INTERRUPT_PIN), 1);
	assert_int_equal(uvfio_pci_find_cap(t->p, PCI_CAP_ID_EXP), 0);
	uint32_t msi = uvfio_pci_find_cap(t->p, PCI_CAP_ID_MSI);
	assert_true(msi >= 0x40);
	uint16_t ctrl = uvfio_pci_cfg_read16(t->p, msi + PCI_MSI_FLAGS);
	assert_true(ctrl & PCI_MSI_FLAGS_64BIT);
	assert_false(ctrl & PCI_MSI_FLAGS_MASKBIT);
	assert_int_equal(ctrl & PCI_MSI_FLAGS_QMASK, 0); /* one vector */
	const struct uvfio_region *bar = uvfio_device_get_region(t->dev, 0);
	assert_non_null(bar);
	assert_int_equal(bar->size, 1u << 20);
	assert_int_equal(uvfio_pci_cfg_read32(t->p, PCI_BASE_ADDRESS_0) & 0xf, 0); /* mem32 */
	for (int i = 1; i < 6; i++)
		assert_int_equal(uvfio_device_get_region(t->dev, (uint32_t)i)->size, 0);
	uint32_t count = 0, flags = 0;
	assert_int_equal(uvfio_device_get_irq_info(t->dev, UVFIO_PCI_INTX_IRQ, &count, &flags), 0);
	assert_int_equal(count, 1);
	assert_int_equal(uvfio_device_get_irq_info(t->dev, UVFIO_PCI_MSI_IRQ, &count, &flags), 0);
	assert_int_equal(count, 1);
	assert_string_equal(edu_driver.name, "edu");
}

static void test_id_and_liveness(void **state)
{
	struct t *t = *state;
	assert_int_equal(rd(t, EDU_REG_ID, 4), 0x010000ed);
	wr(t, EDU_REG_ID, 0x12345678, 4); /* read-only */
	assert_int_equal(rd(t, EDU_REG_ID, 4), 0x010000ed);
	wr(t, EDU_REG_LIVENESS, 0x12345678, 4);
	assert_int_equal(rd(t, EDU_REG_LIVENESS, 4), 0xedcba987);
	wr(t, EDU_REG_LIVENESS, 0, 4);
	assert_int_equal(rd(t, EDU_REG_LIVENESS, 4), 0xffffffff);
	/* Undecoded offsets read all ones and ignore writes. */
	assert_int_equal(rd(t, 0x10, 4), 0xffffffff);
	assert_int_equal(rd(t, 0xfff00, 4), 0xffffffff);
	assert_int_equal(rd(t, EDU_DMA_BUF_ADDR, 4), 0xffffffff);
}

static void test_access_widths(void **state)
{
	struct t *t = *state;
	wr(t, EDU_REG_LIVENESS, 0x11111111, 4);
	/* Below 0x80 only 4 bytes: other sizes are ignored, reads give all ones. */
	assert_int_equal(rd(t, EDU_REG_ID, 1), 0xff);
	assert_int_equal(rd(t, EDU_REG_ID, 2), 0xffff);
	assert_true(rd(t, EDU_REG_ID, 8) == UINT64_MAX);
	wr(t, EDU_REG_LIVENESS, 0x22, 1);
	wr(t, EDU_REG_LIVENESS, 0x2222, 2);
	wr(t, EDU_REG_ID, 0x2222222222222222ull, 8); /* would cover 0x04 */
	assert_int_equal(rd(t, EDU_REG_LIVENESS, 4), 0xeeeeeeee);
	/* Misaligned 4-byte access. */
	assert_int_equal(rd(t, 0x02, 4), 0xffffffff);
	/* At 0x80 and above, 4 and 8 bytes. */
	wr(t, EDU_REG_DMA_SRC, 0x1122334455667788ull, 8);
	assert_true(rd(t, EDU_REG_DMA_SRC, 8) == 0x1122334455667788ull);
	assert_int_equal(rd(t, EDU_REG_DMA_SRC, 4), 0x55667788);
	/* A 4-byte write sets the whole register (zero-extended), as QEMU. */
	wr(t, EDU_REG_DMA_SRC, 0xabcd, 4);
	assert_true(rd(t, EDU_REG_DMA_SRC, 8) == 0xabcd);
	/* The upper half is not a register of its own. */
	assert_int_equal(rd(t, EDU_REG_DMA_SRC + 4, 4), 0xffffffff);
	wr(t, EDU_REG_DMA_SRC + 4, 0x1, 4);
	assert_true(rd(t, EDU_REG_DMA_SRC, 8) == 0xabcd);
	assert_int_equal(rd(t, EDU_REG_DMA_SRC, 2), 0xffff);
	wr(t, EDU_REG_DMA_SRC, 0x1, 2);
	assert_true(rd(t, EDU_REG_DMA_SRC, 8) == 0xabcd);
	/* Odd sizes through the handler directly. */
	uint8_t buf[3];
	assert_int_equal(edu_bar_rw(t->p, 0, 0, buf, 3, false), 3);
	assert_int_equal(buf[0] & buf[1] & buf[2], 0xff);
	assert_int_equal(edu_bar_rw(t->p, 1, 0, buf, 3, false), -EINVAL);
}

static void test_memory_decode_gates_access(void **state)
{
	struct t *t = *state;
	uint16_t cmd = 0;
	assert_int_equal(uvfio_pci_cfg_access(t->p, PCI_COMMAND, &cmd, 2, true), 2);
	uint32_t v;
	assert_true(uvfio_device_region_rw(t->dev, 0, 0, &v, 4, false) < 0);
}

static uint32_t factorial_paused(struct t *t, uint32_t n)
{
	edu_pause(t->s);
	wr(t, EDU_REG_FACT, n, 4);
	/* Computing: bit set, register still holds n, writes ignored. */
	assert_int_equal(rd(t, EDU_REG_STATUS, 4) & EDU_STATUS_COMPUTING, EDU_STATUS_COMPUTING);
	assert_int_equal(rd(t, EDU_REG_FACT, 4), n);
	wr(t, EDU_REG_FACT, n + 1, 4);
	assert_int_equal(rd(t, EDU_REG_FACT, 4), n);
	assert_int_equal(edu_wait_idle(t->s), -EBUSY);
	edu_resume(t->s);
	assert_int_equal(edu_wait_idle(t->s), 0);
	assert_int_equal(rd(t, EDU_REG_STATUS, 4) & EDU_STATUS_COMPUTING, 0);
	return (uint32_t)rd(t, EDU_REG_FACT, 4);
}

static void test_factorial(void **state)
{
	struct t *t = *state;
	assert_int_equal(factorial_paused(t, 5), 120);
	assert_int_equal(factorial_paused(t, 12), 479001600);
	assert_int_equal(factorial_paused(t, 13), (uint32_t)6227020800ull);
	assert_int_equal(factorial_paused(t, 0), 1);
	assert_int_equal(factorial_paused(t, 1), 1);
	assert_int_equal(factorial_paused(t, 33), (uint32_t)2147483648u);
	assert_int_equal(factorial_paused(t, 34), 0);
	assert_int_equal(factorial_paused(t, 0xfffffffe), 0);
	/* Without pausing: the worker finishes on its own. */
	wr(t, EDU_REG_FACT, 10, 4);
	assert_int_equal(edu_wait_idle(t->s), 0);
	assert_int_equal(rd(t, EDU_REG_FACT, 4), 3628800);
	/* No interrupt without status bit 0x80. */
	assert_int_equal(rd(t, EDU_REG_IRQ_STATUS, 4), 0);
}

static void test_status_register(void **state)
{
	struct t *t = *state;
	wr(t, EDU_REG_STATUS, 0xffffffff, 4);
	assert_int_equal(rd(t, EDU_REG_STATUS, 4), EDU_STATUS_IRQFACT);
	wr(t, EDU_REG_STATUS, 0x01, 4); /* COMPUTING is read-only; 0x80 clears */
	assert_int_equal(rd(t, EDU_REG_STATUS, 4), 0);
	wr(t, EDU_REG_IRQ_STATUS, 0x5, 4); /* read-only */
	assert_int_equal(rd(t, EDU_REG_IRQ_STATUS, 4), 0);
	/* Write-only registers read as all ones (undecoded for reads). */
	assert_int_equal(rd(t, EDU_REG_IRQ_RAISE, 4), 0xffffffff);
	assert_int_equal(rd(t, EDU_REG_IRQ_ACK, 4), 0xffffffff);
}

static void enable_intx(struct t *t)
{
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_EVENTFD |
						       UVFIO_IRQ_SET_ACTION_TRIGGER,
					       UVFIO_PCI_INTX_IRQ, 0, 1, NULL, &t->intx_fd),
			 0);
}

static void enable_msi(struct t *t)
{
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_EVENTFD |
						       UVFIO_IRQ_SET_ACTION_TRIGGER,
					       UVFIO_PCI_MSI_IRQ, 0, 1, NULL, &t->msi_fd),
			 0);
	assert_true(uvfio_pci_msi_enabled(t->p));
}

static bool intx_status_bit(struct t *t)
{
	return uvfio_pci_cfg_read16(t->p, PCI_STATUS) & PCI_STATUS_INTERRUPT;
}

static void unmask_intx(struct t *t)
{
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_NONE |
						       UVFIO_IRQ_SET_ACTION_UNMASK,
					       UVFIO_PCI_INTX_IRQ, 0, 1, NULL, NULL),
			 0);
}

static void test_irq_raise_ack_intx(void **state)
{
	struct t *t = *state;
	enable_intx(t);
	assert_false(intx_status_bit(t));
	wr(t, EDU_REG_IRQ_RAISE, 0x5, 4);
	assert_int_equal(rd(t, EDU_REG_IRQ_STATUS, 4), 0x5);
	assert_int_equal(events(t->intx_fd), 1);
	assert_true(intx_status_bit(t));
	/* Partial ack: the level line stays up, so an unmask fires it again. */
	wr(t, EDU_REG_IRQ_ACK, 0x1, 4);
	assert_int_equal(rd(t, EDU_REG_IRQ_STATUS, 4), 0x4);
	assert_true(intx_status_bit(t));
	unmask_intx(t);
	assert_int_equal(events(t->intx_fd), 1);
	wr(t, EDU_REG_IRQ_ACK, 0x4, 4);
	assert_int_equal(rd(t, EDU_REG_IRQ_STATUS, 4), 0);
	assert_false(intx_status_bit(t));
	unmask_intx(t);
	assert_int_equal(events(t->intx_fd), 0);
	/* Raising 0 changes nothing. */
	wr(t, EDU_REG_IRQ_RAISE, 0, 4);
	assert_false(intx_status_bit(t));
	assert_int_equal(events(t->intx_fd), 0);
}

static void test_irq_msi(void **state)
{
	struct t *t = *state;
	enable_msi(t);
	/* vfio-pci's rule: one interrupt type at a time. */
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_EVENTFD |
						       UVFIO_IRQ_SET_ACTION_TRIGGER,
					       UVFIO_PCI_INTX_IRQ, 0, 1, NULL, &t->intx_fd),
			 -EINVAL);
	wr(t, EDU_REG_IRQ_RAISE, 0x10, 4);
	assert_int_equal(events(t->msi_fd), 1);
	assert_false(intx_status_bit(t)); /* the line stays low while MSI is on */
	/* Every raise sends a message while MSI is on, acked or not. */
	wr(t, EDU_REG_IRQ_RAISE, 0x20, 4);
	assert_int_equal(events(t->msi_fd), 1);
	assert_int_equal(rd(t, EDU_REG_IRQ_STATUS, 4), 0x30);
	wr(t, EDU_REG_IRQ_ACK, 0x30, 4);
	assert_int_equal(rd(t, EDU_REG_IRQ_STATUS, 4), 0);
	assert_int_equal(events(t->msi_fd), 0);
}

static void test_factorial_irq(void **state)
{
	struct t *t = *state;
	enable_intx(t);
	wr(t, EDU_REG_STATUS, EDU_STATUS_IRQFACT, 4);
	wr(t, EDU_REG_FACT, 4, 4);
	assert_int_equal(edu_wait_idle(t->s), 0);
	assert_int_equal(rd(t, EDU_REG_FACT, 4), 24);
	assert_int_equal(rd(t, EDU_REG_IRQ_STATUS, 4), EDU_IRQ_FACT);
	assert_int_equal(events(t->intx_fd), 1);
	assert_int_equal(rd(t, EDU_REG_STATUS, 4), EDU_STATUS_IRQFACT);
	wr(t, EDU_REG_IRQ_ACK, EDU_IRQ_FACT, 4);
	assert_false(intx_status_bit(t));
}

static void dma(struct t *t, uint64_t src, uint64_t dst, uint64_t cnt, uint64_t cmd)
{
	wr(t, EDU_REG_DMA_SRC, src, 8);
	wr(t, EDU_REG_DMA_DST, dst, 8);
	wr(t, EDU_REG_DMA_CNT, cnt, 8);
	wr(t, EDU_REG_DMA_CMD, cmd | EDU_DMA_START, 8);
	assert_int_equal(edu_wait_idle(t->s), 0);
	assert_int_equal(rd(t, EDU_REG_DMA_CMD, 8) & EDU_DMA_START, 0);
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 7);
}

static void test_dma_both_ways(void **state)
{
	struct t *t = *state;
	fill(t->ram, 4096, 3);
	dma(t, RAM_IOVA, EDU_DMA_BUF_ADDR, 4096, 0);
	assert_memory_equal(t->s->dma_buf, t->ram, 4096);
	memset(t->ram + 0x1000, 0, 0x1000);
	dma(t, EDU_DMA_BUF_ADDR + 0x100, RAM_IOVA + 0x1000, 0x80, EDU_DMA_TO_RAM);
	assert_memory_equal(t->ram + 0x1000, t->ram + 0x100, 0x80);
	assert_int_equal(t->ram[0x1080], 0);
	/* No interrupt asked, none raised. */
	assert_int_equal(rd(t, EDU_REG_IRQ_STATUS, 4), 0);

	enable_msi(t);
	dma(t, EDU_DMA_BUF_ADDR, RAM_IOVA + 0x2000, 16, EDU_DMA_TO_RAM | EDU_DMA_IRQ);
	assert_memory_equal(t->ram + 0x2000, t->ram, 16);
	assert_int_equal(rd(t, EDU_REG_IRQ_STATUS, 4), EDU_IRQ_DMA);
	assert_int_equal(events(t->msi_fd), 1);
	/* The command register keeps direction and irq bits. */
	assert_int_equal(rd(t, EDU_REG_DMA_CMD, 4), EDU_DMA_TO_RAM | EDU_DMA_IRQ);
}

static void test_dma_regs_frozen_while_running(void **state)
{
	struct t *t = *state;
	fill(t->ram, 64, 9);
	edu_pause(t->s);
	wr(t, EDU_REG_DMA_SRC, RAM_IOVA, 8);
	wr(t, EDU_REG_DMA_DST, EDU_DMA_BUF_ADDR, 8);
	wr(t, EDU_REG_DMA_CNT, 64, 8);
	wr(t, EDU_REG_DMA_CMD, EDU_DMA_START, 8);
	wr(t, EDU_REG_DMA_SRC, RAM_IOVA + 0x1000, 8);
	wr(t, EDU_REG_DMA_DST, EDU_DMA_BUF_ADDR + 8, 8);
	wr(t, EDU_REG_DMA_CNT, 8, 4);
	wr(t, EDU_REG_DMA_CMD, EDU_DMA_START | EDU_DMA_TO_RAM | EDU_DMA_IRQ, 8);
	assert_true(rd(t, EDU_REG_DMA_SRC, 8) == RAM_IOVA);
	assert_true(rd(t, EDU_REG_DMA_DST, 8) == EDU_DMA_BUF_ADDR);
	assert_true(rd(t, EDU_REG_DMA_CNT, 8) == 64);
	assert_true(rd(t, EDU_REG_DMA_CMD, 8) == EDU_DMA_START);
	edu_resume(t->s);
	assert_int_equal(edu_wait_idle(t->s), 0);
	assert_memory_equal(t->s->dma_buf, t->ram, 64);
	/* Writable again once done. */
	wr(t, EDU_REG_DMA_CNT, 8, 4);
	assert_true(rd(t, EDU_REG_DMA_CNT, 8) == 8);
	/* A command without the start bit is ignored. */
	wr(t, EDU_REG_DMA_CMD, EDU_DMA_TO_RAM, 4);
	assert_int_equal(rd(t, EDU_REG_DMA_CMD, 4), 0);
}

static void test_dma_out_of_buffer_refused(void **state)
{
	struct t *t = *state;
	static const struct {
		uint64_t dev, cnt;
	} bad[] = {
		{ EDU_DMA_BUF_ADDR + 0xf00, 0x200 }, /* runs off the end */
		{ EDU_DMA_BUF_ADDR - 4, 8 }, /* starts before */
		{ EDU_DMA_BUF_ADDR, 4097 }, /* too long */
		{ EDU_DMA_BUF_ADDR, 0 }, /* empty */
		{ EDU_DMA_BUF_ADDR + 0x1000, 1 }, /* just past */
		{ UINT64_MAX - 2, 8 }, /* wraps */
		{ EDU_DMA_BUF_ADDR + 8, UINT64_MAX }, /* wraps */
	};
	enable_intx(t);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* device -> RAM: RAM must stay untouched. */
		memset(t->ram, 0x5a, 0x2000);
		memset(t->s->dma_buf, 0xa5, sizeof(t->s->dma_buf));
		dma(t, bad[i].dev, RAM_IOVA, bad[i].cnt, EDU_DMA_TO_RAM | EDU_DMA_IRQ);
		for (size_t j = 0; j < 0x2000; j++)
			if (t->ram[j] != 0x5a)
				fail_msg("case %zu touched RAM at %zu", i, j);
		/* It completes (start clears, interrupt if asked) so drivers do not hang. */
		assert_int_equal(rd(t, EDU_REG_IRQ_STATUS, 4), EDU_IRQ_DMA);
		wr(t, EDU_REG_IRQ_ACK, EDU_IRQ_DMA, 4);
		/* RAM -> device: the buffer must stay untouched. */
		dma(t, RAM_IOVA, bad[i].dev, bad[i].cnt, 0);
		for (size_t j = 0; j < sizeof(t->s->dma_buf); j++)
			if (t->s->dma_buf[j] != 0xa5)
				fail_msg("case %zu touched the buffer at %zu", i, j);
	}
	/* The very last byte is fine. */
	t->ram[0] = 0x42;
	dma(t, RAM_IOVA, EDU_DMA_BUF_ADDR + 0xfff, 1, 0);
	assert_int_equal(t->s->dma_buf[0xfff], 0x42);
}

static void test_dma_failures_leave_memory(void **state)
{
	struct t *t = *state;
	memset(t->ram, 0x11, RAM_SIZE);
	memset(t->s->dma_buf, 0x22, sizeof(t->s->dma_buf));
	/* Unmapped IOVA, both directions. */
	dma(t, EDU_DMA_BUF_ADDR, RAM_IOVA + RAM_SIZE, 64, EDU_DMA_TO_RAM | EDU_DMA_IRQ);
	assert_int_equal(rd(t, EDU_REG_IRQ_STATUS, 4), EDU_IRQ_DMA);
	dma(t, RAM_IOVA - 64, EDU_DMA_BUF_ADDR, 128, 0); /* straddles the window start */
	assert_int_equal(t->s->dma_buf[0], 0x22);
	/* Bus mastering off: refused by the DMA layer. */
	uint16_t cmd = PCI_COMMAND_MEMORY;
	assert_int_equal(uvfio_pci_cfg_access(t->p, PCI_COMMAND, &cmd, 2, true), 2);
	dma(t, EDU_DMA_BUF_ADDR, RAM_IOVA, 64, EDU_DMA_TO_RAM);
	assert_int_equal(t->ram[0], 0x11);
	dma(t, RAM_IOVA, EDU_DMA_BUF_ADDR, 64, 0);
	assert_int_equal(t->s->dma_buf[0], 0x22);
	/* Still usable. */
	cmd |= PCI_COMMAND_MASTER;
	assert_int_equal(uvfio_pci_cfg_access(t->p, PCI_COMMAND, &cmd, 2, true), 2);
	dma(t, EDU_DMA_BUF_ADDR, RAM_IOVA, 64, EDU_DMA_TO_RAM);
	assert_int_equal(t->ram[0], 0x22);
	assert_int_equal(t->ram[64], 0x11);
}

static void test_dma_mask_default(void **state)
{
	struct t *t = *state;
	memset(t->s->dma_buf, 0x77, 16);
	memset(t->ram, 0, 32);
	/* 28-bit mask: 0x10100000 becomes 0x0100000. */
	dma(t, EDU_DMA_BUF_ADDR, RAM_IOVA | 0x10000000ull, 16, EDU_DMA_TO_RAM);
	assert_int_equal(t->ram[0], 0x77);
	assert_int_equal(t->ram[15], 0x77);
	assert_int_equal(t->ram[16], 0);
}

static void test_dma_mask_option(void **state)
{
	struct t *t = new_edu("edu,dma_mask=0x1fffff");
	*state = t;
	assert_true(t->s->dma_mask == 0x1fffff);
	fill(t->ram, 32, 1);
	/* 0x300000 & 0x1fffff = 0x100000 = RAM_IOVA */
	dma(t, 0x300000, EDU_DMA_BUF_ADDR, 32, 0);
	assert_memory_equal(t->s->dma_buf, t->ram, 32);
}

static void test_bad_options(void **state)
{
	struct uvfio_pci_device *p = NULL;
	uvfio_register_builtin_drivers();
	assert_int_equal(uvfio_pci_create("edu,dma_mask=0", &p), -EINVAL);
	assert_int_equal(uvfio_pci_create("edu,dma_mask=-1", &p), -EINVAL);
	assert_int_equal(uvfio_pci_create("edu,dma_mask=mask", &p), -EINVAL);
	assert_int_equal(uvfio_pci_create("edu,bogus=1", &p), -EINVAL);
	assert_null(p);
	/* Idempotent registration. */
	uvfio_register_builtin_drivers();
	assert_non_null(uvfio_driver_find("edu"));
	assert_non_null(uvfio_driver_find("edu-mig"));
	assert_non_null(uvfio_driver_find("nvme"));
	assert_null(uvfio_driver_at(3));
}

static void test_reset(void **state)
{
	struct t *t = *state;
	enable_intx(t);
	wr(t, EDU_REG_LIVENESS, 1, 4);
	wr(t, EDU_REG_STATUS, EDU_STATUS_IRQFACT, 4);
	wr(t, EDU_REG_IRQ_RAISE, 0x8, 4);
	assert_true(intx_status_bit(t));
	fill(t->ram, 16, 5);
	edu_pause(t->s);
	wr(t, EDU_REG_FACT, 6, 4);
	wr(t, EDU_REG_DMA_SRC, RAM_IOVA, 8);
	wr(t, EDU_REG_DMA_DST, EDU_DMA_BUF_ADDR, 8);
	wr(t, EDU_REG_DMA_CNT, 16, 8);
	wr(t, EDU_REG_DMA_CMD, EDU_DMA_START, 8);
	uvfio_pci_reset(t->p);
	/* Pending work is gone: nothing runs after resume. */
	edu_resume(t->s);
	assert_int_equal(edu_wait_idle(t->s), 0);
	uint16_t cmd = PCI_COMMAND_MEMORY;
	assert_int_equal(uvfio_pci_cfg_access(t->p, PCI_COMMAND, &cmd, 2, true), 2);
	assert_int_equal(rd(t, EDU_REG_LIVENESS, 4), 0);
	assert_int_equal(rd(t, EDU_REG_FACT, 4), 0);
	assert_int_equal(rd(t, EDU_REG_STATUS, 4), 0);
	assert_int_equal(rd(t, EDU_REG_IRQ_STATUS, 4), 0);
	for (uint64_t r = EDU_REG_DMA_SRC; r <= EDU_REG_DMA_CMD; r += 8)
		assert_true(rd(t, r, 8) == 0);
	assert_false(intx_status_bit(t));
	assert_int_equal(t->s->dma_buf[0], 0);
	assert_int_equal(rd(t, EDU_REG_ID, 4), 0x010000ed);
}

static void test_close_drops_pending_dma(void **state)
{
	struct t *t = *state;
	memset(t->ram, 0x33, 64);
	memset(t->s->dma_buf, 0x44, 64);
	edu_pause(t->s);
	wr(t, EDU_REG_DMA_SRC, EDU_DMA_BUF_ADDR, 8);
	wr(t, EDU_REG_DMA_DST, RAM_IOVA, 8);
	wr(t, EDU_REG_DMA_CNT, 64, 8);
	wr(t, EDU_REG_DMA_CMD, EDU_DMA_START | EDU_DMA_TO_RAM, 8);
	edu_close(t->p);
	edu_resume(t->s);
	assert_int_equal(edu_wait_idle(t->s), 0);
	assert_int_equal(t->ram[0], 0x33);
	/* The full device-core close path works too (unmaps, resets). */
	assert_int_equal(uvfio_device_open(t->dev), 0);
	uvfio_device_close(t->dev);
	assert_int_equal(uvfio_dma_space_count(uvfio_device_dma_space(t->dev)), 0);
}

static void test_concurrent_access(void **state)
{
	struct t *t = *state;
	/* Region accesses while the worker runs DMA and factorials (TSan/ASan coverage). */
	fill(t->ram, 4096, 2);
	for (int i = 0; i < 200; i++) {
		wr(t, EDU_REG_FACT, (uint32_t)(i % 13), 4);
		wr(t, EDU_REG_DMA_SRC, RAM_IOVA, 8);
		wr(t, EDU_REG_DMA_DST, EDU_DMA_BUF_ADDR, 8);
		wr(t, EDU_REG_DMA_CNT, 1024, 8);
		wr(t, EDU_REG_DMA_CMD, EDU_DMA_START, 8);
		(void)rd(t, EDU_REG_STATUS, 4);
		(void)rd(t, EDU_REG_DMA_CMD, 8);
	}
	assert_int_equal(edu_wait_idle(t->s), 0);
	assert_memory_equal(t->s->dma_buf, t->ram, 1024);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_identity),
		T(test_id_and_liveness),
		T(test_access_widths),
		T(test_memory_decode_gates_access),
		T(test_factorial),
		T(test_status_register),
		T(test_irq_raise_ack_intx),
		T(test_irq_msi),
		T(test_factorial_irq),
		T(test_dma_both_ways),
		T(test_dma_regs_frozen_while_running),
		T(test_dma_out_of_buffer_refused),
		T(test_dma_failures_leave_memory),
		T(test_dma_mask_default),
		cmocka_unit_test_teardown(test_dma_mask_option, teardown),
		cmocka_unit_test(test_bad_options),
		T(test_reset),
		T(test_close_drops_pending_dma),
		T(test_concurrent_access),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
