/* SPDX-License-Identifier: MIT */
/*
 * Config space decoded the way `lspci -vvv` shows it. Works on a copy of config space read from
 * the device, so every capability pointer is bounded by that copy and the walks are limited.
 */
#include <stdio.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "lspci.h"

#define MAX_CAPS 48
#define MAX_EXT_CAPS 96

static uint32_t rd(const uint8_t *cfg, size_t len, uint32_t off, unsigned size)
{
	uint32_t v = 0;

	if (off + size > len)
		return 0;
	for (unsigned i = 0; i < size; i++)
		v |= (uint32_t)cfg[off + i] << (8 * i);
	return v;
}

#define RD8(off) rd(cfg, len, (off), 1)
#define RD16(off) rd(cfg, len, (off), 2)
#define RD32(off) rd(cfg, len, (off), 4)

static const char *class_name(uint32_t cls)
{
	static const struct {
		uint16_t code; /* base << 8 | sub */
		const char *name;
	} names[] = {
		{ 0x0000, "Non-VGA unclassified device" }, { 0x0100, "SCSI storage controller" },
		{ 0x0101, "IDE interface" }, { 0x0106, "SATA controller" },
		{ 0x0108, "Non-Volatile memory controller" }, { 0x0180, "Mass storage controller" },
		{ 0x0200, "Ethernet controller" }, { 0x0280, "Network controller" },
		{ 0x0300, "VGA compatible controller" }, { 0x0380, "Display controller" },
		{ 0x0401, "Multimedia audio controller" }, { 0x0403, "Audio device" },
		{ 0x0500, "RAM memory" }, { 0x0600, "Host bridge" }, { 0x0601, "ISA bridge" },
		{ 0x0604, "PCI bridge" }, { 0x0780, "Communication controller" },
		{ 0x0880, "System peripheral" }, { 0x0c03, "USB controller" },
		{ 0x0c05, "SMBus" }, { 0x1200, "Processing accelerators" },
		{ 0xff00, "Unassigned class" },
	};
	uint16_t code = (uint16_t)(cls >> 8);

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].code == code)
			return names[i].name;
	return code >> 8 == 0x00 ? "Unclassified device" : "Device";
}

static void ids(struct out *o, const uint8_t *cfg, size_t len)
{
	uint32_t cls = RD32(PCI_CLASS_REVISION) >> 8;

	out_str(o, "Device", "%04x:%04x (rev %02x)", RD16(PCI_VENDOR_ID), RD16(PCI_DEVICE_ID),
		RD8(PCI_REVISION_ID));
	out_str(o, "Class", "%s [%04x] (prog-if %02x)", class_name(cls), cls >> 8, cls & 0xff);
	out_str(o, "Subsystem", "%04x:%04x", RD16(PCI_SUBSYSTEM_VENDOR_ID), RD16(PCI_SUBSYSTEM_ID));
	out_num(o, "Header type", RD8(PCI_HEADER_TYPE), "%02x", RD8(PCI_HEADER_TYPE));
}

static void cmd_status(struct out *o, const uint8_t *cfg, size_t len)
{
	static const struct out_bit cmd[] = {
		{ "I/O", PCI_COMMAND_IO }, { "Mem", PCI_COMMAND_MEMORY },
		{ "BusMaster", PCI_COMMAND_MASTER }, { "SpecCycle", PCI_COMMAND_SPECIAL },
		{ "MemWINV", PCI_COMMAND_INVALIDATE }, { "VGASnoop", PCI_COMMAND_VGA_PALETTE },
		{ "ParErr", PCI_COMMAND_PARITY }, { "SERR", PCI_COMMAND_SERR },
		{ "FastB2B", PCI_COMMAND_FAST_BACK }, { "DisINTx", PCI_COMMAND_INTX_DISABLE },
		{ NULL, 0 },
	};
	static const struct out_bit sta[] = {
		{ "INTx", PCI_STATUS_INTERRUPT }, { "Cap", PCI_STATUS_CAP_LIST },
		{ "66MHz", PCI_STATUS_66MHZ }, { "FastB2B", PCI_STATUS_FAST_BACK },
		{ "ParErr", PCI_STATUS_PARITY }, { ">TAbort", PCI_STATUS_SIG_TARGET_ABORT },
		{ "<TAbort", PCI_STATUS_REC_TARGET_ABORT }, { "<MAbort", PCI_STATUS_REC_MASTER_ABORT },
		{ ">SERR", PCI_STATUS_SIG_SYSTEM_ERROR }, { "<PERR", PCI_STATUS_DETECTED_PARITY },
		{ NULL, 0 },
	};

	out_bits(o, "Control", cmd, RD16(PCI_COMMAND));
	out_bits(o, "Status", sta, RD16(PCI_STATUS));
}

static void size_text(char *buf, size_t n, uint64_t size)
{
	static const char *const unit[] = { "", "K", "M", "G", "T" };
	int u = 0;

	while (u < 4 && size >= 1024 && size % 1024 == 0) {
		size /= 1024;
		u++;
	}
	snprintf(buf, n, "%llu%s", (unsigned long long)size, unit[u]);
}

static void bars(struct out *o, const uint8_t *cfg, size_t len, const uint64_t *sizes)
{
	out_begin_list(o, "Regions");
	for (int i = 0; i < 6; i++) {
		uint32_t off = PCI_BASE_ADDRESS_0 + 4 * (uint32_t)i;
		uint32_t lo = RD32(off);
		bool io = lo & PCI_BASE_ADDRESS_SPACE_IO;
		bool is64 = !io && (lo & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64;
		bool pref = !io && (lo & PCI_BASE_ADDRESS_MEM_PREFETCH);
		uint64_t addr = io ? lo & PCI_BASE_ADDRESS_IO_MASK : lo & PCI_BASE_ADDRESS_MEM_MASK;
		char sz[32];

		if (is64 && i < 5)
			addr |= (uint64_t)RD32(off + 4) << 32;
		if (!sizes[i] && !lo) {
			continue;
		}
		size_text(sz, sizeof(sz), sizes[i]);
		out_begin(o, "Region", "Region %d: %s at %0*llx (%s%s) [size=%s]", i,
			  io ? "I/O ports" : "Memory", io ? 4 : 8, (unsigned long long)addr,
			  io ? "I/O" : is64 ? "64-bit" : "32-bit",
			  io ? "" : pref ? ", prefetchable" : ", non-prefetchable", sz);
		if (out_is_json(o)) {
			out_num(o, "bar", (uint64_t)i, "%d", i);
			out_str(o, "type", "%s", io ? "io" : is64 ? "mem64" : "mem32");
			out_num(o, "address", addr, "%llx", (unsigned long long)addr);
			out_num(o, "size", sizes[i], "%s", sz);
			out_num(o, "prefetchable", pref, "%d", pref);
		}
		out_end(o);
		if (is64)
			i++;
	}
	out_end(o);
	if (sizes[6] || RD32(PCI_ROM_ADDRESS)) {
		uint32_t rom = RD32(PCI_ROM_ADDRESS);
		char sz[32];

		size_text(sz, sizeof(sz), sizes[6]);
		out_str(o, "Expansion ROM", "at %08x [%s] [size=%s]", rom & PCI_ROM_ADDRESS_MASK,
			rom & PCI_ROM_ADDRESS_ENABLE ? "enabled" : "disabled", sz);
	}
}

static void cap_pm(struct out *o, const uint8_t *cfg, size_t len, uint32_t p)
{
	uint16_t pmc = (uint16_t)RD16(p + PCI_PM_PMC), ctrl = (uint16_t)RD16(p + PCI_PM_CTRL);

	out_num(o, "Version", pmc & PCI_PM_CAP_VER_MASK, "%u", pmc & PCI_PM_CAP_VER_MASK);
	out_str(o, "Flags", "D1%c D2%c PME(D0%c,D3hot%c,D3cold%c)", pmc & PCI_PM_CAP_D1 ? '+' : '-',
		pmc & PCI_PM_CAP_D2 ? '+' : '-', pmc & PCI_PM_CAP_PME_D0 ? '+' : '-',
		pmc & PCI_PM_CAP_PME_D3hot ? '+' : '-', pmc & PCI_PM_CAP_PME_D3cold ? '+' : '-');
	out_str(o, "Status", "D%u NoSoftRst%c PME-Enable%c", ctrl & PCI_PM_CTRL_STATE_MASK,
		ctrl & PCI_PM_CTRL_NO_SOFT_RESET ? '+' : '-', ctrl & PCI_PM_CTRL_PME_ENABLE ? '+' : '-');
}

static void cap_msi(struct out *o, const uint8_t *cfg, size_t len, uint32_t p)
{
	uint16_t fl = (uint16_t)RD16(p + PCI_MSI_FLAGS);
	bool is64 = fl & PCI_MSI_FLAGS_64BIT, maskable = fl & PCI_MSI_FLAGS_MASKBIT;
	uint64_t addr = RD32(p + PCI_MSI_ADDRESS_LO);
	uint32_t data_off = is64 ? PCI_MSI_DATA_64 : PCI_MSI_DATA_32;
	uint32_t mask_off = is64 ? PCI_MSI_MASK_64 : PCI_MSI_MASK_32;

	if (is64)
		addr |= (uint64_t)RD32(p + PCI_MSI_ADDRESS_HI) << 32;
	out_num(o, "Enable", fl & PCI_MSI_FLAGS_ENABLE, "%c", fl & PCI_MSI_FLAGS_ENABLE ? '+' : '-');
	out_str(o, "Count", "%u/%u", 1u << ((fl & PCI_MSI_FLAGS_QSIZE) >> 4),
		1u << ((fl & PCI_MSI_FLAGS_QMASK) >> 1));
	out_num(o, "64bit", is64, "%c", is64 ? '+' : '-');
	out_num(o, "Maskable", maskable, "%c", maskable ? '+' : '-');
	out_num(o, "Address", addr, "%016llx", (unsigned long long)addr);
	out_num(o, "Data", RD16(p + data_off), "%04x", RD16(p + data_off));
	if (maskable) {
		out_num(o, "Masking", RD32(p + mask_off), "%08x", RD32(p + mask_off));
		out_num(o, "Pending", RD32(p + mask_off + 4), "%08x", RD32(p + mask_off + 4));
	}
}

static void cap_msix(struct out *o, const uint8_t *cfg, size_t len, uint32_t p)
{
	uint16_t fl = (uint16_t)RD16(p + PCI_MSIX_FLAGS);
	uint32_t table = RD32(p + PCI_MSIX_TABLE), pba = RD32(p + PCI_MSIX_PBA);

	out_num(o, "Enable", fl & PCI_MSIX_FLAGS_ENABLE, "%c",
		fl & PCI_MSIX_FLAGS_ENABLE ? '+' : '-');
	out_num(o, "Masked", fl & PCI_MSIX_FLAGS_MASKALL, "%c",
		fl & PCI_MSIX_FLAGS_MASKALL ? '+' : '-');
	out_num(o, "Count", (fl & PCI_MSIX_FLAGS_QSIZE) + 1u, "%u",
		(fl & PCI_MSIX_FLAGS_QSIZE) + 1u);
	out_str(o, "Vector table", "BAR=%u offset=%08x", table & PCI_MSIX_TABLE_BIR,
		table & PCI_MSIX_TABLE_OFFSET);
	out_str(o, "PBA", "BAR=%u offset=%08x", pba & PCI_MSIX_PBA_BIR, pba & PCI_MSIX_PBA_OFFSET);
}

static const char *exp_type(unsigned t)
{
	switch (t) {
	case PCI_EXP_TYPE_ENDPOINT: return "Express Endpoint";
	case PCI_EXP_TYPE_LEG_END: return "Legacy Endpoint";
	case PCI_EXP_TYPE_ROOT_PORT: return "Root Port";
	case PCI_EXP_TYPE_UPSTREAM: return "Upstream Port";
	case PCI_EXP_TYPE_DOWNSTREAM: return "Downstream Port";
	case PCI_EXP_TYPE_RC_END: return "Root Complex Integrated Endpoint";
	default: return "Other";
	}
}

static void cap_exp(struct out *o, const uint8_t *cfg, size_t len, uint32_t p)
{
	uint16_t fl = (uint16_t)RD16(p + PCI_EXP_FLAGS);
	uint32_t devcap = RD32(p + PCI_EXP_DEVCAP), lnkcap = RD32(p + PCI_EXP_LNKCAP);
	uint16_t devctl = (uint16_t)RD16(p + PCI_EXP_DEVCTL), lnksta = (uint16_t)RD16(p + PCI_EXP_LNKSTA);
	static const struct out_bit ctl[] = {
		{ "CorrErr", PCI_EXP_DEVCTL_CERE }, { "NonFatalErr", PCI_EXP_DEVCTL_NFERE },
		{ "FatalErr", PCI_EXP_DEVCTL_FERE }, { "UnsupReq", PCI_EXP_DEVCTL_URRE },
		{ "RlxdOrd", PCI_EXP_DEVCTL_RELAX_EN }, { "ExtTag", PCI_EXP_DEVCTL_EXT_TAG },
		{ "NoSnoop", PCI_EXP_DEVCTL_NOSNOOP_EN }, { NULL, 0 },
	};

	out_str(o, "Type", "%s, v%u", exp_type((fl & PCI_EXP_FLAGS_TYPE) >> 4),
		fl & PCI_EXP_FLAGS_VERS);
	out_str(o, "DevCap", "MaxPayload %u bytes, FLReset%c", 128u << (devcap & PCI_EXP_DEVCAP_PAYLOAD),
		devcap & PCI_EXP_DEVCAP_FLR ? '+' : '-');
	out_bits(o, "DevCtl", ctl, devctl);
	out_str(o, "LnkCap", "Port #%u, Speed %u, Width x%u", lnkcap >> 24,
		lnkcap & PCI_EXP_LNKCAP_SLS, (lnkcap & PCI_EXP_LNKCAP_MLW) >> 4);
	out_str(o, "LnkSta", "Speed %u, Width x%u", lnksta & PCI_EXP_LNKSTA_CLS,
		(lnksta & PCI_EXP_LNKSTA_NLW) >> PCI_EXP_LNKSTA_NLW_SHIFT);
}

static void cap_vendor(struct out *o, const uint8_t *cfg, size_t len, uint32_t p)
{
	uint8_t n = (uint8_t)RD8(p + 2);
	char hex[3 * 256 + 1] = "";
	size_t w = 0;

	for (uint32_t i = 3; i < n && p + i < len && w + 4 < sizeof(hex); i++)
		w += (size_t)snprintf(hex + w, sizeof(hex) - w, "%s%02x", w ? " " : "", cfg[p + i]);
	out_num(o, "Len", n, "%02x", n);
	out_str(o, "Data", "%s", hex);
}

typedef void (*cap_decode_fn)(struct out *o, const uint8_t *cfg, size_t len, uint32_t p);

static const struct {
	uint8_t id;
	const char *name;
	cap_decode_fn decode;
} cap_table[] = {
	{ PCI_CAP_ID_PM, "Power Management", cap_pm },
	{ PCI_CAP_ID_MSI, "MSI", cap_msi },
	{ PCI_CAP_ID_MSIX, "MSI-X", cap_msix },
	{ PCI_CAP_ID_EXP, "Express", cap_exp },
	{ PCI_CAP_ID_VNDR, "Vendor Specific Information", cap_vendor },
};

static void caps(struct out *o, const uint8_t *cfg, size_t len)
{
	uint32_t p = RD8(PCI_CAPABILITY_LIST) & ~3u;

	if (!(RD16(PCI_STATUS) & PCI_STATUS_CAP_LIST))
		return;
	out_begin_list(o, "Capabilities");
	for (int n = 0; p >= 0x40 && p + 4 <= 256 && n < MAX_CAPS; n++) {
		uint8_t id = (uint8_t)RD8(p);
		size_t k = 0;
		char unknown[32];

		while (k < sizeof(cap_table) / sizeof(cap_table[0]) && cap_table[k].id != id)
			k++;
		const char *name = k < sizeof(cap_table) / sizeof(cap_table[0]) ? cap_table[k].name
										  : NULL;
		if (!name) {
			snprintf(unknown, sizeof(unknown), "Capability ID %02x", id);
			name = unknown;
		}
		out_begin(o, "Cap", "Capabilities: [%02x] %s", p, name);
		if (out_is_json(o)) {
			out_str(o, "name", "%s", name);
			out_num(o, "offset", p, "%02x", p);
			out_num(o, "id", id, "%02x", id);
		}
		if (name != unknown)
			cap_table[k].decode(o, cfg, len, p);
		out_end(o);
		p = RD8(p + PCI_CAP_LIST_NEXT) & ~3u;
	}
	out_end(o);
}

static void ext_caps(struct out *o, const uint8_t *cfg, size_t len)
{
	uint32_t p = 0x100;

	if (len < 0x104 || !RD32(p) || RD32(p) == 0xffffffffu)
		return;
	out_begin_list(o, "Extended capabilities");
	for (int n = 0; p >= 0x100 && p + 4 <= len && n < MAX_EXT_CAPS; n++) {
		uint32_t hdr = RD32(p);
		uint16_t id = (uint16_t)PCI_EXT_CAP_ID(hdr);

		if (!hdr)
			break;
		if (id == PCI_EXT_CAP_ID_DSN) {
			uint32_t lo = RD32(p + 4), hi = RD32(p + 8);

			out_begin(o, "Cap",
				  "Capabilities: [%03x v%u] Device Serial Number "
				  "%02x-%02x-%02x-%02x-%02x-%02x-%02x-%02x",
				  p, PCI_EXT_CAP_VER(hdr), hi >> 24, (hi >> 16) & 0xff,
				  (hi >> 8) & 0xff, hi & 0xff, lo >> 24, (lo >> 16) & 0xff,
				  (lo >> 8) & 0xff, lo & 0xff);
			if (out_is_json(o)) {
				out_str(o, "name", "Device Serial Number");
				out_str(o, "serial", "%08x%08x", hi, lo);
			}
		} else {
			out_begin(o, "Cap", "Capabilities: [%03x v%u] Extended Capability ID %04x", p,
				  PCI_EXT_CAP_VER(hdr), id);
		}
		if (out_is_json(o)) {
			out_num(o, "offset", p, "%03x", p);
			out_num(o, "id", id, "%04x", id);
			out_num(o, "version", PCI_EXT_CAP_VER(hdr), "%u", PCI_EXT_CAP_VER(hdr));
		}
		out_end(o);
		if (PCI_EXT_CAP_NEXT(hdr) <= p)
			break; /* chains only go forward */
		p = PCI_EXT_CAP_NEXT(hdr);
	}
	out_end(o);
}

void lspci_decode(struct out *o, const uint8_t *cfg, size_t len, const uint64_t *sizes)
{
	static const char pins[] = "?ABCD";
	uint8_t pin = (uint8_t)RD8(PCI_INTERRUPT_PIN);

	ids(o, cfg, len);
	cmd_status(o, cfg, len);
	if ((RD8(PCI_HEADER_TYPE) & 0x7f) == PCI_HEADER_TYPE_NORMAL)
		bars(o, cfg, len, sizes);
	if (pin)
		out_str(o, "Interrupt", "pin %c routed to IRQ %u", pin <= 4 ? pins[pin] : '?',
			RD8(PCI_INTERRUPT_LINE));
	caps(o, cfg, len);
	ext_caps(o, cfg, len);
}
