/* SPDX-License-Identifier: MIT */
/*
 * What the guest test programs (tests/vm/guest_*.c, tests/interop/guest_interop.c) and
 * tests/interop/peer_check.c share: the PASS/FAIL lines and the closing "N passed, N failed"
 * the host scripts parse, running a shell command, PCI sysfs attributes, eventfd waits and
 * opening a kernel VFIO device. Linked in by tests/vm/build-static.sh and
 * tests/interop/meson.build.
 */
#ifndef UVFIO_TESTS_GUEST_UTIL_H
#define UVFIO_TESTS_GUEST_UTIL_H

#include <stdbool.h>
#include <stddef.h>

struct uvfio_handle;

/* Counts one check and prints "PASS ..." or "FAIL ..." on a line of its own. */
void result(bool ok, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Prints the closing "N passed, N failed" line; the exit status: 0 iff none failed. */
int summary(void);

/* Runs a shell command; its output goes to out (and is echoed with a prefix). Exit status
 * (-1 if it did not exit). */
int run(const char *cmd, char *out, size_t len);

/* The last "N passed, N failed" line in out (a test program's output); nf is 1 if none. */
void parse_summary(const char *out, unsigned *np, unsigned *nf);

/* /sys/bus/pci/devices/BDF/ATTR's first line without its newline; false if unreadable. */
bool sysfs_read(const char *bdf, const char *attr, char *buf, size_t len);

/* A hexadecimal PCI sysfs attribute (vendor, class...); 0 if unreadable. */
unsigned long sysfs_hex(const char *bdf, const char *attr);

/* 1 if the eventfd fired within ms (and reads its count). */
int wait_efd(int efd, int ms);

/* Opens "vfio:BDF?iommu=MODE" through uvfio's kernel client. */
int open_vfio(const char *bdf, const char *mode, struct uvfio_handle **h);

#endif
