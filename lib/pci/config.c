/* SPDX-License-Identifier: MIT */
/* Config space: raw storage, per-byte write masks, and the client access path. */
#include <errno.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "pci/pci_priv.h"
#include "util/log.h"

uint8_t cfg_get8(struct uvfio_pci_device *pdev, uint32_t off)
{
	return off < UVFIO_PCI_CFG_SIZE ? pdev->cfg[off] : 0;
}

uint16_t cfg_get16(struct uvfio_pci_device *pdev, uint32_t off)
{
	return (uint16_t)(cfg_get8(pdev, off) | cfg_get8(pdev, off + 1) << 8);
}

uint32_t cfg_get32(struct uvfio_pci_device *pdev, uint32_t off)
{
	return (uint32_t)cfg_get16(pdev, off) | (uint32_t)cfg_get16(pdev, off + 2) << 16;
}

void cfg_put8(struct uvfio_pci_device *pdev, uint32_t off, uint8_t val)
{
	if (off < UVFIO_PCI_CFG_SIZE)
		pdev->cfg[off] = val;
}

void cfg_put16(struct uvfio_pci_device *pdev, uint32_t off, uint16_t val)
{
	cfg_put8(pdev, off, (uint8_t)val);
	cfg_put8(pdev, off + 1, (uint8_t)(val >> 8));
}

void cfg_put32(struct uvfio_pci_device *pdev, uint32_t off, uint32_t val)
{
	cfg_put16(pdev, off, (uint16_t)val);
	cfg_put16(pdev, off + 2, (uint16_t)(val >> 16));
}

void cfg_masks(struct uvfio_pci_device *pdev, uint32_t off, uint32_t size, uint32_t rw,
	       uint32_t w1c)
{
	for (uint32_t i = 0; i < size && i < 4 && off + i < UVFIO_PCI_CFG_SIZE; i++) {
		pdev->rw[off + i] = (uint8_t)(rw >> (8 * i));
		pdev->w1c[off + i] = (uint8_t)(w1c >> (8 * i));
	}
}

void cfg_init_header(struct uvfio_pci_device *pdev)
{
	const struct uvfio_pci_ident *id = &pdev->ident;
	cfg_put16(pdev, PCI_VENDOR_ID, id->vendor);
	cfg_put16(pdev, PCI_DEVICE_ID, id->device);
	cfg_put8(pdev, PCI_REVISION_ID, id->revision);
	cfg_put8(pdev, PCI_CLASS_PROG, (uint8_t)id->class_code);
	cfg_put16(pdev, PCI_CLASS_DEVICE, (uint16_t)(id->class_code >> 8));
	cfg_put16(pdev, PCI_SUBSYSTEM_VENDOR_ID, id->subvendor);
	cfg_put16(pdev, PCI_SUBSYSTEM_ID, id->subdevice);
	cfg_put8(pdev, PCI_HEADER_TYPE, PCI_HEADER_TYPE_NORMAL);

	cfg_masks(pdev, PCI_COMMAND, 2,
		  PCI_COMMAND_IO | PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_PARITY |
			  PCI_COMMAND_SERR | PCI_COMMAND_INTX_DISABLE,
		  0);
	cfg_masks(pdev, PCI_STATUS, 2, 0,
		  PCI_STATUS_PARITY | PCI_STATUS_SIG_TARGET_ABORT | PCI_STATUS_REC_TARGET_ABORT |
			  PCI_STATUS_REC_MASTER_ABORT | PCI_STATUS_SIG_SYSTEM_ERROR |
			  PCI_STATUS_DETECTED_PARITY);
	cfg_masks(pdev, PCI_CACHE_LINE_SIZE, 1, 0xff, 0);
	cfg_masks(pdev, PCI_LATENCY_TIMER, 1, 0xff, 0);
	cfg_masks(pdev, PCI_INTERRUPT_LINE, 1, 0xff, 0);
}

uint8_t uvfio_pci_cfg_read8(struct uvfio_pci_device *pdev, uint32_t off)
{
	pthread_mutex_lock(&pdev->lock);
	uint8_t v = cfg_get8(pdev, off);
	pthread_mutex_unlock(&pdev->lock);
	return v;
}

uint16_t uvfio_pci_cfg_read16(struct uvfio_pci_device *pdev, uint32_t off)
{
	pthread_mutex_lock(&pdev->lock);
	uint16_t v = cfg_get16(pdev, off);
	pthread_mutex_unlock(&pdev->lock);
	return v;
}

uint32_t uvfio_pci_cfg_read32(struct uvfio_pci_device *pdev, uint32_t off)
{
	pthread_mutex_lock(&pdev->lock);
	uint32_t v = cfg_get32(pdev, off);
	pthread_mutex_unlock(&pdev->lock);
	return v;
}

void uvfio_pci_cfg_write8(struct uvfio_pci_device *pdev, uint32_t off, uint8_t val)
{
	pthread_mutex_lock(&pdev->lock);
	cfg_put8(pdev, off, val);
	pthread_mutex_unlock(&pdev->lock);
}

void uvfio_pci_cfg_write16(struct uvfio_pci_device *pdev, uint32_t off, uint16_t val)
{
	pthread_mutex_lock(&pdev->lock);
	cfg_put16(pdev, off, val);
	pthread_mutex_unlock(&pdev->lock);
}

void uvfio_pci_cfg_write32(struct uvfio_pci_device *pdev, uint32_t off, uint32_t val)
{
	pthread_mutex_lock(&pdev->lock);
	cfg_put32(pdev, off, val);
	pthread_mutex_unlock(&pdev->lock);
}

void uvfio_pci_cfg_set_masks(struct uvfio_pci_device *pdev, uint32_t off, uint32_t size,
			     uint32_t rw_mask, uint32_t w1c_mask)
{
	pthread_mutex_lock(&pdev->lock);
	cfg_masks(pdev, off, size, rw_mask, w1c_mask);
	pthread_mutex_unlock(&pdev->lock);
}

static bool overlaps(uint32_t off, uint32_t n, uint32_t reg, uint32_t reg_len)
{
	return off < reg + reg_len && reg < off + n;
}

/* One write within a dword: masks, then the side effects of the registers it touched. */
static void write_chunk(struct uvfio_pci_device *pdev, uint32_t off, const uint8_t *buf,
			uint32_t n)
{
	pthread_mutex_lock(&pdev->lock);
	uint16_t old_cmd = cfg_get16(pdev, PCI_COMMAND);
	uint8_t old[4];
	memcpy(old, &pdev->cfg[off], n);
	for (uint32_t i = 0; i < n; i++) {
		uint32_t o = off + i;
		uint8_t v = (uint8_t)((pdev->cfg[o] & ~pdev->rw[o]) | (buf[i] & pdev->rw[o]));
		pdev->cfg[o] = (uint8_t)(v & ~(buf[i] & pdev->w1c[o]));
	}
	if (overlaps(off, n, PCI_COMMAND, 2) &&
	    ((old_cmd ^ cfg_get16(pdev, PCI_COMMAND)) & PCI_COMMAND_INTX_DISABLE))
		intx_update_locked(pdev);
	bool flr = caps_written_locked(pdev, off, n, old);
	pthread_mutex_unlock(&pdev->lock);

	/* Reset and driver callbacks run unlocked: they may raise interrupts or read config. */
	if (flr)
		uvfio_pci_reset(pdev);
	if (pdev->ops && pdev->ops->config_written)
		pdev->ops->config_written(pdev, off, n);
}

ssize_t uvfio_pci_cfg_access(struct uvfio_pci_device *pdev, uint32_t off, void *buf,
			     size_t count, bool is_write)
{
	if (!pdev || !buf || count == 0 || off >= UVFIO_PCI_CFG_SIZE ||
	    count > UVFIO_PCI_CFG_SIZE - off)
		return -EINVAL;
	uint8_t *p = buf;
	if (!is_write) {
		pthread_mutex_lock(&pdev->lock);
		memcpy(p, &pdev->cfg[off], count);
		pthread_mutex_unlock(&pdev->lock);
		return (ssize_t)count;
	}
	/* Larger writes are split at dword boundaries, as a CPU's config cycles would be. */
	size_t done = 0;
	while (done < count) {
		uint32_t o = off + (uint32_t)done;
		size_t n = 4 - (o & 3);
		if (n > count - done)
			n = count - done;
		write_chunk(pdev, o, p + done, (uint32_t)n);
		done += n;
	}
	return (ssize_t)count;
}
