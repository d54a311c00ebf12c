/* SPDX-License-Identifier: MIT */
/* The device's ioeventfd table: what GET_REGION_IO_FDS tells a client it may signal. */
#include <errno.h>
#include <stdlib.h>

#include "device/device_priv.h"
#include "util/log.h"

#define MAX_IOEVENTFDS 4096

int uvfio_device_add_ioeventfd(struct uvfio_device *dev, uint32_t index, uint64_t offset,
			       uint32_t size, int fd, uint32_t flags, uint64_t datamatch)
{
	if (!dev || fd < 0 || index >= dev->num_regions || (flags & ~UVFIO_IOEVENTFD_DATAMATCH))
		return -EINVAL;
	if (size != 1 && size != 2 && size != 4 && size != 8)
		return -EINVAL;
	uint64_t rsize = dev->regions[index].size;
	if (offset >= rsize || size > rsize - offset || offset % size)
		return -EINVAL;
	if (!(flags & UVFIO_IOEVENTFD_DATAMATCH))
		datamatch = 0;
	int ret = 0;
	pthread_mutex_lock(&dev->ioefd_lock);
	for (unsigned i = 0; i < dev->nr_ioefds; i++) {
		struct uvfio_ioeventfd *e = &dev->ioefds[i];
		if (e->index == index && e->offset == offset && e->fd == fd &&
		    e->flags == flags && e->datamatch == datamatch) {
			ret = -EEXIST;
			goto out;
		}
	}
	if (dev->nr_ioefds == dev->cap_ioefds) {
		unsigned cap = dev->cap_ioefds ? dev->cap_ioefds * 2 : 16;
		if (cap > MAX_IOEVENTFDS) {
			ret = -ENOSPC;
			goto out;
		}
		struct uvfio_ioeventfd *v = realloc(dev->ioefds, cap * sizeof(*v));
		if (!v) {
			ret = -ENOMEM;
			goto out;
		}
		dev->ioefds = v;
		dev->cap_ioefds = cap;
	}
	dev->ioefds[dev->nr_ioefds++] = (struct uvfio_ioeventfd){
		.index = index,
		.size = size,
		.offset = offset,
		.datamatch = datamatch,
		.flags = flags,
		.fd = fd,
	};
out:
	pthread_mutex_unlock(&dev->ioefd_lock);
	return ret;
}

int uvfio_device_del_ioeventfd(struct uvfio_device *dev, uint32_t index, uint64_t offset, int fd)
{
	if (!dev)
		return -EINVAL;
	unsigned removed = 0;
	pthread_mutex_lock(&dev->ioefd_lock);
	for (unsigned i = 0; i < dev->nr_ioefds;) {
		struct uvfio_ioeventfd *e = &dev->ioefds[i];
		if (e->index == index && e->offset == offset && e->fd == fd) {
			/* Keep registration order: clients see entries in the order added. */
			for (unsigned j = i + 1; j < dev->nr_ioefds; j++)
				dev->ioefds[j - 1] = dev->ioefds[j];
			dev->nr_ioefds--;
			removed++;
		} else {
			i++;
		}
	}
	pthread_mutex_unlock(&dev->ioefd_lock);
	return removed ? 0 : -ENOENT;
}

void uvfio_device_clear_ioeventfds(struct uvfio_device *dev)
{
	if (!dev)
		return;
	pthread_mutex_lock(&dev->ioefd_lock);
	dev->nr_ioefds = 0;
	pthread_mutex_unlock(&dev->ioefd_lock);
}

int uvfio_device_get_ioeventfds(struct uvfio_device *dev, uint32_t index,
				struct uvfio_ioeventfd *out, unsigned max)
{
	if (!dev || index >= dev->num_regions || (max && !out))
		return -EINVAL;
	unsigned n = 0;
	pthread_mutex_lock(&dev->ioefd_lock);
	for (unsigned i = 0; i < dev->nr_ioefds; i++) {
		if (dev->ioefds[i].index != index)
			continue;
		if (n < max)
			out[n] = dev->ioefds[i];
		n++;
	}
	pthread_mutex_unlock(&dev->ioefd_lock);
	return (int)n;
}

void ioeventfd_free_all(struct uvfio_device *dev)
{
	free(dev->ioefds);
	dev->ioefds = NULL;
	dev->nr_ioefds = dev->cap_ioefds = 0;
}
