/* SPDX-License-Identifier: MIT */
/*
 * uvfio save URL FILE          stop-copy the device's state into FILE ("-": stdout)
 * uvfio load URL FILE [--stop] load FILE ("-": stdin) into the device, which checks it first
 *
 * The file is the framed migration stream the device produces. Note that a vfio-user server
 * resets its device when this command disconnects: these are for devices whose state outlives
 * the connection (kernel VFIO) and for checking streams.
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <uvfio/migrate.h>
#include <uvfio/uvfio.h>

#include "commands.h"

static const char timeout_help[] =
	"--msg-timeout MS: how long the device may take to answer (default 5000): a device\n"
	"serialises or loads its whole state before it acknowledges the state change.\n";

/* --msg-timeout, 0 for the default. */
static int msg_timeout;

static void help(bool save)
{
	if (save)
		printf("usage: uvfio save URL FILE [--msg-timeout MS] [--log LEVEL]\n\n"
		       "Stops the device (STOP_COPY) and writes its migration stream to FILE\n"
		       "('-': stdout). The device is left stopped. Exit: 0 saved, 1 failed (FILE\n"
		       "removed, the device back in its state), 2 bad usage.\n%s", timeout_help);
	else
		printf("usage: uvfio load URL FILE [--stop] [--msg-timeout MS] [--log LEVEL]\n\n"
		       "Gives the migration stream in FILE ('-': stdin) to the device (RESUMING),\n"
		       "which checks all of it before it changes anything, then runs it (or leaves\n"
		       "it stopped with --stop). Exit: 0 loaded, 1 refused or failed (with the\n"
		       "reason), 2 bad usage.\n%s", timeout_help);
}

/* Common options; returns the index of URL, or -1 after --help, or -(exit code) - 1. */
static int parse(int argc, char **argv, bool save, bool *stop)
{
	static const struct option opts[] = {
		{ "stop", no_argument, NULL, 's' },
		{ "msg-timeout", required_argument, NULL, 't' },
		{ "log", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = save ? "save" : "load";
	uint64_t v;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		if (c == 'h') {
			help(save);
			return -1;
		}
		if (c == 's' && !save)
			*stop = true;
		else if (c == 't' && parse_u64(optarg, &v) && v && v <= 3600000)
			msg_timeout = (int)v;
		else if (c == 't')
			return -usage_error(cmd, "bad --msg-timeout '%s'", optarg) - 1;
		else if (c == 'l' && set_log_level(optarg))
			continue;
		else if (c == 'l')
			return -usage_error(cmd, "bad --log level '%s'", optarg) - 1;
		else
			return -usage_error(cmd, "bad option") - 1;
	}
	if (argc - optind != 2)
		return -usage_error(cmd, "expected URL FILE") - 1;
	if (check_url(cmd, argv[optind]))
		return -EXIT_USAGE - 1;
	if (!*argv[optind + 1])
		return -usage_error(cmd, "empty FILE (use - for %s)", save ? "stdout" : "stdin") - 1;
	return optind;
}

static int write_fd(void *opaque, const void *buf, size_t len)
{
	int fd = *(int *)opaque;
	const char *p = buf;

	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int cmd_save(int argc, char **argv)
{
	struct uvfio_handle *h = NULL;
	bool to_stdout, unused = false;
	int i = parse(argc, argv, true, &unused), fd, ret;
	const char *url, *file;
	int64_t n;

	if (i < 0)
		return i == -1 ? EXIT_OK : -i - 1;
	url = argv[i];
	file = argv[i + 1];
	to_stdout = !strcmp(file, "-");
	if (to_stdout && isatty(STDOUT_FILENO))
		return usage_error("save", "not writing a binary stream to a terminal");
	ret = open_url("save", url, &h);
	if (ret)
		return ret;
	if (msg_timeout)
		uvfio_set_msg_timeout(h, msg_timeout);
	fd = to_stdout ? STDOUT_FILENO : open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		fprintf(stderr, "uvfio save: cannot create %s: %s\n", file, strerror(errno));
		uvfio_close(h);
		return EXIT_FAILED;
	}
	n = uvfio_migrate_save(h, write_fd, &fd);
	char reason[300];
	why(h, (int)n, reason, sizeof(reason));
	uvfio_close(h);
	if (!to_stdout && close(fd) < 0 && n >= 0)
		n = -errno;
	if (n < 0) {
		fprintf(stderr, "uvfio save: %s: %s (%s)\n", url, uvfio_migrate_strerror((int)n),
			reason);
		if (!to_stdout)
			unlink(file);
		return EXIT_FAILED;
	}
	fprintf(to_stdout ? stderr : stdout, "saved %lld bytes of device state to %s\n",
		(long long)n, file);
	return EXIT_OK;
}

/* The whole of stdin. */
static int read_all(int fd, uint8_t **out, size_t *len)
{
	size_t cap = 1u << 20, n = 0;
	uint8_t *p = malloc(cap), *q;
	ssize_t r;

	if (!p)
		return -ENOMEM;
	for (;;) {
		if (n == cap) {
			q = realloc(p, cap * 2);
			if (!q) {
				free(p);
				return -ENOMEM;
			}
			p = q;
			cap *= 2;
		}
		r = read(fd, p + n, cap - n);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			free(p);
			return -errno;
		}
		if (r == 0)
			break;
		n += (size_t)r;
	}
	*out = p;
	*len = n;
	return 0;
}

int cmd_load(int argc, char **argv)
{
	struct uvfio_handle *h = NULL;
	bool stop = false, mapped = false;
	int i = parse(argc, argv, false, &stop), ret;
	const char *url, *file;
	uint8_t *buf = NULL;
	size_t len = 0;
	struct stat sb;

	if (i < 0)
		return i == -1 ? EXIT_OK : -i - 1;
	url = argv[i];
	file = argv[i + 1];
	if (!strcmp(file, "-")) {
		ret = read_all(STDIN_FILENO, &buf, &len);
	} else {
		int fd = open(file, O_RDONLY | O_CLOEXEC);

		ret = fd < 0 || fstat(fd, &sb) < 0 ? -errno : 0;
		if (ret == 0 && sb.st_size > 0) {
			len = (size_t)sb.st_size;
			buf = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
			mapped = buf != MAP_FAILED;
			ret = mapped ? 0 : -errno;
		}
		if (fd >= 0)
			close(fd);
	}
	if (ret < 0) {
		fprintf(stderr, "uvfio load: cannot read %s: %s\n", file, strerror(-ret));
		return EXIT_FAILED;
	}
	ret = open_url("load", url, &h);
	if (ret) {
		if (mapped)
			munmap(buf, len);
		else
			free(buf);
		return ret;
	} else {
		if (msg_timeout)
			uvfio_set_msg_timeout(h, msg_timeout);
		ret = uvfio_migrate_load(h, buf ? buf : (const uint8_t *)"", len,
					 stop ? UVFIO_MIG_STATE_STOP : UVFIO_MIG_STATE_RUNNING);
		char reason[300];
		if (ret < 0) {
			fprintf(stderr, "uvfio load: cannot load %s into %s: %s (%s)\n", file, url,
				uvfio_migrate_strerror(ret), why(h, ret, reason, sizeof(reason)));
			/* A refused load leaves the device in RESUMING. A vfio-user server resets
			 * its device when we leave, but a kernel driver need not (mtty keeps its
			 * migration state across close): reset it, so the next user does not find
			 * it stuck in RESUMING. */
			int err = uvfio_reset(h);
			if (err < 0 && err != -ENOTTY)
				fprintf(stderr, "uvfio load: %s: reset after the refusal: %s\n", url,
					strerror(-err));
		} else {
			printf("loaded %zu bytes of device state into %s\n", len, url);
		}
		uvfio_close(h);
	}
	if (mapped)
		munmap(buf, len);
	else
		free(buf);
	return ret < 0 ? EXIT_FAILED : EXIT_OK;
}
