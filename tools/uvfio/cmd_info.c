/* SPDX-License-Identifier: MIT */
/* uvfio info URL [--json]: device, regions, irqs, and config space decoded like lspci -vvv. */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <string.h>

#include <linux/vfio.h>

#include <uvfio/client.h>

#include "commands.h"
#include "lspci.h"
#include "out.h"

#define CFG_MAX 4096

static const char *const irq_names[] = { "INTx", "MSI", "MSI-X", "ERR", "REQ" };

static void help(void)
{
	printf("usage: uvfio info URL [--json]\n\n"
	       "Shows the device flags, every region (size, flags, mmap areas, type), every irq\n"
	       "index (count, flags) and the PCI config space decoded like 'lspci -vvv'.\n"
	       "--json prints the same as one JSON document.\n");
}

/* A list in JSON, a headed block in text. */
static void section(struct out *o, const char *label)
{
	if (out_is_json(o))
		out_begin_list(o, label);
	else
		out_begin(o, label, "%s:", label);
}

static void show_region(struct out *o, const struct uvfio_region_info *r, uint64_t *size_out)
{
	static const struct out_bit bits[] = {
		{ "READ", VFIO_REGION_INFO_FLAG_READ }, { "WRITE", VFIO_REGION_INFO_FLAG_WRITE },
		{ "MMAP", VFIO_REGION_INFO_FLAG_MMAP }, { "CAPS", VFIO_REGION_INFO_FLAG_CAPS },
		{ NULL, 0 },
	};
	char name[32];

	region_name(r->index, name, sizeof(name));
	*size_out = r->size;
	out_begin(o, "Region", "%s: size 0x%llx", name, (unsigned long long)r->size);
	if (out_is_json(o)) {
		out_num(o, "index", r->index, "%u", r->index);
		out_str(o, "name", "%s", name);
		out_num(o, "size", r->size, "0x%llx", (unsigned long long)r->size);
		out_num(o, "offset", r->offset, "0x%llx", (unsigned long long)r->offset);
	}
	out_bits(o, "Flags", bits, r->flags);
	if (r->flags & VFIO_REGION_INFO_FLAG_MMAP) {
		section(o, "Mmap");
		if (!r->nr_sparse) {
			out_begin(o, "Area", "0x0-0x%llx (whole region)",
				  (unsigned long long)r->size);
			if (out_is_json(o)) {
				out_num(o, "offset", 0, "0");
				out_num(o, "size", r->size, "-");
			}
			out_end(o);
		}
		for (uint32_t i = 0; i < r->nr_sparse; i++) {
			const struct uvfio_sparse_area *a = &r->sparse[i];

			out_begin(o, "Area", "0x%llx-0x%llx (sparse)", (unsigned long long)a->offset,
				  (unsigned long long)(a->offset + a->size));
			if (out_is_json(o)) {
				out_num(o, "offset", a->offset, "-");
				out_num(o, "size", a->size, "-");
			}
			out_end(o);
		}
		out_end(o);
	}
	if (r->has_type)
		out_str(o, "Type", "0x%x subtype 0x%x", r->type, r->subtype);
	if (r->msix_mappable)
		out_str(o, "MSI-X", "mappable");
	out_end(o);
}

static int show_regions(struct out *o, struct uvfio_handle *h, uint32_t n, uint64_t *sizes)
{
	section(o, "Regions");
	for (uint32_t i = 0; i < n; i++) {
		struct uvfio_region_info r;
		uint64_t size = 0;
		int ret = uvfio_get_region_info(h, i, &r);

		if (ret < 0) {
			fprintf(stderr, "uvfio info: region %u: %s\n", i, strerror(-ret));
			out_end(o);
			return ret;
		}
		if (!r.size && !r.flags)
			continue; /* not implemented by the device */
		show_region(o, &r, &size);
		if (i < 7)
			sizes[i] = size;
	}
	out_end(o);
	return 0;
}

static int show_irqs(struct out *o, struct uvfio_handle *h, uint32_t n)
{
	static const struct out_bit bits[] = {
		{ "EVENTFD", VFIO_IRQ_INFO_EVENTFD }, { "MASKABLE", VFIO_IRQ_INFO_MASKABLE },
		{ "AUTOMASKED", VFIO_IRQ_INFO_AUTOMASKED }, { "NORESIZE", VFIO_IRQ_INFO_NORESIZE },
		{ NULL, 0 },
	};

	section(o, "IRQs");
	for (uint32_t i = 0; i < n; i++) {
		struct uvfio_irq_info irq;
		int ret = uvfio_get_irq_info(h, i, &irq);

		/* An mdev may count the PCI irq indexes but answer only those it emulates (mtty:
		 * INTx and MSI, -EINVAL for the rest): shown as none, as vfio-pci shows them. */
		if (ret == -EINVAL) {
			irq = (struct uvfio_irq_info){ .index = i };
			ret = 0;
		}
		if (ret < 0) {
			fprintf(stderr, "uvfio info: irq index %u: %s\n", i, strerror(-ret));
			out_end(o);
			return ret;
		}
		out_begin(o, "IRQ", "%s: count %u", i < 5 ? irq_names[i] : "IRQ", irq.count);
		if (out_is_json(o)) {
			out_num(o, "index", i, "%u", i);
			out_str(o, "name", "%s", i < 5 ? irq_names[i] : "other");
			out_num(o, "count", irq.count, "%u", irq.count);
		}
		out_bits(o, "Flags", bits, irq.flags);
		out_end(o);
	}
	out_end(o);
	return 0;
}

static int show_config(struct out *o, struct uvfio_handle *h, const uint64_t *sizes)
{
	static uint8_t cfg[CFG_MAX];
	struct uvfio_region_info r;
	size_t len;
	int ret = uvfio_get_region_info(h, VFIO_PCI_CONFIG_REGION_INDEX, &r);

	if (ret < 0)
		return ret;
	len = r.size < CFG_MAX ? (size_t)r.size : CFG_MAX;
	if (len < 64) {
		fprintf(stderr, "uvfio info: config space of %zu bytes\n", len);
		return -EINVAL;
	}
	ret = uvfio_config_read(h, 0, cfg, len);
	if (ret < 0)
		return ret;
	out_begin(o, "Config", "Config space:");
	lspci_decode(o, cfg, len, sizes);
	out_end(o);
	return 0;
}

static int info(struct out *o, struct uvfio_handle *h, const char *url)
{
	static const struct out_bit flags[] = {
		{ "RESET", VFIO_DEVICE_FLAGS_RESET }, { "PCI", VFIO_DEVICE_FLAGS_PCI }, { NULL, 0 },
	};
	struct uvfio_device_info di;
	uint64_t sizes[7] = { 0 };
	int ret = uvfio_get_device_info(h, &di);

	if (ret < 0)
		return ret;
	out_str(o, "URL", "%s", url);
	out_str(o, "Backend", "%s", uvfio_backend_name(h));
	out_bits(o, "Device flags", flags, di.flags);
	out_num(o, "Regions count", di.num_regions, "%u", di.num_regions);
	out_num(o, "IRQ indexes", di.num_irqs, "%u", di.num_irqs);
	ret = show_regions(o, h, di.num_regions, sizes);
	if (ret == 0)
		ret = show_irqs(o, h, di.num_irqs);
	if (ret == 0 && (di.flags & VFIO_DEVICE_FLAGS_PCI) &&
	    di.num_regions > VFIO_PCI_CONFIG_REGION_INDEX)
		ret = show_config(o, h, sizes);
	return ret;
}

int cmd_info(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct uvfio_handle *h = NULL;
	bool json = false;
	struct out *o;
	int c, ret;

	optind = 1;
	while ((c = getopt_long(argc, argv, "jh", opts, NULL)) != -1) {
		if (c == 'h') {
			help();
			return EXIT_OK;
		}
		if (c != 'j')
			return usage_error("info", "bad option");
		json = true;
	}
	if (argc - optind != 1)
		return usage_error("info", "expected one URL");
	ret = open_url("info", argv[optind], &h);
	if (ret)
		return ret;
	o = out_new(json);
	if (!o) {
		uvfio_close(h);
		return EXIT_FAILED;
	}
	ret = info(o, h, argv[optind]);
	if (ret < 0) {
		char buf[300];
		/* A partial JSON document is not printed. */
		out_discard(o);
		fprintf(stderr, "uvfio info: %s: %s\n", argv[optind],
			why(h, ret, buf, sizeof(buf)));
		uvfio_close(h);
		return EXIT_FAILED;
	}
	uvfio_close(h);
	out_finish(o);
	return ret < 0 ? EXIT_FAILED : EXIT_OK;
}
