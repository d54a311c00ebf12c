/* SPDX-License-Identifier: MIT */
/*
 * BAR0 registers, on the server's loop thread. Register writes update the register file under
 * ctrl->lock and kick the worker, which applies enable/disable/shutdown: the loop never waits
 * for I/O. Doorbell writes that arrive as messages land in the doorbell page, as mmapped ones
 * do, and kick the worker.
 */
#include <errno.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include "nvme.h"
#include "util/log.h"

void nvmec_regs_init(struct nvmec *n)
{
	n->regs = (struct nvmec_regs){
		.cap = NVME_CAP_SET_MQES(NVMEC_MAX_QES - 1) | NVME_CAP_CQR |
		       NVME_CAP_SET_TO(30) /* 15 s */ | NVME_CAP_SET_DSTRD(0) | NVME_CAP_CSS_NVM |
		       NVME_CAP_SET_MPSMIN(0) | NVME_CAP_SET_MPSMAX(0),
		.vs = NVME_VS_1_4,
	};
}

static uint64_t reg_read(struct nvmec *n, uint64_t off, size_t count)
{
	struct nvmec_regs *r = &n->regs;
	uint64_t v;
	/* 64-bit registers may be read as two dwords. */
	uint64_t base = off & ~7ull;
	switch (base) {
	case NVME_REG_CAP:
		v = r->cap;
		break;
	case NVME_REG_ASQ:
		v = r->asq;
		break;
	case NVME_REG_ACQ:
		v = r->acq;
		break;
	default:
		base = off & ~3ull;
		switch (base) {
		case NVME_REG_VS:
			v = r->vs;
			break;
		case NVME_REG_INTMS:
		case NVME_REG_INTMC:
			v = r->intms;
			break;
		case NVME_REG_CC:
			v = r->cc;
			break;
		case NVME_REG_CSTS:
			v = r->csts;
			break;
		case NVME_REG_AQA:
			v = r->aqa;
			break;
		default:
			v = 0; /* reserved and unimplemented optional registers read 0 */
			break;
		}
		if (count == 8 && base + 4 < 0x40) {
			uint64_t hi = reg_read(n, base + 4, 4);
			return v | (hi << 32);
		}
	}
	return v >> ((off - base) * 8);
}

static void set64(uint64_t *reg, uint64_t off, size_t count, uint64_t val, uint64_t mask)
{
	uint64_t v = *reg;
	if (count == 8) {
		v = val;
	} else if (off & 4) {
		v = (v & 0xffffffffull) | (val << 32);
	} else {
		v = (v & ~0xffffffffull) | (val & 0xffffffffull);
	}
	*reg = v & mask;
}

static void reg_write(struct nvmec *n, uint64_t off, size_t count, uint64_t val)
{
	struct nvmec_regs *r = &n->regs;
	bool kick = false;
	switch (off & ~7ull) {
	case NVME_REG_ASQ:
		set64(&r->asq, off, count, val, ~0xfffull);
		return;
	case NVME_REG_ACQ:
		set64(&r->acq, off, count, val, ~0xfffull);
		return;
	}
	uint32_t v = (uint32_t)val;
	switch (off) {
	case NVME_REG_INTMS:
		r->intms |= v;
		break;
	case NVME_REG_INTMC:
		r->intms &= ~v;
		kick = true; /* interrupts held back by the mask go out now */
		break;
	case NVME_REG_CC:
		r->cc = v & ~NVME_CC_RESERVED;
		__atomic_store_n(&n->cc_changed, true, __ATOMIC_RELEASE);
		kick = true;
		break;
	case NVME_REG_AQA:
		r->aqa = v & 0x0fff0fffu;
		break;
	case NVME_REG_NSSR:
		break; /* CAP.NSSRS clear: no subsystem reset */
	default:
		break; /* read-only or reserved */
	}
	if (kick)
		nvmec_kick(n);
}

ssize_t nvmec_bar_rw(struct uvfio_pci_device *pdev, int bar, uint64_t offset, void *buf,
		     size_t count, bool is_write)
{
	struct nvmec *n = nvmec_from_pdev(pdev);
	if (!n || bar != 0 || !buf)
		return -EINVAL;
	if (offset >= NVMEC_DB_OFFSET && offset < NVMEC_DB_OFFSET + NVMEC_DB_SIZE) {
		uint32_t idx = (uint32_t)(offset - NVMEC_DB_OFFSET) / 4;
		if (!is_write) {
			memset(buf, 0, count); /* doorbells read as zero */
			return (ssize_t)count;
		}
		if (count != 4 || (offset & 3))
			return (ssize_t)count; /* not a doorbell access: ignored */
		uint32_t v;
		memcpy(&v, buf, 4);
		if (idx >= 2 * (n->nr_ioq + 1))
			__atomic_fetch_add(&n->bad_db_writes, 1, __ATOMIC_SEQ_CST);
		else
			__atomic_store_n(&n->db[idx], v, __ATOMIC_SEQ_CST);
		nvmec_doorbell_kick(n);
		return (ssize_t)count;
	}
	if (offset >= 0x1000 || (count != 4 && count != 8) || (offset % count)) {
		if (!is_write)
			memset(buf, 0, count);
		return (ssize_t)count;
	}
	pthread_mutex_lock(&n->lock);
	if (is_write) {
		uint64_t v = 0;
		memcpy(&v, buf, count);
		reg_write(n, offset, count, v);
	} else {
		uint64_t v = reg_read(n, offset, count);
		memcpy(buf, &v, count);
	}
	pthread_mutex_unlock(&n->lock);
	return (ssize_t)count;
}

/* Worker: drop every queue and what depends on them. full: also the admin queue registers. */
void nvmec_controller_reset(struct nvmec *n, bool full)
{
	/* Outstanding I/O is aborted: it finishes, nothing is posted for it. */
	n->aio_gen++;
	nvmec_aio_drain(n, false);
	for (uint32_t q = 0; q <= n->nr_ioq; q++)
		nvmec_delete_sq(n, (uint16_t)q);
	for (uint32_t q = 0; q <= n->nr_ioq; q++)
		nvmec_delete_cq(n, (uint16_t)q);
	n->nr_aer = 0;
	n->nr_aen = 0;
	n->aen_masked = 0;
	n->dbbuf = false;
	n->dbbuf_dbs = n->dbbuf_eis = 0;
	n->enabled = false;
	n->fatal = false;
	nvmec_features_reset(n);
	memset((void *)n->db, 0, NVMEC_DB_SIZE);
	uvfio_pci_set_intx(n->pdev, false);
	pthread_mutex_lock(&n->lock);
	n->regs.csts = 0;
	if (full) {
		n->regs.cc = 0;
		n->regs.aqa = 0;
		n->regs.asq = n->regs.acq = 0;
		n->regs.intms = 0;
	}
	pthread_mutex_unlock(&n->lock);
}

static bool enable(struct nvmec *n, uint32_t cc, uint32_t aqa, uint64_t asq, uint64_t acq)
{
	uint32_t mps = NVME_CC_MPS(cc);
	if (NVME_CC_CSS(cc) != NVME_CC_CSS_NVM) {
		log_warn("nvme %s: enable with CC.CSS %u", n->name, NVME_CC_CSS(cc));
		return false;
	}
	if (mps < NVME_CAP_MPSMIN(n->regs.cap) || mps > NVME_CAP_MPSMAX(n->regs.cap) ||
	    NVME_CC_AMS(cc) != 0) {
		log_warn("nvme %s: enable with CC.MPS %u / AMS %u", n->name, mps, NVME_CC_AMS(cc));
		return false;
	}
	uint32_t sqs = NVME_AQA_ASQS(aqa) + 1, cqs = NVME_AQA_ACQS(aqa) + 1;
	if (sqs < 2 || cqs < 2 || !asq || !acq) {
		log_warn("nvme %s: enable without a valid admin queue (AQA 0x%x)", n->name, aqa);
		return false;
	}
	n->page_shift = 12 + mps;
	n->cq[0] = (struct nvmec_cq){
		.valid = true, .qid = 0, .size = cqs, .base = acq, .phase = true, .ien = true,
	};
	n->sq[0] = (struct nvmec_sq){ .valid = true, .qid = 0, .cqid = 0, .size = sqs, .base = asq };
	n->cq[0].nr_sqs = 1;
	n->enabled = true;
	n->power_on_ns = n->power_on_ns ? n->power_on_ns : nvmec_now_ns();
	return true;
}

void nvmec_apply_cc(struct nvmec *n)
{
	pthread_mutex_lock(&n->lock);
	uint32_t cc = n->regs.cc, aqa = n->regs.aqa;
	uint64_t asq = n->regs.asq, acq = n->regs.acq;
	__atomic_store_n(&n->cc_changed, false, __ATOMIC_RELEASE);
	uint32_t csts = n->regs.csts;
	pthread_mutex_unlock(&n->lock);

	if (!(cc & NVME_CC_EN)) {
		if (n->enabled || (csts & (NVME_CSTS_RDY | NVME_CSTS_CFS | NVME_CSTS_SHST_MASK)))
			nvmec_controller_reset(n, false);
		return;
	}
	if (!n->enabled && !(csts & NVME_CSTS_CFS)) {
		bool ok = enable(n, cc, aqa, asq, acq);
		pthread_mutex_lock(&n->lock);
		n->regs.csts = ok ? NVME_CSTS_RDY : NVME_CSTS_CFS;
		pthread_mutex_unlock(&n->lock);
		n->fatal = !ok;
	}
	if (NVME_CC_SHN(cc) != NVME_CC_SHN_NONE && NVME_CSTS_SHST(csts) != NVME_CSTS_SHST_COMPLETE) {
		/* Everything runs to completion when fetched: only the cache is left to write. */
		for (uint32_t i = 0; i < n->nr_ns; i++)
			if (n->ns[i].ops->flush)
				(void)n->ns[i].ops->flush(&n->ns[i]);
		pthread_mutex_lock(&n->lock);
		n->regs.csts = (n->regs.csts & ~NVME_CSTS_SHST_MASK) |
			       (NVME_CSTS_SHST_COMPLETE << 2);
		pthread_mutex_unlock(&n->lock);
	} else if (NVME_CC_SHN(cc) == NVME_CC_SHN_NONE && NVME_CSTS_SHST(csts)) {
		pthread_mutex_lock(&n->lock);
		n->regs.csts &= ~NVME_CSTS_SHST_MASK;
		pthread_mutex_unlock(&n->lock);
	}
}
