/* SPDX-License-Identifier: MIT */
/*
 * DMA memory of one controller: buffers mapped into the controller's IOAS at IOVAs handed out
 * upwards. The I/O path looks up a buffer's IOVA without a lock: a slot's fields are written
 * before it turns live, and a lookup only trusts a live slot.
 */
#include <errno.h>
#include <string.h>

#include "nvme/host/nvme_host_priv.h"
#include "util/log.h"

int nvme_dma_init(struct uvfio_nvme_ctrl *c)
{
	pthread_mutex_init(&c->dma_lock, NULL);
	c->next_iova = NVME_HOST_DMA_BASE;
	return 0;
}

void *uvfio_nvme_dma_alloc(struct uvfio_nvme_ctrl *c, size_t size)
{
	void *p = NULL;
	uint32_t n, slot;
	int ret;

	if (!c || !size)
		return NULL;
	size = (size + NVME_HOST_PAGE - 1) & ~(size_t)(NVME_HOST_PAGE - 1);
	pthread_mutex_lock(&c->dma_lock);
	n = atomic_load(&c->ndma);
	for (slot = 0; slot < n && atomic_load(&c->dma[slot].live); slot++)
		;
	if (slot == NVME_HOST_MAX_DMA) {
		log_err("nvme: more than %u DMA buffers", NVME_HOST_MAX_DMA);
		goto out;
	}
	ret = uvfio_ioas_map_alloc(c->ioas, c->next_iova, size, UVFIO_IOAS_READ | UVFIO_IOAS_WRITE,
				   &p);
	if (ret < 0) {
		log_err("nvme: DMA buffer of %zu bytes: %s", size, strerror(-ret));
		p = NULL;
		goto out;
	}
	c->dma[slot].vaddr = p;
	c->dma[slot].iova = c->next_iova;
	c->dma[slot].size = size;
	atomic_store_explicit(&c->dma[slot].live, true, memory_order_release);
	/* A guard gap, so an overrun faults instead of reaching the next buffer. IOVAs are not
	 * reused: 2^64 is plenty. */
	c->next_iova += size + NVME_HOST_PAGE;
	if (slot == n)
		atomic_store_explicit(&c->ndma, n + 1, memory_order_release);
out:
	pthread_mutex_unlock(&c->dma_lock);
	return p;
}

void uvfio_nvme_dma_free(struct uvfio_nvme_ctrl *c, void *buf)
{
	if (!c || !buf)
		return;
	pthread_mutex_lock(&c->dma_lock);
	for (uint32_t i = 0; i < atomic_load(&c->ndma); i++) {
		struct nvme_dma_buf *b = &c->dma[i];

		if (atomic_load(&b->live) && b->vaddr == buf) {
			atomic_store(&b->live, false);
			uvfio_ioas_unmap(c->ioas, b->iova, b->size);
			break;
		}
	}
	pthread_mutex_unlock(&c->dma_lock);
}

int nvme_dma_iova(struct uvfio_nvme_ctrl *c, const void *p, size_t len, uint64_t *iova)
{
	uint32_t n = atomic_load_explicit(&c->ndma, memory_order_acquire);
	uintptr_t a = (uintptr_t)p;

	/* Newest first: I/O buffers are usually allocated after the queues. */
	for (uint32_t i = n; i-- > 0;) {
		const struct nvme_dma_buf *b = &c->dma[i];
		uintptr_t base;

		if (!atomic_load_explicit(&b->live, memory_order_acquire))
			continue;
		base = (uintptr_t)b->vaddr;
		if (a >= base && a - base <= b->size && len <= b->size - (a - base)) {
			*iova = b->iova + (a - base);
			return 0;
		}
	}
	return -EINVAL;
}
