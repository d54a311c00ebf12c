/* SPDX-License-Identifier: MIT */
/*
 * uvfio_pci_setup(): what firmware and a VMM do before a driver touches a PCI device. Every BAR
 * (and the expansion ROM) without an address is sized by writing all-ones and reading back,
 * then placed, naturally aligned, in a fixed window; then decoding (and bus mastering when
 * asked) is turned on. Servers that model a real bus (QEMU's x-vfio-user-server) refuse BAR
 * access until then. BARs that already have an address (kernel VFIO devices: vfio-pci shows the
 * host's) are kept and their ranges avoided, so the call is harmless where setup was done.
 */
#include <errno.h>
#include <string.h>

#include <linux/pci_regs.h>

#include <uvfio/client.h>

#include "util/log.h"

/* The windows addresses are taken from: q35's 32-bit PCI hole below the IOAPIC, 64-bit BARs
 * that do not fit there above 256 GiB, and I/O ports where SeaBIOS puts them. */
#define MEM32_START 0x80000000ull
#define MEM32_END 0xfec00000ull
#define MEM64_START (1ull << 38)
#define MEM64_END (1ull << 46)
#define IO_START 0xc000ull
#define IO_END 0x10000ull
/* Memory BARs get at least a page each, so no two share a page (mmap, and as Linux does). */
#define MEM_MIN_ALIGN 4096ull

#define NR_SLOTS 7 /* BAR0..5 and the ROM */
#define ROM_SLOT 6

struct slot {
	uint32_t reg; /* config offset */
	uint32_t low; /* the register's value as found */
	bool io, is64, present;
	uint64_t addr, size;
};

static int cfg_rd32(struct uvfio_handle *h, uint32_t off, uint32_t *v)
{
	return uvfio_config_read(h, off, v, 4);
}

static int cfg_wr32(struct uvfio_handle *h, uint32_t off, uint32_t v)
{
	return uvfio_config_write(h, off, &v, 4);
}

/* Reads BARs and the ROM register: type and current address. */
static int read_slots(struct uvfio_handle *h, struct slot *s)
{
	uint32_t v, hi;
	int ret;

	for (int i = 0; i < 6; i++) {
		s[i].reg = PCI_BASE_ADDRESS_0 + 4 * (uint32_t)i;
		ret = cfg_rd32(h, s[i].reg, &v);
		if (ret < 0)
			return ret;
		s[i].low = v;
		s[i].io = v & PCI_BASE_ADDRESS_SPACE_IO;
		if (s[i].io) {
			s[i].addr = v & PCI_BASE_ADDRESS_IO_MASK;
			continue;
		}
		s[i].addr = v & PCI_BASE_ADDRESS_MEM_MASK;
		if ((v & PCI_BASE_ADDRESS_MEM_TYPE_MASK) == PCI_BASE_ADDRESS_MEM_TYPE_64 && i < 5) {
			ret = cfg_rd32(h, s[i].reg + 4, &hi);
			if (ret < 0)
				return ret;
			s[i].is64 = true;
			s[i].addr |= (uint64_t)hi << 32;
			i++; /* the upper half is no BAR of its own */
			s[i].reg = 0;
		}
	}
	s[ROM_SLOT].reg = PCI_ROM_ADDRESS;
	ret = cfg_rd32(h, PCI_ROM_ADDRESS, &v);
	if (ret < 0)
		return ret;
	s[ROM_SLOT].low = v;
	s[ROM_SLOT].addr = v & PCI_ROM_ADDRESS_MASK;
	return 0;
}

/* The lowest address bit the device lets us set is the size (as Linux's pci_size()). */
static uint64_t lowest_bit(uint64_t mask)
{
	return mask & ~(mask - 1);
}

/* Sizes one slot with decoding off: all-ones, read back, restore. */
static int size_slot(struct uvfio_handle *h, struct slot *s)
{
	uint32_t ones = s->reg == PCI_ROM_ADDRESS ? PCI_ROM_ADDRESS_MASK : 0xffffffffu;
	uint32_t lo, hi = 0;
	uint64_t mask;
	int ret;

	ret = cfg_wr32(h, s->reg, ones);
	if (ret == 0)
		ret = cfg_rd32(h, s->reg, &lo);
	if (ret == 0)
		ret = cfg_wr32(h, s->reg, s->low);
	if (ret == 0 && s->is64) {
		ret = cfg_wr32(h, s->reg + 4, 0xffffffffu);
		if (ret == 0)
			ret = cfg_rd32(h, s->reg + 4, &hi);
		if (ret == 0)
			ret = cfg_wr32(h, s->reg + 4, (uint32_t)(s->addr >> 32));
	}
	if (ret < 0)
		return ret;
	if (s->reg == PCI_ROM_ADDRESS)
		mask = lo & PCI_ROM_ADDRESS_MASK;
	else if (s->io)
		mask = lo & PCI_BASE_ADDRESS_IO_MASK & 0xffffu; /* x86 ports are 16-bit */
	else
		mask = ((uint64_t)hi << 32) | (lo & PCI_BASE_ADDRESS_MEM_MASK);
	s->size = lowest_bit(mask);
	s->present = s->size != 0;
	return 0;
}

static bool overlaps(uint64_t a, uint64_t alen, uint64_t b, uint64_t blen)
{
	return a < b + blen && b < a + alen;
}

/* The first naturally aligned place for s in [start, end) that overlaps no placed slot of the
 * same space (io or memory). 0 if none. */
static uint64_t place(const struct slot *all, const struct slot *s, uint64_t start, uint64_t end)
{
	uint64_t align = s->size, a = start;

	if (!s->io && align < MEM_MIN_ALIGN)
		align = MEM_MIN_ALIGN;
	for (;;) {
		bool moved = false;

		a = (a + align - 1) & ~(align - 1);
		if (a < start || a + s->size > end || a + s->size < a)
			return 0;
		for (int i = 0; i < NR_SLOTS; i++) {
			const struct slot *o = &all[i];

			if (o == s || !o->present || !o->addr || o->io != s->io)
				continue;
			if (overlaps(a, s->size, o->addr, o->size)) {
				a = o->addr + o->size;
				moved = true;
			}
		}
		if (!moved)
			return a;
	}
}

static int assign(struct uvfio_handle *h, struct slot *s)
{
	uint32_t lo = (uint32_t)s->addr, back, hi = 0;
	int ret;

	if (s->reg == PCI_ROM_ADDRESS)
		lo |= s->low & ~PCI_ROM_ADDRESS_MASK & ~PCI_ROM_ADDRESS_ENABLE;
	else
		lo |= s->low & (s->io ? ~PCI_BASE_ADDRESS_IO_MASK : ~PCI_BASE_ADDRESS_MEM_MASK);
	ret = cfg_wr32(h, s->reg, lo);
	if (ret == 0 && s->is64)
		ret = cfg_wr32(h, s->reg + 4, (uint32_t)(s->addr >> 32));
	/* A device that does not keep the address would fail every access later: say so now. */
	if (ret == 0)
		ret = cfg_rd32(h, s->reg, &back);
	if (ret == 0 && s->is64)
		ret = cfg_rd32(h, s->reg + 4, &hi);
	if (ret < 0)
		return ret;
	if ((((uint64_t)hi << 32) | back) != (((uint64_t)(s->is64 ? s->addr >> 32 : 0) << 32) | lo)) {
		log_err("pci setup: config 0x%x kept 0x%llx, not the address 0x%llx written",
			s->reg, (unsigned long long)(((uint64_t)hi << 32) | back),
			(unsigned long long)s->addr);
		return -EIO;
	}
	log_debug("pci setup: config 0x%x: %s at 0x%llx, size 0x%llx", s->reg,
		  s->io ? "I/O" : "memory", (unsigned long long)s->addr,
		  (unsigned long long)s->size);
	return 0;
}

/* Places every sized slot without an address, largest first (the tightest packing with natural
 * alignment). Returns how many were placed. */
static int place_all(struct uvfio_handle *h, struct slot *s)
{
	int done = 0;

	for (;;) {
		struct slot *next = NULL;
		int ret;

		for (int i = 0; i < NR_SLOTS; i++)
			if (s[i].present && !s[i].addr && (!next || s[i].size > next->size))
				next = &s[i];
		if (!next)
			return done;
		if (next->io)
			next->addr = place(s, next, IO_START, IO_END);
		else if (!(next->addr = place(s, next, MEM32_START, MEM32_END)) && next->is64)
			next->addr = place(s, next, MEM64_START, MEM64_END);
		if (!next->addr) {
			log_err("pci setup: no room for a %s BAR of 0x%llx bytes",
				next->io ? "I/O" : "memory", (unsigned long long)next->size);
			return -ENOSPC;
		}
		ret = assign(h, next);
		if (ret < 0)
			return ret;
		done++;
	}
}

int uvfio_pci_setup(struct uvfio_handle *h, uint32_t flags)
{
	struct slot s[NR_SLOTS];
	struct uvfio_device_info info;
	uint16_t cmd, want;
	bool need_sizing = false, has_mem = false, has_io = false;
	int ret, placed = 0;

	if (!h || (flags & ~UVFIO_PCI_SETUP_MASTER))
		return -EINVAL;
	ret = uvfio_get_device_info(h, &info);
	if (ret < 0)
		return ret;
	if (!(info.flags & UVFIO_DEVICE_FLAGS_PCI))
		return 0; /* no config space to set up */
	memset(s, 0, sizeof(s));
	ret = uvfio_config_read(h, PCI_COMMAND, &cmd, sizeof(cmd));
	if (ret == 0)
		ret = read_slots(h, s);
	if (ret < 0)
		return ret;
	for (int i = 0; i < NR_SLOTS; i++) {
		if (!s[i].reg)
			continue;
		if (s[i].addr) {
			/* In use: only its size is needed, to keep clear of it. */
			struct uvfio_region_info ri;

			s[i].present = true;
			s[i].size = uvfio_get_region_info(h, (uint32_t)i, &ri) == 0 ? ri.size : 0;
		} else {
			need_sizing = true;
		}
	}
	if (need_sizing) {
		/* Decoding off while BARs hold all-ones, as firmware does. */
		uint16_t off = cmd & (uint16_t)~(PCI_COMMAND_MEMORY | PCI_COMMAND_IO);

		if (off != cmd)
			ret = uvfio_config_write(h, PCI_COMMAND, &off, sizeof(off));
		for (int i = 0; i < NR_SLOTS && ret == 0; i++)
			if (s[i].reg && !s[i].addr)
				ret = size_slot(h, &s[i]);
		if (ret == 0)
			ret = placed = place_all(h, s);
		if (ret < 0) {
			uvfio_config_write(h, PCI_COMMAND, &cmd, sizeof(cmd));
			return ret;
		}
	}
	for (int i = 0; i < NR_SLOTS; i++) {
		if (!s[i].present)
			continue;
		has_io |= s[i].io;
		has_mem |= !s[i].io;
	}
	want = cmd;
	if (has_mem)
		want |= PCI_COMMAND_MEMORY;
	if (has_io)
		want |= PCI_COMMAND_IO;
	if (flags & UVFIO_PCI_SETUP_MASTER)
		want |= PCI_COMMAND_MASTER;
	if (want != cmd || need_sizing) {
		ret = uvfio_config_write(h, PCI_COMMAND, &want, sizeof(want));
		if (ret < 0)
			return ret;
	}
	return placed;
}
