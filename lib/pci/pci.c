/* SPDX-License-Identifier: MIT */
/* The PCI core's device object: creation, the device-core ops it implements, and reset. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/pci_regs.h>

#include "pci/pci_priv.h"
#include "util/log.h"

static struct uvfio_pci_device *to_pdev(struct uvfio_device *dev)
{
	return uvfio_device_priv(dev);
}

static int pci_open(struct uvfio_device *dev)
{
	struct uvfio_pci_device *pdev = to_pdev(dev);
	return pdev->ops && pdev->ops->open ? pdev->ops->open(pdev) : 0;
}

static void pci_close(struct uvfio_device *dev)
{
	struct uvfio_pci_device *pdev = to_pdev(dev);
	if (pdev->ops && pdev->ops->close)
		pdev->ops->close(pdev);
}

static int pci_reset(struct uvfio_device *dev)
{
	uvfio_pci_reset(to_pdev(dev));
	return 0;
}

static bool pci_dma_allowed(struct uvfio_device *dev)
{
	return uvfio_pci_bus_master(to_pdev(dev));
}

static int pci_feature(struct uvfio_device *dev, uint32_t flags, const void *data, size_t len,
		       void *out, size_t *out_len)
{
	struct uvfio_pci_device *pdev = to_pdev(dev);
	if (!pdev->ops || !pdev->ops->feature)
		return -ENOTTY;
	return pdev->ops->feature(pdev, flags, data, len, out, out_len);
}

static void pci_release(struct uvfio_device *dev)
{
	struct uvfio_pci_device *pdev = to_pdev(dev);
	if (!pdev)
		return;
	if (pdev->ops && pdev->ops->release)
		pdev->ops->release(pdev);
	free(pdev->rom);
	free(pdev->msix_table);
	free(pdev->msix_pba);
	free(pdev->msix_vfio);
	pthread_mutex_destroy(&pdev->lock);
	free(pdev);
	uvfio_device_set_priv(dev, NULL);
}

static const struct uvfio_device_ops pci_device_ops = {
	.name = "pci",
	.open = pci_open,
	.close = pci_close,
	.reset = pci_reset,
	.irqs_changed = pci_irqs_changed,
	.irq_unmasked = pci_irq_unmasked,
	.dma_allowed = pci_dma_allowed,
	.feature = pci_feature,
	.release = pci_release,
};

static ssize_t config_region_rw(struct uvfio_device *dev, uint32_t index, uint64_t offset,
				void *buf, size_t count, bool is_write)
{
	return uvfio_pci_cfg_access(to_pdev(dev), (uint32_t)offset, buf, count, is_write);
}

static int setup_device(struct uvfio_pci_device *pdev)
{
	struct uvfio_device *dev = pdev->dev;
	const struct uvfio_region cfg = {
		.size = UVFIO_PCI_CFG_SIZE,
		.flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE,
		.rw = config_region_rw,
		.mmap_fd = -1,
	};
	int ret = uvfio_device_set_region(dev, UVFIO_PCI_CONFIG_REGION, &cfg);
	if (ret < 0)
		return ret;
	/* Counts of INTx/MSI/MSI-X follow the pin and the capabilities the driver adds. */
	const uint32_t ef = UVFIO_IRQ_INFO_EVENTFD;
	ret = uvfio_device_set_irq_info(dev, UVFIO_PCI_INTX_IRQ, 0,
					ef | UVFIO_IRQ_INFO_MASKABLE | UVFIO_IRQ_INFO_AUTOMASKED);
	if (ret == 0)
		ret = uvfio_device_set_irq_info(dev, UVFIO_PCI_ERR_IRQ, 1, ef);
	if (ret == 0)
		ret = uvfio_device_set_irq_info(dev, UVFIO_PCI_REQ_IRQ, 1, ef);
	return ret;
}

struct uvfio_pci_device *uvfio_pci_device_new(const struct uvfio_pci_ident *id)
{
	if (!id || id->class_code > 0xffffff) {
		log_err("pci: bad identity");
		return NULL;
	}
	struct uvfio_pci_device *pdev = calloc(1, sizeof(*pdev));
	if (!pdev)
		return NULL;
	if (pthread_mutex_init(&pdev->lock, NULL) != 0) {
		free(pdev);
		return NULL;
	}
	pdev->ident = *id;
	pdev->cap_next = PCI_CAP_START;
	pdev->ext_next = PCI_EXT_CAP_START;
	pdev->msix_table_bar = pdev->msix_pba_bar = -1;
	for (int i = 0; i < PCI_NUM_BARS; i++)
		pdev->bars[i].mmap_fd = -1;
	cfg_init_header(pdev);
	pdev->dev = uvfio_device_new(&pci_device_ops,
				     UVFIO_DEVICE_FLAGS_RESET | UVFIO_DEVICE_FLAGS_PCI,
				     UVFIO_PCI_NUM_REGIONS, UVFIO_PCI_NUM_IRQS);
	if (!pdev->dev) {
		pthread_mutex_destroy(&pdev->lock);
		free(pdev);
		return NULL;
	}
	uvfio_device_set_priv(pdev->dev, pdev);
	if (setup_device(pdev) < 0) {
		uvfio_device_free(pdev->dev);
		return NULL;
	}
	return pdev;
}

void uvfio_pci_device_free(struct uvfio_pci_device *pdev)
{
	if (pdev)
		uvfio_device_free(pdev->dev);
}

struct uvfio_device *uvfio_pci_to_device(struct uvfio_pci_device *pdev)
{
	return pdev->dev;
}

struct uvfio_pci_device *uvfio_pci_from_device(struct uvfio_device *dev)
{
	if (!dev || uvfio_device_get_ops(dev) != &pci_device_ops)
		return NULL;
	return to_pdev(dev);
}

void uvfio_pci_set_ops(struct uvfio_pci_device *pdev, const struct uvfio_pci_ops *ops)
{
	pdev->ops = ops;
}

const struct uvfio_pci_ops *uvfio_pci_get_ops(struct uvfio_pci_device *pdev)
{
	return pdev->ops;
}

void uvfio_pci_set_drvdata(struct uvfio_pci_device *pdev, void *data)
{
	pdev->drvdata = data;
}

void *uvfio_pci_drvdata(struct uvfio_pci_device *pdev)
{
	return pdev->drvdata;
}

const struct uvfio_pci_ident *uvfio_pci_ident(struct uvfio_pci_device *pdev)
{
	return &pdev->ident;
}

/* Without pdev->lock: every device DMA asks for bus mastering, and the answer is a snapshot
 * either way (with the lock, it was released before the access began). */
static bool command_bit(struct uvfio_pci_device *pdev, uint16_t bit)
{
	uint16_t v = (uint16_t)(__atomic_load_n(&pdev->cfg[PCI_COMMAND], __ATOMIC_RELAXED) |
				__atomic_load_n(&pdev->cfg[PCI_COMMAND + 1], __ATOMIC_RELAXED) << 8);
	return (v & bit) != 0;
}

bool uvfio_pci_mem_enabled(struct uvfio_pci_device *pdev)
{
	return command_bit(pdev, PCI_COMMAND_MEMORY);
}

bool uvfio_pci_io_enabled(struct uvfio_pci_device *pdev)
{
	return command_bit(pdev, PCI_COMMAND_IO);
}

bool uvfio_pci_bus_master(struct uvfio_pci_device *pdev)
{
	return command_bit(pdev, PCI_COMMAND_MASTER);
}

int uvfio_pci_set_intx_pin(struct uvfio_pci_device *pdev, uint8_t pin)
{
	if (pin > 4)
		return -EINVAL;
	pthread_mutex_lock(&pdev->lock);
	pdev->intx_pin = pin;
	cfg_put8(pdev, PCI_INTERRUPT_PIN, pin);
	pthread_mutex_unlock(&pdev->lock);
	return uvfio_device_set_irq_info(pdev->dev, UVFIO_PCI_INTX_IRQ, pin ? 1 : 0,
					 UVFIO_IRQ_INFO_EVENTFD | UVFIO_IRQ_INFO_MASKABLE |
						 UVFIO_IRQ_INFO_AUTOMASKED);
}

void uvfio_pci_finalize(struct uvfio_pci_device *pdev)
{
	pthread_mutex_lock(&pdev->lock);
	memcpy(pdev->poweron, pdev->cfg, sizeof(pdev->cfg));
	pdev->finalized = true;
	pthread_mutex_unlock(&pdev->lock);
}

void uvfio_pci_reset(struct uvfio_pci_device *pdev)
{
	pthread_mutex_lock(&pdev->lock);
	if (pdev->finalized)
		memcpy(pdev->cfg, pdev->poweron, sizeof(pdev->cfg));
	else
		log_warn("pci %s: reset before uvfio_pci_finalize(): config space kept",
			 uvfio_device_name(pdev->dev));
	pdev->intx_status = false;
	intx_update_locked(pdev);
	msix_reset_locked(pdev);
	pthread_mutex_unlock(&pdev->lock);

	if (pdev->ops && pdev->ops->reset)
		pdev->ops->reset(pdev);

	/* vfio-pci restores the MSI/MSI-X setup around a reset: an active SET_IRQS survives. */
	pthread_mutex_lock(&pdev->lock);
	msi_mirror_locked(pdev, true);
	msix_mirror_locked(pdev, true);
	pthread_mutex_unlock(&pdev->lock);
}
