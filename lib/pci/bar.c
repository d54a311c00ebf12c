/* SPDX-License-Identifier: MIT */
/* BARs and the expansion ROM: sizing through write masks, decode gating, mmap areas. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "pci/pci_priv.h"
#include "util/log.h"
#include "util/reason.h"

#define PAGE 4096ull
#define ROM_MIN 2048ull
#define ROM_MAX (16ull << 20)

static bool pow2(uint64_t v)
{
	return v && !(v & (v - 1));
}

static int check_bar(struct uvfio_pci_device *pdev, int bar, uint64_t size, uint32_t type)
{
	uint32_t base = type & ~UVFIO_PCI_BAR_PREFETCH;
	if (bar < 0 || bar >= PCI_NUM_BARS || (type & ~(0x3u | UVFIO_PCI_BAR_PREFETCH)))
		return -EINVAL;
	if (base > UVFIO_PCI_BAR_IO || (base == UVFIO_PCI_BAR_IO && type != base))
		return -EINVAL;
	if (!pow2(size))
		return -EINVAL;
	if (base == UVFIO_PCI_BAR_IO && (size < 4 || size > 256))
		return -EINVAL;
	if (base != UVFIO_PCI_BAR_IO && size < 16)
		return -EINVAL;
	if (base == UVFIO_PCI_BAR_MEM32 && size > (1ull << 31))
		return -EINVAL;
	if (base == UVFIO_PCI_BAR_MEM64 && (bar == PCI_NUM_BARS - 1 || size > (1ull << 63)))
		return -EINVAL;
	if (pdev->bars[bar].size || pdev->bars[bar].upper)
		return -EBUSY;
	if (base == UVFIO_PCI_BAR_MEM64 && (pdev->bars[bar + 1].size || pdev->bars[bar + 1].upper))
		return -EBUSY;
	return 0;
}

int uvfio_pci_setup_bar(struct uvfio_pci_device *pdev, int bar, uint64_t size, uint32_t type,
			uvfio_pci_bar_rw_fn rw)
{
	pthread_mutex_lock(&pdev->lock);
	int ret = check_bar(pdev, bar, size, type);
	if (ret < 0) {
		pthread_mutex_unlock(&pdev->lock);
		log_err("pci: bad BAR%d (size 0x%llx, type 0x%x)", bar, (unsigned long long)size,
			type);
		return ret;
	}
	uint32_t base = type & ~UVFIO_PCI_BAR_PREFETCH;
	uint32_t reg = PCI_BASE_ADDRESS_0 + 4 * (uint32_t)bar;
	uint64_t addr_mask = ~(size - 1);
	struct pci_bar *b = &pdev->bars[bar];
	b->size = size;
	b->type = base;
	b->rw = rw;
	if (base == UVFIO_PCI_BAR_IO) {
		cfg_put32(pdev, reg, PCI_BASE_ADDRESS_SPACE_IO);
		cfg_masks(pdev, reg, 4, (uint32_t)addr_mask & (uint32_t)PCI_BASE_ADDRESS_IO_MASK, 0);
	} else {
		uint32_t bits = PCI_BASE_ADDRESS_SPACE_MEMORY;
		if (base == UVFIO_PCI_BAR_MEM64)
			bits |= PCI_BASE_ADDRESS_MEM_TYPE_64;
		if (type & UVFIO_PCI_BAR_PREFETCH)
			bits |= PCI_BASE_ADDRESS_MEM_PREFETCH;
		cfg_put32(pdev, reg, bits);
		cfg_masks(pdev, reg, 4, (uint32_t)addr_mask & (uint32_t)PCI_BASE_ADDRESS_MEM_MASK, 0);
		if (base == UVFIO_PCI_BAR_MEM64) {
			pdev->bars[bar + 1].upper = true;
			cfg_masks(pdev, reg + 4, 4, (uint32_t)(addr_mask >> 32), 0);
		}
	}
	pthread_mutex_unlock(&pdev->lock);
	const struct uvfio_region r = {
		.size = size,
		.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE,
		.rw = pci_bar_region_rw,
		.mmap_fd = -1,
	};
	return uvfio_device_set_region(pdev->dev, (uint32_t)bar, &r);
}

static ssize_t rom_read(struct uvfio_pci_device *pdev, uint64_t off, void *buf, size_t count,
			bool is_write)
{
	if (is_write)
		return -EINVAL;
	/* Like vfio-pci, region reads ignore the ROM enable bit but need memory decode. */
	if (!uvfio_pci_mem_enabled(pdev))
		return refuse(EIO, "memory decoding is off (COMMAND.MEM)");
	memcpy(buf, pdev->rom + off, count);
	return (ssize_t)count;
}

ssize_t pci_bar_region_rw(struct uvfio_device *dev, uint32_t index, uint64_t offset, void *buf,
			  size_t count, bool is_write)
{
	struct uvfio_pci_device *pdev = uvfio_pci_from_device(dev);
	if (!pdev)
		return -EINVAL;
	if (index == UVFIO_PCI_ROM_REGION)
		return rom_read(pdev, offset, buf, count, is_write);
	if (index >= PCI_NUM_BARS || !pdev->bars[index].size)
		return -EINVAL;
	int bar = (int)index;
	const struct pci_bar *b = &pdev->bars[bar];
	bool on = b->type == UVFIO_PCI_BAR_IO ? uvfio_pci_io_enabled(pdev)
					      : uvfio_pci_mem_enabled(pdev);
	/* Decode disabled: vfio-pci fails the access the same way. */
	if (!on)
		return refuse(EIO, "%s decoding is off (COMMAND.%s)",
			      b->type == UVFIO_PCI_BAR_IO ? "I/O" : "memory",
			      b->type == UVFIO_PCI_BAR_IO ? "IO" : "MEM");

	/* Split the access where it enters or leaves the MSI-X table or PBA. */
	uint8_t *p = buf;
	size_t done = 0;
	while (done < count) {
		uint64_t o = offset + done, len;
		bool msix = msix_claims(pdev, bar, o, &len);
		size_t n = count - done;
		if (len < n)
			n = (size_t)len;
		if (msix) {
			msix_access(pdev, bar, o, p + done, n, is_write);
		} else if (b->rw) {
			ssize_t r = b->rw(pdev, bar, o, p + done, n, is_write);
			if (r < 0)
				return r;
			if ((size_t)r != n)
				return -EIO; /* a short access would leave the client's buffer undefined */
		} else if (!is_write) {
			memset(p + done, 0xff, n); /* nothing decodes there: reads float high */
		}
		done += n;
	}
	return (ssize_t)count;
}

int uvfio_pci_setup_rom(struct uvfio_pci_device *pdev, const void *image, size_t size)
{
	if (!image || size == 0 || size > ROM_MAX)
		return -EINVAL;
	uint64_t rsize = ROM_MIN;
	while (rsize < size)
		rsize <<= 1;
	uint8_t *rom = malloc(rsize);
	if (!rom)
		return -ENOMEM;
	memcpy(rom, image, size);
	memset(rom + size, 0xff, rsize - size); /* erased flash beyond the image */
	pthread_mutex_lock(&pdev->lock);
	if (pdev->rom) {
		pthread_mutex_unlock(&pdev->lock);
		free(rom);
		return -EBUSY;
	}
	pdev->rom = rom;
	pdev->rom_size = rsize;
	cfg_put32(pdev, PCI_ROM_ADDRESS, 0);
	cfg_masks(pdev, PCI_ROM_ADDRESS, 4,
		  ((uint32_t)~(rsize - 1) & PCI_ROM_ADDRESS_MASK) | PCI_ROM_ADDRESS_ENABLE, 0);
	pthread_mutex_unlock(&pdev->lock);
	const struct uvfio_region r = {
		.size = rsize,
		.flags = UVFIO_REGION_READ,
		.rw = pci_bar_region_rw,
		.mmap_fd = -1,
	};
	return uvfio_device_set_region(pdev->dev, UVFIO_PCI_ROM_REGION, &r);
}

/* Removes [xs, xe) from the area list in place; the list may grow by one (a split). */
static uint32_t subtract(struct uvfio_sparse_area *a, uint32_t n, uint64_t xs, uint64_t xe)
{
	struct uvfio_sparse_area out[MAX_SPARSE + 2];
	uint32_t m = 0;
	for (uint32_t i = 0; i < n; i++) {
		uint64_t s = a[i].offset, e = a[i].offset + a[i].size;
		if (xe <= s || xs >= e) {
			out[m++] = a[i];
			continue;
		}
		if (s < xs)
			out[m++] = (struct uvfio_sparse_area){ s, xs - s };
		if (xe < e && m < MAX_SPARSE + 2)
			out[m++] = (struct uvfio_sparse_area){ xe, e - xe };
	}
	memcpy(a, out, m * sizeof(*a));
	return m;
}

static void msix_hole(struct uvfio_pci_device *pdev, int bar, int which, uint64_t *s,
		      uint64_t *e)
{
	uint64_t off = which ? pdev->msix_pba_off : pdev->msix_table_off;
	uint64_t len = which ? ((pdev->msix_nvec + 63) / 64) * 8ull
			     : (uint64_t)pdev->msix_nvec * PCI_MSIX_ENTRY_SIZE;
	int b = which ? pdev->msix_pba_bar : pdev->msix_table_bar;
	*s = *e = 0;
	if (!pdev->msix_off || b != bar)
		return;
	*s = off & ~(PAGE - 1);
	*e = (off + len + PAGE - 1) & ~(PAGE - 1);
}

/* Publishes the mmap-able areas of a BAR: what the driver asked for minus MSI-X pages. */
int pci_bar_update_mmap(struct uvfio_pci_device *pdev, int bar)
{
	struct pci_bar *b = &pdev->bars[bar];
	if (b->mmap_fd < 0)
		return 0;
	uint32_t n = b->nr_user_sparse;
	if (n)
		memcpy(b->sparse, b->user_sparse, n * sizeof(b->sparse[0]));
	else
		b->sparse[n++] = (struct uvfio_sparse_area){ 0, b->size };
	bool hole = false;
	for (int which = 0; which < 2; which++) {
		uint64_t s, e;
		msix_hole(pdev, bar, which, &s, &e);
		if (e > s) {
			n = subtract(b->sparse, n, s, e);
			hole = true;
		}
	}
	b->nr_sparse = n;
	struct uvfio_region r = *uvfio_device_get_region(pdev->dev, (uint32_t)bar);
	r.mmap_fd = b->mmap_fd;
	r.mmap_offset = b->mmap_offset;
	r.flags |= UVFIO_REGION_MMAP;
	r.sparse = (b->nr_user_sparse || hole) ? b->sparse : NULL;
	r.nr_sparse = r.sparse ? n : 0;
	if (n == 0) {
		r.flags &= ~UVFIO_REGION_MMAP;
		r.sparse = NULL;
	}
	return uvfio_device_set_region(pdev->dev, (uint32_t)bar, &r);
}

int uvfio_pci_bar_set_mmap(struct uvfio_pci_device *pdev, int bar, int mmap_fd,
			   uint64_t fd_offset, const struct uvfio_sparse_area *sparse,
			   uint32_t nr_sparse)
{
	if (bar < 0 || bar >= PCI_NUM_BARS || mmap_fd < 0 || nr_sparse > MAX_SPARSE ||
	    (nr_sparse && !sparse))
		return -EINVAL;
	struct pci_bar *b = &pdev->bars[bar];
	if (!b->size || b->type == UVFIO_PCI_BAR_IO)
		return -EINVAL;
	for (uint32_t i = 0; i < nr_sparse; i++) {
		const struct uvfio_sparse_area *a = &sparse[i];
		if (a->size == 0 || a->offset >= b->size || a->size > b->size - a->offset ||
		    (a->offset | a->size) & (PAGE - 1))
			return -EINVAL;
	}
	b->mmap_fd = mmap_fd;
	b->mmap_offset = fd_offset;
	b->nr_user_sparse = nr_sparse;
	if (nr_sparse)
		memcpy(b->user_sparse, sparse, nr_sparse * sizeof(*sparse));
	return pci_bar_update_mmap(pdev, bar);
}
