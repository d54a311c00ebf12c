/* SPDX-License-Identifier: MIT */
/*
 * IOAS: the client's DMA address space. A sorted array of mappings plus the devices attached.
 *
 * Two locks: op_lock serialises map/unmap/attach/detach (which call into backends and may wait
 * for a device's reply), lock guards the mapping array only and is held while serving a
 * device's DMA message. A backend waiting for a DMA_MAP reply may have to serve a DMA_READ from
 * the same IOAS meanwhile, so backends are never called with lock held.
 */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client/backend.h"
#include "util/log.h"

#define IOAS_PAGE 4096u
#define IOAS_MAX_DEVICES 64
#define IOAS_MAX_SLOTS 4

struct ioas_map {
	uint64_t iova;
	uint64_t size;
	uint32_t prot;
	int fd;
	uint64_t fd_offset;
	void *vaddr;
	bool owned; /* map_alloc: fd and memory belong to the IOAS */
};

struct ioas_slot {
	const void *key;
	void *value;
};

struct uvfio_ioas {
	pthread_mutex_t op_lock;
	pthread_mutex_t lock;
	struct ioas_map *maps;
	size_t nr_maps, cap_maps;
	struct uvfio_handle *devs[IOAS_MAX_DEVICES];
	size_t nr_devs;
	struct ioas_slot slots[IOAS_MAX_SLOTS];
};

int uvfio_ioas_new(struct uvfio_ioas **out)
{
	struct uvfio_ioas *ioas;

	if (!out)
		return -EINVAL;
	ioas = calloc(1, sizeof(*ioas));
	if (!ioas)
		return -ENOMEM;
	pthread_mutex_init(&ioas->op_lock, NULL);
	pthread_mutex_init(&ioas->lock, NULL);
	*out = ioas;
	return 0;
}

void **uvfio_ioas_backend_slot(struct uvfio_ioas *ioas, const void *key)
{
	struct ioas_slot *free_slot = NULL;

	if (!ioas || !key)
		return NULL;
	for (size_t i = 0; i < IOAS_MAX_SLOTS; i++) {
		if (ioas->slots[i].key == key)
			return &ioas->slots[i].value;
		if (!ioas->slots[i].key && !free_slot)
			free_slot = &ioas->slots[i];
	}
	if (!free_slot)
		return NULL;
	free_slot->key = key;
	free_slot->value = NULL;
	return &free_slot->value;
}

/* Index of the first mapping whose end is above iova (where iova would be inserted). */
static size_t find_pos(struct uvfio_ioas *ioas, uint64_t iova)
{
	size_t lo = 0, hi = ioas->nr_maps;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const struct ioas_map *m = &ioas->maps[mid];

		if (m->iova + m->size <= iova)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static bool overlaps(struct uvfio_ioas *ioas, uint64_t iova, uint64_t size)
{
	size_t pos = find_pos(ioas, iova);

	return pos < ioas->nr_maps && ioas->maps[pos].iova < iova + size;
}

static int insert_map(struct uvfio_ioas *ioas, const struct ioas_map *m)
{
	size_t pos;

	if (ioas->nr_maps == ioas->cap_maps) {
		size_t cap = ioas->cap_maps ? ioas->cap_maps * 2 : 8;
		struct ioas_map *maps = realloc(ioas->maps, cap * sizeof(*maps));

		if (!maps)
			return -ENOMEM;
		ioas->maps = maps;
		ioas->cap_maps = cap;
	}
	pos = find_pos(ioas, m->iova);
	memmove(&ioas->maps[pos + 1], &ioas->maps[pos], (ioas->nr_maps - pos) * sizeof(*m));
	ioas->maps[pos] = *m;
	ioas->nr_maps++;
	return 0;
}

static int find_exact(struct uvfio_ioas *ioas, uint64_t iova, uint64_t size)
{
	size_t pos = find_pos(ioas, iova);

	if (pos >= ioas->nr_maps || ioas->maps[pos].iova != iova || ioas->maps[pos].size != size)
		return -ENOENT;
	return (int)pos;
}

static void release_map(const struct ioas_map *m)
{
	if (!m->owned)
		return;
	munmap(m->vaddr, m->size);
	close(m->fd);
}

static int dev_map(struct uvfio_handle *h, struct uvfio_ioas *ioas, const struct ioas_map *m)
{
	if (!h->ops->dma_map)
		return -ENOTSUP;
	return h->ops->dma_map(h, ioas, m->iova, m->size, m->prot, m->fd, m->fd_offset, m->vaddr);
}

static void dev_unmap(struct uvfio_handle *h, struct uvfio_ioas *ioas, const struct ioas_map *m)
{
	int ret;

	if (!h->ops->dma_unmap)
		return;
	ret = h->ops->dma_unmap(h, ioas, m->iova, m->size);
	if (ret < 0)
		log_warn("ioas: unmap 0x%llx+0x%llx from %s failed: %s",
			 (unsigned long long)m->iova, (unsigned long long)m->size, h->url,
			 strerror(-ret));
}

/* The arguments both map calls check: 0 or -EINVAL. */
static int check_map(const struct uvfio_ioas *ioas, const void *vaddr, uint64_t iova,
		     uint64_t size, uint32_t prot)
{
	if (!ioas || !vaddr)
		return -EINVAL;
	if (!size || iova % IOAS_PAGE || size % IOAS_PAGE)
		return -EINVAL;
	if (iova + size < iova)
		return -EINVAL;
	if (!prot || (prot & ~(uint32_t)(UVFIO_IOAS_READ | UVFIO_IOAS_WRITE)))
		return -EINVAL;
	return 0;
}

/* Maps m into every attached device; on failure undoes the devices already done. */
static int map_all(struct uvfio_ioas *ioas, const struct ioas_map *m)
{
	for (size_t i = 0; i < ioas->nr_devs; i++) {
		int ret = dev_map(ioas->devs[i], ioas, m);

		if (ret == 0)
			continue;
		log_warn("ioas: map 0x%llx+0x%llx into %s failed: %s",
			 (unsigned long long)m->iova, (unsigned long long)m->size,
			 ioas->devs[i]->url, strerror(-ret));
		while (i--)
			dev_unmap(ioas->devs[i], ioas, m);
		return ret;
	}
	return 0;
}

static int do_map(struct uvfio_ioas *ioas, const struct ioas_map *m)
{
	int ret;

	pthread_mutex_lock(&ioas->op_lock);
	pthread_mutex_lock(&ioas->lock);
	ret = overlaps(ioas, m->iova, m->size) ? -EEXIST : 0;
	pthread_mutex_unlock(&ioas->lock);
	if (ret == 0)
		ret = map_all(ioas, m);
	if (ret == 0) {
		pthread_mutex_lock(&ioas->lock);
		ret = insert_map(ioas, m);
		pthread_mutex_unlock(&ioas->lock);
		if (ret < 0) {
			for (size_t i = 0; i < ioas->nr_devs; i++)
				dev_unmap(ioas->devs[i], ioas, m);
		}
	}
	pthread_mutex_unlock(&ioas->op_lock);
	return ret;
}

int uvfio_ioas_map(struct uvfio_ioas *ioas, uint64_t iova, size_t size, uint32_t prot, int fd,
		   uint64_t fd_offset, void *vaddr)
{
	struct ioas_map m = {
		.iova = iova, .size = size, .prot = prot, .fd = fd < 0 ? -1 : fd,
		.fd_offset = fd < 0 ? 0 : fd_offset, .vaddr = vaddr,
	};
	int ret = check_map(ioas, vaddr, iova, size, prot);

	if (ret < 0)
		return ret;
	return do_map(ioas, &m);
}

int uvfio_ioas_map_alloc(struct uvfio_ioas *ioas, uint64_t iova, size_t size, uint32_t prot,
			 void **vaddr)
{
	struct ioas_map m = { .iova = iova, .size = size, .prot = prot, .owned = true };
	int ret = check_map(ioas, vaddr, iova, size, prot);

	if (ret < 0)
		return ret;
	m.fd = memfd_create("uvfio-dma", MFD_CLOEXEC);
	if (m.fd < 0)
		return -errno;
	if (ftruncate(m.fd, (off_t)size) < 0) {
		ret = -errno;
		close(m.fd);
		return ret;
	}
	m.vaddr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd, 0);
	if (m.vaddr == MAP_FAILED) {
		ret = -errno;
		close(m.fd);
		return ret;
	}
	ret = do_map(ioas, &m);
	if (ret < 0) {
		release_map(&m);
		return ret;
	}
	*vaddr = m.vaddr;
	return 0;
}

int uvfio_ioas_unmap(struct uvfio_ioas *ioas, uint64_t iova, size_t size)
{
	struct ioas_map m;
	int pos;

	if (!ioas)
		return -EINVAL;
	pthread_mutex_lock(&ioas->op_lock);
	pthread_mutex_lock(&ioas->lock);
	pos = find_exact(ioas, iova, size);
	if (pos >= 0) {
		/* Out of the list first: no DMA message is served from it from now on. */
		m = ioas->maps[pos];
		memmove(&ioas->maps[pos], &ioas->maps[pos + 1],
			(ioas->nr_maps - (size_t)pos - 1) * sizeof(m));
		ioas->nr_maps--;
	}
	pthread_mutex_unlock(&ioas->lock);
	if (pos >= 0) {
		for (size_t i = 0; i < ioas->nr_devs; i++)
			dev_unmap(ioas->devs[i], ioas, &m);
		release_map(&m);
	}
	pthread_mutex_unlock(&ioas->op_lock);
	return pos < 0 ? pos : 0;
}

static void detach_locked(struct uvfio_ioas *ioas, size_t idx)
{
	struct uvfio_handle *h = ioas->devs[idx];

	for (size_t i = 0; i < ioas->nr_maps; i++)
		dev_unmap(h, ioas, &ioas->maps[i]);
	if (h->ops->ioas_detach)
		h->ops->ioas_detach(h, ioas);
	h->ioas = NULL;
	ioas->devs[idx] = ioas->devs[--ioas->nr_devs];
}

int uvfio_ioas_attach(struct uvfio_ioas *ioas, struct uvfio_handle *h)
{
	size_t done = 0;
	int ret = 0;

	if (!ioas || !h)
		return -EINVAL;
	pthread_mutex_lock(&ioas->op_lock);
	if (h->ioas) {
		ret = h->ioas == ioas ? -EALREADY : -EBUSY;
		goto out;
	}
	if (ioas->nr_devs == IOAS_MAX_DEVICES) {
		ret = -ENOSPC;
		goto out;
	}
	if (h->ops->ioas_attach)
		ret = h->ops->ioas_attach(h, ioas);
	if (ret < 0)
		goto out;
	/* The mapping array only changes under op_lock, which we hold. */
	for (; done < ioas->nr_maps; done++) {
		ret = dev_map(h, ioas, &ioas->maps[done]);
		if (ret < 0)
			break;
	}
	if (ret < 0) {
		while (done--)
			dev_unmap(h, ioas, &ioas->maps[done]);
		if (h->ops->ioas_detach)
			h->ops->ioas_detach(h, ioas);
		goto out;
	}
	ioas->devs[ioas->nr_devs++] = h;
	h->ioas = ioas;
out:
	pthread_mutex_unlock(&ioas->op_lock);
	return ret;
}

int uvfio_ioas_detach(struct uvfio_ioas *ioas, struct uvfio_handle *h)
{
	int ret = -ENOENT;

	if (!ioas || !h)
		return -EINVAL;
	pthread_mutex_lock(&ioas->op_lock);
	for (size_t i = 0; i < ioas->nr_devs; i++) {
		if (ioas->devs[i] == h) {
			detach_locked(ioas, i);
			ret = 0;
			break;
		}
	}
	pthread_mutex_unlock(&ioas->op_lock);
	return ret;
}

void uvfio_ioas_free(struct uvfio_ioas *ioas)
{
	if (!ioas)
		return;
	pthread_mutex_lock(&ioas->op_lock);
	while (ioas->nr_devs)
		detach_locked(ioas, ioas->nr_devs - 1);
	for (size_t i = 0; i < ioas->nr_maps; i++)
		release_map(&ioas->maps[i]);
	pthread_mutex_unlock(&ioas->op_lock);
	pthread_mutex_destroy(&ioas->op_lock);
	pthread_mutex_destroy(&ioas->lock);
	free(ioas->maps);
	free(ioas);
}

/* The mapping holding all of [iova, iova+len), or NULL. Caller holds lock. */
static const struct ioas_map *lookup(struct uvfio_ioas *ioas, uint64_t iova, size_t len)
{
	size_t pos = find_pos(ioas, iova);
	const struct ioas_map *m;

	if (pos >= ioas->nr_maps || !len || iova + len < iova)
		return NULL;
	m = &ioas->maps[pos];
	if (iova < m->iova || iova + len > m->iova + m->size)
		return NULL;
	return m;
}

void *uvfio_ioas_translate(struct uvfio_ioas *ioas, uint64_t iova, size_t len)
{
	const struct ioas_map *m;
	void *p = NULL;

	if (!ioas)
		return NULL;
	pthread_mutex_lock(&ioas->lock);
	m = lookup(ioas, iova, len);
	if (m)
		p = (uint8_t *)m->vaddr + (iova - m->iova);
	pthread_mutex_unlock(&ioas->lock);
	return p;
}

/*
 * The one place the device's DMA touches the application's memory. Its own function so that
 * tests/tsan.supp can name it: the application orders its writes before the DMA through the
 * socket and the server process, which ThreadSanitizer cannot see.
 */
__attribute__((noinline)) static void copy_guest_memory(void *dst, const void *src, size_t len)
{
	memcpy(dst, src, len);
}

int uvfio_ioas_dma_rw(struct uvfio_ioas *ioas, uint64_t iova, void *buf, size_t len,
		      bool dev_writes)
{
	const struct ioas_map *m;
	uint32_t need = dev_writes ? UVFIO_IOAS_WRITE : UVFIO_IOAS_READ;
	int ret = 0;

	if (!ioas)
		return -EFAULT;
	pthread_mutex_lock(&ioas->lock);
	m = lookup(ioas, iova, len);
	if (!m) {
		ret = -EFAULT;
	} else if (!(m->prot & need)) {
		ret = -EACCES;
	} else {
		uint8_t *p = (uint8_t *)m->vaddr + (iova - m->iova);

		if (dev_writes)
			copy_guest_memory(p, buf, len);
		else
			copy_guest_memory(buf, p, len);
	}
	pthread_mutex_unlock(&ioas->lock);
	return ret;
}
