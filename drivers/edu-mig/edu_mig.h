/* SPDX-License-Identifier: MIT */
/*
 * edu-mig: a variant driver of edu (the way vfio-pci variant drivers reuse vfio_pci_core). It
 * binds to edu's vendor/device with its own subsystem IDs (1234:0001), reuses edu as a library
 * for BAR0, INTx, MSI and the worker, and adds
 *  - migration (STOP_COPY, P2P, PRE_COPY): PCI state, registers, DMA buffer, a DMA queued but
 *    not started, the dirtier registers and the device memory;
 *  - mem=SIZE: device memory as BAR2 (64-bit, prefetchable, a power of two from 4 KiB to
 *    1 GiB). It is deliberately not mmap-able: every client write goes through the region
 *    handler, which is how the driver knows which pages to send again during pre-copy. It
 *    survives resets, like the memory of a real card;
 *  - region 9, VFIO_REGION_TYPE_PCI_VENDOR_TYPE | 0x1234, subtype EDU_MIG_DIRTIER_SUBTYPE: the
 *    "dirtier", a DMA engine writing a counter pattern over guest memory at a fixed rate.
 *
 * Dirtier registers (little-endian, 4- or 8-byte aligned accesses):
 *   0x00 base    u64  IOVA of the range written
 *   0x08 len     u64  length of the range (0: idle)
 *   0x10 rate    u32  bytes per millisecond (0: idle)
 *   0x14 enable  u32  bit 0 runs the engine; other bits read 0
 *   0x18 counter u64  read-only: DMA writes completed
 */
#ifndef UVFIO_DRIVERS_EDU_MIG_H
#define UVFIO_DRIVERS_EDU_MIG_H

#include <uvfio/migration.h>

#include "../edu/edu.h"

#define EDU_MIG_SUBVENDOR 0x1234
#define EDU_MIG_SUBDEVICE 0x0001
#define EDU_MIG_STATE_VERSION 1

#define EDU_MIG_MEM_BAR 2
#define EDU_MIG_MEM_MIN 4096ull
#define EDU_MIG_MEM_MAX (1ull << 30)
#define EDU_MIG_PAGE 4096ull

#define EDU_MIG_DIRTIER_REGION 9
#define EDU_MIG_DIRTIER_TYPE (0x80000000u | 0x1234u) /* VFIO_REGION_TYPE_PCI_VENDOR_TYPE */
#define EDU_MIG_DIRTIER_SUBTYPE 1u
#define EDU_MIG_DIRTIER_SIZE 32u
#define DIRTIER_REG_BASE 0x00
#define DIRTIER_REG_LEN 0x08
#define DIRTIER_REG_RATE 0x10
#define DIRTIER_REG_ENABLE 0x14
#define DIRTIER_REG_COUNTER 0x18

/* Stream sections (ids of this driver's state version 1). */
enum {
	EDU_MIG_SEC_CONFIG = 1, /* {u64 mem_size, u64 dma_mask}: must equal the destination's */
	EDU_MIG_SEC_PCI = 2, /* uvfio_pci_state_save() */
	EDU_MIG_SEC_REGS = 3, /* struct edu_regs, DMA_CMD without the start bit */
	EDU_MIG_SEC_BUFFER = 4, /* the 4 KiB DMA buffer */
	EDU_MIG_SEC_DMA = 5, /* {u64 src, dst, cnt, cmd}: a DMA queued, not started */
	EDU_MIG_SEC_DIRTIER = 6, /* {u64 base, len; u32 rate, enable; u64 counter, pos} */
	EDU_MIG_SEC_MEM = 7, /* {u64 offset} + bytes of device memory */
};
#define EDU_MIG_CONFIG_SIZE 16u
#define EDU_MIG_REGS_SIZE 48u
#define EDU_MIG_DMA_SIZE 32u
#define EDU_MIG_DIRTIER_STATE_SIZE 40u
#define EDU_MIG_MEM_CHUNK (1u << 20) /* device memory bytes per section */

struct dirtier_regs {
	uint64_t base, len;
	uint32_t rate, enable;
	uint64_t counter;
	uint64_t pos; /* next offset in [0, len) the engine writes */
};

struct dirtier {
	struct uvfio_device *dev;
	pthread_mutex_t lock;
	pthread_cond_t cond; /* worker: registers, pause or stop changed */
	pthread_cond_t idle; /* waiters: a write or a burst ended, or the engine stopped */
	pthread_t thread;
	bool started, stopping;
	bool paused; /* quiesced by the migration state */
	bool busy; /* a DMA write is in progress, outside the lock */
	uint64_t iterations; /* loop iterations done, for dirtier_sync() */
	struct dirtier_regs regs;
};

struct edu_mig {
	struct edu_state edu; /* first: drvdata points here, so edu's helpers work unchanged */
	struct uvfio_pci_device *pdev;
	struct uvfio_mig_identity ident;
	pthread_mutex_t lock; /* device memory, its pre-copy tracking, quiesced */
	bool quiesced; /* edu worker and dirtier paused for a STOP-like state */
	uint8_t *mem; /* device memory (BAR2), mem_size bytes; NULL if none */
	uint64_t mem_size;
	bool saving; /* a saving session is open: track writes to pages already sent */
	uint64_t sent_end; /* pages below this were sent as initial data */
	uint64_t *dirty; /* pages below sent_end written since they were sent */
	uint64_t nr_dirty;
	/* Resuming: memory sections copied into shadow as they arrive (mig_stage), over a copy of
	 * mem taken when the stream started; load() swaps mem and shadow if every section of the
	 * stream was staged and nothing wrote mem since, else copies as usual. */
	uint8_t *shadow; /* mem_size bytes, allocated at the first stream staged; NULL if none */
	bool stage_ok;
	size_t stage_next; /* index of the next section expected */
	struct dirtier dirtier;
};

struct edu_mig *edu_mig_from_pdev(struct uvfio_pci_device *pdev);

/* Little-endian fields of registers and stream sections, n bytes (n <= 8). */
static inline void le_put(uint8_t *p, uint64_t v, unsigned n)
{
	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * i));
}

static inline uint64_t le_get(const uint8_t *p, unsigned n)
{
	uint64_t v = 0;
	for (unsigned i = 0; i < n; i++)
		v |= (uint64_t)p[i] << (8 * i);
	return v;
}

/* dirtier.c */
int dirtier_init(struct dirtier *d, struct uvfio_device *dev);
void dirtier_teardown(struct dirtier *d);
ssize_t dirtier_region_rw(struct uvfio_device *dev, uint32_t index, uint64_t offset, void *buf,
			  size_t count, bool is_write);
/* Pause: on return no DMA write is in progress and none starts until resume. */
void dirtier_pause(struct dirtier *d);
void dirtier_resume(struct dirtier *d);
/* Disables the engine and clears its registers (reset); close also waits for a write. */
void dirtier_reset(struct dirtier *d);
void dirtier_close(struct dirtier *d);
void dirtier_get(struct dirtier *d, struct dirtier_regs *regs);
void dirtier_set(struct dirtier *d, const struct dirtier_regs *regs);
/* Whether a saved register set is one the engine could hold. */
bool dirtier_regs_valid(const struct dirtier_regs *regs);
/* A device-side barrier: while the engine has work, returns once the worker completed a burst
 * (the one in progress, else the next), so a counter read after it includes every write begun
 * before the call; at once if the engine is paused or has nothing to do. */
void dirtier_sync(struct dirtier *d);

/* edu_mig.c: one migration arc (quiesce or resume; open or end memory tracking). */
int edu_mig_step(struct uvfio_device *dev, uint32_t from, uint32_t to, bool *broken);

/* mig_state.c: the migration ops. */
extern const struct uvfio_migration_ops edu_mig_migration_ops;
/* A saving session begins or ends (step). */
void edu_mig_track_begin(struct edu_mig *m);
void edu_mig_track_end(struct edu_mig *m);

/* The driver (registered by uvfio_register_builtin_drivers()). */
extern const struct uvfio_driver edu_mig_driver;
extern const struct uvfio_pci_ident edu_mig_default_ident;

#endif
