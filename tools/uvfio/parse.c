/* SPDX-License-Identifier: MIT */
/*
 * The command line's pure parsers (numbers, regions, sizes, --mem, --write), apart from the
 * commands so that the fuzz target tests/fuzz/fuzz_cli_parse.c links exactly what uvfio runs.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "parse.h"

bool parse_u64(const char *s, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!s || !*s || *s == '-' || *s == '+')
		return false;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return false;
	*out = v;
	return true;
}

static const char *const region_names[] = { "bar0", "bar1", "bar2", "bar3", "bar4",
					    "bar5", "rom", "config", "vga" };

int parse_region(const char *s)
{
	uint64_t v;

	for (size_t i = 0; i < sizeof(region_names) / sizeof(region_names[0]); i++)
		if (strcasecmp(s, region_names[i]) == 0)
			return (int)i;
	if (parse_u64(s, &v) && v < 1024)
		return (int)v;
	return -1;
}

const char *region_name(uint32_t index, char *buf, unsigned size)
{
	if (index < sizeof(region_names) / sizeof(region_names[0])) {
		snprintf(buf, size, "%s", region_names[index]);
		for (char *p = buf; *p; p++)
			*p = (char)(*p >= 'a' && *p <= 'z' ? *p - 32 : *p);
	} else {
		snprintf(buf, size, "REGION%u", index);
	}
	return buf;
}

/* SIZE with an optional K, M or G (powers of 1024). */
bool parse_size(const char *s, uint64_t *out)
{
	char num[32];
	size_t n = strlen(s);
	unsigned shift = 0;
	uint64_t v;

	if (!n || n >= sizeof(num))
		return false;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'k': case 'K': shift = 10; break;
	case 'm': case 'M': shift = 20; break;
	case 'g': case 'G': shift = 30; break;
	default: break;
	}
	if (shift)
		num[n - 1] = '\0';
	if (!parse_u64(num, &v) || v > (UINT64_MAX >> shift))
		return false;
	*out = v << shift;
	return true;
}

bool parse_mem(const char *s, struct uvfio_dirty_range *r)
{
	char size[32];
	const char *at = strchr(s, '@');

	if (!at || (size_t)(at - s) >= sizeof(size))
		return false;
	memcpy(size, s, (size_t)(at - s));
	size[at - s] = '\0';
	return parse_size(size, &r->length) && parse_u64(at + 1, &r->iova) && r->length &&
	       !(r->length % 4096) && !(r->iova % 4096) && r->iova + r->length > r->iova;
}

/* REGION:OFF=VAL[/W] */
bool parse_write(const char *s, struct reg_write *w)
{
	char buf[128], *colon, *eq, *slash;
	uint64_t width = 4;
	int region;

	if (strlen(s) >= sizeof(buf))
		return false;
	strcpy(buf, s);
	colon = strchr(buf, ':');
	eq = colon ? strchr(colon, '=') : NULL;
	if (!colon || !eq)
		return false;
	*colon = *eq = '\0';
	slash = strchr(eq + 1, '/');
	if (slash) {
		*slash = '\0';
		if (!parse_u64(slash + 1, &width))
			return false;
	}
	region = parse_region(buf);
	if (region < 0 || !parse_u64(colon + 1, &w->offset) || !parse_u64(eq + 1, &w->value))
		return false;
	if (width != 1 && width != 2 && width != 4 && width != 8)
		return false;
	if (width < 8 && w->value >> (8 * width))
		return false;
	w->region = (uint32_t)region;
	w->width = (unsigned)width;
	return true;
}
