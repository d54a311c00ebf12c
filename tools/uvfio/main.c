/* SPDX-License-Identifier: MIT */
/* uvfio: serve devices over vfio-user, or inspect and poke any device the client API opens. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uvfio/uvfio.h>

#include "commands.h"

#ifndef UVFIO_VERSION
#define UVFIO_VERSION "0.1.0"
#endif

struct command {
	const char *name;
	int (*fn)(int argc, char **argv);
	const char *summary;
};

static const struct command commands[] = {
	{ "serve", cmd_serve, "serve devices over vfio-user" },
	{ "info", cmd_info, "show a device's regions, irqs and config space" },
	{ "read", cmd_read, "read a register of a region" },
	{ "write", cmd_write, "write a register of a region" },
	{ "list", cmd_list, "list host PCI devices and their VFIO state" },
	{ "bind", cmd_bind, "bind a host PCI device to vfio-pci" },
	{ "unbind", cmd_unbind, "give a host PCI device back to its driver" },
	{ "mdev", cmd_mdev, "create or remove a mediated device (mdev)" },
	{ "migrate", cmd_migrate, "move a running device and its memory to another device" },
	{ "save", cmd_save, "stop a device and save its state to a file" },
	{ "load", cmd_load, "load a saved state file into a device" },
	{ "nvme", cmd_nvme, "nvme-cli's commands on an NVMe controller (userspace driver)" },
	{ "bench", cmd_bench, "fio-like benchmark of an NVMe controller (bench nvme URL)" },
};

static void usage(FILE *f)
{
	fprintf(f, "usage: uvfio COMMAND [ARGS...]\n       uvfio --version | --help\n\n"
		   "Commands:\n");
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		fprintf(f, "  %-8s %s\n", commands[i].name, commands[i].summary);
	fprintf(f, "\nURLs: vfio-user:/path/to.sock (or a bare socket path), vfio:0000:00:03.0"
		   "[?iommu=type1|iommufd],\n      vfio:UUID[?iommu=...] (a mediated device)\n"
		   "Run 'uvfio COMMAND --help' for a command's options.\n");
}

int usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "uvfio %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'uvfio %s --help'.\n", cmd);
	return EXIT_USAGE;
}

bool set_log_level(const char *level)
{
	int l = uvfio_log_parse_level(level);

	if (l < 0)
		return false;
	uvfio_log_set_level(l);
	return true;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return EXIT_USAGE;
	}
	if (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h") || !strcmp(argv[1], "help")) {
		usage(stdout);
		return EXIT_OK;
	}
	if (!strcmp(argv[1], "--version") || !strcmp(argv[1], "-V")) {
		printf("uvfio %s\n", UVFIO_VERSION);
		return EXIT_OK;
	}
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(argv[1], commands[i].name))
			return commands[i].fn(argc - 1, argv + 1);
	fprintf(stderr, "uvfio: unknown command '%s'\n\n", argv[1]);
	usage(stderr);
	return EXIT_USAGE;
}
