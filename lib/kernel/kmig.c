/* SPDX-License-Identifier: MIT */
/*
 * Kernel VFIO migration for the client: the features whose kernel structs differ from the
 * inline layouts uvfio passes around (DMA logging takes pointers; MIG_DEVICE_STATE returns an
 * fd), and the data_fd of the current session, which the backend keeps.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <uvfio/migration.h>

#include "kernel/kernel_priv.h"
#include "util/log.h"
#include "util/vfio_compat.h"

#define KMIG_MAX_RANGES (1u << 16)
#define KMIG_MAX_BITMAP (64u << 20)

static struct kdev *kd(struct uvfio_handle *h)
{
	return h->priv;
}

void kmig_close(struct kdev *d)
{
	if (d->has_mig_fd)
		close(d->mig_fd);
	d->has_mig_fd = false;
}

/* Argument of VFIO_DEVICE_FEATURE: struct vfio_device_feature's argsz and flags, then one
 * payload struct (spelled out: a struct ending in a flexible array cannot be embedded). */
struct feature_buf {
	uint32_t argsz;
	uint32_t flags;
	union {
		struct vfio_device_feature_mig_state state;
		struct vfio_device_feature_dma_logging_control control;
		struct vfio_device_feature_dma_logging_report report;
	} u;
};

_Static_assert(offsetof(struct feature_buf, u) == sizeof(struct vfio_device_feature),
	       "payload where the kernel expects it");

static int ioctl_feature(struct kdev *d, uint32_t flags, struct feature_buf *b, size_t payload)
{
	b->argsz = (uint32_t)(offsetof(struct feature_buf, u) + payload);
	b->flags = flags;
	return ioctl(d->fd, VFIO_DEVICE_FEATURE, b) < 0 ? -errno : 0;
}

static int set_state(struct kdev *d, uint32_t flags, const void *data, size_t len, void *out,
		     size_t *out_len)
{
	struct uvfio_feature_mig_state in, rep;
	struct feature_buf b = { 0 };

	if (len != sizeof(in) || (out && *out_len < sizeof(rep)))
		return -EINVAL;
	memcpy(&in, data, sizeof(in));
	b.u.state.device_state = in.device_state;
	b.u.state.data_fd = -1;
	int ret = ioctl_feature(d, flags, &b, sizeof(b.u.state));
	if (ret < 0)
		return ret;
	/* A new session's fd replaces the last one; arcs that keep the session return none. */
	if (b.u.state.data_fd >= 0) {
		kmig_close(d);
		d->mig_fd = b.u.state.data_fd;
		d->has_mig_fd = true;
	}
	rep = (struct uvfio_feature_mig_state){ .device_state = in.device_state, .data_fd = -1 };
	if (out) {
		memcpy(out, &rep, sizeof(rep));
		*out_len = sizeof(rep);
	}
	return 0;
}

static int logging_start(struct kdev *d, uint32_t flags, const void *data, size_t len, void *out,
			 size_t *out_len)
{
	struct uvfio_feature_logging_control ctl;
	struct feature_buf b = { 0 };

	if (len < sizeof(ctl))
		return -EINVAL;
	memcpy(&ctl, data, sizeof(ctl));
	if (ctl.num_ranges > KMIG_MAX_RANGES ||
	    len != sizeof(ctl) + (size_t)ctl.num_ranges * sizeof(struct uvfio_dirty_range) ||
	    (out && *out_len < len))
		return -EINVAL;
	struct vfio_device_feature_dma_logging_range *r = calloc(ctl.num_ranges + 1, sizeof(*r));
	if (!r)
		return -ENOMEM;
	memcpy(r, (const uint8_t *)data + sizeof(ctl), len - sizeof(ctl));
	b.u.control.page_size = ctl.page_size;
	b.u.control.num_ranges = ctl.num_ranges;
	b.u.control.ranges = (uintptr_t)r;
	int ret = ioctl_feature(d, flags, &b, sizeof(b.u.control));
	free(r);
	if (ret == 0 && out) {
		memcpy(out, data, len); /* the kernel keeps the page size it was given */
		*out_len = len;
	}
	return ret;
}

static int logging_report(struct kdev *d, uint32_t flags, const void *data, size_t len, void *out,
			  size_t *out_len)
{
	struct uvfio_feature_logging_report q;
	struct feature_buf b = { 0 };

	if (len != sizeof(q) || !out || !out_len)
		return -EINVAL;
	memcpy(&q, data, sizeof(q));
	if (!q.page_size || !q.length)
		return -EINVAL;
	uint64_t words = (q.length / q.page_size + 63) / 64;
	if (words > KMIG_MAX_BITMAP / 8)
		return -EINVAL;
	size_t bytes = (size_t)words * 8;
	if (*out_len < sizeof(q) + bytes)
		return -ENOSPC;
	uint64_t *bitmap = calloc(words, 8); /* the kernel only sets bits */
	if (!bitmap)
		return -ENOMEM;
	b.u.report.iova = q.iova;
	b.u.report.length = q.length;
	b.u.report.page_size = q.page_size;
	b.u.report.bitmap = (uintptr_t)bitmap;
	int ret = ioctl_feature(d, flags, &b, sizeof(b.u.report));
	if (ret == 0) {
		memcpy(out, &q, sizeof(q));
		memcpy((uint8_t *)out + sizeof(q), bitmap, bytes);
		*out_len = sizeof(q) + bytes;
	}
	free(bitmap);
	return ret;
}

int kmig_feature(struct uvfio_handle *h, uint32_t flags, const void *data, size_t len, void *out,
		 size_t *out_len)
{
	uint32_t op = flags & ~VFIO_DEVICE_FEATURE_MASK;

	if (out && !out_len)
		return -EINVAL;
	switch (flags & VFIO_DEVICE_FEATURE_MASK) {
	case VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE:
		if (op == VFIO_DEVICE_FEATURE_SET)
			return set_state(kd(h), flags, data, len, out, out_len);
		return 1;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_START:
		if (op == VFIO_DEVICE_FEATURE_SET)
			return logging_start(kd(h), flags, data, len, out, out_len);
		return 1;
	case VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT:
		if (op == VFIO_DEVICE_FEATURE_GET)
			return logging_report(kd(h), flags, data, len, out, out_len);
		return 1;
	default:
		return 1;
	}
}

/* Reads until count bytes or the end of what the device has now (0, or ENOMSG in PRE_COPY),
 * so that a short result means "no more data" as over vfio-user. */
ssize_t kmig_data_rw(struct uvfio_handle *h, void *buf, size_t count, bool is_write)
{
	struct kdev *d = kd(h);
	size_t done = 0;

	if (!d->has_mig_fd) {
		log_warn("%s: no migration data session", d->name);
		return -EINVAL;
	}
	while (done < count) {
		ssize_t n = is_write ? write(d->mig_fd, (uint8_t *)buf + done, count - done) :
				       read(d->mig_fd, (uint8_t *)buf + done, count - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == ENOMSG && !is_write)
			break;
		if (n < 0)
			return done ? (ssize_t)done : -errno;
		if (n == 0) {
			if (is_write)
				return -EIO;
			break;
		}
		done += (size_t)n;
	}
	return (ssize_t)done;
}

int kmig_precopy_info(struct uvfio_handle *h, uint64_t *initial_bytes, uint64_t *dirty_bytes)
{
	struct kdev *d = kd(h);
	struct vfio_precopy_info info = { .argsz = sizeof(info) };

	if (!d->has_mig_fd)
		return -EINVAL;
	if (ioctl(d->mig_fd, VFIO_MIG_GET_PRECOPY_INFO, &info) < 0)
		return -errno;
	*initial_bytes = info.initial_bytes;
	*dirty_bytes = info.dirty_bytes;
	return 0;
}
