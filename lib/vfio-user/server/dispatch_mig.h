/* SPDX-License-Identifier: MIT */
/* Migration commands of the server (dispatch_mig.c); handle_feature is in server_priv.h. */
#ifndef UVFIO_VFIO_USER_DISPATCH_MIG_H
#define UVFIO_VFIO_USER_DISPATCH_MIG_H

#include "vfio-user/server/server_priv.h"

int handle_mig_data_read(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r);
int handle_mig_data_write(struct vfu_conn *c, struct vfu_msg *m, struct vfu_reply *r);

#endif
