/* SPDX-License-Identifier: MIT */
/* Which kernel path a "vfio:BDF|UUID[?iommu=...]" URL takes: iommufd where the kernel offers it
 * (an mdev too: its cdev is under the mdev's sysfs directory like a PCI device's). */
#include <errno.h>
#include <string.h>
#include <unistd.h>

#include "kernel/kernel_priv.h"
#include "util/log.h"

const struct uvfio_backend_ops *uvfio_kernel_backend_select(const char *path)
{
	char name[UVFIO_MDEV_UUID_LEN], iommu[16], cdev[32];

	/* A malformed path still gets a backend: its open() says what is wrong. */
	if (kdev_parse_path(path, name, iommu, sizeof(iommu)) < 0)
		return &uvfio_kernel_type1_backend;
	if (strcmp(iommu, "type1") == 0)
		return &uvfio_kernel_type1_backend;
	if (strcmp(iommu, "iommufd") == 0)
		return &uvfio_kernel_iommufd_backend;
	if (access("/dev/iommu", R_OK | W_OK) == 0 &&
	    ksysfs_vfio_cdev(name, cdev, sizeof(cdev)) == 0) {
		log_debug("kernel: %s: iommufd (cdev %s)", name, cdev);
		return &uvfio_kernel_iommufd_backend;
	}
	log_debug("kernel: %s: type1 container", name);
	return &uvfio_kernel_type1_backend;
}

int uvfio_ioas_iova_ranges(struct uvfio_ioas *ioas, struct uvfio_iova_range *ranges, size_t max,
			   size_t *count)
{
	int ret;

	if (!ioas || !count || (max && !ranges))
		return -EINVAL;
	ret = iommufd_iova_ranges(ioas, ranges, max, count);
	if (ret != -ENODEV)
		return ret;
	return type1_iova_ranges(ioas, ranges, max, count);
}
