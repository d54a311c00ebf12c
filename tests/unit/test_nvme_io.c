/* SPDX-License-Identifier: MIT */
/* The NVMe controller's I/O path: PRPs, SGLs, NVM commands, hostile pointers, shadow
 * doorbells, interrupts, doorbells written through the mapped page. */
#include "nvme_fake_host.h"

#define G(sc) ST(NVME_SCT_GENERIC, sc)
#define MEDIA(sc) ST(NVME_SCT_MEDIA, sc)

static int setup(void **state)
{
	struct fh *h = fh_new("nvme,size=4M,queues=4,namespaces=2");
	fh_enable(h);
	fh_io_queue(h, 1, FH_QSIZE);
	*state = h;
	return 0;
}

static int teardown(void **state)
{
	fh_free(*state);
	return 0;
}

static void fill(uint8_t *p, size_t len, uint32_t seed)
{
	for (size_t i = 0; i < len; i++)
		p[i] = (uint8_t)((i * 131 + seed * 7 + (i >> 9)) & 0xff);
}

/* Write len bytes at slba from data offset woff, read them back to roff, compare. */
static void round_trip(struct fh *h, uint32_t nsid, uint64_t slba, uint32_t nlb, uint64_t woff,
		       uint64_t roff, uint32_t seed)
{
	size_t len = (size_t)nlb * 512;
	fill(h->ram + FH_DATA + woff, len, seed);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_WRITE, nsid, slba, nlb, woff, 512), 0);
	memset(h->ram + FH_DATA + roff, 0, len);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, nsid, slba, nlb, roff, 512), 0);
	assert_memory_equal(h->ram + FH_DATA + woff, h->ram + FH_DATA + roff, len);
}

static void test_prp_round_trips(void **state)
{
	struct fh *h = *state;
	round_trip(h, 1, 0, 8, 0, 0x100000, 1); /* PRP1 only */
	round_trip(h, 1, 8, 16, 0, 0x100000, 2); /* PRP1 + PRP2 */
	round_trip(h, 1, 100, 128, 0, 0x100000, 3); /* PRP list */
	round_trip(h, 1, 300, 9, 0x200, 0x100400, 4); /* PRP1 with an offset, then PRP2 */
	round_trip(h, 1, 1000, 256, 0x600, 0x100a00, 5); /* offset + list */
	round_trip(h, 2, 0, 8, 0, 0x100000, 6);
	/* Namespaces are separate: ns 1 LBA 0 still holds seed 1. */
	fill(h->ram + FH_DATA, 4096, 1);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 1, 0, 8, 0x100000, 512), 0);
	assert_memory_equal(h->ram + FH_DATA, h->ram + FH_DATA + 0x100000, 4096);
	/* The largest transfer (MDTS) and the last LBA. */
	uint32_t max = (4096u << NVMEC_MDTS) / 512;
	round_trip(h, 1, 0, max, 0, 0x100000, 7);
	round_trip(h, 1, (4u << 20) / 512 - 1, 1, 0, 0x100000, 8);
}

static void test_prp_list_chain(void **state)
{
	struct fh *h = *state;
	/* A list that starts 16 bytes before a page end: two entries, then a chain pointer. */
	uint64_t *l1 = (uint64_t *)(h->ram + FH_LIST + 0x1000 - 16);
	uint64_t *l2 = (uint64_t *)(h->ram + FH_LIST + 0x3000);
	uint64_t data = FH_IOVA + FH_DATA;
	l1[0] = data + 0x1000;
	l1[1] = FH_IOVA + FH_LIST + 0x3000; /* last entry of the page: the next list */
	l2[0] = data + 0x2000;
	l2[1] = data + 0x3000;
	fill(h->ram + FH_DATA, 0x4000, 9);
	struct nvme_sqe c = { .opcode = NVME_CMD_WRITE, .nsid = 1 };
	c.prp1 = data;
	c.prp2 = FH_IOVA + FH_LIST + 0x1000 - 16;
	c.cdw12 = 32 - 1;
	assert_int_equal(fh_cmd(h, 1, &c), 0);
	memset(h->ram + FH_DATA + 0x100000, 0, 0x4000);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 1, 0, 32, 0x100000, 512), 0);
	assert_memory_equal(h->ram + FH_DATA, h->ram + FH_DATA + 0x100000, 0x4000);
}

static void sgl(struct nvme_sgl_desc *d, uint64_t addr, uint32_t len, uint8_t type)
{
	*d = (struct nvme_sgl_desc){ .addr = addr, .length = len,
				     .type = NVME_SGL_FMT(type, NVME_SGL_SUBTYPE_ADDRESS) };
}

static void test_sgl(void **state)
{
	struct fh *h = *state;
	uint64_t data = FH_IOVA + FH_DATA;
	fill(h->ram + FH_DATA, 0x3000, 11);
	/* One data block in the command. */
	struct nvme_sqe c = { .opcode = NVME_CMD_WRITE, .nsid = 1,
			      .flags = NVME_SQE_SET_PSDT(NVME_PSDT_SGL_MPTR_CONTIG) };
	sgl(&c.sgl, data, 4096, NVME_SGL_TYPE_DATA_BLOCK);
	c.cdw12 = 7;
	assert_int_equal(fh_cmd(h, 1, &c), 0);
	/* Read back through a Segment (two odd-sized blocks + chain) and a Last Segment. */
	struct nvme_sgl_desc *seg1 = (void *)(h->ram + FH_LIST);
	struct nvme_sgl_desc *seg2 = (void *)(h->ram + FH_LIST + 0x800);
	sgl(&seg1[0], data + 0x100001, 1000, NVME_SGL_TYPE_DATA_BLOCK);
	sgl(&seg1[1], data + 0x110000, 1048, NVME_SGL_TYPE_DATA_BLOCK);
	sgl(&seg1[2], FH_IOVA + FH_LIST + 0x800, 16, NVME_SGL_TYPE_LAST_SEGMENT);
	sgl(&seg2[0], data + 0x120000, 2048, NVME_SGL_TYPE_DATA_BLOCK);
	memset(h->ram + FH_DATA + 0x100000, 0, 0x30000);
	c = (struct nvme_sqe){ .opcode = NVME_CMD_READ, .nsid = 1,
			       .flags = NVME_SQE_SET_PSDT(NVME_PSDT_SGL_MPTR_CONTIG) };
	sgl(&c.sgl, FH_IOVA + FH_LIST, 48, NVME_SGL_TYPE_SEGMENT);
	c.cdw12 = 7;
	assert_int_equal(fh_cmd(h, 1, &c), 0);
	assert_memory_equal(h->ram + FH_DATA, h->ram + FH_DATA + 0x100001, 1000);
	assert_memory_equal(h->ram + FH_DATA + 1000, h->ram + FH_DATA + 0x110000, 1048);
	assert_memory_equal(h->ram + FH_DATA + 2048, h->ram + FH_DATA + 0x120000, 2048);
	/* A bit bucket discards part of a read. */
	sgl(&seg1[0], data + 0x130000, 512, NVME_SGL_TYPE_DATA_BLOCK);
	sgl(&seg1[1], 0, 3072, NVME_SGL_TYPE_BIT_BUCKET);
	sgl(&seg1[2], data + 0x131000, 512, NVME_SGL_TYPE_DATA_BLOCK);
	sgl(&c.sgl, FH_IOVA + FH_LIST, 48, NVME_SGL_TYPE_LAST_SEGMENT);
	assert_int_equal(fh_cmd(h, 1, &c), 0);
	assert_memory_equal(h->ram + FH_DATA, h->ram + FH_DATA + 0x130000, 512);
	assert_memory_equal(h->ram + FH_DATA + 3584, h->ram + FH_DATA + 0x131000, 512);

	/* Errors: too short, wrong type, a Segment chaining from a Last Segment, keyed. */
	sgl(&c.sgl, data, 4000, NVME_SGL_TYPE_DATA_BLOCK);
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_SGL_INVALID_DATA_LEN));
	sgl(&c.sgl, data, 4096, NVME_SGL_TYPE_KEYED_DATA_BLOCK);
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_SGL_INVALID_TYPE));
	sgl(&seg1[2], FH_IOVA + FH_LIST + 0x800, 16, NVME_SGL_TYPE_SEGMENT);
	sgl(&c.sgl, FH_IOVA + FH_LIST, 48, NVME_SGL_TYPE_LAST_SEGMENT);
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_SGL_INVALID_LAST));
	sgl(&c.sgl, FH_IOVA + FH_LIST, 20, NVME_SGL_TYPE_SEGMENT);
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_SGL_INVALID_LAST));
	/* A segment that points at itself ends with a count error, not a hang. */
	sgl(&seg1[0], FH_IOVA + FH_LIST, 16, NVME_SGL_TYPE_SEGMENT);
	sgl(&c.sgl, FH_IOVA + FH_LIST, 16, NVME_SGL_TYPE_SEGMENT);
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_SGL_INVALID_COUNT));
	/* Bit buckets are for reads only. */
	c.opcode = NVME_CMD_WRITE;
	sgl(&seg1[0], data, 512, NVME_SGL_TYPE_DATA_BLOCK);
	sgl(&seg1[1], 0, 3584, NVME_SGL_TYPE_BIT_BUCKET);
	sgl(&c.sgl, FH_IOVA + FH_LIST, 32, NVME_SGL_TYPE_LAST_SEGMENT);
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_SGL_INVALID_TYPE));
}

static void test_hostile_pointers(void **state)
{
	struct fh *h = *state;
	struct nvme_sqe c = { .opcode = NVME_CMD_READ, .nsid = 1, .cdw12 = 7 };
	c.prp1 = 0x10000000; /* not mapped */
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_DATA_TRANSFER_ERROR));
	c = (struct nvme_sqe){ .opcode = NVME_CMD_WRITE, .nsid = 1, .cdw12 = 63 };
	c.prp1 = FH_IOVA + FH_DATA;
	c.prp2 = 0xdead0000; /* list pointer outside the windows */
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_DATA_TRANSFER_ERROR));
	uint64_t *list = (uint64_t *)(h->ram + FH_LIST);
	list[0] = FH_IOVA + FH_DATA + 0x1000;
	list[1] = FH_IOVA + FH_RAM - 0x1000 + 0x2000; /* runs off the end of the window */
	c.prp2 = FH_IOVA + FH_LIST;
	c.cdw12 = 23;
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_DATA_TRANSFER_ERROR));
	list[1] = FH_IOVA + FH_DATA + 0x2004; /* not page aligned */
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_PRP_INVALID_OFFSET));
	c.prp2 = FH_IOVA + FH_DATA + 0x1010; /* two pages: PRP2 must be page aligned */
	c.cdw12 = 15;
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_PRP_INVALID_OFFSET));
	c.prp1 = FH_IOVA + FH_DATA + 2; /* PRP1 must be dword aligned */
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_PRP_INVALID_OFFSET));
	/* LBAs past the namespace. */
	uint64_t nlbas = (4u << 20) / 512;
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 1, nlbas, 1, 0, 512), G(NVME_SC_LBA_RANGE));
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 1, nlbas - 1, 2, 0, 512),
			 G(NVME_SC_LBA_RANGE));
	assert_int_equal(fh_rw(h, 1, NVME_CMD_WRITE, 1, ~0ull, 1, 0, 512), G(NVME_SC_LBA_RANGE));
	assert_true(h->last.status & (NVME_STATUS_DNR << 1));
	/* More than MDTS. */
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 1, 0, (4096u << NVMEC_MDTS) / 512 + 1, 0, 512),
			 G(NVME_SC_INVALID_FIELD));
	/* Bad namespace, opcode, reserved bits, PSDT. */
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 3, 0, 1, 0, 512), G(NVME_SC_INVALID_NS));
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 0, 0, 1, 0, 512), G(NVME_SC_INVALID_NS));
	c = (struct nvme_sqe){ .opcode = 0x7e, .nsid = 1 };
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_INVALID_OPCODE));
	c = (struct nvme_sqe){ .opcode = NVME_CMD_READ, .nsid = 1, .flags = 0x04 };
	c.prp1 = FH_IOVA + FH_DATA;
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_INVALID_FIELD));
	c = (struct nvme_sqe){ .opcode = NVME_CMD_READ, .nsid = 1, .flags = 0xc0 };
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_INVALID_FIELD));
	c = (struct nvme_sqe){ .opcode = NVME_CMD_READ, .nsid = 1, .cdw12 = 1u << 26 };
	c.prp1 = FH_IOVA + FH_DATA;
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_INVALID_FIELD));
	/* After all that, the queue and the data still work. */
	round_trip(h, 1, 5, 8, 0, 0x100000, 12);
}

static void test_nvm_commands(void **state)
{
	struct fh *h = *state;
	round_trip(h, 1, 0, 64, 0, 0x100000, 13);
	/* Compare: equal, then different. */
	assert_int_equal(fh_rw(h, 1, NVME_CMD_COMPARE, 1, 0, 64, 0, 512), 0);
	h->ram[FH_DATA + 100] ^= 1;
	assert_int_equal(fh_rw(h, 1, NVME_CMD_COMPARE, 1, 0, 64, 0, 512),
			 MEDIA(NVME_SC_COMPARE_FAILED));
	/* Write Zeroes. */
	struct nvme_sqe c = { .opcode = NVME_CMD_WRITE_ZEROES, .nsid = 1, .cdw10 = 8, .cdw12 = 7 };
	assert_int_equal(fh_cmd(h, 1, &c), 0);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 1, 0, 64, 0x100000, 512), 0);
	static const uint8_t zero[4096];
	assert_memory_equal(h->ram + FH_DATA + 0x100000 + 4096, zero, 4096);
	assert_memory_not_equal(h->ram + FH_DATA + 0x100000, zero, 4096);
	c.cdw10 = (4u << 20) / 512 - 4;
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_LBA_RANGE));
	/* Dataset Management deallocate: two ranges read back as zeroes. */
	round_trip(h, 1, 2048, 256, 0, 0x100000, 14);
	struct nvme_dsm_range *r = (void *)(h->ram + FH_LIST);
	r[0] = (struct nvme_dsm_range){ .slba = 2048, .nlb = 128 };
	r[1] = (struct nvme_dsm_range){ .slba = 2048 + 200, .nlb = 56 };
	c = (struct nvme_sqe){ .opcode = NVME_CMD_DSM, .nsid = 1, .cdw10 = 1,
			       .cdw11 = NVME_DSM_AD };
	c.prp1 = FH_IOVA + FH_LIST;
	assert_int_equal(fh_cmd(h, 1, &c), 0);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 1, 2048, 256, 0x100000, 512), 0);
	for (int i = 0; i < 128 * 512; i += 4096)
		assert_memory_equal(h->ram + FH_DATA + 0x100000 + i, zero, 4096);
	assert_memory_equal(h->ram + FH_DATA + 128 * 512, h->ram + FH_DATA + 0x100000 + 128 * 512,
			    72 * 512);
	assert_memory_equal(h->ram + FH_DATA + 0x100000 + 200 * 512, zero, 4096);
	r[1].slba = (4u << 20) / 512; /* past the end: nothing deallocated */
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_LBA_RANGE));
	/* Flush, one namespace and all. */
	c = (struct nvme_sqe){ .opcode = NVME_CMD_FLUSH, .nsid = 1 };
	assert_int_equal(fh_cmd(h, 1, &c), 0);
	c.nsid = NVME_NSID_ALL;
	assert_int_equal(fh_cmd(h, 1, &c), 0);
	c.nsid = 9;
	assert_int_equal(fh_cmd(h, 1, &c), G(NVME_SC_INVALID_NS));
}

static void test_phase_wrap_and_vectors(void **state)
{
	struct fh *h = *state;
	/* A 4-entry queue pair on vector 3: 20 commands wrap it five times. */
	assert_int_equal(fh_create_cq(h, 2, 4, 3, NVME_CQ_FLAGS_PC | NVME_CQ_FLAGS_IEN), 0);
	assert_int_equal(fh_create_sq(h, 2, 4, 2, NVME_SQ_FLAGS_PC), 0);
	uint64_t v;
	while (read(h->efd[3], &v, 8) == 8)
		;
	for (int i = 0; i < 20; i++) {
		struct nvme_sqe c = { .opcode = NVME_CMD_FLUSH, .nsid = 1 };
		assert_int_equal(fh_cmd(h, 2, &c), 0);
		assert_int_equal(h->last.sqhd, (i + 1) % 4);
	}
	assert_false(h->q[2].phase); /* 20 / 4 wraps: odd number of flips */
	/* The completions signalled vector 3 (fh_reap drained it; one more command signals). */
	struct nvme_sqe c = { .opcode = NVME_CMD_FLUSH, .nsid = 1 };
	fh_submit(h, 2, &c);
	struct pollfd pfd = { .fd = h->efd[3], .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	struct nvme_cqe e;
	assert_true(fh_reap(h, 2, &e));
	/* Several commands in one doorbell, queue full handling: 3 in flight on 4 entries. */
	for (int i = 0; i < 3; i++) {
		struct nvme_sqe f = { .opcode = NVME_CMD_FLUSH, .nsid = 1 };
		fh_submit(h, 2, &f);
	}
	for (int i = 0; i < 3; i++)
		assert_true(fh_reap(h, 2, &e));
}

static void test_shadow_doorbells(void **state)
{
	struct fh *h = *state;
	memset(h->ram + FH_DBBUF, 0, 0x2000);
	struct nvme_sqe c = { .opcode = NVME_ADM_DBBUF_CONFIG };
	c.prp1 = FH_IOVA + FH_DBBUF + 1;
	c.prp2 = FH_IOVA + FH_DBBUF + 0x1000;
	assert_int_equal(fh_cmd(h, 0, &c), G(NVME_SC_INVALID_FIELD));
	c.prp1 = FH_IOVA + FH_DBBUF;
	c.prp2 = 0x40000000;
	assert_int_equal(fh_cmd(h, 0, &c), G(NVME_SC_DATA_TRANSFER_ERROR));
	c.prp2 = FH_IOVA + FH_DBBUF + 0x1000;
	assert_int_equal(fh_cmd(h, 0, &c), 0);
	h->q[1].shadow = true;
	uint32_t *ei = (uint32_t *)(h->ram + FH_DBBUF + 0x1000);
	for (int i = 0; i < 40; i++)
		round_trip(h, 1, (uint64_t)i * 8, 8, 0, 0x100000, 20 + i);
	/* The controller published how far it got in the EventIdx buffer: tail - 1 while it
	 * busy-polls (the host need not kick), tail once it goes to sleep (kick me). */
	uint32_t want = h->q[1].sq_tail, seen = 0;
	for (int i = 0; i < 5000; i++) {
		seen = __atomic_load_n(&ei[nvme_db_index(1, false)], __ATOMIC_ACQUIRE);
		assert_true(seen == want || seen == (uint16_t)(want - 1));
		if (seen == want)
			break;
		usleep(1000);
	}
	assert_int_equal(seen, want);
	/* With shadow doorbells the MMIO value is not what counts: ring a stale value. */
	struct nvme_sqe f = { .opcode = NVME_CMD_FLUSH, .nsid = 1 };
	f.cid = ++h->cid;
	struct fh_q *q = &h->q[1];
	memcpy(h->ram + q->sq + q->sq_tail * 64ull, &f, 64);
	q->sq_tail = (q->sq_tail + 1) % q->size;
	uint32_t *sdb = (uint32_t *)(h->ram + FH_DBBUF);
	__atomic_store_n(&sdb[nvme_db_index(1, false)], q->sq_tail, __ATOMIC_SEQ_CST);
	fh_db(h, 1, false, 0); /* a kick; the value comes from the shadow buffer */
	struct nvme_cqe e;
	assert_true(fh_reap(h, 1, &e));
	assert_int_equal(e.cid, f.cid);
}

static void test_mapped_doorbell_and_ioeventfd(void **state)
{
	struct fh *h = *state;
	/* The client's view: mmap the doorbell page, write the tail, signal its ioeventfd. */
	const struct uvfio_region *r = uvfio_device_get_region(h->dev, 0);
	uint8_t *page = mmap(NULL, r->sparse[0].size, PROT_READ | PROT_WRITE, MAP_SHARED,
			     r->mmap_fd, (off_t)(r->mmap_offset + r->sparse[0].offset));
	assert_true(page != MAP_FAILED);
	struct uvfio_ioeventfd e[16];
	int n = uvfio_device_get_ioeventfds(h->dev, 0, e, 16);
	assert_true(n >= 4);
	struct fh_q *q = &h->q[1];
	struct nvme_sqe f = { .opcode = NVME_CMD_FLUSH, .nsid = 1 };
	f.cid = ++h->cid;
	memcpy(h->ram + q->sq + q->sq_tail * 64ull, &f, 64);
	q->sq_tail = (q->sq_tail + 1) % q->size;
	uint32_t off = nvme_sq_doorbell(1, 0) - NVME_REG_DBS;
	__atomic_store_n((uint32_t *)(page + off), q->sq_tail, __ATOMIC_RELEASE);
	int efd = -1;
	for (int i = 0; i < n; i++)
		if (e[i].offset == nvme_sq_doorbell(1, 0))
			efd = e[i].fd;
	assert_true(efd >= 0);
	uint64_t one = 1;
	assert_int_equal(write(efd, &one, 8), 8);
	volatile struct nvme_cqe *ce = (void *)(h->ram + q->cq + q->cq_head * 16ull);
	struct pollfd pfd = { .fd = h->efd[q->iv], .events = POLLIN };
	uint64_t deadline = fh_now_ms() + 10000;
	while (nvme_cqe_phase(ce) != q->phase && fh_now_ms() < deadline)
		(void)poll(&pfd, 1, 50);
	assert_int_equal(ce->cid, f.cid);
	if (++q->cq_head == q->size) {
		q->cq_head = 0;
		q->phase = !q->phase;
	}
	__atomic_store_n((uint32_t *)(page + nvme_cq_doorbell(1, 0) - NVME_REG_DBS), q->cq_head,
			 __ATOMIC_RELEASE);
	munmap(page, r->sparse[0].size);
	round_trip(h, 1, 0, 8, 0, 0x100000, 30);
}

static void test_coalescing(void **state)
{
	struct fh *h = *state;
	struct nvme_sqe c = { .opcode = NVME_ADM_SET_FEATURES, .cdw10 = NVME_FEAT_IRQ_COALESCE,
			      .cdw11 = 0x0107 };
	assert_int_equal(fh_cmd(h, 0, &c), 0);
	/* Coalescing delays interrupts but never loses completions. */
	for (int i = 0; i < 16; i++) {
		struct nvme_sqe f = { .opcode = NVME_CMD_FLUSH, .nsid = 1 };
		fh_submit(h, 1, &f);
	}
	struct nvme_cqe e;
	for (int i = 0; i < 16; i++)
		assert_true(fh_reap(h, 1, &e));
}

/* Three queue pairs with commands outstanding on each at once: all complete, each on its own
 * queue and vector. */
static void test_many_queues(void **state)
{
	struct fh *h = *state;
	fh_io_queue(h, 2, 8);
	fh_io_queue(h, 3, 16);
	for (int round = 0; round < 4; round++) {
		for (uint16_t q = 1; q <= 3; q++) {
			for (int i = 0; i < 6; i++) {
				struct fh_q *fq = &h->q[q];
				struct nvme_sqe c = { .opcode = NVME_CMD_WRITE, .nsid = 1, .cdw12 = 0 };
				c.prp1 = FH_IOVA + FH_DATA + (q * 8 + i) * 512ull;
				c.cdw10 = (uint32_t)(q * 64 + i);
				c.cid = ++h->cid;
				memcpy(h->ram + fq->sq + fq->sq_tail * 64ull, &c, 64);
				fq->sq_tail = (fq->sq_tail + 1) % fq->size;
			}
		}
		for (uint16_t q = 1; q <= 3; q++)
			fh_db(h, q, false, h->q[q].sq_tail);
		for (uint16_t q = 1; q <= 3; q++) {
			for (int i = 0; i < 6; i++) {
				struct nvme_cqe e;
				assert_true(fh_reap(h, q, &e));
				assert_int_equal(e.sqid, q);
				assert_int_equal(nvme_cqe_status(&e), 0);
			}
		}
	}
	fill(h->ram + FH_DATA, 32 * 512, 70);
	for (uint16_t q = 1; q <= 3; q++)
		assert_int_equal(fh_rw(h, q, NVME_CMD_WRITE, 1, q * 64, 1, q * 512, 512), 0);
	for (uint16_t q = 1; q <= 3; q++) {
		assert_int_equal(fh_rw(h, 4 - q, NVME_CMD_READ, 1, q * 64, 1, 0x100000, 512), 0);
		assert_memory_equal(h->ram + FH_DATA + q * 512, h->ram + FH_DATA + 0x100000, 512);
	}
}

/* A vector masked at the vfio level holds its interrupt; unmasking delivers it. */
static void test_vector_masking(void **state)
{
	struct fh *h = *state;
	uint64_t v;
	assert_int_equal(uvfio_device_set_irqs(h->dev,
					       UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_MASK,
					       UVFIO_PCI_MSIX_IRQ, 1, 1, NULL, NULL),
			 0);
	while (read(h->efd[1], &v, 8) == 8)
		;
	struct nvme_sqe c = { .opcode = NVME_CMD_FLUSH, .nsid = 1 };
	assert_int_equal(fh_cmd(h, 1, &c), 0);
	/* The worker signals a pass's completions before it runs the next command: once the
	 * second completes, the first one's interrupt has been raised (into the mask). */
	c = (struct nvme_sqe){ .opcode = NVME_CMD_FLUSH, .nsid = 1 };
	fh_submit(h, 1, &c);
	struct fh_q *q = &h->q[1];
	volatile struct nvme_cqe *e = (void *)(h->ram + q->cq + q->cq_head * 16ull);
	uint64_t deadline = fh_now_ms() + 10000;
	while (nvme_cqe_phase(e) != q->phase)
		assert_true(fh_now_ms() < deadline);
	assert_int_equal(read(h->efd[1], &v, 8), -1); /* held back */
	assert_int_equal(uvfio_device_set_irqs(h->dev,
					       UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_UNMASK,
					       UVFIO_PCI_MSIX_IRQ, 1, 1, NULL, NULL),
			 0);
	struct pollfd pfd = { .fd = h->efd[1], .events = POLLIN };
	assert_int_equal(poll(&pfd, 1, 10000), 1);
	struct nvme_cqe done;
	assert_true(fh_reap(h, 1, &done));
}

/* An I/O queue whose ring the host never mapped stops alone; the others keep going. */
static void test_unmapped_queue_ring(void **state)
{
	struct fh *h = *state;
	struct nvme_sqe c = { .opcode = NVME_ADM_CREATE_CQ, .prp1 = 0x40000000,
			      .cdw10 = (7u << 16) | 2,
			      .cdw11 = (2u << 16) | NVME_CQ_FLAGS_PC | NVME_CQ_FLAGS_IEN };
	assert_int_equal(fh_cmd(h, 0, &c), 0);
	c = (struct nvme_sqe){ .opcode = NVME_ADM_CREATE_SQ, .prp1 = 0x40010000,
			       .cdw10 = (7u << 16) | 2, .cdw11 = (2u << 16) | NVME_SQ_FLAGS_PC };
	assert_int_equal(fh_cmd(h, 0, &c), 0);
	fh_db(h, 2, false, 3); /* three commands in a ring nobody can read */
	round_trip(h, 1, 0, 8, 0, 0x100000, 80);
	/* A readable SQ completing into an unmapped CQ. */
	c = (struct nvme_sqe){ .opcode = NVME_ADM_CREATE_CQ, .prp1 = 0x40020000,
			       .cdw10 = (7u << 16) | 3,
			       .cdw11 = (3u << 16) | NVME_CQ_FLAGS_PC | NVME_CQ_FLAGS_IEN };
	assert_int_equal(fh_cmd(h, 0, &c), 0);
	assert_int_equal(fh_create_sq(h, 3, 8, 3, NVME_SQ_FLAGS_PC), 0);
	struct nvme_sqe f = { .opcode = NVME_CMD_FLUSH, .nsid = 1, .cid = ++h->cid };
	memcpy(h->ram + h->q[3].sq, &f, 64);
	fh_db(h, 3, false, 1);
	round_trip(h, 1, 8, 8, 0, 0x100000, 81);
	assert_false(fh_rd(h, NVME_REG_CSTS, 4) & NVME_CSTS_CFS);
	/* Deleting the broken queues works and their IDs can be used again. */
	struct nvme_sqe d = { .opcode = NVME_ADM_DELETE_SQ, .cdw10 = 2 };
	assert_int_equal(fh_cmd(h, 0, &d), 0);
	d = (struct nvme_sqe){ .opcode = NVME_ADM_DELETE_CQ, .cdw10 = 2 };
	assert_int_equal(fh_cmd(h, 0, &d), 0);
	fh_io_queue(h, 2, 8);
	round_trip(h, 1, 16, 8, 0, 0x100000, 82);
	struct nvme_sqe fl = { .opcode = NVME_CMD_FLUSH, .nsid = 1 };
	assert_int_equal(fh_cmd(h, 2, &fl), 0);
}

static void test_lba4096(void **state)
{
	(void)state;
	struct fh *h = fh_new("nvme,size=1M,lba=4096,queues=2");
	fh_enable(h);
	fh_io_queue(h, 1, 8);
	assert_int_equal(fh_identify(h, NVME_ID_CNS_NS, 1, 0), 0);
	struct nvme_id_ns *ns = (void *)(h->ram + FH_ADMIN_BUF);
	assert_int_equal(ns->nsze, 256);
	assert_int_equal(ns->lbaf[ns->flbas & 0xf].ds, 12);
	fill(h->ram + FH_DATA, 3 * 4096, 40);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_WRITE, 1, 255, 1, 0, 4096), 0);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_WRITE, 1, 10, 3, 0, 4096), 0);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 1, 10, 3, 0x100000, 4096), 0);
	assert_memory_equal(h->ram + FH_DATA, h->ram + FH_DATA + 0x100000, 3 * 4096);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 1, 255, 2, 0x100000, 4096),
			 G(NVME_SC_LBA_RANGE));
	fh_free(h);
}

static void test_file_backend(void **state)
{
	(void)state;
	char path[] = "/tmp/uvfio-nvme-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char decl[128];
	snprintf(decl, sizeof(decl), "nvme,file=%s,size=2M,queues=1", path);
	struct fh *h = fh_new(decl);
	fh_enable(h);
	fh_io_queue(h, 1, 8);
	fill(h->ram + FH_DATA, 8192, 50);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_WRITE, 1, 100, 16, 0, 512), 0);
	struct nvme_sqe c = { .opcode = NVME_CMD_FLUSH, .nsid = 1 };
	assert_int_equal(fh_cmd(h, 1, &c), 0);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 1, 100, 16, 0x100000, 512), 0);
	assert_memory_equal(h->ram + FH_DATA, h->ram + FH_DATA + 0x100000, 8192);
	fh_free(h);
	/* The data is in the file, at the LBA's offset. */
	uint8_t buf[8192], want[8192];
	fill(want, sizeof(want), 50);
	fd = open(path, O_RDONLY);
	assert_int_equal(pread(fd, buf, sizeof(buf), 100 * 512), (ssize_t)sizeof(buf));
	assert_memory_equal(buf, want, sizeof(buf));
	close(fd);
	unlink(path);
}

/* Many commands in flight on io_uring at once, Flush behind them, a reset in the middle. */
static void file_async(const char *opts, bool want_aio)
{
	char path[] = "/tmp/uvfio-nvme-XXXXXX";
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	close(fd);
	char decl[160];
	snprintf(decl, sizeof(decl), "nvme,file=%s,size=4M,queues=2%s", path, opts);
	struct fh *h = fh_new(decl);
	assert_int_equal(h->n->aio != NULL, want_aio);
	fh_enable(h);
	fh_io_queue(h, 1, FH_QSIZE);
	/* 24 writes of 16 KiB from distinct buffers, rung with one doorbell. */
	struct fh_q *q = &h->q[1];
	fill(h->ram + FH_DATA, 24 * 16384, 60);
	for (int i = 0; i < 24; i++) {
		struct nvme_sqe c = { .opcode = NVME_CMD_WRITE, .nsid = 1, .cdw12 = 31 };
		uint64_t *list = (uint64_t *)(h->ram + FH_LIST + i * 64);
		uint64_t base = FH_IOVA + FH_DATA + i * 16384ull;
		for (int k = 0; k < 3; k++)
			list[k] = base + 4096 * (k + 1);
		c.prp1 = base;
		c.prp2 = FH_IOVA + FH_LIST + i * 64;
		c.cdw10 = (uint32_t)(i * 32);
		c.cid = ++h->cid;
		memcpy(h->ram + q->sq + q->sq_tail * 64ull, &c, 64);
		q->sq_tail = (q->sq_tail + 1) % q->size;
	}
	fh_db(h, 1, false, q->sq_tail);
	struct nvme_cqe e;
	for (int i = 0; i < 24; i++) {
		assert_true(fh_reap(h, 1, &e));
		assert_int_equal(nvme_cqe_status(&e), 0);
	}
	struct nvme_sqe f = { .opcode = NVME_CMD_FLUSH, .nsid = 1 };
	assert_int_equal(fh_cmd(h, 1, &f), 0);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 1, 0, 24 * 32, 0x200000, 512), 0);
	assert_memory_equal(h->ram + FH_DATA, h->ram + FH_DATA + 0x200000, 24 * 16384);
	/* A reset with writes in flight: the controller comes back and keeps serving. */
	for (int i = 0; i < 8; i++) {
		struct nvme_sqe c = { .opcode = NVME_CMD_WRITE, .nsid = 1, .cdw12 = 7 };
		c.prp1 = FH_IOVA + FH_DATA;
		c.cdw10 = (uint32_t)(2000 + i * 8);
		c.cid = ++h->cid;
		memcpy(h->ram + q->sq + q->sq_tail * 64ull, &c, 64);
		q->sq_tail = (q->sq_tail + 1) % q->size;
	}
	fh_db(h, 1, false, q->sq_tail);
	fh_wr(h, NVME_REG_CC, 4, 0);
	assert_true(fh_wait_csts(h, NVME_CSTS_RDY, 0));
	fh_enable(h);
	fh_io_queue(h, 1, FH_QSIZE);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_WRITE, 1, 100, 8, 0, 512), 0);
	assert_int_equal(fh_rw(h, 1, NVME_CMD_READ, 1, 100, 8, 0x200000, 512), 0);
	assert_memory_equal(h->ram + FH_DATA, h->ram + FH_DATA + 0x200000, 4096);
	fh_free(h);
	unlink(path);
}

static void test_file_async_io(void **state)
{
	(void)state;
	file_async("", true);
}

static void test_file_sync_io(void **state)
{
	(void)state;
	file_async(",aio=off", false);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_prp_round_trips, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prp_list_chain, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sgl, setup, teardown),
		cmocka_unit_test_setup_teardown(test_hostile_pointers, setup, teardown),
		cmocka_unit_test_setup_teardown(test_nvm_commands, setup, teardown),
		cmocka_unit_test_setup_teardown(test_phase_wrap_and_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_shadow_doorbells, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mapped_doorbell_and_ioeventfd, setup, teardown),
		cmocka_unit_test_setup_teardown(test_coalescing, setup, teardown),
		cmocka_unit_test_setup_teardown(test_many_queues, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vector_masking, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmapped_queue_ring, setup, teardown),
		cmocka_unit_test(test_lba4096),
		cmocka_unit_test(test_file_backend),
		cmocka_unit_test(test_file_async_io),
		cmocka_unit_test(test_file_sync_io),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
