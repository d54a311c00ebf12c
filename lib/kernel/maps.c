/* SPDX-License-Identifier: MIT */
/*
 * A type1 container or an iommufd IOAS is shared by every device attached to one uvfio_ioas,
 * but the client maps each mapping once per device. Counting them keeps the kernel object's
 * mapping until the last device lets go.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "kernel/kernel_priv.h"

static struct kmap *find(struct kmaps *m, uint64_t iova, uint64_t size)
{
	for (size_t i = 0; i < m->n; i++) {
		if (m->v[i].iova == iova && m->v[i].size == size)
			return &m->v[i];
	}
	return NULL;
}

int kmaps_get(struct kmaps *m, uint64_t iova, uint64_t size)
{
	struct kmap *e = find(m, iova, size);

	if (e)
		return (int)++e->refs;
	if (m->n == m->cap) {
		size_t cap = m->cap ? m->cap * 2 : 8;
		struct kmap *v = realloc(m->v, cap * sizeof(*v));

		if (!v)
			return -ENOMEM;
		m->v = v;
		m->cap = cap;
	}
	m->v[m->n++] = (struct kmap){ .iova = iova, .size = size, .refs = 1 };
	return 1;
}

static void remove_at(struct kmaps *m, struct kmap *e)
{
	*e = m->v[--m->n];
}

int kmaps_put(struct kmaps *m, uint64_t iova, uint64_t size)
{
	struct kmap *e = find(m, iova, size);

	if (!e)
		return -ENOENT;
	if (--e->refs)
		return (int)e->refs;
	remove_at(m, e);
	return 0;
}

void kmaps_forget(struct kmaps *m, uint64_t iova, uint64_t size)
{
	struct kmap *e = find(m, iova, size);

	if (e)
		remove_at(m, e);
}

void kmaps_free(struct kmaps *m)
{
	free(m->v);
	memset(m, 0, sizeof(*m));
}
