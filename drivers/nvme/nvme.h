/* SPDX-License-Identifier: MIT */
/*
 * The NVMe controller (drivers/nvme): an NVMe 1.4 PCIe controller served over vfio-user.
 *
 * Threads: the server's loop only runs register accesses (regs.c), which update the register
 * file under ctrl->lock and kick the worker. One worker thread per controller (ctrl.c) owns
 * everything else: queues, admin and I/O command execution, completions and interrupts. While
 * there is work it polls the doorbells (the mmap-able doorbell page, or the host's shadow
 * doorbells); when idle it sleeps in poll() on the kick eventfd and the doorbell ioeventfds.
 * Queue state is therefore touched by the worker alone and needs no lock.
 */
#ifndef UVFIO_DRIVERS_NVME_H
#define UVFIO_DRIVERS_NVME_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include <uvfio/dma.h>
#include <uvfio/driver.h>
#include <uvfio/migration.h>

#include "nvme/nvme_spec.h"

/* Identity: QEMU's NVMe controller ID (Red Hat 1b36:0010), QEMU's subsystem 1af4:1100. */
#define NVMEC_VENDOR 0x1b36
#define NVMEC_DEVICE 0x0010
#define NVMEC_SUBVENDOR 0x1af4
#define NVMEC_SUBDEVICE 0x1100
#define NVMEC_REVISION 0x02

/* BAR0 layout (16 KiB): registers, doorbells (own page, mmap-able), MSI-X table, PBA. */
#define NVMEC_BAR_SIZE 0x4000u
#define NVMEC_DB_OFFSET 0x1000u
#define NVMEC_DB_SIZE 0x1000u
#define NVMEC_MSIX_TABLE 0x2000u
#define NVMEC_MSIX_PBA 0x3000u

#define NVMEC_MAX_IOQ 255 /* I/O queue pairs: 256 MSI-X vectors fit the 4 KiB table page */
#define NVMEC_MAX_QES 4096 /* CAP.MQES + 1 */
#define NVMEC_MAX_NS 16
#define NVMEC_MDTS 8 /* 2^8 pages = 1 MiB per command */
#define NVMEC_AERL 3 /* 4 outstanding AERs */
#define NVMEC_MAX_AEN_QUEUED 16
#define NVMEC_ERR_LOG_ENTRIES 16
#define NVMEC_MAX_SEGS 512 /* data segments of one command */
#define NVMEC_NR_LBAF 2 /* LBA formats: 512 and 4096 bytes, no metadata */

struct nvmec;
struct nvmec_ns;

/* A namespace's storage. */
struct nvmec_backend_ops {
	/* Copy [off, off+len) of the namespace to/from buf. */
	int (*rw)(struct nvmec_ns *ns, bool is_write, uint64_t off, void *buf, size_t len);
	int (*zero)(struct nvmec_ns *ns, uint64_t off, uint64_t len, bool deallocate);
	int (*flush)(struct nvmec_ns *ns);
	void (*free)(struct nvmec_ns *ns);
};

struct nvmec_ns {
	uint32_t nsid;
	uint32_t lba_shift;
	uint64_t nlbas;
	uint64_t size; /* bytes */
	const struct nvmec_backend_ops *ops;
	uint8_t *mem; /* RAM backend */
	int fd; /* file backend */
	int fd_direct; /* the same file opened O_DIRECT, -1 if none */
	uint64_t file_off; /* where this namespace starts in the file */
	uint8_t nguid[16];
	uint8_t eui64[8];
	/* Migration (RAM only): chunks ever written / to (re)send; set by the write path. */
	uint64_t *written, *dirty;
	uint64_t nchunks;
};

struct nvmec_sq {
	bool valid;
	uint16_t qid, cqid;
	uint32_t size; /* entries */
	uint64_t base;
	uint32_t head, tail;
	uint8_t prio;
	bool bad_db; /* its doorbell holds an invalid value (reported once) */
	bool broken; /* its ring is not readable: skipped until deleted or reset */
};

struct nvmec_cq {
	bool valid;
	uint16_t qid;
	uint32_t size;
	uint64_t base;
	uint32_t head, tail;
	bool phase;
	bool ien;
	uint16_t iv;
	uint32_t nr_sqs; /* SQs bound to it */
	uint32_t irq_pending; /* completions not yet signalled (coalescing) */
	uint64_t irq_first_ns; /* when the oldest of them was posted */
	uint32_t reserved; /* slots held for commands in flight (asynchronous file I/O) */
	bool broken; /* its ring is not writable: its SQs are skipped until deleted or reset */
	bool bad_db;
};

/* Features (current values). */
struct nvmec_features {
	uint32_t arbitration;
	uint32_t power_mgmt;
	uint16_t temp_over[9]; /* TMPSEL 0 composite, 1-8 sensors */
	uint16_t temp_under[9];
	uint32_t err_recovery;
	bool vwc;
	uint32_t irq_coalesce;
	uint8_t ivc_cd[NVMEC_MAX_IOQ + 1]; /* per vector: coalescing disabled */
	uint32_t aec; /* async event configuration */
	uint32_t kato;
	uint64_t timestamp_ms; /* host time at timestamp_set_ns */
	uint64_t timestamp_set_ns;
	bool timestamp_set;
	uint16_t nsq_granted, ncq_granted; /* 0-based, once Number of Queues was set */
	bool nq_set;
};

struct nvmec_stats {
	uint64_t data_units_read, data_units_written; /* in 512-byte units (rounded in the log) */
	uint64_t host_reads, host_writes;
	uint64_t busy_ns;
	uint64_t err_count;
	uint64_t media_errors;
};

/* The register file. Under ctrl->lock; the worker applies CC changes. */
struct nvmec_regs {
	uint64_t cap;
	uint32_t vs;
	uint32_t intms;
	uint32_t cc; /* as last written by the host */
	uint32_t csts;
	uint32_t aqa;
	uint64_t asq, acq;
};

#define NVMEC_PASS_REFS 8

struct nvmec {
	struct uvfio_pci_device *pdev;
	char name[64];

	/* Configuration (options). */
	uint32_t nr_ioq;
	uint32_t nr_ns;
	uint32_t lba_shift;
	uint64_t ns_size;
	char serial[21];
	char model[41];
	char *file;
	uint32_t poll_us; /* busy-poll this long after the last work before sleeping */
	uint32_t idle_wake_us; /* sleep timeout while the doorbell page may be written directly */
	bool db_mmap;
	bool aio_opt; /* file namespaces through io_uring (option aio=) */
	struct nvmec_ns ns[NVMEC_MAX_NS];

	/* Doorbell page: a memfd mapped here and offered to the client as a sparse area. */
	int db_fd;
	volatile uint32_t *db;
	int kick_fd; /* the worker's wake-up */
	int *db_efd; /* ioeventfds, one per doorbell, nr_ioq + 1 pairs */
	uint32_t nr_db_efd;

	/* Shared with the loop thread: under lock. */
	pthread_mutex_t lock;
	pthread_cond_t cond; /* worker acknowledgements (pause, close, generation) */
	struct nvmec_regs regs;
	bool cc_changed; /* CC written: the worker applies it */
	uint64_t gen; /* bumped by a PCI reset or close: the worker resets the controller */
	uint64_t gen_done;
	bool stopping;
	unsigned paused;
	bool worker_paused; /* the worker saw paused and is not processing */
	bool worker_started;
	pthread_t worker;
	uint32_t bad_db_writes; /* invalid doorbell register writes seen by regs.c (atomic) */
	int sleeping; /* the worker is (about to be) in poll(): doorbell writes must kick it */
	uint32_t intms_changed;

	/* Worker-private state. */
	bool enabled; /* CC.EN applied, CSTS.RDY set */
	bool fatal;
	uint32_t page_shift;
	struct nvmec_sq sq[NVMEC_MAX_IOQ + 1];
	struct nvmec_cq cq[NVMEC_MAX_IOQ + 1];
	struct nvmec_features feat;
	struct nvmec_stats stats;
	bool dbbuf;
	bool ei_spin; /* worker only: EventIdx tells the host not to kick (we spin) */
	/* Worker only: DMA references held for one pass of nvmec_process (rings, shadow
	 * doorbells), so the per-command accesses take no lock. An unmap waits for the pass. */
	struct nvmec_pass_ref {
		uint64_t iova, len;
		uint32_t prot;
		struct uvfio_dma_ref ref;
	} pass_refs[NVMEC_PASS_REFS];
	uint32_t nr_pass_refs;
	bool in_pass;
	uint64_t dbbuf_dbs, dbbuf_eis;
	uint16_t aer_cids[NVMEC_AERL + 1];
	uint32_t nr_aer;
	uint32_t aen_queue[NVMEC_MAX_AEN_QUEUED];
	uint32_t nr_aen;
	uint8_t aen_masked; /* event types posted and not yet cleared by reading their log */
	struct nvme_error_log err_log[NVMEC_ERR_LOG_ENTRIES];
	uint32_t err_log_next;
	uint32_t changed_ns[NVME_CHANGED_NS_ENTRIES];
	uint32_t nr_changed_ns;
	uint64_t power_on_ns;
	uint8_t *bounce; /* admin data and non-fd windows */
	struct nvmec_aio *aio; /* io_uring for file namespaces, NULL: synchronous */
	uint64_t aio_gen; /* bumped by a controller reset: older completions are dropped */

	/* Migration (mig.c). The cursor belongs to the saving side (the loop thread). */
	struct uvfio_mig_identity mig_ident;
	bool mig_quiesced;
	uint32_t mig_cursor_ns;
	uint64_t mig_cursor;
	bool mig_initial_done;
};

/* A command being executed. */
struct nvmec_req {
	struct nvme_sqe cmd;
	uint16_t sqid;
	uint32_t dw0;
	uint16_t status;
	bool no_completion; /* AER: completes later */
};

/* Data segments of a command, in guest addresses. */
struct nvmec_sg {
	uint32_t n;
	uint64_t len; /* total */
	struct {
		uint64_t addr;
		uint32_t len;
		bool bit_bucket;
	} seg[NVMEC_MAX_SEGS];
};

/* ctrl.c */
uint64_t nvmec_now_ns(void);
void nvmec_kick(struct nvmec *n);
/* A doorbell changed: wake the worker only if it sleeps (it polls while busy). */
void nvmec_doorbell_kick(struct nvmec *n);
extern const struct uvfio_driver nvme_driver;
extern const struct uvfio_pci_ident nvme_default_ident;
struct nvmec *nvmec_from_pdev(struct uvfio_pci_device *pdev);
/* Stop the worker from fetching commands; on return nothing is in flight. Nests. */
void nvmec_pause(struct nvmec *n);
void nvmec_resume(struct nvmec *n);

/* regs.c */
ssize_t nvmec_bar_rw(struct uvfio_pci_device *pdev, int bar, uint64_t offset, void *buf,
		     size_t count, bool is_write);
void nvmec_regs_init(struct nvmec *n);
/* Worker: apply a CC write / a reset. */
void nvmec_apply_cc(struct nvmec *n);
void nvmec_controller_reset(struct nvmec *n, bool full);

/* queues.c */
int nvmec_process(struct nvmec *n); /* one pass over all queues: >0 if work was done */
void nvmec_flush_irqs(struct nvmec *n, bool all);
void nvmec_post_cqe(struct nvmec *n, uint16_t sqid, uint16_t cid, uint32_t dw0, uint16_t status);
void nvmec_irq_update(struct nvmec *n, struct nvmec_cq *cq);
void nvmec_delete_sq(struct nvmec *n, uint16_t qid);
void nvmec_delete_cq(struct nvmec *n, uint16_t qid);
void nvmec_init_queue_dbs(struct nvmec *n, uint16_t qid);
void nvmec_aen_post(struct nvmec *n, uint8_t type, uint8_t info, uint8_t lid);
void nvmec_aen_complete(struct nvmec *n);
void nvmec_update_eventidx(struct nvmec *n, uint16_t qid, bool is_cq, uint32_t val);
/* Spinning (true): EventIdx says no kicks needed; false: kick on every doorbell change. */
void nvmec_eventidx_mode(struct nvmec *n, bool spin);
/* Drops the pass references before an access that may be message-based: that needs the server
 * loop, which may be blocked in an unmap waiting for our references. Later uses re-take them. */
void nvmec_pass_drop(struct nvmec *n);
void nvmec_error_log_add(struct nvmec *n, const struct nvmec_req *req);
bool nvmec_cq_full(const struct nvmec_cq *cq);

/* admin.c / admin_info.c */
void nvmec_admin(struct nvmec *n, struct nvmec_req *req);
void nvmec_identify(struct nvmec *n, struct nvmec_req *req);
void nvmec_get_log_page(struct nvmec *n, struct nvmec_req *req);
void nvmec_features(struct nvmec *n, struct nvmec_req *req, bool set);
void nvmec_features_reset(struct nvmec *n);
uint16_t nvmec_temperature(void);
bool nvmec_temp_warning(struct nvmec *n);

/* format.c */
void nvmec_format(struct nvmec *n, struct nvmec_req *req);
uint8_t nvmec_lbaf_ds(uint32_t i); /* LBA format i's data size (log2), 0 if none */

/* io.c */
void nvmec_io(struct nvmec *n, struct nvmec_req *req);

/* prp.c */
/* Build the data segments of a command (PRP or SGL) for len bytes. Returns a status. */
uint16_t nvmec_map_data(struct nvmec *n, const struct nvme_sqe *cmd, uint64_t len, bool admin,
			struct nvmec_sg *sg);
/* Copy between guest segments and a buffer. Returns a status (Data Transfer Error). */
uint16_t nvmec_sg_copy(struct nvmec *n, const struct nvmec_sg *sg, void *buf, uint64_t len,
		       bool to_host);
/* Move data between guest segments and the namespace, through direct pointers. */
uint16_t nvmec_sg_ns(struct nvmec *n, const struct nvmec_sg *sg, struct nvmec_ns *ns,
		     uint64_t off, bool write);
/* Data for an admin command: copy buf (len bytes) to the host. */
uint16_t nvmec_admin_to_host(struct nvmec *n, const struct nvme_sqe *cmd, const void *buf,
			     uint64_t len);
uint16_t nvmec_admin_from_host(struct nvmec *n, const struct nvme_sqe *cmd, void *buf,
			       uint64_t len);

/* backend.c */
int nvmec_backend_ram(struct nvmec_ns *ns);
int nvmec_backend_file(struct nvmec_ns *ns, int fd, uint64_t off);

/* mig.c */
#define NVMEC_MIG_VERSION 2 /* 2: each namespace's LBA format (Format NVM) */
#define NVMEC_CHUNK_SHIFT 16
#define NVMEC_CHUNK (1u << NVMEC_CHUNK_SHIFT)
int nvmec_mig_setup(struct nvmec *n);
int nvmec_mig_init_ns(struct nvmec_ns *ns);
void nvmec_mig_free_ns(struct nvmec_ns *ns);
/* The write path: [off, off+len) of ns changed. */
void nvmec_mark_written(struct nvmec_ns *ns, uint64_t off, uint64_t len);
void nvmec_mig_quiesce(struct nvmec *n, bool quiet);

/* backend_uring.c: asynchronous Read/Write for file namespaces (worker only). */
struct nvmec_aio;
int nvmec_aio_init(struct nvmec *n); /* 0 also when io_uring is unavailable (n->aio NULL) */
void nvmec_aio_free(struct nvmec *n);
int nvmec_aio_fd(struct nvmec *n); /* eventfd signalled by completions, -1 if none */
uint32_t nvmec_aio_inflight(struct nvmec *n);
/* Submit; false: not possible now (take the synchronous path). */
bool nvmec_aio_rw(struct nvmec *n, struct nvmec_ns *ns, const struct nvmec_req *req,
		  const struct nvmec_sg *sg, uint64_t off, bool write, bool fua);
int nvmec_aio_reap(struct nvmec *n); /* post what completed; returns how many */
void nvmec_aio_drain(struct nvmec *n, bool post); /* wait for everything in flight */

/* Status shorthands. */
#define SC(sc) NVME_STATUS_MAKE(NVME_SCT_GENERIC, (sc))
#define SC_CS(sc) NVME_STATUS_MAKE(NVME_SCT_CMD_SPECIFIC, (sc))
#define SC_MEDIA(sc) NVME_STATUS_MAKE(NVME_SCT_MEDIA, (sc))
#define DNR NVME_STATUS_DNR

#endif
