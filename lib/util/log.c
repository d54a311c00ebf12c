/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"

static int level_from_env(void)
{
	const char *env = getenv("UVFIO_LOG");
	int level = env ? uvfio_log_parse_level(env) : -1;

	return level >= 0 ? level : UVFIO_LOG_WARN;
}

/* Initialised before main() so the hot-path check needs no lock or once-flag. */
int uvfio_log_threshold = UVFIO_LOG_WARN;

__attribute__((constructor)) static void log_init(void)
{
	uvfio_log_threshold = level_from_env();
}

static pthread_mutex_t handler_lock = PTHREAD_MUTEX_INITIALIZER;
static uvfio_log_handler handler;
static void *handler_opaque;

void uvfio_log_set_level(int level)
{
	uvfio_log_threshold = level;
}

int uvfio_log_parse_level(const char *name)
{
	static const struct {
		const char *name;
		int level;
	} names[] = {
		{ "err", UVFIO_LOG_ERR },     { "error", UVFIO_LOG_ERR },
		{ "warn", UVFIO_LOG_WARN },   { "warning", UVFIO_LOG_WARN },
		{ "info", UVFIO_LOG_INFO },   { "debug", UVFIO_LOG_DEBUG },
	};
	char *end;
	long n;

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!strcasecmp(name, names[i].name))
			return names[i].level;
	errno = 0;
	n = strtol(name, &end, 10);
	if (errno || end == name || *end || n < 0 || n > 7)
		return -EINVAL;
	return (int)n;
}

void uvfio_log_set_handler(uvfio_log_handler fn, void *opaque)
{
	pthread_mutex_lock(&handler_lock);
	handler = fn;
	handler_opaque = opaque;
	pthread_mutex_unlock(&handler_lock);
}

static const char *level_tag(int level)
{
	if (level <= UVFIO_LOG_ERR)
		return "error";
	if (level <= UVFIO_LOG_WARN)
		return "warning";
	if (level <= UVFIO_LOG_INFO)
		return "info";
	return "debug";
}

void uvfio_log_emit(int level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	int saved_errno = errno;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&handler_lock);
	if (handler)
		handler(level, msg, handler_opaque);
	else
		fprintf(stderr, "uvfio: %s: %s\n", level_tag(level), msg);
	pthread_mutex_unlock(&handler_lock);
	errno = saved_errno;
}
