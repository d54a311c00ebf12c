/* SPDX-License-Identifier: MIT */
/* NVMe controller migration: quiescing, stop-copy and pre-copy of a RAM namespace with dirty
 * tracking, queue and event state carried over, incompatible streams refused. */
#include <linux/vfio.h>

#include <uvfio/migration.h>

#include "nvme_fake_host.h"
#include "util/vfio_compat.h"

#define DECL "nvme,size=2M,queues=2"

static int set_state(struct fh *h, uint32_t state)
{
	struct {
		uint32_t state;
		int32_t fd;
	} d = { state, -1 };
	return uvfio_device_feature(h->dev,
				    VFIO_DEVICE_FEATURE_SET | VFIO_DEVICE_FEATURE_MIG_DEVICE_STATE,
				    &d, sizeof(d), NULL, NULL);
}

/* Appends what the saving session has now to *buf. */
static void drain(struct fh *h, uint8_t **buf, size_t *len)
{
	for (;;) {
		*buf = realloc(*buf, *len + 65536);
		assert_non_null(*buf);
		ssize_t r = uvfio_device_mig_data_read(h->dev, *buf + *len, 65536);
		assert_true(r >= 0);
		if (r == 0)
			return;
		*len += (size_t)r;
	}
}

static void pattern(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)(i ^ (i >> 8) ^ seed);
}

static void write_lbas(struct fh *h, uint64_t slba, uint32_t nlb, uint32_t seed)
{
	pattern(h->ram + FH_DATA, nlb * 512u, seed);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_WRITE, 1, slba, nlb, 0, 512), 0);
}

static void check_lbas(struct fh *h, uint64_t slba, uint32_t nlb, uint32_t seed)
{
	uint8_t *want = malloc(nlb * 512u);
	pattern(want, nlb * 512u, seed);
	memset(h->ram + FH_DATA + 0x200000, 0, nlb * 512u);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 1, slba, nlb, 0x200000, 512), 0);
	assert_memory_equal(h->ram + FH_DATA + 0x200000, want, nlb * 512u);
	free(want);
}

/* The destination: the guest's memory and the host driver's view move with the VM. */
static struct fh *destination(struct fh *src, const char *decl)
{
	struct fh *dst = fh_new(decl);
	memcpy(dst->ram, src->ram, FH_RAM);
	memcpy(dst->q, src->q, sizeof(dst->q));
	dst->cid = src->cid;
	return dst;
}

static int resume(struct fh *dst, const uint8_t *stream, size_t len)
{
	assert_int_equal(set_state(dst, UVFIO_MIG_STATE_RESUMING), 0);
	assert_int_equal(uvfio_device_mig_data_write(dst->dev, stream, len), (ssize_t)len);
	return set_state(dst, UVFIO_MIG_STATE_STOP);
}

static void test_stop_copy(void **state)
{
	(void)state;
	struct fh *src = fh_new(DECL);
	fh_enable(src);
	fh_io_queue(src, 1, FH_QSIZE);
	write_lbas(src, 0, 64, 1);
	write_lbas(src, 3000, 16, 2);
	struct nvme_sqe c = { .opcode = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_IRQ_COALESCE,
			      .cdw11 = 0x0203 };
	assert_int_equal(fh_cmd(src, 0, &c), 0);
	struct nvme_sqe aer = { .opcode = NVME_ADM_ASYNC_EVENT };
	uint16_t aer_cid = fh_submit(src, 0, &aer);

	assert_int_equal(set_state(src, UVFIO_MIG_STATE_STOP), 0);
	/* Quiesced: a doorbell that lands in the mapped page now (region writes are refused in
	 * STOP) is not acted on; it moves with the doorbell page. */
	const struct uvfio_region *r = uvfio_device_get_region(src->dev, 0);
	uint8_t *page = mmap(NULL, NVMEC_DB_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, r->mmap_fd,
			     (off_t)(r->mmap_offset + r->sparse[0].offset));
	assert_true(page != MAP_FAILED);
	struct nvme_sqe f = { .opcode = NVME_CMD_FLUSH, .nsid = 1, .cid = ++src->cid };
	uint16_t flush_cid = f.cid;
	struct fh_q *q = &src->q[1];
	memcpy(src->ram + q->sq + q->sq_tail * 64ull, &f, 64);
	q->sq_tail = (q->sq_tail + 1) % q->size;
	__atomic_store_n((uint32_t *)(page + nvme_sq_doorbell(1, 0) - NVME_REG_DBS), q->sq_tail,
			 __ATOMIC_SEQ_CST);
	munmap(page, NVMEC_DB_SIZE);
	assert_int_equal(set_state(src, UVFIO_MIG_STATE_STOP_COPY), 0);
	uint8_t *stream = NULL;
	size_t len = 0;
	drain(src, &stream, &len);
	assert_true(len > 64 * 512);
	struct nvme_cqe e;
	volatile struct nvme_cqe *slot = (void *)(src->ram + src->q[1].cq + src->q[1].cq_head * 16);
	assert_int_not_equal(nvme_cqe_phase(slot), src->q[1].phase); /* not completed on src */

	struct fh *dst = destination(src, DECL);
	assert_int_equal(resume(dst, stream, len), 0);
	assert_int_equal(set_state(dst, UVFIO_MIG_STATE_RUNNING), 0);
	assert_true(fh_rd(dst, NVME_REG_CSTS, 4) & NVME_CSTS_RDY);
	/* The command rung on the source completes here. */
	assert_true(fh_reap(dst, 1, &e));
	assert_int_equal(e.cid, flush_cid);
	check_lbas(dst, 0, 64, 1);
	check_lbas(dst, 3000, 16, 2);
	c = (struct nvme_sqe){ .opcode = NVME_ADM_GET_FEATURES, .cdw10 = NVME_FEAT_IRQ_COALESCE };
	assert_int_equal(fh_cmd(dst, 0, &c), 0);
	assert_int_equal(dst->last.dw0, 0x0203);
	/* The AER outstanding on the source reports an event here. */
	fh_wr(dst, NVME_REG_DBS + 8 * 50, 4, 1);
	assert_true(fh_reap(dst, 0, &e));
	assert_int_equal(e.cid, aer_cid);
	write_lbas(dst, 100, 8, 3);
	check_lbas(dst, 100, 8, 3);
	free(stream);
	fh_free(dst);
	assert_int_equal(set_state(src, UVFIO_MIG_STATE_STOP), 0);
	fh_free(src);
}

/* Format NVM's LBA format is state: it travels (stream version 2), and the data it zeroed reads
 * as zeroes on the destination. */
static void test_format_migrates(void **state)
{
	(void)state;
	struct fh *src = fh_new(DECL);
	fh_enable(src);
	fh_io_queue(src, 1, FH_QSIZE);
	write_lbas(src, 0, 16, 4);
	struct nvme_sqe f = { .opcode = NVME_ADM_FORMAT_NVM, .nsid = 1, .cdw10 = 1 };
	assert_int_equal(fh_cmd(src, 0, &f), 0);
	assert_int_equal(set_state(src, UVFIO_MIG_STATE_STOP), 0);
	assert_int_equal(set_state(src, UVFIO_MIG_STATE_STOP_COPY), 0);
	uint8_t *stream = NULL;
	size_t len = 0;
	drain(src, &stream, &len);
	struct fh *dst = destination(src, DECL);
	assert_int_equal(resume(dst, stream, len), 0);
	assert_int_equal(set_state(dst, UVFIO_MIG_STATE_RUNNING), 0);
	assert_int_equal(fh_identify(dst, NVME_ID_CNS_NS, 1, 0), 0);
	struct nvme_id_ns *ns = (void *)(dst->ram + FH_ADMIN_BUF);
	assert_int_equal(ns->flbas & 0xf, 1);
	assert_int_equal(ns->nsze, (2u << 20) / 4096);
	uint8_t zero[4096] = { 0 };
	memset(dst->ram + FH_DATA, 0xee, 4096);
	assert_int_equal(fh_rw(dst, 1, NVME_CMD_READ, 1, 0, 1, 0, 4096), 0);
	assert_memory_equal(dst->ram + FH_DATA, zero, 4096);
	free(stream);
	fh_free(dst);
	assert_int_equal(set_state(src, UVFIO_MIG_STATE_STOP), 0);
	fh_free(src);
}

static void test_pre_copy_dirty(void **state)
{
	(void)state;
	struct fh *src = fh_new(DECL);
	fh_enable(src);
	fh_io_queue(src, 1, FH_QSIZE);
	for (int i = 0; i < 32; i++)
		write_lbas(src, (uint64_t)i * 128, 128, 10 + i); /* 2 MiB: every chunk */
	assert_int_equal(set_state(src, UVFIO_MIG_STATE_PRE_COPY), 0);
	uint64_t initial = 0, dirty = 0;
	assert_int_equal(uvfio_device_mig_precopy_info(src->dev, &initial, &dirty), 0);
	assert_true(initial >= 2u << 20); /* and the stream's header */
	uint8_t *stream = NULL;
	size_t len = 0;
	drain(src, &stream, &len);
	assert_int_equal(uvfio_device_mig_precopy_info(src->dev, &initial, &dirty), 0);
	assert_int_equal(initial, 0);
	assert_int_equal(dirty, 0);
	/* The guest keeps writing during pre-copy: those chunks are sent again. */
	write_lbas(src, 128, 8, 99);
	write_lbas(src, 4000, 8, 98);
	assert_int_equal(uvfio_device_mig_precopy_info(src->dev, &initial, &dirty), 0);
	assert_int_equal(dirty, 2 * NVMEC_CHUNK);
	drain(src, &stream, &len);
	write_lbas(src, 129, 1, 97); /* dirtied again after the second pass */
	assert_int_equal(set_state(src, UVFIO_MIG_STATE_STOP_COPY), 0);
	drain(src, &stream, &len);

	struct fh *dst = destination(src, DECL);
	/* Stale data on the destination does not survive: the source's namespace replaces it. */
	fh_enable(dst);
	fh_io_queue(dst, 1, FH_QSIZE);
	write_lbas(dst, 4090, 4, 55);
	memcpy(dst->ram, src->ram, FH_RAM);
	memcpy(dst->q, src->q, sizeof(dst->q));
	dst->cid = src->cid;
	assert_int_equal(set_state(dst, UVFIO_MIG_STATE_STOP), 0);
	assert_int_equal(resume(dst, stream, len), 0);
	assert_int_equal(set_state(dst, UVFIO_MIG_STATE_RUNNING), 0);
	check_lbas(dst, 0, 128, 10);
	check_lbas(dst, 128, 1, 99);
	check_lbas(dst, 129, 1, 97);
	check_lbas(dst, 4000, 8, 98);
	check_lbas(dst, 31 * 128, 32, 10 + 31); /* up to LBA 4000, rewritten above */
	free(stream);
	fh_free(dst);
	assert_int_equal(set_state(src, UVFIO_MIG_STATE_STOP), 0);
	fh_free(src);
}

static void test_incompatible_refused(void **state)
{
	(void)state;
	struct fh *src = fh_new(DECL);
	fh_enable(src);
	assert_int_equal(set_state(src, UVFIO_MIG_STATE_STOP_COPY), 0);
	uint8_t *stream = NULL;
	size_t len = 0;
	drain(src, &stream, &len);
	struct fh *dst = fh_new("nvme,size=1M,queues=2"); /* another namespace size */
	assert_int_not_equal(resume(dst, stream, len), 0);
	fh_free(dst);
	dst = fh_new("nvme,size=2M,queues=3"); /* another MSI-X table size */
	assert_int_not_equal(resume(dst, stream, len), 0);
	/* Refused, the destination is usable: reset and run it. */
	assert_int_equal(uvfio_device_reset(dst->dev), 0);
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	assert_int_equal(uvfio_pci_cfg_access(dst->p, PCI_COMMAND, &cmd, 2, true), 2);
	fh_enable(dst);
	assert_int_equal(fh_identify(dst, NVME_ID_CNS_CTRL, 0, 0), 0);
	fh_free(dst);
	/* Corruption is refused by the stream's checks. */
	dst = fh_new(DECL);
	stream[len / 2] ^= 0x40;
	assert_int_not_equal(set_state(dst, UVFIO_MIG_STATE_RESUMING), -1);
	(void)uvfio_device_mig_data_write(dst->dev, stream, len);
	assert_int_not_equal(set_state(dst, UVFIO_MIG_STATE_STOP), 0);
	free(stream);
	fh_free(dst);
	assert_int_equal(set_state(src, UVFIO_MIG_STATE_STOP), 0);
	fh_free(src);
}

static void test_reset_while_stopped_runs_again(void **state)
{
	(void)state;
	struct fh *h = fh_new(DECL);
	fh_enable(h);
	assert_int_equal(set_state(h, UVFIO_MIG_STATE_STOP), 0);
	assert_int_equal(uvfio_device_reset(h->dev), 0);
	assert_int_equal(uvfio_device_mig_state(h->dev), UVFIO_MIG_STATE_RUNNING);
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	assert_int_equal(uvfio_pci_cfg_access(h->p, PCI_COMMAND, &cmd, 2, true), 2);
	int efd[FH_NVEC];
	memcpy(efd, h->efd, sizeof(efd));
	assert_int_equal(uvfio_device_set_irqs(h->dev,
					       UVFIO_IRQ_SET_DATA_EVENTFD |
						       UVFIO_IRQ_SET_ACTION_TRIGGER,
					       UVFIO_PCI_MSIX_IRQ, 0, 3, NULL, efd),
			 0);
	fh_enable(h);
	fh_io_queue(h, 1, 8);
	write_lbas(h, 0, 8, 5);
	check_lbas(h, 0, 8, 5);
	fh_free(h);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_stop_copy),
		cmocka_unit_test(test_format_migrates),
		cmocka_unit_test(test_pre_copy_dirty),
		cmocka_unit_test(test_incompatible_refused),
		cmocka_unit_test(test_reset_while_stopped_runs_again),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
