/* SPDX-License-Identifier: MIT */
/*
 * Client memory that vanishes under a DMA copy: a window whose file the client truncates after
 * mapping it. Every access path (uvfio_dma_read/write, uvfio_dma_copy_from/to through a ref)
 * returns -EFAULT instead of the process dying of SIGBUS; the window stays disabled; other
 * windows keep working; sealed memfds take the unguarded path; faults outside a guarded copy
 * still reach the handler installed before ours.
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include <uvfio/device.h>
#include <uvfio/dma.h>

#define PAGE 4096u
#define RW (UVFIO_DMA_READ | UVFIO_DMA_WRITE)

struct fixture {
	struct uvfio_device *dev;
	struct uvfio_dma_space *space;
	int fd;
};

static const struct uvfio_device_ops ops = { .name = "faulttest" };

static int setup(void **state)
{
	static struct fixture f;

	f.dev = uvfio_device_new(&ops, 0, 0, 0);
	f.space = f.dev ? uvfio_device_dma_space(f.dev) : NULL;
	f.fd = memfd_create("guest", MFD_ALLOW_SEALING);
	if (!f.dev || f.fd < 0 || ftruncate(f.fd, 4 * PAGE) < 0)
		return -1;
	*state = &f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	uvfio_device_free(f->dev);
	close(f->fd);
	return 0;
}

static void test_copy_after_truncate(void **state)
{
	struct fixture *f = *state;
	uint8_t buf[64] = { 1 };
	struct uvfio_dma_ref ref;

	assert_int_equal(uvfio_dma_space_add(f->space, 0x100000, 4 * PAGE, RW, f->fd, 0), 0);
	assert_int_equal(uvfio_dma_space_rw(f->space, 0x100000 + PAGE, buf, 64, true), 0);
	assert_int_equal(uvfio_dma_get(f->dev, 0x100000, 4 * PAGE, RW, &ref), 0);
	assert_int_equal(ref.flags & UVFIO_DMA_REF_STABLE, 0);
	assert_int_equal(uvfio_dma_copy_from(&ref, PAGE, buf, 64), 0);
	assert_int_equal(buf[0], 1);
	/* The client shrinks its memory to one page. */
	assert_int_equal(ftruncate(f->fd, PAGE), 0);
	/* The first page still exists: the pointer path reaches it. */
	assert_int_equal(uvfio_dma_copy_to(&ref, 0, buf, 64), 0);
	assert_int_equal(uvfio_dma_copy_from(&ref, 2 * PAGE, buf, 64), -EFAULT);
	/* Disabled from now on, even where the memory still exists. */
	assert_int_equal(uvfio_dma_copy_from(&ref, 0, buf, 64), -EFAULT);
	assert_int_equal(uvfio_dma_space_rw(f->space, 0x100000, buf, 64, false), -EFAULT);
	uvfio_dma_put(f->dev, &ref);
	assert_int_equal(uvfio_dma_get(f->dev, 0x100000, 64, RW, &ref), -EFAULT);
	/* Unmapping it works (nothing left pinned), and a fresh window serves again. */
	assert_int_equal(uvfio_dma_space_remove(f->space, 0x100000, 4 * PAGE), 0);
	assert_int_equal(ftruncate(f->fd, 4 * PAGE), 0);
	assert_int_equal(uvfio_dma_space_add(f->space, 0x100000, 4 * PAGE, RW, f->fd, 0), 0);
	assert_int_equal(uvfio_dma_space_rw(f->space, 0x100000 + 3 * PAGE, buf, 64, true), 0);
}

static void test_device_copy_after_truncate(void **state)
{
	struct fixture *f = *state;
	int other = memfd_create("other", 0);
	uint8_t buf[2 * PAGE];

	memset(buf, 0x5a, sizeof(buf));
	assert_true(other >= 0);
	assert_int_equal(ftruncate(other, PAGE), 0);
	assert_int_equal(uvfio_dma_space_add(f->space, 0x200000, 4 * PAGE, RW, f->fd, 0), 0);
	assert_int_equal(uvfio_dma_space_add(f->space, 0x300000, PAGE, RW, other, 0), 0);
	assert_int_equal(ftruncate(f->fd, 0), 0);
	/* A write spanning pages faults on the first. */
	assert_int_equal(uvfio_dma_write(f->dev, 0x200000 + 100, buf, sizeof(buf)), -EFAULT);
	assert_int_equal(uvfio_dma_read(f->dev, 0x200000, buf, 8), -EFAULT);
	/* Another window of the same device is unaffected. */
	assert_int_equal(uvfio_dma_write(f->dev, 0x300000, buf, PAGE), 0);
	assert_int_equal(uvfio_dma_read(f->dev, 0x300000 + 8, buf, 8), 0);
	assert_int_equal(buf[0], 0x5a);
	close(other);
}

static void test_sealed_is_stable(void **state)
{
	struct fixture *f = *state;
	struct uvfio_dma_ref ref;
	uint32_t v = 0xabcd;

	assert_int_equal(fcntl(f->fd, F_ADD_SEALS, F_SEAL_SHRINK), 0);
	assert_int_equal(uvfio_dma_space_add(f->space, 0x400000, 4 * PAGE, RW, f->fd, 0), 0);
	assert_int_equal(uvfio_dma_get(f->dev, 0x400000, 4 * PAGE, RW, &ref), 0);
	assert_int_equal(ref.flags & UVFIO_DMA_REF_STABLE, UVFIO_DMA_REF_STABLE);
	memcpy((uint8_t *)ref.ptr + 3 * PAGE, &v, 4); /* direct access is allowed */
	assert_int_equal(ftruncate(f->fd, PAGE), -1); /* the seal holds */
	v = 0;
	assert_int_equal(uvfio_dma_copy_from(&ref, 3 * PAGE, &v, 4), 0);
	assert_int_equal(v, 0xabcd);
	/* Past the end of the ref. */
	assert_int_equal(uvfio_dma_copy_from(&ref, 4 * PAGE - 2, &v, 4), -EFAULT);
	uvfio_dma_put(f->dev, &ref);
	assert_int_equal(uvfio_dma_get(f->dev, 0x400000, 8, UVFIO_DMA_READ, &ref), 0);
	assert_int_equal(uvfio_dma_copy_to(&ref, 0, &v, 4), -EACCES);
	uvfio_dma_put(f->dev, &ref);
}

static volatile sig_atomic_t prev_handler_ran;

static void prev_handler(int sig)
{
	(void)sig;
	prev_handler_ran = 1;
	_exit(42);
}

/* A fault outside a guarded copy goes to the handler installed before ours. */
static void test_chains_other_faults(void **state)
{
	struct fixture *f = *state;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		struct sigaction sa = { .sa_handler = prev_handler };
		sigemptyset(&sa.sa_mask);
		sigaction(SIGBUS, &sa, NULL);
		int fd = memfd_create("x", 0);
		if (fd < 0 || ftruncate(fd, PAGE) < 0)
			_exit(1);
		/* A non-sealed window installs the guard handler over ours. */
		if (uvfio_dma_space_add(f->space, 0x500000, PAGE, RW, f->fd, 0) < 0)
			_exit(2);
		volatile uint8_t *p = mmap(NULL, PAGE, PROT_READ, MAP_SHARED, fd, 0);
		if (p == MAP_FAILED || ftruncate(fd, 0) < 0)
			_exit(3);
		(void)p[0];
		_exit(4);
	}
	int status;
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	assert_int_equal(WEXITSTATUS(status), 42);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_copy_after_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_device_copy_after_truncate, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sealed_is_stable, setup, teardown),
		cmocka_unit_test_setup_teardown(test_chains_other_faults, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
