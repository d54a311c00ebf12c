/* SPDX-License-Identifier: MIT */
/*
 * The edu device (QEMU's educational PCI device) as a library, so variants (edu-mig) can reuse
 * its state, register file and worker and add their own ops. A variant embeds struct edu_state,
 * points the PCI drvdata at it and calls the helpers below.
 */
#ifndef UVFIO_DRIVERS_EDU_H
#define UVFIO_DRIVERS_EDU_H

#include <pthread.h>

#include <uvfio/driver.h>

#define EDU_VENDOR 0x1234
#define EDU_DEVICE 0x11e8
#define EDU_REVISION 0x10
#define EDU_CLASS 0x00ff00 /* QEMU: PCI_CLASS_OTHERS (0xff) as the 16-bit class id */
#define EDU_SUBVENDOR 0x1af4 /* QEMU's default subsystem (Red Hat) */
#define EDU_SUBDEVICE 0x1100
#define EDU_BAR_SIZE (1u << 20)
#define EDU_ID_VALUE 0x010000edu

/* BAR0 registers. */
#define EDU_REG_ID 0x00
#define EDU_REG_LIVENESS 0x04
#define EDU_REG_FACT 0x08
#define EDU_REG_STATUS 0x20
#define EDU_REG_IRQ_STATUS 0x24
#define EDU_REG_IRQ_RAISE 0x60
#define EDU_REG_IRQ_ACK 0x64
#define EDU_REG_DMA_SRC 0x80
#define EDU_REG_DMA_DST 0x88
#define EDU_REG_DMA_CNT 0x90
#define EDU_REG_DMA_CMD 0x98

#define EDU_STATUS_COMPUTING 0x01u
#define EDU_STATUS_IRQFACT 0x80u
#define EDU_IRQ_FACT 0x001u
#define EDU_IRQ_DMA 0x100u
#define EDU_DMA_START 0x01u
#define EDU_DMA_TO_RAM 0x02u /* direction: 0 RAM -> device, 1 device -> RAM */
#define EDU_DMA_IRQ 0x04u

#define EDU_DMA_BUF_ADDR 0x40000u
#define EDU_DMA_BUF_SIZE 4096u
#define EDU_DEFAULT_DMA_MASK 0xfffffffull /* 28 bits, as QEMU */

/* Everything a variant may save, restore or inspect. Fields under lock. */
struct edu_state {
	struct uvfio_pci_device *pdev;
	pthread_mutex_t lock;
	pthread_cond_t work_cond; /* worker: new work, pause change or stop */
	pthread_cond_t idle_cond; /* waiters: the worker finished a job */
	pthread_t worker;
	bool worker_started;
	bool stopping;
	bool worker_busy; /* the worker runs a job outside the lock (DMA) */
	unsigned paused; /* nesting count of edu_pause() */
	uint64_t generation; /* bumped by reset/close: an in-flight job's result is dropped */

	uint64_t dma_mask;
	uint32_t liveness; /* holds the inverted value, as read back */
	uint32_t fact;
	uint32_t status;
	uint32_t irq_status;
	uint64_t dma_src, dma_dst, dma_cnt, dma_cmd;
	uint8_t dma_buf[EDU_DMA_BUF_SIZE];
};

/* State from a PCI device whose drvdata points at a struct edu_state. */
struct edu_state *edu_from_pdev(struct uvfio_pci_device *pdev);

/* Initialises *s for pdev (registers cleared, drvdata set, worker started). */
int edu_state_init(struct edu_state *s, struct uvfio_pci_device *pdev, uint64_t dma_mask);
/* Stops and joins the worker, destroys the locks. Does not free s. */
void edu_state_teardown(struct edu_state *s);
/* The PCI side of edu: BAR0 with edu_bar_rw, INTA, MSI (1 vector, 64-bit, no masking). */
int edu_setup_pci(struct uvfio_pci_device *pdev);
/* Parses edu's options (dma_mask=) from a declaration. */
int edu_parse_options(struct uvfio_options *opts, uint64_t *dma_mask);

/* BAR0 access handler (QEMU's edu_mmio_read/write semantics). */
ssize_t edu_bar_rw(struct uvfio_pci_device *pdev, int bar, uint64_t offset, void *buf,
		   size_t count, bool is_write);

/* Ops for variants to call from their own: drop pending work and clear the registers (reset);
 * drop pending work and wait until no DMA is in flight (close). */
void edu_reset(struct uvfio_pci_device *pdev);
void edu_close(struct uvfio_pci_device *pdev);

/* Pause the worker: on return no job runs, and none starts until edu_resume(). Pending work
 * (status.COMPUTING, DMA start bit) stays in the registers and runs after resume. Nests. */
void edu_pause(struct edu_state *s);
void edu_resume(struct edu_state *s);
/* Wait until no work is pending or running (returns at once if paused with work pending:
 * -EBUSY). */
int edu_wait_idle(struct edu_state *s);

/* The registers as a variant saves and restores them (with the DMA buffer). */
struct edu_regs {
	uint32_t liveness, fact, status, irq_status;
	uint64_t dma_src, dma_dst, dma_cnt, dma_cmd;
};
/* A consistent copy of registers and buffer. With the worker paused, a DMA_CMD holding
 * EDU_DMA_START (or a STATUS holding EDU_STATUS_COMPUTING) is work queued but not started. */
void edu_get_state(struct edu_state *s, struct edu_regs *regs, uint8_t *buf);
/* Replaces registers and buffer (EDU_DMA_BUF_SIZE bytes). Queued work in them runs once the
 * worker is not paused; the INTx line is the PCI core's state and is not touched. */
void edu_set_state(struct edu_state *s, const struct edu_regs *regs, const uint8_t *buf);

/* The driver (registered by uvfio_register_builtin_drivers()). */
extern const struct uvfio_driver edu_driver;
extern const struct uvfio_pci_ident edu_default_ident;

#endif
