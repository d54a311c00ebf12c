/* SPDX-License-Identifier: MIT */
/*
 * Host logic of lib/kernel on a fake sysfs tree in a temp dir: devices, IOMMU groups, drivers,
 * modalias and driver_override, viability with the offending devices named, the best vfio
 * driver from a fake modules.alias, what bind/unbind write, and URL/backend selection.
 */
#include <errno.h>
#include <fcntl.h>
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

#include <linux/vfio.h>

#include <uvfio/client.h>
#include <uvfio/host.h>

#include "kernel/kernel_priv.h"
#include "util/log.h"

#include "fake_sysfs.h"

static void add_driver(const char *name)
{
	char rel[256];

	snprintf(rel, sizeof(rel), "bus/pci/drivers/%s", name);
	mkdirs(rel);
	snprintf(rel, sizeof(rel), "bus/pci/drivers/%s/bind", name);
	put(rel, "");
	snprintf(rel, sizeof(rel), "bus/pci/drivers/%s/unbind", name);
	put(rel, "");
}

static void set_driver(const char *bdf, const char *driver)
{
	char rel[256], target[256];

	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver", bdf);
	if (!driver) {
		char p[PATH_MAX];

		path_of(p, sizeof(p), rel);
		unlink(p);
		return;
	}
	snprintf(target, sizeof(target), "bus/pci/drivers/%s", driver);
	link_to(rel, target);
}

/* A device with IDs, class, modalias, an IOMMU group (-1: none) and a driver (NULL: none). */
static void add_device(const char *bdf, const char *vendor, const char *device, int group,
		       const char *driver)
{
	char rel[256], target[256], buf[256];

	snprintf(rel, sizeof(rel), "bus/pci/devices/%s", bdf);
	mkdirs(rel);
	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/vendor", bdf);
	snprintf(buf, sizeof(buf), "0x%s\n", vendor);
	put(rel, buf);
	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/device", bdf);
	snprintf(buf, sizeof(buf), "0x%s\n", device);
	put(rel, buf);
	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/class", bdf);
	put(rel, "0x00ff00\n");
	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/modalias", bdf);
	snprintf(buf, sizeof(buf), "pci:v0000%sd0000%ssv00001AF4sd00001100bc00scFFi00\n", vendor,
		 device);
	put(rel, buf);
	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver_override", bdf);
	put(rel, "(null)\n");
	if (group >= 0) {
		snprintf(rel, sizeof(rel), "kernel/iommu_groups/%d/devices", group);
		mkdirs(rel);
		snprintf(rel, sizeof(rel), "kernel/iommu_groups/%d/devices/%s", group, bdf);
		snprintf(target, sizeof(target), "bus/pci/devices/%s", bdf);
		link_to(rel, target);
		snprintf(rel, sizeof(rel), "bus/pci/devices/%s/iommu_group", bdf);
		snprintf(target, sizeof(target), "kernel/iommu_groups/%d", group);
		link_to(rel, target);
	}
	if (driver)
		set_driver(bdf, driver);
}

/*
 * group 3: 0000:00:03.0 edu (no driver)          -> viable
 * group 4: 0000:00:04.0 nvme (nvme)              -> viable once nvme leaves: only member
 * group 5: 0000:00:05.0 bridge (none), 0000:01:01.0 e1000 (e1000), 0000:01:02.0 edu (none)
 * group 6: 0000:00:06.0 (vfio-pci), 0000:00:06.1 (pcieport), 0000:00:06.2 (pci-stub)
 * 0000:00:07.0: no IOMMU group
 */
static int setup(void **state)
{
	char alias[PATH_MAX], st[PATH_MAX];
	struct uvfio_host_config cfg = { 0 };

	(void)state;
	snprintf(root, sizeof(root), "/tmp/uvfio-sysfs-XXXXXX");
	assert_non_null(mkdtemp(root));
	mkdirs("bus/pci/devices");
	mkdirs("kernel/iommu_groups");
	mkdirs("state");
	put("bus/pci/drivers_probe", "");
	add_driver("e1000");
	add_driver("nvme");
	add_driver("vfio-pci");
	add_driver("pcieport");
	add_driver("pci-stub");
	add_device("0000:00:03.0", "1234", "11E8", 3, NULL);
	add_device("0000:00:04.0", "1B36", "0010", 4, "nvme");
	add_device("0000:00:05.0", "1B36", "0001", 5, NULL);
	add_device("0000:01:01.0", "8086", "100E", 5, "e1000");
	add_device("0000:01:02.0", "1234", "11E8", 5, NULL);
	add_device("0000:00:06.0", "1234", "11E8", 6, "vfio-pci");
	add_device("0000:00:06.1", "8086", "2000", 6, "pcieport");
	add_device("0000:00:06.2", "8086", "2001", 6, "pci-stub");
	add_device("0000:00:07.0", "8086", "2002", -1, NULL);
	put("modules.alias",
	    "# Aliases extracted from modules themselves.\n"
	    "alias pci:v00001234d000011E8sv*sd*bc*sc*i* edu_host\n"
	    "alias vfio_pci:v00001234d*sv*sd*bc*sc*i* generic_vfio_pci\n"
	    "alias vfio_pci:v00001234d000011E8sv*sd*bc*sc*i* edu_vfio_pci\n"
	    "alias vfio_pci:v000015B3d0000101Esv*sd*bc*sc*i* mlx5_vfio_pci\n"
	    "alias vfio_pci:v00008086d00002000sv*sd*bc*sc*i* vfio_pci\n"
	    "garbage line\n");
	path_of(alias, sizeof(alias), "modules.alias");
	path_of(st, sizeof(st), "state");
	cfg.sysfs_root = root;
	cfg.modules_alias = alias;
	cfg.state_dir = st;
	cfg.modprobe = "";
	assert_int_equal(uvfio_host_configure(&cfg), 0);
	logbuf[0] = '\0';
	uvfio_log_set_handler(capture, NULL);
	return 0;
}

static int teardown(void **state)
{
	(void)state;
	uvfio_log_set_handler(NULL, NULL);
	rm_rf(root);
	return 0;
}

static void test_parse_bdf(void **state)
{
	char out[UVFIO_BDF_LEN];

	(void)state;
	assert_int_equal(uvfio_host_parse_bdf("0000:00:03.0", out), 0);
	assert_string_equal(out, "0000:00:03.0");
	assert_int_equal(uvfio_host_parse_bdf("00:1F.7", out), 0);
	assert_string_equal(out, "0000:00:1f.7");
	assert_int_equal(uvfio_host_parse_bdf("ABCD:ff:1f.7", out), 0);
	assert_string_equal(out, "abcd:ff:1f.7");
	const char *bad[] = { "", "0:0:0.0", "0000:00:20.0", "0000:00:03.8", "0000-00:03.0",
			      "0000:00:03.0x", "../../etc", "00:03.0/", "0000:0g:03.0",
			      "00000:00:03.0" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(uvfio_host_parse_bdf(bad[i], out), -EINVAL);
	assert_int_equal(uvfio_host_parse_bdf(NULL, out), -EINVAL);
}

static void test_configure_rejects_bad_input(void **state)
{
	struct uvfio_host_config cfg = { .sysfs_root = "relative/path" };

	(void)state;
	assert_int_equal(uvfio_host_configure(NULL), -EINVAL);
	assert_int_equal(uvfio_host_configure(&cfg), -EINVAL);
	/* The earlier root is still in force. */
	assert_string_equal(ksysfs_root(), root);
}

static void test_list(void **state)
{
	struct uvfio_host_device *d;
	size_t n;

	(void)state;
	assert_int_equal(uvfio_host_list(&d, &n), 0);
	assert_int_equal(n, 9);
	for (size_t i = 1; i < n; i++)
		assert_true(strcmp(d[i - 1].bdf, d[i].bdf) < 0);
	/* 0000:00:03.0 is first */
	assert_string_equal(d[0].bdf, "0000:00:03.0");
	assert_int_equal(d[0].vendor, 0x1234);
	assert_int_equal(d[0].device, 0x11e8);
	assert_int_equal(d[0].class_code, 0x00ff00);
	assert_int_equal(d[0].iommu_group, 3);
	assert_string_equal(d[0].driver, "");
	assert_false(d[0].vfio);
	assert_true(d[0].group_viable);
	for (size_t i = 0; i < n; i++) {
		if (strcmp(d[i].bdf, "0000:01:02.0") == 0) {
			assert_int_equal(d[i].iommu_group, 5);
			assert_false(d[i].group_viable);
		} else if (strcmp(d[i].bdf, "0000:00:06.0") == 0) {
			assert_string_equal(d[i].driver, "vfio-pci");
			assert_true(d[i].vfio);
			assert_true(d[i].group_viable);
		} else if (strcmp(d[i].bdf, "0000:00:07.0") == 0) {
			assert_int_equal(d[i].iommu_group, -1);
			assert_false(d[i].group_viable);
		} else if (strcmp(d[i].bdf, "0000:00:04.0") == 0) {
			assert_string_equal(d[i].driver, "nvme");
			assert_false(d[i].group_viable);
		}
	}
	free(d);
}

static void test_device_get_errors(void **state)
{
	struct uvfio_host_device d;

	(void)state;
	assert_int_equal(uvfio_host_device_get("0000:00:09.0", &d), -ENODEV);
	assert_int_equal(uvfio_host_device_get("bogus", &d), -EINVAL);
	assert_int_equal(uvfio_host_device_get("0000:00:03.0", NULL), -EINVAL);
}

static void test_viability_names_offenders(void **state)
{
	char why[256];

	(void)state;
	assert_int_equal(uvfio_host_group_viable(5, NULL, why, sizeof(why)), 0);
	assert_string_equal(why, "0000:01:01.0 (e1000)");
	assert_int_equal(uvfio_host_group_viable(5, "0000:01:01.0", why, sizeof(why)), 1);
	assert_string_equal(why, "");
	/* vfio-pci, pcieport and pci-stub members all leave a group viable. */
	assert_int_equal(uvfio_host_group_viable(6, NULL, why, sizeof(why)), 1);
	assert_int_equal(uvfio_host_group_viable(4, NULL, why, sizeof(why)), 0);
	assert_string_equal(why, "0000:00:04.0 (nvme)");
	assert_int_equal(uvfio_host_group_viable(4, "0000:00:04.0", NULL, 0), 1);
	/* Two offenders are both named. */
	set_driver("0000:01:02.0", "nvme");
	assert_int_equal(uvfio_host_group_viable(5, NULL, why, sizeof(why)), 0);
	assert_string_equal(why, "0000:01:01.0 (e1000), 0000:01:02.0 (nvme)");
	/* A short buffer is truncated, never overrun. */
	assert_int_equal(uvfio_host_group_viable(5, NULL, why, 8), 0);
	assert_int_equal(strlen(why), 7);
	assert_int_equal(uvfio_host_group_viable(99, NULL, why, sizeof(why)), -ENOENT);
	assert_int_equal(uvfio_host_group_viable(-1, NULL, why, sizeof(why)), -EINVAL);
}

static void test_group_devices(void **state)
{
	char(*v)[UVFIO_BDF_LEN];
	size_t n;

	(void)state;
	assert_int_equal(uvfio_host_group_devices(5, &v, &n), 0);
	assert_int_equal(n, 3);
	assert_string_equal(v[0], "0000:00:05.0");
	assert_string_equal(v[1], "0000:01:01.0");
	assert_string_equal(v[2], "0000:01:02.0");
	free(v);
}

static void test_best_driver(void **state)
{
	char drv[UVFIO_DRIVER_LEN];
	char p[PATH_MAX];
	struct uvfio_host_config cfg = { .modules_alias = "/nonexistent/modules.alias" };

	(void)state;
	/* The exact device alias beats the vendor-wide one; host aliases (pci:) never count. */
	assert_int_equal(uvfio_host_best_driver("0000:00:03.0", drv, sizeof(drv)), 0);
	assert_string_equal(drv, "edu_vfio_pci");
	assert_int_equal(uvfio_host_best_driver("0000:00:06.1", drv, sizeof(drv)), 0);
	assert_string_equal(drv, "vfio-pci"); /* module vfio_pci is driver vfio-pci */
	assert_int_equal(uvfio_host_best_driver("0000:01:01.0", drv, sizeof(drv)), 0);
	assert_string_equal(drv, "vfio-pci");
	assert_int_equal(uvfio_host_best_driver("0000:00:03.0", drv, 4), -ENAMETOOLONG);
	assert_int_equal(uvfio_host_best_driver("0000:00:09.0", drv, sizeof(drv)), -ENODEV);
	assert_int_equal(uvfio_host_best_driver("nope", drv, sizeof(drv)), -EINVAL);
	/* Without modules.alias everything falls back to vfio-pci. */
	assert_int_equal(uvfio_host_configure(&cfg), 0);
	assert_int_equal(uvfio_host_best_driver("0000:00:03.0", drv, sizeof(drv)), 0);
	assert_string_equal(drv, "vfio-pci");
	path_of(p, sizeof(p), "modules.alias");
	cfg.modules_alias = p;
	assert_int_equal(uvfio_host_configure(&cfg), 0);
}

static void test_bind_refuses_non_viable_group(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(uvfio_host_bind("0000:01:02.0", 0), -EBUSY);
	assert_non_null(strstr(logbuf, "IOMMU group 5 is not viable"));
	assert_non_null(strstr(logbuf, "0000:01:01.0 (e1000)"));
	assert_non_null(strstr(logbuf, "--group"));
	/* Nothing was touched. */
	get("bus/pci/devices/0000:01:02.0/driver_override", buf, sizeof(buf));
	assert_string_equal(buf, "(null)\n");
	get("bus/pci/devices/0000:01:01.0/driver_override", buf, sizeof(buf));
	assert_string_equal(buf, "(null)\n");
	get("bus/pci/drivers_probe", buf, sizeof(buf));
	assert_string_equal(buf, "");
}

static void test_bind_group_binds_offenders(void **state)
{
	char buf[64];

	(void)state;
	add_driver("edu_vfio_pci");
	/* The fake kernel never probes, so the check after probing fails: -EIO, said so. */
	assert_int_equal(uvfio_host_bind("0000:01:02.0", UVFIO_HOST_BIND_GROUP), -EIO);
	get("bus/pci/devices/0000:01:01.0/driver_override", buf, sizeof(buf));
	assert_string_equal(buf, "vfio-pci");
	get("bus/pci/drivers/e1000/unbind", buf, sizeof(buf));
	assert_string_equal(buf, "0000:01:01.0");
	get("bus/pci/drivers_probe", buf, sizeof(buf));
	assert_string_equal(buf, "0000:01:01.0");
	get("state/0000:01:01.0", buf, sizeof(buf));
	assert_string_equal(buf, "e1000\n");
	assert_non_null(strstr(logbuf, "0000:01:01.0 did not bind to vfio-pci"));
	assert_int_equal(uvfio_host_bind("0000:01:02.0", 0x80), -EINVAL);
}

static void test_bind_writes_in_order(void **state)
{
	char buf[64];

	(void)state;
	add_driver("edu_vfio_pci");
	assert_int_equal(uvfio_host_bind("00:03.0", 0), -EIO);
	/* The variant driver was chosen and set as override; no driver to unbind. */
	get("bus/pci/devices/0000:00:03.0/driver_override", buf, sizeof(buf));
	assert_string_equal(buf, "edu_vfio_pci");
	get("bus/pci/drivers_probe", buf, sizeof(buf));
	assert_string_equal(buf, "0000:00:03.0");
	get("state/0000:00:03.0", buf, sizeof(buf));
	assert_string_equal(buf, "\n");
	/* Now pretend the kernel bound it; unbind restores "no driver" without probing. */
	set_driver("0000:00:03.0", "edu_vfio_pci");
	put("bus/pci/drivers_probe", "");
	assert_int_equal(uvfio_host_unbind("0000:00:03.0"), 0);
	get("bus/pci/devices/0000:00:03.0/driver_override", buf, sizeof(buf));
	assert_string_equal(buf, "\n");
	get("bus/pci/drivers/edu_vfio_pci/unbind", buf, sizeof(buf));
	assert_string_equal(buf, "0000:00:03.0");
	get("bus/pci/drivers_probe", buf, sizeof(buf));
	assert_string_equal(buf, "");
	assert_false(ksysfs_exists("state/0000:00:03.0"));
}

static void test_unbind_restores_previous_driver(void **state)
{
	char buf[64];

	(void)state;
	assert_int_equal(uvfio_host_bind("0000:00:04.0", 0), -EIO);
	get("bus/pci/drivers/nvme/unbind", buf, sizeof(buf));
	assert_string_equal(buf, "0000:00:04.0");
	set_driver("0000:00:04.0", "vfio-pci");
	logbuf[0] = '\0';
	/* Probing does nothing on the fake tree, so the explicit bind to nvme is tried, then the
	 * device is found still on vfio-pci and the message says how to finish by hand. */
	assert_int_equal(uvfio_host_unbind("0000:00:04.0"), -EIO);
	get("bus/pci/drivers/vfio-pci/unbind", buf, sizeof(buf));
	assert_string_equal(buf, "0000:00:04.0");
	get("bus/pci/drivers/nvme/bind", buf, sizeof(buf));
	assert_string_equal(buf, "0000:00:04.0");
	assert_non_null(strstr(logbuf, "is not back on nvme"));
	/* The record is kept so a later unbind can still restore it. */
	assert_true(ksysfs_exists("state/0000:00:04.0"));
}

static void test_bind_errors(void **state)
{
	struct uvfio_host_config cfg = { .modprobe = "false" };

	(void)state;
	assert_int_equal(uvfio_host_bind("0000:00:09.0", 0), -ENODEV);
	assert_non_null(strstr(logbuf, "no PCI device 0000:00:09.0"));
	assert_int_equal(uvfio_host_bind("0000:00:07.0", 0), -ENODEV);
	assert_non_null(strstr(logbuf, "has no IOMMU group"));
	assert_int_equal(uvfio_host_bind("zz", 0), -EINVAL);
	assert_int_equal(uvfio_host_bind(NULL, 0), -EINVAL);
	/* The variant driver is not loaded and modprobe is off. */
	assert_int_equal(uvfio_host_bind("0000:00:03.0", 0), -ENOENT);
	assert_non_null(strstr(logbuf, "edu_vfio_pci is not loaded"));
	/* modprobe fails. */
	assert_int_equal(uvfio_host_configure(&cfg), 0);
	assert_int_equal(uvfio_host_bind("0000:00:03.0", 0), -ENOENT);
	assert_non_null(strstr(logbuf, "is not available"));
	/* modprobe "succeeds" but no driver appears. */
	cfg.modprobe = "true";
	assert_int_equal(uvfio_host_configure(&cfg), 0);
	logbuf[0] = '\0';
	assert_int_equal(uvfio_host_bind("0000:00:03.0", 0), -ENOENT);
	assert_non_null(strstr(logbuf, "no such PCI driver"));
	cfg.modprobe = "";
	assert_int_equal(uvfio_host_configure(&cfg), 0);
	/* Already bound: nothing to do. */
	assert_int_equal(uvfio_host_bind("0000:00:06.0", 0), 0);
}

static void test_unbind_errors(void **state)
{
	(void)state;
	assert_int_equal(uvfio_host_unbind("0000:01:01.0"), -EINVAL);
	assert_non_null(strstr(logbuf, "not to a vfio driver"));
	assert_int_equal(uvfio_host_unbind("0000:00:09.0"), -ENODEV);
	assert_int_equal(uvfio_host_unbind("x"), -EINVAL);
	/* Never bound: nothing is written, nothing probed. */
	assert_int_equal(uvfio_host_unbind("0000:00:03.0"), -EINVAL);
	assert_non_null(strstr(logbuf, "nothing to undo"));
	char buf[64];
	get("bus/pci/devices/0000:00:03.0/driver_override", buf, sizeof(buf));
	assert_string_equal(buf, "(null)\n");
	get("bus/pci/drivers_probe", buf, sizeof(buf));
	assert_string_equal(buf, "");
}

static void test_state_dir_unwritable(void **state)
{
	struct uvfio_host_config cfg = { .state_dir = "/proc/uvfio-cannot-exist" };
	char st[PATH_MAX], buf[64];

	(void)state;
	assert_int_equal(uvfio_host_configure(&cfg), 0);
	assert_true(uvfio_host_bind("0000:00:04.0", 0) < 0);
	assert_non_null(strstr(logbuf, "cannot record its driver"));
	/* Nothing changed before the record could be written. */
	get("bus/pci/devices/0000:00:04.0/driver_override", buf, sizeof(buf));
	assert_string_equal(buf, "(null)\n");
	path_of(st, sizeof(st), "state");
	cfg.state_dir = st;
	assert_int_equal(uvfio_host_configure(&cfg), 0);
}

static void test_cdev_lookup(void **state)
{
	char name[32];

	(void)state;
	assert_int_equal(ksysfs_vfio_cdev("0000:00:06.0", name, sizeof(name)), -ENOENT);
	mkdirs("bus/pci/devices/0000:00:06.0/vfio-dev/vfio7");
	assert_int_equal(ksysfs_vfio_cdev("0000:00:06.0", name, sizeof(name)), 0);
	assert_string_equal(name, "vfio7");
	assert_int_equal(ksysfs_group("0000:00:06.0"), 6);
	assert_int_equal(ksysfs_group("0000:00:07.0"), -ENOENT);
}

static void test_parse_path_and_select(void **state)
{
	char bdf[UVFIO_MDEV_UUID_LEN], iommu[16];

	(void)state;
	assert_int_equal(kdev_parse_path("0000:00:03.0", bdf, iommu, sizeof(iommu)), 0);
	assert_string_equal(bdf, "0000:00:03.0");
	assert_string_equal(iommu, "");
	assert_int_equal(kdev_parse_path("00:03.0?iommu=iommufd", bdf, iommu, sizeof(iommu)), 0);
	assert_string_equal(iommu, "iommufd");
	assert_int_equal(kdev_parse_path("00:03.0?iommu=type2", bdf, iommu, sizeof(iommu)), -EINVAL);
	assert_int_equal(kdev_parse_path("00:03.0?mode=x", bdf, iommu, sizeof(iommu)), -EINVAL);
	assert_int_equal(kdev_parse_path("00:03.0?", bdf, iommu, sizeof(iommu)), -EINVAL);
	assert_int_equal(kdev_parse_path("", bdf, iommu, sizeof(iommu)), -EINVAL);
	assert_int_equal(kdev_parse_path(NULL, bdf, iommu, sizeof(iommu)), -EINVAL);

	assert_ptr_equal(uvfio_kernel_backend_select("0000:00:03.0?iommu=type1"),
			 &uvfio_kernel_type1_backend);
	assert_ptr_equal(uvfio_kernel_backend_select("0000:00:03.0?iommu=iommufd"),
			 &uvfio_kernel_iommufd_backend);
	/* No cdev for this device in the tree: the container path, whatever /dev/iommu says. */
	assert_ptr_equal(uvfio_kernel_backend_select("0000:00:03.0"), &uvfio_kernel_type1_backend);
	assert_string_equal(uvfio_kernel_type1_backend.name, "vfio-type1");
	assert_string_equal(uvfio_kernel_iommufd_backend.name, "vfio-iommufd");
}

static void test_open_bad_urls(void **state)
{
	struct uvfio_handle *h = NULL;

	(void)state;
	assert_int_equal(uvfio_open("vfio:zz:zz", &h), -EINVAL);
	assert_int_equal(uvfio_open("vfio:0000:00:03.0?iommu=bogus", &h), -EINVAL);
	assert_int_equal(uvfio_open("vfio:0000:00:03.0?iommu=iommufd", &h), -ENODEV);
	assert_non_null(strstr(logbuf, "has no vfio cdev"));
	/* In the fake tree, 0000:00:07.0 has no group. */
	assert_int_equal(uvfio_open("vfio:0000:00:07.0?iommu=type1", &h), -ENODEV);
	assert_null(h);
}

static void test_iova_ranges_need_a_kernel_device(void **state)
{
	struct uvfio_iova_range r[4];
	struct uvfio_ioas *ioas;
	size_t n = 0;

	(void)state;
	assert_int_equal(uvfio_ioas_new(&ioas), 0);
	assert_int_equal(uvfio_ioas_iova_ranges(ioas, r, 4, &n), -ENODEV);
	assert_int_equal(uvfio_ioas_iova_ranges(ioas, NULL, 4, &n), -EINVAL);
	assert_int_equal(uvfio_ioas_iova_ranges(NULL, r, 4, &n), -EINVAL);
	assert_int_equal(uvfio_ioas_iova_ranges(ioas, r, 4, NULL), -EINVAL);
	uvfio_ioas_free(ioas);
}

static void test_kmaps_counts(void **state)
{
	struct kmaps m = { 0 };

	(void)state;
	assert_int_equal(kmaps_get(&m, 0x1000, 0x1000), 1);
	assert_int_equal(kmaps_get(&m, 0x1000, 0x1000), 2);
	assert_int_equal(kmaps_get(&m, 0x1000, 0x2000), 1); /* another range */
	assert_int_equal(kmaps_put(&m, 0x1000, 0x1000), 1);
	assert_int_equal(kmaps_put(&m, 0x1000, 0x1000), 0);
	assert_int_equal(kmaps_put(&m, 0x1000, 0x1000), -ENOENT);
	kmaps_forget(&m, 0x1000, 0x2000);
	assert_int_equal(kmaps_put(&m, 0x1000, 0x2000), -ENOENT);
	for (int i = 0; i < 20; i++)
		assert_int_equal(kmaps_get(&m, (uint64_t)i << 12, 0x1000), 1);
	for (int i = 19; i >= 0; i--)
		assert_int_equal(kmaps_put(&m, (uint64_t)i << 12, 0x1000), 0);
	assert_int_equal(m.n, 0);
	kmaps_free(&m);
}

/* Appends a capability header at off; returns the offset just past the header. */
static size_t cap_hdr(uint8_t *buf, size_t off, uint16_t id, uint32_t next)
{
	struct vfio_info_cap_header h = { .id = id, .version = 1, .next = next };

	memcpy(buf + off, &h, sizeof(h));
	return off + sizeof(h);
}

static void test_region_caps(void **state)
{
	uint8_t buf[512] = { 0 };
	struct uvfio_region_info out;
	uint32_t u32[2];
	uint64_t area[4] = { 0x0, 0x1000, 0x3000, 0x1000 };
	size_t p;

	(void)state;
	/* sparse (2 areas) at 32 -> unknown id 99 at 96 -> type at 112 -> MSI-X mappable at 136 */
	p = cap_hdr(buf, 32, VFIO_REGION_INFO_CAP_SPARSE_MMAP, 96);
	u32[0] = 2, u32[1] = 0;
	memcpy(buf + p, u32, 8);
	memcpy(buf + p + 8, area, sizeof(area));
	cap_hdr(buf, 96, 99, 112);
	p = cap_hdr(buf, 112, VFIO_REGION_INFO_CAP_TYPE, 136);
	u32[0] = 0x80001234, u32[1] = 7;
	memcpy(buf + p, u32, 8);
	cap_hdr(buf, 136, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 0);
	memset(&out, 0, sizeof(out));
	assert_int_equal(kdev_parse_region_caps(buf, 144, 32, &out), 0);
	assert_int_equal(out.nr_sparse, 2);
	assert_int_equal(out.sparse[1].offset, 0x3000);
	assert_int_equal(out.sparse[1].size, 0x1000);
	assert_true(out.has_type);
	assert_int_equal(out.type, 0x80001234);
	assert_int_equal(out.subtype, 7);
	assert_true(out.msix_mappable);

	/* Every malformed chain is refused. */
	assert_int_equal(kdev_parse_region_caps(buf, 143, 32, &out), -EPROTO); /* last cap cut */
	assert_int_equal(kdev_parse_region_caps(buf, 79, 32, &out), -EPROTO); /* areas cut */
	assert_int_equal(kdev_parse_region_caps(buf, 144, 16, &out), -EPROTO); /* inside header */
	assert_int_equal(kdev_parse_region_caps(buf, 144, 4000, &out), -EPROTO);
	assert_int_equal(kdev_parse_region_caps(buf, 144, UINT32_MAX, &out), -EPROTO);
	cap_hdr(buf, 136, VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 136); /* a loop */
	assert_int_equal(kdev_parse_region_caps(buf, 144, 32, &out), -EPROTO);
	/* A huge area count must not be trusted. */
	p = cap_hdr(buf, 32, VFIO_REGION_INFO_CAP_SPARSE_MMAP, 0);
	u32[0] = UINT32_MAX;
	memcpy(buf + p, u32, 4);
	assert_int_equal(kdev_parse_region_caps(buf, sizeof(buf), 32, &out), -EPROTO);
	/* More areas than the API holds: the first 16 are kept. */
	u32[0] = 20;
	memcpy(buf + p, u32, 4);
	assert_int_equal(kdev_parse_region_caps(buf, 32 + 16 + 20 * 16, 32, &out), 0);
	assert_int_equal(out.nr_sparse, 16);
	assert_int_equal(kdev_parse_region_caps(buf, sizeof(buf), 0, &out), 0); /* no chain */
}

static void test_type1_iova_cap(void **state)
{
	uint8_t buf[256] = { 0 };
	struct uvfio_iova_range r[2];
	uint64_t ranges[6] = { 0, 0xfedfffff, 0xfef00000, 0xffffffffffffULL, 1, 2 };
	uint32_t nr[2] = { 3, 0 };
	size_t count = 0, p;

	(void)state;
	cap_hdr(buf, 24, 2 /* MIGRATION */, 40);
	p = cap_hdr(buf, 40, VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE, 0);
	memcpy(buf + p, nr, 8);
	memcpy(buf + p + 8, ranges, sizeof(ranges));
	assert_int_equal(type1_parse_iova_cap(buf, 40 + 16 + 48, 24, r, 2, &count), 0);
	assert_int_equal(count, 3); /* the total, though only 2 fit */
	assert_int_equal(r[0].last, 0xfedfffff);
	assert_int_equal(r[1].start, 0xfef00000);
	assert_int_equal(type1_parse_iova_cap(buf, 40 + 16 + 47, 24, r, 2, &count), -EPROTO);
	assert_int_equal(type1_parse_iova_cap(buf, sizeof(buf), 8, r, 2, &count), -EPROTO);
	assert_int_equal(type1_parse_iova_cap(buf, sizeof(buf), 0, r, 2, &count), -ENODATA);
	cap_hdr(buf, 40, 2, 0); /* no IOVA_RANGE capability at all */
	assert_int_equal(type1_parse_iova_cap(buf, sizeof(buf), 24, r, 2, &count), -ENODATA);
	cap_hdr(buf, 40, 2, 24); /* a loop */
	assert_int_equal(type1_parse_iova_cap(buf, sizeof(buf), 24, r, 2, &count), -EPROTO);
}

int main(void)
{
#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_parse_bdf),
		T(test_configure_rejects_bad_input),
		T(test_list),
		T(test_device_get_errors),
		T(test_viability_names_offenders),
		T(test_group_devices),
		T(test_best_driver),
		T(test_bind_refuses_non_viable_group),
		T(test_bind_group_binds_offenders),
		T(test_bind_writes_in_order),
		T(test_unbind_restores_previous_driver),
		T(test_bind_errors),
		T(test_unbind_errors),
		T(test_state_dir_unwritable),
		T(test_cdev_lookup),
		T(test_parse_path_and_select),
		T(test_open_bad_urls),
		T(test_iova_ranges_need_a_kernel_device),
		T(test_kmaps_counts),
		T(test_region_caps),
		T(test_type1_iova_cap),
	};
#undef T
	return cmocka_run_group_tests(tests, NULL, NULL);
}
