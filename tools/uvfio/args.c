/* SPDX-License-Identifier: MIT */
/*
 * What every command does with a URL and an error: a URL that cannot be right is a bad
 * command line (exit 2) before anything is opened; a failure prints the server's reason when
 * it gave one ("outside region 0 (size 0x1000)"), not just the errno's text.
 */
#include <stdio.h>
#include <string.h>

#include <uvfio/client.h>
#include <uvfio/host.h>

#include "commands.h"

/* The syntax uvfio_open() accepts: vfio-user:PATH, a bare path (no ':' unless it starts with
 * '/' or '.'), vfio:BDF[?query], vfio:UUID[?query] (an mdev). NULL if fine, else what is wrong. */
static const char *url_problem(const char *url)
{
	char bdf[UVFIO_BDF_LEN], uuid[UVFIO_MDEV_UUID_LEN], addr[64];

	if (!*url)
		return "empty URL";
	if (!strncmp(url, "vfio-user:", 10))
		return url[10] ? NULL : "no socket path after vfio-user:";
	if (!strncmp(url, "vfio:", 5)) {
		size_t n = strcspn(url + 5, "?");
		if (n == 0)
			return "no PCI address or mdev UUID after vfio:";
		if (n >= sizeof(addr))
			return "PCI address too long";
		memcpy(addr, url + 5, n);
		addr[n] = '\0';
		if (uvfio_host_parse_bdf(addr, bdf) == 0 || uvfio_mdev_parse_uuid(addr, uuid) == 0)
			return NULL;
		return "not a PCI address (DDDD:BB:DD.F) or an mdev UUID";
	}
	if (url[0] == '/' || url[0] == '.' || !strchr(url, ':'))
		return NULL;
	return "unknown URL scheme (vfio-user:PATH, vfio:BDF, vfio:UUID or a socket path)";
}

int check_url(const char *cmd, const char *url)
{
	const char *p = url_problem(url);

	return p ? usage_error(cmd, "bad URL '%s': %s", url, p) : 0;
}

int open_url(const char *cmd, const char *url, struct uvfio_handle **h)
{
	int ret = check_url(cmd, url);

	if (ret)
		return ret;
	ret = uvfio_open(url, h);
	if (ret < 0) {
		fprintf(stderr, "uvfio %s: cannot open %s: %s\n", cmd, url, strerror(-ret));
		return EXIT_FAILED;
	}
	return 0;
}

const char *why(struct uvfio_handle *h, int err, char *buf, size_t size)
{
	const char *reason = h ? uvfio_last_error(h) : "";

	if (err < 0)
		err = -err;
	if (*reason)
		snprintf(buf, size, "%s (%s)", reason, strerror(err));
	else
		snprintf(buf, size, "%s", strerror(err));
	return buf;
}
