/* SPDX-License-Identifier: MIT */
/*
 * uvfio_pci_setup() against a fake server whose config space behaves like a real bus's: BAR
 * registers keep only their address bits (so all-ones reads back the size), BAR access is
 * refused until the BAR has an address and decoding is on (as QEMU's x-vfio-user-server).
 */
#include "client_fake.h"

#include <linux/pci_regs.h>

#include "vfio-user/wire.h"

/* The fake device's BARs: sizes (0: not implemented) and kinds. */
struct fbar {
	uint64_t size;
	bool io, is64, pref;
	uint64_t addr; /* preset address (a BAR set up before) */
};

struct model {
	struct fbar bar[6];
	uint64_t rom_size;
	uint8_t cfg[256];
	bool pci;             /* device info says PCI */
	bool sticky_fail;     /* BAR0 sizes but keeps no address (a broken device) */
	int sizing_with_decode; /* all-ones written while decoding was on */
	int bar_access_ok, bar_access_refused;
};

static struct model M;

static uint32_t rd32(uint32_t off)
{
	uint32_t v;

	memcpy(&v, M.cfg + off, 4);
	return v;
}

static void wr32(uint32_t off, uint32_t v)
{
	memcpy(M.cfg + off, &v, 4);
}

static void model_init(void)
{
	memset(M.cfg, 0, sizeof(M.cfg));
	M.cfg[0] = 0x34;
	M.cfg[1] = 0x12;
	for (int i = 0; i < 6; i++) {
		struct fbar *b = &M.bar[i];
		uint32_t reg = PCI_BASE_ADDRESS_0 + 4 * (uint32_t)i;

		if (!b->size)
			continue;
		if (b->io) {
			wr32(reg, PCI_BASE_ADDRESS_SPACE_IO | (uint32_t)b->addr);
			continue;
		}
		wr32(reg, (b->is64 ? PCI_BASE_ADDRESS_MEM_TYPE_64 : 0) |
				  (b->pref ? PCI_BASE_ADDRESS_MEM_PREFETCH : 0) | (uint32_t)b->addr);
		if (b->is64)
			wr32(reg + 4, (uint32_t)(b->addr >> 32));
	}
	if (M.bar[0].addr || M.bar[1].addr)
		M.cfg[PCI_COMMAND] = PCI_COMMAND_MEMORY | PCI_COMMAND_IO;
}

/* A config write of 4 bytes at off, as the PCI core of a real device treats it. */
static void cfg_write(uint32_t off, const uint8_t *data, uint32_t count)
{
	if (off == PCI_COMMAND && count >= 2) {
		memcpy(M.cfg + off, data, 2);
		return;
	}
	if (count != 4)
		return;
	uint32_t v;

	memcpy(&v, data, 4);
	if (off >= PCI_BASE_ADDRESS_0 && off <= PCI_BASE_ADDRESS_5) {
		int i = (int)(off - PCI_BASE_ADDRESS_0) / 4;
		uint16_t cmd = (uint16_t)(M.cfg[PCI_COMMAND] | M.cfg[PCI_COMMAND + 1] << 8);

		if (v == 0xffffffffu && (cmd & (PCI_COMMAND_MEMORY | PCI_COMMAND_IO)))
			M.sizing_with_decode++;
		/* The upper half of a 64-bit BAR. */
		if (i > 0 && M.bar[i - 1].is64 && M.bar[i - 1].size) {
			wr32(off, (uint32_t)((v & ~((M.bar[i - 1].size - 1) >> 32))));
			return;
		}
		struct fbar *b = &M.bar[i];

		if (!b->size)
			return; /* not implemented: stays 0 */
		uint32_t keep = b->io ? 0x3 : 0xf;

		if (i == 0 && M.sticky_fail && v != 0xffffffffu)
			v = 0; /* sizes, but loses any address */
		wr32(off, (rd32(off) & keep) | (v & ~keep & ~(uint32_t)(b->size - 1)));
		return;
	}
	if (off == PCI_ROM_ADDRESS) {
		if (M.rom_size)
			wr32(off, v & (PCI_ROM_ADDRESS_MASK & ~(uint32_t)(M.rom_size - 1)));
		return;
	}
}

static uint64_t bar_addr(int i)
{
	uint32_t lo = rd32(PCI_BASE_ADDRESS_0 + 4 * (uint32_t)i);
	uint64_t a = lo & (M.bar[i].io ? ~3u : ~0xfu);

	if (M.bar[i].is64)
		a |= (uint64_t)rd32(PCI_BASE_ADDRESS_0 + 4 * (uint32_t)i + 4) << 32;
	return a;
}

static void serve_model(struct fake *f, int fd)
{
	struct vfu_msg m;

	while (srv_recv(fd, &m) >= 0) {
		uint8_t out[256 + sizeof(struct vfu_region_access)];

		if (m.hdr.cmd == VFU_CMD_DEVICE_GET_INFO) {
			struct vfu_device_info di = { 16, M.pci ? UVFIO_DEVICE_FLAGS_PCI : 0, 9, 5 };

			srv_reply(fd, &m, &di, sizeof(di));
		} else if (m.hdr.cmd == VFU_CMD_DEVICE_GET_REGION_INFO) {
			struct vfu_region_info ri;

			memcpy(&ri, m.payload, sizeof(ri));
			ri.argsz = sizeof(ri);
			ri.cap_offset = 0;
			ri.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE;
			ri.size = ri.index < 6 ? M.bar[ri.index].size
				  : ri.index == 6 ? M.rom_size
				  : ri.index == 7 ? 256 : 0;
			ri.offset = 0;
			srv_reply(fd, &m, &ri, sizeof(ri));
		} else if (m.hdr.cmd == VFU_CMD_REGION_READ || m.hdr.cmd == VFU_CMD_REGION_WRITE) {
			struct vfu_region_access ra;
			size_t len = sizeof(ra);

			memcpy(&ra, m.payload, sizeof(ra));
			memcpy(out, &ra, sizeof(ra));
			if (ra.region == UVFIO_PCI_CONFIG_REGION) {
				SRV_CHECK(f, ra.offset + ra.count <= 256);
				if (m.hdr.cmd == VFU_CMD_REGION_WRITE) {
					cfg_write((uint32_t)ra.offset, m.payload + sizeof(ra), ra.count);
				} else {
					memcpy(out + sizeof(ra), M.cfg + ra.offset, ra.count);
					len += ra.count;
				}
				srv_reply(fd, &m, out, len);
			} else {
				/* As a real bus: only a placed BAR with decoding on answers. */
				bool io = ra.region < 6 && M.bar[ra.region].io;
				uint8_t need = io ? PCI_COMMAND_IO : PCI_COMMAND_MEMORY;

				if (ra.region < 6 && bar_addr((int)ra.region) &&
				    (M.cfg[PCI_COMMAND] & need)) {
					M.bar_access_ok++;
					if (m.hdr.cmd == VFU_CMD_REGION_READ) {
						memset(out + sizeof(ra), 0x5a, ra.count);
						len += ra.count;
					}
					srv_reply(fd, &m, out, len);
				} else {
					M.bar_access_refused++;
					srv_send(fd, m.hdr.msg_id, m.hdr.cmd,
						 VFU_F_TYPE_REPLY | VFU_F_ERROR, EINVAL, NULL, 0,
						 NULL, 0);
				}
			}
		} else if (m.hdr.cmd == VFU_CMD_DMA_UNMAP) {
			srv_reply(fd, &m, m.payload, m.payload_len);
		}
		vfu_msg_release(&m);
	}
}

static struct fake F;
static struct uvfio_handle *H;

static void start(void)
{
	memset(&F, 0, sizeof(F));
	F.major = 0;
	F.minor = 1;
	model_init();
	fake_start(&F, serve_model);
	assert_int_equal(open_fake(&F, &H), 0);
}

static void stop(void)
{
	uvfio_close(H);
	H = NULL;
	fake_join(&F);
}

static void reset_model(void)
{
	memset(&M, 0, sizeof(M));
	M.pci = true;
}

/* A device with every kind of BAR: each gets a naturally aligned address in its window, no two
 * overlap, decoding comes on, and BAR access that was refused before now works. */
static void test_assigns_every_kind(void **state)
{
	uint32_t v = 0;
	uint16_t cmd;

	(void)state;
	reset_model();
	M.bar[0] = (struct fbar){ .size = 0x100 };                          /* small: page aligned */
	M.bar[1] = (struct fbar){ .size = 0x20, .io = true };
	M.bar[2] = (struct fbar){ .size = 0x100000, .is64 = true, .pref = true };
	M.bar[5] = (struct fbar){ .size = 0x10000 };
	M.rom_size = 0x8000;
	start();
	assert_true(uvfio_region_read(H, 0, 0, &v, 4) < 0); /* refused: no address yet */
	assert_int_equal(uvfio_pci_setup(H, 0), 5);
	assert_int_equal(M.sizing_with_decode, 0);
	for (int i = 0; i < 6; i++) {
		uint64_t a = bar_addr(i);

		if (!M.bar[i].size || (i == 3))
			continue;
		assert_true(a != 0);
		assert_int_equal(a % M.bar[i].size, 0);
		if (M.bar[i].io) {
			assert_true(a >= 0xc000 && a + M.bar[i].size <= 0x10000);
		} else {
			assert_int_equal(a % 4096, 0);
			assert_true(a >= 0x80000000ull && a + M.bar[i].size <= 0xfec00000ull);
		}
		for (int j = 0; j < i; j++) {
			uint64_t b = bar_addr(j);

			if (!M.bar[j].size || j == 3 || M.bar[j].io != M.bar[i].io)
				continue;
			assert_false(a < b + M.bar[j].size && b < a + M.bar[i].size);
		}
	}
	/* Type bits survive, the unimplemented BAR4 stays 0, the ROM is placed but not enabled. */
	assert_int_equal(rd32(PCI_BASE_ADDRESS_2) & 0xf,
			 PCI_BASE_ADDRESS_MEM_TYPE_64 | PCI_BASE_ADDRESS_MEM_PREFETCH);
	assert_int_equal(rd32(PCI_BASE_ADDRESS_1) & 3, PCI_BASE_ADDRESS_SPACE_IO);
	assert_int_equal(rd32(PCI_BASE_ADDRESS_4), 0);
	assert_true((rd32(PCI_ROM_ADDRESS) & PCI_ROM_ADDRESS_MASK) >= 0x80000000u);
	assert_int_equal(rd32(PCI_ROM_ADDRESS) & PCI_ROM_ADDRESS_ENABLE, 0);
	assert_int_equal(uvfio_config_read(H, PCI_COMMAND, &cmd, 2), 0);
	assert_int_equal(cmd & (PCI_COMMAND_MEMORY | PCI_COMMAND_IO | PCI_COMMAND_MASTER),
			 PCI_COMMAND_MEMORY | PCI_COMMAND_IO);
	assert_int_equal(uvfio_region_read(H, 0, 0, &v, 4), 4);
	assert_int_equal(v, 0x5a5a5a5a);
	assert_int_equal(uvfio_region_read(H, 1, 0, &v, 4), 4);
	/* A second call (or a device set up before) changes no address. */
	uint64_t before = bar_addr(2);

	assert_int_equal(uvfio_pci_setup(H, UVFIO_PCI_SETUP_MASTER), 0);
	assert_int_equal(bar_addr(2), before);
	assert_int_equal(uvfio_config_read(H, PCI_COMMAND, &cmd, 2), 0);
	assert_true(cmd & PCI_COMMAND_MASTER);
	stop();
}

/* BARs that already have addresses (kernel VFIO shows the host's) are not resized or moved; a
 * new BAR is placed clear of them. */
static void test_keeps_assigned(void **state)
{
	(void)state;
	reset_model();
	M.bar[0] = (struct fbar){ .size = 0x1000, .addr = 0x80000000ull };
	M.bar[1] = (struct fbar){ .size = 0x1000 };
	start();
	assert_int_equal(uvfio_pci_setup(H, UVFIO_PCI_SETUP_MASTER), 1);
	assert_int_equal(bar_addr(0), 0x80000000ull);
	assert_int_equal(bar_addr(1), 0x80001000ull);
	assert_int_equal(M.sizing_with_decode, 0); /* decoding was on: turned off to size */
	assert_int_equal(M.cfg[PCI_COMMAND] & (PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER),
			 PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER);
	stop();

	/* All placed: only the command register is touched, no BAR written. */
	reset_model();
	M.bar[0] = (struct fbar){ .size = 0x1000, .addr = 0xfe000000ull };
	start();
	M.sticky_fail = true; /* any BAR0 write would be lost: none may happen */
	assert_int_equal(uvfio_pci_setup(H, 0), 0);
	assert_int_equal(bar_addr(0), 0xfe000000ull);
	stop();
}

/* A 64-bit BAR too big for the 32-bit window goes above 4 GiB; a 32-bit one that big fails. */
static void test_large(void **state)
{
	(void)state;
	reset_model();
	M.bar[0] = (struct fbar){ .size = 4ull << 30, .is64 = true, .pref = true };
	start();
	assert_int_equal(uvfio_pci_setup(H, 0), 1);
	assert_true(bar_addr(0) >= (1ull << 32));
	assert_int_equal(bar_addr(0) % (4ull << 30), 0);
	stop();

	reset_model();
	M.bar[0] = (struct fbar){ .size = 1ull << 31 };
	M.bar[1] = (struct fbar){ .size = 1ull << 31 };
	start();
	assert_int_equal(uvfio_pci_setup(H, 0), -ENOSPC);
	stop();
}

/* Bad input and devices that misbehave: clear errors, nothing else touched. */
static void test_errors(void **state)
{
	uint16_t cmd;

	(void)state;
	assert_int_equal(uvfio_pci_setup(NULL, 0), -EINVAL);
	reset_model();
	M.bar[0] = (struct fbar){ .size = 0x1000 };
	start();
	assert_int_equal(uvfio_pci_setup(H, 0x80), -EINVAL);
	M.sticky_fail = true;
	assert_int_equal(uvfio_pci_setup(H, 0), -EIO);
	/* The command register is left as found. */
	assert_int_equal(uvfio_config_read(H, PCI_COMMAND, &cmd, 2), 0);
	assert_int_equal(cmd & (PCI_COMMAND_MEMORY | PCI_COMMAND_IO), 0);
	stop();

	/* Not a PCI device: nothing to do, no config access. */
	reset_model();
	M.pci = false;
	M.bar[0] = (struct fbar){ .size = 0x1000 };
	start();
	assert_int_equal(uvfio_pci_setup(H, 0), 0);
	assert_int_equal(bar_addr(0), 0);
	stop();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_assigns_every_kind),
		cmocka_unit_test(test_keeps_assigned),
		cmocka_unit_test(test_large),
		cmocka_unit_test(test_errors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
