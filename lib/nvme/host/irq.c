/* SPDX-License-Identifier: MIT */
/*
 * Interrupts: MSI-X (vector 0 admin, one per I/O queue as far as there are vectors), MSI or
 * INTx (one vector shared by every queue). In AUTO mode each kind is probed with one admin
 * command: a kind whose vector never fires while the completion arrives is dropped (QEMU's
 * x-vfio-user-server never delivers MSI-X to a client).
 */
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "nvme/host/nvme_host_priv.h"
#include "util/log.h"

#define PROBE_MS 2000

static const char *kind_name(int mode)
{
	return mode == UVFIO_NVME_IRQ_MSIX ? "MSI-X" : mode == UVFIO_NVME_IRQ_MSI ? "MSI" : "INTx";
}

static uint32_t kind_index(int mode)
{
	return mode == UVFIO_NVME_IRQ_MSIX ? UVFIO_PCI_MSIX_IRQ :
	       mode == UVFIO_NVME_IRQ_MSI ? UVFIO_PCI_MSI_IRQ : UVFIO_PCI_INTX_IRQ;
}

#define PCI_COMMAND 0x04
#define PCI_COMMAND_INTX_DISABLE 0x400
#define PCI_CAP_PTR 0x34
#define PCI_CAP_ID_MSI 0x05
#define PCI_CAP_ID_MSIX 0x11

/* Offset of capability id in config space, 0 if absent. */
static uint32_t find_cap(struct uvfio_handle *h, uint8_t id)
{
	uint8_t pos = 0, hdr[2];

	if (uvfio_config_read(h, PCI_CAP_PTR, &pos, 1) < 0)
		return 0;
	for (int n = 0; pos >= 0x40 && n < 48; n++) {
		if (uvfio_config_read(h, pos & ~3u, hdr, 2) < 0)
			return 0;
		if (hdr[0] == id)
			return pos & ~3u;
		pos = hdr[1];
	}
	return 0;
}

/* The enable bit of the MSI / MSI-X capability, as a guest's kernel sets it. Kernel VFIO sets
 * it itself on SET_IRQS; a vfio-user server may only look at config space (QEMU's device model
 * does), so we set it when it reads clear, and clear it again on teardown. */
static void cap_enable(struct uvfio_nvme_ctrl *c, int mode, bool on)
{
	uint32_t cap = find_cap(c->h, mode == UVFIO_NVME_IRQ_MSIX ? PCI_CAP_ID_MSIX : PCI_CAP_ID_MSI);
	uint16_t bit = mode == UVFIO_NVME_IRQ_MSIX ? 0x8000 : 0x0001, ctl;

	if (!cap || uvfio_config_read(c->h, cap + 2, &ctl, 2) < 0)
		return;
	if (on == !!(ctl & bit))
		return;
	ctl = on ? (ctl | bit) : (ctl & (uint16_t)~bit);
	uvfio_config_write(c->h, cap + 2, &ctl, 2);
}

static void free_vectors(struct uvfio_nvme_ctrl *c)
{
	if (c->nvec && c->irq_index != UVFIO_PCI_INTX_IRQ)
		cap_enable(c, c->irq_index == UVFIO_PCI_MSIX_IRQ ? UVFIO_NVME_IRQ_MSIX :
								   UVFIO_NVME_IRQ_MSI, false);
	if (c->nvec)
		uvfio_irq_disable(c->h, c->irq_index);
	for (uint32_t i = 0; i < c->nvec; i++)
		close(c->vec_fd[i]);
	free(c->vec_fd);
	c->vec_fd = NULL;
	c->nvec = 0;
	if (c->admin)
		c->admin->irq_fd = -1;
}

static void probe_cb(void *arg, int status, uint32_t cdw0)
{
	*(bool *)arg = true;
}

/* One admin command; true if the admin vector fired for it. */
static bool probe(struct uvfio_nvme_ctrl *c)
{
	struct uvfio_nvme_cmd cmd = { .opcode = NVME_ADM_GET_FEATURES,
				      .cdw10 = NVME_FEAT_NUM_QUEUES };
	struct pollfd pfd = { .fd = c->vec_fd[0], .events = POLLIN };
	bool done = false, fired;
	uint64_t v;
	int cid;

	pthread_mutex_lock(&c->admin_lock);
	cid = nvme_qpair_submit_raw(c->admin, &cmd, 0, 0, probe_cb, &done, c->opts.admin_timeout_ms);
	if (cid < 0) {
		pthread_mutex_unlock(&c->admin_lock);
		return false;
	}
	fired = poll(&pfd, 1, PROBE_MS) > 0;
	if (fired && read(c->vec_fd[0], &v, sizeof(v)) != sizeof(v))
		fired = false;
	/* Reap the completion whatever happened (polling), so the queue is clean. */
	for (int i = 0; i < 1000 && !done; i++)
		uvfio_nvme_wait(c->admin, 10);
	if (!done)
		nvme_qpair_forget(c->admin, (uint16_t)cid); /* done is on this stack */
	if (fired)
		nvme_irq_rearm(c);
	pthread_mutex_unlock(&c->admin_lock);
	return fired && done;
}

static int try_kind(struct uvfio_nvme_ctrl *c, int mode)
{
	struct uvfio_irq_info info = { 0 };
	uint32_t index = kind_index(mode), want;
	int ret;

	ret = uvfio_get_irq_info(c->h, index, &info);
	if (ret < 0 || !info.count || !(info.flags & UVFIO_IRQ_INFO_EVENTFD))
		return -ENOTSUP;
	want = mode == UVFIO_NVME_IRQ_MSIX ? 1 + (c->opts.io_queues ? c->opts.io_queues : 1) : 1;
	if (want > info.count)
		want = info.count;
	c->vec_fd = calloc(want, sizeof(int));
	if (!c->vec_fd)
		return -ENOMEM;
	for (uint32_t i = 0; i < want; i++) {
		c->vec_fd[i] = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
		if (c->vec_fd[i] < 0) {
			ret = -errno;
			c->nvec = i;
			free_vectors(c);
			return ret;
		}
	}
	c->nvec = want;
	c->irq_index = index;
	ret = uvfio_irq_enable(c->h, index, 0, want, c->vec_fd);
	if (ret < 0) {
		log_info("nvme: enabling %s: %s", kind_name(mode), strerror(-ret));
		c->nvec = 0; /* nothing to disable */
		for (uint32_t i = 0; i < want; i++)
			close(c->vec_fd[i]);
		free(c->vec_fd);
		c->vec_fd = NULL;
		return ret;
	}
	if (mode != UVFIO_NVME_IRQ_INTX) {
		cap_enable(c, mode, true);
	} else {
		uint16_t cmd;

		/* A previous user may have left INTx disabled in the command register. */
		if (uvfio_config_read(c->h, PCI_COMMAND, &cmd, 2) == 0 &&
		    (cmd & PCI_COMMAND_INTX_DISABLE)) {
			cmd &= (uint16_t)~PCI_COMMAND_INTX_DISABLE;
			uvfio_config_write(c->h, PCI_COMMAND, &cmd, 2);
		}
	}
	c->irq_mode = mode;
	c->admin->irq_fd = c->vec_fd[0];
	c->admin->vector = 0;
	if (!probe(c)) {
		log_info("nvme: %s enabled but its vector never fired: not using it",
			 kind_name(mode));
		free_vectors(c);
		return -EIO;
	}
	log_debug("nvme: %s interrupts, %u vectors", kind_name(mode), want);
	return 0;
}

int nvme_irq_setup(struct uvfio_nvme_ctrl *c)
{
	static const int order[] = { UVFIO_NVME_IRQ_MSIX, UVFIO_NVME_IRQ_MSI, UVFIO_NVME_IRQ_INTX };
	int ret;

	c->irq_mode = UVFIO_NVME_IRQ_POLL;
	if (c->opts.irq == UVFIO_NVME_IRQ_POLL)
		return 0;
	if (c->opts.irq != UVFIO_NVME_IRQ_AUTO) {
		ret = try_kind(c, c->opts.irq);
		if (ret < 0) {
			c->irq_mode = UVFIO_NVME_IRQ_POLL;
			log_err("nvme: %s interrupts do not work with this device: %s",
				kind_name(c->opts.irq), strerror(-ret));
		}
		return ret;
	}
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++)
		if (try_kind(c, order[i]) == 0)
			return 0;
	c->irq_mode = UVFIO_NVME_IRQ_POLL;
	log_info("nvme: no interrupt reaches us: polling");
	return 0;
}

void nvme_irq_teardown(struct uvfio_nvme_ctrl *c)
{
	free_vectors(c);
}

void nvme_irq_rearm(struct uvfio_nvme_ctrl *c)
{
	/* INTx is level triggered and masked by VFIO when it fires. */
	if (c->irq_mode == UVFIO_NVME_IRQ_INTX)
		uvfio_irq_unmask(c->h, UVFIO_PCI_INTX_IRQ, 0);
}

int nvme_irq_move(struct uvfio_nvme_ctrl *c)
{
	int ret;

	if (!c->nvec)
		return 0;
	ret = uvfio_irq_enable(c->h, c->irq_index, 0, c->nvec, c->vec_fd);
	if (ret < 0) {
		log_err("nvme: enabling %s on the new device: %s", kind_name(c->irq_mode),
			strerror(-ret));
		return ret;
	}
	/* Config space moved with the device, so the capability's enable bit normally did too. */
	if (c->irq_mode != UVFIO_NVME_IRQ_INTX)
		cap_enable(c, c->irq_mode, true);
	/* An interrupt the source raised may sit in an eventfd nobody polls any more: waiters
	 * look at the completion queues first, so a spurious wake-up is all it costs. */
	for (uint32_t i = 0; i < c->nvec; i++)
		(void)eventfd_write(c->vec_fd[i], 1);
	return 0;
}
