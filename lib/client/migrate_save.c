/* SPDX-License-Identifier: MIT */
/*
 * The migration stream to and from something else than a device (uvfio save / load), and
 * what the errors of the migration calls mean.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "client/backend.h"
#include "client/migrate_priv.h"
#include "util/log.h"

/* The first bytes of every stream a uvfio device writes (lib/migration/stream_write.c); a
 * kernel VFIO device's data is its driver's own opaque bytes, without them. */
#define UVFIO_STREAM_MAGIC "UVFIOMIG"
#define UVFIO_STREAM_HDR 64

static bool is_kernel(struct uvfio_handle *h)
{
	return h->ops == &uvfio_kernel_type1_backend || h->ops == &uvfio_kernel_iommufd_backend;
}

static bool is_uvfio_stream(const uint8_t *buf, size_t len)
{
	return len >= 8 && memcmp(buf, UVFIO_STREAM_MAGIC, 8) == 0;
}

/* A uvfio stream offered to a kernel device: refused before the device is touched, naming the
 * device the stream's header says it is for (its driver would only see garbage). */
static int refuse_uvfio_stream(const uint8_t *buf, size_t len)
{
	char driver[33] = "?";
	unsigned vendor = 0, device = 0;

	if (len >= UVFIO_STREAM_HDR) {
		vendor = (unsigned)(buf[16] | buf[17] << 8);
		device = (unsigned)(buf[18] | buf[19] << 8);
		memcpy(driver, buf + 28, 32);
		driver[32] = '\0';
		for (char *c = driver; *c; c++)
			if (*c < 0x20 || *c > 0x7e)
				*c = '?';
	}
	log_err("load: refused: the stream is a uvfio migration stream, written by a uvfio device "
		"(%04x:%04x, driver \"%s\"); this is a kernel VFIO device, whose driver loads "
		"only its own data", vendor, device, driver);
	return -ENODEV;
}

int mig_startable_state(struct uvfio_handle *h, uint32_t *state)
{
	int ret = uvfio_mig_get_state(h, state);

	if (ret < 0)
		return ret;
	if (*state != UVFIO_MIG_STATE_RUNNING && *state != UVFIO_MIG_STATE_STOP) {
		log_err("migrate: the device is in %s, not RUNNING or STOP",
			uvfio_mig_state_name(*state));
		return -EBUSY;
	}
	return 0;
}

int mig_write_all(struct uvfio_handle *h, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		ssize_t n = uvfio_mig_write(h, p, len);

		if (n < 0)
			return (int)n;
		if (n == 0 || (size_t)n > len)
			return -EPROTO;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int64_t uvfio_migrate_save(struct uvfio_handle *h, uvfio_migrate_write_fn write_fn, void *opaque)
{
	uint32_t start;
	uint8_t *buf;
	int64_t total = 0;
	int ret;

	if (!h || !write_fn)
		return -EINVAL;
	ret = mig_startable_state(h, &start);
	if (ret < 0)
		return ret;
	buf = malloc(MIG_DEFAULT_CHUNK);
	if (!buf)
		return -ENOMEM;
	ret = uvfio_mig_set_state(h, UVFIO_MIG_STATE_STOP_COPY, NULL);
	while (ret == 0) {
		ssize_t n = uvfio_mig_read(h, buf, MIG_DEFAULT_CHUNK);

		if (n <= 0) {
			ret = (int)n;
			break;
		}
		if ((size_t)n > MIG_DEFAULT_CHUNK) {
			ret = -EPROTO;
			break;
		}
		ret = write_fn(opaque, buf, (size_t)n);
		if (ret > 0)
			ret = -EIO; /* write_fn's contract is 0 or -errno */
		total += n;
	}
	free(buf);
	if (ret == 0)
		ret = uvfio_mig_set_state(h, UVFIO_MIG_STATE_STOP, NULL);
	if (ret < 0) {
		int err = uvfio_mig_set_state(h, start, NULL);

		if (err < 0)
			log_err("save: cannot return the device to %s: %s",
				uvfio_mig_state_name(start), strerror(-err));
		return ret;
	}
	return total;
}

int uvfio_migrate_load(struct uvfio_handle *h, const void *buf, size_t len, uint32_t final_state)
{
	uint32_t start;
	int ret;

	if (!h || (len && !buf))
		return -EINVAL;
	if (is_kernel(h) && is_uvfio_stream(buf, len))
		return refuse_uvfio_stream(buf, len);
	final_state = final_state ? final_state : UVFIO_MIG_STATE_RUNNING;
	if (final_state != UVFIO_MIG_STATE_RUNNING && final_state != UVFIO_MIG_STATE_STOP)
		return -EINVAL;
	ret = mig_startable_state(h, &start);
	if (ret < 0)
		return ret;
	ret = uvfio_mig_set_state(h, UVFIO_MIG_STATE_RESUMING, NULL);
	if (ret < 0)
		return ret;
	/* Written in pieces of the engine's chunk size: a transport splits larger writes anyway. */
	for (size_t off = 0; off < len && ret == 0; off += MIG_DEFAULT_CHUNK)
		ret = mig_write_all(h, (const uint8_t *)buf + off,
				    len - off < MIG_DEFAULT_CHUNK ? len - off : MIG_DEFAULT_CHUNK);
	/* A refusal while writing is the device's verdict; the commit would only repeat it. */
	if (ret == 0)
		ret = uvfio_mig_set_state(h, UVFIO_MIG_STATE_STOP, NULL);
	if (ret < 0 && !is_kernel(h) && len && !is_uvfio_stream(buf, len)) {
		/* What a kernel device saved (`uvfio save vfio:...`): no header to name a device. */
		log_err("load: the device refused the stream (%s): it has no uvfio header (\"%s\"), "
			"so it is a kernel VFIO device's own driver data, which only a kernel device "
			"of that driver loads", strerror(-ret), UVFIO_STREAM_MAGIC);
		return -ENODEV;
	}
	if (ret < 0) {
		log_err("load: the device refused the stream: %s", uvfio_migrate_strerror(ret));
		return ret;
	}
	if (final_state != UVFIO_MIG_STATE_STOP)
		ret = uvfio_mig_set_state(h, final_state, NULL);
	return ret;
}

const char *uvfio_migrate_strerror(int err)
{
	switch (err < 0 ? -err : err) {
	case 0:
		return "success";
	case ENODEV:
		return "the stream belongs to another device (IDs or driver differ)";
	case EPROTONOSUPPORT:
		return "the stream's format or driver state version is not supported";
	case EBADMSG:
		return "the stream is corrupt (a checksum does not match)";
	case ENODATA:
		return "the stream is truncated";
	case EINVAL:
		return "invalid request or malformed stream";
	case EFBIG:
		return "the stream is larger than the device accepts";
	case ENOTTY:
		return "the device is not migratable";
	case EBUSY:
		return "the device is in a migration state that cannot start this";
	case EPROTO:
		return "the devices' migration features do not fit together";
	case ECONNRESET:
	case EPIPE:
		return "the connection to a device was lost";
	case ECANCELED:
		return "cancelled";
	case ETIMEDOUT:
		return "a device did not answer in time";
	case ENOMEM:
		return "out of memory";
	default:
		return strerror(err < 0 ? -err : err);
	}
}
