/* SPDX-License-Identifier: MIT */
/*
 * Mediated devices in lib/kernel on a fake sysfs tree laid out as the kernel does it: parents
 * in class/mdev_bus (links into /sys/devices), their types' attributes (some left out, as
 * drivers may), instances in bus/mdev/devices (links to PARENT/UUID), create/remove writes,
 * UUID parsing, and "vfio:UUID" URLs picking their sysfs directory and backend.
 */
#include <errno.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include <uvfio/client.h>
#include <uvfio/host.h>

#include "kernel/kernel_priv.h"
#include "util/log.h"

#include "fake_sysfs.h"

#define MTTY "devices/virtual/mtty/mtty"
#define GPU "devices/pci0000:00/0000:00:02.0"
#define UUID_A "83b8f4f2-509f-382f-3c1e-e6bfe0fa1001"
#define UUID_B "83b8f4f2-509f-382f-3c1e-e6bfe0fa1002"

/* A type with the attributes given (NULL: the driver has none). */
static void add_type(const char *parent_dir, const char *id, const char *name, const char *desc,
		     const char *avail)
{
	char rel[512];

	snprintf(rel, sizeof(rel), "%s/mdev_supported_types/%s/devices", parent_dir, id);
	mkdirs(rel);
#define ATTR(attr, val)                                                                        \
	if (val) {                                                                             \
		snprintf(rel, sizeof(rel), "%s/mdev_supported_types/%s/" attr, parent_dir, id); \
		put(rel, val);                                                                 \
	}
	ATTR("name", name);
	ATTR("description", desc);
	ATTR("available_instances", avail);
	ATTR("device_api", "vfio-pci\n");
	ATTR("create", "");
#undef ATTR
}

static void add_instance(const char *parent_dir, const char *uuid, const char *type, int group,
			 const char *cdev)
{
	char rel[512], target[512];

	snprintf(rel, sizeof(rel), "%s/%s", parent_dir, uuid);
	mkdirs(rel);
	snprintf(rel, sizeof(rel), "%s/%s/remove", parent_dir, uuid);
	put(rel, "");
	snprintf(rel, sizeof(rel), "%s/%s/mdev_type", parent_dir, uuid);
	snprintf(target, sizeof(target), "%s/mdev_supported_types/%s", parent_dir, type);
	link_to(rel, target);
	snprintf(rel, sizeof(rel), "%s/%s/driver", parent_dir, uuid);
	link_to(rel, "bus/mdev/drivers/mtty");
	if (group >= 0) {
		snprintf(target, sizeof(target), "kernel/iommu_groups/%d", group);
		mkdirs(target);
		snprintf(rel, sizeof(rel), "%s/%s/iommu_group", parent_dir, uuid);
		link_to(rel, target);
	}
	if (cdev) {
		snprintf(rel, sizeof(rel), "%s/%s/vfio-dev/%s", parent_dir, uuid, cdev);
		mkdirs(rel);
	}
	snprintf(rel, sizeof(rel), "bus/mdev/devices/%s", uuid);
	snprintf(target, sizeof(target), "%s/%s", parent_dir, uuid);
	link_to(rel, target);
}

static int setup(void **state)
{
	struct uvfio_host_config cfg = { 0 };

	(void)state;
	snprintf(root, sizeof(root), "/tmp/uvfio-mdev-XXXXXX");
	if (!mkdtemp(root))
		return -1;
	mkdirs("class/mdev_bus");
	mkdirs("bus/mdev/devices");
	mkdirs("bus/mdev/drivers/mtty");
	add_type(MTTY, "mtty-1", "Single port serial\n", NULL, "22\n");
	add_type(MTTY, "mtty-2", "Dual port serial\n", NULL, "11\n");
	link_to("class/mdev_bus/mtty", MTTY);
	/* A GPU parent: no "name", a multi-line description, nothing left. */
	add_type(GPU, "i915-GVTg_V5_4", NULL, "low_gm_size: 128MB\nhigh_gm_size: 512MB\n", "0\n");
	link_to("class/mdev_bus/0000:00:02.0", GPU);
	add_instance(MTTY, UUID_A, "mtty-1", 12, "vfio3");
	add_instance(MTTY, UUID_B, "mtty-2", 13, NULL);
	cfg.sysfs_root = root;
	logbuf[0] = '\0';
	uvfio_log_set_handler(capture, NULL);
	return uvfio_host_configure(&cfg);
}

static int teardown(void **state)
{
	(void)state;
	rm_rf(root);
	uvfio_log_set_handler(NULL, NULL);
	return 0;
}

static void test_parse_uuid(void **state)
{
	char u[UVFIO_MDEV_UUID_LEN];

	(void)state;
	assert_int_equal(uvfio_mdev_parse_uuid("83B8F4F2-509F-382F-3C1E-E6BFE0FA1001", u), 0);
	assert_string_equal(u, UUID_A);
	assert_int_equal(uvfio_mdev_parse_uuid("83b8f4f2509f382f3c1ee6bfe0fa1001", u), -EINVAL);
	assert_int_equal(uvfio_mdev_parse_uuid("83b8f4f2-509f-382f-3c1e-e6bfe0fa100", u), -EINVAL);
	assert_int_equal(uvfio_mdev_parse_uuid("83b8f4f2-509f-382f-3c1e-e6bfe0fa1001a", u), -EINVAL);
	assert_int_equal(uvfio_mdev_parse_uuid("83b8f4f2-509f-382f-3c1e_e6bfe0fa1001", u), -EINVAL);
	assert_int_equal(uvfio_mdev_parse_uuid("g3b8f4f2-509f-382f-3c1e-e6bfe0fa1001", u), -EINVAL);
	assert_int_equal(uvfio_mdev_parse_uuid("0000:00:03.0", u), -EINVAL);
	assert_int_equal(uvfio_mdev_parse_uuid(NULL, u), -EINVAL);
}

static void test_parents_and_types(void **state)
{
	struct uvfio_mdev_parent *p;
	size_t n;

	(void)state;
	assert_int_equal(uvfio_mdev_parents(&p, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(p[0].name, "0000:00:02.0");
	assert_int_equal(p[0].nr_types, 1);
	assert_string_equal(p[0].types[0].id, "i915-GVTg_V5_4");
	assert_string_equal(p[0].types[0].name, ""); /* left out by the driver */
	assert_string_equal(p[0].types[0].description, "low_gm_size: 128MB");
	assert_int_equal(p[0].types[0].available, 0);
	assert_string_equal(p[1].name, "mtty");
	assert_int_equal(p[1].nr_types, 2);
	assert_string_equal(p[1].types[0].id, "mtty-1");
	assert_string_equal(p[1].types[0].name, "Single port serial");
	assert_string_equal(p[1].types[0].description, "");
	assert_string_equal(p[1].types[0].device_api, "vfio-pci");
	assert_int_equal(p[1].types[0].available, 22);
	assert_string_equal(p[1].types[1].id, "mtty-2");
	assert_int_equal(p[1].types[1].available, 11);
	uvfio_mdev_parents_free(p, n);
	assert_int_equal(uvfio_mdev_parents(NULL, &n), -EINVAL);
}

static void test_unreadable_available(void **state)
{
	struct uvfio_mdev_parent *p;
	size_t n;

	(void)state;
	put(MTTY "/mdev_supported_types/mtty-1/available_instances", "many\n");
	assert_int_equal(uvfio_mdev_parents(&p, &n), 0);
	assert_int_equal(p[1].types[0].available, -1);
	uvfio_mdev_parents_free(p, n);
}

static void test_no_mdev_support(void **state)
{
	struct uvfio_mdev_parent *p;
	struct uvfio_mdev *m;
	size_t n = 9;

	(void)state;
	rm_rf(root);
	mkdirs("bus/pci/devices"); /* a kernel without mdev: neither directory */
	assert_int_equal(uvfio_mdev_parents(&p, &n), 0);
	assert_int_equal(n, 0);
	uvfio_mdev_parents_free(p, n);
	n = 9;
	assert_int_equal(uvfio_mdev_list(&m, &n), 0);
	assert_int_equal(n, 0);
	free(m);
}

static void test_instances(void **state)
{
	struct uvfio_mdev *m, one;
	size_t n;

	(void)state;
	assert_int_equal(uvfio_mdev_list(&m, &n), 0);
	assert_int_equal(n, 2);
	assert_string_equal(m[0].uuid, UUID_A);
	assert_string_equal(m[0].parent, "mtty");
	assert_string_equal(m[0].type, "mtty-1");
	assert_string_equal(m[0].driver, "mtty");
	assert_int_equal(m[0].iommu_group, 12);
	assert_string_equal(m[0].cdev, "vfio3");
	assert_string_equal(m[1].uuid, UUID_B);
	assert_string_equal(m[1].type, "mtty-2");
	assert_string_equal(m[1].cdev, ""); /* a kernel without VFIO_DEVICE_CDEV */
	free(m);
	assert_int_equal(uvfio_mdev_get("83B8F4F2-509F-382F-3C1E-E6BFE0FA1002", &one), 0);
	assert_int_equal(one.iommu_group, 13);
	assert_int_equal(uvfio_mdev_get("83b8f4f2-509f-382f-3c1e-e6bfe0fa1003", &one), -ENODEV);
	assert_int_equal(uvfio_mdev_get("0000:00:03.0", &one), -EINVAL);
}

static void test_create(void **state)
{
	char u[UVFIO_MDEV_UUID_LEN], buf[64];

	(void)state;
	assert_int_equal(uvfio_mdev_create("mtty", "mtty-2", "83B8F4F2-509F-382F-3C1E-E6BFE0FA1009",
					   u), 0);
	assert_string_equal(u, "83b8f4f2-509f-382f-3c1e-e6bfe0fa1009");
	get(MTTY "/mdev_supported_types/mtty-2/create", buf, sizeof(buf));
	assert_string_equal(buf, "83b8f4f2-509f-382f-3c1e-e6bfe0fa1009");
	/* A random version-4 UUID when none is given. */
	assert_int_equal(uvfio_mdev_create("mtty", "mtty-1", NULL, u), 0);
	assert_int_equal(uvfio_mdev_parse_uuid(u, buf), 0);
	assert_string_equal(u, buf);
	assert_int_equal(u[14], '4');
	assert_non_null(strchr("89ab", u[19]));
	get(MTTY "/mdev_supported_types/mtty-1/create", buf, sizeof(buf));
	assert_string_equal(buf, u);
}

static void test_create_errors(void **state)
{
	char u[UVFIO_MDEV_UUID_LEN];

	(void)state;
	assert_int_equal(uvfio_mdev_create("nope", "mtty-1", NULL, u), -ENODEV);
	assert_non_null(strstr(logbuf, "no parent device \"nope\""));
	assert_int_equal(uvfio_mdev_create("mtty", "mtty-9", NULL, u), -ENODEV);
	assert_non_null(strstr(logbuf, "parent mtty has no type \"mtty-9\""));
	assert_int_equal(uvfio_mdev_create("0000:00:02.0", "i915-GVTg_V5_4", NULL, u), -ENOSPC);
	assert_non_null(strstr(logbuf, "no instances available"));
	assert_int_equal(uvfio_mdev_create("mtty", "mtty-1", UUID_A, u), -EEXIST);
	assert_int_equal(uvfio_mdev_create("mtty", "mtty-1", "not-a-uuid", u), -EINVAL);
	assert_non_null(strstr(logbuf, "\"not-a-uuid\" is not a UUID"));
	/* Names that would leave the type directory. */
	assert_int_equal(uvfio_mdev_create("mtty", "../mtty-1", NULL, u), -EINVAL);
	assert_int_equal(uvfio_mdev_create("..", "mtty-1", NULL, u), -EINVAL);
	assert_int_equal(uvfio_mdev_create("mtty", "", NULL, u), -EINVAL);
	assert_int_equal(uvfio_mdev_create(NULL, "mtty-1", NULL, u), -EINVAL);
	/* The kernel refusing the write is passed on. */
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/" MTTY "/mdev_supported_types/mtty-1/create", root);
	assert_int_equal(unlink(p), 0);
	assert_int_equal(uvfio_mdev_create("mtty", "mtty-1", NULL, u), -ENOENT);
	assert_non_null(strstr(logbuf, "creating"));
}

static void test_remove(void **state)
{
	char buf[16];

	(void)state;
	assert_int_equal(uvfio_mdev_remove("83B8F4F2-509F-382F-3C1E-E6BFE0FA1001"), 0);
	get(MTTY "/" UUID_A "/remove", buf, sizeof(buf));
	assert_string_equal(buf, "1");
	assert_int_equal(uvfio_mdev_remove("83b8f4f2-509f-382f-3c1e-e6bfe0fa1003"), -ENODEV);
	assert_non_null(strstr(logbuf, "no mediated device"));
	assert_int_equal(uvfio_mdev_remove("0000:00:03.0"), -EINVAL);
	assert_int_equal(uvfio_mdev_remove(NULL), -EINVAL);
}

static void test_urls(void **state)
{
	char name[UVFIO_MDEV_UUID_LEN], iommu[16], rel[128], cdev[16];
	struct uvfio_handle *h = NULL;

	(void)state;
	assert_int_equal(kdev_parse_path("83B8F4F2-509F-382F-3C1E-E6BFE0FA1001?iommu=iommufd", name,
					 iommu, sizeof(iommu)), 0);
	assert_string_equal(name, UUID_A);
	assert_string_equal(iommu, "iommufd");
	assert_int_equal(kdev_parse_path("83b8f4f2-509f?iommu=type1", name, iommu, sizeof(iommu)),
			 -EINVAL);
	assert_int_equal(ksysfs_dev_dir(UUID_A, rel, sizeof(rel)), 0);
	assert_string_equal(rel, "bus/mdev/devices/" UUID_A);
	assert_int_equal(ksysfs_dev_dir("0000:00:03.0", rel, sizeof(rel)), 0);
	assert_string_equal(rel, "bus/pci/devices/0000:00:03.0");
	assert_int_equal(ksysfs_group(UUID_A), 12);
	assert_int_equal(ksysfs_vfio_cdev(UUID_A, cdev, sizeof(cdev)), 0);
	assert_string_equal(cdev, "vfio3");
	assert_int_equal(ksysfs_vfio_cdev(UUID_B, cdev, sizeof(cdev)), -ENOENT);
	assert_ptr_equal(uvfio_kernel_backend_select(UUID_A "?iommu=iommufd"),
			 &uvfio_kernel_iommufd_backend);
	assert_ptr_equal(uvfio_kernel_backend_select(UUID_A "?iommu=type1"),
			 &uvfio_kernel_type1_backend);
	/* No cdev: the group path, whatever /dev/iommu says. */
	assert_ptr_equal(uvfio_kernel_backend_select(UUID_B), &uvfio_kernel_type1_backend);
	/* An mdev that does not exist is named as such. */
	assert_int_equal(uvfio_open("vfio:83b8f4f2-509f-382f-3c1e-e6bfe0fa1003?iommu=type1", &h),
			 -ENODEV);
	assert_non_null(strstr(logbuf, "no mediated device"));
	assert_int_equal(uvfio_open("vfio:83b8f4f2-509f-382f-3c1e-e6bfe0fa1003?iommu=iommufd", &h),
			 -ENODEV);
	assert_null(h);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_parse_uuid),	 T(test_parents_and_types), T(test_unreadable_available),
		T(test_no_mdev_support), T(test_instances),	    T(test_create),
		T(test_create_errors),	 T(test_remove),	    T(test_urls),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
