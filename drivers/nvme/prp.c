/* SPDX-License-Identifier: MIT */
/*
 * Data pointers: PRP lists and SGLs turned into guest segments, and the copies between those
 * segments and the namespace or a buffer. Everything read from guest memory is checked before
 * use: a bad pointer is a status, never a crash or an endless walk.
 */
#include <errno.h>
#include <string.h>

#include <uvfio/dma.h>

#include "nvme.h"

static bool sg_add(struct nvmec_sg *sg, uint64_t addr, uint64_t len, bool bucket)
{
	if (!len)
		return true;
	if (sg->n) {
		/* Physically contiguous pages become one segment: fewer lookups per command. */
		typeof(sg->seg[0]) *last = &sg->seg[sg->n - 1];
		if (!bucket && !last->bit_bucket && last->addr + last->len == addr &&
		    (uint64_t)last->len + len <= UINT32_MAX) {
			last->len += (uint32_t)len;
			sg->len += len;
			return true;
		}
	}
	if (sg->n == NVMEC_MAX_SEGS || len > UINT32_MAX)
		return false;
	sg->seg[sg->n].addr = addr;
	sg->seg[sg->n].len = (uint32_t)len;
	sg->seg[sg->n].bit_bucket = bucket;
	sg->n++;
	sg->len += len;
	return true;
}

static struct uvfio_device *ndev(struct nvmec *n)
{
	return uvfio_pci_to_device(n->pdev);
}

static uint16_t map_prp(struct nvmec *n, const struct nvme_sqe *cmd, uint64_t len,
			struct nvmec_sg *sg)
{
	uint64_t page = 1ull << n->page_shift, mask = page - 1;
	uint64_t prp1 = cmd->prp1, prp2 = cmd->prp2;

	if (prp1 & 3)
		return SC(NVME_SC_PRP_INVALID_OFFSET) | DNR;
	uint64_t first = page - (prp1 & mask);
	if (first > len)
		first = len;
	sg_add(sg, prp1, first, false);
	uint64_t left = len - first;
	if (!left)
		return 0;
	if (left <= page) {
		if (prp2 & mask)
			return SC(NVME_SC_PRP_INVALID_OFFSET) | DNR;
		sg_add(sg, prp2, left, false);
		return 0;
	}
	/* PRP2 points to a list; it may start inside its page. */
	if (prp2 & 7)
		return SC(NVME_SC_PRP_INVALID_OFFSET) | DNR;
	uint64_t list = prp2;
	uint64_t entries[512];
	while (left) {
		uint32_t nent = (uint32_t)((page - (list & mask)) / 8);
		if (nent > 512)
			nent = 512; /* pages above 4 KiB: read the list in pieces */
		uint64_t need = (left + page - 1) / page;
		if (nent > need)
			nent = (uint32_t)need; /* read no further than the entries in use */
		nvmec_pass_drop(n);
		if (uvfio_dma_read(ndev(n), list, entries, nent * 8ull) < 0)
			return SC(NVME_SC_DATA_TRANSFER_ERROR);
		for (uint32_t i = 0; i < nent && left; i++) {
			bool last_of_page = ((list + (i + 1) * 8ull) & mask) == 0;
			if (last_of_page && left > page) {
				/* The last entry of a full list page chains to the next page. */
				if (entries[i] & mask)
					return SC(NVME_SC_PRP_INVALID_OFFSET) | DNR;
				list = entries[i];
				goto next_list;
			}
			if (entries[i] & mask)
				return SC(NVME_SC_PRP_INVALID_OFFSET) | DNR;
			uint64_t l = left < page ? left : page;
			if (!sg_add(sg, entries[i], l, false))
				return SC(NVME_SC_DATA_TRANSFER_ERROR) | DNR;
			left -= l;
		}
		list += nent * 8ull;
	next_list:;
	}
	return 0;
}

#define SGL_MAX_LISTS 64

static uint16_t map_sgl(struct nvmec *n, const struct nvme_sqe *cmd, uint64_t len,
			struct nvmec_sg *sg)
{
	struct nvme_sgl_desc d = cmd->sgl;
	struct nvme_sgl_desc list[64];
	unsigned lists = 0;

	for (;;) {
		uint8_t type = NVME_SGL_TYPE(d.type), sub = NVME_SGL_SUBTYPE(d.type);
		if (sub != NVME_SGL_SUBTYPE_ADDRESS)
			return SC(NVME_SC_SGL_INVALID_TYPE) | DNR;
		if (type == NVME_SGL_TYPE_DATA_BLOCK || type == NVME_SGL_TYPE_BIT_BUCKET) {
			if (!sg_add(sg, d.addr, d.length, type == NVME_SGL_TYPE_BIT_BUCKET))
				return SC(NVME_SC_SGL_INVALID_COUNT) | DNR;
			break;
		}
		if (type != NVME_SGL_TYPE_SEGMENT && type != NVME_SGL_TYPE_LAST_SEGMENT)
			return SC(NVME_SC_SGL_INVALID_TYPE) | DNR;
		if (d.length == 0 || d.length % sizeof(struct nvme_sgl_desc))
			return SC(NVME_SC_SGL_INVALID_LAST) | DNR;
		if (++lists > SGL_MAX_LISTS)
			return SC(NVME_SC_SGL_INVALID_COUNT) | DNR;
		bool last_seg = type == NVME_SGL_TYPE_LAST_SEGMENT;
		uint32_t count = d.length / sizeof(struct nvme_sgl_desc);
		uint64_t addr = d.addr;
		struct nvme_sgl_desc next = { 0 };
		bool have_next = false;
		while (count) {
			uint32_t chunk = count < 64 ? count : 64;
			nvmec_pass_drop(n);
			if (uvfio_dma_read(ndev(n), addr, list, chunk * sizeof(list[0])) < 0)
				return SC(NVME_SC_DATA_TRANSFER_ERROR);
			for (uint32_t i = 0; i < chunk; i++) {
				uint8_t t = NVME_SGL_TYPE(list[i].type);
				bool final = i + 1 == chunk && count == chunk;
				if (NVME_SGL_SUBTYPE(list[i].type) != NVME_SGL_SUBTYPE_ADDRESS)
					return SC(NVME_SC_SGL_INVALID_TYPE) | DNR;
				if (t == NVME_SGL_TYPE_SEGMENT || t == NVME_SGL_TYPE_LAST_SEGMENT) {
					/* Only the last descriptor of a Segment may chain. */
					if (!final || last_seg)
						return SC(NVME_SC_SGL_INVALID_LAST) | DNR;
					next = list[i];
					have_next = true;
					continue;
				}
				if (t != NVME_SGL_TYPE_DATA_BLOCK && t != NVME_SGL_TYPE_BIT_BUCKET)
					return SC(NVME_SC_SGL_INVALID_TYPE) | DNR;
				if (!sg_add(sg, list[i].addr, list[i].length,
					    t == NVME_SGL_TYPE_BIT_BUCKET))
					return SC(NVME_SC_SGL_INVALID_COUNT) | DNR;
			}
			count -= chunk;
			addr += chunk * sizeof(list[0]);
		}
		if (!have_next) {
			if (!last_seg)
				return SC(NVME_SC_SGL_INVALID_LAST) | DNR;
			break;
		}
		d = next;
	}
	if (sg->len != len)
		return SC(NVME_SC_SGL_INVALID_DATA_LEN) | DNR;
	return 0;
}

uint16_t nvmec_map_data(struct nvmec *n, const struct nvme_sqe *cmd, uint64_t len, bool admin,
			struct nvmec_sg *sg)
{
	sg->n = 0;
	sg->len = 0;
	if (!len)
		return 0;
	switch (NVME_SQE_PSDT(cmd->flags)) {
	case NVME_PSDT_PRP:
		return map_prp(n, cmd, len, sg);
	case NVME_PSDT_SGL_MPTR_CONTIG:
	case NVME_PSDT_SGL_MPTR_SGL:
		if (admin) /* NVMe over PCIe: admin commands use PRPs */
			return SC(NVME_SC_INVALID_FIELD) | DNR;
		return map_sgl(n, cmd, len, sg);
	default:
		return SC(NVME_SC_INVALID_FIELD) | DNR;
	}
}

uint16_t nvmec_sg_copy(struct nvmec *n, const struct nvmec_sg *sg, void *buf, uint64_t len,
		       bool to_host)
{
	uint8_t *p = buf;
	nvmec_pass_drop(n);
	for (uint32_t i = 0; i < sg->n && len; i++) {
		uint64_t l = sg->seg[i].len < len ? sg->seg[i].len : len;
		if (!sg->seg[i].bit_bucket) {
			int ret = to_host ? uvfio_dma_write(ndev(n), sg->seg[i].addr, p, l)
					  : uvfio_dma_read(ndev(n), sg->seg[i].addr, p, l);
			if (ret < 0)
				return SC(NVME_SC_DATA_TRANSFER_ERROR);
		} else if (!to_host) {
			return SC(NVME_SC_SGL_INVALID_TYPE) | DNR; /* bit bucket: reads only */
		}
		p += l;
		len -= l;
	}
	return 0;
}

uint16_t nvmec_sg_ns(struct nvmec *n, const struct nvmec_sg *sg, struct nvmec_ns *ns,
		     uint64_t off, bool write)
{
	/* A Read writes guest memory (the device needs WRITE access to the window). */
	uint32_t prot = write ? UVFIO_DMA_READ : UVFIO_DMA_WRITE;
	for (uint32_t i = 0; i < sg->n; i++) {
		uint64_t addr = sg->seg[i].addr, len = sg->seg[i].len;
		if (sg->seg[i].bit_bucket) {
			if (write)
				return SC(NVME_SC_SGL_INVALID_TYPE) | DNR;
			off += len;
			continue;
		}
		struct uvfio_dma_ref ref;
		int ret = uvfio_dma_get(ndev(n), addr, len, prot, &ref);
		if (ret == 0) {
			ret = ns->ops->rw(ns, write, off, ref.ptr, len);
			uvfio_dma_put(ndev(n), &ref);
			if (ret < 0)
				return write ? SC_MEDIA(NVME_SC_WRITE_FAULT)
					     : SC_MEDIA(NVME_SC_READ_ERROR);
			off += len;
			continue;
		}
		/* Not one fd-backed window (message DMA, or spanning windows): bounce. */
		if (ret != -ENOTSUP && ret != -EFAULT)
			return SC(NVME_SC_DATA_TRANSFER_ERROR);
		nvmec_pass_drop(n);
		while (len) {
			uint64_t l = len < (1u << 20) ? len : (1u << 20);
			if (write) {
				if (uvfio_dma_read(ndev(n), addr, n->bounce, l) < 0)
					return SC(NVME_SC_DATA_TRANSFER_ERROR);
				if (ns->ops->rw(ns, true, off, n->bounce, l) < 0)
					return SC_MEDIA(NVME_SC_WRITE_FAULT);
			} else {
				if (ns->ops->rw(ns, false, off, n->bounce, l) < 0)
					return SC_MEDIA(NVME_SC_READ_ERROR);
				if (uvfio_dma_write(ndev(n), addr, n->bounce, l) < 0)
					return SC(NVME_SC_DATA_TRANSFER_ERROR);
			}
			addr += l;
			off += l;
			len -= l;
		}
	}
	return 0;
}

uint16_t nvmec_admin_to_host(struct nvmec *n, const struct nvme_sqe *cmd, const void *buf,
			     uint64_t len)
{
	static __thread struct nvmec_sg sg;
	uint16_t st = nvmec_map_data(n, cmd, len, true, &sg);
	if (st)
		return st;
	return nvmec_sg_copy(n, &sg, (void *)buf, len, true);
}

uint16_t nvmec_admin_from_host(struct nvmec *n, const struct nvme_sqe *cmd, void *buf,
			       uint64_t len)
{
	static __thread struct nvmec_sg sg;
	uint16_t st = nvmec_map_data(n, cmd, len, true, &sg);
	if (st)
		return st;
	return nvmec_sg_copy(n, &sg, buf, len, false);
}
