/* SPDX-License-Identifier: MIT */
/*
 * Drive any device with one API, whatever carries it:
 *   "vfio-user:/path/to/socket"          a vfio-user server (uvfio, libvfio-user, SPDK, QEMU)
 *   "vfio:0000:00:03.0"                  a kernel VFIO device (iommufd cdev or type1 container)
 *   "vfio:0000:00:03.0?iommu=type1"      force a kernel path (type1 | iommufd)
 * Every reply from the device is validated before use. Errors are negative errno.
 *
 * DMA is device-centric: an IOAS (I/O address space) holds mappings of memory the client owns;
 * attaching a device to it makes the mappings visible to the device; several devices may share
 * one IOAS. A device attached to no IOAS can do no DMA.
 */
#ifndef UVFIO_CLIENT_H
#define UVFIO_CLIENT_H

#include <uvfio/device.h>

UVFIO_BEGIN_DECLS

struct uvfio_handle;
struct uvfio_ioas;

UVFIO_API int uvfio_open(const char *url, struct uvfio_handle **out);
UVFIO_API void uvfio_close(struct uvfio_handle *h);
/* "vfio-user", "vfio-type1", "vfio-iommufd". */
UVFIO_API const char *uvfio_backend_name(struct uvfio_handle *h);
/* How long to wait for each reply (vfio-user; default 5000 ms, -1: forever). A reply that does
 * not come in time fails the call with -ETIMEDOUT and the connection is unusable after it.
 * -ENOTSUP for backends without messages. */
UVFIO_API int uvfio_set_msg_timeout(struct uvfio_handle *h, int timeout_ms);
/* The reason the server gave for refusing the last request on h (uvfio servers say why:
 * "access 0x200000+4 outside region 0 (size 0x100000)"), or "" if it gave none, the request
 * succeeded, or the backend has no server (kernel VFIO: the errno is all there is). The string
 * is the calling thread's copy, valid until its next call; with several threads on one handle
 * it is the reason of whichever request finished last. Never NULL. */
UVFIO_API const char *uvfio_last_error(struct uvfio_handle *h);

struct uvfio_device_info {
	uint32_t flags; /* UVFIO_DEVICE_FLAGS_* */
	uint32_t num_regions;
	uint32_t num_irqs;
};
UVFIO_API int uvfio_get_device_info(struct uvfio_handle *h, struct uvfio_device_info *info);

struct uvfio_region_info {
	uint32_t index;
	uint32_t flags; /* UVFIO_REGION_* */
	uint64_t size;
	uint64_t offset; /* mmap offset in the device fd */
	uint32_t nr_sparse; /* sparse mmap areas (0: whole region if MMAP) */
	struct uvfio_sparse_area sparse[16];
	bool has_type;
	uint32_t type, subtype;
	bool msix_mappable;
};
UVFIO_API int uvfio_get_region_info(struct uvfio_handle *h, uint32_t index,
				    struct uvfio_region_info *info);

/* Returns count or negative errno. Accesses larger than the transfer limit are split. */
UVFIO_API ssize_t uvfio_region_read(struct uvfio_handle *h, uint32_t index, uint64_t offset,
				    void *buf, size_t count);
UVFIO_API ssize_t uvfio_region_write(struct uvfio_handle *h, uint32_t index, uint64_t offset,
				     const void *buf, size_t count);
/* A write whose completion is not awaited (vfio-user NO_REPLY); ordered before later requests. */
UVFIO_API int uvfio_region_write_posted(struct uvfio_handle *h, uint32_t index, uint64_t offset,
					const void *buf, size_t count);
/* Maps [offset, offset+len) of a region (must lie in an mmap-able area). */
UVFIO_API int uvfio_region_mmap(struct uvfio_handle *h, uint32_t index, uint64_t offset,
				size_t len, int prot, void **addr);
UVFIO_API int uvfio_region_munmap(struct uvfio_handle *h, void *addr, size_t len);

/* The eventfds a device listens on for writes to parts of a region (vfio-user
 * DEVICE_GET_REGION_IO_FDS), as struct uvfio_ioeventfd (device.h): signalling fd stands for a
 * write of size bytes at offset (of exactly datamatch with UVFIO_IOEVENTFD_DATAMATCH; else the
 * device learns only that a write happened and reads the value elsewhere, e.g. from an mmapped
 * doorbell page or a shadow doorbell). Each returned fd is the caller's to close. */
/* Fills out[0..max) and returns how many the region has (may exceed max: entries past max are
 * not returned); 0: none. -ENOTSUP: the backend has no such fds (kernel VFIO). */
UVFIO_API int uvfio_region_ioeventfds(struct uvfio_handle *h, uint32_t index,
				      struct uvfio_ioeventfd *out, size_t max);

/* Config space shortcuts (region UVFIO_PCI_CONFIG_REGION, little-endian). */
UVFIO_API int uvfio_config_read(struct uvfio_handle *h, uint32_t offset, void *val, size_t size);
UVFIO_API int uvfio_config_write(struct uvfio_handle *h, uint32_t offset, const void *val,
				 size_t size);

/*
 * Prepare a PCI device for use, as firmware and a VMM do: every BAR (and the expansion ROM) that
 * has no address is sized (all-ones written and read back) and given one, naturally aligned, in
 * fixed windows (memory 0x80000000-0xfec00000, 64-bit BARs that do not fit there above 256 GiB,
 * I/O ports 0xc000-0xffff); then memory and I/O decoding are turned on for the spaces the device
 * has, and bus mastering with UVFIO_PCI_SETUP_MASTER. BARs that already have an address (kernel
 * VFIO devices, or a second call) are left where they are. Servers that model a real bus (QEMU's
 * x-vfio-user-server) refuse BAR access until this is done. Returns how many BARs were given an
 * address (0 for a device that is not PCI), or negative errno: -ENOSPC no room in the window,
 * -EIO the device did not keep an address written.
 */
#define UVFIO_PCI_SETUP_MASTER (1u << 0)
UVFIO_API int uvfio_pci_setup(struct uvfio_handle *h, uint32_t flags);

struct uvfio_irq_info {
	uint32_t index;
	uint32_t flags; /* UVFIO_IRQ_INFO_* */
	uint32_t count;
};
UVFIO_API int uvfio_get_irq_info(struct uvfio_handle *h, uint32_t index,
				 struct uvfio_irq_info *info);
/* Raw SET_IRQS. data: count bytes (DATA_BOOL) or count int32 fds (DATA_EVENTFD, -1 de-assigns). */
UVFIO_API int uvfio_set_irqs(struct uvfio_handle *h, uint32_t flags, uint32_t index,
			     uint32_t start, uint32_t count, const void *data);
/* Assign eventfds to vectors start..start+count-1 of an index (enables it). */
UVFIO_API int uvfio_irq_enable(struct uvfio_handle *h, uint32_t index, uint32_t start,
			       uint32_t count, const int *eventfds);
UVFIO_API int uvfio_irq_disable(struct uvfio_handle *h, uint32_t index);
UVFIO_API int uvfio_irq_mask(struct uvfio_handle *h, uint32_t index, uint32_t vector);
UVFIO_API int uvfio_irq_unmask(struct uvfio_handle *h, uint32_t index, uint32_t vector);

UVFIO_API int uvfio_reset(struct uvfio_handle *h);

/* Raw VFIO_DEVICE_FEATURE: flags and payload as in struct vfio_device_feature. For GET, out
 * receives up to *out_len bytes and *out_len is set to the payload size returned. */
UVFIO_API int uvfio_device_feature_call(struct uvfio_handle *h, uint32_t flags, const void *data,
					size_t len, void *out, size_t *out_len);

/*
 * Migration (VFIO migration v2), the same calls over vfio-user and kernel VFIO. -ENOTTY: the
 * device is not migratable / does not log DMA.
 */
struct uvfio_mig_path;
struct uvfio_dirty_range;
/* UVFIO_MIGRATION_* flags the device supports. */
UVFIO_API int uvfio_mig_get_flags(struct uvfio_handle *h, uint32_t *flags);
UVFIO_API int uvfio_mig_get_state(struct uvfio_handle *h, uint32_t *state);
/* Moves the device to target (the device walks the arcs); path, if not NULL, gets the arcs
 * walked (computed with the same table from the state before and the device's flags). On
 * failure the device's state is read back into path's last arc's start or ERROR. */
UVFIO_API int uvfio_mig_set_state(struct uvfio_handle *h, uint32_t target,
				  struct uvfio_mig_path *path);
/* The data session of the current saving/resuming state: read returns 0 when there is no more
 * data (for now, in PRE_COPY). */
UVFIO_API ssize_t uvfio_mig_read(struct uvfio_handle *h, void *buf, size_t len);
UVFIO_API ssize_t uvfio_mig_write(struct uvfio_handle *h, const void *buf, size_t len);
/* PRE_COPY sizes. Over vfio-user this needs the server to accept the uvfio precopy extension
 * (negotiated in VERSION); -ENOTSUP if it did not. */
UVFIO_API int uvfio_mig_precopy_info(struct uvfio_handle *h, uint64_t *initial_bytes,
				     uint64_t *dirty_bytes);
/* MIG_DATA_SIZE: bytes STOP_COPY would produce now. */
UVFIO_API int uvfio_mig_data_size(struct uvfio_handle *h, uint64_t *stop_copy_bytes);
/* DMA logging. start: *page_size in: wanted, out: what the device uses. report: sets the bit
 * of every page of [iova, iova+length) written since the last report and clears them; bitmap
 * holds (length / page_size + 63) / 64 words, zeroed by the caller. */
UVFIO_API int uvfio_dirty_start(struct uvfio_handle *h, const struct uvfio_dirty_range *ranges,
				uint32_t nr, uint64_t *page_size);
UVFIO_API int uvfio_dirty_stop(struct uvfio_handle *h);
UVFIO_API int uvfio_dirty_report(struct uvfio_handle *h, uint64_t iova, uint64_t length,
				 uint64_t page_size, uint64_t *bitmap);

/* IOAS. */
#define UVFIO_IOAS_READ (1u << 0)
#define UVFIO_IOAS_WRITE (1u << 1)

UVFIO_API int uvfio_ioas_new(struct uvfio_ioas **out);
/* Detaches every device, unmaps and frees memory the IOAS allocated. */
UVFIO_API void uvfio_ioas_free(struct uvfio_ioas *ioas);
/* Existing mappings are made visible to the device. A device is in at most one IOAS. */
UVFIO_API int uvfio_ioas_attach(struct uvfio_ioas *ioas, struct uvfio_handle *h);
UVFIO_API int uvfio_ioas_detach(struct uvfio_ioas *ioas, struct uvfio_handle *h);
/* Allocate size bytes of shared memory (memfd) and map it at iova; *vaddr gets the memory. */
UVFIO_API int uvfio_ioas_map_alloc(struct uvfio_ioas *ioas, uint64_t iova, size_t size,
				   uint32_t prot, void **vaddr);
/* Map memory the caller owns: fd/fd_offset (may be -1 for anonymous memory, which vfio-user
 * devices then reach by DMA messages) and its address vaddr in this process. */
UVFIO_API int uvfio_ioas_map(struct uvfio_ioas *ioas, uint64_t iova, size_t size, uint32_t prot,
			     int fd, uint64_t fd_offset, void *vaddr);
/* Exactly a previous mapping. */
UVFIO_API int uvfio_ioas_unmap(struct uvfio_ioas *ioas, uint64_t iova, size_t size);
/* The client address of [iova, iova+len), or NULL if not fully inside one mapping. */
UVFIO_API void *uvfio_ioas_translate(struct uvfio_ioas *ioas, uint64_t iova, size_t len);

UVFIO_END_DECLS

#endif
