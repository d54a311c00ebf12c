/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cmocka.h>

#include <uvfio/device.h>
#include <uvfio/dma.h>

#define PAGE 4096u

static bool gate_open = true;

static bool test_dma_allowed(struct uvfio_device *dev)
{
	(void)dev;
	return gate_open;
}

static const struct uvfio_device_ops test_ops = {
	.name = "dmatest",
	.dma_allowed = test_dma_allowed,
};

struct fixture {
	struct uvfio_device *dev;
	struct uvfio_dma_space *space;
	int fd;
	uint8_t *mem; /* the "guest" view of fd */
};

static int setup(void **state)
{
	static struct fixture f;

	gate_open = true;
	f.dev = uvfio_device_new(&test_ops, 0, 0, 0);
	if (!f.dev)
		return -1;
	f.space = uvfio_device_dma_space(f.dev);
	f.fd = memfd_create("dma", 0);
	if (f.fd < 0 || ftruncate(f.fd, 16 * PAGE) < 0)
		return -1;
	f.mem = mmap(NULL, 16 * PAGE, PROT_READ | PROT_WRITE, MAP_SHARED, f.fd, 0);
	if (f.mem == MAP_FAILED)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uvfio_device_free(f->dev);
	munmap(f->mem, 16 * PAGE);
	close(f->fd);
	return 0;
}

static const uint32_t RW = UVFIO_DMA_READ | UVFIO_DMA_WRITE;

static void test_add_errors(void **state)
{
	struct fixture *f = *state;

	assert_int_equal(uvfio_dma_space_add(f->space, 0x10000, 0, RW, -1, 0), -EINVAL);
	assert_int_equal(uvfio_dma_space_add(f->space, UINT64_MAX - 10, 100, RW, -1, 0), -EINVAL);
	assert_int_equal(uvfio_dma_space_add(f->space, 0x10000, PAGE, 0x4, -1, 0), -EINVAL);
	assert_int_equal(uvfio_dma_space_add(f->space, 0x10000, 2 * PAGE, RW, f->fd, 0), 0);
	/* Overlaps: inside, straddling start, straddling end, covering. */
	assert_int_equal(uvfio_dma_space_add(f->space, 0x11000, PAGE, RW, -1, 0), -EEXIST);
	assert_int_equal(uvfio_dma_space_add(f->space, 0xf000, 2 * PAGE, RW, -1, 0), -EEXIST);
	assert_int_equal(uvfio_dma_space_add(f->space, 0x11fff, PAGE, RW, -1, 0), -EEXIST);
	assert_int_equal(uvfio_dma_space_add(f->space, 0x0, 0x100000, RW, -1, 0), -EEXIST);
	/* Adjacent on both sides is fine. */
	assert_int_equal(uvfio_dma_space_add(f->space, 0xf000, PAGE, RW, -1, 0), 0);
	assert_int_equal(uvfio_dma_space_add(f->space, 0x12000, PAGE, RW, -1, 0), 0);
	/* A window that ends exactly at 2^64 does not wrap. */
	assert_int_equal(uvfio_dma_space_add(f->space, UINT64_MAX - PAGE + 1, PAGE, RW, -1, 0), 0);
	assert_int_equal(uvfio_dma_space_count(f->space), 4);
	uvfio_dma_space_set_max_windows(f->space, 4);
	assert_int_equal(uvfio_dma_space_add(f->space, 0x100000, PAGE, RW, -1, 0), -ENOSPC);
	/* Remove needs the exact window. */
	assert_int_equal(uvfio_dma_space_remove(f->space, 0x10000, PAGE), -ENOENT);
	assert_int_equal(uvfio_dma_space_remove(f->space, 0x11000, PAGE), -ENOENT);
	assert_int_equal(uvfio_dma_space_remove(f->space, 0x500000, PAGE), -ENOENT);
	assert_int_equal(uvfio_dma_space_remove(f->space, 0x10000, 2 * PAGE), 0);
	assert_int_equal(uvfio_dma_space_count(f->space), 3);
	uvfio_dma_space_remove_all(f->space);
	assert_int_equal(uvfio_dma_space_count(f->space), 0);
	/* A bad fd fails at mmap with its errno. */
	assert_int_equal(uvfio_dma_space_add(f->space, 0x10000, PAGE, RW, 1000, 0), -EBADF);
}

static void test_rw_spanning(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[3 * PAGE], back[3 * PAGE];

	/* Two adjacent windows backed by different parts of the file, the second at an
	 * unaligned file offset. */
	assert_int_equal(uvfio_dma_space_add(f->space, 0x100000, PAGE, RW, f->fd, 4 * PAGE), 0);
	assert_int_equal(uvfio_dma_space_add(f->space, 0x101000, 2 * PAGE, RW, f->fd, 8 * PAGE + 16), 0);
	for (size_t i = 0; i < sizeof(buf); i++)
		buf[i] = (uint8_t)(i * 7 + 1);
	assert_int_equal(uvfio_dma_write(f->dev, 0x100000, buf, sizeof(buf)), 0);
	assert_memory_equal(f->mem + 4 * PAGE, buf, PAGE);
	assert_memory_equal(f->mem + 8 * PAGE + 16, buf + PAGE, 2 * PAGE);
	memset(back, 0, sizeof(back));
	assert_int_equal(uvfio_dma_read(f->dev, 0x100000, back, sizeof(back)), 0);
	assert_memory_equal(back, buf, sizeof(buf));
	/* Runs past the end, starts in a hole, wraps. */
	assert_int_equal(uvfio_dma_read(f->dev, 0x102ff0, back, 32), -EFAULT);
	assert_int_equal(uvfio_dma_read(f->dev, 0xff000, back, 16), -EFAULT);
	assert_int_equal(uvfio_dma_read(f->dev, UINT64_MAX - 4, back, 16), -EFAULT);
	/* Zero length is a no-op. */
	assert_int_equal(uvfio_dma_read(f->dev, 0x900000, back, 0), 0);
}

static void test_permissions(void **state)
{
	struct fixture *f = *state;
	uint8_t b[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
	struct uvfio_dma_ref ref;

	assert_int_equal(uvfio_dma_space_add(f->space, 0x200000, PAGE, UVFIO_DMA_READ, f->fd, 0), 0);
	assert_int_equal(uvfio_dma_space_add(f->space, 0x201000, PAGE, UVFIO_DMA_WRITE, f->fd, PAGE), 0);
	assert_int_equal(uvfio_dma_write(f->dev, 0x200000, b, 8), -EACCES);
	assert_int_equal(uvfio_dma_read(f->dev, 0x201000, b, 8), -EACCES);
	assert_int_equal(uvfio_dma_write(f->dev, 0x201000, b, 8), 0);
	assert_memory_equal(f->mem + PAGE, b, 8);
	f->mem[0] = 0x5a;
	assert_int_equal(uvfio_dma_read(f->dev, 0x200000, b, 1), 0);
	assert_int_equal(b[0], 0x5a);
	assert_int_equal(uvfio_dma_get(f->dev, 0x200000, 8, UVFIO_DMA_WRITE, &ref), -EACCES);
	/* The device gate (bus mastering off). */
	gate_open = false;
	assert_int_equal(uvfio_dma_read(f->dev, 0x200000, b, 1), -EPERM);
	assert_int_equal(uvfio_dma_write(f->dev, 0x201000, b, 1), -EPERM);
	assert_int_equal(uvfio_dma_get(f->dev, 0x200000, 8, UVFIO_DMA_READ, &ref), -EPERM);
	/* ... which the transport's own access bypasses. */
	assert_int_equal(uvfio_dma_space_rw(f->space, 0x200000, b, 1, false), 0);
	gate_open = true;
}

struct msg_log {
	int calls;
	uint64_t iova;
	size_t len;
	bool is_write;
	int ret;
};

static int msg_handler(void *opaque, uint64_t iova, void *buf, size_t len, bool is_write)
{
	struct msg_log *m = opaque;

	m->calls++;
	m->iova = iova;
	m->len = len;
	m->is_write = is_write;
	if (!is_write)
		memset(buf, 0xab, len);
	return m->ret;
}

static void test_message_windows(void **state)
{
	struct fixture *f = *state;
	struct msg_log m = { 0 };
	uint8_t b[64];
	struct uvfio_dma_ref ref;

	assert_int_equal(uvfio_dma_space_add(f->space, 0x300000, PAGE, RW, -1, 0), 0);
	/* No handler: the access fails as a failed message would. */
	assert_int_equal(uvfio_dma_read(f->dev, 0x300000, b, 8), -EIO);
	uvfio_dma_space_set_msg_handler(f->space, msg_handler, &m);
	assert_int_equal(uvfio_dma_read(f->dev, 0x300010, b, 64), 0);
	assert_int_equal(m.calls, 1);
	assert_int_equal(m.iova, 0x300010);
	assert_int_equal(m.len, 64);
	assert_false(m.is_write);
	assert_int_equal(b[63], 0xab);
	assert_int_equal(uvfio_dma_write(f->dev, 0x300ff0, b, 16), 0);
	assert_true(m.is_write);
	m.ret = -EPIPE;
	assert_int_equal(uvfio_dma_write(f->dev, 0x300000, b, 16), -EIO);
	/* A range from an fd window into a message window is split between the two. */
	m.ret = 0;
	m.calls = 0;
	assert_int_equal(uvfio_dma_space_add(f->space, 0x2ff000, PAGE, RW, f->fd, 0), 0);
	assert_int_equal(uvfio_dma_read(f->dev, 0x2ffff8, b, 16), 0);
	assert_int_equal(m.calls, 1);
	assert_int_equal(m.iova, 0x300000);
	assert_int_equal(m.len, 8);
	assert_int_equal(uvfio_dma_get(f->dev, 0x300000, 8, UVFIO_DMA_READ, &ref), -ENOTSUP);
	uvfio_dma_space_set_msg_handler(f->space, NULL, NULL);
}

static void test_get_put(void **state)
{
	struct fixture *f = *state;
	struct uvfio_dma_ref ref;

	assert_int_equal(uvfio_dma_space_add(f->space, 0x400000, PAGE, RW, f->fd, 2 * PAGE), 0);
	assert_int_equal(uvfio_dma_get(f->dev, 0x400000, PAGE + 1, RW, &ref), -EFAULT);
	assert_int_equal(uvfio_dma_get(f->dev, 0x400001, PAGE, RW, &ref), -EFAULT);
	assert_int_equal(uvfio_dma_get(f->dev, 0x400000, 0, RW, &ref), -EINVAL);
	assert_int_equal(uvfio_dma_get(f->dev, 0x400100, 16, RW, &ref), 0);
	assert_int_equal(ref.len, 16);
	memcpy(ref.ptr, "hello", 5);
	assert_memory_equal(f->mem + 2 * PAGE + 0x100, "hello", 5);
	uvfio_dma_put(f->dev, &ref);
	assert_null(ref.window);
	assert_int_equal(uvfio_dma_space_remove(f->space, 0x400000, PAGE), 0);
}

/* Removal waits for a user; lookups of other windows go on meanwhile. */
struct remover {
	struct uvfio_dma_space *space;
	int started_pipe[2];
	atomic_bool ref_dropped;
	bool dropped_when_returned;
	int ret;
};

static void *remover_main(void *arg)
{
	struct remover *r = arg;
	char c = 's';

	if (write(r->started_pipe[1], &c, 1) != 1)
		return NULL;
	r->ret = uvfio_dma_space_remove(r->space, 0x500000, PAGE);
	r->dropped_when_returned = atomic_load(&r->ref_dropped);
	return NULL;
}

struct reader {
	struct uvfio_device *dev;
	int ok;
};

static void *reader_main(void *arg)
{
	struct reader *rd = arg;
	uint8_t b[256];

	for (int i = 0; i < 2000; i++)
		if (uvfio_dma_read(rd->dev, 0x600000 + (uint64_t)(i % 16) * 256, b, sizeof(b)) == 0)
			rd->ok++;
	return NULL;
}

static void test_remove_waits_for_users(void **state)
{
	struct fixture *f = *state;
	struct uvfio_dma_ref ref;
	struct remover r = { .space = f->space };
	pthread_t rt, readers[4];
	struct reader rd[4];
	char c;

	assert_int_equal(uvfio_dma_space_add(f->space, 0x500000, PAGE, RW, f->fd, 0), 0);
	assert_int_equal(uvfio_dma_space_add(f->space, 0x600000, PAGE, RW, f->fd, PAGE), 0);
	assert_int_equal(uvfio_dma_get(f->dev, 0x500000, 64, RW, &ref), 0);
	assert_int_equal(pipe(r.started_pipe), 0);
	assert_int_equal(pthread_create(&rt, NULL, remover_main, &r), 0);
	assert_int_equal(read(r.started_pipe[0], &c, 1), 1);
	/* The remover takes the window out of the array before it waits: once the count
	 * drops it is blocked (or about to block) on our reference. */
	while (uvfio_dma_space_count(f->space) != 1)
		sched_yield();
	/* New lookups of the window being removed fail ... */
	uint8_t b[8];
	assert_int_equal(uvfio_dma_read(f->dev, 0x500000, b, 8), -EFAULT);
	/* ... while concurrent readers of another window all complete. */
	for (int i = 0; i < 4; i++) {
		rd[i] = (struct reader){ .dev = f->dev };
		assert_int_equal(pthread_create(&readers[i], NULL, reader_main, &rd[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(readers[i], NULL);
		assert_int_equal(rd[i].ok, 2000);
	}
	/* Our pointer is still mapped. */
	memset(ref.ptr, 0x11, 64);
	assert_int_equal(f->mem[63], 0x11);
	atomic_store(&r.ref_dropped, true);
	uvfio_dma_put(f->dev, &ref);
	pthread_join(rt, NULL);
	assert_int_equal(r.ret, 0);
	assert_true(r.dropped_when_returned);
	close(r.started_pipe[0]);
	close(r.started_pipe[1]);
}

/* Users that get and put references without pause while the window goes away: the remove
 * must return only once every reference is dropped (puts that do not see the removal drop
 * their reference without the lock and without waking the remover). */
struct churner {
	struct uvfio_device *dev;
	atomic_int *in_use;
	atomic_int got;
};

static void *churner_main(void *arg)
{
	struct churner *ch = arg;
	struct uvfio_dma_ref ref;

	for (;;) {
		int ret = uvfio_dma_get(ch->dev, 0x700000, 64, RW, &ref);
		if (ret == -EFAULT)
			return NULL; /* removed */
		if (ret < 0)
			continue;
		atomic_fetch_add(ch->in_use, 1);
		__atomic_fetch_add((uint8_t *)ref.ptr, 1, __ATOMIC_RELAXED); /* three churners share the byte */
		atomic_fetch_add(&ch->got, 1);
		atomic_fetch_sub(ch->in_use, 1);
		uvfio_dma_put(ch->dev, &ref);
	}
}

static void test_remove_races_lockfree_puts(void **state)
{
	struct fixture *f = *state;
	atomic_int in_use = 0;
	struct churner ch[3];
	pthread_t t[3];

	for (int round = 0; round < 20; round++) {
		assert_int_equal(uvfio_dma_space_add(f->space, 0x700000, PAGE, RW, f->fd, 0), 0);
		for (int i = 0; i < 3; i++) {
			ch[i] = (struct churner){ .dev = f->dev, .in_use = &in_use };
			assert_int_equal(pthread_create(&t[i], NULL, churner_main, &ch[i]), 0);
		}
		while (!atomic_load(&ch[0].got) && !atomic_load(&ch[1].got) &&
		       !atomic_load(&ch[2].got))
			sched_yield();
		assert_int_equal(uvfio_dma_space_remove(f->space, 0x700000, PAGE), 0);
		/* No user is between its get and its put any more. */
		assert_int_equal(atomic_load(&in_use), 0);
		for (int i = 0; i < 3; i++)
			pthread_join(t[i], NULL);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_add_errors, setup, teardown),
		cmocka_unit_test_setup_teardown(test_rw_spanning, setup, teardown),
		cmocka_unit_test_setup_teardown(test_permissions, setup, teardown),
		cmocka_unit_test_setup_teardown(test_message_windows, setup, teardown),
		cmocka_unit_test_setup_teardown(test_get_put, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_waits_for_users, setup, teardown),
		cmocka_unit_test_setup_teardown(test_remove_races_lockfree_puts, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
