/* SPDX-License-Identifier: MIT */
/* The device core: region table, lifecycle and the entry points a transport calls. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include <uvfio/dma.h>

#include "device/device_priv.h"
#include "util/log.h"

struct uvfio_device *uvfio_device_new(const struct uvfio_device_ops *ops, uint32_t flags,
				      uint32_t num_regions, uint32_t num_irqs)
{
	if (num_regions > UVFIO_MAX_REGIONS || num_irqs > UVFIO_MAX_IRQS) {
		log_err("device: %u regions / %u irqs exceed the limits (%u / %u)", num_regions,
			num_irqs, UVFIO_MAX_REGIONS, UVFIO_MAX_IRQS);
		return NULL;
	}
	struct uvfio_device *dev = calloc(1, sizeof(*dev));
	if (!dev)
		return NULL;
	dev->dma = uvfio_dma_space_new();
	if (!dev->dma) {
		free(dev);
		return NULL;
	}
	if (pthread_mutex_init(&dev->irq_lock, NULL) != 0) {
		uvfio_dma_space_free(dev->dma);
		free(dev);
		return NULL;
	}
	if (pthread_mutex_init(&dev->ioefd_lock, NULL) != 0) {
		pthread_mutex_destroy(&dev->irq_lock);
		uvfio_dma_space_free(dev->dma);
		free(dev);
		return NULL;
	}
	dev->ops = ops;
	dev->flags = flags;
	dev->num_regions = num_regions;
	dev->num_irqs = num_irqs;
	for (uint32_t i = 0; i < UVFIO_MAX_REGIONS; i++)
		dev->regions[i].mmap_fd = -1;
	snprintf(dev->name, sizeof(dev->name), "%s", ops && ops->name ? ops->name : "device");
	return dev;
}

void uvfio_device_free(struct uvfio_device *dev)
{
	if (!dev)
		return;
	irq_free_all(dev);
	/* Before the driver frees its state: a saving session may point into it (sections by
	 * reference) and its writer may still be hashing them. */
	device_mig_end_session(dev);
	if (dev->ops && dev->ops->release)
		dev->ops->release(dev);
	device_mig_free(dev);
	uvfio_dma_space_free(dev->dma);
	ioeventfd_free_all(dev);
	pthread_mutex_destroy(&dev->ioefd_lock);
	pthread_mutex_destroy(&dev->irq_lock);
	free(dev);
}

void uvfio_device_set_ops(struct uvfio_device *dev, const struct uvfio_device_ops *ops)
{
	dev->ops = ops;
}

const struct uvfio_device_ops *uvfio_device_get_ops(struct uvfio_device *dev)
{
	return dev->ops;
}

void uvfio_device_set_priv(struct uvfio_device *dev, void *priv)
{
	dev->priv = priv;
}

void *uvfio_device_priv(struct uvfio_device *dev)
{
	return dev->priv;
}

void uvfio_device_set_name(struct uvfio_device *dev, const char *name)
{
	snprintf(dev->name, sizeof(dev->name), "%s", name ? name : "");
}

const char *uvfio_device_name(struct uvfio_device *dev)
{
	return dev->name;
}

int uvfio_device_set_region(struct uvfio_device *dev, uint32_t index,
			    const struct uvfio_region *region)
{
	if (index >= UVFIO_MAX_REGIONS || !region)
		return -EINVAL;
	if (region->size && !region->rw)
		return -EINVAL;
	if (region->nr_sparse && !region->sparse)
		return -EINVAL;
	dev->regions[index] = *region;
	/* A device-specific region past the bus's fixed ones grows the table clients see. */
	if (index >= dev->num_regions)
		dev->num_regions = index + 1;
	return 0;
}

const struct uvfio_region *uvfio_device_get_region(struct uvfio_device *dev, uint32_t index)
{
	if (index >= dev->num_regions)
		return NULL;
	return &dev->regions[index];
}

uint32_t uvfio_device_flags(struct uvfio_device *dev)
{
	return dev->flags;
}

uint32_t uvfio_device_num_regions(struct uvfio_device *dev)
{
	return dev->num_regions;
}

uint32_t uvfio_device_num_irqs(struct uvfio_device *dev)
{
	return dev->num_irqs;
}

ssize_t uvfio_device_region_rw(struct uvfio_device *dev, uint32_t index, uint64_t offset,
			       void *buf, size_t count, bool is_write)
{
	if (index >= dev->num_regions || !buf || count == 0)
		return -EINVAL;
	const struct uvfio_region *r = &dev->regions[index];
	if (r->size == 0 || !r->rw)
		return -EINVAL;
	if (!(r->flags & (is_write ? UVFIO_REGION_WRITE : UVFIO_REGION_READ)))
		return -EINVAL;
	/* Written so that offset + count cannot wrap. */
	if (offset >= r->size || count > r->size - offset)
		return -EINVAL;
	int ret = device_mig_check_region(dev, index, is_write);
	if (ret < 0)
		return ret;
	return r->rw(dev, index, offset, buf, count, is_write);
}

int uvfio_device_reset(struct uvfio_device *dev)
{
	if (!(dev->flags & UVFIO_DEVICE_FLAGS_RESET) || !dev->ops || !dev->ops->reset)
		return -ENOTTY;
	int ret = dev->ops->reset(dev);
	if (ret == 0)
		device_mig_reset(dev, false);
	return ret;
}

int uvfio_device_open(struct uvfio_device *dev)
{
	if (dev->opened)
		return -EBUSY;
	if (dev->ops && dev->ops->open) {
		int ret = dev->ops->open(dev);
		if (ret < 0)
			return ret;
	}
	dev->opened = true;
	return 0;
}

void uvfio_device_close(struct uvfio_device *dev)
{
	/* The driver stops its work first so nothing DMAs into windows we are about to unmap. */
	if (dev->ops && dev->ops->close)
		dev->ops->close(dev);
	uvfio_dma_space_remove_all(dev->dma);
	for (uint32_t i = 0; i < dev->num_irqs; i++)
		irq_index_disable(dev, i);
	if (dev->ops && dev->ops->reset)
		dev->ops->reset(dev);
	device_mig_reset(dev, true);
	dev->opened = false;
}

int uvfio_device_feature(struct uvfio_device *dev, uint32_t flags, const void *data, size_t len,
			 void *out, size_t *out_len)
{
	const uint32_t known = VFIO_DEVICE_FEATURE_MASK | VFIO_DEVICE_FEATURE_GET |
			       VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_PROBE;
	if (flags & ~known)
		return -EINVAL;
	/* GET and SET are exclusive unless probing for both (uapi rule). */
	if ((flags & VFIO_DEVICE_FEATURE_GET) && (flags & VFIO_DEVICE_FEATURE_SET) &&
	    !(flags & VFIO_DEVICE_FEATURE_PROBE))
		return -EINVAL;
	if (len && !data)
		return -EINVAL;
	if ((flags & VFIO_DEVICE_FEATURE_GET) && !(flags & VFIO_DEVICE_FEATURE_PROBE) &&
	    (!out || !out_len))
		return -EINVAL;
	int ret = device_mig_feature(dev, flags, data, len, out, out_len);
	if (ret != -ENOTTY)
		return ret;
	if (!dev->ops || !dev->ops->feature)
		return -ENOTTY;
	return dev->ops->feature(dev, flags, data, len, out, out_len);
}

struct uvfio_dma_space *uvfio_device_dma_space(struct uvfio_device *dev)
{
	return dev->dma;
}

void uvfio_device_set_fd_watcher(struct uvfio_device *dev, uvfio_fd_watch_fn watch,
				 uvfio_fd_unwatch_fn unwatch, void *loop)
{
	dev->watch = watch;
	dev->unwatch = unwatch;
	dev->loop = loop;
}
