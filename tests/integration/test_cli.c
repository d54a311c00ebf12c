/* SPDX-License-Identifier: MIT */
/*
 * The uvfio CLI as a user runs it: $UVFIO_BIN with bad usage (exit 2 and a message), --help,
 * --version, and `serve` + `info` / `read` / `write` against a served edu device. The server's
 * "serving ..." line on stderr is printed once its socket listens: that is the start signal.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>
#include <json-c/json.h>

#include <uvfio/pci.h>

#include "harness.h"

/* The CLI, run and checked (tests/integration/harness.c). */
#define run(r, ...) assert_int_equal(h_run_cli((r), __VA_ARGS__), 0)
#define expect(r, status, in_out, in_err) assert_true(h_run_matches((r), (status), (in_out), (in_err)))

static void test_usage_errors(void **state)
{
	static struct h_run r;

	run(&r, NULL);
	expect(&r, 2, NULL, "usage: uvfio");
	run(&r, "frobnicate", NULL);
	expect(&r, 2, NULL, "unknown command 'frobnicate'");
	run(&r, "read", NULL);
	expect(&r, 2, NULL, "expected URL REGION OFFSET");
	run(&r, "read", "/x.sock", "bar9", "0", NULL);
	expect(&r, 2, NULL, "bad region 'bar9'");
	run(&r, "read", "/x.sock", "bar0", "12zz", NULL);
	expect(&r, 2, NULL, "bad offset '12zz'");
	run(&r, "read", "/x.sock", "bar0", "0", "--width", "3", NULL);
	expect(&r, 2, NULL, "--width must be 1, 2, 4 or 8");
	run(&r, "write", "/x.sock", "bar0", "0", NULL);
	expect(&r, 2, NULL, "expected URL REGION OFFSET VALUE");
	run(&r, "write", "/x.sock", "bar0", "0", "0x100", "--width", "1", NULL);
	expect(&r, 2, NULL, "does not fit in 1 bytes");
	run(&r, "write", "/x.sock", "bar0", "0", "0xzz", NULL);
	expect(&r, 2, NULL, "bad value '0xzz'");
	run(&r, "write", "/x.sock", "bar0", "0", "-1", NULL);
	expect(&r, 2, NULL, "bad option");
	run(&r, "info", NULL);
	expect(&r, 2, NULL, "expected one URL");
	run(&r, "info", "a", "b", NULL);
	expect(&r, 2, NULL, "expected one URL");
	run(&r, "info", "--bogus", "a", NULL);
	expect(&r, 2, NULL, "bad option");
	run(&r, "serve", NULL);
	expect(&r, 2, NULL, "--device SPEC --socket PATH pairs");
	run(&r, "serve", "--device", "edu", NULL);
	expect(&r, 2, NULL, "1 devices, 0 sockets");
	run(&r, "serve", "--device", "edu", "--socket", "/tmp/x", "--log", "loud", NULL);
	expect(&r, 2, NULL, "bad --log level 'loud'");
	run(&r, "serve", "--device", "edu", "--socket", "/tmp/x", "--msg-timeout", "soon", NULL);
	expect(&r, 2, NULL, "bad --msg-timeout 'soon'");
}

static void test_help_and_version(void **state)
{
	static struct h_run r;
	static const char *const cmds[] = { "serve", "info", "read", "write" };

	run(&r, "--help", NULL);
	expect(&r, 0, "serve", NULL);
	assert_non_null(strstr(r.out, "info"));
	run(&r, "--version", NULL);
	expect(&r, 0, "uvfio ", NULL);
	for (size_t i = 0; i < sizeof(cmds) / sizeof(cmds[0]); i++) {
		char want[64];

		snprintf(want, sizeof(want), "usage: uvfio %s", cmds[i]);
		run(&r, cmds[i], "--help", NULL);
		expect(&r, 0, want, NULL);
	}
}

static void test_open_failure(void **state)
{
	static struct h_run r;

	run(&r, "info", "vfio-user:/nonexistent/uvfio-cli.sock", NULL);
	expect(&r, 1, NULL, "No such file or directory");
	run(&r, "read", "/nonexistent/uvfio-cli.sock", "bar0", "0", NULL);
	expect(&r, 1, NULL, "cannot open");
}

/* Every command line that cannot be right exits 2 with a message, before anything is opened. */
static void test_bad_command_lines(void **state)
{
	static struct h_run r;

	run(&r, "info", "nosuch:scheme", NULL);
	expect(&r, 2, NULL, "unknown URL scheme");
	run(&r, "info", "foo:/x", NULL);
	expect(&r, 2, NULL, "bad URL 'foo:/x'");
	run(&r, "info", "", NULL);
	expect(&r, 2, NULL, "empty URL");
	run(&r, "info", "vfio-user:", NULL);
	expect(&r, 2, NULL, "no socket path");
	run(&r, "read", "vfio:", "bar0", "0", NULL);
	expect(&r, 2, NULL, "no PCI address");
	run(&r, "write", "vfio:zz", "bar0", "0", "1", NULL);
	expect(&r, 2, NULL, "not a PCI address");
	/* An mdev's UUID is a good URL: a missing device is a failure (1), not a bad line (2). */
	run(&r, "info", "vfio:6f2b1a4c-3d5e-4f60-8a9b-0c1d2e3f4a5b", NULL);
	expect(&r, 1, NULL, "6f2b1a4c-3d5e-4f60-8a9b-0c1d2e3f4a5b");
	run(&r, "bind", "zz", NULL);
	expect(&r, 2, NULL, "bad PCI address 'zz'");
	run(&r, "unbind", "0000:00:zz.0", NULL);
	expect(&r, 2, NULL, "bad PCI address");
	run(&r, "bind", NULL);
	expect(&r, 2, NULL, "usage: uvfio bind");
	run(&r, "list", "extra", NULL);
	expect(&r, 2, NULL, "usage: uvfio list");
	/* migrate: the same device twice would wait for ever for the second connection. */
	run(&r, "migrate", "/tmp/uvfio-none.sock", "/tmp/uvfio-none.sock", NULL);
	expect(&r, 2, NULL, "SRC and DST are the same device");
	run(&r, "migrate", "/tmp/uvfio-none.sock", "vfio-user:/tmp/uvfio-none.sock", NULL);
	expect(&r, 2, NULL, "same device");
	run(&r, "migrate", "foo:/a", "/b", NULL);
	expect(&r, 2, NULL, "bad URL 'foo:/a'");
	run(&r, "migrate", "/a", NULL);
	expect(&r, 2, NULL, "expected SRC DST");
	run(&r, "save", "", "out.bin", NULL);
	expect(&r, 2, NULL, "empty URL");
	run(&r, "save", "/a", "", NULL);
	expect(&r, 2, NULL, "empty FILE");
	run(&r, "load", "x:y", "in.bin", NULL);
	expect(&r, 2, NULL, "unknown URL scheme");
	run(&r, "load", "/a", NULL);
	expect(&r, 2, NULL, "expected URL FILE");
	run(&r, "serve", "--device", "nonesuch", "--socket", "/tmp/uvfio-none.sock", NULL);
	expect(&r, 2, NULL, "nonesuch");
	run(&r, "serve", "--device", "edu,bogus=1", "--socket", "/tmp/uvfio-none.sock", NULL);
	expect(&r, 2, NULL, "Try 'uvfio serve --help'");
	run(&r, "serve", "--device", "edu", "--socket", "", NULL);
	expect(&r, 2, NULL, "empty --socket path");
	run(&r, "serve", "--device", "edu", "--socket", "/tmp/uvfio-x", "--device", "edu",
	    "--socket", "/tmp/uvfio-x", NULL);
	expect(&r, 2, NULL, "given twice");
	run(&r, "serve", "extra", NULL);
	expect(&r, 2, NULL, "unexpected argument 'extra'");
}

/* A server a test started; stopped by the teardown if the test failed before stopping it (a
 * leftover child would keep the test's output open). */
static struct h_server *live_server;
static pid_t live_pid; /* a server started without the harness */

static int stop_live_server(void **state)
{
	if (live_server)
		h_server_stop(live_server);
	live_server = NULL;
	if (live_pid > 0) {
		kill(live_pid, SIGKILL);
		waitpid(live_pid, NULL, 0);
	}
	live_pid = 0;
	return 0;
}

static int start_cli_server(struct h_server *s)
{
	static const char *const args[] = { "--device", "edu", "--socket", "@SOCK@", NULL };
	int ret = h_server_start_cli(s, args);

	if (ret == 0)
		live_server = s;
	return ret;
}

static int stop_server(struct h_server *s)
{
	live_server = NULL;
	return h_server_stop(s);
}

struct server {
	pid_t pid;
	int err; /* its stderr */
	char path[108];
	char url[128];
};

/* Starts `uvfio serve` and waits (bounded) for its "serving" line. */
static void server_start(struct server *s)
{
	int p[2];
	char line[512] = "";
	size_t n = 0;
	struct timespec t0, t;

	snprintf(s->path, sizeof(s->path), "/tmp/uvfio-test-cli-%d.sock", getpid());
	snprintf(s->url, sizeof(s->url), "vfio-user:%s", s->path);
	assert_int_equal(pipe2(p, O_CLOEXEC), 0);
	s->pid = fork();
	assert_true(s->pid >= 0);
	if (s->pid == 0) {
		const char *bin = getenv("UVFIO_BIN");
		dup2(p[1], 2);
		execl(bin, bin, "serve", "--device", "edu", "--socket", s->path, (char *)NULL);
		_exit(127);
	}
	close(p[1]);
	live_pid = s->pid;
	s->err = p[0];
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!strstr(line, "\n")) {
		struct pollfd pfd = { .fd = s->err, .events = POLLIN };
		ssize_t r;

		clock_gettime(CLOCK_MONOTONIC, &t);
		assert_true(t.tv_sec - t0.tv_sec < 20);
		if (poll(&pfd, 1, 1000) <= 0)
			continue;
		r = read(s->err, line + n, sizeof(line) - 1 - n);
		if (r <= 0)
			break;
		n += (size_t)r;
		line[n] = '\0';
	}
	if (!strstr(line, "serving edu (1234:11e8) on "))
		fprintf(stderr, "server said: %s\n", line);
	assert_non_null(strstr(line, "serving edu (1234:11e8) on "));
	assert_non_null(strstr(line, s->path));
}

static void server_stop(struct server *s)
{
	int st;

	assert_int_equal(kill(s->pid, SIGTERM), 0);
	assert_int_equal(waitpid(s->pid, &st, 0), s->pid);
	live_pid = 0;
	close(s->err);
	assert_true(WIFEXITED(st));
	assert_int_equal(WEXITSTATUS(st), 0);
}

static void test_serve_info_text(void **state)
{
	static struct h_run r;
	struct server s;

	server_start(&s);
	run(&r, "info", s.url, NULL);
	expect(&r, 0, "Device: 1234:11e8 (rev 10)", NULL);
	assert_non_null(strstr(r.out, "BAR0: size 0x100000"));
	assert_non_null(strstr(r.out, "CONFIG: size"));
	assert_non_null(strstr(r.out, "Region 0: Memory at"));
	assert_non_null(strstr(r.out, "(32-bit, non-prefetchable) [size=1M]"));
	assert_non_null(strstr(r.out, "MSI"));
	assert_non_null(strstr(r.out, "64bit: +"));
	assert_non_null(strstr(r.out, "Interrupt: pin A"));
	assert_non_null(strstr(r.out, "INTx: count 1"));
	assert_non_null(strstr(r.out, "Control: I/O- Mem"));
	/* A bare socket path is a vfio-user URL too. */
	run(&r, "info", s.path, NULL);
	expect(&r, 0, "Device: 1234:11e8", NULL);
	server_stop(&s);
}

static void test_serve_info_json(void **state)
{
	static struct h_run r;
	static struct h_server s;
	json_object *root, *regions, *cfg, *dev, *caps;
	bool found_bar0 = false, found_msi = false;

	assert_int_equal(start_cli_server(&s), 0);
	run(&r, "info", s.sock_path, "--json", NULL);
	expect(&r, 0, "{", NULL);
	assert_int_equal(stop_server(&s), 0);
	root = json_tokener_parse(r.out);
	assert_non_null(root);
	assert_true(json_object_object_get_ex(root, "regions", &regions));
	assert_true(json_object_is_type(regions, json_type_array));
	for (size_t i = 0; i < json_object_array_length(regions); i++) {
		json_object *reg = json_object_array_get_idx(regions, i), *v;

		assert_true(json_object_object_get_ex(reg, "name", &v));
		if (strcmp(json_object_get_string(v), "BAR0") == 0) {
			assert_true(json_object_object_get_ex(reg, "size", &v));
			assert_int_equal(json_object_get_int64(v), 0x100000);
			found_bar0 = true;
		}
	}
	assert_true(found_bar0);
	assert_true(json_object_object_get_ex(root, "config", &cfg));
	assert_true(json_object_object_get_ex(cfg, "device", &dev));
	assert_non_null(strstr(json_object_get_string(dev), "1234:11e8"));
	assert_true(json_object_object_get_ex(cfg, "capabilities", &caps));
	for (size_t i = 0; i < json_object_array_length(caps); i++) {
		json_object *cap = json_object_array_get_idx(caps, i), *v;

		assert_true(json_object_object_get_ex(cap, "id", &v));
		if (json_object_get_int(v) == 5) {
			assert_true(json_object_object_get_ex(cap, "name", &v));
			assert_string_equal(json_object_get_string(v), "MSI");
			assert_true(json_object_object_get_ex(cap, "64bit", &v));
			assert_int_equal(json_object_get_int(v), 1);
			found_msi = true;
		}
	}
	assert_true(found_msi);
	/* Signaled and received aborts are two bits: two keys. */
	json_object *status, *v;
	assert_true(json_object_object_get_ex(cfg, "status", &status));
	assert_true(json_object_object_get_ex(status, "signaled_tabort", &v));
	assert_true(json_object_object_get_ex(status, "received_tabort", &v));
	assert_int_equal(json_object_object_length(status), 10);
	json_object_put(root);
}

static void test_serve_read_write(void **state)
{
	static struct h_run r;
	static struct h_server hs;
	struct server s;

	assert_int_equal(start_cli_server(&hs), 0);
	snprintf(s.url, sizeof(s.url), "vfio-user:%s", hs.sock_path);
	run(&r, "read", s.url, "bar0", "0", NULL);
	expect(&r, 0, "0x010000ed\n", NULL);
	run(&r, "write", s.url, "bar0", "4", "0x12345678", NULL);
	expect(&r, 0, "0x12345678\n", NULL);
	/* Each invocation is a new client and the server resets the device in between, so the
	 * liveness register no longer holds what was written: only the format is checked. */
	run(&r, "read", s.url, "0", "0x4", NULL);
	expect(&r, 0, "0x", NULL);
	assert_int_equal(strlen(r.out), strlen("0x12345678\n"));
	run(&r, "read", s.url, "config", "0", "--width", "2", NULL);
	expect(&r, 0, "0x1234\n", NULL);
	run(&r, "read", s.url, "config", "2", "--width", "2", NULL);
	expect(&r, 0, "0x11e8\n", NULL);
	/* The server's reason, not just the errno's text. */
	run(&r, "read", s.url, "bar0", "0x200000", NULL);
	expect(&r, 1, NULL, "uvfio read: bar0 at 0x200000: access 0x200000+4 outside region 0 "
			    "(size 0x100000) (Invalid argument)");
	run(&r, "write", s.url, "bar0", "0xffffc", "1", "--width", "8", NULL);
	expect(&r, 1, NULL, "outside region 0");
	assert_int_equal(stop_server(&hs), 0);
}

/* A device with every capability `uvfio info` decodes, built on the PCI core. */
static ssize_t bar_rw(struct uvfio_pci_device *pdev, int bar, uint64_t offset, void *buf,
		      size_t count, bool is_write)
{
	if (!is_write)
		memset(buf, 0xff, count);
	return (ssize_t)count;
}

static struct uvfio_device *make_rich(void *arg)
{
	static const struct uvfio_pci_ident id = { .vendor = 0x1af4, .device = 0x10f0,
						   .subvendor = 0x1af4, .subdevice = 0x0001,
						   .class_code = 0x020000, .revision = 0x02 };
	static const uint8_t vendor[] = { 0xaa, 0xbb, 0xcc };
	struct uvfio_pci_device *pdev = uvfio_pci_device_new(&id);

	if (!pdev)
		return NULL;
	if (uvfio_pci_setup_bar(pdev, 0, 0x1000, UVFIO_PCI_BAR_MEM32, bar_rw) < 0 ||
	    uvfio_pci_setup_bar(pdev, 2, 0x4000, UVFIO_PCI_BAR_MEM64 | UVFIO_PCI_BAR_PREFETCH,
				bar_rw) < 0 ||
	    uvfio_pci_add_cap_pm(pdev) < 0 || uvfio_pci_add_cap_msi(pdev, 4, true, true) < 0 ||
	    uvfio_pci_add_cap_msix(pdev, 8, 2, 0, 2, 0x1000) < 0 ||
	    uvfio_pci_add_cap_exp(pdev, true) < 0 ||
	    uvfio_pci_add_cap_vendor(pdev, vendor, sizeof(vendor)) < 0 ||
	    uvfio_pci_add_ext_cap_dsn(pdev, 0x0123456789abcdefull) < 0)
		return NULL;
	uvfio_pci_finalize(pdev);
	return uvfio_pci_to_device(pdev);
}

static void test_info_decodes_capabilities(void **state)
{
	static struct h_run r;
	static struct h_server s;
	static const char *const want[] = {
		"Device: 1af4:10f0 (rev 02)",
		"Class: Ethernet controller [0200]",
		"Subsystem: 1af4:0001",
		"Region 0: Memory at 00000000 (32-bit, non-prefetchable) [size=4K]",
		"Region 2: Memory at 00000000 (64-bit, prefetchable) [size=16K]",
		"Power Management",
		"] MSI\n",
		"Count: 1/4",
		"Maskable: +",
		"Masking: 00000000",
		"] MSI-X\n",
		"Count: 8",
		"Vector table: BAR=2 offset=00000000",
		"PBA: BAR=2 offset=00001000",
		"] Express\n",
		"Type: Express Endpoint",
		"FLReset+",
		"DevCtl:",
		"LnkCap:",
		"LnkSta:",
		"Vendor Specific Information",
		"Data: aa bb cc",
		"Device Serial Number 01-23-45-67-89-ab-cd-ef",
		"MSI-X: count 8",
	};
	json_object *root, *cfg, *ext, *cap, *v;

	assert_int_equal(h_server_start(&s, make_rich, NULL, NULL), 0);
	live_server = &s;
	run(&r, "info", s.sock_path, NULL);
	expect(&r, 0, NULL, NULL);
	for (size_t i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
		if (!strstr(r.out, want[i])) {
			fputs(want[i], stderr);
			fputs(": missing in\n", stderr);
			fputs(r.out, stderr);
		}
		assert_non_null(strstr(r.out, want[i]));
	}
	run(&r, "info", "--json", s.sock_path, NULL);
	expect(&r, 0, NULL, NULL);
	assert_int_equal(stop_server(&s), 0);
	root = json_tokener_parse(r.out);
	assert_non_null(root);
	assert_true(json_object_object_get_ex(root, "config", &cfg));
	assert_true(json_object_object_get_ex(cfg, "extended_capabilities", &ext));
	assert_int_equal(json_object_array_length(ext), 1);
	cap = json_object_array_get_idx(ext, 0);
	assert_true(json_object_object_get_ex(cap, "serial", &v));
	assert_string_equal(json_object_get_string(v), "0123456789abcdef");
	json_object_put(root);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_usage_errors),
		cmocka_unit_test(test_help_and_version),
		cmocka_unit_test(test_open_failure),
		cmocka_unit_test(test_bad_command_lines),
		cmocka_unit_test_teardown(test_serve_info_text, stop_live_server),
		cmocka_unit_test_teardown(test_serve_info_json, stop_live_server),
		cmocka_unit_test_teardown(test_serve_read_write, stop_live_server),
		cmocka_unit_test_teardown(test_info_decodes_capabilities, stop_live_server),
	};

	signal(SIGPIPE, SIG_IGN);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
