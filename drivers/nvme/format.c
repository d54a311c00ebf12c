/* SPDX-License-Identifier: MIT */
/*
 * Format NVM (admin 0x80): picks one of the LBA formats Identify Namespace advertises (0: 512
 * bytes, 1: 4096 bytes, no metadata either) and erases the namespace. The data reads as zeroes
 * afterwards whatever SES says: no secure erase (0) and user data erase (1) both zero it (RAM
 * is dropped, a file is punched or zeroed); cryptographic erase (2) is not supported (FNA bit 2
 * is clear) and gets Invalid Field. Protection information needs metadata, which no format
 * has: PI != 0 gets Invalid Format, as does an LBA format index beyond NLBAF.
 * Identify Controller FNA is 0: each namespace formats alone; NSID FFFFFFFFh formats all.
 */
#include <string.h>
#include <sys/mman.h>

#include "nvme.h"
#include "util/log.h"

#define FMT_LBAF(dw10) ((dw10) & 0xfu)
#define FMT_LBAFU(dw10) (((dw10) >> 12) & 0x3u)
#define FMT_MSET(dw10) (((dw10) >> 4) & 1u)
#define FMT_PI(dw10) (((dw10) >> 5) & 0x7u)
#define FMT_SES(dw10) (((dw10) >> 9) & 0x7u)

/* The LBA formats of Identify Namespace, by index: data size as a power of two. */
static const uint8_t lbaf_ds[NVMEC_NR_LBAF] = { 9, 12 };

uint8_t nvmec_lbaf_ds(uint32_t i)
{
	return i < NVMEC_NR_LBAF ? lbaf_ds[i] : 0;
}

static int format_ns(struct nvmec_ns *ns, uint32_t ds)
{
	int ret = 0;

	if (ns->mem) {
		/* Every chunk ever written changes (to zeroes): a pre-copy session resends it. */
		for (uint64_t w = 0; ns->dirty && w < (ns->nchunks + 63) / 64; w++)
			__atomic_fetch_or(&ns->dirty[w],
					  __atomic_load_n(&ns->written[w], __ATOMIC_RELAXED),
					  __ATOMIC_RELEASE);
		if (madvise(ns->mem, ns->size, MADV_DONTNEED) < 0)
			memset(ns->mem, 0, ns->size);
	} else {
		ret = ns->ops->zero(ns, 0, ns->size, true);
	}
	if (ret < 0)
		return ret;
	ns->lba_shift = ds;
	ns->nlbas = ns->size >> ds;
	return 0;
}

void nvmec_format(struct nvmec *n, struct nvmec_req *req)
{
	uint32_t dw10 = req->cmd.cdw10, nsid = req->cmd.nsid;
	uint32_t lbaf = FMT_LBAF(dw10) | (FMT_LBAFU(dw10) << 4);

	if (nsid != NVME_NSID_ALL && (nsid == 0 || nsid > n->nr_ns)) {
		req->status = SC(NVME_SC_INVALID_NS) | DNR;
		return;
	}
	if (lbaf >= NVMEC_NR_LBAF || FMT_PI(dw10)) {
		req->status = SC_CS(NVME_SC_INVALID_FORMAT) | DNR;
		return;
	}
	if (FMT_SES(dw10) > 1) {
		req->status = SC(NVME_SC_INVALID_FIELD) | DNR;
		return;
	}
	/* MSET says where metadata goes; with no metadata in any format it changes nothing. */
	(void)FMT_MSET(dw10);
	/* Asynchronous I/O to the namespace completes before it is erased. */
	nvmec_aio_drain(n, true);
	for (uint32_t i = 0; i < n->nr_ns; i++) {
		if (nsid != NVME_NSID_ALL && i + 1 != nsid)
			continue;
		if (format_ns(&n->ns[i], lbaf_ds[lbaf]) < 0) {
			log_err("nvme %s: formatting namespace %u failed", n->name, i + 1);
			req->status = SC_MEDIA(NVME_SC_WRITE_FAULT);
			return;
		}
		log_info("nvme %s: namespace %u formatted: %u-byte blocks", n->name, i + 1,
			 1u << lbaf_ds[lbaf]);
	}
}
