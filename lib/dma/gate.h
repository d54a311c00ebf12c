/* SPDX-License-Identifier: MIT */
/*
 * The quiescence gate and dirty log of a device's DMA space, set by the device core's migration
 * state machine (lib/core/device_mig.c) and checked by every device-side access in dma.c.
 *
 * While blocked, uvfio_dma_read/write/get fail with -EPERM before touching memory. Closing the
 * gate waits for device copies to fd-backed memory already in progress, so when it returns no
 * device byte lands in client memory any more. Two things are not waited for, by design:
 * references from uvfio_dma_get() (a driver may hold one for the device's lifetime, so its own
 * migration step must stop using it) and message-based accesses to fd-less windows (they need
 * the server loop, which may be the thread closing the gate; the client answers them in order).
 */
#ifndef UVFIO_DMA_GATE_H
#define UVFIO_DMA_GATE_H

#include <stdbool.h>

struct uvfio_dma_space;
struct uvfio_dirty_log;

void dma_space_set_blocked(struct uvfio_dma_space *space, bool blocked);
/* Device writes are marked in log from now on (NULL: no more marking). */
void dma_space_set_dirty_log(struct uvfio_dma_space *space, struct uvfio_dirty_log *log);

/* The mapped windows as page-aligned ranges (DMA logging "all"): count, *out malloc'ed. */
struct uvfio_dirty_range;
int dma_space_ranges(struct uvfio_dma_space *space, struct uvfio_dirty_range **out);

/* Names the windows' owner in logs (a fault in client memory says whose window it was). */
void dma_space_set_label(struct uvfio_dma_space *space, const char *label);

#endif
