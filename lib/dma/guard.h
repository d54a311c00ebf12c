/* SPDX-License-Identifier: MIT */
/* Copies that survive client memory vanishing under them (see guard.c). */
#ifndef UVFIO_DMA_GUARD_H
#define UVFIO_DMA_GUARD_H

#include <stddef.h>

/* Installs the process-wide SIGBUS/SIGSEGV handler (again, if it was replaced); 0 or -errno. */
int dma_guard_init(void);
/* memcpy(dst, src, n) where the client memory [client, client + client_len) may fault: 0, or
 * -EFAULT if a fault in that range cut the copy short (dst may be partly written). */
int dma_guarded_copy(void *dst, const void *src, size_t n, const void *client, size_t client_len);

#endif
