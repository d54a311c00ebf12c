/* SPDX-License-Identifier: MIT */
/*
 * Controller bring-up and teardown: PCI setup (uvfio_pci_setup), CC/CSTS handshakes bounded by CAP.TO, the admin queue, Identify, Number of Queues, doorbell
 * paths (mmap, ioeventfds + shadow doorbells, messages), reset recovery and shutdown.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "nvme/host/nvme_host_priv.h"
#include "util/log.h"

int nvme_reg_read32(struct uvfio_nvme_ctrl *c, uint32_t off, uint32_t *val)
{
	ssize_t ret = uvfio_region_read(c->h, UVFIO_PCI_BAR0_REGION, off, val, 4);

	return ret < 0 ? (int)ret : 0;
}

int nvme_reg_write32(struct uvfio_nvme_ctrl *c, uint32_t off, uint32_t val)
{
	ssize_t ret = uvfio_region_write(c->h, UVFIO_PCI_BAR0_REGION, off, &val, 4);

	return ret < 0 ? (int)ret : 0;
}

static int reg_write64(struct uvfio_nvme_ctrl *c, uint32_t off, uint64_t val)
{
	int ret = nvme_reg_write32(c, off, (uint32_t)val);

	return ret < 0 ? ret : nvme_reg_write32(c, off + 4, (uint32_t)(val >> 32));
}

/* Waits until CSTS & mask == want, within CAP.TO. */
static int wait_csts(struct uvfio_nvme_ctrl *c, uint32_t mask, uint32_t want, const char *what)
{
	uint64_t end = nvme_now_ns() + (uint64_t)c->ready_timeout_ms * 1000000ull;
	uint32_t csts;
	int ret;

	for (;;) {
		ret = nvme_reg_read32(c, NVME_REG_CSTS, &csts);
		if (ret < 0)
			return ret;
		if (csts == 0xffffffffu) {
			log_err("nvme: CSTS reads all ones: the controller is gone");
			return -ENODEV;
		}
		if ((csts & mask) == want)
			return 0;
		if ((csts & NVME_CSTS_CFS) && want) {
			log_err("nvme: controller fatal status (CSTS.CFS) while %s", what);
			return -EIO;
		}
		if (nvme_now_ns() > end) {
			log_err("nvme: %s: no CSTS change within CAP.TO (%u ms), CSTS 0x%x", what,
				c->ready_timeout_ms, csts);
			return -ETIMEDOUT;
		}
		struct timespec ts = { 0, 1000000 };
		nanosleep(&ts, NULL);
	}
}

int nvme_ctrl_disable(struct uvfio_nvme_ctrl *c)
{
	uint32_t cc;
	int ret = nvme_reg_read32(c, NVME_REG_CC, &cc);

	if (ret < 0)
		return ret;
	if (cc & NVME_CC_EN) {
		ret = nvme_reg_write32(c, NVME_REG_CC, cc & ~NVME_CC_EN);
		if (ret < 0)
			return ret;
	}
	return wait_csts(c, NVME_CSTS_RDY, 0, "disabling");
}

int nvme_ctrl_enable(struct uvfio_nvme_ctrl *c)
{
	struct uvfio_nvme_qpair *a = c->admin;
	uint32_t cc = NVME_CC_EN | (NVME_CC_CSS_NVM << 4) | NVME_CC_SET_MPS(0) |
		      NVME_CC_SET_IOSQES(NVME_SQES_LOG2) | NVME_CC_SET_IOCQES(NVME_CQES_LOG2);
	int ret;

	nvme_qpair_reset(a, -ECANCELED);
	if ((ret = nvme_reg_write32(c, NVME_REG_AQA, NVME_AQA_SET(a->size - 1, a->size - 1))) < 0 ||
	    (ret = reg_write64(c, NVME_REG_ASQ, a->sq_iova)) < 0 ||
	    (ret = reg_write64(c, NVME_REG_ACQ, a->cq_iova)) < 0 ||
	    (ret = nvme_reg_write32(c, NVME_REG_CC, cc)) < 0)
		return ret;
	return wait_csts(c, NVME_CSTS_RDY, NVME_CSTS_RDY, "enabling");
}

/* The ioeventfds of the doorbells, by doorbell index (plain kicks only). */
static void collect_ioeventfds(struct uvfio_nvme_ctrl *c, uint32_t ndb)
{
	struct uvfio_ioeventfd efds[2 * (NVME_HOST_MAX_QPAIRS + 1)];
	int n = uvfio_region_ioeventfds(c->h, UVFIO_PCI_BAR0_REGION, efds,
					sizeof(efds) / sizeof(efds[0]));

	if (n > (int)(sizeof(efds) / sizeof(efds[0])))
		n = sizeof(efds) / sizeof(efds[0]);
	if (n <= 0)
		return;
	c->db_efd = malloc(ndb * sizeof(int));
	for (uint32_t i = 0; c->db_efd && i < ndb; i++)
		c->db_efd[i] = -1;
	for (int i = 0; i < n; i++) {
		uint64_t o = efds[i].offset;
		uint32_t idx = (uint32_t)((o - NVME_REG_DBS) / (4u << c->dstrd));

		/* A datamatch fd stands for one value only: useless for a doorbell. */
		if (c->db_efd && o >= NVME_REG_DBS && idx < ndb &&
		    !(efds[i].flags & UVFIO_IOEVENTFD_DATAMATCH) && c->db_efd[idx] < 0) {
			c->db_efd[idx] = efds[i].fd;
			c->db_nefd = ndb;
		} else {
			close(efds[i].fd);
		}
	}
}

/* Doorbells: map the doorbell pages if the region lets us, and take the ioeventfds that kick
 * the controller after a doorbell store (mmap) or a shadow doorbell update; else messages. */
void nvme_setup_doorbell_path(struct uvfio_nvme_ctrl *c)
{
	uint32_t ndb = 2 * (NVME_HOST_MAX_QPAIRS + 1);
	size_t len = ((size_t)ndb * (4u << c->dstrd) + NVME_HOST_PAGE - 1) &
		     ~(size_t)(NVME_HOST_PAGE - 1);
	int want = c->opts.doorbells;
	void *p;

	c->db_mode = UVFIO_NVME_DB_MESSAGE;
	if (want == UVFIO_NVME_DB_AUTO || want == UVFIO_NVME_DB_MMAP) {
		/* As many pages as the region has, up to what our queues need. */
		for (; len >= NVME_HOST_PAGE; len -= NVME_HOST_PAGE) {
			if (uvfio_region_mmap(c->h, UVFIO_PCI_BAR0_REGION, NVME_REG_DBS, len,
					      PROT_READ | PROT_WRITE, &p) == 0) {
				c->db_map = p;
				c->db_map_len = len;
				c->db_mode = UVFIO_NVME_DB_MMAP;
				break;
			}
		}
		if (!c->db_map && want == UVFIO_NVME_DB_MMAP)
			log_warn("nvme: the doorbells cannot be mapped: using messages");
	}
	if (want == UVFIO_NVME_DB_AUTO || want == UVFIO_NVME_DB_IOEVENTFD ||
	    (want == UVFIO_NVME_DB_MMAP && c->db_map))
		collect_ioeventfds(c, ndb);
	if (!c->db_map && c->db_nefd)
		c->db_mode = UVFIO_NVME_DB_IOEVENTFD; /* needs shadow doorbells: see bring_up */
}

/* Doorbell Buffer Config: two pages, only when the controller offers it. */
static int setup_shadow(struct uvfio_nvme_ctrl *c)
{
	struct uvfio_nvme_cmd cmd = { .opcode = NVME_ADM_DBBUF_CONFIG };
	uint64_t iova;
	uint8_t *p;
	int st;

	if (c->opts.no_shadow_doorbells || !(c->id->oacs & NVME_CTRL_OACS_DBBUF))
		return 0;
	if (!c->shadow) {
		p = uvfio_nvme_dma_alloc(c, 2 * NVME_HOST_PAGE);
		if (!p)
			return -ENOMEM;
		c->shadow = (uint32_t *)p;
		c->eventidx = (uint32_t *)(p + NVME_HOST_PAGE);
	}
	memset(c->shadow, 0, 2 * NVME_HOST_PAGE);
	nvme_dma_iova(c, c->shadow, 2 * NVME_HOST_PAGE, &iova);
	/* PRP1 = shadow page, PRP2 = EventIdx page: a 2-page transfer from iova does that. */
	st = nvme_admin_sync(c, &cmd, iova, 2 * NVME_HOST_PAGE, NULL);
	if (st) {
		log_warn("nvme: Doorbell Buffer Config: %s; not using shadow doorbells",
			 uvfio_nvme_strstatus(st));
		uvfio_nvme_dma_free(c, c->shadow);
		c->shadow = c->eventidx = NULL;
	}
	return 0;
}

/* Everything after CC.EN=1: used by open and by reset. */
static int bring_up(struct uvfio_nvme_ctrl *c, bool first)
{
	uint32_t res = 0;
	uint32_t want = c->opts.io_queues ? c->opts.io_queues : 1;
	int st;

	if (want > NVME_HOST_MAX_QPAIRS)
		want = NVME_HOST_MAX_QPAIRS;
	st = uvfio_nvme_set_features(c, NVME_FEAT_NUM_QUEUES, 0, (want - 1) | ((want - 1) << 16),
				     &res);
	if (st) {
		log_err("nvme: Set Features Number of Queues: %s", uvfio_nvme_strstatus(st));
		return st < 0 ? st : -EIO;
	}
	if (first) {
		uint32_t nsq = NVME_FEAT_NQ_NSQ(res) + 1u, ncq = NVME_FEAT_NQ_NCQ(res) + 1u;

		c->granted = nsq < ncq ? nsq : ncq;
		if (c->granted > want)
			c->granted = want;
	}
	setup_shadow(c);
	if (c->db_mode == UVFIO_NVME_DB_IOEVENTFD && !c->shadow)
		c->db_mode = UVFIO_NVME_DB_MESSAGE; /* a kick alone does not carry the value */
	for (uint32_t qid = 1; qid <= NVME_HOST_MAX_QPAIRS; qid++) {
		struct uvfio_nvme_qpair *q = c->qpairs[qid];

		if (!q)
			continue;
		nvme_qpair_reset(q, -ECANCELED);
		nvme_qpair_setup_doorbells(q);
		if ((st = nvme_qpair_create_hw(q)) != 0)
			return st < 0 ? st : -EIO;
	}
	return 0;
}

void uvfio_nvme_opts_default(struct uvfio_nvme_opts *o)
{
	*o = (struct uvfio_nvme_opts){ .io_queues = 4, .queue_size = 256,
				       .admin_timeout_ms = 10000, .io_timeout_ms = 10000 };
}

static void trim_copy(char *dst, const char *src, size_t n)
{
	memcpy(dst, src, n);
	dst[n] = '\0';
	while (n && (dst[n - 1] == ' ' || dst[n - 1] == '\0'))
		dst[--n] = '\0';
}

int uvfio_nvme_ctrl_open(struct uvfio_handle *h, const struct uvfio_nvme_opts *opts,
			 struct uvfio_nvme_ctrl **out)
{
	struct uvfio_nvme_ctrl *c;
	uint32_t lo, hi;
	int ret, st;

	if (!h || !out)
		return -EINVAL;
	c = calloc(1, sizeof(*c));
	if (!c)
		return -ENOMEM;
	c->h = h;
	if (opts)
		c->opts = *opts;
	else
		uvfio_nvme_opts_default(&c->opts);
	if (!c->opts.admin_timeout_ms)
		c->opts.admin_timeout_ms = 10000;
	pthread_mutex_init(&c->admin_lock, NULL);
	nvme_dma_init(c);
	if ((ret = uvfio_ioas_new(&c->ioas)) < 0)
		goto fail;
	if ((ret = uvfio_ioas_attach(c->ioas, h)) < 0) {
		log_err("nvme: attaching the device to the driver's IOAS: %s", strerror(-ret));
		goto fail;
	}
	uint32_t rev_class;

	/* Revision and class code as one dword: QEMU's server aborts on 3-byte accesses. */
	if ((ret = uvfio_config_read(h, 0x08, &rev_class, 4)) < 0)
		goto fail;
	if (rev_class >> 8 != NVME_PCI_CLASS_CODE) {
		log_err("nvme: class code %06x is not an NVMe controller (010802)", rev_class >> 8);
		ret = -ENODEV;
		goto fail;
	}
	/* BAR addresses (QEMU's server refuses BAR access without), decoding, bus mastering. */
	if ((ret = uvfio_pci_setup(h, UVFIO_PCI_SETUP_MASTER)) < 0) {
		log_err("nvme: PCI setup: %s", strerror(-ret));
		goto fail;
	}
	if ((ret = nvme_reg_read32(c, NVME_REG_CAP, &lo)) < 0 ||
	    (ret = nvme_reg_read32(c, NVME_REG_CAP + 4, &hi)) < 0 ||
	    (ret = nvme_reg_read32(c, NVME_REG_VS, &c->ver)) < 0) {
		log_err("nvme: reading CAP/VS: %s", strerror(-ret));
		goto fail;
	}
	c->cap = lo | ((uint64_t)hi << 32);
	c->dstrd = NVME_CAP_DSTRD(c->cap);
	c->ready_timeout_ms = (NVME_CAP_TO(c->cap) ? NVME_CAP_TO(c->cap) : 1) * 500u;
	if (NVME_CAP_MPSMIN(c->cap) > 0 || !(c->cap & NVME_CAP_CSS_NVM)) {
		log_err("nvme: CAP 0x%llx: no 4 KiB pages or no NVM command set",
			(unsigned long long)c->cap);
		ret = -ENOTSUP;
		goto fail;
	}
	c->queue_size = c->opts.queue_size ? c->opts.queue_size : 256;
	if (c->queue_size > NVME_CAP_MQES(c->cap) + 1u)
		c->queue_size = NVME_CAP_MQES(c->cap) + 1u;
	if (c->queue_size < 2)
		c->queue_size = 2;
	c->max_xfer = NVME_HOST_PAGE; /* until Identify says more */
	if ((ret = nvme_ctrl_disable(c)) < 0)
		goto fail;
	c->admin_buf = uvfio_nvme_dma_alloc(c, NVME_HOST_PAGE);
	c->id = uvfio_nvme_dma_alloc(c, NVME_IDENTIFY_SIZE);
	if (!c->admin_buf || !c->id) {
		ret = -ENOMEM;
		goto fail;
	}
	ret = nvme_qpair_alloc(c, 0, (uint16_t)(NVME_HOST_ADMIN_ENTRIES < NVME_CAP_MQES(c->cap) + 1u ?
						NVME_HOST_ADMIN_ENTRIES : NVME_CAP_MQES(c->cap) + 1u),
			       &c->admin);
	if (ret < 0)
		goto fail;
	nvme_setup_doorbell_path(c);
	nvme_qpair_setup_doorbells(c->admin);
	if ((ret = nvme_ctrl_enable(c)) < 0)
		goto fail;
	/* Interrupts need the admin queue (the probe sends a command on it). */
	if ((ret = nvme_irq_setup(c)) < 0)
		goto fail;
	st = uvfio_nvme_identify(c, NVME_ID_CNS_CTRL, 0, c->id);
	if (st) {
		log_err("nvme: Identify Controller: %s", uvfio_nvme_strstatus(st));
		ret = st < 0 ? st : -EIO;
		goto fail;
	}
	c->max_xfer = NVME_HOST_MAX_XFER_CAP;
	if (c->id->mdts && (NVME_HOST_PAGE << c->id->mdts) < c->max_xfer)
		c->max_xfer = NVME_HOST_PAGE << c->id->mdts;
	c->sgl = (c->id->sgls & 3) && c->opts.sgl != UVFIO_NVME_SGL_NEVER;
	if (c->opts.sgl == UVFIO_NVME_SGL_ALWAYS && !c->sgl) {
		log_err("nvme: SGLs asked for but the controller does not offer them");
		ret = -ENOTSUP;
		goto fail;
	}
	if ((ret = bring_up(c, true)) < 0)
		goto fail;
	*out = c;
	return 0;
fail:
	uvfio_nvme_ctrl_close(c);
	return ret;
}

int uvfio_nvme_open(const char *url, const struct uvfio_nvme_opts *opts,
		    struct uvfio_nvme_ctrl **out)
{
	struct uvfio_handle *h;
	int ret = uvfio_open(url, &h);

	if (ret < 0)
		return ret;
	ret = uvfio_nvme_ctrl_open(h, opts, out);
	if (ret < 0) {
		uvfio_close(h);
		return ret;
	}
	(*out)->own_handle = true;
	return 0;
}

int uvfio_nvme_ctrl_reset(struct uvfio_nvme_ctrl *c)
{
	int ret;

	if (!c)
		return -EINVAL;
	log_info("nvme: controller reset");
	pthread_mutex_lock(&c->admin_lock);
	ret = nvme_ctrl_disable(c);
	for (uint32_t qid = 1; qid <= NVME_HOST_MAX_QPAIRS; qid++)
		if (c->qpairs[qid])
			nvme_qpair_reset(c->qpairs[qid], -ECANCELED);
	if (ret == 0)
		ret = nvme_ctrl_enable(c);
	pthread_mutex_unlock(&c->admin_lock);
	if (ret == 0)
		ret = bring_up(c, false);
	if (ret < 0)
		log_err("nvme: controller reset failed: %s", strerror(-ret));
	return ret;
}

void uvfio_nvme_ctrl_close(struct uvfio_nvme_ctrl *c)
{
	uint32_t cc;

	if (!c)
		return;
	for (uint32_t qid = 1; qid <= NVME_HOST_MAX_QPAIRS; qid++)
		if (c->qpairs[qid])
			uvfio_nvme_qpair_destroy(c->qpairs[qid]);
	if (c->admin && nvme_reg_read32(c, NVME_REG_CC, &cc) == 0 && (cc & NVME_CC_EN)) {
		uint64_t end = nvme_now_ns() + (uint64_t)c->ready_timeout_ms * 1000000ull;
		uint32_t csts = 0;

		/* Normal shutdown, so the controller flushes what it caches. */
		nvme_reg_write32(c, NVME_REG_CC, (cc & ~NVME_CC_SHN_MASK) |
						 NVME_CC_SET_SHN(NVME_CC_SHN_NORMAL));
		while (nvme_reg_read32(c, NVME_REG_CSTS, &csts) == 0 &&
		       NVME_CSTS_SHST(csts) != NVME_CSTS_SHST_COMPLETE && nvme_now_ns() < end) {
			struct timespec ts = { 0, 1000000 };
			nanosleep(&ts, NULL);
		}
	}
	nvme_irq_teardown(c);
	nvme_qpair_free(c->admin);
	if (c->db_map)
		uvfio_region_munmap(c->h, c->db_map, c->db_map_len);
	for (uint32_t i = 0; c->db_efd && i < c->db_nefd; i++)
		if (c->db_efd[i] >= 0)
			close(c->db_efd[i]);
	free(c->db_efd);
	if (c->ioas)
		uvfio_ioas_free(c->ioas);
	if (c->own_handle)
		uvfio_close(c->h);
	pthread_mutex_destroy(&c->admin_lock);
	pthread_mutex_destroy(&c->dma_lock);
	free(c);
}

int uvfio_nvme_ctrl_get_info(struct uvfio_nvme_ctrl *c, struct uvfio_nvme_ctrl_info *i)
{
	static const char *irq_names[] = { "auto", "poll", "msix", "msi", "intx" };
	static const char *db_names[] = { "auto", "mmap", "ioeventfd", "message" };
	bool kicks;

	if (!c || !i)
		return -EINVAL;
	kicks = c->db_nefd && c->db_mode == UVFIO_NVME_DB_MMAP;
	memset(i, 0, sizeof(*i));
	i->vid = c->id->vid;
	i->ssvid = c->id->ssvid;
	trim_copy(i->sn, c->id->sn, sizeof(c->id->sn));
	trim_copy(i->mn, c->id->mn, sizeof(c->id->mn));
	trim_copy(i->fr, c->id->fr, sizeof(c->id->fr));
	i->ver = c->id->ver ? c->id->ver : c->ver;
	i->nn = c->id->nn;
	i->cap = c->cap;
	i->max_xfer = c->max_xfer;
	i->oacs = c->id->oacs;
	i->oncs = c->id->oncs;
	i->sgls = c->id->sgls;
	i->io_queues = c->granted;
	i->queue_size = c->queue_size;
	i->irq = irq_names[c->irq_mode];
	i->doorbells = kicks ? "mmap+ioeventfd" : db_names[c->db_mode];
	i->shadow_doorbells = c->shadow != NULL;
	i->sgl = c->sgl;
	return 0;
}

const void *uvfio_nvme_ctrl_identify_data(struct uvfio_nvme_ctrl *c)
{
	return c ? c->id : NULL;
}
