/* SPDX-License-Identifier: MIT */
/* uvfio serve --device SPEC --socket PATH [--device SPEC --socket PATH ...] */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/uvfio.h>

#include "commands.h"

#define MAX_DEVICES 64

static struct uvfio_server *the_server;

static void on_signal(int sig)
{
	(void)sig;
	/* uvfio_server_stop is async-signal-safe. */
	if (the_server)
		uvfio_server_stop(the_server);
}

static void help(void)
{
	printf("usage: uvfio serve --device SPEC --socket PATH [--device SPEC --socket PATH ...]\n"
	       "                  [--loops N] [--poll[=USEC]] [--msg-timeout MS]\n"
	       "                  [--log err|warn|info|debug]\n\n"
	       "Serves each device on its own vfio-user socket until SIGINT or SIGTERM.\n"
	       "Each device runs on an event loop thread of its own; --loops N shares N loops\n"
	       "between the devices (round-robin).\n"
	       "--poll: busy-poll each loop (sockets, eventfds, device pollers) before sleeping;\n"
	       "adaptive (spins longer while work keeps arriving), or for USEC microseconds\n"
	       "after the last work. Costs a core per busy loop.\n"
	       "--msg-timeout: how long a partly received message, a reply to the server's\n"
	       "DMA request, or a client that reads none of its pending replies may take\n"
	       "(default 5000 ms).\n"
	       "A socket path where a server answers is refused; a stale socket file is\n"
	       "replaced. Sockets are created with mode 0600.\n"
	       "SPEC: PRESET[,key=val...] (e.g. edu, edu,dma_mask=0xfffffff) or\n"
	       "      pci,vendor=0x..,device=0x..[,driver_override=NAME]. Drivers:\n");
	uvfio_register_builtin_drivers();
	for (unsigned i = 0; uvfio_driver_at(i); i++) {
		const struct uvfio_driver *d = uvfio_driver_at(i);

		printf("  %-10s %s\n", d->name, d->description ? d->description : "");
		if (d->options_help)
			printf("%s\n", d->options_help);
	}
}

/* The preset word of a declaration ("edu" in "edu,x=1"). */
static void spec_name(const char *spec, char *buf, size_t size)
{
	size_t n = strcspn(spec, ",");

	snprintf(buf, size, "%.*s", (int)(n < size ? n : size - 1), spec);
}

static int add_one(struct uvfio_server *server, const char *spec, const char *path)
{
	struct uvfio_pci_device *pdev = NULL;
	const struct uvfio_pci_ident *id;
	char name[64];
	int ret = uvfio_pci_create(spec, &pdev);

	/* A declaration that cannot be right (syntax, unknown preset or option, no driver) is a
	 * bad command line. */
	if (ret == -EINVAL || ret == -ENOENT || ret == -ENODEV)
		return usage_error("serve", "device '%s': %s", spec, strerror(-ret));
	if (ret < 0) {
		fprintf(stderr, "uvfio serve: device '%s': %s\n", spec, strerror(-ret));
		return EXIT_FAILED;
	}
	id = uvfio_pci_ident(pdev);
	spec_name(spec, name, sizeof(name));
	ret = uvfio_server_add_device(server, uvfio_pci_to_device(pdev), path);
	if (ret < 0) {
		fprintf(stderr, "uvfio serve: cannot serve '%s' on %s: %s\n", spec, path,
			strerror(-ret));
		return EXIT_FAILED;
	}
	fprintf(stderr, "serving %s (%04x:%04x) on %s\n", name, id->vendor, id->device, path);
	return 0;
}

int cmd_serve(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "device", required_argument, NULL, 'd' },
		{ "socket", required_argument, NULL, 's' },
		{ "msg-timeout", required_argument, NULL, 't' },
		{ "loops", required_argument, NULL, 'L' },
		{ "poll", optional_argument, NULL, 'P' },
		{ "log", required_argument, NULL, 'l' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *specs[MAX_DEVICES], *paths[MAX_DEVICES];
	unsigned nspecs = 0, npaths = 0;
	uint64_t timeout = 0, loops = 0, poll_us = 0;
	struct sigaction sa = { .sa_handler = on_signal };
	struct uvfio_server_config cfg = { 0 };
	int c, ret = 0;

	optind = 1;
	while ((c = getopt_long(argc, argv, "d:s:t:l:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			help();
			return EXIT_OK;
		case 'd':
			if (nspecs == MAX_DEVICES)
				return usage_error("serve", "at most %d devices", MAX_DEVICES);
			specs[nspecs++] = optarg;
			break;
		case 's':
			if (npaths == MAX_DEVICES)
				return usage_error("serve", "at most %d sockets", MAX_DEVICES);
			paths[npaths++] = optarg;
			break;
		case 't':
			if (!parse_u64(optarg, &timeout) || !timeout || timeout > 3600000)
				return usage_error("serve", "bad --msg-timeout '%s'", optarg);
			break;
		case 'L':
			if (!parse_u64(optarg, &loops) || !loops || loops > MAX_DEVICES)
				return usage_error("serve", "bad --loops '%s' (1..%d)", optarg,
						   MAX_DEVICES);
			break;
		case 'P':
			if (!optarg) {
				cfg.poll_us = UVFIO_SERVER_POLL_ADAPTIVE;
				break;
			}
			if (!parse_u64(optarg, &poll_us) || !poll_us || poll_us > 1000000)
				return usage_error("serve", "bad --poll '%s' (1..1000000 us)", optarg);
			cfg.poll_us = (int32_t)poll_us;
			break;
		case 'l':
			if (!set_log_level(optarg))
				return usage_error("serve", "bad --log level '%s'", optarg);
			break;
		default:
			return usage_error("serve", "bad option");
		}
	}
	if (optind < argc)
		return usage_error("serve", "unexpected argument '%s'", argv[optind]);
	if (!nspecs || nspecs != npaths)
		return usage_error("serve", "give --device SPEC --socket PATH pairs (%u devices, "
					    "%u sockets)", nspecs, npaths);
	for (unsigned i = 0; i < npaths; i++) {
		if (!*paths[i])
			return usage_error("serve", "empty --socket path");
		for (unsigned j = 0; j < i; j++)
			if (!strcmp(paths[i], paths[j]))
				return usage_error("serve", "socket %s given twice", paths[i]);
	}
	cfg.msg_timeout_ms = (uint32_t)timeout;
	cfg.loops = (uint32_t)loops;
	uvfio_register_builtin_drivers();
	the_server = uvfio_server_new(&cfg);
	if (!the_server) {
		fprintf(stderr, "uvfio serve: cannot create the server\n");
		return EXIT_FAILED;
	}
	for (unsigned i = 0; i < nspecs && ret == 0; i++)
		ret = add_one(the_server, specs[i], paths[i]);
	if (ret == 0) {
		sigemptyset(&sa.sa_mask);
		sigaction(SIGINT, &sa, NULL);
		sigaction(SIGTERM, &sa, NULL);
		signal(SIGPIPE, SIG_IGN);
		ret = uvfio_server_run(the_server);
		if (ret < 0)
			fprintf(stderr, "uvfio serve: %s\n", strerror(-ret));
		ret = ret < 0 ? EXIT_FAILED : EXIT_OK;
	}
	uvfio_server_free(the_server);
	the_server = NULL;
	return ret;
}
