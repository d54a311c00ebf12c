/* SPDX-License-Identifier: MIT */
/* The command line's pure parsers (tools/uvfio/parse.c): no I/O, no state. */
#ifndef UVFIO_TOOL_PARSE_H
#define UVFIO_TOOL_PARSE_H

#include <stdbool.h>
#include <stdint.h>

#include <uvfio/migration.h>

/* Hex (0x...) or decimal, the whole string; false if not a number or out of range. */
bool parse_u64(const char *s, uint64_t *out);
/* "bar0".."bar5", "rom", "config", "vga" or a number. -1 if neither. */
int parse_region(const char *s);
/* "BAR0".., "ROM", "CONFIG", "VGA", or "REGIONn". */
const char *region_name(uint32_t index, char *buf, unsigned size);
/* SIZE with an optional K, M or G (powers of 1024). */
bool parse_size(const char *s, uint64_t *out);
/* --mem SIZE@IOVA: page-aligned, non-empty, not wrapping. */
bool parse_mem(const char *s, struct uvfio_dirty_range *r);

/* --write REGION:OFF=VAL[/W] */
struct reg_write {
	uint32_t region;
	uint64_t offset, value;
	unsigned width;
};
bool parse_write(const char *s, struct reg_write *w);

#endif
