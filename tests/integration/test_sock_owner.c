/* SPDX-License-Identifier: MIT */
/*
 * Socket ownership: a path where a live server answers is refused, a stale socket file is
 * replaced, anything else at the path is left alone; the socket is created 0600 whatever the
 * umask; at exit only the file this server created is removed; `uvfio serve` refuses the same
 * --socket twice. Also `uvfio serve --loops/--poll`: bad values refused, good ones serve.
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include <cmocka.h>

#include "harness.h"

struct fx {
	char dir[64];
	char path[128];
};

static int setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	strcpy(f->dir, "/tmp/uvfio-own.XXXXXX");
	if (!mkdtemp(f->dir))
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/s.sock", f->dir);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;

	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* A socket bound at path; listening if listen_too. The fd, or -errno. */
static int bound(const char *path, bool listen_too)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	strcpy(sa.sun_path, path);
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || (listen_too && listen(fd, 4) < 0)) {
		int err = -errno;
		close(fd);
		return err;
	}
	return fd;
}

static void test_live_server_refused(void **state)
{
	struct fx *f = *state;
	struct uvfio_server *a = uvfio_server_new(NULL), *b = uvfio_server_new(NULL);

	assert_int_equal(uvfio_server_add_device(a, h_test_device(NULL), f->path), 0);
	struct stat before, after;
	assert_int_equal(lstat(f->path, &before), 0);
	assert_int_equal(uvfio_server_add_device(b, h_test_device(NULL), f->path), -EADDRINUSE);
	/* The live server's socket is untouched and still answers. */
	assert_int_equal(lstat(f->path, &after), 0);
	assert_true(before.st_ino == after.st_ino);
	uvfio_server_free(b);
	assert_int_equal(lstat(f->path, &after), 0);
	assert_true(before.st_ino == after.st_ino);
	uvfio_server_free(a);
	assert_int_equal(access(f->path, F_OK), -1); /* its owner removed it */
}

static void test_live_foreign_listener_refused(void **state)
{
	struct fx *f = *state;
	int other = bound(f->path, true);
	struct uvfio_server *s = uvfio_server_new(NULL);

	assert_true(other >= 0);
	assert_int_equal(uvfio_server_add_device(s, h_test_device(NULL), f->path), -EADDRINUSE);
	uvfio_server_free(s);
	assert_int_equal(access(f->path, F_OK), 0); /* not ours: not removed */
	close(other);
}

static void test_stale_socket_replaced(void **state)
{
	struct fx *f = *state;
	int old = bound(f->path, false);
	struct stat st_old, st_new;

	assert_true(old >= 0);
	close(old); /* the file stays; nothing listens: connect() is refused */
	assert_int_equal(lstat(f->path, &st_old), 0);
	struct uvfio_server *s = uvfio_server_new(NULL);
	assert_int_equal(uvfio_server_add_device(s, h_test_device(NULL), f->path), 0);
	assert_int_equal(lstat(f->path, &st_new), 0);
	assert_true(S_ISSOCK(st_new.st_mode));
	int c = h_connect(f->path); /* the stale file refused connections; ours accepts */
	assert_true(c >= 0);
	close(c);
	uvfio_server_free(s);
}

static void test_non_socket_left_alone(void **state)
{
	struct fx *f = *state;
	FILE *fp = fopen(f->path, "w");

	assert_non_null(fp);
	fputs("precious", fp);
	fclose(fp);
	struct uvfio_server *s = uvfio_server_new(NULL);
	assert_int_equal(uvfio_server_add_device(s, h_test_device(NULL), f->path), -EEXIST);
	uvfio_server_free(s);
	struct stat st;
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISREG(st.st_mode));
	assert_int_equal(st.st_size, 8);
}

static void test_created_0600_under_any_umask(void **state)
{
	struct fx *f = *state;
	mode_t old = umask(0);
	struct uvfio_server *s = uvfio_server_new(NULL);
	struct stat st;

	assert_int_equal(uvfio_server_add_device(s, h_test_device(NULL), f->path), 0);
	umask(old);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(S_ISSOCK(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0600);
	uvfio_server_free(s);
}

static void test_only_our_file_removed(void **state)
{
	struct fx *f = *state;
	struct uvfio_server *s = uvfio_server_new(NULL);

	assert_int_equal(uvfio_server_add_device(s, h_test_device(NULL), f->path), 0);
	/* Someone replaces the file while we serve (say, a second server after an unlink). */
	assert_int_equal(unlink(f->path), 0);
	int other = bound(f->path, true);
	assert_true(other >= 0);
	struct stat theirs, st;
	assert_int_equal(lstat(f->path, &theirs), 0);
	uvfio_server_free(s);
	assert_int_equal(lstat(f->path, &st), 0);
	assert_true(st.st_ino == theirs.st_ino);
	close(other);
}

static void test_cli_live_server_refused(void **state)
{
	struct fx *f = *state;
	struct uvfio_server *a = uvfio_server_new(NULL);
	struct h_run r;

	assert_int_equal(uvfio_server_add_device(a, h_test_device(NULL), f->path), 0);
	assert_int_equal(h_run_cli(&r, "serve", "--device", "edu", "--socket", f->path, NULL), 0);
	assert_true(h_run_matches(&r, 1, NULL, "Address already in use"));
	assert_int_equal(access(f->path, F_OK), 0);
	uvfio_server_free(a);
}

static void test_cli_same_socket_twice(void **state)
{
	struct fx *f = *state;
	struct h_run r;

	assert_int_equal(h_run_cli(&r, "serve", "--device", "edu", "--socket", f->path, "--device",
				   "edu", "--socket", f->path, NULL),
			 0);
	assert_true(h_run_matches(&r, 2, NULL, "given twice"));
	assert_int_equal(access(f->path, F_OK), -1); /* refused before creating anything */
}

static void test_cli_loops_poll_values(void **state)
{
	struct fx *f = *state;
	struct h_run r;
	static const char *const bad[][2] = {
		{ "--loops", "0" }, { "--loops", "65" }, { "--loops", "x" },
		{ "--poll=0", NULL }, { "--poll=2000000", NULL }, { "--poll=1e3", NULL },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		if (bad[i][1])
			assert_int_equal(h_run_cli(&r, "serve", bad[i][0], bad[i][1], "--device", "edu",
						   "--socket", f->path, NULL), 0);
		else
			assert_int_equal(h_run_cli(&r, "serve", bad[i][0], "--device", "edu",
						   "--socket", f->path, NULL), 0);
		assert_true(h_run_matches(&r, 2, NULL, bad[i][0][6] == '=' ? "bad --poll"
									   : "bad --loops"));
		assert_int_equal(access(f->path, F_OK), -1);
	}
}

/* Two edu devices on one shared loop, busy-polling: both answer. */
static void test_cli_shared_polling_loop_serves(void **state)
{
	struct fx *f = *state;
	const char *const args[] = { "--loops", "1", "--poll=20", "--device", "edu", "--socket",
				     "@SOCK@", "--device", "edu", "--socket", f->path, NULL };
	struct h_server s;
	uint32_t id = 0;

	assert_int_equal(h_server_start_cli(&s, args), 0);
	for (int i = 0; i < 2; i++) {
		int sock = h_connect_enabled(i ? f->path : s.sock_path);
		assert_true(sock >= 0);
		assert_int_equal(h_region_read(sock, 0, 0, &id, 4), 0);
		assert_int_equal(id, 0x010000ed);
	}
	h_close_tracked(NULL);
	assert_int_equal(h_server_stop(&s), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_live_server_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_live_foreign_listener_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_stale_socket_replaced, setup, teardown),
		cmocka_unit_test_setup_teardown(test_non_socket_left_alone, setup, teardown),
		cmocka_unit_test_setup_teardown(test_created_0600_under_any_umask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_only_our_file_removed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_live_server_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_same_socket_twice, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_loops_poll_values, setup, teardown),
		cmocka_unit_test_setup_teardown(test_cli_shared_polling_loop_serves, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
