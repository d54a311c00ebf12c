/* SPDX-License-Identifier: MIT */
/* sysfs access below a configurable root, so host logic can be tested on a fake tree. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "kernel/kernel_priv.h"
#include "util/log.h"

static char *cfg_root, *cfg_alias, *cfg_state, *cfg_modprobe;
static char default_alias[PATH_MAX];

static int set_str(char **dst, const char *src)
{
	char *copy;

	if (!src)
		return 0;
	copy = strdup(src);
	if (!copy)
		return -ENOMEM;
	free(*dst);
	*dst = copy;
	return 0;
}

int uvfio_host_configure(const struct uvfio_host_config *cfg)
{
	int ret;

	if (!cfg)
		return -EINVAL;
	if (cfg->sysfs_root && cfg->sysfs_root[0] != '/')
		return -EINVAL;
	ret = set_str(&cfg_root, cfg->sysfs_root);
	if (ret == 0)
		ret = set_str(&cfg_alias, cfg->modules_alias);
	if (ret == 0)
		ret = set_str(&cfg_state, cfg->state_dir);
	if (ret == 0)
		ret = set_str(&cfg_modprobe, cfg->modprobe);
	return ret;
}

const char *ksysfs_root(void)
{
	return cfg_root ? cfg_root : "/sys";
}

const char *ksysfs_alias_path(void)
{
	struct utsname u;

	if (cfg_alias)
		return cfg_alias;
	if (!default_alias[0] && uname(&u) == 0)
		snprintf(default_alias, sizeof(default_alias), "/lib/modules/%s/modules.alias",
			 u.release);
	return default_alias;
}

const char *ksysfs_state_dir(void)
{
	return cfg_state ? cfg_state : "/run/uvfio";
}

const char *ksysfs_modprobe(void)
{
	return cfg_modprobe ? cfg_modprobe : "modprobe";
}

static int full_path(const char *rel, char *out, size_t len)
{
	int n = snprintf(out, len, "%s/%s", ksysfs_root(), rel);

	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int ksysfs_read(const char *rel, char *buf, size_t len)
{
	char path[PATH_MAX];
	ssize_t n;
	int fd, ret;

	if (!len)
		return -EINVAL;
	ret = full_path(rel, path, sizeof(path));
	if (ret < 0)
		return ret;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, buf, len - 1);
	ret = n < 0 ? -errno : 0;
	close(fd);
	if (ret < 0)
		return ret;
	buf[n] = '\0';
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		buf[--n] = '\0';
	return 0;
}

int ksysfs_write(const char *rel, const char *val)
{
	char path[PATH_MAX];
	size_t len = strlen(val);
	ssize_t n;
	int fd, ret;

	ret = full_path(rel, path, sizeof(path));
	if (ret < 0)
		return ret;
	fd = open(path, O_WRONLY | O_TRUNC | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	/* sysfs takes one write per attribute store; a short write is an error. */
	n = write(fd, val, len);
	ret = n < 0 ? -errno : (size_t)n != len ? -EIO : 0;
	close(fd);
	return ret;
}

bool ksysfs_exists(const char *rel)
{
	char path[PATH_MAX];
	struct stat st;

	return full_path(rel, path, sizeof(path)) == 0 && stat(path, &st) == 0;
}

/* Last component of a symlink's target below the root ("../../kernel/iommu_groups/5" -> "5"). */
int ksysfs_link_base(const char *rel, char *buf, size_t len)
{
	char path[PATH_MAX], target[PATH_MAX];
	const char *base;
	ssize_t n;
	int ret = full_path(rel, path, sizeof(path));

	if (ret < 0)
		return ret;
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return -errno;
	target[n] = '\0';
	base = strrchr(target, '/');
	base = base ? base + 1 : target;
	if (strlen(base) >= len)
		return -ENAMETOOLONG;
	strcpy(buf, base);
	return 0;
}

int ksysfs_dev_dir(const char *name, char *rel, size_t len)
{
	char uuid[UVFIO_MDEV_UUID_LEN];
	int n;

	/* Only the canonical (lower-case) UUID is a directory name sysfs has. */
	if (uvfio_mdev_parse_uuid(name, uuid) == 0 && strcmp(uuid, name) == 0)
		n = snprintf(rel, len, "bus/mdev/devices/%s", name);
	else
		n = snprintf(rel, len, "bus/pci/devices/%s", name);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

int ksysfs_group(const char *dev)
{
	char rel[160], name[32], *end;
	long g;
	int ret;

	ret = ksysfs_dev_dir(dev, rel, sizeof(rel) - 16);
	if (ret < 0)
		return ret;
	strcat(rel, "/iommu_group");
	ret = ksysfs_link_base(rel, name, sizeof(name));
	if (ret < 0)
		return ret == -EINVAL ? -ENOENT : ret;
	errno = 0;
	g = strtol(name, &end, 10);
	if (errno || *end || end == name || g < 0 || g > INT_MAX)
		return -EINVAL;
	return (int)g;
}

int ksysfs_driver(const char *dev, char *buf, size_t len)
{
	char rel[160];
	int ret;

	ret = ksysfs_dev_dir(dev, rel, sizeof(rel) - 16);
	if (ret < 0)
		return ret;
	if (!ksysfs_exists(rel))
		return -ENOENT;
	strcat(rel, "/driver");
	ret = ksysfs_link_base(rel, buf, len);
	if (ret == -ENOENT) {
		buf[0] = '\0';
		return 0;
	}
	return ret;
}

bool ksysfs_driver_is_vfio(const char *driver)
{
	/* vfio-pci itself and its variants (mlx5_vfio_pci, hisi_acc_vfio_pci, ...). */
	return strstr(driver, "vfio") != NULL;
}

bool ksysfs_driver_vfio_safe(const char *driver)
{
	/* The kernel's driver_managed_dma drivers that never map DMA for the device. */
	return !driver[0] || ksysfs_driver_is_vfio(driver) || strcmp(driver, "pci-stub") == 0 ||
	       strcmp(driver, "pcieport") == 0;
}

int ksysfs_vfio_cdev(const char *dev, char *name, size_t len)
{
	char rel[160], path[PATH_MAX];
	struct dirent *e;
	DIR *dir;
	int ret = -ENOENT;

	if (ksysfs_dev_dir(dev, rel, sizeof(rel) - 16) < 0)
		return -ENAMETOOLONG;
	strcat(rel, "/vfio-dev");
	if (full_path(rel, path, sizeof(path)) < 0)
		return -ENAMETOOLONG;
	dir = opendir(path);
	if (!dir)
		return -ENOENT;
	while ((e = readdir(dir))) {
		if (strncmp(e->d_name, "vfio", 4) != 0 || strlen(e->d_name) >= len)
			continue;
		strcpy(name, e->d_name);
		ret = 0;
		break;
	}
	closedir(dir);
	return ret;
}

void *ksysfs_results(void *names, size_t n, size_t size)
{
	void *v = calloc(n ? n : 1, size);

	if (!v)
		free(names);
	return v;
}

static int cmp_slot(const void *a, const void *b)
{
	return strcmp(a, b);
}

void *ksysfs_list(const char *rel, size_t width, bool (*keep)(const char *name, char *slot),
		  size_t *count, int *err)
{
	char path[PATH_MAX];
	char *v = NULL;
	size_t n = 0, cap = 0;
	struct dirent *e;
	DIR *dir;

	*count = 0;
	*err = 0;
	if (snprintf(path, sizeof(path), "%s/%s", ksysfs_root(), rel) >= (int)sizeof(path)) {
		*err = -ENAMETOOLONG;
		return NULL;
	}
	dir = opendir(path);
	if (!dir) {
		*err = -errno;
		return NULL;
	}
	while ((e = readdir(dir))) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 16;
			char *nv = realloc(v, ncap * width);

			if (!nv) {
				free(v);
				closedir(dir);
				*err = -ENOMEM;
				return NULL;
			}
			v = nv;
			cap = ncap;
		}
		if (keep(e->d_name, v + n * width))
			n++;
	}
	closedir(dir);
	if (n)
		qsort(v, n, width, cmp_slot);
	*count = n;
	return v;
}
