/* SPDX-License-Identifier: MIT */
/*
 * Why a request was refused, in words, for the peer. The core that refuses (device, PCI, DMA,
 * dispatch) fills the calling thread's reason buffer; the server's dispatcher clears it before
 * each command and, if the command fails, logs it and sends it with the error reply (when the
 * client negotiated the uvfio error_reason extension). One buffer per thread: no locking, and
 * a refusal on one device's thread never shows up in another's reply.
 */
#ifndef UVFIO_UTIL_REASON_H
#define UVFIO_UTIL_REASON_H

#include <uvfio/log.h>

#define REASON_MAX 200 /* bytes including the NUL; longer reasons are cut */

void reason_clear(void);
/* Sets the reason (the first one set since reason_clear wins: it is the most specific, a
 * caller further up adding its own would only repeat it). */
void reason_set(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Sets the reason and returns -err: `return refuse(EINVAL, "offset 0x%x outside ...", ...);` */
int refuse(int err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The reason, or NULL if none was set. */
const char *reason_get(void);

#endif
