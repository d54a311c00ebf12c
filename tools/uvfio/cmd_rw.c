/* SPDX-License-Identifier: MIT */
/* uvfio read|write URL REGION OFFSET [VALUE] [--width 1|2|4|8] */
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <uvfio/client.h>

#include "commands.h"

static void help(const char *cmd)
{
	printf("usage: uvfio %s URL REGION OFFSET%s [--width 1|2|4|8]\n\n"
	       "REGION: bar0..bar5, rom, config, vga, or a region number.\n"
	       "OFFSET%s: hex (0x...) or decimal. Width defaults to 4 bytes (little-endian).\n"
	       "Prints the value %s as 0x...\n",
	       cmd, strcmp(cmd, "write") ? "" : " VALUE", strcmp(cmd, "write") ? "" : ", VALUE",
	       strcmp(cmd, "write") ? "read" : "written");
}

/* Like vfio-pci (and a real bus), the device refuses BAR access while decoding is off or the BAR
 * has no address; a one-off access from the command line sets the device up as firmware would
 * (uvfio's server resets the device when we leave, QEMU's exits). */
static int setup_for(struct uvfio_handle *h, int region)
{
	int ret;

	if (region > UVFIO_PCI_ROM_REGION)
		return 0;
	ret = uvfio_pci_setup(h, 0);
	return ret < 0 ? ret : 0;
}

static int rw_main(int argc, char **argv, bool is_write)
{
	static const struct option opts[] = {
		{ "width", required_argument, NULL, 'w' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	const char *cmd = is_write ? "write" : "read";
	int want = is_write ? 4 : 3, region, c, ret;
	uint64_t width = 4, offset, value = 0;
	struct uvfio_handle *h = NULL;
	ssize_t n;

	optind = 1;
	while ((c = getopt_long(argc, argv, "w:h", opts, NULL)) != -1) {
		if (c == 'h') {
			help(cmd);
			return EXIT_OK;
		}
		if (c != 'w')
			return usage_error(cmd, "bad option");
		if (!parse_u64(optarg, &width) || (width != 1 && width != 2 && width != 4 && width != 8))
			return usage_error(cmd, "--width must be 1, 2, 4 or 8");
	}
	if (argc - optind != want)
		return usage_error(cmd, "expected URL REGION OFFSET%s", is_write ? " VALUE" : "");
	region = parse_region(argv[optind + 1]);
	if (region < 0)
		return usage_error(cmd, "bad region '%s'", argv[optind + 1]);
	if (!parse_u64(argv[optind + 2], &offset))
		return usage_error(cmd, "bad offset '%s'", argv[optind + 2]);
	if (is_write && !parse_u64(argv[optind + 3], &value))
		return usage_error(cmd, "bad value '%s'", argv[optind + 3]);
	if (is_write && width < 8 && value >> (8 * width))
		return usage_error(cmd, "value 0x%llx does not fit in %u bytes",
				   (unsigned long long)value, (unsigned)width);
	ret = uvfio_open(argv[optind], &h);
	if (ret < 0) {
		fprintf(stderr, "uvfio %s: cannot open %s: %s\n", cmd, argv[optind], strerror(-ret));
		return EXIT_FAILED;
	}
	ret = setup_for(h, region);
	if (ret < 0)
		fprintf(stderr, "uvfio %s: cannot set the device up (BARs, decoding): %s\n", cmd,
			strerror(-ret));
	/* Little-endian hosts only (as vfio-user itself): the low bytes of value are the access. */
	if (is_write)
		n = uvfio_region_write(h, (uint32_t)region, offset, &value, width);
	else
		n = uvfio_region_read(h, (uint32_t)region, offset, &value, width);
	uvfio_close(h);
	if (n < 0) {
		fprintf(stderr, "uvfio %s: %s at 0x%llx: %s\n", cmd, argv[optind + 1],
			(unsigned long long)offset, strerror((int)-n));
		return EXIT_FAILED;
	}
	printf("0x%0*llx\n", (int)width * 2, (unsigned long long)value);
	return EXIT_OK;
}

int cmd_read(int argc, char **argv)
{
	return rw_main(argc, argv, false);
}

int cmd_write(int argc, char **argv)
{
	return rw_main(argc, argv, true);
}
