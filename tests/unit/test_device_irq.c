/* SPDX-License-Identifier: MIT */
/* Device core: region access checks, SET_IRQS semantics and validation, irq contexts. */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cmocka.h>

#include <uvfio/device.h>
#include <uvfio/dma.h>

#define EDGE 0 /* index 0: edge, maskable */
#define LEVEL 1 /* index 1: level, maskable, automasked */
#define PLAIN 2 /* index 2: not maskable */
#define EMPTY 3 /* index 3: no vectors */

struct tdev {
	struct uvfio_device *dev;
	int changed[4];
	int unmasked[4];
	int resets, closes, opens;
	uint8_t mem[64];
};

static ssize_t mem_rw(struct uvfio_device *dev, uint32_t index, uint64_t offset, void *buf,
		      size_t count, bool is_write)
{
	struct tdev *t = uvfio_device_priv(dev);
	if (is_write)
		memcpy(t->mem + offset, buf, count);
	else
		memcpy(buf, t->mem + offset, count);
	return (ssize_t)count;
}

static void irqs_changed(struct uvfio_device *dev, uint32_t index)
{
	((struct tdev *)uvfio_device_priv(dev))->changed[index]++;
}

static int do_reset(struct uvfio_device *dev)
{
	((struct tdev *)uvfio_device_priv(dev))->resets++;
	return 0;
}

static int do_open(struct uvfio_device *dev)
{
	((struct tdev *)uvfio_device_priv(dev))->opens++;
	return 0;
}

static void do_close(struct uvfio_device *dev)
{
	((struct tdev *)uvfio_device_priv(dev))->closes++;
}

static const struct uvfio_device_ops ops = {
	.name = "t",
	.open = do_open,
	.close = do_close,
	.reset = do_reset,
	.irqs_changed = irqs_changed,
};

static void irq_unmasked(struct uvfio_device *dev, uint32_t index, uint32_t vector)
{
	((struct tdev *)uvfio_device_priv(dev))->unmasked[index]++;
}

static const struct uvfio_device_ops ops_unmask_hook = {
	.name = "t2",
	.reset = do_reset,
	.irqs_changed = irqs_changed,
	.irq_unmasked = irq_unmasked,
};

static int setup(void **state)
{
	static struct tdev t;
	memset(&t, 0, sizeof(t));
	t.dev = uvfio_device_new(&ops, UVFIO_DEVICE_FLAGS_RESET, 2, 4);
	assert_non_null(t.dev);
	uvfio_device_set_priv(t.dev, &t);
	struct uvfio_region r = { .size = sizeof(t.mem),
				  .flags = UVFIO_REGION_READ | UVFIO_REGION_WRITE,
				  .rw = mem_rw,
				  .mmap_fd = -1 };
	assert_int_equal(uvfio_device_set_region(t.dev, 0, &r), 0);
	r.flags = UVFIO_REGION_READ;
	assert_int_equal(uvfio_device_set_region(t.dev, 1, &r), 0);
	assert_int_equal(uvfio_device_set_irq_info(t.dev, EDGE, 4,
						   UVFIO_IRQ_INFO_EVENTFD | UVFIO_IRQ_INFO_MASKABLE),
			 0);
	assert_int_equal(uvfio_device_set_irq_info(t.dev, LEVEL, 1,
						   UVFIO_IRQ_INFO_EVENTFD | UVFIO_IRQ_INFO_MASKABLE |
							   UVFIO_IRQ_INFO_AUTOMASKED),
			 0);
	assert_int_equal(uvfio_device_set_irq_info(t.dev, PLAIN, 2, UVFIO_IRQ_INFO_EVENTFD), 0);
	*state = &t;
	return 0;
}

static int teardown(void **state)
{
	struct tdev *t = *state;
	uvfio_device_free(t->dev);
	return 0;
}

static int new_efd(void)
{
	int fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

/* How many times the eventfd was signalled since the last call. */
static uint64_t fired(int fd)
{
	uint64_t v = 0;
	if (read(fd, &v, sizeof(v)) != sizeof(v))
		return 0;
	return v;
}

static int assign(struct uvfio_device *dev, uint32_t index, uint32_t start, uint32_t count,
		  const int *fds)
{
	return uvfio_device_set_irqs(dev, UVFIO_IRQ_SET_DATA_EVENTFD | UVFIO_IRQ_SET_ACTION_TRIGGER,
				     index, start, count, NULL, fds);
}

static void test_region_rw(void **state)
{
	struct tdev *t = *state;
	uint8_t buf[8] = { 1, 2, 3, 4, 5, 6, 7, 8 }, out[8] = { 0 };
	assert_int_equal(uvfio_device_region_rw(t->dev, 0, 8, buf, 8, true), 8);
	assert_int_equal(uvfio_device_region_rw(t->dev, 0, 8, out, 8, false), 8);
	assert_memory_equal(buf, out, 8);
	assert_int_equal(uvfio_device_region_rw(t->dev, 0, 63, out, 1, false), 1);
	/* bad index, unimplemented region, missing flag, ranges, zero count, NULL buffer */
	assert_int_equal(uvfio_device_region_rw(t->dev, 2, 0, out, 1, false), -EINVAL);
	assert_int_equal(uvfio_device_region_rw(t->dev, UINT32_MAX, 0, out, 1, false), -EINVAL);
	assert_int_equal(uvfio_device_region_rw(t->dev, 1, 0, buf, 1, true), -EINVAL);
	assert_int_equal(uvfio_device_region_rw(t->dev, 1, 0, out, 1, false), 1);
	assert_int_equal(uvfio_device_region_rw(t->dev, 0, 64, out, 1, false), -EINVAL);
	assert_int_equal(uvfio_device_region_rw(t->dev, 0, 60, out, 8, false), -EINVAL);
	assert_int_equal(uvfio_device_region_rw(t->dev, 0, UINT64_MAX, out, 2, false), -EINVAL);
	assert_int_equal(uvfio_device_region_rw(t->dev, 0, 1, out, SIZE_MAX, false), -EINVAL);
	assert_int_equal(uvfio_device_region_rw(t->dev, 0, 0, out, 0, false), -EINVAL);
	assert_int_equal(uvfio_device_region_rw(t->dev, 0, 0, NULL, 1, false), -EINVAL);
	/* set_region validation */
	struct uvfio_region r = { .size = 8, .flags = UVFIO_REGION_READ, .mmap_fd = -1 };
	assert_int_equal(uvfio_device_set_region(t->dev, 0, &r), -EINVAL); /* no rw */
	r.rw = mem_rw;
	assert_int_equal(uvfio_device_set_region(t->dev, 16, &r), -EINVAL); /* past the limit */
	assert_int_equal(uvfio_device_num_regions(t->dev), 2);
	/* A device-specific region past the fixed ones grows the table; the gap stays empty. */
	assert_int_equal(uvfio_device_set_region(t->dev, 4, &r), 0);
	assert_int_equal(uvfio_device_num_regions(t->dev), 5);
	assert_int_equal(uvfio_device_get_region(t->dev, 3)->size, 0);
	assert_int_equal(uvfio_device_region_rw(t->dev, 3, 0, out, 1, false), -EINVAL);
	assert_int_equal(uvfio_device_region_rw(t->dev, 4, 0, out, 1, false), 1);
	assert_int_equal(uvfio_device_num_irqs(t->dev), 4);
	assert_int_equal(uvfio_device_flags(t->dev), UVFIO_DEVICE_FLAGS_RESET);
	assert_non_null(uvfio_device_dma_space(t->dev));
}

static void test_irq_info(void **state)
{
	struct tdev *t = *state;
	uint32_t count = 99, flags = 99;
	assert_int_equal(uvfio_device_get_irq_info(t->dev, LEVEL, &count, &flags), 0);
	assert_int_equal(count, 1);
	assert_int_equal(flags, UVFIO_IRQ_INFO_EVENTFD | UVFIO_IRQ_INFO_MASKABLE |
					UVFIO_IRQ_INFO_AUTOMASKED);
	assert_int_equal(uvfio_device_get_irq_info(t->dev, 4, &count, &flags), -EINVAL);
	assert_int_equal(uvfio_device_set_irq_info(t->dev, 4, 1, 0), -EINVAL);
	assert_int_equal(uvfio_device_set_irq_info(t->dev, 0, 1u << 20, 0), -EINVAL);
}

static void test_set_irqs_validation(void **state)
{
	struct tdev *t = *state;
	struct uvfio_device *d = t->dev;
	int fds[4] = { -1, -1, -1, -1 };
	uint8_t bools[4] = { 1, 1, 1, 1 };
	const uint32_t N = UVFIO_IRQ_SET_DATA_NONE, B = UVFIO_IRQ_SET_DATA_BOOL,
		       E = UVFIO_IRQ_SET_DATA_EVENTFD, M = UVFIO_IRQ_SET_ACTION_MASK,
		       U = UVFIO_IRQ_SET_ACTION_UNMASK, T = UVFIO_IRQ_SET_ACTION_TRIGGER;
	/* two data bits, no data, two actions, no action, unknown bits */
	assert_int_equal(uvfio_device_set_irqs(d, N | B | T, EDGE, 0, 1, bools, NULL), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, B | E | T, EDGE, 0, 1, bools, fds), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, T, EDGE, 0, 1, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, N | M | U, EDGE, 0, 1, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, N, EDGE, 0, 1, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, N | T | (1u << 6), EDGE, 0, 1, NULL, NULL),
			 -EINVAL);
	/* bad index, index without vectors */
	assert_int_equal(uvfio_device_set_irqs(d, N | T, 4, 0, 1, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, N | T, UINT32_MAX, 0, 1, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, N | T, EMPTY, 0, 0, NULL, NULL), -EINVAL);
	/* start/count out of range and wrapping */
	assert_int_equal(uvfio_device_set_irqs(d, N | T, EDGE, 4, 1, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, N | T, EDGE, 2, 3, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, N | T, EDGE, 1, UINT32_MAX, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, N | T, EDGE, UINT32_MAX, 2, NULL, NULL), -EINVAL);
	/* count 0 is only "disable the index" */
	assert_int_equal(uvfio_device_set_irqs(d, B | T, EDGE, 0, 0, bools, NULL), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, E | T, EDGE, 0, 0, NULL, fds), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, N | M, EDGE, 0, 0, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, N | U, EDGE, 0, 0, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, N | T, EDGE, 0, 0, NULL, NULL), 0);
	/* missing payloads */
	assert_int_equal(uvfio_device_set_irqs(d, B | T, EDGE, 0, 1, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, E | T, EDGE, 0, 1, NULL, NULL), -EINVAL);
	/* mask/unmask on a non-maskable index, in every data type */
	assert_int_equal(uvfio_device_set_irqs(d, N | M, PLAIN, 0, 1, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, B | U, PLAIN, 0, 1, bools, NULL), -EINVAL);
	assert_int_equal(uvfio_device_set_irqs(d, E | U, PLAIN, 0, 1, NULL, fds), -EINVAL);
	/* irqfd without a fd watcher */
	int efd = new_efd();
	assert_int_equal(uvfio_device_set_irqs(d, E | U, EDGE, 0, 1, NULL, &efd), -ENOTSUP);
	close(efd);
}

static void test_bad_fds(void **state)
{
	struct tdev *t = *state;
	int good = new_efd();
	int rdonly = open("/dev/null", O_RDONLY | O_CLOEXEC);
	assert_true(rdonly >= 0);
	/* A closed fd whose number stays unused: the core's own dup()s take the lowest free
	 * numbers, which would bring a just-closed small number back to life. */
	int closed = 900;
	assert_int_equal(fcntl(closed, F_GETFD), -1);
	int fds[2] = { good, closed };
	assert_int_equal(assign(t->dev, EDGE, 0, 2, fds), -EBADF);
	/* nothing was applied: the set is all-or-nothing */
	assert_false(uvfio_device_irq_enabled(t->dev, EDGE, 0));
	fds[1] = -2;
	assert_int_equal(assign(t->dev, EDGE, 0, 2, fds), -EBADF);
	fds[1] = rdonly; /* open, but no eventfd: the kernel's answer */
	assert_int_equal(assign(t->dev, EDGE, 0, 2, fds), -EINVAL);
	assert_int_equal(t->changed[EDGE], 0);
	fds[1] = -1;
	assert_int_equal(assign(t->dev, EDGE, 0, 2, fds), 0);
	assert_true(uvfio_device_irq_enabled(t->dev, EDGE, 0));
	assert_false(uvfio_device_irq_enabled(t->dev, EDGE, 1));
	assert_int_equal(t->changed[EDGE], 1);
	close(good);
	close(rdonly);
}

static void test_edge_trigger_mask_pending(void **state)
{
	struct tdev *t = *state;
	int efd = new_efd();
	assert_int_equal(uvfio_device_irq_trigger(t->dev, EDGE, 1), -ENOLINK);
	assert_int_equal(assign(t->dev, EDGE, 1, 1, &efd), 0);
	/* the core keeps a dup: closing ours must not break delivery */
	int mine = dup(efd);
	close(efd);
	efd = mine;
	assert_int_equal(uvfio_device_irq_trigger(t->dev, EDGE, 1), 0);
	assert_int_equal(fired(efd), 1);
	assert_int_equal(uvfio_device_irq_trigger(t->dev, EDGE, 4), -EINVAL);
	assert_int_equal(uvfio_device_irq_trigger(t->dev, 9, 0), -EINVAL);

	uint8_t sel[2] = { 0, 1 }; /* BOOL selects vector 1 only */
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_BOOL | UVFIO_IRQ_SET_ACTION_MASK,
					       EDGE, 0, 2, sel, NULL),
			 0);
	assert_false(uvfio_device_irq_masked(t->dev, EDGE, 0));
	assert_true(uvfio_device_irq_masked(t->dev, EDGE, 1));
	assert_int_equal(uvfio_device_irq_trigger(t->dev, EDGE, 1), 0);
	assert_int_equal(uvfio_device_irq_trigger(t->dev, EDGE, 1), 0);
	assert_int_equal(fired(efd), 0);
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_UNMASK,
					       EDGE, 1, 1, NULL, NULL),
			 0);
	assert_int_equal(fired(efd), 1); /* pending delivered once */
	assert_false(uvfio_device_irq_masked(t->dev, EDGE, 1));
	/* unmask without pending delivers nothing */
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_UNMASK,
					       EDGE, 1, 1, NULL, NULL),
			 0);
	assert_int_equal(fired(efd), 0);
	close(efd);
}

static void test_loopback_and_deassign(void **state)
{
	struct tdev *t = *state;
	int a = new_efd(), b = new_efd();
	int fds[2] = { a, b };
	assert_int_equal(assign(t->dev, EDGE, 0, 2, fds), 0);
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_TRIGGER,
					       EDGE, 0, 2, NULL, NULL),
			 0);
	assert_int_equal(fired(a), 1);
	assert_int_equal(fired(b), 1);
	uint8_t sel[2] = { 1, 0 };
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_BOOL | UVFIO_IRQ_SET_ACTION_TRIGGER,
					       EDGE, 0, 2, sel, NULL),
			 0);
	assert_int_equal(fired(a), 1);
	assert_int_equal(fired(b), 0);
	/* -1 de-assigns one vector; the index stays in use */
	int none = -1;
	assert_int_equal(assign(t->dev, EDGE, 1, 1, &none), 0);
	assert_false(uvfio_device_irq_enabled(t->dev, EDGE, 1));
	assert_true(uvfio_device_irq_enabled(t->dev, EDGE, 0));
	assert_true(uvfio_device_irq_index_enabled(t->dev, EDGE));
	int nones[2] = { -1, -1 };
	assert_int_equal(assign(t->dev, EDGE, 0, 2, nones), 0);
	assert_true(uvfio_device_irq_index_enabled(t->dev, EDGE));
	assert_false(uvfio_device_irq_enabled(t->dev, EDGE, 0));
	assert_int_equal(assign(t->dev, EDGE, 0, 2, fds), 0);
	/* count 0 disables the whole index and clears masks */
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_MASK,
					       EDGE, 0, 1, NULL, NULL),
			 0);
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_TRIGGER,
					       EDGE, 0, 0, NULL, NULL),
			 0);
	assert_false(uvfio_device_irq_enabled(t->dev, EDGE, 0));
	assert_false(uvfio_device_irq_masked(t->dev, EDGE, 0));
	assert_false(uvfio_device_irq_index_enabled(t->dev, EDGE));
	assert_int_equal(uvfio_device_irq_trigger(t->dev, EDGE, 0), -ENOLINK);
	assert_int_equal(fired(a), 0);
	close(a);
	close(b);
}

static void test_level_automask(void **state)
{
	struct tdev *t = *state;
	int efd = new_efd();
	assert_int_equal(assign(t->dev, LEVEL, 0, 1, &efd), 0);
	assert_int_equal(uvfio_device_irq_level(t->dev, LEVEL, 0, true), 0);
	assert_int_equal(fired(efd), 1);
	assert_true(uvfio_device_irq_masked(t->dev, LEVEL, 0));
	/* still asserted: no storm */
	assert_int_equal(uvfio_device_irq_level(t->dev, LEVEL, 0, true), 0);
	assert_int_equal(fired(efd), 0);
	/* unmask while asserted fires again and re-masks (no irq_unmasked hook here) */
	const uint32_t unmask = UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_UNMASK;
	assert_int_equal(uvfio_device_set_irqs(t->dev, unmask, LEVEL, 0, 1, NULL, NULL), 0);
	assert_int_equal(fired(efd), 1);
	assert_true(uvfio_device_irq_masked(t->dev, LEVEL, 0));
	/* deasserted: unmask is quiet */
	assert_int_equal(uvfio_device_irq_level(t->dev, LEVEL, 0, false), 0);
	assert_int_equal(uvfio_device_set_irqs(t->dev, unmask, LEVEL, 0, 1, NULL, NULL), 0);
	assert_int_equal(fired(efd), 0);
	assert_false(uvfio_device_irq_masked(t->dev, LEVEL, 0));
	assert_int_equal(uvfio_device_irq_level(t->dev, LEVEL, 1, true), -EINVAL);
	close(efd);
}

static void test_unmask_hook(void **state)
{
	struct tdev *t = *state;
	uvfio_device_set_ops(t->dev, &ops_unmask_hook);
	assert_ptr_equal(uvfio_device_get_ops(t->dev), &ops_unmask_hook);
	int efd = new_efd();
	assert_int_equal(assign(t->dev, LEVEL, 0, 1, &efd), 0);
	assert_int_equal(uvfio_device_irq_level(t->dev, LEVEL, 0, true), 0);
	assert_int_equal(fired(efd), 1);
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_UNMASK,
					       LEVEL, 0, 1, NULL, NULL),
			 0);
	/* the hook decides: the core itself does not re-fire */
	assert_int_equal(t->unmasked[LEVEL], 1);
	assert_int_equal(fired(efd), 0);
	uvfio_device_set_ops(t->dev, &ops);
	close(efd);
}

/* A fake event loop: one slot per watched fd; the test "dispatches" by hand. */
struct fake_loop {
	int fd[8];
	void (*cb[8])(void *);
	void *arg[8];
	int n;
};

static int fake_watch(void *loop, int fd, void (*cb)(void *arg), void *arg)
{
	struct fake_loop *l = loop;
	if (l->n == 8)
		return -ENOSPC;
	l->fd[l->n] = fd;
	l->cb[l->n] = cb;
	l->arg[l->n] = arg;
	l->n++;
	return 0;
}

static void fake_unwatch(void *loop, int fd)
{
	struct fake_loop *l = loop;
	for (int i = 0; i < l->n; i++) {
		if (l->fd[i] != fd)
			continue;
		l->n--;
		l->fd[i] = l->fd[l->n];
		l->cb[i] = l->cb[l->n];
		l->arg[i] = l->arg[l->n];
		return;
	}
	fail_msg("unwatch of an fd that is not watched");
}

/* Runs the callbacks of the fds that are readable, as an epoll loop would. */
static void dispatch(struct fake_loop *l)
{
	for (int i = 0; i < l->n; i++) {
		struct pollfd p = { .fd = l->fd[i], .events = POLLIN };
		if (poll(&p, 1, 0) == 1)
			l->cb[i](l->arg[i]);
	}
}

static void test_irqfd_unmask(void **state)
{
	struct tdev *t = *state;
	struct fake_loop loop = { .n = 0 };
	uvfio_device_set_fd_watcher(t->dev, fake_watch, fake_unwatch, &loop);
	int efd = new_efd(), unmask_fd = new_efd();
	assert_int_equal(assign(t->dev, LEVEL, 0, 1, &efd), 0);
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_EVENTFD |
						       UVFIO_IRQ_SET_ACTION_UNMASK,
					       LEVEL, 0, 1, NULL, &unmask_fd),
			 0);
	assert_int_equal(loop.n, 1);
	assert_int_equal(uvfio_device_irq_level(t->dev, LEVEL, 0, true), 0);
	assert_int_equal(fired(efd), 1);
	assert_true(uvfio_device_irq_masked(t->dev, LEVEL, 0));
	/* the client's EOI: signal the unmask eventfd, the loop calls back */
	uint64_t one = 1;
	assert_int_equal(write(unmask_fd, &one, sizeof(one)), sizeof(one));
	dispatch(&loop);
	assert_int_equal(fired(efd), 1); /* still asserted: fired again */
	assert_int_equal(fired(unmask_fd), 0); /* the core drained it */
	/* de-assign with -1 */
	int none = -1;
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_EVENTFD |
						       UVFIO_IRQ_SET_ACTION_UNMASK,
					       LEVEL, 0, 1, NULL, &none),
			 0);
	assert_int_equal(loop.n, 0);
	/* a mask irqfd, then close drops it */
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_EVENTFD | UVFIO_IRQ_SET_ACTION_MASK,
					       EDGE, 2, 1, NULL, &unmask_fd),
			 0);
	assert_int_equal(loop.n, 1);
	dispatch(&loop); /* not signalled: nothing happens */
	assert_false(uvfio_device_irq_masked(t->dev, EDGE, 2));
	assert_int_equal(write(unmask_fd, &one, sizeof(one)), sizeof(one));
	dispatch(&loop);
	assert_true(uvfio_device_irq_masked(t->dev, EDGE, 2));
	uvfio_device_close(t->dev);
	assert_int_equal(loop.n, 0);
	close(efd);
	close(unmask_fd);
}

static int failing_watch(void *loop, int fd, void (*cb)(void *arg), void *arg)
{
	return -EMFILE;
}

static void test_irqfd_bad_input(void **state)
{
	struct tdev *t = *state;
	struct fake_loop loop = { .n = 0 };
	const uint32_t eu = UVFIO_IRQ_SET_DATA_EVENTFD | UVFIO_IRQ_SET_ACTION_UNMASK;
	uvfio_device_set_fd_watcher(t->dev, fake_watch, fake_unwatch, &loop);
	int closed = new_efd();
	close(closed);
	assert_int_equal(uvfio_device_set_irqs(t->dev, eu, EDGE, 0, 1, NULL, &closed), -EBADF);
	int wronly = open("/dev/null", O_WRONLY | O_CLOEXEC);
	assert_true(wronly >= 0);
	assert_int_equal(uvfio_device_set_irqs(t->dev, eu, EDGE, 0, 1, NULL, &wronly), -EINVAL);
	close(wronly);
	assert_int_equal(loop.n, 0);
	/* the event loop refuses: the error reaches the client, nothing is left watched */
	int efd = new_efd();
	uvfio_device_set_fd_watcher(t->dev, failing_watch, fake_unwatch, &loop);
	assert_int_equal(uvfio_device_set_irqs(t->dev, eu, EDGE, 0, 1, NULL, &efd), -EMFILE);
	uvfio_device_set_fd_watcher(t->dev, fake_watch, fake_unwatch, &loop);
	uvfio_device_close(t->dev);
	assert_int_equal(loop.n, 0);
	close(efd);
}

static void test_open_close_reset_feature(void **state)
{
	struct tdev *t = *state;
	assert_int_equal(uvfio_device_open(t->dev), 0);
	assert_int_equal(uvfio_device_open(t->dev), -EBUSY);
	int efd = new_efd();
	assert_int_equal(assign(t->dev, EDGE, 0, 1, &efd), 0);
	assert_int_equal(uvfio_device_set_irqs(t->dev,
					       UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_ACTION_MASK,
					       EDGE, 0, 1, NULL, NULL),
			 0);
	int changed = t->changed[EDGE];
	uvfio_device_close(t->dev);
	assert_int_equal(t->closes, 1);
	assert_int_equal(t->resets, 1);
	assert_false(uvfio_device_irq_enabled(t->dev, EDGE, 0));
	assert_false(uvfio_device_irq_masked(t->dev, EDGE, 0));
	assert_false(uvfio_device_irq_index_enabled(t->dev, EDGE));
	assert_true(t->changed[EDGE] > changed);
	assert_int_equal(uvfio_device_open(t->dev), 0);
	assert_int_equal(t->opens, 2);
	assert_int_equal(uvfio_device_reset(t->dev), 0);
	assert_int_equal(t->resets, 2);
	/* no feature op */
	size_t olen = 0;
	assert_int_equal(uvfio_device_feature(t->dev, 1u << 16 | 1, NULL, 0, NULL, &olen),
			 -EINVAL);
	assert_int_equal(uvfio_device_feature(t->dev, 1u << 17 | 1, NULL, 0, NULL, NULL), -ENOTTY);
	assert_int_equal(uvfio_device_feature(t->dev, 3u << 16 | 1, NULL, 0, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_device_feature(t->dev, 1u << 20, NULL, 0, NULL, NULL), -EINVAL);
	assert_int_equal(uvfio_device_feature(t->dev, 1u << 17 | 1, NULL, 4, NULL, NULL), -EINVAL);
	close(efd);
}

static void test_blocked(void **state)
{
	struct tdev *t = *state;
	int efd = new_efd();
	int lfd = new_efd();
	assert_int_equal(assign(t->dev, EDGE, 0, 1, &efd), 0);
	assert_int_equal(assign(t->dev, LEVEL, 0, 1, &lfd), 0);
	/* Blocked: raises are accepted and held back. */
	uvfio_device_set_irq_blocked(t->dev, true);
	assert_true(uvfio_device_irq_blocked(t->dev));
	assert_int_equal(uvfio_device_irq_trigger(t->dev, EDGE, 0), 0);
	assert_int_equal(uvfio_device_irq_trigger(t->dev, EDGE, 0), 0);
	assert_int_equal(uvfio_device_irq_level(t->dev, LEVEL, 0, true), 0);
	assert_int_equal(fired(efd), 0);
	assert_int_equal(fired(lfd), 0);
	/* Unblocked: one edge per vector (they coalesce, like a pending bit), the line fires
	 * and automasks. */
	uvfio_device_set_irq_blocked(t->dev, false);
	assert_int_equal(fired(efd), 1);
	assert_int_equal(fired(lfd), 1);
	assert_true(uvfio_device_irq_masked(t->dev, LEVEL, 0));
	/* An edge deferred to a vector the client masked meanwhile becomes pending. */
	uvfio_device_set_irq_blocked(t->dev, true);
	assert_int_equal(uvfio_device_irq_trigger(t->dev, EDGE, 0), 0);
	assert_int_equal(uvfio_device_set_irqs(t->dev, UVFIO_IRQ_SET_DATA_NONE |
							       UVFIO_IRQ_SET_ACTION_MASK,
					       EDGE, 0, 1, NULL, NULL),
			 0);
	uvfio_device_set_irq_blocked(t->dev, false);
	assert_int_equal(fired(efd), 0);
	assert_int_equal(uvfio_device_set_irqs(t->dev, UVFIO_IRQ_SET_DATA_NONE |
							       UVFIO_IRQ_SET_ACTION_UNMASK,
					       EDGE, 0, 1, NULL, NULL),
			 0);
	assert_int_equal(fired(efd), 1);
	close(efd);
	close(lfd);
}

#define THREADS 4
#define TRIGGERS 5000

static void *trigger_thread(void *arg)
{
	struct tdev *t = arg;
	for (int i = 0; i < TRIGGERS; i++)
		if (uvfio_device_irq_trigger(t->dev, EDGE, 3) != 0)
			return (void *)1;
	return NULL;
}

/* Eventfds are swapped while device threads trigger: no signal is lost or sent to a closed fd. */
static void test_concurrent_trigger_and_reassign(void **state)
{
	struct tdev *t = *state;
	int a = new_efd(), b = new_efd();
	assert_int_equal(assign(t->dev, EDGE, 3, 1, &a), 0);
	pthread_t th[THREADS];
	for (int i = 0; i < THREADS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, trigger_thread, t), 0);
	uint64_t total = 0;
	for (int i = 0; i < 200; i++) {
		assert_int_equal(assign(t->dev, EDGE, 3, 1, (i & 1) ? &a : &b), 0);
		total += fired(a) + fired(b);
	}
	for (int i = 0; i < THREADS; i++) {
		void *ret;
		assert_int_equal(pthread_join(th[i], &ret), 0);
		assert_null(ret);
	}
	total += fired(a) + fired(b);
	assert_int_equal(total, THREADS * TRIGGERS);
	close(a);
	close(b);
}

static void test_new_limits(void **state)
{
	assert_null(uvfio_device_new(&ops, 0, UVFIO_MAX_REGIONS + 1, 1));
	assert_null(uvfio_device_new(&ops, 0, 1, 1000));
	struct uvfio_device *d = uvfio_device_new(NULL, 0, 0, 0);
	assert_non_null(d);
	uvfio_device_set_name(d, "x0");
	assert_string_equal(uvfio_device_name(d), "x0");
	assert_int_equal(uvfio_device_reset(d), -ENOTTY);
	uvfio_device_free(d);
	uvfio_device_free(NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_region_rw, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irq_info, setup, teardown),
		cmocka_unit_test_setup_teardown(test_set_irqs_validation, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_fds, setup, teardown),
		cmocka_unit_test_setup_teardown(test_edge_trigger_mask_pending, setup, teardown),
		cmocka_unit_test_setup_teardown(test_loopback_and_deassign, setup, teardown),
		cmocka_unit_test_setup_teardown(test_level_automask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_unmask_hook, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irqfd_unmask, setup, teardown),
		cmocka_unit_test_setup_teardown(test_irqfd_bad_input, setup, teardown),
		cmocka_unit_test_setup_teardown(test_open_close_reset_feature, setup, teardown),
		cmocka_unit_test_setup_teardown(test_blocked, setup, teardown),
		cmocka_unit_test_setup_teardown(test_concurrent_trigger_and_reassign, setup, teardown),
		cmocka_unit_test(test_new_limits),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
