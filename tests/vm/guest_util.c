/* SPDX-License-Identifier: MIT */
/* Helpers the guest test programs share; see guest_util.h. */
#include "guest_util.h"

#include <poll.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uvfio/client.h>

static unsigned passed, failed;

void result(bool ok, const char *fmt, ...)
{
	va_list ap;

	ok ? passed++ : failed++;
	printf("%s ", ok ? "PASS" : "FAIL");
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	printf("\n");
	fflush(stdout);
}

int summary(void)
{
	printf("%u passed, %u failed\n", passed, failed);
	return failed ? 1 : 0;
}

int run(const char *cmd, char *out, size_t len)
{
	char line[512];
	size_t used = 0;
	FILE *p;
	int st;

	out[0] = '\0';
	p = popen(cmd, "r");
	if (!p)
		return -1;
	while (fgets(line, sizeof(line), p)) {
		printf("  | %s", line);
		if (used + strlen(line) < len) {
			strcpy(out + used, line);
			used += strlen(line);
		}
	}
	fflush(stdout);
	st = pclose(p);
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

void parse_summary(const char *out, unsigned *np, unsigned *nf)
{
	const char *last = out;

	*np = 0;
	*nf = 1;
	for (const char *p = strstr(out, " passed, "); p; p = strstr(p + 1, " passed, "))
		last = p;
	while (last > out && last[-1] != '\n')
		last--;
	if (sscanf(last, "%u passed, %u failed", np, nf) != 2)
		*nf = 1;
}

bool sysfs_read(const char *bdf, const char *attr, char *buf, size_t len)
{
	char path[128];
	FILE *f;
	bool ok;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", bdf, attr);
	f = fopen(path, "r");
	if (!f)
		return false;
	ok = fgets(buf, (int)len, f) != NULL;
	fclose(f);
	buf[strcspn(buf, "\n")] = '\0';
	return ok;
}

unsigned long sysfs_hex(const char *bdf, const char *attr)
{
	char buf[64] = "";

	if (!sysfs_read(bdf, attr, buf, sizeof(buf)))
		buf[0] = '\0';
	return strtoul(buf, NULL, 16);
}

int wait_efd(int efd, int ms)
{
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	uint64_t cnt;

	if (poll(&pfd, 1, ms) != 1)
		return 0;
	return read(efd, &cnt, sizeof(cnt)) == sizeof(cnt);
}

int open_vfio(const char *bdf, const char *mode, struct uvfio_handle **h)
{
	char url[64];

	snprintf(url, sizeof(url), "vfio:%s?iommu=%s", bdf, mode);
	return uvfio_open(url, h);
}
