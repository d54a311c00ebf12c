/* SPDX-License-Identifier: MIT */
/*
 * uvfio-edu-client URL [-v]: drives an edu device (QEMU's, or uvfio's) through the public
 * client API only, so the same checks run over vfio-user and kernel VFIO. Portability rules
 * for real hardware paths: 64-bit registers are written as two 32-bit halves (vfio-pci splits
 * 8-byte accesses) and DMA transfers stay below 4096 bytes (QEMU 7.2's edu aborts on 4096).
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <uvfio/client.h>

#define EDU_ID 0x010000edu
#define REG_ID 0x00
#define REG_LIVE 0x04
#define REG_FACT 0x08
#define REG_STATUS 0x20
#define REG_IRQ_STATUS 0x24
#define REG_IRQ_RAISE 0x60
#define REG_IRQ_ACK 0x64
#define REG_DMA_SRC 0x80
#define REG_DMA_DST 0x88
#define REG_DMA_CNT 0x90
#define REG_DMA_CMD 0x98
#define DMA_START 0x1u
#define DMA_TO_RAM 0x2u
#define DMA_IRQ 0x4u
#define DMA_BUF 0x40000u
#define STATUS_COMPUTING 0x1u
#define STATUS_IRQFACT 0x80u

#define CFG_COMMAND 0x04
#define CFG_STATUS 0x06
#define CFG_BAR0 0x10
#define CMD_MEM 0x2u
#define CMD_MASTER 0x4u
#define STATUS_INTX 0x8u

#define RAM_IOVA 0x200000ull /* below the 28-bit default dma_mask */
#define RAM_SIZE 0x4000ull
#define UNMAPPED_IOVA 0x800000ull
#define XFER 1024u
#define TIMEOUT_MS 3000

static bool verbose;
static unsigned passed, failed;

static void result(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void result(bool ok, const char *fmt, ...)
{
	if (ok)
		passed++;
	else
		failed++;
	if (ok && !verbose)
		return;
	va_list ap;
	va_start(ap, fmt);
	printf("%s ", ok ? "PASS" : "FAIL");
	vprintf(fmt, ap);
	printf("\n");
	va_end(ap);
	fflush(stdout);
}

static int rd32(struct uvfio_handle *h, uint64_t off, uint32_t *v)
{
	ssize_t n = uvfio_region_read(h, 0, off, v, 4);
	return n == 4 ? 0 : (n < 0 ? (int)n : -EIO);
}

static int wr32(struct uvfio_handle *h, uint64_t off, uint32_t v)
{
	ssize_t n = uvfio_region_write(h, 0, off, &v, 4);
	return n == 4 ? 0 : (n < 0 ? (int)n : -EIO);
}

/* Two halves, low first: edu decodes only the low half's offset, so the high write is a
 * no-op there and the value must fit in 32 bits (all our IOVAs do). */
static int wr64(struct uvfio_handle *h, uint64_t off, uint64_t v)
{
	int ret = wr32(h, off, (uint32_t)v);
	return ret ? ret : wr32(h, off + 4, (uint32_t)(v >> 32));
}

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Polls a register until (value & mask) == want or the timeout. */
static int poll_reg(struct uvfio_handle *h, uint64_t off, uint32_t mask, uint32_t want,
		    uint32_t *last)
{
	long long end = now_ms() + TIMEOUT_MS;
	const struct timespec pause = { .tv_nsec = 100000 };
	for (;;) {
		int ret = rd32(h, off, last);
		if (ret)
			return ret;
		if ((*last & mask) == want)
			return 0;
		if (now_ms() > end)
			return -ETIMEDOUT;
		nanosleep(&pause, NULL);
	}
}

/* Waits for one eventfd signal; returns 1 if it fired, 0 on timeout. */
static int wait_event(int fd, int timeout_ms)
{
	struct pollfd p = { .fd = fd, .events = POLLIN };
	int n = poll(&p, 1, timeout_ms);
	if (n <= 0)
		return 0;
	uint64_t cnt;
	return read(fd, &cnt, sizeof(cnt)) == sizeof(cnt) ? 1 : 0;
}

static void drain(int fd)
{
	uint64_t cnt;
	while (read(fd, &cnt, sizeof(cnt)) == sizeof(cnt))
		;
}

static void step_info(struct uvfio_handle *h)
{
	struct uvfio_device_info info;
	int ret = uvfio_get_device_info(h, &info);
	bool ok = ret == 0 && (info.flags & UVFIO_DEVICE_FLAGS_PCI) && info.num_regions >= 9 &&
		  info.num_irqs >= 2;
	result(ok, "device info: backend %s, flags 0x%x, %u regions, %u irqs (ret %d)",
	       uvfio_backend_name(h), ret ? 0 : info.flags, ret ? 0 : info.num_regions,
	       ret ? 0 : info.num_irqs, ret);
	struct uvfio_region_info ri;
	ret = uvfio_get_region_info(h, 0, &ri);
	ok = ret == 0 && ri.size == (1u << 20) && (ri.flags & UVFIO_REGION_READ) &&
	     (ri.flags & UVFIO_REGION_WRITE);
	result(ok, "BAR0: size 0x%llx, flags 0x%x (ret %d)",
	       ret ? 0ull : (unsigned long long)ri.size, ret ? 0 : ri.flags, ret);
}

static void step_config(struct uvfio_handle *h)
{
	uint16_t vendor = 0, device = 0;
	uint32_t class_rev = 0;
	int ret = uvfio_config_read(h, 0x00, &vendor, 2);
	if (!ret)
		ret = uvfio_config_read(h, 0x02, &device, 2);
	if (!ret)
		ret = uvfio_config_read(h, 0x08, &class_rev, 4);
	bool ok = !ret && vendor == 0x1234 && device == 0x11e8 && (class_rev & 0xff) == 0x10 &&
		  (class_rev >> 8) == 0x00ff00;
	result(ok, "config: %04x:%04x rev 0x%02x class 0x%06x", vendor, device, class_rev & 0xff,
	       class_rev >> 8);

	/* As firmware would: BAR0 gets an address if it has none (QEMU's x-vfio-user-server
	 * refuses BAR access until then), decoding and bus mastering come on. */
	int placed = uvfio_pci_setup(h, UVFIO_PCI_SETUP_MASTER);
	uint16_t back = 0;
	uint32_t bar0 = 0;
	ret = placed < 0 ? placed : uvfio_config_read(h, CFG_COMMAND, &back, 2);
	if (!ret)
		ret = uvfio_config_read(h, CFG_BAR0, &bar0, 4);
	ok = !ret && (back & (CMD_MEM | CMD_MASTER)) == (CMD_MEM | CMD_MASTER) && (bar0 & ~0xfu);
	result(ok, "PCI setup: %d BAR(s) placed, BAR0 at 0x%x, COMMAND 0x%04x (ret %d)", placed,
	       bar0 & ~0xfu, back, ret);
}

static void step_registers(struct uvfio_handle *h)
{
	uint32_t v = 0;
	int ret = rd32(h, REG_ID, &v);
	result(!ret && v == EDU_ID, "ID register: 0x%08x", v);

	const uint32_t x = 0x5a5a1234;
	ret = wr32(h, REG_LIVE, x);
	if (!ret)
		ret = rd32(h, REG_LIVE, &v);
	result(!ret && v == ~x, "liveness: wrote 0x%08x, read 0x%08x", x, v);
}

static void factorial(struct uvfio_handle *h, uint32_t n, uint32_t want)
{
	uint32_t v = 0, st = 0;
	int ret = wr32(h, REG_FACT, n);
	if (!ret)
		ret = poll_reg(h, REG_STATUS, STATUS_COMPUTING, 0, &st);
	if (!ret)
		ret = rd32(h, REG_FACT, &v);
	result(!ret && v == want, "factorial: %u! = %u (ret %d)", n, v, ret);
}

/* Starts a transfer and polls for the start bit to clear. */
static int run_dma(struct uvfio_handle *h, uint64_t src, uint64_t dst, uint32_t cnt, uint32_t cmd)
{
	int ret = wr64(h, REG_DMA_SRC, src);
	if (!ret)
		ret = wr64(h, REG_DMA_DST, dst);
	if (!ret)
		ret = wr64(h, REG_DMA_CNT, cnt);
	if (!ret)
		ret = wr64(h, REG_DMA_CMD, cmd | DMA_START);
	uint32_t v;
	if (!ret)
		ret = poll_reg(h, REG_DMA_CMD, DMA_START, 0, &v);
	return ret;
}

static void step_dma(struct uvfio_handle *h, uint8_t *ram)
{
	for (unsigned i = 0; i < XFER; i++)
		ram[i] = (uint8_t)(i * 13 + 7);
	memset(ram + 0x1000, 0, XFER);
	int ret = run_dma(h, RAM_IOVA, DMA_BUF, XFER, 0);
	result(!ret, "DMA RAM -> device: %u bytes (ret %d)", XFER, ret);
	ret = run_dma(h, DMA_BUF, RAM_IOVA + 0x1000, XFER, DMA_TO_RAM);
	bool same = memcmp(ram, ram + 0x1000, XFER) == 0;
	result(!ret && same, "DMA device -> RAM: %u bytes, data %s (ret %d)", XFER,
	       same ? "matches" : "differs", ret);

	/* Unmapped IOVA: the transfer ends without touching anything we own. */
	memset(ram + 0x2000, 0x5c, 0x2000);
	ret = run_dma(h, DMA_BUF, UNMAPPED_IOVA, 256, DMA_TO_RAM);
	bool untouched = true;
	for (unsigned i = 0x2000; i < RAM_SIZE; i++)
		untouched = untouched && ram[i] == 0x5c;
	result(!ret && untouched, "DMA to unmapped IOVA 0x%llx: completed, memory untouched",
	       (unsigned long long)UNMAPPED_IOVA);
	uint32_t v = 0;
	memset(ram + 0x3000, 0, 64);
	ret = run_dma(h, DMA_BUF, RAM_IOVA + 0x3000, 64, DMA_TO_RAM);
	if (!ret)
		ret = rd32(h, REG_ID, &v);
	result(!ret && v == EDU_ID && memcmp(ram, ram + 0x3000, 64) == 0,
	       "device usable after the failed DMA");
}

static void step_intx(struct uvfio_handle *h, int efd)
{
	int ret = uvfio_irq_enable(h, UVFIO_PCI_INTX_IRQ, 0, 1, &efd);
	result(!ret, "INTx: eventfd assigned (ret %d)", ret);
	if (ret)
		return;
	drain(efd);
	ret = wr32(h, REG_IRQ_RAISE, 0x1);
	int fired = !ret && wait_event(efd, TIMEOUT_MS);
	result(fired, "INTx: raise 0x1, eventfd fired");
	uint16_t st = 0;
	uint32_t irq = 0;
	ret = uvfio_config_read(h, CFG_STATUS, &st, 2);
	if (!ret)
		ret = rd32(h, REG_IRQ_STATUS, &irq);
	result(!ret && (st & STATUS_INTX) && irq == 0x1,
	       "INTx: config STATUS.INTERRUPT set (0x%04x), irq status 0x%x", st, irq);
	ret = wr32(h, REG_IRQ_ACK, 0x1);
	if (!ret)
		ret = uvfio_irq_unmask(h, UVFIO_PCI_INTX_IRQ, 0);
	if (!ret)
		ret = uvfio_config_read(h, CFG_STATUS, &st, 2);
	/* Acked before the unmask: the line is low, so no second event. */
	int again = wait_event(efd, 200);
	result(!ret && !(st & STATUS_INTX) && !again,
	       "INTx: ack + unmask, line low (STATUS 0x%04x), no new event", st);
	ret = uvfio_irq_disable(h, UVFIO_PCI_INTX_IRQ);
	result(!ret, "INTx: disabled (ret %d)", ret);
}

static void step_msi(struct uvfio_handle *h, int efd, uint8_t *ram)
{
	int ret = uvfio_irq_enable(h, UVFIO_PCI_MSI_IRQ, 0, 1, &efd);
	result(!ret, "MSI: enabled through SET_IRQS (ret %d)", ret);
	if (ret)
		return;
	drain(efd);
	ret = wr32(h, REG_IRQ_RAISE, 0x2);
	result(!ret && wait_event(efd, TIMEOUT_MS), "MSI: raise 0x2, eventfd fired");
	wr32(h, REG_IRQ_ACK, 0x2);

	/* Factorial completion interrupt. */
	uint32_t v = 0, irq = 0;
	ret = wr32(h, REG_STATUS, STATUS_IRQFACT);
	if (!ret)
		ret = wr32(h, REG_FACT, 7);
	int fired = !ret && wait_event(efd, TIMEOUT_MS);
	if (!ret)
		ret = rd32(h, REG_FACT, &v);
	if (!ret)
		ret = rd32(h, REG_IRQ_STATUS, &irq);
	result(fired && !ret && v == 5040 && (irq & 0x1),
	       "factorial interrupt: 7! = %u, irq status 0x%x", v, irq);
	wr32(h, REG_IRQ_ACK, 0x1);
	wr32(h, REG_STATUS, 0);

	/* DMA completion interrupt. */
	memset(ram + 0x1000, 0, 128);
	ret = run_dma(h, DMA_BUF, RAM_IOVA + 0x1000, 128, DMA_TO_RAM | DMA_IRQ);
	fired = !ret && wait_event(efd, TIMEOUT_MS);
	if (!ret)
		ret = rd32(h, REG_IRQ_STATUS, &irq);
	result(fired && !ret && (irq & 0x100) && memcmp(ram, ram + 0x1000, 128) == 0,
	       "DMA interrupt: irq status 0x%x, data matches", irq);
	wr32(h, REG_IRQ_ACK, 0x100);
	ret = uvfio_irq_disable(h, UVFIO_PCI_MSI_IRQ);
	result(!ret, "MSI: disabled (ret %d)", ret);
}

int main(int argc, char **argv)
{
	const char *url = NULL;
	bool bad = false;
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "-v") == 0)
			verbose = true;
		else if (!url && argv[i][0] != '-')
			url = argv[i];
		else
			bad = true;
	}
	if (!url || bad) {
		fprintf(stderr, "usage: %s URL [-v]   (URL: vfio-user:/path or vfio:BDF)\n",
			argv[0]);
		return 2;
	}
	struct uvfio_handle *h = NULL;
	int ret = uvfio_open(url, &h);
	if (ret) {
		fprintf(stderr, "cannot open %s: %s\n", url, strerror(-ret));
		printf("0 passed, 1 failed\n");
		return 1;
	}
	step_info(h);
	step_config(h);
	step_registers(h);
	factorial(h, 5, 120);
	factorial(h, 12, 479001600);

	struct uvfio_ioas *ioas = NULL;
	void *mem = NULL;
	ret = uvfio_ioas_new(&ioas);
	if (!ret)
		ret = uvfio_ioas_map_alloc(ioas, RAM_IOVA, RAM_SIZE,
					   UVFIO_IOAS_READ | UVFIO_IOAS_WRITE, &mem);
	if (!ret)
		ret = uvfio_ioas_attach(ioas, h);
	result(!ret, "IOAS: 0x%llx bytes of memfd memory at IOVA 0x%llx, attached (ret %d)",
	       (unsigned long long)RAM_SIZE, (unsigned long long)RAM_IOVA, ret);
	int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (!ret && efd >= 0) {
		step_dma(h, mem);
		step_intx(h, efd);
		step_msi(h, efd, mem);
	}
	if (efd >= 0)
		close(efd);
	if (ioas)
		uvfio_ioas_free(ioas);
	uvfio_close(h);
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}
