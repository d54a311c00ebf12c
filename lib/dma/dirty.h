/* SPDX-License-Identifier: MIT */
/*
 * Device-side dirty page logging (VFIO_DEVICE_FEATURE_DMA_LOGGING_START/STOP/REPORT). A log
 * covers a set of IOVA ranges, not mappings: a window mapped after logging started is covered
 * as soon as a device writes into a logged range. The DMA layer calls uvfio_dirty_log_mark() for
 * every device write (uvfio_dma_write, and writable uvfio_dma_get pointers a driver declares).
 *
 * Threading: mark() and report() may run on any number of threads at once; mark() is lock-free
 * (an atomic OR per 64-page word) and report() reads and clears with atomic exchanges, so no
 * bit set by a mark is ever lost. start()/stop() may run concurrently with them; stop() waits
 * for marks and reports in progress before freeing the bitmaps.
 */
#ifndef UVFIO_DMA_DIRTY_H
#define UVFIO_DMA_DIRTY_H

#include <stdbool.h>
#include <stdint.h>

#include <uvfio/migration.h> /* struct uvfio_dirty_range */

/* One kernel page worth of {iova, length} pairs, as vfio core allows. */
#define UVFIO_DIRTY_MAX_RANGES 256
/* Bitmap memory a log may use; past it start() raises the page size (the uAPI lets it). */
#define UVFIO_DIRTY_MAX_BITMAP_BYTES (64u << 20)

struct uvfio_dirty_log;

/* NULL on allocation failure. */
struct uvfio_dirty_log *uvfio_dirty_log_new(void);
/* Stops logging (waiting for users) and frees. */
void uvfio_dirty_log_free(struct uvfio_dirty_log *log);

/*
 * Starts logging, validating as vfio core does for DMA_LOGGING_START: 1..UVFIO_DIRTY_MAX_RANGES
 * ranges (-E2BIG past it, -EINVAL for none), *page_size a power of two >= 4096 (-EINVAL), every
 * range non-empty with iova and length aligned to it (-EINVAL), no range wrapping past 2^64
 * (-EOVERFLOW), no two overlapping (-EINVAL). -EBUSY if already started. *page_size returns the
 * page size used (larger than asked if the bitmaps would exceed UVFIO_DIRTY_MAX_BITMAP_BYTES).
 */
int uvfio_dirty_log_start(struct uvfio_dirty_log *log, const struct uvfio_dirty_range *ranges,
			  uint32_t nr, uint64_t *page_size);
/* Stops logging and drops the bitmaps. Not started: nothing to do, 0. */
int uvfio_dirty_log_stop(struct uvfio_dirty_log *log);
bool uvfio_dirty_log_active(struct uvfio_dirty_log *log);
/* The page size in use, 0 if not started. */
uint64_t uvfio_dirty_log_page_size(struct uvfio_dirty_log *log);

/* A device wrote [iova, iova+len): marks the logged pages it touches. Outside the logged ranges,
 * or while not logging, nothing happens. Never fails, never blocks. */
void uvfio_dirty_log_mark(struct uvfio_dirty_log *log, uint64_t iova, uint64_t len);

/*
 * DMA_LOGGING_REPORT: sets bit n (word n / 64, bit n % 64) of bitmap for every page_size page n
 * of [iova, iova+length) that was written since the last report, and clears what it reported.
 * Only sets bits: the caller zeroes the bitmap, which holds (length / page_size + 63) / 64 words.
 * page_size may differ from the log's: a logged page partly outside the reported range is
 * reported but kept dirty (it is cleared when a report covers it whole). Pages outside the
 * logged ranges are clean. -EINVAL: not logging, page_size not a power of two >= 4096, length 0,
 * or iova/length not aligned to page_size; -EOVERFLOW: the range wraps past 2^64.
 */
int uvfio_dirty_log_report(struct uvfio_dirty_log *log, uint64_t iova, uint64_t length,
			   uint64_t page_size, uint64_t *bitmap);

#endif
