/* SPDX-License-Identifier: MIT */
/* The per-thread refusal reason (lib/util/reason.h) and the drivers' entry to it. */
#include <errno.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>

#include <cmocka.h>

#include "util/reason.h"

static void test_first_reason_wins(void **state)
{
	(void)state;
	reason_clear();
	assert_null(reason_get());
	assert_int_equal(refuse(EINVAL, "offset 0x%x outside region %d", 0x10, 2), -EINVAL);
	reason_set("a less specific reason");
	uvfio_refuse_reason("nor this one");
	assert_string_equal(reason_get(), "offset 0x10 outside region 2");
	reason_clear();
	assert_null(reason_get());
	uvfio_refuse_reason("from a driver: %s", "busy");
	assert_string_equal(reason_get(), "from a driver: busy");
	reason_clear();
}

static void test_long_reason_is_cut(void **state)
{
	char big[REASON_MAX * 2];

	(void)state;
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	reason_clear();
	reason_set("%s", big);
	assert_int_equal(strlen(reason_get()), REASON_MAX - 1);
	reason_clear();
}

static void *other_thread(void *arg)
{
	(void)arg;
	/* Nothing set here: the main thread's reason is not ours. */
	return (void *)reason_get();
}

static void test_per_thread(void **state)
{
	pthread_t t;
	void *seen = (void *)1;

	(void)state;
	reason_clear();
	reason_set("main thread's");
	assert_int_equal(pthread_create(&t, NULL, other_thread, NULL), 0);
	assert_int_equal(pthread_join(t, &seen), 0);
	assert_null(seen);
	assert_string_equal(reason_get(), "main thread's");
	reason_clear();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_first_reason_wins),
		cmocka_unit_test(test_long_reason_is_cut),
		cmocka_unit_test(test_per_thread),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
