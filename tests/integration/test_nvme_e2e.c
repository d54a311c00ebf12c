/* SPDX-License-Identifier: MIT */
/*
 * uvfio serve --device nvme, driven through the client API over a real socket: admin queue
 * setup, identify, I/O queues, read/write round trips with PRP lists (through shared memory and
 * through DMA messages), a bad PRP answered with Data Transfer Error while the server keeps
 * serving, and GET_REGION_IO_FDS on the wire.
 */
#include <errno.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <uvfio/client.h>

#include "harness.h"
#include "nvme/nvme_spec.h"
#include "vfio-user/wire.h"

#define RAM_IOVA 0x100000ull
#define RAM_SIZE (8ull << 20)
#define ANON_IOVA 0x40000000ull
#define ANON_SIZE (256u << 10)
#define QS 16
#define ASQ 0x0
#define ACQ 0x1000
#define IOSQ 0x2000
#define IOCQ 0x3000
#define LIST 0x4000
#define ADMIN_BUF 0x8000
#define DATA 0x100000

struct q {
	uint64_t sq, cq;
	uint32_t tail, head;
	bool phase;
	int vec;
};

struct fx {
	struct h_server srv;
	struct uvfio_handle *h;
	struct uvfio_ioas *ioas;
	uint8_t *ram;
	uint8_t *anon;
	int efd[3];
	struct q q[2];
	uint16_t cid;
	struct nvme_cqe last;
};

static void wr(struct fx *f, uint64_t off, uint64_t v, size_t size)
{
	assert_int_equal(uvfio_region_write(f->h, 0, off, &v, size), (ssize_t)size);
}

static uint64_t rd(struct fx *f, uint64_t off, size_t size)
{
	uint64_t v = 0;
	assert_int_equal(uvfio_region_read(f->h, 0, off, &v, size), (ssize_t)size);
	return v;
}

static uint64_t now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static int setup(void **state)
{
	static struct fx f;
	memset(&f, 0, sizeof(f));
	const char *const args[] = { "--device", "nvme,size=4M,queues=2", "--socket", "@SOCK@",
				     NULL };
	if (h_server_start_cli(&f.srv, args) != 0 || h_open(f.srv.sock_path, &f.h) != 0)
		return -1;
	void *mem = NULL;
	if (uvfio_ioas_new(&f.ioas) ||
	    uvfio_ioas_map_alloc(f.ioas, RAM_IOVA, RAM_SIZE, UVFIO_IOAS_READ | UVFIO_IOAS_WRITE,
				 &mem))
		return -1;
	f.ram = mem;
	/* Memory without an fd: the server reaches it by DMA messages. */
	f.anon = aligned_alloc(4096, ANON_SIZE);
	if (!f.anon || uvfio_ioas_map(f.ioas, ANON_IOVA, ANON_SIZE,
				      UVFIO_IOAS_READ | UVFIO_IOAS_WRITE, -1, 0, f.anon) ||
	    uvfio_ioas_attach(f.ioas, f.h))
		return -1;
	uint16_t cmd = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER;
	if (uvfio_config_write(f.h, PCI_COMMAND, &cmd, 2))
		return -1;
	for (int i = 0; i < 3; i++)
		f.efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (uvfio_irq_enable(f.h, 2 /* MSI-X */, 0, 3, f.efd))
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fx *f = *state;
	uvfio_ioas_free(f->ioas);
	uvfio_close(f->h);
	free(f->anon);
	for (int i = 0; i < 3; i++)
		close(f->efd[i]);
	return h_server_stop(&f->srv) == 0 ? 0 : -1;
}

static uint16_t submit(struct fx *f, int qid, struct nvme_sqe *c)
{
	struct q *q = &f->q[qid];
	c->cid = ++f->cid;
	memcpy(f->ram + q->sq + q->tail * 64ull, c, 64);
	q->tail = (q->tail + 1) % QS;
	wr(f, nvme_sq_doorbell(qid, 0), q->tail, 4);
	return c->cid;
}

static uint16_t cmd(struct fx *f, int qid, struct nvme_sqe *c)
{
	struct q *q = &f->q[qid];
	uint16_t cid = submit(f, qid, c);
	volatile struct nvme_cqe *e = (void *)(f->ram + q->cq + q->head * 16ull);
	uint64_t deadline = now_ms() + 10000;
	while (nvme_cqe_phase(e) != q->phase) {
		assert_true(now_ms() < deadline);
		struct pollfd pfd = { .fd = f->efd[q->vec], .events = POLLIN };
		if (poll(&pfd, 1, 50) > 0) {
			uint64_t v;
			(void)!read(pfd.fd, &v, 8);
		}
	}
	memcpy(&f->last, (const void *)e, 16);
	if (++q->head == QS) {
		q->head = 0;
		q->phase = !q->phase;
	}
	wr(f, nvme_cq_doorbell(qid, 0), q->head, 4);
	assert_int_equal(f->last.cid, cid);
	return nvme_cqe_status(&f->last) & 0x7ff;
}

static void bring_up(struct fx *f)
{
	assert_int_equal(rd(f, NVME_REG_VS, 4), NVME_VS_1_4);
	f->q[0] = (struct q){ .sq = ASQ, .cq = ACQ, .phase = true, .vec = 0 };
	f->q[1] = (struct q){ .sq = IOSQ, .cq = IOCQ, .phase = true, .vec = 1 };
	wr(f, NVME_REG_AQA, NVME_AQA_SET(QS - 1, QS - 1), 4);
	wr(f, NVME_REG_ASQ, RAM_IOVA + ASQ, 8);
	wr(f, NVME_REG_ACQ, RAM_IOVA + ACQ, 8);
	wr(f, NVME_REG_CC, NVME_CC_EN | NVME_CC_SET_IOSQES(6) | NVME_CC_SET_IOCQES(4), 4);
	uint64_t deadline = now_ms() + 10000;
	while (!(rd(f, NVME_REG_CSTS, 4) & NVME_CSTS_RDY))
		assert_true(now_ms() < deadline);

	struct nvme_sqe c = { .opcode = NVME_ADM_IDENTIFY, .cdw10 = NVME_ID_CNS_CTRL };
	c.prp1 = RAM_IOVA + ADMIN_BUF;
	assert_int_equal(cmd(f, 0, &c), 0);
	struct nvme_id_ctrl *id = (void *)(f->ram + ADMIN_BUF);
	assert_int_equal(id->vid, 0x1b36);
	assert_int_equal(id->nn, 1);
	c = (struct nvme_sqe){ .opcode = NVME_ADM_IDENTIFY, .nsid = 1, .cdw10 = NVME_ID_CNS_NS };
	c.prp1 = RAM_IOVA + ADMIN_BUF;
	assert_int_equal(cmd(f, 0, &c), 0);
	assert_int_equal(((struct nvme_id_ns *)(f->ram + ADMIN_BUF))->nsze, (4u << 20) / 512);

	c = (struct nvme_sqe){ .opcode = NVME_ADM_CREATE_CQ, .prp1 = RAM_IOVA + IOCQ,
			       .cdw10 = ((QS - 1) << 16) | 1,
			       .cdw11 = (1u << 16) | NVME_CQ_FLAGS_PC | NVME_CQ_FLAGS_IEN };
	assert_int_equal(cmd(f, 0, &c), 0);
	c = (struct nvme_sqe){ .opcode = NVME_ADM_CREATE_SQ, .prp1 = RAM_IOVA + IOSQ,
			       .cdw10 = ((QS - 1) << 16) | 1, .cdw11 = (1u << 16) | 1 };
	assert_int_equal(cmd(f, 0, &c), 0);
}

/* nlb 512-byte blocks at slba from/to iova, with a PRP list when needed. */
static uint16_t io(struct fx *f, uint8_t opc, uint64_t slba, uint32_t nlb, uint64_t iova)
{
	struct nvme_sqe c = { .opcode = opc, .nsid = 1, .prp1 = iova };
	uint64_t len = nlb * 512ull, first = 4096 - (iova & 4095);
	if (len > first) {
		if (len - first <= 4096) {
			c.prp2 = iova + first;
		} else {
			uint64_t *l = (uint64_t *)(f->ram + LIST);
			for (uint64_t i = 0; i * 4096 < len - first; i++)
				l[i] = iova + first + i * 4096;
			c.prp2 = RAM_IOVA + LIST;
		}
	}
	c.cdw10 = (uint32_t)slba;
	c.cdw12 = nlb - 1;
	return cmd(f, 1, &c);
}

static void test_round_trip(void **state)
{
	struct fx *f = *state;
	bring_up(f);
	uint8_t *w = f->ram + DATA, *r = f->ram + DATA + 0x40000;
	for (int i = 0; i < 0x20000; i++)
		w[i] = (uint8_t)(i * 7 + (i >> 12));
	assert_int_equal(io(f, NVME_CMD_WRITE, 64, 256, RAM_IOVA + DATA), 0);
	memset(r, 0, 0x20000);
	assert_int_equal(io(f, NVME_CMD_READ, 64, 256, RAM_IOVA + DATA + 0x40000), 0);
	assert_memory_equal(w, r, 0x20000);
	/* The same through memory the server can only reach with DMA messages. */
	memset(f->anon, 0, 0x20000);
	assert_int_equal(io(f, NVME_CMD_READ, 64, 256, ANON_IOVA), 0);
	assert_memory_equal(w, f->anon, 0x20000);
	for (int i = 0; i < 0x8000; i++)
		f->anon[i] = (uint8_t)~i;
	assert_int_equal(io(f, NVME_CMD_WRITE, 1000, 64, ANON_IOVA), 0);
	assert_int_equal(io(f, NVME_CMD_READ, 1000, 64, RAM_IOVA + DATA), 0);
	assert_memory_equal(f->anon, w, 0x8000);
}

static void test_bad_prp_server_keeps_serving(void **state)
{
	struct fx *f = *state;
	bring_up(f);
	assert_int_equal(io(f, NVME_CMD_READ, 0, 8, 0x7000000000ull),
			 NVME_STATUS_MAKE(NVME_SCT_GENERIC, NVME_SC_DATA_TRANSFER_ERROR));
	uint64_t *l = (uint64_t *)(f->ram + LIST);
	struct nvme_sqe c = { .opcode = NVME_CMD_WRITE, .nsid = 1, .prp1 = RAM_IOVA + DATA,
			      .prp2 = RAM_IOVA + LIST, .cdw12 = 23 };
	l[0] = RAM_IOVA + DATA + 0x1000;
	l[1] = 0x7000001000ull; /* a list entry outside every window */
	assert_int_equal(cmd(f, 1, &c),
			 NVME_STATUS_MAKE(NVME_SCT_GENERIC, NVME_SC_DATA_TRANSFER_ERROR));
	assert_int_equal(io(f, NVME_CMD_READ, (4u << 20) / 512, 1, RAM_IOVA + DATA),
			 NVME_STATUS_MAKE(NVME_SCT_GENERIC, NVME_SC_LBA_RANGE));
	/* Still serving: I/O and plain region accesses work. */
	memset(f->ram + DATA, 0x3c, 4096);
	assert_int_equal(io(f, NVME_CMD_WRITE, 8, 8, RAM_IOVA + DATA), 0);
	assert_int_equal(io(f, NVME_CMD_READ, 8, 8, RAM_IOVA + DATA + 0x1000), 0);
	assert_memory_equal(f->ram + DATA, f->ram + DATA + 0x1000, 4096);
	assert_true(rd(f, NVME_REG_CSTS, 4) & NVME_CSTS_RDY);
	/* A reset through the client, then the controller comes up again. */
	assert_int_equal(uvfio_reset(f->h), 0);
	uint16_t cmdw = PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER; /* the reset cleared it */
	assert_int_equal(uvfio_config_write(f->h, PCI_COMMAND, &cmdw, 2), 0);
	assert_int_equal(rd(f, NVME_REG_CSTS, 4) & NVME_CSTS_RDY, 0);
	assert_int_equal(uvfio_irq_enable(f->h, 2, 0, 3, f->efd), 0);
	memset(f->ram, 0, 0x4000);
	bring_up(f);
	assert_int_equal(io(f, NVME_CMD_READ, 8, 8, RAM_IOVA + DATA + 0x2000), 0);
	assert_memory_equal(f->ram + DATA, f->ram + DATA + 0x2000, 4096);
}

static int setup_raw(void **state)
{
	static struct h_server srv;
	const char *const args[] = { "--device", "nvme,size=1M,queues=2", "--socket", "@SOCK@",
				     NULL };
	if (h_server_start_cli(&srv, args) != 0)
		return -1;
	*state = &srv;
	return 0;
}

static int teardown_raw(void **state)
{
	return h_server_stop(*state) == 0 ? 0 : -1;
}

static void test_region_io_fds_wire(void **state)
{
	struct h_server *srv = *state;
	int sock = h_connect(srv->sock_path);
	assert_true(sock >= 0);
	assert_int_equal(h_version(sock, "{\"capabilities\":{\"max_msg_fds\":16}}"), 0);
	struct vfu_region_io_fds_request q = { .argsz = sizeof(q), .index = 0 };
	struct vfu_msg m;
	/* Too small for the entries: the head says how much is needed. */
	assert_int_equal(h_send(sock, 2, VFU_CMD_DEVICE_GET_REGION_IO_FDS, 0, &q, sizeof(q),
				NULL, 0),
			 0);
	vfu_msg_init(&m);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.payload_len, 16);
	struct vfu_region_io_fds_request a;
	memcpy(&a, m.payload, sizeof(a));
	assert_int_equal(a.count, 6); /* SQ and CQ doorbells of the admin + 2 I/O queues */
	assert_int_equal(a.argsz, 16 + 6 * 40);
	assert_int_equal(m.nfds, 0);
	vfu_msg_release(&m);
	/* Room for all: 40-byte entries, one distinct eventfd each. */
	q.argsz = 4096;
	assert_int_equal(h_send(sock, 3, VFU_CMD_DEVICE_GET_REGION_IO_FDS, 0, &q, sizeof(q),
				NULL, 0),
			 0);
	vfu_msg_init(&m);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	assert_int_equal(m.payload_len, 16 + 6 * 40);
	assert_int_equal(m.nfds, 6);
	for (uint32_t i = 0; i < 6; i++) {
		struct vfu_sub_region_ioeventfd e;
		memcpy(&e, m.payload + 16 + i * 40, sizeof(e));
		assert_int_equal(e.offset, NVME_REG_DBS + 4 * i);
		assert_int_equal(e.size, 4);
		assert_int_equal(e.fd_index, i);
		assert_int_equal(e.type, VFU_IO_FD_TYPE_IOEVENTFD);
		assert_true(m.fds[i] >= 0);
	}
	vfu_msg_release(&m);
	/* A region without ioeventfds: count 0; a bad index: an error, the server goes on. */
	q.argsz = 4096;
	q.index = 2;
	assert_int_equal(h_send(sock, 4, VFU_CMD_DEVICE_GET_REGION_IO_FDS, 0, &q, sizeof(q),
				NULL, 0),
			 0);
	vfu_msg_init(&m);
	assert_int_equal(h_recv(sock, &m, 5000), 0);
	memcpy(&a, m.payload, sizeof(a));
	assert_int_equal(a.count, 0);
	vfu_msg_release(&m);
	q.index = 99;
	assert_int_equal(h_send(sock, 5, VFU_CMD_DEVICE_GET_REGION_IO_FDS, 0, &q, sizeof(q),
				NULL, 0),
			 0);
	assert_int_equal(h_expect_error(sock, 5, VFU_CMD_DEVICE_GET_REGION_IO_FDS, EINVAL), 0);
	close(sock);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_prp_server_keeps_serving, setup, teardown),
		cmocka_unit_test_setup_teardown(test_region_io_fds_wire, setup_raw, teardown_raw),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
