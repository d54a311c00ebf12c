/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer: the text the user types. The command line's parsers (tools/uvfio/parse.c: numbers,
 * regions, sizes, --mem SIZE@IOVA, --write REGION:OFF=VAL/W) and device declarations
 * ("edu,dma_mask=0xfff,name=x": lib/device/options.c, then the driver's own option parsing
 * through uvfio_pci_create). What a parser accepts must satisfy what it promises.
 *
 * Input: [mode] then the text (NUL-terminated by the harness). mode bit 0: also create the
 * device the text declares (slower: drivers start threads).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/driver.h>
#include <uvfio/log.h>
#include <uvfio/pci.h>

#include "parse.h"

static void check_options(const char *text)
{
	struct uvfio_options *o = uvfio_options_parse(text);
	uint64_t u;
	bool b;

	if (!o)
		return;
	(void)uvfio_options_name(o);
	(void)uvfio_options_has(o, "name");
	(void)uvfio_options_get(o, "mem", "x");
	(void)uvfio_options_get_u64(o, "dma_mask", 7, &u);
	(void)uvfio_options_get_bool(o, "flr", false, &b);
	(void)uvfio_options_unused(o);
	uvfio_options_free(o);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	struct uvfio_dirty_range r;
	struct reg_write w;
	uint64_t v;
	char *s, name[32];
	int region;

	if (!init) {
		uvfio_log_set_level(0);
		uvfio_register_builtin_drivers();
		init = true;
	}
	if (size < 1)
		return 0;
	s = malloc(size);
	if (!s)
		abort();
	memcpy(s, data + 1, size - 1);
	s[size - 1] = '\0';

	(void)parse_u64(s, &v);
	region = parse_region(s);
	if (region >= 1024)
		abort();
	if (region >= 0)
		(void)region_name((uint32_t)region, name, sizeof(name));
	(void)parse_size(s, &v);
	if (parse_mem(s, &r) && (!r.length || r.length % 4096 || r.iova % 4096 ||
				 r.iova + r.length <= r.iova))
		abort();
	if (parse_write(s, &w) &&
	    ((w.width != 1 && w.width != 2 && w.width != 4 && w.width != 8) ||
	     (w.width < 8 && w.value >> (8 * w.width)) || w.region >= 1024))
		abort();
	check_options(s);
	if (data[0] & 1) {
		struct uvfio_pci_device *pdev;

		if (uvfio_pci_create(s, &pdev) == 0)
			uvfio_pci_device_free(pdev);
	}
	free(s);
	return 0;
}
