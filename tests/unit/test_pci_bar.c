/* SPDX-License-Identifier: MIT */
/* BARs and ROM: sizing, decode gating, dispatch to the driver, mmap areas. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <uvfio/pci.h>

static const struct uvfio_pci_ident ident = { .vendor = 0x1234, .device = 0x1 };

static struct {
	int bar, calls;
	uint64_t off;
	size_t count;
	bool write;
	uint8_t mem[0x4000];
} drv;

static ssize_t bar_rw(struct uvfio_pci_device *pdev, int bar, uint64_t offset, void *buf,
		      size_t count, bool is_write)
{
	drv.bar = bar;
	drv.off = offset;
	drv.count = count;
	drv.write = is_write;
	drv.calls++;
	if (offset + count > sizeof(drv.mem))
		return -EIO;
	if (is_write)
		memcpy(drv.mem + offset, buf, count);
	else
		memcpy(buf, drv.mem + offset, count);
	return (ssize_t)count;
}

static ssize_t short_rw(struct uvfio_pci_device *pdev, int bar, uint64_t offset, void *buf,
			size_t count, bool is_write)
{
	return (ssize_t)count - 1;
}

static int setup(void **state)
{
	memset(&drv, 0, sizeof(drv));
	struct uvfio_pci_device *pdev = uvfio_pci_device_new(&ident);
	assert_non_null(pdev);
	*state = pdev;
	return 0;
}

static int teardown(void **state)
{
	uvfio_pci_device_free(*state);
	return 0;
}

static uint32_t rd32(struct uvfio_pci_device *pdev, uint32_t off)
{
	uint32_t v = 0;
	assert_int_equal(uvfio_pci_cfg_access(pdev, off, &v, 4, false), 4);
	return v;
}

static void wr32(struct uvfio_pci_device *pdev, uint32_t off, uint32_t v)
{
	assert_int_equal(uvfio_pci_cfg_access(pdev, off, &v, 4, true), 4);
}

static void wr16(struct uvfio_pci_device *pdev, uint32_t off, uint16_t v)
{
	assert_int_equal(uvfio_pci_cfg_access(pdev, off, &v, 2, true), 2);
}

/* Writes all ones and reads back what a BIOS would use to size the BAR. */
static uint32_t size_probe(struct uvfio_pci_device *pdev, uint32_t reg)
{
	wr32(pdev, reg, 0xffffffff);
	uint32_t v = rd32(pdev, reg);
	wr32(pdev, reg, 0);
	return v;
}

static void test_sizing(void **state)
{
	struct uvfio_pci_device *p = *state;
	assert_int_equal(uvfio_pci_setup_bar(p, 0, 0x1000, UVFIO_PCI_BAR_MEM32, bar_rw), 0);
	assert_int_equal(uvfio_pci_setup_bar(p, 1, 0x100000,
					     UVFIO_PCI_BAR_MEM32 | UVFIO_PCI_BAR_PREFETCH, bar_rw),
			 0);
	assert_int_equal(uvfio_pci_setup_bar(p, 2, 0x200000000ull,
					     UVFIO_PCI_BAR_MEM64 | UVFIO_PCI_BAR_PREFETCH, bar_rw),
			 0);
	assert_int_equal(uvfio_pci_setup_bar(p, 4, 0x20, UVFIO_PCI_BAR_IO, bar_rw), 0);
	assert_int_equal(uvfio_pci_setup_bar(p, 5, 16, UVFIO_PCI_BAR_MEM32, NULL), 0);

	assert_int_equal(rd32(p, PCI_BASE_ADDRESS_0), 0);
	assert_int_equal(size_probe(p, PCI_BASE_ADDRESS_0), 0xfffff000);
	assert_int_equal(size_probe(p, PCI_BASE_ADDRESS_1), 0xfff00008);
	assert_int_equal(rd32(p, PCI_BASE_ADDRESS_2), 0xc);
	assert_int_equal(size_probe(p, PCI_BASE_ADDRESS_2), 0x0000000c);
	assert_int_equal(size_probe(p, PCI_BASE_ADDRESS_3), 0xfffffffe);
	assert_int_equal(size_probe(p, PCI_BASE_ADDRESS_4), 0xffffffe1);
	assert_int_equal(size_probe(p, PCI_BASE_ADDRESS_5), 0xfffffff0);
	/* an address sticks in the address bits only */
	wr32(p, PCI_BASE_ADDRESS_0, 0xfebf1234);
	assert_int_equal(rd32(p, PCI_BASE_ADDRESS_0), 0xfebf1000);
	wr32(p, PCI_BASE_ADDRESS_3, 0x12345678);
	assert_int_equal(rd32(p, PCI_BASE_ADDRESS_3), 0x12345678 & 0xfffffffe);

	/* regions: sizes, and nothing for the upper half of the 64-bit BAR */
	struct uvfio_device *dev = uvfio_pci_to_device(p);
	assert_int_equal(uvfio_device_get_region(dev, 0)->size, 0x1000);
	assert_int_equal(uvfio_device_get_region(dev, 2)->size, 0x200000000ull);
	assert_int_equal(uvfio_device_get_region(dev, 3)->size, 0);
	assert_int_equal(uvfio_device_get_region(dev, 4)->size, 0x20);
	assert_int_equal(uvfio_device_get_region(dev, 0)->flags,
			 UVFIO_REGION_READ | UVFIO_REGION_WRITE);
	uint32_t v;
	assert_int_equal(uvfio_device_region_rw(dev, 3, 0, &v, 4, false), -EINVAL);
}

static void test_sizing_small_mem64(void **state)
{
	struct uvfio_pci_device *p = *state;
	assert_int_equal(uvfio_pci_setup_bar(p, 0, 0x4000, UVFIO_PCI_BAR_MEM64, bar_rw), 0);
	assert_int_equal(size_probe(p, PCI_BASE_ADDRESS_0), 0xffffc004);
	assert_int_equal(size_probe(p, PCI_BASE_ADDRESS_1), 0xffffffff);
}

static void test_rom(void **state)
{
	struct uvfio_pci_device *p = *state;
	uint8_t image[3000];
	for (size_t i = 0; i < sizeof(image); i++)
		image[i] = (uint8_t)(i * 7);
	image[0] = 0x55;
	image[1] = 0xaa;
	assert_int_equal(uvfio_pci_setup_rom(p, image, sizeof(image)), 0);
	assert_int_equal(uvfio_pci_setup_rom(p, image, sizeof(image)), -EBUSY);
	assert_int_equal(size_probe(p, PCI_ROM_ADDRESS), 0xfffff001);
	wr32(p, PCI_ROM_ADDRESS, 0xfeb00001);
	assert_int_equal(rd32(p, PCI_ROM_ADDRESS), 0xfeb00001);
	wr32(p, PCI_ROM_ADDRESS, 0);

	struct uvfio_device *dev = uvfio_pci_to_device(p);
	const struct uvfio_region *r = uvfio_device_get_region(dev, UVFIO_PCI_ROM_REGION);
	assert_int_equal(r->size, 4096);
	assert_int_equal(r->flags, UVFIO_REGION_READ);
	uint8_t buf[4096];
	/* memory decode off: -EIO (the ROM enable bit itself is ignored for region reads) */
	assert_int_equal(uvfio_device_region_rw(dev, UVFIO_PCI_ROM_REGION, 0, buf, 2, false), -EIO);
	wr16(p, PCI_COMMAND, PCI_COMMAND_MEMORY);
	assert_int_equal(uvfio_device_region_rw(dev, UVFIO_PCI_ROM_REGION, 0, buf, 4096, false),
			 4096);
	assert_memory_equal(buf, image, sizeof(image));
	for (size_t i = sizeof(image); i < 4096; i++)
		assert_int_equal(buf[i], 0xff);
	assert_int_equal(uvfio_device_region_rw(dev, UVFIO_PCI_ROM_REGION, 0, buf, 1, true),
			 -EINVAL);
	assert_int_equal(uvfio_device_region_rw(dev, UVFIO_PCI_ROM_REGION, 4095, buf, 2, false),
			 -EINVAL);
	/* bad images */
	struct uvfio_pci_device *q = uvfio_pci_device_new(&ident);
	assert_int_equal(uvfio_pci_setup_rom(q, NULL, 10), -EINVAL);
	assert_int_equal(uvfio_pci_setup_rom(q, image, 0), -EINVAL);
	assert_int_equal(uvfio_pci_setup_rom(q, image, (16u << 20) + 1), -EINVAL);
	assert_int_equal(uvfio_pci_setup_rom(q, image, 1), 0);
	assert_int_equal(size_probe(q, PCI_ROM_ADDRESS), 0xfffff801); /* 2 KiB minimum */
	uvfio_pci_device_free(q);
}

static void test_decode_gating(void **state)
{
	struct uvfio_pci_device *p = *state;
	struct uvfio_device *dev = uvfio_pci_to_device(p);
	assert_int_equal(uvfio_pci_setup_bar(p, 0, 0x4000, UVFIO_PCI_BAR_MEM32, bar_rw), 0);
	assert_int_equal(uvfio_pci_setup_bar(p, 1, 0x10, UVFIO_PCI_BAR_IO, bar_rw), 0);
	assert_int_equal(uvfio_pci_setup_bar(p, 2, 0x10, UVFIO_PCI_BAR_MEM32, NULL), 0);
	uint32_t v = 0xabcd1234, out = 0;
	assert_int_equal(uvfio_device_region_rw(dev, 0, 0x10, &v, 4, true), -EIO);
	assert_int_equal(uvfio_device_region_rw(dev, 1, 0, &v, 4, true), -EIO);
	assert_int_equal(drv.calls, 0);
	wr16(p, PCI_COMMAND, PCI_COMMAND_MEMORY);
	assert_int_equal(uvfio_device_region_rw(dev, 0, 0x10, &v, 4, true), 4);
	assert_int_equal(drv.bar, 0);
	assert_int_equal(drv.off, 0x10);
	assert_int_equal(drv.count, 4);
	assert_true(drv.write);
	assert_int_equal(uvfio_device_region_rw(dev, 0, 0x10, &out, 4, false), 4);
	assert_int_equal(out, 0xabcd1234);
	/* I/O needs COMMAND.IO, not MEMORY */
	assert_int_equal(uvfio_device_region_rw(dev, 1, 0, &v, 4, true), -EIO);
	wr16(p, PCI_COMMAND, PCI_COMMAND_IO);
	assert_int_equal(uvfio_device_region_rw(dev, 1, 0, &v, 4, true), 4);
	assert_int_equal(drv.bar, 1);
	assert_int_equal(uvfio_device_region_rw(dev, 0, 0x10, &out, 4, false), -EIO);
	/* no handler: reads float high, writes vanish */
	wr16(p, PCI_COMMAND, PCI_COMMAND_MEMORY);
	int calls = drv.calls;
	assert_int_equal(uvfio_device_region_rw(dev, 2, 0, &out, 4, false), 4);
	assert_int_equal(out, 0xffffffff);
	assert_int_equal(uvfio_device_region_rw(dev, 2, 0, &v, 4, true), 4);
	assert_int_equal(drv.calls, calls);
	/* a driver error is passed through */
	uint8_t big[8];
	assert_int_equal(uvfio_pci_setup_bar(p, 3, 0x8000, UVFIO_PCI_BAR_MEM32, bar_rw), 0);
	assert_int_equal(uvfio_device_region_rw(dev, 3, 0x7ff8, big, 8, false), -EIO);
	/* a driver that handles fewer bytes than asked fails the access */
	assert_int_equal(uvfio_pci_setup_bar(p, 4, 0x10, UVFIO_PCI_BAR_MEM32, short_rw), 0);
	assert_int_equal(uvfio_device_region_rw(dev, 4, 0, big, 4, false), -EIO);
}

static void test_bad_setup(void **state)
{
	struct uvfio_pci_device *p = *state;
	assert_int_equal(uvfio_pci_setup_bar(p, -1, 0x1000, UVFIO_PCI_BAR_MEM32, NULL), -EINVAL);
	assert_int_equal(uvfio_pci_setup_bar(p, 6, 0x1000, UVFIO_PCI_BAR_MEM32, NULL), -EINVAL);
	assert_int_equal(uvfio_pci_setup_bar(p, 0, 0x1800, UVFIO_PCI_BAR_MEM32, NULL), -EINVAL);
	assert_int_equal(uvfio_pci_setup_bar(p, 0, 0, UVFIO_PCI_BAR_MEM32, NULL), -EINVAL);
	assert_int_equal(uvfio_pci_setup_bar(p, 0, 8, UVFIO_PCI_BAR_MEM32, NULL), -EINVAL);
	assert_int_equal(uvfio_pci_setup_bar(p, 0, 1ull << 32, UVFIO_PCI_BAR_MEM32, NULL), -EINVAL);
	assert_int_equal(uvfio_pci_setup_bar(p, 0, 2, UVFIO_PCI_BAR_IO, NULL), -EINVAL);
	assert_int_equal(uvfio_pci_setup_bar(p, 0, 512, UVFIO_PCI_BAR_IO, NULL), -EINVAL);
	assert_int_equal(uvfio_pci_setup_bar(p, 0, 16, UVFIO_PCI_BAR_IO | UVFIO_PCI_BAR_PREFETCH,
					     NULL),
			 -EINVAL);
	assert_int_equal(uvfio_pci_setup_bar(p, 0, 16, 3, NULL), -EINVAL);
	assert_int_equal(uvfio_pci_setup_bar(p, 0, 16, 0x100, NULL), -EINVAL);
	assert_int_equal(uvfio_pci_setup_bar(p, 5, 0x1000, UVFIO_PCI_BAR_MEM64, NULL), -EINVAL);
	assert_int_equal(uvfio_pci_setup_bar(p, 2, 0x1000, UVFIO_PCI_BAR_MEM64, NULL), 0);
	assert_int_equal(uvfio_pci_setup_bar(p, 3, 0x1000, UVFIO_PCI_BAR_MEM32, NULL), -EBUSY);
	assert_int_equal(uvfio_pci_setup_bar(p, 2, 0x1000, UVFIO_PCI_BAR_MEM32, NULL), -EBUSY);
	assert_int_equal(uvfio_pci_setup_bar(p, 1, 0x1000, UVFIO_PCI_BAR_MEM64, NULL), -EBUSY);
	/* nothing half-applied by the failures */
	assert_int_equal(size_probe(p, PCI_BASE_ADDRESS_0), 0);
	assert_int_equal(size_probe(p, PCI_BASE_ADDRESS_5), 0);
}

static void test_mmap(void **state)
{
	struct uvfio_pci_device *p = *state;
	struct uvfio_device *dev = uvfio_pci_to_device(p);
	int fd = memfd_create("bar", MFD_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(uvfio_pci_setup_bar(p, 0, 0x4000, UVFIO_PCI_BAR_MEM32, bar_rw), 0);
	assert_int_equal(uvfio_pci_setup_bar(p, 1, 0x4000, UVFIO_PCI_BAR_MEM32, bar_rw), 0);
	assert_int_equal(uvfio_pci_setup_bar(p, 2, 0x10, UVFIO_PCI_BAR_IO, bar_rw), 0);
	assert_int_equal(uvfio_pci_bar_set_mmap(p, 2, fd, 0, NULL, 0), -EINVAL);
	assert_int_equal(uvfio_pci_bar_set_mmap(p, 3, fd, 0, NULL, 0), -EINVAL);
	assert_int_equal(uvfio_pci_bar_set_mmap(p, 6, fd, 0, NULL, 0), -EINVAL);
	assert_int_equal(uvfio_pci_bar_set_mmap(p, 0, -1, 0, NULL, 0), -EINVAL);
	assert_int_equal(uvfio_pci_bar_set_mmap(p, 0, fd, 0, NULL, 1), -EINVAL);
	const struct uvfio_sparse_area out_of_bar[1] = { { 0x3000, 0x2000 } };
	assert_int_equal(uvfio_pci_bar_set_mmap(p, 0, fd, 0, out_of_bar, 1), -EINVAL);
	const struct uvfio_sparse_area unaligned[1] = { { 0x100, 0x1000 } };
	assert_int_equal(uvfio_pci_bar_set_mmap(p, 0, fd, 0, unaligned, 1), -EINVAL);
	const struct uvfio_sparse_area empty[1] = { { 0x1000, 0 } };
	assert_int_equal(uvfio_pci_bar_set_mmap(p, 0, fd, 0, empty, 1), -EINVAL);

	/* whole BAR */
	assert_int_equal(uvfio_pci_bar_set_mmap(p, 1, fd, 0x8000, NULL, 0), 0);
	const struct uvfio_region *r = uvfio_device_get_region(dev, 1);
	assert_true(r->flags & UVFIO_REGION_MMAP);
	assert_int_equal(r->mmap_fd, fd);
	assert_int_equal(r->mmap_offset, 0x8000);
	assert_null(r->sparse);

	/* MSI-X table and PBA pages are carved out of the mmap-able areas */
	assert_int_equal(uvfio_pci_bar_set_mmap(p, 0, fd, 0, NULL, 0), 0);
	assert_true(uvfio_pci_add_cap_msix(p, 16, 0, 0x1000, 0, 0x2000) > 0);
	r = uvfio_device_get_region(dev, 0);
	assert_true(r->flags & UVFIO_REGION_MMAP);
	assert_false(r->msix_mappable);
	assert_int_equal(r->nr_sparse, 2);
	assert_int_equal(r->sparse[0].offset, 0);
	assert_int_equal(r->sparse[0].size, 0x1000);
	assert_int_equal(r->sparse[1].offset, 0x3000);
	assert_int_equal(r->sparse[1].size, 0x1000);

	/* an access straddling the table start is split: driver part, then table */
	wr16(p, PCI_COMMAND, PCI_COMMAND_MEMORY);
	uint8_t buf[16];
	memset(drv.mem + 0xff8, 0x5a, 8);
	assert_int_equal(uvfio_device_region_rw(dev, 0, 0xff8, buf, 16, false), 16);
	assert_int_equal(drv.off, 0xff8);
	assert_int_equal(drv.count, 8);
	for (int i = 0; i < 8; i++)
		assert_int_equal(buf[i], 0x5a);
	/* entry 0: address/data 0, vector control masked at power-on */
	assert_int_equal(buf[8 + 4], 0);
	assert_int_equal(uvfio_device_region_rw(dev, 0, 0x100c, buf, 4, false), 4);
	assert_int_equal(buf[0], 1);
	close(fd);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sizing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sizing_small_mem64, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rom, setup, teardown),
		cmocka_unit_test_setup_teardown(test_decode_gating, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_setup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mmap, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
