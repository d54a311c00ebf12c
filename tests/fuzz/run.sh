#!/usr/bin/env bash
# Builds the libFuzzer targets (clang, ASan+UBSan, everything coverage-instrumented) and runs
# them, FUZZ_PARALLEL (2) at a time under nice -n 19:
#   smoke   part of make check: each target from its seeds for FUZZ_RUNS (2000) inputs with a
#           fixed seed; fails on a crash, or if its edges (libFuzzer's final cov:) fall below
#           the floor in tests/fuzz/floors.txt
#   long    make fuzz: each target FUZZ_SECONDS (60) or FUZZ_MAX_RUNS inputs, whichever first,
#           growing the corpus in BUILD/corpus/<target>; prints executions, edges and time
#   floors  a smoke run that rewrites floors.txt at 95% of the edges each target reached
#           (raise floors after adding seeds or reach; never lower them to make a run pass)
#   seeds   regenerate tests/fuzz/seeds/ with gen_seeds (fuzz_caps_json's are hand-written)
# Usage: tests/fuzz/run.sh [BUILD] [smoke|long|floors|seeds] [TARGET...]
set -euo pipefail
build=${1:-build-fuzz}
mode=${2:-smoke}
shift $(($# > 2 ? 2 : $#))
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
floors="$here/floors.txt"
cd "$root"
if [ ! -f "$build/build.ninja" ]; then
	CC=clang meson setup "$build" -Dfuzz=true -Dtests=false -Db_sanitize=address,undefined \
		-Db_lundef=false -Dbuildtype=debug >/dev/null
fi
if ! nice -n 19 ninja -C "$build" >"$build/ninja.log" 2>&1; then
	echo "fuzz: building the targets failed:" >&2
	tail -30 "$build/ninja.log" >&2
	exit 1
fi
if [ "$mode" = seeds ]; then
	tmp=$(mktemp -d)
	"$build/tests/fuzz/gen_seeds" "$tmp"
	for d in "$tmp"/*; do
		rm -rf "$here/seeds/$(basename "$d")"
		mv "$d" "$here/seeds/"
	done
	rmdir "$tmp"
	echo "fuzz: seeds written to tests/fuzz/seeds/"
	exit 0
fi

# floors.txt: "target floor max_len" per line.
floor_of() { awk -v t="$1" '$1 == t { print $2 }' "$floors"; }
maxlen_of() { awk -v t="$1" '$1 == t { print $3 }' "$floors"; }

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
	for t in "$build"/tests/fuzz/fuzz_*; do
		[ -f "$t" ] && [ -x "$t" ] && targets+=("$(basename "$t")")
	done
fi
# Per invocation, so that two runs on one build directory (a campaign and a smoke) keep apart.
results="$build/fuzz-results.$$"
rm -rf "$results"
mkdir -p "$results"
trap 'rm -rf "$results"' EXIT

# One target; writes "name status execs edges seconds" to $results/name.
run_one() {
	local name=$1 target="$build/tests/fuzz/$1" log="$build/$1.log" start end
	local maxlen floor args=() dirs=() status=ok execs edges
	maxlen=$(maxlen_of "$name")
	floor=$(floor_of "$name")
	[ -d "$here/seeds/$name" ] && dirs=("$here/seeds/$name")
	if [ "$mode" = long ]; then
		mkdir -p "$build/corpus/$name"
		dirs=("$build/corpus/$name" "${dirs[@]}")
		args=(-max_total_time="${FUZZ_SECONDS:-60}")
		[ -n "${FUZZ_MAX_RUNS:-}" ] && args+=(-runs="$FUZZ_MAX_RUNS")
	else
		# libFuzzer adds new inputs to the first directory: a scratch one, never the seeds.
		rm -rf "$build/smoke-corpus/$name"
		mkdir -p "$build/smoke-corpus/$name"
		dirs=("$build/smoke-corpus/$name" "${dirs[@]}")
		args=(-runs="${FUZZ_RUNS:-2000}" -seed=1)
	fi
	start=$(date +%s)
	if ! ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=1 UBSAN_OPTIONS=halt_on_error=1 \
		nice -n 19 "$target" "${args[@]}" -max_len="${maxlen:-4096}" -timeout=10 \
		-rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$build/$name-" \
		"${dirs[@]}" >"$log" 2>&1; then
		status=CRASH
	fi
	end=$(date +%s)
	execs=$(grep -Eo 'stat::number_of_executed_units: [0-9]+' "$log" | grep -Eo '[0-9]+$' || echo 0)
	edges=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 | grep -Eo '[0-9]+' || echo 0)
	if [ "$status" = ok ] && [ "$mode" != long ] && [ "$mode" != floors ]; then
		if [ -z "$floor" ]; then
			status=NO-FLOOR
		elif [ "$edges" -lt "$floor" ]; then
			status=BELOW-FLOOR
		fi
	fi
	echo "$name $status $execs $edges $((end - start)) ${floor:--}" >"$results/$name"
}

par=${FUZZ_PARALLEL:-2}
for t in "${targets[@]}"; do
	while [ "$(jobs -rp | wc -l)" -ge "$par" ]; do wait -n || true; done
	run_one "$t" &
done
wait

status=0
printf '%-22s %-11s %12s %7s %7s %7s\n' target status executions edges floor seconds
for t in "${targets[@]}"; do
	read -r name st execs edges secs floor <"$results/$t"
	printf '%-22s %-11s %12s %7s %7s %7s\n' "$name" "$st" "$execs" "$edges" "$floor" "$secs"
	if [ "$st" != ok ]; then
		status=1
		echo "  see $build/$name.log" >&2
		[ "$st" = CRASH ] && grep -E 'ERROR|SUMMARY|#[0-9]+ 0x' "$build/$name.log" | head -20 >&2
		[ "$st" = NO-FLOOR ] && echo "  $name has no line in tests/fuzz/floors.txt" >&2
	fi
done
if [ "$mode" = floors ] && [ $status -eq 0 ]; then
	{
		echo "# Edge floors for tests/fuzz/run.sh smoke (make check): target floor max_len."
		echo "# Written by 'tests/fuzz/run.sh build-fuzz floors' at 95% of a smoke run's edges."
		# Targets not run this time keep their line.
		grep -v '^#' "$floors" | while read -r name rest; do
			[ -f "$results/$name" ] || echo "$name $rest"
		done
		for t in "${targets[@]}"; do
			read -r name st execs edges secs floor <"$results/$t"
			echo "$name $((edges * 95 / 100)) $(maxlen_of "$name" | grep . || echo 4096)"
		done
	} >"$floors.new"
	mv "$floors.new" "$floors"
	echo "fuzz: floors written to tests/fuzz/floors.txt"
fi
exit $status
