#!/usr/bin/env bash
# Statically linked guest binaries: the uvfio CLI, the edu client and the guest tests (tests/vm
# and tests/interop guest_*.c), linked
# against libuvfio's internal static library and the static archives of json-c, liburing (the NVMe file backend), xxhash and zlib
# (the initramfs has no libc). Usage: tests/vm/build-static.sh OUT_DIR
set -euo pipefail
out=${1:?usage: build-static.sh OUT_DIR}
repo=$(cd "$(dirname "$0")/../.." && pwd)
bld=$out/build-static
mkdir -p "$out/bin"

# Its own build dir: the caller's may be sanitized, which cannot be linked statically.
if [ ! -f "$bld/build.ninja" ]; then
	meson setup "$bld" "$repo" -Dtests=false -Dbuildtype=debugoptimized >"$out/meson-setup.log" ||
		{ cat "$out/meson-setup.log" >&2; exit 1; }
fi
ninja -C "$bld" libuvfio_internal.a >"$out/ninja.log" || { cat "$out/ninja.log" >&2; exit 1; }

cc=${CC:-cc}
cflags=(-std=gnu11 -O2 -g -D_GNU_SOURCE -pthread -I"$repo/include" -I"$repo/lib"
	$(pkg-config --cflags json-c))
libs=("$bld/libuvfio_internal.a" "$(pkg-config --variable=libdir json-c)/libjson-c.a" -luring -lxxhash -lz
	-lpthread -lm)
link() { # NAME SOURCES... [-- EXTRA CFLAGS]
	local name=$1; shift
	"$cc" -static "${cflags[@]}" "$@" "${libs[@]}" -o "$out/bin/$name"
}

link uvfio -I"$repo/tools/uvfio" -DHAVE_CMD_HOST -DUVFIO_VERSION='"vm"' "$repo"/tools/uvfio/*.c
if [ -f "$repo/examples/edu-client/edu_client.c" ]; then
	link uvfio-edu-client "$repo/examples/edu-client/edu_client.c"
fi
# guest_util.c is not a program: the helpers every guest test links in.
for t in "$repo"/tests/vm/guest_*.c "$repo"/tests/interop/guest_*.c; do
	[ -f "$t" ] && [ "$t" != "$repo/tests/vm/guest_util.c" ] || continue
	link "$(basename "$t" .c)" "$t" "$repo/tests/vm/guest_util.c"
done
