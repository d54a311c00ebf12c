/* SPDX-License-Identifier: MIT */
/*
 * Kernel VFIO through the legacy path: /dev/vfio/vfio container + /dev/vfio/GROUP, type1v2.
 *
 * A group can be opened once per system, so groups are shared by every handle of this process
 * (one device fd each). A device fd only exists while its group sits in a container with an
 * IOMMU set, so open gives the group a container of its own; attaching to a uvfio_ioas makes
 * that container the IOAS's, or moves the group into the container the IOAS already has
 * (several groups share one container, so mappings reach every device).
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

struct t1_container {
	int fd;
	unsigned groups;
	unsigned attached; /* devices attached through the IOAS below */
	struct uvfio_ioas *ioas;
	struct kmaps maps;
};

struct t1_group {
	int id, fd;
	unsigned users; /* open device fds */
	struct t1_container *c;
	struct t1_group *next;
};

static pthread_mutex_t t1_lock = PTHREAD_MUTEX_INITIALIZER;
static struct t1_group *t1_groups;

static struct t1_group *grp(struct uvfio_handle *h)
{
	return ((struct kdev *)h->priv)->backend;
}

static struct t1_container *container_new(void)
{
	struct t1_container *c = calloc(1, sizeof(*c));
	int ret;

	if (!c)
		return NULL;
	c->fd = open("/dev/vfio/vfio", O_RDWR | O_CLOEXEC);
	if (c->fd < 0) {
		log_err("type1: cannot open /dev/vfio/vfio: %s (is vfio loaded, are you root?)",
			strerror(errno));
		free(c);
		return NULL;
	}
	ret = ioctl(c->fd, VFIO_GET_API_VERSION);
	if (ret != VFIO_API_VERSION || ioctl(c->fd, VFIO_CHECK_EXTENSION, VFIO_TYPE1v2_IOMMU) <= 0) {
		log_err("type1: the kernel has no type1v2 IOMMU (load vfio_iommu_type1)");
		close(c->fd);
		free(c);
		return NULL;
	}
	return c;
}

static void container_free(struct t1_container *c)
{
	close(c->fd);
	kmaps_free(&c->maps);
	free(c);
}

static void container_put(struct t1_container *c)
{
	if (--c->groups || c->attached)
		return;
	container_free(c);
}

/* Puts the group into c; the first group of a container also sets its IOMMU model. */
static int group_join(struct t1_group *g, struct t1_container *c)
{
	if (ioctl(g->fd, VFIO_GROUP_SET_CONTAINER, &c->fd) < 0) {
		int ret = -errno;

		log_err("type1: group %d: VFIO_GROUP_SET_CONTAINER: %s", g->id, strerror(errno));
		return ret;
	}
	if (!c->groups && ioctl(c->fd, VFIO_SET_IOMMU, VFIO_TYPE1v2_IOMMU) < 0) {
		int ret = -errno;

		log_err("type1: VFIO_SET_IOMMU(TYPE1v2): %s", strerror(errno));
		ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER);
		return ret;
	}
	c->groups++;
	g->c = c;
	return 0;
}

static int group_check_viable(struct t1_group *g)
{
	struct vfio_group_status st = { .argsz = sizeof(st) };
	char why[1024];

	if (ioctl(g->fd, VFIO_GROUP_GET_STATUS, &st) < 0) {
		int ret = -errno;

		log_err("type1: group %d: VFIO_GROUP_GET_STATUS: %s", g->id, strerror(errno));
		return ret;
	}
	if (st.flags & VFIO_GROUP_FLAGS_VIABLE)
		return 0;
	if (uvfio_host_group_viable(g->id, NULL, why, sizeof(why)) != 0 || !why[0])
		snprintf(why, sizeof(why), "a member");
	log_err("type1: IOMMU group %d is not viable: %s bound to a host driver; bind every "
		"device of the group for VFIO (`uvfio bind --group`) or unbind them", g->id, why);
	return -EBUSY;
}

static int group_open(int id, struct t1_group **out)
{
	struct t1_container *c;
	struct t1_group *g;
	char path[64];
	int ret;

	g = calloc(1, sizeof(*g));
	if (!g)
		return -ENOMEM;
	g->id = id;
	snprintf(path, sizeof(path), "/dev/vfio/%d", id);
	g->fd = open(path, O_RDWR | O_CLOEXEC);
	if (g->fd < 0) {
		ret = -errno;
		log_err("type1: cannot open %s: %s%s", path, strerror(errno),
			errno == ENOENT ? " (bind the device first: `uvfio bind BDF`)"
			: errno == EBUSY ? " (another process uses this group)" : "");
		free(g);
		return ret;
	}
	ret = group_check_viable(g);
	c = ret == 0 ? container_new() : NULL;
	if (ret == 0 && !c)
		ret = -ENODEV;
	if (ret == 0) {
		ret = group_join(g, c);
		if (ret < 0)
			container_put(c);
	}
	if (ret < 0) {
		close(g->fd);
		free(g);
		return ret;
	}
	g->next = t1_groups;
	t1_groups = g;
	*out = g;
	return 0;
}

static void group_put(struct t1_group *g)
{
	struct t1_group **pp;

	if (--g->users)
		return;
	for (pp = &t1_groups; *pp; pp = &(*pp)->next) {
		if (*pp == g) {
			*pp = g->next;
			break;
		}
	}
	ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER);
	close(g->fd);
	container_put(g->c);
	free(g);
}

static int get_device_fd(struct t1_group *g, const char *bdf)
{
	int fd = ioctl(g->fd, VFIO_GROUP_GET_DEVICE_FD, bdf);

	if (fd < 0) {
		fd = -errno;
		log_err("type1: %s: VFIO_GROUP_GET_DEVICE_FD: %s%s", bdf, strerror(errno),
			errno == EBUSY ? " (the device is already open)" : "");
	}
	return fd;
}

static int t1_open_locked(struct kdev *d)
{
	struct t1_group *g;
	int id, ret;

	id = ksysfs_group(d->name);
	if (id < 0 && d->mdev) {
		log_err("type1: no mediated device %s with an IOMMU group (`uvfio list` shows the "
			"instances; `uvfio mdev create` makes one)", d->name);
		return -ENODEV;
	}
	if (id < 0) {
		log_err("type1: %s has no IOMMU group (no such device, or no IOMMU: boot with "
			"intel_iommu=on)", d->name);
		return -ENODEV;
	}
	for (g = t1_groups; g && g->id != id; g = g->next)
		;
	if (!g) {
		ret = group_open(id, &g);
		if (ret < 0)
			return ret;
	}
	g->users++;
	d->backend = g;
	d->fd = get_device_fd(g, d->name);
	if (d->fd < 0) {
		ret = d->fd;
		group_put(g);
		return ret;
	}
	return 0;
}

static int t1_open(struct uvfio_handle *h, const char *path)
{
	struct kdev *d = calloc(1, sizeof(*d));
	char iommu[16];
	int ret;

	if (!d)
		return -ENOMEM;
	d->fd = -1;
	ret = kdev_parse_path(path, d->name, iommu, sizeof(iommu));
	d->mdev = ret == 0 && !strchr(d->name, ':');
	if (ret < 0) {
		log_err("type1: \"%s\": expected BDF|UUID[?iommu=type1|iommufd]", path);
		free(d);
		return ret;
	}
	pthread_mutex_lock(&t1_lock);
	ret = t1_open_locked(d);
	pthread_mutex_unlock(&t1_lock);
	if (ret == 0)
		ret = kdev_init(d);
	if (ret < 0) {
		if (d->backend) {
			kdev_fini(d);
			pthread_mutex_lock(&t1_lock);
			group_put(d->backend);
			pthread_mutex_unlock(&t1_lock);
		}
		free(d);
		return ret;
	}
	h->priv = d;
	return 0;
}

static void t1_close(struct uvfio_handle *h)
{
	struct kdev *d = h->priv;

	kdev_fini(d);
	pthread_mutex_lock(&t1_lock);
	group_put(d->backend);
	pthread_mutex_unlock(&t1_lock);
	free(d);
	h->priv = NULL;
}

/*
 * Moves the group of h from its own container into c. The kernel refuses to take a group out
 * of a container while a device fd is open, so the device fd is reopened: the device gets the
 * reset that any first open gives it.
 */
static int move_group(struct uvfio_handle *h, struct t1_container *c)
{
	struct kdev *d = h->priv;
	struct t1_group *g = d->backend;
	struct t1_container *old = g->c;
	int ret;

	if (g->users != 1 || old->ioas) {
		log_err("type1: %s: its IOMMU group %d is in use by another IOAS or device; devices "
			"of one group share one IOAS", d->name, g->id);
		return -EBUSY;
	}
	close(d->fd);
	d->fd = -1;
	ioctl(g->fd, VFIO_GROUP_UNSET_CONTAINER);
	old->groups--;
	ret = group_join(g, c);
	if (ret < 0 && group_join(g, old) < 0)
		log_err("type1: %s: group %d lost its container", d->name, g->id);
	if (ret == 0)
		container_free(old);
	d->fd = get_device_fd(g, d->name);
	if (d->fd < 0)
		return d->fd;
	log_info("type1: %s joined a shared container (device reopened)", d->name);
	return ret;
}

static int t1_attach(struct uvfio_handle *h, struct uvfio_ioas *ioas)
{
	struct t1_group *g = grp(h);
	void **slot = uvfio_ioas_backend_slot(ioas, &uvfio_kernel_type1_backend);
	int ret = 0;

	if (!slot)
		return -ENOSPC;
	pthread_mutex_lock(&t1_lock);
	if (!*slot && !g->c->ioas) {
		g->c->ioas = ioas;
		*slot = g->c;
	} else if (!*slot || (*slot != g->c && g->c->ioas)) {
		log_err("type1: %s: its IOMMU group %d already belongs to another IOAS", h->url,
			g->id);
		ret = -EBUSY;
	} else if (*slot != g->c) {
		ret = move_group(h, *slot);
	}
	if (ret == 0)
		g->c->attached++;
	pthread_mutex_unlock(&t1_lock);
	return ret;
}

static void t1_detach(struct uvfio_handle *h, struct uvfio_ioas *ioas)
{
	struct t1_group *g = grp(h);
	void **slot = uvfio_ioas_backend_slot(ioas, &uvfio_kernel_type1_backend);

	pthread_mutex_lock(&t1_lock);
	if (g->c->attached && !--g->c->attached) {
		g->c->ioas = NULL;
		if (slot)
			*slot = NULL;
	}
	pthread_mutex_unlock(&t1_lock);
}

static int t1_map(struct uvfio_handle *h, struct uvfio_ioas *ioas, uint64_t iova, uint64_t size,
		  uint32_t prot, int fd, uint64_t fd_offset, void *vaddr)
{
	struct t1_container *c = grp(h)->c;
	struct vfio_iommu_type1_dma_map map = {
		.argsz = sizeof(map), .vaddr = (uintptr_t)vaddr, .iova = iova, .size = size,
	};
	int ret;

	(void)ioas, (void)fd, (void)fd_offset;
	if (prot & UVFIO_IOAS_READ)
		map.flags |= VFIO_DMA_MAP_FLAG_READ;
	if (prot & UVFIO_IOAS_WRITE)
		map.flags |= VFIO_DMA_MAP_FLAG_WRITE;
	pthread_mutex_lock(&t1_lock);
	ret = kmaps_get(&c->maps, iova, size);
	if (ret == 1 && ioctl(c->fd, VFIO_IOMMU_MAP_DMA, &map) < 0) {
		ret = -errno;
		kmaps_forget(&c->maps, iova, size);
		log_err("type1: VFIO_IOMMU_MAP_DMA 0x%llx+0x%llx: %s", (unsigned long long)iova,
			(unsigned long long)size, strerror(-ret));
	}
	pthread_mutex_unlock(&t1_lock);
	return ret < 0 ? ret : 0;
}

static int t1_unmap(struct uvfio_handle *h, struct uvfio_ioas *ioas, uint64_t iova, uint64_t size)
{
	struct t1_container *c = grp(h)->c;
	struct vfio_iommu_type1_dma_unmap unmap = { .argsz = sizeof(unmap), .iova = iova,
						    .size = size };
	int ret;

	(void)ioas;
	pthread_mutex_lock(&t1_lock);
	ret = kmaps_put(&c->maps, iova, size);
	if (ret == 0 && ioctl(c->fd, VFIO_IOMMU_UNMAP_DMA, &unmap) < 0)
		ret = -errno;
	pthread_mutex_unlock(&t1_lock);
	return ret < 0 ? ret : 0;
}

int type1_parse_iova_cap(const uint8_t *buf, size_t len, uint32_t off, struct uvfio_iova_range *r,
			 size_t max, size_t *count)
{
	for (int n = 0; off; n++) {
		struct vfio_info_cap_header hdr;
		struct vfio_iommu_type1_info_cap_iova_range cap;

		if (n == 64 || off < sizeof(struct vfio_iommu_type1_info) ||
		    (size_t)off + sizeof(hdr) > len)
			return -EPROTO;
		memcpy(&hdr, buf + off, sizeof(hdr));
		if (hdr.id != VFIO_IOMMU_TYPE1_INFO_CAP_IOVA_RANGE) {
			off = hdr.next;
			continue;
		}
		if ((size_t)off + sizeof(cap) > len)
			return -EPROTO;
		memcpy(&cap, buf + off, sizeof(cap));
		if ((size_t)off + sizeof(cap) + (size_t)cap.nr_iovas * sizeof(struct vfio_iova_range) >
		    len)
			return -EPROTO;
		for (uint32_t i = 0; i < cap.nr_iovas && i < max; i++) {
			struct vfio_iova_range vr;

			memcpy(&vr, buf + off + sizeof(cap) + i * sizeof(vr), sizeof(vr));
			r[i].start = vr.start;
			r[i].last = vr.end;
		}
		*count = cap.nr_iovas;
		return 0;
	}
	return -ENODATA;
}

int type1_iova_ranges(struct uvfio_ioas *ioas, struct uvfio_iova_range *r, size_t max,
		      size_t *count)
{
	void **slot = uvfio_ioas_backend_slot(ioas, &uvfio_kernel_type1_backend);
	struct vfio_iommu_type1_info *info = NULL;
	uint32_t argsz = sizeof(*info);
	int ret = -ENODEV;

	pthread_mutex_lock(&t1_lock);
	for (int tries = 0; slot && *slot && tries < 3; tries++) {
		struct t1_container *c = *slot;

		free(info);
		info = calloc(1, argsz);
		if (!info) {
			ret = -ENOMEM;
			break;
		}
		info->argsz = argsz;
		if (ioctl(c->fd, VFIO_IOMMU_GET_INFO, info) < 0) {
			ret = -errno;
			break;
		}
		if (info->argsz > argsz && info->argsz < (64u << 10)) {
			argsz = info->argsz;
			continue;
		}
		ret = -ENODATA;
		if (info->flags & VFIO_IOMMU_INFO_CAPS)
			ret = type1_parse_iova_cap((const uint8_t *)info, argsz, info->cap_offset,
						   r, max, count);
		break;
	}
	pthread_mutex_unlock(&t1_lock);
	free(info);
	return ret;
}

const struct uvfio_backend_ops uvfio_kernel_type1_backend = {
	.name = "vfio-type1",
	.open = t1_open,
	.close = t1_close,
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
	.ioas_attach = t1_attach,
	.ioas_detach = t1_detach,
	.dma_map = t1_map,
	.dma_unmap = t1_unmap,
};
