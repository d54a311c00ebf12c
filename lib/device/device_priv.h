/* SPDX-License-Identifier: MIT */
/* Device core internals shared by device.c (regions, lifecycle) and irq.c (irq contexts). */
#ifndef UVFIO_CORE_DEVICE_PRIV_H
#define UVFIO_CORE_DEVICE_PRIV_H

#include <pthread.h>

#include <uvfio/device.h>

#define UVFIO_MAX_IRQS 8
#define UVFIO_MAX_VECTORS 2048 /* MSI-X limit */

struct irqfd;

/* One vector of an irq index. Protected by uvfio_device.irq_lock. */
struct irq_vec {
	int efd; /* our dup of the client's trigger eventfd, -1 if none */
	bool masked; /* vfio-level mask (SET_IRQS ACTION_MASK or automask) */
	bool pending; /* edge fired while masked */
	bool asserted; /* level line state */
	bool deferred; /* raised while the device was quiesced: delivered when it may again */
	struct irqfd *irqfd_mask, *irqfd_unmask; /* client eventfds that (un)mask this vector */
};

struct irq_index {
	uint32_t count, flags;
	bool enabled; /* set up by EVENTFD|TRIGGER (even with all fds -1) until disabled */
	struct irq_vec *vec;
};

struct uvfio_device {
	const struct uvfio_device_ops *ops;
	uint32_t flags;
	uint32_t num_regions, num_irqs;
	struct uvfio_region regions[UVFIO_MAX_REGIONS];
	struct irq_index irqs[UVFIO_MAX_IRQS];
	pthread_mutex_t irq_lock;
	bool irq_blocked;
	struct device_mig *mig; /* NULL: not migratable */
	bool opened;
	void *priv;
	char name[64];
	struct uvfio_dma_space *dma;
	uvfio_fd_watch_fn watch;
	uvfio_fd_unwatch_fn unwatch;
	void *loop;
	/* ioeventfds the device offers (GET_REGION_IO_FDS); fds owned by the driver. */
	pthread_mutex_t ioefd_lock;
	struct uvfio_ioeventfd *ioefds;
	unsigned nr_ioefds, cap_ioefds;
};

/* irq.c */
void irq_index_disable(struct uvfio_device *dev, uint32_t index);
void irq_free_all(struct uvfio_device *dev);
/* Forgets interrupts deferred by quiescence (a reset drops what the device had raised). */
void irq_drop_deferred(struct uvfio_device *dev);

/* ioeventfd.c */
void ioeventfd_free_all(struct uvfio_device *dev);

/* device_mig.c */
struct device_mig;
void device_mig_free(struct uvfio_device *dev);
/* Ends a saving session (its stream may point into driver memory about to be freed). */
void device_mig_end_session(struct uvfio_device *dev);
/* Reset and close bring the state machine back to RUNNING (close also stops DMA logging). */
void device_mig_reset(struct uvfio_device *dev, bool closing);
/* The access rules of docs/migration.md: 0 or the errno for a client access in this state. */
int device_mig_check_region(struct uvfio_device *dev, uint32_t index, bool is_write);
int device_mig_check_irqs(struct uvfio_device *dev);
/* Features the core answers for a migratable device; -ENOTTY: not one of them. */
int device_mig_feature(struct uvfio_device *dev, uint32_t flags, const void *data, size_t len,
		       void *out, size_t *out_len);

#endif
