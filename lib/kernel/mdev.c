/* SPDX-License-Identifier: MIT */
/*
 * Mediated devices in sysfs: parents (/sys/class/mdev_bus/P) with their types, instances
 * (/sys/bus/mdev/devices/UUID), and creating / removing instances. Everything is read below the
 * configurable root, so it runs on a fake tree in tests.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "kernel/kernel_priv.h"
#include "util/log.h"

#define MDEV_BUS "class/mdev_bus"
#define MDEV_DEVICES "bus/mdev/devices"

int uvfio_mdev_parse_uuid(const char *in, char out[UVFIO_MDEV_UUID_LEN])
{
	char buf[UVFIO_MDEV_UUID_LEN];

	if (!in || !out || strlen(in) != 36)
		return -EINVAL;
	for (int i = 0; i < 36; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? in[i] != '-' : !isxdigit((unsigned char)in[i]))
			return -EINVAL;
		buf[i] = (char)tolower((unsigned char)in[i]);
	}
	buf[36] = '\0';
	memcpy(out, buf, 37);
	return 0;
}

typedef char name_t[UVFIO_MDEV_NAME_LEN];

/* Entry names short enough to keep, no dot entries. */
static bool keep_name(const char *name, char *slot)
{
	if (name[0] == '.' || strlen(name) >= sizeof(name_t))
		return false;
	strcpy(slot, name);
	return true;
}

/* Sorted entry names of a directory below the root (no dot entries, none too long to keep).
 * -ENOENT when the directory does not exist. */
static int list_dir(const char *rel, name_t **out, size_t *count)
{
	int ret;
	name_t *v = ksysfs_list(rel, sizeof(name_t), keep_name, count, &ret);

	if (ret < 0)
		return ret;
	*out = v;
	return 0;
}

/* The names in rel, none when it does not exist (no mdev support in this kernel: nothing to
 * list), and the zeroed array for as many results of size bytes; NULL and *err if it fails. */
static void *list_for(const char *rel, name_t **names, size_t *n, size_t size, int *err)
{
	void *v;

	*err = list_dir(rel, names, n);
	if (*err == -ENOENT) {
		*names = NULL;
		*n = 0;
	} else if (*err < 0) {
		return NULL;
	}
	v = ksysfs_results(*names, *n, size);
	*err = v ? 0 : -ENOMEM;
	return v;
}

/* Copies what fits (sysfs values longer than our fields are cut, not refused). */
static void copy_cut(char *dst, size_t len, const char *src)
{
	size_t n = strlen(src);

	if (n >= len)
		n = len - 1;
	memcpy(dst, src, n);
	dst[n] = '\0';
}

/* An attribute's first line, "" when it cannot be read (drivers may leave any of them out). */
static void read_attr(const char *rel, char *buf, size_t len)
{
	char tmp[512];
	char *nl;

	buf[0] = '\0';
	if (ksysfs_read(rel, tmp, sizeof(tmp)) < 0)
		return;
	nl = strchr(tmp, '\n');
	if (nl)
		*nl = '\0';
	copy_cut(buf, len, tmp);
}

static void read_type(const char *parent, const char *id, struct uvfio_mdev_type *t)
{
	char rel[PATH_MAX], num[32], *end;
	long v;

	memset(t, 0, sizeof(*t));
	snprintf(t->id, sizeof(t->id), "%s", id);
	snprintf(rel, sizeof(rel), MDEV_BUS "/%s/mdev_supported_types/%s/name", parent, id);
	read_attr(rel, t->name, sizeof(t->name));
	snprintf(rel, sizeof(rel), MDEV_BUS "/%s/mdev_supported_types/%s/description", parent, id);
	read_attr(rel, t->description, sizeof(t->description));
	snprintf(rel, sizeof(rel), MDEV_BUS "/%s/mdev_supported_types/%s/device_api", parent, id);
	read_attr(rel, t->device_api, sizeof(t->device_api));
	snprintf(rel, sizeof(rel), MDEV_BUS "/%s/mdev_supported_types/%s/available_instances",
		 parent, id);
	read_attr(rel, num, sizeof(num));
	errno = 0;
	v = strtol(num, &end, 10);
	t->available = num[0] && !*end && !errno && v >= 0 && v <= INT_MAX ? (int)v : -1;
}

void uvfio_mdev_parents_free(struct uvfio_mdev_parent *parents, size_t count)
{
	for (size_t i = 0; parents && i < count; i++)
		free(parents[i].types);
	free(parents);
}

int uvfio_mdev_parents(struct uvfio_mdev_parent **out, size_t *count)
{
	struct uvfio_mdev_parent *v;
	name_t *names;
	size_t n;
	int ret;

	if (!out || !count)
		return -EINVAL;
	v = list_for(MDEV_BUS, &names, &n, sizeof(*v), &ret);
	if (!v)
		return ret;
	for (size_t i = 0; i < n; i++) {
		char rel[PATH_MAX];
		name_t *types;
		size_t nt;

		snprintf(v[i].name, sizeof(v[i].name), "%s", names[i]);
		snprintf(rel, sizeof(rel), MDEV_BUS "/%s/mdev_supported_types", names[i]);
		if (list_dir(rel, &types, &nt) < 0)
			continue; /* a parent going away while listed: no types */
		v[i].types = ksysfs_results(types, nt, sizeof(*v[i].types));
		if (!v[i].types) {
			free(names);
			uvfio_mdev_parents_free(v, n);
			return -ENOMEM;
		}
		for (size_t k = 0; k < nt; k++)
			read_type(names[i], types[k], &v[i].types[k]);
		v[i].nr_types = nt;
		free(types);
	}
	free(names);
	*out = v;
	*count = n;
	return 0;
}

int uvfio_mdev_get(const char *uuid_in, struct uvfio_mdev *m)
{
	char uuid[UVFIO_MDEV_UUID_LEN], rel[128], path[PATH_MAX], real[PATH_MAX], *slash;

	if (!m || uvfio_mdev_parse_uuid(uuid_in, uuid) < 0)
		return -EINVAL;
	memset(m, 0, sizeof(*m));
	strcpy(m->uuid, uuid);
	snprintf(rel, sizeof(rel), MDEV_DEVICES "/%s", uuid);
	if (!ksysfs_exists(rel))
		return -ENODEV;
	/* The parent is the directory the instance lives in (/sys/devices/.../PARENT/UUID). */
	snprintf(path, sizeof(path), "%s/%s", ksysfs_root(), rel);
	if (realpath(path, real)) {
		slash = strrchr(real, '/');
		if (slash) {
			*slash = '\0';
			slash = strrchr(real, '/');
			copy_cut(m->parent, sizeof(m->parent), slash ? slash + 1 : real);
		}
	}
	snprintf(rel, sizeof(rel), MDEV_DEVICES "/%s/mdev_type", uuid);
	if (ksysfs_link_base(rel, m->type, sizeof(m->type)) < 0)
		m->type[0] = '\0';
	if (ksysfs_driver(uuid, m->driver, sizeof(m->driver)) < 0)
		m->driver[0] = '\0';
	m->iommu_group = ksysfs_group(uuid);
	if (m->iommu_group < 0)
		m->iommu_group = -1;
	if (ksysfs_vfio_cdev(uuid, m->cdev, sizeof(m->cdev)) < 0)
		m->cdev[0] = '\0';
	return 0;
}

int uvfio_mdev_list(struct uvfio_mdev **out, size_t *count)
{
	struct uvfio_mdev *v;
	name_t *names;
	size_t n, k = 0;
	int ret;

	if (!out || !count)
		return -EINVAL;
	v = list_for(MDEV_DEVICES, &names, &n, sizeof(*v), &ret);
	if (!v)
		return ret;
	for (size_t i = 0; i < n; i++)
		if (uvfio_mdev_get(names[i], &v[k]) == 0)
			k++;
	free(names);
	*out = v;
	*count = k;
	return 0;
}

static int random_uuid(char out[UVFIO_MDEV_UUID_LEN])
{
	uint8_t b[16];
	ssize_t n = getrandom(b, sizeof(b), 0);

	if (n != (ssize_t)sizeof(b))
		return n < 0 ? -errno : -EIO;
	b[6] = (uint8_t)((b[6] & 0x0f) | 0x40); /* version 4 */
	b[8] = (uint8_t)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
	snprintf(out, UVFIO_MDEV_UUID_LEN,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
		 b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
		 b[15]);
	return 0;
}

/* Names in sysfs paths: nothing that could climb out of the directory. */
static bool plain_name(const char *s)
{
	return s && s[0] && s[0] != '.' && !strchr(s, '/') && strlen(s) < UVFIO_MDEV_NAME_LEN;
}

int uvfio_mdev_create(const char *parent, const char *type, const char *uuid_in,
		      char out[UVFIO_MDEV_UUID_LEN])
{
	char uuid[UVFIO_MDEV_UUID_LEN], rel[PATH_MAX];
	struct uvfio_mdev_type t;
	int ret;

	if (!plain_name(parent) || !plain_name(type))
		return -EINVAL;
	if (uuid_in && uvfio_mdev_parse_uuid(uuid_in, uuid) < 0) {
		log_err("mdev: \"%s\" is not a UUID (xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx)", uuid_in);
		return -EINVAL;
	}
	if (!uuid_in && (ret = random_uuid(uuid)) < 0)
		return ret;
	snprintf(rel, sizeof(rel), MDEV_BUS "/%s", parent);
	if (!ksysfs_exists(rel)) {
		log_err("mdev: no parent device \"%s\" in %s/" MDEV_BUS " (`uvfio list` shows them)",
			parent, ksysfs_root());
		return -ENODEV;
	}
	snprintf(rel, sizeof(rel), MDEV_BUS "/%s/mdev_supported_types/%s", parent, type);
	if (!ksysfs_exists(rel)) {
		log_err("mdev: parent %s has no type \"%s\" (`uvfio list` shows its types)", parent,
			type);
		return -ENODEV;
	}
	read_type(parent, type, &t);
	if (t.available == 0) {
		log_err("mdev: %s/%s: no instances available (remove one first)", parent, type);
		return -ENOSPC;
	}
	snprintf(rel, sizeof(rel), MDEV_DEVICES "/%s", uuid);
	if (ksysfs_exists(rel)) {
		log_err("mdev: %s already exists", uuid);
		return -EEXIST;
	}
	snprintf(rel, sizeof(rel), MDEV_BUS "/%s/mdev_supported_types/%s/create", parent, type);
	ret = ksysfs_write(rel, uuid);
	if (ret < 0) {
		log_err("mdev: creating %s of %s/%s failed (%s/%s: %s)", uuid, parent, type,
			ksysfs_root(), rel, strerror(-ret));
		return ret;
	}
	log_info("mdev: created %s (%s/%s)", uuid, parent, type);
	if (out)
		memcpy(out, uuid, UVFIO_MDEV_UUID_LEN);
	return 0;
}

int uvfio_mdev_remove(const char *uuid_in)
{
	char uuid[UVFIO_MDEV_UUID_LEN], rel[128];
	int ret;

	if (uvfio_mdev_parse_uuid(uuid_in, uuid) < 0) {
		log_err("mdev: \"%s\" is not a UUID", uuid_in ? uuid_in : "(null)");
		return -EINVAL;
	}
	snprintf(rel, sizeof(rel), MDEV_DEVICES "/%s", uuid);
	if (!ksysfs_exists(rel)) {
		log_err("mdev: no mediated device %s", uuid);
		return -ENODEV;
	}
	snprintf(rel, sizeof(rel), MDEV_DEVICES "/%s/remove", uuid);
	ret = ksysfs_write(rel, "1");
	if (ret < 0) {
		log_err("mdev: removing %s failed (%s/%s: %s)", uuid, ksysfs_root(), rel,
			strerror(-ret));
		return ret;
	}
	log_info("mdev: removed %s", uuid);
	return 0;
}
