#!/usr/bin/env bash
# make bench: every benchmark prints its figure next to a baseline measured in the same run; a
# row that misses its goal is followed by a line starting "GOAL MISSED", and the summary at the
# end counts them.
set -euo pipefail
build=${1:-build}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
echo "uvfio benchmarks ($(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg); best of 5 runs each unless said)"
{
	"$build/bench/bench_region_read"
	"$build/bench/bench_region_read" 20000 --same-cpu | tail -n 2
	"$build/bench/bench_dma"
	"$build/bench/bench_migrate"
	"$build/bench/bench_nvme" "$build/tools/uvfio/uvfio"
} | tee "$out"
missed=$(grep -c '^GOAL MISSED' "$out" || true)
echo "bench: $missed goal(s) missed"
