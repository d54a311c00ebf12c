/* SPDX-License-Identifier: MIT */
/* Shared inside lib/kernel: sysfs access, the device-fd ops both backends use, mapping counts. */
#ifndef UVFIO_KERNEL_PRIV_H
#define UVFIO_KERNEL_PRIV_H

#include <uvfio/host.h>

#include "client/backend.h"

/* ---- sysfs.c ---- */
const char *ksysfs_root(void);
const char *ksysfs_alias_path(void);
const char *ksysfs_state_dir(void);
const char *ksysfs_modprobe(void);
/* Reads a small attribute below the root, trailing newline stripped. */
int ksysfs_read(const char *rel, char *buf, size_t len);
int ksysfs_write(const char *rel, const char *val);
bool ksysfs_exists(const char *rel);
/* A kernel VFIO device is named by a canonical BDF (PCI) or a canonical UUID (mdev): its sysfs
 * directory below the root, "bus/pci/devices/BDF" or "bus/mdev/devices/UUID". */
int ksysfs_dev_dir(const char *name, char *rel, size_t len);
/* IOMMU group number of a device (BDF or UUID), -ENOENT when it has none. */
int ksysfs_group(const char *name);
/* Driver name or "" (returns 0), -ENOENT if the device does not exist. */
int ksysfs_driver(const char *name, char *buf, size_t len);
/* May this driver stay bound while another member of its group is used through VFIO? */
bool ksysfs_driver_vfio_safe(const char *driver);
bool ksysfs_driver_is_vfio(const char *driver);
/* "vfioN" of the device's cdev (BDF or UUID), -ENOENT when the kernel has no cdev for it. */
int ksysfs_vfio_cdev(const char *dev, char *name, size_t len);
/* Last component of a symlink's target below the root. */
int ksysfs_link_base(const char *rel, char *buf, size_t len);
/* The entries of a directory below the root that keep() accepts, each as keep() writes it into
 * a slot of width bytes, sorted by strcmp. NULL when there are none; *err 0 or a negative
 * errno (-ENOENT: no such directory). */
void *ksysfs_list(const char *rel, size_t width, bool (*keep)(const char *name, char *slot),
		  size_t *count, int *err);
/* The zeroed array of n results (size bytes each) for a listing of n names: one slot at least,
 * so that an empty list is not NULL. NULL if out of memory, and then names is freed. */
void *ksysfs_results(void *names, size_t n, size_t size);

/* ---- vfio_dev.c: ops on an open, usable device fd ---- */
struct kdev {
	int fd; /* device fd */
	char name[UVFIO_MDEV_UUID_LEN]; /* BDF, or UUID of an mdev (what GET_DEVICE_FD takes) */
	uint32_t num_regions;
	uint64_t *region_offset; /* UINT64_MAX: not asked yet */
	void *backend; /* type1 group or iommufd binding */
	int mig_fd; /* data_fd of the migration session, valid if has_mig_fd */
	bool has_mig_fd;
	bool mdev; /* name is a UUID */
};

/* Capability chain of a region info buffer (offsets from buf): sparse mmap, type, MSI-X. */
int kdev_parse_region_caps(const uint8_t *buf, size_t len, uint32_t first,
			   struct uvfio_region_info *out);
int kdev_init(struct kdev *d); /* after fd is set: reads device info */
void kdev_fini(struct kdev *d);
int kdev_device_info(struct uvfio_handle *h, struct uvfio_device_info *info);
int kdev_region_info(struct uvfio_handle *h, uint32_t index, struct uvfio_region_info *info);
ssize_t kdev_region_rw(struct uvfio_handle *h, uint32_t index, uint64_t offset, void *buf,
		       size_t count, bool is_write, bool posted);
size_t kdev_max_rw(struct uvfio_handle *h);
int kdev_region_mmap(struct uvfio_handle *h, uint32_t index, uint64_t offset, size_t len,
		     int prot, void **addr);
int kdev_irq_info(struct uvfio_handle *h, uint32_t index, struct uvfio_irq_info *info);
int kdev_set_irqs(struct uvfio_handle *h, uint32_t flags, uint32_t index, uint32_t start,
		  uint32_t count, const void *data);
int kdev_reset(struct uvfio_handle *h);
int kdev_feature(struct uvfio_handle *h, uint32_t flags, const void *data, size_t len, void *out,
		 size_t *out_len);

/* ---- kmig.c: migration features that carry pointers or fds, and the data_fd ---- */
/* 1 if kdev_feature must pass this request on unchanged, else the result. */
int kmig_feature(struct uvfio_handle *h, uint32_t flags, const void *data, size_t len, void *out,
		 size_t *out_len);
ssize_t kmig_data_rw(struct uvfio_handle *h, void *buf, size_t count, bool is_write);
int kmig_precopy_info(struct uvfio_handle *h, uint64_t *initial_bytes, uint64_t *dirty_bytes);
void kmig_close(struct kdev *d);

/* Parses "BDF|UUID[?iommu=type1|iommufd]" into a canonical name; iommu gets "" when absent. */
int kdev_parse_path(const char *path, char name[UVFIO_MDEV_UUID_LEN], char *iommu,
		    size_t iommu_len);

/* ---- maps.c: a shared kernel address space is mapped once, counted per attached device ---- */
struct kmap {
	uint64_t iova, size;
	unsigned refs;
};
struct kmaps {
	struct kmap *v;
	size_t n, cap;
};
/* Returns the existing entry's new refcount (>1: nothing to do), 1 for a new entry. */
int kmaps_get(struct kmaps *m, uint64_t iova, uint64_t size);
/* Drops a reference: 0 = last one gone (unmap now), >0 still used, -ENOENT unknown. */
int kmaps_put(struct kmaps *m, uint64_t iova, uint64_t size);
/* Forgets an entry whose kernel map failed right after kmaps_get returned 1. */
void kmaps_forget(struct kmaps *m, uint64_t iova, uint64_t size);
void kmaps_free(struct kmaps *m);

/* ---- type1.c / iommufd.c: IOVA ranges of the IOAS's kernel object ---- */
/* The IOVA_RANGE capability in a VFIO_IOMMU_GET_INFO buffer. */
int type1_parse_iova_cap(const uint8_t *buf, size_t len, uint32_t off, struct uvfio_iova_range *r,
			 size_t max, size_t *count);
int type1_iova_ranges(struct uvfio_ioas *ioas, struct uvfio_iova_range *r, size_t max,
		      size_t *count);
int iommufd_iova_ranges(struct uvfio_ioas *ioas, struct uvfio_iova_range *r, size_t max,
			size_t *count);

#endif
