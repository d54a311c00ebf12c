/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the migration stream reader. Two kinds of input, chosen by the first byte:
 *  - raw bytes fed in pieces of a fuzzed size: the reader must refuse or accept without
 *    crashing, and what it accepts must be readable;
 *  - a payload the writer frames into sections, which must round-trip exactly, then one fuzzed
 *    byte change (must be refused) or cut (must be -ENODATA).
 * One reader serves all inputs, reset in between, so reset is fuzzed too.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/log.h>
#include <uvfio/migration.h>

static const struct uvfio_mig_identity id = {
	.vendor = 0x1234, .device = 0x11e8, .subvendor = 0x1af4, .subdevice = 0x1100,
	.driver = "edu", .state_version = 2, .min_state_version = 1,
};

static struct uvfio_mig_reader *reader;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int feed(const uint8_t *buf, size_t len, size_t chunk)
{
	size_t off = 0, n;
	ssize_t ret;

	while (off < len) {
		n = len - off < chunk ? len - off : chunk;
		ret = uvfio_mig_reader_write(reader, buf + off, n);
		if (ret < 0)
			return (int)ret;
		if ((size_t)ret != n)
			abort();
		off += n;
	}
	return uvfio_mig_reader_finish(reader);
}

/* Touch every accepted byte so ASan sees bad section pointers. */
static unsigned checksum_sections(void)
{
	const struct uvfio_mig_section *s;
	unsigned sum = 0;
	size_t nr, i, j;

	if (uvfio_mig_reader_sections(reader, &s, &nr))
		abort();
	for (i = 0; i < nr; i++)
		for (j = 0; j < s[i].len; j++)
			sum += ((const uint8_t *)s[i].data)[j];
	return sum;
}

static void fuzz_raw(const uint8_t *data, size_t size, size_t chunk)
{
	uvfio_mig_reader_reset(reader);
	if (feed(data, size, chunk) == 0)
		(void)checksum_sections();
}

/* data: [nsec][len0][len1][len2][pos lo][pos hi][xor] payload... */
static void fuzz_framed(const uint8_t *data, size_t size, size_t chunk)
{
	struct uvfio_mig_writer *w;
	const struct uvfio_mig_section *s;
	const uint8_t *payload;
	uint8_t *stream;
	size_t nsec, lens[4], off = 0, nr, pos, len = 0, i;
	ssize_t n;
	int ret;

	if (size < 7)
		return;
	nsec = data[0] % 5;
	payload = data + 7;
	size -= 7;
	for (i = 0; i < nsec; i++) {
		lens[i] = i < 3 ? data[1 + i] : size;
		if (lens[i] > size - off)
			lens[i] = size - off;
		off += lens[i];
	}
	if (uvfio_mig_writer_new(&id, &w))
		abort();
	for (i = 0, off = 0; i < nsec; off += lens[i], i++)
		if (uvfio_mig_writer_section(w, (uint32_t)i + 1, payload + off, lens[i]))
			abort();
	if (uvfio_mig_writer_end(w))
		abort();
	stream = malloc(uvfio_mig_writer_pending(w) + 1);
	if (!stream)
		abort();
	while ((n = uvfio_mig_writer_read(w, stream + len, chunk)) > 0)
		len += (size_t)n;
	uvfio_mig_writer_free(w);
	if (n != 0 || len != uvfio_mig_stream_size(nsec, off))
		abort();

	uvfio_mig_reader_reset(reader);
	if (feed(stream, len, chunk) || uvfio_mig_reader_sections(reader, &s, &nr) || nr != nsec)
		abort();
	for (i = 0, off = 0; i < nsec; off += lens[i], i++)
		if (s[i].id != i + 1 || s[i].len != lens[i] ||
		    (lens[i] && memcmp(s[i].data, payload + off, lens[i])))
			abort();

	pos = (data[4] | (size_t)data[5] << 8) % len;
	uvfio_mig_reader_reset(reader);
	if (data[6]) {
		stream[pos] ^= data[6];
		ret = feed(stream, len, chunk);
		if (ret != (pos < 8 ? -EINVAL : -EBADMSG))
			abort();
	} else if (feed(stream, pos, chunk) != -ENODATA) {
		abort();
	}
	free(stream);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t chunk;

	if (!reader) {
		uvfio_log_set_level(0);
		if (uvfio_mig_reader_new(&id, &reader))
			abort();
		uvfio_mig_reader_set_max_size(reader, 1 << 20);
	}
	if (size < 1)
		return 0;
	chunk = (size_t)(data[0] >> 1) % 64 + 1;
	if (data[0] & 1)
		fuzz_framed(data + 1, size - 1, chunk);
	else
		fuzz_raw(data + 1, size - 1, chunk);
	return 0;
}
