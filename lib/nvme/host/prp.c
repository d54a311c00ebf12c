/* SPDX-License-Identifier: MIT */
/*
 * Data pointers: PRP1/PRP2, PRP lists (chained over several pages for any size), or one SGL
 * Data Block descriptor (our buffers are contiguous in IOVA space, so one suffices).
 */
#include <errno.h>

#include "nvme/host/nvme_host_priv.h"

int nvme_build_dptr(struct uvfio_nvme_qpair *q, struct nvme_req *r, struct nvme_sqe *sqe,
		    uint64_t iova, size_t len, bool use_sgl)
{
	const uint64_t page = NVME_HOST_PAGE;
	const uint32_t per_page = nvme_prps_per_page(NVME_HOST_PAGE);
	uint64_t first_len, rest, addr;
	uint32_t n, slot = 0, list_page = 0;
	uint64_t *list;

	if (!len) {
		sqe->prp1 = iova; /* queue creation: the queue's base, no transfer */
		return 0;
	}
	if (use_sgl) {
		sqe->flags |= NVME_SQE_SET_PSDT(NVME_PSDT_SGL_MPTR_CONTIG);
		sqe->sgl.addr = iova;
		sqe->sgl.length = (uint32_t)len;
		sqe->sgl.type = NVME_SGL_FMT(NVME_SGL_TYPE_DATA_BLOCK, NVME_SGL_SUBTYPE_ADDRESS);
		return 0;
	}
	if (iova & 3)
		return -EINVAL; /* PRP1 must be dword aligned */
	sqe->prp1 = iova;
	first_len = page - (iova & (page - 1));
	if (len <= first_len)
		return 0;
	rest = len - first_len;
	addr = iova + first_len;
	if (rest <= page) {
		sqe->prp2 = addr;
		return 0;
	}
	/* A list: entries for every remaining page; the last entry of a full list page points to
	 * the next page of the list. */
	n = (uint32_t)((rest + page - 1) / page);
	list = r->prp_list;
	sqe->prp2 = r->prp_iova;
	while (n) {
		if (slot == per_page - 1 && n > 1) {
			list_page++;
			if (list_page >= q->prp_pages)
				return -E2BIG;
			list[slot] = r->prp_iova + list_page * page;
			list = r->prp_list + list_page * per_page;
			slot = 0;
			continue;
		}
		list[slot++] = addr;
		addr += page;
		n--;
	}
	return 0;
}
