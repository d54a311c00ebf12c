/* SPDX-License-Identifier: MIT */
/*
 * Device DMA through mmap'd client memory (uvfio_dma_write/read: translation, bounds,
 * permission and bus-master checks) against a plain memcpy of the same bytes into the same
 * memory, in the same run. Goal: at least 0.9x memcpy's throughput.
 * The window is a plain memfd, so each copy is guarded against the client shrinking it
 * (lib/dma/guard.c); a second window sealed with F_SEAL_SHRINK takes the unguarded path, and
 * the guard's cost is the ratio of the two. Goal: guarded at least 0.9x sealed.
 */
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <uvfio/uvfio.h>

#include "bench_util.h"

#define WINDOW (64u << 20)
#define IOVA 0x100000000ull
#define SEALED_IOVA 0x200000000ull

static double gbps(uint64_t bytes, uint64_t ns)
{
	return (double)bytes / (double)ns;
}

int main(int argc, char **argv)
{
	size_t chunk = argc > 1 ? strtoul(argv[1], NULL, 0) : (256u << 10);
	struct uvfio_pci_device *pdev;
	struct uvfio_device *dev;
	uint16_t cmd = 0x6; /* MEMORY | MASTER */
	double best_dma = 0, best_cpy = 0, best_rd = 0, best_cpy_from = 0, best_sealed = 0;
	char *src, *mem;
	int fd, sfd;

	uvfio_register_builtin_drivers();
	if (uvfio_pci_create("edu", &pdev))
		return 1;
	dev = uvfio_pci_to_device(pdev);
	if (uvfio_pci_cfg_access(pdev, 4, &cmd, 2, true) != 2)
		return 1;
	fd = memfd_create("bench-dma", 0);
	if (fd < 0 || ftruncate(fd, WINDOW))
		return 1;
	mem = mmap(NULL, WINDOW, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	src = malloc(WINDOW);
	if (mem == MAP_FAILED || !src)
		return 1;
	memset(src, 0xa5, WINDOW);
	if (uvfio_dma_space_add(uvfio_device_dma_space(dev), IOVA, WINDOW,
				UVFIO_DMA_READ | UVFIO_DMA_WRITE, fd, 0))
		return 1;
	sfd = memfd_create("bench-dma-sealed", MFD_ALLOW_SEALING);
	if (sfd < 0 || ftruncate(sfd, WINDOW) || fcntl(sfd, F_ADD_SEALS, F_SEAL_SHRINK) ||
	    uvfio_dma_space_add(uvfio_device_dma_space(dev), SEALED_IOVA, WINDOW,
				UVFIO_DMA_READ | UVFIO_DMA_WRITE, sfd, 0))
		return 1;
	/* Its pages exist before timing starts, as the other window's (written by memcpy). */
	if (uvfio_dma_write(dev, SEALED_IOVA, src, WINDOW))
		return 1;

	for (int run = 0; run < BENCH_RUNS; run++) {
		uint64_t t0 = bench_now_ns();

		for (size_t off = 0; off < WINDOW; off += chunk)
			memcpy(mem + off, src + off, chunk);
		double cpy = gbps(WINDOW, bench_now_ns() - t0);

		t0 = bench_now_ns();
		for (size_t off = 0; off < WINDOW; off += chunk)
			if (uvfio_dma_write(dev, IOVA + off, src + off, chunk))
				return 1;
		double dma = gbps(WINDOW, bench_now_ns() - t0);

		/* Right after the guarded pass, so both see the same load. */
		t0 = bench_now_ns();
		for (size_t off = 0; off < WINDOW; off += chunk)
			if (uvfio_dma_write(dev, SEALED_IOVA + off, src + off, chunk))
				return 1;
		double sealed = gbps(WINDOW, bench_now_ns() - t0);

		/* Reads copy the other way: their baseline is memcpy out of the window. */
		t0 = bench_now_ns();
		for (size_t off = 0; off < WINDOW; off += chunk)
			memcpy(src + off, mem + off, chunk);
		double cpy_from = gbps(WINDOW, bench_now_ns() - t0);

		t0 = bench_now_ns();
		for (size_t off = 0; off < WINDOW; off += chunk)
			if (uvfio_dma_read(dev, IOVA + off, src + off, chunk))
				return 1;
		double rd = gbps(WINDOW, bench_now_ns() - t0);

		best_sealed = sealed > best_sealed ? sealed : best_sealed;
		best_cpy = cpy > best_cpy ? cpy : best_cpy;
		best_dma = dma > best_dma ? dma : best_dma;
		best_rd = rd > best_rd ? rd : best_rd;
		best_cpy_from = cpy_from > best_cpy_from ? cpy_from : best_cpy_from;
	}
	if (memcmp(mem, src, chunk))
		return 1;
	printf("%-34s %10.2f %10.2f %7.2fx %s\n", "DMA write via mmap (GB/s)", best_dma, best_cpy,
	       best_dma / best_cpy, ">= 0.90x memcpy");
	if (best_dma / best_cpy < 0.90)
		printf("GOAL MISSED: DMA write via mmap >= 0.90x memcpy\n");
	else
		printf("%56s goal met\n", "");
	printf("%-34s %10.2f %10.2f %7.2fx %s\n", "DMA read via mmap (GB/s)", best_rd, best_cpy_from,
	       best_rd / best_cpy_from, ">= 0.90x memcpy");
	if (best_rd / best_cpy_from < 0.90)
		printf("GOAL MISSED: DMA read via mmap >= 0.90x memcpy\n");
	else
		printf("%56s goal met\n", "");
	printf("%-34s %10.2f %10.2f %7.2fx %s\n", "DMA write guarded/sealed (GB/s)", best_dma,
	       best_sealed, best_dma / best_sealed, ">= 0.90x sealed");
	if (best_dma / best_sealed < 0.90)
		printf("GOAL MISSED: DMA write guarded >= 0.90x sealed\n");
	else
		printf("%56s goal met\n", "");
	uvfio_dma_space_remove_all(uvfio_device_dma_space(dev));
	close(sfd);
	uvfio_device_free(dev);
	munmap(mem, WINDOW);
	close(fd);
	free(src);
	return 0;
}
