/* SPDX-License-Identifier: MIT */
/* INTx and MSI signalling, and mirroring vfio irq setup into config space like vfio-pci. */
#include <errno.h>

#include <linux/pci_regs.h>

#include "pci/pci_priv.h"
#include "util/log.h"

static uint32_t msi_mask_reg(struct uvfio_pci_device *pdev)
{
	return pdev->msi_off + (pdev->msi_64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32);
}

static uint32_t msi_pending_reg(struct uvfio_pci_device *pdev)
{
	return pdev->msi_off + (pdev->msi_64 ? PCI_MSI_PENDING_64 : PCI_MSI_PENDING_32);
}

static bool msi_on_locked(struct uvfio_pci_device *pdev)
{
	return pdev->msi_off &&
	       (cfg_get16(pdev, pdev->msi_off + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_ENABLE);
}

static bool msix_on_locked(struct uvfio_pci_device *pdev)
{
	return pdev->msix_off &&
	       (cfg_get16(pdev, pdev->msix_off + PCI_MSIX_FLAGS) & PCI_MSIX_FLAGS_ENABLE);
}

/* Drives the device-level INTx line from STATUS.INTERRUPT and COMMAND.INTX_DISABLE. */
void intx_update_locked(struct uvfio_pci_device *pdev)
{
	uint16_t st = cfg_get16(pdev, PCI_STATUS) & (uint16_t)~PCI_STATUS_INTERRUPT;
	if (pdev->intx_status)
		st |= PCI_STATUS_INTERRUPT;
	cfg_put16(pdev, PCI_STATUS, st);
	if (!pdev->intx_pin)
		return;
	bool line = pdev->intx_status &&
		    !(cfg_get16(pdev, PCI_COMMAND) & PCI_COMMAND_INTX_DISABLE);
	uvfio_device_irq_level(pdev->dev, UVFIO_PCI_INTX_IRQ, 0, line);
}

int msi_raise_locked(struct uvfio_pci_device *pdev, unsigned vector)
{
	if (vector >= pdev->msi_nvec)
		return -EINVAL;
	unsigned mme = (cfg_get16(pdev, pdev->msi_off + PCI_MSI_FLAGS) & PCI_MSI_FLAGS_QSIZE) >> 4;
	/* With fewer vectors enabled than requested, the function modifies fewer data bits. */
	unsigned v = vector & ((1u << mme) - 1);
	if (pdev->msi_pvm && (cfg_get32(pdev, msi_mask_reg(pdev)) & (1u << v))) {
		uint32_t p = msi_pending_reg(pdev);
		cfg_put32(pdev, p, cfg_get32(pdev, p) | 1u << v);
		return 0;
	}
	return uvfio_device_irq_trigger(pdev->dev, UVFIO_PCI_MSI_IRQ, v);
}

void msi_deliver_pending_locked(struct uvfio_pci_device *pdev)
{
	if (!pdev->msi_pvm || !msi_on_locked(pdev))
		return;
	uint32_t pend = cfg_get32(pdev, msi_pending_reg(pdev));
	uint32_t fire = pend & ~cfg_get32(pdev, msi_mask_reg(pdev));
	if (!fire)
		return;
	cfg_put32(pdev, msi_pending_reg(pdev), pend & ~fire);
	for (unsigned v = 0; v < pdev->msi_nvec; v++)
		if (fire & (1u << v))
			uvfio_device_irq_trigger(pdev->dev, UVFIO_PCI_MSI_IRQ, v);
}

/*
 * A client that sets up MSI through vfio expects the function to use MSI: the host kernel
 * enables it in hardware for vfio-pci, with as many vectors as were set up, until the index is
 * disabled. Only transitions are mirrored (or everything, after a reset), so a client that
 * programs the capability itself is not overridden.
 */
void msi_mirror_locked(struct uvfio_pci_device *pdev, bool force)
{
	if (!pdev->msi_off)
		return;
	bool on = uvfio_device_irq_index_enabled(pdev->dev, UVFIO_PCI_MSI_IRQ);
	uint32_t cur = 0;
	for (unsigned v = 0; v < pdev->msi_nvec; v++)
		if (uvfio_device_irq_enabled(pdev->dev, UVFIO_PCI_MSI_IRQ, v))
			cur |= 1u << v;
	if (!force && on == pdev->msi_vfio_on && cur == pdev->msi_vfio_vecs)
		return;
	bool was = pdev->msi_vfio_on;
	pdev->msi_vfio_on = on;
	pdev->msi_vfio_vecs = cur;
	uint32_t reg = pdev->msi_off + PCI_MSI_FLAGS;
	uint16_t ctrl = cfg_get16(pdev, reg) & (uint16_t)~(PCI_MSI_FLAGS_ENABLE | PCI_MSI_FLAGS_QSIZE);
	if (!on) {
		if (was || force)
			cfg_put16(pdev, reg, ctrl);
		return;
	}
	unsigned top = cur ? 31 - (unsigned)__builtin_clz(cur) : 0;
	unsigned mme = 0;
	while ((1u << mme) <= top)
		mme++;
	cfg_put16(pdev, reg, (uint16_t)(ctrl | PCI_MSI_FLAGS_ENABLE | mme << 4));
	msi_deliver_pending_locked(pdev);
}

void pci_irqs_changed(struct uvfio_device *dev, uint32_t index)
{
	struct uvfio_pci_device *pdev = uvfio_device_priv(dev);
	if (!pdev)
		return;
	pthread_mutex_lock(&pdev->lock);
	if (index == UVFIO_PCI_INTX_IRQ)
		intx_update_locked(pdev); /* a line asserted before the eventfd came fires now */
	else if (index == UVFIO_PCI_MSI_IRQ)
		msi_mirror_locked(pdev, false);
	else if (index == UVFIO_PCI_MSIX_IRQ)
		msix_mirror_locked(pdev, false);
	pthread_mutex_unlock(&pdev->lock);
}

void pci_irq_unmasked(struct uvfio_device *dev, uint32_t index, uint32_t vector)
{
	struct uvfio_pci_device *pdev = uvfio_device_priv(dev);
	if (!pdev || index != UVFIO_PCI_INTX_IRQ)
		return;
	/* Level semantics: a line still asserted after the client's EOI fires again. */
	pthread_mutex_lock(&pdev->lock);
	intx_update_locked(pdev);
	pthread_mutex_unlock(&pdev->lock);
}

int uvfio_pci_raise_irq(struct uvfio_pci_device *pdev, unsigned vector)
{
	int ret = 0;
	pthread_mutex_lock(&pdev->lock);
	if (msix_on_locked(pdev)) {
		ret = msix_raise_locked(pdev, vector);
	} else if (msi_on_locked(pdev)) {
		ret = msi_raise_locked(pdev, vector);
	} else if (pdev->intx_pin) {
		pdev->intx_status = true;
		intx_update_locked(pdev);
	} else {
		ret = -ENODEV; /* no interrupt mechanism enabled */
	}
	pthread_mutex_unlock(&pdev->lock);
	return ret;
}

void uvfio_pci_set_intx(struct uvfio_pci_device *pdev, bool asserted)
{
	pthread_mutex_lock(&pdev->lock);
	pdev->intx_status = asserted && pdev->intx_pin;
	intx_update_locked(pdev);
	pthread_mutex_unlock(&pdev->lock);
}

bool uvfio_pci_msi_enabled(struct uvfio_pci_device *pdev)
{
	pthread_mutex_lock(&pdev->lock);
	bool on = msi_on_locked(pdev);
	pthread_mutex_unlock(&pdev->lock);
	return on;
}

bool uvfio_pci_msix_enabled(struct uvfio_pci_device *pdev)
{
	pthread_mutex_lock(&pdev->lock);
	bool on = msix_on_locked(pdev);
	pthread_mutex_unlock(&pdev->lock);
	return on;
}
