/* SPDX-License-Identifier: MIT */
/* The PCI state section (lib/pci/state.c): round trip, live behaviour after it, refusals. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <uvfio/pci.h>

#define NVEC 70 /* two PBA words, the second one partly used */
#define HDR 24u /* the state's header; config space follows */
#define PBA_OFF 0x2000u

static struct uvfio_pci_device *make(uint16_t vendor, unsigned msix_vectors)
{
	const struct uvfio_pci_ident id = {
		.vendor = vendor,
		.device = 0x5678,
		.subvendor = 0x1af4,
		.subdevice = 0x1100,
		.class_code = 0x020000,
		.revision = 1,
	};
	struct uvfio_pci_device *p = uvfio_pci_device_new(&id);
	assert_non_null(p);
	assert_int_equal(uvfio_pci_setup_bar(p, 0, 4096, UVFIO_PCI_BAR_MEM32, NULL), 0);
	assert_int_equal(uvfio_pci_setup_bar(p, 2, 0x4000,
					     UVFIO_PCI_BAR_MEM64 | UVFIO_PCI_BAR_PREFETCH, NULL),
			 0);
	assert_int_equal(uvfio_pci_set_intx_pin(p, 1), 0);
	assert_true(uvfio_pci_add_cap_pm(p) > 0);
	assert_true(uvfio_pci_add_cap_msi(p, 4, true, true) > 0);
	assert_true(uvfio_pci_add_cap_msix(p, msix_vectors, 2, 0, 2, PBA_OFF) > 0);
	assert_true(uvfio_pci_add_cap_exp(p, true) > 0);
	assert_true(uvfio_pci_add_ext_cap_dsn(p, 0x1122334455667788ull) > 0);
	uvfio_pci_finalize(p);
	return p;
}

struct t {
	struct uvfio_pci_device *src, *dst;
	uint8_t *state;
	size_t len;
};

static void cfg_wr(struct uvfio_pci_device *p, uint32_t off, uint32_t val, size_t size)
{
	assert_int_equal(uvfio_pci_cfg_access(p, off, &val, size, true), (ssize_t)size);
}

static void bar2_wr(struct uvfio_pci_device *p, uint64_t off, uint32_t val)
{
	assert_int_equal(uvfio_device_region_rw(uvfio_pci_to_device(p), 2, off, &val, 4, true), 4);
}

static void bar2_rd(struct uvfio_pci_device *p, uint64_t off, void *buf, size_t len)
{
	assert_int_equal(uvfio_device_region_rw(uvfio_pci_to_device(p), 2, off, buf, len, false),
			 (ssize_t)len);
}

/* A source in a state that touches every part of the section. */
static void program_source(struct uvfio_pci_device *p)
{
	cfg_wr(p, PCI_COMMAND, PCI_COMMAND_MEMORY | PCI_COMMAND_MASTER | PCI_COMMAND_SERR, 2);
	cfg_wr(p, PCI_BASE_ADDRESS_0, 0xfebf0000, 4);
	cfg_wr(p, PCI_BASE_ADDRESS_2, 0xd0004000, 4);
	cfg_wr(p, PCI_BASE_ADDRESS_3, 0x1, 4);
	cfg_wr(p, PCI_CACHE_LINE_SIZE, 0x10, 1);
	cfg_wr(p, PCI_INTERRUPT_LINE, 0x0b, 1);
	uint32_t pm = uvfio_pci_find_cap(p, PCI_CAP_ID_PM);
	cfg_wr(p, pm + PCI_PM_CTRL, 3, 1); /* D3hot */
	uint32_t exp = uvfio_pci_find_cap(p, PCI_CAP_ID_EXP);
	cfg_wr(p, exp + PCI_EXP_DEVCTL, PCI_EXP_DEVCTL_CERE | PCI_EXP_DEVCTL_URRE, 2);

	/* MSI: 4 vectors enabled, 0 and 2 masked, both raised: pending bits 0 and 2. */
	uint32_t msi = uvfio_pci_find_cap(p, PCI_CAP_ID_MSI);
	cfg_wr(p, msi + PCI_MSI_ADDRESS_LO, 0xfee01000, 4);
	cfg_wr(p, msi + PCI_MSI_ADDRESS_HI, 0x1, 4);
	cfg_wr(p, msi + PCI_MSI_DATA_64, 0x4041, 2);
	cfg_wr(p, msi + PCI_MSI_MASK_64, 0x5, 4);
	cfg_wr(p, msi + PCI_MSI_FLAGS, PCI_MSI_FLAGS_ENABLE | 2 << 4, 2);
	assert_int_equal(uvfio_pci_raise_irq(p, 0), 0);
	assert_int_equal(uvfio_pci_raise_irq(p, 2), 0);
	assert_int_equal(uvfio_pci_cfg_read32(p, msi + PCI_MSI_PENDING_64), 0x5);

	/* MSI-X: entry 1 programmed and unmasked, 3 and 66 raised while masked: PBA bits. */
	bar2_wr(p, 1 * 16 + PCI_MSIX_ENTRY_LOWER_ADDR, 0xfee02000);
	bar2_wr(p, 1 * 16 + PCI_MSIX_ENTRY_DATA, 0x51);
	bar2_wr(p, 1 * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL, 0);
	uint32_t msix = uvfio_pci_find_cap(p, PCI_CAP_ID_MSIX);
	cfg_wr(p, msix + PCI_MSIX_FLAGS, PCI_MSIX_FLAGS_ENABLE, 2);
	assert_int_equal(uvfio_pci_raise_irq(p, 3), 0);
	assert_int_equal(uvfio_pci_raise_irq(p, 66), 0);

	uvfio_pci_set_intx(p, true);
}

static int setup(void **state)
{
	struct t *t = calloc(1, sizeof(*t));
	assert_non_null(t);
	t->src = make(0x1234, NVEC);
	t->dst = make(0x1234, NVEC);
	program_source(t->src);
	t->len = uvfio_pci_state_size(t->src);
	assert_int_equal(t->len, HDR + UVFIO_PCI_CFG_SIZE + NVEC * 16 + 2 * 8);
	t->state = malloc(t->len);
	assert_non_null(t->state);
	assert_int_equal(uvfio_pci_state_save(t->src, t->state, t->len), (ssize_t)t->len);
	*state = t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	uvfio_pci_device_free(t->src);
	uvfio_pci_device_free(t->dst);
	free(t->state);
	free(t);
	return 0;
}

static void read_cfg(struct uvfio_pci_device *p, uint8_t *cfg)
{
	assert_int_equal(uvfio_pci_cfg_access(p, 0, cfg, UVFIO_PCI_CFG_SIZE, false),
			 UVFIO_PCI_CFG_SIZE);
}

static uint64_t events(int fd)
{
	uint64_t n = 0;
	if (read(fd, &n, sizeof(n)) != sizeof(n))
		return 0;
	return n;
}

static void set_irq(struct uvfio_pci_device *p, uint32_t index, uint32_t vector, int fd)
{
	assert_int_equal(uvfio_device_set_irqs(uvfio_pci_to_device(p),
					       UVFIO_IRQ_SET_DATA_EVENTFD |
						       UVFIO_IRQ_SET_ACTION_TRIGGER,
					       index, vector, 1, NULL, &fd),
			 0);
}

static void test_round_trip(void **state)
{
	struct t *t = *state;
	int intx = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(intx >= 0);
	/* The destination's client set up INTx before the state arrived. */
	set_irq(t->dst, UVFIO_PCI_INTX_IRQ, 0, intx);
	assert_int_equal(events(intx), 0);

	assert_int_equal(uvfio_pci_state_check(t->dst, t->state, t->len), 0);
	assert_int_equal(uvfio_pci_state_load(t->dst, t->state, t->len), 0);

	uint8_t a[UVFIO_PCI_CFG_SIZE], b[UVFIO_PCI_CFG_SIZE];
	read_cfg(t->src, a);
	read_cfg(t->dst, b);
	assert_memory_equal(a, b, sizeof(a));
	assert_true(uvfio_pci_cfg_read16(t->dst, PCI_STATUS) & PCI_STATUS_INTERRUPT);
	uint8_t ta[NVEC * 16], tb[NVEC * 16];
	bar2_rd(t->src, 0, ta, sizeof(ta));
	bar2_rd(t->dst, 0, tb, sizeof(tb));
	assert_memory_equal(ta, tb, sizeof(ta));
	uint64_t pa[2], pb[2];
	bar2_rd(t->src, PBA_OFF, pa, sizeof(pa));
	bar2_rd(t->dst, PBA_OFF, pb, sizeof(pb));
	assert_memory_equal(pa, pb, sizeof(pa));
	assert_int_equal(pb[0], 1ull << 3);
	assert_int_equal(pb[1], 1ull << 2);
	/* The asserted line reached the destination's client. */
	assert_int_equal(events(intx), 1);
	/* A second save of the destination is the same state. */
	uint8_t *again = malloc(t->len);
	assert_non_null(again);
	assert_int_equal(uvfio_pci_state_save(t->dst, again, t->len), (ssize_t)t->len);
	assert_memory_equal(again, t->state, t->len);
	free(again);
	close(intx);
}

/* The restored PBA is live: vector 3 fires once the destination's client gives it an
 * eventfd (vfio-pci semantics unmask it), and its pending bit clears. */
static void test_pending_delivered_after_load(void **state)
{
	struct t *t = *state;
	assert_int_equal(uvfio_pci_state_load(t->dst, t->state, t->len), 0);
	assert_true(uvfio_pci_msix_enabled(t->dst));
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(fd >= 0);
	set_irq(t->dst, UVFIO_PCI_MSIX_IRQ, 3, fd);
	assert_int_equal(events(fd), 1);
	uint64_t pba[2];
	bar2_rd(t->dst, PBA_OFF, pba, sizeof(pba));
	assert_int_equal(pba[0], 0);
	assert_int_equal(pba[1], 1ull << 2);
	/* MSI pending bits came along too: unmasking vector 2 on the destination delivers
	 * nothing while MSI-X is the enabled mode, but the bit is there. */
	uint32_t msi = uvfio_pci_find_cap(t->dst, PCI_CAP_ID_MSI);
	assert_int_equal(uvfio_pci_cfg_read32(t->dst, msi + PCI_MSI_PENDING_64), 0x5);
	close(fd);
}

/* Applies f to a copy of the state, expects check and load to refuse it and the destination
 * to stay exactly as it was. */
static void expect_refused(struct t *t, void (*f)(struct t *t, uint8_t *s, size_t *len))
{
	size_t len = t->len;
	uint8_t *s = malloc(t->len + 8);
	assert_non_null(s);
	memcpy(s, t->state, t->len);
	f(t, s, &len);
	uint8_t before[UVFIO_PCI_CFG_SIZE], after[UVFIO_PCI_CFG_SIZE];
	read_cfg(t->dst, before);
	assert_int_equal(uvfio_pci_state_check(t->dst, s, len), -EINVAL);
	assert_int_equal(uvfio_pci_state_load(t->dst, s, len), -EINVAL);
	read_cfg(t->dst, after);
	assert_memory_equal(before, after, sizeof(before));
	free(s);
}

static void put32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

static uint32_t cap(struct t *t, uint8_t id)
{
	return uvfio_pci_find_cap(t->dst, id);
}

static void m_short(struct t *t, uint8_t *s, size_t *len) { *len -= 1; }
static void m_long(struct t *t, uint8_t *s, size_t *len) { *len += 1; }
static void m_tiny(struct t *t, uint8_t *s, size_t *len) { *len = 10; }
static void m_magic(struct t *t, uint8_t *s, size_t *len) { s[0] ^= 1; }
static void m_version(struct t *t, uint8_t *s, size_t *len) { put32(s + 4, 2); }
static void m_cfg_size(struct t *t, uint8_t *s, size_t *len) { put32(s + 8, 256); }
static void m_nvec(struct t *t, uint8_t *s, size_t *len) { put32(s + 12, NVEC - 1); }
static void m_flags(struct t *t, uint8_t *s, size_t *len) { put32(s + 16, 3); }
static void m_reserved(struct t *t, uint8_t *s, size_t *len) { put32(s + 20, 1); }
static void m_vendor(struct t *t, uint8_t *s, size_t *len) { s[HDR + PCI_VENDOR_ID] ^= 1; }
static void m_bar_type(struct t *t, uint8_t *s, size_t *len)
{
	s[HDR + PCI_BASE_ADDRESS_0] |= PCI_BASE_ADDRESS_MEM_PREFETCH;
}
static void m_bar_low(struct t *t, uint8_t *s, size_t *len)
{
	s[HDR + PCI_BASE_ADDRESS_0 + 1] |= 0x01; /* below the 4 KiB size */
}
static void m_msi_pending(struct t *t, uint8_t *s, size_t *len)
{
	s[HDR + cap(t, PCI_CAP_ID_MSI) + PCI_MSI_PENDING_64] |= 0x20; /* vector 5 of 4 */
}
static void m_msi_qsize(struct t *t, uint8_t *s, size_t *len)
{
	s[HDR + cap(t, PCI_CAP_ID_MSI) + PCI_MSI_FLAGS] |= 3 << 4; /* 8 of 4 vectors */
}
static void m_pm_d1(struct t *t, uint8_t *s, size_t *len)
{
	uint8_t *b = &s[HDR + cap(t, PCI_CAP_ID_PM) + PCI_PM_CTRL];
	*b = (uint8_t)((*b & ~PCI_PM_CTRL_STATE_MASK) | 1);
}
static void m_flr(struct t *t, uint8_t *s, size_t *len)
{
	s[HDR + cap(t, PCI_CAP_ID_EXP) + PCI_EXP_DEVCTL + 1] |= PCI_EXP_DEVCTL_BCR_FLR >> 8;
}
static void m_intx_flag(struct t *t, uint8_t *s, size_t *len) { put32(s + 16, 0); }
static void m_intx_status(struct t *t, uint8_t *s, size_t *len)
{
	s[HDR + PCI_STATUS] &= (uint8_t)~PCI_STATUS_INTERRUPT;
}
static void m_table_ctrl(struct t *t, uint8_t *s, size_t *len)
{
	s[HDR + UVFIO_PCI_CFG_SIZE + 5 * 16 + PCI_MSIX_ENTRY_VECTOR_CTRL] |= 0x2;
}
static void m_table_addr(struct t *t, uint8_t *s, size_t *len)
{
	s[HDR + UVFIO_PCI_CFG_SIZE + 5 * 16 + PCI_MSIX_ENTRY_LOWER_ADDR] |= 0x1;
}
static void m_pba_tail(struct t *t, uint8_t *s, size_t *len)
{
	s[HDR + UVFIO_PCI_CFG_SIZE + NVEC * 16 + 8] |= 0x40; /* vector 70 of 70 */
}

static void test_malformed_refused(void **state)
{
	struct t *t = *state;
	void (*const cases[])(struct t *, uint8_t *, size_t *) = {
		m_short,     m_long,	  m_tiny,	m_magic,       m_version,
		m_cfg_size,  m_nvec,	  m_flags,	m_reserved,    m_vendor,
		m_bar_type,  m_bar_low,	  m_msi_pending, m_msi_qsize,   m_pm_d1,
		m_flr,	     m_intx_flag, m_intx_status, m_table_ctrl, m_table_addr,
		m_pba_tail,
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		expect_refused(t, cases[i]);
	/* The untouched state still loads: the refusals were about the changes. */
	assert_int_equal(uvfio_pci_state_load(t->dst, t->state, t->len), 0);
}

static void test_other_layout_refused(void **state)
{
	struct t *t = *state;
	struct uvfio_pci_device *fewer = make(0x1234, 8);
	struct uvfio_pci_device *other = make(0x4321, NVEC);
	assert_int_equal(uvfio_pci_state_load(fewer, t->state, t->len), -EINVAL);
	assert_int_equal(uvfio_pci_state_load(other, t->state, t->len), -EINVAL);
	uvfio_pci_device_free(fewer);
	uvfio_pci_device_free(other);
}

static void test_bad_arguments(void **state)
{
	struct t *t = *state;
	uint8_t small[16];
	assert_int_equal(uvfio_pci_state_size(NULL), 0);
	assert_int_equal(uvfio_pci_state_save(t->src, small, sizeof(small)), -ENOSPC);
	assert_int_equal(uvfio_pci_state_save(t->src, NULL, t->len), -EINVAL);
	assert_int_equal(uvfio_pci_state_save(NULL, t->state, t->len), -EINVAL);
	assert_int_equal(uvfio_pci_state_check(NULL, t->state, t->len), -EINVAL);
	assert_int_equal(uvfio_pci_state_check(t->dst, NULL, t->len), -EINVAL);
	assert_int_equal(uvfio_pci_state_load(NULL, t->state, t->len), -EINVAL);
	assert_int_equal(uvfio_pci_state_load(t->dst, NULL, t->len), -EINVAL);
}

/* A function without MSI-X has a state of header + config space only. */
static void test_without_msix(void **state)
{
	const struct uvfio_pci_ident id = { .vendor = 0x1234, .device = 0x1 };
	struct uvfio_pci_device *a = uvfio_pci_device_new(&id), *b = uvfio_pci_device_new(&id);
	assert_non_null(a);
	assert_non_null(b);
	uvfio_pci_finalize(a);
	uvfio_pci_finalize(b);
	uint8_t s[HDR + UVFIO_PCI_CFG_SIZE];
	assert_int_equal(uvfio_pci_state_size(a), sizeof(s));
	cfg_wr(a, PCI_COMMAND, PCI_COMMAND_MEMORY, 2);
	assert_int_equal(uvfio_pci_state_save(a, s, sizeof(s)), (ssize_t)sizeof(s));
	assert_int_equal(uvfio_pci_state_load(b, s, sizeof(s)), 0);
	assert_int_equal(uvfio_pci_cfg_read16(b, PCI_COMMAND), PCI_COMMAND_MEMORY);
	/* No pin: an asserted INTx line cannot be restored here. */
	put32(s + 16, 1);
	s[HDR + PCI_STATUS] |= PCI_STATUS_INTERRUPT;
	assert_int_equal(uvfio_pci_state_load(b, s, sizeof(s)), -EINVAL);
	uvfio_pci_device_free(a);
	uvfio_pci_device_free(b);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_round_trip, setup, teardown),
		cmocka_unit_test_setup_teardown(test_pending_delivered_after_load, setup, teardown),
		cmocka_unit_test_setup_teardown(test_malformed_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_other_layout_refused, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_arguments, setup, teardown),
		cmocka_unit_test(test_without_msix),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
