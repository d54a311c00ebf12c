/* SPDX-License-Identifier: MIT */
/* The capability chain: builders for PM, MSI, MSI-X, PCIe, vendor, DSN, and their side effects. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "pci/pci_priv.h"
#include "util/log.h"

#define EXP_V2_SIZE 0x3c /* v2 endpoint structure through Slot Status 2 */

/* Places a standard capability (caller holds the lock) and links it at the chain's end. */
static int alloc_cap(struct uvfio_pci_device *pdev, uint8_t id, uint32_t len)
{
	uint32_t off = pdev->cap_next;
	if (off + len > PCI_EXT_CAP_START)
		return -ENOSPC;
	cfg_put8(pdev, off + PCI_CAP_LIST_ID, id);
	cfg_put8(pdev, off + PCI_CAP_LIST_NEXT, 0);
	if (pdev->cap_last)
		cfg_put8(pdev, pdev->cap_last + PCI_CAP_LIST_NEXT, (uint8_t)off);
	else
		cfg_put8(pdev, PCI_CAPABILITY_LIST, (uint8_t)off);
	cfg_put16(pdev, PCI_STATUS, cfg_get16(pdev, PCI_STATUS) | PCI_STATUS_CAP_LIST);
	pdev->cap_last = off;
	pdev->cap_next = (off + len + 3) & ~3u;
	return (int)off;
}

int uvfio_pci_add_cap_pm(struct uvfio_pci_device *pdev)
{
	pthread_mutex_lock(&pdev->lock);
	int off = pdev->pm_off ? -EEXIST : alloc_cap(pdev, PCI_CAP_ID_PM, PCI_PM_SIZEOF);
	if (off > 0) {
		pdev->pm_off = (uint32_t)off;
		cfg_put16(pdev, off + PCI_PM_PMC, 3); /* version 3 (PM spec 1.2), D0 and D3hot only */
		/* No soft reset: D3hot -> D0 keeps state, so drivers need not restore config. */
		cfg_put16(pdev, off + PCI_PM_CTRL, PCI_PM_CTRL_NO_SOFT_RESET);
		cfg_masks(pdev, off + PCI_PM_CTRL, 2, PCI_PM_CTRL_STATE_MASK, 0);
	}
	pthread_mutex_unlock(&pdev->lock);
	return off;
}

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static unsigned ilog2(uint64_t v)
{
	unsigned r = 0;
	while (v >>= 1)
		r++;
	return r;
}

int uvfio_pci_add_cap_msi(struct uvfio_pci_device *pdev, unsigned nvectors, bool addr64,
			  bool per_vector_mask)
{
	if (!pow2(nvectors) || nvectors > 32)
		return -EINVAL;
	uint32_t len = addr64 ? 0x0e : 0x0a;
	if (per_vector_mask)
		len = addr64 ? 0x18 : 0x14;
	pthread_mutex_lock(&pdev->lock);
	int off = pdev->msi_off ? -EEXIST : alloc_cap(pdev, PCI_CAP_ID_MSI, len);
	if (off < 0) {
		pthread_mutex_unlock(&pdev->lock);
		return off;
	}
	uint16_t ctrl = (uint16_t)(ilog2(nvectors) << 1);
	if (addr64)
		ctrl |= PCI_MSI_FLAGS_64BIT;
	if (per_vector_mask)
		ctrl |= PCI_MSI_FLAGS_MASKBIT;
	cfg_put16(pdev, off + PCI_MSI_FLAGS, ctrl);
	cfg_masks(pdev, off + PCI_MSI_FLAGS, 2, PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE, 0);
	cfg_masks(pdev, off + PCI_MSI_ADDRESS_LO, 4, 0xfffffffc, 0);
	if (addr64)
		cfg_masks(pdev, off + PCI_MSI_ADDRESS_HI, 4, 0xffffffff, 0);
	cfg_masks(pdev, off + (addr64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32), 2, 0xffff, 0);
	if (per_vector_mask) {
		uint32_t m = nvectors == 32 ? 0xffffffffu : (1u << nvectors) - 1;
		cfg_masks(pdev, off + (addr64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32), 4, m, 0);
	}
	pdev->msi_off = (uint32_t)off;
	pdev->msi_nvec = nvectors;
	pdev->msi_64 = addr64;
	pdev->msi_pvm = per_vector_mask;
	pthread_mutex_unlock(&pdev->lock);
	int ret = uvfio_device_set_irq_info(pdev->dev, UVFIO_PCI_MSI_IRQ, nvectors,
					    UVFIO_IRQ_INFO_EVENTFD | UVFIO_IRQ_INFO_MASKABLE |
						    UVFIO_IRQ_INFO_NORESIZE);
	return ret < 0 ? ret : off;
}

static bool bar_holds(struct uvfio_pci_device *pdev, int bar, uint64_t off, uint64_t len)
{
	if (bar < 0 || bar >= PCI_NUM_BARS)
		return false;
	const struct pci_bar *b = &pdev->bars[bar];
	if (!b->size || b->type == UVFIO_PCI_BAR_IO)
		return false;
	return (off & 7) == 0 && off < b->size && len <= b->size - off;
}

static int msix_check(struct uvfio_pci_device *pdev, unsigned n, int tbar, uint32_t toff,
		      int pbar, uint32_t poff)
{
	uint64_t tlen = (uint64_t)n * PCI_MSIX_ENTRY_SIZE, plen = ((n + 63) / 64) * 8ull;
	if (n == 0 || n > MSIX_MAX_VECTORS)
		return -EINVAL;
	if (!bar_holds(pdev, tbar, toff, tlen) || !bar_holds(pdev, pbar, poff, plen))
		return -EINVAL;
	if (tbar == pbar && toff < poff + plen && poff < toff + tlen)
		return -EINVAL;
	return pdev->msix_off ? -EEXIST : 0;
}

int uvfio_pci_add_cap_msix(struct uvfio_pci_device *pdev, unsigned nvectors, int table_bar,
			   uint32_t table_offset, int pba_bar, uint32_t pba_offset)
{
	pthread_mutex_lock(&pdev->lock);
	int off = msix_check(pdev, nvectors, table_bar, table_offset, pba_bar, pba_offset);
	uint8_t *table = NULL, *vfio = NULL;
	uint64_t *pba = NULL;
	if (off == 0) {
		table = calloc(nvectors, PCI_MSIX_ENTRY_SIZE);
		pba = calloc((nvectors + 63) / 64, sizeof(*pba));
		vfio = calloc(nvectors, 1);
		off = table && pba && vfio ? 0 : -ENOMEM;
	}
	if (off == 0)
		off = alloc_cap(pdev, PCI_CAP_ID_MSIX, 12);
	if (off < 0) {
		pthread_mutex_unlock(&pdev->lock);
		free(table);
		free(pba);
		free(vfio);
		return off;
	}
	cfg_put16(pdev, off + PCI_MSIX_FLAGS, (uint16_t)(nvectors - 1));
	cfg_masks(pdev, off + PCI_MSIX_FLAGS, 2, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL, 0);
	cfg_put32(pdev, off + PCI_MSIX_TABLE, table_offset | (uint32_t)table_bar);
	cfg_put32(pdev, off + PCI_MSIX_PBA, pba_offset | (uint32_t)pba_bar);
	pdev->msix_off = (uint32_t)off;
	pdev->msix_nvec = nvectors;
	pdev->msix_table_bar = table_bar;
	pdev->msix_table_off = table_offset;
	pdev->msix_pba_bar = pba_bar;
	pdev->msix_pba_off = pba_offset;
	pdev->msix_table = table;
	pdev->msix_pba = pba;
	pdev->msix_vfio = vfio;
	msix_reset_locked(pdev);
	pthread_mutex_unlock(&pdev->lock);
	/* The table pages must not be mmap-able, or accesses would bypass the emulation. */
	int ret = pci_bar_update_mmap(pdev, table_bar);
	if (ret == 0 && pba_bar != table_bar)
		ret = pci_bar_update_mmap(pdev, pba_bar);
	if (ret == 0)
		ret = uvfio_device_set_irq_info(pdev->dev, UVFIO_PCI_MSIX_IRQ, nvectors,
						UVFIO_IRQ_INFO_EVENTFD | UVFIO_IRQ_INFO_MASKABLE);
	return ret < 0 ? ret : off;
}

int uvfio_pci_add_cap_exp(struct uvfio_pci_device *pdev, bool flr)
{
	pthread_mutex_lock(&pdev->lock);
	int off = pdev->exp_off ? -EEXIST : alloc_cap(pdev, PCI_CAP_ID_EXP, EXP_V2_SIZE);
	if (off < 0) {
		pthread_mutex_unlock(&pdev->lock);
		return off;
	}
	uint32_t o = (uint32_t)off;
	cfg_put16(pdev, o + PCI_EXP_FLAGS, 2 | PCI_EXP_TYPE_ENDPOINT << 4);
	cfg_put32(pdev, o + PCI_EXP_DEVCAP, PCI_EXP_DEVCAP_RBER | (flr ? PCI_EXP_DEVCAP_FLR : 0));
	/* Power-on DEVCTL per the spec: relaxed ordering, no snoop, 512-byte read requests. */
	cfg_put16(pdev, o + PCI_EXP_DEVCTL,
		  PCI_EXP_DEVCTL_RELAX_EN | PCI_EXP_DEVCTL_NOSNOOP_EN | PCI_EXP_DEVCTL_READRQ_512B);
	uint32_t devctl_rw = PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_NFERE | PCI_EXP_DEVCTL_FERE |
			     PCI_EXP_DEVCTL_URRE | PCI_EXP_DEVCTL_RELAX_EN |
			     PCI_EXP_DEVCTL_PAYLOAD | PCI_EXP_DEVCTL_EXT_TAG |
			     PCI_EXP_DEVCTL_NOSNOOP_EN | PCI_EXP_DEVCTL_READRQ;
	if (flr)
		devctl_rw |= PCI_EXP_DEVCTL_BCR_FLR;
	cfg_masks(pdev, o + PCI_EXP_DEVCTL, 2, devctl_rw, 0);
	cfg_masks(pdev, o + PCI_EXP_DEVSTA, 2, 0,
		  PCI_EXP_DEVSTA_CED | PCI_EXP_DEVSTA_NFED | PCI_EXP_DEVSTA_FED |
			  PCI_EXP_DEVSTA_URD);
	/* A x1 link at 2.5 GT/s, trained, on a slot with the common reference clock. */
	cfg_put32(pdev, o + PCI_EXP_LNKCAP, PCI_EXP_LNKCAP_SLS_2_5GB | 1u << 4);
	cfg_masks(pdev, o + PCI_EXP_LNKCTL, 2,
		  PCI_EXP_LNKCTL_ASPMC | PCI_EXP_LNKCTL_RCB | PCI_EXP_LNKCTL_CCC |
			  PCI_EXP_LNKCTL_ES,
		  0);
	cfg_put16(pdev, o + PCI_EXP_LNKSTA,
		  PCI_EXP_LNKSTA_CLS_2_5GB | PCI_EXP_LNKSTA_NLW_X1 | PCI_EXP_LNKSTA_SLC);
	cfg_put32(pdev, o + PCI_EXP_LNKCAP2, PCI_EXP_LNKCAP2_SLS_2_5GB);
	cfg_put16(pdev, o + PCI_EXP_LNKCTL2, PCI_EXP_LNKSTA_CLS_2_5GB);
	pdev->exp_off = o;
	pdev->flr = flr;
	pthread_mutex_unlock(&pdev->lock);
	return off;
}

int uvfio_pci_add_cap_vendor(struct uvfio_pci_device *pdev, const void *data, size_t len)
{
	if ((len && !data) || len > 0xff - 3)
		return -EINVAL;
	pthread_mutex_lock(&pdev->lock);
	int off = alloc_cap(pdev, PCI_CAP_ID_VNDR, (uint32_t)len + 3);
	if (off > 0) {
		cfg_put8(pdev, (uint32_t)off + 2, (uint8_t)(len + 3));
		if (len)
			memcpy(&pdev->cfg[off + 3], data, len);
	}
	pthread_mutex_unlock(&pdev->lock);
	return off;
}

static uint32_t find_ext_cap_locked(struct uvfio_pci_device *pdev, uint16_t cap_id)
{
	uint32_t off = PCI_EXT_CAP_START;
	for (int i = 0; i < (UVFIO_PCI_CFG_SIZE - PCI_EXT_CAP_START) / 4 && off >= PCI_EXT_CAP_START;
	     i++) {
		uint32_t hdr = cfg_get32(pdev, off);
		if (hdr == 0)
			return 0;
		if ((hdr & 0xffff) == cap_id)
			return off;
		off = (hdr >> 20) & ~3u;
	}
	return 0;
}

int uvfio_pci_add_ext_cap_dsn(struct uvfio_pci_device *pdev, uint64_t serial)
{
	pthread_mutex_lock(&pdev->lock);
	int ret = 0;
	uint32_t off = pdev->ext_next;
	if (find_ext_cap_locked(pdev, PCI_EXT_CAP_ID_DSN))
		ret = -EEXIST;
	else if (off + PCI_EXT_CAP_DSN_SIZEOF > UVFIO_PCI_CFG_SIZE)
		ret = -ENOSPC;
	if (ret < 0) {
		pthread_mutex_unlock(&pdev->lock);
		return ret;
	}
	cfg_put32(pdev, off, PCI_EXT_CAP_ID_DSN | 1u << 16);
	cfg_put32(pdev, off + 4, (uint32_t)serial);
	cfg_put32(pdev, off + 8, (uint32_t)(serial >> 32));
	if (pdev->ext_last)
		cfg_put32(pdev, pdev->ext_last,
			  (cfg_get32(pdev, pdev->ext_last) & 0xfffff) | off << 20);
	pdev->ext_last = off;
	pdev->ext_next = (off + PCI_EXT_CAP_DSN_SIZEOF + 3) & ~3u;
	pthread_mutex_unlock(&pdev->lock);
	return (int)off;
}

static uint32_t find_cap_locked(struct uvfio_pci_device *pdev, uint8_t cap_id)
{
	if (!(cfg_get16(pdev, PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return 0;
	uint32_t off = cfg_get8(pdev, PCI_CAPABILITY_LIST) & ~3u;
	/* Bounded walk: a chain can hold at most 48 capabilities, so a loop cannot hang us. */
	for (int i = 0; i < 48 && off >= PCI_CAP_START; i++) {
		if (cfg_get8(pdev, off + PCI_CAP_LIST_ID) == cap_id)
			return off;
		off = cfg_get8(pdev, off + PCI_CAP_LIST_NEXT) & ~3u;
	}
	return 0;
}

uint32_t uvfio_pci_find_cap(struct uvfio_pci_device *pdev, uint8_t cap_id)
{
	pthread_mutex_lock(&pdev->lock);
	uint32_t off = find_cap_locked(pdev, cap_id);
	pthread_mutex_unlock(&pdev->lock);
	return off;
}

uint32_t uvfio_pci_find_ext_cap(struct uvfio_pci_device *pdev, uint16_t cap_id)
{
	pthread_mutex_lock(&pdev->lock);
	uint32_t off = find_ext_cap_locked(pdev, cap_id);
	pthread_mutex_unlock(&pdev->lock);
	return off;
}

static bool touches(uint32_t off, uint32_t n, uint32_t reg, uint32_t len)
{
	return off < reg + len && reg < off + n;
}

static void pm_written(struct uvfio_pci_device *pdev, uint32_t off, const uint8_t *old,
		       uint32_t n)
{
	uint32_t reg = pdev->pm_off + PCI_PM_CTRL;
	if (!pdev->pm_off || !touches(off, n, reg, 1))
		return;
	/* D1 and D2 are not supported: such a write leaves the power state unchanged. */
	uint8_t st = cfg_get8(pdev, reg) & PCI_PM_CTRL_STATE_MASK;
	if (st == 1 || st == 2)
		cfg_put8(pdev, reg, old[reg - off]);
}

static void msi_written(struct uvfio_pci_device *pdev, uint32_t off, uint32_t n)
{
	if (!pdev->msi_off || !touches(off, n, pdev->msi_off, pdev->msi_pvm ? 0x18 : 0x0e))
		return;
	uint32_t reg = pdev->msi_off + PCI_MSI_FLAGS;
	uint16_t ctrl = cfg_get16(pdev, reg);
	unsigned mmc = (ctrl & PCI_MSI_FLAGS_QMASK) >> 1;
	unsigned mme = (ctrl & PCI_MSI_FLAGS_QSIZE) >> 4;
	/* More vectors than the function can generate cannot be enabled. */
	if (mme > mmc)
		cfg_put16(pdev, reg, (uint16_t)((ctrl & ~PCI_MSI_FLAGS_QSIZE) | mmc << 4));
	msi_deliver_pending_locked(pdev);
}

static bool exp_written(struct uvfio_pci_device *pdev, uint32_t off, uint32_t n)
{
	uint32_t reg = pdev->exp_off + PCI_EXP_DEVCTL;
	if (!pdev->exp_off || !pdev->flr || !touches(off, n, reg, 2))
		return false;
	uint16_t ctl = cfg_get16(pdev, reg);
	if (!(ctl & PCI_EXP_DEVCTL_BCR_FLR))
		return false;
	/* "Initiate FLR" always reads as 0. */
	cfg_put16(pdev, reg, ctl & (uint16_t)~PCI_EXP_DEVCTL_BCR_FLR);
	return true;
}

bool caps_written_locked(struct uvfio_pci_device *pdev, uint32_t off, uint32_t size,
			 const uint8_t *old)
{
	pm_written(pdev, off, old, size);
	msi_written(pdev, off, size);
	if (pdev->msix_off && touches(off, size, pdev->msix_off + PCI_MSIX_FLAGS, 2))
		msix_deliver_pending_locked(pdev);
	return exp_written(pdev, off, size);
}
