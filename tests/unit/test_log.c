/* SPDX-License-Identifier: MIT */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "util/log.h"

struct captured {
	int calls;
	int level;
	char msg[256];
};

static void capture(int level, const char *msg, void *opaque)
{
	struct captured *c = opaque;

	c->calls++;
	c->level = level;
	snprintf(c->msg, sizeof(c->msg), "%s", msg);
}

static void test_parse_level(void **state)
{
	(void)state;
	assert_int_equal(uvfio_log_parse_level("err"), UVFIO_LOG_ERR);
	assert_int_equal(uvfio_log_parse_level("WARN"), UVFIO_LOG_WARN);
	assert_int_equal(uvfio_log_parse_level("info"), UVFIO_LOG_INFO);
	assert_int_equal(uvfio_log_parse_level("debug"), UVFIO_LOG_DEBUG);
	assert_int_equal(uvfio_log_parse_level("5"), 5);
	assert_int_equal(uvfio_log_parse_level("8"), -EINVAL);
	assert_int_equal(uvfio_log_parse_level(""), -EINVAL);
	assert_int_equal(uvfio_log_parse_level("loud"), -EINVAL);
	assert_int_equal(uvfio_log_parse_level("3x"), -EINVAL);
}

static void test_threshold_filters(void **state)
{
	struct captured c = { 0 };

	(void)state;
	uvfio_log_set_handler(capture, &c);
	uvfio_log_set_level(UVFIO_LOG_WARN);
	log_debug("hidden %d", 1);
	log_info("hidden %d", 2);
	assert_int_equal(c.calls, 0);
	log_warn("shown %d", 3);
	assert_int_equal(c.calls, 1);
	assert_int_equal(c.level, UVFIO_LOG_WARN);
	assert_string_equal(c.msg, "shown 3");
	uvfio_log_set_level(UVFIO_LOG_DEBUG);
	log_debug("now %s", "visible");
	assert_int_equal(c.calls, 2);
	assert_string_equal(c.msg, "now visible");
	uvfio_log_set_handler(NULL, NULL);
}

static void test_errno_preserved(void **state)
{
	struct captured c = { 0 };

	(void)state;
	uvfio_log_set_handler(capture, &c);
	errno = EAGAIN;
	log_err("x");
	assert_int_equal(errno, EAGAIN);
	uvfio_log_set_handler(NULL, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_level),
		cmocka_unit_test(test_threshold_filters),
		cmocka_unit_test(test_errno_preserved),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
