/* SPDX-License-Identifier: MIT */
/*
 * A device's view of DMA. The client shares memory windows (DMA_MAP); the DMA space translates
 * an IOVA range to memory the server mmap()ed from the window's fd, with bounds and permission
 * checks. Windows without an fd are reached through a message handler (server-to-client
 * DMA_READ/WRITE). Every call here is thread-safe; removing a window waits until the users that
 * hold a reference into it (uvfio_dma_get ... uvfio_dma_put) are done.
 *
 * Devices reach DMA through uvfio_dma_read/write/get, which also check that the device may
 * initiate DMA now (bus mastering enabled; later, its migration state).
 */
#ifndef UVFIO_DMA_H
#define UVFIO_DMA_H

#include <uvfio/common.h>

UVFIO_BEGIN_DECLS

struct uvfio_device;
struct uvfio_dma_space;

#define UVFIO_DMA_READ (1u << 0) /* the device may read the window (same as VFIO_DMA_MAP_FLAG_READ) */
#define UVFIO_DMA_WRITE (1u << 1) /* the device may write the window */

/* The memory behind the ref cannot vanish: the client sealed its file against shrinking
 * (memfd F_SEAL_SHRINK) and the file covers the window. Only then may a driver dereference
 * ptr directly; otherwise it must use uvfio_dma_copy_from/to. */
#define UVFIO_DMA_REF_STABLE (1u << 0)

/*
 * A pinned, contiguous piece of a window, valid until uvfio_dma_put().
 *
 * Client memory is hostile: the client can shrink the file behind a window at any moment,
 * and touching the vanished pages raises SIGBUS, which would kill every device in the
 * process. So unless flags has UVFIO_DMA_REF_STABLE, read and write through ptr only with
 * uvfio_dma_copy_from/to, which turn such a fault into -EFAULT (and disable the window until
 * the client unmaps it). uvfio_dma_read/write are guarded the same way.
 */
struct uvfio_dma_ref {
	void *ptr;
	size_t len;
	uint32_t prot; /* what it was taken for: a WRITE ref marks its range dirty on put */
	uint32_t flags; /* UVFIO_DMA_REF_STABLE */
	void *window; /* private */
};

/* Device side: copy to/from guest memory. Ranges may span adjacent windows. Errors:
 * -EFAULT (not mapped, or the client's memory faulted under the copy), -EACCES (window lacks the permission), -EPERM (the device may not
 * initiate DMA now: bus mastering off, or a migration state that forbids DMA), -EIO
 * (message-based DMA failed). Writes mark the pages dirty while DMA logging is on. */
UVFIO_API int uvfio_dma_read(struct uvfio_device *dev, uint64_t iova, void *buf, size_t len);
UVFIO_API int uvfio_dma_write(struct uvfio_device *dev, uint64_t iova, const void *buf, size_t len);
/* Device side: a direct pointer to [iova, iova+len) inside one fd-backed window.
 * -ENOTSUP if the window has no fd (use uvfio_dma_read/write). */
UVFIO_API int uvfio_dma_get(struct uvfio_device *dev, uint64_t iova, size_t len, uint32_t prot,
			    struct uvfio_dma_ref *ref);
UVFIO_API void uvfio_dma_put(struct uvfio_device *dev, struct uvfio_dma_ref *ref);
/* Guarded copies through a ref: [off, off+len) of the ref, from guest memory to buf / from
 * buf to guest memory. 0, -EFAULT (outside the ref, or the client memory faulted: the window
 * is disabled from now on), -EACCES (the ref was not taken for that direction), -EINVAL.
 * Thread-safe; safe from any thread, including the driver's own. */
UVFIO_API int uvfio_dma_copy_from(const struct uvfio_dma_ref *ref, size_t off, void *buf,
				  size_t len);
UVFIO_API int uvfio_dma_copy_to(const struct uvfio_dma_ref *ref, size_t off, const void *buf,
				size_t len);

/* Space management (the transport's side). */
typedef int (*uvfio_dma_msg_fn)(void *opaque, uint64_t iova, void *buf, size_t len, bool is_write);

UVFIO_API struct uvfio_dma_space *uvfio_dma_space_new(void);
UVFIO_API void uvfio_dma_space_free(struct uvfio_dma_space *space);
/* Adds a window. fd >= 0: mmap()ed (the mapping holds the file; the caller keeps its fd), fd < 0:
 * reached through the message handler. -EEXIST on overlap, -EINVAL on bad size/alignment or
 * wrap-around, -ENOSPC past max windows, -errno if mmap fails. */
UVFIO_API int uvfio_dma_space_add(struct uvfio_dma_space *space, uint64_t iova, uint64_t size,
				  uint32_t prot, int fd, uint64_t fd_offset);
/* Removes exactly the window [iova, iova+size); -ENOENT if there is none. Waits for users. */
UVFIO_API int uvfio_dma_space_remove(struct uvfio_dma_space *space, uint64_t iova, uint64_t size);
UVFIO_API void uvfio_dma_space_remove_all(struct uvfio_dma_space *space);
UVFIO_API unsigned uvfio_dma_space_count(struct uvfio_dma_space *space);
UVFIO_API void uvfio_dma_space_set_max_windows(struct uvfio_dma_space *space, unsigned max);
UVFIO_API void uvfio_dma_space_set_msg_handler(struct uvfio_dma_space *space, uvfio_dma_msg_fn fn,
					       void *opaque);
/* Copy without the device gate (for tests and transports). */
UVFIO_API int uvfio_dma_space_rw(struct uvfio_dma_space *space, uint64_t iova, void *buf,
				 size_t len, bool is_write);

UVFIO_END_DECLS

#endif
