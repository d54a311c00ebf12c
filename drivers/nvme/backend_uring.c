/* SPDX-License-Identifier: MIT */
/*
 * Asynchronous file I/O for file namespaces: Read and Write go to io_uring (O_DIRECT when the
 * guest buffers and the offset are block aligned) straight from/to guest memory pinned with
 * uvfio_dma_get(); the worker keeps fetching other commands and posts each completion when its
 * io_uring completion arrives. A command in flight holds a reserved slot in its completion
 * queue, so its completion always fits. Resets, queue deletion, Flush and quiescing drain what
 * is in flight first.
 */
#include <errno.h>
#include <fcntl.h>
#include <liburing.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/uio.h>
#include <unistd.h>

#include <uvfio/dma.h>

#include "nvme.h"
#include "util/log.h"

#define AIO_DEPTH 128

struct aio_req {
	bool used;
	bool write;
	uint16_t sqid, cid, cqid;
	uint64_t gen;
	uint64_t off, len;
	struct nvmec_ns *ns;
	uint32_t nr;
	struct iovec iov[NVMEC_MAX_SEGS];
	struct uvfio_dma_ref ref[NVMEC_MAX_SEGS];
};

struct nvmec_aio {
	struct io_uring ring;
	int efd;
	uint32_t inflight;
	struct aio_req req[AIO_DEPTH];
};

int nvmec_aio_init(struct nvmec *n)
{
	struct nvmec_aio *a = calloc(1, sizeof(*a));
	if (!a)
		return -ENOMEM;
	int ret = io_uring_queue_init(AIO_DEPTH, &a->ring, 0);
	if (ret < 0) {
		free(a);
		log_warn("nvme %s: io_uring unavailable (%s): synchronous file I/O", n->name,
			 strerror(-ret));
		return 0;
	}
	a->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (a->efd < 0 || io_uring_register_eventfd(&a->ring, a->efd) < 0) {
		if (a->efd >= 0)
			close(a->efd);
		io_uring_queue_exit(&a->ring);
		free(a);
		return 0;
	}
	n->aio = a;
	return 0;
}

void nvmec_aio_free(struct nvmec *n)
{
	if (!n->aio)
		return;
	io_uring_queue_exit(&n->aio->ring);
	close(n->aio->efd);
	free(n->aio);
	n->aio = NULL;
}

int nvmec_aio_fd(struct nvmec *n)
{
	return n->aio ? n->aio->efd : -1;
}

uint32_t nvmec_aio_inflight(struct nvmec *n)
{
	return n->aio ? n->aio->inflight : 0;
}

static void release(struct nvmec *n, struct aio_req *r)
{
	struct uvfio_device *dev = uvfio_pci_to_device(n->pdev);
	for (uint32_t i = 0; i < r->nr; i++)
		uvfio_dma_put(dev, &r->ref[i]);
	r->nr = 0;
	r->used = false;
	n->aio->inflight--;
}

/* Finish what io_uring left short (rare with files: signals, page cache) synchronously. */
static int finish_short(struct aio_req *r, uint64_t done)
{
	int fd = r->ns->fd;
	uint64_t off = r->ns->file_off + r->off;
	for (uint32_t i = 0; i < r->nr; i++) {
		uint64_t l = r->iov[i].iov_len;
		if (done >= l) {
			done -= l;
			off += l;
			continue;
		}
		uint8_t *p = (uint8_t *)r->iov[i].iov_base + done;
		l -= done;
		off += done;
		done = 0;
		while (l) {
			ssize_t k = r->write ? pwrite(fd, p, l, (off_t)off) : pread(fd, p, l, (off_t)off);
			if (k < 0 && errno == EINTR)
				continue;
			if (k < 0)
				return -errno;
			if (k == 0) {
				if (r->write)
					return -EIO;
				memset(p, 0, l); /* past the end of a sparse file: zeroes */
				k = (ssize_t)l;
			}
			p += k;
			off += (uint64_t)k;
			l -= (uint64_t)k;
		}
	}
	return 0;
}

static void complete(struct nvmec *n, struct aio_req *r, int res, bool post)
{
	uint16_t status = 0;
	if (res < 0 || (uint64_t)res < r->len) {
		int ret = res < 0 ? res : finish_short(r, (uint64_t)res);
		if (ret < 0) {
			status = r->write ? SC_MEDIA(NVME_SC_WRITE_FAULT) : SC_MEDIA(NVME_SC_READ_ERROR);
			n->stats.media_errors++;
		}
	}
	uint16_t sqid = r->sqid, cid = r->cid, cqid = r->cqid;
	uint32_t nsid = r->ns->nsid;
	bool current = r->gen == n->aio_gen;
	release(n, r);
	if (!post || !current || !n->sq[sqid].valid || !n->cq[cqid].valid)
		return; /* the queue went away with a reset or deletion: nothing to post */
	if (n->cq[cqid].reserved)
		n->cq[cqid].reserved--;
	if (status) {
		struct nvmec_req req = { .sqid = sqid, .status = status };
		req.cmd.cid = cid;
		req.cmd.nsid = nsid;
		nvmec_error_log_add(n, &req);
	}
	nvmec_post_cqe(n, sqid, cid, 0, status);
}

int nvmec_aio_reap(struct nvmec *n)
{
	struct nvmec_aio *a = n->aio;
	struct io_uring_cqe *cqe;
	int done = 0;
	if (!a || !a->inflight)
		return 0;
	while (io_uring_peek_cqe(&a->ring, &cqe) == 0) {
		struct aio_req *r = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&a->ring, cqe);
		complete(n, r, res, true);
		done++;
	}
	if (done) {
		uint64_t v;
		(void)!read(a->efd, &v, sizeof(v));
	}
	return done;
}

void nvmec_aio_drain(struct nvmec *n, bool post)
{
	struct nvmec_aio *a = n->aio;
	struct io_uring_cqe *cqe;
	while (a && a->inflight) {
		int ret = io_uring_wait_cqe(&a->ring, &cqe);
		if (ret == -EINTR)
			continue;
		if (ret < 0) {
			log_err("nvme %s: io_uring wait: %s", n->name, strerror(-ret));
			return;
		}
		struct aio_req *r = io_uring_cqe_get_data(cqe);
		int res = cqe->res;
		io_uring_cqe_seen(&a->ring, cqe);
		complete(n, r, res, post);
	}
}

/* Whether O_DIRECT can take this transfer: everything aligned to the logical block size. */
static bool direct_ok(const struct aio_req *r, uint32_t align)
{
	if ((r->ns->file_off + r->off) % align || r->len % align)
		return false;
	for (uint32_t i = 0; i < r->nr; i++)
		if ((uintptr_t)r->iov[i].iov_base % align || r->iov[i].iov_len % align)
			return false;
	return true;
}

bool nvmec_aio_rw(struct nvmec *n, struct nvmec_ns *ns, const struct nvmec_req *req,
		  const struct nvmec_sg *sg, uint64_t off, bool write, bool fua)
{
	struct nvmec_aio *a = n->aio;
	struct uvfio_device *dev = uvfio_pci_to_device(n->pdev);
	if (!a || a->inflight == AIO_DEPTH)
		return false;
	struct aio_req *r = NULL;
	for (uint32_t i = 0; i < AIO_DEPTH && !r; i++)
		if (!a->req[i].used)
			r = &a->req[i];
	if (!r)
		return false;
	memset(r, 0, offsetof(struct aio_req, iov));
	r->used = true;
	a->inflight++;
	r->write = write;
	r->sqid = req->sqid;
	r->cid = req->cmd.cid;
	r->cqid = n->sq[req->sqid].cqid;
	r->gen = n->aio_gen;
	r->off = off;
	r->len = sg->len;
	r->ns = ns;
	uint32_t prot = write ? UVFIO_DMA_READ : UVFIO_DMA_WRITE;
	for (uint32_t i = 0; i < sg->n; i++) {
		/* Bit buckets and windows without an fd: the synchronous path handles them. */
		if (sg->seg[i].bit_bucket ||
		    uvfio_dma_get(dev, sg->seg[i].addr, sg->seg[i].len, prot, &r->ref[i]) < 0) {
			release(n, r);
			return false;
		}
		r->nr++;
		r->iov[i].iov_base = r->ref[i].ptr;
		r->iov[i].iov_len = sg->seg[i].len;
	}
	struct io_uring_sqe *sqe = io_uring_get_sqe(&a->ring);
	if (!sqe) {
		release(n, r);
		return false;
	}
	int fd = ns->fd_direct >= 0 && direct_ok(r, 1u << ns->lba_shift) ? ns->fd_direct : ns->fd;
	if (write)
		io_uring_prep_writev(sqe, fd, r->iov, r->nr, ns->file_off + off);
	else
		io_uring_prep_readv(sqe, fd, r->iov, r->nr, ns->file_off + off);
	if (write && fua)
		sqe->rw_flags = RWF_DSYNC;
	io_uring_sqe_set_data(sqe, r);
	if (io_uring_submit(&a->ring) < 1) {
		release(n, r);
		return false;
	}
	n->cq[r->cqid].reserved++;
	return true;
}
