/* SPDX-License-Identifier: MIT */
/*
 * Device-side DMA: copies and direct pointers through the device's DMA space. fd-backed
 * windows are copied under a reference (so a concurrent remove waits for the copy); fd-less
 * windows go through the message handler *without* a reference held: the handler may need the
 * server loop, and the loop may be the thread blocked in remove (DMA_UNMAP), which would
 * deadlock. A message-based access that races with an unmap is answered by the client.
 */
#include <errno.h>
#include <string.h>

#include <uvfio/device.h>

#include "dma/dirty.h"
#include "dma/dma_priv.h"
#include "dma/gate.h"
#include "dma/guard.h"
#include "util/log.h"

static int device_gate(struct uvfio_device *dev)
{
	const struct uvfio_device_ops *ops = uvfio_device_get_ops(dev);

	if (ops && ops->dma_allowed && !ops->dma_allowed(dev))
		return -EPERM;
	return 0;
}

int dma_window_copy(struct dma_window *w, uint8_t *p, void *buf, size_t n, bool is_write)
{
	struct uvfio_dma_space *space = w->space;
	int ret;

	if (w->stable) {
		if (is_write)
			memcpy(p, buf, n);
		else
			memcpy(buf, p, n);
		return 0;
	}
	if (is_write)
		ret = dma_guarded_copy(p, buf, n, w->map_base, w->map_len);
	else
		ret = dma_guarded_copy(buf, p, n, w->map_base, w->map_len);
	if (ret == 0)
		return 0;
	char who[sizeof(space->label)];
	pthread_mutex_lock(&space->lock);
	bool first = !w->bad;
	__atomic_store_n(&w->bad, true, __ATOMIC_RELAXED);
	memcpy(who, space->label, sizeof(who));
	pthread_mutex_unlock(&space->lock);
	if (first)
		log_err("dma: %s: %s of window 0x%llx+0x%llx faulted at iova 0x%llx (the client "
			"shrank or truncated its memory): window disabled until unmapped",
			who[0] ? who : "client", is_write ? "write" : "read",
			(unsigned long long)w->iova, (unsigned long long)w->size,
			(unsigned long long)(w->iova + (uint64_t)(p - w->addr)));
	return -EFAULT;
}

/* One piece of an access, within a single window. Returns bytes done or -errno. gated: a
 * device access, refused while the space is quiesced and waited for when it becomes so. */
static ssize_t rw_piece(struct uvfio_dma_space *space, uint64_t iova, uint8_t *buf, size_t len,
			bool is_write, bool gated)
{
	uint32_t need = is_write ? UVFIO_DMA_WRITE : UVFIO_DMA_READ;

	pthread_mutex_lock(&space->lock);
	if (gated && space->blocked) {
		pthread_mutex_unlock(&space->lock);
		return -EPERM;
	}
	struct dma_window *w = dma_space_find(space, iova);
	if (!w) {
		pthread_mutex_unlock(&space->lock);
		return -EFAULT;
	}
	if (!(w->prot & need)) {
		pthread_mutex_unlock(&space->lock);
		return -EACCES;
	}
	if (w->bad) {
		pthread_mutex_unlock(&space->lock);
		return -EFAULT;
	}
	uint64_t left = w->size - (iova - w->iova);
	size_t n = left < len ? (size_t)left : len;
	if (!w->addr) {
		uvfio_dma_msg_fn fn = space->msg_fn;
		void *opaque = space->msg_opaque;
		pthread_mutex_unlock(&space->lock);
		if (!fn)
			return -EIO;
		int ret = fn(opaque, iova, buf, n, is_write);
		return ret < 0 ? -EIO : (ssize_t)n;
	}
	__atomic_add_fetch(&w->refs, 1, __ATOMIC_RELAXED);
	if (gated)
		__atomic_add_fetch(&space->copies, 1, __ATOMIC_RELAXED);
	uint8_t *p = w->addr + (iova - w->iova);
	pthread_mutex_unlock(&space->lock);
	int ret = dma_window_copy(w, p, buf, n, is_write);
	/* One lock per access, not two: the releases below take the lock only when someone
	 * waits for them (see dma_window_put and dma_copy_done). */
	if (gated)
		dma_copy_done(space);
	dma_window_put(space, w);
	return ret < 0 ? ret : (ssize_t)n;
}

static int space_rw(struct uvfio_dma_space *space, uint64_t iova, void *buf, size_t len,
		    bool is_write, bool gated)
{
	uint8_t *b = buf;

	if (!space || (len && !buf))
		return -EINVAL;
	if (len && iova + (len - 1) < iova)
		return -EFAULT;
	while (len > 0) {
		ssize_t n = rw_piece(space, iova, b, len, is_write, gated);
		if (n < 0)
			return (int)n;
		struct uvfio_dirty_log *log = __atomic_load_n(&space->log, __ATOMIC_ACQUIRE);
		if (is_write && log)
			uvfio_dirty_log_mark(log, iova, (uint64_t)n);
		iova += (uint64_t)n;
		b += n;
		len -= (size_t)n;
	}
	return 0;
}

int uvfio_dma_space_rw(struct uvfio_dma_space *space, uint64_t iova, void *buf, size_t len,
		       bool is_write)
{
	return space_rw(space, iova, buf, len, is_write, false);
}

int uvfio_dma_read(struct uvfio_device *dev, uint64_t iova, void *buf, size_t len)
{
	if (!dev)
		return -EINVAL;
	int ret = device_gate(dev);
	if (ret < 0)
		return ret;
	return space_rw(uvfio_device_dma_space(dev), iova, buf, len, false, true);
}

int uvfio_dma_write(struct uvfio_device *dev, uint64_t iova, const void *buf, size_t len)
{
	if (!dev)
		return -EINVAL;
	int ret = device_gate(dev);
	if (ret < 0)
		return ret;
	/* The write path never modifies buf; the shared helper is just not const-typed. */
	return space_rw(uvfio_device_dma_space(dev), iova, (void *)buf, len, true, true);
}

int uvfio_dma_get(struct uvfio_device *dev, uint64_t iova, size_t len, uint32_t prot,
		  struct uvfio_dma_ref *ref)
{
	if (!dev || !ref || len == 0 || (prot & ~(UVFIO_DMA_READ | UVFIO_DMA_WRITE)))
		return -EINVAL;
	int ret = device_gate(dev);
	if (ret < 0)
		return ret;
	struct uvfio_dma_space *space = uvfio_device_dma_space(dev);

	pthread_mutex_lock(&space->lock);
	struct dma_window *w = dma_space_find(space, iova);
	if (space->blocked)
		ret = -EPERM;
	else if (!w || len - 1 >= w->size - (iova - w->iova))
		ret = -EFAULT;
	else if ((w->prot & prot) != prot)
		ret = -EACCES;
	else if (!w->addr)
		ret = -ENOTSUP;
	else if (w->bad)
		ret = -EFAULT;
	if (ret < 0) {
		pthread_mutex_unlock(&space->lock);
		return ret;
	}
	__atomic_add_fetch(&w->refs, 1, __ATOMIC_RELAXED);
	ref->ptr = w->addr + (iova - w->iova);
	ref->len = len;
	ref->prot = prot;
	ref->flags = w->stable ? UVFIO_DMA_REF_STABLE : 0;
	ref->window = w;
	pthread_mutex_unlock(&space->lock);
	return 0;
}

void uvfio_dma_put(struct uvfio_device *dev, struct uvfio_dma_ref *ref)
{
	if (!dev || !ref || !ref->window)
		return;
	struct uvfio_dma_space *space = uvfio_device_dma_space(dev);
	/* Whatever the device wrote through the pointer counts as written now. */
	struct uvfio_dirty_log *log = __atomic_load_n(&space->log, __ATOMIC_ACQUIRE);
	if ((ref->prot & UVFIO_DMA_WRITE) && log) {
		struct dma_window *w = ref->window;
		uvfio_dirty_log_mark(log, w->iova + (uint64_t)((uint8_t *)ref->ptr - w->addr),
				     ref->len);
	}
	dma_window_put(space, ref->window);
	ref->window = NULL;
	ref->ptr = NULL;
}

static int ref_copy(const struct uvfio_dma_ref *ref, size_t off, void *buf, size_t len,
		    bool is_write)
{
	if (!ref || !ref->window || (len && !buf))
		return -EINVAL;
	if (off > ref->len || len > ref->len - off)
		return -EFAULT;
	if (!(ref->prot & (is_write ? UVFIO_DMA_WRITE : UVFIO_DMA_READ)))
		return -EACCES;
	struct dma_window *w = ref->window;
	/* A window already found bad: no need to fault again. Read without the lock: a stale
	 * false only means the guarded copy below faults and says so. */
	if (__atomic_load_n(&w->bad, __ATOMIC_RELAXED))
		return -EFAULT;
	return len ? dma_window_copy(w, (uint8_t *)ref->ptr + off, buf, len, is_write) : 0;
}

int uvfio_dma_copy_from(const struct uvfio_dma_ref *ref, size_t off, void *buf, size_t len)
{
	return ref_copy(ref, off, buf, len, false);
}

int uvfio_dma_copy_to(const struct uvfio_dma_ref *ref, size_t off, const void *buf, size_t len)
{
	/* The write path never modifies buf; the shared helper is just not const-typed. */
	return ref_copy(ref, off, (void *)buf, len, true);
}

void uvfio_dma_mark_dirty(struct uvfio_device *dev, uint64_t iova, size_t len)
{
	struct uvfio_dma_space *space = dev ? uvfio_device_dma_space(dev) : NULL;
	struct uvfio_dirty_log *log = space ? __atomic_load_n(&space->log, __ATOMIC_ACQUIRE) : NULL;

	if (log && len)
		uvfio_dirty_log_mark(log, iova, len);
}

/* A gated copy ends. The closer of the gate stores blocked, then reads copies; we drop copies,
 * then read blocked (all seq_cst): either it sees our copy gone or we see the gate closing and
 * wake it under the lock. The space outlives its device's accesses, so this is no late use. */
void dma_copy_done(struct uvfio_dma_space *space)
{
	if (__atomic_sub_fetch(&space->copies, 1, __ATOMIC_SEQ_CST) == 0 &&
	    __atomic_load_n(&space->blocked, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&space->lock);
		pthread_cond_broadcast(&space->drained);
		pthread_mutex_unlock(&space->lock);
	}
}

void dma_space_set_blocked(struct uvfio_dma_space *space, bool blocked)
{
	pthread_mutex_lock(&space->lock);
	__atomic_store_n(&space->blocked, blocked, __ATOMIC_SEQ_CST);
	while (blocked && __atomic_load_n(&space->copies, __ATOMIC_SEQ_CST) > 0)
		pthread_cond_wait(&space->drained, &space->lock);
	pthread_mutex_unlock(&space->lock);
}

void dma_space_set_dirty_log(struct uvfio_dma_space *space, struct uvfio_dirty_log *log)
{
	__atomic_store_n(&space->log, log, __ATOMIC_RELEASE);
}
