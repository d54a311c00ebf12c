/* SPDX-License-Identifier: MIT */
/*
 * Device commands: info, regions, irqs, region access. The reply to an argsz-style request is
 * min(needed, argsz) bytes with the needed size in argsz, so it always fits the client's buffer.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <linux/vfio.h>

#include "vfio-user/server/server_priv.h"
#include "util/log.h"

static const char *dev_name(struct vfu_conn *c)
{
	return uvfio_device_name(c->sd->dev);
}

/* Takes a fixed-size request; -EINVAL unless msg_size matches it and argsz >= min_argsz. */
static int fixed_request(struct vfu_conn *c, struct vfu_msg *m, size_t size, uint32_t min_argsz)
{
	uint32_t argsz;

	if (m->payload_len != size) {
		log_warn("server: %s: %s payload of %zu bytes, expected %zu", dev_name(c),
			 vfu_command_name(m->hdr.cmd), m->payload_len, size);
		return -EINVAL;
	}
	memcpy(&argsz, m->payload, sizeof(argsz));
	if (argsz < min_argsz) {
		log_warn("server: %s: %s argsz %u < %u", dev_name(c), vfu_command_name(m->hdr.cmd),
			 argsz, min_argsz);
		return -EINVAL;
	}
	return 0;
}

int handle_get_info(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_device_info *info;
	struct uvfio_device *dev = c->sd->dev;
	int ret = fixed_request(c, m, sizeof(*info), sizeof(*info));

	if (ret < 0)
		return ret;
	info = (struct vfu_device_info *)m->payload;
	info->argsz = sizeof(*info);
	info->flags = uvfio_device_flags(dev);
	info->num_regions = uvfio_device_num_regions(dev);
	info->num_irqs = uvfio_device_num_irqs(dev);
	r->payload = info;
	r->len = sizeof(*info);
	return 0;
}

/* Appends the region's capabilities to buf (at least 32 + caps bytes); returns their size. */
static size_t region_caps(const struct uvfio_region *reg, uint32_t index, bool mmap, uint8_t *buf)
{
	size_t off = sizeof(struct vfu_region_info);
	struct vfu_cap_header *prev = NULL;

	if (mmap && reg->sparse && reg->nr_sparse) {
		struct vfu_cap_sparse_mmap s = {
			.hdr = { .id = VFIO_REGION_INFO_CAP_SPARSE_MMAP, .version = 1 },
			.nr_areas = reg->nr_sparse,
		};
		memcpy(buf + off, &s, sizeof(s));
		prev = (struct vfu_cap_header *)(buf + off);
		for (uint32_t i = 0; i < reg->nr_sparse; i++) {
			struct vfu_sparse_mmap_area a = { reg->sparse[i].offset, reg->sparse[i].size };
			memcpy(buf + off + sizeof(s) + i * sizeof(a), &a, sizeof(a));
		}
		off += sizeof(s) + reg->nr_sparse * sizeof(struct vfu_sparse_mmap_area);
	}
	if (index >= UVFIO_PCI_NUM_REGIONS || reg->type) {
		struct vfu_cap_type t = {
			.hdr = { .id = VFIO_REGION_INFO_CAP_TYPE, .version = 1 },
			.type = reg->type,
			.subtype = reg->subtype,
		};
		if (prev)
			prev->next = (uint32_t)off;
		memcpy(buf + off, &t, sizeof(t));
		prev = (struct vfu_cap_header *)(buf + off);
		off += sizeof(t);
	}
	if (reg->msix_mappable) {
		struct vfu_cap_header h = { .id = VFIO_REGION_INFO_CAP_MSIX_MAPPABLE, .version = 1 };
		if (prev)
			prev->next = (uint32_t)off;
		memcpy(buf + off, &h, sizeof(h));
		off += sizeof(h);
	}
	return off - sizeof(struct vfu_region_info);
}

int handle_region_info(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_region_info in;
	struct uvfio_device *dev = c->sd->dev;
	int ret = fixed_request(c, m, sizeof(in), sizeof(in));

	if (ret < 0)
		return ret;
	memcpy(&in, m->payload, sizeof(in));
	if (in.index >= uvfio_device_num_regions(dev)) {
		log_warn("server: %s: region index %u out of range", dev_name(c), in.index);
		return -EINVAL;
	}
	const struct uvfio_region *reg = uvfio_device_get_region(dev, in.index);
	struct vfu_region_info out = { .index = in.index };
	size_t caps_size = 0;
	uint8_t *buf = NULL;
	if (reg && reg->size) {
		bool mmap = (reg->flags & UVFIO_REGION_MMAP) && reg->mmap_fd >= 0;
		size_t max = sizeof(out) + sizeof(struct vfu_cap_sparse_mmap) +
			     (size_t)reg->nr_sparse * sizeof(struct vfu_sparse_mmap_area) +
			     sizeof(struct vfu_cap_type) + sizeof(struct vfu_cap_header);
		buf = calloc(1, max);
		if (!buf)
			return -ENOMEM;
		caps_size = region_caps(reg, in.index, mmap, buf);
		out.flags = reg->flags & (UVFIO_REGION_READ | UVFIO_REGION_WRITE);
		out.size = reg->size;
		if (mmap) {
			out.flags |= VFIO_REGION_INFO_FLAG_MMAP;
			out.offset = reg->mmap_offset;
			r->fds[0] = reg->mmap_fd; /* the driver's: sent, not closed */
			r->nfds = 1;
		}
		if (caps_size) {
			out.flags |= VFIO_REGION_INFO_FLAG_CAPS;
			out.cap_offset = sizeof(out);
		}
	} else {
		buf = calloc(1, sizeof(out));
		if (!buf)
			return -ENOMEM;
	}
	size_t needed = sizeof(out) + caps_size;
	out.argsz = (uint32_t)needed;
	memcpy(buf, &out, sizeof(out));
	r->payload = buf;
	r->free_payload = true;
	r->len = needed < in.argsz ? needed : in.argsz;
	return 0;
}

/*
 * The device's ioeventfds of one region, as spec entries (40 bytes, stride 40 after the
 * 16-byte head; see the protocol reference's quirk note). Distinct fds go in the ancillary
 * data, as many as the client accepts per message (max_msg_fds); entries whose fd does not fit
 * are left out (the client keeps using REGION_WRITE for those registers). A client argsz too
 * small for the entries gets the head alone with the argsz and count it needs, as REGION_INFO.
 */
int handle_region_io_fds(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_region_io_fds_request *q;
	int ret = fixed_request(c, m, sizeof(*q), sizeof(*q));

	if (ret < 0)
		return ret;
	q = (struct vfu_region_io_fds_request *)m->payload;
	if (q->index >= uvfio_device_num_regions(c->sd->dev) || q->flags || q->count) {
		log_warn("server: %s: GET_REGION_IO_FDS index %u flags 0x%x count %u", dev_name(c),
			 q->index, q->flags, q->count);
		return -EINVAL;
	}
	int total = uvfio_device_get_ioeventfds(c->sd->dev, q->index, NULL, 0);
	if (total < 0)
		return total;
	struct uvfio_ioeventfd *e = NULL;
	uint32_t *fdidx = NULL;
	if (total) {
		e = calloc((size_t)total, sizeof(*e));
		fdidx = calloc((size_t)total, sizeof(*fdidx));
		if (!e || !fdidx) {
			free(e);
			free(fdidx);
			return -ENOMEM;
		}
		int again = uvfio_device_get_ioeventfds(c->sd->dev, q->index, e, (unsigned)total);
		if (again < total) /* removed meanwhile: send what we copied */
			total = again < 0 ? 0 : again;
	}
	size_t max_fds = c->neg.client_max_msg_fds;
	if (max_fds > VFU_REPLY_MAX_FDS)
		max_fds = VFU_REPLY_MAX_FDS;
	/* Keep the entries whose fd fits, giving each distinct fd one slot. */
	uint32_t n = 0;
	r->nfds = 0;
	for (int i = 0; i < total; i++) {
		size_t slot = r->nfds;
		for (size_t k = 0; k < r->nfds; k++)
			if (r->fds[k] == e[i].fd)
				slot = k;
		if (slot == r->nfds) {
			if (r->nfds == max_fds)
				continue;
			r->fds[r->nfds++] = e[i].fd;
		}
		e[n] = e[i];
		fdidx[n] = (uint32_t)slot;
		n++;
	}
	size_t need = sizeof(*q) + (size_t)n * sizeof(struct vfu_sub_region_ioeventfd);
	if (q->argsz < need) {
		q->argsz = (uint32_t)need;
		q->count = n;
		r->nfds = 0;
		r->payload = q;
		r->len = sizeof(*q);
		free(e);
		free(fdidx);
		return 0;
	}
	uint8_t *out = calloc(1, need);
	if (!out) {
		free(e);
		free(fdidx);
		r->nfds = 0;
		return -ENOMEM;
	}
	struct vfu_region_io_fds_request head = {
		.argsz = (uint32_t)need, .flags = 0, .index = q->index, .count = n
	};
	memcpy(out, &head, sizeof(head));
	for (uint32_t i = 0; i < n; i++) {
		struct uvfio_ioeventfd *src = &e[i];
		struct vfu_sub_region_ioeventfd sub = {
			.offset = src->offset,
			.size = src->size,
			.fd_index = fdidx[i],
			.type = VFU_IO_FD_TYPE_IOEVENTFD,
			.flags = src->flags,
			.datamatch = src->datamatch,
		};
		memcpy(out + sizeof(head) + i * sizeof(sub), &sub, sizeof(sub));
	}
	free(e);
	free(fdidx);
	r->payload = out;
	r->len = need;
	r->free_payload = true;
	r->close_fds = false; /* the driver owns them */
	return 0;
}

int handle_irq_info(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_irq_info *info;
	int ret = fixed_request(c, m, sizeof(*info), sizeof(*info));

	if (ret < 0)
		return ret;
	info = (struct vfu_irq_info *)m->payload;
	if (info->index >= uvfio_device_num_irqs(c->sd->dev)) {
		log_warn("server: %s: irq index %u out of range", dev_name(c), info->index);
		return -EINVAL;
	}
	uint32_t count, flags;
	ret = uvfio_device_get_irq_info(c->sd->dev, info->index, &count, &flags);
	if (ret < 0)
		return ret;
	info->count = count;
	info->flags = flags;
	info->argsz = sizeof(*info);
	r->payload = info;
	r->len = sizeof(*info);
	return 0;
}

static int check_irq_set(struct vfu_conn *c, struct vfu_msg *m, const struct vfu_irq_set *s)
{
	uint32_t data = s->flags & (UVFIO_IRQ_SET_DATA_NONE | UVFIO_IRQ_SET_DATA_BOOL |
				    UVFIO_IRQ_SET_DATA_EVENTFD);
	uint32_t action = s->flags & (UVFIO_IRQ_SET_ACTION_MASK | UVFIO_IRQ_SET_ACTION_UNMASK |
				      UVFIO_IRQ_SET_ACTION_TRIGGER);
	size_t data_size = data == UVFIO_IRQ_SET_DATA_BOOL ? s->count : 0;
	uint32_t count = 0, flags;

	if (s->argsz != m->payload_len || m->payload_len != sizeof(*s) + data_size) {
		log_warn("server: %s: SET_IRQS argsz %u, payload %zu, data %zu", dev_name(c),
			 s->argsz, m->payload_len, data_size);
		return -EINVAL;
	}
	if (s->flags & ~(data | action) || __builtin_popcount(data) != 1 ||
	    __builtin_popcount(action) != 1) {
		log_warn("server: %s: SET_IRQS flags 0x%x", dev_name(c), s->flags);
		return -EINVAL;
	}
	if (s->index >= uvfio_device_num_irqs(c->sd->dev) ||
	    uvfio_device_get_irq_info(c->sd->dev, s->index, &count, &flags) < 0)
		return -EINVAL;
	bool disable_all = s->count == 0 && s->start == 0 && data == UVFIO_IRQ_SET_DATA_NONE;
	if (!disable_all && (s->start >= count || s->count > count - s->start)) {
		log_warn("server: %s: SET_IRQS vectors %u+%u of %u", dev_name(c), s->start, s->count,
			 count);
		return -EINVAL;
	}
	bool eventfd = data == UVFIO_IRQ_SET_DATA_EVENTFD;
	if ((eventfd && m->nfds && m->nfds != s->count) || (!eventfd && m->nfds)) {
		log_warn("server: %s: SET_IRQS with %zu fds for %u vectors", dev_name(c), m->nfds,
			 s->count);
		return -EINVAL;
	}
	return 0;
}

int handle_set_irqs(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_irq_set s;

	(void)r;
	if (m->payload_len < sizeof(s))
		return -EINVAL;
	memcpy(&s, m->payload, sizeof(s));
	int ret = check_irq_set(c, m, &s);
	if (ret < 0)
		return ret;
	int *fds = NULL;
	if ((s.flags & UVFIO_IRQ_SET_DATA_EVENTFD) && s.count) {
		fds = malloc(s.count * sizeof(*fds));
		if (!fds)
			return -ENOMEM;
		/* No fds: de-assign every vector of the range. */
		for (uint32_t i = 0; i < s.count; i++)
			fds[i] = m->nfds ? m->fds[i] : -1;
	}
	ret = uvfio_device_set_irqs(c->sd->dev, s.flags, s.index, s.start, s.count,
				    m->payload + sizeof(s), fds);
	free(fds);
	return ret;
}

static int check_access(struct vfu_conn *c, const struct vfu_region_access *a)
{
	struct uvfio_device *dev = c->sd->dev;

	if (a->count > c->neg.max_data_xfer_size) {
		log_warn("server: %s: access of %u bytes > max_data_xfer_size", dev_name(c),
			 a->count);
		return -EINVAL;
	}
	if (a->region >= uvfio_device_num_regions(dev)) {
		log_warn("server: %s: region %u out of range", dev_name(c), a->region);
		return -EINVAL;
	}
	const struct uvfio_region *reg = uvfio_device_get_region(dev, a->region);
	if (!reg || a->offset > reg->size || a->count > reg->size - a->offset) {
		log_warn("server: %s: access 0x%llx+%u outside region %u", dev_name(c),
			 (unsigned long long)a->offset, a->count, a->region);
		return -EINVAL;
	}
	return 0;
}

int handle_region_read(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_region_access a;

	if (m->payload_len != sizeof(a))
		return -EINVAL;
	memcpy(&a, m->payload, sizeof(a));
	int ret = check_access(c, &a);
	if (ret < 0)
		return ret;
	uint8_t *buf = malloc(sizeof(a) + a.count);
	if (!buf)
		return -ENOMEM;
	ssize_t n = uvfio_device_region_rw(c->sd->dev, a.region, a.offset, buf + sizeof(a), a.count,
					   false);
	if (n < 0) {
		free(buf);
		return (int)n;
	}
	a.count = (uint32_t)n;
	memcpy(buf, &a, sizeof(a));
	r->payload = buf;
	r->free_payload = true;
	r->len = sizeof(a) + (size_t)n;
	return 0;
}

int handle_region_write(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_region_access *a;

	if (m->payload_len < sizeof(*a))
		return -EINVAL;
	a = (struct vfu_region_access *)m->payload;
	if (m->payload_len != sizeof(*a) + a->count) {
		log_warn("server: %s: REGION_WRITE of %u bytes in a %zu-byte payload", dev_name(c),
			 a->count, m->payload_len);
		return -EINVAL;
	}
	int ret = check_access(c, a);
	if (ret < 0)
		return ret;
	ssize_t n = uvfio_device_region_rw(c->sd->dev, a->region, a->offset, a->data, a->count, true);
	if (n < 0)
		return (int)n;
	a->count = (uint32_t)n;
	r->payload = a;
	r->len = sizeof(*a);
	return 0;
}

int handle_write_multi(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r)
{
	struct vfu_write_multi *w;

	if (!c->neg.write_multiple) {
		log_warn("server: %s: REGION_WRITE_MULTI was not negotiated", dev_name(c));
		return -EINVAL;
	}
	if (m->payload_len < sizeof(*w))
		return -EINVAL;
	w = (struct vfu_write_multi *)m->payload;
	if (w->wr_cnt == 0 || w->wr_cnt > VFU_WRITE_MULTI_MAX ||
	    m->payload_len != sizeof(*w) + w->wr_cnt * sizeof(struct vfu_write_multi_entry)) {
		log_warn("server: %s: REGION_WRITE_MULTI wr_cnt %llu in %zu bytes", dev_name(c),
			 (unsigned long long)w->wr_cnt, m->payload_len);
		return -EINVAL;
	}
	/* All entries are checked before any is written. */
	for (uint64_t i = 0; i < w->wr_cnt; i++) {
		struct vfu_write_multi_entry *e = &w->wrs[i];
		struct vfu_region_access a = { .offset = e->offset, .region = e->region, .count = e->count };
		if (e->count > VFU_WRITE_MULTI_DATA || check_access(c, &a) < 0)
			return -EINVAL;
	}
	for (uint64_t i = 0; i < w->wr_cnt; i++) {
		struct vfu_write_multi_entry *e = &w->wrs[i];
		ssize_t n = uvfio_device_region_rw(c->sd->dev, e->region, e->offset, e->data,
						   e->count, true);
		if (n < 0)
			return (int)n;
	}
	r->payload = w;
	r->len = sizeof(*w);
	return 0;
}
