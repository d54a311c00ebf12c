/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: what the kernel backend reads from the host (lib/kernel/host.c, sysfs.c): BDF
 * strings, sysfs attributes (modalias, vendor, device, class), the iommu_group and driver
 * symlinks, and modules.alias, in a fake sysfs tree under a temporary directory
 * (uvfio_host_configure). Also the region-info capability chains the kernel returns
 * (kdev_parse_region_caps in vfio_dev.c).
 *
 * Input: fields separated by NUL bytes: BDF, modalias, vendor, device, class, iommu group link
 * name, driver link name, modules.alias, then a region-info buffer (up to the end). Link names
 * keep only [A-Za-z0-9_-] so that the tree never points outside itself.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uvfio/host.h>
#include <uvfio/log.h>

#include "kernel/kernel_priv.h"

#define BDF "0000:00:03.0"
#define NFIELDS 10

static char root[64], tree[128], alias_path[128], state_dir[128];

static void must(int ok)
{
	if (!ok)
		abort();
}

static void put_file(const char *path, const uint8_t *data, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);

	must(fd >= 0);
	must(!len || write(fd, data, len) == (ssize_t)len);
	close(fd);
}

static void setup(void)
{
	char p[256];

	uvfio_log_set_level(0);
	snprintf(root, sizeof(root), "/tmp/uvfio-fuzzh-XXXXXX");
	must(mkdtemp(root) != NULL);
	snprintf(tree, sizeof(tree), "%s/sys", root);
	snprintf(alias_path, sizeof(alias_path), "%s/modules.alias", root);
	snprintf(state_dir, sizeof(state_dir), "%s/state", root);
	must(mkdir(tree, 0700) == 0);
	snprintf(p, sizeof(p), "%s/bus", tree);
	must(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/bus/pci", tree);
	must(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/bus/pci/devices", tree);
	must(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/bus/pci/devices/" BDF, tree);
	must(mkdir(p, 0700) == 0);
	/* What bind writes to: vfio-pci's bind/unbind/new_id, drivers_probe, driver_override. */
	snprintf(p, sizeof(p), "%s/bus/pci/drivers", tree);
	must(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/bus/pci/drivers/vfio-pci", tree);
	must(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/bus/pci/drivers/vfio-pci/bind", tree);
	put_file(p, NULL, 0);
	snprintf(p, sizeof(p), "%s/bus/pci/drivers/vfio-pci/unbind", tree);
	put_file(p, NULL, 0);
	snprintf(p, sizeof(p), "%s/bus/pci/drivers/vfio-pci/new_id", tree);
	put_file(p, NULL, 0);
	snprintf(p, sizeof(p), "%s/bus/pci/drivers_probe", tree);
	put_file(p, NULL, 0);
	snprintf(p, sizeof(p), "%s/bus/pci/devices/" BDF "/driver_override", tree);
	put_file(p, NULL, 0);
	snprintf(p, sizeof(p), "%s/kernel", tree);
	must(mkdir(p, 0700) == 0);
	snprintf(p, sizeof(p), "%s/kernel/iommu_groups", tree);
	must(mkdir(p, 0700) == 0);
	must(uvfio_host_configure(&(struct uvfio_host_config){
		.sysfs_root = tree, .modules_alias = alias_path, .state_dir = state_dir,
		.modprobe = "/bin/true" }) == 0);
}

/* A link name from fuzz bytes: only characters that cannot leave the tree. */
static void link_name(const uint8_t *d, size_t len, char *out, size_t size)
{
	size_t n = 0;

	for (size_t i = 0; i < len && n + 1 < size; i++)
		if ((d[i] >= 'a' && d[i] <= 'z') || (d[i] >= 'A' && d[i] <= 'Z') ||
		    (d[i] >= '0' && d[i] <= '9') || d[i] == '_' || d[i] == '-')
			out[n++] = (char)d[i];
	out[n] = '\0';
}

static void set_link(const char *name, const char *dir, const char *target)
{
	char p[256], t[256];

	snprintf(p, sizeof(p), "%s/bus/pci/devices/" BDF "/%s", tree, name);
	unlink(p);
	if (!target[0])
		return;
	snprintf(t, sizeof(t), "../../../../%s/%s", dir, target);
	must(symlink(t, p) == 0);
}

/* The group directory the iommu_group link names, holding our device (or not). */
static void set_group(const char *g, bool member)
{
	char p[256];

	if (!g[0])
		return;
	snprintf(p, sizeof(p), "%s/kernel/iommu_groups/%s", tree, g);
	mkdir(p, 0700);
	snprintf(p, sizeof(p), "%s/kernel/iommu_groups/%s/devices", tree, g);
	mkdir(p, 0700);
	if (member) {
		snprintf(p, sizeof(p), "%s/kernel/iommu_groups/%s/devices/" BDF, tree, g);
		symlink("../../../../bus/pci/devices/" BDF, p);
	}
}

static void clear_group(const char *g)
{
	char p[256];

	if (!g[0])
		return;
	snprintf(p, sizeof(p), "%s/kernel/iommu_groups/%s/devices/" BDF, tree, g);
	unlink(p);
	snprintf(p, sizeof(p), "%s/kernel/iommu_groups/%s/devices", tree, g);
	rmdir(p);
	snprintf(p, sizeof(p), "%s/kernel/iommu_groups/%s", tree, g);
	rmdir(p);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const attrs[] = { "modalias", "vendor", "device", "class" };
	const uint8_t *f[NFIELDS];
	size_t flen[NFIELDS], off = 0;
	char bdf_in[64], group[32], driver[64], p[256], best[UVFIO_DRIVER_LEN];
	char bdf[UVFIO_BDF_LEN];
	struct uvfio_host_device dev;
	struct uvfio_host_device *list = NULL;
	struct uvfio_region_info info;
	size_t count;

	if (!root[0])
		setup();
	for (int i = 0; i < NFIELDS; i++) {
		const uint8_t *end = i < NFIELDS - 1 ? memchr(data + off, 0, size - off) : NULL;

		f[i] = data + off;
		flen[i] = end ? (size_t)(end - f[i]) : size - off;
		off += flen[i] + (end ? 1 : 0);
	}
	snprintf(bdf_in, sizeof(bdf_in), "%.*s", (int)flen[0], (const char *)f[0]);
	for (int i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s/bus/pci/devices/" BDF "/%s", tree, attrs[i]);
		put_file(p, f[1 + i], flen[1 + i]);
	}
	link_name(f[5], flen[5], group, sizeof(group));
	link_name(f[6], flen[6], driver, sizeof(driver));
	set_link("iommu_group", "kernel/iommu_groups", group);
	set_group(group, flen[5] && (f[5][0] & 1));
	set_link("driver", "bus/pci/drivers", driver);
	put_file(alias_path, f[7], flen[7]);
	mkdir(state_dir, 0700);
	snprintf(p, sizeof(p), "%s/" BDF, state_dir);
	put_file(p, f[8], flen[8]);

	if (uvfio_host_parse_bdf(bdf_in, bdf) == 0 && strlen(bdf) != 12)
		abort();
	(void)uvfio_host_device_get(bdf_in, &dev);
	(void)uvfio_host_device_get(BDF, &dev);
	(void)uvfio_host_best_driver(BDF, best, sizeof(best));
	(void)uvfio_host_best_driver(BDF, best, 4);
	if (uvfio_host_list(&list, &count) == 0)
		free(list);
	(void)uvfio_host_bind(BDF, (flen[0] && (f[0][0] & 1)) ? UVFIO_HOST_BIND_GROUP : 0);
	(void)uvfio_host_unbind(BDF);

	memset(&info, 0, sizeof(info));
	if (flen[9] >= 4) {
		uint32_t first;

		memcpy(&first, f[9], 4);
		(void)kdev_parse_region_caps(f[9], flen[9], first % 512, &info);
	}
	clear_group(group);
	return 0;
}
