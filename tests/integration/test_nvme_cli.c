/* SPDX-License-Identifier: MIT */
/*
 * uvfio nvme against uvfio's nvme (uvfio serve --device nvme): bad command lines exit 2 with
 * usage, nvme-cli's commands in text and JSON, a write/read round trip through files with
 * --block-count 0-based and --data-size, an LBA out of range by name (exit 1).
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <json-c/json.h>

#include "harness.h"
#include "nvme_target.h"

#define run(r, ...) assert_int_equal(h_run_cli((r), __VA_ARGS__), 0)
#define expect(r, status, in_out, in_err) assert_true(h_run_matches((r), (status), (in_out), (in_err)))

static struct nvme_target tgt;
static struct h_run r;

static int group_setup(void **state)
{
	return nt_start_uvfio(&tgt, "lba=4096");
}

static int group_teardown(void **state)
{
	return nt_stop(&tgt);
}

static void test_usage_errors(void **state)
{
	run(&r, "nvme", NULL);
	expect(&r, 2, NULL, "expected COMMAND URL");
	run(&r, "nvme", "frob", tgt.url, NULL);
	expect(&r, 2, NULL, "unknown command 'frob'");
	run(&r, "nvme", "read", tgt.url, "--block-count", "70000", NULL);
	expect(&r, 2, NULL, "bad --block-count");
	run(&r, "nvme", "read", tgt.url, "-n", "0", NULL);
	expect(&r, 2, NULL, "bad --namespace-id");
	run(&r, "nvme", "get-feature", tgt.url, NULL);
	expect(&r, 2, NULL, "needs --feature-id");
	run(&r, "nvme", "id-ctrl", tgt.url, "-o", "xml", NULL);
	expect(&r, 2, NULL, "bad --output-format");
	run(&r, "nvme", "--help", NULL);
	expect(&r, 0, "usage: uvfio nvme", NULL);
	/* --data-size smaller than the blocks: a bad command line too. */
	run(&r, "nvme", "read", tgt.url, "-c", "1", "-z", "4096", "-d", "/dev/null", NULL);
	expect(&r, 2, NULL, "less than 2 blocks");
	run(&r, "nvme", "list", "vfio-user:/nonexistent.sock", NULL);
	expect(&r, 1, NULL, "cannot open the controller");
}

/* A device that is no NVMe controller is refused by its class code. */
static void test_not_nvme(void **state)
{
	struct h_server s;
	char url[160];

	assert_int_equal(h_server_start(&s, h_test_device, NULL, NULL), 0);
	snprintf(url, sizeof(url), "vfio-user:%s", s.sock_path);
	run(&r, "nvme", "id-ctrl", url, NULL);
	expect(&r, 1, NULL, "is not an NVMe controller");
	assert_int_equal(h_server_stop(&s), 0);
}

static json_object *parse_out(void)
{
	json_object *j = json_tokener_parse(r.out);

	assert_non_null(j);
	return j;
}

static void test_identify(void **state)
{
	json_object *j, *v, *o;

	run(&r, "nvme", "id-ctrl", tgt.url, NULL);
	expect(&r, 0, "sn: uvfiotest", NULL);
	run(&r, "nvme", "id-ctrl", tgt.url, "--json", NULL);
	expect(&r, 0, NULL, NULL);
	j = parse_out();
	assert_true(json_object_object_get_ex(j, "id_ctrl", &o));
	assert_true(json_object_object_get_ex(o, "nn", &v));
	assert_true(json_object_get_int(v) >= 1);
	json_object_put(j);
	run(&r, "nvme", "id-ns", tgt.url, "-n", "1", "-o", "json", NULL);
	expect(&r, 0, NULL, NULL);
	j = parse_out();
	assert_true(json_object_object_get_ex(j, "id_ns", &o));
	assert_true(json_object_object_get_ex(o, "nsze", &v));
	assert_int_equal(json_object_get_int64(v), NT_IMG_BYTES / 4096);
	json_object_put(j);
	run(&r, "nvme", "list", tgt.url, NULL);
	expect(&r, 0, "uvfiotest", NULL);
	run(&r, "nvme", "list", tgt.url, "--json", NULL);
	expect(&r, 0, "\"sectorsize\": 4096", NULL);
	run(&r, "nvme", "smart-log", tgt.url, NULL);
	expect(&r, 0, "temperature:", NULL);
	run(&r, "nvme", "get-feature", tgt.url, "-f", "7", NULL);
	expect(&r, 0, "get-feature:0x07 (Number of Queues), Current value:0x", NULL);
	run(&r, "nvme", "id-ns", tgt.url, "-n", "9", NULL);
	expect(&r, 1, NULL, "NVMe status");
}

static void test_write_read(void **state)
{
	char in[128], out[128];
	uint8_t a[3 * 4096], b[3 * 4096 + 100];
	FILE *f;

	snprintf(in, sizeof(in), "%s/in.bin", tgt.dir);
	snprintf(out, sizeof(out), "%s/out.bin", tgt.dir);
	for (size_t i = 0; i < sizeof(a); i++)
		a[i] = (uint8_t)(i * 7 + 3);
	f = fopen(in, "wb");
	assert_int_equal(fwrite(a, 1, sizeof(a), f), sizeof(a));
	fclose(f);
	/* --block-count is 0-based: 2 means three blocks. */
	run(&r, "nvme", "write", tgt.url, "--namespace-id", "1", "--start-block", "5",
	    "--block-count", "2", "--data", in, NULL);
	expect(&r, 0, NULL, "write: Success");
	run(&r, "nvme", "read", tgt.url, "-n", "1", "-s", "5", "-c", "2", "-z", "12388", "-d", out,
	    NULL);
	expect(&r, 0, NULL, "read: Success");
	f = fopen(out, "rb");
	assert_int_equal(fread(b, 1, sizeof(b), f), sizeof(b)); /* --data-size bytes */
	fclose(f);
	assert_memory_equal(a, b, sizeof(a));
	/* To stdout with '-'. */
	run(&r, "nvme", "read", tgt.url, "-s", "5", "-c", "0", "-d", "-", NULL);
	expect(&r, 0, NULL, NULL);
	assert_memory_equal(r.out, a, 64);
	run(&r, "nvme", "flush", tgt.url, "-n", "1", NULL);
	expect(&r, 0, "NVMe Flush: success", NULL);
	/* Input shorter than the blocks. */
	run(&r, "nvme", "write", tgt.url, "-s", "0", "-c", "9", "-d", in, NULL);
	expect(&r, 1, NULL, "input too short");
}

static void test_out_of_range(void **state)
{
	char lba[32];

	snprintf(lba, sizeof(lba), "%llu", (unsigned long long)(NT_IMG_BYTES / 4096));
	run(&r, "nvme", "read", tgt.url, "-s", lba, "-c", "0", "-d", "/dev/null", NULL);
	expect(&r, 1, NULL, "LBA Out of Range");
}

static int64_t ns_field(const char *name)
{
	json_object *j, *o, *v;
	int64_t x;

	run(&r, "nvme", "id-ns", tgt.url, "-n", "1", "-o", "json", NULL);
	expect(&r, 0, NULL, NULL);
	j = parse_out();
	assert_true(json_object_object_get_ex(j, "id_ns", &o));
	assert_true(json_object_object_get_ex(o, name, &v));
	x = json_object_get_int64(v);
	json_object_put(j);
	return x;
}

/* Format NVM (OACS bit 1): to 512-byte blocks and back to 4096 with a user data erase, the
 * data zeroed, and the refusals by name. */
static void test_format(void **state)
{
	json_object *j, *o, *v;

	run(&r, "nvme", "id-ctrl", tgt.url, "--json", NULL);
	expect(&r, 0, NULL, NULL);
	j = parse_out();
	assert_true(json_object_object_get_ex(j, "id_ctrl", &o));
	assert_true(json_object_object_get_ex(o, "oacs", &v));
	assert_true(json_object_get_int(v) & 2);
	json_object_put(j);
	assert_int_equal(ns_field("nlbaf"), 1);
	run(&r, "nvme", "format", tgt.url, "-n", "1", "--lbaf", "0", NULL);
	expect(&r, 0, "Success formatting namespace:1", NULL);
	assert_int_equal(ns_field("flbas"), 0);
	assert_int_equal(ns_field("nsze"), NT_IMG_BYTES / 512);
	run(&r, "nvme", "format", tgt.url, "-n", "1", "--lbaf", "9", NULL);
	expect(&r, 1, NULL, "Invalid Format");
	run(&r, "nvme", "format", tgt.url, "-n", "1", "--lbaf", "1", "--ses", "2", NULL);
	expect(&r, 1, NULL, "Invalid Field in Command");
	run(&r, "nvme", "format", tgt.url, "-n", "7", "--lbaf", "1", NULL);
	expect(&r, 1, NULL, "Invalid Namespace or Format");
	run(&r, "nvme", "format", tgt.url, "-n", "1", "--lbaf", "1", "--ses", "1", NULL);
	expect(&r, 0, "Success formatting namespace:1", NULL);
	assert_int_equal(ns_field("flbas"), 1);
	assert_int_equal(ns_field("nsze"), NT_IMG_BYTES / 4096);
}

/* uvfio bench nvme: bad command lines, and a short run in fio's JSON shape. */
static void test_bench(void **state)
{
	json_object *j, *jobs, *job, *rd, *v, *lat, *pct;

	run(&r, "bench", "nvme", NULL);
	expect(&r, 2, NULL, "expected: nvme URL");
	run(&r, "bench", "nvme", tgt.url, "--rw", "sideways", NULL);
	expect(&r, 2, NULL, "bad --rw");
	run(&r, "bench", "nvme", tgt.url, "--qd", "0", NULL);
	expect(&r, 2, NULL, "bad --qd");
	run(&r, "bench", "nvme", tgt.url, "--bs", "1000", "--time", "0.2", NULL);
	expect(&r, 1, NULL, "multiple of the block size");
	run(&r, "bench", "nvme", tgt.url, "--rw", "rw", "--qd", "4", "--time", "0.3", "--size",
	    "1M", "--json", NULL);
	expect(&r, 0, NULL, NULL);
	j = parse_out();
	assert_true(json_object_object_get_ex(j, "jobs", &jobs));
	job = json_object_array_get_idx(jobs, 0);
	assert_non_null(job);
	assert_true(json_object_object_get_ex(job, "read", &rd));
	assert_true(json_object_object_get_ex(rd, "iops", &v));
	assert_true(json_object_get_double(v) > 0);
	assert_true(json_object_object_get_ex(rd, "lat_ns", &lat));
	assert_true(json_object_object_get_ex(lat, "percentile", &pct));
	assert_true(json_object_object_get_ex(pct, "99.000000", &v));
	assert_true(json_object_get_int64(v) > 0);
	assert_true(json_object_object_get_ex(job, "write", &rd));
	assert_true(json_object_object_get_ex(rd, "total_ios", &v));
	assert_true(json_object_get_int64(v) > 0);
	json_object_put(j);
	run(&r, "bench", "nvme", tgt.url, "--irq", "--time", "0.3", NULL);
	expect(&r, 0, "IOPS=", NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_not_nvme),
		cmocka_unit_test(test_identify),
		cmocka_unit_test(test_write_read),
		cmocka_unit_test(test_out_of_range),
		cmocka_unit_test(test_format),
		cmocka_unit_test(test_bench),
	};

	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
