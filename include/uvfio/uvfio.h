/* SPDX-License-Identifier: MIT */
/* Umbrella include for libuvfio. */
#ifndef UVFIO_H
#define UVFIO_H

#include <uvfio/common.h>
#include <uvfio/log.h>
#include <uvfio/device.h>
#include <uvfio/pci.h>
#include <uvfio/driver.h>
#include <uvfio/dma.h>
#include <uvfio/server.h>
#include <uvfio/client.h>
#include <uvfio/migration.h>
#include <uvfio/migrate.h>
#include <uvfio/host.h>

#endif
