#!/usr/bin/env bash
# Interop with real QEMU (10.1+: vfio-user-pci and x-vfio-user-server), both directions:
#   server  uvfio's server, QEMU's client: a Linux guest (the 6.12 VFIO image, busybox
#           initramfs from tests/vm) gets `uvfio serve` devices through -device vfio-user-pci
#           behind intel-iommu, and tests/interop/guest_interop.c checks them from inside.
#   client  uvfio's client, QEMU's server: QEMU's own edu, e1000 and nvme exported by
#           x-vfio-user-server, driven by `uvfio info/read/write`, the edu client program (MSI,
#           INTx, DMA) and interop-peer (e1000 INTx and ROM, nvme registers).
# Usage: tests/interop/run.sh BUILD_DIR
# Env: UVFIO_QEMU, UVFIO_VM_KERNEL (see scripts/assets.sh), UVFIO_VM_TIMEOUT=seconds per boot
# (default 600), UVFIO_INTEROP_NVME=uvfio|qemu|off: the guest's NVMe check on uvfio's controller
# (default when `uvfio serve` has an nvme driver), on QEMU's own emulated nvme (to check the
# guest side alone), or not at all. Without QEMU 10.1+ or the kernel the parts that need them
# are reported as not run (failed under CI=true).
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 BUILD_DIR" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=$(cd "$1" && pwd)
work=$here/work
timeout_s=${UVFIO_VM_TIMEOUT:-600}
uvfio=$build/tools/uvfio/uvfio
# shellcheck source=../../scripts/assets.sh
. "$repo/scripts/assets.sh"
log() { echo "interop: $*" >&2; }

qemu=$(asset_qemu) || {
	[ $? -eq 2 ] && exit 1
	not_run "interop (QEMU's vfio-user client and server)" "QEMU 10.1+ with vfio-user" || exit 1
	exit 0
}
"$repo/scripts/install-deps.sh" interop
mkdir -p "$work"
rm -f "$work"/*.sock
failures=0
fail() { log "FAILED: $*"; failures=$((failures + 1)); }
pids=()
cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
}
trap cleanup EXIT

# Waits (bounded) for a socket file; $2: the pid that should create it.
wait_sock() {
	local i
	for i in $(seq 100); do
		[ -S "$1" ] && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

# ---- uvfio's client, QEMU's server ----
# QEMU's server serves one client and exits 0 when it leaves: one QEMU per connection.
# qemu_server NAME DEVICE-ARGS... : starts it on $work/NAME.sock; sets qpid.
qemu_server() {
	local name=$1
	shift
	rm -f "$work/$name.sock"
	timeout --kill-after=5 120 "$qemu" -accel tcg -machine x-remote,vfio-user=on -nodefaults \
		-display none -monitor none -serial none "$@" \
		-object "x-vfio-user-server,id=v0,type=unix,path=$work/$name.sock,device=d0" \
		2>>"$work/qemu-server.log" </dev/null &
	qpid=$!
	pids+=("$qpid")
	wait_sock "$work/$name.sock" "$qpid" || { fail "$name: QEMU's server did not start"; return 1; }
}
# After the client left, the server must exit by itself with status 0.
qemu_server_end() {
	local rc=0
	wait "$qpid" || rc=$?
	[ "$rc" -eq 0 ] || fail "$1: QEMU's server exited with $rc after the client left (124: hung)"
}
# check NAME WANT-REGEX CMD...: runs a client command against a fresh server started by the
# caller, the output must match.
client_check() {
	local name=$1 want=$2 out rc=0
	shift 2
	out=$("$@" 2>&1) || rc=$?
	if [ "$rc" -eq 0 ] && grep -qE "$want" <<<"$out"; then
		log "PASS $name"
	else
		fail "$name (exit $rc): $(head -c 400 <<<"$out")"
	fi
}
# peer_program NAME PROG ARGS...: a program printing PASS/FAIL lines and "N passed, N failed".
peer_program() {
	local name=$1 out rc=0
	shift
	out=$("$@" 2>&1) || rc=$?
	sed 's/^/    /' <<<"$out" >&2
	if [ "$rc" -eq 0 ] && grep -qE '^[1-9][0-9]* passed, 0 failed$' <<<"$out"; then
		log "PASS $name: $(tail -n 1 <<<"$out")"
	else
		fail "$name (exit $rc)"
	fi
}

[ -f "$work/nvme-server.img" ] || truncate -s 16M "$work/nvme-server.img"
edu=(-device edu,id=d0)
e1000=(-device e1000,id=d0)
nvme=(-drive "file=$work/nvme-server.img,if=none,id=dr,format=raw" -device nvme,drive=dr,serial=uvfio,id=d0)
: >"$work/qemu-server.log"
log "uvfio's client against QEMU's x-vfio-user-server ($qemu)"
for dev in edu:1234:11e8 e1000:8086:100e nvme:1b36:0010; do
	ids=${dev#*:}
	dev=${dev%%:*}
	case $dev in
	edu) qemu_server edu "${edu[@]}" ;;
	e1000) qemu_server e1000 "${e1000[@]}" ;;
	nvme) qemu_server nvme "${nvme[@]}" ;;
	esac || continue
	client_check "uvfio info on QEMU's $dev" "Device: $ids" "$uvfio" info "vfio-user:$work/$dev.sock"
	qemu_server_end "$dev info"
done
# One-off register accesses: the CLI sets BARs up (the server refuses them before).
qemu_server edu "${edu[@]}" && client_check "uvfio read of QEMU's edu ID" '^0x010000ed$' \
	"$uvfio" read "$work/edu.sock" bar0 0 && qemu_server_end "edu read"
qemu_server edu "${edu[@]}" && client_check "uvfio write of QEMU's edu liveness" '^0x12345678$' \
	"$uvfio" write "$work/edu.sock" bar0 4 0x12345678 && qemu_server_end "edu write"
qemu_server e1000 "${e1000[@]}" && client_check "uvfio read of QEMU's e1000 STATUS (link up)" \
	'^0x[0-9a-f]{7}[2367abef]$' "$uvfio" read "$work/e1000.sock" bar0 8 && qemu_server_end "e1000 read"
qemu_server nvme "${nvme[@]}" && client_check "uvfio read of QEMU's nvme VS (1.x)" '^0x0001[0-9a-f]{4}$' \
	"$uvfio" read "$work/nvme.sock" bar0 8 && qemu_server_end "nvme read"
qemu_server nvme "${nvme[@]}" && client_check "uvfio write of QEMU's nvme AQA" '^0x001f001f$' \
	"$uvfio" write "$work/nvme.sock" bar0 0x24 0x001f001f && qemu_server_end "nvme write"
# Through the client API: interrupts, DMA, the ROM.
qemu_server edu "${edu[@]}" && peer_program "edu client on QEMU's edu (MSI, INTx, DMA)" \
	"$build/examples/uvfio-edu-client" "vfio-user:$work/edu.sock" && qemu_server_end "edu client"
qemu_server e1000 "${e1000[@]}" && peer_program "interop-peer on QEMU's e1000" \
	"$build/tests/interop/interop-peer" e1000 "vfio-user:$work/e1000.sock" && qemu_server_end "e1000 peer"
qemu_server nvme "${nvme[@]}" && peer_program "interop-peer on QEMU's nvme" \
	"$build/tests/interop/interop-peer" nvme "vfio-user:$work/nvme.sock" && qemu_server_end "nvme peer"
# The NVMe host driver (tests/integration/test_nvme_host.c starts its own QEMU per case).
if [ -x "$build/tests/integration/test_nvme_host" ]; then
	if UVFIO_QEMU=$qemu UVFIO_BIN=$uvfio "$build/tests/integration/test_nvme_host" >"$work/nvme-host.log" 2>&1; then
		log "PASS NVMe host driver on QEMU's nvme ($(grep -c '^\[       OK' "$work/nvme-host.log") cases)"
	else
		fail "NVMe host driver on QEMU's nvme: see $work/nvme-host.log"
	fi
fi

# ---- uvfio's server, QEMU's client: a guest ----
guest() {
	local kernel nvme_mode root srv_args qemu_args rc=0 out=$work/guest.log summary
	kernel=$(asset_kernel) || {
		[ $? -eq 2 ] && return 1
		not_run "interop guest (QEMU's vfio-user-pci on uvfio serve)" \
			"the 6.12 guest kernel" || return 1
		return 0
	}
	nvme_mode=${UVFIO_INTEROP_NVME:-}
	if [ -z "$nvme_mode" ]; then
		# The check turns itself on once uvfio serves NVMe.
		if "$uvfio" serve --help 2>&1 | grep -qE '^ +nvme '; then nvme_mode=uvfio; else nvme_mode=off; fi
	fi
	log "building static guest binaries"
	"$repo/tests/vm/build-static.sh" "$repo/tests/vm/work"
	root=$(mktemp -d "$work/initramfs.XXXXXX")
	mkdir -p "$root/bin" "$root/lib64" "$root/lib"
	cp /bin/busybox "$root/bin/busybox"
	cp "$repo/tests/vm/init.sh" "$root/init"
	cp "$repo/tests/vm/work/bin/uvfio" "$repo/tests/vm/work/bin/uvfio-edu-client" \
		"$repo/tests/vm/work/bin/guest_interop" "$root/bin/"
	if [ "$nvme_mode" != off ]; then
		# Debian's binaries with the shared libraries they load.
		local b lib
		for b in mkfs.ext4 e2fsck nvme; do
			b=$(command -v "$b" || echo "/usr/sbin/$b")
			cp "$b" "$root/bin/"
			for lib in $(ldd "$b" | grep -oE '/[^ ]+\.so[^ ]*'); do
				mkdir -p "$root$(dirname "$lib")"
				cp -L "$lib" "$root$lib"
			done
		done
	fi
	(cd "$root" && find . | cpio -o -H newc --quiet) | gzip -1 >"$work/initramfs.img"
	rm -rf "$root"

	srv_args=(--device edu --socket "$work/edu.sock" --device edu-mig,mem=1M --socket "$work/edu-mig.sock")
	[ "$nvme_mode" = uvfio ] && srv_args+=(--device nvme --socket "$work/nvme.sock")
	rm -f "$work"/edu.sock "$work"/edu-mig.sock "$work"/nvme.sock
	"$uvfio" serve "${srv_args[@]}" >"$work/serve.log" 2>&1 &
	local spid=$!
	pids+=("$spid")
	wait_sock "$work/edu-mig.sock" "$spid" || { fail "uvfio serve did not start"; cat "$work/serve.log" >&2; return 0; }
	[ "$nvme_mode" = uvfio ] && { wait_sock "$work/nvme.sock" "$spid" || { fail "uvfio serve nvme did not start"; return 0; }; }
	vup() { echo "{\"driver\":\"vfio-user-pci\",\"socket\":{\"path\":\"$1\",\"type\":\"unix\"},\"addr\":\"$2\"}"; }
	qemu_args=(-device "$(vup "$work/edu.sock" 05.0)" -device "$(vup "$work/edu-mig.sock" 06.0)")
	case $nvme_mode in
	uvfio) qemu_args+=(-device "$(vup "$work/nvme.sock" 07.0)") ;;
	qemu)
		[ -f "$work/nvme-guest.img" ] || truncate -s 64M "$work/nvme-guest.img"
		qemu_args+=(-drive "if=none,id=g0,file=$work/nvme-guest.img,format=raw"
			-device nvme,drive=g0,serial=uvfio,addr=07.0) ;;
	esac
	local auto=none
	[ "$nvme_mode" != off ] && auto=nvme
	log "booting the guest (uvfio's edu, edu-mig$([ "$nvme_mode" != off ] && echo ", nvme from $nvme_mode") over vfio-user-pci)"
	# no_timer_check: see tests/vm/run.sh (a loaded TCG host can fail the IO-APIC timer probe).
	timeout --kill-after=10 "$timeout_s" "$qemu" -accel tcg -cpu max -m 512 -smp 1 \
		-object memory-backend-memfd,id=mem,size=512M,share=on \
		-machine q35,memory-backend=mem,kernel-irqchip=split \
		-device intel-iommu,intremap=on,caching-mode=on \
		-nographic -no-reboot -nic none -vga none \
		-kernel "$kernel" -initrd "$work/initramfs.img" \
		-append "console=ttyS0 intel_iommu=on no_timer_check panic=-1 loglevel=3 uvfio.iommu=type1 uvfio.auto=$auto uvfio.test=guest_interop" \
		"${qemu_args[@]}" >"$out" 2>"$work/guest.qemu-stderr" </dev/null || rc=$?
	grep -a '^uvfio-vm| ' "$out" | tr -d '\r' | sed 's/^uvfio-vm| //' >"$work/guest.results" || true
	sed 's/^/    /' "$work/guest.results" >&2
	summary=$(grep -aE '^[0-9]+ passed, [0-9]+ failed$' "$work/guest.results" | tail -n 1 || true)
	if [ "$rc" -ne 0 ]; then
		fail "guest: QEMU exited with $rc (124: timeout); console in $out"
		tail -n 5 "$work/guest.qemu-stderr" >&2
	elif ! grep -qx 'done' "$work/guest.results" || [ -z "$summary" ]; then
		fail "guest: the guest test did not finish; console in $out"
		tail -n 20 "$out" >&2
	elif ! [[ $summary =~ ^([0-9]+)\ passed,\ 0\ failed$ ]] || [ "${BASH_REMATCH[1]}" -eq 0 ]; then
		fail "guest: $summary"
	else
		log "PASS guest: $summary"
	fi
	[ "$nvme_mode" = off ] && log "note: the guest NVMe check did not run (uvfio serve has no nvme driver yet; UVFIO_INTEROP_NVME=qemu checks the guest side on QEMU's own nvme)"
	# uvfio's server must have survived the guest and still serve.
	kill -0 "$spid" 2>/dev/null || fail "uvfio serve died during the guest run (see $work/serve.log)"
	return 0
}
guest || exit 1

if [ "$failures" -ne 0 ]; then
	log "$failures interop checks failed"
	exit 1
fi
log "all interop checks passed"
