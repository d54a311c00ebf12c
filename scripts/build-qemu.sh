#!/usr/bin/env bash
# Builds QEMU 10.2 with both vfio-user ends (vfio-user-pci, x-vfio-user-server), the way
# ../shared/qemu was made (its README): Debian's source package `qemu` from unstable, unpatched
# beyond Debian's patches, configured for x86_64 TCG only, with meson 1.7 from
# bookworm-backports (QEMU 10.2 needs meson >= 1.5; bookworm has 1.0), SeaBIOS and iPXE from
# bookworm's packages and the x86 option ROMs built from the same source. About 20 minutes on 2
# cores. Nothing in /etc/apt is touched: the two extra suites live in a private apt state.
# Usage: scripts/build-qemu.sh OUT_DIR   -> OUT_DIR/qemu-system-x86_64, a wrapper that runs
#        OUT_DIR/bin/qemu-system-x86_64 with OUT_DIR/lib (QEMU's pinned libvfio-user) and
#        OUT_DIR/pc-bios, like ../shared/qemu.
# Env: UVFIO_QEMU_VERSION (default 1:10.2.2+ds-1); UVFIO_QEMU_DRY_RUN=1 only checks that the
#      source package, meson and every build dependency can be found (downloads indexes only).
set -euo pipefail
out=${1:?usage: build-qemu.sh OUT_DIR}
version=${UVFIO_QEMU_VERSION:-1:10.2.2+ds-1}
dry=${UVFIO_QEMU_DRY_RUN:-}
mkdir -p "$out"
out=$(cd "$out" && pwd)
[ -z "$dry" ] && [ -x "$out/qemu-system-x86_64" ] && exit 0
log() { echo "build-qemu: $*" >&2; }
sudo=; [ "$(id -u)" = 0 ] || sudo=sudo

# Build dependencies, all from bookworm: the compiler and tools, the libraries of the features
# the configure line turns on, libvfio-user's (json-c), the option ROMs' 16-bit code
# (gcc-multilib) and the firmware packages whose images are copied.
need=(build-essential dpkg-dev ninja-build pkg-config python3 python3-venv flex bison
	libglib2.0-dev libpixman-1-dev libfdt-dev libslirp-dev zlib1g-dev libjson-c-dev
	gcc-multilib seabios ipxe-qemu)
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	if [ -n "$dry" ]; then
		log "would install: ${missing[*]}"
		apt-get install -s -qq "${missing[@]}" >/dev/null
		log "all build dependencies are installable from the configured suites"
	else
		DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
			"${missing[@]}" >/dev/null
	fi
fi

# A private apt state: unstable's sources (the qemu source package) and bookworm-backports'
# binaries (meson), on the mirror this machine already uses.
work=$out/build
apt_dir=$work/apt
mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
mirror=$(apt-get indextargets --format '$(REPO_URI)' | grep -m1 '/debian/$' || echo http://deb.debian.org/debian/)
cat >"$apt_dir/sources.list" <<EOF
deb-src $mirror unstable main
deb $mirror bookworm-backports main
EOF
opts=(-o Dir::Etc::sourcelist="$apt_dir/sources.list" -o Dir::Etc::sourceparts=/dev/null
	-o Dir::State::Lists="$apt_dir/lists" -o Dir::Cache="$apt_dir/cache"
	-o APT::Sandbox::User=root)
log "apt indexes of unstable (sources) and bookworm-backports from $mirror"
apt-get "${opts[@]}" update -qq >/dev/null

cd "$work"
if [ -n "$dry" ]; then
	apt-get "${opts[@]}" source --print-uris "qemu=$version" | grep -E "qemu_.*\.dsc" >&2 ||
		{ log "source package qemu=$version not found in unstable"; exit 1; }
	apt-get "${opts[@]}" download --print-uris -t bookworm-backports meson | grep -E "meson_1\.([5-9]|[1-9][0-9])" >&2 ||
		{ log "no meson >= 1.5 in bookworm-backports"; exit 1; }
	log "dry run: the source package, meson and the build dependencies are all available"
	exit 0
fi

# meson from backports, unpacked here (not installed: the system keeps bookworm's).
if [ ! -d meson/usr/lib/python3/dist-packages/mesonbuild ]; then
	rm -rf meson meson_*.deb
	apt-get "${opts[@]}" download -t bookworm-backports meson >/dev/null
	dpkg-deb -x meson_*.deb meson
fi
export PYTHONPATH=$work/meson/usr/lib/python3/dist-packages${PYTHONPATH:+:$PYTHONPATH}
export PATH=$work/meson/usr/bin:$PATH
meson --version | grep -qE '^1\.([5-9]|[1-9][0-9])' || { log "meson $(meson --version) is older than 1.5"; exit 1; }

upstream=${version#*:}
upstream=${upstream%-*}
src=$work/qemu-${upstream%+ds}
if [ ! -f "$src/configure" ]; then
	log "fetching Debian's source package qemu=$version"
	rm -rf "$src" qemu_*
	apt-get "${opts[@]}" source --download-only "qemu=$version" >/dev/null
	dpkg-source --no-check -x qemu_*.dsc "$src" >/dev/null
fi
[ -d "$src/subprojects/libvfio-user" ] ||
	{ log "$src has no subprojects/libvfio-user (needed by x-vfio-user-server)"; exit 1; }

log "configuring (the README's configure line)"
mkdir -p "$src/build"
cd "$src/build"
../configure --target-list=x86_64-softmmu --without-default-features --enable-tcg --enable-kvm \
	--enable-pixman --enable-slirp --enable-multiprocess --enable-vfio-user-server \
	--audio-drv-list= --disable-docs --disable-werror --disable-debug-info \
	--disable-install-blobs >"$work/configure.log" 2>&1 ||
	{ tail -n 30 "$work/configure.log" >&2; exit 1; }
log "building (about 20 minutes on 2 cores)"
# The emulator and libvfio-user (ninja), then the x86 option ROMs (linuxboot_dma.bin, needed by
# -kernel), which QEMU builds with make and a compiler that can do 16-bit code (gcc-multilib).
ninja -j"$(nproc)" >"$work/ninja.log" 2>&1 || { tail -n 30 "$work/ninja.log" >&2; exit 1; }
make -C pc-bios/optionrom >>"$work/ninja.log" 2>&1 || { tail -n 30 "$work/ninja.log" >&2; exit 1; }

log "installing into $out"
rm -rf "$out/bin" "$out/lib" "$out/pc-bios"
mkdir -p "$out/bin" "$out/lib" "$out/pc-bios"
cp qemu-system-x86_64 "$out/bin/"
cp subprojects/libvfio-user/lib/libvfio-user.so.0.0.1 "$out/lib/libvfio-user.so.0"
cp /usr/share/seabios/*.bin /usr/lib/ipxe/qemu/*.rom pc-bios/optionrom/*.bin "$out/pc-bios/"
[ -f "$out/pc-bios/linuxboot_dma.bin" ] || { log "linuxboot_dma.bin was not built (gcc-multilib?)"; exit 1; }
cat >"$out/qemu-system-x86_64.tmp" <<'EOF'
#!/bin/sh
# QEMU 10.2 (x86_64, TCG) with vfio-user-pci and x-vfio-user-server, built by
# scripts/build-qemu.sh. Its own libvfio-user and firmware are found next to it.
here=$(cd "$(dirname "$0")" && pwd)
LD_LIBRARY_PATH=$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH} exec "$here/bin/qemu-system-x86_64" -L "$here/pc-bios" "$@"
EOF
chmod +x "$out/qemu-system-x86_64.tmp"
"$out/qemu-system-x86_64.tmp" -device help 2>/dev/null | grep -q vfio-user-pci ||
	{ log "the built QEMU has no vfio-user-pci"; exit 1; }
mv "$out/qemu-system-x86_64.tmp" "$out/qemu-system-x86_64"
rm -rf "$src"
log "done: $out/qemu-system-x86_64"
