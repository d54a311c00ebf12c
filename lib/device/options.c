/* SPDX-License-Identifier: MIT */
/*
 * Device declarations: "name[,key=value]*". Kept deliberately simple: no quoting, so values
 * cannot contain commas. Every getter marks its key used so the driver core can reject
 * options nobody understood (a typo must not be silently ignored).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <uvfio/driver.h>

#include "util/log.h"

#define OPTIONS_MAX 32
#define OPTIONS_TEXT_MAX 4096

struct option_kv {
	char *key;
	char *value;
	bool used;
};

struct uvfio_options {
	char *buf; /* owns every string below */
	char *name;
	struct option_kv kv[OPTIONS_MAX];
	unsigned count;
};

static struct option_kv *find_kv(struct uvfio_options *opts, const char *key)
{
	if (!opts || !key)
		return NULL;
	for (unsigned i = 0; i < opts->count; i++)
		if (strcmp(opts->kv[i].key, key) == 0)
			return &opts->kv[i];
	return NULL;
}

/* One "key=value" token, or the bare leading word. Returns 0 or -EINVAL. */
static int parse_token(struct uvfio_options *opts, char *tok, bool first)
{
	if (*tok == '\0') {
		log_err("options: empty item in declaration");
		return -EINVAL;
	}
	char *eq = strchr(tok, '=');
	if (!eq) {
		if (!first) {
			log_err("options: '%s' is not key=value", tok);
			return -EINVAL;
		}
		opts->name = tok;
		return 0;
	}
	*eq = '\0';
	char *value = eq + 1;
	if (*tok == '\0') {
		log_err("options: empty key (=%s)", value);
		return -EINVAL;
	}
	if (*value == '\0') {
		log_err("options: empty value for '%s'", tok);
		return -EINVAL;
	}
	if (find_kv(opts, tok)) {
		log_err("options: duplicate key '%s'", tok);
		return -EINVAL;
	}
	if (opts->count >= OPTIONS_MAX) {
		log_err("options: more than %d options", OPTIONS_MAX);
		return -EINVAL;
	}
	opts->kv[opts->count++] = (struct option_kv){ .key = tok, .value = value };
	return 0;
}

struct uvfio_options *uvfio_options_parse(const char *text)
{
	if (!text || *text == '\0') {
		log_err("options: empty declaration");
		errno = EINVAL;
		return NULL;
	}
	if (strlen(text) > OPTIONS_TEXT_MAX) {
		log_err("options: declaration longer than %d bytes", OPTIONS_TEXT_MAX);
		errno = EINVAL;
		return NULL;
	}
	struct uvfio_options *opts = calloc(1, sizeof(*opts));
	if (!opts)
		return NULL;
	opts->buf = strdup(text);
	if (!opts->buf) {
		free(opts);
		return NULL;
	}
	/* Split by hand: strtok would merge ",," and hide an empty item. */
	char *p = opts->buf;
	for (bool first = true;; first = false) {
		char *comma = strchr(p, ',');
		if (comma)
			*comma = '\0';
		if (parse_token(opts, p, first) < 0) {
			uvfio_options_free(opts);
			errno = EINVAL;
			return NULL;
		}
		if (!comma)
			break;
		p = comma + 1;
	}
	return opts;
}

void uvfio_options_free(struct uvfio_options *opts)
{
	if (!opts)
		return;
	free(opts->buf);
	free(opts);
}

/* Every lookup goes through here: a key looked up counts as used (uvfio_options_unused()). */
const char *uvfio_options_get(struct uvfio_options *opts, const char *key, const char *def)
{
	struct option_kv *kv = find_kv(opts, key);
	if (!kv)
		return def;
	kv->used = true;
	return kv->value;
}

bool uvfio_options_has(struct uvfio_options *opts, const char *key)
{
	return uvfio_options_get(opts, key, NULL) != NULL; /* values are never empty */
}

int uvfio_options_get_u64(struct uvfio_options *opts, const char *key, uint64_t def,
			  uint64_t *out)
{
	if (!out)
		return -EINVAL;
	const char *s = uvfio_options_get(opts, key, NULL);
	if (!s) {
		*out = def;
		return 0;
	}
	/* strtoull accepts "-1" and leading blanks; a declaration should not. */
	if (*s < '0' || *s > '9') {
		log_err("options: %s=%s is not a number", key, s);
		return -EINVAL;
	}
	char *end = NULL;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 0);
	if (errno != 0 || !end || *end != '\0') {
		log_err("options: %s=%s is not a number", key, s);
		return -EINVAL;
	}
	*out = v;
	return 0;
}

int uvfio_options_get_bool(struct uvfio_options *opts, const char *key, bool def, bool *out)
{
	if (!out)
		return -EINVAL;
	const char *s = uvfio_options_get(opts, key, NULL);
	if (!s) {
		*out = def;
		return 0;
	}
	static const char *const yes[] = { "1", "on", "yes", "true" };
	static const char *const no[] = { "0", "off", "no", "false" };
	for (size_t i = 0; i < sizeof(yes) / sizeof(yes[0]); i++) {
		if (strcasecmp(s, yes[i]) == 0) {
			*out = true;
			return 0;
		}
		if (strcasecmp(s, no[i]) == 0) {
			*out = false;
			return 0;
		}
	}
	log_err("options: %s=%s is not a boolean (on/off)", key, s);
	return -EINVAL;
}

const char *uvfio_options_unused(struct uvfio_options *opts)
{
	if (!opts)
		return NULL;
	for (unsigned i = 0; i < opts->count; i++)
		if (!opts->kv[i].used)
			return opts->kv[i].key;
	return NULL;
}

const char *uvfio_options_name(struct uvfio_options *opts)
{
	return opts ? opts->name : NULL;
}
