/* SPDX-License-Identifier: MIT */
/*
 * The device-fd half of kernel VFIO, the same for the type1 and iommufd paths: info with
 * capability chains, region access at the region's fd offset, mmap, SET_IRQS, reset, features.
 * Everything the kernel returns is still checked (argsz, chain offsets) before it is used.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <unistd.h>

#include "kernel/kernel_priv.h"
#include "util/log.h"
#include "util/vfio_compat.h"

#define KDEV_MAX_RW (1u << 20)
#define KDEV_MAX_INFO (64u << 10) /* a larger region info is not believed */
#define KDEV_MAX_CAPS 64

static struct kdev *kd(struct uvfio_handle *h)
{
	return h->priv;
}

int kdev_init(struct kdev *d)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	if (ioctl(d->fd, VFIO_DEVICE_GET_INFO, &info) < 0) {
		int ret = -errno;

		log_err("%s: VFIO_DEVICE_GET_INFO: %s", d->name, strerror(errno));
		return ret;
	}
	d->num_regions = info.num_regions;
	d->region_offset = calloc(info.num_regions ? info.num_regions : 1, sizeof(uint64_t));
	if (!d->region_offset)
		return -ENOMEM;
	for (uint32_t i = 0; i < info.num_regions; i++)
		d->region_offset[i] = UINT64_MAX;
	return 0;
}

void kdev_fini(struct kdev *d)
{
	kmig_close(d);
	free(d->region_offset);
	d->region_offset = NULL;
	if (d->fd >= 0)
		close(d->fd);
	d->fd = -1;
}

int kdev_device_info(struct uvfio_handle *h, struct uvfio_device_info *out)
{
	struct vfio_device_info info = { .argsz = sizeof(info) };

	if (ioctl(kd(h)->fd, VFIO_DEVICE_GET_INFO, &info) < 0)
		return -errno;
	out->flags = info.flags;
	out->num_regions = info.num_regions;
	out->num_irqs = info.num_irqs;
	return 0;
}

/* Walks a capability chain inside buf[0..len); offsets are from the start of buf. */
int kdev_parse_region_caps(const uint8_t *buf, size_t len, uint32_t first,
			     struct uvfio_region_info *out)
{
	uint32_t off = first;

	for (int n = 0; off; n++) {
		struct vfio_info_cap_header hdr;

		if (n == KDEV_MAX_CAPS || off < sizeof(struct vfio_region_info) ||
		    (size_t)off + sizeof(hdr) > len)
			return -EPROTO;
		memcpy(&hdr, buf + off, sizeof(hdr));
		if (hdr.id == VFIO_REGION_INFO_CAP_SPARSE_MMAP) {
			struct vfio_region_info_cap_sparse_mmap sp;
			size_t need;

			if ((size_t)off + sizeof(sp) > len)
				return -EPROTO;
			memcpy(&sp, buf + off, sizeof(sp));
			need = sizeof(sp) + (size_t)sp.nr_areas * sizeof(sp.areas[0]);
			if ((size_t)off + need > len)
				return -EPROTO;
			/* More areas than the API holds: keep the first ones (mmap of a part). */
			out->nr_sparse = sp.nr_areas < 16 ? sp.nr_areas : 16;
			for (uint32_t i = 0; i < out->nr_sparse; i++) {
				struct vfio_region_sparse_mmap_area a;

				memcpy(&a, buf + off + sizeof(sp) + i * sizeof(a), sizeof(a));
				out->sparse[i].offset = a.offset;
				out->sparse[i].size = a.size;
			}
		} else if (hdr.id == VFIO_REGION_INFO_CAP_TYPE) {
			struct vfio_region_info_cap_type t;

			if ((size_t)off + sizeof(t) > len)
				return -EPROTO;
			memcpy(&t, buf + off, sizeof(t));
			out->has_type = true;
			out->type = t.type;
			out->subtype = t.subtype;
		} else if (hdr.id == VFIO_REGION_INFO_CAP_MSIX_MAPPABLE) {
			out->msix_mappable = true;
		}
		off = hdr.next;
	}
	return 0;
}

int kdev_region_info(struct uvfio_handle *h, uint32_t index, struct uvfio_region_info *out)
{
	struct kdev *d = kd(h);
	struct vfio_region_info *ri;
	uint32_t argsz = sizeof(*ri);
	int ret;

	for (int tries = 0;; tries++) {
		ri = calloc(1, argsz);
		if (!ri)
			return -ENOMEM;
		ri->argsz = argsz;
		ri->index = index;
		if (ioctl(d->fd, VFIO_DEVICE_GET_REGION_INFO, ri) < 0) {
			ret = -errno;
			free(ri);
			return ret;
		}
		/* The kernel raises argsz when the capabilities did not fit: ask again. */
		if (ri->argsz <= argsz)
			break;
		argsz = ri->argsz;
		free(ri);
		if (tries == 2 || argsz > KDEV_MAX_INFO)
			return -EPROTO;
	}
	memset(out, 0, sizeof(*out));
	out->index = index;
	out->flags = ri->flags & ~(uint32_t)VFIO_REGION_INFO_FLAG_CAPS;
	out->size = ri->size;
	out->offset = ri->offset;
	ret = 0;
	if (ri->flags & VFIO_REGION_INFO_FLAG_CAPS)
		ret = kdev_parse_region_caps((const uint8_t *)ri, argsz, ri->cap_offset, out);
	if (ret == 0 && index < d->num_regions)
		d->region_offset[index] = ri->offset;
	if (ret < 0)
		log_err("%s: region %u: malformed capability chain", d->name, index);
	free(ri);
	return ret;
}

static int region_offset(struct uvfio_handle *h, uint32_t index, uint64_t *off)
{
	struct kdev *d = kd(h);
	struct uvfio_region_info info;
	int ret;

	if (index >= d->num_regions)
		return -EINVAL;
	if (d->region_offset[index] == UINT64_MAX) {
		ret = kdev_region_info(h, index, &info);
		if (ret < 0)
			return ret;
	}
	*off = d->region_offset[index];
	return 0;
}

ssize_t kdev_region_rw(struct uvfio_handle *h, uint32_t index, uint64_t offset, void *buf,
		       size_t count, bool is_write, bool posted)
{
	uint64_t base;
	ssize_t n;
	int ret;

	(void)posted; /* the kernel completes every write before returning */
	ret = region_offset(h, index, &base);
	if (ret < 0)
		return ret;
	if (offset > INT64_MAX - base || count > KDEV_MAX_RW)
		return -EINVAL;
	if (is_write)
		n = pwrite(kd(h)->fd, buf, count, (off_t)(base + offset));
	else
		n = pread(kd(h)->fd, buf, count, (off_t)(base + offset));
	return n < 0 ? -errno : n;
}

size_t kdev_max_rw(struct uvfio_handle *h)
{
	(void)h;
	return KDEV_MAX_RW;
}

int kdev_region_mmap(struct uvfio_handle *h, uint32_t index, uint64_t offset, size_t len,
		     int prot, void **addr)
{
	uint64_t base;
	void *p;
	int ret;

	ret = region_offset(h, index, &base);
	if (ret < 0)
		return ret;
	if (!len || offset > INT64_MAX - base)
		return -EINVAL;
	p = mmap(NULL, len, prot, MAP_SHARED, kd(h)->fd, (off_t)(base + offset));
	if (p == MAP_FAILED)
		return -errno;
	*addr = p;
	return 0;
}

int kdev_irq_info(struct uvfio_handle *h, uint32_t index, struct uvfio_irq_info *out)
{
	struct vfio_irq_info info = { .argsz = sizeof(info), .index = index };

	if (ioctl(kd(h)->fd, VFIO_DEVICE_GET_IRQ_INFO, &info) < 0)
		return -errno;
	out->index = info.index;
	out->flags = info.flags;
	out->count = info.count;
	return 0;
}

int kdev_set_irqs(struct uvfio_handle *h, uint32_t flags, uint32_t index, uint32_t start,
		  uint32_t count, const void *data)
{
	struct vfio_irq_set *set;
	size_t each = 0, len;
	int ret = 0;

	if (flags & VFIO_IRQ_SET_DATA_BOOL)
		each = 1;
	else if (flags & VFIO_IRQ_SET_DATA_EVENTFD)
		each = sizeof(int32_t);
	if (each && count && !data)
		return -EINVAL;
	if (count > 4096)
		return -EINVAL;
	len = sizeof(*set) + each * count;
	set = calloc(1, len);
	if (!set)
		return -ENOMEM;
	set->argsz = (uint32_t)len;
	set->flags = flags;
	set->index = index;
	set->start = start;
	set->count = count;
	if (each && count)
		memcpy(set->data, data, each * count);
	if (ioctl(kd(h)->fd, VFIO_DEVICE_SET_IRQS, set) < 0)
		ret = -errno;
	free(set);
	return ret;
}

int kdev_reset(struct uvfio_handle *h)
{
	return ioctl(kd(h)->fd, VFIO_DEVICE_RESET) < 0 ? -errno : 0;
}

int kdev_feature(struct uvfio_handle *h, uint32_t flags, const void *data, size_t len, void *out,
		 size_t *out_len)
{
	struct vfio_device_feature *f;
	size_t room = len, total;
	int ret = 0;

	if (len && !data)
		return -EINVAL;
	ret = kmig_feature(h, flags, data, len, out, out_len);
	if (ret <= 0)
		return ret;
	ret = 0;
	if (out && out_len && *out_len > room)
		room = *out_len;
	if (room > KDEV_MAX_INFO)
		return -EINVAL;
	total = sizeof(*f) + room;
	f = calloc(1, total);
	if (!f)
		return -ENOMEM;
	f->argsz = (uint32_t)total;
	f->flags = flags;
	if (len)
		memcpy(f->data, data, len);
	if (ioctl(kd(h)->fd, VFIO_DEVICE_FEATURE, f) < 0)
		ret = -errno;
	/* GET fills the payload (its size is the one asked for: the kernel does not say). */
	if (ret == 0 && out && out_len)
		memcpy(out, f->data, *out_len);
	free(f);
	return ret;
}

int kdev_parse_path(const char *path, char name[UVFIO_MDEV_UUID_LEN], char *iommu,
		    size_t iommu_len)
{
	char buf[64];
	const char *q;
	size_t n;

	if (!path)
		return -EINVAL;
	q = strchr(path, '?');
	n = q ? (size_t)(q - path) : strlen(path);
	if (n >= sizeof(buf))
		return -EINVAL;
	memcpy(buf, path, n);
	buf[n] = '\0';
	if (uvfio_host_parse_bdf(buf, name) < 0 && uvfio_mdev_parse_uuid(buf, name) < 0)
		return -EINVAL;
	iommu[0] = '\0';
	if (!q)
		return 0;
	if (strncmp(q + 1, "iommu=", 6) != 0)
		return -EINVAL;
	q += 7;
	if (strcmp(q, "type1") != 0 && strcmp(q, "iommufd") != 0)
		return -EINVAL;
	if (strlen(q) >= iommu_len)
		return -EINVAL;
	strcpy(iommu, q);
	return 0;
}
