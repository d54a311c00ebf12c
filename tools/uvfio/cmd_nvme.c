/* SPDX-License-Identifier: MIT */
/*
 * uvfio nvme list|id-ctrl|id-ns|smart-log|get-feature|read|write|flush|format URL [options]:
 * nvme-cli's commands and options, through the userspace NVMe driver, on any URL the client API
 * opens. Text like nvme-cli's, or --json (-o json).
 */
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <uvfio/nvme.h>

#include "commands.h"
#include "nvme_cli.h"
#include "nvme/nvme_spec.h"
#include "out.h"

static void help(void)
{
	printf("usage: uvfio nvme COMMAND URL [options]\n\n"
	       "Commands (as nvme-cli):\n"
	       "  list         the controller and its namespaces\n"
	       "  id-ctrl      Identify Controller\n"
	       "  id-ns        Identify Namespace (-n)\n"
	       "  smart-log    SMART / Health log\n"
	       "  get-feature  Get Features -f FID [-n NSID] [--cdw11 V]\n"
	       "  read|write   -n NSID -s START -c COUNT(0-based) [-z SIZE] [-d FILE|-]\n"
	       "  flush        -n NSID\n"
	       "  format       -n NSID [-l LBAF] [--ses S]\n\n"
	       "Options:\n"
	       "  -n, --namespace-id N   namespace (default 1)\n"
	       "  -s, --start-block LBA  first block\n"
	       "  -c, --block-count N    blocks - 1 (0 means one block)\n"
	       "  -z, --data-size BYTES  bytes to transfer (default: the blocks' size)\n"
	       "  -d, --data FILE        read: write the data there; write: take it from there\n"
	       "                         ('-' or none: stdout / stdin)\n"
	       "  -f, --feature-id FID   feature for get-feature\n"
	       "  -l, --lbaf N           LBA format for format;  --ses N secure erase setting\n"
	       "  --irq poll|auto|msix|msi|intx   completion mode (default poll)\n"
	       "  -o json, --json        JSON output\n");
}

static int parse(int argc, char **argv, struct nvme_args *a)
{
	static const struct option opts[] = {
		{ "namespace-id", required_argument, NULL, 'n' },
		{ "start-block", required_argument, NULL, 's' },
		{ "block-count", required_argument, NULL, 'c' },
		{ "data-size", required_argument, NULL, 'z' },
		{ "data", required_argument, NULL, 'd' },
		{ "feature-id", required_argument, NULL, 'f' },
		{ "cdw11", required_argument, NULL, 'W' },
		{ "lbaf", required_argument, NULL, 'l' },
		{ "ses", required_argument, NULL, 'S' },
		{ "irq", required_argument, NULL, 'I' },
		{ "output-format", required_argument, NULL, 'o' },
		{ "json", no_argument, NULL, 'j' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static const char *const irqs[] = { "auto", "poll", "msix", "msi", "intx" };
	uint64_t v;
	int c;

	a->nsid = 1;
	a->irq = UVFIO_NVME_IRQ_POLL;
	optind = 1;
	while ((c = getopt_long(argc, argv, "n:s:c:z:d:f:l:o:h", opts, NULL)) != -1) {
		switch (c) {
		case 'h':
			help();
			return EXIT_OK;
		case 'n':
			if (!parse_u64(optarg, &v) || !v || v > 0xffffffffu)
				return usage_error("nvme", "bad --namespace-id '%s'", optarg);
			a->nsid = (uint32_t)v;
			a->nsid_set = true;
			break;
		case 's':
			if (!parse_u64(optarg, &a->slba))
				return usage_error("nvme", "bad --start-block '%s'", optarg);
			break;
		case 'c':
			if (!parse_u64(optarg, &a->nlb0) || a->nlb0 > 0xffff)
				return usage_error("nvme", "bad --block-count '%s' (0..65535)", optarg);
			break;
		case 'z':
			if (!parse_u64(optarg, &a->data_size) || !a->data_size)
				return usage_error("nvme", "bad --data-size '%s'", optarg);
			break;
		case 'd':
			a->data = optarg;
			break;
		case 'f':
			if (!parse_u64(optarg, &a->fid) || a->fid > 0xff)
				return usage_error("nvme", "bad --feature-id '%s'", optarg);
			a->fid_set = true;
			break;
		case 'W':
			if (!parse_u64(optarg, &a->cdw11) || a->cdw11 > 0xffffffffu)
				return usage_error("nvme", "bad --cdw11 '%s'", optarg);
			break;
		case 'l':
			if (!parse_u64(optarg, &a->lbaf) || a->lbaf > 63)
				return usage_error("nvme", "bad --lbaf '%s'", optarg);
			break;
		case 'S':
			if (!parse_u64(optarg, &a->ses) || a->ses > 7)
				return usage_error("nvme", "bad --ses '%s'", optarg);
			break;
		case 'I':
			a->irq = -1;
			for (int i = 0; i < 5; i++)
				if (!strcmp(optarg, irqs[i]))
					a->irq = i;
			if (a->irq < 0)
				return usage_error("nvme", "bad --irq '%s'", optarg);
			break;
		case 'o':
			if (strcmp(optarg, "json") && strcmp(optarg, "normal"))
				return usage_error("nvme", "bad --output-format '%s' (normal|json)",
						   optarg);
			a->json = !strcmp(optarg, "json");
			break;
		case 'j':
			a->json = true;
			break;
		default:
			return usage_error("nvme", "bad option");
		}
	}
	if (argc - optind != 2)
		return usage_error("nvme", "expected COMMAND URL");
	a->sub = argv[optind];
	a->url = argv[optind + 1];
	return -1;
}

int nvme_fail(const char *what, int st)
{
	if (st > 0)
		fprintf(stderr, "uvfio nvme: %s: NVMe status: %s (SCT 0x%x SC 0x%02x)\n", what,
			uvfio_nvme_strstatus(st), (st >> 8) & 7, st & 0xff);
	else
		fprintf(stderr, "uvfio nvme: %s: %s\n", what, uvfio_nvme_strstatus(st));
	return EXIT_FAILED;
}

static void str_field(struct out *o, const char *label, const char *s, size_t n)
{
	char buf[257];

	memcpy(buf, s, n);
	buf[n] = '\0';
	while (n && (buf[n - 1] == ' ' || !buf[n - 1]))
		buf[--n] = '\0';
	out_str(o, label, "%s", buf);
}

static int id_ctrl(struct uvfio_nvme_ctrl *c, struct out *o)
{
	const struct nvme_id_ctrl *id = uvfio_nvme_ctrl_identify_data(c);

	out_begin(o, "id-ctrl", "NVME Identify Controller:");
	out_num(o, "vid", id->vid, "%#x", id->vid);
	out_num(o, "ssvid", id->ssvid, "%#x", id->ssvid);
	str_field(o, "sn", id->sn, sizeof(id->sn));
	str_field(o, "mn", id->mn, sizeof(id->mn));
	str_field(o, "fr", id->fr, sizeof(id->fr));
	out_num(o, "mdts", id->mdts, "%u", id->mdts);
	out_num(o, "cntlid", id->cntlid, "%#x", id->cntlid);
	out_num(o, "ver", id->ver, "%#x", id->ver);
	out_num(o, "oacs", id->oacs, "%#x", id->oacs);
	out_num(o, "acl", id->acl, "%u", id->acl);
	out_num(o, "aerl", id->aerl, "%u", id->aerl);
	out_num(o, "lpa", id->lpa, "%#x", id->lpa);
	out_num(o, "sqes", id->sqes, "%#x", id->sqes);
	out_num(o, "cqes", id->cqes, "%#x", id->cqes);
	out_num(o, "nn", id->nn, "%u", id->nn);
	out_num(o, "oncs", id->oncs, "%#x", id->oncs);
	out_num(o, "vwc", id->vwc, "%#x", id->vwc);
	out_num(o, "sgls", id->sgls, "%#x", id->sgls);
	str_field(o, "subnqn", id->subnqn, sizeof(id->subnqn));
	out_end(o);
	return EXIT_OK;
}

static int id_ns(struct uvfio_nvme_ctrl *c, struct out *o, uint32_t nsid)
{
	struct nvme_id_ns ns;
	int st = uvfio_nvme_identify(c, NVME_ID_CNS_NS, nsid, &ns);

	if (st)
		return nvme_fail("Identify Namespace", st);
	out_begin(o, "id-ns", "NVME Identify Namespace %u:", nsid);
	out_num(o, "nsze", ns.nsze, "%#llx", (unsigned long long)ns.nsze);
	out_num(o, "ncap", ns.ncap, "%#llx", (unsigned long long)ns.ncap);
	out_num(o, "nuse", ns.nuse, "%#llx", (unsigned long long)ns.nuse);
	out_num(o, "nsfeat", ns.nsfeat, "%#x", ns.nsfeat);
	out_num(o, "nlbaf", ns.nlbaf, "%u", ns.nlbaf);
	out_num(o, "flbas", ns.flbas, "%#x", ns.flbas);
	out_num(o, "dlfeat", ns.dlfeat, "%u", ns.dlfeat);
	out_begin_list(o, "lbafs");
	for (int i = 0; i <= ns.nlbaf && i < 64; i++) {
		const struct nvme_lbaf *f = &ns.lbaf[i];
		bool in_use = (ns.flbas & NVME_NS_FLBAS_LBA_MASK) == i;

		out_begin(o, "lbaf", "lbaf %2d : ms:%-3u lbads:%-2u rp:%#x%s", i, f->ms, f->ds, f->rp,
			  in_use ? " (in use)" : "");
		if (out_is_json(o)) {
			out_num(o, "ms", f->ms, "%u", f->ms);
			out_num(o, "ds", f->ds, "%u", f->ds);
			out_num(o, "rp", f->rp, "%u", f->rp);
		}
		out_end(o);
	}
	out_end(o);
	out_end(o);
	return EXIT_OK;
}

static int list(struct uvfio_nvme_ctrl *c, struct out *o, const char *url)
{
	struct uvfio_nvme_ctrl_info ci;
	uint32_t ids[64];
	int n = uvfio_nvme_ns_list(c, ids, 64);

	if (n < 0)
		return nvme_fail("namespace list", n);
	uvfio_nvme_ctrl_get_info(c, &ci);
	if (!out_is_json(o))
		printf("%-40s %-20s %-40s %-9s %-26s %-8s\n%s\n", "Node", "SN", "Model", "Namespace",
		       "Usage", "FW Rev",
		       "---------------------------------------- -------------------- "
		       "---------------------------------------- --------- "
		       "-------------------------- --------");
	out_begin_list(o, "devices");
	for (int i = 0; i < n && i < 64; i++) {
		struct uvfio_nvme_ns_info ns;
		int st = uvfio_nvme_ns_get_info(c, ids[i], &ns);

		if (st)
			return nvme_fail("Identify Namespace", st);
		if (out_is_json(o)) {
			out_begin(o, "device", "%s", url);
			out_str(o, "DevicePath", "%s", url);
			out_str(o, "SerialNumber", "%s", ci.sn);
			out_str(o, "ModelNumber", "%s", ci.mn);
			out_str(o, "Firmware", "%s", ci.fr);
			out_num(o, "NameSpace", ids[i], "%u", ids[i]);
			out_num(o, "UsedBytes", ns.nuse * ns.lba_size, "%llu",
				(unsigned long long)(ns.nuse * ns.lba_size));
			out_num(o, "PhysicalSize", ns.nsze * ns.lba_size, "%llu",
				(unsigned long long)(ns.nsze * ns.lba_size));
			out_num(o, "SectorSize", ns.lba_size, "%u", ns.lba_size);
			out_end(o);
		} else {
			char usage[64];

			snprintf(usage, sizeof(usage), "%.2f MB / %.2f MB",
				 ns.nuse * ns.lba_size / 1e6, ns.nsze * ns.lba_size / 1e6);
			printf("%-40s %-20s %-40s %-9u %-26s %-8s\n", url, ci.sn, ci.mn, ids[i],
			       usage, ci.fr);
		}
	}
	out_end(o);
	return EXIT_OK;
}

static int smart_log(struct uvfio_nvme_ctrl *c, struct out *o, uint32_t nsid)
{
	struct nvme_smart_log s;
	int st = uvfio_nvme_get_log_page(c, NVME_LOG_SMART, nsid, &s, sizeof(s));

	if (st)
		return nvme_fail("SMART log", st);
	out_begin(o, "smart-log", "Smart Log for NVME device namespace-id:%x", nsid);
	out_num(o, "critical_warning", s.critical_warning, "%#x", s.critical_warning);
	out_num(o, "temperature", s.temperature, "%u K (%d C)", s.temperature,
		(int)s.temperature - 273);
	out_num(o, "avail_spare", s.avail_spare, "%u%%", s.avail_spare);
	out_num(o, "spare_thresh", s.spare_thresh, "%u%%", s.spare_thresh);
	out_num(o, "percent_used", s.percent_used, "%u%%", s.percent_used);
	uint64_t lo;
	/* The low half of each 128-bit counter (packed struct: copied out). */
#define CTR(name, field)                                                                           \
	(lo = s.field[0], out_num(o, name, lo, "%llu", (unsigned long long)lo))
	CTR("data_units_read", data_units_read);
	CTR("data_units_written", data_units_written);
	CTR("host_read_commands", host_reads);
	CTR("host_write_commands", host_writes);
	CTR("controller_busy_time", ctrl_busy_time);
	CTR("power_cycles", power_cycles);
	CTR("power_on_hours", power_on_hours);
	CTR("unsafe_shutdowns", unsafe_shutdowns);
	CTR("media_errors", media_errors);
	CTR("num_err_log_entries", num_err_log_entries);
#undef CTR
	out_end(o);
	return EXIT_OK;
}

static const char *feature_name(uint8_t fid)
{
	switch (fid) {
	case NVME_FEAT_ARBITRATION: return "Arbitration";
	case NVME_FEAT_POWER_MGMT: return "Power Management";
	case NVME_FEAT_TEMP_THRESH: return "Temperature Threshold";
	case NVME_FEAT_ERR_RECOVERY: return "Error Recovery";
	case NVME_FEAT_VOLATILE_WC: return "Volatile Write Cache";
	case NVME_FEAT_NUM_QUEUES: return "Number of Queues";
	case NVME_FEAT_IRQ_COALESCE: return "Interrupt Coalescing";
	case NVME_FEAT_IRQ_CONFIG: return "Interrupt Vector Configuration";
	case NVME_FEAT_WRITE_ATOMIC: return "Write Atomicity Normal";
	case NVME_FEAT_ASYNC_EVENT: return "Async Event Configuration";
	case NVME_FEAT_TIMESTAMP: return "Timestamp";
	case NVME_FEAT_KATO: return "Keep Alive Timer";
	default: return "Unknown";
	}
}

static int get_feature(struct uvfio_nvme_ctrl *c, struct out *o, const struct nvme_args *a)
{
	uint32_t v = 0;
	int st = uvfio_nvme_get_features(c, (uint8_t)a->fid, a->nsid_set ? a->nsid : 0,
					 (uint32_t)a->cdw11, &v);

	if (st)
		return nvme_fail("Get Features", st);
	if (out_is_json(o)) {
		out_begin(o, "feature", "feature");
		out_num(o, "fid", a->fid, "%llu", (unsigned long long)a->fid);
		out_str(o, "name", "%s", feature_name((uint8_t)a->fid));
		out_num(o, "value", v, "%u", v);
		out_end(o);
	} else {
		printf("get-feature:%#04x (%s), Current value:0x%08x\n", (unsigned)a->fid,
		       feature_name((uint8_t)a->fid), v);
	}
	return EXIT_OK;
}

static int run(const struct nvme_args *a)
{
	struct uvfio_nvme_opts opts;
	struct uvfio_nvme_ctrl *c;
	struct out *o;
	int ret;

	uvfio_nvme_opts_default(&opts);
	opts.io_queues = 1;
	opts.irq = a->irq;
	ret = uvfio_nvme_open(a->url, &opts, &c);
	if (ret < 0) {
		fprintf(stderr, "uvfio nvme: cannot open the controller at %s: %s\n", a->url,
			strerror(-ret));
		return EXIT_FAILED;
	}
	o = out_new(a->json);
	if (!strcmp(a->sub, "list")) {
		ret = list(c, o, a->url);
	} else if (!strcmp(a->sub, "id-ctrl")) {
		ret = id_ctrl(c, o);
	} else if (!strcmp(a->sub, "id-ns")) {
		ret = id_ns(c, o, a->nsid);
	} else if (!strcmp(a->sub, "smart-log")) {
		ret = smart_log(c, o, a->nsid_set ? a->nsid : NVME_NSID_ALL);
	} else if (!strcmp(a->sub, "get-feature")) {
		ret = get_feature(c, o, a);
	} else if (!strcmp(a->sub, "format")) {
		ret = uvfio_nvme_format(c, a->nsid, (uint8_t)a->lbaf, (uint8_t)a->ses);
		ret = ret ? nvme_fail("Format NVM", ret) : EXIT_OK;
		if (ret == EXIT_OK && !a->json)
			printf("Success formatting namespace:%x\n", a->nsid);
	} else {
		ret = nvme_cmd_io(c, a);
	}
	if (ret == EXIT_OK)
		out_finish(o);
	else
		out_discard(o);
	uvfio_nvme_ctrl_close(c);
	return ret;
}

int cmd_nvme(int argc, char **argv)
{
	static const char *const subs[] = { "list", "id-ctrl", "id-ns", "smart-log", "get-feature",
					    "read", "write", "flush", "format" };
	struct nvme_args a = { 0 };
	int ret = parse(argc, argv, &a);
	bool known = false;

	if (ret >= 0)
		return ret;
	for (size_t i = 0; i < sizeof(subs) / sizeof(subs[0]); i++)
		known |= !strcmp(a.sub, subs[i]);
	if (!known)
		return usage_error("nvme", "unknown command '%s'", a.sub);
	if (!strcmp(a.sub, "get-feature") && !a.fid_set)
		return usage_error("nvme", "get-feature needs --feature-id");
	return run(&a);
}
