#!/usr/bin/env bash
# Installs the Debian bookworm packages uvfio needs, only those missing. Usage:
#   scripts/install-deps.sh          build + unit/integration tests
#   scripts/install-deps.sh vm       also what the guest (kernel VFIO) tests need
#   scripts/install-deps.sh interop  also what tests/interop needs: the runtime libraries of the
#                                    QEMU 10.2 build (../shared/qemu or scripts/build-qemu.sh)
#                                    and the NVMe guest check's tools
set -euo pipefail

pkgs=(build-essential meson ninja-build pkg-config libjson-c-dev zlib1g-dev libxxhash-dev libcmocka-dev linux-libc-dev clang)
case "${1:-}" in
vm) pkgs+=(qemu-system-x86 busybox-static cpio xz-utils kmod) ;;
interop) pkgs+=(busybox-static cpio libglib2.0-0 libpixman-1-0 libfdt1 libslirp0 zlib1g
		e2fsprogs nvme-cli) ;;
esac

missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "install-deps: installing ${missing[*]}" >&2
sudo=
if [ "$(id -u)" != 0 ]; then
	command -v sudo >/dev/null || { echo "install-deps: need root (or sudo) to install: ${missing[*]}" >&2; exit 1; }
	sudo=sudo
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
