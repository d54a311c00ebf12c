/* SPDX-License-Identifier: MIT */
/*
 * interop-peer KIND URL: uvfio's client against one of QEMU's own devices exported by
 * x-vfio-user-server (tests/interop/run.sh starts it). KIND: e1000 | nvme. Through the public
 * client API only: BAR assignment (the server refuses BAR access before it), registers, the ROM,
 * INTx. Prints PASS/FAIL lines and a closing "N passed, N failed"; exit 0 iff none failed.
 * (edu is driven by examples/edu-client, which covers MSI and DMA.)
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <linux/pci_regs.h>

#include <uvfio/client.h>

#include "../vm/guest_util.h"

static int rd32(struct uvfio_handle *h, uint32_t bar, uint64_t off, uint32_t *v)
{
	ssize_t n = uvfio_region_read(h, bar, off, v, 4);

	return n < 0 ? (int)n : n == 4 ? 0 : -EIO;
}

static int wr32(struct uvfio_handle *h, uint32_t bar, uint64_t off, uint32_t v)
{
	ssize_t n = uvfio_region_write(h, bar, off, &v, 4);

	return n < 0 ? (int)n : n == 4 ? 0 : -EIO;
}

/* Before setup the server refuses BAR0 (as a real bus); uvfio_pci_setup() places want BARs. */
static void step_setup(struct uvfio_handle *h, int want, uint32_t first_reg)
{
	uint32_t v = 0, bar = 0;
	uint16_t cmd = 0;
	int ret = rd32(h, 0, 0, &v);

	result(ret < 0, "BAR0 refused before it has an address (ret %d)", ret);
	ret = uvfio_pci_setup(h, UVFIO_PCI_SETUP_MASTER);
	result(ret == want, "uvfio_pci_setup placed %d BARs (want %d)", ret, want);
	ret = uvfio_config_read(h, first_reg, &bar, 4);
	if (!ret)
		ret = uvfio_config_read(h, PCI_COMMAND, &cmd, 2);
	result(!ret && (bar & PCI_BASE_ADDRESS_MEM_MASK) >= 0x80000000u &&
		       (cmd & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER)) ==
			       (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER),
	       "BAR0 at 0x%08x, COMMAND 0x%04x", (unsigned)(bar & PCI_BASE_ADDRESS_MEM_MASK), cmd);
	/* A second call keeps what is there. */
	ret = uvfio_pci_setup(h, 0);
	result(ret == 0, "a second uvfio_pci_setup places nothing (ret %d)", ret);
}

#define E1000_STATUS 0x08
#define E1000_ICR 0xc0
#define E1000_ICS 0xc8
#define E1000_IMS 0xd0
#define E1000_IMC 0xd8
#define E1000_RDBAL 0x2800
#define E1000_ICR_LSC 0x4u

static void check_e1000(struct uvfio_handle *h)
{
	uint32_t v = 0, io = 0;
	uint8_t rom[2] = { 0, 0 };
	int efd, ret, fired = 0, again = 1;

	step_setup(h, 3, PCI_BASE_ADDRESS_0); /* BAR0 memory, BAR1 I/O, the ROM */
	ret = uvfio_config_read(h, PCI_BASE_ADDRESS_1, &io, 4);
	result(!ret && (io & PCI_BASE_ADDRESS_SPACE_IO) && (io & ~3u) >= 0xc000 &&
		       (io & ~3u) < 0x10000,
	       "BAR1 is I/O at 0x%x", io & ~3u);
	ret = rd32(h, 0, E1000_STATUS, &v);
	result(!ret && (v & 0x2), "STATUS 0x%08x: link up (ret %d)", v, ret);
	ret = wr32(h, 0, E1000_RDBAL, 0x12345670);
	if (!ret)
		ret = rd32(h, 0, E1000_RDBAL, &v);
	result(!ret && v == 0x12345670, "RDBAL written and read back: 0x%08x (ret %d)", v, ret);
	/* The ROM is placed but, as on a real bus, decodes only with its enable bit (vfio-pci
	 * sets that itself for a ROM read; QEMU's server does not): then it starts 55 aa. */
	ret = (int)uvfio_region_read(h, UVFIO_PCI_ROM_REGION, 0, rom, 2);
	result(ret < 0, "ROM refused while its enable bit is clear (ret %d)", ret);
	ret = uvfio_config_read(h, PCI_ROM_ADDRESS, &v, 4);
	v |= PCI_ROM_ADDRESS_ENABLE;
	if (!ret)
		ret = uvfio_config_write(h, PCI_ROM_ADDRESS, &v, 4);
	if (!ret)
		ret = (int)uvfio_region_read(h, UVFIO_PCI_ROM_REGION, 0, rom, 2);
	result(ret == 2 && rom[0] == 0x55 && rom[1] == 0xaa,
	       "ROM at 0x%x enabled: signature %02x %02x (ret %d)", v & PCI_ROM_ADDRESS_MASK,
	       rom[0], rom[1], ret);

	/* INTx: an interrupt cause set by software raises the line; reading ICR lowers it. */
	efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	ret = efd < 0 ? -errno : uvfio_irq_enable(h, UVFIO_PCI_INTX_IRQ, 0, 1, &efd);
	if (!ret)
		ret = rd32(h, 0, E1000_ICR, &v); /* clear anything pending */
	if (!ret) {
		wait_efd(efd, 100);
		ret = wr32(h, 0, E1000_IMS, E1000_ICR_LSC);
	}
	if (!ret)
		ret = wr32(h, 0, E1000_ICS, E1000_ICR_LSC);
	if (!ret)
		fired = wait_efd(efd, 5000);
	result(!ret && fired, "INTx: ICS.LSC raises the line, eventfd fired (ret %d)", ret);
	if (!ret)
		ret = rd32(h, 0, E1000_ICR, &v);
	result(!ret && (v & E1000_ICR_LSC), "INTx: ICR 0x%08x has LSC (ret %d)", v, ret);
	if (!ret)
		ret = uvfio_irq_unmask(h, UVFIO_PCI_INTX_IRQ, 0);
	if (!ret)
		again = wait_efd(efd, 300);
	result(!ret && !again, "INTx: line low after ICR read, no event after unmask (ret %d)", ret);
	if (!ret)
		ret = wr32(h, 0, E1000_IMC, ~0u);
	if (!ret)
		ret = uvfio_irq_disable(h, UVFIO_PCI_INTX_IRQ);
	result(!ret, "INTx: disabled (ret %d)", ret);
	if (efd >= 0)
		close(efd);
}

#define NVME_CAP 0x00
#define NVME_VS 0x08
#define NVME_CSTS 0x1c
#define NVME_AQA 0x24

static void check_nvme(struct uvfio_handle *h)
{
	uint64_t cap = 0;
	uint32_t v = 0, hi = 0;
	struct uvfio_irq_info ii;
	ssize_t n;
	int ret;

	step_setup(h, 1, PCI_BASE_ADDRESS_0); /* BAR0, 64-bit */
	ret = uvfio_config_read(h, PCI_BASE_ADDRESS_0, &v, 4);
	if (!ret)
		ret = uvfio_config_read(h, PCI_BASE_ADDRESS_1, &hi, 4);
	result(!ret && (v & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64,
	       "BAR0 is 64-bit memory, upper half 0x%x", hi);
	n = uvfio_region_read(h, 0, NVME_CAP, &cap, 8);
	result(n == 8 && (cap & 0xffff) >= 1 && ((cap >> 37) & 1),
	       "CAP 0x%016llx: MQES %llu, NVM command set (ret %zd)", (unsigned long long)cap,
	       (unsigned long long)(cap & 0xffff), n);
	ret = rd32(h, 0, NVME_VS, &v);
	result(!ret && v >= 0x10000, "VS 0x%08x (ret %d)", v, ret);
	ret = rd32(h, 0, NVME_CSTS, &v);
	result(!ret && !(v & 1), "CSTS 0x%x: not ready while disabled (ret %d)", v, ret);
	ret = wr32(h, 0, NVME_AQA, 0x001f001f);
	if (!ret)
		ret = rd32(h, 0, NVME_AQA, &v);
	result(!ret && v == 0x001f001f, "AQA written and read back: 0x%08x (ret %d)", v, ret);
	ret = uvfio_get_irq_info(h, UVFIO_PCI_MSIX_IRQ, &ii);
	result(!ret && ii.count > 1, "MSI-X: %u vectors (ret %d)", ret ? 0 : ii.count, ret);
}

int main(int argc, char **argv)
{
	struct uvfio_handle *h = NULL;
	int ret;

	if (argc != 3 || (strcmp(argv[1], "e1000") && strcmp(argv[1], "nvme"))) {
		fprintf(stderr, "usage: %s e1000|nvme URL\n", argv[0]);
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	ret = uvfio_open(argv[2], &h);
	result(ret == 0, "open %s (ret %d)", argv[2], ret);
	if (ret == 0) {
		if (strcmp(argv[1], "e1000") == 0)
			check_e1000(h);
		else
			check_nvme(h);
		uvfio_close(h);
	}
	return summary();
}
