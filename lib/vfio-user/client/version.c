/* SPDX-License-Identifier: MIT */
/*
 * VERSION negotiation, client side: propose QEMU-like capabilities, then accept only a reply
 * QEMU would accept (same major, minor not above ours, sane limits, well-typed members, and a
 * twin socket only as offered and with exactly the fd it names).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <json-c/json.h>

#include "client_priv.h"
#include "util/log.h"
#include "client/backend.h"

#define PEER_MAX_MSG_FDS 16u /* QEMU rejects more */
#define PEER_MAX_XFER (64u << 20)

static char *proposal(void)
{
	json_object *root = json_object_new_object();
	json_object *caps = json_object_new_object();
	json_object *twin = json_object_new_object();
	json_object *uvfio = json_object_new_object();
	char *s;

	json_object_object_add(caps, "max_msg_fds", json_object_new_int(VFU_OUR_MAX_MSG_FDS));
	json_object_object_add(caps, "max_data_xfer_size", json_object_new_int(VFU_CLIENT_STD_XFER));
	json_object_object_add(caps, "max_dma_maps", json_object_new_int(VFU_CLIENT_MAX_DMA_MAPS));
	json_object_object_add(caps, "pgsizes", json_object_new_int(VFU_CLIENT_PGSIZE));
	json_object_object_add(twin, "supported", json_object_new_boolean(1));
	json_object_object_add(caps, "twin_socket", twin);
	json_object_object_add(caps, "write_multiple", json_object_new_boolean(1));
	/* Our extension: a server that does not know it ignores the key and leaves it out of its
	 * reply, so nothing changes for it. */
	json_object_object_add(uvfio, "precopy_info", json_object_new_boolean(1));
	/* Error replies that say why (the server's reason string). */
	json_object_object_add(uvfio, "error_reason", json_object_new_boolean(1));
	/* Larger messages for migration data; the standard key above stays what QEMU says. */
	json_object_object_add(uvfio, "max_data_xfer_size",
			       json_object_new_int(VFU_CLIENT_MAX_XFER));
	json_object_object_add(caps, "uvfio", uvfio);
	json_object_object_add(root, "capabilities", caps);
	s = strdup(json_object_to_json_string_ext(root, JSON_C_TO_STRING_PLAIN));
	json_object_put(root);
	return s;
}

/* A non-negative integer member in [lo, hi]; absent leaves *out alone. */
static int get_uint(json_object *caps, const char *key, uint64_t lo, uint64_t hi, uint64_t *out)
{
	json_object *v;
	int64_t n;

	if (!json_object_object_get_ex(caps, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_int)) {
		log_err("vfio-user: server capability %s is not a number", key);
		return -EPROTO;
	}
	n = json_object_get_int64(v);
	if (n < 0 || (uint64_t)n < lo || (uint64_t)n > hi) {
		log_err("vfio-user: server capability %s=%lld out of range", key, (long long)n);
		return -EPROTO;
	}
	*out = (uint64_t)n;
	return 0;
}

static int get_bool(json_object *obj, const char *key, bool *out)
{
	json_object *v;

	if (!json_object_object_get_ex(obj, key, &v))
		return 0;
	if (!json_object_is_type(v, json_type_boolean)) {
		log_err("vfio-user: server capability %s is not a boolean", key);
		return -EPROTO;
	}
	*out = json_object_get_boolean(v);
	return 0;
}

/* A capability that is an object: 1 and *out, 0 if the server did not send it, -EPROTO. */
static int get_object(json_object *caps, const char *key, json_object **out)
{
	if (!json_object_object_get_ex(caps, key, out))
		return 0;
	if (!json_object_is_type(*out, json_type_object)) {
		log_err("vfio-user: server capability %s is not an object", key);
		return -EPROTO;
	}
	return 1;
}

static int parse_twin(json_object *caps, struct vfu_peer_caps *peer)
{
	json_object *twin;
	uint64_t idx = UINT32_MAX;
	int ret = get_object(caps, "twin_socket", &twin);

	if (ret <= 0)
		return ret;
	ret = get_bool(twin, "supported", &peer->twin_socket);
	if (ret < 0 || !peer->twin_socket)
		return ret;
	ret = get_uint(twin, "fd_index", 0, VFU_OUR_MAX_MSG_FDS - 1, &idx);
	if (ret < 0)
		return ret;
	if (idx == UINT32_MAX) {
		log_err("vfio-user: twin_socket supported without fd_index");
		return -EPROTO;
	}
	peer->twin_fd_index = (uint32_t)idx;
	return 0;
}

static int parse_uvfio(json_object *caps, struct vfu_peer_caps *peer)
{
	json_object *u;
	uint64_t xfer = 0;
	int ret = get_object(caps, "uvfio", &u);

	if (ret <= 0)
		return ret;
	ret = get_bool(u, "precopy_info", &peer->precopy_info);
	/* No more than we proposed. */
	if (ret == 0)
		ret = get_uint(u, "max_data_xfer_size", 1, VFU_CLIENT_MAX_XFER, &xfer);
	peer->uvfio_xfer = (uint32_t)xfer;
	return ret;
}

static int parse_caps(json_object *caps, struct vfu_peer_caps *peer)
{
	static const char *const known[] = { "max_msg_fds", "max_data_xfer_size", "max_dma_maps",
					     "pgsizes", "twin_socket", "write_multiple",
					     "migration", "uvfio" };
	uint64_t fds = peer->max_msg_fds, xfer = peer->max_data_xfer_size;
	uint64_t maps = peer->max_dma_maps, pgsizes = peer->pgsizes;
	int ret = 0;

	json_object_object_foreach(caps, key, val) {
		bool ok = false;

		(void)val;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok = ok || strcmp(key, known[i]) == 0;
		if (!ok)
			log_warn("vfio-user: server sent unknown capability \"%s\" (ignored)", key);
	}
	if (!ret)
		ret = get_uint(caps, "max_msg_fds", 1, PEER_MAX_MSG_FDS, &fds);
	if (!ret)
		ret = get_uint(caps, "max_data_xfer_size", 1, PEER_MAX_XFER, &xfer);
	if (!ret)
		ret = get_uint(caps, "max_dma_maps", 1, VFU_DEFAULT_MAX_DMA_MAPS, &maps);
	if (!ret)
		ret = get_uint(caps, "pgsizes", VFU_CLIENT_PGSIZE, UINT64_MAX, &pgsizes);
	if (!ret && pgsizes % VFU_CLIENT_PGSIZE) {
		log_err("vfio-user: server pgsizes 0x%llx not a multiple of 4096",
			(unsigned long long)pgsizes);
		ret = -EPROTO;
	}
	if (!ret)
		ret = get_bool(caps, "write_multiple", &peer->write_multiple);
	if (!ret)
		ret = parse_twin(caps, peer);
	if (!ret)
		ret = parse_uvfio(caps, peer);
	peer->max_msg_fds = (uint32_t)fds;
	peer->max_data_xfer_size = (uint32_t)xfer;
	peer->max_dma_maps = (uint32_t)maps;
	peer->pgsizes = pgsizes;
	return ret;
}

/* data/len: the bytes after major/minor; a missing JSON means every default. */
static int parse_json(const uint8_t *data, size_t len, struct vfu_peer_caps *peer)
{
	const char *nul = memchr(data, '\0', len);
	json_tokener *tok;
	json_object *root, *caps;
	int ret = 0;

	if (!len)
		return 0;
	if (!nul) {
		log_err("vfio-user: server version JSON is not NUL-terminated");
		return -EPROTO;
	}
	tok = json_tokener_new();
	if (!tok)
		return -ENOMEM;
	root = json_tokener_parse_ex(tok, (const char *)data, (int)(nul - (const char *)data));
	if (!root || json_tokener_get_error(tok) != json_tokener_success ||
	    !json_object_is_type(root, json_type_object)) {
		log_err("vfio-user: server version JSON is not a JSON object");
		ret = -EPROTO;
	} else if (json_object_object_get_ex(root, "capabilities", &caps)) {
		if (json_object_is_type(caps, json_type_object)) {
			ret = parse_caps(caps, peer);
		} else {
			log_err("vfio-user: server \"capabilities\" is not an object");
			ret = -EPROTO;
		}
	}
	json_object_put(root);
	json_tokener_free(tok);
	return ret;
}

static int take_twin(struct vfu_client *c, struct vfu_msg *reply)
{
	struct stat st;
	size_t want = c->peer.twin_socket ? 1 : 0;
	int fd;

	if (reply->nfds != want || (want && c->peer.twin_fd_index != 0)) {
		log_err("vfio-user: version reply has %zu fds, twin_socket needs %zu (fd_index %u)",
			reply->nfds, want, c->peer.twin_fd_index);
		return -EPROTO;
	}
	if (!want)
		return 0;
	fd = reply->fds[0];
	if (fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		log_err("vfio-user: twin_socket fd is not a socket");
		return -EPROTO;
	}
	reply->fds[0] = -1;
	c->twin = fd;
	return 0;
}

int vfu_client_negotiate(struct vfu_client *c)
{
	struct vfu_version ver = { .major = VFU_MAJOR, .minor = VFU_MINOR }, rep;
	char *json = proposal();
	struct iovec iov[2] = { { &ver, sizeof(ver) }, { json, json ? strlen(json) + 1 : 0 } };
	struct vfu_msg reply;
	int ret;

	if (!json)
		return -ENOMEM;
	c->peer = (struct vfu_peer_caps){ .max_msg_fds = VFU_DEFAULT_MAX_MSG_FDS,
					  .max_data_xfer_size = VFU_DEFAULT_MAX_DATA_XFER,
					  .max_dma_maps = VFU_DEFAULT_MAX_DMA_MAPS,
					  .pgsizes = VFU_DEFAULT_PGSIZES };
	ret = vfu_client_exchange(c, VFU_CMD_VERSION, iov, 2, NULL, 0, 1, &reply);
	free(json);
	if (ret < 0)
		return ret;
	if (reply.payload_len < sizeof(rep)) {
		log_err("vfio-user: version reply too short (%zu bytes)", reply.payload_len);
		ret = -EPROTO;
		goto out;
	}
	memcpy(&rep, reply.payload, sizeof(rep));
	if (rep.major != VFU_MAJOR || rep.minor > VFU_MINOR) {
		log_err("vfio-user: server speaks %u.%u, we %u.%u", rep.major, rep.minor, VFU_MAJOR,
			VFU_MINOR);
		ret = -EPROTO;
		goto out;
	}
	c->peer.minor = rep.minor;
	ret = parse_json(reply.payload + sizeof(rep), reply.payload_len - sizeof(rep), &c->peer);
	if (ret == 0)
		ret = take_twin(c, &reply);
out:
	vfu_msg_release(&reply);
	if (ret == 0)
		log_debug("vfio-user: version %u.%u, max_msg_fds %u, xfer %u (uvfio %u), twin %d",
			  rep.major, rep.minor, c->peer.max_msg_fds, c->peer.max_data_xfer_size,
			  c->peer.uvfio_xfer, c->peer.twin_socket);
	return ret;
}

void uvfio_vfio_user_last_error(struct uvfio_handle *h, char *buf, size_t len)
{
	struct vfu_client *c = h->priv;

	pthread_mutex_lock(&c->lock);
	snprintf(buf, len, "%s", c->last_error);
	pthread_mutex_unlock(&c->lock);
}
