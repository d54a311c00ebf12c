#!/usr/bin/env bash
# What the guest and interop tests need beyond Debian's packages, and where they find it:
#   kernel  the 6.12 guest image with both kernel VFIO paths (iommufd, mdev; tests/vm)
#   qemu    QEMU 10.1+ with vfio-user-pci and x-vfio-user-server (tests/interop)
# Each is looked up in order: its environment variable (UVFIO_VM_KERNEL, UVFIO_QEMU: a file that
# must exist), ../shared (next to the clone), the cache (UVFIO_CACHE, default ~/.cache/uvfio),
# where `make vm-assets` builds them.
#
# Sourced by the test scripts (after setting repo=): asset_kernel / asset_qemu print the path or
# fail; not_run TEST WHAT records a test that cannot run (or fails the run when CI=true).
# Run as a command:
#   scripts/assets.sh summary FILE   the closing lines of `make check`: what did not run, why
#   scripts/assets.sh build          build the missing assets into the cache (`make vm-assets`)
uvfio_cache=${UVFIO_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/uvfio}
VM_ASSETS_HINT="make vm-assets (builds the guest kernel and QEMU into $uvfio_cache: about an hour on 2 cores)"

# $1: env var value, $2...: candidates. A set variable must name an existing file.
_asset_find() {
	local env=$1 c
	shift
	if [ -n "$env" ]; then
		[ -f "$env" ] || { echo "assets: $env (from the environment) does not exist" >&2; return 2; }
		echo "$env"
		return 0
	fi
	for c in "$@"; do
		[ -f "$c" ] && { echo "$c"; return 0; }
	done
	return 1
}

asset_kernel() {
	_asset_find "${UVFIO_VM_KERNEL:-}" "$repo/../shared/vm/linux-6.12-vfio.bzImage" \
		"$uvfio_cache/vm/linux-6.12-vfio.bzImage"
}

asset_qemu() {
	_asset_find "${UVFIO_QEMU:-}" "$repo/../shared/qemu/qemu-system-x86_64" \
		"$uvfio_cache/qemu/qemu-system-x86_64"
}

# TEST WHAT: TEST cannot run without WHAT. Outside CI it is recorded for the summary and the
# caller goes on (return 0); under CI=true nothing may be left out (return 1).
not_run() {
	if [ "${CI:-}" = true ]; then
		echo "$1: FAILED: needs $2, which is missing (CI=true: no test may be left out)" >&2
		return 1
	fi
	echo "$1: NOT RUN: needs $2" >&2
	if [ -n "${UVFIO_NOT_RUN_FILE:-}" ]; then
		echo "$1 (needs $2)" >>"$UVFIO_NOT_RUN_FILE"
	fi
	return 0
}

_assets_summary() {
	local file=$1
	if [ ! -s "$file" ]; then
		echo "check: every test ran."
		return 0
	fi
	echo
	echo "check: passed, but these tests did NOT run (no asset in ../shared, $uvfio_cache or the environment):"
	sed 's/^/  - /' "$file"
	echo "check: to run them: $VM_ASSETS_HINT"
}

_assets_build() {
	local here
	here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
	if ! asset_kernel >/dev/null 2>&1; then
		echo "vm-assets: building the 6.12 guest kernel (25-40 minutes)" >&2
		"$here/../tests/vm/build-kernel.sh" "$uvfio_cache/vm/build"
		cp "$uvfio_cache/vm/build/bzImage" "$uvfio_cache/vm/linux-6.12-vfio.bzImage.tmp"
		mv "$uvfio_cache/vm/linux-6.12-vfio.bzImage.tmp" "$uvfio_cache/vm/linux-6.12-vfio.bzImage"
		rm -rf "$uvfio_cache/vm/build/src"
	fi
	echo "vm-assets: kernel: $(asset_kernel)" >&2
	if ! asset_qemu >/dev/null 2>&1; then
		echo "vm-assets: building QEMU 10.2 from Debian's source package (about 20 minutes)" >&2
		"$here/build-qemu.sh" "$uvfio_cache/qemu"
	fi
	echo "vm-assets: qemu: $(asset_qemu)" >&2
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
	set -euo pipefail
	repo=$(cd "$(dirname "$0")/.." && pwd)
	case "${1:-}" in
	summary) _assets_summary "${2:?usage: assets.sh summary FILE}" ;;
	build) _assets_build ;;
	*) echo "usage: $0 summary FILE | build" >&2; exit 2 ;;
	esac
fi
