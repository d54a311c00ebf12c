/* SPDX-License-Identifier: MIT */
/*
 * Writes the fuzz targets' seed corpora: gen_seeds DIR creates DIR/<target>/<name> for every
 * target (tests/fuzz/seeds is checked in; regenerate with `tests/fuzz/run.sh build-fuzz seeds`).
 * Each seed is a small, valid session in the target's input format, so that the fuzzer starts
 * deep inside the parsers instead of rediscovering the framing. The migration seeds hold a
 * stream saved by a real edu-mig device.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <uvfio/driver.h>
#include <uvfio/log.h>
#include <uvfio/migration.h>
#include <uvfio/pci.h>

#include "../../drivers/edu-mig/edu_mig.h"
#include "migration/feature_payloads.h"
#include "util/vfio_compat.h"
#include "vfio-user/wire.h"

struct buf {
	uint8_t p[1 << 16];
	size_t n;
};

static const char *outdir;
static struct uvfio_pci_ident mig_ident; /* the edu-mig device's, for its stream */

static void put(struct buf *b, const void *d, size_t len)
{
	if (b->n + len > sizeof(b->p))
		abort();
	if (len)
		memcpy(b->p + b->n, d, len);
	b->n += len;
}

static void put8(struct buf *b, uint8_t v)
{
	put(b, &v, 1);
}

static void save(const char *target, const char *name, const struct buf *b)
{
	char path[512];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", outdir, target);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/%s/%s", outdir, target, name);
	f = fopen(path, "wb");
	if (!f || fwrite(b->p, 1, b->n, f) != b->n || fclose(f)) {
		perror(path);
		exit(1);
	}
}

/* ---- fuzz_server_<dev>: [mode] then [cmd][fdspec][len lo][len hi][payload] ---- */

static void rec(struct buf *b, uint8_t cmd, uint8_t fdspec, const void *p, size_t len)
{
	put8(b, cmd);
	put8(b, fdspec);
	put8(b, (uint8_t)len);
	put8(b, (uint8_t)(len >> 8));
	put(b, p, len);
}

static void region_write(struct buf *b, uint32_t region, uint64_t off, uint64_t val, uint32_t n)
{
	struct {
		struct vfu_region_access a;
		uint64_t v;
	} __attribute__((packed)) m = { { off, region, n }, val };

	rec(b, VFU_CMD_REGION_WRITE, 0, &m, sizeof(m.a) + n);
}

static void region_read(struct buf *b, uint32_t region, uint64_t off, uint32_t n)
{
	struct vfu_region_access a = { off, region, n };

	rec(b, VFU_CMD_REGION_READ, 0, &a, sizeof(a));
}

#define FD_MEMFD 0x01 /* one memfd */
#define FD_EVENTFD 0x05 /* one eventfd */

static void dma_map(struct buf *b, bool with_fd)
{
	struct vfu_dma_map m = { sizeof(m), VFU_DMA_FLAG_READ | VFU_DMA_FLAG_WRITE, 0, 0x100000,
				 0x10000 };

	rec(b, VFU_CMD_DMA_MAP, with_fd ? FD_MEMFD : 0, &m, sizeof(m));
}

static void edu_dma(struct buf *b, bool to_ram)
{
	region_write(b, 7, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	region_write(b, 0, 0x80, to_ram ? 0x40000 : 0x100000, 8);
	region_write(b, 0, 0x88, to_ram ? 0x100000 : 0x40000, 8);
	region_write(b, 0, 0x90, 64, 8);
	region_write(b, 0, 0x98, to_ram ? 3 : 1, 8);
	region_read(b, 0, 0x98, 8);
	region_read(b, 0, 0x40000, 8);
}

static void feature(struct buf *b, uint32_t flags, const void *p, size_t len)
{
	struct {
		struct vfu_device_feature f;
		uint8_t d[64];
	} __attribute__((packed)) m = { { (uint32_t)(sizeof(m.f) + len), flags }, { 0 } };

	if (len)
		memcpy(m.d, p, len);
	rec(b, VFU_CMD_DEVICE_FEATURE, 0, &m, sizeof(m.f) + len);
}

static void mig_state(struct buf *b, uint32_t state)
{
	struct { uint32_t s; int32_t fd; } __attribute__((packed)) d = { state, -1 };

	feature(b, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &d, sizeof(d));
}

static void mig_read(struct buf *b, uint32_t n)
{
	struct vfu_mig_data d = { sizeof(d), n };

	rec(b, VFU_CMD_MIG_DATA_READ, 0, &d, sizeof(d));
}

static void set_irqs(struct buf *b, uint32_t index, uint32_t flags, bool fd)
{
	struct vfu_irq_set s = { sizeof(s), flags, index, 0, 1 };

	rec(b, VFU_CMD_DEVICE_SET_IRQS, fd ? FD_EVENTFD : 0, &s, sizeof(s));
}

static void server_seeds(const char *target, bool mig, const uint8_t *stream, size_t slen)
{
	struct buf *b = calloc(1, sizeof(*b));

	/* Every info query. */
	b->n = 0;
	put8(b, 0);
	rec(b, VFU_CMD_DEVICE_GET_INFO, 0,
	    &(struct vfu_device_info){ sizeof(struct vfu_device_info) }, 16);
	for (uint32_t i = 0; i < 10; i++)
		rec(b, VFU_CMD_DEVICE_GET_REGION_INFO, 0,
		    &(struct vfu_region_info){ .argsz = 256, .index = i }, 32);
	for (uint32_t i = 0; i < 5; i++)
		rec(b, VFU_CMD_DEVICE_GET_IRQ_INFO, 0,
		    &(struct vfu_irq_info){ .argsz = 16, .index = i }, 16);
	rec(b, VFU_CMD_DEVICE_GET_REGION_IO_FDS, 0,
	    &(struct vfu_region_io_fds_request){ .argsz = 256, .index = 0 }, 16);
	save(target, "info", b);

	/* DMA through a memfd window, both directions, factorial, then unmap. */
	b->n = 0;
	put8(b, 1);
	dma_map(b, true);
	edu_dma(b, false);
	edu_dma(b, true);
	region_write(b, 0, 0x08, 5, 4);
	region_read(b, 0, 0x08, 4);
	rec(b, VFU_CMD_DMA_UNMAP, 0, &(struct vfu_dma_unmap){ 24, 0, 0x100000, 0x10000 }, 24);
	save(target, "dma_memfd", b);

	/* DMA through messages (a window without fd): the server asks the harness. */
	b->n = 0;
	put8(b, 2);
	dma_map(b, false);
	edu_dma(b, false);
	edu_dma(b, true);
	rec(b, VFU_CMD_DMA_UNMAP, 0,
	    &(struct vfu_dma_unmap){ 24, VFU_DMA_UNMAP_FLAG_ALL, 0, 0 }, 24);
	save(target, "dma_msg", b);

	/* Interrupts: MSI with an eventfd, INTx masking, a raised interrupt, write multiple. */
	b->n = 0;
	put8(b, 1);
	region_write(b, 7, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
	set_irqs(b, VFIO_PCI_INTX_IRQ_INDEX,
		 VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, true);
	set_irqs(b, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_MASK,
		 false);
	region_write(b, 0, 0x60, 1, 4);
	set_irqs(b, VFIO_PCI_INTX_IRQ_INDEX, VFIO_IRQ_SET_DATA_NONE | VFIO_IRQ_SET_ACTION_UNMASK,
		 false);
	region_write(b, 0, 0x64, 1, 4);
	set_irqs(b, VFIO_PCI_MSI_IRQ_INDEX,
		 VFIO_IRQ_SET_DATA_EVENTFD | VFIO_IRQ_SET_ACTION_TRIGGER, true);
	region_write(b, 0, 0x60, 1, 4);
	{
		struct {
			struct vfu_write_multi m;
			struct vfu_write_multi_entry e[2];
		} __attribute__((packed)) wm = { { 2 },
						 { { 0x04, 0, 4, { 1, 2, 3, 4 } },
						   { 0x80, 0, 8, { 0, 0, 0x10 } } } };
		rec(b, VFU_CMD_REGION_WRITE_MULTI, 0x10, &wm, sizeof(wm));
	}
	rec(b, VFU_CMD_DEVICE_RESET, 0, NULL, 0);
	save(target, "irqs", b);

	/* Features every device answers (probe, and the migration ones a plain device lacks). */
	b->n = 0;
	put8(b, 2);
	feature(b, VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0);
	feature(b, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0);
	feature(b, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, NULL, 0);
	feature(b, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, NULL, 0);
	save(target, "features", b);
	if (!mig) {
		free(b);
		return;
	}

	/* Stop-copy: save the whole device. */
	b->n = 0;
	put8(b, 1);
	region_write(b, 0, 0x04, 0x1234, 4);
	mig_state(b, VFIO_DEVICE_STATE_STOP);
	mig_state(b, VFIO_DEVICE_STATE_STOP_COPY);
	for (int i = 0; i < 4; i++)
		mig_read(b, 8192);
	mig_state(b, VFIO_DEVICE_STATE_STOP);
	mig_state(b, VFIO_DEVICE_STATE_RUNNING);
	save(target, "stop_copy", b);

	/* Pre-copy with uvfio's precopy info (proposal 2 negotiates it). */
	b->n = 0;
	put8(b, 2);
	mig_state(b, VFIO_DEVICE_STATE_PRE_COPY);
	{
		struct vfu_device_feature f = { 8, VFIO_DEVICE_FEATURE_GET |
						   VFU_FEATURE_UVFIO_PRECOPY_INFO };
		rec(b, VFU_CMD_DEVICE_FEATURE, 0, &f, sizeof(f));
	}
	mig_read(b, 4096);
	region_write(b, 2, 0x10, 0xabcd, 8);
	feature(b, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, NULL, 0);
	mig_state(b, VFIO_DEVICE_STATE_STOP_COPY);
	mig_read(b, 16384);
	mig_state(b, VFIO_DEVICE_STATE_STOP);
	save(target, "pre_copy", b);

	/* Dirty logging over a memfd window while the device DMAs into it. */
	b->n = 0;
	put8(b, 1);
	dma_map(b, true);
	{
		struct {
			struct uvfio_feature_logging_control c;
			struct uvfio_dirty_range r;
		} __attribute__((packed)) st = { { 4096, 1, 0 }, { 0x100000, 0x10000 } };
		struct uvfio_feature_logging_report rep = { 0x100000, 0x10000, 4096 };

		feature(b, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START, &st,
			sizeof(st));
		edu_dma(b, true);
		feature(b, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &rep,
			sizeof(rep));
		feature(b, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP, NULL, 0);
	}
	save(target, "dirty", b);

	/* Resume from a real stream, in pieces. */
	b->n = 0;
	put8(b, 1);
	mig_state(b, VFIO_DEVICE_STATE_STOP);
	mig_state(b, VFIO_DEVICE_STATE_RESUMING);
	for (size_t off = 0; off < slen; off += 8192) {
		static uint8_t m[8 + 8192];
		size_t n = slen - off < 8192 ? slen - off : 8192;
		struct vfu_mig_data d = { (uint32_t)(sizeof(d) + n), (uint32_t)n };

		memcpy(m, &d, sizeof(d));
		memcpy(m + sizeof(d), stream + off, n);
		rec(b, VFU_CMD_MIG_DATA_WRITE, 0, m, sizeof(d) + n);
	}
	mig_state(b, VFIO_DEVICE_STATE_STOP);
	mig_state(b, VFIO_DEVICE_STATE_RUNNING);
	region_read(b, 0, 0x04, 4);
	save(target, "resume", b);
	free(b);
}

/* A real stream from an edu-mig device with some state. */
static uint8_t *saved_stream(const char *decl, size_t *len)
{
	struct uvfio_pci_device *pdev;
	struct uvfio_device *dev;
	struct { uint32_t s; int32_t fd; } __attribute__((packed)) st = { 0, -1 };
	uint8_t *s = malloc(1 << 20);
	uint64_t v = 0x5a5a;
	ssize_t n;

	if (uvfio_pci_create(decl, &pdev))
		abort();
	dev = uvfio_pci_to_device(pdev);
	mig_ident = *uvfio_pci_ident(pdev);
	uvfio_device_region_rw(dev, 0, 0x04, &v, 4, true);
	uvfio_device_region_rw(dev, 2, 0x100, &v, 8, true);
	*len = 0;
	for (uint32_t state = VFIO_DEVICE_STATE_STOP; state <= VFIO_DEVICE_STATE_STOP_COPY;
	     state += 2) {
		st.s = state;
		if (uvfio_device_feature(dev, VFIO_DEVICE_FEATURE_SET |
					 VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &st, sizeof(st),
					 NULL, NULL))
			abort();
	}
	while ((n = uvfio_device_mig_data_read(dev, s + *len, (1 << 20) - *len)) > 0)
		*len += (size_t)n;
	uvfio_pci_device_free(pdev);
	return s;
}

/* fuzz_mig_device: the real stream's sections as [id][len lo][len hi][payload] records. */
static void mig_device_seeds(const uint8_t *stream, size_t len)
{
	struct uvfio_mig_identity id = {
		.vendor = mig_ident.vendor, .device = mig_ident.device,
		.subvendor = mig_ident.subvendor, .subdevice = mig_ident.subdevice,
		.driver = "edu-mig", .state_version = edu_mig_migration_ops.state_version,
		.min_state_version = edu_mig_migration_ops.min_state_version,
	};
	const struct uvfio_mig_section *s;
	struct uvfio_mig_reader *r;
	struct buf *b = calloc(1, sizeof(*b));
	size_t nr;

	if (uvfio_mig_reader_new(&id, &r) || uvfio_mig_reader_write(r, stream, len) != (ssize_t)len ||
	    uvfio_mig_reader_finish(r) || uvfio_mig_reader_sections(r, &s, &nr))
		abort();
	for (int mode = 0; mode < 4; mode += 2) {
		b->n = 0;
		put8(b, (uint8_t)mode);
		for (size_t i = 0; i < nr; i++) {
			if (s[i].len > 0xffff)
				abort();
			put8(b, (uint8_t)s[i].id);
			put8(b, (uint8_t)s[i].len);
			put8(b, (uint8_t)(s[i].len >> 8));
			put(b, s[i].data, s[i].len);
		}
		save("fuzz_mig_device", mode ? "saved_run" : "saved", b);
	}
	uvfio_mig_reader_free(r);

	/* fuzz_mig_stream: the same stream raw (mode byte even: raw), and a framed input. */
	b->n = 0;
	put8(b, 0x7e);
	put(b, stream, len < 16384 ? len : 16384);
	save("fuzz_mig_stream", "raw_edu_mig", b);
	b->n = 0;
	put(b, (const uint8_t[]){ 0x0f, 3, 4, 8, 2, 9, 0, 0 }, 8);
	put(b, "abcdefghijklmnopqrstuvwxyz", 26);
	save("fuzz_mig_stream", "framed", b);
	free(b);
}

/* ---- fuzz_client_reply: [op][flags] then what the server answers ---- */

static void reply(struct buf *b, uint16_t cmd, const void *p, size_t len)
{
	struct vfu_hdr h = { 0, cmd, (uint32_t)(sizeof(h) + len), VFU_F_TYPE_REPLY, 0 };

	put(b, &h, sizeof(h));
	put(b, p, len);
}

static void feature_reply(struct buf *b, uint32_t flags, const void *p, size_t len)
{
	struct vfu_device_feature f = { (uint32_t)(sizeof(f) + len), flags };
	uint8_t m[256];

	memcpy(m, &f, sizeof(f));
	if (len)
		memcpy(m + sizeof(f), p, len);
	reply(b, VFU_CMD_DEVICE_FEATURE, m, sizeof(f) + len);
}

static void client_seed(uint8_t op, uint8_t flags, const char *name, void (*fill)(struct buf *))
{
	struct buf *b = calloc(1, sizeof(*b));

	put8(b, op);
	put8(b, flags);
	fill(b);
	save("fuzz_client_reply", name, b);
	free(b);
}

static void c_info(struct buf *b)
{
	reply(b, VFU_CMD_DEVICE_GET_INFO, &(struct vfu_device_info){ 16, 3, 9, 5 }, 16);
}

static void c_region(struct buf *b)
{
	reply(b, VFU_CMD_DEVICE_GET_REGION_INFO,
	      &(struct vfu_region_info){ 32, 7, 0, 0, 0x100000, 0 }, 32);
}

static void c_region_caps(struct buf *b)
{
	struct {
		struct vfu_region_info ri;
		struct vfu_cap_type t;
		struct vfu_cap_sparse_mmap sp;
		struct vfu_sparse_mmap_area a[2];
	} __attribute__((packed)) m = {
		{ sizeof(m), 0xf, 9, 32, 0x2000, 0 },
		{ { VFIO_REGION_INFO_CAP_TYPE, 1, 48 }, 0x80001234, 1 },
		{ { VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1, 0 }, 2, 0 },
		{ { 0, 0x1000 }, { 0x1000, 0x1000 } },
	};
	reply(b, VFU_CMD_DEVICE_GET_REGION_INFO, &m, sizeof(m));
}

static void c_irq(struct buf *b)
{
	reply(b, VFU_CMD_DEVICE_GET_IRQ_INFO, &(struct vfu_irq_info){ 16, 7, 1, 1 }, 16);
}

static void c_read(struct buf *b)
{
	struct {
		struct vfu_region_access a;
		uint8_t d[64];
	} __attribute__((packed)) m = { { 0, 7, 64 }, { 0x34, 0x12, 0xe8, 0x11 } };
	reply(b, VFU_CMD_REGION_READ, &m, sizeof(m));
}

static void c_write(struct buf *b)
{
	reply(b, VFU_CMD_REGION_WRITE, &(struct vfu_region_access){ 8, 0, 8 }, 16);
}

static void c_mig_flags(struct buf *b)
{
	uint64_t f = VFIO_MIGRATION_STOP_COPY | VFIO_MIGRATION_P2P | VFIO_MIGRATION_PRE_COPY;

	feature_reply(b, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIGRATION, &f, sizeof(f));
}

static void c_mig_state(struct buf *b)
{
	struct { uint32_t s; int32_t fd; } __attribute__((packed)) d = { 2, -1 };

	feature_reply(b, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &d,
		      sizeof(d));
}

static void c_mig_read(struct buf *b)
{
	struct {
		struct vfu_mig_data m;
		uint8_t d[32];
	} __attribute__((packed)) m = { { sizeof(m), 32 }, { 'U', 'V', 'F', 'I', 'O' } };
	reply(b, VFU_CMD_MIG_DATA_READ, &m, sizeof(m));
}

static void c_mig_write(struct buf *b)
{
	reply(b, VFU_CMD_MIG_DATA_WRITE, &(struct vfu_mig_data){ 8, 512 }, 8);
}

static void c_precopy(struct buf *b)
{
	struct vfu_precopy_info p = { 4096, 512 };

	feature_reply(b, VFIO_DEVICE_FEATURE_GET | VFU_FEATURE_UVFIO_PRECOPY_INFO, &p, sizeof(p));
}

static void c_data_size(struct buf *b)
{
	uint64_t v = 1 << 20;

	feature_reply(b, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_MIG_DATA_SIZE, &v,
		      sizeof(v));
}

static void c_dirty_start(struct buf *b)
{
	feature_reply(b, VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START, NULL, 0);
}

static void c_dirty_report(struct buf *b)
{
	struct {
		struct uvfio_feature_logging_report r;
		uint64_t bitmap[1];
	} __attribute__((packed)) m = { { 0x10000, 0x10000, 4096 }, { 0x8001 } };
	feature_reply(b, VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT, &m,
		      sizeof(m));
}

static void c_bare(struct buf *b)
{
	reply(b, VFU_CMD_DEVICE_SET_IRQS, NULL, 0);
}

/* The server reads and writes client memory before it answers. */
static void c_dma(struct buf *b)
{
	struct vfu_hdr h = { 0x4242, VFU_CMD_DMA_READ, 32, VFU_F_TYPE_COMMAND, 0 };
	struct vfu_dma_access a = { 0x10000, 16 };
	uint8_t d[16] = { 1, 2, 3 };

	put(b, &h, sizeof(h));
	put(b, &a, sizeof(a));
	h = (struct vfu_hdr){ 0x4243, VFU_CMD_DMA_WRITE, 48, VFU_F_TYPE_COMMAND, 0 };
	a.addr = 0x10100;
	put(b, &h, sizeof(h));
	put(b, &a, sizeof(a));
	put(b, d, sizeof(d));
	c_info(b);
}

static void c_version(struct buf *b)
{
	static const char json[] = "{\"capabilities\":{\"max_msg_fds\":8,\"max_data_xfer_size\":"
				   "1048576,\"twin_socket\":{\"supported\":false}}}";
	uint8_t m[sizeof(struct vfu_version) + sizeof(json)];

	memcpy(m + sizeof(struct vfu_version), json, sizeof(json));
	memcpy(m, &(struct vfu_version){ 0, 2 }, sizeof(struct vfu_version));
	reply(b, VFU_CMD_VERSION, m, sizeof(m));
}

static void client_seeds(void)
{
	client_seed(0, 2, "device_info", c_info);
	client_seed(1, 2, "region_info", c_region);
	client_seed(2, 2, "region_caps", c_region_caps);
	client_seed(3, 2, "irq_info", c_irq);
	client_seed(4, 2, "region_read", c_read);
	client_seed(5, 2, "region_write", c_write);
	client_seed(6, 2, "mig_flags", c_mig_flags);
	client_seed(7, 2, "mig_state", c_mig_state);
	client_seed(8, 2 | 4, "mig_set_state", c_mig_state);
	client_seed(9, 2, "mig_read", c_mig_read);
	client_seed(10, 2, "mig_write", c_mig_write);
	client_seed(11, 2, "precopy_info", c_precopy);
	client_seed(12, 2, "data_size", c_data_size);
	client_seed(13, 2, "dirty_start", c_dirty_start);
	client_seed(14, 2, "dirty_report", c_dirty_report);
	client_seed(15, 2, "set_irqs", c_bare);
	client_seed(16, 2, "reset", c_bare);
	client_seed(0, 2 | 1 | 4, "server_dma", c_dma);
	client_seed(0xff, 2, "version", c_version);
}

/* ---- fuzz_pci_config: [mode] then [op][off lo][off hi][val: 4] ---- */

static void access(struct buf *b, uint8_t op, uint16_t off, uint32_t val)
{
	put8(b, op);
	put8(b, (uint8_t)off);
	put8(b, (uint8_t)(off >> 8));
	put(b, &val, 4);
}

static void pci_seeds(void)
{
	struct buf *b = calloc(1, sizeof(*b));

	/* Size and program every BAR and the ROM, enable decoding. */
	put8(b, 0);
	for (uint16_t bar = PCI_BASE_ADDRESS_0; bar <= PCI_ROM_ADDRESS; bar += 4) {
		access(b, 2 | 4, bar, 0xffffffff);
		access(b, 2, bar, 0);
		access(b, 2 | 4, bar, 0xfe000000 + bar * 0x1000u + (bar == PCI_ROM_ADDRESS));
	}
	access(b, 1 | 4, PCI_COMMAND, PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	access(b, 3 | 4 | (15 << 4), 0, 0x12345678); /* 16 bytes through the region */
	save("fuzz_pci_config", "bars", b);

	/* Walk the capabilities and switch MSI, MSI-X, PM, PCIe FLR on (offsets as the core lays
	 * them out: found at run time by the fuzzer from here). */
	b->n = 0;
	put8(b, 0);
	access(b, 0, PCI_CAPABILITY_LIST, 0);
	for (uint16_t p = 0x40; p < 0x100; p += 4)
		access(b, 2, p, 0);
	access(b, 1 | 4, 0x40 + PCI_PM_CTRL, 3);			 /* D3hot */
	access(b, 1 | 4, 0x48 + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE | 0x20); /* MSI, 4 vectors */
	access(b, 2 | 4, 0x48 + PCI_MSI_ADDRESS_LO, 0xfee00000);
	access(b, 2 | 4, 0x48 + PCI_MSI_MASK_64, 0x5);
	access(b, 1 | 4, 0x60 + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	access(b, 2 | 4 | 8, 0x0, 0xfee00000);				 /* MSI-X table entry 0 */
	access(b, 2 | 4 | 8, 0xc, 0);					 /* unmask */
	access(b, 2 | 8, 0x1000, 0);					 /* PBA */
	access(b, 1 | 4, 0x70 + PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_BCR_FLR);
	access(b, 2, 0x100, 0);
	access(b, 2, 0x104, 0);
	save("fuzz_pci_config", "caps", b);

	/* A saved state, patched in the header and in the MSI-X table, then truncated. */
	b->n = 0;
	put8(b, 1);
	put(b, (const uint8_t[]){ 4, 0, 1, 24 + 4, 0, 0 }, 6);
	save("fuzz_pci_config", "state", b);
	b->n = 0;
	put8(b, 3);
	put(b, (const uint8_t[]){ 0x10, 0x11, 0x80 }, 3);
	save("fuzz_pci_config", "state_cut", b);
	free(b);
}

/* ---- text targets ---- */

static void text(const char *target, const char *name, uint8_t mode, const char *s, size_t len)
{
	struct buf *b = calloc(1, sizeof(*b));

	put8(b, mode);
	put(b, s, len);
	save(target, name, b);
	free(b);
}

#define TEXT(t, n, m, s) text(t, n, m, s, sizeof(s) - 1)

static void text_seeds(void)
{
	TEXT("fuzz_cli_parse", "edu", 1, "edu,dma_mask=0xfffffff,name=e0");
	TEXT("fuzz_cli_parse", "edu_mig", 1, "edu-mig,mem=64K,name=m");
	TEXT("fuzz_cli_parse", "write", 0, "config:4=0x6/2");
	TEXT("fuzz_cli_parse", "mem", 0, "64K@0x100000");
	TEXT("fuzz_cli_parse", "region", 0, "bar0");
	TEXT("fuzz_cli_parse", "number", 0, "0x1000");

	/* fuzz_host: BDF, modalias, vendor, device, class, group, driver, modules.alias, the
	 * previous driver bind recorded, region-info caps */
	static const char host[] =
		"00:03.0\0pci:v00008086d00001234sv00001AF4sd00001100bc02sc00i00\n\0"
		"0x8086\n\0" "0x1234\n\0" "0x020000\n\0" "7\0" "e1000e\0"
		"alias vfio_pci:v00008086d00001234sv*sd*bc*sc*i* mlx5_vfio_pci\n"
		"alias vfio_pci:v*d*sv*sd*bc*sc*i* vfio_pci\n"
		"alias pci:v00008086d*sv*sd*bc*sc*i* e1000e\n\0" "e1000e\n\0";
	struct {
		struct vfio_region_info ri;
		struct vfio_region_info_cap_sparse_mmap sp;
		struct vfio_region_sparse_mmap_area a[2];
		struct vfio_region_info_cap_type t;
		struct vfio_info_cap_header x;
	} __attribute__((packed)) caps = {
		{ sizeof(caps), VFIO_REGION_INFO_FLAG_CAPS, 0, sizeof(caps.ri), 0x4000, 0 },
		{ { VFIO_REGION_INFO_CAP_SPARSE_MMAP, 1,
		    sizeof(caps.ri) + sizeof(caps.sp) + sizeof(caps.a) }, 2, 0 },
		{ { 0, 0x1000 }, { 0x2000, 0x1000 } },
		{ { VFIO_REGION_INFO_CAP_TYPE, 1,
		    sizeof(caps.ri) + sizeof(caps.sp) + sizeof(caps.a) + sizeof(caps.t) }, 3, 1 },
		{ VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, 1, 0 },
	};
	struct buf *b = calloc(1, sizeof(*b));

	put(b, host, sizeof(host) - 1);
	put(b, &caps, sizeof(caps));
	save("fuzz_host", "typical", b);
	free(b);
}

/*
 * NVMe: the admin queue in a mapped window, the controller enabled, doorbells rung. Guest
 * memory is zeros, so each fetched SQE is opcode 0 with bad fields: the worker's fetch, the
 * admin dispatcher's refusals and the completion path all run; the fuzzer mutates from here.
 */
static void nvme_seeds(const char *target)
{
	struct buf *b = calloc(1, sizeof(*b));

	for (int with_fd = 1; with_fd >= 0; with_fd--) {
		b->n = 0;
		put8(b, (uint8_t)with_fd);
		dma_map(b, with_fd);
		region_write(b, 7, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER, 2);
		region_read(b, 0, 0x00, 8);              /* CAP */
		region_write(b, 0, 0x24, 0x000f000f, 4); /* AQA: 16-entry admin queues */
		region_write(b, 0, 0x28, 0x100000, 8);   /* ASQ */
		region_write(b, 0, 0x30, 0x101000, 8);   /* ACQ */
		region_write(b, 0, 0x14, 0x00460001, 4); /* CC: EN, IOSQES 6, IOCQES 4 */
		region_read(b, 0, 0x1c, 4);              /* CSTS */
		for (uint32_t tail = 1; tail <= 4; tail++)
			region_write(b, 0, 0x1000, tail, 4); /* SQ0 tail doorbell */
		region_write(b, 0, 0x1004, 2, 4);        /* CQ0 head doorbell */
		region_write(b, 0, 0x1008, 7, 4);        /* a doorbell of a queue that does not exist */
		region_write(b, 0, 0x14, 0x00460000, 4); /* CC.EN 1->0: reset */
		region_read(b, 0, 0x1c, 4);
		save(target, with_fd ? "admin_memfd" : "admin_msg", b);
	}
	free(b);
}

int main(int argc, char **argv)
{
	uint8_t *stream;
	size_t len;

	if (argc != 2) {
		fprintf(stderr, "usage: gen_seeds DIR\n");
		return 2;
	}
	outdir = argv[1];
	mkdir(outdir, 0755);
	uvfio_log_set_level(0);
	uvfio_register_builtin_drivers();
	server_seeds("fuzz_server_edu", false, NULL, 0);
	stream = saved_stream("edu-mig,mem=4K", &len);
	server_seeds("fuzz_server_edu_mig", true, stream, len);
	server_seeds("fuzz_server_nvme", false, NULL, 0);
	nvme_seeds("fuzz_server_nvme");
	mig_device_seeds(stream, len);
	free(stream);
	client_seeds();
	pci_seeds();
	text_seeds();
	return 0;
}
