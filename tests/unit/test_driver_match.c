/* SPDX-License-Identifier: MIT */
/* Driver registry, match-table precedence and uvfio_pci_create() with test drivers. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <uvfio/driver.h>

static const struct uvfio_pci_device_id *probed_id;
static int probe_calls;

/* Consumes "foo"; foo=99 makes probe fail. */
static int fake_probe(struct uvfio_pci_device *pdev, const struct uvfio_pci_device_id *id,
		      struct uvfio_options *opts)
{
	uint64_t foo = 0;
	probe_calls++;
	probed_id = id;
	int ret = uvfio_options_get_u64(opts, "foo", 0, &foo);
	if (ret < 0)
		return ret;
	return foo == 99 ? -EIO : 0;
}

#define DRV(n, tbl, ident)                                                                         \
	{ .name = (n), .id_table = (tbl), .default_ident = (ident), .probe = fake_probe,           \
	  .options_help = "foo=N  test option" }

/* vendor 0x1000: vendor-only (A), vendor+device (B), with subsystem (C). */
static const struct uvfio_pci_device_id a_ids[] = {
	{ UVFIO_PCI_DEVICE(0x1000, UVFIO_PCI_ANY_ID) },
	{ 0 },
};
static const struct uvfio_pci_device_id b_ids[] = {
	{ UVFIO_PCI_DEVICE(0x1000, 0x0001), .driver_data = 1 },
	{ UVFIO_PCI_DEVICE(0x1000, 0x0009), .driver_data = 9 },
	{ 0 },
};
static const struct uvfio_pci_device_id c_ids[] = {
	{ UVFIO_PCI_DEVICE_SUB(0x1000, 0x0001, 0x2000, 0x3000) },
	{ 0 },
};
/* Class matches: subclass-exact (D) and base-class-only (E). */
static const struct uvfio_pci_device_id d_ids[] = {
	{ UVFIO_PCI_DEVICE_CLASS(0x020000, 0xffff00) },
	{ 0 },
};
static const struct uvfio_pci_device_id e_ids[] = {
	{ UVFIO_PCI_DEVICE_CLASS(0x020000, 0xff0000) },
	{ 0 },
};
/* Tie: F and G have the same entry; F is registered first. */
static const struct uvfio_pci_device_id fg_ids[] = {
	{ UVFIO_PCI_DEVICE(0x6000, 0x0001) },
	{ 0 },
};
/* H binds 7000:1 only when named by driver_override. */
static const struct uvfio_pci_device_id h_ids[] = {
	{ UVFIO_PCI_DEVICE(0x7000, 0x0001), .override_only = 1 },
	{ 0 },
};
static const struct uvfio_pci_ident h_ident = { .vendor = 0x7000, .device = 0x0001 };
static const struct uvfio_pci_ident b_ident = {
	.vendor = 0x1000, .device = 0x0001, .subvendor = 0x1111, .subdevice = 0x2222,
	.class_code = 0x123456, .revision = 3,
};

static const struct uvfio_driver drv_a = DRV("A", a_ids, NULL);
static const struct uvfio_driver drv_b = DRV("B", b_ids, &b_ident);
static const struct uvfio_driver drv_c = DRV("C", c_ids, NULL);
static const struct uvfio_driver drv_d = DRV("D", d_ids, NULL);
static const struct uvfio_driver drv_e = DRV("E", e_ids, NULL);
static const struct uvfio_driver drv_f = DRV("F", fg_ids, NULL);
static const struct uvfio_driver drv_g = DRV("G", fg_ids, NULL);
static const struct uvfio_driver drv_h = DRV("H", h_ids, &h_ident);

static int setup(void **state)
{
	/* E before D so that D winning proves specificity, not order. */
	const struct uvfio_driver *all[] = { &drv_a, &drv_b, &drv_c, &drv_e,
					     &drv_d, &drv_f, &drv_g, &drv_h };
	for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
		if (uvfio_driver_register(all[i]) != 0)
			return -1;
	return 0;
}

static const char *match_name(uint16_t v, uint16_t d, uint16_t sv, uint16_t sd, uint32_t cls,
			      const char *override, const struct uvfio_pci_device_id **id,
			      int *err)
{
	const struct uvfio_pci_ident ident = {
		.vendor = v, .device = d, .subvendor = sv, .subdevice = sd, .class_code = cls
	};
	const struct uvfio_driver *drv = uvfio_driver_match(&ident, override, id, err);
	return drv ? drv->name : NULL;
}

static void test_registry(void **state)
{
	assert_int_equal(uvfio_driver_register(NULL), -EINVAL);
	const struct uvfio_driver noname = DRV(NULL, a_ids, NULL);
	assert_int_equal(uvfio_driver_register(&noname), -EINVAL);
	const struct uvfio_driver empty = DRV("", a_ids, NULL);
	assert_int_equal(uvfio_driver_register(&empty), -EINVAL);
	const struct uvfio_driver notable = DRV("x", NULL, NULL);
	assert_int_equal(uvfio_driver_register(&notable), -EINVAL);
	struct uvfio_driver noprobe = DRV("x", a_ids, NULL);
	noprobe.probe = NULL;
	assert_int_equal(uvfio_driver_register(&noprobe), -EINVAL);
	const struct uvfio_driver dup = DRV("B", a_ids, NULL);
	assert_int_equal(uvfio_driver_register(&dup), -EEXIST);
	assert_int_equal(uvfio_driver_register(&drv_a), -EEXIST);

	assert_ptr_equal(uvfio_driver_find("C"), &drv_c);
	assert_null(uvfio_driver_find("nope"));
	assert_null(uvfio_driver_find(NULL));
	assert_ptr_equal(uvfio_driver_at(0), &drv_a);
	assert_ptr_equal(uvfio_driver_at(7), &drv_h);
	assert_null(uvfio_driver_at(8));
}

static void test_specificity(void **state)
{
	const struct uvfio_pci_device_id *id = NULL;
	int err = 1;
	assert_string_equal(match_name(0x1000, 0x0001, 0, 0, 0, NULL, &id, &err), "B");
	assert_int_equal(err, 0);
	assert_ptr_equal(id, &b_ids[0]);
	assert_string_equal(match_name(0x1000, 0x0009, 0, 0, 0, NULL, &id, &err), "B");
	assert_int_equal(id->driver_data, 9);
	/* B does not know device 2: the vendor-only entry of A. */
	assert_string_equal(match_name(0x1000, 0x0002, 0, 0, 0, NULL, &id, &err), "A");
	assert_ptr_equal(id, &a_ids[0]);
	/* The subsystem makes C the most specific. */
	assert_string_equal(match_name(0x1000, 0x0001, 0x2000, 0x3000, 0, NULL, &id, &err), "C");
	assert_string_equal(match_name(0x1000, 0x0001, 0x2000, 0x3001, 0, NULL, &id, &err), "B");
	/* A vendor match beats any class match. */
	assert_string_equal(match_name(0x1000, 0x0005, 0, 0, 0x020000, NULL, &id, &err), "A");
}

static void test_class_matching(void **state)
{
	const struct uvfio_pci_device_id *id = NULL;
	int err = 1;
	/* Both class entries match; D's mask has more bits although E registered first. */
	assert_string_equal(match_name(0x5555, 1, 0, 0, 0x020000, NULL, &id, &err), "D");
	assert_ptr_equal(id, &d_ids[0]);
	/* prog-if is outside D's mask. */
	assert_string_equal(match_name(0x5555, 1, 0, 0, 0x020080, NULL, &id, &err), "D");
	/* Another subclass: only E's base-class entry. */
	assert_string_equal(match_name(0x5555, 1, 0, 0, 0x020100, NULL, &id, &err), "E");
	assert_null(match_name(0x5555, 1, 0, 0, 0x030000, NULL, &id, &err));
	assert_int_equal(err, -ENODEV);
}

static void test_tie_goes_to_first_registered(void **state)
{
	const struct uvfio_pci_device_id *id = NULL;
	int err = 1;
	assert_string_equal(match_name(0x6000, 1, 0, 0, 0, NULL, &id, &err), "F");
	/* The other one is reachable by override. */
	assert_string_equal(match_name(0x6000, 1, 0, 0, 0, "G", &id, &err), "G");
	assert_ptr_equal(id, &fg_ids[0]);
}

static void test_override_only(void **state)
{
	const struct uvfio_pci_device_id *id = NULL;
	int err = 1;
	assert_null(match_name(0x7000, 1, 0, 0, 0, NULL, &id, &err));
	assert_int_equal(err, -ENODEV);
	assert_string_equal(match_name(0x7000, 1, 0, 0, 0, "H", &id, &err), "H");
	assert_int_equal(err, 0);
	assert_ptr_equal(id, &h_ids[0]);
}

static void test_override(void **state)
{
	const struct uvfio_pci_device_id *id = NULL;
	int err = 1;
	/* Override beats a more specific driver (C would win on its own). */
	assert_string_equal(match_name(0x1000, 1, 0x2000, 0x3000, 0, "A", &id, &err), "A");
	assert_ptr_equal(id, &a_ids[0]);
	/* No entry of H matches: bound with the wildcard id. */
	id = NULL;
	assert_string_equal(match_name(0x9999, 0x8888, 0, 0, 0x010203, "H", &id, &err), "H");
	assert_int_equal(err, 0);
	assert_non_null(id);
	assert_int_equal(id->vendor, UVFIO_PCI_ANY_ID);
	assert_int_equal(id->device, UVFIO_PCI_ANY_ID);
	assert_int_equal(id->subvendor, UVFIO_PCI_ANY_ID);
	assert_int_equal(id->subdevice, UVFIO_PCI_ANY_ID);
	assert_int_equal(id->class_mask, 0);
	/* An unknown driver binds nothing. */
	id = NULL;
	assert_null(match_name(0x1000, 1, 0, 0, 0, "nosuch", &id, &err));
	assert_int_equal(err, -ENOENT);
	assert_null(id);
}

static void test_no_match(void **state)
{
	int err = 1;
	assert_null(match_name(0x4444, 1, 0, 0, 0, NULL, NULL, &err));
	assert_int_equal(err, -ENODEV);
	/* err and matched are optional; ident is not. */
	assert_null(match_name(0x4444, 1, 0, 0, 0, NULL, NULL, NULL));
	assert_null(uvfio_driver_match(NULL, NULL, NULL, &err));
	assert_int_equal(err, -EINVAL);
}

static struct uvfio_pci_device *create_ok(const char *decl)
{
	struct uvfio_pci_device *p = NULL;
	int ret = uvfio_pci_create(decl, &p);
	if (ret != 0)
		fail_msg("'%s' failed: %d", decl, ret);
	assert_non_null(p);
	return p;
}

static void test_create_preset(void **state)
{
	probe_calls = 0;
	struct uvfio_pci_device *p = create_ok("B,name=mydev,foo=1");
	assert_int_equal(probe_calls, 1);
	assert_ptr_equal(probed_id, &b_ids[0]);
	assert_string_equal(uvfio_device_name(uvfio_pci_to_device(p)), "mydev");
	const struct uvfio_pci_ident *id = uvfio_pci_ident(p);
	assert_int_equal(id->vendor, 0x1000);
	assert_int_equal(id->subdevice, 0x2222);
	assert_int_equal(uvfio_pci_cfg_read16(p, PCI_SUBSYSTEM_ID), 0x2222);
	assert_int_equal(uvfio_pci_cfg_read8(p, PCI_REVISION_ID), 3);
	/* Finalized: a reset restores what probe left. */
	uvfio_pci_cfg_write8(p, PCI_REVISION_ID, 0x77);
	uvfio_pci_reset(p);
	assert_int_equal(uvfio_pci_cfg_read8(p, PCI_REVISION_ID), 3);
	uvfio_pci_device_free(p);

	/* Unnamed devices get driver name + serial. */
	p = create_ok("B");
	assert_non_null(strstr(uvfio_device_name(uvfio_pci_to_device(p)), "B"));
	uvfio_pci_device_free(p);
}

static void test_create_identity_keys(void **state)
{
	/* Subsystem 2000:3000 makes C the best match... */
	struct uvfio_pci_device *p =
		create_ok("pci,vendor=0x1000,device=1,subvendor=0x2000,subdevice=0x3000");
	assert_ptr_equal(probed_id, &c_ids[0]);
	assert_int_equal(uvfio_pci_cfg_read16(p, PCI_SUBSYSTEM_VENDOR_ID), 0x2000);
	uvfio_pci_device_free(p);
	/* ...but a preset keeps its own driver while that driver's table matches. */
	p = create_ok("B,subvendor=0x2000,subdevice=0x3000");
	assert_ptr_equal(probed_id, &b_ids[0]);
	uvfio_pci_device_free(p);
	/* B's table does not know device 2: plain matching picks A. */
	p = create_ok("B,device=2");
	assert_ptr_equal(probed_id, &a_ids[0]);
	uvfio_pci_device_free(p);

	p = create_ok("pci,vendor=0x5555,device=1,class=0x020100,revision=9");
	assert_ptr_equal(probed_id, &e_ids[0]);
	assert_int_equal(uvfio_pci_cfg_read8(p, PCI_CLASS_REVISION), 9);
	assert_int_equal(uvfio_pci_cfg_read16(p, PCI_CLASS_DEVICE), 0x0201);
	uvfio_pci_device_free(p);

	/* A preset prefers its own driver even for override-only entries. */
	p = create_ok("H");
	assert_ptr_equal(probed_id, &h_ids[0]);
	uvfio_pci_device_free(p);

	/* driver_override with a foreign identity: wildcard id. */
	p = create_ok("pci,vendor=0x9999,device=1,driver_override=A");
	assert_int_equal(probed_id->vendor, UVFIO_PCI_ANY_ID);
	uvfio_pci_device_free(p);
}

static void test_create_errors(void **state)
{
	static const struct {
		const char *decl;
		int err;
	} cases[] = {
		{ "", -EINVAL },
		{ "vendor=1,device=2", -EINVAL }, /* no preset word */
		{ "pci", -EINVAL }, /* vendor/device required */
		{ "pci,vendor=0x1000", -EINVAL },
		{ "pci,device=1", -EINVAL },
		{ "nosuch", -ENOENT },
		{ "A", -ENOENT }, /* a driver, but no preset identity */
		{ "B,bogus=1", -EINVAL }, /* nobody consumes it */
		{ "B,foo=99", -EIO }, /* probe fails */
		{ "B,foo=x", -EINVAL },
		{ "B,vendor=0x10000", -EINVAL },
		{ "B,class=0x1000000", -EINVAL },
		{ "B,revision=256", -EINVAL },
		{ "B,vendor=abc", -EINVAL },
		{ "B,driver_override=nosuch", -ENOENT },
		{ "pci,vendor=0x4444,device=1", -ENODEV },
		{ "B,vendor=0x4444", -ENODEV },
		{ "B,name=a,name=b", -EINVAL },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct uvfio_pci_device *p = (void *)1;
		int ret = uvfio_pci_create(cases[i].decl, &p);
		if (ret != cases[i].err)
			fail_msg("'%s': %d, expected %d", cases[i].decl, ret, cases[i].err);
		assert_null(p);
	}
	assert_int_equal(uvfio_pci_create(NULL, NULL), -EINVAL);
	struct uvfio_pci_device *p = NULL;
	assert_int_equal(uvfio_pci_create(NULL, &p), -EINVAL);
}

/* Last: fills the registry. */
static void test_registry_full(void **state)
{
	static char names[40][8];
	static struct uvfio_driver drvs[40];
	int ret = 0;
	unsigned n = 0;
	for (; n < 40; n++) {
		snprintf(names[n], sizeof(names[n]), "z%u", n);
		drvs[n] = (struct uvfio_driver)DRV(names[n], a_ids, NULL);
		ret = uvfio_driver_register(&drvs[n]);
		if (ret < 0)
			break;
	}
	assert_int_equal(ret, -ENOSPC);
	/* 8 were registered in setup; the bound is 32. */
	assert_int_equal(n, 32 - 8);
	assert_null(uvfio_driver_find(names[n]));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_registry),
		cmocka_unit_test(test_specificity),
		cmocka_unit_test(test_class_matching),
		cmocka_unit_test(test_tie_goes_to_first_registered),
		cmocka_unit_test(test_override_only),
		cmocka_unit_test(test_override),
		cmocka_unit_test(test_no_match),
		cmocka_unit_test(test_create_preset),
		cmocka_unit_test(test_create_identity_keys),
		cmocka_unit_test(test_create_errors),
		cmocka_unit_test(test_registry_full),
	};
	return cmocka_run_group_tests(tests, setup, NULL);
}
