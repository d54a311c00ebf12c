/* SPDX-License-Identifier: MIT */
/* The drivers shipped with uvfio, registered in a fixed order (ties in matching go to the
 * driver registered first). */
#include <errno.h>
#include <pthread.h>

#include <uvfio/driver.h>

#include "edu-mig/edu_mig.h"
#include "edu/edu.h"
#include "nvme/nvme.h"
#include "util/log.h"

static const struct uvfio_driver *const builtin_drivers[] = {
	&edu_driver,
	&edu_mig_driver,
	&nvme_driver,
};

static void register_all(void)
{
	for (size_t i = 0; i < sizeof(builtin_drivers) / sizeof(builtin_drivers[0]); i++) {
		int ret = uvfio_driver_register(builtin_drivers[i]);
		/* Already there (registered by hand before): fine, that is idempotence. */
		if (ret < 0 && ret != -EEXIST)
			log_err("builtin driver %s not registered: %d", builtin_drivers[i]->name, ret);
	}
}

void uvfio_register_builtin_drivers(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;
	pthread_once(&once, register_all);
}
