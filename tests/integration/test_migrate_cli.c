/* SPDX-License-Identifier: MIT */
/*
 * `uvfio migrate`, `uvfio save` and `uvfio load` as a user runs them against served edu-mig
 * devices: a verified migration with the dirtier running (--json checked field by field),
 * save/load through a file, damaged files refused with a reason, bad usage.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "harness.h"

struct fx {
	struct h_server a, b, plain;
	char file[160];
};

/* The CLI, run and checked (tests/integration/harness.c). */
#define run(r, ...) assert_int_equal(h_run_cli((r), __VA_ARGS__), 0)
#define expect(r, status, in_out, in_err) assert_true(h_run_matches((r), (status), (in_out), (in_err)))

static int start(struct h_server *s, const char *spec)
{
	const char *const args[] = { "--device", spec, "--socket", "@SOCK@", NULL };

	return h_server_start_cli(s, args);
}

static int setup(void **state)
{
	static struct fx f;

	memset(&f, 0, sizeof(f));
	if (start(&f.a, "edu-mig") || start(&f.b, "edu-mig") || start(&f.plain, "edu"))
		return -1;
	snprintf(f.file, sizeof(f.file), "%s/state.bin", f.a.dir);
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	int ret;

	unlink(f->file);
	ret = h_server_stop(&f->a);
	ret |= h_server_stop(&f->b);
	ret |= h_server_stop(&f->plain);
	return ret ? -1 : 0;
}

static bool jbool(json_object *o, const char *key)
{
	json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_boolean(v);
}

static int64_t jint(json_object *o, const char *key)
{
	json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_int64(v);
}

static const char *jstr(json_object *o, const char *key)
{
	json_object *v;

	assert_true(json_object_object_get_ex(o, key, &v));
	return json_object_get_string(v);
}

/* The dirtier writes 1 MiB of guest memory at 64 KiB/ms while the device migrates. */
#define DIRTIER_ARGS                                                                         \
	"--mem", "2M@0x100000", "--write", "config:4=0x6/2", "--write", "9:0=0x100000/8",     \
		"--write", "9:8=0x100000/8", "--write", "9:16=65536", "--write", "bar0:4=0x77", \
		"--write", "9:20=1", "--warmup", "20"

static void check_migration_json(struct h_run *r, bool precopy)
{
	json_object *o = json_tokener_parse(r->out), *v, *rounds;

	assert_non_null(o);
	assert_true(jbool(o, "ok"));
	assert_int_equal(jbool(o, "precopy"), precopy);
	assert_true(jbool(o, "dirty_logging"));
	assert_int_equal(jint(o, "page_size"), 4096);
	assert_true(jint(o, "rounds") >= 1);
	assert_true(jint(o, "memory_bytes") >= 2 << 20);
	assert_true(jint(o, "device_bytes") > 4096);
	assert_true(jint(o, "downtime_ns") > 0);
	assert_int_equal(jint(o, "budget_ms"), 150);
	assert_string_equal(jstr(o, "src_state"), "STOP");
	assert_string_equal(jstr(o, "dst_state"), "STOP"); /* read before --verify let it run */
	assert_true(json_object_object_get_ex(o, "round", &rounds));
	assert_int_equal(json_object_array_length(rounds), jint(o, "rounds"));
	assert_int_equal(jint(json_object_array_get_idx(rounds, 0), "memory_bytes"), 2 << 20);
	assert_true(json_object_object_get_ex(o, "verify", &v));
	assert_true(jbool(v, "memory"));
	assert_true(jbool(v, "bar0"));
	assert_true(jbool(v, "device_state"));
	json_object_put(o);
}

static void test_migrate_verified(void **state)
{
	struct fx *f = *state;
	static struct h_run r;

	run(&r, "migrate", f->a.sock_path, f->b.sock_path, DIRTIER_ARGS, "--max-downtime", "150",
	    "--verify", "--json", NULL);
	expect(&r, 0, "\"ok\":true", NULL);
	check_migration_json(&r, true);
	/* The servers reset both devices when the CLI left; again without pre-copy, in text. */
	run(&r, "migrate", f->a.sock_path, f->b.sock_path, DIRTIER_ARGS, "--no-precopy",
	    "--max-rounds", "3", "--verify", NULL);
	expect(&r, 0, "verify: memory identical, BAR0 identical, device state identical", NULL);
	assert_non_null(strstr(r.out, "pre-copy off"));
	assert_non_null(strstr(r.out, "downtime "));
}

static void test_migrate_failures(void **state)
{
	struct fx *f = *state;
	static struct h_run r;

	run(&r, "migrate", f->a.sock_path, f->plain.sock_path, NULL);
	expect(&r, 1, NULL, "not migratable");
	/* The refusing server's reason, for the last request it refused. */
	assert_non_null(strstr(r.err, "the destination refused: the device has no feature"));
	run(&r, "migrate", f->a.sock_path, f->plain.sock_path, "--json", NULL);
	expect(&r, 1, "\"ok\":false", NULL);
	assert_non_null(strstr(r.out, "\"errno\":25")); /* ENOTTY */
	run(&r, "migrate", f->a.sock_path, "/nonexistent/x.sock", NULL);
	expect(&r, 1, NULL, "cannot open /nonexistent/x.sock");
}

static void test_usage(void **state)
{
	static struct h_run r;
	static const char *const bad[][4] = {
		{ "--mem", "1M@0x1001", NULL }, { "--mem", "1X@0", NULL },
		{ "--mem", "0@0x1000", NULL }, { "--write", "bar0:4", NULL },
		{ "--write", "bar0:4=0x100/1", NULL }, { "--write", "bar9:4=1", NULL },
		{ "--write", "bar0:4=1/3", NULL }, { "--max-rounds", "65", NULL },
		{ "--max-rounds", "0", NULL }, { "--max-downtime", "soon", NULL },
		{ "--warmup", "-1", NULL }, { "--mem", "8K@0", "--mem", "4K@0x1000" },
		{ "--msg-timeout", "0", NULL }, { "--log", "loud", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		run(&r, "migrate", "a", "b", bad[i][0], bad[i][1], bad[i][2], bad[i][3], NULL);
		expect(&r, 2, NULL, "Try 'uvfio migrate --help'");
	}
	run(&r, "migrate", "a", NULL);
	expect(&r, 2, NULL, "expected SRC DST");
	run(&r, "save", "a", NULL);
	expect(&r, 2, NULL, "expected URL FILE");
	run(&r, "load", "a", "b", "c", NULL);
	expect(&r, 2, NULL, "expected URL FILE");
	run(&r, "save", "a", "b", "--stop", NULL);
	expect(&r, 2, NULL, "bad option");
	run(&r, "save", "a", "b", "--msg-timeout", "soon", NULL);
	expect(&r, 2, NULL, "bad --msg-timeout 'soon'");
	run(&r, "load", "a", "b", "--log", "loud", NULL);
	expect(&r, 2, NULL, "bad --log level 'loud'");
	run(&r, "migrate", "--help", NULL);
	expect(&r, 0, "usage: uvfio migrate SRC DST", NULL);
	run(&r, "save", "--help", NULL);
	expect(&r, 0, "usage: uvfio save URL FILE", NULL);
	run(&r, "load", "--help", NULL);
	expect(&r, 0, "usage: uvfio load URL FILE", NULL);
}

static void write_file(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static void test_save_load_file(void **state)
{
	struct fx *f = *state;
	static struct h_run r;
	static uint8_t good[1 << 20], bad[1 << 20];
	ssize_t len;
	int fd;

	run(&r, "save", f->a.sock_path, f->file, NULL);
	expect(&r, 0, "bytes of device state to", NULL);
	fd = open(f->file, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	len = read(fd, good, sizeof(good));
	close(fd);
	assert_true(len > 64);
	assert_memory_equal(good, "UVFIOMIG", 8);
	run(&r, "load", f->b.sock_path, f->file, NULL);
	expect(&r, 0, "loaded", NULL);
	run(&r, "load", f->b.sock_path, f->file, "--stop", NULL);
	expect(&r, 0, "loaded", NULL);

	/* Damaged files: refused, with the reason. */
	memcpy(bad, good, (size_t)len);
	bad[len - 30] ^= 1;
	write_file(f->file, bad, (size_t)len);
	run(&r, "load", f->b.sock_path, f->file, NULL);
	expect(&r, 1, NULL, "corrupt");
	write_file(f->file, good, (size_t)len - 10);
	run(&r, "load", f->b.sock_path, f->file, NULL);
	expect(&r, 1, NULL, "truncated");
	write_file(f->file, "", 0);
	run(&r, "load", f->b.sock_path, f->file, NULL);
	expect(&r, 1, NULL, "truncated");
	write_file(f->file, "not a migration stream at all, just text......................."
			    "...................................................", 110);
	run(&r, "load", f->b.sock_path, f->file, NULL);
	expect(&r, 1, NULL, "no uvfio header");
	/* What a kernel device saves (mtty's 60 bytes: its own magic, no uvfio header): refused,
	 * saying whose data it is. */
	memset(bad, 0, 60);
	memcpy(bad, "\x4e\x2c\x3e\x8c\x89\x09\x9d\x7e\x01", 9);
	write_file(f->file, bad, 60);
	run(&r, "load", f->b.sock_path, f->file, NULL);
	expect(&r, 1, NULL, "kernel VFIO device's own driver data");
	/* Another device's stream: edu-mig state into plain edu, which is not migratable. */
	write_file(f->file, good, (size_t)len);
	run(&r, "load", f->plain.sock_path, f->file, NULL);
	expect(&r, 1, NULL, "not migratable");
	run(&r, "load", f->b.sock_path, "/nonexistent/state.bin", NULL);
	expect(&r, 1, NULL, "cannot read /nonexistent/state.bin");

	/* A save that fails leaves no file behind. */
	unlink(f->file);
	run(&r, "save", f->plain.sock_path, f->file, NULL);
	expect(&r, 1, NULL, "not migratable");
	assert_int_equal(access(f->file, F_OK), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_migrate_verified, setup, teardown),
		cmocka_unit_test_setup_teardown(test_migrate_failures, setup, teardown),
		cmocka_unit_test_setup_teardown(test_save_load_file, setup, teardown),
		cmocka_unit_test(test_usage),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
