/* SPDX-License-Identifier: MIT */
/*
 * The PCI core's part of a migration stream: config space, MSI-X table and PBA, INTx line.
 *
 * Layout (little-endian): a 24-byte header {magic "PCIS", version, config size, MSI-X vector
 * count, flags (bit 0: INTx asserted), reserved 0}, the 4 KiB of config space, the MSI-X table
 * (16 bytes per vector), the PBA (one u64 per 64 vectors).
 *
 * The state comes from a peer, so load trusts none of it: it must describe a function laid out
 * like this one (read-only bits equal) and hold only values a client or the core could have
 * produced. Anything else is refused before a byte changes.
 */
#include <errno.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "pci/pci_priv.h"
#include "util/log.h"

#define STATE_MAGIC 0x53494350u /* "PCIS" */
#define STATE_VERSION 1u
#define STATE_HDR_SIZE 24u
#define STATE_FLAG_INTX 1u

static uint32_t get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static void put_le32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static uint64_t get_le64(const uint8_t *p)
{
	return (uint64_t)get_le32(p) | (uint64_t)get_le32(p + 4) << 32;
}

static void put_le64(uint8_t *p, uint64_t v)
{
	put_le32(p, (uint32_t)v);
	put_le32(p + 4, (uint32_t)(v >> 32));
}

static size_t table_bytes(struct uvfio_pci_device *pdev)
{
	return (size_t)pdev->msix_nvec * PCI_MSIX_ENTRY_SIZE;
}

static size_t pba_words(struct uvfio_pci_device *pdev)
{
	return (pdev->msix_nvec + 63) / 64;
}

size_t uvfio_pci_state_size(struct uvfio_pci_device *pdev)
{
	if (!pdev)
		return 0;
	return STATE_HDR_SIZE + UVFIO_PCI_CFG_SIZE + table_bytes(pdev) + pba_words(pdev) * 8;
}

ssize_t uvfio_pci_state_save(struct uvfio_pci_device *pdev, void *buf, size_t len)
{
	if (!pdev || !buf)
		return -EINVAL;
	size_t size = uvfio_pci_state_size(pdev);
	if (len < size)
		return -ENOSPC;
	uint8_t *p = buf;
	pthread_mutex_lock(&pdev->lock);
	put_le32(p, STATE_MAGIC);
	put_le32(p + 4, STATE_VERSION);
	put_le32(p + 8, UVFIO_PCI_CFG_SIZE);
	put_le32(p + 12, pdev->msix_nvec);
	put_le32(p + 16, pdev->intx_status ? STATE_FLAG_INTX : 0);
	put_le32(p + 20, 0);
	p += STATE_HDR_SIZE;
	memcpy(p, pdev->cfg, UVFIO_PCI_CFG_SIZE);
	p += UVFIO_PCI_CFG_SIZE;
	if (pdev->msix_off) {
		memcpy(p, pdev->msix_table, table_bytes(pdev));
		p += table_bytes(pdev);
		for (size_t i = 0; i < pba_words(pdev); i++, p += 8)
			put_le64(p, pdev->msix_pba[i]);
	}
	pthread_mutex_unlock(&pdev->lock);
	return (ssize_t)size;
}

/* Config bits the core changes by itself, so they may differ from ours although read-only. */
static uint32_t msi_pending_reg(struct uvfio_pci_device *pdev)
{
	return pdev->msi_off + (pdev->msi_64 ? PCI_MSI_PENDING_64 : PCI_MSI_PENDING_32);
}

static uint8_t dynamic_bits(struct uvfio_pci_device *pdev, uint32_t off)
{
	if (off == PCI_STATUS)
		return PCI_STATUS_INTERRUPT;
	if (pdev->msi_pvm && off >= msi_pending_reg(pdev) && off < msi_pending_reg(pdev) + 4)
		return 0xff;
	return 0;
}

/* Bits of an MSI-X table byte a client can set (address dword-aligned, data, mask bit). */
static uint8_t table_settable(size_t off_in_entry)
{
	if (off_in_entry == PCI_MSIX_ENTRY_LOWER_ADDR)
		return 0xfc;
	if (off_in_entry < PCI_MSIX_ENTRY_VECTOR_CTRL)
		return 0xff;
	return off_in_entry == PCI_MSIX_ENTRY_VECTOR_CTRL ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0;
}

static uint16_t le16_at(const uint8_t *cfg, uint32_t off)
{
	return (uint16_t)(cfg[off] | cfg[off + 1] << 8);
}

/* Values of writable registers that the core's write path never lets a client produce. */
static int check_cap_values(struct uvfio_pci_device *pdev, const uint8_t *cfg)
{
	if (pdev->msi_off) {
		uint16_t ctrl = le16_at(cfg, pdev->msi_off + PCI_MSI_FLAGS);
		unsigned mmc = (ctrl & PCI_MSI_FLAGS_QMASK) >> 1;
		unsigned mme = (ctrl & PCI_MSI_FLAGS_QSIZE) >> 4;
		if (mme > mmc) {
			log_err("pci state: MSI enables %u vectors, the function has %u", 1u << mme,
				1u << mmc);
			return -EINVAL;
		}
		if (pdev->msi_pvm) {
			uint32_t pend = msi_pending_reg(pdev);
			uint32_t valid = pdev->msi_nvec >= 32 ? 0xffffffffu
							      : (1u << pdev->msi_nvec) - 1;
			if (get_le32(cfg + pend) & ~valid) {
				log_err("pci state: MSI pending bits beyond vector %u",
					pdev->msi_nvec - 1);
				return -EINVAL;
			}
		}
	}
	if (pdev->pm_off) {
		unsigned st = cfg[pdev->pm_off + PCI_PM_CTRL] & PCI_PM_CTRL_STATE_MASK;
		if (st == 1 || st == 2) {
			log_err("pci state: power state D%u is not supported", st);
			return -EINVAL;
		}
	}
	uint32_t devctl = pdev->exp_off + PCI_EXP_DEVCTL;
	if (pdev->exp_off && (le16_at(cfg, devctl) & PCI_EXP_DEVCTL_BCR_FLR)) {
		log_err("pci state: Initiate FLR reads as 0, the state has it set");
		return -EINVAL;
	}
	return 0;
}

static int check_locked(struct uvfio_pci_device *pdev, const uint8_t *p, size_t len)
{
	if (len < STATE_HDR_SIZE) {
		log_err("pci state: %zu bytes, shorter than its header", len);
		return -EINVAL;
	}
	uint32_t flags = get_le32(p + 16);
	if (get_le32(p) != STATE_MAGIC || get_le32(p + 4) != STATE_VERSION ||
	    get_le32(p + 8) != UVFIO_PCI_CFG_SIZE || (flags & ~STATE_FLAG_INTX) ||
	    get_le32(p + 20) != 0) {
		log_err("pci state: bad header (magic 0x%08x version %u config size %u flags 0x%x)",
			get_le32(p), get_le32(p + 4), get_le32(p + 8), flags);
		return -EINVAL;
	}
	if (get_le32(p + 12) != pdev->msix_nvec) {
		log_err("pci state: %u MSI-X vectors, this function has %u", get_le32(p + 12),
			pdev->msix_nvec);
		return -EINVAL;
	}
	size_t want = STATE_HDR_SIZE + UVFIO_PCI_CFG_SIZE + table_bytes(pdev) + pba_words(pdev) * 8;
	if (len != want) {
		log_err("pci state: %zu bytes, expected %zu", len, want);
		return -EINVAL;
	}
	const uint8_t *cfg = p + STATE_HDR_SIZE;
	for (uint32_t off = 0; off < UVFIO_PCI_CFG_SIZE; off++) {
		uint8_t can_change = pdev->rw[off] | pdev->w1c[off] | dynamic_bits(pdev, off);
		uint8_t fixed = (uint8_t)~can_change;
		if ((cfg[off] ^ pdev->cfg[off]) & fixed) {
			log_err("pci state: read-only bits of config byte 0x%03x differ (0x%02x, "
				"here 0x%02x): another kind of function",
				off, cfg[off], pdev->cfg[off]);
			return -EINVAL;
		}
	}
	bool intx = flags & STATE_FLAG_INTX;
	bool status_intx = le16_at(cfg, PCI_STATUS) & PCI_STATUS_INTERRUPT;
	if (intx != status_intx || (intx && !pdev->intx_pin)) {
		log_err("pci state: INTx line and STATUS.INTERRUPT disagree");
		return -EINVAL;
	}
	int ret = check_cap_values(pdev, cfg);
	if (ret < 0)
		return ret;
	const uint8_t *table = cfg + UVFIO_PCI_CFG_SIZE;
	for (size_t i = 0; i < table_bytes(pdev); i++) {
		if (table[i] & ~table_settable(i % PCI_MSIX_ENTRY_SIZE)) {
			log_err("pci state: MSI-X table byte 0x%zx has reserved bits set", i);
			return -EINVAL;
		}
	}
	const uint8_t *pba = table + table_bytes(pdev);
	unsigned tail = pdev->msix_nvec % 64;
	if (tail && (get_le64(pba + (pba_words(pdev) - 1) * 8) >> tail)) {
		log_err("pci state: PBA bits beyond vector %u", pdev->msix_nvec - 1);
		return -EINVAL;
	}
	return 0;
}

int uvfio_pci_state_check(struct uvfio_pci_device *pdev, const void *buf, size_t len)
{
	if (!pdev || !buf)
		return -EINVAL;
	pthread_mutex_lock(&pdev->lock);
	int ret = check_locked(pdev, buf, len);
	pthread_mutex_unlock(&pdev->lock);
	return ret;
}

/*
 * The mirror bookkeeping (what the vfio irq setup looked like when last mirrored into config
 * space) describes this side's client, so it is taken from the current setup, not the state:
 * the next SET_IRQS then changes config space only where this client's setup changes.
 */
static void sync_mirror_locked(struct uvfio_pci_device *pdev)
{
	struct uvfio_device *dev = pdev->dev;
	if (pdev->msi_off) {
		pdev->msi_vfio_on = uvfio_device_irq_index_enabled(dev, UVFIO_PCI_MSI_IRQ);
		pdev->msi_vfio_vecs = 0;
		for (unsigned v = 0; v < pdev->msi_nvec; v++)
			if (uvfio_device_irq_enabled(dev, UVFIO_PCI_MSI_IRQ, v))
				pdev->msi_vfio_vecs |= 1u << v;
	}
	if (pdev->msix_off) {
		pdev->msix_vfio_on = uvfio_device_irq_index_enabled(dev, UVFIO_PCI_MSIX_IRQ);
		for (unsigned v = 0; v < pdev->msix_nvec; v++)
			pdev->msix_vfio[v] = uvfio_device_irq_enabled(dev, UVFIO_PCI_MSIX_IRQ, v);
	}
}

int uvfio_pci_state_load(struct uvfio_pci_device *pdev, const void *buf, size_t len)
{
	if (!pdev || !buf)
		return -EINVAL;
	const uint8_t *p = buf;
	pthread_mutex_lock(&pdev->lock);
	int ret = check_locked(pdev, p, len);
	if (ret < 0) {
		pthread_mutex_unlock(&pdev->lock);
		return ret;
	}
	const uint8_t *cfg = p + STATE_HDR_SIZE;
	memcpy(pdev->cfg, cfg, UVFIO_PCI_CFG_SIZE);
	if (pdev->msix_off) {
		const uint8_t *table = cfg + UVFIO_PCI_CFG_SIZE;
		memcpy(pdev->msix_table, table, table_bytes(pdev));
		const uint8_t *pba = table + table_bytes(pdev);
		for (size_t i = 0; i < pba_words(pdev); i++)
			pdev->msix_pba[i] = get_le64(pba + i * 8);
	}
	pdev->intx_status = get_le32(p + 16) & STATE_FLAG_INTX;
	sync_mirror_locked(pdev);
	/* The restored line state reaches the device core (deferred there while quiesced). */
	intx_update_locked(pdev);
	pthread_mutex_unlock(&pdev->lock);
	return 0;
}
