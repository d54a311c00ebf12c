/* SPDX-License-Identifier: MIT */
/* The stream writer's zero-copy side, for the device core (lib/core/device_mig.c): a transport
 * sends stream bytes straight from where they are (device memory included), then drops them. */
#ifndef UVFIO_CORE_MIG_STREAM_PRIV_H
#define UVFIO_CORE_MIG_STREAM_PRIV_H

#include <sys/uio.h>

#include <uvfio/migration.h>

/* The next min(len, pending) bytes as *out (malloc'ed, the caller frees it), one iovec per
 * segment they span; *bytes their total. Returns the iovec count (0: nothing pending) or
 * -ENOMEM. The iovecs stay valid until the writer is changed. */
int mig_writer_iov(struct uvfio_mig_writer *w, size_t len, struct iovec **out, size_t *bytes);
/* Drops the next n bytes, as a read of them would. */
void mig_writer_skip(struct uvfio_mig_writer *w, size_t n);

#endif
