/* SPDX-License-Identifier: MIT */
#ifndef UVFIO_UTIL_LOG_H
#define UVFIO_UTIL_LOG_H

#include <uvfio/log.h>

#define log_err(...) uvfio_log(UVFIO_LOG_ERR, __VA_ARGS__)
#define log_warn(...) uvfio_log(UVFIO_LOG_WARN, __VA_ARGS__)
#define log_info(...) uvfio_log(UVFIO_LOG_INFO, __VA_ARGS__)
#define log_debug(...) uvfio_log(UVFIO_LOG_DEBUG, __VA_ARGS__)

#endif
