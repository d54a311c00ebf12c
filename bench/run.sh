#!/usr/bin/env bash
# make bench: every benchmark prints its figure next to a baseline measured in the same run.
set -euo pipefail
build=${1:-build}
echo "uvfio benchmarks ($(nproc) cores; best of 5 runs each)"
"$build/bench/bench_region_read"
"$build/bench/bench_region_read" 20000 --same-cpu | tail -n 1
"$build/bench/bench_dma"
"$build/bench/bench_migrate"
"$build/bench/bench_nvme" "$build/tools/uvfio/uvfio"
