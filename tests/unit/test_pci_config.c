/* SPDX-License-Identifier: MIT */
/* PCI config space: header write masks, w1c, access sizes, reset to power-on values. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <uvfio/pci.h>

static const struct uvfio_pci_ident ident = {
	.vendor = 0x1234,
	.device = 0x11e8,
	.subvendor = 0x1af4,
	.subdevice = 0x1100,
	.class_code = 0xff0012,
	.revision = 0x10,
};

static int written_off = -1, written_size, resets;

static void cfg_written(struct uvfio_pci_device *pdev, uint32_t off, uint32_t size)
{
	written_off = (int)off;
	written_size = (int)size;
}

static void drv_reset(struct uvfio_pci_device *pdev)
{
	resets++;
}

static const struct uvfio_pci_ops drv_ops = {
	.config_written = cfg_written,
	.reset = drv_reset,
};

static int setup(void **state)
{
	struct uvfio_pci_device *pdev = uvfio_pci_device_new(&ident);
	assert_non_null(pdev);
	*state = pdev;
	written_off = -1;
	resets = 0;
	return 0;
}

static int teardown(void **state)
{
	uvfio_pci_device_free(*state);
	return 0;
}

static uint32_t rd(struct uvfio_pci_device *pdev, uint32_t off, size_t size)
{
	uint8_t b[4] = { 0 };
	assert_int_equal(uvfio_pci_cfg_access(pdev, off, b, size, false), (ssize_t)size);
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void wr(struct uvfio_pci_device *pdev, uint32_t off, size_t size, uint32_t val)
{
	uint8_t b[4] = { (uint8_t)val, (uint8_t)(val >> 8), (uint8_t)(val >> 16),
			 (uint8_t)(val >> 24) };
	assert_int_equal(uvfio_pci_cfg_access(pdev, off, b, size, true), (ssize_t)size);
}

struct reg {
	const char *name;
	uint32_t off, size, rw, w1c;
};

/* Every register of a type 0 header without BARs, ROM or capabilities. */
static const struct reg header[] = {
	{ "vendor", PCI_VENDOR_ID, 2, 0, 0 },
	{ "device", PCI_DEVICE_ID, 2, 0, 0 },
	{ "command", PCI_COMMAND, 2,
	  PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
		  PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE,
	  0 },
	{ "status", PCI_STATUS, 2, 0,
	  PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT | PCI_STATUS_REC_TARGET_ABORT |
		  PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_SIG_SYSTEM_ERROR |
		  PCI_STATUS_DETECTED_PARITY },
	{ "revision", PCI_REVISION_ID, 1, 0, 0 },
	{ "class", PCI_CLASS_PROG, 3, 0, 0 },
	{ "cache line", PCI_CACHE_LINE_SIZE, 1, 0xff, 0 },
	{ "latency", PCI_LATENCY_TIMER, 1, 0xff, 0 },
	{ "header type", PCI_HEADER_TYPE, 1, 0, 0 },
	{ "bist", PCI_BIST, 1, 0, 0 },
	{ "bar0", PCI_BASE_ADDRESS_0, 4, 0, 0 },
	{ "bar1", PCI_BASE_ADDRESS_1, 4, 0, 0 },
	{ "bar2", PCI_BASE_ADDRESS_2, 4, 0, 0 },
	{ "bar3", PCI_BASE_ADDRESS_3, 4, 0, 0 },
	{ "bar4", PCI_BASE_ADDRESS_4, 4, 0, 0 },
	{ "bar5", PCI_BASE_ADDRESS_5, 4, 0, 0 },
	{ "cardbus", PCI_CARDBUS_CIS, 4, 0, 0 },
	{ "subvendor", PCI_SUBSYSTEM_VENDOR_ID, 2, 0, 0 },
	{ "subdevice", PCI_SUBSYSTEM_ID, 2, 0, 0 },
	{ "rom", PCI_ROM_ADDRESS, 4, 0, 0 },
	{ "cap ptr", PCI_CAPABILITY_LIST, 1, 0, 0 },
	{ "int line", PCI_INTERRUPT_LINE, 1, 0xff, 0 },
	{ "int pin", PCI_INTERRUPT_PIN, 1, 0, 0 },
	{ "min gnt", PCI_MIN_GNT, 1, 0, 0 },
	{ "max lat", PCI_MAX_LAT, 1, 0, 0 },
};

static uint32_t ones(uint32_t size)
{
	return size == 4 ? 0xffffffffu : (1u << (8 * size)) - 1;
}

static void check_reg(struct uvfio_pci_device *pdev, const struct reg *r)
{
	uint32_t v0 = rd(pdev, r->off, r->size);
	wr(pdev, r->off, r->size, ones(r->size));
	uint32_t expect1 = ((v0 & ~r->rw) | r->rw) & ~r->w1c;
	uint32_t got1 = rd(pdev, r->off, r->size);
	if (got1 != expect1)
		fail_msg("%s: all-ones write read back 0x%x, want 0x%x", r->name, got1, expect1);
	wr(pdev, r->off, r->size, 0);
	uint32_t got0 = rd(pdev, r->off, r->size);
	if (got0 != (expect1 & ~r->rw))
		fail_msg("%s: zero write read back 0x%x, want 0x%x", r->name, got0,
			 expect1 & ~r->rw);
}

static void test_header_masks(void **state)
{
	struct uvfio_pci_device *pdev = *state;
	for (size_t i = 0; i < sizeof(header) / sizeof(header[0]); i++)
		check_reg(pdev, &header[i]);
	/* identity survives the writes */
	assert_int_equal(rd(pdev, PCI_VENDOR_ID, 2), 0x1234);
	assert_int_equal(rd(pdev, PCI_DEVICE_ID, 2), 0x11e8);
	assert_int_equal(rd(pdev, PCI_REVISION_ID, 1), 0x10);
	assert_int_equal(rd(pdev, PCI_CLASS_PROG, 3), 0xff0012);
	assert_int_equal(rd(pdev, PCI_SUBSYSTEM_VENDOR_ID, 2), 0x1af4);
	assert_int_equal(rd(pdev, PCI_SUBSYSTEM_ID, 2), 0x1100);
	assert_int_equal(rd(pdev, PCI_HEADER_TYPE, 1), PCI_HEADER_TYPE_NORMAL);
	/* no capabilities: CAP_LIST clear */
	assert_int_equal(rd(pdev, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST, 0);
}

static void test_rest_read_only_zero(void **state)
{
	struct uvfio_pci_device *pdev = *state;
	for (uint32_t off = 0x40; off < UVFIO_PCI_CFG_SIZE; off++) {
		wr(pdev, off, 1, 0xff);
		if (rd(pdev, off, 1) != 0)
			fail_msg("byte 0x%x is writable", off);
	}
}

static void test_w1c(void **state)
{
	struct uvfio_pci_device *pdev = *state;
	uvfio_pci_cfg_write16(pdev, PCI_STATUS,
			      PCI_STATUS_DETECTED_PARITY | PCI_STATUS_SIG_SYSTEM_ERROR |
				      PCI_STATUS_PARITY);
	/* writing 0 keeps, writing 1 clears exactly that bit */
	wr(pdev, PCI_STATUS, 2, 0);
	assert_int_equal(rd(pdev, PCI_STATUS, 2), PCI_STATUS_DETECTED_PARITY |
							  PCI_STATUS_SIG_SYSTEM_ERROR |
							  PCI_STATUS_PARITY);
	wr(pdev, PCI_STATUS, 2, PCI_STATUS_SIG_SYSTEM_ERROR);
	assert_int_equal(rd(pdev, PCI_STATUS, 2), PCI_STATUS_DETECTED_PARITY | PCI_STATUS_PARITY);
	/* a byte write to the high byte clears only there */
	wr(pdev, PCI_STATUS + 1, 1, 0xff);
	assert_int_equal(rd(pdev, PCI_STATUS, 2), 0);
	/* INTERRUPT is read-only for the client */
	wr(pdev, PCI_STATUS, 2, PCI_STATUS_INTERRUPT | PCI_STATUS_CAP_LIST);
	assert_int_equal(rd(pdev, PCI_STATUS, 2), 0);
}

/* Drivers may declare their own rw/w1c bits (e.g. in a vendor capability). */
static void test_driver_masks(void **state)
{
	struct uvfio_pci_device *pdev = *state;
	uvfio_pci_cfg_set_masks(pdev, 0x44, 4, 0x0000ffff, 0xffff0000);
	uvfio_pci_cfg_write32(pdev, 0x44, 0xabcd0000);
	wr(pdev, 0x44, 4, 0x00ff1234);
	assert_int_equal(rd(pdev, 0x44, 4), 0xab001234);
	wr(pdev, 0x46, 2, 0xff00);
	assert_int_equal(rd(pdev, 0x44, 4), 0x00001234);
	/* a 2-byte mask leaves the neighbours read-only */
	uvfio_pci_cfg_set_masks(pdev, 0x48, 2, 0xffffffff, 0);
	wr(pdev, 0x48, 4, 0xffffffff);
	assert_int_equal(rd(pdev, 0x48, 4), 0x0000ffff);
}

static void test_access_sizes(void **state)
{
	struct uvfio_pci_device *pdev = *state;
	uvfio_pci_set_ops(pdev, &drv_ops);
	assert_ptr_equal(uvfio_pci_get_ops(pdev), &drv_ops);
	/* a dword write to 0x3c only changes INTERRUPT_LINE */
	wr(pdev, PCI_INTERRUPT_LINE, 4, 0x12345678);
	assert_int_equal(rd(pdev, PCI_INTERRUPT_LINE, 4), 0x78);
	assert_int_equal(written_off, PCI_INTERRUPT_LINE);
	assert_int_equal(written_size, 4);
	/* unaligned 3-byte and 2-byte accesses */
	wr(pdev, PCI_CACHE_LINE_SIZE, 2, 0xa5b6);
	assert_int_equal(rd(pdev, PCI_CACHE_LINE_SIZE, 1), 0xb6);
	assert_int_equal(rd(pdev, PCI_LATENCY_TIMER, 1), 0xa5);
	assert_int_equal(rd(pdev, PCI_REVISION_ID + 1, 3), 0xff0012);
	assert_int_equal(rd(pdev, PCI_CLASS_DEVICE + 1, 2), 0xb6ff);
	/* a 16-byte read and an 8-byte write crossing a dword boundary */
	uint8_t big[16];
	assert_int_equal(uvfio_pci_cfg_access(pdev, 0, big, sizeof(big), false), 16);
	assert_int_equal(big[0], 0x34);
	assert_int_equal(big[1], 0x12);
	uint8_t w8[8] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88 };
	assert_int_equal(uvfio_pci_cfg_access(pdev, 0x0a, w8, 8, true), 8);
	/* 0x0c <- 0x33 (cache line), 0x0d <- 0x44 (latency), class/header/bist untouched */
	assert_int_equal(rd(pdev, PCI_CACHE_LINE_SIZE, 2), 0x4433);
	assert_int_equal(rd(pdev, PCI_CLASS_DEVICE, 2), 0xff00);
	assert_int_equal(rd(pdev, PCI_HEADER_TYPE, 2), 0);
	assert_int_equal(written_off, 0x10); /* the last dword chunk */
	assert_int_equal(written_size, 2);
	/* the last byte is readable; anything past 4 KiB or empty is refused */
	uint8_t b[8];
	assert_int_equal(uvfio_pci_cfg_access(pdev, 0xfff, b, 1, false), 1);
	assert_int_equal(b[0], 0);
	assert_int_equal(uvfio_pci_cfg_access(pdev, 0xfff, b, 2, false), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_access(pdev, 0x1000, b, 1, false), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_access(pdev, 0xffffffff, b, 4, true), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_access(pdev, 0, b, 0, false), -EINVAL);
	assert_int_equal(uvfio_pci_cfg_access(pdev, 0, NULL, 1, false), -EINVAL);
	/* raw device-side accessors out of range read 0 and ignore writes */
	assert_int_equal(uvfio_pci_cfg_read32(pdev, 0x1000), 0);
	assert_int_equal(uvfio_pci_cfg_read16(pdev, 0xfff), 0);
	uvfio_pci_cfg_write32(pdev, 0xffe, 0xffffffff);
	assert_int_equal(uvfio_pci_cfg_read16(pdev, 0xffe), 0xffff);
	assert_int_equal(uvfio_pci_cfg_read8(pdev, 0xfff), 0xff);
}

static void test_config_region(void **state)
{
	struct uvfio_pci_device *pdev = *state;
	struct uvfio_device *dev = uvfio_pci_to_device(pdev);
	assert_ptr_equal(uvfio_pci_from_device(dev), pdev);
	assert_int_equal(uvfio_device_flags(dev), UVFIO_DEVICE_FLAGS_RESET | UVFIO_DEVICE_FLAGS_PCI);
	assert_int_equal(uvfio_device_num_regions(dev), UVFIO_PCI_NUM_REGIONS);
	assert_int_equal(uvfio_device_num_irqs(dev), UVFIO_PCI_NUM_IRQS);
	const struct uvfio_region *r = uvfio_device_get_region(dev, UVFIO_PCI_CONFIG_REGION);
	assert_int_equal(r->size, UVFIO_PCI_CFG_SIZE);
	assert_int_equal(r->flags, UVFIO_REGION_READ | UVFIO_REGION_WRITE);
	uint16_t cmd = PCI_COMMAND_MASTER | 0x8; /* SPECIAL is read-only 0 */
	assert_int_equal(uvfio_device_region_rw(dev, UVFIO_PCI_CONFIG_REGION, PCI_COMMAND, &cmd, 2,
						true),
			 2);
	assert_true(uvfio_pci_bus_master(pdev));
	assert_false(uvfio_pci_mem_enabled(pdev));
	assert_false(uvfio_pci_io_enabled(pdev));
	assert_int_equal(rd(pdev, PCI_COMMAND, 2), PCI_COMMAND_MASTER);
	assert_int_equal(uvfio_device_region_rw(dev, UVFIO_PCI_CONFIG_REGION, 4095, &cmd, 2, false),
			 -EINVAL);
	/* the DMA gate follows bus mastering */
	const struct uvfio_device_ops *ops = uvfio_device_get_ops(dev);
	assert_non_null(ops->dma_allowed);
	assert_true(ops->dma_allowed(dev));
	wr(pdev, PCI_COMMAND, 2, 0);
	assert_false(ops->dma_allowed(dev));
	/* a plain device is not a PCI device */
	struct uvfio_device *plain = uvfio_device_new(NULL, 0, 1, 1);
	assert_non_null(plain);
	assert_null(uvfio_pci_from_device(plain));
	uvfio_device_free(plain);
	/* identity, drvdata */
	assert_int_equal(uvfio_pci_ident(pdev)->device, 0x11e8);
	int x;
	uvfio_pci_set_drvdata(pdev, &x);
	assert_ptr_equal(uvfio_pci_drvdata(pdev), &x);
	struct uvfio_pci_ident bad = ident;
	bad.class_code = 0x1000000;
	assert_null(uvfio_pci_device_new(&bad));
	assert_null(uvfio_pci_device_new(NULL));
}

static void test_intx_pin(void **state)
{
	struct uvfio_pci_device *pdev = *state;
	struct uvfio_device *dev = uvfio_pci_to_device(pdev);
	uint32_t count, flags;
	assert_int_equal(uvfio_device_get_irq_info(dev, UVFIO_PCI_INTX_IRQ, &count, &flags), 0);
	assert_int_equal(count, 0);
	assert_int_equal(rd(pdev, PCI_INTERRUPT_PIN, 1), 0);
	assert_int_equal(uvfio_pci_set_intx_pin(pdev, 5), -EINVAL);
	assert_int_equal(uvfio_pci_set_intx_pin(pdev, 1), 0);
	assert_int_equal(rd(pdev, PCI_INTERRUPT_PIN, 1), 1);
	assert_int_equal(uvfio_device_get_irq_info(dev, UVFIO_PCI_INTX_IRQ, &count, &flags), 0);
	assert_int_equal(count, 1);
	assert_int_equal(flags, UVFIO_IRQ_INFO_EVENTFD | UVFIO_IRQ_INFO_MASKABLE |
					UVFIO_IRQ_INFO_AUTOMASKED);
	assert_int_equal(uvfio_device_get_irq_info(dev, UVFIO_PCI_ERR_IRQ, &count, &flags), 0);
	assert_int_equal(count, 1);
	assert_int_equal(flags, UVFIO_IRQ_INFO_EVENTFD);
	assert_int_equal(uvfio_device_get_irq_info(dev, UVFIO_PCI_REQ_IRQ, &count, &flags), 0);
	assert_int_equal(count, 1);
	assert_int_equal(uvfio_device_get_irq_info(dev, UVFIO_PCI_MSI_IRQ, &count, &flags), 0);
	assert_int_equal(count, 0);
}

static void test_reset_power_on(void **state)
{
	struct uvfio_pci_device *pdev = *state;
	uvfio_pci_set_ops(pdev, &drv_ops);
	assert_int_equal(uvfio_pci_set_intx_pin(pdev, 1), 0);
	uvfio_pci_finalize(pdev);
	uint8_t before[UVFIO_PCI_CFG_SIZE], after[UVFIO_PCI_CFG_SIZE];
	assert_int_equal(uvfio_pci_cfg_access(pdev, 0, before, sizeof(before), false),
			 UVFIO_PCI_CFG_SIZE);
	wr(pdev, PCI_COMMAND, 2, 0xffff);
	wr(pdev, PCI_CACHE_LINE_SIZE, 2, 0xffff);
	wr(pdev, PCI_INTERRUPT_LINE, 1, 0x0b);
	uvfio_pci_set_intx(pdev, true);
	uvfio_pci_cfg_write16(pdev, PCI_STATUS, PCI_STATUS_SIG_SYSTEM_ERROR);
	uvfio_pci_reset(pdev);
	assert_int_equal(resets, 1);
	assert_int_equal(uvfio_pci_cfg_access(pdev, 0, after, sizeof(after), false),
			 UVFIO_PCI_CFG_SIZE);
	assert_memory_equal(before, after, UVFIO_PCI_CFG_SIZE);
	/* DEVICE_RESET from a transport reaches the same reset */
	wr(pdev, PCI_COMMAND, 2, PCI_COMMAND_MEMORY);
	assert_int_equal(uvfio_device_reset(uvfio_pci_to_device(pdev)), 0);
	assert_int_equal(resets, 2);
	assert_int_equal(rd(pdev, PCI_COMMAND, 2), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_header_masks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rest_read_only_zero, setup, teardown),
		cmocka_unit_test_setup_teardown(test_w1c, setup, teardown),
		cmocka_unit_test_setup_teardown(test_driver_masks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_access_sizes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_config_region, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_pin, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset_power_on, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
