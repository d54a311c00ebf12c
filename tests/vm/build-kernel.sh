#!/usr/bin/env bash
# Rebuilds the guest kernel with both kernel VFIO paths built in (type1 container and iommufd
# with the device cdev), the way ../shared/vm/linux-6.12-vfio.bzImage was made: Debian's
# linux-source-6.12, `make defconfig kvm_guest.config`, modules off, the options below on.
# No Debian kernel package enables IOMMUFD or VFIO_DEVICE_CDEV. About 25 minutes on 2 cores.
# Usage: tests/vm/build-kernel.sh OUT_DIR   -> OUT_DIR/bzImage
set -euo pipefail
out=${1:?usage: build-kernel.sh OUT_DIR}
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -f "$out/bzImage" ] && exit 0

need=(build-essential bc bison flex libelf-dev libssl-dev)
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

cd "$out"
if ! ls linux-source-6.12*.deb >/dev/null 2>&1; then
	# Try the configured suites first; else bookworm-backports through a private apt state
	# (never touching /etc/apt), on the mirror this machine already uses.
	if ! apt-get download -o APT::Sandbox::User=root linux-source-6.12 >/dev/null 2>&1; then
		mirror=$(apt-get indextargets --format '$(REPO_URI)' | grep -m1 '/debian/$' || echo http://deb.debian.org/debian/)
		mkdir -p apt/lists/partial apt/cache/archives/partial
		echo "deb $mirror bookworm-backports main" >apt/sources.list
		opts=(-o Dir::Etc::sourcelist="$out/apt/sources.list" -o Dir::Etc::sourceparts=/dev/null
		      -o Dir::State::Lists="$out/apt/lists" -o Dir::Cache="$out/apt/cache"
		      -o APT::Sandbox::User=root)
		apt-get "${opts[@]}" update >/dev/null
		apt-get "${opts[@]}" download linux-source-6.12 >/dev/null
	fi
fi
rm -rf src && mkdir src
dpkg-deb -x linux-source-6.12*.deb src
tar -C src -xf src/usr/src/linux-source-6.12.tar.xz
cd src/linux-source-6.12
make -s defconfig kvm_guest.config
cat >>.config <<'CFG'
CONFIG_MODULES=n
CONFIG_PCI_MSI=y
CONFIG_IOMMU_SUPPORT=y
CONFIG_INTEL_IOMMU=y
CONFIG_IRQ_REMAP=y
CONFIG_VFIO=y
CONFIG_VFIO_GROUP=y
CONFIG_VFIO_CONTAINER=y
CONFIG_VFIO_IOMMU_TYPE1=y
CONFIG_VFIO_PCI=y
CONFIG_VFIO_PCI_INTX=y
CONFIG_VFIO_PCI_MMAP=y
CONFIG_VFIO_NOIOMMU=y
CONFIG_IOMMUFD=y
CONFIG_VFIO_DEVICE_CDEV=y
CONFIG_BLK_DEV_NVME=y
CONFIG_E1000=y
CONFIG_DEVTMPFS=y
CONFIG_BLK_DEV_INITRD=y
CFG
make -s olddefconfig
for o in VFIO VFIO_CONTAINER VFIO_PCI IOMMUFD VFIO_DEVICE_CDEV INTEL_IOMMU BLK_DEV_NVME; do
	grep -qx "CONFIG_$o=y" .config || { echo "build-kernel: CONFIG_$o did not stick" >&2; exit 1; }
done
make -s -j"$(nproc)" bzImage
cp arch/x86/boot/bzImage "$out/bzImage.tmp"
mv "$out/bzImage.tmp" "$out/bzImage"
