/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the migration stream down to the section loaders (edu-mig's mig_state.c, the PCI
 * core's state.c). The fuzzer writes section payloads, the harness frames them with the stream
 * writer (so checksums hold and the bytes reach the loaders), resumes an edu-mig device from
 * the stream and runs it: RESUMING -> STOP (load) -> RUNNING, then saves it again (STOP_COPY)
 * so that a state the loader accepted must also be one the device can live with.
 *
 * Input: [mode] then records [section id][len lo][len hi][payload]. mode bit 0: stream claims
 * the oldest state version the driver reads instead of the newest; bit 1: run a factorial and
 * a DMA after loading; bit 2: feed the framed stream in 7-byte pieces.
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <uvfio/dma.h>
#include <uvfio/driver.h>
#include <uvfio/log.h>
#include <uvfio/migration.h>

#include "../../drivers/edu-mig/edu_mig.h"
#include "util/vfio_compat.h"

static struct uvfio_pci_device *pdev;
static struct uvfio_device *dev;
static int memfd = -1;

static int set_state(uint32_t state)
{
	struct { uint32_t state; int32_t fd; } __attribute__((packed)) d = { state, -1 };

	return uvfio_device_feature(dev, VFIO_DEVICE_FEATURE_SET |
				    VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE, &d, sizeof(d), NULL, NULL);
}

static void setup(void)
{
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;

	uvfio_log_set_level(0);
	uvfio_register_builtin_drivers();
	if (uvfio_pci_create("edu-mig,mem=4K", &pdev))
		abort();
	dev = uvfio_pci_to_device(pdev);
	memfd = memfd_create("ram", MFD_CLOEXEC);
	if (memfd < 0 || ftruncate(memfd, 0x10000) ||
	    uvfio_dma_space_add(uvfio_device_dma_space(dev), 0x100000, 0x10000,
				UVFIO_DMA_READ | UVFIO_DMA_WRITE, memfd, 0) ||
	    uvfio_pci_cfg_access(pdev, PCI_COMMAND, &cmd, 2, true) != 2)
		abort();
}

static void run_device(void)
{
	uint64_t v;

	v = 0x100000;
	uvfio_device_region_rw(dev, 0, 0x80, &v, 8, true); /* DMA src: RAM */
	v = 0x40000;
	uvfio_device_region_rw(dev, 0, 0x88, &v, 8, true);
	v = 64;
	uvfio_device_region_rw(dev, 0, 0x90, &v, 8, true);
	v = 1;
	uvfio_device_region_rw(dev, 0, 0x98, &v, 8, true);
	v = 5;
	uvfio_device_region_rw(dev, 0, 0x08, &v, 4, true);
	uvfio_device_region_rw(dev, 0, 0x20, &v, 4, false);
}

/* Save the device again: whatever it loaded must serialise. */
static void resave(void)
{
	static uint8_t buf[1 << 16];

	if (set_state(UVFIO_MIG_STATE_STOP) || set_state(UVFIO_MIG_STATE_STOP_COPY))
		abort();
	while (uvfio_device_mig_data_read(dev, buf, sizeof(buf)) > 0)
		;
	if (set_state(UVFIO_MIG_STATE_STOP))
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct uvfio_pci_ident *ident;
	struct uvfio_mig_identity id;
	struct uvfio_mig_writer *w;
	uint8_t *stream;
	size_t off = 1, len = 0, piece;
	ssize_t n;

	if (!dev)
		setup();
	if (size < 1)
		return 0;
	ident = uvfio_pci_ident(pdev);
	id = (struct uvfio_mig_identity){
		.vendor = ident->vendor, .device = ident->device,
		.subvendor = ident->subvendor, .subdevice = ident->subdevice,
		.driver = "edu-mig",
		.state_version = (data[0] & 1) ? edu_mig_migration_ops.min_state_version
					       : edu_mig_migration_ops.state_version,
	};
	if (uvfio_mig_writer_new(&id, &w))
		abort();
	while (off + 3 <= size) {
		uint32_t sec = data[off];
		size_t slen = data[off + 1] | (size_t)data[off + 2] << 8;

		off += 3;
		if (slen > size - off)
			slen = size - off;
		if (sec && uvfio_mig_writer_section(w, sec, data + off, slen))
			abort();
		off += slen;
	}
	if (uvfio_mig_writer_end(w))
		abort();
	stream = malloc(uvfio_mig_writer_pending(w) + 1);
	if (!stream)
		abort();
	while ((n = uvfio_mig_writer_read(w, stream + len, 65536)) > 0)
		len += (size_t)n;
	uvfio_mig_writer_free(w);

	if (set_state(UVFIO_MIG_STATE_STOP) || set_state(UVFIO_MIG_STATE_RESUMING))
		abort();
	piece = (data[0] & 4) ? 7 : len;
	for (size_t o = 0; o < len; o += piece)
		if (uvfio_device_mig_data_write(dev, stream + o, len - o < piece ? len - o : piece) < 0)
			break;
	free(stream);
	if (set_state(UVFIO_MIG_STATE_STOP) == 0) {
		/* Loaded: it must run and save again. */
		if (set_state(UVFIO_MIG_STATE_RUNNING))
			abort();
		if (data[0] & 2)
			run_device();
		resave();
	} else if (uvfio_device_mig_state(dev) == UVFIO_MIG_STATE_RESUMING) {
		/* Refused: the device keeps its state and can leave RESUMING only by reset. */
		uvfio_device_reset(dev);
	}
	uvfio_device_reset(dev);
	if (uvfio_device_mig_state(dev) != UVFIO_MIG_STATE_RUNNING)
		abort();
	return 0;
}
