/* SPDX-License-Identifier: MIT */
/*
 * edu-mig: probe, device memory, PCI ops and the migration arcs. edu does the registers, the
 * worker and the interrupts; this file adds what a migratable variant needs around them (see
 * edu_mig.h for what the device looks like).
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "edu_mig.h"
#include "util/log.h"

const struct uvfio_pci_ident edu_mig_default_ident = {
	.vendor = EDU_VENDOR,
	.device = EDU_DEVICE,
	.subvendor = EDU_MIG_SUBVENDOR,
	.subdevice = EDU_MIG_SUBDEVICE,
	.class_code = EDU_CLASS,
	.revision = EDU_REVISION,
};

struct edu_mig *edu_mig_from_pdev(struct uvfio_pci_device *pdev)
{
	struct edu_state *s = edu_from_pdev(pdev);
	return s ? (struct edu_mig *)((char *)s - offsetof(struct edu_mig, edu)) : NULL;
}

static struct edu_mig *from_dev(struct uvfio_device *dev)
{
	struct uvfio_pci_device *pdev = uvfio_pci_from_device(dev);
	return pdev ? edu_mig_from_pdev(pdev) : NULL;
}

/* ---- device memory (BAR2) ---- */

static void mark_dirty_locked(struct edu_mig *m, uint64_t off, size_t count)
{
	if (!m->saving)
		return;
	/* Pages not yet sent go out with the initial data anyway. */
	for (uint64_t pg = off / EDU_MIG_PAGE; pg * EDU_MIG_PAGE < off + count; pg++) {
		if (pg * EDU_MIG_PAGE >= m->sent_end)
			break;
		uint64_t bit = 1ull << (pg % 64);
		if (!(m->dirty[pg / 64] & bit)) {
			m->dirty[pg / 64] |= bit;
			m->nr_dirty++;
		}
	}
}

static ssize_t mem_bar_rw(struct uvfio_pci_device *pdev, int bar, uint64_t offset, void *buf,
			  size_t count, bool is_write)
{
	struct edu_mig *m = edu_mig_from_pdev(pdev);
	if (!m || bar != EDU_MIG_MEM_BAR || !buf || offset > m->mem_size ||
	    count > m->mem_size - offset)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	if (is_write) {
		memcpy(m->mem + offset, buf, count);
		mark_dirty_locked(m, offset, count);
		m->stage_ok = false; /* the shadow no longer matches mem outside the stream */
	} else {
		memcpy(buf, m->mem + offset, count);
	}
	pthread_mutex_unlock(&m->lock);
	return (ssize_t)count;
}

/* "256M", "4096", "1G": a size with an optional K/M/G suffix (powers of 1024). */
static int parse_size(const char *s, uint64_t *out)
{
	if (!s || *s < '0' || *s > '9')
		return -EINVAL;
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno || !end)
		return -EINVAL;
	unsigned shift = 0;
	switch (*end) {
	case '\0':
		break;
	case 'K': case 'k':
		shift = 10;
		break;
	case 'M': case 'm':
		shift = 20;
		break;
	case 'G': case 'g':
		shift = 30;
		break;
	default:
		return -EINVAL;
	}
	if (*end && end[1])
		return -EINVAL;
	if (v > (UINT64_MAX >> shift))
		return -EINVAL;
	*out = (uint64_t)v << shift;
	return 0;
}

static int parse_mem(struct uvfio_options *opts, uint64_t *mem_size)
{
	const char *s = uvfio_options_get(opts, "mem", NULL);
	*mem_size = 0;
	if (!s)
		return 0;
	uint64_t v = 0;
	if (parse_size(s, &v) < 0 || v < EDU_MIG_MEM_MIN || v > EDU_MIG_MEM_MAX || (v & (v - 1))) {
		log_err("edu-mig: mem=%s: need a power of two from 4K to 1G", s);
		return -EINVAL;
	}
	*mem_size = v;
	return 0;
}

static int setup_mem(struct edu_mig *m, uint64_t size)
{
	if (!size)
		return 0;
	/* Anonymous pages: untouched memory costs nothing until written or saved. */
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		return -ENOMEM;
	/* Huge pages where the kernel has them: a save that reads all of a large memory takes
	 * one fault per 2 MiB instead of per page. Only a hint. */
	madvise(p, size, MADV_HUGEPAGE);
	m->mem = p;
	m->mem_size = size;
	uint64_t pages = size / EDU_MIG_PAGE;
	m->dirty = calloc((pages + 63) / 64, sizeof(*m->dirty));
	if (!m->dirty)
		return -ENOMEM;
	return uvfio_pci_setup_bar(m->pdev, EDU_MIG_MEM_BAR, size,
				   UVFIO_PCI_BAR_MEM64 | UVFIO_PCI_BAR_PREFETCH, mem_bar_rw);
}

/* ---- quiescence: the migration arcs ---- */

static void quiesce(struct edu_mig *m, bool on)
{
	pthread_mutex_lock(&m->lock);
	bool change = m->quiesced != on;
	m->quiesced = on;
	pthread_mutex_unlock(&m->lock);
	if (!change)
		return;
	if (on) {
		/* A DMA already running completes (the core's gate is still open); work not
		 * started stays queued in the registers and is saved as such. */
		edu_pause(&m->edu);
		dirtier_pause(&m->dirtier);
	} else {
		dirtier_resume(&m->dirtier);
		edu_resume(&m->edu);
	}
}

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23 /* Linux 5.14; older kernels say EINVAL and nothing changes */
#endif

/* About to resume: fault device memory in now, contents unchanged, so the load at
 * RESUMING->STOP (inside the downtime) copies into present pages instead of zeroing fresh ones
 * as it goes (most of a fresh destination's load time). */
static void prefault_mem(struct edu_mig *m)
{
	if (m->mem && madvise(m->mem, m->mem_size, MADV_POPULATE_WRITE) < 0)
		log_debug("edu-mig: MADV_POPULATE_WRITE: %s", strerror(errno));
}

int edu_mig_step(struct uvfio_device *dev, uint32_t from, uint32_t to, bool *broken)
{
	struct edu_mig *m = from_dev(dev);
	if (!m)
		return -EINVAL;
	int action = uvfio_mig_arc_session(from, to);
	if (action == UVFIO_MIG_SESSION_OPEN_SAVE)
		edu_mig_track_begin(m);
	if (action == UVFIO_MIG_SESSION_OPEN_RESUME)
		prefault_mem(m);
	bool run_from = uvfio_mig_state_may_dma(from), run_to = uvfio_mig_state_may_dma(to);
	if (run_from && !run_to)
		quiesce(m, true);
	else if (!run_from && run_to)
		quiesce(m, false);
	if (action == UVFIO_MIG_SESSION_END_SAVE)
		edu_mig_track_end(m);
	return 0;
}

/* ---- PCI ops ---- */

static void edu_mig_reset(struct uvfio_pci_device *pdev)
{
	struct edu_mig *m = edu_mig_from_pdev(pdev);
	if (!m)
		return;
	edu_reset(pdev);
	dirtier_reset(&m->dirtier);
	pthread_mutex_lock(&m->lock);
	m->stage_ok = false;
	pthread_mutex_unlock(&m->lock);
	/* A reset brings the migration state back to RUNNING without an arc: run again. */
	quiesce(m, false);
	edu_mig_track_end(m);
}

static void edu_mig_close(struct uvfio_pci_device *pdev)
{
	struct edu_mig *m = edu_mig_from_pdev(pdev);
	if (!m)
		return;
	dirtier_close(&m->dirtier);
	edu_close(pdev);
}

static void edu_mig_free(struct edu_mig *m)
{
	dirtier_teardown(&m->dirtier);
	edu_state_teardown(&m->edu);
	if (m->mem)
		munmap(m->mem, m->mem_size);
	if (m->shadow)
		munmap(m->shadow, m->mem_size);
	free(m->dirty);
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static void edu_mig_release(struct uvfio_pci_device *pdev)
{
	struct edu_mig *m = edu_mig_from_pdev(pdev);
	if (!m)
		return;
	uvfio_pci_set_drvdata(pdev, NULL);
	edu_mig_free(m);
}

static const struct uvfio_pci_ops edu_mig_ops = {
	.reset = edu_mig_reset,
	.close = edu_mig_close,
	.release = edu_mig_release,
};

static int setup_dirtier_region(struct uvfio_pci_device *pdev)
{
	const struct uvfio_region r = {
		.size = EDU_MIG_DIRTIER_SIZE,
		.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE,
		.rw = dirtier_region_rw,
		.mmap_fd = -1,
		.type = EDU_MIG_DIRTIER_TYPE,
		.subtype = EDU_MIG_DIRTIER_SUBTYPE,
	};
	return uvfio_device_set_region(uvfio_pci_to_device(pdev), EDU_MIG_DIRTIER_REGION, &r);
}

static int edu_mig_probe(struct uvfio_pci_device *pdev, const struct uvfio_pci_device_id *id,
			 struct uvfio_options *opts)
{
	uint64_t dma_mask = 0, mem_size = 0;
	int ret = edu_parse_options(opts, &dma_mask);
	if (ret == 0)
		ret = parse_mem(opts, &mem_size);
	if (ret == 0)
		ret = edu_setup_pci(pdev);
	if (ret == 0)
		ret = setup_dirtier_region(pdev);
	if (ret < 0)
		return ret;
	struct edu_mig *m = calloc(1, sizeof(*m));
	if (!m)
		return -ENOMEM;
	m->pdev = pdev;
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m);
		return -ENOMEM;
	}
	ret = edu_state_init(&m->edu, pdev, dma_mask);
	if (ret < 0) {
		pthread_mutex_destroy(&m->lock);
		free(m);
		return ret;
	}
	/* From here drvdata points at m->edu, so edu_mig_free() undoes everything. */
	ret = dirtier_init(&m->dirtier, uvfio_pci_to_device(pdev));
	if (ret == 0)
		ret = setup_mem(m, mem_size);
	const struct uvfio_pci_ident *ident = uvfio_pci_ident(pdev);
	m->ident = (struct uvfio_mig_identity){
		.vendor = ident->vendor,
		.device = ident->device,
		.subvendor = ident->subvendor,
		.subdevice = ident->subdevice,
		.driver = "edu-mig",
		.state_version = EDU_MIG_STATE_VERSION,
		.min_state_version = EDU_MIG_STATE_VERSION,
	};
	if (ret == 0)
		ret = uvfio_device_set_migration(uvfio_pci_to_device(pdev), &edu_mig_migration_ops,
						 &m->ident);
	if (ret < 0) {
		uvfio_pci_set_drvdata(pdev, NULL);
		edu_mig_free(m);
		return ret;
	}
	uvfio_pci_set_ops(pdev, &edu_mig_ops);
	return 0;
}

static const struct uvfio_pci_device_id edu_mig_ids[] = {
	{ UVFIO_PCI_DEVICE_SUB(EDU_VENDOR, EDU_DEVICE, EDU_MIG_SUBVENDOR, EDU_MIG_SUBDEVICE) },
	{ 0 },
};

const struct uvfio_driver edu_mig_driver = {
	.name = "edu-mig",
	.description = "edu with migration (pre-copy, P2P), device memory and a memory dirtier",
	.id_table = edu_mig_ids,
	.default_ident = &edu_mig_default_ident,
	.probe = edu_mig_probe,
	.options_help = "dma_mask=MASK  bus address mask of the DMA engine (default 0xfffffff)\n"
			"mem=SIZE       device memory as BAR2, a power of two 4K..1G (K/M/G), "
			"not mmap-able",
};
