/* SPDX-License-Identifier: MIT */
/* Capability chain: layout, field write masks, PM, PCIe FLR, DSN, bad arguments. */
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
	.vendor = 0x1234, .device = 0x5678, .class_code = 0xff0000, .revision = 1,
};

static int resets;

static void drv_reset(struct uvfio_pci_device *pdev)
{
	resets++;
}

static const struct uvfio_pci_ops drv_ops = { .reset = drv_reset };

struct caps {
	struct uvfio_pci_device *pdev;
	int pm, msi, msix, exp, vndr, dsn;
};

static const uint8_t vbody[5] = { 0xde, 0xad, 0xbe, 0xef, 0x42 };

static int setup(void **state)
{
	static struct caps c;
	memset(&c, 0, sizeof(c));
	c.pdev = uvfio_pci_device_new(&ident);
	assert_non_null(c.pdev);
	uvfio_pci_set_ops(c.pdev, &drv_ops);
	assert_int_equal(uvfio_pci_setup_bar(c.pdev, 0, 0x4000, UVFIO_PCI_BAR_MEM32, NULL), 0);
	c.pm = uvfio_pci_add_cap_pm(c.pdev);
	c.msi = uvfio_pci_add_cap_msi(c.pdev, 4, true, true);
	c.msix = uvfio_pci_add_cap_msix(c.pdev, 16, 0, 0x2000, 0, 0x3000);
	c.exp = uvfio_pci_add_cap_exp(c.pdev, true);
	c.vndr = uvfio_pci_add_cap_vendor(c.pdev, vbody, sizeof(vbody));
	c.dsn = uvfio_pci_add_ext_cap_dsn(c.pdev, 0x0123456789abcdefull);
	resets = 0;
	*state = &c;
	return 0;
}

static int teardown(void **state)
{
	struct caps *c = *state;
	uvfio_pci_device_free(c->pdev);
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

static void test_chain(void **state)
{
	struct caps *c = *state;
	struct uvfio_pci_device *p = c->pdev;
	const struct {
		int off;
		uint8_t id;
		uint32_t len;
	} want[] = {
		{ c->pm, PCI_CAP_ID_PM, 8 },	  { c->msi, PCI_CAP_ID_MSI, 0x18 },
		{ c->msix, PCI_CAP_ID_MSIX, 12 }, { c->exp, PCI_CAP_ID_EXP, 0x3c },
		{ c->vndr, PCI_CAP_ID_VNDR, 8 },
	};
	assert_true(rd(p, PCI_STATUS, 2) & PCI_STATUS_CAP_LIST);
	assert_int_equal(c->pm, 0x40);
	uint32_t off = rd(p, PCI_CAPABILITY_LIST, 1);
	for (size_t i = 0; i < 5; i++) {
		assert_true(want[i].off >= 0x40);
		assert_int_equal(off, (uint32_t)want[i].off);
		assert_int_equal(off & 3, 0);
		assert_int_equal(rd(p, off, 1), want[i].id);
		assert_int_equal(uvfio_pci_find_cap(p, want[i].id), off);
		uint32_t next = rd(p, off + 1, 1);
		if (i + 1 < 5)
			assert_true(next >= off + want[i].len); /* no overlap */
		else
			assert_int_equal(next, 0);
		off = next;
	}
	assert_int_equal(uvfio_pci_find_cap(p, 0x12), 0);
	/* vendor cap: length byte covers the header and body */
	assert_int_equal(rd(p, (uint32_t)c->vndr + 2, 1), 3 + sizeof(vbody));
	for (size_t i = 0; i < sizeof(vbody); i++)
		assert_int_equal(rd(p, (uint32_t)c->vndr + 3 + (uint32_t)i, 1), vbody[i]);
	/* DSN at 0x100, the end of the extended chain */
	assert_int_equal(c->dsn, 0x100);
	assert_int_equal(rd(p, 0x100, 4), PCI_EXT_CAP_ID_DSN | 1u << 16);
	assert_int_equal(rd(p, 0x104, 4), 0x89abcdef);
	assert_int_equal(rd(p, 0x108, 4), 0x01234567);
	assert_int_equal(uvfio_pci_find_ext_cap(p, PCI_EXT_CAP_ID_DSN), 0x100);
	assert_int_equal(uvfio_pci_find_ext_cap(p, 1), 0);
	/* irq info follows the capabilities */
	uint32_t count, flags;
	struct uvfio_device *dev = uvfio_pci_to_device(p);
	assert_int_equal(uvfio_device_get_irq_info(dev, UVFIO_PCI_MSI_IRQ, &count, &flags), 0);
	assert_int_equal(count, 4);
	assert_int_equal(flags, UVFIO_IRQ_INFO_EVENTFD | UVFIO_IRQ_INFO_MASKABLE |
					UVFIO_IRQ_INFO_NORESIZE);
	assert_int_equal(uvfio_device_get_irq_info(dev, UVFIO_PCI_MSIX_IRQ, &count, &flags), 0);
	assert_int_equal(count, 16);
	assert_int_equal(flags, UVFIO_IRQ_INFO_EVENTFD | UVFIO_IRQ_INFO_MASKABLE);
}

struct reg {
	const char *name;
	uint32_t off, size, rw, w1c;
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

static void test_field_masks(void **state)
{
	struct caps *c = *state;
	uint32_t pm = (uint32_t)c->pm, msi = (uint32_t)c->msi, msix = (uint32_t)c->msix;
	uint32_t exp = (uint32_t)c->exp, v = (uint32_t)c->vndr;
	const uint32_t devctl_rw = 0x7fff & ~(PCI_EXP_DEVCTL_PHANTOM | PCI_EXP_DEVCTL_AUX_PME);
	const struct reg regs[] = {
		{ "pm id/next", pm, 2, 0, 0 },
		{ "pm pmc", pm + PCI_PM_PMC, 2, 0, 0 },
		{ "pm pmcsr", pm + PCI_PM_CTRL, 2, PCI_PM_CTRL_STATE_MASK, 0 },
		{ "pm bridge/data", pm + 6, 2, 0, 0 },
		{ "msi id/next", msi, 2, 0, 0 },
		{ "msi addr lo", msi + PCI_MSI_ADDRESS_LO, 4, 0xfffffffc, 0 },
		{ "msi addr hi", msi + PCI_MSI_ADDRESS_HI, 4, 0xffffffff, 0 },
		{ "msi data", msi + PCI_MSI_DATA_64, 2, 0xffff, 0 },
		{ "msi reserved", msi + PCI_MSI_DATA_64 + 2, 2, 0, 0 },
		{ "msi mask", msi + PCI_MSI_MASK_64, 4, 0xf, 0 },
		{ "msi pending", msi + PCI_MSI_PENDING_64, 4, 0, 0 },
		{ "msix id/next", msix, 2, 0, 0 },
		{ "msix table", msix + PCI_MSIX_TABLE, 4, 0, 0 },
		{ "msix pba", msix + PCI_MSIX_PBA, 4, 0, 0 },
		{ "exp id/next", exp, 2, 0, 0 },
		{ "exp flags", exp + PCI_EXP_FLAGS, 2, 0, 0 },
		{ "exp devcap", exp + PCI_EXP_DEVCAP, 4, 0, 0 },
		{ "exp devctl", exp + PCI_EXP_DEVCTL, 2, devctl_rw, 0 },
		{ "exp devsta", exp + PCI_EXP_DEVSTA, 2, 0, 0xf },
		{ "exp lnkcap", exp + PCI_EXP_LNKCAP, 4, 0, 0 },
		{ "exp lnkctl", exp + PCI_EXP_LNKCTL, 2, 0xcb, 0 },
		{ "exp lnksta", exp + PCI_EXP_LNKSTA, 2, 0, 0 },
		{ "exp devcap2", exp + PCI_EXP_DEVCAP2, 4, 0, 0 },
		{ "exp devctl2", exp + PCI_EXP_DEVCTL2, 2, 0, 0 },
		{ "exp lnkcap2", exp + PCI_EXP_LNKCAP2, 4, 0, 0 },
		{ "exp lnkctl2", exp + PCI_EXP_LNKCTL2, 2, 0, 0 },
		{ "vendor hdr", v, 4, 0, 0 },
		{ "vendor body", v + 4, 4, 0, 0 },
		{ "dsn hdr", 0x100, 4, 0, 0 },
		{ "dsn lo", 0x104, 4, 0, 0 },
		{ "dsn hi", 0x108, 4, 0, 0 },
	};
	for (size_t i = 0; i < sizeof(regs) / sizeof(regs[0]); i++)
		check_reg(c->pdev, &regs[i]);
	/* MSI control: enable and MME are rw, MME is clamped to the capable count */
	uint16_t base = rd(c->pdev, msi + PCI_MSI_FLAGS, 2);
	assert_int_equal(base, 2 << 1 | PCI_MSI_FLAGS_64BIT | PCI_MSI_FLAGS_MASKBIT);
	wr(c->pdev, msi + PCI_MSI_FLAGS, 2, 0xffff);
	assert_int_equal(rd(c->pdev, msi + PCI_MSI_FLAGS, 2), base | PCI_MSI_FLAGS_ENABLE | 2 << 4);
	wr(c->pdev, msi + PCI_MSI_FLAGS, 2, 1 << 4);
	assert_int_equal(rd(c->pdev, msi + PCI_MSI_FLAGS, 2), base | 1 << 4);
	wr(c->pdev, msi + PCI_MSI_FLAGS, 2, 0);
	assert_int_equal(rd(c->pdev, msi + PCI_MSI_FLAGS, 2), base);
	/* MSI-X control: enable and function mask rw, table size RO */
	wr(c->pdev, msix + PCI_MSIX_FLAGS, 2, 0xffff);
	assert_int_equal(rd(c->pdev, msix + PCI_MSIX_FLAGS, 2), 0xc000 | 15);
	wr(c->pdev, msix + PCI_MSIX_FLAGS, 2, 0);
	assert_int_equal(rd(c->pdev, msix + PCI_MSIX_FLAGS, 2), 15);
	assert_int_equal(rd(c->pdev, msix + PCI_MSIX_TABLE, 4), 0x2000);
	assert_int_equal(rd(c->pdev, msix + PCI_MSIX_PBA, 4), 0x3000);
	/* PCIe identity: v2 endpoint with FLR, x1 2.5 GT/s link */
	assert_int_equal(rd(c->pdev, exp + PCI_EXP_FLAGS, 2), 2);
	assert_true(rd(c->pdev, exp + PCI_EXP_DEVCAP, 4) & PCI_EXP_DEVCAP_FLR);
	assert_int_equal(rd(c->pdev, exp + PCI_EXP_LNKSTA, 2) & 0x3ff,
			 PCI_EXP_LNKSTA_CLS_2_5GB | PCI_EXP_LNKSTA_NLW_X1);
	assert_int_equal(rd(c->pdev, exp + PCI_EXP_LNKCAP, 4) & 0x3ff, 0x11);
}

static void test_pm_states(void **state)
{
	struct caps *c = *state;
	uint32_t reg = (uint32_t)c->pm + PCI_PM_CTRL;
	assert_int_equal(rd(c->pdev, (uint32_t)c->pm + PCI_PM_PMC, 2) & PCI_PM_CAP_VER_MASK, 3);
	assert_int_equal(rd(c->pdev, reg, 2), PCI_PM_CTRL_NO_SOFT_RESET);
	wr(c->pdev, reg, 2, 3); /* D3hot */
	assert_int_equal(rd(c->pdev, reg, 2) & 3, 3);
	wr(c->pdev, reg, 2, 1); /* D1 is not supported: state unchanged */
	assert_int_equal(rd(c->pdev, reg, 2) & 3, 3);
	wr(c->pdev, reg, 2, 2);
	assert_int_equal(rd(c->pdev, reg, 2) & 3, 3);
	wr(c->pdev, reg, 2, 0); /* D3hot -> D0: no soft reset */
	assert_int_equal(rd(c->pdev, reg, 2), PCI_PM_CTRL_NO_SOFT_RESET);
	assert_int_equal(resets, 0);
}

static void test_flr(void **state)
{
	struct caps *c = *state;
	uint32_t devctl = (uint32_t)c->exp + PCI_EXP_DEVCTL;
	uvfio_pci_finalize(c->pdev);
	uint16_t devctl0 = rd(c->pdev, devctl, 2);
	wr(c->pdev, PCI_COMMAND, 2, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	wr(c->pdev, PCI_INTERRUPT_LINE, 1, 9);
	wr(c->pdev, devctl, 2, PCI_EXP_DEVCTL_CERE);
	assert_int_equal(resets, 0);
	wr(c->pdev, devctl, 2, PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_BCR_FLR);
	assert_int_equal(resets, 1);
	/* everything back to power-on, and "initiate FLR" reads 0 */
	assert_int_equal(rd(c->pdev, devctl, 2), devctl0);
	assert_int_equal(rd(c->pdev, devctl, 2) & PCI_EXP_DEVCTL_BCR_FLR, 0);
	assert_int_equal(rd(c->pdev, PCI_COMMAND, 2), 0);
	assert_int_equal(rd(c->pdev, PCI_INTERRUPT_LINE, 1), 0);
}

static void test_no_flr(void **state)
{
	struct uvfio_pci_device *p = uvfio_pci_device_new(&ident);
	assert_non_null(p);
	uvfio_pci_set_ops(p, &drv_ops);
	resets = 0;
	int exp = uvfio_pci_add_cap_exp(p, false);
	assert_int_equal(exp, 0x40);
	uvfio_pci_finalize(p);
	assert_int_equal(rd(p, (uint32_t)exp + PCI_EXP_DEVCAP, 4) & PCI_EXP_DEVCAP_FLR, 0);
	wr(p, (uint32_t)exp + PCI_EXP_DEVCTL, 2, PCI_EXP_DEVCTL_BCR_FLR);
	assert_int_equal(resets, 0);
	assert_int_equal(rd(p, (uint32_t)exp + PCI_EXP_DEVCTL, 2) & PCI_EXP_DEVCTL_BCR_FLR, 0);
	assert_int_equal(uvfio_pci_add_cap_exp(p, true), -EEXIST);
	uvfio_pci_device_free(p);
}

static void test_bad_args(void **state)
{
	struct caps *c = *state;
	struct uvfio_pci_device *p = c->pdev;
	assert_int_equal(uvfio_pci_add_cap_msi(p, 2, false, false), -EEXIST);
	assert_int_equal(uvfio_pci_add_cap_pm(p), -EEXIST);
	assert_int_equal(uvfio_pci_add_cap_msix(p, 1, 0, 0x1000, 0, 0x1800), -EEXIST);
	assert_int_equal(uvfio_pci_add_ext_cap_dsn(p, 1), -EEXIST);
	assert_int_equal(uvfio_pci_add_cap_vendor(p, NULL, 4), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_vendor(p, vbody, 253), -EINVAL);

	struct uvfio_pci_device *q = uvfio_pci_device_new(&ident);
	assert_non_null(q);
	assert_int_equal(uvfio_pci_add_cap_msi(q, 0, false, false), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msi(q, 3, false, false), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msi(q, 64, false, false), -EINVAL);
	assert_int_equal(uvfio_pci_setup_bar(q, 1, 0x1000, UVFIO_PCI_BAR_MEM32, NULL), 0);
	assert_int_equal(uvfio_pci_setup_bar(q, 2, 0x100, UVFIO_PCI_BAR_IO, NULL), 0);
	assert_int_equal(uvfio_pci_add_cap_msix(q, 0, 1, 0, 1, 0x800), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msix(q, 2049, 1, 0, 1, 0x800), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msix(q, 4, 0, 0, 1, 0x800), -EINVAL); /* no BAR0 */
	assert_int_equal(uvfio_pci_add_cap_msix(q, 4, 2, 0, 1, 0x800), -EINVAL); /* I/O BAR */
	assert_int_equal(uvfio_pci_add_cap_msix(q, 4, 6, 0, 1, 0x800), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msix(q, 4, -1, 0, 1, 0x800), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msix(q, 4, 1, 4, 1, 0x800), -EINVAL); /* unaligned */
	assert_int_equal(uvfio_pci_add_cap_msix(q, 4, 1, 0xff8, 1, 0x800), -EINVAL); /* past end */
	assert_int_equal(uvfio_pci_add_cap_msix(q, 4, 1, 0, 1, 0x1000), -EINVAL);
	assert_int_equal(uvfio_pci_add_cap_msix(q, 4, 1, 0, 1, 0x38), -EINVAL); /* overlap */
	assert_int_equal(uvfio_pci_find_cap(q, PCI_CAP_ID_MSIX), 0);
	assert_int_equal(uvfio_pci_add_cap_msix(q, 4, 1, 0, 1, 0x40), 0x40);
	/* fill standard space: -ENOSPC, and the chain stays intact */
	uint8_t body[100] = { 0 };
	int last = 0, ret;
	while ((ret = uvfio_pci_add_cap_vendor(q, body, sizeof(body))) > 0)
		last = ret;
	assert_int_equal(ret, -ENOSPC);
	assert_true(last > 0 && last + 103 <= 0x100);
	uint32_t off = rd(q, PCI_CAPABILITY_LIST, 1), n = 0;
	while (off) {
		n++;
		off = rd(q, off + 1, 1);
		assert_true(n < 48);
	}
	assert_int_equal(n, 2);
	/* a small capability still fits in what is left */
	assert_true(uvfio_pci_add_cap_vendor(q, body, 1) > last);
	uvfio_pci_device_free(q);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_field_masks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pm_states, setup, teardown),
		cmocka_unit_test_setup_teardown(test_flr, setup, teardown),
		cmocka_unit_test(test_no_flr),
		cmocka_unit_test_setup_teardown(test_bad_args, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
