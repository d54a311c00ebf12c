/* SPDX-License-Identifier: MIT */
#ifndef UVFIO_TOOL_LSPCI_H
#define UVFIO_TOOL_LSPCI_H

#include <stddef.h>
#include <stdint.h>

#include "out.h"

/* cfg: len bytes of config space (256 or 4096); sizes: BAR0-5 and ROM region sizes. */
void lspci_decode(struct out *o, const uint8_t *cfg, size_t len, const uint64_t *sizes);

#endif
