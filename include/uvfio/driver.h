/* SPDX-License-Identifier: MIT */
/*
 * The driver core: drivers register with PCI ID tables; a device declared by its identity binds
 * to the best matching driver, or to the one its driver_override names.
 *
 * Matching (the kernel's pci_match_device, plus "best" among drivers):
 *  - driver_override set: only the named driver is considered; its table is searched with
 *    override-only entries allowed; if no entry matches, it binds with a wildcard id.
 *  - otherwise every registered driver's non-override-only entries are searched; the entry with
 *    the most specific match wins (score: vendor, device, subvendor, subdevice, then class mask
 *    bits); a tie goes to the driver registered first.
 *  - no match: -ENODEV with a message naming the identity and suggesting driver_override.
 *  - driver_override naming no registered driver: -ENOENT.
 * The registry holds at most 32 drivers (-ENOSPC); a duplicate name is -EEXIST.
 */
#ifndef UVFIO_DRIVER_H
#define UVFIO_DRIVER_H

#include <uvfio/pci.h>

UVFIO_BEGIN_DECLS

#define UVFIO_PCI_ANY_ID 0xffffffffu

struct uvfio_pci_device_id {
	uint32_t vendor, device; /* or UVFIO_PCI_ANY_ID */
	uint32_t subvendor, subdevice; /* or UVFIO_PCI_ANY_ID */
	uint32_t class_code, class_mask; /* (ident.class_code & class_mask) == class_code */
	uint32_t override_only; /* match only when driver_override names this driver */
	uintptr_t driver_data;
};

#define UVFIO_PCI_DEVICE(v, d)                                                                     \
	.vendor = (v), .device = (d), .subvendor = UVFIO_PCI_ANY_ID, .subdevice = UVFIO_PCI_ANY_ID
#define UVFIO_PCI_DEVICE_SUB(v, d, sv, sd)                                                         \
	.vendor = (v), .device = (d), .subvendor = (sv), .subdevice = (sd)
#define UVFIO_PCI_DEVICE_CLASS(cls, mask)                                                          \
	.vendor = UVFIO_PCI_ANY_ID, .device = UVFIO_PCI_ANY_ID, .subvendor = UVFIO_PCI_ANY_ID,     \
	.subdevice = UVFIO_PCI_ANY_ID, .class_code = (cls), .class_mask = (mask)

/* key=value options of a device declaration ("edu,dma_mask=0xfffffff,name=x"). */
struct uvfio_options;
UVFIO_API struct uvfio_options *uvfio_options_parse(const char *text);
UVFIO_API void uvfio_options_free(struct uvfio_options *opts);
/* Getters mark the key as used; missing key: returns def (or 0 for has). Bad number: -EINVAL. */
UVFIO_API bool uvfio_options_has(struct uvfio_options *opts, const char *key);
UVFIO_API const char *uvfio_options_get(struct uvfio_options *opts, const char *key,
					const char *def);
UVFIO_API int uvfio_options_get_u64(struct uvfio_options *opts, const char *key, uint64_t def,
				    uint64_t *out);
UVFIO_API int uvfio_options_get_bool(struct uvfio_options *opts, const char *key, bool def,
				     bool *out);
/* The first option that no getter asked for, or NULL. */
UVFIO_API const char *uvfio_options_unused(struct uvfio_options *opts);
/* The leading bare word ("edu" in "edu,x=1"), or NULL. */
UVFIO_API const char *uvfio_options_name(struct uvfio_options *opts);

struct uvfio_driver {
	const char *name;
	const char *description;
	const struct uvfio_pci_device_id *id_table; /* ends with an all-zero entry */
	/* Identity used when a device is declared by this preset name (e.g. "edu"). */
	const struct uvfio_pci_ident *default_ident;
	/* Set up the device (BARs, capabilities, ops). opts: the declaration's options. */
	int (*probe)(struct uvfio_pci_device *pdev, const struct uvfio_pci_device_id *id,
		     struct uvfio_options *opts);
	/* One line per option, for --help. */
	const char *options_help;
};

UVFIO_API int uvfio_driver_register(const struct uvfio_driver *drv);
UVFIO_API const struct uvfio_driver *uvfio_driver_find(const char *name);
/* Iterate: i = 0, 1, ... until NULL. */
UVFIO_API const struct uvfio_driver *uvfio_driver_at(unsigned i);
/* The drivers shipped with uvfio (edu, ...); idempotent. */
UVFIO_API void uvfio_register_builtin_drivers(void);

/* Best match for an identity. driver_override may be NULL. Returns the driver and the matched
 * entry (a wildcard entry if bound only by override), or NULL with *err set. */
UVFIO_API const struct uvfio_driver *uvfio_driver_match(const struct uvfio_pci_ident *ident,
							 const char *driver_override,
							 const struct uvfio_pci_device_id **matched,
							 int *err);

/*
 * Create a device from a declaration "PRESET[,key=val...]" or "pci,vendor=..,device=..[,...]".
 * Identity keys: vendor, device, subvendor, subdevice, class, revision (override the preset's);
 * driver_override=NAME forces a driver; name=STR names the device in logs. The rest go to the
 * driver's probe, which must consume them: an unknown option fails with -EINVAL.
 * A preset word binds its own driver while that driver's table (override-only entries
 * included) matches the identity, so variants such as edu-mig bind themselves; otherwise the
 * usual matching applies. Errors: -EINVAL (syntax, unknown option), -ENOENT (unknown preset or
 * driver_override), -ENODEV (no driver matches), or what probe returned.
 */
UVFIO_API int uvfio_pci_create(const char *declaration, struct uvfio_pci_device **out);

UVFIO_END_DECLS

#endif
