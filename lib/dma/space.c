/* SPDX-License-Identifier: MIT */
/*
 * DMA space: the client's windows, kept as a sorted array of pointers (binary search). The
 * window structs themselves never move, so a user holding a reference keeps a valid pointer
 * while the array changes. A remover takes the window out of the array first (new lookups
 * fail at once), then waits on the window's own condvar: the space lock is released while it
 * waits, so lookups of other windows go on.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include <linux/magic.h>

#include <uvfio/migration.h>

#include "dma/dma_priv.h"
#include "dma/gate.h"
#include "dma/guard.h"
#include "util/log.h"
#include "util/reason.h"

#define DMA_DEFAULT_MAX_WINDOWS 65535u

struct uvfio_dma_space *uvfio_dma_space_new(void)
{
	struct uvfio_dma_space *space = calloc(1, sizeof(*space));

	if (!space)
		return NULL;
	if (pthread_mutex_init(&space->lock, NULL) != 0) {
		free(space);
		return NULL;
	}
	if (pthread_cond_init(&space->drained, NULL) != 0) {
		pthread_mutex_destroy(&space->lock);
		free(space);
		return NULL;
	}
	space->max = DMA_DEFAULT_MAX_WINDOWS;
	return space;
}

void uvfio_dma_space_free(struct uvfio_dma_space *space)
{
	if (!space)
		return;
	uvfio_dma_space_remove_all(space);
	free(space->win);
	pthread_cond_destroy(&space->drained);
	pthread_mutex_destroy(&space->lock);
	free(space);
}

/* Index of the first window whose iova is > iova (lock held). */
static unsigned upper_bound(struct uvfio_dma_space *space, uint64_t iova)
{
	unsigned lo = 0, hi = space->count;

	while (lo < hi) {
		unsigned mid = lo + (hi - lo) / 2;
		if (space->win[mid]->iova <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

struct dma_window *dma_space_find(struct uvfio_dma_space *space, uint64_t iova)
{
	unsigned pos = upper_bound(space, iova);

	if (pos == 0)
		return NULL;
	struct dma_window *w = space->win[pos - 1];
	/* Written as a difference so a window ending at 2^64 does not overflow. */
	if (iova - w->iova >= w->size)
		return NULL;
	return w;
}

/* Whether no access to [off, off+size) of fd can fault later: the file is sealed against
 * shrinking (memfd F_SEAL_SHRINK, which cannot be undone) and already covers the range. Not
 * hugetlbfs: a hole punched there faults with SIGBUS when the huge page pool is empty. */
static bool fd_is_stable(int fd, uint64_t off, uint64_t size)
{
	struct stat st;
	struct statfs sfs;
	int seals = fcntl(fd, F_GET_SEALS);

	if (seals < 0 || !(seals & F_SEAL_SHRINK) || fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) ||
	    fstatfs(fd, &sfs) < 0 || sfs.f_type == HUGETLBFS_MAGIC)
		return false;
	return off <= (uint64_t)st.st_size && size <= (uint64_t)st.st_size - off;
}

static int window_map(struct dma_window *w, int fd, uint64_t fd_offset)
{
	long page = sysconf(_SC_PAGESIZE);
	uint64_t delta = fd_offset % (uint64_t)page;
	int prot = 0;

	if (w->size > SIZE_MAX - delta)
		return -EINVAL;
	if (w->prot & UVFIO_DMA_READ)
		prot |= PROT_READ;
	if (w->prot & UVFIO_DMA_WRITE)
		prot |= PROT_WRITE;
	w->map_len = (size_t)(w->size + delta);
	/* mmap needs a page-aligned offset: map from the page start and skip delta bytes. */
	void *p = mmap(NULL, w->map_len, prot, MAP_SHARED, fd, (off_t)(fd_offset - delta));
	if (p == MAP_FAILED) {
		int err = errno;
		reason_set("mmap of window 0x%llx+0x%llx failed: %s", (unsigned long long)w->iova,
			   (unsigned long long)w->size, strerror(err));
		return -err;
	}
	w->map_base = p;
	w->addr = (uint8_t *)p + delta;
	w->stable = fd_is_stable(fd, fd_offset, w->size);
	return 0;
}

static void window_destroy(struct dma_window *w)
{
	if (w->map_base)
		munmap(w->map_base, w->map_len);
	pthread_cond_destroy(&w->idle);
	free(w);
}

static int check_add_args(uint64_t iova, uint64_t size, uint32_t prot, int fd,
			  uint64_t fd_offset)
{
	if (size == 0 || iova + (size - 1) < iova) {
		return refuse(EINVAL, "window 0x%llx+0x%llx is empty or wraps",
			      (unsigned long long)iova, (unsigned long long)size);
	}
	if (prot & ~(UVFIO_DMA_READ | UVFIO_DMA_WRITE)) {
		return refuse(EINVAL, "unknown prot bits 0x%x", prot);
	}
	if (fd >= 0 && (fd_offset + (size - 1) < fd_offset || fd_offset > INT64_MAX)) {
		return refuse(EINVAL, "fd offset 0x%llx + size wraps",
			      (unsigned long long)fd_offset);
	}
	return 0;
}

static int array_insert(struct uvfio_dma_space *space, unsigned pos, struct dma_window *w)
{
	if (space->count == space->cap) {
		unsigned cap = space->cap ? space->cap * 2 : 16;
		struct dma_window **n = realloc(space->win, cap * sizeof(*n));
		if (!n)
			return -ENOMEM;
		space->win = n;
		space->cap = cap;
	}
	memmove(&space->win[pos + 1], &space->win[pos], (space->count - pos) * sizeof(*space->win));
	space->win[pos] = w;
	space->count++;
	return 0;
}

/* Overlap test against the neighbours of the insertion point (lock held). */
static bool overlaps(struct uvfio_dma_space *space, unsigned pos, uint64_t iova, uint64_t size)
{
	uint64_t last = iova + (size - 1);

	if (pos > 0) {
		struct dma_window *p = space->win[pos - 1];
		if (p->iova + (p->size - 1) >= iova)
			return true;
	}
	if (pos < space->count && space->win[pos]->iova <= last)
		return true;
	return false;
}

int uvfio_dma_space_add(struct uvfio_dma_space *space, uint64_t iova, uint64_t size,
			uint32_t prot, int fd, uint64_t fd_offset)
{
	int ret = check_add_args(iova, size, prot, fd, fd_offset);
	if (ret < 0)
		return ret;

	struct dma_window *w = calloc(1, sizeof(*w));
	if (!w)
		return -ENOMEM;
	w->iova = iova;
	w->size = size;
	w->prot = prot;
	w->space = space;
	if (pthread_cond_init(&w->idle, NULL) != 0) {
		free(w);
		return -ENOMEM;
	}
	/* mmap outside the lock: it may be slow, and a failed add must not disturb others.
	 * The mapping holds the file; no dup of fd is needed to keep it alive. */
	if (fd >= 0) {
		ret = window_map(w, fd, fd_offset);
		if (ret == 0 && !w->stable)
			ret = dma_guard_init();
		if (ret < 0) {
			window_destroy(w);
			return ret;
		}
	}

	pthread_mutex_lock(&space->lock);
	unsigned pos = upper_bound(space, iova);
	if (overlaps(space, pos, iova, size))
		ret = -EEXIST;
	else if (space->count >= space->max)
		ret = -ENOSPC;
	else
		ret = array_insert(space, pos, w);
	pthread_mutex_unlock(&space->lock);

	if (ret < 0) {
		reason_set("window 0x%llx+0x%llx: %s", (unsigned long long)iova,
			   (unsigned long long)size,
			   ret == -EEXIST ? "overlaps a mapped window" :
			   ret == -ENOSPC ? "too many windows (max_dma_maps)" : strerror(-ret));
		log_debug("dma: cannot add window 0x%llx+0x%llx: %s", (unsigned long long)iova,
			  (unsigned long long)size, strerror(-ret));
		window_destroy(w);
		return ret;
	}
	log_debug("dma: added window 0x%llx+0x%llx prot %u%s", (unsigned long long)iova,
		  (unsigned long long)size, prot,
		  fd < 0 ? " (message-based)" : w->stable ? " (sealed)" : " (guarded)");
	return 0;
}

/* Waits until nobody uses w (lock held; w already out of the array). */
static void window_drain(struct uvfio_dma_space *space, struct dma_window *w)
{
	__atomic_store_n(&w->removing, true, __ATOMIC_SEQ_CST);
	while (__atomic_load_n(&w->refs, __ATOMIC_SEQ_CST) > 0) {
		/* A user that had not seen removing drops its reference without the lock and
		 * without a wake-up (w may be freed right after): look again every millisecond. */
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_nsec += 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&w->idle, &space->lock, &ts);
	}
}

int uvfio_dma_space_remove(struct uvfio_dma_space *space, uint64_t iova, uint64_t size)
{
	pthread_mutex_lock(&space->lock);
	struct dma_window *w = dma_space_find(space, iova);
	if (!w || w->iova != iova || w->size != size) {
		pthread_mutex_unlock(&space->lock);
		return refuse(ENOENT, "no window 0x%llx+0x%llx to unmap (an unmap must match a "
			      "map exactly)", (unsigned long long)iova, (unsigned long long)size);
	}
	unsigned pos = upper_bound(space, iova) - 1;
	memmove(&space->win[pos], &space->win[pos + 1],
		(space->count - pos - 1) * sizeof(*space->win));
	space->count--;
	window_drain(space, w);
	pthread_mutex_unlock(&space->lock);
	window_destroy(w);
	return 0;
}

void uvfio_dma_space_remove_all(struct uvfio_dma_space *space)
{
	pthread_mutex_lock(&space->lock);
	struct dma_window **all = space->win;
	unsigned n = space->count;
	space->win = NULL;
	space->count = 0;
	space->cap = 0;
	for (unsigned i = 0; i < n; i++)
		window_drain(space, all[i]);
	pthread_mutex_unlock(&space->lock);
	for (unsigned i = 0; i < n; i++)
		window_destroy(all[i]);
	free(all);
}

unsigned uvfio_dma_space_count(struct uvfio_dma_space *space)
{
	pthread_mutex_lock(&space->lock);
	unsigned n = space->count;
	pthread_mutex_unlock(&space->lock);
	return n;
}

void uvfio_dma_space_set_max_windows(struct uvfio_dma_space *space, unsigned max)
{
	pthread_mutex_lock(&space->lock);
	space->max = max;
	pthread_mutex_unlock(&space->lock);
}

void uvfio_dma_space_set_msg_handler(struct uvfio_dma_space *space, uvfio_dma_msg_fn fn,
				     void *opaque)
{
	pthread_mutex_lock(&space->lock);
	space->msg_fn = fn;
	space->msg_opaque = opaque;
	pthread_mutex_unlock(&space->lock);
}

/* Lock-free unless w is being removed: then under the lock, waking the remover at once. A put
 * that misses removing is seen by the remover's periodic look (window_drain); nothing touches w
 * after the decrement, as the remover may free it then. */
void dma_window_put(struct uvfio_dma_space *space, struct dma_window *w)
{
	if (__atomic_load_n(&w->removing, __ATOMIC_SEQ_CST)) {
		pthread_mutex_lock(&space->lock);
		if (__atomic_sub_fetch(&w->refs, 1, __ATOMIC_SEQ_CST) == 0)
			pthread_cond_broadcast(&w->idle);
		pthread_mutex_unlock(&space->lock);
		return;
	}
	__atomic_sub_fetch(&w->refs, 1, __ATOMIC_SEQ_CST);
}

void dma_space_set_label(struct uvfio_dma_space *space, const char *label)
{
	pthread_mutex_lock(&space->lock);
	snprintf(space->label, sizeof(space->label), "%s", label ? label : "");
	pthread_mutex_unlock(&space->lock);
}

int dma_space_ranges(struct uvfio_dma_space *space, struct uvfio_dirty_range **out)
{
	const uint64_t page = 4096;

	pthread_mutex_lock(&space->lock);
	struct uvfio_dirty_range *r = space->count ? calloc(space->count, sizeof(*r)) : NULL;
	if (space->count && !r) {
		pthread_mutex_unlock(&space->lock);
		return -ENOMEM;
	}
	unsigned n = 0;
	for (unsigned i = 0; i < space->count; i++) {
		const struct dma_window *w = space->win[i];
		uint64_t start = w->iova & ~(page - 1);
		uint64_t last = (w->iova + (w->size - 1)) | (page - 1);
		/* Windows sharing a page after rounding become one range. */
		if (n && start <= r[n - 1].iova + (r[n - 1].length - 1)) {
			r[n - 1].length = last - r[n - 1].iova + 1;
			continue;
		}
		r[n].iova = start;
		r[n].length = last - start + 1;
		n++;
	}
	pthread_mutex_unlock(&space->lock);
	*out = r;
	return (int)n;
}
