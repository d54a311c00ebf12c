/* SPDX-License-Identifier: MIT */
/*
 * A small in-process NVMe host for the controller's unit tests: guest memory mapped into the
 * device's DMA space, queues in it, SQEs written and doorbells rung through the BAR handler
 * (as REGION_WRITE messages would), completions waited for on the MSI-X eventfds.
 */
#ifndef UVFIO_TESTS_NVME_FAKE_HOST_H
#define UVFIO_TESTS_NVME_FAKE_HOST_H

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <uvfio/dma.h>
#include <uvfio/driver.h>

#include "../../drivers/nvme/nvme.h"

#define FH_IOVA 0x100000ull
#define FH_RAM (8ull << 20)
#define FH_NVEC 8
#define FH_QSIZE 32
/* Guest memory layout (offsets from FH_IOVA). */
#define FH_ASQ 0x0000
#define FH_ACQ 0x1000
#define FH_IOSQ(q) (0x10000ull + (q) * 0x2000ull)
#define FH_IOCQ(q) (0x11000ull + (q) * 0x2000ull)
#define FH_LIST 0x80000ull /* PRP lists / SGL segments, 64 KiB */
#define FH_DBBUF 0x90000ull /* shadow doorbells, then EventIdx at +0x1000 */
#define FH_DATA 0x100000ull /* data buffers, 4 MiB */
#define FH_ADMIN_BUF 0x700000ull /* identify / log data, 64 KiB */

struct fh_q {
	uint64_t sq, cq; /* offsets in ram */
	uint32_t size;
	uint32_t sq_tail, cq_head;
	bool phase;
	uint16_t iv;
	bool shadow;
};

struct fh {
	struct uvfio_pci_device *p;
	struct uvfio_device *dev;
	struct nvmec *n;
	uint8_t *ram;
	int memfd;
	int efd[FH_NVEC];
	struct fh_q q[FH_NVEC];
	uint16_t cid;
	struct nvme_cqe last; /* the last completion */
};

static inline uint64_t fh_rd(struct fh *h, uint64_t off, size_t size)
{
	uint64_t v = 0;
	assert_int_equal(uvfio_device_region_rw(h->dev, 0, off, &v, size, false), (ssize_t)size);
	return v;
}

static inline void fh_wr(struct fh *h, uint64_t off, size_t size, uint64_t v)
{
	assert_int_equal(uvfio_device_region_rw(h->dev, 0, off, &v, size, true), (ssize_t)size);
}

static inline uint64_t fh_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

/* Wait for a register condition (the worker applies CC asynchronously). */
static inline bool fh_wait_csts(struct fh *h, uint32_t mask, uint32_t want)
{
	uint64_t deadline = fh_now_ms() + 10000;
	while ((fh_rd(h, NVME_REG_CSTS, 4) & mask) != want) {
		if (fh_now_ms() > deadline)
			return false;
		struct pollfd pfd = { .fd = -1 };
		(void)poll(&pfd, 0, 1); /* re-read the register: no event tells us */
	}
	return true;
}

static inline struct fh *fh_new(const char *decl)
{
	struct fh *h = calloc(1, sizeof(*h));
	assert_non_null(h);
	uvfio_register_builtin_drivers();
	assert_int_equal(uvfio_pci_create(decl, &h->p), 0);
	h->dev = uvfio_pci_to_device(h->p);
	h->n = nvmec_from_pdev(h->p);
	assert_non_null(h->n);
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	assert_int_equal(uvfio_pci_cfg_access(h->p, PCI_COMMAND, &cmd, 2, true), 2);
	h->memfd = memfd_create("guest", MFD_CLOEXEC);
	assert_true(h->memfd >= 0);
	assert_int_equal(ftruncate(h->memfd, FH_RAM), 0);
	h->ram = mmap(NULL, FH_RAM, PROT_READ | PROT_WRITE, MAP_SHARED, h->memfd, 0);
	assert_true(h->ram != MAP_FAILED);
	assert_int_equal(uvfio_dma_space_add(uvfio_device_dma_space(h->dev), FH_IOVA, FH_RAM,
					     UVFIO_DMA_READ | UVFIO_DMA_WRITE, h->memfd, 0),
			 0);
	uint32_t nvec = h->n->nr_ioq + 1 < FH_NVEC ? h->n->nr_ioq + 1 : FH_NVEC;
	for (int i = 0; i < FH_NVEC; i++)
		h->efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_int_equal(uvfio_device_set_irqs(h->dev,
					       UVFIO_IRQ_SET_DATA_EVENTFD |
						       UVFIO_IRQ_SET_ACTION_TRIGGER,
					       UVFIO_PCI_MSIX_IRQ, 0, nvec, NULL, h->efd),
			 0);
	return h;
}

static inline void fh_free(struct fh *h)
{
	uvfio_pci_device_free(h->p);
	munmap(h->ram, FH_RAM);
	close(h->memfd);
	for (int i = 0; i < FH_NVEC; i++)
		close(h->efd[i]);
	free(h);
}

static inline void fh_enable_with(struct fh *h, uint32_t cc_extra)
{
	h->q[0] = (struct fh_q){ .sq = FH_ASQ, .cq = FH_ACQ, .size = FH_QSIZE, .phase = true };
	memset(h->ram + FH_ASQ, 0, 0x2000);
	fh_wr(h, NVME_REG_AQA, 4, NVME_AQA_SET(FH_QSIZE - 1, FH_QSIZE - 1));
	fh_wr(h, NVME_REG_ASQ, 8, FH_IOVA + FH_ASQ);
	fh_wr(h, NVME_REG_ACQ, 8, FH_IOVA + FH_ACQ);
	fh_wr(h, NVME_REG_CC, 4,
	      NVME_CC_EN | NVME_CC_SET_IOSQES(6) | NVME_CC_SET_IOCQES(4) | cc_extra);
	assert_true(fh_wait_csts(h, NVME_CSTS_RDY, NVME_CSTS_RDY));
}

static inline void fh_enable(struct fh *h)
{
	fh_enable_with(h, 0);
}

/* Ring a doorbell as a REGION_WRITE would. */
static inline void fh_db(struct fh *h, uint16_t qid, bool cq, uint32_t v)
{
	fh_wr(h, nvme_db_index(qid, cq) * 4ull + NVME_REG_DBS, 4, v);
}

static inline uint16_t fh_submit(struct fh *h, uint16_t qid, struct nvme_sqe *sqe)
{
	struct fh_q *q = &h->q[qid];
	sqe->cid = ++h->cid;
	memcpy(h->ram + q->sq + q->sq_tail * 64ull, sqe, 64);
	q->sq_tail = (q->sq_tail + 1) % q->size;
	if (q->shadow) {
		uint32_t *sdb = (uint32_t *)(h->ram + FH_DBBUF);
		__atomic_store_n(&sdb[nvme_db_index(qid, false)], q->sq_tail, __ATOMIC_SEQ_CST);
	}
	fh_db(h, qid, false, q->sq_tail);
	return sqe->cid;
}

/* The next completion of queue qid, or false after 10 s. */
static inline bool fh_reap(struct fh *h, uint16_t qid, struct nvme_cqe *out)
{
	struct fh_q *q = &h->q[qid];
	volatile struct nvme_cqe *e = (void *)(h->ram + q->cq + q->cq_head * 16ull);
	uint64_t deadline = fh_now_ms() + 10000;
	while (nvme_cqe_phase(e) != q->phase) {
		if (fh_now_ms() > deadline)
			return false;
		/* Block on the queue's MSI-X vector; the timeout only re-checks. */
		struct pollfd pfd = { .fd = h->efd[q->iv % FH_NVEC], .events = POLLIN };
		if (poll(&pfd, 1, 50) > 0) {
			uint64_t v;
			(void)!read(pfd.fd, &v, 8);
		}
	}
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	memcpy(out, (const void *)e, sizeof(*out));
	if (++q->cq_head == q->size) {
		q->cq_head = 0;
		q->phase = !q->phase;
	}
	if (q->shadow) {
		uint32_t *sdb = (uint32_t *)(h->ram + FH_DBBUF);
		__atomic_store_n(&sdb[nvme_db_index(qid, true)], q->cq_head, __ATOMIC_SEQ_CST);
	}
	fh_db(h, qid, true, q->cq_head);
	return true;
}

/* Submit and wait; returns the status (without phase). */
static inline uint16_t fh_cmd(struct fh *h, uint16_t qid, struct nvme_sqe *sqe)
{
	uint16_t cid = fh_submit(h, qid, sqe);
	assert_true(fh_reap(h, qid, &h->last));
	if (h->last.cid != cid)
		print_message("fh_cmd: opcode 0x%x cid %u got cid %u dw0 0x%x status 0x%x\n",
			      sqe->opcode, cid, h->last.cid, h->last.dw0, h->last.status);
	assert_int_equal(h->last.cid, cid);
	assert_int_equal(h->last.sqid, qid);
	return nvme_cqe_status(&h->last) & 0x7ff;
}

static inline uint16_t fh_identify(struct fh *h, uint8_t cns, uint32_t nsid, uint8_t csi)
{
	struct nvme_sqe c = { .opcode = NVME_ADM_IDENTIFY, .nsid = nsid };
	c.prp1 = FH_IOVA + FH_ADMIN_BUF;
	c.cdw10 = cns;
	c.cdw11 = (uint32_t)csi << 24;
	memset(h->ram + FH_ADMIN_BUF, 0xa5, 4096);
	return fh_cmd(h, 0, &c);
}

static inline uint16_t fh_create_cq(struct fh *h, uint16_t qid, uint32_t size, uint16_t iv,
				    uint32_t flags)
{
	struct nvme_sqe c = { .opcode = NVME_ADM_CREATE_CQ };
	c.prp1 = FH_IOVA + FH_IOCQ(qid);
	c.cdw10 = ((size - 1) << 16) | qid;
	c.cdw11 = ((uint32_t)iv << 16) | flags;
	memset(h->ram + FH_IOCQ(qid), 0, 0x1000);
	uint16_t st = fh_cmd(h, 0, &c);
	if (!st) {
		h->q[qid].cq = FH_IOCQ(qid);
		h->q[qid].size = size;
		h->q[qid].cq_head = 0;
		h->q[qid].phase = true;
		h->q[qid].iv = iv;
	}
	return st;
}

static inline uint16_t fh_create_sq(struct fh *h, uint16_t qid, uint32_t size, uint16_t cqid,
				    uint32_t flags)
{
	struct nvme_sqe c = { .opcode = NVME_ADM_CREATE_SQ };
	c.prp1 = FH_IOVA + FH_IOSQ(qid);
	c.cdw10 = ((size - 1) << 16) | qid;
	c.cdw11 = ((uint32_t)cqid << 16) | flags;
	uint16_t st = fh_cmd(h, 0, &c);
	if (!st) {
		h->q[qid].sq = FH_IOSQ(qid);
		h->q[qid].sq_tail = 0;
	}
	return st;
}

/* An I/O queue pair qid (SQ and CQ of the same size, vector qid). */
static inline void fh_io_queue(struct fh *h, uint16_t qid, uint32_t size)
{
	assert_int_equal(fh_create_cq(h, qid, size, qid, NVME_CQ_FLAGS_PC | NVME_CQ_FLAGS_IEN), 0);
	assert_int_equal(fh_create_sq(h, qid, size, qid, NVME_SQ_FLAGS_PC), 0);
}

/* Read or write nlb blocks at slba from/to the data buffer at FH_DATA + off, PRPs built here. */
static inline uint16_t fh_rw(struct fh *h, uint16_t qid, uint8_t opc, uint32_t nsid,
			     uint64_t slba, uint32_t nlb, uint64_t off, uint32_t lba_size)
{
	struct nvme_sqe c = { .opcode = opc, .nsid = nsid };
	uint64_t addr = FH_IOVA + FH_DATA + off, len = (uint64_t)nlb * lba_size;
	uint64_t first = 4096 - (addr & 4095);
	c.prp1 = addr;
	if (len > first) {
		uint64_t rest = len - first;
		if (rest <= 4096) {
			c.prp2 = addr + first;
		} else {
			uint64_t *list = (uint64_t *)(h->ram + FH_LIST);
			uint64_t n = (rest + 4095) / 4096;
			for (uint64_t i = 0; i < n; i++)
				list[i] = addr + first + i * 4096;
			c.prp2 = FH_IOVA + FH_LIST;
		}
	}
	c.cdw10 = (uint32_t)slba;
	c.cdw11 = (uint32_t)(slba >> 32);
	c.cdw12 = nlb - 1;
	return fh_cmd(h, qid, &c);
}

#define ST(sct, sc) NVME_STATUS_MAKE((sct), (sc))

#endif
