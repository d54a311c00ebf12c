/* SPDX-License-Identifier: MIT */
/*
 * Device-level irq contexts: per (index, vector) the client's eventfd, the vfio-level mask and
 * the pending/asserted state, with the semantics of VFIO_DEVICE_SET_IRQS.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "device/device_priv.h"
#include "util/log.h"
#include "util/reason.h"

#define DATA_MASK (UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_DATA_BOOL | UVFIO_IRQ_SET_DATA_EVENTFD)
#define ACTION_MASK                                                                                \
	(UVFIO_IRQ_SET_ACTION_MASK | UVFIO_IRQ_SET_ACTION_UNMASK | UVFIO_IRQ_SET_ACTION_TRIGGER)

/* A client eventfd that masks or unmasks one vector when signalled (irqfd-style). */
struct irqfd {
	struct uvfio_device *dev;
	uint32_t index, vector;
	bool unmask;
	int fd;
};

static void efd_signal(int fd)
{
	uint64_t one = 1;
	/* EAGAIN means the counter is saturated: the client will see an interrupt anyway. */
	if (write(fd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_warn("irq: eventfd write failed: %s", strerror(errno));
}

static bool one_bit(uint32_t v)
{
	return v && !(v & (v - 1));
}

/* An eventfd, as the kernel's eventfd_ctx_fdget() insists: anything else could block the
 * device's thread on a write (a pipe), grow without bound (a file) or be a socket. */
static bool is_eventfd(int fd)
{
	char path[32], target[32];

	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	ssize_t n = readlink(path, target, sizeof(target) - 1);
	if (n < 0)
		return false;
	target[n] = '\0';
	return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/* Trigger and mask/unmask fds: -EBADF for something that is no open fd, -EINVAL (the
 * kernel's answer) for an fd that is no eventfd. */
static int check_fd(int fd, bool need_write)
{
	int fl = fd < 0 ? -1 : fcntl(fd, F_GETFL);

	if (fl < 0)
		return refuse(EBADF, "fd %d is not open", fd);
	if (!is_eventfd(fd))
		return refuse(EINVAL, "the fd is not an eventfd");
	if (need_write && (fl & O_ACCMODE) == O_RDONLY)
		return refuse(EBADF, "the eventfd is read-only");
	return 0;
}

static void irqfd_free(struct uvfio_device *dev, struct irqfd *f)
{
	if (!f)
		return;
	if (dev->unwatch)
		dev->unwatch(dev->loop, f->fd);
	close(f->fd);
	free(f);
}

/* Clears every vector of an index; returns the irqfds to free outside the lock. */
static void index_clear_locked(struct irq_index *ix, struct irqfd **drop, uint32_t *ndrop)
{
	for (uint32_t v = 0; v < ix->count; v++) {
		struct irq_vec *vec = &ix->vec[v];
		if (vec->efd >= 0)
			close(vec->efd);
		vec->efd = -1;
		vec->masked = false;
		vec->pending = false;
		if (vec->irqfd_mask)
			drop[(*ndrop)++] = vec->irqfd_mask;
		if (vec->irqfd_unmask)
			drop[(*ndrop)++] = vec->irqfd_unmask;
		vec->irqfd_mask = vec->irqfd_unmask = NULL;
	}
}

static void index_disable(struct uvfio_device *dev, uint32_t index)
{
	struct irq_index *ix = &dev->irqs[index];
	if (!ix->count)
		return;
	struct irqfd **drop = calloc(2 * (size_t)ix->count, sizeof(*drop));
	uint32_t ndrop = 0;
	if (!drop) {
		log_err("irq: out of memory disabling index %u", index);
		return;
	}
	pthread_mutex_lock(&dev->irq_lock);
	index_clear_locked(ix, drop, &ndrop);
	ix->enabled = false;
	pthread_mutex_unlock(&dev->irq_lock);
	/* Unwatching calls into the event loop, which must not happen under irq_lock. */
	for (uint32_t i = 0; i < ndrop; i++)
		irqfd_free(dev, drop[i]);
	free(drop);
}

void irq_index_disable(struct uvfio_device *dev, uint32_t index)
{
	if (index >= dev->num_irqs)
		return;
	index_disable(dev, index);
	if (dev->ops && dev->ops->irqs_changed)
		dev->ops->irqs_changed(dev, index);
}

void irq_free_all(struct uvfio_device *dev)
{
	for (uint32_t i = 0; i < dev->num_irqs; i++) {
		index_disable(dev, i);
		free(dev->irqs[i].vec);
		dev->irqs[i].vec = NULL;
		dev->irqs[i].count = 0;
	}
}

int uvfio_device_set_irq_info(struct uvfio_device *dev, uint32_t index, uint32_t count,
			      uint32_t flags)
{
	if (index >= dev->num_irqs || count > UVFIO_MAX_VECTORS)
		return -EINVAL;
	struct irq_index *ix = &dev->irqs[index];
	struct irq_vec *vec = NULL;
	if (count) {
		vec = calloc(count, sizeof(*vec));
		if (!vec)
			return -ENOMEM;
		for (uint32_t v = 0; v < count; v++)
			vec[v].efd = -1;
	}
	index_disable(dev, index);
	pthread_mutex_lock(&dev->irq_lock);
	free(ix->vec);
	ix->vec = vec;
	ix->count = count;
	ix->flags = flags;
	pthread_mutex_unlock(&dev->irq_lock);
	return 0;
}

int uvfio_device_get_irq_info(struct uvfio_device *dev, uint32_t index, uint32_t *count,
			      uint32_t *flags)
{
	if (index >= dev->num_irqs)
		return -EINVAL;
	if (count)
		*count = dev->irqs[index].count;
	if (flags)
		*flags = dev->irqs[index].flags;
	return 0;
}

/* DATA_EVENTFD|TRIGGER: all fds are checked and dup()ed before anything changes. */
static int set_trigger_fds(struct uvfio_device *dev, struct irq_index *ix, uint32_t start,
			   uint32_t count, const int *fds)
{
	int *dups = malloc(count * sizeof(*dups));
	if (!dups)
		return -ENOMEM;
	int ret = 0;
	uint32_t n;
	for (n = 0; n < count; n++) {
		dups[n] = -1;
		if (fds[n] == -1)
			continue;
		ret = check_fd(fds[n], true);
		if (ret == 0) {
			dups[n] = fcntl(fds[n], F_DUPFD_CLOEXEC, 0);
			if (dups[n] < 0)
				ret = -errno;
		}
		if (ret < 0)
			break;
	}
	if (ret < 0) {
		for (uint32_t i = 0; i < n; i++)
			if (dups[i] >= 0)
				close(dups[i]);
		free(dups);
		return ret;
	}
	pthread_mutex_lock(&dev->irq_lock);
	ix->enabled = true; /* as vfio-pci: the index stays in use until DATA_NONE, count 0 */
	for (uint32_t i = 0; i < count; i++) {
		struct irq_vec *vec = &ix->vec[start + i];
		int old = vec->efd;
		vec->efd = dups[i];
		dups[i] = old;
		if (vec->efd < 0)
			vec->pending = false;
	}
	pthread_mutex_unlock(&dev->irq_lock);
	for (uint32_t i = 0; i < count; i++)
		if (dups[i] >= 0)
			close(dups[i]);
	free(dups);
	return 0;
}

static void set_mask_locked(struct irq_index *ix, uint32_t v)
{
	ix->vec[v].masked = true;
}

/* Clears the mask; an edge that came in while masked is delivered now. */
static void set_unmask_locked(struct irq_index *ix, uint32_t v)
{
	struct irq_vec *vec = &ix->vec[v];
	vec->masked = false;
	if (vec->pending && vec->efd >= 0) {
		vec->pending = false;
		efd_signal(vec->efd);
	}
}

/* An assert fires once; automasking keeps a still-high line from storming. */
static void level_fire_locked(struct irq_index *ix, struct irq_vec *vec)
{
	if (!vec->masked && vec->efd >= 0) {
		efd_signal(vec->efd);
		if (ix->flags & UVFIO_IRQ_INFO_AUTOMASKED)
			vec->masked = true;
	}
}

/* Level re-fire after UNMASK when no bus core decides (ops->irq_unmasked is NULL). */
static void refire_level_locked(struct irq_index *ix, uint32_t v)
{
	if (ix->vec[v].asserted)
		level_fire_locked(ix, &ix->vec[v]);
}

static void do_mask(struct uvfio_device *dev, uint32_t index, uint32_t v, bool unmask)
{
	struct irq_index *ix = &dev->irqs[index];
	bool delegate = dev->ops && dev->ops->irq_unmasked;
	pthread_mutex_lock(&dev->irq_lock);
	if (v >= ix->count) {
		pthread_mutex_unlock(&dev->irq_lock);
		return;
	}
	if (!unmask) {
		set_mask_locked(ix, v);
		pthread_mutex_unlock(&dev->irq_lock);
		return;
	}
	set_unmask_locked(ix, v);
	if (!delegate)
		refire_level_locked(ix, v);
	pthread_mutex_unlock(&dev->irq_lock);
	if (delegate)
		dev->ops->irq_unmasked(dev, index, v);
}

static void irqfd_cb(void *arg)
{
	struct irqfd *f = arg;
	struct pollfd p = { .fd = f->fd, .events = POLLIN };
	uint64_t cnt;
	/* Drain without blocking: the fd is shared with the client, so we do not set O_NONBLOCK. */
	if (poll(&p, 1, 0) == 1 && (p.revents & POLLIN))
		if (read(f->fd, &cnt, sizeof(cnt)) < 0)
			log_debug("irqfd: read: %s", strerror(errno));
	do_mask(f->dev, f->index, f->vector, f->unmask);
}

/* ACTION_MASK/UNMASK with DATA_EVENTFD: (de)register irqfds. */
static int set_irqfds(struct uvfio_device *dev, uint32_t index, uint32_t start, uint32_t count,
		      const int *fds, bool unmask)
{
	if (!dev->watch || !dev->unwatch)
		return -ENOTSUP;
	for (uint32_t i = 0; i < count; i++) {
		int ret = fds[i] != -1 ? check_fd(fds[i], false) : 0;
		if (ret < 0)
			return ret;
	}
	struct irq_index *ix = &dev->irqs[index];
	for (uint32_t i = 0; i < count; i++) {
		struct irq_vec *vec = &ix->vec[start + i];
		struct irqfd **slot = unmask ? &vec->irqfd_unmask : &vec->irqfd_mask;
		irqfd_free(dev, *slot);
		*slot = NULL;
		if (fds[i] == -1)
			continue;
		struct irqfd *f = calloc(1, sizeof(*f));
		if (!f)
			return -ENOMEM;
		f->dev = dev;
		f->index = index;
		f->vector = start + i;
		f->unmask = unmask;
		f->fd = fcntl(fds[i], F_DUPFD_CLOEXEC, 0);
		if (f->fd < 0) {
			int err = -errno;
			free(f);
			return err;
		}
		int ret = dev->watch(dev->loop, f->fd, irqfd_cb, f);
		if (ret < 0) {
			close(f->fd);
			free(f);
			return ret;
		}
		*slot = f;
	}
	return 0;
}

static void loopback(struct uvfio_device *dev, struct irq_index *ix, uint32_t start,
		     uint32_t count, const uint8_t *bools)
{
	pthread_mutex_lock(&dev->irq_lock);
	for (uint32_t i = 0; i < count; i++) {
		struct irq_vec *vec = &ix->vec[start + i];
		if ((!bools || bools[i]) && vec->efd >= 0)
			efd_signal(vec->efd);
	}
	pthread_mutex_unlock(&dev->irq_lock);
}

static void set_masks(struct uvfio_device *dev, uint32_t index, uint32_t start, uint32_t count,
		      const uint8_t *bools, bool unmask)
{
	for (uint32_t i = 0; i < count; i++)
		if (!bools || bools[i])
			do_mask(dev, index, start + i, unmask);
}

static int validate(struct uvfio_device *dev, uint32_t flags, uint32_t index, uint32_t start,
		    uint32_t count, const void *data, const int *fds)
{
	if (flags & ~(DATA_MASK | ACTION_MASK))
		return refuse(EINVAL, "unknown SET_IRQS flags 0x%x", flags);
	if (!one_bit(flags & DATA_MASK) || !one_bit(flags & ACTION_MASK))
		return refuse(EINVAL, "SET_IRQS flags 0x%x: not one data type and one action",
			      flags);
	if (index >= dev->num_irqs || dev->irqs[index].count == 0)
		return refuse(EINVAL, "irq index %u does not exist", index);
	const struct irq_index *ix = &dev->irqs[index];
	if (count == 0) {
		/* Only "disable the whole index" takes no vectors. */
		if (flags != (UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_TRIGGER))
			return -EINVAL;
		return start < ix->count ? 0 : -EINVAL;
	}
	if (start >= ix->count || count > ix->count - start)
		return refuse(EINVAL, "vectors %u+%u outside irq index %u (%u vectors)", start,
			      count, index, ix->count);
	if ((flags & UVFIO_IRQ_SET_DATA_BOOL) && !data)
		return -EINVAL;
	if ((flags & UVFIO_IRQ_SET_DATA_EVENTFD) && !fds)
		return -EINVAL;
	if ((flags & (UVFIO_IRQ_SET_ACTION_MASK | UVFIO_IRQ_SET_ACTION_UNMASK)) &&
	    !(ix->flags & UVFIO_IRQ_INFO_MASKABLE))
		return refuse(EINVAL, "irq index %u is not maskable", index);
	return 0;
}

/* vfio-pci's rule: INTx, MSI and MSI-X are one at a time; the client disables one before it
 * sets up another (QEMU does), and a second one is refused. */
static bool other_pci_irq_type_enabled(struct uvfio_device *dev, uint32_t index)
{
	if (!(dev->flags & UVFIO_DEVICE_FLAGS_PCI) || index > UVFIO_PCI_MSIX_IRQ)
		return false;
	bool other = false;
	pthread_mutex_lock(&dev->irq_lock);
	for (uint32_t i = UVFIO_PCI_INTX_IRQ; i <= UVFIO_PCI_MSIX_IRQ && i < dev->num_irqs; i++)
		if (i != index && dev->irqs[i].enabled)
			other = true;
	pthread_mutex_unlock(&dev->irq_lock);
	return other;
}

int uvfio_device_set_irqs(struct uvfio_device *dev, uint32_t flags, uint32_t index,
			  uint32_t start, uint32_t count, const void *data, const int *fds)
{
	int ret = validate(dev, flags, index, start, count, data, fds);
	if (ret == 0)
		ret = device_mig_check_irqs(dev);
	if (ret < 0)
		return ret;
	struct irq_index *ix = &dev->irqs[index];
	uint32_t dtype = flags & DATA_MASK;
	uint32_t action = flags & ACTION_MASK;

	if (action == UVFIO_IRQ_SET_ACTION_TRIGGER && dtype == UVFIO_IRQ_SET_DATA_EVENTFD &&
	    count > 0 && other_pci_irq_type_enabled(dev, index))
		return refuse(EINVAL, "another interrupt type (INTx/MSI/MSI-X) is enabled; "
			      "disable it first");

	if (count == 0) {
		irq_index_disable(dev, index);
		return 0;
	}
	if (action == UVFIO_IRQ_SET_ACTION_TRIGGER) {
		if (dtype != UVFIO_IRQ_SET_DATA_EVENTFD) {
			loopback(dev, ix, start, count,
				 dtype == UVFIO_IRQ_SET_DATA_BOOL ? data : NULL);
			return 0;
		}
		ret = set_trigger_fds(dev, ix, start, count, fds);
	} else if (dtype == UVFIO_IRQ_SET_DATA_EVENTFD) {
		ret = set_irqfds(dev, index, start, count, fds,
				 action == UVFIO_IRQ_SET_ACTION_UNMASK);
	} else {
		set_masks(dev, index, start, count,
			  dtype == UVFIO_IRQ_SET_DATA_BOOL ? data : NULL,
			  action == UVFIO_IRQ_SET_ACTION_UNMASK);
	}
	if (ret < 0)
		return ret;
	if (dev->ops && dev->ops->irqs_changed)
		dev->ops->irqs_changed(dev, index);
	return 0;
}

/* The vector asked for, with irq_lock held (its index in *ix); NULL, not locked, if the device
 * has no such vector. */
static struct irq_vec *lock_vec(struct uvfio_device *dev, uint32_t index, uint32_t vector,
				struct irq_index **ix)
{
	if (index >= dev->num_irqs)
		return NULL;
	*ix = &dev->irqs[index];
	pthread_mutex_lock(&dev->irq_lock);
	if (vector >= (*ix)->count) {
		pthread_mutex_unlock(&dev->irq_lock);
		return NULL;
	}
	return &(*ix)->vec[vector];
}

int uvfio_device_irq_trigger(struct uvfio_device *dev, uint32_t index, uint32_t vector)
{
	struct irq_index *ix;
	struct irq_vec *vec = lock_vec(dev, index, vector, &ix);
	int ret = 0;

	if (!vec)
		return -EINVAL;
	if (dev->irq_blocked)
		vec->deferred = true;
	else if (vec->masked)
		vec->pending = true;
	else if (vec->efd < 0)
		ret = -ENOLINK; /* nobody listens: the interrupt is lost, as on a bus with no handler */
	else
		efd_signal(vec->efd);
	pthread_mutex_unlock(&dev->irq_lock);
	return ret;
}

int uvfio_device_irq_level(struct uvfio_device *dev, uint32_t index, uint32_t vector,
			   bool asserted)
{
	struct irq_index *ix;
	struct irq_vec *vec = lock_vec(dev, index, vector, &ix);

	if (!vec)
		return -EINVAL;
	vec->asserted = asserted;
	/* The line level is device state; signalling it waits for the gate to open. */
	if (dev->irq_blocked)
		vec->deferred = asserted;
	else if (asserted)
		level_fire_locked(ix, vec);
	pthread_mutex_unlock(&dev->irq_lock);
	return 0;
}

bool uvfio_device_irq_enabled(struct uvfio_device *dev, uint32_t index, uint32_t vector)
{
	if (index >= dev->num_irqs)
		return false;
	pthread_mutex_lock(&dev->irq_lock);
	bool on = vector < dev->irqs[index].count && dev->irqs[index].vec[vector].efd >= 0;
	pthread_mutex_unlock(&dev->irq_lock);
	return on;
}

bool uvfio_device_irq_index_enabled(struct uvfio_device *dev, uint32_t index)
{
	if (index >= dev->num_irqs)
		return false;
	pthread_mutex_lock(&dev->irq_lock);
	bool on = dev->irqs[index].enabled;
	pthread_mutex_unlock(&dev->irq_lock);
	return on;
}

bool uvfio_device_irq_masked(struct uvfio_device *dev, uint32_t index, uint32_t vector)
{
	if (index >= dev->num_irqs)
		return false;
	pthread_mutex_lock(&dev->irq_lock);
	bool m = vector < dev->irqs[index].count && dev->irqs[index].vec[vector].masked;
	pthread_mutex_unlock(&dev->irq_lock);
	return m;
}

/* What was raised while quiesced, as it would have been delivered then: an edge to a masked
 * vector becomes pending, a line still asserted fires. */
static void deliver_deferred_locked(struct uvfio_device *dev)
{
	for (uint32_t i = 0; i < dev->num_irqs; i++) {
		struct irq_index *ix = &dev->irqs[i];
		for (uint32_t v = 0; v < ix->count; v++) {
			struct irq_vec *vec = &ix->vec[v];
			if (!vec->deferred)
				continue;
			vec->deferred = false;
			if (vec->asserted)
				level_fire_locked(ix, vec);
			else if (vec->masked)
				vec->pending = true;
			else if (vec->efd >= 0)
				efd_signal(vec->efd);
		}
	}
}

void uvfio_device_set_irq_blocked(struct uvfio_device *dev, bool blocked)
{
	pthread_mutex_lock(&dev->irq_lock);
	bool was = dev->irq_blocked;
	dev->irq_blocked = blocked;
	if (was && !blocked)
		deliver_deferred_locked(dev);
	pthread_mutex_unlock(&dev->irq_lock);
}

void irq_drop_deferred(struct uvfio_device *dev)
{
	pthread_mutex_lock(&dev->irq_lock);
	for (uint32_t i = 0; i < dev->num_irqs; i++)
		for (uint32_t v = 0; v < dev->irqs[i].count; v++)
			dev->irqs[i].vec[v].deferred = false;
	pthread_mutex_unlock(&dev->irq_lock);
}

bool uvfio_device_irq_blocked(struct uvfio_device *dev)
{
	pthread_mutex_lock(&dev->irq_lock);
	bool b = dev->irq_blocked;
	pthread_mutex_unlock(&dev->irq_lock);
	return b;
}
