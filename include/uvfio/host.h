/* SPDX-License-Identifier: MIT */
/*
 * The host side of kernel VFIO: which PCI devices exist, their IOMMU groups and drivers, whether
 * a group may be handed to userspace ("viable": every member bound to a vfio driver, to a driver
 * that never does DMA through the DMA API (pci-stub, pcieport) or to none), and binding a device
 * to the best vfio driver and back.
 *
 * All paths go through a configurable root so the logic runs on a fake tree in tests.
 */
#ifndef UVFIO_HOST_H
#define UVFIO_HOST_H

#include <uvfio/common.h>

UVFIO_BEGIN_DECLS

struct uvfio_ioas;

/* Where the host is. NULL fields keep the current value. Defaults: "/sys",
 * "/lib/modules/$(uname -r)/modules.alias", "/run/uvfio", "modprobe". modprobe "" disables
 * module loading (a missing driver is then an error). */
struct uvfio_host_config {
	const char *sysfs_root;
	const char *modules_alias;
	const char *state_dir; /* remembers the driver a device had before `bind` */
	const char *modprobe;
};
UVFIO_API int uvfio_host_configure(const struct uvfio_host_config *cfg);

#define UVFIO_BDF_LEN 16 /* "0000:00:03.0" + NUL, rounded */
#define UVFIO_DRIVER_LEN 64

struct uvfio_host_device {
	char bdf[UVFIO_BDF_LEN];
	uint16_t vendor, device;
	uint32_t class_code; /* 24-bit */
	int iommu_group; /* -1: none (no IOMMU, VFIO impossible) */
	char driver[UVFIO_DRIVER_LEN]; /* "" when unbound */
	bool vfio; /* bound to a vfio driver */
	bool group_viable;
};

/* Canonical "DDDD:BB:DD.F" from "BB:DD.F" or "DDDD:BB:DD.F"; -EINVAL for anything else. */
UVFIO_API int uvfio_host_parse_bdf(const char *in, char out[UVFIO_BDF_LEN]);

/* All PCI devices sorted by BDF; *out is malloc'ed (free()). */
UVFIO_API int uvfio_host_list(struct uvfio_host_device **out, size_t *count);
UVFIO_API int uvfio_host_device_get(const char *bdf, struct uvfio_host_device *out);

/* 1 viable, 0 not (why: "0000:01:01.0 (e1000), ..." naming every offending device, skipping
 * `except` if non-NULL, i.e. "viable once `except` is bound to vfio"), negative errno. */
UVFIO_API int uvfio_host_group_viable(int group, const char *except, char *why, size_t why_len);
/* Members of a group, sorted; *out is malloc'ed. */
UVFIO_API int uvfio_host_group_devices(int group, char (**out)[UVFIO_BDF_LEN], size_t *count);

/* The vfio driver for a device: a variant driver whose "vfio_pci:" alias in modules.alias
 * matches its modalias (the most specific one), else "vfio-pci". */
UVFIO_API int uvfio_host_best_driver(const char *bdf, char *driver, size_t len);

#define UVFIO_HOST_BIND_GROUP (1u << 0) /* also bind the other group members that need it */
/* Binds for VFIO; a message saying what to do is logged on every failure. */
UVFIO_API int uvfio_host_bind(const char *bdf, uint32_t flags);
/* Back to the driver it had before uvfio_host_bind (or unbound if it had none). */
UVFIO_API int uvfio_host_unbind(const char *bdf);

/*
 * Mediated devices (mdev): a parent driver (a PCI device, or a virtual one like the kernel's
 * mtty sample) offers types in /sys/class/mdev_bus/PARENT/mdev_supported_types/; an instance
 * created from a type is /sys/bus/mdev/devices/UUID, opened as "vfio:UUID" through its IOMMU
 * group (type1) or its cdev (iommufd). It is no PCI device on a bus: no PCI sysfs attributes,
 * its config space is whatever the parent driver emulates.
 */
#define UVFIO_MDEV_UUID_LEN 40 /* 36 characters + NUL, rounded */
#define UVFIO_MDEV_NAME_LEN 64

struct uvfio_mdev_type {
	char id[UVFIO_MDEV_NAME_LEN]; /* directory name: "mtty-1" */
	char name[UVFIO_MDEV_NAME_LEN]; /* "name" attribute, "" when the driver has none */
	char description[128]; /* first line of "description", "" when none */
	char device_api[32]; /* "vfio-pci", ... */
	int available; /* available_instances; -1 when unreadable */
};

struct uvfio_mdev_parent {
	char name[UVFIO_MDEV_NAME_LEN]; /* "mtty", or the parent's BDF */
	struct uvfio_mdev_type *types; /* sorted by id */
	size_t nr_types;
};

struct uvfio_mdev {
	char uuid[UVFIO_MDEV_UUID_LEN];
	char parent[UVFIO_MDEV_NAME_LEN];
	char type[UVFIO_MDEV_NAME_LEN]; /* type id */
	char driver[UVFIO_DRIVER_LEN]; /* "" when unbound */
	int iommu_group; /* -1: none */
	char cdev[16]; /* "vfio3", "" when the kernel has no VFIO cdev */
};

/* Canonical lower-case "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"; -EINVAL for anything else. */
UVFIO_API int uvfio_mdev_parse_uuid(const char *in, char out[UVFIO_MDEV_UUID_LEN]);
/* Every parent with its types, sorted by name; 0 parents when the kernel has no mdev support.
 * Free with uvfio_mdev_parents_free(). */
UVFIO_API int uvfio_mdev_parents(struct uvfio_mdev_parent **out, size_t *count);
UVFIO_API void uvfio_mdev_parents_free(struct uvfio_mdev_parent *parents, size_t count);
/* Every instance, sorted by UUID; *out is malloc'ed (free()). */
UVFIO_API int uvfio_mdev_list(struct uvfio_mdev **out, size_t *count);
UVFIO_API int uvfio_mdev_get(const char *uuid, struct uvfio_mdev *out);
/* Creates an instance of TYPE (its id, "mtty-1") under PARENT with the given UUID, or a random
 * one when uuid is NULL; out (may be NULL) gets the UUID. -ENODEV: no such parent or type,
 * -ENOSPC: no instances left, -EEXIST: the UUID is taken. A message is logged on failure. */
UVFIO_API int uvfio_mdev_create(const char *parent, const char *type, const char *uuid,
				char out[UVFIO_MDEV_UUID_LEN]);
/* Removes an instance; -ENODEV when there is none, -EBUSY while it is open. */
UVFIO_API int uvfio_mdev_remove(const char *uuid);

/* Usable IOVA ranges of an IOAS as the kernel reports them (at least one kernel device must be
 * attached): start/last inclusive. *count gets the total even when more than max. */
struct uvfio_iova_range {
	uint64_t start, last;
};
UVFIO_API int uvfio_ioas_iova_ranges(struct uvfio_ioas *ioas, struct uvfio_iova_range *ranges,
				     size_t max, size_t *count);

UVFIO_END_DECLS

#endif
