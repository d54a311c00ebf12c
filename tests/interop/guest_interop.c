/* SPDX-License-Identifier: MIT */
/*
 * Runs inside the interop guest (tests/interop/run.sh): devices served by `uvfio serve` on the
 * host reach this Linux guest through QEMU's vfio-user-pci, behind QEMU's intel-iommu. The
 * guest has no edu driver, so each device is bound to vfio-pci here and driven by uvfio's own
 * kernel client (type1 through the vIOMMU): the edu client program covers ID, liveness,
 * factorial, status and irq registers, INTx and MSI delivery, DMA both ways and the DMA
 * completion interrupt; edu-mig's device memory BAR is checked on top. With AUTO "nvme" a uvfio
 * NVMe controller at 00:07.0 is checked with the guest's own nvme driver (MSI-X, nvme-cli,
 * ext4 on it across a remount, fsck). Prints PASS/FAIL lines and "N passed, N failed".
 *
 * usage: guest_interop MODE AUTO   (MODE: type1; AUTO: "nvme" to expect the NVMe controller)
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <uvfio/client.h>

#include "../vm/guest_util.h"

#define EDU "0000:00:05.0"
#define EDU_MIG "0000:00:06.0"
#define NVME "0000:00:07.0"
#define EDU_MIG_MEM (1u << 20) /* run.sh serves edu-mig,mem=1M */

static const char *mode;

/* The guest sees the device uvfio serves: IDs (NULL: any) and class in sysfs. */
static bool step_visible(const char *bdf, const char *what, const char *ids, const char *class)
{
	char v[32] = "", d[32] = "", c[32] = "", got[80];

	sysfs_read(bdf, "vendor", v, sizeof(v));
	sysfs_read(bdf, "device", d, sizeof(d));
	sysfs_read(bdf, "class", c, sizeof(c));
	snprintf(got, sizeof(got), "%s:%s", v, d);
	bool ok = (!ids || strcmp(got, ids) == 0) && strcmp(c, class) == 0;
	result(ok, "%s at %s: %s class %s (want %s %s)", what, bdf, got, c, ids ? ids : "any",
	       class);
	return ok;
}

/* Binds bdf to vfio-pci with the CLI and runs the edu client on it through kernel VFIO. */
static void step_edu_client(const char *bdf, const char *what)
{
	char cmd[160], out[8192];
	unsigned np, nf;
	int st;

	snprintf(cmd, sizeof(cmd), "/bin/uvfio bind %s 2>&1", bdf);
	st = run(cmd, out, sizeof(out));
	result(st == 0, "%s: uvfio bind %s to vfio-pci (exit %d)", what, bdf, st);
	if (st != 0)
		return;
	snprintf(cmd, sizeof(cmd), "/bin/uvfio-edu-client -v 'vfio:%s?iommu=%s' 2>&1", bdf, mode);
	st = run(cmd, out, sizeof(out));
	parse_summary(out, &np, &nf);
	result(st == 0 && np >= 20 && nf == 0,
	       "%s: edu client through the vIOMMU (registers, factorial, INTx, MSI, DMA both ways, "
	       "DMA interrupt): %u passed, %u failed (exit %d)",
	       what, np, nf, st);
}

/* edu-mig's device memory (BAR2, not mmap-able): sized as served, and it keeps what we write
 * through QEMU's REGION_WRITE path. */
static void step_edu_mig_mem(void)
{
	struct uvfio_handle *h = NULL;
	struct uvfio_region_info ri;
	uint32_t pattern[64], back[64];
	ssize_t n = -1;
	int ret;

	ret = open_vfio(EDU_MIG, mode, &h);
	if (!ret)
		ret = uvfio_get_region_info(h, 2, &ri);
	result(!ret && ri.size == EDU_MIG_MEM, "edu-mig: BAR2 device memory of 0x%llx bytes (ret %d)",
	       ret ? 0ull : (unsigned long long)ri.size, ret);
	if (!ret)
		ret = uvfio_pci_setup(h, 0);
	for (unsigned i = 0; i < 64; i++)
		pattern[i] = 0x9e3779b9u * (i + 1);
	memset(back, 0, sizeof(back));
	if (ret >= 0)
		n = uvfio_region_write(h, 2, EDU_MIG_MEM - sizeof(pattern), pattern, sizeof(pattern));
	if (n == (ssize_t)sizeof(pattern))
		n = uvfio_region_read(h, 2, EDU_MIG_MEM - sizeof(pattern), back, sizeof(back));
	result(n == (ssize_t)sizeof(back) && memcmp(pattern, back, sizeof(back)) == 0,
	       "edu-mig: 256 bytes at the end of BAR2 written and read back (ret %zd)", n);
	uvfio_close(h);
}

/* The guest's own nvme driver on uvfio's NVMe controller: MSI-X vectors in use, nvme-cli's
 * id-ctrl, ext4 made, written, remounted, read back, and a clean fsck. */
static void step_nvme(void)
{
	char out[8192];
	int st;

	if (!step_visible(NVME, "NVMe", NULL, "0x010802"))
		return;
	st = run("for i in $(seq 100); do [ -b /dev/nvme0n1 ] && break; sleep 0.1; done; "
		 "grep -c 'nvme0q' /proc/interrupts; grep 'nvme0q' /proc/interrupts | head -2",
		 out, sizeof(out));
	result(st == 0 && atoi(out) >= 2 && strstr(out, "MSIX"),
	       "nvme: the guest's driver bound, %d queue vectors, MSI-X", atoi(out));
	st = run("nvme id-ctrl /dev/nvme0 2>&1 | grep -E '^(vid|mn|sn|nn) '", out, sizeof(out));
	result(st == 0 && strstr(out, "vid") && strstr(out, "nn"), "nvme-cli id-ctrl (exit %d)",
	       st);
	st = run("mkfs.ext4 -q -F /dev/nvme0n1 2>&1 && mkdir -p /mnt && mount /dev/nvme0n1 /mnt && "
		 "seq 1 20000 >/mnt/data && sync && umount /mnt && echo written",
		 out, sizeof(out));
	result(st == 0 && strstr(out, "written"), "nvme: mkfs.ext4, mount, write, unmount (exit %d)",
	       st);
	st = run("echo 3 >/proc/sys/vm/drop_caches; mount /dev/nvme0n1 /mnt && "
		 "seq 1 20000 | cmp - /mnt/data && umount /mnt && echo same",
		 out, sizeof(out));
	result(st == 0 && strstr(out, "same"), "nvme: mounted again, data read back (exit %d)", st);
	st = run("e2fsck -f -n /dev/nvme0n1 2>&1", out, sizeof(out));
	result(st == 0, "nvme: e2fsck -f -n clean (exit %d)", st);
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s type1 none|nvme\n", argv[0]);
		return 2;
	}
	mode = argv[1];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (step_visible(EDU, "edu", "0x1234:0x11e8", "0x00ff00"))
		step_edu_client(EDU, "edu");
	if (step_visible(EDU_MIG, "edu-mig", "0x1234:0x11e8", "0x00ff00")) {
		step_edu_client(EDU_MIG, "edu-mig");
		step_edu_mig_mem();
	}
	if (strcmp(argv[2], "nvme") == 0)
		step_nvme();
	return summary();
}
