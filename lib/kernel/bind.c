/* SPDX-License-Identifier: MIT */
/*
 * Binding a device for VFIO the way management software does: pick the driver, load it, set
 * driver_override (vfio drivers only match through it), unbind the host driver, probe. The
 * driver the device had is remembered in a state file so unbind can give it back.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "kernel/kernel_priv.h"
#include "util/log.h"

extern char **environ;

static int state_path(const char *bdf, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", ksysfs_state_dir(), bdf);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

static int save_previous(const char *bdf, const char *driver)
{
	char path[PATH_MAX];
	FILE *f;
	int ret;

	if (mkdir(ksysfs_state_dir(), 0755) < 0 && errno != EEXIST)
		goto fail;
	ret = state_path(bdf, path, sizeof(path));
	if (ret < 0)
		return ret;
	f = fopen(path, "we");
	if (!f)
		goto fail;
	fprintf(f, "%s\n", driver);
	if (fclose(f) != 0)
		goto fail;
	return 0;
fail:
	ret = -errno;
	log_err("bind %s: cannot record its driver in %s: %s (run as root, or choose another "
		"state directory)", bdf, ksysfs_state_dir(), strerror(errno));
	return ret;
}

/* 1 and the driver ("" = none) when known, 0 when no record exists. */
static int load_previous(const char *bdf, char *driver, size_t len)
{
	char path[PATH_MAX], line[UVFIO_DRIVER_LEN + 2];
	FILE *f;

	if (state_path(bdf, path, sizeof(path)) < 0)
		return 0;
	f = fopen(path, "re");
	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f))
		line[0] = '\0';
	fclose(f);
	line[strcspn(line, "\n")] = '\0';
	snprintf(driver, len, "%s", line);
	return 1;
}

static void forget_previous(const char *bdf)
{
	char path[PATH_MAX];

	if (state_path(bdf, path, sizeof(path)) == 0)
		unlink(path);
}

static bool driver_present(const char *driver)
{
	char rel[128], alt[UVFIO_DRIVER_LEN];

	snprintf(rel, sizeof(rel), "bus/pci/drivers/%s", driver);
	if (ksysfs_exists(rel))
		return true;
	/* Module names use '_' where some driver names use '-' (vfio_pci / vfio-pci). */
	snprintf(alt, sizeof(alt), "%s", driver);
	for (char *p = alt; *p; p++)
		*p = *p == '_' ? '-' : *p == '-' ? '_' : *p;
	snprintf(rel, sizeof(rel), "bus/pci/drivers/%s", alt);
	return ksysfs_exists(rel);
}

static int run_modprobe(const char *driver)
{
	char *argv[] = { (char *)ksysfs_modprobe(), (char *)driver, NULL };
	int status, ret;
	pid_t pid;

	ret = posix_spawnp(&pid, argv[0], NULL, NULL, argv, environ);
	if (ret)
		return -ret;
	while (waitpid(pid, &status, 0) < 0) {
		if (errno != EINTR)
			return -errno;
	}
	return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -EIO;
}

static int ensure_driver(const char *driver)
{
	int ret;

	if (driver_present(driver))
		return 0;
	if (!ksysfs_modprobe()[0]) {
		log_err("driver %s is not loaded: load it (`modprobe %s`) and retry", driver, driver);
		return -ENOENT;
	}
	ret = run_modprobe(driver);
	if (ret == 0 && driver_present(driver))
		return 0;
	log_err("driver %s is not available (%s %s: %s): install the kernel modules for VFIO "
		"(CONFIG_VFIO_PCI) or load it by hand", driver, ksysfs_modprobe(), driver,
		ret < 0 ? strerror(-ret) : "loaded, but no such PCI driver");
	return -ENOENT;
}

static int write_bdf_attr(const char *rel, const char *bdf, const char *what)
{
	int ret = ksysfs_write(rel, bdf);

	if (ret < 0)
		log_err("%s %s failed (%s/%s: %s)%s", what, bdf, ksysfs_root(), rel, strerror(-ret),
			ret == -EACCES || ret == -EPERM ? ": run as root" : ": see dmesg");
	return ret;
}

static int bind_one(const char *bdf, const char *driver)
{
	char cur[UVFIO_DRIVER_LEN], rel[128];
	int ret;

	ret = ksysfs_driver(bdf, cur, sizeof(cur));
	if (ret < 0)
		return ret;
	if (ksysfs_driver_is_vfio(cur)) {
		log_info("%s is already bound to %s", bdf, cur);
		return 0;
	}
	ret = save_previous(bdf, cur);
	if (ret < 0)
		return ret;
	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver_override", bdf);
	ret = ksysfs_write(rel, driver);
	if (ret < 0) {
		log_err("cannot set driver_override of %s: %s%s", bdf, strerror(-ret),
			ret == -EACCES || ret == -EPERM ? " (run as root)" : "");
		return ret;
	}
	if (cur[0]) {
		snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver/unbind", bdf);
		ret = write_bdf_attr(rel, bdf, "unbinding from its driver");
		if (ret < 0)
			return ret;
	}
	ret = write_bdf_attr("bus/pci/drivers_probe", bdf, "probing");
	if (ret < 0)
		return ret;
	ret = ksysfs_driver(bdf, cur, sizeof(cur));
	if (ret < 0)
		return ret;
	if (strcmp(cur, driver) != 0) {
		log_err("%s did not bind to %s (driver now: %s): see dmesg; `uvfio unbind %s` "
			"gives it back", bdf, driver, cur[0] ? cur : "none", bdf);
		return -EIO;
	}
	log_info("%s bound to %s", bdf, driver);
	return 0;
}

static int check_group(const char *bdf, int group, uint32_t flags, char (**todo)[UVFIO_BDF_LEN],
		       size_t *n)
{
	char why[1024], (*devs)[UVFIO_BDF_LEN];
	size_t count, k = 0;
	int ret = uvfio_host_group_viable(group, bdf, why, sizeof(why));

	if (ret < 0) {
		log_err("cannot read IOMMU group %d of %s: %s", group, bdf, strerror(-ret));
		return ret;
	}
	if (ret == 0 && !(flags & UVFIO_HOST_BIND_GROUP)) {
		log_err("IOMMU group %d is not viable for VFIO: %s bound to a host driver; unbind "
			"them first, or bind the whole group (`uvfio bind --group %s`)", group, why, bdf);
		return -EBUSY;
	}
	ret = uvfio_host_group_devices(group, &devs, &count);
	if (ret < 0)
		return ret;
	*todo = calloc(count + 1, UVFIO_BDF_LEN);
	if (!*todo) {
		free(devs);
		return -ENOMEM;
	}
	/* The members whose driver makes the group non-viable first, the device itself last. */
	for (size_t i = 0; i < count; i++) {
		char drv[UVFIO_DRIVER_LEN];

		if (strcmp(devs[i], bdf) == 0 || !(flags & UVFIO_HOST_BIND_GROUP) ||
		    ksysfs_driver(devs[i], drv, sizeof(drv)) < 0 || ksysfs_driver_vfio_safe(drv))
			continue;
		strcpy((*todo)[k++], devs[i]);
	}
	strcpy((*todo)[k++], bdf);
	free(devs);
	*n = k;
	return 0;
}

int uvfio_host_bind(const char *bdf_in, uint32_t flags)
{
	char bdf[UVFIO_BDF_LEN], driver[UVFIO_DRIVER_LEN], (*todo)[UVFIO_BDF_LEN];
	size_t n;
	int group, ret;

	if (flags & ~UVFIO_HOST_BIND_GROUP)
		return -EINVAL;
	if (uvfio_host_parse_bdf(bdf_in, bdf) < 0) {
		log_err("bind: '%s' is not a PCI address (DDDD:BB:DD.F)", bdf_in ? bdf_in : "");
		return -EINVAL;
	}
	if (ksysfs_driver(bdf, driver, sizeof(driver)) < 0) {
		log_err("bind: no PCI device %s (see `uvfio list`)", bdf);
		return -ENODEV;
	}
	group = ksysfs_group(bdf);
	if (group < 0) {
		log_err("bind: %s has no IOMMU group: enable the IOMMU (intel_iommu=on or "
			"amd_iommu=on on the kernel command line, VT-d/AMD-Vi in firmware)", bdf);
		return -ENODEV;
	}
	if (ksysfs_driver_is_vfio(driver) && uvfio_host_group_viable(group, NULL, NULL, 0) == 1) {
		log_info("%s is already bound to %s", bdf, driver);
		return 0;
	}
	ret = check_group(bdf, group, flags, &todo, &n);
	if (ret < 0)
		return ret;
	ret = uvfio_host_best_driver(bdf, driver, sizeof(driver));
	if (ret == 0)
		ret = ensure_driver(driver);
	for (size_t i = 0; ret == 0 && i < n; i++) {
		char drv[UVFIO_DRIVER_LEN];

		if (i == n - 1) {
			ret = bind_one(todo[i], driver);
			break;
		}
		/* Group members get their own best driver (plain vfio-pci for most). */
		ret = uvfio_host_best_driver(todo[i], drv, sizeof(drv));
		if (ret == 0)
			ret = ensure_driver(drv);
		if (ret == 0)
			ret = bind_one(todo[i], drv);
	}
	free(todo);
	return ret;
}

int uvfio_host_unbind(const char *bdf_in)
{
	char bdf[UVFIO_BDF_LEN], cur[UVFIO_DRIVER_LEN], prev[UVFIO_DRIVER_LEN], rel[128];
	int known, ret;

	if (uvfio_host_parse_bdf(bdf_in, bdf) < 0) {
		log_err("unbind: '%s' is not a PCI address (DDDD:BB:DD.F)", bdf_in ? bdf_in : "");
		return -EINVAL;
	}
	if (ksysfs_driver(bdf, cur, sizeof(cur)) < 0) {
		log_err("unbind: no PCI device %s (see `uvfio list`)", bdf);
		return -ENODEV;
	}
	if (cur[0] && !ksysfs_driver_is_vfio(cur)) {
		log_err("unbind: %s is bound to %s, not to a vfio driver: nothing to undo", bdf, cur);
		return -EINVAL;
	}
	known = load_previous(bdf, prev, sizeof(prev));
	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver_override", bdf);
	if (!cur[0] && !known) {
		/* No driver, no record, no override: a device uvfio never touched. */
		char ovr[UVFIO_DRIVER_LEN] = "";
		if (ksysfs_read(rel, ovr, sizeof(ovr)) < 0 || !ovr[0] ||
		    strcmp(ovr, "(null)") == 0) {
			log_err("unbind: %s has no driver and was not bound by `uvfio bind`: "
				"nothing to undo", bdf);
			return -EINVAL;
		}
	}
	/* A lone newline clears the override, so the native driver may match again. */
	ret = ksysfs_write(rel, "\n");
	if (ret < 0) {
		log_err("cannot clear driver_override of %s: %s%s", bdf, strerror(-ret),
			ret == -EACCES || ret == -EPERM ? " (run as root)" : "");
		return ret;
	}
	if (cur[0]) {
		snprintf(rel, sizeof(rel), "bus/pci/devices/%s/driver/unbind", bdf);
		ret = write_bdf_attr(rel, bdf, "unbinding from vfio");
		if (ret < 0)
			return ret;
	}
	if (known && !prev[0]) {
		forget_previous(bdf);
		log_info("%s left unbound, as it was before", bdf);
		return 0;
	}
	ret = write_bdf_attr("bus/pci/drivers_probe", bdf, "probing");
	if (ret < 0)
		return ret;
	ksysfs_driver(bdf, cur, sizeof(cur));
	if (known && strcmp(cur, prev) != 0) {
		snprintf(rel, sizeof(rel), "bus/pci/drivers/%s/bind", prev);
		ret = write_bdf_attr(rel, bdf, "binding back");
		ksysfs_driver(bdf, cur, sizeof(cur));
		if (ret < 0 || strcmp(cur, prev) != 0) {
			log_err("%s is not back on %s (driver now: %s): load %s (`modprobe %s`) and "
				"write %s to %s/bus/pci/drivers/%s/bind", bdf, prev,
				cur[0] ? cur : "none", prev, prev, bdf, ksysfs_root(), prev);
			return ret < 0 ? ret : -EIO;
		}
	}
	forget_previous(bdf);
	log_info("%s now on %s", bdf, cur[0] ? cur : "no driver");
	return 0;
}
