/* SPDX-License-Identifier: MIT */
/* DMA space internals shared by space.c (window management) and dma.c (device-side access). */
#ifndef UVFIO_DMA_PRIV_H
#define UVFIO_DMA_PRIV_H

#include <pthread.h>

#include <uvfio/dma.h>

struct dma_window {
	uint64_t iova;
	uint64_t size;
	uint32_t prot;
	uint8_t *addr; /* iova maps here; NULL for a message-based (fd-less) window */
	void *map_base; /* what mmap() returned (page-aligned, may precede addr) */
	size_t map_len;
	struct uvfio_dma_space *space;
	/* The file is sealed against shrinking and covers the window: no copy can fault, so
	 * copies skip the guard. */
	bool stable;
	/* A copy faulted (the client shrank the file): every later access fails with -EFAULT
	 * at once, until the client unmaps the window. Under the space lock. */
	bool bad;
	unsigned refs; /* users between get and put: raised under the lock, dropped atomically */
	bool removing; /* out of the array; the remover waits for refs to drop to 0 (atomic) */
	pthread_cond_t idle;
};

struct uvfio_dma_space {
	pthread_mutex_t lock;
	struct dma_window **win; /* sorted by iova, never overlapping */
	unsigned count;
	unsigned cap;
	unsigned max;
	uvfio_dma_msg_fn msg_fn;
	void *msg_opaque;
	/* Quiescence gate (see gate.h), under lock. */
	bool blocked;
	unsigned copies; /* device copies to fd-backed memory in progress */
	pthread_cond_t drained; /* copies dropped to 0 */
	struct uvfio_dirty_log *log; /* set once before serving; NULL: not migratable */
	char label[96]; /* who the windows belong to, for logs: "device (client pid N)" */
};

/* With space->lock held: the window containing iova, or NULL. */
struct dma_window *dma_space_find(struct uvfio_dma_space *space, uint64_t iova);
/* Drops one reference taken under the lock (wakes a waiting remover). */
void dma_window_put(struct uvfio_dma_space *space, struct dma_window *w);
/* A gated copy (space->copies raised under the lock) is over: wakes a gate closer waiting. */
void dma_copy_done(struct uvfio_dma_space *space);
/* Copies to/from client memory at p inside w (a reference held): guarded unless w is stable.
 * A fault marks w bad, logs it once and returns -EFAULT. */
int dma_window_copy(struct dma_window *w, uint8_t *p, void *buf, size_t n, bool is_write);

#endif
