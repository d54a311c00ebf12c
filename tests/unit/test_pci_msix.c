/* SPDX-License-Identifier: MIT */
/* MSI-X: table and PBA emulation, masking, pending delivery, vfio-pci enable mirroring. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include <linux/pci_regs.h>

#include <uvfio/pci.h>

#define NVEC 8
#define TABLE 0x0
#define PBA 0x1000

static const struct uvfio_pci_ident ident = { .vendor = 0x1234, .device = 0x2 };

struct t {
	struct uvfio_pci_device *p;
	struct uvfio_device *dev;
	int cap;
	int efd[NVEC];
};

static int setup(void **state)
{
	static struct t t;
	t.p = uvfio_pci_device_new(&ident);
	assert_non_null(t.p);
	t.dev = uvfio_pci_to_device(t.p);
	assert_int_equal(uvfio_pci_setup_bar(t.p, 0, 0x2000, UVFIO_PCI_BAR_MEM32, NULL), 0);
	t.cap = uvfio_pci_add_cap_msix(t.p, NVEC, 0, TABLE, 0, PBA);
	assert_true(t.cap >= 0x40);
	uvfio_pci_finalize(t.p);
	uint16_t cmd = PCI_COMMAND_MEMORY;
	assert_int_equal(uvfio_pci_cfg_access(t.p, PCI_COMMAND, &cmd, 2, true), 2);
	for (int i = 0; i < NVEC; i++) {
		t.efd[i] = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
		assert_true(t.efd[i] >= 0);
	}
	*state = &t;
	return 0;
}

static int teardown(void **state)
{
	struct t *t = *state;
	uvfio_pci_device_free(t->p);
	for (int i = 0; i < NVEC; i++)
		close(t->efd[i]);
	return 0;
}

static uint64_t fired(int fd)
{
	uint64_t v = 0;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static int assign(struct t *t, uint32_t start, uint32_t count)
{
	return uvfio_device_set_irqs(t->dev, UVFIO_IRQ_SET_DATA_EVENTFD | UVFIO_IRQ_SET_ACTION_TRIGGER,
				     UVFIO_PCI_MSIX_IRQ, start, count, NULL, &t->efd[start]);
}

static uint32_t bar_rd32(struct t *t, uint64_t off)
{
	uint32_t v = 0;
	assert_int_equal(uvfio_device_region_rw(t->dev, 0, off, &v, 4, false), 4);
	return v;
}

static void bar_wr32(struct t *t, uint64_t off, uint32_t v)
{
	assert_int_equal(uvfio_device_region_rw(t->dev, 0, off, &v, 4, true), 4);
}

static uint16_t ctrl(struct t *t)
{
	return uvfio_pci_cfg_read16(t->p, (uint32_t)t->cap + PCI_MSIX_FLAGS);
}

static void set_ctrl(struct t *t, uint16_t v)
{
	assert_int_equal(uvfio_pci_cfg_access(t->p, (uint32_t)t->cap + PCI_MSIX_FLAGS, &v, 2, true),
			 2);
}

static uint32_t vctl(unsigned v)
{
	return TABLE + v * PCI_MSIX_ENTRY_SIZE + PCI_MSIX_ENTRY_VECTOR_CTRL;
}

static void test_power_on_and_masks(void **state)
{
	struct t *t = *state;
	assert_false(uvfio_pci_msix_enabled(t->p));
	for (unsigned v = 0; v < NVEC; v++) {
		assert_int_equal(bar_rd32(t, vctl(v)), PCI_MSIX_ENTRY_CTRL_MASKBIT);
		assert_int_equal(bar_rd32(t, TABLE + v * 16), 0);
	}
	/* write masks of an entry: address dword-aligned, data, the mask bit */
	uint32_t e = TABLE + 3 * 16;
	for (uint32_t i = 0; i < 16; i += 4)
		bar_wr32(t, e + i, 0xffffffff);
	assert_int_equal(bar_rd32(t, e + 0), 0xfffffffc);
	assert_int_equal(bar_rd32(t, e + 4), 0xffffffff);
	assert_int_equal(bar_rd32(t, e + 8), 0xffffffff);
	assert_int_equal(bar_rd32(t, e + 12), 1);
	for (uint32_t i = 0; i < 16; i += 4)
		bar_wr32(t, e + i, 0);
	for (uint32_t i = 0; i < 16; i += 4)
		assert_int_equal(bar_rd32(t, e + i), 0);
	/* a 64-bit access to address lo+hi */
	uint64_t a = 0x00000001fee00004ull, got = 0;
	assert_int_equal(uvfio_device_region_rw(t->dev, 0, e, &a, 8, true), 8);
	assert_int_equal(uvfio_device_region_rw(t->dev, 0, e, &got, 8, false), 8);
	assert_int_equal(got, a);
	/* the PBA is read-only */
	bar_wr32(t, PBA, 0xffffffff);
	assert_int_equal(bar_rd32(t, PBA), 0);
	/* the driver never sees table or PBA accesses: it has no handler and reads would be ~0 */
	assert_int_equal(bar_rd32(t, PBA + 8), 0xffffffff);
}

static void test_mirror_enable_and_deliver(void **state)
{
	struct t *t = *state;
	assert_int_equal(uvfio_pci_raise_irq(t->p, 0), -ENODEV); /* nothing enabled, no pin */
	assert_int_equal(assign(t, 0, 2), 0);
	/* what the host kernel does for vfio-pci: enable, unmask vectors with an eventfd */
	assert_true(uvfio_pci_msix_enabled(t->p));
	assert_true(ctrl(t) & PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(bar_rd32(t, vctl(0)), 0);
	assert_int_equal(bar_rd32(t, vctl(1)), 0);
	assert_int_equal(bar_rd32(t, vctl(2)), 1);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 1), 0);
	assert_int_equal(fired(t->efd[1]), 1);
	assert_int_equal(fired(t->efd[0]), 0);
	assert_int_equal(uvfio_pci_raise_irq(t->p, NVEC), -EINVAL);

	/* per-vector mask: PBA bit set, delivered on unmask, PBA cleared */
	bar_wr32(t, vctl(0), 1);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 0), 0);
	assert_int_equal(fired(t->efd[0]), 0);
	assert_int_equal(bar_rd32(t, PBA), 1);
	bar_wr32(t, vctl(0), 0);
	assert_int_equal(fired(t->efd[0]), 1);
	assert_int_equal(bar_rd32(t, PBA), 0);

	/* function mask */
	set_ctrl(t, PCI_MSIX_FLAGS_ENABLE | PCI_MSIX_FLAGS_MASKALL);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 1), 0);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 0), 0);
	assert_int_equal(fired(t->efd[1]), 0);
	assert_int_equal(bar_rd32(t, PBA), 3);
	set_ctrl(t, PCI_MSIX_FLAGS_ENABLE);
	assert_int_equal(fired(t->efd[0]), 1);
	assert_int_equal(fired(t->efd[1]), 1);
	assert_int_equal(bar_rd32(t, PBA), 0);

	/* a vector without an eventfd stays masked and pending */
	assert_int_equal(uvfio_pci_raise_irq(t->p, 5), 0);
	assert_int_equal(bar_rd32(t, PBA), 1u << 5);

	/* de-assigning the index disables MSI-X and masks the vectors again */
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_TRIGGER,
					       UVFIO_PCI_MSIX_IRQ, 0, 0, NULL, NULL),
			 0);
	assert_false(uvfio_pci_msix_enabled(t->p));
	assert_int_equal(bar_rd32(t, vctl(0)), 1);
	assert_int_equal(bar_rd32(t, vctl(1)), 1);
}

static void test_mirror_keeps_client_masks(void **state)
{
	struct t *t = *state;
	assert_int_equal(assign(t, 0, 1), 0);
	bar_wr32(t, vctl(0), 1); /* the client masks vector 0 itself */
	assert_int_equal(assign(t, 4, 1), 0);
	assert_int_equal(bar_rd32(t, vctl(0)), 1);
	assert_int_equal(bar_rd32(t, vctl(4)), 0);
	/* de-assign one vector with -1: only that one is masked */
	int none = -1;
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_EVENTFD |
						       UVFIO_IRQ_SET_ACTION_TRIGGER,
					       UVFIO_PCI_MSIX_IRQ, 4, 1, NULL, &none),
			 0);
	assert_int_equal(bar_rd32(t, vctl(4)), 1);
	assert_true(uvfio_pci_msix_enabled(t->p)); /* vector 0 still has its eventfd */
}

/* QEMU enables MSI-X with one vector and releases it at once; vfio-pci keeps MSI-X enabled. */
static void test_enabled_without_vectors(void **state)
{
	struct t *t = *state;
	int none = -1;
	assert_int_equal(assign(t, 0, 1), 0);
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_EVENTFD |
						       UVFIO_IRQ_SET_ACTION_TRIGGER,
					       UVFIO_PCI_MSIX_IRQ, 0, 1, NULL, &none),
			 0);
	assert_true(uvfio_pci_msix_enabled(t->p));
	assert_int_equal(bar_rd32(t, vctl(0)), 1);
	/* the device uses MSI-X (not INTx/MSI): the interrupt waits in the PBA */
	assert_int_equal(uvfio_pci_raise_irq(t->p, 0), 0);
	assert_int_equal(bar_rd32(t, PBA), 1);
	/* the guest unmasks vector 0: QEMU assigns its eventfd, the pending one is delivered */
	assert_int_equal(assign(t, 0, 1), 0);
	assert_int_equal(fired(t->efd[0]), 1);
	assert_int_equal(bar_rd32(t, PBA), 0);
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_TRIGGER,
					       UVFIO_PCI_MSIX_IRQ, 0, 0, NULL, NULL),
			 0);
	assert_false(uvfio_pci_msix_enabled(t->p));
}

static void test_vfio_level_mask(void **state)
{
	struct t *t = *state;
	assert_int_equal(assign(t, 0, 2), 0);
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_MASK,
					       UVFIO_PCI_MSIX_IRQ, 1, 1, NULL, NULL),
			 0);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 1), 0);
	assert_int_equal(fired(t->efd[1]), 0);
	assert_int_equal(bar_rd32(t, PBA), 0); /* vfio-level pending is not the PBA */
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_UNMASK,
					       UVFIO_PCI_MSIX_IRQ, 1, 1, NULL, NULL),
			 0);
	assert_int_equal(fired(t->efd[1]), 1);
}

static void test_reset(void **state)
{
	struct t *t = *state;
	assert_int_equal(assign(t, 0, 2), 0);
	bar_wr32(t, TABLE + 16, 0xfee00000);
	bar_wr32(t, vctl(2), 0);
	bar_wr32(t, vctl(1), 1);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 1), 0);
	assert_int_equal(bar_rd32(t, PBA), 2);
	uvfio_pci_reset(t->p);
	uint16_t cmd = PCI_COMMAND_MEMORY;
	assert_int_equal(uvfio_pci_cfg_access(t->p, PCI_COMMAND, &cmd, 2, true), 2);
	/* table and PBA back to power-on ... */
	assert_int_equal(bar_rd32(t, TABLE + 16), 0);
	assert_int_equal(bar_rd32(t, vctl(2)), 1);
	assert_int_equal(bar_rd32(t, PBA), 0);
	/* ... with the active SET_IRQS setup re-applied, as vfio-pci restores it */
	assert_true(uvfio_pci_msix_enabled(t->p));
	assert_int_equal(bar_rd32(t, vctl(0)), 0);
	assert_int_equal(bar_rd32(t, vctl(1)), 0);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 1), 0);
	assert_int_equal(fired(t->efd[1]), 1);
	/* after close, nothing is enabled and the table is masked */
	uvfio_device_close(t->dev);
	assert_false(uvfio_pci_msix_enabled(t->p));
	assert_false(uvfio_device_irq_enabled(t->dev, UVFIO_PCI_MSIX_IRQ, 0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_power_on_and_masks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirror_enable_and_deliver, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mirror_keeps_client_masks, setup, teardown),
		cmocka_unit_test_setup_teardown(test_enabled_without_vectors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_vfio_level_mask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reset, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
