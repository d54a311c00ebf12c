#!/bin/sh
# The README's live-migration example, source and destination served by one process, N times.
# usage: tests/integration/migrate_loop.sh [BUILD_DIR] [RUNS] [extra uvfio serve options...]
# Each run starts a fresh `uvfio serve`, migrates with --verify, and stops the server; exits 0
# only if every run succeeded (the summary line says how many did).
set -u
BUILD=${1:-build}
RUNS=${2:-50}
shift 2 2>/dev/null || shift $#
UVFIO=${UVFIO_BIN:-$BUILD/tools/uvfio/uvfio}
DIR=$(mktemp -d /tmp/uvfio-migloop.XXXXXX)
trap 'kill $SRV 2>/dev/null; rm -rf "$DIR"' EXIT INT TERM
SRV=
ok=0
fail=0
i=1
while [ "$i" -le "$RUNS" ]; do
	"$UVFIO" serve --device edu-mig,mem=64M --socket "$DIR/src.sock" \
		--device edu-mig,mem=64M --socket "$DIR/dst.sock" "$@" 2>"$DIR/serve.log" &
	SRV=$!
	n=0
	while [ ! -S "$DIR/dst.sock" ] && [ $n -lt 200 ]; do sleep 0.05; n=$((n + 1)); done
	start=$(date +%s.%N)
	if timeout 120 "$UVFIO" migrate "vfio-user:$DIR/src.sock" "vfio-user:$DIR/dst.sock" \
		--mem 16M@0x100000 --write config:4=0x6/2 --write 9:0=0x100000/8 \
		--write 9:8=0x1000000/8 --write 9:16=1024 --write 9:20=1 \
		--max-downtime 100 --verify >"$DIR/migrate.log" 2>&1; then
		ok=$((ok + 1))
		res=ok
	else
		fail=$((fail + 1))
		res="FAILED (exit $?)"
		cp "$DIR/migrate.log" "/tmp/uvfio-migloop-fail-$i.log"
		cp "$DIR/serve.log" "/tmp/uvfio-migloop-fail-$i.serve.log"
	fi
	end=$(date +%s.%N)
	kill "$SRV"
	wait "$SRV" 2>/dev/null
	SRV=
	echo "run $i: $res ($(echo "$end - $start" | bc) s) $(grep -o 'downtime[^,;]*' "$DIR/migrate.log" | head -1)"
	i=$((i + 1))
done
echo "migrate_loop: $ok of $RUNS runs succeeded"
[ "$fail" -eq 0 ]
