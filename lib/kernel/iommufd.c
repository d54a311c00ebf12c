/* SPDX-License-Identifier: MIT */
/*
 * Kernel VFIO through iommufd: the device cdev /dev/vfio/devices/vfioN bound to /dev/iommu, one
 * iommufd IOAS per uvfio_ioas. IOAS ids only mean something inside one iommufd context, so all
 * handles of the process share a single /dev/iommu fd; that is what lets devices share an IOAS.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "kernel/kernel_priv.h"
#include "util/log.h"
#include "util/vfio_compat.h"

struct ifd_ioas {
	uint32_t id;
	unsigned attached;
	struct kmaps maps;
};

struct ifd_dev {
	uint32_t devid;
	struct ifd_ioas *ioas;
};

static pthread_mutex_t ifd_lock = PTHREAD_MUTEX_INITIALIZER;
static int ifd_fd = -1;
static unsigned ifd_users;

static struct ifd_dev *idev(struct uvfio_handle *h)
{
	return ((struct kdev *)h->priv)->backend;
}

static int ctx_get(void)
{
	if (ifd_fd < 0) {
		ifd_fd = open("/dev/iommu", O_RDWR | O_CLOEXEC);
		if (ifd_fd < 0) {
			int ret = -errno;

			log_err("iommufd: cannot open /dev/iommu: %s (kernel without IOMMUFD? use "
				"?iommu=type1)", strerror(errno));
			return ret;
		}
	}
	ifd_users++;
	return ifd_fd;
}

static void ctx_put(void)
{
	if (--ifd_users)
		return;
	close(ifd_fd);
	ifd_fd = -1;
}

static int bind_dev(struct kdev *d, int iommufd, uint32_t *devid)
{
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind), .iommufd = iommufd };
	char why[1024];
	int group, ret;

	if (ioctl(d->fd, VFIO_DEVICE_BIND_IOMMUFD, &bind) == 0) {
		*devid = bind.out_devid;
		return 0;
	}
	ret = -errno;

	group = ksysfs_group(d->name);
	if ((ret == -EBUSY || ret == -EPERM) && group >= 0 &&
	    uvfio_host_group_viable(group, d->name, why, sizeof(why)) == 0) {
		log_err("iommufd: %s: IOMMU group %d is not viable: %s bound to a host driver; "
			"bind every device of the group for VFIO (`uvfio bind --group`)", d->name,
			group, why);
		return ret;
	}
	log_err("iommufd: %s: VFIO_DEVICE_BIND_IOMMUFD: %s", d->name, strerror(-ret));
	return ret;
}

static int open_cdev(struct kdev *d)
{
	char name[32], path[64];

	if (ksysfs_vfio_cdev(d->name, name, sizeof(name)) < 0) {
		if (d->mdev)
			log_err("iommufd: no mediated device %s with a vfio cdev (`uvfio list` shows "
				"the instances; the kernel needs CONFIG_VFIO_DEVICE_CDEV, else use "
				"?iommu=type1)", d->name);
		else
			log_err("iommufd: %s has no vfio cdev: bind it to vfio-pci (`uvfio bind %s`); "
				"the kernel needs CONFIG_VFIO_DEVICE_CDEV, else use ?iommu=type1",
				d->name, d->name);
		return -ENODEV;
	}
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", name);
	d->fd = open(path, O_RDWR | O_CLOEXEC);
	if (d->fd < 0) {
		int ret = -errno;

		log_err("iommufd: cannot open %s: %s%s", path, strerror(errno),
			errno == EBUSY ? " (the device is already open)" : "");
		return ret;
	}
	return 0;
}

static int ifd_open(struct uvfio_handle *h, const char *path)
{
	struct kdev *d = calloc(1, sizeof(*d));
	struct ifd_dev *idv = calloc(1, sizeof(*idv));
	char iommu[16];
	int ret, fd;

	if (!d || !idv) {
		free(d);
		free(idv);
		return -ENOMEM;
	}
	d->fd = -1;
	d->backend = idv;
	ret = kdev_parse_path(path, d->name, iommu, sizeof(iommu));
	d->mdev = ret == 0 && !strchr(d->name, ':');
	if (ret < 0)
		log_err("iommufd: \"%s\": expected BDF|UUID[?iommu=type1|iommufd]", path);
	if (ret == 0)
		ret = open_cdev(d);
	if (ret < 0) {
		free(idv);
		free(d);
		return ret;
	}
	pthread_mutex_lock(&ifd_lock);
	fd = ctx_get();
	ret = fd < 0 ? fd : bind_dev(d, fd, &idv->devid);
	if (ret < 0 && fd >= 0)
		ctx_put();
	pthread_mutex_unlock(&ifd_lock);
	if (ret == 0) {
		ret = kdev_init(d);
		if (ret < 0) {
			pthread_mutex_lock(&ifd_lock);
			ctx_put();
			pthread_mutex_unlock(&ifd_lock);
		}
	}
	if (ret < 0) {
		kdev_fini(d);
		free(idv);
		free(d);
		return ret;
	}
	h->priv = d;
	return 0;
}

static void ifd_close(struct uvfio_handle *h)
{
	struct kdev *d = h->priv;

	/* Closing the cdev unbinds it from the iommufd. */
	kdev_fini(d);
	pthread_mutex_lock(&ifd_lock);
	ctx_put();
	pthread_mutex_unlock(&ifd_lock);
	free(d->backend);
	free(d);
	h->priv = NULL;
}

static void ioas_destroy(struct ifd_ioas *io)
{
	struct iommu_destroy des = { .size = sizeof(des), .id = io->id };

	if (ioctl(ifd_fd, IOMMU_DESTROY, &des) < 0)
		log_warn("iommufd: IOMMU_DESTROY %u: %s", io->id, strerror(errno));
	kmaps_free(&io->maps);
	free(io);
}

static int ioas_new(struct ifd_ioas **out)
{
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct ifd_ioas *io = calloc(1, sizeof(*io));

	if (!io)
		return -ENOMEM;
	if (ioctl(ifd_fd, IOMMU_IOAS_ALLOC, &alloc) < 0) {
		int ret = -errno;

		log_err("iommufd: IOMMU_IOAS_ALLOC: %s", strerror(errno));
		free(io);
		return ret;
	}
	io->id = alloc.out_ioas_id;
	*out = io;
	return 0;
}

static int ifd_attach(struct uvfio_handle *h, struct uvfio_ioas *ioas)
{
	struct kdev *d = h->priv;
	void **slot = uvfio_ioas_backend_slot(ioas, &uvfio_kernel_iommufd_backend);
	struct vfio_device_attach_iommufd_pt at = { .argsz = sizeof(at) };
	struct ifd_ioas *io;
	int ret = 0;

	if (!slot)
		return -ENOSPC;
	pthread_mutex_lock(&ifd_lock);
	io = *slot;
	if (!io)
		ret = ioas_new(&io);
	if (ret == 0) {
		at.pt_id = io->id;
		if (ioctl(d->fd, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &at) < 0) {
			ret = -errno;
			log_err("iommufd: %s: VFIO_DEVICE_ATTACH_IOMMUFD_PT: %s", d->name,
				strerror(errno));
		}
	}
	if (ret == 0) {
		io->attached++;
		*slot = io;
		idev(h)->ioas = io;
	} else if (io && !io->attached) {
		ioas_destroy(io);
	}
	pthread_mutex_unlock(&ifd_lock);
	return ret;
}

static void ifd_detach(struct uvfio_handle *h, struct uvfio_ioas *ioas)
{
	struct kdev *d = h->priv;
	struct ifd_dev *idv = idev(h);
	struct vfio_device_detach_iommufd_pt de = { .argsz = sizeof(de) };
	void **slot = uvfio_ioas_backend_slot(ioas, &uvfio_kernel_iommufd_backend);

	pthread_mutex_lock(&ifd_lock);
	if (ioctl(d->fd, VFIO_DEVICE_DETACH_IOMMUFD_PT, &de) < 0)
		log_warn("iommufd: %s: VFIO_DEVICE_DETACH_IOMMUFD_PT: %s", d->name, strerror(errno));
	if (idv->ioas && !--idv->ioas->attached) {
		ioas_destroy(idv->ioas);
		if (slot)
			*slot = NULL;
	}
	idv->ioas = NULL;
	pthread_mutex_unlock(&ifd_lock);
}

static int ifd_map(struct uvfio_handle *h, struct uvfio_ioas *ioas, uint64_t iova, uint64_t size,
		   uint32_t prot, int fd, uint64_t fd_offset, void *vaddr)
{
	struct ifd_ioas *io = idev(h)->ioas;
	struct iommu_ioas_map map = {
		.size = sizeof(map), .flags = IOMMU_IOAS_MAP_FIXED_IOVA,
		.user_va = (uintptr_t)vaddr, .length = size, .iova = iova,
	};
	int ret;

	(void)ioas, (void)fd, (void)fd_offset;
	if (!io)
		return -ENODEV;
	map.ioas_id = io->id;
	if (prot & UVFIO_IOAS_READ)
		map.flags |= IOMMU_IOAS_MAP_READABLE;
	if (prot & UVFIO_IOAS_WRITE)
		map.flags |= IOMMU_IOAS_MAP_WRITEABLE;
	pthread_mutex_lock(&ifd_lock);
	ret = kmaps_get(&io->maps, iova, size);
	if (ret == 1 && ioctl(ifd_fd, IOMMU_IOAS_MAP, &map) < 0) {
		ret = -errno;
		kmaps_forget(&io->maps, iova, size);
		log_err("iommufd: IOMMU_IOAS_MAP 0x%llx+0x%llx: %s", (unsigned long long)iova,
			(unsigned long long)size, strerror(-ret));
	}
	pthread_mutex_unlock(&ifd_lock);
	return ret < 0 ? ret : 0;
}

static int ifd_unmap(struct uvfio_handle *h, struct uvfio_ioas *ioas, uint64_t iova,
		     uint64_t size)
{
	struct ifd_ioas *io = idev(h)->ioas;
	struct iommu_ioas_unmap unmap = { .size = sizeof(unmap), .iova = iova, .length = size };
	int ret;

	(void)ioas;
	if (!io)
		return -ENODEV;
	unmap.ioas_id = io->id;
	pthread_mutex_lock(&ifd_lock);
	ret = kmaps_put(&io->maps, iova, size);
	if (ret == 0 && ioctl(ifd_fd, IOMMU_IOAS_UNMAP, &unmap) < 0)
		ret = -errno;
	pthread_mutex_unlock(&ifd_lock);
	return ret < 0 ? ret : 0;
}

int iommufd_iova_ranges(struct uvfio_ioas *ioas, struct uvfio_iova_range *r, size_t max,
			size_t *count)
{
	void **slot = uvfio_ioas_backend_slot(ioas, &uvfio_kernel_iommufd_backend);
	struct iommu_ioas_iova_ranges q = { .size = sizeof(q) };
	struct iommu_iova_range *v;
	int ret = 0;

	if (max > 4096)
		max = 4096;
	v = calloc(max ? max : 1, sizeof(*v));
	if (!v)
		return -ENOMEM;
	pthread_mutex_lock(&ifd_lock);
	if (!slot || !*slot) {
		ret = -ENODEV;
	} else {
		q.ioas_id = ((struct ifd_ioas *)*slot)->id;
		q.num_iovas = (uint32_t)max;
		q.allowed_iovas = (uintptr_t)v;
		if (ioctl(ifd_fd, IOMMU_IOAS_IOVA_RANGES, &q) < 0 && errno != EMSGSIZE)
			ret = -errno;
	}
	pthread_mutex_unlock(&ifd_lock);
	if (ret == 0) {
		for (size_t i = 0; i < max && i < q.num_iovas; i++) {
			r[i].start = v[i].start;
			r[i].last = v[i].last;
		}
		*count = q.num_iovas;
	}
	free(v);
	return ret;
}

const struct uvfio_backend_ops uvfio_kernel_iommufd_backend = {
	.name = "vfio-iommufd",
	.open = ifd_open,
	.close = ifd_close,
	.get_device_info = kdev_device_info,
	.get_region_info = kdev_region_info,
	.region_rw = kdev_region_rw,
	.max_rw = kdev_max_rw,
	.region_mmap = kdev_region_mmap,
	.get_irq_info = kdev_irq_info,
	.set_irqs = kdev_set_irqs,
	.reset = kdev_reset,
	.device_feature = kdev_feature,
	.mig_data_rw = kmig_data_rw,
	.mig_precopy_info = kmig_precopy_info,
	.ioas_attach = ifd_attach,
	.ioas_detach = ifd_detach,
	.dma_map = ifd_map,
	.dma_unmap = ifd_unmap,
};
