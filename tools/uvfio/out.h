/* SPDX-License-Identifier: MIT */
/*
 * One emitter for two formats: lspci-like indented text on stdout, or the same tree as JSON.
 * Labels are written as given in text; in JSON they become lower-case keys ("LnkCap" -> "lnkcap").
 */
#ifndef UVFIO_TOOL_OUT_H
#define UVFIO_TOOL_OUT_H

#include <stdbool.h>
#include <stdint.h>

struct out;

struct out *out_new(bool json);
/* Prints the JSON document (if any) and frees. */
void out_finish(struct out *o);
/* Frees without printing. */
void out_discard(struct out *o);
bool out_is_json(struct out *o);

/* A nested object: text prints the heading line (fmt) and indents what follows. */
void out_begin(struct out *o, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A list of objects (JSON array); text prints nothing for it. */
void out_begin_list(struct out *o, const char *label);
void out_end(struct out *o);

void out_str(struct out *o, const char *label, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* A number: JSON gets v, text the formatted string. */
void out_num(struct out *o, const char *label, uint64_t v, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Named bits: text "Label: A+ B- ...", JSON {"a": true, "b": false}. */
struct out_bit {
	const char *name;
	uint64_t mask;
};
void out_bits(struct out *o, const char *label, const struct out_bit *bits, uint64_t value);

#endif
