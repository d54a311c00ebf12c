/* SPDX-License-Identifier: MIT */
/*
 * Namespace storage. RAM: anonymous memory reserved, not committed, so a large namespace costs
 * what is written. File: pread/pwrite on a file or block device (synchronous, on the worker),
 * Flush = fdatasync, deallocate = hole punching where the file system has it.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "nvme.h"

static int ram_rw(struct nvmec_ns *ns, bool is_write, uint64_t off, void *buf, size_t len)
{
	if (off > ns->size || len > ns->size - off)
		return -EINVAL;
	if (is_write) {
		memcpy(ns->mem + off, buf, len);
		nvmec_mark_written(ns, off, len);
	} else
		memcpy(buf, ns->mem + off, len);
	return 0;
}

static int ram_zero(struct nvmec_ns *ns, uint64_t off, uint64_t len, bool deallocate)
{
	if (off > ns->size || len > ns->size - off)
		return -EINVAL;
	uint64_t pg = 4096, a = (off + pg - 1) & ~(pg - 1), b = (off + len) & ~(pg - 1);
	nvmec_mark_written(ns, off, len); /* zeroes must reach a migration destination too */
	/* Whole pages go back to the kernel (they read as zeroes again); edges are cleared. */
	if (deallocate && b > a && b - a >= 16 * pg) {
		memset(ns->mem + off, 0, a - off);
		if (madvise(ns->mem + a, b - a, MADV_DONTNEED) == 0) {
			memset(ns->mem + b, 0, off + len - b);
			return 0;
		}
	}
	memset(ns->mem + off, 0, len);
	return 0;
}

static void ram_free(struct nvmec_ns *ns)
{
	if (ns->mem)
		munmap(ns->mem, ns->size);
	ns->mem = NULL;
	nvmec_mig_free_ns(ns);
}

static const struct nvmec_backend_ops ram_ops = {
	.rw = ram_rw,
	.zero = ram_zero,
	.free = ram_free,
};

int nvmec_backend_ram(struct nvmec_ns *ns)
{
	void *p = mmap(NULL, ns->size, PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (p == MAP_FAILED)
		return -errno;
	ns->mem = p;
	ns->ops = &ram_ops;
	return nvmec_mig_init_ns(ns);
}

static int file_rw(struct nvmec_ns *ns, bool is_write, uint64_t off, void *buf, size_t len)
{
	uint8_t *p = buf;
	if (off > ns->size || len > ns->size - off)
		return -EINVAL;
	off += ns->file_off;
	while (len) {
		ssize_t r = is_write ? pwrite(ns->fd, p, len, (off_t)off)
				     : pread(ns->fd, p, len, (off_t)off);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -errno;
		if (r == 0) {
			if (is_write)
				return -EIO;
			memset(p, 0, len); /* a sparse file's end reads as zeroes */
			return 0;
		}
		p += r;
		off += (uint64_t)r;
		len -= (size_t)r;
	}
	return 0;
}

static int file_zero(struct nvmec_ns *ns, uint64_t off, uint64_t len, bool deallocate)
{
	if (off > ns->size || len > ns->size - off)
		return -EINVAL;
	off_t o = (off_t)(off + ns->file_off);
	if (deallocate && fallocate(ns->fd, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, o,
				    (off_t)len) == 0)
		return 0;
	if (fallocate(ns->fd, FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE, o, (off_t)len) == 0)
		return 0;
	static const uint8_t zeroes[65536];
	while (len) {
		size_t l = len < sizeof(zeroes) ? len : sizeof(zeroes);
		int ret = file_rw(ns, true, off, (void *)zeroes, l);
		if (ret < 0)
			return ret;
		off += l;
		len -= l;
	}
	return 0;
}

static int file_flush(struct nvmec_ns *ns)
{
	return fdatasync(ns->fd) < 0 ? -errno : 0;
}

static const struct nvmec_backend_ops file_ops = {
	.rw = file_rw,
	.zero = file_zero,
	.flush = file_flush,
};

int nvmec_backend_file(struct nvmec_ns *ns, int fd, uint64_t off)
{
	ns->fd = fd;
	ns->file_off = off;
	ns->ops = &file_ops;
	return 0;
}
