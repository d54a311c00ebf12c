/* SPDX-License-Identifier: MIT */
/*
 * The client's backend ops table: one per transport (vfio-user, kernel type1, kernel iommufd).
 * lib/core/client.c owns struct uvfio_handle and struct uvfio_ioas and forwards to these;
 * backends keep their own state in h->priv.
 */
#ifndef UVFIO_CLIENT_BACKEND_H
#define UVFIO_CLIENT_BACKEND_H

#include <uvfio/client.h>

#include "migration/feature_payloads.h"

struct uvfio_backend_ops {
	const char *name;
	/* path: the URL after "scheme:" (query string included). */
	int (*open)(struct uvfio_handle *h, const char *path);
	void (*close)(struct uvfio_handle *h);
	int (*get_device_info)(struct uvfio_handle *h, struct uvfio_device_info *info);
	int (*get_region_info)(struct uvfio_handle *h, uint32_t index,
			       struct uvfio_region_info *info);
	/* One access, count <= the transport's limit (client.c splits). posted: no reply wanted. */
	ssize_t (*region_rw)(struct uvfio_handle *h, uint32_t index, uint64_t offset, void *buf,
			     size_t count, bool is_write, bool posted);
	/* Largest count region_rw takes. */
	size_t (*max_rw)(struct uvfio_handle *h);
	int (*region_mmap)(struct uvfio_handle *h, uint32_t index, uint64_t offset, size_t len,
			   int prot, void **addr);
	/* DEVICE_GET_REGION_IO_FDS; NULL: -ENOTSUP. Returns the count (see client.h). */
	int (*region_ioeventfds)(struct uvfio_handle *h, uint32_t index,
				 struct uvfio_ioeventfd *out, size_t max);
	int (*get_irq_info)(struct uvfio_handle *h, uint32_t index, struct uvfio_irq_info *info);
	int (*set_irqs)(struct uvfio_handle *h, uint32_t flags, uint32_t index, uint32_t start,
			uint32_t count, const void *data);
	int (*reset)(struct uvfio_handle *h);
	/*
	 * VFIO_DEVICE_FEATURE with the payload in the inline layouts below (vfio-user's; the
	 * kernel backends convert DMA logging to the kernel's structs with pointers). SET of
	 * MIG_DEVICE_STATE: a data_fd the kernel returns stays with the backend (mig_data_rw uses
	 * it); out gets -1 in its place.
	 */
	int (*device_feature)(struct uvfio_handle *h, uint32_t flags, const void *data, size_t len,
			      void *out, size_t *out_len);
	/* Migration stream bytes of the current session (MIG_DATA_READ/WRITE, or read()/write()
	 * of the data_fd): one call, count <= max_rw. Returns bytes moved; a read shorter than
	 * count means no more data now. NULL: -ENOTTY. */
	ssize_t (*mig_data_rw)(struct uvfio_handle *h, void *buf, size_t count, bool is_write);
	/* VFIO_MIG_GET_PRECOPY_INFO. -ENOTSUP: the transport cannot ask (vfio-user server without
	 * the uvfio extension). NULL: -ENOTSUP. */
	int (*mig_precopy_info)(struct uvfio_handle *h, uint64_t *initial_bytes,
				uint64_t *dirty_bytes);
	/*
	 * DMA. attach is called once when the device joins an IOAS (before the existing mappings
	 * are replayed through dma_map), detach when it leaves (after dma_unmap of each).
	 * Backends whose mappings live in a shared kernel object (iommufd IOAS, type1 container)
	 * keep that object per struct uvfio_ioas (uvfio_ioas_backend_slot) and make a map that
	 * object already has a no-op.
	 */
	int (*ioas_attach)(struct uvfio_handle *h, struct uvfio_ioas *ioas);
	void (*ioas_detach)(struct uvfio_handle *h, struct uvfio_ioas *ioas);
	int (*dma_map)(struct uvfio_handle *h, struct uvfio_ioas *ioas, uint64_t iova,
		       uint64_t size, uint32_t prot, int fd, uint64_t fd_offset, void *vaddr);
	int (*dma_unmap)(struct uvfio_handle *h, struct uvfio_ioas *ioas, uint64_t iova,
			 uint64_t size);
};

struct uvfio_handle {
	const struct uvfio_backend_ops *ops;
	void *priv;
	struct uvfio_ioas *ioas; /* NULL until attached */
	char *url;
};

/* A per-IOAS slot a backend may use for its shared object; key identifies the backend. */
void **uvfio_ioas_backend_slot(struct uvfio_ioas *ioas, const void *key);
/* Serve a device's message-based DMA: copy between buf and [iova, iova+len), which must lie in
 * one mapping with the needed permission (dev_writes: WRITE, else READ). -EFAULT / -EACCES. */
int uvfio_ioas_dma_rw(struct uvfio_ioas *ioas, uint64_t iova, void *buf, size_t len,
		      bool dev_writes);

/* vfio-user backend only: reply timeout in ms (-1: none). */
int uvfio_vfio_user_set_timeout(struct uvfio_handle *h, int timeout_ms);
/* vfio-user backend only: the server's reason for the last reply ("" if none) into buf. */
void uvfio_vfio_user_last_error(struct uvfio_handle *h, char *buf, size_t len);

extern const struct uvfio_backend_ops uvfio_vfio_user_backend;
/* Kernel VFIO (lib/kernel): NULL-able until implemented on this platform. */
extern const struct uvfio_backend_ops uvfio_kernel_type1_backend;
extern const struct uvfio_backend_ops uvfio_kernel_iommufd_backend;
/* Picks iommufd or type1 for "vfio:BDF[?iommu=...]"; defined in lib/kernel. */
const struct uvfio_backend_ops *uvfio_kernel_backend_select(const char *path);

#endif
