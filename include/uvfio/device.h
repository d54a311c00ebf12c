/* SPDX-License-Identifier: MIT */
/*
 * The device core: what any device served by uvfio is made of, independent of PCI and of the
 * transport. A device has regions (indexed as vfio-pci does: BAR0-5, ROM, CONFIG, VGA, then
 * device-specific regions identified by a type capability), irq indexes with per-vector eventfds
 * and vfio-level masking, a reset, and an ops table its driver fills. Transports (the vfio-user
 * server) call the uvfio_device_* entry points below; they never touch device internals.
 *
 * Threading: region access, SET_IRQS, reset and open/close are called from one thread (the
 * server's loop). uvfio_device_irq_trigger()/uvfio_device_irq_level() may be called from any thread.
 */
#ifndef UVFIO_DEVICE_H
#define UVFIO_DEVICE_H

#include <uvfio/common.h>

UVFIO_BEGIN_DECLS

struct uvfio_device;
struct uvfio_dma_space;

/* Region indexes of a PCI device (same numbers as <linux/vfio.h> VFIO_PCI_*_REGION_INDEX). */
enum {
	UVFIO_PCI_BAR0_REGION = 0,
	UVFIO_PCI_BAR5_REGION = 5,
	UVFIO_PCI_ROM_REGION = 6,
	UVFIO_PCI_CONFIG_REGION = 7,
	UVFIO_PCI_VGA_REGION = 8,
	UVFIO_PCI_NUM_REGIONS = 9,
};
#define UVFIO_MAX_REGIONS 16

/* Irq indexes of a PCI device (same numbers as VFIO_PCI_*_IRQ_INDEX). */
enum {
	UVFIO_PCI_INTX_IRQ = 0,
	UVFIO_PCI_MSI_IRQ = 1,
	UVFIO_PCI_MSIX_IRQ = 2,
	UVFIO_PCI_ERR_IRQ = 3,
	UVFIO_PCI_REQ_IRQ = 4,
	UVFIO_PCI_NUM_IRQS = 5,
};

/* Region flags: same bits as VFIO_REGION_INFO_FLAG_*. */
#define UVFIO_REGION_READ (1u << 0)
#define UVFIO_REGION_WRITE (1u << 1)
#define UVFIO_REGION_MMAP (1u << 2)

/* Irq info flags: same bits as VFIO_IRQ_INFO_*. */
#define UVFIO_IRQ_INFO_EVENTFD (1u << 0)
#define UVFIO_IRQ_INFO_MASKABLE (1u << 1)
#define UVFIO_IRQ_INFO_AUTOMASKED (1u << 2)
#define UVFIO_IRQ_INFO_NORESIZE (1u << 3)

/* SET_IRQS flags: same bits as VFIO_IRQ_SET_*. */
#define UVFIO_IRQ_SET_DATA_NONE (1u << 0)
#define UVFIO_IRQ_SET_DATA_BOOL (1u << 1)
#define UVFIO_IRQ_SET_DATA_EVENTFD (1u << 2)
#define UVFIO_IRQ_SET_ACTION_MASK (1u << 3)
#define UVFIO_IRQ_SET_ACTION_UNMASK (1u << 4)
#define UVFIO_IRQ_SET_ACTION_TRIGGER (1u << 5)

/* Device info flags: same bits as VFIO_DEVICE_FLAGS_*. */
#define UVFIO_DEVICE_FLAGS_RESET (1u << 0)
#define UVFIO_DEVICE_FLAGS_PCI (1u << 1)

struct uvfio_sparse_area {
	uint64_t offset;
	uint64_t size;
};

/*
 * Access handler of a region. Returns the number of bytes handled (count on success) or a
 * negative errno. The core has already checked offset+count against the region size.
 */
typedef ssize_t (*uvfio_region_rw_fn)(struct uvfio_device *dev, uint32_t index, uint64_t offset,
				      void *buf, size_t count, bool is_write);

struct uvfio_region {
	uint64_t size; /* 0: region not implemented */
	uint32_t flags; /* UVFIO_REGION_* */
	uvfio_region_rw_fn rw;
	int mmap_fd; /* memory backing an mmap-able region, -1 if none; owned by the driver */
	uint64_t mmap_offset; /* offset of the region in mmap_fd */
	const struct uvfio_sparse_area *sparse; /* mmap-able parts; NULL: whole region */
	uint32_t nr_sparse;
	uint32_t type, subtype; /* device-specific regions (index >= 9): VFIO_REGION_INFO_CAP_TYPE */
	bool msix_mappable; /* advertise VFIO_REGION_INFO_CAP_MSIX_MAPPABLE */
};

struct uvfio_device_ops {
	const char *name;
	/* A client connected: the device may be used. */
	int (*open)(struct uvfio_device *dev);
	/* The client left: stop DMA and interrupts; the core then unmaps DMA and closes eventfds. */
	void (*close)(struct uvfio_device *dev);
	/* DEVICE_RESET (and the reset after a client disconnects). */
	int (*reset)(struct uvfio_device *dev);
	/* Called after SET_IRQS changed eventfds or masks of an index (e.g. so the PCI core can
	 * mirror MSI/MSI-X enable into config space the way vfio-pci does in hardware). */
	void (*irqs_changed)(struct uvfio_device *dev, uint32_t index);
	/* Called after a vfio-level UNMASK, so a still-asserted level interrupt fires again. */
	void (*irq_unmasked)(struct uvfio_device *dev, uint32_t index, uint32_t vector);
	/* May the device initiate DMA right now? (bus mastering; later: migration state) */
	bool (*dma_allowed)(struct uvfio_device *dev);
	/* VFIO_DEVICE_FEATURE: flags as in struct vfio_device_feature, data/len its payload.
	 * For GET, write up to *out_len bytes into out and set *out_len. NULL: -ENOTTY. */
	int (*feature)(struct uvfio_device *dev, uint32_t flags, const void *data, size_t len,
		       void *out, size_t *out_len);
	/* Last reference dropped: free driver state. */
	void (*release)(struct uvfio_device *dev);
};

/* Lifecycle (used by bus cores such as the PCI core; drivers get their device from there). */
UVFIO_API struct uvfio_device *uvfio_device_new(const struct uvfio_device_ops *ops, uint32_t flags,
						 uint32_t num_regions, uint32_t num_irqs);
UVFIO_API void uvfio_device_free(struct uvfio_device *dev);
UVFIO_API void uvfio_device_set_ops(struct uvfio_device *dev, const struct uvfio_device_ops *ops);
UVFIO_API const struct uvfio_device_ops *uvfio_device_get_ops(struct uvfio_device *dev);
UVFIO_API void uvfio_device_set_priv(struct uvfio_device *dev, void *priv);
UVFIO_API void *uvfio_device_priv(struct uvfio_device *dev);
/* A human-readable name for logs ("edu0"). */
UVFIO_API void uvfio_device_set_name(struct uvfio_device *dev, const char *name);
UVFIO_API const char *uvfio_device_name(struct uvfio_device *dev);

/* Describing the device (before it is served). An index at or past the regions the device was
 * created with adds a device-specific region (up to UVFIO_MAX_REGIONS). */
UVFIO_API int uvfio_device_set_region(struct uvfio_device *dev, uint32_t index,
				      const struct uvfio_region *region);
UVFIO_API const struct uvfio_region *uvfio_device_get_region(struct uvfio_device *dev,
							      uint32_t index);
UVFIO_API int uvfio_device_set_irq_info(struct uvfio_device *dev, uint32_t index, uint32_t count,
					uint32_t flags);

/* What a transport calls. All validate their arguments and return negative errno. */
UVFIO_API uint32_t uvfio_device_flags(struct uvfio_device *dev);
UVFIO_API uint32_t uvfio_device_num_regions(struct uvfio_device *dev);
UVFIO_API uint32_t uvfio_device_num_irqs(struct uvfio_device *dev);
UVFIO_API int uvfio_device_get_irq_info(struct uvfio_device *dev, uint32_t index, uint32_t *count,
					uint32_t *flags);
UVFIO_API ssize_t uvfio_device_region_rw(struct uvfio_device *dev, uint32_t index, uint64_t offset,
					 void *buf, size_t count, bool is_write);
/*
 * SET_IRQS with the semantics of VFIO_DEVICE_SET_IRQS. For DATA_EVENTFD, fds[i] is the eventfd
 * of vector start+i or -1 to de-assign; the core dup()s what it keeps, the caller still owns
 * fds. For DATA_BOOL, data holds count bytes. ACTION_MASK/UNMASK with DATA_EVENTFD (irqfd-style
 * unmask) needs a fd watcher (uvfio_device_set_fd_watcher).
 */
UVFIO_API int uvfio_device_set_irqs(struct uvfio_device *dev, uint32_t flags, uint32_t index,
				    uint32_t start, uint32_t count, const void *data,
				    const int *fds);
UVFIO_API int uvfio_device_reset(struct uvfio_device *dev);
UVFIO_API int uvfio_device_open(struct uvfio_device *dev);
/* Client gone: ops->close, DMA unmapped, eventfds closed, then ops->reset. */
UVFIO_API void uvfio_device_close(struct uvfio_device *dev);
UVFIO_API int uvfio_device_feature(struct uvfio_device *dev, uint32_t flags, const void *data,
				   size_t len, void *out, size_t *out_len);

/* Interrupts, from the device side (any thread). Edge: signal vector once (pending if masked).
 * Level: assert or deassert a level line (INTx): an asserted line fires once and is
 * auto-masked if the index is AUTOMASKED; on UNMASK it fires again while still asserted.
 * Errors: -EINVAL (bad index/vector), -EPERM (interrupts blocked), -ENOLINK (edge trigger of
 * an unmasked vector that has no eventfd: the interrupt is lost, as with no handler). */
UVFIO_API int uvfio_device_irq_trigger(struct uvfio_device *dev, uint32_t index, uint32_t vector);
UVFIO_API int uvfio_device_irq_level(struct uvfio_device *dev, uint32_t index, uint32_t vector,
				     bool asserted);
/* Quiescence gate (the migration state machine sets it): while blocked, interrupts a device
 * raises are deferred (the raise returns 0) and delivered when the gate opens again. */
UVFIO_API void uvfio_device_set_irq_blocked(struct uvfio_device *dev, bool blocked);
UVFIO_API bool uvfio_device_irq_blocked(struct uvfio_device *dev);
/* Whether a vector has an eventfd assigned / is masked at the vfio level. */
UVFIO_API bool uvfio_device_irq_enabled(struct uvfio_device *dev, uint32_t index, uint32_t vector);
/* Whether the index is in use: set up by DATA_EVENTFD|TRIGGER (even if every fd was -1), until
 * DATA_NONE|TRIGGER with count 0 or close. vfio-pci keeps MSI/MSI-X enabled exactly so long. */
UVFIO_API bool uvfio_device_irq_index_enabled(struct uvfio_device *dev, uint32_t index);
UVFIO_API bool uvfio_device_irq_masked(struct uvfio_device *dev, uint32_t index, uint32_t vector);

/* The DMA space of the device (the client's DMA_MAP windows); see dma.h. Never NULL. */
UVFIO_API struct uvfio_dma_space *uvfio_device_dma_space(struct uvfio_device *dev);

/* Lets the core watch fds (irqfd-style unmask eventfds) on its owner's event loop. */
typedef int (*uvfio_fd_watch_fn)(void *loop, int fd, void (*cb)(void *arg), void *arg);
typedef void (*uvfio_fd_unwatch_fn)(void *loop, int fd);
UVFIO_API void uvfio_device_set_fd_watcher(struct uvfio_device *dev, uvfio_fd_watch_fn watch,
					   uvfio_fd_unwatch_fn unwatch, void *loop);

/*
 * ioeventfds: a driver says which writes a client may replace by signalling an eventfd
 * (vfio-user GET_REGION_IO_FDS, like KVM_IOEVENTFD). A write of `size` bytes at `offset` of
 * region `index` may then be sent as an eventfd signal instead of a REGION_WRITE: the device
 * learns that a write happened, not its value, unless UVFIO_IOEVENTFD_DATAMATCH restricts the
 * fd to writes of exactly `datamatch`. A driver must therefore only offer fds for registers
 * whose value it can learn otherwise (a doorbell in an mmap-able page the client writes
 * before signalling, a shadow doorbell in guest memory). The driver owns fd and keeps it open
 * while registered; the transport passes it to clients (several entries may share one fd).
 * Thread-safe. Errors: -EINVAL (bad index/range/size/flags or fd < 0), -EEXIST (same
 * index/offset/fd/datamatch registered twice), -ENOENT (del of nothing), -ENOMEM.
 */
#define UVFIO_IOEVENTFD_DATAMATCH (1u << 0) /* = KVM_IOEVENTFD_FLAG_DATAMATCH */
struct uvfio_ioeventfd {
	uint32_t index; /* region */
	uint32_t size; /* access width: 1, 2, 4 or 8 */
	uint64_t offset;
	uint64_t datamatch;
	uint32_t flags; /* UVFIO_IOEVENTFD_* */
	int fd;
};
UVFIO_API int uvfio_device_add_ioeventfd(struct uvfio_device *dev, uint32_t index, uint64_t offset,
					 uint32_t size, int fd, uint32_t flags, uint64_t datamatch);
/* Removes the entries of region index at offset using fd (all datamatch values). */
UVFIO_API int uvfio_device_del_ioeventfd(struct uvfio_device *dev, uint32_t index, uint64_t offset,
					 int fd);
/* Removes every ioeventfd of the device (the driver still owns and closes the fds). */
UVFIO_API void uvfio_device_clear_ioeventfds(struct uvfio_device *dev);
/* Copies up to max entries of region index (in registration order) to out; returns how many
 * there are in all (may exceed max; out may be NULL with max 0), or -EINVAL. */
UVFIO_API int uvfio_device_get_ioeventfds(struct uvfio_device *dev, uint32_t index,
					  struct uvfio_ioeventfd *out, unsigned max);

UVFIO_END_DECLS

#endif
