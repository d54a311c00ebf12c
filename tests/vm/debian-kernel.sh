#!/usr/bin/env bash
# Debian bookworm's own kernel for the guest: vmlinuz plus the modules VFIO needs (and the
# drivers of the test's other devices), decompressed for busybox insmod, with the load order
# modprobe computes (vfio_iommu_type1 is only a soft dependency of vfio, so it is named).
# Usage: tests/vm/debian-kernel.sh OUT_DIR  -> OUT_DIR/vmlinuz, OUT_DIR/modules/{*.ko,order}
set -euo pipefail
out=${1:?usage: debian-kernel.sh OUT_DIR}
if [ -f "$out/vmlinuz" ] && [ -f "$out/modules/order" ]; then
	exit 0
fi
mkdir -p "$out"
cd "$out"
resolve() {
	apt-cache depends linux-image-amd64 2>/dev/null |
		sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -n 1
}
pkg=$(resolve)
if [ -z "$pkg" ]; then
	# A fresh machine may have no package lists yet.
	sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
	$sudo apt-get update -qq >/dev/null 2>&1 || true
	pkg=$(resolve)
fi
if [ -z "$pkg" ]; then
	echo "debian-kernel: cannot resolve linux-image-amd64 (run apt-get update)" >&2
	exit 1
fi
rm -rf x modules ./*.deb
# apt drops privileges to _apt for downloads; the work dir may not be writable for it.
apt-get download -o APT::Sandbox::User=root "$pkg" >/dev/null
dpkg-deb -x ./*.deb x
kver=$(ls x/lib/modules)
depmod -b x "$kver"
mkdir -p modules
: >modules/order.tmp
modprobe -d x -S "$kver" -D -a vfio vfio_iommu_type1 vfio-pci e1000 nvme |
	awk '$1 == "insmod" { print $2 }' | awk '!seen[$0]++' | while read -r ko; do
	name=$(basename "$ko")
	case $name in
	*.xz) xz -dc "$ko" >"modules/${name%.xz}"; name=${name%.xz} ;;
	*.zst) zstd -qdc "$ko" >"modules/${name%.zst}"; name=${name%.zst} ;;
	*) cp "$ko" "modules/$name" ;;
	esac
	echo "$name" >>modules/order.tmp
done
mv modules/order.tmp modules/order
cp "x/boot/vmlinuz-$kver" vmlinuz.tmp
mv vmlinuz.tmp vmlinuz
rm -rf x ./*.deb
