#!/bin/sh
# SPDX-License-Identifier: MIT
# A guided tour: serve an edu device over vfio-user and drive it with the uvfio CLI and the
# edu client, then live-migrate an edu-mig device between two servers. Usage: scripts/demo.sh BUILD_DIR. Exits non-zero if a step fails.
set -eu

if [ $# -ne 1 ]; then
	echo "usage: $0 BUILD_DIR" >&2
	exit 2
fi
BUILD=$1
UVFIO=$BUILD/tools/uvfio/uvfio
CLIENT=$BUILD/examples/uvfio-edu-client
for bin in "$UVFIO" "$CLIENT"; do
	if [ ! -x "$bin" ]; then
		echo "missing $bin: build first (ninja -C $BUILD)" >&2
		exit 2
	fi
done

TMP=$(mktemp -d)
SERVER=
cleanup() {
	if [ -n "$SERVER" ]; then
		kill "$SERVER" 2>/dev/null || true
		wait "$SERVER" 2>/dev/null || true
	fi
	rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

SOCK=$TMP/edu.sock
URL=vfio-user:$SOCK

heading() {
	printf '\n=== %s\n' "$*"
}

heading "Starting: uvfio serve --device edu --socket $SOCK"
"$UVFIO" serve --device edu --socket "$SOCK" >"$TMP/server.log" 2>&1 &
SERVER=$!
tries=0
while [ ! -S "$SOCK" ]; do
	if ! kill -0 "$SERVER" 2>/dev/null; then
		echo "server exited:" >&2
		cat "$TMP/server.log" >&2
		exit 1
	fi
	tries=$((tries + 1))
	if [ $tries -gt 100 ]; then
		echo "no socket after 10 s" >&2
		exit 1
	fi
	sleep 0.1
done
echo "server pid $SERVER is listening"

heading "Device information: uvfio info $URL"
"$UVFIO" info "$URL"

heading "Enable memory decode and bus mastering: COMMAND (config 0x4) = 0x6"
"$UVFIO" write "$URL" config 4 0x6 --width 2

heading "Read the edu ID register (BAR0 offset 0)"
if id=$("$UVFIO" read "$URL" bar0 0 2>"$TMP/read.err"); then
	echo "$id"
	if [ "$id" != "0x010000ed" ]; then
		echo "unexpected ID $id (want 0x010000ed)" >&2
		exit 1
	fi
else
	# Each CLI call is its own client, and a device is reset when its client leaves (as a
	# VFIO device is when its fd is closed), so COMMAND.MEM is off again by now.
	cmd=$("$UVFIO" read "$URL" config 4 --width 2)
	echo "refused: $(cat "$TMP/read.err")"
	echo "COMMAND is $cmd again: the device was reset when the previous client disconnected."
	if [ "$cmd" != "0x0000" ]; then
		exit 1
	fi
	echo "The edu client below enables MEM and reads the ID within one connection."
fi

heading "Full edu exercise: uvfio-edu-client $URL -v"
"$CLIENT" "$URL" -v

heading "Live migration: two edu-mig devices, the source's DMA engine writing guest memory"
SRC=$TMP/src.sock
DST=$TMP/dst.sock
"$UVFIO" serve --device edu-mig,mem=16M --socket "$SRC" --device edu-mig,mem=16M --socket "$DST" \
	>"$TMP/mig-server.log" 2>&1 &
MIGSERVER=$!
tries=0
while [ ! -S "$SRC" ] || [ ! -S "$DST" ]; do
	tries=$((tries + 1))
	if [ $tries -gt 100 ] || ! kill -0 "$MIGSERVER" 2>/dev/null; then
		echo "migration servers did not start:" >&2
		cat "$TMP/mig-server.log" >&2
		exit 1
	fi
	sleep 0.1
done
# Bus mastering on (COMMAND = MEM|MASTER), then the dirtier (region 9): base, length, rate in
# bytes/ms, enable.
echo "uvfio migrate vfio-user:$SRC vfio-user:$DST --mem 4M@0x100000 (dirtier on) --verify"
status=0
"$UVFIO" migrate "vfio-user:$SRC" "vfio-user:$DST" --mem 4M@0x100000 \
	--write config:4=0x6/2 --write 9:0=0x100000/8 --write 9:8=0x400000/8 --write 9:16=4096 --write 9:20=1 \
	--warmup 50 --max-downtime 300 --verify || status=$?
kill "$MIGSERVER" 2>/dev/null || true
wait "$MIGSERVER" 2>/dev/null || true
if [ $status -ne 0 ]; then
	echo "migration failed (exit $status):" >&2
	cat "$TMP/mig-server.log" >&2
	exit 1
fi

heading "Done: every step passed"
