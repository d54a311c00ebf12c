/* SPDX-License-Identifier: MIT */
/* The NVMe host driver's state, shared by the files of lib/nvme/host. */
#ifndef UVFIO_NVME_HOST_PRIV_H
#define UVFIO_NVME_HOST_PRIV_H

#include <pthread.h>
#include <stdatomic.h>

#include <uvfio/nvme.h>

#include "nvme/nvme_spec.h"

#define NVME_HOST_PAGE 4096u
#define NVME_HOST_ADMIN_ENTRIES 32u
#define NVME_HOST_MAX_QPAIRS 64u
#define NVME_HOST_MAX_DMA 256u
#define NVME_HOST_DMA_BASE 0x100000000ull /* IOVAs the driver hands out start here */
#define NVME_HOST_MAX_XFER_CAP (2u << 20) /* what we ask per command at most */
#define NVME_HOST_MAX_NS_CACHE 16u

struct nvme_dma_buf {
	void *vaddr;
	uint64_t iova;
	size_t size;
	_Atomic bool live; /* set last (release), read first (acquire) */
};

/* One outstanding command slot; its index is the CID. */
struct nvme_req {
	uvfio_nvme_cb cb;
	void *arg;
	uint64_t deadline_ns;
	bool busy;
	bool aborted; /* an Abort was sent for it */
	/* PRP list pages of this slot (prp_pages * 4 KiB). */
	uint64_t *prp_list;
	uint64_t prp_iova;
};

struct uvfio_nvme_qpair {
	struct uvfio_nvme_ctrl *ctrl;
	uint16_t qid;
	uint16_t size; /* entries */
	struct nvme_sqe *sq;
	volatile struct nvme_cqe *cq;
	uint64_t sq_iova, cq_iova;
	void *mem; /* the one DMA buffer holding SQ, CQ and PRP lists */
	uint16_t sq_tail, cq_head;
	uint8_t phase;
	/* Doorbells: MMIO page (if mapped), else ioeventfds (with shadow), else messages. */
	volatile uint32_t *sq_db, *cq_db;
	int sq_efd, cq_efd;
	volatile uint32_t *shadow_sq, *shadow_cq, *eventidx_sq, *eventidx_cq;
	uint16_t sq_db_last, cq_db_last; /* last value the controller got rung with */
	/* Interrupts */
	int irq_fd; /* -1: polling */
	uint16_t vector;
	struct nvme_req *reqs;
	uint16_t *free_cids;
	uint32_t nfree;
	uint32_t prp_pages; /* per slot */
	uint32_t polls_idle; /* empty process() calls since the last timeout check */
};

struct nvme_ns_cache {
	bool valid;
	struct uvfio_nvme_ns_info info;
};

struct uvfio_nvme_ctrl {
	struct uvfio_handle *h;
	bool own_handle;
	struct uvfio_ioas *ioas;
	struct uvfio_nvme_opts opts;
	uint64_t cap;
	uint32_t ver;
	uint32_t dstrd;
	uint32_t ready_timeout_ms;
	uint32_t max_xfer;
	bool sgl; /* SGLs offered and allowed */
	struct nvme_id_ctrl *id; /* DMA-able copy of Identify Controller */
	/* DMA allocations: a table read without a lock on the I/O path; a freed slot is reused
	 * only for a later allocation (its fields are written before it turns live). */
	pthread_mutex_t dma_lock;
	struct nvme_dma_buf dma[NVME_HOST_MAX_DMA];
	_Atomic uint32_t ndma;
	uint64_t next_iova;
	/* Doorbells */
	void *db_map;
	size_t db_map_len;
	int db_mode; /* UVFIO_NVME_DB_* resolved */
	int *db_efd; /* per doorbell index, -1 none */
	uint32_t db_nefd;
	uint32_t *shadow, *eventidx; /* Doorbell Buffer Config pages, NULL if unused */
	/* Interrupts */
	int irq_mode; /* resolved, UVFIO_NVME_IRQ_* */
	uint32_t irq_index; /* UVFIO_PCI_*_IRQ */
	uint32_t nvec;
	int *vec_fd;
	/* Queues */
	pthread_mutex_t admin_lock;
	struct uvfio_nvme_qpair *admin;
	void *admin_buf; /* one page for admin data in and out */
	uint32_t granted; /* I/O queue pairs */
	uint32_t queue_size;
	struct uvfio_nvme_qpair *qpairs[NVME_HOST_MAX_QPAIRS + 1]; /* by qid */
	struct nvme_ns_cache ns[NVME_HOST_MAX_NS_CACHE];
};

/* ctrl.c: registers */
int nvme_reg_read32(struct uvfio_nvme_ctrl *c, uint32_t off, uint32_t *val);
int nvme_reg_write32(struct uvfio_nvme_ctrl *c, uint32_t off, uint32_t val);
int nvme_ctrl_disable(struct uvfio_nvme_ctrl *c);
int nvme_ctrl_enable(struct uvfio_nvme_ctrl *c);
/* Map the doorbells / take the ioeventfds of c->h (sets db_map, db_efd, db_mode). */
void nvme_setup_doorbell_path(struct uvfio_nvme_ctrl *c);
uint64_t nvme_now_ns(void);

/* dma.c */
int nvme_dma_init(struct uvfio_nvme_ctrl *c);
/* The IOVA of [p, p+len) if it lies inside one live buffer. */
int nvme_dma_iova(struct uvfio_nvme_ctrl *c, const void *p, size_t len, uint64_t *iova);

/* queue.c */
int nvme_qpair_alloc(struct uvfio_nvme_ctrl *c, uint16_t qid, uint16_t size,
		     struct uvfio_nvme_qpair **out);
void nvme_qpair_free(struct uvfio_nvme_qpair *q);
/* Ring state back to empty (after a controller reset); pending commands complete with err. */
void nvme_qpair_reset(struct uvfio_nvme_qpair *q, int err);
void nvme_qpair_setup_doorbells(struct uvfio_nvme_qpair *q);
/* Returns the CID, or -EAGAIN (full), -EINVAL. */
int nvme_qpair_submit_raw(struct uvfio_nvme_qpair *q, const struct uvfio_nvme_cmd *cmd,
			  uint64_t iova, size_t len, uvfio_nvme_cb cb, void *arg, uint32_t timeout_ms);
/* A command whose waiter gives up: no callback any more, its CID kept until it completes or
 * the controller is reset. */
void nvme_qpair_forget(struct uvfio_nvme_qpair *q, uint16_t cid);
/* Create the controller side (CQ then SQ) of an allocated I/O qpair. */
int nvme_qpair_create_hw(struct uvfio_nvme_qpair *q);

/* prp.c: sqe's data pointer for [iova, iova+len), PRP lists in slot r's pages, or an SGL. */
int nvme_build_dptr(struct uvfio_nvme_qpair *q, struct nvme_req *r, struct nvme_sqe *sqe,
		    uint64_t iova, size_t len, bool use_sgl);

/* cmd.c: admin under admin_lock with a data page */
int nvme_admin_sync(struct uvfio_nvme_ctrl *c, const struct uvfio_nvme_cmd *cmd, uint64_t iova,
		    size_t len, uint32_t *cdw0);

/* irq.c */
int nvme_irq_setup(struct uvfio_nvme_ctrl *c);
void nvme_irq_teardown(struct uvfio_nvme_ctrl *c);
/* After the vector's eventfd fired and the queue was processed (INTx: unmask). */
void nvme_irq_rearm(struct uvfio_nvme_ctrl *c);
/* The same vectors (eventfds) on c->h, after the controller moved there (migration). */
int nvme_irq_move(struct uvfio_nvme_ctrl *c);

#endif
