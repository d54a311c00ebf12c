/* SPDX-License-Identifier: MIT */
/*
 * A userspace NVMe host driver on the client API: the same code drives an NVMe controller
 * served over vfio-user (uvfio's, QEMU's x-vfio-user-server) or bound to kernel VFIO.
 *
 *   uvfio_nvme_open("vfio-user:/tmp/nvme.sock", NULL, &c);
 *   uvfio_nvme_qpair_create(c, &q);                   one queue pair per thread
 *   buf = uvfio_nvme_dma_alloc(c, 4096);             I/O buffers come from the driver's IOAS
 *   uvfio_nvme_read(q, 1, buf, lba, 1, cb, arg);      asynchronous; cb runs from
 *   uvfio_nvme_process(q, 0) / uvfio_nvme_wait(q, ms) polling or interrupt completion
 *
 * Status values: 0 success; > 0 an NVMe status, SCT << 8 | SC (plus UVFIO_NVME_STATUS_DNR /
 * _MORE); < 0 a negative errno (transport failure, -ETIMEDOUT, -ECANCELED after a reset).
 * uvfio_nvme_strstatus() names every one of them.
 *
 * Threading: admin calls may come from any thread (serialised inside). A queue pair belongs to
 * one thread at a time; its I/O path takes no locks. uvfio_nvme_ctrl_reset() and _close() must
 * not race with I/O on any queue pair.
 */
#ifndef UVFIO_NVME_H
#define UVFIO_NVME_H

#include <uvfio/client.h>

UVFIO_BEGIN_DECLS

struct uvfio_nvme_ctrl;
struct uvfio_nvme_qpair;

enum uvfio_nvme_irq_mode {
	UVFIO_NVME_IRQ_AUTO = 0, /* MSI-X, MSI, INTx: the first whose vector reaches us */
	UVFIO_NVME_IRQ_POLL,     /* no interrupts: completions by polling only */
	UVFIO_NVME_IRQ_MSIX,
	UVFIO_NVME_IRQ_MSI,
	UVFIO_NVME_IRQ_INTX,
};

enum uvfio_nvme_doorbell_mode {
	UVFIO_NVME_DB_AUTO = 0, /* mmap, else ioeventfds (with shadow doorbells), else messages */
	UVFIO_NVME_DB_MMAP,
	UVFIO_NVME_DB_IOEVENTFD,
	UVFIO_NVME_DB_MESSAGE, /* posted region writes */
};

enum uvfio_nvme_sgl_mode {
	UVFIO_NVME_SGL_AUTO = 0, /* SGL when offered and the transfer would need a PRP list */
	UVFIO_NVME_SGL_NEVER,
	UVFIO_NVME_SGL_ALWAYS, /* every data transfer (fails to open if not offered) */
};

struct uvfio_nvme_opts {
	uint32_t io_queues;        /* queue pairs to ask for (default 4) */
	uint32_t queue_size;       /* entries per I/O queue (default 256, capped by CAP.MQES) */
	uint32_t admin_timeout_ms; /* default 10000 */
	uint32_t io_timeout_ms;    /* default 10000; 0: no timeout */
	int irq;                   /* enum uvfio_nvme_irq_mode */
	int doorbells;             /* enum uvfio_nvme_doorbell_mode */
	int sgl;                   /* enum uvfio_nvme_sgl_mode */
	bool no_shadow_doorbells;  /* do not use Doorbell Buffer Config even if offered */
};
UVFIO_API void uvfio_nvme_opts_default(struct uvfio_nvme_opts *opts);

/* Resets and enables the controller behind h (the handle stays the caller's; the controller
 * makes its own IOAS and attaches h to it). opts NULL: defaults. */
UVFIO_API int uvfio_nvme_ctrl_open(struct uvfio_handle *h, const struct uvfio_nvme_opts *opts,
				   struct uvfio_nvme_ctrl **out);
/* Opens url and the controller; closing the controller closes the handle. */
UVFIO_API int uvfio_nvme_open(const char *url, const struct uvfio_nvme_opts *opts,
			      struct uvfio_nvme_ctrl **out);
/* Deletes the queues, shuts the controller down (CC.SHN), frees everything. */
UVFIO_API void uvfio_nvme_ctrl_close(struct uvfio_nvme_ctrl *c);
/* Controller reset (CC.EN 1 -> 0 -> 1): commands outstanding complete with -ECANCELED, then the
 * admin queue and every existing queue pair are set up again. */
UVFIO_API int uvfio_nvme_ctrl_reset(struct uvfio_nvme_ctrl *c);

/*
 * Live migration, as a VMM does it with uvfio_migrate() (uvfio/migrate.h):
 *   1. open the destination device and attach it to uvfio_nvme_ctrl_ioas(c): the queues and
 *      buffers are the driver's memory, which both devices reach (no memory ranges to move);
 *   2. uvfio_migrate(uvfio_nvme_ctrl_handle(c), ioas, dst, ioas, ...); before the source stops
 *      (the progress callback's STOPCOPY call) every thread stops submitting and reaping, as
 *      vCPUs stop; commands may stay outstanding;
 *   3. uvfio_nvme_ctrl_migrated(c, dst): the driver moves its doorbells and interrupts to dst
 *      (and detaches the old handle from its IOAS, closing it if the driver opened it; dst stays
 *      the caller's). Outstanding commands complete on the destination, each exactly once.
 * Must not race with I/O on any queue pair.
 */
UVFIO_API struct uvfio_ioas *uvfio_nvme_ctrl_ioas(struct uvfio_nvme_ctrl *c);
UVFIO_API struct uvfio_handle *uvfio_nvme_ctrl_handle(struct uvfio_nvme_ctrl *c);
UVFIO_API int uvfio_nvme_ctrl_migrated(struct uvfio_nvme_ctrl *c, struct uvfio_handle *dst);

struct uvfio_nvme_ctrl_info {
	uint16_t vid, ssvid;
	char sn[21], mn[41], fr[9]; /* trimmed, NUL-terminated */
	uint32_t ver, nn;
	uint64_t cap;
	uint32_t max_xfer;    /* bytes per command (MDTS) */
	uint16_t oacs, oncs;
	uint32_t sgls;
	uint32_t io_queues;   /* granted */
	uint32_t queue_size;
	const char *irq;      /* "poll", "msix", "msi", "intx" */
	const char *doorbells; /* "mmap", "ioeventfd", "message" */
	bool shadow_doorbells;
	bool sgl;
};
UVFIO_API int uvfio_nvme_ctrl_get_info(struct uvfio_nvme_ctrl *c, struct uvfio_nvme_ctrl_info *info);
/* The Identify Controller data (4096 bytes), as the controller returned it. */
UVFIO_API const void *uvfio_nvme_ctrl_identify_data(struct uvfio_nvme_ctrl *c);

struct uvfio_nvme_ns_info {
	uint32_t nsid;
	uint64_t nsze, ncap, nuse; /* blocks */
	uint32_t lba_size;         /* bytes */
	uint16_t ms;               /* metadata bytes per block */
	uint8_t flbas, nlbaf;
};
UVFIO_API int uvfio_nvme_ns_get_info(struct uvfio_nvme_ctrl *c, uint32_t nsid,
				     struct uvfio_nvme_ns_info *info);
/* Active namespace IDs into nsids[0..max); returns how many there are. */
UVFIO_API int uvfio_nvme_ns_list(struct uvfio_nvme_ctrl *c, uint32_t *nsids, size_t max);

/* A command as the caller gives it; the driver sets CID and the data pointer. */
struct uvfio_nvme_cmd {
	uint8_t opcode;
	uint32_t nsid;
	uint32_t cdw2, cdw3;
	uint32_t cdw10, cdw11, cdw12, cdw13, cdw14, cdw15;
};
#define UVFIO_NVME_STATUS_MORE (1 << 13)
#define UVFIO_NVME_STATUS_DNR (1 << 14)
/* SCT << 8 | SC of a status, without the More/DNR bits. */
#define UVFIO_NVME_STATUS_CODE(s) ((s) & 0x7ff)

/* Admin commands (synchronous, any thread). buf/len: data to or from the controller, in the
 * direction the opcode's low bits say (01 to the controller, 10 from it); any memory (it is
 * copied through a DMA buffer). cdw0: the completion's DW0 (may be NULL). Returns a status. */
UVFIO_API int uvfio_nvme_admin(struct uvfio_nvme_ctrl *c, const struct uvfio_nvme_cmd *cmd,
			       void *buf, size_t len, uint32_t *cdw0);
UVFIO_API int uvfio_nvme_identify(struct uvfio_nvme_ctrl *c, uint8_t cns, uint32_t nsid,
				  void *buf4k);
UVFIO_API int uvfio_nvme_get_log_page(struct uvfio_nvme_ctrl *c, uint8_t lid, uint32_t nsid,
				      void *buf, size_t len);
UVFIO_API int uvfio_nvme_get_features(struct uvfio_nvme_ctrl *c, uint8_t fid, uint32_t nsid,
				      uint32_t cdw11, uint32_t *result);
UVFIO_API int uvfio_nvme_set_features(struct uvfio_nvme_ctrl *c, uint8_t fid, uint32_t nsid,
				      uint32_t cdw11, uint32_t *result);
/* Format NVM: lbaf = LBA format index, ses = secure erase setting. */
UVFIO_API int uvfio_nvme_format(struct uvfio_nvme_ctrl *c, uint32_t nsid, uint8_t lbaf,
				uint8_t ses);
UVFIO_API int uvfio_nvme_abort(struct uvfio_nvme_ctrl *c, uint16_t sqid, uint16_t cid);

/* Memory the controller can reach (page aligned, zeroed), for I/O buffers. NULL on failure. */
UVFIO_API void *uvfio_nvme_dma_alloc(struct uvfio_nvme_ctrl *c, size_t size);
UVFIO_API void uvfio_nvme_dma_free(struct uvfio_nvme_ctrl *c, void *buf);

/* I/O queue pairs. -EBUSY when every granted queue is in use. */
UVFIO_API int uvfio_nvme_qpair_create(struct uvfio_nvme_ctrl *c, struct uvfio_nvme_qpair **out);
UVFIO_API void uvfio_nvme_qpair_destroy(struct uvfio_nvme_qpair *q);
UVFIO_API uint16_t uvfio_nvme_qpair_id(const struct uvfio_nvme_qpair *q);
/* The eventfd the queue's interrupt signals, -1 in polling mode. */
UVFIO_API int uvfio_nvme_qpair_fd(const struct uvfio_nvme_qpair *q);
/* Commands submitted and not completed yet. */
UVFIO_API uint32_t uvfio_nvme_qpair_outstanding(const struct uvfio_nvme_qpair *q);

typedef void (*uvfio_nvme_cb)(void *arg, int status, uint32_t cdw0);

/* Submit: buf (len bytes) must lie inside one uvfio_nvme_dma_alloc() buffer (NULL if len 0).
 * -EAGAIN: the queue is full (process completions first). -EINVAL: bad arguments, a buffer not
 * from the driver, len above max_xfer. The callback runs from process/wait. */
UVFIO_API int uvfio_nvme_submit(struct uvfio_nvme_qpair *q, const struct uvfio_nvme_cmd *cmd,
				void *buf, size_t len, uvfio_nvme_cb cb, void *arg);
/* nlb: number of blocks (1-based here); buf holds nlb * lba_size bytes. */
UVFIO_API int uvfio_nvme_read(struct uvfio_nvme_qpair *q, uint32_t nsid, void *buf, uint64_t slba,
			      uint32_t nlb, uvfio_nvme_cb cb, void *arg);
UVFIO_API int uvfio_nvme_write(struct uvfio_nvme_qpair *q, uint32_t nsid, void *buf,
			       uint64_t slba, uint32_t nlb, uvfio_nvme_cb cb, void *arg);
UVFIO_API int uvfio_nvme_compare(struct uvfio_nvme_qpair *q, uint32_t nsid, void *buf,
				 uint64_t slba, uint32_t nlb, uvfio_nvme_cb cb, void *arg);
UVFIO_API int uvfio_nvme_flush(struct uvfio_nvme_qpair *q, uint32_t nsid, uvfio_nvme_cb cb,
			       void *arg);
UVFIO_API int uvfio_nvme_write_zeroes(struct uvfio_nvme_qpair *q, uint32_t nsid, uint64_t slba,
				      uint32_t nlb, uvfio_nvme_cb cb, void *arg);
UVFIO_API int uvfio_nvme_deallocate(struct uvfio_nvme_qpair *q, uint32_t nsid, uint64_t slba,
				    uint32_t nlb, uvfio_nvme_cb cb, void *arg);

/* Reaps up to max completions (0: all there are) without blocking; returns how many. */
UVFIO_API int uvfio_nvme_process(struct uvfio_nvme_qpair *q, uint32_t max);
/* Waits up to timeout_ms (-1: forever) for at least one completion: sleeps on the interrupt in
 * interrupt mode, spins in polling mode. Returns completions reaped (0: timed out). */
UVFIO_API int uvfio_nvme_wait(struct uvfio_nvme_qpair *q, int timeout_ms);
/* Submit and wait for one command; returns its status. */
UVFIO_API int uvfio_nvme_io_sync(struct uvfio_nvme_qpair *q, const struct uvfio_nvme_cmd *cmd,
				 void *buf, size_t len, uint32_t *cdw0);

/* Never NULL: "success", the NVMe status's name ("LBA Out of Range", ...), or strerror. */
UVFIO_API const char *uvfio_nvme_strstatus(int status);

UVFIO_END_DECLS

#endif
