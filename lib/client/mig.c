/* SPDX-License-Identifier: MIT */
/*
 * The client's migration and DMA logging calls, the same over every backend: the features go
 * through the backend's device_feature in the inline layouts, stream bytes through mig_data_rw.
 * Every reply is checked (sizes, echoed fields, state numbers) before the caller sees it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/client.h>
#include <uvfio/migration.h>

#include "client/backend.h"
#include "util/log.h"
#include "util/vfio_compat.h"

/* GET of a feature whose reply has exactly want bytes. */
static int feature_get(struct uvfio_handle *h, uint32_t feature, const void *data, size_t len,
		       void *out, size_t want)
{
	size_t out_len = want;
	int ret;

	if (!h)
		return -EINVAL;
	if (!h->ops->device_feature)
		return -ENOTTY;
	ret = h->ops->device_feature(h, VFIO_DEVICE_FEATURE_GET | feature, data, len, out,
				     &out_len);
	if (ret < 0)
		return ret;
	if (out_len != want) {
		log_err("client: feature %u returned %zu bytes, expected %zu", feature, out_len,
			want);
		return -EPROTO;
	}
	return 0;
}

/* SET; out (may be NULL) receives the echoed payload, which must have len bytes. */
static int feature_set(struct uvfio_handle *h, uint32_t feature, const void *data, size_t len,
		       void *out)
{
	size_t out_len = len;
	int ret;

	if (!h)
		return -EINVAL;
	if (!h->ops->device_feature)
		return -ENOTTY;
	ret = h->ops->device_feature(h, VFIO_DEVICE_FEATURE_SET | feature, data, len, out,
				     out ? &out_len : NULL);
	if (ret == 0 && out && out_len != len) {
		log_err("client: feature %u echoed %zu bytes of %zu", feature, out_len, len);
		return -EPROTO;
	}
	return ret;
}

int uvfio_mig_get_flags(struct uvfio_handle *h, uint32_t *flags)
{
	uint64_t f;
	int ret;

	if (!flags)
		return -EINVAL;
	ret = feature_get(h, VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0, &f, sizeof(f));
	if (ret < 0)
		return ret;
	if (f > UINT32_MAX || !uvfio_mig_flags_valid((uint32_t)f)) {
		log_err("client: device reports migration flags 0x%llx", (unsigned long long)f);
		return -EPROTO;
	}
	*flags = (uint32_t)f;
	return 0;
}

int uvfio_mig_get_state(struct uvfio_handle *h, uint32_t *state)
{
	struct uvfio_feature_mig_state s;
	int ret;

	if (!state)
		return -EINVAL;
	ret = feature_get(h, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, NULL, 0, &s, sizeof(s));
	if (ret < 0)
		return ret;
	if (s.device_state >= UVFIO_MIG_STATE_NR) {
		log_err("client: device reports migration state %u", s.device_state);
		return -EPROTO;
	}
	*state = s.device_state;
	return 0;
}

/* One arc: the reply must name the state asked for. */
static int set_one(struct uvfio_handle *h, uint32_t state)
{
	struct uvfio_feature_mig_state s = { .device_state = state, .data_fd = -1 }, rep;
	int ret = feature_set(h, VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &s, sizeof(s), &rep);

	if (ret < 0)
		return ret;
	if (rep.device_state != state) {
		log_err("client: device went to state %u when asked for %u", rep.device_state,
			state);
		return -EPROTO;
	}
	return 0;
}

int uvfio_mig_set_state(struct uvfio_handle *h, uint32_t target, struct uvfio_mig_path *path)
{
	uint32_t flags, cur, next;
	int ret;

	if (path)
		path->nr_arcs = 0;
	ret = uvfio_mig_get_flags(h, &flags);
	if (ret == 0)
		ret = uvfio_mig_get_state(h, &cur);
	if (ret < 0)
		return ret;
	/* The whole path is known good before the first arc, as in uvfio_mig_walk(). */
	ret = uvfio_mig_next_state(flags, cur, target, &next);
	if (ret < 0)
		return ret;
	for (unsigned n = 0; cur != target; n++) {
		ret = uvfio_mig_next_state(flags, cur, target, &next);
		if (ret == 0 && n == UVFIO_MIG_MAX_ARCS)
			ret = -ELOOP; /* the table never needs that many */
		if (ret == 0)
			ret = set_one(h, next);
		if (ret < 0) {
			uint32_t now = UVFIO_MIG_STATE_ERROR;
			uvfio_mig_get_state(h, &now);
			log_warn("client: %s -> %s failed (%s); device in %s",
				 uvfio_mig_state_name(cur), uvfio_mig_state_name(next),
				 strerror(-ret), uvfio_mig_state_name(now));
			return ret;
		}
		if (path)
			path->arcs[path->nr_arcs++] = (struct uvfio_mig_arc){ (uint8_t)cur,
									     (uint8_t)next };
		cur = next;
	}
	return 0;
}

/* Moves len bytes in pieces of at most max_rw; a read stops at the first short piece. */
static ssize_t data_rw(struct uvfio_handle *h, void *buf, size_t len, bool is_write)
{
	size_t done = 0;

	if (!h || (len && !buf))
		return -EINVAL;
	if (!h->ops->mig_data_rw)
		return -ENOTTY;
	size_t max = h->ops->max_rw(h);
	while (done < len) {
		size_t n = len - done < max ? len - done : max;
		ssize_t got = h->ops->mig_data_rw(h, (uint8_t *)buf + done, n, is_write);
		if (got < 0)
			return done ? (ssize_t)done : got;
		if ((size_t)got > n || (is_write && (size_t)got != n)) {
			log_err("client: migration data %s moved %zd of %zu bytes",
				is_write ? "write" : "read", got, n);
			return -EPROTO;
		}
		done += (size_t)got;
		if ((size_t)got < n)
			break;
	}
	return (ssize_t)done;
}

ssize_t uvfio_mig_read(struct uvfio_handle *h, void *buf, size_t len)
{
	return data_rw(h, buf, len, false);
}

ssize_t uvfio_mig_write(struct uvfio_handle *h, const void *buf, size_t len)
{
	return data_rw(h, (void *)buf, len, true);
}

int uvfio_mig_precopy_info(struct uvfio_handle *h, uint64_t *initial_bytes,
			   uint64_t *dirty_bytes)
{
	if (!h || !initial_bytes || !dirty_bytes)
		return -EINVAL;
	if (!h->ops->mig_precopy_info)
		return -ENOTSUP;
	return h->ops->mig_precopy_info(h, initial_bytes, dirty_bytes);
}

int uvfio_mig_data_size(struct uvfio_handle *h, uint64_t *stop_copy_bytes)
{
	if (!stop_copy_bytes)
		return -EINVAL;
	return feature_get(h, VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, NULL, 0, stop_copy_bytes,
			   sizeof(*stop_copy_bytes));
}

static bool pow2(uint64_t x)
{
	return x && !(x & (x - 1));
}

int uvfio_dirty_start(struct uvfio_handle *h, const struct uvfio_dirty_range *ranges,
		      uint32_t nr, uint64_t *page_size)
{
	struct uvfio_feature_logging_control ctl = { .num_ranges = nr }, rep;

	if (!h || !ranges || !nr || !page_size || !pow2(*page_size))
		return -EINVAL;
	size_t len = sizeof(ctl) + (size_t)nr * sizeof(*ranges);
	if (nr > h->ops->max_rw(h) / sizeof(*ranges) || len > h->ops->max_rw(h))
		return -E2BIG;
	uint8_t *buf = malloc(2 * len);
	if (!buf)
		return -ENOMEM;
	ctl.page_size = *page_size;
	memcpy(buf, &ctl, sizeof(ctl));
	memcpy(buf + sizeof(ctl), ranges, (size_t)nr * sizeof(*ranges));
	int ret = feature_set(h, VFIO_DEVICE_FEATURE_DMA_LOGGING_START, buf, len, buf + len);
	if (ret == 0) {
		/* The device may only raise the page size, to another power of two. */
		memcpy(&rep, buf + len, sizeof(rep));
		if (rep.num_ranges != nr || !pow2(rep.page_size) || rep.page_size < *page_size) {
			log_err("client: logging start echoed page size %llu for %llu, %u ranges",
				(unsigned long long)rep.page_size, (unsigned long long)*page_size,
				rep.num_ranges);
			ret = -EPROTO;
		} else {
			*page_size = rep.page_size;
		}
	}
	free(buf);
	return ret;
}

int uvfio_dirty_stop(struct uvfio_handle *h)
{
	return feature_set(h, VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0, NULL);
}

/* One REPORT of pages [first, first + npages) of the range; ORs the bits into bitmap. */
static int report_chunk(struct uvfio_handle *h, uint64_t iova, uint64_t page_size,
			uint64_t first, uint64_t npages, uint64_t *bitmap, uint64_t *tmp)
{
	struct uvfio_feature_logging_report q = { .iova = iova + first * page_size,
						  .length = npages * page_size,
						  .page_size = page_size }, rep;
	size_t words = (size_t)((npages + 63) / 64);
	int ret = feature_get(h, VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &q, sizeof(q), tmp,
			      sizeof(q) + words * 8);

	if (ret < 0)
		return ret;
	memcpy(&rep, tmp, sizeof(rep));
	if (rep.iova != q.iova || rep.length != q.length || rep.page_size != q.page_size) {
		log_err("client: logging report answers another range");
		return -EPROTO;
	}
	const uint64_t *bits = tmp + sizeof(q) / 8;
	if (npages % 64) /* bits past the range are not the device's to set */
		tmp[sizeof(q) / 8 + words - 1] &= (1ull << (npages % 64)) - 1;
	for (size_t i = 0; i < words; i++)
		bitmap[first / 64 + i] |= bits[i];
	return 0;
}

int uvfio_dirty_report(struct uvfio_handle *h, uint64_t iova, uint64_t length,
		       uint64_t page_size, uint64_t *bitmap)
{
	if (!h || !bitmap || !pow2(page_size) || !length || length % page_size ||
	    iova % page_size || iova + length - 1 < iova)
		return -EINVAL;
	uint64_t pages = length / page_size;
	/* A reply carries at most max_rw bytes: whole bitmap words of as many pages as fit. */
	size_t max = h->ops->max_rw(h);
	if (max < sizeof(struct uvfio_feature_logging_report) + 64)
		return -EINVAL;
	uint64_t chunk = (max - sizeof(struct uvfio_feature_logging_report) - 8) / 8 * 64;
	uint64_t n = pages < chunk ? pages : chunk;
	uint64_t *tmp = malloc(sizeof(struct uvfio_feature_logging_report) + (n + 63) / 64 * 8);
	int ret = 0;

	if (!tmp)
		return -ENOMEM;
	for (uint64_t first = 0; first < pages && ret == 0; first += chunk) {
		n = pages - first < chunk ? pages - first : chunk;
		ret = report_chunk(h, iova, page_size, first, n, bitmap, tmp);
	}
	free(tmp);
	return ret;
}
