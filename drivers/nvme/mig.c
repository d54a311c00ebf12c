/* SPDX-License-Identifier: MIT */
/*
 * Migration of the NVMe controller. Quiescing (entering STOP) pauses the worker: it stops
 * fetching from the submission queues and, since every fetched command runs to completion in
 * the worker's pass, nothing is in flight once the pause returns. The state is the register
 * file, every queue (addresses, heads, tails, phases, pending interrupts), features, pending
 * async events, logs and the doorbell page. A RAM namespace's data moves with pre-copy in
 * 64 KiB chunks: chunks ever written are sent, chunks written again while pre-copy runs are
 * dirty and sent again (bitmaps the write path sets after writing, the saver clears before
 * copying). A file namespace is assumed to be on storage both sides share: no data moves.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

#include <uvfio/migration.h>

#include "nvme.h"
#include "util/log.h"

#define SEC_STATE 1
#define SEC_DATA 2
#define SEC_PCI 3 /* the PCI core's state: config space, MSI-X table and PBA */
#define PRECOPY_BUDGET (8u << 20) /* bytes of namespace data per pre-copy save() */

struct mig_data_hdr {
	uint32_t nsid;
	uint32_t len;
	uint64_t off;
};

/* The whole controller state (version NVMEC_MIG_VERSION). */
struct mig_state {
	uint32_t nr_ioq, nr_ns, lba_shift, page_shift;
	uint64_t ns_size;
	struct nvmec_regs regs;
	uint8_t enabled, fatal, dbbuf, cc_changed;
	uint64_t dbbuf_dbs, dbbuf_eis;
	struct nvmec_sq sq[NVMEC_MAX_IOQ + 1];
	struct nvmec_cq cq[NVMEC_MAX_IOQ + 1];
	struct nvmec_features feat;
	uint64_t timestamp_now_ms; /* the host's timestamp at save time */
	uint64_t powered_ns; /* time since power-on */
	struct nvmec_stats stats;
	uint16_t aer_cids[NVMEC_AERL + 1];
	uint32_t nr_aer;
	uint32_t aen_queue[NVMEC_MAX_AEN_QUEUED];
	uint32_t nr_aen;
	uint8_t aen_masked;
	struct nvme_error_log err_log[NVMEC_ERR_LOG_ENTRIES];
	uint32_t err_log_next;
	uint32_t changed_ns[NVME_CHANGED_NS_ENTRIES];
	uint32_t nr_changed_ns;
	uint32_t db[NVMEC_DB_SIZE / 4];
	uint8_t ns_lba_shift[NVMEC_MAX_NS]; /* as Format NVM left them */
};

static struct nvmec *from_dev(struct uvfio_device *dev)
{
	return nvmec_from_pdev(uvfio_pci_from_device(dev));
}

void nvmec_mark_written(struct nvmec_ns *ns, uint64_t off, uint64_t len)
{
	if (!ns->dirty || !len)
		return;
	uint64_t first = off >> NVMEC_CHUNK_SHIFT, last = (off + len - 1) >> NVMEC_CHUNK_SHIFT;
	for (uint64_t c = first; c <= last && c < ns->nchunks; c++) {
		uint64_t bit = 1ull << (c % 64);
		if (!(__atomic_load_n(&ns->written[c / 64], __ATOMIC_RELAXED) & bit))
			__atomic_fetch_or(&ns->written[c / 64], bit, __ATOMIC_RELAXED);
		if (!(__atomic_load_n(&ns->dirty[c / 64], __ATOMIC_RELAXED) & bit))
			__atomic_fetch_or(&ns->dirty[c / 64], bit, __ATOMIC_RELEASE);
	}
}

int nvmec_mig_init_ns(struct nvmec_ns *ns)
{
	if (!ns->mem)
		return 0; /* file: shared storage, nothing tracked */
	ns->nchunks = (ns->size + NVMEC_CHUNK - 1) >> NVMEC_CHUNK_SHIFT;
	size_t words = (ns->nchunks + 63) / 64;
	ns->written = calloc(words, 8);
	ns->dirty = calloc(words, 8);
	if (!ns->written || !ns->dirty)
		return -ENOMEM;
	return 0;
}

void nvmec_mig_free_ns(struct nvmec_ns *ns)
{
	free(ns->written);
	free(ns->dirty);
	ns->written = ns->dirty = NULL;
}

/* A new saving session sends every chunk ever written, then what is dirtied meanwhile. */
static void session_begin(struct nvmec *n)
{
	for (uint32_t i = 0; i < n->nr_ns; i++) {
		struct nvmec_ns *ns = &n->ns[i];
		for (uint64_t w = 0; ns->dirty && w < (ns->nchunks + 63) / 64; w++)
			__atomic_store_n(&ns->dirty[w],
					 __atomic_load_n(&ns->written[w], __ATOMIC_RELAXED),
					 __ATOMIC_RELEASE);
	}
	n->mig_cursor_ns = 0;
	n->mig_cursor = 0;
	n->mig_initial_done = false;
}

static uint64_t dirty_chunks(struct nvmec *n)
{
	uint64_t c = 0;
	for (uint32_t i = 0; i < n->nr_ns; i++) {
		struct nvmec_ns *ns = &n->ns[i];
		for (uint64_t w = 0; ns->dirty && w < (ns->nchunks + 63) / 64; w++)
			c += (uint64_t)__builtin_popcountll(
				__atomic_load_n(&ns->dirty[w], __ATOMIC_RELAXED));
	}
	return c;
}

/* Send dirty chunks, from the cursor on, up to budget bytes (0: no limit). */
static int save_chunks(struct nvmec *n, struct uvfio_mig_writer *w, uint64_t budget)
{
	uint8_t *buf = malloc(sizeof(struct mig_data_hdr) + NVMEC_CHUNK);
	uint64_t sent = 0;
	int ret = 0;
	if (!buf)
		return -ENOMEM;
	for (uint32_t k = 0; k <= n->nr_ns && ret == 0; k++) {
		uint32_t i = (n->mig_cursor_ns + k) % n->nr_ns;
		struct nvmec_ns *ns = &n->ns[i];
		uint64_t c = k == 0 ? n->mig_cursor : 0;
		for (; ns->dirty && c < ns->nchunks; c++) {
			uint64_t bit = 1ull << (c % 64);
			if (!(__atomic_load_n(&ns->dirty[c / 64], __ATOMIC_ACQUIRE) & bit))
				continue;
			if (budget && sent >= budget) {
				n->mig_cursor_ns = i;
				n->mig_cursor = c;
				free(buf);
				return 0;
			}
			/* Clear first: a write racing with the copy dirties the chunk again. */
			__atomic_fetch_and(&ns->dirty[c / 64], ~bit, __ATOMIC_SEQ_CST);
			uint64_t off = c << NVMEC_CHUNK_SHIFT;
			uint32_t len = (uint32_t)(ns->size - off < NVMEC_CHUNK ? ns->size - off
									: NVMEC_CHUNK);
			struct mig_data_hdr hd = { .nsid = ns->nsid, .len = len, .off = off };
			memcpy(buf, &hd, sizeof(hd));
			memcpy(buf + sizeof(hd), ns->mem + off, len);
			ret = uvfio_mig_writer_section(w, SEC_DATA, buf, sizeof(hd) + len);
			if (ret < 0)
				break;
			sent += len;
		}
	}
	if (ret == 0) {
		/* A whole sweep done: the initial data is out. */
		n->mig_cursor_ns = 0;
		n->mig_cursor = 0;
		n->mig_initial_done = true;
	}
	free(buf);
	return ret;
}

static int save_state(struct nvmec *n, struct uvfio_mig_writer *w)
{
	struct mig_state *s = calloc(1, sizeof(*s));
	if (!s)
		return -ENOMEM;
	uint64_t now = nvmec_now_ns();
	s->nr_ioq = n->nr_ioq;
	s->nr_ns = n->nr_ns;
	s->lba_shift = n->lba_shift;
	s->page_shift = n->page_shift;
	s->ns_size = n->ns_size;
	pthread_mutex_lock(&n->lock);
	s->regs = n->regs;
	s->cc_changed = n->cc_changed;
	pthread_mutex_unlock(&n->lock);
	s->enabled = n->enabled;
	s->fatal = n->fatal;
	s->dbbuf = n->dbbuf;
	s->dbbuf_dbs = n->dbbuf_dbs;
	s->dbbuf_eis = n->dbbuf_eis;
	memcpy(s->sq, n->sq, sizeof(s->sq));
	memcpy(s->cq, n->cq, sizeof(s->cq));
	s->feat = n->feat;
	if (n->feat.timestamp_set)
		s->timestamp_now_ms = n->feat.timestamp_ms +
				      (now - n->feat.timestamp_set_ns) / 1000000;
	s->powered_ns = now - n->power_on_ns;
	s->stats = n->stats;
	memcpy(s->aer_cids, n->aer_cids, sizeof(s->aer_cids));
	s->nr_aer = n->nr_aer;
	memcpy(s->aen_queue, n->aen_queue, sizeof(s->aen_queue));
	s->nr_aen = n->nr_aen;
	s->aen_masked = n->aen_masked;
	memcpy(s->err_log, n->err_log, sizeof(s->err_log));
	s->err_log_next = n->err_log_next;
	memcpy(s->changed_ns, n->changed_ns, sizeof(s->changed_ns));
	s->nr_changed_ns = n->nr_changed_ns;
	for (uint32_t i = 0; i < NVMEC_DB_SIZE / 4; i++)
		s->db[i] = __atomic_load_n(&n->db[i], __ATOMIC_ACQUIRE);
	for (uint32_t i = 0; i < n->nr_ns; i++)
		s->ns_lba_shift[i] = (uint8_t)n->ns[i].lba_shift;
	int ret = uvfio_mig_writer_section(w, SEC_STATE, s, sizeof(*s));
	free(s);
	return ret;
}

static int nvmec_mig_save(struct uvfio_device *dev, struct uvfio_mig_writer *w, bool final)
{
	struct nvmec *n = from_dev(dev);
	if (!n)
		return -EINVAL;
	if (!final)
		return save_chunks(n, w, PRECOPY_BUDGET);
	/* STOP_COPY: the worker is paused, nothing changes any more. */
	int ret = save_chunks(n, w, 0);
	if (ret == 0)
		ret = save_state(n, w);
	if (ret < 0)
		return ret;
	size_t len = uvfio_pci_state_size(n->pdev);
	uint8_t *buf = malloc(len);
	if (!buf)
		return -ENOMEM;
	ssize_t got = uvfio_pci_state_save(n->pdev, buf, len);
	ret = got < 0 ? (int)got : uvfio_mig_writer_section(w, SEC_PCI, buf, (size_t)got);
	free(buf);
	return ret;
}

static int check_state(struct nvmec *n, const struct mig_state *s)
{
	if (s->nr_ioq != n->nr_ioq || s->nr_ns != n->nr_ns || s->lba_shift != n->lba_shift ||
	    s->ns_size != n->ns_size) {
		log_err("nvme %s: migration state for %u queues, %u x %llu-byte namespaces "
			"(LBA 2^%u); this controller has %u, %u x %llu (2^%u)",
			n->name, s->nr_ioq, s->nr_ns, (unsigned long long)s->ns_size,
			s->lba_shift, n->nr_ioq, n->nr_ns, (unsigned long long)n->ns_size,
			n->lba_shift);
		return -EINVAL;
	}
	for (uint32_t q = 0; q <= s->nr_ioq; q++) {
		const struct nvmec_sq *sq = &s->sq[q];
		const struct nvmec_cq *cq = &s->cq[q];
		if (sq->valid && (sq->size < 2 || sq->size > NVMEC_MAX_QES || sq->head >= sq->size ||
				  sq->tail >= sq->size || sq->cqid > s->nr_ioq || sq->qid != q))
			return -EINVAL;
		if (cq->valid && (cq->size < 2 || cq->size > NVMEC_MAX_QES || cq->head >= cq->size ||
				  cq->tail >= cq->size || cq->qid != q || cq->iv > s->nr_ioq))
			return -EINVAL;
	}
	for (uint32_t i = 0; i < s->nr_ns; i++) {
		bool known = false;
		for (uint32_t f = 0; f < NVMEC_NR_LBAF; f++)
			known |= s->ns_lba_shift[i] == nvmec_lbaf_ds(f);
		if (!known)
			return -EINVAL;
	}
	if (s->nr_aer > NVMEC_AERL + 1 || s->nr_aen > NVMEC_MAX_AEN_QUEUED ||
	    s->err_log_next >= NVMEC_ERR_LOG_ENTRIES || s->nr_changed_ns > NVME_CHANGED_NS_ENTRIES ||
	    s->page_shift > 16)
		return -EINVAL;
	return 0;
}

static void apply_state(struct nvmec *n, const struct mig_state *s)
{
	uint64_t now = nvmec_now_ns();
	pthread_mutex_lock(&n->lock);
	/* The paused worker still carries out resets; let it finish one before we overwrite. */
	while (n->gen_done != n->gen && n->worker_started && !n->stopping)
		pthread_cond_wait(&n->cond, &n->lock);
	n->regs = s->regs;
	n->cc_changed = s->cc_changed;
	pthread_mutex_unlock(&n->lock);
	n->page_shift = s->page_shift;
	n->enabled = s->enabled;
	n->fatal = s->fatal;
	n->dbbuf = s->dbbuf;
	n->dbbuf_dbs = s->dbbuf_dbs;
	n->dbbuf_eis = s->dbbuf_eis;
	memcpy(n->sq, s->sq, sizeof(n->sq));
	memcpy(n->cq, s->cq, sizeof(n->cq));
	for (uint32_t q = 0; q <= n->nr_ioq; q++)
		n->cq[q].irq_first_ns = now; /* the source's clock means nothing here */
	n->feat = s->feat;
	n->feat.timestamp_ms = s->timestamp_now_ms;
	n->feat.timestamp_set_ns = now;
	n->power_on_ns = now - s->powered_ns;
	n->stats = s->stats;
	memcpy(n->aer_cids, s->aer_cids, sizeof(n->aer_cids));
	n->nr_aer = s->nr_aer;
	memcpy(n->aen_queue, s->aen_queue, sizeof(n->aen_queue));
	n->nr_aen = s->nr_aen;
	n->aen_masked = s->aen_masked;
	memcpy(n->err_log, s->err_log, sizeof(n->err_log));
	n->err_log_next = s->err_log_next;
	memcpy(n->changed_ns, s->changed_ns, sizeof(n->changed_ns));
	n->nr_changed_ns = s->nr_changed_ns;
	for (uint32_t i = 0; i < NVMEC_DB_SIZE / 4; i++)
		__atomic_store_n(&n->db[i], s->db[i], __ATOMIC_RELEASE);
	for (uint32_t i = 0; i < n->nr_ns; i++) {
		n->ns[i].lba_shift = s->ns_lba_shift[i];
		n->ns[i].nlbas = n->ns[i].size >> s->ns_lba_shift[i];
	}
}

static int nvmec_mig_load(struct uvfio_device *dev, uint32_t version,
			  const struct uvfio_mig_section *sec, size_t nr)
{
	struct nvmec *n = from_dev(dev);
	const struct mig_state *state = NULL;
	const struct uvfio_mig_section *pci = NULL;
	if (!n || version != NVMEC_MIG_VERSION)
		return -EINVAL;
	/* Check everything before changing anything. */
	for (size_t i = 0; i < nr; i++) {
		if (sec[i].id == SEC_STATE) {
			if (sec[i].len != sizeof(struct mig_state) || state)
				return -EINVAL;
			state = sec[i].data;
		} else if (sec[i].id == SEC_DATA) {
			struct mig_data_hdr hd;
			if (sec[i].len < sizeof(hd))
				return -EINVAL;
			memcpy(&hd, sec[i].data, sizeof(hd));
			if (hd.nsid == 0 || hd.nsid > n->nr_ns || !n->ns[hd.nsid - 1].mem ||
			    sec[i].len != sizeof(hd) + hd.len || hd.off > n->ns_size ||
			    hd.len > n->ns_size - hd.off)
				return -EINVAL;
		} else if (sec[i].id == SEC_PCI && !pci) {
			pci = &sec[i];
		} else {
			return -EINVAL;
		}
	}
	if (!state || !pci || uvfio_pci_state_check(n->pdev, pci->data, pci->len) < 0)
		return -EINVAL;
	struct mig_state *s = malloc(sizeof(*s));
	if (!s)
		return -ENOMEM;
	memcpy(s, state, sizeof(*s)); /* section data need not be aligned */
	int ret = check_state(n, s);
	if (ret < 0) {
		free(s);
		return ret;
	}
	/* The namespaces become the source's: what it never wrote is zero. */
	for (uint32_t i = 0; i < n->nr_ns; i++) {
		struct nvmec_ns *ns = &n->ns[i];
		if (!ns->mem)
			continue;
		if (madvise(ns->mem, ns->size, MADV_DONTNEED) < 0)
			memset(ns->mem, 0, ns->size);
		memset(ns->written, 0, (ns->nchunks + 63) / 64 * 8);
		memset(ns->dirty, 0, (ns->nchunks + 63) / 64 * 8);
	}
	for (size_t i = 0; i < nr; i++) {
		if (sec[i].id != SEC_DATA)
			continue;
		struct mig_data_hdr hd;
		memcpy(&hd, sec[i].data, sizeof(hd));
		struct nvmec_ns *ns = &n->ns[hd.nsid - 1];
		memcpy(ns->mem + hd.off, (const uint8_t *)sec[i].data + sizeof(hd), hd.len);
		nvmec_mark_written(ns, hd.off, hd.len);
	}
	apply_state(n, s);
	free(s);
	/* Checked above, so this applies; interrupts it implies wait for a running state. */
	return uvfio_pci_state_load(n->pdev, pci->data, pci->len);
}

/* Pause or run the worker as the state requires; idempotent. */
void nvmec_mig_quiesce(struct nvmec *n, bool quiet)
{
	if (quiet == n->mig_quiesced)
		return;
	n->mig_quiesced = quiet;
	if (quiet)
		nvmec_pause(n);
	else
		nvmec_resume(n);
}

static int nvmec_mig_step(struct uvfio_device *dev, uint32_t from, uint32_t to, bool *broken)
{
	struct nvmec *n = from_dev(dev);
	if (!n)
		return -EINVAL;
	int action = uvfio_mig_arc_session(from, to);
	bool run_from = uvfio_mig_state_may_dma(from), run_to = uvfio_mig_state_may_dma(to);
	if (run_from && !run_to)
		nvmec_mig_quiesce(n, true); /* stops fetching; returns with nothing in flight */
	if (action == UVFIO_MIG_SESSION_OPEN_SAVE)
		session_begin(n);
	if (!run_from && run_to)
		nvmec_mig_quiesce(n, false);
	(void)broken;
	return 0;
}

static int nvmec_mig_precopy_info(struct uvfio_device *dev, uint64_t *initial, uint64_t *dirty)
{
	struct nvmec *n = from_dev(dev);
	if (!n)
		return -EINVAL;
	uint64_t bytes = dirty_chunks(n) * NVMEC_CHUNK;
	*initial = n->mig_initial_done ? 0 : bytes;
	*dirty = n->mig_initial_done ? bytes : 0;
	return 0;
}

static int nvmec_mig_data_size(struct uvfio_device *dev, uint64_t *bytes)
{
	struct nvmec *n = from_dev(dev);
	if (!n)
		return -EINVAL;
	*bytes = dirty_chunks(n) * (NVMEC_CHUNK + sizeof(struct mig_data_hdr)) +
		 sizeof(struct mig_state);
	return 0;
}

static const struct uvfio_migration_ops nvmec_migration_ops = {
	.flags = UVFIO_MIGRATION_STOP_COPY | UVFIO_MIGRATION_P2P | UVFIO_MIGRATION_PRE_COPY,
	.state_version = NVMEC_MIG_VERSION,
	.min_state_version = NVMEC_MIG_VERSION,
	.step = nvmec_mig_step,
	.save = nvmec_mig_save,
	.load = nvmec_mig_load,
	.precopy_info = nvmec_mig_precopy_info,
	.data_size = nvmec_mig_data_size,
};

int nvmec_mig_setup(struct nvmec *n)
{
	const struct uvfio_pci_ident *ident = uvfio_pci_ident(n->pdev);
	n->mig_ident = (struct uvfio_mig_identity){
		.vendor = ident->vendor,
		.device = ident->device,
		.subvendor = ident->subvendor,
		.subdevice = ident->subdevice,
		.driver = "nvme",
		.state_version = NVMEC_MIG_VERSION,
		.min_state_version = NVMEC_MIG_VERSION,
	};
	return uvfio_device_set_migration(uvfio_pci_to_device(n->pdev), &nvmec_migration_ops,
					  &n->mig_ident);
}
