/* SPDX-License-Identifier: MIT */
#ifndef UVFIO_COMMON_H
#define UVFIO_COMMON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Everything is hidden by default (-fvisibility=hidden); this marks the ABI. */
#define UVFIO_API __attribute__((visibility("default")))

#ifdef __cplusplus
#define UVFIO_BEGIN_DECLS extern "C" {
#define UVFIO_END_DECLS }
#else
#define UVFIO_BEGIN_DECLS
#define UVFIO_END_DECLS
#endif

#endif
