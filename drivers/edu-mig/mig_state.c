/* SPDX-License-Identifier: MIT */
/*
 * edu-mig's migration data: what save() writes in pre-copy and stop-copy, and what load()
 * accepts. Section ids and layouts are in edu_mig.h (state version 1).
 *
 * Device memory is sent as initial data once per saving session, in order, then as the pages
 * the client wrote after they were sent. The rest of the state is only sent in stop-copy, when
 * the device is quiesced and it cannot change any more.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include "edu_mig.h"
#include "util/log.h"

#define PRECOPY_BUDGET (16u << 20) /* device memory bytes per pre-copy save() call */

void edu_mig_track_begin(struct edu_mig *m)
{
	pthread_mutex_lock(&m->lock);
	m->saving = true;
	m->sent_end = 0;
	if (m->dirty)
		memset(m->dirty, 0, ((m->mem_size / EDU_MIG_PAGE + 63) / 64) * sizeof(*m->dirty));
	m->nr_dirty = 0;
	pthread_mutex_unlock(&m->lock);
}

void edu_mig_track_end(struct edu_mig *m)
{
	edu_mig_track_begin(m);
	pthread_mutex_lock(&m->lock);
	m->saving = false;
	pthread_mutex_unlock(&m->lock);
}

/* ---- device memory ---- */

/* frozen: the device is stopped for good (STOP_COPY), so the stream may point at its memory
 * instead of copying it; in pre-copy the memory still changes and is copied. */
static int mem_section_locked(struct edu_mig *m, struct uvfio_mig_writer *w, uint64_t off,
			      uint64_t len, bool frozen)
{
	uint8_t head[8];
	le_put(head, off, 8);
	struct uvfio_mig_piece p[2] = { { .data = head, .len = 8 },
					{ .data = m->mem + off, .len = len, .by_ref = frozen } };
	return uvfio_mig_writer_section_pieces(w, EDU_MIG_SEC_MEM, p, 2);
}

static bool dirty_test(const struct edu_mig *m, uint64_t pg)
{
	return m->dirty[pg / 64] & (1ull << (pg % 64));
}

/* The next run of dirty pages at or after *pg, at most max pages long. false: none. */
static bool next_dirty_run(const struct edu_mig *m, uint64_t *pg, uint64_t max, uint64_t *n)
{
	uint64_t pages = m->sent_end / EDU_MIG_PAGE;
	uint64_t p = *pg;
	while (p < pages && !m->dirty[p / 64] && p % 64 == 0)
		p += 64; /* whole clean words at once */
	while (p < pages && !dirty_test(m, p))
		p++;
	if (p >= pages)
		return false;
	uint64_t e = p;
	while (e < pages && e - p < max && dirty_test(m, e))
		e++;
	*pg = p;
	*n = e - p;
	return true;
}

/* Sends up to budget bytes (rounded up to a section) of memory not sent yet, initial first. */
static int save_mem(struct edu_mig *m, struct uvfio_mig_writer *w, uint64_t budget, bool frozen)
{
	if (!m->mem)
		return 0;
	const uint64_t chunk_pages = EDU_MIG_MEM_CHUNK / EDU_MIG_PAGE;
	int ret = 0;
	pthread_mutex_lock(&m->lock);
	while (ret == 0 && budget && m->sent_end < m->mem_size) {
		uint64_t len = m->mem_size - m->sent_end;
		if (len > EDU_MIG_MEM_CHUNK)
			len = EDU_MIG_MEM_CHUNK;
		ret = mem_section_locked(m, w, m->sent_end, len, frozen);
		if (ret == 0) {
			m->sent_end += len;
			budget = budget > len ? budget - len : 0;
		}
	}
	uint64_t pg = 0, n = 0;
	while (ret == 0 && budget && next_dirty_run(m, &pg, chunk_pages, &n)) {
		ret = mem_section_locked(m, w, pg * EDU_MIG_PAGE, n * EDU_MIG_PAGE, frozen);
		if (ret < 0)
			break;
		for (uint64_t i = pg; i < pg + n; i++)
			m->dirty[i / 64] &= ~(1ull << (i % 64));
		m->nr_dirty -= n;
		pg += n;
		budget = budget > n * EDU_MIG_PAGE ? budget - n * EDU_MIG_PAGE : 0;
	}
	pthread_mutex_unlock(&m->lock);
	return ret;
}

/* Payload bytes (with section offsets) of the memory save_mem() would still send. */
static uint64_t mem_pending_bytes(struct edu_mig *m)
{
	const uint64_t chunk_pages = EDU_MIG_MEM_CHUNK / EDU_MIG_PAGE;
	pthread_mutex_lock(&m->lock);
	uint64_t rest = m->mem_size - m->sent_end;
	uint64_t bytes = rest + 8 * ((rest + EDU_MIG_MEM_CHUNK - 1) / EDU_MIG_MEM_CHUNK);
	uint64_t pg = 0, n = 0;
	while (m->mem && next_dirty_run(m, &pg, chunk_pages, &n)) {
		bytes += 8 + n * EDU_MIG_PAGE;
		pg += n;
	}
	pthread_mutex_unlock(&m->lock);
	return bytes;
}

/* ---- the fixed sections ---- */

static void regs_encode(const struct edu_regs *r, uint8_t *p)
{
	le_put(p, r->liveness, 4);
	le_put(p + 4, r->fact, 4);
	le_put(p + 8, r->status, 4);
	le_put(p + 12, r->irq_status, 4);
	le_put(p + 16, r->dma_src, 8);
	le_put(p + 24, r->dma_dst, 8);
	le_put(p + 32, r->dma_cnt, 8);
	le_put(p + 40, r->dma_cmd, 8);
}

static void regs_decode(const uint8_t *p, struct edu_regs *r)
{
	*r = (struct edu_regs){
		.liveness = (uint32_t)le_get(p, 4),
		.fact = (uint32_t)le_get(p + 4, 4),
		.status = (uint32_t)le_get(p + 8, 4),
		.irq_status = (uint32_t)le_get(p + 12, 4),
		.dma_src = le_get(p + 16, 8),
		.dma_dst = le_get(p + 24, 8),
		.dma_cnt = le_get(p + 32, 8),
		.dma_cmd = le_get(p + 40, 8),
	};
}

static void dirtier_encode(const struct dirtier_regs *r, uint8_t *p)
{
	le_put(p, r->base, 8);
	le_put(p + 8, r->len, 8);
	le_put(p + 16, r->rate, 4);
	le_put(p + 20, r->enable, 4);
	le_put(p + 24, r->counter, 8);
	le_put(p + 32, r->pos, 8);
}

static void dirtier_decode(const uint8_t *p, struct dirtier_regs *r)
{
	*r = (struct dirtier_regs){
		.base = le_get(p, 8),
		.len = le_get(p + 8, 8),
		.rate = (uint32_t)le_get(p + 16, 4),
		.enable = (uint32_t)le_get(p + 20, 4),
		.counter = le_get(p + 24, 8),
		.pos = le_get(p + 32, 8),
	};
}

static int save_pci(struct edu_mig *m, struct uvfio_mig_writer *w)
{
	size_t len = uvfio_pci_state_size(m->pdev);
	uint8_t *buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	ssize_t n = uvfio_pci_state_save(m->pdev, buf, len);
	int ret = n < 0 ? (int)n : uvfio_mig_writer_section(w, EDU_MIG_SEC_PCI, buf, (size_t)n);
	free(buf);
	return ret;
}

/* Stop-copy: the device is quiesced, so registers, buffer and memory hold still. */
static int save_final(struct edu_mig *m, struct uvfio_mig_writer *w)
{
	uint8_t config[EDU_MIG_CONFIG_SIZE];
	le_put(config, m->mem_size, 8);
	le_put(config + 8, m->edu.dma_mask, 8);
	int ret = uvfio_mig_writer_section(w, EDU_MIG_SEC_CONFIG, config, sizeof(config));
	if (ret == 0)
		ret = save_pci(m, w);
	if (ret < 0)
		return ret;

	struct edu_regs regs;
	uint8_t buf[EDU_DMA_BUF_SIZE];
	edu_get_state(&m->edu, &regs, buf);
	/* The worker is paused: a start bit means a DMA queued and not started. */
	bool queued = regs.dma_cmd & EDU_DMA_START;
	uint8_t dma[EDU_MIG_DMA_SIZE];
	le_put(dma, regs.dma_src, 8);
	le_put(dma + 8, regs.dma_dst, 8);
	le_put(dma + 16, regs.dma_cnt, 8);
	le_put(dma + 24, regs.dma_cmd, 8);
	regs.dma_cmd &= ~(uint64_t)EDU_DMA_START;
	uint8_t enc[EDU_MIG_REGS_SIZE];
	regs_encode(&regs, enc);
	ret = uvfio_mig_writer_section(w, EDU_MIG_SEC_REGS, enc, sizeof(enc));
	if (ret == 0)
		ret = uvfio_mig_writer_section(w, EDU_MIG_SEC_BUFFER, buf, sizeof(buf));
	if (ret == 0 && queued)
		ret = uvfio_mig_writer_section(w, EDU_MIG_SEC_DMA, dma, sizeof(dma));
	if (ret < 0)
		return ret;

	struct dirtier_regs dr;
	dirtier_get(&m->dirtier, &dr);
	uint8_t denc[EDU_MIG_DIRTIER_STATE_SIZE];
	dirtier_encode(&dr, denc);
	ret = uvfio_mig_writer_section(w, EDU_MIG_SEC_DIRTIER, denc, sizeof(denc));
	return ret < 0 ? ret : save_mem(m, w, UINT64_MAX, true);
}

static struct edu_mig *from_dev(struct uvfio_device *dev)
{
	struct uvfio_pci_device *pdev = uvfio_pci_from_device(dev);
	return pdev ? edu_mig_from_pdev(pdev) : NULL;
}

static int mig_save(struct uvfio_device *dev, struct uvfio_mig_writer *w, bool final)
{
	struct edu_mig *m = from_dev(dev);
	if (!m || !w)
		return -EINVAL;
	return final ? save_final(m, w) : save_mem(m, w, PRECOPY_BUDGET, false);
}

/* ---- load ---- */

/* The sections of a stream, checked; nothing applied yet. */
struct load_plan {
	const struct uvfio_mig_section *sec[EDU_MIG_SEC_MEM]; /* by id - 1, MEM unused */
	struct edu_regs regs;
	struct dirtier_regs dirtier;
};

static const size_t fixed_len[EDU_MIG_SEC_MEM] = {
	[EDU_MIG_SEC_CONFIG - 1] = EDU_MIG_CONFIG_SIZE,
	[EDU_MIG_SEC_REGS - 1] = EDU_MIG_REGS_SIZE,
	[EDU_MIG_SEC_BUFFER - 1] = EDU_DMA_BUF_SIZE,
	[EDU_MIG_SEC_DMA - 1] = EDU_MIG_DMA_SIZE,
	[EDU_MIG_SEC_DIRTIER - 1] = EDU_MIG_DIRTIER_STATE_SIZE,
};

static int check_section(struct edu_mig *m, struct load_plan *plan,
			 const struct uvfio_mig_section *s)
{
	if (s->id == EDU_MIG_SEC_MEM) {
		uint64_t off = s->len > 8 ? le_get(s->data, 8) : 0;
		if (s->len <= 8 || off > m->mem_size || s->len - 8 > m->mem_size - off) {
			log_err("edu-mig: memory section of %zu bytes at 0x%llx does not fit %llu "
				"bytes of device memory",
				s->len, (unsigned long long)off, (unsigned long long)m->mem_size);
			return -EINVAL;
		}
		return 0;
	}
	if (s->id == 0 || s->id > EDU_MIG_SEC_MEM) {
		log_err("edu-mig: unknown section %u", s->id);
		return -EINVAL;
	}
	if (plan->sec[s->id - 1]) {
		log_err("edu-mig: section %u twice", s->id);
		return -EINVAL;
	}
	if (fixed_len[s->id - 1] && s->len != fixed_len[s->id - 1]) {
		log_err("edu-mig: section %u has %zu bytes, expected %zu", s->id, s->len,
			fixed_len[s->id - 1]);
		return -EINVAL;
	}
	plan->sec[s->id - 1] = s;
	return 0;
}

static int check_values(struct edu_mig *m, struct load_plan *plan)
{
	static const uint32_t required[] = { EDU_MIG_SEC_CONFIG, EDU_MIG_SEC_PCI, EDU_MIG_SEC_REGS,
					     EDU_MIG_SEC_BUFFER, EDU_MIG_SEC_DIRTIER };
	for (size_t i = 0; i < sizeof(required) / sizeof(required[0]); i++) {
		if (!plan->sec[required[i] - 1]) {
			log_err("edu-mig: section %u missing", required[i]);
			return -EINVAL;
		}
	}
	const uint8_t *config = plan->sec[EDU_MIG_SEC_CONFIG - 1]->data;
	if (le_get(config, 8) != m->mem_size || le_get(config + 8, 8) != m->edu.dma_mask) {
		log_err("edu-mig: source had mem=0x%llx dma_mask=0x%llx, here mem=0x%llx "
			"dma_mask=0x%llx",
			(unsigned long long)le_get(config, 8),
			(unsigned long long)le_get(config + 8, 8),
			(unsigned long long)m->mem_size, (unsigned long long)m->edu.dma_mask);
		return -EINVAL;
	}
	const struct uvfio_mig_section *pci = plan->sec[EDU_MIG_SEC_PCI - 1];
	int ret = uvfio_pci_state_check(m->pdev, pci->data, pci->len);
	if (ret < 0)
		return ret;
	regs_decode(plan->sec[EDU_MIG_SEC_REGS - 1]->data, &plan->regs);
	struct edu_regs *r = &plan->regs;
	if ((r->status & ~(EDU_STATUS_COMPUTING | EDU_STATUS_IRQFACT)) ||
	    (r->dma_cmd & EDU_DMA_START)) {
		log_err("edu-mig: registers hold impossible values (status 0x%x, cmd 0x%llx)",
			r->status, (unsigned long long)r->dma_cmd);
		return -EINVAL;
	}
	const struct uvfio_mig_section *dma = plan->sec[EDU_MIG_SEC_DMA - 1];
	if (dma) {
		const uint8_t *d = dma->data;
		uint64_t cmd = le_get(d + 24, 8);
		/* DMA registers are frozen while a transfer is queued: they must be the job's. */
		if (!(cmd & EDU_DMA_START) || le_get(d, 8) != r->dma_src ||
		    le_get(d + 8, 8) != r->dma_dst || le_get(d + 16, 8) != r->dma_cnt ||
		    (cmd & ~(uint64_t)EDU_DMA_START) != r->dma_cmd) {
			log_err("edu-mig: queued DMA does not match the DMA registers");
			return -EINVAL;
		}
		r->dma_cmd = cmd;
	}
	dirtier_decode(plan->sec[EDU_MIG_SEC_DIRTIER - 1]->data, &plan->dirtier);
	if (!dirtier_regs_valid(&plan->dirtier)) {
		log_err("edu-mig: dirtier registers hold impossible values");
		return -EINVAL;
	}
	return 0;
}

static int mig_load(struct uvfio_device *dev, uint32_t state_version,
		    const struct uvfio_mig_section *sections, size_t nr)
{
	struct edu_mig *m = from_dev(dev);
	if (!m || (nr && !sections))
		return -EINVAL;
	if (state_version != EDU_MIG_STATE_VERSION) {
		log_err("edu-mig: state version %u, this driver reads %u", state_version,
			EDU_MIG_STATE_VERSION);
		return -EINVAL;
	}
	struct load_plan plan = { 0 };
	for (size_t i = 0; i < nr; i++) {
		if (!sections[i].data && sections[i].len)
			return -EINVAL;
		int ret = check_section(m, &plan, &sections[i]);
		if (ret < 0)
			return ret;
	}
	int ret = check_values(m, &plan);
	if (ret < 0)
		return ret;

	/* Everything checked: apply, in stream order for memory (later sections win). */
	const struct uvfio_mig_section *pci = plan.sec[EDU_MIG_SEC_PCI - 1];
	ret = uvfio_pci_state_load(m->pdev, pci->data, pci->len);
	if (ret < 0)
		return ret;
	pthread_mutex_lock(&m->lock);
	if (m->stage_ok && m->stage_next == nr && m->shadow) {
		/* Every section of this stream is already in the shadow, over a copy of mem: it
		 * is what the copies below would make of mem. */
		uint8_t *t = m->mem;
		m->mem = m->shadow;
		m->shadow = t;
	} else {
		for (size_t i = 0; i < nr; i++) {
			const struct uvfio_mig_section *s = &sections[i];
			const uint8_t *data = s->data;
			if (s->id == EDU_MIG_SEC_MEM)
				memcpy(m->mem + le_get(data, 8), data + 8, s->len - 8);
		}
	}
	m->stage_ok = false;
	pthread_mutex_unlock(&m->lock);
	edu_set_state(&m->edu, &plan.regs, plan.sec[EDU_MIG_SEC_BUFFER - 1]->data);
	dirtier_set(&m->dirtier, &plan.dirtier);
	return 0;
}

/* A new stream: the shadow starts as a copy of mem (a stream need not cover all of it). */
static bool stage_begin_locked(struct edu_mig *m)
{
	if (!m->shadow) {
		void *p = mmap(NULL, m->mem_size, PROT_READ | PROT_WRITE,
			       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return false; /* load() copies, as without staging */
		madvise(p, m->mem_size, MADV_HUGEPAGE);
		m->shadow = p;
	}
	memcpy(m->shadow, m->mem, m->mem_size);
	return true;
}

/* Memory sections go to the shadow as they arrive, outside the downtime. The device itself
 * is not touched: the stream may still be refused. */
static void mig_stage(struct uvfio_device *dev, size_t index, const struct uvfio_mig_section *s)
{
	struct edu_mig *m = from_dev(dev);
	if (!m || !m->mem)
		return;
	pthread_mutex_lock(&m->lock);
	if (index == 0) {
		m->stage_next = 0;
		m->stage_ok = stage_begin_locked(m);
	}
	if (index != m->stage_next)
		m->stage_ok = false;
	if (m->stage_ok && s->id == EDU_MIG_SEC_MEM) {
		uint64_t off = s->len > 8 ? le_get(s->data, 8) : 0;
		if (s->len <= 8 || off > m->mem_size || s->len - 8 > m->mem_size - off)
			m->stage_ok = false; /* load() refuses the stream */
		else
			memcpy(m->shadow + off, (const uint8_t *)s->data + 8, s->len - 8);
	}
	m->stage_next = index + 1;
	pthread_mutex_unlock(&m->lock);
}

static int mig_precopy_info(struct uvfio_device *dev, uint64_t *initial_bytes,
			    uint64_t *dirty_bytes)
{
	struct edu_mig *m = from_dev(dev);
	if (!m || !initial_bytes || !dirty_bytes)
		return -EINVAL;
	pthread_mutex_lock(&m->lock);
	*initial_bytes = m->mem_size - m->sent_end;
	*dirty_bytes = m->nr_dirty * EDU_MIG_PAGE;
	pthread_mutex_unlock(&m->lock);
	return 0;
}

static int mig_data_size(struct uvfio_device *dev, uint64_t *stop_copy_bytes)
{
	struct edu_mig *m = from_dev(dev);
	if (!m || !stop_copy_bytes)
		return -EINVAL;
	struct edu_regs regs;
	uint8_t buf[EDU_DMA_BUF_SIZE];
	edu_get_state(&m->edu, &regs, buf);
	uint64_t fixed = EDU_MIG_CONFIG_SIZE + uvfio_pci_state_size(m->pdev) + EDU_MIG_REGS_SIZE +
			 EDU_DMA_BUF_SIZE + EDU_MIG_DIRTIER_STATE_SIZE;
	if (regs.dma_cmd & EDU_DMA_START)
		fixed += EDU_MIG_DMA_SIZE;
	*stop_copy_bytes = fixed + mem_pending_bytes(m);
	return 0;
}

const struct uvfio_migration_ops edu_mig_migration_ops = {
	.flags = UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P | UVFIO_MIGRATION_PRE_COPY,
	.state_version = EDU_MIG_STATE_VERSION,
	.min_state_version = EDU_MIG_STATE_VERSION,
	.step = edu_mig_step,
	.save = mig_save,
	.load = mig_load,
	.stage = mig_stage,
	.precopy_info = mig_precopy_info,
	.data_size = mig_data_size,
};
