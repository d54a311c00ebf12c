#!/usr/bin/env bash
# Kernel VFIO in a guest: boots Linux under QEMU (q35 + intel-iommu, TCG) with an initramfs of
# busybox and statically linked uvfio binaries, and runs tests/vm/guest_kernel.c there on QEMU's
# edu and NVMe devices and on a group made non-viable by an e1000 behind a pci-bridge.
#   1. the shared 6.12 image (type1 container and iommufd cdev built in), path type1
#   2. the same image, path iommufd
#   3. Debian bookworm's own kernel (modular 6.1, type1 only), path type1
# Usage: tests/vm/run.sh BUILD_DIR   (BUILD_DIR is accepted for `make check`; the guest binaries
# are linked statically in tests/vm/work/, which is also where everything else is kept.)
# Env: UVFIO_VM_KERNEL=bzImage (else ../shared/vm/linux-6.12-vfio.bzImage, else the cache: see
# scripts/assets.sh), UVFIO_VM_TIMEOUT=seconds per boot (default 600), UVFIO_VM_ACCEL=tcg|kvm.
# Without the 6.12 image only run 3 can run: runs 1 and 2 are reported as not run (and fail the
# run under CI=true); `make vm-assets` builds the image into the cache.
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
work=$here/work
timeout_s=${UVFIO_VM_TIMEOUT:-600}
accel=${UVFIO_VM_ACCEL:-tcg}
log() { echo "vm: $*" >&2; }
# shellcheck source=../../scripts/assets.sh
. "$repo/scripts/assets.sh"
image=$(asset_kernel) || {
	[ $? -eq 2 ] && exit 1
	image=
	not_run "guest tests on the 6.12 image (type1, iommufd)" "the 6.12 guest kernel" || exit 1
}

"$repo/scripts/install-deps.sh" vm
mkdir -p "$work"

log "building static guest binaries"
"$here/build-static.sh" "$work"

log "preparing Debian's kernel"
"$here/debian-kernel.sh" "$work/debian"

# $1: output, $2: modules dir or "" (files listed in its "order" are loaded in that order)
make_initramfs() {
	local out=$1 mods=$2 root
	root=$(mktemp -d "$work/initramfs.XXXXXX")
	mkdir -p "$root/bin" "$root/modules"
	cp /bin/busybox "$root/bin/busybox"
	cp "$here/init.sh" "$root/init"
	cp "$work"/bin/* "$root/bin/"
	if [ -n "$mods" ]; then
		cp "$mods"/* "$root/modules/"
	fi
	(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 >"$out"
	rm -rf "$root"
}
make_initramfs "$work/initramfs.img" ""
make_initramfs "$work/initramfs-debian.img" "$work/debian/modules"
[ -f "$work/nvme.img" ] || truncate -s 16M "$work/nvme.img"

failures=0
# $1: name, $2: kernel, $3: initramfs, $4: iommu path, $5: what "vfio:BDF" should pick
run_vm() {
	local name=$1 kernel=$2 initrd=$3 path=$4 auto=$5 out=$work/$1.log rc=0 summary
	log "booting $name ($path)"
	timeout --kill-after=10 "$timeout_s" qemu-system-x86_64 \
		-machine q35,kernel-irqchip=split -accel "$accel" -cpu max -m 1G -smp 2 \
		-device intel-iommu,intremap=on,caching-mode=on \
		-device edu,addr=03.0 -device edu,addr=04.0 \
		-drive if=none,id=d0,file="$work/nvme.img",format=raw \
		-device nvme,drive=d0,serial=uvfio,addr=05.0 \
		-device pci-bridge,id=br0,chassis_nr=1,addr=06.0 \
		-device e1000,bus=br0,addr=01.0 -device edu,bus=br0,addr=02.0 \
		-net none -vga none -nographic -no-reboot \
		-kernel "$kernel" -initrd "$initrd" \
		-append "console=ttyS0 intel_iommu=on panic=-1 loglevel=3 uvfio.iommu=$path uvfio.auto=$auto" \
		>"$out" 2>"$work/$name.qemu-stderr" </dev/null || rc=$?
	# Only lines the guest test printed count: the console also carries kernel noise.
	grep -a '^uvfio-vm| ' "$out" | tr -d '\r' | sed 's/^uvfio-vm| //' >"$work/$name.results" || true
	sed 's/^/    /' "$work/$name.results" >&2
	summary=$(grep -aE '^[0-9]+ passed, [0-9]+ failed$' "$work/$name.results" | tail -n 1 || true)
	if [ "$rc" -ne 0 ]; then
		log "$name: FAILED: QEMU exited with $rc (124: timeout); console in $out"
		sed 's/^/    qemu: /' "$work/$name.qemu-stderr" | tail -n 5 >&2
		failures=$((failures + 1))
	elif ! grep -qx 'done' "$work/$name.results" || [ -z "$summary" ]; then
		log "$name: FAILED: the guest test did not finish; console in $out"
		tail -n 20 "$out" >&2
		failures=$((failures + 1))
	elif ! [[ $summary =~ ^([0-9]+)\ passed,\ 0\ failed$ ]] || [ "${BASH_REMATCH[1]}" -eq 0 ]; then
		log "$name: FAILED: $summary"
		failures=$((failures + 1))
	else
		log "$name: $summary"
	fi
}

runs=1
if [ -n "$image" ]; then
	run_vm linux-6.12-type1 "$image" "$work/initramfs.img" type1 iommufd
	run_vm linux-6.12-iommufd "$image" "$work/initramfs.img" iommufd iommufd
	runs=3
fi
run_vm debian-6.1-type1 "$work/debian/vmlinuz" "$work/initramfs-debian.img" type1 type1

if [ "$failures" -ne 0 ]; then
	log "$failures of $runs guest runs failed"
	exit 1
fi
log "all $runs guest runs passed"
