/* SPDX-License-Identifier: MIT */
/*
 * edu: QEMU's educational PCI device, register for register (docs/specs/edu.rst), with two
 * deliberate differences: a DMA whose device range leaves the buffer is refused (QEMU only
 * logs it), and DMA goes through the DMA API so bus mastering and mappings are enforced.
 * Factorial and DMA run on a worker thread; the register lock is never held across DMA.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/dma.h>

#include "edu.h"
#include "util/log.h"

#include <linux/pci_regs.h>

const struct uvfio_pci_ident edu_default_ident = {
	.vendor = EDU_VENDOR,
	.device = EDU_DEVICE,
	.subvendor = EDU_SUBVENDOR,
	.subdevice = EDU_SUBDEVICE,
	.class_code = EDU_CLASS,
	.revision = EDU_REVISION,
};

struct edu_state *edu_from_pdev(struct uvfio_pci_device *pdev)
{
	return pdev ? uvfio_pci_drvdata(pdev) : NULL;
}

static const char *edu_name(struct edu_state *s)
{
	return uvfio_device_name(uvfio_pci_to_device(s->pdev));
}

/* Interrupts, with s->lock held. Level semantics: the line stays up until irq_status is 0. */
static void raise_irq_locked(struct edu_state *s, uint32_t val)
{
	s->irq_status |= val;
	if (!s->irq_status)
		return;
	int ret = uvfio_pci_raise_irq(s->pdev, 0);
	if (ret < 0)
		log_debug("edu %s: interrupt 0x%x not delivered: %s", edu_name(s), val,
			  strerror(-ret));
}

static void ack_irq_locked(struct edu_state *s, uint32_t val)
{
	s->irq_status &= ~val;
	if (!s->irq_status)
		uvfio_pci_set_intx(s->pdev, false);
}

/* n! modulo 2^32. 34! has 32 factors of two, so every larger n gives 0: stop there. */
static uint32_t factorial32(uint32_t n)
{
	uint32_t r = 1;
	for (uint32_t i = 2; i <= n && i <= 34; i++)
		r *= i;
	return n >= 34 ? 0 : r;
}

static void run_factorial_locked(struct edu_state *s)
{
	s->fact = factorial32(s->fact);
	s->status &= ~EDU_STATUS_COMPUTING;
	if (s->status & EDU_STATUS_IRQFACT)
		raise_irq_locked(s, EDU_IRQ_FACT);
}

/* Device-side range [addr, addr+cnt) must lie in the buffer. Returns the buffer offset or -1. */
static int64_t buffer_offset(uint64_t addr, uint64_t cnt)
{
	if (cnt == 0 || cnt > EDU_DMA_BUF_SIZE || addr < EDU_DMA_BUF_ADDR)
		return -1;
	uint64_t off = addr - EDU_DMA_BUF_ADDR;
	if (off > EDU_DMA_BUF_SIZE - cnt)
		return -1;
	return (int64_t)off;
}

static uint64_t clamp_addr(struct edu_state *s, uint64_t addr)
{
	uint64_t res = addr & s->dma_mask;
	if (res != addr)
		log_warn("edu %s: DMA address 0x%llx clamped to 0x%llx by dma_mask", edu_name(s),
			 (unsigned long long)addr, (unsigned long long)res);
	return res;
}

/*
 * One DMA transfer. Called with s->lock held and returns with it held, but drops it around
 * the copy so region accesses (and a DMA through client messages) never wait on us.
 */
static void run_dma_locked(struct edu_state *s)
{
	uint64_t cmd = s->dma_cmd, cnt = s->dma_cnt;
	bool to_ram = cmd & EDU_DMA_TO_RAM;
	uint64_t dev_addr = to_ram ? s->dma_src : s->dma_dst;
	uint64_t bus_addr = clamp_addr(s, to_ram ? s->dma_dst : s->dma_src);
	int64_t off = buffer_offset(dev_addr, cnt);
	uint64_t gen = s->generation;
	uint8_t bounce[EDU_DMA_BUF_SIZE];
	int ret = 0;

	if (off < 0) {
		log_err("edu %s: DMA refused: device range 0x%llx+0x%llx leaves the buffer "
			"0x%x-0x%x",
			edu_name(s), (unsigned long long)dev_addr, (unsigned long long)cnt,
			EDU_DMA_BUF_ADDR, EDU_DMA_BUF_ADDR + EDU_DMA_BUF_SIZE - 1);
		ret = -EINVAL;
	} else {
		struct uvfio_device *dev = uvfio_pci_to_device(s->pdev);
		if (to_ram)
			memcpy(bounce, s->dma_buf + off, cnt);
		s->worker_busy = true;
		pthread_mutex_unlock(&s->lock);
		ret = to_ram ? uvfio_dma_write(dev, bus_addr, bounce, cnt)
			     : uvfio_dma_read(dev, bus_addr, bounce, cnt);
		pthread_mutex_lock(&s->lock);
		s->worker_busy = false;
		if (ret < 0)
			log_err("edu %s: DMA %s 0x%llx (0x%llx bytes) failed: %s", edu_name(s),
				to_ram ? "to" : "from", (unsigned long long)bus_addr,
				(unsigned long long)cnt, strerror(-ret));
	}
	/* A reset or close while we copied owns the registers now. */
	if (gen != s->generation)
		return;
	if (ret == 0 && !to_ram)
		memcpy(s->dma_buf + off, bounce, cnt);
	s->dma_cmd &= ~(uint64_t)EDU_DMA_START;
	if (s->dma_cmd & EDU_DMA_IRQ)
		raise_irq_locked(s, EDU_IRQ_DMA);
}

static bool work_pending_locked(struct edu_state *s)
{
	return (s->status & EDU_STATUS_COMPUTING) || (s->dma_cmd & EDU_DMA_START);
}

static void *worker_main(void *arg)
{
	struct edu_state *s = arg;
	pthread_mutex_lock(&s->lock);
	while (!s->stopping) {
		if (s->paused || !work_pending_locked(s)) {
			pthread_cond_wait(&s->work_cond, &s->lock);
			continue;
		}
		if (s->status & EDU_STATUS_COMPUTING)
			run_factorial_locked(s);
		else
			run_dma_locked(s);
		pthread_cond_broadcast(&s->idle_cond);
	}
	pthread_cond_broadcast(&s->idle_cond);
	pthread_mutex_unlock(&s->lock);
	return NULL;
}

/* Register reads and writes, with s->lock held. Unknown offsets read all ones. */
static uint64_t reg_read_locked(struct edu_state *s, uint64_t off)
{
	switch (off) {
	case EDU_REG_ID:
		return EDU_ID_VALUE;
	case EDU_REG_LIVENESS:
		return s->liveness;
	case EDU_REG_FACT:
		return s->fact;
	case EDU_REG_STATUS:
		return s->status;
	case EDU_REG_IRQ_STATUS:
		return s->irq_status;
	case EDU_REG_DMA_SRC:
		return s->dma_src;
	case EDU_REG_DMA_DST:
		return s->dma_dst;
	case EDU_REG_DMA_CNT:
		return s->dma_cnt;
	case EDU_REG_DMA_CMD:
		return s->dma_cmd;
	default:
		return ~0ull;
	}
}

/* DMA registers are frozen while a transfer runs (QEMU's edu_dma_rw). */
static void dma_reg_write_locked(struct edu_state *s, uint64_t *reg, uint64_t val)
{
	if (s->dma_cmd & EDU_DMA_START) {
		log_debug("edu %s: DMA register write ignored while a transfer runs", edu_name(s));
		return;
	}
	*reg = val;
}

static void reg_write_locked(struct edu_state *s, uint64_t off, uint64_t val)
{
	switch (off) {
	case EDU_REG_LIVENESS:
		s->liveness = ~(uint32_t)val;
		break;
	case EDU_REG_FACT:
		if (s->status & EDU_STATUS_COMPUTING)
			break;
		s->fact = (uint32_t)val;
		s->status |= EDU_STATUS_COMPUTING;
		pthread_cond_signal(&s->work_cond);
		break;
	case EDU_REG_STATUS:
		/* Only the interrupt-enable bit is writable. */
		if (val & EDU_STATUS_IRQFACT)
			s->status |= EDU_STATUS_IRQFACT;
		else
			s->status &= ~EDU_STATUS_IRQFACT;
		break;
	case EDU_REG_IRQ_RAISE:
		raise_irq_locked(s, (uint32_t)val);
		break;
	case EDU_REG_IRQ_ACK:
		ack_irq_locked(s, (uint32_t)val);
		break;
	case EDU_REG_DMA_SRC:
		dma_reg_write_locked(s, &s->dma_src, val);
		break;
	case EDU_REG_DMA_DST:
		dma_reg_write_locked(s, &s->dma_dst, val);
		break;
	case EDU_REG_DMA_CNT:
		dma_reg_write_locked(s, &s->dma_cnt, val);
		break;
	case EDU_REG_DMA_CMD:
		if (!(val & EDU_DMA_START))
			break; /* QEMU acts on the command only when it starts a transfer */
		dma_reg_write_locked(s, &s->dma_cmd, val);
		pthread_cond_signal(&s->work_cond);
		break;
	default:
		break; /* read-only or unassigned */
	}
}

static bool access_valid(uint64_t offset, size_t count)
{
	if (count != 4 && count != 8)
		return false;
	if (offset % count)
		return false;
	return offset >= 0x80 || count == 4;
}

ssize_t edu_bar_rw(struct uvfio_pci_device *pdev, int bar, uint64_t offset, void *buf,
		   size_t count, bool is_write)
{
	struct edu_state *s = edu_from_pdev(pdev);
	if (!s || bar != 0 || !buf)
		return -EINVAL;
	if (!access_valid(offset, count)) {
		/* Hardware ignores what it does not decode; reads float high. */
		if (!is_write)
			memset(buf, 0xff, count);
		return (ssize_t)count;
	}
	uint64_t val = 0;
	pthread_mutex_lock(&s->lock);
	if (is_write) {
		memcpy(&val, buf, count); /* little-endian host, as the rest of uvfio */
		reg_write_locked(s, offset, val);
	} else {
		val = reg_read_locked(s, offset);
		memcpy(buf, &val, count);
	}
	pthread_mutex_unlock(&s->lock);
	return (ssize_t)count;
}

static void clear_registers_locked(struct edu_state *s)
{
	s->generation++;
	s->liveness = 0;
	s->fact = 0;
	s->status = 0;
	s->irq_status = 0;
	s->dma_src = s->dma_dst = s->dma_cnt = s->dma_cmd = 0;
	memset(s->dma_buf, 0, sizeof(s->dma_buf));
}

void edu_reset(struct uvfio_pci_device *pdev)
{
	struct edu_state *s = edu_from_pdev(pdev);
	if (!s)
		return;
	/* No waiting for an in-flight DMA here: it may need the caller's thread to complete
	 * (message-based DMA); its result is dropped through the generation instead. */
	pthread_mutex_lock(&s->lock);
	clear_registers_locked(s);
	uvfio_pci_set_intx(pdev, false);
	pthread_mutex_unlock(&s->lock);
}

void edu_close(struct uvfio_pci_device *pdev)
{
	struct edu_state *s = edu_from_pdev(pdev);
	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->generation++;
	s->status &= ~EDU_STATUS_COMPUTING;
	s->dma_cmd &= ~(uint64_t)EDU_DMA_START;
	/* The client is gone, so a DMA in flight fails fast; after this none is. */
	while (s->worker_busy)
		pthread_cond_wait(&s->idle_cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

void edu_pause(struct edu_state *s)
{
	pthread_mutex_lock(&s->lock);
	s->paused++;
	while (s->worker_busy)
		pthread_cond_wait(&s->idle_cond, &s->lock);
	pthread_mutex_unlock(&s->lock);
}

void edu_resume(struct edu_state *s)
{
	pthread_mutex_lock(&s->lock);
	if (s->paused)
		s->paused--;
	else
		log_warn("edu %s: resume without pause", edu_name(s));
	pthread_cond_signal(&s->work_cond);
	pthread_mutex_unlock(&s->lock);
}

int edu_wait_idle(struct edu_state *s)
{
	int ret = 0;
	pthread_mutex_lock(&s->lock);
	while (work_pending_locked(s) || s->worker_busy) {
		if (s->paused || s->stopping) {
			ret = -EBUSY;
			break;
		}
		pthread_cond_wait(&s->idle_cond, &s->lock);
	}
	pthread_mutex_unlock(&s->lock);
	return ret;
}

void edu_get_state(struct edu_state *s, struct edu_regs *regs, uint8_t *buf)
{
	pthread_mutex_lock(&s->lock);
	*regs = (struct edu_regs){
		.liveness = s->liveness,
		.fact = s->fact,
		.status = s->status,
		.irq_status = s->irq_status,
		.dma_src = s->dma_src,
		.dma_dst = s->dma_dst,
		.dma_cnt = s->dma_cnt,
		.dma_cmd = s->dma_cmd,
	};
	memcpy(buf, s->dma_buf, EDU_DMA_BUF_SIZE);
	pthread_mutex_unlock(&s->lock);
}

void edu_set_state(struct edu_state *s, const struct edu_regs *regs, const uint8_t *buf)
{
	pthread_mutex_lock(&s->lock);
	/* Like a reset, the new registers own the device: a job in flight drops its result. */
	s->generation++;
	s->liveness = regs->liveness;
	s->fact = regs->fact;
	s->status = regs->status;
	s->irq_status = regs->irq_status;
	s->dma_src = regs->dma_src;
	s->dma_dst = regs->dma_dst;
	s->dma_cnt = regs->dma_cnt;
	s->dma_cmd = regs->dma_cmd;
	memcpy(s->dma_buf, buf, EDU_DMA_BUF_SIZE);
	pthread_cond_signal(&s->work_cond);
	pthread_mutex_unlock(&s->lock);
}

int edu_state_init(struct edu_state *s, struct uvfio_pci_device *pdev, uint64_t dma_mask)
{
	memset(s, 0, sizeof(*s));
	s->pdev = pdev;
	s->dma_mask = dma_mask;
	if (pthread_mutex_init(&s->lock, NULL) != 0)
		return -ENOMEM;
	if (pthread_cond_init(&s->work_cond, NULL) != 0) {
		pthread_mutex_destroy(&s->lock);
		return -ENOMEM;
	}
	if (pthread_cond_init(&s->idle_cond, NULL) != 0) {
		pthread_cond_destroy(&s->work_cond);
		pthread_mutex_destroy(&s->lock);
		return -ENOMEM;
	}
	int ret = pthread_create(&s->worker, NULL, worker_main, s);
	if (ret != 0) {
		pthread_cond_destroy(&s->idle_cond);
		pthread_cond_destroy(&s->work_cond);
		pthread_mutex_destroy(&s->lock);
		return -ret;
	}
	s->worker_started = true;
	uvfio_pci_set_drvdata(pdev, s);
	return 0;
}

void edu_state_teardown(struct edu_state *s)
{
	if (!s || !s->worker_started)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = true;
	pthread_cond_broadcast(&s->work_cond);
	pthread_mutex_unlock(&s->lock);
	pthread_join(s->worker, NULL);
	s->worker_started = false;
	pthread_cond_destroy(&s->idle_cond);
	pthread_cond_destroy(&s->work_cond);
	pthread_mutex_destroy(&s->lock);
}

int edu_setup_pci(struct uvfio_pci_device *pdev)
{
	int ret = uvfio_pci_setup_bar(pdev, 0, EDU_BAR_SIZE, UVFIO_PCI_BAR_MEM32, edu_bar_rw);
	if (ret < 0)
		return ret;
	ret = uvfio_pci_set_intx_pin(pdev, 1);
	if (ret < 0)
		return ret;
	ret = uvfio_pci_add_cap_msi(pdev, 1, true, false);
	return ret < 0 ? ret : 0;
}

int edu_parse_options(struct uvfio_options *opts, uint64_t *dma_mask)
{
	int ret = uvfio_options_get_u64(opts, "dma_mask", EDU_DEFAULT_DMA_MASK, dma_mask);
	if (ret < 0)
		return ret;
	if (*dma_mask == 0) {
		log_err("edu: dma_mask=0 would clamp every DMA address to 0");
		return -EINVAL;
	}
	return 0;
}

static void edu_release(struct uvfio_pci_device *pdev)
{
	struct edu_state *s = edu_from_pdev(pdev);
	if (!s)
		return;
	edu_state_teardown(s);
	uvfio_pci_set_drvdata(pdev, NULL);
	free(s);
}

static const struct uvfio_pci_ops edu_ops = {
	.reset = edu_reset,
	.close = edu_close,
	.release = edu_release,
};

static int edu_probe(struct uvfio_pci_device *pdev, const struct uvfio_pci_device_id *id,
		     struct uvfio_options *opts)
{
	uint64_t dma_mask = 0;
	int ret = edu_parse_options(opts, &dma_mask);
	if (ret < 0)
		return ret;
	ret = edu_setup_pci(pdev);
	if (ret < 0)
		return ret;
	struct edu_state *s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	ret = edu_state_init(s, pdev, dma_mask);
	if (ret < 0) {
		free(s);
		return ret;
	}
	uvfio_pci_set_ops(pdev, &edu_ops);
	return 0;
}

static const struct uvfio_pci_device_id edu_ids[] = {
	{ UVFIO_PCI_DEVICE(EDU_VENDOR, EDU_DEVICE) },
	{ 0 },
};

const struct uvfio_driver edu_driver = {
	.name = "edu",
	.description = "QEMU's educational device: factorial, DMA engine, INTx and MSI",
	.id_table = edu_ids,
	.default_ident = &edu_default_ident,
	.probe = edu_probe,
	.options_help = "dma_mask=MASK  bus address mask of the DMA engine (default 0xfffffff)",
};
