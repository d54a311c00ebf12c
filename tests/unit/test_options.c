/* SPDX-License-Identifier: MIT */
/* Device declaration parsing: "name[,key=value]*", typed getters, unused-option tracking. */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include <uvfio/driver.h>

static void test_name_and_values(void **state)
{
	struct uvfio_options *o = uvfio_options_parse("edu,dma_mask=0xff,name=dev0,on=yes");
	assert_non_null(o);
	assert_string_equal(uvfio_options_name(o), "edu");
	uint64_t v = 0;
	assert_int_equal(uvfio_options_get_u64(o, "dma_mask", 7, &v), 0);
	assert_int_equal(v, 0xff);
	assert_string_equal(uvfio_options_get(o, "name", "x"), "dev0");
	bool b = false;
	assert_int_equal(uvfio_options_get_bool(o, "on", false, &b), 0);
	assert_true(b);
	assert_null(uvfio_options_unused(o));
	uvfio_options_free(o);
}

static void test_defaults_for_missing_keys(void **state)
{
	struct uvfio_options *o = uvfio_options_parse("edu");
	assert_non_null(o);
	uint64_t v = 0;
	assert_int_equal(uvfio_options_get_u64(o, "dma_mask", 1234, &v), 0);
	assert_int_equal(v, 1234);
	bool b = true;
	assert_int_equal(uvfio_options_get_bool(o, "x", false, &b), 0);
	assert_false(b);
	assert_string_equal(uvfio_options_get(o, "name", "dflt"), "dflt");
	assert_false(uvfio_options_has(o, "name"));
	uvfio_options_free(o);
}

static void test_no_name(void **state)
{
	struct uvfio_options *o = uvfio_options_parse("a=1,b=2");
	assert_non_null(o);
	assert_null(uvfio_options_name(o));
	uvfio_options_free(o);
}

static void test_unused_tracking(void **state)
{
	struct uvfio_options *o = uvfio_options_parse("pci,vendor=1,bogus=2,device=3");
	assert_non_null(o);
	assert_string_equal(uvfio_options_unused(o), "vendor");
	assert_true(uvfio_options_has(o, "vendor"));
	assert_string_equal(uvfio_options_unused(o), "bogus");
	uint64_t v;
	assert_int_equal(uvfio_options_get_u64(o, "device", 0, &v), 0);
	assert_string_equal(uvfio_options_unused(o), "bogus");
	assert_non_null(uvfio_options_get(o, "bogus", NULL));
	assert_null(uvfio_options_unused(o));
	uvfio_options_free(o);
}

static void test_numbers(void **state)
{
	struct uvfio_options *o =
		uvfio_options_parse("x,dec=42,hex=0x2a,oct=052,neg=-1,junk=12z,big=0x10000000000000000,"
				    "sp= 1,max=0xffffffffffffffff");
	assert_non_null(o);
	uint64_t v = 0;
	assert_int_equal(uvfio_options_get_u64(o, "dec", 0, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(uvfio_options_get_u64(o, "hex", 0, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(uvfio_options_get_u64(o, "oct", 0, &v), 0);
	assert_int_equal(v, 42);
	assert_int_equal(uvfio_options_get_u64(o, "max", 0, &v), 0);
	assert_true(v == UINT64_MAX);
	assert_int_equal(uvfio_options_get_u64(o, "neg", 0, &v), -EINVAL);
	assert_int_equal(uvfio_options_get_u64(o, "junk", 0, &v), -EINVAL);
	assert_int_equal(uvfio_options_get_u64(o, "big", 0, &v), -EINVAL);
	assert_int_equal(uvfio_options_get_u64(o, "sp", 0, &v), -EINVAL);
	assert_int_equal(uvfio_options_get_u64(o, "dec", 0, NULL), -EINVAL);
	uvfio_options_free(o);
}

static void test_bools(void **state)
{
	struct uvfio_options *o = uvfio_options_parse("x,a=on,b=OFF,c=1,d=false,e=maybe");
	assert_non_null(o);
	bool b;
	assert_int_equal(uvfio_options_get_bool(o, "a", false, &b), 0);
	assert_true(b);
	assert_int_equal(uvfio_options_get_bool(o, "b", true, &b), 0);
	assert_false(b);
	assert_int_equal(uvfio_options_get_bool(o, "c", false, &b), 0);
	assert_true(b);
	assert_int_equal(uvfio_options_get_bool(o, "d", true, &b), 0);
	assert_false(b);
	assert_int_equal(uvfio_options_get_bool(o, "e", false, &b), -EINVAL);
	assert_int_equal(uvfio_options_get_bool(o, "a", false, NULL), -EINVAL);
	uvfio_options_free(o);
}

static void test_bad_declarations(void **state)
{
	static const char *const bad[] = {
		"",		/* empty */
		",",		/* empty items */
		"edu,",		/* trailing empty item */
		"edu,,a=1",	/* empty item in the middle */
		",a=1",		/* empty leading item */
		"edu,=1",	/* empty key */
		"edu,a=",	/* empty value */
		"edu,a=1,a=2",	/* duplicate key */
		"edu,word",	/* bare word after the name */
		"edu,a=1,b",	/* bare word at the end */
	};
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		errno = 0;
		struct uvfio_options *o = uvfio_options_parse(bad[i]);
		if (o)
			fail_msg("'%s' was accepted", bad[i]);
		assert_int_equal(errno, EINVAL);
	}
	assert_null(uvfio_options_parse(NULL));
}

static void test_too_many_and_too_long(void **state)
{
	char buf[8192];
	size_t n = (size_t)snprintf(buf, sizeof(buf), "x");
	for (int i = 0; i < 33; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",k%d=1", i);
	assert_null(uvfio_options_parse(buf));
	/* 32 is the bound and is accepted. */
	n = (size_t)snprintf(buf, sizeof(buf), "x");
	for (int i = 0; i < 32; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, ",k%d=1", i);
	struct uvfio_options *o = uvfio_options_parse(buf);
	assert_non_null(o);
	uvfio_options_free(o);

	memset(buf, 'a', sizeof(buf) - 1);
	buf[sizeof(buf) - 1] = '\0';
	assert_null(uvfio_options_parse(buf));
}

static void test_null_safety(void **state)
{
	uvfio_options_free(NULL);
	assert_null(uvfio_options_name(NULL));
	assert_null(uvfio_options_unused(NULL));
	assert_false(uvfio_options_has(NULL, "a"));
	assert_string_equal(uvfio_options_get(NULL, "a", "d"), "d");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_and_values),
		cmocka_unit_test(test_defaults_for_missing_keys),
		cmocka_unit_test(test_no_name),
		cmocka_unit_test(test_unused_tracking),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_bools),
		cmocka_unit_test(test_bad_declarations),
		cmocka_unit_test(test_too_many_and_too_long),
		cmocka_unit_test(test_null_safety),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
