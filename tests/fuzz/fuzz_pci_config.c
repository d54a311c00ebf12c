/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the PCI core's config space (lib/pci/config.c, caps.c, msix.c, irq.c, bar.c) and
 * its saved state (state.c), on a device with every capability the core offers: PM, MSI (64-bit,
 * per-vector mask), MSI-X (table and PBA in a 64-bit BAR), PCIe with FLR, a vendor capability,
 * the DSN extended capability, memory, I/O and ROM BARs.
 *
 * Input: [mode] then, mode bit 0 clear, access records [op][off lo][off hi][value: 4 bytes]:
 * op bits 0-1 the size (1, 2, 4, or op>>4 + 1 bytes through the region interface), bit 2 write,
 * bit 3 the access goes to BAR 2 (MSI-X table/PBA) instead of config space. Mode bit 0 set: the
 * device's saved state patched by records [off lo][off hi][xor] (a state is ~4.2 KiB, so
 * patching a real one reaches the checks behind the header), then checked and loaded. Every
 * input ends with a state save that must load back into the device, and a reset.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/driver.h>
#include <uvfio/log.h>
#include <uvfio/pci.h>

static struct uvfio_pci_device *pdev;
static struct uvfio_device *dev;
static uint8_t state[8192];

static ssize_t bar_rw(struct uvfio_pci_device *p, int bar, uint64_t offset, void *buf,
		      size_t count, bool is_write)
{
	if (!is_write)
		memset(buf, 0xff, count);
	return (ssize_t)count;
}

static void setup(void)
{
	static const struct uvfio_pci_ident id = {
		.vendor = 0x1234, .device = 0xf022, .subvendor = 0x1af4, .subdevice = 0x1100,
		.class_code = 0x010802, .revision = 1,
	};
	static const uint8_t vendor[5] = { 1, 2, 3, 4, 5 };
	static const uint8_t rom[100] = { 0x55, 0xaa };

	uvfio_log_set_level(0);
	pdev = uvfio_pci_device_new(&id);
	if (!pdev || uvfio_pci_setup_bar(pdev, 0, 4096, UVFIO_PCI_BAR_MEM32, bar_rw) ||
	    uvfio_pci_setup_bar(pdev, 1, 256, UVFIO_PCI_BAR_IO, bar_rw) ||
	    uvfio_pci_setup_bar(pdev, 2, 8192, UVFIO_PCI_BAR_MEM64 | UVFIO_PCI_BAR_PREFETCH,
				bar_rw) ||
	    uvfio_pci_setup_rom(pdev, rom, sizeof(rom)) || uvfio_pci_add_cap_pm(pdev) < 0 ||
	    uvfio_pci_add_cap_msi(pdev, 4, true, true) < 0 ||
	    uvfio_pci_add_cap_msix(pdev, 8, 2, 0, 2, 0x1000) < 0 ||
	    uvfio_pci_add_cap_exp(pdev, true) < 0 ||
	    uvfio_pci_add_cap_vendor(pdev, vendor, sizeof(vendor)) < 0 ||
	    uvfio_pci_add_ext_cap_dsn(pdev, 0x0123456789abcdefull) < 0)
		abort();
	dev = uvfio_pci_to_device(pdev);
	if (uvfio_pci_state_size(pdev) > sizeof(state))
		abort();
}

static void access(const uint8_t *r)
{
	static const size_t sizes[3] = { 1, 2, 4 };
	uint32_t off = r[1] | (uint32_t)r[2] << 8, val;
	bool wr = r[0] & 4;
	uint8_t buf[16];

	memcpy(&val, r + 3, 4);
	if (r[0] & 8) {
		size_t n = (r[0] & 3) == 3 ? (r[0] >> 4) % 8 + 1 : sizes[r[0] & 3];

		memset(buf, 0, sizeof(buf));
		memcpy(buf, &val, 4);
		uvfio_device_region_rw(dev, UVFIO_PCI_BAR0_REGION + 2, off % 8200, buf, n, wr);
		return;
	}
	off %= 4100; /* a little past the end: must be refused */
	if ((r[0] & 3) == 3) {
		size_t n = (r[0] >> 4) + 1;

		memset(buf, 0, sizeof(buf));
		memcpy(buf, &val, 4);
		uvfio_device_region_rw(dev, UVFIO_PCI_CONFIG_REGION, off, buf, n, wr);
		return;
	}
	switch (sizes[r[0] & 3] | (wr ? 0x10 : 0)) {
	case 1:
		(void)uvfio_pci_cfg_read8(pdev, off % 4096);
		break;
	case 2:
		(void)uvfio_pci_cfg_read16(pdev, off % 4095);
		break;
	case 4:
		(void)uvfio_pci_cfg_read32(pdev, off % 4093);
		break;
	default:
		uvfio_pci_cfg_access(pdev, off, &val, sizes[r[0] & 3], true);
		break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	ssize_t n;

	if (!pdev)
		setup();
	if (size < 1)
		return 0;
	if (data[0] & 1) {
		n = uvfio_pci_state_save(pdev, state, sizeof(state));
		if (n < 0)
			abort();
		for (size_t off = 1; off + 3 <= size; off += 3)
			state[(data[off] | (size_t)data[off + 1] << 8) % (size_t)n] ^= data[off + 2];
		/* mode bit 1: a truncated state */
		if (data[0] & 2)
			n = n * data[size - 1] / 256;
		if (uvfio_pci_state_check(pdev, state, (size_t)n) == 0 &&
		    uvfio_pci_state_load(pdev, state, (size_t)n))
			abort(); /* checked fine but did not load */
	} else {
		for (size_t off = 1; off + 7 <= size; off += 7)
			access(data + off);
	}
	/* Whatever state it reached, it must save and load back. */
	n = uvfio_pci_state_save(pdev, state, sizeof(state));
	if (n < 0 || uvfio_pci_state_check(pdev, state, (size_t)n) ||
	    uvfio_pci_state_load(pdev, state, (size_t)n))
		abort();
	uvfio_device_reset(dev);
	return 0;
}
