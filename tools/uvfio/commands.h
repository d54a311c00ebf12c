/* SPDX-License-Identifier: MIT */
/* The uvfio subcommands and the helpers they share. Each returns the process exit code. */
#ifndef UVFIO_TOOL_COMMANDS_H
#define UVFIO_TOOL_COMMANDS_H

#include <stdbool.h>
#include <stdint.h>

#include "parse.h"

#define EXIT_OK 0
#define EXIT_FAILED 1 /* the operation failed */
#define EXIT_USAGE 2 /* bad command line */

int cmd_serve(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_read(int argc, char **argv);
int cmd_write(int argc, char **argv);
/* tools/uvfio/cmd_host.c (kernel host management). */
int cmd_list(int argc, char **argv);
int cmd_bind(int argc, char **argv);
int cmd_unbind(int argc, char **argv);
/* UVFIO_SYSFS_ROOT & co. from the environment; -EINVAL (message printed) if bad. */
int host_configure_from_env(void);
/* tools/uvfio/cmd_mdev.c: mediated devices. list_mdevs() is the mdev part of `uvfio list`. */
int cmd_mdev(int argc, char **argv);
void list_mdevs(void);
/* tools/uvfio/cmd_migrate.c, cmd_state.c (migration). */
int cmd_migrate(int argc, char **argv);
int cmd_save(int argc, char **argv);
int cmd_load(int argc, char **argv);
/* tools/uvfio/cmd_nvme.c, cmd_bench.c (the NVMe host driver). */
int cmd_nvme(int argc, char **argv);
int cmd_bench(int argc, char **argv);

/* Prints "uvfio CMD: message" to stderr and returns EXIT_USAGE. */
int usage_error(const char *cmd, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Applies --log LEVEL; false if LEVEL is not a level. */
bool set_log_level(const char *level);

/* tools/uvfio/args.c. A URL whose syntax is wrong: message and EXIT_USAGE, else 0. */
int check_url(const char *cmd, const char *url);
/* check_url, then uvfio_open: 0, EXIT_USAGE, or EXIT_FAILED (message printed). */
struct uvfio_handle;
int open_url(const char *cmd, const char *url, struct uvfio_handle **h);
/* err's text, preceded by the server's reason for the last refusal on h if it gave one. */
#include <stddef.h>
const char *why(struct uvfio_handle *h, int err, char *buf, size_t size);

#endif
