/* SPDX-License-Identifier: MIT */
/*
 * Following a live-migrated controller. uvfio_migrate() moves the controller's whole state
 * (registers, queue heads, tails and phases, the doorbell page) to the destination device; the
 * queues themselves live in the driver's memory, which the destination reaches through the
 * same IOAS. What belongs to the old device handle moves here: the doorbell mapping and
 * ioeventfds, and the interrupt eventfds. Commands submitted before the move and not completed
 * stay outstanding and complete on the destination; nothing is resubmitted (that would run a
 * command twice).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nvme/host/nvme_host_priv.h"
#include "util/log.h"

struct uvfio_ioas *uvfio_nvme_ctrl_ioas(struct uvfio_nvme_ctrl *c)
{
	return c ? c->ioas : NULL;
}

struct uvfio_handle *uvfio_nvme_ctrl_handle(struct uvfio_nvme_ctrl *c)
{
	return c ? c->h : NULL;
}

/* Drop the doorbell mapping and ioeventfds of the current handle. */
static void drop_doorbells(struct uvfio_nvme_ctrl *c)
{
	if (c->db_map)
		uvfio_region_munmap(c->h, c->db_map, c->db_map_len);
	c->db_map = NULL;
	c->db_map_len = 0;
	for (uint32_t i = 0; c->db_efd && i < c->db_nefd; i++)
		if (c->db_efd[i] >= 0)
			close(c->db_efd[i]);
	free(c->db_efd);
	c->db_efd = NULL;
	c->db_nefd = 0;
}

static void queue_move(struct uvfio_nvme_qpair *q)
{
	uint32_t ssq = 0, scq = 0;

	if (!q)
		return;
	/* setup_doorbells() zeroes the shadow doorbells, which belong to the queue's state. */
	if (q->shadow_sq) {
		ssq = *q->shadow_sq;
		scq = *q->shadow_cq;
	}
	nvme_qpair_setup_doorbells(q);
	if (q->shadow_sq) {
		*q->shadow_sq = ssq;
		*q->shadow_cq = scq;
	}
}

int uvfio_nvme_ctrl_migrated(struct uvfio_nvme_ctrl *c, struct uvfio_handle *new_h)
{
	struct uvfio_handle *old;
	uint32_t csts = 0;
	ssize_t got;
	int ret;

	if (!c || !new_h || new_h == c->h)
		return -EINVAL;
	/* The destination must be the running controller we had, not a fresh one: check before
	 * anything of the old handle is let go, so a refusal leaves the driver as it was. */
	got = uvfio_region_read(new_h, UVFIO_PCI_BAR0_REGION, NVME_REG_CSTS, &csts, 4);
	if (got < 0)
		return (int)got;
	if (!(csts & NVME_CSTS_RDY) || (csts & NVME_CSTS_CFS)) {
		log_err("nvme: the migrated controller is not ready (CSTS 0x%x): was it resumed?",
			csts);
		return -EIO;
	}
	ret = uvfio_ioas_attach(c->ioas, new_h);
	if (ret < 0 && ret != -EALREADY) {
		log_err("nvme: attaching the migrated device to the driver's IOAS: %s",
			strerror(-ret));
		return ret;
	}
	pthread_mutex_lock(&c->admin_lock);
	old = c->h;
	drop_doorbells(c);
	if (c->nvec)
		(void)uvfio_irq_disable(old, c->irq_index); /* the eventfds stay ours */
	c->h = new_h;
	nvme_setup_doorbell_path(c);
	if (c->db_mode == UVFIO_NVME_DB_IOEVENTFD && !c->shadow)
		c->db_mode = UVFIO_NVME_DB_MESSAGE;
	queue_move(c->admin);
	for (uint32_t qid = 1; qid <= NVME_HOST_MAX_QPAIRS; qid++)
		queue_move(c->qpairs[qid]);
	ret = nvme_irq_move(c);
	pthread_mutex_unlock(&c->admin_lock);
	(void)uvfio_ioas_detach(c->ioas, old);
	if (c->own_handle)
		uvfio_close(old);
	c->own_handle = false;
	if (ret < 0)
		return ret; /* interrupts did not follow: the queues still work by polling */
	log_info("nvme: following the migrated controller");
	return 0;
}
