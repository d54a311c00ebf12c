/* SPDX-License-Identifier: MIT */
/*
 * The PCI core, a library that device drivers build on (like vfio_pci_core): a 4 KiB config
 * space with per-bit write semantics, BARs with sizing, an expansion ROM, a capability chain
 * builder, INTx/MSI/MSI-X signalling and reset. A driver fills in its identity-specific parts in
 * probe() and overrides only what is device-specific through struct uvfio_pci_ops.
 *
 * Config space semantics: every byte has a read-write mask and a write-1-to-clear mask; the
 * rest is read-only. Client writes go through the masks; the device side writes raw.
 * Memory and I/O BAR decode are gated by COMMAND.MEM/IO; DMA by COMMAND.MASTER.
 */
#ifndef UVFIO_PCI_H
#define UVFIO_PCI_H

#include <uvfio/device.h>

UVFIO_BEGIN_DECLS

struct uvfio_pci_device;

#define UVFIO_PCI_CFG_SIZE 4096

/* Identity of a PCI function. */
struct uvfio_pci_ident {
	uint16_t vendor;
	uint16_t device;
	uint16_t subvendor;
	uint16_t subdevice;
	uint32_t class_code; /* 24 bits: base class << 16 | subclass << 8 | prog-if */
	uint8_t revision;
};

/* BAR types. */
#define UVFIO_PCI_BAR_MEM32 0u
#define UVFIO_PCI_BAR_MEM64 1u /* takes this BAR and the next */
#define UVFIO_PCI_BAR_IO 2u
#define UVFIO_PCI_BAR_PREFETCH 0x10u /* OR with MEM32/MEM64 */

/* Access handler of a BAR or ROM: offset within the BAR. Return count or -errno. A read the
 * device does not implement should fill all ones and return count, as hardware does. */
typedef ssize_t (*uvfio_pci_bar_rw_fn)(struct uvfio_pci_device *pdev, int bar, uint64_t offset,
				       void *buf, size_t count, bool is_write);

/* What a driver may override. Every member is optional. */
struct uvfio_pci_ops {
	/* Device-specific reset (after the core reset config space: FLR, DEVICE_RESET). */
	void (*reset)(struct uvfio_pci_device *pdev);
	int (*open)(struct uvfio_pci_device *pdev);
	/* Client gone: stop work that would DMA or interrupt (the core resets afterwards). */
	void (*close)(struct uvfio_pci_device *pdev);
	/* After a client write to config space was applied (old and new values of the bytes). */
	void (*config_written)(struct uvfio_pci_device *pdev, uint32_t offset, uint32_t size);
	int (*feature)(struct uvfio_pci_device *pdev, uint32_t flags, const void *data, size_t len,
		       void *out, size_t *out_len);
	void (*release)(struct uvfio_pci_device *pdev);
};

/* Creating (the driver core does this before probe; tests may too). */
UVFIO_API struct uvfio_pci_device *uvfio_pci_device_new(const struct uvfio_pci_ident *id);
UVFIO_API struct uvfio_device *uvfio_pci_to_device(struct uvfio_pci_device *pdev);
UVFIO_API struct uvfio_pci_device *uvfio_pci_from_device(struct uvfio_device *dev);
UVFIO_API void uvfio_pci_set_ops(struct uvfio_pci_device *pdev, const struct uvfio_pci_ops *ops);
UVFIO_API const struct uvfio_pci_ops *uvfio_pci_get_ops(struct uvfio_pci_device *pdev);
UVFIO_API void uvfio_pci_set_drvdata(struct uvfio_pci_device *pdev, void *data);
UVFIO_API void *uvfio_pci_drvdata(struct uvfio_pci_device *pdev);
UVFIO_API const struct uvfio_pci_ident *uvfio_pci_ident(struct uvfio_pci_device *pdev);

/* Config space, device side (raw, little-endian, no masks). Out-of-range reads return 0. */
UVFIO_API uint8_t uvfio_pci_cfg_read8(struct uvfio_pci_device *pdev, uint32_t off);
UVFIO_API uint16_t uvfio_pci_cfg_read16(struct uvfio_pci_device *pdev, uint32_t off);
UVFIO_API uint32_t uvfio_pci_cfg_read32(struct uvfio_pci_device *pdev, uint32_t off);
UVFIO_API void uvfio_pci_cfg_write8(struct uvfio_pci_device *pdev, uint32_t off, uint8_t val);
UVFIO_API void uvfio_pci_cfg_write16(struct uvfio_pci_device *pdev, uint32_t off, uint16_t val);
UVFIO_API void uvfio_pci_cfg_write32(struct uvfio_pci_device *pdev, uint32_t off, uint32_t val);
/* Which bits of [off, off+size) a client may write (rw) or clear by writing 1 (w1c). */
UVFIO_API void uvfio_pci_cfg_set_masks(struct uvfio_pci_device *pdev, uint32_t off, uint32_t size,
				       uint32_t rw_mask, uint32_t w1c_mask);
/* A client access, as arriving through the CONFIG region (masks applied, side effects run). */
UVFIO_API ssize_t uvfio_pci_cfg_access(struct uvfio_pci_device *pdev, uint32_t off, void *buf,
				       size_t count, bool is_write);

/* BARs and ROM. size must be a power of two (memory BARs 16 bytes .. 2 GiB for MEM32, I/O
 * 4..256). mmap_fd >= 0 makes a memory BAR mmap-able (sparse areas optional, 4 KiB aligned,
 * at most 8); the pages holding an MSI-X table or PBA are always left out, so accesses to
 * them keep going through the core. The ROM image is padded with 0xff to a power of two. */
UVFIO_API int uvfio_pci_setup_bar(struct uvfio_pci_device *pdev, int bar, uint64_t size,
				  uint32_t type, uvfio_pci_bar_rw_fn rw);
UVFIO_API int uvfio_pci_bar_set_mmap(struct uvfio_pci_device *pdev, int bar, int mmap_fd,
				     uint64_t fd_offset, const struct uvfio_sparse_area *sparse,
				     uint32_t nr_sparse);
UVFIO_API int uvfio_pci_setup_rom(struct uvfio_pci_device *pdev, const void *image, size_t size);
UVFIO_API bool uvfio_pci_mem_enabled(struct uvfio_pci_device *pdev);
UVFIO_API bool uvfio_pci_io_enabled(struct uvfio_pci_device *pdev);
UVFIO_API bool uvfio_pci_bus_master(struct uvfio_pci_device *pdev);

/* Capabilities. Each returns its config offset or a negative errno (-ENOSPC when full). */
UVFIO_API int uvfio_pci_add_cap_pm(struct uvfio_pci_device *pdev);
UVFIO_API int uvfio_pci_add_cap_msi(struct uvfio_pci_device *pdev, unsigned nvectors, bool addr64,
				    bool per_vector_mask);
UVFIO_API int uvfio_pci_add_cap_msix(struct uvfio_pci_device *pdev, unsigned nvectors,
				     int table_bar, uint32_t table_offset, int pba_bar,
				     uint32_t pba_offset);
/* PCI Express endpoint (version 2); flr: advertise and implement Function Level Reset. */
UVFIO_API int uvfio_pci_add_cap_exp(struct uvfio_pci_device *pdev, bool flr);
/* Vendor-specific: data is the body after the 3-byte header (id, next, length). */
UVFIO_API int uvfio_pci_add_cap_vendor(struct uvfio_pci_device *pdev, const void *data, size_t len);
/* Extended capabilities (offset >= 0x100). */
UVFIO_API int uvfio_pci_add_ext_cap_dsn(struct uvfio_pci_device *pdev, uint64_t serial);
/* Offset of a capability by id, 0 if absent. */
UVFIO_API uint32_t uvfio_pci_find_cap(struct uvfio_pci_device *pdev, uint8_t cap_id);
UVFIO_API uint32_t uvfio_pci_find_ext_cap(struct uvfio_pci_device *pdev, uint16_t cap_id);

/* Interrupts. uvfio_pci_raise_irq() picks the mode the way hardware does: MSI-X if enabled
 * (function mask and per-vector mask set the PBA bit instead), else MSI if enabled (per-vector
 * mask bits set pending bits), else INTx (asserts the line unless COMMAND.INTX_DISABLE, and
 * sets STATUS.INTERRUPT). Returns 0 if delivered or left pending, negative errno otherwise
 * (-EPERM if the device may not interrupt now, -ENODEV if no mode is enabled and there is no
 * INTx pin, -EINVAL for a vector the enabled mode lacks, -ENOLINK if the client gave no
 * eventfd for it). MSI-X/MSI/INTx enable follows the client's SET_IRQS as with vfio-pci. */
UVFIO_API int uvfio_pci_raise_irq(struct uvfio_pci_device *pdev, unsigned vector);
UVFIO_API void uvfio_pci_set_intx(struct uvfio_pci_device *pdev, bool asserted);
UVFIO_API bool uvfio_pci_msi_enabled(struct uvfio_pci_device *pdev);
UVFIO_API bool uvfio_pci_msix_enabled(struct uvfio_pci_device *pdev);

/* Full function reset: config space back to power-on values, driver's reset op. */
UVFIO_API void uvfio_pci_reset(struct uvfio_pci_device *pdev);

/* INTERRUPT_PIN: 0 = no INTx (the default), 1..4 = INTA..INTD. Also sets the INTx irq count. */
UVFIO_API int uvfio_pci_set_intx_pin(struct uvfio_pci_device *pdev, uint8_t pin);
/* Call after probe: snapshots config space as the power-on state that reset restores. */
UVFIO_API void uvfio_pci_finalize(struct uvfio_pci_device *pdev);
/* Frees the device (same as uvfio_device_free(uvfio_pci_to_device(pdev))). */
UVFIO_API void uvfio_pci_device_free(struct uvfio_pci_device *pdev);

/*
 * PCI state as a migration section (lib/pci/state.c): all of config space (BARs, command,
 * capabilities with MSI mask and pending bits), the MSI-X table and PBA and the INTx line, so
 * that a destination's PCI core ends as the source's. The vfio-level irq setup (eventfds,
 * masks) belongs to each side's client and is not part of it; the destination's current setup
 * is kept. A state is accepted only from a function laid out alike: every read-only config bit
 * equal to the destination's (except STATUS.INTERRUPT and MSI pending bits, which the core
 * drives), the same MSI-X vector count, no bit set that a client could never set.
 */
/* Bytes uvfio_pci_state_save() writes for this device. */
UVFIO_API size_t uvfio_pci_state_size(struct uvfio_pci_device *pdev);
/* Writes the state (one consistent snapshot). Returns its size, -ENOSPC if len is too small,
 * -EINVAL for NULL arguments. */
UVFIO_API ssize_t uvfio_pci_state_save(struct uvfio_pci_device *pdev, void *buf, size_t len);
/* Whether a saved state would be accepted by load, changing nothing: 0 or -EINVAL. */
UVFIO_API int uvfio_pci_state_check(struct uvfio_pci_device *pdev, const void *buf, size_t len);
/* Checks, then applies the state (all or nothing): 0 or -EINVAL. Interrupts the restored state
 * implies (an asserted INTx line) are raised through the device core, which defers them while
 * the device is quiesced. */
UVFIO_API int uvfio_pci_state_load(struct uvfio_pci_device *pdev, const void *buf, size_t len);

UVFIO_END_DECLS

#endif
