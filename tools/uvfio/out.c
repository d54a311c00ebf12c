/* SPDX-License-Identifier: MIT */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "out.h"

#define OUT_DEPTH 16

struct out {
	bool json;
	int depth; /* JSON nesting */
	json_object *stack[OUT_DEPTH];
	int indent; /* text nesting */
	bool is_list[OUT_DEPTH]; /* per open level, in the order begun */
	int open;
};

/* Remembers what was opened so out_end knows whether text indentation changes. */
static void opened(struct out *o, bool list)
{
	if (o->open < OUT_DEPTH)
		o->is_list[o->open] = list;
	o->open++;
}

struct out *out_new(bool json)
{
	struct out *o = calloc(1, sizeof(*o));

	if (!o)
		return NULL;
	o->json = json;
	if (json)
		o->stack[0] = json_object_new_object();
	return o;
}

void out_finish(struct out *o)
{
	if (!o)
		return;
	if (o->json) {
		int flags = JSON_C_TO_STRING_PRETTY | JSON_C_TO_STRING_SPACED |
			    JSON_C_TO_STRING_NOSLASHESCAPE;

		printf("%s\n", json_object_to_json_string_ext(o->stack[0], flags));
		json_object_put(o->stack[0]);
	}
	free(o);
}

void out_discard(struct out *o)
{
	if (!o)
		return;
	if (o->json)
		json_object_put(o->stack[0]);
	free(o);
}

bool out_is_json(struct out *o)
{
	return o->json;
}

/* lspci's labels as JSON keys: lower case, words joined by '_'. The direction marks of the
 * status bits (">TAbort" signaled, "<TAbort" received) become words, or the two would share a
 * key; "I/O" becomes "io". */
static void json_key(const char *label, char *key, size_t size)
{
	size_t n = 0;
	const char *p = label;

	if (*p == '>' || *p == '<') {
		n = (size_t)snprintf(key, size, "%s", *p == '>' ? "signaled_" : "received_");
		if (n >= size)
			n = size - 1;
		p++;
	}
	for (; *p && n + 1 < size; p++) {
		if (isalnum((unsigned char)*p))
			key[n++] = (char)tolower((unsigned char)*p);
		else if (*p != '/' && n > 0 && key[n - 1] != '_')
			key[n++] = '_';
	}
	while (n > 0 && key[n - 1] == '_')
		n--;
	key[n] = '\0';
}

/* Adds v under label to the current JSON container (object or array). */
static void json_add(struct out *o, const char *label, json_object *v)
{
	json_object *cur = o->stack[o->depth];
	char key[64];

	if (json_object_is_type(cur, json_type_array)) {
		json_object_array_add(cur, v);
		return;
	}
	json_key(label, key, sizeof(key));
	json_object_object_add(cur, key, v);
}

static void indent(struct out *o)
{
	for (int i = 0; i < o->indent; i++)
		putchar('\t');
}

static void push(struct out *o, const char *label, json_object *v)
{
	json_add(o, label, v);
	if (o->depth + 1 < OUT_DEPTH)
		o->stack[++o->depth] = v;
}

void out_begin(struct out *o, const char *label, const char *fmt, ...)
{
	va_list ap;

	opened(o, false);
	if (o->json) {
		push(o, label, json_object_new_object());
		return;
	}
	indent(o);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
	o->indent++;
}

void out_begin_list(struct out *o, const char *label)
{
	opened(o, true);
	if (o->json)
		push(o, label, json_object_new_array());
}

void out_end(struct out *o)
{
	bool list;

	if (o->open == 0)
		return;
	o->open--;
	list = o->open < OUT_DEPTH && o->is_list[o->open];
	if (o->json) {
		if (o->depth > 0)
			o->depth--;
		return;
	}
	if (!list && o->indent > 0)
		o->indent--;
}

__attribute__((format(printf, 3, 0))) static void vtext(struct out *o, const char *label,
							    const char *fmt, va_list ap)
{
	indent(o);
	printf("%s: ", label);
	vprintf(fmt, ap);
	putchar('\n');
}

void out_str(struct out *o, const char *label, const char *fmt, ...)
{
	va_list ap;
	char buf[512];

	va_start(ap, fmt);
	if (o->json) {
		vsnprintf(buf, sizeof(buf), fmt, ap);
		json_add(o, label, json_object_new_string(buf));
	} else {
		vtext(o, label, fmt, ap);
	}
	va_end(ap);
}

void out_num(struct out *o, const char *label, uint64_t v, const char *fmt, ...)
{
	va_list ap;

	if (o->json) {
		json_add(o, label, json_object_new_uint64(v));
		return;
	}
	va_start(ap, fmt);
	vtext(o, label, fmt, ap);
	va_end(ap);
}

void out_bits(struct out *o, const char *label, const struct out_bit *bits, uint64_t value)
{
	if (o->json) {
		json_object *obj = json_object_new_object();
		char key[64];

		for (const struct out_bit *b = bits; b->name; b++) {
			json_key(b->name, key, sizeof(key));
			json_object_object_add(obj, key, json_object_new_boolean(!!(value & b->mask)));
		}
		json_add(o, label, obj);
		return;
	}
	indent(o);
	printf("%s:", label);
	for (const struct out_bit *b = bits; b->name; b++)
		printf(" %s%c", b->name, value & b->mask ? '+' : '-');
	putchar('\n');
}
