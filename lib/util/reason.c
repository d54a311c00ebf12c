/* SPDX-License-Identifier: MIT */
#include <stdarg.h>
#include <stdio.h>

#include "util/reason.h"

static __thread char reason[REASON_MAX];

void reason_clear(void)
{
	reason[0] = '\0';
}

static __attribute__((format(printf, 1, 0))) void vset(const char *fmt, va_list ap)
{
	if (reason[0])
		return;
	vsnprintf(reason, sizeof(reason), fmt, ap);
}

void reason_set(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(fmt, ap);
	va_end(ap);
}

int refuse(int err, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(fmt, ap);
	va_end(ap);
	return -err;
}

const char *reason_get(void)
{
	return reason[0] ? reason : NULL;
}

void uvfio_refuse_reason(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vset(fmt, ap);
	va_end(ap);
}
