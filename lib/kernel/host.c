/* SPDX-License-Identifier: MIT */
/* What the host has: PCI devices, IOMMU groups and their viability, the best vfio driver. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fnmatch.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/kernel_priv.h"
#include "util/log.h"

static int parse_hex(const char *s, size_t n, unsigned max, unsigned *out)
{
	unsigned v = 0;

	for (size_t i = 0; i < n; i++) {
		int c = tolower((unsigned char)s[i]);

		if (!isxdigit(c))
			return -EINVAL;
		v = v * 16 + (unsigned)(isdigit(c) ? c - '0' : c - 'a' + 10);
	}
	if (v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

int uvfio_host_parse_bdf(const char *in, char out[UVFIO_BDF_LEN])
{
	unsigned dom = 0, bus, dev, fn;
	size_t len;

	if (!in || !out)
		return -EINVAL;
	len = strlen(in);
	if (len == 12) {
		if (in[4] != ':' || parse_hex(in, 4, 0xffff, &dom) < 0)
			return -EINVAL;
		in += 5;
		len -= 5;
	}
	/* BB:DD.F */
	if (len != 7 || in[2] != ':' || in[5] != '.')
		return -EINVAL;
	if (parse_hex(in, 2, 0xff, &bus) < 0 || parse_hex(in + 3, 2, 0x1f, &dev) < 0 ||
	    parse_hex(in + 6, 1, 7, &fn) < 0)
		return -EINVAL;
	snprintf(out, UVFIO_BDF_LEN, "%04x:%02x:%02x.%x", dom, bus, dev, fn);
	return 0;
}

static int read_hex_attr(const char *bdf, const char *attr, unsigned long *out)
{
	char rel[128], buf[32], *end;
	int ret;

	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/%s", bdf, attr);
	ret = ksysfs_read(rel, buf, sizeof(buf));
	if (ret < 0)
		return ret;
	errno = 0;
	*out = strtoul(buf, &end, 16);
	return errno || end == buf || *end ? -EINVAL : 0;
}

int uvfio_host_device_get(const char *bdf_in, struct uvfio_host_device *d)
{
	unsigned long vendor = 0, device = 0, cls = 0;
	char bdf[UVFIO_BDF_LEN];
	int ret;

	if (!d || uvfio_host_parse_bdf(bdf_in, bdf) < 0)
		return -EINVAL;
	memset(d, 0, sizeof(*d));
	strcpy(d->bdf, bdf);
	ret = ksysfs_driver(bdf, d->driver, sizeof(d->driver));
	if (ret < 0)
		return ret == -ENOENT ? -ENODEV : ret;
	/* Missing attributes leave zeros: listing must not fail on an odd device. */
	read_hex_attr(bdf, "vendor", &vendor);
	read_hex_attr(bdf, "device", &device);
	read_hex_attr(bdf, "class", &cls);
	d->vendor = (uint16_t)vendor;
	d->device = (uint16_t)device;
	d->class_code = (uint32_t)cls & 0xffffff;
	d->vfio = ksysfs_driver_is_vfio(d->driver);
	d->iommu_group = ksysfs_group(bdf);
	if (d->iommu_group < 0)
		d->iommu_group = -1;
	else
		d->group_viable = uvfio_host_group_viable(d->iommu_group, NULL, NULL, 0) == 1;
	return 0;
}

/* Entries naming a PCI device, as canonical BDFs. */
static bool keep_bdf(const char *name, char *slot)
{
	return uvfio_host_parse_bdf(name, slot) == 0;
}

/* The canonical BDFs named by the entries of a directory below the root, sorted. */
static int list_bdfs(const char *rel, char (**out)[UVFIO_BDF_LEN], size_t *count)
{
	int ret;
	char(*v)[UVFIO_BDF_LEN] = ksysfs_list(rel, UVFIO_BDF_LEN, keep_bdf, count, &ret);

	if (ret < 0)
		return ret;
	*out = v;
	return 0;
}

int uvfio_host_group_devices(int group, char (**out)[UVFIO_BDF_LEN], size_t *count)
{
	char rel[64];

	if (group < 0 || !out || !count)
		return -EINVAL;
	snprintf(rel, sizeof(rel), "kernel/iommu_groups/%d/devices", group);
	return list_bdfs(rel, out, count);
}

static void append(char *why, size_t len, const char *bdf, const char *driver)
{
	size_t used;

	if (!why || !len)
		return;
	used = strlen(why);
	snprintf(why + used, len - used, "%s%s (%s)", used ? ", " : "", bdf, driver);
}

int uvfio_host_group_viable(int group, const char *except, char *why, size_t why_len)
{
	char(*devs)[UVFIO_BDF_LEN];
	size_t n;
	bool viable = true;
	int ret;

	if (why && why_len)
		why[0] = '\0';
	ret = uvfio_host_group_devices(group, &devs, &n);
	if (ret < 0)
		return ret;
	for (size_t i = 0; i < n; i++) {
		char drv[UVFIO_DRIVER_LEN];

		if (except && strcmp(devs[i], except) == 0)
			continue;
		if (ksysfs_driver(devs[i], drv, sizeof(drv)) < 0 || ksysfs_driver_vfio_safe(drv))
			continue;
		viable = false;
		append(why, why_len, devs[i], drv);
	}
	free(devs);
	return viable ? 1 : 0;
}

int uvfio_host_list(struct uvfio_host_device **out, size_t *count)
{
	char(*bdfs)[UVFIO_BDF_LEN];
	struct uvfio_host_device *v;
	size_t n, k = 0;
	int ret;

	if (!out || !count)
		return -EINVAL;
	ret = list_bdfs("bus/pci/devices", &bdfs, &n);
	if (ret < 0)
		return ret;
	v = ksysfs_results(bdfs, n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		if (uvfio_host_device_get(bdfs[i], &v[k]) == 0)
			k++;
	}
	free(bdfs);
	*out = v;
	*count = k;
	return 0;
}

/* Specificity of a modalias pattern: the more literal characters, the closer the match. */
static int pattern_score(const char *p)
{
	int score = 0;

	for (; *p; p++)
		score += *p != '*' && *p != '?';
	return score;
}

int uvfio_host_best_driver(const char *bdf_in, char *driver, size_t len)
{
	char bdf[UVFIO_BDF_LEN], rel[128], modalias[256], key[270], line[512];
	char best[UVFIO_DRIVER_LEN];
	int best_score = -1, ret;
	FILE *f;

	if (!driver || !len || uvfio_host_parse_bdf(bdf_in, bdf) < 0)
		return -EINVAL;
	snprintf(rel, sizeof(rel), "bus/pci/devices/%s/modalias", bdf);
	ret = ksysfs_read(rel, modalias, sizeof(modalias));
	if (ret < 0)
		return ret == -ENOENT ? -ENODEV : ret;
	snprintf(key, sizeof(key), "vfio_%s", modalias);
	snprintf(best, sizeof(best), "vfio-pci");
	f = fopen(ksysfs_alias_path(), "re");
	if (!f)
		log_debug("host: no %s (%s): using vfio-pci", ksysfs_alias_path(), strerror(errno));
	while (f && fgets(line, sizeof(line), f)) {
		char pat[256], mod[UVFIO_DRIVER_LEN];
		int score;

		if (sscanf(line, "alias %255s %63s", pat, mod) != 2)
			continue;
		if (strncmp(pat, "vfio_pci:", 9) != 0 || fnmatch(pat, key, 0) != 0)
			continue;
		score = pattern_score(pat);
		if (score <= best_score)
			continue;
		best_score = score;
		snprintf(best, sizeof(best), "%s", mod);
	}
	if (f)
		fclose(f);
	/* Module "vfio_pci" registers the driver "vfio-pci"; variants keep their module name. */
	if (strcmp(best, "vfio_pci") == 0)
		snprintf(best, sizeof(best), "vfio-pci");
	if (strlen(best) >= len)
		return -ENAMETOOLONG;
	strcpy(driver, best);
	return 0;
}
