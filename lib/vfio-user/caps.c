/* SPDX-License-Identifier: MIT */
/* VERSION capability negotiation (json-c). Keys are type-checked; unknown keys are ignored. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include <uvfio/server.h>

#include "vfio-user/caps.h"
#include "vfio-user/wire.h"
#include "util/log.h"
#include "util/reason.h"

static void caps_defaults(struct vfu_caps *c)
{
	memset(c, 0, sizeof(*c));
	c->max_msg_fds = VFU_DEFAULT_MAX_MSG_FDS;
	c->max_data_xfer_size = VFU_DEFAULT_MAX_DATA_XFER;
	c->max_dma_maps = VFU_DEFAULT_MAX_DMA_MAPS;
	c->pgsizes = VFU_DEFAULT_PGSIZES;
}

/* A non-negative integer no larger than max; -EINVAL otherwise. */
static int get_uint(struct json_object *v, const char *key, uint64_t max, uint64_t *out)
{
	if (!json_object_is_type(v, json_type_int)) {
		reason_set("capability %s is not an integer", key);
		return -EINVAL;
	}
	errno = 0;
	if (json_object_get_int64(v) < 0) {
		reason_set("capability %s is negative", key);
		return -EINVAL;
	}
	uint64_t u = json_object_get_uint64(v);
	if (u > max) {
		reason_set("capability %s = %llu is out of range", key, (unsigned long long)u);
		return -EINVAL;
	}
	*out = u;
	return 0;
}

static int get_u32(struct json_object *v, const char *key, uint32_t *out, bool *has)
{
	uint64_t u;
	int ret = get_uint(v, key, UINT32_MAX, &u);

	if (ret < 0)
		return ret;
	*out = (uint32_t)u;
	*has = true;
	return 0;
}

static int parse_migration(struct json_object *v, struct vfu_caps *c)
{
	struct json_object *pg;

	if (!json_object_is_type(v, json_type_object)) {
		reason_set("capability migration is not an object");
		return -EINVAL;
	}
	c->has_migration = true;
	c->mig_max_bitmap_size = json_object_object_get_ex(v, "max_bitmap_size", NULL);
	if (!json_object_object_get_ex(v, "pgsize", &pg))
		return 0;
	return get_uint(pg, "migration.pgsize", UINT64_MAX, &c->mig_pgsize);
}

static int parse_twin(struct json_object *v, struct vfu_caps *c)
{
	struct json_object *s;

	if (!json_object_is_type(v, json_type_object)) {
		reason_set("capability twin_socket is not an object");
		return -EINVAL;
	}
	c->has_twin_socket = true;
	if (!json_object_object_get_ex(v, "supported", &s))
		return 0;
	if (!json_object_is_type(s, json_type_boolean)) {
		reason_set("twin_socket.supported is not a boolean");
		return -EINVAL;
	}
	c->twin_socket = json_object_get_boolean(s);
	return 0;
}

/* uvfio's own extensions live under one key so that other peers never see them unless they
 * proposed it (the reply is a subset of the proposal). Unknown members are ignored. */
static int parse_uvfio(struct json_object *v, struct vfu_caps *c)
{
	struct json_object *p;

	if (!json_object_is_type(v, json_type_object)) {
		reason_set("capability uvfio is not an object");
		return -EINVAL;
	}
	c->has_uvfio = true;
	if (json_object_object_get_ex(v, "max_data_xfer_size", &p)) {
		int ret = get_u32(p, "uvfio.max_data_xfer_size", &c->uvfio_xfer,
				  &c->has_uvfio_xfer);
		if (ret < 0)
			return ret;
		if (c->uvfio_xfer == 0) {
			reason_set("uvfio.max_data_xfer_size 0 leaves no room for any data");
			return -EINVAL;
		}
	}
	if (json_object_object_get_ex(v, "error_reason", &p)) {
		if (!json_object_is_type(p, json_type_boolean))
			return refuse(EINVAL, "uvfio.error_reason is not a boolean");
		c->has_error_reason = true;
		c->error_reason = json_object_get_boolean(p);
	}
	if (!json_object_object_get_ex(v, "precopy_info", &p))
		return 0;
	if (!json_object_is_type(p, json_type_boolean)) {
		reason_set("uvfio.precopy_info is not a boolean");
		return -EINVAL;
	}
	c->precopy_info = json_object_get_boolean(p);
	return 0;
}

static int parse_one(const char *key, struct json_object *v, struct vfu_caps *c)
{
	if (!strcmp(key, "max_msg_fds"))
		return get_u32(v, key, &c->max_msg_fds, &c->has_max_msg_fds);
	if (!strcmp(key, "max_data_xfer_size")) {
		int ret = get_u32(v, key, &c->max_data_xfer_size, &c->has_max_data_xfer_size);
		if (ret == 0 && c->max_data_xfer_size == 0) {
			reason_set("max_data_xfer_size 0 leaves no room for any data");
			return -EINVAL;
		}
		return ret;
	}
	if (!strcmp(key, "max_dma_maps"))
		return get_u32(v, key, &c->max_dma_maps, &c->has_max_dma_maps);
	if (!strcmp(key, "pgsizes")) {
		c->has_pgsizes = true;
		return get_uint(v, key, UINT64_MAX, &c->pgsizes);
	}
	if (!strcmp(key, "migration"))
		return parse_migration(v, c);
	if (!strcmp(key, "twin_socket"))
		return parse_twin(v, c);
	if (!strcmp(key, "uvfio"))
		return parse_uvfio(v, c);
	if (!strcmp(key, "write_multiple")) {
		if (!json_object_is_type(v, json_type_boolean)) {
			reason_set("capability write_multiple is not a boolean");
			return -EINVAL;
		}
		c->has_write_multiple = true;
		c->write_multiple = json_object_get_boolean(v);
		return 0;
	}
	log_debug("vfio-user: ignoring unknown capability %s", key);
	return 0;
}

static int parse_root(struct json_object *root, struct vfu_caps *c)
{
	struct json_object *caps;

	if (!json_object_is_type(root, json_type_object)) {
		reason_set("version data is not a JSON object");
		return -EINVAL;
	}
	if (!json_object_object_get_ex(root, "capabilities", &caps))
		return 0;
	if (!json_object_is_type(caps, json_type_object)) {
		reason_set("\"capabilities\" is not an object");
		return -EINVAL;
	}
	json_object_object_foreach(caps, key, val) {
		int ret = parse_one(key, val, c);
		if (ret < 0)
			return ret;
	}
	return 0;
}

int vfu_caps_parse(const char *json, size_t len, struct vfu_caps *c)
{
	caps_defaults(c);
	if (len == 0)
		return 0;
	const char *nul = memchr(json, '\0', len);
	if (!nul) {
		reason_set("version JSON is not NUL-terminated");
		return -EINVAL;
	}
	size_t slen = (size_t)(nul - json);
	if (slen > INT32_MAX)
		return -EINVAL;
	struct json_tokener *tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	struct json_object *root = json_tokener_parse_ex(tok, json, (int)slen);
	bool complete = json_tokener_get_error(tok) == json_tokener_success &&
			json_tokener_get_parse_end(tok) == slen;
	json_tokener_free(tok);
	int ret = -EINVAL;
	if (root && complete)
		ret = parse_root(root, c);
	else
		reason_set("version JSON does not parse");
	json_object_put(root);
	return ret;
}

static uint32_t min_u32(uint32_t a, uint32_t b)
{
	return a < b ? a : b;
}

static void negotiate(const struct vfu_caps *c, const struct vfu_server_limits *ours,
		      struct vfu_negotiated *neg)
{
	neg->client_max_msg_fds = c->max_msg_fds;
	neg->max_data_xfer_size = min_u32(c->max_data_xfer_size, ours->max_data_xfer_size);
	neg->max_dma_maps = min_u32(c->max_dma_maps, ours->max_dma_maps);
	neg->pgsizes = c->pgsizes;
	neg->mig_pgsize = c->has_migration ? c->mig_pgsize : 0;
	neg->twin_socket = c->twin_socket && ours->allow_twin_socket;
	neg->write_multiple = c->write_multiple && ours->allow_write_multiple;
	neg->precopy_info = c->has_uvfio && c->precopy_info;
	neg->error_reason = c->has_uvfio && c->error_reason;
	/* A uvfio client's larger size replaces the standard one on this connection. */
	if (c->has_uvfio_xfer && ours->uvfio_max_xfer)
		neg->max_data_xfer_size = min_u32(c->uvfio_xfer, ours->uvfio_max_xfer);
	/* QEMU 10.x is the client that sends migration.max_bitmap_size (protocol notes 3.1). */
	if (ours->dma_msg_layout == UVFIO_DMA_MSG_AUTO)
		neg->qemu_dma_layout = c->mig_max_bitmap_size;
	else
		neg->qemu_dma_layout = ours->dma_msg_layout == UVFIO_DMA_MSG_QEMU;
}

/* The reply lists only keys the client proposed (the spec: a subset). */
static struct json_object *build_caps(const struct vfu_caps *c,
				      const struct vfu_server_limits *ours,
				      const struct vfu_negotiated *neg)
{
	struct json_object *o = json_object_new_object();

	if (!o)
		return NULL;
	if (c->has_max_msg_fds)
		json_object_object_add(o, "max_msg_fds", json_object_new_int64(ours->max_msg_fds));
	if (c->has_max_data_xfer_size)
		json_object_object_add(o, "max_data_xfer_size",
				       json_object_new_int64(min_u32(c->max_data_xfer_size,
								     ours->max_data_xfer_size)));
	if (c->has_max_dma_maps)
		json_object_object_add(o, "max_dma_maps", json_object_new_int64(neg->max_dma_maps));
	if (c->has_pgsizes)
		json_object_object_add(o, "pgsizes", json_object_new_uint64(neg->pgsizes));
	if (c->has_migration && c->mig_pgsize) {
		struct json_object *m = json_object_new_object();
		json_object_object_add(m, "pgsize", json_object_new_uint64(c->mig_pgsize));
		json_object_object_add(o, "migration", m);
	}
	if (c->has_write_multiple)
		json_object_object_add(o, "write_multiple",
				       json_object_new_boolean(neg->write_multiple));
	if (c->has_uvfio) {
		struct json_object *u = json_object_new_object();
		json_object_object_add(u, "precopy_info", json_object_new_boolean(neg->precopy_info));
		if (c->has_uvfio_xfer && ours->uvfio_max_xfer)
			json_object_object_add(u, "max_data_xfer_size",
					       json_object_new_int64(neg->max_data_xfer_size));
		if (c->has_error_reason)
			json_object_object_add(u, "error_reason",
					       json_object_new_boolean(neg->error_reason));
		json_object_object_add(o, "uvfio", u);
	}
	if (c->has_twin_socket) {
		struct json_object *t = json_object_new_object();
		json_object_object_add(t, "supported", json_object_new_boolean(neg->twin_socket));
		if (neg->twin_socket)
			json_object_object_add(t, "fd_index", json_object_new_int(0));
		json_object_object_add(o, "twin_socket", t);
	}
	return o;
}

int vfu_version_negotiate(const void *payload, size_t len, const struct vfu_server_limits *ours,
			  struct vfu_negotiated *neg, char **reply_json, size_t *reply_len)
{
	struct vfu_version v;
	struct vfu_caps c;

	if (len < sizeof(v)) {
		reason_set("VERSION payload of %zu bytes is too short", len);
		return -EINVAL;
	}
	memcpy(&v, payload, sizeof(v));
	if (v.major != VFU_MAJOR) {
		reason_set("client speaks major version %u, we speak %u", v.major,
			 VFU_MAJOR);
		return -EINVAL;
	}
	int ret = vfu_caps_parse((const char *)payload + sizeof(v), len - sizeof(v), &c);
	if (ret < 0)
		return ret;
	/* DMA_MAP is aligned to the smallest page size (the kernel's rule for the IOMMU's): it
	 * must be one mmap() can honour. */
	if (c.pgsizes == 0 || (c.pgsizes & -c.pgsizes) < VFU_DEFAULT_PGSIZES)
		return refuse(EINVAL, "pgsizes 0x%llx has no page size of 4096 or more",
			      (unsigned long long)c.pgsizes);
	memset(neg, 0, sizeof(*neg));
	neg->minor = v.minor < VFU_MINOR ? v.minor : VFU_MINOR;
	negotiate(&c, ours, neg);

	struct json_object *root = json_object_new_object();
	struct json_object *caps = build_caps(&c, ours, neg);
	if (!root || !caps) {
		json_object_put(root);
		json_object_put(caps);
		return -ENOMEM;
	}
	json_object_object_add(root, "capabilities", caps);
	const char *s = json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN);
	*reply_json = s ? strdup(s) : NULL;
	json_object_put(root);
	if (!*reply_json)
		return -ENOMEM;
	*reply_len = strlen(*reply_json) + 1;
	return 0;
}
