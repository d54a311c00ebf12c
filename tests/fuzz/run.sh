#!/usr/bin/env bash
# Builds the libFuzzer targets with clang and runs each: `smoke` (part of make check: a bounded
# number of runs from the seed corpus) or `long` (make fuzz: 60 s each, or $FUZZ_SECONDS).
set -euo pipefail
build=${1:-build-fuzz}
mode=${2:-smoke}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debug >/dev/null
fi
if ! ninja -C "$build" >"$build/ninja.log" 2>&1; then
	echo "fuzz: building the targets failed:" >&2
	tail -30 "$build/ninja.log" >&2
	exit 1
fi
status=0
for target in "$build"/tests/fuzz/fuzz_*; do
	[ -f "$target" ] && [ -x "$target" ] || continue
	name=$(basename "$target")
	corpus="$root/tests/fuzz/corpus-$name"
	mkdir -p "$corpus"
	seeds=()
	[ -d "$here/seeds/$name" ] && seeds=("$here/seeds/$name")
	if [ "$mode" = long ]; then
		args=(-max_total_time="${FUZZ_SECONDS:-60}")
	else
		args=(-runs="${FUZZ_RUNS:-3000}")
	fi
	if ASAN_OPTIONS=detect_leaks=1 "$target" "${args[@]}" -max_len=4096 -timeout=10 \
		-artifact_prefix="$build/" "$corpus" "${seeds[@]}" >"$build/$name.log" 2>&1; then
		echo "fuzz: $name ok ($(grep -Eo 'Done [0-9]+ runs' "$build/$name.log" || echo done))"
	else
		echo "fuzz: $name FAILED (see $build/$name.log)"
		tail -30 "$build/$name.log"
		status=1
	fi
done
exit $status
