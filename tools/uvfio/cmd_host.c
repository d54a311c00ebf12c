/* SPDX-License-Identifier: MIT */
/* uvfio list | bind | unbind: the host side of kernel VFIO. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/host.h>

#if __has_include("commands.h")
#include "commands.h"
#else
int cmd_list(int argc, char **argv);
int cmd_bind(int argc, char **argv);
int cmd_unbind(int argc, char **argv);
int host_configure_from_env(void);
void list_mdevs(void);
#endif

/* Environment overrides let the commands run against a fake sysfs tree (tests). */
int host_configure_from_env(void)
{
	struct uvfio_host_config cfg = {
		.sysfs_root = getenv("UVFIO_SYSFS_ROOT"),
		.modules_alias = getenv("UVFIO_MODULES_ALIAS"),
		.state_dir = getenv("UVFIO_STATE_DIR"),
		.modprobe = getenv("UVFIO_MODPROBE"),
	};
	int ret = uvfio_host_configure(&cfg);

	if (ret < 0)
		fprintf(stderr, "uvfio: bad UVFIO_SYSFS_ROOT (must be an absolute path)\n");
	return ret;
}

static const char list_usage[] =
	"usage: uvfio list\n"
	"  PCI devices with IOMMU group, driver and whether the group can be used through VFIO\n"
	"  (every member bound to a vfio driver, pci-stub, pcieport or to none); then, when the\n"
	"  kernel has any, mediated device parents with their types (free instances, device API,\n"
	"  name or description) and the mdev instances (vfio:UUID) with group and cdev.\n";

int cmd_list(int argc, char **argv)
{
	struct uvfio_host_device *devs;
	size_t n;
	int ret;

	if (argc > 1) {
		bool help = strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0;

		fputs(list_usage, help ? stdout : stderr);
		return help ? 0 : 2;
	}
	if (host_configure_from_env() < 0)
		return 2;
	ret = uvfio_host_list(&devs, &n);
	if (ret < 0) {
		fprintf(stderr, "uvfio list: cannot read PCI devices: %s\n", strerror(-ret));
		return 1;
	}
	printf("%-12s %-9s %-6s %-5s %-16s %s\n", "BDF", "ID", "CLASS", "GROUP", "DRIVER",
	       "VFIO");
	for (size_t i = 0; i < n; i++) {
		const struct uvfio_host_device *d = &devs[i];
		char group[16];
		const char *state;

		snprintf(group, sizeof(group), "%d", d->iommu_group);
		if (d->iommu_group < 0)
			state = "no-iommu";
		else if (!d->group_viable)
			state = "group-not-viable";
		else
			state = d->vfio ? "bound" : "viable";
		printf("%-12s %04x:%04x %06x %-5s %-16s %s\n", d->bdf, d->vendor, d->device,
		       d->class_code, d->iommu_group < 0 ? "-" : group,
		       d->driver[0] ? d->driver : "-", state);
	}
	free(devs);
	list_mdevs();
	return 0;
}

static const char bind_usage[] =
	"usage: uvfio bind [--group] BDF\n"
	"  Binds a PCI device to its best vfio driver (a variant driver whose vfio_pci: alias\n"
	"  matches, else vfio-pci). Refuses when other devices of its IOMMU group stay on host\n"
	"  drivers, unless --group: then those are bound for VFIO too.\n";

int cmd_bind(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "group", no_argument, NULL, 'g' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char bdf[UVFIO_BDF_LEN];
	uint32_t flags = 0;
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "gh", opts, NULL)) != -1) {
		if (c == 'g') {
			flags |= UVFIO_HOST_BIND_GROUP;
		} else {
			fputs(bind_usage, c == 'h' ? stdout : stderr);
			return c == 'h' ? 0 : 2;
		}
	}
	if (optind != argc - 1) {
		fputs(bind_usage, stderr);
		return 2;
	}
	if (uvfio_host_parse_bdf(argv[optind], bdf) < 0) {
		fprintf(stderr, "uvfio bind: bad PCI address '%s' (DDDD:BB:DD.F)\n%s", argv[optind],
			bind_usage);
		return 2;
	}
	if (host_configure_from_env() < 0)
		return 2;
	if (uvfio_host_bind(argv[optind], flags) < 0)
		return 1;
	printf("%s: bound for VFIO\n", argv[optind]);
	return 0;
}

static const char unbind_usage[] =
	"usage: uvfio unbind BDF\n"
	"  Gives a device bound by `uvfio bind` back to the driver it had before.\n";

int cmd_unbind(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	char bdf[UVFIO_BDF_LEN];
	int c;

	optind = 1;
	while ((c = getopt_long(argc, argv, "h", opts, NULL)) != -1) {
		fputs(unbind_usage, c == 'h' ? stdout : stderr);
		return c == 'h' ? 0 : 2;
	}
	if (optind != argc - 1) {
		fputs(unbind_usage, stderr);
		return 2;
	}
	if (uvfio_host_parse_bdf(argv[optind], bdf) < 0) {
		fprintf(stderr, "uvfio unbind: bad PCI address '%s' (DDDD:BB:DD.F)\n%s", argv[optind],
			unbind_usage);
		return 2;
	}
	if (host_configure_from_env() < 0)
		return 2;
	if (uvfio_host_unbind(argv[optind]) < 0)
		return 1;
	printf("%s: unbound from VFIO\n", argv[optind]);
	return 0;
}
