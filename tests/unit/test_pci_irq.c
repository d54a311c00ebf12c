/* SPDX-License-Identifier: MIT */
/* INTx (level, automask, INTX_DISABLE) and MSI (masking, pending, mirroring) of the PCI core. */
#include <errno.h>
#include <pthread.h>
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

static const struct uvfio_pci_ident ident = { .vendor = 0x1234, .device = 0x3 };

struct t {
	struct uvfio_pci_device *p;
	struct uvfio_device *dev;
	int msi;
	int efd[4];
};

static int setup(void **state)
{
	static struct t t;
	t.p = uvfio_pci_device_new(&ident);
	assert_non_null(t.p);
	t.dev = uvfio_pci_to_device(t.p);
	assert_int_equal(uvfio_pci_set_intx_pin(t.p, 1), 0);
	t.msi = uvfio_pci_add_cap_msi(t.p, 4, true, true);
	assert_true(t.msi >= 0x40);
	uvfio_pci_finalize(t.p);
	for (int i = 0; i < 4; i++) {
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
	for (int i = 0; i < 4; i++)
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

static int set_irqs(struct t *t, uint32_t flags, uint32_t index, uint32_t start, uint32_t count,
		    const int *fds)
{
	return uvfio_device_set_irqs(t->dev, flags, index, start, count, NULL, fds);
}

#define EFD_TRIGGER (UVFIO_IRQ_SET_DATA_EVENTFD | UVFIO_IRQ_SET_ACTION_TRIGGER)
#define UNMASK (UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_UNMASK)
#define DISABLE (UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_TRIGGER)

static uint16_t status(struct t *t)
{
	return uvfio_pci_cfg_read16(t->p, PCI_STATUS);
}

static void command(struct t *t, uint16_t v)
{
	assert_int_equal(uvfio_pci_cfg_access(t->p, PCI_COMMAND, &v, 2, true), 2);
}

static void cfg_wr(struct t *t, uint32_t off, uint32_t v, size_t size)
{
	assert_int_equal(uvfio_pci_cfg_access(t->p, off, &v, size, true), (ssize_t)size);
}

static void test_intx_assert_automask_unmask(void **state)
{
	struct t *t = *state;
	assert_int_equal(set_irqs(t, EFD_TRIGGER, UVFIO_PCI_INTX_IRQ, 0, 1, &t->efd[0]), 0);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 0), 0);
	assert_true(status(t) & PCI_STATUS_INTERRUPT);
	assert_int_equal(fired(t->efd[0]), 1);
	assert_true(uvfio_device_irq_masked(t->dev, UVFIO_PCI_INTX_IRQ, 0));
	/* still asserted, still masked: no second interrupt */
	assert_int_equal(uvfio_pci_raise_irq(t->p, 0), 0);
	assert_int_equal(fired(t->efd[0]), 0);
	/* EOI (UNMASK) while the line is high fires again */
	assert_int_equal(set_irqs(t, UNMASK, UVFIO_PCI_INTX_IRQ, 0, 1, NULL), 0);
	assert_int_equal(fired(t->efd[0]), 1);
	/* the device acks: line low, status clear, the next UNMASK is quiet */
	uvfio_pci_set_intx(t->p, false);
	assert_false(status(t) & PCI_STATUS_INTERRUPT);
	assert_int_equal(set_irqs(t, UNMASK, UVFIO_PCI_INTX_IRQ, 0, 1, NULL), 0);
	assert_int_equal(fired(t->efd[0]), 0);
	assert_false(uvfio_device_irq_masked(t->dev, UVFIO_PCI_INTX_IRQ, 0));
	/* a new assert works again */
	uvfio_pci_set_intx(t->p, true);
	assert_int_equal(fired(t->efd[0]), 1);
}

static void test_intx_disable(void **state)
{
	struct t *t = *state;
	assert_int_equal(set_irqs(t, EFD_TRIGGER, UVFIO_PCI_INTX_IRQ, 0, 1, &t->efd[0]), 0);
	command(t, PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 0), 0);
	assert_true(status(t) & PCI_STATUS_INTERRUPT); /* status still reflects the device */
	assert_int_equal(fired(t->efd[0]), 0);
	command(t, 0); /* re-enabled while asserted: the line goes up */
	assert_int_equal(fired(t->efd[0]), 1);
	/* disabling deasserts: after EOI nothing fires */
	command(t, PCI_COMMAND_INTX_DISABLE);
	assert_int_equal(set_irqs(t, UNMASK, UVFIO_PCI_INTX_IRQ, 0, 1, NULL), 0);
	assert_int_equal(fired(t->efd[0]), 0);
	command(t, 0);
	assert_int_equal(fired(t->efd[0]), 1);
	/* other COMMAND writes leave the line alone */
	command(t, PCI_COMMAND_MEMORY);
	assert_int_equal(fired(t->efd[0]), 0);
}

static void test_intx_before_eventfd(void **state)
{
	struct t *t = *state;
	assert_int_equal(uvfio_pci_raise_irq(t->p, 0), 0);
	assert_true(status(t) & PCI_STATUS_INTERRUPT);
	/* the client arrives late: the asserted line is delivered once it listens */
	assert_int_equal(set_irqs(t, EFD_TRIGGER, UVFIO_PCI_INTX_IRQ, 0, 1, &t->efd[0]), 0);
	assert_int_equal(fired(t->efd[0]), 1);
	assert_int_equal(set_irqs(t, EFD_TRIGGER, UVFIO_PCI_INTX_IRQ, 0, 1, &t->efd[1]), 0);
	assert_int_equal(fired(t->efd[1]), 0); /* automasked meanwhile */
}

static void test_no_pin(void **state)
{
	struct uvfio_pci_device *p = uvfio_pci_device_new(&ident);
	assert_non_null(p);
	assert_int_equal(uvfio_pci_raise_irq(p, 0), -ENODEV);
	uvfio_pci_set_intx(p, true);
	assert_false(uvfio_pci_cfg_read16(p, PCI_STATUS) & PCI_STATUS_INTERRUPT);
	assert_int_equal(uvfio_device_set_irqs(uvfio_pci_to_device(p), DISABLE, UVFIO_PCI_INTX_IRQ,
					       0, 0, NULL, NULL),
			 -EINVAL);
	uvfio_pci_device_free(p);
}

static void test_blocked(void **state)
{
	struct t *t = *state;
	assert_int_equal(set_irqs(t, EFD_TRIGGER, UVFIO_PCI_INTX_IRQ, 0, 1, &t->efd[0]), 0);
	/* Quiesced: the line goes up inside the device, the eventfd stays quiet... */
	uvfio_device_set_irq_blocked(t->dev, true);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 0), 0);
	assert_true(status(t) & PCI_STATUS_INTERRUPT);
	assert_int_equal(fired(t->efd[0]), 0);
	/* ...until the gate opens: then the still-asserted line fires once. */
	uvfio_device_set_irq_blocked(t->dev, false);
	assert_int_equal(fired(t->efd[0]), 1);
	/* A line raised and dropped again while quiesced never fires... */
	uvfio_pci_set_intx(t->p, false);
	assert_int_equal(set_irqs(t, UNMASK, UVFIO_PCI_INTX_IRQ, 0, 1, NULL), 0);
	uvfio_device_set_irq_blocked(t->dev, true);
	uvfio_pci_set_intx(t->p, true);
	uvfio_pci_set_intx(t->p, false);
	uvfio_device_set_irq_blocked(t->dev, false);
	assert_int_equal(fired(t->efd[0]), 0);
	/* ...though the vector is live. */
	uvfio_pci_set_intx(t->p, true);
	assert_int_equal(fired(t->efd[0]), 1);
}

static void test_msi_mirror_and_alias(void **state)
{
	struct t *t = *state;
	uint32_t flags = (uint32_t)t->msi + PCI_MSI_FLAGS;
	assert_false(uvfio_pci_msi_enabled(t->p));
	assert_int_equal(set_irqs(t, EFD_TRIGGER, UVFIO_PCI_MSI_IRQ, 0, 2, t->efd), 0);
	assert_true(uvfio_pci_msi_enabled(t->p));
	assert_int_equal((uvfio_pci_cfg_read16(t->p, flags) & PCI_MSI_FLAGS_QSIZE) >> 4, 1);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 1), 0);
	assert_int_equal(fired(t->efd[1]), 1);
	/* MSI wins over INTx: the line is not asserted */
	assert_false(status(t) & PCI_STATUS_INTERRUPT);
	/* two vectors enabled: vector 3 can only change the low bit */
	assert_int_equal(uvfio_pci_raise_irq(t->p, 3), 0);
	assert_int_equal(fired(t->efd[1]), 1);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 4), -EINVAL);
	/* all four: MME 2 */
	assert_int_equal(set_irqs(t, EFD_TRIGGER, UVFIO_PCI_MSI_IRQ, 2, 2, &t->efd[2]), 0);
	assert_int_equal((uvfio_pci_cfg_read16(t->p, flags) & PCI_MSI_FLAGS_QSIZE) >> 4, 2);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 3), 0);
	assert_int_equal(fired(t->efd[3]), 1);
	/* all fds released (-1): the index stays in use, so MSI stays enabled */
	int nones[4] = { -1, -1, -1, -1 };
	assert_int_equal(set_irqs(t, EFD_TRIGGER, UVFIO_PCI_MSI_IRQ, 0, 4, nones), 0);
	assert_true(uvfio_pci_msi_enabled(t->p));
	assert_int_equal(uvfio_pci_cfg_read16(t->p, flags) & PCI_MSI_FLAGS_QSIZE, 0);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 0), -ENOLINK);
	/* disabling the index clears enable and MME; raise falls back to INTx */
	assert_int_equal(set_irqs(t, DISABLE, UVFIO_PCI_MSI_IRQ, 0, 0, NULL), 0);
	assert_false(uvfio_pci_msi_enabled(t->p));
	assert_int_equal(uvfio_pci_cfg_read16(t->p, flags) & PCI_MSI_FLAGS_QSIZE, 0);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 0), 0);
	assert_true(status(t) & PCI_STATUS_INTERRUPT);
}

static void test_msi_mask_pending(void **state)
{
	struct t *t = *state;
	uint32_t mask = (uint32_t)t->msi + PCI_MSI_MASK_64;
	uint32_t pend = (uint32_t)t->msi + PCI_MSI_PENDING_64;
	assert_int_equal(set_irqs(t, EFD_TRIGGER, UVFIO_PCI_MSI_IRQ, 0, 4, t->efd), 0);
	cfg_wr(t, mask, 0x2, 4);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 1), 0);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 1), 0);
	assert_int_equal(fired(t->efd[1]), 0);
	assert_int_equal(uvfio_pci_cfg_read32(t->p, pend), 0x2);
	/* the pending register is read-only for the client */
	cfg_wr(t, pend, 0, 4);
	assert_int_equal(uvfio_pci_cfg_read32(t->p, pend), 0x2);
	/* other vectors are not affected */
	assert_int_equal(uvfio_pci_raise_irq(t->p, 0), 0);
	assert_int_equal(fired(t->efd[0]), 1);
	/* unmask: one delivery, pending clear */
	cfg_wr(t, mask, 0, 4);
	assert_int_equal(fired(t->efd[1]), 1);
	assert_int_equal(uvfio_pci_cfg_read32(t->p, pend), 0);
	/* pending while MSI is disabled by the client is delivered when it enables again */
	cfg_wr(t, mask, 0x1, 4);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 0), 0);
	uint16_t f = uvfio_pci_cfg_read16(t->p, (uint32_t)t->msi + PCI_MSI_FLAGS);
	cfg_wr(t, (uint32_t)t->msi + PCI_MSI_FLAGS, f & ~PCI_MSI_FLAGS_ENABLE, 2);
	cfg_wr(t, mask, 0, 4);
	assert_int_equal(fired(t->efd[0]), 0);
	cfg_wr(t, (uint32_t)t->msi + PCI_MSI_FLAGS, f, 2);
	assert_int_equal(fired(t->efd[0]), 1);
}

static void test_msi_reset_keeps_setup(void **state)
{
	struct t *t = *state;
	uint32_t mask = (uint32_t)t->msi + PCI_MSI_MASK_64;
	assert_int_equal(set_irqs(t, EFD_TRIGGER, UVFIO_PCI_MSI_IRQ, 0, 1, t->efd), 0);
	cfg_wr(t, mask, 0x1, 4);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 0), 0);
	uvfio_pci_reset(t->p);
	assert_int_equal(uvfio_pci_cfg_read32(t->p, mask), 0);
	assert_int_equal(uvfio_pci_cfg_read32(t->p, (uint32_t)t->msi + PCI_MSI_PENDING_64), 0);
	assert_true(uvfio_pci_msi_enabled(t->p));
	assert_int_equal(fired(t->efd[0]), 0);
	assert_int_equal(uvfio_pci_raise_irq(t->p, 0), 0);
	assert_int_equal(fired(t->efd[0]), 1);
}

#define THREADS 4
#define RAISES 2000

static void *raiser(void *arg)
{
	struct t *t = arg;
	for (int i = 0; i < RAISES; i++)
		if (uvfio_pci_raise_irq(t->p, 0) != 0)
			return (void *)1;
	return NULL;
}

static void test_msi_concurrent_raise(void **state)
{
	struct t *t = *state;
	assert_int_equal(set_irqs(t, EFD_TRIGGER, UVFIO_PCI_MSI_IRQ, 0, 1, t->efd), 0);
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, raiser, t), 0);
	/* meanwhile the loop thread reads config space */
	for (int i = 0; i < 1000; i++)
		assert_true(uvfio_pci_msi_enabled(t->p));
	for (int i = 0; i < THREADS; i++) {
		void *ret;
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	/* every raise reached the eventfd exactly once */
	assert_int_equal(fired(t->efd[0]), THREADS * RAISES);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_intx_assert_automask_unmask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_disable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_intx_before_eventfd, setup, teardown),
		cmocka_unit_test(test_no_pin),
		cmocka_unit_test_setup_teardown(test_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_mirror_and_alias, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_mask_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_reset_keeps_setup, setup, teardown),
		cmocka_unit_test_setup_teardown(test_msi_concurrent_raise, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
