/* SPDX-License-Identifier: MIT */
/*
 * The client front: URL parsing, the handle, and argument checks before a backend is called.
 * Backends see only accesses they can do in one go (region_rw within max_rw).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "client/backend.h"
#include "util/log.h"

#define SCHEME_VFIO_USER "vfio-user:"
#define SCHEME_VFIO "vfio:"

static bool has_prefix(const char *s, const char *prefix)
{
	return strncmp(s, prefix, strlen(prefix)) == 0;
}

static const struct uvfio_backend_ops *kernel_backend(const char *path)
{
	return uvfio_kernel_backend_select(path);
}

/* Picks the backend for url; *path gets what follows the scheme. */
static int parse_url(const char *url, const struct uvfio_backend_ops **ops, const char **path)
{
	if (has_prefix(url, SCHEME_VFIO_USER)) {
		*ops = &uvfio_vfio_user_backend;
		*path = url + strlen(SCHEME_VFIO_USER);
	} else if (has_prefix(url, SCHEME_VFIO)) {
		*path = url + strlen(SCHEME_VFIO);
		if (!**path) {
			log_err("client: \"%s\": no PCI address after vfio:", url);
			return -EINVAL;
		}
		*ops = kernel_backend(*path);
		if (!*ops)
			return -ENOTSUP;
	} else if (url[0] == '/' || url[0] == '.' || !strchr(url, ':')) {
		/* A bare socket path. */
		*ops = &uvfio_vfio_user_backend;
		*path = url;
	} else {
		log_err("client: \"%s\": unknown URL scheme (vfio-user:PATH or vfio:BDF)", url);
		return -EINVAL;
	}
	if (!**path) {
		log_err("client: \"%s\": empty path", url);
		return -EINVAL;
	}
	return 0;
}

int uvfio_open(const char *url, struct uvfio_handle **out)
{
	const struct uvfio_backend_ops *ops = NULL;
	const char *path = NULL;
	struct uvfio_handle *h;
	int ret;

	if (!url || !out)
		return -EINVAL;
	ret = parse_url(url, &ops, &path);
	if (ret < 0)
		return ret;
	h = calloc(1, sizeof(*h));
	if (!h)
		return -ENOMEM;
	h->ops = ops;
	h->url = strdup(url);
	if (!h->url) {
		free(h);
		return -ENOMEM;
	}
	ret = ops->open(h, path);
	if (ret < 0) {
		free(h->url);
		free(h);
		return ret;
	}
	*out = h;
	return 0;
}

void uvfio_close(struct uvfio_handle *h)
{
	if (!h)
		return;
	if (h->ioas)
		uvfio_ioas_detach(h->ioas, h);
	h->ops->close(h);
	free(h->url);
	free(h);
}

const char *uvfio_backend_name(struct uvfio_handle *h)
{
	return h ? h->ops->name : NULL;
}

const char *uvfio_last_error(struct uvfio_handle *h)
{
	/* A copy per thread: another thread's next call cannot change it under the caller. */
	static __thread char buf[200];

	buf[0] = '\0';
	if (h && h->ops == &uvfio_vfio_user_backend)
		uvfio_vfio_user_last_error(h, buf, sizeof(buf));
	return buf;
}

int uvfio_set_msg_timeout(struct uvfio_handle *h, int timeout_ms)
{
	if (!h || timeout_ms < -1)
		return -EINVAL;
	if (h->ops != &uvfio_vfio_user_backend)
		return -ENOTSUP;
	return uvfio_vfio_user_set_timeout(h, timeout_ms);
}

int uvfio_get_device_info(struct uvfio_handle *h, struct uvfio_device_info *info)
{
	if (!h || !info)
		return -EINVAL;
	return h->ops->get_device_info(h, info);
}

int uvfio_get_region_info(struct uvfio_handle *h, uint32_t index, struct uvfio_region_info *info)
{
	if (!h || !info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	return h->ops->get_region_info(h, index, info);
}

static ssize_t region_rw(struct uvfio_handle *h, uint32_t index, uint64_t offset, void *buf,
			 size_t count, bool is_write, bool posted)
{
	size_t max, done = 0;

	if (!h || (!buf && count))
		return -EINVAL;
	if (offset + count < offset)
		return -EINVAL;
	max = h->ops->max_rw(h);
	if (!max)
		return -EIO;
	while (done < count) {
		size_t n = count - done < max ? count - done : max;
		ssize_t ret = h->ops->region_rw(h, index, offset + done, (uint8_t *)buf + done, n,
						is_write, posted);

		if (ret < 0)
			return ret;
		if ((size_t)ret != n)
			return -EIO;
		done += n;
	}
	return (ssize_t)done;
}

ssize_t uvfio_region_read(struct uvfio_handle *h, uint32_t index, uint64_t offset, void *buf,
			  size_t count)
{
	return region_rw(h, index, offset, buf, count, false, false);
}

ssize_t uvfio_region_write(struct uvfio_handle *h, uint32_t index, uint64_t offset,
			   const void *buf, size_t count)
{
	return region_rw(h, index, offset, (void *)buf, count, true, false);
}

int uvfio_region_write_posted(struct uvfio_handle *h, uint32_t index, uint64_t offset,
			      const void *buf, size_t count)
{
	ssize_t ret = region_rw(h, index, offset, (void *)buf, count, true, true);

	return ret < 0 ? (int)ret : 0;
}

int uvfio_region_mmap(struct uvfio_handle *h, uint32_t index, uint64_t offset, size_t len,
		      int prot, void **addr)
{
	if (!h || !addr || !len || offset + len < offset)
		return -EINVAL;
	if (!h->ops->region_mmap)
		return -ENOTSUP;
	return h->ops->region_mmap(h, index, offset, len, prot, addr);
}

int uvfio_region_ioeventfds(struct uvfio_handle *h, uint32_t index, struct uvfio_ioeventfd *out,
			    size_t max)
{
	if (!h || (max && !out))
		return -EINVAL;
	if (!h->ops->region_ioeventfds)
		return -ENOTSUP;
	return h->ops->region_ioeventfds(h, index, out, max);
}

int uvfio_region_munmap(struct uvfio_handle *h, void *addr, size_t len)
{
	if (!h || !addr || !len)
		return -EINVAL;
	return munmap(addr, len) < 0 ? -errno : 0;
}

int uvfio_config_read(struct uvfio_handle *h, uint32_t offset, void *val, size_t size)
{
	ssize_t ret;

	if (!val || !size)
		return -EINVAL;
	ret = uvfio_region_read(h, UVFIO_PCI_CONFIG_REGION, offset, val, size);
	return ret < 0 ? (int)ret : 0;
}

int uvfio_config_write(struct uvfio_handle *h, uint32_t offset, const void *val, size_t size)
{
	ssize_t ret;

	if (!val || !size)
		return -EINVAL;
	ret = uvfio_region_write(h, UVFIO_PCI_CONFIG_REGION, offset, val, size);
	return ret < 0 ? (int)ret : 0;
}

int uvfio_get_irq_info(struct uvfio_handle *h, uint32_t index, struct uvfio_irq_info *info)
{
	if (!h || !info)
		return -EINVAL;
	memset(info, 0, sizeof(*info));
	return h->ops->get_irq_info(h, index, info);
}

/* Exactly one DATA_* and one ACTION_* bit, as VFIO_DEVICE_SET_IRQS demands. */
static bool one_bit(uint32_t v)
{
	return v && !(v & (v - 1));
}

int uvfio_set_irqs(struct uvfio_handle *h, uint32_t flags, uint32_t index, uint32_t start,
		   uint32_t count, const void *data)
{
	const uint32_t data_mask = UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_DATA_BOOL |
				   UVFIO_IRQ_SET_DATA_EVENTFD;
	const uint32_t action_mask = UVFIO_IRQ_SET_ACTION_MASK | UVFIO_IRQ_SET_ACTION_UNMASK |
				     UVFIO_IRQ_SET_ACTION_TRIGGER;

	if (!h || (flags & ~(data_mask | action_mask)))
		return -EINVAL;
	if (!one_bit(flags & data_mask) || !one_bit(flags & action_mask))
		return -EINVAL;
	if (start + count < start)
		return -EINVAL;
	if (!(flags & UVFIO_IRQ_SET_DATA_NONE) && count && !data)
		return -EINVAL;
	return h->ops->set_irqs(h, flags, index, start, count, data);
}

int uvfio_irq_enable(struct uvfio_handle *h, uint32_t index, uint32_t start, uint32_t count,
		     const int *eventfds)
{
	if (!count || !eventfds)
		return -EINVAL;
	return uvfio_set_irqs(h, UVFIO_IRQ_SET_DATA_EVENTFD | UVFIO_IRQ_SET_ACTION_TRIGGER, index,
			      start, count, eventfds);
}

int uvfio_irq_disable(struct uvfio_handle *h, uint32_t index)
{
	return uvfio_set_irqs(h, UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_TRIGGER, index, 0,
			      0, NULL);
}

int uvfio_irq_mask(struct uvfio_handle *h, uint32_t index, uint32_t vector)
{
	return uvfio_set_irqs(h, UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_MASK, index, vector,
			      1, NULL);
}

int uvfio_irq_unmask(struct uvfio_handle *h, uint32_t index, uint32_t vector)
{
	return uvfio_set_irqs(h, UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_UNMASK, index,
			      vector, 1, NULL);
}

int uvfio_reset(struct uvfio_handle *h)
{
	if (!h)
		return -EINVAL;
	return h->ops->reset(h);
}

int uvfio_device_feature_call(struct uvfio_handle *h, uint32_t flags, const void *data,
			      size_t len, void *out, size_t *out_len)
{
	if (!h || (len && !data) || (out && !out_len))
		return -EINVAL;
	if (!h->ops->device_feature)
		return -ENOTTY;
	return h->ops->device_feature(h, flags, data, len, out, out_len);
}
