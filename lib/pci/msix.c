/* SPDX-License-Identifier: MIT */
/* MSI-X: the table and PBA that live inside the driver's BARs, emulated by the core. */
#include <errno.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "pci/pci_priv.h"
#include "util/log.h"

static uint64_t table_len(struct uvfio_pci_device *pdev)
{
	return (uint64_t)pdev->msix_nvec * PCI_MSIX_ENTRY_SIZE;
}

static uint64_t pba_len(struct uvfio_pci_device *pdev)
{
	return ((pdev->msix_nvec + 63) / 64) * 8ull;
}

bool msix_claims(struct uvfio_pci_device *pdev, int bar, uint64_t off, uint64_t *len)
{
	uint64_t next = UINT64_MAX;
	const struct {
		int bar;
		uint64_t start, len;
	} r[2] = {
		{ pdev->msix_table_bar, pdev->msix_table_off, table_len(pdev) },
		{ pdev->msix_pba_bar, pdev->msix_pba_off, pba_len(pdev) },
	};
	if (!pdev->msix_off) {
		*len = UINT64_MAX;
		return false;
	}
	for (int i = 0; i < 2; i++) {
		if (r[i].bar != bar)
			continue;
		if (off >= r[i].start && off - r[i].start < r[i].len) {
			*len = r[i].len - (off - r[i].start);
			return true;
		}
		if (r[i].start > off && r[i].start - off < next)
			next = r[i].start - off;
	}
	*len = next;
	return false;
}

static uint32_t entry_ctrl(struct uvfio_pci_device *pdev, unsigned v)
{
	const uint8_t *e = &pdev->msix_table[v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL];
	return (uint32_t)e[0] | (uint32_t)e[1] << 8 | (uint32_t)e[2] << 16 | (uint32_t)e[3] << 24;
}

static bool vec_masked(struct uvfio_pci_device *pdev, unsigned v)
{
	return entry_ctrl(pdev, v) & PCI_MSIX_ENTRY_CTRL_MASKBIT;
}

static void set_vec_mask(struct uvfio_pci_device *pdev, unsigned v, bool masked)
{
	uint8_t *e = &pdev->msix_table[v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL];
	e[0] = (uint8_t)((e[0] & ~PCI_MSIX_ENTRY_CTRL_MASKBIT) |
			 (masked ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0));
}

static uint16_t ctrl(struct uvfio_pci_device *pdev)
{
	return cfg_get16(pdev, pdev->msix_off + PCI_MSIX_FLAGS);
}

static bool pba_test(struct uvfio_pci_device *pdev, unsigned v)
{
	return pdev->msix_pba[v / 64] & (1ull << (v % 64));
}

static void pba_set(struct uvfio_pci_device *pdev, unsigned v, bool on)
{
	if (on)
		pdev->msix_pba[v / 64] |= 1ull << (v % 64);
	else
		pdev->msix_pba[v / 64] &= ~(1ull << (v % 64));
}

/* Which bits of a table byte a client may write: address (dword aligned), data, mask bit. */
static uint8_t table_rw_mask(uint64_t off_in_entry)
{
	if (off_in_entry == PCI_MSIX_ENTRY_LOWER_ADDR)
		return 0xfc;
	if (off_in_entry < PCI_MSIX_ENTRY_VECTOR_CTRL)
		return 0xff;
	return off_in_entry == PCI_MSIX_ENTRY_VECTOR_CTRL ? PCI_MSIX_ENTRY_CTRL_MASKBIT : 0;
}

static void pba_bytes(struct uvfio_pci_device *pdev, uint64_t off, uint8_t *buf, size_t count)
{
	for (size_t i = 0; i < count; i++) {
		uint64_t b = off + i;
		buf[i] = (uint8_t)(pdev->msix_pba[b / 8] >> (8 * (b % 8)));
	}
}

void msix_access(struct uvfio_pci_device *pdev, int bar, uint64_t off, uint8_t *buf,
		 size_t count, bool is_write)
{
	pthread_mutex_lock(&pdev->lock);
	if (bar == pdev->msix_pba_bar && off >= pdev->msix_pba_off &&
	    off - pdev->msix_pba_off < pba_len(pdev)) {
		/* The PBA is read-only: writes are dropped, as on hardware. */
		if (!is_write)
			pba_bytes(pdev, off - pdev->msix_pba_off, buf, count);
		pthread_mutex_unlock(&pdev->lock);
		return;
	}
	uint64_t t = off - pdev->msix_table_off;
	if (!is_write) {
		memcpy(buf, &pdev->msix_table[t], count);
	} else {
		for (size_t i = 0; i < count; i++) {
			uint8_t m = table_rw_mask((t + i) % PCI_MSIX_ENTRY_SIZE);
			uint8_t *b = &pdev->msix_table[t + i];
			*b = (uint8_t)((*b & ~m) | (buf[i] & m));
		}
		msix_deliver_pending_locked(pdev);
	}
	pthread_mutex_unlock(&pdev->lock);
}

void msix_reset_locked(struct uvfio_pci_device *pdev)
{
	if (!pdev->msix_off)
		return;
	memset(pdev->msix_table, 0, table_len(pdev));
	memset(pdev->msix_pba, 0, pba_len(pdev));
	memset(pdev->msix_vfio, 0, pdev->msix_nvec);
	pdev->msix_vfio_on = false;
	for (unsigned v = 0; v < pdev->msix_nvec; v++)
		set_vec_mask(pdev, v, true); /* power-on state: every vector masked */
}

int msix_raise_locked(struct uvfio_pci_device *pdev, unsigned vector)
{
	if (vector >= pdev->msix_nvec)
		return -EINVAL;
	if ((ctrl(pdev) & PCI_MSIX_FLAGS_MASKALL) || vec_masked(pdev, vector)) {
		pba_set(pdev, vector, true);
		return 0;
	}
	return uvfio_device_irq_trigger(pdev->dev, UVFIO_PCI_MSIX_IRQ, vector);
}

void msix_deliver_pending_locked(struct uvfio_pci_device *pdev)
{
	if (!pdev->msix_off)
		return;
	uint16_t c = ctrl(pdev);
	if (!(c & PCI_MSIX_FLAGS_ENABLE) || (c & PCI_MSIX_FLAGS_MASKALL))
		return;
	for (unsigned v = 0; v < pdev->msix_nvec; v++) {
		if (!pba_test(pdev, v) || vec_masked(pdev, v))
			continue;
		pba_set(pdev, v, false);
		uvfio_device_irq_trigger(pdev->dev, UVFIO_PCI_MSIX_IRQ, v);
	}
}

/*
 * vfio-pci semantics: the host kernel enables MSI-X while the index is in use (even with no
 * eventfds: QEMU enables with one vector and releases it) and unmasks each vector that has an
 * eventfd (QEMU's vfio-user-pci client never writes our table). Only vectors whose eventfd
 * state changed are touched, so table writes by clients that do program it are kept; after a
 * reset (force) every vector with an eventfd is unmasked again.
 */
void msix_mirror_locked(struct uvfio_pci_device *pdev, bool force)
{
	if (!pdev->msix_off)
		return;
	bool on = uvfio_device_irq_index_enabled(pdev->dev, UVFIO_PCI_MSIX_IRQ);
	for (unsigned v = 0; v < pdev->msix_nvec; v++) {
		bool has = uvfio_device_irq_enabled(pdev->dev, UVFIO_PCI_MSIX_IRQ, v);
		bool had = pdev->msix_vfio[v];
		if (has && (!had || force))
			set_vec_mask(pdev, v, false);
		else if (!has && had)
			set_vec_mask(pdev, v, true);
		pdev->msix_vfio[v] = has;
	}
	uint32_t reg = pdev->msix_off + PCI_MSIX_FLAGS;
	uint16_t c = cfg_get16(pdev, reg);
	if (on && (!pdev->msix_vfio_on || force))
		cfg_put16(pdev, reg, c | PCI_MSIX_FLAGS_ENABLE);
	else if (!on && pdev->msix_vfio_on)
		cfg_put16(pdev, reg, c & (uint16_t)~PCI_MSIX_FLAGS_ENABLE);
	pdev->msix_vfio_on = on;
	msix_deliver_pending_locked(pdev);
}
