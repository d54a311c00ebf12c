/* SPDX-License-Identifier: MIT */
/* The migration stream's layout and helpers shared by its writer (mig_stream.c) and reader
 * (mig_stream_read.c), and the writer's zero-copy side for the device core
 * (lib/core/device_mig.c): a transport sends stream bytes straight from where they are (device
 * memory included), then drops them. The layout is described in mig_stream.c. */
#ifndef UVFIO_CORE_MIG_STREAM_PRIV_H
#define UVFIO_CORE_MIG_STREAM_PRIV_H

#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <zlib.h>

#include <uvfio/migration.h>

#define MAGIC "UVFIOMIG"
#define PREFIX_SIZE 16
#define HDR_SIZE UVFIO_MIG_HEADER_SIZE
#define HDR_MAX 4096 /* a later format may grow the header, within reason */
#define SEC_SIZE UVFIO_MIG_SECTION_HEADER_SIZE
#define NAME_FIELD 32
#define END_ID 0
#define DEFAULT_MAX_SIZE (256ull << 20)

_Static_assert(PREFIX_SIZE + 8 + 4 + NAME_FIELD + 4 == HDR_SIZE, "header layout");
_Static_assert(UVFIO_MIG_DRIVER_NAME_MAX < NAME_FIELD, "name and its NUL fit");

static inline void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)v;
	p[1] = (uint8_t)(v >> 8);
}

static inline void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)v);
	put16(p + 2, (uint16_t)(v >> 16));
}

static inline void put64(uint8_t *p, uint64_t v)
{
	put32(p, (uint32_t)v);
	put32(p + 4, (uint32_t)(v >> 32));
}

static inline uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t get32(const uint8_t *p)
{
	return get16(p) | (uint32_t)get16(p + 2) << 16;
}

static inline uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

/* zlib's crc32 takes uInt lengths: feed large buffers in pieces. */
static inline uint32_t crc_update(uint32_t crc, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len) {
		size_t n = len > (1u << 30) ? (1u << 30) : len;

		crc = (uint32_t)crc32(crc, p, (uInt)n);
		p += n;
		len -= n;
	}
	return crc;
}

static inline uint32_t crc_of(const void *buf, size_t len)
{
	return crc_update((uint32_t)crc32(0, Z_NULL, 0), buf, len);
}

static inline bool identity_ok(const struct uvfio_mig_identity *id)
{
	size_t n;

	if (!id || !id->driver)
		return false;
	n = strnlen(id->driver, UVFIO_MIG_DRIVER_NAME_MAX + 1);
	return n > 0 && n <= UVFIO_MIG_DRIVER_NAME_MAX;
}

/* The next min(len, pending) bytes as *out (malloc'ed, the caller frees it), one iovec per
 * segment they span; *bytes their total. Returns the iovec count (0: nothing pending) or
 * -ENOMEM. The iovecs stay valid until the writer is changed. */
int mig_writer_iov(struct uvfio_mig_writer *w, size_t len, struct iovec **out, size_t *bytes);
/* Drops the next n bytes, as a read of them would. */
void mig_writer_skip(struct uvfio_mig_writer *w, size_t n);

#endif
