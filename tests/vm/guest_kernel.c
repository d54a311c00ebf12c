/* SPDX-License-Identifier: MIT */
/*
 * Runs inside the test VM (tests/vm/run.sh): kernel VFIO through uvfio, on QEMU's edu and NVMe
 * devices. Host binding with the CLI (list, bind refused for a non-viable group, bind, unbind
 * back), backend selection, the edu client program over kernel VFIO, two devices sharing one
 * IOAS (map and unmap reach both), NVMe region info and config space against sysfs, IOVA
 * ranges, feature passthrough. Prints PASS/FAIL lines and a closing "N passed, N failed".
 *
 * usage: guest_kernel MODE AUTO   (MODE: type1|iommufd, AUTO: the backend "vfio:BDF" picks)
 */
#include <errno.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/pci_regs.h>
#include <linux/vfio.h>

#include <uvfio/client.h>
#include <uvfio/host.h>
#include <uvfio/nvme.h>

#include "guest_util.h"

#define EDU1 "0000:00:03.0"
#define EDU2 "0000:00:04.0"
#define NVME "0000:00:05.0"
#define E1000 "0000:01:01.0"
#define EDU_SHARED "0000:01:02.0" /* behind the bridge with the e1000 */

#define EDU_ID 0x010000ed
#define REG_ID 0x00
#define REG_DMA_SRC 0x80
#define REG_DMA_DST 0x88
#define REG_DMA_CNT 0x90
#define REG_DMA_CMD 0x98
#define DMA_START 0x1
#define DMA_TO_RAM 0x2
#define EDU_BUF 0x40000
#define XFER 2048 /* QEMU 7.2's edu aborts on a 4096-byte DMA */

static const char *mode, *autosel;

static void sysfs_driver(const char *bdf, char *buf, size_t len)
{
	char path[128], target[256];
	ssize_t n;

	snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/driver", bdf);
	n = readlink(path, target, sizeof(target) - 1);
	if (n < 0) {
		snprintf(buf, len, "none");
		return;
	}
	target[n] = '\0';
	snprintf(buf, len, "%s", strrchr(target, '/') + 1);
}

static int rd32(struct uvfio_handle *h, uint64_t off, uint32_t *v)
{
	ssize_t n = uvfio_region_read(h, UVFIO_PCI_BAR0_REGION, off, v, 4);

	return n == 4 ? 0 : n < 0 ? (int)n : -EIO;
}

static int wr32(struct uvfio_handle *h, uint64_t off, uint32_t v)
{
	ssize_t n = uvfio_region_write(h, UVFIO_PCI_BAR0_REGION, off, &v, 4);

	return n == 4 ? 0 : n < 0 ? (int)n : -EIO;
}

/* 64-bit edu registers as two halves: vfio-pci on 6.1 splits 8-byte accesses anyway. */
static int wr64(struct uvfio_handle *h, uint64_t off, uint64_t v)
{
	int ret = wr32(h, off, (uint32_t)v);

	return ret ? ret : wr32(h, off + 4, (uint32_t)(v >> 32));
}

static int edu_dma(struct uvfio_handle *h, uint64_t src, uint64_t dst, uint32_t cnt, uint32_t cmd)
{
	uint32_t v = DMA_START;
	int ret = wr64(h, REG_DMA_SRC, src);

	if (!ret)
		ret = wr64(h, REG_DMA_DST, dst);
	if (!ret)
		ret = wr64(h, REG_DMA_CNT, cnt);
	if (!ret)
		ret = wr32(h, REG_DMA_CMD, cmd | DMA_START);
	/* The transfer completes in virtual time: polling the start bit is the protocol. */
	for (int i = 0; !ret && (v & DMA_START) && i < 1000000; i++)
		ret = rd32(h, REG_DMA_CMD, &v);
	return ret ? ret : (v & DMA_START) ? -ETIMEDOUT : 0;
}

static int enable_master(struct uvfio_handle *h)
{
	uint16_t cmd = 0;
	int ret = uvfio_config_read(h, PCI_COMMAND, &cmd, 2);

	cmd |= PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	return ret ? ret : uvfio_config_write(h, PCI_COMMAND, &cmd, 2);
}

static void fill(uint8_t *p, size_t n, uint8_t seed)
{
	for (size_t i = 0; i < n; i++)
		p[i] = (uint8_t)(i * 7 + seed);
}

static void step_cli_bind(char *nvme_driver, size_t len)
{
	char out[4096], cmd[128], drv[64];
	int st;

	st = run("/bin/uvfio list", out, sizeof(out));
	result(st == 0 && strstr(out, EDU1) && strstr(out, "1234:11e8") &&
		       strstr(out, "group-not-viable"),
	       "uvfio list: edu listed, the bridge group shown as not viable (exit %d)", st);
	st = run("/bin/uvfio bind " EDU_SHARED " 2>&1", out, sizeof(out));
	sysfs_driver(E1000, drv, sizeof(drv));
	result(st == 1 && strstr(out, "not viable") && strstr(out, E1000 " (e1000)") &&
		       strcmp(drv, "e1000") == 0,
	       "uvfio bind refuses a device of a non-viable group and names " E1000 " (exit %d)",
	       st);
	sysfs_driver(NVME, nvme_driver, len);
	const char *devs[] = { EDU1, EDU2, NVME };
	for (size_t i = 0; i < 3; i++) {
		snprintf(cmd, sizeof(cmd), "/bin/uvfio bind %s 2>&1", devs[i]);
		st = run(cmd, out, sizeof(out));
		sysfs_driver(devs[i], drv, sizeof(drv));
		result(st == 0 && strcmp(drv, "vfio-pci") == 0, "uvfio bind %s: now on %s (exit %d)",
		       devs[i], drv, st);
	}
	st = run("/bin/uvfio bind " EDU1 " 2>&1", out, sizeof(out));
	result(st == 0, "uvfio bind of a bound device is a no-op (exit %d)", st);
}

static void step_select(void)
{
	struct uvfio_handle *h = NULL;
	char want[32];
	int ret = uvfio_open("vfio:" EDU1, &h);

	snprintf(want, sizeof(want), "vfio-%s", autosel);
	result(ret == 0 && strcmp(uvfio_backend_name(h), want) == 0,
	       "vfio:" EDU1 " picks %s (got %s, ret %d)", want, ret ? "-" : uvfio_backend_name(h),
	       ret);
	if (ret == 0)
		uvfio_close(h);
	ret = uvfio_open("vfio:" EDU_SHARED "?iommu=type1", &h);
	result(ret < 0, "opening an unbound device fails (ret %d)", ret);
}

static void step_edu_client(void)
{
	char cmd[128], out[8192];
	unsigned np, nf;
	int st;

	if (access("/bin/uvfio-edu-client", X_OK) != 0) {
		result(false, "edu client program missing from the initramfs");
		return;
	}
	snprintf(cmd, sizeof(cmd), "/bin/uvfio-edu-client -v vfio:%s?iommu=%s 2>&1", EDU1, mode);
	st = run(cmd, out, sizeof(out));
	parse_summary(out, &np, &nf);
	result(st == 0 && np > 0 && nf == 0,
	       "edu client over kernel VFIO (%s): %u passed, %u failed (exit %d)", mode, np, nf,
	       st);
}

static bool untouched(const uint8_t *p, size_t n, uint8_t v)
{
	for (size_t i = 0; i < n; i++) {
		if (p[i] != v)
			return false;
	}
	return true;
}

static void step_shared_ioas(void)
{
	struct uvfio_handle *h1 = NULL, *h2 = NULL;
	struct uvfio_ioas *ioas = NULL;
	uint8_t *a = NULL, *b = NULL, *c;
	uint32_t id1 = 0, id2 = 0;
	int ret;

	ret = open_vfio(EDU1, mode, &h1);
	if (!ret)
		ret = open_vfio(EDU2, mode, &h2);
	result(!ret, "two edus open through %s (ret %d)", mode, ret);
	if (ret)
		goto out;
	ret = uvfio_ioas_new(&ioas);
	/* Mapped before any device is attached: attaching must replay it. */
	if (!ret)
		ret = uvfio_ioas_map_alloc(ioas, 0x100000, 0x4000, UVFIO_IOAS_READ | UVFIO_IOAS_WRITE,
					   (void **)&a);
	if (!ret)
		ret = uvfio_ioas_attach(ioas, h1);
	if (!ret)
		ret = uvfio_ioas_attach(ioas, h2);
	if (!ret)
		ret = enable_master(h1);
	if (!ret)
		ret = enable_master(h2);
	result(!ret, "one IOAS, both edus attached (ret %d)", ret);
	if (ret)
		goto out;

	fill(a, XFER, 3);
	ret = edu_dma(h1, 0x100000, EDU_BUF, XFER, 0);
	if (!ret)
		ret = edu_dma(h1, EDU_BUF, 0x101000, XFER, DMA_TO_RAM);
	/* edu2 reads what edu1 wrote through the same mapping and writes it back elsewhere. */
	if (!ret)
		ret = edu_dma(h2, 0x101000, EDU_BUF, XFER, 0);
	if (!ret)
		ret = edu_dma(h2, EDU_BUF, 0x102000, XFER, DMA_TO_RAM);
	result(!ret && memcmp(a, a + 0x1000, XFER) == 0 && memcmp(a, a + 0x2000, XFER) == 0,
	       "a mapping made before attach reaches both devices, data checked (ret %d)", ret);

	ret = uvfio_ioas_map_alloc(ioas, 0x200000, 0x2000, UVFIO_IOAS_READ | UVFIO_IOAS_WRITE,
				   (void **)&b);
	if (!ret)
		ret = edu_dma(h1, EDU_BUF, 0x200000, XFER, DMA_TO_RAM);
	if (!ret)
		ret = edu_dma(h2, EDU_BUF, 0x201000, XFER, DMA_TO_RAM);
	result(!ret && memcmp(a, b, XFER) == 0 && memcmp(a, b + 0x1000, XFER) == 0,
	       "a mapping made after attach reaches both devices (ret %d)", ret);

	/* Memory we own, so after the unmap we can see that no device wrote it. */
	c = mmap(NULL, 0x2000, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ret = c == MAP_FAILED ? -errno : 0;
	if (!ret)
		ret = uvfio_ioas_map(ioas, 0x300000, 0x2000, UVFIO_IOAS_READ | UVFIO_IOAS_WRITE, -1,
				     0, c);
	if (!ret) {
		memset(c, 0x5c, 0x2000);
		ret = edu_dma(h2, EDU_BUF, 0x300000, 64, DMA_TO_RAM);
	}
	result(!ret && memcmp(c, a, 64) == 0, "caller-owned memory mapped and written by DMA");
	if (!ret)
		ret = uvfio_ioas_unmap(ioas, 0x300000, 0x2000);
	if (!ret) {
		memset(c, 0x5c, 0x2000);
		ret = edu_dma(h1, EDU_BUF, 0x300000, 256, DMA_TO_RAM);
	}
	if (!ret)
		ret = edu_dma(h2, EDU_BUF, 0x301000, 256, DMA_TO_RAM);
	if (!ret)
		ret = rd32(h1, REG_ID, &id1);
	if (!ret)
		ret = rd32(h2, REG_ID, &id2);
	result(!ret && untouched(c, 0x2000, 0x5c) && id1 == EDU_ID && id2 == EDU_ID,
	       "after unmap, DMA to that IOVA is blocked for both devices (ret %d)", ret);
	if (c != MAP_FAILED)
		munmap(c, 0x2000);

	struct uvfio_iova_range r[8];
	size_t n = 0;
	bool inside = false;

	ret = uvfio_ioas_iova_ranges(ioas, r, 8, &n);
	for (size_t i = 0; !ret && i < n && i < 8; i++)
		inside = inside || (r[i].start <= 0x100000 && r[i].last >= 0x103fff);
	result(!ret && n >= 1 && inside, "IOVA ranges: %zu, the mapped IOVAs inside (ret %d)", n,
	       ret);

	ret = uvfio_ioas_detach(ioas, h2);
	memset(a + 0x1000, 0, XFER);
	if (!ret)
		ret = edu_dma(h1, EDU_BUF, 0x101000, XFER, DMA_TO_RAM);
	result(!ret && memcmp(a, a + 0x1000, XFER) == 0,
	       "detaching one device leaves the other's mappings working (ret %d)", ret);
out:
	if (ioas)
		uvfio_ioas_free(ioas);
	uvfio_close(h1);
	uvfio_close(h2);
}

/* INTx is level-triggered and automasked: an unmask while the line is still high fires again. */
static void step_intx_unmask(struct uvfio_handle *h)
{
	int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	int ret, first = 0, refire = 0, quiet = 1;

	ret = efd < 0 ? -errno : uvfio_irq_enable(h, UVFIO_PCI_INTX_IRQ, 0, 1, &efd);
	if (!ret)
		ret = wr32(h, 0x60, 0x1); /* raise */
	if (!ret)
		first = wait_efd(efd, 5000);
	if (!ret)
		ret = uvfio_irq_unmask(h, UVFIO_PCI_INTX_IRQ, 0);
	if (!ret)
		refire = wait_efd(efd, 5000);
	if (!ret)
		ret = wr32(h, 0x64, 0x1); /* ack: the line drops */
	if (!ret)
		ret = uvfio_irq_unmask(h, UVFIO_PCI_INTX_IRQ, 0);
	if (!ret)
		quiet = !wait_efd(efd, 200);
	if (!ret)
		ret = uvfio_irq_disable(h, UVFIO_PCI_INTX_IRQ);
	result(!ret && first && refire && quiet,
	       "INTx: fires, re-fires on unmask while asserted, quiet after ack (%d %d %d, ret %d)",
	       first, refire, quiet, ret);
	if (efd >= 0)
		close(efd);
}

static void step_features_reset(void)
{
	struct uvfio_device_info info;
	struct uvfio_handle *h = NULL;
	int ret = open_vfio(EDU1, mode, &h), r1, r2, rr;

	if (ret) {
		result(false, "edu open for features (ret %d)", ret);
		return;
	}
	r1 = uvfio_device_feature_call(h, VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_GET |
					       VFIO_DEVICE_FEATURE_MIGRATION, NULL, 0, NULL, NULL);
	r2 = uvfio_device_feature_call(h, VFIO_DEVICE_FEATURE_PROBE | VFIO_DEVICE_FEATURE_SET |
					       VFIO_DEVICE_FEATURE_DMA_LOGGING_START, NULL, 0, NULL,
				       NULL);
	result(r1 == -ENOTTY && r2 == -ENOTTY,
	       "vfio-pci edu: no migration / DMA logging features (%d, %d)", r1, r2);
	void *bar = NULL;
	uint32_t id = 0, live = 0;

	ret = enable_master(h);
	if (!ret)
		ret = uvfio_region_mmap(h, UVFIO_PCI_BAR0_REGION, 0, 4096, PROT_READ | PROT_WRITE,
					&bar);
	if (!ret) {
		volatile uint32_t *regs = bar;

		id = regs[0];
		regs[1] = 0x12345678;
		live = regs[1];
		uvfio_region_munmap(h, bar, 4096);
	}
	result(!ret && id == EDU_ID && live == ~0x12345678u,
	       "edu BAR0 mmap: ID 0x%08x, liveness 0x%08x (ret %d)", id, live, ret);
	step_intx_unmask(h);
	ret = uvfio_get_device_info(h, &info);
	rr = uvfio_reset(h);
	result(!ret && ((info.flags & UVFIO_DEVICE_FLAGS_RESET) ? rr == 0 : rr < 0),
	       "reset agrees with the RESET flag (flags 0x%x, reset %d)", info.flags, rr);
	uvfio_close(h);
}

static int find_cap(struct uvfio_handle *h, uint8_t id)
{
	uint8_t pos = 0, cid = 0;

	if (uvfio_config_read(h, PCI_CAPABILITY_LIST, &pos, 1))
		return -1;
	for (int i = 0; pos >= 0x40 && i < 48; i++) {
		if (uvfio_config_read(h, pos, &cid, 1))
			return -1;
		if (cid == id)
			return pos;
		if (uvfio_config_read(h, pos + 1, &pos, 1))
			return -1;
	}
	return -1;
}

static void step_nvme(void)
{
	struct uvfio_region_info bar, cfg, bir_info;
	struct uvfio_handle *h = NULL;
	uint8_t hdr[64], sys[64];
	uint32_t vs = 0, table = 0;
	struct stat st;
	FILE *f;
	int ret, msix;

	ret = open_vfio(NVME, mode, &h);
	result(!ret, "NVMe open (ret %d)", ret);
	if (ret)
		return;
	ret = uvfio_config_read(h, 0, hdr, sizeof(hdr));
	f = fopen("/sys/bus/pci/devices/" NVME "/config", "r");
	bool same = f && fread(sys, 1, sizeof(sys), f) == sizeof(sys);
	if (f)
		fclose(f);
	/* IDs, revision, class, header type, subsystem: what vfio-pci passes through as is. */
	same = same && !memcmp(hdr, sys, 4) && !memcmp(hdr + 8, sys + 8, 4) && hdr[14] == sys[14] &&
	       !memcmp(hdr + 0x2c, sys + 0x2c, 4);
	result(!ret && same && (unsigned long)(hdr[0] | hdr[1] << 8) == sysfs_hex(NVME, "vendor") &&
		       (sysfs_hex(NVME, "class") >> 8) == 0x0108,
	       "NVMe config space matches sysfs: %02x%02x:%02x%02x class %02x%02x%02x", hdr[1],
	       hdr[0], hdr[3], hdr[2], hdr[11], hdr[10], hdr[9]);

	ret = uvfio_get_region_info(h, UVFIO_PCI_CONFIG_REGION, &cfg);
	bool cfg_ok = !ret && stat("/sys/bus/pci/devices/" NVME "/config", &st) == 0 &&
		      cfg.size == (uint64_t)st.st_size && (cfg.flags & UVFIO_REGION_READ) &&
		      !(cfg.flags & UVFIO_REGION_MMAP);
	result(cfg_ok, "NVMe config region: size %llu (sysfs %lld)",
	       (unsigned long long)cfg.size, (long long)st.st_size);

	ret = uvfio_get_region_info(h, UVFIO_PCI_BAR0_REGION, &bar);
	unsigned long long start = 0, end = 0, flags = 0;
	f = fopen("/sys/bus/pci/devices/" NVME "/resource", "r");
	if (!f || fscanf(f, "%llx %llx %llx", &start, &end, &flags) != 3)
		end = start = 1;
	if (f)
		fclose(f);
	result(!ret && bar.size == end - start + 1 &&
		       (bar.flags & (UVFIO_REGION_READ | UVFIO_REGION_WRITE | UVFIO_REGION_MMAP)) ==
			       (UVFIO_REGION_READ | UVFIO_REGION_WRITE | UVFIO_REGION_MMAP),
	       "NVMe BAR0 region: size 0x%llx (sysfs 0x%llx), flags 0x%x", (unsigned long long)bar.size,
	       end - start + 1, bar.flags);

	msix = find_cap(h, PCI_CAP_ID_MSIX);
	if (msix > 0)
		ret = uvfio_config_read(h, (uint32_t)msix + PCI_MSIX_TABLE, &table, 4);
	if (msix > 0 && !ret)
		ret = uvfio_get_region_info(h, table & PCI_MSIX_TABLE_BIR, &bir_info);
	result(msix > 0 && !ret && bir_info.msix_mappable,
	       "NVMe MSI-X table BAR %u: capability chain says MSI-X mappable (cap at 0x%x)",
	       table & PCI_MSIX_TABLE_BIR, msix);

	ret = enable_master(h);
	if (!ret)
		ret = rd32(h, 0x08, &vs); /* NVMe VS register */
	result(!ret && (vs >> 16) >= 1, "NVMe VS register through the BAR: %u.%u", vs >> 16,
	       (vs >> 8) & 0xff);

	int efd = eventfd(0, EFD_CLOEXEC);
	struct uvfio_irq_info ii;
	struct pollfd pfd = { .fd = efd, .events = POLLIN };
	int fired = 0;

	ret = uvfio_get_irq_info(h, UVFIO_PCI_MSIX_IRQ, &ii);
	if (!ret)
		ret = uvfio_irq_enable(h, UVFIO_PCI_MSIX_IRQ, 0, 1, &efd);
	/* A loopback trigger signals the vector's eventfd through the kernel. */
	if (!ret)
		ret = uvfio_set_irqs(h, UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_TRIGGER,
				     UVFIO_PCI_MSIX_IRQ, 0, 1, NULL);
	if (!ret)
		fired = poll(&pfd, 1, 5000);
	if (!ret)
		ret = uvfio_irq_disable(h, UVFIO_PCI_MSIX_IRQ);
	result(!ret && ii.count >= 1 && fired == 1,
	       "NVMe MSI-X: %u vectors, enable, loopback trigger fires the eventfd, disable (ret %d)",
	       ii.count, ret);
	close(efd);
	uvfio_close(h);
}

/* The userspace NVMe driver on the same device (the scratch image): identify, a 64 KiB
 * round trip (PRP list), an LBA out of range by name, with interrupts if any reaches us. */
static void step_nvme_driver(void)
{
	struct uvfio_nvme_opts o;
	struct uvfio_nvme_ctrl *c = NULL;
	struct uvfio_nvme_qpair *q = NULL;
	struct uvfio_nvme_ctrl_info ci = { 0 };
	struct uvfio_nvme_ns_info ns = { 0 };
	char url[64];
	uint8_t *w = NULL, *r = NULL;
	int ret, st = -1, oor = 0;

	uvfio_nvme_opts_default(&o);
	snprintf(url, sizeof(url), "vfio:%s?iommu=%s", NVME, mode);
	ret = uvfio_nvme_open(url, &o, &c);
	if (!ret)
		ret = uvfio_nvme_ctrl_get_info(c, &ci);
	if (!ret)
		ret = uvfio_nvme_ns_get_info(c, 1, &ns) ? -EIO : 0;
	if (!ret)
		ret = uvfio_nvme_qpair_create(c, &q);
	if (!ret && (w = uvfio_nvme_dma_alloc(c, 65536)) && (r = uvfio_nvme_dma_alloc(c, 65536))) {
		struct uvfio_nvme_cmd cmd = { .opcode = 1, .nsid = 1, .cdw10 = 2048,
					      .cdw12 = 65536 / ns.lba_size - 1 };
		fill(w, 65536, 9);
		st = uvfio_nvme_io_sync(q, &cmd, w, 65536, NULL);
		cmd.opcode = 2;
		if (!st)
			st = uvfio_nvme_io_sync(q, &cmd, r, 65536, NULL);
		if (!st && memcmp(w, r, 65536))
			st = -EIO;
		cmd.cdw10 = (uint32_t)ns.nsze;
		cmd.cdw12 = 0;
		oor = uvfio_nvme_io_sync(q, &cmd, r, ns.lba_size, NULL);
	}
	result(!ret && !st && !strcmp(uvfio_nvme_strstatus(oor), "LBA Out of Range"),
	       "NVMe driver: %s %s, %s interrupts, 64 KiB round trip (%s), past the end: %s",
	       ci.mn, ci.sn, ci.irq ? ci.irq : "-", uvfio_nvme_strstatus(ret ? ret : st),
	       uvfio_nvme_strstatus(oor));
	uvfio_nvme_qpair_destroy(q);
	uvfio_nvme_ctrl_close(c);
}

/* --group binds the e1000 too; then the group is usable, and unbind gives e1000 back. */
static void step_group_bind(void)
{
	struct uvfio_handle *h = NULL;
	char out[2048], d1[64], d2[64];
	uint32_t id = 0;
	int st, ret;

	st = run("/bin/uvfio bind --group " EDU_SHARED " 2>&1", out, sizeof(out));
	sysfs_driver(E1000, d1, sizeof(d1));
	sysfs_driver(EDU_SHARED, d2, sizeof(d2));
	result(st == 0 && strcmp(d1, "vfio-pci") == 0 && strcmp(d2, "vfio-pci") == 0,
	       "uvfio bind --group binds the whole group (e1000 now on %s, edu on %s, exit %d)", d1,
	       d2, st);
	ret = open_vfio(EDU_SHARED, mode, &h);
	if (!ret)
		ret = rd32(h, REG_ID, &id);
	result(!ret && id == EDU_ID, "the edu of the now viable group works (ID 0x%08x, ret %d)",
	       id, ret);
	if (h)
		uvfio_close(h);
	st = run("/bin/uvfio unbind " E1000 " 2>&1", out, sizeof(out));
	sysfs_driver(E1000, d1, sizeof(d1));
	result(st == 0 && strcmp(d1, "e1000") == 0, "uvfio unbind gives the e1000 back (%s, exit %d)",
	       d1, st);
	st = run("/bin/uvfio unbind " EDU_SHARED " 2>&1", out, sizeof(out));
	sysfs_driver(EDU_SHARED, d2, sizeof(d2));
	result(st == 0 && strcmp(d2, "none") == 0, "uvfio unbind leaves the edu unbound (exit %d)",
	       st);
}

static void step_cli_unbind(const char *nvme_driver)
{
	char out[2048], drv[64];
	int st;

	st = run("/bin/uvfio unbind " NVME " 2>&1", out, sizeof(out));
	sysfs_driver(NVME, drv, sizeof(drv));
	result(st == 0 && strcmp(drv, nvme_driver) == 0,
	       "uvfio unbind " NVME ": back on %s (was %s, exit %d)", drv, nvme_driver, st);
	st = run("/bin/uvfio unbind " EDU2 " 2>&1", out, sizeof(out));
	sysfs_driver(EDU2, drv, sizeof(drv));
	result(st == 0 && strcmp(drv, "none") == 0, "uvfio unbind " EDU2 ": unbound again (exit %d)",
	       st);
	st = run("/bin/uvfio unbind " E1000 " 2>&1", out, sizeof(out));
	result(st == 1 && strstr(out, "not to a vfio driver"),
	       "uvfio unbind of a device not on vfio is refused (exit %d)", st);
}

int main(int argc, char **argv)
{
	char nvme_driver[64];

	if (argc != 3) {
		fprintf(stderr, "usage: %s type1|iommufd type1|iommufd\n", argv[0]);
		return 2;
	}
	mode = argv[1];
	autosel = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	step_cli_bind(nvme_driver, sizeof(nvme_driver));
	step_select();
	step_edu_client();
	step_shared_ioas();
	step_features_reset();
	step_nvme();
	step_nvme_driver();
	step_group_bind();
	step_cli_unbind(nvme_driver);
	return summary();
}
