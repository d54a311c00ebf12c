/* SPDX-License-Identifier: MIT */
/*
 * The dirtier of edu-mig: a DMA engine that writes a counter pattern over [base, base+len) of
 * guest memory at `rate` bytes per millisecond, through uvfio_dma_write() so the pages it
 * writes are dirty-logged. It gives migration a device that dirties memory at a known rate.
 *
 * Quiescence: the driver pauses the engine on entering a STOP-like state; a write refused by
 * the core anyway (-EPERM: quiesced, or bus mastering off) is not counted and the engine just
 * tries again at its next tick. The register lock is never held across a DMA.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <uvfio/dma.h>

#include "edu_mig.h"
#include "util/log.h"

#define TICK_NS 1000000ll /* the rate is per millisecond: one burst per tick */
#define WRITE_MAX (64u * 1024) /* bytes per DMA write */
#define MAX_LAG_NS (10 * TICK_NS) /* further behind than this: skip, do not burst */

static bool has_work_locked(struct dirtier *d)
{
	return !d->paused && (d->regs.enable & 1) && d->regs.len && d->regs.rate;
}

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000ll + ts.tv_nsec;
}

static struct timespec to_ts(int64_t ns)
{
	return (struct timespec){ .tv_sec = ns / 1000000000ll, .tv_nsec = ns % 1000000000ll };
}

/* One DMA write of up to `todo` bytes at pos. Lock held on entry and return. */
static int write_once_locked(struct dirtier *d, uint8_t *buf, uint64_t todo, uint64_t *done)
{
	struct dirtier_regs r = d->regs;
	uint64_t n = r.len - r.pos;
	if (n > todo)
		n = todo;
	if (n > WRITE_MAX)
		n = WRITE_MAX;
	/* Every 8-byte word of one write holds the number that write will have in the counter. */
	uint8_t word[8];
	le_put(word, r.counter + 1, 8);
	for (uint64_t i = 0; i < n; i++)
		buf[i] = word[(r.pos + i) % 8];

	d->busy = true;
	pthread_mutex_unlock(&d->lock);
	int ret = uvfio_dma_write(d->dev, r.base + r.pos, buf, (size_t)n);
	pthread_mutex_lock(&d->lock);
	d->busy = false;
	pthread_cond_broadcast(&d->idle);
	/* Registers rewritten (or reset) while we wrote: they own the engine now. */
	if (d->regs.base != r.base || d->regs.len != r.len || d->regs.pos != r.pos ||
	    d->regs.counter != r.counter)
		return -ECANCELED;
	if (ret < 0)
		return ret;
	d->regs.counter++;
	d->regs.pos = r.pos + n == r.len ? 0 : r.pos + n;
	*done = n;
	return 0;
}

/* One tick's burst: `rate` bytes, fewer if the engine is stopped or a write fails. */
static void burst_locked(struct dirtier *d, uint8_t *buf, bool *warned)
{
	uint64_t todo = d->regs.rate;
	while (todo && has_work_locked(d) && !d->stopping) {
		uint64_t done = 0;
		int ret = write_once_locked(d, buf, todo, &done);
		if (ret == -ECANCELED)
			break;
		if (ret < 0) {
			/* -EPERM is the device being quiesced: expected, silent, not counted. */
			if (ret != -EPERM && !*warned) {
				log_warn("edu-mig %s: dirtier write at 0x%llx failed: %s",
					 uvfio_device_name(d->dev),
					 (unsigned long long)(d->regs.base + d->regs.pos),
					 strerror(-ret));
				*warned = true;
			}
			break;
		}
		*warned = false;
		todo -= done;
	}
}

static void *dirtier_main(void *arg)
{
	struct dirtier *d = arg;
	uint8_t *buf = malloc(WRITE_MAX);
	bool warned = false;
	int64_t next = now_ns();

	pthread_mutex_lock(&d->lock);
	while (!d->stopping) {
		if (!buf || !has_work_locked(d)) {
			pthread_cond_broadcast(&d->idle);
			pthread_cond_wait(&d->cond, &d->lock);
			next = now_ns();
			continue;
		}
		burst_locked(d, buf, &warned);
		d->iterations++;
		pthread_cond_broadcast(&d->idle);
		next += TICK_NS;
		int64_t now = now_ns();
		if (now - next > MAX_LAG_NS)
			next = now;
		/* Register writes wake us early; only the tick (or a stop) ends the wait. */
		while (!d->stopping && has_work_locked(d) && now < next) {
			struct timespec ts = to_ts(next);
			pthread_cond_timedwait(&d->cond, &d->lock, &ts);
			now = now_ns();
		}
	}
	pthread_cond_broadcast(&d->idle);
	pthread_mutex_unlock(&d->lock);
	free(buf);
	return NULL;
}

int dirtier_init(struct dirtier *d, struct uvfio_device *dev)
{
	memset(d, 0, sizeof(*d));
	d->dev = dev;
	pthread_condattr_t attr;
	if (pthread_condattr_init(&attr) != 0)
		return -ENOMEM;
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	int ret = -ENOMEM;
	if (pthread_mutex_init(&d->lock, NULL) != 0)
		goto out_attr;
	if (pthread_cond_init(&d->cond, &attr) != 0)
		goto out_lock;
	if (pthread_cond_init(&d->idle, NULL) != 0)
		goto out_cond;
	ret = -pthread_create(&d->thread, NULL, dirtier_main, d);
	if (ret == 0) {
		d->started = true;
		goto out_attr;
	}
	pthread_cond_destroy(&d->idle);
out_cond:
	pthread_cond_destroy(&d->cond);
out_lock:
	pthread_mutex_destroy(&d->lock);
out_attr:
	pthread_condattr_destroy(&attr);
	return ret;
}

void dirtier_teardown(struct dirtier *d)
{
	if (!d->started)
		return;
	pthread_mutex_lock(&d->lock);
	d->stopping = true;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	pthread_join(d->thread, NULL);
	d->started = false;
	pthread_cond_destroy(&d->idle);
	pthread_cond_destroy(&d->cond);
	pthread_mutex_destroy(&d->lock);
}

static void regs_image(const struct dirtier_regs *r, uint8_t *img)
{
	le_put(img + DIRTIER_REG_BASE, r->base, 8);
	le_put(img + DIRTIER_REG_LEN, r->len, 8);
	le_put(img + DIRTIER_REG_RATE, r->rate, 4);
	le_put(img + DIRTIER_REG_ENABLE, r->enable, 4);
	le_put(img + DIRTIER_REG_COUNTER, r->counter, 8);
}

ssize_t dirtier_region_rw(struct uvfio_device *dev, uint32_t index, uint64_t offset, void *buf,
			  size_t count, bool is_write)
{
	struct uvfio_pci_device *pdev = uvfio_pci_from_device(dev);
	struct edu_mig *m = pdev ? edu_mig_from_pdev(pdev) : NULL;
	if (!m || index != EDU_MIG_DIRTIER_REGION || !buf)
		return -EINVAL;
	if ((count != 4 && count != 8) || offset % count || offset + count > EDU_MIG_DIRTIER_SIZE)
		return -EINVAL;
	struct dirtier *d = &m->dirtier;
	uint8_t img[EDU_MIG_DIRTIER_SIZE];
	pthread_mutex_lock(&d->lock);
	regs_image(&d->regs, img);
	if (!is_write) {
		memcpy(buf, img + offset, count);
		pthread_mutex_unlock(&d->lock);
		return (ssize_t)count;
	}
	/* The counter is read-only; the bytes before it take what was written. */
	for (size_t i = 0; i < count && offset + i < DIRTIER_REG_COUNTER; i++)
		img[offset + i] = ((const uint8_t *)buf)[i];
	struct dirtier_regs *r = &d->regs;
	uint64_t base = le_get(img + DIRTIER_REG_BASE, 8), len = le_get(img + DIRTIER_REG_LEN, 8);
	if (base != r->base || len != r->len)
		r->pos = 0; /* a new range starts from its beginning */
	r->base = base;
	r->len = len;
	r->rate = (uint32_t)le_get(img + DIRTIER_REG_RATE, 4);
	r->enable = (uint32_t)le_get(img + DIRTIER_REG_ENABLE, 4) & 1;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
	return (ssize_t)count;
}

void dirtier_pause(struct dirtier *d)
{
	pthread_mutex_lock(&d->lock);
	d->paused = true;
	while (d->busy)
		pthread_cond_wait(&d->idle, &d->lock);
	pthread_cond_broadcast(&d->idle); /* dirtier_sync() waiters: nothing runs now */
	pthread_mutex_unlock(&d->lock);
}

void dirtier_resume(struct dirtier *d)
{
	pthread_mutex_lock(&d->lock);
	d->paused = false;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

void dirtier_reset(struct dirtier *d)
{
	pthread_mutex_lock(&d->lock);
	memset(&d->regs, 0, sizeof(d->regs));
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

void dirtier_close(struct dirtier *d)
{
	pthread_mutex_lock(&d->lock);
	memset(&d->regs, 0, sizeof(d->regs));
	pthread_cond_broadcast(&d->cond);
	/* The core unmaps guest memory next: no write may still be running then. */
	while (d->busy)
		pthread_cond_wait(&d->idle, &d->lock);
	pthread_mutex_unlock(&d->lock);
}

void dirtier_get(struct dirtier *d, struct dirtier_regs *regs)
{
	pthread_mutex_lock(&d->lock);
	*regs = d->regs;
	pthread_mutex_unlock(&d->lock);
}

void dirtier_set(struct dirtier *d, const struct dirtier_regs *regs)
{
	pthread_mutex_lock(&d->lock);
	d->regs = *regs;
	pthread_cond_broadcast(&d->cond);
	pthread_mutex_unlock(&d->lock);
}

bool dirtier_regs_valid(const struct dirtier_regs *regs)
{
	if (regs->enable & ~1u)
		return false;
	return regs->len ? regs->pos < regs->len : regs->pos == 0;
}

void dirtier_sync(struct dirtier *d)
{
	pthread_mutex_lock(&d->lock);
	uint64_t target = d->iterations + 1;
	while (d->started && !d->stopping && has_work_locked(d) && d->iterations < target)
		pthread_cond_wait(&d->idle, &d->lock);
	pthread_mutex_unlock(&d->lock);
}
