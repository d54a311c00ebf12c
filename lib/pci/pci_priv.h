/* SPDX-License-Identifier: MIT */
/* PCI core internals shared by the files of lib/pci/. */
#ifndef UVFIO_PCI_PRIV_H
#define UVFIO_PCI_PRIV_H

#include <pthread.h>

#include <uvfio/pci.h>

#define PCI_NUM_BARS 6
#define PCI_CAP_START 0x40
#define PCI_EXT_CAP_START 0x100
#define MSIX_MAX_VECTORS 2048
#define MAX_SPARSE 8

struct pci_bar {
	uint64_t size; /* 0: not implemented (or the upper half of a 64-bit BAR) */
	uint32_t type; /* UVFIO_PCI_BAR_* */
	uvfio_pci_bar_rw_fn rw;
	bool upper; /* second slot of a 64-bit BAR */
	int mmap_fd;
	uint64_t mmap_offset;
	struct uvfio_sparse_area user_sparse[MAX_SPARSE]; /* what the driver asked for */
	uint32_t nr_user_sparse;
	struct uvfio_sparse_area sparse[MAX_SPARSE + 2]; /* minus the MSI-X pages */
	uint32_t nr_sparse;
};

struct uvfio_pci_device {
	struct uvfio_device *dev;
	struct uvfio_pci_ident ident;
	const struct uvfio_pci_ops *ops;
	void *drvdata;
	/* Protects config space and interrupt state: raise_irq comes from device threads. */
	pthread_mutex_t lock;
	uint8_t cfg[UVFIO_PCI_CFG_SIZE];
	uint8_t rw[UVFIO_PCI_CFG_SIZE];
	uint8_t w1c[UVFIO_PCI_CFG_SIZE];
	uint8_t poweron[UVFIO_PCI_CFG_SIZE];
	bool finalized;

	struct pci_bar bars[PCI_NUM_BARS];
	uint8_t *rom;
	uint64_t rom_size; /* power of two >= 2 KiB; 0: no ROM */

	uint32_t cap_next; /* where the next standard capability goes */
	uint32_t cap_last; /* last standard capability (to link the next one) */
	uint32_t ext_next, ext_last;

	uint8_t intx_pin;
	bool intx_status; /* the device's INTx line (STATUS.INTERRUPT) */

	uint32_t msi_off;
	unsigned msi_nvec;
	bool msi_64, msi_pvm;
	uint32_t msi_vfio_vecs; /* vectors with a vfio eventfd, as last mirrored */
	bool msi_vfio_on; /* the vfio MSI index was in use, as last mirrored */

	uint32_t msix_off;
	unsigned msix_nvec;
	int msix_table_bar, msix_pba_bar;
	uint32_t msix_table_off, msix_pba_off;
	uint8_t *msix_table;
	uint64_t *msix_pba;
	uint8_t *msix_vfio; /* per vector: had a vfio eventfd when last mirrored */
	bool msix_vfio_on; /* the vfio MSI-X index was in use, as last mirrored */

	uint32_t exp_off;
	bool flr;
	uint32_t pm_off;
};

/* config.c: raw accessors, caller holds pdev->lock. */
uint8_t cfg_get8(struct uvfio_pci_device *pdev, uint32_t off);
uint16_t cfg_get16(struct uvfio_pci_device *pdev, uint32_t off);
uint32_t cfg_get32(struct uvfio_pci_device *pdev, uint32_t off);
void cfg_put8(struct uvfio_pci_device *pdev, uint32_t off, uint8_t val);
void cfg_put16(struct uvfio_pci_device *pdev, uint32_t off, uint16_t val);
void cfg_put32(struct uvfio_pci_device *pdev, uint32_t off, uint32_t val);
void cfg_masks(struct uvfio_pci_device *pdev, uint32_t off, uint32_t size, uint32_t rw,
	       uint32_t w1c);
void cfg_init_header(struct uvfio_pci_device *pdev);

/* bar.c */
ssize_t pci_bar_region_rw(struct uvfio_device *dev, uint32_t index, uint64_t offset, void *buf,
			  size_t count, bool is_write);
int pci_bar_update_mmap(struct uvfio_pci_device *pdev, int bar);

/* msix.c: accesses inside a BAR that hit the table or PBA. */
bool msix_claims(struct uvfio_pci_device *pdev, int bar, uint64_t off, uint64_t *len);
void msix_access(struct uvfio_pci_device *pdev, int bar, uint64_t off, uint8_t *buf,
		 size_t count, bool is_write);
void msix_reset_locked(struct uvfio_pci_device *pdev);
int msix_raise_locked(struct uvfio_pci_device *pdev, unsigned vector);
void msix_deliver_pending_locked(struct uvfio_pci_device *pdev);
void msix_mirror_locked(struct uvfio_pci_device *pdev, bool force);

/* irq.c */
int msi_raise_locked(struct uvfio_pci_device *pdev, unsigned vector);
void msi_deliver_pending_locked(struct uvfio_pci_device *pdev);
void msi_mirror_locked(struct uvfio_pci_device *pdev, bool force);
void intx_update_locked(struct uvfio_pci_device *pdev);
void pci_irqs_changed(struct uvfio_device *dev, uint32_t index);
void pci_irq_unmasked(struct uvfio_device *dev, uint32_t index, uint32_t vector);

/* caps.c: side effects of a client write of size <= 4 within a dword (old: the bytes before);
 * returns true if an FLR was requested. */
bool caps_written_locked(struct uvfio_pci_device *pdev, uint32_t off, uint32_t size,
			 const uint8_t *old);

#endif
