/* SPDX-License-Identifier: MIT */
/*
 * The driver core: a registry of drivers, matching an identity to the best driver (the
 * kernel's pci_match_device plus a specificity score across drivers), and creating a device
 * from a declaration string.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <uvfio/driver.h>

#include "util/log.h"

#define DRIVERS_MAX 32

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static const struct uvfio_driver *registry[DRIVERS_MAX];
static unsigned registry_count;
static unsigned device_serial; /* numbers unnamed devices: edu0, edu1, ... */

/* What a driver binds with when driver_override names it but no entry matches (kernel:
 * pci_device_id with all PCI_ANY_ID). */
static const struct uvfio_pci_device_id wildcard_id = {
	UVFIO_PCI_DEVICE_CLASS(0, 0),
};

int uvfio_driver_register(const struct uvfio_driver *drv)
{
	if (!drv || !drv->name || !*drv->name || !drv->probe || !drv->id_table) {
		log_err("driver: registration needs a name, an id table and probe()");
		return -EINVAL;
	}
	int ret = 0;
	pthread_mutex_lock(&registry_lock);
	for (unsigned i = 0; i < registry_count; i++) {
		if (strcmp(registry[i]->name, drv->name) == 0) {
			ret = -EEXIST;
			break;
		}
	}
	if (ret == 0 && registry_count >= DRIVERS_MAX)
		ret = -ENOSPC;
	if (ret == 0)
		registry[registry_count++] = drv;
	pthread_mutex_unlock(&registry_lock);
	if (ret == -EEXIST)
		log_err("driver: '%s' is already registered", drv->name);
	else if (ret == -ENOSPC)
		log_err("driver: registry full (%d drivers), '%s' not registered", DRIVERS_MAX,
			drv->name);
	return ret;
}

const struct uvfio_driver *uvfio_driver_find(const char *name)
{
	if (!name)
		return NULL;
	const struct uvfio_driver *found = NULL;
	pthread_mutex_lock(&registry_lock);
	for (unsigned i = 0; i < registry_count && !found; i++)
		if (strcmp(registry[i]->name, name) == 0)
			found = registry[i];
	pthread_mutex_unlock(&registry_lock);
	return found;
}

const struct uvfio_driver *uvfio_driver_at(unsigned i)
{
	pthread_mutex_lock(&registry_lock);
	const struct uvfio_driver *drv = i < registry_count ? registry[i] : NULL;
	pthread_mutex_unlock(&registry_lock);
	return drv;
}

static bool id_is_end(const struct uvfio_pci_device_id *id)
{
	return !id->vendor && !id->device && !id->subvendor && !id->subdevice &&
	       !id->class_mask && !id->override_only;
}

static bool field_matches(uint32_t want, uint16_t have)
{
	return want == UVFIO_PCI_ANY_ID || want == have;
}

static bool id_matches(const struct uvfio_pci_device_id *id, const struct uvfio_pci_ident *ident)
{
	return field_matches(id->vendor, ident->vendor) && field_matches(id->device, ident->device) &&
	       field_matches(id->subvendor, ident->subvendor) &&
	       field_matches(id->subdevice, ident->subdevice) &&
	       (ident->class_code & id->class_mask) == id->class_code;
}

/* Lexicographic specificity: vendor, device, subvendor, subdevice, then class mask bits. */
static uint64_t id_score(const struct uvfio_pci_device_id *id)
{
	uint64_t s = (uint64_t)__builtin_popcount(id->class_mask);
	s |= (uint64_t)(id->subdevice != UVFIO_PCI_ANY_ID) << 33;
	s |= (uint64_t)(id->subvendor != UVFIO_PCI_ANY_ID) << 34;
	s |= (uint64_t)(id->device != UVFIO_PCI_ANY_ID) << 35;
	s |= (uint64_t)(id->vendor != UVFIO_PCI_ANY_ID) << 36;
	return s;
}

/* The most specific entry of one driver's table (first on ties), or NULL. */
static const struct uvfio_pci_device_id *best_in_table(const struct uvfio_driver *drv,
						       const struct uvfio_pci_ident *ident,
						       bool allow_override_only, uint64_t *score)
{
	const struct uvfio_pci_device_id *best = NULL;
	for (const struct uvfio_pci_device_id *id = drv->id_table; !id_is_end(id); id++) {
		if (id->override_only && !allow_override_only)
			continue;
		if (!id_matches(id, ident))
			continue;
		uint64_t s = id_score(id);
		if (!best || s > *score) {
			best = id;
			*score = s;
		}
	}
	return best;
}

static void log_no_driver(const struct uvfio_pci_ident *ident)
{
	log_err("no driver for %04x:%04x (subsystem %04x:%04x, class 0x%06x); "
		"use driver_override=NAME",
		ident->vendor, ident->device, ident->subvendor, ident->subdevice, ident->class_code);
}

const struct uvfio_driver *uvfio_driver_match(const struct uvfio_pci_ident *ident,
					       const char *driver_override,
					       const struct uvfio_pci_device_id **matched, int *err)
{
	int dummy;
	if (!err)
		err = &dummy;
	if (!ident) {
		*err = -EINVAL;
		return NULL;
	}
	if (driver_override) {
		const struct uvfio_driver *drv = uvfio_driver_find(driver_override);
		if (!drv) {
			log_err("driver_override=%s: no such driver", driver_override);
			*err = -ENOENT;
			return NULL;
		}
		uint64_t score = 0;
		const struct uvfio_pci_device_id *id = best_in_table(drv, ident, true, &score);
		if (matched)
			*matched = id ? id : &wildcard_id;
		*err = 0;
		return drv;
	}

	const struct uvfio_driver *best_drv = NULL;
	const struct uvfio_pci_device_id *best_id = NULL;
	uint64_t best_score = 0;
	for (unsigned i = 0;; i++) {
		const struct uvfio_driver *drv = uvfio_driver_at(i);
		if (!drv)
			break;
		uint64_t score = 0;
		const struct uvfio_pci_device_id *id = best_in_table(drv, ident, false, &score);
		/* Strictly better only: a tie stays with the driver registered first. */
		if (id && (!best_id || score > best_score)) {
			best_drv = drv;
			best_id = id;
			best_score = score;
		}
	}
	if (!best_drv) {
		log_no_driver(ident);
		*err = -ENODEV;
		return NULL;
	}
	if (matched)
		*matched = best_id;
	*err = 0;
	return best_drv;
}

/* An identity key: absent leaves *field alone. Range-checked against max. */
static int ident_key(struct uvfio_options *opts, const char *key, uint64_t max, uint64_t *field)
{
	uint64_t v = 0;
	if (!uvfio_options_has(opts, key))
		return 0;
	int ret = uvfio_options_get_u64(opts, key, 0, &v);
	if (ret < 0)
		return ret;
	if (v > max) {
		log_err("%s=0x%llx is out of range (max 0x%llx)", key, (unsigned long long)v,
			(unsigned long long)max);
		return -EINVAL;
	}
	*field = v;
	return 0;
}

/* Identity from the preset (or none for "pci"), then the identity keys. */
static int build_ident(struct uvfio_options *opts, const char *word,
		       const struct uvfio_driver *preset, struct uvfio_pci_ident *ident)
{
	*ident = preset && preset->default_ident ? *preset->default_ident
						 : (struct uvfio_pci_ident){ 0 };
	if (!preset && (!uvfio_options_has(opts, "vendor") || !uvfio_options_has(opts, "device"))) {
		log_err("'%s' declaration needs vendor= and device=", word);
		return -EINVAL;
	}
	uint64_t v[6] = { ident->vendor,     ident->device,	ident->subvendor,
			  ident->subdevice, ident->class_code, ident->revision };
	static const char *const keys[6] = { "vendor",    "device", "subvendor",
					     "subdevice", "class",  "revision" };
	static const uint64_t max[6] = { 0xffff, 0xffff, 0xffff, 0xffff, 0xffffff, 0xff };
	for (int i = 0; i < 6; i++) {
		int ret = ident_key(opts, keys[i], max[i], &v[i]);
		if (ret < 0)
			return ret;
	}
	*ident = (struct uvfio_pci_ident){
		.vendor = (uint16_t)v[0],
		.device = (uint16_t)v[1],
		.subvendor = (uint16_t)v[2],
		.subdevice = (uint16_t)v[3],
		.class_code = (uint32_t)v[4],
		.revision = (uint8_t)v[5],
	};
	return 0;
}

/*
 * Which driver to bind. An explicit driver_override wins. Otherwise a preset word prefers its
 * own driver when that driver's table (override-only entries included) matches the identity,
 * so a variant like "edu-mig" binds itself; else the best match over all drivers.
 */
static const struct uvfio_driver *pick_driver(const struct uvfio_pci_ident *ident,
					      const char *override,
					      const struct uvfio_driver *preset,
					      const struct uvfio_pci_device_id **id, int *err)
{
	if (!override && preset) {
		uint64_t score = 0;
		*id = best_in_table(preset, ident, true, &score);
		if (*id) {
			*err = 0;
			return preset;
		}
	}
	return uvfio_driver_match(ident, override, id, err);
}

static int probe_device(const struct uvfio_driver *drv, const struct uvfio_pci_device_id *id,
			const struct uvfio_pci_ident *ident, struct uvfio_options *opts,
			struct uvfio_pci_device **out)
{
	struct uvfio_pci_device *pdev = uvfio_pci_device_new(ident);
	if (!pdev) {
		log_err("%s: cannot create the PCI device", drv->name);
		return -ENOMEM;
	}
	char namebuf[64];
	const char *name = uvfio_options_get(opts, "name", NULL);
	if (!name) {
		pthread_mutex_lock(&registry_lock);
		unsigned n = device_serial++;
		pthread_mutex_unlock(&registry_lock);
		snprintf(namebuf, sizeof(namebuf), "%s%u", drv->name, n);
		name = namebuf;
	}
	uvfio_device_set_name(uvfio_pci_to_device(pdev), name);

	int ret = drv->probe(pdev, id, opts);
	if (ret < 0) {
		log_err("%s: probe of %s failed: %s", drv->name, name, strerror(-ret));
		uvfio_pci_device_free(pdev);
		return ret;
	}
	const char *unused = uvfio_options_unused(opts);
	if (unused) {
		log_err("%s: unknown option '%s'; options: %s", drv->name, unused,
			drv->options_help ? drv->options_help : "(none)");
		uvfio_pci_device_free(pdev);
		return -EINVAL;
	}
	uvfio_pci_finalize(pdev);
	*out = pdev;
	return 0;
}

int uvfio_pci_create(const char *declaration, struct uvfio_pci_device **out)
{
	if (!out)
		return -EINVAL;
	*out = NULL;
	struct uvfio_options *opts = uvfio_options_parse(declaration);
	if (!opts) {
		log_err("bad device declaration '%s'", declaration ? declaration : "(null)");
		return -EINVAL;
	}
	int ret = -EINVAL;
	const char *word = uvfio_options_name(opts);
	const struct uvfio_driver *preset = NULL;
	if (!word) {
		log_err("declaration '%s' must start with a preset name or 'pci'", declaration);
		goto out;
	}
	if (strcmp(word, "pci") != 0) {
		preset = uvfio_driver_find(word);
		if (!preset || !preset->default_ident) {
			log_err("'%s' is not a device preset; use 'pci,vendor=..,device=..'", word);
			ret = -ENOENT;
			goto out;
		}
	}
	struct uvfio_pci_ident ident;
	ret = build_ident(opts, word, preset, &ident);
	if (ret < 0)
		goto out;
	const char *override = uvfio_options_get(opts, "driver_override", NULL);
	const struct uvfio_pci_device_id *id = NULL;
	const struct uvfio_driver *drv = pick_driver(&ident, override, preset, &id, &ret);
	if (!drv)
		goto out;
	ret = probe_device(drv, id, &ident, opts, out);
out:
	uvfio_options_free(opts);
	return ret;
}
