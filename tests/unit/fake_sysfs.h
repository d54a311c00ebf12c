/* SPDX-License-Identifier: MIT */
/*
 * A fake sysfs tree in a temp dir for lib/kernel's unit tests (test_kernel_sysfs.c,
 * test_kernel_mdev.c): paths relative to root, directories, attribute files, symlinks, and the
 * log captured into logbuf. Header-only: each test program is one file.
 */
#ifndef UVFIO_TEST_FAKE_SYSFS_H
#define UVFIO_TEST_FAKE_SYSFS_H

#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

static char root[256];
static char logbuf[8192];

/* Log handler: every message appended to logbuf, one a line. */
static inline void capture(int level, const char *msg, void *opaque)
{
	size_t used = strlen(logbuf);

	(void)level, (void)opaque;
	snprintf(logbuf + used, sizeof(logbuf) - used, "%s\n", msg);
}

static inline void path_of(char *out, size_t len, const char *rel)
{
	snprintf(out, len, "%s/%s", root, rel);
}

/* mkdir -p below root. */
static inline void mkdirs(const char *rel)
{
	char p[PATH_MAX];

	path_of(p, sizeof(p), rel);
	for (char *s = p + strlen(root) + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		mkdir(p, 0755);
		*s = '/';
	}
	mkdir(p, 0755);
}

static inline void put(const char *rel, const char *content)
{
	char p[PATH_MAX];
	FILE *f;

	path_of(p, sizeof(p), rel);
	f = fopen(p, "w");
	assert_non_null(f);
	fputs(content, f);
	fclose(f);
}

static inline void get(const char *rel, char *buf, size_t len)
{
	char p[PATH_MAX];
	FILE *f;
	size_t n;

	path_of(p, sizeof(p), rel);
	f = fopen(p, "r");
	assert_non_null(f);
	n = fread(buf, 1, len - 1, f);
	buf[n] = '\0';
	fclose(f);
}

/* rel becomes a symlink to root/target_rel (replacing what was there). */
static inline void link_to(const char *rel, const char *target_rel)
{
	char p[PATH_MAX], t[PATH_MAX];

	path_of(p, sizeof(p), rel);
	path_of(t, sizeof(t), target_rel);
	unlink(p);
	assert_int_equal(symlink(t, p), 0);
}

static inline void rm_rf(const char *dir)
{
	char cmd[PATH_MAX + 16];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

#endif
