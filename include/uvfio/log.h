/* SPDX-License-Identifier: MIT */
/* One logging API for the whole library: levels are syslog's, messages go to stderr
 * unless the application installs a handler. A disabled level costs one compare. */
#ifndef UVFIO_LOG_H
#define UVFIO_LOG_H

#include <uvfio/common.h>

UVFIO_BEGIN_DECLS

enum uvfio_log_level {
	UVFIO_LOG_ERR = 3,
	UVFIO_LOG_WARN = 4,
	UVFIO_LOG_INFO = 6,
	UVFIO_LOG_DEBUG = 7,
};

/* Messages at or below this level are emitted. Default: WARN, or $UVFIO_LOG
 * ("err", "warn", "info", "debug" or a number) read once at first use. */
UVFIO_API extern int uvfio_log_threshold;

typedef void (*uvfio_log_handler)(int level, const char *msg, void *opaque);

UVFIO_API void uvfio_log_set_level(int level);
/* Parses "err|warn|info|debug|<n>"; returns the level or -EINVAL. */
UVFIO_API int uvfio_log_parse_level(const char *name);
/* NULL restores the default stderr handler. */
UVFIO_API void uvfio_log_set_handler(uvfio_log_handler fn, void *opaque);
UVFIO_API void uvfio_log_emit(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* A driver refusing a request (returning -errno from a region access, feature, ...) may say
 * why in words: the server logs it with the device and command, and sends it to a client that
 * negotiated error reasons (docs/protocol.md). Only the first reason set while a request is
 * handled counts; calls outside request handling are harmless. */
UVFIO_API void uvfio_refuse_reason(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define uvfio_log(level, ...)                                                                      \
	do {                                                                                       \
		if ((level) <= uvfio_log_threshold)                                                \
			uvfio_log_emit((level), __VA_ARGS__);                                      \
	} while (0)

UVFIO_END_DECLS

#endif
