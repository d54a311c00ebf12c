/* SPDX-License-Identifier: MIT */
/*
 * Runs inside the test VM (tests/vm/run.sh) after guest_kernel: the kernel's mtty sample
 * mediated device through uvfio, a kernel driver that migrates. `uvfio list` and `uvfio mdev`
 * (create, remove, refusals), vfio:UUID URLs on the path asked for and on the one picked,
 * emulated config space and BAR0, UART state (registers and FIFO bytes) moved by `uvfio migrate`
 * with and without pre-copy and by `uvfio save` / `uvfio load`, PRE_COPY sizes, the state
 * machine (every arc the kernel refuses, uvfio refuses, and no other), DMA logging answers, and
 * streams of one kind of device refused by the other with the reason. The kernel's own answers
 * come from the device opened here with raw ioctls, without uvfio.
 *
 * usage: guest_mdev MODE AUTO   (MODE: type1|iommufd, AUTO: the backend "vfio:UUID" picks)
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vfio.h>

#include <uvfio/client.h>
#include <uvfio/host.h>
#include <uvfio/migration.h>

#include "util/vfio_compat.h"

#include "guest_util.h"

#define PARENT "/sys/class/mdev_bus/mtty"
#define TYPE_AVAIL PARENT "/mdev_supported_types/mtty-1/available_instances"
#define UUID_A "5a3c1f0e-2d4b-4e6a-8c9d-00000000000a"
#define MTTY_VENDOR 0x4348
#define MTTY_DEVICE 0x3253
#define MTTY_STREAM 60 /* a single port's migration data */
/* 16550 registers (offsets in BAR0) and bits */
#define THR 0
#define RX 0
#define IER 1
#define FCR 2
#define LCR 3
#define MCR 4
#define LSR 5
#define SCR 7
#define LSR_DR 0x01

static const char *mode, *autosel;
static char uuid_b[UVFIO_MDEV_UUID_LEN];
static char url_a[96], url_b[96];

/* Runs a shell command built from fmt, with its stderr, through run(). */
static int runf(char *out, size_t len, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static int runf(char *out, size_t len, const char *fmt, ...)
{
	char cmd[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(cmd, sizeof(cmd) - 8, fmt, ap);
	va_end(ap);
	strcat(cmd, " 2>&1");
	return run(cmd, out, len);
}

static long read_long(const char *path)
{
	char buf[32] = "";
	FILE *f = fopen(path, "r");

	if (f) {
		if (!fgets(buf, sizeof(buf), f))
			buf[0] = '\0';
		fclose(f);
	}
	return buf[0] ? strtol(buf, NULL, 10) : -1;
}

static bool exists(const char *fmt, const char *arg)
{
	char path[256];
	struct stat st;

	snprintf(path, sizeof(path), fmt, arg);
	return stat(path, &st) == 0;
}

static int rd8(struct uvfio_handle *h, uint64_t off, uint8_t *v)
{
	ssize_t n = uvfio_region_read(h, UVFIO_PCI_BAR0_REGION, off, v, 1);

	return n == 1 ? 0 : n < 0 ? (int)n : -EIO;
}

static int wr8(struct uvfio_handle *h, uint64_t off, uint8_t v)
{
	ssize_t n = uvfio_region_write(h, UVFIO_PCI_BAR0_REGION, off, &v, 1);

	return n == 1 ? 0 : n < 0 ? (int)n : -EIO;
}

static struct uvfio_handle *open_url(const char *url)
{
	struct uvfio_handle *h = NULL;
	int ret = uvfio_open(url, &h);

	if (ret < 0)
		printf("  open %s: %s\n", url, strerror(-ret));
	return ret < 0 ? NULL : h;
}

/* The state a test puts into a port: line control, interrupt enable, modem control, scratch
 * and three bytes in the FIFO (mtty loops what is written to THR back into its FIFO). */
struct uart {
	uint8_t lcr, ier, mcr, scr;
	char fifo[4];
};

static int put_state(const char *url, const struct uart *u)
{
	struct uvfio_handle *h = open_url(url);
	int ret;

	if (!h)
		return -ENODEV;
	ret = wr8(h, FCR, 0x07); /* FIFO on, both cleared: nothing left from before */
	if (ret == 0)
		ret = wr8(h, LCR, u->lcr);
	if (ret == 0)
		ret = wr8(h, IER, u->ier);
	if (ret == 0)
		ret = wr8(h, MCR, u->mcr);
	if (ret == 0)
		ret = wr8(h, SCR, u->scr);
	for (int i = 0; ret == 0 && i < 3; i++)
		ret = wr8(h, THR, (uint8_t)u->fifo[i]);
	uvfio_close(h);
	return ret;
}

/* Reads the state back (the FIFO is drained by reading it); detail says what differs. */
static bool check_state(const char *url, const struct uart *u, char *detail, size_t len)
{
	struct uvfio_handle *h = open_url(url);
	uint8_t lcr = 0, ier = 0, mcr = 0, scr = 0, lsr = 0, lsr_after = 0xff;
	char fifo[4] = "";
	int ret;

	if (!h) {
		snprintf(detail, len, "cannot open %s", url);
		return false;
	}
	ret = rd8(h, LCR, &lcr);
	ret = ret ? ret : rd8(h, IER, &ier);
	ret = ret ? ret : rd8(h, MCR, &mcr);
	ret = ret ? ret : rd8(h, SCR, &scr);
	ret = ret ? ret : rd8(h, LSR, &lsr);
	for (int i = 0; ret == 0 && i < 3; i++)
		ret = rd8(h, RX, (uint8_t *)&fifo[i]);
	ret = ret ? ret : rd8(h, LSR, &lsr_after);
	uvfio_close(h);
	snprintf(detail, len, "LCR %#x IER %#x MCR %#x SCR %#x LSR %#x FIFO \"%.3s\" then LSR %#x%s%s",
		 lcr, ier, mcr, scr, lsr, fifo, lsr_after, ret ? ": " : "",
		 ret ? strerror(-ret) : "");
	return ret == 0 && lcr == u->lcr && ier == (u->ier & 0x0f) && mcr == u->mcr &&
	       scr == u->scr && (lsr & LSR_DR) && memcmp(fifo, u->fifo, 3) == 0 &&
	       !(lsr_after & LSR_DR);
}

static void step_cli_create(long *avail0)
{
	char out[4096];
	long avail;
	int rc;

	*avail0 = read_long(TYPE_AVAIL);
	rc = runf(out, sizeof(out), "uvfio list");
	result(rc == 0 && strstr(out, "mtty-1") && strstr(out, "Single port serial") &&
		       strstr(out, "vfio-pci"),
	       "uvfio list shows parent mtty with type mtty-1 (%ld available)", *avail0);
	rc = runf(out, sizeof(out), "uvfio mdev create mtty mtty-1 %s", UUID_A);
	result(rc == 0 && strstr(out, UUID_A) && exists("/sys/bus/mdev/devices/%s", UUID_A),
	       "uvfio mdev create mtty mtty-1 UUID makes /sys/bus/mdev/devices/UUID");
	rc = runf(out, sizeof(out), "uvfio mdev create mtty mtty-1");
	if (rc == 0)
		snprintf(uuid_b, sizeof(uuid_b), "%.36s", out);
	result(rc == 0 && uvfio_mdev_parse_uuid(uuid_b, uuid_b) == 0 &&
		       exists("/sys/bus/mdev/devices/%s", uuid_b),
	       "uvfio mdev create without UUID picks one (%s)", uuid_b);
	avail = read_long(TYPE_AVAIL);
	rc = runf(out, sizeof(out), "uvfio list");
	result(rc == 0 && strstr(out, UUID_A) && strstr(out, uuid_b) && avail == *avail0 - 2,
	       "uvfio list shows both instances; available_instances %ld -> %ld", *avail0, avail);
	rc = runf(out, sizeof(out), "uvfio mdev create mtty mtty-9");
	result(rc == 1 && strstr(out, "no type \"mtty-9\""), "unknown type refused (exit %d)", rc);
	rc = runf(out, sizeof(out), "uvfio mdev create mtty mtty-1 %s", UUID_A);
	result(rc == 1 && strstr(out, "already exists"), "taken UUID refused (exit %d)", rc);
	rc = runf(out, sizeof(out), "uvfio mdev create mtty");
	result(rc == 2, "uvfio mdev create without TYPE is a usage error (exit %d)", rc);
}

static void step_open(void)
{
	struct uvfio_region_info ri;
	struct uvfio_handle *h;
	uint16_t vendor = 0, device = 0;
	char want[32], url[96], out[4096];
	uint32_t flags = 0;
	int rc;

	h = open_url(url_a);
	snprintf(want, sizeof(want), "vfio-%s", mode);
	result(h && strcmp(uvfio_backend_name(h), want) == 0, "%s opens through %s", url_a, want);
	if (!h)
		return;
	uvfio_config_read(h, 0, &vendor, 2);
	uvfio_config_read(h, 2, &device, 2);
	result(vendor == MTTY_VENDOR && device == MTTY_DEVICE,
	       "emulated config space: %04x:%04x", vendor, device);
	rc = uvfio_get_region_info(h, UVFIO_PCI_BAR0_REGION, &ri);
	result(rc == 0 && ri.size == 8, "BAR0 is the 8-byte UART (size %llu)",
	       (unsigned long long)ri.size);
	rc = uvfio_mig_get_flags(h, &flags);
	result(rc == 0 && flags == (UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P |
				    UVFIO_MIGRATION_PRE_COPY),
	       "migration flags %#x (STOP_COPY | P2P | PRE_COPY)", flags);
	uvfio_close(h);
	snprintf(url, sizeof(url), "vfio:%s", UUID_A);
	h = open_url(url);
	snprintf(want, sizeof(want), "vfio-%s", autosel);
	result(h && strcmp(uvfio_backend_name(h), want) == 0, "vfio:UUID picks %s", want);
	if (h)
		uvfio_close(h);
	rc = runf(out, sizeof(out), "uvfio info %s", url_a);
	result(rc == 0 && strstr(out, "4348"), "uvfio info on an mdev (no PCI sysfs) works");
}

static void step_migrate(bool precopy)
{
	struct uart u = { 0x03, 0x04, 0x03, precopy ? 0x5a : 0xa5, "" };
	char out[4096], detail[160];
	int rc;

	snprintf(u.fifo, sizeof(u.fifo), "%s", precopy ? "pre" : "stp");
	if (put_state(url_a, &u) < 0) {
		result(false, "state put into A");
		return;
	}
	rc = runf(out, sizeof(out), "uvfio migrate %s %s --json%s", url_a, url_b,
		 precopy ? "" : " --no-precopy");
	const char *bytes = strstr(out, "\"device_bytes\":");
	long nbytes = bytes ? strtol(bytes + 15, NULL, 10) : -1;
	result(rc == 0 && strstr(out, precopy ? "\"precopy\":true" : "\"precopy\":false") &&
		       nbytes == MTTY_STREAM,
	       "uvfio migrate A B%s: exit %d, %ld bytes of mtty data",
	       precopy ? "" : " --no-precopy", rc, nbytes);
	result(check_state(url_b, &u, detail, sizeof(detail)),
	       "B has A's UART registers and FIFO after migrate%s (%s)",
	       precopy ? " with pre-copy" : " without pre-copy", detail);
}

static void step_save_load(void)
{
	struct uart u = { 0x1b, 0x05, 0x0b, 0x3c, "sav" };
	uint8_t head[8], magic[8] = { 0x4e, 0x2c, 0x3e, 0x8c, 0x89, 0x09, 0x9d, 0x7e };
	char out[4096], detail[160];
	struct stat st = { 0 };
	int rc, fd;

	if (put_state(url_a, &u) < 0) {
		result(false, "state put into A");
		return;
	}
	rc = runf(out, sizeof(out), "uvfio save %s /tmp/mtty.bin", url_a);
	stat("/tmp/mtty.bin", &st);
	fd = open("/tmp/mtty.bin", O_RDONLY);
	memset(head, 0, sizeof(head));
	if (fd >= 0) {
		if (read(fd, head, sizeof(head)) != (ssize_t)sizeof(head))
			memset(head, 0, sizeof(head));
		close(fd);
	}
	result(rc == 0 && st.st_size == MTTY_STREAM && memcmp(head, magic, 8) == 0,
	       "uvfio save: %lld bytes, mtty's own data (its magic, no uvfio header)",
	       (long long)st.st_size);
	rc = runf(out, sizeof(out), "uvfio load %s /tmp/mtty.bin", url_b);
	result(rc == 0 && check_state(url_b, &u, detail, sizeof(detail)),
	       "uvfio load into B gives A's state (%s)", detail);
	/* Not mtty's data (its magic zeroed): mtty's resume write answers EFAULT; one byte more
	 * than a port's data: ENOMEM. Errnos that do not name the cause (docs/kernel.md). */
	rc = runf(out, sizeof(out), "head -c 60 /dev/zero >/tmp/zero.bin && "
		 "uvfio load %s /tmp/zero.bin", url_b);
	result(rc == 1 && strstr(out, "Bad address"), "another driver's 60 bytes: mtty says EFAULT");
	rc = runf(out, sizeof(out), "head -c 61 /dev/zero >/tmp/long.bin && "
		 "uvfio load %s /tmp/long.bin", url_b);
	result(rc == 1 && strstr(out, "Cannot allocate memory"),
	       "61 bytes into a one-port mtty: mtty says ENOMEM");
	/* A short stream: mtty's RESUMING -> STOP refuses to load it. */
	rc = runf(out, sizeof(out), "head -c 40 /tmp/mtty.bin >/tmp/short.bin && "
		 "uvfio load %s /tmp/short.bin", url_b);
	result(rc == 1 && strstr(out, "cannot load"), "a truncated mtty stream is refused");
}

/* ---- the kernel's own answers, from the device opened without uvfio ---- */

struct raw {
	int container, group, iommufd, dev;
};

static void raw_close(struct raw *r)
{
	int *fds[] = { &r->dev, &r->group, &r->container, &r->iommufd };

	for (unsigned i = 0; i < 4; i++)
		if (*fds[i] >= 0)
			close(*fds[i]);
	*r = (struct raw){ -1, -1, -1, -1 };
}

static int raw_open(const char *uuid, struct raw *r)
{
	char path[160], target[160];
	ssize_t n;

	*r = (struct raw){ -1, -1, -1, -1 };
	if (!strcmp(mode, "type1")) {
		int type = VFIO_TYPE1v2_IOMMU;

		snprintf(path, sizeof(path), "/sys/bus/mdev/devices/%s/iommu_group", uuid);
		n = readlink(path, target, sizeof(target) - 1);
		if (n < 0)
			return -errno;
		target[n] = '\0';
		snprintf(path, sizeof(path), "/dev/vfio/%s", strrchr(target, '/') + 1);
		r->container = open("/dev/vfio/vfio", O_RDWR);
		r->group = open(path, O_RDWR);
		if (r->container < 0 || r->group < 0 ||
		    ioctl(r->group, VFIO_GROUP_SET_CONTAINER, &r->container) < 0 ||
		    ioctl(r->container, VFIO_SET_IOMMU, type) < 0)
			goto fail;
		r->dev = ioctl(r->group, VFIO_GROUP_GET_DEVICE_FD, uuid);
		if (r->dev < 0)
			goto fail;
		return 0;
	}
	struct uvfio_mdev m;
	struct vfio_device_bind_iommufd bind = { .argsz = sizeof(bind) };
	struct iommu_ioas_alloc alloc = { .size = sizeof(alloc) };
	struct vfio_device_attach_iommufd_pt attach = { .argsz = sizeof(attach) };

	if (uvfio_mdev_get(uuid, &m) < 0 || !m.cdev[0])
		return -ENODEV;
	snprintf(path, sizeof(path), "/dev/vfio/devices/%s", m.cdev);
	r->iommufd = open("/dev/iommu", O_RDWR);
	r->dev = open(path, O_RDWR);
	if (r->iommufd < 0 || r->dev < 0)
		goto fail;
	bind.iommufd = r->iommufd;
	if (ioctl(r->dev, VFIO_DEVICE_BIND_IOMMUFD, &bind) < 0 ||
	    ioctl(r->iommufd, IOMMU_IOAS_ALLOC, &alloc) < 0)
		goto fail;
	attach.pt_id = alloc.out_ioas_id;
	if (ioctl(r->dev, VFIO_DEVICE_ATTACH_IOMMUFD_PT, &attach) < 0)
		goto fail;
	return 0;
fail:
	n = -errno;
	raw_close(r);
	return (int)n;
}

/* SET MIG_DEVICE_STATE on the raw fd: 0 or -errno; a data_fd it returns is closed. */
static int raw_set_state(struct raw *r, uint32_t state, int *data_fd)
{
	struct {
		struct vfio_device_feature f;
		struct vfio_device_feature_mig_state s;
	} b = { { sizeof(b), VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE },
		{ state, -1 } };

	if (ioctl(r->dev, VFIO_DEVICE_FEATURE, &b) < 0)
		return -errno;
	if (data_fd)
		*data_fd = b.s.data_fd;
	else if (b.s.data_fd >= 0)
		close(b.s.data_fd);
	return 0;
}

static const uint32_t real_states[] = {
	UVFIO_MIG_STATE_STOP,	     UVFIO_MIG_STATE_RUNNING,	  UVFIO_MIG_STATE_STOP_COPY,
	UVFIO_MIG_STATE_RESUMING,    UVFIO_MIG_STATE_RUNNING_P2P, UVFIO_MIG_STATE_PRE_COPY,
	UVFIO_MIG_STATE_PRE_COPY_P2P,
};
#define NR_REAL (sizeof(real_states) / sizeof(real_states[0]))
static const uint32_t targets[] = { 1, 2, 3, 4, 5, 6, 7, 0 /* ERROR */, 8, 99 };
#define NR_TARGETS (sizeof(targets) / sizeof(targets[0]))

/* Puts the raw device in `from` (the kernel walks there itself); in RESUMING it gets a whole
 * stream, so that the commit of RESUMING -> STOP is the driver's yes, not a missing-data no. */
static int raw_enter(struct raw *r, uint32_t from, const uint8_t *stream, size_t len)
{
	int fd = -1, ret;

	if (ioctl(r->dev, VFIO_DEVICE_RESET) < 0)
		return -errno;
	ret = raw_set_state(r, from, &fd);
	if (ret == 0 && from == UVFIO_MIG_STATE_RESUMING && fd >= 0 &&
	    write(fd, stream, len) != (ssize_t)len)
		ret = -EIO;
	if (fd >= 0)
		close(fd);
	return ret;
}

static void step_fsm(void)
{
	uint8_t stream[MTTY_STREAM];
	uint32_t flags = UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P | UVFIO_MIGRATION_PRE_COPY;
	struct raw r;
	int fd = -1, ret;
	ssize_t n = 0;

	ret = raw_open(UUID_A, &r);
	if (ret == 0 && (ret = raw_enter(&r, UVFIO_MIG_STATE_STOP, NULL, 0)) == 0 &&
	    (ret = raw_set_state(&r, UVFIO_MIG_STATE_STOP_COPY, &fd)) == 0) {
		n = read(fd, stream, sizeof(stream));
		close(fd);
	}
	result(ret == 0 && n == MTTY_STREAM, "raw kernel: STOP_COPY data_fd gives %zd bytes", n);
	if (ret < 0 || n != MTTY_STREAM) {
		raw_close(&r);
		return;
	}
	for (unsigned i = 0; i < NR_REAL; i++) {
		uint32_t from = real_states[i], next;
		char kref[128] = "", uref[128] = "";
		bool same = true;

		for (unsigned k = 0; k < NR_TARGETS; k++) {
			uint32_t to = targets[k];
			int kret = raw_enter(&r, from, stream, sizeof(stream));
			int uret = uvfio_mig_next_state(flags, from, to, &next);
			char name[16];

			if (kret == 0)
				kret = raw_set_state(&r, to, NULL);
			snprintf(name, sizeof(name), "%s ", to < UVFIO_MIG_STATE_NR ?
				 uvfio_mig_state_name(to) : to == 8 ? "8" : "99");
			if (kret < 0)
				strncat(kref, name, sizeof(kref) - strlen(kref) - 1);
			if (uret < 0)
				strncat(uref, name, sizeof(uref) - strlen(uref) - 1);
			/* Refused by both, with the same errno (-EINVAL), or by neither. */
			same &= kret < 0 ? kret == uret : uret == 0;
		}
		result(same, "from %s the kernel refuses [ %s] and uvfio's FSM [ %s]",
		       uvfio_mig_state_name(from), kref, uref);
	}
	ioctl(r.dev, VFIO_DEVICE_RESET);
	raw_close(&r);
}

/* DMA logging: the raw kernel's answer to each request, then uvfio's through the client API. */
struct log_case {
	const char *what;
	uint64_t page_size;
	uint32_t nr;
	struct uvfio_dirty_range range;
	bool stricter; /* uvfio refuses what the kernel takes (docs/kernel.md, quirks) */
};

static int raw_log_start(struct raw *r, const struct log_case *c)
{
	struct vfio_device_feature_dma_logging_range range = { c->range.iova, c->range.length };
	struct {
		struct vfio_device_feature f;
		struct vfio_device_feature_dma_logging_control c;
	} b = { { sizeof(b), VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_DMA_LOGGING_START },
		{ c->page_size, c->nr, 0, (uintptr_t)&range } };

	return ioctl(r->dev, VFIO_DEVICE_FEATURE, &b) < 0 ? -errno : 0;
}

static int raw_log_stop(struct raw *r)
{
	struct vfio_device_feature f = { sizeof(f), VFIO_DEVICE_FEATURE_SET |
						      VFIO_DEVICE_FEATURE_DMA_LOGGING_STOP };

	return ioctl(r->dev, VFIO_DEVICE_FEATURE, &f) < 0 ? -errno : 0;
}

static int raw_log_report(struct raw *r, uint64_t iova, uint64_t len, uint64_t page,
			  uint64_t *bitmap)
{
	struct {
		struct vfio_device_feature f;
		struct vfio_device_feature_dma_logging_report r;
	} b = { { sizeof(b), VFIO_DEVICE_FEATURE_GET | VFIO_DEVICE_FEATURE_DMA_LOGGING_REPORT },
		{ iova, len, page, (uintptr_t)bitmap } };

	return ioctl(r->dev, VFIO_DEVICE_FEATURE, &b) < 0 ? -errno : 0;
}

static void step_dma_logging(void)
{
	static const struct log_case cases[] = {
		{ "1 MiB at 0, 4 KiB pages", 4096, 1, { 0, 1 << 20 }, false },
		{ "an unaligned range", 4096, 1, { 100, 1 << 20 }, false },
		/* The kernel's core checks ranges with IS_ALIGNED, which assumes a power of two,
		 * and hands any page size to the driver; uvfio's API refuses it up front. */
		{ "page size 3 (not a power of two)", 3, 1, { 0, 1 << 20 }, true },
		{ "no ranges", 4096, 0, { 0, 1 << 20 }, false },
	};
	uint64_t kbits[4], ubits[4];
	struct uvfio_handle *h;
	struct raw r;
	int kret[4], uret[4], krep, urep, kstop, ustop;

	if (raw_open(UUID_A, &r) < 0) {
		result(false, "raw open of A for DMA logging");
		return;
	}
	for (unsigned i = 0; i < 4; i++) {
		kret[i] = raw_log_start(&r, &cases[i]);
		raw_log_stop(&r);
	}
	raw_log_start(&r, &cases[0]);
	memset(kbits, 0xee, sizeof(kbits)); /* the kernel only sets bits; mtty sets none */
	kbits[0] = 0;
	krep = raw_log_report(&r, 0, 64 * 4096, 4096, kbits);
	kstop = raw_log_stop(&r);
	raw_close(&r);

	h = open_url(url_a);
	if (!h) {
		result(false, "open A for DMA logging");
		return;
	}
	for (unsigned i = 0; i < 4; i++) {
		uint64_t page = cases[i].page_size;

		uret[i] = uvfio_dirty_start(h, &cases[i].range, cases[i].nr, &page);
		uvfio_dirty_stop(h);
		if (cases[i].stricter)
			result(kret[i] == 0 && uret[i] == -EINVAL,
			       "DMA logging start, %s: kernel %s, uvfio %s (stricter, as documented)",
			       cases[i].what, strerror(-kret[i]), strerror(-uret[i]));
		else
			result(kret[i] == uret[i], "DMA logging start, %s: kernel %s, uvfio %s",
			       cases[i].what, strerror(-kret[i]), strerror(-uret[i]));
	}
	uint64_t page = 4096;
	uvfio_dirty_start(h, &cases[0].range, 1, &page);
	memset(ubits, 0, sizeof(ubits));
	urep = uvfio_dirty_report(h, 0, 64 * 4096, 4096, ubits);
	ustop = uvfio_dirty_stop(h);
	uvfio_close(h);
	result(krep == 0 && urep == 0 && kbits[0] == 0 && ubits[0] == 0,
	       "DMA logging report: kernel %s, uvfio %s, nothing dirty (mtty does no DMA)",
	       strerror(-krep), strerror(-urep));
	result(kstop == ustop, "DMA logging stop: kernel %s, uvfio %s", strerror(-kstop),
	       strerror(-ustop));
}

static void step_precopy_info(void)
{
	struct uvfio_handle *h = open_url(url_a);
	uint64_t initial = 0, dirty = 1;
	uint8_t buf[128];
	ssize_t n1 = -1, n2 = -1;
	int ret;

	if (!h) {
		result(false, "open A for PRE_COPY");
		return;
	}
	ret = uvfio_mig_set_state(h, UVFIO_MIG_STATE_PRE_COPY, NULL);
	if (ret == 0)
		ret = uvfio_mig_precopy_info(h, &initial, &dirty);
	if (ret == 0)
		n1 = uvfio_mig_read(h, buf, sizeof(buf));
	if (ret == 0)
		ret = uvfio_mig_set_state(h, UVFIO_MIG_STATE_STOP_COPY, NULL);
	if (ret == 0)
		n2 = uvfio_mig_read(h, buf, sizeof(buf));
	uvfio_mig_set_state(h, UVFIO_MIG_STATE_RUNNING, NULL);
	uvfio_close(h);
	/* mtty: the header in PRE_COPY, the port in STOP_COPY, on the same data_fd. */
	result(ret == 0 && initial == 24 && dirty == 0 && n1 == 24 && n2 == MTTY_STREAM - 24,
	       "PRE_COPY info initial %llu dirty %llu, read %zd; STOP_COPY then %zd more",
	       (unsigned long long)initial, (unsigned long long)dirty, n1, n2);
}

static void step_mixed(void)
{
	char out[4096];
	pid_t pid;
	int rc;

	pid = fork();
	if (pid == 0) {
		execl("/bin/uvfio", "uvfio", "serve", "--device", "edu-mig", "--socket",
		      "/tmp/edu-mig.sock", (char *)NULL);
		_exit(127);
	}
	for (int i = 0; i < 100 && !exists("%s", "/tmp/edu-mig.sock"); i++)
		usleep(50000);
	rc = runf(out, sizeof(out), "uvfio load /tmp/edu-mig.sock /tmp/mtty.bin");
	result(rc == 1 && strstr(out, "kernel VFIO device's own driver data"),
	       "mtty's saved state into a vfio-user edu-mig: refused, saying why (exit %d)", rc);
	rc = runf(out, sizeof(out), "uvfio save /tmp/edu-mig.sock /tmp/edu.bin && "
		 "uvfio load %s /tmp/edu.bin", url_b);
	result(rc == 1 && strstr(out, "is a uvfio migration stream") &&
		       strstr(out, "\"edu-mig\""),
	       "edu-mig's saved state into the mtty: refused, naming the stream's device (exit %d)",
	       rc);
	/* Device to device: no up-front check, the destination refuses the first write. */
	rc = runf(out, sizeof(out), "uvfio migrate %s /tmp/edu-mig.sock", url_a);
	result(rc == 1 && strstr(out, "writing device data"),
	       "uvfio migrate mtty -> edu-mig fails at the destination's first write (exit %d)", rc);
	if (pid > 0) {
		kill(pid, SIGTERM);
		waitpid(pid, NULL, 0);
	}
}

static void step_remove(long avail0)
{
	char out[1024];
	int rc1, rc2, rc3;

	rc1 = runf(out, sizeof(out), "uvfio mdev remove %s", UUID_A);
	rc2 = runf(out, sizeof(out), "uvfio mdev remove %s", uuid_b);
	result(rc1 == 0 && rc2 == 0 && !exists("/sys/bus/mdev/devices/%s", UUID_A) &&
		       !exists("/sys/bus/mdev/devices/%s", uuid_b) &&
		       read_long(TYPE_AVAIL) == avail0,
	       "uvfio mdev remove: both gone, available_instances back to %ld", avail0);
	rc3 = runf(out, sizeof(out), "uvfio mdev remove %s", UUID_A);
	result(rc3 == 1 && strstr(out, "no mediated device"), "removing it again: exit %d", rc3);
}

int main(int argc, char **argv)
{
	long avail0 = 0;

	if (argc != 3) {
		fprintf(stderr, "usage: guest_mdev type1|iommufd AUTO\n");
		return 2;
	}
	mode = argv[1];
	autosel = argv[2];
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (!exists("%s", PARENT)) {
		printf("SKIP mdev: this kernel has no mtty parent (%s; Debian's kernels do not build "
		       "SAMPLE_VFIO_MDEV_MTTY)\n", PARENT);
		printf("0 passed, 0 failed\n");
		return 0;
	}
	printf("mdev tests on the %s path\n", mode);
	step_cli_create(&avail0);
	snprintf(url_a, sizeof(url_a), "vfio:%s?iommu=%s", UUID_A, mode);
	snprintf(url_b, sizeof(url_b), "vfio:%s?iommu=%s", uuid_b, mode);
	if (exists("/sys/bus/mdev/devices/%s", UUID_A) && uuid_b[0]) {
		step_open();
		step_migrate(true);
		step_migrate(false);
		step_save_load();
		step_precopy_info();
		step_fsm();
		step_dma_logging();
		step_mixed();
	}
	step_remove(avail0);
	return summary();
}
